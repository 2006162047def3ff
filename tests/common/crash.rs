//! What the crash tests share (tests/switch_crash.rs, tests/smsr_change_crash.rs, tests/multi_node.rs): ES4 calls
//! sent concurrently while a server may be killed, what each FunctionCallIdentifier got, the callbacks that belong
//! to it, and what the simulated cards did.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use conformance::euicc::{Control, DriverEvent, EuiccSecrets, EuiccView, EventKind};
use conformance::issuance::ProfileState as CardState;
use conformance::lab::SimulatedNetwork;
use conformance::mno::MnoClient;
use conformance::mno::Received;
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::status::FunctionExecutionStatus;

/// One ES4 request (one FunctionCallIdentifier) and what its calls got.
#[derive(Debug, Default, Clone)]
pub struct Call {
    /// `wsa:MessageID`s of the calls the server accepted (202).
    pub message_ids: Vec<String>,
    /// Synchronous answers.
    pub answered: Vec<FunctionExecutionStatus>,
    /// Calls whose connection died with the server.
    pub lost: usize,
}

/// What one call got.
#[derive(Debug)]
pub enum Outcome {
    /// A synchronous answer.
    Answered(FunctionExecutionStatus),
    /// Accepted (202) under this `wsa:MessageID`: the result comes as a callback.
    Accepted(String),
    /// No answer: the connection died (the server was killed).
    Lost,
}

/// Sends `requests[i]` for each `i` of `which` at once; counts the synchronous answers in `answered`.
pub async fn send_all<T: BodyElement + Send + Sync + 'static>(
    mno: &Arc<MnoClient>,
    requests: &Arc<Vec<T>>,
    which: &[usize],
    answered: Arc<AtomicUsize>,
) -> Vec<(usize, Outcome)> {
    let mut tasks = tokio::task::JoinSet::new();
    for &i in which {
        let (mno, requests, answered) = (mno.clone(), requests.clone(), answered.clone());
        tasks.spawn(async move {
            let outcome = match mno.es4(&requests[i]).await {
                Ok(out) if out.http_status == 202 => Outcome::Accepted(out.message_id),
                Ok(out) => match out.status() {
                    Some(s) => Outcome::Answered(s),
                    None => Outcome::Lost,
                },
                Err(_) => Outcome::Lost,
            };
            if matches!(outcome, Outcome::Answered(_)) {
                answered.fetch_add(1, Ordering::SeqCst);
            }
            (i, outcome)
        });
    }
    let mut out = Vec::new();
    while let Some(r) = tasks.join_next().await {
        out.push(r.expect("send task"));
    }
    out
}

/// Whether the result of a switch agrees with what its card did (SGP.02 §5.1.6.4, §3.2): SUCCESS only when the
/// card moved to the target, FAILED only when it did not; EXPIRED claims neither (the validity ended before the
/// SM-SR knew — e.g. the confirmation's PoR still on its way on an overloaded machine), and the notifications and
/// the EIS, checked separately, say what happened.
pub fn result_agrees_with_card(result: &FunctionExecutionStatus, switched: bool) -> bool {
    match result.status {
        es_interfaces::status::Status::ExecutedSuccess => switched,
        es_interfaces::status::Status::Expired => true,
        _ => !switched,
    }
}

/// Adds the outcomes of [`send_all`] to `calls`.
pub fn record(calls: &mut [Call], outcomes: Vec<(usize, Outcome)>) {
    for (i, o) in outcomes {
        match o {
            Outcome::Answered(s) => calls[i].answered.push(s),
            Outcome::Accepted(id) => calls[i].message_ids.push(id),
            Outcome::Lost => calls[i].lost += 1,
        }
    }
}

/// FunctionCallIdentifier → every `wsa:MessageID` the MNO sent it with, the calls whose answer was lost in the
/// kill included (the server may have recorded one of those: its callback relates to that MessageID).
pub fn message_ids_by_fci(sent: &[String]) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for envelope in sent {
        let env =
            es_interfaces::soap::Envelope::parse(envelope.as_bytes()).expect("a sent envelope");
        let id = env
            .header_blocks()
            .into_iter()
            .find(|h| h.local_name() == "MessageID")
            .map(|h| h.text().trim().to_string())
            .expect("wsa:MessageID");
        let fci = env
            .body()
            .child_elements()
            .find(|e| e.local_name() == "FunctionCallIdentifier")
            .map(|e| e.text().trim().to_string())
            .expect("FunctionCallIdentifier");
        out.entry(fci).or_default().push(id);
    }
    out
}

/// What the simulator reported: its last inspection, every refused command packet and each card's events
/// (printed when a check fails).
#[derive(Default)]
pub struct Observed {
    /// The answer to the last [`Control::Inspect`].
    pub views: Option<Vec<EuiccView>>,
    /// (EID, PoR status) of every command packet a card refused.
    pub refused: Vec<(String, String)>,
    /// Each card's events, with the time since the test started.
    pub history: HashMap<String, Vec<String>>,
}

impl Observed {
    /// A card's events, one a line.
    pub fn history_of(&self, eid: &str) -> String {
        self.history
            .get(eid)
            .map(|h| h.join("\n"))
            .unwrap_or_default()
    }
}

