//! Dispatch of ES2 requests (MNO → SM-DP, SGP.02 §5.3) and of ES3 callbacks and notifications (SM-SR → SM-DP,
//! SGP.02 §5.4) to the SM-DP's functions.

use eis_store::entities::EntityRole;
use eis_store::{AnyConnection, Store, entities};
use es_interfaces::messages::DecodeError;
use es_interfaces::messages::common::BaseRequest;
use es_interfaces::messages::{es2, es3};
use es_interfaces::soap::WsaHeaders;
use es_interfaces::status::FunctionExecutionStatus;
use es_interfaces::wsdl::Service;
use es_interfaces::xml::Element;
use es_runtime::caller::{Caller, CallerDirectory, Interface};
use es_runtime::clock::Clock;
use es_runtime::soap_endpoint::{
    CallContext, Endpoint, Reply, ServerContext, ServerIdentity, SoapFunctions, SoapReceiver,
};

use crate::download;
use crate::error::SmdpError;
use crate::relay;
use crate::service::Smdp;

/// ES2: MNO → SM-DP (SGP.02 §5.3).
pub const ES2: Endpoint = Endpoint {
    interface: Interface {
        name: "ES2",
        role: EntityRole::Mno,
    },
    service: Service::Es2SmDp,
};
/// ES3 on the SM-DP: callbacks and notifications from the SM-SR (SGP.02 §5.4).
pub const ES3: Endpoint = Endpoint {
    interface: Interface {
        name: "ES3",
        role: EntityRole::SmSr,
    },
    service: Service::Es3SmDp,
};

fn base_of(r: &es2::Request) -> &BaseRequest {
    match r {
        es2::Request::GetEis(r) => &r.base,
        es2::Request::DownloadProfile(r) => &r.base,
        es2::Request::UpdatePolicyRules(r) => &r.base,
        es2::Request::UpdateSubscriptionAddress(r) => &r.base,
        es2::Request::EnableProfile(r) => &r.base,
        es2::Request::DisableProfile(r) => &r.base,
        es2::Request::DeleteProfile(r) => &r.base,
    }
}

/// Refuses, before anything is recorded or relayed, a `wsa:ReplyTo` that is not an https address at an origin
/// registered for the MNO or on the configured allow list (SGP.02 §2.6; [`es_runtime::destination`]).
fn check_reply_to(
    smdp: &Smdp,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
) -> Result<(), SmdpError> {
    let reply_to = ctx.wsa.reply_to.as_ref().map(|r| r.as_str());
    if !es_runtime::destination::wants_callback(reply_to) {
        return Ok(());
    }
    let registered = entities::get_entity(conn, &ctx.caller.oid)?
        .map(|e| e.endpoints)
        .unwrap_or_default();
    smdp.outgoing
        .check_reply_to(&ctx.caller.oid, reply_to, &registered)?;
    Ok(())
}

/// Executes an ES2 function inside the caller's transaction: DownloadProfile starts a download procedure
/// ([`download`]); the platform-management functions are relayed to the SM-SR over ES3 ([`relay`]).
fn run(
    smdp: &Smdp,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    request: &es2::Request,
) -> Result<Reply, SmdpError> {
    check_reply_to(smdp, conn, ctx)?;
    match request {
        es2::Request::DownloadProfile(r) => download::driver::start(smdp, conn, ctx, r),
        _ => relay::run(smdp, conn, ctx, request),
    }
}

impl ServerContext for Smdp {
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

impl SoapFunctions for Smdp {
    type Request = es2::Request;
    type Error = SmdpError;

    fn decode(&self, _endpoint: Endpoint, body: &Element) -> Result<es2::Request, DecodeError> {
        es2::Request::decode(body)
    }
    fn base<'r>(&self, request: &'r es2::Request) -> &'r BaseRequest {
        base_of(request)
    }
    fn element_name(&self, request: &es2::Request) -> &'static str {
        request.element_name()
    }
    fn failed_response(&self, element: &str, status: FunctionExecutionStatus) -> Option<String> {
        es2::Response::failed(element, status).map(|r| r.to_xml())
    }
    fn status_of(&self, error: &SmdpError) -> FunctionExecutionStatus {
        error.execution_status()
    }
    fn is_internal(&self, error: &SmdpError) -> bool {
        matches!(error, SmdpError::Store(_) | SmdpError::Internal(_))
    }
    /// ES2.GetEIS only reads (its answer comes from [`relay::prepare`]): not recorded, a repeat reads again.
    fn read_only(&self, request: &es2::Request) -> bool {
        matches!(request, es2::Request::GetEis(_))
    }
    fn prepare(
        &self,
        caller: &Caller,
        request: &es2::Request,
    ) -> Result<Option<String>, SmdpError> {
        relay::prepare(self, caller, request)
    }
    fn run(
        &self,
        conn: &mut AnyConnection,
        ctx: &CallContext<'_>,
        request: &es2::Request,
    ) -> Result<Reply, SmdpError> {
        run(self, conn, ctx, request)
    }
}

impl SoapReceiver for Smdp {
    type Error = SmdpError;

    fn status_of(&self, error: &SmdpError) -> FunctionExecutionStatus {
        error.execution_status()
    }
    /// ES3 callbacks (the result of a relayed function, with `wsa:RelatesTo`) complete the ES2 call; ES3
    /// notifications are forwarded to the MNO over ES2 (SGP.02 §5.4, §5.3.8–§5.3.11).
    fn receive(
        &self,
        _caller: &Caller,
        _endpoint: Endpoint,
        wsa: &WsaHeaders,
        body: &Element,
    ) -> Result<(), SmdpError> {
        let message = es3::Message::decode(body).map_err(|e| SmdpError::Invalid {
            element: e.path.clone(),
            why: e.to_string(),
        })?;
        match message {
            es3::Message::Notification(n) => {
                self.store.tx(|c| relay::forward_notification(self, c, &n))
            }
            es3::Message::Response(r) => {
                let relates_to = wsa
                    .relates_to
                    .as_deref()
                    .ok_or_else(|| SmdpError::Invalid {
                        element: "wsa:RelatesTo".into(),
                        why: "a callback must name the request it answers".into(),
                    })?;
                if download::driver::on_callback(self, relates_to, &r)? {
                    return Ok(());
                }
                let status = response_status(&r);
                self.store
                    .tx(|c| relay::complete_relay(self, c, relates_to, status.clone()))
            }
            es3::Message::Request(r) => Err(SmdpError::NotSupported {
                function: r.element_name().to_string(),
            }),
        }
    }
}

/// The FunctionExecutionStatus of any ES3 response.
pub(crate) fn response_status(r: &es3::Response) -> FunctionExecutionStatus {
    macro_rules! status {
        ($($v:ident),+) => {
            match r { $( es3::Response::$v(m) => m.base.function_execution_status.clone() ),+ }
        };
    }
    status!(
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
    )
}
