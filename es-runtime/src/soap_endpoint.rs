//! The SOAP function endpoint shared by both servers (SGP.02 Annex B binding; design §3 step 1): parse the
//! envelope, identify the caller by its client certificate, decode the body, record the function call (a
//! repeated FunctionCallIdentifier from the same caller for the same function and request is answered from the
//! record; any other use of a recorded identifier is refused with 1.6/3.3), run the function inside a savepoint
//! of the same transaction, and answer with the response envelope (or 202 for an accepted asynchronous call).
//! Read-only functions (GetEIS) run outside the write transaction and are not recorded: a repeat runs again.
//! Requests without the WS-Addressing headers SGP.02 makes mandatory get a WS-Addressing fault. Faults only
//! for requests that cannot be mapped to a function; never a 500.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use eis_store::function_calls::{self, Begin, CallResponse, NewFunctionCall, Recorded};
use eis_store::{AnyConnection, Store, TxError, savepoint};
use es_interfaces::messages::DecodeError;
use es_interfaces::messages::common::BaseRequest;
use es_interfaces::soap::{
    Envelope, FaultCode, MessageKind, OutgoingHeaders, QuerySeparator, SoapVersion, WsaHeaders,
    action, addressing_header_required_fault, decode_error_fault, entity_address, fault_envelope,
    message_id,
};
use es_interfaces::status::FunctionExecutionStatus;
use es_interfaces::status::{Reason, StatusCodeData, Subject};
use es_interfaces::types::XsDateTime;
use es_interfaces::wsdl::{OperationKind, Service};
use es_interfaces::xml::Element;

use crate::caller::{Caller, CallerDirectory, Interface};
use crate::clock::Clock;
use crate::metrics::{CallStatus, ServerMetrics};
use crate::tls::PeerCertificate;

/// Who a server is on the ES interfaces (SGP.02 Annex B `wsa:From` with `EntityId` and `EntityName`).
#[derive(Debug, Clone)]
pub struct ServerIdentity {
    /// Its OID.
    pub oid: String,
    /// Its name.
    pub name: String,
    /// Base URL of its ES listener, e.g. `https://smsr.example:8443`.
    pub public_url: String,
}

impl ServerIdentity {
    /// The URL of one of its services.
    pub fn service_url(&self, service: Service) -> String {
        format!(
            "{}{}",
            self.public_url.trim_end_matches('/'),
            service.default_path()
        )
    }

    /// Its `wsa:From` address for a service.
    pub fn from_address(&self, service: Service) -> String {
        entity_address(
            &self.service_url(service),
            &self.oid,
            Some(&self.name),
            QuerySeparator::Ampersand,
        )
    }

    /// A fresh `wsa:MessageID`: `//<oid>/urn:uuid:<uuid>` with the MessageDate parameter (Annex B).
    pub fn new_message_id(&self, now: time::OffsetDateTime) -> String {
        message_id(
            &format!("//{}/urn:uuid:{}", self.oid, uuid::Uuid::new_v4()),
            None,
            None,
            Some(&XsDateTime::utc(now)),
            QuerySeparator::Ampersand,
        )
    }
}

/// One SOAP service of a server: the interface (with its admitted role) and its WSDL service.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// Interface and role.
    pub interface: Interface,
    /// The WSDL service, which gives the path.
    pub service: Service,
}

/// The outcome of a function: the response body element and its HTTP status (200 for a synchronous response,
/// 202 with an empty body for an accepted asynchronous call).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub http_status: u16,
    /// The response body element (standalone XML), or empty.
    pub body: String,
}

impl Reply {
    /// A synchronous response.
    pub fn ok(body: String) -> Self {
        Reply {
            http_status: 200,
            body,
        }
    }

    /// An accepted asynchronous call: the result follows as a callback to ReplyTo.
    pub fn accepted() -> Self {
        Reply {
            http_status: 202,
            body: String::new(),
        }
    }
}

