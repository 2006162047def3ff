//! The eUICC notification (SGP.02 §4.1.1.11 ES5 notifications; wire-profile §4): the secured data of an SCP80
//! command packet that the eUICC sends as a mobile-originated SMS to the SM-SR,
//! `E1 L { 4C L EID, 4D 01 type, 4F L ISD-P AID, [14 L IMEI], 4E 02 seq }`. The SM-SR confirms it with
//! [`crate::isdr::Es5Command::HandleNotificationConfirmation`].

use crate::tlv::{self, Tag, TlvError};
use crate::wire_profile::{
    NOTIFICATION_TAG, NOTIFICATION_TAG_AID, NOTIFICATION_TAG_AID_ALT, NOTIFICATION_TAG_EID,
    NOTIFICATION_TAG_IMEI, NOTIFICATION_TAG_IMEI_ALT, NOTIFICATION_TAG_MEID,
    NOTIFICATION_TAG_MEID_ALT, NOTIFICATION_TAG_SEQUENCE, NOTIFICATION_TAG_TYPE,
};

/// Errors of the notification codec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// The TLV structure is broken.
    #[error("notification TLV: {0}")]
    Tlv(#[from] TlvError),
    /// The outer tag is not `E1`.
    #[error("notification tag {0} is not E1")]
    WrongTag(Tag),
    /// A mandatory element is missing.
    #[error("notification lacks {0}")]
    Missing(&'static str),
    /// An element appears twice.
    #[error("notification has {0} twice")]
    Duplicate(&'static str),
    /// An element has the wrong length.
    #[error("notification element {element} has length {len}, expected {expected}")]
    BadLength {
        /// The element.
        element: &'static str,
        /// Its length.
        len: usize,
        /// The expected length.
        expected: &'static str,
    },
    /// The notification type is not one of 01, 02, 03, 05.
    #[error("unknown notification type {0:#04x}")]
    UnknownType(u8),
    /// A tag that has no place in the notification.
    #[error("unexpected tag {tag} at offset {offset} in the notification")]
    UnexpectedTag {
        /// The tag.
        tag: Tag,
        /// Its offset.
        offset: usize,
    },
}

/// Notification types (SGP.02 §4.1.1.11; wire-profile §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationType {
    /// `01` first network attachment after eUICC registration.
    FirstAttach,
    /// `02` profile change succeeded.
    ProfileChangeSucceeded,
    /// `03` profile change failed and was rolled back.
    ProfileChangeFailedRollback,
    /// `05` profile change after fall-back.
    ProfileChangeAfterFallback,
}

impl NotificationType {
    /// The type byte (SGP.02 §4.1.1.11).
    pub fn to_byte(self) -> u8 {
        match self {
            NotificationType::FirstAttach => 0x01,
            NotificationType::ProfileChangeSucceeded => 0x02,
            NotificationType::ProfileChangeFailedRollback => 0x03,
            NotificationType::ProfileChangeAfterFallback => 0x05,
        }
    }

    /// Decodes the type byte (SGP.02 §4.1.1.11).
    pub fn from_byte(b: u8) -> Result<NotificationType, NotificationError> {
        Ok(match b {
            0x01 => NotificationType::FirstAttach,
            0x02 => NotificationType::ProfileChangeSucceeded,
            0x03 => NotificationType::ProfileChangeFailedRollback,
            0x05 => NotificationType::ProfileChangeAfterFallback,
            other => return Err(NotificationError::UnknownType(other)),
        })
    }
}

/// An eUICC notification (SGP.02 §4.1.1.11; wire-profile §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The EID (16 bytes).
    pub eid: [u8; 16],
    /// The notification type.
    pub kind: NotificationType,
    /// AID of the ISD-P concerned (the one now enabled).
    pub isd_p_aid: Vec<u8>,
    /// IMEI of the device, as the eUICC reports it.
    pub imei: Option<Vec<u8>>,
    /// MEID of the device (accepted on input, written with tag `6D`).
    pub meid: Option<Vec<u8>>,
    /// Sequence number, echoed in HandleNotificationConfirmation.
    pub sequence: u16,
}

