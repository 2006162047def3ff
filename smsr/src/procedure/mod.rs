//! The SM-SR's procedures (SGP.02 §3), one module each, every one around a table of states and transitions
//! that can be read against the spec: in state `from`, `event` moves the operation to `to`, and the procedure
//! does its `actions` in order. [`step`] is the pure lookup the procedures run on (given state and event: the
//! new state and the actions), so their tests drive a procedure through its states without a store, a network
//! or a lab. The persisted operation itself (kinds, data, start, the common ending) is [`crate::operation`];
//! [`crate::operation::finish`] refuses an ending no table has.
//!
//! | procedure | module | SGP.02 |
//! |---|---|---|
//! | EnableProfile, DisableProfile | [`switch`] | §3.2, §3.2.2 (roll-back), §3.3, §3.5 (fall-back) |
//! | DeleteProfile / DeleteISDP | [`delete`] | §3.4, §3.1.4, §3.3 (POL2 Auto-Delete) |
//! | AuditEIS | [`audit`] | §5.4.7, §5.5.4, ES5 §5.7.5 |
//! | SetFallbackAttribute | [`fallback`] | v4 §5.5.21, ES5 §5.7.7 |
//! | confirmation of an eUICC notification | [`notification`] | §3.2, §3.2.2, §4.1.1.11, §5.7.11 |
//! | UpdateConnectivityParameters, SendData | [`routed`] | §3.12, §5.4.13; §3.1.2, §5.4.2 |
//! | CreateISDP | [`create_isdp`] | §3.1.1, §5.4.1 |
//! | SMSRChange, AuthenticateSMSR, CreateAdditionalKeySet, HandoverEUICC | [`smsr_change`] | §3.8, §5.5, §5.7 |
//!
//! Every procedure also ends `Failed` on a refusal or a failed transmission and `Expired` when its validity
//! period ends (SGP.02 §5.1.6.4), from any state it waits in; those endings come from the ES5 workers through
//! [`crate::operation::finish`].

pub mod audit;
pub mod create_isdp;
pub mod delete;
pub mod fallback;
pub mod notification;
pub mod routed;
pub mod smsr_change;
pub mod switch;

use eis_store::AnyConnection;
use eis_store::es5_queue::{self, Es5Command as QueuedCommand};
use eis_store::operations::{Operation, OperationState};
use es_interfaces::apdu::ResponseApdu;
use es_interfaces::isdr::{self, Es5Command, Es5Completion};
use es_interfaces::script::CommandScript;
use es_interfaces::status::{Reason, StatusCodeData, Subject};

use crate::error::SmsrError;
use crate::operation::{self, OperationKind, Outcome, card_refusal, responses_of};
use crate::service::Smsr;

/// What happens to an operation: the events of the transition tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The eUICC executed the operation's script, every ES5 command with success (PoR `00` or the HTTPS
    /// response; wire-profile §2, §3); for a routed script, the ISD-P answered every ES8 command with success.
    Executed,
    /// GET STATUS answered `6310`: more ISD-Ps to report (GP Card Specification §11.4.2.1).
    MoreData,
    /// DELETE answered `6A88` for a profile only `Created`: the ISD-P is gone all the same (SGP.02 §3.1.4).
    IsdpAbsent,
    /// The eUICC or the ISD-P refused, the PoR or the response reported a failure, or the command could not be
    /// sent (wire-profile §2: 8.4 / 4.2 unless the refusal says more).
    Failed,
    /// The validity period ended first (SGP.02 §5.1.6.4: 1.6 / 5.3).
    Expired,
    /// A notification `02` naming the switch's target, or `03`, arrived before the switch command's PoR: the
    /// eUICC executed it (SGP.02 §3.2.2).
    SwitchSeen,
    /// Notification `02` (profile change succeeded) confirmed (SGP.02 §3.2, §5.7.11).
    SwitchConfirmed,
    /// Notification `03` (profile change failed, roll-back) confirmed (SGP.02 §3.2.2).
    RolledBack,
    /// Notification `05` (profile change after fall-back) confirmed (SGP.02 §3.5).
    FellBack,
    /// The eUICC rolled back (notification `03`) before this confirmation of its `02` reached it (SGP.02 §3.2.2).
    Superseded,
    /// The new SM-SR answered ES7.HandoverEUICC with success: it manages the eUICC now (SGP.02 §3.8 step 6).
    HandedOver,
    /// A hand-over's validity period ended after its commit point (the receipt verified and the new key set
    /// stored, SGP.02 §3.8 step 5) but before the eUICC confirmed the finalisation.
    CommittedAtDeadline,
}

