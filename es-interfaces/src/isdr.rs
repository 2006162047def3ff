//! The ES5 commands the SM-SR sends to the ISD-R, and their responses, in both directions (SGP.02 §4.1.1 /
//! §5.7; wire-profile §4). [`Es5Command::to_apdu`] builds, [`Es5Command::from_apdu`] recognises a C-APDU (the
//! eUICC simulator's side); each response has a typed parser and an encoder; [`interpret`] turns a status word
//! into a typed outcome the SM-SR maps to SGP.02 status codes.

use crate::apdu::{
    self, ApduError, CommandApdu, InstallData, ResponseApdu, StatusWord, StoreDataEncryption,
    StoreDataP1, StoreDataStructure,
};
use crate::scp80::SecretKey;
use crate::tlv::{self, Tag, Tlv, TlvError};
use crate::wire_profile::{self, CardProfile};

/// Errors of the ES5 command and response codecs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IsdrError {
    /// A TLV or DGI structure is broken.
    #[error("{function}: {source}")]
    Tlv {
        /// The ES5 function.
        function: Es5Function,
        /// The TLV error.
        source: TlvError,
    },
    /// An APDU-level field is malformed.
    #[error("{function}: {source}")]
    Apdu {
        /// The ES5 function.
        function: Es5Function,
        /// The APDU error.
        source: ApduError,
    },
    /// The C-APDU is not one of the ES5 commands of wire-profile §4.
    #[error("C-APDU {cla:02X} {ins:02X} {p1:02X} {p2:02X} is not an ES5 command")]
    NotEs5Command {
        /// CLA.
        cla: u8,
        /// INS.
        ins: u8,
        /// P1.
        p1: u8,
        /// P2.
        p2: u8,
    },
    /// A field has a value the function does not allow.
    #[error("{function}: {reason}")]
    Malformed {
        /// The ES5 function.
        function: Es5Function,
        /// What is wrong.
        reason: &'static str,
    },
    /// An AID outside 5–16 bytes (ISO/IEC 7816-5).
    #[error("{function}: AID of {len} bytes (must be 5 to 16)")]
    BadAid {
        /// The ES5 function.
        function: Es5Function,
        /// The length.
        len: usize,
    },
    /// The token key does not fit AES.
    #[error("MasterDelete token key has the wrong length")]
    TokenKey,
}

/// The ES5 functions (SGP.02 §5.7, ES5) and the ISD-R commands of SM-SR change (SGP.02 §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Es5Function {
    /// ES5.CreateISDP (SGP.02 §5.7.1).
    CreateIsdp,
    /// ES5.EnableProfile (SGP.02 §5.7.2).
    EnableProfile,
    /// ES5.DisableProfile (SGP.02 §5.7.3).
    DisableProfile,
    /// ES5.DeleteProfile (SGP.02 §5.7.4).
    DeleteProfile,
    /// ES5.eUICCCapabilityAudit / AuditEIS, GET STATUS part (SGP.02 §5.7.5).
    AuditEis,
    /// ES5.eUICCCapabilityAudit, GET DATA `FF21` part (SGP.02 §5.7.5).
    GetExtendedCardResources,
    /// ES5.MasterDelete (SGP.02 §5.7.6).
    MasterDelete,
    /// ES5.SetFallbackAttribute (SGP.02 §5.7.7).
    SetFallbackAttribute,
    /// ES5.EstablishISDRKeySet, certificate step (SGP.02 §5.7.8).
    EstablishIsdrKeySetCertificate,
    /// ES5.EstablishISDRKeySet, key agreement step (SGP.02 §5.7.8).
    EstablishIsdrKeySetAgreement,
    /// ES5.FinaliseISDRHandover (SGP.02 §5.7.9).
    FinaliseIsdrHandover,
    /// ES5.UpdateSMSRAddressingParameters (SGP.02 §5.7.10).
    UpdateSmsrAddressingParameters,
    /// ES5.HandleNotificationConfirmation (SGP.02 §5.7.11).
    HandleNotificationConfirmation,
}

impl core::fmt::Display for Es5Function {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Es5Function::CreateIsdp => "ES5.CreateISDP",
            Es5Function::EnableProfile => "ES5.EnableProfile",
            Es5Function::DisableProfile => "ES5.DisableProfile",
            Es5Function::DeleteProfile => "ES5.DeleteProfile",
            Es5Function::AuditEis => "ES5.AuditEIS (GET STATUS)",
            Es5Function::GetExtendedCardResources => "ES5.AuditEIS (GET DATA FF21)",
            Es5Function::MasterDelete => "ES5.MasterDelete",
            Es5Function::SetFallbackAttribute => "ES5.SetFallbackAttribute",
            Es5Function::EstablishIsdrKeySetCertificate => "ES5.EstablishISDRKeySet (3A01)",
            Es5Function::EstablishIsdrKeySetAgreement => "ES5.EstablishISDRKeySet (3A02)",
            Es5Function::FinaliseIsdrHandover => "ES5.FinaliseISDRHandover",
            Es5Function::UpdateSmsrAddressingParameters => "ES5.UpdateSMSRAddressingParameters",
            Es5Function::HandleNotificationConfirmation => "ES5.HandleNotificationConfirmation",
        })
    }
}

/// The SM-SR addressing parameters of DGI `3A06` (SGP.02 §5.7.10; wire-profile §4 [P]): where the eUICC sends
/// its notifications from then on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsrAddressingParameters {
    /// The SM-SR's MSISDN (TS 24.008 §10.5.4.7 coding: TON/NPI byte, e.g. `91`, then swapped BCD, F-padded),
    /// tag `80`.
    pub smsr_msisdn: Vec<u8>,
}

/// The CRT `A6` of the key agreement (GP Amendment E §4 scenario #3; wire-profile §5, §4 EstablishISDRKeySet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAgreementCrt {
    /// `90 02`: scenario identifier and parameters.
    pub scenario: [u8; 2],
    /// `95 01`: key usage qualifier (`5C` ISD-P SCP03, `10` ISD-R SCP80).
    pub key_usage: u8,
    /// `80 01`: key type (`88` AES).
    pub key_type: u8,
    /// `81 01`: key length in bytes.
    pub key_length: u8,
    /// `82 01`: first key identifier.
    pub key_id: u8,
    /// `83 01`: key version number.
    pub kvn: u8,
    /// `91 05`: initial SCP80 counter of the new key set, if sent.
    pub initial_counter: Option<[u8; 5]>,
}

