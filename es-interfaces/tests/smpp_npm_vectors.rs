//! SMPP 3.4 PDUs against an independent encoder: the npm `smpp` package (node-smpp 0.5.1) builds each PDU in
//! tests/js/smpp_vectors.js; our decoder must read its bytes into the expected PDU and our encoder must produce
//! the same bytes.

use std::collections::HashMap;
use std::process::Command;

use es_interfaces::smpp::{
    Bind, BindResp, CommandStatus, DeliverSmResp, EsmClass, MessageState, Outbind, Password, Pdu,
    PduBody, SmBody, SubmitSmResp, Tlv,
};

fn npm_vectors() -> HashMap<String, Vec<u8>> {
    let modules = testkit::node_modules(&["smpp@0.5.1"]).join("node_modules");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js/smpp_vectors.js");
    let out = Command::new("node")
        .arg(&script)
        .env("NODE_PATH", &modules)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "smpp_vectors.js failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<serde_json::Value> =
        serde_json::from_slice(&out.stdout).expect("JSON from smpp_vectors.js");
    list.into_iter()
        .map(|v| {
            (
                v["name"].as_str().expect("name").to_string(),
                hex::decode(v["hex"].as_str().expect("hex")).expect("hex"),
            )
        })
        .collect()
}

fn sm(f: impl FnOnce(&mut SmBody)) -> Box<SmBody> {
    let mut b = SmBody::default();
    f(&mut b);
    Box::new(b)
}

fn bind(system_id: &str, password: &str, system_type: &str, ton: u8, npi: u8, range: &str) -> Bind {
    Bind {
        system_id: system_id.into(),
        password: Password::new(password),
        system_type: system_type.into(),
        interface_version: 0x34,
        addr_ton: ton,
        addr_npi: npi,
        address_range: range.into(),
    }
}

