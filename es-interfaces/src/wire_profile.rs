//! Every choice of docs/wire-profile.md in one place: the bytes the SM-SR and the eUICC exchange on ES5 / ES8.
//!
//! Each item cites the wire-profile section and its evidence grade: **[V]** reproduced against vectors from real
//! cards, **[S]** found in one public implementation, **[P]** provisional (the public sources disagree or are
//! silent, and this file decides). Other modules read their choices from here only, so a correction against the
//! official SGP.02 / GlobalPlatform / ETSI text is one change in this file. Where wire-profile.md itself is silent
//! and the code had to choose, the item says **[decision]**.

use crate::apdu::StatusWord;
use crate::types::EccKeyLength;

// ---------------------------------------------------------------------------------------------------------------
// §1 Identifiers
// ---------------------------------------------------------------------------------------------------------------

/// ISD-R AID (wire-profile §1, SGP.02 Annex H) [S].
pub const ISD_R_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x01, 0x00,
];
/// ECASD AID (wire-profile §1, SGP.02 Annex H) [S].
pub const ECASD_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x02, 0x00,
];
/// ISD-P Executable Load File AID (wire-profile §1, SGP.02 Annex H) [S].
pub const ISD_P_LOAD_FILE_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x0D, 0x00,
];
/// ISD-P Executable Module AID (wire-profile §1, SGP.02 Annex H) [S].
pub const ISD_P_MODULE_AID: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x0E, 0x00,
];
/// First ISD-P instance AID `…89000010 00`; instance `n` has `0x10 + n` in byte 15 (wire-profile §1) [S].
pub const ISD_P_AID_FIRST: [u8; 16] = [
    0xA0, 0x00, 0x00, 0x05, 0x59, 0x10, 0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x89, 0x00, 0x00, 0x10, 0x00,
];

/// `Isd-p-aid` of an `ES3-CreateISDPResponse` FAILED before any ISD-P was allocated (unknown EID, ICCID in
/// use, not enough memory, invalid request): the element is mandatory and an `AIDType` of 5–16 bytes, while the
/// XSD documentation asks for it "empty" when not applicable, so the ISD-R AID stands for "no ISD-P" [P].
pub const CREATE_ISDP_REFUSED_AID: [u8; 16] = ISD_R_AID;

/// The AID of the `index`-th ISD-P instance (`0` → `…1000`, `1` → `…1100`, …), or `None` past `…FF00`
/// (wire-profile §1: allocated upward by the SM-SR at CreateISDP) [S].
pub fn isd_p_aid(index: u8) -> Option<[u8; 16]> {
    let mut aid = ISD_P_AID_FIRST;
    aid[14] = aid[14].checked_add(index)?;
    Some(aid)
}

/// Default TAR of a security domain: bytes 13–15 (1-based) of its AID, used when the EIS names none
/// (wire-profile §1, SGP.02 Annex H) [S]. `None` when the AID is shorter than 15 bytes.
pub fn default_tar(aid: &[u8]) -> Option<[u8; 3]> {
    let t = aid.get(12..15)?;
    Some([t[0], t[1], t[2]])
}

/// Key version numbers of the SCP80 key sets (wire-profile §1) [S].
pub const KVN_SCP80: core::ops::RangeInclusive<u8> = 0x01..=0x0F;
/// Key version numbers of the SCP03 key sets (wire-profile §1) [S].
pub const KVN_SCP03: core::ops::RangeInclusive<u8> = 0x30..=0x3F;
/// Key version numbers of the SCP81 PSK key sets (wire-profile §1) [S].
pub const KVN_SCP81: core::ops::RangeInclusive<u8> = 0x40..=0x4F;

// ---------------------------------------------------------------------------------------------------------------
// §2 SCP80 over SMS
// ---------------------------------------------------------------------------------------------------------------

