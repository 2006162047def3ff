//! The simulated eUICC's SCP80 and SMS layer and its timers: replay refusal, security failures, concatenated
//! scripts and PoRs, reassembly timeout, notification retries, roll-back, fall-back, MSISDN routing and
//! determinism (ETSI TS 102 225 §5; 3GPP TS 31.115; SGP.02 §3.2–§3.5; wire-profile §2, §4).

mod euicc_common;

use conformance::euicc::{DeliveryError, EuiccSecrets, EventKind, Fleet, Msisdn, SimulatorConfig};
use conformance::issuance::ProfileState;
use es_interfaces::apdu::{CommandApdu, StatusWord};
use es_interfaces::isdr::{self, Es5Command};
use es_interfaces::notification::NotificationType;
use es_interfaces::scp80::{self, Integrity, PorStatus, Spi};
use es_interfaces::script::ResponseScript;
use es_interfaces::sms::Segment;
use euicc_common::*;

fn enabled_slot(fleet: &Fleet, index: usize) -> Option<u8> {
    let e = fleet.euicc(&eid(index))?.enabled()?;
    (0..16u8).find(|s| e.aid().as_bytes() == aid(*s))
}

#[test]
fn replayed_counter_is_refused_with_status_02_and_nothing_runs() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    let audit = || {
        Es5Command::AuditEis {
            continuation: false,
        }
        .to_apdu(&Default::default())
        .expect("apdu")
    };
    let sms = smsr.apdu_sms(vec![audit()], 5);
    let out = deliver(&mut fleet, &m[0], &sms, 0);
    assert_eq!(smsr.por(&out.mo).status, PorStatus::Ok);
    assert_eq!(fleet.euicc(&eid(0)).expect("e").received_counter(), 5);

    // Same counter (even the very same SMS), then a lower one: PoR 02, no data, no command executed.
    let enable_p2 = enable(1).to_apdu(&Default::default()).expect("apdu");
    for (counter, sms) in [
        (5, sms.clone()),
        (5, smsr.apdu_sms(vec![enable_p2.clone()], 5)),
        (4, smsr.apdu_sms(vec![enable_p2.clone()], 4)),
    ] {
        let out = deliver(&mut fleet, &m[0], &sms, 1);
        let por = smsr.por(&out.mo);
        assert_eq!(
            (por.status, por.counter.value()),
            (PorStatus::CounterLow, counter)
        );
        assert!(por.data.is_empty());
        assert_eq!(executed(&out), 0);
        assert!(out.events.iter().any(|e| e.kind
            == EventKind::PacketRefused {
                status: PorStatus::CounterLow
            }));
        assert_eq!(enabled_slot(&fleet, 0), Some(0));
    }
    assert_eq!(fleet.euicc(&eid(0)).expect("e").received_counter(), 5);

    // A higher counter works (and need not be exactly one higher with SPI 16).
    let out = deliver(&mut fleet, &m[0], &smsr.apdu_sms(vec![enable_p2], 9), 2);
    let por = smsr.por(&out.mo);
    assert_eq!(por.status, PorStatus::Ok);
    assert_eq!(
        ResponseScript::parse_expanded(&por.data)
            .expect("AB")
            .responses[0]
            .sw,
        StatusWord::OK
    );
    assert_eq!(enabled_slot(&fleet, 0), Some(1));
    assert_eq!(fleet.euicc(&eid(0)).expect("e").received_counter(), 9);
}

/// Opens a PoR sent without security (RHL 10, no CC, clear).
fn open_unsecured(
    smsr: &SmSr,
    mo: &[conformance::euicc::MoSms],
    tar: [u8; 3],
) -> scp80::ResponsePacket {
    assert_eq!(mo.len(), 1);
    let seg = Segment::parse(&mo[0].tp_ud).expect("segment");
    let h = smsr.header(1);
    let spi = Spi {
        por_ciphered: false,
        por_integrity: Integrity::None,
        ..h.spi
    };
    scp80::open_por(&seg.payload, &spi, h.kic, h.kid, &smsr.keys, tar).expect("unsecured PoR")
}

