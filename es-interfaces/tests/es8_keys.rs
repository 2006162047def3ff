//! ES8 key derivation, receipt, CRT and EUICCResponse (es_interfaces::es8) against testdata/vectors/es8.json,
//! computed by an independent implementation of wire-profile §5 and §7.

use es_interfaces::apdu::CommandApdu;
use es_interfaces::es8::{self, EuiccResponse};
use es_interfaces::isdr::{Es5Command, KeyAgreement};
use serde_json::Value;

fn es8_vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/vectors/es8.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read es8.json")).expect("json")
}

fn vh(v: &Value, key: &str) -> Vec<u8> {
    hex::decode(v[key].as_str().unwrap_or_else(|| panic!("missing {key}"))).expect("hex")
}

#[test]
fn key_data_and_receipt_match_the_vectors() {
    let v = es8_vectors();
    let k = &v["key_establishment"];
    let data = es8::derive_isd_p_keys(&vh(k, "shared_secret")).expect("kdf");
    assert_eq!(data.receipt_key.expose(), vh(k, "receipt_key").as_slice());
    assert_eq!(data.keys.enc.expose(), vh(k, "k_enc").as_slice());
    assert_eq!(data.keys.mac.expose(), vh(k, "k_mac").as_slice());
    assert_eq!(data.keys.dek.expose(), vh(k, "k_dek").as_slice());
    assert_eq!(
        es_interfaces::wire_profile::ES8_KDF_SHARED_INFO.to_vec(),
        vh(k, "shared_info")
    );

    let c = CommandApdu::parse(&vh(k, "store_data_2")).expect("apdu");
    let Ok(Es5Command::EstablishIsdrKeySetAgreement(ka)) = Es5Command::from_apdu(&c) else {
        panic!("3A02 not recognised");
    };
    assert!(es8::is_isd_p_crt(&ka.crt));
    assert_eq!(ka.crt.to_bytes().expect("crt"), vh(k, "crt_a6"));
    assert_eq!(ka.crt, es8::isd_p_crt(0x30));
    let receipt = es8::receipt(&data.receipt_key, &ka).expect("receipt");
    assert_eq!(receipt.to_vec(), vh(k, "receipt"));
    // Another key agreement gives another receipt.
    let other = KeyAgreement {
        key_parameter_reference: 0x03,
        ..ka
    };
    assert_ne!(
        es8::receipt(&data.receipt_key, &other).expect("receipt"),
        receipt
    );
    assert!(es8::derive_isd_p_keys(&[0u8; 31]).is_err());
}

#[test]
fn euicc_response_of_the_vectors() {
    let v = es8_vectors();
    let der = vh(&v["scp03t"], "euicc_response_der");
    let r = EuiccResponse::parse(&der).expect("parse");
    assert_eq!(r, EuiccResponse::success());
    assert_eq!(r.to_der().expect("der"), der);
}
