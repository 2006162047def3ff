//! Operations of an owner on one of its eUICCs (ESM2M, design §1): enable, disable or delete a profile, set the
//! fall-back attribute, audit. Each is the platform operation ES4 starts ([`crate::platform`]: the same checks,
//! the same [`crate::operation`] state machine over ES5), requested by the owner (its OID is the audit trail's
//! RequesterId, the operation's interface is `ESM2M`). An owner has no ReplyTo: when the operation ends,
//! [`finished`] keeps its SGP.02 status for `GET /esm2m/v1/operations/{id}` and, for a target of a fleet
//! operation, records it on the target.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use eis_store::AnyConnection;
use eis_store::fleet::{self as store, OpResult, TargetState};
use eis_store::operations::{self, Operation, OperationState};
use eis_store::owners;
use es_interfaces::status::FunctionExecutionStatus;
use serde::{Deserialize, Serialize};

use super::idempotency::{self, Answer, ApiProblem, TxFail};
use super::{BASE_PATH, Owner, Problem, Scope, handle, problem, rfc3339, store as store_problem};
use crate::eis_map::Viewer;
use crate::error::SmsrError;
use crate::operation::{OperationKind, Outcome};
use crate::platform::{self, Requester};
use crate::service::Smsr;

/// The interface recorded on an owner's operations (`smsr_operations.interface`).
pub const INTERFACE: &str = "ESM2M";

/// Longest validity an owner may give an operation (30 days, in seconds).
pub const MAX_VALIDITY_SECS: i64 = 30 * 24 * 3600;

/// What an owner asks to be done on an eUICC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Enable a Disabled profile (ES4.EnableProfile, SGP.02 §3.2).
    Enable,
    /// Disable the Enabled profile; the fall-back profile takes over (ES4.DisableProfile, §3.3).
    Disable,
    /// Delete a profile that is neither Enabled nor the fall-back profile (ES4.DeleteProfile, §3.4).
    Delete,
    /// Give a profile the fall-back attribute (SetFallBackAttribute, SGP.02 v4 §5.5.21).
    SetFallback,
    /// Audit the eUICC: its ISD-Ps and free memory update the EIS (ES4.AuditEIS, §5.5.4).
    Audit,
}

impl Action {
    /// The name in requests and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Enable => "enable",
            Action::Disable => "disable",
            Action::Delete => "delete",
            Action::SetFallback => "setFallback",
            Action::Audit => "audit",
        }
    }

    /// Parses a name.
    pub fn parse(s: &str) -> Option<Action> {
        [
            Action::Enable,
            Action::Disable,
            Action::Delete,
            Action::SetFallback,
            Action::Audit,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }

    fn of_kind(kind: &str) -> Option<Action> {
        Some(match OperationKind::parse(kind).ok()? {
            OperationKind::EnableProfile => Action::Enable,
            OperationKind::DisableProfile => Action::Disable,
            OperationKind::DeleteProfile => Action::Delete,
            OperationKind::SetFallbackAttribute => Action::SetFallback,
            OperationKind::AuditEis => Action::Audit,
            _ => return None,
        })
    }

    /// Whether the action is on one profile (all but the audit).
    pub fn needs_profile(self) -> bool {
        self != Action::Audit
    }
}

/// Starts `action` of owner `owner_oid` on its eUICC `eid` (profile `iccid`, for all but the audit) as the
/// platform operation ES4 would start, with the owner as requester; `valid_until` bounds it (default: the
/// SM-SR's default validity). The refusals are those of ES4 (an eUICC not the owner's is unknown, 8.1.1/3.9).
pub fn start_action(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    owner_oid: &str,
    eid: &str,
    action: Action,
    iccid: Option<&str>,
    valid_until: Option<i64>,
) -> Result<Operation, SmsrError> {
    let requester = Requester {
        oid: owner_oid,
        interface: INTERFACE,
        function_call_id: None,
        valid_until,
    };
    let viewer = Viewer::Owner(owner_oid);
    let profile = || {
        iccid.ok_or_else(|| SmsrError::Invalid {
            element: "iccid".into(),
            why: format!("{} needs the profile's ICCID", action.as_str()),
        })
    };
    match action {
        Action::Enable => platform::enable_profile(smsr, conn, requester, viewer, eid, profile()?),
        Action::Disable => {
            platform::disable_profile(smsr, conn, requester, viewer, eid, profile()?)
        }
        Action::Delete => platform::delete_profile(smsr, conn, requester, viewer, eid, profile()?),
        Action::SetFallback => {
            platform::set_fallback_attribute(smsr, conn, requester, viewer, eid, profile()?)
        }
        Action::Audit => platform::audit_eis(smsr, conn, requester, viewer, eid, &[]),
    }
}

