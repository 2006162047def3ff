//! The SM-SR's HTTP surface (SGP.02 Annex B SOAP binding): one mutual-TLS listener serving ES1, ES3, ES4 and
//! ES7 at the GSMA service paths, their WSDLs at `<path>?wsdl`, and `/health`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{HttpRequest, HttpResponse, web};
use es_interfaces::soap::{
    Envelope, OutgoingHeaders, QuerySeparator, SoapVersion, decode_error_fault, entity_address, fault_envelope,
    message_id,
};
use es_interfaces::soap::{FaultCode, action};
use es_interfaces::status::FunctionExecutionStatus;
use es_interfaces::types::XsDateTime;
use es_interfaces::wsdl::Service;
use es_runtime::tls::PeerCertificate;

use crate::caller::Interface;
use crate::functions::{self, Request, failed_response};
use crate::service::Smsr;

/// The WSDL service of each interface the SM-SR provides.
pub fn service_of(interface: Interface) -> Service {
    match interface {
        Interface::Es1 => Service::Es1SmSr,
        Interface::Es3 => Service::Es3SmSr,
        Interface::Es4 => Service::Es4SmSr,
        Interface::Es7 => Service::Es7SmSr,
    }
}

/// Every interface the SM-SR serves.
pub const INTERFACES: [Interface; 4] = [Interface::Es1, Interface::Es3, Interface::Es4, Interface::Es7];

/// Registers the SM-SR's routes on an actix `App`, with `max_body` as the request size limit (larger → 413).
pub fn configure(cfg: &mut web::ServiceConfig, smsr: Arc<Smsr>, max_body: usize) {
    cfg.app_data(web::Data::from(smsr))
        .app_data(web::PayloadConfig::new(max_body))
        .route("/health", web::get().to(health));
    for interface in INTERFACES {
        let path = service_of(interface).default_path();
        cfg.service(
            web::resource(path)
                .route(web::post().to(move |req, body, smsr| soap_post(req, body, smsr, interface)))
                .route(web::get().to(move |req, smsr| wsdl_get(req, smsr, interface))),
        );
    }
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn wsdl_get(req: HttpRequest, smsr: web::Data<Smsr>, interface: Interface) -> HttpResponse {
    if !req.query_string().eq_ignore_ascii_case("wsdl") {
        return HttpResponse::NotFound().finish();
    }
    let service = service_of(interface);
    let address = format!("{}{}", smsr.identity.public_url.trim_end_matches('/'), service.default_path());
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(service.wsdl(&address))
}

/// An envelope to send back and its HTTP status.
struct Answer {
    status: u16,
    version: SoapVersion,
    envelope: String,
}

impl Answer {
    fn into_response(self) -> HttpResponse {
        es_runtime::capture::emitted(&self.envelope);
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let content_type = match self.version {
            SoapVersion::V1_2 => "application/soap+xml; charset=utf-8",
            SoapVersion::V1_1 => "text/xml; charset=utf-8",
        };
        HttpResponse::build(status)
            .insert_header((CONTENT_TYPE, content_type))
            .body(self.envelope)
    }
}

async fn soap_post(
    req: HttpRequest,
    body: web::Bytes,
    smsr: web::Data<Smsr>,
    interface: Interface,
) -> HttpResponse {
    let hinted = req
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(SoapVersion::from_content_type)
        .unwrap_or(SoapVersion::V1_2);
    let cert = req.conn_data::<PeerCertificate>().cloned();
    let smsr = smsr.into_inner();
    let answer = web::block(move || handle(&smsr, interface, cert.as_ref(), &body, hinted)).await;
    match answer {
        Ok(Some(answer)) => answer.into_response(),
        Ok(None) => HttpResponse::Accepted().finish(),
        Err(e) => {
            tracing::error!(error = %e, "SOAP handler did not complete");
            let envelope = fault_envelope(
                hinted,
                FaultCode::Receiver,
                "the SM-SR could not process the request",
                None,
                None,
            );
            Answer {
                status: 503,
                version: hinted,
                envelope,
            }
            .into_response()
        }
    }
}

fn new_message_id(smsr: &Smsr) -> String {
    let now = XsDateTime::utc(smsr.clock.now());
    message_id(
        &format!("//{}/urn:uuid:{}", smsr.identity.oid, uuid::Uuid::new_v4()),
        None,
        None,
        Some(&now),
        QuerySeparator::Ampersand,
    )
}

/// Handles one SOAP request end to end (blocking: runs on the blocking pool). `None` means a bare 202.
fn handle(
    smsr: &Smsr,
    interface: Interface,
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
    let service = service_of(interface);
    let from = entity_address(
        &format!("{}{}", smsr.identity.public_url.trim_end_matches('/'), service.default_path()),
        &smsr.identity.oid,
        Some(&smsr.identity.name),
        QuerySeparator::Ampersand,
    );
    let response_action = action::for_element(&element)
        .and_then(|a| a.response)
        .unwrap_or("http://gsma.com/fault");
    let headers = OutgoingHeaders::reply(wsa, &from, new_message_id(smsr), response_action);
    let respond = |status: u16, body_xml: &str| Answer {
        status,
        version,
        envelope: es_interfaces::soap::envelope(version, &headers, |w| w.raw(body_xml)),
    };
    let fault = |status: FunctionExecutionStatus, reason: &str| Answer {
        status: 400,
        version,
        envelope: fault_envelope(version, FaultCode::Sender, reason, Some(&status), Some(&headers)),
    };
    let refuse = |status: FunctionExecutionStatus, reason: &str| match failed_response(&element, status.clone()) {
        Some(body) => respond(200, &body),
        None => fault(status, reason),
    };

    let caller = match smsr.callers.resolve(&smsr.store, cert, interface) {
        Ok(c) => c,
        Err(e) => {
            tracing::info!(interface = interface.name(), error = %e, "caller refused");
            return Some(refuse(FunctionExecutionStatus::failed(e.status_code_data()), &e.to_string()));
        }
    };
    let request = match Request::decode(interface, body) {
        Ok(r) => r,
        Err(e) => {
            tracing::info!(caller = %caller.oid, error = %e, "request refused by the decoder");
            let failed = e
                .function
                .as_deref()
                .and_then(|f| failed_response(f, e.function_execution_status()));
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
    let span = tracing::info_span!("function", caller = %caller.oid, function = %functions::function_name(&element),
        message_id = wsa.message_id.as_ref().map(|m| m.as_str()).unwrap_or(""));
    let _guard = span.enter();
    match functions::execute(smsr, &caller, interface, wsa, body, &request) {
        Ok(reply) if reply.body.is_empty() => None,
        Ok(reply) => Some(respond(reply.http_status, &reply.body)),
        Err(e) => {
            tracing::error!(error = ?e, "function could not be executed");
            Some(refuse(e.execution_status(), &e.to_string()))
        }
    }
}
