//! The simulated eUICC's profile management as seen from an SM-SR built on es-interfaces' encoders: enable with
//! PoR, notification 02 and confirmation; disable; delete and its refusals; POL1; audit; fall-back attribute;
//! CreateISDP and MasterDelete (SGP.02 §3.2–§3.5, §5.7; wire-profile §4).

mod euicc_common;

use conformance::euicc::{DeliveryError, EventKind, Fleet, Msisdn};
use conformance::issuance::{self, ProfileState};
use es_interfaces::apdu::{CommandApdu, StatusWord};
use es_interfaces::isdr::{self, Es5Command, ExtendedCardResources, IsdpState, IsdpStatus};
use es_interfaces::notification::NotificationType;
use es_interfaces::script::{CommandScript, ResponseScript};
use euicc_common::*;

const OK: StatusWord = StatusWord::OK;
const REFUSED: StatusWord = StatusWord::CONDITIONS_NOT_SATISFIED;
const NOT_FOUND: StatusWord = StatusWord::REFERENCED_DATA_NOT_FOUND;

fn states(fleet: &Fleet) -> Vec<(Vec<u8>, ProfileState, bool)> {
    fleet
        .euicc(&eid(0))
        .expect("euicc")
        .isd_ps()
        .iter()
        .map(|i| (i.aid().as_bytes().to_vec(), i.state(), i.fallback()))
        .collect()
}

/// Enables `slot` through `via`, runs the attach at `now + ATTACH`, checks notification 02 from the new
/// profile's MSISDN and confirms it; returns the confirmation's R-APDU data.
fn switch_to(fleet: &mut Fleet, smsr: &mut SmSr, via: &str, slot: u8, now: u64) -> Vec<u8> {
    let m = msisdns(0);
    assert_eq!(smsr.sw(fleet, via, enable(slot), now), OK);
    let out = fleet.poll(now + ATTACH);
    let (from, _, n) = smsr.notification(&out.mo);
    assert_eq!(from, m[usize::from(slot)]);
    assert_eq!(n.kind, NotificationType::ProfileChangeSucceeded);
    assert_eq!(n.isd_p_aid, aid(slot));
    let (r, _) = smsr.run(fleet, &from, &[confirm(n.sequence)], now + ATTACH + 1);
    assert_eq!(r[0].sw, OK);
    r[0].data.clone()
}

#[test]
fn enable_p2_gives_por_ok_then_notification_02_retried_until_confirmed() {
    let mut fleet = seeded(3);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);

    // The PoR comes back from P1's MSISDN (still attached when the PoR is sent).
    let sms = smsr.sms(&[enable(1)]);
    let out = deliver(&mut fleet, &m[0], &sms, 0);
    assert_eq!(out.mo.len(), 1);
    assert_eq!(out.mo[0].from_msisdn, m[0]);
    assert_eq!(out.mo[0].to_address, config().smsr_address);
    let por = smsr.por(&out.mo);
    assert_eq!(por.status, es_interfaces::scp80::PorStatus::Ok);
    assert_eq!(por.counter.value(), 1);
    let script = es_interfaces::script::ResponseScript::parse_expanded(&por.data).expect("AB");
    assert_eq!(script.executed, 1);
    assert_eq!(script.responses[0].sw, OK);
    assert_eq!(
        states(&fleet),
        vec![
            (aid(0), ProfileState::Disabled, true),
            (aid(1), ProfileState::Enabled, false),
            (aid(2), ProfileState::Disabled, false),
        ]
    );

    // Routing follows the enabled profile at once.
    assert_eq!(
        fleet.deliver_mt(&m[0], &sms[0], 1),
        Err(DeliveryError::Unreachable(Msisdn::parse(&m[0]).expect("m")))
    );
    assert_eq!(
        fleet
            .euicc_by_msisdn(&Msisdn::parse(&m[1]).expect("m"))
            .map(|e| e.eid()),
        Some(eid(0))
    );

    // Nothing before the attach delay; at it, notification 02 from P2's MSISDN.
    assert_eq!(fleet.next_deadline(), Some(ATTACH));
    assert!(fleet.poll(ATTACH - 1).mo.is_empty());
    let out = fleet.poll(ATTACH);
    let (from, c1, n) = smsr.notification(&out.mo);
    assert_eq!(from, m[1]);
    assert_eq!(n.kind, NotificationType::ProfileChangeSucceeded);
    assert_eq!(n.isd_p_aid, aid(1));
    assert_eq!(n.eid, eid(0).0);
    assert_eq!((n.sequence, c1.value()), (1, 1));

    // Unconfirmed: re-sent after the retry interval with the same sequence number and a higher counter.
    assert_eq!(fleet.next_deadline(), Some(ATTACH + RETRY));
    let out = fleet.poll(ATTACH + RETRY);
    let (_, c2, again) = smsr.notification(&out.mo);
    assert_eq!((again.sequence, again.kind), (1, n.kind));
    assert!(c2 > c1);

    // Confirmation: empty response (P1 has no POL1 deletion rule), retries stop.
    let (r, _) = smsr.run(&mut fleet, &m[1], &[confirm(1)], ATTACH + RETRY + 5);
    assert_eq!((r[0].sw, r[0].data.as_slice()), (OK, &[][..]));
    let card = fleet.euicc(&eid(0)).expect("euicc");
    assert!(card.pending_notifications().is_empty());
    assert_eq!(card.next_deadline(), None);
    assert_eq!(fleet.next_deadline(), None);
    assert!(fleet.poll(ATTACH + 10 * RETRY).mo.is_empty());
    // Confirming again is harmless; a sequence number never issued is not found.
    assert_eq!(smsr.sw(&mut fleet, &m[1], confirm(1), 100_000), OK);
    assert_eq!(smsr.sw(&mut fleet, &m[1], confirm(7), 100_001), NOT_FOUND);
    // The other eUICCs were untouched.
    assert_eq!(
        fleet
            .euicc(&eid(1))
            .expect("e1")
            .enabled()
            .map(|i| i.aid().as_bytes().to_vec()),
        Some(aid(0))
    );
}

