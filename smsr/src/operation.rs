//! The SM-SR's asynchronous procedures as persisted operations (design §3; SGP.02 §3.2–§3.5, §5.4, §5.5): what
//! every procedure shares — its kind, its kind-specific data, its start (the first script queued) and its end
//! ([`finish`]: the state, the ES5 commands released, the audit trail, the ESM2M hooks, the final response and
//! the callback). Each procedure's states and transitions are in [`crate::procedure`], one module each. Each
//! step runs inside a transaction handed in by the caller (a request, the delivery worker or the inbound
//! worker) and is idempotent with respect to the stored state: an operation moves only from the state it was
//! read in ([`eis_store::operations::update`] checks it), ES5 commands are matched by id and counter, and every
//! outgoing message leaves through the outbox in the same transaction.

use eis_store::AnyConnection;
use eis_store::eis;
use eis_store::es5_queue::{self, Es5Command as QueuedCommand, NewEs5Command};
use eis_store::function_calls::{self, CallResponse};
use eis_store::operations::{self, NewOperation, Operation, OperationState, OperationUpdate};
use es_interfaces::apdu::ResponseApdu;
use es_interfaces::isdr::{Es5Command, Es5Failure, Es5FailureKind, Es5Function};
use es_interfaces::messages::common::BaseResponse;
use es_interfaces::messages::eis::Eis;
use es_interfaces::messages::{es3, es4, es4v4, es7};
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::status::{FunctionExecutionStatus, Reason, Status, StatusCodeData, Subject};
use es_interfaces::types::{Aid, HexBinary, XsDateTime};
use es_interfaces::wire_profile::CardProfile;
use es_interfaces::wsdl::Service;
use serde::{Deserialize, Serialize};

use crate::error::SmsrError;
use crate::outgoing;
use crate::procedure;
use crate::service::Smsr;

/// What an operation does (the `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationKind {
    /// ES3/ES4.EnableProfile (SGP.02 §3.2, §5.4.10, §5.5.5).
    EnableProfile,
    /// ES3/ES4.DisableProfile (SGP.02 §3.3, §5.4.11, §5.5.6).
    DisableProfile,
    /// ES4.DeleteProfile / ES3.DeleteISDP (SGP.02 §3.4, §5.4.12, §5.5.7).
    DeleteProfile,
    /// ES3/ES4.AuditEIS (SGP.02 §5.4.7, §5.5.4).
    AuditEis,
    /// SetFallBackAttribute (SGP.02 v4 §5.5.21, ES5 §5.7.7).
    SetFallbackAttribute,
    /// Confirmation of an eUICC notification (SGP.02 §5.7.11).
    ConfirmNotification,
    /// ES3.UpdateConnectivityParameters (SGP.02 §3.12, §5.4.13): the SM-DP's ES8 script routed to the ISD-P.
    UpdateConnectivityParameters,
    /// ES3.CreateISDP (SGP.02 §3.1.1, §5.4.1): see [`crate::download`].
    CreateIsdp,
    /// ES3.SendData (SGP.02 §3.1.2, §5.4.2): the SM-DP's ES8 script routed to its ISD-P, see [`crate::download`].
    SendData,
    /// ES4.SMSRChange at the current SM-SR (SGP.02 §3.8, §5.5): the hand-over to the new one, see
    /// [`crate::smsr_change`].
    SmsrChange,
    /// ES7.AuthenticateSMSR at the current SM-SR: `3A01` relayed to the ISD-R (SGP.02 §3.8; wire-profile §5b).
    AuthenticateSmsr,
    /// ES7.CreateAdditionalKeySet at the current SM-SR: `3A02` relayed to the ISD-R (wire-profile §5b).
    CreateAdditionalKeySet,
    /// ES7.HandoverEUICC at the new SM-SR (SGP.02 §3.8): the key establishment through the current SM-SR, then
    /// the eUICC under the new key set.
    HandoverEuicc,
    /// The new SM-SR's UpdateSMSRAddressingParameters and FinaliseISDRHandover, sent again after a hand-over
    /// whose validity period ended past its commit point (SGP.02 §3.8 step 5; see [`crate::smsr_change`]).
    FinaliseIsdrHandover,
}

