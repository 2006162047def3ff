//! SMPP 3.4 codec: PDUs against byte strings computed by hand from the layouts of SMPP 3.4 §3.2 and §4, round
//! trips for every PDU and TLV, decoder errors (never panics), the frame decoder and Appendix B receipts.

use es_interfaces::smpp::{
    Bind, BindResp, CommandId, CommandStatus, DeliverSmResp, DeliveryReceipt, EsmClass,
    FrameDecoder, MessageState, Outbind, Password, Pdu, PduBody, PduError, PduHeader, ReceiptStat,
    SmBody, SubmitSmResp, Tlv,
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("test hex")
}

fn check(pdu: &Pdu, hex_bytes: &str) {
    let bytes = h(hex_bytes);
    assert_eq!(
        hex::encode(pdu.encode().expect("encode")),
        hex::encode(&bytes),
        "{}",
        pdu.command_id()
    );
    assert_eq!(&Pdu::decode(&bytes).expect("decode"), pdu);
}

fn scp80_submit() -> SmBody {
    SmBody {
        source_addr_ton: 1,
        source_addr_npi: 1,
        source_addr: "12345".into(),
        dest_addr_ton: 1,
        dest_addr_npi: 1,
        destination_addr: "491701234567".into(),
        esm_class: EsmClass(0x40),
        protocol_id: 0x7F,
        registered_delivery: 1,
        data_coding: 0xF6,
        short_message: vec![0x02, 0x70, 0x00, 0x01, 0x02, 0x03],
        ..SmBody::default()
    }
}

// --- hand-computed byte strings (SMPP 3.4 §3.2 header: length, id, status, sequence; §4 bodies) ---

#[test]
fn enquire_link_and_unbind_are_header_only() {
    check(
        &Pdu::new(1, PduBody::EnquireLink),
        "00000010 00000015 00000000 00000001",
    );
    check(
        &Pdu::new(1, PduBody::EnquireLinkResp),
        "00000010 80000015 00000000 00000001",
    );
    check(
        &Pdu::new(5, PduBody::Unbind),
        "00000010 00000006 00000000 00000005",
    );
    check(
        &Pdu::new(5, PduBody::UnbindResp),
        "00000010 80000006 00000000 00000005",
    );
    check(
        &Pdu::generic_nack(7, CommandStatus::ESME_RINVCMDLEN),
        "00000010 80000000 00000002 00000007",
    );
}

#[test]
fn bind_transceiver_with_interface_version_0x34() {
    // system_id "smsr\0", password "secret\0", system_type "\0", interface_version 34, ton 01, npi 01,
    // address_range "\0": 17 octets of body, 33 = 0x21 in all.
    let bind = Bind {
        system_id: "smsr".into(),
        password: Password::new("secret"),
        system_type: String::new(),
        interface_version: 0x34,
        addr_ton: 1,
        addr_npi: 1,
        address_range: String::new(),
    };
    check(
        &Pdu::new(1, PduBody::BindTransceiver(bind)),
        "00000021 00000009 00000000 00000001 736d737200 73656372657400 00 34 01 01 00",
    );
}

#[test]
fn submit_sm_per_wire_profile_section_2() {
    // service_type "\0"; 01 01 "12345\0"; 01 01 "491701234567\0"; esm_class 40, protocol_id 7F, priority 00;
    // schedule "\0", validity "\0"; registered_delivery 01, replace 00, data_coding F6, default_msg_id 00;
    // sm_length 06; TP-UD 027000010203. Body 40 octets, 56 = 0x38 in all.
    check(
        &Pdu::new(2, PduBody::SubmitSm(Box::new(scp80_submit()))),
        "00000038 00000004 00000000 00000002 00 0101 313233343500 0101 34393137303132333435363700 \
         40 7f 00 00 00 01 00 f6 00 06 027000010203",
    );
}

