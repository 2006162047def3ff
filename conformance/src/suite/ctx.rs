//! The peers of a conformance run (SGP.02 §2.2 roles): the EUM's and the MNOs' SOAP clients with the peers
//! directory's credentials, the MNOs' callback receiver, and the record of every message each case exchanges.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use certs::ecc::{Curve, PrivateKey};
use certs::world::{KeyCertFiles, World};
use certs::x509::{X509Params, X509Profile};
use es_interfaces::messages::codec::{BodyElement, XmlContent};
use es_interfaces::soap::{
    self, Envelope, FaultCode, OutgoingHeaders, QuerySeparator, SoapVersion, fault_envelope,
};
use es_interfaces::status::{FunctionExecutionStatus, Reason, Status, StatusCodeData, Subject};
use es_interfaces::types::XsDateTime;
use es_interfaces::wsdl::Service;
use es_interfaces::xml::{Document, Element};
use es_runtime::client::{SoapClient, SoapVersion as ClientVersion};
use serde::Serialize;

use super::smsc::{SmscSetup, SuiteSmsc};
use super::smsr_es7::SuiteEs7;
use super::smsr_peer::SuiteSmsr;
use super::xsd::XsdResult;
use super::{Finding, Need, RunConfig, SuiteError};
use crate::eum::Es1Client;
use crate::mno::{CallOutcome, MnoClient, MnoReceiver, Received};

/// The address base of `wsa:From` in the requests of the MNOs, the EUM and unregistered callers (SGP.02 §5.1).
const PEER_FROM: &str = "https://mno.test.invalid/";
/// The address base of `wsa:From` in the requests of the peers' SM-DP (SGP.02 §5.1).
const SMDP_FROM: &str = "https://smdp.test.invalid/";

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Direction {
    /// From a peer played by the suite to the SUT.
    #[serde(rename = "to SUT")]
    ToSut,
    /// From the SUT to the suite (an answer, a callback, a notification).
    #[serde(rename = "from SUT")]
    FromSut,
}

/// One message of a case, kept as exchanged.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// Milliseconds since the case started.
    pub at_ms: u64,
    /// Which way.
    pub direction: Direction,
    /// The peer of the suite concerned (`EUM`, `MNO 1`, …).
    pub peer: String,
    /// What it is (`ES4-GetEISRequest`, `HTTP answer`, `callback`, `notification`).
    pub kind: String,
    /// The URL it was sent to (requests) or came from (answers).
    pub url: String,
    /// HTTP status of an answer.
    pub http_status: Option<u16>,
    /// The message as sent or received.
    pub body: String,
    /// The XSD validation result of this message ([`super::xsd`]).
    pub xsd: XsdResult,
    /// The suite made this message malformed on purpose (a negative case): its invalidity is expected.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub malformed_on_purpose: bool,
}

/// The SUT's SM-SR as the suite's peers reach it.
pub struct SmsrPeers {
    /// The EUM's ES1 client (envelopes) and its TLS client (raw posts).
    pub es1: Es1Client,
    eum_http: SoapClient,
    /// ES1 service URL.
    pub es1_url: String,
    /// ES4 service URL.
    pub es4_url: String,
    /// ES7 service URL (SGP.02 §5.7).
    pub es7_url: String,
    /// One client per MNO of the peers, with the receiver as `wsa:ReplyTo`.
    pub mnos: Vec<MnoClient>,
    mno_http: Vec<SoapClient>,
    stranger_http: SoapClient,
}

/// The SUT's SM-DP as the suite's peers reach it (SGP.02 §5.3): the MNOs on ES2, and callers that may not use it.
pub struct SmdpPeers {
    /// ES2 service URL.
    pub es2_url: String,
    /// ES3 service URL of the SM-DP, where its SM-SR's notifications go (SGP.02 §5.4.14–§5.4.17).
    pub es3_url: String,
    /// One ES2 client per MNO of the peers, with the receiver's `/es2` as `wsa:ReplyTo`.
    pub mnos: Vec<MnoClient>,
    /// The SM-SR the MNOs name in their requests (`SmSr-id`): the peers' SM-SR.
    pub smsr_id: String,
    mno_http: Vec<SoapClient>,
    eum_http: SoapClient,
    smsr_http: SoapClient,
    stranger_http: SoapClient,
}

/// The shared state of a run.
pub struct Ctx {
    /// The peers' world.
    pub world: World,
    smsr: Option<SmsrPeers>,
    smdp: Option<SmdpPeers>,
    receiver: MnoReceiver,
    features: Vec<Need>,
    /// How long to wait for a callback or notification.
    pub callback_timeout: Duration,
    /// A prefix making this run's FunctionCallIdentifiers unique.
    pub run_id: String,
    log: Mutex<Vec<Exchange>>,
    case_start: Mutex<(Instant, usize)>,
    passed: Mutex<Vec<&'static str>>,
    memo: Mutex<HashMap<String, String>>,
    /// The peers' SM-DP towards the SUT's SM-SR (ES3 cases), when the SUT is an SM-SR.
    es3: Option<Es3Peer>,
    smsc: Option<SuiteSmsc>,
    /// The suite's SM-SR on ES3 for the SUT's SM-DP ([`Need::SuiteSmsr`]).
    smsr_peer: Option<SuiteSmsr>,
    /// The suite's SM-SR 2 on ES7 for the SUT's SM-SR ([`Need::SuiteSmsr`] without an SM-DP under test).
    es7_peer: Option<SuiteEs7>,
    /// The peers' eUICC the SUT reaches over HTTPS ([`RunConfig::https_euicc`]).
    https_euicc: Option<usize>,
    /// When the run began.
    run_start: Instant,
}

