//! The SM-SR's state shared by every request and worker: its identity, store, keys and trust anchors.

use std::collections::HashMap;
use std::sync::Arc;

use certs::secrets::{MasterKeyring, TransportKey};
use certs::x509::X509Certificate;
use eis_store::Store;
use es_runtime::clock::Clock;

use es_runtime::caller::CallerDirectory;
use es_runtime::soap_endpoint::ServerIdentity;

/// What the SM-SR trusts: the CI root (chains CI → EUM → ECASD) and the EUM transport keys that protect key
/// values in ES1 (SGP.02 §2.3, §5.2.1).
pub struct Trust {
    /// The CI root certificate.
    pub ci: X509Certificate,
    /// EUM OID → its ES1 transport key.
    pub eum_transport_keys: HashMap<String, TransportKey>,
}

/// The SM-SR.
pub struct Smsr {
    /// Who it is (its OID is the `Smsr-id` of the EISs it holds).
    pub identity: ServerIdentity,
    /// The EIS repository and work queues.
    pub store: Store,
    /// Master key ring for secrets at rest.
    pub keyring: Arc<MasterKeyring>,
    /// Trust anchors.
    pub trust: Trust,
    /// Caller resolution.
    pub callers: CallerDirectory,
    /// Time.
    pub clock: Arc<dyn Clock>,
}
