//! Profile download end to end (SGP.02 §3.1; issue 9): an MNO's ES2.DownloadProfile at the SM-DP, ES3 to the
//! SM-SR over mutual TLS, ES5 by SMS through the test SMSC to the eUICC simulator, ES8 key establishment and
//! SCP03t tunnelled through ES3.SendData, ProfileDownloadCompleted, EnableProfile; the MNO's callback and
//! notifications at its receiver; the stock record's final state in the SM-DP's warehouse. Then the failure
//! cases of item 4, each with the MNO's subject/reason code and the record's final state. SQLite and PostgreSQL.

mod support;

use conformance::mno::MnoClient;
use eis_store::warehouse::{self as wh, StockState};
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::{es2, es4};
use es_interfaces::status::Status;
use es_interfaces::types::ProfileState;
use rsp::lab::Lab;
use smdp::batch::BatchFormat;
use smdp::saip::coding::luhn_check_digit;
use smdp::warehouse::import::{self, FileSource};
use smdp::warehouse::profile_types::{self, ProfileTypeSpec};
use support::*;

const TYPE: &str = "m2m-e2e";
/// The POL2 of [`TYPE`] (SGP.02 §2.4.5), in the text form of `rsp profile-type add --pol2`: every profile
/// downloaded from it reaches the SM-SR's EIS with these rules, and the SM-SR enforces them.
const TYPE_POL2: &str = "DISABLE:Not-Allowed,DELETE:Not-Allowed";

fn stock_iccid(i: u64) -> String {
    let body = format!("89882991{i:010}");
    format!("{body}{}", luhn_check_digit(&body).expect("digits"))
}

fn stock_imsi(i: u64) -> String {
    format!("0010199{i:08}")
}

fn stock_msisdn(i: u64) -> String {
    format!("4477009{i:05}")
}

/// Adds profile type `name` (the sample USIM template, POL2 `pol2` in its text form) for MNO 0 and stocks
/// `rows` records.
fn stock(
    lab: &Lab,
    dir: &std::path::Path,
    (name, pol2): (&str, Option<&str>),
    required_memory: i64,
    first: u64,
    rows: u64,
) {
    let mno = lab.world.manifest.mnos[0].entity.oid.clone();
    {
        let mut c = lab.smdp.store.conn().expect("conn");
        profile_types::add(
            &mut c,
            &ProfileTypeSpec {
                mno_oid: mno.clone(),
                name: name.into(),
                template: smdp::saip::sample::usim_template_der(),
                required_memory,
                target_platform: "generic".into(),
                low_stock_threshold: 0,
                pol2: pol2.map(|t| profile_types::parse_pol2(t).expect("POL2")),
            },
            eis_store::now_millis(),
        )
        .expect("profile type");
    }
    let mut csv = String::from("ICCID,IMSI,K,OPC,PIN1,PUK1,PIN2,PUK2,ADM1,MSISDN\n");
    for i in first..first + rows {
        csv.push_str(&format!(
            "{},{},{:032X},{:032X},1234,12345678,5678,87654321,{:08},{}\n",
            stock_iccid(i),
            stock_imsi(i),
            i + 1,
            (u128::from(i) + 1) << 64,
            i,
            stock_msisdn(i)
        ));
    }
    let path = dir.join(format!("{name}.csv"));
    std::fs::write(&path, csv).expect("order file");
    import::import_order(
        &lab.smdp.store,
        &lab.smdp.keyring,
        &mno,
        name,
        &FileSource { path },
        BatchFormat::Csv,
        &mut |_| {},
    )
    .expect("import");
}

fn stock_state(lab: &Lab, iccid: &str) -> StockState {
    let mut c = lab.smdp.store.conn().expect("conn");
    wh::get_stock(&mut c, iccid)
        .expect("stock")
        .expect("record")
        .state
}

