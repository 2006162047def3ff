//! Crash safety of ES4 profile switches (issue 10 item 12; SGP.02 §3.2, §5.5.5): SIGKILL of `rsp serve` at a
//! random moment during `SWITCHES` concurrent ES4.EnableProfile calls, restart, three rounds (enable the
//! disabled profile P2, switch back to P1, P2 again), on SQLite and on PostgreSQL. At the end of each round:
//! - every FunctionCallIdentifier got exactly one result: its synchronous answers agree, and a call accepted
//!   (202) got one callback (callbacks are counted by `wsa:MessageID`: the outbox delivers at least once and the
//!   receiver deduplicates, es_runtime::outbox), never one for a call not accepted; the result is SUCCESS only
//!   when the card's enabled profile moved to the target and FAILED only when it did not (EXPIRED claims neither:
//!   the notifications and the EIS below tell);
//! - the MNO got one HandleProfileEnabledNotification for the profile the card enabled and one
//!   HandleProfileDisabledNotification for the one it disabled when the round changed the card, none otherwise
//!   (deduplicated by `wsa:MessageID` over the whole run, not per round: a message the killed SM-SR had posted
//!   but not marked delivered goes out again when its lease ends, 60 s after it was claimed, possibly in a later
//!   round);
//! - every eUICC's EIS at the SM-SR (profile states) equals the simulated card's;
//! - the cards refused no command packet: in particular no counter-low PoR, so the SM-SR never reused an SCP80
//!   counter of an eUICC, not even across the kills (each card checks CNTR strictly higher than the last).
//!
//! The simulated eUICCs (seeded, registered directly in the SM-SR's store), the test SMSC and the MNO's callback
//! receiver run in this test process, so they live through the kill; `rsp serve` is a child process whose ES5
//! goes to that SMSC. A call whose connection died with the server is sent again after the restart with the
//! same FunctionCallIdentifier (SGP.02 §2.3.3). The kill moment is drawn in units of progress: after a random
//! number of the round's MT SMS (two a switch: EnableProfile, HandleNotificationConfirmation; at most 4/5 of those
//! of the cards the round switches) went through the SMSC, plus a random delay; `RSP_SWITCH_CRASH_KILL_AT=<sms>,<ms>;<sms>,<ms>;<sms>,<ms>` replays the three.
//! `RSP_SWITCH_CRASH_SWITCHES=<n>` changes the number of eUICCs.
//!
//! 1,000 switches a round, as the issue asks (`SWITCHES`). A card whose notification's confirmation reaches it
//! only after its retries ran out (5 × 5 s here; likely after a restart with 1,000 switches pending) rolls back,
//! and its enable must end FAILED with the EIS on the old profile (docs/architecture.md, crash safety).

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::crash::{
    Call, Observed, enabled_slot, inspect, isd_p_aids, message_ids_by_fci, notification_counts,
    record, result_agrees_with_card, seeded_cards, send_all, watch,
};
use common::{Db, Lab};
use conformance::euicc::{Fleet, SimulatorConfig};
use conformance::lab::SimulatedNetwork;
use conformance::mno::{MnoClient, MnoReceiver, Received};
use conformance::smsc::SmscConfig;
use eis_store::eis::ProfileState;
use es_interfaces::messages::es4;
use es_interfaces::status::{FunctionExecutionStatus, Status};
use rsp::download_bench::status_key;

/// Concurrent switches (one per eUICC) in each round (issue 10 item 12).
const SWITCHES: usize = 1_000;
/// Kill/restart rounds.
const ROUNDS: usize = 3;
/// Seed of the simulated fleet.
const SEED: u64 = 12;
/// ValidityPeriod of each switch: an operation the crash leaves without its PoR or notification ends (EXPIRED)
/// within the round.
const VALIDITY_SECS: u64 = 150;
/// MT SMS of one switch (EnableProfile, HandleNotificationConfirmation).
const SMS_PER_SWITCH: u64 = 2;

fn is_success(s: &FunctionExecutionStatus) -> bool {
    s.status == Status::ExecutedSuccess
}

