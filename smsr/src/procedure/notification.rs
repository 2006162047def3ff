//! Confirmation of an eUICC notification (SGP.02 §3.2, §3.2.2, §4.1.1.11; ES5.HandleNotificationConfirmation,
//! §5.7.11; notes sgp02-interfaces §4.3). A notification the SM-SR accepts ([`refuse_confirmation`]) is
//! confirmed by an operation of its own whose command is urgent in the ES5 queue (the eUICC rolls back if the
//! confirmation of a `02` does not reach it in time). Only the confirmation's success applies the notification
//! ([`apply_notification`], wire-profile §4): the EIS takes the new state, the owners are notified, profiles the
//! eUICC deleted by POL1 leave the EIS, the open switch ends ([`super::switch`]), and POL2 Auto-Delete starts. A
//! roll-back `03` arriving while the confirmation of an earlier `02` is under way abandons that confirmation
//! ([`abandon_unconfirmed`]): its `02` changed nothing on the card.
//!
//! | from | event | to | actions | SGP.02 |
//! |---|---|---|---|---|
//! | Active | Executed | Done | Finish, Apply | §5.7.11, wire-profile §4 |
//! | Active | Superseded | Failed | Finish | §3.2.2 |
//! | Active | Failed | Failed | Finish | wire-profile §2 |
//! | Active | Expired | Expired | Finish | §5.1.6.4 (the eUICC rolls back, §3.2.2) |

use eis_store::AnyConnection;
use eis_store::eis::{self, ProfileState};
use eis_store::operations::{self, Operation, OperationState};
use es_interfaces::isdr;
use es_interfaces::notification::NotificationType;
use es_interfaces::status::{Reason, StatusCodeData, Subject};

use super::{ACTIVE, Completion, Event, Transition, aid_hex, delete, ignored, step, switch};
use crate::error::SmsrError;
use crate::operation::{self, NotificationData, OpData, Outcome, internal};
use crate::outgoing::{self, ProfileChange};
use crate::platform;
use crate::service::Smsr;

/// What the confirmation of a notification does on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The operation ends ([`crate::operation::finish`]); the actions after it run only if it did end it.
    Finish,
    /// The notification is applied ([`apply_notification`]).
    Apply,
}

/// The transitions of a notification's confirmation (module documentation).
pub const TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: ACTIVE,
        event: Event::Executed,
        to: OperationState::Done,
        actions: &[Action::Finish, Action::Apply],
        spec: "SGP.02 §5.7.11; wire-profile §4",
    },
    Transition {
        from: ACTIVE,
        event: Event::Superseded,
        to: OperationState::Failed,
        actions: &[Action::Finish],
        spec: "SGP.02 §3.2.2",
    },
    Transition {
        from: ACTIVE,
        event: Event::Failed,
        to: OperationState::Failed,
        actions: &[Action::Finish],
        spec: "wire-profile §2",
    },
    Transition {
        from: ACTIVE,
        event: Event::Expired,
        to: OperationState::Expired,
        actions: &[Action::Finish],
        spec: "SGP.02 §5.1.6.4, §3.2.2",
    },
];

/// Runs the transition of confirmation `op` for `event`; `deleted_by_pol1` are the ISD-Ps the eUICC says it
/// deleted (its answer to the confirmation).
fn on_event(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    event: Event,
    outcome: Outcome,
    deleted_by_pol1: &[Vec<u8>],
    now: i64,
) -> Result<(), SmsrError> {
    let Some(t) = step(TRANSITIONS, op.state, event) else {
        ignored(op, event);
        return Ok(());
    };
    let n = OpData::parse(&op.data)?
        .notification
        .ok_or_else(|| internal(format!("operation {} has no notification", op.id)))?;
    for action in t.actions {
        match action {
            Action::Finish => {
                // Not applied when the confirmation was finished meanwhile (abandoned on a roll-back).
                if !operation::finish(conn, smsr, op, outcome.clone(), now)? {
                    return Ok(());
                }
            }
            Action::Apply => apply_notification(conn, smsr, &op.eid, &n, deleted_by_pol1, now)?,
        }
    }
    Ok(())
}

