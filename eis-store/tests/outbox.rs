//! Transactional outbox on both backends: claim with lease, deliver, backoff, deadline.
mod common;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use eis_store::StoreError;
use eis_store::jobs::Backoff;
use eis_store::outbox::{self, NewOutboxMessage, OutboxState, RescheduleOutcome};

fn msg(corr: &str, not_before: i64, give_up_at: i64) -> NewOutboxMessage {
    NewOutboxMessage {
        destination_url: "https://mno.example/es2/callback".into(),
        http_method: "POST".into(),
        headers: vec![(
            "SOAPAction".into(),
            "\"http://gsma.com/ES2/HandleDownloadProgressInfo\"".into(),
        )],
        body: b"<env:Envelope/>".to_vec(),
        content_type: "application/soap+xml; charset=utf-8".into(),
        correlation_id: Some(corr.into()),
        message_id: Some(format!("urn:uuid:{corr}")),
        not_before,
        give_up_at,
    }
}

const LEASE: Duration = Duration::from_millis(1_000);
const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    max: Duration::from_millis(10_000),
};

both_backends!(claim_deliver_and_reschedule, 2, |store| {
    let mut c = store.conn().expect("conn");
    let a = outbox::enqueue(&mut c, &msg("op-1", 0, 10_000), 0).expect("enqueue");
    let b = outbox::enqueue(&mut c, &msg("op-2", 50, 10_000), 0).expect("enqueue");
    let got = outbox::claim_due(&mut c, "d1", LEASE, 10, 10).expect("claim");
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(
        (m.id, m.state, m.attempts, m.lease_until),
        (a, OutboxState::InFlight, 1, Some(1_010))
    );
    let expected = msg("op-1", 0, 10_000);
    assert_eq!(
        (
            &m.destination_url,
            &m.http_method,
            &m.headers,
            &m.body,
            &m.content_type,
            &m.message_id,
            m.give_up_at
        ),
        (
            &expected.destination_url,
            &expected.http_method,
            &expected.headers,
            &expected.body,
            &expected.content_type,
            &expected.message_id,
            expected.give_up_at
        )
    );
    assert!(
        outbox::claim_due(&mut c, "d2", LEASE, 10, 10)
            .expect("claim")
            .is_empty()
    );
    outbox::mark_delivered_many(&mut c, &[a], "d1", 20).expect("deliver");
    assert!(matches!(
        outbox::mark_delivered_many(&mut c, &[a], "d1", 21),
        Err(StoreError::Conflict { .. })
    ));
    let delivered = outbox::get_message(&mut c, a).expect("get").expect("some");
    assert_eq!(
        (delivered.state, delivered.delivered_at),
        (OutboxState::Delivered, Some(20))
    );

    let got = outbox::claim_due(&mut c, "d1", LEASE, 10, 50).expect("claim");
    assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), vec![b]);
    assert_eq!(
        outbox::reschedule(&mut c, b, "d1", "HTTP 503", &BACKOFF, 60).expect("reschedule"),
        RescheduleOutcome::Retry {
            next_attempt_at: 160
        }
    );
    assert!(
        outbox::claim_due(&mut c, "d1", LEASE, 10, 159)
            .expect("claim")
            .is_empty()
    );
    let again = outbox::claim_due(&mut c, "d1", LEASE, 10, 160).expect("claim");
    assert_eq!(
        (again[0].attempts, again[0].last_error.as_deref()),
        (2, Some("HTTP 503"))
    );
    assert_eq!(
        outbox::reschedule(&mut c, b, "d1", "HTTP 503", &BACKOFF, 170).expect("reschedule"),
        RescheduleOutcome::Retry {
            next_attempt_at: 370
        }
    );
    assert_eq!(
        outbox::by_correlation(&mut c, "op-2")
            .expect("by corr")
            .iter()
            .map(|m| m.id)
            .collect::<Vec<_>>(),
        vec![b]
    );
    assert_eq!(outbox::purge_finished_before(&mut c, 21).expect("purge"), 1);
    assert_eq!(outbox::get_message(&mut c, a).expect("get"), None);
});

