//! Profile switch: ES3/ES4.EnableProfile and DisableProfile (SGP.02 §3.2, §3.3; §5.4.10–§5.4.11,
//! §5.5.5–§5.5.6). The function call queues `ES5.EnableProfile` (disable: `ES5.DisableProfile`, the fall-back
//! profile takes over) → the PoR `9000` moves the operation to `AwaitingNotification` → the eUICC's notification
//! `02` (after network attach) is confirmed ([`super::notification`]) → on that confirmation's PoR the EIS is
//! updated, the owners are notified and the switch completes; its result goes to the caller's ReplyTo.
//! A confirmed `03` (roll-back, §3.2.2) or `05` (fall-back, §3.5) ends it FAILED.
//!
//! | from | event | to | actions | SGP.02 |
//! |---|---|---|---|---|
//! | Active | Executed | AwaitingNotification | Await | §3.2, §3.3: the ISD-R accepted; the outcome comes as a notification |
//! | Active | SwitchSeen | AwaitingNotification | ReleaseInFlight, Await | §3.2.2: the notification shows the command ran |
//! | Active, AwaitingNotification | SwitchConfirmed | Done | Finish | §3.2, §5.7.11: `02` confirmed |
//! | AwaitingNotification | RolledBack | Failed | Finish | §3.2.2: `03` confirmed |
//! | AwaitingNotification | FellBack | Failed | Finish | §3.5: `05` confirmed |
//! | Active, AwaitingNotification | Failed | Failed | Finish | wire-profile §2 |
//! | Active, AwaitingNotification | Expired | Expired | Finish | §5.1.6.4 |

use eis_store::AnyConnection;
use eis_store::eis::{ProfileRecord, ProfileState};
use eis_store::es5_queue;
use eis_store::operations::{self, Operation, OperationState, OperationUpdate};
use es_interfaces::notification::NotificationType;
use es_interfaces::status::{Reason, StatusCodeData, Subject};

use super::{Event, SWITCHING, Transition, ignored, step};
use crate::error::SmsrError;
use crate::operation::{self, OperationKind, Outcome};
use crate::service::Smsr;

/// What a profile switch does on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The ES5 command in flight is done (its late PoRs are dropped).
    ReleaseInFlight,
    /// The operation waits for the notification; the owner gets the state change ([`crate::esm2m::events`]).
    Await,
    /// The operation ends ([`crate::operation::finish`]).
    Finish,
}

const AWAITING: &[OperationState] = &[OperationState::AwaitingNotification];

/// The transitions of a profile switch (module documentation).
pub const TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: super::ACTIVE,
        event: Event::Executed,
        to: OperationState::AwaitingNotification,
        actions: &[Action::Await],
        spec: "SGP.02 §3.2, §3.3",
    },
    Transition {
        from: super::ACTIVE,
        event: Event::SwitchSeen,
        to: OperationState::AwaitingNotification,
        actions: &[Action::ReleaseInFlight, Action::Await],
        spec: "SGP.02 §3.2.2",
    },
    Transition {
        from: SWITCHING,
        event: Event::SwitchConfirmed,
        to: OperationState::Done,
        actions: &[Action::Finish],
        spec: "SGP.02 §3.2, §5.7.11",
    },
    Transition {
        from: AWAITING,
        event: Event::RolledBack,
        to: OperationState::Failed,
        actions: &[Action::Finish],
        spec: "SGP.02 §3.2.2",
    },
    Transition {
        from: AWAITING,
        event: Event::FellBack,
        to: OperationState::Failed,
        actions: &[Action::Finish],
        spec: "SGP.02 §3.5",
    },
    Transition {
        from: SWITCHING,
        event: Event::Failed,
        to: OperationState::Failed,
        actions: &[Action::Finish],
        spec: "wire-profile §2",
    },
    Transition {
        from: SWITCHING,
        event: Event::Expired,
        to: OperationState::Expired,
        actions: &[Action::Finish],
        spec: "SGP.02 §5.1.6.4",
    },
];

/// Whether `op` is a profile switch.
pub fn is_switch(op: &Operation) -> bool {
    op.kind == OperationKind::EnableProfile.as_str()
        || op.kind == OperationKind::DisableProfile.as_str()
}

/// The event of a confirmed notification for the open switch it answers (`None` for `01`).
pub fn confirmed_event(kind: NotificationType) -> Option<Event> {
    match kind {
        NotificationType::ProfileChangeSucceeded => Some(Event::SwitchConfirmed),
        NotificationType::ProfileChangeFailedRollback => Some(Event::RolledBack),
        NotificationType::ProfileChangeAfterFallback => Some(Event::FellBack),
        _ => None,
    }
}

