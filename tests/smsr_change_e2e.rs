//! SM-SR change end to end (SGP.02 §3.8; issue 13): two SM-SRs behind one test SMSC, the eUICC simulator on the
//! other side. ES4.PrepareSMSRChange at SM-SR 2, ES4.SMSRChange at SM-SR 1, ES7 HandoverEUICC /
//! AuthenticateSMSR / CreateAdditionalKeySet between them, the new ISD-R key set on the card (wire-profile §5b),
//! then ES4.EnableProfile through SM-SR 2 under the new keys. On SQLite with every SOAP message of the session
//! validated against the GSMA XSDs, and with SM-SR 2 on PostgreSQL; and the failures: no PrepareSMSRChange, the
//! eUICC unreachable until the validity period ends.

mod support;

use conformance::mno::{MnoClient, base};
use es_interfaces::messages::es4;
use es_interfaces::status::Status;
use es_interfaces::types::ProfileState;
use rsp::lab::{Lab, SecondSmsr};
use support::*;

async fn change_lab(dir: &tempfile::TempDir, smsr2_db: Option<String>) -> Lab {
    small_lab(dir, |o| {
        o.second_smsr = Some(SecondSmsr {
            database_url: smsr2_db.clone(),
            ..SecondSmsr::default()
        });
        // eUICC 0's second profile was downloaded by the SM-DP: the SM-DP is told of the change too.
        o.smdp_profiles = vec![(0, 1)];
    })
    .await
}

/// MNO `i`'s client of SM-SR 2, its receiver as ReplyTo.
fn mno_at_smsr2(lab: &Lab, i: usize) -> MnoClient {
    MnoClient::new(
        &lab.world,
        i,
        lab.smsr2_url().expect("SM-SR 2"),
        lab.smdp_url(),
    )
    .expect("client")
    .with_reply_to(format!("{}/es4", lab.receivers[i].url()))
}

fn prepare(eid: &str, current: &str, fci: &str) -> es4::PrepareSmsrChangeRequest {
    es4::PrepareSmsrChangeRequest {
        base: base(fci, None),
        eid: eid.parse().expect("eid"),
        current_smsr_id: current.parse().expect("oid"),
    }
}

fn change(eid: &str, target: &str, fci: &str, validity: u64) -> es4::SmsrChangeRequest {
    es4::SmsrChangeRequest {
        base: base(fci, Some(validity)),
        eid: eid.parse().expect("eid"),
        target_smsr_id: target.parse().expect("oid"),
    }
}

fn get_eis(eid: &str, fci: &str) -> es4::GetEisRequest {
    es4::GetEisRequest {
        base: base(fci, None),
        eid: eid.parse().expect("eid"),
    }
}

/// The EIS an MNO gets from an SM-SR, or the refusal.
async fn eis_at(
    mno: &MnoClient,
    eid: &str,
    fci: &str,
) -> Result<es_interfaces::messages::eis::Eis, (String, String)> {
    let out = call(mno, &get_eis(eid, fci)).await;
    let s = out.status().expect("status");
    if s.status != Status::ExecutedSuccess {
        let d = s.status_code_data.expect("codes");
        return Err((d.subject.code().to_string(), d.reason.code().to_string()));
    }
    let env = es_interfaces::soap::Envelope::parse(out.envelope.as_bytes()).expect("envelope");
    Ok(es4::GetEisResponse::decode_body(env.body())
        .expect("GetEIS response")
        .eis
        .expect("EIS"))
}

