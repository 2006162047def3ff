//! The test SMSC's server side: accept loop, one task per SMPP session (SMPP 3.4 §2.3), submit handling,
//! MT delivery with latency and loss, delivery receipts (Appendix B) and MO deliver_sm.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use es_interfaces::smpp::{
    Bind, BindResp, CommandStatus, DeliveryReceipt, EsmClass, FrameDecoder, MessageState, Pdu,
    PduBody, PduHeader, ReceiptStat, SmBody, SubmitSmResp, Tlv,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

use super::{
    MobileNetwork, MtOutcome, MtSms, RecordedBind, RecordedSubmit, SmscConfig, SmscCounters,
    SmscError,
};

/// How long the SMSC waits for a deliver_sm_resp.
const DELIVER_RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Commands to a session task from the rest of the SMSC.
enum Cmd {
    /// Send a deliver_sm and report the deliver_sm_resp status.
    Deliver {
        body: SmBody,
        reply: oneshot::Sender<CommandStatus>,
    },
    /// Send a response prepared earlier (a delayed submit_sm_resp).
    SubmitResp(Pdu),
    /// Send unbind (SMPP 3.4 §4.2.1) and close on unbind_resp.
    Unbind,
    /// Drop the TCP connection without a word.
    Drop,
}

/// A bound session as the rest of the SMSC sees it.
struct SessionEntry {
    id: u64,
    system_id: String,
    receives: bool,
    cmd: mpsc::Sender<Cmd>,
    /// Permits for deliver_sm awaiting their response ([`SmscConfig::mo_window`]).
    window: Arc<tokio::sync::Semaphore>,
}

