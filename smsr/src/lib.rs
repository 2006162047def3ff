//! The SM-SR (GSMA SGP.02 §2.2.4): ES1, ES3 (provider), ES4, ES7, ES5 delivery, POL2, notifications.
//!
//! Requests arrive on [`http`] (mutual TLS, [`caller`] resolution), are decoded by es-interfaces and run by
//! [`functions`] against the store in one transaction with their function-call record; [`es1`] registers EISs,
//! [`eis_map`] converts and filters EISs per caller.

pub mod caller;
pub mod eis_map;
pub mod error;
pub mod es1;
pub mod functions;
pub mod http;
pub mod server;
pub mod service;
pub mod smpp;