#[test]
fn security_failures_are_answered_without_running_anything() {
    let mut fleet = seeded(2);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    let apdu = enable(1).to_apdu(&Default::default()).expect("apdu");
    let script = es_interfaces::script::CommandScript::new(vec![apdu.clone()])
        .to_expanded()
        .expect("AA");

    // Another eUICC's keys: CC failure, status 01.
    let mut other = SmSr::for_seeded(1);
    let out = deliver(&mut fleet, &m[0], &other.apdu_sms(vec![apdu.clone()], 1), 0);
    let por = open_unsecured(&smsr, &out.mo, [0, 0, 1]);
    assert_eq!(por.status, PorStatus::CcFailed);
    // Unknown TAR: status 09.
    let mut h = smsr.header(1);
    h.tar = [0, 0, 0x10];
    let out = deliver(&mut fleet, &m[0], &smsr.packet_sms(&h, &script), 0);
    assert_eq!(
        open_unsecured(&smsr, &out.mo, h.tar).status,
        PorStatus::TarUnknown
    );
    // Another key version: status 06.
    let mut h = smsr.header(1);
    h.kic = scp80::Kic(0x22);
    h.kid = scp80::Kid(0x22);
    let out = deliver(&mut fleet, &m[0], &smsr.packet_sms(&h, &script), 0);
    assert_eq!(
        open_unsecured(&smsr, &out.mo, h.tar).status,
        PorStatus::UnidentifiedSecurityError
    );
    // No ciphering: insufficient security level, status 0A.
    let mut h = smsr.header(1);
    h.spi.ciphering = false;
    let out = deliver(&mut fleet, &m[0], &smsr.packet_sms(&h, &script), 0);
    assert_eq!(
        open_unsecured(&smsr, &out.mo, h.tar).status,
        PorStatus::InsufficientSecurityLevel
    );
    // PoR only on error, and the packet is fine: no PoR at all.
    let mut h = smsr.header(1);
    h.spi.por = scp80::PorRequest::OnError;
    let out = deliver(&mut fleet, &m[0], &smsr.packet_sms(&h, &script), 0);
    assert!(out.mo.is_empty());
    assert_eq!(executed(&out), 1);
    // Nothing ran except that last packet; the counter moved only for it.
    assert_eq!(fleet.euicc(&eid(0)).expect("e").received_counter(), 1);
    // Garbage is dropped.
    let out = fleet
        .deliver_mt(&msisdns(1)[0], &[0x02, 0x70, 0x00, 0x00], 0)
        .expect("delivered");
    assert!(out.mo.is_empty());
    assert!(matches!(out.events[0].kind, EventKind::SmsDropped { .. }));
}

#[test]
fn bad_script_format_and_non_es5_commands() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    // Not an AA template: Bad Format 90 01 01, nothing executed.
    let h = smsr.header(1);
    let out = deliver(&mut fleet, &m[0], &smsr.packet_sms(&h, &[0xA0, 0x00]), 0);
    let por = smsr.por(&out.mo);
    let r = ResponseScript::parse_expanded(&por.data).expect("AB");
    assert_eq!((r.executed, r.bad_format), (0, Some(vec![0x01])));
    // SELECT (ISO CLA) is not an ES5 command: 6E00 and the script stops there.
    let select = CommandApdu::new(0x00, 0xA4, 0x04, 0x00).with_data(aid(1));
    let unknown_ins = CommandApdu::new(0x80, 0x50, 0x00, 0x00).with_data(vec![1]);
    let enable_p2 = enable(1).to_apdu(&Default::default()).expect("apdu");
    let out = deliver(
        &mut fleet,
        &m[0],
        &smsr.apdu_sms(vec![unknown_ins, select, enable_p2], 2),
        1,
    );
    let r = ResponseScript::parse_expanded(&smsr.por(&out.mo).data).expect("AB");
    assert_eq!(r.executed, 1);
    assert_eq!(r.responses[0].sw, StatusWord::INS_NOT_SUPPORTED);
    assert_eq!(enabled_slot(&fleet, 0), Some(0));
}

