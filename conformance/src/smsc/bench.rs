//! Benchmark building block: submit_sm throughput of the SM-SR's SMPP client against the test SMSC on loopback.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use es_interfaces::smpp::Password;
use smsr::smpp::{SmppClient, SmppClientConfig, SmppError, Submit};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{DeliverAll, SmscConfig, SmscError, TestSmsc};

/// The window each bind uses in the benchmark (outstanding submit_sm per bind).
pub const BENCH_WINDOW: usize = 64;

/// Octets of TP-UD per benchmark message: one full SMS (the size of a single-segment SCP80 packet).
pub const BENCH_TP_UD_LEN: usize = 140;

/// The figures of one run of [`submit_throughput`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SubmitThroughput {
    /// Binds used.
    pub binds: usize,
    /// Window per bind.
    pub window: usize,
    /// Messages submitted (all answered ESME_ROK).
    pub messages: usize,
    /// From the first submit to the last submit_sm_resp.
    pub elapsed: Duration,
    /// submit_sm per second.
    pub per_second: f64,
}

impl fmt::Display for SubmitThroughput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SMPP submit_sm throughput: {} binds, window {}, {} messages of {} octets in {:.3} s = {:.0} submit_sm/s",
            self.binds,
            self.window,
            self.messages,
            BENCH_TP_UD_LEN,
            self.elapsed.as_secs_f64(),
            self.per_second
        )
    }
}

/// Errors of the benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The test SMSC did not start.
    #[error("test SMSC: {0}")]
    Smsc(#[from] SmscError),
    /// The client did not start or a submit failed.
    #[error("SMPP client: {0}")]
    Client(#[from] SmppError),
    /// Not every bind came up.
    #[error("only {bound} of {binds} binds came up within 10 s")]
    Binds {
        /// Binds up.
        bound: usize,
        /// Binds asked for.
        binds: usize,
    },
    /// The SMSC counted a different number of submits than were acknowledged.
    #[error("SMSC counted {counted} submit_sm, expected {expected}")]
    Count {
        /// The SMSC's counter.
        counted: u64,
        /// Messages submitted.
        expected: usize,
    },
    /// A submit task failed to run.
    #[error("submit task: {0}")]
    Task(String),
}

/// Starts the test SMSC on loopback and the SMPP client with `binds` binds (window [`BENCH_WINDOW`], no
/// throughput limit), submits `messages` binary SMS of [`BENCH_TP_UD_LEN`] octets (UDH `02 70 00`), waits for
/// every submit_sm_resp, and returns the rate. SCP80 securing is not part of this measurement.
pub async fn submit_throughput(
    binds: usize,
    messages: usize,
) -> Result<SubmitThroughput, BenchError> {
    let mut smsc_config = SmscConfig::loopback("bench", "bench");
    smsc_config.receipts = false;
    smsc_config.record = false;
    let smsc = TestSmsc::start(smsc_config, Arc::new(DeliverAll)).await?;
    let addr = smsc.local_addr();
    let mut config = SmppClientConfig::new(
        addr.ip().to_string(),
        addr.port(),
        "bench",
        Password::new("bench"),
    );
    config.binds = binds;
    config.window_size = BENCH_WINDOW;
    config.throughput_per_bind = None;
    config.profile.registered_delivery = 0;
    let (handle, events) = SmppClient::start(config)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while handle.bound_binds() < binds {
        if Instant::now() > deadline {
            return Err(BenchError::Binds {
                bound: handle.bound_binds(),
                binds,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut tp_ud = vec![0x02, 0x70, 0x00];
    tp_ud.extend((0..BENCH_TP_UD_LEN - 3).map(|i| i as u8));
    let start = Instant::now();
    let mut tasks = JoinSet::new();
    for i in 0..messages {
        let handle = handle.clone();
        let submit = Submit::new(format!("49170{i:07}"), tp_ud.clone());
        tasks.spawn(async move { handle.submit(submit).await });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| BenchError::Task(e.to_string()))??;
    }
    let elapsed = start.elapsed();
    handle.shutdown().await;
    drop(events);
    let counted = smsc.counters().submitted;
    smsc.shutdown().await;
    if counted != messages as u64 {
        return Err(BenchError::Count {
            counted,
            expected: messages,
        });
    }
    Ok(SubmitThroughput {
        binds,
        window: BENCH_WINDOW,
        messages,
        elapsed,
        per_second: messages as f64 / elapsed.as_secs_f64().max(1e-9),
    })
}
