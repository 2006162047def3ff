//! Profile deletion: ES4.DeleteProfile / ES3.DeleteISDP (SGP.02 §3.4, §5.4.12, §5.5.7), the error sub-routine
//! of a download (§3.1.4), and POL2 Auto-Delete of a profile once disabled (§3.3, [`start_auto`]). The ISD-R
//! deletes the ISD-P (`ES5.DeleteProfile`); on its success the profile leaves the EIS, its memory comes back,
//! its AID is retired and its owners get HandleProfileDeletedNotification. A DELETE answered `6A88` for a
//! profile only `Created` counts as deleted (contract of issue 9: the clean-up after a lost CreateISDP
//! converges).
//!
//! | from | event | to | actions | SGP.02 |
//! |---|---|---|---|---|
//! | Active | Executed | Done | ApplyDeletion, Finish | §3.4 |
//! | Active | IsdpAbsent | Done | ApplyDeletion, Finish | §3.1.4 |
//! | Active | Failed | Failed | Finish | §3.4, wire-profile §2 |
//! | Active | Expired | Expired | Finish | §5.1.6.4 |

use eis_store::AnyConnection;
use eis_store::eis::{self, EuiccUpdate, ProfileRecord, ProfileState};
use eis_store::operations::{Operation, OperationState};
use es_interfaces::isdr::{Es5Command, Es5Failure, Es5FailureKind};

use super::{ACTIVE, Event, Transition, create_isdp, ignored, step};
use crate::download;
use crate::error::SmsrError;
use crate::operation::{self, OpData, OperationKind, Outcome, Start, script};
use crate::outgoing::{self, ProfileChange};
use crate::service::Smsr;

/// What a deletion does on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The profile leaves the EIS ([`apply_deletions`]).
    ApplyDeletion,
    /// The operation ends ([`crate::operation::finish`]).
    Finish,
}

/// The transitions of a deletion (module documentation).
pub const TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: ACTIVE,
        event: Event::Executed,
        to: OperationState::Done,
        actions: &[Action::ApplyDeletion, Action::Finish],
        spec: "SGP.02 §3.4",
    },
    Transition {
        from: ACTIVE,
        event: Event::IsdpAbsent,
        to: OperationState::Done,
        actions: &[Action::ApplyDeletion, Action::Finish],
        spec: "SGP.02 §3.1.4",
    },
    Transition {
        from: ACTIVE,
        event: Event::Failed,
        to: OperationState::Failed,
        actions: &[Action::Finish],
        spec: "SGP.02 §3.4, wire-profile §2",
    },
    Transition {
        from: ACTIVE,
        event: Event::Expired,
        to: OperationState::Expired,
        actions: &[Action::Finish],
        spec: "SGP.02 §5.1.6.4",
    },
];

/// Runs the transition of deletion `op` for `event` (the eUICC's success, or `6A88` for a `Created` profile).
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
            Action::ApplyDeletion => {
                let aid = op.isd_p_aid.clone().unwrap_or_default();
                apply_deletions(conn, smsr, &op.eid, &[aid], now)?;
            }
            Action::Finish => {
                operation::finish(conn, smsr, op, Outcome::success(), now)?;
            }
        }
    }
    Ok(())
}

/// Whether a DELETE the eUICC answered `6A88` (no such ISD-P) still deleted the profile of `op`: yes for a
/// `Created` profile (contract of issue 9 [P]: the clean-up after a lost CreateISDP converges), no otherwise.
pub fn absent_isdp_counts_as_deleted(
    conn: &mut AnyConnection,
    op: &Operation,
    failure: &Es5Failure,
) -> Result<bool, SmsrError> {
    Ok(op.kind == OperationKind::DeleteProfile.as_str()
        && failure.kind == Es5FailureKind::ReferencedDataNotFound
        && create_isdp::created_profile(conn, op, ProfileState::Created)?.is_some())
}

/// Removes the profiles in ISD-Ps `aids` from the EIS (deleted on the eUICC), gives their memory back and
/// notifies the owners (SGP.02 §3.4, §5.5.12).
pub(crate) fn apply_deletions(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    eid: &str,
    aids: &[Vec<u8>],
    now: i64,
) -> Result<(), SmsrError> {
    let mut freed = 0i64;
    for aid in aids {
        let Some(p) = eis::profile_by_isd_p_aid(conn, eid, aid)? else {
            continue;
        };
        eis::delete_profile(conn, &p.info.iccid)?;
        download::retire_isd_p_aid(conn, eid, aid)?;
        freed += p.info.allocated_memory;
        outgoing::notify_profile_change(
            conn,
            smsr,
            eid,
            &p.info,
            ProfileChange::Deleted,
            now,
            now,
        )?;
    }
    if freed > 0
        && let Some(record) = eis::get_eis(conn, eid)?
    {
        eis::update_euicc(
            conn,
            eid,
            record.version,
            &EuiccUpdate {
                remaining_memory: Some(record.euicc.remaining_memory.saturating_add(freed)),
                ..EuiccUpdate::default()
            },
            now,
        )?;
    }
    Ok(())
}

/// Deletes a profile POL2 asks to delete once disabled (SGP.02 §3.3, `Auto-Delete`): an operation of the SM-SR's
/// own, answered to no caller; its owners get HandleProfileDeletedNotification as for any deletion.
pub(crate) fn start_auto(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    p: &ProfileRecord,
    now: i64,
) -> Result<(), SmsrError> {
    let Some(settings) = smsr.es5.as_ref() else {
        return Ok(());
    };
    tracing::info!(eid = %p.eid, iccid = %p.info.iccid, "POL2 Auto-Delete: deleting the disabled profile");
    operation::start(
        conn,
        smsr,
        Start {
            kind: OperationKind::DeleteProfile,
            eid: &p.eid,
            function_call_id: None,
            requester_oid: &smsr.identity.oid,
            interface: "ES5",
            iccid: Some(&p.info.iccid),
            isd_p_aid: Some(&p.info.isd_p_aid),
            deadline: now.saturating_add(
                i64::try_from(settings.default_validity.as_millis()).unwrap_or(i64::MAX),
            ),
            data: OpData::default(),
            script: Some(script(&[Es5Command::DeleteProfile {
                isd_p_aid: p.info.isd_p_aid.clone(),
            }])?),
        },
        now,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::drive;
    use super::*;

    #[test]
    fn a_deletion_applies_on_the_cards_success_or_an_absent_created_isd_p() {
        for event in [Event::Executed, Event::IsdpAbsent] {
            assert_eq!(
                drive(TRANSITIONS, &[event, Event::Failed]),
                [Some(OperationState::Done), None],
                "{event:?}"
            );
            let t = step(TRANSITIONS, OperationState::Active, event).expect("row");
            assert_eq!(t.actions, [Action::ApplyDeletion, Action::Finish]);
        }
    }

    #[test]
    fn a_refused_or_expired_deletion_leaves_the_eis_alone() {
        for (event, to) in [
            (Event::Failed, OperationState::Failed),
            (Event::Expired, OperationState::Expired),
        ] {
            let t = step(TRANSITIONS, OperationState::Active, event).expect("row");
            assert_eq!((t.to, t.actions), (to, &[Action::Finish][..]));
        }
        assert_eq!(drive(TRANSITIONS, &[Event::MoreData]), [None]);
    }
}
