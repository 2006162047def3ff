//! The pipeline of every ESM2M POST: token (scope `operate`), body checked before anything is read or written
//! (a bad one is a 400 that stores nothing), then one transaction that runs the request and, with an
//! `Idempotency-Key` header (IETF draft-ietf-httpapi-idempotency-key-header), records its answer. A repeat of
//! the same request (same owner, key, method, path and body) gets the recorded status and body and does nothing
//! else; the same key with another request is a 422. Only successful (2xx) answers are recorded, so a refused
//! request may be retried with the same key once the cause is gone. An answer that shows a secret once (a
//! webhook's registration) is not kept: a repeat gets 409 `idempotency-key-used`. The key is claimed first in
//! the transaction, so concurrent first uses of one key wait for each other and give one answer.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use eis_store::fleet::{self as store, IdempotentAnswer};
use eis_store::{AnyConnection, StoreError, TxError};
use serde::Serialize;

use super::{Owner, Problem, Scope, authenticate, authorization_header, internal, problem};
use crate::error::SmsrError;
use crate::service::Smsr;

/// The request header naming a POST for idempotency.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;

/// A problem with, for a refusal by the platform, its SGP.02 status code data (`subjectCode`, `reasonCode`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"type": "urn:rsp:problem:refused", "title": "The platform refused the action",
    "status": 409, "detail": "the profile 8949990000000000028 cannot be enabled: it is Enabled",
    "subjectCode": "8.2.1", "reasonCode": "3.8"}))]
pub struct ApiProblem {
    /// The RFC 9457 members.
    #[serde(flatten)]
    pub problem: Problem,
    /// SGP.02 subject code (e.g. `8.2.1`), when the platform refused the action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_code: Option<String>,
    /// SGP.02 reason code (e.g. `3.8`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
}

impl From<Problem> for ApiProblem {
    fn from(problem: Problem) -> ApiProblem {
        ApiProblem {
            problem,
            subject_code: None,
            reason_code: None,
        }
    }
}

impl ApiProblem {
    /// The HTTP answer (`application/problem+json`).
    pub(super) fn response(&self) -> HttpResponse {
        if self.subject_code.is_none() {
            return self.problem.response();
        }
        let status =
            StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        HttpResponse::build(status)
            .content_type("application/problem+json")
            .json(self)
    }

    /// The answer to a platform refusal: the HTTP status by kind, the SGP.02 codes and message.
    pub(super) fn refusal(e: &SmsrError) -> ApiProblem {
        let (status, slug, title) = match e {
            SmsrError::UnknownEid { .. } => (StatusCode::NOT_FOUND, "not-found", "No such eUICC"),
            SmsrError::UnknownIccid { .. } | SmsrError::IccidOnOtherEuicc { .. } => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown-profile",
                "No such profile on the eUICC",
            ),
            SmsrError::ProfileRefused { .. } | SmsrError::Pol2Refused { .. } => (
                StatusCode::CONFLICT,
                "refused",
                "The platform refused the action",
            ),
            SmsrError::NoEs5Transport { .. } => (
                StatusCode::SERVICE_UNAVAILABLE,
                "no-transport",
                "The SM-SR cannot reach eUICCs",
            ),
            SmsrError::Invalid { .. } => (
                StatusCode::BAD_REQUEST,
                "bad-request",
                "The request is not valid",
            ),
            other => return internal(other).into(),
        };
        let d = e.status_code_data();
        ApiProblem {
            problem: problem(status, slug, title, e.to_string()),
            subject_code: Some(d.subject.code().to_string()),
            reason_code: Some(d.reason.code().to_string()),
        }
    }
}

/// Why the transaction of a POST did not commit.
#[derive(Debug)]
pub(super) enum TxFail {
    /// An answer to give (nothing was written).
    Problem(Box<ApiProblem>),
    /// The store failed (retried when transient).
    Store(StoreError),
}

