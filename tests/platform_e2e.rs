//! End to end over loopback: ES1 registration, ES4 calls over mutual TLS, ES5 as SCP80 SMS through the test
//! SMSC (SMPP) to the eUICC simulator, PoRs and notifications back, callbacks and notifications to the MNO's
//! receiver; each on SQLite (and the main enable flow on PostgreSQL too). Enable, disable, audit, delete,
//! fall-back and roll-back also run with the eUICCs on HTTPS (SCP81, wire-profile §3) on SQLite and PostgreSQL.

mod support;

use std::time::Duration;

use eis_store::eis::ProfileState;
use es_interfaces::messages::es4;
use es_interfaces::status::Status;
use support::*;

/// Enable P2 of eUICC 0 as MNO 1: 202, SMS through SMPP to the simulator, PoR, notification 02 confirmed,
/// callback EXECUTED_SUCCESS with RelatesTo, ProfileEnabled / ProfileDisabled notifications, GetEIS shows P2.
async fn enable_flow(lab: &rsp::lab::Lab) {
    let mno = lab.mno(0).expect("mno");
    let (e, p1, p2) = (eid(lab, 0), iccid(lab, 0, 0), iccid(lab, 0, 1));
    let submits_before = lab.network.smsc().counters().submitted;
    let out = call(&mno, &enable(&e, &p2, "enable-p2", None)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES4-EnableProfileResponse");
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    assert_eq!(
        cb.action.as_deref(),
        Some(
            es_interfaces::soap::action::ES4_ENABLE_PROFILE
                .callback
                .expect("callback")
        )
    );
    notification(lab, 0, "ES4-HandleProfileEnabledNotification", &p2, 0).await;
    notification(lab, 0, "ES4-HandleProfileDisabledNotification", &p1, 0).await;
    // Enable command + notification confirmation went through the SMSC.
    assert!(lab.network.smsc().counters().submitted >= submits_before + 2);
    let get = call(
        &mno,
        &es4::GetEisRequest {
            base: conformance::mno::base("get-after-enable", None),
            eid: e.parse().expect("eid"),
        },
    )
    .await;
    assert_eq!(get.http_status, 200);
    assert_status(get.status(), Status::ExecutedSuccess, None);
    let env = es_interfaces::soap::Envelope::parse(get.envelope.as_bytes()).expect("envelope");
    let resp = es4::GetEisResponse::decode_body(env.body()).expect("GetEIS response");
    let eis = resp.eis.expect("EIS");
    let state = |iccid: &str| {
        eis.profile_info
            .iter()
            .find(|p| p.iccid.as_str() == iccid)
            .map(|p| p.state)
    };
    assert_eq!(
        state(&p2),
        Some(es_interfaces::types::ProfileState::Enabled)
    );
    assert_eq!(
        state(&p1),
        Some(es_interfaces::types::ProfileState::Disabled)
    );
    let trail = eis.audit_trail.expect("audit trail");
    assert!(
        trail
            .records
            .iter()
            .any(|r| r.operation_type.0 == [0x02, 0x00]
                && r.iccid.as_ref().map(|i| i.as_str()) == Some(p2.as_str())),
        "{trail:?}"
    );
    // The repeated FunctionCallIdentifier answers the recorded final response.
    let again = call(&mno, &enable(&e, &p2, "enable-p2", None)).await;
    assert_eq!(again.http_status, 200);
    assert_status(again.status(), Status::ExecutedSuccess, None);
}

use es_interfaces::messages::codec::BodyElement;

#[actix_web::test]
async fn enable_profile_end_to_end_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |_| {}).await;
    enable_flow(&lab).await;
    assert_eq!(
        profile_states(&lab, &eid(&lab, 0))
            .iter()
            .map(|(_, s, _)| *s)
            .collect::<Vec<_>>(),
        vec![
            ProfileState::Disabled,
            ProfileState::Enabled,
            ProfileState::Disabled
        ]
    );
    lab.stop().await;
}

#[actix_web::test]
async fn enable_profile_end_to_end_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    enable_flow(&lab).await;
    lab.stop().await;
}

#[actix_web::test]
async fn enable_profile_end_to_end_https_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, https_options).await;
    enable_flow(&lab).await;
    assert_all_over_https(&lab);
    lab.stop().await;
}

