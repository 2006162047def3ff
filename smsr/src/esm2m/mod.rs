//! ESM2M, the eUICC owner's REST API on the SM-SR (design §1): bearer-token authentication, the read resources,
//! operations on one eUICC ([`operations`]) and fleet operations ([`fleet`]). Served under `/esm2m/v1/` on a
//! TLS listener of its own that asks for no client certificate; the caller is the eUICC owner whose API token
//! the `Authorization: Bearer` header carries, and it sees its own eUICCs only. Errors are RFC 9457
//! `application/problem+json`.
//!
//! | method and path | scope | what |
//! |---|---|---|
//! | `GET /esm2m/v1/euiccs[?limit=&after=&enabledMno=]` | read | the owner's eUICCs, by EID, a page at a time |
//! | `GET /esm2m/v1/euiccs/{eid}` | read | one of the owner's eUICCs with its profiles |
//! | `GET /esm2m/v1/events[?after=&limit=&types=]` | read | the owner's events after a cursor ([`events`]) |
//! | `…/webhooks…` | admin | webhook endpoints, deliveries, replays ([`webhooks`]) |
//! | `POST /esm2m/v1/euicc-transfers` | admin | hand some of the owner's eUICCs to another owner ([`transfers`]) |
//! | `POST /esm2m/v1/euiccs/{eid}/operations` | operate | an operation on one eUICC ([`operations`]) |
//! | `GET /esm2m/v1/operations/{id}` | read | one of the owner's operations and its result |
//! | `POST /esm2m/v1/fleet-operations` | operate | a fleet operation ([`fleet`]) |
//! | `GET /esm2m/v1/fleet-operations[?limit=&before=]` | read | the owner's fleet operations |
//! | `GET /esm2m/v1/fleet-operations/{id}` | read | one fleet operation and its counts by state |
//! | `GET /esm2m/v1/fleet-operations/{id}/targets[.csv][?state=&after=&limit=]` | read | per-target results |
//! | `POST /esm2m/v1/fleet-operations/{id}/{pause,resume,cancel}` | operate | stop, continue, end the starts |
//! | `GET /esm2m/v1/openapi.json` | — | the OpenAPI 3.1 document ([`openapi`]) |
//!
//! Every POST takes an `Idempotency-Key` header ([`idempotency`]).
//!
//! A token is `esm2m_` followed by 32 random bytes in unpadded base64url; the store keeps only the SHA-256 of
//! those bytes. A refused request (401, 403) changes nothing; an accepted one records the token's last use (to the
//! minute).

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use eis_store::owners::{self, OwnedEuicc, TokenRecord};
use eis_store::{AnyConnection, StoreError, UnixMillis};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::service::Smsr;

pub mod events;
pub mod fleet;
pub mod idempotency;
pub mod openapi;
pub mod operations;
pub mod transfers;
pub mod webhooks;

/// Path prefix of the API.
pub const BASE_PATH: &str = "/esm2m/v1";

/// What every token starts with, so that a leaked one is recognisable (secret scanners, logs).
pub const TOKEN_PREFIX: &str = "esm2m_";

/// Random bytes in a token.
const TOKEN_BYTES: usize = 32;

/// Characters of their unpadded base64url text (checked before anything is decoded).
const TOKEN_TEXT_LEN: usize = TOKEN_BYTES.div_ceil(3) * 4 - 1;

/// How stale a token's recorded last use may be (ms): it is written at most once a minute.
pub const LAST_USE_RESOLUTION_MS: i64 = 60_000;

/// Page size of `GET /euiccs` without `limit`.
pub const DEFAULT_PAGE: i64 = 100;

/// Largest `limit` of `GET /euiccs`.
pub const MAX_PAGE: i64 = 1000;

/// What a token allows (ESM2M, design §1). Scopes are not nested: a token holds each one it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Reading the owner's eUICCs, operations and events.
    Read,
    /// Starting operations on the owner's eUICCs.
    Operate,
    /// Managing the owner's webhooks.
    Admin,
}

impl Scope {
    /// The scope's name (as given to `rsp owner token create --scopes` and stored).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Operate => "operate",
            Scope::Admin => "admin",
        }
    }

    /// Parses a comma-separated list of scopes (at least one; repeats are merged); the stored form is
    /// [`scopes_text`] of the result.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, TokenError> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope = match part {
                "read" => Scope::Read,
                "operate" => Scope::Operate,
                "admin" => Scope::Admin,
                other => return Err(TokenError::UnknownScope(other.to_string())),
            };
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        if out.is_empty() {
            return Err(TokenError::NoScope);
        }
        out.sort();
        Ok(out)
    }
}

