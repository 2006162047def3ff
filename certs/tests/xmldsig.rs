//! The EIS EUM signature (XML-DSig, exclusive C14N, ECDSA-SHA256): round trip, an independent verifier and
//! signer (Python signxml), GSMA XSD validity of a signed EIS, and rejection of tampering.

mod common;

use certs::c14n;
use certs::ecc::{Curve, PrivateKey};
use certs::x509::{X509Certificate, X509Params, X509Profile, issue, issue_self_signed};
use certs::xmldsig::{
    EUM_SIGNED_INFO_URI, SignatureError, sign_eum_signed_info, signature_content,
    verify_eum_signature,
};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

const RPS: &str = "http://namespaces.gsma.org/esim-messaging/3";

struct Eum {
    ci: X509Certificate,
    key: PrivateKey,
    cert: X509Certificate,
}

fn eum(seed: u64) -> Eum {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    // signxml checks validity against the wall clock, so these certificates are valid now.
    let now = OffsetDateTime::now_utc();
    let params = |cn: &str, profile| X509Params {
        common_name: cn.into(),
        organization: "RSP test".into(),
        entity_oid: Some("1.3.6.1.4.1.99999.3".into()),
        serial: vec![seed as u8 + 1],
        not_before: now - Duration::days(1),
        not_after: now + Duration::days(3650),
        profile,
    };
    let ci_key = PrivateKey::generate(Curve::P256, &mut rng);
    let ci = issue_self_signed(&params("CI", X509Profile::CiRoot), &ci_key).unwrap();
    let key = PrivateKey::generate(Curve::P256, &mut rng);
    let cert = issue(
        &params("EUM", X509Profile::Eum),
        key.public_key(),
        &ci,
        &ci_key,
    )
    .unwrap();
    Eum { ci, key, cert }
}

fn eum_signed_info(eid: &str, extra_ns: &str) -> String {
    format!(
        r#"<rps:EumSignedInfo xmlns:rps="{RPS}"{extra_ns}>
        <rps:Eid>{eid}</rps:Eid>
        <rps:Eum-id>1.3.6.1.4.1.99999.3</rps:Eum-id>
        <rps:ProductionDate>2026-01-01T00:00:00Z</rps:ProductionDate>
        <rps:PlatformType>RSP-SIM &amp; co</rps:PlatformType>
        <rps:PlatformVersion>1.0.0</rps:PlatformVersion>
        <rps:Isd-p-loadfile-aid>A0000005591010FFFFFFFF8900000D00</rps:Isd-p-loadfile-aid>
        <rps:Isd-p-module-aid>A0000005591010FFFFFFFF8900000E00</rps:Isd-p-module-aid>
        <rps:Ecasd><rps:Aid>A0000005591010FFFFFFFF8900000200</rps:Aid><rps:Sin>4F</rps:Sin><rps:Sdin>4F</rps:Sdin><rps:Role>ECASD</rps:Role><rps:Keyset><rps:Version>115</rps:Version></rps:Keyset></rps:Ecasd>
        <rps:EuiccCapabilities><rps:CattpSupport>false</rps:CattpSupport><rps:HttpSupport>true</rps:HttpSupport><rps:HttpVersion>1.1.0</rps:HttpVersion><rps:SecurePacketVersion>9.2.0</rps:SecurePacketVersion><rps:RemoteProvisioningVersion>3.1.0</rps:RemoteProvisioningVersion></rps:EuiccCapabilities>
      </rps:EumSignedInfo>"#
    )
}

const EID: &str = "89049032123451234512345678901235";

/// A whole ES1-RegisterEISRequest body with the signature children inside `rps:EumSignature` (GSMA EISType).
fn register_eis(signed_info_inner: &str, signature_children: &str) -> String {
    format!(
        r#"<rps:ES1-RegisterEISRequest xmlns:rps="{RPS}"><rps:FunctionCallIdentifier>fc-1</rps:FunctionCallIdentifier><rps:Eis>{signed_info_inner}<rps:EumSignature>{signature_children}</rps:EumSignature><rps:RemainingMemory>100000</rps:RemainingMemory><rps:AvailableMemoryForProfiles>100000</rps:AvailableMemoryForProfiles><rps:Smsr-id>1.3.6.1.4.1.99999.2</rps:Smsr-id><rps:Isd-r><rps:Aid>A0000005591010FFFFFFFF8900000100</rps:Aid><rps:Sin>4F</rps:Sin><rps:Sdin>4F</rps:Sdin><rps:Role>ISD-R</rps:Role><rps:Keyset><rps:Version>1</rps:Version></rps:Keyset></rps:Isd-r></rps:Eis></rps:ES1-RegisterEISRequest>"#
    )
}