#[actix_web::test]
async fn enable_profile_end_to_end_https_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        https_options(o);
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    enable_flow(&lab).await;
    assert_all_over_https(&lab);
    lab.stop().await;
}

fn get_eis(eid: &str, fci: &str) -> es4::GetEisRequest {
    es4::GetEisRequest {
        base: conformance::mno::base(fci, None),
        eid: eid.parse().expect("eid"),
    }
}

/// ES4 GetEIS as `mno` sees it.
async fn eis_of(
    mno: &conformance::mno::MnoClient,
    eid: &str,
    fci: &str,
) -> es_interfaces::messages::eis::Eis {
    let out = call(mno, &get_eis(eid, fci)).await;
    let env = es_interfaces::soap::Envelope::parse(out.envelope.as_bytes()).expect("envelope");
    es4::GetEisResponse::decode_body(env.body())
        .expect("GetEIS response")
        .eis
        .expect("EIS")
}

/// Disable, audit, delete, and every refusal of the check list, on one lab.
#[actix_web::test]
async fn disable_audit_delete_and_refusals_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |_| {}).await;
    disable_audit_delete_and_refusals(&lab).await;
    lab.stop().await;
}

/// The same with both eUICCs on HTTPS (SCP81: push SMS, PSK-TLS admin sessions; wire-profile §3).
#[actix_web::test]
async fn disable_audit_delete_and_refusals_https_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, https_options).await;
    disable_audit_delete_and_refusals(&lab).await;
    assert_all_over_https(&lab);
    lab.stop().await;
}

#[actix_web::test]
async fn disable_audit_delete_and_refusals_https_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        https_options(o);
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    disable_audit_delete_and_refusals(&lab).await;
    assert_all_over_https(&lab);
    lab.stop().await;
}