impl OperationKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OperationKind::EnableProfile => "EnableProfile",
            OperationKind::DisableProfile => "DisableProfile",
            OperationKind::DeleteProfile => "DeleteProfile",
            OperationKind::AuditEis => "AuditEIS",
            OperationKind::SetFallbackAttribute => "SetFallbackAttribute",
            OperationKind::ConfirmNotification => "ConfirmNotification",
            OperationKind::UpdateConnectivityParameters => "UpdateConnectivityParameters",
            OperationKind::CreateIsdp => "CreateISDP",
            OperationKind::SendData => "SendData",
            OperationKind::SmsrChange => "SMSRChange",
            OperationKind::AuthenticateSmsr => "AuthenticateSMSR",
            OperationKind::CreateAdditionalKeySet => "CreateAdditionalKeySet",
            OperationKind::HandoverEuicc => "HandoverEUICC",
            OperationKind::FinaliseIsdrHandover => "FinaliseISDRHandover",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Result<OperationKind, SmsrError> {
        Ok(match s {
            "EnableProfile" => OperationKind::EnableProfile,
            "DisableProfile" => OperationKind::DisableProfile,
            "DeleteProfile" => OperationKind::DeleteProfile,
            "AuditEIS" => OperationKind::AuditEis,
            "SetFallbackAttribute" => OperationKind::SetFallbackAttribute,
            "ConfirmNotification" => OperationKind::ConfirmNotification,
            "UpdateConnectivityParameters" => OperationKind::UpdateConnectivityParameters,
            "CreateISDP" => OperationKind::CreateIsdp,
            "SendData" => OperationKind::SendData,
            "SMSRChange" => OperationKind::SmsrChange,
            "AuthenticateSMSR" => OperationKind::AuthenticateSmsr,
            "CreateAdditionalKeySet" => OperationKind::CreateAdditionalKeySet,
            "HandoverEUICC" => OperationKind::HandoverEuicc,
            "FinaliseISDRHandover" => OperationKind::FinaliseIsdrHandover,
            other => return Err(internal(format!("unknown operation kind {other:?}"))),
        })
    }

    /// The EIS audit-trail operation type (notes sgp02-interfaces §1.8, SGP.02 §5.1.1.3.12).
    pub fn audit_operation_type(self) -> Option<[u8; 2]> {
        match self {
            OperationKind::EnableProfile => Some([0x02, 0x00]),
            OperationKind::DisableProfile => Some([0x03, 0x00]),
            OperationKind::DeleteProfile => Some([0x04, 0x00]),
            OperationKind::AuditEis => Some([0x05, 0x00]),
            OperationKind::SetFallbackAttribute => Some([0x07, 0x00]),
            // The new SM-SR records the hand-over it completed (FinaliseISDRhandover); the old one's EIS is gone.
            OperationKind::HandoverEuicc => Some([0x09, 0x00]),
            // A download is recorded when it completes (crate::download::AUDIT_PROFILE_CREATED).
            OperationKind::ConfirmNotification
            | OperationKind::UpdateConnectivityParameters
            | OperationKind::CreateIsdp
            | OperationKind::SendData
            | OperationKind::SmsrChange
            | OperationKind::AuthenticateSmsr
            | OperationKind::CreateAdditionalKeySet
            | OperationKind::FinaliseIsdrHandover => None,
        }
    }
}

/// A notification being confirmed (wire-profile §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationData {
    /// Notification type byte (01, 02, 03, 05).
    pub kind: u8,
    /// Sequence number (echoed in the confirmation).
    pub sequence: u16,
    /// ISD-P AID, upper-case hex.
    pub isd_p_aid: String,
    /// The MSISDN it came from (where the confirmation goes).
    pub source_msisdn: String,
    /// IMEI, upper-case hex, if the eUICC sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
}

/// One ISD-P reported by GET STATUS during an audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditedIsdp {
    /// AID, upper-case hex.
    pub aid: String,
    /// Life-cycle byte (`9F70`).
    pub state: u8,
    /// Fall-back attribute.
    pub fallback: bool,
}

