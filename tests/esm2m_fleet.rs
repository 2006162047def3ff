//! ESM2M operations of an eUICC owner against the real servers (SM-SR, test SMSC, simulated eUICCs), on SQLite
//! (1,000 eUICCs) and PostgreSQL (200, to keep the debug run short): an operation on one eUICC with its result
//! and the owner in the audit trail; `Idempotency-Key` (the first answer again, nothing done twice, 422 for
//! another body); a fleet switch of every eUICC whose enabled profile is MNO 1's to its MNO 2 profile with one
//! call, watched to the end (the progress-read p99 is printed), per-target results paged and as CSV; pause,
//! resume and cancel on a second fleet operation; a second owner who sees and can act on none of it; bad
//! bodies answered 400 with nothing stored. The owner's feed holds each operation of the switch once, and every
//! event of it reaches the owner's HTTPS webhook with a signature that the PyPI package `standardwebhooks`
//! (not the project's code) accepts.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use eis_store::eis::ProfileState;
use eis_store::entities::{self, Entity, EntityRole};
use eis_store::fleet::{self as store, TargetState};
use eis_store::{operations, owners};
use rsp::lab::{FleetSource, Lab};
use serde_json::{Value, json};
use smsr::esm2m::ApiToken;
use support::small_lab;
use support::webhooks::{Receiver, python_verify, start_receiver};

const OWNER_A: &str = "1.3.6.1.4.1.4242.92.1";
const OWNER_B: &str = "1.3.6.1.4.1.4242.92.2";
const NO_SUCH_EID: &str = "89049032000000000000000000000999";

struct Api {
    http: reqwest::Client,
    base: String,
}

struct Reply {
    status: u16,
    ctype: String,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }
}

impl Api {
    async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Reply {
            status,
            ctype,
            text: resp.text().await.expect("body"),
        }
    }

    async fn get(&self, token: &str, path: &str) -> Reply {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(token),
        )
        .await
    }

    async fn get_csv(&self, token: &str, path: &str) -> Reply {
        self.send(
            self.http
                .get(format!("{}{path}", self.base))
                .bearer_auth(token)
                .header("Accept", "text/csv"),
        )
        .await
    }

    async fn post(&self, token: &str, path: &str, body: &str, key: Option<&str>) -> Reply {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        self.send(req).await
    }
}

fn assert_problem(r: &Reply, expected: u16) -> Value {
    assert_eq!(r.status, expected, "{}", r.text);
    assert_eq!(r.ctype, "application/problem+json", "{}", r.text);
    let b = r.json();
    assert_eq!(b["status"], expected, "{b}");
    for field in ["type", "title", "detail"] {
        assert!(
            b[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field} in {b}"
        );
    }
    b
}

fn token(lab: &Lab, owner: &str, scopes: &str) -> String {
    let t = ApiToken::generate().expect("token");
    let mut c = lab.smsr.store.conn().expect("conn");
    let now = eis_store::now_millis();
    owners::create_token(&mut c, owner, &t.hash(), scopes, now + 86_400_000, now).expect("token");
    t.text().to_string()
}

