//! The SM-DP (GSMA SGP.02 §2.2.1): ES2, ES3 (client), profile warehouse, personalisation.

pub mod batch;
pub mod saip;
