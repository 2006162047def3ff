//! A test SMSC: an SMPP 3.4 server (SMPP 3.4 §2, §4) for the SM-SR's binds, in front of a simulated mobile
//! network.
//!
//! It checks each bind's system_id and password, answers submit_sm with a message id, hands mobile-terminated
//! SMS (after a configurable latency, with seeded loss) to a [`MobileNetwork`] by destination MSISDN, sends
//! delivery receipts (Appendix B text plus receipted_message_id / message_state TLVs) when registered_delivery
//! asks, and sends mobile-originated SMS from the network side ([`TestSmsc::send_mo`]) as deliver_sm to a bound
//! receiver of the account that serves the destination address ([`SmscAccount::addresses`]; any receiver when
//! none does), so that several SM-SRs can share it; [`TestSmsc::forward_mo`] stores an MO SMS no ESME took and retries it, as an SMSC's store and
//! forward does (3GPP TS 23.040 §3.2.5: the message waits within its validity period). A per-bind throughput cap answers ESME_RTHROTTLED beyond it. Counters and the recorded binds and
//! submits let tests check what crossed the wire; [`bench`] measures submit throughput.

pub mod bench;
mod network;
mod server;

pub use network::{DeliverAll, HandsetRouter};
pub use server::TestSmsc;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use es_interfaces::smpp::{CommandStatus, Password, SmBody};

/// A boxed future, so that [`MobileNetwork`] can be used as a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A mobile-terminated SMS as the network hands it to a handset (3GPP TS 23.040 SMS-DELIVER content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtSms {
    /// The destination MSISDN (destination_addr of the submit_sm).
    pub msisdn: String,
    /// The originating address (source_addr of the submit_sm).
    pub source_addr: String,
    /// The TP-UD (short_message, or message_payload when present).
    pub tp_ud: Vec<u8>,
    /// TP-UDHI: the TP-UD starts with a user data header (esm_class bit 6).
    pub udhi: bool,
    /// TP-PID (protocol_id).
    pub protocol_id: u8,
    /// TP-DCS (data_coding).
    pub data_coding: u8,
    /// The message id the SMSC gave the submit.
    pub message_id: String,
}

/// What became of a mobile-terminated SMS in the network; drives the delivery receipt (Appendix B `stat:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MtOutcome {
    /// The handset acknowledged it (`stat:DELIVRD`).
    Delivered,
    /// It could not be delivered (`stat:UNDELIV`, `err:` this code).
    Undeliverable {
        /// Network error code for the receipt's `err:` field.
        err: u16,
    },
}

/// The simulated mobile network behind the SMSC: it receives MT SMS by destination MSISDN. The eUICC simulator
/// implements this (or registers with a [`HandsetRouter`]).
pub trait MobileNetwork: Send + Sync + 'static {
    /// Delivers one MT SMS to the handset with `mt.msisdn`.
    fn deliver_mt(&self, mt: MtSms) -> BoxFuture<'_, MtOutcome>;
}

/// An account the SMSC accepts binds for (SMPP 3.4 §4.1 system_id / password).
#[derive(Debug, Clone)]
pub struct SmscAccount {
    /// system_id.
    pub system_id: String,
    /// password.
    pub password: Password,
    /// The addresses (short codes, MSISDNs; a leading `+` is ignored) whose mobile-originated SMS go to this
    /// account's receivers only, as an SMSC routes MO SMS by destination address to the ESME serving it (SMPP 3.4
    /// §2.2): two SM-SRs behind one SMSC each get what the eUICCs send to their own MSISDN. MO SMS to an
    /// address no account lists go to any bound receiver.
    pub addresses: Vec<String>,
}

/// Configuration of the test SMSC.
#[derive(Debug, Clone)]
pub struct SmscConfig {
    /// Where to listen; port 0 picks a free port ([`TestSmsc::local_addr`] tells which).
    pub listen: SocketAddr,
    /// The SMSC's system_id in bind responses.
    pub system_id: String,
    /// Accounts allowed to bind.
    pub accounts: Vec<SmscAccount>,
    /// Send a delivery receipt when registered_delivery bit 0 asks for one.
    pub receipts: bool,
    /// Delay before submit_sm_resp (to exercise the client's window).
    pub response_delay: Duration,
    /// Network latency between submit and delivery to the handset: uniform in `latency.0 ..= latency.1`.
    pub latency: (Duration, Duration),
    /// Probability that an MT SMS is lost in the network (no delivery, no receipt).
    pub loss_probability: f64,
    /// Seed of the randomness for latency and loss (same seed, same submit order: same outcomes).
    pub seed: u64,
    /// submit_sm per second accepted on one bind; beyond, `throttle_status`. `None`: no cap.
    pub throughput_cap_per_bind: Option<u32>,
    /// The status answered beyond the cap: ESME_RTHROTTLED, or ESME_RMSGQFUL as some SMSCs do.
    pub throttle_status: CommandStatus,
    /// Send enquire_link to idle binds at this interval (SMPP 3.4 §4.11); `None`: never.
    pub enquire_link_interval: Option<Duration>,
    /// Keep every bind and submit for inspection ([`TestSmsc::binds`], [`TestSmsc::submits`]).
    pub record: bool,
    /// How long [`TestSmsc::forward_mo`] keeps an MO SMS no ESME took before it gives up (its validity period).
    pub mo_validity: Duration,
    /// First and longest pause between deliveries of a stored MO SMS (doubling); a receiver binding ends the
    /// pause at once.
    pub mo_retry_interval: (Duration, Duration),
    /// Most deliver_sm awaiting their deliver_sm_resp on one bind (the SMPP window; SMPP 3.4 §2.7 lets either
    /// side send asynchronously, every SMSC bounds it): further MO SMS wait at the SMSC, and the response timer
    /// of a deliver_sm starts only when it is sent.
    pub mo_window: usize,
}

