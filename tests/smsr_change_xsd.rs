//! Every SOAP message of an SM-SR change session (SGP.02 §3.8: ES4 at both SM-SRs, ES7 between them, the ES4,
//! ES3 and ES2 notifications, then ES4.EnableProfile through the new SM-SR; then two changes of another eUICC that
//! fail — without ES4.PrepareSMSRChange, and with a receipt that does not verify) validates against the GSMA XSDs
//! (testkit::assert_session_valid). One test in its own binary, so that the process-wide capture holds only
//! this session's messages.

mod support;

use es_interfaces::status::Status;
use support::smsr_change::*;
use support::*;

/// Two changes of eUICC 1 that fail (FAILED answers on ES7 and ES4): no ES4.PrepareSMSRChange at SM-SR 2, then a
/// receipt that does not verify. Returns the MNO's requests.
async fn failed_changes(lab: &rsp::lab::Lab) -> Vec<String> {
    let mno1 = lab.mno(0).expect("mno");
    let mno2 = lab.mno_at_smsr2(0).expect("mno");
    let e1 = eid(lab, 1);
    let sr1 = lab.world.manifest.sm_sr.oid.clone();
    let sr2 = lab.smsr2_oid().expect("SM-SR 2").to_string();
    let out = call(&mno1, &change(&e1, &sr2, "xsd-no-prepare", 300)).await;
    let cb = callback(lab, 0, &out, 60).await;
    assert_status(cb.status(), Status::Failed, Some(("8.1.1", "1.2")));
    set_faults(
        lab,
        &e1,
        conformance::euicc::DownloadFaults {
            wrong_receipt: true,
            ..Default::default()
        },
    )
    .await;
    let out = call(&mno2, &prepare(&e1, &sr1, "xsd-prepare-1")).await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let out = call(&mno1, &change(&e1, &sr2, "xsd-wrong-receipt", 300)).await;
    let cb = callback(lab, 0, &out, 60).await;
    assert_status(cb.status(), Status::Failed, Some(("8.4", "6.1")));
    let mut sent = mno1.sent();
    sent.extend(mno2.sent());
    sent
}

#[actix_web::test]
async fn an_euicc_moves_to_the_new_smsr_and_every_message_validates() {
    enable_capture();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = change_lab(&dir, None).await;
    let mut sent = moves_an_euicc_and_manages_it_there(&lab).await;
    sent.extend(failed_changes(&lab).await);
    lab.stop().await;
    let documents = captured_documents();
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
            "ES7-HandleSMSRChangeNotification",
            "ES3-HandleSMSRChangeNotification",
            "ES2-HandleSMSRChangeNotification",
            "ES4-EnableProfileResponse",
        ],
        sent,
    );
}