/// SPI of the SM-SR's ES5 command packets: `16 39` = CC, ciphering, counter must be higher; PoR required, with
/// CC, ciphered, sent as SMS-SUBMIT (wire-profile §2, ETSI TS 102 225 §5.1.1) [P for the value].
pub const ES5_COMMAND_SPI: [u8; 2] = [0x16, 0x39];
/// SPI of the eUICC's notification packets: `16 00` = CC, ciphering, counter must be higher; no PoR
/// (wire-profile §4, ETSI TS 102 225 §5.1.1) [P].
pub const NOTIFICATION_SPI: [u8; 2] = [0x16, 0x00];
/// KIc and KID coding nibble for AES (CBC for KIc, CMAC for KID): the byte is `(KVN << 4) | 0x02`
/// (wire-profile §2, ETSI TS 102 225 §5.1.2/§5.1.3) [V].
pub const KIC_KID_AES_NIBBLE: u8 = 0x02;

/// KIc = KID byte for the AES key set with version `kvn` (wire-profile §2) [V]. `None` if `kvn` is not 1–15.
pub fn aes_kic_kid(kvn: u8) -> Option<u8> {
    KVN_SCP80
        .contains(&kvn)
        .then_some((kvn << 4) | KIC_KID_AES_NIBBLE)
}

/// Form of the secured data of an ES5 SMS (wire-profile §2, ETSI TS 102 226 §5) [P: expanded vs compact].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptForm {
    /// Expanded remote command format, definite `AA` / `AB` (ETSI TS 102 226 §5.2).
    Expanded,
    /// Compact remote command format: concatenated C-APDUs (ETSI TS 102 226 §5.1).
    Compact,
}

/// The script form the SM-SR uses on ES5 over SMS (wire-profile §2) [P].
pub const ES5_SCRIPT_FORM: ScriptForm = ScriptForm::Expanded;

/// UDH information element identifier of the Command Packet Identifier (wire-profile §2, 3GPP TS 31.115 §4.2)
/// [V].
pub const IEI_COMMAND_PACKET: u8 = 0x70;
/// UDH information element identifier of the Response Packet Identifier (wire-profile §2, 3GPP TS 31.115 §4.2)
/// [V].
pub const IEI_RESPONSE_PACKET: u8 = 0x71;
/// UDH information element identifier of 8-bit-reference concatenation (wire-profile §2, 3GPP TS 23.040
/// §9.2.3.24.1) [S].
pub const IEI_CONCATENATION_8BIT: u8 = 0x00;
/// UDH information element identifier of 16-bit-reference concatenation, accepted on input (3GPP TS 23.040
/// §9.2.3.24.8) [S].
pub const IEI_CONCATENATION_16BIT: u8 = 0x08;
/// Maximum TP-UD length of one SMS with 8-bit data (wire-profile §2, 3GPP TS 23.040 §9.2.3.16) [V].
pub const TP_UD_MAX: usize = 140;
/// UDH bytes that the CC of a PoR covers: `02 71 00`, also when the PoR itself is concatenated (wire-profile §2,
/// 3GPP TS 31.115 §4.2) [V for a single SMS; P for a concatenated PoR].
pub const POR_CC_UDH: [u8; 3] = [0x02, IEI_RESPONSE_PACKET, 0x00];

/// SMPP 3.4 `esm_class` of an ES5 `submit_sm`: UDHI set (wire-profile §2) [S].
pub const SMPP_ESM_CLASS: u8 = 0x40;
/// SMPP 3.4 `protocol_id` of an ES5 `submit_sm`: SIM data download (wire-profile §2, 3GPP TS 23.040) [S].
pub const SMPP_PROTOCOL_ID: u8 = 0x7F;
/// SMPP 3.4 `data_coding` of an ES5 `submit_sm`: 8-bit data, class 2 (wire-profile §2, 3GPP TS 23.038) [S].
pub const SMPP_DATA_CODING: u8 = 0xF6;
/// SMPP 3.4 `registered_delivery` of an ES5 `submit_sm`: delivery receipt requested (wire-profile §2) [S].
pub const SMPP_REGISTERED_DELIVERY: u8 = 0x01;

// ---------------------------------------------------------------------------------------------------------------
// §3 SCP81 over HTTPS
// ---------------------------------------------------------------------------------------------------------------