#[derive(Default)]
struct Counters {
    binds_accepted: AtomicU64,
    binds_refused: AtomicU64,
    submitted: AtomicU64,
    throttled: AtomicU64,
    delivered: AtomicU64,
    undeliverable: AtomicU64,
    lost: AtomicU64,
    receipts_sent: AtomicU64,
    mo_sent: AtomicU64,
    mo_retries: AtomicU64,
    mo_expired: AtomicU64,
    enquire_links_received: AtomicU64,
    enquire_link_resps_received: AtomicU64,
    max_outstanding: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Inner {
    config: SmscConfig,
    network: Arc<dyn MobileNetwork>,
    counters: Counters,
    sessions: Mutex<Vec<SessionEntry>>,
    binds: Mutex<Vec<RecordedBind>>,
    submits: Mutex<Vec<RecordedSubmit>>,
    rng: Mutex<StdRng>,
    next_message_id: AtomicU64,
    next_session: AtomicU64,
    mo_cursor: AtomicUsize,
    /// Woken when a receiver or transceiver binds (stored MO SMS go at once).
    receiver_bound: Notify,
    shutdown: watch::Sender<bool>,
}

/// The test SMSC: an SMPP 3.4 server on a local port in front of a [`MobileNetwork`].
pub struct TestSmsc {
    inner: Arc<Inner>,
    local_addr: SocketAddr,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl TestSmsc {
    /// Starts listening (on the current tokio runtime) and serving binds.
    pub async fn start(
        config: SmscConfig,
        network: Arc<dyn MobileNetwork>,
    ) -> Result<TestSmsc, SmscError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| SmscError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| SmscError::Listen {
            addr: config.listen,
            source,
        })?;
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            config,
            network,
            counters: Counters::default(),
            sessions: Mutex::new(Vec::new()),
            binds: Mutex::new(Vec::new()),
            submits: Mutex::new(Vec::new()),
            next_message_id: AtomicU64::new(1),
            next_session: AtomicU64::new(1),
            mo_cursor: AtomicUsize::new(0),
            receiver_bound: Notify::new(),
            shutdown,
        });
        let accept = tokio::spawn(accept_loop(inner.clone(), listener));
        tracing::info!(%local_addr, "test SMSC listening");
        Ok(TestSmsc {
            inner,
            local_addr,
            accept: Mutex::new(Some(accept)),
        })
    }

    /// The address the SMSC listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The counters so far.
    pub fn counters(&self) -> SmscCounters {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SmscCounters {
            binds_accepted: get(&c.binds_accepted),
            binds_refused: get(&c.binds_refused),
            submitted: get(&c.submitted),
            throttled: get(&c.throttled),
            delivered: get(&c.delivered),
            undeliverable: get(&c.undeliverable),
            lost: get(&c.lost),
            receipts_sent: get(&c.receipts_sent),
            mo_sent: get(&c.mo_sent),
            mo_retries: get(&c.mo_retries),
            mo_expired: get(&c.mo_expired),
            enquire_links_received: get(&c.enquire_links_received),
            enquire_link_resps_received: get(&c.enquire_link_resps_received),
            max_outstanding: get(&c.max_outstanding),
        }
    }

    /// Every bind received so far (when `record` is on).
    pub fn binds(&self) -> Vec<RecordedBind> {
        lock(&self.inner.binds).clone()
    }

    /// Every submit_sm accepted so far (when `record` is on).
    pub fn submits(&self) -> Vec<RecordedSubmit> {
        lock(&self.inner.submits).clone()
    }

    /// Sessions bound right now.
    pub fn bound_sessions(&self) -> usize {
        lock(&self.inner.sessions).len()
    }

    /// The system_id of the account serving `address` ([`super::SmscAccount::addresses`]), if one does.
    fn owner_of(&self, address: &str) -> Option<&str> {
        let address = address.trim_start_matches('+');
        self.inner
            .config
            .accounts
            .iter()
            .find(|a| {
                a.addresses
                    .iter()
                    .any(|x| x.trim_start_matches('+') == address)
            })
            .map(|a| a.system_id.as_str())
    }

    /// SMPP 3.4 §4.6.1: sends a mobile-originated SMS from `from_msisdn` to `to_address` as deliver_sm to a bound
    /// receiver or transceiver (round robin) of the account serving `to_address` (of any account when none
    /// lists it; [`TestSmsc::forward_mo`] keeps it while that account has no receiver bound), with esm_class 0x40 (UDHI), protocol_id 0x7F and data_coding 0xF6 as
    /// an eUICC's SCP80 packet arrives (docs/wire-profile.md §2); TP-UD over 254 octets goes in message_payload.
    /// Waits for the deliver_sm_resp.
    pub async fn send_mo(
        &self,
        from_msisdn: &str,
        to_address: &str,
        tp_ud: &[u8],
    ) -> Result<(), SmscError> {
        let from = from_msisdn.to_string();
        let (short_message, tlvs) = if tp_ud.len() <= 254 {
            (tp_ud.to_vec(), Vec::new())
        } else {
            (Vec::new(), vec![Tlv::MessagePayload(tp_ud.to_vec())])
        };
        let body = SmBody {
            source_addr_ton: 1,
            source_addr_npi: 1,
            source_addr: from_msisdn.into(),
            dest_addr_ton: 1,
            dest_addr_npi: 1,
            destination_addr: to_address.into(),
            esm_class: EsmClass(EsmClass::UDHI),
            protocol_id: 0x7F,
            data_coding: 0xF6,
            short_message,
            tlvs,
            ..SmBody::default()
        };
        Pdu::new(1, PduBody::DeliverSm(Box::new(body.clone())))
            .encode()
            .map_err(|source| SmscError::Encode {
                from: from.clone(),
                source,
            })?;
        let cmd = {
            let owner = self.owner_of(to_address);
            let sessions = lock(&self.inner.sessions);
            let receivers: Vec<_> = sessions
                .iter()
                .filter(|s| s.receives && owner.is_none_or(|o| s.system_id == o))
                .collect();
            if receivers.is_empty() {
                return Err(SmscError::NoReceiver { from });
            }
            let i = self.inner.mo_cursor.fetch_add(1, Ordering::Relaxed) % receivers.len();
            (receivers[i].cmd.clone(), receivers[i].window.clone())
        };
        let (cmd, window) = cmd;
        // Wait for room in the bind's window; the response timer starts when the deliver_sm is sent.
        let status = match window.acquire_owned().await {
            Ok(_permit) => deliver(&cmd, body).await,
            Err(_) => None,
        }
        .ok_or_else(|| SmscError::NoResponse { from: from.clone() })?;
        if status.is_ok() {
            inc(&self.inner.counters.mo_sent);
            Ok(())
        } else {
            Err(SmscError::Refused { from, status })
        }
    }

    /// [`TestSmsc::send_mo`] with store and forward (3GPP TS 23.040 §3.2.5; SMPP 3.4 §5.1.3 ESME_RX_T_APPN): an
    /// MO SMS that no bound ESME took — none bound, no deliver_sm_resp (the session died), or a temporary error
    /// status — is kept and delivered again after `mo_retry_interval` (doubling; at once when a receiver
    /// binds) until `mo_validity` has passed, then given up with the last error. Each new try counts in
    /// `mo_retries`, each give-up in `mo_expired`. A deliver_sm the ESME received but did not answer is sent
    /// again: the ESME may get an MO twice, as from any SMSC.
    pub async fn forward_mo(
        &self,
        from_msisdn: &str,
        to_address: &str,
        tp_ud: &[u8],
    ) -> Result<(), SmscError> {
        let config = &self.inner.config;
        let deadline = Instant::now() + config.mo_validity;
        let mut pause = config.mo_retry_interval.0;
        loop {
            let bound = self.inner.receiver_bound.notified();
            let error = match self.send_mo(from_msisdn, to_address, tp_ud).await {
                Err(
                    e @ (SmscError::NoReceiver { .. }
                    | SmscError::NoResponse { .. }
                    | SmscError::Refused {
                        status: CommandStatus::ESME_RX_T_APPN,
                        ..
                    }),
                ) => e,
                other => return other,
            };
            let now = Instant::now();
            if now >= deadline {
                inc(&self.inner.counters.mo_expired);
                return Err(error);
            }
            tracing::debug!(from = %from_msisdn, %error, "MO SMS stored for another delivery");
            tokio::select! {
                _ = sleep(pause.min(deadline - now)) => {}
                _ = bound => {}
            }
            inc(&self.inner.counters.mo_retries);
            pause = (pause * 2).min(config.mo_retry_interval.1);
        }
    }

    /// Drops every bound connection abruptly (no unbind), as a failing SMSC would.
    pub fn drop_connections(&self) {
        for s in lock(&self.inner.sessions).iter() {
            let _ = s.cmd.try_send(Cmd::Drop);
        }
    }

    /// SMPP 3.4 §4.2.1: asks every bound ESME to unbind.
    pub fn unbind_all(&self) {
        for s in lock(&self.inner.sessions).iter() {
            let _ = s.cmd.try_send(Cmd::Unbind);
        }
    }

    /// Stops listening and closes every session.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let task = lock(&self.accept).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for TestSmsc {
    fn drop(&mut self) {
        self.inner.shutdown.send_replace(true);
    }
}

