//! ES5 over HTTPS end to end (wire-profile §3): the simulated eUICC 0 is HTTPS-capable (EIS `HttpSupport`), so
//! its commands wait in the ES5 queue for its admin session instead of going by SMS; the simulator's PSK-TLS
//! client (conformance::euicc::https) runs them on the card and posts the response scripts, which complete the
//! operations as PoRs do. The session is opened by the test (the push-SMS trigger is not implemented yet).
//! Enable and audit on SQLite and PostgreSQL; a session cut after the card ran a script (resumed) and one cut
//! before (sent again) each run the command once on the card.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use conformance::euicc::https::{
    AdminTarget, CardCredentials, CutAt, HttpsError, Resume, SessionReport, run_session,
};
use conformance::euicc::{DriverEvent, EventKind, SimulatorHandle};
use es_interfaces::isdr::Es5Function;
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::es4;
use es_interfaces::status::Status;
use support::*;

/// eUICC 0 of 2 is HTTPS-capable; eUICC 1 stays on SMS.
fn https_lab(o: &mut rsp::lab::LabOptions) {
    o.es5.https.enabled = true;
    o.es5.https.listen = "127.0.0.1:0".into();
    o.https_share = 0.5;
}

struct Card {
    sim: SimulatorHandle,
    target: AdminTarget,
    eid: String,
    psk: Vec<u8>,
    kvn: u8,
}

impl Card {
    fn of(lab: &rsp::lab::Lab, i: usize) -> Card {
        let e = &lab.world.euiccs[i];
        Card {
            sim: lab.network.simulator(),
            target: AdminTarget {
                addr: lab.scp81_addr.expect("the admin server runs"),
                host: "localhost".into(),
                admin_uri: "/gp/ram".into(),
            },
            eid: e.eid.clone(),
            psk: e.scp81_psk.expose().to_vec(),
            kvn: e.scp81_kvn,
        }
    }

    fn credentials(&self) -> CardCredentials {
        let eid = conformance::euicc::Eid::parse(&self.eid).expect("eid");
        CardCredentials::for_isd_r(eid, &self.psk, self.kvn).expect("credentials")
    }

    /// One session; a refused handshake is retried (the PSK cache learns the eUICC after its first attempt).
    async fn session(&self, resume: Option<Resume>, cut: CutAt) -> SessionReport {
        for _ in 0..50 {
            let (sim, target, creds, resume) = (
                self.sim.clone(),
                self.target.clone(),
                self.credentials(),
                resume.clone(),
            );
            let r = tokio::task::spawn_blocking(move || {
                run_session(&sim.control, &target, &creds, resume, cut)
            })
            .await
            .expect("session thread");
            match r {
                Ok(report) => return report,
                Err(HttpsError::Tls(_)) => tokio::time::sleep(Duration::from_millis(200)).await,
                Err(e) => panic!("admin session: {e}"),
            }
        }
        panic!("no PSK-TLS handshake");
    }
}

