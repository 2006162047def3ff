//! Master-key rotation support on both backends: every sealed column visited in batches, resumable.
mod common;

use common::sample_eis;
use eis_store::downloads::{self, DownloadUpdate, NewDownload};
use eis_store::eis::{self, SdRole};
use eis_store::rewrap::{self, Pending, RewrapCursor, SealedItem, SealedLocation};
use eis_store::warehouse::{self, NewProfileType, NewStockRecord};
use eis_store::{Sealed, StoreError};

const EIDS: [&str; 2] = [
    "89049032123451234512345678901235",
    "89049032123451234512345678901236",
];

/// Stand-in for re-encryption under the new key (the store never decrypts); a key-ring blob (download keys,
/// `v1:<key id>:<body>`) stays one, under the new key id.
fn rewrapped(old: &Sealed) -> Sealed {
    let blob = std::str::from_utf8(&old.ciphertext)
        .ok()
        .and_then(|t| t.strip_prefix("v1:master-1:"));
    let ciphertext = match blob {
        Some(body) => {
            format!("v1:master-2:{}", body.chars().rev().collect::<String>()).into_bytes()
        }
        None => old.ciphertext.iter().map(|b| b ^ 0x5A).collect(),
    };
    Sealed {
        key_id: "master-2".into(),
        ciphertext,
    }
}

/// Download keys of the setup, by download: under master-1, none (ended), master-1, already master-2.
const DOWNLOAD_KEYS: [Option<&str>; 4] = [
    Some("v1:master-1:AAAAbody1"),
    None,
    Some("v1:master-1:BBBBbody3"),
    Some("v1:master-2:CCCCbody4"),
];

fn setup(store: &eis_store::Store) {
    let mut c = store.conn().expect("conn");
    for (i, eid) in EIDS.iter().enumerate() {
        eis::register_eis(
            &mut c,
            &sample_eis(eid, &format!("898821100000000000{i}")),
            0,
        )
        .expect("eis");
    }
    let t = warehouse::create_profile_type(
        &mut c,
        &NewProfileType {
            mno_oid: "1.2.3".into(),
            name: "t".into(),
            template: vec![1],
            required_memory: 1,
            target_platform: "p".into(),
            low_stock_threshold: 0,
            pol2: None,
        },
        0,
    )
    .expect("type");
    let order = warehouse::create_order(&mut c, t, "o.csv", 0).expect("order");
    let recs: Vec<NewStockRecord> = (0..7)
        .map(|i| NewStockRecord {
            iccid: format!("89882119{i:011}"),
            imsi: "001010000000001".into(),
            msisdn: None,
            secrets: Sealed {
                key_id: "master-1".into(),
                ciphertext: vec![i as u8; 32],
            },
        })
        .collect();
    warehouse::insert_stock_chunk(&mut c, order, &recs, 0).expect("stock");
    for (i, keys) in DOWNLOAD_KEYS.iter().enumerate() {
        let id = downloads::create(
            &mut c,
            &NewDownload {
                es2_call_id: i as i64,
                mno_oid: "1.2.3",
                eid: EIDS[0],
                iccid: "8988211900000000001",
                phase: "Eligibility",
                step: 1,
                awaiting_message_id: None,
                deadline: 1,
                data: "{}",
            },
            0,
        )
        .expect("download");
        let update = DownloadUpdate {
            phase: "Loading",
            step: 2,
            awaiting_message_id: None,
            data: "{}",
            sealed_keys: *keys,
        };
        assert!(downloads::advance(&mut c, id, 1, &update, 0).expect("advance"));
    }
}

/// The download ids of the setup, in order.
fn download_ids(store: &eis_store::Store) -> Vec<i64> {
    let mut c = store.conn().expect("conn");
    let mut ids: Vec<i64> = (0..DOWNLOAD_KEYS.len() as i64)
        .map(|call| {
            downloads::by_call(&mut c, call)
                .expect("by call")
                .expect("download")
                .id
        })
        .collect();
    ids.sort();
    ids
}

/// Runs a rotation to `master-2` in batches of `batch`, stopping after `stop_after` batches (None: to the end).
fn rotate(store: &eis_store::Store, batch: u32, stop_after: Option<usize>) -> Vec<SealedItem> {
    let mut seen = Vec::new();
    let mut cursor = RewrapCursor::Start;
    let mut batches = 0;
    while cursor != RewrapCursor::Done && Some(batches) != stop_after {
        let b = store
            .tx(|c| rewrap::next_batch(c, &cursor, "master-2", batch))
            .expect("batch");
        store
            .tx(|c| {
                for item in &b.items {
                    assert!(rewrap::replace(
                        c,
                        &item.location,
                        &item.value,
                        &rewrapped(&item.value)
                    )?);
                }
                Ok::<(), StoreError>(())
            })
            .expect("replace");
        seen.extend(b.items);
        cursor = b.next;
        batches += 1;
    }
    seen
}

