//! `rsp conformance` (issue 15) against our own SM-SR and SM-DP in an in-process lab (SM-SR, SM-DP, test SMSC,
//! eUICC simulator): every applicable case passes, the reports are written and parse (JSON, well-formed JUnit
//! XML, an HTML page naming every case). And the suite can fail: the same SM-SR and SM-DP behind a test-only
//! proxy that answers a wrong reason code for an unknown EID fail exactly the cases that check it (on ES2, ES3
//! and ES4).

mod support;

use std::collections::HashMap;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use conformance::suite::{self, Direction, Need, RunConfig, Verdict, XsdConfig, XsdResult};
use es_runtime::client::SoapClient;
use support::small_lab;

/// Sets the MNOs' ES4 endpoint at the lab's SM-SR and their ES2 endpoint at its SM-DP to the suite's receiver on
/// a free port (what `rsp conformance init` asks the SUT's operator to do), and registers the receiver for the
/// SM-DP too; returns the receiver's listen address. The lab's own SM-DP has the identity the suite plays on ES3
/// and needs its "ES3" endpoint (the address of its own callbacks and of the ES3 notifications), so the receiver
/// goes beside it ("ES3-callbacks"): the suite's `wsa:ReplyTo` is allowed, the ES3 notifications still go to the
/// lab's SM-DP (no ES3 case requires one; ES3-EnableProfile-04 reports whether it came).
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
        rsp::lab::set_endpoint(
            &lab.smdp.store,
            &mno.entity.oid,
            "ES2",
            &format!("https://127.0.0.1:{port}/es2"),
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

/// What `rsp conformance init` asks an SM-DP's operator to stock: MNO 1's profile type
/// `suite::es2::PROFILE_TYPE` (the sample template, a quarter of eUICC 2's free memory) with a few records
/// (MSISDNs included: the simulated network attaches an enabled downloaded profile by them).
fn stock_for_the_suite(lab: &rsp::lab::Lab, dir: &std::path::Path) {
    use smdp::warehouse::profile_types::{self, ProfileTypeSpec};
    let mno = lab.world.manifest.mnos[0].entity.oid.clone();
    let memory = conformance::issuance::remaining_memory_at_issuance(
        &conformance::issuance::profiles_at_issuance(&lab.world, 1).expect("issuance"),
    ) / 4;
    {
        let mut c = lab.smdp.store.conn().expect("conn");
        profile_types::add(
            &mut c,
            &ProfileTypeSpec {
                mno_oid: mno.clone(),
                name: suite::es2::PROFILE_TYPE.into(),
                template: smdp::saip::sample::usim_template_der(),
                required_memory: i64::from(memory),
                target_platform: "generic".into(),
                low_stock_threshold: 0,
                pol2: None,
            },
            eis_store::now_millis(),
        )
        .expect("profile type");
    }
    let mut csv = String::from("ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1,MSISDN\n");
    for i in 0..(suite::es2::STOCK_NEEDED as u64 + 2) {
        let body = format!("89882992{i:010}");
        let luhn = smdp::saip::coding::luhn_check_digit(&body).expect("digits");
        csv.push_str(&format!(
            "{body}{luhn},0010198{i:08},{:032X},{:032X},1234,12345678,5678,87654321,{i:08},4477098{i:05}\n",
            i + 1,
            (u128::from(i) + 1) << 64,
        ));
    }
    let path = dir.join("conformance-order.csv");
    std::fs::write(&path, csv).expect("order file");
    smdp::warehouse::import::import_order(
        &lab.smdp.store,
        &lab.smdp.keyring,
        &mno,
        suite::es2::PROFILE_TYPE,
        &smdp::warehouse::import::FileSource { path },
        smdp::batch::BatchFormat::Csv,
        &mut |_| {},
    )
    .expect("import");
}

/// The GSMA XSDs (testkit: RSP_GSMA_XSD_DIR or ../shared) and xmllint (installed by testkit when missing).
fn xsd_config() -> XsdConfig {
    XsdConfig {
        dir: testkit::gsma_xsd_dir(),
        xmllint: testkit::xmllint(),
    }
}

#[actix_web::test]
async fn the_suite_passes_against_our_smsr_and_smdp_and_writes_its_reports_sqlite() {
    passes_and_reports(None, None).await;
}

#[actix_web::test]
async fn the_suite_passes_against_our_smsr_and_smdp_and_writes_its_reports_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    passes_and_reports(
        Some(smsr_db.url().to_string()),
        Some(smdp_db.url().to_string()),
    )
    .await;
}

