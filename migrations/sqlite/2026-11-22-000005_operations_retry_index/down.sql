DROP INDEX smsr_operations_retry;
CREATE INDEX smsr_operations_retry ON smsr_operations (retry_at);
