//! SM-DP warehouse on both backends: profile types, chunked import, reservation, state transitions, export.
mod common;

use std::collections::HashSet;
use std::sync::Mutex;

use eis_store::warehouse::{self, NewProfileType, NewStockRecord, StockLevel, StockState};
use eis_store::{RecordKind, Sealed, Store, StoreError};

const MNO: &str = "1.3.6.1.4.1.4242";
const EID: &str = "89049032123451234512345678901235";

fn ptype(name: &str) -> NewProfileType {
    NewProfileType {
        mno_oid: MNO.into(),
        name: name.into(),
        template: vec![0x30, 0x80, 0xA0, 0x00],
        required_memory: 16_384,
        target_platform: "rsp-sim".into(),
        low_stock_threshold: 10,
        pol2: None,
    }
}

/// A profile type with a POL2 (the text is opaque to the store; the SM-DP validates it).
fn ptype_with_pol2(name: &str) -> NewProfileType {
    NewProfileType {
        pol2: Some("DISABLE:Auto-Delete,DELETE:Not-Allowed".into()),
        ..ptype(name)
    }
}

fn rec(i: u32) -> NewStockRecord {
    NewStockRecord {
        iccid: format!("8988211{i:012}"),
        imsi: format!("00101{i:010}"),
        msisdn: i.is_multiple_of(2).then(|| format!("+49170{i:07}")),
        secrets: Sealed {
            key_id: "mk-1".into(),
            ciphertext: i.to_be_bytes().repeat(10),
        },
    }
}

fn import(store: &Store, type_id: i64, range: std::ops::Range<u32>, chunk: usize) -> i64 {
    store
        .tx(|c| {
            let order = warehouse::create_order(c, type_id, "order-1.csv", 100)?;
            let all: Vec<NewStockRecord> = range.clone().map(rec).collect();
            for part in all.chunks(chunk) {
                warehouse::insert_stock_chunk(c, order, part, 100)?;
            }
            Ok::<i64, StoreError>(order)
        })
        .expect("import")
}

both_backends!(profile_types_and_chunked_import, 2, |store| {
    let mut c = store.conn().expect("conn");
    let t = warehouse::create_profile_type(&mut c, &ptype("3G_16K"), 1).expect("create");
    let t2 =
        warehouse::create_profile_type(&mut c, &ptype_with_pol2("LTE_64K"), 1).expect("create");
    assert!(matches!(
        warehouse::create_profile_type(&mut c, &ptype("3G_16K"), 2),
        Err(StoreError::AlreadyExists {
            kind: RecordKind::ProfileType,
            ..
        })
    ));
    let other_mno = NewProfileType {
        mno_oid: "1.2.3".into(),
        ..ptype("3G_16K")
    };
    warehouse::create_profile_type(&mut c, &other_mno, 2).expect("same name, other MNO");
    let got = warehouse::profile_type_by_name(&mut c, MNO, "3G_16K")
        .expect("by name")
        .expect("some");
    assert_eq!((got.id, &got.profile_type), (t, &ptype("3G_16K")));
    assert_eq!(
        warehouse::get_profile_type(&mut c, t2)
            .expect("get")
            .map(|p| p.profile_type),
        Some(ptype_with_pol2("LTE_64K")),
        "the POL2 text comes back as stored"
    );
    assert_eq!(
        warehouse::list_profile_types(&mut c, MNO)
            .expect("list")
            .len(),
        2
    );
    drop(c);

    // 4,500 rows in chunks of 2,500: more than one INSERT statement per chunk on SQLite.
    let order = import(store, t, 0..4_500, 2_500);
    let mut c = store.conn().expect("conn");
    let o = warehouse::get_order(&mut c, order)
        .expect("order")
        .expect("some");
    assert_eq!(
        (
            o.row_count,
            o.mno_oid.as_str(),
            o.profile_type_id,
            o.source_file.as_str()
        ),
        (4_500, MNO, t, "order-1.csv")
    );
    let r = warehouse::get_stock(&mut c, &rec(7).iccid)
        .expect("get")
        .expect("some");
    assert_eq!(
        (
            r.imsi,
            r.msisdn,
            r.secrets,
            r.state,
            r.eid,
            r.order_id,
            r.profile_type_id,
            r.mno_oid.as_str()
        ),
        (
            rec(7).imsi,
            None,
            rec(7).secrets,
            StockState::Available,
            None,
            order,
            t,
            MNO
        )
    );
    assert_eq!(
        warehouse::get_stock(&mut c, &rec(8).iccid)
            .expect("get")
            .expect("some")
            .msisdn,
        rec(8).msisdn
    );

    let probe: Vec<String> = [1, 4_499, 4_500, 10_000]
        .iter()
        .map(|i| rec(*i).iccid)
        .collect();
    assert_eq!(
        warehouse::existing_iccids(&mut c, &probe).expect("existing"),
        HashSet::from([rec(1).iccid, rec(4_499).iccid])
    );
    let many: Vec<String> = (4_000..6_500).map(|i| rec(i).iccid).collect();
    assert_eq!(
        warehouse::existing_iccids(&mut c, &many)
            .expect("existing")
            .len(),
        500
    );

    assert_eq!(
        warehouse::stock_levels(&mut c, MNO).expect("levels"),
        vec![
            StockLevel {
                profile_type_id: t,
                profile_type: "3G_16K".into(),
                available: 4_500,
                reserved: 0,
                downloading: 0,
                installed: 0,
                low: false
            },
            StockLevel {
                profile_type_id: t2,
                profile_type: "LTE_64K".into(),
                available: 0,
                reserved: 0,
                downloading: 0,
                installed: 0,
                low: true
            },
        ]
    );
});

