DROP INDEX es5_commands_urgent;
ALTER TABLE es5_commands DROP COLUMN urgent;
