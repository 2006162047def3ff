//! The SM-SR's SMPP 3.4 client (ESME) towards an SMSC: ES5 SMS out as submit_sm (docs/wire-profile.md §2),
//! PoRs and eUICC notifications in as deliver_sm, with delivery receipts.
//!
//! [`SmppClient::start`] opens a pool of binds to one SMSC account and returns an [`SmppHandle`] (clone it freely)
//! and the [`SmppEvents`] stream. Each bind is a task that connects, binds (interface_version 0x34), keeps a
//! window of outstanding submit_sm matched to their submit_sm_resp by sequence number, paces itself with a token
//! bucket, backs off on ESME_RTHROTTLED / ESME_RMSGQFUL and retries, keeps the link alive with enquire_link,
//! answers the SMSC's enquire_link, unbind and deliver_sm, and reconnects with exponential backoff. A lost
//! connection fails the submits in flight ([`SmppError::ConnectionLost`]) so that callers retry.
//! Free binds take the next submit from a shared queue, so the load goes to the least busy bind.

mod client;
mod config;
mod pacing;
mod session;

pub use client::{SmppClient, SmppEvents, SmppHandle};
pub use config::{BindMode, SmppClientConfig, SubmitProfile};
pub use pacing::{Backoff, TokenBucket};

use std::fmt;
use std::time::Duration;

use es_interfaces::smpp::{CommandStatus, EsmClass, PduError, ReceiptStat};

/// SMPP 3.4 §4.4.2: the message_id an SMSC gave a submitted message.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageId(pub String);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One mobile-terminated ES5 SMS to submit (docs/wire-profile.md §2): the other submit_sm fields come from the
/// [`SubmitProfile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// destination_addr: the MSISDN of the eUICC's enabled profile, digits only (international format).
    pub dest_msisdn: String,
    /// The TP-UD: UDH and secured packet (at most 254 octets in short_message; more with message_payload).
    pub tp_ud: Vec<u8>,
}

impl Submit {
    /// A submit of `tp_ud` to `dest_msisdn`.
    pub fn new(dest_msisdn: impl Into<String>, tp_ud: Vec<u8>) -> Self {
        Submit {
            dest_msisdn: dest_msisdn.into(),
            tp_ud,
        }
    }
}

/// A mobile-originated SMS from deliver_sm (SMPP 3.4 §4.6.1): a PoR or an eUICC notification (wire-profile §2, §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoSms {
    /// source_addr: the sender's MSISDN.
    pub source_addr: String,
    /// destination_addr: the SM-SR's address the SMS was sent to.
    pub dest_addr: String,
    /// The TP-UD (short_message, or message_payload when present).
    pub tp_ud: Vec<u8>,
    /// esm_class as received (UDHI tells whether `tp_ud` starts with a UDH).
    pub esm_class: EsmClass,
    /// protocol_id (TP-PID).
    pub protocol_id: u8,
    /// data_coding (TP-DCS).
    pub data_coding: u8,
    /// The bind it arrived on (0-based).
    pub bind: usize,
    /// Answers the SMSC's deliver_sm once the SM-SR has stored what the SMS brought.
    pub ack: MoAck,
}

/// The deliver_sm_resp of an MO SMS, held back until the SM-SR has committed what the SMS brought (SMPP 3.4
/// §4.6.2; design §3 step 4): an SMS the SM-SR acknowledged is never lost by a crash of the SM-SR, since an SMSC
/// keeps and retries one that is not acknowledged. [`MoAck::stored`] answers ESME_ROK, [`MoAck::retry_later`]
/// ESME_RX_T_APPN (the SMSC delivers it again); dropping every clone without either answers ESME_ROK (the
/// receiver took the SMS). Clones share the one answer; the ack is not part of the message's value, so any two
/// compare equal.
#[derive(Clone)]
pub struct MoAck(
    std::sync::Arc<std::sync::Mutex<Option<tokio::sync::oneshot::Sender<CommandStatus>>>>,
);

impl MoAck {
    /// An ack and the receiver of its answer.
    pub fn new() -> (MoAck, tokio::sync::oneshot::Receiver<CommandStatus>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (
            MoAck(std::sync::Arc::new(std::sync::Mutex::new(Some(tx)))),
            rx,
        )
    }