/// Polls a fleet operation until nothing more will happen; returns its last view and the read latencies.
async fn watch(api: &Api, token: &str, id: i64) -> (Value, Vec<Duration>) {
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut reads = Vec::new();
    loop {
        let t0 = Instant::now();
        let r = api.get(token, &format!("/fleet-operations/{id}")).await;
        reads.push(t0.elapsed());
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        let c = &v["counts"];
        let sum: i64 = [
            "pending",
            "running",
            "succeeded",
            "failed",
            "cancelled",
            "expired",
        ]
        .iter()
        .map(|k| c[k].as_i64().expect("count"))
        .sum();
        assert_eq!(sum, v["total"].as_i64().expect("total"), "{v}");
        if v["finished"] == true {
            return (v, reads);
        }
        assert!(
            Instant::now() < deadline,
            "fleet operation {id} does not end: {v}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The owner's whole event feed (of `types`, or all), 1,000 at a time.
async fn feed(api: &Api, token: &str, types: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let mut path = format!("/events?after={after}&limit=1000");
        if let Some(t) = types {
            path.push_str(&format!("&types={t}"));
        }
        let r = api.get(token, &path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.json();
        out.extend(page["items"].as_array().expect("items").iter().cloned());
        let next = page["next"].as_i64().expect("next");
        if next == after {
            return out;
        }
        after = next;
    }
}

fn p99(mut d: Vec<Duration>) -> Duration {
    d.sort();
    d[(d.len() * 99 / 100).min(d.len() - 1)]
}

/// Owner operations on the eUICC `eid` (kind, requester) in the store.
fn owner_ops(lab: &Lab, eid: &str) -> Vec<(String, String)> {
    let mut c = lab.smsr.store.conn().expect("conn");
    operations::all_of(&mut c, eid)
        .expect("operations")
        .into_iter()
        .filter(|o| o.interface == "ESM2M")
        .map(|o| (o.kind, o.requester_oid))
        .collect()
}

fn enabled_mno(lab: &Lab, eid: &str) -> Option<String> {
    let mut c = lab.smsr.store.conn().expect("conn");
    eis_store::eis::profiles_of(&mut c, eid)
        .expect("profiles")
        .into_iter()
        .find(|p| p.info.state == ProfileState::Enabled)
        .map(|p| p.info.mno_id)
}

async fn scenario(lab: &Lab, n: usize) {
    let pki = &lab.world.dir;
    let ca = std::fs::read(pki.join(&lab.world.manifest.tls_ca.cert)).expect("TLS CA");
    let api = Api {
        http: reqwest::Client::builder()
            .tls_backend_native()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
            .build()
            .expect("client"),
        base: format!("{}/esm2m/v1", lab.config.esm2m.public_url),
    };
    let mno1 = lab.world.manifest.mnos[0].entity.oid.clone();
    let mno2 = lab.world.manifest.mnos[1].entity.oid.clone();
    let eids = {
        let mut c = lab.smsr.store.conn().expect("conn");
        eis_store::eis::list_eids(&mut c, None, 100_000).expect("EIDs")
    };
    assert_eq!(eids.len(), n);
    let (mine, theirs) = eids.split_at(n - 2);
    {
        let mut c = lab.smsr.store.conn().expect("conn");
        for (oid, name) in [(OWNER_A, "Fleet A"), (OWNER_B, "Fleet B")] {
            let e = Entity {
                oid: oid.into(),
                role: EntityRole::EuiccOwner,
                name: name.into(),
                endpoints: Default::default(),
                allowed_interfaces: Default::default(),
                gp_certificate: None,
                fingerprints: Default::default(),
            };
            entities::create_entity(&mut c, &e, 1).expect("owner");
        }
    }
    lab.smsr
        .store
        .tx(|c| {
            owners::assign_euiccs(c, OWNER_A, mine, 1)?;
            owners::assign_euiccs(c, OWNER_B, theirs, 1)
        })
        .expect("assign");
    let a = token(lab, OWNER_A, "read,operate");
    let a_read = token(lab, OWNER_A, "read");
    let b = token(lab, OWNER_B, "read,operate");
    let a_admin = token(lab, OWNER_A, "admin");

    // --- A webhook endpoint of A for every event type, registered before anything happens.
    let receiver = Receiver::default();
    let (url, receiver_handle) = start_receiver(lab, receiver.clone());
    let hook = api
        .post(
            &a_admin,
            "/webhooks",
            &json!({ "url": format!("{url}/ok") }).to_string(),
            None,
        )
        .await;
    assert_eq!(hook.status, 201, "{}", hook.text);
    let secret = hook.json()["secret"].as_str().expect("secret").to_string();

    // --- One eUICC: switch mine[0] to its MNO 2 profile.
    let target = &mine[0];
    let p3 = {
        let mut c = lab.smsr.store.conn().expect("conn");
        eis_store::eis::profiles_of(&mut c, target)
            .expect("profiles")
            .into_iter()
            .find(|p| p.info.mno_id == mno2)
            .expect("a profile of MNO 2")
            .info
            .iccid
    };
    let path = format!("/euiccs/{target}/operations");
    let body = json!({ "action": "enable", "iccid": p3 }).to_string();
    let first = api.post(&a, &path, &body, Some("switch-1")).await;
    assert_eq!(first.status, 202, "{}", first.text);
    let op = first.json();
    assert_eq!(op["action"], "enable");
    assert_eq!(op["eid"], target.as_str());
    // The same request with the same key: the first answer, nothing started again.
    let again = api.post(&a, &path, &body, Some("switch-1")).await;
    assert_eq!(
        (again.status, again.text.as_str()),
        (202, first.text.as_str())
    );
    assert_eq!(owner_ops(lab, target).len(), 1);
    // The same key with another body: 422, nothing started.
    let other = json!({ "action": "audit" }).to_string();
    assert_problem(&api.post(&a, &path, &other, Some("switch-1")).await, 422);
    assert_eq!(owner_ops(lab, target).len(), 1);
    // Scope, owner and refusals.
    assert_problem(&api.post(&a_read, &path, &other, None).await, 403);
    let foreign = assert_problem(&api.post(&b, &path, &other, None).await, 404);
    let absent = assert_problem(
        &api.post(
            &b,
            &format!("/euiccs/{NO_SUCH_EID}/operations"),
            &other,
            None,
        )
        .await,
        404,
    );
    assert_eq!(
        foreign.to_string().replace(target.as_str(), "EID"),
        absent.to_string().replace(NO_SUCH_EID, "EID")
    );
    let id = op["id"].as_i64().expect("id");
    assert_problem(&api.get(&b, &format!("/operations/{id}")).await, 404);
    let deadline = Instant::now() + Duration::from_secs(120);
    let done = loop {
        let r = api.get(&a_read, &format!("/operations/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
        let v = r.json();
        if v["result"].is_object() {
            break v;
        }
        assert!(Instant::now() < deadline, "operation does not end: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["result"]["status"], "EXECUTED_SUCCESS", "{done}");
    assert_eq!(enabled_mno(lab, target), Some(mno2.clone()));
    assert_eq!(
        owner_ops(lab, target),
        vec![("EnableProfile".to_string(), OWNER_A.to_string())]
    );
    let trail = {
        let mut c = lab.smsr.store.conn().expect("conn");
        eis_store::eis::get_eis_without_key_values(&mut c, target)
            .expect("EIS")
            .expect("EIS")
            .audit_trail
    };
    assert!(
        trail.iter().any(|r| r.operation_type == [0x02, 0x00]
            && r.requester_id.as_deref() == Some(OWNER_A)
            && r.execution_status.as_deref() == Some("EXECUTED_SUCCESS")),
        "{trail:?}"
    );
    // The platform's refusal with its SGP.02 codes: the profile is Enabled now.
    let refused = assert_problem(&api.post(&a, &path, &body, None).await, 409);
    assert_eq!(
        (&refused["subjectCode"], &refused["reasonCode"]),
        (&json!("8.2.1"), &json!("3.8")),
        "{refused}"
    );

    // --- Bad fleet bodies: 400, nothing stored.
    for bad in [
        "{".to_string(),
        json!({ "action": "enable", "profileMno": mno2 }).to_string(),
        json!({ "action": "enable", "selector": { "enabledMno": mno1 } }).to_string(),
        json!({ "action": "enable", "profileMno": mno2, "eids": [target, target] }).to_string(),
        json!({ "action": "enable", "profileMno": mno2, "eids": ["123"] }).to_string(),
        json!({ "action": "switch", "profileMno": mno2, "eids": [target] }).to_string(),
        json!({ "action": "enable", "profileMno": mno2, "eids": [target], "ratePerSecond": 0 })
            .to_string(),
        json!({ "action": "enable", "profileMno": mno2, "eids": [target], "extra": 1 }).to_string(),
    ] {
        assert_problem(
            &api.post(&a, "/fleet-operations", &bad, Some("bad")).await,
            400,
        );
    }
    {
        let mut c = lab.smsr.store.conn().expect("conn");
        assert!(
            store::fleets_of(&mut c, OWNER_A, None, 10)
                .expect("fleets")
                .is_empty()
        );
        assert_eq!(
            store::idempotent_answer(&mut c, OWNER_A, "bad").expect("key"),
            None
        );
    }
    assert_problem(
        &api.post(
            &a_read,
            "/fleet-operations",
            &json!({ "action": "audit", "eids": [target] }).to_string(),
            None,
        )
        .await,
        403,
    );

    // --- The fleet switch: every eUICC of A whose enabled profile is MNO 1's → its MNO 2 profile, one call.
    let switch = json!({
        "action": "enable",
        "profileMno": mno2,
        "selector": { "enabledMno": mno1 },
        "ratePerSecond": 500,
        "maxInFlight": 200,
        "validitySeconds": 3600,
    })
    .to_string();
    let started = Instant::now();
    let created = api
        .post(&a, "/fleet-operations", &switch, Some("fleet-1"))
        .await;
    assert_eq!(created.status, 202, "{}", created.text);
    let fleet = created.json();
    let fid = fleet["id"].as_i64().expect("id");
    let expected = mine.len() as i64 - 1; // mine[0] is on MNO 2 already
    assert_eq!(fleet["total"], expected, "{fleet}");
    let repeat = api
        .post(&a, "/fleet-operations", &switch, Some("fleet-1"))
        .await;
    assert_eq!(
        (repeat.status, repeat.text.as_str()),
        (202, created.text.as_str())
    );
    // The other owner sees none of it and can act on none of it.
    assert_problem(&api.get(&b, &format!("/fleet-operations/{fid}")).await, 404);
    assert_problem(
        &api.get(&b, &format!("/fleet-operations/{fid}/targets"))
            .await,
        404,
    );
    assert_problem(
        &api.get_csv(&b, &format!("/fleet-operations/{fid}/targets.csv"))
            .await,
        404,
    );
    assert_problem(
        &api.post(&b, &format!("/fleet-operations/{fid}/pause"), "", None)
            .await,
        404,
    );
    let listed = api.get(&b, "/fleet-operations").await;
    assert_eq!(listed.json()["items"], json!([]), "{}", listed.text);
    let (end, reads) = watch(&api, &a_read, fid).await;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fleet switch of {expected} eUICCs: {:.1} s, {:.1} operations/s; {} progress reads, p99 {:?}",
        secs,
        expected as f64 / secs,
        reads.len(),
        p99(reads)
    );
    assert_eq!(end["state"], "completed", "{end}");
    assert_eq!(end["counts"]["succeeded"], expected, "{end}");
    {
        let mut c = lab.smsr.store.conn().expect("conn");
        let stored = store::get_fleet(&mut c, fid).expect("get").expect("fleet");
        assert_eq!(stored.counts, store::recount(&mut c, fid).expect("recount"));
        assert_eq!(
            store::fleets_of(&mut c, OWNER_A, None, 10)
                .expect("fleets")
                .len(),
            1,
            "the repeated POST created nothing"
        );
    }
    for e in &mine[1..] {
        assert_eq!(enabled_mno(lab, e), Some(mno2.clone()), "{e}");
        assert_eq!(
            owner_ops(lab, e),
            vec![("EnableProfile".to_string(), OWNER_A.to_string())],
            "{e}: acted on exactly once"
        );
    }
    for e in theirs {
        assert_eq!(enabled_mno(lab, e), Some(mno1.clone()), "{e}: not A's");
        assert!(owner_ops(lab, e).is_empty());
    }
    // Per-target results, page by page and as CSV.
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let r = api
            .get(
                &a_read,
                &format!("/fleet-operations/{fid}/targets?limit=300&after={after}"),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let page = r.json();
        for t in page["items"].as_array().expect("items") {
            assert_eq!(t["state"], "succeeded", "{t}");
            assert_eq!(t["result"]["status"], "EXECUTED_SUCCESS", "{t}");
            seen.push(t["eid"].as_str().expect("eid").to_string());
        }
        match page["next"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(seen.as_slice(), &mine[1..]);
    let failed = api
        .get(
            &a_read,
            &format!("/fleet-operations/{fid}/targets?state=failed"),
        )
        .await;
    assert_eq!(failed.json()["items"], json!([]), "{}", failed.text);
    assert_problem(
        &api.get(
            &a_read,
            &format!("/fleet-operations/{fid}/targets?state=odd"),
        )
        .await,
        400,
    );
    for path in [
        format!("/fleet-operations/{fid}/targets.csv"),
        format!("/fleet-operations/{fid}/targets"),
    ] {
        let csv = api.get_csv(&a_read, &path).await;
        assert_eq!(csv.status, 200, "{}", csv.text);
        assert!(csv.ctype.starts_with("text/csv"), "{}", csv.ctype);
        let lines: Vec<&str> = csv.text.lines().collect();
        assert_eq!(lines.len() as i64, expected + 1);
        assert!(lines[0].starts_with("seq,eid,state"), "{}", lines[0]);
        assert!(
            lines[1].starts_with(&format!("1,{},succeeded,", mine[1])),
            "{}",
            lines[1]
        );
    }

    // --- The owner's CLI (`rsp fleet`) on the same API.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_rsp"))
            .args(["fleet", "--url", &api.base, "--token", &a_read, "--cacert"])
            .arg(lab.world.dir.join(&lab.world.manifest.tls_ca.cert))
            .args(args)
            .env_remove("RSP_CONFIG")
            .output()
            .expect("run rsp fleet");
        assert!(
            out.status.success(),
            "rsp fleet {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    };
    let listed = cli(&["euiccs", "--enabled-mno", &mno2]);
    assert_eq!(listed.lines().count(), mine.len(), "{listed}");
    let watched = cli(&["watch", "--id", &fid.to_string()]);
    assert!(
        watched.contains("completed") && watched.contains(&format!("{expected} succeeded")),
        "{watched}"
    );
    let csv_file = lab.config.var_dir.join("results.csv");
    cli(&[
        "results",
        "--id",
        &fid.to_string(),
        "--out",
        csv_file.to_str().expect("path"),
    ]);
    let csv = std::fs::read_to_string(&csv_file).expect("results");
    assert_eq!(csv.lines().count() as i64, expected + 1);

    // --- Pause, resume, cancel: an audit of A's eUICCs, slowly.
    let audit_eids: Vec<&String> = mine.iter().take(40).collect();
    let slow = json!({
        "action": "audit",
        "eids": audit_eids,
        "ratePerSecond": 4,
        "maxInFlight": 2,
    })
    .to_string();
    let r = api.post(&a, "/fleet-operations", &slow, None).await;
    assert_eq!(r.status, 202, "{}", r.text);
    let gid = r.json()["id"].as_i64().expect("id");
    let paused = api
        .post(&a_read, &format!("/fleet-operations/{gid}/pause"), "", None)
        .await;
    assert_problem(&paused, 403);
    let paused = api
        .post(&a, &format!("/fleet-operations/{gid}/pause"), "", None)
        .await;
    assert_eq!(paused.status, 200, "{}", paused.text);
    assert_eq!(paused.json()["state"], "paused");
    assert_problem(
        &api.post(
            &a,
            &format!("/fleet-operations/{gid}/pause"),
            "{\"x\":1}",
            None,
        )
        .await,
        400,
    );
    let at_pause = paused.json()["counts"]["pending"]
        .as_i64()
        .expect("pending");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let still = api
        .get(&a_read, &format!("/fleet-operations/{gid}"))
        .await
        .json();
    assert_eq!(still["state"], "paused");
    assert_eq!(
        still["counts"]["pending"], at_pause,
        "nothing starts while paused: {still}"
    );
    let resumed = api
        .post(&a, &format!("/fleet-operations/{gid}/resume"), "", None)
        .await;
    assert_eq!(resumed.json()["state"], "running", "{}", resumed.text);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = api
            .get(&a_read, &format!("/fleet-operations/{gid}"))
            .await
            .json();
        if v["counts"]["pending"].as_i64().expect("pending") <= at_pause - 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "nothing starts after resume: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let cancel_path = format!("/fleet-operations/{gid}/cancel");
    let cancelled = api.post(&a, &cancel_path, "", Some("cancel-1")).await;
    assert_eq!(cancelled.status, 200, "{}", cancelled.text);
    let c1 = cancelled.json();
    assert_eq!(c1["state"], "cancelled");
    let n_cancelled = c1["counts"]["cancelled"].as_i64().expect("cancelled");
    assert!(n_cancelled > 0, "{c1}");
    assert_eq!(c1["counts"]["pending"], 0, "{c1}");
    let again = api.post(&a, &cancel_path, "", Some("cancel-1")).await;
    assert_eq!(
        (again.status, again.text.as_str()),
        (200, cancelled.text.as_str())
    );
    let (end, _) = watch(&api, &a_read, gid).await;
    assert_eq!(end["state"], "cancelled");
    assert_eq!(end["counts"]["cancelled"], n_cancelled, "{end}");
    assert_eq!(
        end["counts"]["succeeded"].as_i64().expect("n")
            + end["counts"]["failed"].as_i64().expect("n"),
        40 - n_cancelled,
        "started ones finish: {end}"
    );
    assert_problem(
        &api.post(&a, &format!("/fleet-operations/{gid}/resume"), "", None)
            .await,
        409,
    );
    let cancelled_targets = api
        .get(
            &a_read,
            &format!("/fleet-operations/{gid}/targets?state=cancelled&limit=1000"),
        )
        .await
        .json();
    let cancelled_eids: Vec<&str> = cancelled_targets["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["eid"].as_str().expect("eid"))
        .collect();
    assert_eq!(cancelled_eids.len() as i64, n_cancelled);
    for e in cancelled_eids {
        assert!(
            !owner_ops(lab, e).iter().any(|(k, _)| k == "AuditEIS"),
            "{e} was cancelled before its start and must not be audited"
        );
    }
    {
        let mut c = lab.smsr.store.conn().expect("conn");
        assert_eq!(
            store::get_fleet(&mut c, gid)
                .expect("get")
                .expect("fleet")
                .counts,
            store::recount(&mut c, gid).expect("recount")
        );
        assert_eq!(
            store::targets_page(&mut c, gid, Some(TargetState::Pending), 0, 100)
                .expect("page")
                .len(),
            0
        );
    }

    // --- The fleet operations' events in A's feed: each state change once, in order, with its counts.
    let fleet_events = feed(
        &api,
        &a_read,
        Some("fleet_operation.created,fleet_operation.state_changed,fleet_operation.finished"),
    )
    .await;
    let seen: Vec<(String, i64, String, Value)> = fleet_events
        .iter()
        .map(|e| {
            assert!(e.get("eid").is_none(), "a fleet event names no eUICC: {e}");
            (
                e["type"].as_str().expect("type").to_string(),
                e["data"]["id"].as_i64().expect("id"),
                e["data"]["state"].as_str().expect("state").to_string(),
                e["data"]["from"].clone(),
            )
        })
        .collect();
    let ev = |t: &str, id: i64, state: &str, from: Value| {
        (format!("fleet_operation.{t}"), id, state.to_string(), from)
    };
    assert_eq!(
        seen,
        vec![
            ev("created", fid, "running", Value::Null),
            ev("state_changed", fid, "completed", json!("running")),
            ev("finished", fid, "completed", Value::Null),
            ev("created", gid, "running", Value::Null),
            ev("state_changed", gid, "paused", json!("running")),
            ev("state_changed", gid, "running", json!("paused")),
            ev("state_changed", gid, "cancelled", json!("running")),
            ev("finished", gid, "cancelled", Value::Null),
        ],
        "{fleet_events:#?}"
    );
    assert_eq!(fleet_events[0]["data"]["total"], expected);
    assert_eq!(fleet_events[2]["data"]["counts"]["succeeded"], expected);
    assert_eq!(fleet_events[2]["data"]["finished"], true);
    assert_eq!(fleet_events[7]["data"]["counts"], end["counts"]);
    assert_eq!(fleet_events[6]["data"]["counts"]["cancelled"], n_cancelled);
    let b_feed = api.get(&b, "/events?types=fleet_operation.created").await;
    assert_eq!(b_feed.json()["items"], json!([]), "{}", b_feed.text);

    // --- A's whole feed: contiguous ids; each operation of the fleet switch created and finished once.
    let all = feed(&api, &a_read, None).await;
    let ids: Vec<i64> = all.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    assert_eq!(ids, (1..=all.len() as i64).collect::<Vec<_>>());
    let switched: BTreeSet<i64> = {
        let mut c = lab.smsr.store.conn().expect("conn");
        store::targets_page(&mut c, fid, None, 0, 100_000)
            .expect("targets")
            .into_iter()
            .filter_map(|t| t.operation_id)
            .collect()
    };
    assert_eq!(switched.len() as i64, expected);
    for t in ["operation.created", "operation.finished"] {
        let mut of_switch: Vec<i64> = all
            .iter()
            .filter(|e| e["type"] == t)
            .filter_map(|e| e["data"]["operationId"].as_i64())
            .filter(|id| switched.contains(id))
            .collect();
        of_switch.sort();
        assert_eq!(
            of_switch,
            switched.iter().copied().collect::<Vec<_>>(),
            "{t}"
        );
    }

    // --- Every event of the feed arrives at A's webhook, signed: checked with the Python reference library.
    let deadline = Instant::now() + Duration::from_secs(300);
    let got = loop {
        let got = receiver.of("/ok");
        let distinct: BTreeSet<&String> = got
            .iter()
            .filter_map(|g| g.headers.get("webhook-id"))
            .collect();
        if distinct.len() >= all.len() {
            break got;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events delivered",
            distinct.len(),
            all.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (valid, refused) = python_verify(&secret, &got);
    assert_eq!(refused, 0);
    let by_id: BTreeMap<i64, &Value> = valid
        .iter()
        .map(|v| (v["id"].as_i64().expect("id"), v))
        .collect();
    assert!(by_id.len() >= all.len());
    for e in &all {
        assert_eq!(by_id.get(&e["id"].as_i64().expect("id")), Some(&e), "{e}");
    }
    println!(
        "{} events in A's feed, each delivered to its webhook with a valid signature ({} deliveries)",
        all.len(),
        got.len()
    );
    receiver_handle.stop(true).await;
}

fn seeded(n: usize) -> impl Fn(&mut rsp::lab::LabOptions) {
    move |o| {
        o.fleet = FleetSource::Seeded { seed: 14, count: n };
        o.receivers = None;
        o.pool_size = 16;
        o.workers = 4;
    }
}

#[actix_web::test]
async fn owner_fleet_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, seeded(1000)).await;
    scenario(&lab, 1000).await;
    lab.stop().await;
}

#[actix_web::test]
async fn owner_fleet_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        seeded(200)(o);
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    scenario(&lab, 200).await;
    lab.stop().await;
}
