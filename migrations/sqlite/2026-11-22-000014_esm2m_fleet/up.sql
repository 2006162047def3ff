-- ESM2M operations of eUICC owners (design §1, docs/architecture.md §8 "ESM2M"; eis-store fleet.rs).
--
-- esm2m_operation_results: how an owner's platform operation (smsr_operations with interface ESM2M) ended, the
-- SGP.02 FunctionExecutionStatus the owner reads back (an owner has no ReplyTo to be called back on).
CREATE TABLE esm2m_operation_results (
    operation_id BIGINT PRIMARY KEY NOT NULL REFERENCES smsr_operations (id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    subject_code TEXT,
    reason_code TEXT,
    message TEXT,
    finished_at BIGINT NOT NULL
);

-- A fleet operation: one action on many of an owner's eUICCs, started within a rate and an in-flight limit.
-- state: running | paused | cancelled | completed | expired. The counts by target state are kept with every
-- change of a target (same transaction), so that progress is one row read. next_start_us: the rate limiter's
-- next start time (unix microseconds).
CREATE TABLE esm2m_fleet_operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_oid TEXT NOT NULL REFERENCES entities (oid) ON DELETE CASCADE,
    action TEXT NOT NULL,
    profile_mno TEXT,
    selector TEXT NOT NULL,
    rate_per_second BIGINT NOT NULL,
    max_in_flight BIGINT NOT NULL,
    valid_until BIGINT NOT NULL,
    state TEXT NOT NULL,
    total BIGINT NOT NULL,
    pending BIGINT NOT NULL,
    running BIGINT NOT NULL,
    succeeded BIGINT NOT NULL,
    failed BIGINT NOT NULL,
    cancelled BIGINT NOT NULL,
    expired BIGINT NOT NULL,
    next_start_us BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX esm2m_fleet_operations_owner ON esm2m_fleet_operations (owner_oid, id);
CREATE INDEX esm2m_fleet_operations_state ON esm2m_fleet_operations (state, id);

-- One row per target of a fleet operation, in the order given (seq from 1).
-- state: pending | running | succeeded | failed | cancelled | expired.
CREATE TABLE esm2m_fleet_targets (
    fleet_id BIGINT NOT NULL REFERENCES esm2m_fleet_operations (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    eid TEXT NOT NULL,
    state TEXT NOT NULL,
    operation_id BIGINT,
    iccid TEXT,
    status TEXT,
    subject_code TEXT,
    reason_code TEXT,
    message TEXT,
    started_at BIGINT,
    finished_at BIGINT,
    PRIMARY KEY (fleet_id, seq)
);
CREATE INDEX esm2m_fleet_targets_state ON esm2m_fleet_targets (fleet_id, state, seq);
CREATE UNIQUE INDEX esm2m_fleet_targets_operation ON esm2m_fleet_targets (operation_id);

-- Idempotency-Key of the owners' POSTs: the first answer, returned again for a repeat of the same request.
CREATE TABLE esm2m_idempotency (
    owner_oid TEXT NOT NULL REFERENCES entities (oid) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    request_hash BLOB NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (owner_oid, idempotency_key)
);
