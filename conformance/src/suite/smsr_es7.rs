//! The suite as the world's second SM-SR on ES7 (SGP.02 §3.8, §5.7) for an SM-SR under test
//! (`rsp conformance run --sut smsr=… --play-smsr HOST:PORT`, [`Need::SuiteSmsr`](super::Need::SuiteSmsr)): a
//! mutual-TLS SOAP 1.2 endpoint with the identity of the peers' SM-SR 2 (its TLS server certificate, its OID in
//! `wsa:From`, its CERT.SR.ECDSA), which the SUT registers as an SM-SR with this ES7 endpoint. The SUT holds the
//! peers' eUICCs as SM-SR 1; the cards are the suite's SMSC's ([`super::smsc`]), so the suite applies what an
//! SM-SR applies to a card itself, in-process, as an SCP81 admin session runs a script ([`SuiteEs7::run_on_card`]).
//!
//! - HandoverEUICC requests, callbacks and notifications of the SUT are kept ([`SuiteEs7::wait_for`]) and answered
//!   HTTP 202 at once: the case drives the hand-over (AuthenticateSMSR, CreateAdditionalKeySet to the SUT, the
//!   finalisation on the card) and answers HandoverEUICC with a callback ([`SuiteEs7::callback`]), so the
//!   SUT's outbox is never held while the suite calls the SUT.
//! - ES7.AuthenticateSMSR and CreateAdditionalKeySet of the SUT (the SUT as the new SM-SR) are relayed to the card
//!   as SM-SR 1 relays them (wire-profile §5b steps 1–2: `3A01`, the `3A02` rebuilt from the request) and
//!   answered synchronously (SGP.02 Annex B) with the random challenge or the receipt — only for an eUICC the
//!   suite is handing over to the SUT ([`SuiteEs7::hand_back`]); otherwise 8.1.1 / 1.2 as the project's SM-SR.
//!
//! Every ES7 message in and out is kept with the running case ([`SuiteEs7::log_since`]) and checked against the
//! GSMA XSDs like the suite's other messages.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{HttpResponse, web};
use certs::ecc::Curve;
use certs::world::World;
use es_interfaces::isdr::{self, Es5Command, KeyAgreementResponse};
use es_interfaces::isdr_key_set;
use es_interfaces::messages::common::BaseResponse;
use es_interfaces::messages::es7;
use es_interfaces::script::ResponseScript;
use es_interfaces::soap::{self, Envelope, OutgoingHeaders, SoapVersion, action};
use es_interfaces::status::{FunctionExecutionStatus, Reason, StatusCodeData, Subject};
use es_interfaces::types::HexBinary;
use es_interfaces::wsdl::Service;
use es_runtime::client::{SoapClient, SoapVersion as ClientVersion};
use es_runtime::listener::{ListenerConfig, RunningServer};
use es_runtime::soap_endpoint::ServerIdentity;
use tokio::sync::{Notify, oneshot};

use super::SuiteError;
use super::ctx::{Direction, Exchange, ExchangeLog};
use crate::euicc::{Control, Eid as CardEid, SimulatorHandle};

/// The MSISDN the suite's SM-SR gives a card it takes over (UpdateSMSRAddressingParameters, SGP.02 §4.1.1.6).
pub const SUITE_SMSR_MSISDN: &str = "4915559902";

/// How the messages of the suite's SM-SR are named in a case's record.
const PEER: &str = "SM-SR 2 (suite)";

/// One message the SUT sent to the suite's ES7 endpoint (SGP.02 §5.7).
#[derive(Debug, Clone)]
pub struct Inbound {
    /// When it arrived.
    pub at: Instant,
    /// The body element, e.g. `ES7-HandoverEUICCRequest`.
    pub element: String,
    /// `wsa:MessageID`.
    pub message_id: Option<String>,
    /// `wsa:RelatesTo` (callbacks).
    pub relates_to: Option<String>,
    /// Where an answer goes: `wsa:ReplyTo`, else `wsa:From` (SGP.02 Annex B).
    pub reply_to: Option<String>,
    /// The envelope as received.
    pub envelope: String,
}

impl Inbound {
    /// The envelope parsed (it parsed when it arrived).
    pub fn parsed(&self) -> Result<Envelope, String> {
        Envelope::parse(self.envelope.as_bytes()).map_err(|e| e.to_string())
    }
}

