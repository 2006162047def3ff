//! SM-SR change end to end (SGP.02 §3.8; issue 13): two SM-SRs behind one test SMSC, the eUICC simulator on the
//! other side. The whole change with SM-SR 2 on PostgreSQL (on SQLite with every message validated:
//! tests/smsr_change_xsd.rs); and the failures: no PrepareSMSRChange, an unknown or wrong target, the eUICC
//! unreachable until the validity period ends, a receipt that does not verify, SM-SR 2 down, SM-SR 2 presenting a
//! CERT.SR.ECDSA of a foreign CI or an expired one — after each the eUICC is SM-SR 1's, unlocked, its keys working.

mod support;

use certs::world::CertSrFault;
use es_interfaces::status::Status;
use rsp::lab::{Lab, SecondSmsr};
use support::smsr_change::*;
use support::*;

#[actix_web::test]
async fn an_euicc_moves_to_a_new_smsr_on_postgres() {
    let db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = change_lab(&dir, Some(db.url().to_string())).await;
    moves_an_euicc_and_manages_it_there(&lab).await;
    lab.stop().await;
}

/// After a failed change the eUICC is SM-SR 1's, unlocked, and its keys work there: profile `slot` (disabled)
/// is enabled through SM-SR 1.
async fn still_at_smsr1(lab: &Lab, fci: &str, slot: usize) {
    let mno1 = lab.mno(0).expect("mno");
    let e0 = eid(lab, 0);
    assert!(eis_at(&mno1, &e0, &format!("{fci}-get-1")).await.is_ok());
    // SM-SR 2 kept nothing (read in its store: it may be down).
    let smsr2 = &lab.smsr2.as_ref().expect("SM-SR 2").smsr;
    let mut c = smsr2.store.conn().expect("connection");
    assert!(!eis_store::eis::euicc_exists(&mut c, &e0).expect("store"));
    drop(c);
    let out = call(
        &mno1,
        &enable(&e0, &iccid(lab, 0, slot), &format!("{fci}-enable"), None),
    )
    .await;
    assert_status(
        callback(lab, 0, &out, 60).await.status(),
        Status::ExecutedSuccess,
        None,
    );
}

/// MNO 1's clients of both SM-SRs, eUICC 0 and the two SM-SRs' OIDs.
struct Parties {
    mno1: conformance::mno::MnoClient,
    mno2: conformance::mno::MnoClient,
    e0: String,
    sr1: String,
    sr2: String,
}

impl Parties {
    fn of(lab: &Lab) -> Parties {
        Parties {
            mno1: lab.mno(0).expect("mno"),
            mno2: lab.mno_at_smsr2(0).expect("mno"),
            e0: eid(lab, 0),
            sr1: lab.world.manifest.sm_sr.oid.clone(),
            sr2: lab.smsr2_oid().expect("SM-SR 2").to_string(),
        }
    }
}

#[actix_web::test]
async fn a_change_fails_cleanly_without_prepare_when_unreachable_or_with_a_wrong_receipt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = change_lab(&dir, None).await;
    let Parties {
        mno1,
        mno2,
        e0,
        sr1,
        sr2,
    } = Parties::of(&lab);

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
    still_at_smsr1(&lab, "after-no-prepare", 1).await;

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
    // SM-SR 1's relay expires first, then SM-SR 2's hand-over, then the change: each answers EXPIRED.
    assert_status(cb.status(), Status::Expired, Some(("1.6", "5.3")));
    let s = cb.status().expect("status");
    let why = s
        .status_code_data
        .and_then(|d| d.message)
        .unwrap_or_default();
    assert!(why.contains("AuthenticateSMSR"), "{why}");
    lab.network.drop_next_mt(0);
    still_at_smsr1(&lab, "after-unreachable", 0).await;

    // The eUICC answers a receipt that does not verify: SM-SR 2 refuses to take over (8.4 / 6.1).
    let faults = |wrong_receipt| conformance::euicc::DownloadFaults {
        wrong_receipt,
        ..Default::default()
    };
    set_faults(&lab, &e0, faults(true)).await;
    let out = call(&mno2, &prepare(&e0, &sr1, "prepare-3")).await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let out = call(&mno1, &change(&e0, &sr2, "wrong-receipt", 300)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 60).await;
    assert_status(cb.status(), Status::Failed, Some(("8.4", "6.1")));
    set_faults(&lab, &e0, faults(false)).await;
    still_at_smsr1(&lab, "after-wrong-receipt", 1).await;
    lab.stop().await;
}

