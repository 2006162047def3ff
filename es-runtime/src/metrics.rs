//! Prometheus metrics and readiness of a server (issue 14 item 4; docs/operations.md says what to alert on).
//!
//! Each server (SM-SR, SM-DP) owns one [`ServerMetrics`]: a `prometheus` registry with the metrics both have —
//! function calls by interface, function and status with their latency (counted in
//! [`crate::soap_endpoint::invoke`], the one place SOAP and the REST twins meet), the database pool, the outbox
//! backlog — to which the server adds its own (ES5 and operations for the SM-SR, stock for the SM-DP). Counters
//! live in the process; gauges that come from the database are read at scrape time by
//! [`Monitored::refresh_gauges`] with aggregate queries, at most once per [`REFRESH_INTERVAL`].
//! [`configure_metrics`] serves `/metrics` in the Prometheus text format (0.0.4), `/health` and
//! `/health/ready` (JSON: is the database up, are the SMSC binds up) on the plain-HTTP metrics listener.
//!
//! The `prometheus` crate (TiKV's) is used rather than `prometheus-client`: it writes the classic text format
//! that Prometheus and `promtool check metrics` read as such, where `prometheus-client` writes OpenMetrics.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpResponse, web};
use eis_store::{AnyConnection, StoreError, outbox};
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use serde_json::{Map, Value, json};

use crate::soap_endpoint::ServerContext;

/// Gauges read from the database are refreshed at most this often (scrapes in between get the cached values).
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(1);

/// How long a scrape or a readiness check waits for a database connection.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// Latency buckets of function calls and PoRs (seconds): 1 ms to 1 min.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A metric could not be registered or the registry not encoded.
#[derive(Debug, thiserror::Error)]
#[error("metrics: {0}")]
pub struct MetricsError(#[from] prometheus::Error);

/// How a function call ended at the endpoint (label `status` of `rsp_function_calls_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    /// A synchronous function executed and answered.
    Executed,
    /// An asynchronous function was accepted (202); its result follows as a callback.
    Accepted,
    /// The function ran and ended FAILED (SGP.02 §5.1.6.2).
    Failed,
    /// Refused before it ran (a check of the request, a FunctionCallIdentifier already used).
    Refused,
    /// The server could not execute it (an internal failure, e.g. the database).
    Error,
    /// A repeated FunctionCallIdentifier answered from the record.
    Replayed,
}

impl CallStatus {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Executed => "executed",
            CallStatus::Accepted => "accepted",
            CallStatus::Failed => "failed",
            CallStatus::Refused => "refused",
            CallStatus::Error => "error",
            CallStatus::Replayed => "replayed",
        }
    }
}

/// The metrics both servers have, in the server's registry (design §8 "Metrics").
pub struct ServerMetrics {
    registry: Registry,
    calls: IntCounterVec,
    call_seconds: HistogramVec,
    database_up: IntGauge,
    pool: IntGaugeVec,
    pool_max: IntGaugeVec,
    outbox: IntGaugeVec,
    outbox_oldest: Gauge,
    refreshed: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for ServerMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerMetrics").finish_non_exhaustive()
    }
}

