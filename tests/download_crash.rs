//! Crash safety of profile download (issue 9 item 5; SGP.02 §3.1): SIGKILL of `rsp serve` at a random moment
//! during 50 concurrent ES2.DownloadProfile (ProfileType, EnableProfile true), restart, and every download ends
//! either installed (stock record Installed, the profile Disabled or Enabled in the EIS, the MNO told once) or
//! failed (stock record released, no ISD-P left in Created on the simulated eUICC nor in the EIS, the MNO told
//! once), on SQLite and on PostgreSQL.
//!
//! The simulated eUICCs, the test SMSC and the MNO's callback receiver run in this test process, so they live
//! through the kill; `rsp serve` is a child process whose ES5 goes to that SMSC (`es5.smpp.*`). A call whose
//! connection died with the server is sent again after the restart with the same FunctionCallIdentifier, as an
//! MNO would (SGP.02 §2.3.3: the SM-DP answers a repeated call from its record). "Told once": each download gets
//! exactly one result callback (RelatesTo any of the MessageIDs it was sent with) if a call of it was accepted,
//! and none otherwise (then its synchronous answers are its result, and they agree).
//! The kill moment is drawn in units of progress, so that it falls anywhere in the procedure whatever the
//! machine's speed: after a random number of the SMS the downloads need (CreateISDP, key establishment, SCP03t,
//! enable, confirmation) went through the SMSC, plus a random delay; `RSP_CRASH_KILL_AT=<sms>,<ms>` replays one.
//! `RSP_CRASH_LOG=<filter>` sets the servers' RUST_LOG (default `warn`).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Db, Lab};
use conformance::euicc::{DriverEvent, EventKind, Fleet, SimulatorConfig};
use conformance::lab::SimulatedNetwork;
use conformance::mno::{MnoClient, MnoReceiver};
use conformance::smsc::SmscConfig;
use eis_store::warehouse::StockState;
use es_interfaces::status::{FunctionExecutionStatus, Status};
use rsp::download_bench::{self, Outcome};

/// Concurrent downloads (one per eUICC of the world).
const DOWNLOADS: usize = 50;
/// ValidityPeriod of each download: long enough for 50 downloads over SMS, short enough that an operation
/// stuck by the crash ends (EXPIRED) within the test.
const VALIDITY_SECS: u64 = 180;