/// What a call carries besides its body, handed to the function.
#[derive(Debug, Clone)]
pub struct CallContext<'a> {
    /// The authenticated caller.
    pub caller: &'a Caller,
    /// The endpoint called.
    pub endpoint: Endpoint,
    /// The request's WS-Addressing headers.
    pub wsa: &'a WsaHeaders,
    /// The SOAP version of the request (callbacks answer in the same one).
    pub version: SoapVersion,
    /// The id of the function-call record (0 for a read-only function, which is not recorded).
    pub call_id: i64,
    /// The request's validity deadline (unix ms), if it has a ValidityPeriod.
    pub valid_until: Option<i64>,
    /// The raw body element (for what decoding does not keep, e.g. the signed EIS text).
    pub body: &'a Element,
    /// What [`SoapFunctions::prepare`] returned for this request.
    pub prepared: Option<&'a str>,
}

/// What every SOAP endpoint needs from the server behind it.
pub trait ServerContext: Send + Sync + 'static {
    /// Who the server is.
    fn identity(&self) -> &ServerIdentity;
    /// Its store (function-call records and the entity registry live there).
    fn store(&self) -> &Store;
    /// Caller resolution.
    fn callers(&self) -> &CallerDirectory;
    /// Time.
    fn clock(&self) -> &dyn Clock;
    /// Its metrics (function calls are counted in [`invoke`]).
    fn metrics(&self) -> &ServerMetrics;
}

/// The functions of a server behind its SOAP endpoints.
pub trait SoapFunctions: ServerContext {
    /// A decoded request of any of its interfaces.
    type Request: Send;
    /// Its function error: mapped once to an SGP.02 status; retryable store failures rerun the transaction.
    type Error: TxError + std::error::Error + Send + 'static;

    /// Decodes a body element received on `endpoint`.
    fn decode(&self, endpoint: Endpoint, body: &Element) -> Result<Self::Request, DecodeError>;
    /// The request's base fields (FunctionCallIdentifier, ValidityPeriod).
    fn base<'r>(&self, request: &'r Self::Request) -> &'r BaseRequest;
    /// The request's body element name.
    fn element_name(&self, request: &Self::Request) -> &'static str;
    /// The FAILED response of the function whose request element is `element`, if it can carry only a status.
    fn failed_response(&self, element: &str, status: FunctionExecutionStatus) -> Option<String>;
    /// The SGP.02 status of an error.
    fn status_of(&self, error: &Self::Error) -> FunctionExecutionStatus;
    /// Whether the error is an internal failure (logged as an error) rather than a refusal.
    fn is_internal(&self, error: &Self::Error) -> bool;
    /// Blocking work done before the call is recorded and outside any transaction — e.g. a call to another
    /// server whose answer the function needs, so that no database transaction stays open across it
    /// (design §3). Its text is handed to [`SoapFunctions::run`] in [`CallContext::prepared`]; an error answers
    /// the call with its status without recording it. Default: nothing.
    fn prepare(
        &self,
        _caller: &Caller,
        _request: &Self::Request,
    ) -> Result<Option<String>, Self::Error> {
        Ok(None)
    }
    /// Whether the function only reads: it then runs outside the write transaction and its call is not
    /// recorded (its [`CallContext::call_id`] is 0; a repeated identifier simply runs again), which keeps
    /// SQLite's single writer free for others and the record of calls free of read answers.
    fn read_only(&self, _request: &Self::Request) -> bool {
        false
    }
    /// Runs the function in the caller's transaction (or, for a read-only function, on a plain connection).
    fn run(
        &self,
        conn: &mut AnyConnection,
        ctx: &CallContext<'_>,
        request: &Self::Request,
    ) -> Result<Reply, Self::Error>;
    /// A callback or notification of the endpoint's service that arrives on the function endpoint itself, as on
    /// ES7, where two SM-SRs call each other both ways on one service (SGP.02 §5.7): processed like
    /// [`SoapReceiver::receive`] and acknowledged with `202 Accepted`. `None`: the server takes no one-way
    /// message there (the body is then refused like any unknown request).
    fn receive_one_way(
        &self,
        _caller: &Caller,
        _endpoint: Endpoint,
        _wsa: &WsaHeaders,
        _body: &Element,
    ) -> Option<Result<(), Self::Error>> {
        None
    }
}

/// The receiver of one-way messages on an endpoint: callbacks carrying the result of an asynchronous function
/// (with `wsa:RelatesTo`) and notifications (SGP.02 Annex B). They are acknowledged with `202 Accepted` once
/// processed (and persisted), so the sender retries until then.
pub trait SoapReceiver: ServerContext {
    /// Its error; an error answers with a Sender fault carrying its status (the sender may retry).
    type Error: std::error::Error + Send + 'static;

