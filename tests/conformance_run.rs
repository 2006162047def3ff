//! `rsp conformance` (issue 15, first slice) against our own SM-SR in an in-process lab (SM-SR, SM-DP, test SMSC,
//! eUICC simulator): every applicable case passes, the reports are written and parse (JSON, well-formed JUnit
//! XML, an HTML page naming every case). And the suite can fail: the same SM-SR behind a test-only proxy that
//! answers a wrong reason code for an unknown EID fails exactly the cases that check it (on ES3 and ES4).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use conformance::suite::{self, Direction, Need, RunConfig, Verdict};
use es_runtime::client::SoapClient;
use support::small_lab;

/// Sets the MNOs' ES4 endpoint at the lab's SM-SR to the suite's receiver on a free port (what `rsp conformance
/// init` asks the SUT's operator to do), and registers the receiver for the SM-DP too; returns the receiver's
/// listen address. The lab's own SM-DP has the identity the suite plays on ES3 and needs its "ES3" endpoint (the
/// address of its own callbacks and of the ES3 notifications), so the receiver goes beside it ("ES3-callbacks"):
/// the suite's `wsa:ReplyTo` is allowed, the ES3 notifications still go to the lab's SM-DP (no ES3 case expects
/// one).
fn register_suite_receiver(lab: &rsp::lab::Lab) -> String {
    let port = rsp::lab::free_port().expect("port");
    for mno in &lab.world.manifest.mnos {
        rsp::lab::set_endpoint(
            &lab.smsr.store,
            &mno.entity.oid,
            "ES4",
            &format!("https://127.0.0.1:{port}/es4"),
        )
        .expect("endpoint");
    }
    rsp::lab::set_endpoint(
        &lab.smsr.store,
        &lab.world.manifest.sm_dp.oid,
        "ES3-callbacks",
        &format!("https://127.0.0.1:{port}/es3"),
    )
    .expect("SM-DP endpoint");
    format!("127.0.0.1:{port}")
}

#[actix_web::test]
async fn the_suite_passes_against_our_smsr_and_writes_its_reports_sqlite() {
    passes_and_reports(None).await;
}

#[actix_web::test]
async fn the_suite_passes_against_our_smsr_and_writes_its_reports_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    passes_and_reports(Some(smsr_db.url().to_string())).await;
}

