//! The ES5 workers on tokio (design §3 steps 3–4): the delivery loop (secure in the store, then submit_sm), the
//! inbound loop (deliver_sm → the sender's MO lane: reassembly of concatenated SMS and PoR / notification
//! handling in the store, deliver_sm_resp after the commit) and the expiry sweep. All
//! state is in the store, so the workers can stop at any point and start again; the blocking database work runs
//! on tokio's blocking pool.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eis_store::savepoint;
use es_interfaces::sms::{PacketKind, Segment};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::delivery::{self, Outgoing};
use super::inbound::{self, MoOutcome};
use super::reassembly::{self, SegmentOutcome};
use crate::error::SmsrError;
use crate::service::{Es5Settings, Smsr};
use crate::smpp::{
    MoAck, SmppClient, SmppClientConfig, SmppError, SmppEvent, SmppEvents, SmppHandle, Submit,
};

/// Pause of an idle delivery loop between looks at the queue (a wake-up ends it early).
const DELIVERY_TICK: Duration = Duration::from_millis(100);
/// Interval of the expiry sweep.
const EXPIRY_TICK: Duration = Duration::from_millis(500);
/// How often a node says it is alive when the SMSC account's budget is shared (`throughput_total`).
const NODE_BEAT: Duration = Duration::from_secs(5);
/// A node not heard of for this long is taken for dead and its share goes to the others.
const NODE_STALE: Duration = Duration::from_secs(15);
/// MO packets handled per transaction.
const MO_BATCH: usize = 256;
/// A packet whose eUICC another transaction holds (another lane's or node's batch, a delivery round) is left
/// for its lane's next batch instead of making the whole batch wait; after this long it waits for the lock.
const MO_DEFER_LIMIT: Duration = Duration::from_secs(2);
/// Pause of a lane before it tries again the packets it left.
const MO_DEFER_PAUSE: Duration = Duration::from_millis(10);
/// MO lanes on PostgreSQL: each sender's packets always go to the same lane and are handled in order; the
/// lanes' transactions run at the same time (one MO transaction at a time left the database idle between
/// its round trips: it was the bound of a PostgreSQL SM-SR's switches per second). SQLite admits one writer,
/// so it has one lane.
const MO_LANES_POSTGRES: usize = 4;

/// The running ES5 workers.
pub struct Es5Runtime {
    smpp: SmppHandle,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Es5Runtime {
    /// Starts the SMPP binds and the workers for `smsr` (whose `es5` settings must be set).
    pub fn start(smsr: Arc<Smsr>, smpp: SmppClientConfig) -> Result<Es5Runtime, SmppError> {
        let settings = smsr
            .es5
            .clone()
            .ok_or_else(|| SmppError::Config("the SM-SR has no ES5 settings".into()))?;
        let throughput_total = smpp.throughput_total;
        let (handle, events) = SmppClient::start(smpp)?;
        smsr.metrics.attach_smpp(handle.clone());
        let (shutdown, rx) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(delivery_loop(
                smsr.clone(),
                settings.clone(),
                handle.clone(),
                rx.clone(),
            )),
            tokio::spawn(inbound_loop(smsr.clone(), settings, events, rx.clone())),
            tokio::spawn(expiry_loop(smsr.clone(), rx.clone())),
        ];
        if let Some(total) = throughput_total {
            handle.set_node_share(Some(total));
            tasks.push(tokio::spawn(budget_loop(smsr, handle.clone(), total, rx)));
        }
        Ok(Es5Runtime {
            smpp: handle,
            shutdown,
            tasks,
        })
    }

    /// The SMPP client (for its bind state).
    pub fn smpp(&self) -> &SmppHandle {
        &self.smpp
    }

    /// Stops the workers and unbinds.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        self.smpp.shutdown().await;
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SmsrError> + Send + 'static,
) -> Result<T, SmsrError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(SmsrError::internal)?
}

fn submit_all(smsr: &Arc<Smsr>, smpp: &SmppHandle, out: Vec<Outgoing>) {
    let retransmitted = out.iter().filter(|o| o.retransmission).count();
    smsr.metrics
        .retransmitted(u64::try_from(retransmitted).unwrap_or(u64::MAX));
    for o in out {
        let h = smpp.clone();
        let s = smsr.clone();
        tokio::spawn(async move {
            for tp_ud in o.tp_uds {
                let sent = h.submit(Submit::new(o.msisdn.clone(), tp_ud)).await;
                s.metrics.submit_sm(sent.is_ok());
                if let Err(e) = sent {
                    // The retransmission timer sends it again.
                    tracing::warn!(eid = %o.eid, command = o.command_id, error = %e, "submit_sm failed");
                    break;
                }
            }
        });
    }
}

