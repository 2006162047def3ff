//! What an MNO can see and learn (issue 10 item 4; docs/architecture.md §8): every ES4 function and every ES2
//! function relayed by the SM-DP, called by the wrong MNO, answers exactly as for an EID or ICCID that does not
//! exist; GetEIS shows an MNO only eUICCs carrying a profile of its own, only those profiles, and the ISD-R and
//! ECASD reduced to their identity. Over loopback with mutual TLS, on SQLite.

mod support;

use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::{Pol2, Pol2Rule, SubscriptionAddress};
use es_interfaces::messages::eis::{Eis, KeysetItem};
use es_interfaces::messages::{es2, es4, es4v4};
use es_interfaces::status::Status;
use es_interfaces::types::{Oid, Pol2RuleAction, Pol2RuleQualification, Pol2RuleSubject};
use support::*;

const GHOST_EID: &str = "89049032123451234512345678901235";
const GHOST_ICCID: &str = "8949990000000000099";

/// The refusal of a synchronous answer: (subject, reason, message with `id` replaced by `<id>`).
fn refusal(out: &conformance::mno::CallOutcome, id: &str) -> (String, String, String) {
    assert_eq!(out.http_status, 200, "{}", out.envelope);
    let s = out.status().expect("a FunctionExecutionStatus");
    assert_eq!(s.status, Status::Failed, "{s:?}");
    let d = s.status_code_data.expect("status code data");
    (
        d.subject.code().to_string(),
        d.reason.code().to_string(),
        d.message.unwrap_or_default().replace(id, "<id>"),
    )
}

fn pol2() -> Pol2 {
    Pol2 {
        rules: vec![Pol2Rule {
            subject: Pol2RuleSubject::Profile,
            action: Pol2RuleAction::Delete,
            qualification: Pol2RuleQualification::NotAllowed,
        }],
    }
}

fn address() -> SubscriptionAddress {
    SubscriptionAddress {
        imsi: Some("001019999999999".parse().expect("imsi")),
        msisdn: Some("4917999000009".parse().expect("msisdn")),
    }
}

fn base(fci: &str) -> es_interfaces::messages::common::BaseRequest {
    conformance::mno::base(fci, None)
}

/// Every ES4 function naming (`eid`, `iccid`), as requests of one call each.
async fn every_es4(
    mno: &conformance::mno::MnoClient,
    eid: &str,
    iccid: &str,
    tag: &str,
) -> Vec<(&'static str, conformance::mno::CallOutcome)> {
    async fn send<T: BodyElement>(
        m: &conformance::mno::MnoClient,
        r: T,
    ) -> conformance::mno::CallOutcome {
        m.es4(&r).await.expect("ES4 call")
    }
    let e = || eid.parse().expect("eid");
    let i = || iccid.parse().expect("iccid");
    vec![
        (
            "EnableProfile",
            send(mno, enable(eid, iccid, &format!("{tag}-en"), None)).await,
        ),
        (
            "DisableProfile",
            send(mno, disable(eid, iccid, &format!("{tag}-dis"))).await,
        ),
        (
            "DeleteProfile",
            send(mno, delete(eid, iccid, &format!("{tag}-del"))).await,
        ),
        (
            "AuditEIS",
            send(
                mno,
                es4::AuditEisRequest {
                    base: base(&format!("{tag}-audit")),
                    eid: e(),
                    iccids: vec![i()],
                },
            )
            .await,
        ),
        (
            "UpdatePolicyRules",
            send(
                mno,
                es4::UpdatePolicyRulesRequest {
                    base: base(&format!("{tag}-pol2")),
                    eid: e(),
                    iccid: i(),
                    pol2: pol2(),
                },
            )
            .await,
        ),
        (
            "UpdateSubscriptionAddress",
            send(
                mno,
                es4::UpdateSubscriptionAddressRequest {
                    base: base(&format!("{tag}-sa")),
                    eid: e(),
                    iccid: i(),
                    new_subscription_address: address(),
                },
            )
            .await,
        ),
        (
            "SetFallBackAttribute",
            send(
                mno,
                es4v4::SetFallBackAttributeRequest {
                    base: base(&format!("{tag}-fb")),
                    eid: e(),
                    iccid: i(),
                },
            )
            .await,
        ),
    ]
}

