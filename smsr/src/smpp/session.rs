//! One bind of the pool: connect, bind (SMPP 3.4 §4.1), exchange PDUs while bound (§2.3–2.9), unbind (§4.2),
//! and reconnect with backoff.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use es_interfaces::smpp::{
    Bind, CommandStatus, DeliverSmResp, DeliveryReceipt as ReceiptText, FrameDecoder, MessageState,
    Pdu, PduBody, PduHeader, ReceiptStat, SmBody, Tlv,
};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, mpsc, oneshot, watch};
use tokio::time::{Instant, sleep_until, timeout, timeout_at};

use super::config::{BindMode, SmppClientConfig};
use super::pacing::{Backoff, TokenBucket, bind_rate};
use super::{DeliveryReceipt, MessageId, MoAck, MoSms, SmppError, SmppEvent, Submit};

/// A deliver_sm_resp waiting for the SM-SR to store its MO SMS: the sequence number and the answer.
type PendingAck = std::pin::Pin<Box<dyn std::future::Future<Output = (u32, CommandStatus)> + Send>>;

/// A submit waiting for a bind, in flight, or waiting to be retried after throttling.
pub(crate) struct SubmitRequest {
    pub(crate) submit: Submit,
    pub(crate) reply: oneshot::Sender<Result<MessageId, SmppError>>,
    pub(crate) attempts: u32,
}

impl SubmitRequest {
    fn answer(self, result: Result<MessageId, SmppError>) {
        // The caller may have given up (submit timeout); nothing to do then.
        let _ = self.reply.send(result);
    }
}

/// What the binds of one client share.
pub(crate) struct Shared {
    pub(crate) config: SmppClientConfig,
    pub(crate) queue: Mutex<mpsc::Receiver<SubmitRequest>>,
    pub(crate) events: mpsc::Sender<SmppEvent>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) bound: AtomicUsize,
    /// This node's share of the account's submit_sm budget (`f64` bits; 0: none), set by the SM-SR
    /// ([`SmppHandle::set_node_share`](super::SmppHandle::set_node_share)).
    pub(crate) node_share: AtomicU64,
}

impl Shared {
    /// This node's share of the account's submit_sm budget, if one is set.
    pub(crate) fn node_share(&self) -> Option<f64> {
        let bits = self.node_share.load(Ordering::Relaxed);
        (bits != 0).then(|| f64::from_bits(bits))
    }
}

/// How a bound session ended.
enum End {
    /// Unbound on shutdown: stop.
    Closed,
    /// Lost or refused: reconnect after backoff.
    Lost(String),
}

/// Runs bind `index` until shutdown: connect, bind, serve, and reconnect with exponential backoff.
pub(crate) async fn run_bind(index: usize, shared: Arc<Shared>) {
    let cfg = &shared.config;
    let mut backoff = Backoff::new(cfg.reconnect_backoff_min, cfg.reconnect_backoff_max);
    let mut shutdown = shared.shutdown.clone();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let end = match connect_and_bind(&shared).await {
            Ok(conn) => {
                backoff.reset();
                tracing::info!(bind = index, host = %cfg.host, port = cfg.port, "SMPP bound");
                shared.bound.fetch_add(1, Ordering::SeqCst);
                let _ = shared.events.try_send(SmppEvent::Bound { bind: index });
                let end = Session::new(index, &shared, conn).run().await;
                shared.bound.fetch_sub(1, Ordering::SeqCst);
                end
            }
            Err(reason) => End::Lost(reason),
        };
        match end {
            End::Closed => break,
            End::Lost(reason) => {
                tracing::warn!(bind = index, %reason, "SMPP bind lost");
                let _ = shared.events.try_send(SmppEvent::Unbound {
                    bind: index,
                    reason,
                });
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(&mut shutdown) => break,
        }
    }
    tracing::info!(bind = index, "SMPP bind stopped");
}

/// A TCP connection with its frame decoder and write buffer.
struct Conn {
    rd: OwnedReadHalf,
    wr: OwnedWriteHalf,
    decoder: FrameDecoder,
    out: Vec<u8>,
}

impl Conn {
    async fn send(&mut self, pdu: &Pdu) -> Result<(), String> {
        self.out.clear();
        pdu.encode_into(&mut self.out)
            .map_err(|e| format!("encoding {}: {e}", pdu.command_id()))?;
        self.wr
            .write_all(&self.out)
            .await
            .map_err(|e| format!("write: {e}"))
    }