/// The eUICC executed `ES5.HandleNotificationConfirmation` of `op`; its answer lists the ISD-Ps it deleted by
/// POL1.
pub fn on_executed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    completions: &[Completion],
    now: i64,
) -> Result<(), SmsrError> {
    let deleted = completions
        .iter()
        .find(|(f, _, _)| *f == isdr::Es5Function::HandleNotificationConfirmation)
        .map(|(_, _, r)| isdr::parse_notification_confirmation_response(&r.data))
        .transpose()
        .map_err(SmsrError::internal)?
        .unwrap_or_default();
    on_event(
        conn,
        smsr,
        op,
        Event::Executed,
        Outcome::success(),
        &deleted,
        now,
    )
}

/// Decides whether a notification just received is to be confirmed (SGP.02 §3.2, notes §4.3): a profile
/// change `02` only when an open enable/disable expects it (a late one, after its operation expired, is not
/// confirmed, so the eUICC rolls back); `01`, `03` and `05` always. `open` and `profiles` are the eUICC's open
/// operations and profiles as read for the notification. Returns a reason for not confirming.
pub fn refuse_confirmation(
    open: &[Operation],
    profiles: &[eis::ProfileRecord],
    kind: NotificationType,
    aid: &[u8],
) -> Option<String> {
    if kind != NotificationType::ProfileChangeSucceeded {
        return None;
    }
    let enabled = profiles
        .iter()
        .find(|p| p.info.state == ProfileState::Enabled);
    if switch::matching_switch(open, aid, enabled).is_some() {
        None
    } else {
        Some(format!(
            "no open enable or disable expects a switch to ISD-P {}",
            aid_hex(aid)
        ))
    }
}

/// Whether the roll-back notification `03` with sequence `rollback` supersedes the confirmation under way of
/// notification `n` (SGP.02 §3.2.2): it does for an earlier `02`.
pub fn superseded_by(n: &NotificationData, rollback: u16) -> bool {
    n.kind == NotificationType::ProfileChangeSucceeded.to_byte() && n.sequence != rollback
}

/// Abandons the confirmations still under way of profile-change-succeeded notifications (`02`) of this eUICC
/// when it sends a roll-back notification (`03`, sequence `sequence`): it rolls back only when such a
/// confirmation did not reach it in time (SGP.02 §3.2.2, notes §4.3), so a late one changes nothing on the card
/// and its stale `02` must neither update the EIS nor complete the open switch SUCCESS — the roll-back decides
/// both. A late PoR of an abandoned confirmation is dropped (its command is finished with it). Whether it
/// abandoned any (the eUICC's open operations changed).
pub fn abandon_unconfirmed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    eid: &str,
    kind: NotificationType,
    sequence: u16,
    now: i64,
) -> Result<bool, SmsrError> {
    if kind != NotificationType::ProfileChangeFailedRollback {
        return Ok(false);
    }
    let mut abandoned = false;
    for op in operations::open_of(conn, eid)? {
        if op.kind != operation::OperationKind::ConfirmNotification.as_str() {
            continue;
        }
        let Some(n) = OpData::parse(&op.data)?.notification else {
            continue;
        };
        if !superseded_by(&n, sequence) {
            continue;
        }
        tracing::info!(op = op.id, %eid, abandoned = n.sequence, rollback = sequence,
            "the eUICC rolled back before the confirmation of its notification reached it; confirmation abandoned");
        let d = StatusCodeData::new(
            Subject::EUICC,
            Reason::EXECUTION_ERROR,
            Some(format!(
                "the eUICC rolled back (notification {sequence}) before the confirmation of notification {} \
                 reached it",
                n.sequence
            )),
        );
        on_event(
            conn,
            smsr,
            &op,
            Event::Superseded,
            Outcome::failed(d),
            &[],
            now,
        )?;
        abandoned = true;
    }
    Ok(abandoned)
}

