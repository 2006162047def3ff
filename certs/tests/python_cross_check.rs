//! Cross-checks against Python `cryptography` (an independent implementation), on both curves: ECDSA both ways,
//! ECKA, X9.63 KDF, PKCS#8, X.509 issuance and the es8.json key-establishment shared secret.

mod common;

use certs::chain::{CertRole, ChainError, check_eum};
use certs::ecc::{Curve, PrivateKey, PublicKey};
use certs::kdf::x963_sha256;
use certs::x509::{X509Certificate, X509Params, X509Profile, issue, issue_self_signed};
use common::{hx, oracle, unhex};
use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use time::macros::datetime;

const CURVES: [Curve; 2] = [Curve::P256, Curve::BrainpoolP256r1];

/// A check of one oracle result.
type Check = Box<dyn Fn(&Value)>;

#[test]
fn ecdsa_and_ecka_agree_with_cryptography_on_both_curves() {
    let mut rng = ChaCha20Rng::seed_from_u64(0xEC);
    let mut ops = Vec::new();
    let mut expect: Vec<Check> = Vec::new();
    for curve in CURVES {
        let name = curve.name();
        for n in 0..4 {
            let a = PrivateKey::generate(curve, &mut rng);
            let b = PrivateKey::generate(curve, &mut rng);
            let mut msg = vec![0u8; 10 + n * 37];
            rng.fill_bytes(&mut msg);
            let sa = hx(&*a.to_scalar());
            // Public point from the scalar.
            ops.push(json!({"op": "public", "curve": name, "scalar": sa}));
            let pa = hx(a.public_key().as_sec1_uncompressed());
            expect.push(Box::new(move |r| assert_eq!(r["point"], pa)));
            // Our r‖s and DER signatures verify there; a flipped bit does not.
            let rs = a.sign(&msg);
            let der = a.sign_der(&msg);
            let pt = hx(a.public_key().as_sec1_uncompressed());
            ops.push(
                json!({"op": "verify", "curve": name, "point": pt, "msg": hx(&msg), "rs": hx(&rs)}),
            );
            expect.push(Box::new(|r| assert_eq!(r["ok"], true)));
            ops.push(json!({"op": "verify_der", "curve": name, "point": pt, "msg": hx(&msg), "der": hx(&der)}));
            expect.push(Box::new(|r| assert_eq!(r["ok"], true)));
            let mut bad = rs;
            bad[40] ^= 1;
            ops.push(json!({"op": "verify", "curve": name, "point": pt, "msg": hx(&msg), "rs": hx(&bad)}));
            expect.push(Box::new(|r| assert_eq!(r["ok"], false)));
            // Their signature verifies here.
            ops.push(json!({"op": "sign", "curve": name, "scalar": sa, "msg": hx(&msg)}));
            let pk = a.public_key().clone();
            let m = msg.clone();
            expect.push(Box::new(move |r| {
                pk.verify(&m, &unhex(&r["rs"])).unwrap();
                pk.verify_der(&m, &unhex(&r["der"])).unwrap();
                let mut other = m.clone();
                other[0] ^= 1;
                assert!(pk.verify(&other, &unhex(&r["rs"])).is_err());
            }));
            // ECDH: their d_a · Q_b equals our d_b · Q_a.
            let shs = b.ecka(a.public_key()).unwrap();
            let shared = hx(shs.as_bytes());
            ops.push(json!({"op": "ecdh", "curve": name, "scalar": sa, "peer": hx(b.public_key().as_sec1_uncompressed())}));
            expect.push(Box::new(move |r| assert_eq!(r["shared"], shared)));
            // PKCS#8 PEM written here is read there.
            let pem = a.to_pkcs8_pem().unwrap().to_string();
            ops.push(json!({"op": "pkcs8", "pem": pem}));
            let sa2 = hx(&*a.to_scalar());
            expect.push(Box::new(move |r| {
                assert_eq!(r["curve"], name);
                assert_eq!(r["scalar"], sa2);
            }));
        }
    }
    let results = oracle(&ops);
    assert_eq!(results.len(), expect.len());
    for (r, e) in results.iter().zip(&expect) {
        e(r);
    }
}

#[test]
fn pkcs8_round_trips_on_both_curves() {
    let mut rng = ChaCha20Rng::seed_from_u64(8);
    for curve in CURVES {
        let k = PrivateKey::generate(curve, &mut rng);
        let back = PrivateKey::from_pkcs8_pem(&k.to_pkcs8_pem().unwrap()).unwrap();
        assert_eq!(back.curve(), curve);
        assert_eq!(back.public_key(), k.public_key());
        assert!(!format!("{k:?}").contains(&hx(&*k.to_scalar())));
        assert!(format!("{k:?}").contains("[redacted]"));
    }
}

#[test]
fn x963_kdf_agrees_with_cryptography() {
    let mut rng = ChaCha20Rng::seed_from_u64(0x963);
    let mut ops = Vec::new();
    let mut want = Vec::new();
    for (zlen, silen, len) in [(32, 3, 64), (32, 0, 16), (32, 17, 100), (48, 5, 33)] {
        let mut z = vec![0u8; zlen];
        let mut si = vec![0u8; silen];
        rng.fill_bytes(&mut z);
        rng.fill_bytes(&mut si);
        ops.push(json!({"op": "x963", "z": hx(&z), "shared_info": hx(&si), "length": len}));
        want.push(hx(&x963_sha256(&z, &si, len)));
    }
    for (r, w) in oracle(&ops).iter().zip(want) {
        assert_eq!(r["out"], w);
    }
}