/// The data of DGI `3A02`: CRT, ephemeral public key and signature (GP Amendment E §4; wire-profile §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAgreement {
    /// The CRT `A6`.
    pub crt: KeyAgreementCrt,
    /// `7F49 { B0 <04‖X‖Y> }`: the ephemeral public key, uncompressed.
    pub ephemeral_public_key: Vec<u8>,
    /// `7F49 { F0 01 <ref> }`: key parameter reference (`00` P-256, `03` brainpoolP256r1).
    pub key_parameter_reference: u8,
    /// `5F37 40`: ECDSA signature r‖s by the SM-DP / SM-SR.
    pub signature: Vec<u8>,
}

/// An ES5 command to the ISD-R (SGP.02 §5.7; wire-profile §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Es5Command {
    /// ES5.CreateISDP: INSTALL [for install and make selectable] of the ISD-P (SGP.02 §5.7.1).
    CreateIsdp {
        /// AID allocated for the new ISD-P.
        isd_p_aid: Vec<u8>,
        /// Memory quota sent in `EF { 83 02|04 <memory> }` [P], if any: two bytes up to 65,535, else four.
        memory_quota: Option<u32>,
    },
    /// ES5.EnableProfile: STORE DATA `3A03` (SGP.02 §5.7.2).
    EnableProfile {
        /// ISD-P to enable.
        isd_p_aid: Vec<u8>,
    },
    /// ES5.DisableProfile: STORE DATA `3A04` (SGP.02 §5.7.3).
    DisableProfile {
        /// ISD-P to disable.
        isd_p_aid: Vec<u8>,
    },
    /// ES5.SetFallbackAttribute: STORE DATA `3A05` [P] (SGP.02 §5.7.7).
    SetFallbackAttribute {
        /// ISD-P to carry the attribute.
        isd_p_aid: Vec<u8>,
    },
    /// ES5.UpdateSMSRAddressingParameters: STORE DATA `3A06` [P] (SGP.02 §5.7.10).
    UpdateSmsrAddressingParameters(SmsrAddressingParameters),
    /// ES5.HandleNotificationConfirmation: STORE DATA `3A08` (SGP.02 §5.7.11).
    HandleNotificationConfirmation {
        /// Sequence number of the notification confirmed.
        sequence: u16,
    },
    /// ES5.DeleteProfile: DELETE of the ISD-P and related objects [P for P2] (SGP.02 §5.7.4).
    DeleteProfile {
        /// ISD-P to delete.
        isd_p_aid: Vec<u8>,
    },
    /// ES5.MasterDelete: DELETE with a delete token [P] (SGP.02 §5.7.6).
    MasterDelete {
        /// ISD-P to delete.
        isd_p_aid: Vec<u8>,
        /// Delete token, see [`master_delete_token`].
        token: Vec<u8>,
    },
    /// ES5.AuditEIS: GET STATUS of all ISD-Ps, or its continuation after `6310` (SGP.02 §5.7.5).
    AuditEis {
        /// `false` for the first command (P2 `02`), `true` for the next ones (P2 `03`).
        continuation: bool,
    },
    /// ES5.AuditEIS: GET DATA `FF21`, extended card resources (SGP.02 §5.7.5).
    GetExtendedCardResources,
    /// ES5.EstablishISDRKeySet step 1: STORE DATA `3A01` with CERT.SR.ECDSA (SGP.02 §5.7.8; wire-profile §5).
    EstablishIsdrKeySetCertificate {
        /// The GP certificate `7F21 …`.
        certificate: Vec<u8>,
    },
    /// ES5.EstablishISDRKeySet step 2: STORE DATA `3A02` (SGP.02 §5.7.8; wire-profile §5).
    EstablishIsdrKeySetAgreement(KeyAgreement),
    /// ES5.FinaliseISDRHandover: DELETE of the old SCP80 key set `F2 03 <KVN> 01 03` (SGP.02 §5.7.9).
    FinaliseIsdrHandover {
        /// Version of the previous SM-SR's key set.
        old_kvn: u8,
    },
}

fn check_aid(function: Es5Function, aid: &[u8]) -> Result<(), IsdrError> {
    if (5..=16).contains(&aid.len()) {
        Ok(())
    } else {
        Err(IsdrError::BadAid {
            function,
            len: aid.len(),
        })
    }
}

fn tlv_err(function: Es5Function) -> impl Fn(TlvError) -> IsdrError {
    move |source| IsdrError::Tlv { function, source }
}

fn apdu_err(function: Es5Function) -> impl Fn(ApduError) -> IsdrError {
    move |source| IsdrError::Apdu { function, source }
}

fn malformed(function: Es5Function, reason: &'static str) -> IsdrError {
    IsdrError::Malformed { function, reason }
}

const TAG_AID: Tag = Tag::byte(0x4F);

fn aid_tlv(function: Es5Function, aid: &[u8]) -> Result<Vec<u8>, IsdrError> {
    check_aid(function, aid)?;
    tlv::encode(TAG_AID, aid).map_err(tlv_err(function))
}

/// STORE DATA P1 for an ES5 DGI command: last block, DGI structure (wire-profile §4).
fn es5_store_data_p1(response_expected: bool) -> StoreDataP1 {
    StoreDataP1 {
        last_block: true,
        encryption: StoreDataEncryption::None,
        structure: StoreDataStructure::Dgi,
        response_expected,
    }
}

fn store_dgi(
    function: Es5Function,
    p1: StoreDataP1,
    block: u8,
    dgi: u16,
    value: &[u8],
) -> Result<CommandApdu, IsdrError> {
    let data = tlv::encode_dgi(dgi, value).map_err(tlv_err(function))?;
    Ok(apdu::store_data(p1, block, data))
}

impl KeyAgreementCrt {
    /// Encodes `A6 L { 90 02, 95 01, 80 01, 81 01, 82 01, 83 01, [91 05] }` (GP Amendment E §4; wire-profile §5).
    pub fn to_bytes(&self) -> Result<Vec<u8>, TlvError> {
        let mut inner = Vec::new();
        tlv::encode_into(Tag::byte(0x90), &self.scenario, &mut inner)?;
        tlv::encode_into(Tag::byte(0x95), &[self.key_usage], &mut inner)?;
        tlv::encode_into(Tag::byte(0x80), &[self.key_type], &mut inner)?;
        tlv::encode_into(Tag::byte(0x81), &[self.key_length], &mut inner)?;
        tlv::encode_into(Tag::byte(0x82), &[self.key_id], &mut inner)?;
        tlv::encode_into(Tag::byte(0x83), &[self.kvn], &mut inner)?;
        if let Some(c) = &self.initial_counter {
            tlv::encode_into(Tag::byte(0x91), c, &mut inner)?;
        }
        tlv::encode(Tag::byte(0xA6), &inner)
    }

