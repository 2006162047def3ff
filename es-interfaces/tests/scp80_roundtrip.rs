//! SCP80 round trips for every algorithm and SPI combination, refusal of bad input (truncated, bad CC, bad
//! padding, wrong TAR, counter too low …), the counter rules of SPI b5–b4, and a whole ES5 exchange over SMS:
//! SM-SR script → SCP80 → segments → eUICC → PoR → SM-SR, and an eUICC notification the other way.

use aes::cipher::{BlockCipherEncrypt, KeyInit};
use es_interfaces::apdu::{ResponseApdu, StatusWord};
use es_interfaces::isdr::{self, Es5Command, Es5Completion};
use es_interfaces::notification::{Notification, NotificationType};
use es_interfaces::scp80::{
    self, Algorithm, CommandHeader, Counter, CounterMode, Integrity, KeySet, Kic, Kid, PorRequest,
    PorStatus, ResponsePacket, Scp80Error, SecretKey, Spi,
};
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::sms::{self, PacketKind, PushOutcome, Reassembler};
use es_interfaces::wire_profile::{self, CardProfile};

fn keys(n: usize) -> KeySet {
    KeySet {
        kic: SecretKey::new(&(0..n as u8).collect::<Vec<_>>()),
        kid: SecretKey::new(&(0..n as u8).map(|b| b ^ 0x5A).collect::<Vec<_>>()),
    }
}

fn header(spi: [u8; 2], alg: Algorithm, counter: u64) -> CommandHeader {
    CommandHeader {
        spi: Spi::from_bytes(spi).expect("spi"),
        kic: Kic::new(1, alg).expect("kic"),
        kid: Kid::new(1, alg).expect("kid"),
        tar: [0, 0, 1],
        counter: Counter::from_u64(counter).expect("counter"),
    }
}

#[test]
fn spi_bytes_round_trip_and_name_their_fields() {
    for b1 in 0..0x20u8 {
        for b2 in 0..0x40u8 {
            if b2 & 0x03 == 0x03 {
                assert!(Spi::from_bytes([b1, b2]).is_err());
                continue;
            }
            let spi = Spi::from_bytes([b1, b2]).expect("valid");
            assert_eq!(spi.to_bytes(), [b1, b2]);
        }
    }
    assert!(matches!(
        Spi::from_bytes([0x20, 0x00]),
        Err(Scp80Error::SpiReserved { .. })
    ));
    assert!(Spi::from_bytes([0x00, 0x40]).is_err());
    let es5 = Spi::from_bytes(wire_profile::ES5_COMMAND_SPI).expect("16 39");
    assert_eq!(
        es5,
        Spi {
            counter: CounterMode::Higher,
            ciphering: true,
            integrity: Integrity::CryptographicChecksum,
            por_via_submit: true,
            por_ciphered: true,
            por_integrity: Integrity::CryptographicChecksum,
            por: PorRequest::Always,
        }
    );
    let notif = Spi::from_bytes(wire_profile::NOTIFICATION_SPI).expect("16 00");
    assert_eq!(notif.por, PorRequest::None);
    assert_eq!(Kic::new(1, Algorithm::Aes).expect("kic").0, 0x12);
    assert_eq!(Kic(0x35).algorithm(), Algorithm::TripleDes2Key);
    assert_eq!(Kid(0x29).algorithm(), Algorithm::TripleDes3Key);
    assert_eq!(Kic(0x35).kvn(), 3);
    assert!(matches!(
        Kic::new(16, Algorithm::Aes),
        Err(Scp80Error::KvnOutOfRange { kvn: 16 })
    ));
}