async fn disable_audit_delete_and_refusals(lab: &rsp::lab::Lab) {
    let mno = lab.mno(0).expect("mno");
    let (e0, e1) = (eid(lab, 0), eid(lab, 1));
    let (p1, p2, p3) = (iccid(lab, 0, 0), iccid(lab, 0, 1), iccid(lab, 0, 2));

    // Enable P2, then disable it: the fall-back profile P1 takes over.
    let out = call(&mno, &enable(&e0, &p2, "e0-enable", None)).await;
    assert_status(
        callback(lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    let out = call(&mno, &disable(&e0, &p2, "e0-disable")).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES4-DisableProfileResponse");
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    notification(lab, 0, "ES4-HandleProfileDisabledNotification", &p2, 0).await;
    notification(lab, 0, "ES4-HandleProfileEnabledNotification", &p1, 0).await;
    assert_eq!(
        profile_states(lab, &e0)
            .iter()
            .map(|(_, s, _)| *s)
            .collect::<Vec<_>>(),
        vec![
            ProfileState::Enabled,
            ProfileState::Disabled,
            ProfileState::Disabled
        ]
    );

    // AuditEIS: the eUICC reports its ISD-Ps; the callback carries MNO 1's view.
    let out = call(
        &mno,
        &es4::AuditEisRequest {
            base: conformance::mno::base("e0-audit", None),
            eid: e0.parse().expect("eid"),
            iccids: Vec::new(),
        },
    )
    .await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES4-AuditEISResponse");
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    let env = es_interfaces::soap::Envelope::parse(cb.envelope.as_bytes()).expect("envelope");
    let audited = es4::AuditEisResponse::decode_body(env.body())
        .expect("audit response")
        .eis
        .expect("EIS");
    let mut seen: Vec<(String, es_interfaces::types::ProfileState)> = audited
        .profile_info
        .iter()
        .map(|p| (p.iccid.as_str().to_string(), p.state))
        .collect();
    seen.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        seen,
        vec![
            (p1.clone(), es_interfaces::types::ProfileState::Enabled),
            (p2.clone(), es_interfaces::types::ProfileState::Disabled)
        ],
        "MNO 1 sees its two profiles only"
    );
    assert!(audited.last_audit_date.is_some());

    // DeleteProfile P2: gone from the eUICC and the EIS; ProfileDeleted notification.
    let out = call(&mno, &delete(&e0, &p2, "e0-delete")).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES4-DeleteProfileResponse");
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    notification(lab, 0, "ES4-HandleProfileDeletedNotification", &p2, 0).await;
    let eis = eis_of(&mno, &e0, "e0-get-after-delete").await;
    assert!(eis.profile_info.iter().all(|p| p.iccid.as_str() != p2));
    let codes: Vec<[u8; 2]> = eis
        .audit_trail
        .map(|t| t.records.iter().map(|r| r.operation_type.0).collect())
        .unwrap_or_default();
    for code in [[0x02, 0x00], [0x03, 0x00], [0x04, 0x00]] {
        assert!(
            codes.contains(&code),
            "audit trail lacks {code:02X?}: {codes:02X?}"
        );
    }

    // Refusals, each answered synchronously with nothing queued.
    let submitted = lab.network.smsc().counters().submitted;
    let refuse = |out: conformance::mno::CallOutcome, subject: &str, reason: &str| {
        assert_eq!(out.http_status, 200, "{}", out.envelope);
        assert_status(out.status(), Status::Failed, Some((subject, reason)));
    };
    refuse(
        call(
            &mno,
            &enable("89049032123451234512345678901235", &p1, "r-eid", None),
        )
        .await,
        "8.1.1",
        "3.9",
    );
    refuse(
        call(&mno, &enable(&e0, "8949990000000000099", "r-iccid", None)).await,
        "8.2.1",
        "3.9",
    );
    refuse(
        call(&mno, &enable(&e0, &iccid(lab, 1, 1), "r-other-euicc", None)).await,
        "8.2.1",
        "3.10",
    );
    // Another MNO's profile is answered as an ICCID that does not exist (docs/architecture.md §8).
    refuse(
        call(&mno, &enable(&e0, &p3, "r-other-mno", None)).await,
        "8.2.1",
        "3.9",
    );
    refuse(
        call(&mno, &enable(&e0, &p1, "r-enabled", None)).await,
        "8.2.1",
        "3.8",
    );
    refuse(
        call(&mno, &delete(&e0, &p1, "r-delete-enabled")).await,
        "8.2.1",
        "3.8",
    );
    refuse(
        call(&mno, &disable(&e0, &p1, "r-disable-fallback")).await,
        "8.2.1",
        "3.8",
    );
    // POL2: ENABLE Not-Allowed on eUICC 1's P2 refuses the enable with 8.2.3 before anything is sent.
    let p2_1 = iccid(lab, 1, 1);
    let rules =
        |action: es_interfaces::types::Pol2RuleAction| es_interfaces::messages::common::Pol2 {
            rules: vec![es_interfaces::messages::common::Pol2Rule {
                subject: es_interfaces::types::Pol2RuleSubject::Profile,
                action,
                qualification: es_interfaces::types::Pol2RuleQualification::NotAllowed,
            }],
        };
    let out = call(
        &mno,
        &es4::UpdatePolicyRulesRequest {
            base: conformance::mno::base("pol2-set", None),
            eid: e1.parse().expect("eid"),
            iccid: p2_1.parse().expect("iccid"),
            pol2: rules(es_interfaces::types::Pol2RuleAction::Enable),
        },
    )
    .await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    refuse(
        call(&mno, &enable(&e1, &p2_1, "r-pol2", None)).await,
        "8.2.3",
        "3.8",
    );
    assert_eq!(
        lab.network.smsc().counters().submitted,
        submitted,
        "nothing was sent"
    );
    {
        let mut conn = lab.smsr.store.conn().expect("conn");
        let queued = eis_store::es5_queue::commands_of(&mut conn, &e1).expect("queue");
        assert!(queued.is_empty(), "{queued:?}");
    }
    // UpdateSubscriptionAddress changes the EIS at once.
    let out = call(
        &mno,
        &es4::UpdateSubscriptionAddressRequest {
            base: conformance::mno::base("sa-update", None),
            eid: e1.parse().expect("eid"),
            iccid: p2_1.parse().expect("iccid"),
            new_subscription_address: es_interfaces::messages::common::SubscriptionAddress {
                imsi: Some("001019999999999".parse().expect("imsi")),
                msisdn: Some("4917999000001".parse().expect("msisdn")),
            },
        },
    )
    .await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let eis = eis_of(&mno, &e1, "sa-get").await;
    let p = eis
        .profile_info
        .iter()
        .find(|p| p.iccid.as_str() == p2_1)
        .expect("P2");
    assert_eq!(
        p.subscription_address.msisdn.as_ref().map(|m| m.as_str()),
        Some("4917999000001")
    );
    assert_eq!(p.pol2.rules.len(), 1);
}

/// Fall-back: the enabled profile loses coverage, the eUICC enables its fall-back profile and notifies (05);
/// the SM-SR confirms, updates the EIS and notifies. Roll-back: the new profile cannot attach, the eUICC goes
/// back (03) and the enable ends FAILED with the old profile enabled (SGP.02 §3.2.2).
#[actix_web::test]
async fn fallback_and_rollback_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |_| {}).await;
    fallback_and_rollback(&lab).await;
    lab.stop().await;
}