/// Sends a deliver_sm through a session and waits for its deliver_sm_resp status.
async fn deliver(cmd: &mpsc::Sender<Cmd>, body: SmBody) -> Option<CommandStatus> {
    let (reply, status) = oneshot::channel();
    cmd.send(Cmd::Deliver { body, reply }).await.ok()?;
    timeout(DELIVER_RESPONSE_TIMEOUT, status).await.ok()?.ok()
}

async fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    let mut stop = inner.shutdown.subscribe();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let id = inner.next_session.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(session = id, %peer, "SMPP connection");
                    tokio::spawn(Session::serve(inner.clone(), stream, id));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
            _ = stopped(&mut stop) => break,
        }
    }
}

/// The bind state of one connection (SMPP 3.4 §2.3).
struct Bound {
    system_id: String,
    transmits: bool,
}

struct Session {
    inner: Arc<Inner>,
    id: u64,
    wr: OwnedWriteHalf,
    out: Vec<u8>,
    cmd_tx: mpsc::Sender<Cmd>,
    bound: Option<Bound>,
    next_seq: u32,
    pending: HashMap<u32, oneshot::Sender<CommandStatus>>,
    unbind_seq: Option<u32>,
    outstanding: u64,
    cap_window: (Instant, u32),
}

/// Why a session ends.
struct Close;