#[test]
fn submit_sm_resp_ok_and_throttled() {
    check(
        &Pdu::new(
            2,
            PduBody::SubmitSmResp(SubmitSmResp {
                message_id: "ABC123".into(),
                tlvs: vec![],
            }),
        ),
        "00000017 80000004 00000000 00000002 41424331323300",
    );
    // §4.4.2: no body when command_status is not zero.
    let throttled = Pdu::new(3, PduBody::SubmitSm(Box::new(scp80_submit())))
        .error_response(CommandStatus::ESME_RTHROTTLED);
    check(&throttled, "00000010 80000004 00000058 00000003");
    // A body sent anyway with an error status is accepted.
    let with_body = Pdu::decode(&h("00000011 80000004 00000014 00000003 00")).expect("decode");
    assert_eq!(with_body.command_status, CommandStatus::ESME_RMSGQFUL);
    assert!(with_body.command_status.is_throttling());
}

#[test]
fn deliver_sm_receipt_with_tlvs() {
    // esm_class 04; short_message "id:1 stat:DELIVRD" (17 = 0x11 octets); TLVs 001E 0002 "1\0", 0427 0001 02.
    // Body: 1 + 3 + 3 + 3 + 1 + 1 + 4 + 1 + 17 + 6 + 5 = 45, 61 = 0x3D in all.
    let receipt = SmBody {
        esm_class: EsmClass(EsmClass::SMSC_DELIVERY_RECEIPT),
        short_message: b"id:1 stat:DELIVRD".to_vec(),
        tlvs: vec![
            Tlv::ReceiptedMessageId("1".into()),
            Tlv::MessageState(MessageState::Delivered),
        ],
        ..SmBody::default()
    };
    check(
        &Pdu::new(4, PduBody::DeliverSm(Box::new(receipt.clone()))),
        "0000003d 00000005 00000000 00000004 00 000000 000000 04 00 00 00 00 00 00 00 00 11 \
         69643a3120737461743a44454c49565244 001e 0002 3100 0427 0001 02",
    );
    assert!(receipt.esm_class.is_receipt());
    assert_eq!(receipt.receipted_message_id(), Some("1"));
    assert_eq!(receipt.message_state(), Some(MessageState::Delivered));
}

#[test]
fn outbind_and_deliver_sm_resp() {
    check(
        &Pdu::new(
            9,
            PduBody::Outbind(Outbind {
                system_id: "S".into(),
                password: Password::new("p"),
            }),
        ),
        "00000014 0000000b 00000000 00000009 5300 7000",
    );
    check(
        &Pdu::new(4, PduBody::DeliverSmResp(DeliverSmResp::default())),
        "00000011 80000005 00000000 00000004 00",
    );
}

#[test]
fn esm_class_default_is_zero_and_udhi_is_exactly_0x40() {
    // The rusmpp 0.4.0 defect (EsmClass::default() encodes as 0x08) must not exist here.
    let mut body = scp80_submit();
    body.esm_class = EsmClass::default();
    let bytes = Pdu::new(1, PduBody::SubmitSm(Box::new(body.clone())))
        .encode()
        .expect("encode");
    // esm_class sits after service_type(1) + 2 + "12345\0"(6) + 2 + "491701234567\0"(13) = offset 16 + 24.
    assert_eq!(bytes[16 + 24], 0x00);
    body.esm_class = EsmClass::from(EsmClass::UDHI);
    let bytes = Pdu::new(1, PduBody::SubmitSm(Box::new(body)))
        .encode()
        .expect("encode");
    assert_eq!(bytes[16 + 24], 0x40);
    assert!(EsmClass(0x40).udhi());
    assert!(!EsmClass(0x40).is_receipt());
    assert_eq!(
        EsmClass(0x44).message_type(),
        EsmClass::SMSC_DELIVERY_RECEIPT
    );
}

// --- round trips ---

