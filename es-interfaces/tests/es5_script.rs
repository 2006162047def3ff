//! APDUs and remote command scripts (ISO/IEC 7816-4 §5.1, ETSI TS 102 226 §5): round trips, the expanded scripts
//! of testdata/vectors/es8.json (computed by an independent implementation), a real-card indefinite trace, and
//! the compact response of the scp80.json PoR vector.

use es_interfaces::apdu::{ApduCase, ApduError, CommandApdu, ResponseApdu, StatusWord};
use es_interfaces::script::{CommandScript, CompactResponse, ResponseScript, ScriptError};
use serde_json::Value;

fn es8() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/vectors/es8.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read es8.json")).expect("json")
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("hex")
}

#[test]
fn apdu_cases_round_trip() {
    for (bytes, case) in [
        ("80f22002", ApduCase::Case1),
        ("80ca006600", ApduCase::Case2),
        ("80e28800053a03024f00", ApduCase::Case3),
        ("80f28002024f0000", ApduCase::Case4),
    ] {
        let c = CommandApdu::parse(&h(bytes)).expect(bytes);
        assert_eq!(c.case(), case, "{bytes}");
        assert_eq!(hex::encode(c.to_bytes().expect("enc")), bytes);
    }
    assert_eq!(
        CommandApdu::parse(&h("80f220")),
        Err(ApduError::TooShort { len: 3, min: 4 })
    );
    assert_eq!(
        CommandApdu::parse(&h("80e2880005 3a03")),
        Err(ApduError::LengthMismatch { lc: 5, body: 3 })
    );
    assert_eq!(
        CommandApdu::parse(&h("80e28800 00 0001 aa")),
        Err(ApduError::ExtendedLength)
    );
    let too_long = CommandApdu::new(0x80, 0xE2, 0, 0).with_data(vec![0; 256]);
    assert_eq!(
        too_long.to_bytes(),
        Err(ApduError::DataTooLong { len: 256 })
    );

    let r = ResponseApdu::parse(&h("bf3e0390009000")).expect("rapdu");
    assert_eq!(r.sw, StatusWord::OK);
    assert_eq!(r.data, h("bf3e039000"));
    assert_eq!(hex::encode(r.to_bytes()), "bf3e0390009000");
    assert!(ResponseApdu::parse(&[0x90]).is_err());
}

#[test]
fn es8_send_data_scripts_are_reproduced() {
    let v = es8();
    let ke = &v["key_establishment"];
    for (data, store, response, rapdu) in [
        (
            "es3_senddata_data_1",
            "store_data_1",
            "euicc_response_data_1",
            "response_1",
        ),
        (
            "es3_senddata_data_2",
            "store_data_2",
            "euicc_response_data_2",
            "response_2",
        ),
    ] {
        let script_bytes = h(ke[data].as_str().expect(data));
        let script = CommandScript::parse_expanded(&script_bytes).expect(data);
        assert_eq!(script.commands.len(), 1);
        assert_eq!(
            hex::encode(script.commands[0].to_bytes().expect("apdu")),
            hex::encode(h(ke[store].as_str().expect(store)))
        );
        assert_eq!(script.to_expanded().expect("enc"), script_bytes, "{data}");

        let resp_bytes = h(ke[response].as_str().expect(response));
        let resp = ResponseScript::parse_expanded(&resp_bytes).expect(response);
        assert_eq!(resp.executed, 1);
        assert_eq!(
            resp.responses[0].to_bytes(),
            h(ke[rapdu].as_str().expect(rapdu))
        );
        let rebuilt = ResponseScript::new(resp.responses.clone()).expect("new");
        assert_eq!(
            rebuilt.to_expanded().expect("enc"),
            resp_bytes,
            "{response}"
        );
    }
    // The SCP03t script has three commands and an `82` outer length.
    let t = &v["scp03t"];
    let bytes = h(t["es3_senddata_data"].as_str().expect("data"));
    let script = CommandScript::parse_expanded(&bytes).expect("scp03t script");
    let commands: Vec<String> = t["commands"]
        .as_array()
        .expect("commands")
        .iter()
        .map(|c| c.as_str().expect("hex").to_lowercase())
        .collect();
    let ours: Vec<String> = script
        .commands
        .iter()
        .map(|c| hex::encode(c.to_bytes().expect("apdu")))
        .collect();
    assert_eq!(ours, commands);
    assert_eq!(script.to_expanded().expect("enc"), bytes);
}

