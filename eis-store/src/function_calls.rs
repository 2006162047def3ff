//! Function calls (SGP.02 §5.1.6: FunctionCallIdentifier, ValidityPeriod; WS-Addressing MessageID/ReplyTo):
//! one row per (caller, FunctionCallIdentifier), so a repeated call returns the recorded outcome instead of
//! running twice (design §3 step 1) — only if it is the same function with the same request (the digest of its
//! body); anything else under a used identifier is a [`Begin::Conflict`]. Completed calls are kept for a
//! retention period ([`purge_completed_before`]); read-only functions are not recorded at all.

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, atomic_in_pg_tx, on_backend};
use crate::error::{RecordKind, StoreError};
use crate::schema::function_calls;

const RECEIVED: &str = "Received";
const COMPLETED: &str = "Completed";

/// A function call as received (SGP.02 §5.1.6 `FunctionCallIdentifier`, WS-Addressing 2005/08 headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFunctionCall {
    /// OID of the authenticated caller.
    pub caller_oid: String,
    /// Interface ("ES1", "ES2", "ES3", "ES4", "ES7", "ESM2M").
    pub interface: String,
    /// Function name (e.g. "DownloadProfile").
    pub function_name: String,
    /// The caller's FunctionCallIdentifier.
    pub function_call_id: String,
    /// wsa:MessageID of the request.
    pub message_id: Option<String>,
    /// wsa:ReplyTo address for asynchronous responses.
    pub reply_to: Option<String>,
    /// End of the validity period (unix ms): received time + ValidityPeriod.
    pub valid_until: Option<UnixMillis>,
    /// Digest of the request (SHA-256 hex of its body element as received), compared on a repeat.
    pub request_digest: String,
}

/// The recorded response of a completed function call (the HTTP status and body sent back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallResponse {
    /// HTTP status.
    pub http_status: u16,
    /// Response body (SOAP envelope or JSON).
    pub body: String,
}

/// What a repeated FunctionCallIdentifier finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The first call is still being processed.
    InProgress {
        /// Row id of the first call.
        id: i64,
        /// Function name recorded with the first call (a different name means a misused identifier).
        function_name: String,
    },
    /// The first call completed with this response.
    Completed {
        /// Row id of the first call.
        id: i64,
        /// Function name recorded with the first call.
        function_name: String,
        /// Its response.
        response: CallResponse,
    },
}

/// Outcome of [`begin_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time this (caller, FunctionCallIdentifier) is seen: process it; the row id.
    New(i64),
    /// Seen before with the same function and request: return the recorded outcome, do not process again.
    Duplicate(Recorded),
    /// The caller used this identifier before for another function or another request (or before requests
    /// were digested): refuse, do not process, do not replay.
    Conflict {
        /// Row id of the first call.
        id: i64,
        /// Function name recorded with the first call.
        function_name: String,
    },
}

/// A stored function call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionCall {
    /// Row id.
    pub id: i64,
    /// The call as received.
    pub call: NewFunctionCall,
    /// Response, once completed.
    pub response: Option<CallResponse>,
    /// Received (unix ms).
    pub received_at: UnixMillis,
    /// Completed (unix ms).
    pub completed_at: Option<UnixMillis>,
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = function_calls)]
#[diesel(treat_none_as_default_value = false)]
struct NewRow<'a> {
    caller_oid: &'a str,
    interface: &'a str,
    function_name: &'a str,
    function_call_id: &'a str,
    message_id: Option<&'a str>,
    reply_to: Option<&'a str>,
    valid_until: Option<i64>,
    state: &'a str,
    response_status: Option<i32>,
    response_body: Option<&'a str>,
    received_at: i64,
    completed_at: Option<i64>,
    request_digest: Option<&'a str>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = function_calls)]
struct Row {
    id: i64,
    caller_oid: String,
    interface: String,
    function_name: String,
    function_call_id: String,
    message_id: Option<String>,
    reply_to: Option<String>,
    valid_until: Option<i64>,
    state: String,
    response_status: Option<i32>,
    response_body: Option<String>,
    received_at: i64,
    completed_at: Option<i64>,
    request_digest: Option<String>,
}

fn response_of(r: &Row) -> Result<Option<CallResponse>, StoreError> {
    match (r.state.as_str(), r.response_status, &r.response_body) {
        (RECEIVED, _, _) => Ok(None),
        (COMPLETED, Some(s), Some(b)) => Ok(Some(CallResponse {
            http_status: u16::try_from(s).map_err(|_| {
                StoreError::invalid_data("function_calls.response_status", format!("{s}"))
            })?,
            body: b.clone(),
        })),
        (state, _, _) => Err(StoreError::invalid_data(
            "function_calls.state",
            format!(
                "row {} in state {state:?} without a complete response",
                r.id
            ),
        )),
    }
}

impl TryFrom<Row> for FunctionCall {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        let response = response_of(&r)?;
        Ok(FunctionCall {
            id: r.id,
            call: NewFunctionCall {
                caller_oid: r.caller_oid,
                interface: r.interface,
                function_name: r.function_name,
                function_call_id: r.function_call_id,
                message_id: r.message_id,
                reply_to: r.reply_to,
                valid_until: r.valid_until,
                request_digest: r.request_digest.unwrap_or_default(),
            },
            response,
            received_at: r.received_at,
            completed_at: r.completed_at,
        })
    }
}