impl Session {
    async fn serve(inner: Arc<Inner>, stream: TcpStream, id: u64) {
        let _ = stream.set_nodelay(true);
        let (mut rd, wr) = stream.into_split();
        let (cmd_tx, mut cmd_rx) = mpsc::channel(1024);
        let mut stop = inner.shutdown.subscribe();
        let mut session = Session {
            inner: inner.clone(),
            id,
            wr,
            out: Vec::with_capacity(512),
            cmd_tx,
            bound: None,
            next_seq: 1,
            pending: HashMap::new(),
            unbind_seq: None,
            outstanding: 0,
            cap_window: (Instant::now(), 0),
        };
        let mut decoder = FrameDecoder::default();
        let mut buf = vec![0u8; 16 * 1024];
        let enquire_every = inner.config.enquire_link_interval;
        let mut next_enquire = enquire_every.map(|d| Instant::now() + d);
        loop {
            let wake = next_enquire.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            let step: Result<(), Close> = tokio::select! {
                read = rd.read(&mut buf) => match read {
                    Ok(0) | Err(_) => Err(Close),
                    Ok(n) => {
                        decoder.extend(&buf[..n]);
                        session.on_frames(&mut decoder).await
                    }
                },
                cmd = cmd_rx.recv() => match cmd {
                    Some(cmd) => session.on_cmd(cmd).await,
                    None => Err(Close),
                },
                _ = tokio::time::sleep_until(wake) => {
                    next_enquire = enquire_every.map(|d| Instant::now() + d);
                    let seq = session.seq();
                    session.send(&Pdu::new(seq, PduBody::EnquireLink)).await
                }
                _ = stopped(&mut stop) => Err(Close),
            };
            if step.is_err() {
                break;
            }
        }
        lock(&inner.sessions).retain(|s| s.id != id);
        tracing::debug!(session = id, "SMPP session closed");
    }

    fn seq(&mut self) -> u32 {
        let s = self.next_seq;
        self.next_seq = if s >= 0x7FFF_FFFF { 1 } else { s + 1 };
        s
    }

    async fn send(&mut self, pdu: &Pdu) -> Result<(), Close> {
        self.out.clear();
        if let Err(e) = pdu.encode_into(&mut self.out) {
            tracing::error!(session = self.id, error = %e, "cannot encode PDU");
            return Err(Close);
        }
        self.wr.write_all(&self.out).await.map_err(|_| Close)
    }

    async fn on_cmd(&mut self, cmd: Cmd) -> Result<(), Close> {
        match cmd {
            Cmd::Deliver { body, reply } => {
                let seq = self.seq();
                self.pending.insert(seq, reply);
                self.send(&Pdu::new(seq, PduBody::DeliverSm(Box::new(body))))
                    .await
            }
            Cmd::SubmitResp(pdu) => {
                self.outstanding = self.outstanding.saturating_sub(1);
                self.send(&pdu).await
            }
            Cmd::Unbind => {
                let seq = self.seq();
                self.unbind_seq = Some(seq);
                self.send(&Pdu::new(seq, PduBody::Unbind)).await
            }
            Cmd::Drop => Err(Close),
        }
    }