fn every_pdu() -> Vec<Pdu> {
    let bind = Bind {
        system_id: "123456789012345".into(),
        password: Password::new("12345678"),
        system_type: "123456789012".into(),
        interface_version: 0x34,
        addr_ton: 1,
        addr_npi: 1,
        address_range: "a".repeat(40),
    };
    let bind_resp = BindResp {
        system_id: "SMSC".into(),
        tlvs: vec![Tlv::ScInterfaceVersion(0x34)],
    };
    let mut full = scp80_submit();
    full.service_type = "CMT".into();
    full.source_addr = "1".repeat(20);
    full.destination_addr = "2".repeat(20);
    full.priority_flag = 1;
    full.schedule_delivery_time = "250101120000004+".into();
    full.validity_period = "000002000000000R".into();
    full.replace_if_present_flag = 1;
    full.sm_default_msg_id = 3;
    full.short_message = (0..=253u8).collect();
    full.tlvs = vec![
        Tlv::SarMsgRefNum(0xBEEF),
        Tlv::SarTotalSegments(3),
        Tlv::SarSegmentSeqnum(2),
        Tlv::NetworkErrorCode {
            network_type: 3,
            error_code: 0x0102,
        },
        Tlv::ReceiptedMessageId("m".repeat(64)),
        Tlv::MessageState(MessageState::Other(9)),
        Tlv::Other {
            tag: 0x1401,
            value: vec![1, 2, 3],
        },
        Tlv::Other {
            tag: 0x0005,
            value: vec![],
        },
    ];
    let mut payload = scp80_submit();
    payload.short_message.clear();
    payload.tlvs = vec![Tlv::MessagePayload((0..2000).map(|i| i as u8).collect())];
    vec![
        Pdu::generic_nack(1, CommandStatus::ESME_RINVCMDID),
        Pdu::new(2, PduBody::BindReceiver(bind.clone())),
        Pdu::new(3, PduBody::BindReceiverResp(bind_resp.clone())),
        Pdu::new(4, PduBody::BindTransmitter(bind.clone())),
        Pdu::new(5, PduBody::BindTransmitterResp(bind_resp.clone())),
        Pdu::new(6, PduBody::BindTransceiver(bind)),
        Pdu::new(7, PduBody::BindTransceiverResp(bind_resp)),
        Pdu::new(
            8,
            PduBody::Outbind(Outbind {
                system_id: "SMSC".into(),
                password: Password::new("pw"),
            }),
        ),
        Pdu::new(9, PduBody::Unbind),
        Pdu::new(10, PduBody::UnbindResp),
        Pdu::new(11, PduBody::SubmitSm(Box::new(full.clone()))),
        Pdu::new(12, PduBody::SubmitSm(Box::new(payload))),
        Pdu::new(
            13,
            PduBody::SubmitSmResp(SubmitSmResp {
                message_id: "x".repeat(64),
                tlvs: vec![],
            }),
        ),
        Pdu::new(14, PduBody::DeliverSm(Box::new(full))),
        Pdu::new(15, PduBody::DeliverSmResp(DeliverSmResp::default())),
        Pdu::new(16, PduBody::EnquireLink),
        Pdu::new(0x7FFF_FFFF, PduBody::EnquireLinkResp),
        Pdu {
            command_status: CommandStatus::Other(0x0400),
            sequence_number: 17,
            body: PduBody::BindTransceiverResp(BindResp::default()),
        },
    ]
}

#[test]
fn every_pdu_round_trips_and_its_length_field_is_its_size() {
    for pdu in every_pdu() {
        let bytes = pdu.encode().expect("encode");
        let header = PduHeader::parse(&bytes).expect("header");
        assert_eq!(header.command_length as usize, bytes.len());
        assert_eq!(header.command_id, pdu.command_id().as_u32());
        assert_eq!(header.command_status, pdu.command_status.as_u32());
        assert_eq!(header.sequence_number, pdu.sequence_number);
        assert_eq!(
            Pdu::decode(&bytes).expect("decode"),
            pdu,
            "{}",
            pdu.command_id()
        );
    }
}

#[test]
fn command_ids_and_statuses_round_trip() {
    for pdu in every_pdu() {
        let id = pdu.command_id();
        assert_eq!(CommandId::from_u32(id.as_u32()), Some(id));
        assert_eq!(
            id.is_response(),
            id.name().ends_with("_resp") || id == CommandId::GenericNack
        );
    }
    for v in 0..0x200u32 {
        assert_eq!(CommandStatus::from_u32(v).as_u32(), v);
    }
    assert_eq!(
        CommandStatus::from_u32(0x58),
        CommandStatus::ESME_RTHROTTLED
    );
    assert_eq!(CommandStatus::from_u32(0x14), CommandStatus::ESME_RMSGQFUL);
    assert_eq!(
        CommandStatus::from_u32(0x04),
        CommandStatus::ESME_RINVBNDSTS
    );
    assert_eq!(CommandStatus::ESME_RTHROTTLED.name(), "ESME_RTHROTTLED");
    assert_eq!(
        CommandId::from_u32(0x0000_0103),
        None,
        "data_sm is not implemented"
    );
}