    /// Reads until one whole PDU is decoded (used while binding).
    async fn read_pdu(&mut self) -> Result<Pdu, String> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(frame) = self.decoder.next_frame().map_err(|e| e.to_string())? {
                return Pdu::decode(frame).map_err(|e| e.to_string());
            }
            match self.rd.read(&mut buf).await {
                Ok(0) => return Err("connection closed by the SMSC".into()),
                Ok(n) => self.decoder.extend(&buf[..n]),
                Err(e) => return Err(format!("read: {e}")),
            }
        }
    }
}

/// SMPP 3.4 §4.1: opens the TCP connection and binds with interface_version 0x34 (sequence number 1).
async fn connect_and_bind(shared: &Shared) -> Result<Conn, String> {
    let cfg = &shared.config;
    let stream = timeout(
        cfg.response_timeout,
        TcpStream::connect((cfg.host.as_str(), cfg.port)),
    )
    .await
    .map_err(|_| format!("connect to {}:{} timed out", cfg.host, cfg.port))?
    .map_err(|e| format!("connect to {}:{}: {e}", cfg.host, cfg.port))?;
    stream
        .set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let (rd, wr) = stream.into_split();
    let mut conn = Conn {
        rd,
        wr,
        decoder: FrameDecoder::default(),
        out: Vec::with_capacity(512),
    };
    let bind = bind_body(cfg);
    conn.send(&Pdu::new(1, bind)).await?;
    let deadline = Instant::now() + cfg.response_timeout;
    loop {
        let pdu = timeout_at(deadline, conn.read_pdu())
            .await
            .map_err(|_| format!("no bind response within {:?}", cfg.response_timeout))??;
        match &pdu.body {
            PduBody::BindTransceiverResp(_)
            | PduBody::BindTransmitterResp(_)
            | PduBody::BindReceiverResp(_)
            | PduBody::GenericNack
                if pdu.sequence_number == 1 =>
            {
                return if pdu.command_status.is_ok() && pdu.body != PduBody::GenericNack {
                    Ok(conn)
                } else {
                    Err(format!("bind refused: {}", pdu.command_status))
                };
            }
            PduBody::EnquireLink => {
                conn.send(&Pdu::new(pdu.sequence_number, PduBody::EnquireLinkResp))
                    .await?
            }
            other => tracing::debug!(pdu = %other.command_id(), "ignored while binding"),
        }
    }
}

/// SMPP 3.4 §4.1.1/§4.1.3/§4.1.5: the bind PDU body of the configured mode.
pub(crate) fn bind_body(cfg: &SmppClientConfig) -> PduBody {
    let bind = Bind {
        system_id: cfg.system_id.clone(),
        password: cfg.password.clone(),
        system_type: cfg.system_type.clone(),
        interface_version: es_interfaces::smpp::INTERFACE_VERSION_34,
        addr_ton: cfg.addr_ton,
        addr_npi: cfg.addr_npi,
        address_range: cfg.address_range.clone(),
    };
    match cfg.bind_mode {
        BindMode::Transceiver => PduBody::BindTransceiver(bind),
        BindMode::Transmitter => PduBody::BindTransmitter(bind),
        BindMode::Receiver => PduBody::BindReceiver(bind),
    }
}

/// docs/wire-profile.md §2: the submit_sm body for one ES5 SMS.
pub(crate) fn submit_body(cfg: &SmppClientConfig, submit: &Submit) -> SmBody {
    let p = &cfg.profile;
    let (short_message, tlvs) = if p.use_message_payload {
        (Vec::new(), vec![Tlv::MessagePayload(submit.tp_ud.clone())])
    } else {
        (submit.tp_ud.clone(), Vec::new())
    };
    SmBody {
        service_type: p.service_type.clone(),
        source_addr_ton: p.source_addr_ton,
        source_addr_npi: p.source_addr_npi,
        source_addr: p.source_addr.clone(),
        dest_addr_ton: p.dest_addr_ton,
        dest_addr_npi: p.dest_addr_npi,
        destination_addr: submit.dest_msisdn.clone(),
        esm_class: p.esm_class,
        protocol_id: p.protocol_id,
        registered_delivery: p.registered_delivery,
        data_coding: p.data_coding,
        short_message,
        tlvs,
        ..SmBody::default()
    }
}