/// The simulator's last known state of an ISD-P it created during the test.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tracked {
    Created,
    State(String),
}

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
    requests: &[es_interfaces::messages::es2::DownloadProfileRequest],
    which: &[usize],
    answered: Arc<AtomicUsize>,
) -> Vec<(usize, Outcome)> {
    let mut tasks = tokio::task::JoinSet::new();
    for &i in which {
        let (mno, req, answered) = (mno.clone(), requests[i].clone(), answered.clone());
        tasks.spawn(async move {
            let outcome = download_bench::send(&mno, &req).await;
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

fn crash_scenario(db: Db) {
    let mut lab = Lab::new(DOWNLOADS, db);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let system = actix_web::rt::System::with_tokio_rt(move || rt);
    system.block_on(async move {
        // The network and the MNO, in this process.
        let fleet = Fleet::from_world(
            &lab.world,
            SimulatorConfig {
                attach_delay_ms: 200,
                notification_retry_interval_ms: 5_000,
                ..SimulatorConfig::default()
            },
        )
        .expect("fleet");
        let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
        let network = SimulatedNetwork::start(fleet, SmscConfig::loopback("smsr", "smsr"), Some(events_tx))
            .await
            .expect("network");
        let isdps: Arc<Mutex<BTreeMap<(String, String), Tracked>>> = Arc::default();
        let tracker = {
            let isdps = isdps.clone();
            tokio::spawn(async move {
                while let Some(event) = events_rx.recv().await {
                    let DriverEvent::Euicc(e) = event else { continue };
                    let key = |aid: &conformance::euicc::Aid| (e.eid.to_string(), hex::encode_upper(aid.as_bytes()));
                    let mut map = isdps.lock().expect("lock");
                    match &e.kind {
                        EventKind::ProfileCreated { aid } => {
                            map.insert(key(aid), Tracked::Created);
                        }
                        EventKind::ProfileStateChanged { aid, state } => {
                            if let Some(t) = map.get_mut(&key(aid)) {
                                *t = Tracked::State(format!("{state:?}"));
                            }
                        }
                        EventKind::ProfileDeleted { aid, .. } => {
                            map.remove(&key(aid));
                        }
                        _ => {}
                    }
                }
            })
        };
        let receiver = MnoReceiver::start(&lab.world, "127.0.0.1:0", true).expect("receiver");
        let smsc_port = network.smsc().local_addr().port();
        lab.extra_env = vec![
            ("RSP_ES5__SMPP__ENABLED".into(), "true".into()),
            ("RSP_ES5__SMPP__HOST".into(), "127.0.0.1".into()),
            ("RSP_ES5__SMPP__PORT".into(), smsc_port.to_string()),
            ("RSP_ES5__SMPP__BINDS".into(), "2".into()),
            ("RSP_ES5__POR_TIMEOUT_SECS".into(), "3".into()),
            ("RSP_ES5__MAX_RETRY_INTERVAL_SECS".into(), "6".into()),
        ];
        if let Ok(filter) = std::env::var("RSP_CRASH_LOG") {
            lab.extra_env.push(("RUST_LOG".into(), filter));
        }
        lab.start();
        rsp::lab::register_world_eis(&lab.world, &lab.smsr_url, &[], 0.0, false)
            .await
            .expect("ES1 registration");
        let mno_oid = lab.world.manifest.mnos[0].entity.oid.clone();
        let smdp_store = lab.smdp_store();
        let smsr_store = lab.smsr_store();
        rsp::lab::set_endpoint(&smdp_store, &mno_oid, "ES2", &format!("{}/es2", receiver.url()))
            .expect("MNO endpoint");
        let keyring = rsp::setup::master_keyring(&lab.world).expect("master key");
        let subscribers = download_bench::stock(&smdp_store, &keyring, &mno_oid, DOWNLOADS).expect("stock");
        download_bench::provision_subscribers(&network, &subscribers).await.expect("subscribers");
        let iccids: Vec<String> = (0..DOWNLOADS as u64).map(|i| download_bench::order_row(i).iccid).collect();

        let mno = Arc::new(
            MnoClient::new(&lab.world, 0, &lab.smsr_url, &lab.smdp_url)
                .expect("MNO client")
                .with_reply_to(format!("{}/es2", receiver.url())),
        );
        let smsr_oid = lab.world.manifest.sm_sr.oid.clone();
        let requests: Vec<_> = lab
            .world
            .euiccs
            .iter()
            .enumerate()
            .map(|(i, e)| {
                download_bench::download_request(&format!("crash-download-{i}"), &e.eid, &smsr_oid, VALIDITY_SECS)
                    .expect("request")
            })
            .collect();
        let mut downloads: Vec<Download> = lab
            .world
            .euiccs
            .iter()
            .map(|e| Download {
                eid: e.eid.clone(),
                ..Download::default()
            })
            .collect();

        // 50 concurrent downloads; SIGKILL after a random share of their SMS, plus a random delay. A download
        // needs some 17 MT SMS (wire-profile §2, §5, §7 with the default script budget): the draw covers the
        // first 80 % of them.
        let (kill_sms, kill_ms): (u64, u64) = std::env::var("RSP_CRASH_KILL_AT")
            .ok()
            .and_then(|v| {
                let (a, b) = v.split_once(',')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .unwrap_or_else(|| {
                (
                    rand::random::<u64>() % (DOWNLOADS as u64 * 17 * 4 / 5),
                    rand::random::<u64>() % 100,
                )
            });
        eprintln!(
            "download crash test ({db:?}): SIGKILL after {kill_sms} SMS + {kill_ms} ms (RSP_CRASH_KILL_AT={kill_sms},{kill_ms} replays it)"
        );
        let submitted = || network.smsc().counters().submitted;
        let sms_before = submitted();
        let answered = Arc::new(AtomicUsize::new(0));
        let all: Vec<usize> = (0..DOWNLOADS).collect();
        let first = {
            let (mno, requests, all, answered) = (mno.clone(), requests.clone(), all.clone(), answered.clone());
            tokio::spawn(async move { send_all(&mno, &requests, &all, answered).await })
        };
        let wait_until = Instant::now() + Duration::from_secs(120);
        // Without download support every call is answered at once and no SMS flows: kill then.
        while submitted() - sms_before < kill_sms && answered.load(Ordering::SeqCst) < DOWNLOADS {
            assert!(Instant::now() < wait_until, "the downloads made no progress over SMS");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(kill_ms)).await;
        let done_before_kill: Vec<String> = receiver
            .received()
            .into_iter()
            .filter(|r| r.element == "ES2-DownloadProfileResponse")
            .filter_map(|r| r.relates_to)
            .collect();
        lab.kill9();
        let sms_at_kill = submitted() - sms_before;
        record(&mut downloads, first.await.expect("burst"));
        let open_at_kill = downloads
            .iter()
            .filter(|d| {
                d.lost > 0
                    || (!d.message_ids.is_empty()
                        && !d.message_ids.iter().any(|id| done_before_kill.contains(id)))
            })
            .count();
        let accepted = downloads.iter().filter(|d| !d.message_ids.is_empty()).count();
        eprintln!(
            "at the kill ({sms_at_kill} SMS): {} answered synchronously, {accepted} accepted, {} calls lost with the server, {} results delivered; {open_at_kill} downloads still open",
            downloads.iter().filter(|d| !d.answered.is_empty()).count(),
            downloads.iter().map(|d| d.lost).sum::<usize>(),
            done_before_kill.len(),
        );
        // Once the SM-DP downloads (202 and a result later), the kill must have cut some of them.
        if accepted > 0 || downloads.iter().any(|d| d.lost > 0) {
            assert!(
                open_at_kill > 0,
                "every download had ended before the kill; the test proves nothing"
            );
        }

        // Restart; the calls lost with the server are sent again with the same FunctionCallIdentifier.
        lab.start();
        for _ in 0..5 {
            let again: Vec<usize> = (0..DOWNLOADS)
                .filter(|&i| downloads[i].answered.is_empty() && downloads[i].message_ids.is_empty())
                .collect();
            if again.is_empty() {
                break;
            }
            let out = send_all(&mno, &requests, &again, Arc::new(AtomicUsize::new(0))).await;
            record(&mut downloads, out);
        }

        // Every accepted download gets its result.
        let result_of = |d: &Download, received: &[conformance::mno::Received]| -> Vec<conformance::mno::Received> {
            received
                .iter()
                .filter(|r| r.element == "ES2-DownloadProfileResponse")
                .filter(|r| r.relates_to.as_ref().is_some_and(|id| d.message_ids.contains(id)))
                .cloned()
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(VALIDITY_SECS + 120);
        loop {
            let received = receiver.received();
            let waiting = downloads
                .iter()
                .filter(|d| !d.message_ids.is_empty() && result_of(d, &received).is_empty())
                .count();
            if waiting == 0 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{waiting} accepted downloads got no result within the validity period after the restart"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        // Late duplicates would arrive now.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let received = receiver.received();

        // Each download: told once, then installed or failed everywhere.
        let mut stock_conn = smdp_store.conn().expect("SM-DP connection");
        let mut eis_conn = smsr_store.conn().expect("SM-SR connection");
        let stock: HashMap<String, eis_store::warehouse::StockRecord> = iccids
            .iter()
            .map(|i| {
                let r = eis_store::warehouse::get_stock(&mut stock_conn, i)
                    .expect("stock")
                    .expect("stock record");
                (i.clone(), r)
            })
            .collect();
        let isdps = isdps.lock().expect("lock").clone();
        let (mut installed, mut failed) = (0, 0);
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for d in &downloads {
            let results = result_of(d, &received);
            let status = if d.message_ids.is_empty() {
                assert!(results.is_empty(), "{}: a result callback for a call never accepted", d.eid);
                let first = d.answered.first().unwrap_or_else(|| panic!("{}: no answer at all", d.eid)).clone();
                assert!(
                    d.answered.iter().all(|s| s.status == first.status),
                    "{}: the synchronous answers disagree: {:?}",
                    d.eid,
                    d.answered
                );
                first
            } else {
                assert_eq!(results.len(), 1, "{}: the MNO was told {} times: {results:?}", d.eid, results.len());
                results[0].status().unwrap_or_else(|| panic!("{}: result without status", d.eid))
            };
            *reasons.entry(download_bench::status_key(&status)).or_default() += 1;
            if let Some(m) = status.status_code_data.as_ref().and_then(|d| d.message.as_deref()) {
                eprintln!("  {}: {} — {m}", d.eid, download_bench::status_key(&status));
            }
            let held: Vec<&eis_store::warehouse::StockRecord> =
                stock.values().filter(|r| r.eid.as_deref() == Some(d.eid.as_str())).collect();
            let profiles = eis_store::eis::profiles_of(&mut eis_conn, &d.eid).expect("EIS profiles");
            if is_success(&status) {
                installed += 1;
                let iccid = results
                    .first()
                    .and_then(|r| r.field("Iccid"))
                    .unwrap_or_else(|| panic!("{}: success without an ICCID", d.eid));
                let record = stock.get(iccid.trim_end_matches('F')).unwrap_or_else(|| panic!("{iccid} is not stock"));
                assert_eq!(record.state, StockState::Installed, "{}: stock record of {iccid}", d.eid);
                assert_eq!(record.eid.as_deref(), Some(d.eid.as_str()));
                let p = profiles
                    .iter()
                    .find(|p| p.info.iccid.trim_end_matches('F') == record.iccid)
                    .unwrap_or_else(|| panic!("{}: {iccid} is not in the EIS", d.eid));
                assert!(
                    matches!(p.info.state, eis_store::eis::ProfileState::Disabled | eis_store::eis::ProfileState::Enabled),
                    "{}: {iccid} is {:?} in the EIS",
                    d.eid,
                    p.info.state
                );
            } else {
                failed += 1;
                assert!(
                    held.iter().all(|r| r.state == StockState::Available),
                    "{}: failed download still holds stock: {:?}",
                    d.eid,
                    held.iter().map(|r| (&r.iccid, r.state)).collect::<Vec<_>>()
                );
                let left: Vec<_> = isdps
                    .iter()
                    .filter(|((eid, _), t)| *eid == d.eid && **t == Tracked::Created)
                    .collect();
                assert!(left.is_empty(), "{}: ISD-P left in Created on the eUICC: {left:?}", d.eid);
                let created: Vec<_> = profiles
                    .iter()
                    .filter(|p| p.info.state == eis_store::eis::ProfileState::Created)
                    .map(|p| &p.info.iccid)
                    .collect();
                assert!(created.is_empty(), "{}: profile left in Created in the EIS: {created:?}", d.eid);
            }
        }
        // The stock as a whole: every record installed by a success or available again.
        let installed_records = stock.values().filter(|r| r.state == StockState::Installed).count();
        assert_eq!(installed_records, installed, "installed stock records vs successful downloads");
        assert!(
            stock
                .values()
                .all(|r| matches!(r.state, StockState::Installed | StockState::Available)),
            "stock left reserved or downloading: {:?}",
            stock
                .values()
                .filter(|r| !matches!(r.state, StockState::Installed | StockState::Available))
                .map(|r| (&r.iccid, r.state))
                .collect::<Vec<_>>()
        );
        let sms = network.smsc().counters();
        eprintln!(
            "download crash test ({db:?}): {installed} installed, {failed} failed: {reasons:?}; MO SMS: {} delivered, {} deliveries tried again (stored while the SM-SR was down), {} given up",
            sms.mo_sent, sms.mo_retries, sms.mo_expired
        );

        lab.kill9();
        tracker.abort();
        receiver.stop().await;
        network.stop().await;
    });
}

#[test]
fn sigkill_during_downloads_sqlite() {
    crash_scenario(Db::Sqlite);
}

#[test]
fn sigkill_during_downloads_postgres() {
    crash_scenario(Db::Postgres);
}
