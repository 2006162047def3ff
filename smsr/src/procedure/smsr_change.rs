//! SM-SR change (SGP.02 §3.8; notes §4.6; wire-profile §5b): the states of its three procedures. The I/O — the
//! ES4 and ES7 functions, the ES7 requests sent to the other SM-SR and their answers — is
//! [`crate::smsr_change`].
//!
//! At the current SM-SR (SM-SR1), ES4.SMSRChange locks the eUICC and sends ES7.HandoverEUICC to the new
//! SM-SR; the operation waits, with no ES5 command of its own, for that function's answer:
//!
//! | from | event | to | actions | SGP.02 |
//! |---|---|---|---|---|
//! | Active | HandedOver | Done | Finish (answer ES4.SMSRChange), ReleaseEis (SM-SR1's copy deleted) | §3.8 step 6 |
//! | Active | Failed | Failed | Finish, Unlock | §3.8 |
//! | Active | Expired | Expired | Finish, Unlock | §5.1.6.4 |
//!
//! Also at SM-SR1, ES7.AuthenticateSMSR and ES7.CreateAdditionalKeySet relay `3A01` and `3A02` to the ISD-R;
//! the eUICC's `85 10 <RC>` or `86 10 <receipt>` goes back in the ES7 response ([`RELAY_TRANSITIONS`]):
//!
//! | from | event | to | actions | SGP.02 / wire profile |
//! |---|---|---|---|---|
//! | Active | Executed | Done | Finish (RandomChallenge or Receipt) | §3.8 steps 4–5; §5b steps 1–3 |
//! | Active | Failed | Failed | Finish | §5b (`6A80`, `6982`) |
//! | Active | Expired | Expired | Finish | §5.1.6.4 |
//!
//! At the new SM-SR (SM-SR2), ES7.HandoverEUICC runs in phases ([`PHASES`]): AuthenticateSMSR, then
//! CreateAdditionalKeySet, whose receipt it verifies (the commit point: the new key set is stored), then, under
//! the new key set, UpdateSMSRAddressingParameters and FinaliseISDRHandover to the eUICC:
//!
//! | phase | event | next phase | SGP.02 / wire profile |
//! |---|---|---|---|
//! | Authenticating | RandomChallenge | EstablishingKeySet | §3.8 step 4; §5b step 1 |
//! | EstablishingKeySet | ReceiptVerified | Finalising | §3.8 step 5; §5b steps 2–3 |
//!
//! and the operation itself ([`HANDOVER_TRANSITIONS`]):
//!
//! | from | event | to | actions | SGP.02 |
//! |---|---|---|---|---|
//! | Active | Executed (in Finalising) | Done | Finish (answer HandoverEUICC), TakeOver (unlock, notify) | §3.8 step 6; §5b step 5 |
//! | Active | CommittedAtDeadline (in Finalising) | Done | Finish, TakeOver, FinaliseLater | §3.8 step 5 (commit point) [decision] |
//! | Active | Failed | Failed | Finish, DropEis (the EIS received is deleted) | §3.8 |
//! | Active | Expired | Expired | Finish, DropEis | §5.1.6.4 |
//!
//! The receipt is the commit point (notes §4.6): once it verified, the eUICC holds the new key set and the
//! hand-over is not undone. If the validity period ends before the eUICC confirmed UpdateSMSRAddressingParameters
//! and FinaliseISDRHandover (their PoR lost, the eUICC out of coverage), the new SM-SR takes the eUICC over all the
//! same — its key set works — and answers HandoverEUICC with success, so that SM-SR1 deletes its copy; rolling back
//! instead would leave the eUICC with an SM-SR whose key set it may already have deleted. The two commands then
//! go to the eUICC again in an operation of their own ([`FINALISE_TRANSITIONS`], with the default validity period;
//! `6A88` to the finalise means it was executed before, [`already_finalised`]) [decision]:
//!
//! | from | event | to | actions | SGP.02 |
//! |---|---|---|---|---|
//! | Active | Executed | Done | Finish | §3.8 step 6; §5b step 5 |
//! | Active | Failed | Failed | Finish | §5b |
//! | Active | Expired | Expired | Finish | §5.1.6.4 |

