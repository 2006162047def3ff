//! The SM-DP's end of ES8 (SGP.02 §3.1.2 key establishment, §3.1.3 download; wire-profile §5, §7), as pure
//! functions of their inputs: the key agreement and the receipt it must come back with, and the SCP03t scripts
//! of the package with what each answer must be. Nothing here keeps state: the procedure persists the inputs
//! (the 3A02 data, the key data sealed, the host challenge, the card's INITIALIZE UPDATE answer) and recomputes
//! the session from them, so a restart resumes the download.

use certs::ecc::{Curve, PrivateKey, PublicKey};
use certs::secrets::Secret;
use es_interfaces::apdu::{CommandApdu, ResponseApdu, StatusWord};
use es_interfaces::es8;
use es_interfaces::isdr::KeyAgreement;
use es_interfaces::scp03::scp03t::{self, HostSession, ProtectedSegment};
use es_interfaces::scp03::{InitializeUpdateResponse, StaticKeys};
use es_interfaces::scp80::SecretKey;
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::wire_profile;
use rand_core::CryptoRng;

/// Why an ES8 step could not be built or an answer does not check. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum Es8Error {
    /// A codec refused our own data (an internal error).
    #[error("ES8 encoding: {0}")]
    Encode(String),
    /// The card's answer is not what the step expects (format or status word).
    #[error("{0}")]
    Answer(String),
    /// The receipt, card cryptogram or an R-MAC does not verify.
    #[error("{0}")]
    Verification(String),
    /// The eUICC refused the package (EUICCResponse other than success).
    #[error("the eUICC refused the profile package: EUICCResponse {0}")]
    Refused(String),
}

fn enc(e: impl std::fmt::Display) -> Es8Error {
    Es8Error::Encode(e.to_string())
}

/// Key data of wire-profile §5 step 3: receipt key ‖ K-ENC ‖ K-MAC ‖ K-DEK (64 bytes); zeroized on drop.
#[derive(Debug)]
pub struct KeyData(Secret);

impl KeyData {
    /// Key data from its 64 bytes (as unsealed).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<KeyData, Es8Error> {
        if bytes.len() != wire_profile::ES8_KEY_DATA_LEN {
            return Err(Es8Error::Encode(format!(
                "key data of {} bytes, expected {}",
                bytes.len(),
                wire_profile::ES8_KEY_DATA_LEN
            )));
        }
        Ok(KeyData(Secret::new(bytes)))
    }

    /// The 64 bytes, to seal.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }

    fn part(&self, i: usize) -> &[u8] {
        &self.0.expose()[16 * i..16 * (i + 1)]
    }

    /// The ISD-P's SCP03 key set `30`: K-ENC, K-MAC, K-DEK (wire-profile §5 step 3).
    pub fn static_keys(&self) -> StaticKeys {
        StaticKeys {
            enc: SecretKey::new(self.part(1)),
            mac: SecretKey::new(self.part(2)),
            dek: SecretKey::new(self.part(3)),
        }
    }

    /// The receipt the eUICC must answer: AES-CMAC(receipt key, `A6 TLV ‖ 7F49 TLV`) (wire-profile §5 step 4).
    pub fn expected_receipt(&self, agreement: &KeyAgreement) -> Result<[u8; 16], Es8Error> {
        es8::receipt(&SecretKey::new(self.part(0)), agreement).map_err(enc)
    }
}

/// Step 2 of key establishment (wire-profile §5): a fresh ephemeral key pair, the CRT and public key signed by
/// SK.DP.ECDSA together with the eUICC's random challenge, and the key data from ECKA with PK.ECASD.ECKA and the
/// X9.63 KDF. The ephemeral private key is dropped (zeroized) on return.
pub fn key_agreement<R: CryptoRng + ?Sized>(
    sk_dp: &PrivateKey,
    pk_ecasd: &PublicKey,
    random_challenge: &[u8],
    rng: &mut R,
) -> Result<(KeyAgreement, KeyData), Es8Error> {
    let ephemeral = PrivateKey::generate(Curve::P256, rng);
    let mut agreement = KeyAgreement {
        crt: es8::isd_p_crt(wire_profile::ES8_ISD_P_KVN),
        ephemeral_public_key: ephemeral.public_key().as_sec1_uncompressed().to_vec(),
        key_parameter_reference: wire_profile::ES8_KEY_PARAMETER_P256,
        signature: Vec::new(),
    };
    let signed = agreement.signed_data(random_challenge).map_err(enc)?;
    agreement.signature = sk_dp.sign(&signed).to_vec();
    let shared = ephemeral.ecka(pk_ecasd).map_err(enc)?;
    let derived = es8::derive_isd_p_keys(shared.as_bytes()).map_err(enc)?;
    let mut key_data = Vec::with_capacity(wire_profile::ES8_KEY_DATA_LEN);
    for k in [
        &derived.receipt_key,
        &derived.keys.enc,
        &derived.keys.mac,
        &derived.keys.dek,
    ] {
        key_data.extend_from_slice(k.expose());
    }
    Ok((agreement, KeyData::from_bytes(key_data)?))
}

