//! Crash safety of the SM-SR change (SGP.02 §3.8; issue 13 item 5): SIGKILL of one of the two SM-SRs at a random
//! step of `CHANGES` concurrent changes, restart, on SQLite and on PostgreSQL. Round 0 kills SM-SR 1 (the current
//! SM-SR: ES4.SMSRChange, the relay of AuthenticateSMSR and CreateAdditionalKeySet over ES5), round 1 kills SM-SR 2
//! (the new SM-SR: HandoverEUICC, the receipt check, the finalisation under the new keys); each round moves eUICCs
//! of its own. After each round, for every eUICC of the round:
//! - exactly one SM-SR holds its EIS, unlocked, with every profile it had (no EIS lost, none duplicated);
//! - the MNO got one result for its FunctionCallIdentifier (callbacks counted by `wsa:MessageID`: the outbox
//!   delivers at least once), SUCCESS exactly when the eUICC ended at SM-SR 2, and one
//!   ES4.HandleSMSRChangeNotification from SM-SR 2 exactly then;
//! - the card points at the SM-SR that holds it (its SM-SR address) and the keys that SM-SR holds work: an
//!   ES4.AuditEIS through it reaches the card (over ES5) and succeeds;
//! - the cards refused no command packet (a reused SCP80 counter would be refused: counter low).
//!
//! The test SMSC, the simulated eUICCs and the MNO's callback receiver run in this test process, so they live
//! through the kill; each SM-SR is a child process (`rsp --config … serve --only smsr`). An ES4.SMSRChange whose
//! connection died with SM-SR 1 is sent again after the restart with the same FunctionCallIdentifier (SGP.02
//! §2.3.3). The kill moment is drawn in units of progress: after a random number of the round's MT SMS went
//! through the SMSC, plus a random delay; `RSP_SMSR_CHANGE_CRASH_KILL_AT=<sms>,<ms>;<sms>,<ms>` replays both.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Db;
use common::crash::{
    Call, Observed, SmsrProcess, inspect, message_ids_by_fci, record, send_all, watch,
};
use conformance::euicc::{Fleet, SimulatorConfig};
use conformance::lab::SimulatedNetwork;
use conformance::mno::{MnoClient, MnoReceiver, Received, base};
use conformance::smsc::SmscConfig;
use eis_store::eis::EuiccLock;
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::es4;
use es_interfaces::status::Status;
use rsp::config::Config;
use rsp::download_bench::status_key;
use rsp::lab::SecondSmsr;

/// Concurrent changes (one per eUICC) in each round.
const CHANGES: usize = 5;
/// Rounds: round 0 kills SM-SR 1, round 1 SM-SR 2.
const ROUNDS: usize = 2;
/// ValidityPeriod of each change: a change the crash leaves without an answer ends (EXPIRED) within the round,
/// after the restarted SM-SR waited out its predecessor's outbox leases (60 s).
const VALIDITY_SECS: u64 = 240;
/// MT SMS of one change (AuthenticateSMSR, CreateAdditionalKeySet, the finalisation under the new keys, and the
/// SMS segments and retransmissions around them: about 35 for 5 changes and their audits when nothing is killed).
const SMS_PER_CHANGE: u64 = 6;

fn kill_points() -> Vec<(u64, u64)> {
    if let Ok(v) = std::env::var("RSP_SMSR_CHANGE_CRASH_KILL_AT") {
        let points: Vec<(u64, u64)> = v
            .split(';')
            .map(|p| {
                let (a, b) = p.split_once(',').expect("<sms>,<ms>");
                (
                    a.trim().parse().expect("sms"),
                    b.trim().parse().expect("ms"),
                )
            })
            .collect();
        assert_eq!(
            points.len(),
            ROUNDS,
            "RSP_SMSR_CHANGE_CRASH_KILL_AT names one kill per round"
        );
        return points;
    }
    // At most four fifths of the round's SMS, so that the kill comes while changes are under way; 0 SMS kills
    // during the ES7 hand-over, before anything reached a card.
    let span = CHANGES as u64 * SMS_PER_CHANGE * 4 / 5;
    (0..ROUNDS)
        .map(|_| (rand::random::<u64>() % span, rand::random::<u64>() % 200))
        .collect()
}

