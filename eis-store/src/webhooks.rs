//! Webhook endpoints of the eUICC owners and their deliveries (ESM2M, issue 12 item 3). An endpoint holds its
//! signing secret sealed (the caller seals and opens it); a delivery is one event for one endpoint, sent as an
//! outbox message (correlation `webhook:<delivery id>`), with one row per attempt.

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, on_backend};
use crate::error::StoreError;
use crate::outbox::{self, OutboxState};
use crate::schema::{outbox as outbox_t, webhook_attempts, webhook_deliveries, webhook_endpoints};

/// Correlation id prefix of the outbox messages that are webhook deliveries.
pub const CORRELATION_PREFIX: &str = "webhook:";

/// The outbox correlation id of delivery `id`.
pub fn correlation(id: i64) -> String {
    format!("{CORRELATION_PREFIX}{id}")
}

/// The delivery id of an outbox correlation id, if it is a webhook's.
pub fn delivery_of(correlation_id: Option<&str>) -> Option<i64> {
    correlation_id?
        .strip_prefix(CORRELATION_PREFIX)?
        .parse()
        .ok()
}

/// A stored endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = webhook_endpoints)]
pub struct Endpoint {
    /// Id.
    pub id: i64,
    /// The owner.
    pub owner_oid: String,
    /// HTTPS URL the events are POSTed to.
    pub url: String,
    /// The signing secret, sealed with the master key.
    pub secret_sealed: String,
    /// Event types it receives, comma-separated; empty: all.
    pub event_types: String,
    /// Created (unix ms).
    pub created_at: UnixMillis,
}

impl Endpoint {
    /// Whether the endpoint receives events of `event_type`.
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types.is_empty() || self.event_types.split(',').any(|t| t == event_type)
    }
}

/// Stores an endpoint of `owner_oid`; returns it.
pub fn create_endpoint(
    conn: &mut AnyConnection,
    owner_oid: &str,
    url: &str,
    secret_sealed: &str,
    event_types: &str,
    now: UnixMillis,
) -> Result<Endpoint, StoreError> {
    let row = (
        webhook_endpoints::owner_oid.eq(owner_oid),
        webhook_endpoints::url.eq(url),
        webhook_endpoints::secret_sealed.eq(secret_sealed),
        webhook_endpoints::event_types.eq(event_types),
        webhook_endpoints::created_at.eq(now),
    );
    Ok(
        on_backend!(conn, c => diesel::insert_into(webhook_endpoints::table)
        .values(row)
        .returning(Endpoint::as_returning())
        .get_result(c))?,
    )
}

/// The endpoints of `owner_oid`, oldest first.
pub fn endpoints_of(
    conn: &mut AnyConnection,
    owner_oid: &str,
) -> Result<Vec<Endpoint>, StoreError> {
    Ok(webhook_endpoints::table
        .filter(webhook_endpoints::owner_oid.eq(owner_oid))
        .order(webhook_endpoints::id)
        .select(Endpoint::as_select())
        .load(conn)?)
}

/// Endpoint `id` if it belongs to `owner_oid`.
pub fn endpoint(
    conn: &mut AnyConnection,
    owner_oid: &str,
    id: i64,
) -> Result<Option<Endpoint>, StoreError> {
    Ok(webhook_endpoints::table
        .find(id)
        .filter(webhook_endpoints::owner_oid.eq(owner_oid))
        .select(Endpoint::as_select())
        .first(conn)
        .optional()?)
}

/// Endpoint `id`, whoever owns it (for the dispatcher).
pub fn endpoint_by_id(conn: &mut AnyConnection, id: i64) -> Result<Option<Endpoint>, StoreError> {
    Ok(webhook_endpoints::table
        .find(id)
        .select(Endpoint::as_select())
        .first(conn)
        .optional()?)
}

