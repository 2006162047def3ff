//! ESM2M events and webhooks end to end, on SQLite and PostgreSQL (issue 12 item 3): an owner registers two
//! HTTPS webhook endpoints (one answering 500 at first), an MNO enables a profile on the owner's eUICC over
//! ES4, and the owner reads the events of the switch from the feed (contiguous ids, type filter, paging) and
//! receives each of them at its endpoint, signed as Standard Webhooks says — checked with the PyPI package
//! `standardwebhooks`, not with the project's code; a tampered body or a wrong secret is refused by it. The
//! failing endpoint gets retries until the (short) retry window ends, every attempt logged; replays of a
//! delivery and of an event then arrive. A second owner's token sees none of it.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use eis_store::entities::{self, Entity, EntityRole};
use eis_store::owners;
use rsp::lab::Lab;
use serde_json::{Value, json};
use smsr::esm2m::ApiToken;
use support::webhooks::{Receiver, python_verify, start_receiver};
use support::{call, callback, eid, enable, iccid, small_lab};

const OWNER_A: &str = "1.3.6.1.4.1.4242.92.1";
const OWNER_B: &str = "1.3.6.1.4.1.4242.92.2";

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {token}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
        };
        (status, v)
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// A POST with an `Idempotency-Key`: status, JSON and content type.
    async fn post_keyed(
        &self,
        path: &str,
        token: &str,
        body: Value,
        key: &str,
    ) -> (u16, String, String) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Authorization", format!("Bearer {token}"))
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        (status, resp.text().await.expect("body"), ctype)
    }

    /// The whole feed, `limit` at a time.
    async fn feed(&self, token: &str, limit: usize, types: Option<&str>) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = 0;
        for _ in 0..10_000 {
            let mut path = format!("/events?after={after}&limit={limit}");
            if let Some(t) = types {
                path.push_str(&format!("&types={t}"));
            }
            let (s, page) = self.get(&path, token).await;
            assert_eq!(s, 200, "{page}");
            let next = page["next"].as_i64().expect("next");
            out.extend(page["items"].as_array().expect("items").iter().cloned());
            if next == after {
                return out;
            }
            after = next;
        }
        panic!("the feed does not end");
    }
}

fn token(lab: &Lab, owner: &str, scopes: &str) -> String {
    let t = ApiToken::generate().expect("token");
    let now = eis_store::now_millis();
    let mut c = lab.smsr.store.conn().expect("conn");
    owners::create_token(&mut c, owner, &t.hash(), scopes, now + 3_600_000, now).expect("token");
    t.text().to_string()
}

