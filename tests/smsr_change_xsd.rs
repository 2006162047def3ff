//! Every SOAP message of an SM-SR change session (SGP.02 §3.8: ES4 at both SM-SRs, ES7 between them, the ES4,
//! ES3 and ES2 notifications, then ES4.EnableProfile through the new SM-SR) validates against the GSMA XSDs
//! (testkit::assert_session_valid). One test in its own binary, so that the process-wide capture holds only
//! this session's messages.

mod support;

use support::smsr_change::*;
use support::*;

#[actix_web::test]
async fn an_euicc_moves_to_the_new_smsr_and_every_message_validates() {
    enable_capture();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = change_lab(&dir, None).await;
    let sent = moves_an_euicc_and_manages_it_there(&lab).await;
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
