//! Messages the SM-SR sends on its own (SGP.02 Annex B): the callback carrying the result of an asynchronous
//! function to the caller's ReplyTo (`wsa:RelatesTo` = the request's MessageID), and the ES4/ES3
//! Handle…Notification of a profile change to the owning MNO and, for a profile downloaded by an SM-DP, to
//! that SM-DP (SGP.02 §5.4.x, §5.5.10–§5.5.12). Both are written to the outbox in the caller's transaction.

use eis_store::AnyConnection;
use eis_store::eis::ProfileInfo;
use eis_store::entities;
use eis_store::function_calls::FunctionCall;
use eis_store::outbox;
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::{es3, es4};
use es_interfaces::soap::{self, OutgoingHeaders, SoapVersion, action};
use es_interfaces::types::{Eid, Iccid, Oid, XsDateTime};
use es_interfaces::wsdl::Service;
use es_runtime::destination;
use es_runtime::outbox::soap_message;

use crate::error::SmsrError;
use crate::service::Smsr;

fn give_up_at(smsr: &Smsr, now: i64) -> i64 {
    now.saturating_add(i64::try_from(smsr.outbox_give_up.as_millis()).unwrap_or(i64::MAX))
}

pub(crate) fn xs_date_time(ms: i64) -> Result<XsDateTime, SmsrError> {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .map_err(SmsrError::internal)?;
    Ok(XsDateTime::utc(t))
}

/// Refuses, before the function runs, a `wsa:ReplyTo` that is not an https address at an origin registered
/// for the caller or on the configured allow list (SGP.02 §2.6; [`es_runtime::destination`]): 1.1 / 1.2.
pub fn check_reply_to(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    caller: &str,
    reply_to: Option<&str>,
) -> Result<(), SmsrError> {
    if !destination::wants_callback(reply_to) {
        return Ok(());
    }
    let registered = entities::endpoints_of(conn, caller)?.unwrap_or_default();
    smsr.outgoing
        .check_reply_to(caller, reply_to, &registered)?;
    Ok(())
}

/// Queues the callback of `call` carrying `response_xml` (a response body element), if it has a usable
/// ReplyTo (SGP.02 Annex B; notes §2.4). Returns whether one was queued.
pub fn queue_callback(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    call: &FunctionCall,
    service: Service,
    response_element: &str,
    response_xml: &str,
    now: i64,
) -> Result<bool, SmsrError> {
    let reply_to = call.call.reply_to.as_deref();
    let Some(url) = destination::callback_address(reply_to) else {
        return Ok(false);
    };
    let callback_action = match action::for_element(response_element) {
        Some(a) => a.callback.or(a.response).unwrap_or(a.request),
        None => es_interfaces::messages::es4v4::actions(response_element)
            .map(|(_, response)| response)
            .ok_or_else(|| {
                SmsrError::internal(std::io::Error::other(format!(
                    "no Action for {response_element}"
                )))
            })?,
    };
    let message_id = smsr.identity.new_message_id(smsr.clock.now());
    let headers = OutgoingHeaders {
        to: url.to_string(),
        from: Some(smsr.identity.from_address(service)),
        reply_to: None,
        message_id: message_id.clone(),
        action: callback_action.to_string(),
        relates_to: call.call.message_id.clone(),
    };
    let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| w.raw(response_xml));
    outbox::enqueue(
        conn,
        &soap_message(
            url,
            callback_action,
            envelope,
            &message_id,
            Some(format!("call:{}", call.id)),
            now,
            give_up_at(smsr, now),
        ),
        now,
    )?;
    smsr.wake.outbox.notify_one();
    Ok(true)
}

/// A request of this SM-SR to another server (ES7 to another SM-SR, SGP.02 §5.7).
pub(crate) struct Request<'a> {
    /// Where to.
    pub url: &'a str,
    /// The service whose address is the `wsa:From` and the `wsa:ReplyTo`.
    pub service: Service,
    /// The request's body element name.
    pub element: &'a str,
    /// The body element.
    pub xml: &'a str,
    /// The outbox correlation.
    pub correlation: String,
    /// Retried until then (unix ms).
    pub give_up_at: i64,
}

