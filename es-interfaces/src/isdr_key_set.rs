//! SM-SR change: the new ISD-R key set (SGP.02 §3.8, §5.7.8 ES5.EstablishISDRKeySet, §5.7.9
//! ES5.FinaliseISDRHandover; wire-profile §5b). It is the key establishment of §5 ([`crate::es8`]: CRT, signature,
//! X9.63 KeyData, receipt) addressed to the ISD-R with the parameters of an SCP80 key set — key usage `10`, a KVN
//! `01`–`0F`, the initial counter `91 05`, SharedInfo `10 88 10` — whose keys are KIc, KID, KIK (key ids 1–3).
//!
//! Who calls what:
//! - SM-SR2 (the new SM-SR) sends its CERT.SR.ECDSA in ES7.AuthenticateSMSR; with the random challenge it gets
//!   back it calls [`establish`] (ephemeral key, CRT, signature, key set, expected receipt), sends the fields of
//!   [`Establishment::to_es7_request`] in ES7.CreateAdditionalKeySet and checks the `Receipt` it gets back with
//!   [`Establishment::check_receipt`]; then, under the new key set, UpdateSMSRAddressingParameters and
//!   [`finalise_command`].
//! - SM-SR1 (the current SM-SR, which holds the ISD-R keys) relays: [`certificate_command`] (`3A01`) for
//!   ES7.AuthenticateSMSR and the `3A02` that [`agreement_from_es7`] rebuilds from ES7.CreateAdditionalKeySet.
//! - The eUICC checks the CRT with [`check_crt`] and derives the key set and the receipt with
//!   [`key_set_and_receipt`].

use certs::ecc::{Curve, EcError, PrivateKey, PublicKey};

use crate::es8::{self, Es8Error, KeyData};
use crate::isdr::{Es5Command, KeyAgreement, KeyAgreementCrt};
use crate::messages::common::BaseRequest;
use crate::messages::es7::CreateAdditionalKeySetRequest;
use crate::scp80::{Counter, KeySet, SecretKey};
use crate::types::{Eid, HexBinary, KeysetVersion};
use crate::wire_profile;

