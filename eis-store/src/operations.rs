//! The SM-SR's operations (design §3 step 2): one persisted state machine per asynchronous ES3/ES4 function call
//! (EnableProfile, DisableProfile, DeleteProfile/DeleteISDP, AuditEIS, …) and per eUICC notification being
//! confirmed (SGP.02 §3.2–§3.5, §5.4, §5.5). Its ES5 commands live in [`crate::es5_queue`] under
//! `operation_ref` = the operation id; the operation's kind-specific state is an opaque text (JSON) owned by the
//! SM-SR. `retry_at` says when the delivery worker must look at the operation again (retransmission), `deadline`
//! when it expires (the function call's validity period).

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, atomic_in_pg_tx, on_backend};
use crate::error::{RecordKind, StoreError};
use crate::schema::smsr_operations;

/// State of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationState {
    /// ES5 commands are queued or in flight.
    Active,
    /// The eUICC accepted the command; the outcome arrives as an eUICC notification (SGP.02 §3.2, §4.1.1.11).
    AwaitingNotification,
    /// Completed successfully.
    Done,
    /// Completed with a failure.
    Failed,
    /// The validity period ended before completion (SGP.02 §5.1.6.4, 1.6/5.3).
    Expired,
}

impl OperationState {
    /// Text stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationState::Active => "Active",
            OperationState::AwaitingNotification => "AwaitingNotification",
            OperationState::Done => "Done",
            OperationState::Failed => "Failed",
            OperationState::Expired => "Expired",
        }
    }

    /// Whether the operation is finished.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            OperationState::Done | OperationState::Failed | OperationState::Expired
        )
    }

    fn parse(s: &str) -> Result<OperationState, StoreError> {
        Ok(match s {
            "Active" => OperationState::Active,
            "AwaitingNotification" => OperationState::AwaitingNotification,
            "Done" => OperationState::Done,
            "Failed" => OperationState::Failed,
            "Expired" => OperationState::Expired,
            _ => {
                return Err(StoreError::invalid_data(
                    "smsr_operations.state",
                    format!("unknown state {s:?}"),
                ));
            }
        })
    }
}

/// The open (not final) states: `state IN (Active, AwaitingNotification)`, written as two comparisons so that
/// diesel caches the prepared statement (an `IN` list is prepared anew on every call).
macro_rules! open {
    () => {
        smsr_operations::state
            .eq(OperationState::Active.as_str())
            .or(smsr_operations::state.eq(OperationState::AwaitingNotification.as_str()))
    };
}

/// An operation to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOperation {
    /// The eUICC.
    pub eid: String,
    /// What it does (e.g. `EnableProfile`), owned by the SM-SR.
    pub kind: String,
    /// The function call it answers (`function_calls.id`), `None` for an operation of the SM-SR itself.
    pub function_call_id: Option<i64>,
    /// The requester's OID (the SM-SR's own for internal operations).
    pub requester_oid: String,
    /// The interface of the call ("ES3", "ES4", or "ES5" for an eUICC notification).
    pub interface: String,
    /// The profile concerned, if any.
    pub iccid: Option<String>,
    /// The ISD-P concerned, if any.
    pub isd_p_aid: Option<Vec<u8>>,
    /// When it expires (unix ms).
    pub deadline: UnixMillis,
    /// Kind-specific state (opaque text).
    pub data: String,
}

/// A stored operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Id (the `operation_ref` of its ES5 commands, as decimal text).
    pub id: i64,
    /// The eUICC.
    pub eid: String,
    /// What it does.
    pub kind: String,
    /// State.
    pub state: OperationState,
    /// The function call it answers.
    pub function_call_id: Option<i64>,
    /// The requester's OID.
    pub requester_oid: String,
    /// The interface of the call.
    pub interface: String,
    /// The profile concerned.
    pub iccid: Option<String>,
    /// The ISD-P concerned.
    pub isd_p_aid: Option<Vec<u8>>,
    /// When it expires (unix ms).
    pub deadline: UnixMillis,
    /// When the delivery worker must look at it again (unix ms).
    pub retry_at: Option<UnixMillis>,
    /// Kind-specific state.
    pub data: String,
    /// Created (unix ms).
    pub created_at: UnixMillis,
    /// Last change (unix ms).
    pub updated_at: UnixMillis,
}

#[derive(Insertable)]
#[diesel(table_name = smsr_operations)]
#[diesel(treat_none_as_default_value = false)]
struct NewRow<'a> {
    eid: &'a str,
    kind: &'a str,
    state: &'a str,
    function_call_id: Option<i64>,
    requester_oid: &'a str,
    interface: &'a str,
    iccid: Option<&'a str>,
    isd_p_aid: Option<&'a [u8]>,
    deadline: i64,
    retry_at: Option<i64>,
    data: &'a str,
    created_at: i64,
    updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = smsr_operations)]
