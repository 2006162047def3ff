//! Job queue on both backends: claim with lease, complete, fail with backoff, dead jobs, lease expiry.
mod common;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use eis_store::StoreError;
use eis_store::jobs::{self, Backoff, Enqueued, FailOutcome, JobState, NewJob, Recovered};
use serde_json::json;

fn job(queue: &str, run_at: i64, max_attempts: u32, dedup: Option<&str>) -> NewJob {
    NewJob {
        queue: queue.into(),
        kind: "download-step".into(),
        payload: json!({"operation": 42, "step": "create-isdp"}),
        run_at,
        max_attempts,
        dedup_key: dedup.map(str::to_string),
    }
}

const LEASE: Duration = Duration::from_millis(1_000);
const BACKOFF: Backoff = Backoff {
    base: Duration::from_millis(100),
    max: Duration::from_millis(250),
};

fn id(e: Enqueued) -> i64 {
    match e {
        Enqueued::New(id) => id,
        Enqueued::Duplicate(id) => panic!("unexpected duplicate {id}"),
    }
}

#[test]
fn backoff_doubles_and_caps() {
    assert_eq!(BACKOFF.delay(1), Duration::from_millis(100));
    assert_eq!(BACKOFF.delay(2), Duration::from_millis(200));
    assert_eq!(BACKOFF.delay(3), Duration::from_millis(250));
    assert_eq!(BACKOFF.delay(200), Duration::from_millis(250));
}

both_backends!(claim_complete_order_limit_and_dedup, 2, |store| {
    let mut c = store.conn().expect("conn");
    let a = id(jobs::enqueue(&mut c, &job("q", 20, 3, None), 1).expect("enqueue"));
    let b = id(jobs::enqueue(&mut c, &job("q", 10, 3, Some("op-42")), 1).expect("enqueue"));
    let later = id(jobs::enqueue(&mut c, &job("q", 1_000, 3, None), 1).expect("enqueue"));
    let other = id(jobs::enqueue(&mut c, &job("other", 0, 3, None), 1).expect("enqueue"));
    assert_eq!(
        jobs::enqueue(&mut c, &job("q", 5, 3, Some("op-42")), 2).expect("enqueue"),
        Enqueued::Duplicate(b)
    );
    // The same key on another queue is another job.
    assert!(matches!(
        jobs::enqueue(&mut c, &job("other", 0, 3, Some("op-42")), 2).expect("enqueue"),
        Enqueued::New(_)
    ));

    assert!(
        jobs::claim(&mut c, "q", "w1", LEASE, 10, 5)
            .expect("claim")
            .is_empty()
    );
    let got = jobs::claim(&mut c, "q", "w1", LEASE, 1, 100).expect("claim");
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![b]);
    let j = &got[0];
    assert_eq!(
        (j.state, j.attempts, j.locked_by.as_deref(), j.lease_until),
        (JobState::Running, 1, Some("w1"), Some(1_100))
    );
    assert_eq!(j.payload, json!({"operation": 42, "step": "create-isdp"}));
    let got = jobs::claim(&mut c, "q", "w2", LEASE, 10, 100).expect("claim");
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![a]);
    assert!(
        jobs::claim(&mut c, "q", "w3", LEASE, 10, 100)
            .expect("claim")
            .is_empty()
    );

    // Only the lease holder completes.
    assert!(matches!(
        jobs::complete(&mut c, a, "w1", 110),
        Err(StoreError::Conflict { .. })
    ));
    jobs::complete(&mut c, a, "w2", 110).expect("complete");
    jobs::complete(&mut c, b, "w1", 110).expect("complete");
    assert!(matches!(
        jobs::complete(&mut c, b, "w1", 111),
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        jobs::complete(&mut c, 999_999, "w1", 111),
        Err(StoreError::NotFound { .. })
    ));
    let done = jobs::get_job(&mut c, a).expect("get").expect("some");
    assert_eq!(
        (done.state, done.locked_by, done.lease_until),
        (JobState::Done, None, None)
    );
    let got = jobs::claim(&mut c, "q", "w1", LEASE, 10, 1_000).expect("claim");
    assert_eq!(got.iter().map(|j| j.id).collect::<Vec<_>>(), vec![later]);
    assert_eq!(
        jobs::counts(&mut c, "q").expect("counts"),
        [
            (JobState::Ready, 0),
            (JobState::Running, 1),
            (JobState::Done, 2),
            (JobState::Dead, 0)
        ]
    );
    assert_eq!(
        jobs::get_job(&mut c, other)
            .expect("get")
            .expect("some")
            .state,
        JobState::Ready
    );

    assert_eq!(jobs::purge_finished_before(&mut c, 110).expect("purge"), 0);
    assert_eq!(jobs::purge_finished_before(&mut c, 111).expect("purge"), 2);
    assert_eq!(jobs::get_job(&mut c, a).expect("get"), None);
});