/// Waits for the first SMPP bind, then moves the retransmissions due within a PoR timeout to one PoR timeout
/// from now: the PoRs of commands sent before a restart, stored by the SMSC while no bind was up, arrive now,
/// and a command the eUICC already executed is not sent again (a second execution of an ES8 script is refused
/// by the card, wire-profile §7). False when shut down first.
async fn defer_retries_after_bind(
    smsr: &Arc<Smsr>,
    settings: &Es5Settings,
    smpp: &SmppHandle,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    while smpp.bound_binds() == 0 {
        if *shutdown.borrow() {
            return false;
        }
        tokio::select! {
            _ = tokio::time::sleep(DELIVERY_TICK) => {}
            _ = shutdown.changed() => {}
        }
    }
    let s = smsr.clone();
    let pause = i64::try_from(settings.por_timeout.as_millis()).unwrap_or(i64::MAX);
    let deferred = blocking(move || {
        let now = s.clock.now_millis();
        s.store
            .tx(|c| eis_store::operations::defer_retries(c, now.saturating_add(pause), now))
            .map_err(SmsrError::from)
    })
    .await;
    match deferred {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            commands = n,
            "retransmissions held back one PoR timeout after the SMPP bind"
        ),
        Err(e) => tracing::error!(error = %e, "retransmissions could not be held back"),
    }
    true
}

async fn delivery_loop(
    smsr: Arc<Smsr>,
    settings: Es5Settings,
    smpp: SmppHandle,
    mut shutdown: watch::Receiver<bool>,
) {
    if !defer_retries_after_bind(&smsr, &settings, &smpp, &mut shutdown).await {
        return;
    }
    // Where the next round starts among the eUICCs with work (round robin, delivery::prepare_round).
    let mut cursor: Option<String> = None;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let s = smsr.clone();
        let st = settings.clone();
        let mut next_cursor = cursor.clone();
        let round = blocking(move || {
            let now = s.clock.now_millis();
            s.store
                .tx(|c| delivery::prepare_round(c, &s, &st, now, &mut next_cursor))
                .map(|out| (out, next_cursor))
        })
        .await;
        let full = match round {
            Ok((out, next)) => {
                cursor = next;
                let n = out.len();
                submit_all(&smsr, &smpp, out);
                n >= settings.batch
            }
            Err(e) => {
                tracing::error!(error = %e, "ES5 delivery round failed");
                false
            }
        };
        if full {
            continue;
        }
        tokio::select! {
            _ = smsr.wake.delivery.notified() => {}
            _ = tokio::time::sleep(DELIVERY_TICK) => {}
            _ = shutdown.changed() => {}
        }
    }
}

/// The expiry sweep (operations past their deadline, SGP.02 §5.1.6.4).
async fn expiry_loop(smsr: Arc<Smsr>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EXPIRY_TICK) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
        let s = smsr.clone();
        let r = blocking(move || {
            let now = s.clock.now_millis();
            let operations = s.store.tx(|c| delivery::expire_round(c, &s, now))?;
            let segments = s.store.tx(|c| reassembly::expire(c, now))?;
            Ok((operations, segments))
        })
        .await;
        match r {
            Ok((operations, segments)) => {
                if operations > 0 {
                    tracing::info!(expired = operations, "operations expired");
                }
                smsr.metrics.mo_segments("expired", segments);
            }
            Err(e) => tracing::error!(error = %e, "expiry sweep failed"),
        }
    }
}

