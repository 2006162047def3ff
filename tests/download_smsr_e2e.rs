//! The SM-SR's part of Profile Download (SGP.02 §3.1) end to end over loopback, the world's SM-DP calling ES3
//! over mutual TLS: ES3.CreateISDP (ES5 CreateISDP by SMS to the simulator, callback with the new AID, GetEIS
//! shows the profile Created), ES3.SendData routed to the ISD-P (the simulator's new ISD-P holds no key set yet
//! and refuses the STORE DATA: FAILED 8.4 / 4.2 with the ISD-P's response script), ES3.DeleteISDP of the
//! Created profile (gone from the EIS and from the card; its AID is not given again), ES3.ProfileDownloadCompleted
//! (Created → Disabled with its subscription address), and every refusal with nothing queued. Every SOAP message
//! of the session validates against the GSMA XSDs.

mod support;

use std::time::Duration;

use conformance::euicc::{DriverEvent, EventKind};
use conformance::mno::{CallOutcome, MnoClient};
use eis_store::eis::ProfileState;
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::es3;
use es_interfaces::status::Status;
use es_interfaces::wire_profile;
use support::*;
use tokio::sync::mpsc::UnboundedReceiver;

fn create(eid: &str, iccid: &str, mno: &str, memory: i64, fci: &str) -> es3::CreateIsdpRequest {
    es3::CreateIsdpRequest {
        base: conformance::mno::base(fci, None),
        eid: eid.parse().expect("eid"),
        iccid: iccid.parse().expect("iccid"),
        mno_id: mno.parse().expect("oid"),
        required_memory: memory,
        more_to_do: None,
    }
}

fn send_data(eid: &str, aid: &[u8], data: &str, fci: &str) -> es3::SendDataRequest {
    es3::SendDataRequest {
        base: conformance::mno::base(fci, None),
        eid: eid.parse().expect("eid"),
        sd_aid: hex::encode_upper(aid).parse().expect("aid"),
        data: data.parse().expect("hex"),
        more_to_do: Some(true),
    }
}

fn completed(eid: &str, iccid: &str, fci: &str) -> es3::ProfileDownloadCompletedRequest {
    es3::ProfileDownloadCompletedRequest {
        base: conformance::mno::base(fci, None),
        eid: eid.parse().expect("eid"),
        iccid: iccid.parse().expect("iccid"),
        profile_type: Some("download-test".to_string()),
        subscription_address: Some(es_interfaces::messages::common::SubscriptionAddress {
            imsi: Some("001019876543210".parse().expect("imsi")),
            msisdn: Some("447700900123".parse().expect("msisdn")),
        }),
        pol2: None,
    }
}

async fn es3<T: BodyElement>(smdp: &MnoClient, req: &T) -> CallOutcome {
    smdp.es3(req).await.expect("ES3 call")
}

/// The SM-DP's view of eUICC `eid` (ES3.GetEIS).
async fn smdp_eis(smdp: &MnoClient, eid: &str, fci: &str) -> es_interfaces::messages::eis::Eis {
    let out = es3(
        smdp,
        &es3::GetEisRequest {
            base: conformance::mno::base(fci, None),
            eid: eid.parse().expect("eid"),
        },
    )
    .await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let env = es_interfaces::soap::Envelope::parse(out.envelope.as_bytes()).expect("envelope");
    es3::GetEisResponse::decode_body(env.body())
        .expect("GetEIS response")
        .eis
        .expect("EIS")
}

/// Waits for the simulator event `want` (and drops the others).
async fn card_event(
    events: &mut UnboundedReceiver<DriverEvent>,
    want: impl Fn(&EventKind) -> bool,
) {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match events.recv().await {
                Some(DriverEvent::Euicc(e)) if want(&e.kind) => return,
                Some(_) => {}
                None => panic!("the simulator stopped"),
            }
        }
    })
    .await
    .expect("the simulator event");
}

fn queue_is_empty(lab: &rsp::lab::Lab, eid: &str) -> bool {
    let mut conn = lab.smsr.store.conn().expect("conn");
    eis_store::es5_queue::commands_of(&mut conn, eid)
        .expect("queue")
        .is_empty()
}