/// The first script: `3A01` with CERT.DP.ECDSA (wire-profile §5 step 1).
pub fn certificate_script(cert_dp: &[u8]) -> Result<Vec<u8>, Es8Error> {
    let c = es8::establish_key_set_certificate(cert_dp).map_err(enc)?;
    CommandScript::new(vec![c]).to_expanded().map_err(enc)
}

/// The second script: `3A02` (wire-profile §5 step 2).
pub fn key_agreement_script(agreement: &KeyAgreement) -> Result<Vec<u8>, Es8Error> {
    let c = es8::establish_key_set_agreement(agreement).map_err(enc)?;
    CommandScript::new(vec![c]).to_expanded().map_err(enc)
}

/// The third script: SCP03t INITIALIZE UPDATE `84` in block `00` (wire-profile §7).
pub fn initialize_update_script(host_challenge: [u8; 8]) -> Result<Vec<u8>, Es8Error> {
    let tlv = scp03t::initialize_update_tlv(
        wire_profile::ES8_ISD_P_KVN,
        wire_profile::SCP03T_KEY_ID,
        host_challenge,
    );
    CommandScript::new(vec![scp03t::store_data(0, tlv, false)])
        .to_expanded()
        .map_err(enc)
}

/// The single R-APDU of a one-command script's response (`EuiccResponseData`), successful.
pub fn single_answer(euicc_response_data: &[u8], step: &str) -> Result<Vec<u8>, Es8Error> {
    let script = ResponseScript::parse_expanded(euicc_response_data)
        .map_err(|e| Es8Error::Answer(format!("{step}: response script: {e}")))?;
    let [r] = script.responses.as_slice() else {
        return Err(Es8Error::Answer(format!(
            "{step}: {} R-APDUs for one command",
            script.responses.len()
        )));
    };
    if !r.sw.is_success() {
        return Err(Es8Error::Answer(format!("{step}: SW {:04X}", r.sw.0)));
    }
    Ok(r.data.clone())
}

/// Checks the answer to `3A01`: `85 10 <random challenge>` (wire-profile §5 step 1).
pub fn random_challenge(euicc_response_data: &[u8]) -> Result<Vec<u8>, Es8Error> {
    let data = single_answer(euicc_response_data, "3A01")?;
    es_interfaces::isdr::parse_random_challenge_response(&data)
        .map_err(|e| Es8Error::Answer(format!("3A01: {e}")))
}

/// Checks the answer to `3A02` against the expected receipt (wire-profile §5 step 4).
pub fn check_receipt(
    euicc_response_data: &[u8],
    keys: &KeyData,
    agreement: &KeyAgreement,
) -> Result<(), Es8Error> {
    let data = single_answer(euicc_response_data, "3A02")?;
    let answer = es_interfaces::isdr::KeyAgreementResponse::parse(&data)
        .map_err(|e| Es8Error::Answer(format!("3A02: {e}")))?;
    let expected = keys.expected_receipt(agreement)?;
    if !es_interfaces::constant_time_eq(&answer.receipt, &expected) {
        return Err(Es8Error::Verification(
            "the receipt of the key establishment does not verify".into(),
        ));
    }
    Ok(())
}

/// What the answer to one command of a load script must be.
#[derive(Debug)]
enum Expect {
    /// `85` EXTERNAL AUTHENTICATE: SW 9000, no data.
    ExternalAuthenticate,
    /// An `86` segment: R-MAC with this segment's MCV; the last one carries the EUICCResponse.
    Segment(ProtectedSegment, bool),
}

