//! The SM-DP (GSMA SGP.02 §2.2.3): ES2, ES3 (client and callback receiver), profile warehouse, personalisation.
//!
//! [`functions`] dispatches ES2 requests and ES3 callbacks/notifications arriving through es-runtime's SOAP
//! endpoint; [`relay`] carries the MNO's platform-management functions over ES3 to the SM-SR and turns the
//! SM-SR's callbacks and notifications into ES2 ones; [`saip`] is the profile package codec and personaliser,
//! [`batch`] the MNO order-file parsers, [`warehouse`] the profile types, order import, stock and output files
//! built on them, [`rest`] the MNOs' REST API over the warehouse, [`rest_es2`] the ES2 REST twin; [`metrics`]
//! is what `/metrics` shows of it.

pub mod batch;
pub mod download;
pub mod error;
pub mod functions;
pub mod metrics;
pub mod relay;
pub mod rest;
pub mod rest_es2;
pub mod saip;
pub mod service;
pub mod warehouse;
