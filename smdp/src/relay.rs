//! Platform management via the SM-DP (SGP.02 §3.3–§3.5 "via the SM-DP"; notes §4.3): the MNO's ES2.GetEIS,
//! EnableProfile, DisableProfile, DeleteProfile, UpdatePolicyRules and UpdateSubscriptionAddress are carried
//! out by the matching ES3 function at the SM-SR, and the SM-SR's ES3 callbacks and notifications become ES2
//! ones to the owning MNO.
//!
//! No database transaction stays open across a call to the SM-SR (design §3): the synchronous functions and
//! the ownership check (the calling MNO must own the profile among those this SM-DP manages, seen through
//! ES3.GetEIS) run in [`prepare`], before the call is recorded; the asynchronous ones are recorded as a
//! [`eis_store::relays`] row and their ES3 request leaves through the outbox. The SM-SR's answer — a callback
//! with `wsa:RelatesTo`, or a synchronous refusal handed over by the outbox dispatcher ([`RelaySink`]) —
//! completes the ES2 call and goes to the MNO's ReplyTo.

use std::sync::Arc;
use std::time::Duration;

use eis_store::function_calls::{self, CallResponse};
use eis_store::outbox::OutboxMessage;
use eis_store::{AnyConnection, entities, outbox, relays};
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::{BaseRequest, BaseResponse};
use es_interfaces::messages::eis::Eis;
use es_interfaces::messages::{es2, es3};
use es_interfaces::soap::{self, Envelope, OutgoingHeaders, SoapVersion, action};
use es_interfaces::status::{FunctionExecutionStatus, Reason, Status, Subject};
use es_interfaces::types::{Eid, Iccid, Oid};
use es_interfaces::wsdl::Service;
use es_runtime::caller::Caller;
use es_runtime::client::{ClientError, SoapClient, SoapReply, SoapVersion as ClientVersion};
use es_runtime::outbox::{ResponseSink, soap_message};
use es_runtime::soap_endpoint::{CallContext, Reply};

use crate::error::SmdpError;
use crate::service::Smdp;

struct Job {
    url: String,
    action: String,
    envelope: String,
    reply: std::sync::mpsc::Sender<Result<SoapReply, ClientError>>,
}

/// A blocking ES3 client for request handlers: the calls run on a runtime of its own thread, so that a
/// handler thread waits for the SM-SR without holding a transaction or an async executor.
pub struct Es3Client {
    jobs: tokio::sync::mpsc::UnboundedSender<Job>,
    timeout: Duration,
}

impl Es3Client {
    /// Starts the client thread with `client` (the SM-DP's TLS client certificate).
    pub fn start(client: SoapClient, timeout: Duration) -> Result<Es3Client, std::io::Error> {
        let (jobs, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("smdp-es3-client".into())
            .spawn(move || {
                rt.block_on(async move {
                    while let Some(job) = rx.recv().await {
                        let client = client.clone();
                        tokio::spawn(async move {
                            // Every synchronous ES3 relay is idempotent (same FunctionCallIdentifier).
                            let r = client
                                .post_idempotent(
                                    &job.url,
                                    ClientVersion::V12,
                                    &job.action,
                                    job.envelope,
                                )
                                .await;
                            let _ = job.reply.send(r);
                        });
                    }
                });
            })?;
        Ok(Es3Client { jobs, timeout })
    }

    /// POSTs `envelope` to `url` and waits for the answer (at most the timeout).
    pub fn call_blocking(
        &self,
        url: &str,
        action: &str,
        envelope: String,
    ) -> Result<SoapReply, SmdpError> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.jobs
            .send(Job {
                url: url.to_string(),
                action: action.to_string(),
                envelope,
                reply,
            })
            .map_err(|_| SmdpError::Es3Call("the ES3 client stopped".into()))?;
        answer
            .recv_timeout(self.timeout)
            .map_err(|_| SmdpError::Es3Call(format!("no answer from {url}")))?
            .map_err(|e| SmdpError::Es3Call(e.to_string()))
    }
}

