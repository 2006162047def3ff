//! SMPP 3.4 §3.3 and §5.3: optional parameters (TLVs): tag (2), length (2), value.

use super::PduError;
use super::octets::{Reader, check_c_octet_string};

/// SMPP 3.4 §5.3.2: the tags this codec gives a type to.
pub mod tag {
    /// receipted_message_id (§5.3.2.12).
    pub const RECEIPTED_MESSAGE_ID: u16 = 0x001E;
    /// sar_msg_ref_num (§5.3.2.22).
    pub const SAR_MSG_REF_NUM: u16 = 0x020C;
    /// sar_total_segments (§5.3.2.23).
    pub const SAR_TOTAL_SEGMENTS: u16 = 0x020E;
    /// sar_segment_seqnum (§5.3.2.24).
    pub const SAR_SEGMENT_SEQNUM: u16 = 0x020F;
    /// sc_interface_version (§5.3.2.25).
    pub const SC_INTERFACE_VERSION: u16 = 0x0210;
    /// network_error_code (§5.3.2.31).
    pub const NETWORK_ERROR_CODE: u16 = 0x0423;
    /// message_payload (§5.3.2.32).
    pub const MESSAGE_PAYLOAD: u16 = 0x0424;
    /// message_state (§5.3.2.35).
    pub const MESSAGE_STATE: u16 = 0x0427;
}

/// Largest receipted_message_id including its NUL (§5.3.2.12: 1–65).
const RECEIPTED_MESSAGE_ID_MAX: usize = 65;

/// SMPP 3.4 §5.2.28 / §5.3.2.35: message_state values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageState {
    /// 1: the message is in enroute state.
    Enroute,
    /// 2: delivered to destination.
    Delivered,
    /// 3: validity period expired.
    Expired,
    /// 4: the message has been deleted.
    Deleted,
    /// 5: the message is undeliverable.
    Undeliverable,
    /// 6: the message is in accepted state (read on behalf of the subscriber by customer service).
    Accepted,
    /// 7: the message is in invalid state.
    Unknown,
    /// 8: the message is in a rejected state.
    Rejected,
    /// Any other value.
    Other(u8),
}

impl MessageState {
    /// SMPP 3.4 §5.2.28: the state for a value.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Self::Enroute,
            2 => Self::Delivered,
            3 => Self::Expired,
            4 => Self::Deleted,
            5 => Self::Undeliverable,
            6 => Self::Accepted,
            7 => Self::Unknown,
            8 => Self::Rejected,
            other => Self::Other(other),
        }
    }

    /// SMPP 3.4 §5.2.28: the value.
    pub fn as_u8(self) -> u8 {
        match self {
            Self::Enroute => 1,
            Self::Delivered => 2,
            Self::Expired => 3,
            Self::Deleted => 4,
            Self::Undeliverable => 5,
            Self::Accepted => 6,
            Self::Unknown => 7,
            Self::Rejected => 8,
            Self::Other(v) => v,
        }
    }
}

/// SMPP 3.4 §5.3.2: one optional parameter. Tags without a variant here are kept verbatim in [`Tlv::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tlv {
    /// message_payload 0x0424 (§5.3.2.32): the user data when longer than short_message allows.
    MessagePayload(Vec<u8>),
    /// receipted_message_id 0x001E (§5.3.2.12): the SMSC message id a delivery receipt refers to.
    ReceiptedMessageId(String),
    /// message_state 0x0427 (§5.3.2.35): the final state in a delivery receipt.
    MessageState(MessageState),
    /// sar_msg_ref_num 0x020C (§5.3.2.22): reference of a concatenated message.
    SarMsgRefNum(u16),
    /// sar_total_segments 0x020E (§5.3.2.23).
    SarTotalSegments(u8),
    /// sar_segment_seqnum 0x020F (§5.3.2.24).
    SarSegmentSeqnum(u8),
    /// sc_interface_version 0x0210 (§5.3.2.25): the SMSC's SMPP version, in bind responses.
    ScInterfaceVersion(u8),
    /// network_error_code 0x0423 (§5.3.2.31): network type (1 ANSI-136, 2 IS-95, 3 GSM, …) and error code.
    NetworkErrorCode {
        /// Network type.
        network_type: u8,
        /// Error code in that network.
        error_code: u16,
    },
    /// Any other tag, kept verbatim.
    Other {
        /// The tag.
        tag: u16,
        /// The value octets.
        value: Vec<u8>,
    },
}

impl Tlv {
    /// SMPP 3.4 §5.3.2: the parameter tag.
    pub fn tag(&self) -> u16 {
        match self {
            Tlv::MessagePayload(_) => tag::MESSAGE_PAYLOAD,
            Tlv::ReceiptedMessageId(_) => tag::RECEIPTED_MESSAGE_ID,
            Tlv::MessageState(_) => tag::MESSAGE_STATE,
            Tlv::SarMsgRefNum(_) => tag::SAR_MSG_REF_NUM,
            Tlv::SarTotalSegments(_) => tag::SAR_TOTAL_SEGMENTS,
            Tlv::SarSegmentSeqnum(_) => tag::SAR_SEGMENT_SEQNUM,
            Tlv::ScInterfaceVersion(_) => tag::SC_INTERFACE_VERSION,
            Tlv::NetworkErrorCode { .. } => tag::NETWORK_ERROR_CODE,
            Tlv::Other { tag, .. } => *tag,
        }
    }