/// Polls `f` every 100 ms until it is `Some`, for at most `secs` seconds.
async fn wait_for<T>(secs: u64, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn scenario(lab: &Lab) {
    let (e0, e1) = (eid(lab, 0), eid(lab, 1));
    {
        let mut c = lab.smsr.store.conn().expect("conn");
        for oid in [OWNER_A, OWNER_B] {
            entities::create_entity(
                &mut c,
                &Entity {
                    oid: oid.into(),
                    role: EntityRole::EuiccOwner,
                    name: format!("owner {oid}"),
                    endpoints: BTreeMap::new(),
                    allowed_interfaces: BTreeSet::new(),
                    gp_certificate: None,
                    fingerprints: BTreeSet::new(),
                },
                1,
            )
            .expect("owner");
        }
    }
    lab.smsr
        .store
        .tx(|c| {
            owners::assign_euiccs(c, OWNER_A, std::slice::from_ref(&e0), 1)?;
            owners::assign_euiccs(c, OWNER_B, std::slice::from_ref(&e1), 1)
        })
        .expect("assign");
    let a = token(lab, OWNER_A, "read,admin");
    let a_read = token(lab, OWNER_A, "read");
    let b = token(lab, OWNER_B, "read,admin");
    let ca = std::fs::read(lab.world.dir.join(&lab.world.manifest.tls_ca.cert)).expect("TLS CA");
    let api = Api {
        http: reqwest::Client::builder()
            .tls_backend_native()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
            // No pooled connection that the server may have closed while the test waited.
            .pool_max_idle_per_host(0)
            .build()
            .expect("client"),
        base: format!("{}/esm2m/v1", lab.config.esm2m.public_url),
    };
    let receiver = Receiver::default();
    receiver.failing.store(true, Ordering::SeqCst);
    let (url, handle) = start_receiver(lab, receiver.clone());

    // Registration: HTTPS only, known types, scope admin; the secret shown once.
    for (body, expected) in [
        (
            json!({ "url": url.replace("https:", "http:") + "/ok" }),
            400,
        ),
        (json!({ "url": "not a url" }), 400),
        (
            json!({ "url": format!("{url}/ok"), "eventTypes": ["profile.exploded"] }),
            400,
        ),
        (json!({ "url": format!("{url}/ok"), "colour": "red" }), 400),
    ] {
        let (s, p) = api.post("/webhooks", &a, body).await;
        assert_eq!(s, expected, "{p}");
        assert_eq!(p["status"], expected, "{p}");
    }
    let (s, p) = api
        .post("/webhooks", &a_read, json!({ "url": format!("{url}/ok") }))
        .await;
    assert_eq!(s, 403, "{p}");
    let (s, _) = api.get("/webhooks", &a_read).await;
    assert_eq!(s, 403);
    let (s, ok) = api
        .post("/webhooks", &a, json!({ "url": format!("{url}/ok") }))
        .await;
    assert_eq!(s, 201, "{ok}");
    let secret_ok = ok["secret"].as_str().expect("secret").to_string();
    assert!(secret_ok.starts_with("whsec_"), "{ok}");
    let (s, flaky) = api
        .post(
            "/webhooks",
            &a,
            json!({ "url": format!("{url}/flaky"), "eventTypes": ["operation.finished"] }),
        )
        .await;
    assert_eq!(s, 201, "{flaky}");
    let secret_flaky = flaky["secret"].as_str().expect("secret").to_string();
    let (ok_id, flaky_id) = (
        ok["id"].as_i64().expect("id"),
        flaky["id"].as_i64().expect("id"),
    );
    let (s, listed) = api.get("/webhooks", &a).await;
    assert_eq!(s, 200, "{listed}");
    let items = listed["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{listed}");
    assert!(items.iter().all(|i| i.get("secret").is_none()), "{listed}");
    assert_eq!(items[1]["eventTypes"], json!(["operation.finished"]));

    // A switch on the owner's eUICC, requested by the MNO over ES4.
    let mno = lab.mno(0).expect("mno");
    let out = call(
        &mno,
        &enable(&e0, &iccid(lab, 0, 1), "owner-events-1", None),
    )
    .await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    callback(lab, 0, &out, 60).await;

    // The feed: contiguous ids, the switch's story, every event about the owner's eUICC.
    let feed = api.feed(&a, 1000, None).await;
    let ids: Vec<i64> = feed.iter().map(|e| e["id"].as_i64().expect("id")).collect();
    assert_eq!(ids, (1..=feed.len() as i64).collect::<Vec<_>>(), "{feed:?}");
    assert!(feed.iter().all(|e| e["eid"] == e0.as_str()), "{feed:?}");
    assert!(feed.iter().all(|e| e["time"].is_string()), "{feed:?}");
    let types: BTreeSet<&str> = feed
        .iter()
        .map(|e| e["type"].as_str().expect("type"))
        .collect();
    for t in [
        "operation.created",
        "operation.state_changed",
        "operation.finished",
        "profile.enabled",
        "profile.disabled",
    ] {
        assert!(types.contains(t), "{t} missing in {feed:?}");
    }
    let finished = feed
        .iter()
        .find(|e| e["type"] == "operation.finished" && e["data"]["kind"] == "EnableProfile")
        .expect("the switch finished");
    assert_eq!(finished["data"]["status"], "EXECUTED_SUCCESS", "{finished}");
    assert_eq!(finished["data"]["state"], "Done", "{finished}");
    assert_eq!(finished["data"]["interface"], "ES4", "{finished}");
    let enabled = feed
        .iter()
        .find(|e| e["type"] == "profile.enabled")
        .expect("enabled");
    assert_eq!(enabled["data"]["iccid"], iccid(lab, 0, 1).as_str());
    assert_eq!(api.feed(&a, 1, None).await, feed);
    let only: Vec<Value> = feed
        .iter()
        .filter(|e| e["type"] == "profile.enabled" || e["type"] == "profile.disabled")
        .cloned()
        .collect();
    assert_eq!(
        api.feed(&a, 2, Some("profile.enabled,profile.disabled"))
            .await,
        only
    );
    for bad in ["/events?after=-1", "/events?limit=0", "/events?types=x.y"] {
        let (s, p) = api.get(bad, &a).await;
        assert_eq!(s, 400, "{bad}: {p}");
    }

    // Every event arrives at /ok, signed: checked by the Python reference library.
    let n = feed.len();
    let got = wait_for(60, "every event at /ok", async || {
        let got = receiver.of("/ok");
        let distinct: BTreeSet<&String> = got
            .iter()
            .filter_map(|g| g.headers.get("webhook-id"))
            .collect();
        (distinct.len() >= n).then_some(got)
    })
    .await;
    let (valid, refused) = python_verify(&secret_ok, &got);
    assert_eq!(refused, 0);
    let by_id: BTreeMap<i64, &Value> = valid
        .iter()
        .map(|v| (v["id"].as_i64().expect("id"), v))
        .collect();
    assert!(by_id.len() >= n);
    for e in &feed {
        assert_eq!(by_id.get(&e["id"].as_i64().expect("id")), Some(&e), "{e}");
    }
    assert!(
        got.iter()
            .all(|g| g.headers.get("content-type").map(String::as_str) == Some("application/json"))
    );
    // The checker is not a rubber stamp: a changed body, or another secret, is refused.
    let mut tampered = got[0].clone();
    tampered.body = tampered.body.replacen("\"eid\"", "\"eid\" ", 1);
    assert_ne!(tampered.body, got[0].body);
    let (_, refused) = python_verify(&secret_ok, &[tampered]);
    assert_eq!(refused, 1);
    let (valid, refused) = python_verify(&secret_flaky, &got[..1]);
    assert_eq!((valid.len(), refused), (0, 1));

    // The second owner sees none of it and can touch none of it.
    let (s, page) = api.get("/events", &b).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["items"], json!([]), "{page}");
    let (s, list) = api.get("/webhooks", &b).await;
    assert_eq!((s, list["items"].clone()), (200, json!([])));
    for path in [
        format!("/webhooks/{ok_id}/deliveries"),
        format!("/webhooks/{flaky_id}/deliveries"),
    ] {
        let (s, p) = api.get(&path, &b).await;
        assert_eq!(s, 404, "{p}");
    }
    let (s, _) = api
        .post(&format!("/webhooks/{ok_id}/replay?event=1"), &b, json!({}))
        .await;
    assert_eq!(s, 404);
    let (s, _) = api
        .send(
            reqwest::Method::DELETE,
            &format!("/webhooks/{ok_id}"),
            &b,
            None,
        )
        .await;
    assert_eq!(s, 404);

    // The failing endpoint: each of its deliveries retried until the retry window ended, every attempt logged.
    let wanted = feed
        .iter()
        .filter(|e| e["type"] == "operation.finished")
        .count();
    let dead = wait_for(120, "the flaky deliveries given up", async || {
        let (s, page) = api
            .get(&format!("/webhooks/{flaky_id}/deliveries"), &a)
            .await;
        assert_eq!(s, 200, "{page}");
        let items = page["items"].as_array().expect("items").clone();
        (items.len() == wanted && items.iter().all(|d| d["state"] == "Dead")).then_some(items)
    })
    .await;
    for d in &dead {
        assert_eq!(d["eventType"], "operation.finished", "{d}");
        let attempts = d["attempts"].as_array().expect("attempts");
        assert!(attempts.len() >= 2, "{d}");
        assert!(attempts.iter().all(|a| a["error"].is_string()), "{d}");
    }
    let attempts: usize = dead
        .iter()
        .flat_map(|d| d["attempts"].as_array().expect("attempts").iter())
        .filter(|a| a["status"] == 500)
        .count();
    assert_eq!(receiver.refused.load(Ordering::SeqCst), attempts);
    assert!(receiver.of("/flaky").is_empty());

    // Replays: of a delivery, and of an event by its id in the feed.
    receiver.failing.store(false, Ordering::SeqCst);
    let first = dead[0]["id"].as_i64().expect("id");
    let (s, replay) = api
        .post(
            &format!("/webhooks/{flaky_id}/deliveries/{first}/replay"),
            &a,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{replay}");
    assert_eq!(replay["replayOf"], first);
    let event_id = finished["id"].as_i64().expect("id");
    let (s, replay2) = api
        .post(
            &format!("/webhooks/{flaky_id}/replay?event={event_id}"),
            &a,
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{replay2}");
    assert_eq!(replay2["eventId"], event_id);
    let (s, p) = api
        .post(
            &format!("/webhooks/{flaky_id}/replay?event=999999"),
            &a,
            json!({}),
        )
        .await;
    assert_eq!(s, 404, "{p}");
    let got = wait_for(60, "the replays at /flaky", async || {
        let got = receiver.of("/flaky");
        (got.len() >= 2).then_some(got)
    })
    .await;
    let (valid, refused) = python_verify(&secret_flaky, &got);
    assert_eq!(refused, 0);
    let mut replayed: Vec<i64> = valid
        .iter()
        .map(|v| v["id"].as_i64().expect("id"))
        .collect();
    replayed.sort();
    let mut expected = vec![dead[0]["eventId"].as_i64().expect("id"), event_id];
    expected.sort();
    assert_eq!(replayed, expected);
    let delivered = wait_for(30, "the replays marked delivered", async || {
        let (_, page) = api
            .get(
                &format!("/webhooks/{flaky_id}/deliveries?after={first}"),
                &a,
            )
            .await;
        let items = page["items"].as_array().expect("items").clone();
        let replays: Vec<Value> = items
            .into_iter()
            .filter(|d| d["replayOf"].is_i64())
            .collect();
        (replays.len() == 2 && replays.iter().all(|d| d["state"] == "Delivered")).then_some(replays)
    })
    .await;
    for d in &delivered {
        assert_eq!(d["attempts"][0]["status"], 200, "{d}");
    }

    // Idempotency-Key on the webhook POSTs. A registration's secret is shown once and not kept: its repeat is
    // a 409 saying the key was used, and registers nothing more.
    let reg = json!({ "url": format!("{url}/ok"), "eventTypes": ["profile.deleted"] });
    let (s, first, _) = api.post_keyed("/webhooks", &a, reg.clone(), "reg-1").await;
    assert_eq!(s, 201, "{first}");
    let first: Value = serde_json::from_str(&first).expect("JSON");
    let secret = first["secret"].as_str().expect("secret");
    let (s, again, ctype) = api.post_keyed("/webhooks", &a, reg.clone(), "reg-1").await;
    assert_eq!(s, 409, "{again}");
    assert!(ctype.starts_with("application/problem+json"), "{ctype}");
    assert!(!again.contains(secret), "{again}");
    let again: Value = serde_json::from_str(&again).expect("JSON");
    assert!(
        again["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("idempotency-key-used")),
        "{again}"
    );
    let (_, list) = api.get("/webhooks", &a).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 3, "{list}");
    let (s, _) = api
        .send(
            reqwest::Method::DELETE,
            &format!("/webhooks/{}", first["id"]),
            &a,
            None,
        )
        .await;
    assert_eq!(s, 204);
    // A replay: eight concurrent first uses of one key, then a repeat, give one answer and one delivery.
    let deliveries = async || {
        let (s, page) = api
            .get(&format!("/webhooks/{ok_id}/deliveries?limit=1000"), &a)
            .await;
        assert_eq!(s, 200, "{page}");
        page["items"].as_array().expect("items").len()
    };
    let before = deliveries().await;
    let replay_path = format!("/webhooks/{ok_id}/replay?event=1");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let api = Api {
            http: api.http.clone(),
            base: api.base.clone(),
        };
        let (path, token) = (replay_path.clone(), a.clone());
        tasks.spawn(async move { api.post_keyed(&path, &token, json!({}), "replay-1").await });
    }
    let answers = tasks.join_all().await;
    let (s, body, _) = &answers[0];
    assert_eq!(*s, 202, "{body}");
    for (s2, b2, _) in &answers {
        assert_eq!((s2, b2), (s, body), "the same answer to every first use");
    }
    let (s2, b2, _) = api
        .post_keyed(&replay_path, &a, json!({}), "replay-1")
        .await;
    assert_eq!((&s2, &b2), (s, body));
    assert_eq!(deliveries().await, before + 1, "one replay queued");
    let (s, p, _) = api
        .post_keyed(&replay_path, &a, json!({ "x": 1 }), "replay-1")
        .await;
    assert_eq!(s, 400, "{p}");

    // Deleting an endpoint.
    let (s, _) = api
        .send(
            reqwest::Method::DELETE,
            &format!("/webhooks/{ok_id}"),
            &a,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (_, list) = api.get("/webhooks", &a).await;
    assert_eq!(list["items"].as_array().expect("items").len(), 1);
    handle.stop(true).await;
}

fn options(o: &mut rsp::lab::LabOptions) {
    // Long enough for two attempts (backoff from 1 s) even when a loaded machine delays the first one.
    o.esm2m.webhook_retry_secs = 20;
}

#[actix_web::test]
async fn events_and_webhooks_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, options).await;
    scenario(&lab).await;
    lab.stop().await;
}

#[actix_web::test]
async fn events_and_webhooks_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        options(o);
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    scenario(&lab).await;
    lab.stop().await;
}
