//! The REST twins of the ES2/ES4 functions (design §1: every function also offered as REST/JSON; issue 12 item
//! 4): the server's `/api/v1/` module builds the function's request element from the path and JSON body
//! ([`es_interfaces::rest::RequestElement`]), and this module runs it through the same pipeline as SOAP —
//! caller by TLS client certificate with the interface's role, the same strict decoder, the same function-call
//! record and function ([`crate::soap_endpoint::invoke`]) — then shows the outcome as JSON:
//!
//! - a synchronous success: `200` [`FunctionResult`];
//! - an accepted asynchronous call: `202` [`Accepted`] with `Location: <base>/function-calls/<id>`, the
//!   [`FunctionCallView`] the MNO reads the result from (a SOAP callback goes to `replyTo` only when the
//!   request named one);
//! - a refusal or a FAILED/EXPIRED outcome: RFC 9457 `application/problem+json` [`Problem`] whose
//!   `sgp02Status` carries the SGP.02 subject and reason codes a SOAP caller would get.
//!
//! `Idempotency-Key` is the FunctionCallIdentifier (a fresh UUID without it): repeating a request with the
//! same key and body answers from the record; the same key with another request is 1.6/3.3 (409).

use std::sync::{Arc, OnceLock};

use actix_web::http::StatusCode;
use actix_web::http::header::LOCATION;
use actix_web::{HttpRequest, HttpResponse, web};
use eis_store::function_calls;
use es_interfaces::messages::codec::XmlContent;
use es_interfaces::rest::{RequestElement, XsdShape};
use es_interfaces::soap::{SgpUri, SoapVersion, WsaHeaders, action};
use es_interfaces::status::{FunctionExecutionStatus, Status, StatusCodeData};
use es_interfaces::wsdl::Service;
use es_interfaces::xml::Document;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::caller::{Caller, CallerError};
use crate::soap_endpoint::{
    Endpoint, Invoked, Reply, ServerContext, SoapFunctions, function_name, invoke,
};
use crate::tls::PeerCertificate;

/// The header that carries the FunctionCallIdentifier of a REST call.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// Longest `Idempotency-Key` accepted.
pub const MAX_KEY_LEN: usize = 128;

/// SGP.02 status code data (§5.1.6.3) in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"subjectCode": "8.1.1", "reasonCode": "3.9", "message": "the eUICC 89049999001000000000000000000143 is unknown"}))]
pub struct Sgp02Status {
    /// Subject code, e.g. `8.1.1` (EID).
    pub subject_code: String,
    /// Reason code, e.g. `3.9` (Unknown).
    pub reason_code: String,
    /// Identifier of the element concerned, when the function names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_identifier: Option<String>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<&StatusCodeData> for Sgp02Status {
    fn from(d: &StatusCodeData) -> Self {
        Sgp02Status {
            subject_code: d.subject.code().to_string(),
            reason_code: d.reason.code().to_string(),
            subject_identifier: d.subject_identifier.clone(),
            message: d.message.clone(),
        }
    }
}

/// An RFC 9457 problem detail; refused and failed functions add the SGP.02 status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"type": "urn:rsp:problem:function-failed", "title": "The function failed",
    "status": 404, "detail": "the eUICC 89049999001000000000000000000143 is unknown",
    "function": "ES4.EnableProfile", "functionCallIdentifier": "6f1c0c5e-3c9a-4d3e-a4f4-2a0d1d43a7b1",
    "executionStatus": "FAILED",
    "sgp02Status": {"subjectCode": "8.1.1", "reasonCode": "3.9", "message": "the eUICC 89049999001000000000000000000143 is unknown"}}))]
pub struct Problem {
    /// A URI naming the problem type (`urn:rsp:problem:<slug>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What happened in this case.
    pub detail: String,
    /// The function (`ES4.EnableProfile`), when the request named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// The call's FunctionCallIdentifier, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_call_identifier: Option<String>,
    /// `FAILED` or `EXPIRED` (SGP.02 §5.1.6.2), for a function that ran or was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_status: Option<String>,
    /// The SGP.02 subject and reason codes a SOAP caller gets for the same request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sgp02_status: Option<Sgp02Status>,
}

