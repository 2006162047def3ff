//! The SM-DP's metrics (issue 14 item 4; docs/operations.md): the shared ones of
//! [`es_runtime::metrics::ServerMetrics`] plus the warehouse's stock on hand by MNO, profile type and state, and
//! each type's low-stock threshold, and the downloads under way (or whose clean-up failed) by phase, read from
//! the database at scrape time.

use eis_store::{AnyConnection, StoreError, downloads, warehouse};
use es_runtime::metrics::{Check, MetricsError, Monitored, ServerMetrics};
use prometheus::{IntGaugeVec, Opts};

use crate::service::Smdp;

/// The SM-DP's metrics, all in the registry of [`SmdpMetrics::server`].
pub struct SmdpMetrics {
    /// The metrics both servers have (and the registry).
    pub server: ServerMetrics,
    stock: IntGaugeVec,
    low_stock: IntGaugeVec,
    downloads: IntGaugeVec,
}

impl std::fmt::Debug for SmdpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmdpMetrics").finish_non_exhaustive()
    }
}

impl SmdpMetrics {
    /// A registry with the shared and the SM-DP's metrics registered.
    pub fn new() -> Result<SmdpMetrics, MetricsError> {
        let server = ServerMetrics::new()?;
        let stock = IntGaugeVec::new(
            Opts::new(
                "rsp_smdp_stock_records",
                "Personalisation records not yet installed, by MNO, profile type and state (available, reserved, downloading)",
            ),
            &["mno", "profile_type", "state"],
        )?;
        let low_stock = IntGaugeVec::new(
            Opts::new(
                "rsp_smdp_stock_low_threshold",
                "The low-stock threshold of each profile type (rsp profile-type --low-stock)",
            ),
            &["mno", "profile_type"],
        )?;
        let downloads = IntGaugeVec::new(
            Opts::new(
                "rsp_smdp_downloads",
                "ES2.DownloadProfile procedures not done, by phase (CleanupFailed: the ISD-P may be left on the eUICC, the stock record held)",
            ),
            &["phase"],
        )?;
        server.registry().register(Box::new(stock.clone()))?;
        server.registry().register(Box::new(low_stock.clone()))?;
        server.registry().register(Box::new(downloads.clone()))?;
        Ok(SmdpMetrics {
            server,
            stock,
            low_stock,
            downloads,
        })
    }
}

impl Monitored for Smdp {
    fn refresh_gauges(&self, conn: &mut AnyConnection) -> Result<(), StoreError> {
        let levels = warehouse::stock_gauges(conn)?;
        let m = &self.metrics;
        // Deleted profile types leave no series behind.
        m.stock.reset();
        m.low_stock.reset();
        for g in levels {
            let (mno, name) = (g.mno_oid.as_str(), g.profile_type.as_str());
            for (state, n) in [
                ("available", g.available),
                ("reserved", g.reserved),
                ("downloading", g.downloading),
            ] {
                m.stock.with_label_values(&[mno, name, state]).set(n);
            }
            m.low_stock
                .with_label_values(&[mno, name])
                .set(g.low_stock_threshold);
        }
        m.downloads.reset();
        // Always present, so that an alert on it has a series to look at.
        m.downloads.with_label_values(&["CleanupFailed"]).set(0);
        for (phase, n) in downloads::count_open_by_phase(conn)? {
            m.downloads.with_label_values(&[phase.as_str()]).set(n);
        }
        Ok(())
    }

    fn checks(&self) -> Vec<Check> {
        Vec::new()
    }
}