/// The stored text of a list of scopes: comma-separated names.
pub fn scopes_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Errors of token handling.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The text is not `esm2m_` and 43 base64url characters encoding 32 bytes.
    #[error("not an ESM2M token (expected {TOKEN_PREFIX} and 43 base64url characters)")]
    Malformed,
    /// A scope name that is not read, operate or admin.
    #[error("unknown scope {0:?} (read, operate, admin)")]
    UnknownScope(String),
    /// An empty list of scopes.
    #[error("a token needs at least one scope (read, operate, admin)")]
    NoScope,
    /// The system's random generator failed.
    #[error("no random bytes for a token: {0}")]
    Random(String),
}

/// An API token in clear: shown once when created, never stored (only [`ApiToken::hash`] is).
pub struct ApiToken(Zeroizing<[u8; TOKEN_BYTES]>);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken([redacted])")
    }
}

impl ApiToken {
    /// A new token of 32 bytes from the system's cryptographic random generator.
    pub fn generate() -> Result<ApiToken, TokenError> {
        let mut bytes = Zeroizing::new([0u8; TOKEN_BYTES]);
        openssl::rand::rand_bytes(bytes.as_mut_slice())
            .map_err(|e| TokenError::Random(e.to_string()))?;
        Ok(ApiToken(bytes))
    }

    /// Parses the text form (`esm2m_…`).
    pub fn parse(text: &str) -> Result<ApiToken, TokenError> {
        let body = text
            .strip_prefix(TOKEN_PREFIX)
            .filter(|b| b.len() == TOKEN_TEXT_LEN)
            .ok_or(TokenError::Malformed)?;
        let decoded = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(body)
                .map_err(|_| TokenError::Malformed)?,
        );
        let bytes: [u8; TOKEN_BYTES] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| TokenError::Malformed)?;
        Ok(ApiToken(Zeroizing::new(bytes)))
    }

    /// The text form given to the owner.
    pub fn text(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{TOKEN_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(self.0.as_slice())
        ))
    }

    /// SHA-256 of the random bytes: what the store keeps and looks tokens up by.
    pub fn hash(&self) -> [u8; 32] {
        openssl::sha::sha256(self.0.as_slice())
    }
}

/// An RFC 9457 problem detail.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"type": "urn:rsp:problem:not-found", "title": "No such eUICC", "status": 404,
    "detail": "no eUICC 89049999001000000000000000000143 among yours"}))]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the type.
    #[schema(value_type = String)]
    pub title: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
}

pub(crate) fn problem(
    status: StatusCode,
    slug: &str,
    title: &'static str,
    detail: String,
) -> Problem {
    Problem {
        kind: format!("urn:rsp:problem:{slug}"),
        title,
        status: status.as_u16(),
        detail,
    }
}

impl Problem {
    fn response(&self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut b = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3.1: no error code when the request carried no credentials at all.
            b.insert_header((
                WWW_AUTHENTICATE,
                if self.kind.ends_with(":token-missing") {
                    "Bearer realm=\"esm2m\""
                } else {
                    "Bearer realm=\"esm2m\", error=\"invalid_token\""
                },
            ));
        }
        b.content_type("application/problem+json").json(self)
    }
}

fn unauthorized(detail: &str) -> Problem {
    problem(
        StatusCode::UNAUTHORIZED,
        "token-invalid",
        "A valid API token is needed",
        detail.to_string(),
    )
}

pub(crate) fn internal(detail: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %detail, "ESM2M request failed");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "The SM-SR could not complete the request",
        "internal error; see the SM-SR's log".into(),
    )
}

pub(crate) fn store(e: StoreError) -> Problem {
    internal(e)
}

/// The owner a request acts for, once its token is accepted.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The owner's OID.
    pub oid: String,
    /// The id of the token used.
    pub token_id: i64,
}

