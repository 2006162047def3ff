//! The suite as the peers' SM-SR on ES3 (SGP.02 §5.4, the function provider) for an SM-DP under test
//! (`rsp conformance run --sut smdp=… --play-smsr HOST:PORT`, [`Need::SuiteSmsr`](super::Need::SuiteSmsr)):
//! a mutual-TLS SOAP 1.2 endpoint with the peers' SM-SR identity (its TLS server certificate, its OID in
//! `wsa:From`), backed by the simulated eUICCs of the peers' world (crate::euicc) at their issuance state.
//!
//! - ES3.GetEIS (§5.4.4) answers the EIS the EUM registers over ES1 ([`crate::eum::build_eis`]) with the card's
//!   current ISD-Ps, as the calling SM-DP may see it: the profiles it manages (`Smdp-id`), the ISD-R without
//!   keys. At the start the SM-DP under test manages eUICC 2's profiles 2 and 3 (one of MNO 1, one of MNO 2:
//!   what `rsp conformance init` asks an SM-SR to hold for the ES2 cases, [`super::es2`]); it then manages the
//!   profiles it downloads.
//! - ES3.CreateISDP (§5.4.1), SendData (§5.4.2), ProfileDownloadCompleted (§5.4.3), EnableProfile (§5.4.9),
//!   DisableProfile (§5.4.10), DeleteISDP (§5.4.11), UpdatePolicyRules (§5.4.7), UpdateSubscriptionAddress
//!   (§5.4.8) and UpdateConnectivityParameters (§5.4.13) are applied to the simulated card through the same ES5
//!   scripts the project's SM-SR sends (smsr::operation::script, es_interfaces::routing for the ES8 data),
//!   run as an SCP81 admin session runs them (`Euicc::run_https_script`); the SM-SR's checks and status codes
//!   are the project's SM-SR's ([`smsr::download::check_create`], [`SmsrError`]). A profile switch completes
//!   at once (no network attach delay) and the card's notification is confirmed (§5.7.11), after which the
//!   SM-DP gets ES3.HandleProfileEnabled/Disabled/DeletedNotification (§5.4.14–§5.4.16) at the address of its
//!   request's `wsa:ReplyTo`.
//! - Callers: a client certificate of the peers' TLS CA that no other peer of the world owns is the SM-DP under
//!   test (its OID from `wsa:From` `EntityId`); an MNO, the EUM or the peers' SM-SR's own client certificate
//!   is refused with 1.1/1.2 (function requester, not allowed). A repeated FunctionCallIdentifier is answered
//!   from the record (§5.1.6.2).
//!
//! Every function is answered **synchronously** (HTTP 200 with the response in the HTTP answer) unless a case holds
//! it ([`SuiteSmsr::hold_next`]: HTTP 202 and no answer ever, to make the SM-DP's function expire): SGP.02
//! Annex B lets a function provider answer any function so, and the project's SM-DP applies a synchronous
//! answer to every ES3 step of a download (smdp::download::driver) and to every relayed function
//! (smdp::relay::RelaySink). Every ES3 message received and sent is kept with the running case
//! ([`SuiteSmsr::log_since`]) and checked against the GSMA XSDs like the suite's other messages.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{HttpRequest, HttpResponse, web};
use certs::world::World;
use es_interfaces::isdr::Es5Command;
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::{BaseResponse, Pol2, SubscriptionAddress};
use es_interfaces::messages::eis::{Eis, ProfileInfo};
use es_interfaces::messages::es3;
use es_interfaces::routing::{self, RoutedResponse};
use es_interfaces::script::ResponseScript;
use es_interfaces::soap::{self, OutgoingHeaders, SoapVersion, action};
use es_interfaces::status::{FunctionExecutionStatus, Reason, StatusCodeData, Subject};
use es_interfaces::types::{Aid, HexBinary, Oid, ProfileState, XsDateTime};
use es_interfaces::wire_profile;
use es_interfaces::wsdl::Service;
use es_runtime::client::{SoapClient, SoapVersion as ClientVersion};
use es_runtime::listener::{ListenerConfig, RunningServer};
use es_runtime::soap_endpoint::ServerIdentity;
use es_runtime::tls::{PeerCertificate, fingerprint};
use smsr::error::SmsrError;

use super::SuiteError;
use super::ctx::{Direction, Exchange, ExchangeLog};
use crate::euicc::{Eid as CardEid, Fleet, SimulatorConfig};
use crate::issuance;

/// The profiles `(eUICC index, slot)` the SM-DP under test manages at the start (`Smdp-id`): eUICC 2's
/// profile of MNO 1 and profile of MNO 2 ([`super::es2`] header; `rsp conformance init`).
pub const MANAGED_AT_START: &[(usize, usize)] = &[(1, 1), (1, 2)];

/// Delay between a synchronous answer and the notification that follows it (SGP.02 §5.4.14–§5.4.16: the
/// eUICC's notification reaches the SM-SR after the function's result).
const NOTIFICATION_DELAY: Duration = Duration::from_millis(200);

/// One ES3 request the SM-DP under test sent to the suite's SM-SR, as the cases check it (SGP.02 §5.4).
#[derive(Debug, Clone)]
pub struct Es3Request {
    /// When it arrived.
    pub at: Instant,
    /// The body element, e.g. `ES3-CreateISDPRequest`.
    pub element: String,
    /// `EntityId` of `wsa:From`.
    pub from_oid: Option<String>,
    /// Whether the client certificate is one of another peer of the world (an MNO, the EUM, the SM-SR).
    pub other_peer: Option<String>,
    /// FunctionCallIdentifier.
    pub function_call_id: String,
    /// `Eid`.
    pub eid: String,
    /// `Iccid`, where the function has one.
    pub iccid: Option<String>,
    /// The status answered.
    pub answered: FunctionExecutionStatus,
}

/// One ISD-P of the EIS the suite's SM-SR keeps (SGP.02 §5.1.1.3 `ProfileInfo`), and whether the SM-DP under
/// test manages it.
#[derive(Debug, Clone)]
struct Profile {
    info: ProfileInfo,
    managed: bool,
}

/// An eUICC of the suite's SM-SR: its EIS as registered (profiles apart), the profiles, the next ISD-P
/// instance (wire-profile §1: never given twice).
#[derive(Debug, Clone)]
struct Card {
    eid: CardEid,
    eis: Eis,
    profiles: Vec<Profile>,
    next_isd_p: i64,
}