fn download(
    lab: &Lab,
    eid: &str,
    by: (&str, Option<&str>),
    enable: bool,
    fci: &str,
    validity: Option<u64>,
) -> es2::DownloadProfileRequest {
    es2::DownloadProfileRequest {
        base: conformance::mno::base(fci, validity),
        eid: eid.parse().expect("eid"),
        smsr_id: lab.world.manifest.sm_sr.oid.parse().expect("oid"),
        profile_type: by.1.is_none().then(|| by.0.to_string()),
        iccid: by.1.map(|i| i.parse().expect("iccid")),
        enable_profile: enable,
    }
}

/// Sends an ES2 (or, with `es4`, ES4) request; a transport failure (a pooled connection the server closed
/// while the test waited) is retried with the same request: the same FunctionCallIdentifier is answered from
/// the record if the first one arrived.
async fn send<T: BodyElement>(
    mno: &MnoClient,
    req: &T,
    es4: bool,
) -> conformance::mno::CallOutcome {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let r = if es4 {
            mno.es4(req).await
        } else {
            mno.es2(req).await
        };
        match r {
            Ok(out) => return out,
            Err(e) if attempt < 3 => eprintln!("request retried after: {e}"),
            Err(e) => panic!("{}: {e:?}", T::ELEMENT),
        }
    }
}

async fn es2<T: BodyElement>(mno: &MnoClient, req: &T) -> conformance::mno::CallOutcome {
    send(mno, req, false).await
}

/// The MNO's ES2 callback answering `out`: (status, subject, reason, Iccid).
async fn answer(
    lab: &Lab,
    out: &conformance::mno::CallOutcome,
    secs: u64,
) -> (Status, Option<(String, String)>, Option<String>) {
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(lab, 0, out, secs).await;
    assert_eq!(cb.element, "ES2-DownloadProfileResponse", "{}", cb.envelope);
    let s = cb.status().expect("status");
    let codes = s
        .status_code_data
        .as_ref()
        .map(|d| (d.subject.code().to_string(), d.reason.code().to_string()));
    (s.status, codes, cb.field("Iccid"))
}

fn codes(s: &str, r: &str) -> Option<(String, String)> {
    Some((s.to_string(), r.to_string()))
}

/// The state and POL2 (its text form) of `iccid` in the EIS of `eid`, seen by the MNO through the SM-DP (ES2)
/// and at the SM-SR (ES4).
async fn views(
    lab: &Lab,
    mno: &MnoClient,
    eid: &str,
    iccid: &str,
    fci: &str,
) -> (
    Option<(ProfileState, String)>,
    Option<(ProfileState, String)>,
) {
    let es2_out = es2(
        mno,
        &es2::GetEisRequest {
            base: conformance::mno::base(&format!("{fci}-es2"), None),
            eid: eid.parse().expect("eid"),
            smsr_id: lab.world.manifest.sm_sr.oid.parse().expect("oid"),
        },
    )
    .await;
    let env = es_interfaces::soap::Envelope::parse(es2_out.envelope.as_bytes()).expect("envelope");
    let eis2 = es2::GetEisResponse::decode_body(env.body())
        .expect("ES2 GetEIS")
        .eis;
    let es4_out = send(
        mno,
        &es4::GetEisRequest {
            base: conformance::mno::base(&format!("{fci}-es4"), None),
            eid: eid.parse().expect("eid"),
        },
        true,
    )
    .await;
    let env = es_interfaces::soap::Envelope::parse(es4_out.envelope.as_bytes()).expect("envelope");
    let eis4 = es4::GetEisResponse::decode_body(env.body())
        .expect("ES4 GetEIS")
        .eis;
    let state = |eis: Option<es_interfaces::messages::eis::Eis>| {
        eis.and_then(|e| {
            e.profile_info
                .iter()
                .find(|p| p.iccid.as_str() == iccid)
                .map(|p| (p.state, profile_types::pol2_text(&p.pol2)))
        })
    };
    (state(eis2), state(eis4))
}

