//! ES5 commands to the ISD-R (wire-profile §4): every builder against the bytes of the wire-profile table written
//! out by hand, every command recognised again by the eUICC side, responses both ways, key establishment against
//! testdata/vectors/es8.json (independent implementation, signature verified with p256), status words.

use es_interfaces::apdu::{CommandApdu, ResponseApdu, StatusWord};
use es_interfaces::isdr::{
    self, Es5Command, Es5Completion, Es5Failure, Es5FailureKind, Es5Function,
    ExtendedCardResources, IsdpState, IsdpStatus, IsdrError, KeyAgreement, KeyAgreementCrt,
    KeyAgreementResponse, SmsrAddressingParameters,
};
use es_interfaces::scp80::SecretKey;
use es_interfaces::wire_profile::{self, CardProfile};
use serde_json::Value;

const ISD_P: &str = "a0000005591010ffffffff8900001000";

fn h(s: &str) -> Vec<u8> {
    hex::decode(strip(s)).expect("hex")
}

fn strip(s: &str) -> String {
    s.split_whitespace().collect()
}

fn check(cmd: Es5Command, expected: &str) {
    let apdu = cmd.to_apdu(&CardProfile::default()).expect("build");
    assert_eq!(
        hex::encode(apdu.to_bytes().expect("encode")),
        strip(expected),
        "{:?}",
        cmd.function()
    );
    let parsed = CommandApdu::parse(&h(expected)).expect("parse apdu");
    assert_eq!(Es5Command::from_apdu(&parsed).expect("recognise"), cmd);
}

#[test]
fn aids_and_tars_follow_annex_h() {
    assert_eq!(hex::encode(wire_profile::isd_p_aid(0).expect("0")), ISD_P);
    assert_eq!(
        hex::encode(wire_profile::isd_p_aid(1).expect("1")),
        "a0000005591010ffffffff8900001100"
    );
    assert_eq!(wire_profile::isd_p_aid(0xF0), None);
    assert_eq!(
        wire_profile::default_tar(&wire_profile::ISD_R_AID),
        Some([0, 0, 1])
    );
    assert_eq!(wire_profile::default_tar(&h(ISD_P)), Some([0, 0, 0x10]));
    assert_eq!(wire_profile::aes_kic_kid(1), Some(0x12));
    assert_eq!(wire_profile::aes_kic_kid(0x10), None);
}

#[test]
fn every_es5_command_matches_the_wire_profile_table() {
    let aid = h(ISD_P);
    check(
        Es5Command::CreateIsdp {
            isd_p_aid: aid.clone(),
            memory_quota: Some(0x2000),
        },
        "80e60c0045 10a0000005591010ffffffff8900000d00 10a0000005591010ffffffff8900000e00
         10a0000005591010ffffffff8900001000 0380c000 0cc90481020370ef04830220 00 00",
    );
    // Above 65,535 bytes the quota takes four bytes (wire-profile §4).
    check(
        Es5Command::CreateIsdp {
            isd_p_aid: aid.clone(),
            memory_quota: Some(0x0001_2000),
        },
        "80e60c0047 10a0000005591010ffffffff8900000d00 10a0000005591010ffffffff8900000e00
         10a0000005591010ffffffff8900001000 0380c000 0ec90481020370ef0683040001200000",
    );
    check(
        Es5Command::CreateIsdp {
            isd_p_aid: aid.clone(),
            memory_quota: None,
        },
        "80e60c003f 10a0000005591010ffffffff8900000d00 10a0000005591010ffffffff8900000e00
         10a0000005591010ffffffff8900001000 0380c000 06c904810203 70 00",
    );
    check(
        Es5Command::EnableProfile {
            isd_p_aid: aid.clone(),
        },
        "80e2880015 3a0312 4f10a0000005591010ffffffff8900001000",
    );
    check(
        Es5Command::DisableProfile {
            isd_p_aid: aid.clone(),
        },
        "80e2880015 3a0412 4f10a0000005591010ffffffff8900001000",
    );
    check(
        Es5Command::SetFallbackAttribute {
            isd_p_aid: aid.clone(),
        },
        "80e2880015 3a0512 4f10a0000005591010ffffffff8900001000",
    );
    check(
        Es5Command::UpdateSmsrAddressingParameters(SmsrAddressingParameters {
            smsr_msisdn: h("914487654321"),
        }),
        "80e288000b 3a0608 8006914487654321",
    );
    check(
        Es5Command::HandleNotificationConfirmation { sequence: 0x012A },
        "80e2890007 3a0804 4e02012a",
    );
    check(
        Es5Command::DeleteProfile {
            isd_p_aid: aid.clone(),
        },
        "80e4008012 4f10a0000005591010ffffffff8900001000",
    );
    check(
        Es5Command::MasterDelete {
            isd_p_aid: aid.clone(),
            token: vec![0xAB; 16],
        },
        "80e4008024 4f10a0000005591010ffffffff8900001000 9e10abababababababababababababababab",
    );
    // wire-profile §4 writes `5C 03 4F 9F70 53`; the tag list is four bytes long, so the length is 04.
    check(
        Es5Command::AuditEis {
            continuation: false,
        },
        "80f2400208 4f00 5c044f9f7053 00",
    );
    check(
        Es5Command::AuditEis { continuation: true },
        "80f2400308 4f00 5c044f9f7053 00",
    );
    check(Es5Command::GetExtendedCardResources, "80caff2100");
    check(
        Es5Command::FinaliseIsdrHandover { old_kvn: 0x01 },
        "80e4000005 f203010103",
    );
}