both_backends!(import_rolled_back_midway_leaves_nothing, 2, |store| {
    let t = {
        let mut c = store.conn().expect("conn");
        warehouse::create_profile_type(&mut c, &ptype("3G_16K"), 1).expect("create")
    };
    // The caller aborts after two chunks.
    let r: Result<(), StoreError> = store.tx(|c| {
        let order = warehouse::create_order(c, t, "bad.csv", 1)?;
        warehouse::insert_stock_chunk(c, order, &(0..1_000).map(rec).collect::<Vec<_>>(), 1)?;
        warehouse::insert_stock_chunk(c, order, &(1_000..2_000).map(rec).collect::<Vec<_>>(), 1)?;
        Err(StoreError::InvalidArgument {
            what: "row 2001",
            detail: "bad IMSI".into(),
        })
    });
    assert!(matches!(r, Err(StoreError::InvalidArgument { .. })));
    // A duplicate ICCID in the third chunk fails the whole import.
    let r: Result<(), StoreError> = store.tx(|c| {
        let order = warehouse::create_order(c, t, "dup.csv", 1)?;
        warehouse::insert_stock_chunk(c, order, &(0..1_000).map(rec).collect::<Vec<_>>(), 1)?;
        warehouse::insert_stock_chunk(c, order, &(1_000..2_000).map(rec).collect::<Vec<_>>(), 1)?;
        warehouse::insert_stock_chunk(c, order, &[rec(2_000), rec(5)], 1)?;
        Ok(())
    });
    assert!(
        matches!(
            r,
            Err(StoreError::AlreadyExists {
                kind: RecordKind::StockRecord,
                ..
            })
        ),
        "{r:?}"
    );
    let mut c = store.conn().expect("conn");
    let all: Vec<String> = (0..2_001).map(|i| rec(i).iccid).collect();
    assert!(
        warehouse::existing_iccids(&mut c, &all)
            .expect("existing")
            .is_empty()
    );
    assert_eq!(
        warehouse::stock_levels(&mut c, MNO).expect("levels")[0].available,
        0
    );
    // Orders still work afterwards and start empty.
    let order = warehouse::create_order(&mut c, t, "good.csv", 2).expect("order");
    assert_eq!(
        warehouse::get_order(&mut c, order)
            .expect("get")
            .map(|o| o.row_count),
        Some(0)
    );
    assert!(matches!(
        warehouse::insert_stock_chunk(&mut c, 999_999, &[rec(1)], 2),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        warehouse::create_order(&mut c, 999_999, "x", 2),
        Err(StoreError::NotFound { .. })
    ));
});