/// Shutdown in progress: wait for the window to drain, then unbind.
struct Closing {
    deadline: Instant,
    unbind_seq: Option<u32>,
}

/// A bound session (SMPP 3.4 §2.3 "bound_trx / bound_tx / bound_rx").
struct Session<'a> {
    index: usize,
    shared: &'a Shared,
    conn: Conn,
    next_seq: u32,
    inflight: HashMap<u32, SubmitRequest>,
    deadlines: VecDeque<(Instant, u32)>,
    retry: VecDeque<SubmitRequest>,
    paused_until: Option<Instant>,
    throttle: Backoff,
    bucket: Option<TokenBucket>,
    next_enquire: Instant,
    pending_enquire: Option<(u32, Instant)>,
    closing: Option<Closing>,
    acks: FuturesUnordered<PendingAck>,
}

impl<'a> Session<'a> {
    fn new(index: usize, shared: &'a Shared, conn: Conn) -> Self {
        let cfg = &shared.config;
        Session {
            index,
            shared,
            conn,
            next_seq: 2,
            inflight: HashMap::new(),
            deadlines: VecDeque::new(),
            retry: VecDeque::new(),
            paused_until: None,
            throttle: Backoff::new(cfg.throttle_backoff_min, cfg.throttle_backoff_max),
            bucket: bind_rate(cfg.throughput_per_bind, shared.node_share(), cfg.binds)
                .map(|r| TokenBucket::new(r, 1)),
            next_enquire: Instant::now() + cfg.enquire_link_interval,
            pending_enquire: None,
            closing: None,
            acks: FuturesUnordered::new(),
        }
    }

