//! SetFallBackAttribute (SGP.02 v4 §5.5.21; ES5.SetFallbackAttribute, §5.7.7; notes sgp02-interfaces §4.5): the
//! ISD-R moves the fall-back attribute to the ISD-P named; on its success the EIS follows (one profile holds the
//! attribute, every other loses it).
//!
//! | from | event | to | actions | SGP.02 |
//! |---|---|---|---|---|
//! | Active | Executed | Done | MoveAttribute, Finish | v4 §5.5.21, §5.7.7 |
//! | Active | Failed | Failed | Finish | wire-profile §2 |
//! | Active | Expired | Expired | Finish | §5.1.6.4 |

use eis_store::AnyConnection;
use eis_store::eis::{self, ProfileUpdate};
use eis_store::operations::{Operation, OperationState};

use super::{ACTIVE, Event, Transition, ignored, step};
use crate::error::SmsrError;
use crate::operation::{self, Outcome};
use crate::service::Smsr;

/// What SetFallBackAttribute does on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The EIS: the attribute on the ISD-P named, off every other.
    MoveAttribute,
    /// The operation ends ([`crate::operation::finish`]).
    Finish,
}

/// The transitions of SetFallBackAttribute (module documentation).
pub const TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: ACTIVE,
        event: Event::Executed,
        to: OperationState::Done,
        actions: &[Action::MoveAttribute, Action::Finish],
        spec: "SGP.02 v4 §5.5.21, §5.7.7",
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
        spec: "SGP.02 §5.1.6.4",
    },
];

/// The eUICC executed `ES5.SetFallbackAttribute` of `op`.
pub fn on_executed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    now: i64,
) -> Result<(), SmsrError> {
    let Some(t) = step(TRANSITIONS, op.state, Event::Executed) else {
        ignored(op, Event::Executed);
        return Ok(());
    };
    for action in t.actions {
        match action {
            Action::MoveAttribute => {
                let target = op.isd_p_aid.clone().unwrap_or_default();
                for p in eis::profiles_of(conn, &op.eid)? {
                    let on = p.info.isd_p_aid == target;
                    if p.info.fallback != on {
                        eis::update_profile(
                            conn,
                            &p.info.iccid,
                            p.version,
                            &ProfileUpdate {
                                fallback: Some(on),
                                ..ProfileUpdate::default()
                            },
                            now,
                        )?;
                    }
                }
            }
            Action::Finish => {
                operation::finish(conn, smsr, op, Outcome::success(), now)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::tests::drive;
    use super::*;

    #[test]
    fn the_eis_follows_the_card_only_on_its_success() {
        assert_eq!(
            drive(TRANSITIONS, &[Event::Executed]),
            [Some(OperationState::Done)]
        );
        let t = step(TRANSITIONS, OperationState::Active, Event::Executed).expect("row");
        assert_eq!(t.actions, [Action::MoveAttribute, Action::Finish]);
        let t = step(TRANSITIONS, OperationState::Active, Event::Failed).expect("row");
        assert!(!t.actions.contains(&Action::MoveAttribute));
        assert_eq!(drive(TRANSITIONS, &[Event::FellBack]), [None]);
    }
}