/// The ES3 URL of the SM-SR `smsr_oid` from the registry.
pub(crate) fn es3_url(conn: &mut AnyConnection, smsr_oid: &str) -> Result<String, SmdpError> {
    entities::get_entity(conn, smsr_oid)?
        .and_then(|e| e.endpoints.get("ES3").cloned())
        .ok_or_else(|| SmdpError::UnknownSmsr {
            smsr: smsr_oid.to_string(),
        })
}

/// An ES3 request envelope from this SM-DP; returns (MessageID, Action, envelope).
fn es3_envelope<T: BodyElement>(
    smdp: &Smdp,
    url: &str,
    request: &T,
    reply_to: Option<String>,
) -> Result<(String, &'static str, String), SmdpError> {
    let message_id = smdp.identity.new_message_id(smdp.clock.now());
    let (action, envelope) = es3_envelope_with_id(smdp, url, request, reply_to, &message_id)?;
    Ok((message_id, action, envelope))
}

/// An ES3 request envelope from this SM-DP with a given MessageID; returns (Action, envelope).
pub(crate) fn es3_envelope_with_id<T: BodyElement>(
    smdp: &Smdp,
    url: &str,
    request: &T,
    reply_to: Option<String>,
    message_id: &str,
) -> Result<(&'static str, String), SmdpError> {
    let action = action::for_element(T::ELEMENT)
        .map(|a| a.request)
        .ok_or_else(|| SmdpError::Es3Call(format!("no Action for {}", T::ELEMENT)))?;
    let message_id = message_id.to_string();
    let headers = OutgoingHeaders {
        to: url.to_string(),
        from: Some(smdp.identity.from_address(Service::Es3SmDp)),
        reply_to,
        message_id: message_id.clone(),
        action: action.to_string(),
        relates_to: None,
    };
    let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| request.write_body(w));
    Ok((action, envelope))
}

pub(crate) fn es3_client(smdp: &Smdp) -> Result<&Es3Client, SmdpError> {
    smdp.es3.as_ref().ok_or_else(|| SmdpError::NotSupported {
        function: "platform management via ES3 (no ES3 client configured)".into(),
    })
}

/// Calls an ES3 function synchronously and returns the response's body element (standalone XML).
fn call_sync<T: BodyElement>(smdp: &Smdp, url: &str, request: &T) -> Result<Envelope, SmdpError> {
    let (_, action, envelope) = es3_envelope(smdp, url, request, None)?;
    es_runtime::capture::emitted(&envelope);
    let reply = es3_client(smdp)?.call_blocking(url, action, envelope)?;
    let env = Envelope::parse(reply.body.as_bytes())
        .map_err(|e| SmdpError::Es3Call(format!("HTTP {}: {e}", reply.status)))?;
    if let Some(f) = env.fault() {
        return Err(SmdpError::Es3Call(format!(
            "HTTP {}: fault {f:?}",
            reply.status
        )));
    }
    Ok(env)
}

pub(crate) fn status_in(env: &Envelope) -> Option<FunctionExecutionStatus> {
    let el = env
        .body()
        .child_elements()
        .find(|c| c.local_name() == "FunctionExecutionStatus")?;
    <FunctionExecutionStatus as es_interfaces::messages::codec::XmlContent>::decode_element(
        el,
        "FunctionExecutionStatus",
    )
    .ok()
}

fn relayed(status: FunctionExecutionStatus) -> SmdpError {
    let message = status
        .status_code_data
        .as_ref()
        .and_then(|d| d.message.clone())
        .unwrap_or_else(|| status.status.as_str().to_string());
    SmdpError::Relayed {
        status: Box::new(status),
        message,
    }
}

/// ES3.GetEIS at the SM-SR: the EIS as this SM-DP sees it, or the SM-SR's refusal.
fn get_eis(
    smdp: &Smdp,
    url: &str,
    eid: &Eid,
) -> Result<Option<es_interfaces::messages::eis::Eis>, SmdpError> {
    let req = es3::GetEisRequest {
        base: BaseRequest::new(format!("smdp-geteis-{}", uuid::Uuid::new_v4())),
        eid: *eid,
    };
    let env = call_sync(smdp, url, &req)?;
    let resp = es3::GetEisResponse::decode_body(env.body())
        .map_err(|e| SmdpError::Es3Call(e.to_string()))?;
    let status = resp.base.function_execution_status;
    if status.status != Status::ExecutedSuccess {
        return Err(relayed(status));
    }
    Ok(resp.eis)
}