struct Platform {
    fleet: Fleet,
    cards: HashMap<String, Card>,
    /// FunctionCallIdentifier → the response body answered (SGP.02 §5.1.6.2).
    answered: HashMap<String, String>,
    /// The next request of this element is refused with this status (a case's fault injection).
    refuse_next: Option<(String, FunctionExecutionStatus)>,
    /// The next request of this element is accepted (HTTP 202) and never answered (a case's fault injection).
    hold_next: Option<String>,
}

struct Shared {
    identity: ServerIdentity,
    platform: Mutex<Platform>,
    /// Fingerprints of the client certificates of the other peers (MNOs, EUM, the SM-SR itself) → name.
    others: Vec<([u8; 32], String)>,
    notifier: SoapClient,
    t0: Instant,
    log: ExchangeLog,
    requests: Mutex<Vec<Es3Request>>,
}

/// The running ES3 endpoint of the suite's SM-SR.
pub struct SuiteSmsr {
    shared: Arc<Shared>,
    handle: ServerHandle,
}

/// What a function leaves to send after its answer: an ES3 notification to the SM-DP (SGP.02 §5.4.14–§5.4.16).
struct Notify {
    to: String,
    action: &'static str,
    element: &'static str,
    xml: String,
}

struct Outcome {
    status: FunctionExecutionStatus,
    eis: Option<Eis>,
    isd_p_aid: Option<Aid>,
    data: Option<Vec<u8>>,
    notify: Option<Notify>,
}

impl Outcome {
    fn success() -> Outcome {
        Outcome {
            status: FunctionExecutionStatus::success(),
            eis: None,
            isd_p_aid: None,
            data: None,
            notify: None,
        }
    }

    fn failed(status: FunctionExecutionStatus) -> Outcome {
        Outcome {
            status,
            ..Outcome::success()
        }
    }
}

fn setup(what: &str, e: impl std::fmt::Display) -> SuiteError {
    SuiteError::Setup(format!("suite SM-SR: {what}: {e}"))
}

fn internal(e: impl std::fmt::Display) -> SmsrError {
    SmsrError::internal(std::io::Error::other(e.to_string()))
}

impl SuiteSmsr {
    /// Starts the endpoint on `listen` (`HOST:PORT`, a port given) with the peers' SM-SR TLS server certificate, admitting client
    /// certificates of the peers' TLS CA; the simulated eUICCs start at their issuance state. Must run inside an
    /// actix system / tokio runtime.
    pub fn start(world: &World, listen: &str) -> Result<SuiteSmsr, SuiteError> {
        let m = &world.manifest;
        let fleet = Fleet::from_world(
            world,
            SimulatorConfig {
                attach_delay_ms: 0,
                rollback_when_unconfirmed: false,
                ..SimulatorConfig::default()
            },
        )
        .map_err(|e| setup("the peers' eUICCs", e))?;
        let now = time::OffsetDateTime::now_utc();
        let mut cards = HashMap::new();
        for (i, e) in world.euiccs.iter().enumerate() {
            let mut eis = crate::eum::build_eis(world, i, now).map_err(|e| setup("EIS", e))?;
            let profiles = std::mem::take(&mut eis.profile_info)
                .into_iter()
                .enumerate()
                .map(|(slot, info)| Profile {
                    info,
                    managed: MANAGED_AT_START.contains(&(i, slot)),
                })
                .collect::<Vec<_>>();
            let next_isd_p =
                smsr::download::index_after(profiles.iter().map(|p| p.info.isd_p_aid.as_bytes()));
            let eid = CardEid::parse(&e.eid).map_err(|e| setup("EID", e))?;
            cards.insert(
                e.eid.clone(),
                Card {
                    eid,
                    eis,
                    profiles,
                    next_isd_p,
                },
            );
        }
        let read = |rel: &str| {
            let path = world.dir.join(rel);
            std::fs::read(&path).map_err(|e| setup(&path.display().to_string(), e))
        };
        let print = |rel: &str| -> Result<[u8; 32], SuiteError> {
            let cert = openssl::x509::X509::from_pem(&read(rel)?).map_err(|e| setup(rel, e))?;
            Ok(fingerprint(&cert.to_der().map_err(|e| setup(rel, e))?))
        };
        let mut others = vec![
            (print(&m.eum_tls_client.cert)?, "the EUM".to_string()),
            (print(&m.sm_sr_tls_client.cert)?, "the SM-SR".to_string()),
        ];
        for (i, mno) in m.mnos.iter().enumerate() {
            others.push((print(&mno.tls_client.cert)?, format!("MNO {}", i + 1)));
        }
        let notifier = SoapClient::new(
            &read(&m.sm_sr_tls_client.cert)?,
            &read(&m.sm_sr_tls_client.key)?,
            &read(&m.tls_ca.cert)?,
            Duration::from_secs(30),
        )
        .map_err(|e| setup("TLS client", e))?;
        let shared = Arc::new(Shared {
            identity: ServerIdentity {
                oid: m.sm_sr.oid.clone(),
                name: m.sm_sr.name.clone(),
                public_url: format!("https://{listen}"),
            },
            platform: Mutex::new(Platform {
                fleet,
                cards,
                answered: HashMap::new(),
                refuse_next: None,
                hold_next: None,
            }),
            others,
            notifier,
            t0: Instant::now(),
            log: ExchangeLog::new("SM-SR (suite)"),
            requests: Mutex::new(Vec::new()),
        });
        let data = web::Data::from(shared.clone());
        let routes = move |c: &mut web::ServiceConfig| {
            c.app_data(data.clone())
                .app_data(web::PayloadConfig::new(4 << 20))
                .default_service(web::post().to(es3_endpoint));
        };
        let running: RunningServer = es_runtime::listener::start(
            routes,
            &ListenerConfig {
                listen: listen.to_string(),
                tls_cert: world.dir.join(&m.sm_sr_tls_server.cert),
                tls_key: world.dir.join(&m.sm_sr_tls_server.key),
                client_ca: world.dir.join(&m.tls_ca.cert),
                workers: 2,
            },
        )
        .map_err(|e| setup(listen, e))?;
        let port = running
            .addrs
            .first()
            .map(|a| a.port())
            .ok_or_else(|| setup(listen, "no address bound"))?;
        let handle = running.handle.clone();
        tokio::spawn(running.server);
        tracing::info!(port, "suite SM-SR listening");
        Ok(SuiteSmsr { shared, handle })
    }