/// Shares the SMSC account's submit_sm budget `total` among the SM-SR nodes of the database (issue 14 item 2):
/// every [`NODE_BEAT`] this node says it is alive and takes `total / live nodes` for its binds; on shutdown it
/// leaves, so that the others take its share at their next beat. Before its first beat it takes the whole
/// budget, as a single node would ([`Es5Runtime::start`]).
async fn budget_loop(
    smsr: Arc<Smsr>,
    smpp: SmppHandle,
    total: f64,
    mut shutdown: watch::Receiver<bool>,
) {
    let node_id = uuid::Uuid::new_v4().to_string();
    let stale = i64::try_from(NODE_STALE.as_millis()).unwrap_or(i64::MAX);
    let mut live_before = 0;
    loop {
        let (s, id) = (smsr.clone(), node_id.clone());
        let live = blocking(move || {
            let now = s.clock.now_millis();
            s.store
                .tx(|c| eis_store::nodes::beat(c, &id, now, now.saturating_sub(stale)))
                .map_err(SmsrError::from)
        })
        .await;
        match live {
            Ok(live) => {
                smpp.set_node_share(Some(total / live as f64));
                if live != live_before {
                    tracing::info!(node = %node_id, live, share = total / live as f64,
                        "SMSC account budget shared among the live SM-SR nodes");
                    live_before = live;
                }
            }
            // Keep the last share: a database outage must not lift the limit.
            Err(e) => tracing::warn!(error = %e, "node heartbeat failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(NODE_BEAT) => {}
            _ = shutdown.changed() => {}
        }
        if *shutdown.borrow() {
            break;
        }
    }
    let s = smsr.clone();
    if let Err(e) = blocking(move || {
        s.store
            .tx(|c| eis_store::nodes::leave(c, &node_id))
            .map_err(SmsrError::from)
    })
    .await
    {
        tracing::warn!(error = %e, "leaving the SM-SR nodes failed");
    }
}

/// What one MO SMS brings to its lane (3GPP TS 31.115 §4.2, 3GPP TS 23.040 §9.2.3.24.1).
#[derive(Debug, Clone, PartialEq, Eq)]
enum MoUserData {
    /// A whole packet in one SMS: kind and the packet from CPL/RPL on.
    Packet(PacketKind, Vec<u8>),
    /// One segment of a concatenated SMS, as received.
    Segment {
        /// Concatenation reference.
        reference: u16,
        /// Index of the segment, from 1.
        index: u8,
        /// The TP-UD.
        tp_ud: Vec<u8>,
    },
}

/// One MO SMS to handle: its sender and what it brings.
type MoPacket = (String, MoUserData);

/// What an MO SMS's TP-UD brings, or `None` (logged) when it is not SCP80 user data (3GPP TS 31.115 §4.2).
fn classify(source: &str, tp_ud: Vec<u8>) -> Option<MoUserData> {
    let seg = match Segment::parse(&tp_ud) {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(%source, error = %e, "MO SMS dropped: not SCP80 user data");
            return None;
        }
    };
    match (seg.concatenation, seg.kind) {
        (Some(c), _) => Some(MoUserData::Segment {
            reference: c.reference,
            index: c.index,
            tp_ud,
        }),
        (None, Some(kind)) => Some(MoUserData::Packet(kind, seg.payload)),
        (None, None) => {
            tracing::info!(%source, "MO SMS dropped: no command or response packet identifier");
            None
        }
    }
}

/// What one MO SMS came to in its batch.
struct Handled {
    /// For a segment: `held`, `completed` or `dropped` (`rsp_smsr_mo_segments_total`).
    segment: Option<&'static str>,
    /// The packet handled, when the SMS was one or completed one.
    packet: Option<(PacketKind, MoOutcome)>,
}

/// One MO SMS handled in the batch's transaction: a segment is held or completes its packet
/// ([`reassembly::take_segment`]), a whole packet is handled ([`inbound::process_mo`]).
fn handle_sms(
    c: &mut eis_store::AnyConnection,
    smsr: &Smsr,
    settings: &Es5Settings,
    source: &str,
    eid: Option<&str>,
    sms: &MoUserData,
    now: i64,
) -> Result<Handled, SmsrError> {
    let (kind, packet, segment) = match sms {
        MoUserData::Packet(kind, packet) => (*kind, std::borrow::Cow::Borrowed(packet), None),
        MoUserData::Segment {
            reference,
            index,
            tp_ud,
        } => {
            let Some(eid) = eid else {
                tracing::info!(%source, "MO segment dropped: no eUICC has a profile with this MSISDN");
                return Ok(Handled {
                    segment: Some("dropped"),
                    packet: None,
                });
            };
            match reassembly::take_segment(c, settings, source, *reference, *index, tp_ud, now)? {
                SegmentOutcome::Held => {
                    tracing::debug!(%source, %eid, reference, index, "MO segment held");
                    return Ok(Handled {
                        segment: Some("held"),
                        packet: None,
                    });
                }
                SegmentOutcome::Dropped(why) => {
                    tracing::info!(%source, %eid, reference, %why, "MO segment dropped");
                    return Ok(Handled {
                        segment: Some("dropped"),
                        packet: None,
                    });
                }
                SegmentOutcome::Complete(kind, packet) => {
                    (kind, std::borrow::Cow::Owned(packet), Some("completed"))
                }
            }
        }
    };
    let outcome = inbound::process_mo(c, smsr, settings, source, eid, kind, &packet, now)?;
    Ok(Handled {
        segment,
        packet: Some((kind, outcome)),
    })
}