fn levels(lab: &Lab, name: &str) -> (i64, i64, i64, i64) {
    let mut c = lab.smdp.store.conn().expect("conn");
    let l = smdp::warehouse::stock::levels(&mut c, &lab.world.manifest.mnos[0].entity.oid)
        .expect("levels")
        .into_iter()
        .find(|l| l.profile_type == name)
        .expect("type");
    (l.available, l.reserved, l.downloading, l.installed)
}

fn downloads_of(lab: &Lab, iccid: &str) -> usize {
    let mut c = lab.smdp.store.conn().expect("conn");
    eis_store::downloads::by_iccid(&mut c, iccid)
        .expect("downloads")
        .len()
}

/// ES2.DownloadProfile with EnableProfile for eUICC 0 (over SMS or HTTPS, as the lab has it): SUCCESS with the Iccid, the record installed,
/// ProfileEnabled notified, the profile Enabled in the ES2 and ES4 views; a repeated FunctionCallIdentifier
/// answers the same without a second download.
async fn success_flow(lab: &Lab, mno: &MnoClient) -> String {
    let e0 = eid(lab, 0);
    // The MNO's network knows the subscription of the record the download will take.
    lab.network
        .control(conformance::euicc::Control::ProvisionSubscriber {
            imsi: stock_imsi(0),
            msisdn: stock_msisdn(0),
        })
        .await
        .expect("control");
    let req = download(lab, &e0, (TYPE, None), true, "dl-ok", Some(600));
    let out = es2(mno, &req).await;
    let (status, codes, iccid) = answer(lab, &out, 180).await;
    assert_eq!((status, codes), (Status::ExecutedSuccess, None));
    let iccid = iccid.expect("Iccid");
    assert_eq!(
        iccid,
        stock_iccid(0),
        "the lowest available record of the type"
    );
    assert_eq!(stock_state(lab, &iccid), StockState::Installed);
    notification(lab, 0, "ES2-HandleProfileEnabledNotification", &iccid, 0).await;
    // The profile type's POL2 went with ES3.ProfileDownloadCompleted into the SM-SR's EIS, rule for rule.
    let enabled = Some((ProfileState::Enabled, TYPE_POL2.to_string()));
    assert_eq!(
        views(lab, mno, &e0, &iccid, "dl-ok-view").await,
        (enabled.clone(), enabled)
    );
    // ... and the SM-SR enforces it: DISABLE is Not-Allowed (8.2.3 POL2 / 3.8 Refused), nothing is queued.
    let out = send(
        mno,
        &es4::DisableProfileRequest {
            base: conformance::mno::base("dl-ok-disable", Some(60)),
            eid: e0.parse().expect("eid"),
            iccid: iccid.parse().expect("iccid"),
        },
        true,
    )
    .await;
    assert_status(out.status(), Status::Failed, Some(("8.2.3", "3.8")));
    let again = es2(mno, &req).await;
    assert_eq!(again.http_status, 200, "{}", again.envelope);
    assert_status(again.status(), Status::ExecutedSuccess, None);
    assert_eq!(
        downloads_of(lab, &iccid),
        1,
        "one download for a repeated FunctionCallIdentifier"
    );
    let checked = python_check(lab, &e0);
    assert_eq!(checked["ok"], true, "{checked}");
    iccid
}