struct Shared {
    identity: ServerIdentity,
    client: SoapClient,
    /// The SUT's ES7 service URL.
    sut_es7_url: String,
    /// EID → the curve of its CERT.ECASD.ECKA (the `3A02` rebuilt from CreateAdditionalKeySet, wire-profile §5b).
    curves: HashMap<String, Curve>,
    /// The suite SMSC's simulator: the cards.
    sim: Mutex<Option<SimulatorHandle>>,
    /// EIDs the suite is handing over to the SUT: their AuthenticateSMSR / CreateAdditionalKeySet are relayed.
    handing_back: Mutex<HashSet<String>>,
    /// The next receipt relayed is altered (a case's fault injection).
    corrupt_receipt: AtomicBool,
    inbox: Mutex<Vec<Inbound>>,
    arrived: Notify,
    log: ExchangeLog,
}

/// The running ES7 endpoint of the suite's SM-SR.
pub struct SuiteEs7 {
    shared: Arc<Shared>,
    handle: ServerHandle,
}

fn setup(what: &str, e: impl std::fmt::Display) -> SuiteError {
    SuiteError::Setup(format!("suite SM-SR 2: {what}: {e}"))
}

fn failed(subject: Subject, reason: Reason, why: String) -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed(StatusCodeData::new(subject, reason, Some(why)))
}

impl SuiteEs7 {
    /// Starts the endpoint on `listen` (`HOST:PORT`) with the TLS server certificate of the world's SM-SR 2,
    /// admitting client certificates of the peers' TLS CA; its calls go to the SUT's ES7 service under
    /// `sut_base`. Must run inside an actix system / tokio runtime.
    pub fn start(world: &World, listen: &str, sut_base: &str) -> Result<SuiteEs7, SuiteError> {
        let sr = world
            .smsr(2)
            .ok_or_else(|| setup("the peers", "the world has no SM-SR 2 (an older world)"))?;
        let read = |rel: &str| {
            let path = world.dir.join(rel);
            std::fs::read(&path).map_err(|e| setup(&path.display().to_string(), e))
        };
        let client = SoapClient::new(
            &read(&sr.tls_client_files.cert)?,
            &read(&sr.tls_client_files.key)?,
            &read(&world.manifest.tls_ca.cert)?,
            Duration::from_secs(30),
        )
        .map_err(|e| setup("TLS client", e))?;
        let curves = world
            .euiccs
            .iter()
            .map(|e| (e.eid.clone(), e.ecasd.cert.body().public_key.curve()))
            .collect();
        let shared = Arc::new(Shared {
            identity: ServerIdentity {
                oid: sr.entity.oid.clone(),
                name: sr.entity.name.clone(),
                public_url: format!("https://{listen}"),
            },
            client,
            sut_es7_url: format!(
                "{}{}",
                sut_base.trim_end_matches('/'),
                Service::Es7SmSr.default_path()
            ),
            curves,
            sim: Mutex::new(None),
            handing_back: Mutex::new(HashSet::new()),
            corrupt_receipt: AtomicBool::new(false),
            inbox: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            log: ExchangeLog::new(PEER),
        });
        let data = web::Data::from(shared.clone());
        let routes = move |c: &mut web::ServiceConfig| {
            c.app_data(data.clone())
                .app_data(web::PayloadConfig::new(4 << 20))
                .default_service(web::post().to(es7_endpoint));
        };
        let running: RunningServer = es_runtime::listener::start(
            routes,
            &ListenerConfig {
                listen: listen.to_string(),
                tls_cert: world.dir.join(&sr.tls_server_files.cert),
                tls_key: world.dir.join(&sr.tls_server_files.key),
                client_ca: world.dir.join(&world.manifest.tls_ca.cert),
                workers: 2,
            },
        )
        .map_err(|e| setup(listen, e))?;
        let handle = running.handle.clone();
        tokio::spawn(running.server);
        tracing::info!(%listen, "suite SM-SR 2 (ES7) listening");
        Ok(SuiteEs7 { shared, handle })
    }

    /// The OID of the suite's SM-SR (the world's SM-SR 2).
    pub fn oid(&self) -> &str {
        &self.shared.identity.oid
    }

    /// The suite's ES7 service URL (the SUT registers it as SM-SR 2's ES7 endpoint).
    pub fn url(&self) -> String {
        self.shared.identity.service_url(Service::Es7SmSr)
    }

