//! Concatenated MO SMS put back together in the store (3GPP TS 23.040 §9.2.3.24.1; wire-profile §2 "longer
//! than one SMS"): a segment is held in `es5_mo_segments` until the last missing one arrives, at whichever
//! SM-SR node, whose transaction then takes the message's segments out and handles the packet. Held segments
//! survive a crash (the SMSC had its acknowledgement after the commit) and are dropped after
//! [`REASSEMBLY_TIMEOUT_MS`]. Only segments of an eUICC's MSISDN are held: the caller holds that eUICC's row
//! lock, so that the transactions of one sender follow each other on every node.

use eis_store::{AnyConnection, mo_segments};
use es_interfaces::sms::{PacketKind, PushOutcome, Reassembler};

use crate::error::SmsrError;
use crate::service::Es5Settings;

/// Most segments of one concatenated MO SMS (a PoR of wire-profile §2 needs far fewer).
pub const MAX_PARTS: u8 = 16;
/// How long a held segment is kept for the rest of its message, in ms.
pub const REASSEMBLY_TIMEOUT_MS: i64 = 120_000;

/// What became of one segment (3GPP TS 23.040 §9.2.3.24.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentOutcome {
    /// It was the last one missing: the whole packet.
    Complete(PacketKind, Vec<u8>),
    /// Held for the rest of its message (or already held: the SMSC sent it again).
    Held,
    /// Not held; why.
    Dropped(String),
}

/// Takes segment `tp_ud` of message `reference` (segment `index`) from `source` within the caller's
/// transaction, `source` being the MSISDN of an eUICC whose row the caller has locked (3GPP TS 23.040
/// §9.2.3.24.1).
pub fn take_segment(
    conn: &mut AnyConnection,
    settings: &Es5Settings,
    source: &str,
    reference: u16,
    index: u8,
    tp_ud: &[u8],
    now: i64,
) -> Result<SegmentOutcome, SmsrError> {
    let held = mo_segments::held(conn, source, reference)?;
    // The held segments and this one, put together by the one reassembler of es-interfaces.
    let mut r: Reassembler<()> = Reassembler::new(MAX_PARTS, 1);
    for ud in &held {
        if let Err(e) = r.push((), ud) {
            // Only segments the reassembler accepted are held; a row that is not one is forgotten.
            mo_segments::release(conn, source, reference)?;
            return Ok(SegmentOutcome::Dropped(format!(
                "held segments of message {reference} no longer fit together ({e}); dropped"
            )));
        }
    }
    match r.push((), tp_ud) {
        Err(e) => Ok(SegmentOutcome::Dropped(e.to_string())),
        Ok(PushOutcome::Duplicate { .. }) => Ok(SegmentOutcome::Held),
        Ok(PushOutcome::Pending { .. }) => {
            if held.is_empty() {
                let (of_source, all) = mo_segments::incomplete(conn, source)?;
                if of_source >= settings.reassembly_per_sender.max(1) {
                    return Ok(SegmentOutcome::Dropped(format!(
                        "{of_source} incomplete messages of this sender held already"
                    )));
                }
                if all >= settings.reassembly_pending.max(1) {
                    return Ok(SegmentOutcome::Dropped(format!(
                        "{all} incomplete messages held already"
                    )));
                }
            }
            mo_segments::hold(conn, source, reference, index, tp_ud, now)?;
            Ok(SegmentOutcome::Held)
        }
        Ok(PushOutcome::Complete(a)) => {
            mo_segments::release(conn, source, reference)?;
            Ok(SegmentOutcome::Complete(a.kind, a.packet))
        }
    }
}

