//! ESM2M events (issue 12 item 3): what happens on an owner's eUICCs, stored in the transaction of the change
//! ([`eis_store::events`]: numbered per owner, no gaps, no repeats), read as a feed after a cursor, and sent
//! to the owner's webhooks ([`super::webhooks`]).
//!
//! | type | when | data |
//! |---|---|---|
//! | `operation.created` | an operation on the eUICC starts (ES4, ES3, the owner, the SM-SR itself) | operation |
//! | `operation.state_changed` | it moves between open states (`Active` → `AwaitingNotification`) | + `from` |
//! | `operation.finished` | it ends `Done`, `Failed` or `Expired` | + `status`, codes, `message` |
//! | `profile.enabled`, `profile.disabled`, `profile.deleted` | the EIS takes the change (eUICC notification, operation result, audit) | `iccid`, `mnoId` |
//! | `fleet_operation.created` | the owner creates a fleet operation | the fleet operation with its counts |
//! | `fleet_operation.state_changed` | its state changes (paused, running, cancelled, expired, completed) | + `from` |
//! | `fleet_operation.finished` | nothing more will happen to its targets (none pending to start, none under way) | the fleet operation with its final counts |
//!
//! Fleet operation events are about no one eUICC: they carry no `eid` (their targets' operations give
//! `operation.*` events).
//!
//! `GET /esm2m/v1/events?after=N&limit=M&types=a,b` (scope read) answers the events numbered after `N` (0 or
//! absent: from the start) in order, and `next`, the cursor of the following call.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use eis_store::AnyConnection;
use eis_store::eis::ProfileInfo;
use eis_store::events::{self, Event, NewEvent};
use eis_store::operations::{Operation, OperationState};
use eis_store::owners;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Owner, Problem, Scope, bad_request, internal, rfc3339, store};
use crate::error::SmsrError;
use crate::operation::Outcome;
use crate::outgoing::ProfileChange;
use crate::service::Smsr;

/// `operation.created`.
pub const OPERATION_CREATED: &str = "operation.created";
/// `operation.state_changed`.
pub const OPERATION_STATE_CHANGED: &str = "operation.state_changed";
/// `operation.finished`.
pub const OPERATION_FINISHED: &str = "operation.finished";
/// `profile.enabled`.
pub const PROFILE_ENABLED: &str = "profile.enabled";
/// `profile.disabled`.
pub const PROFILE_DISABLED: &str = "profile.disabled";
/// `profile.deleted`.
pub const PROFILE_DELETED: &str = "profile.deleted";

/// `fleet_operation.created`.
pub const FLEET_CREATED: &str = "fleet_operation.created";
/// `fleet_operation.state_changed`.
pub const FLEET_STATE_CHANGED: &str = "fleet_operation.state_changed";
/// `fleet_operation.finished`.
pub const FLEET_FINISHED: &str = "fleet_operation.finished";

/// Every event type (what `types=` and a webhook's `eventTypes` may name).
pub const EVENT_TYPES: &[&str] = &[
    OPERATION_CREATED,
    OPERATION_STATE_CHANGED,
    OPERATION_FINISHED,
    PROFILE_ENABLED,
    PROFILE_DISABLED,
    PROFILE_DELETED,
    FLEET_CREATED,
    FLEET_STATE_CHANGED,
    FLEET_FINISHED,
];

/// Records event `event_type` about `eid` for the eUICC's owner, if it has one, and queues its webhook
/// deliveries — all in the caller's transaction, so that the event exists exactly when the change commits.
/// The one entry point for code that makes changes owners are told about.
pub fn emit(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    eid: &str,
    event_type: &str,
    data: Value,
    now: i64,
) -> Result<(), SmsrError> {
    let Some(owner) = owner_of(conn, eid)? else {
        return Ok(());
    };
    emit_to(conn, smsr, &owner, eid, event_type, data, now)
}

