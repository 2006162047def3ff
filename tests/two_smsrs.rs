//! Two SM-SRs of one world (issue 13 item 1; SGP.02 §3.8 SM-SR change): a lab with SM-SR 2 beside SM-SR 1 behind
//! one test SMSC, on SQLite and with SM-SR 2 on PostgreSQL, each registered at the other as an ES7 peer (mutual
//! TLS, role SM-SR); and two `rsp serve --only smsr` processes side by side with their own configuration files.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use certs::world::World;
use eis_store::entities::{self, EntityRole};
use es_interfaces::messages::es4;
use es_interfaces::soap::action;
use es_interfaces::wsdl::Service;
use rsp::lab::{Lab, SecondSmsr};
use support::*;

const RPS: &str = "http://namespaces.gsma.org/esim-messaging/3";

/// An mTLS client presenting `cert` + `key` (world-relative), trusting the world's TLS CA.
fn client(world: &World, cert: &str, key: &str) -> reqwest::Client {
    let read = |p: &str| std::fs::read(world.dir.join(p)).expect("read PKI file");
    reqwest::Client::builder()
        .tls_backend_native()
        .identity(reqwest::Identity::from_pkcs8_pem(&read(cert), &read(key)).expect("identity"))
        .add_root_certificate(
            reqwest::Certificate::from_pem(&read(&world.manifest.tls_ca.cert)).expect("CA"),
        )
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

/// The client of SM-SR `n` of the world (its TLS client certificate).
fn smsr_client(world: &World, n: u8) -> reqwest::Client {
    let sr = world.smsr(n).expect("SM-SR of the world");
    client(world, &sr.tls_client_files.cert, &sr.tls_client_files.key)
}

/// An ES7.CreateAdditionalKeySet request for `eid` in a SOAP 1.2 envelope to the ES7 service at `base`.
fn es7_request(base: &str, eid: &str) -> (String, String) {
    let url = format!("{base}{}", Service::Es7SmSr.default_path());
    let body = format!(
        "<rps:ES7-CreateAdditionalKeySetRequest xmlns:rps=\"{RPS}\">\
         <rps:FunctionCallIdentifier>{}</rps:FunctionCallIdentifier><rps:Eid>{eid}</rps:Eid>\
         <rps:KeyVersionNumber>2</rps:KeyVersionNumber><rps:InitialSequenceCounter>0</rps:InitialSequenceCounter>\
         <rps:ECCKeyLength>ECC-256</rps:ECCKeyLength><rps:ScenarioParameter>0</rps:ScenarioParameter>\
         <rps:HostId>01</rps:HostId><rps:EphemeralPublicKey>04AA</rps:EphemeralPublicKey>\
         <rps:Signature>00</rps:Signature></rps:ES7-CreateAdditionalKeySetRequest>",
        uuid::Uuid::new_v4()
    );
    let envelope = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsa=\"http://www.w3.org/2005/08/addressing\">\
         <env:Header><wsa:To>{url}</wsa:To><wsa:From><wsa:Address>http://caller.invalid/</wsa:Address></wsa:From>\
         <wsa:MessageID>urn:uuid:{}</wsa:MessageID><wsa:Action>{}</wsa:Action></env:Header>\
         <env:Body>{body}</env:Body></env:Envelope>",
        uuid::Uuid::new_v4(),
        action::ES7_CREATE_ADDITIONAL_KEY_SET.request
    );
    (url, envelope)
}

/// `(Status, Subject code, Reason code)` of the first FunctionExecutionStatus of a SOAP answer.
fn status_of(xml: &str) -> (String, Option<String>, Option<String>) {
    let pick = |tag: &str| -> Option<String> {
        let open = format!("<rps:{tag}>");
        let start = xml.find(&open)? + open.len();
        let end = xml[start..].find("</")? + start;
        Some(xml[start..end].to_string())
    };
    (
        pick("Status").unwrap_or_default(),
        pick("Subject"),
        pick("Reason"),
    )
}