/// Errors building or checking the new ISD-R key set. Never carries key material.
#[derive(Debug, thiserror::Error)]
pub enum IsdrKeySetError {
    /// A key version outside the SCP80 range.
    #[error("KVN {0:#04x} is not an SCP80 key version (01-0F)")]
    Kvn(u8),
    /// The CRT is not the one of wire-profile §5b step 2.
    #[error("the CRT is not that of a new ISD-R SCP80 key set (wire-profile §5b)")]
    Crt,
    /// The ephemeral key is not on the curve of PK.ECASD.ECKA, or ECKA failed.
    #[error("ECKA: {0}")]
    Ecka(#[from] EcError),
    /// Encoding the key agreement or deriving the keys failed.
    #[error("key agreement: {0}")]
    KeyAgreement(#[from] Es8Error),
    /// An ES7.CreateAdditionalKeySet field that cannot become the `3A02` of wire-profile §5b.
    #[error("ES7.CreateAdditionalKeySet: {0}")]
    Es7(&'static str),
    /// The receipt does not match the key agreement.
    #[error("the receipt does not match the key agreement")]
    Receipt,
}

/// The CRT `A6` of the new ISD-R key set: `90 02 03 00, 95 01 10, 80 01 88, 81 01 10, 82 01 01, 83 01 <kvn>,
/// 91 05 <initial counter>` (wire-profile §5b step 2).
pub fn crt(kvn: u8, initial_counter: Counter) -> KeyAgreementCrt {
    es8::key_establishment_crt(
        wire_profile::KEY_AGREEMENT_SCENARIO,
        wire_profile::KEY_USAGE_ISD_R_SCP80,
        kvn,
        Some(initial_counter.0),
    )
}

/// The KVN and initial counter of `crt` when it is the CRT of [`crt`] with a KVN in `01`–`0F`, else `None`
/// (the eUICC answers `6A80`; wire-profile §5b step 2). Whether the KVN is free is the eUICC's to check.
pub fn check_crt(crt: &KeyAgreementCrt) -> Option<(u8, Counter)> {
    let counter = Counter(crt.initial_counter?);
    (wire_profile::KVN_SCP80.contains(&crt.kvn) && *crt == self::crt(crt.kvn, counter))
        .then_some((crt.kvn, counter))
}

/// The new SCP80 key set of the ISD-R: KVN, initial counter, KIc, KID, KIK (key ids 1, 2, 3; AES-128)
/// (wire-profile §5b step 3). The keys zeroize on drop and never appear in Debug output.
#[derive(Clone)]
pub struct NewKeySet {
    /// Key version number, `01`–`0F`.
    pub kvn: u8,
    /// Initial sequence counter: the SM-SR's first command under the key set carries a higher one.
    pub initial_counter: Counter,
    /// KIc, key id 1.
    pub kic: SecretKey,
    /// KID, key id 2.
    pub kid: SecretKey,
    /// KIK, key id 3.
    pub kik: SecretKey,
}

impl core::fmt::Debug for NewKeySet {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "NewKeySet {{ kvn: {:02X}, initial_counter: {}, keys: [redacted] }}",
            self.kvn,
            self.initial_counter.value()
        )
    }
}

impl NewKeySet {
    /// KIc and KID, the keys of an SCP80 packet under this key set (ETSI TS 102 225 §5.1.2, §5.1.3).
    pub fn scp80(&self) -> KeySet {
        KeySet {
            kic: self.kic.clone(),
            kid: self.kid.clone(),
        }
    }
}

/// From ShS (the ECKA x-coordinate) and a key agreement with a good CRT ([`check_crt`]): the new key set from
/// KeyData = X9.63-KDF-SHA256(ShS, 64 bytes, SharedInfo `10 88 10`) = receipt key ‖ KIc ‖ KID ‖ KIK, and the
/// receipt = AES-CMAC(receipt key, `A6 TLV ‖ 7F49 TLV`) (wire-profile §5b step 3). Both ends compute this.
pub fn key_set_and_receipt(
    shared_secret: &[u8],
    agreement: &KeyAgreement,
) -> Result<(NewKeySet, [u8; wire_profile::KEY_AGREEMENT_RECEIPT_LEN]), IsdrKeySetError> {
    let (kvn, initial_counter) = check_crt(&agreement.crt).ok_or(IsdrKeySetError::Crt)?;
    let KeyData {
        receipt_key,
        keys: [kic, kid, kik],
    } = es8::derive_key_data(shared_secret, &wire_profile::ISD_R_KDF_SHARED_INFO)?;
    let receipt = es8::receipt(&receipt_key, agreement)?;
    Ok((
        NewKeySet {
            kvn,
            initial_counter,
            kic,
            kid,
            kik,
        },
        receipt,
    ))
}

/// SM-SR2's key establishment with one eUICC (wire-profile §5b steps 2–3): the signed `3A02` data, the new key
/// set and the receipt the eUICC must answer.
#[derive(Debug)]
pub struct Establishment {
    /// The CRT, ephemeral public key and signature of `3A02`.
    pub agreement: KeyAgreement,
    /// The new key set, to be stored (encrypted) with the EIS before the receipt comes back.
    pub key_set: NewKeySet,
    expected_receipt: [u8; wire_profile::KEY_AGREEMENT_RECEIPT_LEN],
}

/// Builds SM-SR2's `3A02` (wire-profile §5b step 2): the CRT of [`crt`] for `kvn` and `initial_counter`, the
/// public key of `ephemeral` (a fresh key pair on PK.ECASD.ECKA's curve, e.g. `PrivateKey::generate`; dropped and
/// zeroized here), signed by SK.SR.ECDSA over `A6 TLV ‖ 7F49 TLV ‖ 85 10 <random challenge>`; and the key set and
/// receipt from ECKA(eSK, PK.ECASD.ECKA) (step 3).
pub fn establish(
    sk_sr: &PrivateKey,
    pk_ecasd: &PublicKey,
    random_challenge: &[u8],
    kvn: u8,
    initial_counter: Counter,
    ephemeral: PrivateKey,
) -> Result<Establishment, IsdrKeySetError> {
    if !wire_profile::KVN_SCP80.contains(&kvn) {
        return Err(IsdrKeySetError::Kvn(kvn));
    }
    let agreement = es8::sign_key_agreement(
        sk_sr,
        crt(kvn, initial_counter),
        ephemeral.public_key(),
        random_challenge,
    )?;
    let shared = ephemeral.ecka(pk_ecasd)?;
    let (key_set, expected_receipt) = key_set_and_receipt(shared.as_bytes(), &agreement)?;
    Ok(Establishment {
        agreement,
        key_set,
        expected_receipt,
    })
}

impl Establishment {
    /// The ES5 command `80 E2 89 01 Lc 3A02 L { A6, 7F49, 5F37 }` (wire-profile §5b step 2).
    pub fn command(&self) -> Es5Command {
        Es5Command::EstablishIsdrKeySetAgreement(self.agreement.clone())
    }