/// TLS cipher suites of the SCP81 admin server, OpenSSL names: TLS_PSK_WITH_AES_128_GCM_SHA256 and
/// TLS_PSK_WITH_AES_128_CBC_SHA256 (wire-profile §3, RFC 5487) [S].
pub const SCP81_CIPHER_LIST: &str = "PSK-AES128-GCM-SHA256:PSK-AES128-CBC-SHA256";
/// GP key type of the PSK in the ISD-R's SCP81 key set (wire-profile §3: type `85`, PSK-TLS) [S].
pub const SCP81_KEY_TYPE_PSK: u8 = 0x85;
/// Value of the first TLV `80 01 02` of the PSK identity (wire-profile §3) [S].
pub const PSK_IDENTITY_TYPE: u8 = 0x02;
/// The `X-Admin-Protocol` value of every message of the session (wire-profile §3, GP Amd B) [S].
pub const ADMIN_PROTOCOL: &str = "globalplatform-remote-admin/1.0";
/// Content type of a server response carrying a command script (wire-profile §3, GP Amd B) [S].
pub const CONTENT_TYPE_SCRIPT: &str = "application/vnd.globalplatform.card-content-mgt;version=1.0";
/// Content type of the eUICC's POST carrying a response script (wire-profile §3, GP Amd B) [S].
pub const CONTENT_TYPE_RESPONSE: &str =
    "application/vnd.globalplatform.card-content-mgt-response;version=1.0";
/// Query parameter of `X-Admin-Next-URI` naming the session (wire-profile §3: "a query naming the session and
/// sequence"; the names are this project's) [P].
pub const NEXT_URI_SESSION_PARAM: &str = "session";
/// Query parameter of `X-Admin-Next-URI` naming the sequence number of the script answered (wire-profile §3) [P].
pub const NEXT_URI_SEQUENCE_PARAM: &str = "seq";
/// Outer tag of the administration-session triggering TLV, bare (not wrapped in `AA`) as the secured data of the
/// push SMS (wire-profile §3) [P].
pub const SESSION_TRIGGER_TAG: u8 = 0x81;
/// Tag `35` bearer description of the trigger's connection parameters: `03` = default bearer for the requested
/// transport layer (TS 102 223 §8.52; wire-profile §3 names the TLV, not its value) [P].
pub const TRIGGER_BEARER: [u8; 1] = [0x03];
/// Tag `39` buffer size of the trigger's connection parameters, bytes (TS 102 223 §8.55; wire-profile §3 names
/// the TLV, not its value) [P].
pub const TRIGGER_BUFFER_SIZE: u16 = 1500;
/// Transport protocol type of tag `3C`: `02` = TCP, UICC in client mode, remote connection (wire-profile §3,
/// TS 102 223 §8.59) [P].
pub const TRIGGER_TRANSPORT_TCP: u8 = 0x02;
/// Address type of tag `3E`: `21` = IPv4 (wire-profile §3, TS 102 223 §8.58) [P].
pub const TRIGGER_ADDRESS_IPV4: u8 = 0x21;
/// Tag of the retry timer inside `86`: `25`, a TS 102 223 timer value, semi-octet BCD (wire-profile §3) [P].
pub const TRIGGER_TIMER_TAG: u8 = 0x25;

// ---------------------------------------------------------------------------------------------------------------
// §4 ES5 commands to the ISD-R
// ---------------------------------------------------------------------------------------------------------------

/// STORE DATA DGI of ES8 key establishment step 1, the certificate (wire-profile §5) [P].
pub const DGI_CERTIFICATE: u16 = 0x3A01;
/// STORE DATA DGI of ES8 key establishment step 2, the key agreement (wire-profile §5) [P].
pub const DGI_KEY_AGREEMENT: u16 = 0x3A02;
/// `7F49 { F0 01 }`: key parameter reference of the SM-DP's ephemeral key, P-256 (wire-profile §5) [P].
pub const ES8_KEY_PARAMETER_P256: u8 = 0x00;
/// Key data derived by X9.63: receipt key ‖ K-ENC ‖ K-MAC ‖ K-DEK, 16 bytes each (wire-profile §5 step 3); for
/// the ISD-R at SM-SR change receipt key ‖ KIc ‖ KID ‖ KIK (§5b step 3) [P].
pub const ES8_KEY_DATA_LEN: usize = 64;
/// SCP03t key identifier of the `84` INITIALIZE UPDATE TLV (wire-profile §7: `84 0A 30 01 …`) [P].
pub const SCP03T_KEY_ID: u8 = 0x01;
/// Default size limit of the command script of one ES3.SendData, in bytes (download contract) [P].
pub const SEND_DATA_SCRIPT_BUDGET: usize = 1000;
/// STORE DATA DGI of ES5.EnableProfile (wire-profile §4) [S].
pub const DGI_ENABLE_PROFILE: u16 = 0x3A03;
/// STORE DATA DGI of ES5.DisableProfile (wire-profile §4) [S].
pub const DGI_DISABLE_PROFILE: u16 = 0x3A04;
/// STORE DATA DGI of ES5.SetFallbackAttribute (wire-profile §4) [P].
pub const DGI_SET_FALLBACK_ATTRIBUTE: u16 = 0x3A05;
/// STORE DATA DGI of ES5.UpdateSMSRAddressingParameters (wire-profile §4) [P].
pub const DGI_UPDATE_SMSR_ADDRESSING: u16 = 0x3A06;
/// STORE DATA DGI of ES8.UpdateConnectivityParameters (security-and-transport notes §5) [S].
pub const DGI_UPDATE_CONNECTIVITY: u16 = 0x3A07;
/// STORE DATA DGI of ES5.HandleNotificationConfirmation (wire-profile §4) [S].
pub const DGI_NOTIFICATION_CONFIRMATION: u16 = 0x3A08;

