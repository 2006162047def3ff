//! Fleet operations (ESM2M, design §1): one request names up to 1,000,000 of the owner's eUICCs (a list of
//! EIDs, or a selector: "every eUICC of mine whose enabled profile belongs to MNO X") and one action (e.g.
//! "enable its profile of MNO Y"); the targets are stored, one row each, and the fleet worker ([`run`]) starts
//! them in order as owner operations ([`super::operations::start_action`], the platform operations of ES4)
//! within the fleet's rate per second and maximum in flight, until its validity ends. Each start and its target
//! row change in one transaction with the fleet's counts, and a target's end is recorded by the transaction
//! that ends its operation ([`super::operations::finished`]) and applied to the counts by the worker
//! ([`lock_folded`]), so after a crash every target is started exactly once and the counts are exact. Pause stops the starts, resume continues them, cancel makes the targets not
//! yet started `cancelled`; started ones finish either way.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::{ACCEPT, CONTENT_TYPE};
use actix_web::{HttpRequest, HttpResponse, web};
use eis_store::eis::ProfileState;
use eis_store::fleet::{self as store, Counts, Fleet, FleetState, NewFleet, Target, TargetState};
use eis_store::{AnyConnection, StoreError, owners};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::idempotency::{self, Answer, ApiProblem, TxFail};
use super::operations::{Action, ResultView, bad_request, op_result, start_action};
use super::{
    BASE_PATH, Owner, Problem, Scope, authenticate, handle, internal, problem, rfc3339,
    store as store_problem,
};
use crate::eis_map::Viewer;
use crate::error::SmsrError;
use crate::platform;
use crate::service::Smsr;

/// Most targets of one fleet operation.
pub const MAX_TARGETS: usize = 1_000_000;
/// Largest body of `POST /fleet-operations` (a million EIDs in JSON is about 35 MB).
pub const MAX_BODY_BYTES: usize = 64 << 20;
/// Largest rate per second.
pub const MAX_RATE: i64 = 10_000;
/// Largest maximum in flight.
pub const MAX_IN_FLIGHT: i64 = 100_000;
/// Rate per second without `ratePerSecond`.
pub const DEFAULT_RATE: i64 = 10;
/// Maximum in flight without `maxInFlight`.
pub const DEFAULT_IN_FLIGHT: i64 = 100;
/// Validity without `validitySeconds` (1 day).
pub const DEFAULT_VALIDITY_SECS: i64 = 24 * 3600;
/// Targets started per transaction of the worker: each start is a platform operation whose `operation.created`
/// event holds the owner's event counter until the commit, so a short transaction lets the owner's other
/// transactions (the operations' ends) through.
pub const START_BATCH: i64 = 20;
/// Page size of the targets without `limit`.
pub const DEFAULT_TARGET_PAGE: i64 = 100;
/// Largest `limit` of a JSON page of targets.
pub const MAX_TARGET_PAGE: i64 = 1000;
/// Rows read per query while streaming CSV.
const CSV_PAGE: i64 = 5000;
/// Pause of the worker between rounds while a fleet operation runs (a wake-up ends it early).
const ACTIVE_TICK: Duration = Duration::from_millis(50);
/// Pause of the worker while no fleet operation runs.
const IDLE_TICK: Duration = Duration::from_secs(1);

// ---------------------------------------------------------------------------------------------------------------
// The scheduler's decisions (pure)
// ---------------------------------------------------------------------------------------------------------------

/// How many targets a fleet operation may start now, and the rate limiter's next start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// Targets to start now.
    pub start: i64,
    /// The limiter's next start (unix µs) once they have.
    pub next_start_us: i64,
}

/// The starts allowed at `now_us` for a fleet with these limits and counts: at most `rate` per second (a start
/// every 1/rate s; at most one second of unused rate is kept), `max_in_flight` under way, the pending ones, and
/// `batch` per transaction.
pub fn plan(
    rate: i64,
    max_in_flight: i64,
    counts: &Counts,
    next_start_us: i64,
    now_us: i64,
    batch: i64,
) -> Plan {
    let interval = (1_000_000 / rate.max(1)).max(1);
    let base = next_start_us.max(now_us.saturating_sub(1_000_000));
    let tokens = if now_us < base {
        0
    } else {
        (now_us - base) / interval + 1
    };
    let slots = (max_in_flight - counts.running).max(0);
    let start = tokens.min(slots).min(counts.pending).min(batch).max(0);
    Plan {
        start,
        next_start_us: if start > 0 {
            base + start * interval
        } else {
            next_start_us
        },
    }
}

/// An owner's command on a fleet operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Command {
    /// Stop starting targets.
    Pause,
    /// Start targets again.
    Resume,
    /// Never start the targets not yet started.
    Cancel,
}

impl Command {
    /// Parses the last path segment (`pause`, `resume`, `cancel`).
    pub fn parse(s: &str) -> Option<Command> {
        match s {
            "pause" => Some(Command::Pause),
            "resume" => Some(Command::Resume),
            "cancel" => Some(Command::Cancel),
            _ => None,
        }
    }

    /// The states it applies to (repeating a command is allowed and changes nothing more), the state it
    /// leads to, and what becomes of the pending targets.
    pub fn transition(self) -> (&'static [FleetState], FleetState, Option<TargetState>) {
        match self {
            Command::Pause => (
                &[FleetState::Running, FleetState::Paused],
                FleetState::Paused,
                None,
            ),
            Command::Resume => (
                &[FleetState::Paused, FleetState::Running],
                FleetState::Running,
                None,
            ),
            Command::Cancel => (
                &[
                    FleetState::Running,
                    FleetState::Paused,
                    FleetState::Cancelled,
                ],
                FleetState::Cancelled,
                Some(TargetState::Cancelled),
            ),
        }
    }
}

/// Whether nothing more will happen to the fleet operation's targets: none pending (or it will start none) and
/// none under way.
pub fn finished(state: FleetState, counts: &Counts) -> bool {
    counts.running == 0
        && (counts.pending == 0
            || matches!(
                state,
                FleetState::Cancelled | FleetState::Expired | FleetState::Completed
            ))
}

/// What a worker's look at a running or paused fleet operation leads to, before any target is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Its validity is over: the pending targets expire.
    Expire,
    /// Nothing to do now (paused, or no start allowed yet).
    Wait,
    /// Every target is done: it completes.
    Complete,
    /// Start this many targets.
    Start(Plan),
}

