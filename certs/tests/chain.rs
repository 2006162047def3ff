//! Chain checks CI → EUM → ECASD and CI → SM-DP / SM-SR (SGP.02 §2.3.2): every failure names the certificate.

use certs::chain::{
    CertRole, ChainError, check_ci, check_ecasd, check_eum, check_smdp, check_smsr,
};
use certs::ecc::{Curve, PrivateKey};
use certs::gp_cert::{EntityType, GpCertificateBody};
use certs::x509::{X509Certificate, X509Params, X509Profile, issue, issue_self_signed};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use time::macros::{date, datetime};
use time::{Date, OffsetDateTime};

const NOW: OffsetDateTime = datetime!(2030-06-15 12:00 UTC);

struct Pki {
    ci_key: PrivateKey,
    ci: X509Certificate,
    eum_key: PrivateKey,
    eum: X509Certificate,
}

fn params(cn: &str, profile: X509Profile, from: OffsetDateTime, to: OffsetDateTime) -> X509Params {
    X509Params {
        common_name: cn.into(),
        organization: "RSP test".into(),
        entity_oid: Some("1.3.6.1.4.1.99999.9".into()),
        serial: vec![0x01, 0x23],
        not_before: from,
        not_after: to,
        profile,
    }
}

fn pki(seed: u64) -> Pki {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let ci_key = PrivateKey::generate(Curve::P256, &mut rng);
    let ci = issue_self_signed(
        &params(
            "CI",
            X509Profile::CiRoot,
            datetime!(2025-01-01 0:00 UTC),
            datetime!(2060-01-01 0:00 UTC),
        ),
        &ci_key,
    )
    .unwrap();
    let eum_key = PrivateKey::generate(Curve::P256, &mut rng);
    let eum = issue(
        &params(
            "EUM",
            X509Profile::Eum,
            datetime!(2025-01-01 0:00 UTC),
            datetime!(2050-01-01 0:00 UTC),
        ),
        eum_key.public_key(),
        &ci,
        &ci_key,
    )
    .unwrap();
    Pki {
        ci_key,
        ci,
        eum_key,
        eum,
    }
}

fn gp(
    entity: EntityType,
    curve: Curve,
    issuer_cert: &X509Certificate,
    issuer_key: &PrivateKey,
    from: Date,
    to: Date,
) -> Vec<u8> {
    let mut rng = rand::rng();
    let subject = PrivateKey::generate(curve, &mut rng);
    let id = issuer_cert.subject_key_id().unwrap().to_vec();
    GpCertificateBody {
        serial_number: vec![7],
        ca_id: id.clone(),
        subject_id: b"1.3.6.1.4.1.99999.1".to_vec(),
        key_usage: entity.expected_key_usage(),
        effective_date: from,
        expiration_date: to,
        entity_type: entity,
        authority_key_id: id,
        public_key: subject.public_key().clone(),
    }
    .sign(issuer_key)
    .encode()
}

#[test]
fn valid_chains_pass_on_both_ecasd_curves() {
    let p = pki(1);
    assert_eq!(
        p.ci.subject_key_id().unwrap(),
        p.ci_key.public_key().key_identifier()
    );
    assert_eq!(p.eum.authority_key_id(), p.ci.subject_key_id());
    check_ci(&p.ci, NOW).unwrap();
    check_eum(&p.ci, &p.eum, NOW).unwrap();
    for curve in [Curve::P256, Curve::BrainpoolP256r1] {
        let ecasd = gp(
            EntityType::Ecasd,
            curve,
            &p.eum,
            &p.eum_key,
            date!(2025 - 01 - 01),
            date!(2055 - 01 - 01),
        );
        let cert = check_ecasd(&p.ci, &p.eum, &ecasd, NOW).unwrap();
        assert_eq!(cert.body().public_key.curve(), curve);
    }
    let dp = gp(
        EntityType::SmDp,
        Curve::P256,
        &p.ci,
        &p.ci_key,
        date!(2025 - 01 - 01),
        date!(2035 - 01 - 01),
    );
    check_smdp(&p.ci, &dp, NOW).unwrap();
    let sr = gp(
        EntityType::SmSr,
        Curve::BrainpoolP256r1,
        &p.ci,
        &p.ci_key,
        date!(2025 - 01 - 01),
        date!(2035 - 01 - 01),
    );
    check_smsr(&p.ci, &sr, NOW).unwrap();
}

