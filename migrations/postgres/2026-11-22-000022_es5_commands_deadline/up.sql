-- The ES5 expiry sweep (es5_queue::expire_overdue: queued or in-flight commands past their deadline, every
-- 500 ms on every SM-SR node) reads only the overdue commands through this index; without it the sweep read
-- every row of the table (40 ms with 56,000 commands queued on PostgreSQL).
CREATE INDEX es5_commands_deadline ON es5_commands (state, deadline);
