//! The SM-SR (GSMA SGP.02 §2.2.2): ES1, ES3 (provider), ES4, ES7, ES5 delivery, POL2, notifications.

pub mod smpp;