/// Checks the `Authorization` header against the stored tokens at `now`: 401 for a missing, malformed,
/// unknown, revoked or expired token, 403 for one without `needed`; on success records the token's use.
pub fn authenticate(
    smsr: &Smsr,
    authorization: Option<&str>,
    needed: Scope,
    now: UnixMillis,
) -> Result<Owner, Problem> {
    let mut conn = smsr.store.conn().map_err(store)?;
    let (owner, used) = check_token(&mut conn, authorization, needed, now)?;
    drop(conn);
    if used {
        record_use(smsr, &owner, now)?;
    }
    Ok(owner)
}

/// [`authenticate`] on `conn`, without recording the use: returns the owner and whether its last use is to be
/// recorded ([`record_use`]).
fn check_token(
    conn: &mut AnyConnection,
    authorization: Option<&str>,
    needed: Scope,
    now: UnixMillis,
) -> Result<(Owner, bool), Problem> {
    let Some(header) = authorization else {
        return Err(problem(
            StatusCode::UNAUTHORIZED,
            "token-missing",
            "A valid API token is needed",
            "no Authorization header; send `Authorization: Bearer <token>`".into(),
        ));
    };
    let Some(text) = header
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
    else {
        return Err(unauthorized(
            "the Authorization header is not `Bearer <token>`",
        ));
    };
    let token = ApiToken::parse(text).map_err(|e| unauthorized(&e.to_string()))?;
    let record: TokenRecord = owners::token_by_hash(conn, &token.hash())
        .map_err(store)?
        .ok_or_else(|| unauthorized("the token is not known"))?;
    if record.revoked_at.is_some() {
        return Err(unauthorized("the token has been revoked"));
    }
    if now >= record.expires_at {
        return Err(unauthorized("the token has expired"));
    }
    let scopes = Scope::parse_list(&record.scopes).map_err(internal)?;
    if !scopes.contains(&needed) {
        return Err(problem(
            StatusCode::FORBIDDEN,
            "insufficient-scope",
            "The token does not allow this",
            format!(
                "this request needs scope `{}`; the token has `{}`",
                needed.as_str(),
                record.scopes
            ),
        ));
    }
    // The last use is kept to the minute: a read (e.g. progress polled many times a second) does not queue
    // for the database's write lock each time.
    let used = record
        .last_used_at
        .is_none_or(|t| now.saturating_sub(t) >= LAST_USE_RESOLUTION_MS);
    Ok((
        Owner {
            oid: record.owner_oid,
            token_id: record.id,
        },
        used,
    ))
}

/// Records the use of `owner`'s token at `now` (in a transaction of its own: call it with no connection held).
fn record_use(smsr: &Smsr, owner: &Owner, now: UnixMillis) -> Result<(), Problem> {
    smsr.store
        .tx(|c| owners::touch_token(c, owner.token_id, now))
        .map_err(store)?;
    Ok(())
}

/// One profile as the owner sees it.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView {
    /// ICCID.
    pub iccid: String,
    /// `Created`, `Disabled` or `Enabled` (A1 `ProfileInfo/State`).
    pub state: String,
    /// OID of the profile's MNO.
    pub mno_id: String,
    /// Whether it is the fall-back profile.
    pub fallback: bool,
}

/// One eUICC as the owner sees it.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"eid": "89049999001000000000000000000143", "platformType": "rsp-simulated-euicc",
    "platformVersion": "1.0.0", "lastAuditDate": null, "enabledIccid": "8949990000000000010",
    "profiles": [{"iccid": "8949990000000000010", "state": "Enabled", "mnoId": "1.3.6.1.4.1.99999.5", "fallback": true}]}))]
pub struct EuiccView {
    /// EID.
    pub eid: String,
    /// Platform type.
    pub platform_type: String,
    /// Platform version.
    pub platform_version: String,
    /// Last audit (RFC 3339), if any.
    pub last_audit_date: Option<String>,
    /// ICCID of the enabled profile, if any.
    pub enabled_iccid: Option<String>,
    /// Profiles by ICCID.
    pub profiles: Vec<ProfileView>,
}

/// A page of the owner's eUICCs.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EuiccPage {
    /// The eUICCs, by EID.
    pub items: Vec<EuiccView>,
    /// The `after` of the next page; absent on the last one.
    pub next: Option<String>,
}