impl Problem {
    /// A problem without SGP.02 status.
    pub fn new(status: StatusCode, slug: &str, title: &str, detail: impl Into<String>) -> Self {
        Problem {
            kind: format!("urn:rsp:problem:{slug}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            function: None,
            function_call_identifier: None,
            execution_status: None,
            sgp02_status: None,
        }
    }

    /// A `400 invalid-request` problem.
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid-request",
            "The request is invalid",
            detail,
        )
    }

    /// The problem for a function that was refused or ended FAILED/EXPIRED with `status`.
    pub fn function(
        status: &FunctionExecutionStatus,
        function: Option<String>,
        fci: Option<String>,
    ) -> Self {
        let data = status.status_code_data.as_ref();
        let http = data.map_or(StatusCode::UNPROCESSABLE_ENTITY, http_status_of);
        let detail = data
            .and_then(|d| d.message.clone())
            .unwrap_or_else(|| format!("the function ended {}", status.status));
        Problem {
            function,
            function_call_identifier: fci,
            execution_status: Some(status.status.as_str().to_string()),
            sgp02_status: data.map(Sgp02Status::from),
            ..Problem::new(http, "function-failed", "The function failed", detail)
        }
    }

    /// The problem as an answer.
    pub fn answer(&self) -> TwinAnswer {
        TwinAnswer {
            status: self.status,
            content_type: "application/problem+json",
            body: serde_json::to_vec(self).unwrap_or_default(),
            location: None,
        }
    }
}

/// The HTTP status of an SGP.02 refusal: 1.1 requester codes 403, format errors (2.x) 400, Unknown (3.9) 404,
/// Already in use / Refused / Invalid destination (3.3, 3.8, 3.10) 409, an execution error of the function
/// provider itself (1.2/4.2) 503, anything else (card errors, verification, expiry) 422.
pub fn http_status_of(d: &StatusCodeData) -> StatusCode {
    match (d.subject.code(), d.reason.code()) {
        (_, "1.1" | "1.2") => StatusCode::FORBIDDEN,
        (_, r) if r.starts_with("2.") => StatusCode::BAD_REQUEST,
        (_, "3.9") => StatusCode::NOT_FOUND,
        (_, "3.3" | "3.8" | "3.10") => StatusCode::CONFLICT,
        ("1.2", "4.2" | "4.4") => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    }
}

/// The result of a function that executed (`EXECUTED_SUCCESS` or `EXECUTED_WITHWARNING`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"function": "ES4.GetEIS", "functionCallIdentifier": "6f1c0c5e-3c9a-4d3e-a4f4-2a0d1d43a7b1",
    "executionStatus": "EXECUTED_SUCCESS",
    "response": {"Eis": {"EumSignedInfo": {"Eid": "89049999001000000000000000000143", "Eum-Id": "1.3.6.1.4.1.99999.3"},
        "ProfileInfo": [{"Iccid": "8949990000000000028", "State": "Disabled"}]}}}))]
pub struct FunctionResult {
    /// The function, e.g. `ES4.GetEIS`.
    pub function: String,
    /// The call's FunctionCallIdentifier (the `Idempotency-Key`).
    pub function_call_identifier: String,
    /// `EXECUTED_SUCCESS` or `EXECUTED_WITHWARNING`.
    pub execution_status: String,
    /// The warning's SGP.02 codes, for `EXECUTED_WITHWARNING`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sgp02_status: Option<Sgp02Status>,
    /// The SGP.02 response element as JSON without its FunctionExecutionStatus: element names as in the XSD,
    /// text as strings, repeatable elements as arrays.
    #[schema(value_type = Object)]
    pub response: serde_json::Value,
}

/// One POL2 rule of the profile (subject PROFILE), SGP.02 §2.4.5, as the ES2 and ES4 twins take it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pol2RuleBody {
    /// `ENABLE`, `DISABLE` or `DELETE`.
    pub action: String,
    /// `Not-Allowed` or `Auto-Delete`.
    pub qualification: String,
}

