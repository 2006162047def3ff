//! Taking ES5 commands out of the persisted queue for transmission (design §3 step 4; wire-profile §2): per
//! eUICC one command in flight; each transmission advances the ISD-R key set's SCP80 counter, records the
//! attempt and the counter, and schedules the retransmission, all in one transaction, before the secured SMS
//! goes to the SMSC. A crash after the commit leaves a command in flight whose retransmission is due: it is
//! sent again with a fresh counter. Retransmission doubles its pause from `por_timeout` up to
//! `max_retry_interval`, until the operation's deadline. eUICCs whose channel is HTTPS
//! ([`crate::scp81::channel`]) are left to their admin session.

use std::time::Duration;

use eis_store::eis;
use eis_store::es5_queue::{self, Delivery, Es5Command};
use eis_store::operations::{self, Operation, OperationUpdate};
use eis_store::{AnyConnection, savepoint};
use es_interfaces::sms::{self, PacketKind};
use es_interfaces::status::{Reason, StatusCodeData, Subject};

use super::Es5Error;
use super::security::{load_scp80_keys, secure_command};
use crate::error::SmsrError;
use crate::operation::{self, OpData, Outcome};
use crate::scp81::channel::Channel;
use crate::scp81::trigger::{self, Step};
use crate::service::{Es5Settings, Smsr};

/// One secured command ready for the SMSC: its segments go to `msisdn` in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The command.
    pub command_id: i64,
    /// The eUICC.
    pub eid: String,
    /// Destination MSISDN.
    pub msisdn: String,
    /// SCP80 counter used.
    pub counter: u64,
    /// TP-UDs (one per SMS segment).
    pub tp_uds: Vec<Vec<u8>>,
    /// The command was sent before and had no PoR in time (`rsp_smsr_es5_retransmissions_total`).
    pub retransmission: bool,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Pause before retransmission after `attempts` transmissions.
pub fn retry_delay(settings: &Es5Settings, attempts: u32) -> Duration {
    let factor = 1u32
        .checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    settings
        .por_timeout
        .saturating_mul(factor)
        .min(settings.max_retry_interval)
}

/// Where the eUICC is reached (also for its admin-session trigger): the operation's override (a notification's sender), else the MSISDN of the
/// enabled profile in the EIS (wire-profile §2).
pub fn destination(
    conn: &mut AnyConnection,
    op: &Operation,
    data: &OpData,
) -> Result<String, Es5Error> {
    if let Some(m) = &data.dest_msisdn {
        return Ok(m.clone());
    }
    eis::enabled_msisdn(conn, &op.eid)?.ok_or_else(|| Es5Error::Unreachable {
        eid: op.eid.clone(),
    })
}

/// Secures one transmission of in-flight `cmd` of `op`: counter advanced, attempt and transmission recorded,
/// retransmission scheduled.
fn transmit(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    settings: &Es5Settings,
    op: &Operation,
    cmd: &Es5Command,
    now: i64,
) -> Result<Outgoing, Es5Error> {
    let mut data = OpData::parse(&op.data).map_err(|e| Es5Error::Invalid(e.to_string()))?;
    let msisdn = destination(conn, op, &data)?;
    let keys = load_scp80_keys(conn, &smsr.keyring, &op.eid)?;
    let kvn = keys.kvn;
    let counter = es5_queue::advance_scp80_counter(conn, &op.eid, kvn)?;
    es5_queue::record_attempt(conn, cmd.id, Some((kvn, counter)), now)?;
    es5_queue::record_transmission(conn, &op.eid, kvn, counter, cmd.id, now)?;
    let retry_at = now.saturating_add(millis(retry_delay(settings, cmd.attempts + 1)));
    data.channel = Some(Channel::Sms.as_str().to_string());
    let data = data
        .to_json()
        .map_err(|e| Es5Error::Invalid(e.to_string()))?;
    operations::update(
        conn,
        op.id,
        op.state,
        &OperationUpdate {
            data: Some(data),
            retry_at: Some(Some(retry_at.min(op.deadline.saturating_add(1)))),
            ..OperationUpdate::default()
        },
        now,
    )?;
    #[cfg(feature = "test-faults")]
    let counter = if smsr
        .faults
        .reuse_scp80_counter
        .load(std::sync::atomic::Ordering::SeqCst)
        && counter % 2 == 0
    {
        counter - 1
    } else {
        counter
    };
    let packet = secure_command(&op.eid, &keys, counter, &cmd.payload)?;
    let tp_uds = sms::to_tp_uds(PacketKind::Command, &packet, counter as u8).map_err(|source| {
        Es5Error::Sms {
            eid: op.eid.clone(),
            source,
        }
    })?;
    Ok(Outgoing {
        command_id: cmd.id,
        eid: op.eid.clone(),
        msisdn,
        counter,
        tp_uds,
        retransmission: cmd.attempts > 0,
    })
}

