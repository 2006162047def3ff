//! Persistence for the SM-SR and the SM-DP on SQLite (embedded default) and PostgreSQL (diesel).
//!
//! One crate, one binary, both backends (design §4–§5): [`Store::open`] picks the backend from the URL
//! scheme, runs the embedded migrations (`migrations/sqlite`, `migrations/postgres`) and hands out pooled
//! connections; [`Store::tx`] runs a closure in a transaction (IMMEDIATE on SQLite) with bounded retries.
//! Repositories are plain functions over `&mut AnyConnection` and plain record structs, one module per area:
//!
//! - [`entities`]: MNOs, SM-DPs, SM-SRs, EUMs, eUICC owners and their TLS client-certificate fingerprints.
//! - [`eis`]: the eUICC Information Set of the SM-SR (SGP.02 A1 `EISType`), profiles, POL2, audit trail.
//! - [`function_calls`]: FunctionCallIdentifier deduplication and recorded responses (SGP.02 §5.1.6).
//! - [`jobs`]: the work queue (claim with lease, backoff, dead jobs).
//! - [`outbox`]: outgoing HTTP messages written in the caller's transaction (callbacks, notifications).
//! - [`es5_queue`]: the SM-SR's per-eUICC ES5 command queue and the persisted SCP80 counters.
//! - [`operations`]: the SM-SR's asynchronous operations (platform management, notification confirmation).
//! - [`fleet`]: the owners' operation results, fleet operations and their targets, idempotent answers (ESM2M).
//! - [`owners`]: the SM-SR's eUICC owners (ESM2M): which eUICC belongs to whom, the owners' API token hashes.
//! - [`relays`]: the SM-DP's ES2 functions relayed to the SM-SR over ES3.
//! - [`warehouse`]: the SM-DP's profile types, orders and stock of personalisation records.
//! - [`rewrap`]: batched, resumable iteration over every sealed column for master-key rotation.
//!
//! The store holds no protocol logic and never sees clear keys: secrets arrive sealed ([`Sealed`]).

#![warn(missing_docs)]

pub mod bench;
pub mod connection;
pub mod downloads;
pub mod eis;
pub mod entities;
pub mod error;
pub mod es5_queue;
pub mod events;
pub mod fleet;
pub mod function_calls;
pub mod jobs;
pub mod mo_segments;
pub mod nodes;
pub mod operations;
pub mod outbox;
pub mod owners;
pub mod relays;
pub mod rewrap;
mod schema;
pub mod smsr_change;
pub mod warehouse;
pub mod webhooks;

pub use connection::{
    AnyConnection, Backend, DatabaseUrl, PoolState, PooledConn, READ_POOL_SIZE, Store, TxError,
    now_millis, savepoint,
};
pub use error::{RecordKind, StoreError};

/// Unix time in milliseconds: the representation of every timestamp in the store (portable across backends).
pub type UnixMillis = i64;

/// A secret encrypted at rest by the caller (design §4: keys, K/OPc, PINs encrypted at rest): the
/// ciphertext and the id of the master key that wrapped it. Debug output shows the key id and length only.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Identifier of the master key the value is encrypted under.
    pub key_id: String,
    /// The encrypted value (opaque to the store).
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Sealed {{ key_id: {:?}, ciphertext: [redacted, {} bytes] }}",
            self.key_id,
            self.ciphertext.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::Sealed;

    #[test]
    fn sealed_debug_hides_bytes() {
        let s = Sealed {
            key_id: "mk-1".into(),
            ciphertext: vec![0xAB; 20],
        };
        let d = format!("{s:?}");
        assert!(d.contains("mk-1") && d.contains("20 bytes"), "{d}");
        assert!(
            !d.to_lowercase().contains("ab, ") && !d.contains("171"),
            "{d}"
        );
    }
}