/// Handles `batch` in one transaction and returns which of its packets were left for the lane's next batch
/// (`true`): those whose eUICC another transaction holds, unless `patient` says the packet waits for the lock.
fn handle_batch(
    smsr: &Smsr,
    settings: &Es5Settings,
    batch: &[MoPacket],
    patient: &[bool],
) -> Result<Vec<bool>, SmsrError> {
    let now = smsr.clock.now_millis();
    // What each packet came to, counted in the metrics once the transaction committed.
    let mut counted: Vec<(&'static str, &'static str, Option<i64>)> = Vec::new();
    let mut segments: Vec<&'static str> = Vec::new();
    let mut left = vec![false; batch.len()];
    smsr.store.tx(|c| {
        counted.clear();
        segments.clear();
        left.iter_mut().for_each(|l| *l = false);
        let sources: Vec<&str> = batch.iter().map(|(s, _)| s.as_str()).collect();
        let senders = eis_store::eis::eids_by_msisdns(c, &sources)?;
        // The eUICCs of the patient packets locked first, at once in EID order (waiting for them), then those
        // of the others that no transaction holds (never waiting): lanes, nodes and the delivery round never
        // deadlock, and one eUICC whose PoR and notification came from two MSISDNs, i.e. two lanes, no longer
        // holds up the other 255 packets of a batch. Held segments of one sender are thereby read and
        // completed by one transaction at a time, on any node.
        let mut waited: Vec<&str> = Vec::new();
        let mut tried: Vec<&str> = Vec::new();
        for ((source, _), patient) in batch.iter().zip(patient) {
            if let Some(eid) = senders.get(source) {
                if *patient {
                    waited.push(eid);
                } else {
                    tried.push(eid);
                }
            }
        }
        eis_store::eis::lock_euiccs(c, &waited)?;
        let mut held: std::collections::HashSet<String> =
            waited.iter().map(|e| e.to_string()).collect();
        tried.retain(|e| !held.contains(*e));
        tried.sort_unstable();
        tried.dedup();
        held.extend(eis_store::eis::lock_free_euiccs(c, &tried)?);
        // The owners' events of the batch numbered at its end (`esm2m::events::numbered_last`): an owner's
        // counter held for the numbering and the commit, not from the batch's first event on.
        crate::esm2m::events::numbered_last(c, smsr, |c| {
        let handled: Vec<&str> = held.iter().map(String::as_str).collect();
        crate::esm2m::events::know_owners(c, &handled)?;
        for (i, (source, sms)) in batch.iter().enumerate() {
            let eid = senders.get(source).map(String::as_str);
            if eid.is_some_and(|e| !held.contains(e)) {
                left[i] = true;
                continue;
            }
            let handled = match savepoint(c, |c| handle_sms(c, smsr, settings, source, eid, sms, now)) {
                Ok(h) => h,
                Err(SmsrError::Store(e)) if e.is_retryable() => {
                    return Err(SmsrError::Store(e));
                }
                // Another node (or this one) completed the command between the check and the update: the PoR
                // is a duplicate, as when the command is found Done (issue 14 item 2: any node may take a PoR).
                Err(SmsrError::Store(eis_store::StoreError::Conflict {
                    kind: eis_store::RecordKind::Es5Command,
                    key,
                    detail,
                })) => {
                    tracing::warn!(%source, command = %key, %detail, "MO packet dropped: a duplicate PoR, its command completed meanwhile");
                    counted.push((kind_label(PacketKind::Response), "dropped", None));
                    continue;
                }
                Err(e) => {
                    tracing::error!(%source, error = ?e, "MO SMS could not be handled");
                    match sms {
                        MoUserData::Packet(kind, _) => counted.push((kind_label(*kind), "error", None)),
                        MoUserData::Segment { .. } => segments.push("error"),
                    }
                    continue;
                }
            };
            segments.extend(handled.segment);
            let Some((kind, outcome)) = handled.packet else {
                continue;
            };
            let outcome = match outcome {
                MoOutcome::Dropped(why) => {
                    tracing::warn!(%source, %why, "MO packet dropped");
                    ("dropped", None)
                }
                MoOutcome::Por { latency_ms } => ("handled", latency_ms),
                MoOutcome::NotificationAccepted => ("handled", None),
            };
            counted.push((kind_label(kind), outcome.0, outcome.1));
        }
        Ok::<_, SmsrError>(())
        })
    })?;
    for (kind, outcome, latency) in counted {
        smsr.metrics.mo_packet(kind, outcome);
        if let Some(ms) = latency {
            smsr.metrics.por_latency(ms);
        }
    }
    for outcome in segments {
        smsr.metrics.mo_segments(outcome, 1);
    }
    Ok(left)
}