/// Appends the `pol2` element of UpdatePolicyRules (SGP.02 §5.3.3, §5.5) holding `rules`, each with subject PROFILE.
pub fn pol2_element(e: RequestElement, rules: &[Pol2RuleBody]) -> RequestElement {
    let mut e = e.open("pol2");
    for r in rules {
        e = e
            .open("Rule")
            .field("Subject", "PROFILE")
            .field("Action", &r.action)
            .field("Qualification", &r.qualification)
            .close();
    }
    e.close()
}

/// Appends the `newSubscriptionAddress` element of UpdateSubscriptionAddress (SGP.02 §5.3.4, §5.5).
pub fn subscription_address_element(
    e: RequestElement,
    imsi: Option<&str>,
    msisdn: Option<&str>,
) -> RequestElement {
    e.open("newSubscriptionAddress")
        .opt("Imsi", imsi)
        .opt("Msisdn", msisdn)
        .close()
}

/// An accepted asynchronous call: its result is read at `location` (and sent to `replyTo` if given).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"function": "ES4.EnableProfile", "functionCallIdentifier": "6f1c0c5e-3c9a-4d3e-a4f4-2a0d1d43a7b1",
    "state": "InProgress", "location": "/api/v1/function-calls/6f1c0c5e-3c9a-4d3e-a4f4-2a0d1d43a7b1"}))]
pub struct Accepted {
    /// The function.
    pub function: String,
    /// The call's FunctionCallIdentifier.
    pub function_call_identifier: String,
    /// `InProgress`.
    pub state: String,
    /// Path of the function-call resource.
    pub location: String,
}

/// The answers of an accepted asynchronous function (SGP.02 §2.3.2) in the OpenAPI documents: `202` and, for a
/// repeated `Idempotency-Key` of a completed call, `200` with its result.
#[derive(utoipa::IntoResponses)]
pub enum AsyncAnswers {
    /// Accepted; the result follows at `location` (and at `replyTo` if given).
    #[response(status = 202)]
    Accepted(Accepted),
    /// A repeated Idempotency-Key of a completed call: its result.
    #[response(status = 200)]
    Repeated(FunctionResult),
}

/// The refusals of a REST twin in the OpenAPI documents: problem+json carrying the SGP.02 status codes
/// (§5.1.6.3) a SOAP caller would get ([`http_status_of`]).
#[derive(utoipa::IntoResponses)]
pub enum ProblemAnswers {
    /// Invalid request: bad path, body or header (1.6/2.x, 8.1.1/2.1, …).
    #[response(status = 400, content_type = "application/problem+json")]
    Invalid(Problem),
    /// The caller is not allowed this interface, function or object (1.1/1.x, …/1.2).
    #[response(status = 403, content_type = "application/problem+json")]
    NotAllowed(Problem),
    /// An object named in the request is unknown, or is not the caller's (…/3.9).
    #[response(status = 404, content_type = "application/problem+json")]
    Unknown(Problem),
    /// Refused in the object's state, by policy rules (…/3.8, POL2) or because the Idempotency-Key was used for
    /// another request (1.6/3.3).
    #[response(status = 409, content_type = "application/problem+json")]
    Refused(Problem),
    /// The body is too large.
    #[response(status = 413, content_type = "application/problem+json")]
    TooLarge(Problem),
    /// The function failed otherwise (FAILED or EXPIRED with its codes).
    #[response(status = 422, content_type = "application/problem+json")]
    Failed(Problem),
    /// The server could not complete the request (a storage or network fault; try again).
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// A function call of the caller as recorded (SGP.02 §5.1.6; design §3 step 1), SOAP or REST alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"function": "ES4.EnableProfile", "functionCallIdentifier": "6f1c0c5e-3c9a-4d3e-a4f4-2a0d1d43a7b1",
    "interface": "ES4", "state": "Completed", "receivedAt": "2026-12-06T00:10:00.000Z", "completedAt": "2026-12-06T00:10:04.120Z",
    "executionStatus": "EXECUTED_SUCCESS", "response": {}}))]