/// The decision for `fleet` at `now_ms`.
pub fn step_for(fleet: &Fleet, now_ms: i64) -> Step {
    if now_ms >= fleet.valid_until {
        return Step::Expire;
    }
    if fleet.state != FleetState::Running {
        return Step::Wait;
    }
    if fleet.counts.pending == 0 {
        return if fleet.counts.running == 0 {
            Step::Complete
        } else {
            Step::Wait
        };
    }
    let p = plan(
        fleet.rate_per_second,
        fleet.max_in_flight,
        &fleet.counts,
        fleet.next_start_us,
        now_ms.saturating_mul(1000),
        START_BATCH,
    );
    if p.start == 0 {
        Step::Wait
    } else {
        Step::Start(p)
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The worker
// ---------------------------------------------------------------------------------------------------------------

/// The profile a fleet target's action is on (SGP.02 profile state rules stay with [`crate::platform`]):
/// nothing for an audit; for disable the Enabled profile (of `mno`, if given); otherwise the eUICC's profile of
/// `mno` — when it has several, the one that is Disabled for an enable. An eUICC that is not the owner's is
/// unknown (8.1.1/3.9), exactly as one that does not exist.
pub fn target_profile(
    conn: &mut AnyConnection,
    owner_oid: &str,
    eid: &str,
    action: Action,
    mno: Option<&str>,
) -> Result<Option<String>, SmsrError> {
    let Some(profiles) = platform::known_euicc_profiles(conn, Viewer::Owner(owner_oid), eid)?
    else {
        return Err(SmsrError::UnknownEid {
            eid: eid.to_string(),
        });
    };
    if action == Action::Audit {
        return Ok(None);
    }
    let profiles: Vec<_> = profiles
        .into_iter()
        .filter(|p| p.info.state != ProfileState::InCreation)
        .collect();
    let what = |m: &str| format!("of MNO {m}");
    if action == Action::Disable {
        let enabled = profiles
            .iter()
            .find(|p| p.info.state == ProfileState::Enabled);
        return match (enabled, mno) {
            (Some(p), Some(m)) if p.info.mno_id != m => Err(SmsrError::ProfileRefused {
                iccid: what(m),
                action: "disabled",
                why: "the Enabled profile belongs to another MNO".into(),
            }),
            (Some(p), _) => Ok(Some(p.info.iccid.clone())),
            (None, _) => Err(SmsrError::ProfileRefused {
                iccid: "Enabled".into(),
                action: "disabled",
                why: "no profile of the eUICC is Enabled".into(),
            }),
        };
    }
    let m = mno.ok_or_else(|| SmsrError::Invalid {
        element: "profileMno".into(),
        why: format!("{} needs profileMno", action.as_str()),
    })?;
    let of_mno: Vec<_> = profiles.iter().filter(|p| p.info.mno_id == m).collect();
    let chosen = match of_mno.as_slice() {
        [] => {
            return Err(SmsrError::UnknownIccid { iccid: what(m) });
        }
        [one] => *one,
        several => {
            let disabled: Vec<_> = several
                .iter()
                .filter(|p| p.info.state == ProfileState::Disabled)
                .collect();
            match (action, disabled.as_slice()) {
                (Action::Enable, [one]) => **one,
                _ => {
                    return Err(SmsrError::ProfileRefused {
                        iccid: what(m),
                        action: "chosen",
                        why: format!(
                            "the eUICC has {} profiles of that MNO; name the ICCID in an operation of \
                             its own",
                            several.len()
                        ),
                    });
                }
            }
        }
    };
    Ok(Some(chosen.info.iccid.clone()))
}

/// Fleet operation `id` locked for this transaction ([`store::lock_fleet`]) with the target ends recorded since
/// the last look applied to its counts ([`store::fold_ends`]), and their events (`fleet_operation.finished`
/// when the last one ended; `fleet_operation.state_changed` when it completed).
pub fn lock_folded(
    c: &mut AnyConnection,
    smsr: &Smsr,
    id: i64,
    now: i64,
) -> Result<Option<Fleet>, SmsrError> {
    let Some(mut fleet) = store::lock_fleet(c, id)? else {
        return Ok(None);
    };
    let before = (fleet.state, fleet.counts);
    if store::fold_ends(c, &mut fleet, now)? > 0 {
        fleet_events(c, smsr, Some(before), &fleet, now)?;
    }
    Ok(Some(fleet))
}

/// One step of fleet operation `id` in one transaction: the ends of its targets counted ([`lock_folded`]),
/// then expiry, completion, or the starts the plan allows, at most [`START_BATCH`] (each in a savepoint: a
/// refusal fails that target and the others go on). Returns the targets started or failed at their start.
pub fn step(smsr: &Smsr, id: i64) -> Result<i64, SmsrError> {
    // The starts' `operation.created` events (and the fleet's) numbered at the end: see `numbered_last`.
    smsr.store.tx(|c| {
        super::events::numbered_last(c, smsr, |c| {
            let now = smsr.clock.now_millis();
            let Some(mut fleet) = lock_folded(c, smsr, id, now)? else {
                return Ok(0);
            };
            if !matches!(fleet.state, FleetState::Running | FleetState::Paused) {
                return Ok(0);
            }
            let before = (fleet.state, fleet.counts);
            let plan = match step_for(&fleet, now) {
                Step::Wait => return Ok(0),
                Step::Expire => {
                    if let Some(expired) = store::change_state(
                        c,
                        id,
                        &[FleetState::Running, FleetState::Paused],
                        FleetState::Expired,
                        Some(TargetState::Expired),
                        now,
                    )? {
                        fleet_events(c, smsr, Some(before), &expired, now)?;
                    }
                    tracing::info!(fleet = id, "fleet operation expired");
                    return Ok(0);
                }
                Step::Complete => {
                    fleet.state = FleetState::Completed;
                    store::save_fleet(c, &fleet, now)?;
                    fleet_events(c, smsr, Some(before), &fleet, now)?;
                    return Ok(0);
                }
                Step::Start(p) => p,
            };
            let action = Action::parse(&fleet.action).ok_or_else(|| {
                SmsrError::internal(std::io::Error::other(format!(
                    "fleet {id}: stored action {:?}",
                    fleet.action
                )))
            })?;
            let deadline = fleet.valid_until;
            let mut done = 0;
            for (seq, eid) in store::pending_targets(c, id, plan.start)? {
                let mut iccid = None;
                let started = eis_store::savepoint(c, |c| {
                    iccid = target_profile(
                        c,
                        &fleet.owner_oid,
                        &eid,
                        action,
                        fleet.profile_mno.as_deref(),
                    )?;
                    start_action(
                        c,
                        smsr,
                        &fleet.owner_oid,
                        &eid,
                        action,
                        iccid.as_deref(),
                        Some(deadline),
                    )
                });
                match started {
                    Ok(op) => {
                        store::mark_started(c, id, seq, op.id, iccid.as_deref(), now)?;
                        fleet.counts.add(TargetState::Running, 1);
                    }
                    Err(e @ (SmsrError::Store(_) | SmsrError::Internal(_))) => return Err(e),
                    Err(refusal) => {
                        let result = op_result(&refusal.execution_status());
                        store::mark_refused(c, id, seq, iccid.as_deref(), &result, now)?;
                        fleet.counts.add(TargetState::Failed, 1);
                    }
                }
                fleet.counts.add(TargetState::Pending, -1);
                done += 1;
            }
            fleet.next_start_us = plan.next_start_us;
            if fleet.counts.pending == 0 && fleet.counts.running == 0 {
                fleet.state = FleetState::Completed;
            }
            store::save_fleet(c, &fleet, now)?;
            fleet_events(c, smsr, Some(before), &fleet, now)?;
            Ok(done)
        })
    })
}

/// The owner events of fleet operation `after` changed from `before` (state and counts; `None`: just created),
/// in the transaction of the change: `fleet_operation.created`, `fleet_operation.state_changed` when its state
/// changed, and `fleet_operation.finished` when nothing more will happen to its targets and that was not so
/// before — so each is emitted exactly once.
pub fn fleet_events(
    c: &mut AnyConnection,
    smsr: &Smsr,
    before: Option<(FleetState, Counts)>,
    after: &Fleet,
    now: i64,
) -> Result<(), SmsrError> {
    let view = || -> Result<serde_json::Map<String, serde_json::Value>, SmsrError> {
        match serde_json::to_value(fleet_view(after)).map_err(SmsrError::internal)? {
            serde_json::Value::Object(m) => Ok(m),
            other => Err(SmsrError::internal(std::io::Error::other(format!(
                "fleet view {other}"
            )))),
        }
    };
    let owner = after.owner_oid.as_str();
    let was_finished = match before {
        None => {
            let data = serde_json::Value::Object(view()?);
            super::events::emit_to(c, smsr, owner, "", super::events::FLEET_CREATED, data, now)?;
            false
        }
        Some((state, counts)) => {
            if state != after.state {
                let mut data = view()?;
                data.insert("from".into(), serde_json::json!(state.as_str()));
                let data = serde_json::Value::Object(data);
                super::events::emit_to(
                    c,
                    smsr,
                    owner,
                    "",
                    super::events::FLEET_STATE_CHANGED,
                    data,
                    now,
                )?;
            }
            finished(state, &counts)
        }
    };
    if !was_finished && finished(after.state, &after.counts) {
        let data = serde_json::Value::Object(view()?);
        super::events::emit_to(c, smsr, owner, "", super::events::FLEET_FINISHED, data, now)?;
    }
    Ok(())
}

/// Steps every running or paused fleet operation, and every one with target ends not yet counted, until none
/// starts more now. Returns whether any is running.
pub fn round(smsr: &Smsr) -> Result<bool, SmsrError> {
    let ids = {
        let mut c = smsr.store.conn()?;
        let mut ids = store::running_fleets(&mut c)?;
        ids.extend(store::paused_fleets(&mut c)?);
        ids.extend(store::fleets_with_ends(&mut c)?);
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    for &id in &ids {
        while step(smsr, id)? >= START_BATCH {}
    }
    Ok(!ids.is_empty())
}

/// The fleet worker: a round every [`ACTIVE_TICK`] while fleet operations run (sooner when woken: a fleet
/// operation created or resumed, a target finished), every [`IDLE_TICK`] otherwise, until `shutdown`. All state
/// is in the store: it may stop at any point, and several processes may run it on one PostgreSQL database.
pub async fn run(smsr: Arc<Smsr>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let s = smsr.clone();
        let pause = match tokio::task::spawn_blocking(move || round(&s)).await {
            Ok(Ok(true)) => ACTIVE_TICK,
            Ok(Ok(false)) => IDLE_TICK,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "fleet worker round failed");
                IDLE_TICK
            }
            Err(e) => {
                tracing::error!(error = %e, "fleet worker round panicked");
                IDLE_TICK
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = smsr.wake.fleet.notified() => {}
            _ = shutdown.changed() => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The API
// ---------------------------------------------------------------------------------------------------------------

/// Which of the owner's eUICCs a fleet operation is for, besides a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"enabledMno": "1.3.6.1.4.1.99999.5"}))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Selector {
    /// Every eUICC of the owner whose Enabled profile belongs to this MNO (OID), when the request is made.
    pub enabled_mno: String,
}

/// Body of `POST /esm2m/v1/fleet-operations`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"action": "enable", "profileMno": "1.3.6.1.4.1.99999.6",
    "eids": ["89049999001000000000000000000143", "89049999001000000000000000000144"],
    "ratePerSecond": 50, "maxInFlight": 200, "validitySeconds": 86400}))]