#[test]
fn tampered_signatures_are_bad_signature_of_that_certificate() {
    let p = pki(2);
    let dp = gp(
        EntityType::SmDp,
        Curve::P256,
        &p.ci,
        &p.ci_key,
        date!(2025 - 01 - 01),
        date!(2035 - 01 - 01),
    );
    let mut t = dp.clone();
    *t.last_mut().unwrap() ^= 0x40;
    let e = check_smdp(&p.ci, &t, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::BadSignature {
                which: CertRole::SmDp,
                ..
            }
        ),
        "{e}"
    );
    // The last byte of an X.509 certificate is the last byte of s in the signature.
    let mut der = p.eum.der().to_vec();
    *der.last_mut().unwrap() ^= 0x01;
    let eum = X509Certificate::from_der(&der).unwrap();
    let e = check_eum(&p.ci, &eum, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::BadSignature {
                which: CertRole::Eum,
                ..
            }
        ),
        "{e}"
    );
    let mut der = p.ci.der().to_vec();
    *der.last_mut().unwrap() ^= 0x01;
    let ci = X509Certificate::from_der(&der).unwrap();
    let e = check_ci(&ci, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::BadSignature {
                which: CertRole::Ci,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn wrong_issuer_is_reported_with_the_linking_field() {
    let p = pki(3);
    let other = pki(4);
    // An ECASD certificate issued by the CI (its 42 is the CI's SKI, not the EUM's).
    let ecasd = gp(
        EntityType::Ecasd,
        Curve::P256,
        &p.ci,
        &p.ci_key,
        date!(2025 - 01 - 01),
        date!(2055 - 01 - 01),
    );
    match check_ecasd(&p.ci, &p.eum, &ecasd, NOW).unwrap_err() {
        ChainError::WrongIssuer {
            which: CertRole::Ecasd,
            field,
            ..
        } => assert_eq!(field, "CA id (42)"),
        e => panic!("{e}"),
    }
    // Another CI with the same name: the EUM's AKI does not match.
    match check_eum(&other.ci, &p.eum, NOW).unwrap_err() {
        ChainError::WrongIssuer {
            which: CertRole::Eum,
            field,
            expected,
            found,
        } => {
            assert_eq!(field, "AuthorityKeyIdentifier");
            assert_eq!(
                expected,
                hex::encode_upper(other.ci.subject_key_id().unwrap())
            );
            assert_eq!(found, hex::encode_upper(p.ci.subject_key_id().unwrap()));
        }
        e => panic!("{e}"),
    }
    // CA id of our CI but signed by another CI key: bad signature.
    let body_bytes = gp(
        EntityType::SmSr,
        Curve::P256,
        &p.ci,
        &other.ci_key,
        date!(2025 - 01 - 01),
        date!(2035 - 01 - 01),
    );
    let e = check_smsr(&p.ci, &body_bytes, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::BadSignature {
                which: CertRole::SmSr,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn validity_uses_the_injected_now() {
    let p = pki(5);
    let dp = gp(
        EntityType::SmDp,
        Curve::P256,
        &p.ci,
        &p.ci_key,
        date!(2026 - 01 - 01),
        date!(2027 - 12 - 31),
    );
    // Inclusive bounds: 2026-01-01T00:00:00Z through 2027-12-31T23:59:59Z.
    check_smdp(&p.ci, &dp, datetime!(2026-01-01 0:00 UTC)).unwrap();
    check_smdp(&p.ci, &dp, datetime!(2027-12-31 23:59:59 UTC)).unwrap();
    match check_smdp(&p.ci, &dp, datetime!(2028-01-01 0:00 UTC)).unwrap_err() {
        ChainError::Expired {
            which: CertRole::SmDp,
            not_after,
        } => {
            assert_eq!(not_after, datetime!(2027-12-31 23:59:59 UTC))
        }
        e => panic!("{e}"),
    }
    match check_smdp(&p.ci, &dp, datetime!(2025-12-31 23:59:59 UTC)).unwrap_err() {
        ChainError::NotYetValid {
            which: CertRole::SmDp,
            not_before,
        } => {
            assert_eq!(not_before, datetime!(2026-01-01 0:00 UTC))
        }
        e => panic!("{e}"),
    }
    // X.509: the EUM expires 2050, the CI 2060.
    let e = check_eum(&p.ci, &p.eum, datetime!(2051-01-01 0:00 UTC)).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::Expired {
                which: CertRole::Eum,
                ..
            }
        ),
        "{e}"
    );
    let e = check_eum(&p.ci, &p.eum, datetime!(2061-01-01 0:00 UTC)).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::Expired {
                which: CertRole::Ci,
                ..
            }
        ),
        "{e}"
    );
    let e = check_ecasd(&p.ci, &p.eum, &[], datetime!(2024-01-01 0:00 UTC)).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::NotYetValid {
                which: CertRole::Ci,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn wrong_key_usage_entity_type_and_ca_flag() {
    let p = pki(6);
    // A DP certificate carrying 0008 (key agreement).
    let mut rng = rand::rng();
    let k = PrivateKey::generate(Curve::P256, &mut rng);
    let id = p.ci.subject_key_id().unwrap().to_vec();
    let body = GpCertificateBody {
        serial_number: vec![1],
        ca_id: id.clone(),
        subject_id: b"x".to_vec(),
        key_usage: 0x0008,
        effective_date: date!(2025 - 01 - 01),
        expiration_date: date!(2035 - 01 - 01),
        entity_type: EntityType::SmDp,
        authority_key_id: id,
        public_key: k.public_key().clone(),
    };
    match check_smdp(&p.ci, &body.sign(&p.ci_key).encode(), NOW).unwrap_err() {
        ChainError::WrongKeyUsage {
            which: CertRole::SmDp,
            expected,
            found,
        } => {
            assert_eq!((expected.as_str(), found.as_str()), ("0080", "0008"))
        }
        e => panic!("{e}"),
    }
    // CERT.SR.ECDSA offered as CERT.DP.ECDSA.
    let sr = gp(
        EntityType::SmSr,
        Curve::P256,
        &p.ci,
        &p.ci_key,
        date!(2025 - 01 - 01),
        date!(2035 - 01 - 01),
    );
    let e = check_smdp(&p.ci, &sr, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::WrongEntityType {
                which: CertRole::SmDp,
                expected: EntityType::SmDp,
                found: EntityType::SmSr
            }
        ),
        "{e}"
    );
    // A TLS client certificate in the place of the EUM certificate: not a CA.
    let tls = issue(
        &params(
            "not an EUM",
            X509Profile::TlsClient,
            datetime!(2025-01-01 0:00 UTC),
            datetime!(2050-01-01 0:00 UTC),
        ),
        p.eum_key.public_key(),
        &p.ci,
        &p.ci_key,
    )
    .unwrap();
    let e = check_eum(&p.ci, &tls, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::NotACa {
                which: CertRole::Eum
            }
        ),
        "{e}"
    );
}

#[test]
fn wrong_curve_reference() {
    let p = pki(7);
    let dp = gp(
        EntityType::SmDp,
        Curve::P256,
        &p.ci,
        &p.ci_key,
        date!(2025 - 01 - 01),
        date!(2035 - 01 - 01),
    );
    let i = dp.windows(3).position(|w| w == [0xF0, 0x01, 0x00]).unwrap();
    let mut t = dp.clone();
    t[i + 2] = 0x05;
    let e = check_smdp(&p.ci, &t, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::UnsupportedCurve {
                which: CertRole::SmDp,
                reference: 0x05
            }
        ),
        "{e}"
    );
    // 03 (brainpoolP256r1) with a P-256 point.
    t[i + 2] = 0x03;
    let e = check_smdp(&p.ci, &t, NOW).unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::WrongCurve {
                which: CertRole::SmDp,
                declared: Curve::BrainpoolP256r1
            }
        ),
        "{e}"
    );
}