    /// Refuses the next request with body element `element` (e.g. `ES3-CreateISDPRequest`) with `status`
    /// instead of running it (a case's fault injection: the SM-DP's handling of an ES3 refusal).
    pub fn refuse_next(&self, element: &str, status: FunctionExecutionStatus) {
        if let Ok(mut p) = self.shared.platform.lock() {
            p.refuse_next = Some((element.to_string(), status));
        }
    }

    /// Sends the SM-DP under test (`smdp_oid`, at its ES3 endpoint `to`) ES3.HandleSMSRChangeNotification of
    /// eUICC `eid` as if it had moved to another SM-SR (SGP.02 §5.4.17): the EIS as that SM-DP sees it, `mno` as
    /// `Mno-id`. Recorded with the running case; the SM-DP's HTTP status, or why it was not delivered.
    pub async fn notify_smsr_change(
        &self,
        to: &str,
        smdp_oid: &str,
        eid: &str,
        mno: &str,
    ) -> Result<u16, String> {
        let eis = self
            .shared
            .platform
            .lock()
            .map_err(|_| "the suite's SM-SR state is poisoned".to_string())?
            .eis_for(eid, smdp_oid)
            .map_err(|e| e.to_string())?;
        let xml = es3::HandleSmsrChangeNotification {
            eis,
            mno_id: mno.parse().map_err(|e| format!("Mno-id {mno}: {e}"))?,
            completion_timestamp: XsDateTime::utc(time::OffsetDateTime::now_utc()),
        }
        .to_xml();
        send_notification(
            &self.shared,
            Notify {
                to: to.to_string(),
                action: action::ES3_HANDLE_SMSR_CHANGE_NOTIFICATION.request,
                element: es3::HandleSmsrChangeNotification::ELEMENT,
                xml,
            },
        )
        .await
    }

    /// Drops a refusal [`SuiteSmsr::refuse_next`] set that no request took.
    pub fn clear_refusal(&self) {
        if let Ok(mut p) = self.shared.platform.lock() {
            p.refuse_next = None;
        }
    }

    /// Accepts the next request with body element `element` asynchronously (HTTP 202, SGP.02 Annex B) and never
    /// answers it (a case's fault injection: the SM-DP's handling of a function that outlives its validity
    /// period, §5.1.6.4). It is recorded as answered EXPIRED. `None` drops a hold no request took.
    pub fn hold_next(&self, element: Option<&str>) {
        if let Ok(mut p) = self.shared.platform.lock() {
            p.hold_next = element.map(str::to_string);
        }
    }

    /// The ES3 requests received since `since`, in order.
    pub fn requests_since(&self, since: Instant) -> Vec<Es3Request> {
        self.shared
            .requests
            .lock()
            .map(|r| r.iter().filter(|q| q.at >= since).cloned().collect())
            .unwrap_or_default()
    }

    /// Every ES3 message exchanged since `since` (requests and answers, notifications and their
    /// acknowledgements), with when each crossed.
    pub(crate) fn log_since(&self, since: Instant) -> Vec<(Instant, Exchange)> {
        self.shared.log.since(since)
    }

