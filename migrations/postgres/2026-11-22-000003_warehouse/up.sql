-- Profile warehouse of the SM-DP (SGP.02 §5.3 ES2, design §4): profile types, imported orders and the stock
-- of personalisation records. stock.state: Available | Reserved | Downloading | Installed.
CREATE TABLE profile_types (
    id BIGSERIAL PRIMARY KEY,
    mno_oid TEXT NOT NULL,
    name TEXT NOT NULL,
    template BYTEA NOT NULL,
    required_memory BIGINT NOT NULL,
    target_platform TEXT NOT NULL,
    low_stock_threshold BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (mno_oid, name)
);

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    mno_oid TEXT NOT NULL,
    profile_type_id BIGINT NOT NULL REFERENCES profile_types (id),
    source_file TEXT NOT NULL,
    row_count BIGINT NOT NULL,
    imported_at BIGINT NOT NULL
);

-- secrets: K/OPc, PIN/PUK/ADM, OTA keys, encrypted at rest under the master key secrets_key_id.
-- No FOREIGN KEY on profile_type_id / order_id: per-row FK triggers cost ~40% of the PostgreSQL bulk-import
-- rate (COPY). Integrity is kept by the repository (eis-store warehouse.rs), the only writer: records are
-- inserted only by insert_stock_chunk, which copies both from the order row; an order is deleted only when
-- no record refers to it, a profile type only when no order does.
CREATE TABLE stock (
    iccid TEXT PRIMARY KEY,
    imsi TEXT NOT NULL,
    msisdn TEXT,
    secrets BYTEA NOT NULL,
    secrets_key_id TEXT NOT NULL,
    profile_type_id BIGINT NOT NULL,
    mno_oid TEXT NOT NULL,
    order_id BIGINT NOT NULL,
    state TEXT NOT NULL,
    eid TEXT,
    created_at BIGINT NOT NULL,
    reserved_at BIGINT,
    downloading_at BIGINT,
    installed_at BIGINT,
    released_at BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX stock_pick ON stock (profile_type_id, state, iccid);
CREATE INDEX stock_order ON stock (order_id);