/// Kind-specific state of an operation (the `data` column, JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpData {
    /// AuditEIS: the ICCIDs asked for (empty: all the caller may see).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit_iccids: Vec<String>,
    /// Send the commands to this MSISDN instead of the enabled profile's (a notification's sender).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_msisdn: Option<String>,
    /// ConfirmNotification: the notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification: Option<NotificationData>,
    /// AuditEIS: ISD-Ps reported so far.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audit_isdps: Vec<AuditedIsdp>,
    /// AuditEIS: free non-volatile memory reported by GET DATA `FF21`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub free_memory: Option<u32>,
    /// PoR status `02` recoveries so far (the counter skip doubles each time).
    #[serde(default)]
    pub counter_skips: u32,
    /// The ES5 channel of the last transmission (`sms`, `https`): the operation's record of the channel choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Push SMS sent to make the eUICC open an admin session for this operation (wire-profile §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https_trigger: Option<TriggerState>,
    /// The eUICC did not connect after the triggers: this operation's commands go by SMS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sms_fallback: bool,
    /// SM-SR change: the other SM-SR and, at the new one, the hand-over's progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smsr_change: Option<crate::smsr_change::ChangeData>,
}

/// The push SMS of an operation (wire-profile §3): how many were sent, the last when (unix ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerState {
    /// Triggers sent.
    pub sent: u32,
    /// When the last one was sent.
    pub last_at: i64,
}

impl OpData {
    /// Reads the stored JSON.
    pub fn parse(data: &str) -> Result<OpData, SmsrError> {
        serde_json::from_str(data).map_err(|e| internal(format!("operation data: {e}")))
    }

    /// The JSON to store.
    pub fn to_json(&self) -> Result<String, SmsrError> {
        serde_json::to_string(self).map_err(|e| internal(format!("operation data: {e}")))
    }
}

pub(crate) fn internal(msg: String) -> SmsrError {
    SmsrError::internal(std::io::Error::other(msg))
}

/// The expanded remote command script of `commands` (wire-profile §2, §4).
pub fn script(commands: &[Es5Command]) -> Result<Vec<u8>, SmsrError> {
    let profile = CardProfile::default();
    let apdus = commands
        .iter()
        .map(|c| c.to_apdu(&profile))
        .collect::<Result<Vec<_>, _>>()
        .map_err(SmsrError::internal)?;
    CommandScript::new(apdus)
        .to_expanded()
        .map_err(SmsrError::internal)
}

/// Queues one script of ES5 commands for the operation (at the end of its eUICC's queue).
pub fn enqueue_commands(
    conn: &mut AnyConnection,
    op: &Operation,
    commands: &[Es5Command],
    now: i64,
) -> Result<QueuedCommand, SmsrError> {
    enqueue_script(conn, op, script(commands)?, now)
}

/// Queues one expanded command script for the operation (at the end of its eUICC's queue; a notification's
/// confirmation is urgent: the eUICC rolls back if it does not get it in time, SGP.02 §3.2.2).
fn enqueue_script(
    conn: &mut AnyConnection,
    op: &Operation,
    payload: Vec<u8>,
    now: i64,
) -> Result<QueuedCommand, SmsrError> {
    Ok(es5_queue::enqueue(
        conn,
        &NewEs5Command {
            eid: op.eid.clone(),
            operation_ref: op.id.to_string(),
            payload,
            deadline: op.deadline,
            urgent: op.kind == OperationKind::ConfirmNotification.as_str(),
        },
        now,
    )?)
}

/// Stores `data` as the kind-specific state of `op`, if `op` is still in the state it was read in.
pub fn save_data(
    conn: &mut AnyConnection,
    op: &Operation,
    data: &OpData,
    now: i64,
) -> Result<(), SmsrError> {
    operations::update(
        conn,
        op.id,
        op.state,
        &OperationUpdate {
            data: Some(data.to_json()?),
            ..OperationUpdate::default()
        },
        now,
    )?;
    Ok(())
}