/// Moves eUICC 0 from SM-SR 1 to SM-SR 2 and enables its second profile through SM-SR 2.
async fn moves_an_euicc_and_manages_it_there(lab: &Lab) {
    let mno1 = lab.mno(0).expect("mno");
    let mno2 = mno_at_smsr2(lab, 0);
    let (e0, p1, p2) = (eid(lab, 0), iccid(lab, 0, 0), iccid(lab, 0, 1));
    let sr1 = lab.world.manifest.sm_sr.oid.clone();
    let sr2 = lab.smsr2_oid().expect("SM-SR 2").to_string();

    let out = call(&mno2, &prepare(&e0, &sr1, "prepare-1")).await;
    assert_eq!(out.http_status, 200, "{}", out.envelope);
    assert_status(out.status(), Status::ExecutedSuccess, None);
    // Not at the SM-SR that holds it.
    let out = call(&mno1, &prepare(&e0, &sr2, "prepare-wrong")).await;
    assert_status(out.status(), Status::Failed, Some(("8.1.1", "3.3")));

    let out = call(&mno1, &change(&e0, &sr2, "change-1", 600)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(lab, 0, &out, 120).await;
    assert_eq!(cb.element, "ES4-SMSRChangeResponse");
    assert_status(cb.status(), Status::ExecutedSuccess, None);

    // SM-SR 1 no longer knows the eUICC; SM-SR 2 does, as its own.
    assert_eq!(
        eis_at(&mno1, &e0, "get-at-1").await.err(),
        Some(("8.1.1".to_string(), "3.9".to_string()))
    );
    let eis = eis_at(&mno2, &e0, "get-at-2")
        .await
        .expect("EIS at SM-SR 2");
    assert_eq!(eis.smsr_id.as_str(), sr2);
    // The MNO was told (ES4 from SM-SR 2) and so was the SM-DP, which told the MNO over ES2.
    let told = lab.receivers[0]
        .wait_for(std::time::Duration::from_secs(30), |r| {
            r.element == "ES4-HandleSMSRChangeNotification"
        })
        .await
        .expect("ES4-HandleSMSRChangeNotification");
    assert!(told.envelope.contains(&sr2), "{}", told.envelope);
    lab.receivers[0]
        .wait_for(std::time::Duration::from_secs(30), |r| {
            r.element == "ES2-HandleSMSRChangeNotification"
        })
        .await
        .expect("ES2-HandleSMSRChangeNotification through the SM-DP");

    // SM-SR 2 reaches the eUICC with its own keys: enable P2, the eUICC's notification comes back to it.
    let out = call(&mno2, &enable(&e0, &p2, "enable-at-2", None)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(lab, 0, &out, 60).await;
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    let eis = eis_at(&mno2, &e0, "get-after-enable").await.expect("EIS");
    let state = |iccid: &str| {
        eis.profile_info
            .iter()
            .find(|p| p.iccid.as_str() == iccid)
            .map(|p| p.state)
    };
    assert_eq!(state(&p2), Some(ProfileState::Enabled));
    assert_eq!(state(&p1), Some(ProfileState::Disabled));
    // SM-SR 1 refuses what it no longer manages.
    let out = call(&mno1, &enable(&e0, &p1, "enable-at-1", None)).await;
    assert_status(out.status(), Status::Failed, Some(("8.1.1", "3.9")));
    // eUICC 1 stayed with SM-SR 1 and is managed there as before.
    let (e1, q2) = (eid(lab, 1), iccid(lab, 1, 1));
    let out = call(&mno1, &enable(&e1, &q2, "enable-other", None)).await;
    assert_status(
        callback(lab, 0, &out, 60).await.status(),
        Status::ExecutedSuccess,
        None,
    );
}

#[actix_web::test]
async fn an_euicc_moves_to_the_new_smsr_and_every_message_validates() {
    enable_capture();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = change_lab(&dir, None).await;
    moves_an_euicc_and_manages_it_there(&lab).await;
    let sent = lab.mno(0).expect("mno").sent();
    lab.stop().await;
    let prefix = format!("{}-", std::process::id());
    let documents: Vec<String> = std::fs::read_dir(capture_dir())
        .expect("capture dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| std::fs::read_to_string(e.path()).expect("read capture"))
        .collect();
    testkit::assert_session_valid(
        "the SM-SR change session",
        documents,
        &[
            "ES4-PrepareSMSRChangeResponse",
            "ES4-SMSRChangeResponse",
            "ES7-HandoverEUICCRequest",
            "ES7-HandoverEUICCResponse",
            "ES7-AuthenticateSMSRRequest",
            "ES7-AuthenticateSMSRResponse",
            "ES7-CreateAdditionalKeySetRequest",
            "ES7-CreateAdditionalKeySetResponse",
            "ES4-HandleSMSRChangeNotification",
            "ES3-HandleSMSRChangeNotification",
            "ES2-HandleSMSRChangeNotification",
            "ES4-EnableProfileResponse",
        ],
        sent,
    );
}

#[actix_web::test]
async fn an_euicc_moves_to_a_new_smsr_on_postgres() {
    let db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = change_lab(&dir, Some(db.url().to_string())).await;
    moves_an_euicc_and_manages_it_there(&lab).await;
    lab.stop().await;
}

/// After a failed change the eUICC is SM-SR 1's, unlocked, and its keys work there.
async fn still_at_smsr1(lab: &Lab, fci: &str) {
    let (mno1, mno2) = (lab.mno(0).expect("mno"), mno_at_smsr2(lab, 0));
    let e0 = eid(lab, 0);
    assert!(eis_at(&mno1, &e0, &format!("{fci}-get-1")).await.is_ok());
    assert_eq!(
        eis_at(&mno2, &e0, &format!("{fci}-get-2")).await.err(),
        Some(("8.1.1".to_string(), "3.9".to_string()))
    );
    let out = call(
        &mno1,
        &enable(&e0, &iccid(lab, 0, 1), &format!("{fci}-enable"), None),
    )
    .await;
    assert_status(
        callback(lab, 0, &out, 60).await.status(),
        Status::ExecutedSuccess,
        None,
    );
}

#[actix_web::test]
async fn a_change_fails_cleanly_without_prepare_or_when_the_euicc_is_unreachable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = change_lab(&dir, None).await;
    let mno1 = lab.mno(0).expect("mno");
    let mno2 = mno_at_smsr2(&lab, 0);
    let e0 = eid(&lab, 0);
    let sr1 = lab.world.manifest.sm_sr.oid.clone();
    let sr2 = lab.smsr2_oid().expect("SM-SR 2").to_string();

    // No ES4.PrepareSMSRChange at SM-SR 2: it refuses the hand-over, SM-SR 1 answers FAILED.
    let out = call(&mno1, &change(&e0, &sr2, "no-prepare", 300)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 60).await;
    assert_status(cb.status(), Status::Failed, Some(("8.1.1", "1.2")));
    // Unknown target, and a target that is this SM-SR: refused at once.
    let out = call(
        &mno1,
        &change(&e0, "1.3.6.1.4.1.99999.1", "unknown-target", 300),
    )
    .await;
    assert_status(out.status(), Status::Failed, Some(("8.7", "3.9")));
    let out = call(&mno1, &change(&e0, &sr1, "self-target", 300)).await;
    assert_status(out.status(), Status::Failed, Some(("8.7", "2.1")));
    still_at_smsr1(&lab, "after-no-prepare").await;

    // The eUICC unreachable (every MT SMS lost) until the validity period ends: EXPIRED, nothing moved.
    let out = call(&mno2, &prepare(&e0, &sr1, "prepare-2")).await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    lab.network.drop_next_mt(1_000_000);
    let out = call(&mno1, &change(&e0, &sr2, "unreachable", 20)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    // While it runs, the eUICC is locked against other operations.
    let locked = call(
        &mno1,
        &enable(&e0, &iccid(&lab, 0, 0), "while-locked", None),
    )
    .await;
    assert_status(locked.status(), Status::Failed, Some(("8.1.1", "3.8")));
    let cb = callback(&lab, 0, &out, 90).await;
    let s = cb.status().expect("status");
    assert!(
        matches!(s.status, Status::Expired | Status::Failed),
        "{s:?}"
    );
    lab.network.drop_next_mt(0);
    still_at_smsr1(&lab, "after-unreachable").await;
    lab.stop().await;
}
