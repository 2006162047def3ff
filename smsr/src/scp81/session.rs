//! The RAM-over-HTTP dialogue against the store (wire-profile §3; GP Amd B): the scripts of an HTTPS session come
//! from the same per-eUICC ES5 queue as SMS (one command in flight per ISD-R), and a response script completes
//! its command exactly as a PoR does ([`procedure::on_command_done`]). The sequence number in the Next-URI is the
//! command's place in the eUICC's queue, so a response is applied only to the command in flight with that
//! number: a repeated or late response changes nothing.
//!
//! A session cut after a script was sent [P, GP Amd B `X-Admin-Resume`]: an eUICC that executed the script posts
//! its response on the next connection with `X-Admin-Resume: true` to the Next-URI it had, and the response is
//! applied; an eUICC that opens a session without resuming did not execute it, and the same command is sent
//! again under the same sequence number. A command in flight over SMS is left to its PoR.
//!
//! Scripts for an ISD-P are stored in the SMS form, INSTALL [for personalization] first (wire-profile §5); over
//! HTTPS that command is taken off and the ISD-P named in `X-Admin-Targeted-Application`, and a `9000` for it is
//! put back in front of the response script, so the operation sees the same response on either channel.

use eis_store::AnyConnection;
use eis_store::es5_queue::{self, Delivery, Es5Command, Es5State};
use eis_store::operations::{self, Operation, OperationUpdate};
use es_interfaces::apdu::{ResponseApdu, StatusWord};
use es_interfaces::routing;
use es_interfaces::scp81::ScriptStatus;
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::status::{Reason, StatusCodeData, Subject};

use super::channel::Channel;
use crate::error::SmsrError;
use crate::operation::{self, OpData, Outcome};
use crate::procedure;
use crate::service::Smsr;

/// Most commands of finished operations skipped while looking for the next script.
const MAX_SKIPPED: usize = 16;

/// A script to send in a `200` answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Sequence number (the command's place in the eUICC's queue), for the Next-URI.
    pub sequence: u64,
    /// `AE 80 { 22 L <C-APDU> … } 00 00`.
    pub body: Vec<u8>,
    /// The ISD-P to name in `X-Admin-Targeted-Application`, when the script is for one.
    pub target: Option<Vec<u8>>,
}

/// What became of a response script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// It completed its command (the operation advanced or finished).
    Completed,
    /// The eUICC could not run the script (`X-Admin-Script-Status` other than `ok`): the operation failed.
    Refused,
    /// It matched no command in flight (a repeated or late response); why.
    Ignored(String),
}

fn operation_of(
    conn: &mut AnyConnection,
    cmd: &Es5Command,
) -> Result<Option<Operation>, SmsrError> {
    match cmd.operation_ref.parse::<i64>() {
        Ok(id) => Ok(operations::get(conn, id)?),
        Err(_) => Ok(None),
    }
}

/// The ISD-P a stored script is routed to (its first command is INSTALL [for personalization]) and the
/// commands after it; `None` for a script to the ISD-R.
fn split_routing(script: CommandScript) -> (Option<Vec<u8>>, CommandScript) {
    let target = script
        .commands
        .first()
        .and_then(routing::personalization_target);
    match target {
        Some(aid) => (
            Some(aid),
            CommandScript::new(script.commands.into_iter().skip(1).collect()),
        ),
        None => (None, script),
    }
}

fn sequence_of(cmd: &Es5Command) -> Result<u64, SmsrError> {
    u64::try_from(cmd.seq).map_err(SmsrError::internal)
}

