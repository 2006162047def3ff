//! Crash safety of ESM2M fleet operations (issue 12): `rsp serve` is killed with SIGKILL while a fleet switch
//! (every eUICC of the owner whose enabled profile is MNO 1's → its MNO 2 profile) is under way, then started
//! again; the fleet operation completes, every target is acted on exactly once (one owner operation per eUICC
//! in the SM-SR's store), every target ends succeeded or failed, and the counts of the fleet row equal a
//! recount of its targets, and the owner's event feed holds every operation's `operation.created` and
//! `operation.finished` exactly once, with contiguous ids (none lost or doubled). On SQLite (500 eUICCs) and PostgreSQL (200, to keep the debug run short);
//! `RSP_FLEET_CRASH_EUICCS=N` runs N on both (the size: 10,000).
//!
//! The simulated eUICCs (seeded, registered directly in the SM-SR's store) and the test SMSC run in this test
//! process, so they live through the kill; `rsp serve` is a child process whose ES5 goes to that SMSC.

mod common;

use std::time::{Duration, Instant};

use common::{Db, Lab};
use conformance::euicc::{Fleet, SimulatorConfig};
use conformance::lab::SimulatedNetwork;
use conformance::smsc::SmscConfig;
use eis_store::entities::{self, Entity, EntityRole};
use eis_store::fleet as store;
use serde_json::{Value, json};
use smsr::esm2m::ApiToken;

const SEED: u64 = 15;
const OWNER: &str = "1.3.6.1.4.1.4242.93.1";

/// GET `url` as the owner: the JSON of a 200, else `None`.
async fn progress(http: &reqwest::Client, url: &str, token: &str) -> Option<Value> {
    let r = http.get(url).bearer_auth(token).send().await.ok()?;
    if r.status() != 200 {
        return None;
    }
    r.json().await.ok()
}

