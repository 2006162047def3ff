//! The thin tokio driver around a [`Fleet`] (DESIGN §7: the quinn split): it receives MT SMS on a channel, feeds
//! them to the fleet with the current time, sends the resulting MO SMS on another channel and sleeps until the
//! fleet's next deadline (attach outcomes, notification retries, reassembly timeouts).
//!
//! The channels are the interface to an SMSC (the test SMSC turns `submit_sm` into [`MtSms`] and [`MoSms`] into
//! `deliver_sm`): a [`MtSms`] is the TP-UD of one SMS-DELIVER for one destination MSISDN (binary, UDHI set: the
//! SMPP `short_message` of wire-profile §2); a [`MoSms`] is the TP-UD of one SMS-SUBMIT from the MSISDN of the
//! eUICC's enabled profile to the SM-SR's address. Concatenated messages travel as one [`MtSms`]/[`MoSms`] per
//! segment. Time is `tokio::time::Instant` since the driver was built, in ms, so paused-clock tests are exact.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::fleet::{DeliveryError, Fleet, HttpsScriptResult};
use super::https::{self, AdminTarget, CardCredentials, CutAt, Resume, SessionReport};
use super::ids::{Aid, Eid, Iccid};
use super::{DownloadFaults, Event, HttpsTrigger, Outputs};
use crate::issuance::ProfileState;

/// A mobile-terminated SMS for the simulator: destination MSISDN and TP-UD (3GPP TS 23.040 §9.2.2.1
/// SMS-DELIVER; wire-profile §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtSms {
    /// The destination MSISDN (digits only).
    pub dest_msisdn: String,
    /// The TP-UD, UDH included (at most 140 bytes).
    pub tp_ud: Vec<u8>,
}

/// A mobile-originated SMS from the simulator: originating MSISDN, destination address and TP-UD (3GPP TS 23.040
/// §9.2.2.2 SMS-SUBMIT; wire-profile §2, §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoSms {
    /// The MSISDN of the sending eUICC's enabled profile.
    pub from_msisdn: String,
    /// The SM-SR's address.
    pub to_address: String,
    /// The TP-UD, UDH included (at most 140 bytes).
    pub tp_ud: Vec<u8>,
}

/// Test inputs that are not SMS.
#[derive(Debug)]
pub enum Control {
    /// Gives or takes network coverage of one profile (SGP.02 §3.5 fall-back trigger).
    SetCoverage {
        /// The eUICC.
        eid: Eid,
        /// The ISD-P AID.
        aid: Vec<u8>,
        /// Whether the profile's network can be attached to.
        covered: bool,
    },
    /// Switches download faults of one eUICC (wire-profile §5, §7).
    SetDownloadFaults {
        /// The eUICC.
        eid: Eid,
        /// The faults now on.
        faults: DownloadFaults,
    },
    /// Provisions IMSI → MSISDN in the subscriber directory (the MNO's network after an order).
    ProvisionSubscriber {
        /// The IMSI.
        imsi: String,
        /// Its MSISDN.
        msisdn: String,
    },
    /// Asks for the state of every eUICC: the driver answers [`DriverEvent::Inspected`] on its event channel
    /// (test inspection of a running fleet).
    Inspect,
    /// Cuts the next admin session the driver opens for one eUICC (test input; [`CutAt`]).
    CutNextSession {
        /// The eUICC.
        eid: Eid,
        /// Where.
        cut: CutAt,
    },
    /// Runs a script an SCP81 admin session received (wire-profile §3; [`super::https`]) on one eUICC.
    HttpsScript {
        /// The eUICC.
        eid: Eid,
        /// `AE 80 … 00 00`.
        script: Vec<u8>,
        /// The ISD-P of `X-Admin-Targeted-Application`, if any.
        target: Option<Vec<u8>>,
        /// The response script (`None`: unknown application), or why there is none.
        reply: oneshot::Sender<HttpsScriptResult>,
    },
}

/// What a test sees of one eUICC of a running fleet ([`Control::Inspect`]; SGP.02 §2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccView {
    /// The eUICC.
    pub eid: Eid,
    /// Its ISD-Ps in creation order: AID, ICCID of the profile, life-cycle state.
    pub profiles: Vec<(Aid, Option<Iccid>, ProfileState)>,
    /// Whether a profile switch waits for its attach outcome or a notification for its confirmation
    /// (SGP.02 §3.2, §5.7.11): the card is not settled yet.
    pub busy: bool,
    /// The last SCP80 counter the ISD-R accepted (ETSI TS 102 225 §5.1.1).
    pub received_counter: u64,
    /// Where its MO SMS go: the SM-SR's MSISDN (UpdateSMSRAddressingParameters, SGP.02 §4.1.1.6; the
    /// configured default until one was set).
    pub smsr_address: String,
    /// The versions of the ISD-R's SCP80 key sets (wire-profile §5b: the SM-SR change replaces them).
    pub isd_r_kvns: Vec<u8>,
}