/// Deletes endpoint `id` of `owner_oid` with its deliveries; their messages still waiting in the outbox are
/// given up. Returns whether it existed.
pub fn delete_endpoint(
    conn: &mut AnyConnection,
    owner_oid: &str,
    id: i64,
    now: UnixMillis,
) -> Result<bool, StoreError> {
    if endpoint(conn, owner_oid, id)?.is_none() {
        return Ok(false);
    }
    let waiting: Vec<i64> = webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(id))
        .filter(webhook_deliveries::state.eq(OutboxState::Pending.as_str()))
        .select(webhook_deliveries::outbox_id)
        .load(conn)?;
    for chunk in waiting.chunks(500) {
        diesel::update(
            outbox_t::table
                .filter(outbox_t::id.eq_any(chunk))
                .filter(outbox_t::state.eq(OutboxState::Pending.as_str())),
        )
        .set((
            outbox_t::state.eq(OutboxState::Dead.as_str()),
            outbox_t::last_error.eq("webhook endpoint deleted"),
            outbox_t::updated_at.eq(now),
        ))
        .execute(conn)?;
    }
    diesel::delete(webhook_endpoints::table.find(id)).execute(conn)?;
    Ok(true)
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct Delivery {
    /// Id.
    pub id: i64,
    /// The endpoint.
    pub endpoint_id: i64,
    /// The event (global id).
    pub event_id: i64,
    /// Its outbox message.
    pub outbox_id: i64,
    /// The delivery this one replays.
    pub replay_of: Option<i64>,
    /// State after the last attempt (`Pending`, `Delivered`, `Dead`, as the outbox's).
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// Created (unix ms).
    pub created_at: UnixMillis,
    /// Last change (unix ms).
    pub updated_at: UnixMillis,
}

