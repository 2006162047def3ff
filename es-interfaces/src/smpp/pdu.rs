//! SMPP 3.4 §3.2 PDU header and §4 PDU bodies: bind_*, unbind, outbind, submit_sm, deliver_sm, enquire_link,
//! generic_nack and their responses.

use std::fmt;

use zeroize::Zeroize;

use super::octets::{Reader, put_c_octet_string};
use super::tlv::{MessageState, Tlv};
use super::{CommandId, CommandStatus, PduError};

/// SMPP 3.4 §5.2.4: interface_version 0x34, the version this codec speaks.
pub const INTERFACE_VERSION_34: u8 = 0x34;

/// SMPP 3.4 §3.2: octets in the PDU header (command_length, command_id, command_status, sequence_number).
pub const HEADER_LEN: usize = 16;

/// SMPP 3.4 §5.2 maximum sizes of the C-Octet Strings, NUL included.
mod max {
    pub const SYSTEM_ID: usize = 16;
    pub const PASSWORD: usize = 9;
    pub const SYSTEM_TYPE: usize = 13;
    pub const ADDRESS_RANGE: usize = 41;
    pub const SERVICE_TYPE: usize = 6;
    pub const ADDR: usize = 21;
    pub const TIME: usize = 17;
    pub const MESSAGE_ID: usize = 65;
    pub const SHORT_MESSAGE: usize = 254;
}

/// SMPP 3.4 §3.2: the four header fields, read without decoding the body (to answer a PDU that fails to decode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduHeader {
    /// Octets in the whole PDU, header included.
    pub command_length: u32,
    /// The command_id value (§5.1.2).
    pub command_id: u32,
    /// The command_status value (§5.1.3).
    pub command_status: u32,
    /// The sequence_number that matches a response to its request.
    pub sequence_number: u32,
}

impl PduHeader {
    /// SMPP 3.4 §3.2: reads the header from the first 16 octets of `frame`.
    pub fn parse(frame: &[u8]) -> Result<Self, PduError> {
        if frame.len() < HEADER_LEN {
            return Err(PduError::UnexpectedEnd {
                command: "PDU header",
                field: "header",
                offset: 0,
            });
        }
        let word =
            |i: usize| u32::from_be_bytes([frame[i], frame[i + 1], frame[i + 2], frame[i + 3]]);
        Ok(PduHeader {
            command_length: word(0),
            command_id: word(4),
            command_status: word(8),
            sequence_number: word(12),
        })
    }
}

/// SMPP 3.4 §5.2.2: the bind password (at most 8 characters). A secret: zeroized on drop, redacted in Debug.
#[derive(Clone, Default)]
pub struct Password(String);

impl Password {
    /// SMPP 3.4 §5.2.2: wraps a password.
    pub fn new(value: impl Into<String>) -> Self {
        Password(value.into())
    }

    /// The password text, for encoding and for the SMSC's credential check.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Compares two passwords in time independent of where they differ.
    pub fn matches(&self, other: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), other.as_bytes());
        let mut diff = u8::from(a.len() != b.len());
        for (x, y) in a.iter().zip(b.iter()) {
            diff |= x ^ y;
        }
        diff == 0
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Self) -> bool {
        self.matches(&other.0)
    }
}

impl Eq for Password {}

impl Drop for Password {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// SMPP 3.4 §4.1.1 / §4.1.3 / §4.1.5: the body of bind_transmitter, bind_receiver and bind_transceiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// system_id identifying the ESME (≤ 15 characters).
    pub system_id: String,
    /// password (≤ 8 characters).
    pub password: Password,
    /// system_type (≤ 12 characters).
    pub system_type: String,
    /// interface_version: 0x34 for SMPP 3.4.
    pub interface_version: u8,
    /// addr_ton of the ESME address range (§5.2.5).
    pub addr_ton: u8,
    /// addr_npi of the ESME address range (§5.2.6).
    pub addr_npi: u8,
    /// address_range served by the ESME (≤ 40 characters).
    pub address_range: String,
}