both_backends!(gives_up_after_deadline, 2, |store| {
    let mut c = store.conn().expect("conn");
    let a = outbox::enqueue(&mut c, &msg("op-1", 0, 1_000), 0).expect("enqueue");
    assert_eq!(
        outbox::claim_due(&mut c, "d", LEASE, 1, 0)
            .expect("claim")
            .len(),
        1
    );
    assert_eq!(
        outbox::reschedule(&mut c, a, "d", "connection refused", &BACKOFF, 950)
            .expect("reschedule"),
        RescheduleOutcome::Dead
    );
    let dead = outbox::get_message(&mut c, a).expect("get").expect("some");
    assert_eq!(
        (dead.state, dead.last_error.as_deref()),
        (OutboxState::Dead, Some("connection refused"))
    );

    // Never claimed before the deadline (dispatcher down): not claimed after it, and expired.
    let b = outbox::enqueue(&mut c, &msg("op-2", 0, 1_000), 0).expect("enqueue");
    assert!(
        outbox::claim_due(&mut c, "d", LEASE, 1, 1_001)
            .expect("claim")
            .is_empty()
    );
    assert_eq!(outbox::expire_overdue(&mut c, 1_001).expect("expire"), 1);
    assert_eq!(
        outbox::get_message(&mut c, b)
            .expect("get")
            .expect("some")
            .state,
        OutboxState::Dead
    );
});

both_backends!(expired_dispatcher_lease_is_recovered, 2, |store| {
    let mut c = store.conn().expect("conn");
    let a = outbox::enqueue(&mut c, &msg("op-1", 0, 100_000), 0).expect("enqueue");
    assert_eq!(
        outbox::claim_due(&mut c, "d1", LEASE, 1, 0)
            .expect("claim")
            .len(),
        1
    );
    assert_eq!(
        outbox::recover_expired_leases(&mut c, 999).expect("recover"),
        0
    );
    assert_eq!(
        outbox::recover_expired_leases(&mut c, 1_000).expect("recover"),
        1
    );
    let got = outbox::claim_due(&mut c, "d2", LEASE, 1, 1_000).expect("claim");
    assert_eq!((got[0].id, got[0].attempts), (a, 2));
    assert!(matches!(
        outbox::mark_delivered_many(&mut c, &[a], "d1", 1_001),
        Err(StoreError::Conflict { .. })
    ));
    outbox::mark_delivered_many(&mut c, &[a], "d2", 1_001).expect("deliver");
});

both_backends!(rows_written_in_rolled_back_tx_are_not_sent, 2, |store| {
    let r: Result<(), StoreError> = store.tx(|c| {
        outbox::enqueue(c, &msg("op-1", 0, 100_000), 0)?;
        Err(StoreError::Backend("operation step failed".into()))
    });
    assert!(r.is_err());
    let id = store
        .tx(|c| outbox::enqueue(c, &msg("op-2", 0, 100_000), 0))
        .expect("enqueue");
    let mut c = store.conn().expect("conn");
    let got = outbox::claim_due(&mut c, "d", LEASE, 10, 1).expect("claim");
    assert_eq!(got.iter().map(|m| m.id).collect::<Vec<_>>(), vec![id]);
});

both_backends!(concurrent_dispatchers_never_share_a_message, 6, |store| {
    let total = 200;
    {
        let mut c = store.conn().expect("conn");
        for i in 0..total {
            outbox::enqueue(&mut c, &msg(&format!("op-{i}"), 0, 100_000), 0).expect("enqueue");
        }
    }
    let seen = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for w in 0..6 {
            let seen = &seen;
            s.spawn(move || {
                let worker = format!("d{w}");
                loop {
                    let batch = store
                        .tx(|c| outbox::claim_due(c, &worker, Duration::from_secs(60), 4, 5))
                        .expect("claim");
                    if batch.is_empty() {
                        break;
                    }
                    for m in batch {
                        seen.lock().expect("lock").push(m.id);
                        store
                            .tx(|c| outbox::mark_delivered_many(c, &[m.id], &worker, 6))
                            .expect("deliver");
                    }
                }
            });
        }
    });
    let seen = seen.into_inner().expect("mutex");
    assert_eq!(seen.len(), total);
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>().len(), total);
});