#[test]
fn indefinite_scripts_from_a_real_card_trace() {
    let cmd = CommandScript::parse_expanded(&h("ae80 2205 80ca008500 0000")).expect("AE");
    assert_eq!(
        cmd.commands,
        vec![CommandApdu::new(0x80, 0xCA, 0x00, 0x85).with_le(0)]
    );
    assert_eq!(
        hex::encode(cmd.to_expanded_indefinite().expect("enc")),
        "ae80220580ca0085000000"
    );
    // No `80` count in the indefinite response: the count is the number of R-APDUs.
    let resp = ResponseScript::parse_expanded(&h("af80 2302 6a88 0000")).expect("AF");
    assert_eq!(resp.executed, 1);
    assert_eq!(resp.responses[0].sw, StatusWord::REFERENCED_DATA_NOT_FOUND);
    let again = ResponseScript::parse_expanded(&resp.to_expanded_indefinite().expect("enc"))
        .expect("round trip");
    assert_eq!(again, resp);
}

#[test]
fn response_script_with_bad_format_and_partial_execution() {
    let r = ResponseScript {
        executed: 2,
        responses: vec![
            ResponseApdu::new(vec![], StatusWord::OK),
            ResponseApdu::new(vec![], StatusWord::CONDITIONS_NOT_SATISFIED),
        ],
        bad_format: None,
    };
    let bytes = r.to_expanded().expect("enc");
    assert_eq!(hex::encode(&bytes), "ab0b8001022302900023026985");
    assert_eq!(ResponseScript::parse_expanded(&bytes).expect("parse"), r);
    let bad = ResponseScript::parse_expanded(&h("ab06 800100 900101")).expect("bad format");
    assert_eq!((bad.executed, bad.bad_format), (0, Some(vec![1])));
}

#[test]
fn malformed_scripts_are_refused() {
    assert!(matches!(
        CommandScript::parse_expanded(&h("ab03 800101")),
        Err(ScriptError::WrongTemplate { .. })
    ));
    assert!(matches!(
        CommandScript::parse_expanded(&h("aa04 2302 9000")),
        Err(ScriptError::UnexpectedTag { offset: 2, .. })
    ));
    assert!(matches!(
        CommandScript::parse_expanded(&h("aa04 2202 80e2")),
        Err(ScriptError::Apdu { index: 0, .. })
    ));
    assert!(matches!(
        CommandScript::parse_expanded(&h("aa05 2205 80")),
        Err(ScriptError::Tlv(_))
    ));
    assert!(matches!(
        ResponseScript::parse_expanded(&h("ab06 800101 800101")),
        Err(ScriptError::BadExecutedCount { offset: 5 })
    ));
    assert!(matches!(
        ResponseScript::parse_expanded(&h("ab04 80020101")),
        Err(ScriptError::BadExecutedCount { offset: 2 })
    ));
}

#[test]
fn long_scripts_use_ber_lengths() {
    let big = CommandApdu::new(0x80, 0xE2, 0x88, 0x00).with_data(vec![0x42; 200]);
    let script = CommandScript::new(vec![big.clone(), big]);
    let bytes = script.to_expanded().expect("enc");
    // 2 × (22 81 CD + 205) = 416 = 0x01A0 → AA 82 01A0.
    assert_eq!(hex::encode(&bytes[..7]), "aa8201a02281cd");
    assert_eq!(
        CommandScript::parse_expanded(&bytes).expect("parse"),
        script
    );
}

#[test]
fn compact_forms_round_trip() {
    let c = CommandScript::parse_compact(&h("00a40004023f00 00b0000003aabbcc")).expect("compact");
    assert_eq!(c.commands.len(), 2);
    assert_eq!(c.commands[1].data, h("aabbcc"));
    assert_eq!(
        hex::encode(c.to_compact().expect("enc")),
        "00a40004023f0000b0000003aabbcc"
    );
    assert!(matches!(
        CommandScript::parse_compact(&h("00a4000402 3f")),
        Err(ScriptError::CompactTruncated { offset: 5 })
    ));
    let no_data = CommandScript::new(vec![CommandApdu::new(0, 0xB0, 0, 0).with_le(0)]);
    assert_eq!(
        no_data.to_compact(),
        Err(ScriptError::CompactWithoutData { index: 0 })
    );
    // Found by the `script` fuzz target: a P3 of 00 was read as an empty Lc, giving a script that
    // to_compact refuses to write back.
    assert_eq!(
        CommandScript::parse_compact(&h("00a40004023f00 00b0000000")),
        Err(ScriptError::CompactWithoutData { index: 1 })
    );

    let r = CompactResponse::parse(&h("016132")).expect("PoR data of scp80.json");
    assert_eq!((r.executed, r.sw, r.data.len()), (1, StatusWord(0x6132), 0));
    let with_data = CompactResponse {
        executed: 2,
        sw: StatusWord::OK,
        data: h("3f00"),
    };
    assert_eq!(hex::encode(with_data.to_bytes()), "0290003f00");
    assert_eq!(
        CompactResponse::parse(&with_data.to_bytes()).expect("rt"),
        with_data
    );
    assert!(CompactResponse::parse(&h("0190")).is_err());
}