fn soap_client(world: &World, files: &KeyCertFiles) -> Result<SoapClient, SuiteError> {
    let read = |rel: &str| {
        let path = world.dir.join(rel);
        std::fs::read(&path).map_err(|e| SuiteError::Setup(format!("{}: {e}", path.display())))
    };
    SoapClient::new(
        &read(&files.cert)?,
        &read(&files.key)?,
        &read(&world.manifest.tls_ca.cert)?,
        Duration::from_secs(30),
    )
    .map_err(|e| SuiteError::Setup(e.to_string()))
}

/// A TLS client with a certificate the peers' TLS CA issues now for no entity (SGP.02 §2.2: a caller the SUT
/// cannot identify).
fn stranger_client(world: &World) -> Result<SoapClient, SuiteError> {
    let tls = |e: String| SuiteError::Setup(format!("unregistered caller's certificate: {e}"));
    let key = PrivateKey::generate(Curve::P256, &mut rand::rng());
    let now = time::OffsetDateTime::now_utc();
    let serial: [u8; 8] = rand::random();
    let cert = certs::x509::issue(
        &X509Params {
            common_name: "conformance: unregistered caller".into(),
            organization: "rsp conformance".into(),
            entity_oid: None,
            serial: [&[0x01u8][..], &serial].concat(),
            not_before: now - time::Duration::hours(1),
            not_after: now + time::Duration::days(1),
            profile: X509Profile::TlsClient,
        },
        key.public_key(),
        &world.tls_ca.cert,
        &world.tls_ca.key,
    )
    .map_err(|e| tls(e.to_string()))?;
    let key_pem = key.to_pkcs8_pem().map_err(|e| tls(e.to_string()))?;
    let ca = world.dir.join(&world.manifest.tls_ca.cert);
    let ca_pem =
        std::fs::read(&ca).map_err(|e| SuiteError::Setup(format!("{}: {e}", ca.display())))?;
    SoapClient::new(
        cert.to_pem().as_bytes(),
        key_pem.as_bytes(),
        &ca_pem,
        Duration::from_secs(30),
    )
    .map_err(|e| tls(e.to_string()))
}

fn service_url(base: &str, service: Service) -> String {
    format!("{}{}", base.trim_end_matches('/'), service.default_path())
}

/// The peers of the SUT's SM-DP at `base` (SGP.02 §5.3): the MNOs' ES2 clients with `<receiver>/es2` as
/// `wsa:ReplyTo`, and raw TLS clients of the MNOs, the EUM, the peers' SM-SR and an unregistered caller.
fn smdp_peers(
    world: &World,
    base: &str,
    cfg: &RunConfig,
    receiver: &str,
) -> Result<SmdpPeers, SuiteError> {
    let setup = |e: crate::mno::MnoError| SuiteError::Setup(e.to_string());
    let smsr_base = cfg.smsr_url.as_deref().unwrap_or(base);
    let mut mnos = Vec::new();
    let mut mno_http = Vec::new();
    for (i, m) in world.manifest.mnos.iter().enumerate() {
        mnos.push(
            MnoClient::new(world, i, smsr_base, base)
                .map_err(setup)?
                .with_reply_to(format!("{receiver}/es2")),
        );
        mno_http.push(soap_client(world, &m.tls_client)?);
    }
    Ok(SmdpPeers {
        es2_url: service_url(base, Service::Es2SmDp),
        es3_url: service_url(base, Service::Es3SmDp),
        mnos,
        smsr_id: world.manifest.sm_sr.oid.clone(),
        mno_http,
        eum_http: soap_client(world, &world.manifest.eum_tls_client)?,
        smsr_http: soap_client(world, &world.manifest.sm_sr_tls_client)?,
        stranger_http: stranger_client(world)?,
    })
}

impl Ctx {
    /// Loads the peers, starts the MNOs' callback receiver and the clients towards the SUT.
    pub fn new(cfg: &RunConfig) -> Result<Ctx, SuiteError> {
        let world = World::load(&cfg.peers).map_err(|e| SuiteError::Peers {
            path: cfg.peers.clone(),
            why: e.to_string(),
        })?;
        let receiver = MnoReceiver::start(&world, &cfg.callback_listen, true)
            .map_err(|e| SuiteError::Setup(format!("callback receiver: {e}")))?;
        let smsr = match &cfg.smsr_url {
            None => None,
            Some(base) => {
                let setup = |e: crate::mno::MnoError| SuiteError::Setup(e.to_string());
                let mut mnos = Vec::new();
                let mut mno_http = Vec::new();
                for (i, m) in world.manifest.mnos.iter().enumerate() {
                    mnos.push(
                        MnoClient::new(&world, i, base, cfg.smdp_url.as_deref().unwrap_or(base))
                            .map_err(setup)?
                            .with_reply_to(format!("{}/es4", receiver.url())),
                    );
                    mno_http.push(soap_client(&world, &m.tls_client)?);
                }
                Some(SmsrPeers {
                    es1: Es1Client::new(&world, base)
                        .map_err(|e| SuiteError::Setup(e.to_string()))?,
                    eum_http: soap_client(&world, &world.manifest.eum_tls_client)?,
                    es1_url: service_url(base, Service::Es1SmSr),
                    es4_url: service_url(base, Service::Es4SmSr),
                    es7_url: service_url(base, Service::Es7SmSr),
                    mnos,
                    mno_http,
                    stranger_http: stranger_client(&world)?,
                })
            }
        };
        let es3 = match &cfg.smsr_url {
            Some(base) => Some(Es3Peer::new(&world, base, receiver.url())?),
            None => None,
        };
        let smdp = match &cfg.smdp_url {
            None => None,
            Some(base) => Some(smdp_peers(&world, base, cfg, receiver.url())?),
        };
        let mut features = cfg.features.clone();
        let (mut smsr_peer, mut es7_peer) = (None, None);
        if let Some(listen) = &cfg.play_smsr {
            features.push(Need::SuiteSmsr);
            match (&cfg.smsr_url, &cfg.smdp_url) {
                // An SM-SR alone under test: the suite plays the other SM-SR of an SM-SR change on ES7.
                (Some(base), None) => es7_peer = Some(SuiteEs7::start(&world, listen, base)?),
                _ => {
                    if !features.contains(&Need::Es5) {
                        features.push(Need::Es5);
                    }
                    smsr_peer = Some(SuiteSmsr::start(&world, listen)?);
                }
            }
        }
        if smsr.is_some() {
            features.push(Need::Smsr);
        }
        if smdp.is_some() {
            features.push(Need::Smdp);
        }
        let stamp: [u8; 4] = rand::random();
        Ok(Ctx {
            world,
            smsr,
            smdp,
            receiver,
            features,
            callback_timeout: cfg.callback_timeout,
            run_id: hex::encode(stamp),
            log: Mutex::new(Vec::new()),
            case_start: Mutex::new((Instant::now(), 0)),
            passed: Mutex::new(Vec::new()),
            memo: Mutex::new(HashMap::new()),
            es3,
            smsc: None,
            smsr_peer,
            es7_peer,
            https_euicc: cfg.https_euicc,
            run_start: Instant::now(),
        })
    }