/// Records a function call, or finds the earlier call with the same (caller, FunctionCallIdentifier).
/// Atomic under concurrency: of several identical calls at once, exactly one gets [`Begin::New`].
pub fn begin_call(
    conn: &mut AnyConnection,
    call: &NewFunctionCall,
    now: UnixMillis,
) -> Result<Begin, StoreError> {
    atomic_in_pg_tx(conn, |c| insert_call(c, call, now))
}

fn insert_call(
    conn: &mut AnyConnection,
    call: &NewFunctionCall,
    now: UnixMillis,
) -> Result<Begin, StoreError> {
    let row = NewRow {
        caller_oid: &call.caller_oid,
        interface: &call.interface,
        function_name: &call.function_name,
        function_call_id: &call.function_call_id,
        message_id: call.message_id.as_deref(),
        reply_to: call.reply_to.as_deref(),
        valid_until: call.valid_until,
        state: RECEIVED,
        response_status: None,
        response_body: None,
        received_at: now,
        completed_at: None,
        request_digest: Some(&call.request_digest),
    };
    // ON CONFLICT DO NOTHING waits for a concurrent insert of the same key to commit, then inserts nothing.
    let id: Option<i64> = on_backend!(conn, c => diesel::insert_into(function_calls::table)
        .values(&row)
        .on_conflict((function_calls::caller_oid, function_calls::function_call_id))
        .do_nothing()
        .returning(function_calls::id)
        .get_result(c)
        .optional())?;
    if let Some(id) = id {
        return Ok(Begin::New(id));
    }
    let existing: Row = function_calls::table
        .filter(
            function_calls::caller_oid
                .eq(&call.caller_oid)
                .and(function_calls::function_call_id.eq(&call.function_call_id)),
        )
        .select(Row::as_select())
        .first(conn)?;
    if existing.function_name != call.function_name
        || existing.request_digest.as_deref() != Some(call.request_digest.as_str())
    {
        return Ok(Begin::Conflict {
            id: existing.id,
            function_name: existing.function_name,
        });
    }
    let recorded = match response_of(&existing)? {
        None => Recorded::InProgress {
            id: existing.id,
            function_name: existing.function_name,
        },
        Some(response) => Recorded::Completed {
            id: existing.id,
            function_name: existing.function_name,
            response,
        },
    };
    Ok(Begin::Duplicate(recorded))
}

/// Records the response of a call begun with [`begin_call`]; `Conflict` if it was already completed.
pub fn complete_call(
    conn: &mut AnyConnection,
    id: i64,
    response: &CallResponse,
    now: UnixMillis,
) -> Result<(), StoreError> {
    atomic_in_pg_tx(conn, |c| {
        let n = diesel::update(
            function_calls::table.filter(
                function_calls::id
                    .eq(id)
                    .and(function_calls::state.eq(RECEIVED)),
            ),
        )
        .set((
            function_calls::state.eq(COMPLETED),
            function_calls::response_status.eq(i32::from(response.http_status)),
            function_calls::response_body.eq(&response.body),
            function_calls::completed_at.eq(now),
        ))
        .execute(c)?;
        if n == 1 {
            return Ok(());
        }
        let exists = function_calls::table
            .find(id)
            .select(function_calls::id)
            .first::<i64>(c)
            .optional()?;
        match exists {
            None => Err(StoreError::not_found(
                RecordKind::FunctionCall,
                id.to_string(),
            )),
            Some(_) => Err(StoreError::conflict(
                RecordKind::FunctionCall,
                id.to_string(),
                "already completed",
            )),
        }
    })
}

/// The function call with this row id.
pub fn get_call(conn: &mut AnyConnection, id: i64) -> Result<Option<FunctionCall>, StoreError> {
    function_calls::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(FunctionCall::try_from)
        .transpose()
}

/// The call `caller_oid` recorded under FunctionCallIdentifier `function_call_id`, if any.
pub fn find_call(
    conn: &mut AnyConnection,
    caller_oid: &str,
    function_call_id: &str,
) -> Result<Option<FunctionCall>, StoreError> {
    function_calls::table
        .filter(
            function_calls::caller_oid
                .eq(caller_oid)
                .and(function_calls::function_call_id.eq(function_call_id)),
        )
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(FunctionCall::try_from)
        .transpose()
}

/// The call of `caller_oid` whose request carried wsa:MessageID `message_id` (to correlate wsa:RelatesTo).
pub fn find_by_message_id(
    conn: &mut AnyConnection,
    caller_oid: &str,
    message_id: &str,
) -> Result<Option<FunctionCall>, StoreError> {
    function_calls::table
        .filter(
            function_calls::caller_oid
                .eq(caller_oid)
                .and(function_calls::message_id.eq(message_id)),
        )
        .order(function_calls::id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(FunctionCall::try_from)
        .transpose()
}

/// Deletes completed calls completed before `before` (the retention of the idempotency record; calls still in
/// progress are kept); returns how many.
pub fn purge_completed_before(
    conn: &mut AnyConnection,
    before: UnixMillis,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        function_calls::table.filter(
            function_calls::state
                .eq(COMPLETED)
                .and(function_calls::completed_at.lt(before)),
        ),
    )
    .execute(conn)?)
}