/// The same with both eUICCs on HTTPS (the notifications still come by SMS).
#[actix_web::test]
async fn fallback_and_rollback_https_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, https_options).await;
    fallback_and_rollback(&lab).await;
    assert_all_over_https(&lab);
    lab.stop().await;
}

#[actix_web::test]
async fn fallback_and_rollback_https_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        https_options(o);
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    fallback_and_rollback(&lab).await;
    assert_all_over_https(&lab);
    lab.stop().await;
}

async fn fallback_and_rollback(lab: &rsp::lab::Lab) {
    let (mno1, mno2) = (lab.mno(0).expect("mno1"), lab.mno(1).expect("mno2"));
    let e1 = eid(lab, 1);
    let (p1, p2, p3) = (iccid(lab, 1, 0), iccid(lab, 1, 1), iccid(lab, 1, 2));
    let sim_eid = conformance::euicc::Eid::parse(&e1).expect("eid");

    let out = call(&mno1, &enable(&e1, &p2, "fb-enable", None)).await;
    assert_status(
        callback(lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    lab.network
        .control(conformance::euicc::Control::SetCoverage {
            eid: sim_eid,
            aid: aid(lab, 1, 1),
            covered: false,
        })
        .await
        .expect("control");
    notification(lab, 0, "ES4-HandleProfileEnabledNotification", &p1, 0).await;
    notification(lab, 0, "ES4-HandleProfileDisabledNotification", &p2, 0).await;
    assert_eq!(
        profile_states(lab, &e1)
            .iter()
            .map(|(_, s, _)| *s)
            .collect::<Vec<_>>(),
        vec![
            ProfileState::Enabled,
            ProfileState::Disabled,
            ProfileState::Disabled
        ]
    );

    // Roll-back: P3 (MNO 2) has no coverage.
    lab.network
        .control(conformance::euicc::Control::SetCoverage {
            eid: sim_eid,
            aid: aid(lab, 1, 2),
            covered: false,
        })
        .await
        .expect("control");
    let out = call(&mno2, &enable(&e1, &p3, "rb-enable", None)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(lab, 1, &out, 30).await;
    assert_status(cb.status(), Status::Failed, Some(("8.2.1", "4.2")));
    // P1 is enabled again; P3, disabled by the roll-back, was deleted by its POL1 rule "deletion mandatory
    // when disabled" when the SM-SR confirmed the notification, and MNO 2 is told.
    assert_eq!(
        profile_states(lab, &e1),
        vec![
            (p1.clone(), ProfileState::Enabled, true),
            (p2.clone(), ProfileState::Disabled, false)
        ],
        "the old profile is enabled again"
    );
    notification(lab, 1, "ES4-HandleProfileDeletedNotification", &p3, 0).await;
}

/// The confirmation of a profile-change notification (`02`) is lost and the eUICC rolls back (`03`) before the
/// retransmission would reach it: the SM-SR abandons that confirmation, so the enable ends FAILED (roll-back,
/// 8.2.1/4.2) with the old profile enabled in the EIS — not SUCCESS from a late `9000` of the rolled-back card
/// (SGP.02 §3.2.2; issue 10 item 12).
#[actix_web::test]
async fn rollback_after_lost_confirmation_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, rollback_timings).await;
    rollback_after_lost_confirmation(&lab).await;
    lab.stop().await;
}

#[actix_web::test]
async fn rollback_after_lost_confirmation_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        rollback_timings(o);
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    rollback_after_lost_confirmation(&lab).await;
    lab.stop().await;
}

/// The eUICC gives up on an unconfirmed notification after 3 sends 300 ms apart (~1 s), well before the SM-SR
/// retransmits a command after its PoR timeout (3 s).
fn rollback_timings(o: &mut rsp::lab::LabOptions) {
    o.es5.por_timeout_secs = 3;
    o.simulator.notification_retry_interval_ms = 300;
    o.simulator.notification_max_attempts = 3;
}

