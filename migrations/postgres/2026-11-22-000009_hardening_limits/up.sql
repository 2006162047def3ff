-- Order import checks every IMSI of a file against the stock (smdp warehouse import, second pass), as it does the
-- ICCIDs (primary key): without this index each chunk of 10,000 IMSIs would scan the stock.
CREATE INDEX stock_imsi ON stock (imsi);
