//! AuditEIS (SGP.02 §5.4.7, §5.5.4; ES5.AuditEIS, §5.7.5): the ISD-R reports its ISD-Ps by GET STATUS (answered
//! `6310` while more follow, GP Card Specification §11.4.2.1) and the free memory by GET DATA `FF21`; the EIS is
//! then brought in line with the card (profile states, fall-back attributes, profiles gone, memory, audit date)
//! and, for an ES3/ES4 caller, returned as that caller may see it.
//!
//! | from | event | to | actions | SGP.02 |
//! |---|---|---|---|---|
//! | Active | MoreData | Active | Store, Continue | §5.7.5, GP §11.4.2.1 |
//! | Active | Executed | Done | ApplyAudit, Finish (with the EIS) | §5.4.7, §5.5.4, §5.7.5 |
//! | Active | Failed | Failed | Finish | wire-profile §2 |
//! | Active | Expired | Expired | Finish | §5.1.6.4 |

use eis_store::AnyConnection;
use eis_store::eis::{self, EuiccUpdate, ProfileState, ProfileUpdate};
use eis_store::operations::{Operation, OperationState};
use es_interfaces::isdr::{self, Es5Command, Es5Completion, ExtendedCardResources, IsdpState};

use super::{ACTIVE, Completion, Event, Transition, aid_hex, delete, ignored, step};
use crate::eis_map::{Viewer, view};
use crate::error::SmsrError;
use crate::operation::{self, AuditedIsdp, OpData, Outcome, enqueue_commands};
use crate::outgoing::{self, ProfileChange};
use crate::service::Smsr;

/// What an audit does on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The ISD-Ps reported so far are kept in the operation's data.
    Store,
    /// GET STATUS continues (`ES5.AuditEIS` with the continuation flag).
    Continue,
    /// The EIS follows the card (`apply_audit`).
    ApplyAudit,
    /// The operation ends ([`crate::operation::finish`]), an ES3/ES4 caller's answer carrying the EIS.
    Finish,
}

/// The transitions of an audit (module documentation).
pub const TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: ACTIVE,
        event: Event::MoreData,
        to: OperationState::Active,
        actions: &[Action::Store, Action::Continue],
        spec: "SGP.02 §5.7.5; GP Card Specification §11.4.2.1",
    },
    Transition {
        from: ACTIVE,
        event: Event::Executed,
        to: OperationState::Done,
        actions: &[Action::ApplyAudit, Action::Finish],
        spec: "SGP.02 §5.4.7, §5.5.4, §5.7.5",
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

/// Adds what the eUICC reported in `completions` to `data`; whether GET STATUS has more to report (`6310`).
pub fn record(data: &mut OpData, completions: &[Completion]) -> Result<bool, SmsrError> {
    let mut more = false;
    for (f, c, r) in completions {
        match f {
            isdr::Es5Function::AuditEis => {
                for s in isdr::parse_audit_response(&r.data).map_err(SmsrError::internal)? {
                    data.audit_isdps.push(AuditedIsdp {
                        aid: aid_hex(&s.aid),
                        state: s.state.to_byte(),
                        fallback: s.fallback,
                    });
                }
                more |= *c == Es5Completion::MoreData;
            }
            isdr::Es5Function::GetExtendedCardResources => {
                let res = ExtendedCardResources::parse(&r.data).map_err(SmsrError::internal)?;
                data.free_memory = Some(res.free_non_volatile_memory);
            }
            _ => {}
        }
    }
    Ok(more)
}

/// The eUICC executed the audit's script of `op` with `completions`.
pub fn on_executed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    completions: &[Completion],
    now: i64,
) -> Result<(), SmsrError> {
    let mut data = OpData::parse(&op.data)?;
    let event = if record(&mut data, completions)? {
        Event::MoreData
    } else {
        Event::Executed
    };
    let Some(t) = step(TRANSITIONS, op.state, event) else {
        ignored(op, event);
        return Ok(());
    };
    for action in t.actions {
        match action {
            Action::Store => {
                operation::save_data(conn, op, &data, now)?;
            }
            Action::Continue => {
                enqueue_commands(
                    conn,
                    op,
                    &[Es5Command::AuditEis { continuation: true }],
                    now,
                )?;
                smsr.wake.delivery.notify_one();
            }
            Action::ApplyAudit => apply_audit(conn, smsr, op, &data, now)?,
            Action::Finish => {
                let outcome = answer(conn, op, &data)?;
                operation::finish(conn, smsr, op, outcome, now)?;
            }
        }
    }
    Ok(())
}

