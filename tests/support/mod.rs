//! Shared helpers of the end-to-end tests: a lab per test, ES4 requests and EIS inspection.

#![allow(dead_code)]

pub mod smsr_change;
pub mod webhooks;

use std::path::PathBuf;
use std::time::Duration;

use conformance::mno::{CallOutcome, MnoClient, Received, base};
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::es4;
use es_interfaces::status::{FunctionExecutionStatus, Status};
use rsp::lab::{Lab, LabOptions};

/// The directory all end-to-end tests capture emitted SOAP messages into (set before anything is emitted).
pub fn capture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("rsp-e2e-capture")
}

/// Turns on SOAP capture for this test process.
pub fn enable_capture() {
    let dir = capture_dir();
    std::fs::create_dir_all(&dir).expect("capture dir");
    // SAFETY: set before any thread of this test reads it; every test sets the same value.
    unsafe { std::env::set_var("RSP_CAPTURE_SOAP_DIR", &dir) };
}

/// The SOAP messages this test process captured ([`enable_capture`]).
pub fn captured_documents() -> Vec<String> {
    let prefix = format!("{}-", std::process::id());
    std::fs::read_dir(capture_dir())
        .expect("capture dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| std::fs::read_to_string(e.path()).expect("read capture"))
        .collect()
}

/// A small lab (2 eUICCs of the world) in a fresh directory. A port picked free by `tweak` (e.g.
/// [`https_options`]) can be taken by a parallel test before the lab binds it: then `tweak` picks again.
pub async fn small_lab(dir: &tempfile::TempDir, tweak: impl Fn(&mut LabOptions)) -> Lab {
    let mut attempt = 0;
    loop {
        // A failed start may have left databases behind: a retry starts in a fresh directory (and, on
        // PostgreSQL, emptied databases).
        let var_dir = match attempt {
            0 => dir.path().to_path_buf(),
            n => dir.path().join(format!("retry-{n}")),
        };
        let mut opts = LabOptions::small(&var_dir, 2);
        tweak(&mut opts);
        if attempt > 0 {
            // The fresh directory has a new PKI: what the failed start stored under the old one must go too.
            let smsr2 = opts
                .second_smsr
                .as_ref()
                .and_then(|s| s.database_url.clone());
            for url in [&opts.smsr_database_url, &opts.smdp_database_url, &smsr2]
                .into_iter()
                .flatten()
                .filter(|u| u.starts_with("postgres"))
            {
                testkit::reset_pg_database(url);
            }
        }
        match Lab::start(opts).await {
            Ok(lab) => return lab,
            Err(e) if attempt < 3 && e.contains("Address already in use") => attempt += 1,
            Err(e) => panic!("lab starts: {e:?}"),
        }
    }
}

/// Lab options for ES5 over HTTPS (wire-profile §3): every eUICC HTTPS-capable, the admin server on a free port
/// named in the push SMS, the simulated eUICCs retrying their connection every second.
pub fn https_options(o: &mut LabOptions) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    o.es5.https.enabled = true;
    o.es5.https.listen = format!("127.0.0.1:{port}");
    o.es5.https.card_retry_secs = 1;
    o.es5.https.card_retries = 5;
    o.https_share = 1.0;
}

/// Every operation of the world's eUICCs that sent ES5 commands records HTTPS as their channel (none went by SMS).
pub fn assert_all_over_https(lab: &Lab) {
    let mut c = lab.smsr.store.conn().expect("conn");
    let mut seen = 0;
    for e in &lab.world.euiccs {
        for op in eis_store::operations::all_of(&mut c, &e.eid).expect("operations") {
            let data: serde_json::Value = serde_json::from_str(&op.data).expect("operation data");
            if let Some(channel) = data.get("channel") {
                assert_eq!(channel, "https", "operation {} of {}: {data}", op.id, e.eid);
                seen += 1;
            }
        }
    }
    assert!(seen > 0, "no operation sent anything");
}

/// ICCID of profile `slot` (0 = P1, 1 = P2, 2 = P3) of the world's eUICC `i`.
pub fn iccid(lab: &Lab, i: usize, slot: usize) -> String {
    conformance::issuance::profiles_at_issuance(&lab.world, i).expect("issuance")[slot]
        .iccid
        .clone()
}

/// ISD-P AID of profile `slot`.
pub fn aid(lab: &Lab, i: usize, slot: usize) -> Vec<u8> {
    conformance::issuance::profiles_at_issuance(&lab.world, i).expect("issuance")[slot]
        .isd_p_aid
        .to_vec()
}

/// EID of the world's eUICC `i`.
pub fn eid(lab: &Lab, i: usize) -> String {
    lab.world.euiccs[i].eid.clone()
}

/// Sends an ES4 request and returns the outcome.
pub async fn call<T: BodyElement>(mno: &MnoClient, req: &T) -> CallOutcome {
    mno.es4(req).await.expect("ES4 call")
}

