//! The SM-SR's state shared by every request and worker: its identity, store, keys and trust anchors.

use std::collections::HashMap;
use std::sync::Arc;

use certs::secrets::{MasterKeyring, TransportKey};
use certs::x509::X509Certificate;
use eis_store::Store;
use es_runtime::clock::Clock;

use crate::caller::CallerDirectory;

/// Who this SM-SR is (SGP.02 §2.2.4): the OID and name it signs messages with, and where peers reach it.
#[derive(Debug, Clone)]
pub struct SmsrIdentity {
    /// Its OID (`Smsr-id` in the EIS, `EntityId` in wsa:From).
    pub oid: String,
    /// Its name (`EntityName`).
    pub name: String,
    /// Base URL of its ES listener, e.g. `https://smsr.example:8443`.
    pub public_url: String,
}

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
    /// Identity.
    pub identity: SmsrIdentity,
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