#[test]
fn es8_shared_secret_from_the_fixed_scalars_agrees_with_cryptography() {
    let path = format!(
        "{}/../testdata/vectors/es8.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let eph = v["private_scalars"]["ephemeral_dp"].as_str().unwrap();
    let ecasd_pt = v["public_points"]["ecasd"].as_str().unwrap();
    let r = oracle(&[json!({"op": "ecdh", "curve": "P-256", "scalar": eph, "peer": ecasd_pt})]);
    let ours = PrivateKey::from_scalar(Curve::P256, &hex::decode(eph).unwrap())
        .unwrap()
        .ecka(&PublicKey::from_sec1(Curve::P256, &hex::decode(ecasd_pt).unwrap()).unwrap())
        .unwrap();
    let want = v["key_establishment"]["shared_secret"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert_eq!(r[0]["shared"], want);
    assert_eq!(hx(ours.as_bytes()), want);
}

fn params(cn: &str, profile: X509Profile) -> X509Params {
    X509Params {
        common_name: cn.into(),
        organization: "RSP test".into(),
        entity_oid: None,
        serial: vec![0x05],
        not_before: datetime!(2025-01-01 0:00 UTC),
        not_after: datetime!(2045-01-01 0:00 UTC),
        profile,
    }
}

#[test]
fn x509_certificates_verify_in_cryptography_with_matching_key_identifiers() {
    let mut rng = ChaCha20Rng::seed_from_u64(509);
    let ci_key = PrivateKey::generate(Curve::P256, &mut rng);
    let ci = issue_self_signed(&params("CI", X509Profile::CiRoot), &ci_key).unwrap();
    let eum_key = PrivateKey::generate(Curve::P256, &mut rng);
    let eum = issue(
        &params("EUM", X509Profile::Eum),
        eum_key.public_key(),
        &ci,
        &ci_key,
    )
    .unwrap();
    let srv_key = PrivateKey::generate(Curve::P256, &mut rng);
    let srv = issue(
        &params(
            "smsr",
            X509Profile::TlsServer {
                dns_names: vec!["localhost".into()],
                ip_addresses: vec!["127.0.0.1".parse().unwrap()],
            },
        ),
        srv_key.public_key(),
        &ci,
        &ci_key,
    )
    .unwrap();
    let ops = [
        json!({"op": "x509", "cert": ci.to_pem(), "issuer": ci.to_pem()}),
        json!({"op": "x509", "cert": eum.to_pem(), "issuer": ci.to_pem()}),
        json!({"op": "x509", "cert": srv.to_pem(), "issuer": ci.to_pem()}),
        json!({"op": "x509", "cert": eum.to_pem(), "issuer": eum.to_pem()}),
    ];
    let r = oracle(&ops);
    let ci_ski = hx(&ci_key.public_key().key_identifier());
    for (i, cert) in [&ci, &eum, &srv].iter().enumerate() {
        assert_eq!(r[i]["ok"], true, "{}", cert.subject());
        assert_eq!(r[i]["curve"], "P-256");
        assert_eq!(
            r[i]["ski"],
            r[i]["sha1_of_point"],
            "SKI = SHA-1(point) for {}",
            cert.subject()
        );
        assert_eq!(r[i]["point"], hx(cert.public_key().as_sec1_uncompressed()));
    }
    assert_eq!(r[0]["ski"], ci_ski);
    assert_eq!(r[1]["aki"], ci_ski);
    assert_eq!(r[0]["key_usage"], json!(["key_cert_sign", "crl_sign"]));
    assert_eq!(
        r[1]["key_usage"],
        json!(["digital_signature", "key_cert_sign"])
    );
    assert_eq!(r[2]["key_usage"], json!(["digital_signature"]));
    assert_eq!(
        (r[0]["ca"].clone(), r[1]["ca"].clone(), r[2]["ca"].clone()),
        (json!(true), json!(true), json!(false))
    );
    // Not issued by itself.
    assert_eq!(r[3]["ok"], false);
}

#[test]
fn an_eum_ca_without_key_cert_sign_made_by_cryptography_is_wrong_key_usage() {
    let mut rng = ChaCha20Rng::seed_from_u64(510);
    let ci_key = PrivateKey::generate(Curve::P256, &mut rng);
    let ci = issue_self_signed(&params("CI", X509Profile::CiRoot), &ci_key).unwrap();
    let eum_key = PrivateKey::generate(Curve::P256, &mut rng);
    let r = oracle(&[json!({
        "op": "ca_without_cert_sign",
        "issuer_cert": ci.to_pem(),
        "issuer_key": ci_key.to_pkcs8_pem().unwrap().to_string(),
        "subject_scalar": hx(&*eum_key.to_scalar()),
    })]);
    let eum = X509Certificate::from_pem(r[0]["pem"].as_str().unwrap()).unwrap();
    // Their certificate's signature and linkage are accepted; only the key usage is wrong.
    eum.verify_signed_by(&ci).unwrap();
    match check_eum(&ci, &eum, datetime!(2030-01-01 0:00 UTC)).unwrap_err() {
        ChainError::WrongKeyUsage {
            which: CertRole::Eum,
            expected,
            found,
        } => {
            assert_eq!(
                (expected.as_str(), found.as_str()),
                ("keyCertSign", "digitalSignature")
            )
        }
        e => panic!("{e}"),
    }
}
