-- Downloads by phase: the open ones (not Done) are counted at every metrics scrape and listed by
-- `rsp download list` (a clean-up that failed, SGP.02 §3.1.4).
CREATE INDEX smdp_downloads_phase ON smdp_downloads (phase);