/// Tag of the SM-SR's MSISDN inside DGI `3A06`, the one element of ES5.UpdateSMSRAddressingParameters: TON/NPI
/// byte then the MSISDN in swapped BCD, F-padded (wire-profile §4) [P].
pub const SMSR_ADDRESSING_TAG_MSISDN: u8 = 0x80;

/// Privileges of the ISD-P at CreateISDP: `80 C0 00` = Security Domain, Trusted Path, Authorized Management
/// (wire-profile §4, GP Card Specification §11.1.2) [S].
pub const ISD_P_PRIVILEGES: [u8; 3] = [0x80, 0xC0, 0x00];
/// Application-specific install parameters of the ISD-P: `C9 04 81 02 03 70` = SCP03, i = `70`
/// (wire-profile §4) [S].
pub const ISD_P_INSTALL_PARAMS_C9: [u8; 4] = [0x81, 0x02, 0x03, 0x70];
/// System-specific parameter tag carrying the ISD-P memory quota: `EF 04 83 02 <memory>` (wire-profile §4) [P].
pub const ISD_P_MEMORY_QUOTA_TAG: u8 = 0x83;
/// INSTALL commands are sent without Le: the trailing `00` of wire-profile §4/§5 is the empty install token
/// (GP Card Specification §11.5.2) [P].
pub const INSTALL_LE: Option<u8> = None;

/// DELETE P2 for an ISD-P: `80` = delete the object and its related objects (wire-profile §4,
/// GP Card Specification §11.2.2.2) [P].
pub const DELETE_ISD_P_P2: u8 = 0x80;
/// Tag of the delete token in MasterDelete (wire-profile §4, GP Card Specification §11.2.2.3) [P].
pub const DELETE_TOKEN_TAG: u8 = 0x9E;
/// Length of the MasterDelete token: the full AES-CMAC tag (wire-profile §4) [P].
pub const DELETE_TOKEN_LEN: usize = 16;
/// Tag of the key deletion template of FinaliseISDRHandover: `F2 03 <old KVN> 01 03` (wire-profile §4) [S].
pub const DELETE_KEY_SET_TAG: u8 = 0xF2;
/// First and last key identifier deleted by FinaliseISDRHandover (wire-profile §4: three SCP80 keys) [S].
pub const DELETE_KEY_SET_KEY_IDS: (u8, u8) = (0x01, 0x03);

/// GET STATUS P1 for ISD-Ps in AuditEIS: `40` = applications and security domains (wire-profile §4,
/// GP Card Specification §11.4.2.1) [S].
pub const AUDIT_GET_STATUS_P1: u8 = 0x40;
/// GET STATUS P2 of the first AuditEIS command: `02` = response in the tagged `E3` format, first occurrence
/// (wire-profile §4) [S].
pub const AUDIT_GET_STATUS_P2_FIRST: u8 = 0x02;
/// GET STATUS P2 of a continuation command after SW `6310` (GP Card Specification §11.4.2.1) [S].
pub const AUDIT_GET_STATUS_P2_NEXT: u8 = 0x03;
/// Tag list requested by AuditEIS: AID `4F`, life cycle `9F70`, fall-back attribute `53` (wire-profile §4) [S].
pub const AUDIT_TAG_LIST: [u8; 4] = [0x4F, 0x9F, 0x70, 0x53];
/// GET DATA tag for the extended card resources (free memory) in AuditEIS (wire-profile §4,
/// ETSI TS 102 226 §8.2.1.7.2) [S].
pub const GET_DATA_EXTENDED_CARD_RESOURCES: u16 = 0xFF21;

