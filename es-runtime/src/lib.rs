//! I/O plumbing shared by the SM-SR and the SM-DP (SGP.02 §2.6 and Annex B: SOAP over HTTPS with mutual TLS).
//!
//! [`tls`] builds the mutual-TLS listeners and extracts the caller's certificate from each connection,
//! [`caller`] resolves it to a registered entity, [`soap_endpoint`] runs the SOAP function pipeline (parse,
//! authorise, decode, function-call record, run, answer), [`rest_twin`] the same pipeline for the ES2/ES4 REST twins, [`listener`] starts a listener, [`client`] is the
//! SOAP client for outgoing calls, callbacks and notifications, [`destination`] decides where it may call,
//! [`outbox`] delivers them from the store's outbox, [`mno`] is the operator's side of ES2/ES4 (caller and
//! callback receiver), [`clock`] injects time, [`capture`] records emitted messages for conformance checks and [`metrics`] serves
//! `/metrics` and `/health/ready`.
//! Protocol bytes live in es-interfaces, persistence in eis-store; this crate only moves them.

pub mod caller;
pub mod capture;
pub mod client;
pub mod clock;
pub mod destination;
pub mod listener;
pub mod metrics;
pub mod mno;
pub mod outbox;
pub mod rest_twin;
pub mod retention;
pub mod soap_endpoint;
pub mod tls;
