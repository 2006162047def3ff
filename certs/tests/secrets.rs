//! Secrets at rest (AES-256-GCM envelope with key ids and AAD binding) and ES1 transport-key decryption,
//! cross-checked with Python `cryptography`.

mod common;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use certs::kdf::kcv_aes;
use certs::secrets::{MasterKeyring, SealError, Secret, TransportError, TransportKey};
use common::{hx, oracle, unhex};
use serde_json::json;

const K1: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const K2: [u8; 32] = [0x42; 32];

fn ring1() -> MasterKeyring {
    MasterKeyring::parse(&format!("k1:{K1}"), "test").unwrap()
}

fn ring21() -> MasterKeyring {
    MasterKeyring::parse(
        &format!("# rotated\nk2:{}\nk1:{K1}\n", STANDARD.encode(K2)),
        "test",
    )
    .unwrap()
}

#[test]
fn seal_open_round_trip_and_format() {
    let r = ring1();
    let blob = r
        .seal("isd-r-key", b"eis/8904.../kvn01/1", b"secret key bytes")
        .unwrap();
    assert!(blob.starts_with("v1:k1:"), "{blob}");
    assert!(!blob.contains(&hx(b"secret key bytes")));
    let p = r.open("isd-r-key", b"eis/8904.../kvn01/1", &blob).unwrap();
    assert_eq!(p.expose(), b"secret key bytes");
    // Two seals of the same value differ (random nonce).
    assert_ne!(
        blob,
        r.seal("isd-r-key", b"eis/8904.../kvn01/1", b"secret key bytes")
            .unwrap()
    );
    // Empty plaintext works too.
    let e = r.seal("p", b"", b"").unwrap();
    assert!(r.open("p", b"", &e).unwrap().is_empty());
}

#[test]
fn swapped_purpose_or_record_does_not_open() {
    let r = ring1();
    let blob = r.seal("isd-r-key", b"row-1", b"k").unwrap();
    assert!(matches!(
        r.open("isd-r-key", b"row-2", &blob),
        Err(SealError::Unauthentic { .. })
    ));
    assert!(matches!(
        r.open("scp81-psk", b"row-1", &blob),
        Err(SealError::Unauthentic { .. })
    ));
    // Length-prefixed AAD: ("ab", "c") and ("a", "bc") are different bindings.
    let blob = r.seal("ab", b"c", b"k").unwrap();
    assert!(r.open("a", b"bc", &blob).is_err());
}

#[test]
fn tampered_tag_ciphertext_or_header_does_not_open() {
    let r = ring21();
    let blob = r.seal("p", b"a", b"0123456789").unwrap();
    let (head, body) = blob.rsplit_once(':').unwrap();
    let raw = URL_SAFE_NO_PAD.decode(body).unwrap();
    for idx in [raw.len() - 1, 12, 0] {
        let mut t = raw.clone();
        t[idx] ^= 0x01;
        let tampered = format!("{head}:{}", URL_SAFE_NO_PAD.encode(&t));
        assert!(
            matches!(
                r.open("p", b"a", &tampered),
                Err(SealError::Unauthentic { .. })
            ),
            "byte {idx}"
        );
    }
    // The key id is bound too: relabelling a k2 blob as k1 fails authentication.
    let relabelled = blob.replacen("v1:k2:", "v1:k1:", 1);
    assert!(matches!(
        r.open("p", b"a", &relabelled),
        Err(SealError::Unauthentic { .. })
    ));
    assert!(matches!(
        r.open("p", b"a", "v2:k2:AAAA"),
        Err(SealError::Malformed(_))
    ));
    assert!(matches!(
        r.open("p", b"a", "v1:k2:AAAA"),
        Err(SealError::Malformed(_))
    ));
}

#[test]
fn wrong_key_id_and_rotation() {
    let old = ring1();
    let blob = old.seal("p", b"row", b"value").unwrap();
    let new = ring21();
    assert_eq!(new.current_key_id(), "k2");
    assert_eq!(new.key_ids(), ["k2", "k1"]);
    assert_eq!(new.open("p", b"row", &blob).unwrap().expose(), b"value");
    assert!(new.needs_rewrap(&blob).unwrap());
    assert!(!old.needs_rewrap(&blob).unwrap());
    let rewrapped = new.rewrap("p", b"row", &blob).unwrap();
    assert!(rewrapped.starts_with("v1:k2:"));
    assert!(!new.needs_rewrap(&rewrapped).unwrap());
    // A ring without k2 cannot open the rewrapped blob, and says which key id it lacks.
    match old.open("p", b"row", &rewrapped) {
        Err(SealError::UnknownKeyId { key_id }) => assert_eq!(key_id, "k2"),
        other => panic!("{other:?}"),
    }
    let only2 = MasterKeyring::parse(&format!("k2:{}", hex::encode(K2)), "t").unwrap();
    assert_eq!(
        only2.open("p", b"row", &rewrapped).unwrap().expose(),
        b"value"
    );
    assert!(matches!(
        only2.open("p", b"row", &blob),
        Err(SealError::UnknownKeyId { .. })
    ));
}