    async fn on_frames(&mut self, decoder: &mut FrameDecoder) -> Result<(), Close> {
        loop {
            let (decoded, header) = match decoder.next_frame() {
                Err(e) => {
                    tracing::warn!(session = self.id, error = %e, "framing error; closing");
                    return Err(Close);
                }
                Ok(None) => return Ok(()),
                Ok(Some(frame)) => (Pdu::decode(frame), PduHeader::parse(frame)),
            };
            match decoded {
                Ok(pdu) => self.on_pdu(pdu).await?,
                Err(e) => {
                    tracing::warn!(session = self.id, error = %e, "undecodable PDU");
                    if let Ok(h) = header
                        && h.command_id & 0x8000_0000 == 0
                    {
                        self.send(&Pdu::generic_nack(h.sequence_number, e.command_status()))
                            .await?;
                    }
                }
            }
        }
    }

    async fn on_pdu(&mut self, pdu: Pdu) -> Result<(), Close> {
        let seq = pdu.sequence_number;
        match pdu.body {
            PduBody::BindTransceiver(b) => {
                self.on_bind(seq, "bind_transceiver", b, true, true).await
            }
            PduBody::BindTransmitter(b) => {
                self.on_bind(seq, "bind_transmitter", b, true, false).await
            }
            PduBody::BindReceiver(b) => self.on_bind(seq, "bind_receiver", b, false, true).await,
            PduBody::SubmitSm(sm) => self.on_submit(seq, *sm).await,
            PduBody::EnquireLink => {
                inc(&self.inner.counters.enquire_links_received);
                self.send(&Pdu::new(seq, PduBody::EnquireLinkResp)).await
            }
            PduBody::EnquireLinkResp => {
                inc(&self.inner.counters.enquire_link_resps_received);
                Ok(())
            }
            PduBody::DeliverSmResp(_) => {
                if let Some(reply) = self.pending.remove(&seq) {
                    let _ = reply.send(pdu.command_status);
                }
                Ok(())
            }
            PduBody::GenericNack => {
                if let Some(reply) = self.pending.remove(&seq) {
                    let _ = reply.send(pdu.command_status);
                }
                Ok(())
            }
            PduBody::Unbind => {
                let _ = self.send(&Pdu::new(seq, PduBody::UnbindResp)).await;
                Err(Close)
            }
            PduBody::UnbindResp if self.unbind_seq == Some(seq) => Err(Close),
            body @ (PduBody::DeliverSm(_) | PduBody::Outbind(_)) => {
                let resp = Pdu::new(seq, body).error_response(CommandStatus::ESME_RINVBNDSTS);
                self.send(&resp).await
            }
            _ => Ok(()),
        }
    }