/// The owner's view of a FunctionExecutionStatus.
pub fn op_result(status: &FunctionExecutionStatus) -> OpResult {
    let d = status.status_code_data.as_ref();
    OpResult {
        status: status.status.as_str().to_string(),
        subject_code: d.map(|d| d.subject.code().to_string()),
        reason_code: d.map(|d| d.reason.code().to_string()),
        message: d.and_then(|d| d.message.clone()),
    }
}

/// Called by [`crate::operation::finish`] in its transaction for every operation that ends: an owner's
/// (interface `ESM2M`) keeps its result, and the fleet target it carries out, if any, takes it.
pub fn finished(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    outcome: &Outcome,
    now: i64,
) -> Result<(), SmsrError> {
    if op.interface != INTERFACE {
        return Ok(());
    }
    let result = op_result(&outcome.status);
    store::record_result(conn, op.id, &result, now)?;
    let state = if outcome.state == OperationState::Done {
        TargetState::Succeeded
    } else {
        TargetState::Failed
    };
    // The fleet's counts and its events follow in the worker's next step (`fleet::lock_folded`).
    if store::target_finished(conn, op.id, state, &result, now)?.is_some() {
        smsr.wake.fleet.notify_one();
    }
    Ok(())
}

/// Body of `POST /esm2m/v1/euiccs/{eid}/operations`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"action": "enable", "iccid": "8949990000000000028", "validitySeconds": 3600}))]
pub struct OperationRequest {
    /// What to do.
    pub action: Action,
    /// The profile (all actions but `audit`, which takes none): 18 to 20 digits, a trailing F as padding.
    #[schema(pattern = "^[0-9]{18,20}[Ff]?$", example = "8949990000000000028")]
    pub iccid: Option<String>,
    /// Seconds the operation may take (default: the SM-SR's default validity; at most 30 days).
    #[schema(minimum = 1, maximum = 2592000)]
    pub validity_seconds: Option<i64>,
}

/// The result of a finished operation: its SGP.02 FunctionExecutionStatus (SGP.02 §5.1.6.4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"status": "FAILED", "subjectCode": "8.2.1", "reasonCode": "3.8",
    "message": "the profile 8949990000000000028 cannot be enabled: it is Enabled"}))]
#[serde(rename_all = "camelCase")]
pub struct ResultView {
    /// `EXECUTED_SUCCESS`, `FAILED`, `EXPIRED`, …
    pub status: String,
    /// Subject code of the status code data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_code: Option<String>,
    /// Reason code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// Message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<OpResult> for ResultView {
    fn from(r: OpResult) -> ResultView {
        ResultView {
            status: r.status,
            subject_code: r.subject_code,
            reason_code: r.reason_code,
            message: r.message,
        }
    }
}

/// An owner's operation on one eUICC.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"id": 42, "action": "enable", "eid": "89049999001000000000000000000143",
    "iccid": "8949990000000000028", "state": "done", "result": {"status": "EXECUTED_SUCCESS"},
    "createdAt": "2026-12-06T01:00:00Z", "updatedAt": "2026-12-06T01:00:04Z", "deadline": "2026-12-06T02:00:00Z"}))]