/// Queues request `r`, whose answer comes back as a callback to this SM-SR's address (`wsa:ReplyTo`) or
/// synchronously. Returns its `wsa:MessageID`.
pub(crate) fn queue_request(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    r: Request<'_>,
    now: i64,
) -> Result<String, SmsrError> {
    let (url, service, request_element) = (r.url, r.service, r.element);
    let request_action = action::for_element(request_element)
        .map(|a| a.request)
        .ok_or_else(|| {
            SmsrError::internal(std::io::Error::other(format!(
                "no Action for {request_element}"
            )))
        })?;
    let message_id = smsr.identity.new_message_id(smsr.clock.now());
    let headers = OutgoingHeaders {
        to: url.to_string(),
        from: Some(smsr.identity.from_address(service)),
        reply_to: Some(smsr.identity.service_url(service)),
        message_id: message_id.clone(),
        action: request_action.to_string(),
        relates_to: None,
    };
    let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| w.raw(r.xml));
    outbox::enqueue(
        conn,
        &soap_message(
            url,
            request_action,
            envelope,
            &message_id,
            Some(r.correlation),
            now,
            r.give_up_at,
        ),
        now,
    )?;
    smsr.wake.outbox.notify_one();
    Ok(message_id)
}

/// A change of a profile that its owners are told about (SGP.02 §5.5.10–§5.5.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileChange {
    /// Now enabled (Handle…ProfileEnabledNotification).
    Enabled,
    /// Now disabled (Handle…ProfileDisabledNotification).
    Disabled,
    /// Deleted (Handle…ProfileDeletedNotification).
    Deleted,
}

fn parse<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, SmsrError>
where
    T::Err: std::fmt::Display,
{
    v.parse::<T>().map_err(|e| {
        SmsrError::internal(std::io::Error::other(format!(
            "stored {what} {v:?} is not valid: {e}"
        )))
    })
}

/// One notification to queue.
pub(crate) struct NotificationMessage<'a> {
    /// Where to.
    pub url: &'a str,
    /// The service it belongs to (its `wsa:From`).
    pub service: Service,
    /// Its Action.
    pub action: &'static str,
    /// The body element.
    pub body_xml: String,
}

/// Queues a notification in the outbox (SGP.02 Annex B: no ReplyTo, no RelatesTo).
pub(crate) fn queue_notification(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    m: NotificationMessage<'_>,
    correlation: String,
    now: i64,
) -> Result<(), SmsrError> {
    let message_id = smsr.identity.new_message_id(smsr.clock.now());
    let headers = OutgoingHeaders {
        to: m.url.to_string(),
        from: Some(smsr.identity.from_address(m.service)),
        reply_to: None,
        message_id: message_id.clone(),
        action: m.action.to_string(),
        relates_to: None,
    };
    let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| w.raw(&m.body_xml));
    outbox::enqueue(
        conn,
        &soap_message(
            m.url,
            m.action,
            envelope,
            &message_id,
            Some(correlation),
            now,
            give_up_at(smsr, now),
        ),
        now,
    )?;
    Ok(())
}

