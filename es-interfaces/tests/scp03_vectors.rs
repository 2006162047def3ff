//! SCP03 known-answer vectors from a real card (testdata/vectors/scp03.json, pySim test_globalplatform.py against a
//! sysmoEUICC1 ISD-R): EXTERNAL AUTHENTICATE, every wrapped command, the protected response, and the
//! pseudo-random card challenge — from both the host's and the card's side — plus refusal of tampered traffic.

use es_interfaces::apdu::{CommandApdu, ResponseApdu, StatusWord};
use es_interfaces::scp03::{
    self, CardPending, HostSession, InitializeUpdateResponse, Scp03Error, SecurityLevel, StaticKeys,
};
use es_interfaces::scp80::SecretKey;
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/vectors/scp03.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("read scp03.json")).expect("json")
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("hex")
}

fn hs(v: &Value) -> Vec<u8> {
    h(v.as_str().expect("string"))
}

fn static_keys(v: &Value) -> StaticKeys {
    StaticKeys {
        enc: SecretKey::new(&hs(&v["static_keys"]["enc"])),
        mac: SecretKey::new(&hs(&v["static_keys"]["mac"])),
        dek: SecretKey::new(&[0u8; 16]),
    }
}

fn level_of(ea: &[u8]) -> SecurityLevel {
    SecurityLevel(ea[2])
}

#[test]
fn host_side_reproduces_every_session() {
    let v = vectors();
    let keys = static_keys(&v);
    let sessions = v["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    for s in sessions {
        let name = s["name"].as_str().expect("name");
        let iu =
            InitializeUpdateResponse::parse(&hs(&s["initialize_update_response"])).expect(name);
        assert_eq!(iu.to_bytes(), hs(&s["initialize_update_response"]));
        let host_challenge: [u8; 8] = hs(&s["host_challenge"]).try_into().expect("8");
        let expected_ea = hs(&s["external_authenticate"]);
        let (mut host, ea) =
            HostSession::open(&keys, host_challenge, &iu, level_of(&expected_ea)).expect(name);
        assert_eq!(
            hex::encode(ea.to_bytes().expect("ea")),
            hex::encode(&expected_ea),
            "{name}"
        );
        for pair in s["wrapped"].as_array().expect("wrapped") {
            let plain = CommandApdu::parse(&hs(&pair[0])).expect("plain");
            let wrapped = host.wrap(&plain).expect("wrap");
            assert_eq!(
                hex::encode(wrapped.to_bytes().expect("enc")),
                pair[1].as_str().expect("hex").to_lowercase(),
                "{name}: {}",
                pair[0]
            );
        }
        if let Some(r) = s.get("response_to_last") {
            let mut data = hs(&r["protected"]);
            data.extend_from_slice(&hs(&r["sw"]));
            let protected = ResponseApdu::parse(&data).expect("rapdu");
            let plain = host.unwrap(&protected).expect("unwrap");
            assert_eq!(plain.data, hs(&r["plain"]), "{name}");
            assert_eq!(plain.sw, StatusWord::OK);
        }
    }
}

#[test]
fn card_side_accepts_the_host_and_reproduces_the_response() {
    let v = vectors();
    let keys = static_keys(&v);
    for s in v["sessions"].as_array().expect("sessions") {
        let name = s["name"].as_str().expect("name");
        let iu =
            InitializeUpdateResponse::parse(&hs(&s["initialize_update_response"])).expect(name);
        let host_challenge: [u8; 8] = hs(&s["host_challenge"]).try_into().expect("8");
        let (pending, answer) = CardPending::initialize_update(
            &keys,
            iu.kvn,
            iu.key_diversification_data,
            iu.i,
            host_challenge,
            iu.card_challenge,
            iu.sequence_counter,
        )
        .expect(name);
        assert_eq!(answer, iu, "{name}: card cryptogram");
        let ea = CommandApdu::parse(&hs(&s["external_authenticate"])).expect("ea");
        let mut card = pending.external_authenticate(&ea).expect(name);
        assert_eq!(
            card.security_level(),
            level_of(&hs(&s["external_authenticate"]))
        );
        for pair in s["wrapped"].as_array().expect("wrapped") {
            let wrapped = CommandApdu::parse(&hs(&pair[1])).expect("wrapped");
            let plain = card.unwrap_command(&wrapped).expect("unwrap");
            assert_eq!(
                plain,
                CommandApdu::parse(&hs(&pair[0])).expect("plain"),
                "{name}"
            );
        }
        if let Some(r) = s.get("response_to_last") {
            let plain = ResponseApdu::new(hs(&r["plain"]), StatusWord::OK);
            let protected = card.wrap_response(&plain).expect("wrap response");
            assert_eq!(
                hex::encode(&protected.data),
                r["protected"].as_str().expect("hex")
            );
        }
    }
}

#[test]
fn pseudo_random_card_challenge_matches_the_card() {
    let v = vectors();
    let keys = static_keys(&v);
    let prc = &v["pseudo_random_card_challenge"];
    let aid = hs(&prc["sd_aid"]);
    for r in prc["initialize_update_responses"].as_array().expect("list") {
        let iu = InitializeUpdateResponse::parse(&hs(r)).expect("iu");
        assert_eq!(iu.i, 0x70);
        let counter = iu.sequence_counter.expect("i = 70 has a counter");
        assert_eq!(
            scp03::pseudo_random_card_challenge(&keys.enc, counter, &aid).expect("kdf"),
            iu.card_challenge
        );
    }
}

