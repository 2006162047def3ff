//! Segments of concatenated MO SMS held until their message is complete (3GPP TS 23.040 §9.2.3.24.1), in the
//! database so that the segments of one message may reach different SM-SR nodes and a segment acknowledged to
//! the SMSC survives a crash (issue 14 item 2). Rows only: the SM-SR parses and puts the TP-UDs together
//! (`es_interfaces::sms::Reassembler`). Callers hold the sender's eUICC row lock, which orders the
//! transactions of one sender across nodes.

use std::collections::BTreeMap;

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, on_backend};
use crate::error::StoreError;
use crate::schema::es5_mo_segments as seg;

/// The segments held of message `reference` from `source`, as received (TP-UDs), by part
/// (3GPP TS 23.040 §9.2.3.24.1).
pub fn held(
    conn: &mut AnyConnection,
    source: &str,
    reference: u16,
) -> Result<Vec<Vec<u8>>, StoreError> {
    Ok(seg::table
        .filter(seg::source.eq(source))
        .filter(seg::reference.eq(i32::from(reference)))
        .order(seg::part)
        .select(seg::tp_ud)
        .load(conn)?)
}

/// Holds segment `part` of message `reference` from `source`, received at `now`; a part already held stays as
/// it is (3GPP TS 23.040 §9.2.3.24.1).
pub fn hold(
    conn: &mut AnyConnection,
    source: &str,
    reference: u16,
    part: u8,
    tp_ud: &[u8],
    now: UnixMillis,
) -> Result<(), StoreError> {
    on_backend!(conn, c => diesel::insert_into(seg::table)
        .values((
            seg::source.eq(source),
            seg::reference.eq(i32::from(reference)),
            seg::part.eq(i32::from(part)),
            seg::tp_ud.eq(tp_ud),
            seg::received_at.eq(now),
        ))
        .on_conflict((seg::source, seg::reference, seg::part))
        .do_nothing()
        .execute(c))?;
    Ok(())
}

/// Forgets message `reference` from `source`: reassembled, or dropped (3GPP TS 23.040 §9.2.3.24.1).
pub fn release(conn: &mut AnyConnection, source: &str, reference: u16) -> Result<(), StoreError> {
    diesel::delete(
        seg::table
            .filter(seg::source.eq(source))
            .filter(seg::reference.eq(i32::from(reference))),
    )
    .execute(conn)?;
    Ok(())
}

/// Incomplete messages held: `(from source, from all senders)` (3GPP TS 23.040 §9.2.3.24.1).
pub fn incomplete(conn: &mut AnyConnection, source: &str) -> Result<(usize, usize), StoreError> {
    #[derive(QueryableByName)]
    struct Messages {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    // A sender holds few messages (the SM-SR bounds them): their references are read, not counted.
    let of_source: Vec<i32> = seg::table
        .filter(seg::source.eq(source))
        .select(seg::reference)
        .distinct()
        .load(conn)?;
    let all: Messages = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM (SELECT DISTINCT source, reference FROM es5_mo_segments) m",
    )
    .get_result(conn)?;
    let size = |n: i64| usize::try_from(n).unwrap_or(0);
    Ok((of_source.len(), size(all.n)))
}

/// Segments of one message dropped by [`expire`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredMessage {
    /// The sender.
    pub source: String,
    /// The concatenation reference.
    pub reference: u16,
    /// The parts that were held and are dropped.
    pub parts: Vec<u8>,
}

/// Drops the segments received before `before` and says whose messages they were (3GPP TS 23.040
/// §9.2.3.24.1: an incomplete message is not kept for ever).
pub fn expire(
    conn: &mut AnyConnection,
    before: UnixMillis,
) -> Result<Vec<ExpiredMessage>, StoreError> {
    let rows: Vec<(String, i32, i32)> = on_backend!(conn, c => diesel::delete(
        seg::table.filter(seg::received_at.lt(before)),
    )
    .returning((seg::source, seg::reference, seg::part))
    .load(c))?;
    let mut by_message: BTreeMap<(String, u16), Vec<u8>> = BTreeMap::new();
    for (source, reference, part) in rows {
        by_message
            .entry((source, u16::try_from(reference).unwrap_or(u16::MAX)))
            .or_default()
            .push(u8::try_from(part).unwrap_or(u8::MAX));
    }
    Ok(by_message
        .into_iter()
        .map(|((source, reference), mut parts)| {
            parts.sort_unstable();
            ExpiredMessage {
                source,
                reference,
                parts,
            }
        })
        .collect())
}
