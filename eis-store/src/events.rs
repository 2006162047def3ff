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

use diesel::prelude::*;

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
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
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