/// The whole session on `lab`; returns the SM-DP client's requests (for XSD validation).
async fn download_flow(mut lab: rsp::lab::Lab) -> Vec<String> {
    let mut events = lab.events.take().expect("events");
    // The receiver stands in for the SM-DP's callback endpoint: register it for the SM-DP, as a ReplyTo must be.
    rsp::lab::set_endpoint(
        &lab.smsr.store,
        &lab.world.manifest.sm_dp.oid,
        "ES3-callbacks",
        &format!("{}/es3", lab.receivers[0].url()),
    )
    .expect("register the receiver for the SM-DP");
    let smdp = MnoClient::sm_dp(&lab.world, lab.smsr_url())
        .expect("SM-DP client")
        .with_reply_to(format!("{}/es3", lab.receivers[0].url()));
    let smdp_oid = lab.world.manifest.sm_dp.oid.clone();
    let e0 = eid(&lab, 0);
    let issued = conformance::issuance::profiles_at_issuance(&lab.world, 0).expect("issuance");
    let mno = issued[0].mno_oid.clone();
    let (new1, new2) = ("8988299000000000017", "8988299000000000025");
    let remaining_before = smdp_eis(&smdp, &e0, "dl-get-0").await.remaining_memory;

    // --- ES3.CreateISDP: the next ISD-P instance after those loaded at issuance, memory over 65,535 bytes.
    let first_aid = wire_profile::isd_p_aid(u8::try_from(issued.len()).expect("slots"))
        .expect("aid")
        .to_vec();
    let out = es3(&smdp, &create(&e0, new1, &mno, 70_000, "dl-create-1")).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES3-CreateISDPResponse");
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    assert_eq!(
        cb.field("Isd-p-aid").as_deref(),
        Some(hex::encode_upper(&first_aid).as_str())
    );
    assert_eq!(
        cb.field("EuiccResponseData").as_deref(),
        Some("AB0880010123030090 00".replace(' ', "").as_str()),
        "the ISD-R's response script: INSTALL answered 00 9000"
    );
    card_event(
        &mut events,
        |k| matches!(k, EventKind::ProfileCreated { aid } if aid.as_bytes() == first_aid),
    )
    .await;
    let eis = smdp_eis(&smdp, &e0, "dl-get-1").await;
    let mine: Vec<_> = eis
        .profile_info
        .iter()
        .map(|p| {
            (
                p.iccid.as_str().to_string(),
                p.isd_p_aid.as_bytes().to_vec(),
                p.state,
            )
        })
        .collect();
    assert_eq!(
        mine,
        vec![(
            new1.to_string(),
            first_aid.clone(),
            es_interfaces::types::ProfileState::Created
        )],
        "the SM-DP sees its Created profile with its ISD-P, and no other"
    );
    assert_eq!(eis.remaining_memory, remaining_before - 70_000);
    // What the SM-DP needs for eligibility: the ECASD certificate, platform, SM-SR.
    let ecasd_cert = eis
        .eum_signed_info
        .ecasd
        .keysets
        .iter()
        .flat_map(|k| k.items.iter())
        .find_map(|i| match i {
            es_interfaces::messages::eis::KeysetItem::Certificate(c) => {
                Some(c.value.as_bytes().to_vec())
            }
            _ => None,
        })
        .expect("CERT.ECASD.ECKA");
    assert_eq!(&ecasd_cert[..2], &[0x7F, 0x21]);
    assert!(!eis.eum_signed_info.platform_type.as_str().is_empty());
    assert_eq!(eis.smsr_id.as_str(), lab.world.manifest.sm_sr.oid);

    // --- ES3.SendData: routed to the new ISD-P; it holds no key set and refuses the STORE DATA.
    // AA 0A { 22 08 <STORE DATA 80 E2 09 00 03 | DGI 3A01 len 00> }
    let script = "AA0A220880E20900033A0100";
    let out = es3(&smdp, &send_data(&e0, &first_aid, script, "dl-send-1")).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES3-SendDataResponse");
    assert_status(cb.status(), Status::Failed, Some(("8.4", "4.2")));
    let data = cb.field("EuiccResponseData").expect("EuiccResponseData");
    assert!(
        data.starts_with("AB078001012302") && data.len() == 18 && !data.ends_with("9000"),
        "the ISD-P's own response script, one refused command: {data}"
    );

    // --- ES3.DeleteISDP of the Created profile: gone from the EIS and the card.
    let out = es3(
        &smdp,
        &es3::DeleteIsdpRequest {
            base: conformance::mno::base("dl-delete-1", None),
            eid: e0.parse().expect("eid"),
            iccid: new1.parse().expect("iccid"),
        },
    )
    .await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES3-DeleteISDPResponse");
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    card_event(
        &mut events,
        |k| matches!(k, EventKind::ProfileDeleted { aid, .. } if aid.as_bytes() == first_aid),
    )
    .await;
    assert!(!profile_states(&lab, &e0).iter().any(|(i, _, _)| i == new1));
    let eis = smdp_eis(&smdp, &e0, "dl-get-2").await;
    assert!(eis.profile_info.is_empty());
    assert_eq!(
        eis.remaining_memory, remaining_before,
        "the memory is given back"
    );

    // --- A second CreateISDP gets a new AID (never the deleted one), then ProfileDownloadCompleted.
    let out = es3(&smdp, &create(&e0, new2, &mno, 20_000, "dl-create-2")).await;
    let cb = callback(&lab, 0, &out, 30).await;
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    let second_aid = wire_profile::isd_p_aid(u8::try_from(issued.len() + 1).expect("slots"))
        .expect("aid")
        .to_vec();
    assert_eq!(
        cb.field("Isd-p-aid").as_deref(),
        Some(hex::encode_upper(&second_aid).as_str())
    );
    let out = es3(&smdp, &completed(&e0, new2, "dl-completed-2")).await;
    assert_eq!(out.http_status, 200, "{}", out.envelope);
    assert!(
        out.envelope
            .contains("ES3-ProfileDownloadCompletedResponse")
    );
    assert_status(out.status(), Status::ExecutedSuccess, None);
    {
        let mut conn = lab.smsr.store.conn().expect("conn");
        let p = eis_store::eis::get_profile(&mut conn, new2)
            .expect("get")
            .expect("present");
        assert_eq!(p.info.state, ProfileState::Disabled);
        assert_eq!(p.info.imsi.as_deref(), Some("001019876543210"));
        assert_eq!(p.info.msisdn.as_deref(), Some("447700900123"));
        assert_eq!(p.info.profile_type.as_deref(), Some("download-test"));
        assert_eq!(p.info.smdp_id.as_deref(), Some(smdp_oid.as_str()));
        let trail = eis_store::eis::audit_trail(&mut conn, &e0).expect("audit trail");
        assert!(
            trail.iter().any(|r| r.operation_type == [0x01, 0x00]
                && r.iccid.as_deref() == Some(new2)
                && r.requester_id.as_deref() == Some(smdp_oid.as_str())),
            "{trail:?}"
        );
    }

    // --- Refusals, each answered at once with nothing queued.
    let unknown_eid =
        certs::world::eid_with_check_digits(&format!("{}99999", &e0[..25])).expect("eid");
    let before = profile_states(&lab, &e0);
    for (req, codes) in [
        (
            create(&unknown_eid, "8988299000000000033", &mno, 1_000, "dl-r-eid"),
            ("8.1.1", "3.9"),
        ),
        (
            create(&e0, &issued[0].iccid, &mno, 1_000, "dl-r-inuse"),
            ("8.2.1", "3.3"),
        ),
        (
            create(&e0, new2, &mno, 1_000, "dl-r-inuse-2"),
            ("8.2.1", "3.3"),
        ),
        (
            create(&e0, "8988299000000000033", &mno, 100_000_000, "dl-r-memory"),
            ("8.1", "3.8"),
        ),
    ] {
        let out = es3(&smdp, &req).await;
        assert_eq!(out.http_status, 200, "{}", out.envelope);
        assert!(
            out.envelope.contains("ES3-CreateISDPResponse"),
            "{}",
            out.envelope
        );
        assert_status(out.status(), Status::Failed, Some(codes));
    }
    let issued_aid = issued[1].isd_p_aid.to_vec();
    for (req, codes) in [
        (
            send_data(&e0, &issued_aid, script, "dl-r-not-mine"),
            ("8.3.1", "1.2"),
        ),
        (
            send_data(&e0, &wire_profile::ISD_R_AID, script, "dl-r-isdr"),
            ("8.3.1", "3.9"),
        ),
        (
            send_data(&e0, &first_aid, script, "dl-r-deleted"),
            ("8.3.1", "3.9"),
        ),
        (
            send_data(&e0, &second_aid, "0102", "dl-r-script"),
            ("1.6", "2.1"),
        ),
        (
            send_data(&unknown_eid, &second_aid, script, "dl-r-eid-2"),
            ("8.1.1", "3.9"),
        ),
    ] {
        let out = es3(&smdp, &req).await;
        assert_eq!(out.http_status, 200, "{}", out.envelope);
        assert_status(out.status(), Status::Failed, Some(codes));
    }
    for (req, codes) in [
        (completed(&e0, new2, "dl-r-twice"), ("8.2.1", "3.8")),
        (
            completed(&e0, &issued[0].iccid, "dl-r-other"),
            ("8.2.1", "3.9"),
        ),
        (
            completed(&e0, "8988299000000000033", "dl-r-unknown"),
            ("8.2.1", "3.9"),
        ),
    ] {
        let out = es3(&smdp, &req).await;
        assert_eq!(out.http_status, 200, "{}", out.envelope);
        assert_status(out.status(), Status::Failed, Some(codes));
    }
    assert_eq!(profile_states(&lab, &e0), before, "no profile changed");
    assert!(queue_is_empty(&lab, &e0), "nothing queued for the eUICC");
    assert_eq!(
        smdp_eis(&smdp, &e0, "dl-get-3").await.remaining_memory,
        remaining_before - 20_000
    );

    // --- A leftover Created row whose ISD-P the card does not have (a clean-up after a lost CreateISDP): the
    // card answers 6A88 to the DELETE, which counts as deleted for a Created profile only.
    let missing = |n: u8| wire_profile::isd_p_aid(n).expect("aid").to_vec();
    for (iccid, state, n) in [
        ("8988299000000000041", ProfileState::Created, 0x60),
        ("8988299000000000058", ProfileState::Disabled, 0x61),
    ] {
        let mut conn = lab.smsr.store.conn().expect("conn");
        eis_store::eis::insert_profile(
            &mut conn,
            &e0,
            &eis_store::eis::ProfileInfo {
                iccid: iccid.to_string(),
                isd_p_aid: missing(n),
                mno_id: mno.clone(),
                fallback: false,
                imsi: None,
                msisdn: None,
                state,
                smdp_id: Some(smdp_oid.clone()),
                profile_type: None,
                allocated_memory: 0,
                free_memory: None,
                pol2: Vec::new(),
            },
            0,
        )
        .expect("leftover row");
    }
    let delete = |iccid: &str, fci: &str| es3::DeleteIsdpRequest {
        base: conformance::mno::base(fci, None),
        eid: e0.parse().expect("eid"),
        iccid: iccid.parse().expect("iccid"),
    };
    let out = es3(&smdp, &delete("8988299000000000041", "dl-delete-leftover")).await;
    let cb = callback(&lab, 0, &out, 30).await;
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    let out = es3(&smdp, &delete("8988299000000000058", "dl-delete-disabled")).await;
    let cb = callback(&lab, 0, &out, 30).await;
    assert_status(cb.status(), Status::Failed, Some(("8.2.1", "3.9")));
    let left: Vec<String> = profile_states(&lab, &e0)
        .into_iter()
        .map(|(i, _, _)| i)
        .collect();
    assert!(!left.iter().any(|i| i == "8988299000000000041"), "{left:?}");
    assert!(left.iter().any(|i| i == "8988299000000000058"), "{left:?}");

    let sent = smdp.sent();
    lab.stop().await;
    sent
}

#[actix_web::test]
async fn download_functions_of_the_smsr_sqlite() {
    enable_capture();
    let dir = tempfile::tempdir().expect("tempdir");
    let sent = download_flow(small_lab(&dir, |_| {}).await).await;

    let documents = captured_documents();
    testkit::assert_session_valid(
        "the SM-SR download session",
        documents,
        &[
            "ES3-CreateISDPResponse",
            "ES3-SendDataResponse",
            "ES3-DeleteISDPResponse",
            "ES3-ProfileDownloadCompletedResponse",
            "ES3-GetEISResponse",
        ],
        sent,
    );
}

#[actix_web::test]
async fn download_functions_of_the_smsr_postgres() {
    // Set as in the SQLite test (same value), before this test's servers start.
    enable_capture();
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    download_flow(lab).await;
}
