-- Core schema of the SM-SR and SM-DP stores (PostgreSQL). Keep in step with ../../sqlite/ (same tables and
-- columns; only the type names differ). Timestamps are BIGINT unix milliseconds.

-- Entities (SGP.02 §2.2 roles): MNO, SM-DP, SM-SR, EUM, eUICC owner.
CREATE TABLE entities (
    oid TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    endpoints TEXT NOT NULL,            -- JSON object: interface name -> URL
    allowed_interfaces TEXT NOT NULL,   -- JSON array of interface names
    gp_certificate BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX entities_role ON entities (role);

-- TLS client-certificate SHA-256 fingerprints (several per entity; lookup by fingerprint).
CREATE TABLE entity_fingerprints (
    sha256 BYTEA PRIMARY KEY,
    entity_oid TEXT NOT NULL REFERENCES entities (oid) ON DELETE CASCADE
);
CREATE INDEX entity_fingerprints_entity ON entity_fingerprints (entity_oid);

-- EIS (SGP.02 A1 EISType): the eUICC.
CREATE TABLE euiccs (
    eid TEXT PRIMARY KEY,
    eum_id TEXT NOT NULL,
    production_date BIGINT NOT NULL,
    platform_type TEXT NOT NULL,
    platform_version TEXT NOT NULL,
    isd_p_loadfile_aid BYTEA NOT NULL,
    isd_p_module_aid BYTEA NOT NULL,
    cattp_support BOOLEAN NOT NULL,
    cattp_version TEXT,
    http_support BOOLEAN NOT NULL,
    http_version TEXT,
    secure_packet_version TEXT NOT NULL,
    remote_provisioning_version TEXT NOT NULL,
    remaining_memory BIGINT NOT NULL,
    available_memory_for_profiles BIGINT NOT NULL,
    last_audit_date BIGINT,
    smsr_id TEXT NOT NULL,
    eum_signed_info_xml TEXT NOT NULL,
    eum_signature_xml TEXT NOT NULL,
    lock_state TEXT NOT NULL,
    lock_owner TEXT,
    version BIGINT NOT NULL,
    es5_next_seq BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX euiccs_eum ON euiccs (eum_id);

-- ISD-R and ECASD (A1 SecurityDomainType). tars: concatenated 3-byte TARs.
CREATE TABLE security_domains (
    eid TEXT NOT NULL REFERENCES euiccs (eid) ON DELETE CASCADE,
    role TEXT NOT NULL,
    aid BYTEA NOT NULL,
    tars BYTEA NOT NULL,
    sin BYTEA NOT NULL,
    sdin BYTEA NOT NULL,
    PRIMARY KEY (eid, role)
);

CREATE TABLE keysets (
    eid TEXT NOT NULL,
    sd_role TEXT NOT NULL,
    version INTEGER NOT NULL,
    usage TEXT,
    cntr BIGINT NOT NULL,
    PRIMARY KEY (eid, sd_role, version),
    FOREIGN KEY (eid, sd_role) REFERENCES security_domains (eid, role) ON DELETE CASCADE
);

CREATE TABLE sd_keys (
    eid TEXT NOT NULL,
    sd_role TEXT NOT NULL,
    keyset_version INTEGER NOT NULL,
    key_index INTEGER NOT NULL,
    kcv BYTEA NOT NULL,
    PRIMARY KEY (eid, sd_role, keyset_version, key_index),
    FOREIGN KEY (eid, sd_role, keyset_version) REFERENCES keysets (eid, sd_role, version) ON DELETE CASCADE
);

-- Key components: value encrypted at rest under the master key value_key_id.
CREATE TABLE key_components (
    eid TEXT NOT NULL,
    sd_role TEXT NOT NULL,
    keyset_version INTEGER NOT NULL,
    key_index INTEGER NOT NULL,
    position INTEGER NOT NULL,
    component_type INTEGER NOT NULL,
    value BYTEA NOT NULL,
    value_key_id TEXT NOT NULL,
    PRIMARY KEY (eid, sd_role, keyset_version, key_index, position),
    FOREIGN KEY (eid, sd_role, keyset_version, key_index)
        REFERENCES sd_keys (eid, sd_role, keyset_version, key_index) ON DELETE CASCADE
);

CREATE TABLE sd_certificates (
    eid TEXT NOT NULL,
    sd_role TEXT NOT NULL,
    keyset_version INTEGER NOT NULL,
    cert_index INTEGER NOT NULL,
    ca_id TEXT NOT NULL,
    value BYTEA NOT NULL,
    PRIMARY KEY (eid, sd_role, keyset_version, cert_index),
    FOREIGN KEY (eid, sd_role, keyset_version) REFERENCES keysets (eid, sd_role, version) ON DELETE CASCADE
);

-- Profiles (A1 ProfileInfo). state: InCreation | Created | Disabled | Enabled.
CREATE TABLE profiles (
    iccid TEXT PRIMARY KEY,
    eid TEXT NOT NULL REFERENCES euiccs (eid) ON DELETE CASCADE,
    isd_p_aid BYTEA NOT NULL,
    mno_id TEXT NOT NULL,
    fallback BOOLEAN NOT NULL,
    imsi TEXT,
    msisdn TEXT,
    state TEXT NOT NULL,
    smdp_id TEXT,
    profile_type TEXT,
    allocated_memory BIGINT NOT NULL,
    free_memory BIGINT,
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (eid, isd_p_aid)
);
CREATE INDEX profiles_mno ON profiles (mno_id);

-- POL2 rules (A1 POL2Type), in order.
CREATE TABLE pol2_rules (
    iccid TEXT NOT NULL REFERENCES profiles (iccid) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    subject TEXT NOT NULL,
    action TEXT NOT NULL,
    qualification TEXT NOT NULL,
    PRIMARY KEY (iccid, position)
);

-- Audit trail (A1 AuditTrailRecordType).
CREATE TABLE audit_records (
    id BIGSERIAL PRIMARY KEY,
    eid TEXT NOT NULL REFERENCES euiccs (eid) ON DELETE CASCADE,
    smsr_id TEXT NOT NULL,
    operation_date BIGINT NOT NULL,
    operation_type BYTEA NOT NULL,
    requester_id TEXT,
    execution_status TEXT,
    isd_p_aid BYTEA,
    iccid TEXT,
    imei TEXT,
    meid TEXT
);
CREATE INDEX audit_records_eid ON audit_records (eid, id);

CREATE TABLE additional_properties (
    eid TEXT NOT NULL REFERENCES euiccs (eid) ON DELETE CASCADE,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (eid, key)
);

-- Function calls (SGP.02 §5.1.6: FunctionCallIdentifier, WS-Addressing). state: Received | Completed.
CREATE TABLE function_calls (
    id BIGSERIAL PRIMARY KEY,
    caller_oid TEXT NOT NULL,
    interface TEXT NOT NULL,
    function_name TEXT NOT NULL,
    function_call_id TEXT NOT NULL,
    message_id TEXT,
    reply_to TEXT,
    valid_until BIGINT,
    state TEXT NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    received_at BIGINT NOT NULL,
    completed_at BIGINT,
    UNIQUE (caller_oid, function_call_id)
);
CREATE INDEX function_calls_message ON function_calls (caller_oid, message_id);
CREATE INDEX function_calls_completed ON function_calls (state, completed_at);

-- Job queue. state: Ready | Running | Done | Dead.
CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    run_at BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    dedup_key TEXT,
    locked_by TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_dedup ON jobs (queue, dedup_key);
CREATE INDEX jobs_ready ON jobs (queue, state, run_at);
CREATE INDEX jobs_lease ON jobs (state, lease_until);

-- Transactional outbox. state: Pending | InFlight | Delivered | Dead.
CREATE TABLE outbox (
    id BIGSERIAL PRIMARY KEY,
    destination_url TEXT NOT NULL,
    http_method TEXT NOT NULL,
    headers TEXT NOT NULL,              -- JSON array of [name, value]
    body BYTEA NOT NULL,
    content_type TEXT NOT NULL,
    correlation_id TEXT,
    message_id TEXT,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    give_up_at BIGINT NOT NULL,
    locked_by TEXT,
    lease_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_lease ON outbox (state, lease_until);
CREATE INDEX outbox_correlation ON outbox (correlation_id);