    fn from_tlv(function: Es5Function, a6: &Tlv<'_>) -> Result<KeyAgreementCrt, IsdrError> {
        let mut scenario = None;
        let mut fields = [None::<u8>; 5];
        let mut initial_counter = None;
        for item in a6.children().map_err(tlv_err(function))? {
            let one = |v: &[u8]| match v {
                [b] => Ok(*b),
                _ => Err(malformed(function, "CRT element is not one byte")),
            };
            match item.tag.value() {
                0x90 => {
                    scenario = Some(
                        <[u8; 2]>::try_from(item.value)
                            .map_err(|_| malformed(function, "CRT 90 is not two bytes"))?,
                    )
                }
                0x95 => fields[0] = Some(one(item.value)?),
                0x80 => fields[1] = Some(one(item.value)?),
                0x81 => fields[2] = Some(one(item.value)?),
                0x82 => fields[3] = Some(one(item.value)?),
                0x83 => fields[4] = Some(one(item.value)?),
                0x91 => {
                    initial_counter = Some(
                        <[u8; 5]>::try_from(item.value)
                            .map_err(|_| malformed(function, "CRT 91 is not five bytes"))?,
                    )
                }
                _ => return Err(malformed(function, "unexpected tag in CRT A6")),
            }
        }
        let [
            Some(key_usage),
            Some(key_type),
            Some(key_length),
            Some(key_id),
            Some(kvn),
        ] = fields
        else {
            return Err(malformed(function, "CRT A6 lacks 95, 80, 81, 82 or 83"));
        };
        Ok(KeyAgreementCrt {
            scenario: scenario.ok_or(malformed(function, "CRT A6 lacks 90"))?,
            key_usage,
            key_type,
            key_length,
            key_id,
            kvn,
            initial_counter,
        })
    }
}

impl KeyAgreement {
    fn public_key_tlv(&self) -> Result<Vec<u8>, TlvError> {
        let mut inner = tlv::encode(Tag::byte(0xB0), &self.ephemeral_public_key)?;
        tlv::encode_into(Tag::byte(0xF0), &[self.key_parameter_reference], &mut inner)?;
        tlv::encode(Tag::two(0x7F49), &inner)
    }

    /// The bytes the signature covers: `A6 TLV ‖ 7F49 TLV ‖ 85 L <random challenge>` (wire-profile §5 step 2).
    pub fn signed_data(&self, random_challenge: &[u8]) -> Result<Vec<u8>, TlvError> {
        let mut out = self.crt.to_bytes()?;
        out.extend_from_slice(&self.public_key_tlv()?);
        tlv::encode_into(Tag::byte(0x85), random_challenge, &mut out)?;
        Ok(out)
    }

    /// The value of DGI `3A02`: `A6 TLV ‖ 7F49 TLV ‖ 5F37 L <signature>` (wire-profile §5 step 2).
    pub fn to_bytes(&self) -> Result<Vec<u8>, TlvError> {
        let mut out = self.crt.to_bytes()?;
        out.extend_from_slice(&self.public_key_tlv()?);
        tlv::encode_into(Tag::two(0x5F37), &self.signature, &mut out)?;
        Ok(out)
    }

    /// Parses the value of DGI `3A02` (wire-profile §5 step 2).
    pub fn parse(value: &[u8]) -> Result<KeyAgreement, IsdrError> {
        let f = Es5Function::EstablishIsdrKeySetAgreement;
        let items = tlv::parse_all(value).map_err(tlv_err(f))?;
        let [a6, pk, sig] = items.as_slice() else {
            return Err(malformed(f, "3A02 must hold A6, 7F49 and 5F37"));
        };
        if a6.tag.value() != 0xA6 || pk.tag.value() != 0x7F49 || sig.tag.value() != 0x5F37 {
            return Err(malformed(
                f,
                "3A02 must hold A6, 7F49 and 5F37 in that order",
            ));
        }
        let crt = KeyAgreementCrt::from_tlv(f, a6)?;
        let mut point = None;
        let mut reference = None;
        for item in pk.children().map_err(tlv_err(f))? {
            match (item.tag.value(), item.value) {
                (0xB0, v) => point = Some(v.to_vec()),
                (0xF0, [r]) => reference = Some(*r),
                _ => return Err(malformed(f, "unexpected element in 7F49")),
            }
        }
        Ok(KeyAgreement {
            crt,
            ephemeral_public_key: point.ok_or(malformed(f, "7F49 lacks B0"))?,
            key_parameter_reference: reference.ok_or(malformed(f, "7F49 lacks F0"))?,
            signature: sig.value.to_vec(),
        })
    }
}

impl SmsrAddressingParameters {
    /// The parameters naming the international MSISDN `digits` (1–20 decimal digits): TON/NPI `91`, then the
    /// digits in swapped BCD with an `F` filler (TS 24.008 §10.5.4.7; wire-profile §4, §5b step 5).
    pub fn international(digits: &str) -> Result<SmsrAddressingParameters, IsdrError> {
        let f = Es5Function::UpdateSmsrAddressingParameters;
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed(
                f,
                "the SM-SR MSISDN must be 1 to 20 decimal digits",
            ));
        }
        let mut out = vec![0x91];
        for pair in digits.as_bytes().chunks(2) {
            let low = pair[0] - b'0';
            let high = pair.get(1).map_or(0x0F, |d| d - b'0');
            out.push(high << 4 | low);
        }
        Ok(SmsrAddressingParameters { smsr_msisdn: out })
    }

    fn to_bytes(&self) -> Result<Vec<u8>, TlvError> {
        let mut out = Vec::new();
        tlv::encode_into(
            Tag::byte(wire_profile::SMSR_ADDRESSING_TAG_MSISDN),
            &self.smsr_msisdn,
            &mut out,
        )?;
        Ok(out)
    }

    fn parse(value: &[u8]) -> Result<SmsrAddressingParameters, IsdrError> {
        let f = Es5Function::UpdateSmsrAddressingParameters;
        match tlv::parse_all(value).map_err(tlv_err(f))?.as_slice() {
            [item] if item.tag == Tag::byte(wire_profile::SMSR_ADDRESSING_TAG_MSISDN) => {
                Ok(SmsrAddressingParameters {
                    smsr_msisdn: item.value.to_vec(),
                })
            }
            _ => Err(malformed(f, "3A06 holds exactly one 80 (the SM-SR MSISDN)")),
        }
    }
}

