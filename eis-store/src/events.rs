//! Events of the eUICC owners (ESM2M, issue 12 item 3): each change on an owner's eUICC that the owner is told
//! about (an operation's state, a profile enabled, disabled or deleted) is stored in the transaction that makes
//! the change, numbered per owner 1, 2, 3, …, and read as a feed after a cursor.
//!
//! Ordering: [`append`] takes the owner's row of `owner_event_seqs` (an upsert: on PostgreSQL the row stays
//! locked until the transaction ends; SQLite has one writer at a time), so two transactions appending for one
//! owner commit in the order of their numbers, and a number is never seen before every smaller one has
//! committed or was rolled back (a rolled-back transaction gives its number back with the counter). A reader
//! that has read up to `n` therefore never misses an event that commits later: the feed has no gaps and no
//! repeats. The price: transactions appending for one owner run their remainder one after the other.
//!
//! Long transactions that emit many events (the SM-SR's batch of incoming packets, the fleet worker's starts)
//! take the number late instead: [`append_unnumbered`] writes the event with a placeholder number (its id,
//! negated: unique, and below every cursor) and no lock, and [`number`], their last statements before the
//! commit, takes the owner's counter and numbers the events that are still there (a rolled-back savepoint took
//! its own) in the order they were appended. The same rule holds — the counter row is held from the numbering
//! to the commit — for a fraction of the transaction.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt};

use crate::UnixMillis;
use crate::connection::{AnyConnection, on_backend};
use crate::error::StoreError;
use crate::schema::{owner_event_seqs, owner_events};

/// An event to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Type, e.g. `operation.finished`, `profile.enabled`.
    pub event_type: String,
    /// The eUICC concerned.
    pub eid: String,
    /// When it happened (unix ms).
    pub occurred_at: UnixMillis,
    /// Type-specific data (JSON text).
    pub data: String,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = owner_events)]
pub struct Event {
    /// Global id (unique over all owners).
    pub id: i64,
    /// The owner it belongs to.
    pub owner_oid: String,
    /// Its number in the owner's feed (1, 2, 3, …: the cursor).
    pub seq: i64,
    /// Type.
    pub event_type: String,
    /// The eUICC concerned.
    pub eid: String,
    /// When it happened (unix ms).
    pub occurred_at: UnixMillis,
    /// Type-specific data (JSON text).
    pub data: String,
}

/// Appends `event` to `owner_oid`'s feed with the next number; call it in the transaction making the change.
/// The owner's counter row stays locked until that transaction ends (see the module documentation).
pub fn append(
    conn: &mut AnyConnection,
    owner_oid: &str,
    event: &NewEvent,
) -> Result<Event, StoreError> {
    let seq: i64 = on_backend!(conn, c => diesel::insert_into(owner_event_seqs::table)
        .values((
            owner_event_seqs::owner_oid.eq(owner_oid),
            owner_event_seqs::last_seq.eq(1i64),
        ))
        .on_conflict(owner_event_seqs::owner_oid)
        .do_update()
        .set(owner_event_seqs::last_seq.eq(owner_event_seqs::last_seq + 1i64))
        .returning(owner_event_seqs::last_seq)
        .get_result(c))?;
    let row = (
        owner_events::owner_oid.eq(owner_oid),
        owner_events::seq.eq(seq),
        owner_events::event_type.eq(&event.event_type),
        owner_events::eid.eq(&event.eid),
        owner_events::occurred_at.eq(event.occurred_at),
        owner_events::data.eq(&event.data),
    );
    Ok(
        on_backend!(conn, c => diesel::insert_into(owner_events::table)
        .values(row)
        .returning(Event::as_returning())
        .get_result(c))?,
    )
}