impl Default for Bind {
    fn default() -> Self {
        Bind {
            system_id: String::new(),
            password: Password::default(),
            system_type: String::new(),
            interface_version: INTERFACE_VERSION_34,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
        }
    }
}

/// SMPP 3.4 §4.1.2 / §4.1.4 / §4.1.6: the body of the bind responses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BindResp {
    /// system_id of the SMSC (≤ 15 characters).
    pub system_id: String,
    /// Optional parameters (sc_interface_version, §5.3.2.25).
    pub tlvs: Vec<Tlv>,
}

/// SMPP 3.4 §4.1.7: the body of outbind (SMSC asking the ESME to bind_receiver).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbind {
    /// system_id of the SMSC.
    pub system_id: String,
    /// password the ESME checks.
    pub password: Password,
}

/// SMPP 3.4 §5.2.12: esm_class, kept as the exact octet (no default bits are ever added: 0x00 is 0x00).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EsmClass(pub u8);

impl EsmClass {
    /// Bit 6: UDHI, the short message starts with a User Data Header (GSM 03.40).
    pub const UDHI: u8 = 0x40;
    /// Bit 7: set reply path (GSM).
    pub const REPLY_PATH: u8 = 0x80;
    /// Bits 5–2: message type.
    pub const MESSAGE_TYPE_MASK: u8 = 0x3C;
    /// Message type 0001: SMSC delivery receipt (deliver_sm).
    pub const SMSC_DELIVERY_RECEIPT: u8 = 0x04;
    /// Message type 0010: SME delivery acknowledgement.
    pub const SME_DELIVERY_ACK: u8 = 0x08;
    /// Message type 0100: SME manual/user acknowledgement.
    pub const SME_USER_ACK: u8 = 0x10;
    /// Message type 0110: conversation abort (Korean CDMA).
    pub const CONVERSATION_ABORT: u8 = 0x18;
    /// Message type 1000: intermediate delivery notification.
    pub const INTERMEDIATE_DELIVERY_NOTIFICATION: u8 = 0x20;

    /// True when the UDHI bit (0x40) is set.
    pub fn udhi(self) -> bool {
        self.0 & Self::UDHI != 0
    }

    /// The message type bits (0x3C mask), e.g. [`EsmClass::SMSC_DELIVERY_RECEIPT`].
    pub fn message_type(self) -> u8 {
        self.0 & Self::MESSAGE_TYPE_MASK
    }

    /// True for an SMSC delivery receipt or an intermediate delivery notification (deliver_sm, §5.2.12).
    pub fn is_receipt(self) -> bool {
        matches!(
            self.message_type(),
            Self::SMSC_DELIVERY_RECEIPT | Self::INTERMEDIATE_DELIVERY_NOTIFICATION
        )
    }
}

impl From<u8> for EsmClass {
    fn from(v: u8) -> Self {
        EsmClass(v)
    }
}

/// SMPP 3.4 §4.4.1 (submit_sm) and §4.6.1 (deliver_sm): the body both PDUs share.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmBody {
    /// service_type (≤ 5 characters; empty = SMSC default).
    pub service_type: String,
    /// source_addr_ton (§5.2.5).
    pub source_addr_ton: u8,
    /// source_addr_npi (§5.2.6).
    pub source_addr_npi: u8,
    /// source_addr (≤ 20 characters).
    pub source_addr: String,
    /// dest_addr_ton (§5.2.5).
    pub dest_addr_ton: u8,
    /// dest_addr_npi (§5.2.6).
    pub dest_addr_npi: u8,
    /// destination_addr (≤ 20 characters).
    pub destination_addr: String,
    /// esm_class (§5.2.12), encoded as given.
    pub esm_class: EsmClass,
    /// protocol_id: the GSM TP-PID (0x7F = (U)SIM data download, wire-profile §2).
    pub protocol_id: u8,
    /// priority_flag (§5.2.14).
    pub priority_flag: u8,
    /// schedule_delivery_time: empty or 16 characters (§7.1); empty in deliver_sm.
    pub schedule_delivery_time: String,
    /// validity_period: empty or 16 characters (§7.1); empty in deliver_sm.
    pub validity_period: String,
    /// registered_delivery (§5.2.17): bit 0 asks for a final delivery receipt.
    pub registered_delivery: u8,
    /// replace_if_present_flag (§5.2.18).
    pub replace_if_present_flag: u8,
    /// data_coding: the GSM TP-DCS for binary class 2 is 0xF6 (wire-profile §2).
    pub data_coding: u8,
    /// sm_default_msg_id (§5.2.20).
    pub sm_default_msg_id: u8,
    /// short_message: the TP-UD, 0–254 octets (sm_length is its length).
    pub short_message: Vec<u8>,
    /// Optional parameters (§4.4.1 / §4.6.1 tables).
    pub tlvs: Vec<Tlv>,
}