/// Every case passes against the lab's SM-SR (on `smsr_database_url`, default SQLite); the reports parse.
async fn passes_and_reports(smsr_database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    // Three eUICCs; the lab's own MNO receivers are replaced by the suite's.
    let lab = small_lab(&dir, |o| {
        o.world_euiccs = 3;
        o.receivers = None;
        o.smsr_database_url = smsr_database_url.clone();
    })
    .await;
    // The lab registered every eUICC of the world: the last one is taken out again, for ES1 to register it.
    let last = lab.world.euiccs.last().expect("eUICC").eid.clone();
    {
        let mut c = lab.smsr.store.conn().expect("conn");
        eis_store::eis::delete_eis(&mut c, &last).expect("unregister the last eUICC");
    }
    let callback_listen = register_suite_receiver(&lab);
    let cfg = RunConfig {
        peers: lab.world.dir.clone(),
        smsr_url: Some(lab.smsr_url().to_string()),
        smdp_url: Some(lab.smdp_url().to_string()),
        callback_listen,
        features: vec![Need::Es5],
        cases: None,
        callback_timeout: Duration::from_secs(30),
    };
    let report = suite::run(&cfg).await.expect("the suite runs");
    for c in &report.cases {
        eprintln!("{:<14} {:<32} {}", c.verdict.as_str(), c.id, c.reason);
    }
    let bad: Vec<String> = report
        .cases
        .iter()
        .filter(|c| c.verdict != Verdict::Pass)
        .map(|c| format!("{} {}: {}", c.id, c.verdict.as_str(), c.reason))
        .collect();
    assert!(
        bad.is_empty(),
        "cases that did not pass:\n{}",
        bad.join("\n")
    );
    assert_eq!(report.cases.len(), suite::catalogue().len());
    assert_eq!(report.summary.pass, report.cases.len());
    for c in &report.cases {
        assert!(
            c.messages.len() >= 2,
            "{} kept {} message(s)",
            c.id,
            c.messages.len()
        );
    }
    let enable = report
        .cases
        .iter()
        .find(|c| c.id == "ES4-EnableProfile-01")
        .expect("enable case");
    assert!(
        enable
            .messages
            .iter()
            .any(|m| m.kind.contains("ES4-HandleProfileEnabledNotification")),
        "the notification is kept with the case"
    );

    // What the SUT answered, called back and notified validates against the GSMA XSDs (skipped, saying so, when
    // they are absent; the suite itself reports "not validated").
    let from_sut: Vec<String> = report
        .cases
        .iter()
        .flat_map(|c| c.messages.iter())
        .filter(|m| {
            m.direction == Direction::FromSut && !m.body.is_empty() && m.http_status != Some(400)
        })
        .map(|m| m.body.clone())
        .collect();
    assert!(from_sut.len() > report.cases.len(), "{}", from_sut.len());
    if let Err(why) = testkit::validate_gsma_bodies(&from_sut) {
        panic!("the SUT's messages do not validate:\n{why}");
    }

    // The reports.
    let out = dir.path().join("report");
    let files = suite::report::write(&report, &out).expect("reports");
    assert_eq!(files.len(), 3);
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join(suite::report::JSON_FILE)).expect("json"),
    )
    .expect("the JSON report parses");
    assert_eq!(
        json["summary"]["pass"].as_u64(),
        Some(report.cases.len() as u64)
    );
    assert_eq!(json["cases"][0]["verdict"], "PASS");
    let junit = std::fs::read_to_string(out.join(suite::report::JUNIT_FILE)).expect("junit");
    let doc = es_interfaces::xml::Document::parse(junit.as_bytes()).expect("well-formed JUnit XML");
    assert_eq!(doc.root().local_name(), "testsuites");
    assert_eq!(doc.root().attribute(None, "failures"), Some("0"));
    let testcases: usize = doc
        .root()
        .child_elements()
        .map(|s| {
            s.child_elements()
                .filter(|c| c.local_name() == "testcase")
                .count()
        })
        .sum();
    assert_eq!(testcases, report.cases.len());
    let html = std::fs::read_to_string(out.join(suite::report::HTML_FILE)).expect("html");
    assert!(html.starts_with("<!DOCTYPE html>"));
    for c in &report.cases {
        assert!(html.contains(&c.id), "{} missing from the HTML", c.id);
    }

    // Without the es5 feature, the asynchronous cases are NOT APPLICABLE, the rest still pass (a second run
    // against the same SUT: fresh identifiers, ES1-RegisterEIS-01/02 now inconclusive as every eUICC is known).
    let again = suite::run(&RunConfig {
        features: vec![],
        cases: Some("ES3-*,ES4-*".into()),
        ..cfg
    })
    .await
    .expect("second run");
    let needs_es5 = |id: &str| {
        suite::es3::CASES
            .iter()
            .any(|c| c.id == id && c.needs.contains(&Need::Es5))
    };
    for c in &again.cases {
        let wanted = if c.id.contains("ES4-EnableProfile-01")
            || c.id.contains("ES4-DisableProfile-01")
            || c.id.contains("ES4-AuditEIS-01")
            || c.id.contains("ES4-FunctionCallIdentifier")
            || needs_es5(&c.id)
        {
            Verdict::NotApplicable
        } else {
            Verdict::Pass
        };
        assert_eq!(c.verdict, wanted, "{}: {}", c.id, c.reason);
    }
    lab.stop().await;
}