pub struct FunctionCallView {
    /// The function.
    pub function: String,
    /// Its FunctionCallIdentifier.
    pub function_call_identifier: String,
    /// The interface (`ES2`, `ES4`).
    pub interface: String,
    /// `InProgress` or `Completed`.
    pub state: String,
    /// When it was received (RFC 3339).
    pub received_at: String,
    /// When its result was recorded (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// The outcome (`EXECUTED_SUCCESS`, `EXECUTED_WITHWARNING`, `FAILED`, `EXPIRED`), once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_status: Option<String>,
    /// Its SGP.02 codes, for anything but `EXECUTED_SUCCESS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sgp02_status: Option<Sgp02Status>,
    /// The response element as JSON (as in [`FunctionResult`]), once completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub response: Option<serde_json::Value>,
}

/// What a REST twin call produced, built on the blocking pool (an `HttpResponse` is not `Send`).
#[derive(Debug, Clone)]
pub struct TwinAnswer {
    /// HTTP status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: Vec<u8>,
    /// `Location` header.
    pub location: Option<String>,
}

impl TwinAnswer {
    /// A JSON answer.
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => TwinAnswer {
                status: status.as_u16(),
                content_type: "application/json",
                body,
                location: None,
            },
            Err(e) => internal(e).answer(),
        }
    }

    /// The HTTP response.
    pub fn response(self) -> HttpResponse {
        let mut b = HttpResponse::build(
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        );
        if let Some(l) = self.location {
            b.insert_header((LOCATION, l));
        }
        b.content_type(self.content_type).body(self.body)
    }
}

/// The problem for a failure of the server itself (logged; no detail given out).
pub fn internal(e: impl std::fmt::Display) -> Problem {
    tracing::error!(error = %e, "REST request failed");
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "The server could not complete the request",
        "internal error; see the server's log; try again later",
    )
}

/// Runs `work` on the blocking pool (the store is synchronous) and answers with its outcome.
pub async fn respond<F>(work: F) -> HttpResponse
where
    F: FnOnce() -> TwinAnswer + Send + 'static,
{
    match web::block(work).await {
        Ok(a) => a.response(),
        Err(e) => internal(e).answer().response(),
    }
}

/// The FunctionCallIdentifier of a REST call: its `Idempotency-Key` (1 to 128 printable ASCII characters), or a
/// fresh UUID.
pub fn idempotency_key(req: &HttpRequest) -> Result<String, Box<Problem>> {
    let Some(v) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(uuid::Uuid::new_v4().to_string());
    };
    let key = v
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| {
            !k.is_empty() && k.len() <= MAX_KEY_LEN && k.bytes().all(|b| b.is_ascii_graphic())
        })
        .ok_or_else(|| {
            Problem::bad_request(format!(
                "{IDEMPOTENCY_KEY}: 1 to {MAX_KEY_LEN} printable ASCII characters without spaces"
            ))
        })?;
    Ok(key.to_string())
}

/// Parses a JSON request body (an empty body is `{}`).
pub fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Problem>> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body)
        .map_err(|e| Box::new(Problem::bad_request(format!("JSON body: {e}"))))
}

/// A REST call of a function, built by the server's module from the path and JSON body.
#[derive(Debug, Clone)]
pub struct TwinRequest {
    /// The request element ([`es_interfaces::rest::RequestElement`]), decoded as a SOAP body would be.
    pub request_xml: String,
    /// Its FunctionCallIdentifier (the `Idempotency-Key`).
    pub function_call_identifier: String,
    /// Where the SOAP callback goes (`wsa:ReplyTo`), if anywhere.
    pub reply_to: Option<String>,
}

/// `ES4-EnableProfileRequest` → `ES4.EnableProfile`.
fn display_name(element: &str) -> String {
    function_name(element).replacen('-', ".", 1)
}