/// Posts an ES7 request to the SM-SR at `base` with `client`; returns the status of the answer.
async fn es7(
    client: &reqwest::Client,
    base: &str,
    eid: &str,
) -> (String, Option<String>, Option<String>) {
    let (url, envelope) = es7_request(base, eid);
    let r = client
        .post(&url)
        .header("Content-Type", "application/soap+xml; charset=utf-8")
        .body(envelope)
        .send()
        .await
        .expect("ES7 POST");
    let text = r.text().await.expect("body");
    let s = status_of(&text);
    assert!(!s.0.is_empty(), "no FunctionExecutionStatus: {text}");
    s
}

/// The requester was resolved as a known caller of the right role: any answer but 1.1/1.1 or 1.1/1.2.
fn resolved(s: &(String, Option<String>, Option<String>)) -> bool {
    s.1.as_deref() != Some("1.1")
}

/// The ES7 peer of `store` with `oid`: role SM-SR, ES7 allowed, its endpoint.
fn peer(store: &eis_store::Store, oid: &str) -> Option<String> {
    let mut c = store.conn().expect("connection");
    let e = entities::get_entity(&mut c, oid)
        .expect("registry")
        .expect("peer registered");
    assert_eq!(e.role, EntityRole::SmSr);
    assert!(e.allowed_interfaces.contains("ES7"), "{e:?}");
    assert_eq!(e.fingerprints.len(), 1);
    e.endpoints.get("ES7").cloned()
}

/// ES4.GetEIS of eUICC 0 through `mno`: its status.
async fn get_eis(
    lab: &Lab,
    mno: &conformance::mno::MnoClient,
    fci: &str,
) -> es_interfaces::status::FunctionExecutionStatus {
    let out = call(
        mno,
        &es4::GetEisRequest {
            base: conformance::mno::base(fci, None),
            eid: eid(lab, 0).parse().expect("eid"),
        },
    )
    .await;
    assert_eq!(out.http_status, 200, "{}", out.envelope);
    out.status().expect("a FunctionExecutionStatus")
}