    /// The peers' eUICC (index) the SUT reaches over HTTPS, as the run was told (wire-profile §3).
    pub fn https_euicc(&self) -> Option<usize> {
        self.https_euicc
    }

    /// When the run began.
    pub fn run_started(&self) -> Instant {
        self.run_start
    }

    /// Whether the SUT offers `need`.
    pub fn offers(&self, need: Need) -> bool {
        self.features.contains(&need)
    }

    /// The SM-SR peers (cases that need [`Need::Smsr`] only run when there are).
    pub fn smsr(&self) -> Result<&SmsrPeers, Finding> {
        self.smsr
            .as_ref()
            .ok_or_else(|| Finding::Inconclusive("no SM-SR under test".into()))
    }

    /// A FunctionCallIdentifier unique to this run.
    pub fn fci(&self, what: &str) -> String {
        format!("conf-{}-{what}", self.run_id)
    }

    /// The base URL of the MNOs' callback receiver.
    pub fn receiver_url(&self) -> &str {
        self.receiver.url()
    }

    pub(crate) fn begin_case(&self) {
        if let Ok(mut l) = self.log.lock() {
            l.clear();
        }
        if let Ok(mut s) = self.case_start.lock() {
            *s = (Instant::now(), self.receiver.received().len());
        }
    }

    /// The case's messages: those recorded, and what the receiver got since the case began, in time order.
    pub(crate) fn end_case(&self) -> Vec<Exchange> {
        let (start, seen) = self
            .case_start
            .lock()
            .map(|s| *s)
            .unwrap_or((Instant::now(), 0));
        let mut out: Vec<Exchange> = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        for r in self.receiver.received().into_iter().skip(seen) {
            let kind = if r.relates_to.is_some() {
                format!("callback {}", r.element)
            } else {
                format!("notification {}", r.element)
            };
            out.push(exchange(
                r.received_at.saturating_duration_since(start).as_millis() as u64,
                Direction::FromSut,
                "MNO receiver",
                &kind,
                self.receiver.url(),
                None,
                r.envelope,
            ));
        }
        if let Some(smsc) = &self.smsc {
            let url = format!("smpp://{}", smsc.addr);
            for sms in smsc.sms_log().into_iter().filter(|s| s.at >= start) {
                let (direction, kind) = if sms.mobile_terminated {
                    (Direction::FromSut, format!("MT SMS to {}", sms.msisdn))
                } else if sms.altered {
                    (
                        Direction::ToSut,
                        format!("MO SMS from {} (altered by the suite)", sms.msisdn),
                    )
                } else {
                    (Direction::ToSut, format!("MO SMS from {}", sms.msisdn))
                };
                out.push(exchange(
                    sms.at.saturating_duration_since(start).as_millis() as u64,
                    direction,
                    "SMSC",
                    &kind,
                    &url,
                    None,
                    hex::encode_upper(&sms.tp_ud),
                ));
            }
            for session in smsc.sessions().into_iter().filter(|s| s.at >= start) {
                for m in session.report.messages {
                    let (direction, kind) = if m.from_card {
                        (
                            Direction::ToSut,
                            format!("HTTPS {} (eUICC {})", m.start_line, session.eid),
                        )
                    } else {
                        (
                            Direction::FromSut,
                            format!("HTTPS {} (to eUICC {})", m.start_line, session.eid),
                        )
                    };
                    let headers: Vec<String> =
                        m.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
                    out.push(exchange(
                        m.at.saturating_duration_since(start).as_millis() as u64,
                        direction,
                        "eUICC admin session",
                        &kind,
                        "scp81",
                        m.status(),
                        format!("{}\n\n{}", headers.join("\n"), hex::encode_upper(&m.body)),
                    ));
                }
            }
        }
        let peers = [
            self.smsr_peer.as_ref().map(|p| p.log_since(start)),
            self.es7_peer.as_ref().map(|p| p.log_since(start)),
        ];
        for (at, mut e) in peers.into_iter().flatten().flatten() {
            e.at_ms = at.saturating_duration_since(start).as_millis() as u64;
            out.push(e);
        }
        out.sort_by_key(|e| e.at_ms);
        out
    }