    /// The SGP.02 status of an error.
    fn status_of(&self, error: &Self::Error) -> FunctionExecutionStatus;
    /// Processes one message from `caller`.
    fn receive(
        &self,
        caller: &Caller,
        endpoint: Endpoint,
        wsa: &WsaHeaders,
        body: &Element,
    ) -> Result<(), Self::Error>;
}

/// Registers one-way endpoints (callbacks and notifications) on an actix `App`.
pub fn configure_receiver<R: SoapReceiver>(
    cfg: &mut web::ServiceConfig,
    receiver: Arc<R>,
    endpoints: &[Endpoint],
    max_body: usize,
) {
    cfg.app_data(web::Data::from(receiver))
        .app_data(web::PayloadConfig::new(max_body));
    for &endpoint in endpoints {
        cfg.service(
            web::resource(endpoint.service.default_path())
                .route(
                    web::post().to(move |req, body, r| one_way_post::<R>(req, body, r, endpoint)),
                )
                .route(web::get().to(move |req, r| receiver_wsdl_get::<R>(req, r, endpoint))),
        );
    }
}

async fn receiver_wsdl_get<R: SoapReceiver>(
    req: HttpRequest,
    r: web::Data<R>,
    endpoint: Endpoint,
) -> HttpResponse {
    wsdl_response(&req, r.identity(), endpoint)
}

async fn one_way_post<R: SoapReceiver>(
    req: HttpRequest,
    body: web::Bytes,
    r: web::Data<R>,
    endpoint: Endpoint,
) -> HttpResponse {
    let hinted = hinted_version(&req);
    let cert = req.conn_data::<PeerCertificate>().cloned();
    let r = r.into_inner();
    let outcome = web::block(move || -> Option<Answer> {
        let env = match Envelope::parse(&body) {
            Ok(env) => env,
            Err(e) => {
                return Some(Answer {
                    status: 400,
                    version: hinted,
                    envelope: e.to_fault(hinted, None),
                });
            }
        };
        let version = env.version();
        let fault = |status: FunctionExecutionStatus, reason: &str| Answer {
            status: 400,
            version,
            envelope: fault_envelope(version, FaultCode::Sender, reason, Some(&status), None),
        };
        let caller = match r
            .callers()
            .resolve(r.store(), cert.as_ref(), endpoint.interface)
        {
            Ok(c) => c,
            Err(e) => {
                return Some(fault(
                    FunctionExecutionStatus::failed(e.status_code_data()),
                    &e.to_string(),
                ));
            }
        };
        match r.receive(&caller, endpoint, env.wsa(), env.body()) {
            Ok(()) => None,
            Err(e) => {
                tracing::info!(caller = %caller.oid, error = %e, "one-way message refused");
                Some(fault(r.status_of(&e), &e.to_string()))
            }
        }
    })
    .await;
    match outcome {
        Ok(None) => HttpResponse::Accepted().finish(),
        Ok(Some(a)) => soap_response(a.status, a.version, a.envelope),
        Err(e) => {
            tracing::error!(error = %e, "SOAP receiver did not complete");
            let envelope = fault_envelope(
                hinted,
                FaultCode::Receiver,
                "the server could not process the message",
                None,
                None,
            );
            soap_response(503, hinted, envelope)
        }
    }
}

/// The function name a request element belongs to (`ES4-GetEISRequest` → `ES4-GetEIS`).
pub fn function_name(element: &str) -> &str {
    element.strip_suffix("Request").unwrap_or(element)
}