/// The MasterDelete token: AES-CMAC with the ISD-P token key over `4F L <ISD-P AID>` (wire-profile §4 [P]).
pub fn master_delete_token(
    token_key: &SecretKey,
    isd_p_aid: &[u8],
) -> Result<[u8; wire_profile::DELETE_TOKEN_LEN], IsdrError> {
    let input = aid_tlv(Es5Function::MasterDelete, isd_p_aid)?;
    certs::kdf::aes_cmac(token_key.expose(), &input).map_err(|_| IsdrError::TokenKey)
}

/// Verifies a MasterDelete token in constant time (the eUICC's side of wire-profile §4 [P]).
pub fn verify_master_delete_token(
    token_key: &SecretKey,
    isd_p_aid: &[u8],
    token: &[u8],
) -> Result<bool, IsdrError> {
    let expected = master_delete_token(token_key, isd_p_aid)?;
    Ok(crate::constant_time_eq(token, &expected))
}

impl Es5Command {
    /// The ES5 function this command implements (SGP.02 §5.7).
    pub fn function(&self) -> Es5Function {
        match self {
            Es5Command::CreateIsdp { .. } => Es5Function::CreateIsdp,
            Es5Command::EnableProfile { .. } => Es5Function::EnableProfile,
            Es5Command::DisableProfile { .. } => Es5Function::DisableProfile,
            Es5Command::SetFallbackAttribute { .. } => Es5Function::SetFallbackAttribute,
            Es5Command::UpdateSmsrAddressingParameters(_) => {
                Es5Function::UpdateSmsrAddressingParameters
            }
            Es5Command::HandleNotificationConfirmation { .. } => {
                Es5Function::HandleNotificationConfirmation
            }
            Es5Command::DeleteProfile { .. } => Es5Function::DeleteProfile,
            Es5Command::MasterDelete { .. } => Es5Function::MasterDelete,
            Es5Command::AuditEis { .. } => Es5Function::AuditEis,
            Es5Command::GetExtendedCardResources => Es5Function::GetExtendedCardResources,
            Es5Command::EstablishIsdrKeySetCertificate { .. } => {
                Es5Function::EstablishIsdrKeySetCertificate
            }
            Es5Command::EstablishIsdrKeySetAgreement(_) => {
                Es5Function::EstablishIsdrKeySetAgreement
            }
            Es5Command::FinaliseIsdrHandover { .. } => Es5Function::FinaliseIsdrHandover,
        }
    }

    /// Builds the C-APDU of wire-profile §4 for this command, with the card profile's choices.
    pub fn to_apdu(&self, profile: &CardProfile) -> Result<CommandApdu, IsdrError> {
        let f = self.function();
        let last = es5_store_data_p1(false);
        match self {
            Es5Command::CreateIsdp {
                isd_p_aid,
                memory_quota,
            } => {
                check_aid(f, isd_p_aid)?;
                let mut params =
                    tlv::encode(Tag::byte(0xC9), &wire_profile::ISD_P_INSTALL_PARAMS_C9)
                        .map_err(tlv_err(f))?;
                if let Some(mem) = memory_quota {
                    let value = match u16::try_from(*mem) {
                        Ok(short) => short.to_be_bytes().to_vec(),
                        Err(_) => mem.to_be_bytes().to_vec(),
                    };
                    let quota =
                        tlv::encode(Tag::byte(wire_profile::ISD_P_MEMORY_QUOTA_TAG), &value)
                            .map_err(tlv_err(f))?;
                    tlv::encode_into(Tag::byte(0xEF), &quota, &mut params).map_err(tlv_err(f))?;
                }
                apdu::install_for_install_and_make_selectable(&InstallData {
                    load_file_aid: wire_profile::ISD_P_LOAD_FILE_AID.to_vec(),
                    module_aid: wire_profile::ISD_P_MODULE_AID.to_vec(),
                    application_aid: isd_p_aid.clone(),
                    privileges: wire_profile::ISD_P_PRIVILEGES.to_vec(),
                    parameters: params,
                    token: Vec::new(),
                })
                .map_err(apdu_err(f))
            }
            Es5Command::EnableProfile { isd_p_aid } => store_dgi(
                f,
                last,
                0,
                wire_profile::DGI_ENABLE_PROFILE,
                &aid_tlv(f, isd_p_aid)?,
            ),
            Es5Command::DisableProfile { isd_p_aid } => store_dgi(
                f,
                last,
                0,
                wire_profile::DGI_DISABLE_PROFILE,
                &aid_tlv(f, isd_p_aid)?,
            ),
            Es5Command::SetFallbackAttribute { isd_p_aid } => store_dgi(
                f,
                last,
                0,
                wire_profile::DGI_SET_FALLBACK_ATTRIBUTE,
                &aid_tlv(f, isd_p_aid)?,
            ),
            Es5Command::UpdateSmsrAddressingParameters(p) => store_dgi(
                f,
                last,
                0,
                wire_profile::DGI_UPDATE_SMSR_ADDRESSING,
                &p.to_bytes().map_err(tlv_err(f))?,
            ),
            Es5Command::HandleNotificationConfirmation { sequence } => store_dgi(
                f,
                es5_store_data_p1(true),
                0,
                wire_profile::DGI_NOTIFICATION_CONFIRMATION,
                &tlv::encode(Tag::byte(0x4E), &sequence.to_be_bytes()).map_err(tlv_err(f))?,
            ),
            Es5Command::DeleteProfile { isd_p_aid } => Ok(apdu::delete(
                profile.delete_isd_p_p2,
                aid_tlv(f, isd_p_aid)?,
            )),
            Es5Command::MasterDelete { isd_p_aid, token } => {
                let mut data = aid_tlv(f, isd_p_aid)?;
                tlv::encode_into(Tag::byte(wire_profile::DELETE_TOKEN_TAG), token, &mut data)
                    .map_err(tlv_err(f))?;
                Ok(apdu::delete(profile.delete_isd_p_p2, data))
            }
            Es5Command::AuditEis { continuation } => {
                let mut data = tlv::encode(TAG_AID, &[]).map_err(tlv_err(f))?;
                tlv::encode_into(Tag::byte(0x5C), &wire_profile::AUDIT_TAG_LIST, &mut data)
                    .map_err(tlv_err(f))?;
                let p2 = if *continuation {
                    wire_profile::AUDIT_GET_STATUS_P2_NEXT
                } else {
                    wire_profile::AUDIT_GET_STATUS_P2_FIRST
                };
                Ok(apdu::get_status(
                    wire_profile::AUDIT_GET_STATUS_P1,
                    p2,
                    data,
                ))
            }
            Es5Command::GetExtendedCardResources => Ok(apdu::get_data(
                wire_profile::GET_DATA_EXTENDED_CARD_RESOURCES,
            )),
            Es5Command::EstablishIsdrKeySetCertificate { certificate } => store_dgi(
                f,
                StoreDataP1 {
                    last_block: false,
                    encryption: StoreDataEncryption::None,
                    structure: StoreDataStructure::Dgi,
                    response_expected: true,
                },
                0,
                wire_profile::DGI_CERTIFICATE,
                certificate,
            ),
            Es5Command::EstablishIsdrKeySetAgreement(ka) => store_dgi(
                f,
                es5_store_data_p1(true),
                1,
                wire_profile::DGI_KEY_AGREEMENT,
                &ka.to_bytes().map_err(tlv_err(f))?,
            ),
            Es5Command::FinaliseIsdrHandover { old_kvn } => {
                let (first, last_id) = wire_profile::DELETE_KEY_SET_KEY_IDS;
                let data = tlv::encode(
                    Tag::byte(wire_profile::DELETE_KEY_SET_TAG),
                    &[*old_kvn, first, last_id],
                )
                .map_err(tlv_err(f))?;
                Ok(apdu::delete(0x00, data))
            }
        }
    }

