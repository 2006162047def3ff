//! The SM-DP's relayed calls (SGP.02 §3.3–§3.5 "via the SM-DP"): an ES2 function call of an MNO that the SM-DP
//! carries out by calling the matching ES3 function at the SM-SR. The relay links the ES3 request's
//! `wsa:MessageID` to the ES2 function call, so that the SM-SR's callback (`wsa:RelatesTo`) completes the ES2
//! call.

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, on_backend};
use crate::error::{RecordKind, StoreError};
use crate::schema::smdp_relays;

/// State of a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayState {
    /// The ES3 request is sent (or in the outbox); the result is awaited.
    Sent,
    /// The ES3 result arrived and completed the ES2 call.
    Completed,
}

impl RelayState {
    /// Text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RelayState::Sent => "Sent",
            RelayState::Completed => "Completed",
        }
    }

    fn parse(s: &str) -> Result<RelayState, StoreError> {
        match s {
            "Sent" => Ok(RelayState::Sent),
            "Completed" => Ok(RelayState::Completed),
            _ => Err(StoreError::invalid_data(
                "smdp_relays.state",
                format!("unknown state {s:?}"),
            )),
        }
    }
}

/// A stored relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Id.
    pub id: i64,
    /// The ES2 function call (`function_calls.id`).
    pub es2_call_id: i64,
    /// `wsa:MessageID` of the ES3 request.
    pub es3_message_id: String,
    /// The ES3 function, e.g. `ES3-EnableProfile`.
    pub es3_function: String,
    /// State.
    pub state: RelayState,
    /// Created (unix ms).
    pub created_at: UnixMillis,
    /// Completed (unix ms).
    pub completed_at: Option<UnixMillis>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = smdp_relays)]
struct Row {
    id: i64,
    es2_call_id: i64,
    es3_message_id: String,
    es3_function: String,
    state: String,
    created_at: i64,
    completed_at: Option<i64>,
}

impl TryFrom<Row> for Relay {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Relay {
            state: RelayState::parse(&r.state)?,
            id: r.id,
            es2_call_id: r.es2_call_id,
            es3_message_id: r.es3_message_id,
            es3_function: r.es3_function,
            created_at: r.created_at,
            completed_at: r.completed_at,
        })
    }
}

/// Records a relay in state `Sent`; `AlreadyExists` if the message id is taken.
pub fn create(
    conn: &mut AnyConnection,
    es2_call_id: i64,
    es3_message_id: &str,
    es3_function: &str,
    now: UnixMillis,
) -> Result<Relay, StoreError> {
    let row: Row = on_backend!(conn, c => diesel::insert_into(smdp_relays::table)
        .values((
            smdp_relays::es2_call_id.eq(es2_call_id),
            smdp_relays::es3_message_id.eq(es3_message_id),
            smdp_relays::es3_function.eq(es3_function),
            smdp_relays::state.eq(RelayState::Sent.as_str()),
            smdp_relays::created_at.eq(now),
            smdp_relays::completed_at.eq(None::<i64>),
        ))
        .returning(Row::as_returning())
        .get_result(c))
    .map_err(|e| {
        if crate::error::is_unique_violation(&e) {
            StoreError::exists(RecordKind::Relay, es3_message_id)
        } else {
            e.into()
        }
    })?;
    Relay::try_from(row)
}

/// The relay whose ES3 request carried `es3_message_id`.
pub fn by_message_id(
    conn: &mut AnyConnection,
    es3_message_id: &str,
) -> Result<Option<Relay>, StoreError> {
    smdp_relays::table
        .filter(smdp_relays::es3_message_id.eq(es3_message_id))
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Relay::try_from)
        .transpose()
}

/// Marks a relay completed; returns `false` if it already was (a repeated callback).
pub fn complete(conn: &mut AnyConnection, id: i64, now: UnixMillis) -> Result<bool, StoreError> {
    let n = diesel::update(
        smdp_relays::table.filter(
            smdp_relays::id
                .eq(id)
                .and(smdp_relays::state.eq(RelayState::Sent.as_str())),
        ),
    )
    .set((
        smdp_relays::state.eq(RelayState::Completed.as_str()),
        smdp_relays::completed_at.eq(now),
    ))
    .execute(conn)?;
    Ok(n == 1)
}
