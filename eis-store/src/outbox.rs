//! Transactional outbox (design §3 step 5): outgoing HTTP messages (SOAP callbacks to wsa:ReplyTo, ES2/ES4
//! notifications, REST webhooks) written inside the caller's transaction, then claimed by a dispatcher with a
//! lease, marked delivered, or rescheduled with backoff until their deadline, after which they are dead.

use std::time::Duration;

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, atomic, atomic_in_pg_tx, millis, on_backend};
use crate::error::{RecordKind, StoreError};
use crate::jobs::Backoff;
use crate::schema::outbox;

/// State of an outbox message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Waiting for `next_attempt_at`.
    Pending,
    /// Claimed by a dispatcher holding a lease.
    InFlight,
    /// Delivered (acknowledged by the receiver).
    Delivered,
    /// Not delivered before its deadline; `last_error` says why.
    Dead,
}

impl OutboxState {
    /// Text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "Pending",
            OutboxState::InFlight => "InFlight",
            OutboxState::Delivered => "Delivered",
            OutboxState::Dead => "Dead",
        }
    }

    fn parse(s: &str) -> Result<OutboxState, StoreError> {
        Ok(match s {
            "Pending" => OutboxState::Pending,
            "InFlight" => OutboxState::InFlight,
            "Delivered" => OutboxState::Delivered,
            "Dead" => OutboxState::Dead,
            _ => {
                return Err(StoreError::invalid_data(
                    "outbox.state",
                    format!("unknown state {s:?}"),
                ));
            }
        })
    }
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxMessage {
    /// Destination URL (e.g. the wsa:ReplyTo address or the entity's endpoint for the interface).
    pub destination_url: String,
    /// HTTP method.
    pub http_method: String,
    /// Extra HTTP headers, in order (e.g. SOAPAction).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Content type (`application/soap+xml; charset=utf-8`, `application/json`).
    pub content_type: String,
    /// Correlation id (function call, operation).
    pub correlation_id: Option<String>,
    /// wsa:MessageID of this message.
    pub message_id: Option<String>,
    /// Earliest first attempt (unix ms).
    pub not_before: UnixMillis,
    /// Give up after this time (unix ms): e.g. the end of the function call's validity period.
    pub give_up_at: UnixMillis,
}

/// A stored outbox message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Id.
    pub id: i64,
    /// Destination URL.
    pub destination_url: String,
    /// HTTP method.
    pub http_method: String,
    /// Extra HTTP headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// Content type.
    pub content_type: String,
    /// Correlation id.
    pub correlation_id: Option<String>,
    /// wsa:MessageID of this message.
    pub message_id: Option<String>,
    /// Deadline (unix ms).
    pub give_up_at: UnixMillis,
    /// State.
    pub state: OutboxState,
    /// Attempts started.
    pub attempts: u32,
    /// Next attempt (unix ms).
    pub next_attempt_at: UnixMillis,
    /// Dispatcher holding the lease.
    pub locked_by: Option<String>,
    /// End of the lease (unix ms).
    pub lease_until: Option<UnixMillis>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Written (unix ms).
    pub created_at: UnixMillis,
    /// Delivered (unix ms).
    pub delivered_at: Option<UnixMillis>,
}

/// Outcome of [`reschedule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RescheduleOutcome {
    /// Next attempt at this time (unix ms).
    Retry {
        /// Next attempt.
        next_attempt_at: UnixMillis,
    },
    /// The next attempt would be after the deadline: the message is dead.
    Dead,
}

#[derive(Insertable)]
#[diesel(table_name = outbox)]
#[diesel(treat_none_as_default_value = false)]
struct NewRow<'a> {
    destination_url: &'a str,
    http_method: &'a str,
    headers: String,
    body: &'a [u8],
    content_type: &'a str,
    correlation_id: Option<&'a str>,
    message_id: Option<&'a str>,
    state: &'a str,
    attempts: i32,
    next_attempt_at: i64,
    give_up_at: i64,
    locked_by: Option<&'a str>,
    lease_until: Option<i64>,
    last_error: Option<&'a str>,
    created_at: i64,
    updated_at: i64,
    delivered_at: Option<i64>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = outbox)]
struct Row {
    id: i64,
    destination_url: String,
    http_method: String,
    headers: String,
    body: Vec<u8>,
    content_type: String,
    correlation_id: Option<String>,
    message_id: Option<String>,
    state: String,
    attempts: i32,
    next_attempt_at: i64,
    give_up_at: i64,
    locked_by: Option<String>,
    lease_until: Option<i64>,
    last_error: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
}