    /// Recognises an ES5 C-APDU (the eUICC's side of wire-profile §4). DELETE is accepted with P2 `00`
    /// (key set), `40` or `80` (ISD-P).
    pub fn from_apdu(c: &CommandApdu) -> Result<Es5Command, IsdrError> {
        let not_es5 = || IsdrError::NotEs5Command {
            cla: c.cla,
            ins: c.ins,
            p1: c.p1,
            p2: c.p2,
        };
        if c.cla != apdu::CLA_GP {
            return Err(not_es5());
        }
        match (c.ins, c.p1, c.p2) {
            (apdu::INS_INSTALL, apdu::INSTALL_FOR_INSTALL_AND_MAKE_SELECTABLE, 0x00) => {
                parse_create_isdp(c)
            }
            (apdu::INS_STORE_DATA, _, _) => parse_store_data(c),
            (apdu::INS_DELETE, 0x00, 0x00 | 0x40 | 0x80) => parse_delete(c),
            (
                apdu::INS_GET_STATUS,
                wire_profile::AUDIT_GET_STATUS_P1,
                wire_profile::AUDIT_GET_STATUS_P2_FIRST | wire_profile::AUDIT_GET_STATUS_P2_NEXT,
            ) => {
                let f = Es5Function::AuditEis;
                let items = tlv::parse_all(&c.data).map_err(tlv_err(f))?;
                match items.as_slice() {
                    [aid, list]
                        if aid.tag == TAG_AID
                            && aid.value.is_empty()
                            && list.tag.value() == 0x5C =>
                    {
                        Ok(Es5Command::AuditEis {
                            continuation: c.p2 == wire_profile::AUDIT_GET_STATUS_P2_NEXT,
                        })
                    }
                    _ => Err(malformed(
                        f,
                        "search criteria must be 4F 00 and a 5C tag list",
                    )),
                }
            }
            (apdu::INS_GET_DATA, p1, p2)
                if u16::from_be_bytes([p1, p2])
                    == wire_profile::GET_DATA_EXTENDED_CARD_RESOURCES =>
            {
                Ok(Es5Command::GetExtendedCardResources)
            }
            _ => Err(not_es5()),
        }
    }
}

fn parse_create_isdp(c: &CommandApdu) -> Result<Es5Command, IsdrError> {
    let f = Es5Function::CreateIsdp;
    let d = InstallData::parse(&c.data).map_err(apdu_err(f))?;
    if d.load_file_aid != wire_profile::ISD_P_LOAD_FILE_AID
        || d.module_aid != wire_profile::ISD_P_MODULE_AID
    {
        return Err(malformed(f, "load file / module AID is not the ISD-P's"));
    }
    check_aid(f, &d.application_aid)?;
    let mut memory_quota = None;
    for item in tlv::parse_all(&d.parameters).map_err(tlv_err(f))? {
        match item.tag.value() {
            0xC9 => {}
            0xEF => {
                for sys in item.children().map_err(tlv_err(f))? {
                    if sys.tag.value() == u32::from(wire_profile::ISD_P_MEMORY_QUOTA_TAG) {
                        memory_quota = Some(match sys.value.len() {
                            2 => u32::from(u16::from_be_bytes([sys.value[0], sys.value[1]])),
                            4 => u32::from_be_bytes([
                                sys.value[0],
                                sys.value[1],
                                sys.value[2],
                                sys.value[3],
                            ]),
                            _ => return Err(malformed(f, "memory quota is not two or four bytes")),
                        });
                    }
                }
            }
            _ => return Err(malformed(f, "unexpected install parameter")),
        }
    }
    Ok(Es5Command::CreateIsdp {
        isd_p_aid: d.application_aid,
        memory_quota,
    })
}

fn single_aid(f: Es5Function, value: &[u8]) -> Result<Vec<u8>, IsdrError> {
    let t = tlv::parse_single(value).map_err(tlv_err(f))?;
    if t.tag != TAG_AID {
        return Err(malformed(f, "expected 4F <AID>"));
    }
    check_aid(f, t.value)?;
    Ok(t.value.to_vec())
}