    /// The suite's SM-SR (cases that need [`Need::SuiteSmsr`] only run when there is one).
    pub fn suite_smsr(&self) -> Result<&SuiteSmsr, Finding> {
        self.smsr_peer
            .as_ref()
            .ok_or_else(|| Finding::Inconclusive("the suite plays no SM-SR in this run".into()))
    }

    /// The suite's SM-SR 2 on ES7 (cases that need [`Need::SuiteSmsr`] of an SM-SR under test).
    pub fn es7_peer(&self) -> Result<&SuiteEs7, Finding> {
        self.es7_peer.as_ref().ok_or_else(|| {
            Finding::Inconclusive(
                "the suite plays no SM-SR on ES7 in this run (--play-smsr with an SM-SR alone under test)"
                    .into(),
            )
        })
    }

    /// Starts the suite's SMSC with the peers' eUICCs behind it ([`Need::SuiteSmsc`], which offers
    /// [`Need::Es5`] too) and gives the SUT the callback time-out to bind (cases needing it are INCONCLUSIVE
    /// if it does not).
    pub(crate) async fn start_smsc(&mut self, setup: &SmscSetup) -> Result<(), SuiteError> {
        let smsc = SuiteSmsc::start(&self.world, setup).await?;
        if let Some(peer) = &self.es7_peer {
            peer.attach_cards(smsc.simulator());
        }
        if !smsc.wait_bound(self.callback_timeout).await {
            tracing::warn!(smsc = %smsc.addr, "the SUT has not bound to the suite's SMSC");
        }
        self.smsc = Some(smsc);
        let mut offered = vec![Need::SuiteSmsc, Need::Es5];
        if self.https_euicc.is_some() {
            offered.push(Need::Https);
        }
        for need in offered {
            if !self.features.contains(&need) {
                self.features.push(need);
            }
        }
        Ok(())
    }

    /// The suite's SMSC (cases that need [`Need::SuiteSmsc`] only run when there is one).
    pub fn smsc(&self) -> Result<&SuiteSmsc, Finding> {
        self.smsc
            .as_ref()
            .ok_or_else(|| Finding::Inconclusive("the suite plays no SMSC in this run".into()))
    }

    /// When the case began.
    pub fn case_started(&self) -> Instant {
        self.case_start
            .lock()
            .map(|s| s.0)
            .unwrap_or_else(|_| Instant::now())
    }

    pub(crate) fn passed(&self, id: &'static str) {
        if let Ok(mut p) = self.passed.lock() {
            p.push(id);
        }
    }

    /// Fails as INCONCLUSIVE unless case `id` passed earlier in this run.
    pub fn require_passed(&self, id: &str) -> Result<(), Finding> {
        let ok = self.passed.lock().map(|p| p.contains(&id)).unwrap_or(false);
        if ok {
            Ok(())
        } else {
            Err(Finding::Inconclusive(format!(
                "depends on {id}, which did not pass in this run"
            )))
        }
    }

    /// Remembers a value for later cases.
    pub fn remember(&self, key: &str, value: String) {
        if let Ok(mut m) = self.memo.lock() {
            m.insert(key.to_string(), value);
        }
    }

    /// A value an earlier case remembered.
    pub fn recall(&self, key: &str) -> Option<String> {
        self.memo.lock().ok().and_then(|m| m.get(key).cloned())
    }

    /// Milliseconds since the case began.
    fn now_ms(&self) -> u64 {
        self.case_start
            .lock()
            .map(|s| s.0.elapsed().as_millis() as u64)
            .unwrap_or(0)
    }

    fn push(&self, e: Exchange) {
        if let Ok(mut l) = self.log.lock() {
            l.push(e);
        }
    }

    /// Records a typed call sent at `sent_at` as `sent` and its outcome; a transport failure is INCONCLUSIVE.
    fn record_call<E: std::fmt::Display>(
        &self,
        peer: &str,
        url: &str,
        element: &str,
        sent_at: u64,
        sent: String,
        result: Result<CallOutcome, E>,
    ) -> Result<CallOutcome, Finding> {
        self.push(exchange(
            sent_at,
            Direction::ToSut,
            peer,
            element,
            url,
            None,
            sent,
        ));
        let out =
            result.map_err(|e| Finding::Inconclusive(format!("{element} not answered: {e}")))?;
        self.push(exchange(
            self.now_ms(),
            Direction::FromSut,
            peer,
            "HTTP answer",
            url,
            Some(out.http_status),
            out.envelope.clone(),
        ));
        Ok(out)
    }

    /// Posts a prepared envelope with `client` to `url` and records both messages (the request marked when the
    /// case made it invalid on purpose); returns the HTTP status and the answer.
    #[allow(clippy::too_many_arguments)]
    async fn post_and_record(
        &self,
        client: &SoapClient,
        peer: &str,
        url: &str,
        action: &str,
        kind: &str,
        envelope: String,
        malformed_on_purpose: bool,
    ) -> Result<(u16, String), Finding> {
        self.push(Exchange {
            malformed_on_purpose,
            ..exchange(
                self.now_ms(),
                Direction::ToSut,
                peer,
                kind,
                url,
                None,
                envelope.clone(),
            )
        });
        let reply = client
            .post(url, ClientVersion::V12, action, envelope)
            .await
            .map_err(|e| Finding::Inconclusive(format!("{kind} not answered: {e}")))?;
        self.push(exchange(
            self.now_ms(),
            Direction::FromSut,
            peer,
            "HTTP answer",
            url,
            Some(reply.status),
            reply.body.clone(),
        ));
        Ok((reply.status, reply.body))
    }

