-- Platform management (SGP.02 §3.2-§3.5, §5.4-§5.5): the SM-SR's operations (one per asynchronous ES3/ES4 function
-- call or received eUICC notification), the SCP80 transmissions of ES5 commands (to match a PoR to its command
-- by counter), the last counter received from each eUICC key set (notification replay check), and the SM-DP's
-- ES2 -> ES3 relays.
-- smsr_operations.state: Active | AwaitingNotification | Done | Failed | Expired.
CREATE TABLE smsr_operations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    eid TEXT NOT NULL REFERENCES euiccs (eid) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    function_call_id BIGINT,
    requester_oid TEXT NOT NULL,
    interface TEXT NOT NULL,
    iccid TEXT,
    isd_p_aid BLOB,
    deadline BIGINT NOT NULL,
    retry_at BIGINT,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX smsr_operations_eid_state ON smsr_operations (eid, state);
CREATE INDEX smsr_operations_deadline ON smsr_operations (state, deadline);
CREATE INDEX smsr_operations_retry ON smsr_operations (retry_at);

CREATE TABLE es5_transmissions (
    eid TEXT NOT NULL REFERENCES euiccs (eid) ON DELETE CASCADE,
    keyset_version INTEGER NOT NULL,
    counter BIGINT NOT NULL,
    command_id BIGINT NOT NULL REFERENCES es5_commands (id) ON DELETE CASCADE,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (eid, keyset_version, counter)
);
CREATE INDEX es5_transmissions_command ON es5_transmissions (command_id);

CREATE TABLE es5_received_counters (
    eid TEXT NOT NULL REFERENCES euiccs (eid) ON DELETE CASCADE,
    keyset_version INTEGER NOT NULL,
    counter BIGINT NOT NULL,
    PRIMARY KEY (eid, keyset_version)
);

CREATE INDEX profiles_msisdn ON profiles (msisdn);

-- smdp_relays.state: Sent | Completed.
CREATE TABLE smdp_relays (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    es2_call_id BIGINT NOT NULL,
    es3_message_id TEXT NOT NULL UNIQUE,
    es3_function TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);
