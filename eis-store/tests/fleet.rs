//! The owners' operations (ESM2M) on both backends: fleet operations with their targets in order, starts,
//! refusals changing the counts kept in the fleet row, ends recorded apart and applied once by a fold (then the
//! counts equal a recount of the targets), completion, cancel moving only pending targets, paging by state,
//! operation results, and idempotent answers per owner.
mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::sample_eis;
use eis_store::entities::{self, Entity, EntityRole};
use eis_store::fleet::{
    self, Counts, FleetState, IdempotentAnswer, NewFleet, OpResult, TargetState,
};
use eis_store::operations::{self, NewOperation};
use eis_store::{eis, owners};

const A: &str = "1.3.6.1.4.1.4242.91.1";
const B: &str = "1.3.6.1.4.1.4242.91.2";

fn eid(i: usize) -> String {
    format!("8904903200000000000000000001{i:04}")
}

fn owner(oid: &str) -> Entity {
    Entity {
        oid: oid.into(),
        role: EntityRole::EuiccOwner,
        name: format!("owner {oid}"),
        endpoints: BTreeMap::new(),
        allowed_interfaces: BTreeSet::new(),
        gp_certificate: None,
        fingerprints: BTreeSet::new(),
    }
}

fn result(status: &str) -> OpResult {
    OpResult {
        status: status.into(),
        subject_code: (status != "EXECUTED_SUCCESS").then(|| "8.2.1".to_string()),
        reason_code: (status != "EXECUTED_SUCCESS").then(|| "3.8".to_string()),
        message: None,
    }
}

/// Applies the recorded target ends of fleet `id` as the worker does (the row locked): how many.
fn fold(store: &eis_store::Store, id: i64, now: i64) -> i64 {
    store
        .tx(|c| {
            let mut f = fleet::lock_fleet(c, id)?.expect("fleet");
            fleet::fold_ends(c, &mut f, now)
        })
        .expect("fold")
}

fn new_fleet(owner: &str) -> NewFleet {
    NewFleet {
        owner_oid: owner.into(),
        action: "enable".into(),
        profile_mno: Some("1.2.3".into()),
        selector: r#"{"eids":5}"#.into(),
        rate_per_second: 10,
        max_in_flight: 2,
        valid_until: 1_000_000,
    }
}