    fn answer(&self, status: CommandStatus) {
        let taken = match self.0.lock() {
            Ok(mut g) => g.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(tx) = taken {
            // The session may be gone (connection lost): the SMSC then delivers the SMS again.
            let _ = tx.send(status);
        }
    }

    /// What the SMS brought is committed: ESME_ROK.
    pub fn stored(&self) {
        self.answer(CommandStatus::ESME_ROK);
    }

    /// It could not be stored now: ESME_RX_T_APPN, the SMSC delivers it again later (SMPP 3.4 §5.1.3).
    pub fn retry_later(&self) {
        self.answer(CommandStatus::ESME_RX_T_APPN);
    }
}

impl fmt::Debug for MoAck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MoAck")
    }
}

impl PartialEq for MoAck {
    fn eq(&self, _: &MoAck) -> bool {
        true
    }
}

impl Eq for MoAck {}

/// An SMSC delivery receipt (SMPP 3.4 §4.6.1 esm_class 0x04, Appendix B): the outcome of a submitted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReceipt {
    /// The message_id from submit_sm_resp (receipted_message_id TLV, else the text's `id:`).
    pub message_id: MessageId,
    /// `stat:` (or the message_state TLV when there is no text).
    pub stat: ReceiptStat,
    /// `err:` as sent (empty when absent).
    pub err: String,
    /// source_addr: the handset the message went to.
    pub source_addr: String,
    /// destination_addr: the SM-SR's address.
    pub dest_addr: String,
    /// The bind it arrived on (0-based).
    pub bind: usize,
}

/// What the client hands to the SM-SR: MO SMS, delivery receipts, and bind state changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmppEvent {
    /// A mobile-originated SMS (deliver_sm with message type 0).
    MoSms(MoSms),
    /// A delivery receipt or intermediate notification (deliver_sm with message type 0x04 or 0x20).
    DeliveryReceipt(DeliveryReceipt),
    /// Bind `bind` is bound (SMPP 3.4 §2.2); sent again after each reconnect. Bind state events are best effort:
    /// dropped, unlike SMS and receipts, when the event buffer is full.
    Bound {
        /// The bind (0-based).
        bind: usize,
    },
    /// Bind `bind` lost its session or could not bind; it retries after backoff.
    Unbound {
        /// The bind (0-based).
        bind: usize,
        /// Why.
        reason: String,
    },
}

/// Errors of the SMPP client, each with what a caller needs to decide whether to retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmppError {
    /// The configuration cannot work (the text says which value).
    #[error("invalid SMPP client configuration: {0}")]
    Config(String),
    /// The submit_sm cannot be encoded (e.g. a TP-UD over 254 octets without message_payload).
    #[error("submit_sm to {dest} cannot be encoded: {source}")]
    Encode {
        /// The destination MSISDN.
        dest: String,
        /// The codec's reason.
        source: PduError,
    },
    /// The SMSC refused the message with this command_status (SMPP 3.4 §5.1.3).
    #[error("SMSC refused submit_sm to {dest}: {status}")]
    Rejected {
        /// The destination MSISDN.
        dest: String,
        /// The command_status of submit_sm_resp (or generic_nack).
        status: CommandStatus,
    },
    /// The SMSC kept answering ESME_RTHROTTLED / ESME_RMSGQFUL.
    #[error("SMSC still throttling submit_sm to {dest} after {attempts} attempts ({status})")]
    Throttled {
        /// The destination MSISDN.
        dest: String,
        /// The last command_status.
        status: CommandStatus,
        /// Submits tried.
        attempts: u32,
    },
    /// No submit_sm_resp within the response timeout: the message may or may not have been accepted.
    #[error(
        "no submit_sm_resp for {dest} within {timeout:?} on bind {bind} (sequence_number {sequence_number})"
    )]
    ResponseTimeout {
        /// The destination MSISDN.
        dest: String,
        /// The bind.
        bind: usize,
        /// The submit_sm's sequence number.
        sequence_number: u32,
        /// The configured response timeout.
        timeout: Duration,
    },
    /// The connection went down before the submit_sm_resp: the message may or may not have been accepted.
    #[error("connection of bind {bind} lost before submit_sm_resp for {dest}: {reason}")]
    ConnectionLost {
        /// The destination MSISDN.
        dest: String,
        /// The bind.
        bind: usize,
        /// Why the connection went down.
        reason: String,
    },
    /// No bind took and answered the submit within the overall submit timeout.
    #[error("submit_sm to {dest} not completed within {timeout:?}")]
    SubmitTimeout {
        /// The destination MSISDN.
        dest: String,
        /// The configured submit timeout.
        timeout: Duration,
    },
    /// The client is shut down.
    #[error("the SMPP client is shut down")]
    Shutdown,
}