impl Notification {
    /// Encodes `E1 L { 4C, 4D, 4F, [14], [6D], 4E }` (SGP.02 §4.1.1.11; wire-profile §4).
    pub fn to_bytes(&self) -> Result<Vec<u8>, NotificationError> {
        let mut inner = Vec::new();
        tlv::encode_into(Tag::byte(NOTIFICATION_TAG_EID), &self.eid, &mut inner)?;
        tlv::encode_into(
            Tag::byte(NOTIFICATION_TAG_TYPE),
            &[self.kind.to_byte()],
            &mut inner,
        )?;
        tlv::encode_into(Tag::byte(NOTIFICATION_TAG_AID), &self.isd_p_aid, &mut inner)?;
        if let Some(imei) = &self.imei {
            tlv::encode_into(Tag::byte(NOTIFICATION_TAG_IMEI), imei, &mut inner)?;
        }
        if let Some(meid) = &self.meid {
            tlv::encode_into(Tag::byte(NOTIFICATION_TAG_MEID), meid, &mut inner)?;
        }
        tlv::encode_into(
            Tag::byte(NOTIFICATION_TAG_SEQUENCE),
            &self.sequence.to_be_bytes(),
            &mut inner,
        )?;
        Ok(tlv::encode(Tag::byte(NOTIFICATION_TAG), &inner)?)
    }

    /// Parses a notification, accepting `2F` for the AID, `94` for the IMEI and `ED` for the MEID
    /// (SGP.02 §4.1.1.11; wire-profile §4).
    pub fn parse(bytes: &[u8]) -> Result<Notification, NotificationError> {
        let outer = tlv::parse_single(bytes)?;
        if outer.tag != Tag::byte(NOTIFICATION_TAG) {
            return Err(NotificationError::WrongTag(outer.tag));
        }
        let mut eid = None;
        let mut kind = None;
        let mut aid = None;
        let mut imei = None;
        let mut meid = None;
        let mut sequence = None;
        fn set<T>(
            slot: &mut Option<T>,
            value: T,
            name: &'static str,
        ) -> Result<(), NotificationError> {
            if slot.replace(value).is_some() {
                return Err(NotificationError::Duplicate(name));
            }
            Ok(())
        }
        for item in outer.children()? {
            let tag =
                u8::try_from(item.tag.value()).map_err(|_| NotificationError::UnexpectedTag {
                    tag: item.tag,
                    offset: item.offset,
                })?;
            match tag {
                NOTIFICATION_TAG_EID => {
                    let e: [u8; 16] =
                        item.value
                            .try_into()
                            .map_err(|_| NotificationError::BadLength {
                                element: "EID",
                                len: item.value.len(),
                                expected: "16",
                            })?;
                    set(&mut eid, e, "EID")?;
                }
                NOTIFICATION_TAG_TYPE => match item.value {
                    [t] => set(&mut kind, NotificationType::from_byte(*t)?, "type")?,
                    v => {
                        return Err(NotificationError::BadLength {
                            element: "type",
                            len: v.len(),
                            expected: "1",
                        });
                    }
                },
                NOTIFICATION_TAG_AID | NOTIFICATION_TAG_AID_ALT => {
                    if !(5..=16).contains(&item.value.len()) {
                        return Err(NotificationError::BadLength {
                            element: "ISD-P AID",
                            len: item.value.len(),
                            expected: "5 to 16",
                        });
                    }
                    set(&mut aid, item.value.to_vec(), "ISD-P AID")?;
                }
                NOTIFICATION_TAG_IMEI | NOTIFICATION_TAG_IMEI_ALT => {
                    set(&mut imei, item.value.to_vec(), "IMEI")?
                }
                NOTIFICATION_TAG_MEID | NOTIFICATION_TAG_MEID_ALT => {
                    set(&mut meid, item.value.to_vec(), "MEID")?
                }
                NOTIFICATION_TAG_SEQUENCE => match item.value {
                    [a, b] => set(&mut sequence, u16::from_be_bytes([*a, *b]), "sequence")?,
                    v => {
                        return Err(NotificationError::BadLength {
                            element: "sequence number",
                            len: v.len(),
                            expected: "2",
                        });
                    }
                },
                _ => {
                    return Err(NotificationError::UnexpectedTag {
                        tag: item.tag,
                        offset: item.offset,
                    });
                }
            }
        }
        Ok(Notification {
            eid: eid.ok_or(NotificationError::Missing("EID (4C)"))?,
            kind: kind.ok_or(NotificationError::Missing("type (4D)"))?,
            isd_p_aid: aid.ok_or(NotificationError::Missing("ISD-P AID (4F)"))?,
            imei,
            meid,
            sequence: sequence.ok_or(NotificationError::Missing("sequence number (4E)"))?,
        })
    }
}