/// The owner of eUICC `eid`: inside [`numbered_last`] read once per scope (or taken from [`know_owners`]),
/// as a batch emits several events per eUICC; elsewhere read from the store.
fn owner_of(conn: &mut AnyConnection, eid: &str) -> Result<Option<String>, SmsrError> {
    let known = UNNUMBERED.with(|u| {
        u.borrow()
            .as_ref()
            .and_then(|scope| scope.owners.get(eid).cloned())
    });
    if let Some(owner) = known {
        return Ok(owner);
    }
    let owner = owners::owner_of(conn, eid)?;
    UNNUMBERED.with(|u| {
        if let Some(scope) = u.borrow_mut().as_mut() {
            scope.owners.insert(eid.to_string(), owner.clone());
        }
    });
    Ok(owner)
}

/// Reads the owners of the eUICCs `eids` in one query for the events the running [`numbered_last`] scope will
/// emit about them (the batch of incoming packets: up to 256 eUICCs, several events each). Nothing outside
/// such a scope.
pub fn know_owners(conn: &mut AnyConnection, eids: &[&str]) -> Result<(), SmsrError> {
    if UNNUMBERED.with(|u| u.borrow().is_none()) || eids.is_empty() {
        return Ok(());
    }
    let found = owners::owners_of(conn, eids)?;
    UNNUMBERED.with(|u| {
        if let Some(scope) = u.borrow_mut().as_mut() {
            for eid in eids {
                scope
                    .owners
                    .insert(eid.to_string(), found.get(*eid).cloned());
            }
        }
    });
    Ok(())
}

/// Records event `event_type` for owner `owner_oid` (about `eid`, or about no one eUICC when empty) and queues
/// its webhook deliveries, in the caller's transaction; inside [`numbered_last`], unnumbered until its end.
pub fn emit_to(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    owner_oid: &str,
    eid: &str,
    event_type: &str,
    data: Value,
    now: i64,
) -> Result<(), SmsrError> {
    let new = NewEvent {
        event_type: event_type.to_string(),
        eid: eid.to_string(),
        occurred_at: now,
        data: data.to_string(),
    };
    if UNNUMBERED.with(|u| u.borrow().is_some()) {
        let id = events::append_unnumbered(conn, owner_oid, &new)?;
        UNNUMBERED.with(|u| {
            if let Some(scope) = u.borrow_mut().as_mut() {
                scope.ids.push(id);
            }
        });
        return Ok(());
    }
    let event = events::append(conn, owner_oid, &new)?;
    super::webhooks::fan_out(conn, smsr, &event)
}

/// What the [`numbered_last`] running on this thread keeps for its transaction.
#[derive(Default)]
struct Unnumbered {
    /// The events it appended unnumbered.
    ids: Vec<i64>,
    /// The owners of the eUICCs its events were about (`None`: no owner), read once. Owners are assigned by
    /// the owner's API in transactions of their own, never inside such a scope.
    owners: std::collections::HashMap<String, Option<String>>,
}

thread_local! {
    /// The scope of the [`numbered_last`] running on this thread (its transaction's).
    static UNNUMBERED: std::cell::RefCell<Option<Unnumbered>> = const { std::cell::RefCell::new(None) };
}

/// Ends the [`numbered_last`] scope of this thread, however it is left (a panic included).
struct UnnumberedScope;

impl Drop for UnnumberedScope {
    fn drop(&mut self) {
        UNNUMBERED.with(|u| u.borrow_mut().take());
    }
}