both_backends!(fleet_targets_counts_and_idempotency, 2, |store| {
    let mut c = store.conn().expect("conn");
    for o in [A, B] {
        entities::create_entity(&mut c, &owner(o), 1).expect("owner");
    }
    let eids: Vec<String> = (0..5).map(eid).collect();
    for (i, e) in eids.iter().enumerate() {
        eis::register_eis(
            &mut c,
            &sample_eis(e, &format!("89490000000000001{i:02}")),
            1,
        )
        .expect("register");
    }
    store
        .tx(|c| owners::assign_euiccs(c, A, &eids, 2))
        .expect("assign");

    // Targets in the order given, all pending; the fleet row holds the counts.
    let f = store
        .tx(|c| fleet::create_fleet(c, &new_fleet(A), &eids, 10))
        .expect("create");
    assert_eq!((f.state, f.total), (FleetState::Running, 5));
    assert_eq!(
        f.counts,
        Counts {
            pending: 5,
            ..Counts::default()
        }
    );
    assert_eq!(f.next_start_us, 10_000);
    assert_eq!(fleet::running_fleets(&mut c).expect("running"), vec![f.id]);
    let pending = fleet::pending_targets(&mut c, f.id, 3).expect("pending");
    assert_eq!(
        pending,
        vec![
            (1, eids[0].clone()),
            (2, eids[1].clone()),
            (3, eids[2].clone())
        ]
    );
    // A fleet of an entity that is no owner is refused.
    assert!(
        store
            .tx(|c| fleet::create_fleet(c, &new_fleet("1.2.3.4.5"), &eids, 10))
            .is_err()
    );

    // Start two (one refused), as the worker does: targets and counts in one transaction.
    let op = |eid: &str| NewOperation {
        eid: eid.into(),
        kind: "EnableProfile".into(),
        function_call_id: None,
        requester_oid: A.into(),
        interface: "ESM2M".into(),
        iccid: Some("8949000000000000100".into()),
        isd_p_aid: None,
        deadline: 1_000_000,
        data: "{}".into(),
    };
    let (op1, op2) = store
        .tx(|c| {
            let mut f = fleet::lock_fleet(c, f.id)?.expect("fleet");
            let op1 = operations::create(c, &op(&eids[0]), 20)?;
            fleet::mark_started(c, f.id, 1, op1.id, Some("8949000000000000100"), 20)?;
            let op2 = operations::create(c, &op(&eids[1]), 20)?;
            fleet::mark_started(c, f.id, 2, op2.id, None, 20)?;
            fleet::mark_refused(c, f.id, 3, None, &result("Failed"), 20)?;
            f.counts.add(TargetState::Pending, -3);
            f.counts.add(TargetState::Running, 2);
            f.counts.add(TargetState::Failed, 1);
            f.next_start_us = 20_500;
            fleet::save_fleet(c, &f, 20)?;
            Ok::<_, eis_store::StoreError>((op1, op2))
        })
        .expect("start");
    let now = fleet::get_fleet(&mut c, f.id).expect("get").expect("fleet");
    assert_eq!(now.counts, fleet::recount(&mut c, f.id).expect("recount"));
    assert_eq!((now.counts.running, now.counts.failed), (2, 1));
    assert_eq!(now.next_start_us, 20_500);
    let mut open = vec![eids[0].clone(), eids[1].clone()];
    open.sort();
    assert_eq!(
        operations::with_open_among(&mut c, &[eids[2].clone(), eids[1].clone(), eids[0].clone()])
            .expect("open"),
        open
    );

    // An operation ends: its target changes once, a repeat changes nothing; the fleet row waits for the fold.
    let ended = store
        .tx(|c| {
            fleet::target_finished(
                c,
                op1.id,
                TargetState::Succeeded,
                &result("EXECUTED_SUCCESS"),
                30,
            )
        })
        .expect("finished");
    assert_eq!(ended, Some(f.id));
    let again = store
        .tx(|c| fleet::target_finished(c, op1.id, TargetState::Failed, &result("Failed"), 31))
        .expect("finished");
    assert_eq!(again, None);
    assert_eq!(
        store
            .tx(|c| fleet::target_finished(
                c,
                op1.id + 1000,
                TargetState::Failed,
                &result("Failed"),
                31
            ))
            .expect("no such"),
        None
    );
    assert_eq!(
        fleet::get_fleet(&mut c, f.id)
            .expect("get")
            .expect("fleet")
            .counts
            .running,
        2,
        "not counted before the fold"
    );
    assert_eq!(fleet::fleets_with_ends(&mut c).expect("ends"), vec![f.id]);
    assert_eq!(fold(store, f.id, 32), 1);
    assert_eq!(fold(store, f.id, 33), 0, "each end counts once");
    assert!(fleet::fleets_with_ends(&mut c).expect("ends").is_empty());
    let now = fleet::get_fleet(&mut c, f.id).expect("get").expect("fleet");
    assert_eq!(
        now.counts,
        Counts {
            pending: 2,
            running: 1,
            succeeded: 1,
            failed: 1,
            ..Counts::default()
        }
    );
    assert_eq!(now.counts, fleet::recount(&mut c, f.id).expect("recount"));

    // Paging by state and position.
    let all = fleet::targets_page(&mut c, f.id, None, 0, 10).expect("page");
    assert_eq!(
        all.iter().map(|t| t.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(all[0].operation_id, Some(op1.id));
    assert_eq!(all[0].iccid.as_deref(), Some("8949000000000000100"));
    assert_eq!(all[0].result, Some(result("EXECUTED_SUCCESS")));
    assert_eq!(
        (all[0].started_at, all[0].finished_at),
        (Some(20), Some(30))
    );
    assert_eq!(all[2].result, Some(result("Failed")));
    let after = fleet::targets_page(&mut c, f.id, None, 2, 2).expect("page");
    assert_eq!(after.iter().map(|t| t.seq).collect::<Vec<_>>(), vec![3, 4]);
    let pending =
        fleet::targets_page(&mut c, f.id, Some(TargetState::Pending), 0, 10).expect("page");
    assert_eq!(
        pending.iter().map(|t| t.seq).collect::<Vec<_>>(),
        vec![4, 5]
    );

    // Pause, then cancel: only the pending targets are cancelled; the running one still ends and counts.
    let paused = store
        .tx(|c| {
            fleet::change_state(
                c,
                f.id,
                &[FleetState::Running],
                FleetState::Paused,
                None,
                40,
            )
        })
        .expect("pause")
        .expect("changed");
    assert_eq!(paused.state, FleetState::Paused);
    assert!(fleet::running_fleets(&mut c).expect("running").is_empty());
    assert_eq!(fleet::paused_fleets(&mut c).expect("paused"), vec![f.id]);
    assert!(
        store
            .tx(|c| fleet::change_state(
                c,
                f.id,
                &[FleetState::Running],
                FleetState::Paused,
                None,
                41
            ))
            .expect("not from paused")
            .is_none()
    );
    let cancelled = store
        .tx(|c| {
            fleet::change_state(
                c,
                f.id,
                &[FleetState::Running, FleetState::Paused],
                FleetState::Cancelled,
                Some(TargetState::Cancelled),
                50,
            )
        })
        .expect("cancel")
        .expect("changed");
    assert_eq!(
        (
            cancelled.counts.pending,
            cancelled.counts.cancelled,
            cancelled.counts.running
        ),
        (0, 2, 1)
    );
    store
        .tx(|c| fleet::target_finished(c, op2.id, TargetState::Failed, &result("Expired"), 60))
        .expect("finished");
    assert_eq!(fold(store, f.id, 61), 1);
    let end = fleet::get_fleet(&mut c, f.id).expect("get").expect("fleet");
    assert_eq!(
        end.state,
        FleetState::Cancelled,
        "a cancelled fleet stays cancelled"
    );
    assert_eq!(end.counts, fleet::recount(&mut c, f.id).expect("recount"));
    assert_eq!((end.counts.running, end.counts.failed), (0, 2));

    // A running fleet whose last target ends completes.
    let g = store
        .tx(|c| fleet::create_fleet(c, &new_fleet(A), &eids[..1], 70))
        .expect("create");
    let op3 = store
        .tx(|c| {
            let mut g = fleet::lock_fleet(c, g.id)?.expect("fleet");
            let o = operations::create(c, &op(&eids[0]), 71)?;
            fleet::mark_started(c, g.id, 1, o.id, None, 71)?;
            g.counts.add(TargetState::Pending, -1);
            g.counts.add(TargetState::Running, 1);
            fleet::save_fleet(c, &g, 71)?;
            Ok::<_, eis_store::StoreError>(o)
        })
        .expect("start");
    store
        .tx(|c| {
            fleet::target_finished(
                c,
                op3.id,
                TargetState::Succeeded,
                &result("EXECUTED_SUCCESS"),
                80,
            )
        })
        .expect("finished");
    assert_eq!(
        fleet::get_fleet(&mut c, g.id)
            .expect("get")
            .expect("fleet")
            .state,
        FleetState::Running
    );
    assert_eq!(fold(store, g.id, 81), 1);
    let g = fleet::get_fleet(&mut c, g.id).expect("get").expect("fleet");
    assert_eq!(g.state, FleetState::Completed);
    assert_eq!(
        fleet::fleets_of(&mut c, A, None, 10)
            .expect("list")
            .iter()
            .map(|x| x.id)
            .collect::<Vec<_>>(),
        vec![g.id, f.id]
    );
    assert_eq!(
        fleet::fleets_of(&mut c, A, Some(g.id), 10)
            .expect("list")
            .len(),
        1
    );
    assert!(
        fleet::fleets_of(&mut c, B, None, 10)
            .expect("list")
            .is_empty()
    );

    // Operation results: kept once.
    fleet::record_result(&mut c, op1.id, &result("EXECUTED_SUCCESS"), 90).expect("record");
    fleet::record_result(&mut c, op1.id, &result("Failed"), 91).expect("second ignored");
    assert_eq!(
        fleet::result_of(&mut c, op1.id).expect("result"),
        Some((result("EXECUTED_SUCCESS"), 90))
    );
    assert_eq!(fleet::result_of(&mut c, op2.id).expect("result"), None);

    // Idempotent answers: per owner and key.
    let answer = IdempotentAnswer {
        request_hash: vec![1; 32],
        status: 202,
        body: r#"{"id":1}"#.into(),
    };
    assert!(
        fleet::record_idempotent_answer(&mut c, A, "k-1", &answer).is_err(),
        "an answer needs a claim"
    );
    assert!(fleet::claim_idempotency_key(&mut c, A, "k-1", &[1; 32], 100).expect("claim"));
    assert!(!fleet::claim_idempotency_key(&mut c, A, "k-1", &[2; 32], 101).expect("claim"));
    assert_eq!(
        fleet::idempotent_answer(&mut c, A, "k-1")
            .expect("get")
            .map(|a| a.status),
        Some(0),
        "claimed, not answered"
    );
    fleet::record_idempotent_answer(&mut c, A, "k-1", &answer).expect("record");
    assert_eq!(
        fleet::idempotent_answer(&mut c, A, "k-1").expect("get"),
        Some(answer.clone())
    );
    assert_eq!(
        fleet::idempotent_answer(&mut c, B, "k-1").expect("get"),
        None
    );
    assert!(fleet::claim_idempotency_key(&mut c, B, "k-1", &[1; 32], 100).expect("other owner"));
    fleet::release_idempotency_key(&mut c, B, "k-1").expect("release");
    assert_eq!(
        fleet::idempotent_answer(&mut c, B, "k-1").expect("get"),
        None
    );
    assert!(fleet::claim_idempotency_key(&mut c, B, "k-1", &[1; 32], 102).expect("free again"));

    // Deleting an EIS removes its operations and their results.
    eis::delete_eis(&mut c, &eids[0]).expect("delete");
    assert_eq!(fleet::result_of(&mut c, op1.id).expect("result"), None);
});