/// The refusals that need no fault on the card, each with the MNO's code and the stock left as it was.
async fn refusals(lab: &Lab, mno: &MnoClient, dir: &std::path::Path, installed: &str) {
    let e1 = eid(lab, 1);
    let before = levels(lab, TYPE);
    // Unknown EID: the SM-SR's GetEIS refusal.
    let unknown = "89049032999999999999999999999999";
    let out = es2(
        mno,
        &download(
            lab,
            unknown,
            (TYPE, None),
            false,
            "dl-unknown-eid",
            Some(60),
        ),
    )
    .await;
    let (s, c, _) = answer(lab, &out, 60).await;
    assert_eq!((s, c), (Status::Failed, codes("8.1.1", "3.9")));
    assert_eq!(levels(lab, TYPE), before, "the record is back in stock");
    // An SM-SR the SM-DP does not know: refused at once.
    let mut req = download(lab, &e1, (TYPE, None), false, "dl-unknown-smsr", Some(60));
    req.smsr_id = "1.3.6.1.4.1.99999.99".parse().expect("oid");
    let out = es2(mno, &req).await;
    assert_eq!(out.http_status, 200);
    assert_status(out.status(), Status::Failed, Some(("8.7", "3.9")));
    // A known SM-SR that does not manage the eUICC.
    let other = "1.3.6.1.4.1.99999.22";
    {
        let mut c = lab.smdp.store.conn().expect("conn");
        let mut smsr = eis_store::entities::get_entity(&mut c, &lab.world.manifest.sm_sr.oid)
            .expect("entity")
            .expect("SM-SR");
        smsr.oid = other.into();
        smsr.fingerprints.clear();
        eis_store::entities::create_entity(&mut c, &smsr, eis_store::now_millis())
            .expect("second SM-SR");
    }
    let mut req = download(lab, &e1, (TYPE, None), false, "dl-other-smsr", Some(60));
    req.smsr_id = other.parse().expect("oid");
    let out = es2(mno, &req).await;
    let (s, c, _) = answer(lab, &out, 60).await;
    assert_eq!((s, c), (Status::Failed, codes("8.7", "3.10")));
    assert_eq!(levels(lab, TYPE), before);
    // Insufficient memory on the eUICC for the profile type.
    stock(lab, dir, ("m2m-big", None), 50_000_000, 900, 1);
    let out = es2(
        mno,
        &download(lab, &e1, ("m2m-big", None), false, "dl-big", Some(60)),
    )
    .await;
    let (s, c, _) = answer(lab, &out, 60).await;
    assert_eq!((s, c), (Status::Failed, codes("8.1", "3.8")));
    assert_eq!(stock_state(lab, &stock_iccid(900)), StockState::Available);
    // No stock left of the profile type: refused at once.
    {
        let mut c = lab.smdp.store.conn().expect("conn");
        profile_types::add(
            &mut c,
            &ProfileTypeSpec {
                mno_oid: lab.world.manifest.mnos[0].entity.oid.clone(),
                name: "m2m-none".into(),
                template: smdp::saip::sample::usim_template_der(),
                required_memory: 1_000,
                target_platform: "generic".into(),
                low_stock_threshold: 0,
                pol2: None,
            },
            eis_store::now_millis(),
        )
        .expect("profile type");
    }
    let out = es2(
        mno,
        &download(lab, &e1, ("m2m-none", None), false, "dl-none", Some(60)),
    )
    .await;
    assert_eq!(out.http_status, 200);
    assert_status(out.status(), Status::Failed, Some(("8.2.5", "3.8")));
    // The ICCID installed on eUICC 0, asked for eUICC 1: refused at once, still installed.
    let out = es2(
        mno,
        &download(
            lab,
            &e1,
            ("", Some(installed)),
            false,
            "dl-in-use",
            Some(60),
        ),
    )
    .await;
    assert_eq!(out.http_status, 200);
    assert_status(out.status(), Status::Failed, Some(("8.2.1", "3.3")));
    assert_eq!(stock_state(lab, installed), StockState::Installed);
}

/// eUICC 2 of the world has an expired CERT.ECASD.ECKA, eUICC 3 one issued by an EUM the SM-DP does not know.
const EXPIRED_ECASD: usize = 2;
const UNKNOWN_EUM: usize = 3;

fn with_ecasd_faults(o: &mut rsp::lab::LabOptions) {
    use conformance::eum::EcasdFault;
    o.world_euiccs = 4;
    o.ecasd_faults = vec![
        (EXPIRED_ECASD, EcasdFault::Expired),
        (UNKNOWN_EUM, EcasdFault::UnknownEum),
    ];
}