impl SmscConfig {
    /// A loopback SMSC on a free port accepting one account, with receipts on, no latency, loss or cap; MO SMS
    /// kept 10 minutes, retried after 100 ms doubling up to 2 s, at most 64 unanswered deliver_sm per bind.
    pub fn loopback(system_id: &str, password: &str) -> Self {
        SmscConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            system_id: "TESTSMSC".into(),
            accounts: vec![SmscAccount {
                system_id: system_id.into(),
                password: Password::new(password),
                addresses: Vec::new(),
            }],
            receipts: true,
            response_delay: Duration::ZERO,
            latency: (Duration::ZERO, Duration::ZERO),
            loss_probability: 0.0,
            seed: 0,
            throughput_cap_per_bind: None,
            throttle_status: CommandStatus::ESME_RTHROTTLED,
            enquire_link_interval: None,
            record: true,
            mo_validity: Duration::from_secs(600),
            mo_retry_interval: (Duration::from_millis(100), Duration::from_secs(2)),
            mo_window: 64,
        }
    }
}

/// SMPP 3.4 §4.1: a bind the SMSC received, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedBind {
    /// Session number (1-based, per connection).
    pub session: u64,
    /// bind_transmitter, bind_receiver or bind_transceiver.
    pub command: &'static str,
    /// system_id.
    pub system_id: String,
    /// system_type.
    pub system_type: String,
    /// interface_version.
    pub interface_version: u8,
    /// addr_ton.
    pub addr_ton: u8,
    /// addr_npi.
    pub addr_npi: u8,
    /// address_range.
    pub address_range: String,
    /// The command_status answered.
    pub status: CommandStatus,
}

/// SMPP 3.4 §4.4.1: a submit_sm the SMSC accepted, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedSubmit {
    /// Session number.
    pub session: u64,
    /// The message id answered.
    pub message_id: String,
    /// The PDU body as received.
    pub body: SmBody,
}

/// What the SMSC counted so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmscCounters {
    /// Binds accepted.
    pub binds_accepted: u64,
    /// Binds refused (bad credentials, already bound).
    pub binds_refused: u64,
    /// submit_sm accepted (answered ESME_ROK).
    pub submitted: u64,
    /// submit_sm refused for the throughput cap (ESME_RTHROTTLED or ESME_RMSGQFUL).
    pub throttled: u64,
    /// MT SMS the network delivered.
    pub delivered: u64,
    /// MT SMS the network could not deliver.
    pub undeliverable: u64,
    /// MT SMS lost (loss injection).
    pub lost: u64,
    /// Delivery receipts sent (deliver_sm with esm_class 0x04).
    pub receipts_sent: u64,
    /// MO SMS sent (deliver_sm answered ESME_ROK).
    pub mo_sent: u64,
    /// Deliveries of stored MO SMS tried again by [`TestSmsc::forward_mo`] (no receiver bound, no
    /// deliver_sm_resp, or a temporary error status).
    pub mo_retries: u64,
    /// Stored MO SMS given up at the end of their validity period.
    pub mo_expired: u64,
    /// enquire_link received from ESMEs.
    pub enquire_links_received: u64,
    /// enquire_link_resp received for the SMSC's own enquire_link.
    pub enquire_link_resps_received: u64,
    /// Most submit_sm one session had without a submit_sm_resp yet (the client's window, seen from here).
    pub max_outstanding: u64,
}

/// Errors of the test SMSC.
#[derive(Debug, thiserror::Error)]
pub enum SmscError {
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No ESME is bound as receiver or transceiver to take a deliver_sm.
    #[error("no receiver or transceiver is bound to take the MO SMS from {from}")]
    NoReceiver {
        /// The sending MSISDN.
        from: String,
    },
    /// The ESME answered the deliver_sm with an error status.
    #[error("ESME answered deliver_sm from {from} with {status}")]
    Refused {
        /// The sending MSISDN.
        from: String,
        /// The deliver_sm_resp command_status.
        status: CommandStatus,
    },
    /// No deliver_sm_resp within the deadline, or the session closed first.
    #[error("no deliver_sm_resp for the MO SMS from {from}")]
    NoResponse {
        /// The sending MSISDN.
        from: String,
    },
    /// The deliver_sm could not be encoded (addresses too long, TP-UD over 254 octets).
    #[error("deliver_sm from {from} cannot be encoded: {source}")]
    Encode {
        /// The sending MSISDN.
        from: String,
        /// The codec's reason.
        source: es_interfaces::smpp::PduError,
    },
}