async fn rollback_after_lost_confirmation(lab: &rsp::lab::Lab) {
    let mno = lab.mno(0).expect("mno");
    let e0 = eid(lab, 0);
    let (p1, p2) = (iccid(lab, 0, 0), iccid(lab, 0, 1));
    let delivered = lab.network.recorded_mt().len();
    let out = call(&mno, &enable(&e0, &p2, "lost-confirmation", None)).await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    // The enable command goes through; the next MT SMS, the notification's confirmation, is lost.
    let waited = std::time::Instant::now();
    while lab.network.recorded_mt().len() == delivered {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "the enable was not sent"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    lab.network.drop_next_mt(1);
    let cb = callback(lab, 0, &out, 30).await;
    assert_eq!(lab.network.dropped_mt(), 1, "the confirmation was lost");
    assert_status(cb.status(), Status::Failed, Some(("8.2.1", "4.2")));
    let states = profile_states(lab, &e0);
    assert_eq!(
        states
            .iter()
            .map(|(i, s, _)| (i.clone(), *s))
            .filter(|(i, _)| *i == p1 || *i == p2)
            .collect::<Vec<_>>(),
        vec![
            (p1.clone(), ProfileState::Enabled),
            (p2.clone(), ProfileState::Disabled)
        ],
        "the EIS shows the profile the eUICC rolled back to"
    );
}

/// A lost MT SMS is retransmitted (fresh counter) after the PoR timeout; an eUICC that never answers ends
/// EXPIRED (1.6/5.3) after the validity period, with its queue cleaned up.
#[actix_web::test]
async fn lost_sms_is_retried_and_silence_expires_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.es5.por_timeout_secs = 1;
        o.es5.max_retry_interval_secs = 1;
    })
    .await;
    let mno = lab.mno(0).expect("mno");
    let e0 = eid(&lab, 0);
    lab.network.drop_next_mt(1);
    let out = call(&mno, &enable(&e0, &iccid(&lab, 0, 1), "lost-enable", None)).await;
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    assert_eq!(lab.network.dropped_mt(), 1);

    lab.network.drop_next_mt(usize::MAX);
    let out = call(&mno, &disable(&e0, &iccid(&lab, 0, 1), "silent-disable")).await;
    assert_eq!(out.http_status, 202);
    // The disable has no ValidityPeriod: expire through an enable with one instead.
    let out2 = call(
        &mno,
        &enable(
            &lab.world.euiccs[1].eid,
            &iccid(&lab, 1, 1),
            "silent-enable",
            Some(3),
        ),
    )
    .await;
    let cb = callback(&lab, 0, &out2, 30).await;
    assert_status(cb.status(), Status::Expired, Some(("1.6", "5.3")));
    {
        let mut conn = lab.smsr.store.conn().expect("conn");
        let left =
            eis_store::es5_queue::commands_of(&mut conn, &lab.world.euiccs[1].eid).expect("queue");
        assert!(
            left.iter().all(|c| !matches!(
                c.state,
                eis_store::es5_queue::Es5State::Queued | eis_store::es5_queue::Es5State::InFlight
            )),
            "{left:?}"
        );
    }
    let _ = out;
    lab.network.drop_next_mt(0);
    lab.stop().await;
}

