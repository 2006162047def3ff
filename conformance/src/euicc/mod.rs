//! The eUICC simulator: ISD-R, ISD-Ps and ECASD of SGP.02 eUICCs as a pure state machine (DESIGN §7, the quinn
//! model), a [`Fleet`] of many of them addressed by MSISDN and EID, and a thin tokio [`SimulatorDriver`].
//!
//! Bytes in, bytes and timers out: [`Euicc::receive_sms`] takes the TP-UD of a mobile-terminated SMS (a
//! concatenated segment is reassembled), opens the SCP80 command packet of wire-profile §2 (TAR, CC, counter;
//! a replay is answered with PoR status `02` and nothing runs), executes the expanded remote command script of
//! ES5 commands of wire-profile §4 with GlobalPlatform status words, and returns [`Outputs`]: the PoR as
//! mobile-originated SMS TP-UDs, and [`EventKind`]s describing what changed. Profile switches complete after an
//! attach delay, with the outcome given by per-profile network coverage ([`Euicc::set_coverage`]): success
//! sends notification `02`, failure rolls back (`03`), loss of coverage falls back (`05`). Notifications are
//! SCP80 command packets of the eUICC (SPI `16 00`) sent as MO SMS and retried until the SM-SR confirms them
//! with ES5.HandleNotificationConfirmation. Time is the caller's `now` in milliseconds; the machine reports the
//! next instant it needs to be polled at ([`Euicc::next_deadline`]). Nothing here is random: SMS concatenation
//! references come from a per-eUICC counter, keys from the world or from [`EuiccSecrets::from_seed`].
//!
//! Profile download (ES8 through ES3.SendData, wire-profile §5, §7): the ISD-R routes the STORE DATA that follow
//! an INSTALL [for personalization] to the ISD-P, which runs key establishment (`3A01` checked against the CI of
//! [`SimulatorConfig::ci`], `3A02` checked with CERT.DP.ECDSA's key, ECDH with the ECASD key, key set `30`,
//! receipt) and SCP03t (sequence counter per key set, block numbers, C-MAC, decryption, R-MAC), reassembles the
//! package during the session only, decodes it with the SM-DP's SAIP decoder (smdp::saip) on the last segment
//! and answers the `EUICCResponse`; an installed profile is `Disabled` (`1F`) with the package's ICCID and IMSI,
//! and the MSISDN the [`SubscriberDirectory`] holds for that IMSI, and is then managed like a pre-installed one.
//! Test faults per eUICC ([`DownloadFaults`]): a wrong receipt, C-MAC failures, a refused package.
//!
//! ES5 over HTTPS (wire-profile §3): [`https::run_session`] is the card's PSK-TLS client; each script it
//! receives runs on the card through the driver ([`Control::HttpsScript`], [`Euicc::run_https_script`]) with the
//! same command execution as SMS, and notifications the card raises still go by SMS. Sessions are opened by the
//! driver when the card accepts a push SMS (the administration-session trigger: [`HttpsTrigger`], retried as
//! its retry policy says; one session at a time per eUICC), or by a test.
//!
//! SM-SR change, the ISD-R's side (wire-profile §5b, built on es_interfaces::isdr_key_set): `3A01` to the ISD-R
//! checks CERT.SR.ECDSA against the CI (`6A80`) and answers a random challenge; `3A02` checks the CRT (`6A80`:
//! not a new SCP80 key set, a KVN held, another curve) and the signature (`6982`), derives KIc/KID/KIK by ECKA
//! with the ECASD key and answers the receipt. The new key set works at once, its counter at the initial
//! counter; the ISD-R then holds two key sets, each with its own counters, and answers every packet under the
//! key set that carried it (a key set it does not hold: PoR `06`, no CC). FinaliseISDRHandover deletes the old
//! one (`6A88` unknown, `6985` the carrier or the last one); notifications follow the key set that carried the
//! last UpdateSMSRAddressingParameters ([`es_interfaces::wire_profile::NOTIFICATIONS_FOLLOW_ADDRESSING`]).
//!
//! Simplifications, all documented where they apply: every PoR travels as an MO SMS (SPI byte 2 b6 is not
//! consulted); PoRs for security failures (TAR unknown, key set unknown, CC, ciphering, insufficient security
//! level) are sent without security; one download at a time per eUICC; certificate validity is checked against
//! the host's clock.

mod card;
mod download;
mod driver;
mod fleet;
mod ids;
mod keys;