/// The shapes of the ES2 and ES4 messages (which children repeat), for the JSON view.
fn shape() -> &'static XsdShape {
    static SHAPE: OnceLock<XsdShape> = OnceLock::new();
    SHAPE.get_or_init(|| XsdShape::of(&[Service::Es4SmSr, Service::Es2SmDp]))
}

/// A response element's FunctionExecutionStatus and JSON view.
fn response_json(xml: &str) -> Result<(FunctionExecutionStatus, serde_json::Value), Box<Problem>> {
    let doc = Document::parse(xml.as_bytes()).map_err(internal)?;
    let root = doc.root();
    let status_el = root
        .child_elements()
        .find(|c| c.local_name() == "FunctionExecutionStatus")
        .ok_or_else(|| internal("a response without FunctionExecutionStatus"))?;
    let status = FunctionExecutionStatus::decode_element(status_el, "FunctionExecutionStatus")
        .map_err(internal)?;
    // A response with nothing but its status is the empty object, not an empty string.
    let view = match shape().to_json(root, &["FunctionExecutionStatus"]) {
        v @ serde_json::Value::Object(_) => v,
        _ => serde_json::Value::Object(serde_json::Map::new()),
    };
    Ok((status, view))
}

/// Resolves the caller of a REST twin by its TLS client certificate, for `endpoint`'s interface and role.
pub fn resolve_caller<S: ServerContext>(
    f: &S,
    cert: Option<&PeerCertificate>,
    endpoint: Endpoint,
) -> Result<Caller, Box<Problem>> {
    f.callers()
        .resolve(f.store(), cert, endpoint.interface)
        .map_err(|e| {
            Box::new(match e {
                CallerError::Store(e) => internal(e),
                e => Problem::function(
                    &FunctionExecutionStatus::failed(e.status_code_data()),
                    None,
                    None,
                ),
            })
        })
}

/// The REST call of an asynchronous function (SGP.02 §2.3: answered at once, the result later): reads the
/// `Idempotency-Key` and the JSON body, builds the request element with `element` (from the key and the body;
/// it also gives the `wsa:ReplyTo`, if any) and runs it as [`call`] does, on the blocking pool.
pub async fn asynchronous<S, T, F>(
    req: HttpRequest,
    server: Arc<S>,
    endpoint: Endpoint,
    base: &'static str,
    payload: web::Payload,
    element: F,
) -> HttpResponse
where
    S: SoapFunctions + Send + Sync + 'static,
    T: serde::de::DeserializeOwned,
    F: FnOnce(&str, &T) -> (String, Option<String>),
{
    let prepared = async {
        let key = idempotency_key(&req)?;
        let body = read_body(payload, MAX_JSON_BYTES).await?;
        let options: T = parse_body(&body)?;
        let (request_xml, reply_to) = element(&key, &options);
        Ok::<_, Box<Problem>>(TwinRequest {
            request_xml,
            function_call_identifier: key,
            reply_to,
        })
    }
    .await;
    match prepared {
        Ok(t) => {
            let cert = peer_certificate(&req);
            respond(move || call(&*server, cert.as_ref(), endpoint, base, t)).await
        }
        Err(p) => p.answer().response(),
    }
}

/// Runs a REST call of a function of `endpoint` (blocking): caller, decoder, record and function as for SOAP.
/// `base` is the API's path prefix (`/api/v1`), for the `Location` of an accepted call.
pub fn call<S: SoapFunctions>(
    f: &S,
    cert: Option<&PeerCertificate>,
    endpoint: Endpoint,
    base: &str,
    request: TwinRequest,
) -> TwinAnswer {
    call_inner(f, cert, endpoint, base, request).unwrap_or_else(|p| p.answer())
}

