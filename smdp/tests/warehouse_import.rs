//! Order import through the warehouse service on both backends: a 100,000-row file then 32 concurrent
//! reservations by profile type; a failure late in the storing pass leaves nothing; bad files are refused as a
//! whole with the rows named and nothing stored.
mod common;

use std::collections::HashSet;
use std::sync::Mutex;

use common::*;
use eis_store::{Store, now_millis};
use smdp::batch::BatchFormat;
use smdp::warehouse::WarehouseError;
use smdp::warehouse::import::{self, ImportReport, Progress};
use smdp::warehouse::stock::{self, Selector};

fn import(
    store: &Store,
    keys: &certs::secrets::MasterKeyring,
    src: &MemSource,
) -> Result<ImportReport, WarehouseError> {
    import::import_order(
        store,
        keys,
        MNO,
        "usim-sample",
        src,
        BatchFormat::Csv,
        &mut |_| {},
    )
}

fn available(store: &Store) -> i64 {
    let mut c = store.conn().expect("conn");
    stock::levels(&mut c, MNO).expect("levels")[0].available
}

/// The problems of a refusal as (line, column) pairs.
fn refused(r: Result<ImportReport, WarehouseError>) -> (Vec<(u64, Option<String>)>, String) {
    match r {
        Err(WarehouseError::Refused(e)) => (
            e.problems
                .iter()
                .map(|p| (p.line, p.column.clone()))
                .collect(),
            e.to_string(),
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

both_backends!(import_100k_then_32_concurrent_reservations, 8, |db| {
    let store = &db.store;
    let keys = keyring();
    sample_type(store, MNO, "usim-sample", 10);
    let src = MemSource::new("order-100k.csv", csv_file(1, 0..100_000));
    let mut last = None;
    let report = import::import_order(
        store,
        &keys,
        MNO,
        "usim-sample",
        &src,
        BatchFormat::Csv,
        &mut |p| last = Some(p),
    )
    .expect("import");
    assert_eq!(report.rows, 100_000);
    assert_eq!(
        last,
        Some(Progress::Storing {
            rows: 100_000,
            total: 100_000
        })
    );
    assert_eq!(available(store), 100_000);

    // 32 threads, each reserving 20 records by profile type in its own transaction.
    let taken = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for t in 0..32u64 {
            let taken = &taken;
            s.spawn(move || {
                for k in 0..20u64 {
                    let eid = eid(t * 100 + k);
                    let r = store
                        .tx(|c| {
                            stock::reserve(
                                c,
                                MNO,
                                Selector::ProfileType("usim-sample"),
                                &eid,
                                now_millis(),
                            )
                        })
                        .expect("reserve");
                    assert_eq!(r.eid, eid);
                    taken.lock().unwrap().push(r.iccid);
                }
            });
        }
    });
    let taken = taken.into_inner().unwrap();
    let distinct: HashSet<&String> = taken.iter().collect();
    assert_eq!(taken.len(), 640);
    assert_eq!(distinct.len(), 640, "two reservations got the same record");
    let mut c = store.conn().expect("conn");
    let level = &stock::levels(&mut c, MNO).expect("levels")[0];
    assert_eq!((level.available, level.reserved), (100_000 - 640, 640));
    // Lowest ICCIDs first, none skipped: exactly the first 640 records are gone.
    let want: HashSet<String> = (0..640).map(|i| iccid(1, i)).collect();
    assert_eq!(distinct, want.iter().collect());
});

both_backends!(late_read_failure_leaves_nothing, 2, |db| {
    let store = &db.store;
    let keys = keyring();
    sample_type(store, MNO, "usim-sample", 0);
    let bytes = csv_file(2, 0..30_000);
    let mut src = MemSource::new("order.csv", bytes.clone());
    // The storing pass fails after 90% of the file: two chunks are already inserted by then.
    src.fail_after = Some(bytes.len() * 9 / 10);
    // The order-file reader reports the failure as a refusal of the file (line 0, "read error"), after two
    // chunks were stored.
    let mut stored = 0;
    let r = import::import_order(
        store,
        &keys,
        MNO,
        "usim-sample",
        &src,
        BatchFormat::Csv,
        &mut |p| {
            if let Progress::Storing { rows, .. } = p {
                stored = rows;
            }
        },
    );
    assert_eq!(stored, 20_000);
    let (p, text) = refused(r);
    assert_eq!(p, [(0, None)], "{text}");
    assert!(text.contains("read error"), "{text}");
    let mut c = store.conn().expect("conn");
    assert_eq!(
        stock::levels(&mut c, MNO).expect("levels")[0],
        stock::StockLevelInfo {
            profile_type: "usim-sample".into(),
            available: 0,
            reserved: 0,
            downloading: 0,
            installed: 0,
            low_stock_threshold: 0,
            low: false
        }
    );
    assert!(matches!(
        stock::order(&mut c, MNO, 1),
        Err(WarehouseError::UnknownOrder { .. })
    ));
    assert!(
        eis_store::warehouse::get_stock(&mut c, &iccid(2, 0))
            .expect("get")
            .is_none()
    );
    // The same file imports afterwards.
    let report = import(store, &keys, &MemSource::new("order.csv", bytes)).expect("import");
    assert_eq!(report.rows, 30_000);
    assert_eq!(available(store), 30_000);
});

both_backends!(bad_files_are_refused_with_the_rows_named, 2, |db| {
    let store = &db.store;
    let keys = keyring();
    sample_type(store, MNO, "usim-sample", 0);
    let good = |i: u64| row(3, i);
    let file = |rows: Vec<String>| {
        let mut s = format!("{HEADER}\n");
        for r in rows {
            s.push_str(&r);
            s.push('\n');
        }
        s.into_bytes()
    };

    // Bad Luhn digit on line 3 (the second data row).
    let mut bad_luhn = good(1);
    let last = iccid(3, 1).chars().last().unwrap();
    let flipped = char::from(b'0' + ((last as u8 - b'0' + 1) % 10));
    bad_luhn.replace_range(19..20, &flipped.to_string());
    let (p, text) = refused(import(
        store,
        &keys,
        &MemSource::new("luhn.csv", file(vec![good(0), bad_luhn, good(2)])),
    ));
    assert_eq!(p, [(3, Some("ICCID".into()))], "{text}");
    assert!(text.contains("Luhn"), "{text}");

    // A K of 30 hex digits on line 2.
    let short_k = good(0).replacen(
        &format!(",{:032X},", (3u128 << 64)),
        &format!(",{:030X},", 3u128 << 64),
        1,
    );
    assert_ne!(short_k, good(0));
    let (p, _) = refused(import(
        store,
        &keys,
        &MemSource::new("short-k.csv", file(vec![short_k, good(1)])),
    ));
    assert_eq!(p, [(2, Some("K".into()))]);

    // Line 4 repeats the ICCID of line 2.
    let mut dup_row = good(2);
    dup_row.replace_range(0..20, &iccid(3, 0));
    let (p, text) = refused(import(
        store,
        &keys,
        &MemSource::new("dup.csv", file(vec![good(0), good(1), dup_row])),
    ));
    assert_eq!(p, [(4, Some("ICCID".into()))], "{text}");
    assert!(text.contains("duplicate of line 2"), "{text}");

    // Line 3 has one field too few.
    let short_row = good(1).rsplit_once(',').unwrap().0.to_owned();
    let (p, text) = refused(import(
        store,
        &keys,
        &MemSource::new("columns.csv", file(vec![good(0), short_row, good(2)])),
    ));
    assert_eq!(p, [(3, None)], "{text}");
    assert!(text.contains("12 fields, the header names 13"), "{text}");

    // Line 3 is not UTF-8.
    let mut bytes = file(vec![good(0)]);
    bytes.extend_from_slice(b"8988\xFF\xFE,x\n");
    bytes.extend_from_slice(format!("{}\n", good(2)).as_bytes());
    let (p, text) = refused(import(store, &keys, &MemSource::new("latin1.csv", bytes)));
    assert_eq!(p, [(3, None)], "{text}");
    assert!(text.contains("UTF-8"), "{text}");

    // An empty file, and a header without rows.
    let (p, text) = refused(import(
        store,
        &keys,
        &MemSource::new("empty.csv", Vec::new()),
    ));
    assert_eq!(p.len(), 1, "{text}");
    let (p, text) = refused(import(
        store,
        &keys,
        &MemSource::new("header.csv", file(vec![])),
    ));
    assert_eq!(p, [(0, None)], "{text}");
    assert!(text.contains("no card rows"), "{text}");

    // Every bad row of a file is listed, not only the first.
    let mut k_bad = good(6);
    k_bad = k_bad.replacen(&format!(",{:032X},", (3u128 << 64) | 6), ",XYZ,", 1);
    let (p, text) = refused(import(
        store,
        &keys,
        &MemSource::new(
            "many.csv",
            file(vec![good(4), k_bad, good(7), short_row_of(good(8))]),
        ),
    ));
    assert_eq!(p, [(3, Some("K".into())), (5, None)], "{text}");

    // Nothing of all that was stored.
    assert_eq!(available(store), 0);

    // Against the stock: rows 0..10 are imported; a file with rows 8..12 is refused naming lines 2 and 3
    // (their ICCIDs and their IMSIs are in stock).
    import(
        store,
        &keys,
        &MemSource::new("first.csv", csv_file(3, 0..10)),
    )
    .expect("import");
    let (p, text) = refused(import(
        store,
        &keys,
        &MemSource::new("again.csv", csv_file(3, 8..12)),
    ));
    assert_eq!(
        p,
        [
            (2, Some("ICCID".into())),
            (2, Some("IMSI".into())),
            (3, Some("ICCID".into())),
            (3, Some("IMSI".into()))
        ],
        "{text}"
    );
    assert!(text.contains("already in stock"), "{text}");
    // A file with a bad row AND rows in stock lists both kinds.
    let mut mixed = csv_file(3, 9..11);
    mixed.extend_from_slice(format!("{}\n", short_row_of(good(20))).as_bytes());
    let (p, text) = refused(import(store, &keys, &MemSource::new("mixed.csv", mixed)));
    assert_eq!(
        p,
        [
            (2, Some("ICCID".into())),
            (2, Some("IMSI".into())),
            (4, None)
        ],
        "{text}"
    );
    assert_eq!(available(store), 10);
});

fn short_row_of(r: String) -> String {
    r.rsplit_once(',').unwrap().0.to_owned()
}

both_backends!(unknown_profile_type_and_other_mno, 2, |db| {
    let store = &db.store;
    let keys = keyring();
    sample_type(store, MNO2, "usim-sample", 0);
    // MNO has no such profile type (MNO2's of the same name is not visible to it).
    match import(store, &keys, &MemSource::new("a.csv", csv_file(4, 0..3))) {
        Err(WarehouseError::UnknownProfileType { mno, name }) => {
            assert_eq!((mno.as_str(), name.as_str()), (MNO, "usim-sample"));
        }
        other => panic!("{other:?}"),
    }
});

both_backends!(
    imsis_in_stock_are_refused_and_every_problem_is_reported,
    2,
    |db| {
        let store = &db.store;
        let keys = keyring();
        sample_type(store, MNO, "usim-sample", 0);
        import(
            store,
            &keys,
            &MemSource::new("first.csv", csv_file(5, 0..200)),
        )
        .expect("import");
        // New ICCIDs, but IMSIs of records already in stock: every such row is named (before, only ICCIDs were
        // checked against the stock and this file was stocked).
        let imsi = |series: u32, i: u64| format!("00101{series:02}{i:08}");
        let mut text = format!("{HEADER}\n");
        for i in 0..150 {
            text.push_str(&row(6, i).replacen(&imsi(6, i), &imsi(5, i), 1));
            text.push('\n');
        }
        let reports = tempfile::tempdir().expect("tempdir");
        let options = import::ImportOptions {
            report_dir: Some(reports.path().to_path_buf()),
            ..Default::default()
        };
        let r = import::import_order_with(
            store,
            &keys,
            MNO,
            "usim-sample",
            &MemSource::new("imsis.csv", text.into_bytes()),
            BatchFormat::Csv,
            &options,
            &mut |_| {},
        );
        let Err(WarehouseError::Refused(e)) = r else {
            panic!("expected a refusal, got {r:?}")
        };
        assert_eq!(e.total_problems, 150, "{e}");
        assert_eq!(e.problems.len(), smdp::batch::MAX_DETAILED_PROBLEMS);
        assert!(
            e.problems
                .iter()
                .all(|p| p.column.as_deref() == Some("IMSI") && p.reason == "already in stock"),
            "{e}"
        );
        // The README promises every bad row: the report file lists all 150, and the refusal says where it is.
        let path = e.report.clone().expect("a report file");
        assert!(path.starts_with(reports.path()));
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
        let listed = std::fs::read_to_string(&path).expect("report");
        let lines: HashSet<String> = listed.lines().map(str::to_owned).collect();
        assert_eq!(lines.len(), 150);
        for line in 2..152 {
            assert!(
                lines.contains(&format!("line {line}, column IMSI: already in stock")),
                "line {line} missing from the report"
            );
        }
        assert_eq!(available(store), 200);
        // A short refusal writes no report.
        let mut one = format!("{HEADER}\n");
        one.push_str(&row(7, 0).replacen(&imsi(7, 0), &imsi(5, 3), 1));
        one.push('\n');
        let r = import::import_order_with(
            store,
            &keys,
            MNO,
            "usim-sample",
            &MemSource::new("one.csv", one.into_bytes()),
            BatchFormat::Csv,
            &options,
            &mut |_| {},
        );
        let Err(WarehouseError::Refused(e)) = r else {
            panic!("expected a refusal, got {r:?}")
        };
        assert_eq!(e.total_problems, 1);
        assert!(e.report.is_none());
    }
);