/// What arrived at the MNO's receiver during one round, each `wsa:MessageID` once.
struct Distinct {
    /// The round's messages, first deliveries only.
    messages: Vec<Received>,
    /// Deliveries of a message already delivered in this round.
    repeats: usize,
    /// Deliveries of a message an earlier round already counted. The outbox delivers at least once
    /// (es_runtime::outbox): a message the killed SM-SR had posted but not yet marked delivered is still leased
    /// to the dead dispatcher and goes out again only when that lease ends (60 s after it was claimed), which
    /// may be one or two rounds later.
    late: Vec<Received>,
}

/// The deliveries `received` of a round, each `wsa:MessageID` once and none of the IDs in `earlier` (those
/// the previous rounds counted): the receiver deduplicates by MessageID across the whole run, as SGP.02 asks of
/// a receiver, not per round.
fn distinct(received: &[Received], earlier: &HashSet<String>) -> Distinct {
    let mut seen = HashSet::new();
    let mut out = Distinct {
        messages: Vec::new(),
        repeats: 0,
        late: Vec::new(),
    };
    for r in received {
        let id = r
            .message_id
            .clone()
            .expect("every message has a wsa:MessageID");
        if earlier.contains(&id) {
            out.late.push(r.clone());
        } else if seen.insert(id) {
            out.messages.push(r.clone());
        } else {
            out.repeats += 1;
        }
    }
    out
}

/// The FunctionCallIdentifier of eUICC `i`'s switch in `round`.
fn fci(round: usize, i: usize) -> String {
    format!("switch-crash-{round}-{i}")
}

fn kill_points(n: usize) -> Vec<(u64, u64)> {
    let replay = std::env::var("RSP_SWITCH_CRASH_KILL_AT").ok().map(|v| {
        v.split(';')
            .map(|p| {
                let (a, b) = p.split_once(',').expect("<sms>,<ms>");
                (
                    a.trim().parse().expect("sms"),
                    b.trim().parse().expect("ms"),
                )
            })
            .collect::<Vec<(u64, u64)>>()
    });
    match replay {
        Some(points) => {
            assert_eq!(
                points.len(),
                ROUNDS,
                "RSP_SWITCH_CRASH_KILL_AT names one kill per round"
            );
            points
        }
        None => (0..ROUNDS)
            .map(|_| {
                (
                    rand::random::<u64>() % (n as u64 * SMS_PER_SWITCH * 4 / 5).max(1),
                    rand::random::<u64>() % 100,
                )
            })
            .collect(),
    }
}