pub(crate) fn rfc3339(ms: UnixMillis) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    t.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn view(e: OwnedEuicc) -> EuiccView {
    let enabled_iccid = e
        .profiles
        .iter()
        .find(|p| p.state == eis_store::eis::ProfileState::Enabled)
        .map(|p| p.iccid.clone());
    EuiccView {
        eid: e.eid,
        platform_type: e.platform_type,
        platform_version: e.platform_version,
        last_audit_date: e.last_audit_date.and_then(rfc3339),
        enabled_iccid,
        profiles: e
            .profiles
            .into_iter()
            .map(|p| ProfileView {
                iccid: p.iccid,
                state: p.state.as_str().to_string(),
                mno_id: p.mno_id,
                fallback: p.fallback,
            })
            .collect(),
    }
}

/// Query of `GET /euiccs`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Page size, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The `next` of the previous page (exclusive).
    after: Option<String>,
    /// Only eUICCs whose enabled profile is this MNO's (OID).
    enabled_mno: Option<String>,
}

pub(crate) fn bad_request(detail: String) -> Problem {
    problem(
        StatusCode::BAD_REQUEST,
        "bad-request",
        "The request is not valid",
        detail,
    )
}

/// `GET /esm2m/v1/euiccs`: a page of the owner's eUICCs.
pub fn list_euiccs(
    conn: &mut AnyConnection,
    owner: &Owner,
    query_string: &str,
) -> Result<EuiccPage, Problem> {
    let q: ListQuery = web::Query::<ListQuery>::from_query(query_string)
        .map_err(|e| bad_request(format!("query: {e}")))?
        .into_inner();
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let mut eids = owners::owned_eids(
        conn,
        &owner.oid,
        q.after.as_deref(),
        limit + 1,
        q.enabled_mno.as_deref(),
    )
    .map_err(store)?;
    let more = eids.len() as i64 > limit;
    eids.truncate(limit as usize);
    let next = more.then(|| eids.last().cloned()).flatten();
    let items = owners::owned_euiccs(conn, &eids)
        .map_err(store)?
        .into_iter()
        .map(view)
        .collect();
    Ok(EuiccPage { items, next })
}

/// `GET /esm2m/v1/euiccs/{eid}`: one of the owner's eUICCs. Not registered and not the owner's are the same
/// 404, so that an owner cannot learn about another fleet.
pub fn get_euicc(conn: &mut AnyConnection, owner: &Owner, eid: &str) -> Result<EuiccView, Problem> {
    let not_found = || {
        problem(
            StatusCode::NOT_FOUND,
            "not-found",
            "No such eUICC",
            format!("no eUICC {eid} among yours"),
        )
    };
    if owners::owner_of(conn, eid).map_err(store)?.as_deref() != Some(owner.oid.as_str()) {
        return Err(not_found());
    }
    owners::owned_euiccs(conn, &[eid.to_string()])
        .map_err(store)?
        .into_iter()
        .next()
        .map(view)
        .ok_or_else(not_found)
}

/// Authenticates and runs read `f` on the blocking pool (the store is synchronous), both on one connection
/// of the store's read pool ([`eis_store::Store::read_conn`]), and answers with its JSON: under load the reads
/// (progress polled while a fleet runs) queued behind the workers for the main pool, once for the token and
/// once for the read.
async fn handle<T, F>(
    req: &HttpRequest,
    smsr: &web::Data<Arc<Smsr>>,
    needed: Scope,
    f: F,
) -> HttpResponse
where
    T: Serialize + Send + 'static,
    F: FnOnce(&Owner, &mut AnyConnection) -> Result<T, Problem> + Send + 'static,
{
    let authorization = authorization_header(req);
    let smsr = smsr.get_ref().clone();
    let outcome = web::block(move || {
        let authorization = authorization?;
        let now = smsr.clock.now_millis();
        let mut conn = smsr.store.read_conn().map_err(store)?;
        let (owner, used) = check_token(&mut conn, authorization.as_deref(), needed, now)?;
        let body = f(&owner, &mut conn)?;
        drop(conn);
        if used {
            record_use(&smsr, &owner, now)?;
        }
        serde_json::to_vec(&body).map_err(internal)
    })
    .await;
    respond(outcome, StatusCode::OK)
}

/// The `Authorization` header as text (absent: `None`; not text: the 401 problem).
pub(crate) fn authorization_header(req: &HttpRequest) -> Result<Option<String>, Problem> {
    match req.headers().get(AUTHORIZATION).map(|v| v.to_str()) {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v.to_string())),
        Some(Err(_)) => Err(unauthorized(
            "the Authorization header is not `Bearer <token>`",
        )),
    }
}