impl ServerMetrics {
    /// A registry with the shared metrics registered.
    pub fn new() -> Result<ServerMetrics, MetricsError> {
        let registry = Registry::new();
        let calls = IntCounterVec::new(
            Opts::new(
                "rsp_function_calls_total",
                "Function calls (SOAP and REST) by interface, function and how they ended",
            ),
            &["interface", "function", "status"],
        )?;
        let call_seconds = HistogramVec::new(
            HistogramOpts::new(
                "rsp_function_call_duration_seconds",
                "Time from the decoded request to the answer of a function call",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["interface", "function"],
        )?;
        let database_up = IntGauge::new(
            "rsp_database_up",
            "1 when the last scrape reached the database, else 0",
        )?;
        let pool = IntGaugeVec::new(
            Opts::new(
                "rsp_db_pool_connections",
                "Database pool connections by pool (main, reads) and state (in_use, idle)",
            ),
            &["pool", "state"],
        )?;
        let pool_max = IntGaugeVec::new(
            Opts::new(
                "rsp_db_pool_max_connections",
                "Size of each database pool (main: pool_size; reads: the API's read connections on PostgreSQL)",
            ),
            &["pool"],
        )?;
        let outbox = IntGaugeVec::new(
            Opts::new(
                "rsp_outbox_messages",
                "Outgoing callbacks, notifications and webhooks not yet delivered, by state (pending, in_flight)",
            ),
            &["state"],
        )?;
        let outbox_oldest = Gauge::new(
            "rsp_outbox_oldest_message_age_seconds",
            "Age of the oldest undelivered outbox message (0 when none)",
        )?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(call_seconds.clone()))?;
        registry.register(Box::new(database_up.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(pool_max.clone()))?;
        registry.register(Box::new(outbox.clone()))?;
        registry.register(Box::new(outbox_oldest.clone()))?;
        Ok(ServerMetrics {
            registry,
            calls,
            call_seconds,
            database_up,
            pool,
            pool_max,
            outbox,
            outbox_oldest,
            refreshed: Mutex::new(None),
        })
    }

    /// The registry, for the server's own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Counts one function call of `function` (e.g. `EnableProfile`) on `interface` and its latency.
    pub fn observe_call(
        &self,
        interface: &str,
        function: &str,
        status: CallStatus,
        elapsed: Duration,
    ) {
        self.calls
            .with_label_values(&[interface, function, status.as_str()])
            .inc();
        self.call_seconds
            .with_label_values(&[interface, function])
            .observe(elapsed.as_secs_f64());
    }

    /// The registry in the Prometheus text format, after refreshing the gauges of `server` that come from
    /// the database if the last refresh is older than [`REFRESH_INTERVAL`]. A database that cannot be reached
    /// sets `rsp_database_up` to 0 and keeps the other gauges as last read.
    pub fn scrape<M: Monitored + ?Sized>(&self, server: &M) -> Result<String, MetricsError> {
        for (name, pool) in server.store().pool_states() {
            self.pool
                .with_label_values(&[name, "in_use"])
                .set(i64::from(pool.connections.saturating_sub(pool.idle)));
            self.pool
                .with_label_values(&[name, "idle"])
                .set(i64::from(pool.idle));
            self.pool_max
                .with_label_values(&[name])
                .set(i64::from(pool.max));
        }
        {
            // Held while refreshing, so that concurrent scrapes do not query the database twice.
            let mut last = self.refreshed.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL) {
                match self.refresh(server) {
                    Ok(()) => self.database_up.set(1),
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: the database gauges could not be read");
                        self.database_up.set(0);
                    }
                }
                *last = Some(Instant::now());
            }
        }
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn refresh<M: Monitored + ?Sized>(&self, server: &M) -> Result<(), StoreError> {
        let mut conn = server.store().conn_within(DATABASE_TIMEOUT)?;
        let backlog = outbox::backlog(&mut conn)?;
        self.outbox
            .with_label_values(&["pending"])
            .set(backlog.pending);
        self.outbox
            .with_label_values(&["in_flight"])
            .set(backlog.in_flight);
        self.outbox_oldest.set(age_seconds(
            server.clock().now_millis(),
            backlog.oldest_created_at,
        ));
        server.refresh_gauges(&mut conn)
    }
}

/// Seconds from `since` (unix ms) to `now`, 0 when there is nothing.
pub fn age_seconds(now: i64, since: Option<i64>) -> f64 {
    since.map_or(0.0, |t| now.saturating_sub(t).max(0) as f64 / 1000.0)
}

/// One readiness check besides the database's.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// Its key in the readiness document (e.g. `smsc`).
    pub name: &'static str,
    /// Whether it is up.
    pub up: bool,
    /// What else it says (e.g. `bindsUp`, `binds`).
    pub detail: Map<String, Value>,
}

/// A server with metrics: what `/metrics` and `/health/ready` need besides [`ServerContext`].
pub trait Monitored: ServerContext {
    /// Refreshes its own gauges that come from the database, on `conn` (aggregate queries only).
    fn refresh_gauges(&self, conn: &mut AnyConnection) -> Result<(), StoreError>;
    /// Its readiness checks besides the database (the SM-SR's SMSC binds).
    fn checks(&self) -> Vec<Check>;
}