#[test]
fn concatenated_script_and_por_are_reassembled_in_any_order() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    let audit = Es5Command::AuditEis {
        continuation: false,
    };
    let mut commands = vec![audit; 12];
    commands.push(Es5Command::GetExtendedCardResources);
    let sms = smsr.sms(&commands);
    assert!(sms.len() >= 2, "the script needs {} SMS", sms.len());
    // Segments out of order: nothing happens until the last one arrives.
    let mut out_all = Vec::new();
    for (i, s) in sms.iter().enumerate().rev() {
        let out = fleet.deliver_mt(&m[0], s, i as u64).expect("delivered");
        if i > 0 {
            assert!(out.mo.is_empty() && out.events.is_empty());
        }
        out_all.extend(out.mo);
    }
    assert!(out_all.len() >= 2, "the PoR needs {} SMS", out_all.len());
    let r = ResponseScript::parse_expanded(&smsr.por(&out_all).data).expect("AB");
    assert_eq!(r.executed, 13);
    for a in &r.responses[..12] {
        assert_eq!(isdr::parse_audit_response(&a.data).expect("E3").len(), 3);
    }
    assert_eq!(fleet.euicc(&eid(0)).expect("e").next_deadline(), None);
}

#[test]
fn incomplete_concatenated_sms_expires() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    let sms = smsr.sms(&vec![Es5Command::GetExtendedCardResources; 20]);
    assert!(sms.len() >= 2);
    assert!(
        fleet
            .deliver_mt(&m[0], &sms[0], 100)
            .expect("d")
            .events
            .is_empty()
    );
    let timeout = config().reassembly_timeout_ms;
    assert_eq!(fleet.next_deadline(), Some(100 + timeout));
    let out = fleet.poll(100 + timeout);
    assert!(matches!(out.events[0].kind, EventKind::SmsDropped { .. }));
    assert_eq!(fleet.next_deadline(), None);
    // The late segments alone do not complete anything.
    for s in &sms[1..] {
        assert!(
            fleet
                .deliver_mt(&m[0], s, 200 + timeout)
                .expect("d")
                .mo
                .is_empty()
        );
    }
}

#[test]
fn notification_is_retried_at_the_interval_then_abandoned_with_roll_back() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    assert_eq!(smsr.sw(&mut fleet, &m[0], enable(1), 0), StatusWord::OK);
    // config(): 3 sends, RETRY apart.
    let mut counters = Vec::new();
    for k in 0..3 {
        let t = ATTACH + k * RETRY;
        assert_eq!(fleet.next_deadline(), Some(t));
        assert!(fleet.poll(t - 1).mo.is_empty());
        let out = fleet.poll(t);
        let (from, c, n) = smsr.notification(&out.mo);
        assert_eq!(
            (from.as_str(), n.sequence, n.kind),
            (m[1].as_str(), 1, NotificationType::ProfileChangeSucceeded)
        );
        counters.push(c.value());
    }
    assert_eq!(counters, vec![1, 2, 3]);
    // Third interval over: abandoned, and the eUICC rolls back to P1 (no confirmation = error).
    let t = ATTACH + 3 * RETRY;
    let out = fleet.poll(t);
    assert!(out.mo.is_empty());
    assert!(
        out.events
            .iter()
            .any(|e| e.kind == EventKind::NotificationAbandoned { sequence: 1 })
    );
    assert_eq!(enabled_slot(&fleet, 0), Some(0));
    let out = fleet.poll(t + ATTACH);
    let (from, _, n) = smsr.notification(&out.mo);
    assert_eq!(from, m[0]);
    assert_eq!(
        (n.kind, n.sequence, n.isd_p_aid),
        (NotificationType::ProfileChangeFailedRollback, 2, aid(0))
    );
    // A confirmation of the undone change that arrives now (late, e.g. retransmitted) is refused: 9000 would
    // tell the SM-SR the switch to P2 stands. The roll-back's 03 confirms, and again when retransmitted.
    let t = t + ATTACH + 1;
    assert_eq!(
        smsr.sw(&mut fleet, &m[0], confirm(1), t),
        StatusWord::REFERENCED_DATA_NOT_FOUND
    );
    assert_eq!(smsr.sw(&mut fleet, &m[0], confirm(2), t), StatusWord::OK);
    assert_eq!(smsr.sw(&mut fleet, &m[0], confirm(2), t), StatusWord::OK);
    assert_eq!(enabled_slot(&fleet, 0), Some(0));

    // Without roll-back configured the eUICC only gives up.
    let mut fleet = Fleet::from_seed(
        SEED,
        1,
        SimulatorConfig {
            rollback_when_unconfirmed: false,
            ..config()
        },
    )
    .expect("fleet");
    let mut smsr = SmSr::for_seeded(0);
    assert_eq!(smsr.sw(&mut fleet, &m[0], enable(1), 0), StatusWord::OK);
    for k in 0..=3 {
        fleet.poll(ATTACH + k * RETRY);
    }
    assert_eq!(enabled_slot(&fleet, 0), Some(1));
    assert_eq!(fleet.next_deadline(), None);
}

