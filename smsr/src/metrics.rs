//! The SM-SR's metrics (issue 14 item 4; docs/operations.md): the shared ones of
//! [`es_runtime::metrics::ServerMetrics`] plus operations by kind and state, the ES5 queue, submit_sm, PoRs and
//! their latency, retransmissions and the SMPP binds. Counters are counted where the event happens (operation
//! state changes in [`crate::esm2m::events`], the one place every change passes; ES5 traffic in
//! [`crate::es5::runtime`] after its transaction committed); gauges from the database are read at scrape time.

use std::sync::Mutex;

use eis_store::operations::OperationState;
use eis_store::{AnyConnection, StoreError, es5_queue, operations};
use es_runtime::metrics::{
    Check, LATENCY_BUCKETS, MetricsError, Monitored, ServerMetrics, age_seconds,
};
use es_runtime::soap_endpoint::ServerContext;
use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts};
use serde_json::json;

use crate::service::Smsr;
use crate::smpp::SmppHandle;

/// The SM-SR's metrics, all in the registry of [`SmsrMetrics::server`].
pub struct SmsrMetrics {
    /// The metrics both servers have (and the registry).
    pub server: ServerMetrics,
    operations: IntCounterVec,
    open_operations: IntGaugeVec,
    es5_commands: IntGaugeVec,
    es5_oldest: Gauge,
    submit_sm: IntCounterVec,
    mo_packets: IntCounterVec,
    mo_segments: IntCounterVec,
    por_seconds: Histogram,
    retransmissions: IntCounter,
    binds: IntGaugeVec,
    smpp: Mutex<Option<SmppHandle>>,
}

impl std::fmt::Debug for SmsrMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsrMetrics").finish_non_exhaustive()
    }
}

impl SmsrMetrics {
    /// A registry with the shared and the SM-SR's metrics registered.
    pub fn new() -> Result<SmsrMetrics, MetricsError> {
        let server = ServerMetrics::new()?;
        let operations = IntCounterVec::new(
            Opts::new(
                "rsp_smsr_operations_total",
                "Operations that entered a state (Active when created, AwaitingNotification, Done, Failed, Expired), by kind",
            ),
            &["kind", "state"],
        )?;
        let open_operations = IntGaugeVec::new(
            Opts::new(
                "rsp_smsr_operations_open",
                "Operations under way (Active, AwaitingNotification) by kind and state",
            ),
            &["kind", "state"],
        )?;
        let es5_commands = IntGaugeVec::new(
            Opts::new(
                "rsp_smsr_es5_commands",
                "ES5 commands by state (queued, in_flight) over all eUICCs",
            ),
            &["state"],
        )?;
        let es5_oldest = Gauge::new(
            "rsp_smsr_es5_oldest_queued_age_seconds",
            "Age of the oldest queued ES5 command (0 when none)",
        )?;
        let submit_sm = IntCounterVec::new(
            Opts::new(
                "rsp_smsr_submit_sm_total",
                "SMS submitted to the SMSC (submit_sm), by result (ok: submit_sm_resp OK; error: refused, timed out or lost)",
            ),
            &["result"],
        )?;
        let mo_packets = IntCounterVec::new(
            Opts::new(
                "rsp_smsr_mo_packets_total",
                "Reassembled MO packets from eUICCs by kind (por, notification) and outcome (handled, dropped, error)",
            ),
            &["kind", "outcome"],
        )?;
        let mo_segments = IntCounterVec::new(
            Opts::new(
                "rsp_smsr_mo_segments_total",
                "Segments of concatenated MO SMS by outcome (held for the rest of the message, completed it, dropped, expired before the message was complete)",
            ),
            &["outcome"],
        )?;
        let por_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "rsp_smsr_por_latency_seconds",
                "Time from a command's last transmission to the PoR that completed it",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        let retransmissions = IntCounter::new(
            "rsp_smsr_es5_retransmissions_total",
            "ES5 commands sent again over SMS because no PoR came in time",
        )?;
        let binds = IntGaugeVec::new(
            Opts::new(
                "rsp_smsr_smpp_binds",
                "SMPP binds to the SMSC: configured and up",
            ),
            &["state"],
        )?;
        let r = server.registry();
        r.register(Box::new(operations.clone()))?;
        r.register(Box::new(open_operations.clone()))?;
        r.register(Box::new(es5_commands.clone()))?;
        r.register(Box::new(es5_oldest.clone()))?;
        r.register(Box::new(submit_sm.clone()))?;
        r.register(Box::new(mo_packets.clone()))?;
        r.register(Box::new(mo_segments.clone()))?;
        r.register(Box::new(por_seconds.clone()))?;
        r.register(Box::new(retransmissions.clone()))?;
        r.register(Box::new(binds.clone()))?;
        Ok(SmsrMetrics {
            server,
            operations,
            open_operations,
            es5_commands,
            es5_oldest,
            submit_sm,
            mo_packets,
            mo_segments,
            por_seconds,
            retransmissions,
            binds,
            smpp: Mutex::new(None),
        })
    }