impl Event {
    /// The event of a common ending reached through [`crate::operation::finish`] (`None` for `Done`, which
    /// only a procedure's own event reaches).
    pub fn of_ending(state: OperationState) -> Option<Event> {
        match state {
            OperationState::Failed => Some(Event::Failed),
            OperationState::Expired => Some(Event::Expired),
            _ => None,
        }
    }
}

/// One row of a procedure's transition table.
#[derive(Debug)]
pub struct Transition<A: 'static> {
    /// The states the row applies in.
    pub from: &'static [OperationState],
    /// The event.
    pub event: Event,
    /// The state the operation moves to.
    pub to: OperationState,
    /// What the procedure does, in order.
    pub actions: &'static [A],
    /// Where SGP.02 (or the wire profile) says so.
    pub spec: &'static str,
}

/// States an operation waits in before the eUICC executed its command.
pub const ACTIVE: &[OperationState] = &[OperationState::Active];
/// States a profile switch waits in (its command queued or in flight, or its notification awaited).
pub const SWITCHING: &[OperationState] =
    &[OperationState::Active, OperationState::AwaitingNotification];

/// The transition of `table` for `event` in state `from` (`None`: the event does not apply in that state).
pub fn step<A>(
    table: &'static [Transition<A>],
    from: OperationState,
    event: Event,
) -> Option<&'static Transition<A>> {
    table
        .iter()
        .find(|t| t.event == event && t.from.contains(&from))
}

fn reaches<A>(table: &'static [Transition<A>], from: OperationState, to: OperationState) -> bool {
    table.iter().any(|t| t.from.contains(&from) && t.to == to)
}

/// Whether the table of `kind` has a transition from `from` to `to` ([`crate::operation::finish`] checks
/// every ending against it).
pub fn allows(kind: OperationKind, from: OperationState, to: OperationState) -> bool {
    match kind {
        OperationKind::EnableProfile | OperationKind::DisableProfile => {
            reaches(switch::TRANSITIONS, from, to)
        }
        OperationKind::DeleteProfile => reaches(delete::TRANSITIONS, from, to),
        OperationKind::AuditEis => reaches(audit::TRANSITIONS, from, to),
        OperationKind::SetFallbackAttribute => reaches(fallback::TRANSITIONS, from, to),
        OperationKind::ConfirmNotification => reaches(notification::TRANSITIONS, from, to),
        OperationKind::UpdateConnectivityParameters | OperationKind::SendData => {
            reaches(routed::TRANSITIONS, from, to)
        }
        OperationKind::CreateIsdp => reaches(create_isdp::TRANSITIONS, from, to),
        OperationKind::SmsrChange => reaches(smsr_change::CHANGE_TRANSITIONS, from, to),
        OperationKind::AuthenticateSmsr | OperationKind::CreateAdditionalKeySet => {
            reaches(smsr_change::RELAY_TRANSITIONS, from, to)
        }
        OperationKind::HandoverEuicc => reaches(smsr_change::HANDOVER_TRANSITIONS, from, to),
        OperationKind::FinaliseIsdrHandover => reaches(smsr_change::FINALISE_TRANSITIONS, from, to),
    }
}

/// An event the table of the operation's procedure has no row for in its state: nothing changes.
pub(crate) fn ignored(op: &Operation, event: Event) {
    tracing::info!(op = op.id, eid = %op.eid, kind = %op.kind, state = ?op.state, ?event,
        "event ignored: no transition for it in this state");
}

pub(crate) fn aid_hex(aid: &[u8]) -> String {
    hex::encode_upper(aid)
}

/// One ES5 command the eUICC executed: the function, how it completed, its R-APDU.
pub type Completion = (isdr::Es5Function, Es5Completion, ResponseApdu);