#[test]
fn no_connectivity_rolls_back_with_notification_03() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    fleet
        .set_coverage(&eid(0), &aid(1), false, 0)
        .expect("coverage");
    assert_eq!(smsr.sw(&mut fleet, &m[0], enable(1), 0), StatusWord::OK);
    let out = fleet.poll(ATTACH);
    assert!(out.mo.is_empty());
    assert!(
        out.events
            .iter()
            .any(|e| matches!(e.kind, EventKind::AttachFailed { .. }))
    );
    // Rolled back at once to P1, which attaches after the delay and reports 03.
    assert_eq!(enabled_slot(&fleet, 0), Some(0));
    let out = fleet.poll(2 * ATTACH);
    let (from, _, n) = smsr.notification(&out.mo);
    assert_eq!(from, m[0]);
    assert_eq!(
        (n.kind, n.isd_p_aid.clone()),
        (NotificationType::ProfileChangeFailedRollback, aid(0))
    );
    let (r, _) = smsr.run(&mut fleet, &m[0], &[confirm(n.sequence)], 2 * ATTACH + 1);
    assert_eq!(r[0].sw, StatusWord::OK);
    assert_eq!(fleet.next_deadline(), None);
    assert_eq!(
        fleet
            .euicc(&eid(0))
            .expect("e")
            .isd_p(&aid(1))
            .map(|i| i.state()),
        Some(ProfileState::Disabled)
    );
}

#[test]
fn loss_of_connectivity_falls_back_with_notification_05() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    assert_eq!(smsr.sw(&mut fleet, &m[0], enable(1), 0), StatusWord::OK);
    let (_, _, n) = smsr.notification(&fleet.poll(ATTACH).mo);
    smsr.run(&mut fleet, &m[1], &[confirm(n.sequence)], ATTACH);
    // P2's network disappears: SMS to it no longer arrive, the eUICC enables the fall-back profile P1.
    let out = fleet
        .set_coverage(&eid(0), &aid(1), false, 10_000)
        .expect("coverage");
    assert!(out.events.iter().any(|e| matches!(
        e.kind,
        EventKind::ProfileStateChanged {
            state: ProfileState::Enabled,
            ..
        }
    )));
    assert_eq!(enabled_slot(&fleet, 0), Some(0));
    assert_eq!(
        fleet.deliver_mt(&m[1], &[0], 10_001),
        Err(DeliveryError::Unreachable(Msisdn::parse(&m[1]).expect("m")))
    );
    let out = fleet.poll(10_000 + ATTACH);
    let (from, _, n) = smsr.notification(&out.mo);
    assert_eq!(from, m[0]);
    assert_eq!(
        (n.kind, n.isd_p_aid.clone()),
        (NotificationType::ProfileChangeAfterFallback, aid(0))
    );
    // No POL1 deletion after a fall-back, even for a profile with the rule.
    let (r, _) = smsr.run(&mut fleet, &m[0], &[confirm(n.sequence)], 10_000 + ATTACH);
    assert!(r[0].data.is_empty());
    // Losing coverage on the fall-back profile itself changes nothing and SMS no longer reach the eUICC.
    let out = fleet
        .set_coverage(&eid(0), &aid(0), false, 20_000)
        .expect("coverage");
    assert!(out.events.is_empty());
    assert_eq!(
        fleet.deliver_mt(&m[0], &[0], 20_001),
        Err(DeliveryError::NoCoverage(Msisdn::parse(&m[0]).expect("m")))
    );
    assert!(fleet.set_coverage(&eid(0), &aid(9), true, 0).is_err());
}