/// What the driver reports on its optional event channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DriverEvent {
    /// Something happened in an eUICC.
    Euicc(Event),
    /// An MT SMS reached no eUICC (the SMSC would report a delivery failure).
    Undelivered {
        /// The destination it was sent to.
        dest_msisdn: String,
        /// Why.
        error: DeliveryError,
    },
    /// A control input named an unknown eUICC or ISD-P.
    ControlRefused(DeliveryError),
    /// The answer to [`Control::Inspect`]: every eUICC, in fleet order.
    Inspected(Vec<EuiccView>),
    /// An admin session a push SMS opened ended (wire-profile §3): what crossed, and why it failed if it did.
    AdminSession {
        /// The eUICC.
        eid: Eid,
        /// TLS and every HTTP message of the session.
        report: SessionReport,
        /// Why the session failed (`None`: it ended as the card wanted, cut by a test or not).
        error: Option<String>,
    },
}

/// Why the driver stopped early.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DriverError {
    /// The MO SMS receiver was dropped.
    #[error("the MO SMS channel is closed")]
    MoClosed,
}

/// The senders that feed a running driver.
#[derive(Debug, Clone)]
pub struct SimulatorHandle {
    /// MT SMS to deliver.
    pub mt: mpsc::Sender<MtSms>,
    /// Control inputs.
    pub control: mpsc::Sender<Control>,
}

/// Runs a [`Fleet`] on tokio: MT SMS in, MO SMS out, timers in between.
#[derive(Debug)]
pub struct SimulatorDriver {
    fleet: Fleet,
    mt_rx: mpsc::Receiver<MtSms>,
    control_rx: mpsc::Receiver<Control>,
    mo_tx: mpsc::Sender<MoSms>,
    events_tx: Option<mpsc::UnboundedSender<DriverEvent>>,
    epoch: Instant,
    /// The driver's own control input, for the admin sessions it opens ([`super::https`]).
    control_tx: mpsc::Sender<Control>,
    /// eUICCs with an admin session under way (one at a time per eUICC, SGP.02 §2.4.4).
    in_session: Arc<Mutex<HashSet<Eid>>>,
    /// Per eUICC: a cut asked for its next session, and the response it could not deliver (its next session
    /// resumes with it).
    https_state: Arc<Mutex<HashMap<Eid, CardHttpsState>>>,
}

/// The admin-session state a card keeps between sessions (lab).
#[derive(Debug, Default)]
struct CardHttpsState {
    cut: CutAt,
    resume: Option<Resume>,
}

impl SimulatorDriver {
    /// A driver for `fleet` sending MO SMS to `mo_tx`, and the handle to feed it; `capacity` bounds the input
    /// channels.
    pub fn new(
        fleet: Fleet,
        mo_tx: mpsc::Sender<MoSms>,
        capacity: usize,
    ) -> (SimulatorDriver, SimulatorHandle) {
        let (mt, mt_rx) = mpsc::channel(capacity.max(1));
        let (control, control_rx) = mpsc::channel(capacity.max(1));
        (
            SimulatorDriver {
                fleet,
                mt_rx,
                control_rx,
                mo_tx,
                events_tx: None,
                epoch: Instant::now(),
                control_tx: control.clone(),
                in_session: Arc::default(),
                https_state: Arc::default(),
            },
            SimulatorHandle { mt, control },
        )
    }

    /// Also reports [`DriverEvent`]s on `events`.
    pub fn with_events(mut self, events: mpsc::UnboundedSender<DriverEvent>) -> SimulatorDriver {
        self.events_tx = Some(events);
        self
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn report(&self, event: DriverEvent) {
        if let Some(tx) = &self.events_tx {
            // A dropped event receiver only means nobody listens.
            let _ = tx.send(event);
        }
    }

    async fn emit(&self, out: Outputs) -> Result<(), DriverError> {
        for e in out.events {
            self.report(DriverEvent::Euicc(e));
        }
        for t in out.https {
            self.open_session(t);
        }
        for mo in out.mo {
            self.mo_tx
                .send(mo)
                .await
                .map_err(|_| DriverError::MoClosed)?;
        }
        Ok(())
    }

    /// Opens the admin session a push SMS asked for, on a blocking thread, retried as the trigger's retry policy
    /// says (wire-profile §3); nothing when one is under way for that eUICC.
    fn open_session(&self, t: HttpsTrigger) {
        let Some(psk) = self.fleet.euicc(&t.eid).map(|e| e.scp81_psk().to_vec()) else {
            return;
        };
        let identity = match t.trigger.identity.to_text() {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(eid = %t.eid, error = %e, "simulated eUICC: unusable trigger");
                return;
            }
        };
        let Ok(mut busy) = self.in_session.lock() else {
            return;
        };
        if !busy.insert(t.eid) {
            return;
        }
        drop(busy);
        let c = &t.trigger.connection;
        let target = AdminTarget {
            addr: SocketAddr::from((c.ipv4, c.port)),
            host: t.trigger.host.clone(),
            admin_uri: t.trigger.admin_uri.clone(),
        };
        let card = CardCredentials {
            eid: t.eid,
            identity,
            psk: Zeroizing::new(psk),
            agent_id: t.trigger.agent_id.clone(),
        };
        let [h, m, s] = t.trigger.retry.timer.map(u64::from);
        let pause = Duration::from_secs(h * 3600 + m * 60 + s);
        let retries = t.trigger.retry.counter;
        let control = self.control_tx.clone();
        let in_session = self.in_session.clone();
        let state = self.https_state.clone();
        let events = self.events_tx.clone();
        tokio::task::spawn_blocking(move || {
            for attempt in 0..=retries {
                let (resume, cut) = match state.lock() {
                    Ok(mut m) => {
                        let s = m.entry(card.eid).or_default();
                        (s.resume.take(), std::mem::take(&mut s.cut))
                    }
                    Err(_) => (None, CutAt::Never),
                };
                let (report, result) =
                    https::run_session_recorded(&control, &target, &card, resume.clone(), cut);
                let undelivered = report.resume.clone();
                if let Some(tx) = &events {
                    // A dropped event receiver only means nobody listens.
                    let _ = tx.send(DriverEvent::AdminSession {
                        eid: card.eid,
                        report: report.clone(),
                        error: result.as_ref().err().map(|e| e.to_string()),
                    });
                }
                match result {
                    Ok(()) => {
                        tracing::debug!(eid = %card.eid, scripts = report.scripts, cut = report.cut, "simulated eUICC: admin session done");
                        if let (Some(undelivered), Ok(mut m)) = (undelivered, state.lock()) {
                            m.entry(card.eid).or_default().resume = Some(undelivered);
                        }
                        break;
                    }
                    Err(e) => {
                        if let (Some(r), Ok(mut m)) = (resume, state.lock()) {
                            m.entry(card.eid).or_default().resume.get_or_insert(r);
                        }
                        tracing::info!(eid = %card.eid, attempt, error = %e, "simulated eUICC: admin session failed");
                        if attempt < retries {
                            std::thread::sleep(pause);
                        }
                    }
                }
            }
            if let Ok(mut busy) = in_session.lock() {
                busy.remove(&card.eid);
            }
        });
    }