impl From<StoreError> for TxFail {
    fn from(e: StoreError) -> TxFail {
        TxFail::Store(e)
    }
}

impl From<Problem> for TxFail {
    fn from(p: Problem) -> TxFail {
        TxFail::Problem(Box::new(p.into()))
    }
}

impl From<SmsrError> for TxFail {
    fn from(e: SmsrError) -> TxFail {
        match e {
            SmsrError::Store(e) => TxFail::Store(e),
            other => TxFail::Problem(Box::new(ApiProblem::refusal(&other))),
        }
    }
}

impl TxError for TxFail {
    fn is_retryable(&self) -> bool {
        matches!(self, TxFail::Store(e) if e.is_retryable())
    }
}

/// What a POST answers.
pub(super) struct Answer {
    /// HTTP status.
    pub status: StatusCode,
    /// JSON body.
    pub body: String,
    /// `Location` of the resource created or changed.
    pub location: Option<String>,
    /// What a repeat with the same `Idempotency-Key` answers instead of this answer, when the body must not be
    /// kept (it shows a secret once): a 409 problem saying the key was used.
    pub once: bool,
}

impl Answer {
    /// An answer with `body` serialised.
    pub fn json(
        status: StatusCode,
        body: &impl Serialize,
        location: Option<String>,
    ) -> Result<Answer, TxFail> {
        Ok(Answer {
            status,
            body: serde_json::to_string(body).map_err(|e| TxFail::from(internal(e)))?,
            location,
            once: false,
        })
    }
}

/// The recorded answer of a request whose first answer was shown once ([`Answer::once`]).
fn used_once(key: &str) -> Result<String, TxFail> {
    let p: ApiProblem = problem(
        StatusCode::CONFLICT,
        "idempotency-key-used",
        "The Idempotency-Key was used",
        format!(
            "the key {key:?} was answered once with a secret, which is not kept; the request was carried out"
        ),
    )
    .into();
    serde_json::to_string(&p).map_err(|e| TxFail::from(internal(e)))
}

fn bad_key(detail: &str) -> ApiProblem {
    problem(
        StatusCode::BAD_REQUEST,
        "bad-idempotency-key",
        "The Idempotency-Key header is not valid",
        detail.to_string(),
    )
    .into()
}