#[test]
fn enable_refusals_keep_state() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    let before = states(&fleet);
    // Already enabled, unknown ISD-P.
    assert_eq!(smsr.sw(&mut fleet, &m[0], enable(0), 0), REFUSED);
    assert_eq!(smsr.sw(&mut fleet, &m[0], enable(9), 1), NOT_FOUND);
    assert_eq!(states(&fleet), before);
    // During the attach of a switch, another switch is refused.
    assert_eq!(smsr.sw(&mut fleet, &m[0], enable(1), 2), OK);
    assert_eq!(smsr.sw(&mut fleet, &m[1], enable(2), 3), REFUSED);
    assert!(fleet.euicc(&eid(0)).expect("e").switch_in_progress());
}

#[test]
fn disable_enables_the_fallback_profile_and_is_refused_where_sgp02_forbids() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    // P1 is enabled and carries the fall-back attribute; P2 is not enabled; P9 does not exist.
    assert_eq!(smsr.sw(&mut fleet, &m[0], disable(0), 0), REFUSED);
    assert_eq!(smsr.sw(&mut fleet, &m[0], disable(1), 1), REFUSED);
    assert_eq!(smsr.sw(&mut fleet, &m[0], disable(9), 2), NOT_FOUND);

    switch_to(&mut fleet, &mut smsr, &m[0], 1, 10);
    assert_eq!(smsr.sw(&mut fleet, &m[1], disable(1), 10_000), OK);
    assert_eq!(
        states(&fleet),
        vec![
            (aid(0), ProfileState::Enabled, true),
            (aid(1), ProfileState::Disabled, false),
            (aid(2), ProfileState::Disabled, false),
        ]
    );
    let out = fleet.poll(10_000 + ATTACH);
    let (from, _, n) = smsr.notification(&out.mo);
    assert_eq!(
        (from.as_str(), n.kind),
        (m[0].as_str(), NotificationType::ProfileChangeSucceeded)
    );
    assert_eq!(n.isd_p_aid, aid(0));
}

#[test]
fn delete_is_refused_for_the_enabled_and_the_fallback_profile() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    assert_eq!(smsr.sw(&mut fleet, &m[0], delete(0), 0), REFUSED);
    assert_eq!(smsr.sw(&mut fleet, &m[0], delete(9), 1), NOT_FOUND);
    switch_to(&mut fleet, &mut smsr, &m[0], 1, 10);
    // P2 enabled; P1 disabled but still the fall-back profile.
    assert_eq!(smsr.sw(&mut fleet, &m[1], delete(1), 10_000), REFUSED);
    assert_eq!(smsr.sw(&mut fleet, &m[1], delete(0), 10_001), REFUSED);
    // P3 is disabled and plain: deleted.
    let (r, out) = smsr.run(&mut fleet, &m[1], &[delete(2)], 10_002);
    assert_eq!(r[0].sw, OK);
    assert!(out.events.iter().any(|e| e.kind
        == EventKind::ProfileDeleted {
            aid: conformance::euicc::Aid::new(&aid(2)).expect("aid"),
            by_pol1: false
        }));
    assert_eq!(states(&fleet).len(), 2);
    assert_eq!(smsr.sw(&mut fleet, &m[1], delete(2), 10_003), NOT_FOUND);
}

