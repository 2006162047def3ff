//! Who is calling (SGP.02 §2.6 mutual authentication; notes §2.4): the registered entity whose TLS client
//! certificate was presented, and whether its role may use the interface called.

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
    /// The interface name as registered in `allowed_interfaces` ("ES1", "ES2", …).
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
    /// A registered entity whose role may not use this interface (1.1 / 1.2).
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

/// A resolved certificate fingerprint (the caller, or none) and when it was resolved.
type CacheEntry = (Option<Caller>, Instant);

/// Resolves certificates to callers, with a short-lived cache so that the registry is not read on every call.
pub struct CallerDirectory {
    cache: RwLock<HashMap<[u8; 32], CacheEntry>>,
    ttl: Duration,
}

impl CallerDirectory {
    /// A directory whose answers are reused for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        CallerDirectory {
            cache: RwLock::new(HashMap::new()),
            ttl,
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
        let entity = self.lookup(store, cert)?.ok_or_else(|| {
            CallerError::Unknown(format!(
                "no registered entity owns the certificate {} ({})",
                cert.fingerprint_hex(),
                cert.subject
            ))
        })?;
        if entity.role != interface.role {
            return Err(CallerError::NotAllowed {
                oid: entity.oid,
                role: entity.role.as_str().to_string(),
                interface: interface.name,
            });
        }
        Ok(entity)
    }

    fn lookup(&self, store: &Store, cert: &PeerCertificate) -> Result<Option<Caller>, CallerError> {
        if let Ok(cache) = self.cache.read()
            && let Some((caller, at)) = cache.get(&cert.sha256)
            && at.elapsed() < self.ttl
        {
            return Ok(caller.clone());
        }
        let mut conn = store.conn()?;
        let caller = entities::find_by_fingerprint(&mut conn, &cert.sha256)?.map(|e| Caller {
            oid: e.oid,
            name: e.name,
            role: e.role,
        });
        if let Ok(mut cache) = self.cache.write() {
            cache.insert(cert.sha256, (caller.clone(), Instant::now()));
        }
        Ok(caller)
    }
}