use eis_store::operations::OperationState;
use es_interfaces::isdr::{Es5Failure, Es5Function};
use serde::{Deserialize, Serialize};

use super::{ACTIVE, Event, Transition};

/// What the SM-SR change procedures do on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The operation ends ([`crate::operation::finish`]): its function's response goes to the caller.
    Finish,
    /// SM-SR1: the eUICC now belongs to the new SM-SR; this SM-SR's EIS is deleted (SGP.02 §3.8 step 6).
    ReleaseEis,
    /// SM-SR1: the SM-SR change lock is lifted; the eUICC stays here.
    Unlock,
    /// SM-SR2: the lock is lifted, the expectation of PrepareSMSRChange is fulfilled and the MNOs and SM-DPs of
    /// the eUICC's profiles are told (HandleSMSRChangeNotification, SGP.02 §3.8 step 6).
    TakeOver,
    /// SM-SR2: the EIS received with HandoverEUICC is deleted; the eUICC stays with SM-SR1.
    DropEis,
    /// SM-SR2: UpdateSMSRAddressingParameters and FinaliseISDRHandover go to the eUICC again, in an operation of
    /// their own ([`FINALISE_TRANSITIONS`]).
    FinaliseLater,
}

/// ES4.SMSRChange at SM-SR1 (module documentation).
pub const CHANGE_TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: ACTIVE,
        event: Event::HandedOver,
        to: OperationState::Done,
        actions: &[Action::Finish, Action::ReleaseEis],
        spec: "SGP.02 §3.8 step 6",
    },
    Transition {
        from: ACTIVE,
        event: Event::Failed,
        to: OperationState::Failed,
        actions: &[Action::Finish, Action::Unlock],
        spec: "SGP.02 §3.8",
    },
    Transition {
        from: ACTIVE,
        event: Event::Expired,
        to: OperationState::Expired,
        actions: &[Action::Finish, Action::Unlock],
        spec: "SGP.02 §5.1.6.4",
    },
];

/// ES7.AuthenticateSMSR and ES7.CreateAdditionalKeySet at SM-SR1 (module documentation).
pub const RELAY_TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: ACTIVE,
        event: Event::Executed,
        to: OperationState::Done,
        actions: &[Action::Finish],
        spec: "SGP.02 §3.8 steps 4-5; wire-profile §5b steps 1-3",
    },
    Transition {
        from: ACTIVE,
        event: Event::Failed,
        to: OperationState::Failed,
        actions: &[Action::Finish],
        spec: "wire-profile §5b",
    },
    Transition {
        from: ACTIVE,
        event: Event::Expired,
        to: OperationState::Expired,
        actions: &[Action::Finish],
        spec: "SGP.02 §5.1.6.4",
    },
];

/// ES7.HandoverEUICC at SM-SR2 (module documentation); `Executed` applies only in [`Phase::Finalising`].
pub const HANDOVER_TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: ACTIVE,
        event: Event::Executed,
        to: OperationState::Done,
        actions: &[Action::Finish, Action::TakeOver],
        spec: "SGP.02 §3.8 step 6; wire-profile §5b step 5",
    },
    Transition {
        from: ACTIVE,
        event: Event::CommittedAtDeadline,
        to: OperationState::Done,
        actions: &[Action::Finish, Action::TakeOver, Action::FinaliseLater],
        spec: "SGP.02 §3.8 step 5 (commit point; notes §4.6) [decision]",
    },
    Transition {
        from: ACTIVE,
        event: Event::Failed,
        to: OperationState::Failed,
        actions: &[Action::Finish, Action::DropEis],
        spec: "SGP.02 §3.8",
    },
    Transition {
        from: ACTIVE,
        event: Event::Expired,
        to: OperationState::Expired,
        actions: &[Action::Finish, Action::DropEis],
        spec: "SGP.02 §5.1.6.4",
    },
];

/// The finalisation sent again after a hand-over committed at its deadline (module documentation).
pub const FINALISE_TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: ACTIVE,
        event: Event::Executed,
        to: OperationState::Done,
        actions: &[Action::Finish],
        spec: "SGP.02 §3.8 step 6; wire-profile §5b step 5",
    },
    Transition {
        from: ACTIVE,
        event: Event::Failed,
        to: OperationState::Failed,
        actions: &[Action::Finish],
        spec: "wire-profile §5b",
    },
    Transition {
        from: ACTIVE,
        event: Event::Expired,
        to: OperationState::Expired,
        actions: &[Action::Finish],
        spec: "SGP.02 §5.1.6.4",
    },
];

