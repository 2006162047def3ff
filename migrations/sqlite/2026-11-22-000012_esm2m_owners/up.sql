-- ESM2M (design §1): which eUICC owner (an entity of role eUICC-owner) each eUICC belongs to, and the owners'
-- API tokens, kept only as the SHA-256 of the token's 32 random bytes (eis-store owners.rs).
CREATE TABLE euicc_owners (
    eid TEXT PRIMARY KEY NOT NULL REFERENCES euiccs (eid) ON DELETE CASCADE,
    owner_oid TEXT NOT NULL REFERENCES entities (oid) ON DELETE CASCADE,
    assigned_at BIGINT NOT NULL
);
CREATE INDEX euicc_owners_owner ON euicc_owners (owner_oid, eid);

CREATE TABLE owner_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_oid TEXT NOT NULL REFERENCES entities (oid) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
CREATE INDEX owner_tokens_owner ON owner_tokens (owner_oid, id);
