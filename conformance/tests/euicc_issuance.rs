//! The issuance fixture (ICCIDs, IMSIs, MSISDNs, states, POL1) checked for validity, uniqueness and
//! determinism, the ICCIDs also by an independent Python Luhn check; and a fleet built from a generated world,
//! driven with the keys the world gives the SM-SR (ITU-T E.118; SGP.02 EIS `ProfileInfo`; wire-profile §4).

mod euicc_common;

use std::collections::HashSet;

use conformance::euicc::{Fleet, SimulatorConfig};
use conformance::issuance::{self, IssuanceError, ProfileState};
use es_interfaces::apdu::StatusWord;
use es_interfaces::notification::NotificationType;
use es_interfaces::scp80::{KeySet, SecretKey};
use euicc_common::*;

fn all(n: usize) -> Vec<Vec<issuance::IssuedProfile>> {
    (0..n)
        .map(|i| {
            issuance::profiles_for(
                i,
                &issuance::world_msisdn(i).expect("msisdn"),
                issuance::DEFAULT_MNO_OIDS,
            )
            .expect("issuance")
        })
        .collect()
}

#[test]
fn luhn_known_answers() {
    // ISO/IEC 7812-1 Annex B worked example and an ICCID of that form.
    assert_eq!(issuance::luhn_check_digit("7992739871"), Some(3));
    assert!(issuance::luhn_is_valid("79927398713"));
    assert!(!issuance::luhn_is_valid("79927398710"));
    assert!(issuance::luhn_is_valid("89014103211118510720"));
    assert!(!issuance::luhn_is_valid("8901410321111851072a"));
    assert!(!issuance::luhn_is_valid("0"));
}

#[test]
fn iccids_imsis_and_msisdns_are_valid_and_unique_across_1000_euiccs() {
    let fleet = all(1000);
    let mut iccids = HashSet::new();
    let mut imsis = HashSet::new();
    let mut msisdns = HashSet::new();
    for (i, profiles) in fleet.iter().enumerate() {
        assert_eq!(profiles.len(), 3);
        assert_eq!(profiles[0].msisdn, issuance::world_msisdn(i).expect("m"));
        for p in profiles {
            assert_eq!(p.iccid.len(), 19, "{}", p.iccid);
            assert!(p.iccid.starts_with("89") && issuance::luhn_is_valid(&p.iccid));
            assert_eq!(p.imsi.len(), 15);
            assert!(p.imsi.starts_with("001"));
            assert!(p.pol2.is_empty());
            assert!(iccids.insert(p.iccid.clone()), "duplicate {}", p.iccid);
            assert!(imsis.insert(p.imsi.clone()), "duplicate {}", p.imsi);
            assert!(msisdns.insert(p.msisdn.clone()), "duplicate {}", p.msisdn);
        }
    }
    assert_eq!(all(1000), fleet, "deterministic");

    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("iccids.txt");
    let text: Vec<&str> = fleet.iter().flatten().map(|p| p.iccid.as_str()).collect();
    std::fs::write(&file, text.join("\n")).expect("write");
    let out = testkit::run_python(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/luhn_oracle.py"),
        &[file.to_str().expect("path")],
    );
    assert_eq!(out.trim(), "3000");
}

#[test]
fn the_table_of_the_module_documentation() {
    let p = &all(1)[0];
    let row = |i: usize| {
        (
            p[i].isd_p_aid_hex(),
            p[i].mno_oid.as_str(),
            p[i].state,
            p[i].fallback,
            p[i].pol1,
            p[i].allocated_memory,
        )
    };
    let none = issuance::Pol1::default();
    assert_eq!(
        row(0),
        (
            "A0000005591010FFFFFFFF8900001000".to_string(),
            "1.3.6.1.4.1.99999.5",
            ProfileState::Enabled,
            true,
            none,
            48_000
        )
    );
    assert_eq!(
        row(1),
        (
            "A0000005591010FFFFFFFF8900001100".to_string(),
            "1.3.6.1.4.1.99999.5",
            ProfileState::Disabled,
            false,
            none,
            48_000
        )
    );
    assert_eq!(
        row(2),
        (
            "A0000005591010FFFFFFFF8900001200".to_string(),
            "1.3.6.1.4.1.99999.6",
            ProfileState::Disabled,
            false,
            issuance::Pol1 {
                delete_when_disabled: true,
                ..none
            },
            32_000
        )
    );
    assert_eq!(
        (
            p[0].iccid.as_str(),
            p[1].imsi.as_str(),
            p[2].msisdn.as_str()
        ),
        ("8949990000000000010", "001010000000002", "4917299000001")
    );
    assert_eq!(issuance::remaining_memory_at_issuance(p), 128_000);
    assert_eq!(ProfileState::Enabled.as_eis_str(), "Enabled");
    assert_eq!(
        issuance::profiles_for(999_999, "1", issuance::DEFAULT_MNO_OIDS),
        Err(IssuanceError::IndexTooLarge(999_999))
    );
}

