-- Retransmissions due (eis-store operations::due_for_retry, every ES5 delivery round): `retry_at <= now` among
-- the open operations. On (retry_at) alone the planner took smsr_operations_deadline (state) instead and read
-- every open operation each round — the whole backlog of queued operations under load. On (state, retry_at)
-- it reads only the open operations whose retransmission is due.
DROP INDEX smsr_operations_retry;
CREATE INDEX smsr_operations_retry ON smsr_operations (state, retry_at);
