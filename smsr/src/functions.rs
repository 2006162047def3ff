//! Dispatch of decoded ES1/ES3/ES4/ES7 requests to the SM-SR's functions, with the function-call record that
//! makes a repeated FunctionCallIdentifier answer from the record instead of running twice (SGP.02 §5.1.6;
//! design §3 step 1).

use eis_store::function_calls::{self, Begin, CallResponse, NewFunctionCall, Recorded};
use eis_store::{AnyConnection, savepoint};
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::{BaseRequest, BaseResponse};
use es_interfaces::messages::{es1, es3, es4, es7};
use es_interfaces::soap::WsaHeaders;
use es_interfaces::status::FunctionExecutionStatus;
use es_interfaces::xml::Element;

use crate::caller::{Caller, Interface};
use crate::eis_map::{Viewer, view};
use crate::error::SmsrError;
use crate::es1::register_eis;
use crate::service::Smsr;

/// A decoded request of one of the SM-SR's interfaces.
#[derive(Debug)]
pub enum Request {
    /// ES1 (EUM).
    Es1(es1::Request),
    /// ES3 (SM-DP).
    Es3(es3::Request),
    /// ES4 (MNO).
    Es4(es4::Request),
    /// ES7 (SM-SR).
    Es7(es7::Request),
}

impl Request {
    /// Decodes the body element for `interface`.
    pub fn decode(
        interface: Interface,
        body: &Element,
    ) -> Result<Request, es_interfaces::messages::DecodeError> {
        Ok(match interface {
            Interface::Es1 => Request::Es1(es1::Request::decode(body)?),
            Interface::Es3 => Request::Es3(es3::Request::decode(body)?),
            Interface::Es4 => Request::Es4(es4::Request::decode(body)?),
            Interface::Es7 => Request::Es7(es7::Request::decode(body)?),
        })
    }

    fn base(&self) -> &BaseRequest {
        macro_rules! base_of {
            ($e:expr, $m:ident { $($v:ident),+ }) => {
                match $e { $( $m::Request::$v(r) => &r.base ),+ }
            };
        }
        match self {
            Request::Es1(r) => base_of!(r, es1 { RegisterEis }),
            Request::Es3(r) => base_of!(r, es3 {
                GetEis, AuditEis, CreateIsdp, SendData, ProfileDownloadCompleted, UpdatePolicyRules,
                UpdateSubscriptionAddress, EnableProfile, DisableProfile, DeleteIsdp, UpdateConnectivityParameters
            }),
            Request::Es4(r) => base_of!(r, es4 {
                GetEis, AuditEis, UpdatePolicyRules, UpdateSubscriptionAddress, EnableProfile, DisableProfile,
                DeleteProfile, PrepareSmsrChange, SmsrChange
            }),
            Request::Es7(r) => base_of!(r, es7 { HandoverEuicc, AuthenticateSmsr, CreateAdditionalKeySet }),
        }
    }

    /// The request's body element name, e.g. `ES4-GetEISRequest`.
    pub fn element_name(&self) -> &'static str {
        match self {
            Request::Es1(r) => r.element_name(),
            Request::Es3(r) => r.element_name(),
            Request::Es4(r) => r.element_name(),
            Request::Es7(r) => r.element_name(),
        }
    }
}

/// The response body of a function: the response element as standalone XML and the HTTP status to send it
/// with (200 for a synchronous response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub http_status: u16,
    /// The response body element (standalone XML), or empty for a bare 202.
    pub body: String,
}

/// The FAILED response of the function whose request element is `element`, carrying `status`; `None` if the
/// function's response cannot be built with only a status (then the caller answers with a SOAP fault).
pub fn failed_response(element: &str, status: FunctionExecutionStatus) -> Option<String> {
    if let Some(r) = es1::Response::failed(element, status.clone()) {
        return Some(r.to_xml());
    }
    if let Some(r) = es3::Response::failed(element, status.clone()) {
        return Some(r.to_xml());
    }
    if let Some(r) = es4::Response::failed(element, status.clone()) {
        return Some(r.to_xml());
    }
    es7::Response::failed(element, status).map(|r| r.to_xml())
}

/// The function name a request element belongs to (`ES4-GetEISRequest` → `ES4-GetEIS`).
pub fn function_name(element: &str) -> &str {
    element.strip_suffix("Request").unwrap_or(element)
}

