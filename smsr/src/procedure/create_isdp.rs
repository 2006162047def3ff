//! ES3.CreateISDP, the first step of profile download (SGP.02 §3.1.1, §5.4.1): [`crate::download::create_isdp`]
//! records the profile `InCreation`, reserves its memory and queues `ES5.CreateISDP`; the eUICC's success makes
//! it `Created` and the SM-DP's callback carries the AID and the response script; any other ending (card
//! refusal, PoR status, expiry) removes the profile again and gives the memory back. The rest of the download
//! (SendData) is a [`super::routed`] script.
//!
//! | from | event | to | actions | SGP.02 |
//! |---|---|---|---|---|
//! | Active | Executed | Done | MarkCreated, Finish | §3.1.1 |
//! | Active | Failed | Failed | Finish, Undo | §3.1.1, §3.1.4 |
//! | Active | Expired | Expired | Finish, Undo | §3.1.1, §5.1.6.4 |

use eis_store::AnyConnection;
use eis_store::eis::{self, EuiccUpdate, ProfileState};
use eis_store::operations::{Operation, OperationState};

use super::{ACTIVE, Event, Transition, ignored, step};
use crate::error::SmsrError;
use crate::operation::{self, Outcome};
use crate::service::Smsr;

/// What CreateISDP does on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The profile `InCreation` becomes `Created`.
    MarkCreated,
    /// The operation ends ([`crate::operation::finish`]; the success carries the response script).
    Finish,
    /// The profile in creation is removed and its memory given back.
    Undo,
}

/// The transitions of CreateISDP (module documentation).
pub const TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: ACTIVE,
        event: Event::Executed,
        to: OperationState::Done,
        actions: &[Action::MarkCreated, Action::Finish],
        spec: "SGP.02 §3.1.1",
    },
    Transition {
        from: ACTIVE,
        event: Event::Failed,
        to: OperationState::Failed,
        actions: &[Action::Finish, Action::Undo],
        spec: "SGP.02 §3.1.1, §3.1.4",
    },
    Transition {
        from: ACTIVE,
        event: Event::Expired,
        to: OperationState::Expired,
        actions: &[Action::Finish, Action::Undo],
        spec: "SGP.02 §3.1.1, §5.1.6.4",
    },
];

/// The eUICC created the ISD-P (PoR `00`, INSTALL answered with success): the profile is `Created` and the
/// SM-DP's callback carries the AID and the response script (SGP.02 §3.1.1).
pub fn on_executed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    response_script: &[u8],
    now: i64,
) -> Result<(), SmsrError> {
    let Some(t) = step(TRANSITIONS, op.state, Event::Executed) else {
        ignored(op, Event::Executed);
        return Ok(());
    };
    for action in t.actions {
        match action {
            Action::MarkCreated => {
                if let Some(p) = created_profile(conn, op, ProfileState::InCreation)? {
                    eis::update_profile_state(
                        conn,
                        &p.info.iccid,
                        p.version,
                        ProfileState::Created,
                        now,
                    )?;
                }
            }
            Action::Finish => {
                let mut outcome = Outcome::success();
                outcome.euicc_response_data = Some(response_script.to_vec());
                operation::finish(conn, smsr, op, outcome, now)?;
            }
            Action::Undo => undo_creation(conn, op, now)?,
        }
    }
    Ok(())
}

/// What a CreateISDP operation that [`crate::operation::finish`] just ended in state `to` still has to do: the
/// actions after `Finish` of its row (the undo of a failure or an expiry).
pub fn on_finished(
    conn: &mut AnyConnection,
    op: &Operation,
    to: OperationState,
    now: i64,
) -> Result<(), SmsrError> {
    let Some(t) = Event::of_ending(to).and_then(|e| step(TRANSITIONS, op.state, e)) else {
        return Ok(());
    };
    if t.actions.contains(&Action::Undo) {
        undo_creation(conn, op, now)?;
    }
    Ok(())
}

/// The profile a CreateISDP operation created, if it is still there in state `state`.
pub(crate) fn created_profile(
    conn: &mut AnyConnection,
    op: &Operation,
    state: ProfileState,
) -> Result<Option<eis::ProfileRecord>, SmsrError> {
    let (Some(iccid), Some(aid)) = (&op.iccid, &op.isd_p_aid) else {
        return Ok(None);
    };
    Ok(eis::get_profile(conn, iccid)?
        .filter(|p| p.eid == op.eid && &p.info.isd_p_aid == aid && p.info.state == state))
}

/// A CreateISDP operation ended without success (card refusal, PoR failure, expiry): the profile in creation
/// is removed and its memory given back; its AID is not given again (the counter has moved past it).
fn undo_creation(conn: &mut AnyConnection, op: &Operation, now: i64) -> Result<(), SmsrError> {
    let Some(p) = created_profile(conn, op, ProfileState::InCreation)? else {
        return Ok(());
    };
    eis::delete_profile(conn, &p.info.iccid)?;
    if let Some(record) = eis::get_eis(conn, &op.eid)? {
        eis::update_euicc(
            conn,
            &op.eid,
            record.version,
            &EuiccUpdate {
                remaining_memory: Some(
                    record
                        .euicc
                        .remaining_memory
                        .saturating_add(p.info.allocated_memory),
                ),
                ..EuiccUpdate::default()
            },
            now,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::drive;
    use super::*;

    #[test]
    fn a_created_isd_p_completes_and_any_other_ending_undoes_the_creation() {
        assert_eq!(
            drive(TRANSITIONS, &[Event::Executed]),
            [Some(OperationState::Done)]
        );
        let executed = step(TRANSITIONS, OperationState::Active, Event::Executed).expect("row");
        assert_eq!(executed.actions, [Action::MarkCreated, Action::Finish]);
        for event in [Event::Failed, Event::Expired] {
            let t = step(TRANSITIONS, OperationState::Active, event).expect("row");
            assert_eq!(t.actions, [Action::Finish, Action::Undo], "{event:?}");
        }
        // Nothing ends a CreateISDP twice, and it never waits for a notification.
        assert_eq!(
            drive(TRANSITIONS, &[Event::Failed, Event::Executed]),
            [Some(OperationState::Failed), None]
        );
        assert_eq!(drive(TRANSITIONS, &[Event::SwitchSeen]), [None]);
    }
}