both_backends!(fail_backs_off_then_dies_keeping_error, 2, |store| {
    let mut c = store.conn().expect("conn");
    let j = id(jobs::enqueue(&mut c, &job("q", 0, 3, None), 0).expect("enqueue"));
    assert_eq!(
        jobs::claim(&mut c, "q", "w", LEASE, 1, 0)
            .expect("claim")
            .len(),
        1
    );
    assert_eq!(
        jobs::fail(&mut c, j, "w", "SMSC timeout", &BACKOFF, 10).expect("fail"),
        FailOutcome::Retry { run_at: 110 }
    );
    assert!(matches!(
        jobs::fail(&mut c, j, "w", "again", &BACKOFF, 11),
        Err(StoreError::Conflict { .. })
    ));
    assert!(
        jobs::claim(&mut c, "q", "w", LEASE, 1, 109)
            .expect("claim")
            .is_empty()
    );
    let again = jobs::claim(&mut c, "q", "w", LEASE, 1, 110).expect("claim");
    assert_eq!(
        (again[0].attempts, again[0].last_error.as_deref()),
        (2, Some("SMSC timeout"))
    );
    assert_eq!(
        jobs::fail(&mut c, j, "w", "second", &BACKOFF, 120).expect("fail"),
        FailOutcome::Retry { run_at: 320 }
    );
    assert_eq!(
        jobs::claim(&mut c, "q", "w", LEASE, 1, 320)
            .expect("claim")
            .len(),
        1
    );
    assert_eq!(
        jobs::fail(&mut c, j, "w", "final", &BACKOFF, 330).expect("fail"),
        FailOutcome::Dead
    );
    let dead = jobs::get_job(&mut c, j).expect("get").expect("some");
    assert_eq!(
        (dead.state, dead.attempts, dead.last_error.as_deref()),
        (JobState::Dead, 3, Some("final"))
    );
    assert!(
        jobs::claim(&mut c, "q", "w", LEASE, 1, 1_000_000)
            .expect("claim")
            .is_empty()
    );
});

