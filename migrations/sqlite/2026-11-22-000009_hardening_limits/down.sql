DROP INDEX stock_imsi;