#[test]
fn blobs_are_standard_aes_256_gcm() {
    let r = ring1();
    let blob = r.seal("purpose", b"record", b"plain text").unwrap();
    let raw = URL_SAFE_NO_PAD
        .decode(blob.rsplit_once(':').unwrap().1)
        .unwrap();
    // AAD as documented: length-prefixed "v1", key id, purpose, record identifier.
    let mut aad = Vec::new();
    for part in [&b"v1"[..], b"k1", b"purpose", b"record"] {
        aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
        aad.extend_from_slice(part);
    }
    let res = oracle(&[
        json!({"op": "aes_gcm_open", "key": K1, "nonce": hx(&raw[..12]), "ct": hx(&raw[12..]), "aad": hx(&aad)}),
    ]);
    assert_eq!(unhex(&res[0]["pt"]), b"plain text");
}

#[test]
fn key_ring_sources_and_errors_keep_keys_out_of_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.keys");
    std::fs::write(&path, format!("k1:{K1}\n")).unwrap();
    assert_eq!(
        MasterKeyring::from_file(&path).unwrap().current_key_id(),
        "k1"
    );
    // SAFETY: this test process sets a variable only this test reads.
    unsafe {
        std::env::set_var(
            "CERTS_TEST_MASTER_KEYS",
            format!("k9:{},k1:{K1}", STANDARD.encode(K2)),
        )
    };
    let env = MasterKeyring::from_env("CERTS_TEST_MASTER_KEYS").unwrap();
    assert_eq!(env.key_ids(), ["k9", "k1"]);
    for bad in [
        format!("k1:{}", &K1[..62]),
        format!("k1 {K1}"),
        format!("k/1:{K1}"),
        format!("k1:{K1}\nk1:{K1}"),
        String::new(),
    ] {
        let e = MasterKeyring::parse(&bad, "cfg").unwrap_err().to_string();
        assert!(!e.contains(&K1[..16]), "{e}");
    }
    let dbg = format!("{env:?}");
    assert!(dbg.contains("k9") && !dbg.contains(&K1[..16]), "{dbg}");
    let mut rng = rand::rng();
    let (g, text) = MasterKeyring::generate("gen1", &mut rng).unwrap();
    assert_eq!(
        MasterKeyring::parse(&text, "t").unwrap().current_key_id(),
        g.current_key_id()
    );
}

#[test]
fn secret_debug_is_redacted() {
    let s = Secret::new(b"\x01\x02hunter2".to_vec());
    assert_eq!(format!("{s:?}"), "[redacted]");
    assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
    let t = TransportKey::new(Secret::new(vec![7; 16])).unwrap();
    assert_eq!(format!("{t:?}"), "TransportKey([redacted])");
}

#[test]
fn transport_key_matches_cryptography_aes_cbc_zero_iv() {
    let tk_bytes: Vec<u8> = (0u8..16).map(|i| i * 7 + 3).collect();
    let tk = TransportKey::new(Secret::new(tk_bytes.clone())).unwrap();
    let key_values: [Vec<u8>; 3] = [vec![0x11; 16], (0u8..32).collect(), (100u8..148).collect()];
    let mut ops = Vec::new();
    for kv in &key_values {
        ops.push(json!({"op": "aes_cbc_zero_iv", "key": hx(&tk_bytes), "data": hx(kv), "decrypt": false}));
    }
    let res = oracle(&ops);
    for (kv, r) in key_values.iter().zip(&res) {
        let theirs = unhex(&r["out"]);
        assert_eq!(tk.encrypt_key_value(kv).unwrap(), theirs);
        assert_eq!(
            tk.decrypt_key_value(&theirs).unwrap().expose(),
            kv.as_slice()
        );
    }
}

#[test]
fn transport_key_kcv_and_length_checks() {
    let tk = TransportKey::new(Secret::new(vec![0x5A; 16])).unwrap();
    let isd_r_key = [0x3Cu8; 16];
    let enc = tk.encrypt_key_value(&isd_r_key).unwrap();
    let kcv = kcv_aes(&isd_r_key).unwrap();
    assert_eq!(
        tk.decrypt_aes_key_checked(&enc, &kcv).unwrap().expose(),
        &isd_r_key
    );
    match tk.decrypt_aes_key_checked(&enc, &[kcv[0] ^ 1, kcv[1], kcv[2]]) {
        Err(TransportError::KcvMismatch { computed, .. }) => {
            assert_eq!(computed, hex::encode_upper(kcv))
        }
        other => panic!("{other:?}"),
    }
    // A key decrypted with the wrong transport key fails its KCV.
    let other = TransportKey::new(Secret::new(vec![0x5B; 16])).unwrap();
    assert!(other.decrypt_aes_key_checked(&enc, &kcv).is_err());
    assert!(matches!(
        tk.decrypt_key_value(&enc[..15]),
        Err(TransportError::DataLength(15))
    ));
    assert!(matches!(
        tk.decrypt_key_value(&[]),
        Err(TransportError::DataLength(0))
    ));
    assert!(matches!(
        TransportKey::new(Secret::new(vec![0; 15])),
        Err(TransportError::KeyLength(15))
    ));
}