    /// SMPP 3.4 §3.3: appends tag, length and value.
    pub(crate) fn encode(&self, command: &'static str, out: &mut Vec<u8>) -> Result<(), PduError> {
        let mut value = Vec::new();
        match self {
            Tlv::MessagePayload(v) | Tlv::Other { value: v, .. } => value.extend_from_slice(v),
            Tlv::ReceiptedMessageId(id) => {
                check_c_octet_string(
                    command,
                    "receipted_message_id",
                    id,
                    RECEIPTED_MESSAGE_ID_MAX,
                )?;
                value.extend_from_slice(id.as_bytes());
                value.push(0);
            }
            Tlv::MessageState(s) => value.push(s.as_u8()),
            Tlv::SarMsgRefNum(n) => value.extend_from_slice(&n.to_be_bytes()),
            Tlv::SarTotalSegments(n) | Tlv::SarSegmentSeqnum(n) | Tlv::ScInterfaceVersion(n) => {
                value.push(*n)
            }
            Tlv::NetworkErrorCode {
                network_type,
                error_code,
            } => {
                value.push(*network_type);
                value.extend_from_slice(&error_code.to_be_bytes());
            }
        }
        let len = u16::try_from(value.len()).map_err(|_| PduError::TooLong {
            command,
            field: "TLV value",
            len: value.len(),
            max: u16::MAX as usize,
        })?;
        out.extend_from_slice(&self.tag().to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&value);
        Ok(())
    }

    /// SMPP 3.4 §3.3: reads every TLV up to the end of the PDU.
    pub(crate) fn decode_all(r: &mut Reader<'_>) -> Result<Vec<Tlv>, PduError> {
        let mut tlvs = Vec::new();
        while r.remaining() > 0 {
            let offset = r.offset();
            if r.remaining() < 4 {
                return Err(PduError::TruncatedTlv {
                    command: r.command(),
                    offset,
                    remaining: r.remaining(),
                });
            }
            let tag = r.u16("TLV tag")?;
            let len = r.u16("TLV length")? as usize;
            if r.remaining() < len {
                return Err(PduError::TruncatedTlv {
                    command: r.command(),
                    offset,
                    remaining: r.remaining() + 4,
                });
            }
            let value = r.octets("TLV value", len)?;
            tlvs.push(Self::from_parts(r.command(), offset, tag, value)?);
        }
        Ok(tlvs)
    }

    fn from_parts(
        command: &'static str,
        offset: usize,
        tag: u16,
        value: &[u8],
    ) -> Result<Tlv, PduError> {
        let fixed = |n: usize, expected: &'static str| {
            if value.len() == n {
                Ok(())
            } else {
                Err(PduError::TlvLength {
                    command,
                    tag,
                    offset,
                    len: value.len(),
                    expected,
                })
            }
        };
        Ok(match tag {
            tag::MESSAGE_PAYLOAD => Tlv::MessagePayload(value.to_vec()),
            tag::RECEIPTED_MESSAGE_ID => {
                // A C-Octet String of 1..=65 octets; tolerate a missing final NUL.
                let text = value.strip_suffix(&[0]).unwrap_or(value);
                if value.is_empty() || value.len() > RECEIPTED_MESSAGE_ID_MAX {
                    return Err(PduError::TlvLength {
                        command,
                        tag,
                        offset,
                        len: value.len(),
                        expected: "1..=65",
                    });
                }
                if !text.is_ascii() || text.contains(&0) {
                    return Err(PduError::NotAscii {
                        command,
                        field: "receipted_message_id",
                        offset,
                    });
                }
                Tlv::ReceiptedMessageId(text.iter().map(|&b| b as char).collect())
            }
            tag::MESSAGE_STATE => {
                fixed(1, "1")?;
                Tlv::MessageState(MessageState::from_u8(value[0]))
            }
            tag::SAR_MSG_REF_NUM => {
                fixed(2, "2")?;
                Tlv::SarMsgRefNum(u16::from_be_bytes([value[0], value[1]]))
            }
            tag::SAR_TOTAL_SEGMENTS => {
                fixed(1, "1")?;
                Tlv::SarTotalSegments(value[0])
            }
            tag::SAR_SEGMENT_SEQNUM => {
                fixed(1, "1")?;
                Tlv::SarSegmentSeqnum(value[0])
            }
            tag::SC_INTERFACE_VERSION => {
                fixed(1, "1")?;
                Tlv::ScInterfaceVersion(value[0])
            }
            tag::NETWORK_ERROR_CODE => {
                fixed(3, "3")?;
                Tlv::NetworkErrorCode {
                    network_type: value[0],
                    error_code: u16::from_be_bytes([value[1], value[2]]),
                }
            }
            _ => Tlv::Other {
                tag,
                value: value.to_vec(),
            },
        })
    }
}