    /// SMPP 3.4 §3.2: sequence numbers 1..=0x7FFFFFFF, wrapping.
    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    fn cfg(&self) -> &'a SmppClientConfig {
        &self.shared.config
    }

    async fn run(mut self) -> End {
        let end = self.serve().await;
        let reason = match &end {
            End::Closed => "client shut down".to_string(),
            End::Lost(r) => r.clone(),
        };
        self.fail_all(&reason);
        end
    }

    /// Fails every submit this session holds so that callers retry (or learn of the shutdown).
    fn fail_all(&mut self, reason: &str) {
        let index = self.index;
        let requests = self
            .inflight
            .drain()
            .map(|(_, r)| r)
            .chain(self.retry.drain(..));
        for req in requests {
            let dest = req.submit.dest_msisdn.clone();
            req.answer(Err(SmppError::ConnectionLost {
                dest,
                bind: index,
                reason: reason.to_string(),
            }));
        }
    }

    /// Applies a change of this node's share of the account's budget (another node came or went).
    fn follow_rate(&mut self) {
        let cfg = &self.shared.config;
        let rate = bind_rate(cfg.throughput_per_bind, self.shared.node_share(), cfg.binds);
        match (&mut self.bucket, rate) {
            (Some(b), Some(r)) if b.rate() != r => b.set_rate(r),
            (Some(_), Some(_)) => {}
            (b, r) => *b = r.map(|r| TokenBucket::new(r, 1)),
        }
    }

    fn can_send(&self, now: Instant) -> bool {
        self.cfg().bind_mode.transmits()
            && self.closing.is_none()
            && self.inflight.len() < self.cfg().window_size
            && self.paused_until.is_none_or(|p| now >= p)
            && self.bucket.as_ref().is_none_or(|b| b.ready_at(now) <= now)
    }

    /// The next instant a timer needs attention.
    fn next_wake(&self, now: Instant) -> Instant {
        let mut wake = match self.pending_enquire {
            Some((_, deadline)) => deadline,
            None => self.next_enquire,
        };
        if let Some(&(d, _)) = self.deadlines.front() {
            wake = wake.min(d);
        }
        if let Some(p) = self.paused_until {
            wake = wake.min(p);
        }
        if let Some(b) = &self.bucket
            && self.inflight.len() < self.cfg().window_size
        {
            wake = wake.min(b.ready_at(now).max(now));
        }
        if let Some(c) = &self.closing {
            wake = wake.min(c.deadline);
        }
        wake
    }

    async fn serve(&mut self) -> End {
        let shared = self.shared;
        let mut shutdown = shared.shutdown.clone();
        let mut buf = vec![0u8; 16 * 1024];
        // PDUs that came in the same read as the bind response (a deliver_sm the SMSC kept for this bind).
        if let Err(end) = self.on_frames().await {
            return end;
        }
        loop {
            let now = Instant::now();
            self.follow_rate();
            if let Err(end) = self.on_timers(now).await {
                return end;
            }
            while self.can_send(now) {
                let Some(req) = self.retry.pop_front() else {
                    break;
                };
                if let Err(end) = self.send_submit(req, now).await {
                    return end;
                }
            }
            let can_pull = self.retry.is_empty() && self.can_send(now);
            let wake = self.next_wake(now);
            tokio::select! {
                read = self.conn.rd.read(&mut buf) => match read {
                    Ok(0) => return End::Lost("connection closed by the SMSC".into()),
                    Ok(n) => {
                        self.conn.decoder.extend(&buf[..n]);
                        if let Err(end) = self.on_frames().await {
                            return end;
                        }
                    }
                    Err(e) => return End::Lost(format!("read: {e}")),
                },
                req = next_request(&shared.queue), if can_pull => match req {
                    Some(req) => {
                        if let Err(end) = self.send_submit(req, Instant::now()).await {
                            return end;
                        }
                    }
                    // Every handle is gone: nothing more will be submitted.
                    None => self.start_closing(Instant::now()),
                },
                Some((seq, status)) = self.acks.next(), if !self.acks.is_empty() => {
                    if let Err(end) = self.send_deliver_sm_resp(seq, status).await {
                        return end;
                    }
                }
                _ = sleep_until(wake) => {}
                _ = stopped(&mut shutdown), if self.closing.is_none() => {
                    self.start_closing(Instant::now());
                }
            }
        }
    }

    fn start_closing(&mut self, now: Instant) {
        self.closing = Some(Closing {
            deadline: now + self.cfg().response_timeout,
            unbind_seq: None,
        });
        for req in self.retry.drain(..) {
            req.answer(Err(SmppError::Shutdown));
        }
    }

    /// Response deadlines, enquire_link keepalive (§4.11), throttling pauses and the shutdown sequence.
    async fn on_timers(&mut self, now: Instant) -> Result<(), End> {
        while let Some(&(deadline, seq)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            if let Some(req) = self.inflight.remove(&seq) {
                let dest = req.submit.dest_msisdn.clone();
                tracing::warn!(bind = self.index, seq, %dest, "submit_sm_resp timed out");
                req.answer(Err(SmppError::ResponseTimeout {
                    dest,
                    bind: self.index,
                    sequence_number: seq,
                    timeout: self.cfg().response_timeout,
                }));
            }
        }
        if self.paused_until.is_some_and(|p| now >= p) {
            self.paused_until = None;
        }
        if let Some((_, deadline)) = self.pending_enquire
            && now >= deadline
        {
            return Err(End::Lost(format!(
                "no enquire_link_resp within {:?}",
                self.cfg().response_timeout
            )));
        }
        if let Some(closing) = &self.closing {
            if now >= closing.deadline {
                return Err(End::Closed);
            }
            if closing.unbind_seq.is_none() && self.inflight.is_empty() {
                let seq = self.seq();
                self.conn
                    .send(&Pdu::new(seq, PduBody::Unbind))
                    .await
                    .map_err(|_| End::Closed)?;
                self.closing = Some(Closing {
                    deadline: now + self.cfg().response_timeout,
                    unbind_seq: Some(seq),
                });
            }
            return Ok(());
        }
        if self.pending_enquire.is_none() && now >= self.next_enquire {
            let seq = self.seq();
            self.conn
                .send(&Pdu::new(seq, PduBody::EnquireLink))
                .await
                .map_err(End::Lost)?;
            self.pending_enquire = Some((seq, now + self.cfg().response_timeout));
            self.next_enquire = now + self.cfg().enquire_link_interval;
        }
        Ok(())
    }

    /// SMPP 3.4 §4.4.1: sends one submit_sm and puts it in the window.
    async fn send_submit(&mut self, req: SubmitRequest, now: Instant) -> Result<(), End> {
        if req.reply.is_closed() {
            return Ok(());
        }
        let seq = self.seq();
        let body = submit_body(self.cfg(), &req.submit);
        let pdu = Pdu::new(seq, PduBody::SubmitSm(Box::new(body)));
        self.conn.out.clear();
        if let Err(source) = pdu.encode_into(&mut self.conn.out) {
            let dest = req.submit.dest_msisdn.clone();
            req.answer(Err(SmppError::Encode { dest, source }));
            return Ok(());
        }
        if let Some(b) = &mut self.bucket {
            b.take(now);
        }
        self.inflight.insert(seq, req);
        self.deadlines
            .push_back((now + self.cfg().response_timeout, seq));
        self.conn
            .wr
            .write_all(&self.conn.out)
            .await
            .map_err(|e| End::Lost(format!("write: {e}")))
    }

    /// Decodes and handles every whole PDU received.
    async fn on_frames(&mut self) -> Result<(), End> {
        loop {
            let (decoded, header) = match self.conn.decoder.next_frame() {
                Err(e) => return Err(End::Lost(format!("framing: {e}"))),
                Ok(None) => return Ok(()),
                Ok(Some(frame)) => (Pdu::decode(frame), PduHeader::parse(frame)),
            };
            self.next_enquire = Instant::now() + self.cfg().enquire_link_interval;
            match decoded {
                Ok(pdu) => self.on_pdu(pdu).await?,
                Err(e) => {
                    tracing::warn!(bind = self.index, error = %e, "undecodable PDU from the SMSC");
                    if let Ok(h) = header
                        && h.command_id & 0x8000_0000 == 0
                    {
                        let nack = Pdu::generic_nack(h.sequence_number, e.command_status());
                        self.conn.send(&nack).await.map_err(End::Lost)?;
                    }
                }
            }
        }
    }

    async fn on_pdu(&mut self, pdu: Pdu) -> Result<(), End> {
        let seq = pdu.sequence_number;
        let status = pdu.command_status;
        match pdu.body {
            PduBody::SubmitSmResp(resp) => self.on_submit_resp(seq, status, resp.message_id),
            PduBody::GenericNack => {
                if let Some(req) = self.inflight.remove(&seq) {
                    let dest = req.submit.dest_msisdn.clone();
                    req.answer(Err(SmppError::Rejected { dest, status }));
                } else if self.pending_enquire.is_some_and(|(s, _)| s == seq) {
                    self.pending_enquire = None;
                } else {
                    tracing::warn!(bind = self.index, seq, %status, "generic_nack from the SMSC");
                }
            }
            PduBody::EnquireLink => {
                let resp = Pdu::new(seq, PduBody::EnquireLinkResp);
                self.conn.send(&resp).await.map_err(End::Lost)?;
            }
            PduBody::EnquireLinkResp => {
                if self.pending_enquire.is_some_and(|(s, _)| s == seq) {
                    self.pending_enquire = None;
                }
            }
            PduBody::DeliverSm(sm) => self.on_deliver_sm(seq, *sm).await?,
            PduBody::Unbind => {
                let resp = Pdu::new(seq, PduBody::UnbindResp);
                let _ = self.conn.send(&resp).await;
                return Err(End::Lost("unbind from the SMSC".into()));
            }
            PduBody::UnbindResp => {
                if self
                    .closing
                    .as_ref()
                    .is_some_and(|c| c.unbind_seq == Some(seq))
                {
                    return Err(End::Closed);
                }
            }
            body @ (PduBody::BindReceiver(_)
            | PduBody::BindTransmitter(_)
            | PduBody::BindTransceiver(_)
            | PduBody::Outbind(_)
            | PduBody::SubmitSm(_)) => {
                // Not valid from an SMSC in a bound session (§2.3).
                let resp = Pdu::new(seq, body).error_response(CommandStatus::ESME_RINVBNDSTS);
                self.conn.send(&resp).await.map_err(End::Lost)?;
            }
            other => {
                tracing::debug!(bind = self.index, pdu = %other.command_id(), "unexpected response ignored");
            }
        }
        Ok(())
    }

    /// SMPP 3.4 §4.4.2: completes a submit, or queues it again after ESME_RTHROTTLED / ESME_RMSGQFUL.
    fn on_submit_resp(&mut self, seq: u32, status: CommandStatus, message_id: String) {
        let Some(mut req) = self.inflight.remove(&seq) else {
            tracing::debug!(
                bind = self.index,
                seq,
                "submit_sm_resp for no submit in flight"
            );
            return;
        };
        if status.is_ok() {
            self.throttle.reset();
            req.answer(Ok(MessageId(message_id)));
            return;
        }
        let dest = req.submit.dest_msisdn.clone();
        if !status.is_throttling() {
            req.answer(Err(SmppError::Rejected { dest, status }));
            return;
        }
        req.attempts += 1;
        if req.attempts > self.cfg().max_throttle_retries {
            let attempts = req.attempts;
            req.answer(Err(SmppError::Throttled {
                dest,
                status,
                attempts,
            }));
            return;
        }
        let now = Instant::now();
        if self.paused_until.is_none_or(|p| p <= now) {
            let pause = self.throttle.next_delay();
            tracing::debug!(bind = self.index, %status, ?pause, "SMSC throttling; pausing the bind");
            self.paused_until = Some(now + pause);
        }
        self.retry.push_back(req);
    }

    /// SMPP 3.4 §4.6: hands a deliver_sm to the SM-SR and answers deliver_sm_resp; for an MO SMS only once the
    /// SM-SR has stored it ([`MoAck`]), meanwhile the session goes on.
    async fn on_deliver_sm(&mut self, seq: u32, sm: SmBody) -> Result<(), End> {
        let mut stored = None;
        let event = if sm.esm_class.is_receipt() {
            receipt_event(&sm, self.index).map(SmppEvent::DeliveryReceipt)
        } else if sm.esm_class.message_type() == 0 {
            let (ack, answer) = MoAck::new();
            stored = Some(answer);
            Some(SmppEvent::MoSms(MoSms {
                tp_ud: sm.user_data().to_vec(),
                source_addr: sm.source_addr,
                dest_addr: sm.destination_addr,
                esm_class: sm.esm_class,
                protocol_id: sm.protocol_id,
                data_coding: sm.data_coding,
                bind: self.index,
                ack,
            }))
        } else {
            tracing::debug!(
                bind = self.index,
                esm_class = sm.esm_class.0,
                "deliver_sm of an unused message type"
            );
            None
        };
        let status = match event {
            Some(ev) => match self.shared.events.send(ev).await {
                Ok(()) => CommandStatus::ESME_ROK,
                // Nobody listens: ask the SMSC to retry later (§5.1.3 ESME_RX_T_APPN).
                Err(_) => CommandStatus::ESME_RX_T_APPN,
            },
            None => CommandStatus::ESME_ROK,
        };
        match stored {
            Some(answer) if status == CommandStatus::ESME_ROK => {
                // Every clone of the ack dropped without an answer: the SM-SR took the SMS.
                self.acks.push(Box::pin(async move {
                    (seq, answer.await.unwrap_or(CommandStatus::ESME_ROK))
                }));
                Ok(())
            }
            _ => self.send_deliver_sm_resp(seq, status).await,
        }
    }

    async fn send_deliver_sm_resp(&mut self, seq: u32, status: CommandStatus) -> Result<(), End> {
        let resp = Pdu {
            command_status: status,
            sequence_number: seq,
            body: PduBody::DeliverSmResp(DeliverSmResp::default()),
        };
        self.conn.send(&resp).await.map_err(End::Lost)
    }
}