#[test]
fn pol1_deletion_when_disabled_applies_after_the_confirmation() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    // P1 → P3: the disabled P1 has no POL1 rule, nothing deleted.
    assert!(switch_to(&mut fleet, &mut smsr, &m[0], 2, 0).is_empty());
    // P3 → P2: P3 ("deletion mandatory when disabled") is now disabled. Before the confirmation it exists …
    assert_eq!(smsr.sw(&mut fleet, &m[2], enable(1), 10_000), OK);
    let out = fleet.poll(10_000 + ATTACH);
    let (_, _, n) = smsr.notification(&out.mo);
    assert_eq!(states(&fleet).len(), 3);
    // … and the confirmation deletes it and says so: 80 { 4F <P3> }.
    let (r, out) = smsr.run(
        &mut fleet,
        &m[1],
        &[confirm(n.sequence)],
        10_000 + ATTACH + 1,
    );
    assert_eq!(r[0].sw, OK);
    assert_eq!(
        isdr::parse_notification_confirmation_response(&r[0].data).expect("80"),
        vec![aid(2)]
    );
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::ProfileDeleted { by_pol1: true, .. }))
    );
    assert_eq!(
        states(&fleet),
        vec![
            (aid(0), ProfileState::Disabled, true),
            (aid(1), ProfileState::Enabled, false),
        ]
    );
}

#[test]
fn pol1_disable_and_delete_not_allowed() {
    let mut fleet = custom(|p| {
        p[1].pol1.disable_not_allowed = true;
        p[2].pol1.delete_not_allowed = true;
    });
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    assert_eq!(smsr.sw(&mut fleet, &m[0], delete(2), 0), REFUSED);
    switch_to(&mut fleet, &mut smsr, &m[0], 1, 10);
    // P2 may not be disabled, neither directly nor by enabling another profile.
    assert_eq!(smsr.sw(&mut fleet, &m[1], disable(1), 10_000), REFUSED);
    assert_eq!(smsr.sw(&mut fleet, &m[1], enable(0), 10_001), REFUSED);
    assert_eq!(smsr.sw(&mut fleet, &m[1], enable(2), 10_002), REFUSED);
    assert_eq!(
        fleet
            .euicc(&eid(0))
            .expect("e")
            .enabled()
            .map(|i| i.aid().as_bytes().to_vec()),
        Some(aid(1))
    );
}

#[test]
fn master_delete_needs_the_token_and_overrides_pol1() {
    let mut fleet = custom(|p| p[2].pol1.delete_not_allowed = true);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    let secrets = conformance::euicc::EuiccSecrets::from_seed(SEED, 0).expect("secrets");
    let key = secrets.isd_r.token_key(&aid(2));
    let token = isdr::master_delete_token(&key, &aid(2))
        .expect("token")
        .to_vec();
    let mut wrong = token.clone();
    wrong[0] ^= 1;
    let md = |token| Es5Command::MasterDelete {
        isd_p_aid: aid(2),
        token,
    };
    assert_eq!(
        smsr.sw(&mut fleet, &m[0], md(wrong), 0),
        StatusWord::SECURITY_STATUS
    );
    assert_eq!(smsr.sw(&mut fleet, &m[0], md(token), 1), OK);
    assert_eq!(states(&fleet).len(), 2);
    // The enabled profile cannot be master-deleted either.
    let t0 = isdr::master_delete_token(&secrets.isd_r.token_key(&aid(0)), &aid(0))
        .expect("token")
        .to_vec();
    assert_eq!(
        smsr.sw(
            &mut fleet,
            &m[0],
            Es5Command::MasterDelete {
                isd_p_aid: aid(0),
                token: t0
            },
            2
        ),
        REFUSED
    );
}

#[test]
fn audit_returns_the_e3_list_of_the_table_and_the_free_memory() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    let (r, _) = smsr.run(
        &mut fleet,
        &m[0],
        &[
            Es5Command::AuditEis {
                continuation: false,
            },
            Es5Command::GetExtendedCardResources,
        ],
        0,
    );
    assert_eq!((r[0].sw, r[1].sw), (OK, OK));
    let status = |slot, state, fallback| IsdpStatus {
        aid: aid(slot),
        state,
        fallback,
    };
    assert_eq!(
        isdr::parse_audit_response(&r[0].data).expect("E3"),
        vec![
            status(0, IsdpState::Enabled, true),
            status(1, IsdpState::Disabled, false),
            status(2, IsdpState::Disabled, false),
        ]
    );
    let profiles = issuance::profiles_for(0, &m[0], issuance::DEFAULT_MNO_OIDS).expect("p");
    assert_eq!(
        ExtendedCardResources::parse(&r[1].data).expect("FF21"),
        ExtendedCardResources {
            installed_applications: 3,
            free_non_volatile_memory: issuance::remaining_memory_at_issuance(&profiles),
            free_volatile_memory: 8_192,
        }
    );
}