/// The EIS of `eid` as the calling MNO may see it through this SM-DP ([`Eis::for_mno`] of the SM-DP's view):
/// an eUICC that does not exist, or carries no profile of the MNO among those this SM-DP manages, is unknown
/// (8.1.1) in the same words.
fn eis_for_mno(smdp: &Smdp, url: &str, caller: &Caller, eid: &Eid) -> Result<Eis, SmdpError> {
    let unknown = || SmdpError::UnknownEid {
        eid: eid.to_string(),
    };
    let eis = match get_eis(smdp, url, eid) {
        Ok(eis) => eis,
        Err(SmdpError::Relayed { status, .. })
            if status
                .status_code_data
                .as_ref()
                .is_some_and(|d| d.subject == Subject::EID && d.reason == Reason::UNKNOWN) =>
        {
            return Err(unknown());
        }
        Err(e) => return Err(e),
    };
    eis.and_then(|e| e.for_mno(&caller.oid)).ok_or_else(unknown)
}

/// Checks through ES3.GetEIS that `caller` owns `iccid` among the profiles this SM-DP manages on `eid`;
/// otherwise the eUICC or the ICCID is unknown, whether it does not exist or is another MNO's.
fn check_owner(
    smdp: &Smdp,
    url: &str,
    caller: &Caller,
    eid: &Eid,
    iccid: &Iccid,
) -> Result<(), SmdpError> {
    let eis = eis_for_mno(smdp, url, caller, eid)?;
    if eis.profile_info.iter().any(|p| p.iccid == *iccid) {
        Ok(())
    } else {
        Err(SmdpError::UnknownIccid {
            iccid: iccid.as_str().to_string(),
        })
    }
}

/// The base of an ES3 request made on behalf of an ES2 call: a FunctionCallIdentifier of this SM-DP's own
/// (the SM-SR records calls per caller, and this SM-DP is the caller for every MNO, so MNO identifiers would
/// collide), the MNO's ValidityPeriod kept.
fn es3_base(es2: &BaseRequest) -> BaseRequest {
    BaseRequest {
        function_call_identifier: format!("smdp-{}", uuid::Uuid::new_v4()),
        ..es2.clone()
    }
}

fn ok_base(status: FunctionExecutionStatus) -> BaseResponse {
    BaseResponse::with_status(status)
}

/// The work done before an ES2 call is recorded (outside any transaction): the ownership check and, for the
/// synchronous functions, the ES3 call itself; returns the ES2 response (synchronous functions) or the SM-SR's
/// ES3 URL (asynchronous ones, for [`run`]).
pub fn prepare(
    smdp: &Smdp,
    caller: &Caller,
    request: &es2::Request,
) -> Result<Option<String>, SmdpError> {
    let mut conn = smdp.store.conn()?;
    match request {
        es2::Request::GetEis(r) => {
            let url = es3_url(&mut conn, r.smsr_id.as_str())?;
            drop(conn);
            let eis = eis_for_mno(smdp, &url, caller, &r.eid)?;
            let resp = es2::GetEisResponse {
                base: ok_base(FunctionExecutionStatus::success()),
                eis: Some(eis),
            };
            Ok(Some(resp.to_xml()))
        }
        es2::Request::EnableProfile(r) => {
            let url = es3_url(&mut conn, r.smsr_id.as_str())?;
            drop(conn);
            check_owner(smdp, &url, caller, &r.eid, &r.iccid)?;
            Ok(Some(url))
        }
        es2::Request::DisableProfile(r) => {
            let url = es3_url(&mut conn, r.smsr_id.as_str())?;
            drop(conn);
            check_owner(smdp, &url, caller, &r.eid, &r.iccid)?;
            Ok(Some(url))
        }
        es2::Request::DeleteProfile(r) => {
            let url = es3_url(&mut conn, r.smsr_id.as_str())?;
            drop(conn);
            check_owner(smdp, &url, caller, &r.eid, &r.iccid)?;
            Ok(Some(url))
        }
        es2::Request::UpdatePolicyRules(r) => {
            let url = es3_url(&mut conn, r.smsr_id.as_str())?;
            drop(conn);
            check_owner(smdp, &url, caller, &r.eid, &r.iccid)?;
            let env = call_sync(
                smdp,
                &url,
                &es3::UpdatePolicyRulesRequest {
                    base: es3_base(&r.base),
                    eid: r.eid,
                    iccid: r.iccid.clone(),
                    pol2: r.pol2.clone(),
                },
            )?;
            let status = status_in(&env)
                .ok_or_else(|| SmdpError::Es3Call("ES3 response without a status".into()))?;
            Ok(Some(
                es2::UpdatePolicyRulesResponse {
                    base: ok_base(status),
                }
                .to_xml(),
            ))
        }
        es2::Request::UpdateSubscriptionAddress(r) => {
            let url = es3_url(&mut conn, r.smsr_id.as_str())?;
            drop(conn);
            check_owner(smdp, &url, caller, &r.eid, &r.iccid)?;
            let env = call_sync(
                smdp,
                &url,
                &es3::UpdateSubscriptionAddressRequest {
                    base: es3_base(&r.base),
                    eid: r.eid,
                    iccid: r.iccid.clone(),
                    new_subscription_address: r.new_subscription_address.clone(),
                },
            )?;
            let status = status_in(&env)
                .ok_or_else(|| SmdpError::Es3Call("ES3 response without a status".into()))?;
            Ok(Some(
                es2::UpdateSubscriptionAddressResponse {
                    base: ok_base(status),
                }
                .to_xml(),
            ))
        }
        es2::Request::DownloadProfile(_) => Ok(None),
    }
}