pub struct FleetRequest {
    /// What to do on each eUICC.
    pub action: Action,
    /// The MNO (OID) whose profile the action is on: needed by enable, delete and setFallback; for disable, only
    /// an Enabled profile of this MNO is disabled; not for audit.
    pub profile_mno: Option<String>,
    /// The targets, in order (EIDs of 32 digits; at most 1,000,000, no repeats); or `selector`.
    #[schema(min_items = 1, max_items = 1000000)]
    pub eids: Option<Vec<String>>,
    /// The targets chosen by the SM-SR (in EID order); or `eids`.
    pub selector: Option<Selector>,
    /// Most starts per second (1–10,000; default 10).
    #[schema(minimum = 1, maximum = 10000)]
    pub rate_per_second: Option<i64>,
    /// Most operations under way at once (1–100,000; default 100).
    #[schema(minimum = 1, maximum = 100000)]
    pub max_in_flight: Option<i64>,
    /// Seconds from now during which targets are started; an operation still under way then expires
    /// (1 s – 30 days; default 1 day).
    #[schema(minimum = 1, maximum = 2592000)]
    pub validity_seconds: Option<i64>,
}

/// A fleet request that passed the checks.
#[derive(Debug, Clone)]
pub struct CheckedFleet {
    request: FleetRequest,
    rate: i64,
    in_flight: i64,
    validity_secs: i64,
}