    /// Sends an ES4 request as MNO `mno` (0-based) and records both messages; a transport failure is
    /// INCONCLUSIVE.
    pub async fn es4<T: BodyElement>(&self, mno: usize, req: &T) -> Result<CallOutcome, Finding> {
        let s = self.smsr()?;
        let client = s
            .mnos
            .get(mno)
            .ok_or_else(|| Finding::Inconclusive(format!("the peers have no MNO {}", mno + 1)))?;
        let peer = format!("MNO {}", mno + 1);
        let sent_at = self.now_ms();
        let result = client.es4(req).await;
        let sent = client.sent().pop().unwrap_or_default();
        self.record_call(&peer, &s.es4_url, T::ELEMENT, sent_at, sent, result)
    }

    /// Posts a prepared envelope as `who` (the EUM or MNO `n`) to ES1 or ES4 of the SM-SR and records both
    /// messages; returns the HTTP status and the answer.
    pub async fn post(
        &self,
        who: Peer,
        service: Service,
        action: &str,
        kind: &str,
        envelope: String,
    ) -> Result<(u16, String), Finding> {
        self.post_recorded(who, service, action, kind, envelope, false)
            .await
    }

    /// As [`Ctx::post`], for an envelope the case made malformed on purpose (not well-formed, or not valid
    /// against the GSMA XSDs): its XSD result is recorded as expected, not as a defect of the suite.
    pub async fn post_malformed(
        &self,
        who: Peer,
        service: Service,
        action: &str,
        kind: &str,
        envelope: String,
    ) -> Result<(u16, String), Finding> {
        self.post_recorded(who, service, action, kind, envelope, true)
            .await
    }

    async fn post_recorded(
        &self,
        who: Peer,
        service: Service,
        action: &str,
        kind: &str,
        envelope: String,
        malformed_on_purpose: bool,
    ) -> Result<(u16, String), Finding> {
        let s = self.smsr()?;
        let (client, peer) = match who {
            Peer::Eum => (&s.eum_http, "EUM".to_string()),
            Peer::Stranger => (&s.stranger_http, "unregistered caller".to_string()),
            Peer::Mno(i) => (
                s.mno_http.get(i).ok_or_else(|| {
                    Finding::Inconclusive(format!("the peers have no MNO {}", i + 1))
                })?,
                format!("MNO {}", i + 1),
            ),
        };
        let url = match service {
            Service::Es1SmSr => &s.es1_url,
            Service::Es7SmSr => &s.es7_url,
            _ => &s.es4_url,
        };
        self.post_and_record(
            client,
            &peer,
            url,
            action,
            kind,
            envelope,
            malformed_on_purpose,
        )
        .await
    }

    /// A request envelope with the WS-Addressing headers of SGP.02 §5.1 around `body` (raw XML: malformed bodies
    /// are built this way) from `who` (`wsa:From`) to the SM-SR's ES4.
    pub fn es4_envelope(&self, who: Peer, action: &str, body: &str) -> Result<String, Finding> {
        let url = self.smsr()?.es4_url.clone();
        self.peer_envelope(&url, who, action, body)
    }

    /// As [`Ctx::es4_envelope`], to the SM-SR's ES7 (SGP.02 §5.7): the suite's peers are no SM-SR, so these are
    /// calls of a wrong or unknown caller.
    pub fn es7_envelope(&self, who: Peer, action: &str, body: &str) -> Result<String, Finding> {
        let url = self.smsr()?.es7_url.clone();
        self.peer_envelope(&url, who, action, body)
    }

    /// A request envelope from `who` to `url` around the raw XML `body`.
    fn peer_envelope(
        &self,
        url: &str,
        who: Peer,
        action: &str,
        body: &str,
    ) -> Result<String, Finding> {
        let m = &self.world.manifest;
        let stranger = format!("{}.99", m.oid_arc);
        let oid = match who {
            Peer::Eum => &m.eum.oid,
            Peer::Stranger => &stranger,
            Peer::Mno(i) => {
                &m.mnos
                    .get(i)
                    .ok_or_else(|| {
                        Finding::Inconclusive(format!("the peers have no MNO {}", i + 1))
                    })?
                    .entity
                    .oid
            }
        };
        Ok(self.addressed_envelope(PEER_FROM, url, oid, action, body))
    }

    /// A SOAP 1.2 request envelope to `to` with the WS-Addressing headers of SGP.02 §5.1 (`wsa:From` the entity
    /// `oid` at `from`, a fresh MessageID) around the raw XML `body`.
    fn addressed_envelope(
        &self,
        from: &str,
        to: &str,
        oid: &str,
        action: &str,
        body: &str,
    ) -> String {
        let headers = OutgoingHeaders {
            to: to.to_string(),
            from: Some(soap::entity_address(
                from,
                oid,
                None,
                QuerySeparator::Ampersand,
            )),
            reply_to: None,
            message_id: soap::message_id(
                &format!(
                    "//{oid}/urn:uuid:{}",
                    self.fci(&hex::encode(rand::random::<[u8; 8]>()))
                ),
                None,
                None,
                Some(&XsDateTime::utc(time::OffsetDateTime::now_utc())),
                QuerySeparator::Ampersand,
            ),
            action: action.to_string(),
            relates_to: None,
        };
        soap::envelope(SoapVersion::V1_2, &headers, |w| w.raw(body))
    }