#[test]
fn error_response_matches_request() {
    let req = Pdu::new(42, PduBody::SubmitSm(Box::new(scp80_submit())));
    let resp = req.error_response(CommandStatus::ESME_RINVBNDSTS);
    assert_eq!(resp.command_id(), CommandId::SubmitSmResp);
    assert_eq!(resp.sequence_number, 42);
    let nack = Pdu::new(43, PduBody::Outbind(Outbind::default()))
        .error_response(CommandStatus::ESME_RINVCMDID);
    assert_eq!(nack.command_id(), CommandId::GenericNack);
}

#[test]
fn password_is_redacted_in_debug() {
    let bind = Bind {
        system_id: "smsr".into(),
        password: Password::new("hunter2"),
        ..Bind::default()
    };
    let text = format!("{:?}", Pdu::new(1, PduBody::BindTransceiver(bind)));
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("[redacted]"));
    assert!(Password::new("abc").matches("abc"));
    assert!(!Password::new("abc").matches("abd"));
    assert!(!Password::new("abc").matches("abcd"));
}

// --- encoder refuses what the specification does not allow ---

#[test]
fn encoder_enforces_field_limits() {
    let too_long_id = Bind {
        system_id: "x".repeat(16),
        ..Bind::default()
    };
    let err = Pdu::new(1, PduBody::BindTransceiver(too_long_id))
        .encode()
        .unwrap_err();
    assert_eq!(
        err,
        PduError::TooLong {
            command: "bind_transceiver",
            field: "system_id",
            len: 17,
            max: 16
        }
    );
    let too_long_pw = Bind {
        password: Password::new("123456789"),
        ..Bind::default()
    };
    assert!(matches!(
        Pdu::new(1, PduBody::BindTransmitter(too_long_pw)).encode(),
        Err(PduError::TooLong {
            field: "password",
            ..
        })
    ));

    let mut sm = scp80_submit();
    sm.short_message = vec![0; 255];
    assert!(matches!(
        Pdu::new(1, PduBody::SubmitSm(Box::new(sm))).encode(),
        Err(PduError::TooLong {
            field: "short_message",
            len: 255,
            max: 254,
            ..
        })
    ));
    let mut sm = scp80_submit();
    sm.short_message = vec![0; 254];
    assert!(
        Pdu::new(1, PduBody::SubmitSm(Box::new(sm)))
            .encode()
            .is_ok()
    );

    let mut sm = scp80_submit();
    sm.validity_period = "12345".into();
    assert!(matches!(
        Pdu::new(1, PduBody::SubmitSm(Box::new(sm))).encode(),
        Err(PduError::InvalidTime {
            field: "validity_period",
            len: 5,
            ..
        })
    ));
    let mut sm = scp80_submit();
    sm.destination_addr = "49\u{0}1".into();
    assert!(matches!(
        Pdu::new(1, PduBody::SubmitSm(Box::new(sm))).encode(),
        Err(PduError::ContainsNul {
            field: "destination_addr",
            ..
        })
    ));
    let mut sm = scp80_submit();
    sm.source_addr = "Grüße".into();
    assert!(matches!(
        Pdu::new(1, PduBody::SubmitSm(Box::new(sm))).encode(),
        Err(PduError::NotAscii {
            field: "source_addr",
            ..
        })
    ));
    let mut sm = scp80_submit();
    sm.tlvs = vec![Tlv::MessagePayload(vec![0; 65_536])];
    assert!(matches!(
        Pdu::new(1, PduBody::SubmitSm(Box::new(sm))).encode(),
        Err(PduError::TooLong {
            field: "TLV value",
            ..
        })
    ));

    // A failed encode_into leaves the buffer as it was.
    let mut out = vec![0xAA];
    let mut sm = scp80_submit();
    sm.short_message = vec![0; 300];
    assert!(
        Pdu::new(1, PduBody::SubmitSm(Box::new(sm)))
            .encode_into(&mut out)
            .is_err()
    );
    assert_eq!(out, vec![0xAA]);
}

