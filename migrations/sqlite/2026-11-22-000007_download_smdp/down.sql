DROP TABLE smdp_downloads;
