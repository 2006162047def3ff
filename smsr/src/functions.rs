//! Dispatch of decoded ES1/ES3/ES4/ES7 requests to the SM-SR's functions, with the function-call record that
//! makes a repeated FunctionCallIdentifier answer from the record instead of running twice (SGP.02 §5.1.6;
//! design §3 step 1).

use eis_store::entities::EntityRole;
use eis_store::{AnyConnection, Store};
use es_interfaces::messages::DecodeError;
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::{BaseRequest, BaseResponse};
use es_interfaces::messages::{es1, es3, es4, es4v4, es7};
use es_interfaces::soap::WsaHeaders;
use es_interfaces::status::FunctionExecutionStatus;
use es_interfaces::wsdl::Service;
use es_interfaces::xml::Element;
use es_runtime::caller::{Caller, CallerDirectory, Interface};
use es_runtime::clock::Clock;
use es_runtime::soap_endpoint::{
    CallContext, Endpoint, Reply, ServerContext, ServerIdentity, SoapFunctions,
};

use crate::download;
use crate::eis_map::{Viewer, view};
use crate::error::SmsrError;
use crate::es1::register_eis;
use crate::platform;
use crate::service::Smsr;
use crate::smsr_change;

/// ES1: EUM → SM-SR (SGP.02 §5.2).
pub const ES1: Endpoint = Endpoint {
    interface: Interface {
        name: "ES1",
        role: EntityRole::Eum,
    },
    service: Service::Es1SmSr,
};
/// ES3: SM-DP → SM-SR (SGP.02 §5.4).
pub const ES3: Endpoint = Endpoint {
    interface: Interface {
        name: "ES3",
        role: EntityRole::SmDp,
    },
    service: Service::Es3SmSr,
};
/// ES4: MNO → SM-SR (SGP.02 §5.5).
pub const ES4: Endpoint = Endpoint {
    interface: Interface {
        name: "ES4",
        role: EntityRole::Mno,
    },
    service: Service::Es4SmSr,
};
/// ES7: SM-SR → SM-SR (SGP.02 §5.7).
pub const ES7: Endpoint = Endpoint {
    interface: Interface {
        name: "ES7",
        role: EntityRole::SmSr,
    },
    service: Service::Es7SmSr,
};
/// Every endpoint the SM-SR serves.
pub const ENDPOINTS: [Endpoint; 4] = [ES1, ES3, ES4, ES7];

/// A decoded request of one of the SM-SR's interfaces.
#[derive(Debug)]
pub enum Request {
    /// ES1 (EUM).
    Es1(es1::Request),
    /// ES3 (SM-DP).
    Es3(es3::Request),
    /// ES4 (MNO).
    Es4(es4::Request),
    /// ES4 functions of SGP.02 v4 (MNO).
    Es4V4(es4v4::Request),
    /// ES7 (SM-SR).
    Es7(es7::Request),
}