/// Takes the next script for `eid` (wire-profile §3): the command in flight over HTTPS again (the eUICC opened
/// a session without resuming, so it did not run it), else the next queued command, put in flight and recorded
/// as an attempt without SCP80 counter. `None`: nothing to send (the session ends with `204`). `retrigger_at`:
/// when a push SMS is due if the response has not come by then (the session may be cut); `None`: never.
pub fn next_script(
    conn: &mut AnyConnection,
    eid: &str,
    retrigger_at: Option<i64>,
    now: i64,
) -> Result<Option<Script>, SmsrError> {
    for _ in 0..MAX_SKIPPED {
        let cmd = match es5_queue::take_next_for_delivery(conn, eid, now)? {
            Delivery::Next(c) => c,
            Delivery::Busy(c) if c.scp80.is_none() => {
                tracing::info!(%eid, command = c.id, "ES5 command sent again over HTTPS (the session was opened without resuming)");
                c
            }
            Delivery::Busy(_) | Delivery::Empty => return Ok(None),
        };
        let Some(op) = operation_of(conn, &cmd)?.filter(|o| !o.state.is_final()) else {
            es5_queue::mark_failed(conn, cmd.id, "its operation is finished", now)?;
            continue;
        };
        es5_queue::record_attempt(conn, cmd.id, None, now)?;
        let mut data = OpData::parse(&op.data)?;
        data.channel = Some(Channel::Https.as_str().to_string());
        operations::update(
            conn,
            op.id,
            op.state,
            &OperationUpdate {
                data: Some(data.to_json()?),
                // No SMS retransmission while the command is in flight over HTTPS; a push SMS if the session
                // is cut and the eUICC does not come back (smsr::scp81::trigger::retrigger).
                retry_at: Some(retrigger_at.map(|t| t.min(op.deadline.saturating_add(1)))),
                ..OperationUpdate::default()
            },
            now,
        )?;
        let script = CommandScript::parse_expanded(&cmd.payload).map_err(SmsrError::internal)?;
        let (target, script) = split_routing(script);
        let body = script
            .to_expanded_indefinite()
            .map_err(SmsrError::internal)?;
        tracing::info!(%eid, op = op.id, command = cmd.id, attempt = cmd.attempts + 1, channel = "https",
            "ES5 command sent");
        return Ok(Some(Script {
            sequence: sequence_of(&cmd)?,
            body,
            target,
        }));
    }
    Ok(None)
}

/// Applies the eUICC's answer to the script with `sequence` (wire-profile §3): with status `ok` the body is the
/// response script and completes the command in flight as a PoR would; another status fails the operation
/// (8.3.1/3.9 for `unknown-application` of an ISD-P, 8.4/4.2 otherwise).
pub fn apply_response(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    eid: &str,
    sequence: u64,
    status: ScriptStatus,
    body: &[u8],
    now: i64,
) -> Result<Applied, SmsrError> {
    let Some(cmd) = es5_queue::in_flight(conn, eid)?
        .filter(|c| u64::try_from(c.seq).ok() == Some(sequence) && c.state == Es5State::InFlight)
    else {
        return Ok(Applied::Ignored(format!(
            "no command of {eid} with sequence {sequence} is in flight (a repeated or late response)"
        )));
    };
    let Some(op) = operation_of(conn, &cmd)?.filter(|o| !o.state.is_final()) else {
        es5_queue::mark_done(conn, cmd.id, Some(body), now)?;
        return Ok(Applied::Ignored(format!(
            "command {} belongs to a finished operation",
            cmd.id
        )));
    };
    let stored = CommandScript::parse_expanded(&cmd.payload).map_err(SmsrError::internal)?;
    let (target, _) = split_routing(stored);
    if status != ScriptStatus::Ok {
        let what = format!(
            "the eUICC answered X-Admin-Script-Status: {}",
            status.as_str()
        );
        es5_queue::mark_failed(conn, cmd.id, &what, now)?;
        let d = match (status, target.is_some()) {
            (ScriptStatus::UnknownApplication, true) => {
                StatusCodeData::new(Subject::ISD_P, Reason::UNKNOWN, Some(what))
            }
            _ => StatusCodeData::new(Subject::ISD_R, Reason::EXECUTION_ERROR, Some(what)),
        };
        operation::finish(conn, smsr, &op, Outcome::failed(d), now)?;
        return Ok(Applied::Refused);
    }
    let response = match (&target, ResponseScript::parse_expanded(body)) {
        (Some(_), Ok(mut r)) => {
            // The routing INSTALL the SMS form carries, answered `9000` (see the module documentation).
            r.responses
                .insert(0, ResponseApdu::new(Vec::new(), StatusWord::OK));
            r.executed = r.executed.saturating_add(1);
            r.to_expanded().map_err(SmsrError::internal)?
        }
        // An unreadable response script fails the operation in on_command_done, as for SMS.
        _ => body.to_vec(),
    };
    procedure::on_command_done(conn, smsr, &op, &cmd, &response, now)?;
    Ok(Applied::Completed)
}
