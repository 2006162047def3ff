//! I/O plumbing shared by the SM-SR and the SM-DP (SGP.02 §2.6 and Annex B: SOAP over HTTPS with mutual TLS).
//!
//! [`tls`] builds the mutual-TLS listeners and extracts the caller's certificate from each connection;
//! [`client`] is the SOAP client both servers use for outgoing calls, callbacks and notifications.
//! Protocol bytes live in es-interfaces, persistence in eis-store; this crate only moves them.

pub mod capture;
pub mod client;
pub mod clock;
pub mod tls;