/// The faulty SUT's front: forwards each request to the SM-SR with the client certificate of the entity its
/// `wsa:From` names (mutual TLS ends here), and answers 8.1.1/3.8 where the SM-SR said 8.1.1/3.9 (unknown EID).
struct FaultyFront {
    smsr_url: String,
    clients: HashMap<String, SoapClient>,
}

async fn faulty_front(
    req: HttpRequest,
    body: web::Bytes,
    front: web::Data<FaultyFront>,
) -> HttpResponse {
    let text = String::from_utf8_lossy(&body).into_owned();
    let Some(client) = front
        .clients
        .iter()
        .find(|(oid, _)| {
            text.contains(&format!("EntityId={oid}&")) || text.contains(&format!("EntityId={oid}<"))
        })
        .map(|(_, c)| c)
    else {
        return HttpResponse::BadRequest().body("no known wsa:From");
    };
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/soap+xml")
        .to_string();
    let url = format!("{}{}", front.smsr_url, req.path());
    match client
        .post_raw(&url, &content_type, &[], body.to_vec())
        .await
    {
        Ok(reply) => {
            let faulty = if reply.body.contains("<rps:Subject>8.1.1</rps:Subject>") {
                reply.body.replace(
                    "<rps:Reason>3.9</rps:Reason>",
                    "<rps:Reason>3.8</rps:Reason>",
                )
            } else {
                reply.body
            };
            HttpResponse::build(
                actix_web::http::StatusCode::from_u16(reply.status)
                    .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY),
            )
            .content_type("application/soap+xml; charset=utf-8")
            .body(faulty)
        }
        Err(e) => HttpResponse::BadGateway().body(e.to_string()),
    }
}

#[actix_web::test]
async fn a_faulty_smsr_fails_the_matching_cases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| o.receivers = None).await;
    let callback_listen = register_suite_receiver(&lab);
    let world = &lab.world;
    let read = |rel: &str| std::fs::read(world.dir.join(rel)).expect("PEM");
    let client = |files: &certs::world::KeyCertFiles| {
        SoapClient::new(
            &read(&files.cert),
            &read(&files.key),
            &read(&world.manifest.tls_ca.cert),
            Duration::from_secs(30),
        )
        .expect("client")
    };
    let mut clients = HashMap::new();
    for m in &world.manifest.mnos {
        clients.insert(m.entity.oid.clone(), client(&m.tls_client));
    }
    clients.insert(
        world.manifest.eum.oid.clone(),
        client(&world.manifest.eum_tls_client),
    );
    clients.insert(
        world.manifest.sm_dp.oid.clone(),
        client(&world.manifest.sm_dp_tls_client),
    );
    let front = web::Data::new(FaultyFront {
        smsr_url: lab.smsr_url().trim_end_matches('/').to_string(),
        clients,
    });
    let (front_url, handle) = lab
        .start_https_endpoint(move |cfg| {
            cfg.app_data(front.clone())
                .default_service(web::to(faulty_front));
        })
        .expect("front");
    let report = suite::run(&RunConfig {
        peers: lab.world.dir.clone(),
        smsr_url: Some(front_url),
        smdp_url: None,
        callback_listen,
        features: vec![Need::Es5],
        // Not ES4-GetEIS-06: the front cannot forward a caller it does not know.
        cases: Some(
            "ES3-GetEIS-01,ES3-GetEIS-02,ES3-CreateISDP-04,\
             ES4-GetEIS-01,ES4-GetEIS-02,ES4-GetEIS-03,ES4-GetEIS-04,ES4-GetEIS-05,ES4-AuditEIS-*"
                .into(),
        ),
        callback_timeout: Duration::from_secs(30),
    })
    .await
    .expect("the suite runs");
    let verdicts: Vec<(&str, Verdict)> = report
        .cases
        .iter()
        .map(|c| (c.id.as_str(), c.verdict))
        .collect();
    assert_eq!(
        verdicts,
        vec![
            ("ES3-GetEIS-01", Verdict::Pass),
            ("ES3-GetEIS-02", Verdict::Fail),
            ("ES3-CreateISDP-04", Verdict::Fail),
            ("ES4-GetEIS-01", Verdict::Pass),
            ("ES4-GetEIS-02", Verdict::Fail),
            ("ES4-GetEIS-03", Verdict::Pass),
            ("ES4-GetEIS-04", Verdict::Pass),
            ("ES4-GetEIS-05", Verdict::Pass),
            ("ES4-AuditEIS-01", Verdict::Pass),
            ("ES4-AuditEIS-02", Verdict::Fail),
        ],
        "{:#?}",
        report
            .cases
            .iter()
            .map(|c| (&c.id, &c.reason))
            .collect::<Vec<_>>()
    );
    let failed = &report.cases[4];
    assert_eq!(failed.id, "ES4-GetEIS-02");
    assert!(
        failed.reason.contains("expected FAILED 8.1.1/3.9") && failed.reason.contains("8.1.1/3.8"),
        "{}",
        failed.reason
    );
    assert!(!report.all_passed());
    let out = dir.path().join("report");
    suite::report::write(&report, &out).expect("reports");
    let junit = std::fs::read_to_string(out.join(suite::report::JUNIT_FILE)).expect("junit");
    let doc = es_interfaces::xml::Document::parse(junit.as_bytes()).expect("well-formed JUnit XML");
    assert_eq!(doc.root().attribute(None, "failures"), Some("4"));
    let html = std::fs::read_to_string(out.join(suite::report::HTML_FILE)).expect("html");
    let first_fail = html
        .find("href=\"#ES4-GetEIS-02\"")
        .expect("failure listed");
    assert!(
        first_fail < html.find("href=\"#ES4-GetEIS-01\"").expect("pass listed"),
        "failures first"
    );
    handle.stop(true).await;
    lab.stop().await;
}

