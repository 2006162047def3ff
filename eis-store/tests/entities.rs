//! Entity registry on both backends.
mod common;

use std::collections::{BTreeMap, BTreeSet};

use eis_store::entities::{self, Entity, EntityRole};
use eis_store::{RecordKind, StoreError};

fn mno(oid: &str, fps: &[[u8; 32]]) -> Entity {
    Entity {
        oid: oid.into(),
        role: EntityRole::Mno,
        name: format!("MNO {oid}"),
        endpoints: BTreeMap::from([
            ("ES2".to_string(), format!("https://{oid}.example/es2")),
            ("ES4".to_string(), format!("https://{oid}.example/es4")),
        ]),
        allowed_interfaces: BTreeSet::from(["ES2".to_string(), "ES4".to_string()]),
        gp_certificate: Some(vec![0x7F, 0x21, 0x01, 0x00]),
        fingerprints: fps.iter().copied().collect(),
    }
}

both_backends!(crud_and_fingerprint_lookup, 4, |store| {
    let mut c = store.conn().expect("conn");
    let a = mno("1.3.6.1.4.1.1", &[[1; 32], [2; 32]]);
    let b = Entity {
        role: EntityRole::SmDp,
        gp_certificate: None,
        ..mno("1.3.6.1.4.1.2", &[[3; 32]])
    };
    entities::create_entity(&mut c, &a, 1).expect("create a");
    entities::create_entity(&mut c, &b, 1).expect("create b");

    assert_eq!(
        entities::get_entity(&mut c, &a.oid).expect("get"),
        Some(a.clone())
    );
    assert_eq!(
        entities::find_by_fingerprint(&mut c, &[2; 32]).expect("fp"),
        Some(a.clone())
    );
    assert_eq!(
        entities::find_by_fingerprint(&mut c, &[3; 32]).expect("fp"),
        Some(b.clone())
    );
    assert_eq!(
        entities::find_by_fingerprint(&mut c, &[9; 32]).expect("fp"),
        None
    );
    assert_eq!(
        entities::list_entities(&mut c, None).expect("list"),
        vec![a.clone(), b.clone()]
    );
    assert_eq!(
        entities::list_entities(&mut c, Some(EntityRole::SmDp)).expect("list"),
        vec![b.clone()]
    );

    // Duplicate OID, and a fingerprint owned by another entity: refused, nothing changed.
    let dup = entities::create_entity(&mut c, &mno(&a.oid, &[]), 2);
    assert!(
        matches!(
            dup,
            Err(StoreError::AlreadyExists {
                kind: RecordKind::Entity,
                ..
            })
        ),
        "{dup:?}"
    );
    let stolen = entities::create_entity(&mut c, &mno("1.3.6.1.4.1.3", &[[1; 32]]), 2);
    assert!(
        matches!(
            stolen,
            Err(StoreError::AlreadyExists {
                kind: RecordKind::Fingerprint,
                ..
            })
        ),
        "{stolen:?}"
    );
    assert_eq!(
        entities::get_entity(&mut c, "1.3.6.1.4.1.3").expect("get"),
        None
    );

    // Update replaces the fingerprint set; rollover add/remove.
    let mut a2 = a.clone();
    a2.name = "renamed".into();
    a2.fingerprints = BTreeSet::from([[4; 32]]);
    entities::update_entity(&mut c, &a2, 3).expect("update");
    assert_eq!(
        entities::find_by_fingerprint(&mut c, &[1; 32]).expect("fp"),
        None
    );
    assert_eq!(
        entities::find_by_fingerprint(&mut c, &[4; 32]).expect("fp"),
        Some(a2.clone())
    );
    entities::add_fingerprint(&mut c, &a2.oid, &[5; 32]).expect("add");
    entities::remove_fingerprint(&mut c, &[4; 32]).expect("remove");
    let got = entities::get_entity(&mut c, &a2.oid)
        .expect("get")
        .expect("some");
    assert_eq!(got.fingerprints, BTreeSet::from([[5; 32]]));
    assert!(matches!(
        entities::add_fingerprint(&mut c, "nope", &[6; 32]),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        entities::update_entity(&mut c, &mno("nope", &[]), 4),
        Err(StoreError::NotFound { .. })
    ));

    entities::delete_entity(&mut c, &a2.oid).expect("delete");
    assert_eq!(
        entities::find_by_fingerprint(&mut c, &[5; 32]).expect("fp"),
        None
    );
    assert!(matches!(
        entities::delete_entity(&mut c, &a2.oid),
        Err(StoreError::NotFound { .. })
    ));
});

both_backends!(
    duplicate_fingerprint_inside_caller_tx_keeps_tx_usable,
    2,
    |store| {
        let r: Result<(), StoreError> = store.tx(|c| {
            entities::create_entity(c, &mno("1.1", &[[1; 32]]), 1)?;
            let dup = entities::create_entity(c, &mno("1.2", &[[1; 32]]), 1);
            assert!(matches!(dup, Err(StoreError::AlreadyExists { .. })));
            // The transaction is still usable after the failed savepoint (PostgreSQL would abort otherwise).
            entities::create_entity(c, &mno("1.3", &[[3; 32]]), 1)?;
            Ok(())
        });
        r.expect("tx");
        let mut c = store.conn().expect("conn");
        let oids: Vec<String> = entities::list_entities(&mut c, None)
            .expect("list")
            .into_iter()
            .map(|e| e.oid)
            .collect();
        assert_eq!(oids, vec!["1.1".to_string(), "1.3".to_string()]);
    }
);
