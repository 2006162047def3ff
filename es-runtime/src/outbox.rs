//! The outbox dispatcher of both servers (design §3 step 5): callbacks to ReplyTo and notifications are written
//! to the store's outbox in the transaction that produced them ([`soap_message`] builds the row); this loop
//! claims due messages with a lease, POSTs them over mutual TLS, and marks them delivered (any 2xx) or
//! reschedules them with backoff until their deadline. A crash between the POST and the mark redelivers the
//! message (at-least-once); receivers deduplicate by `wsa:MessageID`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use eis_store::jobs::Backoff;
use eis_store::outbox::{self, NewOutboxMessage, OutboxMessage, OutboxState, RescheduleOutcome};
use eis_store::{AnyConnection, Store, StoreError, UnixMillis};
use tokio::sync::{Notify, Semaphore, watch};

use crate::client::SoapClient;
use crate::clock::Clock;

/// Content type of an outgoing SOAP 1.2 message with its Action (SGP.02 Annex B; RFC 3902).
pub fn soap12_content_type(action: &str) -> String {
    format!("application/soap+xml; charset=utf-8; action=\"{action}\"")
}

/// The outbox row of one SOAP 1.2 envelope to `url` (SGP.02 Annex B), correlated to `correlation_id` (e.g.
/// the function call it answers), retried until `give_up_at`. The envelope is captured as emitted
/// ([`crate::capture::emitted`]) once, here.
pub fn soap_message(
    url: &str,
    action: &str,
    envelope: String,
    message_id: &str,
    correlation_id: Option<String>,
    now: UnixMillis,
    give_up_at: UnixMillis,
) -> NewOutboxMessage {
    crate::capture::emitted(&envelope);
    NewOutboxMessage {
        destination_url: url.to_string(),
        http_method: "POST".to_string(),
        headers: Vec::new(),
        body: envelope.into_bytes(),
        content_type: soap12_content_type(action),
        correlation_id,
        message_id: Some(message_id.to_string()),
        not_before: now,
        give_up_at,
    }
}

/// Least time between two sweeps of a dispatcher for leases that ran out: each sweep is an UPDATE over the
/// messages in one state, whose cost on PostgreSQL grows with the outbox's history until it is vacuumed, and
/// rounds run as often as messages are written. A lease ran out at most this much before it is taken back.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Least time between two sweeps of a dispatcher for pending messages past their deadline. A message is never
/// claimed past its deadline ([`outbox::claim_due`]), so this sweep only delays its `Dead` mark; it scans every
/// pending message (12–28 ms a sweep in `rsp bench fleet` on PostgreSQL, when it ran each second).
pub const EXPIRY_INTERVAL: Duration = Duration::from_secs(60);

/// Longest wait of a channel's POST for its place among the destination's POSTs in flight
/// ([`OutboxChannel::in_flight`]); then it is sent without one.
pub const PERMIT_WAIT: Duration = Duration::from_secs(5);

/// The start of the lease holder id of the dispatchers of process `pid` (design §3 step 5): several processes
/// share one outbox, and `eis_store::outbox::held_by` with this prefix lists what one holds.
pub fn worker_prefix(pid: u32) -> String {
    format!("outbox-{pid}-")
}

/// Settings of the dispatcher.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// This dispatcher's id in the leases (unique; by default [`worker_prefix`] of this process and a UUID).
    pub worker_id: String,
    /// Messages claimed per round.
    pub batch: u32,
    /// Lease of a claimed message (longer than a POST can take).
    pub lease: Duration,
    /// Backoff between failed attempts.
    pub backoff: Backoff,
    /// Pause when nothing is due (a [`Notify`] wakes the loop earlier).
    pub idle_poll: Duration,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            worker_id: format!(
                "{}{}",
                worker_prefix(std::process::id()),
                uuid::Uuid::new_v4()
            ),
            batch: 64,
            lease: Duration::from_secs(60),
            backoff: Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(300),
            },
            idle_poll: Duration::from_millis(200),
        }
    }
}

/// Errors of one dispatch round (the loop logs them and carries on).
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The store failed.
    #[error("outbox store: {0}")]
    Store(#[from] StoreError),
    /// A blocking task did not complete.
    #[error("outbox task: {0}")]
    Task(String),
}