fn open_pair(level: u8) -> (HostSession, es_interfaces::scp03::CardSession) {
    let v = vectors();
    let keys = static_keys(&v);
    let host_challenge = [1, 2, 3, 4, 5, 6, 7, 8];
    let (pending, iu) = CardPending::initialize_update(
        &keys,
        0x30,
        [0; 10],
        0x70,
        host_challenge,
        [9; 8],
        Some([0, 0, 5]),
    )
    .expect("iu");
    let iu = InitializeUpdateResponse::parse(&iu.to_bytes()).expect("parse");
    let (host, ea) =
        HostSession::open(&keys, host_challenge, &iu, SecurityLevel(level)).expect("open");
    let card = pending.external_authenticate(&ea).expect("ea");
    (host, card)
}

#[test]
fn every_security_level_round_trips_many_commands() {
    for level in [0x01, 0x03, 0x11, 0x13, 0x33] {
        let (mut host, mut card) = open_pair(level);
        for len in [0usize, 1, 15, 16, 17, 100, 200] {
            let cmd = CommandApdu::new(0x80, 0xE2, 0x91, 0x00)
                .with_data((0..len as u8).collect())
                .with_le(0);
            let cmd = if len == 0 {
                CommandApdu::new(0x80, 0xF2, 0x20, 0x02)
            } else {
                cmd
            };
            let wrapped = host.wrap(&cmd).expect("wrap");
            assert_eq!(
                card.unwrap_command(&wrapped).expect("unwrap"),
                cmd,
                "SL {level:02x} len {len}"
            );
            let resp = ResponseApdu::new(vec![0x5A; len], StatusWord::OK);
            let protected = card.wrap_response(&resp).expect("protect");
            assert_eq!(
                host.unwrap(&protected).expect("open"),
                resp,
                "SL {level:02x} len {len}"
            );
        }
        // Error status words carry no R-MAC.
        let err = ResponseApdu::new(vec![], StatusWord::REFERENCED_DATA_NOT_FOUND);
        assert_eq!(card.wrap_response(&err).expect("err"), err);
        assert_eq!(host.unwrap(&err).expect("err"), err);
    }
    let (mut host, _) = open_pair(0x03);
    assert!(matches!(
        host.wrap(&CommandApdu::new(0x80, 0xE2, 0, 0).with_data(vec![0; 240])),
        Err(Scp03Error::DataTooLong { .. })
    ));
}

#[test]
fn tampered_traffic_and_wrong_keys_are_refused() {
    let v = vectors();
    let keys = static_keys(&v);
    let s = &v["sessions"][0];
    let iu = InitializeUpdateResponse::parse(&hs(&s["initialize_update_response"])).expect("iu");
    let hc: [u8; 8] = hs(&s["host_challenge"]).try_into().expect("8");
    let wrong = StaticKeys {
        enc: SecretKey::new(&[1; 16]),
        mac: SecretKey::new(&[2; 16]),
        dek: SecretKey::new(&[3; 16]),
    };
    assert!(matches!(
        HostSession::open(&wrong, hc, &iu, SecurityLevel(0x03)),
        Err(Scp03Error::CardCryptogramMismatch)
    ));
    assert!(matches!(
        HostSession::open(&keys, hc, &iu, SecurityLevel(0x20)),
        Err(Scp03Error::SecurityLevel(0x20))
    ));
    assert!(matches!(
        InitializeUpdateResponse::parse(&[0; 30]),
        Err(Scp03Error::ResponseLength { len: 30 })
    ));
    let mut scp02 = hs(&s["initialize_update_response"]);
    scp02[11] = 0x02;
    assert!(matches!(
        InitializeUpdateResponse::parse(&scp02),
        Err(Scp03Error::NotScp03 { scp_id: 2 })
    ));

    // The card refuses a wrong host cryptogram and a broken C-MAC.
    let pending = |k: &StaticKeys| {
        CardPending::initialize_update(
            k,
            iu.kvn,
            iu.key_diversification_data,
            iu.i,
            hc,
            iu.card_challenge,
            iu.sequence_counter,
        )
        .expect("iu")
        .0
    };
    let ea = CommandApdu::parse(&hs(&s["external_authenticate"])).expect("ea");
    let mut bad_ea = ea.clone();
    bad_ea.data[15] ^= 1;
    assert!(matches!(
        pending(&keys).external_authenticate(&bad_ea),
        Err(Scp03Error::CMacMismatch)
    ));
    assert!(matches!(
        pending(&keys).external_authenticate(&CommandApdu::new(0x80, 0x82, 3, 0)),
        Err(Scp03Error::NotExternalAuthenticate)
    ));
    let mut card = pending(&keys).external_authenticate(&ea).expect("ea");
    let first = CommandApdu::parse(&hs(&s["wrapped"][0][1])).expect("wrapped");
    let mut tampered = first.clone();
    tampered.data[0] ^= 1;
    assert!(matches!(
        card.unwrap_command(&tampered),
        Err(Scp03Error::CMacMismatch)
    ));

    // The host refuses a broken R-MAC.
    let (mut host, mut card) = open_pair(0x33);
    let cmd = CommandApdu::new(0x80, 0xCA, 0x00, 0x66).with_le(0);
    card.unwrap_command(&host.wrap(&cmd).expect("wrap"))
        .expect("unwrap");
    let mut resp = card
        .wrap_response(&ResponseApdu::new(vec![1, 2, 3], StatusWord::OK))
        .expect("protect");
    resp.data[0] ^= 1;
    assert_eq!(host.unwrap(&resp), Err(Scp03Error::RMacMismatch));
    assert_eq!(
        host.unwrap(&ResponseApdu::new(vec![1, 2], StatusWord::OK)),
        Err(Scp03Error::MissingMac("response"))
    );
    assert_eq!(
        scp03::initialize_update(0x30, hc).to_bytes().expect("iu"),
        [&[0x80, 0x50, 0x30, 0x00, 0x08][..], &hc, &[0x00]].concat()
    );
}