impl SmBody {
    /// The user data: the message_payload TLV when present (§5.3.2.32), else short_message.
    pub fn user_data(&self) -> &[u8] {
        self.tlvs
            .iter()
            .find_map(|t| match t {
                Tlv::MessagePayload(p) => Some(p.as_slice()),
                _ => None,
            })
            .unwrap_or(&self.short_message)
    }

    /// The receipted_message_id TLV of a delivery receipt (§5.3.2.12), if present.
    pub fn receipted_message_id(&self) -> Option<&str> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::ReceiptedMessageId(id) => Some(id.as_str()),
            _ => None,
        })
    }

    /// The message_state TLV of a delivery receipt (§5.3.2.35), if present.
    pub fn message_state(&self) -> Option<MessageState> {
        self.tlvs.iter().find_map(|t| match t {
            Tlv::MessageState(s) => Some(*s),
            _ => None,
        })
    }
}

/// SMPP 3.4 §4.4.2: the body of submit_sm_resp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitSmResp {
    /// message_id the SMSC gave the message (≤ 64 characters).
    pub message_id: String,
    /// Optional parameters (none in 3.4; SMPP 5.0 SMSCs may add some, kept verbatim).
    pub tlvs: Vec<Tlv>,
}

/// SMPP 3.4 §4.6.2: the body of deliver_sm_resp (message_id is unused and empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliverSmResp {
    /// message_id: unused in 3.4, set to NULL; kept if a peer fills it.
    pub message_id: String,
    /// Optional parameters (none in 3.4; kept verbatim).
    pub tlvs: Vec<Tlv>,
}

/// SMPP 3.4 §4: the body of each PDU this codec implements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PduBody {
    /// generic_nack (§4.3.1): header only.
    GenericNack,
    /// bind_receiver (§4.1.3).
    BindReceiver(Bind),
    /// bind_receiver_resp (§4.1.4).
    BindReceiverResp(BindResp),
    /// bind_transmitter (§4.1.1).
    BindTransmitter(Bind),
    /// bind_transmitter_resp (§4.1.2).
    BindTransmitterResp(BindResp),
    /// bind_transceiver (§4.1.5).
    BindTransceiver(Bind),
    /// bind_transceiver_resp (§4.1.6).
    BindTransceiverResp(BindResp),
    /// outbind (§4.1.7).
    Outbind(Outbind),
    /// unbind (§4.2.1): header only.
    Unbind,
    /// unbind_resp (§4.2.2): header only.
    UnbindResp,
    /// submit_sm (§4.4.1).
    SubmitSm(Box<SmBody>),
    /// submit_sm_resp (§4.4.2).
    SubmitSmResp(SubmitSmResp),
    /// deliver_sm (§4.6.1).
    DeliverSm(Box<SmBody>),
    /// deliver_sm_resp (§4.6.2).
    DeliverSmResp(DeliverSmResp),
    /// enquire_link (§4.11.1): header only.
    EnquireLink,
    /// enquire_link_resp (§4.11.2): header only.
    EnquireLinkResp,
}

