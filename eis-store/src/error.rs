//! The store's error type, mapped by the servers to SGP.02 status codes (SGP.02 §5.1.6.4) or problem+json.

use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// The kind of record an error refers to (names follow SGP.02 §5 and the design's data model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// An entity of the registry: MNO, SM-DP, SM-SR, EUM or eUICC owner (SGP.02 §2.2).
    Entity,
    /// A TLS client-certificate fingerprint of an entity (SGP.02 §2.3.1, mutual TLS).
    Fingerprint,
    /// An eUICC Information Set (SGP.02 §5.1.1.2.1 / A1 `EISType`), keyed by EID.
    Eis,
    /// A profile of an eUICC (A1 `ProfileInfo`), keyed by ICCID.
    Profile,
    /// A key set of a security domain (A1 `SecurityDomainType/Keyset`).
    Keyset,
    /// A recorded function call (SGP.02 §5.1.6, FunctionCallIdentifier).
    FunctionCall,
    /// A job of the work queue.
    Job,
    /// An outbox message (callbacks, notifications).
    OutboxMessage,
    /// An ES5 command queued for an eUICC (SGP.02 §5.6).
    Es5Command,
    /// A profile type of the SM-DP warehouse (SGP.02 §5.3, ProfileType).
    ProfileType,
    /// An order of personalisation records imported into the warehouse.
    Order,
    /// A personalisation record of the warehouse, keyed by ICCID.
    StockRecord,
    /// An operation of the SM-SR (asynchronous function call or notification being confirmed).
    Operation,
    /// An ES2 function relayed by the SM-DP to the SM-SR over ES3.
    Relay,
    /// A profile download procedure of the SM-DP (SGP.02 §3.1).
    Download,
    /// An API token of an eUICC owner (ESM2M, design §1).
    OwnerToken,
    /// An ESM2M webhook endpoint.
    WebhookEndpoint,
    /// An ESM2M `Idempotency-Key` of an owner.
    IdempotencyKey,
}

impl std::fmt::Display for RecordKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            RecordKind::Entity => "entity",
            RecordKind::Fingerprint => "certificate fingerprint",
            RecordKind::Eis => "EIS",
            RecordKind::Profile => "profile",
            RecordKind::Keyset => "key set",
            RecordKind::FunctionCall => "function call",
            RecordKind::Job => "job",
            RecordKind::OutboxMessage => "outbox message",
            RecordKind::Es5Command => "ES5 command",
            RecordKind::ProfileType => "profile type",
            RecordKind::Order => "order",
            RecordKind::StockRecord => "stock record",
            RecordKind::Operation => "operation",
            RecordKind::Relay => "relayed call",
            RecordKind::Download => "download",
            RecordKind::OwnerToken => "owner API token",
            RecordKind::WebhookEndpoint => "webhook endpoint",
            RecordKind::IdempotencyKey => "idempotency key",
        };
        f.write_str(s)
    }
}

/// Errors of the persistence layer. Messages name the record, never secret or encrypted bytes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The record does not exist.
    #[error("{kind} {key} not found")]
    NotFound {
        /// Which kind of record.
        kind: RecordKind,
        /// Its key (EID, ICCID, OID, id).
        key: String,
    },
    /// A record with this key exists already; the stored one was left untouched.
    #[error("{kind} {key} already exists")]
    AlreadyExists {
        /// Which kind of record.
        kind: RecordKind,
        /// Its key (EID, ICCID, OID, id).
        key: String,
    },
    /// The record changed since it was read (optimistic version check) or is not in the expected state.
    #[error("{kind} {key}: {detail}")]
    Conflict {
        /// Which kind of record.
        kind: RecordKind,
        /// Its key.
        key: String,
        /// What was expected and what was found.
        detail: String,
    },
    /// The SCP80 counter of a key set would pass 2^40 - 1 (ETSI TS 102 225 §5.1.1.1: CNTR is 5 bytes).
    #[error("SCP80 counter of key set {keyset_version} of eUICC {eid} is exhausted")]
    CounterExhausted {
        /// The eUICC.
        eid: String,
        /// The key set version.
        keyset_version: u8,
    },
    /// The database stayed busy (SQLITE_BUSY, serialization failure, deadlock) after the bounded retries.
    #[error("database busy: {0}")]
    Busy(String),
    /// A stored value could not be read back (unknown enum text, malformed JSON, wrong length).
    #[error("invalid stored data in {what}: {detail}")]
    InvalidData {
        /// Table and column.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// A caller-supplied value cannot be stored (out of range, malformed).
    #[error("invalid argument {what}: {detail}")]
    InvalidArgument {
        /// Which argument.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// The database URL is not understood.
    #[error("unsupported database URL: {0}")]
    InvalidUrl(String),
    /// No connection could be taken from or made for the pool.
    #[error("connection pool: {0}")]
    Pool(String),
    /// Running the embedded migrations failed.
    #[error("migration: {0}")]
    Migration(String),
    /// Any other database error.
    #[error("database: {0}")]
    Backend(String),
}

impl StoreError {
    /// Whether retrying the whole transaction may succeed (busy, serialization failure, deadlock).
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Busy(_))
    }

    pub(crate) fn not_found(kind: RecordKind, key: impl Into<String>) -> Self {
        StoreError::NotFound {
            kind,
            key: key.into(),
        }
    }

    pub(crate) fn exists(kind: RecordKind, key: impl Into<String>) -> Self {
        StoreError::AlreadyExists {
            kind,
            key: key.into(),
        }
    }

    pub(crate) fn conflict(
        kind: RecordKind,
        key: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        StoreError::Conflict {
            kind,
            key: key.into(),
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid_data(what: &'static str, detail: impl Into<String>) -> Self {
        StoreError::InvalidData {
            what,
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid_argument(what: &'static str, detail: impl Into<String>) -> Self {
        StoreError::InvalidArgument {
            what,
            detail: detail.into(),
        }
    }
}

/// Whether a diesel error is a transient concurrency failure worth retrying.
///
/// PostgreSQL: SQLSTATE 40001 (diesel's `SerializationFailure`) and 40P01 (deadlock; diesel exposes no
/// SQLSTATE for it, so the server's message "deadlock detected" is matched). SQLite: SQLITE_BUSY /
/// SQLITE_LOCKED ("database is locked", "database table is locked", "database is busy").
fn is_transient(e: &DieselError) -> bool {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => true,
        DieselError::DatabaseError(_, info) => {
            let m = info.message();
            m.contains("deadlock detected")
                || m.contains("database is locked")
                || m.contains("database table is locked")
                || m.contains("database is busy")
                || m.contains("could not serialize access")
        }
        _ => false,
    }
}

/// Whether a diesel error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

impl From<DieselError> for StoreError {
    fn from(e: DieselError) -> Self {
        if is_transient(&e) {
            return StoreError::Busy(e.to_string());
        }
        match e {
            DieselError::NotFound => StoreError::Backend("row not found".into()),
            DieselError::DatabaseError(kind, info) => {
                // Only the server's message: details may echo column values.
                StoreError::Backend(format!("{kind:?}: {}", info.message()))
            }
            other => StoreError::Backend(other.to_string()),
        }
    }
}