fn is_eid(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Checks a request's `eids`: 1 to `max` EIDs of 32 digits, none named twice (400 saying which is wrong).
pub(super) fn check_eids(eids: &[String], max: usize) -> Result<(), ApiProblem> {
    if eids.is_empty() {
        return Err(bad_request("eids is empty".into()));
    }
    if eids.len() > max {
        return Err(bad_request(format!("{} eids: at most {max}", eids.len())));
    }
    if let Some(bad) = eids.iter().find(|e| !is_eid(e)) {
        return Err(bad_request(format!(
            "eids: {bad:?} is not an EID (32 digits)"
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(eids.len());
    if let Some(dup) = eids.iter().find(|e| !seen.insert(e.as_str())) {
        return Err(bad_request(format!("eids: {dup} is named twice")));
    }
    Ok(())
}

/// Checks a fleet request without the store (400 with what is wrong).
pub fn check_request(body: &[u8]) -> Result<CheckedFleet, ApiProblem> {
    let r: FleetRequest = idempotency::json_body(body)?;
    let in_range = |v: Option<i64>, default: i64, max: i64, name: &str| match v {
        None => Ok(default),
        Some(v) if (1..=max).contains(&v) => Ok(v),
        Some(_) => Err(bad_request(format!("{name} must be between 1 and {max}"))),
    };
    let rate = in_range(r.rate_per_second, DEFAULT_RATE, MAX_RATE, "ratePerSecond")?;
    let in_flight = in_range(
        r.max_in_flight,
        DEFAULT_IN_FLIGHT,
        MAX_IN_FLIGHT,
        "maxInFlight",
    )?;
    let validity_secs = in_range(
        r.validity_seconds,
        DEFAULT_VALIDITY_SECS,
        super::operations::MAX_VALIDITY_SECS,
        "validitySeconds",
    )?;
    match (&r.profile_mno, r.action) {
        (None, Action::Enable | Action::Delete | Action::SetFallback) => {
            return Err(bad_request(format!(
                "action {} needs profileMno: the MNO whose profile it is on",
                r.action.as_str()
            )));
        }
        (Some(_), Action::Audit) => {
            return Err(bad_request("action audit takes no profileMno".into()));
        }
        (Some(m), _) if m.is_empty() => return Err(bad_request("profileMno is empty".into())),
        _ => {}
    }
    match (&r.eids, &r.selector) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(bad_request(
                "name the targets with either eids or selector".into(),
            ));
        }
        (Some(eids), None) => check_eids(eids, MAX_TARGETS)?,
        (None, Some(s)) if s.enabled_mno.is_empty() => {
            return Err(bad_request("selector.enabledMno is empty".into()));
        }
        (None, Some(_)) => {}
    }
    Ok(CheckedFleet {
        request: r,
        rate,
        in_flight,
        validity_secs,
    })
}

/// Counts by target state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CountsView {
    /// Not started yet.
    pub pending: i64,
    /// Under way.
    pub running: i64,
    /// Succeeded.
    pub succeeded: i64,
    /// Refused at their start, failed or expired.
    pub failed: i64,
    /// Not started: cancelled.
    pub cancelled: i64,
    /// Not started: the validity ended.
    pub expired: i64,
}

/// A fleet operation and its progress.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"id": 7, "action": "enable", "profileMno": "1.3.6.1.4.1.99999.6",
    "targets": {"eids": 2}, "ratePerSecond": 50, "maxInFlight": 200, "validUntil": "2026-12-07T01:00:00Z",
    "state": "running", "finished": false, "total": 2,
    "counts": {"pending": 0, "running": 1, "succeeded": 1, "failed": 0, "cancelled": 0, "expired": 0},
    "createdAt": "2026-12-06T01:00:00Z", "updatedAt": "2026-12-06T01:00:02Z"}))]
#[serde(rename_all = "camelCase")]
pub struct FleetView {
    /// Id.
    pub id: i64,
    /// The action on each target.
    pub action: Action,
    /// The MNO whose profile the action is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile_mno: Option<String>,
    /// How the targets were named: `{"eids": n}` or the selector.
    #[schema(value_type = Object)]
    pub targets: serde_json::Value,
    /// Most starts per second.
    pub rate_per_second: i64,
    /// Most operations under way at once.
    pub max_in_flight: i64,
    /// End of the validity (RFC 3339).
    pub valid_until: Option<String>,
    /// `running`, `paused`, `cancelled`, `completed` or `expired`.
    pub state: String,
    /// Whether nothing more will happen: no target pending to be started, none under way.
    pub finished: bool,
    /// Number of targets.
    pub total: i64,
    /// Targets by state.
    pub counts: CountsView,
    /// Created (RFC 3339).
    pub created_at: Option<String>,
    /// Last change (RFC 3339).
    pub updated_at: Option<String>,
}

/// The owner's view of a fleet operation.
pub fn fleet_view(f: &Fleet) -> FleetView {
    let c = &f.counts;
    FleetView {
        id: f.id,
        action: Action::parse(&f.action).unwrap_or(Action::Audit),
        profile_mno: f.profile_mno.clone(),
        targets: serde_json::from_str(&f.selector).unwrap_or(serde_json::Value::Null),
        rate_per_second: f.rate_per_second,
        max_in_flight: f.max_in_flight,
        valid_until: rfc3339(f.valid_until),
        state: f.state.as_str().to_string(),
        finished: finished(f.state, c),
        total: f.total,
        counts: CountsView {
            pending: c.pending,
            running: c.running,
            succeeded: c.succeeded,
            failed: c.failed,
            cancelled: c.cancelled,
            expired: c.expired,
        },
        created_at: rfc3339(f.created_at),
        updated_at: rfc3339(f.updated_at),
    }
}

/// One target and how it went.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"seq": 1, "eid": "89049999001000000000000000000143", "state": "succeeded",
    "iccid": "8949990000000000028", "operationId": 42, "result": {"status": "EXECUTED_SUCCESS"},
    "startedAt": "2026-12-06T01:00:00Z", "finishedAt": "2026-12-06T01:00:04Z"}))]