/// The simulator refuses a replayed SCP80 packet (PoR 02, nothing runs); when the SM-SR's stored counter is
/// behind the eUICC's (a restored database), it advances its counter and the command succeeds.
#[actix_web::test]
async fn replay_refused_and_counter_recovery_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut lab = small_lab(&dir, |_| {}).await;
    let mno = lab.mno(0).expect("mno");
    let e0 = eid(&lab, 0);
    let out = call(&mno, &enable(&e0, &iccid(&lab, 0, 1), "rp-enable", None)).await;
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    let recorded = lab.network.recorded_mt();
    // The last one (the notification confirmation) went to the MSISDN the eUICC is reachable on now.
    let first = recorded.last().expect("a recorded MT SMS").clone();
    let mut events = lab.events.take().expect("events");
    while events.try_recv().is_ok() {}
    lab.network.replay_mt(&first).await.expect("replay");
    let refused = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Some(conformance::euicc::DriverEvent::Euicc(e)) => {
                    if let conformance::euicc::EventKind::PacketRefused { status } = e.kind {
                        return Some(status);
                    }
                }
                Some(_) => {}
                None => return None,
            }
        }
    })
    .await
    .expect("a refusal event");
    assert_eq!(refused, Some(es_interfaces::scp80::PorStatus::CounterLow));

    // Roll the SM-SR's counter back below the eUICC's.
    {
        let mut conn = lab.smsr.store.conn().expect("conn");
        let mut ks = eis_store::eis::get_keyset(&mut conn, &e0, eis_store::eis::SdRole::IsdR, 1)
            .expect("keyset")
            .expect("SCP80 key set");
        assert!(ks.cntr >= 2);
        ks.cntr = 0;
        eis_store::eis::put_keyset(&mut conn, &e0, eis_store::eis::SdRole::IsdR, &ks).expect("put");
    }
    let out = call(&mno, &disable(&e0, &iccid(&lab, 0, 1), "rp-disable")).await;
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    let mut conn = lab.smsr.store.conn().expect("conn");
    let ops = eis_store::operations::all_of(&mut conn, &e0).expect("ops");
    let skipped = ops
        .iter()
        .filter_map(|o| rsp_op_data(&o.data))
        .any(|skips| skips > 0);
    assert!(skipped, "a counter skip was recorded: {ops:?}");
    drop(conn);
    lab.stop().await;
}

fn rsp_op_data(data: &str) -> Option<u32> {
    smsr::operation::OpData::parse(data)
        .ok()
        .map(|d| d.counter_skips)
}

/// Via the SM-DP (SGP.02 §3.3 onwards): ES2 functions of the MNO relayed over ES3 to the SM-SR, results back
/// to the MNO's ReplyTo, ES3 notifications turned into ES2 ones; a refusal of the SM-SR comes back as well.
#[actix_web::test]
async fn platform_management_via_smdp_sqlite() {
    use es_interfaces::messages::es2;
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| o.smdp_profiles = vec![(1, 1)]).await;
    let mno = lab.mno(0).expect("mno");
    let e1 = eid(&lab, 1);
    let (p1, p2) = (iccid(&lab, 1, 0), iccid(&lab, 1, 1));
    let smsr: es_interfaces::types::Oid = lab.world.manifest.sm_sr.oid.parse().expect("oid");
    let es2call = |out: &conformance::mno::CallOutcome| out.clone();

    let out = mno
        .es2(&es2::GetEisRequest {
            base: conformance::mno::base("dp-get", None),
            eid: e1.parse().expect("eid"),
            smsr_id: smsr.clone(),
        })
        .await
        .expect("ES2 GetEIS");
    assert_eq!(out.http_status, 200, "{}", out.envelope);
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let env = es_interfaces::soap::Envelope::parse(out.envelope.as_bytes()).expect("envelope");
    let eis = es2::GetEisResponse::decode_body(env.body())
        .expect("response")
        .eis
        .expect("EIS");
    assert_eq!(
        eis.profile_info
            .iter()
            .map(|p| p.iccid.as_str().to_string())
            .collect::<Vec<_>>(),
        vec![p2.clone()],
        "the MNO sees, through the SM-DP, the profile the SM-DP manages"
    );

    let out = es2call(
        &mno.es2(&es2::EnableProfileRequest {
            base: conformance::mno::base("dp-enable", None),
            eid: e1.parse().expect("eid"),
            smsr_id: smsr.clone(),
            iccid: p2.parse().expect("iccid"),
        })
        .await
        .expect("ES2 enable"),
    );
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES2-EnableProfileResponse");
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    notification(&lab, 0, "ES2-HandleProfileEnabledNotification", &p2, 0).await;
    notification(&lab, 0, "ES4-HandleProfileDisabledNotification", &p1, 0).await;

    // POL2 through the SM-DP, then the SM-SR's refusal (8.2.3) reaches the MNO as the ES2 result.
    let out = mno
        .es2(&disable_not_allowed("dp-pol2", &e1, &p2, &smsr))
        .await
        .expect("ES2 UpdatePolicyRules");
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let out = mno
        .es2(&es2::DisableProfileRequest {
            base: conformance::mno::base("dp-disable-refused", None),
            eid: e1.parse().expect("eid"),
            smsr_id: smsr.clone(),
            iccid: p2.parse().expect("iccid"),
        })
        .await
        .expect("ES2 disable");
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES2-DisableProfileResponse");
    assert_status(cb.status(), Status::Failed, Some(("8.2.3", "3.8")));

    // A profile the SM-DP does not manage is unknown to the SM-DP, which refuses it itself.
    let out = mno
        .es2(&es2::EnableProfileRequest {
            base: conformance::mno::base("dp-not-mine", None),
            eid: e1.parse().expect("eid"),
            smsr_id: smsr.clone(),
            iccid: p1.parse().expect("iccid"),
        })
        .await
        .expect("ES2 enable");
    assert_eq!(out.http_status, 200, "{}", out.envelope);
    assert_status(out.status(), Status::Failed, Some(("8.2.1", "3.9")));
    lab.stop().await;
}