/// The eligibility check of CERT.ECASD.ECKA (SGP.02 §3.1.1, §2.3.2): an expired certificate (8.5.2/6.3) and
/// one issued by an EUM the SM-DP does not trust (8.5.2/6.1) each end the download FAILED before anything is
/// sent to the eUICC: the record is back in stock, no ISD-P was created at the SM-SR nor on the card.
async fn ecasd_refusals(
    lab: &Lab,
    mno: &MnoClient,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<conformance::euicc::DriverEvent>,
) {
    use conformance::euicc::{DriverEvent, EventKind};
    for (index, name, (subject, reason)) in [
        (EXPIRED_ECASD, "expired", ("8.5.2", "6.3")),
        (UNKNOWN_EUM, "unknown-eum", ("8.5.2", "6.1")),
    ] {
        let e = eid(lab, index);
        let card = conformance::euicc::Eid::parse(&e).expect("eid");
        let profiles_before = profile_states(lab, &e);
        let before = levels(lab, TYPE);
        let out = es2(
            mno,
            &download(
                lab,
                &e,
                (TYPE, None),
                false,
                &format!("dl-ecasd-{name}"),
                Some(60),
            ),
        )
        .await;
        let (s, c, _) = answer(lab, &out, 60).await;
        assert_eq!((s, c), (Status::Failed, codes(subject, reason)), "{name}");
        assert_eq!(
            levels(lab, TYPE),
            before,
            "{name}: the record is back in stock"
        );
        assert_eq!(
            profile_states(lab, &e),
            profiles_before,
            "{name}: no ISD-P created at the SM-SR"
        );
        while let Ok(event) = events.try_recv() {
            if let DriverEvent::Euicc(ev) = event {
                assert!(
                    !(ev.eid == card && matches!(ev.kind, EventKind::ProfileCreated { .. })),
                    "{name}: an ISD-P was created on the eUICC"
                );
            }
        }
    }
}

async fn scenario(mut lab: Lab, dir: &std::path::Path) {
    let mut events = lab.events.take().expect("simulator events");
    let memory = i64::from(conformance::issuance::remaining_memory_at_issuance(
        &conformance::issuance::profiles_at_issuance(&lab.world, 0).expect("issuance"),
    )) / 4;
    stock(&lab, dir, (TYPE, Some(TYPE_POL2)), memory, 0, 20);
    let mno = lab.mno(0).expect("mno");
    let installed = success_flow(&lab, &mno).await;
    refusals(&lab, &mno, dir, &installed).await;
    ecasd_refusals(&lab, &mno, &mut events).await;
    card_faults(&lab, &mno).await;
    unreachable(&lab, &mno, &mut events).await;
    validate_xsd(&lab, mno.sent(), FULL_SESSION);
    lab.stop().await;
}

/// The same download with the eUICC on HTTPS (issue 9 done-when, issue 11): CreateISDP, the ES8 scripts of key
/// establishment and SCP03t, the enable and its notification confirmation go to the eUICC over SCP81 (every
/// operation records channel `https`); the result, stock, views, the independent Python check of the ES8
/// session and the GSMA XSD check are those of the SMS download.
async fn scenario_https(lab: Lab, dir: &std::path::Path) {
    let memory = i64::from(conformance::issuance::remaining_memory_at_issuance(
        &conformance::issuance::profiles_at_issuance(&lab.world, 0).expect("issuance"),
    )) / 4;
    stock(&lab, dir, (TYPE, Some(TYPE_POL2)), memory, 0, 20);
    let mno = lab.mno(0).expect("mno");
    success_flow(&lab, &mno).await;
    assert_all_over_https(&lab);
    validate_xsd(&lab, mno.sent(), SUCCESS_SESSION);
    lab.stop().await;
}

#[actix_web::test]
async fn download_over_https_sqlite() {
    enable_capture();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, https_options).await;
    scenario_https(lab, dir.path()).await;
}

#[actix_web::test]
async fn download_over_https_postgres() {
    enable_capture();
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        https_options(o);
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    scenario_https(lab, dir.path()).await;
}