/// Where ES7.HandoverEUICC is at SM-SR2 (kept in the operation's data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// ES7.AuthenticateSMSR sent to SM-SR1; the random challenge is awaited.
    Authenticating,
    /// ES7.CreateAdditionalKeySet sent; the receipt is awaited.
    EstablishingKeySet,
    /// Receipt verified, new key set stored; UpdateSMSRAddressingParameters and FinaliseISDRHandover queued
    /// under it.
    Finalising,
}

/// What moves a hand-over from one phase to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhaseEvent {
    /// SM-SR1 answered AuthenticateSMSR with the eUICC's random challenge.
    RandomChallenge,
    /// SM-SR1 answered CreateAdditionalKeySet with a receipt equal to the one computed here.
    ReceiptVerified,
}

/// One row of [`PHASES`].
#[derive(Debug)]
pub struct PhaseStep {
    /// The phase the row applies in.
    pub from: Phase,
    /// The event.
    pub event: PhaseEvent,
    /// The next phase.
    pub to: Phase,
    /// Where SGP.02 (or the wire profile) says so.
    pub spec: &'static str,
}

/// The phases of ES7.HandoverEUICC at SM-SR2 (module documentation).
pub const PHASES: &[PhaseStep] = &[
    PhaseStep {
        from: Phase::Authenticating,
        event: PhaseEvent::RandomChallenge,
        to: Phase::EstablishingKeySet,
        spec: "SGP.02 §3.8 step 4; wire-profile §5b step 1",
    },
    PhaseStep {
        from: Phase::EstablishingKeySet,
        event: PhaseEvent::ReceiptVerified,
        to: Phase::Finalising,
        spec: "SGP.02 §3.8 step 5; wire-profile §5b steps 2-3",
    },
];

/// Whether `failure` of a hand-over's command means the command had already been executed: FinaliseISDRHandover
/// answered [`es_interfaces::wire_profile::FINALISE_KEY_SET_GONE`] under the new key set is a retransmission after a
/// lost PoR — the old key set is already gone [decision]. Treating it as a failure would drop the EIS of an eUICC
/// that now holds only the new SM-SR's keys.
pub fn already_finalised(kind: crate::operation::OperationKind, failure: &Es5Failure) -> bool {
    matches!(
        kind,
        crate::operation::OperationKind::HandoverEuicc
            | crate::operation::OperationKind::FinaliseIsdrHandover
    ) && failure.function == Es5Function::FinaliseIsdrHandover
        && failure.sw == es_interfaces::wire_profile::FINALISE_KEY_SET_GONE
}

