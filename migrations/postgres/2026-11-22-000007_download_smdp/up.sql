-- The SM-DP's profile downloads (SGP.02 §3.1, ES2.DownloadProfile): one row per download procedure, its phase,
-- the step counter (every ES3 request of the procedure is one step; an answer is applied only to the step it
-- answers), the wsa:MessageID of the ES3 request whose answer is awaited, the deadline (the ES2 call's
-- ValidityPeriod), the procedure's state as JSON and its key material sealed with the master key.
CREATE TABLE smdp_downloads (
    id BIGSERIAL PRIMARY KEY,
    es2_call_id BIGINT NOT NULL UNIQUE,
    mno_oid TEXT NOT NULL,
    eid TEXT NOT NULL,
    iccid TEXT NOT NULL,
    phase TEXT NOT NULL,
    step BIGINT NOT NULL,
    awaiting_message_id TEXT,
    deadline BIGINT NOT NULL,
    data TEXT NOT NULL,
    sealed_keys TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX smdp_downloads_awaiting ON smdp_downloads (awaiting_message_id);
CREATE INDEX smdp_downloads_iccid ON smdp_downloads (iccid);

-- Every ES3 MessageID a download used, so that a late answer to an older step is recognised and ignored.
CREATE TABLE smdp_download_messages (
    message_id TEXT PRIMARY KEY,
    download_id BIGINT NOT NULL,
    step BIGINT NOT NULL
);
