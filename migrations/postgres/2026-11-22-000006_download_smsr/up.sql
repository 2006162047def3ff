-- Profile download on the SM-SR (SGP.02 §3.1, ES3.CreateISDP): the next ISD-P instance index per eUICC
-- (wire-profile §1: AIDs A0000005591010FFFFFFFF89000010 00 upward). Only ever raised — by each allocation and by
-- the deletion of an ISD-P at or above it — so an AID is never given twice on one eUICC, even after deletions.
CREATE TABLE isd_p_aid_counters (
    eid TEXT PRIMARY KEY NOT NULL REFERENCES euiccs (eid) ON DELETE CASCADE,
    next_index BIGINT NOT NULL
);
