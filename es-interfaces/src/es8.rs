//! ES8 between the SM-DP and the ISD-P, the parts both ends compute alike (wire-profile §5, §7): the CRT of the
//! key agreement, the key derivation and receipt of key establishment (GP Amendment E scenario #3), and the
//! `EUICCResponse` the ISD-P answers the last SCP03t segment with (TCA PEDefinitions v3.3.1).
//! The SM-DP's side adds the `3A01`/`3A02` STORE DATA commands for an ISD-P and the grouping of ES8 commands
//! into the command scripts of ES3.SendData under a byte budget (download contract).
//!
//! The key establishment pieces are generic in the key usage, KVN, initial counter and SharedInfo
//! ([`key_establishment_crt`], [`derive_key_data`], [`sign_key_agreement`], [`receipt`]): SM-SR change
//! ([`crate::isdr_key_set`], wire-profile §5b) uses them for the ISD-R's SCP80 key set.
//!
//! The DGI commands `3A01`/`3A02` and their responses are [`crate::isdr`]'s ([`Es5Command`] carries them for
//! the ISD-R as for an ISD-P; the bytes are the same), SCP03t is [`crate::scp03::scp03t`].
//!
//! [`Es5Command`]: crate::isdr::Es5Command

use certs::ecc::{PrivateKey, PublicKey};
use certs::kdf::{aes_cmac, x963_sha256};

use crate::apdu::CommandApdu;
use crate::isdr::{Es5Command, IsdrError};
use crate::isdr::{KeyAgreement, KeyAgreementCrt};
use crate::script::{CommandScript, ScriptError};
use crate::wire_profile::CardProfile;

use crate::scp03::StaticKeys;
use crate::scp80::SecretKey;
use crate::tlv::{self, Tag, TlvError};
use crate::wire_profile;

