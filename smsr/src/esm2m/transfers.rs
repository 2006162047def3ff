//! eUICC transfers (issue 12 item 1, "eUICCs assigned to an owner … or the API"): an owner hands some of its
//! eUICCs to another eUICC owner of the same SM-SR, e.g. a service provider to the enterprise customer that
//! now runs those devices. `POST /esm2m/v1/euicc-transfers` (scope admin), all or nothing, in one transaction:
//!
//! - every EID must be the caller's (an eUICC of another owner and an unknown one get the same 404, so that an
//!   owner cannot probe another fleet through transfers either);
//! - none may have an operation under way (409 naming them): its result and events belong to the owner that
//!   started it, so the caller waits for it, or cancels the fleet operation whose targets they are;
//! - the receiving owner must be a registered entity of role eUICC-owner (422 otherwise).
//!
//! From the commit on, the eUICCs are the receiver's: the caller's tokens no longer see them, fleet targets of
//! the caller not yet started on them fail as not the caller's eUICCs (8.1.1/3.9), and their later events go to
//! the receiver. The ownership change is the same as `rsp owner assign` makes ([`owners::assign_euiccs`]).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use eis_store::{AnyConnection, StoreError, operations, owners};
use serde::{Deserialize, Serialize};

use super::fleet::check_eids;
use super::idempotency::{self, Answer, ApiProblem, TxFail};
use super::{Owner, Scope, problem};
use crate::service::Smsr;

/// Most EIDs in one transfer.
pub const MAX_EIDS: usize = 100_000;

/// Largest request body: 100,000 EIDs as JSON strings take about 3.5 MB.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// How many of the refused EIDs an answer names.
const NAMED: usize = 20;

/// The body of `POST /esm2m/v1/euicc-transfers`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"toOwner": "1.3.6.1.4.1.4242.90.2",
    "eids": ["89049999001000000000000000000143", "89049999001000000000000000000144"]}))]
pub struct TransferRequest {
    /// The eUICC owner (OID) that receives the eUICCs.
    pub to_owner: String,
    /// The caller's eUICCs to hand over (EIDs of 32 digits; at most 100,000, no repeats).
    #[schema(min_items = 1, max_items = 100000)]
    pub eids: Vec<String>,
}

/// What a transfer did.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"fromOwner": "1.3.6.1.4.1.4242.90.1", "toOwner": "1.3.6.1.4.1.4242.90.2",
    "transferred": 2}))]
pub struct TransferView {
    /// The owner that handed the eUICCs over (the caller).
    pub from_owner: String,
    /// The owner that has them now.
    pub to_owner: String,
    /// How many eUICCs changed hands.
    pub transferred: usize,
}

/// Checks a transfer request without the store (400 with what is wrong).
pub fn check_request(body: &[u8]) -> Result<TransferRequest, ApiProblem> {
    let r: TransferRequest = idempotency::json_body(body)?;
    if r.to_owner.trim().is_empty() {
        return Err(super::bad_request("toOwner is empty".into()).into());
    }
    check_eids(&r.eids, MAX_EIDS)?;
    Ok(r)
}

/// EIDs as a refusal names them: the first [`NAMED`] and how many more.
fn named(eids: &[String]) -> String {
    let shown = eids
        .iter()
        .take(NAMED)
        .map(String::as_str)
        .collect::<Vec<_>>();
    match eids.len().saturating_sub(NAMED) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Runs a checked transfer in the request's transaction.
fn transfer(
    c: &mut AnyConnection,
    _smsr: &Smsr,
    owner: &Owner,
    r: &TransferRequest,
    now: i64,
) -> Result<Answer, TxFail> {
    if r.to_owner == owner.oid {
        return Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "same-owner",
            "The eUICCs are already the receiver's",
            "toOwner is the caller: nothing to transfer".into(),
        )
        .into());
    }
    let not_owned = owners::not_owned_by(c, &owner.oid, &r.eids)?;
    if !not_owned.is_empty() {
        return Err(problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such eUICC",
            format!(
                "{} of the eUICCs named are not among yours; nothing was transferred: {}",
                not_owned.len(),
                named(&not_owned)
            ),
        )
        .into());
    }
    let busy = operations::with_open_among(c, &r.eids)?;
    if !busy.is_empty() {
        return Err(problem(
            StatusCode::CONFLICT,
            "operation-under-way",
            "An operation is under way on some of the eUICCs",
            format!(
                "{} of the eUICCs have an operation under way; nothing was transferred (repeat once they \
                 have ended): {}",
                busy.len(),
                named(&busy)
            ),
        )
        .into());
    }
    match owners::assign_euiccs(c, &r.to_owner, &r.eids, now) {
        Ok(done) => {
            tracing::info!(
                from = %owner.oid,
                to = %r.to_owner,
                eids = done.moved,
                "eUICCs transferred"
            );
            Answer::json(
                StatusCode::OK,
                &TransferView {
                    from_owner: owner.oid.clone(),
                    to_owner: r.to_owner.clone(),
                    transferred: done.moved,
                },
                None,
            )
        }
        Err(StoreError::NotFound { .. } | StoreError::InvalidArgument { .. }) => Err(problem(
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown-owner",
            "The receiver is no eUICC owner",
            format!(
                "{} is not a registered eUICC owner of this SM-SR",
                r.to_owner
            ),
        )
        .into()),
        Err(e) => Err(e.into()),
    }
}

