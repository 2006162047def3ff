//! SMPP 3.4 §5.1.2 command_id values and §5.1.3 command_status (error) codes.

use std::fmt;

/// SMPP 3.4 §5.1.2: the command_id of every PDU this codec implements. Responses have bit 31 set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CommandId {
    /// generic_nack (§4.3.1).
    GenericNack = 0x8000_0000,
    /// bind_receiver (§4.1.3).
    BindReceiver = 0x0000_0001,
    /// bind_receiver_resp (§4.1.4).
    BindReceiverResp = 0x8000_0001,
    /// bind_transmitter (§4.1.1).
    BindTransmitter = 0x0000_0002,
    /// bind_transmitter_resp (§4.1.2).
    BindTransmitterResp = 0x8000_0002,
    /// submit_sm (§4.4.1).
    SubmitSm = 0x0000_0004,
    /// submit_sm_resp (§4.4.2).
    SubmitSmResp = 0x8000_0004,
    /// deliver_sm (§4.6.1).
    DeliverSm = 0x0000_0005,
    /// deliver_sm_resp (§4.6.2).
    DeliverSmResp = 0x8000_0005,
    /// unbind (§4.2.1).
    Unbind = 0x0000_0006,
    /// unbind_resp (§4.2.2).
    UnbindResp = 0x8000_0006,
    /// bind_transceiver (§4.1.5).
    BindTransceiver = 0x0000_0009,
    /// bind_transceiver_resp (§4.1.6).
    BindTransceiverResp = 0x8000_0009,
    /// outbind (§4.1.7).
    Outbind = 0x0000_000B,
    /// enquire_link (§4.11.1).
    EnquireLink = 0x0000_0015,
    /// enquire_link_resp (§4.11.2).
    EnquireLinkResp = 0x8000_0015,
}

impl CommandId {
    /// SMPP 3.4 §5.1.2: the command for a command_id value, if this codec implements it.
    pub fn from_u32(value: u32) -> Option<Self> {
        use CommandId::*;
        Some(match value {
            0x8000_0000 => GenericNack,
            0x0000_0001 => BindReceiver,
            0x8000_0001 => BindReceiverResp,
            0x0000_0002 => BindTransmitter,
            0x8000_0002 => BindTransmitterResp,
            0x0000_0004 => SubmitSm,
            0x8000_0004 => SubmitSmResp,
            0x0000_0005 => DeliverSm,
            0x8000_0005 => DeliverSmResp,
            0x0000_0006 => Unbind,
            0x8000_0006 => UnbindResp,
            0x0000_0009 => BindTransceiver,
            0x8000_0009 => BindTransceiverResp,
            0x0000_000B => Outbind,
            0x0000_0015 => EnquireLink,
            0x8000_0015 => EnquireLinkResp,
            _ => return None,
        })
    }

    /// SMPP 3.4 §5.1.2: the command_id value.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// SMPP 3.4 §5.1.2: true for response PDUs (bit 31 set).
    pub fn is_response(self) -> bool {
        self.as_u32() & 0x8000_0000 != 0
    }