/// The next phase after `event` in `from` (`None`: the event does not apply there, e.g. a late or repeated
/// answer).
pub fn next_phase(from: Phase, event: PhaseEvent) -> Option<Phase> {
    PHASES
        .iter()
        .find(|s| s.from == from && s.event == event)
        .map(|s| s.to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::procedure::step;
    use crate::procedure::tests::drive;

    #[test]
    fn the_current_smsr_ends_a_change_only_on_the_new_smsrs_answer() {
        assert_eq!(
            drive(CHANGE_TRANSITIONS, &[Event::Executed]),
            vec![None],
            "no ES5 command of its own"
        );
        assert_eq!(
            drive(CHANGE_TRANSITIONS, &[Event::HandedOver, Event::Failed]),
            vec![Some(OperationState::Done), None]
        );
        let t = step(
            CHANGE_TRANSITIONS,
            OperationState::Active,
            Event::HandedOver,
        )
        .expect("row");
        assert_eq!(t.actions, &[Action::Finish, Action::ReleaseEis]);
        for e in [Event::Failed, Event::Expired] {
            let t = step(CHANGE_TRANSITIONS, OperationState::Active, e).expect("row");
            assert_eq!(t.actions, &[Action::Finish, Action::Unlock], "{e:?}");
        }
    }

    #[test]
    fn a_relay_answers_once_with_what_the_euicc_said() {
        assert_eq!(
            drive(RELAY_TRANSITIONS, &[Event::Executed, Event::Expired]),
            vec![Some(OperationState::Done), None]
        );
        assert_eq!(drive(RELAY_TRANSITIONS, &[Event::HandedOver]), vec![None]);
    }

    #[test]
    fn the_new_smsr_drops_what_it_received_unless_it_took_over() {
        let done = step(
            HANDOVER_TRANSITIONS,
            OperationState::Active,
            Event::Executed,
        )
        .expect("row");
        assert_eq!(done.actions, &[Action::Finish, Action::TakeOver]);
        for e in [Event::Failed, Event::Expired] {
            let t = step(HANDOVER_TRANSITIONS, OperationState::Active, e).expect("row");
            assert_eq!(t.actions, &[Action::Finish, Action::DropEis], "{e:?}");
        }
    }

    #[test]
    fn past_the_commit_point_the_deadline_hands_over_and_finalises_later() {
        let t = step(
            HANDOVER_TRANSITIONS,
            OperationState::Active,
            Event::CommittedAtDeadline,
        )
        .expect("row");
        assert_eq!(t.to, OperationState::Done);
        assert_eq!(
            t.actions,
            &[Action::Finish, Action::TakeOver, Action::FinaliseLater]
        );
        assert!(!t.actions.contains(&Action::DropEis));
        // The finalisation sent again ends once, whatever the eUICC says, and drops nothing.
        assert_eq!(
            drive(FINALISE_TRANSITIONS, &[Event::Executed, Event::Expired]),
            vec![Some(OperationState::Done), None]
        );
        for e in [Event::Executed, Event::Failed, Event::Expired] {
            let t = step(FINALISE_TRANSITIONS, OperationState::Active, e).expect("row");
            assert_eq!(t.actions, &[Action::Finish], "{e:?}");
        }
        assert_eq!(
            drive(FINALISE_TRANSITIONS, &[Event::CommittedAtDeadline]),
            vec![None]
        );
    }

    #[test]
    fn a_finalise_answered_6a88_was_executed_before() {
        use crate::operation::OperationKind;
        use es_interfaces::apdu::StatusWord;
        use es_interfaces::isdr::Es5FailureKind;
        let failure = |function, sw: u16, kind| Es5Failure {
            function,
            sw: StatusWord(sw),
            kind,
        };
        let gone = failure(
            Es5Function::FinaliseIsdrHandover,
            0x6A88,
            Es5FailureKind::ReferencedDataNotFound,
        );
        assert!(already_finalised(OperationKind::HandoverEuicc, &gone));
        assert!(already_finalised(
            OperationKind::FinaliseIsdrHandover,
            &gone
        ));
        assert!(!already_finalised(OperationKind::DeleteProfile, &gone));
        // 6985 (the carrier or the last key set) is a real refusal; so is 6A88 to anything else.
        assert!(!already_finalised(
            OperationKind::HandoverEuicc,
            &failure(
                Es5Function::FinaliseIsdrHandover,
                0x6985,
                Es5FailureKind::ConditionsNotSatisfied
            )
        ));
        assert!(!already_finalised(
            OperationKind::HandoverEuicc,
            &failure(
                Es5Function::UpdateSmsrAddressingParameters,
                0x6A88,
                Es5FailureKind::ReferencedDataNotFound
            )
        ));
    }

    #[test]
    fn the_phases_follow_section_3_8_in_order_and_never_go_back() {
        assert_eq!(
            next_phase(Phase::Authenticating, PhaseEvent::RandomChallenge),
            Some(Phase::EstablishingKeySet)
        );
        assert_eq!(
            next_phase(Phase::EstablishingKeySet, PhaseEvent::ReceiptVerified),
            Some(Phase::Finalising)
        );
        // A receipt before the challenge, a repeated challenge, anything after the commit point: ignored.
        assert_eq!(
            next_phase(Phase::Authenticating, PhaseEvent::ReceiptVerified),
            None
        );
        assert_eq!(
            next_phase(Phase::EstablishingKeySet, PhaseEvent::RandomChallenge),
            None
        );
        for e in [PhaseEvent::RandomChallenge, PhaseEvent::ReceiptVerified] {
            assert_eq!(next_phase(Phase::Finalising, e), None);
        }
    }
}
