-- Segments of concatenated MO SMS waiting for the rest of their message (3GPP TS 23.040 §9.2.3.24.1;
-- docs/architecture.md §5 "MO SMS"): kept in the database, not in one process, so that the segments of one
-- message may reach different SM-SR nodes (the SMSC hands each deliver_sm to any bind of the account) and a
-- segment acknowledged to the SMSC survives a crash. The transaction that stores the last missing segment
-- deletes the message's rows and handles the reassembled packet. Only segments of a sender that is an eUICC's
-- MSISDN are kept; that eUICC's row lock orders the transactions of one sender across nodes.
-- source: the sender's address as the SMSC gave it; reference: the concatenation reference; part: the
-- segment's index (1..n); tp_ud: the segment's TP-UD as received; received_at: Unix ms.
CREATE TABLE es5_mo_segments (
    source TEXT NOT NULL,
    reference INTEGER NOT NULL,
    part INTEGER NOT NULL,
    tp_ud BLOB NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, reference, part)
);
CREATE INDEX es5_mo_segments_received ON es5_mo_segments (received_at);