    /// Waits for the callback answering `call` (`wsa:RelatesTo`); none within the time-out is a FAIL.
    pub async fn callback(&self, call: &CallOutcome) -> Result<Received, Finding> {
        self.receiver
            .wait_for_callback(&call.message_id, self.callback_timeout)
            .await
            .ok_or_else(|| {
                Finding::Fail(format!(
                    "no callback relating to {} within {} s",
                    call.message_id,
                    self.callback_timeout.as_secs()
                ))
            })
    }

    /// Waits for a notification `element` naming `iccid` that arrived during this case.
    pub async fn notification(&self, element: &str, iccid: &str) -> Result<Received, Finding> {
        self.notification_within(element, iccid, self.callback_timeout)
            .await
            .ok_or_else(|| {
                Finding::Fail(format!(
                    "no {element} for {iccid} within {} s",
                    self.callback_timeout.as_secs()
                ))
            })
    }

    /// A notification `element` naming `iccid` that arrived during this case (SGP.02 §5.4.14, §5.5.9), waited for
    /// at most `timeout`.
    pub async fn notification_within(
        &self,
        element: &str,
        iccid: &str,
        timeout: Duration,
    ) -> Option<Received> {
        self.notification_where(element, timeout, |r| {
            r.field("Iccid").as_deref() == Some(iccid)
        })
        .await
    }

    /// A notification `element` that arrived during this case and `matches`, waited for at most `timeout`.
    pub async fn notification_where(
        &self,
        element: &str,
        timeout: Duration,
        matches: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        let start = self
            .case_start
            .lock()
            .map(|s| s.0)
            .unwrap_or_else(|_| Instant::now());
        self.receiver
            .wait_for(timeout, |r| {
                r.element == element
                    && r.relates_to.is_none()
                    && r.received_at >= start
                    && matches(r)
            })
            .await
    }

    pub(crate) async fn stop(self) {
        self.receiver.stop().await;
        if let Some(smsc) = self.smsc {
            smsc.stop().await;
        }
        if let Some(peer) = self.smsr_peer {
            peer.stop().await;
        }
        if let Some(peer) = self.es7_peer {
            peer.stop().await;
        }
    }
}

/// A caller of the SUT's SM-DP in an ES2 case (SGP.02 §2.2 roles).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Es2Caller {
    /// MNO `n` of the peers (0-based): the role ES2 is for.
    Mno(usize),
    /// The peers' EUM (no party of ES2).
    Eum,
    /// The peers' SM-SR (a registered entity of another role).
    SmSr,
    /// A caller with a certificate of the peers' TLS CA that no registered entity owns.
    Stranger,
}

impl Ctx {
    /// The SM-DP peers (cases that need [`Need::Smdp`] only run when there are).
    pub fn smdp(&self) -> Result<&SmdpPeers, Finding> {
        self.smdp
            .as_ref()
            .ok_or_else(|| Finding::Inconclusive("no SM-DP under test".into()))
    }

    /// Sends an ES2 request as MNO `mno` (0-based) to the SUT's SM-DP and records both messages; a transport
    /// failure is INCONCLUSIVE (SGP.02 §5.3).
    pub async fn es2<T: BodyElement>(&self, mno: usize, req: &T) -> Result<CallOutcome, Finding> {
        let s = self.smdp()?;
        let client = s
            .mnos
            .get(mno)
            .ok_or_else(|| Finding::Inconclusive(format!("the peers have no MNO {}", mno + 1)))?;
        let peer = format!("MNO {}", mno + 1);
        let sent_at = self.now_ms();
        let result = client.es2(req).await;
        let sent = client.sent().pop().unwrap_or_default();
        self.record_call(&peer, &s.es2_url, T::ELEMENT, sent_at, sent, result)
    }

    /// Posts a prepared envelope as `who` to the SM-DP's ES2 and records both messages; returns the HTTP status
    /// and the answer. `malformed_on_purpose`: the case made the request invalid against the GSMA XSDs (its XSD
    /// result is then expected, not a defect of the suite).
    pub async fn post_es2(
        &self,
        who: Es2Caller,
        action: &str,
        kind: &str,
        envelope: String,
        malformed_on_purpose: bool,
    ) -> Result<(u16, String), Finding> {
        let s = self.smdp()?;
        let (client, peer) = match who {
            Es2Caller::Eum => (&s.eum_http, "EUM".to_string()),
            Es2Caller::SmSr => (&s.smsr_http, "SM-SR".to_string()),
            Es2Caller::Stranger => (&s.stranger_http, "unregistered caller".to_string()),
            Es2Caller::Mno(i) => (
                s.mno_http.get(i).ok_or_else(|| {
                    Finding::Inconclusive(format!("the peers have no MNO {}", i + 1))
                })?,
                format!("MNO {}", i + 1),
            ),
        };
        self.post_and_record(
            client,
            &peer,
            &s.es2_url,
            action,
            kind,
            envelope,
            malformed_on_purpose,
        )
        .await
    }

    /// A request envelope with the WS-Addressing headers of SGP.02 §5.1 around `body` (raw XML: malformed
    /// bodies are built this way) from `who` (`wsa:From`) to the SM-DP's ES2.
    pub fn es2_envelope(
        &self,
        who: Es2Caller,
        action: &str,
        body: &str,
    ) -> Result<String, Finding> {
        let s = self.smdp()?;
        let m = &self.world.manifest;
        let stranger = format!("{}.99", m.oid_arc);
        let oid = match who {
            Es2Caller::Eum => &m.eum.oid,
            Es2Caller::SmSr => &m.sm_sr.oid,
            Es2Caller::Stranger => &stranger,
            Es2Caller::Mno(i) => {
                &m.mnos
                    .get(i)
                    .ok_or_else(|| {
                        Finding::Inconclusive(format!("the peers have no MNO {}", i + 1))
                    })?
                    .entity
                    .oid
            }
        };
        Ok(self.addressed_envelope(PEER_FROM, &s.es2_url, oid, action, body))
    }
}

