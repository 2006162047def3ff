//! Scripts routed to an ISD-P (wire-profile §5): ES3.UpdateConnectivityParameters (SGP.02 §3.12, §5.4.13) and
//! ES3.SendData (§3.1.2, §5.4.2, the download after CreateISDP). The SM-DP's ES8 command script goes through the
//! ISD-R to the ISD-P; the SM-SR neither decrypts nor keeps it. The operation succeeds when the ISD-P answered
//! every ES8 command with success; its response script goes back as `EuiccResponseData` either way, the codes
//! of a failure as the function's [`RoutedReport`] says.
//!
//! | from | event | to | actions | SGP.02 |
//! |---|---|---|---|---|
//! | Active | Executed | Done | Finish (with the ISD-P's response script) | §3.12, §3.1.2, wire-profile §5 |
//! | Active | Failed | Failed | Finish (the ISD-P's response script, if routed) | wire-profile §5 |
//! | Active | Expired | Expired | Finish | §5.1.6.4 |

use eis_store::AnyConnection;
use eis_store::operations::{Operation, OperationState};
use es_interfaces::apdu::{ResponseApdu, StatusWord};
use es_interfaces::routing::{self, RoutedResponse};
use es_interfaces::script::ResponseScript;
use es_interfaces::status::{Reason, StatusCodeData, Subject};

use super::{ACTIVE, Event, Transition, aid_hex, ignored, step};
use crate::download;
use crate::error::SmsrError;
use crate::operation::{self, OperationKind, Outcome};
use crate::service::Smsr;

/// What a routed script does on a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The operation ends ([`crate::operation::finish`]) with the ISD-P's answer.
    Finish,
}

/// The transitions of a routed script (module documentation).
pub const TRANSITIONS: &[Transition<Action>] = &[
    Transition {
        from: ACTIVE,
        event: Event::Executed,
        to: OperationState::Done,
        actions: &[Action::Finish],
        spec: "SGP.02 §3.12, §3.1.2; wire-profile §5",
    },
    Transition {
        from: ACTIVE,
        event: Event::Failed,
        to: OperationState::Failed,
        actions: &[Action::Finish],
        spec: "wire-profile §5",
    },
    Transition {
        from: ACTIVE,
        event: Event::Expired,
        to: OperationState::Expired,
        actions: &[Action::Finish],
        spec: "SGP.02 §5.1.6.4",
    },
];

/// The eUICC answered the routed script of `op` (`sent` ES8 commands) with `responses`: the ISD-P's answers
/// decide between [`Event::Executed`] and [`Event::Failed`].
pub fn on_executed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    kind: OperationKind,
    sent: usize,
    responses: Vec<ResponseApdu>,
    now: i64,
) -> Result<(), SmsrError> {
    let report = if kind == OperationKind::SendData {
        &download::SEND_DATA_REPORT
    } else {
        &CONNECTIVITY_PARAMETERS_REPORT
    };
    let outcome = routed_outcome(op, sent, responses, report)?;
    let event = if outcome.state == OperationState::Done {
        Event::Executed
    } else {
        Event::Failed
    };
    let Some(t) = step(TRANSITIONS, op.state, event) else {
        ignored(op, event);
        return Ok(());
    };
    for action in t.actions {
        match action {
            Action::Finish => {
                operation::finish(conn, smsr, op, outcome.clone(), now)?;
            }
        }
    }
    Ok(())
}

/// How the outcome of a script routed to an ISD-P is reported (wire-profile §5).
#[derive(Debug, Clone)]
pub struct RoutedReport {
    /// Subject code of a failure on the eUICC.
    pub subject: Subject,
    /// Reason code when the ISD-R does not know the ISD-P (`6A88` to the routing INSTALL).
    pub isdp_unknown_reason: Reason,
    /// Whether an ES8 command answered with a warning (`62xx`, `63xx`) counts as success.
    pub warnings_succeed: bool,
}

/// ES3.UpdateConnectivityParameters: 8.2.1 / 4.2, an ISD-P the ISD-R does not know 8.2.1 / 3.9.
pub const CONNECTIVITY_PARAMETERS_REPORT: RoutedReport = RoutedReport {
    subject: Subject::PROFILE_ICCID,
    isdp_unknown_reason: Reason::UNKNOWN,
    warnings_succeed: true,
};