fn call_inner<S: SoapFunctions>(
    f: &S,
    cert: Option<&PeerCertificate>,
    endpoint: Endpoint,
    base: &str,
    request: TwinRequest,
) -> Result<TwinAnswer, Box<Problem>> {
    let caller = resolve_caller(f, cert, endpoint)?;
    let fci = request.function_call_identifier.clone();
    let doc = Document::parse(request.request_xml.as_bytes()).map_err(internal)?;
    let body = doc.root();
    let element = body.local_name().to_string();
    let function = display_name(&element);
    let decoded = f.decode(endpoint, body).map_err(|e| {
        tracing::info!(caller = %caller.oid, error = %e, "REST request refused by the decoder");
        Problem::function(
            &e.function_execution_status(),
            Some(function.clone()),
            Some(fci.clone()),
        )
    })?;
    let now = f.clock().now();
    let wsa = WsaHeaders {
        to: Some(SgpUri::parse(&f.identity().service_url(endpoint.service))),
        from: None,
        reply_to: request.reply_to.as_deref().map(SgpUri::parse),
        fault_to: None,
        message_id: Some(SgpUri::parse(&f.identity().new_message_id(now))),
        action: action::for_element(&element).map(|a| a.request.to_string()),
        relates_to: None,
    };
    match invoke(
        f,
        &caller,
        endpoint,
        &wsa,
        SoapVersion::V1_2,
        body,
        &decoded,
    ) {
        Invoked::Refused { status, .. } => Err(Box::new(Problem::function(
            &status,
            Some(function),
            Some(fci),
        ))),
        Invoked::Reply(Reply { http_status, body }) if http_status == 202 && body.is_empty() => {
            let location = format!("{base}/function-calls/{}", path_segment(&fci));
            let mut a = TwinAnswer::json(
                StatusCode::ACCEPTED,
                &Accepted {
                    function,
                    function_call_identifier: fci,
                    state: "InProgress".into(),
                    location: location.clone(),
                },
            );
            a.location = Some(location);
            Ok(a)
        }
        Invoked::Reply(reply) => {
            let (status, response) = response_json(&reply.body)?;
            match status.status {
                Status::ExecutedSuccess | Status::ExecutedWithWarning => Ok(TwinAnswer::json(
                    StatusCode::OK,
                    &FunctionResult {
                        function,
                        function_call_identifier: fci,
                        execution_status: status.status.as_str().to_string(),
                        sgp02_status: status.status_code_data.as_ref().map(Sgp02Status::from),
                        response,
                    },
                )),
                Status::Failed | Status::Expired => Err(Box::new(Problem::function(
                    &status,
                    Some(function),
                    Some(fci),
                ))),
            }
        }
    }
}

/// `GET <base>/function-calls/{id}`: the caller's call with this FunctionCallIdentifier on `endpoint`'s
/// interface, as recorded (blocking). Another caller's call, or one never made, is the same 404.
pub fn function_call<S: ServerContext>(
    f: &S,
    cert: Option<&PeerCertificate>,
    endpoint: Endpoint,
    fci: &str,
) -> TwinAnswer {
    let run = || -> Result<TwinAnswer, Box<Problem>> {
        let caller = resolve_caller(f, cert, endpoint)?;
        let mut conn = f.store().conn().map_err(internal)?;
        let call = function_calls::find_call(&mut conn, &caller.oid, fci)
            .map_err(internal)?
            .filter(|c| c.call.interface == endpoint.interface.name)
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    "No such function call",
                    format!("no function call {fci} of yours"),
                )
            })?;
        let mut view = FunctionCallView {
            function: display_name(&call.call.function_name),
            function_call_identifier: call.call.function_call_id.clone(),
            interface: call.call.interface.clone(),
            state: "InProgress".into(),
            received_at: rfc3339(call.received_at),
            completed_at: call.completed_at.map(rfc3339),
            execution_status: None,
            sgp02_status: None,
            response: None,
        };
        if let Some(r) = &call.response {
            let (status, response) = response_json(&r.body)?;
            view.state = "Completed".into();
            view.execution_status = Some(status.status.as_str().to_string());
            view.sgp02_status = status.status_code_data.as_ref().map(Sgp02Status::from);
            view.response = Some(response);
        }
        Ok(TwinAnswer::json(StatusCode::OK, &view))
    };
    run().unwrap_or_else(|p| p.answer())
}

