DROP INDEX es5_commands_deadline;