    /// An operation of `kind` entered `state` (in the transaction that made the change: a transaction rolled
    /// back and run again counts twice).
    pub fn operation_entered(&self, kind: &str, state: OperationState) {
        self.operations
            .with_label_values(&[kind, state.as_str()])
            .inc();
    }

    /// One submit_sm answered (`ok`) or not.
    pub fn submit_sm(&self, ok: bool) {
        self.submit_sm
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    /// One reassembled MO packet of `kind` (`por`, `notification`) with `outcome` (`handled`, `dropped`,
    /// `error`), counted after its transaction committed.
    pub fn mo_packet(&self, kind: &str, outcome: &str) {
        self.mo_packets.with_label_values(&[kind, outcome]).inc();
    }

    /// `n` segments of concatenated MO SMS came to `outcome` (`held`, `completed`, `dropped`, `expired`),
    /// counted after their transaction committed (3GPP TS 23.040 §9.2.3.24.1).
    pub fn mo_segments(&self, outcome: &str, n: usize) {
        self.mo_segments
            .with_label_values(&[outcome])
            .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
    }

    /// A PoR completed its command `millis` after the command's last transmission.
    pub fn por_latency(&self, millis: i64) {
        self.por_seconds.observe(millis.max(0) as f64 / 1000.0);
    }

    /// `n` commands were sent again for want of a PoR.
    pub fn retransmitted(&self, n: u64) {
        self.retransmissions.inc_by(n);
    }

    /// The SMPP client whose binds `/health/ready` and `rsp_smsr_smpp_binds` report (set when ES5 starts).
    pub fn attach_smpp(&self, smpp: SmppHandle) {
        *self.smpp.lock().unwrap_or_else(|p| p.into_inner()) = Some(smpp);
    }

    /// Binds up and configured, when an SMPP client is attached.
    fn bind_state(&self) -> Option<(usize, usize)> {
        self.smpp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|s| (s.bound_binds(), s.binds()))
    }
}

impl Monitored for Smsr {
    fn refresh_gauges(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let m = &self.metrics;
        m.open_operations.reset();
        for (kind, state, n) in operations::open_counts(conn)? {
            m.open_operations
                .with_label_values(&[&kind, state.as_str()])
                .set(n);
        }
        let q = es5_queue::backlog(conn)?;
        m.es5_commands.with_label_values(&["queued"]).set(q.queued);
        m.es5_commands
            .with_label_values(&["in_flight"])
            .set(q.in_flight);
        m.es5_oldest
            .set(age_seconds(self.clock().now_millis(), q.oldest_queued_at));
        if let Some((up, configured)) = m.bind_state() {
            m.binds
                .with_label_values(&["up"])
                .set(i64::try_from(up).unwrap_or(i64::MAX));
            m.binds
                .with_label_values(&["configured"])
                .set(i64::try_from(configured).unwrap_or(i64::MAX));
        }
        Ok(())
    }

    fn checks(&self) -> Vec<Check> {
        match self.metrics.bind_state() {
            Some((up, configured)) => {
                let mut detail = serde_json::Map::new();
                detail.insert("bindsUp".into(), json!(up));
                detail.insert("binds".into(), json!(configured));
                vec![Check {
                    name: "smsc",
                    up: up > 0,
                    detail,
                }]
            }
            None => Vec::new(),
        }
    }
}
