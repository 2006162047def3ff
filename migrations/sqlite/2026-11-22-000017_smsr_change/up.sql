-- SM-SR change (SGP.02 §3.8, §5.5 ES4.PrepareSMSRChange, §5.7 ES7).
-- At the new SM-SR: the expectations recorded by ES4.PrepareSMSRChange, one per eUICC, until they expire or
-- the hand-over they announce arrives.
CREATE TABLE smsr_change_expectations (
    eid TEXT PRIMARY KEY,
    current_smsr_oid TEXT NOT NULL,
    requester_oid TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
-- At both SM-SRs: the ES7 requests this SM-SR sent to the other, by wsa:MessageID, so that the answer (a
-- callback naming it in wsa:RelatesTo, or a synchronous response) reaches the operation that sent it.
CREATE TABLE smsr_es7_requests (
    message_id TEXT PRIMARY KEY,
    operation_id BIGINT NOT NULL,
    function TEXT NOT NULL,
    answered BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX smsr_es7_requests_operation ON smsr_es7_requests (operation_id);