/// The `kind` label of `rsp_smsr_mo_packets_total`.
fn kind_label(kind: PacketKind) -> &'static str {
    match kind {
        PacketKind::Response => "por",
        PacketKind::Command => "notification",
    }
}

/// Where the packets of `source` are handled: always the same lane of `lanes`.
fn lane_of(source: &str, lanes: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut h);
    usize::try_from(h.finish() % lanes.max(1) as u64).unwrap_or(0)
}

/// An MO SMS and the SMSC's acknowledgement owed for it (sent once its transaction committed).
type LaneItem = (MoPacket, MoAck);

/// The inbound loop: deliver_sm → the sender's lane ([`mo_lane`]). Ends at shutdown, after the
/// lanes handled what they were given.
async fn inbound_loop(
    smsr: Arc<Smsr>,
    settings: Es5Settings,
    mut events: SmppEvents,
    mut shutdown: watch::Receiver<bool>,
) {
    let lanes = match smsr.store.backend() {
        eis_store::Backend::Postgres => MO_LANES_POSTGRES,
        eis_store::Backend::Sqlite => 1,
    };
    // Unbounded: what is in the lanes is bounded by the SMSC's window of unacknowledged deliver_sm.
    let (senders, lane_tasks): (Vec<_>, Vec<_>) = (0..lanes)
        .map(|_| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<LaneItem>();
            (
                tx,
                tokio::spawn(mo_lane(smsr.clone(), settings.clone(), rx)),
            )
        })
        .unzip();
    loop {
        let event = tokio::select! {
            e = events.recv() => e,
            _ = shutdown.changed() => None,
        };
        let Some(event) = event else { break };
        match event {
            SmppEvent::MoSms(mo) => match classify(&mo.source_addr, mo.tp_ud) {
                Some(sms) => {
                    let lane = lane_of(&mo.source_addr, lanes);
                    if let Err(refused) = senders[lane].send(((mo.source_addr, sms), mo.ack)) {
                        // The lane ended (it never does before the senders are dropped): the SMSC tries again.
                        (refused.0).1.retry_later();
                    }
                }
                // Not for the SM-SR: acknowledged, as the SMSC would otherwise offer it again and again.
                None => mo.ack.stored(),
            },
            SmppEvent::DeliveryReceipt(r) => {
                tracing::debug!(message_id = %r.message_id, stat = ?r.stat, "delivery receipt")
            }
            SmppEvent::Bound { bind } => tracing::info!(bind, "SMPP bind up"),
            SmppEvent::Unbound { bind, reason } => {
                tracing::warn!(bind, %reason, "SMPP bind down")
            }
        }
    }
    drop(senders);
    for t in lane_tasks {
        let _ = t.await;
    }
}

/// The packets of one MO lane waiting for a batch, oldest first, each with when a batch first left it.
struct LaneQueue<T> {
    items: Vec<(T, Option<Instant>)>,
}