/// Registers the endpoints' routes on an actix `App`: POST for calls, GET `?wsdl` for the WSDL, `/health`; a
/// body larger than `max_body` gets 413.
pub fn configure<S: SoapFunctions>(
    cfg: &mut web::ServiceConfig,
    functions: Arc<S>,
    endpoints: &[Endpoint],
    max_body: usize,
) {
    cfg.app_data(web::Data::from(functions))
        .app_data(web::PayloadConfig::new(max_body))
        .route("/health", web::get().to(health));
    for &endpoint in endpoints {
        cfg.service(
            web::resource(endpoint.service.default_path())
                .route(web::post().to(move |req, body, f| soap_post::<S>(req, body, f, endpoint)))
                .route(web::get().to(move |req, f| wsdl_get::<S>(req, f, endpoint))),
        );
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn wsdl_get<S: SoapFunctions>(
    req: HttpRequest,
    f: web::Data<S>,
    endpoint: Endpoint,
) -> HttpResponse {
    wsdl_response(&req, f.identity(), endpoint)
}

/// `GET <service path>?wsdl`: the service's WSDL with this server's address; anything else on GET is 404.
fn wsdl_response(req: &HttpRequest, identity: &ServerIdentity, endpoint: Endpoint) -> HttpResponse {
    if !req.query_string().eq_ignore_ascii_case("wsdl") {
        return HttpResponse::NotFound().finish();
    }
    let address = identity.service_url(endpoint.service);
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(endpoint.service.wsdl(&address))
}

/// The SOAP version a request's Content-Type announces (SOAP 1.2 when it says nothing usable), for answering
/// requests too broken to parse in the version they meant.
fn hinted_version(req: &HttpRequest) -> SoapVersion {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(SoapVersion::from_content_type)
        .unwrap_or(SoapVersion::V1_2)
}

/// An envelope to send back and its HTTP status.
struct Answer {
    status: u16,
    version: SoapVersion,
    envelope: String,
}

/// The HTTP response for a SOAP envelope (captured for conformance checks).
pub fn soap_response(status: u16, version: SoapVersion, envelope: String) -> HttpResponse {
    crate::capture::emitted(&envelope);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    HttpResponse::build(status)
        .insert_header((
            CONTENT_TYPE,
            version.media_type().to_string() + "; charset=utf-8",
        ))
        .body(envelope)
}

async fn soap_post<S: SoapFunctions>(
    req: HttpRequest,
    body: web::Bytes,
    f: web::Data<S>,
    endpoint: Endpoint,
) -> HttpResponse {
    let hinted = hinted_version(&req);
    let cert = req.conn_data::<PeerCertificate>().cloned();
    let f = f.into_inner();
    match web::block(move || handle(&*f, endpoint, cert.as_ref(), &body, hinted)).await {
        Ok(Some(a)) => soap_response(a.status, a.version, a.envelope),
        Ok(None) => HttpResponse::Accepted().finish(),
        Err(e) => {
            tracing::error!(error = %e, "SOAP handler did not complete");
            let envelope = fault_envelope(
                hinted,
                FaultCode::Receiver,
                "the server could not process the request",
                None,
                None,
            );
            soap_response(503, hinted, envelope)
        }
    }
}

/// Handles one SOAP request end to end (blocking). `None` means a bare 202.
fn handle<S: SoapFunctions>(
    f: &S,
    endpoint: Endpoint,
    cert: Option<&PeerCertificate>,
    bytes: &[u8],
    hinted: SoapVersion,
) -> Option<Answer> {
    let env = match Envelope::parse(bytes) {
        Ok(env) => env,
        Err(e) => {
            tracing::info!(error = %e, "unparseable SOAP request");
            return Some(Answer {
                status: 400,
                version: hinted,
                envelope: e.to_fault(hinted, None),
            });
        }
    };
    let version = env.version();
    let wsa = env.wsa();
    let body = env.body();
    let element = body.local_name().to_string();
    let one_way_kind = match endpoint
        .service
        .operation_for_input(&element)
        .map(|o| o.kind)
    {
        Some(OperationKind::Callback) => Some(MessageKind::Response),
        Some(OperationKind::Notification) => Some(MessageKind::Notification),
        _ => None,
    };
    if let Some(kind) = one_way_kind
        && let Some(answer) = one_way(f, endpoint, cert, &env, kind)
    {
        return answer;
    }
    // SGP.02 Annex B: wsa:MessageID is mandatory whatever the MEP; the GSMA WSDL bindings require To, Action
    // and From (the RPS sender) on every request. Refused before anything runs (WS-Addressing 1.0 SOAP
    // Binding §6.4.3 MessageAddressingHeaderRequired).
    let missing = wsa.missing_required(MessageKind::Request);
    if !missing.is_empty() {
        tracing::info!(missing = ?missing, "request without mandatory WS-Addressing headers");
        return Some(Answer {
            status: 400,
            version,
            envelope: addressing_header_required_fault(version, &missing),
        });
    }
    let response_action = action::for_element(&element)
        .and_then(|a| a.response)
        .or_else(|| es_interfaces::messages::es4v4::actions(&element).map(|(_, r)| r))
        .unwrap_or("http://www.w3.org/2005/08/addressing/fault");
    let headers = OutgoingHeaders::reply(
        wsa,
        &f.identity().from_address(endpoint.service),
        f.identity().new_message_id(f.clock().now()),
        response_action,
    );
    let respond = |status: u16, body_xml: &str| Answer {
        status,
        version,
        envelope: es_interfaces::soap::envelope(version, &headers, |w| w.raw(body_xml)),
    };
    let refuse = |status: FunctionExecutionStatus, reason: &str| match f
        .failed_response(&element, status.clone())
    {
        Some(body) => respond(200, &body),
        None => Answer {
            status: 400,
            version,
            envelope: fault_envelope(
                version,
                FaultCode::Sender,
                reason,
                Some(&status),
                Some(&headers),
            ),
        },
    };

    let caller = match f.callers().resolve(f.store(), cert, endpoint.interface) {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(interface = endpoint.interface.name, error = %e, "caller refused");
            return Some(refuse(
                FunctionExecutionStatus::failed(e.status_code_data()),
                &e.to_string(),
            ));
        }
    };
    let request = match f.decode(endpoint, body) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(caller = %caller.oid, error = %e, "request refused by the decoder");
            let failed = e
                .function
                .as_deref()
                .and_then(|func| f.failed_response(func, e.function_execution_status()));
            return Some(match failed {
                Some(body) => respond(200, &body),
                None => Answer {
                    status: 400,
                    version,
                    envelope: decode_error_fault(version, &e, Some(&headers)),
                },
            });
        }
    };
    match invoke(f, &caller, endpoint, wsa, version, body, &request) {
        Invoked::Reply(reply) if reply.body.is_empty() => None,
        Invoked::Reply(reply) => Some(respond(reply.http_status, &reply.body)),
        Invoked::Refused { status, reason } => Some(refuse(status, &reason)),
    }
}