impl Request {
    /// Decodes the body element received on `endpoint`.
    pub fn decode(endpoint: Endpoint, body: &Element) -> Result<Request, DecodeError> {
        Ok(match endpoint.service {
            Service::Es1SmSr => Request::Es1(es1::Request::decode(body)?),
            Service::Es3SmSr => Request::Es3(es3::Request::decode(body)?),
            Service::Es4SmSr if es4v4::Request::ELEMENTS.contains(&body.local_name()) => {
                Request::Es4V4(es4v4::Request::decode(body)?)
            }
            Service::Es4SmSr => Request::Es4(es4::Request::decode(body)?),
            _ => Request::Es7(es7::Request::decode(body)?),
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
            Request::Es3(r) => base_of!(
                r,
                es3 {
                    GetEis,
                    AuditEis,
                    CreateIsdp,
                    SendData,
                    ProfileDownloadCompleted,
                    UpdatePolicyRules,
                    UpdateSubscriptionAddress,
                    EnableProfile,
                    DisableProfile,
                    DeleteIsdp,
                    UpdateConnectivityParameters
                }
            ),
            Request::Es4(r) => base_of!(
                r,
                es4 {
                    GetEis,
                    AuditEis,
                    UpdatePolicyRules,
                    UpdateSubscriptionAddress,
                    EnableProfile,
                    DisableProfile,
                    DeleteProfile,
                    PrepareSmsrChange,
                    SmsrChange
                }
            ),
            Request::Es4V4(es4v4::Request::SetFallBackAttribute(r)) => &r.base,
            Request::Es7(r) => base_of!(
                r,
                es7 {
                    HandoverEuicc,
                    AuthenticateSmsr,
                    CreateAdditionalKeySet
                }
            ),
        }
    }

    /// The request's body element name, e.g. `ES4-GetEISRequest`.
    pub fn element_name(&self) -> &'static str {
        match self {
            Request::Es1(r) => r.element_name(),
            Request::Es3(r) => r.element_name(),
            Request::Es4(r) => r.element_name(),
            Request::Es4V4(r) => r.element_name(),
            Request::Es7(r) => r.element_name(),
        }
    }
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
    if let Some(r) = es4v4::Response::failed(element, status.clone()) {
        return Some(r.to_xml());
    }
    es7::Response::failed(element, status).map(|r| r.to_xml())
}

fn ok() -> BaseResponse {
    BaseResponse::with_status(FunctionExecutionStatus::success())
}

