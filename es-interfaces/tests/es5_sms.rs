//! SMS TP-UD for SCP80 (3GPP TS 31.115 §4.2, 3GPP TS 23.040 §9.2.3.24; wire-profile §2): single SMS UDHs, the
//! concatenation UDHs written out by hand, segmentation at the 140-byte boundary, and reassembly in any order with
//! duplicates, missing parts, limits and expiry.

use es_interfaces::sms::{
    self, Assembled, PacketKind, PushOutcome, Reassembler, Segment, SmsError, UserData,
};

fn packet(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn single_sms_carries_the_cpi_or_rpi() {
    let p = packet(137);
    let cmd = sms::to_tp_uds(PacketKind::Command, &p, 9).expect("single");
    assert_eq!(cmd.len(), 1);
    assert_eq!(&cmd[0][..3], &[0x02, 0x70, 0x00]);
    assert_eq!(cmd[0].len(), 140);
    let por = sms::to_tp_uds(PacketKind::Response, &packet(20), 9).expect("por");
    assert_eq!(&por[0][..3], &[0x02, 0x71, 0x00]);
    let seg = Segment::parse(&por[0]).expect("parse");
    assert_eq!(seg.kind, Some(PacketKind::Response));
    assert_eq!(seg.concatenation, None);
    assert_eq!(seg.payload, packet(20));
}

#[test]
fn long_packets_are_cut_with_the_concatenation_udhs() {
    // 138 bytes no longer fit one SMS: 132 in the first segment, 6 in the second.
    let p = packet(138);
    let parts = sms::to_tp_uds(PacketKind::Command, &p, 0x42).expect("segments");
    assert_eq!(parts.len(), 2);
    assert_eq!(hex::encode(&parts[0][..8]), "0770000003420201");
    assert_eq!(parts[0].len(), 140);
    assert_eq!(hex::encode(&parts[1][..6]), "050003420202");
    assert_eq!(parts[1].len(), 6 + 6);
    // 132 + 134 × 2 = 400 bytes fill three segments exactly.
    let p = packet(400);
    let parts = sms::to_tp_uds(PacketKind::Command, &p, 1).expect("segments");
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|s| s.len() == 140));
    assert_eq!(hex::encode(&parts[2][..6]), "050003010303");
    let joined: Vec<u8> = parts
        .iter()
        .flat_map(|s| Segment::parse(s).expect("seg").payload)
        .collect();
    assert_eq!(joined, p);
    assert!(matches!(
        sms::to_tp_uds(PacketKind::Command, &packet(132 + 134 * 255), 1),
        Err(SmsError::TooManyParts { parts: 256, .. })
    ));
}

#[test]
fn reassembly_in_any_order_with_duplicates() {
    let p = packet(600);
    let parts = sms::to_tp_uds(PacketKind::Response, &p, 7).expect("segments");
    assert_eq!(parts.len(), 5);
    let mut r: Reassembler<&str> = Reassembler::new(16, 4);
    assert_eq!(
        r.push("msisdn-1", &parts[3]).expect("4"),
        PushOutcome::Pending {
            missing: vec![1, 2, 3, 5]
        }
    );
    assert_eq!(
        r.push("msisdn-1", &parts[0]).expect("1"),
        PushOutcome::Pending {
            missing: vec![2, 3, 5]
        }
    );
    assert_eq!(
        r.push("msisdn-1", &parts[3]).expect("dup"),
        PushOutcome::Duplicate {
            missing: vec![2, 3, 5]
        }
    );
    // The same reference from another originator is another message.
    assert_eq!(
        r.push("msisdn-2", &parts[4]).expect("other"),
        PushOutcome::Pending {
            missing: vec![1, 2, 3, 4]
        }
    );
    r.push("msisdn-1", &parts[4]).expect("5");
    r.push("msisdn-1", &parts[1]).expect("2");
    assert_eq!(
        r.push("msisdn-1", &parts[2]).expect("3"),
        PushOutcome::Complete(Assembled {
            kind: PacketKind::Response,
            packet: p
        })
    );
    assert_eq!(r.pending_len(), 1);
    let single = sms::to_tp_uds(PacketKind::Command, &packet(30), 0).expect("single");
    assert_eq!(
        r.push("msisdn-3", &single[0]).expect("single"),
        PushOutcome::Complete(Assembled {
            kind: PacketKind::Command,
            packet: packet(30)
        })
    );
}

