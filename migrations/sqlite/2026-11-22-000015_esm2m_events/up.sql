-- ESM2M events and webhooks (issue 12 item 3; eis-store events.rs and webhooks.rs). Each eUICC owner's events
-- are numbered 1, 2, 3, … by owner_event_seqs, whose row for the owner is taken (upsert, row lock until commit)
-- by the transaction that appends: appenders of one owner commit in the order of their numbers, so a reader
-- that has seen number n has seen every number below it (no cursor skips an event committed later).
CREATE TABLE owner_event_seqs (
    owner_oid TEXT PRIMARY KEY NOT NULL REFERENCES entities (oid) ON DELETE CASCADE,
    last_seq BIGINT NOT NULL
);

CREATE TABLE owner_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_oid TEXT NOT NULL REFERENCES entities (oid) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    event_type TEXT NOT NULL,
    eid TEXT NOT NULL,
    occurred_at BIGINT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (owner_oid, seq)
);

-- Webhook endpoints of the owners: the signing secret sealed with the master key (purpose webhook-secret).
CREATE TABLE webhook_endpoints (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_oid TEXT NOT NULL REFERENCES entities (oid) ON DELETE CASCADE,
    url TEXT NOT NULL,
    secret_sealed TEXT NOT NULL,
    event_types TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_owner ON webhook_endpoints (owner_oid, id);

-- One delivery of one event to one endpoint; the message itself is an outbox row (correlation webhook:<id>).
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id BIGINT NOT NULL REFERENCES owner_events (id) ON DELETE CASCADE,
    outbox_id BIGINT NOT NULL,
    replay_of BIGINT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, id);

CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at BIGINT NOT NULL,
    http_status INTEGER,
    error TEXT
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
