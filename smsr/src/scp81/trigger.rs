//! The push SMS that makes an HTTPS eUICC open its admin session (wire-profile §3): an SCP80 command packet to
//! the ISD-R TAR whose secured data is the administration-session triggering TLV, secured and counted like any
//! ES5 SMS (the counter advanced in the same transaction). Its PoR carries no data and matches no command (it
//! is dropped as such). The policy of [`TriggerSettings`]: triggers are counted per operation in its data
//! (`https_trigger`); when they are used up and the eUICC still has not connected, the operation falls back to
//! SMS for its commands that fit in SMS (`sms_fallback`), the others wait until the operation expires. A command
//! left in flight over HTTPS by a cut session is followed by a push SMS every `connect_timeout` ([`retrigger`]).

use eis_store::AnyConnection;
use eis_store::es5_queue;
use eis_store::es5_queue::Es5Command;
use eis_store::operations::{self, Operation, OperationUpdate};
use es_interfaces::scp81::{
    AdminFrom, ConnectionParameters, PskIdentity, RetryPolicy, SessionTrigger,
};
use es_interfaces::sms::{self, PacketKind};
use es_interfaces::wire_profile;

use super::channel::{Channel, SMS_MAX_SCRIPT, TriggerSettings};
use crate::es5::Es5Error;
use crate::es5::delivery::{Outgoing, destination};
use crate::es5::security::{isd_r_keyset, load_scp80_keys, secure_command};
use crate::operation::{OpData, TriggerState};
use crate::service::Smsr;

/// What the delivery loop does for an HTTPS eUICC with queued work and nothing in flight.
#[derive(Debug)]
pub enum Step {
    /// Send this push SMS.
    Trigger(Outgoing),
    /// Wait for the session (or for the operation's expiry).
    Wait,
    /// Send the next command by SMS.
    FallBack,
}

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The ISD-R's SCP81 PSK identity from the EIS: the key set typed `SCP81` in `40`–`4F` and its key of type
/// `85` (wire-profile §1, §3).
fn psk_identity(conn: &mut AnyConnection, eid: &str) -> Result<PskIdentity, Es5Error> {
    let none = || Es5Error::Invalid(format!("the eUICC {eid} has no ISD-R SCP81 key set"));
    let ks = isd_r_keyset(conn, eid, wire_profile::KVN_SCP81, "SCP81")?.ok_or_else(none)?;
    let kvn = ks.version;
    // Each key's first component (ordered by position) gives its type.
    let mut seen = None;
    let key_id = ks
        .components
        .iter()
        .filter(|(i, _)| seen.replace(*i) != Some(*i))
        .find(|(_, c)| c.key_type == wire_profile::SCP81_KEY_TYPE_PSK)
        .map(|(i, _)| *i)
        .ok_or_else(none)?;
    let eid_bytes: [u8; 16] = hex::decode(eid)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Es5Error::Invalid(format!("EID {eid} is not 32 digits")))?;
    Ok(PskIdentity {
        eid: eid_bytes,
        isd_r_aid: wire_profile::ISD_R_AID.to_vec(),
        key_id,
        kvn,
    })
}

/// The triggering TLV for `eid` (wire-profile §3).
pub fn trigger_for(settings: &TriggerSettings, identity: PskIdentity) -> Result<Vec<u8>, Es5Error> {
    let secs = settings
        .card_retry_interval
        .as_secs()
        .clamp(1, 99 * 3600 + 59 * 60 + 59);
    let agent_id = AdminFrom {
        eid: identity.eid,
        aid: identity.isd_r_aid.clone(),
    }
    .to_header()
    .ok_or_else(|| Es5Error::Invalid("the ISD-R AID is not 6-16 bytes".into()))?;
    SessionTrigger {
        connection: ConnectionParameters {
            bearer: wire_profile::TRIGGER_BEARER.to_vec(),
            buffer_size: wire_profile::TRIGGER_BUFFER_SIZE,
            port: settings.address.port(),
            ipv4: settings.address.ip().octets(),
        },
        identity,
        retry: RetryPolicy {
            counter: settings.card_retries,
            timer: [
                (secs / 3600) as u8,
                (secs / 60 % 60) as u8,
                (secs % 60) as u8,
            ],
        },
        host: settings.host.clone(),
        agent_id,
        admin_uri: settings.admin_path.clone(),
    }
    .to_bytes()
    .map_err(|e| Es5Error::Invalid(format!("trigger: {e}")))
}