fn fci(round: usize, i: usize) -> String {
    format!("smsr-change-crash-{round}-{i}")
}

/// A store of an SM-SR, opened from the test process (SQLite paths resolved against the var dir).
fn open_store(config: &Config) -> eis_store::Store {
    eis_store::Store::open(&config.resolve_database_url(&config.smsr.database_url), 4)
        .expect("open an SM-SR's database")
}

/// Active or AwaitingNotification operations in a store.
fn open_operations(store: &eis_store::Store) -> i64 {
    let mut c = store.conn().expect("connection");
    let counts = eis_store::operations::counts(&mut c).expect("operation counts");
    counts[0].1 + counts[1].1
}

/// Where an eUICC's EIS is: (at SM-SR 1, at SM-SR 2), each with its lock and number of profiles.
fn holders(stores: &[eis_store::Store; 2], eid: &str) -> [Option<(EuiccLock, usize)>; 2] {
    stores.each_ref().map(|store| {
        let mut c = store.conn().expect("connection");
        let lock = eis_store::eis::lock_of(&mut c, eid).expect("lock");
        lock.map(|(lock, _)| {
            let profiles = eis_store::eis::profiles_of(&mut c, eid).expect("profiles");
            (lock, profiles.len())
        })
    })
}

/// The eUICC of an ES4.HandleSMSRChangeNotification (its EIS), `None` for any other message.
fn notified_eid(r: &Received) -> Option<String> {
    if r.element != "ES4-HandleSMSRChangeNotification" {
        return None;
    }
    let env = es_interfaces::soap::Envelope::parse(r.envelope.as_bytes()).ok()?;
    let n = es4::HandleSmsrChangeNotification::decode_body(env.body()).ok()?;
    Some(n.eis.eum_signed_info.eid.to_string())
}

/// Both SM-SRs as child processes on one world, the test SMSC and the simulated eUICCs, the MNO's receiver.
struct Harness {
    world: certs::world::World,
    network: SimulatedNetwork,
    observed: Arc<Mutex<Observed>>,
    watcher: tokio::task::JoinHandle<()>,
    receiver: MnoReceiver,
    smsrs: [SmsrProcess; 2],
    stores: [eis_store::Store; 2],
    /// MNO 1's clients of SM-SR 1 and SM-SR 2.
    mnos: [Arc<MnoClient>; 2],
    /// The SM-SRs' MSISDNs.
    msisdns: [String; 2],
    sr1: String,
    sr2: String,
    /// The number of profiles of each eUICC's EIS at the start.
    issued: HashMap<String, usize>,
    started: Instant,
}

/// The two SM-SRs' database URLs for `db`, with the PostgreSQL databases that must live as long as the test.
fn databases(db: Db) -> ([String; 2], Vec<testkit::PgTestDb>) {
    match db {
        Db::Sqlite => (
            ["sqlite://smsr.db".into(), "sqlite://smsr2.db".into()],
            Vec::new(),
        ),
        Db::Postgres => {
            let pg = vec![testkit::PgTestDb::new(), testkit::PgTestDb::new()];
            ([pg[0].url().to_string(), pg[1].url().to_string()], pg)
        }
    }
}

/// Runs `test` on a two-thread runtime inside an actix system.
fn run<F: std::future::Future<Output = ()>>(test: F) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    actix_web::rt::System::with_tokio_rt(move || rt).block_on(test);
}

