//! The SM-DP's state shared by every request and worker: its identity, store, keys and trust anchors.

use std::sync::Arc;

use certs::secrets::MasterKeyring;
use eis_store::Store;
use es_runtime::caller::CallerDirectory;
use es_runtime::clock::Clock;
use es_runtime::soap_endpoint::ServerIdentity;

/// The SM-DP.
pub struct Smdp {
    /// Who it is.
    pub identity: ServerIdentity,
    /// The warehouse and work queues.
    pub store: Store,
    /// Master key ring for secrets at rest (personalisation data).
    pub keyring: Arc<MasterKeyring>,
    /// Caller resolution.
    pub callers: CallerDirectory,
    /// Time.
    pub clock: Arc<dyn Clock>,
}