impl PduBody {
    /// SMPP 3.4 §5.1.2: the command_id of this body.
    pub fn command_id(&self) -> CommandId {
        match self {
            PduBody::GenericNack => CommandId::GenericNack,
            PduBody::BindReceiver(_) => CommandId::BindReceiver,
            PduBody::BindReceiverResp(_) => CommandId::BindReceiverResp,
            PduBody::BindTransmitter(_) => CommandId::BindTransmitter,
            PduBody::BindTransmitterResp(_) => CommandId::BindTransmitterResp,
            PduBody::BindTransceiver(_) => CommandId::BindTransceiver,
            PduBody::BindTransceiverResp(_) => CommandId::BindTransceiverResp,
            PduBody::Outbind(_) => CommandId::Outbind,
            PduBody::Unbind => CommandId::Unbind,
            PduBody::UnbindResp => CommandId::UnbindResp,
            PduBody::SubmitSm(_) => CommandId::SubmitSm,
            PduBody::SubmitSmResp(_) => CommandId::SubmitSmResp,
            PduBody::DeliverSm(_) => CommandId::DeliverSm,
            PduBody::DeliverSmResp(_) => CommandId::DeliverSmResp,
            PduBody::EnquireLink => CommandId::EnquireLink,
            PduBody::EnquireLinkResp => CommandId::EnquireLinkResp,
        }
    }

    /// SMPP 3.4 §4: the response body with empty fields that answers a request body, or `None` for responses
    /// and outbind (which has no response).
    pub fn empty_response(&self) -> Option<PduBody> {
        Some(match self {
            PduBody::BindReceiver(_) => PduBody::BindReceiverResp(BindResp::default()),
            PduBody::BindTransmitter(_) => PduBody::BindTransmitterResp(BindResp::default()),
            PduBody::BindTransceiver(_) => PduBody::BindTransceiverResp(BindResp::default()),
            PduBody::Unbind => PduBody::UnbindResp,
            PduBody::SubmitSm(_) => PduBody::SubmitSmResp(SubmitSmResp::default()),
            PduBody::DeliverSm(_) => PduBody::DeliverSmResp(DeliverSmResp::default()),
            PduBody::EnquireLink => PduBody::EnquireLinkResp,
            _ => return None,
        })
    }
}

/// SMPP 3.4 §3.2: one PDU, header fields and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// command_status (§5.1.3): ESME_ROK in requests.
    pub command_status: CommandStatus,
    /// sequence_number (§3.2: 0x00000001–0x7FFFFFFF in requests; a response repeats its request's).
    pub sequence_number: u32,
    /// The body; it also determines the command_id.
    pub body: PduBody,
}

impl Pdu {
    /// SMPP 3.4 §3.2: a PDU with command_status ESME_ROK.
    pub fn new(sequence_number: u32, body: PduBody) -> Self {
        Pdu {
            command_status: CommandStatus::ESME_ROK,
            sequence_number,
            body,
        }
    }

    /// SMPP 3.4 §5.1.2: the command_id of this PDU.
    pub fn command_id(&self) -> CommandId {
        self.body.command_id()
    }

    /// SMPP 3.4 §4: the response with `status` and empty fields that answers this request; generic_nack for a
    /// PDU that has no response of its own (§4.3.1).
    pub fn error_response(&self, status: CommandStatus) -> Pdu {
        Pdu {
            command_status: status,
            sequence_number: self.sequence_number,
            body: self.body.empty_response().unwrap_or(PduBody::GenericNack),
        }
    }

    /// SMPP 3.4 §4.3.1: a generic_nack with `status` answering the PDU numbered `sequence_number`.
    pub fn generic_nack(sequence_number: u32, status: CommandStatus) -> Pdu {
        Pdu {
            command_status: status,
            sequence_number,
            body: PduBody::GenericNack,
        }
    }