#[test]
fn create_isdp_and_audit_continuation_past_256_bytes() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    let create = |slot, memory_quota| Es5Command::CreateIsdp {
        isd_p_aid: aid(slot),
        memory_quota,
    };
    let (r, _) = smsr.run(&mut fleet, &m[0], &[create(3, Some(1000))], 0);
    assert_eq!((r[0].sw, r[0].data.as_slice()), (OK, &[0x00][..]));
    // Existing AID; more memory than is free.
    assert_eq!(
        smsr.sw(&mut fleet, &m[0], create(3, None), 1),
        StatusWord::INCORRECT_DATA
    );
    assert_eq!(
        smsr.sw(&mut fleet, &m[0], create(4, Some(u32::from(u16::MAX))), 2),
        OK
    );
    assert_eq!(
        smsr.sw(&mut fleet, &m[0], create(5, Some(u32::from(u16::MAX))), 2),
        StatusWord::NOT_ENOUGH_MEMORY
    );
    // A created ISD-P has no profile: it can be neither enabled nor given the fall-back attribute.
    assert_eq!(smsr.sw(&mut fleet, &m[0], enable(3), 3), REFUSED);
    assert_eq!(
        smsr.sw(
            &mut fleet,
            &m[0],
            Es5Command::SetFallbackAttribute { isd_p_aid: aid(3) },
            4
        ),
        REFUSED
    );
    // Eleven ISD-Ps of 27 bytes each: nine fit in 256 bytes, then 6310 and a continuation.
    let more: Vec<Es5Command> = (5..11).map(|s| create(s, None)).collect();
    let (r, _) = smsr.run(&mut fleet, &m[0], &more, 5);
    assert!(r.iter().all(|r| r.sw == OK));
    let (r, _) = smsr.run(
        &mut fleet,
        &m[0],
        &[
            Es5Command::AuditEis {
                continuation: false,
            },
            Es5Command::AuditEis { continuation: true },
        ],
        6,
    );
    assert_eq!((r[0].sw, r[1].sw), (StatusWord::MORE_DATA, OK));
    let first = isdr::parse_audit_response(&r[0].data).expect("E3");
    let rest = isdr::parse_audit_response(&r[1].data).expect("E3");
    assert_eq!((first.len(), rest.len()), (9, 2));
    assert!(r[0].data.len() <= 256);
    assert_eq!(rest[1].aid, aid(10));
    assert_eq!(rest[1].state, IsdpState::Selectable);
    // A continuation without a preceding 6310 is refused.
    assert_eq!(
        smsr.sw(
            &mut fleet,
            &m[0],
            Es5Command::AuditEis { continuation: true },
            7
        ),
        REFUSED
    );
}

#[test]
fn set_fallback_attribute_moves_it() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    let set = |slot| Es5Command::SetFallbackAttribute {
        isd_p_aid: aid(slot),
    };
    assert_eq!(smsr.sw(&mut fleet, &m[0], set(9), 0), NOT_FOUND);
    assert_eq!(smsr.sw(&mut fleet, &m[0], set(1), 1), OK);
    assert_eq!(
        states(&fleet),
        vec![
            (aid(0), ProfileState::Enabled, false),
            (aid(1), ProfileState::Disabled, true),
            (aid(2), ProfileState::Disabled, false),
        ]
    );
    // P1 lost the attribute: it may now be disabled, which enables the new fall-back profile P2.
    assert_eq!(smsr.sw(&mut fleet, &m[0], disable(0), 2), OK);
    assert_eq!(
        fleet
            .euicc(&eid(0))
            .expect("e")
            .enabled()
            .map(|i| i.aid().as_bytes().to_vec()),
        Some(aid(1))
    );
}

