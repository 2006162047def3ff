//! The MNOs' REST API over mutual TLS, on both backends: profile types, streamed order upload (CSV and `.out`),
//! orders, stock and the output file; each MNO sees only its own; errors are RFC 9457 problem+json.
mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use certs::ecc::PrivateKey;
use certs::world::{World, WorldOptions};
use common::*;
use eis_store::entities::{self, Entity, EntityRole};
use es_runtime::caller::CallerDirectory;
use es_runtime::clock::SystemClock;
use es_runtime::listener::{self, ListenerConfig};
use es_runtime::soap_endpoint::ServerIdentity;
use serde_json::{Value, json};
use smdp::rest::{self, RestConfig};
use smdp::service::Smdp;
use smdp::warehouse::{export, stock};

fn register(store: &eis_store::Store, world: &World, oid: &str, role: EntityRole, cert: &[u8]) {
    let mut c = store.conn().expect("conn");
    let fp = certs::x509::X509Certificate::from_der(cert)
        .expect("cert")
        .sha256_fingerprint();
    entities::create_entity(
        &mut c,
        &Entity {
            oid: oid.into(),
            role,
            name: oid.into(),
            endpoints: Default::default(),
            allowed_interfaces: ["REST".to_owned()].into(),
            gp_certificate: None,
            fingerprints: [fp].into(),
        },
        1,
    )
    .expect("register");
    let _ = world;
}

fn client(world: &World, cert: &str, key: &str) -> reqwest::Client {
    let read = |rel: &str| std::fs::read(world.dir.join(rel)).expect("read PKI file");
    let ca = read(&world.manifest.tls_ca.cert);
    let identity = reqwest::Identity::from_pkcs8_pem(&read(cert), &read(key)).expect("identity");
    reqwest::Client::builder()
        .tls_backend_native()
        .identity(identity)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).expect("CA"))
        .timeout(Duration::from_secs(120))
        .build()
        .expect("client")
}