impl Harness {
    /// A world of `euiccs` eUICCs in `dir`, registered at SM-SR 1 over ES1; both SM-SRs running.
    async fn start(dir: &std::path::Path, [db1, db2]: [String; 2], euiccs: usize) -> Harness {
        let started = Instant::now();
        let var = dir.join("var");
        let world =
            rsp::setup::init_world(&var.join("pki"), euiccs, Some(7)).expect("the test world");
        let mut first = Config {
            var_dir: var.clone(),
            ..Config::default()
        };
        let second_smsr = SecondSmsr {
            database_url: Some(db2),
            ..SecondSmsr::default()
        };
        let fleet = Fleet::from_world(
            &world,
            SimulatorConfig {
                smsr_address: first.es5.smsr_msisdn.clone(),
                attach_delay_ms: 200,
                notification_retry_interval_ms: 5_000,
                ..SimulatorConfig::default()
            },
        )
        .expect("fleet");
        let mut smsc = SmscConfig::loopback(&first.es5.smpp.system_id, &first.es5.smpp.password);
        smsc.record = false;
        smsc.accounts[0].addresses = vec![first.es5.smsr_msisdn.clone()];
        smsc.accounts.push(second_smsr.smsc_account());
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let network = SimulatedNetwork::start(fleet, smsc, Some(events_tx))
            .await
            .expect("network");
        let observed: Arc<Mutex<Observed>> = Arc::default();
        let watcher = watch(events_rx, observed.clone(), started);
        let receiver = MnoReceiver::start(&world, "127.0.0.1:0", true).expect("receiver");
        let receiver_port = receiver.port();

        // SM-SR 1 and SM-SR 2, each the other's ES7 peer, both bound to the test SMSC; the world's MNOs' ES4
        // endpoints are the receiver (registered again at each start).
        let port = || rsp::lab::free_port().expect("a free port");
        let (p1, p2, e2) = (port(), port(), port());
        first.smsr.listen = format!("127.0.0.1:{p1}");
        first.smsr.public_url = format!("https://localhost:{p1}");
        first.smsr.database_url = db1;
        first.smsr.metrics_listen = Some("127.0.0.1:0".into());
        first.esm2m.enabled = false;
        first.mno.first_port = receiver_port;
        first.es5.smpp.enabled = true;
        first.es5.smpp.host = "127.0.0.1".into();
        first.es5.smpp.port = network.smsc().local_addr().port();
        first.es5.por_timeout_secs = 5;
        first.es5.max_retry_interval_secs = 10;
        let mut second = second_smsr.configure(&mut first, p2, e2).expect("SM-SR 2");
        second.esm2m.enabled = false;
        let mut smsrs = [("SM-SR 1", &first), ("SM-SR 2", &second)].map(|(name, config)| {
            let path = dir.join(format!("{}.yaml", name.replace(' ', "")));
            std::fs::write(&path, serde_norway::to_string(config).expect("YAML"))
                .expect("write a configuration");
            SmsrProcess::new(name, path, "RSP_SMSR_CHANGE_CRASH_LOG")
        });
        for s in &mut smsrs {
            s.start();
        }
        let stores = [open_store(&first), open_store(&second)];
        let registered =
            rsp::lab::register_world_eis(&world, &first.smsr.public_url, &[], 0.0, false)
                .await
                .expect("the world's EISs registered at SM-SR 1 over ES1");
        assert_eq!(registered, euiccs);
        // What each eUICC's EIS holds at the start: no profile may be lost on the way.
        let issued: HashMap<String, usize> = world
            .euiccs
            .iter()
            .map(|e| {
                let mut c = stores[0].conn().expect("connection");
                let n = eis_store::eis::profiles_of(&mut c, &e.eid)
                    .expect("profiles")
                    .len();
                (e.eid.clone(), n)
            })
            .collect();
        let reply_to = first.mno.endpoint(0, "ES4");
        let client = |url: &str| {
            Arc::new(
                MnoClient::new(&world, 0, url, "https://localhost:1")
                    .expect("MNO client")
                    .with_reply_to(reply_to.clone()),
            )
        };
        let mnos = [
            client(&first.smsr.public_url),
            client(&second.smsr.public_url),
        ];
        let msisdns = [
            first.es5.smsr_msisdn.clone(),
            second.es5.smsr_msisdn.clone(),
        ];
        let sr1 = world.manifest.sm_sr.oid.clone();
        let sr2 = world
            .smsr(2)
            .expect("the world's SM-SR 2")
            .entity
            .oid
            .clone();
        eprintln!(
            "{euiccs} eUICCs registered, both SM-SRs up in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        Harness {
            world,
            network,
            observed,
            watcher,
            receiver,
            smsrs,
            stores,
            mnos,
            msisdns,
            sr1,
            sr2,
            issued,
            started,
        }
    }