fn crash_scenario(db: Db) {
    let n: usize = std::env::var("RSP_SWITCH_CRASH_SWITCHES")
        .ok()
        .map(|v| v.parse().expect("RSP_SWITCH_CRASH_SWITCHES"))
        .unwrap_or(SWITCHES);
    let mut lab = Lab::new(1, db);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let system = actix_web::rt::System::with_tokio_rt(move || rt);
    system.block_on(async move {
        let started = Instant::now();
        let fleet = Fleet::from_seed(
            SEED,
            n,
            SimulatorConfig {
                attach_delay_ms: 200,
                notification_retry_interval_ms: 5_000,
                ..SimulatorConfig::default()
            },
        )
        .expect("fleet");
        let mut smsc = SmscConfig::loopback("smsr", "smsr");
        smsc.record = false;
        let (events_tx, events_rx) = tokio::sync::mpsc::unbounded_channel();
        let network = SimulatedNetwork::start(fleet, smsc, Some(events_tx)).await.expect("network");
        let observed: Arc<Mutex<Observed>> = Arc::default();
        let watcher = watch(events_rx, observed.clone(), started);
        let receiver = MnoReceiver::start(&lab.world, "127.0.0.1:0", true).expect("receiver");
        lab.extra_env = vec![
            ("RSP_ES5__SMPP__ENABLED".into(), "true".into()),
            ("RSP_ES5__SMPP__HOST".into(), "127.0.0.1".into()),
            ("RSP_ES5__SMPP__PORT".into(), network.smsc().local_addr().port().to_string()),
            ("RSP_ES5__SMPP__BINDS".into(), "2".into()),
            ("RSP_ES5__POR_TIMEOUT_SECS".into(), "10".into()),
            ("RSP_ES5__MAX_RETRY_INTERVAL_SECS".into(), "20".into()),
            ("RUST_LOG".into(), std::env::var("RSP_SWITCH_CRASH_LOG").unwrap_or_else(|_| "warn".into())),
        ];
        lab.start();
        let smsr_store = lab.smsr_store();
        let keyring = rsp::setup::master_keyring(&lab.world).expect("master key");
        rsp::lab::register_seeded_eis(&smsr_store, &keyring, &lab.world, SEED, n, 0.0).expect("seeded EISs");
        let mno_oid = lab.world.manifest.mnos[0].entity.oid.clone();
        assert_eq!(mno_oid, conformance::issuance::DEFAULT_MNO_OIDS[0], "the world's MNO 1 owns P1 and P2");
        rsp::lab::set_endpoint(&smsr_store, &mno_oid, "ES4", &format!("{}/es4", receiver.url()))
            .expect("MNO endpoint");
        let mno = Arc::new(
            MnoClient::new(&lab.world, 0, &lab.smsr_url, &lab.smdp_url)
                .expect("MNO client")
                .with_reply_to(format!("{}/es4", receiver.url())),
        );
        let cards = seeded_cards(SEED, n);
        let aids = isd_p_aids();
        let eid_index: HashMap<String, usize> =
            cards.iter().enumerate().map(|(i, c)| (c.eid.clone(), i)).collect();
        eprintln!(
            "switch crash test ({db:?}): {n} eUICCs, servers up in {:.1} s",
            started.elapsed().as_secs_f64()
        );

        let kills = kill_points(n);
        eprintln!(
            "switch crash test ({db:?}): RSP_SWITCH_CRASH_KILL_AT={} replays the kills",
            kills.iter().map(|(s, m)| format!("{s},{m}")).collect::<Vec<_>>().join(";")
        );
        let submitted = || network.smsc().counters().submitted;
        let mut seen_messages = 0usize;
        // The MessageIDs of every message counted so far (a later round's delivery of one is a repeat).
        let mut counted_ids: HashSet<String> = HashSet::new();
        let mut totals: BTreeMap<String, usize> = BTreeMap::new();
        let mut repeats_total = 0;
        let mut late_total = 0;
        for (round, &(kill_sms, kill_ms)) in kills.iter().enumerate() {
            let round_started = Instant::now();
            let target = if round % 2 == 0 { 1 } else { 0 };
            let before: Vec<usize> = inspect(&network, &observed).await.iter().map(|v| enabled_slot(v, &aids)).collect();
            let requests: Arc<Vec<es4::EnableProfileRequest>> = Arc::new(
                cards
                    .iter()
                    .enumerate()
                    .map(|(i, c)| es4::EnableProfileRequest {
                        base: conformance::mno::base(&fci(round, i), Some(VALIDITY_SECS)),
                        eid: c.eid.parse().expect("eid"),
                        iccid: c.iccids[target].parse().expect("iccid"),
                    })
                    .collect(),
            );
            // Only the cards not on the target switch (the others are refused at once, without an SMS): a kill
            // drawn past their SMS would never come (a round after one whose late confirmations made many cards
            // roll back has few to switch).
            let switching = before.iter().filter(|&&slot| slot != target).count() as u64;
            let kill_sms = kill_sms.min(switching * SMS_PER_SWITCH * 4 / 5);
            let mut calls = vec![Call::default(); n];
            let sms_before = submitted();
            eprintln!(
                "round {round} ({db:?}) starts at {} ms: {switching} of {n} cards to switch, kill after {kill_sms} SMS + {kill_ms} ms",
                started.elapsed().as_millis()
            );
            let answered = Arc::new(AtomicUsize::new(0));
            let all: Vec<usize> = (0..n).collect();
            let burst = {
                let (mno, requests, answered) = (mno.clone(), requests.clone(), answered.clone());
                tokio::spawn(async move { send_all(&mno, &requests, &all, answered).await })
            };
            let wait_until = Instant::now() + Duration::from_secs(300);
            while submitted() - sms_before < kill_sms && answered.load(Ordering::SeqCst) < n {
                assert!(Instant::now() < wait_until, "round {round}: the switches made no progress over SMS");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            tokio::time::sleep(Duration::from_millis(kill_ms)).await;
            lab.kill9();
            let sms_at_kill = submitted() - sms_before;
            record(&mut calls, burst.await.expect("burst"));
            let at_kill = |calls: &[Call]| {
                (
                    calls.iter().filter(|c| !c.answered.is_empty()).count(),
                    calls.iter().filter(|c| !c.message_ids.is_empty()).count(),
                    calls.iter().filter(|c| c.lost > 0).count(),
                )
            };
            let (sync, accepted, lost) = at_kill(&calls);
            eprintln!(
                "round {round} ({db:?}): SIGKILL after {sms_at_kill} SMS ({:.1} s): {sync} answered, {accepted} accepted, {lost} calls lost with the server",
                round_started.elapsed().as_secs_f64()
            );

            // Restart; calls lost with the server are sent again under the same FunctionCallIdentifier.
            lab.start();
            for _ in 0..5 {
                let again: Vec<usize> = (0..n)
                    .filter(|&i| calls[i].answered.is_empty() && calls[i].message_ids.is_empty())
                    .collect();
                if again.is_empty() {
                    break;
                }
                let out = send_all(&mno, &requests, &again, Arc::new(AtomicUsize::new(0))).await;
                record(&mut calls, out);
            }

            // Wait until every accepted call has its callback, no operation is open, every card is settled and
            // the EIS and the notifications agree with the cards (or the deadline, then the checks below say what
            // is missing).
            let ids = message_ids_by_fci(&mno.sent());
            let deadline = Instant::now() + Duration::from_secs(VALIDITY_SECS + 90);
            let after = loop {
                let views = inspect(&network, &observed).await;
                let received = distinct(&receiver.received()[seen_messages..], &counted_ids).messages;
                let settled = views.iter().all(|v| !v.busy) && {
                    let mut c = smsr_store.conn().expect("connection");
                    let counts = eis_store::operations::counts(&mut c).expect("operation counts");
                    counts[0].1 + counts[1].1 == 0
                };
                let callbacks: HashSet<&str> = received
                    .iter()
                    .filter(|r| r.element == "ES4-EnableProfileResponse")
                    .filter_map(|r| r.relates_to.as_deref())
                    .collect();
                let results = calls.iter().enumerate().all(|(i, c)| {
                    c.message_ids.is_empty()
                        || ids[&fci(round, i)].iter().any(|id| callbacks.contains(id.as_str()))
                });
                let after: Vec<usize> = views.iter().map(|v| enabled_slot(v, &aids)).collect();
                let changes = (0..n).filter(|&i| before[i] != after[i]).count();
                let notified = received.iter().filter(|r| r.element.starts_with("ES4-HandleProfile")).count();
                if (settled && results && notified >= 2 * changes) || Instant::now() > deadline {
                    break after;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            };
            // Late duplicates would arrive now.
            tokio::time::sleep(Duration::from_secs(3)).await;
            let all_received = receiver.received();
            let Distinct { messages: received, repeats, late } = distinct(&all_received[seen_messages..], &counted_ids);
            seen_messages = all_received.len();
            counted_ids.extend(received.iter().filter_map(|r| r.message_id.clone()));
            repeats_total += repeats;
            late_total += late.len();
            if !late.is_empty() {
                let first: Vec<String> = late.iter().take(5).map(|r| format!("{} {:?} {:?}", r.element, r.field("Eid"), r.field("Iccid"))).collect();
                eprintln!("round {round} ({db:?}): {} deliveries of messages an earlier round counted (not counted again), e.g. {first:?}", late.len());
            }

            // Each FunctionCallIdentifier: one result, the right one.
            let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
            for (i, c) in calls.iter().enumerate() {
                let eid = &cards[i].eid;
                let sent_ids = &ids[&fci(round, i)];
                let callbacks: Vec<&Received> = received
                    .iter()
                    .filter(|r| r.element == "ES4-EnableProfileResponse")
                    .filter(|r| r.relates_to.as_ref().is_some_and(|id| sent_ids.contains(id)))
                    .collect();
                // A call accepted (202) gets its result as one callback; a call answered synchronously may have
                // had a callback too (its first sending was recorded, its answer lost in the kill): then they
                // agree.
                let expected = if c.message_ids.is_empty() { 0..=1 } else { 1..=1 };
                assert!(
                    expected.contains(&callbacks.len()),
                    "round {round} {eid}: {} callbacks (distinct MessageIDs) for one FunctionCallIdentifier, {} accepted calls, {} synchronous answers, {} lost; the card's events:\n{}",
                    callbacks.len(),
                    c.message_ids.len(),
                    c.answered.len(),
                    c.lost,
                    observed.lock().expect("lock").history.get(eid).map(|h| h.join("\n")).unwrap_or_default()
                );
                let mut results: Vec<FunctionExecutionStatus> = c.answered.clone();
                for cb in &callbacks {
                    results.push(cb.status().unwrap_or_else(|| panic!("{eid}: callback without status")));
                }
                let first = results.first().unwrap_or_else(|| panic!("round {round} {eid}: no result at all: {c:?}"));
                assert!(
                    results.iter().all(|s| s.status == first.status),
                    "round {round} {eid}: the results disagree: {results:?}"
                );
                *by_status.entry(status_key(first)).or_default() += 1;
                let switched = after[i] == target && before[i] != target;
                assert!(
                    result_agrees_with_card(first, switched),
                    "round {round} {eid}: result {} but the card went from P{} to P{} (target P{}); the card's events:\n{}",
                    status_key(first),
                    before[i] + 1,
                    after[i] + 1,
                    target + 1,
                    observed.lock().expect("lock").history.get(eid).map(|h| h.join("\n")).unwrap_or_default()
                );
                if !is_success(first)
                    && let Some(m) = first.status_code_data.as_ref().and_then(|d| d.message.as_deref())
                {
                    eprintln!("  round {round} {eid}: {} — {m}", status_key(first));
                }
            }

            // Notifications: one per change the card made, none otherwise.
            let notifications = notification_counts(&received, &eid_index);
            let mut expected: HashMap<(usize, String, String), usize> = HashMap::new();
            for i in 0..n {
                if before[i] != after[i] {
                    expected.insert((i, "enabled".into(), cards[i].iccids[after[i]].clone()), 1);
                    expected.insert((i, "disabled".into(), cards[i].iccids[before[i]].clone()), 1);
                }
            }
            let mut wrong: Vec<String> = Vec::new();
            for key in expected.keys().chain(notifications.keys()).collect::<HashSet<_>>() {
                let (got, want) = (notifications.get(key).copied().unwrap_or(0), expected.get(key).copied().unwrap_or(0));
                if got != want {
                    wrong.push(format!("{} {} {}: {got} notifications, {want} expected", cards[key.0].eid, key.1, key.2));
                }
            }
            wrong.sort();
            assert!(wrong.is_empty(), "round {round}: {} wrong notification counts, e.g. {:?}", wrong.len(), &wrong[..wrong.len().min(10)]);

            // The EIS equals the cards.
            let mut conn = smsr_store.conn().expect("connection");
            let mut differ = Vec::new();
            for (i, card) in cards.iter().enumerate() {
                let profiles = eis_store::eis::profiles_of(&mut conn, &card.eid).expect("EIS profiles");
                for (slot, iccid) in card.iccids.iter().enumerate() {
                    let want = if slot == after[i] { ProfileState::Enabled } else { ProfileState::Disabled };
                    let got = profiles.iter().find(|p| p.info.iccid.trim_end_matches('F') == iccid).map(|p| p.info.state);
                    if got != Some(want) {
                        differ.push(format!("{} {iccid}: EIS {got:?}, card {want:?}", card.eid));
                    }
                }
            }
            assert!(differ.is_empty(), "round {round}: {} EIS profiles differ from the cards, e.g. {:?}", differ.len(), &differ[..differ.len().min(10)]);

            // No command packet refused by a card (a reused counter would be refused: counter low).
            let refused = observed.lock().expect("lock").refused.clone();
            assert!(refused.is_empty(), "round {round}: {} command packets refused by the cards, e.g. {:?}", refused.len(), &refused[..refused.len().min(10)]);

            let changes = (0..n).filter(|&i| before[i] != after[i]).count();
            for (k, v) in &by_status {
                *totals.entry(k.clone()).or_default() += v;
            }
            eprintln!(
                "round {round} ({db:?}) done in {:.1} s: {changes} cards switched, results {by_status:?}, {} SMS, {repeats} repeated deliveries, {} of earlier rounds' messages",
                round_started.elapsed().as_secs_f64(),
                submitted() - sms_before,
                late.len()
            );
        }
        eprintln!(
            "switch crash test ({db:?}): {ROUNDS} rounds of {n} switches in {:.1} s: {totals:?}, {repeats_total} repeated deliveries, {late_total} of earlier rounds' messages",
            started.elapsed().as_secs_f64()
        );

        lab.kill9();
        watcher.abort();
        receiver.stop().await;
        network.stop().await;
    });
}

#[test]
fn switch_crash_sqlite() {
    crash_scenario(Db::Sqlite);
}

#[test]
fn switch_crash_postgres() {
    crash_scenario(Db::Postgres);
}

/// A Handle…Notification about `iccid` of `eid` with `wsa:MessageID` `id`, as the receiver records it.
fn notification(id: &str, enabled: bool, eid: &str, iccid: &str) -> Received {
    let element = if enabled {
        "ES4-HandleProfileEnabledNotification"
    } else {
        "ES4-HandleProfileDisabledNotification"
    };
    Received {
        element: element.to_string(),
        action: None,
        relates_to: None,
        message_id: Some(id.to_string()),
        envelope: format!(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Header/><s:Body><{element} xmlns="http://namespaces.gsma.org/esim-messaging/1"><Eid>{eid}</Eid><Iccid>{iccid}</Iccid><CompletionTimestamp>2026-12-06T00:00:00Z</CompletionTimestamp></{element}></s:Body></s:Envelope>"#
        ),
        received_at: Instant::now(),
    }
}

/// The CI failure of round 2 ("enabled <ICCID>: 2 notifications, 1 expected" and the same for the disabled
/// profile): round 0's notifications of a card, posted by the SM-SR killed in round 0 but not yet marked
/// delivered, came again when the dead dispatcher's lease ended, in round 2, beside round 2's own notifications
/// of the same change (P1 → P2). Counted per round, they were two notifications; they are one message.
#[test]
fn a_message_delivered_again_in_a_later_round_is_not_counted_again() {
    const EID: &str = "89049032123451234512345678901235";
    const P1: &str = "8988211000000000011";
    const P2: &str = "8988211000000000022";
    let eid_index = HashMap::from([(EID.to_string(), 0)]);
    let round0 = [
        notification("m-1", true, EID, P2),
        notification("m-2", false, EID, P1),
        // Delivered again within the round (a kill between the POST and its mark): one message.
        notification("m-1", true, EID, P2),
    ];
    let round1 = [
        notification("m-3", true, EID, P1),
        notification("m-4", false, EID, P2),
    ];
    let round2 = [
        notification("m-5", true, EID, P2),
        notification("m-6", false, EID, P1),
        notification("m-1", true, EID, P2),
        notification("m-2", false, EID, P1),
    ];
    let mut counted: HashSet<String> = HashSet::new();
    let mut per_round = Vec::new();
    for received in [&round0[..], &round1[..], &round2[..]] {
        let d = distinct(received, &counted);
        counted.extend(d.messages.iter().filter_map(|r| r.message_id.clone()));
        per_round.push((
            notification_counts(&d.messages, &eid_index),
            d.repeats,
            d.late.len(),
        ));
    }
    let one_change = |enabled: &str, disabled: &str| {
        HashMap::from([
            ((0, "enabled".to_string(), enabled.to_string()), 1),
            ((0, "disabled".to_string(), disabled.to_string()), 1),
        ])
    };
    assert_eq!(per_round[0], (one_change(P2, P1), 1, 0));
    assert_eq!(per_round[1], (one_change(P1, P2), 0, 0));
    assert_eq!(per_round[2], (one_change(P2, P1), 0, 2));
}