/// The answer of a handler's blocking part: its JSON with `status` (`204 No Content` without a body), or its
/// problem.
fn respond(
    outcome: Result<Result<Vec<u8>, Problem>, actix_web::error::BlockingError>,
    status: StatusCode,
) -> HttpResponse {
    match outcome {
        Ok(Ok(_)) if status == StatusCode::NO_CONTENT => HttpResponse::NoContent().finish(),
        Ok(Ok(body)) => HttpResponse::build(status)
            .content_type("application/json")
            .body(body),
        Ok(Err(p)) => p.response(),
        Err(e) => internal(e).response(),
    }
}

/// Authenticates, then runs `f` on the blocking pool, which checks out the connections it needs (writes go
/// through [`eis_store::Store::tx`]), and answers `status` with its JSON (`204 No Content` without a body).
pub(crate) async fn handle_with<T, F>(
    req: &HttpRequest,
    smsr: &web::Data<Arc<Smsr>>,
    needed: Scope,
    status: StatusCode,
    f: F,
) -> HttpResponse
where
    T: Serialize + Send + 'static,
    F: FnOnce(&Smsr, &Owner) -> Result<T, Problem> + Send + 'static,
{
    let authorization = authorization_header(req);
    let smsr = smsr.get_ref().clone();
    let outcome = web::block(move || {
        let authorization = authorization?;
        let now = smsr.clock.now_millis();
        let owner = authenticate(&smsr, authorization.as_deref(), needed, now)?;
        let body = f(&smsr, &owner)?;
        serde_json::to_vec(&body).map_err(internal)
    })
    .await;
    respond(outcome, status)
}

/// `GET /esm2m/v1/euiccs`: a page of the owner's eUICCs (scope `read`).
#[utoipa::path(get, path = "/esm2m/v1/euiccs", tag = "eUICCs", params(ListQuery),
    responses((status = 200, description = "A page of the owner's eUICCs", body = EuiccPage),
        (status = 400, description = "Invalid query", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The token lacks scope `read`", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["read"])))]
async fn euiccs(req: HttpRequest, smsr: web::Data<Arc<Smsr>>) -> HttpResponse {
    let query = req.query_string().to_string();
    handle(&req, &smsr, Scope::Read, move |o, c| {
        list_euiccs(c, o, &query)
    })
    .await
}

/// `GET /esm2m/v1/euiccs/{eid}`: one of the owner's eUICCs (scope `read`).
#[utoipa::path(get, path = "/esm2m/v1/euiccs/{eid}", tag = "eUICCs",
    params(("eid" = String, Path, description = "EID", example = "89049999001000000000000000000143")),
    responses((status = 200, description = "The eUICC with its profiles", body = EuiccView),
        (status = 403, description = "The token lacks scope `read`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such eUICC among the owner's", body = Problem, content_type = "application/problem+json"),
        crate::esm2m::openapi::CommonAnswers),
    security(("bearer" = ["read"])))]
async fn euicc(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    eid: web::Path<String>,
) -> HttpResponse {
    let eid = eid.into_inner();
    handle(&req, &smsr, Scope::Read, move |o, c| get_euicc(c, o, &eid)).await
}

/// A path segment that does not parse (e.g. a webhook id that is not a number) names no resource: the 404
/// problem+json of [`unknown_path`], not actix's plain-text one.
fn bad_path(e: actix_web::error::PathError, _: &HttpRequest) -> actix_web::Error {
    let answer = problem(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such resource",
        format!("no such resource: {e}"),
    )
    .response();
    actix_web::error::InternalError::from_response(e, answer).into()
}

async fn unknown_path() -> HttpResponse {
    problem(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such resource",
        format!(
            "the ESM2M API has {BASE_PATH}/euiccs, {BASE_PATH}/euicc-transfers, {BASE_PATH}/operations, {BASE_PATH}/fleet-operations, \
             {BASE_PATH}/events and {BASE_PATH}/webhooks"
        ),
    )
    .response()
}

