//! The eUICC owners' operations on the SM-SR (ESM2M, design §1): the results of owners' platform operations,
//! fleet operations with one row per target and their counts by state, and the first answers of POSTs made
//! with an `Idempotency-Key`. Every change of a target changes the counts of its fleet operation in the same
//! transaction — directly in the fleet row when the fleet worker (which holds that row) starts, cancels or
//! expires targets; as a row of `esm2m_fleet_target_ends` when a target's platform operation ends, which the
//! worker later applies to the fleet row ([`fold_ends`]) — so that progress is one row read, a restart
//! continues from what was committed, and an ending target never waits for the fleet row.

use diesel::prelude::*;

use crate::UnixMillis;
use crate::connection::{AnyConnection, on_backend};
use crate::error::{RecordKind, StoreError};

mod schema {
    diesel::table! {
        esm2m_operation_results (operation_id) {
            operation_id -> BigInt,
            status -> Text,
            subject_code -> Nullable<Text>,
            reason_code -> Nullable<Text>,
            message -> Nullable<Text>,
            finished_at -> BigInt,
        }
    }

    diesel::table! {
        esm2m_fleet_operations (id) {
            id -> BigInt,
            owner_oid -> Text,
            action -> Text,
            profile_mno -> Nullable<Text>,
            selector -> Text,
            rate_per_second -> BigInt,
            max_in_flight -> BigInt,
            valid_until -> BigInt,
            state -> Text,
            total -> BigInt,
            pending -> BigInt,
            running -> BigInt,
            succeeded -> BigInt,
            failed -> BigInt,
            cancelled -> BigInt,
            expired -> BigInt,
            next_start_us -> BigInt,
            created_at -> BigInt,
            updated_at -> BigInt,
        }
    }

    diesel::table! {
        esm2m_fleet_targets (fleet_id, seq) {
            fleet_id -> BigInt,
            seq -> BigInt,
            eid -> Text,
            state -> Text,
            operation_id -> Nullable<BigInt>,
            iccid -> Nullable<Text>,
            status -> Nullable<Text>,
            subject_code -> Nullable<Text>,
            reason_code -> Nullable<Text>,
            message -> Nullable<Text>,
            started_at -> Nullable<BigInt>,
            finished_at -> Nullable<BigInt>,
        }
    }

    diesel::table! {
        esm2m_fleet_target_ends (id) {
            id -> BigInt,
            fleet_id -> BigInt,
            state -> Text,
        }
    }

    diesel::table! {
        esm2m_idempotency (owner_oid, idempotency_key) {
            owner_oid -> Text,
            idempotency_key -> Text,
            request_hash -> Binary,
            status -> Integer,
            body -> Text,
            created_at -> BigInt,
        }
    }
}

use schema::{
    esm2m_fleet_operations as fleets, esm2m_fleet_target_ends as ends,
    esm2m_fleet_targets as targets,
};
use schema::{esm2m_idempotency as idem, esm2m_operation_results as results};

/// Target rows inserted per statement (4 bound values each: well under both backends' limits).
const INSERT_CHUNK: usize = 500;

/// How a platform operation ended, as the owner reads it (SGP.02 §5.1.6.4 FunctionExecutionStatus).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpResult {
    /// `EXECUTED_SUCCESS`, `EXECUTED_WITHWARNING`, `FAILED` or `EXPIRED`.
    pub status: String,
    /// Subject code of the status code data, e.g. `8.2.1`.
    pub subject_code: Option<String>,
    /// Reason code, e.g. `3.8`.
    pub reason_code: Option<String>,
    /// Message of the status code data.
    pub message: Option<String>,
}