pub mod bench;
pub mod https;

pub use bench::HeapSample;
pub use card::{Euicc, EventKind, Isdp};
pub use driver::{
    Control, DriverError, DriverEvent, EuiccView, MoSms, MtSms, SimulatorDriver, SimulatorHandle,
};
pub use fleet::{DeliveryError, Fleet, FleetError, HttpsScriptResult};
pub use ids::{Aid, Eid, Iccid, Imsi, Msisdn};
pub use keys::{EcasdKey, EuiccSecrets, IsdRKeySet};

use std::collections::HashMap;
use std::sync::Arc;

use certs::x509::X509Certificate;
use es_interfaces::wire_profile::CardProfile;

/// Errors building a simulated eUICC or fleet from identities and issued profiles; each names the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EuiccError {
    /// An EID that is not 32 digits.
    #[error("EID {0:?} is not 32 decimal digits")]
    BadEid(String),
    /// An MSISDN that is not 1 to 15 digits.
    #[error("MSISDN {0:?} is not 1 to 15 decimal digits")]
    BadMsisdn(String),
    /// An IMSI that is not 6 to 15 digits.
    #[error("IMSI {0:?} is not 6 to 15 decimal digits")]
    BadImsi(String),
    /// An ICCID that is not 18 to 20 digits.
    #[error("ICCID {0:?} is not 18 to 20 decimal digits")]
    BadIccid(String),
    /// An AID outside 5 to 16 bytes.
    #[error("AID of {0} bytes (must be 5 to 16)")]
    BadAid(usize),
    /// A key that is not 16 bytes.
    #[error("{field} key is not a 16-byte AES key")]
    KeyLength {
        /// Which key.
        field: &'static str,
    },
    /// A key version outside the SCP80 range.
    #[error("key version {0:#04x} is not an SCP80 KVN (01-0F)")]
    BadKvn(u8),
    /// The index does not fit the numbering plan.
    #[error("eUICC index {0} exceeds the numbering plan")]
    IndexTooLarge(usize),
    /// The issued profiles do not describe a valid card.
    #[error("eUICC {eid}: {reason}")]
    BadIssuance {
        /// The eUICC.
        eid: String,
        /// What is wrong.
        reason: &'static str,
    },
}

/// The simulator's settings shared by every eUICC of a fleet (wire-profile §2, §4; SGP.02 §3.2–§3.5 timings).
#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// The [P] byte choices the simulated cards follow (SPIs, script form, DELETE P2).
    pub card_profile: CardProfile,
    /// Destination address of PoRs and notifications until UpdateSMSRAddressingParameters names another.
    pub smsr_address: String,
    /// Time from a profile switch to the outcome of the network attach, in ms.
    pub attach_delay_ms: u64,
    /// Interval between sends of an unconfirmed notification, in ms.
    pub notification_retry_interval_ms: u64,
    /// Number of sends of a notification (first one included) before the eUICC gives up.
    pub notification_max_attempts: u8,
    /// Whether an unconfirmed "profile change succeeded" notification makes the eUICC roll back to the
    /// previously enabled profile once the retries are exhausted (notes sgp02-interfaces §4.3).
    pub rollback_when_unconfirmed: bool,
    /// How long segments of an incomplete concatenated SMS are kept, in ms.
    pub reassembly_timeout_ms: u64,
    /// Largest number of segments accepted for one concatenated SMS.
    pub max_concatenated_parts: u8,
    /// Free volatile memory reported by GET DATA `FF21`, in bytes.
    pub free_volatile_memory: u32,
    /// The CI's certificate, against which the ISD-Ps check CERT.DP.ECDSA (wire-profile §5 step 1); without
    /// it every `3A01` answers `6A80`. [`Fleet::from_world`] fills it with the world's CI when it is `None`.
    pub ci: Option<X509Certificate>,
    /// IMSI → MSISDN of the mobile network, giving a downloaded profile its MSISDN.
    pub subscribers: SubscriberDirectory,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            card_profile: CardProfile::default(),
            smsr_address: "4915550000".to_string(),
            attach_delay_ms: 2_000,
            notification_retry_interval_ms: 30_000,
            notification_max_attempts: 5,
            rollback_when_unconfirmed: true,
            reassembly_timeout_ms: 60_000,
            max_concatenated_parts: 16,
            free_volatile_memory: 8_192,
            ci: None,
            subscribers: SubscriberDirectory::default(),
        }
    }
}