/// What a new operation is for.
pub struct Start<'a> {
    /// Kind.
    pub kind: OperationKind,
    /// The eUICC.
    pub eid: &'a str,
    /// The function call answered by the operation (`None` for the SM-SR's own).
    pub function_call_id: Option<i64>,
    /// Requester.
    pub requester_oid: &'a str,
    /// Interface ("ES3", "ES4", "ES5").
    pub interface: &'a str,
    /// Profile concerned.
    pub iccid: Option<&'a str>,
    /// ISD-P concerned.
    pub isd_p_aid: Option<&'a [u8]>,
    /// Deadline (unix ms).
    pub deadline: i64,
    /// Kind-specific state.
    pub data: OpData,
    /// The first script, in expanded form ([`script`] builds one of ES5 commands); `None` for an operation that
    /// waits for another server first (SM-SR change).
    pub script: Option<Vec<u8>>,
}

/// Creates an operation and queues its first script; wakes the delivery worker.
pub fn start(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    s: Start<'_>,
    now: i64,
) -> Result<Operation, SmsrError> {
    check_unlocked(conn, s.kind, s.eid)?;
    let op = operations::create(
        conn,
        &NewOperation {
            eid: s.eid.to_string(),
            kind: s.kind.as_str().to_string(),
            function_call_id: s.function_call_id,
            requester_oid: s.requester_oid.to_string(),
            interface: s.interface.to_string(),
            iccid: s.iccid.map(str::to_string),
            isd_p_aid: s.isd_p_aid.map(<[u8]>::to_vec),
            deadline: s.deadline,
            data: s.data.to_json()?,
        },
        now,
    )?;
    if let Some(script) = s.script {
        enqueue_script(conn, &op, script, now)?;
        smsr.wake.delivery.notify_one();
    }
    crate::esm2m::events::operation_created(conn, smsr, &op, now)?;
    Ok(op)
}

