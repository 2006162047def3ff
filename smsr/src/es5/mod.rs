//! ES5 over SMS (SGP.02 §2.4.4, §4.1.1; wire-profile §2, §4): the SM-SR side of the SCP80 channel to the ISD-R.
//!
//! [`security`] secures command scripts and opens PoRs and eUICC notifications with the ISD-R key set of the
//! EIS; [`delivery`] takes the next command of each eUICC from the persisted queue (one in flight per ISD-R),
//! advances the key set's counter and records the transmission in one transaction, and retransmits with
//! backoff; [`inbound`] matches PoRs to their commands by counter and turns notifications into confirmation
//! operations; [`reassembly`] holds the segments of concatenated MO SMS in the store until their message is
//! complete; [`runtime`] drives them on tokio with the SMPP client.

pub mod delivery;
pub mod inbound;
pub mod reassembly;
pub mod runtime;
pub mod security;

use eis_store::StoreError;

/// Why an ES5 step failed. Messages name the eUICC and the element concerned, never key material.
#[derive(Debug, thiserror::Error)]
pub enum Es5Error {
    /// The store failed.
    #[error("ES5 store access: {0}")]
    Store(#[from] StoreError),
    /// The EIS has no SCP80 key set for the ISD-R (SGP.02 §2.2.5; wire-profile §1: KVN 01–0F, type SCP80).
    #[error("the eUICC {eid} has no ISD-R SCP80 key set in its EIS")]
    NoScp80Keyset {
        /// The eUICC.
        eid: String,
    },
    /// A key of the key set is missing or cannot be unsealed.
    #[error("ISD-R key set {kvn:#04x} of {eid}, key {index}: {why}")]
    Key {
        /// The eUICC.
        eid: String,
        /// The key set version.
        kvn: u8,
        /// The key index (1 KIc, 2 KID).
        index: u8,
        /// What is wrong (no key bytes).
        why: String,
    },
    /// The SCP80 codec refused the packet.
    #[error("SCP80 packet of {eid}: {source}")]
    Scp80 {
        /// The eUICC.
        eid: String,
        /// The codec's reason.
        source: es_interfaces::scp80::Scp80Error,
    },
    /// The SMS layer refused the packet.
    #[error("SMS user data of {eid}: {source}")]
    Sms {
        /// The eUICC.
        eid: String,
        /// The codec's reason.
        source: es_interfaces::sms::SmsError,
    },
    /// The eUICC has no enabled profile with an MSISDN to send SMS to (wire-profile §2).
    #[error("the eUICC {eid} has no enabled profile with an MSISDN")]
    Unreachable {
        /// The eUICC.
        eid: String,
    },
    /// A stored command or operation cannot be used.
    #[error("{0}")]
    Invalid(String),
}