/// ES4.SetFallBackAttribute (SGP.02 v4 §5.5.21): the attribute moves to P2 on the eUICC and in the EIS
/// (audit code 0x0700); P1, no longer the fall-back profile, can then be disabled and P2 takes over.
#[actix_web::test]
async fn set_fallback_attribute_sqlite() {
    use es_interfaces::messages::es4v4;
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |_| {}).await;
    let mno = lab.mno(0).expect("mno");
    let e0 = eid(&lab, 0);
    let (p1, p2) = (iccid(&lab, 0, 0), iccid(&lab, 0, 1));
    let out = call(
        &mno,
        &es4v4::SetFallBackAttributeRequest {
            base: conformance::mno::base("fb-set", None),
            eid: e0.parse().expect("eid"),
            iccid: p2.parse().expect("iccid"),
        },
    )
    .await;
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES4-SetFallBackAttributeResponse");
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    assert_eq!(
        profile_states(&lab, &e0),
        vec![
            (p1.clone(), ProfileState::Enabled, false),
            (p2.clone(), ProfileState::Disabled, true),
            (iccid(&lab, 0, 2), ProfileState::Disabled, false)
        ]
    );
    let eis = eis_of(&mno, &e0, "fb-get").await;
    assert!(
        eis.audit_trail
            .expect("audit trail")
            .records
            .iter()
            .any(|r| r.operation_type.0 == [0x07, 0x00])
    );
    let out = call(&mno, &disable(&e0, &p1, "fb-disable-p1")).await;
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    notification(&lab, 0, "ES4-HandleProfileEnabledNotification", &p2, 0).await;
    lab.stop().await;
}

/// ES3.UpdateConnectivityParameters (SGP.02 §3.12, §5.4.13) from the SM-DP for the profile it manages: the
/// SM-SR routes the ES8 script to the ISD-P over SMS (INSTALL [for personalization] first, wire-profile §5),
/// the simulated ISD-P, holding no SCP03 session, refuses the STORE DATA sent in clear with `6982`, and the
/// SM-DP's callback is FAILED 8.2.1 / 4.2 with the ISD-P's own response script (routing answer removed) as
/// EuiccResponseData. Bad parameters (1.6 / 2.1) and another owner's profile (8.2 / 1.2) are refused at once
/// with nothing queued; the profile states do not change.
#[actix_web::test]
async fn update_connectivity_parameters_is_routed_to_the_isdp_sqlite() {
    use es_interfaces::messages::es3;
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| o.smdp_profiles = vec![(1, 1)]).await;
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
    let e1 = eid(&lab, 1);
    let (p1, p2) = (iccid(&lab, 1, 0), iccid(&lab, 1, 1));
    let before = profile_states(&lab, &e1);
    let request = |fci: &str, iccid: &str, params: &str| es3::UpdateConnectivityParametersRequest {
        base: conformance::mno::base(fci, None),
        eid: e1.parse().expect("eid"),
        iccid: iccid.parse().expect("iccid"),
        connectivity_parameters: params.parse().expect("hex"),
    };
    // AA 0A { 22 08 <STORE DATA 80 E2 88 00 03 | DGI 3A07 len 00> }
    let script = "AA0A220880E28800033A0700";

    let out = smdp
        .es3(&request("ucp-1", &p2, script))
        .await
        .expect("ES3 call");
    assert_eq!(out.http_status, 202, "{}", out.envelope);
    let cb = callback(&lab, 0, &out, 30).await;
    assert_eq!(cb.element, "ES3-UpdateConnectivityParametersResponse");
    assert_status(cb.status(), Status::Failed, Some(("8.2.1", "4.2")));
    assert_eq!(
        cb.field("EuiccResponseData").as_deref(),
        Some("AB0780010123026982"),
        "the ISD-P's answer alone: one command executed, SW 6982"
    );

    let out = smdp
        .es3(&request("ucp-bad", &p2, "0102"))
        .await
        .expect("ES3 call");
    assert_eq!(out.http_status, 200, "{}", out.envelope);
    assert_status(out.status(), Status::Failed, Some(("1.6", "2.1")));
    assert!(
        out.envelope.contains("ConnectivityParameters"),
        "{}",
        out.envelope
    );
    let out = smdp
        .es3(&request("ucp-not-mine", &p1, script))
        .await
        .expect("ES3 call");
    assert_eq!(out.http_status, 200, "{}", out.envelope);
    // A profile this SM-DP did not download is unknown to it (docs/architecture.md §8).
    assert_status(out.status(), Status::Failed, Some(("8.2.1", "3.9")));
    assert_eq!(profile_states(&lab, &e1), before);
    let mut conn = lab.smsr.store.conn().expect("conn");
    assert!(
        eis_store::es5_queue::commands_of(&mut conn, &e1)
            .expect("queue")
            .is_empty(),
        "nothing left queued for the eUICC"
    );
    lab.stop().await;
}