    /// Stops everything.
    async fn stop(mut self) {
        for s in &mut self.smsrs {
            s.kill9();
        }
        self.watcher.abort();
        self.receiver.stop().await;
        self.network.stop().await;
    }
}

fn crash_scenario(db: Db) {
    let dir = tempfile::tempdir().expect("temp dir");
    let (urls, _pg) = databases(db);
    run(async move {
        let mut h = Harness::start(dir.path(), urls, CHANGES * ROUNDS).await;
        let Harness {
            world,
            network,
            observed,
            receiver,
            smsrs,
            stores,
            mnos,
            msisdns,
            sr1,
            sr2,
            issued,
            started,
            ..
        } = &mut h;
        let kills = kill_points();
        eprintln!(
            "SM-SR change crash test ({db:?}): RSP_SMSR_CHANGE_CRASH_KILL_AT={} replays the kills",
            kills
                .iter()
                .map(|(s, m)| format!("{s},{m}"))
                .collect::<Vec<_>>()
                .join(";")
        );
        let submitted = || network.smsc().counters().submitted;
        let mut totals: BTreeMap<String, usize> = BTreeMap::new();
        let mut seen_messages = 0usize;
        for (round, &(kill_sms, kill_ms)) in kills.iter().enumerate() {
            let round_started = Instant::now();
            let victim = round % 2;
            let cards: Vec<usize> = (round * CHANGES..(round + 1) * CHANGES).collect();
            let eids: Vec<String> = cards.iter().map(|&i| world.euiccs[i].eid.clone()).collect();
            for (k, eid) in eids.iter().enumerate() {
                let out = mnos[1]
                    .es4(&es4::PrepareSmsrChangeRequest {
                        base: base(
                            &format!("{}-prepare", fci(round, k)),
                            Some(2 * VALIDITY_SECS),
                        ),
                        eid: eid.parse().expect("eid"),
                        current_smsr_id: sr1.parse().expect("oid"),
                    })
                    .await
                    .expect("ES4.PrepareSMSRChange");
                assert_eq!(
                    out.status().map(|s| s.status),
                    Some(Status::ExecutedSuccess),
                    "{}",
                    out.envelope
                );
            }
            let requests: Arc<Vec<es4::SmsrChangeRequest>> = Arc::new(
                eids.iter()
                    .enumerate()
                    .map(|(k, eid)| es4::SmsrChangeRequest {
                        base: base(&fci(round, k), Some(VALIDITY_SECS)),
                        eid: eid.parse().expect("eid"),
                        target_smsr_id: sr2.parse().expect("oid"),
                    })
                    .collect(),
            );
            let mut calls = vec![Call::default(); CHANGES];
            let sms_before = submitted();
            let answered = Arc::new(AtomicUsize::new(0));
            let all: Vec<usize> = (0..CHANGES).collect();
            let burst = {
                let (mno, requests, answered) =
                    (mnos[0].clone(), requests.clone(), answered.clone());
                tokio::spawn(async move { send_all(&mno, &requests, &all, answered).await })
            };
            let wait_until = Instant::now() + Duration::from_secs(120);
            while submitted() - sms_before < kill_sms && answered.load(Ordering::SeqCst) < CHANGES {
                assert!(
                    Instant::now() < wait_until,
                    "round {round}: only {} of {kill_sms} MT SMS before the kill",
                    submitted() - sms_before
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            tokio::time::sleep(Duration::from_millis(kill_ms)).await;
            smsrs[victim].kill9();
            let sms_at_kill = submitted() - sms_before;
            record(&mut calls, burst.await.expect("burst"));
            eprintln!(
                "round {round} ({db:?}): SIGKILL of {} after {sms_at_kill} SMS ({:.1} s): {} accepted, {} lost with the server",
                smsrs[victim].name,
                round_started.elapsed().as_secs_f64(),
                calls.iter().filter(|c| !c.message_ids.is_empty()).count(),
                calls.iter().filter(|c| c.lost > 0).count(),
            );
            smsrs[victim].start();
            // Calls lost with SM-SR 1 are sent again under the same FunctionCallIdentifier.
            for _ in 0..5 {
                let again: Vec<usize> = (0..CHANGES)
                    .filter(|&k| calls[k].answered.is_empty() && calls[k].message_ids.is_empty())
                    .collect();
                if again.is_empty() {
                    break;
                }
                let out =
                    send_all(&mnos[0], &requests, &again, Arc::new(AtomicUsize::new(0))).await;
                record(&mut calls, out);
            }

            // Wait until every accepted call has its callback and no operation is open at either SM-SR (or
            // the deadline; then the checks below say what is missing).
            let ids = message_ids_by_fci(&mnos[0].sent());
            let deadline = Instant::now() + Duration::from_secs(VALIDITY_SECS + 90);
            loop {
                let callbacks: HashSet<String> = receiver.received()[seen_messages..]
                    .iter()
                    .filter(|r| r.element == "ES4-SMSRChangeResponse")
                    .filter_map(|r| r.relates_to.clone())
                    .collect();
                let results = (0..CHANGES).all(|k| {
                    calls[k].message_ids.is_empty()
                        || ids[&fci(round, k)].iter().any(|id| callbacks.contains(id))
                });
                let settled = stores.iter().all(|s| open_operations(s) == 0);
                // SM-SR 2 tells the MNO of each eUICC it took over.
                let taken_over = eids
                    .iter()
                    .filter(|eid| holders(stores, eid)[1].is_some())
                    .count();
                let notified: HashSet<String> = receiver.received()[seen_messages..]
                    .iter()
                    .filter_map(notified_eid)
                    .collect();
                if (results && settled && notified.len() >= taken_over) || Instant::now() > deadline
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            // Late duplicates would arrive now.
            tokio::time::sleep(Duration::from_secs(2)).await;
            let all_received = receiver.received();
            let mut first_seen = HashSet::new();
            let received: Vec<Received> = all_received[seen_messages..]
                .iter()
                .filter(|r| first_seen.insert(r.message_id.clone().expect("wsa:MessageID")))
                .cloned()
                .collect();

            let views = inspect(network, observed).await;
            let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
            let mut owners = Vec::new();
            for (k, eid) in eids.iter().enumerate() {
                let history = || observed.lock().expect("lock").history_of(eid);
                // Exactly one SM-SR holds the EIS, unlocked, with all its profiles.
                let [at1, at2] = holders(stores, eid);
                let owner = match (&at1, &at2) {
                    (Some(_), None) => 0,
                    (None, Some(_)) => 1,
                    _ => panic!(
                        "round {round} {eid}: EIS at SM-SR 1 {at1:?}, at SM-SR 2 {at2:?}; the card's events:\n{}",
                        history()
                    ),
                };
                let (lock, profiles) = [at1, at2][owner].clone().expect("held");
                assert_eq!(
                    lock,
                    EuiccLock::Free,
                    "round {round} {eid}: still locked at SM-SR {}",
                    owner + 1
                );
                let issued = issued[eid];
                assert_eq!(
                    profiles, issued,
                    "round {round} {eid}: {profiles} profiles in the EIS, {issued} issued"
                );

                // One result, SUCCESS exactly when the eUICC moved.
                let sent_ids = &ids[&fci(round, k)];
                let callbacks: Vec<&Received> = received
                    .iter()
                    .filter(|r| r.element == "ES4-SMSRChangeResponse")
                    .filter(|r| {
                        r.relates_to
                            .as_ref()
                            .is_some_and(|id| sent_ids.contains(id))
                    })
                    .collect();
                let c = &calls[k];
                let expected = if c.message_ids.is_empty() {
                    0..=1
                } else {
                    1..=1
                };
                assert!(
                    expected.contains(&callbacks.len()),
                    "round {round} {eid}: {} callbacks for one FunctionCallIdentifier, {} accepted calls, {} synchronous answers, {} lost; the card's events:\n{}",
                    callbacks.len(),
                    c.message_ids.len(),
                    c.answered.len(),
                    c.lost,
                    history()
                );
                let mut results = c.answered.clone();
                results.extend(
                    callbacks
                        .iter()
                        .map(|cb| cb.status().expect("callback status")),
                );
                let first_result = results
                    .first()
                    .unwrap_or_else(|| panic!("round {round} {eid}: no result at all: {c:?}"));
                assert!(
                    results.iter().all(|s| s.status == first_result.status),
                    "round {round} {eid}: the results disagree: {results:?}"
                );
                *by_status.entry(status_key(first_result)).or_default() += 1;
                assert_eq!(
                    first_result.status == Status::ExecutedSuccess,
                    owner == 1,
                    "round {round} {eid}: result {} but the EIS is at SM-SR {}; the card's events:\n{}",
                    status_key(first_result),
                    owner + 1,
                    history()
                );
                let notified = received
                    .iter()
                    .filter(|r| notified_eid(r).as_deref() == Some(eid.as_str()))
                    .count();
                assert_eq!(
                    notified, owner,
                    "round {round} {eid}: {notified} ES4.HandleSMSRChangeNotification"
                );
                if first_result.status != Status::ExecutedSuccess
                    && let Some(m) = first_result
                        .status_code_data
                        .as_ref()
                        .and_then(|d| d.message.as_deref())
                {
                    eprintln!("  round {round} {eid}: {} — {m}", status_key(first_result));
                }

                // The card answers to the SM-SR that holds it.
                let view = views
                    .iter()
                    .find(|v| v.eid.to_string() == *eid)
                    .expect("the card");
                assert_eq!(
                    view.smsr_address,
                    msisdns[owner],
                    "round {round} {eid}: the card's SM-SR address; the card's events:\n{}",
                    history()
                );
                owners.push((eid.clone(), owner));
            }

            // The keys of the SM-SR that holds each eUICC work: ES4.AuditEIS reaches the card and succeeds.
            let audits: Arc<Vec<es4::AuditEisRequest>> = Arc::new(
                owners
                    .iter()
                    .map(|(eid, _)| es4::AuditEisRequest {
                        base: base(&format!("{eid}-audit-{round}"), Some(120)),
                        eid: eid.parse().expect("eid"),
                        iccids: Vec::new(),
                    })
                    .collect(),
            );
            for (owner, mno) in mnos.iter().enumerate() {
                let which: Vec<usize> = (0..owners.len())
                    .filter(|&k| owners[k].1 == owner)
                    .collect();
                let mut audit_calls = vec![Call::default(); owners.len()];
                record(
                    &mut audit_calls,
                    send_all(mno, &audits, &which, Arc::new(AtomicUsize::new(0))).await,
                );
                for &k in &which {
                    let id = audit_calls[k]
                        .message_ids
                        .first()
                        .unwrap_or_else(|| {
                            panic!(
                                "round {round} {}: ES4.AuditEIS not accepted: {:?}",
                                owners[k].0, audit_calls[k]
                            )
                        })
                        .clone();
                    let cb = receiver
                        .wait_for(Duration::from_secs(120), |r| {
                            r.relates_to.as_deref() == Some(id.as_str())
                        })
                        .await
                        .unwrap_or_else(|| {
                            panic!("round {round} {}: no ES4.AuditEIS result", owners[k].0)
                        });
                    let s = cb.status().expect("status");
                    assert_eq!(
                        s.status,
                        Status::ExecutedSuccess,
                        "round {round} {}: ES4.AuditEIS at SM-SR {}: {}; the card's events:\n{}",
                        owners[k].0,
                        owner + 1,
                        status_key(&s),
                        observed.lock().expect("lock").history_of(&owners[k].0)
                    );
                }
            }
            seen_messages = receiver.received().len();

            let refused = observed.lock().expect("lock").refused.clone();
            assert!(
                refused.is_empty(),
                "round {round}: command packets refused by the cards: {refused:?}"
            );
            for (k, v) in &by_status {
                *totals.entry(k.clone()).or_default() += v;
            }
            eprintln!(
                "round {round} ({db:?}) done in {:.1} s: {} moved, results {by_status:?}, {} SMS",
                round_started.elapsed().as_secs_f64(),
                owners.iter().filter(|(_, o)| *o == 1).count(),
                submitted() - sms_before
            );
        }
        eprintln!(
            "SM-SR change crash test ({db:?}): {ROUNDS} rounds of {CHANGES} changes in {:.1} s: {totals:?}",
            started.elapsed().as_secs_f64()
        );
        h.stop().await;
    });
}

/// The key set versions of an eUICC's ISD-R in an SM-SR's store (empty when it does not hold the eUICC).
fn isd_r_kvns(store: &eis_store::Store, eid: &str) -> Vec<u8> {
    let mut c = store.conn().expect("connection");
    eis_store::eis::get_eis_without_key_values(&mut c, eid)
        .expect("EIS")
        .map(|r| r.isd_r.keysets.iter().map(|k| k.version).collect())
        .unwrap_or_default()
}

/// SM-SR 1 is killed as soon as SM-SR 2 verified the receipt (the commit point: SM-SR 1 relayed
/// CreateAdditionalKeySet) and stays down past the change's validity period. SM-SR 2 finalises and takes the eUICC
/// over; its HandoverEUICC answer waits in its outbox. SM-SR 1, restarted, expires the change (EXPIRED to the MNO)
/// and deletes its copy when the answer arrives after all (`smsr::smsr_change` late answer), or — if the answer
/// comes before its expiry round — completes the change. Either way SM-SR 2 alone holds the eUICC, its keys work,
/// and the MNO got one result.
fn smsr1_down_past_the_deadline(db: Db) {
    const VALIDITY: u64 = 30;
    let dir = tempfile::tempdir().expect("temp dir");
    let (urls, _pg) = databases(db);
    run(async move {
        let mut h = Harness::start(dir.path(), urls, 1).await;
        let eid = h.world.euiccs[0].eid.clone();
        let old_kvns = isd_r_kvns(&h.stores[0], &eid);
        let out = h.mnos[1]
            .es4(&es4::PrepareSmsrChangeRequest {
                base: base("late-prepare", Some(600)),
                eid: eid.parse().expect("eid"),
                current_smsr_id: h.sr1.parse().expect("oid"),
            })
            .await
            .expect("ES4.PrepareSMSRChange");
        assert_eq!(
            out.status().map(|s| s.status),
            Some(Status::ExecutedSuccess),
            "{}",
            out.envelope
        );
        let called = Instant::now();
        let out = h.mnos[0]
            .es4(&es4::SmsrChangeRequest {
                base: base("late-change", Some(VALIDITY)),
                eid: eid.parse().expect("eid"),
                target_smsr_id: h.sr2.parse().expect("oid"),
            })
            .await
            .expect("ES4.SMSRChange");
        assert_eq!(out.http_status, 202, "{}", out.envelope);
        let wait_until = Instant::now() + Duration::from_secs(60);
        while !isd_r_kvns(&h.stores[1], &eid)
            .iter()
            .any(|k| !old_kvns.contains(k))
        {
            assert!(
                Instant::now() < wait_until,
                "SM-SR 2 never verified the receipt"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        h.smsrs[0].kill9();
        eprintln!(
            "({db:?}) SM-SR 1 killed {:.1} s after ES4.SMSRChange, once SM-SR 2 verified the receipt",
            called.elapsed().as_secs_f64()
        );
        tokio::time::sleep(
            (called + Duration::from_secs(VALIDITY + 3)).saturating_duration_since(Instant::now()),
        )
        .await;
        h.smsrs[0].start();

        // SM-SR 2's outbox delivers the HandoverEUICC answer with its next attempt (backoff up to minutes).
        let wait_until = Instant::now() + Duration::from_secs(240);
        let (lock, profiles) = loop {
            let [at1, at2] = holders(&h.stores, &eid);
            if at1.is_none()
                && let Some(held) = at2
            {
                break held;
            }
            assert!(
                Instant::now() < wait_until,
                "SM-SR 1 {at1:?}, SM-SR 2 {at2:?}; the card's events:\n{}",
                h.observed.lock().expect("lock").history_of(&eid)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(lock, EuiccLock::Free);
        assert_eq!(profiles, h.issued[&eid]);
        let result = h
            .receiver
            .wait_for(Duration::from_secs(30), |r| {
                r.relates_to.as_deref() == Some(out.message_id.as_str())
            })
            .await
            .expect("the result of ES4.SMSRChange");
        let status = result.status().expect("status");
        assert!(
            matches!(status.status, Status::ExecutedSuccess | Status::Expired),
            "{}",
            status_key(&status)
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let results: HashSet<String> = h
            .receiver
            .received()
            .iter()
            .filter(|r| r.relates_to.as_deref() == Some(out.message_id.as_str()))
            .filter_map(|r| r.message_id.clone())
            .collect();
        assert_eq!(results.len(), 1, "one result for ES4.SMSRChange");
        eprintln!(
            "({db:?}) the change ended {} at SM-SR 1; SM-SR 2 holds the eUICC {:.1} s after the call",
            status_key(&status),
            called.elapsed().as_secs_f64()
        );

        // SM-SR 2's keys work and the card answers to it.
        let audit = h.mnos[1]
            .es4(&es4::AuditEisRequest {
                base: base("late-audit", Some(120)),
                eid: eid.parse().expect("eid"),
                iccids: Vec::new(),
            })
            .await
            .expect("ES4.AuditEIS");
        assert_eq!(audit.http_status, 202, "{}", audit.envelope);
        let cb = h
            .receiver
            .wait_for(Duration::from_secs(60), |r| {
                r.relates_to.as_deref() == Some(audit.message_id.as_str())
            })
            .await
            .expect("the result of ES4.AuditEIS");
        assert_eq!(
            cb.status().map(|s| s.status),
            Some(Status::ExecutedSuccess),
            "{}",
            cb.envelope
        );
        let views = inspect(&h.network, &h.observed).await;
        assert_eq!(views[0].smsr_address, h.msisdns[1]);
        h.stop().await;
    });
}

#[test]
fn smsr1_down_past_the_deadline_sqlite() {
    smsr1_down_past_the_deadline(Db::Sqlite);
}

#[test]
fn smsr1_down_past_the_deadline_postgres() {
    smsr1_down_past_the_deadline(Db::Postgres);
}

#[test]
fn smsr_change_crash_sqlite() {
    crash_scenario(Db::Sqlite);
}

#[test]
fn smsr_change_crash_postgres() {
    crash_scenario(Db::Postgres);
}
