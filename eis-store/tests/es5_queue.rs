//! ES5 command queue and SCP80 counters on both backends (SGP.02 §5.6, ETSI TS 102 225 §5.1.1.1).
mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier, Mutex};

use common::sample_eis;
use eis_store::eis::{self, Keyset, SCP80_COUNTER_MAX, SdRole};
use eis_store::es5_queue::{self, Delivery, Es5State, NewEs5Command};
use eis_store::{RecordKind, StoreError};

const EID: &str = "89049032123451234512345678901235";
const EID2: &str = "89049032123451234512345678901236";

fn setup(store: &eis_store::Store) {
    let mut c = store.conn().expect("conn");
    eis::register_eis(&mut c, &sample_eis(EID, "8988211000000000001"), 0).expect("eis 1");
    eis::register_eis(&mut c, &sample_eis(EID2, "8988211000000000002"), 0).expect("eis 2");
}

fn cmd(eid: &str, op: &str, byte: u8, deadline: i64) -> NewEs5Command {
    NewEs5Command {
        eid: eid.into(),
        operation_ref: op.into(),
        payload: vec![0x80, 0xE6, byte],
        deadline,
        urgent: false,
    }
}

fn next(d: Delivery) -> eis_store::es5_queue::Es5Command {
    match d {
        Delivery::Next(c) => c,
        other => panic!("expected Next, got {other:?}"),
    }
}

both_backends!(in_order_one_in_flight_per_euicc, 2, |store| {
    setup(store);
    let mut c = store.conn().expect("conn");
    let a = es5_queue::enqueue(&mut c, &cmd(EID, "op-1", 1, 10_000), 1).expect("a");
    let b = es5_queue::enqueue(&mut c, &cmd(EID, "op-1", 2, 10_000), 2).expect("b");
    let x = es5_queue::enqueue(&mut c, &cmd(EID2, "op-2", 9, 10_000), 3).expect("x");
    let d = es5_queue::enqueue(&mut c, &cmd(EID, "op-3", 3, 10_000), 4).expect("d");
    assert_eq!((a.seq, b.seq, d.seq, x.seq), (1, 2, 3, 1));
    assert_eq!(
        (a.state, a.attempts, a.payload.clone()),
        (Es5State::Queued, 0, vec![0x80, 0xE6, 1])
    );
    assert_eq!(
        es5_queue::eids_ready_for_delivery(&mut c, 5, 10, None).expect("ready"),
        vec![EID.to_string(), EID2.to_string()]
    );
    // Round robin: a round starts after the last EID of the previous one and wraps around.
    assert_eq!(
        es5_queue::eids_ready_for_delivery(&mut c, 5, 1, Some(EID)).expect("ready"),
        vec![EID2.to_string()]
    );
    assert_eq!(
        es5_queue::eids_ready_for_delivery(&mut c, 5, 10, Some(EID)).expect("ready"),
        vec![EID2.to_string(), EID.to_string()]
    );

    let first = next(es5_queue::take_next_for_delivery(&mut c, EID, 5).expect("take"));
    assert_eq!((first.id, first.state), (a.id, Es5State::InFlight));
    // Refused while one is in flight for this ISD-R; the other eUICC is independent.
    assert_eq!(
        es5_queue::take_next_for_delivery(&mut c, EID, 6).expect("take"),
        Delivery::Busy(first.clone())
    );
    assert_eq!(
        es5_queue::eids_ready_for_delivery(&mut c, 6, 10, None).expect("ready"),
        vec![EID2.to_string()]
    );
    assert_eq!(
        next(es5_queue::take_next_for_delivery(&mut c, EID2, 6).expect("take")).id,
        x.id
    );

    es5_queue::record_attempt(&mut c, a.id, Some((1, 6)), 7).expect("attempt");
    es5_queue::record_attempt(&mut c, a.id, Some((1, 7)), 8).expect("attempt");
    es5_queue::mark_done(&mut c, a.id, Some(&[0x90, 0x00]), 9).expect("done");
    let done = es5_queue::get_command(&mut c, a.id)
        .expect("get")
        .expect("some");
    assert_eq!(
        (done.state, done.attempts, done.scp80, done.response),
        (Es5State::Done, 2, Some((1, 7)), Some(vec![0x90, 0x00]))
    );
    assert!(matches!(
        es5_queue::mark_done(&mut c, a.id, None, 10),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        es5_queue::record_attempt(&mut c, b.id, None, 10),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        es5_queue::mark_failed(&mut c, 999_999, "x", 10),
        Err(StoreError::NotFound { .. })
    ));

    let second = next(es5_queue::take_next_for_delivery(&mut c, EID, 10).expect("take"));
    assert_eq!(second.id, b.id);
    es5_queue::mark_failed(&mut c, b.id, "PoR status 0x0A", 11).expect("failed");
    let third = next(es5_queue::take_next_for_delivery(&mut c, EID, 12).expect("take"));
    assert_eq!(third.id, d.id);
    es5_queue::mark_expired(&mut c, d.id, 13).expect("expired");
    assert_eq!(
        es5_queue::take_next_for_delivery(&mut c, EID, 14).expect("take"),
        Delivery::Empty
    );
    let states: Vec<_> = es5_queue::commands_of(&mut c, EID)
        .expect("list")
        .iter()
        .map(|c| c.state)
        .collect();
    assert_eq!(
        states,
        vec![Es5State::Done, Es5State::Failed, Es5State::Expired]
    );
    assert!(matches!(
        es5_queue::enqueue(&mut c, &cmd("0000", "op", 1, 1), 1),
        Err(StoreError::NotFound {
            kind: RecordKind::Eis,
            ..
        })
    ));
    assert!(matches!(
        es5_queue::take_next_for_delivery(&mut c, "0000", 1),
        Err(StoreError::NotFound {
            kind: RecordKind::Eis,
            ..
        })
    ));
});