both_backends!(
    rotation_visits_every_sealed_value_once_and_resumes,
    2,
    |store| {
        setup(store);
        let mut c = store.conn().expect("conn");
        // Sample EIS: ISD-R key sets with 3 + 1 keys, one component each; ECASD has certificates only.
        // Downloads: two hold keys under master-1 (one holds none, one is under master-2 already).
        assert_eq!(
            rewrap::pending(&mut c, "master-2").expect("pending"),
            Pending {
                key_components: 8,
                stock: 7,
                download_keys: 2,
                webhook_secrets: 0,
            }
        );
        let before = eis::get_eis(&mut c, EIDS[0]).expect("get").expect("some");
        drop(c);

        // Interrupted after two batches of 3, then started again from the beginning: rows already rewrapped
        // are skipped, every value is rewrapped exactly once.
        let first = rotate(store, 3, Some(2));
        assert_eq!(first.len(), 6);
        let rest = rotate(store, 3, None);
        assert_eq!(first.len() + rest.len(), 17);
        let mut all: Vec<SealedLocation> = first
            .iter()
            .chain(&rest)
            .map(|i| i.location.clone())
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n, "a value was visited twice");
        assert!(
            first
                .iter()
                .chain(&rest)
                .all(|i| i.value.key_id == "master-1")
        );

        let mut c = store.conn().expect("conn");
        assert_eq!(
            rewrap::pending(&mut c, "master-2").expect("pending"),
            Pending::default()
        );
        assert!(rotate(store, 3, None).is_empty());
        let after = eis::get_eis(&mut c, EIDS[0]).expect("get").expect("some");
        let old = &before.isd_r.keysets[0].keys[0].components[0].value;
        let new = &after.isd_r.keysets[0].keys[0].components[0].value;
        assert_eq!(new, &rewrapped(old));
        let s = warehouse::get_stock(&mut c, "8988211900000000003")
            .expect("get")
            .expect("some");
        assert_eq!(
            s.secrets,
            Sealed {
                key_id: "master-2".into(),
                ciphertext: vec![3 ^ 0x5A; 32]
            }
        );

        let ids = download_ids(store);
        let keys_of = |c: &mut eis_store::AnyConnection, id: i64| {
            downloads::get(c, id)
                .expect("get")
                .expect("download")
                .sealed_keys
        };
        assert_eq!(
            keys_of(&mut c, ids[0]).as_deref(),
            Some("v1:master-2:1ydobAAAA")
        );
        assert_eq!(keys_of(&mut c, ids[1]), None);
        assert_eq!(
            keys_of(&mut c, ids[2]).as_deref(),
            Some("v1:master-2:3ydobBBBB")
        );
        assert_eq!(
            keys_of(&mut c, ids[3]).as_deref(),
            Some("v1:master-2:CCCCbody4")
        );

        // Compare-and-swap: a stale expected key id replaces nothing; a missing row is NotFound.
        let loc = SealedLocation::KeyComponent {
            eid: EIDS[0].into(),
            sd_role: SdRole::IsdR,
            keyset_version: 1,
            key_index: 1,
            position: 0,
        };
        assert!(
            !rewrap::replace(
                &mut c,
                &loc,
                &Sealed {
                    key_id: "master-1".into(),
                    ciphertext: vec![]
                },
                &Sealed {
                    key_id: "x".into(),
                    ciphertext: vec![]
                }
            )
            .expect("cas")
        );
        let gone = SealedLocation::StockSecrets { iccid: "0".into() };
        assert!(matches!(
            rewrap::replace(
                &mut c,
                &gone,
                &Sealed {
                    key_id: "master-2".into(),
                    ciphertext: vec![]
                },
                &Sealed {
                    key_id: "x".into(),
                    ciphertext: vec![]
                }
            ),
            Err(StoreError::NotFound { .. })
        ));
        // Download keys the SM-DP re-sealed after the scan read them (same key id, other blob) are left
        // alone: the rotation must not bring back the older keys.
        let stale = Sealed {
            key_id: "master-2".into(),
            ciphertext: b"v1:master-2:older".to_vec(),
        };
        let newer = Sealed {
            key_id: "master-3".into(),
            ciphertext: b"v1:master-3:x".to_vec(),
        };
        let at = SealedLocation::DownloadKeys { id: ids[0] };
        assert!(!rewrap::replace(&mut c, &at, &stale, &newer).expect("cas"));
        assert_eq!(
            keys_of(&mut c, ids[0]).as_deref(),
            Some("v1:master-2:1ydobAAAA")
        );
        // A blob under another key id than the one it is said to be under is refused.
        let current = Sealed {
            key_id: "master-2".into(),
            ciphertext: b"v1:master-2:1ydobAAAA".to_vec(),
        };
        let mislabelled = Sealed {
            key_id: "master-4".into(),
            ciphertext: b"v1:master-3:x".to_vec(),
        };
        assert!(rewrap::replace(&mut c, &at, &current, &mislabelled).is_err());
        assert!(matches!(
            rewrap::replace(
                &mut c,
                &SealedLocation::DownloadKeys { id: i64::MAX },
                &current,
                &newer
            ),
            Err(StoreError::NotFound { .. })
        ));
    }
);

both_backends!(batch_boundaries_do_not_lose_rows, 2, |store| {
    setup(store);
    for batch in [1, 2, 8, 15, 16, 17, 18, 100] {
        let mut cursor = RewrapCursor::Start;
        let mut count = 0;
        while cursor != RewrapCursor::Done {
            let b = store
                .tx(|c| rewrap::next_batch(c, &cursor, "master-9", batch))
                .expect("batch");
            assert!(b.items.len() <= batch as usize);
            count += b.items.len();
            cursor = b.next;
        }
        // 8 key components, 7 stock records, 3 downloads holding keys.
        assert_eq!(count, 18, "batch size {batch}");
    }
});