impl TryFrom<Row> for OutboxMessage {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        let headers = serde_json::from_str(&r.headers).map_err(|e| {
            StoreError::invalid_data("outbox.headers", format!("message {}: {e}", r.id))
        })?;
        Ok(OutboxMessage {
            id: r.id,
            destination_url: r.destination_url,
            http_method: r.http_method,
            headers,
            body: r.body,
            content_type: r.content_type,
            correlation_id: r.correlation_id,
            message_id: r.message_id,
            give_up_at: r.give_up_at,
            state: OutboxState::parse(&r.state)?,
            attempts: u32::try_from(r.attempts).map_err(|_| {
                StoreError::invalid_data("outbox.attempts", format!("{} is negative", r.attempts))
            })?,
            next_attempt_at: r.next_attempt_at,
            locked_by: r.locked_by,
            lease_until: r.lease_until,
            last_error: r.last_error,
            created_at: r.created_at,
            delivered_at: r.delivered_at,
        })
    }
}

/// Writes a message to the outbox (call it inside the transaction that produced the message); returns its id.
pub fn enqueue(
    conn: &mut AnyConnection,
    msg: &NewOutboxMessage,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    let row = new_row(msg, now)?;
    Ok(on_backend!(conn, c => diesel::insert_into(outbox::table)
        .values(&row)
        .returning(outbox::id)
        .get_result(c))?)
}

/// The row of a new message `msg`, pending from its `not_before`.
fn new_row(msg: &NewOutboxMessage, now: UnixMillis) -> Result<NewRow<'_>, StoreError> {
    let headers = serde_json::to_string(&msg.headers)
        .map_err(|e| StoreError::invalid_argument("headers", e.to_string()))?;
    Ok(NewRow {
        destination_url: &msg.destination_url,
        http_method: &msg.http_method,
        headers,
        body: &msg.body,
        content_type: &msg.content_type,
        correlation_id: msg.correlation_id.as_deref(),
        message_id: msg.message_id.as_deref(),
        state: OutboxState::Pending.as_str(),
        attempts: 0,
        next_attempt_at: msg.not_before,
        give_up_at: msg.give_up_at,
        locked_by: None,
        lease_until: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        delivered_at: None,
    })
}

/// A message row with its id drawn beforehand ([`enqueue_all`] on PostgreSQL).
#[derive(Insertable)]
#[diesel(table_name = outbox)]
struct NewRowWithId<'a> {
    id: i64,
    #[diesel(embed)]
    row: NewRow<'a>,
}