/// Opens sessions of `card` one after the other (as triggers would) until stopped; counts the scripts.
fn keep_connecting(
    card: Card,
) -> (
    Arc<AtomicBool>,
    Arc<AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    let stop = Arc::new(AtomicBool::new(false));
    let scripts = Arc::new(AtomicUsize::new(0));
    let (s, n) = (stop.clone(), scripts.clone());
    let task = tokio::spawn(async move {
        while !s.load(Ordering::SeqCst) {
            let r = card.session(None, CutAt::Never).await;
            n.fetch_add(r.scripts, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (stop, scripts, task)
}

/// The operations of `eid` (finished ones keep their data; their commands are purged), each of which records
/// `channel` as the ES5 channel of its last transmission.
fn operations_over(lab: &rsp::lab::Lab, eid: &str, channel: &str) -> usize {
    let mut c = lab.smsr.store.conn().expect("conn");
    let ops = eis_store::operations::all_of(&mut c, eid).expect("operations");
    let marker = format!(r#""channel":"{channel}""#);
    assert!(
        ops.iter().all(|o| o.data.contains(&marker)),
        "every operation records the {channel} channel: {ops:?}"
    );
    ops.len()
}

async fn enable_and_audit_over_https(lab: &rsp::lab::Lab) {
    let mno = lab.mno(0).expect("mno");
    let (e, p1, p2) = (eid(lab, 0), iccid(lab, 0, 0), iccid(lab, 0, 1));
    let submitted = lab.network.smsc().counters().submitted;
    let out = call(&mno, &enable(&e, &p2, "https-enable", None)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let (stop, scripts, task) = keep_connecting(Card::of(lab, 0));
    let cb = callback(lab, 0, &out, 30).await;
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    notification(lab, 0, "ES4-HandleProfileEnabledNotification", &p2, 0).await;
    notification(lab, 0, "ES4-HandleProfileDisabledNotification", &p1, 0).await;

    let out = call(
        &mno,
        &es4::AuditEisRequest {
            base: conformance::mno::base("https-audit", None),
            eid: e.parse().expect("eid"),
            iccids: Vec::new(),
        },
    )
    .await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(lab, 0, &out, 30).await;
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    let env = es_interfaces::soap::Envelope::parse(cb.envelope.as_bytes()).expect("envelope");
    let audited = es4::AuditEisResponse::decode_body(env.body())
        .expect("audit response")
        .eis
        .expect("EIS");
    let enabled: Vec<String> = audited
        .profile_info
        .iter()
        .filter(|p| p.state == es_interfaces::types::ProfileState::Enabled)
        .map(|p| p.iccid.as_str().to_string())
        .collect();
    assert_eq!(enabled, vec![p2.clone()]);

    stop.store(true, Ordering::SeqCst);
    task.await.expect("sessions");
    // Enable, the notification's confirmation and the audit went over HTTPS; no SMS was sent to the eUICC.
    assert!(scripts.load(Ordering::SeqCst) >= 3);
    assert!(operations_over(lab, &e, "https") >= 3);
    assert_eq!(lab.network.smsc().counters().submitted, submitted);
}

#[actix_web::test]
async fn enable_and_audit_over_https_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, https_lab).await;
    enable_and_audit_over_https(&lab).await;
    // eUICC 1 is not HTTPS-capable: its commands still go by SMS.
    let mno = lab.mno(0).expect("mno");
    let out = call(
        &mno,
        &es4::AuditEisRequest {
            base: conformance::mno::base("sms-audit", None),
            eid: eid(&lab, 1).parse().expect("eid"),
            iccids: Vec::new(),
        },
    )
    .await;
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    assert_eq!(operations_over(&lab, &eid(&lab, 1), "sms"), 1);
    lab.stop().await;
}

#[actix_web::test]
async fn enable_and_audit_over_https_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        https_lab(o);
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    enable_and_audit_over_https(&lab).await;
    lab.stop().await;
}

/// How many EnableProfile commands the simulated eUICC executed, from the events received so far.
fn enables_executed(events: &mut tokio::sync::mpsc::UnboundedReceiver<DriverEvent>) -> usize {
    let mut n = 0;
    while let Ok(ev) = events.try_recv() {
        if let DriverEvent::Euicc(e) = ev
            && matches!(
                e.kind,
                EventKind::CommandExecuted {
                    function: Some(Es5Function::EnableProfile),
                    ..
                }
            )
        {
            n += 1;
        }
    }
    n
}

/// A session cut after the card ran the enable: the next session resumes with the response, which completes the
/// command; the card ran it once. A session cut before the card ran the next enable (the script was received):
/// a later session gets the same script again; the card ran it once.
#[actix_web::test]
async fn cut_sessions_run_each_command_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lab = small_lab(&dir, https_lab).await;
    let mut events = lab.events.take().expect("simulator events");
    let mno = lab.mno(0).expect("mno");
    let (e, p1, p2) = (eid(&lab, 0), iccid(&lab, 0, 0), iccid(&lab, 0, 1));
    let card = Card::of(&lab, 0);

    let out = call(&mno, &enable(&e, &p2, "cut-after", None)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cut = card.session(None, CutAt::AfterRunning(1)).await;
    assert!(cut.cut && cut.scripts == 1, "{cut:?}");
    let resume = cut.resume.expect("a response to deliver");
    let resumed = card.session(Some(resume), CutAt::Never).await;
    assert!(!resumed.cut, "{resumed:?}");
    let (stop, _, task) = keep_connecting(Card::of(&lab, 0));
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    stop.store(true, Ordering::SeqCst);
    task.await.expect("sessions");
    assert_eq!(enables_executed(&mut events), 1);

    let out = call(&mno, &enable(&e, &p1, "cut-before", None)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cut = card.session(None, CutAt::BeforeRunning(1)).await;
    assert!(cut.cut && cut.resume.is_none(), "{cut:?}");
    let (stop, _, task) = keep_connecting(Card::of(&lab, 0));
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    stop.store(true, Ordering::SeqCst);
    task.await.expect("sessions");
    assert_eq!(enables_executed(&mut events), 1);
    lab.stop().await;
}

/// A 20 KB ES3.SendData script for an ISD-P of the HTTPS eUICC goes in one script of one session, without the
/// routing INSTALL and with `X-Admin-Targeted-Application`; the simulator's ISD-P (no key set yet) refuses the
/// first STORE DATA sent in clear with `6982`, and the SM-DP gets the ISD-P's answer alone, as over SMS.
#[actix_web::test]
async fn twenty_kilobyte_script_in_one_session() {
    use es_interfaces::messages::es3;
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        https_lab(o);
        o.smdp_profiles = vec![(0, 1)];
    })
    .await;
    rsp::lab::set_endpoint(
        &lab.smsr.store,
        &lab.world.manifest.sm_dp.oid,
        "ES3-callbacks",
        &format!("{}/es3", lab.receivers[0].url()),
    )
    .expect("register the receiver for the SM-DP");
    let smdp = conformance::mno::MnoClient::sm_dp(&lab.world, lab.smsr_url())
        .expect("SM-DP client")
        .with_reply_to(format!("{}/es3", lab.receivers[0].url()));
    // 100 × STORE DATA `80 E2 88 <n> C8 <3A07 C5 …>` (205 bytes each): `AA 82 5050 { 22 81 CD … }`.
    let mut inner = Vec::new();
    for i in 0..100u8 {
        let mut apdu = vec![0x80, 0xE2, 0x88, i, 0xC8, 0x3A, 0x07, 0xC5];
        apdu.extend(std::iter::repeat_n(i, 0xC5));
        inner.extend_from_slice(&[0x22, 0x81, apdu.len() as u8]);
        inner.extend_from_slice(&apdu);
    }
    let mut script = vec![0xAA, 0x82];
    script.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    script.extend_from_slice(&inner);
    assert!(script.len() > 20_000, "{}", script.len());
    let out = smdp
        .es3(&es3::SendDataRequest {
            base: conformance::mno::base("https-20k", None),
            eid: eid(&lab, 0).parse().expect("eid"),
            sd_aid: hex::encode_upper(aid(&lab, 0, 1)).parse().expect("aid"),
            data: hex::encode_upper(&script).parse().expect("hex"),
            more_to_do: Some(true),
        })
        .await
        .expect("ES3 call");
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let report = Card::of(&lab, 0).session(None, CutAt::Never).await;
    assert_eq!(report.scripts, 1, "{report:?}");
    let cb = callback(&lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES3-SendDataResponse");
    assert_status(cb.status(), Status::Failed, Some(("8.4", "4.2")));
    assert_eq!(
        cb.field("EuiccResponseData").as_deref(),
        Some("AB0780010123026982"),
        "the ISD-P's answer alone: one command executed, SW 6982"
    );
    lab.stop().await;
}

fn free_port() -> u16 {
    rsp::lab::free_port().expect("a free port")
}

/// HTTPS with push SMS: the admin server on a known port (the trigger names it), the card retrying every second.
fn pushed_lab(o: &mut rsp::lab::LabOptions) {
    https_lab(o);
    o.es5.https.listen = format!("127.0.0.1:{}", free_port());
    o.es5.https.card_retry_secs = 1;
    o.es5.https.card_retries = 5;
}

fn operation_data(lab: &rsp::lab::Lab, eid: &str) -> Vec<serde_json::Value> {
    let mut c = lab.smsr.store.conn().expect("conn");
    eis_store::operations::all_of(&mut c, eid)
        .expect("operations")
        .iter()
        .map(|o| serde_json::from_str(&o.data).expect("operation data"))
        .collect()
}

/// No session is opened by the test: the SM-SR's push SMS makes the simulated eUICC connect, and the enable (and
/// its notification's confirmation) run over HTTPS.
#[actix_web::test]
async fn push_sms_opens_the_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, pushed_lab).await;
    let mno = lab.mno(0).expect("mno");
    let (e, p1, p2) = (eid(&lab, 0), iccid(&lab, 0, 0), iccid(&lab, 0, 1));
    let out = call(&mno, &enable(&e, &p2, "pushed-enable", None)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    notification(&lab, 0, "ES4-HandleProfileEnabledNotification", &p2, 0).await;
    notification(&lab, 0, "ES4-HandleProfileDisabledNotification", &p1, 0).await;
    let data = operation_data(&lab, &e);
    assert!(data.len() >= 2, "{data:?}");
    for d in &data {
        assert_eq!(d["channel"], "https", "{d}");
        assert!(d["https_trigger"]["sent"].as_u64() >= Some(1), "{d}");
        assert!(d.get("sms_fallback").is_none(), "{d}");
    }
    lab.stop().await;
}

/// The push SMS names an address where nothing listens: after the triggers and their time-outs the enable falls
/// back to SMS and succeeds there.
#[actix_web::test]
async fn no_connection_falls_back_to_sms() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        pushed_lab(o);
        o.es5.https.public_address = Some(format!("127.0.0.1:{}", free_port()));
        o.es5.https.card_retries = 0;
        o.es5.https.trigger_attempts = 2;
        o.es5.https.connect_timeout_secs = 1;
    })
    .await;
    let mno = lab.mno(0).expect("mno");
    let (e, p2) = (eid(&lab, 0), iccid(&lab, 0, 1));
    let out = call(&mno, &enable(&e, &p2, "fallback-enable", None)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    let data = operation_data(&lab, &e);
    let enable_op = data
        .iter()
        .find(|d| d.get("sms_fallback").is_some())
        .unwrap_or_else(|| panic!("an operation fell back: {data:?}"));
    assert_eq!(enable_op["channel"], "sms", "{enable_op}");
    assert_eq!(enable_op["https_trigger"]["sent"], 2, "{enable_op}");
    lab.stop().await;
}

