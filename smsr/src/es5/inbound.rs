//! Mobile-originated SMS from eUICCs (wire-profile §2, §4): PoRs matched to their command by the counter they
//! echo (ETSI TS 102 225 §5.2), and eUICC notifications verified (ISD-R key set, CC, counter higher than the
//! last one received) and turned into confirmation operations (SGP.02 §5.7.11). The sender is found by the
//! MSISDN the SMS came from (any profile of the eUICC: after a switch it is the new profile's).

use eis_store::AnyConnection;
use eis_store::eis;
use eis_store::es5_queue::{self, Es5Command, Es5State};
use eis_store::operations::{self, Operation, OperationUpdate};
use es_interfaces::isdr::Es5Command as Command;
use es_interfaces::notification::Notification;
use es_interfaces::scp80::{PorStatus, ResponsePacket};
use es_interfaces::sms::PacketKind;

use super::Es5Error;
use super::security::{load_scp80_keys, open_notification, open_por, open_unsecured_por};
use crate::error::SmsrError;
use crate::operation::{self, NotificationData, OpData, OperationKind, Outcome, Start};
use crate::procedure;
use crate::service::{Es5Settings, Smsr};

/// What handling one MO packet led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoOutcome {
    /// A PoR completed (or advanced) its command; `latency_ms` after the command's last transmission when it
    /// completed it (status OK).
    Por {
        /// Milliseconds from the last transmission to the PoR, for a PoR with status OK.
        latency_ms: Option<i64>,
    },
    /// A notification will be confirmed.
    NotificationAccepted,
    /// The packet was dropped; why.
    Dropped(String),
}

/// Most counter-low recoveries per operation before it fails.
const MAX_COUNTER_SKIPS: u32 = 24;

fn operation_of(
    conn: &mut AnyConnection,
    cmd: &Es5Command,
) -> Result<Option<Operation>, SmsrError> {
    match cmd.operation_ref.parse::<i64>() {
        Ok(id) => Ok(operations::get(conn, id)?),
        Err(_) => Ok(None),
    }
}

/// Handles one reassembled packet from `source_msisdn`, sent by `eid` (the eUICC having a profile with that
/// MSISDN, `None` if none has). The caller holds the eUICC's row lock ([`eis::lock_free_euiccs`] or
/// [`eis::lock_euiccs`]): with several nodes or lanes, a PoR and the notification that follows it may arrive at
/// once, and the second is handled after the first committed and sees what it did (issue 14 item 2).
#[allow(clippy::too_many_arguments)]
pub fn process_mo(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    settings: &Es5Settings,
    source_msisdn: &str,
    eid: Option<&str>,
    kind: PacketKind,
    packet: &[u8],
    now: i64,
) -> Result<MoOutcome, SmsrError> {
    let Some(eid) = eid else {
        return Ok(MoOutcome::Dropped(format!(
            "no eUICC has a profile with MSISDN {source_msisdn}"
        )));
    };
    match kind {
        PacketKind::Response => process_por(conn, smsr, settings, eid, packet, now),
        PacketKind::Command => {
            process_notification(conn, smsr, settings, eid, source_msisdn, packet, now)
        }
    }
}

fn es5(e: Es5Error) -> SmsrError {
    match e {
        Es5Error::Store(s) => SmsrError::from(s),
        other => SmsrError::internal(other),
    }
}

fn process_por(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    settings: &Es5Settings,
    eid: &str,
    packet: &[u8],
    now: i64,
) -> Result<MoOutcome, SmsrError> {
    let keys = load_scp80_keys(conn, &smsr.keyring, eid).map_err(es5)?;
    let kvn = keys.kvn;
    let (por, secured): (ResponsePacket, bool) = match open_por(eid, &keys, packet) {
        Ok(p) => (p, true),
        Err(secured_err) => match open_unsecured_por(eid, packet) {
            Ok(p) if p.status != PorStatus::Ok => (p, false),
            _ => {
                return Ok(MoOutcome::Dropped(format!(
                    "PoR from {eid} does not open: {secured_err}"
                )));
            }
        },
    };
    let cmd = if secured {
        es5_queue::command_for_counter(conn, eid, kvn, por.counter.value())?
    } else {
        // A card that could not use the keys echoes no usable counter: the command in flight is meant.
        es5_queue::in_flight(conn, eid)?
    };
    let Some(cmd) = cmd else {
        return Ok(MoOutcome::Dropped(format!(
            "PoR from {eid} with counter {} matches no command",
            por.counter.value()
        )));
    };
    if cmd.state != Es5State::InFlight {
        return Ok(MoOutcome::Dropped(format!(
            "PoR from {eid} for command {} in state {:?} (a duplicate or late PoR)",
            cmd.id, cmd.state
        )));
    }
    let op = match operation_of(conn, &cmd)? {
        Some(op) if !op.state.is_final() => op,
        _ => {
            es5_queue::mark_done(conn, cmd.id, Some(&por.data), now)?;
            return Ok(MoOutcome::Dropped(format!(
                "PoR from {eid} for command {} of a finished operation",
                cmd.id
            )));
        }
    };
    let mut latency_ms = None;
    match por.status {
        PorStatus::Ok => {
            procedure::on_command_done(conn, smsr, &op, &cmd, &por.data, now)?;
            // The last transmission recorded the command's update time (es5_queue::record_attempt).
            latency_ms = Some(now.saturating_sub(cmd.updated_at));
        }
        PorStatus::CounterLow if secured => {
            // The eUICC holds a higher counter than ours (e.g. a restored database): skip ahead and resend
            // at once (ETSI TS 102 225 §5.1.2; wire-profile §2).
            let mut data = OpData::parse(&op.data)?;
            if data.counter_skips >= MAX_COUNTER_SKIPS {
                es5_queue::mark_failed(conn, cmd.id, "counter low", now)?;
                let d = operation::por_failure(0x02, "counter low; recovery exhausted");
                operation::finish(conn, smsr, &op, Outcome::failed(d), now)?;
                return Ok(MoOutcome::Por { latency_ms: None });
            }
            let step = settings
                .counter_skip
                .saturating_mul(1u64 << data.counter_skips.min(40));
            let new = es5_queue::skip_scp80_counter(conn, eid, kvn, step)?;
            tracing::warn!(%eid, kvn, counter = por.counter.value(), skipped_to = new,
                "PoR status 02 (counter low): counter advanced, command resent");
            data.counter_skips += 1;
            operations::update(
                conn,
                op.id,
                op.state,
                &OperationUpdate {
                    data: Some(data.to_json()?),
                    retry_at: Some(Some(now)),
                    ..OperationUpdate::default()
                },
                now,
            )?;
            smsr.wake.delivery.notify_one();
        }
        status => {
            es5_queue::mark_failed(conn, cmd.id, &format!("PoR status {status:?}"), now)?;
            let what = if secured {
                format!("{status:?}")
            } else {
                format!("{status:?}, sent without security")
            };
            let d = operation::por_failure(status.to_byte(), &what);
            operation::finish(conn, smsr, &op, Outcome::failed(d), now)?;
        }
    }
    Ok(MoOutcome::Por { latency_ms })
}

