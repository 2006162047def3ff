DROP TABLE es5_commands;