/// Every case passes against the lab's SM-SR and SM-DP (on the databases given, default SQLite); the reports
/// parse.
async fn passes_and_reports(smsr_database_url: Option<String>, smdp_database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    // Three eUICCs; the lab's own MNO receivers are replaced by the suite's. eUICC 2's P2 (MNO 1) and P3 (MNO 2)
    // count as downloaded by the SM-DP, which the ES2 cases need.
    let lab = small_lab(&dir, |o| {
        o.world_euiccs = 3;
        o.receivers = None;
        o.smsr_database_url = smsr_database_url.clone();
        o.smdp_database_url = smdp_database_url.clone();
        o.smdp_profiles = vec![(1, 1), (1, 2)];
    })
    .await;
    stock_for_the_suite(&lab, dir.path());
    // What `rsp conformance init` asks of the SUT's network: it attaches the suite's downloaded profile
    // (ES3-Download-01) by its IMSI.
    lab.network
        .control(conformance::euicc::Control::ProvisionSubscriber {
            imsi: suite::es3::DOWNLOAD_IMSI.into(),
            msisdn: suite::es3::DOWNLOAD_MSISDN.into(),
        })
        .await
        .expect("subscriber");
    // The lab registered every eUICC of the world: the last one is taken out again, for ES1 to register it.
    let last = lab.world.euiccs.last().expect("eUICC").eid.clone();
    {
        let mut c = lab.smsr.store.conn().expect("conn");
        eis_store::eis::delete_eis(&mut c, &last).expect("unregister the last eUICC");
    }
    let callback_listen = register_suite_receiver(&lab);
    // ES2-DownloadProfile-09 needs a download slower than its 1 s ValidityPeriod, which the lab is not: it runs on
    // its own at the end, with the download's first SMS lost.
    let expiry = "ES2-DownloadProfile-09";
    // The ES3-Caller cases need the suite to play the SM-SR: the_suite_plays_the_smsr_* below; so do the ES7
    // SM-SR change cases (the_suite_plays_the_smsc_*).
    let all_but_expiry: Vec<&str> = suite::catalogue()
        .iter()
        .filter(|c| c.interface != "ES5" && !c.needs.contains(&Need::SuiteSmsr))
        .map(|c| c.id)
        .filter(|id| *id != expiry)
        .collect();
    let cfg = RunConfig {
        smdp_url: Some(lab.smdp_url().to_string()),
        features: vec![Need::Es5],
        // The ES5 cases need the suite to play the SMSC: the_suite_plays_the_smsc_* below.
        cases: Some(all_but_expiry.join(",")),
        ..lab_run(&lab, callback_listen)
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
            .filter(|c| c.interface != "ES5" && !c.needs.contains(&Need::SuiteSmsr))
            .count()
            - 1
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
    let es2 = report.cases.iter().filter(|c| c.interface == "ES2").count();
    assert_eq!(
        es2,
        suite::es2::CASES
            .iter()
            .filter(|c| !c.needs.contains(&Need::SuiteSmsr))
            .count()
            - 1,
        "every ES2 case ran but the expiry case"
    );
    let download = report
        .cases
        .iter()
        .find(|c| c.id == "ES2-DownloadProfile-01")
        .expect("download case");
    assert!(
        download
            .messages
            .iter()
            .any(|m| m.kind.contains("callback ES2-DownloadProfileResponse")),
        "the ES2 callback is kept with the case"
    );

    // Every message the suite kept was checked against the GSMA XSDs (when they are here: CI sets
    // RSP_GSMA_XSD_DIR): all valid but those the negative cases made malformed on purpose, the HTTP 202
    // acknowledgements, which have no content, and the messages of the v4 function SetFallBackAttribute.
    if xsd_config().dir.is_some() {
        assert!(
            report.xsd_validation.starts_with("every message checked"),
            "{}",
            report.xsd_validation
        );
        let mut valid = 0;
        for c in &report.cases {
            for m in &c.messages {
                match &m.xsd {
                    XsdResult::Valid => valid += 1,
                    XsdResult::Invalid { why } => assert!(
                        m.malformed_on_purpose && m.direction == Direction::ToSut,
                        "{} {} {:?}: invalid: {why}",
                        c.id,
                        m.kind,
                        m.direction
                    ),
                    XsdResult::NotValidated { why } => assert!(
                        (m.body.is_empty() && m.http_status == Some(202))
                            || (why == suite::xsd::V4_FUNCTION
                                && c.id.starts_with("ES4-SetFallBackAttribute-")),
                        "{} {}: not validated: {why}",
                        c.id,
                        m.kind
                    ),
                }
            }
        }
        assert_eq!(report.xsd.invalid, 0);
        assert_eq!(report.xsd.valid, valid);
        assert!(valid > 2 * report.cases.len(), "{valid} valid messages");
        // The negative cases that send a request invalid against the XSDs — ES1-RegisterEIS-05/06, ES2-GetEIS-05/06,
        // ES2-DownloadProfile-08, ES3-GetEIS-03, ES4-GetEIS-04 — marked, and their answers valid
        // (ES2-DownloadProfile-07's request, with neither ProfileType nor Iccid, is valid against the XSDs).
        assert_eq!(report.xsd.invalid_on_purpose, 7, "{:?}", report.xsd);
    } else {
        eprintln!("SKIPPED: GSMA XSDs absent, messages not validated");
        assert_eq!(report.xsd.valid, 0);
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
        ..cfg.clone()
    })
    .await
    .expect("second run");
    let needs_es5 = |id: &str| {
        suite::es3::CASES
            .iter()
            .chain(suite::es4::CASES)
            .any(|c| c.id == id && c.needs.contains(&Need::Es5))
    };
    assert!(needs_es5("ES4-EnableProfile-01") && !needs_es5("ES4-EnableProfile-02"));
    for c in &again.cases {
        let wanted = if needs_es5(&c.id) || c.id.starts_with("ES3-Caller-") {
            Verdict::NotApplicable
        } else {
            Verdict::Pass
        };
        assert_eq!(c.verdict, wanted, "{}: {}", c.id, c.reason);
    }

    // Expiry: the download's first SMS is lost and the SM-SR sends it again only after its PoR time-out (2 s), so
    // the 1 s ValidityPeriod ends first: EXPIRED, and the SM-DP cleans up the ISD-P.
    let dropped = lab.network.dropped_mt();
    lab.network.drop_next_mt(1);
    let expired = suite::run(&RunConfig {
        cases: Some(expiry.into()),
        ..cfg
    })
    .await
    .expect("expiry run");
    assert_eq!(expired.cases.len(), 1);
    let c = &expired.cases[0];
    assert_eq!(c.verdict, Verdict::Pass, "{}: {}", c.id, c.reason);
    assert_eq!(lab.network.dropped_mt(), dropped + 1, "the SMS was lost");
    lab.stop().await;
}