#[serde(rename_all = "camelCase")]
pub struct OperationView {
    /// Id.
    pub id: i64,
    /// What it does.
    pub action: Action,
    /// The eUICC.
    pub eid: String,
    /// The profile, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    /// `active` (ES5 commands under way), `awaitingNotification` (the eUICC switched; its notification is
    /// awaited), `done`, `failed` or `expired`.
    pub state: String,
    /// How it ended, once it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<ResultView>,
    /// Created (RFC 3339).
    pub created_at: Option<String>,
    /// Last change (RFC 3339).
    pub updated_at: Option<String>,
    /// Deadline (RFC 3339): still under way then, it expires.
    pub deadline: Option<String>,
}

/// The name of an operation state in answers.
pub fn state_name(s: OperationState) -> &'static str {
    match s {
        OperationState::Active => "active",
        OperationState::AwaitingNotification => "awaitingNotification",
        OperationState::Done => "done",
        OperationState::Failed => "failed",
        OperationState::Expired => "expired",
    }
}

fn not_found_operation(id: &str) -> Problem {
    problem(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such operation",
        format!("no operation {id} among yours"),
    )
}

/// The owner's view of operation `id`, if it is one of the owner's.
pub fn operation_view(
    conn: &mut AnyConnection,
    owner_oid: &str,
    id: i64,
) -> Result<Option<OperationView>, eis_store::StoreError> {
    let Some(op) = operations::get(conn, id)?
        .filter(|o| o.interface == INTERFACE && o.requester_oid == owner_oid)
    else {
        return Ok(None);
    };
    let Some(action) = Action::of_kind(&op.kind) else {
        return Ok(None);
    };
    let result = store::result_of(conn, op.id)?.map(|(r, _)| r.into());
    // Two statements, two snapshots: a result read after the operation may have been committed, with the
    // operation's end, in between. The operation is read again then, so that the view never shows a result
    // beside a state from before it.
    let op = match &result {
        Some(_) => operations::get(conn, id)?.unwrap_or(op),
        None => op,
    };
    Ok(Some(OperationView {
        id: op.id,
        action,
        eid: op.eid,
        iccid: op.iccid,
        state: state_name(op.state).to_string(),
        result,
        created_at: rfc3339(op.created_at),
        updated_at: rfc3339(op.updated_at),
        deadline: rfc3339(op.deadline),
    }))
}

/// Whether `eid` is one of `owner_oid`'s eUICCs; the 404 of `GET /euiccs/{eid}` otherwise (same words for
/// another owner's eUICC and one that does not exist).
pub(super) fn require_own_euicc(
    conn: &mut AnyConnection,
    owner_oid: &str,
    eid: &str,
) -> Result<(), TxFail> {
    if owners::owner_of(conn, eid)?.as_deref() == Some(owner_oid) {
        return Ok(());
    }
    Err(problem(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such eUICC",
        format!("no eUICC {eid} among yours"),
    )
    .into())
}

/// The deadline for a validity in seconds from `now` (checked: 1 s to 30 days).
pub(super) fn validity(seconds: Option<i64>, now: i64) -> Result<Option<i64>, ApiProblem> {
    match seconds {
        None => Ok(None),
        Some(s) if (1..=MAX_VALIDITY_SECS).contains(&s) => Ok(Some(now.saturating_add(s * 1000))),
        Some(_) => Err(bad_request(format!(
            "validitySeconds must be between 1 and {MAX_VALIDITY_SECS}"
        ))),
    }
}

pub(super) fn bad_request(detail: String) -> ApiProblem {
    super::bad_request(detail).into()
}

/// Checks an ICCID's form (SGP.02 A1 `ICCIDType`: 19 or 20 digits, a trailing F as padding).
pub(super) fn check_iccid(iccid: &str) -> Result<(), ApiProblem> {
    let digits = iccid.strip_suffix(['F', 'f']).unwrap_or(iccid);
    if (18..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(bad_request(format!("iccid {iccid:?} is not an ICCID")))
    }
}