/// How a switch ends on `event` (the codes the caller gets).
pub fn outcome(op: &Operation, event: Event) -> Outcome {
    let why = match event {
        Event::SwitchConfirmed => return Outcome::success(),
        Event::RolledBack => {
            "the target profile did not provide connectivity; the eUICC rolled back to the previously enabled \
             profile (SGP.02 §3.2.2)"
        }
        _ => "connectivity was lost and the eUICC enabled its fall-back profile (SGP.02 §3.5)",
    };
    let mut d = StatusCodeData::new(
        Subject::PROFILE_ICCID,
        Reason::EXECUTION_ERROR,
        Some(why.to_string()),
    );
    d.subject_identifier = op.iccid.clone();
    Outcome::failed(d)
}

/// Runs the transition of `op` for `event` ([`TRANSITIONS`]); an event with no row in the operation's state
/// changes nothing.
pub fn on_event(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    event: Event,
    now: i64,
) -> Result<(), SmsrError> {
    let Some(t) = step(TRANSITIONS, op.state, event) else {
        ignored(op, event);
        return Ok(());
    };
    for action in t.actions {
        match action {
            Action::ReleaseInFlight => {
                for c in es5_queue::commands_of_operation(conn, &op.id.to_string())? {
                    if c.state == es5_queue::Es5State::InFlight {
                        es5_queue::mark_done(conn, c.id, None, now)?;
                    }
                }
            }
            Action::Await => {
                match operations::update(
                    conn,
                    op.id,
                    op.state,
                    &OperationUpdate {
                        state: Some(t.to),
                        data: None,
                        retry_at: Some(None),
                    },
                    now,
                ) {
                    Ok(()) => {}
                    Err(eis_store::StoreError::Conflict { .. }) => return Ok(()),
                    Err(e) => return Err(e.into()),
                }
                crate::esm2m::events::operation_state_changed(conn, smsr, op, t.to, now)?;
            }
            Action::Finish => {
                operation::finish(conn, smsr, op, outcome(op, event), now)?;
            }
        }
    }
    Ok(())
}

/// The open profile-switch operation a profile-change-succeeded notification (`02`) for ISD-P `aid` completes:
/// an enable of that ISD-P, or a disable of the profile enabled until now (its fall-back took over).
pub fn matching_switch(
    open: &[Operation],
    aid: &[u8],
    enabled_before: Option<&ProfileRecord>,
) -> Option<Operation> {
    open.iter()
        .find(|o| {
            (o.kind == OperationKind::EnableProfile.as_str() && o.isd_p_aid.as_deref() == Some(aid))
                || (o.kind == OperationKind::DisableProfile.as_str()
                    && enabled_before.is_some_and(|e| {
                        o.isd_p_aid.as_deref() == Some(e.info.isd_p_aid.as_slice())
                            && e.info.isd_p_aid != aid
                    }))
        })
        .cloned()
}

/// Records that the eUICC executed the command of an open switch whose PoR never arrived (lost SMS, or the SM-SR
/// restarted between sending it and receiving the answer; SGP.02 §3.2, §3.2.2): a notification `02` naming
/// the switch's target, or a roll-back `03`, can only follow its execution ([`Event::SwitchSeen`]). The command
/// in flight is done (later PoRs of it are dropped; the row stays, a delivery round may be recording a
/// retransmission of it) and the operation waits for this notification's confirmation. Without this the
/// confirmation queued behind the retransmissions of the command the eUICC already ran: sent to the MSISDN of
/// the profile it had left, they were lost until the eUICC gave up and rolled back, and a retransmission then
/// reached it and switched it again with nothing to confirm the new switch. `open` and `profiles` are the
/// eUICC's open operations and profiles as the notification's handling read them.
pub fn switch_executed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    open: &[Operation],
    profiles: &[ProfileRecord],
    kind: NotificationType,
    aid: &[u8],
    now: i64,
) -> Result<(), SmsrError> {
    let op = match kind {
        NotificationType::ProfileChangeSucceeded => {
            let enabled = profiles
                .iter()
                .find(|p| p.info.state == ProfileState::Enabled);
            matching_switch(open, aid, enabled)
        }
        NotificationType::ProfileChangeFailedRollback => {
            open.iter().find(|o| is_switch(o)).cloned()
        }
        _ => None,
    };
    let Some(op) = op.filter(|o| o.state == OperationState::Active) else {
        return Ok(());
    };
    tracing::info!(op = op.id, eid = %op.eid, ?kind, "the eUICC's notification shows the switch command executed; its PoR did not arrive");
    on_event(conn, smsr, &op, Event::SwitchSeen, now)
}

#[cfg(test)]
mod tests {
    use super::super::tests::drive;
    use super::*;
    use eis_store::eis::ProfileInfo;
    use es_interfaces::status::Status;