#[test]
fn command_and_por_round_trip_for_every_algorithm() {
    for (alg, key_len) in [
        (Algorithm::Aes, 16),
        (Algorithm::Aes, 24),
        (Algorithm::Aes, 32),
        (Algorithm::TripleDes2Key, 16),
        (Algorithm::TripleDes3Key, 24),
    ] {
        let k = keys(key_len);
        for spi in [
            [0x16, 0x39],
            [0x12, 0x29],
            [0x14, 0x31],
            [0x10, 0x21],
            [0x06, 0x19],
        ] {
            for len in [0usize, 1, 7, 8, 15, 16, 17, 100] {
                let data: Vec<u8> = (0..len as u8).collect();
                let h = header(spi, alg, 42);
                let packet = scp80::build_command(&h, &k, &data).expect("build");
                let opened = scp80::parse_command(&packet)
                    .and_then(|p| p.open(&k))
                    .expect("open");
                assert_eq!(
                    (opened.header, &opened.data),
                    (h, &data),
                    "{alg:?} {spi:02x?} {len}"
                );
                let por = ResponsePacket {
                    tar: h.tar,
                    counter: h.counter,
                    status: PorStatus::Ok,
                    data: data.clone(),
                };
                let p = scp80::build_por(&h.spi, h.kic, h.kid, &k, &por).expect("PoR");
                let back = scp80::open_por(&p, &h.spi, h.kic, h.kid, &k, h.tar).expect("open PoR");
                assert_eq!(back, por, "{alg:?} {spi:02x?} {len}");
            }
        }
    }
}

#[test]
fn tampered_or_malformed_commands_are_refused() {
    let k = keys(16);
    let h = header(wire_profile::ES5_COMMAND_SPI, Algorithm::Aes, 7);
    let packet = scp80::build_command(&h, &k, b"\xAA\x03\x22\x01\x00").expect("build");

    for i in [10, 20, packet.len() - 1] {
        let mut bad = packet.clone();
        bad[i] ^= 0x01;
        let err = scp80::parse_command(&bad)
            .and_then(|p| p.open(&k))
            .expect_err("tampered");
        assert_eq!(err, Scp80Error::CcMismatch, "byte {i}");
        assert_eq!(err.por_status(), PorStatus::CcFailed);
    }
    // A header byte (KIc/KID/TAR) is covered by the CC too.
    let mut bad = packet.clone();
    bad[7] ^= 0x01;
    assert_eq!(
        scp80::parse_command(&bad).and_then(|p| p.open(&k)),
        Err(Scp80Error::CcMismatch)
    );
    // Wrong key.
    assert_eq!(
        scp80::parse_command(&packet).and_then(|p| p.open(&keys(32))),
        Err(Scp80Error::CcMismatch)
    );
    // Truncated: CPL no longer matches; header cut short.
    assert!(matches!(
        scp80::parse_command(&packet[..packet.len() - 1]),
        Err(Scp80Error::LengthMismatch { field: "CPL", .. })
    ));
    assert!(matches!(
        scp80::parse_command(&[0x00, 0x03, 0x15, 0x16, 0x39]),
        Err(Scp80Error::Truncated { .. })
    ));
    assert!(matches!(
        scp80::parse_command(&[0x00]),
        Err(Scp80Error::Truncated { .. })
    ));
    // CHL that does not match the SPI.
    let mut bad = packet.clone();
    bad[2] = 0x0D;
    assert!(matches!(
        scp80::parse_command(&bad),
        Err(Scp80Error::HeaderLength {
            field: "CHL",
            declared: 13,
            expected: 21
        })
    ));
    // Ciphered part not block aligned (one byte cut, CPL adjusted).
    let mut bad = packet[..packet.len() - 1].to_vec();
    let cpl = (bad.len() - 2) as u16;
    bad[..2].copy_from_slice(&cpl.to_be_bytes());
    let err = scp80::parse_command(&bad)
        .and_then(|p| p.open(&k))
        .expect_err("misaligned");
    assert!(matches!(err, Scp80Error::NotBlockAligned { block: 16, .. }));
    assert_eq!(err.por_status(), PorStatus::CipheringError);
    // Unsupported algorithms and key lengths are refused, not guessed.
    let des = header([0x16, 0x39], Algorithm::DesCbc, 1);
    assert!(matches!(
        scp80::build_command(&des, &keys(8), b"x"),
        Err(Scp80Error::UnsupportedAlgorithm { field: "KIc", .. })
    ));
    let rc = header([0x11, 0x00], Algorithm::Aes, 1);
    assert!(matches!(
        scp80::build_command(&rc, &k, b"x"),
        Err(Scp80Error::UnsupportedAlgorithm {
            what: "redundancy check",
            ..
        })
    ));
    assert_eq!(
        scp80::build_command(&h, &keys(5), b"x"),
        Err(Scp80Error::KeyLength { field: "KIc" })
    );
    assert!(matches!(
        scp80::build_command(&h, &k, &vec![0; 65530]),
        Err(Scp80Error::TooLong { .. })
    ));
}