    /// Gives the suite's SM-SR the cards: the simulator behind the suite's SMSC.
    pub(crate) fn attach_cards(&self, sim: SimulatorHandle) {
        if let Ok(mut s) = self.shared.sim.lock() {
            *s = Some(sim);
        }
    }

    /// The suite now hands `eid` over to the SUT (or stops, `on` false): the SUT's AuthenticateSMSR and
    /// CreateAdditionalKeySet for it are relayed to the card (SGP.02 §3.8 steps 4–5).
    pub fn hand_back(&self, eid: &str, on: bool) {
        if let Ok(mut h) = self.shared.handing_back.lock() {
            if on {
                h.insert(eid.to_string());
            } else {
                h.remove(eid);
            }
        }
    }

    /// Alters the receipt of the next CreateAdditionalKeySet the suite relays (one bit of the card's answer): a
    /// new SM-SR must not take the eUICC over on it (wire-profile §5b step 3; a case's fault injection).
    pub fn corrupt_next_receipt(&self) {
        self.shared.corrupt_receipt.store(true, Ordering::SeqCst);
    }

    /// Runs `commands` on the card `eid` in one script, as an SCP81 admin session does (wire-profile §3); the
    /// card's response script.
    pub async fn run_on_card(
        &self,
        eid: &str,
        commands: &[Es5Command],
    ) -> Result<ResponseScript, String> {
        run_on_card(&self.shared, eid, commands).await
    }