/// Records the result of operation `operation_id` (once; a second record is ignored).
pub fn record_result(
    conn: &mut AnyConnection,
    operation_id: i64,
    result: &OpResult,
    now: UnixMillis,
) -> Result<(), StoreError> {
    let row = (
        results::operation_id.eq(operation_id),
        results::status.eq(&result.status),
        results::subject_code.eq(result.subject_code.as_deref()),
        results::reason_code.eq(result.reason_code.as_deref()),
        results::message.eq(result.message.as_deref()),
        results::finished_at.eq(now),
    );
    on_backend!(conn, c => diesel::insert_into(results::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(())
}

/// The recorded result of operation `operation_id` and when it finished.
pub fn result_of(
    conn: &mut AnyConnection,
    operation_id: i64,
) -> Result<Option<(OpResult, UnixMillis)>, StoreError> {
    type Row = (String, Option<String>, Option<String>, Option<String>, i64);
    let row: Option<Row> = results::table
        .find(operation_id)
        .select((
            results::status,
            results::subject_code,
            results::reason_code,
            results::message,
            results::finished_at,
        ))
        .first(conn)
        .optional()?;
    Ok(row.map(|(status, subject_code, reason_code, message, at)| {
        (
            OpResult {
                status,
                subject_code,
                reason_code,
                message,
            },
            at,
        )
    }))
}

/// State of a fleet operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FleetState {
    /// Targets are being started.
    Running,
    /// No target is started until it is resumed; started ones finish.
    Paused,
    /// Cancelled: targets not yet started never are; started ones finish.
    Cancelled,
    /// Every target has finished.
    Completed,
    /// The validity ended: targets not started by then never are.
    Expired,
}

impl FleetState {
    /// The stored (and shown) name.
    pub fn as_str(self) -> &'static str {
        match self {
            FleetState::Running => "running",
            FleetState::Paused => "paused",
            FleetState::Cancelled => "cancelled",
            FleetState::Completed => "completed",
            FleetState::Expired => "expired",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<FleetState, StoreError> {
        Ok(match s {
            "running" => FleetState::Running,
            "paused" => FleetState::Paused,
            "cancelled" => FleetState::Cancelled,
            "completed" => FleetState::Completed,
            "expired" => FleetState::Expired,
            _ => {
                return Err(StoreError::invalid_data(
                    "esm2m_fleet_operations.state",
                    format!("unknown state {s:?}"),
                ));
            }
        })
    }
}

/// State of one target of a fleet operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetState {
    /// Not started yet.
    Pending,
    /// Its platform operation is under way.
    Running,
    /// Its platform operation succeeded.
    Succeeded,
    /// Refused at its start, or its platform operation failed or expired.
    Failed,
    /// Not started: the fleet operation was cancelled.
    Cancelled,
    /// Not started: the fleet operation's validity ended.
    Expired,
}

impl TargetState {
    /// Every state, in the order of [`Counts`].
    pub const ALL: [TargetState; 6] = [
        TargetState::Pending,
        TargetState::Running,
        TargetState::Succeeded,
        TargetState::Failed,
        TargetState::Cancelled,
        TargetState::Expired,
    ];

    /// The stored (and shown) name.
    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Pending => "pending",
            TargetState::Running => "running",
            TargetState::Succeeded => "succeeded",
            TargetState::Failed => "failed",
            TargetState::Cancelled => "cancelled",
            TargetState::Expired => "expired",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<TargetState> {
        TargetState::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

/// Number of targets in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Not started.
    pub pending: i64,
    /// Under way.
    pub running: i64,
    /// Succeeded.
    pub succeeded: i64,
    /// Failed.
    pub failed: i64,
    /// Cancelled before their start.
    pub cancelled: i64,
    /// Expired before their start.
    pub expired: i64,
}

impl Counts {
    /// The count of `state`.
    pub fn get(&self, state: TargetState) -> i64 {
        match state {
            TargetState::Pending => self.pending,
            TargetState::Running => self.running,
            TargetState::Succeeded => self.succeeded,
            TargetState::Failed => self.failed,
            TargetState::Cancelled => self.cancelled,
            TargetState::Expired => self.expired,
        }
    }

    /// Adds `n` to the count of `state`.
    pub fn add(&mut self, state: TargetState, n: i64) {
        let slot = match state {
            TargetState::Pending => &mut self.pending,
            TargetState::Running => &mut self.running,
            TargetState::Succeeded => &mut self.succeeded,
            TargetState::Failed => &mut self.failed,
            TargetState::Cancelled => &mut self.cancelled,
            TargetState::Expired => &mut self.expired,
        };
        *slot += n;
    }
}

/// A fleet operation to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFleet {
    /// The owner.
    pub owner_oid: String,
    /// The action on each target (`enable`, `disable`, `delete`, `setFallback`, `audit`).
    pub action: String,
    /// The MNO whose profile the action is on, if any.
    pub profile_mno: Option<String>,
    /// What named the targets (JSON, kept for the record).
    pub selector: String,
    /// Most targets started per second.
    pub rate_per_second: i64,
    /// Most targets under way at once.
    pub max_in_flight: i64,
    /// No target is started from this time on (unix ms).
    pub valid_until: UnixMillis,
}

/// A stored fleet operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fleet {
    /// Id.
    pub id: i64,
    /// The owner.
    pub owner_oid: String,
    /// The action.
    pub action: String,
    /// The MNO whose profile the action is on.
    pub profile_mno: Option<String>,
    /// What named the targets (JSON).
    pub selector: String,
    /// Most targets started per second.
    pub rate_per_second: i64,
    /// Most targets under way at once.
    pub max_in_flight: i64,
    /// No target is started from this time on (unix ms).
    pub valid_until: UnixMillis,
    /// State.
    pub state: FleetState,
    /// Number of targets.
    pub total: i64,
    /// Targets by state.
    pub counts: Counts,
    /// The rate limiter's next start (unix µs).
    pub next_start_us: i64,
    /// Created (unix ms).
    pub created_at: UnixMillis,
    /// Last change (unix ms).
    pub updated_at: UnixMillis,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = fleets)]