/// The ES4 enable/disable/delete requests.
pub fn enable(
    eid: &str,
    iccid: &str,
    fci: &str,
    validity: Option<u64>,
) -> es4::EnableProfileRequest {
    es4::EnableProfileRequest {
        base: base(fci, validity),
        eid: eid.parse().expect("eid"),
        iccid: iccid.parse().expect("iccid"),
    }
}

/// ES4.DisableProfile.
pub fn disable(eid: &str, iccid: &str, fci: &str) -> es4::DisableProfileRequest {
    es4::DisableProfileRequest {
        base: base(fci, None),
        eid: eid.parse().expect("eid"),
        iccid: iccid.parse().expect("iccid"),
    }
}

/// ES4.DeleteProfile.
pub fn delete(eid: &str, iccid: &str, fci: &str) -> es4::DeleteProfileRequest {
    es4::DeleteProfileRequest {
        base: base(fci, None),
        eid: eid.parse().expect("eid"),
        iccid: iccid.parse().expect("iccid"),
    }
}

/// Waits for the callback answering `call` at MNO `mno`'s receiver.
pub async fn callback(lab: &Lab, mno: usize, call: &CallOutcome, secs: u64) -> Received {
    let id = call.message_id.clone();
    lab.receivers[mno]
        .wait_for(Duration::from_secs(secs), |r| {
            r.relates_to.as_deref() == Some(&id)
        })
        .await
        .unwrap_or_else(|| panic!("no callback for {id} within {secs} s"))
}

/// Waits for a notification `element` about `iccid` at MNO `mno`'s receiver, the `nth` (0-based) such.
pub async fn notification(
    lab: &Lab,
    mno: usize,
    element: &str,
    iccid: &str,
    nth: usize,
) -> Received {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found: Vec<Received> = lab.receivers[mno]
            .received()
            .into_iter()
            .filter(|r| r.element == element && r.field("Iccid").as_deref() == Some(iccid))
            .collect();
        if let Some(r) = found.get(nth) {
            return r.clone();
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "no {element} #{nth} for {iccid}; received: {:?}",
                lab.receivers[mno]
                    .received()
                    .iter()
                    .map(|r| r.element.clone())
                    .collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Asserts a status.
pub fn assert_status(
    s: Option<FunctionExecutionStatus>,
    status: Status,
    codes: Option<(&str, &str)>,
) {
    let s = s.expect("a FunctionExecutionStatus");
    assert_eq!(s.status, status, "{s:?}");
    if let Some((subject, reason)) = codes {
        let d = s.status_code_data.as_ref().expect("status code data");
        assert_eq!(
            (d.subject.code(), d.reason.code()),
            (subject, reason),
            "{s:?}"
        );
    }
}

/// The state of each profile of eUICC `eid` in the SM-SR's store: (ICCID, state, fall-back).
pub fn profile_states(lab: &Lab, eid: &str) -> Vec<(String, eis_store::eis::ProfileState, bool)> {
    let mut conn = lab.smsr.store.conn().expect("conn");
    eis_store::eis::profiles_of(&mut conn, eid)
        .expect("profiles")
        .into_iter()
        .map(|p| (p.info.iccid, p.info.state, p.info.fallback))
        .collect()
}

/// ES2.UpdatePolicyRules (SGP.02 §5.3.5) setting POL2 "disable not allowed" on `iccid` of `eid`.
pub fn disable_not_allowed(
    fci: &str,
    eid: &str,
    iccid: &str,
    smsr_id: &es_interfaces::types::Oid,
) -> es_interfaces::messages::es2::UpdatePolicyRulesRequest {
    use es_interfaces::messages::common::{Pol2, Pol2Rule};
    use es_interfaces::types::{Pol2RuleAction, Pol2RuleQualification, Pol2RuleSubject};
    es_interfaces::messages::es2::UpdatePolicyRulesRequest {
        base: base(fci, None),
        eid: eid.parse().expect("eid"),
        iccid: iccid.parse().expect("iccid"),
        smsr_id: smsr_id.clone(),
        pol2: Some(Pol2 {
            rules: vec![Pol2Rule {
                subject: Pol2RuleSubject::Profile,
                action: Pol2RuleAction::Disable,
                qualification: Pol2RuleQualification::NotAllowed,
            }],
        }),
    }
}

/// Switches the simulator's test faults of eUICC `eid` (`conformance::euicc::DownloadFaults`; all off: default).
pub async fn set_faults(lab: &Lab, eid: &str, faults: conformance::euicc::DownloadFaults) {
    let card = conformance::euicc::Eid::parse(eid).expect("eid");
    lab.network
        .control(conformance::euicc::Control::SetDownloadFaults { eid: card, faults })
        .await
        .expect("faults");
}

/// The samples of metric `name` on the metrics listener at `addr` (Prometheus text format): `(labels, value)`,
/// the labels as written between the braces (empty when there are none).
pub async fn metric_samples(addr: impl std::fmt::Display, name: &str) -> Vec<(String, f64)> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labels, value) = match rest.strip_prefix('{') {
                Some(r) => r.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            Some((labels.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}