    /// Sends ES7 request `body_xml` (element `element`) to the SUT with this endpoint as `wsa:ReplyTo`, records
    /// it and the answer; returns the HTTP status, the answer and the request's MessageID.
    pub async fn call(
        &self,
        element: &str,
        body_xml: &str,
    ) -> Result<(u16, String, String), String> {
        let s = &self.shared;
        let action = action::for_element(element)
            .map(|a| a.request)
            .ok_or_else(|| format!("no action for {element}"))?;
        let message_id = s.identity.new_message_id(time::OffsetDateTime::now_utc());
        let headers = OutgoingHeaders {
            to: s.sut_es7_url.clone(),
            from: Some(s.identity.from_address(Service::Es7SmSr)),
            reply_to: Some(self.url()),
            message_id: message_id.clone(),
            action: action.to_string(),
            relates_to: None,
        };
        let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| w.raw(body_xml));
        let (status, body) = post(s, &s.sut_es7_url, element, action, envelope).await?;
        Ok((status, body, message_id))
    }

    /// Answers the SUT's request `to` with `body_xml` (a response element) as a callback to its `wsa:ReplyTo`
    /// (SGP.02 Annex B); returns the HTTP status of the SUT's acknowledgement.
    pub async fn callback(
        &self,
        to: &Inbound,
        element: &str,
        body_xml: &str,
    ) -> Result<u16, String> {
        let s = &self.shared;
        let url = to
            .reply_to
            .clone()
            .ok_or_else(|| format!("{} has neither wsa:ReplyTo nor wsa:From", to.element))?;
        let action = action::for_element(element)
            .and_then(|a| a.callback.or(a.response))
            .ok_or_else(|| format!("no callback action for {element}"))?;
        let headers = OutgoingHeaders {
            to: url.clone(),
            from: Some(s.identity.from_address(Service::Es7SmSr)),
            reply_to: None,
            message_id: s.identity.new_message_id(time::OffsetDateTime::now_utc()),
            action: action.to_string(),
            relates_to: to.message_id.clone(),
        };
        let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| w.raw(body_xml));
        let kind = format!("callback {element}");
        post(s, &url, &kind, action, envelope)
            .await
            .map(|(status, _)| status)
    }

    /// The first message the SUT sent since `since` that `pred` takes, waited for at most `timeout`.
    pub async fn wait_for(
        &self,
        since: Instant,
        timeout: Duration,
        pred: impl Fn(&Inbound) -> bool,
    ) -> Option<Inbound> {
        let until = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            let found = self
                .shared
                .inbox
                .lock()
                .ok()
                .and_then(|i| i.iter().find(|m| m.at >= since && pred(m)).cloned());
            if found.is_some() {
                return found;
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Every ES7 message exchanged since `since`, with when each crossed.
    pub(crate) fn log_since(&self, since: Instant) -> Vec<(Instant, Exchange)> {
        self.shared.log.since(since)
    }

    /// Stops the endpoint.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// Posts `envelope` to the SUT and records both messages.
async fn post(
    s: &Shared,
    url: &str,
    kind: &str,
    action: &str,
    envelope: String,
) -> Result<(u16, String), String> {
    s.log
        .record(Direction::ToSut, kind, url, None, envelope.clone());
    let reply = s
        .client
        .post(url, ClientVersion::V12, action, envelope)
        .await
        .map_err(|e| format!("{kind} to {url}: {e}"))?;
    s.log.record(
        Direction::FromSut,
        "HTTP answer",
        url,
        Some(reply.status),
        reply.body.clone(),
    );
    Ok((reply.status, reply.body))
}

async fn run_on_card(
    s: &Shared,
    eid: &str,
    commands: &[Es5Command],
) -> Result<ResponseScript, String> {
    let sim = s
        .sim
        .lock()
        .ok()
        .and_then(|g| g.clone())
        .ok_or("the suite plays no SMSC: it has no card")?;
    let card = CardEid::parse(eid).map_err(|e| e.to_string())?;
    let script = smsr::operation::script(commands).map_err(|e| e.to_string())?;
    let (reply, answer) = oneshot::channel();
    sim.control
        .send(Control::HttpsScript {
            eid: card,
            script,
            target: None,
            reply,
        })
        .await
        .map_err(|_| "the simulator stopped".to_string())?;
    let bytes = answer
        .await
        .map_err(|_| "the simulator did not answer".to_string())??
        .ok_or("the card has no ISD-R")?;
    ResponseScript::parse_expanded(&bytes).map_err(|e| e.to_string())
}

/// The ES7 endpoint (SGP.02 §5.7, Annex B).
async fn es7_endpoint(body: web::Bytes, shared: web::Data<Shared>) -> HttpResponse {
    let url = shared.identity.service_url(Service::Es7SmSr);
    let (env, text) = match shared.log.receive(&body, &url, "ES7 message (unreadable)") {
        Ok(read) => read,
        Err(fault) => return shared.log.answer(&url, 400, fault),
    };
    let element = env.body().local_name().to_string();
    let wsa = env.wsa().clone();
    let message = match es7::Message::decode(env.body()) {
        Ok(m) => m,
        Err(e) => {
            let fault = soap::decode_error_fault(env.version(), &e, None);
            return shared.log.answer(&url, 400, fault);
        }
    };
    if let Ok(mut i) = shared.inbox.lock() {
        i.push(Inbound {
            at: Instant::now(),
            element: element.clone(),
            message_id: wsa.message_id.as_ref().map(|m| m.as_str().to_string()),
            relates_to: wsa.relates_to.clone(),
            reply_to: wsa.reply_address().map(|u| u.as_str().to_string()),
            envelope: text,
        });
    }
    shared.arrived.notify_waiters();
    let response = match message {
        es7::Message::Request(es7::Request::AuthenticateSmsr(r)) => {
            let eid = r.eis.eum_signed_info.eid.to_string();
            relay_authenticate(&shared, &eid, r.smsr_certificate.as_bytes()).await
        }
        es7::Message::Request(es7::Request::CreateAdditionalKeySet(r)) => {
            relay_key_set(&shared, &r).await
        }
        // HandoverEUICC: the case answers it with a callback; callbacks and notifications: acknowledged.
        _ => return shared.log.answer(&url, 202, String::new()),
    };
    let response_action = action::for_element(&element)
        .and_then(|a| a.response)
        .unwrap_or("http://www.w3.org/2005/08/addressing/fault");
    let headers = OutgoingHeaders::reply(
        &wsa,
        &shared.identity.from_address(Service::Es7SmSr),
        shared
            .identity
            .new_message_id(time::OffsetDateTime::now_utc()),
        response_action,
    );
    let envelope = soap::envelope(env.version(), &headers, |w| w.raw(&response.to_xml()));
    shared.log.answer(&url, 200, envelope)
}

/// Whether the suite hands `eid` over to the caller (8.1.1 / 1.2 otherwise, as the project's SM-SR answers a
/// relay for an eUICC that no change to the caller concerns).
fn handing_back(s: &Shared, eid: &str) -> Result<(), FunctionExecutionStatus> {
    let on = s
        .handing_back
        .lock()
        .map(|h| h.contains(eid))
        .unwrap_or(false);
    if on {
        Ok(())
    } else {
        Err(failed(
            Subject::EID,
            Reason::NOT_ALLOWED,
            format!("no SM-SR change of the eUICC {eid} to the caller is under way here"),
        ))
    }
}

/// The single R-APDU's data of a one-command script, or why the card refused (8.4 / 4.2).
async fn one_command(
    s: &Shared,
    eid: &str,
    command: Es5Command,
) -> Result<Vec<u8>, FunctionExecutionStatus> {
    let refused = |why: String| failed(Subject::ISD_R, Reason::EXECUTION_ERROR, why);
    let answer = run_on_card(s, eid, &[command]).await.map_err(refused)?;
    match answer.responses.first() {
        Some(r) if r.sw.is_success() => Ok(r.data.clone()),
        Some(r) => Err(refused(format!("the eUICC answered SW {}", r.sw))),
        None => Err(refused("the eUICC did not execute the command".into())),
    }
}

/// ES7.AuthenticateSMSR at the suite as SM-SR 1 (wire-profile §5b step 1): `3A01` relayed, the random challenge
/// answered.
async fn relay_authenticate(s: &Shared, eid: &str, cert: &[u8]) -> es7::Response {
    let outcome = match handing_back(s, eid) {
        Ok(()) => one_command(s, eid, isdr_key_set::certificate_command(cert))
            .await
            .and_then(|d| {
                isdr::parse_random_challenge_response(&d)
                    .map_err(|e| failed(Subject::ISD_R, Reason::EXECUTION_ERROR, e.to_string()))
            }),
        Err(status) => Err(status),
    };
    match outcome.and_then(|rc| hex(&rc)) {
        Ok(random_challenge) => es7::AuthenticateSmsrResponse {
            base: BaseResponse::with_status(FunctionExecutionStatus::success()),
            random_challenge,
        }
        .into(),
        Err(status) => es7::AuthenticateSmsrResponse {
            base: BaseResponse::with_status(status),
            random_challenge: HexBinary::empty(),
        }
        .into(),
    }
}

/// ES7.CreateAdditionalKeySet at the suite as SM-SR 1 (wire-profile §5b step 2): the `3A02` rebuilt from the
/// request relayed, the receipt answered.
async fn relay_key_set(s: &Shared, r: &es7::CreateAdditionalKeySetRequest) -> es7::Response {
    let eid = r.eid.to_string();
    let command = handing_back(s, &eid).and_then(|()| {
        let curve = s.curves.get(&eid).copied().ok_or_else(|| {
            failed(
                Subject::EID,
                Reason::UNKNOWN,
                format!("no eUICC {eid} here"),
            )
        })?;
        isdr_key_set::agreement_from_es7(r, curve)
            .map_err(|e| failed(Subject::FUNCTION, Reason::INVALID, e.to_string()))
    });
    let outcome = match command {
        Ok(c) => one_command(s, &eid, c).await.and_then(|d| {
            let mut receipt = KeyAgreementResponse::parse(&d)
                .map(|k| k.receipt.to_vec())
                .map_err(|e| failed(Subject::ISD_R, Reason::EXECUTION_ERROR, e.to_string()))?;
            if s.corrupt_receipt.swap(false, Ordering::SeqCst)
                && let Some(b) = receipt.first_mut()
            {
                *b ^= 0x01;
            }
            Ok(receipt)
        }),
        Err(status) => Err(status),
    };
    match outcome.and_then(|receipt| hex(&receipt)) {
        Ok(receipt) => es7::CreateAdditionalKeySetResponse {
            base: BaseResponse::with_status(FunctionExecutionStatus::success()),
            // No derivation random in this scenario (wire-profile §5b step 3).
            derivation_random: HexBinary::empty(),
            receipt,
        }
        .into(),
        Err(status) => es7::CreateAdditionalKeySetResponse {
            base: BaseResponse::with_status(status),
            derivation_random: HexBinary::empty(),
            receipt: HexBinary::empty(),
        }
        .into(),
    }
}

fn hex(b: &[u8]) -> Result<HexBinary, FunctionExecutionStatus> {
    HexBinary::from_bytes(b)
        .map_err(|e| failed(Subject::ISD_R, Reason::EXECUTION_ERROR, e.to_string()))
}
