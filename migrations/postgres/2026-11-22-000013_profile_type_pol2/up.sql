-- The POL2 a profile type gives every profile downloaded from it (SGP.02 §2.4.5, §3.1.3: sent in
-- ES3.ProfileDownloadCompleted). Text form written by smdp::warehouse::profile_types (`ACTION:Qualification`
-- rules separated by commas, subject PROFILE, e.g. `DISABLE:Not-Allowed,DELETE:Not-Allowed`); NULL: no POL2.
ALTER TABLE profile_types ADD COLUMN pol2 TEXT;