/// The faulty SUT's front: forwards each request to the server at `target_url` (the SM-SR or the SM-DP) with the
/// client certificate of the entity its `wsa:From` names (mutual TLS ends here), and answers 8.1.1/3.8 where the
/// server said 8.1.1/3.9 (unknown EID).
struct FaultyFront {
    target_url: String,
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
    let url = format!("{}{}", front.target_url, req.path());
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
async fn a_faulty_smsr_and_smdp_fail_the_matching_cases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.receivers = None;
        o.smdp_profiles = vec![(1, 1)];
    })
    .await;
    stock_for_the_suite(&lab, dir.path());
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
    let mut fronts = Vec::new();
    for target in [lab.smsr_url(), lab.smdp_url()] {
        let front = web::Data::new(FaultyFront {
            target_url: target.trim_end_matches('/').to_string(),
            clients: clients.clone(),
        });
        fronts.push(
            lab.start_https_endpoint(move |cfg| {
                cfg.app_data(front.clone())
                    .default_service(web::to(faulty_front));
            })
            .expect("front"),
        );
    }
    let report = suite::run(&RunConfig {
        smsr_url: Some(fronts[0].0.clone()),
        smdp_url: Some(fronts[1].0.clone()),
        features: vec![Need::Es5],
        // Not ES4-GetEIS-06: the front cannot forward a caller it does not know. ES2-DownloadProfile-06's refusal
        // of the unknown EID comes as a callback, which does not pass the front: it passes.
        cases: Some(
            "ES2-GetEIS-01,ES2-GetEIS-02,ES2-GetEIS-04,ES2-DownloadProfile-06,\
             ES3-GetEIS-01,ES3-GetEIS-02,ES3-CreateISDP-04,\
             ES4-GetEIS-01,ES4-GetEIS-02,ES4-GetEIS-03,ES4-GetEIS-04,ES4-GetEIS-05,ES4-AuditEIS-*"
                .into(),
        ),
        callback_timeout: Duration::from_secs(30),
        ..lab_run(&lab, callback_listen)
    })
    .await
    .expect("the suite runs");
    assert_verdicts(
        &report,
        &[
            ("ES2-GetEIS-01", Verdict::Pass),
            ("ES2-GetEIS-02", Verdict::Fail),
            ("ES2-GetEIS-04", Verdict::Pass),
            ("ES2-DownloadProfile-06", Verdict::Pass),
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
    );
    for failed in report.cases.iter().filter(|c| c.verdict == Verdict::Fail) {
        assert!(
            failed.reason.contains("expected FAILED 8.1.1/3.9")
                && failed.reason.contains("8.1.1/3.8"),
            "{}: {}",
            failed.id,
            failed.reason
        );
    }
    assert!(!report.all_passed());
    let out = dir.path().join("report");
    suite::report::write(&report, &out).expect("reports");
    let junit = std::fs::read_to_string(out.join(suite::report::JUNIT_FILE)).expect("junit");
    let doc = es_interfaces::xml::Document::parse(junit.as_bytes()).expect("well-formed JUnit XML");
    assert_eq!(doc.root().attribute(None, "failures"), Some("5"));
    let html = std::fs::read_to_string(out.join(suite::report::HTML_FILE)).expect("html");
    let first_fail = html
        .find("href=\"#ES4-GetEIS-02\"")
        .expect("failure listed");
    assert!(
        first_fail < html.find("href=\"#ES4-GetEIS-01\"").expect("pass listed"),
        "failures first"
    );
    opens_in_chromium(&out.join(suite::report::HTML_FILE));
    for (_, handle) in fronts {
        handle.stop(true).await;
    }
    lab.stop().await;
}