/// Unix milliseconds as RFC 3339.
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters kept).
fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The caller's TLS client certificate of a request.
pub fn peer_certificate(req: &HttpRequest) -> Option<PeerCertificate> {
    req.conn_data::<PeerCertificate>().cloned()
}

/// Reads a request body of at most `limit` bytes (413 problem beyond).
pub async fn read_body(payload: web::Payload, limit: usize) -> Result<Vec<u8>, Problem> {
    match payload.to_bytes_limited(limit).await {
        Ok(Ok(b)) => Ok(b.to_vec()),
        Ok(Err(e)) => Err(Problem::bad_request(format!("request body: {e}"))),
        Err(_) => Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            "The request body is too large",
            format!("at most {limit} bytes"),
        )),
    }
}

/// Largest JSON body of a REST twin call.
pub const MAX_JSON_BYTES: usize = 64 << 10;

/// The `mutualTLS` security scheme (OpenAPI 3.1) of the APIs on the mutual-TLS listeners: the caller is the
/// registered entity owning the TLS client certificate.
#[derive(Debug, Clone, Copy)]
pub struct MutualTlsSecurity;

/// Name of the security scheme [`MutualTlsSecurity`] adds.
pub const MUTUAL_TLS: &str = "mutualTLS";

impl utoipa::Modify for MutualTlsSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{SecurityRequirement, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            MUTUAL_TLS,
            SecurityScheme::MutualTls {
                description: Some(
                    "TLS client certificate of a registered entity (the MNO's, as for SOAP)".into(),
                ),
                deprecated: None,
                extensions: None,
            },
        );
        openapi.security = Some(vec![SecurityRequirement::new(
            MUTUAL_TLS,
            Vec::<String>::new(),
        )]);
    }
}

/// Answers `GET …/openapi.json` with a document.
pub fn openapi_response(doc: &utoipa::openapi::OpenApi) -> HttpResponse {
    match doc.to_json() {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/json")
            .body(body),
        Err(e) => internal(e).answer().response(),
    }
}

/// Path- and query-extraction errors as `400` problems (instead of actix's plain-text answers).
pub fn extractor_errors() -> (web::PathConfig, web::QueryConfig) {
    let path = web::PathConfig::default().error_handler(|e, _| {
        let p = Problem::bad_request(e.to_string());
        actix_web::error::InternalError::from_response(e, p.answer().response()).into()
    });
    let query = web::QueryConfig::default().error_handler(|e, _| {
        let p = Problem::bad_request(e.to_string());
        actix_web::error::InternalError::from_response(e, p.answer().response()).into()
    });
    (path, query)
}

/// The answer for a path under the API that has no resource.
pub async fn not_found() -> HttpResponse {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "No such resource",
        "no REST resource at this path and method",
    )
    .answer()
    .response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use es_interfaces::status::{Reason, Subject};

    #[test]
    fn sgp02_codes_map_to_http_statuses() {
        let s = |subject: Subject, reason: Reason| {
            http_status_of(&StatusCodeData::new(subject, reason, None)).as_u16()
        };
        assert_eq!(s(Subject::EID, Reason::UNKNOWN), 404);
        assert_eq!(s(Subject::FUNCTION_REQUESTER, Reason::NOT_ALLOWED), 403);
        assert_eq!(s(Subject::FUNCTION, Reason::ALREADY_IN_USE), 409);
        assert_eq!(s(Subject::FUNCTION, Reason::INVALID), 400);
        assert_eq!(s(Subject::PROFILE_ICCID, Reason::REFUSED), 409);
        assert_eq!(s(Subject::FUNCTION_PROVIDER, Reason::EXECUTION_ERROR), 503);
        assert_eq!(s(Subject::ISD_R, Reason::EXECUTION_ERROR), 422);
    }

    #[test]
    fn function_names_and_segments() {
        assert_eq!(
            display_name("ES4-EnableProfileRequest"),
            "ES4.EnableProfile"
        );
        assert_eq!(path_segment("a b/c-1"), "a%20b%2Fc-1");
    }
}