    /// SMPP 3.4 §3.2 and §4: the PDU's octets.
    pub fn encode(&self) -> Result<Vec<u8>, PduError> {
        let mut out = Vec::with_capacity(64);
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// SMPP 3.4 §3.2 and §4: appends the PDU's octets to `out` (on error `out` is left as it was).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), PduError> {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.command_id().as_u32().to_be_bytes());
        out.extend_from_slice(&self.command_status.as_u32().to_be_bytes());
        out.extend_from_slice(&self.sequence_number.to_be_bytes());
        if let Err(e) = self.encode_body(out) {
            out.truncate(start);
            return Err(e);
        }
        let len = out.len() - start;
        let Ok(len32) = u32::try_from(len) else {
            out.truncate(start);
            return Err(PduError::TooLong {
                command: self.command_id().name(),
                field: "PDU",
                len,
                max: u32::MAX as usize,
            });
        };
        out[start..start + 4].copy_from_slice(&len32.to_be_bytes());
        Ok(())
    }

    fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), PduError> {
        let command = self.command_id().name();
        // §4.4.2: "The submit_sm_resp PDU Body is not returned if the command_status field contains a non-zero
        // value." We apply that to every response, as SMSCs commonly do (the decoder accepts either form).
        if self.command_id().is_response() && !self.command_status.is_ok() {
            return Ok(());
        }
        match &self.body {
            PduBody::GenericNack
            | PduBody::Unbind
            | PduBody::UnbindResp
            | PduBody::EnquireLink
            | PduBody::EnquireLinkResp => Ok(()),
            PduBody::BindReceiver(b)
            | PduBody::BindTransmitter(b)
            | PduBody::BindTransceiver(b) => {
                put_c_octet_string(out, command, "system_id", &b.system_id, max::SYSTEM_ID)?;
                put_c_octet_string(out, command, "password", b.password.expose(), max::PASSWORD)?;
                put_c_octet_string(
                    out,
                    command,
                    "system_type",
                    &b.system_type,
                    max::SYSTEM_TYPE,
                )?;
                out.extend_from_slice(&[b.interface_version, b.addr_ton, b.addr_npi]);
                put_c_octet_string(
                    out,
                    command,
                    "address_range",
                    &b.address_range,
                    max::ADDRESS_RANGE,
                )
            }
            PduBody::BindReceiverResp(r)
            | PduBody::BindTransmitterResp(r)
            | PduBody::BindTransceiverResp(r) => {
                put_c_octet_string(out, command, "system_id", &r.system_id, max::SYSTEM_ID)?;
                encode_tlvs(command, &r.tlvs, out)
            }
            PduBody::Outbind(o) => {
                put_c_octet_string(out, command, "system_id", &o.system_id, max::SYSTEM_ID)?;
                put_c_octet_string(out, command, "password", o.password.expose(), max::PASSWORD)
            }
            PduBody::SubmitSm(sm) | PduBody::DeliverSm(sm) => encode_sm(command, sm, out),
            PduBody::SubmitSmResp(r) => {
                put_c_octet_string(out, command, "message_id", &r.message_id, max::MESSAGE_ID)?;
                encode_tlvs(command, &r.tlvs, out)
            }
            PduBody::DeliverSmResp(r) => {
                put_c_octet_string(out, command, "message_id", &r.message_id, max::MESSAGE_ID)?;
                encode_tlvs(command, &r.tlvs, out)
            }
        }
    }

    /// SMPP 3.4 §3.2 and §4: decodes exactly one PDU (`frame.len()` must equal its command_length).
    pub fn decode(frame: &[u8]) -> Result<Pdu, PduError> {
        let header = PduHeader::parse(frame)?;
        if header.command_length as usize != frame.len() {
            return Err(PduError::FrameLength {
                length: header.command_length,
                actual: frame.len(),
            });
        }
        let Some(command_id) = CommandId::from_u32(header.command_id) else {
            return Err(PduError::UnknownCommandId {
                command_id: header.command_id,
                sequence_number: header.sequence_number,
            });
        };
        let command_status = CommandStatus::from_u32(header.command_status);
        let command = command_id.name();
        let mut r = Reader::new(frame, HEADER_LEN, command);
        // A response with an error status may come without its body (§4.4.2 and common SMSC practice).
        let bodiless_error =
            command_id.is_response() && !command_status.is_ok() && r.remaining() == 0;
        let body = match command_id {
            CommandId::GenericNack => PduBody::GenericNack,
            CommandId::Unbind => PduBody::Unbind,
            CommandId::UnbindResp => PduBody::UnbindResp,
            CommandId::EnquireLink => PduBody::EnquireLink,
            CommandId::EnquireLinkResp => PduBody::EnquireLinkResp,
            CommandId::BindReceiver => PduBody::BindReceiver(decode_bind(&mut r)?),
            CommandId::BindTransmitter => PduBody::BindTransmitter(decode_bind(&mut r)?),
            CommandId::BindTransceiver => PduBody::BindTransceiver(decode_bind(&mut r)?),
            CommandId::BindReceiverResp => {
                PduBody::BindReceiverResp(decode_bind_resp(&mut r, bodiless_error)?)
            }
            CommandId::BindTransmitterResp => {
                PduBody::BindTransmitterResp(decode_bind_resp(&mut r, bodiless_error)?)
            }
            CommandId::BindTransceiverResp => {
                PduBody::BindTransceiverResp(decode_bind_resp(&mut r, bodiless_error)?)
            }
            CommandId::Outbind => PduBody::Outbind(Outbind {
                system_id: r.c_octet_string("system_id", max::SYSTEM_ID)?,
                password: Password::new(r.c_octet_string("password", max::PASSWORD)?),
            }),
            CommandId::SubmitSm => PduBody::SubmitSm(Box::new(decode_sm(command, &mut r)?)),
            CommandId::DeliverSm => PduBody::DeliverSm(Box::new(decode_sm(command, &mut r)?)),
            CommandId::SubmitSmResp => PduBody::SubmitSmResp(if bodiless_error {
                SubmitSmResp::default()
            } else {
                SubmitSmResp {
                    message_id: r.c_octet_string("message_id", max::MESSAGE_ID)?,
                    tlvs: Tlv::decode_all(&mut r)?,
                }
            }),
            CommandId::DeliverSmResp => PduBody::DeliverSmResp(if bodiless_error {
                DeliverSmResp::default()
            } else {
                DeliverSmResp {
                    message_id: r.c_octet_string("message_id", max::MESSAGE_ID)?,
                    tlvs: Tlv::decode_all(&mut r)?,
                }
            }),
        };
        if r.remaining() > 0 {
            return Err(PduError::TrailingOctets {
                command,
                extra: r.remaining(),
                offset: r.offset(),
            });
        }
        Ok(Pdu {
            command_status,
            sequence_number: header.sequence_number,
            body,
        })
    }
}

