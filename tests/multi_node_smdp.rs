//! Several SM-DP nodes on one PostgreSQL database (issue 14 item 2, the SM-DP part): `NODES` `rsp serve --only
//! smdp` processes share one database; a TCP balancer in front of them is the SM-DP's public address (every
//! node's `smdp.public_url`, so the `wsa:ReplyTo` of its ES3 requests, and the SM-DP's ES3 endpoint at the
//! SM-SR): it hands each connection to the next node that accepts one, so an ES3 callback reaches whichever
//! node it reaches, rarely the one that sent the request. One `rsp serve --only smsr` (its own database) reaches
//! the simulated eUICCs through the test SMSC. `DOWNLOADS` concurrent ES2.DownloadProfile calls (one per eUICC,
//! by ProfileType) are spread over the nodes, sent to each node directly; node 0 is killed with SIGKILL after a
//! random number of the downloads' SMS, at a moment it holds download step leases, and not restarted. Calls
//! lost with it are sent again to the next node with the same FunctionCallIdentifier. Then:
//! - every download finished once: one download row per eUICC, each FunctionCallIdentifier got one result
//!   (callbacks counted by `wsa:MessageID`), a success names a stock record Installed for that eUICC and the
//!   profile in the EIS, a failure left no stock held and no ISD-P in Created (card or EIS);
//! - no stock record went to two eUICCs, no ICCID of the stock is on two eUICCs and no eUICC holds two of them
//!   (EIS and cards); every record is Installed or Available again;
//! - the download steps node 0 held leased were taken over and completed by the others after their lease, and
//!   so were the outbox messages (callbacks to the MNO, ES3 requests) its dispatchers held.
//!
//! `RSP_MULTI_NODE_SMDP_DOWNLOADS` changes the number of downloads, `RSP_MULTI_NODE_SMDP_KILL_AT=<sms>,<ms>`
//! replays a kill, `RSP_MULTI_NODE_SMDP_LOG=<filter>` sets the servers' RUST_LOG (default `warn`).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::crash::SmsrProcess;
use conformance::euicc::{DriverEvent, EventKind, Fleet, SimulatorConfig};
use conformance::lab::SimulatedNetwork;
use conformance::mno::{MnoClient, MnoReceiver, Received};
use conformance::smsc::SmscConfig;
use eis_store::eis::ProfileState;
use eis_store::jobs::JobState;
use eis_store::outbox::OutboxState;
use eis_store::warehouse::StockState;
use es_interfaces::messages::es2;
use es_interfaces::status::{FunctionExecutionStatus, Status};
use rsp::config::Config;
use rsp::download_bench::{self, Outcome};

/// SM-DP processes on the one database.
const NODES: usize = 3;
/// Concurrent downloads (one per eUICC): a few minutes in a debug build on two cores.
const DOWNLOADS: usize = 150;
/// ValidityPeriod of each download: room for the whole run, the killed node's leases (2 min) included.
const VALIDITY_SECS: u64 = 900;

/// One download's calls and what they got.
#[derive(Debug, Default)]
struct Download {
    eid: String,
    message_ids: Vec<String>,
    answered: Vec<FunctionExecutionStatus>,
    lost: usize,
}

fn is_success(s: &FunctionExecutionStatus) -> bool {
    matches!(
        s.status,
        Status::ExecutedSuccess | Status::ExecutedWithWarning
    )
}