fn parse_operation(body: &[u8]) -> Result<OperationRequest, ApiProblem> {
    let r: OperationRequest = idempotency::json_body(body)?;
    match (&r.iccid, r.action.needs_profile()) {
        (None, true) => {
            return Err(bad_request(format!(
                "action {} needs iccid",
                r.action.as_str()
            )));
        }
        (Some(_), false) => {
            return Err(bad_request(
                "action audit takes no iccid: it audits the whole eUICC".into(),
            ));
        }
        (Some(i), true) => check_iccid(i)?,
        (None, false) => {}
    }
    validity(r.validity_seconds, 0)?;
    Ok(r)
}

/// `POST /esm2m/v1/euiccs/{eid}/operations`: 202 with the operation, or the platform's refusal.
#[utoipa::path(post, path = "/esm2m/v1/euiccs/{eid}/operations", tag = "Operations",
    params(("eid" = String, Path, description = "EID of one of the owner's eUICCs", example = "89049999001000000000000000000143"),
        ("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a repeat of the same request answers the first answer; the same key with another request is a 422")),
    request_body(content = OperationRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Started; its progress at `Location`", body = OperationView,
            headers(("Location" = String, description = "`/esm2m/v1/operations/{id}`"))),
        (status = 400, description = "Invalid body or Idempotency-Key (SGP.02 codes when the platform found it)", body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `operate`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such eUICC among the owner's (8.1.1/3.9)", body = ApiProblem, content_type = "application/problem+json"),
        (status = 409, description = "The platform refused the action (profile state, POL2: …/3.8)", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "No such profile on the eUICC (8.2.1/3.9), or the Idempotency-Key answered another request", body = ApiProblem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers,
        (status = 503, description = "The SM-SR cannot reach eUICCs (no ES5 transport)", body = ApiProblem, content_type = "application/problem+json")),
    security(("bearer" = ["operate"])))]
pub(super) async fn post_operation(
    req: HttpRequest,
    body: web::Bytes,
    smsr: web::Data<Arc<Smsr>>,
    eid: web::Path<String>,
) -> HttpResponse {
    let eid = eid.into_inner();
    idempotency::post(
        &req,
        body,
        &smsr,
        parse_operation,
        move |c, smsr, owner: &Owner, r: &OperationRequest, now| {
            require_own_euicc(c, &owner.oid, &eid)?;
            let valid_until = validity(r.validity_seconds, now).map_err(Box::new)?;
            let op = eis_store::savepoint(c, |c| {
                start_action(
                    c,
                    smsr,
                    &owner.oid,
                    &eid,
                    r.action,
                    r.iccid.as_deref(),
                    valid_until,
                )
            })?;
            let view = operation_view(c, &owner.oid, op.id)?.ok_or_else(|| {
                TxFail::from(super::internal(format!("operation {} not readable", op.id)))
            })?;
            Answer::json(
                StatusCode::ACCEPTED,
                &view,
                Some(format!("{BASE_PATH}/operations/{}", op.id)),
            )
        },
    )
    .await
}

impl From<Box<ApiProblem>> for TxFail {
    fn from(p: Box<ApiProblem>) -> TxFail {
        TxFail::Problem(p)
    }
}

/// `GET /esm2m/v1/operations/{id}`: one of the owner's operations.
#[utoipa::path(get, path = "/esm2m/v1/operations/{id}", tag = "Operations",
    params(("id" = i64, Path, description = "Operation id", example = 42)),
    responses(
        (status = 200, description = "The operation and, once it has ended, its result", body = OperationView),
        (status = 403, description = "The token lacks scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such operation among the owner's", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["read"])))]
pub(super) async fn get_operation(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    id: web::Path<String>,
) -> HttpResponse {
    let id = id.into_inner();
    handle(&req, &smsr, Scope::Read, move |o, c| {
        let Ok(n) = id.parse::<i64>() else {
            return Err(not_found_operation(&id));
        };
        operation_view(c, &o.oid, n)
            .map_err(store_problem)?
            .ok_or_else(|| not_found_operation(&id))
    })
    .await
}