#[serde(rename_all = "camelCase")]
pub struct TargetView {
    /// Position in the fleet operation (from 1; the `after` of paging).
    pub seq: i64,
    /// EID.
    pub eid: String,
    /// `pending`, `running`, `succeeded`, `failed`, `cancelled` or `expired`.
    pub state: String,
    /// The profile acted on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    /// Its operation (`GET /operations/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation_id: Option<i64>,
    /// How it ended (SGP.02 status).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultView>,
    /// Started (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// Finished (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

fn target_view(t: Target) -> TargetView {
    TargetView {
        seq: t.seq,
        eid: t.eid,
        state: t.state.as_str().to_string(),
        iccid: t.iccid,
        operation_id: t.operation_id,
        result: t.result.map(Into::into),
        started_at: t.started_at.and_then(rfc3339),
        finished_at: t.finished_at.and_then(rfc3339),
    }
}

/// A page of targets.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetPage {
    /// The targets, in order.
    pub items: Vec<TargetView>,
    /// The `after` of the next page; absent on the last.
    pub next: Option<i64>,
}

/// A page of fleet operations.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetPage {
    /// The fleet operations, newest first.
    pub items: Vec<FleetView>,
    /// The `before` of the next page; absent on the last.
    pub next: Option<i64>,
}

fn not_found(id: &str) -> Problem {
    problem(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such fleet operation",
        format!("no fleet operation {id} among yours"),
    )
}

/// The owner's fleet operation `id` (404 for another owner's, as for none).
fn own_fleet(conn: &mut AnyConnection, owner: &Owner, id: &str) -> Result<Fleet, Problem> {
    let n = id.parse::<i64>().map_err(|_| not_found(id))?;
    store::get_fleet(conn, n)
        .map_err(store_problem)?
        .filter(|f| f.owner_oid == owner.oid)
        .ok_or_else(|| not_found(id))
}

/// The EIDs of the owner's eUICCs the selector names, in EID order (`None`: more than [`MAX_TARGETS`]).
fn selected(
    conn: &mut AnyConnection,
    owner_oid: &str,
    s: &Selector,
) -> Result<Option<Vec<String>>, StoreError> {
    let mut out: Vec<String> = Vec::new();
    loop {
        let page = owners::owned_eids(
            conn,
            owner_oid,
            out.last().map(String::as_str),
            10_000,
            Some(&s.enabled_mno),
        )?;
        if page.is_empty() {
            return Ok(Some(out));
        }
        out.extend(page);
        if out.len() > MAX_TARGETS {
            return Ok(None);
        }
    }
}

fn create(
    c: &mut AnyConnection,
    smsr: &Smsr,
    owner: &Owner,
    f: &CheckedFleet,
    now: i64,
) -> Result<Answer, TxFail> {
    let r = &f.request;
    let (eids, named) = match (&r.eids, &r.selector) {
        (Some(eids), _) => (
            std::borrow::Cow::Borrowed(eids.as_slice()),
            serde_json::json!({ "eids": eids.len() }),
        ),
        (None, Some(s)) => {
            let eids = selected(c, &owner.oid, s)?.ok_or_else(|| {
                TxFail::from(problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "too-many-targets",
                    "The selector names too many eUICCs",
                    format!(
                        "more than {MAX_TARGETS} of your eUICCs match; split the fleet operation"
                    ),
                ))
            })?;
            if eids.is_empty() {
                return Err(problem(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "no-targets",
                    "The selector names no eUICC",
                    format!(
                        "none of your eUICCs has an Enabled profile of MNO {}",
                        s.enabled_mno
                    ),
                )
                .into());
            }
            (
                std::borrow::Cow::Owned(eids),
                serde_json::to_value(s).map_err(|e| TxFail::from(internal(e)))?,
            )
        }
        (None, None) => return Err(super::bad_request("no targets".into()).into()),
    };
    let fleet = store::create_fleet(
        c,
        &NewFleet {
            owner_oid: owner.oid.clone(),
            action: r.action.as_str().to_string(),
            profile_mno: r.profile_mno.clone(),
            selector: named.to_string(),
            rate_per_second: f.rate,
            max_in_flight: f.in_flight,
            valid_until: now.saturating_add(f.validity_secs * 1000),
        },
        &eids,
        now,
    )?;
    fleet_events(c, smsr, None, &fleet, now)?;
    tracing::info!(fleet = fleet.id, owner = %owner.oid, action = %fleet.action, targets = fleet.total,
        "fleet operation created");
    Answer::json(
        StatusCode::ACCEPTED,
        &fleet_view(&fleet),
        Some(format!("{BASE_PATH}/fleet-operations/{}", fleet.id)),
    )
}

/// `POST /esm2m/v1/fleet-operations`: 202 with the fleet operation.
#[utoipa::path(post, path = "/esm2m/v1/fleet-operations", tag = "Fleet operations",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a repeat of the same request answers the first answer; the same key with another request is a 422")),
    request_body(content = FleetRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Created; the targets are started in order at its rate. Its progress at `Location`", body = FleetView,
            headers(("Location" = String, description = "`/esm2m/v1/fleet-operations/{id}`"))),
        (status = 400, description = "Invalid body or Idempotency-Key", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "The selector names no eUICC or too many, or the Idempotency-Key answered another request", body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `operate`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["operate"])))]
pub(super) async fn post_fleet(
    req: HttpRequest,
    body: web::Bytes,
    smsr: web::Data<Arc<Smsr>>,
) -> HttpResponse {
    idempotency::post(&req, body, &smsr, check_request, create).await
}

