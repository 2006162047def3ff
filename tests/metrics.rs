//! `/metrics` and `/health/ready` of both servers in a real lab (issue 14 item 4): the text passes
//! `promtool check metrics` (Debian's `prometheus` package, fetched by testkit) before and after a profile
//! switch (ES4.EnableProfile over SMS to the simulator), and the switch moves the counters it should — the
//! function call with its status, the operation's states, submit_sm, the PoR and its latency histogram. The
//! SM-DP shows its warehouse stock. `/health/ready` turns 503 when the SMSC goes away. On SQLite and
//! PostgreSQL.

mod support;

use std::collections::HashMap;

use es_interfaces::status::Status;
use rsp::lab::Lab;
use smdp::warehouse::import::{self, FileSource};
use smdp::warehouse::profile_types::{self, ProfileTypeSpec};
use support::*;

/// The samples of a Prometheus text exposition: `name{labels}` (as written) → value.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The value of the sample of `name` whose labels include every `labels` pair (0 when there is none).
fn value(s: &HashMap<String, f64>, name: &str, labels: &[(&str, &str)]) -> f64 {
    s.iter()
        .filter(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series.as_str(), ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| *v)
        .sum()
}

async fn get(url: &str) -> (u16, String) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

/// Scrapes `/metrics` at `addr` and checks it with promtool.
async fn scrape(addr: std::net::SocketAddr, what: &str) -> HashMap<String, f64> {
    let (status, text) = get(&format!("http://{addr}/metrics")).await;
    assert_eq!(status, 200, "{what}: {text}");
    if let Err(report) = testkit::promtool_check_metrics(&text) {
        panic!("{what}: {report}\n{text}");
    }
    samples(&text)
}

/// Adds a profile type with 3 records and a low-stock threshold of 5 to the SM-DP of MNO 1.
fn stock(lab: &Lab, dir: &std::path::Path) -> String {
    let mno = lab.world.manifest.mnos[0].entity.oid.clone();
    {
        let mut c = lab.smdp.store.conn().expect("conn");
        profile_types::add(
            &mut c,
            &ProfileTypeSpec {
                mno_oid: mno.clone(),
                name: "metrics-usim".into(),
                template: smdp::saip::sample::usim_template_der(),
                required_memory: 1000,
                target_platform: "generic".into(),
                low_stock_threshold: 5,
                pol2: None,
            },
            eis_store::now_millis(),
        )
        .expect("profile type");
    }
    let mut csv = String::from("ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1,MSISDN\n");
    for i in 0..3u32 {
        let body = format!("89882991990000000{i}");
        let iccid = format!(
            "{body}{}",
            smdp::saip::coding::luhn_check_digit(&body).expect("digits")
        );
        csv.push_str(&format!(
            "{iccid},00101990000000{i},{:032X},{:032X},1234,12345678,5678,87654321,0000000{i},447700900{i}\n",
            i + 1,
            i + 7
        ));
    }
    let path = dir.join("metrics-usim.csv");
    std::fs::write(&path, csv).expect("order file");
    import::import_order(
        &lab.smdp.store,
        &lab.smdp.keyring,
        &mno,
        "metrics-usim",
        &FileSource { path },
        smdp::batch::BatchFormat::Csv,
        &mut |_| {},
    )
    .expect("import");
    mno
}