#[actix_web::test]
async fn download_end_to_end_sqlite() {
    enable_capture();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, with_ecasd_faults).await;
    scenario(lab, dir.path()).await;
}

#[actix_web::test]
async fn download_end_to_end_postgres() {
    enable_capture();
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        with_ecasd_faults(o);
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    scenario(lab, dir.path()).await;
}

/// Waits until `iccid`'s record is in `want`.
async fn wait_stock(lab: &Lab, iccid: &str, want: StockState, secs: u64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let s = stock_state(lab, iccid);
        if s == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{iccid}: {s:?}, expected {want:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// No profile of `iccid` left at the SM-SR (the ISD-P of a failed download is deleted).
async fn wait_no_profile(lab: &Lab, eid: &str, iccid: &str, secs: u64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    while profile_states(lab, eid).iter().any(|(i, _, _)| i == iccid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{iccid} still on {eid}: {:?}",
            profile_states(lab, eid)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The card faults of item 4, on eUICC 1: each download fails with the MNO's code, the ISD-P is deleted and
/// the record released.
async fn card_faults(lab: &Lab, mno: &MnoClient) {
    use conformance::euicc::{Control, DownloadFaults};
    let e1 = eid(lab, 1);
    let card = conformance::euicc::Eid::parse(&e1).expect("eid");
    let cases = [
        (
            "receipt",
            DownloadFaults {
                wrong_receipt: true,
                ..DownloadFaults::default()
            },
            ("8.3.1", "6.1"),
        ),
        (
            "cmac",
            DownloadFaults {
                cmac_failure: true,
                ..DownloadFaults::default()
            },
            ("8.4", "4.2"),
        ),
        (
            "package",
            DownloadFaults {
                refuse_package: true,
                ..DownloadFaults::default()
            },
            ("8.3.1", "4.2"),
        ),
    ];
    for (name, faults, (subject, reason)) in cases {
        lab.network
            .control(Control::SetDownloadFaults { eid: card, faults })
            .await
            .expect("control");
        let next = stock_iccid(1);
        let out = es2(
            mno,
            &download(
                lab,
                &e1,
                (TYPE, None),
                false,
                &format!("dl-fault-{name}"),
                Some(300),
            ),
        )
        .await;
        let (s, c, _) = answer(lab, &out, 120).await;
        assert_eq!((s, c), (Status::Failed, codes(subject, reason)), "{name}");
        wait_stock(lab, &next, StockState::Available, 60).await;
        wait_no_profile(lab, &e1, &next, 60).await;
    }
    lab.network
        .control(Control::SetDownloadFaults {
            eid: card,
            faults: DownloadFaults::default(),
        })
        .await
        .expect("control");
}

/// The eUICC unreachable until the ValidityPeriod ends: once its ISD-P is created every MT SMS is lost, so the
/// download ends EXPIRED 1.6/5.3 for the MNO with the ISD-P in Created (at the SM-SR; on the card it is not
/// deleted meanwhile); when the eUICC is reachable again the clean-up deletes the ISD-P on the card and at the
/// SM-SR and the record is back in stock.
async fn unreachable(
    lab: &Lab,
    mno: &MnoClient,
    events: &mut tokio::sync::mpsc::UnboundedReceiver<conformance::euicc::DriverEvent>,
) {
    use conformance::euicc::{DriverEvent, EventKind};
    let e1 = eid(lab, 1);
    let card = conformance::euicc::Eid::parse(&e1).expect("eid");
    let next = stock_iccid(1);
    while events.try_recv().is_ok() {}
    let out = es2(
        mno,
        &download(lab, &e1, (TYPE, None), false, "dl-unreachable", Some(15)),
    )
    .await;
    let aid = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            match events.recv().await {
                Some(DriverEvent::Euicc(e)) if e.eid == card => {
                    if let EventKind::ProfileCreated { aid } = e.kind {
                        return aid;
                    }
                }
                Some(_) => {}
                None => panic!("the simulator stopped"),
            }
        }
    })
    .await
    .expect("the ISD-P is created");
    let deleted_on_card = |event: &DriverEvent| {
        matches!(event, DriverEvent::Euicc(e)
            if e.eid == card && matches!(&e.kind, EventKind::ProfileDeleted { aid: a, .. } if *a == aid))
    };
    lab.network.drop_next_mt(1_000_000);
    let (s, c, _) = answer(lab, &out, 60).await;
    assert_eq!((s, c), (Status::Expired, codes("1.6", "5.3")));
    assert!(
        profile_states(lab, &e1)
            .iter()
            .any(|(i, st, _)| *i == next && *st == eis_store::eis::ProfileState::Created),
        "the ISD-P waits in Created while the eUICC is unreachable"
    );
    assert_eq!(stock_state(lab, &next), StockState::Downloading);
    while let Ok(event) = events.try_recv() {
        assert!(
            !deleted_on_card(&event),
            "the ISD-P cannot be deleted while the eUICC is unreachable"
        );
    }
    lab.network.drop_next_mt(0);
    wait_stock(lab, &next, StockState::Available, 120).await;
    wait_no_profile(lab, &e1, &next, 60).await;
    // The clean-up reached the card: its ISD-P is gone too.
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            match events.recv().await {
                Some(event) if deleted_on_card(&event) => return,
                Some(_) => {}
                None => panic!("the simulator stopped"),
            }
        }
    })
    .await
    .expect("the ISD-P is deleted on the eUICC once it is reachable");
}