/// AES-CBC zero IV with the `aes` crate, to forge packets our encoder would never produce.
fn aes_cbc(key: &[u8], data: &mut [u8]) {
    let c = aes::Aes128::new_from_slice(key).expect("key");
    let mut prev = [0u8; 16];
    for chunk in data.chunks_mut(16) {
        for (b, p) in chunk.iter_mut().zip(prev) {
            *b ^= p;
        }
        let mut block = aes::Block::try_from(&*chunk).expect("block");
        c.encrypt_block(&mut block);
        chunk.copy_from_slice(&block);
        prev.copy_from_slice(&block);
    }
}

/// A ciphered command with CC whose PCNTR and padding bytes are chosen by the test.
fn forged(k: &KeySet, data: &[u8], pcntr: u8, pad: &[u8]) -> Vec<u8> {
    let len = 5 + 1 + 8 + data.len() + pad.len();
    let cpl = (1 + 21 + data.len() + pad.len()) as u16;
    let mut clear = cpl.to_be_bytes().to_vec();
    clear.extend_from_slice(&[0x15, 0x16, 0x39, 0x12, 0x12, 0, 0, 1]);
    clear.extend_from_slice(&[0, 0, 0, 0, 9, pcntr]);
    let mut mac_input = clear.clone();
    mac_input.extend_from_slice(data);
    mac_input.extend_from_slice(pad);
    let cc = certs::kdf::aes_cmac(k.kid.expose(), &mac_input).expect("cmac");
    let mut secured = clear[10..].to_vec();
    secured.extend_from_slice(&cc[..8]);
    secured.extend_from_slice(data);
    secured.extend_from_slice(pad);
    assert_eq!(secured.len(), len);
    aes_cbc(k.kic.expose(), &mut secured);
    let mut packet = clear[..10].to_vec();
    packet.extend_from_slice(&secured);
    packet
}

#[test]
fn bad_padding_is_refused_even_with_a_valid_cc() {
    let k = keys(16);
    // data 1 byte: 5+1+8+1 = 15 → one pad byte.
    let good = forged(&k, &[0xAB], 1, &[0]);
    let opened = scp80::parse_command(&good)
        .and_then(|p| p.open(&k))
        .expect("forged but valid");
    assert_eq!(opened.data, vec![0xAB]);
    // PCNTR claims more padding than the data holds.
    let err = scp80::parse_command(&forged(&k, &[0xAB], 15, &[0]))
        .and_then(|p| p.open(&k))
        .expect_err("pcntr too big");
    assert_eq!(err, Scp80Error::BadPadding { pcntr: 15 });
    assert_eq!(err.por_status(), PorStatus::CipheringError);
    // PCNTR ≥ block size.
    assert_eq!(
        scp80::parse_command(&forged(&k, &[0xAB; 2], 16, &[0; 16]))
            .and_then(|p| p.open(&k))
            .map(|o| o.data),
        Err(Scp80Error::BadPadding { pcntr: 16 })
    );
    // Padding bytes that are not zero.
    assert_eq!(
        scp80::parse_command(&forged(&k, &[0xAB], 1, &[0x80]))
            .and_then(|p| p.open(&k))
            .map(|o| o.data),
        Err(Scp80Error::BadPadding { pcntr: 1 })
    );
}