fn encode_tlvs(command: &'static str, tlvs: &[Tlv], out: &mut Vec<u8>) -> Result<(), PduError> {
    for t in tlvs {
        t.encode(command, out)?;
    }
    Ok(())
}

fn check_time(command: &'static str, field: &'static str, value: &str) -> Result<(), PduError> {
    if value.is_empty() || value.len() == max::TIME - 1 {
        Ok(())
    } else {
        Err(PduError::InvalidTime {
            command,
            field,
            len: value.len(),
        })
    }
}

fn encode_sm(command: &'static str, sm: &SmBody, out: &mut Vec<u8>) -> Result<(), PduError> {
    put_c_octet_string(
        out,
        command,
        "service_type",
        &sm.service_type,
        max::SERVICE_TYPE,
    )?;
    out.extend_from_slice(&[sm.source_addr_ton, sm.source_addr_npi]);
    put_c_octet_string(out, command, "source_addr", &sm.source_addr, max::ADDR)?;
    out.extend_from_slice(&[sm.dest_addr_ton, sm.dest_addr_npi]);
    put_c_octet_string(
        out,
        command,
        "destination_addr",
        &sm.destination_addr,
        max::ADDR,
    )?;
    out.extend_from_slice(&[sm.esm_class.0, sm.protocol_id, sm.priority_flag]);
    check_time(
        command,
        "schedule_delivery_time",
        &sm.schedule_delivery_time,
    )?;
    put_c_octet_string(
        out,
        command,
        "schedule_delivery_time",
        &sm.schedule_delivery_time,
        max::TIME,
    )?;
    check_time(command, "validity_period", &sm.validity_period)?;
    put_c_octet_string(
        out,
        command,
        "validity_period",
        &sm.validity_period,
        max::TIME,
    )?;
    if sm.short_message.len() > max::SHORT_MESSAGE {
        return Err(PduError::TooLong {
            command,
            field: "short_message",
            len: sm.short_message.len(),
            max: max::SHORT_MESSAGE,
        });
    }
    out.extend_from_slice(&[
        sm.registered_delivery,
        sm.replace_if_present_flag,
        sm.data_coding,
        sm.sm_default_msg_id,
        sm.short_message.len() as u8,
    ]);
    out.extend_from_slice(&sm.short_message);
    encode_tlvs(command, &sm.tlvs, out)
}

