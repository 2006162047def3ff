//! Configuration of the SM-SR's SMPP client: the SMSC account and its binds (SMPP 3.4 §4.1), windowing and
//! timers (§2.7–2.9), and the fixed submit_sm fields of ES5 SMS (docs/wire-profile.md §2).

use std::time::Duration;

use es_interfaces::smpp::{EsmClass, Password};

use super::SmppError;

/// SMPP 3.4 §2.2: the session type a bind opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BindMode {
    /// bind_transceiver (§4.1.5): submits and receives deliver_sm on one session.
    #[default]
    Transceiver,
    /// bind_transmitter (§4.1.1): submits only.
    Transmitter,
    /// bind_receiver (§4.1.3): receives deliver_sm only.
    Receiver,
}

impl BindMode {
    /// True when this session may send submit_sm (§2.3).
    pub fn transmits(self) -> bool {
        !matches!(self, BindMode::Receiver)
    }
}

/// docs/wire-profile.md §2: the submit_sm fields of every ES5 SMS (SCP80 command packets and push SMS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitProfile {
    /// service_type (empty: SMSC default).
    pub service_type: String,
    /// source_addr_ton of the SM-SR's address.
    pub source_addr_ton: u8,
    /// source_addr_npi of the SM-SR's address.
    pub source_addr_npi: u8,
    /// source_addr: the SM-SR's short code or MSISDN (empty: the SMSC fills it).
    pub source_addr: String,
    /// dest_addr_ton: 1 (international) for an MSISDN.
    pub dest_addr_ton: u8,
    /// dest_addr_npi: 1 (E.164).
    pub dest_addr_npi: u8,
    /// esm_class 0x40: UDHI (the TP-UD starts with the `02 70 00` command-packet UDH).
    pub esm_class: EsmClass,
    /// protocol_id 0x7F: (U)SIM data download (3GPP TS 23.040 TP-PID).
    pub protocol_id: u8,
    /// data_coding 0xF6: 8-bit data, class 2 (SIM specific).
    pub data_coding: u8,
    /// registered_delivery 1: a final delivery receipt is asked for.
    pub registered_delivery: u8,
    /// Carry the TP-UD in the message_payload TLV (SMPP 3.4 §5.3.2.32) instead of short_message.
    pub use_message_payload: bool,
}

impl Default for SubmitProfile {
    fn default() -> Self {
        SubmitProfile {
            service_type: String::new(),
            source_addr_ton: 1,
            source_addr_npi: 1,
            source_addr: String::new(),
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            esm_class: EsmClass(EsmClass::UDHI),
            protocol_id: 0x7F,
            data_coding: 0xF6,
            registered_delivery: 1,
            use_message_payload: false,
        }
    }
}

/// The SMPP client: one SMSC account, `binds` sessions to it sharing the load (SMPP 3.4 §2, §4.1).
#[derive(Debug, Clone)]
pub struct SmppClientConfig {
    /// SMSC host name or address.
    pub host: String,
    /// SMSC port (2775 by convention).
    pub port: u16,
    /// system_id of the account (≤ 15 characters).
    pub system_id: String,
    /// password of the account (≤ 8 characters).
    pub password: Password,
    /// system_type (≤ 12 characters, often empty).
    pub system_type: String,
    /// The kind of session each bind opens.
    pub bind_mode: BindMode,
    /// addr_ton of the bind's address_range.
    pub addr_ton: u8,
    /// addr_npi of the bind's address_range.
    pub addr_npi: u8,
    /// address_range of mobile-originated addresses this ESME serves (≤ 40 characters; empty: SMSC default).
    pub address_range: String,
    /// Number of simultaneous binds (SMSCs commonly allow 1–20 per account).
    pub binds: usize,
    /// Outstanding submit_sm per bind awaiting their submit_sm_resp (§2.7 "windowing").
    pub window_size: usize,
    /// submit_sm per second per bind; `None` for no limit.
    pub throughput_per_bind: Option<f64>,
    /// submit_sm per second of the account across every SM-SR node sharing the database (issue 14): each live
    /// node takes an equal share and its binds equal parts of it (the lower of that and `throughput_per_bind`
    /// applies); `None` for no shared budget.
    pub throughput_total: Option<f64>,
    /// An idle bind sends enquire_link after this long (§4.11).
    pub enquire_link_interval: Duration,
    /// Deadline for any response (bind, submit_sm, enquire_link, unbind).
    pub response_timeout: Duration,
    /// First reconnect delay after a lost or refused bind.
    pub reconnect_backoff_min: Duration,
    /// Largest reconnect delay.
    pub reconnect_backoff_max: Duration,
    /// First pause of a bind after ESME_RTHROTTLED / ESME_RMSGQFUL; doubles while they go on.
    pub throttle_backoff_min: Duration,
    /// Largest such pause.
    pub throttle_backoff_max: Duration,
    /// Submits of one message refused with ESME_RTHROTTLED / ESME_RMSGQFUL before the caller gets an error.
    pub max_throttle_retries: u32,
    /// Overall deadline of [`SmppHandle::submit`](super::SmppHandle::submit), waiting for a bind included.
    pub submit_timeout: Duration,
    /// Submits waiting for a bind (beyond, `submit` waits for room).
    pub queue_capacity: usize,
    /// Events buffered for the SM-SR before deliver_sm_resp is held back.
    pub event_capacity: usize,
    /// The submit_sm fields of ES5 SMS.
    pub profile: SubmitProfile,
}

impl SmppClientConfig {
    /// A configuration with the defaults below for `host:port` and the account credentials.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        system_id: impl Into<String>,
        password: Password,
    ) -> Self {
        SmppClientConfig {
            host: host.into(),
            port,
            system_id: system_id.into(),
            password,
            system_type: String::new(),
            bind_mode: BindMode::Transceiver,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
            binds: 1,
            window_size: 10,
            throughput_per_bind: None,
            throughput_total: None,
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            reconnect_backoff_min: Duration::from_millis(500),
            reconnect_backoff_max: Duration::from_secs(60),
            throttle_backoff_min: Duration::from_millis(200),
            throttle_backoff_max: Duration::from_secs(10),
            max_throttle_retries: 10,
            submit_timeout: Duration::from_secs(120),
            queue_capacity: 10_000,
            event_capacity: 1_000,
            profile: SubmitProfile::default(),
        }
    }

    /// Checks the values a session cannot work with.
    pub(crate) fn validate(&self) -> Result<(), SmppError> {
        let bad = |what: &str| Err(SmppError::Config(what.to_string()));
        if self.binds == 0 {
            return bad("binds must be at least 1");
        }
        if self.window_size == 0 {
            return bad("window_size must be at least 1");
        }
        if matches!(self.throughput_per_bind, Some(r) if !(r > 0.0 && r.is_finite())) {
            return bad("throughput_per_bind must be a positive number of messages per second");
        }
        if matches!(self.throughput_total, Some(r) if !(r > 0.0 && r.is_finite())) {
            return bad("throughput_total must be a positive number of messages per second");
        }
        if self.response_timeout.is_zero() || self.enquire_link_interval.is_zero() {
            return bad("response_timeout and enquire_link_interval must be positive");
        }
        if self.queue_capacity == 0 || self.event_capacity == 0 {
            return bad("queue_capacity and event_capacity must be at least 1");
        }
        Ok(())
    }
}