/// A callback or notification on a function endpoint ([`SoapFunctions::receive_one_way`]): `None` when the
/// server takes none there; else `Some` of the answer (`None` inside: a bare 202 once processed).
fn one_way<S: SoapFunctions>(
    f: &S,
    endpoint: Endpoint,
    cert: Option<&PeerCertificate>,
    env: &Envelope,
    kind: MessageKind,
) -> Option<Option<Answer>> {
    let version = env.version();
    let fault = |status: FunctionExecutionStatus, reason: &str| Answer {
        status: 400,
        version,
        envelope: fault_envelope(version, FaultCode::Sender, reason, Some(&status), None),
    };
    let missing = env.wsa().missing_required(kind);
    if !missing.is_empty() {
        return Some(Some(Answer {
            status: 400,
            version,
            envelope: addressing_header_required_fault(version, &missing),
        }));
    }
    let caller = match f.callers().resolve(f.store(), cert, endpoint.interface) {
        Ok(c) => c,
        Err(e) => {
            return Some(Some(fault(
                FunctionExecutionStatus::failed(e.status_code_data()),
                &e.to_string(),
            )));
        }
    };
    match f.receive_one_way(&caller, endpoint, env.wsa(), env.body())? {
        Ok(()) => Some(None),
        Err(e) => {
            tracing::info!(caller = %caller.oid, error = %e, "one-way message refused");
            Some(Some(fault(f.status_of(&e), &e.to_string())))
        }
    }
}

/// What became of a function call, whatever the transport (SOAP, or the REST twins of [`crate::rest_twin`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Invoked {
    /// The function's answer, new or replayed from the record: a response element (which may carry FAILED),
    /// or 202 with an empty body for an accepted asynchronous call.
    Reply(Reply),
    /// Refused before it ran or because it could not run; the transport answers with this status.
    Refused {
        /// The SGP.02 status.
        status: FunctionExecutionStatus,
        /// Why, for the log and the fault.
        reason: String,
    },
}