fn decode_bind(r: &mut Reader<'_>) -> Result<Bind, PduError> {
    Ok(Bind {
        system_id: r.c_octet_string("system_id", max::SYSTEM_ID)?,
        password: Password::new(r.c_octet_string("password", max::PASSWORD)?),
        system_type: r.c_octet_string("system_type", max::SYSTEM_TYPE)?,
        interface_version: r.u8("interface_version")?,
        addr_ton: r.u8("addr_ton")?,
        addr_npi: r.u8("addr_npi")?,
        address_range: r.c_octet_string("address_range", max::ADDRESS_RANGE)?,
    })
}

fn decode_bind_resp(r: &mut Reader<'_>, bodiless_error: bool) -> Result<BindResp, PduError> {
    if bodiless_error {
        return Ok(BindResp::default());
    }
    Ok(BindResp {
        system_id: r.c_octet_string("system_id", max::SYSTEM_ID)?,
        tlvs: Tlv::decode_all(r)?,
    })
}

fn decode_sm(command: &'static str, r: &mut Reader<'_>) -> Result<SmBody, PduError> {
    let service_type = r.c_octet_string("service_type", max::SERVICE_TYPE)?;
    let source_addr_ton = r.u8("source_addr_ton")?;
    let source_addr_npi = r.u8("source_addr_npi")?;
    let source_addr = r.c_octet_string("source_addr", max::ADDR)?;
    let dest_addr_ton = r.u8("dest_addr_ton")?;
    let dest_addr_npi = r.u8("dest_addr_npi")?;
    let destination_addr = r.c_octet_string("destination_addr", max::ADDR)?;
    let esm_class = EsmClass(r.u8("esm_class")?);
    let protocol_id = r.u8("protocol_id")?;
    let priority_flag = r.u8("priority_flag")?;
    let schedule_delivery_time = r.c_octet_string("schedule_delivery_time", max::TIME)?;
    let validity_period = r.c_octet_string("validity_period", max::TIME)?;
    // Refused on input as on output (§7.1.1), so that a decoded PDU always encodes again.
    check_time(command, "schedule_delivery_time", &schedule_delivery_time)?;
    check_time(command, "validity_period", &validity_period)?;
    let registered_delivery = r.u8("registered_delivery")?;
    let replace_if_present_flag = r.u8("replace_if_present_flag")?;
    let data_coding = r.u8("data_coding")?;
    let sm_default_msg_id = r.u8("sm_default_msg_id")?;
    let sm_length = r.u8("sm_length")? as usize;
    if sm_length > max::SHORT_MESSAGE {
        return Err(PduError::TooLong {
            command: r.command(),
            field: "short_message",
            len: sm_length,
            max: max::SHORT_MESSAGE,
        });
    }
    let short_message = r.octets("short_message", sm_length)?.to_vec();
    let tlvs = Tlv::decode_all(r)?;
    Ok(SmBody {
        service_type,
        source_addr_ton,
        source_addr_npi,
        source_addr,
        dest_addr_ton,
        dest_addr_npi,
        destination_addr,
        esm_class,
        protocol_id,
        priority_flag,
        schedule_delivery_time,
        validity_period,
        registered_delivery,
        replace_if_present_flag,
        data_coding,
        sm_default_msg_id,
        short_message,
        tlvs,
    })
}