/// One recorded message, not checked against the XSDs yet (the run checks each case's messages when it ends).
pub(crate) fn exchange(
    at_ms: u64,
    direction: Direction,
    peer: &str,
    kind: &str,
    url: &str,
    http_status: Option<u16>,
    body: String,
) -> Exchange {
    Exchange {
        at_ms,
        direction,
        peer: peer.into(),
        kind: kind.into(),
        url: url.into(),
        http_status,
        body,
        xsd: XsdResult::NotValidated {
            why: "not checked yet".into(),
        },
        malformed_on_purpose: false,
    }
}

/// The messages an endpoint of the suite (its SM-SR on ES3, its SM-SR 2 on ES7) exchanged with the SUT, each with
/// when it crossed, for the record of the case running then.
pub(crate) struct ExchangeLog {
    peer: &'static str,
    entries: Mutex<Vec<(Instant, Exchange)>>,
}

impl ExchangeLog {
    /// An empty log of the endpoint named `peer` in the report.
    pub(crate) fn new(peer: &'static str) -> ExchangeLog {
        ExchangeLog {
            peer,
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Records one message (or HTTP answer) now.
    pub(crate) fn record(
        &self,
        direction: Direction,
        kind: &str,
        url: &str,
        status: Option<u16>,
        body: String,
    ) {
        if let Ok(mut l) = self.entries.lock() {
            l.push((
                Instant::now(),
                exchange(0, direction, self.peer, kind, url, status, body),
            ));
        }
    }

    /// Parses a SOAP message of the SUT that arrived at `url` and records it under its body element; one that does
    /// not parse is recorded as `unreadable`, and the `Err` is the SOAP 1.2 Sender fault (1.6/2.1, SGP.02 §5.1.6)
    /// to answer it with ([`ExchangeLog::answer`], HTTP 400). The envelope and the text as received.
    pub(crate) fn receive(
        &self,
        body: &[u8],
        url: &str,
        unreadable: &str,
    ) -> Result<(Envelope, String), String> {
        let text = String::from_utf8_lossy(body).into_owned();
        match Envelope::parse(body) {
            Ok(env) => {
                self.record(
                    Direction::FromSut,
                    env.body().local_name(),
                    url,
                    None,
                    text.clone(),
                );
                Ok((env, text))
            }
            Err(e) => {
                self.record(Direction::FromSut, unreadable, url, None, text);
                let status = FunctionExecutionStatus::failed(StatusCodeData::new(
                    Subject::FUNCTION,
                    Reason::INVALID,
                    Some(e.to_string()),
                ));
                Err(fault_envelope(
                    SoapVersion::V1_2,
                    FaultCode::Sender,
                    &e.to_string(),
                    Some(&status),
                    None,
                ))
            }
        }
    }

    /// Records the endpoint's HTTP answer to the SUT and builds it: `envelope` as SOAP 1.2, or no body when empty
    /// (a bare acknowledgement, SGP.02 Annex B).
    pub(crate) fn answer(
        &self,
        url: &str,
        status: u16,
        envelope: String,
    ) -> actix_web::HttpResponse {
        self.record(
            Direction::ToSut,
            "HTTP answer",
            url,
            Some(status),
            envelope.clone(),
        );
        let mut r = actix_web::HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST),
        );
        if envelope.is_empty() {
            return r.finish();
        }
        r.content_type("application/soap+xml; charset=utf-8")
            .body(envelope)
    }

    /// Every message recorded since `since`.
    pub(crate) fn since(&self, since: Instant) -> Vec<(Instant, Exchange)> {
        self.entries
            .lock()
            .map(|l| l.iter().filter(|(at, _)| *at >= since).cloned().collect())
            .unwrap_or_default()
    }
}

/// A peer the suite plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// The EUM (ES1).
    Eum,
    /// MNO `n` of the peers (0-based).
    Mno(usize),
    /// A caller with a certificate of the peers' TLS CA that no registered entity owns.
    Stranger,
}

/// The first `FunctionExecutionStatus` anywhere in an answer (a response body or a SOAP Fault's detail,
/// SGP.02 §5.1.6.1), if any.
pub fn status_in(envelope: &str) -> Option<FunctionExecutionStatus> {
    fn find(e: &Element) -> Option<&Element> {
        if e.local_name() == "FunctionExecutionStatus" {
            return Some(e);
        }
        e.child_elements().find_map(find)
    }
    let doc = Document::parse(envelope.as_bytes()).ok()?;
    let el = find(doc.root())?;
    FunctionExecutionStatus::decode_element(el, "FunctionExecutionStatus").ok()
}

/// `STATUS subject/reason` of a status, for messages.
pub fn describe(s: &FunctionExecutionStatus) -> String {
    match &s.status_code_data {
        None => s.status.as_str().to_string(),
        Some(d) => format!(
            "{} {}/{} ({})",
            s.status.as_str(),
            d.subject.code(),
            d.reason.code(),
            d.message.as_deref().unwrap_or("")
        ),
    }
}