/// wire-profile §5: INSTALL [for personalization] routes the rest of the script to the ISD-P; without an SCP03
/// session the ISD-P refuses STORE DATA (`6982`) and the script stops there; an unknown ISD-P is `6A88`. The
/// ISD-P states do not change.
#[test]
fn routed_es8_commands_reach_the_isdp_and_are_refused_without_scp03() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    let before = states(&fleet);
    // STORE DATA `80 E2 88 00` DGI 3A07 (wire-profile §4 table of ES8 commands), sent in clear.
    let connectivity =
        CommandApdu::new(0x80, 0xE2, 0x88, 0x00).with_data(vec![0x3A, 0x07, 0x02, 0x80, 0x00]);
    let es8 = CommandScript::new(vec![connectivity.clone(), connectivity])
        .to_expanded()
        .expect("script");
    let routed = es_interfaces::routing::routed_script(&aid(1), &es8).expect("routed");
    let sms = smsr.apdu_sms(routed.commands.clone(), 10);
    let out = deliver(&mut fleet, &m[0], &sms, 0);
    let por = smsr.por(&out.mo);
    let r = ResponseScript::parse_expanded(&por.data).expect("response script");
    assert_eq!(
        r.responses.iter().map(|r| r.sw).collect::<Vec<_>>(),
        vec![OK, StatusWord::SECURITY_STATUS],
        "routing answered, then the first STORE DATA refused and the script stopped"
    );
    let routed = es_interfaces::routing::routed_script(&aid(9), &es8).expect("routed");
    let sms = smsr.apdu_sms(routed.commands, 11);
    let out = deliver(&mut fleet, &m[0], &sms, 1);
    let r = ResponseScript::parse_expanded(&smsr.por(&out.mo).data).expect("response script");
    assert_eq!(
        r.responses.iter().map(|r| r.sw).collect::<Vec<_>>(),
        vec![NOT_FOUND]
    );
    assert_eq!(states(&fleet), before);
}

#[test]
fn update_smsr_addressing_parameters_redirects_mo_sms() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    // TON/NPI 91, "4915559999" in swapped BCD.
    let params = isdr::SmsrAddressingParameters {
        smsr_msisdn: vec![0x91, 0x94, 0x51, 0x55, 0x99, 0x99],
    };
    let (r, _) = smsr.run(
        &mut fleet,
        &m[0],
        &[Es5Command::UpdateSmsrAddressingParameters(params)],
        0,
    );
    assert_eq!(r[0].sw, OK);
    let sms = smsr.sms(&[enable(1)]);
    let out = deliver(&mut fleet, &m[0], &sms, 1);
    assert_eq!(out.mo[0].to_address, "4915559999");
    let bad = isdr::SmsrAddressingParameters {
        smsr_msisdn: vec![0x91, 0xAB],
    };
    let sms = smsr.sms(&[Es5Command::UpdateSmsrAddressingParameters(bad)]);
    let out = deliver(&mut fleet, &m[1], &sms, 2);
    assert!(out.events.iter().any(|e| e.kind
        == EventKind::CommandExecuted {
            function: Some(isdr::Es5Function::UpdateSmsrAddressingParameters),
            sw: StatusWord::INCORRECT_DATA
        }));
}

#[test]
fn invalid_issuance_and_duplicates_are_refused() {
    use conformance::euicc::{Euicc, EuiccError, EuiccSecrets, FleetError};
    let secrets = EuiccSecrets::from_seed(SEED, 0).expect("secrets");
    let good = issuance::profiles_for(0, &msisdns(0)[0], issuance::DEFAULT_MNO_OIDS).expect("p");
    let bad = |edit: &dyn Fn(&mut Vec<issuance::IssuedProfile>)| {
        let mut p = good.clone();
        edit(&mut p);
        Euicc::new(&secrets, &p).err()
    };
    assert!(matches!(
        bad(&|p| p[1].state = ProfileState::Enabled),
        Some(EuiccError::BadIssuance { .. })
    ));
    assert!(matches!(
        bad(&|p| p[0].state = ProfileState::Disabled),
        Some(EuiccError::BadIssuance { .. })
    ));
    assert!(matches!(
        bad(&|p| p[2].fallback = true),
        Some(EuiccError::BadIssuance { .. })
    ));
    assert!(matches!(
        bad(&|p| p[2].isd_p_aid = p[1].isd_p_aid),
        Some(EuiccError::BadIssuance { .. })
    ));
    assert!(matches!(
        bad(&|p| p[2].iccid = "89".to_string()),
        Some(EuiccError::BadIssuance { .. }) | Some(EuiccError::BadIccid(_))
    ));
    let mut fleet = seeded(1);
    assert_eq!(
        fleet.insert(Euicc::new(&secrets, &good).expect("euicc")),
        Err(FleetError::DuplicateEid(eid(0)))
    );
}