/// ISD-P life-cycle byte `9F70`: selectable, i.e. created (wire-profile §4) [S].
pub const LIFECYCLE_SELECTABLE: u8 = 0x07;
/// ISD-P life-cycle byte `9F70`: personalized (security-and-transport notes §5) [S].
pub const LIFECYCLE_PERSONALIZED: u8 = 0x0F;
/// ISD-P life-cycle byte `9F70`: disabled (wire-profile §4) [S].
pub const LIFECYCLE_DISABLED: u8 = 0x1F;
/// ISD-P life-cycle byte `9F70`: enabled (wire-profile §4) [S].
pub const LIFECYCLE_ENABLED: u8 = 0x3F;

/// Outer tag of the eUICC notification (wire-profile §4, SGP.02 §4.1.1.11) [P for the framing].
pub const NOTIFICATION_TAG: u8 = 0xE1;
/// Tag of the EID in the notification (wire-profile §4) [S].
pub const NOTIFICATION_TAG_EID: u8 = 0x4C;
/// Tag of the notification type (wire-profile §4) [S].
pub const NOTIFICATION_TAG_TYPE: u8 = 0x4D;
/// Tag of the ISD-P AID in the notification; `2F` is accepted on input (wire-profile §4, notes §5) [S].
pub const NOTIFICATION_TAG_AID: u8 = 0x4F;
/// Alternative AID tag accepted on input (security-and-transport notes §5) [S].
pub const NOTIFICATION_TAG_AID_ALT: u8 = 0x2F;
/// Tag of the optional IMEI in the notification; `94` is accepted on input (wire-profile §4) [S].
pub const NOTIFICATION_TAG_IMEI: u8 = 0x14;
/// Alternative IMEI tag accepted on input (security-and-transport notes §5) [S].
pub const NOTIFICATION_TAG_IMEI_ALT: u8 = 0x94;
/// Tag of the optional MEID in the notification; `ED` is accepted on input (notes §5) [S].
pub const NOTIFICATION_TAG_MEID: u8 = 0x6D;
/// Alternative MEID tag accepted on input (security-and-transport notes §5) [S].
pub const NOTIFICATION_TAG_MEID_ALT: u8 = 0xED;
/// Tag of the notification sequence number (wire-profile §4) [S].
pub const NOTIFICATION_TAG_SEQUENCE: u8 = 0x4E;

// ---------------------------------------------------------------------------------------------------------------
// §5 / §6 key establishment and GP certificates
// ---------------------------------------------------------------------------------------------------------------

/// Key usage qualifier of the CRT `A6` for the ISD-P SCP03 key set (wire-profile §5) [P].
pub const KEY_USAGE_ISD_P_SCP03: u8 = 0x5C;
/// Key usage qualifier of the CRT `A6` for the ISD-R SCP80 key set at SM-SR change (wire-profile §5b step 2) [P].
pub const KEY_USAGE_ISD_R_SCP80: u8 = 0x10;
/// Scenario parameters `90 02 03 00` of the CRT `A6`: scenario #3, no options (wire-profile §5) [P].
pub const KEY_AGREEMENT_SCENARIO: [u8; 2] = [0x03, 0x00];
/// Key type `88` (AES) in the CRT `A6` (wire-profile §5) [P].
pub const KEY_TYPE_AES: u8 = 0x88;
/// Key length `10` (16 bytes) in the CRT `A6` (wire-profile §5) [P].
pub const KEY_LENGTH_AES128: u8 = 0x10;
/// GP certificate key usage of CERT.DP.ECDSA and CERT.SR.ECDSA: `0080` signature (wire-profile §6) [P].
pub const CERT_KEY_USAGE_SIGNATURE: [u8; 2] = [0x00, 0x80];
/// GP certificate key usage of CERT.ECASD.ECKA: `0008` key agreement (wire-profile §6) [P].
pub const CERT_KEY_USAGE_KEY_AGREEMENT: [u8; 2] = [0x00, 0x08];
/// GP certificate discretionary data `C8` value for an SM-DP (wire-profile §6) [P].
pub const CERT_ROLE_SM_DP: u8 = 0x01;
/// GP certificate discretionary data `C8` value for an SM-SR (wire-profile §6) [P].
pub const CERT_ROLE_SM_SR: u8 = 0x02;
/// GP certificate discretionary data `C8` value for an ECASD (wire-profile §6) [P].
pub const CERT_ROLE_ECASD: u8 = 0x03;