/// One ES3.SendData script of the package and what its answers must be.
#[derive(Debug)]
pub struct LoadScript {
    /// The expanded command script.
    pub script: Vec<u8>,
    expect: Vec<Expect>,
}

/// The SCP03t session recomputed from the persisted inputs: `85` then the package in `86` segments, grouped into
/// scripts of at most `budget` bytes (wire-profile §7; download contract). Fails when the card cryptogram of
/// the INITIALIZE UPDATE answer does not verify.
pub fn load_scripts(
    keys: &KeyData,
    host_challenge: [u8; 8],
    card_answer: &[u8],
    package: &[u8],
    budget: usize,
) -> Result<Vec<LoadScript>, Es8Error> {
    let response = InitializeUpdateResponse::parse(card_answer)
        .map_err(|e| Es8Error::Answer(format!("84: {e}")))?;
    let (mut session, ea) = HostSession::open(&keys.static_keys(), host_challenge, &response)
        .map_err(|e| Es8Error::Verification(format!("84: {e}")))?;
    let segments = session.protect_package(package).map_err(enc)?;
    let n = segments.len();
    let mut commands: Vec<(CommandApdu, Expect)> = Vec::with_capacity(n + 1);
    commands.push((
        scp03t::store_data(1, ea, false),
        Expect::ExternalAuthenticate,
    ));
    for (j, seg) in segments.into_iter().enumerate() {
        let last = j + 1 == n;
        let block = ((j + 2) % 256) as u8;
        commands.push((
            scp03t::store_data(block, seg.tlv.clone(), last),
            Expect::Segment(seg, last),
        ));
    }
    let (apdus, mut expects): (Vec<CommandApdu>, Vec<Expect>) = commands.into_iter().unzip();
    let grouped = es8::group_scripts(apdus, budget).map_err(enc)?;
    let mut out = Vec::with_capacity(grouped.len());
    for g in grouped {
        let rest = expects.split_off(g.commands.len());
        out.push(LoadScript {
            script: g.to_expanded().map_err(enc)?,
            expect: std::mem::replace(&mut expects, rest),
        });
    }
    Ok(out)
}

/// Checks the card's answers to a load script against the session: status words, R-MACs and, after the last
/// segment, the EUICCResponse (wire-profile §7).
pub fn check_load_answer(
    keys: &KeyData,
    host_challenge: [u8; 8],
    card_answer: &[u8],
    script: &LoadScript,
    euicc_response_data: &[u8],
) -> Result<(), Es8Error> {
    let response = InitializeUpdateResponse::parse(card_answer)
        .map_err(|e| Es8Error::Answer(format!("84: {e}")))?;
    let (session, _) = HostSession::open(&keys.static_keys(), host_challenge, &response)
        .map_err(|e| Es8Error::Verification(format!("84: {e}")))?;
    let answers = ResponseScript::parse_expanded(euicc_response_data)
        .map_err(|e| Es8Error::Answer(format!("SCP03t: response script: {e}")))?;
    if answers.responses.len() != script.expect.len() {
        return Err(Es8Error::Answer(format!(
            "SCP03t: {} R-APDUs for {} commands",
            answers.responses.len(),
            script.expect.len()
        )));
    }
    for (r, expect) in answers.responses.iter().zip(&script.expect) {
        check_one(&session, r, expect)?;
    }
    Ok(())
}

fn check_one(session: &HostSession, r: &ResponseApdu, expect: &Expect) -> Result<(), Es8Error> {
    if r.sw != StatusWord(0x9000) {
        return Err(Es8Error::Answer(format!("SCP03t: SW {:04X}", r.sw.0)));
    }
    match expect {
        Expect::ExternalAuthenticate => Ok(()),
        Expect::Segment(seg, last) => {
            let body = session
                .check_response(seg, r)
                .map_err(|e| Es8Error::Verification(format!("SCP03t: {e}")))?;
            if *last {
                let installed = es8::EuiccResponse::parse(&body.data)
                    .map(|r| r.is_success())
                    .unwrap_or(false);
                if !installed {
                    return Err(Es8Error::Refused(hex::encode_upper(&body.data)));
                }
            } else if !body.data.is_empty() {
                return Err(Es8Error::Answer(
                    "SCP03t: data in the answer to a segment that is not the last".into(),
                ));
            }
            Ok(())
        }
    }
}
