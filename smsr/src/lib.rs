//! The SM-SR (GSMA SGP.02 §2.2.4): ES1, ES3 (provider), ES4, ES7, ES5 delivery, POL2, notifications.
//!
//! Requests arrive through es-runtime's SOAP endpoint (mutual TLS, caller resolution, function-call records)
//! and are run by [`functions`] against the store; [`es1`] registers EISs, [`eis_map`] converts and filters
//! EISs per caller, [`platform`] checks and starts the platform-management functions of ES3/ES4, whose
//! [`operation`]s (one [`procedure`] module per SGP.02 procedure, each a table of states and transitions) run over [`es5`] (SCP80 over SMS via [`smpp`]; [`scp81`] is the HTTPS admin server) and answer through [`outgoing`] callbacks and
//! notifications. [`download`] is the SM-SR's part of profile download (ES3.CreateISDP, SendData,
//! ProfileDownloadCompleted). [`esm2m`] is the eUICC owner's REST API (bearer tokens, the owner's eUICCs);
//! [`rest`] is the MNOs' ES4 REST twin; [`metrics`] is what `/metrics` shows of it.

pub mod download;
pub mod eis_map;
pub mod error;
pub mod es1;
pub mod es5;
pub mod esm2m;
pub mod functions;
pub mod metrics;
pub mod operation;
pub mod outgoing;
pub mod platform;
pub mod procedure;
pub mod rest;
pub mod scp81;
pub mod service;
pub mod smpp;
pub mod smsr_change;