/// Runs a decoded request of an authenticated caller (design §3 step 1): [`SoapFunctions::prepare`], then the
/// function-call record and the function in one transaction (a repeated FunctionCallIdentifier answered from
/// the record, any other reuse refused with 1.6/3.3). `body` is the request's body element (its digest is
/// compared on a repeat); `wsa` carries the MessageID and ReplyTo recorded with the call. SOAP and the REST
/// twins both come here, so a function runs the same whichever transport carried it; here it is counted in
/// the server's metrics (`rsp_function_calls_total`, `rsp_function_call_duration_seconds`).
pub fn invoke<S: SoapFunctions>(
    f: &S,
    caller: &Caller,
    endpoint: Endpoint,
    wsa: &WsaHeaders,
    version: SoapVersion,
    body: &Element,
    request: &S::Request,
) -> Invoked {
    let started = Instant::now();
    let element = f.element_name(request);
    let span = tracing::info_span!("function", caller = %caller.oid, function = %function_name(element),
        message_id = wsa.message_id.as_ref().map(|m| m.as_str()).unwrap_or(""));
    let _guard = span.enter();
    let (invoked, status) = invoke_inner(f, caller, endpoint, wsa, version, body, request);
    // `ES4-EnableProfile` → `EnableProfile` (the interface is a label of its own).
    let function = function_name(element);
    let function = function.split_once('-').map_or(function, |(_, name)| name);
    f.metrics()
        .observe_call(endpoint.interface.name, function, status, started.elapsed());
    invoked
}

fn invoke_inner<S: SoapFunctions>(
    f: &S,
    caller: &Caller,
    endpoint: Endpoint,
    wsa: &WsaHeaders,
    version: SoapVersion,
    body: &Element,
    request: &S::Request,
) -> (Invoked, CallStatus) {
    let prepared = match f.prepare(caller, request) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(error = %e, "function refused before execution");
            let refused = Invoked::Refused {
                status: f.status_of(&e),
                reason: e.to_string(),
            };
            return (refused, CallStatus::Refused);
        }
    };
    match execute(
        f,
        caller,
        endpoint,
        wsa,
        version,
        body,
        request,
        prepared.as_deref(),
    ) {
        Ok(Executed::Reply(reply, status)) => (Invoked::Reply(reply), status),
        Ok(Executed::IdentifierInUse { first_function }) => {
            let reason = format!(
                "FunctionCallIdentifier {} was already used by this caller for another request ({first_function})",
                f.base(request).function_call_identifier
            );
            tracing::info!(%reason, "repeated FunctionCallIdentifier refused");
            let refused = Invoked::Refused {
                status: identifier_in_use(&reason),
                reason,
            };
            (refused, CallStatus::Refused)
        }
        Err(e) => {
            tracing::error!(error = ?e, "function could not be executed");
            let refused = Invoked::Refused {
                status: f.status_of(&e),
                reason: e.to_string(),
            };
            (refused, CallStatus::Error)
        }
    }
}

/// What became of a call: an answer (new or replayed), or a refusal because its FunctionCallIdentifier was
/// used before by the same caller for another function or another request.
enum Executed {
    Reply(Reply, CallStatus),
    IdentifierInUse { first_function: String },
}

/// FAILED 1.6/3.3 "Already in Use" with SubjectIdentifier FunctionCallIdentifier (SGP.02 §5.1.6.4): the
/// identifier names another call of this caller, which is neither replayed nor run again.
fn identifier_in_use(message: &str) -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed(StatusCodeData {
        subject: Subject::FUNCTION,
        reason: Reason::ALREADY_IN_USE,
        subject_identifier: Some("FunctionCallIdentifier".to_string()),
        message: Some(message.to_string()),
    })
}

/// The digest a repeated call is compared by: SHA-256 (hex) of the request's body element exactly as received
/// (a retry resends the same body; headers such as wsa:MessageID may differ).
pub fn request_digest(body: &Element) -> String {
    hex::encode(openssl::sha::sha256(body.source_text().as_bytes()))
}