impl Delivery {
    /// A delivery just created, before its first attempt.
    fn pending(
        id: i64,
        endpoint_id: i64,
        event_id: i64,
        outbox_id: i64,
        replay_of: Option<i64>,
        now: UnixMillis,
    ) -> Delivery {
        Delivery {
            id,
            endpoint_id,
            event_id,
            outbox_id,
            replay_of,
            state: OutboxState::Pending.as_str().to_string(),
            attempts: 0,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Records a delivery whose outbox message is `outbox_id` (written by the caller in the same transaction, with
/// the correlation id [`correlation`] of the id returned: see [`create_deliveries`]).
fn insert_delivery(
    conn: &mut AnyConnection,
    endpoint_id: i64,
    event_id: i64,
    replay_of: Option<i64>,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    let row = (
        webhook_deliveries::endpoint_id.eq(endpoint_id),
        webhook_deliveries::event_id.eq(event_id),
        webhook_deliveries::outbox_id.eq(0i64),
        webhook_deliveries::replay_of.eq(replay_of),
        webhook_deliveries::state.eq(OutboxState::Pending.as_str()),
        webhook_deliveries::attempts.eq(0),
        webhook_deliveries::created_at.eq(now),
        webhook_deliveries::updated_at.eq(now),
    );
    Ok(
        on_backend!(conn, c => diesel::insert_into(webhook_deliveries::table)
        .values(row)
        .returning(webhook_deliveries::id)
        .get_result(c))?,
    )
}

/// A delivery to create ([`create_deliveries`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The endpoint.
    pub endpoint_id: i64,
    /// The event (global id).
    pub event_id: i64,
    /// The delivery this one replays.
    pub replay_of: Option<i64>,
    /// Its outbox message (the correlation id is set by [`create_deliveries`]).
    pub message: outbox::NewOutboxMessage,
}

/// A delivery row with its id and outbox message drawn beforehand (PostgreSQL's batch of
/// [`create_deliveries`]).
#[derive(Insertable)]
#[diesel(table_name = webhook_deliveries)]
struct NewDeliveryRow<'a> {
    id: i64,
    endpoint_id: i64,
    event_id: i64,
    outbox_id: i64,
    replay_of: Option<i64>,
    state: &'a str,
    attempts: i32,
    created_at: i64,
    updated_at: i64,
}

/// Rows of one multi-row INSERT: 1,000 × at most 18 columns stays under PostgreSQL's 65,535 parameters.
const BATCH_ROWS: usize = 1_000;

/// Creates the deliveries `new` (each an event for an endpoint) and their outbox messages (correlation ids
/// [`correlation`] of the deliveries), in order; returns them. Call it in the transaction that appended the
/// events. On PostgreSQL three statements per 1,000 deliveries (ids drawn first, then the outbox messages and
/// the deliveries written with them) instead of three per delivery: the fan-out of a batch of events runs
/// while the owner's event counter is held ([`crate::events::number`]).
pub fn create_deliveries(
    conn: &mut AnyConnection,
    new: Vec<NewDelivery>,
    now: UnixMillis,
) -> Result<Vec<Delivery>, StoreError> {
    let mut out = Vec::with_capacity(new.len());
    match conn {
        AnyConnection::Pg(_) => {
            for chunk in new.chunks(BATCH_ROWS) {
                let ids = crate::connection::next_ids(conn, "webhook_deliveries", chunk.len())?;
                let messages: Vec<outbox::NewOutboxMessage> = chunk
                    .iter()
                    .zip(&ids)
                    .map(|(d, id)| outbox::NewOutboxMessage {
                        correlation_id: Some(correlation(*id)),
                        ..d.message.clone()
                    })
                    .collect();
                let outbox_ids = outbox::enqueue_all(conn, &messages, now)?;
                let rows: Vec<NewDeliveryRow> = chunk
                    .iter()
                    .zip(ids.iter().zip(&outbox_ids))
                    .map(|(d, (&id, &outbox_id))| NewDeliveryRow {
                        id,
                        endpoint_id: d.endpoint_id,
                        event_id: d.event_id,
                        outbox_id,
                        replay_of: d.replay_of,
                        state: OutboxState::Pending.as_str(),
                        attempts: 0,
                        created_at: now,
                        updated_at: now,
                    })
                    .collect();
                on_backend!(conn, c => diesel::insert_into(webhook_deliveries::table)
                    .values(&rows)
                    .execute(c))?;
                out.extend(rows.iter().map(|r| {
                    Delivery::pending(
                        r.id,
                        r.endpoint_id,
                        r.event_id,
                        r.outbox_id,
                        r.replay_of,
                        now,
                    )
                }));
            }
        }
        AnyConnection::Sqlite(_) => {
            // One writer and no round trips: a statement per row costs little here.
            for d in new {
                let id = insert_delivery(conn, d.endpoint_id, d.event_id, d.replay_of, now)?;
                let message = outbox::NewOutboxMessage {
                    correlation_id: Some(correlation(id)),
                    ..d.message
                };
                let outbox_id = outbox::enqueue(conn, &message, now)?;
                diesel::update(webhook_deliveries::table.find(id))
                    .set(webhook_deliveries::outbox_id.eq(outbox_id))
                    .execute(conn)?;
                out.push(Delivery::pending(
                    id,
                    d.endpoint_id,
                    d.event_id,
                    outbox_id,
                    d.replay_of,
                    now,
                ));
            }
        }
    }
    Ok(out)
}

/// Creates one delivery and its outbox message ([`create_deliveries`] of one); returns the delivery.
pub fn create_delivery(
    conn: &mut AnyConnection,
    new: NewDelivery,
    now: UnixMillis,
) -> Result<Delivery, StoreError> {
    create_deliveries(conn, vec![new], now)?
        .pop()
        .ok_or_else(|| StoreError::invalid_argument("deliveries", "none was created"))
}

/// Delivery `id`.
pub fn delivery(conn: &mut AnyConnection, id: i64) -> Result<Option<Delivery>, StoreError> {
    Ok(webhook_deliveries::table
        .find(id)
        .select(Delivery::as_select())
        .first(conn)
        .optional()?)
}

/// Up to `limit` deliveries of endpoint `endpoint_id` after delivery `after`, oldest first.
pub fn deliveries_of(
    conn: &mut AnyConnection,
    endpoint_id: i64,
    after: i64,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_deliveries::id.gt(after))
        .order(webhook_deliveries::id)
        .limit(limit)
        .select(Delivery::as_select())
        .load(conn)?)
}