/// `POST /esm2m/v1/fleet-operations/{id}/{pause|resume|cancel}`: 200 with the fleet operation; 409 when it
/// has ended.
#[utoipa::path(post, path = "/esm2m/v1/fleet-operations/{id}/{command}", tag = "Fleet operations",
    params(("id" = i64, Path, description = "Fleet operation id", example = 7),
        ("command" = inline(Command), Path, description = "`pause` stops the starts, `resume` continues them, `cancel` makes the targets not yet started `cancelled` (started ones finish)"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a repeat of the same request answers the first answer; the same key with another request is a 422")),
    responses(
        (status = 200, description = "The fleet operation in its new state (repeating a command changes nothing more)", body = FleetView),
        (status = 400, description = "A body other than none or `{}`, or an invalid Idempotency-Key", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "No such fleet operation among the owner's, or no such command", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The fleet operation has ended (completed, expired; cancelled for pause and resume)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The Idempotency-Key answered another request", body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `operate`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["operate"])))]
pub(super) async fn post_command(
    req: HttpRequest,
    body: web::Bytes,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (id, command) = path.into_inner();
    let Some(command) = Command::parse(&command) else {
        return super::unknown_path().await;
    };
    idempotency::post(
        &req,
        body,
        &smsr,
        |b: &[u8]| {
            if b.iter().all(u8::is_ascii_whitespace) || b.trim_ascii() == b"{}" {
                Ok(())
            } else {
                Err(bad_request(
                    "pause, resume and cancel take no body (or {})".into(),
                ))
            }
        },
        move |c, smsr, owner, _: &(), now| {
            let fleet = own_fleet(c, owner, &id)?;
            // Locked, with the ends of targets counted: the state and counts the change starts from (the worker
            // may have moved them since).
            let fleet = lock_folded(c, smsr, fleet.id, now)?.unwrap_or(fleet);
            let (from, to, pending_to) = command.transition();
            match store::change_state(c, fleet.id, from, to, pending_to, now)? {
                Some(changed) => {
                    fleet_events(c, smsr, Some((fleet.state, fleet.counts)), &changed, now)?;
                    tracing::info!(
                        fleet = fleet.id,
                        ?command,
                        "fleet operation {}",
                        to.as_str()
                    );
                    Answer::json(StatusCode::OK, &fleet_view(&changed), None)
                }
                None => Err(problem(
                    StatusCode::CONFLICT,
                    "fleet-operation-ended",
                    "The fleet operation has ended",
                    format!(
                        "fleet operation {id} is {}: it cannot be {}",
                        fleet.state.as_str(),
                        match command {
                            Command::Pause => "paused",
                            Command::Resume => "resumed",
                            Command::Cancel => "cancelled",
                        }
                    ),
                )
                .into()),
            }
        },
    )
    .await
}

/// `GET /esm2m/v1/fleet-operations/{id}`: the fleet operation and its counts (one row read).
#[utoipa::path(get, path = "/esm2m/v1/fleet-operations/{id}", tag = "Fleet operations",
    params(("id" = i64, Path, description = "Fleet operation id", example = 7)),
    responses(
        (status = 200, description = "The fleet operation and its counts by state", body = FleetView),
        (status = 404, description = "No such fleet operation among the owner's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `read`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["read"])))]
pub(super) async fn get_fleet(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    id: web::Path<String>,
) -> HttpResponse {
    let id = id.into_inner();
    handle(&req, &smsr, Scope::Read, move |o, c| {
        Ok(fleet_view(&own_fleet(c, o, &id)?))
    })
    .await
}

/// Query of `GET /fleet-operations`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The `next` of the previous page: fleet operations older than this id.
    before: Option<i64>,
}

/// `GET /esm2m/v1/fleet-operations[?limit=&before=]`: the owner's fleet operations, newest first.
#[utoipa::path(get, path = "/esm2m/v1/fleet-operations", tag = "Fleet operations", params(ListQuery),
    responses(
        (status = 200, description = "A page of the owner's fleet operations, newest first", body = FleetPage),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `read`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["read"])))]
pub(super) async fn list_fleets(req: HttpRequest, smsr: web::Data<Arc<Smsr>>) -> HttpResponse {
    let query = req.query_string().to_string();
    handle(&req, &smsr, Scope::Read, move |o, c| {
        let q = web::Query::<ListQuery>::from_query(&query)
            .map_err(|e| super::bad_request(format!("query: {e}")))?
            .into_inner();
        let limit = q.limit.unwrap_or(super::DEFAULT_PAGE);
        if !(1..=super::MAX_PAGE).contains(&limit) {
            return Err(super::bad_request(format!(
                "limit must be between 1 and {}",
                super::MAX_PAGE
            )));
        }
        let mut items = store::fleets_of(c, &o.oid, q.before, limit + 1).map_err(store_problem)?;
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        Ok(FleetPage {
            next: more.then(|| items.last().map(|f| f.id)).flatten(),
            items: items.iter().map(fleet_view).collect(),
        })
    })
    .await
}

/// Query of the targets.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TargetQuery {
    /// Only targets in this state: pending, running, succeeded, failed, cancelled or expired.
    #[param(pattern = "^(pending|running|succeeded|failed|cancelled|expired)$")]
    state: Option<String>,
    /// The `next` of the previous page: targets after this position.
    after: Option<i64>,
    /// Page size: 1 to 1000 for JSON (default 100); for CSV at least 1 (default: every target).
    #[param(minimum = 1)]
    limit: Option<i64>,
}

/// The checked query: state filter, `after`, `limit` (`None`: every target, CSV only).
fn target_query(
    query: &str,
    csv: bool,
) -> Result<(Option<TargetState>, i64, Option<i64>), Problem> {
    let q = web::Query::<TargetQuery>::from_query(query)
        .map_err(|e| super::bad_request(format!("query: {e}")))?
        .into_inner();
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(TargetState::parse(s).ok_or_else(|| {
            super::bad_request(format!(
                "state must be one of pending, running, succeeded, failed, cancelled, expired; not {s:?}"
            ))
        })?),
    };
    let limit = match (q.limit, csv) {
        (None, true) => None,
        (None, false) => Some(DEFAULT_TARGET_PAGE),
        (Some(l), true) if l >= 1 => Some(l),
        (Some(l), false) if (1..=MAX_TARGET_PAGE).contains(&l) => Some(l),
        _ => {
            return Err(super::bad_request(format!(
                "limit must be between 1 and {MAX_TARGET_PAGE}"
            )));
        }
    };
    Ok((state, q.after.unwrap_or(0).max(0), limit))
}

fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|p| p.trim().starts_with("text/csv")))
}

