//! The SM-SR change session of the end-to-end tests (SGP.02 §3.8; issue 13): a lab with two SM-SRs, the ES4
//! requests, and the flow that moves eUICC 0 from SM-SR 1 to SM-SR 2 and manages it there.

use conformance::mno::{MnoClient, base};
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::es4;
use es_interfaces::status::Status;
use es_interfaces::types::ProfileState;
use rsp::lab::{Lab, SecondSmsr};

use super::*;

pub async fn change_lab(dir: &tempfile::TempDir, smsr2_db: Option<String>) -> Lab {
    change_lab_with(
        dir,
        SecondSmsr {
            database_url: smsr2_db,
            ..SecondSmsr::default()
        },
    )
    .await
}

/// The change lab with SM-SR 2 as `second` says (its database, a faulty CERT.SR.ECDSA).
pub async fn change_lab_with(dir: &tempfile::TempDir, second: SecondSmsr) -> Lab {
    small_lab(dir, |o| {
        o.second_smsr = Some(second.clone());
        // eUICC 0's second profile was downloaded by the SM-DP: the SM-DP is told of the change too.
        o.smdp_profiles = vec![(0, 1)];
    })
    .await
}

pub fn prepare(eid: &str, current: &str, fci: &str) -> es4::PrepareSmsrChangeRequest {
    es4::PrepareSmsrChangeRequest {
        base: base(fci, None),
        eid: eid.parse().expect("eid"),
        current_smsr_id: current.parse().expect("oid"),
    }
}

pub fn change(eid: &str, target: &str, fci: &str, validity: u64) -> es4::SmsrChangeRequest {
    es4::SmsrChangeRequest {
        base: base(fci, Some(validity)),
        eid: eid.parse().expect("eid"),
        target_smsr_id: target.parse().expect("oid"),
    }
}

pub fn get_eis(eid: &str, fci: &str) -> es4::GetEisRequest {
    es4::GetEisRequest {
        base: base(fci, None),
        eid: eid.parse().expect("eid"),
    }
}

/// The EIS an MNO gets from an SM-SR, or the refusal.
pub async fn eis_at(
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

/// Moves eUICC 0 from SM-SR 1 to SM-SR 2 and enables its second profile through SM-SR 2; returns the MNO's
/// requests.
pub async fn moves_an_euicc_and_manages_it_there(lab: &Lab) -> Vec<String> {
    let mno1 = lab.mno(0).expect("mno");
    let mno2 = lab.mno_at_smsr2(0).expect("mno");
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
    let mut sent = mno1.sent();
    sent.extend(mno2.sent());
    sent
}
