//! ES5 over HTTPS (SCP81: GP Amendment B RAM over HTTP with PSK-TLS; SGP.02 §2.4.4; wire-profile §3): the SM-SR's
//! admin server. [`psk`] keeps the ISD-R PSKs in memory, filled from the store by a background task (the
//! OpenSSL PSK callback is synchronous and runs in the handshake: it reads the cache only); [`server`] is the
//! PSK-TLS 1.2 listener and the RAM-over-HTTP dialogue, whose scripts and responses go through the ES5 queue in
//! [`session`]; [`channel`] decides which eUICCs the SMS delivery leaves to it, and [`trigger`] sends them the
//! push SMS that opens the session, falling back to SMS when they do not connect.

pub mod channel;
pub mod psk;
pub mod server;
pub mod session;
pub mod trigger;

use std::time::Duration;

use eis_store::StoreError;

/// How the admin server runs (configuration `es5.https`).
#[derive(Debug, Clone)]
pub struct AdminSettings {
    /// Address to listen on.
    pub listen: String,
    /// The admin URI path: first POST of a session (trigger `8C`) and path of every Next-URI.
    pub admin_path: String,
    /// The PSK cache is read again from the store this often (and soon after an unknown identity).
    pub psk_refresh: Duration,
    /// Largest request body (a response script), bytes.
    pub max_body_bytes: usize,
    /// HTTP worker threads.
    pub workers: usize,
}

impl Default for AdminSettings {
    fn default() -> Self {
        AdminSettings {
            listen: "127.0.0.1:8444".into(),
            admin_path: "/gp/ram".into(),
            psk_refresh: Duration::from_secs(60),
            max_body_bytes: 256 * 1024,
            workers: 2,
        }
    }
}

/// Why the admin server or its PSK cache failed. Messages name the eUICC and key set, never key material.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The store failed.
    #[error("SCP81 store access: {0}")]
    Store(#[from] StoreError),
    /// A PSK cannot be unsealed.
    #[error("SCP81 PSK of {eid}, key set {kvn:#04x} key {key_id}: {why}")]
    Key {
        /// The eUICC.
        eid: String,
        /// Key set version.
        kvn: u8,
        /// Key index.
        key_id: u8,
        /// What is wrong (no key bytes).
        why: String,
    },
    /// OpenSSL refused the TLS configuration.
    #[error("SCP81 TLS configuration: {0}")]
    Tls(#[from] openssl::error::ErrorStack),
    /// The address could not be bound.
    #[error("SCP81 admin server cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The admin path is not an absolute path.
    #[error("SCP81 admin path {0:?} is not an absolute path without query")]
    AdminPath(String),
}
