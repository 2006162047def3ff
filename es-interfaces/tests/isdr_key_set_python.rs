//! The new ISD-R key set of SM-SR change (es_interfaces::isdr_key_set, wire-profile §5b) against an independent
//! implementation (tests/py/isdr_key_set_check.py, Python `cryptography`, written from wire-profile §5b only): for
//! the test world's CERT.SR.ECDSA / SK.SR.ECDSA and ECASD keys on P-256 and brainpoolP256r1, the checker verifies
//! the `3A02` SM-SR2 builds (CRT bytes, signature over `A6 ‖ 7F49 ‖ 85 10 RC`), recomputes ShS from the ECASD
//! private key, KeyData with SharedInfo `10 88 10` and the receipt the eUICC side answers, and gets the same KIc,
//! KID and KIK; a tampered signature, receipt, CRT or header is refused.

use certs::ecc::{Curve, PrivateKey, PublicKey};
use certs::world::WorldOptions;
use es_interfaces::apdu::CommandApdu;
use es_interfaces::isdr::{Es5Command, KeyAgreementResponse};
use es_interfaces::isdr_key_set::{self, Establishment};
use es_interfaces::scp80::Counter;
use es_interfaces::wire_profile::CardProfile;
use serde_json::{Value, json};

/// The eUICC's answer to `3A02`: `86 10 <receipt>` from its own ECKA with SK.ECASD.ECKA.
fn card_answer(ecasd: &PrivateKey, command: &CommandApdu) -> Vec<u8> {
    let Ok(Es5Command::EstablishIsdrKeySetAgreement(ka)) = Es5Command::from_apdu(command) else {
        panic!("3A02 not recognised");
    };
    let eph = PublicKey::from_sec1(ecasd.curve(), &ka.ephemeral_public_key).expect("point");
    let shs = ecasd.ecka(&eph).expect("ecka");
    let (_, receipt) = isdr_key_set::key_set_and_receipt(shs.as_bytes(), &ka).expect("derive");
    KeyAgreementResponse {
        derivation_random: None,
        receipt: receipt.to_vec(),
    }
    .to_bytes()
    .expect("86")
}

fn flip(hex_text: &str, index_from_end: usize) -> String {
    let mut b = hex::decode(hex_text).expect("hex");
    let i = b.len() - index_from_end;
    b[i] ^= 0x01;
    hex::encode_upper(b)
}

#[test]
fn the_python_checker_agrees_with_both_ends() {
    let dir = tempfile::tempdir().expect("tmp");
    let opts = WorldOptions {
        seed: Some(5),
        ..WorldOptions::new(1, time::OffsetDateTime::now_utc())
    };
    let world = certs::world::generate(dir.path(), &opts).expect("world");
    let cert_sr = hex::encode_upper(world.sm_sr_gp.cert.encode());
    let sk_sr = &world.sm_sr_gp.key;
    let issued = &world.euiccs[0].ecasd.key;
    let ecasds = [
        PrivateKey::from_scalar(issued.curve(), issued.to_scalar().as_slice()).expect("scalar"),
        PrivateKey::from_scalar(Curve::BrainpoolP256r1, &[0x3C; 32]).expect("scalar"),
    ];
    let mut cases = Vec::new();
    let mut built: Vec<Establishment> = Vec::new();
    for (i, ecasd) in ecasds.iter().enumerate() {
        for (j, (kvn, counter)) in [(0x02u8, 0u64), (0x0F, 0xFF_FFFF_FFFE), (0x07, 0x1234)]
            .into_iter()
            .enumerate()
        {
            let rc = [0xA0 ^ (i * 3 + j) as u8; 16];
            let ephemeral = [0x41 + (i * 3 + j) as u8; 32];
            let est = isdr_key_set::establish(
                sk_sr,
                ecasd.public_key(),
                &rc,
                kvn,
                Counter::from_u64(counter).expect("counter"),
                PrivateKey::from_scalar(ecasd.curve(), &ephemeral).expect("ephemeral"),
            )
            .expect("establish");
            let command = est
                .command()
                .to_apdu(&CardProfile::default())
                .expect("apdu");
            let answer = card_answer(ecasd, &command);
            est.check_receipt(&answer[2..]).expect("receipt");
            cases.push(json!({
                "cert_sr": cert_sr,
                "ecasd_scalar": hex::encode_upper(ecasd.to_scalar().as_slice()),
                "ecasd_curve": format!("{:02X}", ecasd.curve().key_parameter_reference()),
                "rc": hex::encode_upper(rc),
                "store_data": hex::encode_upper(command.to_bytes().expect("bytes")),
                "response": hex::encode_upper(&answer),
                "tag": format!("ecasd {i} kvn {kvn}"),
            }));
            built.push(est);
        }
    }
    // Tampering, on copies of the first case: the last signature byte is the last byte of the C-APDU (no Le).
    let good = cases[0].clone();
    let tampered: Vec<(&str, Value)> = vec![
        ("signature", {
            let mut c = good.clone();
            c["store_data"] = flip(good["store_data"].as_str().expect("s"), 1).into();
            c
        }),
        ("receipt", {
            let mut c = good.clone();
            c["response"] = flip(good["response"].as_str().expect("s"), 1).into();
            c
        }),
        ("challenge", {
            let mut c = good.clone();
            c["rc"] = flip(good["rc"].as_str().expect("s"), 1).into();
            c
        }),
        ("header", {
            let mut c = good.clone();
            c["store_data"] =
                format!("80E28900{}", &good["store_data"].as_str().expect("s")[8..]).into();
            c
        }),
    ];
    let mut all = cases.clone();
    all.extend(tampered.iter().map(|(_, c)| c.clone()));
    let input = dir.path().join("cases.json");
    std::fs::write(&input, serde_json::to_vec(&all).expect("json")).expect("write");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/py/isdr_key_set_check.py"
    );
    let out = testkit::run_python(std::path::Path::new(script), &[&input.to_string_lossy()]);
    let results: Vec<Value> = serde_json::from_str(out.trim()).expect("checker prints JSON");
    assert_eq!(results.len(), all.len());

    for ((r, est), case) in results.iter().zip(&built).zip(&cases) {
        assert_eq!(r["ok"], true, "{} refused: {r}", case["tag"]);
        assert_eq!(r["kvn"], u64::from(est.key_set.kvn), "{}", case["tag"]);
        assert_eq!(
            r["counter"],
            est.key_set.initial_counter.value(),
            "{}",
            case["tag"]
        );
        assert_eq!(
            r["kic"],
            hex::encode(est.key_set.kic.expose()),
            "{}",
            case["tag"]
        );
        assert_eq!(
            r["kid"],
            hex::encode(est.key_set.kid.expose()),
            "{}",
            case["tag"]
        );
        assert_eq!(
            r["kik"],
            hex::encode(est.key_set.kik.expose()),
            "{}",
            case["tag"]
        );
    }
    for ((name, _), r) in tampered.iter().zip(&results[cases.len()..]) {
        assert_eq!(r["ok"], false, "tampered {name} was accepted: {r}");
        assert!(r["error"].is_string(), "{name}: {r}");
    }
}