// --- decoder errors: typed, with the field and offset, never a panic ---

#[test]
fn decoder_reports_malformed_pdus() {
    assert!(matches!(
        Pdu::decode(&h("00000010 00000015 00000000")),
        Err(PduError::UnexpectedEnd {
            field: "header",
            ..
        })
    ));
    assert_eq!(
        Pdu::decode(&h("00000011 00000015 00000000 00000001")).unwrap_err(),
        PduError::FrameLength {
            length: 17,
            actual: 16
        }
    );
    assert_eq!(
        Pdu::decode(&h("00000010 00000103 00000000 0000002a")).unwrap_err(),
        PduError::UnknownCommandId {
            command_id: 0x103,
            sequence_number: 42
        }
    );
    assert_eq!(
        Pdu::decode(&h("00000011 00000015 00000000 00000001 00")).unwrap_err(),
        PduError::TrailingOctets {
            command: "enquire_link",
            extra: 1,
            offset: 16
        }
    );
    // system_id of 16 characters without NUL within its 16-octet maximum.
    assert_eq!(
        Pdu::decode(&h(
            "00000027 00000009 00000000 00000001 78787878787878787878787878787878 00 00 00 34 00 00 00"
        ))
        .unwrap_err(),
        PduError::Unterminated {
            command: "bind_transceiver",
            field: "system_id",
            offset: 16,
            max: 16
        }
    );
    assert!(matches!(
        Pdu::decode(&h("00000016 00000009 00000000 00000001 c3a900 00 00 34")),
        Err(PduError::NotAscii {
            field: "system_id",
            offset: 16,
            ..
        })
    ));
    // bind cut after interface_version.
    assert_eq!(
        Pdu::decode(&h("00000014 00000009 00000000 00000001 00 00 00 34")).unwrap_err(),
        PduError::UnexpectedEnd {
            command: "bind_transceiver",
            field: "addr_ton",
            offset: 20
        }
    );
    // submit_sm whose sm_length (0x10) runs past the end.
    let mut bytes = Pdu::new(2, PduBody::SubmitSm(Box::new(scp80_submit())))
        .encode()
        .expect("encode");
    bytes[16 + 33] = 0x10;
    assert_eq!(
        Pdu::decode(&bytes).unwrap_err(),
        PduError::UnexpectedEnd {
            command: "submit_sm",
            field: "short_message",
            offset: 16 + 34
        }
    );
    // sm_length 255 is beyond the 254 of §4.4.1.
    bytes[16 + 33] = 0xFF;
    let err = Pdu::decode(&bytes).unwrap_err();
    assert!(matches!(
        err,
        PduError::TooLong {
            field: "short_message",
            len: 255,
            ..
        }
    ));
    // The status a peer answers with (generic_nack), §5.1.3.
    assert_eq!(err.command_status(), CommandStatus::ESME_RINVMSGLEN);
    assert_eq!(
        Pdu::decode(&h("00000010 00000103 00000000 0000002a"))
            .unwrap_err()
            .command_status(),
        CommandStatus::ESME_RINVCMDID
    );
    assert_eq!(
        Pdu::decode(&h("00000014 00000009 00000000 00000001 00 00 00 34"))
            .unwrap_err()
            .command_status(),
        CommandStatus::ESME_RINVCMDLEN
    );
}