/// Runs `f`, part of a transaction on `conn`, with the events it emits appended unnumbered
/// ([`events::append_unnumbered`]: no lock) and numbered at its end ([`events::number`]), when they get their
/// webhook deliveries: the owner's event counter is then held from there to the commit instead of from the
/// first event on — for the long transactions that emit many events (the batch of incoming packets, the fleet
/// worker's starts), which other transactions of the owner would otherwise wait for. Call it as the last thing
/// before the commit; nested, it runs `f` in the outer scope.
pub fn numbered_last<T>(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, SmsrError>,
) -> Result<T, SmsrError> {
    if UNNUMBERED.with(|u| u.borrow().is_some()) {
        return f(conn);
    }
    UNNUMBERED.with(|u| *u.borrow_mut() = Some(Unnumbered::default()));
    let scope = UnnumberedScope;
    let out = f(conn);
    let ids = UNNUMBERED
        .with(|u| u.borrow_mut().take())
        .unwrap_or_default()
        .ids;
    drop(scope);
    let out = out?;
    let numbered = events::number(conn, &ids)?;
    super::webhooks::fan_out_all(conn, smsr, &numbered)?;
    Ok(out)
}

/// The operation fields every `operation.*` event carries.
fn operation_data(op: &Operation, state: OperationState) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("operationId".into(), json!(op.id));
    m.insert("kind".into(), json!(op.kind));
    m.insert("state".into(), json!(state.as_str()));
    m.insert("interface".into(), json!(op.interface));
    m.insert("requester".into(), json!(op.requester_oid));
    if let Some(i) = &op.iccid {
        m.insert("iccid".into(), json!(i));
    }
    m
}

/// `operation.created` for `op` (just created).
pub fn operation_created(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    now: i64,
) -> Result<(), SmsrError> {
    smsr.metrics.operation_entered(&op.kind, op.state);
    let data = operation_data(op, op.state);
    emit(
        conn,
        smsr,
        &op.eid,
        OPERATION_CREATED,
        Value::Object(data),
        now,
    )?;
    Ok(())
}

/// `operation.state_changed` for `op` (as read) now in state `to`.
pub fn operation_state_changed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    to: OperationState,
    now: i64,
) -> Result<(), SmsrError> {
    smsr.metrics.operation_entered(&op.kind, to);
    let mut data = operation_data(op, to);
    data.insert("from".into(), json!(op.state.as_str()));
    emit(
        conn,
        smsr,
        &op.eid,
        OPERATION_STATE_CHANGED,
        Value::Object(data),
        now,
    )?;
    Ok(())
}

/// `operation.finished` for `op` (as read) ended with `outcome`.
pub fn operation_finished(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    outcome: &Outcome,
    now: i64,
) -> Result<(), SmsrError> {
    smsr.metrics.operation_entered(&op.kind, outcome.state);
    let mut data = operation_data(op, outcome.state);
    data.insert("from".into(), json!(op.state.as_str()));
    data.insert("status".into(), json!(outcome.status.status.as_str()));
    if let Some(d) = &outcome.status.status_code_data {
        data.insert("subjectCode".into(), json!(d.subject.code()));
        data.insert("reasonCode".into(), json!(d.reason.code()));
        if let Some(m) = &d.message {
            data.insert("message".into(), json!(m));
        }
    }
    emit(
        conn,
        smsr,
        &op.eid,
        OPERATION_FINISHED,
        Value::Object(data),
        now,
    )?;
    Ok(())
}

/// `profile.enabled` / `profile.disabled` / `profile.deleted` for `profile` of `eid`.
pub fn profile_changed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    eid: &str,
    profile: &ProfileInfo,
    change: ProfileChange,
    now: i64,
) -> Result<(), SmsrError> {
    let event_type = match change {
        ProfileChange::Enabled => PROFILE_ENABLED,
        ProfileChange::Disabled => PROFILE_DISABLED,
        ProfileChange::Deleted => PROFILE_DELETED,
    };
    let data = json!({ "iccid": profile.iccid, "mnoId": profile.mno_id });
    emit(conn, smsr, eid, event_type, data, now)?;
    Ok(())
}