fn parse_store_data(c: &CommandApdu) -> Result<Es5Command, IsdrError> {
    let unknown = Es5Function::HandleNotificationConfirmation;
    let p1 = StoreDataP1::from_byte(c.p1).map_err(apdu_err(unknown))?;
    if p1.structure != StoreDataStructure::Dgi {
        return Err(IsdrError::NotEs5Command {
            cla: c.cla,
            ins: c.ins,
            p1: c.p1,
            p2: c.p2,
        });
    }
    let dgi = tlv::parse_dgi(&c.data).map_err(tlv_err(unknown))?;
    match dgi.tag {
        wire_profile::DGI_ENABLE_PROFILE => Ok(Es5Command::EnableProfile {
            isd_p_aid: single_aid(Es5Function::EnableProfile, dgi.value)?,
        }),
        wire_profile::DGI_DISABLE_PROFILE => Ok(Es5Command::DisableProfile {
            isd_p_aid: single_aid(Es5Function::DisableProfile, dgi.value)?,
        }),
        wire_profile::DGI_SET_FALLBACK_ATTRIBUTE => Ok(Es5Command::SetFallbackAttribute {
            isd_p_aid: single_aid(Es5Function::SetFallbackAttribute, dgi.value)?,
        }),
        wire_profile::DGI_UPDATE_SMSR_ADDRESSING => Ok(Es5Command::UpdateSmsrAddressingParameters(
            SmsrAddressingParameters::parse(dgi.value)?,
        )),
        wire_profile::DGI_NOTIFICATION_CONFIRMATION => {
            let f = Es5Function::HandleNotificationConfirmation;
            let t = tlv::parse_single(dgi.value).map_err(tlv_err(f))?;
            match (t.tag.value(), t.value) {
                (0x4E, [a, b]) => Ok(Es5Command::HandleNotificationConfirmation {
                    sequence: u16::from_be_bytes([*a, *b]),
                }),
                _ => Err(malformed(f, "expected 4E 02 <sequence number>")),
            }
        }
        wire_profile::DGI_CERTIFICATE => Ok(Es5Command::EstablishIsdrKeySetCertificate {
            certificate: dgi.value.to_vec(),
        }),
        wire_profile::DGI_KEY_AGREEMENT => Ok(Es5Command::EstablishIsdrKeySetAgreement(
            KeyAgreement::parse(dgi.value)?,
        )),
        _ => Err(IsdrError::NotEs5Command {
            cla: c.cla,
            ins: c.ins,
            p1: c.p1,
            p2: c.p2,
        }),
    }
}

fn parse_delete(c: &CommandApdu) -> Result<Es5Command, IsdrError> {
    let f = Es5Function::DeleteProfile;
    let items = tlv::parse_all(&c.data).map_err(tlv_err(f))?;
    match items.as_slice() {
        [aid] if aid.tag == TAG_AID && c.p2 != 0x00 => {
            check_aid(f, aid.value)?;
            Ok(Es5Command::DeleteProfile {
                isd_p_aid: aid.value.to_vec(),
            })
        }
        [aid, token]
            if aid.tag == TAG_AID
                && token.tag == Tag::byte(wire_profile::DELETE_TOKEN_TAG)
                && c.p2 != 0x00 =>
        {
            check_aid(Es5Function::MasterDelete, aid.value)?;
            Ok(Es5Command::MasterDelete {
                isd_p_aid: aid.value.to_vec(),
                token: token.value.to_vec(),
            })
        }
        [keys] if keys.tag == Tag::byte(wire_profile::DELETE_KEY_SET_TAG) && c.p2 == 0x00 => {
            let (first, last) = wire_profile::DELETE_KEY_SET_KEY_IDS;
            match keys.value {
                [kvn, a, b] if (*a, *b) == (first, last) => {
                    Ok(Es5Command::FinaliseIsdrHandover { old_kvn: *kvn })
                }
                _ => Err(malformed(
                    Es5Function::FinaliseIsdrHandover,
                    "expected F2 03 <KVN> 01 03",
                )),
            }
        }
        _ => Err(malformed(f, "DELETE data is neither 4F, 4F+9E nor F2")),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------------------------

/// Encodes the response data of HandleNotificationConfirmation: `80 L { 4F L <AID> … }` listing the ISD-Ps the
/// eUICC deleted by POL1, or nothing (SGP.02 §5.7.11; wire-profile §4).
pub fn encode_notification_confirmation_response(
    deleted_by_pol1: &[Vec<u8>],
) -> Result<Vec<u8>, IsdrError> {
    let f = Es5Function::HandleNotificationConfirmation;
    if deleted_by_pol1.is_empty() {
        return Ok(Vec::new());
    }
    let mut inner = Vec::new();
    for aid in deleted_by_pol1 {
        inner.extend_from_slice(&aid_tlv(f, aid)?);
    }
    tlv::encode(Tag::byte(0x80), &inner).map_err(tlv_err(f))
}

/// Parses the response data of HandleNotificationConfirmation into the AIDs deleted by POL1
/// (SGP.02 §5.7.11; wire-profile §4).
pub fn parse_notification_confirmation_response(data: &[u8]) -> Result<Vec<Vec<u8>>, IsdrError> {
    let f = Es5Function::HandleNotificationConfirmation;
    if data.is_empty() {
        return Ok(Vec::new());
    }
    let outer = tlv::parse_single(data).map_err(tlv_err(f))?;
    if outer.tag != Tag::byte(0x80) {
        return Err(malformed(f, "response is not 80 { 4F … }"));
    }
    outer
        .children()
        .map_err(tlv_err(f))?
        .iter()
        .map(|t| {
            if t.tag != TAG_AID {
                return Err(malformed(f, "response 80 holds a tag other than 4F"));
            }
            check_aid(f, t.value)?;
            Ok(t.value.to_vec())
        })
        .collect()
}

/// ISD-P life-cycle state of `9F70` (SGP.02 §2.2.1.2; wire-profile §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IsdpState {
    /// `07`: selectable (created, no profile yet).
    Selectable,
    /// `0F`: personalized.
    Personalized,
    /// `1F`: disabled.
    Disabled,
    /// `3F`: enabled.
    Enabled,
    /// Any other life-cycle byte (e.g. locked), reported as is.
    Other(u8),
}

impl IsdpState {
    /// Decodes the life-cycle byte (wire-profile §4).
    pub fn from_byte(b: u8) -> IsdpState {
        match b {
            wire_profile::LIFECYCLE_SELECTABLE => IsdpState::Selectable,
            wire_profile::LIFECYCLE_PERSONALIZED => IsdpState::Personalized,
            wire_profile::LIFECYCLE_DISABLED => IsdpState::Disabled,
            wire_profile::LIFECYCLE_ENABLED => IsdpState::Enabled,
            other => IsdpState::Other(other),
        }
    }

    /// The life-cycle byte (wire-profile §4).
    pub fn to_byte(self) -> u8 {
        match self {
            IsdpState::Selectable => wire_profile::LIFECYCLE_SELECTABLE,
            IsdpState::Personalized => wire_profile::LIFECYCLE_PERSONALIZED,
            IsdpState::Disabled => wire_profile::LIFECYCLE_DISABLED,
            IsdpState::Enabled => wire_profile::LIFECYCLE_ENABLED,
            IsdpState::Other(b) => b,
        }
    }
}

/// One ISD-P in the AuditEIS GET STATUS response `E3 { 4F, 9F70, 53 }` (SGP.02 §5.7.5; wire-profile §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsdpStatus {
    /// The ISD-P AID.
    pub aid: Vec<u8>,
    /// Its life-cycle state.
    pub state: IsdpState,
    /// Whether it carries the fall-back attribute (`53 01 01`).
    pub fallback: bool,
}