#[test]
fn delete_p2_comes_from_the_card_profile() {
    let profile = CardProfile {
        delete_isd_p_p2: 0x40,
        ..CardProfile::default()
    };
    let cmd = Es5Command::DeleteProfile {
        isd_p_aid: h(ISD_P),
    };
    let apdu = cmd.to_apdu(&profile).expect("build");
    assert_eq!(apdu.p2, 0x40);
    assert_eq!(
        Es5Command::from_apdu(&apdu).expect("Njiwa P2 accepted"),
        cmd
    );
}

#[test]
fn foreign_and_malformed_commands_are_refused() {
    let refuse = |apdu: &str| Es5Command::from_apdu(&CommandApdu::parse(&h(apdu)).expect("apdu"));
    assert!(matches!(
        refuse("00a40004023f00"),
        Err(IsdrError::NotEs5Command { cla: 0, .. })
    ));
    assert!(matches!(
        refuse("80e2880005 3a09 024f00"),
        Err(IsdrError::NotEs5Command { .. })
    ));
    assert!(matches!(
        refuse("80e2880006 3a0303 4f01aa"),
        Err(IsdrError::BadAid { len: 1, .. })
    ));
    assert!(matches!(
        refuse("80e2880009 3a0306 4f01aa 4e0100"),
        Err(IsdrError::Tlv { .. })
    ));
    assert!(matches!(
        refuse("80e2880006 3a0303 4f05aa"),
        Err(IsdrError::Tlv {
            function: Es5Function::EnableProfile,
            ..
        })
    ));
    assert!(matches!(
        refuse("80e2890006 3a0803 4e0101"),
        Err(IsdrError::Malformed {
            function: Es5Function::HandleNotificationConfirmation,
            ..
        })
    ));
    assert!(matches!(
        refuse("80e4000005 f203010102"),
        Err(IsdrError::Malformed {
            function: Es5Function::FinaliseIsdrHandover,
            ..
        })
    ));
    assert!(matches!(
        refuse("80e4008005 4f03a00000"),
        Err(IsdrError::BadAid { len: 3, .. })
    ));
    let bad_create = Es5Command::CreateIsdp {
        isd_p_aid: vec![1, 2],
        memory_quota: None,
    };
    assert!(matches!(
        bad_create.to_apdu(&CardProfile::default()),
        Err(IsdrError::BadAid { len: 2, .. })
    ));
}

#[test]
fn notification_confirmation_response_lists_isdps_deleted_by_pol1() {
    let none = isdr::encode_notification_confirmation_response(&[]).expect("empty");
    assert!(none.is_empty());
    assert!(
        isdr::parse_notification_confirmation_response(&none)
            .expect("empty")
            .is_empty()
    );
    let two = vec![h(ISD_P), h("a0000005591010ffffffff8900001100")];
    let bytes = isdr::encode_notification_confirmation_response(&two).expect("two");
    assert_eq!(
        hex::encode(&bytes),
        format!("8024 4f10{ISD_P} 4f10a0000005591010ffffffff8900001100").replace(' ', "")
    );
    assert_eq!(
        isdr::parse_notification_confirmation_response(&bytes).expect("parse"),
        two
    );
    assert!(isdr::parse_notification_confirmation_response(&h("8103 4f01aa")).is_err());
    assert!(isdr::parse_notification_confirmation_response(&h("8003 5a01aa")).is_err());
}