/// Drops the segments held longer than [`REASSEMBLY_TIMEOUT_MS`] at `now`, logging whose messages they were
/// (3GPP TS 23.040 §9.2.3.24.1); returns how many segments went.
pub fn expire(conn: &mut AnyConnection, now: i64) -> Result<usize, SmsrError> {
    let gone = mo_segments::expire(conn, now.saturating_sub(REASSEMBLY_TIMEOUT_MS))?;
    for m in &gone {
        tracing::info!(source = %m.source, reference = m.reference, held = ?m.parts,
            "incomplete MO SMS discarded");
    }
    Ok(gone.iter().map(|m| m.parts.len()).sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use eis_store::Store;
    use es_interfaces::sms::to_tp_uds;

    const CARD: &str = "4915550001";

    /// The segments of a response packet of 300 bytes, concatenation reference `reference`.
    fn segments(reference: u8) -> (Vec<u8>, Vec<Vec<u8>>) {
        let packet: Vec<u8> = (0..300u16).map(|i| (i % 251) as u8).collect();
        let uds = to_tp_uds(PacketKind::Response, &packet, reference).expect("segments");
        assert_eq!(uds.len(), 3);
        (packet, uds)
    }

    fn take(store: &Store, source: &str, reference: u8, index: u8, ud: &[u8]) -> SegmentOutcome {
        let settings = Es5Settings::default();
        store
            .tx(|c| take_segment(c, &settings, source, u16::from(reference), index, ud, 1_000))
            .expect("take")
    }

    /// Segments in any order, again and on two stores of one database (two nodes): held until the last one
    /// completes the packet, then gone from the store.
    fn reassembles_across_connections(a: &Store, b: &Store) {
        let (packet, uds) = segments(7);
        assert_eq!(take(a, CARD, 7, 3, &uds[2]), SegmentOutcome::Held);
        // The SMSC offers a segment again: still held once.
        assert_eq!(take(b, CARD, 7, 3, &uds[2]), SegmentOutcome::Held);
        assert_eq!(take(b, CARD, 7, 1, &uds[0]), SegmentOutcome::Held);
        assert_eq!(
            take(a, CARD, 7, 2, &uds[1]),
            SegmentOutcome::Complete(PacketKind::Response, packet.clone())
        );
        let left = a
            .tx(|c| mo_segments::held(c, CARD, 7))
            .expect("held segments");
        assert!(left.is_empty());
        // The reference comes again for a new message: a new reassembly.
        assert_eq!(take(b, CARD, 7, 1, &uds[0]), SegmentOutcome::Held);
    }

    /// A segment that contradicts one held (other bytes for the same part, another number of parts) is
    /// dropped and the held ones stay; one sender's incomplete messages are bounded and do not keep another
    /// sender's message from completing.
    fn refuses_contradictions_and_bounds_each_sender(store: &Store) {
        let (_, uds) = segments(9);
        assert_eq!(take(store, CARD, 9, 1, &uds[0]), SegmentOutcome::Held);
        let mut other = uds[0].clone();
        if let Some(last) = other.last_mut() {
            *last ^= 0xFF;
        }
        assert!(matches!(
            take(store, CARD, 9, 1, &other),
            SegmentOutcome::Dropped(_)
        ));
        let (_, four) = {
            let packet = vec![0x5A; 500];
            (
                (),
                to_tp_uds(PacketKind::Response, &packet, 9).expect("segments"),
            )
        };
        assert!(four.len() > 3);
        assert!(matches!(
            take(store, CARD, 9, 2, &four[1]),
            SegmentOutcome::Dropped(_)
        ));
        let held = store
            .tx(|c| mo_segments::held(c, CARD, 9))
            .expect("held segments");
        assert_eq!(held, [uds[0].clone()]);

        let per_sender = Es5Settings::default().reassembly_per_sender;
        let flood = "4917000000";
        for reference in 0..=(per_sender as u8 + 2) {
            let (_, uds) = segments(reference);
            let outcome = take(store, flood, reference, 1, &uds[0]);
            if usize::from(reference) < per_sender {
                assert_eq!(outcome, SegmentOutcome::Held);
            } else {
                assert!(matches!(outcome, SegmentOutcome::Dropped(_)), "{outcome:?}");
            }
        }
        let (packet, uds) = segments(200);
        for (i, ud) in uds.iter().enumerate() {
            let outcome = take(store, "4915551234", 200, i as u8 + 1, ud);
            if i + 1 < uds.len() {
                assert_eq!(outcome, SegmentOutcome::Held);
            } else {
                assert_eq!(
                    outcome,
                    SegmentOutcome::Complete(PacketKind::Response, packet.clone())
                );
            }
        }
    }

    /// Held segments go after [`REASSEMBLY_TIMEOUT_MS`], not before.
    fn expires_held_segments(store: &Store) {
        let (_, uds) = segments(3);
        assert_eq!(take(store, CARD, 3, 1, &uds[0]), SegmentOutcome::Held);
        let kept = store
            .tx(|c| expire(c, 1_000 + REASSEMBLY_TIMEOUT_MS))
            .expect("expire");
        assert_eq!(kept, 0);
        let gone = store
            .tx(|c| expire(c, 1_001 + REASSEMBLY_TIMEOUT_MS))
            .expect("expire");
        assert_eq!(gone, 1);
        let held = store
            .tx(|c| mo_segments::held(c, CARD, 3))
            .expect("held segments");
        assert!(held.is_empty());
    }

    #[test]
    fn on_sqlite() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let a = Store::open(&url, 2).expect("store");
        let b = Store::open(&url, 2).expect("second store");
        expires_held_segments(&a);
        reassembles_across_connections(&a, &b);
        refuses_contradictions_and_bounds_each_sender(&a);
    }

    #[test]
    fn on_postgres() {
        let db = testkit::PgTestDb::new();
        let a = Store::open(db.url(), 2).expect("store");
        let b = Store::open(db.url(), 2).expect("second store");
        expires_held_segments(&a);
        reassembles_across_connections(&a, &b);
        refuses_contradictions_and_bounds_each_sender(&a);
    }
}