impl<T> LaneQueue<T> {
    fn new() -> Self {
        LaneQueue { items: Vec::new() }
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    /// A packet that just came, after every one waiting.
    fn push(&mut self, item: T) {
        self.items.push((item, None));
    }

    /// Everything waiting, for one batch, with for each whether it waits for its eUICC's lock at `now` (it
    /// was left for [`MO_DEFER_LIMIT`] or longer) and when it was first left.
    fn take(&mut self, now: Instant) -> Vec<(T, bool, Option<Instant>)> {
        std::mem::take(&mut self.items)
            .into_iter()
            .map(|(item, since)| {
                let patient = since.is_some_and(|s| now.duration_since(s) >= MO_DEFER_LIMIT);
                (item, patient, since)
            })
            .collect()
    }

    /// A packet the batch that started at `batch_start` left: waits again, after those left before it.
    fn leave(&mut self, item: T, since: Option<Instant>, batch_start: Instant) {
        self.items.push((item, Some(since.unwrap_or(batch_start))));
    }
}

/// One MO lane: takes what its senders' packets have queued, up to [`MO_BATCH`], handles them in one
/// transaction and only then acknowledges them to the SMSC (a crash before the commit loses nothing). Packets
/// the batch left (their eUICC was held elsewhere) come first in the next batch, in their order, so that a
/// sender's packets are still handled in the order they came; one left for [`MO_DEFER_LIMIT`] waits for its
/// eUICC's lock.
async fn mo_lane(
    smsr: Arc<Smsr>,
    settings: Es5Settings,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<LaneItem>,
) {
    let mut waiting = LaneQueue::new();
    loop {
        if waiting.len() == 0 {
            match rx.recv().await {
                Some(item) => waiting.push(item),
                None => break,
            }
        } else {
            tokio::time::sleep(MO_DEFER_PAUSE).await;
        }
        while waiting.len() < MO_BATCH {
            match rx.try_recv() {
                Ok(item) => waiting.push(item),
                Err(_) => break,
            }
        }
        let t = Instant::now();
        let mut batch = Vec::new();
        let mut acks = Vec::new();
        let mut patient = Vec::new();
        let mut since = Vec::new();
        for ((packet, ack), p, s) in waiting.take(t) {
            batch.push(packet);
            acks.push(ack);
            patient.push(p);
            since.push(s);
        }
        let batch = Arc::new(batch);
        let (s, st, b) = (smsr.clone(), settings.clone(), batch.clone());
        let n = batch.len();
        match blocking(move || handle_batch(&s, &st, &b, &patient)).await {
            Ok(left) => {
                for (((packet, ack), since), left) in batch.iter().zip(acks).zip(since).zip(left) {
                    if left {
                        waiting.leave((packet.clone(), ack), since, t);
                    } else {
                        ack.stored();
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "MO batch failed; the SMSC delivers it again");
                acks.iter().for_each(MoAck::retry_later);
            }
        }
        tracing::debug!(
            packets = n,
            left = waiting.len(),
            elapsed_ms = t.elapsed().as_millis() as u64,
            "MO batch"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Packets a batch left come first in the next batch, in their order, before those that came since; each
    /// keeps when it was first left and waits for its eUICC's lock once [`MO_DEFER_LIMIT`] has passed.
    #[test]
    fn a_lane_keeps_the_order_of_the_packets_it_left() {
        let mut q = LaneQueue::new();
        for p in ["a1", "b1", "a2"] {
            q.push(p);
        }
        let t0 = Instant::now();
        let first = q.take(t0);
        assert!(
            first
                .iter()
                .all(|(_, patient, since)| !patient && since.is_none())
        );
        // The batch left a1 and a2 (a's eUICC was held elsewhere) and handled b1; c1 came meanwhile.
        for (p, _, since) in first {
            if p.starts_with('a') {
                q.leave(p, since, t0);
            }
        }
        q.push("c1");
        let t1 = t0 + MO_DEFER_LIMIT / 2;
        let second = q.take(t1);
        let order: Vec<_> = second
            .iter()
            .map(|(p, patient, _)| (*p, *patient))
            .collect();
        assert_eq!(order, [("a1", false), ("a2", false), ("c1", false)]);
        // All three left again.
        for (p, _, since) in second {
            q.leave(p, since, t1);
        }
        let third = q.take(t0 + MO_DEFER_LIMIT);
        let order: Vec<_> = third.iter().map(|(p, patient, _)| (*p, *patient)).collect();
        assert_eq!(order, [("a1", true), ("a2", true), ("c1", false)]);
        assert_eq!(q.len(), 0);
    }
}
