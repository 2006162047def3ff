//! SM-SR change on both backends (SGP.02 §3.8): the expectation of ES4.PrepareSMSRChange (recorded, replaced,
//! expired, fulfilled) and the ES7 requests answered exactly once.
mod common;

use eis_store::smsr_change::{self, Expectation};

const EID: &str = "89049032123451234512345678901235";

fn expectation(current: &str, expires_at: i64) -> Expectation {
    Expectation {
        eid: EID.into(),
        current_smsr_oid: current.into(),
        requester_oid: "1.3.6.1.4.1.99.2".into(),
        expires_at,
        created_at: 10,
    }
}

both_backends!(
    an_expectation_holds_until_it_expires_or_is_fulfilled,
    2,
    |store| {
        let mut c = store.conn().expect("conn");
        assert_eq!(
            smsr_change::expectation(&mut c, EID, 0).expect("read"),
            None
        );
        smsr_change::expect(&mut c, &expectation("1.3.6.1.4.1.99.5", 1_000)).expect("expect");
        // A second PrepareSMSRChange replaces the first.
        smsr_change::expect(&mut c, &expectation("1.3.6.1.4.1.99.6", 2_000)).expect("replace");
        let e = smsr_change::expectation(&mut c, EID, 1_500)
            .expect("read")
            .expect("still valid");
        assert_eq!(e.current_smsr_oid, "1.3.6.1.4.1.99.6");
        assert_eq!(
            smsr_change::expectation(&mut c, EID, 2_001).expect("read"),
            None,
            "expired"
        );
        assert!(smsr_change::fulfil(&mut c, EID).expect("fulfil"));
        assert!(!smsr_change::fulfil(&mut c, EID).expect("again"));
        assert_eq!(
            smsr_change::expectation(&mut c, EID, 0).expect("read"),
            None
        );
    }
);

both_backends!(an_es7_request_is_answered_once, 2, |store| {
    let mut c = store.conn().expect("conn");
    smsr_change::record_request(&mut c, "//1.2.3/urn:uuid:a", 7, "ES7-AuthenticateSMSR", 5)
        .expect("record");
    assert!(
        smsr_change::record_request(&mut c, "//1.2.3/urn:uuid:a", 8, "ES7-HandoverEUICC", 6)
            .is_err(),
        "one request per MessageID"
    );
    let r = smsr_change::request(&mut c, "//1.2.3/urn:uuid:a")
        .expect("read")
        .expect("recorded");
    assert_eq!((r.operation_id, r.answered), (7, false));
    let taken = smsr_change::take_answer(&mut c, "//1.2.3/urn:uuid:a")
        .expect("take")
        .expect("first answer");
    assert_eq!(
        (taken.operation_id, taken.function.as_str(), taken.answered),
        (7, "ES7-AuthenticateSMSR", true)
    );
    assert_eq!(
        smsr_change::take_answer(&mut c, "//1.2.3/urn:uuid:a").expect("take"),
        None,
        "a repeat"
    );
    assert_eq!(
        smsr_change::take_answer(&mut c, "//1.2.3/urn:uuid:other").expect("take"),
        None
    );
});