// A notification's confirmation (urgent) goes before the commands queued ahead of it, on its eUICC and across
// eUICCs, even when more eUICCs are ready than one round takes.
both_backends!(urgent_commands_first, 2, |store| {
    setup(store);
    let mut c = store.conn().expect("conn");
    let a = es5_queue::enqueue(&mut c, &cmd(EID, "op-1", 1, 10_000), 1).expect("a");
    let b = es5_queue::enqueue(&mut c, &cmd(EID, "op-2", 2, 10_000), 2).expect("b");
    let x = es5_queue::enqueue(&mut c, &cmd(EID2, "op-3", 3, 10_000), 3).expect("x");
    let confirm = NewEs5Command {
        urgent: true,
        ..cmd(EID2, "op-4", 4, 10_000)
    };
    let u = es5_queue::enqueue(&mut c, &confirm, 4).expect("u");
    assert!(u.urgent && !x.urgent);
    // One eUICC per round: the one with the urgent command, though EID sorts first.
    assert_eq!(
        es5_queue::eids_ready_for_delivery(&mut c, 5, 1, None).expect("ready"),
        vec![EID2.to_string()]
    );
    assert_eq!(
        es5_queue::eids_ready_for_delivery(&mut c, 5, 10, None).expect("ready"),
        vec![EID2.to_string(), EID.to_string()]
    );
    let first = next(es5_queue::take_next_for_delivery(&mut c, EID2, 5).expect("take"));
    assert_eq!(
        first.id, u.id,
        "the urgent command before the one queued ahead of it"
    );
    assert_eq!(
        es5_queue::next_queued(&mut c, EID2)
            .expect("next")
            .map(|n| n.id),
        Some(x.id)
    );
    // Round robin among the others: after EID2 comes EID (wrapping around), after EID comes EID2.
    assert_eq!(
        es5_queue::eids_ready_for_delivery(&mut c, 5, 1, Some(EID2)).expect("ready"),
        vec![EID.to_string()]
    );
    // Among the others, queue order.
    let first = next(es5_queue::take_next_for_delivery(&mut c, EID, 5).expect("take"));
    assert_eq!(first.id, a.id);
    assert_ne!(first.id, b.id);
});