    use OperationState::{AwaitingNotification, Done, Expired, Failed};

    fn op(id: i64, kind: OperationKind, aid: u8) -> Operation {
        Operation {
            id,
            eid: "89049032123451234512345678901235".into(),
            kind: kind.as_str().into(),
            state: OperationState::Active,
            function_call_id: Some(1),
            requester_oid: "1.3.6.1.4.1.4242".into(),
            interface: "ES4".into(),
            iccid: Some("8988211000000000001".into()),
            isd_p_aid: Some(vec![aid]),
            deadline: 0,
            retry_at: None,
            data: "{}".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn enabled(aid: u8) -> ProfileRecord {
        ProfileRecord {
            eid: "89049032123451234512345678901235".into(),
            info: ProfileInfo {
                iccid: "8988211000000000002".into(),
                isd_p_aid: vec![aid],
                mno_id: "1.3.6.1.4.1.4242".into(),
                fallback: false,
                imsi: None,
                msisdn: None,
                state: ProfileState::Enabled,
                smdp_id: None,
                profile_type: None,
                allocated_memory: 0,
                free_memory: None,
                pol2: Vec::new(),
            },
            version: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_switch_awaits_its_notification_then_completes_on_its_confirmation() {
        assert_eq!(
            drive(TRANSITIONS, &[Event::Executed, Event::SwitchConfirmed]),
            [Some(AwaitingNotification), Some(Done)]
        );
    }

    #[test]
    fn a_notification_before_the_por_counts_as_the_por_and_a_late_por_changes_nothing() {
        assert_eq!(
            drive(
                TRANSITIONS,
                &[Event::SwitchSeen, Event::Executed, Event::RolledBack]
            ),
            [Some(AwaitingNotification), None, Some(Failed)]
        );
        let t = step(TRANSITIONS, OperationState::Active, Event::SwitchSeen).expect("row");
        assert_eq!(t.actions, [Action::ReleaseInFlight, Action::Await]);
    }

    #[test]
    fn roll_back_and_fall_back_end_only_a_switch_awaiting_its_notification() {
        assert_eq!(drive(TRANSITIONS, &[Event::RolledBack]), [None]);
        assert_eq!(drive(TRANSITIONS, &[Event::FellBack]), [None]);
        assert_eq!(
            drive(TRANSITIONS, &[Event::Executed, Event::FellBack]),
            [Some(AwaitingNotification), Some(Failed)]
        );
        // A confirmed 02 also completes a switch still active (its notification overtook the PoR).
        assert_eq!(drive(TRANSITIONS, &[Event::SwitchConfirmed]), [Some(Done)]);
    }

    #[test]
    fn a_switch_expires_while_awaiting_and_stays_ended() {
        assert_eq!(
            drive(
                TRANSITIONS,
                &[Event::Executed, Event::Expired, Event::SwitchConfirmed]
            ),
            [Some(AwaitingNotification), Some(Expired), None]
        );
    }

    #[test]
    fn the_caller_learns_why_a_switch_failed() {
        let o = op(1, OperationKind::EnableProfile, 2);
        assert_eq!(
            outcome(&o, Event::SwitchConfirmed).status.status,
            Status::ExecutedSuccess
        );
        for (event, says) in [(Event::RolledBack, "§3.2.2"), (Event::FellBack, "§3.5")] {
            let out = outcome(&o, event);
            assert_eq!(out.state, Failed);
            let d = out.status.status_code_data.expect("codes");
            assert_eq!((d.subject.code(), d.reason.code()), ("8.2.1", "4.2"));
            assert_eq!(d.subject_identifier.as_deref(), o.iccid.as_deref());
            assert!(d.message.expect("message").contains(says));
        }
        assert_eq!(
            confirmed_event(NotificationType::ProfileChangeAfterFallback),
            Some(Event::FellBack)
        );
        assert_eq!(confirmed_event(NotificationType::FirstAttach), None);
    }

    #[test]
    fn a_02_completes_the_enable_of_its_isd_p_or_the_disable_of_the_profile_it_replaced() {
        let enable = op(1, OperationKind::EnableProfile, 3);
        let disable = op(2, OperationKind::DisableProfile, 4);
        let open = [enable.clone(), disable.clone()];
        assert_eq!(matching_switch(&open, &[3], None).map(|o| o.id), Some(1));
        // The disabled profile's fall-back (ISD-P 5) took over from ISD-P 4.
        assert_eq!(
            matching_switch(&open[1..], &[5], Some(&enabled(4))).map(|o| o.id),
            Some(2)
        );
        assert_eq!(matching_switch(&open[1..], &[4], Some(&enabled(4))), None);
        assert_eq!(matching_switch(&open, &[6], None), None);
    }
}