/// An event as the feed and the webhooks show it.
#[derive(Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(example = json!({"id": 12, "type": "operation.finished", "time": "2026-12-06T01:00:04Z",
    "eid": "89049999001000000000000000000143", "data": {"operationId": 42, "kind": "EnableProfile",
    "state": "Done", "interface": "ESM2M", "requester": "1.3.6.1.4.1.4242.90.7", "iccid": "8949990000000000028",
    "from": "AwaitingNotification", "status": "EXECUTED_SUCCESS"}}))]
pub struct EventView {
    /// Its number in the owner's feed (1, 2, 3, …).
    pub id: i64,
    /// Type.
    #[serde(rename = "type")]
    pub kind: String,
    /// When it happened (RFC 3339).
    pub time: Option<String>,
    /// The eUICC (absent for `fleet_operation.*` events).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub eid: String,
    /// Type-specific data.
    #[schema(value_type = Object)]
    pub data: Value,
}

/// The JSON of `event`.
pub fn event_json(event: &Event) -> Result<EventView, SmsrError> {
    Ok(EventView {
        id: event.seq,
        kind: event.event_type.clone(),
        time: rfc3339(event.occurred_at),
        eid: event.eid.clone(),
        data: serde_json::from_str(&event.data).map_err(SmsrError::internal)?,
    })
}

/// A page of the feed.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventPage {
    /// Events in order.
    pub items: Vec<EventView>,
    /// The `after` of the next call: the last event looked at (with `types`, events of other types are
    /// skipped, so a page may hold fewer than `limit`); the same as `after` when there was nothing new.
    pub next: i64,
}

/// Query of `GET /events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FeedQuery {
    /// The `next` of the previous call: events numbered after this one (0 or absent: from the start).
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Events looked at, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Only these types, comma-separated (e.g. `operation.finished,profile.enabled`).
    #[param(example = "operation.finished,profile.enabled")]
    types: Option<String>,
}

/// `GET /esm2m/v1/events`: the owner's events after the cursor.
pub fn feed(
    conn: &mut AnyConnection,
    owner: &Owner,
    query_string: &str,
) -> Result<EventPage, Problem> {
    let q: FeedQuery = web::Query::<FeedQuery>::from_query(query_string)
        .map_err(|e| bad_request(format!("query: {e}")))?
        .into_inner();
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(bad_request("after must not be negative".into()));
    }
    let limit = q.limit.unwrap_or(super::DEFAULT_PAGE);
    if !(1..=super::MAX_PAGE).contains(&limit) {
        return Err(bad_request(format!(
            "limit must be between 1 and {}",
            super::MAX_PAGE
        )));
    }
    let types: Option<Vec<&str>> = q.types.as_deref().map(|t| {
        t.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect()
    });
    if let Some(unknown) = types.iter().flatten().find(|t| !EVENT_TYPES.contains(t)) {
        return Err(bad_request(format!(
            "types: unknown type {unknown:?} (known: {})",
            EVENT_TYPES.join(", ")
        )));
    }
    let rows = events::after(conn, &owner.oid, after, limit).map_err(store)?;
    let next = rows.last().map_or(after, |e| e.seq);
    let items = rows
        .iter()
        .filter(|e| {
            types
                .as_ref()
                .is_none_or(|t| t.contains(&e.event_type.as_str()))
        })
        .map(event_json)
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    Ok(EventPage { items, next })
}

/// `GET /esm2m/v1/events`: the owner's events after a cursor (scope `read`).
#[utoipa::path(get, path = "/esm2m/v1/events", tag = "Events", params(FeedQuery),
    responses(
        (status = 200, description = "The events after `after`, in order, and the cursor of the next call", body = EventPage),
        (status = 400, description = "Invalid query (e.g. an unknown type)", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `read`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["read"])))]
pub(super) async fn get_events(req: HttpRequest, smsr: web::Data<Arc<Smsr>>) -> HttpResponse {
    let query = req.query_string().to_string();
    super::handle(&req, &smsr, Scope::Read, move |o, c| feed(c, o, &query)).await
}