async fn two_smsrs(lab: Lab) {
    let w = &lab.world;
    let (one, two) = (w.smsr(1).expect("SM-SR 1"), w.smsr(2).expect("SM-SR 2"));
    let url1 = lab.smsr_url().to_string();
    let url2 = lab.smsr2_url().expect("SM-SR 2 runs").to_string();
    assert_ne!(url1, url2);
    let smsr2 = &lab.smsr2.as_ref().expect("SM-SR 2").smsr;
    assert_eq!(lab.smsr.identity.oid, one.entity.oid);
    assert_eq!(lab.smsr2_oid(), Some(two.entity.oid.as_str()));
    assert_eq!(smsr2.identity.name, two.entity.name);

    // Each is registered at the other as an ES7 peer, with its URL; the SM-DP knows both (ES3).
    let es7_path = Service::Es7SmSr.default_path();
    assert_eq!(
        peer(&lab.smsr.store, &two.entity.oid),
        Some(format!("{url2}{es7_path}"))
    );
    assert_eq!(
        peer(&smsr2.store, &one.entity.oid),
        Some(format!("{url1}{es7_path}"))
    );
    {
        let mut c = lab.smdp.store.conn().expect("connection");
        for (oid, url) in [(&one.entity.oid, &url1), (&two.entity.oid, &url2)] {
            let e = entities::get_entity(&mut c, oid)
                .expect("registry")
                .expect("SM-SR registered at the SM-DP");
            assert_eq!(
                e.endpoints.get("ES3"),
                Some(&format!("{url}{}", Service::Es3SmSr.default_path()))
            );
        }
        // The MNOs, the EUM and the SM-DP are known at SM-SR 2 as at SM-SR 1.
        let mut c2 = smsr2.store.conn().expect("connection");
        for oid in [&w.manifest.sm_dp.oid, &w.manifest.eum.oid]
            .into_iter()
            .chain(w.manifest.mnos.iter().map(|m| &m.entity.oid))
        {
            assert!(
                entities::get_entity(&mut c2, oid)
                    .expect("registry")
                    .is_some(),
                "{oid}"
            );
        }
    }

    // ES7 over mutual TLS: each answers the other as a known caller of role SM-SR; an SM-SR is not its own peer;
    // an MNO's certificate is the wrong role.
    let e0 = eid(&lab, 0);
    let at1_from2 = es7(&smsr_client(w, 2), &url1, &e0).await;
    assert!(resolved(&at1_from2), "{at1_from2:?}");
    let at2_from1 = es7(&smsr_client(w, 1), &url2, &e0).await;
    assert!(resolved(&at2_from1), "{at2_from1:?}");
    assert_eq!(
        es7(&smsr_client(w, 1), &url1, &e0).await,
        ("FAILED".into(), Some("1.1".into()), Some("1.1".into()))
    );
    let mno = &w.manifest.mnos[0].tls_client;
    assert_eq!(
        es7(&client(w, &mno.cert, &mno.key), &url2, &e0).await,
        ("FAILED".into(), Some("1.1".into()), Some("1.2".into()))
    );

    // The world's eUICCs are at SM-SR 1 only: SM-SR 2 starts with an empty EIS repository.
    let at1 = get_eis(&lab, &lab.mno(0).expect("MNO 1"), "get-eis-1").await;
    assert_status(
        Some(at1),
        es_interfaces::status::Status::ExecutedSuccess,
        None,
    );
    let at2 = get_eis(
        &lab,
        &lab.mno_at_smsr2(0).expect("MNO 1 at SM-SR 2"),
        "get-eis-2",
    )
    .await;
    assert_eq!(at2.status, es_interfaces::status::Status::Failed, "{at2:?}");
    let data = at2.status_code_data.expect("status code data");
    assert_eq!((data.subject.code(), data.reason.code()), ("8.1.1", "3.9"));

    // Both SM-SRs are bound to the one test SMSC, each with its own account.
    let smsc = lab.network.smsc();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let binds: Vec<String> = smsc
            .binds()
            .into_iter()
            .filter(|b| b.status.is_ok())
            .map(|b| b.system_id)
            .collect();
        if binds.iter().any(|s| s == "smsr") && binds.iter().any(|s| s == "smsr2") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "binds: {binds:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(smsr2.identity.public_url, url2);

    // An MO SMS reaches the SM-SR whose MSISDN it is sent to, and only that one.
    let metrics1 = lab.smsr_metrics.expect("SM-SR 1 metrics");
    let metrics2 = lab
        .smsr2
        .as_ref()
        .and_then(|s| s.metrics)
        .expect("SM-SR 2 metrics");
    let msisdn2 = lab
        .smsr2
        .as_ref()
        .expect("SM-SR 2")
        .config
        .es5
        .smsr_msisdn
        .clone();
    let from = w.euiccs[0].msisdn.clone();
    let por = [
        0x02, 0x71, 0x00, 0x00, 0x0E, 0x0A, 0xB0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    ];
    let before = (mo_packets(metrics1).await, mo_packets(metrics2).await);
    smsc.send_mo(&from, &msisdn2, &por)
        .await
        .expect("MO to SM-SR 2");
    wait_for_mo(metrics2, before.1 + 1).await;
    smsc.send_mo(&from, &lab.config.es5.smsr_msisdn, &por)
        .await
        .expect("MO to SM-SR 1");
    wait_for_mo(metrics1, before.0 + 1).await;
    assert_eq!(mo_packets(metrics2).await, before.1 + 1);
    lab.stop().await;
}

/// MO packets an SM-SR has taken so far (`rsp_smsr_mo_packets_total`, every kind and outcome).
async fn mo_packets(metrics: std::net::SocketAddr) -> u64 {
    metric_samples(metrics, "rsp_smsr_mo_packets_total")
        .await
        .iter()
        .map(|(_, v)| v)
        .sum::<f64>() as u64
}

async fn wait_for_mo(metrics: std::net::SocketAddr, at_least: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while mo_packets(metrics).await < at_least {
        assert!(
            std::time::Instant::now() < deadline,
            "no MO packet at {metrics}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn two_smsrs_in_a_lab_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| o.second_smsr = Some(SecondSmsr::default())).await;
    assert!(
        lab.smsr2_database_url()
            .expect("SM-SR 2 database")
            .ends_with("smsr2.db")
    );
    two_smsrs(lab).await;
}

#[actix_web::test]
async fn two_smsrs_in_a_lab_smsr2_on_postgres() {
    let db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.second_smsr = Some(SecondSmsr {
            database_url: Some(db.url().to_string()),
            ..SecondSmsr::default()
        })
    })
    .await;
    assert_eq!(lab.smsr2_database_url().as_deref(), Some(db.url()));
    two_smsrs(lab).await;
}