struct FleetRow {
    id: i64,
    owner_oid: String,
    action: String,
    profile_mno: Option<String>,
    selector: String,
    rate_per_second: i64,
    max_in_flight: i64,
    valid_until: i64,
    state: String,
    total: i64,
    pending: i64,
    running: i64,
    succeeded: i64,
    failed: i64,
    cancelled: i64,
    expired: i64,
    next_start_us: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<FleetRow> for Fleet {
    type Error = StoreError;

    fn try_from(r: FleetRow) -> Result<Fleet, StoreError> {
        Ok(Fleet {
            state: FleetState::parse(&r.state)?,
            id: r.id,
            owner_oid: r.owner_oid,
            action: r.action,
            profile_mno: r.profile_mno,
            selector: r.selector,
            rate_per_second: r.rate_per_second,
            max_in_flight: r.max_in_flight,
            valid_until: r.valid_until,
            total: r.total,
            counts: Counts {
                pending: r.pending,
                running: r.running,
                succeeded: r.succeeded,
                failed: r.failed,
                cancelled: r.cancelled,
                expired: r.expired,
            },
            next_start_us: r.next_start_us,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// Creates a fleet operation of `new.owner_oid` (a registered eUICC owner) with the targets `eids` in this
/// order, all pending, state running. Run it in a transaction ([`crate::Store::tx`]).
pub fn create_fleet(
    conn: &mut AnyConnection,
    new: &NewFleet,
    eids: &[String],
    now: UnixMillis,
) -> Result<Fleet, StoreError> {
    crate::owners::require_owner(conn, &new.owner_oid)?;
    let total = i64::try_from(eids.len())
        .map_err(|_| StoreError::invalid_argument("targets", "too many"))?;
    let row = (
        fleets::owner_oid.eq(&new.owner_oid),
        fleets::action.eq(&new.action),
        fleets::profile_mno.eq(new.profile_mno.as_deref()),
        fleets::selector.eq(&new.selector),
        fleets::rate_per_second.eq(new.rate_per_second),
        fleets::max_in_flight.eq(new.max_in_flight),
        fleets::valid_until.eq(new.valid_until),
        fleets::state.eq(FleetState::Running.as_str()),
        fleets::total.eq(total),
        fleets::pending.eq(total),
        fleets::running.eq(0i64),
        fleets::succeeded.eq(0i64),
        fleets::failed.eq(0i64),
        fleets::cancelled.eq(0i64),
        fleets::expired.eq(0i64),
        fleets::next_start_us.eq(now.saturating_mul(1000)),
        fleets::created_at.eq(now),
        fleets::updated_at.eq(now),
    );
    let id: i64 = on_backend!(conn, c => diesel::insert_into(fleets::table)
        .values(row)
        .returning(fleets::id)
        .get_result(c))?;
    for (n, chunk) in eids.chunks(INSERT_CHUNK).enumerate() {
        let first = (n * INSERT_CHUNK) as i64 + 1;
        let rows: Vec<_> = chunk
            .iter()
            .enumerate()
            .map(|(i, eid)| {
                (
                    targets::fleet_id.eq(id),
                    targets::seq.eq(first + i as i64),
                    targets::eid.eq(eid.as_str()),
                    targets::state.eq(TargetState::Pending.as_str()),
                )
            })
            .collect();
        on_backend!(conn, c => diesel::insert_into(targets::table).values(&rows).execute(c))?;
    }
    get_fleet(conn, id)?.ok_or_else(|| StoreError::not_found(RecordKind::Operation, id.to_string()))
}

/// The fleet operation `id`.
pub fn get_fleet(conn: &mut AnyConnection, id: i64) -> Result<Option<Fleet>, StoreError> {
    fleets::table
        .find(id)
        .select(FleetRow::as_select())
        .first(conn)
        .optional()?
        .map(Fleet::try_from)
        .transpose()
}

/// The fleet operation `id`, locked until the end of the transaction on PostgreSQL (`FOR NO KEY UPDATE`;
/// SQLite's transactions already exclude other writers), so that one process at a time starts its targets.
/// Not `FOR UPDATE`: that would also wait for (and block) the `FOR KEY SHARE` lock the foreign key check of
/// every [`target_finished`] insert takes on the row, until that transaction commits.
pub fn lock_fleet(conn: &mut AnyConnection, id: i64) -> Result<Option<Fleet>, StoreError> {
    let row: Option<FleetRow> = match conn {
        AnyConnection::Pg(c) => fleets::table
            .find(id)
            .select(FleetRow::as_select())
            .for_no_key_update()
            .first(c)
            .optional()?,
        AnyConnection::Sqlite(c) => fleets::table
            .find(id)
            .select(FleetRow::as_select())
            .first(c)
            .optional()?,
    };
    row.map(Fleet::try_from).transpose()
}

/// The fleet operations of `owner_oid`, newest first, with an id below `before`, at most `limit`.
pub fn fleets_of(
    conn: &mut AnyConnection,
    owner_oid: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Fleet>, StoreError> {
    let mut q = fleets::table
        .filter(fleets::owner_oid.eq(owner_oid))
        .order(fleets::id.desc())
        .limit(limit)
        .select(FleetRow::as_select())
        .into_boxed();
    if let Some(b) = before {
        q = q.filter(fleets::id.lt(b));
    }
    q.load(conn)?.into_iter().map(Fleet::try_from).collect()
}

/// Ids of the fleet operations in state running, oldest first.
pub fn running_fleets(conn: &mut AnyConnection) -> Result<Vec<i64>, StoreError> {
    Ok(fleets::table
        .filter(fleets::state.eq(FleetState::Running.as_str()))
        .order(fleets::id)
        .select(fleets::id)
        .load(conn)?)
}

/// Ids of the fleet operations in state paused, oldest first (the worker expires them at the end of their
/// validity).
pub fn paused_fleets(conn: &mut AnyConnection) -> Result<Vec<i64>, StoreError> {
    Ok(fleets::table
        .filter(fleets::state.eq(FleetState::Paused.as_str()))
        .order(fleets::id)
        .select(fleets::id)
        .load(conn)?)
}

/// Writes the counts, state and rate-limiter time of `fleet` (read in this transaction, changed by the caller).
pub fn save_fleet(
    conn: &mut AnyConnection,
    fleet: &Fleet,
    now: UnixMillis,
) -> Result<(), StoreError> {
    diesel::update(fleets::table.find(fleet.id))
        .set((
            fleets::state.eq(fleet.state.as_str()),
            fleets::pending.eq(fleet.counts.pending),
            fleets::running.eq(fleet.counts.running),
            fleets::succeeded.eq(fleet.counts.succeeded),
            fleets::failed.eq(fleet.counts.failed),
            fleets::cancelled.eq(fleet.counts.cancelled),
            fleets::expired.eq(fleet.counts.expired),
            fleets::next_start_us.eq(fleet.next_start_us),
            fleets::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Changes the state of fleet `id` from one of `from` to `to`; moves its pending targets to `pending_to` if
/// given (cancel, expiry) and adjusts the counts. Returns the fleet as changed, or `None` if it was not in
/// one of `from` (then nothing changed).
pub fn change_state(
    conn: &mut AnyConnection,
    id: i64,
    from: &[FleetState],
    to: FleetState,
    pending_to: Option<TargetState>,
    now: UnixMillis,
) -> Result<Option<Fleet>, StoreError> {
    let Some(mut fleet) = lock_fleet(conn, id)? else {
        return Ok(None);
    };
    if !from.contains(&fleet.state) {
        return Ok(None);
    }
    fleet.state = to;
    if let Some(target_state) = pending_to {
        let n = diesel::update(
            targets::table.filter(
                targets::fleet_id
                    .eq(id)
                    .and(targets::state.eq(TargetState::Pending.as_str())),
            ),
        )
        .set((
            targets::state.eq(target_state.as_str()),
            targets::finished_at.eq(Some(now)),
        ))
        .execute(conn)? as i64;
        fleet.counts.add(TargetState::Pending, -n);
        fleet.counts.add(target_state, n);
    }
    save_fleet(conn, &fleet, now)?;
    Ok(Some(fleet))
}

/// The first `limit` pending targets of fleet `id` in order: `(seq, eid)`.
pub fn pending_targets(
    conn: &mut AnyConnection,
    id: i64,
    limit: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    Ok(targets::table
        .filter(
            targets::fleet_id
                .eq(id)
                .and(targets::state.eq(TargetState::Pending.as_str())),
        )
        .order(targets::seq)
        .limit(limit)
        .select((targets::seq, targets::eid))
        .load(conn)?)
}

/// Records that target `seq` of fleet `id` started as platform operation `operation_id` on profile `iccid`
/// (the caller adjusts the counts of the fleet it holds).
pub fn mark_started(
    conn: &mut AnyConnection,
    id: i64,
    seq: i64,
    operation_id: i64,
    iccid: Option<&str>,
    now: UnixMillis,
) -> Result<(), StoreError> {
    diesel::update(targets::table.find((id, seq)))
        .set((
            targets::state.eq(TargetState::Running.as_str()),
            targets::operation_id.eq(Some(operation_id)),
            targets::iccid.eq(iccid),
            targets::started_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records that target `seq` of fleet `id` was refused at its start with `result` (state failed; the caller
/// adjusts the counts).
pub fn mark_refused(
    conn: &mut AnyConnection,
    id: i64,
    seq: i64,
    iccid: Option<&str>,
    result: &OpResult,
    now: UnixMillis,
) -> Result<(), StoreError> {
    diesel::update(targets::table.find((id, seq)))
        .set((
            targets::state.eq(TargetState::Failed.as_str()),
            targets::iccid.eq(iccid),
            targets::status.eq(Some(&result.status)),
            targets::subject_code.eq(result.subject_code.as_deref()),
            targets::reason_code.eq(result.reason_code.as_deref()),
            targets::message.eq(result.message.as_deref()),
            targets::started_at.eq(Some(now)),
            targets::finished_at.eq(Some(now)),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records the end of platform operation `operation_id` on the fleet target it carries out, if any and if it
/// is still running: the target takes `state` and `result`, and one row of `esm2m_fleet_target_ends` says so
/// to its fleet's counts, applied by [`fold_ends`] (the fleet row is not touched: it stays free for the fleet
/// worker). Returns the fleet's id when a target changed.
pub fn target_finished(
    conn: &mut AnyConnection,
    operation_id: i64,
    state: TargetState,
    result: &OpResult,
    now: UnixMillis,
) -> Result<Option<i64>, StoreError> {
    let Some((fleet_id, seq)): Option<(i64, i64)> = targets::table
        .filter(targets::operation_id.eq(operation_id))
        .select((targets::fleet_id, targets::seq))
        .first(conn)
        .optional()?
    else {
        return Ok(None);
    };
    let n = diesel::update(
        targets::table
            .find((fleet_id, seq))
            .filter(targets::state.eq(TargetState::Running.as_str())),
    )
    .set((
        targets::state.eq(state.as_str()),
        targets::status.eq(Some(&result.status)),
        targets::subject_code.eq(result.subject_code.as_deref()),
        targets::reason_code.eq(result.reason_code.as_deref()),
        targets::message.eq(result.message.as_deref()),
        targets::finished_at.eq(Some(now)),
    ))
    .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    diesel::insert_into(ends::table)
        .values((ends::fleet_id.eq(fleet_id), ends::state.eq(state.as_str())))
        .execute(conn)?;
    Ok(Some(fleet_id))
}

/// Applies the target ends recorded by [`target_finished`] for `fleet` (locked by [`lock_fleet`] in this
/// transaction) to its counts and deletes them, in one statement on PostgreSQL (`DELETE … RETURNING`: an end
/// committed meanwhile is left for the next fold, an uncommitted one is not seen), so each end counts once;
/// a running fleet with no target left pending or running completes. Saves the fleet when anything changed.
/// Returns the number of ends applied.
pub fn fold_ends(
    conn: &mut AnyConnection,
    fleet: &mut Fleet,
    now: UnixMillis,
) -> Result<i64, StoreError> {
    let states: Vec<String> = on_backend!(conn, c => diesel::delete(
        ends::table.filter(ends::fleet_id.eq(fleet.id)),
    )
    .returning(ends::state)
    .get_results(c))?;
    if states.is_empty() {
        return Ok(0);
    }
    for s in &states {
        let state = TargetState::parse(s).ok_or_else(|| {
            StoreError::invalid_data(
                "esm2m_fleet_target_ends.state",
                format!("unknown state {s:?}"),
            )
        })?;
        fleet.counts.add(TargetState::Running, -1);
        fleet.counts.add(state, 1);
    }
    if fleet.state == FleetState::Running && fleet.counts.pending == 0 && fleet.counts.running == 0
    {
        fleet.state = FleetState::Completed;
    }
    save_fleet(conn, fleet, now)?;
    Ok(states.len() as i64)
}

/// Ids of the fleet operations with target ends not yet applied to their counts ([`fold_ends`]), whatever their
/// state (a cancelled or expired fleet operation's started targets still end).
pub fn fleets_with_ends(conn: &mut AnyConnection) -> Result<Vec<i64>, StoreError> {
    Ok(ends::table
        .select(ends::fleet_id)
        .distinct()
        .order(ends::fleet_id)
        .load(conn)?)
}

/// One target of a fleet operation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Position in the fleet operation (from 1).
    pub seq: i64,
    /// EID.
    pub eid: String,
    /// State.
    pub state: TargetState,
    /// The platform operation that carries it out.
    pub operation_id: Option<i64>,
    /// The profile acted on.
    pub iccid: Option<String>,
    /// How it ended (failed at its start, or its operation's result).
    pub result: Option<OpResult>,
    /// Started (unix ms).
    pub started_at: Option<UnixMillis>,
    /// Finished (unix ms).
    pub finished_at: Option<UnixMillis>,
}

type TargetTuple = (
    i64,
    String,
    String,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// Targets of fleet `id` after position `after`, in order, at most `limit`; only those in `state` if given.
pub fn targets_page(
    conn: &mut AnyConnection,
    id: i64,
    state: Option<TargetState>,
    after: i64,
    limit: i64,
) -> Result<Vec<Target>, StoreError> {
    let mut q = targets::table
        .filter(targets::fleet_id.eq(id).and(targets::seq.gt(after)))
        .order(targets::seq)
        .limit(limit)
        .select((
            targets::seq,
            targets::eid,
            targets::state,
            targets::operation_id,
            targets::iccid,
            targets::status,
            targets::subject_code,
            targets::reason_code,
            targets::message,
            targets::started_at,
            targets::finished_at,
        ))
        .into_boxed();
    if let Some(s) = state {
        q = q.filter(targets::state.eq(s.as_str()));
    }
    let rows: Vec<TargetTuple> = q.load(conn)?;
    rows.into_iter()
        .map(
            |(
                seq,
                eid,
                st,
                operation_id,
                iccid,
                status,
                subject_code,
                reason_code,
                message,
                s,
                f,
            )| {
                Ok(Target {
                    seq,
                    eid,
                    state: TargetState::parse(&st).ok_or_else(|| {
                        StoreError::invalid_data(
                            "esm2m_fleet_targets.state",
                            format!("unknown state {st:?}"),
                        )
                    })?,
                    operation_id,
                    iccid,
                    result: status.map(|status| OpResult {
                        status,
                        subject_code,
                        reason_code,
                        message,
                    }),
                    started_at: s,
                    finished_at: f,
                })
            },
        )
        .collect()
}

/// The counts of fleet `id` recomputed from its targets (for checks: [`Fleet::counts`] is what is read; equal
/// once [`fold_ends`] has applied every end).
pub fn recount(conn: &mut AnyConnection, id: i64) -> Result<Counts, StoreError> {
    let rows: Vec<(String, i64)> = targets::table
        .filter(targets::fleet_id.eq(id))
        .group_by(targets::state)
        .select((targets::state, diesel::dsl::count_star()))
        .load(conn)?;
    let mut c = Counts::default();
    for (s, n) in rows {
        if let Some(state) = TargetState::parse(&s) {
            c.add(state, n);
        }
    }
    Ok(c)
}

/// The first answer to a POST with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentAnswer {
    /// SHA-256 of the request it answered (method, path, body).
    pub request_hash: Vec<u8>,
    /// HTTP status.
    pub status: u16,
    /// Body (JSON).
    pub body: String,
}

/// The recorded answer of `owner_oid`'s key `key`.
pub fn idempotent_answer(
    conn: &mut AnyConnection,
    owner_oid: &str,
    key: &str,
) -> Result<Option<IdempotentAnswer>, StoreError> {
    let row: Option<(Vec<u8>, i32, String)> = idem::table
        .find((owner_oid, key))
        .select((idem::request_hash, idem::status, idem::body))
        .first(conn)
        .optional()?;
    Ok(row.map(|(request_hash, status, body)| IdempotentAnswer {
        request_hash,
        status: u16::try_from(status).unwrap_or(500),
        body,
    }))
}

/// Claims `owner_oid`'s key `key` for the request (hash `request_hash`) about to be answered: a row with status 0
/// and no body, written first in the request's transaction. A concurrent claim of the same key waits on
/// PostgreSQL until that transaction ends, then finds the key taken (and reads the answer) or free again (rolled
/// back); SQLite runs one writer at a time. Returns whether this call took the key.
pub fn claim_idempotency_key(
    conn: &mut AnyConnection,
    owner_oid: &str,
    key: &str,
    request_hash: &[u8],
    now: UnixMillis,
) -> Result<bool, StoreError> {
    let row = (
        idem::owner_oid.eq(owner_oid),
        idem::idempotency_key.eq(key),
        idem::request_hash.eq(request_hash),
        idem::status.eq(0),
        idem::body.eq(""),
        idem::created_at.eq(now),
    );
    let n = on_backend!(conn, c => diesel::insert_into(idem::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(n == 1)
}

/// Records the answer of `owner_oid`'s key `key`, claimed by [`claim_idempotency_key`] in this transaction.
pub fn record_idempotent_answer(
    conn: &mut AnyConnection,
    owner_oid: &str,
    key: &str,
    answer: &IdempotentAnswer,
) -> Result<(), StoreError> {
    let n = diesel::update(idem::table.find((owner_oid, key)))
        .set((
            idem::request_hash.eq(&answer.request_hash),
            idem::status.eq(i32::from(answer.status)),
            idem::body.eq(&answer.body),
        ))
        .execute(conn)?;
    if n == 0 {
        return Err(StoreError::not_found(
            RecordKind::IdempotencyKey,
            format!("{owner_oid} {key}"),
        ));
    }
    Ok(())
}

/// Frees `owner_oid`'s key `key` claimed in this transaction (the request was not answered with success).
pub fn release_idempotency_key(
    conn: &mut AnyConnection,
    owner_oid: &str,
    key: &str,
) -> Result<(), StoreError> {
    diesel::delete(idem::table.find((owner_oid, key))).execute(conn)?;
    Ok(())
}