both_backends!(reservation_and_state_transitions, 2, |store| {
    let t = {
        let mut c = store.conn().expect("conn");
        warehouse::create_profile_type(&mut c, &ptype("3G_16K"), 1).expect("create")
    };
    let order = import(store, t, 0..5, 5);
    let mut c = store.conn().expect("conn");
    let r0 = warehouse::reserve_next(&mut c, t, EID, 10)
        .expect("reserve")
        .expect("some");
    assert_eq!(
        (
            r0.iccid.clone(),
            r0.state,
            r0.eid.as_deref(),
            r0.reserved_at
        ),
        (rec(0).iccid, StockState::Reserved, Some(EID), Some(10))
    );
    let r3 = warehouse::reserve_iccid(&mut c, &rec(3).iccid, "EID-B", 11).expect("reserve 3");
    assert_eq!(r3.eid.as_deref(), Some("EID-B"));
    assert!(matches!(
        warehouse::reserve_iccid(&mut c, &rec(3).iccid, EID, 12),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        warehouse::reserve_iccid(&mut c, "0000", EID, 12),
        Err(StoreError::NotFound { .. })
    ));

    // Transitions check the previous state and the EID.
    let i0 = rec(0).iccid;
    assert!(matches!(
        warehouse::mark_installed(&mut c, &i0, EID, 13),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        warehouse::start_download(&mut c, &i0, "EID-B", 13),
        Err(StoreError::Conflict { .. })
    ));
    warehouse::start_download(&mut c, &i0, EID, 14).expect("downloading");
    warehouse::mark_installed(&mut c, &i0, EID, 15).expect("installed");
    assert!(matches!(
        warehouse::release(&mut c, &i0, EID, 16),
        Err(StoreError::Conflict { .. })
    ));
    let installed = warehouse::get_stock(&mut c, &i0)
        .expect("get")
        .expect("some");
    assert_eq!(
        (
            installed.state,
            installed.downloading_at,
            installed.installed_at
        ),
        (StockState::Installed, Some(14), Some(15))
    );

    // A failed download goes back to stock, from reserved or from downloading.
    let i3 = rec(3).iccid;
    warehouse::start_download(&mut c, &i3, "EID-B", 17).expect("downloading");
    warehouse::release(&mut c, &i3, "EID-B", 18).expect("release");
    let back = warehouse::get_stock(&mut c, &i3)
        .expect("get")
        .expect("some");
    assert_eq!(
        (back.state, back.eid, back.released_at),
        (StockState::Available, None, Some(18))
    );
    let r1 = warehouse::reserve_next(&mut c, t, EID, 19)
        .expect("reserve")
        .expect("some");
    warehouse::release(&mut c, &r1.iccid, EID, 20).expect("release reserved");

    let levels = warehouse::stock_levels(&mut c, MNO).expect("levels");
    assert_eq!(
        (levels[0].available, levels[0].reserved, levels[0].installed),
        (4, 0, 1)
    );
    for i in 1..5 {
        assert!(
            warehouse::reserve_next(&mut c, t, EID, 21)
                .expect("reserve")
                .is_some(),
            "record {i}"
        );
    }
    assert_eq!(
        warehouse::reserve_next(&mut c, t, EID, 22).expect("reserve"),
        None,
        "out of stock"
    );

    // Withdrawing the order deletes what is still available (nothing now), keeps the rest and the order.
    assert_eq!(
        warehouse::delete_available_of_order(&mut c, order).expect("delete"),
        0
    );
    assert!(warehouse::get_order(&mut c, order).expect("get").is_some());
    assert!(matches!(
        warehouse::delete_profile_type(&mut c, t),
        Err(StoreError::Conflict { .. })
    ));
});

both_backends!(export_installed_in_iccid_order, 2, |store| {
    let t = {
        let mut c = store.conn().expect("conn");
        warehouse::create_profile_type(&mut c, &ptype("3G_16K"), 1).expect("create")
    };
    import(store, t, 0..20, 20);
    let mut c = store.conn().expect("conn");
    let mut want = Vec::new();
    for i in [17, 2, 9, 11, 3, 0, 19] {
        let iccid = rec(i).iccid;
        warehouse::reserve_iccid(&mut c, &iccid, EID, 1).expect("reserve");
        warehouse::start_download(&mut c, &iccid, EID, 2).expect("dl");
        warehouse::mark_installed(&mut c, &iccid, EID, 3).expect("installed");
        want.push(iccid);
    }
    warehouse::reserve_iccid(&mut c, &rec(5).iccid, EID, 1).expect("reserved, not installed");
    want.sort();
    let got: Vec<String> = warehouse::export_installed(&mut c, t, 2)
        .map(|r| r.expect("row").iccid)
        .collect();
    assert_eq!(got, want);
    let got: Vec<String> = warehouse::export_installed(&mut c, t, 7)
        .map(|r| r.expect("row").iccid)
        .collect();
    assert_eq!(got, want);
});

