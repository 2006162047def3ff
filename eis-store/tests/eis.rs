//! EIS repository on both backends (SGP.02 A1 EISType; ES1.RegisterEIS, profile updates, audit trail).
mod common;

use std::sync::{Arc, Barrier};

use common::{profile, sample_eis};
use eis_store::eis::{
    self, AuditRecord, EuiccLock, EuiccUpdate, KeyComponent, Keyset, Pol2Rule, ProfileState,
    ProfileUpdate, SdKey, SdRole,
};
use eis_store::{RecordKind, Sealed, StoreError};

const EID: &str = "89049032123451234512345678901235";
const EID2: &str = "89049032123451234512345678901236";

both_backends!(register_then_get_round_trips, 4, |store| {
    let new = sample_eis(EID, "8988211000000000001");
    let mut c = store.conn().expect("conn");
    eis::register_eis(&mut c, &new, 1_000).expect("register");
    let got = eis::get_eis(&mut c, EID).expect("get").expect("present");
    assert_eq!(got.euicc, new.euicc);
    assert_eq!(got.isd_r, new.isd_r);
    assert_eq!(got.ecasd, new.ecasd);
    assert_eq!(got.audit_trail, new.audit_trail);
    assert_eq!(got.additional_properties, new.additional_properties);
    assert_eq!(got.profiles.len(), 1);
    assert_eq!(got.profiles[0].info, new.profiles[0]);
    assert_eq!(got.profiles[0].eid, EID);
    assert_eq!(got.lock, EuiccLock::Free);
    assert_eq!(
        (got.version, got.created_at, got.updated_at),
        (0, 1_000, 1_000)
    );
    assert_eq!(eis::get_eis(&mut c, EID2).expect("get"), None);
    // The view read: the same EIS with every key set's keys left out, certificates kept.
    let public = eis::get_eis_without_key_values(&mut c, EID)
        .expect("get")
        .expect("present");
    let without_keys = |sd: &eis::SecurityDomain| {
        let mut sd = sd.clone();
        for ks in &mut sd.keysets {
            ks.keys.clear();
        }
        sd
    };
    assert!(
        got.isd_r.keysets.iter().any(|k| !k.keys.is_empty()),
        "the sample has key values to leave out"
    );
    assert_eq!(public.isd_r, without_keys(&got.isd_r));
    assert_eq!(public.ecasd, without_keys(&got.ecasd));
    assert_eq!(
        (public.euicc, public.profiles, public.audit_trail),
        (
            got.euicc.clone(),
            got.profiles.clone(),
            got.audit_trail.clone()
        )
    );
    assert_eq!(
        eis::get_eis_without_key_values(&mut c, EID2).expect("get"),
        None
    );
    assert_eq!(
        eis::list_eids(&mut c, None, 10).expect("list"),
        vec![EID.to_string()]
    );
    assert!(
        eis::list_eids(&mut c, Some(EID), 10)
            .expect("list")
            .is_empty()
    );
});

both_backends!(duplicate_register_leaves_first_intact, 4, |store| {
    let first = sample_eis(EID, "8988211000000000001");
    let mut second = sample_eis(EID, "8988211000000000002");
    second.euicc.platform_type = "other".into();
    second.isd_r.keysets[0].cntr = 99;
    let mut c = store.conn().expect("conn");
    eis::register_eis(&mut c, &first, 1).expect("first");
    let r = eis::register_eis(&mut c, &second, 2);
    match r {
        Err(StoreError::AlreadyExists {
            kind: RecordKind::Eis,
            key,
        }) => assert_eq!(key, EID),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    let got = eis::get_eis(&mut c, EID).expect("get").expect("present");
    assert_eq!(got.euicc, first.euicc);
    assert_eq!(got.isd_r, first.isd_r);
    assert_eq!(got.profiles[0].info.iccid, "8988211000000000001");
    assert_eq!(
        eis::get_profile(&mut c, "8988211000000000002").expect("get"),
        None
    );
});

both_backends!(concurrent_duplicate_register_exactly_one_wins, 8, |store| {
    let threads = 8;
    let barrier = Arc::new(Barrier::new(threads));
    let results: Vec<Result<(), StoreError>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|i| {
                let b = barrier.clone();
                s.spawn(move || {
                    let new = sample_eis(EID, &format!("89882110000000001{i:02}"));
                    b.wait();
                    store.tx(|c| eis::register_eis(c, &new, 1))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("join")).collect()
    });
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let dup = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(StoreError::AlreadyExists {
                    kind: RecordKind::Eis,
                    ..
                })
            )
        })
        .count();
    assert_eq!((ok, dup), (1, threads - 1), "{results:?}");
    let mut c = store.conn().expect("conn");
    assert_eq!(eis::profiles_of(&mut c, EID).expect("profiles").len(), 1);
});