pub(crate) fn give_up_at(smdp: &Smdp, now: i64) -> i64 {
    now.saturating_add(i64::try_from(smdp.outbox_give_up.as_millis()).unwrap_or(i64::MAX))
}

/// Runs a relayed ES2 function in the call's transaction: synchronous ones answer what [`prepare`] got;
/// asynchronous ones record the relay, queue the ES3 request (ReplyTo: this SM-DP's ES3 endpoint) and
/// answer 202.
pub fn run(
    smdp: &Smdp,
    conn: &mut AnyConnection,
    ctx: &CallContext<'_>,
    request: &es2::Request,
) -> Result<Reply, SmdpError> {
    let prepared = ctx
        .prepared
        .ok_or_else(|| SmdpError::internal(std::io::Error::other("relay not prepared")))?;
    let reply_to = Some(smdp.identity.service_url(Service::Es3SmDp));
    let queued = match request {
        es2::Request::EnableProfile(r) => es3_envelope(
            smdp,
            prepared,
            &es3::EnableProfileRequest {
                base: es3_base(&r.base),
                eid: r.eid,
                iccid: r.iccid.clone(),
            },
            reply_to,
        )?,
        es2::Request::DisableProfile(r) => es3_envelope(
            smdp,
            prepared,
            &es3::DisableProfileRequest {
                base: es3_base(&r.base),
                eid: r.eid,
                iccid: r.iccid.clone(),
            },
            reply_to,
        )?,
        es2::Request::DeleteProfile(r) => es3_envelope(
            smdp,
            prepared,
            &es3::DeleteIsdpRequest {
                base: es3_base(&r.base),
                eid: r.eid,
                iccid: r.iccid.clone(),
            },
            reply_to,
        )?,
        _ => return Ok(Reply::ok(prepared.to_string())),
    };
    let (message_id, action, envelope) = queued;
    let now = smdp.clock.now_millis();
    let function = es_runtime::soap_endpoint::function_name(request.element_name())
        .replacen("ES2-", "ES3-", 1);
    relays::create(conn, ctx.call_id, &message_id, &function, now)?;
    outbox::enqueue(
        conn,
        &soap_message(
            prepared,
            action,
            envelope,
            &message_id,
            Some(format!("relay:{}", ctx.call_id)),
            now,
            give_up_at(smdp, now),
        ),
        now,
    )?;
    smdp.wake_outbox.notify_one();
    Ok(Reply::accepted())
}