fn crash_scenario(db: Db, n: usize) {
    let mut lab = Lab::new(1, db);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let system = actix_web::rt::System::with_tokio_rt(move || rt);
    system.block_on(async move {
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
        let network = SimulatedNetwork::start(fleet, smsc, None)
            .await
            .expect("network");
        lab.extra_env = vec![
            ("RSP_ES5__SMPP__ENABLED".into(), "true".into()),
            ("RSP_ES5__SMPP__HOST".into(), "127.0.0.1".into()),
            (
                "RSP_ES5__SMPP__PORT".into(),
                network.smsc().local_addr().port().to_string(),
            ),
            ("RSP_ES5__POR_TIMEOUT_SECS".into(), "10".into()),
            ("RSP_ES5__MAX_RETRY_INTERVAL_SECS".into(), "20".into()),
        ];
        lab.start();
        let smsr_store = lab.smsr_store();
        let keyring = rsp::setup::master_keyring(&lab.world).expect("master key");
        rsp::lab::register_seeded_eis(&smsr_store, &keyring, &lab.world, SEED, n, 0.0)
            .expect("seeded EISs");
        let eids = {
            let mut c = smsr_store.conn().expect("conn");
            eis_store::eis::list_eids(&mut c, None, 100_000).expect("EIDs")
        };
        assert_eq!(eids.len(), n);
        let token = ApiToken::generate().expect("token");
        {
            let mut c = smsr_store.conn().expect("conn");
            entities::create_entity(
                &mut c,
                &Entity {
                    oid: OWNER.into(),
                    role: EntityRole::EuiccOwner,
                    name: "Crash fleet".into(),
                    endpoints: Default::default(),
                    allowed_interfaces: Default::default(),
                    gp_certificate: None,
                    fingerprints: Default::default(),
                },
                1,
            )
            .expect("owner");
            let now = eis_store::now_millis();
            eis_store::owners::create_token(
                &mut c,
                OWNER,
                &token.hash(),
                "read,operate",
                now + 86_400_000,
                now,
            )
            .expect("token");
        }
        smsr_store
            .tx(|c| eis_store::owners::assign_euiccs(c, OWNER, &eids, 1))
            .expect("assign");
        let token = token.text().to_string();
        let ca = std::fs::read(lab.world.dir.join(&lab.world.manifest.tls_ca.cert)).expect("CA");
        let http = reqwest::Client::builder()
            .tls_backend_native()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        let base = format!("{}/esm2m/v1", lab.esm2m_url);
        let mno1 = lab.world.manifest.mnos[0].entity.oid.clone();
        let mno2 = lab.world.manifest.mnos[1].entity.oid.clone();
        let r = http
            .post(format!("{base}/fleet-operations"))
            .bearer_auth(&token)
            .json(&json!({
                "action": "enable",
                "profileMno": mno2,
                "selector": { "enabledMno": mno1 },
                "ratePerSecond": 100,
                "maxInFlight": 100,
                "validitySeconds": 1800,
            }))
            .send()
            .await
            .expect("POST");
        assert_eq!(r.status(), 202);
        let id = r.json::<Value>().await.expect("JSON")["id"]
            .as_i64()
            .expect("id");
        let url = format!("{base}/fleet-operations/{id}");

        // Kill once a third of the targets have started, with operations under way.
        // Ten minutes, or more for a large fleet (the 10,000 on a loaded PostgreSQL: ~20 minutes).
        let deadline = Instant::now() + Duration::from_secs(600.max(n as u64 / 5));
        loop {
            if let Some(v) = progress(&http, &url, &token).await {
                let started = v["total"].as_i64().expect("total")
                    - v["counts"]["pending"].as_i64().expect("pending");
                if started >= n as i64 / 3 {
                    eprintln!("fleet crash test ({db:?}): SIGKILL at {v}");
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the fleet operation does not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        lab.kill9();
        lab.start();
        let mut last = None;
        let end = loop {
            if let Some(v) = progress(&http, &url, &token).await {
                if v["finished"] == true {
                    break v;
                }
                last = Some(v);
            }
            assert!(
                Instant::now() < deadline,
                "the fleet operation does not end: {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        eprintln!("fleet crash test ({db:?}): after the restart {end}");
        assert_eq!(end["state"], "completed", "{end}");
        assert_eq!(end["total"], n as i64);
        assert_eq!(
            end["counts"]["succeeded"].as_i64().expect("n")
                + end["counts"]["failed"].as_i64().expect("n"),
            n as i64,
            "{end}"
        );
        assert!(end["counts"]["succeeded"].as_i64().expect("n") > 0, "{end}");
        let mut c = smsr_store.conn().expect("conn");
        let stored = store::get_fleet(&mut c, id).expect("get").expect("fleet");
        assert_eq!(stored.counts, store::recount(&mut c, id).expect("recount"));
        let targets = store::targets_page(&mut c, id, None, 0, 100_000).expect("targets");
        assert_eq!(targets.len(), n);
        for t in targets {
            let ops: Vec<_> = eis_store::operations::all_of(&mut c, &t.eid)
                .expect("operations")
                .into_iter()
                .filter(|o| o.interface == "ESM2M")
                .collect();
            assert_eq!(ops.len(), 1, "{}: acted on exactly once: {ops:?}", t.eid);
            assert_eq!(t.operation_id, Some(ops[0].id), "{}", t.eid);
        }
        // The owner's feed (as the API serves it): no event lost or doubled by the kill.
        let mut feed = Vec::new();
        let mut after = 0;
        loop {
            let page = progress(
                &http,
                &format!("{base}/events?after={after}&limit=1000"),
                &token,
            )
            .await
            .expect("a feed page");
            let next = page["next"].as_i64().expect("next");
            feed.extend(page["items"].as_array().expect("items").iter().cloned());
            if next == after {
                break;
            }
            after = next;
        }
        let ids: Vec<i64> = feed.iter().map(|e| e["id"].as_i64().expect("id")).collect();
        assert_eq!(ids, (1..=feed.len() as i64).collect::<Vec<_>>());
        let mut expected: Vec<i64> = store::targets_page(&mut c, id, None, 0, 100_000)
            .expect("targets")
            .into_iter()
            .filter_map(|t| t.operation_id)
            .collect();
        expected.sort();
        for kind in ["operation.created", "operation.finished"] {
            let mut seen: Vec<i64> = feed
                .iter()
                .filter(|e| e["type"] == kind)
                .filter_map(|e| e["data"]["operationId"].as_i64())
                .filter(|o| expected.binary_search(o).is_ok())
                .collect();
            seen.sort();
            assert_eq!(seen, expected, "{kind}: once per operation");
        }
        eprintln!(
            "fleet crash test ({db:?}): {} events in the feed",
            feed.len()
        );
        drop(c);
        lab.kill9();
        network.stop().await;
    });
}

/// The fleet size: `RSP_FLEET_CRASH_EUICCS`, or `default`.
fn euiccs(default: usize) -> usize {
    std::env::var("RSP_FLEET_CRASH_EUICCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn fleet_crash_sqlite() {
    crash_scenario(Db::Sqlite, euiccs(500));
}

#[test]
fn fleet_crash_postgres() {
    crash_scenario(Db::Postgres, euiccs(200));
}