#[test]
fn audit_response_round_trips_and_reads_card_variants() {
    let list = vec![
        IsdpStatus {
            aid: h(ISD_P),
            state: IsdpState::Enabled,
            fallback: true,
        },
        IsdpStatus {
            aid: h("a0000005591010ffffffff8900001100"),
            state: IsdpState::Disabled,
            fallback: false,
        },
        IsdpStatus {
            aid: h("a0000005591010ffffffff8900001200"),
            state: IsdpState::Selectable,
            fallback: false,
        },
    ];
    let bytes = isdr::encode_audit_response(&list).expect("encode");
    assert_eq!(
        hex::encode(&bytes[..27]),
        format!("e319 4f10{ISD_P} 9f70013f 530101").replace(' ', "")
    );
    assert_eq!(isdr::parse_audit_response(&bytes).expect("parse"), list);
    // A card that adds privileges (C5) and omits 53 is still read.
    let other = h("e30e 4f05a000000559 9f7001ff c50100");
    let parsed = isdr::parse_audit_response(&other).expect("variant");
    assert_eq!(parsed[0].state, IsdpState::Other(0xFF));
    assert!(!parsed[0].fallback);
    assert!(isdr::parse_audit_response(&h("e303 530101")).is_err());
    assert!(isdr::parse_audit_response(&h("e203 530101")).is_err());
}

#[test]
fn extended_card_resources_round_trip() {
    let r = ExtendedCardResources {
        installed_applications: 3,
        free_non_volatile_memory: 0x01_2345,
        free_volatile_memory: 0x0800,
    };
    let bytes = r.to_bytes().expect("encode");
    assert_eq!(hex::encode(&bytes), "ff210c810103820301234583020800");
    assert_eq!(ExtendedCardResources::parse(&bytes).expect("parse"), r);
    assert!(ExtendedCardResources::parse(&h("ff2106 810103 820100")).is_err());
    assert!(ExtendedCardResources::parse(&h("ff210e 810103 82050102030405 830100")).is_err());
}

#[test]
fn status_words_map_to_typed_outcomes() {
    let r = |sw| ResponseApdu::new(vec![], StatusWord(sw));
    assert_eq!(
        isdr::interpret(Es5Function::EnableProfile, &r(0x9000)),
        Ok(Es5Completion::Done)
    );
    assert_eq!(
        isdr::interpret(Es5Function::AuditEis, &r(0x6310)),
        Ok(Es5Completion::MoreData)
    );
    for (sw, kind) in [
        (0x6A88, Es5FailureKind::ReferencedDataNotFound),
        (0x6985, Es5FailureKind::ConditionsNotSatisfied),
        (0x6982, Es5FailureKind::SecurityStatusNotSatisfied),
        (0x6A80, Es5FailureKind::IncorrectData),
        (0x6A84, Es5FailureKind::NotEnoughMemory),
        (0x6310, Es5FailureKind::Other),
    ] {
        assert_eq!(
            isdr::interpret(Es5Function::EnableProfile, &r(sw)),
            Err(Es5Failure {
                function: Es5Function::EnableProfile,
                sw: StatusWord(sw),
                kind
            })
        );
    }
    let msg = isdr::interpret(Es5Function::DeleteProfile, &r(0x6A88))
        .expect_err("fails")
        .to_string();
    assert!(
        msg.contains("ES5.DeleteProfile") && msg.contains("6A88"),
        "{msg}"
    );
}

#[test]
fn master_delete_token_verifies_and_rejects_tampering() {
    let key = SecretKey::new(&h("000102030405060708090a0b0c0d0e0f"));
    let aid = h(ISD_P);
    let token = isdr::master_delete_token(&key, &aid).expect("token");
    assert!(isdr::verify_master_delete_token(&key, &aid, &token).expect("verify"));
    let mut bad = token;
    bad[0] ^= 1;
    assert!(!isdr::verify_master_delete_token(&key, &aid, &bad).expect("verify"));
    assert!(!isdr::verify_master_delete_token(&key, &aid, &token[..8]).expect("verify"));
    let other = SecretKey::new(&[0u8; 16]);
    assert!(!isdr::verify_master_delete_token(&other, &aid, &token).expect("verify"));
    assert_eq!(
        isdr::master_delete_token(&SecretKey::new(&[0u8; 5]), &aid),
        Err(IsdrError::TokenKey)
    );
    assert_eq!(format!("{key:?}"), "SecretKey([redacted])");
}

fn es8() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/vectors/es8.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read es8.json")).expect("json")
}

fn vh(v: &Value, key: &str) -> Vec<u8> {
    h(v[key].as_str().unwrap_or_else(|| panic!("missing {key}")))
}

