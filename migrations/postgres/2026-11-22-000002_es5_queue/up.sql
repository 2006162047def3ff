-- ES5 command queue of the SM-SR (SGP.02 §5.6): per-eUICC ordered commands, at most one in flight per ISD-R.
-- state: Queued | InFlight | Done | Failed | Expired. seq comes from euiccs.es5_next_seq.
CREATE TABLE es5_commands (
    id BIGSERIAL PRIMARY KEY,
    eid TEXT NOT NULL REFERENCES euiccs (eid) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    operation_ref TEXT NOT NULL,
    payload BYTEA NOT NULL,
    state TEXT NOT NULL,
    deadline BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    keyset_version INTEGER,
    scp80_counter BIGINT,
    response BYTEA,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (eid, seq)
);
CREATE UNIQUE INDEX es5_commands_one_in_flight ON es5_commands (eid) WHERE state = 'InFlight';
CREATE INDEX es5_commands_queued ON es5_commands (state, eid, seq);
CREATE INDEX es5_commands_operation ON es5_commands (operation_ref);
