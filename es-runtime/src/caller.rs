//! Who is calling (SGP.02 §2.6 mutual authentication; notes §2.4): the registered entity whose TLS client
//! certificate was presented, and whether it may use the interface called — its role must be the interface's
//! and the interface must be among the entity's `allowed_interfaces` (the operator's contract with it).
//!
//! The registry is read on every call that presents a known certificate, so that removing a fingerprint (a
//! revoked or replaced certificate) or an interface takes effect on the next request, in every process sharing
//! the database. Only "no entity owns this certificate" is remembered, for a short time, so that a client
//! retrying with an unregistered certificate does not read the registry on each attempt; a certificate
//! registered meanwhile is accepted once that short time has passed.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::tls::PeerCertificate;
use eis_store::entities::{self, EntityRole};
use eis_store::{Store, StoreError};
use es_interfaces::status::{Reason, StatusCodeData, Subject};

/// An interface a server provides, with the only role that may call it (SGP.02 §2.2, §5; notes §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Interface {
    /// The interface name an entity's `allowed_interfaces` must list ("ES1", "ES2", …, "REST").
    pub name: &'static str,
    /// The role admitted.
    pub role: EntityRole,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Its OID.
    pub oid: String,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: EntityRole,
}

/// Why a caller is refused.
#[derive(Debug, thiserror::Error)]
pub enum CallerError {
    /// No certificate, or one no registered entity owns (1.1 / 1.1).
    #[error("the function requester is unknown: {0}")]
    Unknown(String),
    /// A registered entity whose role may not use this interface, or whose `allowed_interfaces` does not list
    /// it (1.1 / 1.2).
    #[error("{oid} ({role}) is not allowed to call {interface}")]
    NotAllowed {
        /// The caller.
        oid: String,
        /// Its role.
        role: String,
        /// The interface.
        interface: &'static str,
    },
    /// The registry could not be read.
    #[error("the entity registry could not be read")]
    Store(#[from] StoreError),
}

impl CallerError {
    /// The SGP.02 status (§5.1.6.4: 1.1/1.1 unknown requester, 1.1/1.2 not allowed).
    pub fn status_code_data(&self) -> StatusCodeData {
        let (subject, reason) = match self {
            CallerError::Unknown(_) => (Subject::FUNCTION_REQUESTER, Reason::UNKNOWN_REQUESTER),
            CallerError::NotAllowed { .. } => (Subject::FUNCTION_REQUESTER, Reason::NOT_ALLOWED),
            CallerError::Store(_) => (Subject::FUNCTION_PROVIDER, Reason::EXECUTION_ERROR),
        };
        StatusCodeData::new(subject, reason, Some(self.to_string()))
    }
}

/// How long [`CallerDirectory::default`] refuses a certificate no entity owns without reading the registry again.
pub const UNKNOWN_CALLER_TTL: Duration = Duration::from_secs(2);

/// Most "unknown certificate" answers remembered at once; expired ones are dropped beyond this.
const MAX_UNKNOWN_ENTRIES: usize = 1024;

/// Resolves certificates to callers. Known certificates are looked up in the registry on every call; only
/// unknown ones are remembered, for `unknown_ttl`.
pub struct CallerDirectory {
    unknown: RwLock<HashMap<[u8; 32], Instant>>,
    unknown_ttl: Duration,
}

impl Default for CallerDirectory {
    /// A directory that remembers an unregistered certificate for [`UNKNOWN_CALLER_TTL`].
    fn default() -> Self {
        CallerDirectory::new(UNKNOWN_CALLER_TTL)
    }
}

impl CallerDirectory {
    /// A directory that remembers an unregistered certificate for `unknown_ttl` (how long a certificate
    /// registered after it was refused may still be refused).
    pub fn new(unknown_ttl: Duration) -> Self {
        CallerDirectory {
            unknown: RwLock::new(HashMap::new()),
            unknown_ttl,
        }
    }

    /// The caller presenting `cert` on `interface`, or why it is refused.
    pub fn resolve(
        &self,
        store: &Store,
        cert: Option<&PeerCertificate>,
        interface: Interface,
    ) -> Result<Caller, CallerError> {
        let cert = cert.ok_or_else(|| CallerError::Unknown("no client certificate".into()))?;
        let unknown = || {
            CallerError::Unknown(format!(
                "no registered entity owns the certificate {} ({})",
                cert.fingerprint_hex(),
                cert.subject
            ))
        };
        if self.recently_unknown(&cert.sha256) {
            return Err(unknown());
        }
        let mut conn = store.conn()?;
        let Some(entity) = entities::find_by_fingerprint(&mut conn, &cert.sha256)? else {
            self.remember_unknown(cert.sha256);
            return Err(unknown());
        };
        if entity.role != interface.role || !entity.allowed_interfaces.contains(interface.name) {
            return Err(CallerError::NotAllowed {
                oid: entity.oid,
                role: entity.role.as_str().to_string(),
                interface: interface.name,
            });
        }
        Ok(Caller {
            oid: entity.oid,
            name: entity.name,
            role: entity.role,
        })
    }

    fn recently_unknown(&self, sha256: &[u8; 32]) -> bool {
        self.unknown
            .read()
            .ok()
            .and_then(|m| m.get(sha256).map(|at| at.elapsed() < self.unknown_ttl))
            .unwrap_or(false)
    }

    fn remember_unknown(&self, sha256: [u8; 32]) {
        if self.unknown_ttl.is_zero() {
            return;
        }
        if let Ok(mut m) = self.unknown.write() {
            if m.len() >= MAX_UNKNOWN_ENTRIES {
                let ttl = self.unknown_ttl;
                m.retain(|_, at| at.elapsed() < ttl);
            }
            if m.len() < MAX_UNKNOWN_ENTRIES {
                m.insert(sha256, Instant::now());
            }
        }
    }
}
