//! The suite as the SUT's SMSC with the peers' eUICCs behind it (SGP.02 §5.6 ES5 over SMS; wire-profile §2):
//! the test SMSC (crate::smsc) listens where the SUT's operator pointed the SM-SR's SMPP account, the eUICC
//! simulator (crate::euicc) plays the peers' eUICCs from their issuance state, and every SMS that crosses is
//! kept (crate::lab::SimulatedNetwork) for the ES5 byte checks ([`super::es5`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use certs::world::World;
use tokio::sync::mpsc;

use super::SuiteError;
use crate::euicc::https::SessionReport;
use crate::euicc::{
    Control, DriverEvent, EuiccView, Fleet, SimulatorConfig, SimulatorHandle, SubscriberDirectory,
};
use crate::lab::{LoggedSms, SimulatedNetwork};
use crate::smsc::{RecordedSubmit, SmscConfig};

/// Where the suite's SMSC listens and the SMPP account it accepts (SMPP 3.4 §4.1): what the SUT's SM-SR is
/// configured with (`es5.smpp` of `rsp serve`: host, port, system_id, password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmscSetup {
    /// `host:port` to listen on.
    pub listen: String,
    /// The account's system_id.
    pub system_id: String,
    /// The account's password.
    pub password: String,
}

/// The running SMSC of the suite and what it saw (wire-profile §2).
pub struct SuiteSmsc {
    network: SimulatedNetwork,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// MSISDN → index of the peers' eUICC that has a profile with it (issuance, crate::issuance).
    by_msisdn: HashMap<String, usize>,
    undelivered: Arc<Mutex<Vec<String>>>,
    /// The last answer to [`Control::Inspect`].
    inspected: Arc<Mutex<Option<Vec<EuiccView>>>>,
    sessions: Arc<Mutex<Vec<LoggedSession>>>,
    events: tokio::task::JoinHandle<()>,
}

