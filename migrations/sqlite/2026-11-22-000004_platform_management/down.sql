DROP TABLE smdp_relays;
DROP INDEX profiles_msisdn;
DROP TABLE es5_received_counters;
DROP TABLE es5_transmissions;
DROP TABLE smsr_operations;
