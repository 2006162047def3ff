-- The SM-SR processes sharing this database (issue 14: several nodes), each with the last time it said it was
-- alive; the SMSC account's submit_sm budget (es5.smpp.throughput_total) is shared among the live ones.
CREATE TABLE smsr_nodes (
    node_id TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