/// Receives the answers to outbox messages that carry a body: a request sent through the outbox (e.g. an ES3
/// function the SM-DP relays) may be answered synchronously (200 with a response, e.g. a refusal) instead of
/// by a later callback. Called in the transaction that marks the message delivered, so that the answer is
/// applied if and only if the delivery is recorded (a process killed between two transactions would lose it);
/// it must be idempotent (a crash before the commit redelivers the message).
pub trait ResponseSink: Send + Sync + 'static {
    /// Handles the answer `body` (HTTP `status`) to `message` in `conn`'s transaction; an error rolls the
    /// round back (its messages stay leased and are sent again when the lease ends), so only a store failure
    /// should be one: an answer that cannot be applied is logged and dropped.
    fn on_response(
        &self,
        conn: &mut AnyConnection,
        message: &OutboxMessage,
        status: u16,
        body: &str,
    ) -> Result<(), StoreError>;
}

/// Outbox messages that are not SOAP calls over mutual TLS (e.g. the ESM2M webhooks): the dispatcher posts a
/// channel's messages with the channel's client and the headers it computes for each attempt (a signature over
/// the attempt's time, say), and lets it record every attempt in the transaction that marks the message. Both
/// take a round's messages at once, so that a channel reads and writes what they need in a few statements.
pub trait OutboxChannel: Send + Sync + 'static {
    /// Whether `message` is one of this channel's.
    fn owns(&self, message: &OutboxMessage) -> bool;
    /// Extra headers of this attempt at `now` of each of `messages`, in their order; an error fails that
    /// message's attempt (it is rescheduled as any failure).
    fn prepare(
        &self,
        conn: &mut AnyConnection,
        messages: &[&OutboxMessage],
        now: UnixMillis,
    ) -> Vec<Result<Vec<(String, String)>, String>>;
    /// The client that posts this channel's messages.
    fn client(&self) -> &SoapClient;
    /// What a POST of `message` holds while it is under way, if the channel bounds its POSTs in flight (to
    /// one destination, across every dispatcher): a few kept-alive connections busy all the time instead of a
    /// round's worth of new ones, most idle until the peer closes them. A POST waits for it at most
    /// [`PERMIT_WAIT`].
    fn in_flight(&self, message: &OutboxMessage) -> Option<Arc<Semaphore>>;
    /// Records the round's attempts of its messages ([`Attempt`]).
    fn record(
        &self,
        conn: &mut AnyConnection,
        attempts: &[Attempt<'_>],
        now: UnixMillis,
    ) -> Result<(), StoreError>;
}

/// One attempt of a channel's message, for [`OutboxChannel::record`].
#[derive(Debug)]
pub struct Attempt<'a> {
    /// The message.
    pub message: &'a OutboxMessage,
    /// The answer's HTTP status, if one came.
    pub status: Option<u16>,
    /// Why it failed, if it did.
    pub error: Option<&'a str>,
    /// The message's state after it (Delivered, Pending for a retry, Dead).
    pub state: OutboxState,
}

/// Who records a round's outcomes, and with what ([`record_round`]).
struct Round<'a> {
    worker: &'a str,
    backoff: &'a Backoff,
    now: UnixMillis,
    sink: Option<&'a dyn ResponseSink>,
    channel: Option<&'a dyn OutboxChannel>,
}

