//! SCP03t (wire-profile §7) against testdata/vectors/es8.json `scp03t`, computed by an independent implementation:
//! the SM-DP's five STORE DATA commands and the ISD-P's five answers are reproduced byte for byte from both ends,
//! and tampered segments or answers are refused.

use es_interfaces::apdu::{CommandApdu, ResponseApdu, StatusWord};
use es_interfaces::scp03::scp03t::{self, CardPendingTlv, HostSession};
use es_interfaces::scp03::{InitializeUpdateResponse, Scp03Error, StaticKeys};
use es_interfaces::scp80::SecretKey;
use serde_json::Value;

fn es8() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/vectors/es8.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("read es8.json")).expect("json")
}

fn hs(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("string")).expect("hex")
}

fn isd_p_keys(v: &Value) -> StaticKeys {
    let ke = &v["key_establishment"];
    StaticKeys {
        enc: SecretKey::new(&hs(&ke["k_enc"])),
        mac: SecretKey::new(&hs(&ke["k_mac"])),
        dek: SecretKey::new(&hs(&ke["k_dek"])),
    }
}

fn list(v: &Value) -> Vec<Vec<u8>> {
    v.as_array().expect("list").iter().map(hs).collect()
}

#[test]
fn host_side_reproduces_the_store_data_commands() {
    let v = es8();
    let t = &v["scp03t"];
    let commands = list(&t["commands"]);
    let responses = list(&t["responses"]);
    let hc: [u8; 8] = hs(&t["host_challenge"]).try_into().expect("8");

    let iu = scp03t::store_data(0, scp03t::initialize_update_tlv(0x30, 0x01, hc), false);
    assert_eq!(iu.to_bytes().expect("enc"), commands[0]);
    let r0 = ResponseApdu::parse(&responses[0]).expect("r0");
    assert_eq!(r0.data, hs(&t["initialize_update_response"]));
    let iu_resp = InitializeUpdateResponse::parse(&r0.data).expect("iu");
    let (mut host, ea) = HostSession::open(&isd_p_keys(&v), hc, &iu_resp).expect("open");
    assert_eq!(
        scp03t::store_data(1, ea, false).to_bytes().expect("enc"),
        commands[1]
    );

    let segments = host
        .protect_package(&hs(&t["profile_bytes"]))
        .expect("segments");
    assert_eq!(segments.len(), 3);
    for (i, seg) in segments.iter().enumerate() {
        let last = i == segments.len() - 1;
        let cmd = scp03t::store_data(2 + i as u8, seg.tlv.clone(), last);
        assert_eq!(
            hex::encode(cmd.to_bytes().expect("enc")),
            hex::encode(&commands[2 + i]),
            "segment {i}"
        );
        let answer = ResponseApdu::parse(&responses[2 + i]).expect("answer");
        let checked = host.check_response(seg, &answer).expect("R-MAC");
        let expected = if last {
            hs(&t["euicc_response_der"])
        } else {
            vec![]
        };
        assert_eq!(checked.data, expected, "segment {i}");
    }
    let mut forged = ResponseApdu::parse(&responses[4]).expect("answer");
    forged.data[0] ^= 1;
    assert_eq!(
        host.check_response(&segments[2], &forged),
        Err(Scp03Error::RMacMismatch)
    );
    assert_eq!(
        host.check_response(
            &segments[1],
            &ResponseApdu::parse(&responses[4]).expect("r")
        ),
        Err(Scp03Error::RMacMismatch),
        "an answer checked against another command's MCV fails"
    );
    assert!(matches!(
        host.protect_segment(&[0; 240]),
        Err(Scp03Error::SegmentTooLong { len: 240, max: 239 })
    ));
}

#[test]
fn card_side_reproduces_the_answers() {
    let v = es8();
    let t = &v["scp03t"];
    let commands = list(&t["commands"]);
    let responses = list(&t["responses"]);
    let eid = hs(&v["eid"]);
    let div: [u8; 10] = eid[6..].try_into().expect("10");
    let seq: [u8; 3] = hs(&t["sequence_counter"]).try_into().expect("3");
    let keys = isd_p_keys(&v);

    let c0 = CommandApdu::parse(&commands[0]).expect("c0");
    let (pending, iu) =
        CardPendingTlv::initialize_update(&keys, &c0.data, div, seq, &hs(&v["isd_p_aid"]))
            .expect("iu");
    assert_eq!(
        ResponseApdu::new(iu.to_bytes(), StatusWord::OK).to_bytes(),
        responses[0]
    );
    let c1 = CommandApdu::parse(&commands[1]).expect("c1");
    let mut card = pending.external_authenticate(&c1.data).expect("ea");

    let mut package = Vec::new();
    for i in 2..5 {
        let c = CommandApdu::parse(&commands[i]).expect("segment");
        assert_eq!(c.p2, i as u8);
        assert_eq!(c.p1, if i == 4 { 0x91 } else { 0x11 });
        package.extend_from_slice(&card.open_segment(&c.data).expect("open"));
        let data = if i == 4 {
            hs(&t["euicc_response_der"])
        } else {
            vec![]
        };
        let answer = card.respond(&data, StatusWord::OK).expect("answer");
        assert_eq!(answer.to_bytes(), responses[i], "answer {i}");
    }
    assert_eq!(package, hs(&t["profile_bytes"]));
}

#[test]
fn tampered_scp03t_tlvs_are_refused() {
    let v = es8();
    let t = &v["scp03t"];
    let commands = list(&t["commands"]);
    let eid = hs(&v["eid"]);
    let div: [u8; 10] = eid[6..].try_into().expect("10");
    let keys = isd_p_keys(&v);
    let aid = hs(&v["isd_p_aid"]);
    let data = |i: usize| CommandApdu::parse(&commands[i]).expect("apdu").data;
    let pending = || {
        CardPendingTlv::initialize_update(&keys, &data(0), div, [0, 0, 1], &aid)
            .expect("iu")
            .0
    };
    // A different sequence counter gives another card challenge, so the host cryptogram no longer verifies.
    let (other, _) =
        CardPendingTlv::initialize_update(&keys, &data(0), div, [0, 0, 2], &aid).expect("iu");
    assert!(matches!(
        other.external_authenticate(&data(1)),
        Err(Scp03Error::CMacMismatch | Scp03Error::HostCryptogramMismatch)
    ));
    let mut bad_ea = data(1);
    bad_ea[5] ^= 1;
    assert!(pending().external_authenticate(&bad_ea).is_err());
    assert!(matches!(
        pending().external_authenticate(&data(0)),
        Err(Scp03Error::UnexpectedTlv { .. })
    ));
    let mut card = pending().external_authenticate(&data(1)).expect("ea");
    let mut seg = data(2);
    seg[10] ^= 1;
    assert_eq!(card.open_segment(&seg), Err(Scp03Error::CMacMismatch));
    // Segments out of order fail too: the MAC chains.
    assert_eq!(card.open_segment(&data(3)), Err(Scp03Error::CMacMismatch));
    assert!(card.open_segment(&data(2)).is_ok());
    assert!(matches!(
        CardPendingTlv::initialize_update(&keys, &[0x84, 0x02, 0x30, 0x01], div, [0, 0, 1], &aid),
        Err(Scp03Error::UnexpectedTlv { .. })
    ));
}