/// `POST /esm2m/v1/euicc-transfers`: 200 with what changed hands.
#[utoipa::path(post, path = "/esm2m/v1/euicc-transfers", tag = "eUICCs",
    request_body = TransferRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 visible ASCII characters: a repeat of the same request answers the first answer; the same key with another request is a 422")),
    responses(
        (status = 200, description = "The eUICCs are the receiver's", body = TransferView),
        (status = 400, description = "A malformed body (no EIDs, more than 100,000, not 32 digits, one named twice, empty toOwner) or Idempotency-Key", body = ApiProblem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `admin`", body = ApiProblem, content_type = "application/problem+json"),
        (status = 404, description = "Some of the eUICCs are not the caller's (or do not exist); nothing was transferred", body = ApiProblem, content_type = "application/problem+json"),
        (status = 409, description = "An operation is under way on some of the eUICCs; nothing was transferred", body = ApiProblem, content_type = "application/problem+json"),
        (status = 422, description = "The receiver is the caller or no registered eUICC owner, or the Idempotency-Key answered another request", body = ApiProblem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["admin"])))]
pub(super) async fn post_transfer(
    req: HttpRequest,
    body: web::Bytes,
    smsr: web::Data<Arc<Smsr>>,
) -> HttpResponse {
    idempotency::post_scoped(&req, body, &smsr, Scope::Admin, check_request, transfer).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_before_the_store() {
        let eid = |i: u32| {
            format!(
                "{:032}",
                89049999001000000000000000000000u128 + u128::from(i)
            )
        };
        let ok = serde_json::json!({"toOwner": "1.2.3", "eids": [eid(1), eid(2)]}).to_string();
        let r = check_request(ok.as_bytes()).expect("valid");
        assert_eq!((r.to_owner.as_str(), r.eids.len()), ("1.2.3", 2));
        for (bad, why) in [
            (
                serde_json::json!({"toOwner": "1.2.3", "eids": []}),
                "eids is empty",
            ),
            (
                serde_json::json!({"toOwner": " ", "eids": [eid(1)]}),
                "toOwner is empty",
            ),
            (
                serde_json::json!({"toOwner": "1.2.3", "eids": ["123"]}),
                "not an EID",
            ),
            (
                serde_json::json!({"toOwner": "1.2.3", "eids": [eid(1), eid(1)]}),
                "named twice",
            ),
            (
                serde_json::json!({"toOwner": "1.2.3", "eids": [eid(1)], "x": 1}),
                "x",
            ),
            (serde_json::json!({"eids": [eid(1)]}), "toOwner"),
        ] {
            let p = check_request(bad.to_string().as_bytes()).expect_err("refused");
            assert_eq!(p.problem.status, 400, "{bad}");
            assert!(
                p.problem.detail.contains(why),
                "{bad}: {}",
                p.problem.detail
            );
        }
        let many: Vec<String> = (0..=MAX_EIDS as u32).map(eid).collect();
        let p = check_request(
            serde_json::json!({"toOwner": "1.2.3", "eids": many})
                .to_string()
                .as_bytes(),
        )
        .expect_err("too many");
        assert!(
            p.problem.detail.contains("at most 100000"),
            "{}",
            p.problem.detail
        );
    }

    #[test]
    fn refusals_name_twenty_eids_and_count_the_rest() {
        let eids: Vec<String> = (0..25).map(|i| format!("{i:032}")).collect();
        let text = named(&eids);
        assert!(text.ends_with(" and 5 more"), "{text}");
        assert_eq!(text.matches(", ").count(), 19);
        assert_eq!(named(&eids[..2]), format!("{}, {}", eids[0], eids[1]));
    }
}
