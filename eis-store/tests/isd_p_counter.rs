//! ISD-P instance allocation on both backends (ES3.CreateISDP, SGP.02 §3.1.1; wire-profile §1): an index is
//! never taken twice on one eUICC, also after deletions and when ISD-Ps were loaded at issuance.
mod common;

use common::sample_eis;
use eis_store::eis;
use eis_store::{RecordKind, StoreError};

const EID: &str = "89049032123451234512345678901235";
const EID2: &str = "89049032123451234512345678901236";

both_backends!(indices_never_repeat, 2, |store| {
    let mut c = store.conn().expect("conn");
    eis::register_eis(&mut c, &sample_eis(EID, "8988211000000000001"), 1_000).expect("register");
    eis::register_eis(&mut c, &sample_eis(EID2, "8988211000000000002"), 1_000).expect("register");
    // The caller names one past the highest instance the EIS holds.
    assert_eq!(eis::take_isd_p_index(&mut c, EID, 2).expect("take"), 2);
    assert_eq!(eis::take_isd_p_index(&mut c, EID, 2).expect("take"), 3);
    // A lower floor (the highest ISD-P deleted meanwhile) does not bring an index back.
    assert_eq!(eis::take_isd_p_index(&mut c, EID, 0).expect("take"), 4);
    // Deleting an ISD-P above the counter raises it; a lower one leaves it.
    eis::raise_isd_p_index(&mut c, EID, 9).expect("raise");
    eis::raise_isd_p_index(&mut c, EID, 3).expect("raise");
    assert_eq!(eis::take_isd_p_index(&mut c, EID, 0).expect("take"), 9);
    // Per eUICC.
    assert_eq!(eis::take_isd_p_index(&mut c, EID2, 0).expect("take"), 0);
    // A deletion before any allocation is remembered too.
    let eid3 = "89049032123451234512345678901237";
    eis::register_eis(&mut c, &sample_eis(eid3, "8988211000000000003"), 1_000).expect("register");
    eis::raise_isd_p_index(&mut c, eid3, 5).expect("raise");
    assert_eq!(eis::take_isd_p_index(&mut c, eid3, 1).expect("take"), 5);
});

both_backends!(unknown_euicc, 1, |store| {
    let mut c = store.conn().expect("conn");
    assert!(matches!(
        eis::take_isd_p_index(&mut c, EID, 0),
        Err(StoreError::NotFound {
            kind: RecordKind::Eis,
            ..
        })
    ));
    eis::raise_isd_p_index(&mut c, EID, 3).expect("nothing for an unknown eUICC");
});

both_backends!(counter_goes_with_the_eis, 1, |store| {
    let mut c = store.conn().expect("conn");
    eis::register_eis(&mut c, &sample_eis(EID, "8988211000000000001"), 1_000).expect("register");
    assert_eq!(eis::take_isd_p_index(&mut c, EID, 0).expect("take"), 0);
    eis::delete_eis(&mut c, EID).expect("delete");
    eis::register_eis(&mut c, &sample_eis(EID, "8988211000000000001"), 2_000).expect("register");
    // A new registration of the EID (e.g. after an SM-SR change back) starts from its EIS again.
    assert_eq!(eis::take_isd_p_index(&mut c, EID, 1).expect("take"), 1);
});