/// Channel per script: both eUICCs support HTTPS, eUICC 0 is set to SMS in the configuration; its audit goes by
/// SMS, a 20 KB ES3.SendData script (too large for SMS) over HTTPS, opened by the push SMS.
#[actix_web::test]
async fn a_script_too_large_for_sms_goes_over_https() {
    use es_interfaces::messages::es3;
    let dir = tempfile::tempdir().expect("tempdir");
    // The world first, to name eUICC 0 in the configuration.
    let world = rsp::setup::load_or_init_world(&rsp::config::Config {
        var_dir: dir.path().to_path_buf(),
        test_euiccs: 2,
        ..rsp::config::Config::default()
    })
    .expect("world");
    let e0 = world.euiccs[0].eid.clone();
    let lab = small_lab(&dir, |o| {
        pushed_lab(o);
        o.https_share = 1.0;
        o.smdp_profiles = vec![(0, 1)];
        o.es5
            .https
            .channel_overrides
            .insert(e0.clone(), smsr::scp81::channel::Channel::Sms);
    })
    .await;
    assert_eq!(eid(&lab, 0), e0);
    let mno = lab.mno(0).expect("mno");
    let out = call(
        &mno,
        &es4::AuditEisRequest {
            base: conformance::mno::base("sized-audit", None),
            eid: e0.parse().expect("eid"),
            iccids: Vec::new(),
        },
    )
    .await;
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    assert_eq!(operations_over(&lab, &e0, "sms"), 1);

    rsp::lab::set_endpoint(
        &lab.smsr.store,
        &lab.world.manifest.sm_dp.oid,
        "ES3-callbacks",
        &format!("{}/es3", lab.receivers[0].url()),
    )
    .expect("register the receiver for the SM-DP");
    let smdp = conformance::mno::MnoClient::sm_dp(&lab.world, lab.smsr_url())
        .expect("SM-DP client")
        .with_reply_to(format!("{}/es3", lab.receivers[0].url()));
    let mut inner = Vec::new();
    for i in 0..100u8 {
        let mut apdu = vec![0x80, 0xE2, 0x88, i, 0xC8, 0x3A, 0x07, 0xC5];
        apdu.extend(std::iter::repeat_n(i, 0xC5));
        inner.extend_from_slice(&[0x22, 0x81, apdu.len() as u8]);
        inner.extend_from_slice(&apdu);
    }
    let mut script = vec![0xAA, 0x82];
    script.extend_from_slice(&(inner.len() as u16).to_be_bytes());
    script.extend_from_slice(&inner);
    let out = smdp
        .es3(&es3::SendDataRequest {
            base: conformance::mno::base("sized-20k", None),
            eid: e0.parse().expect("eid"),
            sd_aid: hex::encode_upper(aid(&lab, 0, 1)).parse().expect("aid"),
            data: hex::encode_upper(&script).parse().expect("hex"),
            more_to_do: Some(true),
        })
        .await
        .expect("ES3 call");
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 30).await;
    assert_status(cb.status(), Status::Failed, Some(("8.4", "4.2")));
    assert_eq!(
        cb.field("EuiccResponseData").as_deref(),
        Some("AB0780010123026982")
    );
    let data = operation_data(&lab, &e0);
    assert_eq!(data.len(), 2, "{data:?}");
    assert!(
        data.iter()
            .any(|d| d["channel"] == "https" && d["https_trigger"]["sent"].as_u64() >= Some(1)),
        "{data:?}"
    );
    lab.stop().await;
}