fn process_notification(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    settings: &Es5Settings,
    eid: &str,
    source_msisdn: &str,
    packet: &[u8],
    now: i64,
) -> Result<MoOutcome, SmsrError> {
    let opened = match open_notification(conn, &smsr.keyring, eid, packet) {
        Ok(o) => o,
        Err(Es5Error::Store(e)) => return Err(e.into()),
        Err(e) => return Ok(MoOutcome::Dropped(format!("notification refused: {e}"))),
    };
    if !es5_queue::accept_received_counter(conn, eid, opened.kvn, opened.counter)? {
        return Ok(MoOutcome::Dropped(format!(
            "notification from {eid} replays counter {} (not higher than the last received)",
            opened.counter
        )));
    }
    let n = match Notification::parse(&opened.data) {
        Ok(n) => n,
        Err(e) => return Ok(MoOutcome::Dropped(format!("notification from {eid}: {e}"))),
    };
    if hex::encode_upper(n.eid) != eid.to_ascii_uppercase() {
        return Ok(MoOutcome::Dropped(format!(
            "notification from {eid}'s MSISDN names EID {}",
            hex::encode_upper(n.eid)
        )));
    }
    // The eUICC's open operations and profiles, read once for the checks below.
    let mut open = operations::open_of(conn, eid)?;
    let already = open.iter().any(|o| {
        o.kind == OperationKind::ConfirmNotification.as_str()
            && OpData::parse(&o.data)
                .ok()
                .and_then(|d| d.notification)
                .is_some_and(|d| d.sequence == n.sequence)
    });
    if already {
        return Ok(MoOutcome::Dropped(format!(
            "notification {} from {eid} repeated while its confirmation is under way",
            n.sequence
        )));
    }
    let profiles = eis::profiles_of(conn, eid)?;
    if let Some(reason) =
        procedure::notification::refuse_confirmation(&open, &profiles, n.kind, &n.isd_p_aid)
    {
        return Ok(MoOutcome::Dropped(format!(
            "notification {} ({:?}) from {eid} not confirmed: {reason}",
            n.sequence, n.kind
        )));
    }
    if procedure::notification::abandon_unconfirmed(conn, smsr, eid, n.kind, n.sequence, now)? {
        open = operations::open_of(conn, eid)?;
    }
    procedure::switch::switch_executed(conn, smsr, &open, &profiles, n.kind, &n.isd_p_aid, now)?;
    let iccid = profiles
        .into_iter()
        .find(|p| p.info.isd_p_aid == n.isd_p_aid)
        .map(|p| p.info.iccid);
    let deadline = now.saturating_add(
        i64::try_from(settings.notification_validity.as_millis()).unwrap_or(i64::MAX),
    );
    tracing::info!(%eid, sequence = n.sequence, kind = ?n.kind, "eUICC notification received; confirming");
    operation::start(
        conn,
        smsr,
        Start {
            kind: OperationKind::ConfirmNotification,
            eid,
            function_call_id: None,
            requester_oid: &smsr.identity.oid,
            interface: "ES5",
            iccid: iccid.as_deref(),
            isd_p_aid: Some(&n.isd_p_aid),
            deadline,
            data: OpData {
                dest_msisdn: Some(source_msisdn.to_string()),
                notification: Some(NotificationData {
                    kind: n.kind.to_byte(),
                    sequence: n.sequence,
                    isd_p_aid: hex::encode_upper(&n.isd_p_aid),
                    source_msisdn: source_msisdn.to_string(),
                    imei: n.imei.as_ref().map(hex::encode_upper),
                }),
                ..OpData::default()
            },
            script: Some(operation::script(&[
                Command::HandleNotificationConfirmation {
                    sequence: n.sequence,
                },
            ])?),
        },
        now,
    )?;
    Ok(MoOutcome::NotificationAccepted)
}