    /// SMPP 3.4 §4.1: checks the credentials and answers the bind.
    async fn on_bind(
        &mut self,
        seq: u32,
        command: &'static str,
        bind: Bind,
        transmits: bool,
        receives: bool,
    ) -> Result<(), Close> {
        let status = if self.bound.is_some() {
            CommandStatus::ESME_RALYBND
        } else {
            match self
                .inner
                .config
                .accounts
                .iter()
                .find(|a| a.system_id == bind.system_id)
            {
                None => CommandStatus::ESME_RINVSYSID,
                Some(a) if !a.password.matches(bind.password.expose()) => {
                    CommandStatus::ESME_RINVPASWD
                }
                Some(_) => CommandStatus::ESME_ROK,
            }
        };
        if self.inner.config.record {
            lock(&self.inner.binds).push(RecordedBind {
                session: self.id,
                command,
                system_id: bind.system_id.clone(),
                system_type: bind.system_type.clone(),
                interface_version: bind.interface_version,
                addr_ton: bind.addr_ton,
                addr_npi: bind.addr_npi,
                address_range: bind.address_range.clone(),
                status,
            });
        }
        let resp = BindResp {
            system_id: self.inner.config.system_id.clone(),
            tlvs: vec![Tlv::ScInterfaceVersion(0x34)],
        };
        let body = match command {
            "bind_transceiver" => PduBody::BindTransceiverResp(resp),
            "bind_transmitter" => PduBody::BindTransmitterResp(resp),
            _ => PduBody::BindReceiverResp(resp),
        };
        self.send(&Pdu {
            command_status: status,
            sequence_number: seq,
            body,
        })
        .await?;
        if !status.is_ok() {
            inc(&self.inner.counters.binds_refused);
            // An already bound session stays up; a failed bind ends the connection.
            return if status == CommandStatus::ESME_RALYBND {
                Ok(())
            } else {
                Err(Close)
            };
        }
        inc(&self.inner.counters.binds_accepted);
        self.bound = Some(Bound {
            system_id: bind.system_id.clone(),
            transmits,
        });
        lock(&self.inner.sessions).push(SessionEntry {
            id: self.id,
            system_id: bind.system_id,
            receives,
            cmd: self.cmd_tx.clone(),
            window: Arc::new(tokio::sync::Semaphore::new(
                self.inner.config.mo_window.max(1),
            )),
        });
        if receives {
            self.inner.receiver_bound.notify_waiters();
        }
        Ok(())
    }

    /// True when this bind is over its per-second cap (fixed one-second windows).
    fn over_cap(&mut self) -> bool {
        let Some(cap) = self.inner.config.throughput_cap_per_bind else {
            return false;
        };
        let now = Instant::now();
        if now.duration_since(self.cap_window.0) >= Duration::from_secs(1) {
            self.cap_window = (now, 0);
        }
        if self.cap_window.1 >= cap {
            return true;
        }
        self.cap_window.1 += 1;
        false
    }

    /// SMPP 3.4 §4.4: answers a submit_sm and sends the message into the network.
    async fn on_submit(&mut self, seq: u32, sm: SmBody) -> Result<(), Close> {
        let refuse = |status| Pdu {
            command_status: status,
            sequence_number: seq,
            body: PduBody::SubmitSmResp(SubmitSmResp::default()),
        };
        let Some(bound) = &self.bound else {
            return self.send(&refuse(CommandStatus::ESME_RINVBNDSTS)).await;
        };
        if !bound.transmits {
            return self.send(&refuse(CommandStatus::ESME_RINVBNDSTS)).await;
        }
        let system_id = bound.system_id.clone();
        if sm.destination_addr.is_empty() {
            return self.send(&refuse(CommandStatus::ESME_RINVDSTADR)).await;
        }
        if self.over_cap() {
            inc(&self.inner.counters.throttled);
            return self.send(&refuse(self.inner.config.throttle_status)).await;
        }
        let n = self.inner.next_message_id.fetch_add(1, Ordering::Relaxed);
        let message_id = format!("{n:08X}");
        inc(&self.inner.counters.submitted);
        let (lost, latency) = {
            let cfg = &self.inner.config;
            let mut rng = lock(&self.inner.rng);
            let lost = cfg.loss_probability > 0.0 && rng.random_bool(cfg.loss_probability.min(1.0));
            let (lo, hi) = cfg.latency;
            let latency = if hi > lo {
                Duration::from_nanos(rng.random_range(lo.as_nanos() as u64..=hi.as_nanos() as u64))
            } else {
                lo
            };
            (lost, latency)
        };
        if self.inner.config.record {
            lock(&self.inner.submits).push(RecordedSubmit {
                session: self.id,
                message_id: message_id.clone(),
                body: sm.clone(),
            });
        }
        tokio::spawn(deliver_mt(
            self.inner.clone(),
            self.id,
            system_id,
            message_id.clone(),
            sm,
            lost,
            latency,
        ));
        let resp = Pdu::new(
            seq,
            PduBody::SubmitSmResp(SubmitSmResp {
                message_id,
                tlvs: vec![],
            }),
        );
        self.outstanding += 1;
        self.inner
            .counters
            .max_outstanding
            .fetch_max(self.outstanding, Ordering::Relaxed);
        let delay = self.inner.config.response_delay;
        if delay.is_zero() {
            self.outstanding -= 1;
            self.send(&resp).await
        } else {
            let cmd = self.cmd_tx.clone();
            tokio::spawn(async move {
                sleep(delay).await;
                let _ = cmd.send(Cmd::SubmitResp(resp)).await;
            });
            Ok(())
        }
    }
}

