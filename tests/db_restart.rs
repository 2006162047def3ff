//! The servers after a restart of PostgreSQL (issue 14 item 1): every connection of both servers' pools is cut
//! (`pg_terminate_backend`, what a restart does to its clients) between two profile switches. The next requests
//! get new connections — ES4.GetEIS answers at once — and the background work (ES3 relay, ES5 delivery, PoR
//! handling, callbacks through the outbox) goes on: the second switch, through the SM-DP over ES2, completes and
//! the EIS shows it.

mod support;

use es_interfaces::messages::es2;
use es_interfaces::status::Status;
use es_interfaces::types::ProfileState;
use support::smsr_change::eis_at;
use support::*;

#[actix_web::test]
async fn the_servers_survive_their_database_connections_being_cut() {
    let (smsr_db, smdp_db) = (testkit::PgTestDb::new(), testkit::PgTestDb::new());
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
        // The SM-DP manages eUICC 0's profiles (ES2 → ES3).
        o.smdp_profiles = vec![(0, 0), (0, 1)];
    })
    .await;
    let mno = lab.mno(0).expect("mno");
    let (e0, p1, p2) = (eid(&lab, 0), iccid(&lab, 0, 0), iccid(&lab, 0, 1));
    let switch = |target: &str, fci: &str| enable(&e0, target, fci, None);

    let out = call(&mno, &switch(&p2, "before-the-cut")).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    assert_status(
        callback(&lab, 0, &out, 60).await.status(),
        Status::ExecutedSuccess,
        None,
    );

    let cut = smsr_db.terminate_connections() + smdp_db.terminate_connections();
    assert!(cut >= 2, "{cut} connections cut");

    let eis = eis_at(&mno, &e0, "get-after-the-cut")
        .await
        .expect("ES4.GetEIS right after the cut");
    let state = |eis: &es_interfaces::messages::eis::Eis, iccid: &str| {
        eis.profile_info
            .iter()
            .find(|p| p.iccid.as_str() == iccid)
            .map(|p| p.state)
    };
    assert_eq!(state(&eis, &p2), Some(ProfileState::Enabled));
    // Through the SM-DP (ES2 → ES3 → ES5): both servers' pools and workers.
    let out = mno
        .es2(&es2::EnableProfileRequest {
            base: conformance::mno::base("after-the-cut", None),
            eid: e0.parse().expect("eid"),
            smsr_id: lab.world.manifest.sm_sr.oid.parse().expect("oid"),
            iccid: p1.parse().expect("iccid"),
        })
        .await
        .expect("ES2.EnableProfile");
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    assert_status(
        callback(&lab, 0, &out, 60).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    let eis = eis_at(&mno, &e0, "get-at-the-end").await.expect("EIS");
    assert_eq!(state(&eis, &p1), Some(ProfileState::Enabled));
    assert_eq!(state(&eis, &p2), Some(ProfileState::Disabled));
    lab.stop().await;
}