#[test]
fn reassembler_is_bounded_in_parts_and_pending_messages() {
    let a = sms::to_tp_uds(PacketKind::Command, &packet(300), 1).expect("a");
    let b = sms::to_tp_uds(PacketKind::Command, &packet(300), 2).expect("b");
    let c = sms::to_tp_uds(PacketKind::Command, &packet(300), 3).expect("c");
    let mut r: Reassembler<u32> = Reassembler::new(3, 2);
    r.push(1, &a[0]).expect("a1");
    r.push(1, &b[1]).expect("b2");
    assert_eq!(r.push(1, &c[0]), Err(SmsError::PendingFull { max: 2 }));
    let long = sms::to_tp_uds(PacketKind::Command, &packet(600), 4).expect("long");
    assert_eq!(
        r.push(2, &long[0]),
        Err(SmsError::TooManyParts { parts: 5, max: 3 })
    );
    // A message completed makes room for a new one.
    r.push(1, &a[1]).expect("a2");
    assert!(matches!(r.push(1, &a[2]), Ok(PushOutcome::Complete(_))));
    assert_eq!(r.pending_len(), 1);
    r.push(1, &c[0]).expect("room again");
}

#[test]
fn inconsistent_and_malformed_segments_are_refused() {
    let mut r: Reassembler<u8> = Reassembler::new(10, 10);
    let a = sms::to_tp_uds(PacketKind::Command, &packet(300), 5).expect("a");
    r.push(0, &a[1]).expect("a2");
    let mut changed = a[1].clone();
    *changed.last_mut().expect("byte") ^= 0xFF;
    assert_eq!(
        r.push(0, &changed),
        Err(SmsError::ConflictingDuplicate {
            reference: 5,
            index: 2
        })
    );
    let mut other_total = a[2].clone();
    other_total[4] = 4;
    assert!(matches!(
        r.push(0, &other_total),
        Err(SmsError::InconsistentSegment { reference: 5, .. })
    ));
    // First segment without the CPI.
    let mut no_cpi = a[0].clone();
    no_cpi.splice(0..3, [0x05]);
    assert_eq!(r.push(1, &no_cpi), Err(SmsError::NotSecuredPacket));
    // Plain single SMS without CPI/RPI.
    assert_eq!(
        r.push(1, &[0x00, 0x01, 0x02]),
        Err(SmsError::NotSecuredPacket)
    );
    assert!(matches!(
        Segment::parse(&[0x05, 0x00, 0x03, 0x01, 0x02, 0x03]),
        Err(SmsError::BadConcatenation { .. })
    ));
    assert!(matches!(
        Segment::parse(&[0x05, 0x00, 0x03, 0x01, 0x00, 0x00]),
        Err(SmsError::BadConcatenation { .. })
    ));
    assert!(matches!(
        Segment::parse(&[0x04, 0x00, 0x03, 0x01]),
        Err(SmsError::UdhTruncated { .. })
    ));
    assert!(matches!(
        Segment::parse(&[0x03, 0x70, 0x02, 0x00]),
        Err(SmsError::UdhTruncated { .. })
    ));
    assert_eq!(
        Segment::parse(&[]),
        Err(SmsError::UdhTruncated { offset: 0 })
    );
    assert!(matches!(
        UserData::parse(&[0u8; 141]),
        Err(SmsError::TooLong { len: 141 })
    ));
}

#[test]
fn sixteen_bit_references_are_accepted_on_input() {
    let first = [
        vec![0x08, 0x70, 0x00, 0x08, 0x04, 0x12, 0x34, 0x02, 0x01],
        packet(10),
    ]
    .concat();
    let second = [vec![0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x02], packet(5)].concat();
    let mut r: Reassembler<()> = Reassembler::new(4, 4);
    r.push((), &second).expect("2");
    let PushOutcome::Complete(done) = r.push((), &first).expect("1") else {
        panic!("not complete");
    };
    assert_eq!(done.packet, [packet(10), packet(5)].concat());
}