/// Headless Chromium (testkit installs Debian's `chromium` when missing) renders the report: the rendered DOM has
/// the summary (5 FAIL, 9 PASS), the cases table starts with a failure, and a screenshot is written (also to
/// `RSP_CONFORMANCE_SCREENSHOT` when set: how docs/conformance-report.png is made).
fn opens_in_chromium(page: &std::path::Path) {
    let url = format!("file://{}", page.display());
    let dom = testkit::chromium_headless(&url, "--dump-dom", 1280, 1000);
    let summary = &dom[dom.find("id=\"summary\"").expect("summary rendered")..];
    assert!(
        summary.contains("<b>9</b><span>PASS</span>")
            && summary.contains("<b>5</b><span>FAIL</span>"),
        "{summary}"
    );
    let table = &dom[dom.find("class=\"cases\"").expect("cases table rendered")..];
    let first_row = &table[table.find("<tr class=").expect("a case row")..];
    assert!(
        first_row.starts_with("<tr class=\"fail\">") && first_row[..300].contains("#ES2-GetEIS-02"),
        "{}",
        &first_row[..300.min(first_row.len())]
    );
    assert!(dom.contains("XSD valid"), "XSD results shown");
    let png = page.with_file_name("report.png");
    testkit::chromium_headless(&url, &format!("--screenshot={}", png.display()), 1280, 1500);
    let bytes = std::fs::read(&png).expect("screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    if let Some(keep) = std::env::var_os("RSP_CONFORMANCE_SCREENSHOT") {
        std::fs::copy(&png, keep).expect("keep the screenshot");
    }
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
    let es2 = suite::es2::CASES.len();
    let es3 = suite::es3::CASES.len() + suite::es3_caller::CASES.len();
    let es4 = suite::es4::CASES.len();
    let es5 = suite::es5::CASES.len();
    let es7 = suite::es7::CASES.len();
    assert!(
        text.contains(&format!(
            "{} cases: ES1 {es1}, ES2 {es2}, ES3 {es3}, ES4 {es4}, ES7 {es7}, ES5 {es5}",
            es1 + es2 + es3 + es4 + es7 + es5
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
    assert_eq!(
        v.as_array().map(|a| a.len()),
        Some(es1 + es2 + es3 + es4 + es7 + es5)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let peers = dir.path().join("peers");
    let out = std::process::Command::new(rsp)
        .args(["conformance", "init", "--peers"])
        .arg(&peers)
        .args(["--euiccs", "2", "--callback-listen", "127.0.0.1:9555"])
        .args(["--smsc-listen", "127.0.0.1:9556"])
        .args(["--play-smsr", "127.0.0.1:9557"])
        .output()
        .expect("rsp conformance init");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let world = certs::world::World::load(&peers).expect("a world");
    assert_eq!(
        world.euiccs.len(),
        3,
        "at least 3 eUICCs, whatever --euiccs says"
    );
    for mno in &world.manifest.mnos {
        assert!(
            text.contains(&format!(
                "rsp entity set-endpoint --oid {} --interface ES4 --url https://127.0.0.1:9555/es4",
                mno.entity.oid
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "rsp entity set-endpoint --oid {} --interface ES2 --url https://127.0.0.1:9555/es2",
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
        text.contains(&format!(
            "rsp profile-type add --mno {} --name {}",
            world.manifest.mnos[0].entity.oid,
            suite::es2::PROFILE_TYPE
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("{}: leave UNREGISTERED", world.euiccs[2].eid)),
        "{text}"
    );
    assert!(
        text.contains("es5.smpp.host = \"127.0.0.1\"") && text.contains("es5.smpp.port = 9556"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "rsp entity set-endpoint --oid {} --interface ES3 --url \
             https://127.0.0.1:9557/esim-messaging/3/ES3/ES3SmSrService",
            world.manifest.sm_sr.oid
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "rsp entity add --server smsr --oid {} --role sm-sr",
            world.smsr(2).expect("SM-SR 2").entity.oid
        )) && text
            .contains("--endpoint ES7=https://127.0.0.1:9557/esim-messaging/3/ES7/ES7SmSrService"),
        "{text}"
    );
}

/// A lab whose SM-SR binds its SMPP account to the suite's SMSC (on a free port the suite then listens on), with
/// the suite's receiver as the MNOs' ES4 endpoint, and reaches eUICC 3 over HTTPS ([`HTTPS_EUICC`]: its admin
/// server on a free port, push SMS on, the card retrying every second, a cut session asked again after 3 s);
/// returns the lab, the callback and SMSC listen addresses.
async fn lab_for_the_suite_smsc(
    dir: &tempfile::TempDir,
    smsr_database_url: Option<String>,
) -> (rsp::lab::Lab, String, String) {
    let smsc_port = rsp::lab::free_port().expect("port");
    // The world first, to name eUICC 3 in the configuration (its EID is the same in a retry's fresh world).
    let world = rsp::setup::load_or_init_world(&rsp::config::Config {
        var_dir: dir.path().to_path_buf(),
        test_euiccs: 3,
        ..rsp::config::Config::default()
    })
    .expect("world");
    let https_eid = world.euiccs[HTTPS_EUICC].eid.clone();
    let lab = small_lab(dir, |o| {
        o.world_euiccs = 3;
        o.receivers = None;
        o.smsr_database_url = smsr_database_url.clone();
        o.external_smsc = Some(std::net::SocketAddr::from(([127, 0, 0, 1], smsc_port)));
        let https = &mut o.es5.https;
        https.enabled = true;
        https.listen = format!("127.0.0.1:{}", rsp::lab::free_port().expect("port"));
        https.card_retry_secs = 1;
        https.card_retries = 5;
        https.connect_timeout_secs = 3;
        https.trigger_attempts = 5;
        https
            .channel_overrides
            .insert(https_eid.clone(), smsr::scp81::channel::Channel::Https);
    })
    .await;
    assert_eq!(lab.world.euiccs[HTTPS_EUICC].eid, https_eid);
    let callback_listen = register_suite_receiver(&lab);
    // No SM-DP of the lab takes part: the SM-DP's ES3 notifications go to the suite's receiver too, as
    // `rsp conformance init` asks.
    rsp::lab::set_endpoint(
        &lab.smsr.store,
        &lab.world.manifest.sm_dp.oid,
        "ES3",
        &format!("https://{callback_listen}/es3"),
    )
    .expect("SM-DP endpoint");
    (lab, callback_listen, format!("127.0.0.1:{smsc_port}"))
}

/// The peers' eUICC the lab's SM-SR reaches over HTTPS in the runs with the suite as its SMSC (eUICC 3: eUICC 1
/// serves the SMS cases, eUICC 2 the SM-SR change, after which the lab's SM-SR holds no SCP81 key of it).
const HTTPS_EUICC: usize = 2;

/// The run of the ES4 and ES5 cases with the suite as the SMSC of `lab` (its SMPP account as the lab set it).
fn smsc_run(
    lab: &rsp::lab::Lab,
    callback_listen: String,
    smsc_listen: String,
    cases: &str,
) -> RunConfig {
    RunConfig {
        cases: Some(cases.into()),
        smsc: Some(suite::smsc::SmscSetup {
            listen: smsc_listen,
            system_id: lab.config.es5.smpp.system_id.clone(),
            password: lab.config.es5.smpp.password.clone(),
        }),
        https_euicc: Some(HTTPS_EUICC),
        ..lab_run(lab, callback_listen)
    }
}

/// Asserts that the run's cases are `expected` (id and verdict, in run order), printing every case's reason if
/// not.
fn assert_verdicts(report: &suite::RunReport, expected: &[(&str, Verdict)]) {
    let verdicts: Vec<(&str, Verdict)> = report
        .cases
        .iter()
        .map(|c| (c.id.as_str(), c.verdict))
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
}

/// A run of the suite against `lab`'s SM-SR with its callback receiver at `callback_listen`: no SM-DP, no
/// feature declared, every case, a callback time-out generous for a loaded machine (PoR time-outs and
/// retransmissions under way: a passing case stops waiting at its callback, only a case whose message never
/// comes waits it out), the GSMA XSDs.
fn lab_run(lab: &rsp::lab::Lab, callback_listen: String) -> RunConfig {
    RunConfig {
        peers: lab.world.dir.clone(),
        smsr_url: Some(lab.smsr_url().to_string()),
        smdp_url: None,
        callback_listen,
        features: vec![],
        cases: None,
        callback_timeout: Duration::from_secs(60),
        xsd: xsd_config(),
        smsc: None,
        play_smsr: None,
        https_euicc: None,
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

/// The ES3 cases of the suite's real profile (download, enable, disable, delete on eUICC 1).
const REAL_PROFILE_CASES: [&str; 4] = [
    "ES3-Download-01",
    "ES3-EnableProfile-04",
    "ES3-DisableProfile-03",
    "ES3-DeleteISDP-04",
];

/// The lab's SM-SR reaches the peers' eUICCs only through the suite's SMSC (eUICC 3 over HTTPS, its sessions
/// opened by push SMS through it): the ES3 cases of the suite's real profile (the suite's network attaches its
/// IMSI, no provisioning by the lab), the ES4 cases that need ES5, the ES7 SM-SR change cases with the suite as
/// the world's SM-SR 2 (`--play-smsr`: the lab's SM-SR has its ES7 endpoint, as `rsp conformance init` asks;
/// eUICC 2 goes to the suite and back) and every ES5 byte check after them, SMS and HTTPS, pass (on
/// `smsr_database_url`, default SQLite), and the SMS and ES7 messages are kept with the cases.
async fn plays_the_smsc(smsr_database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lab, callback_listen, smsc_listen) = lab_for_the_suite_smsc(&dir, smsr_database_url).await;
    let play = format!("127.0.0.1:{}", rsp::lab::free_port().expect("port"));
    let smsr2 = lab.world.smsr(2).expect("SM-SR 2").entity.oid.clone();
    rsp::lab::set_endpoint(
        &lab.smsr.store,
        &smsr2,
        "ES7",
        &format!("https://{play}/esim-messaging/3/ES7/ES7SmSrService"),
    )
    .expect("the suite's SM-SR 2 as the ES7 peer");
    let cases = format!("{},ES4-*,ES7-*,ES5-*", REAL_PROFILE_CASES.join(","));
    let report = suite::run(&RunConfig {
        play_smsr: Some(play),
        ..smsc_run(&lab, callback_listen, smsc_listen, &cases)
    })
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
        REAL_PROFILE_CASES.len()
            + suite::es4::CASES.len()
            + suite::es7::CASES.len()
            + suite::es5::CASES.len()
    );
    // The SM-SR change both ways: the SUT's HandoverEUICC and the suite's relays, kept and valid.
    let kinds = |id: &str| {
        report
            .cases
            .iter()
            .find(|c| c.id == id)
            .map(|c| {
                c.messages
                    .iter()
                    .map(|m| (m.direction, m.kind.clone()))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let to_suite = kinds("ES7-HandoverEUICC-03");
    for (direction, kind) in [
        (Direction::FromSut, "ES7-HandoverEUICCRequest"),
        (Direction::ToSut, "ES7-AuthenticateSMSRRequest"),
        (Direction::FromSut, "ES7-AuthenticateSMSRResponse"),
        (Direction::ToSut, "ES7-CreateAdditionalKeySetRequest"),
        (Direction::FromSut, "ES7-CreateAdditionalKeySetResponse"),
        (Direction::ToSut, "callback ES7-HandoverEUICCResponse"),
        (Direction::FromSut, "callback ES4-SMSRChangeResponse"),
    ] {
        assert!(
            to_suite.iter().any(|(d, k)| *d == direction && k == kind),
            "{kind} kept: {to_suite:#?}"
        );
    }
    let to_sut = kinds("ES7-HandoverEUICC-05");
    for kind in [
        "ES7-AuthenticateSMSRRequest",
        "ES7-CreateAdditionalKeySetRequest",
    ] {
        assert!(
            to_sut
                .iter()
                .any(|(d, k)| *d == Direction::FromSut && k == kind),
            "{kind} kept: {to_sut:#?}"
        );
    }
    if xsd_config().dir.is_some() {
        for c in report.cases.iter().filter(|c| c.interface == "ES7") {
            for m in c.messages.iter().filter(|m| m.peer != "SMSC") {
                match &m.xsd {
                    XsdResult::Valid => {}
                    XsdResult::NotValidated { .. } => assert!(
                        m.body.is_empty() && m.http_status == Some(202),
                        "{} {}: {:?}",
                        c.id,
                        m.kind,
                        m.xsd
                    ),
                    XsdResult::Invalid { why } => panic!("{} {}: invalid: {why}", c.id, m.kind),
                }
            }
        }
    }
    // The download's SendData went through the suite's SMSC too (concatenated MT SMS).
    let download = report
        .cases
        .iter()
        .find(|c| c.id == "ES3-Download-01")
        .expect("ES3-Download-01");
    assert!(
        download
            .messages
            .iter()
            .filter(|m| m.kind.contains("callback ES3-SendDataResponse"))
            .count()
            >= 4,
        "{:#?}",
        download
            .messages
            .iter()
            .map(|m| &m.kind)
            .collect::<Vec<_>>()
    );
    assert!(
        download
            .messages
            .iter()
            .any(|m| m.kind.starts_with("MT SMS")),
        "the download's SMS are kept with the case"
    );
    // With the suite's receiver as the SM-DP's ES3 endpoint, the SM-SR's ES3 notification reaches it.
    let enable = report
        .cases
        .iter()
        .find(|c| c.id == "ES3-EnableProfile-04")
        .expect("ES3-EnableProfile-04");
    assert!(
        enable
            .reason
            .contains("ES3-HandleProfileEnabledNotification received")
            && enable
                .messages
                .iter()
                .any(|m| m.kind == "notification ES3-HandleProfileEnabledNotification"),
        "{}",
        enable.reason
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

/// The suite's download can fail: with eUICC 1 refusing the profile package (the simulator's download fault,
/// `profileInstallationAborted` on the last segment), ES3-Download-01 FAILs naming the Loading phase, its
/// procedure's clean-up DeleteISDP removes the ISD-P (eUICC 1 keeps only its issuance profiles at the SM-SR), and
/// the cases after it are INCONCLUSIVE.
#[actix_web::test]
async fn a_refused_package_fails_the_download_case_and_the_suite_cleans_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| o.receivers = None).await;
    let callback_listen = register_suite_receiver(&lab);
    let eid = lab.world.euiccs[0].eid.clone();
    lab.network
        .control(conformance::euicc::Control::SetDownloadFaults {
            eid: conformance::euicc::Eid::parse(&eid).expect("EID"),
            faults: conformance::euicc::DownloadFaults {
                refuse_package: true,
                ..Default::default()
            },
        })
        .await
        .expect("faults");
    let report = suite::run(&RunConfig {
        features: vec![Need::Es5],
        cases: Some(REAL_PROFILE_CASES.join(",")),
        ..lab_run(&lab, callback_listen)
    })
    .await
    .expect("the suite runs");
    assert_verdicts(
        &report,
        &[
            ("ES3-Download-01", Verdict::Fail),
            ("ES3-EnableProfile-04", Verdict::Inconclusive),
            ("ES3-DisableProfile-03", Verdict::Inconclusive),
            ("ES3-DeleteISDP-04", Verdict::Inconclusive),
        ],
    );
    let download = &report.cases[0];
    assert!(
        download.reason.contains("failed in phase Loading"),
        "{}",
        download.reason
    );
    assert!(
        download
            .messages
            .iter()
            .any(|m| m.kind == "callback ES3-DeleteISDPResponse"),
        "the clean-up DeleteISDP is kept with the case"
    );
    let mut c = lab.smsr.store.conn().expect("conn");
    let left: Vec<String> = eis_store::eis::profiles_of(&mut c, &eid)
        .expect("profiles")
        .into_iter()
        .map(|p| p.info.iccid)
        .collect();
    let issued: Vec<String> = conformance::issuance::profiles_at_issuance(&lab.world, 0)
        .expect("issuance")
        .into_iter()
        .map(|p| p.iccid)
        .collect();
    assert_eq!(left, issued, "eUICC 1 is left as issued");
    drop(c);
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
    let report = faulty_smsr_run(
        |f| &f.reuse_scp80_counter,
        "ES5-*",
        suite::es5::CASES,
        &["ES5-SCP80-04"],
    )
    .await;
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
}

/// The suite can fail on a missing notification: with the SM-SR's test-only fault that leaves out the ES4
/// HandleProfileEnabledNotification (smsr::service::TestFaults, feature `lab` only), the two cases that wait for
/// it FAIL naming it, and the other ES4/ES5 cases that switch profiles still pass (the DisableProfile case's
/// fall-back enable is not what it checks).
#[actix_web::test]
async fn a_missing_notification_fails_the_cases_that_wait_for_it() {
    let cases = "ES4-EnableProfile-*,ES4-DisableProfile-*,ES5-Notification-*";
    let catalogue: Vec<suite::Case> = suite::es4::CASES
        .iter()
        .chain(suite::es5::CASES)
        .filter(|c| suite::matches(cases, c.id))
        .copied()
        .collect();
    let failing = ["ES4-EnableProfile-01", "ES5-Notification-01"];
    let report = faulty_smsr_run(
        |f| &f.omit_profile_enabled_notification,
        cases,
        &catalogue,
        &failing,
    )
    .await;
    for id in failing {
        let case = report.cases.iter().find(|c| c.id == id).expect("case");
        assert!(
            case.reason.contains("HandleProfileEnabledNotification"),
            "{id}: {}",
            case.reason
        );
    }
}

/// The suite can fail on ES5 over HTTPS: with the SM-SR's test-only fault that takes a POST with X-Admin-Resume
/// for an opening POST (smsr::service::TestFaults::ignore_admin_resume), the response the card could not deliver is
/// dropped and the script it ran is sent again: ES5-HTTPS-06 FAILs saying so, the other ES5-HTTPS cases pass.
#[actix_web::test]
async fn an_ignored_admin_resume_fails_the_resume_case() {
    let cases = "ES5-HTTPS-*";
    let catalogue: Vec<suite::Case> = suite::es5::CASES
        .iter()
        .filter(|c| suite::matches(cases, c.id))
        .copied()
        .collect();
    assert_eq!(catalogue.len(), 6);
    let report = faulty_smsr_run(
        |f| &f.ignore_admin_resume,
        cases,
        &catalogue,
        &["ES5-HTTPS-06"],
    )
    .await;
    let failed = report
        .cases
        .iter()
        .find(|c| c.id == "ES5-HTTPS-06")
        .expect("resume case");
    assert!(
        failed.reason.contains("was sent 2 times"),
        "{}",
        failed.reason
    );
}

/// Runs `cases` with the suite as the SMSC of a lab whose SM-SR has the test-only fault `fault` switched on, and
/// checks that of `catalogue` (the cases the pattern selects, in run order) exactly `failing` FAIL and the rest
/// PASS; returns the report.
async fn faulty_smsr_run(
    fault: fn(&smsr::service::TestFaults) -> &std::sync::atomic::AtomicBool,
    cases: &str,
    catalogue: &[suite::Case],
    failing: &[&str],
) -> suite::RunReport {
    let dir = tempfile::tempdir().expect("tempdir");
    let (lab, callback_listen, smsc_listen) = lab_for_the_suite_smsc(&dir, None).await;
    fault(&lab.smsr.faults).store(true, std::sync::atomic::Ordering::SeqCst);
    let report = suite::run(&smsc_run(&lab, callback_listen, smsc_listen, cases))
        .await
        .expect("the suite runs");
    let expected: Vec<(&str, Verdict)> = catalogue
        .iter()
        .map(|c| {
            let v = if failing.contains(&c.id) {
                Verdict::Fail
            } else {
                Verdict::Pass
            };
            (c.id, v)
        })
        .collect();
    assert_verdicts(&report, &expected);
    lab.stop().await;
    report
}

#[actix_web::test]
async fn the_suite_plays_the_smsr_for_our_smdp_and_every_es2_and_es3_caller_case_passes_sqlite() {
    plays_the_smsr(None).await;
}

#[actix_web::test]
async fn the_suite_plays_the_smsr_for_our_smdp_and_every_es2_and_es3_caller_case_passes_postgres() {
    let smdp_db = testkit::PgTestDb::new();
    plays_the_smsr(Some(smdp_db.url().to_string())).await;
}

/// The lab's SM-DP reaches the peers' eUICCs only through the suite's SM-SR (`--play-smsr`: what `rsp
/// conformance init` asks the operator to register, the peers' SM-SR's ES3 endpoint, set here at the SM-DP):
/// every ES2 case that applies to an SM-DP alone and every ES3-Caller case passes (on `smdp_database_url`,
/// default SQLite), the ES3 messages are kept with the cases and valid against the GSMA XSDs, and the lab's own
/// SM-SR sends nothing to an eUICC. ES3-Caller-DownloadProfile-02 is the fault check: the suite's SM-SR refuses
/// CreateISDP and the SM-DP's DownloadProfile ends FAILED with that status.
async fn plays_the_smsr(smdp_database_url: Option<String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.world_euiccs = 3;
        o.receivers = None;
        o.smdp_database_url = smdp_database_url.clone();
    })
    .await;
    stock_for_the_suite(&lab, dir.path());
    let callback_listen = register_suite_receiver(&lab);
    let port = rsp::lab::free_port().expect("port");
    let play = format!("127.0.0.1:{port}");
    rsp::lab::set_endpoint(
        &lab.smdp.store,
        &lab.world.manifest.sm_sr.oid,
        "ES3",
        &format!("https://{play}/esim-messaging/3/ES3/ES3SmSrService"),
    )
    .expect("the suite's SM-SR as the SM-DP's SM-SR");
    // Every ES2 case (ES2-EnableProfile-05 needs an SM-SR under test: NOT APPLICABLE); ES2-DownloadProfile-09
    // runs with the suite's SM-SR holding the download's SendData, so the download expires.
    let cases: Vec<&str> = suite::catalogue()
        .iter()
        .filter(|c| c.interface == "ES2" || c.id.starts_with("ES3-Caller-"))
        .map(|c| c.id)
        .collect();
    let report = suite::run(&RunConfig {
        smsr_url: None,
        smdp_url: Some(lab.smdp_url().to_string()),
        cases: Some(cases.join(",")),
        play_smsr: Some(play),
        ..lab_run(&lab, callback_listen)
    })
    .await
    .expect("the suite runs");
    for c in &report.cases {
        eprintln!("{:<14} {:<32} {}", c.verdict.as_str(), c.id, c.reason);
    }
    let bad: Vec<String> = report
        .cases
        .iter()
        .filter(|c| c.verdict != Verdict::Pass && c.id != "ES2-EnableProfile-05")
        .map(|c| format!("{} {}: {}", c.id, c.verdict.as_str(), c.reason))
        .collect();
    assert!(
        bad.is_empty(),
        "cases that did not pass:\n{}",
        bad.join("\n")
    );
    assert_eq!(report.cases.len(), cases.len());
    let not_managed = report
        .cases
        .iter()
        .find(|c| c.id == "ES2-EnableProfile-05")
        .expect("ES2-EnableProfile-05");
    assert_eq!(not_managed.verdict, Verdict::NotApplicable);
    assert_eq!(
        report
            .cases
            .iter()
            .filter(|c| c.id.starts_with("ES3-Caller-"))
            .count(),
        suite::es3_caller::CASES.len()
    );
    // The ES3 messages are kept with the cases: the download's, from the SM-DP to the suite's SM-SR and back.
    let download = report
        .cases
        .iter()
        .find(|c| c.id == "ES3-Caller-DownloadProfile-01")
        .expect("download case");
    for element in [
        "ES3-GetEISRequest",
        "ES3-CreateISDPRequest",
        "ES3-SendDataRequest",
        "ES3-ProfileDownloadCompletedRequest",
    ] {
        assert!(
            download
                .messages
                .iter()
                .any(|m| m.direction == Direction::FromSut && m.kind == element),
            "{element} kept: {:#?}",
            download
                .messages
                .iter()
                .map(|m| &m.kind)
                .collect::<Vec<_>>()
        );
    }
    // Expiry: the held SendData was accepted with a bare 202, and the SM-DP deleted its ISD-P after EXPIRED.
    let expired = report
        .cases
        .iter()
        .find(|c| c.id == "ES2-DownloadProfile-09")
        .expect("expiry case");
    let kinds: Vec<(&str, Option<u16>)> = expired
        .messages
        .iter()
        .map(|m| (m.kind.as_str(), m.http_status))
        .collect();
    assert!(
        kinds.contains(&("HTTP answer", Some(202)))
            && expired
                .messages
                .iter()
                .any(|m| m.direction == Direction::FromSut && m.kind == "ES3-DeleteISDPRequest"),
        "{kinds:?}"
    );
    let enable = report
        .cases
        .iter()
        .find(|c| c.id == "ES2-EnableProfile-01")
        .expect("enable case");
    assert!(
        enable
            .messages
            .iter()
            .any(|m| m.direction == Direction::ToSut
                && m.kind == "ES3-HandleProfileEnabledNotification"),
        "the suite's SM-SR notified the SM-DP"
    );
    if xsd_config().dir.is_some() {
        assert_eq!(report.xsd.invalid, 0, "{:?}", report.xsd);
        for c in &report.cases {
            for m in c.messages.iter().filter(|m| m.peer == "SM-SR (suite)") {
                match &m.xsd {
                    XsdResult::Valid => {}
                    XsdResult::NotValidated { .. } => assert!(
                        m.body.is_empty() && m.http_status == Some(202),
                        "{} {}: {:?}",
                        c.id,
                        m.kind,
                        m.xsd
                    ),
                    XsdResult::Invalid { why } => panic!("{} {}: invalid: {why}", c.id, m.kind),
                }
            }
        }
    }
    // The lab's SM-SR reached no eUICC: everything went through the suite's SM-SR.
    assert_eq!(lab.network.smsc().counters().submitted, 0);
    lab.stop().await;
}