/// Checks an answer's HTTP status and FunctionExecutionStatus (`codes`: subject and reason of
/// StatusCodeData, SGP.02 §5.1.6.4); returns what was seen.
pub fn expect(
    http: u16,
    envelope: &str,
    want_http: u16,
    want: Status,
    codes: Option<(&str, &str)>,
) -> Result<String, Finding> {
    let seen = status_in(envelope);
    let seen_text = seen
        .as_ref()
        .map(describe)
        .unwrap_or_else(|| "no FunctionExecutionStatus".into());
    let want_text = match codes {
        Some((s, r)) => format!("{} {s}/{r}", want.as_str()),
        None => want.as_str().to_string(),
    };
    if http != want_http {
        return Err(Finding::Fail(format!(
            "expected HTTP {want_http} with {want_text}, got HTTP {http} with {seen_text}"
        )));
    }
    let Some(s) = seen else {
        return Err(Finding::Fail(format!(
            "expected {want_text}, the answer carries no FunctionExecutionStatus"
        )));
    };
    let codes_ok = match codes {
        None => true,
        Some((subject, reason)) => s
            .status_code_data
            .as_ref()
            .is_some_and(|d| d.subject.code() == subject && d.reason.code() == reason),
    };
    if s.status != want || !codes_ok {
        return Err(Finding::Fail(format!(
            "expected {want_text}, got {seen_text}"
        )));
    }
    Ok(format!("HTTP {http}, {seen_text}"))
}

// ES3 (SGP.02 §5.4): the suite as the peers' SM-DP calling the SUT's SM-SR.

/// The peers' SM-DP towards the SUT's SM-SR (SGP.02 §5.4): the ES3 client with the world's SM-DP identity and
/// the suite's receiver as `wsa:ReplyTo` (the SUT registers that receiver for the SM-DP), and its TLS client for
/// prepared envelopes.
pub struct Es3Peer {
    /// The ES3 client (typed requests).
    pub client: MnoClient,
    http: SoapClient,
    /// The SM-SR's ES3 service URL.
    pub es3_url: String,
}

impl Es3Peer {
    fn new(world: &World, base: &str, receiver: &str) -> Result<Es3Peer, SuiteError> {
        Ok(Es3Peer {
            client: MnoClient::sm_dp(world, base)
                .map_err(|e| SuiteError::Setup(e.to_string()))?
                .with_reply_to(format!("{receiver}/es3")),
            http: soap_client(world, &world.manifest.sm_dp_tls_client)?,
            es3_url: service_url(base, Service::Es3SmSr),
        })
    }
}

/// Who sends a prepared ES3 envelope (SGP.02 §5.4): the peers' SM-DP, or another peer in its place (wrong role,
/// unregistered caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Es3Caller {
    /// The peers' SM-DP.
    SmDp,
    /// Another peer of the suite.
    Other(Peer),
}

impl Ctx {
    /// The peers' SM-DP (cases that need [`Need::Smsr`] only run when there is one).
    pub fn es3_peer(&self) -> Result<&Es3Peer, Finding> {
        self.es3
            .as_ref()
            .ok_or_else(|| Finding::Inconclusive("no SM-SR under test".into()))
    }

    /// Sends an ES3 request as the peers' SM-DP and records both messages; a transport failure is INCONCLUSIVE.
    pub async fn es3<T: BodyElement>(&self, req: &T) -> Result<CallOutcome, Finding> {
        let p = self.es3_peer()?;
        let sent_at = self.now_ms();
        let result = p.client.es3(req).await;
        let sent = p.client.sent().pop().unwrap_or_default();
        self.record_call("SM-DP", &p.es3_url, T::ELEMENT, sent_at, sent, result)
    }

    /// A request envelope with the WS-Addressing headers of SGP.02 §5.1 around `body` (raw XML: malformed bodies
    /// are built this way) from `who` (`wsa:From`) to the SM-SR's ES3.
    pub fn es3_envelope(
        &self,
        who: Es3Caller,
        action: &str,
        body: &str,
    ) -> Result<String, Finding> {
        let p = self.es3_peer()?;
        match who {
            Es3Caller::SmDp => Ok(self.addressed_envelope(
                SMDP_FROM,
                &p.es3_url,
                &self.world.manifest.sm_dp.oid,
                action,
                body,
            )),
            Es3Caller::Other(peer) => self.peer_envelope(&p.es3_url, peer, action, body),
        }
    }

    /// Posts a prepared envelope as `who` to the SM-SR's ES3 and records both messages; returns the HTTP status
    /// and the answer. `malformed_on_purpose`: the case made the request invalid against the GSMA XSDs (its XSD
    /// result is then expected, not a defect of the suite).
    pub async fn post_es3(
        &self,
        who: Es3Caller,
        action: &str,
        kind: &str,
        envelope: String,
        malformed_on_purpose: bool,
    ) -> Result<(u16, String), Finding> {
        let p = self.es3_peer()?;
        let (client, peer) = match who {
            Es3Caller::SmDp => (&p.http, "SM-DP".to_string()),
            Es3Caller::Other(other) => {
                let s = self.smsr()?;
                match other {
                    Peer::Eum => (&s.eum_http, "EUM".to_string()),
                    Peer::Stranger => (&s.stranger_http, "unregistered caller".to_string()),
                    Peer::Mno(i) => (
                        s.mno_http.get(i).ok_or_else(|| {
                            Finding::Inconclusive(format!("the peers have no MNO {}", i + 1))
                        })?,
                        format!("MNO {}", i + 1),
                    ),
                }
            }
        };
        self.post_and_record(
            client,
            &peer,
            &p.es3_url,
            action,
            kind,
            envelope,
            malformed_on_purpose,
        )
        .await
    }
}
