//! Outgoing calls go only where the caller may send them (SGP.02 §2.6; es_runtime::destination): a
//! `wsa:ReplyTo` that is cleartext, or at an origin that is neither registered for the caller nor on the allow
//! list, is refused up front with 1.1 / 1.2 and nothing runs — on the SM-SR (ES4) and on the SM-DP (ES2, for a
//! profile the SM-DP manages, so that the ownership check passes), on SQLite and PostgreSQL.

mod support;

use es_interfaces::messages::es2;
use es_interfaces::status::Status;
use support::*;

async fn refused_reply_to(lab: &rsp::lab::Lab) {
    let (e, p2) = (eid(lab, 0), iccid(lab, 0, 1));
    let states_before = profile_states(lab, &e);
    let submitted_before = lab.network.smsc().counters().submitted;
    let receiver = lab.receivers[0].url().to_string();
    let cleartext = receiver.replacen("https://", "http://", 1);
    let bad = [
        "https://attacker.invalid:9443/cb".to_string(),
        format!("{cleartext}/es4"),
    ];
    for (i, reply_to) in bad.iter().enumerate() {
        let mno = lab.mno(0).expect("mno").with_reply_to(reply_to.clone());
        let out = call(&mno, &enable(&e, &p2, &format!("bad-reply-to-{i}"), None)).await;
        assert_eq!(out.http_status, 200, "{}", out.envelope);
        assert_status(out.status(), Status::Failed, Some(("1.1", "1.2")));
        assert!(out.envelope.contains(reply_to.as_str()), "{}", out.envelope);

        let out = mno
            .es2(&es2::DisableProfileRequest {
                base: conformance::mno::base(&format!("bad-reply-to-dp-{i}"), None),
                eid: e.parse().expect("eid"),
                smsr_id: lab.world.manifest.sm_sr.oid.parse().expect("oid"),
                iccid: p2.parse().expect("iccid"),
            })
            .await
            .expect("ES2 call");
        assert_eq!(out.http_status, 200, "{}", out.envelope);
        assert_status(out.status(), Status::Failed, Some(("1.1", "1.2")));
    }
    // Nothing ran: no SMS, no state change, nothing sent to the MNO.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(lab.network.smsc().counters().submitted, submitted_before);
    assert_eq!(profile_states(lab, &e), states_before);
    assert!(lab.receivers[0].received().is_empty());
}

#[actix_web::test]
async fn reply_to_elsewhere_is_refused_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| o.smdp_profiles = vec![(0, 1)]).await;
    refused_reply_to(&lab).await;
    lab.stop().await;
}

#[actix_web::test]
async fn reply_to_elsewhere_is_refused_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.smdp_profiles = vec![(0, 1)];
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    refused_reply_to(&lab).await;
    lab.stop().await;
}
