//! The sample template and personalised packages decode with an independent decoder: Python asn1tools compiled
//! from the TCA PEDefinitions v3.3.1 module (`RSP_SAIP_ASN_DIR`, else `../shared/specs/tca-saip`). Expected
//! file contents are written out by hand here, not computed by our coding functions.

use std::path::PathBuf;

use serde_json::Value;
use smdp::saip::personalise::Personaliser;
use smdp::saip::record::{AkaAlgorithm, OtaKeys, PersonalisationRecord};
use smdp::saip::secret::SecretBytes;
use smdp::saip::{Limits, sample};

fn asn_dir() -> PathBuf {
    let dir = std::env::var_os("RSP_SAIP_ASN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| testkit::workspace_root().join("../shared/specs/tca-saip"));
    assert!(
        dir.join("PE_Definitions-3.3.1.asn").exists(),
        "PE_Definitions-3.3.1.asn not found in {} (set RSP_SAIP_ASN_DIR)",
        dir.display()
    );
    dir
}

fn asn1tools_decode(der: &[u8]) -> Value {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), der).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/saip_decode.py");
    let out = testkit::run_python(
        &script,
        &[asn_dir().to_str().unwrap(), file.path().to_str().unwrap()],
    );
    serde_json::from_str(&out).unwrap()
}

fn hex(s: &str) -> SecretBytes {
    SecretBytes::new(hex::decode(s).unwrap())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

fn pin_values(v: &Value, reference: u64) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .filter(|p| p[0].as_u64() == Some(reference))
        .map(|p| p[1].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn sample_template_decodes_with_asn1tools() {
    let der = sample::usim_template_der();
    let v = asn1tools_decode(&der);
    let names: Vec<&str> = v["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "header",
            "mf",
            "pukCodes",
            "pinCodes",
            "telecom",
            "pinCodes",
            "usim",
            "opt-usim",
            "pinCodes",
            "akaParameter",
            "securityDomain",
            "end"
        ]
    );
    assert_eq!(v["header_iccid"], "89000000000000000004");
    assert_eq!(strings(&v["ef_iccid"]), ["98000000000000000040"]);
    assert_eq!(strings(&v["ef_imsi"]), ["080910100000000000"]);
    assert_eq!(strings(&v["mandatory_services"]), ["milenage", "usim"]);
    assert_eq!(v["aka"][0]["algorithmID"], 1);
    // asn1tools' own DER encoder gives the same bytes for every element it can re-encode.
    assert_eq!(v["reencode_mismatch"], serde_json::json!([]));
}

#[test]
fn personalised_packages_decode_with_asn1tools_and_carry_the_record() {
    let personaliser = Personaliser::new(&sample::usim_template_der(), Limits::default()).unwrap();

    // A 19-digit ICCID, a 15-digit IMSI, MSISDN and OTA keys.
    let a = PersonalisationRecord {
        iccid: "8944500102030405062".into(),
        imsi: "234150123456789".into(),
        k: hex("465B5CE8B199B49FAA5F0A2EE238A6BC"),
        opc: hex("CD63CB71954A9F4E48A5994E37A02BAF"),
        algorithm: AkaAlgorithm::Milenage,
        pin1: hex("31323334FFFFFFFF"),
        pin2: hex("3536373839FFFFFF"),
        puk1: hex("3131313131313131"),
        puk2: hex("3232323232323232"),
        adm1: hex("0102030405060708"),
        msisdn: Some("447700900123".into()),
        ota_keys: Some(OtaKeys {
            kvn: 1,
            kic: hex("A1A2A3A4A5A6A7A8A9AAABACADAEAFA0"),
            kid: hex("B1B2B3B4B5B6B7B8B9BABBBCBDBEBFB0"),
            kik: hex("C1C2C3C4C5C6C7C8C9CACBCCCDCECFC0"),
        }),
    };
    let v = asn1tools_decode(&personaliser.personalise(&a).unwrap());
    assert_eq!(v["header_iccid"], "8944500102030405062F");
    assert_eq!(strings(&v["ef_iccid"]), ["984405102030405060F2"]);
    assert_eq!(strings(&v["ef_imsi"]), ["082943511032547698"]);
    assert_eq!(strings(&v["ef_acc"]), ["0200"]);
    assert_eq!(strings(&v["ef_msisdn"]), ["0791447700091032FFFFFFFFFFFF"]);
    assert_eq!(v["aka"][0]["algorithmID"], 1);
    assert_eq!(v["aka"][0]["key"], "465B5CE8B199B49FAA5F0A2EE238A6BC");
    assert_eq!(v["aka"][0]["opc"], "CD63CB71954A9F4E48A5994E37A02BAF");
    assert_eq!(pin_values(&v["pins"], 1), ["31323334FFFFFFFF"]);
    assert_eq!(
        pin_values(&v["pins"], 0x81),
        ["3536373839FFFFFF", "3536373839FFFFFF"]
    );
    assert_eq!(pin_values(&v["pins"], 0x0A), ["0102030405060708"]);
    // ADM2 is a template constant.
    assert_eq!(pin_values(&v["pins"], 0x0B), ["3030303030303030"]);
    assert_eq!(pin_values(&v["puks"], 1), ["3131313131313131"]);
    assert_eq!(pin_values(&v["puks"], 0x81), ["3232323232323232"]);
    assert_eq!(
        v["sd_keys"],
        serde_json::json!([
            ["01", "01", "A1A2A3A4A5A6A7A8A9AAABACADAEAFA0"],
            ["01", "02", "B1B2B3B4B5B6B7B8B9BABBBCBDBEBFB0"],
            ["01", "03", "C1C2C3C4C5C6C7C8C9CACBCCCDCECFC0"]
        ])
    );
    assert_eq!(v["reencode_mismatch"], serde_json::json!([]));

    // A 20-digit ICCID, an 11-digit IMSI, no MSISDN, no OTA keys: the template's keys stay.
    let b = PersonalisationRecord {
        iccid: "89445001020304050600".into(),
        imsi: "00101987654".into(),
        msisdn: None,
        ota_keys: None,
        ..a
    };
    let v = asn1tools_decode(&personaliser.personalise(&b).unwrap());
    assert_eq!(v["header_iccid"], "89445001020304050600");
    assert_eq!(strings(&v["ef_iccid"]), ["98440510203040506000"]);
    assert_eq!(strings(&v["ef_imsi"]), ["06091010896745FFFF"]);
    assert_eq!(strings(&v["ef_acc"]), ["0010"]);
    assert_eq!(strings(&v["ef_msisdn"]), ["FFFFFFFFFFFFFFFFFFFFFFFFFFFF"]);
    assert_eq!(v["aka"][0]["key"], "465B5CE8B199B49FAA5F0A2EE238A6BC");
    assert_eq!(v["sd_keys"][0][2], "11111111111111111111111111111111");
}