/// Runs one call: records it (or finds the earlier record of the same FunctionCallIdentifier from the same
/// caller and answers from it), executes the function inside a savepoint, and records the outcome, all in one
/// transaction — so an acknowledged result is durable and a crash before the commit leaves nothing behind.
pub fn execute(
    smsr: &Smsr,
    caller: &Caller,
    interface: Interface,
    wsa: &WsaHeaders,
    body: &Element,
    request: &Request,
) -> Result<Reply, SmsrError> {
    let base = request.base();
    let element = request.element_name();
    let now = smsr.clock.now_millis();
    let call = NewFunctionCall {
        caller_oid: caller.oid.clone(),
        interface: interface.name().to_string(),
        function_name: function_name(element).to_string(),
        function_call_id: base.function_call_identifier.clone(),
        message_id: wsa.message_id.as_ref().map(|m| m.as_str().to_string()),
        reply_to: wsa.reply_to.as_ref().map(|r| r.as_str().to_string()),
        valid_until: base
            .validity_period
            .map(|v| now.saturating_add(i64::try_from(v.get()).unwrap_or(i64::MAX).saturating_mul(1000))),
    };
    smsr.store.tx(|conn| {
        match function_calls::begin_call(conn, &call, now)? {
            Begin::Duplicate(Recorded::Completed { response, .. }) => {
                tracing::info!(function = %call.function_name, fci = %call.function_call_id,
                    "repeated FunctionCallIdentifier answered from the record");
                Ok(Reply {
                    http_status: response.http_status,
                    body: response.body,
                })
            }
            Begin::Duplicate(Recorded::InProgress { .. }) => Ok(Reply {
                http_status: 202,
                body: String::new(),
            }),
            Begin::New(id) => {
                let reply = match savepoint(conn, |c| run(smsr, c, caller, body, request)) {
                    Ok(reply) => reply,
                    Err(e) if matches!(&e, SmsrError::Store(s) if s.is_retryable()) => return Err(e),
                    Err(e) => {
                        match &e {
                            SmsrError::Store(_) | SmsrError::Internal(_) => {
                                tracing::error!(function = %call.function_name, error = ?e, "function failed")
                            }
                            _ => tracing::info!(function = %call.function_name, error = %e, "function refused"),
                        }
                        let body = failed_response(element, e.execution_status()).ok_or(e)?;
                        Reply { http_status: 200, body }
                    }
                };
                function_calls::complete_call(
                    conn,
                    id,
                    &CallResponse {
                        http_status: reply.http_status,
                        body: reply.body.clone(),
                    },
                    smsr.clock.now_millis(),
                )?;
                Ok(reply)
            }
        }
    })
}

fn ok() -> BaseResponse {
    BaseResponse::with_status(FunctionExecutionStatus::success())
}

fn not_supported(element: &str) -> SmsrError {
    SmsrError::NotSupported {
        function: function_name(element).to_string(),
    }
}

/// Executes a function inside the caller's transaction.
fn run(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    caller: &Caller,
    body: &Element,
    request: &Request,
) -> Result<Reply, SmsrError> {
    let xml = match request {
        Request::Es1(es1::Request::RegisterEis(r)) => register_eis(smsr, conn, caller, body, r)?.to_xml(),
        Request::Es4(es4::Request::GetEis(r)) => {
            let eid = r.eid.to_string();
            let record = eis_store::eis::get_eis(conn, &eid)?.ok_or(SmsrError::UnknownEid { eid })?;
            es4::GetEisResponse {
                base: ok(),
                eis: Some(view(&record, Viewer::Mno(&caller.oid))?),
            }
            .to_xml()
        }
        Request::Es3(es3::Request::GetEis(r)) => {
            let eid = r.eid.to_string();
            let record = eis_store::eis::get_eis(conn, &eid)?.ok_or(SmsrError::UnknownEid { eid })?;
            es3::GetEisResponse {
                base: ok(),
                eis: Some(view(&record, Viewer::SmDp(&caller.oid))?),
            }
            .to_xml()
        }
        other => return Err(not_supported(other.element_name())),
    };
    Ok(Reply {
        http_status: 200,
        body: xml,
    })
}