// The backlog of /metrics: undelivered messages by state and the oldest one's creation time; delivered and
// dead ones are not counted.
both_backends!(backlog_counts_undelivered_messages, 2, |store| {
    let mut c = store.conn().expect("conn");
    assert_eq!(
        outbox::backlog(&mut c).expect("backlog"),
        outbox::Backlog::default()
    );
    let a = outbox::enqueue(&mut c, &msg("b-1", 0, 10_000), 100).expect("enqueue");
    outbox::enqueue(&mut c, &msg("b-2", 0, 10_000), 200).expect("enqueue");
    outbox::enqueue(&mut c, &msg("b-3", 5_000, 10_000), 300).expect("enqueue");
    let claimed = outbox::claim_due(&mut c, "d1", LEASE, 1, 400).expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        outbox::backlog(&mut c).expect("backlog"),
        outbox::Backlog {
            pending: 2,
            in_flight: 1,
            oldest_created_at: Some(100)
        }
    );
    outbox::mark_delivered_many(&mut c, &[a], "d1", 500).expect("deliver");
    let b = outbox::backlog(&mut c).expect("backlog");
    assert_eq!(
        (b.pending, b.in_flight, b.oldest_created_at),
        (2, 0, Some(200))
    );
});

both_backends!(mark_delivered_many_is_all_or_nothing, 2, |store| {
    let mut c = store.conn().expect("conn");
    let a = outbox::enqueue(&mut c, &msg("op-1", 0, 10_000), 0).expect("enqueue");
    let b = outbox::enqueue(&mut c, &msg("op-2", 0, 10_000), 0).expect("enqueue");
    let other = outbox::enqueue(&mut c, &msg("op-3", 0, 10_000), 0).expect("enqueue");
    assert_eq!(
        outbox::claim_due(&mut c, "d1", LEASE, 2, 10)
            .expect("claim")
            .len(),
        2
    );
    assert_eq!(
        outbox::claim_due(&mut c, "d2", LEASE, 2, 10)
            .expect("claim")
            .len(),
        1
    );
    // One of them leased by another dispatcher: refused, nothing marked.
    assert!(matches!(
        outbox::mark_delivered_many(&mut c, &[a, b, other], "d1", 20),
        Err(StoreError::Conflict { .. })
    ));
    for id in [a, b, other] {
        let m = outbox::get_message(&mut c, id).expect("get").expect("some");
        assert_eq!((m.state, m.delivered_at), (OutboxState::InFlight, None));
    }
    outbox::mark_delivered_many(&mut c, &[a, b], "d1", 20).expect("deliver");
    for id in [a, b] {
        let m = outbox::get_message(&mut c, id).expect("get").expect("some");
        assert_eq!(
            (m.state, m.delivered_at, m.lease_until),
            (OutboxState::Delivered, Some(20), None)
        );
    }
    outbox::mark_delivered_many(&mut c, &[], "d1", 21).expect("nothing to mark");
});

both_backends!(held_by_lists_one_processs_messages_in_flight, 2, |store| {
    let mut c = store.conn().expect("conn");
    for i in 0..3 {
        outbox::enqueue(&mut c, &msg(&format!("op-{i}"), 0, 10_000), 0).expect("enqueue");
    }
    let a = outbox::claim_due(&mut c, "outbox-7-a", LEASE, 2, 10).expect("claim");
    let b = outbox::claim_due(&mut c, "outbox-70-b", LEASE, 1, 10).expect("claim");
    assert_eq!((a.len(), b.len()), (2, 1));
    let ids = |v: &[outbox::OutboxMessage]| v.iter().map(|m| m.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&outbox::held_by(&mut c, "outbox-7-").expect("held")),
        ids(&a)
    );
    assert_eq!(
        ids(&outbox::held_by(&mut c, "outbox-70-").expect("held")),
        ids(&b)
    );
    // Delivered and recovered messages are no longer held.
    outbox::mark_delivered_many(&mut c, &[a[0].id], "outbox-7-a", 20).expect("delivered");
    assert_eq!(
        ids(&outbox::held_by(&mut c, "outbox-7-").expect("held")),
        vec![a[1].id]
    );
    outbox::recover_expired_leases(&mut c, 10 + 1_000).expect("recover");
    assert!(outbox::held_by(&mut c, "outbox-").expect("held").is_empty());
});