#[test]
fn por_with_wrong_tar_bad_cc_or_unknown_status_is_refused() {
    let k = keys(16);
    let h = header(wire_profile::ES5_COMMAND_SPI, Algorithm::Aes, 3);
    let por = ResponsePacket {
        tar: h.tar,
        counter: h.counter,
        status: PorStatus::CounterLow,
        data: vec![],
    };
    let p = scp80::build_por(&h.spi, h.kic, h.kid, &k, &por).expect("PoR");
    assert_eq!(
        scp80::open_por(&p, &h.spi, h.kic, h.kid, &k, [0, 0, 2]),
        Err(Scp80Error::TarMismatch {
            expected: [0, 0, 2],
            found: [0, 0, 1]
        })
    );
    let mut bad = p.clone();
    *bad.last_mut().expect("byte") ^= 0x40;
    assert_eq!(
        scp80::open_por(&bad, &h.spi, h.kic, h.kid, &k, h.tar),
        Err(Scp80Error::CcMismatch)
    );
    assert!(matches!(
        scp80::open_por(&p[..p.len() - 2], &h.spi, h.kic, h.kid, &k, h.tar),
        Err(Scp80Error::LengthMismatch { field: "RPL", .. })
    ));
    assert_eq!(
        scp80::open_por(&p, &h.spi, h.kic, h.kid, &k, h.tar).map(|r| r.status),
        Ok(PorStatus::CounterLow)
    );
    // Not-ciphered PoR with CC and a status byte outside Table 5.
    let plain = Spi::from_bytes([0x12, 0x29]).expect("spi");
    let mut forged = ResponsePacket {
        tar: h.tar,
        counter: h.counter,
        status: PorStatus::Ok,
        data: vec![],
    };
    forged.status = PorStatus::MoreTime;
    let mut p = scp80::build_por(&plain, h.kic, h.kid, &k, &forged).expect("PoR");
    p[12] = 0x0D;
    assert_eq!(
        scp80::open_por(&p, &plain, h.kic, h.kid, &k, h.tar),
        Err(Scp80Error::CcMismatch)
    );
    assert!(PorStatus::from_byte(0x0D).is_err());
    for b in 0..=0x0C {
        assert_eq!(PorStatus::from_byte(b).expect("status").to_byte(), b);
    }
}

#[test]
fn counter_rules_of_spi_b5_b4() {
    let c = |v| Counter::from_u64(v).expect("counter");
    assert_eq!(
        scp80::check_counter(CounterMode::None, c(1), c(9)),
        Ok(None)
    );
    assert_eq!(
        scp80::check_counter(CounterMode::Available, c(1), c(9)),
        Ok(None)
    );
    assert_eq!(
        scp80::check_counter(CounterMode::Higher, c(10), c(9)),
        Ok(Some(c(10)))
    );
    assert_eq!(
        scp80::check_counter(CounterMode::Higher, c(99), c(9)),
        Ok(Some(c(99)))
    );
    assert_eq!(
        scp80::check_counter(CounterMode::Higher, c(9), c(9)),
        Err(PorStatus::CounterLow)
    );
    assert_eq!(
        scp80::check_counter(CounterMode::Higher, c(3), c(9)),
        Err(PorStatus::CounterLow)
    );
    assert_eq!(
        scp80::check_counter(CounterMode::OneHigher, c(10), c(9)),
        Ok(Some(c(10)))
    );
    assert_eq!(
        scp80::check_counter(CounterMode::OneHigher, c(11), c(9)),
        Err(PorStatus::CounterHigh)
    );
    assert_eq!(
        scp80::check_counter(CounterMode::OneHigher, c(9), c(9)),
        Err(PorStatus::CounterLow)
    );
    assert_eq!(
        scp80::check_counter(CounterMode::Higher, Counter::MAX, Counter::MAX),
        Err(PorStatus::CounterBlocked)
    );
    assert_eq!(Counter::MAX.next(), None);
    assert_eq!(c(0xFF).next(), Some(c(0x100)));
    assert_eq!(c(0x01_0203_0405).0, [1, 2, 3, 4, 5]);
    assert_eq!(Counter::from_u64(1 << 40), None);
}