/// The choices a card (or a fleet of cards) may need different from the defaults, gathered in one value so that
/// the SM-SR can keep one per EIS and the simulator can emulate a given card (wire-profile §2, §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardProfile {
    /// SPI of ES5 command packets (wire-profile §2) [P].
    pub command_spi: [u8; 2],
    /// SPI of the eUICC's notification packets (wire-profile §4) [P].
    pub notification_spi: [u8; 2],
    /// Secured data form on ES5 over SMS (wire-profile §2) [P].
    pub script_form: ScriptForm,
    /// DELETE P2 for an ISD-P (wire-profile §4) [P].
    pub delete_isd_p_p2: u8,
}

impl Default for CardProfile {
    fn default() -> Self {
        CardProfile {
            command_spi: ES5_COMMAND_SPI,
            notification_spi: NOTIFICATION_SPI,
            script_form: ES5_SCRIPT_FORM,
            delete_isd_p_p2: DELETE_ISD_P_P2,
        }
    }
}

/// SharedInfo of the X9.63 KDF of ES8 key establishment for the ISD-P's SCP03 key set: key usage `5C`, key type
/// `88` (AES), key length `10` (wire-profile §5 step 3) [P].
pub const ES8_KDF_SHARED_INFO: [u8; 3] = [0x5C, 0x88, 0x10];
/// KVN of the ISD-P's SCP03 key set established over ES8 (wire-profile §5, `83 01 30`) [P].
pub const ES8_ISD_P_KVN: u8 = 0x30;

// ---------------------------------------------------------------------------------------------------------------
// §5b SM-SR change: the new ISD-R key set
// ---------------------------------------------------------------------------------------------------------------