/// The ES2 response answering a relayed call whose ES3 result has `status`.
fn es2_response(es3_function: &str, status: FunctionExecutionStatus) -> Option<(String, String)> {
    let base = ok_base(status);
    let r: es2::Response = match es3_function {
        "ES3-EnableProfile" => es2::EnableProfileResponse { base }.into(),
        "ES3-DisableProfile" => es2::DisableProfileResponse { base }.into(),
        "ES3-DeleteProfile" | "ES3-DeleteISDP" => es2::DeleteProfileResponse { base }.into(),
        _ => return None,
    };
    Some((r.element_name().to_string(), r.to_xml()))
}

/// Completes the ES2 call relayed as ES3 request `es3_message_id` with the SM-SR's `status`: records the final
/// response and queues the callback to the MNO's ReplyTo. A relay already completed is left alone.
pub fn complete_relay(
    smdp: &Smdp,
    conn: &mut AnyConnection,
    es3_message_id: &str,
    status: FunctionExecutionStatus,
) -> Result<(), SmdpError> {
    let now = smdp.clock.now_millis();
    let Some(relay) = relays::by_message_id(conn, es3_message_id)? else {
        return Err(SmdpError::Invalid {
            element: "wsa:RelatesTo".into(),
            why: format!("{es3_message_id} answers no request of this SM-DP"),
        });
    };
    if !relays::complete(conn, relay.id, now)? {
        return Ok(());
    }
    let (element, xml) = es2_response(&relay.es3_function, status).ok_or_else(|| {
        SmdpError::internal(std::io::Error::other(format!(
            "relay of {} cannot be answered",
            relay.es3_function
        )))
    })?;
    answer_es2_call(smdp, conn, relay.es2_call_id, &element, xml)
}