/// One admin session a simulated eUICC opened after a push SMS (wire-profile §3), as it ended.
#[derive(Debug, Clone)]
pub struct LoggedSession {
    /// When it ended.
    pub at: Instant,
    /// The eUICC's EID (upper-case hex).
    pub eid: String,
    /// TLS and every HTTP message.
    pub report: SessionReport,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl SuiteSmsc {
    /// Starts the SMSC with the simulated eUICCs of `world` at their issuance state (SGP.02 §5.6; wire-profile
    /// §2): each card accepts the SUT's commands under its ISD-R key set, answers PoRs and sends notifications; the
    /// network gives the suite's downloaded profile ([`super::es3::DOWNLOAD_IMSI`]) its MSISDN.
    pub async fn start(world: &World, setup: &SmscSetup) -> Result<SuiteSmsc, SuiteError> {
        let setup_err =
            |what: &str, e: String| SuiteError::Setup(format!("suite SMSC: {what}: {e}"));
        let listen: SocketAddr = setup
            .listen
            .parse()
            .map_err(|e: std::net::AddrParseError| setup_err(&setup.listen, e.to_string()))?;
        // The network attaches the suite's downloaded profile (ES3-Download-01) by its IMSI.
        let mut subscribers = SubscriberDirectory::default();
        subscribers
            .provision(super::es3::DOWNLOAD_IMSI, super::es3::DOWNLOAD_MSISDN)
            .map_err(|e| setup_err("the subscriber directory", e.to_string()))?;
        let fleet = Fleet::from_world(
            world,
            SimulatorConfig {
                attach_delay_ms: 500,
                notification_retry_interval_ms: 10_000,
                subscribers,
                ..SimulatorConfig::default()
            },
        )
        .map_err(|e| setup_err("the peers' eUICCs", e.to_string()))?;
        let mut by_msisdn = HashMap::from([(super::es3::DOWNLOAD_MSISDN.to_string(), 0)]);
        for i in 0..world.euiccs.len() {
            for p in crate::issuance::profiles_at_issuance(world, i)
                .map_err(|e| setup_err("the peers' eUICCs", e.to_string()))?
            {
                by_msisdn.insert(p.msisdn, i);
            }
        }
        let mut smsc = SmscConfig::loopback(&setup.system_id, &setup.password);
        smsc.listen = listen;
        smsc.record = true;
        let (tx, mut rx) = mpsc::unbounded_channel();
        let network = SimulatedNetwork::start(fleet, smsc, Some(tx))
            .await
            .map_err(|e| setup_err(&setup.listen, e.to_string()))?;
        let undelivered = Arc::new(Mutex::new(Vec::new()));
        let inspected = Arc::new(Mutex::new(None));
        let sessions = Arc::new(Mutex::new(Vec::new()));
        let (u, seen, sess) = (undelivered.clone(), inspected.clone(), sessions.clone());
        let events = tokio::spawn(async move {
            while let Some(e) = rx.recv().await {
                match e {
                    DriverEvent::Undelivered { dest_msisdn, error } => {
                        if let Ok(mut u) = u.lock() {
                            u.push(format!("{dest_msisdn}: {error}"));
                        }
                    }
                    DriverEvent::Inspected(views) => {
                        if let Ok(mut s) = seen.lock() {
                            *s = Some(views);
                        }
                    }
                    DriverEvent::AdminSession { eid, report, error } => {
                        if let Ok(mut s) = sess.lock() {
                            s.push(LoggedSession {
                                at: Instant::now(),
                                eid: eid.to_string(),
                                report,
                                error,
                            });
                        }
                    }
                    _ => {}
                }
            }
        });
        let addr = network.smsc().local_addr();
        Ok(SuiteSmsc {
            network,
            addr,
            by_msisdn,
            undelivered,
            inspected,
            sessions,
            events,
        })
    }

    /// Waits until the SUT has bound to the SMSC (SMPP 3.4 §4.1), at most `timeout`; whether it has.
    pub async fn wait_bound(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if self.network.smsc().bound_sessions() > 0 {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every SMS that crossed so far, oldest first.
    pub fn sms_log(&self) -> Vec<LoggedSms> {
        self.network.sms_log()
    }

    /// Every submit_sm the SUT sent (SMPP 3.4 §4.4.1), in order.
    pub fn submits(&self) -> Vec<RecordedSubmit> {
        self.network.smsc().submits()
    }

    /// MT SMS that reached no eUICC (no enabled profile has their destination MSISDN), with why.
    pub fn undelivered(&self) -> Vec<String> {
        self.undelivered
            .lock()
            .map(|u| u.clone())
            .unwrap_or_default()
    }

    /// The peers' eUICC (index) that has a profile with `msisdn`.
    pub fn euicc_of(&self, msisdn: &str) -> Option<usize> {
        self.by_msisdn.get(msisdn).copied()
    }

    /// Every admin session the simulated eUICCs ended so far (wire-profile §3), oldest first.
    pub fn sessions(&self) -> Vec<LoggedSession> {
        self.sessions.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Sends a control input to the simulated eUICCs (e.g. [`Control::CutNextSession`]); whether it was taken.
    pub async fn control(&self, control: Control) -> bool {
        self.network.control(control).await.is_ok()
    }

    /// Alters the next `n` PoRs on their way to the SUT (their CC no longer verifies; wire-profile §2).
    pub fn corrupt_next_por(&self, n: usize) {
        self.network.corrupt_next_por(n);
    }

    /// The simulator's input handle: the suite's SM-SR runs scripts on the cards with it
    /// ([`super::smsr_es7`]).
    pub(crate) fn simulator(&self) -> SimulatorHandle {
        self.network.simulator()
    }

    /// The state of every card now (SGP.02 §2.2.1), `None` if the simulator does not answer within a second.
    pub async fn inspect(&self) -> Option<Vec<EuiccView>> {
        if let Ok(mut s) = self.inspected.lock() {
            *s = None;
        }
        self.network.control(Control::Inspect).await.ok()?;
        for _ in 0..100 {
            if let Some(v) = self.inspected.lock().ok().and_then(|s| s.clone()) {
                return Some(v);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// Stops the SMSC and the simulator.
    pub async fn stop(self) {
        self.network.stop().await;
        self.events.abort();
    }
}