/// The independent Python check (tests/py/es8_session_check.py) of the SM-DP's side of the session with
/// eUICC `eid`, on the messages this lab emitted (its two servers' URLs select them among the captured ones).
fn python_check(lab: &Lab, eid: &str) -> serde_json::Value {
    let session = tempfile::tempdir().expect("tempdir");
    let mine = [lab.smsr_url().to_string(), lab.smdp_url().to_string()];
    for entry in std::fs::read_dir(capture_dir()).expect("capture dir") {
        let path = entry.expect("entry").path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        if mine.iter().any(|u| text.contains(&format!("{u}/"))) {
            std::fs::copy(&path, session.path().join(path.file_name().expect("name")))
                .expect("copy");
        }
    }
    let root = testkit::workspace_root();
    let out = testkit::run_python(
        &root.join("tests/py/es8_session_check.py"),
        &[
            &session.path().to_string_lossy(),
            &lab.world.dir.to_string_lossy(),
            eid,
        ],
    );
    serde_json::from_str(out.trim()).expect("the checker prints JSON")
}

/// The messages of this lab's servers (captured) and the MNO's requests, against the GSMA XSDs.
fn validate_xsd(lab: &Lab, sent: Vec<String>, expected: &[&str]) {
    let mine = [lab.smsr_url().to_string(), lab.smdp_url().to_string()];
    let documents: Vec<String> = std::fs::read_dir(capture_dir())
        .expect("capture dir")
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|text| mine.iter().any(|u| text.contains(&format!("{u}/"))))
        .collect();
    testkit::assert_session_valid("the download session", documents, expected, sent);
}

/// What a successful download with EnableProfile sends and answers.
const SUCCESS_SESSION: &[&str] = &[
    "ES2-DownloadProfileResponse",
    "ES3-CreateISDPRequest",
    "ES3-SendDataRequest",
    "ES3-ProfileDownloadCompletedRequest",
    "ES3-EnableProfileRequest",
    "ES2-HandleProfileEnabledNotification",
];

/// [`SUCCESS_SESSION`] and the clean-up of the failure cases.
const FULL_SESSION: &[&str] = &[
    "ES2-DownloadProfileResponse",
    "ES3-CreateISDPRequest",
    "ES3-SendDataRequest",
    "ES3-ProfileDownloadCompletedRequest",
    "ES3-EnableProfileRequest",
    "ES3-DeleteISDPRequest",
    "ES2-HandleProfileEnabledNotification",
];