/// Handles the eUICC's answer to command `cmd` of `op` (PoR `00` or the HTTPS response, with the response
/// script `response_script`): the command is done; every ES5 command must have been executed with success
/// (else the operation fails, or for a DELETE of a `Created` profile answered `6A88`, [`Event::IsdpAbsent`]),
/// then the operation's procedure takes it ([`Event::Executed`]).
pub fn on_command_done(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    cmd: &QueuedCommand,
    response_script: &[u8],
    now: i64,
) -> Result<(), SmsrError> {
    es5_queue::mark_done(conn, cmd.id, Some(response_script), now)?;
    let kind = OperationKind::parse(&op.kind)?;
    let responses = match responses_of(response_script) {
        Ok(r) => r,
        Err(d) => {
            operation::finish(conn, smsr, op, Outcome::failed(d), now)?;
            return Ok(());
        }
    };
    let commands = CommandScript::parse_expanded(&cmd.payload).map_err(SmsrError::internal)?;
    // Every ES5 command must have been executed, each with success (or 6310 for GET STATUS); a routed ES8
    // script is judged by its ISD-P's answers ([`routed`]).
    let mut completions = Vec::with_capacity(commands.commands.len());
    let es5_commands = match kind {
        OperationKind::UpdateConnectivityParameters | OperationKind::SendData => &[][..],
        _ => &commands.commands[..],
    };
    for (i, c) in es5_commands.iter().enumerate() {
        let function = Es5Command::from_apdu(c)
            .map(|e| e.function())
            .map_err(SmsrError::internal)?;
        let Some(r) = responses.get(i) else {
            let d = StatusCodeData::new(
                Subject::ISD_R,
                Reason::EXECUTION_ERROR,
                Some(format!("{function} was not executed by the eUICC")),
            );
            operation::finish(conn, smsr, op, Outcome::failed(d), now)?;
            return Ok(());
        };
        match isdr::interpret(function, r) {
            Ok(c) => completions.push((function, c, r.clone())),
            Err(failure) if smsr_change::already_finalised(kind, &failure) => {
                completions.push((function, Es5Completion::Done, r.clone()));
            }
            Err(failure) if delete::absent_isdp_counts_as_deleted(conn, op, &failure)? => {
                return delete::on_event(conn, smsr, op, Event::IsdpAbsent, now);
            }
            Err(failure) => {
                let mut outcome = Outcome::failed(card_refusal(op, &failure));
                outcome.euicc_response_data = Some(r.to_bytes());
                operation::finish(conn, smsr, op, outcome, now)?;
                return Ok(());
            }
        }
    }
    match kind {
        OperationKind::EnableProfile | OperationKind::DisableProfile => {
            switch::on_event(conn, smsr, op, Event::Executed, now)
        }
        OperationKind::DeleteProfile => delete::on_event(conn, smsr, op, Event::Executed, now),
        OperationKind::SetFallbackAttribute => fallback::on_executed(conn, smsr, op, now),
        OperationKind::AuditEis => audit::on_executed(conn, smsr, op, &completions, now),
        OperationKind::ConfirmNotification => {
            notification::on_executed(conn, smsr, op, &completions, now)
        }
        OperationKind::UpdateConnectivityParameters | OperationKind::SendData => {
            let sent = commands.commands.len().saturating_sub(1);
            routed::on_executed(conn, smsr, op, kind, sent, responses, now)
        }
        OperationKind::CreateIsdp => create_isdp::on_executed(conn, smsr, op, response_script, now),
        OperationKind::AuthenticateSmsr | OperationKind::CreateAdditionalKeySet => {
            crate::smsr_change::on_relay_executed(conn, smsr, op, kind, &completions, now)
        }
        OperationKind::HandoverEuicc => crate::smsr_change::on_finalised(conn, smsr, op, now),
        OperationKind::FinaliseIsdrHandover => {
            crate::smsr_change::on_finalised_later(conn, smsr, op, now)
        }
        // It sends no ES5 command.
        OperationKind::SmsrChange => Ok(()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const OPEN: [OperationState; 2] =
        [OperationState::Active, OperationState::AwaitingNotification];

    /// A row as `(from, event, to)`.
    type Row = (OperationState, Event, OperationState);

    /// The rows of every table, per table name.
    fn tables() -> Vec<(&'static str, Vec<Row>)> {
        fn rows<A>(table: &'static [Transition<A>]) -> Vec<Row> {
            table
                .iter()
                .flat_map(|t| t.from.iter().map(move |f| (*f, t.event, t.to)))
                .collect()
        }
        vec![
            ("switch", rows(switch::TRANSITIONS)),
            ("delete", rows(delete::TRANSITIONS)),
            ("audit", rows(audit::TRANSITIONS)),
            ("fallback", rows(fallback::TRANSITIONS)),
            ("notification", rows(notification::TRANSITIONS)),
            ("routed", rows(routed::TRANSITIONS)),
            ("create_isdp", rows(create_isdp::TRANSITIONS)),
            ("smsr_change", rows(smsr_change::CHANGE_TRANSITIONS)),
            ("smsr_change relay", rows(smsr_change::RELAY_TRANSITIONS)),
            ("handover", rows(smsr_change::HANDOVER_TRANSITIONS)),
            ("finalise later", rows(smsr_change::FINALISE_TRANSITIONS)),
        ]
    }

    #[test]
    fn every_table_is_deterministic_and_starts_from_an_open_state() {
        for (name, rows) in tables() {
            for (i, (from, event, _)) in rows.iter().enumerate() {
                assert!(
                    OPEN.contains(from),
                    "{name}: a row from final state {from:?}"
                );
                assert!(
                    !rows[..i].iter().any(|(f, e, _)| f == from && e == event),
                    "{name}: two rows for {event:?} in {from:?}"
                );
            }
        }
    }

    #[test]
    fn every_state_a_procedure_waits_in_fails_and_expires() {
        for (name, rows) in tables() {
            let waits: Vec<OperationState> = std::iter::once(OperationState::Active)
                .chain(rows.iter().map(|r| r.2).filter(|s| !s.is_final()))
                .collect();
            for s in waits {
                for (event, to) in [
                    (Event::Failed, OperationState::Failed),
                    (Event::Expired, OperationState::Expired),
                ] {
                    assert!(
                        rows.iter().any(|r| r.0 == s && r.1 == event && r.2 == to),
                        "{name}: no {event:?} in {s:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_procedure_can_succeed_and_no_final_state_is_left() {
        for (name, rows) in tables() {
            assert!(
                rows.iter().any(|r| r.2 == OperationState::Done),
                "{name}: never done"
            );
        }
        for kind in [
            OperationKind::EnableProfile,
            OperationKind::AuditEis,
            OperationKind::ConfirmNotification,
        ] {
            for from in [
                OperationState::Done,
                OperationState::Failed,
                OperationState::Expired,
            ] {
                assert!(!allows(kind, from, OperationState::Failed));
            }
        }
    }

    #[test]
    fn finish_may_end_only_what_a_table_ends() {
        // A switch may fail while it awaits its notification; nothing else ever awaits one.
        assert!(allows(
            OperationKind::DisableProfile,
            OperationState::AwaitingNotification,
            OperationState::Failed
        ));
        for kind in [
            OperationKind::DeleteProfile,
            OperationKind::AuditEis,
            OperationKind::SetFallbackAttribute,
            OperationKind::ConfirmNotification,
            OperationKind::SendData,
            OperationKind::CreateIsdp,
        ] {
            assert!(allows(kind, OperationState::Active, OperationState::Done));
            assert!(!allows(
                kind,
                OperationState::AwaitingNotification,
                OperationState::Failed
            ));
        }
    }

    #[test]
    fn the_common_endings_map_to_their_events() {
        assert_eq!(
            Event::of_ending(OperationState::Failed),
            Some(Event::Failed)
        );
        assert_eq!(
            Event::of_ending(OperationState::Expired),
            Some(Event::Expired)
        );
        assert_eq!(Event::of_ending(OperationState::Done), None);
    }

    /// Drives `table` from `Active` through `events`; the states after each, `None` where an event does not apply.
    pub(crate) fn drive<A>(
        table: &'static [Transition<A>],
        events: &[Event],
    ) -> Vec<Option<OperationState>> {
        let mut state = OperationState::Active;
        events
            .iter()
            .map(|e| {
                let t = step(table, state, *e)?;
                state = t.to;
                Some(state)
            })
            .collect()
    }
}
