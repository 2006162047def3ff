ALTER TABLE function_calls DROP COLUMN request_digest;