/// Records `xml` (ES2 response element `element`) as the final response of the asynchronous ES2 call
/// `es2_call_id` and queues it as a callback to the call's ReplyTo; a call already completed is left alone.
pub(crate) fn answer_es2_call(
    smdp: &Smdp,
    conn: &mut AnyConnection,
    es2_call_id: i64,
    element: &str,
    xml: String,
) -> Result<(), SmdpError> {
    let now = smdp.clock.now_millis();
    match function_calls::complete_call(
        conn,
        es2_call_id,
        &CallResponse {
            http_status: 200,
            body: xml.clone(),
        },
        now,
    ) {
        Ok(()) => {}
        Err(eis_store::StoreError::Conflict { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let Some(call) = function_calls::get_call(conn, es2_call_id)? else {
        return Ok(());
    };
    let Some(url) = es_runtime::destination::callback_address(call.call.reply_to.as_deref()) else {
        return Ok(());
    };
    let actions = action::for_element(element)
        .ok_or_else(|| SmdpError::internal(std::io::Error::other("no Action")))?;
    let cb_action = actions
        .callback
        .or(actions.response)
        .unwrap_or(actions.request);
    let message_id = smdp.identity.new_message_id(smdp.clock.now());
    let headers = OutgoingHeaders {
        to: url.to_string(),
        from: Some(smdp.identity.from_address(Service::Es2SmDp)),
        reply_to: None,
        message_id: message_id.clone(),
        action: cb_action.to_string(),
        relates_to: call.call.message_id.clone(),
    };
    let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| w.raw(&xml));
    outbox::enqueue(
        conn,
        &soap_message(
            url,
            cb_action,
            envelope,
            &message_id,
            Some(format!("call:{}", call.id)),
            now,
            give_up_at(smdp, now),
        ),
        now,
    )?;
    smdp.wake_outbox.notify_one();
    Ok(())
}

/// Turns an ES3 notification of the SM-SR into the ES2 notification to the MNO it names (`Mno-id`), at that
/// MNO's registered "ES2" endpoint (SGP.02 §5.3.8–§5.3.11).
pub fn forward_notification(
    smdp: &Smdp,
    conn: &mut AnyConnection,
    n: &es3::Notification,
) -> Result<(), SmdpError> {
    let (mno_id, action, xml): (&Oid, &str, String) = match n {
        es3::Notification::ProfileEnabled(m) => (
            &m.mno_id,
            action::ES2_HANDLE_PROFILE_ENABLED_NOTIFICATION.request,
            es2::HandleProfileEnabledNotification {
                eid: m.eid,
                iccid: m.iccid.clone(),
                completion_timestamp: m.completion_timestamp,
            }
            .to_xml(),
        ),
        es3::Notification::ProfileDisabled(m) => (
            &m.mno_id,
            action::ES2_HANDLE_PROFILE_DISABLED_NOTIFICATION.request,
            es2::HandleProfileDisabledNotification {
                eid: m.eid,
                iccid: m.iccid.clone(),
                completion_timestamp: m.completion_timestamp,
            }
            .to_xml(),
        ),
        es3::Notification::ProfileDeleted(m) => (
            &m.mno_id,
            action::ES2_HANDLE_PROFILE_DELETED_NOTIFICATION.request,
            es2::HandleProfileDeletedNotification {
                eid: m.eid,
                iccid: m.iccid.clone(),
                completion_timestamp: m.completion_timestamp,
            }
            .to_xml(),
        ),
        es3::Notification::SmsrChange(m) => (
            &m.mno_id,
            action::ES2_HANDLE_SMSR_CHANGE_NOTIFICATION.request,
            es2::HandleSmsrChangeNotification {
                eis: m.eis.clone(),
                completion_timestamp: m.completion_timestamp,
            }
            .to_xml(),
        ),
    };
    let Some(url) =
        entities::get_entity(conn, mno_id.as_str())?.and_then(|e| e.endpoints.get("ES2").cloned())
    else {
        tracing::info!(mno = %mno_id.as_str(), "the MNO has no ES2 endpoint registered: notification not forwarded");
        return Ok(());
    };
    let now = smdp.clock.now_millis();
    let message_id = smdp.identity.new_message_id(smdp.clock.now());
    let headers = OutgoingHeaders {
        to: url.clone(),
        from: Some(smdp.identity.from_address(Service::Es2SmDp)),
        reply_to: None,
        message_id: message_id.clone(),
        action: action.to_string(),
        relates_to: None,
    };
    let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| w.raw(&xml));
    outbox::enqueue(
        conn,
        &soap_message(
            &url,
            action,
            envelope,
            &message_id,
            Some(format!("mno:{}", mno_id.as_str())),
            now,
            give_up_at(smdp, now),
        ),
        now,
    )?;
    smdp.wake_outbox.notify_one();
    Ok(())
}

/// The SM-DP's sink for synchronous answers to relayed ES3 requests (SGP.02 Annex B: a refusal, or a whole
/// result, answered at once instead of by a callback): an HTTP 200 response with any FunctionExecutionStatus
/// completes the relay like a callback, in the transaction that marks the request delivered.
pub struct RelaySink(pub Arc<Smdp>);

impl ResponseSink for RelaySink {
    fn on_response(
        &self,
        conn: &mut AnyConnection,
        message: &OutboxMessage,
        status: u16,
        body: &str,
    ) -> Result<(), eis_store::StoreError> {
        if status != 200 {
            return Ok(());
        }
        let Some(message_id) = message.message_id.as_deref() else {
            return Ok(());
        };
        let Ok(env) = Envelope::parse(body.as_bytes()) else {
            return Ok(());
        };
        let Some(s) = status_in(&env) else {
            return Ok(());
        };
        // A savepoint: an answer that cannot be applied leaves nothing of it behind.
        match eis_store::savepoint(conn, |c| complete_relay(&self.0, c, message_id, s)) {
            Ok(()) => Ok(()),
            Err(SmdpError::Store(e)) => Err(e),
            Err(e) => {
                tracing::warn!(%message_id, error = %e, "synchronous ES3 answer not applied");
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es3_requests_carry_identifiers_of_the_smdp_not_the_mnos() {
        // Issue 10 item 2: two MNOs using one identifier must not meet under it at the SM-SR, where the SM-DP is
        // the caller for both.
        let es2 = BaseRequest {
            validity_period: Some(
                es_interfaces::types::PositiveInteger::new(600).expect("positive"),
            ),
            ..BaseRequest::new("mno-chosen-1")
        };
        let (a, b) = (es3_base(&es2), es3_base(&es2));
        assert_ne!(a.function_call_identifier, es2.function_call_identifier);
        assert_ne!(a.function_call_identifier, b.function_call_identifier);
        assert!(a.function_call_identifier.starts_with("smdp-"));
        assert_eq!(a.validity_period, es2.validity_period);
    }
}
