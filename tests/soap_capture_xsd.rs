//! Every SOAP message the servers emit during a platform-management session (responses, faults, callbacks,
//! notifications — captured by es_runtime::capture), on ES1, ES4, ES3 and ES2 (through the SM-DP), and every
//! request the MNO test client sends validates against the GSMA SGP.02 v3 XSDs (testkit::validate_gsma_bodies,
//! Python xmlschema as the independent checker).
//! One test in its own binary, so that the process-wide capture holds only this session's messages.

mod support;

use es_interfaces::messages::{es2, es4};
use es_interfaces::status::Status;
use support::*;

#[actix_web::test]
async fn emitted_soap_messages_validate_against_the_gsma_xsds() {
    enable_capture();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| o.smdp_profiles = vec![(1, 1)]).await;
    let mno = lab.mno(0).expect("mno");
    let e0 = eid(&lab, 0);
    let (p1, p2) = (iccid(&lab, 0, 0), iccid(&lab, 0, 1));
    for (req, fci) in [("enable", "x-enable"), ("disable", "x-disable")] {
        let out = match req {
            "enable" => call(&mno, &enable(&e0, &p2, fci, Some(600))).await,
            _ => call(&mno, &disable(&e0, &p2, fci)).await,
        };
        assert_status(
            callback(&lab, 0, &out, 30).await.status(),
            Status::ExecutedSuccess,
            None,
        );
    }
    let out = call(
        &mno,
        &es4::AuditEisRequest {
            base: conformance::mno::base("x-audit", None),
            eid: e0.parse().expect("eid"),
            iccids: vec![p1.parse().expect("iccid")],
        },
    )
    .await;
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    let out = call(&mno, &delete(&e0, &p2, "x-delete")).await;
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    notification(&lab, 0, "ES4-HandleProfileDeletedNotification", &p2, 0).await;
    // A refusal and a synchronous function.
    let out = call(&mno, &enable(&e0, &p1, "x-refused", None)).await;
    assert_status(out.status(), Status::Failed, Some(("8.2.1", "3.8")));
    let out = call(
        &mno,
        &es4::GetEisRequest {
            base: conformance::mno::base("x-get", None),
            eid: e0.parse().expect("eid"),
        },
    )
    .await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    // ES3 from the SM-DP: the callback of an UpdateConnectivityParameters that the ISD-P refused.
    // The receiver stands in for the SM-DP's callback endpoint: register it for the SM-DP, as a ReplyTo must be.
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
    let out = smdp
        .es3(
            &es_interfaces::messages::es3::UpdateConnectivityParametersRequest {
                base: conformance::mno::base("x-ucp", None),
                eid: eid(&lab, 1).parse().expect("eid"),
                iccid: iccid(&lab, 1, 1).parse().expect("iccid"),
                connectivity_parameters: "AA0A220880E28800033A0700".parse().expect("hex"),
            },
        )
        .await
        .expect("ES3 call");
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::Failed,
        Some(("8.2.1", "4.2")),
    );
    // ES2 (issue 10 item 8): the MNO's calls to the SM-DP, the SM-DP's results and notifications to the MNO.
    let (e1, dp_profile) = (eid(&lab, 1), iccid(&lab, 1, 1));
    let smsr_id: es_interfaces::types::Oid = lab.world.manifest.sm_sr.oid.parse().expect("oid");
    let out = mno
        .es2(&es2::GetEisRequest {
            base: conformance::mno::base("x-dp-get", None),
            eid: e1.parse().expect("eid"),
            smsr_id: smsr_id.clone(),
        })
        .await
        .expect("ES2 GetEIS");
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let out = mno
        .es2(&es2::EnableProfileRequest {
            base: conformance::mno::base("x-dp-enable", None),
            eid: e1.parse().expect("eid"),
            smsr_id: smsr_id.clone(),
            iccid: dp_profile.parse().expect("iccid"),
        })
        .await
        .expect("ES2 enable");
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    notification(
        &lab,
        0,
        "ES2-HandleProfileEnabledNotification",
        &dp_profile,
        0,
    )
    .await;
    let out = mno
        .es2(&disable_not_allowed(
            "x-dp-pol2",
            &e1,
            &dp_profile,
            &smsr_id,
        ))
        .await
        .expect("ES2 UpdatePolicyRules");
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let out = mno
        .es2(&es2::DisableProfileRequest {
            base: conformance::mno::base("x-dp-disable-refused", None),
            eid: e1.parse().expect("eid"),
            smsr_id,
            iccid: dp_profile.parse().expect("iccid"),
        })
        .await
        .expect("ES2 disable");
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::Failed,
        Some(("8.2.3", "3.8")),
    );
    let mut sent = mno.sent();
    sent.extend(smdp.sent());
    lab.stop().await;

    let documents = captured_documents();
    testkit::assert_session_valid(
        "the platform-management session",
        documents,
        &[
            "ES1-RegisterEISResponse",
            "ES4-EnableProfileResponse",
            "ES4-DisableProfileResponse",
            "ES4-AuditEISResponse",
            "ES4-DeleteProfileResponse",
            "ES4-HandleProfileEnabledNotification",
            "ES4-HandleProfileDisabledNotification",
            "ES4-HandleProfileDeletedNotification",
            "ES4-GetEISResponse",
            "ES3-UpdateConnectivityParametersResponse",
            "ES2-GetEISResponse",
            "ES2-EnableProfileResponse",
            "ES2-HandleProfileEnabledNotification",
            "ES2-UpdatePolicyRulesResponse",
            "ES2-DisableProfileResponse",
        ],
        sent,
    );
}