/// Encodes the GET STATUS response data: one `E3 { 4F L AID, 9F70 01 state, 53 01 00/01 }` per ISD-P
/// (GP Card Specification §11.4.3.2; wire-profile §4).
pub fn encode_audit_response(isdps: &[IsdpStatus]) -> Result<Vec<u8>, IsdrError> {
    let f = Es5Function::AuditEis;
    let mut out = Vec::new();
    for p in isdps {
        let mut inner = aid_tlv(f, &p.aid)?;
        tlv::encode_into(Tag::two(0x9F70), &[p.state.to_byte()], &mut inner).map_err(tlv_err(f))?;
        tlv::encode_into(Tag::byte(0x53), &[u8::from(p.fallback)], &mut inner)
            .map_err(tlv_err(f))?;
        tlv::encode_into(Tag::byte(0xE3), &inner, &mut out).map_err(tlv_err(f))?;
    }
    Ok(out)
}

/// Parses the GET STATUS response data into one [`IsdpStatus`] per `E3` (GP Card Specification §11.4.3.2;
/// wire-profile §4). Unknown tags inside `E3` are skipped; `4F` and `9F70` are required.
pub fn parse_audit_response(data: &[u8]) -> Result<Vec<IsdpStatus>, IsdrError> {
    let f = Es5Function::AuditEis;
    let mut out = Vec::new();
    for e3 in tlv::parse_all(data).map_err(tlv_err(f))? {
        if e3.tag != Tag::byte(0xE3) {
            return Err(malformed(
                f,
                "GET STATUS response holds a tag other than E3",
            ));
        }
        let mut aid = None;
        let mut state = None;
        let mut fallback = false;
        for item in e3.children().map_err(tlv_err(f))? {
            match (item.tag.value(), item.value) {
                (0x4F, v) => {
                    check_aid(f, v)?;
                    aid = Some(v.to_vec());
                }
                (0x9F70, [s]) | (0x9F70, [s, _]) => state = Some(IsdpState::from_byte(*s)),
                (0x9F70, _) => return Err(malformed(f, "9F70 is not one or two bytes")),
                (0x53, [b]) => fallback = b & 0x01 != 0,
                (0x53, _) => return Err(malformed(f, "53 is not one byte")),
                _ => {}
            }
        }
        out.push(IsdpStatus {
            aid: aid.ok_or(malformed(f, "E3 lacks 4F"))?,
            state: state.ok_or(malformed(f, "E3 lacks 9F70"))?,
            fallback,
        });
    }
    Ok(out)
}

/// Extended card resources, GET DATA `FF21` (ETSI TS 102 226 §8.2.1.7.2; wire-profile §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedCardResources {
    /// `81`: number of installed applications.
    pub installed_applications: u32,
    /// `82`: free non-volatile memory in bytes.
    pub free_non_volatile_memory: u32,
    /// `83`: free volatile memory in bytes.
    pub free_volatile_memory: u32,
}

fn minimal_be(v: u32) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().take(3).take_while(|x| **x == 0).count();
    b[skip..].to_vec()
}

impl ExtendedCardResources {
    /// Encodes `FF21 L { 81 L n, 82 L nvm, 83 L vm }`, each value in its shortest form
    /// (ETSI TS 102 226 §8.2.1.7.2).
    pub fn to_bytes(&self) -> Result<Vec<u8>, IsdrError> {
        let f = Es5Function::GetExtendedCardResources;
        let mut inner = Vec::new();
        for (tag, v) in [
            (0x81, self.installed_applications),
            (0x82, self.free_non_volatile_memory),
            (0x83, self.free_volatile_memory),
        ] {
            tlv::encode_into(Tag::byte(tag), &minimal_be(v), &mut inner).map_err(tlv_err(f))?;
        }
        tlv::encode(Tag::two(0xFF21), &inner).map_err(tlv_err(f))
    }

    /// Parses `FF21 L { 81, 82, 83 }` with 1–4 byte values (ETSI TS 102 226 §8.2.1.7.2).
    pub fn parse(data: &[u8]) -> Result<ExtendedCardResources, IsdrError> {
        let f = Es5Function::GetExtendedCardResources;
        let outer = tlv::parse_single(data).map_err(tlv_err(f))?;
        if outer.tag != Tag::two(0xFF21) {
            return Err(malformed(f, "response is not FF21"));
        }
        let mut values = [None::<u32>; 3];
        for item in outer.children().map_err(tlv_err(f))? {
            let slot = match item.tag.value() {
                0x81 => &mut values[0],
                0x82 => &mut values[1],
                0x83 => &mut values[2],
                _ => continue,
            };
            if item.value.is_empty() || item.value.len() > 4 {
                return Err(malformed(f, "FF21 value is not 1 to 4 bytes"));
            }
            *slot = Some(
                item.value
                    .iter()
                    .fold(0u32, |acc, b| (acc << 8) | u32::from(*b)),
            );
        }
        let [Some(a), Some(n), Some(v)] = values else {
            return Err(malformed(f, "FF21 lacks 81, 82 or 83"));
        };
        Ok(ExtendedCardResources {
            installed_applications: a,
            free_non_volatile_memory: n,
            free_volatile_memory: v,
        })
    }
}

/// Encodes the response to the `3A01` step: `85 L <random challenge>` (wire-profile §5 step 1).
pub fn encode_random_challenge_response(random_challenge: &[u8]) -> Result<Vec<u8>, IsdrError> {
    tlv::encode(Tag::byte(0x85), random_challenge)
        .map_err(tlv_err(Es5Function::EstablishIsdrKeySetCertificate))
}