/// Records the outcomes of one round in the caller's transaction: the deliveries, the reschedules, the
/// channel's attempts, and the answers handed to the sink — in the same transaction as the deliveries, so that
/// a process killed after the commit has applied every answer it marked delivered, and one killed before it
/// leaves the messages leased, to be sent again (and answered again) by whichever process takes them next.
fn record_round(
    c: &mut AnyConnection,
    results: &[(OutboxMessage, Outcome)],
    round: &Round<'_>,
) -> Result<(), StoreError> {
    let (worker, now) = (round.worker, round.now);
    // The successes in one statement; failures (rare) one by one.
    let delivered: Vec<i64> = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Delivered { .. }))
        .map(|(m, _)| m.id)
        .collect();
    outbox::mark_delivered_many(c, &delivered, worker, now)?;
    let mut attempts = Vec::new();
    for (m, outcome) in results {
        let id = m.id;
        let (status, error, state) = match outcome {
            Outcome::Delivered { status, .. } => (Some(*status), None, OutboxState::Delivered),
            Outcome::Failed { status, error } => {
                let state = match outbox::reschedule(c, id, worker, error, round.backoff, now)? {
                    RescheduleOutcome::Retry { next_attempt_at } => {
                        tracing::info!(id, %error, next_attempt_at, "outbox message will be retried");
                        OutboxState::Pending
                    }
                    RescheduleOutcome::Dead => {
                        tracing::warn!(id, %error, "outbox message given up");
                        OutboxState::Dead
                    }
                };
                (*status, Some(error.as_str()), state)
            }
        };
        if round.channel.is_some_and(|ch| ch.owns(m)) {
            attempts.push(Attempt {
                message: m,
                status,
                error,
                state,
            });
        }
    }
    if let Some(ch) = round.channel.filter(|_| !attempts.is_empty()) {
        ch.record(c, &attempts, now)?;
    }
    if let Some(sink) = round.sink {
        for (m, outcome) in results {
            if let Outcome::Delivered { status, body } = outcome
                && !body.is_empty()
            {
                sink.on_response(c, m, *status, body)?;
            }
        }
    }
    Ok(())
}

/// The dispatcher: claims, posts, marks.
pub struct OutboxDispatcher {
    store: Arc<Store>,
    client: SoapClient,
    clock: Arc<dyn Clock>,
    settings: OutboxSettings,
    wake: Arc<Notify>,
    sink: Option<Arc<dyn ResponseSink>>,
    channel: Option<Arc<dyn OutboxChannel>>,
    /// When this dispatcher last swept (clock ms; `i64::MIN` before the first round).
    last_sweep: AtomicI64,
    /// When this dispatcher last swept for messages past their deadline (clock ms; `i64::MIN` before the first).
    last_expiry: AtomicI64,
}

/// What became of one message in a round.
enum Outcome {
    Delivered { status: u16, body: String },
    Failed { status: Option<u16>, error: String },
}

impl OutboxDispatcher {
    /// A dispatcher over `store`'s outbox, posting with `client`; `wake` makes an idle loop look again at once.
    pub fn new(
        store: Arc<Store>,
        client: SoapClient,
        clock: Arc<dyn Clock>,
        settings: OutboxSettings,
        wake: Arc<Notify>,
    ) -> Self {
        OutboxDispatcher {
            store,
            client,
            clock,
            settings,
            wake,
            sink: None,
            channel: None,
            last_sweep: AtomicI64::new(i64::MIN),
            last_expiry: AtomicI64::new(i64::MIN),
        }
    }

    /// Sends `channel`'s messages its way ([`OutboxChannel`]).
    pub fn with_channel(mut self, channel: Arc<dyn OutboxChannel>) -> Self {
        self.channel = Some(channel);
        self
    }

