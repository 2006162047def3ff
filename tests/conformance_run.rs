//! `rsp conformance` (issue 15, first slice) against our own SM-SR in an in-process lab (SM-SR, SM-DP, test SMSC,
//! eUICC simulator): every applicable case passes, the reports are written and parse (JSON, well-formed JUnit
//! XML, an HTML page naming every case). And the suite can fail: the same SM-SR behind a test-only proxy that
//! answers a wrong reason code for an unknown EID fails exactly the cases that check it.

mod support;

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use conformance::suite::{self, Direction, Need, RunConfig, Verdict};
use es_runtime::client::SoapClient;
use support::small_lab;

/// Sets the MNOs' ES4 endpoint at the lab's SM-SR to the suite's receiver on a free port (what `rsp conformance
/// init` asks the SUT's operator to do); returns the receiver's listen address.
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
        // The ES5 cases need the suite to play the SMSC: the_suite_plays_the_smsc_* below.
        cases: Some("ES1-*,ES4-*".into()),
        callback_timeout: Duration::from_secs(30),
        smsc: None,
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
    assert_eq!(
        report.cases.len(),
        suite::catalogue()
            .iter()
            .filter(|c| c.interface != "ES5")
            .count()
    );
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
        cases: Some("ES4-*".into()),
        ..cfg
    })
    .await
    .expect("second run");
    for c in &again.cases {
        let wanted = if c.id.contains("EnableProfile-01")
            || c.id.contains("DisableProfile-01")
            || c.id.contains("AuditEIS-01")
            || c.id.contains("FunctionCallIdentifier")
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
            "ES4-GetEIS-01,ES4-GetEIS-02,ES4-GetEIS-03,ES4-GetEIS-04,ES4-GetEIS-05,ES4-AuditEIS-*"
                .into(),
        ),
        callback_timeout: Duration::from_secs(30),
        smsc: None,
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
    let failed = &report.cases[1];
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
    assert_eq!(doc.root().attribute(None, "failures"), Some("2"));
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
    let es4 = suite::es4::CASES.len();
    let es5 = suite::es5::CASES.len();
    assert!(
        text.contains(&format!(
            "{} cases: ES1 {es1}, ES4 {es4}, ES5 {es5}",
            es1 + es4 + es5
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
    assert_eq!(v.as_array().map(|a| a.len()), Some(es1 + es4 + es5));

    let dir = tempfile::tempdir().expect("tempdir");
    let peers = dir.path().join("peers");
    let out = std::process::Command::new(rsp)
        .args(["conformance", "init", "--peers"])
        .arg(&peers)
        .args(["--euiccs", "2", "--callback-listen", "127.0.0.1:9555"])
        .args(["--smsc-listen", "127.0.0.1:9556"])
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
        text.contains(&format!("{}: leave UNREGISTERED", world.euiccs[1].eid)),
        "{text}"
    );
    assert!(
        text.contains("es5.smpp.host = \"127.0.0.1\"") && text.contains("es5.smpp.port = 9556"),
        "{text}"
    );
}

/// A lab whose SM-SR binds its SMPP account to the suite's SMSC (on a free port the suite then listens on), with
/// the suite's receiver as the MNOs' ES4 endpoint; returns the lab, the callback and SMSC listen addresses.
async fn lab_for_the_suite_smsc(
    dir: &tempfile::TempDir,
    smsr_database_url: Option<String>,
) -> (rsp::lab::Lab, String, String) {
    let smsc_port = rsp::lab::free_port().expect("port");
    let lab = small_lab(dir, |o| {
        o.receivers = None;
        o.smsr_database_url = smsr_database_url.clone();
        o.external_smsc = Some(std::net::SocketAddr::from(([127, 0, 0, 1], smsc_port)));
    })
    .await;
    let callback_listen = register_suite_receiver(&lab);
    (lab, callback_listen, format!("127.0.0.1:{smsc_port}"))
}

/// The run of the ES4 and ES5 cases with the suite as the SMSC of `lab` (its SMPP account as the lab set it).
fn smsc_run(
    lab: &rsp::lab::Lab,
    callback_listen: String,
    smsc_listen: String,
    cases: &str,
) -> RunConfig {
    RunConfig {
        peers: lab.world.dir.clone(),
        smsr_url: Some(lab.smsr_url().to_string()),
        smdp_url: None,
        callback_listen,
        features: vec![],
        cases: Some(cases.into()),
        callback_timeout: Duration::from_secs(30),
        smsc: Some(suite::smsc::SmscSetup {
            listen: smsc_listen,
            system_id: lab.config.es5.smpp.system_id.clone(),
            password: lab.config.es5.smpp.password.clone(),
        }),
    }
}

#[actix_web::test]
async fn the_suite_plays_the_smsc_and_every_es4_and_es5_case_passes_sqlite() {
    plays_the_smsc(None).await;
}

#[actix_web::test]
async fn the_suite_plays_the_smsc_and_every_es4_and_es5_case_passes_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    plays_the_smsc(Some(smsr_db.url().to_string())).await;
}

