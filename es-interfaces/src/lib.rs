//! SGP.02 wire formats: everything that crosses an interface, as types with encoders and decoders, and no I/O.
//!
//! Off-card (SOAP over HTTPS, SGP.02 §5 and Annex B): [`xml`], [`soap`], [`status`], [`types`], [`messages`],
//! [`wsdl`]; [`rest`] for the REST twins' JSON. On-card (ES5 over SMS, ES8; docs/wire-profile.md): [`wire_profile`] (every provisional choice in one
//! place), [`tlv`], [`apdu`], [`script`], [`isdr`], [`isdr_key_set`] (SM-SR change), [`routing`], [`notification`], [`scp80`], [`sms`], [`scp03`];
//! ES5 over HTTPS: [`scp81`] (PSK identity, X-Admin headers, Next-URI, session trigger).
//! SMSC link: [`smpp`] (SMPP 3.4 PDUs).

// Off-card: SOAP binding and ES1–ES7 messages.
pub mod messages;
pub mod rest;
pub mod soap;
pub mod status;
pub mod types;
pub mod wsdl;
pub mod xml;

// On-card: ES5 / ES8 bytes.
pub mod apdu;
pub mod es8;
pub mod isdr;
pub mod isdr_key_set;
pub mod notification;
pub mod routing;
pub mod scp03;
pub mod scp80;
pub mod scp81;
pub mod script;
pub mod sms;
pub mod tlv;
pub mod wire_profile;

// SMSC link.
pub mod smpp;

/// Whether `a` and `b` are equal, in a time that depends on their lengths only: every MAC, cryptogram, receipt
/// and token check of SCP80, SCP03(t), ES8/§5b key establishment and MasterDelete (wire-profile §2, §4, §5, §7).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
