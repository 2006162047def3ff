//! eUICC owners (ESM2M) on both backends: all-or-nothing assignment with its counts, owner role checks, token
//! lookup by hash, last use, revocation, and the owner's eUICCs with the enabled-MNO filter.
mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::sample_eis;
use eis_store::entities::{self, Entity, EntityRole};
use eis_store::{RecordKind, StoreError, eis, owners};

fn entity(oid: &str, role: EntityRole) -> Entity {
    Entity {
        oid: oid.into(),
        role,
        name: format!("entity {oid}"),
        endpoints: BTreeMap::new(),
        allowed_interfaces: BTreeSet::new(),
        gp_certificate: None,
        fingerprints: BTreeSet::new(),
    }
}

const A: &str = "1.3.6.1.4.1.4242.90.1";
const B: &str = "1.3.6.1.4.1.4242.90.2";
const MNO: &str = "1.3.6.1.4.1.4242.90.3";

fn eid(i: usize) -> String {
    format!("8904903200000000000000000000{i:04}")
}

both_backends!(assignment_tokens_and_views, 2, |store| {
    let mut c = store.conn().expect("conn");
    for (oid, role) in [
        (A, EntityRole::EuiccOwner),
        (B, EntityRole::EuiccOwner),
        (MNO, EntityRole::Mno),
    ] {
        entities::create_entity(&mut c, &entity(oid, role), 1).expect("entity");
    }
    for i in 0..4 {
        let new = sample_eis(&eid(i), &format!("89490000000000000{i:02}"));
        eis::register_eis(&mut c, &new, 1_000).expect("register");
    }
    let first_three: Vec<String> = (0..3).map(eid).collect();

    // Unknown EIDs: all listed, nothing written.
    let mut with_unknown = first_three.clone();
    with_unknown.push(eid(98));
    with_unknown.push(eid(99));
    let out = store
        .tx(|c| owners::assign_euiccs(c, A, &with_unknown, 5))
        .expect("assign");
    assert_eq!(out.unknown, vec![eid(98), eid(99)]);
    assert_eq!(owners::owner_of(&mut c, &eid(0)).expect("owner"), None);

    let out = store
        .tx(|c| owners::assign_euiccs(c, A, &first_three, 5))
        .expect("assign");
    assert_eq!((out.assigned, out.moved, out.unchanged), (3, 0, 0));
    let out = store
        .tx(|c| owners::assign_euiccs(c, B, &[eid(2), eid(3), eid(3)], 6))
        .expect("assign");
    assert_eq!((out.assigned, out.moved, out.unchanged), (1, 1, 0));
    let out = store
        .tx(|c| owners::assign_euiccs(c, B, &[eid(3)], 7))
        .expect("assign");
    assert_eq!((out.assigned, out.moved, out.unchanged), (0, 0, 1));
    assert_eq!(
        owners::owner_of(&mut c, &eid(2)).expect("owner").as_deref(),
        Some(B)
    );

    // Owners of several eUICCs at once: those that have one, each with its own.
    assert_eq!(
        owners::owners_of(&mut c, &[&eid(0), &eid(2), &eid(3), &eid(99)]).expect("owners"),
        BTreeMap::from([
            (eid(0), A.to_string()),
            (eid(2), B.to_string()),
            (eid(3), B.to_string())
        ])
    );

    // What A may not hand over: B's eUICCs and unregistered ones, in order, duplicates once.
    assert_eq!(
        owners::not_owned_by(&mut c, A, &[eid(3), eid(0), eid(99), eid(1), eid(3)]).expect("owned"),
        vec![eid(3), eid(99)]
    );
    assert!(
        owners::not_owned_by(&mut c, A, &[eid(1), eid(0)])
            .expect("owned")
            .is_empty()
    );

    // Only eUICC owners.
    let refused = store.tx(|c| owners::assign_euiccs(c, MNO, &first_three, 8));
    assert!(
        matches!(refused, Err(StoreError::InvalidArgument { .. })),
        "{refused:?}"
    );
    let refused = store.tx(|c| owners::assign_euiccs(c, "1.2.3", &first_three, 8));
    assert!(
        matches!(
            refused,
            Err(StoreError::NotFound {
                kind: RecordKind::Entity,
                ..
            })
        ),
        "{refused:?}"
    );
    assert!(owners::create_token(&mut c, MNO, &[9; 32], "read", 100, 1).is_err());

    // The owner's eUICCs, paged and filtered.
    assert_eq!(
        owners::owned_eids(&mut c, A, None, 10, None).expect("eids"),
        vec![eid(0), eid(1)]
    );
    assert_eq!(
        owners::owned_eids(&mut c, A, Some(&eid(0)), 10, None).expect("eids"),
        vec![eid(1)]
    );
    assert_eq!(
        owners::owned_eids(&mut c, B, None, 1, None).expect("eids"),
        vec![eid(2)]
    );
    let cards = owners::owned_euiccs(&mut c, &[eid(1), eid(0), eid(99)]).expect("cards");
    assert_eq!(
        cards.iter().map(|e| e.eid.clone()).collect::<Vec<_>>(),
        vec![eid(1), eid(0)]
    );
    // Every sample EIS has one Enabled profile of MNO 1.3.6.1.4.1.4242.
    assert_eq!(cards[0].profiles.len(), 1);
    assert_eq!(cards[0].profiles[0].state, eis::ProfileState::Enabled);
    assert_eq!(
        owners::owned_eids(&mut c, A, None, 10, Some("1.3.6.1.4.1.4242")).expect("eids"),
        vec![eid(0), eid(1)]
    );
    let filtered = owners::owned_eids(&mut c, A, None, 10, Some("no.such.mno")).expect("eids");
    assert!(filtered.is_empty());

    // Tokens by hash; last use; revocation keeps its first time.
    let id = owners::create_token(&mut c, A, &[7; 32], "read,operate", 1_000, 10).expect("token");
    let t = owners::token_by_hash(&mut c, &[7; 32])
        .expect("lookup")
        .expect("found");
    assert_eq!(
        (t.id, t.owner_oid.as_str(), t.scopes.as_str(), t.expires_at),
        (id, A, "read,operate", 1_000)
    );
    assert_eq!((t.last_used_at, t.revoked_at), (None, None));
    assert_eq!(
        owners::token_by_hash(&mut c, &[8; 32]).expect("lookup"),
        None
    );
    owners::touch_token(&mut c, id, 20).expect("touch");
    assert_eq!(
        owners::revoke_token(&mut c, id, 30)
            .expect("revoke")
            .revoked_at,
        Some(30)
    );
    assert_eq!(
        owners::revoke_token(&mut c, id, 40)
            .expect("revoke")
            .revoked_at,
        Some(30)
    );
    let listed = owners::list_tokens(&mut c, A).expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_used_at, Some(20));
    assert!(owners::list_tokens(&mut c, B).expect("list").is_empty());
    assert!(matches!(
        owners::revoke_token(&mut c, id + 100, 50),
        Err(StoreError::NotFound {
            kind: RecordKind::OwnerToken,
            ..
        })
    ));
    // The same hash twice is refused (unique).
    assert!(owners::create_token(&mut c, B, &[7; 32], "read", 1_000, 10).is_err());

    // Deleting the EIS drops its assignment.
    eis::delete_eis(&mut c, &eid(0)).expect("delete");
    assert_eq!(
        owners::owned_eids(&mut c, A, None, 10, None).expect("eids"),
        vec![eid(1)]
    );
});