both_backends!(
    expired_lease_is_recovered_and_old_worker_loses_it,
    2,
    |store| {
        let mut c = store.conn().expect("conn");
        let j = id(jobs::enqueue(&mut c, &job("q", 0, 2, None), 0).expect("enqueue"));
        assert_eq!(
            jobs::claim(&mut c, "q", "w1", LEASE, 1, 0)
                .expect("claim")
                .len(),
            1
        );
        // Extending works while the lease runs.
        assert_eq!(
            jobs::extend_lease(&mut c, j, "w1", LEASE, 500).expect("extend"),
            1_500
        );
        assert!(matches!(
            jobs::extend_lease(&mut c, j, "w2", LEASE, 500),
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(
            jobs::recover_expired_leases(&mut c, 1_499).expect("recover"),
            Recovered::default()
        );
        assert!(
            jobs::claim(&mut c, "q", "w2", LEASE, 1, 1_499)
                .expect("claim")
                .is_empty()
        );
        // w1 stalls; its lease runs out; the job becomes claimable by w2.
        assert!(matches!(
            jobs::extend_lease(&mut c, j, "w1", LEASE, 1_500),
            Err(StoreError::Conflict { .. })
        ));
        assert_eq!(
            jobs::recover_expired_leases(&mut c, 1_500).expect("recover"),
            Recovered { ready: 1, dead: 0 }
        );
        let got = jobs::claim(&mut c, "q", "w2", LEASE, 1, 1_500).expect("claim");
        assert_eq!(
            (got[0].id, got[0].attempts, got[0].last_error.as_deref()),
            (j, 2, Some("lease expired"))
        );
        assert!(matches!(
            jobs::complete(&mut c, j, "w1", 1_600),
            Err(StoreError::Conflict { .. })
        ));
        // w2 stalls too: that was the last attempt, so recovery makes the job dead.
        assert_eq!(
            jobs::recover_expired_leases(&mut c, 2_500).expect("recover"),
            Recovered { ready: 0, dead: 1 }
        );
        let dead = jobs::get_job(&mut c, j).expect("get").expect("some");
        assert_eq!(
            (dead.state, dead.last_error.as_deref()),
            (JobState::Dead, Some("lease expired"))
        );
    }
);

both_backends!(enqueue_in_rolled_back_tx_leaves_nothing, 2, |store| {
    let r: Result<(), StoreError> = store.tx(|c| {
        jobs::enqueue(c, &job("q", 0, 1, Some("k")), 0)?;
        Err(StoreError::Backend("caller aborts".into()))
    });
    assert!(r.is_err());
    let mut c = store.conn().expect("conn");
    assert!(
        jobs::claim(&mut c, "q", "w", LEASE, 10, 10)
            .expect("claim")
            .is_empty()
    );
    assert!(matches!(
        jobs::enqueue(&mut c, &job("q", 0, 1, Some("k")), 0).expect("enqueue"),
        Enqueued::New(_)
    ));
});

both_backends!(concurrent_workers_never_share_or_lose_a_job, 8, |store| {
    let total = 400;
    {
        let mut c = store.conn().expect("conn");
        for i in 0..total {
            jobs::enqueue(&mut c, &job("hammer", i % 7, 1, None), 0).expect("enqueue");
        }
    }
    let claimed = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for w in 0..8 {
            let claimed = &claimed;
            s.spawn(move || {
                let worker = format!("w{w}");
                loop {
                    let batch = store
                        .tx(|c| jobs::claim(c, "hammer", &worker, Duration::from_secs(60), 3, 10))
                        .expect("claim");
                    if batch.is_empty() {
                        break;
                    }
                    for j in batch {
                        assert_eq!(j.locked_by.as_deref(), Some(worker.as_str()));
                        claimed.lock().expect("lock").push(j.id);
                        store
                            .tx(|c| jobs::complete(c, j.id, &worker, 20))
                            .expect("complete");
                    }
                }
            });
        }
    });
    let claimed = claimed.into_inner().expect("mutex");
    let distinct: HashSet<i64> = claimed.iter().copied().collect();
    assert_eq!(
        claimed.len(),
        total as usize,
        "a job was claimed twice or lost"
    );
    assert_eq!(distinct.len(), total as usize);
    let mut c = store.conn().expect("conn");
    assert_eq!(
        jobs::counts(&mut c, "hammer").expect("counts"),
        [
            (JobState::Ready, 0),
            (JobState::Running, 0),
            (JobState::Done, total),
            (JobState::Dead, 0)
        ]
    );
});

both_backends!(held_by_lists_one_processs_running_jobs, 2, |store| {
    let mut c = store.conn().expect("conn");
    for _ in 0..4 {
        id(jobs::enqueue(&mut c, &job("q", 0, 3, None), 1).expect("enqueue"));
    }
    let a = jobs::claim(&mut c, "q", "node-12-a", LEASE, 2, 10).expect("claim");
    let b = jobs::claim(&mut c, "q", "node-123-b", LEASE, 1, 10).expect("claim");
    assert_eq!((a.len(), b.len()), (2, 1));
    let ids = |v: &[jobs::Job]| v.iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&jobs::held_by(&mut c, "node-12-").expect("held")),
        ids(&a)
    );
    assert_eq!(
        ids(&jobs::held_by(&mut c, "node-123-").expect("held")),
        ids(&b)
    );
    // Done, failed (back to Ready) and expired (recovered) jobs are no longer held.
    jobs::complete(&mut c, a[0].id, "node-12-a", 20).expect("complete");
    jobs::fail(&mut c, a[1].id, "node-12-a", "boom", &BACKOFF, 20).expect("fail");
    assert!(jobs::held_by(&mut c, "node-12-").expect("held").is_empty());
    jobs::recover_expired_leases(&mut c, 10 + 1_000).expect("recover");
    assert!(jobs::held_by(&mut c, "node-").expect("held").is_empty());
});
