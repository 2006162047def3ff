-- The expiry sweep (es5_queue::expire_overdue, every delivery round) reads only the queued or in-flight
-- commands past their deadline instead of the whole queue.
CREATE INDEX es5_commands_deadline ON es5_commands (state, deadline);