both_backends!(deadlines_and_purge, 2, |store| {
    setup(store);
    let mut c = store.conn().expect("conn");
    let a = es5_queue::enqueue(&mut c, &cmd(EID, "op-1", 1, 100), 0).expect("a");
    let b = es5_queue::enqueue(&mut c, &cmd(EID, "op-2", 2, 1_000), 0).expect("b");
    // a's deadline passed: expired on the way, b comes next.
    assert_eq!(
        next(es5_queue::take_next_for_delivery(&mut c, EID, 101).expect("take")).id,
        b.id
    );
    let expired = es5_queue::get_command(&mut c, a.id)
        .expect("get")
        .expect("some");
    assert_eq!(
        (expired.state, expired.last_error.as_deref()),
        (Es5State::Expired, Some("deadline passed"))
    );
    // An in-flight command past its deadline is expired too, which frees the queue.
    let e = es5_queue::enqueue(&mut c, &cmd(EID, "op-2", 3, 5_000), 0).expect("e");
    assert_eq!(es5_queue::expire_overdue(&mut c, 1_001).expect("expire"), 1);
    assert_eq!(
        next(es5_queue::take_next_for_delivery(&mut c, EID, 1_002).expect("take")).id,
        e.id
    );

    // Purge keeps the in-flight command of the operation, deletes the others.
    let f = es5_queue::enqueue(&mut c, &cmd(EID, "op-2", 4, 5_000), 0).expect("f");
    assert_eq!(
        es5_queue::purge_operation(&mut c, "op-2").expect("purge"),
        2
    ); // b (expired) and f
    assert_eq!(es5_queue::get_command(&mut c, f.id).expect("get"), None);
    assert_eq!(
        es5_queue::get_command(&mut c, e.id)
            .expect("get")
            .expect("some")
            .state,
        Es5State::InFlight
    );
    assert_eq!(
        es5_queue::purge_operation(&mut c, "op-1").expect("purge"),
        1
    );

    // Deleting the EIS deletes its queue.
    eis::delete_eis(&mut c, EID).expect("delete");
    assert_eq!(es5_queue::get_command(&mut c, e.id).expect("get"), None);
});

both_backends!(concurrent_deliverers_get_one_command, 8, |store| {
    setup(store);
    {
        let mut c = store.conn().expect("conn");
        for i in 0..3 {
            es5_queue::enqueue(&mut c, &cmd(EID, "op", i, 10_000), 0).expect("enqueue");
        }
    }
    let n = 8;
    let barrier = Arc::new(Barrier::new(n));
    let out: Vec<Delivery> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..n)
            .map(|_| {
                let b = barrier.clone();
                s.spawn(move || {
                    b.wait();
                    store
                        .tx(|c| es5_queue::take_next_for_delivery(c, EID, 1))
                        .expect("take")
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("join")).collect()
    });
    let nexts = out
        .iter()
        .filter(|d| matches!(d, Delivery::Next(_)))
        .count();
    let busy = out
        .iter()
        .filter(|d| matches!(d, Delivery::Busy(_)))
        .count();
    assert_eq!((nexts, busy), (1, n - 1), "{out:?}");
});

both_backends!(scp80_counter_advances_in_caller_tx, 8, |store| {
    setup(store);
    let mut c = store.conn().expect("conn");
    // The sample ISD-R SCP80 key set 1 starts at 5.
    assert_eq!(
        es5_queue::advance_scp80_counter(&mut c, EID, 1).expect("advance"),
        6
    );
    assert_eq!(
        es5_queue::advance_scp80_counter(&mut c, EID, 1).expect("advance"),
        7
    );
    drop(c);

    // Counter advanced and SMS queued in one transaction that rolls back: neither happened.
    let r: Result<(), StoreError> = store.tx(|c| {
        let v = es5_queue::advance_scp80_counter(c, EID, 1)?;
        assert_eq!(v, 8);
        es5_queue::enqueue(c, &cmd(EID, "op", 1, 10_000), 0)?;
        Err(StoreError::Backend("SMSC refused".into()))
    });
    assert!(r.is_err());
    let mut c = store.conn().expect("conn");
    assert!(
        es5_queue::commands_of(&mut c, EID)
            .expect("list")
            .is_empty()
    );
    assert_eq!(
        eis::get_keyset(&mut c, EID, SdRole::IsdR, 1)
            .expect("ks")
            .expect("some")
            .cntr,
        7
    );
    assert_eq!(
        es5_queue::advance_scp80_counter(&mut c, EID, 1).expect("advance"),
        8
    );
    // The other eUICC's counter is its own.
    assert_eq!(
        es5_queue::advance_scp80_counter(&mut c, EID2, 1).expect("advance"),
        6
    );

    assert!(matches!(
        es5_queue::advance_scp80_counter(&mut c, EID, 9),
        Err(StoreError::NotFound {
            kind: RecordKind::Keyset,
            ..
        })
    ));
    let last = Keyset {
        version: 2,
        usage: Some("SCP80".into()),
        cntr: SCP80_COUNTER_MAX - 1,
        keys: vec![],
        certificates: vec![],
    };
    eis::put_keyset(&mut c, EID, SdRole::IsdR, &last).expect("put");
    assert_eq!(
        es5_queue::advance_scp80_counter(&mut c, EID, 2).expect("advance"),
        SCP80_COUNTER_MAX
    );
    assert!(matches!(
        es5_queue::advance_scp80_counter(&mut c, EID, 2),
        Err(StoreError::CounterExhausted {
            keyset_version: 2,
            ..
        })
    ));
    drop(c);

    // Concurrent advances never hand out the same value.
    let seen = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..8 {
            let seen = &seen;
            s.spawn(move || {
                for _ in 0..25 {
                    let v = store
                        .tx(|c| es5_queue::advance_scp80_counter(c, EID, 1))
                        .expect("advance");
                    seen.lock().expect("lock").push(v);
                }
            });
        }
    });
    let seen = seen.into_inner().expect("mutex");
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>().len(), 200);
    assert_eq!(seen.iter().copied().max(), Some(208));
});