/// Refuses a new operation on an eUICC locked by an SM-SR change (SGP.02 §3.8), unless it is part of that
/// change or the confirmation of a notification the eUICC sent.
fn check_unlocked(
    conn: &mut AnyConnection,
    kind: OperationKind,
    eid: &str,
) -> Result<(), SmsrError> {
    if matches!(
        kind,
        OperationKind::ConfirmNotification
            | OperationKind::AuthenticateSmsr
            | OperationKind::CreateAdditionalKeySet
            | OperationKind::HandoverEuicc
    ) {
        return Ok(());
    }
    match eis::lock_of(conn, eid)? {
        Some((eis::EuiccLock::Free, _)) | None => Ok(()),
        Some(_) => Err(SmsrError::EuiccLocked {
            eid: eid.to_string(),
        }),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Completion
// ---------------------------------------------------------------------------------------------------------------

/// How an operation ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Final state (Done, Failed or Expired).
    pub state: OperationState,
    /// The function execution status.
    pub status: FunctionExecutionStatus,
    /// The eUICC's response data, for a failure on the eUICC (`EuiccResponseData`).
    pub euicc_response_data: Option<Vec<u8>>,
    /// AuditEIS: the EIS as the requester sees it.
    pub eis: Option<Eis>,
    /// ES7.AuthenticateSMSR: the random challenge; ES7.CreateAdditionalKeySet: the receipt (wire-profile §5b).
    pub result: Option<Vec<u8>>,
}

impl Outcome {
    /// Success.
    pub fn success() -> Self {
        Outcome {
            state: OperationState::Done,
            status: FunctionExecutionStatus::success(),
            euicc_response_data: None,
            eis: None,
            result: None,
        }
    }

    /// A failure with this status code data.
    pub fn failed(data: StatusCodeData) -> Self {
        Outcome {
            state: OperationState::Failed,
            status: FunctionExecutionStatus::failed(data),
            euicc_response_data: None,
            eis: None,
            result: None,
        }
    }

    /// Expiry (1.6 / 5.3).
    pub fn expired(message: String) -> Self {
        Outcome {
            state: OperationState::Expired,
            status: FunctionExecutionStatus::expired(Some(message)),
            euicc_response_data: None,
            eis: None,
            result: None,
        }
    }
}

fn xs(ms: i64) -> Option<XsDateTime> {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .map(XsDateTime::utc)
}

/// The response element (name and standalone XML) answering `op` with `outcome`.
fn response(
    op: &Operation,
    kind: OperationKind,
    outcome: &Outcome,
    now: i64,
) -> Option<(String, String)> {
    let base = BaseResponse {
        processing_start: xs(op.created_at),
        processing_end: xs(now),
        acceptable_validity_period: None,
        function_execution_status: outcome.status.clone(),
    };
    let data = outcome
        .euicc_response_data
        .as_deref()
        .and_then(|d| HexBinary::from_bytes(d).ok());
    let es4 = op.interface == "ES4";
    let r = match (es4, kind) {
        (true, OperationKind::EnableProfile) => es4::Response::from(es4::EnableProfileResponse {
            base,
            euicc_response_data: data,
        })
        .to_xml_named(),
        (true, OperationKind::DisableProfile) => es4::Response::from(es4::DisableProfileResponse {
            base,
            euicc_response_data: data,
        })
        .to_xml_named(),
        (true, OperationKind::DeleteProfile) => es4::Response::from(es4::DeleteProfileResponse {
            base,
            euicc_response_data: data,
        })
        .to_xml_named(),
        (true, OperationKind::AuditEis) => es4::Response::from(es4::AuditEisResponse {
            base,
            eis: outcome.eis.clone(),
        })
        .to_xml_named(),
        (true, OperationKind::SetFallbackAttribute) => {
            let r = es4v4::Response::from(es4v4::SetFallBackAttributeResponse {
                base,
                euicc_response_data: data,
            });
            (r.element_name().to_string(), r.to_xml())
        }
        (false, OperationKind::EnableProfile) => es3::Response::from(es3::EnableProfileResponse {
            base,
            euicc_response_data: data,
        })
        .to_xml_named(),
        (false, OperationKind::DisableProfile) => {
            es3::Response::from(es3::DisableProfileResponse {
                base,
                euicc_response_data: data,
            })
            .to_xml_named()
        }
        (false, OperationKind::DeleteProfile) => es3::Response::from(es3::DeleteIsdpResponse {
            base,
            euicc_response_data: data,
        })
        .to_xml_named(),
        (false, OperationKind::AuditEis) => es3::Response::from(es3::AuditEisResponse {
            base,
            eis: outcome.eis.clone(),
        })
        .to_xml_named(),
        (false, OperationKind::CreateIsdp) => es3::Response::from(es3::CreateIsdpResponse {
            base,
            isd_p_aid: op
                .isd_p_aid
                .as_deref()
                .and_then(|a| Aid::from_bytes(a).ok())
                .unwrap_or_else(Aid::create_isdp_refused),
            euicc_response_data: data,
        })
        .to_xml_named(),
        (false, OperationKind::SendData) => es3::Response::from(es3::SendDataResponse {
            base,
            euicc_response_data: data,
        })
        .to_xml_named(),
        (false, OperationKind::UpdateConnectivityParameters) => {
            es3::Response::from(es3::UpdateConnectivityParametersResponse {
                base,
                euicc_response_data: data,
            })
            .to_xml_named()
        }
        (true, OperationKind::SmsrChange) => {
            es4::Response::from(es4::SmsrChangeResponse { base }).to_xml_named()
        }
        (false, OperationKind::AuthenticateSmsr) => {
            es7::Response::from(es7::AuthenticateSmsrResponse {
                base,
                random_challenge: result_hex(outcome),
            })
            .to_xml_named()
        }
        (false, OperationKind::CreateAdditionalKeySet) => {
            es7::Response::from(es7::CreateAdditionalKeySetResponse {
                base,
                // No derivation random in this scenario (wire-profile §5b step 3).
                derivation_random: HexBinary::empty(),
                receipt: result_hex(outcome),
            })
            .to_xml_named()
        }
        (false, OperationKind::HandoverEuicc) => {
            es7::Response::from(es7::HandoverEuiccResponse { base }).to_xml_named()
        }
        _ => return None,
    };
    Some(r)
}

/// The random challenge or receipt of an ES7 relay, empty when it failed (the elements are mandatory).
fn result_hex(outcome: &Outcome) -> HexBinary {
    outcome
        .result
        .as_deref()
        .and_then(|r| HexBinary::from_bytes(r).ok())
        .unwrap_or_else(HexBinary::empty)
}

/// `(element name, standalone XML)` of a response enum.
trait NamedXml {
    fn to_xml_named(&self) -> (String, String);
}

impl NamedXml for es4::Response {
    fn to_xml_named(&self) -> (String, String) {
        (self.element_name().to_string(), self.to_xml())
    }
}

impl NamedXml for es7::Response {
    fn to_xml_named(&self) -> (String, String) {
        (self.element_name().to_string(), self.to_xml())
    }
}

impl NamedXml for es3::Response {
    fn to_xml_named(&self) -> (String, String) {
        (self.element_name().to_string(), self.to_xml())
    }
}

/// Ends `op` with `outcome` (a transition its procedure's table has, [`procedure::allows`]): the state, the ES5 commands released (the one in flight stops, the rest are
/// deleted), the audit-trail record, and — for a function call — the recorded final response and the
/// callback to ReplyTo. Returns `false` (and does nothing) if the operation was no longer in the state read.
pub fn finish(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    outcome: Outcome,
    now: i64,
) -> Result<bool, SmsrError> {
    let kind = OperationKind::parse(&op.kind)?;
    let ended = outcome.state;
    if !finish_operation(conn, smsr, op, kind, outcome, now)? {
        return Ok(false);
    }
    crate::smsr_change::on_finished(conn, smsr, op, kind, ended, now)?;
    Ok(true)
}

fn finish_operation(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    kind: OperationKind,
    outcome: Outcome,
    now: i64,
) -> Result<bool, SmsrError> {
    if !procedure::allows(kind, op.state, outcome.state) {
        return Err(internal(format!(
            "operation {} ({}): no transition from {:?} to {:?}",
            op.id, op.kind, op.state, outcome.state
        )));
    }
    match operations::update(
        conn,
        op.id,
        op.state,
        &OperationUpdate {
            state: Some(outcome.state),
            data: None,
            retry_at: Some(None),
        },
        now,
    ) {
        Ok(()) => {}
        Err(eis_store::StoreError::Conflict { .. }) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    crate::esm2m::events::operation_finished(conn, smsr, op, &outcome, now)?;
    if kind == OperationKind::CreateIsdp {
        procedure::create_isdp::on_finished(conn, op, outcome.state, now)?;
    }
    let op_ref = op.id.to_string();
    for c in es5_queue::commands_of_operation(conn, &op_ref)? {
        if c.state == es5_queue::Es5State::InFlight {
            es5_queue::mark_failed(conn, c.id, "operation finished", now)?;
        }
    }
    es5_queue::purge_operation(conn, &op_ref)?;
    if let Some(code) = kind.audit_operation_type() {
        // An EIS gone meanwhile (handed over to another SM-SR) has no audit trail left to append to.
        let appended = eis::append_audit(
            conn,
            &eis::AuditRecord {
                eid: op.eid.clone(),
                smsr_id: smsr.identity.oid.clone(),
                operation_date: now,
                operation_type: code,
                requester_id: Some(op.requester_oid.clone()),
                execution_status: Some(outcome.status.status.as_str().to_string()),
                isd_p_aid: op.isd_p_aid.clone(),
                iccid: op.iccid.clone(),
                imei: None,
                meid: None,
            },
        );
        match appended {
            Ok(())
            | Err(eis_store::StoreError::NotFound {
                kind: eis_store::RecordKind::Eis,
                ..
            }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    // An owner's operation (ESM2M) has no function call: its result is kept for the owner to read.
    crate::esm2m::operations::finished(conn, smsr, op, &outcome, now)?;
    let level_ok = outcome.status.status == Status::ExecutedSuccess;
    if level_ok {
        tracing::info!(op = op.id, eid = %op.eid, kind = %op.kind, "operation completed");
    } else {
        tracing::info!(op = op.id, eid = %op.eid, kind = %op.kind, status = %outcome.status.status,
            reason = ?outcome.status.status_code_data.as_ref().and_then(|d| d.message.clone()), "operation ended");
    }
    let Some(call_id) = op.function_call_id else {
        return Ok(true);
    };
    let Some((element, xml)) = response(op, kind, &outcome, now) else {
        return Ok(true);
    };
    match function_calls::complete_call(
        conn,
        call_id,
        &CallResponse {
            http_status: 200,
            body: xml.clone(),
        },
        now,
    ) {
        Ok(()) => {}
        Err(eis_store::StoreError::Conflict { .. }) => return Ok(true),
        Err(e) => return Err(e.into()),
    }
    if let Some(call) = function_calls::get_call(conn, call_id)? {
        let service = match op.interface.as_str() {
            "ES4" => Service::Es4SmSr,
            "ES7" => Service::Es7SmSr,
            _ => Service::Es3SmSr,
        };
        outgoing::queue_callback(conn, smsr, &call, service, &element, &xml, now)?;
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------------------------
// Results of ES5 commands
// ---------------------------------------------------------------------------------------------------------------

/// Status code data for an ES5 command the eUICC refused by its status word (SGP.02 §5.7; wire-profile §2
/// maps other eUICC failures to 8.4/4.2).
pub fn card_refusal(op: &Operation, failure: &Es5Failure) -> StatusCodeData {
    let (subject, reason, what) = match (failure.function, failure.kind) {
        // wire-profile §5b: the eUICC checks CERT.SR.ECDSA against the CI (6A80) and SM-SR2's signature (6982).
        (Es5Function::EstablishIsdrKeySetCertificate, Es5FailureKind::IncorrectData) => (
            Subject::SM_SR_CERTIFICATE,
            Reason::VERIFICATION_FAILED,
            "CERT.SR.ECDSA not accepted",
        ),
        (Es5Function::EstablishIsdrKeySetAgreement, Es5FailureKind::SecurityStatusNotSatisfied) => {
            (
                Subject::SM_SR_CERTIFICATE,
                Reason::VERIFICATION_FAILED,
                "the key agreement's signature does not verify with CERT.SR.ECDSA",
            )
        }
        (_, Es5FailureKind::ReferencedDataNotFound) => (
            Subject::PROFILE_ICCID,
            Reason::UNKNOWN,
            "the ISD-P is not on the eUICC",
        ),
        (_, Es5FailureKind::ConditionsNotSatisfied) => (
            Subject::PROFILE_ICCID,
            Reason::REFUSED,
            "conditions of use not satisfied (state, fall-back attribute or POL1)",
        ),
        (_, Es5FailureKind::NotEnoughMemory) => {
            (Subject::EUICC, Reason::REFUSED, "not enough memory")
        }
        _ => (Subject::ISD_R, Reason::EXECUTION_ERROR, "execution error"),
    };
    let mut d = StatusCodeData::new(
        subject,
        reason,
        Some(format!(
            "{} refused by the eUICC: SW {} ({what})",
            failure.function, failure.sw
        )),
    );
    d.subject_identifier = op.iccid.clone();
    d
}

/// Status code data for a PoR with a status other than `00` (wire-profile §2: 8.4 / 4.2).
pub fn por_failure(status_byte: u8, what: &str) -> StatusCodeData {
    StatusCodeData::new(
        Subject::ISD_R,
        Reason::EXECUTION_ERROR,
        Some(format!("PoR status {status_byte:02X} ({what})")),
    )
}

/// The R-APDUs of a response script (expanded form, wire-profile §2).
pub fn responses_of(script_bytes: &[u8]) -> Result<Vec<ResponseApdu>, StatusCodeData> {
    let r = ResponseScript::parse_expanded(script_bytes).map_err(|e| {
        StatusCodeData::new(
            Subject::ISD_R,
            Reason::EXECUTION_ERROR,
            Some(format!("response script: {e}")),
        )
    })?;
    if let Some(bad) = r.bad_format {
        return Err(StatusCodeData::new(
            Subject::ISD_R,
            Reason::EXECUTION_ERROR,
            Some(format!(
                "the eUICC reported a bad script format ({})",
                hex::encode_upper(bad)
            )),
        ));
    }
    Ok(r.responses)
}