/// The EumSignedInfo as it appears inside the EIS (no namespace declaration of its own).
fn inner(standalone: &str) -> String {
    standalone.replacen(&format!(r#" xmlns:rps="{RPS}""#), "", 1)
}

fn signxml(ops: &[Value]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ops.json");
    std::fs::write(&path, serde_json::to_vec(ops).unwrap()).unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/xmldsig_oracle.py");
    let out = testkit::run_python(&script, &[path.to_str().unwrap()]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn round_trip_in_ds_signature_and_in_eum_signature() {
    let e = eum(1);
    let si = eum_signed_info(EID, "");
    let sig = sign_eum_signed_info(&si, &e.key, &e.cert).unwrap();
    assert!(sig.contains(&format!("URI=\"{EUM_SIGNED_INFO_URI}\"")));
    verify_eum_signature(&si, &sig, &e.cert).unwrap();
    // The same children inside rps:EumSignature verify as well.
    let wrapped = format!(
        r#"<rps:EumSignature xmlns:rps="{RPS}">{}</rps:EumSignature>"#,
        signature_content(&sig).unwrap()
    );
    verify_eum_signature(&si, &wrapped, &e.cert).unwrap();
    // The standalone fragment may carry other in-scope declarations from the SOAP envelope: exclusive C14N
    // ignores namespaces the element does not use.
    let with_context = eum_signed_info(
        EID,
        r#" xmlns:s="http://www.w3.org/2003/05/soap-envelope"  xmlns:wsa="http://www.w3.org/2005/08/addressing""#,
    );
    verify_eum_signature(&with_context, &sig, &e.cert).unwrap();
    // Signing is deterministic (RFC 6979), so the same input gives the same signature.
    assert_eq!(sig, sign_eum_signed_info(&si, &e.key, &e.cert).unwrap());
}

#[test]
fn signed_eis_is_valid_against_the_gsma_xsd_and_signxml_accepts_it() {
    let e = eum(2);
    let si = eum_signed_info(EID, "");
    let sig = sign_eum_signed_info(&si, &e.key, &e.cert).unwrap();
    let eis = register_eis(&inner(&si), &signature_content(&sig).unwrap());
    // (a) The EIS with its signature is valid against the GSMA XSD.
    match testkit::validate_gsma_bodies(std::slice::from_ref(&eis)) {
        Ok(true) => {}
        Ok(false) => eprintln!("GSMA XSDs not found: XSD check skipped"),
        Err(report) => panic!("signed EIS is not XSD-valid:\n{report}\n{eis}"),
    }
    // (b) signxml verifies it (whole EIS, and the bare ds:Signature); and rejects it for another certificate and
    // after tampering, so the oracle is not vacuous.
    let other = eum(3);
    let tampered = eis.replacen(EID, "89049032123451234512345678901236", 1);
    let r = signxml(&[
        json!({"op": "verify", "eis": eis, "cert": e.cert.to_pem()}),
        json!({"op": "verify", "eis": format!("<w xmlns:rps=\"{RPS}\">{si}{sig}</w>"), "cert": e.cert.to_pem()}),
        json!({"op": "verify", "eis": eis, "cert": other.cert.to_pem()}),
        json!({"op": "verify", "eis": tampered, "cert": e.cert.to_pem()}),
    ]);
    assert_eq!(r[0]["ok"], true, "{}", r[0]["error"]);
    assert_eq!(r[1]["ok"], true, "{}", r[1]["error"]);
    assert_eq!(
        r[0]["signed"],
        c14n::canonicalize(&si).unwrap(),
        "signxml saw the canonical EumSignedInfo"
    );
    assert_eq!(r[2]["ok"], false);
    assert_eq!(r[3]["ok"], false);
    assert!(
        r[3]["error"].as_str().unwrap().contains("Digest mismatch"),
        "{}",
        r[3]["error"]
    );
}

#[test]
fn we_verify_what_signxml_signs() {
    let e = eum(4);
    let si = eum_signed_info(EID, "");
    let r = signxml(&[json!({
        "op": "sign",
        "eum_signed_info": si,
        "key": e.key.to_pkcs8_pem().unwrap().to_string(),
        "cert": e.cert.to_pem(),
    })]);
    let theirs = r[0]["signature"].as_str().unwrap();
    assert!(theirs.contains(EUM_SIGNED_INFO_URI), "{theirs}");
    verify_eum_signature(&si, theirs, &e.cert).unwrap();
    let changed = eum_signed_info("89049032123451234512345678901236", "");
    assert!(matches!(
        verify_eum_signature(&changed, theirs, &e.cert),
        Err(SignatureError::DigestMismatch)
    ));
}

#[test]
fn a_reference_without_uri_is_accepted() {
    // XML-DSig §4.4.3.1: the application knows the object (how Njiwa dereferences EumSignature). Built here by
    // hand from lxml-independent pieces: our exclusive C14N and the EUM key.
    let e = eum(5);
    let si = eum_signed_info(EID, "");
    let sig = sign_eum_signed_info(&si, &e.key, &e.cert).unwrap();
    let no_uri_signed_info = {
        let root = c14n::parse(&sig).unwrap();
        root.child("http://www.w3.org/2000/09/xmldsig#", "SignedInfo")
            .unwrap()
            .canonicalize()
            .replace(&format!(" URI=\"{EUM_SIGNED_INFO_URI}\""), "")
    };
    use base64::Engine;
    let value =
        base64::engine::general_purpose::STANDARD.encode(e.key.sign(no_uri_signed_info.as_bytes()));
    let sig2 = format!(
        r#"<rps:EumSignature xmlns:rps="{RPS}">{no_uri_signed_info}<ds:SignatureValue xmlns:ds="http://www.w3.org/2000/09/xmldsig#">{value}</ds:SignatureValue></rps:EumSignature>"#
    );
    verify_eum_signature(&si, &sig2, &e.cert).unwrap();
    // Any other URI is refused.
    let sig3 = sig.replace(EUM_SIGNED_INFO_URI, "#EumSignedInfo");
    assert!(matches!(
        verify_eum_signature(&si, &sig3, &e.cert),
        Err(SignatureError::Unsupported {
            what: "Reference URI",
            ..
        })
    ));
}

#[test]
fn tampering_other_keys_and_missing_signatures_are_rejected() {
    let e = eum(6);
    let si = eum_signed_info(EID, "");
    let sig = sign_eum_signed_info(&si, &e.key, &e.cert).unwrap();
    // Tampered EumSignedInfo.
    let changed = si.replace("1.0.0", "1.0.1");
    assert!(matches!(
        verify_eum_signature(&changed, &sig, &e.cert),
        Err(SignatureError::DigestMismatch)
    ));
    // Tampered SignatureValue (a different valid-looking r‖s).
    let root = c14n::parse(&sig).unwrap();
    let value = root
        .child("http://www.w3.org/2000/09/xmldsig#", "SignatureValue")
        .unwrap()
        .text();
    let mut raw =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &value).unwrap();
    raw[10] ^= 0x01;
    let bad = sig.replace(
        &value,
        &base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &raw),
    );
    assert!(matches!(
        verify_eum_signature(&si, &bad, &e.cert),
        Err(SignatureError::BadSignature)
    ));
    // Tampered SignedInfo (DigestMethod changed) is refused before any crypto.
    let bad = sig.replace("xmlenc#sha256", "xmlenc#sha512");
    assert!(matches!(
        verify_eum_signature(&si, &bad, &e.cert),
        Err(SignatureError::Unsupported { .. })
    ));
    // Signed by another EUM: its certificate in KeyInfo is not the registered one; without KeyInfo the
    // signature does not verify with the registered key.
    let other = eum(7);
    let foreign = sign_eum_signed_info(&si, &other.key, &other.cert).unwrap();
    assert!(matches!(
        verify_eum_signature(&si, &foreign, &e.cert),
        Err(SignatureError::CertificateMismatch)
    ));
    let start = foreign.find("<ds:KeyInfo>").unwrap();
    let end = foreign.find("</ds:KeyInfo>").unwrap() + "</ds:KeyInfo>".len();
    let foreign_no_key_info = format!("{}{}", &foreign[..start], &foreign[end..]);
    assert!(matches!(
        verify_eum_signature(&si, &foreign_no_key_info, &e.cert),
        Err(SignatureError::BadSignature)
    ));
    // Missing signature, missing SignatureValue.
    assert!(matches!(
        verify_eum_signature(&si, "", &e.cert),
        Err(SignatureError::Missing("signature"))
    ));
    let start = sig.find("<ds:SignatureValue>").unwrap();
    let end = sig.find("</ds:SignatureValue>").unwrap() + "</ds:SignatureValue>".len();
    let no_value = format!("{}{}", &sig[..start], &sig[end..]);
    assert!(matches!(
        verify_eum_signature(&si, &no_value, &e.cert),
        Err(SignatureError::Missing("SignatureValue"))
    ));
    // A signing key that is not the certificate's.
    assert!(matches!(
        sign_eum_signed_info(&si, &other.key, &e.cert),
        Err(SignatureError::KeyMismatch { .. })
    ));
    // Not an EumSignedInfo.
    assert!(matches!(
        sign_eum_signed_info("<rps:Eis xmlns:rps='x'/>", &e.key, &e.cert),
        Err(SignatureError::NotEumSignedInfo { .. })
    ));
    let _ = &e.ci;
}