/// Parses the response to the `3A01` step into the random challenge (wire-profile §5 step 1).
pub fn parse_random_challenge_response(data: &[u8]) -> Result<Vec<u8>, IsdrError> {
    let f = Es5Function::EstablishIsdrKeySetCertificate;
    let t = tlv::parse_single(data).map_err(tlv_err(f))?;
    if t.tag != Tag::byte(0x85) {
        return Err(malformed(f, "response is not 85 <random challenge>"));
    }
    Ok(t.value.to_vec())
}

/// The response to the `3A02` step: optional derivation random `85`, receipt `86` (wire-profile §5 step 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAgreementResponse {
    /// `85 L <DR>`, when the scenario includes it.
    pub derivation_random: Option<Vec<u8>>,
    /// `86 L <receipt>`.
    pub receipt: Vec<u8>,
}

impl KeyAgreementResponse {
    /// Encodes `[85 L DR] 86 L receipt` (wire-profile §5 step 2).
    pub fn to_bytes(&self) -> Result<Vec<u8>, IsdrError> {
        let f = Es5Function::EstablishIsdrKeySetAgreement;
        let mut out = Vec::new();
        if let Some(dr) = &self.derivation_random {
            tlv::encode_into(Tag::byte(0x85), dr, &mut out).map_err(tlv_err(f))?;
        }
        tlv::encode_into(Tag::byte(0x86), &self.receipt, &mut out).map_err(tlv_err(f))?;
        Ok(out)
    }

    /// Parses `[85 L DR] 86 L receipt` (wire-profile §5 step 2).
    pub fn parse(data: &[u8]) -> Result<KeyAgreementResponse, IsdrError> {
        let f = Es5Function::EstablishIsdrKeySetAgreement;
        let items = tlv::parse_all(data).map_err(tlv_err(f))?;
        match items.as_slice() {
            [r] if r.tag == Tag::byte(0x86) => Ok(KeyAgreementResponse {
                derivation_random: None,
                receipt: r.value.to_vec(),
            }),
            [dr, r] if dr.tag == Tag::byte(0x85) && r.tag == Tag::byte(0x86) => {
                Ok(KeyAgreementResponse {
                    derivation_random: Some(dr.value.to_vec()),
                    receipt: r.value.to_vec(),
                })
            }
            _ => Err(malformed(f, "response is not [85 DR] 86 receipt")),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Status words
// ---------------------------------------------------------------------------------------------------------------

/// How an ES5 command completed (ISO/IEC 7816-4 §5.1.3, GP Card Specification §11.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Es5Completion {
    /// `9000` (or `61xx`).
    Done,
    /// `6310`: more data; send [`Es5Command::AuditEis`] with `continuation: true`.
    MoreData,
}

/// Why an ES5 command failed, from its status word (ISO/IEC 7816-4 §5.1.3; GP Card Specification §11.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Es5FailureKind {
    /// `6A88`: the ISD-P (or key set) does not exist.
    ReferencedDataNotFound,
    /// `6985`: refused in the current state (e.g. profile not disabled, POL1 forbids, fall-back profile).
    ConditionsNotSatisfied,
    /// `6982`: security status not satisfied (e.g. wrong token or signature).
    SecurityStatusNotSatisfied,
    /// `6A80`: incorrect values in the command data.
    IncorrectData,
    /// `6A84`: not enough memory.
    NotEnoughMemory,
    /// `6A86`: incorrect P1/P2.
    IncorrectP1P2,
    /// `6700`: wrong length.
    WrongLength,
    /// `6D00`: instruction not supported.
    InsNotSupported,
    /// `6E00`: class not supported.
    ClaNotSupported,
    /// Any other status word.
    Other,
}

/// A failed ES5 command: function, status word and its typed meaning (SGP.02 §5.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{function} failed with SW {sw} ({kind:?})")]
pub struct Es5Failure {
    /// The function.
    pub function: Es5Function,
    /// The status word.
    pub sw: StatusWord,
    /// Its meaning.
    pub kind: Es5FailureKind,
}

/// Interprets the status word of an ES5 command's R-APDU (ISO/IEC 7816-4 §5.1.3; GP Card Specification
/// §11.1.3; SGP.02 §5.7). `6310` is success with more data only for AuditEIS.
pub fn interpret(
    function: Es5Function,
    response: &ResponseApdu,
) -> Result<Es5Completion, Es5Failure> {
    let sw = response.sw;
    if sw.is_success() {
        return Ok(Es5Completion::Done);
    }
    if sw == StatusWord::MORE_DATA && function == Es5Function::AuditEis {
        return Ok(Es5Completion::MoreData);
    }
    let kind = match sw {
        StatusWord::REFERENCED_DATA_NOT_FOUND => Es5FailureKind::ReferencedDataNotFound,
        StatusWord::CONDITIONS_NOT_SATISFIED => Es5FailureKind::ConditionsNotSatisfied,
        StatusWord::SECURITY_STATUS => Es5FailureKind::SecurityStatusNotSatisfied,
        StatusWord::INCORRECT_DATA => Es5FailureKind::IncorrectData,
        StatusWord::NOT_ENOUGH_MEMORY => Es5FailureKind::NotEnoughMemory,
        StatusWord::INCORRECT_P1P2 => Es5FailureKind::IncorrectP1P2,
        StatusWord::WRONG_LENGTH => Es5FailureKind::WrongLength,
        StatusWord::INS_NOT_SUPPORTED => Es5FailureKind::InsNotSupported,
        StatusWord::CLA_NOT_SUPPORTED => Es5FailureKind::ClaNotSupported,
        _ => Es5FailureKind::Other,
    };
    Err(Es5Failure { function, sw, kind })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_smsr_msisdn_is_coded_as_ts_24_008_swapped_bcd() {
        // TS 24.008 §10.5.4.7: 91 (international, ISDN), digit 1 in the low nibble, F filler for an odd count.
        let p = SmsrAddressingParameters::international("4915550000").expect("valid");
        assert_eq!(p.smsr_msisdn, [0x91, 0x94, 0x51, 0x55, 0x00, 0x00]);
        let odd = SmsrAddressingParameters::international("123").expect("valid");
        assert_eq!(odd.smsr_msisdn, [0x91, 0x21, 0xF3]);
        for bad in ["", "12a", "123456789012345678901"] {
            assert!(
                SmsrAddressingParameters::international(bad).is_err(),
                "{bad:?}"
            );
        }
    }
}