#[test]
fn keys_never_show_in_debug_output() {
    let k = keys(16);
    let dbg = format!("{k:?}");
    assert_eq!(
        dbg,
        "KeySet { kic: SecretKey([redacted]), kid: SecretKey([redacted]) }"
    );
}

/// The eUICC simulator's side of one ES5 exchange: reassemble, open, check the counter, run the script.
fn euicc_handles(
    reassembler: &mut Reassembler<&'static str>,
    tp_uds: &[Vec<u8>],
    k: &KeySet,
    stored_counter: &mut Counter,
) -> Vec<Vec<u8>> {
    let mut assembled = None;
    for ud in tp_uds.iter().rev() {
        match reassembler.push("smsr", ud).expect("push") {
            PushOutcome::Complete(a) => assembled = Some(a),
            PushOutcome::Pending { .. } => {}
            PushOutcome::Duplicate { .. } => panic!("no duplicates sent"),
        }
    }
    let assembled = assembled.expect("complete");
    assert_eq!(assembled.kind, PacketKind::Command);
    let packet = scp80::parse_command(&assembled.packet).expect("header");
    assert_eq!(packet.tar, [0, 0, 1]);
    let opened = packet.open(k).expect("open");
    let status =
        match scp80::check_counter(packet.spi.counter, opened.header.counter, *stored_counter) {
            Ok(Some(next)) => {
                *stored_counter = next;
                PorStatus::Ok
            }
            Ok(None) => PorStatus::Ok,
            Err(status) => status,
        };
    let data = if status == PorStatus::Ok {
        let script = CommandScript::parse_expanded(&opened.data).expect("script");
        let responses = script
            .commands
            .iter()
            .map(|c| match Es5Command::from_apdu(c).expect("ES5 command") {
                Es5Command::HandleNotificationConfirmation { .. } => ResponseApdu::new(
                    isdr::encode_notification_confirmation_response(&[]).expect("resp"),
                    StatusWord::OK,
                ),
                Es5Command::EnableProfile { .. } => ResponseApdu::new(vec![], StatusWord::OK),
                _ => ResponseApdu::new(vec![], StatusWord::CONDITIONS_NOT_SATISFIED),
            })
            .collect();
        ResponseScript::new(responses)
            .and_then(|r| r.to_expanded())
            .expect("response script")
    } else {
        Vec::new()
    };
    let por = ResponsePacket {
        tar: packet.tar,
        counter: opened.header.counter,
        status,
        data,
    };
    let por = scp80::build_por(&packet.spi, packet.kic, packet.kid, k, &por).expect("PoR");
    sms::to_tp_uds(PacketKind::Response, &por, 0x11).expect("PoR SMS")
}