#[test]
fn decoder_reports_malformed_tlvs() {
    let base = Pdu::new(
        1,
        PduBody::SubmitSmResp(SubmitSmResp {
            message_id: "A".into(),
            tlvs: vec![],
        }),
    )
    .encode()
    .expect("encode");
    let with = |extra: &str| {
        let mut b = base.clone();
        b.extend(h(extra));
        let len = b.len() as u32;
        b[..4].copy_from_slice(&len.to_be_bytes());
        Pdu::decode(&b)
    };
    assert_eq!(
        with("0427 00").unwrap_err(),
        PduError::TruncatedTlv {
            command: "submit_sm_resp",
            offset: 18,
            remaining: 3
        }
    );
    assert_eq!(
        with("0424 0005 0102").unwrap_err(),
        PduError::TruncatedTlv {
            command: "submit_sm_resp",
            offset: 18,
            remaining: 6
        }
    );
    assert_eq!(
        with("0427 0002 0202").unwrap_err(),
        PduError::TlvLength {
            command: "submit_sm_resp",
            tag: 0x0427,
            offset: 18,
            len: 2,
            expected: "1"
        }
    );
    assert!(matches!(
        with("0423 0002 0300"),
        Err(PduError::TlvLength { tag: 0x0423, .. })
    ));
    assert!(matches!(
        with("001e 0000"),
        Err(PduError::TlvLength { tag: 0x001E, .. })
    ));
    // receipted_message_id without its NUL is accepted (common SMSC practice).
    let pdu = with("001e 0003 414243").expect("decode");
    let PduBody::SubmitSmResp(resp) = pdu.body else {
        panic!("wrong body")
    };
    assert_eq!(resp.tlvs, vec![Tlv::ReceiptedMessageId("ABC".into())]);
}

#[test]
fn decoder_never_panics_on_truncations_and_bit_flips() {
    for pdu in every_pdu() {
        let bytes = pdu.encode().expect("encode");
        for cut in 0..bytes.len() {
            let mut b = bytes[..cut].to_vec();
            if b.len() >= 4 {
                let len = b.len() as u32;
                b[..4].copy_from_slice(&len.to_be_bytes());
            }
            let _ = Pdu::decode(&b);
        }
        for i in 16..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                let _ = Pdu::decode(&b);
            }
        }
    }
}

// --- frame decoder ---

#[test]
fn frame_decoder_reassembles_partial_reads() {
    let pdus = every_pdu();
    let mut stream = Vec::new();
    for p in &pdus {
        p.encode_into(&mut stream).expect("encode");
    }
    // One octet at a time.
    let mut dec = FrameDecoder::default();
    let mut got = Vec::new();
    for b in &stream {
        dec.extend(std::slice::from_ref(b));
        while let Some(frame) = dec.next_frame().expect("frame") {
            got.push(Pdu::decode(frame).expect("decode"));
        }
    }
    assert_eq!(got, pdus);
    assert_eq!(dec.buffered(), 0);
    // Uneven chunks.
    let mut dec = FrameDecoder::default();
    let mut got = Vec::new();
    for chunk in stream.chunks(37) {
        dec.extend(chunk);
        while let Some(frame) = dec.next_frame().expect("frame") {
            got.push(Pdu::decode(frame).expect("decode"));
        }
    }
    assert_eq!(got, pdus);
}

#[test]
fn frame_decoder_rejects_bad_lengths() {
    let mut dec = FrameDecoder::default();
    dec.extend(&h("0000000f 00000015"));
    assert_eq!(
        dec.next_frame().unwrap_err(),
        PduError::InvalidCommandLength {
            length: 15,
            max: 65_536
        }
    );
    let mut dec = FrameDecoder::new(100);
    dec.extend(&h("00000065"));
    assert_eq!(
        dec.next_frame().unwrap_err(),
        PduError::InvalidCommandLength {
            length: 101,
            max: 100
        }
    );
    let mut dec = FrameDecoder::new(100);
    dec.extend(&h("00000064"));
    assert_eq!(
        dec.next_frame(),
        Ok(None),
        "100 is allowed; wait for the rest"
    );
    dec.extend(&[0; 96]);
    assert_eq!(dec.next_frame().expect("frame").map(<[u8]>::len), Some(100));
    let mut dec = FrameDecoder::default();
    dec.extend(&h("ffffffff"));
    assert!(dec.next_frame().is_err());
}

// --- Appendix B delivery receipts ---