#[test]
fn the_cli_lists_the_catalogue_and_makes_a_peers_directory() {
    let rsp = env!("CARGO_BIN_EXE_rsp");
    let out = std::process::Command::new(rsp)
        .args(["conformance", "list"])
        .output()
        .expect("rsp conformance list");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let es1 = suite::es1::CASES.len();
    let es3 = suite::es3::CASES.len();
    let es4 = suite::es4::CASES.len();
    assert!(
        text.contains(&format!(
            "{} cases: ES1 {es1}, ES3 {es3}, ES4 {es4}",
            es1 + es3 + es4
        )),
        "{text}"
    );
    for c in suite::catalogue() {
        assert!(text.contains(c.id), "{} missing: {text}", c.id);
    }
    let json = std::process::Command::new(rsp)
        .args(["conformance", "list", "--json"])
        .output()
        .expect("rsp conformance list --json");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON catalogue");
    assert_eq!(v.as_array().map(|a| a.len()), Some(es1 + es3 + es4));

    let dir = tempfile::tempdir().expect("tempdir");
    let peers = dir.path().join("peers");
    let out = std::process::Command::new(rsp)
        .args(["conformance", "init", "--peers"])
        .arg(&peers)
        .args(["--euiccs", "2", "--callback-listen", "127.0.0.1:9555"])
        .output()
        .expect("rsp conformance init");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let world = certs::world::World::load(&peers).expect("a world");
    assert_eq!(world.euiccs.len(), 2);
    for mno in &world.manifest.mnos {
        assert!(
            text.contains(&format!(
                "rsp entity set-endpoint --oid {} --interface ES4 --url https://127.0.0.1:9555/es4",
                mno.entity.oid
            )),
            "{text}"
        );
    }
    assert!(
        text.contains(&format!(
            "rsp entity set-endpoint --oid {} --interface ES3 --url https://127.0.0.1:9555/es3",
            world.manifest.sm_dp.oid
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}: leave UNREGISTERED", world.euiccs[1].eid)),
        "{text}"
    );
}