/// The outcome of a script routed to an ISD-P (wire-profile §5) that carried `sent` ES8 commands: success when
/// every one was answered with success, the ISD-P's response script as `EuiccResponseData` either way; the
/// codes of a failure as `report` says.
pub(crate) fn routed_outcome(
    op: &Operation,
    sent: usize,
    responses: Vec<ResponseApdu>,
    report: &RoutedReport,
) -> Result<Outcome, SmsrError> {
    let aid = aid_hex(op.isd_p_aid.as_deref().unwrap_or_default());
    let failed = |reason: Reason, message: String| {
        let mut d = StatusCodeData::new(report.subject.clone(), reason, Some(message));
        if report.subject == Subject::PROFILE_ICCID {
            d.subject_identifier = op.iccid.clone();
        }
        Outcome::failed(d)
    };
    let script = ResponseScript::new(responses).map_err(SmsrError::internal)?;
    Ok(match routing::unroute(script) {
        RoutedResponse::NotRouted(r) => {
            let sw = r.as_ref().map(|r| r.sw);
            let mut outcome = failed(
                if sw == Some(StatusWord::REFERENCED_DATA_NOT_FOUND) {
                    report.isdp_unknown_reason.clone()
                } else {
                    Reason::EXECUTION_ERROR
                },
                format!(
                    "the ISD-R did not route the ES8 data to the ISD-P {aid}: {}",
                    sw.map_or_else(|| "no answer".to_string(), |sw| format!("SW {sw}"))
                ),
            );
            outcome.euicc_response_data = r.map(|r| r.to_bytes());
            outcome
        }
        RoutedResponse::Routed(inner) => {
            let refused = inner.responses.iter().position(|r| {
                !(r.sw.is_success() || (report.warnings_succeed && r.sw.is_warning()))
            });
            let mut outcome = match refused {
                Some(i) => failed(
                    Reason::EXECUTION_ERROR,
                    format!(
                        "the ISD-P {aid} answered SW {} to ES8 command {} of {sent}",
                        inner.responses[i].sw,
                        i + 1
                    ),
                ),
                None if inner.responses.len() < sent => failed(
                    Reason::EXECUTION_ERROR,
                    format!(
                        "the ISD-P {aid} executed {} of {sent} ES8 commands",
                        inner.responses.len()
                    ),
                ),
                None => Outcome::success(),
            };
            outcome.euicc_response_data = Some(inner.to_expanded().map_err(SmsrError::internal)?);
            outcome
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::drive;
    use super::*;

    fn op() -> Operation {
        Operation {
            id: 7,
            eid: "89049032123451234512345678901235".into(),
            kind: OperationKind::UpdateConnectivityParameters.as_str().into(),
            state: OperationState::Active,
            function_call_id: Some(1),
            requester_oid: "1.3.6.1.4.1.777".into(),
            interface: "ES3".into(),
            iccid: Some("8988211000000000001".into()),
            isd_p_aid: Some(vec![0xA0, 0x01]),
            deadline: 0,
            retry_at: None,
            data: "{}".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn a_routed_script_ends_at_once_either_way() {
        assert_eq!(
            drive(TRANSITIONS, &[Event::Executed, Event::Failed]),
            [Some(OperationState::Done), None]
        );
        assert_eq!(
            drive(TRANSITIONS, &[Event::Failed]),
            [Some(OperationState::Failed)]
        );
        assert_eq!(drive(TRANSITIONS, &[Event::MoreData]), [None]);
    }

    #[test]
    fn connectivity_parameters_accept_warnings_and_name_an_unknown_isd_p() {
        let ok = |sw| ResponseApdu::new(Vec::new(), sw);
        let o = routed_outcome(
            &op(),
            1,
            vec![ok(StatusWord::OK), ok(StatusWord(0x6310))],
            &CONNECTIVITY_PARAMETERS_REPORT,
        )
        .expect("outcome");
        assert_eq!(o.state, OperationState::Done);
        let o = routed_outcome(
            &op(),
            1,
            vec![ok(StatusWord::REFERENCED_DATA_NOT_FOUND)],
            &CONNECTIVITY_PARAMETERS_REPORT,
        )
        .expect("outcome");
        let d = o.status.status_code_data.expect("codes");
        assert_eq!((d.subject.code(), d.reason.code()), ("8.2.1", "3.9"));
        assert_eq!(d.subject_identifier, op().iccid);
    }
}