/// Queues the ES4 notification of `change` to the MNO owning `profile` (at its registered "ES4" endpoint) and,
/// when an SM-DP downloaded the profile, the ES3 notification to that SM-DP (at its "ES3" endpoint). An owner
/// without a registered endpoint is skipped (logged). The eUICC owner's event (ESM2M) is recorded too.
pub fn notify_profile_change(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    eid: &str,
    profile: &ProfileInfo,
    change: ProfileChange,
    completed_at: i64,
    now: i64,
) -> Result<(), SmsrError> {
    crate::esm2m::events::profile_changed(conn, smsr, eid, profile, change, now)?;
    let eid_t: Eid = parse("Eid", eid)?;
    let iccid: Iccid = parse("Iccid", &profile.iccid)?;
    let ts = xs_date_time(completed_at)?;
    let correlation = format!("eid:{eid}");
    let mno = entities::endpoints_of(conn, &profile.mno_id)?;
    let mno_endpoint = mno.as_ref().and_then(|e| e.get("ES4"));
    #[cfg(feature = "test-faults")]
    let mno_endpoint = mno_endpoint.filter(|_| {
        !(change == ProfileChange::Enabled
            && smsr
                .faults
                .omit_profile_enabled_notification
                .load(std::sync::atomic::Ordering::SeqCst))
    });
    match mno_endpoint {
        Some(url) => {
            let (action, body_xml) = match change {
                ProfileChange::Enabled => (
                    action::ES4_HANDLE_PROFILE_ENABLED_NOTIFICATION.request,
                    es4::HandleProfileEnabledNotification {
                        eid: eid_t,
                        iccid: iccid.clone(),
                        completion_timestamp: ts,
                    }
                    .to_xml(),
                ),
                ProfileChange::Disabled => (
                    action::ES4_HANDLE_PROFILE_DISABLED_NOTIFICATION.request,
                    es4::HandleProfileDisabledNotification {
                        eid: eid_t,
                        iccid: iccid.clone(),
                        completion_timestamp: ts,
                    }
                    .to_xml(),
                ),
                ProfileChange::Deleted => (
                    action::ES4_HANDLE_PROFILE_DELETED_NOTIFICATION.request,
                    es4::HandleProfileDeletedNotification {
                        eid: eid_t,
                        iccid: iccid.clone(),
                        completion_timestamp: ts,
                    }
                    .to_xml(),
                ),
            };
            let message = NotificationMessage {
                url,
                service: Service::Es4SmSr,
                action,
                body_xml,
            };
            queue_notification(conn, smsr, message, correlation.clone(), now)?;
        }
        None => tracing::info!(mno = %profile.mno_id, iccid = %profile.iccid, ?change,
            "the owning MNO has no ES4 endpoint registered: notification not sent"),
    }
    if let Some(smdp_id) = &profile.smdp_id {
        let smdp = entities::endpoints_of(conn, smdp_id)?;
        match smdp.as_ref().and_then(|e| e.get("ES3")) {
            Some(url) => {
                let mno_id: Oid = parse("Mno-id", &profile.mno_id)?;
                let (action, body_xml) = match change {
                    ProfileChange::Enabled => (
                        action::ES3_HANDLE_PROFILE_ENABLED_NOTIFICATION.request,
                        es3::HandleProfileEnabledNotification {
                            eid: eid_t,
                            iccid,
                            mno_id,
                            completion_timestamp: ts,
                        }
                        .to_xml(),
                    ),
                    ProfileChange::Disabled => (
                        action::ES3_HANDLE_PROFILE_DISABLED_NOTIFICATION.request,
                        es3::HandleProfileDisabledNotification {
                            eid: eid_t,
                            iccid,
                            mno_id,
                            completion_timestamp: ts,
                        }
                        .to_xml(),
                    ),
                    ProfileChange::Deleted => (
                        action::ES3_HANDLE_PROFILE_DELETED_NOTIFICATION.request,
                        es3::HandleProfileDeletedNotification {
                            eid: eid_t,
                            iccid,
                            mno_id,
                            completion_timestamp: ts,
                        }
                        .to_xml(),
                    ),
                };
                let message = NotificationMessage {
                    url,
                    service: Service::Es3SmSr,
                    action,
                    body_xml,
                };
                queue_notification(conn, smsr, message, correlation, now)?;
            }
            None => tracing::info!(smdp = %smdp_id, iccid = %profile.iccid, ?change,
                "the SM-DP has no ES3 endpoint registered: notification not sent"),
        }
    }
    smsr.wake.outbox.notify_one();
    Ok(())
}
