//! Issue 10 item 4 (docs/architecture.md §8): an MNO importing ICCIDs another MNO stocks is refused without
//! being told that they are in stock, or whose they are; its own duplicates are named as such; the other MNO's
//! records stay as they were. On both backends.
mod common;

use common::*;
use eis_store::Store;
use smdp::batch::BatchFormat;
use smdp::warehouse::WarehouseError;
use smdp::warehouse::import::{self, ImportReport};
use smdp::warehouse::stock;

fn import_as(
    store: &Store,
    keys: &certs::secrets::MasterKeyring,
    mno: &str,
    name: &str,
    bytes: Vec<u8>,
) -> Result<ImportReport, WarehouseError> {
    import::import_order(
        store,
        keys,
        mno,
        "usim-sample",
        &MemSource::new(name, bytes),
        BatchFormat::Csv,
        &mut |_| {},
    )
}

/// (line, reason) of each problem of a refusal, and its text.
fn problems(r: Result<ImportReport, WarehouseError>) -> (Vec<(u64, String)>, String) {
    match r {
        Err(WarehouseError::Refused(e)) => (
            e.problems
                .iter()
                .map(|p| (p.line, p.reason.clone()))
                .collect(),
            e.to_string(),
        ),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn available(store: &Store, mno: &str) -> i64 {
    let mut c = store.conn().expect("conn");
    stock::levels(&mut c, mno)
        .expect("levels")
        .first()
        .map_or(0, |l| l.available)
}

both_backends!(second_mno_is_not_told_another_stocks_the_iccid, 2, |db| {
    let store = &db.store;
    let keys = keyring();
    sample_type(store, MNO, "usim-sample", 0);
    sample_type(store, MNO2, "usim-sample", 0);
    import_as(store, &keys, MNO, "mno1.csv", csv_file(5, 0..4)).expect("MNO 1 imports");

    // MNO 2 names rows 2 and 3 of MNO 1's order (lines 2 and 3 of its file) and two new ones.
    let (p, text) = problems(import_as(store, &keys, MNO2, "mno2.csv", csv_file(5, 2..6)));
    // The IMSIs of those rows are MNO 1's too: the same rule, the same words.
    let iccid = "this ICCID is not available for import".to_string();
    let imsi = "this IMSI is not available for import".to_string();
    assert_eq!(
        p,
        [
            (2, iccid.clone()),
            (2, imsi.clone()),
            (3, iccid.clone()),
            (3, imsi.clone())
        ],
        "{text}"
    );
    assert!(!text.contains("stock"), "{text}");
    assert!(!text.contains(MNO), "{text}");
    assert!(!text.contains("1.3.6.1.4.1.4242"), "{text}");

    // MNO 1's own duplicate is named as such.
    let (p, text) = problems(import_as(
        store,
        &keys,
        MNO,
        "mno1-again.csv",
        csv_file(5, 3..5),
    ));
    let own = "already in stock".to_string();
    assert_eq!(p, [(2, own.clone()), (2, own)], "{text}");

    // The stock is as before: MNO 1's four records, none for MNO 2 (all or nothing); MNO 2's ICCIDs that no
    // one holds are imported.
    assert_eq!(available(store, MNO), 4);
    assert_eq!(available(store, MNO2), 0);
    let r = import_as(store, &keys, MNO2, "mno2-new.csv", csv_file(5, 4..6)).expect("new ICCIDs");
    assert_eq!(r.rows, 2);
    assert_eq!(available(store, MNO), 4);
    assert_eq!(available(store, MNO2), 2);
});