async fn send_all(
    mno: &Arc<MnoClient>,
    requests: &Arc<Vec<es2::DownloadProfileRequest>>,
    which: &[usize],
    answered: Arc<AtomicUsize>,
) -> Vec<(usize, Outcome)> {
    let mut tasks = tokio::task::JoinSet::new();
    for &i in which {
        let (mno, requests, answered) = (mno.clone(), requests.clone(), answered.clone());
        tasks.spawn(async move {
            let outcome = download_bench::send(&mno, &requests[i]).await;
            if matches!(outcome, Outcome::Answered(..)) {
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

fn record(downloads: &mut [Download], outcomes: Vec<(usize, Outcome)>) {
    for (i, o) in outcomes {
        match o {
            Outcome::Answered(s, _) => downloads[i].answered.push(s),
            Outcome::Accepted { message_id } => downloads[i].message_ids.push(message_id),
            Outcome::Lost(_) => downloads[i].lost += 1,
        }
    }
}

/// The SM-DP's public address: a TCP balancer on a free loopback port that hands each connection to the next
/// node (round robin) that accepts one, TLS passed through; counts the connections each node got.
struct Balancer {
    port: u16,
    per_node: Arc<Vec<AtomicUsize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Balancer {
    async fn start(nodes: Vec<u16>) -> Balancer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("balancer listener");
        let port = listener.local_addr().expect("balancer address").port();
        let per_node: Arc<Vec<AtomicUsize>> =
            Arc::new(nodes.iter().map(|_| AtomicUsize::new(0)).collect());
        let counts = per_node.clone();
        let task = tokio::spawn(async move {
            let mut next = 0usize;
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                let start = next;
                next = next.wrapping_add(1);
                let (nodes, counts) = (nodes.clone(), counts.clone());
                tokio::spawn(async move {
                    for k in 0..nodes.len() {
                        let i = (start + k) % nodes.len();
                        if let Ok(mut outbound) =
                            tokio::net::TcpStream::connect(("127.0.0.1", nodes[i])).await
                        {
                            counts[i].fetch_add(1, Ordering::Relaxed);
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                            return;
                        }
                    }
                });
            }
        });
        Balancer {
            port,
            per_node,
            task,
        }
    }

    fn connections(&self) -> Vec<usize> {
        self.per_node
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

fn kill_point(n: usize) -> (u64, u64) {
    match std::env::var("RSP_MULTI_NODE_SMDP_KILL_AT") {
        Ok(v) => {
            let (a, b) = v.split_once(',').expect("<sms>,<ms>");
            (
                a.trim().parse().expect("sms"),
                b.trim().parse().expect("ms"),
            )
        }
        // Some 15 MT SMS a download (CreateISDP, key establishment, SCP03t, ProfileDownloadCompleted has none):
        // the kill within the first half of them.
        Err(_) => (
            rand::random::<u64>() % (n as u64 * 15 / 2).max(1),
            rand::random::<u64>() % 100,
        ),
    }
}

/// The ISD-Ps created on the cards during the test, by (EID, AID): whether each is still in Created.
type Isdps = BTreeMap<(String, String), bool>;

/// Records each card's ISD-Ps (created, state changes, deleted) from the simulator's events.
fn track_isdps(
    mut events: tokio::sync::mpsc::UnboundedReceiver<DriverEvent>,
    isdps: Arc<Mutex<Isdps>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            let DriverEvent::Euicc(e) = event else {
                continue;
            };
            let key = |aid: &conformance::euicc::Aid| {
                (e.eid.to_string(), hex::encode_upper(aid.as_bytes()))
            };
            let mut map = isdps.lock().expect("lock");
            match &e.kind {
                EventKind::ProfileCreated { aid } => {
                    map.insert(key(aid), true);
                }
                EventKind::ProfileStateChanged { aid, .. } => {
                    if let Some(created) = map.get_mut(&key(aid)) {
                        *created = false;
                    }
                }
                EventKind::ProfileDeleted { aid, .. } => {
                    map.remove(&key(aid));
                }
                _ => {}
            }
        }
    })
}

#[test]
fn three_smdp_nodes_share_one_postgres_database_and_survive_a_kill() {
    let n: usize = std::env::var("RSP_MULTI_NODE_SMDP_DOWNLOADS")
        .ok()
        .map(|v| v.parse().expect("RSP_MULTI_NODE_SMDP_DOWNLOADS"))
        .unwrap_or(DOWNLOADS);
    let smdp_db = testkit::PgTestDb::new();
    let smsr_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    actix_web::rt::System::with_tokio_rt(move || rt).block_on(async move {
        let started = Instant::now();
        let pki = dir.path().join("pki");
        let world = rsp::setup::init_world(&pki, n, Some(7)).expect("the test world");
        let fleet = Fleet::from_world(
            &world,
            SimulatorConfig {
                attach_delay_ms: 200,
                notification_retry_interval_ms: 5_000,
                ..SimulatorConfig::default()
            },
        )
        .expect("fleet");
        let base_config = Config::default();
        let smsc = SmscConfig::loopback(
            &base_config.es5.smpp.system_id,
            &base_config.es5.smpp.password,
        );
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let network = SimulatedNetwork::start(fleet, smsc, Some(events_tx))
            .await
            .expect("network");
        let isdps: Arc<Mutex<Isdps>> = Arc::default();
        let tracker = track_isdps(events_rx, isdps.clone());
        let receiver = MnoReceiver::start(&world, "127.0.0.1:0", true).expect("receiver");
        let receiver_port = receiver.port();
        let log = "RSP_MULTI_NODE_SMDP_LOG";

        // The SM-DP nodes' listeners, the balancer in front of them, the SM-SR.
        let node_ports: Vec<u16> = (0..NODES)
            .map(|_| rsp::lab::free_port().expect("a free port"))
            .collect();
        let balancer = Balancer::start(node_ports.clone()).await;
        let public_url = format!("https://localhost:{}", balancer.port);
        let smsr_port = rsp::lab::free_port().expect("a free port");
        let smsr_url = format!("https://localhost:{smsr_port}");
        let config = |var: &str| {
            let mut c = Config {
                var_dir: dir.path().join(var),
                pki_dir: pki.clone(),
                ..Config::default()
            };
            c.smsr.public_url = smsr_url.clone();
            c.smdp.public_url = public_url.clone();
            c.mno.first_port = receiver_port;
            c.esm2m.enabled = false;
            c
        };
        let write = |name: &str, c: &Config| {
            let path = dir.path().join(format!("{name}.yaml"));
            std::fs::write(&path, serde_norway::to_string(c).expect("YAML"))
                .expect("write a configuration");
            path
        };
        let mut smsr_config = config("smsr");
        smsr_config.smsr.listen = format!("127.0.0.1:{smsr_port}");
        smsr_config.smsr.database_url = smsr_db.url().to_string();
        smsr_config.smsr.metrics_listen = Some("127.0.0.1:0".into());
        smsr_config.es5.smpp.enabled = true;
        smsr_config.es5.smpp.host = "127.0.0.1".into();
        smsr_config.es5.smpp.port = network.smsc().local_addr().port();
        smsr_config.es5.smpp.binds = 2;
        smsr_config.es5.por_timeout_secs = 5;
        smsr_config.es5.max_retry_interval_secs = 10;
        let mut smsr = SmsrProcess::new("smsr", write("smsr", &smsr_config), log);
        smsr.start();
        // Every node: the same public URL and database, its own listener, metrics listener and var dir.
        let mut nodes: Vec<SmsrProcess> = (0..NODES)
            .map(|i| {
                let mut c = config(&format!("node{i}"));
                c.smdp.listen = format!("127.0.0.1:{}", node_ports[i]);
                c.smdp.database_url = smdp_db.url().to_string();
                c.smdp.metrics_listen = Some("127.0.0.1:0".into());
                SmsrProcess::new("smdp node", write(&format!("node{i}"), &c), log).only("smdp")
            })
            .collect();
        for node in &mut nodes {
            node.start();
        }

        // The eUICCs at the SM-SR, the stock at the SM-DP, the MNO's callback endpoint.
        rsp::lab::register_world_eis(&world, &smsr_url, &[], 0.0, false)
            .await
            .expect("ES1 registration");
        let mno_oid = world.manifest.mnos[0].entity.oid.clone();
        let smdp_store = eis_store::Store::open(smdp_db.url(), 4).expect("the SM-DP database");
        let smsr_store = eis_store::Store::open(smsr_db.url(), 4).expect("the SM-SR database");
        let reply_to = smsr_config.mno.endpoint(0, "ES2");
        rsp::lab::set_endpoint(&smdp_store, &mno_oid, "ES2", &reply_to).expect("MNO endpoint");
        let keyring = rsp::setup::master_keyring(&world).expect("master key");
        let subscribers =
            download_bench::stock(&smdp_store, &keyring, &mno_oid, n).expect("stock");
        download_bench::provision_subscribers(&network, &subscribers)
            .await
            .expect("subscribers");
        let iccids: Vec<String> = (0..n as u64)
            .map(|i| download_bench::order_row(i).iccid)
            .collect();
        let mnos: Vec<Arc<MnoClient>> = node_ports
            .iter()
            .map(|p| {
                Arc::new(
                    MnoClient::new(&world, 0, &smsr_url, &format!("https://localhost:{p}"))
                        .expect("MNO client")
                        .with_reply_to(reply_to.clone()),
                )
            })
            .collect();
        let smsr_oid = world.manifest.sm_sr.oid.clone();
        let fci = |i: usize| format!("multi-node-smdp-{i}");
        let requests: Arc<Vec<es2::DownloadProfileRequest>> = Arc::new(
            world
                .euiccs
                .iter()
                .enumerate()
                .map(|(i, e)| es2::DownloadProfileRequest {
                    enable_profile: false,
                    ..download_bench::download_request(&fci(i), &e.eid, &smsr_oid, VALIDITY_SECS)
                        .expect("request")
                })
                .collect(),
        );
        let mut downloads: Vec<Download> = world
            .euiccs
            .iter()
            .map(|e| Download {
                eid: e.eid.clone(),
                ..Download::default()
            })
            .collect();
        eprintln!(
            "multi-node SM-DP test: {n} eUICCs, {NODES} SM-DP nodes behind {public_url}, one SM-SR, up in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let (kill_sms, kill_ms) = kill_point(n);
        eprintln!("multi-node SM-DP test: RSP_MULTI_NODE_SMDP_KILL_AT={kill_sms},{kill_ms} replays the kill");

        // Every download, spread over the nodes.
        let sending = Instant::now();
        let answered = Arc::new(AtomicUsize::new(0));
        let bursts: Vec<_> = (0..NODES)
            .map(|node| {
                let which: Vec<usize> = (0..n).filter(|i| i % NODES == node).collect();
                let (mno, requests, answered) =
                    (mnos[node].clone(), requests.clone(), answered.clone());
                tokio::spawn(async move { send_all(&mno, &requests, &which, answered).await })
            })
            .collect();
        // The kill: after `kill_sms` SMS and `kill_ms`, once node 0 holds a download step's lease.
        let submitted = || network.smsc().counters().submitted;
        let pid0 = nodes[0].pid().expect("node 0 runs");
        let step_prefix = smdp::download::driver::worker_prefix(pid0);
        let outbox_prefix = es_runtime::outbox::worker_prefix(pid0);
        let holds_steps = || {
            let mut c = smdp_store.conn().expect("connection");
            !eis_store::jobs::held_by(&mut c, &step_prefix)
                .expect("held jobs")
                .is_empty()
        };
        let wait_until = Instant::now() + Duration::from_secs(600);
        while submitted() < kill_sms && answered.load(Ordering::SeqCst) < n {
            assert!(Instant::now() < wait_until, "the downloads made no progress over SMS");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(kill_ms)).await;
        while !holds_steps() {
            assert!(Instant::now() < wait_until, "node 0 never held a download step");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        nodes[0].kill9();
        let sms_at_kill = submitted();
        let at_kill = started.elapsed();
        // What the dead node held: nobody else may take it before its lease ends.
        let (held_jobs, held_messages) = {
            let mut c = smdp_store.conn().expect("connection");
            (
                eis_store::jobs::held_by(&mut c, &step_prefix).expect("held jobs"),
                eis_store::outbox::held_by(&mut c, &outbox_prefix).expect("held messages"),
            )
        };
        let open_at_kill = {
            let mut c = smdp_store.conn().expect("connection");
            eis_store::downloads::count_open_by_phase(&mut c)
                .expect("open downloads")
                .iter()
                .map(|(_, k)| k)
                .sum::<i64>()
        };
        for b in bursts {
            record(&mut downloads, b.await.expect("burst"));
        }
        eprintln!(
            "multi-node SM-DP test: node 0 killed after {sms_at_kill} SMS ({:.1} s) holding {} download steps and {} outbox messages; {open_at_kill} downloads open, {} calls lost with it",
            at_kill.as_secs_f64(),
            held_jobs.len(),
            held_messages.len(),
            downloads.iter().filter(|d| d.lost > 0).count()
        );
        for _ in 0..5 {
            let again: Vec<usize> = (0..n)
                .filter(|&i| downloads[i].answered.is_empty() && downloads[i].message_ids.is_empty())
                .collect();
            if again.is_empty() {
                break;
            }
            let out = send_all(&mnos[1], &requests, &again, Arc::new(AtomicUsize::new(0))).await;
            record(&mut downloads, out);
        }

        // Wait until every accepted download has its result and the SM-DP's outbox is empty.
        let sent: Vec<String> = mnos.iter().flat_map(|m| m.sent()).collect();
        let ids = common::crash::message_ids_by_fci(&sent);
        let distinct = |all: &[Received]| -> Vec<Received> {
            let mut seen = HashSet::new();
            all.iter()
                .filter(|r| seen.insert(r.message_id.clone().expect("wsa:MessageID")))
                .cloned()
                .collect()
        };
        let results_of = |i: usize, received: &[Received]| -> Vec<Received> {
            let sent_ids = &ids[&fci(i)];
            received
                .iter()
                .filter(|r| r.element == "ES2-DownloadProfileResponse")
                .filter(|r| r.relates_to.as_ref().is_some_and(|id| sent_ids.contains(id)))
                .cloned()
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(VALIDITY_SECS + 120);
        loop {
            let received = distinct(&receiver.received());
            let waiting = (0..n)
                .filter(|&i| !downloads[i].message_ids.is_empty() && results_of(i, &received).is_empty())
                .count();
            let backlog = {
                let mut c = smdp_store.conn().expect("connection");
                eis_store::outbox::backlog(&mut c).expect("backlog")
            };
            if waiting == 0 && backlog.pending + backlog.in_flight == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{waiting} accepted downloads got no result, {backlog:?} left in the SM-DP's outbox"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let finished = sending.elapsed();
        // Late duplicates would arrive now.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let received = distinct(&receiver.received());

        // One download row per eUICC, each finished.
        let mut smdp_conn = smdp_store.conn().expect("SM-DP connection");
        let mut rows = eis_store::downloads::list(&mut smdp_conn, Some(eis_store::downloads::DONE), i64::MAX)
            .expect("done downloads");
        rows.extend(eis_store::downloads::list(&mut smdp_conn, None, i64::MAX).expect("other downloads"));
        let mut rows_per_eid: HashMap<&str, usize> = HashMap::new();
        for r in &rows {
            *rows_per_eid.entry(r.eid.as_str()).or_default() += 1;
        }
        let twice: Vec<_> = rows_per_eid.iter().filter(|(_, k)| **k > 1).collect();
        assert!(twice.is_empty(), "eUICCs with more than one download: {twice:?}");
        let open: Vec<_> = rows
            .iter()
            .filter(|r| r.phase != eis_store::downloads::DONE)
            .map(|r| (&r.eid, &r.phase))
            .collect();
        assert!(open.is_empty(), "downloads not finished: {open:?}");

        // Each download: told once, then installed or failed everywhere.
        let stock: HashMap<String, eis_store::warehouse::StockRecord> = iccids
            .iter()
            .map(|i| {
                let r = eis_store::warehouse::get_stock(&mut smdp_conn, i)
                    .expect("stock")
                    .expect("stock record");
                (i.clone(), r)
            })
            .collect();
        let mut smsr_conn = smsr_store.conn().expect("SM-SR connection");
        let isdps = isdps.lock().expect("lock").clone();
        let stock_iccids: HashSet<&str> = iccids.iter().map(String::as_str).collect();
        let (mut installed, mut failed) = (0, 0);
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut holders: HashMap<String, Vec<String>> = HashMap::new();
        for (i, d) in downloads.iter().enumerate() {
            let results = results_of(i, &received);
            // A call lost with node 0 may have been recorded there: its callback then relates to that call's
            // MessageID, and the repeat was answered from the record (synchronously once the download ended).
            let expected = if d.message_ids.is_empty() { 0..=1 } else { 1..=1 };
            assert!(
                expected.contains(&results.len()),
                "{}: the MNO was told {} times ({d:?}): {results:?}",
                d.eid,
                results.len()
            );
            let mut statuses = d.answered.clone();
            statuses.extend(
                results
                    .iter()
                    .map(|r| r.status().unwrap_or_else(|| panic!("{}: result without status", d.eid))),
            );
            let status = statuses
                .first()
                .unwrap_or_else(|| panic!("{}: no answer at all: {d:?}", d.eid))
                .clone();
            assert!(
                statuses.iter().all(|s| s.status == status.status),
                "{}: the results disagree: {statuses:?}",
                d.eid
            );
            *reasons.entry(download_bench::status_key(&status)).or_default() += 1;
            let profiles = eis_store::eis::profiles_of(&mut smsr_conn, &d.eid).expect("EIS profiles");
            let ours: Vec<&eis_store::eis::ProfileRecord> = profiles
                .iter()
                .filter(|p| stock_iccids.contains(p.info.iccid.trim_end_matches('F')))
                .collect();
            assert!(ours.len() <= 1, "{}: {} profiles of the stock in the EIS", d.eid, ours.len());
            for p in &ours {
                holders
                    .entry(p.info.iccid.trim_end_matches('F').to_string())
                    .or_default()
                    .push(d.eid.clone());
            }
            let on_card: Vec<bool> = isdps
                .iter()
                .filter(|((eid, _), _)| *eid == d.eid)
                .map(|(_, created)| *created)
                .collect();
            assert!(on_card.len() <= 1, "{}: {} ISD-Ps created on the card: {on_card:?}", d.eid, on_card.len());
            if is_success(&status) {
                installed += 1;
                let mine: Vec<&eis_store::warehouse::StockRecord> = stock
                    .values()
                    .filter(|r| r.eid.as_deref() == Some(d.eid.as_str()) && r.state == StockState::Installed)
                    .collect();
                assert_eq!(mine.len(), 1, "{}: stock records installed for it", d.eid);
                let record = mine[0];
                let iccid = &record.iccid;
                if let Some(named) = results.first() {
                    let named = named
                        .field("Iccid")
                        .unwrap_or_else(|| panic!("{}: success without an ICCID", d.eid));
                    assert_eq!(named.trim_end_matches('F'), iccid, "{}: the ICCID the MNO was told", d.eid);
                }
                let p = ours
                    .iter()
                    .find(|p| p.info.iccid.trim_end_matches('F') == record.iccid)
                    .unwrap_or_else(|| panic!("{}: {iccid} is not in the EIS", d.eid));
                assert_eq!(p.info.state, ProfileState::Disabled, "{}: {iccid} in the EIS", d.eid);
            } else {
                failed += 1;
                let held: Vec<_> = stock
                    .values()
                    .filter(|r| r.eid.as_deref() == Some(d.eid.as_str()) && r.state != StockState::Available)
                    .map(|r| (&r.iccid, r.state))
                    .collect();
                assert!(held.is_empty(), "{}: failed download still holds stock: {held:?}", d.eid);
                assert!(!on_card.contains(&true), "{}: ISD-P left in Created on the eUICC", d.eid);
                assert!(
                    ours.iter().all(|p| p.info.state != ProfileState::Created),
                    "{}: profile left in Created in the EIS",
                    d.eid
                );
            }
        }
        let shared: Vec<_> = holders.iter().filter(|(_, e)| e.len() > 1).collect();
        assert!(shared.is_empty(), "ICCIDs on two eUICCs: {shared:?}");
        let installed_records = stock.values().filter(|r| r.state == StockState::Installed).count();
        assert_eq!(installed_records, installed, "installed stock records vs successful downloads");
        let stuck: Vec<_> = stock
            .values()
            .filter(|r| !matches!(r.state, StockState::Installed | StockState::Available))
            .map(|r| (&r.iccid, r.state))
            .collect();
        assert!(stuck.is_empty(), "stock left reserved or downloading: {stuck:?}");
        assert!(installed > 0, "no download succeeded: {reasons:?}");

        // The dead node's leases were taken over: each step it held was run again and completed by another
        // node, each message it held delivered by another dispatcher. A step whose ES3 request node 0 had sent
        // before it died was answered to another node, so its download may have ended first: its job is taken
        // when its lease (2 min) ends.
        let lease_end = Instant::now() + Duration::from_secs(150);
        for held in &held_jobs {
            let mut now = eis_store::jobs::get_job(&mut smdp_conn, held.id).expect("job").expect("the job");
            while now.state != JobState::Done && Instant::now() < lease_end {
                tokio::time::sleep(Duration::from_millis(500)).await;
                now = eis_store::jobs::get_job(&mut smdp_conn, held.id).expect("job").expect("the job");
            }
            assert!(
                now.state == JobState::Done && now.attempts > held.attempts,
                "a download step node 0 held was not taken over: {now:?}"
            );
        }
        for held in &held_messages {
            let now = eis_store::outbox::get_message(&mut smdp_conn, held.id).expect("message").expect("the message");
            assert!(
                now.state == OutboxState::Delivered && now.attempts > held.attempts,
                "an outbox message node 0 held was not delivered by another node: {:?} after {} attempts",
                now.state,
                now.attempts
            );
        }
        assert!(!held_jobs.is_empty(), "node 0 held no download step when killed");
        eprintln!(
            "multi-node SM-DP test: {n} downloads on {NODES} SM-DP nodes (one killed) finished in {:.1} s: {installed} installed, {failed} failed: {reasons:?}; the others took over {} download steps and {} outbox messages of the killed node; connections through the balancer per node: {:?}; {} SMS",
            finished.as_secs_f64(),
            held_jobs.len(),
            held_messages.len(),
            balancer.connections(),
            submitted()
        );

        drop(nodes);
        drop(smsr);
        balancer.task.abort();
        tracker.abort();
        receiver.stop().await;
        network.stop().await;
    });
}