/// Id of a row written by [`append_unnumbered`].
#[derive(QueryableByName)]
struct NewId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Appends `event` to `owner_oid`'s feed without its number: the row holds its id, negated, until [`number`]
/// numbers it before the transaction commits (an event left unnumbered is in no feed). Takes no lock. Returns
/// the event's id.
pub fn append_unnumbered(
    conn: &mut AnyConnection,
    owner_oid: &str,
    event: &NewEvent,
) -> Result<i64, StoreError> {
    use diesel::sql_types::Text;
    // The placeholder is the new id, negated: on PostgreSQL drawn first from the id's sequence; on SQLite (one
    // writer) the AUTOINCREMENT counter + 1, the id the row takes.
    let sql = match conn {
        AnyConnection::Pg(_) => {
            "INSERT INTO owner_events (id, owner_oid, seq, event_type, eid, occurred_at, data) \
             SELECT n, $1, -n, $2, $3, $4, $5 \
             FROM (SELECT nextval(pg_get_serial_sequence('owner_events', 'id')) AS n) s RETURNING id"
        }
        AnyConnection::Sqlite(_) => {
            "INSERT INTO owner_events (owner_oid, seq, event_type, eid, occurred_at, data) \
             SELECT ?, -1 - COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'owner_events'), 0), \
             ?, ?, ?, ? RETURNING id"
        }
    };
    let q = diesel::sql_query(sql)
        .bind::<Text, _>(owner_oid)
        .bind::<Text, _>(&event.event_type)
        .bind::<Text, _>(&event.eid)
        .bind::<BigInt, _>(event.occurred_at)
        .bind::<Text, _>(&event.data);
    let row: NewId = on_backend!(conn, c => q.get_result(c))?;
    Ok(row.id)
}

/// Numbers the events of `ids` written by [`append_unnumbered`] in this transaction and still there, each
/// owner's in the order of their ids, with the owner's next numbers ([`append`]'s counter, locked from here
/// to the commit: call it last). Returns them, numbered, in that order.
pub fn number(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Event>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<(String, i64)> = owner_events::table
        .filter(owner_events::id.eq_any(ids))
        .filter(owner_events::seq.lt(0))
        .order((owner_events::owner_oid, owner_events::id))
        .select((owner_events::owner_oid, owner_events::id))
        .load(conn)?;
    let mut numbered = Vec::with_capacity(rows.len());
    // Owners in a fixed order, so that two transactions numbering for the same owners cannot deadlock.
    for chunk in rows.chunk_by(|a, b| a.0 == b.0) {
        let owner = chunk[0].0.as_str();
        let ids: Vec<i64> = chunk.iter().map(|r| r.1).collect();
        let n = ids.len() as i64;
        let last: i64 = on_backend!(conn, c => diesel::insert_into(owner_event_seqs::table)
            .values((
                owner_event_seqs::owner_oid.eq(owner),
                owner_event_seqs::last_seq.eq(n),
            ))
            .on_conflict(owner_event_seqs::owner_oid)
            .do_update()
            .set(owner_event_seqs::last_seq.eq(owner_event_seqs::last_seq + n))
            .returning(owner_event_seqs::last_seq)
            .get_result(c))?;
        let first = last - n + 1;
        match conn {
            AnyConnection::Pg(c) => {
                let mut events: Vec<Event> = diesel::sql_query(
                    "UPDATE owner_events AS e SET seq = $1 + u.ord - 1 \
                     FROM unnest($2) WITH ORDINALITY AS u(id, ord) WHERE e.id = u.id \
                     RETURNING e.id, e.owner_oid, e.seq, e.event_type, e.eid, e.occurred_at, e.data",
                )
                .bind::<BigInt, _>(first)
                .bind::<Array<BigInt>, _>(&ids)
                .load(c)?;
                events.sort_by_key(|e| e.seq);
                numbered.extend(events);
            }
            AnyConnection::Sqlite(c) => {
                for (i, id) in ids.iter().enumerate() {
                    numbered.push(
                        diesel::update(owner_events::table.find(id))
                            .set(owner_events::seq.eq(first + i as i64))
                            .returning(Event::as_returning())
                            .get_result(c)?,
                    );
                }
            }
        }
    }
    Ok(numbered)
}

/// Up to `limit` events of `owner_oid` numbered after `after`, in order.
pub fn after(
    conn: &mut AnyConnection,
    owner_oid: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<Event>, StoreError> {
    Ok(owner_events::table
        .filter(owner_events::owner_oid.eq(owner_oid))
        .filter(owner_events::seq.gt(after))
        .order(owner_events::seq)
        .limit(limit)
        .select(Event::as_select())
        .load(conn)?)
}

/// The event with this global id.
pub fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Event>, StoreError> {
    Ok(owner_events::table
        .find(id)
        .select(Event::as_select())
        .first(conn)
        .optional()?)
}

/// The event numbered `seq` in `owner_oid`'s feed.
pub fn by_seq(
    conn: &mut AnyConnection,
    owner_oid: &str,
    seq: i64,
) -> Result<Option<Event>, StoreError> {
    Ok(owner_events::table
        .filter(owner_events::owner_oid.eq(owner_oid))
        .filter(owner_events::seq.eq(seq))
        .select(Event::as_select())
        .first(conn)
        .optional()?)
}