#[test]
fn receipt_in_the_layout_of_appendix_b() {
    let r = DeliveryReceipt::parse(
        b"id:0123456789 sub:001 dlvrd:001 submit date:0610191018 done date:0610191020 stat:DELIVRD err:000 \
          Text:Hello stat:UNDELIV",
    )
    .expect("parse");
    assert_eq!(r.id, "0123456789");
    assert_eq!(r.sub, "001");
    assert_eq!(r.dlvrd, "001");
    assert_eq!(r.submit_date, "0610191018");
    assert_eq!(r.done_date, "0610191020");
    assert_eq!(r.stat, ReceiptStat::Delivered);
    assert_eq!(r.err, "000");
    assert_eq!(r.text, "Hello stat:UNDELIV");
    assert_eq!(
        DeliveryReceipt::parse(r.to_text().as_bytes()).expect("reparse"),
        r
    );
}

#[test]
fn receipt_variants_seen_from_smscs() {
    // Lower-case "text:", seconds in the dates, hex id.
    let r = DeliveryReceipt::parse(
        b"id:5F3A9C01 sub:001 dlvrd:000 submit date:250101120000 done date:250101120105 stat:UNDELIV err:001 text:",
    )
    .expect("parse");
    assert_eq!(r.id, "5F3A9C01");
    assert_eq!(r.stat, ReceiptStat::Undeliverable);
    assert_eq!(r.err, "001");
    assert_eq!(r.done_date, "250101120105");
    assert_eq!(r.text, "");
    // Only id and stat.
    let r = DeliveryReceipt::parse(b"id:77 stat:EXPIRED").expect("parse");
    assert_eq!(
        (r.id.as_str(), r.stat.clone()),
        ("77", ReceiptStat::Expired)
    );
    assert_eq!(r.err, "");
    // Upper-case keys.
    let r = DeliveryReceipt::parse(b"ID:9 SUB:001 STAT:rejectd ERR:0A1").expect("parse");
    assert_eq!(r.stat, ReceiptStat::Rejected);
    assert_eq!(r.err, "0A1");
    let r = DeliveryReceipt::parse(b"id:9 stat:WEIRD").expect("parse");
    assert_eq!(r.stat, ReceiptStat::Other("WEIRD".into()));
    assert_eq!(
        DeliveryReceipt::parse(b"sub:001 stat:DELIVRD").unwrap_err(),
        PduError::ReceiptField { field: "id" }
    );
    assert_eq!(
        DeliveryReceipt::parse(b"id:1 sub:001 dlvrd:001").unwrap_err(),
        PduError::ReceiptField { field: "stat" }
    );
    // Binary junk does not panic.
    assert!(DeliveryReceipt::parse(&[0xFF, 0x00, 0x80]).is_err());
}

#[test]
fn receipt_stats_of_table_b2() {
    for (text, stat, state) in [
        ("DELIVRD", ReceiptStat::Delivered, MessageState::Delivered),
        ("EXPIRED", ReceiptStat::Expired, MessageState::Expired),
        ("DELETED", ReceiptStat::Deleted, MessageState::Deleted),
        (
            "UNDELIV",
            ReceiptStat::Undeliverable,
            MessageState::Undeliverable,
        ),
        ("ACCEPTD", ReceiptStat::Accepted, MessageState::Accepted),
        ("UNKNOWN", ReceiptStat::Unknown, MessageState::Unknown),
        ("REJECTD", ReceiptStat::Rejected, MessageState::Rejected),
    ] {
        assert_eq!(ReceiptStat::parse(text), stat);
        assert_eq!(stat.as_str(), text);
        assert_eq!(stat.message_state(), Some(state));
        assert_eq!(MessageState::from_u8(state.as_u8()), state);
    }
    assert!(!ReceiptStat::Enroute.is_final());
    assert!(ReceiptStat::Delivered.is_final());
}

/// Found by the `smpp` fuzz target: a deliver_sm whose validity_period is 2 characters was decoded, then could
/// not be encoded again; a time that is neither empty nor 16 characters is now refused on input too (§7.1.1).
#[test]
fn a_time_field_of_the_wrong_length_is_refused_on_input() {
    let frame = hex::decode(
        "00000031000000050000003300001d0000000b0080000000280000017300000000000000f600050270ffffffff27000100",
    )
    .expect("hex");
    assert_eq!(
        Pdu::decode(&frame),
        Err(PduError::InvalidTime {
            command: "deliver_sm",
            field: "validity_period",
            len: 2,
        })
    );
}