/// Adds the ESM2M routes to a listener's configuration.
pub fn configure(c: &mut web::ServiceConfig, smsr: Arc<Smsr>) {
    c.app_data(web::Data::new(smsr)).service(
        web::scope(BASE_PATH)
            .app_data(web::PathConfig::default().error_handler(bad_path))
            .route("/euiccs", web::get().to(euiccs))
            .route("/euiccs/{eid}", web::get().to(euicc))
            .service(
                web::resource("/euicc-transfers")
                    .app_data(web::PayloadConfig::new(transfers::MAX_BODY_BYTES))
                    .route(web::post().to(transfers::post_transfer)),
            )
            .route("/events", web::get().to(events::get_events))
            .route("/webhooks", web::post().to(webhooks::post_webhook))
            .route("/webhooks", web::get().to(webhooks::get_webhooks))
            .route("/webhooks/{id}", web::delete().to(webhooks::delete_webhook))
            .route(
                "/webhooks/{id}/deliveries",
                web::get().to(webhooks::get_deliveries),
            )
            .route(
                "/webhooks/{id}/deliveries/{delivery}/replay",
                web::post().to(webhooks::post_replay_delivery),
            )
            .route(
                "/webhooks/{id}/replay",
                web::post().to(webhooks::post_replay_event),
            )
            .route(
                "/euiccs/{eid}/operations",
                web::post().to(operations::post_operation),
            )
            .route("/operations/{id}", web::get().to(operations::get_operation))
            .service(
                web::resource("/fleet-operations")
                    .app_data(web::PayloadConfig::new(fleet::MAX_BODY_BYTES))
                    .route(web::post().to(fleet::post_fleet))
                    .route(web::get().to(fleet::list_fleets)),
            )
            .route("/fleet-operations/{id}", web::get().to(fleet::get_fleet))
            .route(
                "/fleet-operations/{id}/targets",
                web::get().to(fleet::get_targets),
            )
            .route(
                "/fleet-operations/{id}/targets.csv",
                web::get().to(fleet::get_targets_csv),
            )
            .route(
                "/fleet-operations/{id}/{command}",
                web::post().to(fleet::post_command),
            )
            .route("/openapi.json", web::get().to(openapi::serve))
            .default_service(web::to(unknown_path)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_round_trip_and_hash() {
        let t = ApiToken::generate().expect("random");
        let text = t.text();
        assert!(text.starts_with(TOKEN_PREFIX), "{}", text.as_str());
        assert_eq!(text.len(), TOKEN_PREFIX.len() + 43);
        let back = ApiToken::parse(&text).expect("parses");
        assert_eq!(back.hash(), t.hash());
        let other = ApiToken::generate().expect("random");
        assert_ne!(other.hash(), t.hash());
    }

    #[test]
    fn hash_is_sha256_of_the_random_bytes() {
        // 32 zero bytes: AAAA… in base64url; SHA-256 of 32 zero bytes is well known.
        let text = format!("{TOKEN_PREFIX}{}", "A".repeat(43));
        let t = ApiToken::parse(&text).expect("parses");
        assert_eq!(
            hex::encode(t.hash()),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
        assert_eq!(t.text().as_str(), text);
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let good = ApiToken::generate().expect("random").text();
        let body = &good[TOKEN_PREFIX.len()..];
        for bad in [
            String::new(),
            body.to_string(),
            format!("rsp_{body}"),
            format!("{TOKEN_PREFIX}{}", &body[1..]),
            format!("{TOKEN_PREFIX}{body}A"),
            format!("{TOKEN_PREFIX}{}+", &body[1..]),
            format!("{TOKEN_PREFIX}{}", "A".repeat(64 * 1024)),
            format!("{TOKEN_PREFIX}{body}="),
        ] {
            assert_eq!(
                ApiToken::parse(&bad).map(|_| ()),
                Err(TokenError::Malformed),
                "{bad}"
            );
        }
    }

    #[test]
    fn token_debug_hides_the_secret() {
        let t = ApiToken::generate().expect("random");
        let d = format!("{t:?}");
        assert!(!d.contains(&t.text()[TOKEN_PREFIX.len()..]), "{d}");
    }

    #[test]
    fn scopes_parse() {
        assert_eq!(
            Scope::parse_list("admin, read,read"),
            Ok(vec![Scope::Read, Scope::Admin])
        );
        assert_eq!(scopes_text(&[Scope::Read, Scope::Operate]), "read,operate");
        assert_eq!(
            Scope::parse_list("read,write"),
            Err(TokenError::UnknownScope("write".into()))
        );
        assert_eq!(Scope::parse_list(" , "), Err(TokenError::NoScope));
    }
}