#[test]
fn key_establishment_dgis_reproduce_es8_vectors() {
    use p256::ecdsa::{Signature, VerifyingKey, signature::Verifier};

    let v = es8();
    let ke = &v["key_establishment"];
    // Step 1: STORE DATA 3A01 with the certificate; the DGI length is one byte (EE).
    let cert = vh(&v["cert_dp_ecdsa"], "certificate");
    let step1 = Es5Command::EstablishIsdrKeySetCertificate {
        certificate: cert.clone(),
    };
    let apdu1 = step1.to_apdu(&CardProfile::default()).expect("3A01");
    assert_eq!(apdu1.to_bytes().expect("enc"), vh(ke, "store_data_1"));
    assert_eq!(Es5Command::from_apdu(&apdu1).expect("recognise"), step1);
    let response_1 = ResponseApdu::parse(&vh(ke, "response_1")).expect("r1");
    let rc = isdr::parse_random_challenge_response(&response_1.data).expect("RC");
    assert_eq!(rc, vh(ke, "random_challenge"));
    assert_eq!(
        isdr::encode_random_challenge_response(&rc).expect("enc"),
        response_1.data
    );

    // Step 2: parse the vector's 3A02, check every part, rebuild it byte for byte.
    let store_2 = CommandApdu::parse(&vh(ke, "store_data_2")).expect("apdu 2");
    let Es5Command::EstablishIsdrKeySetAgreement(ka) =
        Es5Command::from_apdu(&store_2).expect("recognise 3A02")
    else {
        panic!("3A02 not recognised as key agreement");
    };
    assert_eq!(
        ka.crt,
        KeyAgreementCrt {
            scenario: wire_profile::KEY_AGREEMENT_SCENARIO,
            key_usage: wire_profile::KEY_USAGE_ISD_P_SCP03,
            key_type: wire_profile::KEY_TYPE_AES,
            key_length: wire_profile::KEY_LENGTH_AES128,
            key_id: 1,
            kvn: 0x30,
            initial_counter: None,
        }
    );
    assert_eq!(ka.crt.to_bytes().expect("crt"), vh(ke, "crt_a6"));
    assert_eq!(
        ka.ephemeral_public_key,
        vh(&v["public_points"], "ephemeral_dp")
    );
    assert_eq!(ka.key_parameter_reference, 0x00);
    let signed = ka.signed_data(&rc).expect("signed data");
    assert_eq!(signed, vh(ke, "signed_data"));
    let dp = VerifyingKey::from_sec1_bytes(&vh(&v["public_points"], "sm_dp")).expect("pk");
    let sig = Signature::from_slice(&ka.signature).expect("r||s");
    dp.verify(&signed, &sig)
        .expect("SM-DP signature over signed_data");
    let rebuilt = Es5Command::EstablishIsdrKeySetAgreement(ka.clone())
        .to_apdu(&CardProfile::default())
        .expect("build 3A02");
    assert_eq!(rebuilt, store_2);

    // Receipt = AES-CMAC(receipt key, A6 ‖ 7F49) (wire-profile §5 step 4) and its response.
    let a6_7f49 = &signed[..signed.len() - 18];
    let receipt = certs::kdf::aes_cmac(&vh(ke, "receipt_key"), a6_7f49).expect("receipt cmac");
    assert_eq!(receipt.to_vec(), vh(ke, "receipt"));
    let response_2 = ResponseApdu::parse(&vh(ke, "response_2")).expect("r2");
    let parsed = KeyAgreementResponse::parse(&response_2.data).expect("86");
    assert_eq!(parsed.receipt, receipt.to_vec());
    assert_eq!(parsed.to_bytes().expect("enc"), response_2.data);
}

#[test]
fn isd_r_key_agreement_with_counter_round_trips() {
    let ka = KeyAgreement {
        crt: KeyAgreementCrt {
            scenario: wire_profile::KEY_AGREEMENT_SCENARIO,
            key_usage: wire_profile::KEY_USAGE_ISD_R_SCP80,
            key_type: wire_profile::KEY_TYPE_AES,
            key_length: wire_profile::KEY_LENGTH_AES128,
            key_id: 1,
            kvn: 0x02,
            initial_counter: Some([0, 0, 0, 0, 1]),
        },
        ephemeral_public_key: vec![0x04; 65],
        key_parameter_reference: 0x03,
        signature: vec![0x11; 64],
    };
    let cmd = Es5Command::EstablishIsdrKeySetAgreement(ka.clone());
    let apdu = cmd.to_apdu(&CardProfile::default()).expect("build");
    assert_eq!((apdu.p1, apdu.p2), (0x89, 0x01));
    assert_eq!(
        hex::encode(&apdu.data[..26]),
        "3a02a8a61a900203009501108001888101108201018301029105"
    );
    assert_eq!(Es5Command::from_apdu(&apdu).expect("parse"), cmd);
    assert!(KeyAgreement::parse(&h("a603 900103")).is_err());
    let with_dr = KeyAgreementResponse {
        derivation_random: Some(vec![7; 16]),
        receipt: vec![9; 16],
    };
    assert_eq!(
        KeyAgreementResponse::parse(&with_dr.to_bytes().expect("enc")).expect("parse"),
        with_dr
    );
    assert!(KeyAgreementResponse::parse(&h("8501aa")).is_err());
}