/// Executes a function inside the caller's transaction.
fn run(
    smsr: &Smsr,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    request: &Request,
) -> Result<Reply, SmsrError> {
    let caller = ctx.caller;
    crate::outgoing::check_reply_to(
        conn,
        smsr,
        &caller.oid,
        ctx.wsa.reply_to.as_ref().map(|r| r.as_str()),
    )?;
    let xml = match request {
        Request::Es1(es1::Request::RegisterEis(r)) => {
            register_eis(smsr, conn, caller, ctx.body, r)?.to_xml()
        }
        Request::Es4(es4::Request::GetEis(r)) => {
            let eid = r.eid.to_string();
            let v = Viewer::Mno(&caller.oid);
            let record = eis_store::eis::get_eis_without_key_values(conn, &eid)?
                .filter(|e| v.knows_euicc(e.profiles.iter().map(|p| &p.info)))
                .ok_or(SmsrError::UnknownEid { eid })?;
            es4::GetEisResponse {
                base: ok(),
                eis: Some(view(&record, v)?),
            }
            .to_xml()
        }
        Request::Es3(es3::Request::GetEis(r)) => {
            let eid = r.eid.to_string();
            let record = eis_store::eis::get_eis_without_key_values(conn, &eid)?
                .ok_or(SmsrError::UnknownEid { eid })?;
            es3::GetEisResponse {
                base: ok(),
                eis: Some(view(&record, Viewer::SmDp(&caller.oid))?),
            }
            .to_xml()
        }
        Request::Es4(es4::Request::EnableProfile(r)) => {
            let v = Viewer::Mno(&caller.oid);
            platform::enable_profile(smsr, conn, ctx, v, &r.eid.to_string(), r.iccid.as_str())?;
            return Ok(Reply::accepted());
        }
        Request::Es4(es4::Request::DisableProfile(r)) => {
            let v = Viewer::Mno(&caller.oid);
            platform::disable_profile(smsr, conn, ctx, v, &r.eid.to_string(), r.iccid.as_str())?;
            return Ok(Reply::accepted());
        }
        Request::Es4(es4::Request::DeleteProfile(r)) => {
            let v = Viewer::Mno(&caller.oid);
            platform::delete_profile(smsr, conn, ctx, v, &r.eid.to_string(), r.iccid.as_str())?;
            return Ok(Reply::accepted());
        }
        Request::Es4(es4::Request::AuditEis(r)) => {
            let v = Viewer::Mno(&caller.oid);
            let iccids: Vec<String> = r.iccids.iter().map(|i| i.as_str().to_string()).collect();
            platform::audit_eis(smsr, conn, ctx, v, &r.eid.to_string(), &iccids)?;
            return Ok(Reply::accepted());
        }
        Request::Es4(es4::Request::UpdatePolicyRules(r)) => {
            let v = Viewer::Mno(&caller.oid);
            platform::update_policy_rules(
                smsr,
                conn,
                v,
                &r.eid.to_string(),
                r.iccid.as_str(),
                Some(&r.pol2),
            )?;
            es4::UpdatePolicyRulesResponse { base: ok() }.to_xml()
        }
        Request::Es4(es4::Request::UpdateSubscriptionAddress(r)) => {
            let v = Viewer::Mno(&caller.oid);
            platform::update_subscription_address(
                smsr,
                conn,
                v,
                &r.eid.to_string(),
                r.iccid.as_str(),
                &r.new_subscription_address,
            )?;
            es4::UpdateSubscriptionAddressResponse { base: ok() }.to_xml()
        }
        Request::Es4V4(es4v4::Request::SetFallBackAttribute(r)) => {
            let v = Viewer::Mno(&caller.oid);
            platform::set_fallback_attribute(
                smsr,
                conn,
                ctx,
                v,
                &r.eid.to_string(),
                r.iccid.as_str(),
            )?;
            return Ok(Reply::accepted());
        }
        Request::Es3(es3::Request::EnableProfile(r)) => {
            let v = Viewer::SmDp(&caller.oid);
            platform::enable_profile(smsr, conn, ctx, v, &r.eid.to_string(), r.iccid.as_str())?;
            return Ok(Reply::accepted());
        }
        Request::Es3(es3::Request::DisableProfile(r)) => {
            let v = Viewer::SmDp(&caller.oid);
            platform::disable_profile(smsr, conn, ctx, v, &r.eid.to_string(), r.iccid.as_str())?;
            return Ok(Reply::accepted());
        }
        Request::Es3(es3::Request::DeleteIsdp(r)) => {
            let v = Viewer::SmDp(&caller.oid);
            platform::delete_profile(smsr, conn, ctx, v, &r.eid.to_string(), r.iccid.as_str())?;
            return Ok(Reply::accepted());
        }
        Request::Es3(es3::Request::AuditEis(r)) => {
            let v = Viewer::SmDp(&caller.oid);
            let iccids: Vec<String> = r.iccids.iter().map(|i| i.as_str().to_string()).collect();
            platform::audit_eis(smsr, conn, ctx, v, &r.eid.to_string(), &iccids)?;
            return Ok(Reply::accepted());
        }
        Request::Es3(es3::Request::UpdatePolicyRules(r)) => {
            let v = Viewer::SmDp(&caller.oid);
            platform::update_policy_rules(
                smsr,
                conn,
                v,
                &r.eid.to_string(),
                r.iccid.as_str(),
                r.pol2.as_ref(),
            )?;
            es3::UpdatePolicyRulesResponse { base: ok() }.to_xml()
        }
        Request::Es3(es3::Request::UpdateSubscriptionAddress(r)) => {
            let v = Viewer::SmDp(&caller.oid);
            platform::update_subscription_address(
                smsr,
                conn,
                v,
                &r.eid.to_string(),
                r.iccid.as_str(),
                &r.new_subscription_address,
            )?;
            es3::UpdateSubscriptionAddressResponse { base: ok() }.to_xml()
        }
        Request::Es3(es3::Request::UpdateConnectivityParameters(r)) => {
            let v = Viewer::SmDp(&caller.oid);
            platform::update_connectivity_parameters(
                smsr,
                conn,
                ctx,
                v,
                &r.eid.to_string(),
                r.iccid.as_str(),
                r.connectivity_parameters.as_bytes(),
            )?;
            return Ok(Reply::accepted());
        }
        Request::Es3(es3::Request::CreateIsdp(r)) => {
            download::create_isdp(smsr, conn, ctx, r)?;
            return Ok(Reply::accepted());
        }
        Request::Es3(es3::Request::SendData(r)) => {
            download::send_data(
                smsr,
                conn,
                ctx,
                &r.eid.to_string(),
                r.sd_aid.as_bytes(),
                r.data.as_bytes(),
            )?;
            return Ok(Reply::accepted());
        }
        Request::Es3(es3::Request::ProfileDownloadCompleted(r)) => {
            download::profile_download_completed(smsr, conn, &caller.oid, r)?;
            es3::ProfileDownloadCompletedResponse { base: ok() }.to_xml()
        }
        Request::Es4(es4::Request::PrepareSmsrChange(r)) => {
            smsr_change::prepare_smsr_change(smsr, conn, ctx, r)?.to_xml()
        }
        Request::Es4(es4::Request::SmsrChange(r)) => {
            smsr_change::smsr_change(smsr, conn, ctx, r)?;
            return Ok(Reply::accepted());
        }
        Request::Es7(es7::Request::HandoverEuicc(r)) => {
            smsr_change::handover_euicc(smsr, conn, ctx, r)?;
            return Ok(Reply::accepted());
        }
        Request::Es7(es7::Request::AuthenticateSmsr(r)) => {
            smsr_change::authenticate_smsr(smsr, conn, ctx, r)?;
            return Ok(Reply::accepted());
        }
        Request::Es7(es7::Request::CreateAdditionalKeySet(r)) => {
            smsr_change::create_additional_key_set(smsr, conn, ctx, r)?;
            return Ok(Reply::accepted());
        }
    };
    Ok(Reply::ok(xml))
}

