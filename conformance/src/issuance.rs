//! The profiles every test eUICC carries from the factory: one definition that the eUICC simulator installs and
//! that the EIS documents registered at the SM-SR (ES1, SGP.02 §5.1.1) describe, so that both agree.
//!
//! Per eUICC with index `i` (0-based, as in the world manifest), three ISD-Ps (SGP.02 EIS `ProfileInfo`):
//!
//! | | ISD-P AID | MNO | state | fall-back | POL1 | memory |
//! |---|---|---|---|---|---|---|
//! | P1 | `…89000010 00` | MNO 1 | Enabled | yes | none | 48,000 |
//! | P2 | `…89000011 00` | MNO 1 | Disabled | no | none | 48,000 |
//! | P3 | `…89000012 00` | MNO 2 | Disabled | no | deletion mandatory when disabled | 32,000 |
//!
//! P1 is the fall-back profile, so it can be neither disabled nor deleted while it holds the attribute; P2 is a
//! plain profile (the usual switch target); P3 exercises the POL1 rule "Profile deletion is mandatory when it is
//! disabled": once it has been enabled and then disabled again, the eUICC deletes it after the SM-SR confirms the
//! notification. No profile carries POL2 rules at issuance (`pol2` empty). Tests that need "disabling not
//! allowed" or "deletion not allowed" change the POL1 of a copy of this list.
//!
//! Identifiers, all from `i` alone (deterministic, unique per eUICC and profile):
//! - ICCID: `89 49 99 <i, 11 digits> <slot 1–3> <Luhn>` (19 digits: telecom `89`, country `49`, test issuer
//!   `99`; ITU-T E.118).
//! - IMSI: MCC `001` (test network), MNC `01` (MNO 1) or `02` (MNO 2), MSIN `<i, 9 digits><slot>` (15 digits).
//! - MSISDN: P1 = the world's MSISDN of the eUICC (`4917099<i+1, 6 digits>`); P2 `4917199<i+1>`, P3
//!   `4917299<i+1>` (6 digits each), so no derived MSISDN equals any world MSISDN.
//! - MNO OIDs: the world manifest's MNO entries (`1.3.6.1.4.1.99999.5` and `.6` in generated worlds).

use certs::world::World;
use es_interfaces::wire_profile;

/// Errors of the issuance fixture: which eUICC and what is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssuanceError {
    /// The world has no eUICC with this index.
    #[error("the world has no eUICC with index {index} ({count} eUICCs)")]
    NoSuchEuicc {
        /// The index asked for.
        index: usize,
        /// Number of eUICCs in the world.
        count: usize,
    },
    /// The world manifest lists fewer than two MNOs.
    #[error("the world manifest lists {0} MNO(s); issuance needs two")]
    MissingMno(usize),
    /// The index does not fit the 6-digit MSISDN serial.
    #[error("eUICC index {0} exceeds the issuance numbering plan (at most 999,998)")]
    IndexTooLarge(usize),
}

/// Profile state in the EIS (SGP.02 EIS `ProfileStateType`: Created, Disabled, Enabled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileState {
    /// ISD-P created, no profile installed yet.
    Created,
    /// Profile installed and disabled.
    Disabled,
    /// Profile installed and enabled.
    Enabled,
}

impl ProfileState {
    /// The EIS enumeration value (`euicc.common.types.xsd` `ProfileStateType`).
    pub fn as_eis_str(self) -> &'static str {
        match self {
            ProfileState::Created => "Created",
            ProfileState::Disabled => "Disabled",
            ProfileState::Enabled => "Enabled",
        }
    }
}

/// POL1 rules kept in the profile and enforced by the eUICC (SGP.02 POL1; notes sgp02-interfaces §4.3, §4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Pol1 {
    /// "Disabling of this Profile not allowed": the eUICC refuses to disable it, also implicitly by enabling
    /// another profile.
    pub disable_not_allowed: bool,
    /// "Deletion of this Profile not allowed": the eUICC refuses ES5.DeleteProfile (MasterDelete overrides).
    pub delete_not_allowed: bool,
    /// "Profile deletion is mandatory when it is disabled": applied after the notification confirmation.
    pub delete_when_disabled: bool,
}