/// The success of audit `op`: the EIS goes back in an ES3/ES4 response (as its caller may see it, limited to
/// the ICCIDs asked for); an owner reads the audited eUICC from the ESM2M API.
fn answer(conn: &mut AnyConnection, op: &Operation, data: &OpData) -> Result<Outcome, SmsrError> {
    let mut outcome = Outcome::success();
    if op.interface != crate::esm2m::operations::INTERFACE {
        let record =
            eis::get_eis_without_key_values(conn, &op.eid)?.ok_or(SmsrError::UnknownEid {
                eid: op.eid.clone(),
            })?;
        let viewer = if op.interface == "ES4" {
            Viewer::Mno(&op.requester_oid)
        } else {
            Viewer::SmDp(&op.requester_oid)
        };
        let mut eis_view = view(&record, viewer)?;
        if !data.audit_iccids.is_empty() {
            eis_view
                .profile_info
                .retain(|p| data.audit_iccids.iter().any(|i| i == p.iccid.as_str()));
        }
        outcome.eis = Some(eis_view);
    }
    Ok(outcome)
}

/// Brings the EIS in line with an audit (SGP.02 §5.7.5): profile states and fall-back attributes as the card
/// reports them, profiles the card no longer holds removed, free memory and the audit date updated. Changes of
/// state are notified to the owners.
fn apply_audit(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    data: &OpData,
    now: i64,
) -> Result<(), SmsrError> {
    let profiles = eis::profiles_of(conn, &op.eid)?;
    let mut gone = Vec::new();
    for p in &profiles {
        if p.info.state == ProfileState::InCreation {
            continue;
        }
        let aid = aid_hex(&p.info.isd_p_aid);
        let Some(card) = data.audit_isdps.iter().find(|a| a.aid == aid) else {
            gone.push(p.info.isd_p_aid.clone());
            continue;
        };
        let state = match IsdpState::from_byte(card.state) {
            IsdpState::Enabled => ProfileState::Enabled,
            IsdpState::Disabled => ProfileState::Disabled,
            IsdpState::Selectable | IsdpState::Personalized => ProfileState::Created,
            IsdpState::Other(_) => p.info.state,
        };
        if state != p.info.state || card.fallback != p.info.fallback {
            eis::update_profile(
                conn,
                &p.info.iccid,
                p.version,
                &ProfileUpdate {
                    state: Some(state),
                    fallback: Some(card.fallback),
                    ..ProfileUpdate::default()
                },
                now,
            )?;
            let change = match state {
                ProfileState::Enabled if p.info.state != ProfileState::Enabled => {
                    Some(ProfileChange::Enabled)
                }
                ProfileState::Disabled if p.info.state == ProfileState::Enabled => {
                    Some(ProfileChange::Disabled)
                }
                _ => None,
            };
            if let Some(change) = change {
                outgoing::notify_profile_change(conn, smsr, &op.eid, &p.info, change, now, now)?;
            }
        }
    }
    if !gone.is_empty() {
        delete::apply_deletions(conn, smsr, &op.eid, &gone, now)?;
    }
    if let Some(record) = eis::get_eis(conn, &op.eid)? {
        eis::update_euicc(
            conn,
            &op.eid,
            record.version,
            &EuiccUpdate {
                remaining_memory: data.free_memory.map(i64::from),
                last_audit_date: Some(now),
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
    fn an_audit_continues_while_get_status_has_more_then_applies_once() {
        assert_eq!(
            drive(
                TRANSITIONS,
                &[Event::MoreData, Event::MoreData, Event::Executed]
            ),
            [
                Some(OperationState::Active),
                Some(OperationState::Active),
                Some(OperationState::Done)
            ]
        );
        let more = step(TRANSITIONS, OperationState::Active, Event::MoreData).expect("row");
        assert_eq!(more.actions, [Action::Store, Action::Continue]);
        let done = step(TRANSITIONS, OperationState::Active, Event::Executed).expect("row");
        assert_eq!(done.actions, [Action::ApplyAudit, Action::Finish]);
        // A refused continuation ends the audit without touching the EIS.
        let failed = step(TRANSITIONS, OperationState::Active, Event::Failed).expect("row");
        assert!(!failed.actions.contains(&Action::ApplyAudit));
    }

    #[test]
    fn nothing_reported_adds_nothing_and_asks_no_more() {
        let mut data = OpData::default();
        assert!(!record(&mut data, &[]).expect("recorded"));
        assert_eq!(data, OpData::default());
    }
}