/// Errors of the ES8 helpers and the `EUICCResponse` codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Es8Error {
    /// A TLV structure is broken.
    #[error("{0}")]
    Tlv(#[from] TlvError),
    /// The DER does not follow the ASN.1 type.
    #[error("EUICCResponse: {0}")]
    Malformed(&'static str),
    /// The shared secret is not 32 bytes or a key is not AES-128.
    #[error("key material of the wrong length")]
    KeyLength,
}

/// The CRT `A6` of key establishment (GP Amendment E §4 scenario #3) for a key set of three AES-128 keys, ids 1–3:
/// scenario `90 02`, key usage `95 01`, `80 01 88`, `81 01 10`, `82 01 01`, KVN `83 01` and, for an SCP80 key set,
/// its initial counter `91 05` (wire-profile §5 step 2, §5b step 2).
pub fn key_establishment_crt(
    scenario: [u8; 2],
    key_usage: u8,
    kvn: u8,
    initial_counter: Option<[u8; 5]>,
) -> KeyAgreementCrt {
    KeyAgreementCrt {
        scenario,
        key_usage,
        key_type: wire_profile::KEY_TYPE_AES,
        key_length: wire_profile::KEY_LENGTH_AES128,
        key_id: wire_profile::KEY_AGREEMENT_FIRST_KEY_ID,
        kvn,
        initial_counter,
    }
}

/// The CRT `A6` of key establishment for the ISD-P's SCP03 key set `kvn` (wire-profile §5 step 2).
pub fn isd_p_crt(kvn: u8) -> KeyAgreementCrt {
    key_establishment_crt(
        wire_profile::KEY_AGREEMENT_SCENARIO,
        wire_profile::KEY_USAGE_ISD_P_SCP03,
        kvn,
        None,
    )
}

/// Whether `crt` is one the ISD-P accepts: [`isd_p_crt`] with a KVN in the SCP03 range (wire-profile §5).
pub fn is_isd_p_crt(crt: &KeyAgreementCrt) -> bool {
    wire_profile::KVN_SCP03.contains(&crt.kvn) && *crt == isd_p_crt(crt.kvn)
}

/// The keys of key establishment: receipt key and the SCP03 key set (wire-profile §5 step 3).
#[derive(Debug, Clone)]
pub struct IsdPKeyData {
    /// The receipt key (first 16 bytes of KeyData).
    pub receipt_key: SecretKey,
    /// K-ENC, K-MAC, K-DEK (key ids 1, 2, 3).
    pub keys: StaticKeys,
}

/// KeyData of key establishment cut into its four AES-128 keys: the receipt key, then the keys of key ids 1, 2, 3
/// (wire-profile §5 step 3, §5b step 3). Every key zeroizes on drop and never appears in Debug output.
#[derive(Debug)]
pub struct KeyData {
    /// The receipt key (first 16 bytes).
    pub receipt_key: SecretKey,
    /// The keys of key ids 1, 2, 3 (bytes 16–63).
    pub keys: [SecretKey; 3],
}

/// KeyData = X9.63-KDF-SHA256(ShS, 64 bytes, `shared_info`), ShS the 32-byte x-coordinate of ECKA
/// (wire-profile §5 step 3, §5b step 3).
pub fn derive_key_data(shared_secret: &[u8], shared_info: &[u8]) -> Result<KeyData, Es8Error> {
    if shared_secret.len() != 32 {
        return Err(Es8Error::KeyLength);
    }
    let data = x963_sha256(shared_secret, shared_info, wire_profile::ES8_KEY_DATA_LEN);
    let key = |i: usize| SecretKey::new(&data[16 * i..16 * (i + 1)]);
    Ok(KeyData {
        receipt_key: key(0),
        keys: [key(1), key(2), key(3)],
    })
}

/// KeyData = X9.63-KDF-SHA256(ShS, 64 bytes, SharedInfo `5C 88 10`) = receipt key ‖ K-ENC ‖ K-MAC ‖ K-DEK
/// (wire-profile §5 step 3).
pub fn derive_isd_p_keys(shared_secret: &[u8]) -> Result<IsdPKeyData, Es8Error> {
    let KeyData {
        receipt_key,
        keys: [enc, mac, dek],
    } = derive_key_data(shared_secret, &wire_profile::ES8_KDF_SHARED_INFO)?;
    Ok(IsdPKeyData {
        receipt_key,
        keys: StaticKeys { enc, mac, dek },
    })
}

/// Signs a key agreement: the CRT, the ephemeral public key (`7F49 { B0, F0 }`) and `5F37` = ECDSA-SHA256 by
/// `signer` over `A6 TLV ‖ 7F49 TLV ‖ 85 L <random challenge>` (wire-profile §5 step 2, §5b step 2).
pub fn sign_key_agreement(
    signer: &PrivateKey,
    crt: KeyAgreementCrt,
    ephemeral_public_key: &PublicKey,
    random_challenge: &[u8],
) -> Result<KeyAgreement, Es8Error> {
    let mut agreement = KeyAgreement {
        crt,
        ephemeral_public_key: ephemeral_public_key.as_sec1_uncompressed().to_vec(),
        key_parameter_reference: ephemeral_public_key.curve().key_parameter_reference(),
        signature: Vec::new(),
    };
    let signed = agreement.signed_data(random_challenge)?;
    agreement.signature = signer.sign(&signed).to_vec();
    Ok(agreement)
}

/// Receipt = AES-CMAC(receipt key, `A6 TLV ‖ 7F49 TLV`) of the key agreement (wire-profile §5 step 4).
pub fn receipt(receipt_key: &SecretKey, agreement: &KeyAgreement) -> Result<[u8; 16], Es8Error> {
    let mut signed = agreement.signed_data(&[])?;
    // signed_data ends with `85 00` for an empty challenge: the receipt covers what precedes it.
    signed.truncate(signed.len().saturating_sub(2));
    aes_cmac(receipt_key.expose(), &signed).map_err(|_| Es8Error::KeyLength)
}

/// `PEStatus.status` values used here (TCA PEDefinitions v3.3.1).
pub mod pe_status {
    /// `ok`.
    pub const OK: u16 = 0;
    /// `bad-values`.
    pub const BAD_VALUES: u16 = 3;
    /// `not-enough-memory`.
    pub const NOT_ENOUGH_MEMORY: u16 = 4;
    /// `invalid-request-format`.
    pub const INVALID_REQUEST_FORMAT: u16 = 5;
    /// `invalid-parameter`.
    pub const INVALID_PARAMETER: u16 = 6;
}

/// `PEStatus` (TCA PEDefinitions v3.3.1): status, and where the fault is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeStatus {
    /// `status` ([`pe_status`]).
    pub status: u16,
    /// `identification` of the PE concerned.
    pub identification: Option<u16>,
    /// `additional-information`.
    pub additional_information: Option<u8>,
    /// `offset` within the PE.
    pub offset: Option<u32>,
}