/// [`enqueue`] of several messages; returns their ids in order. On PostgreSQL one statement to draw the ids
/// and one multi-row INSERT per 1,000 messages.
pub fn enqueue_all(
    conn: &mut AnyConnection,
    msgs: &[NewOutboxMessage],
    now: UnixMillis,
) -> Result<Vec<i64>, StoreError> {
    if matches!(conn, AnyConnection::Sqlite(_)) {
        return msgs.iter().map(|m| enqueue(conn, m, now)).collect();
    }
    let mut ids = Vec::with_capacity(msgs.len());
    for chunk in msgs.chunks(1_000) {
        let drawn = crate::connection::next_ids(conn, "outbox", chunk.len())?;
        let rows = chunk
            .iter()
            .zip(&drawn)
            .map(|(m, &id)| {
                Ok(NewRowWithId {
                    id,
                    row: new_row(m, now)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        on_backend!(conn, c => diesel::insert_into(outbox::table)
            .values(&rows)
            .execute(c))?;
        ids.extend(drawn);
    }
    Ok(ids)
}

/// Claims up to `limit` due messages for `worker_id` with a lease (SKIP LOCKED on PostgreSQL, IMMEDIATE
/// transaction on SQLite), oldest due first. Messages past their deadline are not claimed (see
/// [`expire_overdue`]).
pub fn claim_due(
    conn: &mut AnyConnection,
    worker_id: &str,
    lease: Duration,
    limit: u32,
    now: UnixMillis,
) -> Result<Vec<OutboxMessage>, StoreError> {
    let lease_until = now.saturating_add(millis(lease));
    atomic_in_pg_tx(conn, |c| {
        let due = outbox::table
            .filter(
                outbox::state
                    .eq(OutboxState::Pending.as_str())
                    .and(outbox::next_attempt_at.le(now))
                    .and(outbox::give_up_at.ge(now)),
            )
            .order((outbox::next_attempt_at, outbox::id))
            .limit(i64::from(limit))
            .select(outbox::id);
        let ids: Vec<i64> = match c {
            AnyConnection::Pg(c) => due.for_update().skip_locked().load(c)?,
            AnyConnection::Sqlite(c) => due.load(c)?,
        };
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Row> = on_backend!(c, c => diesel::update(outbox::table.filter(outbox::id.eq_any(&ids)))
            .set((
                outbox::state.eq(OutboxState::InFlight.as_str()),
                outbox::locked_by.eq(worker_id),
                outbox::lease_until.eq(lease_until),
                outbox::attempts.eq(outbox::attempts + 1),
                outbox::updated_at.eq(now),
            ))
            .returning(Row::as_returning())
            .get_results(c))?;
        let mut out = rows
            .into_iter()
            .map(OutboxMessage::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|m| (m.next_attempt_at, m.id));
        Ok(out)
    })
}

macro_rules! leased {
    ($id:expr, $worker:expr) => {
        outbox::table.filter(
            outbox::id
                .eq($id)
                .and(outbox::state.eq(OutboxState::InFlight.as_str()))
                .and(outbox::locked_by.eq($worker)),
        )
    };
}

fn lease_miss<T>(conn: &mut AnyConnection, id: i64, worker_id: &str) -> Result<T, StoreError> {
    let found = outbox::table
        .find(id)
        .select(outbox::state)
        .first::<String>(conn)
        .optional()?;
    match found {
        None => Err(StoreError::not_found(
            RecordKind::OutboxMessage,
            id.to_string(),
        )),
        Some(state) => Err(StoreError::conflict(
            RecordKind::OutboxMessage,
            id.to_string(),
            format!("not leased by {worker_id} (state {state})"),
        )),
    }
}

/// Marks claimed messages `ids` delivered with one check and one update per 500 (a dispatcher round's
/// successes); refuses (changing nothing) when one of them is not leased by `worker_id`.
pub fn mark_delivered_many(
    conn: &mut AnyConnection,
    ids: &[i64],
    worker_id: &str,
    now: UnixMillis,
) -> Result<(), StoreError> {
    atomic(conn, |c| {
        for chunk in ids.chunks(500) {
            // By primary key only, the lease checked here: with `state` in the filter PostgreSQL's planner
            // combined the state index, whose entries for every message that was ever in flight (dead row
            // versions until vacuum) it then walked — 6–10 ms a call in `rsp bench fleet`.
            let rows: Vec<(i64, String, Option<String>)> = outbox::table
                .filter(outbox::id.eq_any(chunk))
                .select((outbox::id, outbox::state, outbox::locked_by))
                .load(c)?;
            let leased = |id: &i64| {
                rows.iter().any(|(i, state, by)| {
                    i == id
                        && state == OutboxState::InFlight.as_str()
                        && by.as_deref() == Some(worker_id)
                })
            };
            if let Some(&missing) = chunk.iter().find(|id| !leased(id)) {
                return lease_miss(c, missing, worker_id);
            }
            diesel::update(outbox::table.filter(outbox::id.eq_any(chunk)))
                .set((
                    outbox::state.eq(OutboxState::Delivered.as_str()),
                    outbox::locked_by.eq(None::<String>),
                    outbox::lease_until.eq(None::<i64>),
                    outbox::delivered_at.eq(now),
                    outbox::updated_at.eq(now),
                ))
                .execute(c)?;
        }
        Ok(())
    })
}

/// Records a failed delivery: next attempt after `backoff.delay(attempts)`, or dead if that would be after
/// the message's deadline.
pub fn reschedule(
    conn: &mut AnyConnection,
    id: i64,
    worker_id: &str,
    error: &str,
    backoff: &Backoff,
    now: UnixMillis,
) -> Result<RescheduleOutcome, StoreError> {
    atomic(conn, |c| {
        let found = leased!(id, worker_id)
            .select((outbox::attempts, outbox::give_up_at))
            .first::<(i32, i64)>(c)
            .optional()?;
        let Some((attempts, give_up_at)) = found else {
            return lease_miss(c, id, worker_id);
        };
        let delay = backoff.delay(u32::try_from(attempts).unwrap_or(0));
        let next = now.saturating_add(millis(delay));
        let (state, outcome) = if next > give_up_at {
            (OutboxState::Dead, RescheduleOutcome::Dead)
        } else {
            (
                OutboxState::Pending,
                RescheduleOutcome::Retry {
                    next_attempt_at: next,
                },
            )
        };
        diesel::update(leased!(id, worker_id))
            .set((
                outbox::state.eq(state.as_str()),
                outbox::next_attempt_at.eq(next),
                outbox::locked_by.eq(None::<String>),
                outbox::lease_until.eq(None::<i64>),
                outbox::last_error.eq(error),
                outbox::updated_at.eq(now),
            ))
            .execute(c)?;
        Ok(outcome)
    })
}

/// Makes messages whose dispatcher lease expired before `now` pending again (claimable at once).
pub fn recover_expired_leases(
    conn: &mut AnyConnection,
    now: UnixMillis,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        outbox::table.filter(
            outbox::state
                .eq(OutboxState::InFlight.as_str())
                .and(outbox::lease_until.le(now)),
        ),
    )
    .set((
        outbox::state.eq(OutboxState::Pending.as_str()),
        outbox::next_attempt_at.eq(now),
        outbox::locked_by.eq(None::<String>),
        outbox::lease_until.eq(None::<i64>),
        outbox::last_error.eq("lease expired"),
        outbox::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Makes pending messages whose deadline passed before `now` dead (never delivered in time); `last_error`
/// keeps the error of their last attempt, if any. Returns how many.
pub fn expire_overdue(conn: &mut AnyConnection, now: UnixMillis) -> Result<usize, StoreError> {
    Ok(diesel::update(
        outbox::table.filter(
            outbox::state
                .eq(OutboxState::Pending.as_str())
                .and(outbox::give_up_at.lt(now)),
        ),
    )
    .set((
        outbox::state.eq(OutboxState::Dead.as_str()),
        outbox::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// The message with this id.
pub fn get_message(conn: &mut AnyConnection, id: i64) -> Result<Option<OutboxMessage>, StoreError> {
    outbox::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(OutboxMessage::try_from)
        .transpose()
}

/// The messages in flight whose lease holder's id starts with `worker_prefix`, oldest first: what one
/// process's dispatchers hold (dispatcher ids carry the process id).
pub fn held_by(
    conn: &mut AnyConnection,
    worker_prefix: &str,
) -> Result<Vec<OutboxMessage>, StoreError> {
    outbox::table
        .filter(outbox::state.eq(OutboxState::InFlight.as_str()))
        .order(outbox::id)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .filter(|r| {
            r.locked_by
                .as_deref()
                .is_some_and(|w| w.starts_with(worker_prefix))
        })
        .map(OutboxMessage::try_from)
        .collect()
}

/// Messages with this correlation id, oldest first (to show the delivery state of an operation's callbacks).
pub fn by_correlation(
    conn: &mut AnyConnection,
    correlation_id: &str,
) -> Result<Vec<OutboxMessage>, StoreError> {
    outbox::table
        .filter(outbox::correlation_id.eq(correlation_id))
        .order(outbox::id)
        .select(Row::as_select())
        .load(conn)?
        .into_iter()
        .map(OutboxMessage::try_from)
        .collect()
}

/// Deletes delivered and dead messages last changed before `before` (retention); returns how many.
pub fn purge_finished_before(
    conn: &mut AnyConnection,
    before: UnixMillis,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        outbox::table.filter(
            outbox::state
                .eq_any([OutboxState::Delivered.as_str(), OutboxState::Dead.as_str()])
                .and(outbox::updated_at.lt(before)),
        ),
    )
    .execute(conn)?)
}

/// What waits in the outbox: messages not yet delivered nor given up (Pending or InFlight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Backlog {
    /// Messages waiting for their next attempt.
    pub pending: i64,
    /// Messages claimed by a dispatcher.
    pub in_flight: i64,
    /// When the oldest of them was written (unix ms), if any.
    pub oldest_created_at: Option<UnixMillis>,
}

/// The outbox backlog (issue 14 item 4, `/metrics`): one aggregate over the undelivered messages, found
/// through the `(state, …)` indexes, so its cost grows with the backlog, not with the delivered history.
pub fn backlog(conn: &mut AnyConnection) -> Result<Backlog, StoreError> {
    let rows: Vec<(String, i64, Option<i64>)> = outbox::table
        .filter(
            outbox::state
                .eq(OutboxState::Pending.as_str())
                .or(outbox::state.eq(OutboxState::InFlight.as_str())),
        )
        .group_by(outbox::state)
        .select((
            outbox::state,
            diesel::dsl::count_star(),
            diesel::dsl::min(outbox::created_at),
        ))
        .load(conn)?;
    let mut out = Backlog::default();
    for (state, n, oldest) in rows {
        match OutboxState::parse(&state)? {
            OutboxState::Pending => out.pending = n,
            OutboxState::InFlight => out.in_flight = n,
            OutboxState::Delivered | OutboxState::Dead => {}
        }
        out.oldest_created_at = match (out.oldest_created_at, oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
    Ok(out)
}