/// Something that happened in one eUICC (for tests, logs and the driver's event stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The eUICC.
    pub eid: Eid,
    /// What happened.
    pub kind: EventKind,
}

/// What a step of the state machine produced: MO SMS to send, admin sessions to open and events (DESIGN §7:
/// bytes and timers out).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Outputs {
    /// Mobile-originated SMS, in sending order.
    pub mo: Vec<MoSms>,
    /// Admin sessions the SM-SR asked for by push SMS (wire-profile §3).
    pub https: Vec<HttpsTrigger>,
    /// Events, in order.
    pub events: Vec<Event>,
}

/// A push SMS the card accepted: open an SCP81 admin session as `trigger` says (wire-profile §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsTrigger {
    /// The eUICC.
    pub eid: Eid,
    /// Where and how to connect.
    pub trigger: es_interfaces::scp81::SessionTrigger,
}

/// Where a [`SubscriberDirectory`] asks for an IMSI it holds no entry for: the MNO's provisioning as a lab sees
/// it (e.g. the SM-DP's stock), given the IMSI's digits; answers the MSISDN's digits.
pub type SubscriberLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The mobile network's subscriber directory ("HLR"): the MSISDN of each IMSI, provisioned by the MNO from its
/// order file. A profile installed by download gets the MSISDN of its package's IMSI — from an entry, else from
/// the directory's lookup ([`SubscriberDirectory::set_lookup`]); without either it has none (and an eUICC with
/// it enabled is unreachable by SMS).
#[derive(Clone, Default)]
pub struct SubscriberDirectory {
    entries: HashMap<Imsi, Msisdn>,
    lookup: Option<SubscriberLookup>,
}

impl std::fmt::Debug for SubscriberDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriberDirectory")
            .field("entries", &self.entries.len())
            .field("lookup", &self.lookup.is_some())
            .finish()
    }
}

impl SubscriberDirectory {
    /// Makes the directory ask `lookup` for the IMSIs it was not given.
    pub fn set_lookup(&mut self, lookup: SubscriberLookup) {
        self.lookup = Some(lookup);
    }

    /// Records (or replaces) the MSISDN of `imsi`.
    pub fn provision(&mut self, imsi: &str, msisdn: &str) -> Result<(), EuiccError> {
        self.entries
            .insert(Imsi::parse(imsi)?, Msisdn::parse(msisdn)?);
        Ok(())
    }

    /// Whether the directory has a lookup for the IMSIs it was not given.
    pub fn has_lookup(&self) -> bool {
        self.lookup.is_some()
    }

    /// The MSISDN of `imsi`: its entry, else what the lookup answers (if it is a valid MSISDN).
    pub fn msisdn(&self, imsi: Imsi) -> Option<Msisdn> {
        if let Some(m) = self.entries.get(&imsi) {
            return Some(*m);
        }
        let lookup = self.lookup.as_ref()?;
        lookup(&imsi.to_string()).and_then(|m| Msisdn::parse(&m).ok())
    }
}

/// Faults a test can switch on per eUICC for the SM-DP's failure paths (wire-profile §5, §7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DownloadFaults {
    /// `3A02` answers a receipt with its first byte inverted: the ISD-P's (download) and the ISD-R's (SM-SR
    /// change, wire-profile §5b).
    pub wrong_receipt: bool,
    /// Every SCP03t segment (`86`) fails its C-MAC check: `6982`, the session is discarded.
    pub cmac_failure: bool,
    /// The last segment's package is refused with `profileInstallationAborted`.
    pub refuse_package: bool,
    /// The PoR of a command packet holding FinaliseISDRHandover is lost after its script ran (the eUICC executed
    /// it, or answered `6A88` to a retransmission; SM-SR change, wire-profile §5b step 5).
    pub lose_finalise_por: bool,
}

impl DownloadFaults {
    fn to_bits(self) -> u8 {
        u8::from(self.wrong_receipt)
            | u8::from(self.cmac_failure) << 1
            | u8::from(self.refuse_package) << 2
            | u8::from(self.lose_finalise_por) << 3
    }

    fn from_bits(bits: u8) -> DownloadFaults {
        DownloadFaults {
            wrong_receipt: bits & 1 != 0,
            cmac_failure: bits & 2 != 0,
            refuse_package: bits & 4 != 0,
            lose_finalise_por: bits & 8 != 0,
        }
    }
}