/// The lab's SM-SR reaches the peers' eUICCs only through the suite's SMSC: the ES4 cases that need ES5 and every
/// ES5 byte check pass (on `smsr_database_url`, default SQLite), and the SMS are kept with the cases.
async fn plays_the_smsc(smsr_database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lab, callback_listen, smsc_listen) = lab_for_the_suite_smsc(&dir, smsr_database_url).await;
    let report = suite::run(&smsc_run(&lab, callback_listen, smsc_listen, "ES4-*,ES5-*"))
        .await
        .expect("the suite runs");
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
    assert_eq!(
        report.cases.len(),
        suite::es4::CASES.len() + suite::es5::CASES.len()
    );
    // The SMS of an ES5 case are kept with it: the MT command packets (IEI 70) and the eUICC's PoRs (IEI 71).
    let header = report
        .cases
        .iter()
        .find(|c| c.id == "ES5-SCP80-02")
        .expect("ES5-SCP80-02");
    assert!(
        header
            .messages
            .iter()
            .any(|m| m.direction == Direction::FromSut
                && m.kind.starts_with("MT SMS")
                && m.body.starts_with("027000")),
        "{:#?}",
        header.messages
    );
    assert!(
        header
            .messages
            .iter()
            .any(|m| m.direction == Direction::ToSut && m.kind.starts_with("MO SMS")),
        "{:#?}",
        header.messages
    );
    let altered = report
        .cases
        .iter()
        .find(|c| c.id == "ES5-PoR-02")
        .expect("ES5-PoR-02");
    assert!(
        altered
            .messages
            .iter()
            .any(|m| m.kind.contains("altered by the suite")),
        "{:#?}",
        altered.messages
    );
    // The lab's own SMSC saw nothing: everything went through the suite's.
    assert_eq!(lab.network.smsc().counters().submitted, 0);
    lab.stop().await;
}

/// The suite can fail on ES5: with the SM-SR's test-only fault that sends every second command packet with the
/// counter of the one before (smsr::service::TestFaults, feature `lab` only), the counter case FAILs and every
/// other ES5 case still passes (the eUICC refuses the reused counter with PoR 02, the SM-SR sends the command
/// again with a new counter and completes).
///
/// The fault is in the server, not in a proxy between it and the suite: the counter travels ciphered (wire-profile
/// §2, AES-CBC over CNTR…), so a proxy without the keys cannot rewrite it without also breaking the CC (which the
/// CC checks would report, not the counter check), and one with the keys would be securing the packets itself.
#[actix_web::test]
async fn a_reused_scp80_counter_fails_the_counter_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lab, callback_listen, smsc_listen) = lab_for_the_suite_smsc(&dir, None).await;
    lab.smsr
        .faults
        .reuse_scp80_counter
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let report = suite::run(&smsc_run(&lab, callback_listen, smsc_listen, "ES5-*"))
        .await
        .expect("the suite runs");
    let verdicts: Vec<(&str, Verdict)> = report
        .cases
        .iter()
        .map(|c| (c.id.as_str(), c.verdict))
        .collect();
    let expected: Vec<(&str, Verdict)> = suite::es5::CASES
        .iter()
        .map(|c| {
            let v = if c.id == "ES5-SCP80-04" {
                Verdict::Fail
            } else {
                Verdict::Pass
            };
            (c.id, v)
        })
        .collect();
    assert_eq!(
        verdicts,
        expected,
        "{:#?}",
        report
            .cases
            .iter()
            .map(|c| (&c.id, &c.reason))
            .collect::<Vec<_>>()
    );
    let failed = report
        .cases
        .iter()
        .find(|c| c.id == "ES5-SCP80-04")
        .expect("counter case");
    assert!(
        failed.reason.contains("it must be higher"),
        "{}",
        failed.reason
    );
    lab.stop().await;
}
