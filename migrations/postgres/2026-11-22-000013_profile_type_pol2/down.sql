ALTER TABLE profile_types DROP COLUMN pol2;