/// SMPP 3.4 §5.3.2.12 / §5.3.2.35 / Appendix B: the receipt from the TLVs and the text, whichever are present.
fn receipt_event(sm: &SmBody, bind: usize) -> Option<DeliveryReceipt> {
    let text = ReceiptText::parse(sm.user_data()).ok();
    let message_id = sm
        .receipted_message_id()
        .map(str::to_string)
        .or_else(|| text.as_ref().map(|t| t.id.clone()));
    let stat = text
        .as_ref()
        .map(|t| t.stat.clone())
        .or_else(|| sm.message_state().and_then(stat_of_state));
    match (message_id, stat) {
        (Some(id), Some(stat)) => Some(DeliveryReceipt {
            message_id: MessageId(id),
            stat,
            err: text.map(|t| t.err).unwrap_or_default(),
            source_addr: sm.source_addr.clone(),
            dest_addr: sm.destination_addr.clone(),
            bind,
        }),
        _ => {
            tracing::warn!(bind, "delivery receipt without message id or state ignored");
            None
        }
    }
}

/// SMPP 3.4 §5.2.28 to Appendix B Table B-2.
fn stat_of_state(state: MessageState) -> Option<ReceiptStat> {
    Some(match state {
        MessageState::Enroute => ReceiptStat::Enroute,
        MessageState::Delivered => ReceiptStat::Delivered,
        MessageState::Expired => ReceiptStat::Expired,
        MessageState::Deleted => ReceiptStat::Deleted,
        MessageState::Undeliverable => ReceiptStat::Undeliverable,
        MessageState::Accepted => ReceiptStat::Accepted,
        MessageState::Unknown => ReceiptStat::Unknown,
        MessageState::Rejected => ReceiptStat::Rejected,
        MessageState::Other(_) => return None,
    })
}