    /// SMPP 3.4 §4: the PDU name as the specification writes it.
    pub fn name(self) -> &'static str {
        use CommandId::*;
        match self {
            GenericNack => "generic_nack",
            BindReceiver => "bind_receiver",
            BindReceiverResp => "bind_receiver_resp",
            BindTransmitter => "bind_transmitter",
            BindTransmitterResp => "bind_transmitter_resp",
            SubmitSm => "submit_sm",
            SubmitSmResp => "submit_sm_resp",
            DeliverSm => "deliver_sm",
            DeliverSmResp => "deliver_sm_resp",
            Unbind => "unbind",
            UnbindResp => "unbind_resp",
            BindTransceiver => "bind_transceiver",
            BindTransceiverResp => "bind_transceiver_resp",
            Outbind => "outbind",
            EnquireLink => "enquire_link",
            EnquireLinkResp => "enquire_link_resp",
        }
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

macro_rules! command_status {
    ($( $(#[$doc:meta])* $name:ident = $value:expr, )*) => {
        /// SMPP 3.4 §5.1.3: the command_status (error) codes; values not listed there are kept in `Other`.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum CommandStatus {
            $( $(#[$doc])* $name, )*
            /// A value not defined by SMPP 3.4 (reserved, vendor-specific 0x400–0x4FF, or SMPP 5.0).
            Other(u32),
        }

        impl CommandStatus {
            /// SMPP 3.4 §5.1.3: the status for a command_status value.
            pub fn from_u32(value: u32) -> Self {
                match value {
                    $( $value => CommandStatus::$name, )*
                    other => CommandStatus::Other(other),
                }
            }

            /// SMPP 3.4 §5.1.3: the command_status value.
            pub fn as_u32(self) -> u32 {
                match self {
                    $( CommandStatus::$name => $value, )*
                    CommandStatus::Other(v) => v,
                }
            }

            /// SMPP 3.4 §5.1.3: the specification's name, e.g. `ESME_RTHROTTLED`.
            pub fn name(self) -> &'static str {
                match self {
                    $( CommandStatus::$name => stringify!($name), )*
                    CommandStatus::Other(_) => "ESME_R(other)",
                }
            }
        }
    };
}

command_status! {
    /// No error.
    ESME_ROK = 0x0000_0000,
    /// Message length is invalid.
    ESME_RINVMSGLEN = 0x0000_0001,
    /// Command length is invalid.
    ESME_RINVCMDLEN = 0x0000_0002,
    /// Invalid command ID.
    ESME_RINVCMDID = 0x0000_0003,
    /// Incorrect BIND status for given command.
    ESME_RINVBNDSTS = 0x0000_0004,
    /// ESME already in bound state.
    ESME_RALYBND = 0x0000_0005,
    /// Invalid priority flag.
    ESME_RINVPRTFLG = 0x0000_0006,
    /// Invalid registered delivery flag.
    ESME_RINVREGDLVFLG = 0x0000_0007,
    /// System error.
    ESME_RSYSERR = 0x0000_0008,
    /// Invalid source address.
    ESME_RINVSRCADR = 0x0000_000A,
    /// Invalid destination address.
    ESME_RINVDSTADR = 0x0000_000B,
    /// Message ID is invalid.
    ESME_RINVMSGID = 0x0000_000C,
    /// Bind failed.
    ESME_RBINDFAIL = 0x0000_000D,
    /// Invalid password.
    ESME_RINVPASWD = 0x0000_000E,
    /// Invalid system_id.
    ESME_RINVSYSID = 0x0000_000F,
    /// cancel_sm failed.
    ESME_RCANCELFAIL = 0x0000_0011,
    /// replace_sm failed.
    ESME_RREPLACEFAIL = 0x0000_0013,
    /// Message queue full.
    ESME_RMSGQFUL = 0x0000_0014,
    /// Invalid service type.
    ESME_RINVSERTYP = 0x0000_0015,
    /// Invalid number of destinations.
    ESME_RINVNUMDESTS = 0x0000_0033,
    /// Invalid distribution list name.
    ESME_RINVDLNAME = 0x0000_0034,
    /// Destination flag is invalid (submit_multi).
    ESME_RINVDESTFLAG = 0x0000_0040,
    /// Invalid "submit with replace" request.
    ESME_RINVSUBREP = 0x0000_0042,
    /// Invalid esm_class field data.
    ESME_RINVESMCLASS = 0x0000_0043,
    /// Cannot submit to distribution list.
    ESME_RCNTSUBDL = 0x0000_0044,
    /// submit_sm or submit_multi failed.
    ESME_RSUBMITFAIL = 0x0000_0045,
    /// Invalid source address TON.
    ESME_RINVSRCTON = 0x0000_0048,
    /// Invalid source address NPI.
    ESME_RINVSRCNPI = 0x0000_0049,
    /// Invalid destination address TON.
    ESME_RINVDSTTON = 0x0000_0050,
    /// Invalid destination address NPI.
    ESME_RINVDSTNPI = 0x0000_0051,
    /// Invalid system_type field.
    ESME_RINVSYSTYP = 0x0000_0053,
    /// Invalid replace_if_present flag.
    ESME_RINVREPFLAG = 0x0000_0054,
    /// Invalid number of messages.
    ESME_RINVNUMMSGS = 0x0000_0055,
    /// Throttling error (ESME has exceeded allowed message limits).
    ESME_RTHROTTLED = 0x0000_0058,
    /// Invalid scheduled delivery time.
    ESME_RINVSCHED = 0x0000_0061,
    /// Invalid message validity period (expiry time).
    ESME_RINVEXPIRY = 0x0000_0062,
    /// Predefined message invalid or not found.
    ESME_RINVDFTMSGID = 0x0000_0063,
    /// ESME receiver temporary app error code.
    ESME_RX_T_APPN = 0x0000_0064,
    /// ESME receiver permanent app error code.
    ESME_RX_P_APPN = 0x0000_0065,
    /// ESME receiver reject message error code.
    ESME_RX_R_APPN = 0x0000_0066,
    /// query_sm request failed.
    ESME_RQUERYFAIL = 0x0000_0067,
    /// Error in the optional part of the PDU body.
    ESME_RINVOPTPARSTREAM = 0x0000_00C0,
    /// Optional parameter not allowed.
    ESME_ROPTPARNOTALLWD = 0x0000_00C1,
    /// Invalid parameter length.
    ESME_RINVPARLEN = 0x0000_00C2,
    /// Expected optional parameter missing.
    ESME_RMISSINGOPTPARAM = 0x0000_00C3,
    /// Invalid optional parameter value.
    ESME_RINVOPTPARAMVAL = 0x0000_00C4,
    /// Delivery failure (used for data_sm_resp).
    ESME_RDELIVERYFAILURE = 0x0000_00FE,
    /// Unknown error.
    ESME_RUNKNOWNERR = 0x0000_00FF,
}

impl CommandStatus {
    /// SMPP 3.4 §5.1.3: true for ESME_ROK.
    pub fn is_ok(self) -> bool {
        self == CommandStatus::ESME_ROK
    }

    /// True for the statuses that ask the ESME to slow down and retry later (§5.1.3 ESME_RTHROTTLED and
    /// ESME_RMSGQFUL; the SMSC accepted nothing).
    pub fn is_throttling(self) -> bool {
        matches!(
            self,
            CommandStatus::ESME_RTHROTTLED | CommandStatus::ESME_RMSGQFUL
        )
    }
}

impl fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (0x{:08X})", self.name(), self.as_u32())
    }
}
