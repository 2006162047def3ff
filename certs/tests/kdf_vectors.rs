//! The KDFs and key check values against testdata/vectors (x963.json, es8.json, scp03.json).

use certs::kdf::{Scp03Constant, kcv_aes, scp03_kdf, x963_sha256};
use serde_json::Value;

fn vectors(name: &str) -> Value {
    let path = format!("{}/../testdata/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn x963_reproduces_x963_json() {
    let v = vectors("x963.json");
    let out = x963_sha256(&h(&v["shared_secret"]), &h(&v["shared_info"]), 48);
    assert_eq!(out.as_slice(), h(&v["output"]).as_slice());
}

#[test]
fn x963_reproduces_es8_key_establishment() {
    let v = &vectors("es8.json")["key_establishment"];
    let out = x963_sha256(&h(&v["shared_secret"]), &h(&v["shared_info"]), 64);
    let expected: Vec<u8> = ["receipt_key", "k_enc", "k_mac", "k_dek"]
        .iter()
        .flat_map(|k| h(&v[*k]))
        .collect();
    assert_eq!(out.as_slice(), expected.as_slice());
}

#[test]
fn scp03_session_keys_reproduce_es8_scp03t() {
    let v = vectors("es8.json");
    let ke = &v["key_establishment"];
    let s = &v["scp03t"];
    let iu = h(&s["initialize_update_response"]);
    let card_challenge = &iu[13..21];
    let mut ctx = h(&s["host_challenge"]);
    ctx.extend_from_slice(card_challenge);
    let s_enc = scp03_kdf(&h(&ke["k_enc"]), Scp03Constant::SEnc, &ctx, 128).unwrap();
    let s_mac = scp03_kdf(&h(&ke["k_mac"]), Scp03Constant::SMac, &ctx, 128).unwrap();
    let s_rmac = scp03_kdf(&h(&ke["k_mac"]), Scp03Constant::SRmac, &ctx, 128).unwrap();
    assert_eq!(s_enc.as_slice(), h(&s["s_enc"]).as_slice());
    assert_eq!(s_mac.as_slice(), h(&s["s_mac"]).as_slice());
    assert_eq!(s_rmac.as_slice(), h(&s["s_rmac"]).as_slice());
    // Card cryptogram in the INITIALIZE UPDATE answer = KDF(S-MAC, 00, context, 64).
    let card_cryptogram = scp03_kdf(&s_mac, Scp03Constant::CardCryptogram, &ctx, 64).unwrap();
    assert_eq!(card_cryptogram.as_slice(), &iu[21..29]);
}

#[test]
fn scp03_card_challenge_and_cryptogram_reproduce_scp03_json() {
    let v = vectors("scp03.json");
    let enc = h(&v["static_keys"]["enc"]);
    let mac = h(&v["static_keys"]["mac"]);
    let prc = &v["pseudo_random_card_challenge"];
    let aid = h(&prc["sd_aid"]);
    for iu in prc["initialize_update_responses"].as_array().unwrap() {
        let iu = h(iu);
        let mut ctx = iu[iu.len() - 3..].to_vec();
        ctx.extend_from_slice(&aid);
        let challenge = scp03_kdf(&enc, Scp03Constant::CardChallenge, &ctx, 64).unwrap();
        assert_eq!(challenge.as_slice(), &iu[13..21]);
    }
    for session in v["sessions"].as_array().unwrap() {
        let iu = h(&session["initialize_update_response"]);
        let mut ctx = h(&session["host_challenge"]);
        ctx.extend_from_slice(&iu[13..21]);
        let s_mac = scp03_kdf(&mac, Scp03Constant::SMac, &ctx, 128).unwrap();
        let card = scp03_kdf(&s_mac, Scp03Constant::CardCryptogram, &ctx, 64).unwrap();
        assert_eq!(card.as_slice(), &iu[21..29], "{}", session["name"]);
        let host = scp03_kdf(&s_mac, Scp03Constant::HostCryptogram, &ctx, 64).unwrap();
        let ext = h(&session["external_authenticate"]);
        assert_eq!(host.as_slice(), &ext[5..13], "{}", session["name"]);
    }
}

#[test]
fn kcv_reproduces_scp03_json() {
    for pair in vectors("scp03.json")["kcv_aes"].as_array().unwrap() {
        assert_eq!(
            kcv_aes(&h(&pair[0])).unwrap().as_slice(),
            h(&pair[1]).as_slice()
        );
    }
}