// The ES5 queue of /metrics: queued and in-flight commands over all eUICCs, the oldest queued one's time;
// open operations by kind and state.
both_backends!(backlog_and_open_operations, 2, |store| {
    use eis_store::operations::{self, NewOperation, OperationState, OperationUpdate};
    setup(store);
    let mut c = store.conn().expect("conn");
    assert_eq!(
        es5_queue::backlog(&mut c).expect("backlog"),
        es5_queue::Backlog::default()
    );
    es5_queue::enqueue(&mut c, &cmd(EID, "op-1", 1, 10_000), 10).expect("a");
    es5_queue::enqueue(&mut c, &cmd(EID, "op-1", 2, 10_000), 20).expect("b");
    es5_queue::enqueue(&mut c, &cmd(EID2, "op-2", 3, 10_000), 30).expect("c");
    next(es5_queue::take_next_for_delivery(&mut c, EID, 40).expect("take"));
    assert_eq!(
        es5_queue::backlog(&mut c).expect("backlog"),
        es5_queue::Backlog {
            queued: 2,
            in_flight: 1,
            oldest_queued_at: Some(20)
        }
    );

    let op = |eid: &str, kind: &str| NewOperation {
        eid: eid.into(),
        kind: kind.into(),
        function_call_id: None,
        requester_oid: "1.3.6.1.4.1.99999.5".into(),
        interface: "ES4".into(),
        iccid: None,
        isd_p_aid: None,
        deadline: 10_000,
        data: "{}".into(),
    };
    let e1 = operations::create(&mut c, &op(EID, "EnableProfile"), 50).expect("op");
    let e2 = operations::create(&mut c, &op(EID2, "EnableProfile"), 50).expect("op");
    let audit = operations::create(&mut c, &op(EID, "AuditEIS"), 50).expect("op");
    let to = |state| OperationUpdate {
        state: Some(state),
        ..OperationUpdate::default()
    };
    operations::update(
        &mut c,
        e2.id,
        OperationState::Active,
        &to(OperationState::AwaitingNotification),
        60,
    )
    .expect("awaiting");
    operations::update(
        &mut c,
        audit.id,
        OperationState::Active,
        &to(OperationState::Done),
        60,
    )
    .expect("done");
    let mut open = operations::open_counts(&mut c).expect("open");
    open.sort_by_key(|(k, s, _)| (k.clone(), s.as_str()));
    assert_eq!(
        open,
        vec![
            ("EnableProfile".to_string(), OperationState::Active, 1),
            (
                "EnableProfile".to_string(),
                OperationState::AwaitingNotification,
                1
            ),
        ]
    );
    assert_eq!(e1.state, OperationState::Active);
});

// A received counter is accepted only when higher than the last one accepted for that eUICC's key set
// (ETSI TS 102 225 §5.1.1 "higher" mode): a replay or an older packet is refused and changes nothing.
both_backends!(received_counters_accepted_only_when_higher, 2, |store| {
    setup(store);
    let mut c = store.conn().expect("conn");
    let mut accept = |eid: &str, kvn: u8, counter: u64| {
        es5_queue::accept_received_counter(&mut c, eid, kvn, counter).expect("accept")
    };
    assert!(accept(EID, 1, 5), "first counter of the key set");
    assert!(!accept(EID, 1, 5), "the same counter again: a replay");
    assert!(!accept(EID, 1, 4), "a lower counter");
    assert!(accept(EID, 1, 6));
    assert!(accept(EID, 2, 1), "another key set keeps its own");
    assert!(accept(EID2, 1, 1), "another eUICC keeps its own");
    assert!(!accept(EID, 1, 6), "the last accepted value was stored");
    assert!(
        !accept(EID, 1, u64::MAX),
        "beyond the column's range: refused"
    );
    assert!(accept(EID, 1, 7));
});
