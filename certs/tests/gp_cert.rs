//! GP `7F21` certificates (wire-profile §6) against testdata/vectors/es8.json, plus round trips and strict
//! decoding.

use certs::ecc::{Curve, PrivateKey, PublicKey};
use certs::gp_cert::{
    EntityType, GpCertError, GpCertificate, GpCertificateBody, KEY_USAGE_KEY_AGREEMENT,
    KEY_USAGE_SIGNATURE,
};
use certs::kdf::{aes_cmac, x963_sha256};
use serde_json::Value;
use time::macros::date;

fn es8() -> Value {
    let path = format!(
        "{}/../testdata/vectors/es8.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn key(v: &Value, name: &str) -> PrivateKey {
    PrivateKey::from_scalar(Curve::P256, &h(&v["private_scalars"][name])).unwrap()
}

fn point(v: &Value, name: &str) -> PublicKey {
    PublicKey::from_sec1(Curve::P256, &h(&v["public_points"][name])).unwrap()
}

#[test]
fn private_scalars_give_the_vector_public_points() {
    let v = es8();
    for name in ["ci", "eum", "sm_dp", "ecasd", "ephemeral_dp"] {
        assert_eq!(key(&v, name).public_key(), &point(&v, name), "{name}");
    }
}

#[test]
fn cert_dp_ecdsa_signed_body_is_reproduced_from_fields() {
    let v = es8();
    let ci_id = point(&v, "ci").key_identifier().to_vec();
    let body = GpCertificateBody {
        serial_number: vec![0x01, 0x02, 0x03],
        ca_id: ci_id.clone(),
        subject_id: b"1.3.6.1.4.1.99999.1".to_vec(),
        key_usage: KEY_USAGE_SIGNATURE,
        effective_date: date!(2026 - 01 - 01),
        expiration_date: date!(2036 - 01 - 01),
        entity_type: EntityType::SmDp,
        authority_key_id: ci_id,
        public_key: point(&v, "sm_dp"),
    };
    assert_eq!(body.encode(), h(&v["cert_dp_ecdsa"]["signed_body"]));
}

#[test]
fn cert_ecasd_ecka_signed_body_is_reproduced_from_fields() {
    let v = es8();
    let eum_id = point(&v, "eum").key_identifier().to_vec();
    let body = GpCertificateBody {
        serial_number: vec![0x00, 0x00, 0x01],
        ca_id: eum_id.clone(),
        subject_id: h(&v["eid"]),
        key_usage: KEY_USAGE_KEY_AGREEMENT,
        effective_date: date!(2026 - 01 - 01),
        expiration_date: date!(2056 - 01 - 01),
        entity_type: EntityType::Ecasd,
        authority_key_id: eum_id,
        public_key: point(&v, "ecasd"),
    };
    assert_eq!(body.encode(), h(&v["cert_ecasd_ecka"]["signed_body"]));
}

#[test]
fn vector_certificates_decode_verify_and_reencode() {
    let v = es8();
    for (name, issuer) in [("cert_dp_ecdsa", "ci"), ("cert_ecasd_ecka", "eum")] {
        let bytes = h(&v[name]["certificate"]);
        let cert = GpCertificate::decode(&bytes).unwrap();
        assert_eq!(cert.signed_body(), h(&v[name]["signed_body"]), "{name}");
        cert.verify_signature(&point(&v, issuer)).unwrap();
        assert_eq!(cert.encode(), bytes, "{name} re-encodes byte for byte");
        // The wrong issuer's key does not verify it.
        let other = if issuer == "ci" { "eum" } else { "ci" };
        assert!(cert.verify_signature(&point(&v, other)).is_err());
    }
}

#[test]
fn key_establishment_values_are_reproduced() {
    let v = es8();
    let ke = &v["key_establishment"];
    let eph = key(&v, "ephemeral_dp");
    let ecasd = key(&v, "ecasd");
    // ShS from both sides (SM-DP: eSK.DP.ECKA · PK.ECASD.ECKA; eUICC: SK.ECASD.ECKA · ePK.DP.ECKA).
    let shs = eph.ecka(ecasd.public_key()).unwrap();
    assert_eq!(
        shs.as_bytes().as_slice(),
        h(&ke["shared_secret"]).as_slice()
    );
    let shs2 = ecasd.ecka(eph.public_key()).unwrap();
    assert_eq!(shs.as_bytes(), shs2.as_bytes());
    let key_data = x963_sha256(shs.as_bytes(), &h(&ke["shared_info"]), 64);
    assert_eq!(&key_data[..16], h(&ke["receipt_key"]).as_slice());
    // Receipt = AES-CMAC(receipt key, A6 TLV ‖ 7F49 TLV).
    let mut input = h(&ke["crt_a6"]);
    let mut epk = vec![0xB0, 0x41];
    epk.extend_from_slice(eph.public_key().as_sec1_uncompressed());
    epk.extend_from_slice(&[0xF0, 0x01, 0x00]);
    input.extend_from_slice(&[0x7F, 0x49, epk.len() as u8]);
    input.extend_from_slice(&epk);
    assert_eq!(
        aes_cmac(&key_data[..16], &input).unwrap().to_vec(),
        h(&ke["receipt"])
    );
    // signed_data = A6 ‖ 7F49 ‖ 85 10 RC, and the STORE DATA 2 signature verifies with PK.DP.ECDSA.
    let mut signed = input.clone();
    signed.extend_from_slice(&[0x85, 0x10]);
    signed.extend_from_slice(&h(&ke["random_challenge"]));
    assert_eq!(signed, h(&ke["signed_data"]));
    let sd2 = h(&ke["store_data_2"]);
    let sig = &sd2[sd2.len() - 64..];
    point(&v, "sm_dp").verify(&signed, sig).unwrap();
}

fn sample_body(
    curve: Curve,
    entity: EntityType,
    issuer: &PrivateKey,
) -> (GpCertificateBody, PrivateKey) {
    let mut rng = rand::rng();
    let subject = PrivateKey::generate(curve, &mut rng);
    let id = issuer.public_key().key_identifier().to_vec();
    let body = GpCertificateBody {
        serial_number: vec![0x42, 0x00, 0x17],
        ca_id: id.clone(),
        subject_id: b"1.3.6.1.4.1.99999.2".to_vec(),
        key_usage: entity.expected_key_usage(),
        effective_date: date!(2025 - 02 - 28),
        expiration_date: date!(2099 - 12 - 31),
        entity_type: entity,
        authority_key_id: id,
        public_key: subject.public_key().clone(),
    };
    (body, subject)
}

#[test]
fn every_certificate_type_round_trips_on_both_curves() {
    let mut rng = rand::rng();
    let issuer = PrivateKey::generate(Curve::P256, &mut rng);
    for curve in [Curve::P256, Curve::BrainpoolP256r1] {
        for entity in [EntityType::SmDp, EntityType::SmSr, EntityType::Ecasd] {
            let (body, _) = sample_body(curve, entity, &issuer);
            let cert = body.clone().sign(&issuer);
            let bytes = cert.encode();
            let back = GpCertificate::decode(&bytes).unwrap();
            assert_eq!(back, cert);
            assert_eq!(back.body(), &body);
            assert_eq!(back.encode(), bytes);
            back.verify_signature(issuer.public_key()).unwrap();
            assert_eq!(back.body().public_key.curve(), curve);
            assert_eq!(
                bytes[bytes.len() - 67..bytes.len() - 64],
                [0x5F, 0x37, 0x40][..]
            );
        }
    }
}

#[test]
fn tampered_certificate_does_not_verify() {
    let mut rng = rand::rng();
    let issuer = PrivateKey::generate(Curve::P256, &mut rng);
    let (body, _) = sample_body(Curve::P256, EntityType::SmSr, &issuer);
    let bytes = body.sign(&issuer).encode();
    // Flip one bit in the serial number (inside the signed body) and one in the signature.
    for idx in [6, bytes.len() - 1] {
        let mut t = bytes.clone();
        t[idx] ^= 0x01;
        let cert = GpCertificate::decode(&t).unwrap();
        assert!(
            cert.verify_signature(issuer.public_key()).is_err(),
            "byte {idx}"
        );
    }
}

#[test]
fn strict_decoding_names_the_offset() {
    let mut rng = rand::rng();
    let issuer = PrivateKey::generate(Curve::P256, &mut rng);
    let (body, _) = sample_body(Curve::P256, EntityType::SmDp, &issuer);
    let bytes = body.sign(&issuer).encode();
    // Truncated.
    assert!(matches!(
        GpCertificate::decode(&bytes[..bytes.len() - 1]),
        Err(GpCertError::Tlv(_))
    ));
    // Trailing byte after the certificate.
    let mut t = bytes.clone();
    t.push(0);
    assert!(
        matches!(GpCertificate::decode(&t), Err(GpCertError::TrailingBytes { offset }) if offset == bytes.len())
    );
    // `93` replaced by `94`.
    let mut t = bytes.clone();
    t[4] = 0x94;
    match GpCertificate::decode(&t) {
        Err(GpCertError::UnexpectedTag {
            expected: 0x93,
            offset: 4,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // Unsupported key parameter reference 01 (P-384).
    let i = bytes
        .windows(3)
        .position(|w| w == [0xF0, 0x01, 0x00])
        .unwrap();
    let mut t = bytes.clone();
    t[i + 2] = 0x01;
    let e = GpCertificate::decode(&t).unwrap_err();
    assert!(
        e.to_string().contains("key parameter reference 0x01"),
        "{e}"
    );
    // A month 13.
    let i = bytes.windows(2).position(|w| w == [0x5F, 0x24]).unwrap();
    let mut t = bytes.clone();
    t[i + 5] = 0x13;
    assert!(matches!(
        GpCertificate::decode(&t),
        Err(GpCertError::InvalidValue { tag: 0x5F24, .. })
    ));
}