/// Records the simulator's events (`events`, from `SimulatedNetwork::start`) into `observed` until the channel
/// closes.
pub fn watch(
    mut events: tokio::sync::mpsc::UnboundedReceiver<DriverEvent>,
    observed: Arc<Mutex<Observed>>,
    started: Instant,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            match event {
                DriverEvent::Inspected(v) => observed.lock().expect("lock").views = Some(v),
                DriverEvent::Euicc(e) => {
                    let mut o = observed.lock().expect("lock");
                    let eid = e.eid.to_string();
                    if let EventKind::PacketRefused { status } = e.kind {
                        o.refused.push((eid.clone(), format!("{status:?}")));
                    }
                    let at = started.elapsed().as_millis();
                    o.history
                        .entry(eid)
                        .or_default()
                        .push(format!("{at} ms {:?}", e.kind));
                }
                _ => {}
            }
        }
    })
}

/// The state of every card now (Control::Inspect), as [`watch`] records it.
pub async fn inspect(network: &SimulatedNetwork, observed: &Mutex<Observed>) -> Vec<EuiccView> {
    observed.lock().expect("lock").views = None;
    network.control(Control::Inspect).await.expect("inspect");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = observed.lock().expect("lock").views.take() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "the simulator did not answer Inspect"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ES4 Handle…Notifications among `messages` per (eUICC index, `enabled` / `disabled` / element, ICCID).
pub fn notification_counts(
    messages: &[Received],
    eid_index: &HashMap<String, usize>,
) -> HashMap<(usize, String, String), usize> {
    let mut counts = HashMap::new();
    for r in messages
        .iter()
        .filter(|r| r.element.starts_with("ES4-HandleProfile"))
    {
        let eid = r.field("Eid").expect("Eid");
        let i = *eid_index
            .get(&eid)
            .unwrap_or_else(|| panic!("notification about unknown {eid}"));
        let kind = match r.element.as_str() {
            "ES4-HandleProfileEnabledNotification" => "enabled",
            "ES4-HandleProfileDisabledNotification" => "disabled",
            other => other,
        };
        let iccid = r
            .field("Iccid")
            .expect("Iccid")
            .trim_end_matches('F')
            .to_string();
        *counts.entry((i, kind.to_string(), iccid)).or_default() += 1;
    }
    counts
}

/// The ISD-P slot (0 = P1, 1 = P2, 2 = P3) enabled on a card.
pub fn enabled_slot(v: &EuiccView, aids: &[Vec<u8>]) -> usize {
    let enabled: Vec<usize> = v
        .profiles
        .iter()
        .filter(|(_, _, s)| *s == CardState::Enabled)
        .map(|(aid, _, _)| {
            aids.iter()
                .position(|a| a == aid.as_bytes())
                .expect("issued AID")
        })
        .collect();
    assert_eq!(
        enabled.len(),
        1,
        "{:?}: not exactly one enabled profile: {v:?}",
        v.eid
    );
    enabled[0]
}

/// One seeded eUICC as the test sees it.
pub struct Card {
    /// Its EID.
    pub eid: String,
    /// The ICCIDs of its profiles P1, P2, P3.
    pub iccids: Vec<String>,
}

/// The seeded eUICCs `0..n` of `Fleet::from_seed(seed, n, …)` (as `rsp::lab::register_seeded_eis` registers them).
pub fn seeded_cards(seed: u64, n: usize) -> Vec<Card> {
    (0..n)
        .map(|i| {
            let secrets = EuiccSecrets::from_seed(seed, i).expect("secrets");
            let profiles = conformance::issuance::profiles_for(
                i,
                &secrets.msisdn.to_string(),
                conformance::issuance::DEFAULT_MNO_OIDS,
            )
            .expect("issued profiles");
            Card {
                eid: secrets.eid.to_string(),
                iccids: profiles.iter().map(|p| p.iccid.clone()).collect(),
            }
        })
        .collect()
}

/// The AIDs of the ISD-Ps of slots 0, 1 and 2 (P1, P2, P3).
pub fn isd_p_aids() -> Vec<Vec<u8>> {
    (0..3u8)
        .map(|s| {
            es_interfaces::wire_profile::isd_p_aid(s)
                .expect("AID")
                .to_vec()
        })
        .collect()
}

/// One server as a child process: `rsp --config <file> serve --only smsr` (or `--only smdp`, [`Self::only`]),
/// killed (SIGKILL) when dropped, also when the test fails.
pub struct SmsrProcess {
    /// What the test calls it.
    pub name: &'static str,
    config: std::path::PathBuf,
    log_var: &'static str,
    only: &'static str,
    child: Option<std::process::Child>,
}

impl SmsrProcess {
    /// Not started yet; `log_var` names the environment variable whose value is its `RUST_LOG` (default `warn`).
    pub fn new(
        name: &'static str,
        config: std::path::PathBuf,
        log_var: &'static str,
    ) -> SmsrProcess {
        SmsrProcess {
            name,
            config,
            log_var,
            only: "smsr",
            child: None,
        }
    }

    /// The same, serving `which` (`smsr` or `smdp`).
    pub fn only(mut self, which: &'static str) -> SmsrProcess {
        self.only = which;
        self
    }

    /// Its process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// Starts it and waits until it prints `ready`.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_rsp"))
            .arg("--config")
            .arg(&self.config)
            .args(["serve", "--only", self.only])
            .env(
                "RUST_LOG",
                std::env::var(self.log_var).unwrap_or_else(|_| "warn".into()),
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn rsp serve --only");
        super::wait_until_ready(&mut child);
        self.child = Some(child);
    }

    /// Kills it with SIGKILL (no chance to clean up) and waits.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SmsrProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}