    /// Runs until every MT sender is dropped, then returns the fleet for inspection.
    pub async fn run(mut self) -> Result<Fleet, DriverError> {
        let mut control_open = true;
        loop {
            let deadline = self
                .fleet
                .next_deadline()
                .map(|ms| self.epoch + Duration::from_millis(ms));
            let timer = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                mt = self.mt_rx.recv() => {
                    let Some(mt) = mt else { break };
                    let now = self.now();
                    match self.fleet.deliver_mt(&mt.dest_msisdn, &mt.tp_ud, now) {
                        Ok(out) => self.emit(out).await?,
                        Err(error) => self.report(DriverEvent::Undelivered {
                            dest_msisdn: mt.dest_msisdn,
                            error,
                        }),
                    }
                }
                control = self.control_rx.recv(), if control_open => {
                    let Some(control) = control else {
                        control_open = false;
                        continue;
                    };
                    let now = self.now();
                    match control {
                        Control::SetCoverage { eid, aid, covered } => {
                            match self.fleet.set_coverage(&eid, &aid, covered, now) {
                                Ok(out) => self.emit(out).await?,
                                Err(e) => self.report(DriverEvent::ControlRefused(e)),
                            }
                        }
                        Control::SetDownloadFaults { eid, faults } => {
                            if let Err(e) = self.fleet.set_download_faults(&eid, faults) {
                                self.report(DriverEvent::ControlRefused(e));
                            }
                        }
                        Control::ProvisionSubscriber { imsi, msisdn } => {
                            if let Err(e) = self.fleet.provision_subscriber(&imsi, &msisdn) {
                                self.report(DriverEvent::ControlRefused(DeliveryError::BadAddress(e)));
                            }
                        }
                        Control::Inspect => {
                            let views = self
                                .fleet
                                .euiccs()
                                .iter()
                                .map(|e| EuiccView {
                                    eid: e.eid(),
                                    profiles: e
                                        .isd_ps()
                                        .iter()
                                        .map(|i| (i.aid(), i.iccid(), i.state()))
                                        .collect(),
                                    busy: e.switch_in_progress() || !e.pending_notifications().is_empty(),
                                    received_counter: e.received_counter(),
                                    smsr_address: e.smsr_address(self.fleet.config()),
                                    isd_r_kvns: e.isd_r_kvns(),
                                })
                                .collect();
                            self.report(DriverEvent::Inspected(views));
                        }
                        Control::CutNextSession { eid, cut } => {
                            if let Ok(mut m) = self.https_state.lock() {
                                m.entry(eid).or_default().cut = cut;
                            }
                        }
                        Control::HttpsScript { eid, script, target, reply } => {
                            match self.fleet.run_https_script(&eid, &script, target.as_deref(), now) {
                                Ok((r, out)) => {
                                    let _ = reply.send(r);
                                    self.emit(out).await?;
                                }
                                Err(e) => {
                                    let _ = reply.send(Err(e.to_string()));
                                    self.report(DriverEvent::ControlRefused(e));
                                }
                            }
                        }
                    }
                }
                _ = timer => {
                    let out = self.fleet.poll(self.now());
                    self.emit(out).await?;
                }
            }
        }
        Ok(self.fleet)
    }
}
