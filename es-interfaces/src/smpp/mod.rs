//! SMPP 3.4 ("Short Message Peer to Peer Protocol Specification v3.4", SMPP Developers Forum, 1999): the PDUs the
//! SM-SR exchanges with an SMSC to carry ES5 SMS (docs/wire-profile.md §2), as types with encoders and decoders.
//! Pure: no I/O, no clocks; the tokio client (`smsr::smpp`) and the test SMSC (`conformance::smsc`) drive it.
//!
//! - [`command`]: `command_id` values ([`CommandId`]) and `command_status` codes ([`CommandStatus`]), §5.1.2–5.1.3.
//! - [`pdu`]: the PDU header (§3.2) and the bodies of bind/unbind, submit_sm, deliver_sm, enquire_link,
//!   generic_nack and outbind (§4), with [`EsmClass`] encoded exactly as given (no hidden default bits).
//! - [`tlv`]: the optional parameters we use (§5.3.2): message_payload, receipted_message_id, message_state,
//!   sar_*, sc_interface_version, network_error_code; unknown ones are kept verbatim.
//! - [`frame`]: a streaming frame decoder for partial reads with a command_length limit.
//! - [`receipt`]: the SMSC delivery receipt text of Appendix B (`id:… sub:… dlvrd:… … stat:… err:… text:…`).

pub mod command;
pub mod frame;
pub mod pdu;
pub mod receipt;
pub mod tlv;

mod octets;

pub use command::{CommandId, CommandStatus};
pub use frame::FrameDecoder;
pub use pdu::{
    Bind, BindResp, DeliverSmResp, EsmClass, INTERFACE_VERSION_34, Outbind, Password, Pdu, PduBody,
    PduHeader, SmBody, SubmitSmResp,
};
pub use receipt::{DeliveryReceipt, ReceiptStat};
pub use tlv::{MessageState, Tlv};

/// Errors of the SMPP 3.4 codec: framing (§3.2), mandatory parameters (§4, §5.2), TLVs (§3.3, §5.3) and the
/// delivery receipt text (Appendix B). Each names the PDU, the field and the offset where it applies.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// command_length smaller than the 16-octet header or larger than the configured limit (§3.2).
    #[error("command_length {length} is outside 16..={max}")]
    InvalidCommandLength {
        /// The command_length read from the stream.
        length: u32,
        /// The largest PDU accepted.
        max: u32,
    },
    /// The frame handed to the decoder is not exactly one PDU of command_length octets (§3.2).
    #[error("frame of {actual} octets does not match its command_length {length}")]
    FrameLength {
        /// The command_length field.
        length: u32,
        /// The number of octets handed over.
        actual: usize,
    },
    /// A command_id this codec does not implement; the peer answers generic_nack ESME_RINVCMDID (§3.2, §4.3).
    #[error("unknown command_id 0x{command_id:08X} (sequence_number {sequence_number})")]
    UnknownCommandId {
        /// The command_id read.
        command_id: u32,
        /// The sequence number, for the generic_nack.
        sequence_number: u32,
    },
    /// A mandatory parameter runs past the end of the PDU (§4).
    #[error("{command}: {field} at offset {offset} runs past the end of the PDU")]
    UnexpectedEnd {
        /// The PDU being decoded.
        command: &'static str,
        /// The parameter.
        field: &'static str,
        /// Offset of the parameter in the PDU.
        offset: usize,
    },
    /// A C-Octet String without its terminating NUL within its maximum size (§3.1, §5.2).
    #[error("{command}: C-Octet String {field} at offset {offset} has no NUL within {max} octets")]
    Unterminated {
        /// The PDU being decoded.
        command: &'static str,
        /// The parameter.
        field: &'static str,
        /// Offset of the parameter in the PDU.
        offset: usize,
        /// Maximum size including the NUL.
        max: usize,
    },
    /// A C-Octet String holding a non-ASCII octet (§3.1: "a series of ASCII characters").
    #[error("{command}: {field} at offset {offset} is not ASCII")]
    NotAscii {
        /// The PDU being decoded or encoded.
        command: &'static str,
        /// The parameter.
        field: &'static str,
        /// Offset of the parameter (0 when encoding).
        offset: usize,
    },
    /// A value longer than the field allows (§5.2; C-Octet String maxima include the NUL).
    #[error("{command}: {field} is {len} octets, the maximum is {max}")]
    TooLong {
        /// The PDU being encoded or decoded.
        command: &'static str,
        /// The parameter.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// A C-Octet String value that contains a NUL octet (it would end the string early).
    #[error("{command}: {field} contains a NUL octet")]
    ContainsNul {
        /// The PDU being encoded.
        command: &'static str,
        /// The parameter.
        field: &'static str,
    },
    /// A time field that is neither empty nor 16 characters `YYMMDDhhmmsstnnp` (§7.1).
    #[error("{command}: {field} must be empty or 16 characters, got {len}")]
    InvalidTime {
        /// The PDU being encoded.
        command: &'static str,
        /// The parameter.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// Octets after the mandatory parameters that do not form whole TLVs (§3.3).
    #[error("{command}: TLV at offset {offset} is truncated ({remaining} octets left)")]
    TruncatedTlv {
        /// The PDU being decoded.
        command: &'static str,
        /// Offset of the TLV.
        offset: usize,
        /// Octets left in the PDU.
        remaining: usize,
    },
    /// A TLV whose length is wrong for its tag (§5.3.2).
    #[error("{command}: TLV 0x{tag:04X} at offset {offset} has length {len}, expected {expected}")]
    TlvLength {
        /// The PDU being decoded.
        command: &'static str,
        /// The TLV tag.
        tag: u16,
        /// Offset of the TLV.
        offset: usize,
        /// Its length field.
        len: usize,
        /// What the tag requires.
        expected: &'static str,
    },
    /// Octets after the body of a PDU that has no optional parameters (§4).
    #[error("{command}: {extra} unexpected octets at offset {offset}")]
    TrailingOctets {
        /// The PDU being decoded.
        command: &'static str,
        /// Number of extra octets.
        extra: usize,
        /// Offset of the first one.
        offset: usize,
    },
    /// A delivery receipt text without a mandatory field (Appendix B).
    #[error("delivery receipt text has no {field} field")]
    ReceiptField {
        /// The missing field.
        field: &'static str,
    },
}

impl PduError {
    /// SMPP 3.4 §5.1.3: the command_status with which a peer answers (generic_nack) a PDU that failed to decode
    /// with this error.
    pub fn command_status(&self) -> CommandStatus {
        match self {
            PduError::UnknownCommandId { .. } => CommandStatus::ESME_RINVCMDID,
            PduError::InvalidCommandLength { .. }
            | PduError::FrameLength { .. }
            | PduError::UnexpectedEnd { .. }
            | PduError::Unterminated { .. }
            | PduError::TrailingOctets { .. } => CommandStatus::ESME_RINVCMDLEN,
            PduError::TooLong {
                field: "short_message",
                ..
            } => CommandStatus::ESME_RINVMSGLEN,
            PduError::TruncatedTlv { .. } => CommandStatus::ESME_RINVOPTPARSTREAM,
            PduError::TlvLength { .. } => CommandStatus::ESME_RINVPARLEN,
            PduError::NotAscii { .. }
            | PduError::TooLong { .. }
            | PduError::ContainsNul { .. }
            | PduError::InvalidTime { .. }
            | PduError::ReceiptField { .. } => CommandStatus::ESME_RSYSERR,
        }
    }
}