/// The `Idempotency-Key` of a request: none, or 1 to 255 visible ASCII characters.
fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiProblem> {
    let Some(v) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let text = v
        .to_str()
        .map_err(|_| bad_key("the key must be visible ASCII"))?;
    // The draft's form is a structured-field string ("…"); a bare token is taken as it is.
    let key = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if key.is_empty()
        || key.len() > MAX_KEY_LEN
        || !key.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
    {
        return Err(bad_key(&format!(
            "the key must be 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(Some(key.to_string()))
}

/// SHA-256 of what makes a request the same request: method, path and body.
fn request_hash(req: &HttpRequest, body: &[u8]) -> Vec<u8> {
    let mut h = openssl::sha::Sha256::new();
    h.update(req.method().as_str().as_bytes());
    h.update(b" ");
    h.update(req.path().as_bytes());
    h.update(b"\n");
    h.update(body);
    h.finish().to_vec()
}

/// Runs a POST: authenticates (scope `operate`), parses the body with `parse` (a refusal stores nothing), then
/// in one transaction answers a repeated `Idempotency-Key` from its record or runs `run` and records its answer.
pub(super) async fn post<T, P, F>(
    req: &HttpRequest,
    body: web::Bytes,
    smsr: &web::Data<Arc<Smsr>>,
    parse: P,
    run: F,
) -> HttpResponse
where
    T: Send + 'static,
    P: FnOnce(&[u8]) -> Result<T, ApiProblem> + Send + 'static,
    F: Fn(&mut AnyConnection, &Smsr, &Owner, &T, i64) -> Result<Answer, TxFail> + Send + 'static,
{
    post_scoped(req, body, smsr, Scope::Operate, parse, run).await
}

/// [`post`] for a token with `scope`. The key is claimed first in the transaction
/// ([`store::claim_idempotency_key`]), so that two concurrent first uses of one key give one answer: the second
/// waits for the first and answers from its record.
pub(super) async fn post_scoped<T, P, F>(
    req: &HttpRequest,
    body: web::Bytes,
    smsr: &web::Data<Arc<Smsr>>,
    scope: Scope,
    parse: P,
    run: F,
) -> HttpResponse
where
    T: Send + 'static,
    P: FnOnce(&[u8]) -> Result<T, ApiProblem> + Send + 'static,
    F: Fn(&mut AnyConnection, &Smsr, &Owner, &T, i64) -> Result<Answer, TxFail> + Send + 'static,
{
    let authorization = authorization_header(req);
    let key = idempotency_key(req);
    let hash = request_hash(req, &body);
    let smsr = smsr.get_ref().clone();
    let outcome = web::block(move || -> Result<Answer, ApiProblem> {
        let authorization = authorization?;
        let now = smsr.clock.now_millis();
        let owner = authenticate(&smsr, authorization.as_deref(), scope, now)?;
        let key = key?;
        let parsed = parse(&body)?;
        let result = smsr.store.tx(|c| {
            if let Some(k) = &key
                && !store::claim_idempotency_key(c, &owner.oid, k, &hash, now)?
                && let Some(first) = store::idempotent_answer(c, &owner.oid, k)?
            {
                if first.request_hash != hash {
                    return Err(TxFail::Problem(Box::new(
                        problem(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "idempotency-key-reused",
                            "The Idempotency-Key was used for another request",
                            format!(
                                "the key {k:?} answered a different request (method, path or body); use a new key"
                            ),
                        )
                        .into(),
                    )));
                }
                if first.status == 0 {
                    return Err(TxFail::Problem(Box::new(
                        problem(
                            StatusCode::CONFLICT,
                            "idempotency-key-in-progress",
                            "A request with this Idempotency-Key is in progress",
                            format!("the key {k:?} is being answered; repeat the request later"),
                        )
                        .into(),
                    )));
                }
                return Ok(Answer {
                    status: StatusCode::from_u16(first.status).unwrap_or(StatusCode::OK),
                    body: first.body,
                    location: None,
                    once: false,
                });
            }
            let answer = run(c, &smsr, &owner, &parsed, now)?;
            if let Some(k) = &key {
                if answer.status.is_success() {
                    let (status, body) = if answer.once {
                        (StatusCode::CONFLICT, used_once(k)?)
                    } else {
                        (answer.status, answer.body.clone())
                    };
                    store::record_idempotent_answer(
                        c,
                        &owner.oid,
                        k,
                        &IdempotentAnswer {
                            request_hash: hash.clone(),
                            status: status.as_u16(),
                            body,
                        },
                    )?;
                } else {
                    store::release_idempotency_key(c, &owner.oid, k)?;
                }
            }
            Ok(answer)
        });
        smsr.wake.fleet.notify_one();
        smsr.wake.outbox.notify_one();
        match result {
            Ok(a) => Ok(a),
            Err(TxFail::Problem(p)) => Err(*p),
            Err(TxFail::Store(e)) => Err(internal(e).into()),
        }
    })
    .await;
    match outcome {
        Ok(Ok(a)) => {
            let mut b = HttpResponse::build(a.status);
            if let Some(l) = a.location {
                b.insert_header((LOCATION, l));
            }
            let ctype = if a.status.is_success() {
                "application/json"
            } else {
                "application/problem+json"
            };
            b.content_type(ctype).body(a.body)
        }
        Ok(Err(p)) => p.response(),
        Err(e) => internal(e).response(),
    }
}

/// Parses a JSON body into `T` (unknown members refused by `T`): 400 problem+json naming what is wrong.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiProblem> {
    serde_json::from_slice(body).map_err(|e| {
        problem(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "The request is not valid",
            format!("body: {e}"),
        )
        .into()
    })
}