    /// The ISD-Ps the simulated eUICC `eid` holds: AID (hex) and the ICCID of its profile — the card's, or for
    /// an ISD-P created without a profile yet, the one ES3.CreateISDP named.
    pub fn card_isd_ps(&self, eid: &str) -> Vec<(String, Option<String>)> {
        let Ok(p) = self.shared.platform.lock() else {
            return Vec::new();
        };
        let Some(card) = p.cards.get(eid) else {
            return Vec::new();
        };
        let created = |aid: &[u8]| {
            card.profiles
                .iter()
                .find(|q| q.info.isd_p_aid.as_bytes() == aid)
                .map(|q| q.info.iccid.as_str().to_string())
        };
        p.fleet
            .euicc(&card.eid)
            .map(|e| {
                e.isd_ps()
                    .iter()
                    .map(|i| {
                        let iccid = i
                            .iccid()
                            .map(|c| c.to_string())
                            .or_else(|| created(i.aid().as_bytes()));
                        (i.aid().to_string(), iccid)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stops the endpoint.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.t0.elapsed().as_millis() as u64
    }
}

/// The ES3 endpoint (SGP.02 §5.4, Annex B): one request, one synchronous answer.
async fn es3_endpoint(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> HttpResponse {
    let url = shared.identity.service_url(Service::Es3SmSr);
    let (env, _) = match shared.log.receive(&body, &url, "ES3 request (unreadable)") {
        Ok(read) => read,
        Err(fault) => return shared.log.answer(&url, 400, fault),
    };
    let element = env.body().local_name().to_string();
    let wsa = env.wsa().clone();
    let response_action = action::for_element(&element)
        .and_then(|a| a.response)
        .unwrap_or("http://www.w3.org/2005/08/addressing/fault");
    let headers = OutgoingHeaders::reply(
        &wsa,
        &shared.identity.from_address(Service::Es3SmSr),
        shared
            .identity
            .new_message_id(time::OffsetDateTime::now_utc()),
        response_action,
    );
    let request = match es3::Request::decode(env.body()) {
        Ok(r) => r,
        Err(e) => {
            let fault = soap::decode_error_fault(env.version(), &e, Some(&headers));
            return shared.log.answer(&url, 400, fault);
        }
    };
    let from_oid = wsa
        .from
        .as_ref()
        .and_then(|f| f.entity_id())
        .map(str::to_string);
    let other_peer = req.conn_data::<PeerCertificate>().and_then(|c| {
        shared
            .others
            .iter()
            .find(|(fp, _)| *fp == c.sha256)
            .map(|(_, who)| who.clone())
    });
    let (eid, iccid, fci) = subject_of(&request);
    let caller = from_oid.clone().unwrap_or_default();
    let (xml, status, notify) = match &other_peer {
        Some(who) => {
            let status = FunctionExecutionStatus::failed(StatusCodeData::new(
                Subject::FUNCTION_REQUESTER,
                Reason::NOT_ALLOWED,
                Some(format!("{who} may not call ES3 at an SM-SR")),
            ));
            (
                Some(response_xml(&request, Outcome::failed(status.clone()))),
                status,
                None,
            )
        }
        None => {
            let key = format!("{caller} {fci}");
            let repeated = shared
                .platform
                .lock()
                .ok()
                .and_then(|p| p.answered.get(&key).cloned());
            match repeated {
                Some(xml) => {
                    let status = super::ctx::status_in(&xml)
                        .unwrap_or_else(FunctionExecutionStatus::success);
                    (Some(xml), status, None)
                }
                // Held: accepted, never answered (no response body to give).
                None if held(&shared, &element) => (
                    None,
                    FunctionExecutionStatus::expired(Some(
                        "held by the suite: never answered".into(),
                    )),
                    None,
                ),
                None => {
                    let reply_to = wsa
                        .reply_address()
                        .map(|u| u.as_str().split('?').next().unwrap_or_default().to_string());
                    let mut outcome = run(&shared, &caller, &request, reply_to);
                    let status = outcome.status.clone();
                    let notify = outcome.notify.take();
                    let xml = response_xml(&request, outcome);
                    if let Ok(mut p) = shared.platform.lock() {
                        p.answered.insert(key, xml.clone());
                    }
                    (Some(xml), status, notify)
                }
            }
        }
    };
    if let Ok(mut r) = shared.requests.lock() {
        r.push(Es3Request {
            at: Instant::now(),
            element,
            from_oid,
            other_peer,
            function_call_id: fci,
            eid,
            iccid,
            answered: status,
        });
    }
    let Some(xml) = xml else {
        return shared.log.answer(&url, 202, String::new());
    };
    let envelope = soap::envelope(env.version(), &headers, |w| w.raw(&xml));
    let answer = shared.log.answer(&url, 200, envelope);
    if let Some(n) = notify {
        let shared = shared.into_inner();
        tokio::spawn(async move {
            tokio::time::sleep(NOTIFICATION_DELAY).await;
            // A notification not delivered is logged inside; the case waiting for its effect judges it.
            let _ = send_notification(&shared, n).await;
        });
    }
    answer
}

/// Sends an ES3 notification to the SM-DP (SGP.02 §5.4.14–§5.4.16) and records it with the answer.
async fn send_notification(shared: &Shared, n: Notify) -> Result<u16, String> {
    let headers = OutgoingHeaders {
        to: n.to.clone(),
        from: Some(shared.identity.from_address(Service::Es3SmSr)),
        reply_to: None,
        message_id: shared
            .identity
            .new_message_id(time::OffsetDateTime::now_utc()),
        action: n.action.to_string(),
        relates_to: None,
    };
    let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| w.raw(&n.xml));
    shared
        .log
        .record(Direction::ToSut, n.element, &n.to, None, envelope.clone());
    match shared
        .notifier
        .post(&n.to, ClientVersion::V12, n.action, envelope)
        .await
    {
        Ok(reply) => {
            shared.log.record(
                Direction::FromSut,
                "HTTP answer",
                &n.to,
                Some(reply.status),
                reply.body,
            );
            Ok(reply.status)
        }
        Err(e) => {
            tracing::warn!(to = %n.to, error = %e, "suite SM-SR: notification not delivered");
            Err(e.to_string())
        }
    }
}

/// The EID, the ICCID (where the function has one) and the FunctionCallIdentifier of a request.
fn subject_of(r: &es3::Request) -> (String, Option<String>, String) {
    macro_rules! of {
        ($m:expr, iccid) => {
            (
                $m.eid.to_string(),
                Some($m.iccid.as_str().to_string()),
                $m.base.function_call_identifier.clone(),
            )
        };
        ($m:expr) => {
            (
                $m.eid.to_string(),
                None,
                $m.base.function_call_identifier.clone(),
            )
        };
    }
    match r {
        es3::Request::GetEis(m) => of!(m),
        es3::Request::AuditEis(m) => of!(m),
        es3::Request::CreateIsdp(m) => of!(m, iccid),
        es3::Request::SendData(m) => of!(m),
        es3::Request::ProfileDownloadCompleted(m) => of!(m, iccid),
        es3::Request::UpdatePolicyRules(m) => of!(m, iccid),
        es3::Request::UpdateSubscriptionAddress(m) => of!(m, iccid),
        es3::Request::EnableProfile(m) => of!(m, iccid),
        es3::Request::DisableProfile(m) => of!(m, iccid),
        es3::Request::DeleteIsdp(m) => of!(m, iccid),
        es3::Request::UpdateConnectivityParameters(m) => of!(m, iccid),
    }
}

/// The response element of `request` carrying `o`.
fn response_xml(request: &es3::Request, o: Outcome) -> String {
    let base = BaseResponse::with_status(o.status);
    let data = o.data.and_then(|d| HexBinary::from_bytes(&d).ok());
    let r: es3::Response = match request {
        es3::Request::GetEis(_) => es3::GetEisResponse { base, eis: o.eis }.into(),
        es3::Request::AuditEis(_) => es3::AuditEisResponse { base, eis: o.eis }.into(),
        es3::Request::CreateIsdp(_) => es3::CreateIsdpResponse {
            base,
            isd_p_aid: o.isd_p_aid.unwrap_or_else(Aid::create_isdp_refused),
            euicc_response_data: data,
        }
        .into(),
        es3::Request::SendData(_) => es3::SendDataResponse {
            base,
            euicc_response_data: data,
        }
        .into(),
        es3::Request::ProfileDownloadCompleted(_) => {
            es3::ProfileDownloadCompletedResponse { base }.into()
        }
        es3::Request::UpdatePolicyRules(_) => es3::UpdatePolicyRulesResponse { base }.into(),
        es3::Request::UpdateSubscriptionAddress(_) => {
            es3::UpdateSubscriptionAddressResponse { base }.into()
        }
        es3::Request::EnableProfile(_) => es3::EnableProfileResponse {
            base,
            euicc_response_data: data,
        }
        .into(),
        es3::Request::DisableProfile(_) => es3::DisableProfileResponse {
            base,
            euicc_response_data: data,
        }
        .into(),
        es3::Request::DeleteIsdp(_) => es3::DeleteIsdpResponse {
            base,
            euicc_response_data: data,
        }
        .into(),
        es3::Request::UpdateConnectivityParameters(_) => {
            es3::UpdateConnectivityParametersResponse {
                base,
                euicc_response_data: data,
            }
            .into()
        }
    };
    r.to_xml()
}

/// Whether a request with body element `element` is the one [`SuiteSmsr::hold_next`] holds (then the hold is used).
fn held(shared: &Shared, element: &str) -> bool {
    shared
        .platform
        .lock()
        .ok()
        .and_then(|mut p| p.hold_next.take_if(|e| e == element))
        .is_some()
}

/// Runs one ES3 function of `caller` (the SM-DP under test) on the platform.
fn run(shared: &Shared, caller: &str, request: &es3::Request, reply_to: Option<String>) -> Outcome {
    let now = shared.now_ms();
    let Ok(mut p) = shared.platform.lock() else {
        return Outcome::failed(
            SmsrError::internal(std::io::Error::other("poisoned")).execution_status(),
        );
    };
    let element = request.element_name();
    if let Some((_, status)) = p.refuse_next.take_if(|r| r.0 == element) {
        return Outcome::failed(status);
    }
    match p.function(caller, request, reply_to, now) {
        Ok(o) => o,
        Err(e) => Outcome::failed(e.execution_status()),
    }
}

fn to_eis_state(s: issuance::ProfileState) -> ProfileState {
    match s {
        issuance::ProfileState::Enabled => ProfileState::Enabled,
        issuance::ProfileState::Disabled => ProfileState::Disabled,
        issuance::ProfileState::Created => ProfileState::Created,
    }
}

impl Platform {
    fn card(&self, eid: &str) -> Result<&Card, SmsrError> {
        self.cards.get(eid).ok_or_else(|| SmsrError::UnknownEid {
            eid: eid.to_string(),
        })
    }

    /// The profile `iccid` on `eid` (SGP.02 §5.4: 8.1.1/3.9 unknown EID, 8.2.1/3.9 unknown ICCID).
    fn profile(&self, eid: &str, iccid: &str) -> Result<(usize, ProfileInfo), SmsrError> {
        let card = self.card(eid)?;
        card.profiles
            .iter()
            .position(|p| p.info.iccid.as_str() == iccid)
            .map(|i| (i, card.profiles[i].info.clone()))
            .ok_or_else(|| SmsrError::UnknownIccid {
                iccid: iccid.to_string(),
            })
    }

    /// The card's state of the ISD-P `aid` of `eid`, if the card holds it.
    fn card_state(&self, eid: &str, aid: &[u8]) -> Option<ProfileState> {
        let card = self.cards.get(eid)?;
        self.fleet
            .euicc(&card.eid)?
            .isd_p(aid)
            .map(|i| to_eis_state(i.state()))
    }

    /// Runs the expanded script `script` on the ISD-R of `eid` as an admin session does (wire-profile §3).
    fn run_script(
        &mut self,
        eid: &str,
        script: &[u8],
        now: u64,
    ) -> Result<ResponseScript, SmsrError> {
        let card = self.card(eid)?.eid;
        let (result, _outputs) = self
            .fleet
            .run_https_script(&card, script, None, now)
            .map_err(internal)?;
        let bytes = result
            .map_err(internal)?
            .ok_or_else(|| internal("no ISD-R"))?;
        ResponseScript::parse_expanded(&bytes).map_err(internal)
    }

    /// Runs the ES5 commands on `eid` and fails unless every one answered success (SGP.02 §5.7).
    fn run_commands(
        &mut self,
        eid: &str,
        commands: &[Es5Command],
        refused: impl Fn(String) -> SmsrError,
        now: u64,
    ) -> Result<Vec<u8>, SmsrError> {
        let script = smsr::operation::script(commands)?;
        let answer = self.run_script(eid, &script, now)?;
        if let Some(bad) = answer.responses.iter().find(|r| !r.sw.is_success()) {
            return Err(refused(format!("the eUICC answered SW {}", bad.sw)));
        }
        if answer.responses.len() < commands.len() {
            return Err(refused("the eUICC did not execute every command".into()));
        }
        answer.to_expanded().map_err(internal)
    }

    /// Completes a profile switch on `eid` (no attach delay) and confirms the card's notifications as the SM-SR
    /// does (SGP.02 §3.2, §5.7.11).
    fn settle(&mut self, eid: &str, now: u64) -> Result<(), SmsrError> {
        let _ = self.fleet.poll(now);
        let card = self.card(eid)?.eid;
        let pending = self
            .fleet
            .euicc(&card)
            .map(|e| e.pending_notifications())
            .unwrap_or_default();
        for (sequence, _) in pending {
            let script = smsr::operation::script(&[Es5Command::HandleNotificationConfirmation {
                sequence,
            }])?;
            self.run_script(eid, &script, now)?;
        }
        Ok(())
    }

    /// The EIS of `eid` as the SM-DP `caller` sees it (SGP.02 §5.4.4; Annex E): the card's current ISD-Ps among
    /// the profiles the SM-DP manages, the ISD-R without keys.
    fn eis_for(&self, eid: &str, caller: &str) -> Result<Eis, SmsrError> {
        let card = self.card(eid)?;
        let smdp: Oid = caller.parse().map_err(|e| SmsrError::Invalid {
            element: "wsa:From".into(),
            why: format!("EntityId {caller:?}: {e}"),
        })?;
        let mut eis = card.eis.clone();
        let mut used = 0u64;
        for p in &card.profiles {
            let state = self.card_state(eid, p.info.isd_p_aid.as_bytes());
            let Some(state) = state else { continue };
            used += p.info.allocated_memory;
            if p.managed {
                eis.profile_info.push(ProfileInfo {
                    state,
                    smdp_id: Some(smdp.clone()),
                    ..p.info.clone()
                });
            }
        }
        eis.remaining_memory = eis.available_memory_for_profiles.saturating_sub(used);
        eis.isd_r = eis.isd_r.identity_only();
        Ok(eis)
    }

    fn remaining(&self, eid: &str) -> Result<i64, SmsrError> {
        let card = self.card(eid)?;
        let used: u64 = card
            .profiles
            .iter()
            .filter(|p| self.card_state(eid, p.info.isd_p_aid.as_bytes()).is_some())
            .map(|p| p.info.allocated_memory)
            .sum();
        Ok(i64::try_from(card.eis.available_memory_for_profiles.saturating_sub(used)).unwrap_or(0))
    }

    /// A managed profile the SM-DP may act on (SGP.02 §5.4: another SM-DP's profile is unknown to it).
    fn managed(&self, eid: &str, iccid: &str) -> Result<(usize, ProfileInfo), SmsrError> {
        let (i, info) = self.profile(eid, iccid)?;
        let card = self.card(eid)?;
        if !card.profiles[i].managed || self.card_state(eid, info.isd_p_aid.as_bytes()).is_none() {
            return Err(SmsrError::UnknownIccid {
                iccid: iccid.to_string(),
            });
        }
        Ok((i, info))
    }

    fn notification(
        reply_to: &Option<String>,
        element: &'static str,
        action: &'static str,
        xml: String,
    ) -> Option<Notify> {
        reply_to.as_ref().map(|to| Notify {
            to: to.clone(),
            action,
            element,
            xml,
        })
    }

    fn function(
        &mut self,
        caller: &str,
        request: &es3::Request,
        reply_to: Option<String>,
        now: u64,
    ) -> Result<Outcome, SmsrError> {
        let stamp = || XsDateTime::utc(time::OffsetDateTime::now_utc());
        match request {
            // §5.4.4 (AuditEIS §5.4.5 answers the same view: the card is the source of every state here).
            es3::Request::GetEis(r) => Ok(Outcome {
                eis: Some(self.eis_for(&r.eid.to_string(), caller)?),
                ..Outcome::success()
            }),
            es3::Request::AuditEis(r) => Ok(Outcome {
                eis: Some(self.eis_for(&r.eid.to_string(), caller)?),
                ..Outcome::success()
            }),
            // §5.4.1: the checks, the next ISD-P AID, ES5.CreateISDP.
            es3::Request::CreateIsdp(r) => {
                let eid = r.eid.to_string();
                let iccid = r.iccid.as_str();
                let remaining = self
                    .card(&eid)
                    .ok()
                    .map(|_| self.remaining(&eid))
                    .transpose()?;
                let known = self
                    .cards
                    .values()
                    .any(|c| c.profiles.iter().any(|p| p.info.iccid.as_str() == iccid));
                let quota =
                    smsr::download::check_create(&eid, iccid, known, r.required_memory, remaining)?;
                let index = self.card(&eid)?.next_isd_p;
                let aid = u8::try_from(index)
                    .ok()
                    .and_then(wire_profile::isd_p_aid)
                    .ok_or_else(|| SmsrError::NoIsdpAidLeft { eid: eid.clone() })?;
                if let Some(c) = self.cards.get_mut(&eid) {
                    c.next_isd_p = index + 1;
                }
                let data = self.run_commands(
                    &eid,
                    &[Es5Command::CreateIsdp {
                        isd_p_aid: aid.to_vec(),
                        memory_quota: Some(quota),
                    }],
                    |why| SmsrError::ProfileRefused {
                        iccid: iccid.to_string(),
                        action: "created",
                        why,
                    },
                    now,
                )?;
                let isd_p_aid = Aid::from_bytes(&aid).map_err(internal)?;
                let info = ProfileInfo {
                    iccid: r.iccid.clone(),
                    isd_p_aid: isd_p_aid.clone(),
                    mno_id: r.mno_id.clone(),
                    fallback_attribute: false,
                    subscription_address: SubscriptionAddress {
                        imsi: None,
                        msisdn: None,
                    },
                    state: ProfileState::Created,
                    smdp_id: None,
                    profile_type: None,
                    allocated_memory: u64::try_from(r.required_memory).unwrap_or(0),
                    free_memory: None,
                    pol2: Pol2 { rules: Vec::new() },
                };
                if let Some(c) = self.cards.get_mut(&eid) {
                    c.profiles.push(Profile {
                        info,
                        managed: true,
                    });
                }
                Ok(Outcome {
                    isd_p_aid: Some(isd_p_aid),
                    data: Some(data),
                    ..Outcome::success()
                })
            }
            // §5.4.2: the ES8 script routed through the ISD-R to the SM-DP's ISD-P (wire-profile §5).
            es3::Request::SendData(r) => {
                let eid = r.eid.to_string();
                let aid = r.sd_aid.as_bytes().to_vec();
                let card = self.card(&eid)?;
                let target = card
                    .profiles
                    .iter()
                    .find(|p| p.info.isd_p_aid.as_bytes() == aid.as_slice())
                    .filter(|_| self.card_state(&eid, &aid).is_some());
                let Some(target) = target else {
                    return Err(SmsrError::UnknownIsdp {
                        aid: hex::encode_upper(&aid),
                        eid,
                    });
                };
                if !target.managed {
                    return Err(SmsrError::IsdpNotAllowed {
                        caller: caller.to_string(),
                        aid: hex::encode_upper(&aid),
                    });
                }
                let routed = routing::routed_script(&aid, r.data.as_bytes())
                    .and_then(|s| s.to_expanded().map_err(routing::RoutingError::from))
                    .map_err(|e| SmsrError::Invalid {
                        element: "Data".into(),
                        why: e.to_string(),
                    })?;
                let sent = es_interfaces::script::CommandScript::parse_expanded(r.data.as_bytes())
                    .map(|s| s.commands.len())
                    .unwrap_or(0);
                let answer = self.run_script(&eid, &routed, now)?;
                Ok(routed_outcome(&aid, sent, answer)?)
            }
            // §5.4.3: the Created profile becomes Disabled with its subscription address, POL2 and type.
            es3::Request::ProfileDownloadCompleted(r) => {
                let eid = r.eid.to_string();
                let (i, _) = self.managed(&eid, r.iccid.as_str())?;
                if let Some(c) = self.cards.get_mut(&eid) {
                    let p = &mut c.profiles[i].info;
                    if let Some(a) = &r.subscription_address {
                        p.subscription_address = a.clone();
                    }
                    p.profile_type = match &r.profile_type {
                        Some(t) => Some(t.parse().map_err(|e| SmsrError::Invalid {
                            element: "ProfileType".into(),
                            why: format!("{e}"),
                        })?),
                        None => None,
                    };
                    if let Some(pol2) = &r.pol2 {
                        p.pol2 = pol2.clone();
                    }
                }
                Ok(Outcome::success())
            }
            // §5.4.7.
            es3::Request::UpdatePolicyRules(r) => {
                let eid = r.eid.to_string();
                let (i, _) = self.managed(&eid, r.iccid.as_str())?;
                if let Some(c) = self.cards.get_mut(&eid) {
                    c.profiles[i].info.pol2 = r.pol2.clone().unwrap_or(Pol2 { rules: Vec::new() });
                }
                Ok(Outcome::success())
            }
            // §5.4.8.
            es3::Request::UpdateSubscriptionAddress(r) => {
                let eid = r.eid.to_string();
                let (i, _) = self.managed(&eid, r.iccid.as_str())?;
                if let Some(c) = self.cards.get_mut(&eid) {
                    c.profiles[i].info.subscription_address = r.new_subscription_address.clone();
                }
                Ok(Outcome::success())
            }
            // §5.4.9 / §5.4.10: ES5.EnableProfile / DisableProfile, the switch, the notification.
            es3::Request::EnableProfile(r) => self.switch(&r.eid, &r.iccid, true, &reply_to, now),
            es3::Request::DisableProfile(r) => self.switch(&r.eid, &r.iccid, false, &reply_to, now),
            es3::Request::DeleteIsdp(r) => {
                let eid = r.eid.to_string();
                let iccid = r.iccid.as_str();
                let (_, info) = self.managed(&eid, iccid)?;
                if self.card_state(&eid, info.isd_p_aid.as_bytes()) == Some(ProfileState::Enabled) {
                    return Err(SmsrError::ProfileRefused {
                        iccid: iccid.to_string(),
                        action: "deleted",
                        why: "it is enabled".into(),
                    });
                }
                let data = self.run_commands(
                    &eid,
                    &[Es5Command::DeleteProfile {
                        isd_p_aid: info.isd_p_aid.as_bytes().to_vec(),
                    }],
                    |why| SmsrError::ProfileRefused {
                        iccid: iccid.to_string(),
                        action: "deleted",
                        why,
                    },
                    now,
                )?;
                if let Some(c) = self.cards.get_mut(&eid) {
                    c.profiles.retain(|p| p.info.iccid.as_str() != iccid);
                }
                let xml = es3::HandleProfileDeletedNotification {
                    eid: r.eid,
                    iccid: r.iccid.clone(),
                    mno_id: info.mno_id.clone(),
                    completion_timestamp: stamp(),
                }
                .to_xml();
                Ok(Outcome {
                    data: Some(data),
                    notify: Self::notification(
                        &reply_to,
                        "ES3-HandleProfileDeletedNotification",
                        action::ES3_HANDLE_PROFILE_DELETED_NOTIFICATION.request,
                        xml,
                    ),
                    ..Outcome::success()
                })
            }
            // §5.4.13: the ES8 data routed to the profile's ISD-P, as SendData (wire-profile §5).
            es3::Request::UpdateConnectivityParameters(r) => {
                let eid = r.eid.to_string();
                let (_, info) = self.managed(&eid, r.iccid.as_str())?;
                let aid = info.isd_p_aid.as_bytes().to_vec();
                let routed = routing::routed_script(&aid, r.connectivity_parameters.as_bytes())
                    .and_then(|s| s.to_expanded().map_err(routing::RoutingError::from))
                    .map_err(|e| SmsrError::Invalid {
                        element: "ConnectivityParameters".into(),
                        why: e.to_string(),
                    })?;
                let sent = es_interfaces::script::CommandScript::parse_expanded(
                    r.connectivity_parameters.as_bytes(),
                )
                .map(|s| s.commands.len())
                .unwrap_or(0);
                let answer = self.run_script(&eid, &routed, now)?;
                routed_outcome(&aid, sent, answer)
            }
        }
    }
}

impl Platform {
    /// ES3.EnableProfile (§5.4.9) or DisableProfile (§5.4.10): the state check, ES5.EnableProfile /
    /// DisableProfile, the switch completed and the card's notification confirmed, then
    /// HandleProfileEnabledNotification / HandleProfileDisabledNotification to the SM-DP.
    fn switch(
        &mut self,
        eid: &es_interfaces::types::Eid,
        iccid: &es_interfaces::types::Iccid,
        enable: bool,
        reply_to: &Option<String>,
        now: u64,
    ) -> Result<Outcome, SmsrError> {
        let e = eid.to_string();
        let (_, info) = self.managed(&e, iccid.as_str())?;
        let aid = info.isd_p_aid.as_bytes().to_vec();
        let state = self.card_state(&e, &aid);
        let (verb, wrong) = if enable {
            ("enabled", state != Some(ProfileState::Disabled))
        } else {
            ("disabled", state != Some(ProfileState::Enabled))
        };
        let refused = |why: String| SmsrError::ProfileRefused {
            iccid: iccid.as_str().to_string(),
            action: verb,
            why,
        };
        if wrong {
            let state = state.map_or("absent from the eUICC", |s| s.as_str());
            return Err(refused(format!("it is {state}")));
        }
        let command = if enable {
            Es5Command::EnableProfile { isd_p_aid: aid }
        } else {
            Es5Command::DisableProfile { isd_p_aid: aid }
        };
        let data = self.run_commands(&e, &[command], refused, now)?;
        self.settle(&e, now)?;
        let completion_timestamp = XsDateTime::utc(time::OffsetDateTime::now_utc());
        let notify = if enable {
            Self::notification(
                reply_to,
                "ES3-HandleProfileEnabledNotification",
                action::ES3_HANDLE_PROFILE_ENABLED_NOTIFICATION.request,
                es3::HandleProfileEnabledNotification {
                    eid: *eid,
                    iccid: iccid.clone(),
                    mno_id: info.mno_id.clone(),
                    completion_timestamp,
                }
                .to_xml(),
            )
        } else {
            Self::notification(
                reply_to,
                "ES3-HandleProfileDisabledNotification",
                action::ES3_HANDLE_PROFILE_DISABLED_NOTIFICATION.request,
                es3::HandleProfileDisabledNotification {
                    eid: *eid,
                    iccid: iccid.clone(),
                    mno_id: info.mno_id.clone(),
                    completion_timestamp,
                }
                .to_xml(),
            )
        };
        Ok(Outcome {
            data: Some(data),
            notify,
            ..Outcome::success()
        })
    }
}

/// The outcome of a script routed to the ISD-P `aid` that carried `sent` ES8 commands (wire-profile §5; the
/// project's SM-SR's ES3.SendData contract): success when the ISD-P answered every one with `9000`/`61xx`,
/// else 8.4/4.2 (ISD-R, execution error); the ISD-P's response script as `EuiccResponseData` either way.
fn routed_outcome(aid: &[u8], sent: usize, answer: ResponseScript) -> Result<Outcome, SmsrError> {
    let failed = |why: String| {
        FunctionExecutionStatus::failed(StatusCodeData::new(
            Subject::ISD_R,
            Reason::EXECUTION_ERROR,
            Some(why),
        ))
    };
    let aid = hex::encode_upper(aid);
    Ok(match routing::unroute(answer) {
        RoutedResponse::NotRouted(r) => Outcome {
            data: r.as_ref().map(|r| r.to_bytes()),
            ..Outcome::failed(failed(format!(
                "the ISD-R did not route the ES8 data to the ISD-P {aid}: {}",
                r.map_or_else(|| "no answer".to_string(), |r| format!("SW {}", r.sw))
            )))
        },
        RoutedResponse::Routed(inner) => {
            let refused = inner.responses.iter().position(|r| !r.sw.is_success());
            let status = match refused {
                Some(i) => failed(format!(
                    "the ISD-P {aid} answered SW {} to ES8 command {} of {sent}",
                    inner.responses[i].sw,
                    i + 1
                )),
                None if inner.responses.len() < sent => failed(format!(
                    "the ISD-P {aid} executed {} of {sent} ES8 commands",
                    inner.responses.len()
                )),
                None => FunctionExecutionStatus::success(),
            };
            Outcome {
                data: Some(inner.to_expanded().map_err(internal)?),
                ..Outcome::failed(status)
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mno::{MnoClient, base};
    use es_interfaces::apdu::{ResponseApdu, StatusWord};
    use es_interfaces::soap::Envelope;
    use es_interfaces::status::Status;

    fn status_codes(envelope: &str) -> (Status, Option<(String, String)>) {
        let s = super::super::ctx::status_in(envelope).expect("a status");
        let c = s
            .status_code_data
            .as_ref()
            .map(|d| (d.subject.code().to_string(), d.reason.code().to_string()));
        (s.status, c)
    }

    /// Over mutual TLS, with the world's credentials: the SM-DP reads the EIS of eUICC 2 with the two profiles it
    /// manages there, an unknown EID is 8.1.1/3.9, an ICCID in use 8.2.1/3.3, an MNO calling ES3 1.1/1.2
    /// (SGP.02 §5.4.1, §5.4.4, §5.1.6.4).
    #[actix_web::test]
    async fn the_suite_smsr_answers_the_smdp_and_refuses_other_callers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let world = certs::world::generate(
            dir.path(),
            &certs::world::WorldOptions::new(3, time::OffsetDateTime::now_utc()),
        )
        .expect("world");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let smsr = SuiteSmsr::start(&world, &format!("127.0.0.1:{port}")).expect("starts");
        let base_url = format!("https://127.0.0.1:{port}");
        let smdp = MnoClient::sm_dp(&world, &base_url).expect("SM-DP client");
        let eid = |i: usize| world.euiccs[i].eid.parse().expect("EID");
        let get = |i: usize, fci: &str| es3::GetEisRequest {
            base: base(fci, None),
            eid: eid(i),
        };
        let out = smdp.es3(&get(1, "t-get")).await.expect("answered");
        assert_eq!(out.http_status, 200);
        assert_eq!(status_codes(&out.envelope), (Status::ExecutedSuccess, None));
        let env = Envelope::parse(out.envelope.as_bytes()).expect("envelope");
        let eis = es3::GetEisResponse::decode_body(env.body())
            .expect("response")
            .eis
            .expect("EIS");
        assert_eq!(eis.profile_info.len(), MANAGED_AT_START.len());
        assert!(
            eis.profile_info
                .iter()
                .all(|p| p.smdp_id.as_ref().map(|o| o.as_str())
                    == Some(world.manifest.sm_dp.oid.as_str()))
        );
        let mut unknown = get(1, "t-unknown");
        unknown.eid = "89049032123451234512345678901235".parse().expect("EID");
        let out = smdp.es3(&unknown).await.expect("answered");
        assert_eq!(
            status_codes(&out.envelope),
            (Status::Failed, Some(("8.1.1".into(), "3.9".into())))
        );
        let in_use = es3::CreateIsdpRequest {
            base: base("t-create", None),
            eid: eid(1),
            iccid: eis.profile_info[0].iccid.clone(),
            mno_id: eis.profile_info[0].mno_id.clone(),
            required_memory: 1000,
            more_to_do: Some(true),
        };
        let out = smdp.es3(&in_use).await.expect("answered");
        assert_eq!(
            status_codes(&out.envelope),
            (Status::Failed, Some(("8.2.1".into(), "3.3".into())))
        );
        let mno = MnoClient::new(&world, 0, &base_url, &base_url).expect("MNO client");
        let out = mno.es3(&get(1, "t-mno")).await.expect("answered");
        assert_eq!(
            status_codes(&out.envelope),
            (Status::Failed, Some(("1.1".into(), "1.2".into())))
        );
        let seen = smsr.requests_since(smsr.shared.t0);
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[3].other_peer.as_deref(), Some("MNO 1"));
        // Every message in and out is kept (4 requests, 4 answers).
        assert_eq!(smsr.log_since(smsr.shared.t0).len(), 8);
        smsr.stop().await;
    }

    fn answer(sws: &[StatusWord]) -> ResponseScript {
        ResponseScript::new(
            sws.iter()
                .map(|sw| ResponseApdu::new(Vec::new(), *sw))
                .collect(),
        )
        .expect("script")
    }

    fn codes(o: &Outcome) -> Option<(String, String)> {
        o.status
            .status_code_data
            .as_ref()
            .map(|d| (d.subject.code().to_string(), d.reason.code().to_string()))
    }

    #[test]
    fn send_data_succeeds_only_when_the_isd_p_answered_every_es8_command() {
        let aid = [0xA0; 16];
        // Routed (the INSTALL [for personalization] answered 9000), both ES8 commands 9000: success, the ISD-P's
        // own response script (the routing answer removed) as EuiccResponseData.
        let ok = routed_outcome(&aid, 2, answer(&[StatusWord::OK; 3])).expect("outcome");
        assert_eq!(
            ok.status.status,
            es_interfaces::status::Status::ExecutedSuccess
        );
        let data = ResponseScript::parse_expanded(&ok.data.expect("data")).expect("script");
        assert_eq!(data.responses.len(), 2);
        // An ES8 command refused, or fewer executed than sent: 8.4/4.2.
        let refused = routed_outcome(&aid, 2, answer(&[StatusWord::OK, StatusWord(0x6A80)]))
            .expect("outcome");
        assert_eq!(codes(&refused), Some(("8.4".into(), "4.2".into())));
        assert!(refused.data.is_some());
        let short = routed_outcome(&aid, 3, answer(&[StatusWord::OK; 3])).expect("outcome");
        assert_eq!(codes(&short), Some(("8.4".into(), "4.2".into())));
        // Not routed (the ISD-R does not know the ISD-P): 8.4/4.2 with the routing command's answer.
        let unrouted = routed_outcome(&aid, 1, answer(&[StatusWord::REFERENCED_DATA_NOT_FOUND]))
            .expect("outcome");
        assert_eq!(codes(&unrouted), Some(("8.4".into(), "4.2".into())));
        assert_eq!(unrouted.data, Some(vec![0x6A, 0x88]));
    }
}