/// Action of a POL2 rule (SGP.02 EIS `POL2RuleActionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pol2Action {
    /// `ENABLE`.
    Enable,
    /// `DISABLE`.
    Disable,
    /// `DELETE`.
    Delete,
}

/// Qualification of a POL2 rule (SGP.02 EIS `POL2RuleQualificationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pol2Qualification {
    /// `Not-Allowed`.
    NotAllowed,
    /// `Auto-Delete`.
    AutoDelete,
}

/// One POL2 rule; the subject is always `PROFILE` (SGP.02 EIS `POL2RuleType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pol2Rule {
    /// The action the rule governs.
    pub action: Pol2Action,
    /// Its qualification.
    pub qualification: Pol2Qualification,
}

/// A profile present on an eUICC at issuance, as both the card and its EIS `ProfileInfo` describe it
/// (SGP.02 §5.1.1 ES1.RegisterEIS, EIS `ProfileInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedProfile {
    /// `Isd-p-aid`: the ISD-P's AID (wire-profile §1).
    pub isd_p_aid: [u8; 16],
    /// `Iccid`: 19 digits.
    pub iccid: String,
    /// `SubscriptionAddress/Imsi`: 15 digits.
    pub imsi: String,
    /// `SubscriptionAddress/Msisdn`.
    pub msisdn: String,
    /// `Mno-id`: the owning MNO's OID.
    pub mno_oid: String,
    /// `State`.
    pub state: ProfileState,
    /// `FallbackAttribute`.
    pub fallback: bool,
    /// `ProfileType`.
    pub profile_type: String,
    /// `AllocatedMemory` in bytes.
    pub allocated_memory: u32,
    /// POL1 (on the card only; not an EIS field).
    pub pol1: Pol1,
    /// `pol2`: empty at issuance.
    pub pol2: Vec<Pol2Rule>,
}

impl IssuedProfile {
    /// The ISD-P AID as upper-case hex, the EIS `AIDType` text (wire-profile §1).
    pub fn isd_p_aid_hex(&self) -> String {
        hex::encode_upper(self.isd_p_aid)
    }
}

/// Memory an issued eUICC offers for profiles in total, in bytes (SGP.02 EIS `AvailableMemoryForProfiles`).
pub const AVAILABLE_MEMORY_FOR_PROFILES: u32 = 256_000;

/// Memory left for profiles after issuance, in bytes (SGP.02 EIS `RemainingMemory`).
pub fn remaining_memory_at_issuance(profiles: &[IssuedProfile]) -> u32 {
    profiles
        .iter()
        .fold(AVAILABLE_MEMORY_FOR_PROFILES, |left, p| {
            left.saturating_sub(p.allocated_memory)
        })
}

/// The OIDs of MNO 1 and MNO 2 in generated worlds (certs::world: `.5` and `.6` under the test arc), used by
/// fleets built from a seed, which have no manifest (SGP.02 EIS `Mno-id`).
pub const DEFAULT_MNO_OIDS: [&str; 2] = ["1.3.6.1.4.1.99999.5", "1.3.6.1.4.1.99999.6"];

/// The largest eUICC index the numbering plan supports (MSISDN serial `i + 1` in six digits).
pub const MAX_EUICC_INDEX: usize = 999_998;