/// Every ES2 function the SM-DP relays, naming (`eid`, `iccid`).
async fn every_es2(
    mno: &conformance::mno::MnoClient,
    smsr: &Oid,
    eid: &str,
    iccid: &str,
    tag: &str,
) -> Vec<(&'static str, conformance::mno::CallOutcome)> {
    async fn send<T: BodyElement>(
        m: &conformance::mno::MnoClient,
        r: T,
    ) -> conformance::mno::CallOutcome {
        m.es2(&r).await.expect("ES2 call")
    }
    let e = || eid.parse().expect("eid");
    let i = || iccid.parse().expect("iccid");
    vec![
        (
            "EnableProfile",
            send(
                mno,
                es2::EnableProfileRequest {
                    base: base(&format!("{tag}-en")),
                    eid: e(),
                    smsr_id: smsr.clone(),
                    iccid: i(),
                },
            )
            .await,
        ),
        (
            "DisableProfile",
            send(
                mno,
                es2::DisableProfileRequest {
                    base: base(&format!("{tag}-dis")),
                    eid: e(),
                    smsr_id: smsr.clone(),
                    iccid: i(),
                },
            )
            .await,
        ),
        (
            "DeleteProfile",
            send(
                mno,
                es2::DeleteProfileRequest {
                    base: base(&format!("{tag}-del")),
                    eid: e(),
                    iccid: i(),
                    smsr_id: smsr.clone(),
                },
            )
            .await,
        ),
        (
            "UpdatePolicyRules",
            send(
                mno,
                es2::UpdatePolicyRulesRequest {
                    base: base(&format!("{tag}-pol2")),
                    eid: e(),
                    iccid: i(),
                    smsr_id: smsr.clone(),
                    pol2: Some(pol2()),
                },
            )
            .await,
        ),
        (
            "UpdateSubscriptionAddress",
            send(
                mno,
                es2::UpdateSubscriptionAddressRequest {
                    base: base(&format!("{tag}-sa")),
                    eid: e(),
                    smsr_id: smsr.clone(),
                    iccid: i(),
                    new_subscription_address: address(),
                },
            )
            .await,
        ),
    ]
}