/// Decides, for HTTPS eUICC `eid` with queued work and nothing in flight, whether to trigger, wait or fall back
/// to SMS (see the module documentation); a trigger is secured and recorded here, to be submitted after the
/// commit.
pub fn step(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    settings: &TriggerSettings,
    eid: &str,
    now: i64,
) -> Result<Step, Es5Error> {
    let Some(cmd) = es5_queue::next_queued(conn, eid)? else {
        return Ok(Step::Wait);
    };
    let Some(op) = cmd
        .operation_ref
        .parse::<i64>()
        .ok()
        .map(|id| operations::get(conn, id))
        .transpose()?
        .flatten()
        .filter(|o| !o.state.is_final())
    else {
        return Ok(Step::Wait);
    };
    let mut data = OpData::parse(&op.data).map_err(|e| Es5Error::Invalid(e.to_string()))?;
    if data.sms_fallback {
        return Ok(Step::FallBack);
    }
    let state = data.https_trigger.unwrap_or_default();
    let timeout = millis(settings.connect_timeout);
    if state.sent > 0 && now < state.last_at.saturating_add(timeout) {
        return Ok(Step::Wait);
    }
    if state.sent >= settings.attempts.max(1) {
        if cmd.payload.len() > SMS_MAX_SCRIPT {
            return Ok(Step::Wait);
        }
        tracing::warn!(%eid, op = op.id, triggers = state.sent,
            "the eUICC did not open an admin session: the operation falls back to SMS");
        data.sms_fallback = true;
        save(conn, &op, &data, None, now)?;
        return Ok(Step::FallBack);
    }
    let o = send(conn, smsr, settings, &op, &mut data, cmd.id, now)?;
    save(conn, &op, &data, None, now)?;
    Ok(Step::Trigger(o))
}

/// A push SMS for operation `op` whose command `cmd` is in flight over HTTPS and unanswered past its time-out
/// (the session was cut and the eUICC has not come back): the eUICC is asked to connect again, which it does
/// resuming with the response if it ran the script (wire-profile §3 [P]). Never an SMS fall-back here: the
/// eUICC may have run the command. Again after `connect_timeout`, until the operation's deadline.
pub fn retrigger(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    settings: &TriggerSettings,
    op: &Operation,
    cmd: &Es5Command,
    now: i64,
) -> Result<Outgoing, Es5Error> {
    let mut data = OpData::parse(&op.data).map_err(|e| Es5Error::Invalid(e.to_string()))?;
    let o = send(conn, smsr, settings, op, &mut data, cmd.id, now)?;
    let next = now
        .saturating_add(millis(settings.connect_timeout))
        .min(op.deadline.saturating_add(1));
    save(conn, op, &data, Some(Some(next)), now)?;
    Ok(o)
}

/// Secures one push SMS for `op` and counts it in `data` (saved by the caller).
fn send(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    settings: &TriggerSettings,
    op: &Operation,
    data: &mut OpData,
    command_id: i64,
    now: i64,
) -> Result<Outgoing, Es5Error> {
    let eid = op.eid.as_str();
    let state = data.https_trigger.unwrap_or_default();
    let msisdn = destination(conn, op, data)?;
    let trigger = trigger_for(settings, psk_identity(conn, eid)?)?;
    let keys = load_scp80_keys(conn, &smsr.keyring, eid)?;
    let kvn = keys.kvn;
    let counter = es5_queue::advance_scp80_counter(conn, eid, kvn)?;
    let packet = secure_command(eid, &keys, counter, &trigger)?;
    let tp_uds = sms::to_tp_uds(PacketKind::Command, &packet, counter as u8).map_err(|source| {
        Es5Error::Sms {
            eid: eid.to_string(),
            source,
        }
    })?;
    data.https_trigger = Some(TriggerState {
        sent: state.sent + 1,
        last_at: now,
    });
    data.channel = Some(Channel::Https.as_str().to_string());
    tracing::info!(%eid, op = op.id, trigger = state.sent + 1, "admin session trigger sent by SMS");
    Ok(Outgoing {
        command_id,
        eid: eid.to_string(),
        msisdn,
        counter,
        tp_uds,
        retransmission: false,
    })
}

fn save(
    conn: &mut AnyConnection,
    op: &Operation,
    data: &OpData,
    retry_at: Option<Option<i64>>,
    now: i64,
) -> Result<(), Es5Error> {
    let json = data
        .to_json()
        .map_err(|e| Es5Error::Invalid(e.to_string()))?;
    operations::update(
        conn,
        op.id,
        op.state,
        &OperationUpdate {
            data: Some(json),
            retry_at,
            ..OperationUpdate::default()
        },
        now,
    )?;
    Ok(())
}