    /// Hands the bodies of 2xx answers to `sink`.
    pub fn with_response_sink(mut self, sink: Arc<dyn ResponseSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Claims one batch of due messages, posts them concurrently and records the outcomes; returns how many
    /// were claimed.
    pub async fn run_once(&self) -> Result<usize, OutboxError> {
        let store = self.store.clone();
        let worker = self.settings.worker_id.clone();
        let lease = self.settings.lease;
        let batch = self.settings.batch;
        let now = self.clock.now_millis();
        // The first round sweeps, then one every interval (or after the clock went back).
        let due = |last: &AtomicI64, every: Duration| {
            let last = last.load(Ordering::Relaxed);
            last == i64::MIN
                || now < last
                || now - last >= i64::try_from(every.as_millis()).unwrap_or(i64::MAX)
        };
        let sweep = due(&self.last_sweep, SWEEP_INTERVAL);
        let expire = due(&self.last_expiry, EXPIRY_INTERVAL);
        let claimed: Vec<OutboxMessage> = tokio::task::spawn_blocking(move || {
            store.tx(|c| {
                if sweep {
                    outbox::recover_expired_leases(c, now)?;
                }
                if expire {
                    outbox::expire_overdue(c, now)?;
                }
                outbox::claim_due(c, &worker, lease, batch, now)
            })
        })
        .await
        .map_err(|e| OutboxError::Task(e.to_string()))??;
        if sweep {
            self.last_sweep.store(now, Ordering::Relaxed);
        }
        if expire {
            self.last_expiry.store(now, Ordering::Relaxed);
        }
        let n = claimed.len();
        if n == 0 {
            return Ok(0);
        }
        let t = std::time::Instant::now();
        let prepared = self.prepare(claimed).await?;
        let mut tasks = tokio::task::JoinSet::new();
        for (m, extra) in prepared {
            let (client, limit) = match &self.channel {
                Some(ch) if ch.owns(&m) => (ch.client().clone(), ch.in_flight(&m)),
                _ => (self.client.clone(), None),
            };
            tasks.spawn(async move {
                // Best effort: past PERMIT_WAIT the POST goes anyway, so that a slow destination cannot keep
                // a round's messages waiting until their lease runs out.
                let _permit = match limit {
                    Some(l) => tokio::time::timeout(PERMIT_WAIT, l.acquire_owned())
                        .await
                        .ok()
                        .and_then(Result::ok),
                    None => None,
                };
                let headers = match extra {
                    Ok(extra) => m.headers.iter().cloned().chain(extra).collect::<Vec<_>>(),
                    Err(error) => {
                        return (
                            m,
                            Outcome::Failed {
                                status: None,
                                error,
                            },
                        );
                    }
                };
                let outcome = match client
                    .post_raw(
                        &m.destination_url,
                        &m.content_type,
                        &headers,
                        m.body.clone(),
                    )
                    .await
                {
                    Ok(r) if (200..300).contains(&r.status) => Outcome::Delivered {
                        status: r.status,
                        body: r.body,
                    },
                    Ok(r) => Outcome::Failed {
                        status: Some(r.status),
                        error: format!(
                            "HTTP {} from {}: {}",
                            r.status,
                            m.destination_url,
                            r.body.chars().take(200).collect::<String>()
                        ),
                    },
                    Err(e) => Outcome::Failed {
                        status: None,
                        error: e.to_string(),
                    },
                };
                (m, outcome)
            });
        }
        let mut results = Vec::with_capacity(n);
        while let Some(r) = tasks.join_next().await {
            results.push(r.map_err(|e| OutboxError::Task(e.to_string()))?);
        }
        let store = self.store.clone();
        let worker = self.settings.worker_id.clone();
        let backoff = self.settings.backoff;
        let now = self.clock.now_millis();
        let sink = self.sink.clone();
        let channel = self.channel.clone();
        tokio::task::spawn_blocking(move || {
            store.tx(|c| {
                record_round(
                    c,
                    &results,
                    &Round {
                        worker: &worker,
                        backoff: &backoff,
                        now,
                        sink: sink.as_deref(),
                        channel: channel.as_deref(),
                    },
                )
            })
        })
        .await
        .map_err(|e| OutboxError::Task(e.to_string()))??;
        tracing::debug!(
            messages = n,
            elapsed_ms = t.elapsed().as_millis() as u64,
            "outbox round"
        );
        Ok(n)
    }

    /// The extra headers of each claimed message: a channel's are computed now, in one blocking task.
    async fn prepare(
        &self,
        claimed: Vec<OutboxMessage>,
    ) -> Result<Vec<(OutboxMessage, Result<Vec<(String, String)>, String>)>, OutboxError> {
        let Some(channel) = self
            .channel
            .clone()
            .filter(|ch| claimed.iter().any(|m| ch.owns(m)))
        else {
            return Ok(claimed.into_iter().map(|m| (m, Ok(Vec::new()))).collect());
        };
        let store = self.store.clone();
        let now = self.clock.now_millis();
        tokio::task::spawn_blocking(move || {
            let mut conn = store.conn()?;
            let mine: Vec<&OutboxMessage> = claimed.iter().filter(|m| channel.owns(m)).collect();
            let mut extras = channel.prepare(&mut conn, &mine, now).into_iter();
            Ok(claimed
                .into_iter()
                .map(|m| {
                    let extra = if channel.owns(&m) {
                        extras
                            .next()
                            .unwrap_or_else(|| Err("the channel prepared no headers".into()))
                    } else {
                        Ok(Vec::new())
                    };
                    (m, extra)
                })
                .collect())
        })
        .await
        .map_err(|e| OutboxError::Task(e.to_string()))?
    }

    /// Runs rounds until `shutdown` turns true: at once again after a full batch, else after the idle pause or
    /// a wake-up.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                break;
            }
            let claimed = match self.run_once().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "outbox round failed");
                    0
                }
            };
            if claimed >= self.settings.batch as usize {
                continue;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(self.settings.idle_poll) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink whose answer writes a message of its own (what completing a relay writes), then fails if asked.
    struct Sink {
        fail: bool,
    }

    impl ResponseSink for Sink {
        fn on_response(
            &self,
            conn: &mut AnyConnection,
            message: &OutboxMessage,
            _status: u16,
            body: &str,
        ) -> Result<(), StoreError> {
            outbox::enqueue(conn, &answer_of(message.id, body), 0)?;
            if self.fail {
                return Err(StoreError::Backend("the sink's store failed".into()));
            }
            Ok(())
        }
    }

    fn answer_of(id: i64, body: &str) -> NewOutboxMessage {
        NewOutboxMessage {
            destination_url: "https://mno.example/es2".into(),
            http_method: "POST".into(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
            content_type: "application/soap+xml".into(),
            correlation_id: Some(format!("answer-{id}")),
            message_id: None,
            not_before: 0,
            give_up_at: 1_000_000,
        }
    }

    /// The sink's writes commit with the delivery, or neither does: a failed sink leaves the message leased
    /// (sent again after its lease) and nothing of the answer.
    fn sink_runs_in_the_delivery_transaction(store: &Store) {
        let mut c = store.conn().expect("conn");
        for fail in [false, true] {
            let id = outbox::enqueue(&mut c, &answer_of(0, "<request/>"), 0).expect("enqueue");
            let claimed =
                outbox::claim_due(&mut c, "w", Duration::from_secs(60), 10, 5).expect("claim");
            assert_eq!(claimed.iter().map(|m| m.id).collect::<Vec<_>>(), vec![id]);
            let results: Vec<(OutboxMessage, Outcome)> = claimed
                .into_iter()
                .map(|m| {
                    let body = "<answer/>".to_string();
                    (m, Outcome::Delivered { status: 200, body })
                })
                .collect();
            let backoff = Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(1),
            };
            let sink = Sink { fail };
            let round = Round {
                worker: "w",
                backoff: &backoff,
                now: 10,
                sink: Some(&sink),
                channel: None,
            };
            let r = store.tx(|c| record_round(c, &results, &round));
            assert_eq!(r.is_err(), fail);
            let state = outbox::get_message(&mut c, id)
                .expect("get")
                .expect("message")
                .state;
            let answers = outbox::by_correlation(&mut c, &format!("answer-{id}")).expect("answers");
            if fail {
                assert_eq!((state, answers.len()), (OutboxState::InFlight, 0));
            } else {
                assert_eq!((state, answers.len()), (OutboxState::Delivered, 1));
                assert_eq!(answers[0].body, b"<answer/>".to_vec());
                // The sink's own message is due now: out of the next round's way.
                let mine =
                    outbox::claim_due(&mut c, "w", Duration::from_secs(60), 10, 6).expect("claim");
                outbox::mark_delivered_many(&mut c, &[mine[0].id], "w", 7).expect("delivered");
            }
        }
    }

    #[test]
    fn sink_runs_in_the_delivery_transaction_sqlite() {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("o.db").display());
        sink_runs_in_the_delivery_transaction(&Store::open(&url, 2).expect("store"));
    }

    #[test]
    fn sink_runs_in_the_delivery_transaction_postgres() {
        let db = testkit::PgTestDb::new();
        sink_runs_in_the_delivery_transaction(&Store::open(db.url(), 2).expect("store"));
    }
}
