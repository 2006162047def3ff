//! The MNO's view of an EIS (SGP.02 Annex E; docs/architecture.md §8): `Eis::for_mno` and
//! `SecurityDomain::identity_only`.

mod messages_support;

use es_interfaces::messages::eis::Eis;
use messages_support::*;

const OTHER_MNO: &str = "1.3.6.1.4.1.31746.9";

/// The full sample EIS with its second profile (ICCID2) given to another MNO.
fn shared_eis() -> Eis {
    let mut eis = full_eis();
    eis.profile_info[1].mno_id = p(OTHER_MNO);
    eis
}

fn assert_identity_only(eis: &Eis) {
    for sd in [&eis.isd_r, &eis.eum_signed_info.ecasd] {
        assert!(!sd.keysets.is_empty());
        for k in &sd.keysets {
            assert!(
                k.keyset_type.is_none() && k.cntr.is_none() && k.items.is_empty(),
                "{k:?}"
            );
        }
    }
}

#[test]
fn each_mno_sees_its_own_profiles_and_records_only() {
    let full = shared_eis();
    assert!(
        full.eum_signed_info
            .ecasd
            .keysets
            .iter()
            .any(|k| !k.items.is_empty()),
        "the sample ECASD has a certificate to hide"
    );
    let mine = full.clone().for_mno(MNO_ID).expect("MNO_ID has a profile");
    assert_eq!(
        mine.profile_info
            .iter()
            .map(|p| p.iccid.as_str())
            .collect::<Vec<_>>(),
        [ICCID]
    );
    let records = mine
        .audit_trail
        .as_ref()
        .expect("a record of ICCID")
        .records
        .clone();
    assert!(
        records
            .iter()
            .all(|r| r.iccid.as_ref().map(|i| i.as_str()) == Some(ICCID))
    );
    assert_identity_only(&mine);
    assert!(mine.additional_properties.is_none());
    // The identity stays: AIDs, roles and key set versions.
    assert_eq!(mine.isd_r.aid, full.isd_r.aid);
    assert_eq!(
        mine.isd_r
            .keysets
            .iter()
            .map(|k| k.version)
            .collect::<Vec<_>>(),
        full.isd_r
            .keysets
            .iter()
            .map(|k| k.version)
            .collect::<Vec<_>>()
    );

    let theirs = full
        .clone()
        .for_mno(OTHER_MNO)
        .expect("OTHER_MNO has a profile");
    assert_eq!(
        theirs
            .profile_info
            .iter()
            .map(|p| p.iccid.as_str())
            .collect::<Vec<_>>(),
        [ICCID2]
    );
    assert!(
        theirs.audit_trail.iter().flat_map(|t| &t.records).all(|r| r
            .iccid
            .as_ref()
            .map(|i| i.as_str())
            == Some(ICCID2))
    );
    assert_identity_only(&theirs);
}

#[test]
fn an_mno_without_a_profile_does_not_know_the_euicc() {
    assert!(shared_eis().for_mno("1.3.6.1.4.1.31746.77").is_none());
    assert!(minimal_eis().for_mno(MNO_ID).is_none());
}