#[actix_web::test]
async fn a_change_to_an_smsr_that_is_down_expires_and_the_euicc_stays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = change_lab(&dir, None).await;
    let Parties {
        mno1,
        mno2,
        e0,
        sr1,
        sr2,
    } = Parties::of(&lab);
    let out = call(&mno2, &prepare(&e0, &sr1, "prepare-down")).await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    lab.smsr2.as_ref().expect("SM-SR 2").stop_listeners().await;
    // HandoverEUICC cannot be delivered: SM-SR 1's outbox retries until the change's validity ends.
    let out = call(&mno1, &change(&e0, &sr2, "to-a-down-smsr", 15)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 60).await;
    assert_status(cb.status(), Status::Expired, Some(("1.6", "5.3")));
    still_at_smsr1(&lab, "after-down", 1).await;
    lab.stop().await;
}

/// SM-SR 2 presents a CERT.SR.ECDSA that SM-SR 1 refuses (`fault`) in ES7.AuthenticateSMSR, before anything goes to
/// the eUICC: the change ends FAILED with 8.5.3 / `reason` and the eUICC stays SM-SR 1's.
async fn a_change_to_an_smsr_whose_cert_sr_is_refused(fault: CertSrFault, reason: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = change_lab_with(
        &dir,
        SecondSmsr {
            cert_sr_fault: Some(fault),
            ..SecondSmsr::default()
        },
    )
    .await;
    let Parties {
        mno1,
        mno2,
        e0,
        sr1,
        sr2,
    } = Parties::of(&lab);
    let out = call(&mno2, &prepare(&e0, &sr1, "prepare-cert-sr")).await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let out = call(&mno1, &change(&e0, &sr2, "refused-cert-sr", 300)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 60).await;
    assert_status(cb.status(), Status::Failed, Some(("8.5.3", reason)));
    let why = cb
        .status()
        .and_then(|s| s.status_code_data)
        .and_then(|d| d.message)
        .unwrap_or_default();
    assert!(
        why.contains("AuthenticateSMSR") && why.contains("CERT.SR.ECDSA"),
        "{why}"
    );
    still_at_smsr1(&lab, "after-refused-cert-sr", 1).await;
    lab.stop().await;
}

#[actix_web::test]
async fn a_change_to_an_smsr_with_a_cert_sr_of_a_foreign_ci_fails_8_5_3_6_1() {
    a_change_to_an_smsr_whose_cert_sr_is_refused(CertSrFault::ForeignCi, "6.1").await;
}

#[actix_web::test]
async fn a_change_to_an_smsr_with_an_expired_cert_sr_fails_8_5_3_6_3() {
    a_change_to_an_smsr_whose_cert_sr_is_refused(CertSrFault::Expired, "6.3").await;
}

/// Past the commit point (the receipt verified) a change is not undone: the eUICC executes
/// UpdateSMSRAddressingParameters and FinaliseISDRHandover but every PoR of them is lost until SM-SR 2's validity
/// period ends; SM-SR 2 takes the eUICC over all the same (its key set works), SM-SR 1 deletes its copy and the MNO
/// gets SUCCESS; the finalisation goes again in an operation of SM-SR 2's own, which ends once a PoR gets through
/// (`6A88`: executed before). Afterwards the eUICC is managed through SM-SR 2.
#[actix_web::test]
async fn past_the_commit_point_a_change_completes_although_the_finalise_por_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = change_lab(&dir, None).await;
    let Parties {
        mno1,
        mno2,
        e0,
        sr1,
        sr2,
    } = Parties::of(&lab);
    let faults = |lose_finalise_por| conformance::euicc::DownloadFaults {
        lose_finalise_por,
        ..Default::default()
    };
    set_faults(&lab, &e0, faults(true)).await;
    let out = call(&mno2, &prepare(&e0, &sr1, "prepare-lost-por")).await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let out = call(&mno1, &change(&e0, &sr2, "finalise-por-lost", 20)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 90).await;
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    assert_eq!(
        eis_at(&mno1, &e0, "lost-por-get-1").await.err(),
        Some(("8.1.1".to_string(), "3.9".to_string()))
    );
    let eis = eis_at(&mno2, &e0, "lost-por-get-2")
        .await
        .expect("EIS at SM-SR 2");
    assert_eq!(eis.smsr_id.as_str(), sr2);

    // The PoR gets through again: SM-SR 2's finalisation operation ends.
    set_faults(&lab, &e0, faults(false)).await;
    let smsr2 = &lab.smsr2.as_ref().expect("SM-SR 2").smsr;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let mut c = smsr2.store.conn().expect("connection");
        let counts = eis_store::operations::counts(&mut c).expect("counts");
        drop(c);
        if counts[0].1 + counts[1].1 == 0 {
            assert!(
                counts[2].1 >= 2,
                "the hand-over and the finalisation done: {counts:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the finalisation sent again did not end: {counts:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // SM-SR 2's keys work: enable the other profile through it.
    let out = call(
        &mno2,
        &enable(&e0, &iccid(&lab, 0, 1), "enable-after-lost-por", None),
    )
    .await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    assert_status(
        callback(&lab, 0, &out, 60).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    lab.stop().await;
}