/// Each call of `probe` is refused exactly as the same function of `reference` is (same codes, same words
/// once the identifier is replaced), with (`subject`, `reason`).
fn same_refusals(
    probe: &[(&'static str, conformance::mno::CallOutcome)],
    probe_id: &str,
    reference: &[(&'static str, conformance::mno::CallOutcome)],
    reference_id: &str,
    codes: (&str, &str),
) {
    assert_eq!(probe.len(), reference.len());
    for ((f, p), (g, r)) in probe.iter().zip(reference) {
        assert_eq!(f, g);
        let (a, b) = (refusal(p, probe_id), refusal(r, reference_id));
        assert_eq!(a, b, "{f}: the wrong MNO learns something\n{}", p.envelope);
        assert_eq!((a.0.as_str(), a.1.as_str()), codes, "{f}: {a:?}");
    }
}

/// An MNO's view of an EIS: only `own` profiles, the ISD-R and ECASD without key set usages, counters,
/// keys or certificates, and none of `foreign` anywhere in the envelope.
fn assert_mno_view(eis: &Eis, envelope: &str, own: &[String], foreign: &[String]) {
    let mut seen: Vec<String> = eis
        .profile_info
        .iter()
        .map(|p| p.iccid.as_str().to_string())
        .collect();
    seen.sort();
    let mut want = own.to_vec();
    want.sort();
    assert_eq!(seen, want);
    for sd in [&eis.isd_r, &eis.eum_signed_info.ecasd] {
        assert!(!sd.keysets.is_empty());
        for k in &sd.keysets {
            assert!(k.keyset_type.is_none() && k.cntr.is_none(), "{k:?}");
            assert!(
                !k.items
                    .iter()
                    .any(|i| matches!(i, KeysetItem::Certificate(_) | KeysetItem::Key(_))),
                "{:?} shows {k:?}",
                sd.role
            );
        }
    }
    for f in foreign {
        assert!(!envelope.contains(f.as_str()), "{f} leaks:\n{envelope}");
    }
}

fn get_eis_of(out: &conformance::mno::CallOutcome) -> Eis {
    assert_eq!(out.http_status, 200, "{}", out.envelope);
    let env = es_interfaces::soap::Envelope::parse(out.envelope.as_bytes()).expect("envelope");
    let body = env.body();
    match es4::GetEisResponse::decode_body(body) {
        Ok(r) => r.eis,
        Err(_) => {
            es2::GetEisResponse::decode_body(body)
                .expect("a GetEIS response")
                .eis
        }
    }
    .expect("EIS")
}

/// ES4 as the wrong MNO. MNO 1 holds P1 and P2 of each eUICC, MNO 2 P3; MNO 2's P3 of eUICC 1 is removed from
/// the SM-SR's store, so that eUICC 1 carries nothing of MNO 2.
#[actix_web::test]
async fn es4_as_the_wrong_mno_learns_nothing_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |_| {}).await;
    let (a, b) = (lab.mno(0).expect("MNO 1"), lab.mno(1).expect("MNO 2"));
    let (e0, e1) = (eid(&lab, 0), eid(&lab, 1));
    let (a_p1, a_p2, b_p3) = (iccid(&lab, 0, 0), iccid(&lab, 0, 1), iccid(&lab, 0, 2));
    let a_p1_e1 = iccid(&lab, 1, 0);
    {
        let mut c = lab.smsr.store.conn().expect("conn");
        eis_store::eis::delete_profile(&mut c, &iccid(&lab, 1, 2)).expect("remove P3 of eUICC 1");
    }
    let submitted = lab.network.smsc().counters().submitted;
    let before = profile_states(&lab, &e0);

    // GetEIS: MNO 2 sees eUICC 0 with its P3 only, nothing of MNO 1, no ISD-R/ECASD internals.
    let out = call(
        &b,
        &es4::GetEisRequest {
            base: base("b-get-e0"),
            eid: e0.parse().expect("eid"),
        },
    )
    .await;
    assert_mno_view(
        &get_eis_of(&out),
        &out.envelope,
        std::slice::from_ref(&b_p3),
        &[a_p1.clone(), a_p2.clone()],
    );
    // MNO 1 still sees its own two profiles.
    let out = call(
        &a,
        &es4::GetEisRequest {
            base: base("a-get-e0"),
            eid: e0.parse().expect("eid"),
        },
    )
    .await;
    assert_mno_view(
        &get_eis_of(&out),
        &out.envelope,
        &[a_p1.clone(), a_p2.clone()],
        std::slice::from_ref(&b_p3),
    );

    // GetEIS of an eUICC carrying nothing of MNO 2 is answered as for an EID that does not exist.
    let hidden = call(
        &b,
        &es4::GetEisRequest {
            base: base("b-get-e1"),
            eid: e1.parse().expect("eid"),
        },
    )
    .await;
    let ghost = call(
        &b,
        &es4::GetEisRequest {
            base: base("b-get-ghost"),
            eid: GHOST_EID.parse().expect("eid"),
        },
    )
    .await;
    assert_eq!(refusal(&hidden, &e1), refusal(&ghost, GHOST_EID));
    assert_eq!(refusal(&hidden, &e1).0, "8.1.1");

    // Every function on MNO 1's profile, on this eUICC or on another one: as for an ICCID that does not exist.
    let ghost = every_es4(&b, &e0, GHOST_ICCID, "b-ghost").await;
    let theirs = every_es4(&b, &e0, &a_p1, "b-theirs").await;
    same_refusals(&theirs, &a_p1, &ghost, GHOST_ICCID, ("8.2.1", "3.9"));
    let elsewhere = every_es4(&b, &e0, &a_p1_e1, "b-elsewhere").await;
    same_refusals(&elsewhere, &a_p1_e1, &ghost, GHOST_ICCID, ("8.2.1", "3.9"));
    // On an eUICC carrying nothing of MNO 2: as for an EID that does not exist.
    let ghost_eid = every_es4(&b, GHOST_EID, &a_p1_e1, "b-ghost-eid").await;
    let hidden = every_es4(&b, &e1, &a_p1_e1, "b-hidden").await;
    same_refusals(&hidden, &e1, &ghost_eid, GHOST_EID, ("8.1.1", "3.9"));

    // Nothing was sent or changed.
    assert_eq!(lab.network.smsc().counters().submitted, submitted);
    assert_eq!(profile_states(&lab, &e0), before);
    let out = call(
        &a,
        &es4::GetEisRequest {
            base: base("a-get-e0-after"),
            eid: e0.parse().expect("eid"),
        },
    )
    .await;
    let eis = get_eis_of(&out);
    let p1 = eis
        .profile_info
        .iter()
        .find(|p| p.iccid.as_str() == a_p1)
        .expect("P1");
    assert!(p1.pol2.rules.is_empty(), "{:?}", p1.pol2);
    assert_ne!(
        p1.subscription_address.msisdn.as_ref().map(|m| m.as_str()),
        Some("4917999000009")
    );
    lab.stop().await;
}

/// ES2 through the SM-DP as the wrong MNO: the SM-DP manages MNO 1's P2 and MNO 2's P3 of eUICC 0 and
/// nothing on eUICC 1.
#[actix_web::test]
async fn es2_as_the_wrong_mno_learns_nothing_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| o.smdp_profiles = vec![(0, 1), (0, 2)]).await;
    let (a, b) = (lab.mno(0).expect("MNO 1"), lab.mno(1).expect("MNO 2"));
    let (e0, e1) = (eid(&lab, 0), eid(&lab, 1));
    let (a_p1, a_p2, b_p3) = (iccid(&lab, 0, 0), iccid(&lab, 0, 1), iccid(&lab, 0, 2));
    let smsr: Oid = lab.world.manifest.sm_sr.oid.parse().expect("oid");
    let submitted = lab.network.smsc().counters().submitted;
    let before = profile_states(&lab, &e0);
    let get = |eid: &str, fci: &str| es2::GetEisRequest {
        base: base(fci),
        eid: eid.parse().expect("eid"),
        smsr_id: smsr.clone(),
    };

    let out = b.es2(&get(&e0, "b-dp-get-e0")).await.expect("ES2 GetEIS");
    assert_mno_view(
        &get_eis_of(&out),
        &out.envelope,
        std::slice::from_ref(&b_p3),
        &[a_p1.clone(), a_p2.clone()],
    );
    let out = a.es2(&get(&e0, "a-dp-get-e0")).await.expect("ES2 GetEIS");
    assert_mno_view(
        &get_eis_of(&out),
        &out.envelope,
        std::slice::from_ref(&a_p2),
        std::slice::from_ref(&b_p3),
    );
    // eUICC 1 carries nothing of MNO 2 that this SM-DP manages: as an EID that does not exist.
    let hidden = b.es2(&get(&e1, "b-dp-get-e1")).await.expect("ES2 GetEIS");
    let ghost = b
        .es2(&get(GHOST_EID, "b-dp-get-ghost"))
        .await
        .expect("ES2 GetEIS");
    assert_eq!(refusal(&hidden, &e1), refusal(&ghost, GHOST_EID));
    assert_eq!(refusal(&hidden, &e1).0, "8.1.1");

    let ghost = every_es2(&b, &smsr, &e0, GHOST_ICCID, "b-dp-ghost").await;
    let theirs = every_es2(&b, &smsr, &e0, &a_p2, "b-dp-theirs").await;
    same_refusals(&theirs, &a_p2, &ghost, GHOST_ICCID, ("8.2.1", "3.9"));
    let ghost_eid = every_es2(&b, &smsr, GHOST_EID, &a_p2, "b-dp-ghost-eid").await;
    let hidden = every_es2(&b, &smsr, &e1, &a_p2, "b-dp-hidden").await;
    same_refusals(&hidden, &e1, &ghost_eid, GHOST_EID, ("8.1.1", "3.9"));

    assert_eq!(lab.network.smsc().counters().submitted, submitted);
    assert_eq!(profile_states(&lab, &e0), before);
    lab.stop().await;
}