/// `GET /esm2m/v1/fleet-operations/{id}/targets[?state=&after=&limit=]`: a page of targets in order (JSON), or
/// with `Accept: text/csv` the same as `…/targets.csv`.
#[utoipa::path(get, path = "/esm2m/v1/fleet-operations/{id}/targets", tag = "Fleet operations",
    params(("id" = i64, Path, description = "Fleet operation id", example = 7), TargetQuery),
    responses(
        (status = 200, description = "A page of targets in order; with `Accept: text/csv`, the CSV of `targets.csv`",
            content((TargetPage = "application/json"), (String = "text/csv"))),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such fleet operation among the owner's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `read`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["read"])))]
pub(super) async fn get_targets(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    id: web::Path<String>,
) -> HttpResponse {
    if wants_csv(&req) {
        return csv(req, smsr, id.into_inner()).await;
    }
    let id = id.into_inner();
    let query = req.query_string().to_string();
    handle(&req, &smsr, Scope::Read, move |o, c| {
        let (state, after, limit) = target_query(&query, false)?;
        let limit = limit.unwrap_or(DEFAULT_TARGET_PAGE);
        let fleet = own_fleet(c, o, &id)?;
        let mut items =
            store::targets_page(c, fleet.id, state, after, limit + 1).map_err(store_problem)?;
        let more = items.len() as i64 > limit;
        items.truncate(limit as usize);
        Ok(TargetPage {
            next: more.then(|| items.last().map(|t| t.seq)).flatten(),
            items: items.into_iter().map(target_view).collect(),
        })
    })
    .await
}

/// `GET /esm2m/v1/fleet-operations/{id}/targets.csv[?state=&after=&limit=]`: the targets as CSV (RFC 4180),
/// every one unless `limit`, streamed.
#[utoipa::path(get, path = "/esm2m/v1/fleet-operations/{id}/targets.csv", tag = "Fleet operations",
    params(("id" = i64, Path, description = "Fleet operation id", example = 7), TargetQuery),
    responses(
        (status = 200, description = "RFC 4180 CSV with a header line: seq, eid, state, iccid, operation_id, status, subject_code, reason_code, message, started_at, finished_at",
            body = String, content_type = "text/csv",
            example = "seq,eid,state,iccid,operation_id,status,subject_code,reason_code,message,started_at,finished_at\r\n1,89049999001000000000000000000143,succeeded,8949990000000000028,42,EXECUTED_SUCCESS,,,,2026-12-06T01:00:00Z,2026-12-06T01:00:04Z\r\n"),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such fleet operation among the owner's", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `read`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["read"])))]
pub(super) async fn get_targets_csv(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    id: web::Path<String>,
) -> HttpResponse {
    csv(req, smsr, id.into_inner()).await
}

/// The header line of the CSV.
pub const CSV_HEADER: &str = "seq,eid,state,iccid,operation_id,status,subject_code,reason_code,message,started_at,finished_at\r\n";

fn csv_field(out: &mut String, v: &str) {
    if v.contains([',', '"', '\r', '\n']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

/// One CSV line of a target.
pub fn csv_line(t: &Target) -> String {
    let mut out = String::new();
    let r = t.result.as_ref();
    let fields = [
        t.seq.to_string(),
        t.eid.clone(),
        t.state.as_str().to_string(),
        t.iccid.clone().unwrap_or_default(),
        t.operation_id.map(|i| i.to_string()).unwrap_or_default(),
        r.map(|r| r.status.clone()).unwrap_or_default(),
        r.and_then(|r| r.subject_code.clone()).unwrap_or_default(),
        r.and_then(|r| r.reason_code.clone()).unwrap_or_default(),
        r.and_then(|r| r.message.clone()).unwrap_or_default(),
        t.started_at.and_then(rfc3339).unwrap_or_default(),
        t.finished_at.and_then(rfc3339).unwrap_or_default(),
    ];
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(&mut out, f);
    }
    out.push_str("\r\n");
    out
}

async fn csv(req: HttpRequest, smsr: web::Data<Arc<Smsr>>, id: String) -> HttpResponse {
    let authorization = super::authorization_header(&req);
    let query = req.query_string().to_string();
    let s = smsr.get_ref().clone();
    let checked = web::block(move || {
        let authorization = authorization?;
        let now = s.clock.now_millis();
        let owner = authenticate(&s, authorization.as_deref(), Scope::Read, now)?;
        let (state, after, limit) = target_query(&query, true)?;
        let mut c = s.store.conn().map_err(store_problem)?;
        let fleet = own_fleet(&mut c, &owner, &id)?;
        Ok::<_, Problem>((fleet.id, state, after, limit))
    })
    .await;
    let (fleet_id, state, after, limit) = match checked {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => return p.response(),
        Err(e) => return internal(e).response(),
    };
    let s = smsr.get_ref().clone();
    // State: (after, rows left, header sent).
    let stream =
        futures_util::stream::unfold((after, limit, false), move |(after, left, header)| {
            let s = s.clone();
            async move {
                if !header {
                    return Some((
                        Ok::<_, actix_web::Error>(web::Bytes::from_static(CSV_HEADER.as_bytes())),
                        (after, left, true),
                    ));
                }
                let n = left.map_or(CSV_PAGE, |l| l.min(CSV_PAGE));
                if n <= 0 {
                    return None;
                }
                let page = web::block(move || {
                    let mut c = s.store.conn()?;
                    store::targets_page(&mut c, fleet_id, state, after, n)
                })
                .await;
                let rows = match page {
                    Ok(Ok(rows)) => rows,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "CSV of fleet targets");
                        return Some((
                            Err(actix_web::error::ErrorInternalServerError("storage")),
                            (after, Some(0), true),
                        ));
                    }
                    Err(e) => {
                        return Some((
                            Err(actix_web::error::ErrorInternalServerError(e)),
                            (after, Some(0), true),
                        ));
                    }
                };
                let last = rows.last()?.seq;
                let mut text = String::with_capacity(rows.len() * 120);
                for t in &rows {
                    text.push_str(&csv_line(t));
                }
                let got = rows.len() as i64;
                let left = match left {
                    Some(l) => Some(l - got),
                    None if got < n => Some(0),
                    None => None,
                };
                Some((Ok(web::Bytes::from(text)), (last, left, true)))
            }
        });
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/csv; charset=utf-8"))
        .streaming(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pending: i64, running: i64) -> Counts {
        Counts {
            pending,
            running,
            ..Counts::default()
        }
    }

    fn fleet(state: FleetState, c: Counts, next_start_us: i64) -> Fleet {
        Fleet {
            id: 1,
            owner_oid: "1.2.3".into(),
            action: "enable".into(),
            profile_mno: Some("1.2.4".into()),
            selector: "{}".into(),
            rate_per_second: 10,
            max_in_flight: 5,
            valid_until: 10_000,
            state,
            total: c.pending + c.running,
            counts: c,
            next_start_us,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn rate_gives_one_start_per_interval() {
        // 10 per second: one start every 100 ms; at the limiter's time exactly one.
        let p = plan(10, 100, &counts(50, 0), 1_000_000, 1_000_000, 200);
        assert_eq!(
            p,
            Plan {
                start: 1,
                next_start_us: 1_100_000
            }
        );
        // 250 ms later: the 100 ms and 200 ms starts are due too.
        let p = plan(10, 100, &counts(50, 0), 1_100_000, 1_350_000, 200);
        assert_eq!(
            p,
            Plan {
                start: 3,
                next_start_us: 1_400_000
            }
        );
        // Before the limiter's time: none, and the time stays.
        let p = plan(10, 100, &counts(50, 0), 1_400_000, 1_399_999, 200);
        assert_eq!(
            p,
            Plan {
                start: 0,
                next_start_us: 1_400_000
            }
        );
    }

    #[test]
    fn unused_rate_is_kept_for_one_second_only() {
        // An hour idle: one second's worth (10) and the start due now, not 36,000.
        let p = plan(10, 100, &counts(100_000, 0), 0, 3_600_000_000, 200);
        assert_eq!(p.start, 11);
        assert_eq!(p.next_start_us, 3_600_100_000);
    }

    #[test]
    fn in_flight_pending_and_batch_bound_the_starts() {
        assert_eq!(plan(1000, 5, &counts(50, 3), 0, 10_000_000, 200).start, 2);
        assert_eq!(plan(1000, 5, &counts(50, 5), 0, 10_000_000, 200).start, 0);
        assert_eq!(plan(1000, 5, &counts(50, 9), 0, 10_000_000, 200).start, 0);
        assert_eq!(plan(1000, 100, &counts(4, 0), 0, 10_000_000, 200).start, 4);
        assert_eq!(
            plan(10_000, 100_000, &counts(1_000_000, 0), 0, 10_000_000, 200).start,
            200
        );
        // Nothing started: the limiter keeps its time.
        assert_eq!(
            plan(1000, 5, &counts(50, 5), 7, 10_000_000, 200).next_start_us,
            7
        );
    }

    #[test]
    fn steps_follow_state_validity_and_counts() {
        let f = fleet(FleetState::Running, counts(10, 0), 0);
        assert!(matches!(step_for(&f, 5_000), Step::Start(p) if p.start == 5));
        assert_eq!(step_for(&f, 10_000), Step::Expire);
        let paused = fleet(FleetState::Paused, counts(10, 0), 0);
        assert_eq!(step_for(&paused, 5_000), Step::Wait);
        assert_eq!(step_for(&paused, 10_001), Step::Expire);
        let full = fleet(FleetState::Running, counts(10, 5), 0);
        assert_eq!(step_for(&full, 5_000), Step::Wait);
        let draining = fleet(FleetState::Running, counts(0, 2), 0);
        assert_eq!(step_for(&draining, 5_000), Step::Wait);
        let done = fleet(FleetState::Running, counts(0, 0), 0);
        assert_eq!(step_for(&done, 5_000), Step::Complete);
    }

    #[test]
    fn commands_apply_to_the_states_they_name() {
        let (from, to, pending) = Command::Pause.transition();
        assert!(from.contains(&FleetState::Running) && !from.contains(&FleetState::Cancelled));
        assert_eq!((to, pending), (FleetState::Paused, None));
        let (from, to, _) = Command::Resume.transition();
        assert!(from.contains(&FleetState::Paused) && !from.contains(&FleetState::Completed));
        assert_eq!(to, FleetState::Running);
        let (from, to, pending) = Command::Cancel.transition();
        assert!(from.contains(&FleetState::Paused) && !from.contains(&FleetState::Expired));
        assert_eq!(
            (to, pending),
            (FleetState::Cancelled, Some(TargetState::Cancelled))
        );
        assert_eq!(Command::parse("stop"), None);
    }

    #[test]
    fn finished_means_nothing_more_will_happen() {
        assert!(!finished(FleetState::Running, &counts(1, 0)));
        assert!(!finished(FleetState::Paused, &counts(1, 0)));
        assert!(!finished(FleetState::Cancelled, &counts(0, 1)));
        assert!(finished(FleetState::Cancelled, &counts(0, 0)));
        assert!(finished(FleetState::Completed, &counts(0, 0)));
        assert!(finished(FleetState::Expired, &counts(0, 0)));
    }

    #[test]
    fn requests_are_checked_before_the_store() {
        let eid = "89049032000000000000000000000001";
        let ok = format!(r#"{{"action":"enable","profileMno":"1.2","eids":["{eid}"]}}"#);
        let f = check_request(ok.as_bytes()).expect("valid");
        assert_eq!((f.rate, f.in_flight, f.validity_secs), (10, 100, 86_400));
        for bad in [
            "not json".to_string(),
            r#"{"action":"enable","eids":["1"]}"#.to_string(),
            format!(r#"{{"action":"enable","profileMno":"1.2","eids":["{eid}","{eid}"]}}"#),
            format!(
                r#"{{"action":"enable","profileMno":"1.2","eids":["{eid}"],"selector":{{"enabledMno":"1"}}}}"#
            ),
            r#"{"action":"enable","profileMno":"1.2"}"#.to_string(),
            r#"{"action":"enable","profileMno":"1.2","eids":[]}"#.to_string(),
            format!(r#"{{"action":"audit","profileMno":"1.2","eids":["{eid}"]}}"#),
            format!(r#"{{"action":"enable","eids":["{eid}"]}}"#),
            format!(r#"{{"action":"switch","profileMno":"1.2","eids":["{eid}"]}}"#),
            format!(
                r#"{{"action":"enable","profileMno":"1.2","eids":["{eid}"],"ratePerSecond":0}}"#
            ),
            format!(
                r#"{{"action":"enable","profileMno":"1.2","eids":["{eid}"],"maxInFlight":100001}}"#
            ),
            format!(r#"{{"action":"enable","profileMno":"1.2","eids":["{eid}"],"colour":"red"}}"#),
        ] {
            let p = check_request(bad.as_bytes()).expect_err(&bad);
            assert_eq!(p.problem.status, 400, "{bad}");
        }
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let t = Target {
            seq: 3,
            eid: "89049032000000000000000000000001".into(),
            state: TargetState::Failed,
            operation_id: None,
            iccid: None,
            result: Some(eis_store::fleet::OpResult {
                status: "Failed".into(),
                subject_code: Some("8.2.1".into()),
                reason_code: Some("3.8".into()),
                message: Some("the profile \"x\" cannot be enabled, it is Enabled".into()),
            }),
            started_at: None,
            finished_at: None,
        };
        assert_eq!(
            csv_line(&t),
            "3,89049032000000000000000000000001,failed,,,Failed,8.2.1,3.8,\
             \"the profile \"\"x\"\" cannot be enabled, it is Enabled\",,\r\n"
        );
    }
}
