-- Issue 10 item 2: a repeated FunctionCallIdentifier replays the recorded answer only for the same caller's same
-- function with the same request. request_digest is the SHA-256 (hex) of the request's body element as received;
-- rows recorded before this migration have none and are never replayed (a repeat under their identifier is
-- refused until the retention purge removes them).
ALTER TABLE function_calls ADD COLUMN request_digest TEXT;
