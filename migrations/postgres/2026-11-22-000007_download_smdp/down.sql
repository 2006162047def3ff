DROP TABLE smdp_download_messages;
DROP TABLE smdp_downloads;