#[test]
fn errors_map_to_sgp02_subject_and_reason_codes() {
    let p = pki(8);
    let dp = gp(
        EntityType::SmDp,
        Curve::P256,
        &p.ci,
        &p.ci_key,
        date!(2025 - 01 - 01),
        date!(2026 - 01 - 01),
    );
    let s = check_smdp(&p.ci, &dp, NOW).unwrap_err().sgp02_status();
    assert_eq!((s.subject_code, s.reason_code), ("8.5.1", "6.3"));
    assert!(s.message.contains("CERT.DP.ECDSA expired"), "{}", s.message);
    let sr = gp(
        EntityType::SmSr,
        Curve::P256,
        &p.eum,
        &p.eum_key,
        date!(2025 - 01 - 01),
        date!(2035 - 01 - 01),
    );
    let s = check_smsr(&p.ci, &sr, NOW).unwrap_err().sgp02_status();
    assert_eq!((s.subject_code, s.reason_code), ("8.5.3", "6.1"));
    let ecasd = gp(
        EntityType::Ecasd,
        Curve::P256,
        &p.eum,
        &p.eum_key,
        date!(2025 - 01 - 01),
        date!(2026 - 01 - 01),
    );
    let s = check_ecasd(&p.ci, &p.eum, &ecasd, NOW)
        .unwrap_err()
        .sgp02_status();
    assert_eq!((s.subject_code, s.reason_code), ("8.5.2", "6.3"));
    let s = check_eum(&p.ci, &p.eum, datetime!(2051-01-01 0:00 UTC))
        .unwrap_err()
        .sgp02_status();
    assert_eq!((s.subject_code, s.reason_code), ("8.5.2", "6.3"));
    let s = check_ci(&p.ci, datetime!(2061-01-01 0:00 UTC))
        .unwrap_err()
        .sgp02_status();
    assert_eq!((s.subject_code, s.reason_code), ("1.2", "4.2"));
}

#[test]
fn seeded_generation_is_reproducible() {
    let a = pki(9);
    let b = pki(9);
    assert_eq!(a.ci.der(), b.ci.der());
    assert_eq!(a.eum.der(), b.eum.der());
    assert_ne!(a.ci.der(), pki(10).ci.der());
}