#[test]
fn a_fleet_from_a_generated_world_answers_the_worlds_keys() {
    let dir = tempfile::tempdir().expect("tmp");
    let now = time::OffsetDateTime::from_unix_timestamp(1_767_225_600).expect("time");
    let opts = certs::world::WorldOptions {
        seed: Some(7),
        ..certs::world::WorldOptions::new(2, now)
    };
    certs::world::generate(dir.path(), &opts).expect("world");
    // The SM-SR side reads the world as the EIS registration would.
    let world = certs::world::World::load(dir.path()).expect("load");
    for i in 0..2 {
        let p = issuance::profiles_at_issuance(&world, i).expect("issuance");
        assert_eq!(p[0].msisdn, world.euiccs[i].msisdn);
        assert_eq!(p[1].mno_oid, world.manifest.mnos[0].entity.oid);
        assert_eq!(p[2].mno_oid, world.manifest.mnos[1].entity.oid);
    }
    assert_eq!(
        issuance::profiles_at_issuance(&world, 2),
        Err(IssuanceError::NoSuchEuicc { index: 2, count: 2 })
    );

    let mut fleet = Fleet::from_world(&world, SimulatorConfig::default()).expect("fleet");
    assert_eq!(fleet.len(), 2);
    let k = &world.euiccs[1].scp80;
    let mut smsr = SmSr::new(
        KeySet {
            kic: SecretKey::new(k.kic.expose()),
            kid: SecretKey::new(k.kid.expose()),
        },
        k.kvn,
    );
    let msisdn = world.euiccs[1].msisdn.clone();
    assert_eq!(smsr.sw(&mut fleet, &msisdn, enable(1), 0), StatusWord::OK);
    let out = fleet.poll(SimulatorConfig::default().attach_delay_ms);
    let (from, _, n) = smsr.notification(&out.mo);
    assert_eq!(n.kind, NotificationType::ProfileChangeSucceeded);
    assert_eq!(hex::encode_upper(n.eid), world.euiccs[1].eid);
    assert_eq!(
        from,
        issuance::profiles_at_issuance(&world, 1).expect("p")[1].msisdn
    );
    // The eUICC keeps the world's ECASD key.
    let eid = conformance::euicc::Eid::parse(&world.euiccs[1].eid).expect("eid");
    assert_eq!(
        fleet
            .euicc(&eid)
            .expect("e")
            .ecasd()
            .private_key()
            .expect("k")
            .public_key(),
        world.euiccs[1].ecasd.key.public_key()
    );
}

#[test]
fn compact_identifiers_round_trip() {
    use conformance::euicc::{Aid, Eid, Iccid, Msisdn};
    for m in ["0049170000001", "4917099000001", "1", "999999999999999"] {
        assert_eq!(Msisdn::parse(m).expect("msisdn").to_string(), m);
    }
    assert_ne!(
        Msisdn::parse("01").expect("m"),
        Msisdn::parse("1").expect("m")
    );
    for bad in ["", "1234567890123456", "49a", "+49"] {
        assert!(Msisdn::parse(bad).is_err(), "{bad}");
    }
    for i in [
        "8949990000000000010",
        "89014103211118510720",
        "894999000000000001",
    ] {
        assert_eq!(Iccid::parse(i).expect("iccid").to_string(), i);
    }
    assert!(Iccid::parse("89").is_err());
    let eid = "89049999001000000000000000000164";
    assert_eq!(Eid::parse(eid).expect("eid").to_string(), eid);
    assert!(Eid::parse(&eid[1..]).is_err());
    let aid = hex::decode("A0000005591010FFFFFFFF8900001000").expect("hex");
    assert_eq!(Aid::new(&aid).expect("aid").as_bytes(), &aid[..]);
    assert!(Aid::new(&aid[..4]).is_err());
    assert!(Aid::new(&[0; 17]).is_err());
}