/// Cut sessions opened by push SMS: the SM-SR asks again (`connect_timeout` after the script) when the response
/// does not come; the card that ran the script resumes with its response, the card that did not gets the script
/// again. Either way the enable runs once on the card and succeeds.
#[actix_web::test]
async fn cut_pushed_sessions_are_triggered_again() {
    use conformance::euicc::Control;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lab = small_lab(&dir, |o| {
        pushed_lab(o);
        o.es5.https.connect_timeout_secs = 1;
        // The card's notification (after the attach) also completes the enable in flight: it comes after the
        // second push SMS, so that the resumed response is what completes the first enable.
        o.simulator.attach_delay_ms = 2_500;
    })
    .await;
    let mut events = lab.events.take().expect("simulator events");
    let mno = lab.mno(0).expect("mno");
    let (e, p1, p2) = (eid(&lab, 0), iccid(&lab, 0, 0), iccid(&lab, 0, 1));
    let sim_eid = conformance::euicc::Eid::parse(&e).expect("eid");
    // The admin server knows the card's PSK before the first push SMS (its cache is filled in the background).
    Card::of(&lab, 0).session(None, CutAt::Never).await;
    for (cut, target, fci) in [
        (CutAt::AfterRunning(1), &p2, "pushed-cut-after"),
        (CutAt::BeforeRunning(1), &p1, "pushed-cut-before"),
    ] {
        lab.network
            .control(Control::CutNextSession { eid: sim_eid, cut })
            .await
            .expect("control");
        let out = call(&mno, &enable(&e, target, fci, None)).await;
        assert_eq!(out.http_status, 202, "{}", out.envelope);
        assert_status(
            callback(&lab, 0, &out, 30).await.status(),
            Status::ExecutedSuccess,
            None,
        );
        assert_eq!(enables_executed(&mut events), 1, "{cut:?}");
    }
    let data = operation_data(&lab, &e);
    assert!(
        data.iter()
            .filter(|d| d["https_trigger"]["sent"].as_u64() >= Some(2))
            .count()
            >= 2,
        "each cut enable needed a second push SMS: {data:?}"
    );
    lab.stop().await;
}