#[actix_web::test]
async fn a_second_smsr_needs_its_own_msisdn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = rsp::lab::LabOptions::small(dir.path(), 1);
    opts.second_smsr = Some(SecondSmsr {
        msisdn: opts.es5.smsr_msisdn.clone(),
        ..SecondSmsr::default()
    });
    let err = Lab::start(opts).await.err().expect("refused");
    assert!(err.contains("MSISDN"), "{err}");
}

/// `rsp serve --only smsr` with `config`, until it prints `ready`.
fn serve_smsr(config: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rsp"))
        .args(["serve", "--only", "smsr", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn rsp serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut seen = Vec::new();
    loop {
        match lines.next() {
            Some(Ok(line)) if line == "ready" => break,
            Some(Ok(line)) => seen.push(line),
            _ => {
                let _ = child.kill();
                panic!("rsp serve exited before it was ready:\n{}", seen.join("\n"));
            }
        }
    }
    assert!(
        seen.iter().any(|l| l.contains("ES7  peer")),
        "{}",
        seen.join("\n")
    );
    std::thread::spawn(move || for _ in lines {});
    child
}

/// Two `rsp serve --only smsr` side by side, one world: own var dir and database, own listeners and MSISDN,
/// identity 1 and 2, each the other's ES7 peer; both become ready and answer each other's ES7 calls.
#[test]
fn two_serve_processes_side_by_side() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = dir.path().join("pki");
    let world = rsp::setup::init_world(&pki, 1, Some(7)).expect("world");
    let port = || rsp::lab::free_port().expect("free port");
    let (es1, es2, m1, m2, o1, o2) = (port(), port(), port(), port(), port(), port());
    let config = |n: u8, listen: u16, metrics: u16, esm2m: u16, peer: u16, msisdn: &str| {
        let file = dir.path().join(format!("smsr{n}.yaml"));
        std::fs::write(
            &file,
            format!(
                "var_dir: {var}\npki_dir: {pki}\nsmsr:\n  identity: {n}\n  listen: 127.0.0.1:{listen}\n  \
                 public_url: https://localhost:{listen}\n  metrics_listen: 127.0.0.1:{metrics}\n  \
                 database_url: sqlite://smsr.db\n  peers:\n    - identity: {other}\n      url: https://localhost:{peer}\n\
                 esm2m:\n  listen: 127.0.0.1:{esm2m}\n  public_url: https://localhost:{esm2m}\n\
                 es5:\n  smsr_msisdn: \"{msisdn}\"\n",
                var = dir.path().join(format!("var{n}")).display(),
                pki = pki.display(),
                other = 3 - n,
            ),
        )
        .expect("config file");
        file
    };
    let c1 = config(1, es1, m1, o1, es2, "4915550000");
    let c2 = config(2, es2, m2, o2, es1, "4915550002");
    let mut first = serve_smsr(&c1);
    let mut second = serve_smsr(&c2);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let http = reqwest::Client::new();
        for m in [m1, m2] {
            let r = http
                .get(format!("http://127.0.0.1:{m}/health/ready"))
                .send()
                .await
                .expect("readiness");
            assert_eq!(r.status().as_u16(), 200);
        }
        let eid = world.euiccs[0].eid.clone();
        let a = es7(
            &smsr_client(&world, 2),
            &format!("https://localhost:{es1}"),
            &eid,
        )
        .await;
        assert!(resolved(&a), "{a:?}");
        let b = es7(
            &smsr_client(&world, 1),
            &format!("https://localhost:{es2}"),
            &eid,
        )
        .await;
        assert!(resolved(&b), "{b:?}");
    });
    assert!(dir.path().join("var1/smsr.db").exists());
    assert!(dir.path().join("var2/smsr.db").exists());
    for child in [&mut first, &mut second] {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let _ = child.wait();
    }
}
