//! The SM-DP's state shared by every request and worker: its identity, store, keys and trust anchors.

use std::sync::Arc;
use std::time::Duration;

use certs::secrets::MasterKeyring;
use eis_store::Store;
use es_runtime::caller::CallerDirectory;
use es_runtime::clock::Clock;
use es_runtime::soap_endpoint::ServerIdentity;
use tokio::sync::Notify;

use crate::download::DownloadSettings;
use crate::relay::Es3Client;

/// The SM-DP.
pub struct Smdp {
    /// Who it is.
    pub identity: ServerIdentity,
    /// The warehouse and work queues.
    pub store: Arc<Store>,
    /// Master key ring for secrets at rest (personalisation data).
    pub keyring: Arc<MasterKeyring>,
    /// Caller resolution.
    pub callers: CallerDirectory,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The ES3 client towards the SM-SRs (synchronous relays); `None`: ES2 platform management is refused.
    pub es3: Option<Es3Client>,
    /// How long callbacks and notifications to MNOs are retried.
    pub outbox_give_up: Duration,
    /// Where callbacks may go besides the callers' registered endpoints (SGP.02 §2.6; es_runtime::destination).
    pub outgoing: es_runtime::destination::OutgoingPolicy,
    /// Wakes the outbox dispatcher.
    pub wake_outbox: Arc<Notify>,
    /// ES2.DownloadProfile (SGP.02 §3.1): the SM-DP's ES8 identity and settings; `None`: download refused.
    pub download: Option<Arc<DownloadSettings>>,
    /// Wakes the download worker.
    pub wake_downloads: Arc<Notify>,
    /// Its metrics (`/metrics`, issue 14 item 4).
    pub metrics: Arc<crate::metrics::SmdpMetrics>,
}