/// Takes the next submit from the queue the binds share (cancel-safe: lock and recv both are).
async fn next_request(queue: &Mutex<mpsc::Receiver<SubmitRequest>>) -> Option<SubmitRequest> {
    queue.lock().await.recv().await
}

/// Resolves once shutdown is asked for (or the client is dropped).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use es_interfaces::smpp::EsmClass;

    fn receipt_sm(text: &[u8], tlvs: Vec<Tlv>) -> SmBody {
        SmBody {
            source_addr: "4917".into(),
            destination_addr: "4477".into(),
            esm_class: EsmClass(EsmClass::SMSC_DELIVERY_RECEIPT),
            short_message: text.to_vec(),
            tlvs,
            ..SmBody::default()
        }
    }

    #[test]
    fn receipt_from_tlvs_alone() {
        let sm = receipt_sm(
            b"",
            vec![
                Tlv::ReceiptedMessageId("A1".into()),
                Tlv::MessageState(MessageState::Expired),
            ],
        );
        let r = receipt_event(&sm, 2).expect("receipt");
        assert_eq!(r.message_id, MessageId("A1".into()));
        assert_eq!(r.stat, ReceiptStat::Expired);
        assert_eq!((r.err.as_str(), r.bind), ("", 2));
    }

    #[test]
    fn receipt_from_text_alone_and_tlv_id_preferred() {
        let text = b"id:77 sub:001 dlvrd:000 submit date:2501011200 done date:2501011201 stat:UNDELIV err:005 text:";
        let r = receipt_event(&receipt_sm(text, vec![]), 0).expect("receipt");
        assert_eq!(
            (r.message_id.0.as_str(), r.stat, r.err.as_str()),
            ("77", ReceiptStat::Undeliverable, "005")
        );
        // Some SMSCs write the id in decimal in the text and in hex in the TLV: the TLV wins.
        let sm = receipt_sm(text, vec![Tlv::ReceiptedMessageId("4D".into())]);
        assert_eq!(receipt_event(&sm, 0).expect("receipt").message_id.0, "4D");
    }

    #[test]
    fn receipt_without_id_or_state_is_dropped() {
        assert_eq!(receipt_event(&receipt_sm(b"garbage", vec![]), 0), None);
        let sm = receipt_sm(b"", vec![Tlv::ReceiptedMessageId("A1".into())]);
        assert_eq!(receipt_event(&sm, 0), None);
    }

    #[test]
    fn submit_body_follows_the_wire_profile() {
        let cfg = SmppClientConfig::new("h", 1, "s", es_interfaces::smpp::Password::new("p"));
        let sm = submit_body(&cfg, &Submit::new("4917", vec![2, 0x70, 0]));
        assert_eq!(
            (
                sm.esm_class.0,
                sm.protocol_id,
                sm.data_coding,
                sm.registered_delivery
            ),
            (0x40, 0x7F, 0xF6, 1)
        );
        assert_eq!((sm.dest_addr_ton, sm.dest_addr_npi), (1, 1));
        assert_eq!(sm.short_message, vec![2, 0x70, 0]);
        let mut cfg = cfg;
        cfg.profile.use_message_payload = true;
        let sm = submit_body(&cfg, &Submit::new("4917", vec![1; 300]));
        assert!(sm.short_message.is_empty());
        assert_eq!(sm.tlvs, vec![Tlv::MessagePayload(vec![1; 300])]);
    }
}