both_backends!(registration_with_taken_iccid_is_rolled_back, 4, |store| {
    let mut c = store.conn().expect("conn");
    eis::register_eis(&mut c, &sample_eis(EID, "8988211000000000001"), 1).expect("first");
    let r = eis::register_eis(&mut c, &sample_eis(EID2, "8988211000000000001"), 1);
    assert!(
        matches!(
            r,
            Err(StoreError::AlreadyExists {
                kind: RecordKind::Profile,
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(eis::get_eis(&mut c, EID2).expect("get"), None);
    assert!(eis::audit_trail(&mut c, EID2).expect("audit").is_empty());
});

both_backends!(invalid_values_are_refused_before_writing, 2, |store| {
    let mut c = store.conn().expect("conn");
    let mut bad = sample_eis(EID, "8988211000000000001");
    bad.isd_r.keysets[0].cntr = 1 << 40;
    assert!(matches!(
        eis::register_eis(&mut c, &bad, 1),
        Err(StoreError::InvalidArgument { .. })
    ));
    let mut bad = sample_eis(EID, "8988211000000000001");
    bad.isd_r.keysets[0].version = 0;
    assert!(matches!(
        eis::register_eis(&mut c, &bad, 1),
        Err(StoreError::InvalidArgument { .. })
    ));
    let mut bad = sample_eis(EID, "8988211000000000001");
    bad.audit_trail[0].eid = EID2.into();
    assert!(matches!(
        eis::register_eis(&mut c, &bad, 1),
        Err(StoreError::InvalidArgument { .. })
    ));
    assert_eq!(eis::get_eis(&mut c, EID).expect("get"), None);
});

both_backends!(profile_updates_check_version, 4, |store| {
    let mut c = store.conn().expect("conn");
    eis::register_eis(&mut c, &sample_eis(EID, "8988211000000000001"), 1).expect("register");
    let new = profile("8988211000000000009", 2, ProfileState::InCreation);
    eis::insert_profile(&mut c, EID, &new, 5).expect("insert");
    let p = eis::get_profile(&mut c, "8988211000000000009")
        .expect("get")
        .expect("some");
    assert_eq!(
        (p.info.state, p.version, p.eid.as_str()),
        (ProfileState::InCreation, 0, EID)
    );

    let v1 =
        eis::update_profile_state(&mut c, &p.info.iccid, 0, ProfileState::Created, 6).expect("upd");
    assert_eq!(v1, 1);
    let stale = eis::update_profile_state(&mut c, &p.info.iccid, 0, ProfileState::Enabled, 7);
    assert!(
        matches!(
            stale,
            Err(StoreError::Conflict {
                kind: RecordKind::Profile,
                ..
            })
        ),
        "{stale:?}"
    );
    let missing = eis::update_profile_state(&mut c, "0000", 0, ProfileState::Enabled, 7);
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "{missing:?}"
    );

    let v2 = eis::update_profile(
        &mut c,
        &p.info.iccid,
        v1,
        &ProfileUpdate {
            fallback: Some(true),
            msisdn: Some(Some("+491700000001".into())),
            free_memory: Some(None),
            ..ProfileUpdate::default()
        },
        8,
    )
    .expect("update");
    let rules = vec![
        Pol2Rule {
            subject: "PROFILE".into(),
            action: "DELETE".into(),
            qualification: "Auto-Delete".into(),
        },
        Pol2Rule {
            subject: "PROFILE".into(),
            action: "ENABLE".into(),
            qualification: "Not-Allowed".into(),
        },
    ];
    let v3 = eis::set_pol2(&mut c, &p.info.iccid, v2, &rules, 9).expect("pol2");
    assert_eq!(v3, 3);
    let q = eis::profile_by_isd_p_aid(&mut c, EID, &new.isd_p_aid)
        .expect("by aid")
        .expect("some");
    assert_eq!(q.info.state, ProfileState::Created);
    assert!(q.info.fallback);
    assert_eq!(q.info.msisdn.as_deref(), Some("+491700000001"));
    assert_eq!(q.info.imsi, new.imsi);
    assert_eq!(q.info.free_memory, None);
    assert_eq!(q.info.pol2, rules);
    assert_eq!((q.version, q.created_at, q.updated_at), (3, 5, 9));
    assert!(matches!(
        eis::set_pol2(&mut c, &p.info.iccid, v2, &[], 10),
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(
        eis::get_profile(&mut c, &p.info.iccid)
            .expect("get")
            .expect("some")
            .info
            .pol2,
        rules
    );

    // ISD-P AID unique per eUICC, ICCID unique overall.
    let same_aid = profile("8988211000000000010", 2, ProfileState::InCreation);
    assert!(matches!(
        eis::insert_profile(&mut c, EID, &same_aid, 10),
        Err(StoreError::AlreadyExists {
            kind: RecordKind::Profile,
            ..
        })
    ));
    assert!(matches!(
        eis::insert_profile(
            &mut c,
            EID2,
            &profile("8988211000000000011", 3, ProfileState::InCreation),
            10
        ),
        Err(StoreError::NotFound {
            kind: RecordKind::Eis,
            ..
        })
    ));

    eis::delete_profile(&mut c, &p.info.iccid).expect("delete");
    assert_eq!(eis::get_profile(&mut c, &p.info.iccid).expect("get"), None);
    assert_eq!(eis::profiles_of(&mut c, EID).expect("list").len(), 1);
});

both_backends!(euicc_updates_lock_keysets_and_audit, 4, |store| {
    let mut c = store.conn().expect("conn");
    eis::register_eis(&mut c, &sample_eis(EID, "8988211000000000001"), 1).expect("register");
    let v = eis::update_euicc(
        &mut c,
        EID,
        0,
        &EuiccUpdate {
            remaining_memory: Some(1),
            last_audit_date: Some(77),
            ..EuiccUpdate::default()
        },
        2,
    )
    .expect("update");
    assert_eq!(v, 1);
    assert!(matches!(
        eis::update_euicc(&mut c, EID, 0, &EuiccUpdate::default(), 3),
        Err(StoreError::Conflict {
            kind: RecordKind::Eis,
            ..
        })
    ));
    let lock = EuiccLock::SmsrChangeOutgoing {
        operation: "op-1".into(),
    };
    let v = eis::set_lock(&mut c, EID, v, &lock, 4).expect("lock");
    let got = eis::get_eis(&mut c, EID).expect("get").expect("some");
    assert_eq!((got.version, got.lock.clone()), (v, lock));
    assert_eq!(got.euicc.remaining_memory, 1);
    assert_eq!(got.euicc.available_memory_for_profiles, 350_000);
    assert_eq!(got.euicc.last_audit_date, Some(77));

    // Key sets: read one, replace one, add one.
    let ks = eis::get_keyset(&mut c, EID, SdRole::IsdR, 1)
        .expect("ks")
        .expect("some");
    assert_eq!(ks, got.isd_r.keysets[0]);
    assert_eq!(
        eis::get_keyset(&mut c, EID, SdRole::IsdR, 9).expect("ks"),
        None
    );
    let replacement = Keyset {
        version: 1,
        usage: Some("SCP80".into()),
        cntr: 0,
        keys: vec![SdKey {
            index: 1,
            kcv: vec![1, 2, 3],
            components: vec![
                KeyComponent {
                    key_type: 0x88,
                    value: Sealed {
                        key_id: "master-2".into(),
                        ciphertext: vec![7; 40],
                    },
                },
                KeyComponent {
                    key_type: 0x88,
                    value: Sealed {
                        key_id: "master-2".into(),
                        ciphertext: vec![8; 40],
                    },
                },
            ],
        }],
        certificates: vec![],
    };
    eis::put_keyset(&mut c, EID, SdRole::IsdR, &replacement).expect("put");
    assert_eq!(
        eis::get_keyset(&mut c, EID, SdRole::IsdR, 1).expect("ks"),
        Some(replacement.clone())
    );
    let extra = Keyset {
        version: 2,
        ..replacement
    };
    eis::put_keyset(&mut c, EID, SdRole::IsdR, &extra).expect("put");
    let got = eis::get_eis(&mut c, EID).expect("get").expect("some");
    assert_eq!(
        got.isd_r
            .keysets
            .iter()
            .map(|k| k.version)
            .collect::<Vec<_>>(),
        vec![1, 2, 0x40]
    );
    assert!(matches!(
        eis::put_keyset(&mut c, EID2, SdRole::IsdR, &extra),
        Err(StoreError::NotFound { .. })
    ));

    // Audit trail: appended in order; unknown eUICC refused.
    let rec = |t: u8| AuditRecord {
        eid: EID.into(),
        smsr_id: "1.3.6.1.4.1.555".into(),
        operation_date: 10 + i64::from(t),
        operation_type: [0x02, t],
        requester_id: None,
        execution_status: None,
        isd_p_aid: Some(vec![0xA0, t]),
        iccid: Some("8988211000000000001".into()),
        imei: Some("490154203237518".into()),
        meid: None,
    };
    eis::append_audit(&mut c, &rec(1)).expect("append");
    eis::append_audit(&mut c, &rec(2)).expect("append");
    let trail = eis::audit_trail(&mut c, EID).expect("trail");
    assert_eq!(trail.len(), 3);
    assert_eq!(&trail[1..], &[rec(1), rec(2)]);
    let orphan = AuditRecord {
        eid: EID2.into(),
        ..rec(3)
    };
    assert!(matches!(
        eis::append_audit(&mut c, &orphan),
        Err(StoreError::NotFound { .. })
    ));

    // Deleting the EIS removes every child.
    eis::delete_eis(&mut c, EID).expect("delete");
    assert_eq!(eis::get_eis(&mut c, EID).expect("get"), None);
    assert_eq!(
        eis::get_profile(&mut c, "8988211000000000001").expect("get"),
        None
    );
    assert!(eis::audit_trail(&mut c, EID).expect("trail").is_empty());
    assert_eq!(
        eis::get_keyset(&mut c, EID, SdRole::IsdR, 1).expect("ks"),
        None
    );
    assert!(matches!(
        eis::delete_eis(&mut c, EID),
        Err(StoreError::NotFound { .. })
    ));
    // The EID can be registered again afterwards.
    eis::register_eis(&mut c, &sample_eis(EID, "8988211000000000001"), 5).expect("register again");
});

/// `lock_euicc` (several nodes, issue 14 item 2): while one transaction holds an eUICC's row, another node's
/// transaction waits for it (here: gives up after its lock_timeout), and takes it once the first has committed;
/// another eUICC's row is not held.
#[test]
fn lock_euicc_serialises_what_two_nodes_do_for_one_euicc_on_postgres() {
    use diesel::RunQueryDsl;
    let (_db, store) = common::pg_store(3);
    let now = 1_700_000_000_000;
    for (eid, iccid) in [
        ("89049032123451234512345678901235", "8910390000000000001"),
        ("89049032123451234512345678901236", "8910390000000000002"),
    ] {
        store
            .tx(|c| eis_store::eis::register_eis(c, &common::sample_eis(eid, iccid), now))
            .expect("register");
    }
    let (first, other) = (
        "89049032123451234512345678901235",
        "89049032123451234512345678901236",
    );
    let mut a = store.conn().expect("conn");
    let mut b = store.conn().expect("conn");
    let set_timeout = |c: &mut eis_store::PooledConn| {
        diesel::sql_query("SET lock_timeout = '300ms'")
            .execute(&mut **c)
            .expect("lock_timeout");
    };
    set_timeout(&mut b);
    diesel::sql_query("BEGIN").execute(&mut *a).expect("begin");
    assert!(eis_store::eis::lock_euicc(&mut a, first).expect("lock"));
    diesel::sql_query("BEGIN").execute(&mut *b).expect("begin");
    assert!(
        eis_store::eis::lock_euicc(&mut b, first).is_err(),
        "the second node waits while the first holds the eUICC"
    );
    diesel::sql_query("ROLLBACK")
        .execute(&mut *b)
        .expect("rollback");
    diesel::sql_query("BEGIN").execute(&mut *b).expect("begin");
    assert!(eis_store::eis::lock_euicc(&mut b, other).expect("another eUICC is free"));
    assert!(
        !eis_store::eis::lock_euicc(&mut b, "89049032123451234512345678901237").expect("unknown")
    );
    diesel::sql_query("COMMIT")
        .execute(&mut *b)
        .expect("commit");
    diesel::sql_query("COMMIT")
        .execute(&mut *a)
        .expect("commit");
    diesel::sql_query("BEGIN").execute(&mut *b).expect("begin");
    assert!(eis_store::eis::lock_euicc(&mut b, first).expect("free once the first committed"));
    diesel::sql_query("COMMIT")
        .execute(&mut *b)
        .expect("commit");
}

/// Three EIDs with valid check digits for the bulk-load tests.
const BULK_EIDS: [&str; 3] = [
    "89049032123451234512345678901300",
    "89049032123451234512345678901400",
    "89049032123451234512345678901500",
];

both_backends!(copy_eis_stores_what_register_eis_stores, 2, |store| {
    let batch: Vec<_> = BULK_EIDS
        .iter()
        .enumerate()
        .map(|(i, eid)| {
            let mut e = sample_eis(eid, &format!("898821100000000010{i}"));
            e.profiles.push(profile(
                &format!("898821100000000020{i}"),
                2,
                ProfileState::Disabled,
            ));
            e.profiles[1].pol2 = vec![Pol2Rule {
                subject: "PROFILE".into(),
                action: "DELETE".into(),
                qualification: "Not-Allowed".into(),
            }];
            e
        })
        .collect();
    let mut c = store.conn().expect("conn");
    eis::register_eis(&mut c, &sample_eis(EID, "8988211000000000001"), 1_000).expect("register");
    eis::copy_eis(&mut c, &batch, 2_000).expect("copy");
    assert_eq!(eis::count_euiccs(&mut c).expect("count"), 4);
    for new in &batch {
        let got = eis::get_eis(&mut c, &new.euicc.eid)
            .expect("get")
            .expect("present");
        assert_eq!(got.euicc, new.euicc);
        assert_eq!(got.isd_r, new.isd_r);
        assert_eq!(got.ecasd, new.ecasd);
        assert_eq!(got.audit_trail, new.audit_trail);
        assert_eq!(got.additional_properties, new.additional_properties);
        let infos: Vec<_> = got.profiles.iter().map(|p| p.info.clone()).collect();
        assert_eq!(infos, new.profiles);
        assert_eq!(
            (got.lock, got.version, got.created_at, got.updated_at),
            (EuiccLock::Free, 0, 2_000, 2_000)
        );
    }
    // A batch with a known EID stores nothing, not even its new EIDs.
    let mut again = vec![sample_eis(EID2, "8988211000000000301")];
    again.push(batch[0].clone());
    let err = eis::copy_eis(&mut c, &again, 3_000).expect_err("a known EID");
    assert!(
        matches!(
            err,
            StoreError::AlreadyExists {
                kind: RecordKind::Eis,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(eis::get_eis(&mut c, EID2).expect("get"), None);
    // A batch whose ICCID another eUICC holds is refused as a profile conflict.
    let err = eis::copy_eis(&mut c, &[sample_eis(EID2, "8988211000000000001")], 3_000)
        .expect_err("a known ICCID");
    assert!(
        matches!(
            err,
            StoreError::AlreadyExists {
                kind: RecordKind::Profile,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(eis::count_euiccs(&mut c).expect("count"), 4);
});

/// Statements `read` issues on `c` (diesel's instrumentation: every query started).
fn statements(
    c: &mut eis_store::AnyConnection,
    read: impl FnOnce(&mut eis_store::AnyConnection),
) -> usize {
    use diesel::Connection;
    use diesel::connection::InstrumentationEvent;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    c.set_instrumentation(move |e: InstrumentationEvent<'_>| {
        if matches!(e, InstrumentationEvent::StartQuery { .. }) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    read(c);
    c.set_instrumentation(|_: InstrumentationEvent<'_>| {});
    n.load(Ordering::Relaxed)
}

both_backends!(get_eis_reads_each_table_once, 1, |store| {
    let mut new = sample_eis(EID, "8988211000000000001");
    new.profiles
        .push(profile("8988211000000000002", 2, ProfileState::Disabled));
    let mut c = store.conn().expect("conn");
    eis::register_eis(&mut c, &new, 1_000).expect("register");
    // eUICC, security domains, key sets, certificates, profiles with their POL2 rules, audit trail,
    // properties: one statement each for both security domains and all profiles, whatever their number.
    let view = statements(&mut c, |c| {
        let got = eis::get_eis_without_key_values(c, EID).expect("get");
        assert_eq!(got.expect("present").profiles.len(), 2);
    });
    assert_eq!(view, 7);
    // With the key values: keys and key components too.
    let full = statements(&mut c, |c| {
        let got = eis::get_eis(c, EID).expect("get").expect("present");
        assert_eq!(got.isd_r, new.isd_r);
    });
    assert_eq!(full, 9);
});