struct Row {
    id: i64,
    eid: String,
    kind: String,
    state: String,
    function_call_id: Option<i64>,
    requester_oid: String,
    interface: String,
    iccid: Option<String>,
    isd_p_aid: Option<Vec<u8>>,
    deadline: i64,
    retry_at: Option<i64>,
    data: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Operation {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        Ok(Operation {
            state: OperationState::parse(&r.state)?,
            id: r.id,
            eid: r.eid,
            kind: r.kind,
            function_call_id: r.function_call_id,
            requester_oid: r.requester_oid,
            interface: r.interface,
            iccid: r.iccid,
            isd_p_aid: r.isd_p_aid,
            deadline: r.deadline,
            retry_at: r.retry_at,
            data: r.data,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn load(rows: Vec<Row>) -> Result<Vec<Operation>, StoreError> {
    rows.into_iter().map(Operation::try_from).collect()
}

/// Creates an operation in state `Active`.
pub fn create(
    conn: &mut AnyConnection,
    op: &NewOperation,
    now: UnixMillis,
) -> Result<Operation, StoreError> {
    let row = NewRow {
        eid: &op.eid,
        kind: &op.kind,
        state: OperationState::Active.as_str(),
        function_call_id: op.function_call_id,
        requester_oid: &op.requester_oid,
        interface: &op.interface,
        iccid: op.iccid.as_deref(),
        isd_p_aid: op.isd_p_aid.as_deref(),
        deadline: op.deadline,
        retry_at: None,
        data: &op.data,
        created_at: now,
        updated_at: now,
    };
    let stored: Row = on_backend!(conn, c => diesel::insert_into(smsr_operations::table)
        .values(&row)
        .returning(Row::as_returning())
        .get_result(c))?;
    Operation::try_from(stored)
}

/// The operation with this id.
pub fn get(conn: &mut AnyConnection, id: i64) -> Result<Option<Operation>, StoreError> {
    smsr_operations::table
        .find(id)
        .select(Row::as_select())
        .first(conn)
        .optional()?
        .map(Operation::try_from)
        .transpose()
}

/// The open operations of an eUICC, oldest first.
pub fn open_of(conn: &mut AnyConnection, eid: &str) -> Result<Vec<Operation>, StoreError> {
    load(
        smsr_operations::table
            .filter(smsr_operations::eid.eq(eid).and(open!()))
            .order(smsr_operations::id)
            .select(Row::as_select())
            .load(conn)?,
    )
}

/// The EIDs among `eids` that have an open operation, in ascending order (one query per 500 EIDs).
pub fn with_open_among(
    conn: &mut AnyConnection,
    eids: &[String],
) -> Result<Vec<String>, StoreError> {
    let mut busy = std::collections::BTreeSet::new();
    for chunk in eids.chunks(500) {
        busy.extend(
            smsr_operations::table
                .filter(smsr_operations::eid.eq_any(chunk).and(open!()))
                .select(smsr_operations::eid)
                .distinct()
                .load::<String>(conn)?,
        );
    }
    Ok(busy.into_iter().collect())
}

/// The operations of an eUICC in any state, oldest first (for tests and inspection).
pub fn all_of(conn: &mut AnyConnection, eid: &str) -> Result<Vec<Operation>, StoreError> {
    load(
        smsr_operations::table
            .filter(smsr_operations::eid.eq(eid))
            .order(smsr_operations::id)
            .select(Row::as_select())
            .load(conn)?,
    )
}

/// The change [`update`] applies; `None` leaves a field unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationUpdate {
    /// New state.
    pub state: Option<OperationState>,
    /// New kind-specific state.
    pub data: Option<String>,
    /// New retry time (`Some(None)` clears it).
    pub retry_at: Option<Option<UnixMillis>>,
}

#[derive(AsChangeset)]
#[diesel(table_name = smsr_operations)]
struct Changes {
    state: Option<String>,
    data: Option<String>,
    retry_at: Option<Option<i64>>,
    updated_at: i64,
}

/// Applies `update` to operation `id` if it is still in state `expected`; `Conflict` otherwise (another worker
/// moved it first), `NotFound` if it does not exist.
pub fn update(
    conn: &mut AnyConnection,
    id: i64,
    expected: OperationState,
    update: &OperationUpdate,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let changes = Changes {
        state: update.state.map(|s| s.as_str().to_string()),
        data: update.data.clone(),
        retry_at: update.retry_at,
        updated_at: now,
    };
    atomic_in_pg_tx(conn, |c| {
        let n = diesel::update(
            smsr_operations::table.filter(
                smsr_operations::id
                    .eq(id)
                    .and(smsr_operations::state.eq(expected.as_str())),
            ),
        )
        .set(&changes)
        .execute(c)?;
        if n == 1 {
            return Ok(());
        }
        let state: Option<String> = smsr_operations::table
            .find(id)
            .select(smsr_operations::state)
            .first(c)
            .optional()?;
        match state {
            None => Err(StoreError::not_found(RecordKind::Operation, id.to_string())),
            Some(s) => Err(StoreError::conflict(
                RecordKind::Operation,
                id.to_string(),
                format!("in state {s}, expected {}", expected.as_str()),
            )),
        }
    })
}

/// Moves every retransmission of an open operation scheduled before `until` to `until` (design §3 step 4: an
/// SM-SR that starts again gives the PoRs its SMSC stored meanwhile a PoR timeout to arrive before it sends the
/// commands in flight again). Returns how many were moved.
pub fn defer_retries(
    conn: &mut AnyConnection,
    until: UnixMillis,
    now: UnixMillis,
) -> Result<usize, StoreError> {
    Ok(diesel::update(
        smsr_operations::table.filter(smsr_operations::retry_at.lt(until).and(open!())),
    )
    .set((
        smsr_operations::retry_at.eq(until),
        smsr_operations::updated_at.eq(now),
    ))
    .execute(conn)?)
}

/// Open operations whose `retry_at` is due, earliest first, at most `limit`.
pub fn due_for_retry(
    conn: &mut AnyConnection,
    now: UnixMillis,
    limit: i64,
) -> Result<Vec<Operation>, StoreError> {
    load(
        smsr_operations::table
            .filter(smsr_operations::retry_at.le(now).and(open!()))
            .order(smsr_operations::retry_at)
            .limit(limit)
            .select(Row::as_select())
            .load(conn)?,
    )
}

/// Open operations whose deadline passed before `now`, at most `limit`.
pub fn overdue(
    conn: &mut AnyConnection,
    now: UnixMillis,
    limit: i64,
) -> Result<Vec<Operation>, StoreError> {
    load(
        smsr_operations::table
            .filter(open!().and(smsr_operations::deadline.lt(now)))
            .order(smsr_operations::deadline)
            .limit(limit)
            .select(Row::as_select())
            .load(conn)?,
    )
}

/// Number of operations in each state, in the order Active, AwaitingNotification, Done, Failed, Expired.
pub fn counts(conn: &mut AnyConnection) -> Result<[(OperationState, i64); 5], StoreError> {
    let rows: Vec<(String, i64)> = smsr_operations::table
        .group_by(smsr_operations::state)
        .select((smsr_operations::state, diesel::dsl::count_star()))
        .load(conn)?;
    let mut out = [
        (OperationState::Active, 0),
        (OperationState::AwaitingNotification, 0),
        (OperationState::Done, 0),
        (OperationState::Failed, 0),
        (OperationState::Expired, 0),
    ];
    for (state, n) in rows {
        let s = OperationState::parse(&state)?;
        if let Some(slot) = out.iter_mut().find(|(k, _)| *k == s) {
            slot.1 = n;
        }
    }
    Ok(out)
}

/// Deletes finished operations last changed before `before` (retention); returns how many.
pub fn purge_finished_before(
    conn: &mut AnyConnection,
    before: UnixMillis,
) -> Result<usize, StoreError> {
    Ok(diesel::delete(
        smsr_operations::table.filter(
            smsr_operations::state
                .ne(OperationState::Active.as_str())
                .and(smsr_operations::state.ne(OperationState::AwaitingNotification.as_str()))
                .and(smsr_operations::updated_at.lt(before)),
        ),
    )
    .execute(conn)?)
}

/// Number of open operations (Active, AwaitingNotification) of each kind and state (issue 14 item 4,
/// `/metrics`): one aggregate through the `(state, …)` indexes, bounded by the work under way rather than the
/// finished history.
pub fn open_counts(
    conn: &mut AnyConnection,
) -> Result<Vec<(String, OperationState, i64)>, StoreError> {
    let rows: Vec<(String, String, i64)> = smsr_operations::table
        .filter(open!())
        .group_by((smsr_operations::kind, smsr_operations::state))
        .select((
            smsr_operations::kind,
            smsr_operations::state,
            diesel::dsl::count_star(),
        ))
        .load(conn)?;
    rows.into_iter()
        .map(|(kind, state, n)| Ok((kind, OperationState::parse(&state)?, n)))
        .collect()
}