async fn metrics_flow(lab: &Lab, dir: &std::path::Path) {
    let smsr_addr = lab.smsr_metrics.expect("SM-SR metrics listener");
    let smdp_addr = lab.smdp_metrics.expect("SM-DP metrics listener");

    // Readiness: the database and (SM-SR) the SMSC bind.
    for (addr, smsc) in [(smsr_addr, true), (smdp_addr, false)] {
        let (status, body) = get(&format!("http://{addr}/health/ready")).await;
        assert_eq!(status, 200, "{body}");
        let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        assert_eq!(doc["ready"], true, "{doc}");
        assert_eq!(doc["database"]["up"], true, "{doc}");
        if smsc {
            assert_eq!(doc["smsc"]["up"], true, "{doc}");
            assert!(doc["smsc"]["bindsUp"].as_u64() >= Some(1), "{doc}");
        } else {
            assert!(doc.get("smsc").is_none(), "{doc}");
        }
        let (status, body) = get(&format!("http://{addr}/health")).await;
        assert_eq!((status, body.as_str()), (200, "ok\n"));
    }

    let before = scrape(smsr_addr, "SM-SR before the switch").await;
    assert_eq!(value(&before, "rsp_database_up", &[]), 1.0);
    let es4_enable = [
        ("interface", "ES4"),
        ("function", "EnableProfile"),
        ("status", "accepted"),
    ];
    let op = |state| [("kind", "EnableProfile"), ("state", state)];
    let por = [("kind", "por"), ("outcome", "handled")];

    // The switch, as platform_e2e does it.
    let mno = lab.mno(0).expect("mno");
    let (e, p2) = (eid(lab, 0), iccid(lab, 0, 1));
    let out = call(&mno, &enable(&e, &p2, "metrics-enable-p2", None)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(lab, 0, &out, 30).await;
    assert_status(cb.status(), Status::ExecutedSuccess, None);

    let after = scrape(smsr_addr, "SM-SR after the switch").await;
    let delta = |name: &str, labels: &[(&str, &str)]| {
        value(&after, name, labels) - value(&before, name, labels)
    };
    assert_eq!(delta("rsp_function_calls_total", &es4_enable), 1.0);
    assert_eq!(
        delta(
            "rsp_function_call_duration_seconds_count",
            &[("interface", "ES4"), ("function", "EnableProfile")]
        ),
        1.0
    );
    assert_eq!(delta("rsp_smsr_operations_total", &op("Active")), 1.0);
    assert_eq!(
        delta("rsp_smsr_operations_total", &op("AwaitingNotification")),
        1.0
    );
    assert_eq!(delta("rsp_smsr_operations_total", &op("Done")), 1.0);
    // The enable command and the confirmation of the eUICC's notification, at least.
    assert!(delta("rsp_smsr_submit_sm_total", &[("result", "ok")]) >= 2.0);
    assert!(delta("rsp_smsr_mo_packets_total", &por) >= 1.0);
    assert!(
        delta(
            "rsp_smsr_mo_packets_total",
            &[("kind", "notification"), ("outcome", "handled")]
        ) >= 1.0
    );
    assert!(delta("rsp_smsr_por_latency_seconds_count", &[]) >= 1.0);
    assert!(delta("rsp_smsr_por_latency_seconds_sum", &[]) > 0.0);
    assert_eq!(
        value(&after, "rsp_smsr_smpp_binds", &[("state", "configured")]),
        1.0
    );
    assert_eq!(
        value(&after, "rsp_smsr_smpp_binds", &[("state", "up")]),
        1.0
    );
    assert!(value(&after, "rsp_db_pool_max_connections", &[("pool", "main")]) >= 1.0);
    // The API's read connections are a pool of their own on PostgreSQL only (SQLite reads from the main one).
    let reads = after
        .keys()
        .any(|k| k.starts_with("rsp_db_pool_max_connections{pool=\"reads\"}"));
    match lab.smsr.store.backend() {
        eis_store::Backend::Postgres => assert_eq!(
            value(&after, "rsp_db_pool_max_connections", &[("pool", "reads")]),
            f64::from(eis_store::READ_POOL_SIZE)
        ),
        eis_store::Backend::Sqlite => assert!(!reads, "no read pool on SQLite"),
    }
    assert!(after.keys().any(|k| k.starts_with("rsp_outbox_messages{")));
    assert!(
        after
            .keys()
            .any(|k| k.starts_with("rsp_smsr_es5_commands{"))
    );

    // The SM-DP: its own registry, the warehouse's stock.
    let mno_oid = stock(lab, dir);
    let smdp = scrape(smdp_addr, "SM-DP").await;
    assert_eq!(value(&smdp, "rsp_database_up", &[]), 1.0);
    let t = [("mno", mno_oid.as_str()), ("profile_type", "metrics-usim")];
    let with = |state| [t[0], t[1], ("state", state)];
    assert_eq!(
        value(&smdp, "rsp_smdp_stock_records", &with("available")),
        3.0
    );
    assert_eq!(
        value(&smdp, "rsp_smdp_stock_records", &with("reserved")),
        0.0
    );
    assert_eq!(value(&smdp, "rsp_smdp_stock_low_threshold", &t), 5.0);
    assert_eq!(
        value(&smdp, "rsp_smdp_downloads", &[("phase", "CleanupFailed")]),
        0.0
    );
    assert!(
        !smdp.keys().any(|k| k.starts_with("rsp_smsr_")),
        "the SM-DP shows no SM-SR metric"
    );

    // The SMSC goes away: the SM-SR is no longer ready and says why; its gauge shows no bind up.
    lab.network.smsc().shutdown().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let doc = loop {
        let (status, body) = get(&format!("http://{smsr_addr}/health/ready")).await;
        if status == 503 {
            break serde_json::from_str::<serde_json::Value>(&body).expect("JSON");
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            std::time::Instant::now() < deadline,
            "still ready 20 s after the SMSC stopped: {body}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert_eq!(doc["ready"], false, "{doc}");
    assert_eq!(doc["database"]["up"], true, "{doc}");
    assert_eq!(doc["smsc"]["up"], false, "{doc}");
    assert_eq!(doc["smsc"]["bindsUp"], 0, "{doc}");
    // Past the gauges' refresh interval.
    tokio::time::sleep(es_runtime::metrics::REFRESH_INTERVAL).await;
    let down = scrape(smsr_addr, "SM-SR without SMSC").await;
    assert_eq!(value(&down, "rsp_smsr_smpp_binds", &[("state", "up")]), 0.0);
}

#[actix_web::test]
async fn metrics_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |_| {}).await;
    metrics_flow(&lab, dir.path()).await;
    lab.stop().await;
}

#[actix_web::test]
async fn metrics_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    metrics_flow(&lab, dir.path()).await;
    lab.stop().await;
}
