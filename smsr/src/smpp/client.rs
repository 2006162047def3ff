//! The public face of the SMPP client: start a pool of binds, submit, receive events, shut down.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::task::{Context, Poll};

use futures_util::Stream;
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};

use super::config::SmppClientConfig;
use super::session::{Shared, SubmitRequest, bind_body, run_bind};
use super::{MessageId, SmppError, SmppEvent, Submit};
use es_interfaces::smpp::Pdu;

/// The SM-SR's SMPP 3.4 client (ESME): a pool of binds to one SMSC account.
pub struct SmppClient;

impl SmppClient {
    /// Starts `config.binds` binds in the background (on the current tokio runtime) and returns the handle to
    /// submit with and the stream of MO SMS, delivery receipts and bind state changes. Binding happens
    /// asynchronously: submits wait in a queue until a bind is up.
    pub fn start(config: SmppClientConfig) -> Result<(SmppHandle, SmppEvents), SmppError> {
        config.validate()?;
        Pdu::new(1, bind_body(&config))
            .encode()
            .map_err(|e| SmppError::Config(format!("bind PDU: {e}")))?;
        let (queue_tx, queue_rx) = mpsc::channel(config.queue_capacity);
        let (events_tx, events_rx) = mpsc::channel(config.event_capacity);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let binds = config.binds;
        let shared = Arc::new(Shared {
            config,
            queue: Mutex::new(queue_rx),
            events: events_tx,
            shutdown: shutdown_rx,
            bound: AtomicUsize::new(0),
            node_share: AtomicU64::new(0),
        });
        let tasks = (0..binds)
            .map(|i| tokio::spawn(run_bind(i, shared.clone())))
            .collect();
        let inner = Arc::new(Inner {
            queue: queue_tx,
            shutdown: shutdown_tx,
            tasks: StdMutex::new(tasks),
            shared,
        });
        Ok((SmppHandle { inner }, SmppEvents { rx: events_rx }))
    }
}

struct Inner {
    queue: mpsc::Sender<SubmitRequest>,
    shutdown: watch::Sender<bool>,
    tasks: StdMutex<Vec<JoinHandle<()>>>,
    shared: Arc<Shared>,
}

/// Submits ES5 SMS through the pool of binds; cheap to clone.
#[derive(Clone)]
pub struct SmppHandle {
    inner: Arc<Inner>,
}

impl SmppHandle {
    /// Sets this node's share of the account's submit_sm budget, submits per second (`None`: no budget); every
    /// bind takes an equal part of it from its next submit (issue 14: `throughput_total` shared by the nodes).
    pub fn set_node_share(&self, per_second: Option<f64>) {
        let bits = per_second
            .filter(|r| *r > 0.0 && r.is_finite())
            .map_or(0, f64::to_bits);
        self.inner.shared.node_share.store(bits, Ordering::Relaxed);
    }

    /// SMPP 3.4 §4.4: submits one SMS (docs/wire-profile.md §2 fields) and waits for the SMSC's message id.
    /// Errors say whether the SMSC refused it, kept throttling, or whether the outcome is unknown (timeout, lost
    /// connection: the caller retries; the SCP80 counter makes a duplicate harmless).
    pub async fn submit(&self, submit: Submit) -> Result<MessageId, SmppError> {
        if *self.inner.shutdown.borrow() {
            return Err(SmppError::Shutdown);
        }
        let timeout = self.inner.shared.config.submit_timeout;
        let dest = submit.dest_msisdn.clone();
        let (reply, answer) = oneshot::channel();
        let request = SubmitRequest {
            submit,
            reply,
            attempts: 0,
        };
        let work = async {
            self.inner
                .queue
                .send(request)
                .await
                .map_err(|_| SmppError::Shutdown)?;
            answer.await.map_err(|_| SmppError::Shutdown)?
        };
        timeout_at(Instant::now() + timeout, work)
            .await
            .unwrap_or(Err(SmppError::SubmitTimeout { dest, timeout }))
    }

    /// Number of binds configured (`es5.smpp.binds`).
    pub fn binds(&self) -> usize {
        self.inner.shared.config.binds
    }

    /// Number of binds bound right now.
    pub fn bound_binds(&self) -> usize {
        self.inner.shared.bound.load(Ordering::SeqCst)
    }

    /// SMPP 3.4 §4.2: stops taking submits, waits (up to the response timeout) for the submits in flight, unbinds
    /// every bind, and fails whatever is still queued with [`SmppError::Shutdown`].
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let tasks = match self.inner.tasks.lock() {
            Ok(mut t) => std::mem::take(&mut *t),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for task in tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "SMPP bind task failed");
            }
        }
        let mut queue = self.inner.shared.queue.lock().await;
        queue.close();
        while let Ok(req) = queue.try_recv() {
            let _ = req.reply.send(Err(SmppError::Shutdown));
        }
    }
}

/// The events of the client: MO SMS, delivery receipts, bind state. Read them with [`SmppEvents::recv`] or as a
/// `Stream`. Unread events hold back deliver_sm_resp once `event_capacity` is reached (backpressure to the SMSC).
pub struct SmppEvents {
    rx: mpsc::Receiver<SmppEvent>,
}

impl SmppEvents {
    /// The next event; `None` after shutdown once all binds have stopped.
    pub async fn recv(&mut self) -> Option<SmppEvent> {
        self.rx.recv().await
    }
}

impl Stream for SmppEvents {
    type Item = SmppEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SmppEvent>> {
        self.rx.poll_recv(cx)
    }
}