/// The readiness document and whether the server is ready: the database answers within
/// [`DATABASE_TIMEOUT`] and every [`Monitored::checks`] is up.
pub fn readiness<M: Monitored + ?Sized>(server: &M) -> (bool, Value) {
    let db = server.store().ping(DATABASE_TIMEOUT);
    let mut ready = db.is_ok();
    let mut doc = Map::new();
    let mut database = Map::new();
    database.insert("up".into(), json!(db.is_ok()));
    database.insert(
        "backend".into(),
        json!(format!("{:?}", server.store().backend()).to_lowercase()),
    );
    if let Err(e) = db {
        database.insert("error".into(), json!(e.to_string()));
    }
    doc.insert("database".into(), Value::Object(database));
    for c in server.checks() {
        ready &= c.up;
        let mut m = c.detail;
        m.insert("up".into(), json!(c.up));
        doc.insert(c.name.into(), Value::Object(m));
    }
    doc.insert("ready".into(), json!(ready));
    (ready, Value::Object(doc))
}

/// Registers `/metrics` (Prometheus text format), `/health` and `/health/ready` (see [`configure_ready`]) for
/// `server`: the routes of the plain-HTTP metrics listener.
pub fn configure_metrics<M: Monitored>(cfg: &mut web::ServiceConfig, server: Arc<M>) {
    cfg.route("/metrics", web::get().to(metrics_get::<M>))
        .route("/health", web::get().to(health));
    configure_ready(cfg, server);
}

/// Registers `/health/ready`: `200` when the database answers and the SMSC binds (SM-SR with SMPP) are up,
/// else `503`, with a JSON body saying which, e.g.
/// `{"database":{"backend":"sqlite","up":true},"ready":true,"smsc":{"binds":1,"bindsUp":1,"up":true}}`.
pub fn configure_ready<M: Monitored>(cfg: &mut web::ServiceConfig, server: Arc<M>) {
    cfg.app_data(web::Data::from(server))
        .route("/health/ready", web::get().to(ready_get::<M>));
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

async fn metrics_get<M: Monitored>(m: web::Data<M>) -> HttpResponse {
    let m = m.into_inner();
    match web::block(move || m.metrics().scrape(&*m)).await {
        Ok(Ok(text)) => HttpResponse::Ok()
            .content_type(TextEncoder::new().format_type())
            .body(text),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "metrics could not be encoded");
            HttpResponse::InternalServerError().finish()
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics scrape did not complete");
            HttpResponse::ServiceUnavailable().finish()
        }
    }
}

async fn ready_get<M: Monitored>(m: web::Data<M>) -> HttpResponse {
    let m = m.into_inner();
    match web::block(move || readiness(&*m)).await {
        Ok((true, doc)) => HttpResponse::Ok().json(doc),
        Ok((false, doc)) => HttpResponse::ServiceUnavailable().json(doc),
        Err(e) => {
            tracing::error!(error = %e, "readiness check did not complete");
            HttpResponse::ServiceUnavailable().json(json!({"ready": false}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text format carries the counter, the histogram and its buckets under the names documented.
    #[test]
    fn call_metrics_are_encoded() {
        let m = ServerMetrics::new().expect("registry");
        m.observe_call(
            "ES4",
            "EnableProfile",
            CallStatus::Accepted,
            Duration::from_millis(3),
        );
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&m.registry().gather(), &mut out)
            .expect("encode");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.contains(
                "rsp_function_calls_total{function=\"EnableProfile\",interface=\"ES4\",status=\"accepted\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("rsp_function_call_duration_seconds_bucket{function=\"EnableProfile\",interface=\"ES4\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(text.contains("# TYPE rsp_function_call_duration_seconds histogram"));
    }

    #[test]
    fn ages() {
        assert_eq!(age_seconds(10_000, None), 0.0);
        assert_eq!(age_seconds(10_000, Some(7_500)), 2.5);
        assert_eq!(age_seconds(10_000, Some(12_000)), 0.0);
    }
}