/// POL2 Auto-Delete (SGP.02 §2.4.5, §3.3): once P2, whose POL2 says PROFILE / DISABLE / Auto-Delete, is
/// disabled, the SM-SR deletes it on its own — the MNO gets HandleProfileDisabledNotification then
/// HandleProfileDeletedNotification, the EIS no longer holds it, and the stored audit trail names the SM-SR as
/// the requester of the deletion (the MNO's view shows records of its present profiles and of its own calls). The fall-back profile P1 carries no such effect.
#[actix_web::test]
async fn pol2_auto_delete_deletes_the_disabled_profile_sqlite() {
    use es_interfaces::messages::common::{Pol2, Pol2Rule};
    use es_interfaces::types::{Pol2RuleAction, Pol2RuleQualification, Pol2RuleSubject};
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |_| {}).await;
    let mno = lab.mno(0).expect("mno");
    let e0 = eid(&lab, 0);
    let (p1, p2) = (iccid(&lab, 0, 0), iccid(&lab, 0, 1));
    let out = call(
        &mno,
        &es4::UpdatePolicyRulesRequest {
            base: conformance::mno::base("ad-pol2", None),
            eid: e0.parse().expect("eid"),
            iccid: p2.parse().expect("iccid"),
            pol2: Pol2 {
                rules: vec![Pol2Rule {
                    subject: Pol2RuleSubject::Profile,
                    action: Pol2RuleAction::Disable,
                    qualification: Pol2RuleQualification::AutoDelete,
                }],
            },
        },
    )
    .await;
    assert_status(out.status(), Status::ExecutedSuccess, None);
    let out = call(&mno, &enable(&e0, &p2, "ad-enable", None)).await;
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    assert_eq!(
        profile_states(&lab, &e0)
            .iter()
            .map(|(i, _, _)| i.clone())
            .collect::<Vec<_>>()
            .len(),
        3,
        "P1, disabled by the enable, has no Auto-Delete rule and stays"
    );
    let out = call(&mno, &disable(&e0, &p2, "ad-disable")).await;
    assert_status(
        callback(&lab, 0, &out, 30).await.status(),
        Status::ExecutedSuccess,
        None,
    );
    notification(&lab, 0, "ES4-HandleProfileDisabledNotification", &p2, 0).await;
    notification(&lab, 0, "ES4-HandleProfileDeletedNotification", &p2, 0).await;
    assert_eq!(
        profile_states(&lab, &e0),
        vec![
            (p1.clone(), ProfileState::Enabled, true),
            (iccid(&lab, 0, 2), ProfileState::Disabled, false)
        ]
    );
    let smsr_oid = lab.world.manifest.sm_sr.oid.clone();
    let mut conn = lab.smsr.store.conn().expect("conn");
    let record = eis_store::eis::get_eis(&mut conn, &e0)
        .expect("EIS")
        .expect("stored");
    assert!(
        record
            .audit_trail
            .iter()
            .any(|r| r.operation_type == [0x04, 0x00]
                && r.iccid.as_deref() == Some(p2.as_str())
                && r.requester_id.as_deref() == Some(smsr_oid.as_str())),
        "deletion recorded with the SM-SR as requester: {:?}",
        record.audit_trail
    );
    lab.stop().await;
}