/// The deliveries of event `event_id` to endpoint `endpoint_id`, oldest first.
pub fn deliveries_of_event(
    conn: &mut AnyConnection,
    endpoint_id: i64,
    event_id: i64,
) -> Result<Vec<Delivery>, StoreError> {
    Ok(webhook_deliveries::table
        .filter(webhook_deliveries::endpoint_id.eq(endpoint_id))
        .filter(webhook_deliveries::event_id.eq(event_id))
        .order(webhook_deliveries::id)
        .select(Delivery::as_select())
        .load(conn)?)
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
pub struct Attempt {
    /// Id.
    pub id: i64,
    /// The delivery.
    pub delivery_id: i64,
    /// When it was made (unix ms).
    pub attempted_at: UnixMillis,
    /// HTTP status of the answer, if one came.
    pub http_status: Option<i32>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// Records an attempt of delivery `id` and the delivery's state after it.
pub fn record_attempt(
    conn: &mut AnyConnection,
    id: i64,
    http_status: Option<u16>,
    error: Option<&str>,
    state: OutboxState,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let row = (
        webhook_attempts::delivery_id.eq(id),
        webhook_attempts::attempted_at.eq(now),
        webhook_attempts::http_status.eq(http_status.map(i32::from)),
        webhook_attempts::error.eq(error),
    );
    diesel::insert_into(webhook_attempts::table)
        .values(row)
        .execute(conn)?;
    diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::state.eq(state.as_str()),
            webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            webhook_deliveries::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// One attempt to record with [`record_attempts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttempt<'a> {
    /// The delivery.
    pub delivery_id: i64,
    /// HTTP status of the answer, if one came.
    pub http_status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<&'a str>,
    /// The delivery's state after it.
    pub state: OutboxState,
}

/// Records attempts made at `now` (a dispatcher round's) as [`record_attempt`] does each, with one insert
/// and one update per state per 500.
pub fn record_attempts(
    conn: &mut AnyConnection,
    attempts: &[NewAttempt<'_>],
    now: UnixMillis,
) -> Result<(), StoreError> {
    for chunk in attempts.chunks(500) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|a| {
                (
                    webhook_attempts::delivery_id.eq(a.delivery_id),
                    webhook_attempts::attempted_at.eq(now),
                    webhook_attempts::http_status.eq(a.http_status.map(i32::from)),
                    webhook_attempts::error.eq(a.error),
                )
            })
            .collect();
        on_backend!(conn, c => diesel::insert_into(webhook_attempts::table)
            .values(&rows)
            .execute(c))?;
        for state in [
            OutboxState::Delivered,
            OutboxState::Pending,
            OutboxState::Dead,
            OutboxState::InFlight,
        ] {
            let ids: Vec<i64> = chunk
                .iter()
                .filter(|a| a.state == state)
                .map(|a| a.delivery_id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            diesel::update(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(&ids)))
                .set((
                    webhook_deliveries::state.eq(state.as_str()),
                    webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
                    webhook_deliveries::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
    }
    Ok(())
}

/// The deliveries `ids` that exist, in no particular order (for the dispatcher).
pub fn deliveries(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Delivery>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(
            webhook_deliveries::table
                .filter(webhook_deliveries::id.eq_any(chunk))
                .select(Delivery::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// The endpoints `ids` that exist, whoever owns them, in no particular order (for the dispatcher).
pub fn endpoints_by_ids(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<Endpoint>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(
            webhook_endpoints::table
                .filter(webhook_endpoints::id.eq_any(chunk))
                .select(Endpoint::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// The attempts of the deliveries `ids`, oldest first.
pub fn attempts_of(conn: &mut AnyConnection, ids: &[i64]) -> Result<Vec<Attempt>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(
            webhook_attempts::table
                .filter(webhook_attempts::delivery_id.eq_any(chunk))
                .order(webhook_attempts::id)
                .select(Attempt::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// The current state of the outbox messages `ids` (absent: purged after retention).
pub fn outbox_states(
    conn: &mut AnyConnection,
    ids: &[i64],
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(500) {
        out.extend(
            outbox_t::table
                .filter(outbox_t::id.eq_any(chunk))
                .select((outbox_t::id, outbox_t::state))
                .load::<(i64, String)>(conn)?,
        );
    }
    Ok(out)
}