fn expected() -> Vec<(&'static str, Pdu)> {
    let scp80_tpud = {
        let mut v = hex::decode("027000").expect("hex");
        v.extend(hex::decode("00150d1639121200000100000000000001aabbccddeeff0011").expect("hex"));
        v
    };
    let with_status = |status: CommandStatus, seq: u32, body: PduBody| Pdu {
        command_status: status,
        sequence_number: seq,
        body,
    };
    vec![
        (
            "bind_transceiver",
            Pdu::new(
                1,
                PduBody::BindTransceiver(bind("smsr", "secret", "OTA", 1, 1, "4477")),
            ),
        ),
        (
            "bind_transmitter",
            Pdu::new(2, PduBody::BindTransmitter(bind("tx", "pw", "", 0, 0, ""))),
        ),
        (
            "bind_receiver",
            Pdu::new(3, PduBody::BindReceiver(bind("rx", "pw", "", 0, 0, "^44"))),
        ),
        (
            "bind_transceiver_resp",
            Pdu::new(
                1,
                PduBody::BindTransceiverResp(BindResp {
                    system_id: "TESTSMSC".into(),
                    tlvs: vec![Tlv::ScInterfaceVersion(0x34)],
                }),
            ),
        ),
        (
            "bind_transmitter_resp",
            Pdu::new(
                2,
                PduBody::BindTransmitterResp(BindResp {
                    system_id: "SMSC".into(),
                    tlvs: vec![],
                }),
            ),
        ),
        (
            "bind_receiver_resp",
            Pdu::new(
                3,
                PduBody::BindReceiverResp(BindResp {
                    system_id: "SMSC".into(),
                    tlvs: vec![],
                }),
            ),
        ),
        (
            "bind_transceiver_resp_fail",
            with_status(
                CommandStatus::ESME_RINVPASWD,
                4,
                PduBody::BindTransceiverResp(BindResp::default()),
            ),
        ),
        (
            "outbind",
            Pdu::new(
                5,
                PduBody::Outbind(Outbind {
                    system_id: "SMSC".into(),
                    password: Password::new("pw"),
                }),
            ),
        ),
        ("unbind", Pdu::new(6, PduBody::Unbind)),
        ("unbind_resp", Pdu::new(6, PduBody::UnbindResp)),
        ("enquire_link", Pdu::new(7, PduBody::EnquireLink)),
        ("enquire_link_resp", Pdu::new(7, PduBody::EnquireLinkResp)),
        (
            "generic_nack",
            with_status(CommandStatus::ESME_RINVCMDID, 8, PduBody::GenericNack),
        ),
        (
            "submit_sm_scp80",
            Pdu::new(
                9,
                PduBody::SubmitSm(sm(|b| {
                    b.source_addr_ton = 1;
                    b.source_addr_npi = 1;
                    b.source_addr = "447700900999".into();
                    b.dest_addr_ton = 1;
                    b.dest_addr_npi = 1;
                    b.destination_addr = "491701234567".into();
                    b.esm_class = EsmClass(0x40);
                    b.protocol_id = 0x7F;
                    b.registered_delivery = 1;
                    b.data_coding = 0xF6;
                    b.short_message = scp80_tpud.clone();
                })),
            ),
        ),
        (
            "submit_sm_payload",
            Pdu::new(
                10,
                PduBody::SubmitSm(sm(|b| {
                    b.source_addr_ton = 1;
                    b.source_addr_npi = 1;
                    b.source_addr = "447700900999".into();
                    b.dest_addr_ton = 1;
                    b.dest_addr_npi = 1;
                    b.destination_addr = "491701234567".into();
                    b.esm_class = EsmClass(0x40);
                    b.protocol_id = 0x7F;
                    b.registered_delivery = 1;
                    b.data_coding = 0xF6;
                    b.tlvs = vec![Tlv::MessagePayload(vec![0xA5; 300])];
                })),
            ),
        ),
        (
            "submit_sm_times",
            Pdu::new(
                11,
                PduBody::SubmitSm(sm(|b| {
                    b.service_type = "WAP".into();
                    b.source_addr = "SMSR".into();
                    b.destination_addr = "4917012".into();
                    b.schedule_delivery_time = "250101120000000+".into();
                    b.validity_period = "000001000000000R".into();
                    b.short_message = b"hi".to_vec();
                })),
            ),
        ),
        (
            "submit_sm_resp",
            Pdu::new(
                9,
                PduBody::SubmitSmResp(SubmitSmResp {
                    message_id: "5f3a9c01".into(),
                    tlvs: vec![],
                }),
            ),
        ),
        (
            "submit_sm_resp_throttled",
            with_status(
                CommandStatus::ESME_RTHROTTLED,
                10,
                PduBody::SubmitSmResp(SubmitSmResp::default()),
            ),
        ),
        (
            "deliver_sm_mo",
            Pdu::new(
                12,
                PduBody::DeliverSm(sm(|b| {
                    b.source_addr_ton = 1;
                    b.source_addr_npi = 1;
                    b.source_addr = "491701234567".into();
                    b.dest_addr_ton = 1;
                    b.dest_addr_npi = 1;
                    b.destination_addr = "447700900999".into();
                    b.esm_class = EsmClass(0x40);
                    b.protocol_id = 0x7F;
                    b.data_coding = 0xF6;
                    b.short_message =
                        hex::decode("027100000e0a000000000000000000000000").expect("hex");
                })),
            ),
        ),
        (
            "deliver_sm_receipt",
            Pdu::new(
                13,
                PduBody::DeliverSm(sm(|b| {
                    b.source_addr_ton = 1;
                    b.source_addr_npi = 1;
                    b.source_addr = "491701234567".into();
                    b.dest_addr_ton = 1;
                    b.dest_addr_npi = 1;
                    b.destination_addr = "447700900999".into();
                    b.esm_class = EsmClass(0x04);
                    b.short_message = b"id:5f3a9c01 sub:001 dlvrd:001 submit date:2501011200 done date:2501011201 stat:DELIVRD err:000 Text:".to_vec();
                    b.tlvs = vec![
                        Tlv::ReceiptedMessageId("5f3a9c01".into()),
                        Tlv::MessageState(MessageState::Delivered),
                        Tlv::NetworkErrorCode {
                            network_type: 3,
                            error_code: 0,
                        },
                    ];
                })),
            ),
        ),
        (
            "deliver_sm_sar",
            Pdu::new(
                14,
                PduBody::DeliverSm(sm(|b| {
                    b.source_addr = "4917".into();
                    b.destination_addr = "4477".into();
                    b.data_coding = 0xF6;
                    b.short_message = vec![0x00, 0x11, 0x22, 0x33];
                    b.tlvs = vec![
                        Tlv::SarMsgRefNum(0x1234),
                        Tlv::SarTotalSegments(2),
                        Tlv::SarSegmentSeqnum(1),
                        Tlv::Other {
                            tag: 0x020A,
                            value: vec![0x0B, 0x84],
                        },
                    ];
                })),
            ),
        ),
        (
            "deliver_sm_resp",
            Pdu::new(12, PduBody::DeliverSmResp(DeliverSmResp::default())),
        ),
    ]
}

#[test]
fn npm_smpp_encodings_decode_to_the_expected_pdus_and_ours_match_byte_for_byte() {
    let vectors = npm_vectors();
    let expected = expected();
    assert_eq!(
        vectors.len(),
        expected.len(),
        "every JS vector has an expectation"
    );
    for (name, pdu) in expected {
        let bytes = vectors
            .get(name)
            .unwrap_or_else(|| panic!("no JS vector {name}"));
        let decoded = Pdu::decode(bytes).unwrap_or_else(|e| panic!("{name}: decode failed: {e}"));
        assert_eq!(decoded, pdu, "{name}: decoded npm bytes");
        let ours = pdu
            .encode()
            .unwrap_or_else(|e| panic!("{name}: encode failed: {e}"));
        assert_eq!(
            hex::encode(&ours),
            hex::encode(bytes),
            "{name}: our encoding vs npm smpp"
        );
    }
}