impl PeStatus {
    /// A status without identification, information or offset.
    pub fn new(status: u16) -> PeStatus {
        PeStatus {
            status,
            identification: None,
            additional_information: None,
            offset: None,
        }
    }
}

/// `EUICCResponse` (TCA PEDefinitions v3.3.1, AUTOMATIC TAGS): the ISD-P's answer to the last SCP03t segment
/// (wire-profile §7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EuiccResponse {
    /// `peStatus`.
    pub pe_status: Vec<PeStatus>,
    /// `profileInstallationAborted` present.
    pub profile_installation_aborted: bool,
    /// `statusMessage` (2 to 64 characters).
    pub status_message: Option<String>,
}

fn der_uint(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take(7).take_while(|b| **b == 0).count();
    let mut out = bytes[skip..].to_vec();
    if out.first().is_some_and(|b| b & 0x80 != 0) {
        out.insert(0, 0);
    }
    out
}

fn parse_uint(v: &[u8], max: u64) -> Result<u64, Es8Error> {
    let bad = Es8Error::Malformed("INTEGER out of range or not minimal");
    match v {
        [] => return Err(bad),
        [0, next, ..] if next & 0x80 == 0 => return Err(bad),
        [first, ..] if first & 0x80 != 0 => return Err(bad),
        _ => {}
    }
    if v.len() > 9 {
        return Err(bad);
    }
    let n = v.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if n > max { Err(bad) } else { Ok(n) }
}

impl EuiccResponse {
    /// Success: one `PEStatus` `ok` (`30 07 A0 05 30 03 80 01 00`, wire-profile §7).
    pub fn success() -> EuiccResponse {
        EuiccResponse {
            pe_status: vec![PeStatus::new(pe_status::OK)],
            profile_installation_aborted: false,
            status_message: None,
        }
    }

    /// A refused package: `status` for the PE `identification`, and `profileInstallationAborted`
    /// (wire-profile §7).
    pub fn aborted(status: u16, identification: Option<u16>) -> EuiccResponse {
        EuiccResponse {
            pe_status: vec![PeStatus {
                identification,
                ..PeStatus::new(status)
            }],
            profile_installation_aborted: true,
            status_message: None,
        }
    }

    /// Whether the package was installed: no abort and every status `ok`.
    pub fn is_success(&self) -> bool {
        !self.profile_installation_aborted && self.pe_status.iter().all(|s| s.status == 0)
    }

    /// The DER encoding (X.690 §10).
    pub fn to_der(&self) -> Result<Vec<u8>, Es8Error> {
        let mut list = Vec::new();
        for s in &self.pe_status {
            let mut inner = tlv::encode(Tag::byte(0x80), &der_uint(u64::from(s.status)))?;
            if let Some(v) = s.identification {
                tlv::encode_into(Tag::byte(0x81), &der_uint(u64::from(v)), &mut inner)?;
            }
            if let Some(v) = s.additional_information {
                tlv::encode_into(Tag::byte(0x82), &der_uint(u64::from(v)), &mut inner)?;
            }
            if let Some(v) = s.offset {
                tlv::encode_into(Tag::byte(0x83), &der_uint(u64::from(v)), &mut inner)?;
            }
            tlv::encode_into(Tag::byte(0x30), &inner, &mut list)?;
        }
        let mut body = tlv::encode(Tag::byte(0xA0), &list)?;
        if self.profile_installation_aborted {
            tlv::encode_into(Tag::byte(0x81), &[], &mut body)?;
        }
        if let Some(m) = &self.status_message {
            if !(2..=64).contains(&m.chars().count()) {
                return Err(Es8Error::Malformed(
                    "statusMessage must be 2 to 64 characters",
                ));
            }
            tlv::encode_into(Tag::byte(0x82), m.as_bytes(), &mut body)?;
        }
        Ok(tlv::encode(Tag::byte(0x30), &body)?)
    }

