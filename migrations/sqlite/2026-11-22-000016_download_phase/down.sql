DROP INDEX smdp_downloads_phase;