fn operation_of(conn: &mut AnyConnection, cmd: &Es5Command) -> Result<Option<Operation>, Es5Error> {
    let id: i64 = cmd.operation_ref.parse().map_err(|_| {
        Es5Error::Invalid(format!(
            "command {} has operation_ref {:?}",
            cmd.id, cmd.operation_ref
        ))
    })?;
    Ok(operations::get(conn, id)?)
}

/// A command that cannot be sent fails its operation (the transmission's savepoint was rolled back).
fn fail_undeliverable(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    error: &Es5Error,
    now: i64,
) -> Result<(), SmsrError> {
    tracing::warn!(op = op.id, eid = %op.eid, %error, "ES5 command cannot be sent");
    let subject = match error {
        Es5Error::Unreachable { .. } => Subject::EUICC,
        _ => Subject::ISD_R,
    };
    let d = StatusCodeData::new(subject, Reason::EXECUTION_ERROR, Some(error.to_string()));
    operation::finish(conn, smsr, op, Outcome::failed(d), now)?;
    Ok(())
}

fn send_or_fail(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    settings: &Es5Settings,
    op: &Operation,
    cmd: &Es5Command,
    now: i64,
    out: &mut Vec<Outgoing>,
) -> Result<(), SmsrError> {
    match savepoint(conn, |c| transmit(c, smsr, settings, op, cmd, now)) {
        Ok(o) => out.push(o),
        Err(Es5Error::Store(e)) if e.is_retryable() => return Err(e.into()),
        // Another transaction moved the operation on since this round read it (its PoR or the eUICC's
        // notification arrived, or it finished and its commands were purged; PostgreSQL read committed):
        // nothing is sent and the operation is not failed.
        Err(Es5Error::Store(
            eis_store::StoreError::Conflict { .. }
            | eis_store::StoreError::NotFound {
                kind: eis_store::RecordKind::Es5Command,
                ..
            },
        )) => {
            tracing::info!(op = op.id, eid = %op.eid, "ES5 transmission skipped: the operation changed meanwhile");
        }
        Err(e) => {
            // Release the command (it may have been taken in flight before the savepoint) and fail.
            if let Some(current) = es5_queue::get_command(conn, cmd.id)?
                && current.state == es5_queue::Es5State::InFlight
            {
                es5_queue::mark_failed(conn, cmd.id, &e.to_string(), now)?;
            }
            if let Some(op) = operations::get(conn, op.id)? {
                fail_undeliverable(conn, smsr, &op, &e, now)?;
            }
        }
    }
    Ok(())
}

