//! Retention of the record of function calls (SGP.02 §5.1.6 FunctionCallIdentifier; design §3 step 1): a
//! completed call is kept as long as a repeat of it may still arrive — the configured retention, 7 days by
//! default — and then purged in the background by each server. Calls still in progress (accepted asynchronous
//! ones) are kept until completed; read-only calls are never recorded.

use std::sync::Arc;
use std::time::Duration;

use eis_store::{Store, StoreError, function_calls};
use tokio::sync::watch;

use crate::clock::Clock;

/// Default retention of completed function calls: 7 days.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often the purge runs: a tenth of the retention, at least every second and at most every hour.
pub fn purge_interval(retention: Duration) -> Duration {
    (retention / 10).clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// Deletes the calls completed more than `retention` before `now_millis`; returns how many.
pub fn purge_once(
    store: &Store,
    now_millis: i64,
    retention: Duration,
) -> Result<usize, StoreError> {
    let keep = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let before = now_millis.saturating_sub(keep);
    store.tx(|c| function_calls::purge_completed_before(c, before))
}

/// Purges at once and then every [`purge_interval`] until `shutdown` turns true (a blocking store call on the
/// blocking pool each time).
pub async fn run_purge(
    store: Arc<Store>,
    clock: Arc<dyn Clock>,
    retention: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let every = purge_interval(retention);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let (s, now) = (store.clone(), clock.now_millis());
        match tokio::task::spawn_blocking(move || purge_once(&s, now, retention)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(purged = n, "function calls past their retention purged"),
            Ok(Err(e)) => tracing::error!(error = %e, "purging function calls failed"),
            Err(e) => tracing::error!(error = %e, "purging function calls did not complete"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use eis_store::function_calls::{Begin, CallResponse, NewFunctionCall};

    const DAY: i64 = 24 * 3600 * 1000;

    fn record(store: &Store, fcid: &str, at: i64, completed: bool) -> i64 {
        let call = NewFunctionCall {
            caller_oid: "1.2.3".into(),
            interface: "ES4".into(),
            function_name: "ES4-UpdatePolicyRules".into(),
            function_call_id: fcid.into(),
            message_id: None,
            reply_to: None,
            valid_until: None,
            request_digest: "d".into(),
        };
        let mut c = store.conn().expect("conn");
        let Begin::New(id) = function_calls::begin_call(&mut c, &call, at).expect("begin") else {
            panic!("new call expected")
        };
        if completed {
            let r = CallResponse {
                http_status: 200,
                body: "<r/>".into(),
            };
            function_calls::complete_call(&mut c, id, &r, at).expect("complete");
        }
        id
    }

    /// Old completed calls go, recent ones and calls in progress stay; the task stops on shutdown.
    async fn purges_in_the_background(store: Arc<Store>) {
        let t0 = 1_800_000_000_000;
        let old = record(&store, "old", t0, true);
        let open = record(&store, "open", t0, false);
        let recent = record(&store, "recent", t0 + 6 * DAY, true);
        let clock = ManualClock::new(
            time::OffsetDateTime::from_unix_timestamp(t0 / 1000 + 7 * 86_400 + 60).expect("time"),
        );
        let (stop, shutdown) = watch::channel(false);
        let task = tokio::spawn(run_purge(
            store.clone(),
            Arc::new(clock),
            DEFAULT_RETENTION,
            shutdown,
        ));
        let exists = |id: i64| {
            let mut c = store.conn().expect("conn");
            function_calls::get_call(&mut c, id).expect("get").is_some()
        };
        for _ in 0..100 {
            if !exists(old) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!exists(old), "a call past its retention was not purged");
        assert!(exists(open) && exists(recent));
        stop.send(true).expect("stop");
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the purge task stops on shutdown")
            .expect("join");
    }

    #[tokio::test]
    async fn purges_in_the_background_sqlite() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        purges_in_the_background(Arc::new(Store::open(&url, 2).expect("store"))).await;
    }

    #[tokio::test]
    async fn purges_in_the_background_postgres() {
        let db = testkit::PgTestDb::new();
        purges_in_the_background(Arc::new(Store::open(db.url(), 2).expect("store"))).await;
    }

    #[test]
    fn interval_follows_the_retention_within_bounds() {
        assert_eq!(purge_interval(DEFAULT_RETENTION), Duration::from_secs(3600));
        assert_eq!(
            purge_interval(Duration::from_secs(100)),
            Duration::from_secs(10)
        );
        assert_eq!(purge_interval(Duration::ZERO), Duration::from_secs(1));
    }
}
