//! ES2.DownloadProfile (SGP.02 §3.1 "Profile Download and Installation"): one persisted procedure per call.
//!
//! - [`procedure`]: the procedure as a pure state machine, phase by phase against §3.1.1–§3.1.4.
//! - [`es8`]: the SM-DP's end of ES8 (key establishment, SCP03t scripts and their checks), recomputable from
//!   the persisted inputs.
//! - [`driver`]: the I/O around it — the ES2 function (reservation of the stock record and the first step in
//!   the call's transaction), the worker that sends each step's ES3 request from the job queue
//!   ([`eis_store::jobs`], outside any transaction), and the ES3 callbacks that advance the procedure.

pub mod driver;
pub mod es8;
pub mod procedure;

use std::time::Duration;

pub use procedure::Es8Identity;

/// What the SM-DP needs to download profiles.
#[derive(Debug)]
pub struct DownloadSettings {
    /// CERT.DP.ECDSA, SK.DP.ECDSA and the CI/EUM trust anchors.
    pub identity: Es8Identity,
    /// Largest command script of one ES3.SendData, in bytes (download contract: default 1,000).
    pub script_budget: usize,
    /// Validity of a download whose ES2 request carries no ValidityPeriod.
    pub default_validity: Duration,
    /// Validity of the ES3.DeleteISDP of the error management sub-routine (it may wait for the eUICC).
    pub cleanup_validity: Duration,
    /// Number of download steps a worker runs at once.
    pub parallel_steps: usize,
    /// The SCP03t load scripts kept between the steps of the downloads in `Loading` (wire-profile §7).
    pub load_cache: driver::LoadCache,
}

impl DownloadSettings {
    /// Settings with the contract's defaults: 1,000-byte scripts, 1 hour without a ValidityPeriod, 7 days for
    /// the clean-up, 16 steps at once.
    pub fn new(identity: Es8Identity) -> DownloadSettings {
        DownloadSettings {
            identity,
            script_budget: es_interfaces::wire_profile::SEND_DATA_SCRIPT_BUDGET,
            default_validity: Duration::from_secs(3600),
            cleanup_validity: Duration::from_secs(7 * 24 * 3600),
            parallel_steps: 16,
            load_cache: driver::LoadCache::default(),
        }
    }
}

#[cfg(test)]
mod tests;
