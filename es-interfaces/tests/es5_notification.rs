//! eUICC notification `E1 { 4C, 4D, 4F, [14], 4E }` (wire-profile §4): bytes written out by hand, round trips of
//! every type, the alternative tags on input, and refusal of malformed notifications.

use es_interfaces::notification::{Notification, NotificationError, NotificationType};

const EID: &str = "89049032123451234512345678901235";
const AID: &str = "a0000005591010ffffffff8900001000";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.split_whitespace().collect::<String>()).expect("hex")
}

fn sample(kind: NotificationType, imei: Option<Vec<u8>>) -> Notification {
    let mut eid = [0u8; 16];
    eid.copy_from_slice(&h(EID));
    Notification {
        eid,
        kind,
        isd_p_aid: h(AID),
        imei,
        meid: None,
        sequence: 0x0102,
    }
}

#[test]
fn encoding_matches_the_wire_profile_framing() {
    let n = sample(
        NotificationType::ProfileChangeSucceeded,
        Some(h("3554420123456789")),
    );
    let bytes = n.to_bytes().expect("encode");
    let expected = format!("e135 4c10{EID} 4d0102 4f10{AID} 14083554420123456789 4e020102");
    assert_eq!(
        hex::encode(&bytes),
        expected.split_whitespace().collect::<String>()
    );
    assert_eq!(Notification::parse(&bytes).expect("parse"), n);
}

#[test]
fn every_type_round_trips() {
    for (kind, byte) in [
        (NotificationType::FirstAttach, 1),
        (NotificationType::ProfileChangeSucceeded, 2),
        (NotificationType::ProfileChangeFailedRollback, 3),
        (NotificationType::ProfileChangeAfterFallback, 5),
    ] {
        assert_eq!(kind.to_byte(), byte);
        assert_eq!(NotificationType::from_byte(byte).expect("type"), kind);
        let n = sample(kind, None);
        assert_eq!(
            Notification::parse(&n.to_bytes().expect("enc")).expect("parse"),
            n
        );
    }
    assert_eq!(
        NotificationType::from_byte(4),
        Err(NotificationError::UnknownType(4))
    );
}

#[test]
fn alternative_tags_are_accepted_on_input() {
    let bytes = h(&format!(
        "e13b 4c10{EID} 4d0101 2f10{AID} 94083554420123456789 ed0412345678 4e020007"
    ));
    let n = Notification::parse(&bytes).expect("parse");
    assert_eq!(n.kind, NotificationType::FirstAttach);
    assert_eq!(n.isd_p_aid, h(AID));
    assert_eq!(n.imei, Some(h("3554420123456789")));
    assert_eq!(n.meid, Some(h("12345678")));
    assert_eq!(n.sequence, 7);
    // Written back with the primary tags.
    let again = n.to_bytes().expect("enc");
    assert_eq!(&again[..2], &[0xE1, 0x3B]);
    assert_eq!(again[23], 0x4F);
}

#[test]
fn malformed_notifications_are_refused() {
    let missing_seq = h(&format!("e127 4c10{EID} 4d0102 4f10{AID}"));
    assert_eq!(
        Notification::parse(&missing_seq),
        Err(NotificationError::Missing("sequence number (4E)"))
    );
    let short_eid = h(&format!(
        "e12a 4c0f{} 4d0102 4f10{AID} 4e020001",
        &EID[..30]
    ));
    assert!(matches!(
        Notification::parse(&short_eid),
        Err(NotificationError::BadLength {
            element: "EID",
            len: 15,
            ..
        })
    ));
    let twice = h(&format!("e12e 4c10{EID} 4d0102 4d0102 4f10{AID} 4e020001"));
    assert_eq!(
        Notification::parse(&twice),
        Err(NotificationError::Duplicate("type"))
    );
    let wrong_outer = h(&format!("e22b 4c10{EID} 4d0102 4f10{AID} 4e020001"));
    assert!(matches!(
        Notification::parse(&wrong_outer),
        Err(NotificationError::WrongTag(_))
    ));
    let unknown = h(&format!("e12e 4c10{EID} 4d0102 4f10{AID} 4e020001 5a01aa"));
    assert!(matches!(
        Notification::parse(&unknown),
        Err(NotificationError::UnexpectedTag { offset: 0x2D, .. })
    ));
    let truncated = h(&format!("e12c 4c10{EID} 4d0102 4f10{AID} 4e0200"));
    assert!(matches!(
        Notification::parse(&truncated),
        Err(NotificationError::Tlv(_))
    ));
}