/// One delivery round in one transaction: first transmissions of the next command of up to `batch` eUICCs
/// with nothing in flight — urgent ones first, then in EID order from the one after `cursor` (the last EID the
/// previous round looked at, updated here) — then retransmissions that are due. Returns the secured SMS to
/// submit after the commit.
pub fn prepare_round(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    settings: &Es5Settings,
    now: i64,
    cursor: &mut Option<String>,
) -> Result<Vec<Outgoing>, SmsrError> {
    let limit = i64::try_from(settings.batch).unwrap_or(256);
    let room = i64::try_from(settings.max_in_flight)
        .unwrap_or(i64::MAX)
        .saturating_sub(es5_queue::in_flight_count(conn)?)
        .clamp(0, limit);
    let mut out = Vec::new();
    let ready = if room > 0 {
        es5_queue::eids_ready_for_delivery(conn, now, room, cursor.as_deref())?
    } else {
        Vec::new()
    };
    if let Some(last) = ready.last() {
        *cursor = Some(last.clone());
    }
    // The round takes those of its eUICCs no other transaction holds, locked at once in EID order
    // (so take_next_locked need not lock each again); one an MO batch is handling waits for a later round
    // instead of the round waiting for the batch.
    let eids: Vec<&str> = ready.iter().map(String::as_str).collect();
    let free: std::collections::HashSet<String> =
        eis::lock_free_euiccs(conn, &eids)?.into_iter().collect();
    for eid in ready.into_iter().filter(|e| free.contains(e)) {
        // Commands of an eUICC on HTTPS wait for its admin session, opened by a push SMS (smsr::scp81).
        let https = smsr.channels.https_enabled
            && match es5_queue::next_queued(conn, &eid)? {
                Some(next) => {
                    smsr.channels.channel_for(conn, &eid, &next.payload)? == Channel::Https
                }
                None => false,
            };
        if https {
            let Some(t) = &smsr.channels.trigger else {
                continue;
            };
            match savepoint(conn, |c| trigger::step(c, smsr, t, &eid, now)) {
                Ok(Step::Trigger(o)) => {
                    out.push(o);
                    continue;
                }
                Ok(Step::Wait) => continue,
                Ok(Step::FallBack) => {}
                Err(Es5Error::Store(e)) if e.is_retryable() => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(%eid, error = %e, "admin session trigger not sent");
                    continue;
                }
            }
        }
        let Delivery::Next(cmd) = es5_queue::take_next_locked(conn, &eid, now)? else {
            continue;
        };
        let op = operation_of(conn, &cmd).map_err(SmsrError::internal)?;
        match op {
            Some(op) if !op.state.is_final() => {
                send_or_fail(conn, smsr, settings, &op, &cmd, now, &mut out)?
            }
            _ => es5_queue::mark_failed(conn, cmd.id, "its operation is finished", now)?,
        }
    }
    for op in operations::due_for_retry(conn, now, limit)? {
        let in_flight =
            es5_queue::in_flight(conn, &op.eid)?.filter(|c| c.operation_ref == op.id.to_string());
        match in_flight {
            // In flight over HTTPS and unanswered: ask the eUICC to come back (never an SMS retransmission).
            Some(cmd) if now <= op.deadline && cmd.scp80.is_none() => {
                let sent = match &smsr.channels.trigger {
                    Some(t) => savepoint(conn, |c| trigger::retrigger(c, smsr, t, &op, &cmd, now)),
                    None => Err(Es5Error::Invalid("no push SMS configured".into())),
                };
                match sent {
                    Ok(o) => out.push(o),
                    Err(Es5Error::Store(e)) if e.is_retryable() => return Err(e.into()),
                    Err(e) => {
                        tracing::warn!(op = op.id, eid = %op.eid, error = %e, "admin session trigger not sent");
                        clear_retry(conn, &op, now)?;
                    }
                }
            }
            Some(cmd) if now <= op.deadline => {
                tracing::info!(op = op.id, eid = %op.eid, attempt = cmd.attempts + 1, "ES5 command retransmitted (no PoR yet)");
                send_or_fail(conn, smsr, settings, &op, &cmd, now, &mut out)?
            }
            _ => clear_retry(conn, &op, now)?,
        }
    }
    Ok(out)
}

/// Nothing to retransmit for `op`: its retry time is cleared, unless another transaction moved it on since
/// this round read it (PostgreSQL read committed), which leaves it as that transaction left it.
fn clear_retry(conn: &mut AnyConnection, op: &Operation, now: i64) -> Result<(), SmsrError> {
    match operations::update(
        conn,
        op.id,
        op.state,
        &OperationUpdate {
            retry_at: Some(None),
            ..OperationUpdate::default()
        },
        now,
    ) {
        Ok(()) | Err(eis_store::StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Expires operations whose deadline passed (SGP.02 §5.1.6.4: EXPIRED, 1.6/5.3): the result goes to the
/// caller and the eUICC's queue is cleaned up. Returns how many expired.
pub fn expire_round(conn: &mut AnyConnection, smsr: &Smsr, now: i64) -> Result<usize, SmsrError> {
    let mut n = 0;
    for op in operations::overdue(conn, now, 256)? {
        // A hand-over past its commit point is not undone (SGP.02 §3.8 step 5).
        if crate::smsr_change::on_deadline(conn, smsr, &op, now)? {
            n += 1;
            continue;
        }
        let msg = format!(
            "the validity period ended before the eUICC {} completed {}",
            op.eid, op.kind
        );
        if operation::finish(conn, smsr, &op, Outcome::expired(msg), now)? {
            n += 1;
        }
    }
    es5_queue::expire_overdue(conn, now)?;
    Ok(n)
}