#[test]
fn failed_roll_back_ends_in_fall_back() {
    let mut fleet = seeded(1);
    let mut smsr = SmSr::for_seeded(0);
    let m = msisdns(0);
    assert_eq!(smsr.sw(&mut fleet, &m[0], enable(1), 0), StatusWord::OK);
    let (_, _, n) = smsr.notification(&fleet.poll(ATTACH).mo);
    smsr.run(&mut fleet, &m[1], &[confirm(n.sequence)], ATTACH);
    // P2 → P3, P3 has no network; while switching, P2 loses its network too.
    fleet
        .set_coverage(&eid(0), &aid(2), false, 5_000)
        .expect("c");
    assert_eq!(smsr.sw(&mut fleet, &m[1], enable(2), 5_000), StatusWord::OK);
    fleet
        .set_coverage(&eid(0), &aid(1), false, 5_001)
        .expect("c");
    assert!(fleet.poll(5_000 + ATTACH).mo.is_empty()); // P3 fails → roll back to P2
    assert_eq!(enabled_slot(&fleet, 0), Some(1));
    assert!(fleet.poll(5_000 + 2 * ATTACH).mo.is_empty()); // P2 fails → fall back to P1
    assert_eq!(enabled_slot(&fleet, 0), Some(0));
    let out = fleet.poll(5_000 + 3 * ATTACH);
    let (from, _, n) = smsr.notification(&out.mo);
    assert_eq!(
        (from.as_str(), n.kind),
        (m[0].as_str(), NotificationType::ProfileChangeAfterFallback)
    );
}

#[test]
fn sms_to_a_disabled_profile_msisdn_is_not_delivered() {
    let mut fleet = seeded(2);
    let m = msisdns(0);
    let ud = [0x02, 0x70, 0x00];
    for (msisdn, expected) in [
        (
            m[1].as_str(),
            DeliveryError::Unreachable(Msisdn::parse(&m[1]).expect("m")),
        ),
        (
            m[2].as_str(),
            DeliveryError::Unreachable(Msisdn::parse(&m[2]).expect("m")),
        ),
        (
            "4900000000",
            DeliveryError::Unreachable(Msisdn::parse("4900000000").expect("m")),
        ),
    ] {
        assert_eq!(fleet.deliver_mt(msisdn, &ud, 0), Err(expected));
    }
    assert!(matches!(
        fleet.deliver_mt("+49", &ud, 0),
        Err(DeliveryError::BadAddress(_))
    ));
    assert!(fleet.deliver_mt(&m[0], &ud, 0).is_ok());
    assert!(fleet.deliver_mt(&msisdns(1)[0], &ud, 0).is_ok());
}

#[test]
fn seeded_fleets_are_deterministic() {
    let run = |seed: u64| {
        let mut fleet = Fleet::from_seed(seed, 2, config()).expect("fleet");
        let s = EuiccSecrets::from_seed(SEED, 0).expect("s");
        let mut smsr = SmSr::new(s.isd_r.scp80(), s.isd_r.kvn());
        let sms = smsr.sms(&[enable(1)]);
        let mut mo = deliver(&mut fleet, &msisdns(0)[0], &sms, 0).mo;
        mo.extend(fleet.poll(ATTACH).mo);
        mo
    };
    let a = run(SEED);
    assert_eq!(a.len(), 2);
    assert_eq!(a, run(SEED));
    // Another seed means other keys: the packet fails its CC, a single unsecured PoR answers.
    let b = run(SEED + 1);
    assert_eq!(b.len(), 1);
    assert_ne!(a[0].tp_ud, b[0].tp_ud);

    let x = EuiccSecrets::from_seed(SEED, 3).expect("x");
    let y = EuiccSecrets::from_seed(SEED, 3).expect("y");
    let z = EuiccSecrets::from_seed(SEED, 4).expect("z");
    let pk = |s: &EuiccSecrets| {
        s.ecasd
            .private_key()
            .expect("valid scalar")
            .public_key()
            .clone()
    };
    assert_eq!(pk(&x), pk(&y));
    assert_ne!(pk(&x), pk(&z));
    assert_eq!((x.eid, x.msisdn), (y.eid, y.msisdn));
    assert!(certs::world::eid_is_valid(&x.eid.to_string()));
    // Secrets never print.
    let dbg = format!("{x:?}");
    assert!(dbg.contains("[redacted]"));
    assert!(!dbg.contains(&hex::encode_upper(
        x.ecasd.private_key().expect("k").to_scalar().as_slice()
    )));
}