    /// The receipt the eUICC must answer (wire-profile §5b step 3), for keeping — sealed — until it does; compare
    /// with [`crate::constant_time_eq`].
    pub fn expected_receipt(&self) -> &[u8; wire_profile::KEY_AGREEMENT_RECEIPT_LEN] {
        &self.expected_receipt
    }

    /// Checks the receipt (the value of `86 10`, ES7 `Receipt`) in constant time (wire-profile §5b step 3).
    pub fn check_receipt(&self, receipt: &[u8]) -> Result<(), IsdrKeySetError> {
        if crate::constant_time_eq(receipt, &self.expected_receipt) {
            Ok(())
        } else {
            Err(IsdrKeySetError::Receipt)
        }
    }

    /// The ES7.CreateAdditionalKeySet request carrying this key agreement to SM-SR1 (wire-profile §5b step 2):
    /// `KeyVersionNumber`, `InitialSequenceCounter`, `ECCKeyLength` `ECC-256`, `ScenarioParameter` `00`,
    /// `EphemeralPublicKey` = `04‖X‖Y`, `Signature` = r‖s; `HostId` travels on ES7 only.
    pub fn to_es7_request(
        &self,
        base: BaseRequest,
        eid: Eid,
        host_id: HexBinary,
    ) -> Result<CreateAdditionalKeySetRequest, IsdrKeySetError> {
        let hex =
            |b: &[u8]| HexBinary::from_bytes(b).map_err(|_| IsdrKeySetError::Es7("hexBinary"));
        Ok(CreateAdditionalKeySetRequest {
            base,
            eid,
            key_version_number: KeysetVersion::new(self.key_set.kvn)
                .map_err(|_| IsdrKeySetError::Kvn(self.key_set.kvn))?,
            initial_sequence_counter: self.key_set.initial_counter.value() as i64,
            ecc_key_length: wire_profile::ES7_ECC_KEY_LENGTH,
            scenario_parameter: wire_profile::ES7_SCENARIO_PARAMETER as i8,
            host_id,
            ephemeral_public_key: hex(&self.agreement.ephemeral_public_key)?,
            signature: hex(&self.agreement.signature)?,
        })
    }
}

/// SM-SR1's `3A01` for ES7.AuthenticateSMSR: STORE DATA `80 E2 09 00 Lc 3A01 L <CERT.SR.ECDSA>` to the ISD-R; the
/// eUICC answers `85 10 <RC>`, which goes back as ES7 `RandomChallenge` (wire-profile §5b step 1).
pub fn certificate_command(cert_sr: &[u8]) -> Es5Command {
    Es5Command::EstablishIsdrKeySetCertificate {
        certificate: cert_sr.to_vec(),
    }
}

/// SM-SR1's `3A02` rebuilt from ES7.CreateAdditionalKeySet (wire-profile §5b step 2): the CRT from
/// `KeyVersionNumber`, `InitialSequenceCounter` (5 bytes) and `ScenarioParameter` (`90 02 03 <parameter>`),
/// `7F49 { B0 <EphemeralPublicKey>, F0 <ecasd_curve> }` (the curve of the eUICC's CERT.ECASD.ECKA in the EIS,
/// [`wire_profile::ES7_ECC_KEY_LENGTH`]), `5F37 <Signature>`. The eUICC checks the rest; `HostId` is not sent.
pub fn agreement_from_es7(
    request: &CreateAdditionalKeySetRequest,
    ecasd_curve: Curve,
) -> Result<Es5Command, IsdrKeySetError> {
    let kvn = request.key_version_number.get();
    if !wire_profile::KVN_SCP80.contains(&kvn) {
        return Err(IsdrKeySetError::Kvn(kvn));
    }
    if request.ecc_key_length != wire_profile::ES7_ECC_KEY_LENGTH {
        return Err(IsdrKeySetError::Es7("ECCKeyLength other than ECC-256"));
    }
    let initial_counter = u64::try_from(request.initial_sequence_counter)
        .ok()
        .and_then(Counter::from_u64)
        .ok_or(IsdrKeySetError::Es7(
            "InitialSequenceCounter outside 0 to 2^40 - 1",
        ))?;
    let mut crt = crt(kvn, initial_counter);
    crt.scenario[1] = request.scenario_parameter as u8;
    let signature = request.signature.as_bytes();
    if signature.len() != 64 {
        return Err(IsdrKeySetError::Es7("Signature is not 64 bytes r‖s"));
    }
    Ok(Es5Command::EstablishIsdrKeySetAgreement(KeyAgreement {
        crt,
        ephemeral_public_key: request.ephemeral_public_key.as_bytes().to_vec(),
        key_parameter_reference: ecasd_curve.key_parameter_reference(),
        signature: signature.to_vec(),
    }))
}

/// SM-SR2's FinaliseISDRHandover under the new key set: DELETE `80 E4 00 00 05 F2 03 <old KVN> 01 03`, key ids
/// 1–3 of the previous SM-SR's key set (wire-profile §5b step 5).
pub fn finalise_command(old_kvn: u8) -> Result<Es5Command, IsdrKeySetError> {
    if !wire_profile::KVN_SCP80.contains(&old_kvn) {
        return Err(IsdrKeySetError::Kvn(old_kvn));
    }
    Ok(Es5Command::FinaliseIsdrHandover { old_kvn })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apdu::CommandApdu;
    use crate::isdr::KeyAgreementResponse;
    use crate::wire_profile::CardProfile;

    fn key(curve: Curve, byte: u8) -> PrivateKey {
        PrivateKey::from_scalar(curve, &[byte; 32]).expect("scalar")
    }

    fn apdu(c: &Es5Command) -> CommandApdu {
        c.to_apdu(&CardProfile::default()).expect("apdu")
    }

    #[test]
    fn both_ends_derive_the_same_key_set_and_receipt() {
        for curve in [Curve::P256, Curve::BrainpoolP256r1] {
            let (sr, ecasd) = (key(Curve::P256, 0x11), key(curve, 0x22));
            let rc = [0x5A; 16];
            let counter = Counter::from_u64(0x01_0000_0001).expect("counter");
            let est = establish(
                &sr,
                ecasd.public_key(),
                &rc,
                0x02,
                counter,
                key(curve, 0x33),
            )
            .expect("establish");
            // The bytes of wire-profile §5b step 2, the CRT first.
            let c = apdu(&est.command());
            assert_eq!((c.cla, c.ins, c.p1, c.p2), (0x80, 0xE2, 0x89, 0x01));
            assert_eq!(
                hex::encode_upper(&c.data[3..31]),
                "A61A9002030095011080018881011082010183010291050100000001"
            );
            // The eUICC: recognise, verify, derive.
            let Ok(Es5Command::EstablishIsdrKeySetAgreement(ka)) = Es5Command::from_apdu(&c) else {
                panic!("3A02 not recognised");
            };
            assert_eq!(check_crt(&ka.crt), Some((0x02, counter)));
            assert_eq!(ka.key_parameter_reference, curve.key_parameter_reference());
            let signed = ka.signed_data(&rc).expect("signed");
            sr.public_key()
                .verify(&signed, &ka.signature)
                .expect("signature");
            let eph = PublicKey::from_sec1(curve, &ka.ephemeral_public_key).expect("point");
            let shs = ecasd.ecka(&eph).expect("ecka");
            let (card, receipt) = key_set_and_receipt(shs.as_bytes(), &ka).expect("derive");
            assert_eq!(card.kvn, 0x02);
            assert_eq!(card.initial_counter, counter);
            for (a, b) in [
                (&card.kic, &est.key_set.kic),
                (&card.kid, &est.key_set.kid),
                (&card.kik, &est.key_set.kik),
            ] {
                assert_eq!(a.expose(), b.expose());
            }
            assert_ne!(card.kic.expose(), card.kid.expose());
            let answer = KeyAgreementResponse {
                derivation_random: None,
                receipt: receipt.to_vec(),
            };
            let parsed =
                KeyAgreementResponse::parse(&answer.to_bytes().expect("86")).expect("parse");
            est.check_receipt(&parsed.receipt).expect("receipt");
            let mut wrong = receipt;
            wrong[15] ^= 1;
            assert!(matches!(
                est.check_receipt(&wrong),
                Err(IsdrKeySetError::Receipt)
            ));
            assert!(est.check_receipt(&receipt[..15]).is_err());
        }
    }

    #[test]
    fn shared_info_is_the_crt_usage_type_and_length() {
        let c = crt(0x05, Counter([0; 5]));
        assert_eq!(
            wire_profile::ISD_R_KDF_SHARED_INFO,
            [c.key_usage, c.key_type, c.key_length]
        );
        assert_eq!(wire_profile::ISD_R_KDF_SHARED_INFO, [0x10, 0x88, 0x10]);
        let p = es8::isd_p_crt(0x30);
        assert_eq!(
            wire_profile::ES8_KDF_SHARED_INFO,
            [p.key_usage, p.key_type, p.key_length]
        );
    }

    #[test]
    fn check_crt_refuses_every_other_crt() {
        let good = crt(0x0F, Counter([0, 0, 0, 0, 9]));
        assert!(check_crt(&good).is_some());
        let variants: [fn(&mut KeyAgreementCrt); 8] = [
            |c| c.scenario = [0x03, 0x01],
            |c| c.key_usage = 0x5C,
            |c| c.key_type = 0x80,
            |c| c.key_length = 0x20,
            |c| c.key_id = 0x02,
            |c| c.kvn = 0x10,
            |c| c.kvn = 0x00,
            |c| c.initial_counter = None,
        ];
        for (i, edit) in variants.iter().enumerate() {
            let mut c = good.clone();
            edit(&mut c);
            assert_eq!(check_crt(&c), None, "variant {i}");
        }
        assert!(matches!(
            establish(
                &key(Curve::P256, 1),
                key(Curve::P256, 2).public_key(),
                &[0; 16],
                0x30,
                Counter([0; 5]),
                key(Curve::P256, 3)
            ),
            Err(IsdrKeySetError::Kvn(0x30))
        ));
        // The ephemeral key must be on the ECASD's curve.
        assert!(matches!(
            establish(
                &key(Curve::P256, 1),
                key(Curve::BrainpoolP256r1, 2).public_key(),
                &[0; 16],
                0x03,
                Counter([0; 5]),
                key(Curve::P256, 3)
            ),
            Err(IsdrKeySetError::Ecka(_))
        ));
    }

    #[test]
    fn es7_fields_rebuild_the_same_3a02() {
        for curve in [Curve::P256, Curve::BrainpoolP256r1] {
            let est = establish(
                &key(Curve::P256, 0x44),
                key(curve, 0x55).public_key(),
                &[7; 16],
                0x03,
                Counter::from_u64(41).expect("counter"),
                key(curve, 0x66),
            )
            .expect("establish");
            let eid = Eid::from_bytes([0x89; 16]);
            let host_id = HexBinary::from_bytes(b"SM-SR2 host id").expect("hex");
            let req = est
                .to_es7_request(BaseRequest::new("fci-1"), eid, host_id)
                .expect("ES7");
            assert_eq!(req.initial_sequence_counter, 41);
            assert_eq!(req.scenario_parameter, 0);
            assert_eq!(req.key_version_number.get(), 3);
            let rebuilt = agreement_from_es7(&req, curve).expect("rebuild");
            assert_eq!(rebuilt, est.command());
            assert_eq!(apdu(&rebuilt), apdu(&est.command()));

            let mut bad = req.clone();
            bad.initial_sequence_counter = -1;
            assert!(agreement_from_es7(&bad, curve).is_err());
            let mut bad = req.clone();
            bad.initial_sequence_counter = 1 << 40;
            assert!(agreement_from_es7(&bad, curve).is_err());
            let mut bad = req.clone();
            bad.key_version_number = KeysetVersion::new(0x30).expect("kvn");
            assert!(matches!(
                agreement_from_es7(&bad, curve),
                Err(IsdrKeySetError::Kvn(0x30))
            ));
            let mut bad = req.clone();
            bad.ecc_key_length = crate::types::EccKeyLength::Ecc384;
            assert!(agreement_from_es7(&bad, curve).is_err());
            let mut bad = req.clone();
            bad.signature = HexBinary::from_bytes(&[1; 63]).expect("hex");
            assert!(agreement_from_es7(&bad, curve).is_err());
            // Another scenario parameter reaches the CRT, where the eUICC refuses it.
            let mut other = req;
            other.scenario_parameter = 1;
            let Ok(Es5Command::EstablishIsdrKeySetAgreement(ka)) =
                agreement_from_es7(&other, curve)
            else {
                panic!("rebuild");
            };
            assert_eq!(ka.crt.scenario, [0x03, 0x01]);
            assert_eq!(check_crt(&ka.crt), None);
        }
    }

    #[test]
    fn certificate_and_finalise_are_the_wire_profile_bytes() {
        let c = apdu(&certificate_command(&[0x7F, 0x21, 0x01, 0xAA]));
        assert_eq!(
            hex::encode_upper(c.to_bytes().expect("bytes")),
            "80E20900073A01047F2101AA"
        );
        let f = apdu(&finalise_command(0x01).expect("finalise"));
        assert_eq!(
            hex::encode_upper(f.to_bytes().expect("bytes")),
            "80E4000005F203010103"
        );
        assert_eq!(
            Es5Command::from_apdu(&f).expect("parse"),
            Es5Command::FinaliseIsdrHandover { old_kvn: 1 }
        );
        assert!(matches!(
            finalise_command(0x40),
            Err(IsdrKeySetError::Kvn(0x40))
        ));
    }

    #[test]
    fn debug_never_shows_a_key() {
        let est = establish(
            &key(Curve::P256, 0x12),
            key(Curve::P256, 0x34).public_key(),
            &[1; 16],
            0x04,
            Counter([0, 0, 0, 1, 0]),
            key(Curve::P256, 0x56),
        )
        .expect("establish");
        let text = format!("{est:?}");
        assert!(text.contains("kvn: 04"), "{text}");
        assert!(text.contains("initial_counter: 256"), "{text}");
        for k in [&est.key_set.kic, &est.key_set.kid, &est.key_set.kik] {
            assert!(!text.to_uppercase().contains(&hex::encode_upper(k.expose())));
            assert!(!text.contains(&format!("{:?}", k.expose())));
        }
    }
}