/// The network leg of one MT SMS: latency, loss, delivery to the handset, then the receipt.
async fn deliver_mt(
    inner: Arc<Inner>,
    session: u64,
    system_id: String,
    message_id: String,
    sm: SmBody,
    lost: bool,
    latency: Duration,
) {
    let submit_date = receipt_date();
    if !latency.is_zero() {
        sleep(latency).await;
    }
    if lost {
        inc(&inner.counters.lost);
        return;
    }
    let mt = MtSms {
        msisdn: sm.destination_addr.clone(),
        source_addr: sm.source_addr.clone(),
        tp_ud: sm.user_data().to_vec(),
        udhi: sm.esm_class.udhi(),
        protocol_id: sm.protocol_id,
        data_coding: sm.data_coding,
        message_id: message_id.clone(),
    };
    let outcome = inner.network.deliver_mt(mt).await;
    let (stat, state, err) = match outcome {
        MtOutcome::Delivered => {
            inc(&inner.counters.delivered);
            (ReceiptStat::Delivered, MessageState::Delivered, 0)
        }
        MtOutcome::Undeliverable { err } => {
            inc(&inner.counters.undeliverable);
            (ReceiptStat::Undeliverable, MessageState::Undeliverable, err)
        }
    };
    if !inner.config.receipts || sm.registered_delivery & 0x01 == 0 {
        return;
    }
    let text = DeliveryReceipt {
        id: message_id.clone(),
        sub: "001".into(),
        dlvrd: if state == MessageState::Delivered {
            "001"
        } else {
            "000"
        }
        .into(),
        submit_date,
        done_date: receipt_date(),
        stat,
        err: format!("{err:03}"),
        text: String::new(),
    };
    let body = SmBody {
        source_addr_ton: sm.dest_addr_ton,
        source_addr_npi: sm.dest_addr_npi,
        source_addr: sm.destination_addr,
        dest_addr_ton: sm.source_addr_ton,
        dest_addr_npi: sm.source_addr_npi,
        destination_addr: sm.source_addr,
        esm_class: EsmClass(EsmClass::SMSC_DELIVERY_RECEIPT),
        short_message: text.to_text().into_bytes(),
        tlvs: vec![
            Tlv::ReceiptedMessageId(message_id),
            Tlv::MessageState(state),
        ],
        ..SmBody::default()
    };
    // The receipt goes back on the submitting session if it still receives, else on another of the account.
    let cmd = {
        let sessions = lock(&inner.sessions);
        sessions
            .iter()
            .find(|s| s.id == session && s.receives)
            .or_else(|| {
                sessions
                    .iter()
                    .find(|s| s.system_id == system_id && s.receives)
            })
            .map(|s| s.cmd.clone())
    };
    let Some(cmd) = cmd else {
        tracing::debug!(session, "no receiver bound for a delivery receipt");
        return;
    };
    if deliver(&cmd, body).await.is_some_and(CommandStatus::is_ok) {
        inc(&inner.counters.receipts_sent);
    }
}

/// Appendix B `submit date` / `done date`: YYMMDDhhmm, UTC.
fn receipt_date() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:02}{:02}{:02}{:02}{:02}",
        now.year().rem_euclid(100),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute()
    )
}

/// Resolves once the SMSC shuts down.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