async fn problem(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let v: Value = resp.json().await.expect("problem JSON");
    assert_eq!(v["status"], status);
    assert!(
        v["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("urn:rsp:problem:"))
    );
    assert!(v["title"].is_string() && v["detail"].is_string());
    v
}

fn out_file(rows: &[String]) -> String {
    let mut s = format!(
        "***************************************\n\
         *          HEADER DESCRIPTION\n\
         ***************************************\n\
         Customer:        Example Telecom\n\
         Quantity:        {}\n\
         Type:            EXAMPLE\n\
         ***************************************\n\
         *          INPUT VARIABLES DESCRIPTION\n\
         ***************************************\n\
         Var_In_List: \n\
         IMSI:001010000000001\n\
         \n\
         OUTPUT VARIABLES\n\
         var_out:ICCID/IMSI/PIN1/PUK1/PIN2/PUK2/ADM1/KI/OPC\n",
        rows.len()
    );
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

both_backends!(rest_api_per_mno, 4, |db| {
    let dir = tempfile::tempdir().expect("dir");
    let world = certs::world::generate(
        &dir.path().join("pki"),
        &WorldOptions {
            seed: Some(7),
            ..WorldOptions::new(0, time::OffsetDateTime::now_utc())
        },
    )
    .expect("world");
    let m = world.manifest.clone();
    let (mno1, mno2) = (&m.mnos[0], &m.mnos[1]);
    let store = db.store;
    register(
        &store,
        &world,
        &mno1.entity.oid,
        EntityRole::Mno,
        world.mno_tls_clients[0].cert.der(),
    );
    register(
        &store,
        &world,
        &mno2.entity.oid,
        EntityRole::Mno,
        world.mno_tls_clients[1].cert.der(),
    );
    register(
        &store,
        &world,
        &m.sm_sr.oid,
        EntityRole::SmSr,
        world.sm_sr_tls_client.cert.der(),
    );
    let keys = Arc::new(keyring());
    let smdp = Arc::new(Smdp {
        identity: ServerIdentity {
            oid: m.sm_dp.oid.clone(),
            name: m.sm_dp.name.clone(),
            public_url: "https://localhost".into(),
        },
        store: Arc::new(store),
        keyring: keys.clone(),
        callers: CallerDirectory::new(Duration::from_secs(30)),
        clock: Arc::new(SystemClock),
        es3: None,
        outbox_give_up: Duration::from_secs(60),
        outgoing: Default::default(),
        wake_outbox: Arc::new(tokio::sync::Notify::new()),
        download: None,
        wake_downloads: Arc::new(tokio::sync::Notify::new()),
        metrics: Arc::new(smdp::metrics::SmdpMetrics::new().expect("metrics")),
    });
    let spool = tempfile::tempdir().expect("spool");
    let config = RestConfig {
        max_upload_bytes: 4 << 20,
        max_spool_bytes: 3 << 20,
        spool_dir: Some(spool.path().to_path_buf()),
        ..RestConfig::default()
    };
    let routes = {
        let smdp = smdp.clone();
        move |c: &mut actix_web::web::ServiceConfig| {
            rest::configure(c, smdp.clone(), config.clone())
        }
    };
    let one = client(&world, &mno1.tls_client.cert, &mno1.tls_client.key);
    let two = client(&world, &mno2.tls_client.cert, &mno2.tls_client.key);
    let smsr = client(&world, &m.sm_sr_tls_client.cert, &m.sm_sr_tls_client.key);
    let mno1_oid = mno1.entity.oid.clone();

    actix_web::rt::System::new().block_on(async move {
        let running = listener::start(
            routes,
            &ListenerConfig {
                listen: "127.0.0.1:0".into(),
                tls_cert: world.dir.join(&m.sm_dp_tls_server.cert),
                tls_key: world.dir.join(&m.sm_dp_tls_server.key),
                client_ca: world.dir.join(&m.tls_ca.cert),
                workers: 2,
            },
        )
        .expect("listener");
        let base = format!("https://localhost:{}/api/v1", running.addrs[0].port());
        let handle = running.handle.clone();
        actix_web::rt::spawn(running.server);

        // Profile types: the sample template is accepted, a broken one refused with the element at fault.
        let template = base64::engine::general_purpose::STANDARD.encode(smdp::saip::sample::usim_template_der());
        let r = one
            .post(format!("{base}/profile-types"))
            .json(&json!({"name": "usim", "template": template, "requiredMemory": 32768, "lowStockThreshold": 2,
                "pol2": "disable:auto-delete"}))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 201);
        let info: Value = r.json().await.expect("json");
        assert_eq!((info["name"].as_str(), info["mnoOid"].as_str()), (Some("usim"), Some(mno1_oid.as_str())));
        assert_eq!(info["pol2"], "DISABLE:Auto-Delete", "stored in its canonical spelling");
        // A POL2 the SM-SR would not act on: 400 with the reason, nothing added.
        let r = one
            .post(format!("{base}/profile-types"))
            .json(&json!({"name": "bad-pol2", "template": template, "requiredMemory": 32768,
                "pol2": "ENABLE:Auto-Delete"}))
            .send()
            .await
            .expect("send");
        let p = problem(r, 400).await;
        assert_eq!(p["detail"], "invalid POL2: Auto-Delete applies to DISABLE only, not to ENABLE", "{p}");
        let types: Value = one.get(format!("{base}/profile-types")).send().await.expect("send").json().await.expect("json");
        assert_eq!(types.as_array().map(|t| t.iter().map(|t| t["name"].clone()).collect::<Vec<_>>()), Some(vec![json!("usim")]));
        let mut broken = smdp::saip::sample::usim_template_der();
        broken.truncate(broken.len() - 5);
        let r = one
            .post(format!("{base}/profile-types"))
            .json(&json!({"name": "broken", "template": base64::engine::general_purpose::STANDARD.encode(broken), "requiredMemory": 1}))
            .send()
            .await
            .expect("send");
        let p = problem(r, 422).await;
        assert_eq!(p["type"], "urn:rsp:problem:invalid-template");
        assert!(p["detail"].as_str().unwrap().contains("offset"), "{p}");
        let r = one
            .post(format!("{base}/profile-types"))
            .json(&json!({"name": "usim", "template": template, "requiredMemory": 32768}))
            .send()
            .await
            .expect("send");
        problem(r, 409).await;

        // Upload a CSV order (streamed), then a .out order sniffed without a content type.
        let r = one
            .post(format!("{base}/profile-types/usim/orders?filename=first.csv"))
            .header("content-type", "text/csv")
            .body(csv_file(11, 0..2_000))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 201);
        let report: Value = r.json().await.expect("json");
        assert_eq!(report["rows"], 2_000);
        let order_id = report["orderId"].as_i64().expect("order id");
        let out_rows: Vec<String> = (0..3)
            .map(|i| {
                let f: Vec<String> = row(12, i).split(',').map(str::to_owned).collect();
                // ICCID IMSI PIN1 PUK1 PIN2 PUK2 ADM1 KI OPC
                [&f[0], &f[1], &f[4], &f[5], &f[6], &f[7], &f[8], &f[2], &f[3]]
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        let r = one
            .post(format!("{base}/profile-types/usim/orders?filename=vendor.out"))
            .body(out_file(&out_rows))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 201, "{:?}", r.text().await);

        // A bad file: refused with the rows named, nothing stored.
        let mut bad = String::from_utf8(csv_file(13, 0..5)).unwrap();
        bad = bad.replacen(",1234,", ",12,", 2);
        bad.push_str(&row(11, 7));
        bad.push('\n');
        let r = one
            .post(format!("{base}/profile-types/usim/orders"))
            .header("content-type", "text/csv")
            .body(bad)
            .send()
            .await
            .expect("send");
        let p = problem(r, 422).await;
        assert_eq!(p["type"], "urn:rsp:problem:order-file-refused");
        let lines: Vec<(u64, String)> = p["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_str().unwrap_or("").to_owned()))
            .collect();
        assert_eq!(
            lines,
            [
                (2, "PIN1".to_owned()),
                (3, "PIN1".to_owned()),
                (7, "ICCID".to_owned()),
                (7, "IMSI".to_owned())
            ]
        );
        assert_eq!((p["totalProblems"].as_u64(), p["badLines"].as_u64()), (Some(4), Some(3)));

        // Limits: a body announced over max_upload_bytes is refused unread (413); one under it but over what
        // the spool may hold in all is refused while spooling (507); neither stores anything.
        for (size, status, kind) in [
            (5 << 20, 413, "urn:rsp:problem:too-large"),
            ((3 << 20) + 1, 507, "urn:rsp:problem:spool-full"),
        ] {
            let r = one
                .post(format!("{base}/profile-types/usim/orders"))
                .header("content-type", "text/csv")
                .body(vec![b'1'; size])
                .send()
                .await
                .expect("send");
            let p = problem(r, status).await;
            assert_eq!(p["type"], kind, "{p}");
        }

        // Stock: each MNO sees only its own.
        let s: Value = one.get(format!("{base}/stock")).send().await.expect("send").json().await.expect("json");
        assert_eq!(s[0]["available"], 2_003);
        assert_eq!(s[0]["lowStockThreshold"], 2);
        let s: Value = two.get(format!("{base}/stock")).send().await.expect("send").json().await.expect("json");
        assert_eq!(s, json!([]));
        let s: Value = two.get(format!("{base}/profile-types")).send().await.expect("send").json().await.expect("json");
        assert_eq!(s, json!([]));
        let r = two
            .post(format!("{base}/profile-types/usim/orders"))
            .header("content-type", "text/csv")
            .body(csv_file(14, 0..2))
            .send()
            .await
            .expect("send");
        assert_eq!(problem(r, 404).await["type"], "urn:rsp:problem:not-found");
        let o: Value = one.get(format!("{base}/orders/{order_id}")).send().await.expect("send").json().await.expect("json");
        assert_eq!((o["rows"].as_i64(), o["sourceFile"].as_str()), (Some(2_000), Some("first.csv")));
        problem(two.get(format!("{base}/orders/{order_id}")).send().await.expect("send"), 404).await;
        problem(one.get(format!("{base}/orders/abc")).send().await.expect("send"), 400).await;
        problem(one.get(format!("{base}/nothing-here")).send().await.expect("send"), 404).await;

        // Output file: two records installed (through the stock API, as ES2.DownloadProfile will).
        {
            let smdp = smdp.clone();
            actix_web::web::block(move || {
                let mut c = smdp.store.conn().expect("conn");
                for i in 0..2 {
                    let r = stock::reserve(&mut c, &mno1_oid, stock::Selector::ProfileType("usim"), &eid(i), 5).expect("reserve");
                    stock::start_download(&mut c, &r.iccid, &r.eid, 6).expect("download");
                    stock::mark_installed(&mut c, &r.iccid, &r.eid, 7).expect("install");
                }
            })
            .await
            .expect("block");
        }
        let r = one.get(format!("{base}/profile-types/usim/installed")).send().await.expect("send");
        assert_eq!(r.status().as_u16(), 200);
        let csv = r.text().await.expect("text");
        assert_eq!(csv.lines().count(), 3, "{csv}");
        assert!(csv.lines().nth(1).unwrap().starts_with(&format!("{},", iccid(11, 0))));
        assert!(!csv.contains("SECRETS"));
        problem(two.get(format!("{base}/profile-types/usim/installed")).send().await.expect("send"), 404).await;

        // With secrets: for the caller's own certificate only; decrypts with its key.
        let own_pem = std::fs::read_to_string(world.dir.join(&mno1.tls_client.cert)).expect("pem");
        let other_pem = std::fs::read_to_string(world.dir.join(&mno2.tls_client.cert)).expect("pem");
        let r = one.post(format!("{base}/profile-types/usim/installed")).body(other_pem).send().await.expect("send");
        assert_eq!(problem(r, 403).await["type"], "urn:rsp:problem:not-own-certificate");
        let r = one
            .post(format!("{base}/profile-types/usim/installed?order={order_id}"))
            .body(own_pem)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status().as_u16(), 200);
        let sealed = r.bytes().await.expect("body");
        let key_pem = std::fs::read_to_string(world.dir.join(&mno1.tls_client.key)).expect("key");
        let key = PrivateKey::from_pkcs8_pem(&key_pem).expect("key");
        let mut clear = Vec::new();
        assert_eq!(export::decrypt(&sealed[..], &key, &mut clear).expect("decrypt"), 2);
        let clear = String::from_utf8(clear).expect("utf8");
        let k0 = row(11, 0).split(',').nth(2).unwrap().to_owned();
        assert!(clear.lines().nth(1).unwrap().contains(&k0), "{clear}");

        // Not an MNO: refused.
        let r = smsr.get(format!("{base}/stock")).send().await.expect("send");
        assert_eq!(problem(r, 403).await["type"], "urn:rsp:problem:forbidden");

        handle.stop(true).await;
    });
});