both_backends!(thirty_two_threads_reserve_distinct_records, 32, |store| {
    let t = {
        let mut c = store.conn().expect("conn");
        warehouse::create_profile_type(&mut c, &ptype("3G_16K"), 1).expect("create")
    };
    let total = 320;
    import(store, t, 0..total, 1_000);
    let got = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for th in 0..32 {
            let got = &got;
            s.spawn(move || {
                let eid = format!("EID-{th}");
                while let Some(r) = store
                    .tx(|c| warehouse::reserve_next(c, t, &eid, 5))
                    .expect("reserve")
                {
                    assert_eq!(r.eid.as_deref(), Some(eid.as_str()));
                    got.lock().expect("lock").push(r.iccid);
                }
            });
        }
    });
    let got = got.into_inner().expect("mutex");
    assert_eq!(
        got.len(),
        total as usize,
        "a record was reserved twice or lost"
    );
    assert_eq!(got.iter().collect::<HashSet<_>>().len(), total as usize);
    let mut c = store.conn().expect("conn");
    let levels = warehouse::stock_levels(&mut c, MNO).expect("levels");
    assert_eq!(
        (levels[0].available, levels[0].reserved),
        (0, i64::from(total))
    );
});

both_backends!(available_at_least_counts_only_available, 2, |store| {
    let t = {
        let mut c = store.conn().expect("conn");
        warehouse::create_profile_type(&mut c, &ptype("3G_16K"), 1).expect("create")
    };
    import(store, t, 0..5, 5);
    let mut c = store.conn().expect("conn");
    for (n, want) in [(0, true), (1, true), (5, true), (6, false)] {
        assert_eq!(
            warehouse::available_at_least(&mut c, t, n).expect("count"),
            want,
            "at least {n}"
        );
    }
    warehouse::reserve_next(&mut c, t, EID, 5)
        .expect("reserve")
        .expect("some");
    assert!(warehouse::available_at_least(&mut c, t, 4).expect("count"));
    assert!(!warehouse::available_at_least(&mut c, t, 5).expect("count"));
    assert!(!warehouse::available_at_least(&mut c, t + 1, 1).expect("count"));
});
// The stock of /metrics: every profile type of every MNO, records not installed by state, the threshold;
// installed records are not counted, a type without stock shows zeros.
both_backends!(stock_gauges_cover_every_type, 2, |store| {
    let (t, _empty) = {
        let mut c = store.conn().expect("conn");
        let t = warehouse::create_profile_type(&mut c, &ptype("gauge-a"), 1).expect("create");
        let other = NewProfileType {
            mno_oid: "1.3.6.1.4.1.4243".into(),
            ..ptype("gauge-b")
        };
        let e = warehouse::create_profile_type(&mut c, &other, 1).expect("create");
        (t, e)
    };
    import(store, t, 0..4, 4);
    let mut c = store.conn().expect("conn");
    let r = warehouse::reserve_next(&mut c, t, EID, 10)
        .expect("reserve")
        .expect("some");
    let i = warehouse::reserve_next(&mut c, t, "EID-B", 10)
        .expect("reserve")
        .expect("some");
    warehouse::start_download(&mut c, &i.iccid, "EID-B", 11).expect("downloading");
    warehouse::mark_installed(&mut c, &i.iccid, "EID-B", 12).expect("installed");
    let g = warehouse::stock_gauges(&mut c).expect("gauges");
    assert_eq!(
        g,
        vec![
            warehouse::StockGauge {
                mno_oid: MNO.into(),
                profile_type: "gauge-a".into(),
                low_stock_threshold: 10,
                available: 2,
                reserved: 1,
                downloading: 0,
            },
            warehouse::StockGauge {
                mno_oid: "1.3.6.1.4.1.4243".into(),
                profile_type: "gauge-b".into(),
                low_stock_threshold: 10,
                available: 0,
                reserved: 0,
                downloading: 0,
            },
        ]
    );
    assert_eq!(r.state, StockState::Reserved);
});