    /// Parses the DER of an `EUICCResponse` (X.690 §10; fields in ASN.1 order, nothing else).
    pub fn parse(der: &[u8]) -> Result<EuiccResponse, Es8Error> {
        let outer = tlv::parse_single(der)?;
        if outer.tag != Tag::byte(0x30) {
            return Err(Es8Error::Malformed("not a SEQUENCE"));
        }
        let items = outer.children()?;
        let mut it = items.iter().peekable();
        let list = it
            .next()
            .filter(|t| t.tag == Tag::byte(0xA0))
            .ok_or(Es8Error::Malformed("peStatus [0] missing"))?;
        let mut pe_status = Vec::new();
        for s in list.children()? {
            if s.tag != Tag::byte(0x30) {
                return Err(Es8Error::Malformed("PEStatus is not a SEQUENCE"));
            }
            let mut st = None;
            let mut out = PeStatus::new(0);
            let mut last = 0x7F;
            for f in s.children()? {
                let tag = f.tag.value();
                if !(0x80..=0x83).contains(&tag) || (last != 0x7F && tag <= last) {
                    return Err(Es8Error::Malformed("unexpected or repeated PEStatus field"));
                }
                last = tag;
                match tag {
                    0x80 => st = Some(parse_uint(f.value, u64::from(u16::MAX))? as u16),
                    0x81 => out.identification = Some(parse_uint(f.value, 0x7FFF)? as u16),
                    0x82 => out.additional_information = Some(parse_uint(f.value, 0xFF)? as u8),
                    _ => out.offset = Some(parse_uint(f.value, 0x7FFF_FFFF)? as u32),
                }
            }
            out.status = st.ok_or(Es8Error::Malformed("PEStatus without status"))?;
            pe_status.push(out);
        }
        let mut profile_installation_aborted = false;
        if let Some(t) = it.next_if(|t| t.tag == Tag::byte(0x81)) {
            if !t.value.is_empty() {
                return Err(Es8Error::Malformed(
                    "profileInstallationAborted is not NULL",
                ));
            }
            profile_installation_aborted = true;
        }
        let mut status_message = None;
        if let Some(t) = it.next_if(|t| t.tag == Tag::byte(0x82)) {
            let m = String::from_utf8(t.value.to_vec())
                .map_err(|_| Es8Error::Malformed("statusMessage is not UTF-8"))?;
            status_message = Some(m);
        }
        if it.next().is_some() {
            return Err(Es8Error::Malformed("unexpected field"));
        }
        Ok(EuiccResponse {
            pe_status,
            profile_installation_aborted,
            status_message,
        })
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The SM-DP's side: the key establishment commands and the SendData scripts (download contract)
// ---------------------------------------------------------------------------------------------------------------

/// Step 1: `80 E2 09 00 Lc 3A01 L <CERT.DP.ECDSA>` (wire-profile §5 step 1; the same bytes as the ISD-R's).
pub fn establish_key_set_certificate(cert_dp: &[u8]) -> Result<CommandApdu, IsdrError> {
    Es5Command::EstablishIsdrKeySetCertificate {
        certificate: cert_dp.to_vec(),
    }
    .to_apdu(&CardProfile::default())
}

/// Step 2: `80 E2 89 01 Lc 3A02 L { A6, 7F49, 5F37 }` (wire-profile §5 step 2).
pub fn establish_key_set_agreement(agreement: &KeyAgreement) -> Result<CommandApdu, IsdrError> {
    Es5Command::EstablishIsdrKeySetAgreement(agreement.clone()).to_apdu(&CardProfile::default())
}

/// Groups ES8 commands, in order, into definite command scripts `AA L { 22 L <C-APDU> … }` of at most `budget`
/// bytes each (a command that alone exceeds the budget travels alone); the download contract's ES3.SendData
/// scripts.
pub fn group_scripts(
    commands: Vec<CommandApdu>,
    budget: usize,
) -> Result<Vec<CommandScript>, ScriptError> {
    let mut scripts = Vec::new();
    let mut current: Vec<CommandApdu> = Vec::new();
    for c in commands {
        current.push(c);
        if current.len() > 1
            && CommandScript::new(current.clone()).to_expanded()?.len() > budget
            && let Some(last) = current.pop()
        {
            scripts.push(CommandScript::new(std::mem::take(&mut current)));
            current.push(last);
        }
    }
    if !current.is_empty() {
        scripts.push(CommandScript::new(current));
    }
    Ok(scripts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_the_wire_profile_bytes_and_round_trips() {
        let der = EuiccResponse::success().to_der().unwrap();
        assert_eq!(hex::encode_upper(&der), "3007A0053003800100");
        let back = EuiccResponse::parse(&der).unwrap();
        assert!(back.is_success());
        assert_eq!(back, EuiccResponse::success());
    }

    #[test]
    fn an_aborted_response_round_trips_with_every_field() {
        let r = EuiccResponse {
            pe_status: vec![
                PeStatus {
                    status: pe_status::BAD_VALUES,
                    identification: Some(200),
                    additional_information: Some(255),
                    offset: Some(0x0001_0000),
                },
                PeStatus::new(0x6A80),
            ],
            profile_installation_aborted: true,
            status_message: Some("bad".into()),
        };
        let der = r.to_der().unwrap();
        assert_eq!(
            hex::encode_upper(&der),
            "3021A0183010800103810200C8820200FF830301000030048002 6A8081008203626164"
                .replace(' ', "")
        );
        let back = EuiccResponse::parse(&der).unwrap();
        assert_eq!(back, r);
        assert!(!back.is_success());
    }

    #[test]
    fn parse_refuses_broken_der() {
        for hex in [
            "3005A0033001",             // PEStatus truncated
            "3005A00330018001",         // wrong length
            "300AA0053003800100810100", // abort not NULL
            "3006A00430028100",         // no status
            "300AA00530038001008300",   // unexpected element
            "3008A00630048002007F",     // non-minimal INTEGER
            "3100",                     // not a SEQUENCE
        ] {
            let der = hex::decode(hex.replace(' ', "")).unwrap();
            assert!(EuiccResponse::parse(&der).is_err(), "{hex}");
        }
    }

    #[test]
    fn crt_of_the_isd_p_is_recognised() {
        let crt = isd_p_crt(0x30);
        assert!(is_isd_p_crt(&crt));
        assert_eq!(
            hex::encode_upper(crt.to_bytes().unwrap()),
            "A6139002030095015C8001888101108201018301 30".replace(' ', "")
        );
        assert!(!is_isd_p_crt(&KeyAgreementCrt {
            key_usage: 0x10,
            ..crt.clone()
        }));
        assert!(!is_isd_p_crt(&isd_p_crt(0x05)));
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::apdu::{self, CommandApdu, StoreDataEncryption, StoreDataP1, StoreDataStructure};
    use crate::isdr::Es5Command;
    use crate::script::CommandScript;

    #[test]
    fn key_establishment_commands_round_trip() {
        let cert = vec![0x7F, 0x21, 0x03, 0x93, 0x01, 0x01];
        let c = establish_key_set_certificate(&cert).expect("3A01");
        assert_eq!((c.cla, c.ins, c.p1, c.p2), (0x80, 0xE2, 0x09, 0x00));
        assert_eq!(&c.data[..3], &[0x3A, 0x01, 0x06]);
        let ka = KeyAgreement {
            crt: isd_p_crt(wire_profile::ES8_ISD_P_KVN),
            ephemeral_public_key: [vec![0x04], vec![0x11; 64]].concat(),
            key_parameter_reference: wire_profile::ES8_KEY_PARAMETER_P256,
            signature: vec![0x22; 64],
        };
        let c = establish_key_set_agreement(&ka).expect("3A02");
        assert_eq!((c.cla, c.ins, c.p1, c.p2), (0x80, 0xE2, 0x89, 0x01));
        match Es5Command::from_apdu(&c).expect("parse") {
            Es5Command::EstablishIsdrKeySetAgreement(back) => assert_eq!(back, ka),
            other => panic!("parsed as {other:?}"),
        }
    }

    fn segment(block: u8, len: usize) -> CommandApdu {
        apdu::store_data(
            StoreDataP1 {
                last_block: false,
                encryption: StoreDataEncryption::None,
                structure: StoreDataStructure::BerTlv,
                response_expected: true,
            },
            block,
            vec![block; len],
        )
    }

    #[test]
    fn scripts_respect_the_budget_and_keep_the_order() {
        let commands: Vec<CommandApdu> = (0..9).map(|i| segment(i, 251)).collect();
        let scripts = group_scripts(commands.clone(), 1000).expect("group");
        assert_eq!(
            scripts.len(),
            3,
            "three 262-byte TLVs fit in 1000 bytes, four do not"
        );
        let mut back = Vec::new();
        for s in &scripts {
            let bytes = s.to_expanded().expect("encode");
            assert!(bytes.len() <= 1000, "{} bytes", bytes.len());
            back.extend(
                CommandScript::parse_expanded(&bytes)
                    .expect("parse")
                    .commands,
            );
        }
        assert_eq!(back, commands);
        let alone = group_scripts(vec![segment(0, 251), segment(1, 251)], 100).expect("group");
        assert_eq!(
            alone.len(),
            2,
            "a command larger than the budget travels alone"
        );
        assert!(group_scripts(Vec::new(), 1000).expect("group").is_empty());
    }
}