/// The Luhn check digit of a digit string (ISO/IEC 7812-1 Annex B), as used by ICCIDs (ITU-T E.118).
pub fn luhn_check_digit(digits: &str) -> Option<u8> {
    let mut sum = 0u32;
    for (i, d) in digits.bytes().rev().enumerate() {
        if !d.is_ascii_digit() {
            return None;
        }
        let mut v = u32::from(d - b'0');
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    Some(((10 - sum % 10) % 10) as u8)
}

/// Whether a digit string ends with its valid Luhn check digit (ISO/IEC 7812-1 Annex B).
pub fn luhn_is_valid(digits: &str) -> bool {
    match digits.len().checked_sub(1) {
        Some(n) if n > 0 => {
            luhn_check_digit(&digits[..n]) == digits[n..].parse::<u8>().ok()
                && digits.bytes().all(|b| b.is_ascii_digit())
        }
        _ => false,
    }
}

/// The MSISDN of the world's eUICC `i`, `4917099<i+1>` (certs::world numbering; P1's MSISDN here).
pub fn world_msisdn(euicc_index: usize) -> Result<String, IssuanceError> {
    slot_msisdn(euicc_index, 0)
}

fn slot_msisdn(euicc_index: usize, slot: usize) -> Result<String, IssuanceError> {
    if euicc_index > MAX_EUICC_INDEX {
        return Err(IssuanceError::IndexTooLarge(euicc_index));
    }
    Ok(format!("4917{slot}99{:06}", euicc_index + 1))
}

/// The profiles of eUICC `euicc_index` of a world, with the world's MSISDN for P1 and its manifest's MNO OIDs
/// (module documentation for the table).
pub fn profiles_at_issuance(
    world: &World,
    euicc_index: usize,
) -> Result<Vec<IssuedProfile>, IssuanceError> {
    let euicc = world
        .euiccs
        .get(euicc_index)
        .ok_or(IssuanceError::NoSuchEuicc {
            index: euicc_index,
            count: world.euiccs.len(),
        })?;
    let [m1, m2, ..] = world.manifest.mnos.as_slice() else {
        return Err(IssuanceError::MissingMno(world.manifest.mnos.len()));
    };
    profiles_for(euicc_index, &euicc.msisdn, [&m1.entity.oid, &m2.entity.oid])
}

/// The profiles of eUICC `euicc_index` given P1's MSISDN and the two MNO OIDs (module documentation for the
/// table); [`profiles_at_issuance`] and fleets built from a seed both use it.
pub fn profiles_for(
    euicc_index: usize,
    p1_msisdn: &str,
    mno_oids: [&str; 2],
) -> Result<Vec<IssuedProfile>, IssuanceError> {
    if euicc_index > MAX_EUICC_INDEX {
        return Err(IssuanceError::IndexTooLarge(euicc_index));
    }
    let slots: [(ProfileState, bool, usize, Pol1, u32, &str); 3] = [
        (
            ProfileState::Enabled,
            true,
            0,
            Pol1::default(),
            48_000,
            "rsp-test-mno1-fallback",
        ),
        (
            ProfileState::Disabled,
            false,
            0,
            Pol1::default(),
            48_000,
            "rsp-test-mno1",
        ),
        (
            ProfileState::Disabled,
            false,
            1,
            Pol1 {
                delete_when_disabled: true,
                ..Pol1::default()
            },
            32_000,
            "rsp-test-mno2",
        ),
    ];
    slots
        .into_iter()
        .enumerate()
        .map(
            |(slot, (state, fallback, mno, pol1, memory, profile_type))| {
                let isd_p_aid = wire_profile::isd_p_aid(slot as u8)
                    .ok_or(IssuanceError::IndexTooLarge(euicc_index))?;
                let body = format!("894999{euicc_index:011}{}", slot + 1);
                let check =
                    luhn_check_digit(&body).ok_or(IssuanceError::IndexTooLarge(euicc_index))?;
                let msisdn = if slot == 0 {
                    p1_msisdn.to_string()
                } else {
                    slot_msisdn(euicc_index, slot)?
                };
                Ok(IssuedProfile {
                    isd_p_aid,
                    iccid: format!("{body}{check}"),
                    imsi: format!("0010{}{euicc_index:09}{}", mno + 1, slot + 1),
                    msisdn,
                    mno_oid: mno_oids[mno].to_string(),
                    state,
                    fallback,
                    profile_type: profile_type.to_string(),
                    allocated_memory: memory,
                    pol1,
                    pol2: Vec::new(),
                })
            },
        )
        .collect()
}