/// Records the call (or finds the record of the same FunctionCallIdentifier from the same caller: the same
/// function with the same request is answered from it, anything else is refused), runs the function inside a
/// savepoint, and records the outcome, in one transaction: an acknowledged result is durable, and a crash
/// before the commit leaves nothing behind. A read-only function runs on a plain connection and is not
/// recorded.
#[allow(clippy::too_many_arguments)]
fn execute<S: SoapFunctions>(
    f: &S,
    caller: &Caller,
    endpoint: Endpoint,
    wsa: &WsaHeaders,
    version: SoapVersion,
    body: &Element,
    request: &S::Request,
    prepared: Option<&str>,
) -> Result<Executed, S::Error> {
    let base = f.base(request);
    let element = f.element_name(request);
    let now = f.clock().now_millis();
    let valid_until = base.validity_period.map(|v| {
        now.saturating_add(
            i64::try_from(v.get())
                .unwrap_or(i64::MAX)
                .saturating_mul(1000),
        )
    });
    let call = NewFunctionCall {
        caller_oid: caller.oid.clone(),
        interface: endpoint.interface.name.to_string(),
        function_name: function_name(element).to_string(),
        function_call_id: base.function_call_identifier.clone(),
        message_id: wsa.message_id.as_ref().map(|m| m.as_str().to_string()),
        reply_to: wsa.reply_to.as_ref().map(|r| r.as_str().to_string()),
        valid_until,
        request_digest: request_digest(body),
    };
    // How the function's own error ended the call, for the metrics (none: it answered).
    let failed: Cell<Option<CallStatus>> = Cell::new(None);
    let ran = |reply: Reply| {
        let status = failed.get().unwrap_or(if reply.http_status == 202 {
            CallStatus::Accepted
        } else {
            CallStatus::Executed
        });
        Executed::Reply(reply, status)
    };
    let outcome = |e: S::Error| -> Result<Reply, S::Error> {
        if e.is_retryable() {
            return Err(e);
        }
        if f.is_internal(&e) {
            tracing::error!(error = ?e, "function failed");
            failed.set(Some(CallStatus::Error));
        } else {
            tracing::info!(error = %e, "function refused");
            failed.set(Some(CallStatus::Failed));
        }
        match f.failed_response(element, f.status_of(&e)) {
            Some(body) => Ok(Reply::ok(body)),
            None => Err(e),
        }
    };
    let replay = |response: CallResponse| {
        tracing::info!(fci = %call.function_call_id, "repeated FunctionCallIdentifier answered from the record");
        Executed::Reply(
            Reply {
                http_status: response.http_status,
                body: response.body,
            },
            CallStatus::Replayed,
        )
    };

    if f.read_only(request) {
        // Not recorded: a repeat runs again. An identifier this caller used for a recorded call stays that
        // call's, so a read under it is refused like any other reuse.
        let mut conn = f.store().conn().map_err(S::Error::from)?;
        if let Some(first) =
            function_calls::find_call(&mut conn, &call.caller_oid, &call.function_call_id)?
        {
            return Ok(Executed::IdentifierInUse {
                first_function: first.call.function_name,
            });
        }
        let ctx = CallContext {
            caller,
            endpoint,
            wsa,
            version,
            call_id: 0,
            valid_until,
            body,
            prepared,
        };
        return f.run(&mut conn, &ctx, request).or_else(outcome).map(ran);
    }

    f.store().tx(|conn| {
        // A rerun transaction starts again from nothing.
        failed.set(None);
        match function_calls::begin_call(conn, &call, now)? {
            Begin::Duplicate(Recorded::Completed { response, .. }) => Ok(replay(response)),
            Begin::Duplicate(Recorded::InProgress { .. }) => {
                Ok(Executed::Reply(Reply::accepted(), CallStatus::Replayed))
            }
            Begin::Conflict { function_name, .. } => Ok(Executed::IdentifierInUse {
                first_function: function_name,
            }),
            Begin::New(call_id) => {
                let ctx = CallContext {
                    caller,
                    endpoint,
                    wsa,
                    version,
                    call_id,
                    valid_until,
                    body,
                    prepared,
                };
                let reply = savepoint(conn, |c| f.run(c, &ctx, request)).or_else(outcome)?;
                // An accepted asynchronous call stays in progress until its result is recorded by the worker.
                if reply.http_status != 202 {
                    function_calls::complete_call(
                        conn,
                        call_id,
                        &CallResponse {
                            http_status: reply.http_status,
                            body: reply.body.clone(),
                        },
                        f.clock().now_millis(),
                    )?;
                }
                Ok(ran(reply))
            }
        }
    })
}