/// First key identifier of a key set established by key agreement, `82 01 01` (wire-profile §5 step 2, §5b step 2)
/// [P]: the keys take ids 1, 2, 3.
pub const KEY_AGREEMENT_FIRST_KEY_ID: u8 = 0x01;
/// SharedInfo of the X9.63 KDF for the new ISD-R SCP80 key set: key usage `10`, key type `88`, key length `10`
/// (wire-profile §5b step 3) [P].
pub const ISD_R_KDF_SHARED_INFO: [u8; 3] = [KEY_USAGE_ISD_R_SCP80, KEY_TYPE_AES, KEY_LENGTH_AES128];
/// Length of the receipt `86 10` of key establishment: the full AES-CMAC (wire-profile §5 step 4, §5b step 3)
/// [P].
pub const KEY_AGREEMENT_RECEIPT_LEN: usize = 16;
/// ES7.CreateAdditionalKeySet `ScenarioParameter` for the new ISD-R key set: `00`, the second byte of `90 02 03 00`
/// (wire-profile §5b step 2) [P]. [decision] SM-SR1 rebuilds the CRT's `90` as `03 <ScenarioParameter>`, so any
/// other value reaches the eUICC, which refuses it (`6A80`).
pub const ES7_SCENARIO_PARAMETER: u8 = KEY_AGREEMENT_SCENARIO[1];
/// ES7.CreateAdditionalKeySet `ECCKeyLength` of the new ISD-R key set (wire-profile §5b step 2) [P]. [decision] It
/// names a 256-bit curve, not which one: SM-SR1 rebuilds `7F49 { F0 01 }` from the curve of the eUICC's
/// CERT.ECASD.ECKA in the EIS (`00` P-256, `03` brainpoolP256r1), since ECKA needs the ephemeral key on the
/// ECASD's curve; other lengths are refused (no 384-, 512- or 521-bit curve is supported).
pub const ES7_ECC_KEY_LENGTH: EccKeyLength = EccKeyLength::Ecc256;
/// [decision] The eUICC's own counter for notifications under a new ISD-R key set starts at 0, so its first
/// notification carries 1; the initial sequence counter of `91 05` is the SM-SR → eUICC counter only
/// (wire-profile §5b step 4 is silent on the eUICC → SM-SR direction).
pub const NEW_KEY_SET_NOTIFICATION_COUNTER: u64 = 0;
/// [decision] While the eUICC holds several ISD-R key sets, its notifications are secured with the key set that
/// carried the last UpdateSMSRAddressingParameters (the key set of the SM-SR they are now addressed to), at first
/// the issued one; when FinaliseISDRHandover deletes that key set, with the key set that carried the
/// FinaliseISDRHandover (wire-profile §4, §5b step 5 are silent).
pub const NOTIFICATIONS_FOLLOW_ADDRESSING: bool = true;
/// [decision] Status word of a `3A02` to the ISD-R that no `3A01` on the ISD-R preceded, as the ISD-P answers for
/// §5. The eUICC then checks, in this order: the CRT — scenario `03 00`, key usage `10`, AES-128, first key id `01`,
/// a KVN `01`–`0F` it does not hold, `91 05` present — and a key parameter reference equal to its ECASD's curve
/// (`6A80`); then the signature (`6982`), as the ISD-P does for §5. Any refusal forgets the random challenge
/// (wire-profile §5b step 2 names the status words, not the order).
pub const ISD_R_AGREEMENT_WITHOUT_CHALLENGE: StatusWord = StatusWord::CONDITIONS_NOT_SATISFIED;
/// Status word of a FinaliseISDRHandover that would delete the key set carrying the command or the last key set
/// left (wire-profile §5b step 5). [decision] Over SCP81 (HTTPS, PSK) no SCP80 key set carries the command: only
/// the last key set left is protected.
pub const FINALISE_REFUSED: StatusWord = StatusWord::CONDITIONS_NOT_SATISFIED;
/// [decision] Status word of a FinaliseISDRHandover naming a KVN the eUICC does not hold (wire-profile §5b step 5:
/// `6A88`). Under the new key set it means the old key set is already gone — a retransmission after a lost PoR —
/// so SM-SR2 counts it as executed.
pub const FINALISE_KEY_SET_GONE: StatusWord = StatusWord::REFERENCED_DATA_NOT_FOUND;
/// [decision] Initial sequence counter SM-SR2 gives the new ISD-R key set (`91 05`, ES7 `InitialSequenceCounter`;
/// wire-profile §5b step 2 leaves the value to SM-SR2): 0, so its first command under the key set carries 1.
pub const SMSR_CHANGE_INITIAL_COUNTER: u64 = 0;

/// [decision] The KVN of the new ISD-R key set (wire-profile §5b step 2: `01`–`0F`, not in use): the next SCP80
/// version above the previous SM-SR's `old_kvn`, else the lowest below it.
pub fn smsr_change_new_kvn(old_kvn: u8) -> u8 {
    (old_kvn.saturating_add(1)..=*KVN_SCP80.end())
        .chain(*KVN_SCP80.start()..old_kvn)
        .next()
        .unwrap_or(*KVN_SCP80.start())
}

/// [decision] ES7.CreateAdditionalKeySet `HostId` (GP Amendment E Table 4-15; carried on ES7 only, wire-profile
/// §5b step 2, which does not say what it holds): the new SM-SR's OID as ASCII.
pub fn smsr_change_host_id(smsr_oid: &str) -> Vec<u8> {
    smsr_oid.as_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_isd_r_key_set_takes_a_kvn_not_in_use() {
        assert_eq!(smsr_change_new_kvn(0x01), 0x02);
        assert_eq!(smsr_change_new_kvn(0x05), 0x06);
        // After the last SCP80 version, back to the first.
        assert_eq!(smsr_change_new_kvn(0x0F), 0x01);
        for old in KVN_SCP80 {
            let new = smsr_change_new_kvn(old);
            assert!(
                KVN_SCP80.contains(&new) && new != old,
                "{old:02X} -> {new:02X}"
            );
        }
        assert_eq!(
            smsr_change_host_id("1.3.6.1.4.1.99999.8"),
            b"1.3.6.1.4.1.99999.8"
        );
    }
}