/// Applies a confirmed notification (wire-profile §4: only after the confirmation): the EIS takes the new
/// state, the owners of changed profiles are notified, profiles the eUICC deleted by POL1 are removed, and the
/// open switch it answers completes (`02`) or fails (`03` roll-back, `05` fall-back); a profile disabled by the
/// change whose POL2 says Auto-Delete is then deleted.
pub fn apply_notification(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    eid: &str,
    n: &NotificationData,
    deleted_by_pol1: &[Vec<u8>],
    now: i64,
) -> Result<(), SmsrError> {
    let aid = hex::decode(&n.isd_p_aid).map_err(|e| internal(format!("stored AID: {e}")))?;
    let kind = NotificationType::from_byte(n.kind)
        .map_err(|_| internal(format!("stored notification type {:02X}", n.kind)))?;
    let profiles = eis::profiles_of(conn, eid)?;
    let enabled_before = profiles
        .iter()
        .find(|p| p.info.state == ProfileState::Enabled)
        .cloned();
    let open: Vec<Operation> = operations::open_of(conn, eid)?
        .into_iter()
        .filter(switch::is_switch)
        .collect();
    let mut auto_delete = Vec::new();
    let switch_op = match kind {
        NotificationType::ProfileChangeSucceeded => {
            switch::matching_switch(&open, &aid, enabled_before.as_ref())
        }
        NotificationType::ProfileChangeFailedRollback
        | NotificationType::ProfileChangeAfterFallback => open
            .iter()
            .find(|o| o.state == OperationState::AwaitingNotification)
            .cloned(),
        _ => None,
    };
    if matches!(
        kind,
        NotificationType::ProfileChangeSucceeded
            | NotificationType::ProfileChangeFailedRollback
            | NotificationType::ProfileChangeAfterFallback
    ) {
        // The ISD-P named is the enabled one now (SGP.02 §4.1.1.11); every other is disabled.
        match profiles.iter().find(|p| p.info.isd_p_aid == aid) {
            None => {
                tracing::warn!(%eid, aid = %n.isd_p_aid, "notification names an ISD-P the EIS does not hold")
            }
            Some(target) => {
                for p in &profiles {
                    let (new_state, change) = if p.info.iccid == target.info.iccid {
                        (ProfileState::Enabled, ProfileChange::Enabled)
                    } else if p.info.state == ProfileState::Enabled {
                        (ProfileState::Disabled, ProfileChange::Disabled)
                    } else {
                        continue;
                    };
                    if p.info.state == new_state {
                        continue;
                    }
                    eis::update_profile_state(conn, &p.info.iccid, p.version, new_state, now)?;
                    outgoing::notify_profile_change(conn, smsr, eid, &p.info, change, now, now)?;
                    if change == ProfileChange::Disabled
                        && platform::pol2_auto_deletes(&p.info)
                        && !deleted_by_pol1.contains(&p.info.isd_p_aid)
                    {
                        auto_delete.push(p.clone());
                    }
                }
            }
        }
    }
    if !deleted_by_pol1.is_empty() {
        delete::apply_deletions(conn, smsr, eid, deleted_by_pol1, now)?;
    }
    if let (Some(op), Some(event)) = (switch_op, switch::confirmed_event(kind)) {
        switch::on_event(conn, smsr, &op, event, now)?;
    }
    for p in auto_delete {
        delete::start_auto(conn, smsr, &p, now)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::drive;
    use super::*;

    fn n(kind: NotificationType, sequence: u16) -> NotificationData {
        NotificationData {
            kind: kind.to_byte(),
            sequence,
            isd_p_aid: "A0000005591010FFFFFFFF8900001100".into(),
            source_msisdn: "447700900001".into(),
            imei: None,
        }
    }

    #[test]
    fn a_confirmation_applies_its_notification_only_after_it_ended() {
        assert_eq!(
            drive(TRANSITIONS, &[Event::Executed]),
            [Some(OperationState::Done)]
        );
        let t = step(TRANSITIONS, OperationState::Active, Event::Executed).expect("row");
        assert_eq!(t.actions, [Action::Finish, Action::Apply]);
    }

    #[test]
    fn a_roll_back_supersedes_the_confirmation_of_an_earlier_02_which_then_applies_nothing() {
        assert!(superseded_by(
            &n(NotificationType::ProfileChangeSucceeded, 4),
            5
        ));
        // The 03 itself, and confirmations of other types, go on.
        assert!(!superseded_by(
            &n(NotificationType::ProfileChangeSucceeded, 5),
            5
        ));
        assert!(!superseded_by(
            &n(NotificationType::ProfileChangeAfterFallback, 4),
            5
        ));
        assert_eq!(
            drive(TRANSITIONS, &[Event::Superseded, Event::Executed]),
            [Some(OperationState::Failed), None]
        );
        let t = step(TRANSITIONS, OperationState::Active, Event::Superseded).expect("row");
        assert!(!t.actions.contains(&Action::Apply));
    }

    #[test]
    fn an_expired_confirmation_applies_nothing() {
        let t = step(TRANSITIONS, OperationState::Active, Event::Expired).expect("row");
        assert_eq!(
            (t.to, t.actions),
            (OperationState::Expired, &[Action::Finish][..])
        );
        assert_eq!(drive(TRANSITIONS, &[Event::SwitchSeen]), [None]);
    }
}