impl ServerContext for Smsr {
    fn identity(&self) -> &ServerIdentity {
        &self.identity
    }
    fn store(&self) -> &Store {
        &self.store
    }
    fn callers(&self) -> &CallerDirectory {
        &self.callers
    }
    fn clock(&self) -> &dyn Clock {
        &*self.clock
    }
    fn metrics(&self) -> &es_runtime::metrics::ServerMetrics {
        &self.metrics.server
    }
}

impl SoapFunctions for Smsr {
    type Request = Request;
    type Error = SmsrError;

    fn decode(&self, endpoint: Endpoint, body: &Element) -> Result<Request, DecodeError> {
        Request::decode(endpoint, body)
    }
    fn base<'r>(&self, request: &'r Request) -> &'r BaseRequest {
        request.base()
    }
    fn element_name(&self, request: &Request) -> &'static str {
        request.element_name()
    }
    fn failed_response(&self, element: &str, status: FunctionExecutionStatus) -> Option<String> {
        failed_response(element, status)
    }
    fn status_of(&self, error: &SmsrError) -> FunctionExecutionStatus {
        error.execution_status()
    }
    fn is_internal(&self, error: &SmsrError) -> bool {
        matches!(error, SmsrError::Store(_) | SmsrError::Internal(_))
    }
    /// ES4/ES3.GetEIS only read (SGP.02 §5.5.1, §5.4.x): not recorded, a repeat reads again (issue 10, 2b).
    fn read_only(&self, request: &Request) -> bool {
        matches!(
            request,
            Request::Es4(es4::Request::GetEis(_)) | Request::Es3(es3::Request::GetEis(_))
        )
    }
    fn run(
        &self,
        conn: &mut AnyConnection,
        ctx: &CallContext<'_>,
        request: &Request,
    ) -> Result<Reply, SmsrError> {
        run(self, conn, ctx, request)
    }
    /// ES7 callbacks and notifications of the other SM-SR (SGP.02 §5.7), on the ES7 endpoint itself.
    fn receive_one_way(
        &self,
        caller: &Caller,
        endpoint: Endpoint,
        wsa: &WsaHeaders,
        body: &Element,
    ) -> Option<Result<(), SmsrError>> {
        (endpoint.service == Service::Es7SmSr).then(|| {
            self.store
                .tx(|c| smsr_change::receive(self, c, caller, wsa, body))
        })
    }
}