#[test]
fn es5_exchange_over_concatenated_sms_end_to_end() {
    let k = keys(16);
    let profile = CardProfile::default();
    let aid = wire_profile::isd_p_aid(0).expect("aid");
    // Enough commands to need three SMS.
    let mut commands = vec![
        Es5Command::EnableProfile {
            isd_p_aid: aid.to_vec(),
        }
        .to_apdu(&profile)
        .expect("enable"),
    ];
    for seq in 0..20 {
        commands.push(
            Es5Command::HandleNotificationConfirmation { sequence: seq }
                .to_apdu(&profile)
                .expect("hnc"),
        );
    }
    let script = CommandScript::new(commands).to_expanded().expect("script");
    let spi = Spi::from_bytes(profile.command_spi).expect("spi");
    let kvn_byte = wire_profile::aes_kic_kid(1).expect("kic");
    let send = |counter: u64| {
        let h = CommandHeader {
            spi,
            kic: Kic(kvn_byte),
            kid: Kid(kvn_byte),
            tar: wire_profile::default_tar(&wire_profile::ISD_R_AID).expect("tar"),
            counter: Counter::from_u64(counter).expect("counter"),
        };
        let packet = scp80::build_command(&h, &k, &script).expect("secure");
        (
            h,
            sms::to_tp_uds(PacketKind::Command, &packet, 0x42).expect("segments"),
        )
    };

    let mut card_counter = Counter::from_u64(4).expect("c");
    let mut card_reassembler = Reassembler::new(16, 8);
    let (h, tp_uds) = send(5);
    assert_eq!(tp_uds.len(), 3);
    let por_uds = euicc_handles(&mut card_reassembler, &tp_uds, &k, &mut card_counter);
    assert_eq!(card_counter, Counter::from_u64(5).expect("c"));

    // The SM-SR reassembles the PoR (mobile-originated) and reads the response script.
    let mut smsr: Reassembler<&str> = Reassembler::new(16, 8);
    let mut por_packet = None;
    for ud in &por_uds {
        if let PushOutcome::Complete(a) = smsr.push("msisdn", ud).expect("push") {
            assert_eq!(a.kind, PacketKind::Response);
            por_packet = Some(a.packet);
        }
    }
    let por = scp80::open_por(&por_packet.expect("PoR"), &h.spi, h.kic, h.kid, &k, h.tar)
        .expect("open PoR");
    assert_eq!((por.status, por.counter), (PorStatus::Ok, h.counter));
    let responses = ResponseScript::parse_expanded(&por.data).expect("response script");
    assert_eq!(responses.executed, 21);
    for r in &responses.responses {
        assert_eq!(
            isdr::interpret(isdr::Es5Function::EnableProfile, r),
            Ok(Es5Completion::Done)
        );
    }

    // Replaying the same counter: the card answers "counter low" and runs nothing.
    let (h, replay) = send(5);
    let por_uds = euicc_handles(&mut card_reassembler, &replay, &k, &mut card_counter);
    let por_packet: Vec<u8> = por_uds
        .iter()
        .map(|u| sms::Segment::parse(u).expect("seg").payload)
        .next()
        .expect("single PoR");
    let por = scp80::open_por(&por_packet, &h.spi, h.kic, h.kid, &k, h.tar).expect("PoR");
    assert_eq!(por.status, PorStatus::CounterLow);
    assert!(por.data.is_empty());
}

#[test]
fn euicc_notification_from_simulator_to_smsr() {
    let k = keys(16);
    let eid: [u8; 16] = core::array::from_fn(|i| 0x89 ^ i as u8);
    let n = Notification {
        eid,
        kind: NotificationType::FirstAttach,
        isd_p_aid: wire_profile::isd_p_aid(0).expect("aid").to_vec(),
        imei: None,
        meid: None,
        sequence: 1,
    };
    let h = CommandHeader {
        spi: Spi::from_bytes(wire_profile::NOTIFICATION_SPI).expect("spi"),
        kic: Kic(0x12),
        kid: Kid(0x12),
        tar: [0, 0, 1],
        counter: Counter::from_u64(8).expect("c"),
    };
    let packet =
        scp80::build_command(&h, &k, &n.to_bytes().expect("notification")).expect("secure");
    let uds = sms::to_tp_uds(PacketKind::Command, &packet, 0).expect("sms");
    assert_eq!(&uds[0][..3], &[0x02, 0x70, 0x00]);

    let mut smsr: Reassembler<&str> = Reassembler::new(4, 4);
    let PushOutcome::Complete(a) = smsr.push("eid-msisdn", &uds[0]).expect("push") else {
        panic!("single SMS is complete");
    };
    let opened = scp80::parse_command(&a.packet)
        .and_then(|p| p.open(&k))
        .expect("open");
    assert_eq!(opened.header.spi.por, PorRequest::None);
    let stored = Counter::from_u64(7).expect("c");
    assert_eq!(
        scp80::check_counter(opened.header.spi.counter, opened.header.counter, stored),
        Ok(Some(opened.header.counter))
    );
    assert_eq!(
        scp80::check_counter(
            opened.header.spi.counter,
            opened.header.counter,
            opened.header.counter
        ),
        Err(PorStatus::CounterLow)
    );
    assert_eq!(Notification::parse(&opened.data).expect("parse"), n);
}
