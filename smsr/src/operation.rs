//! The SM-SR's asynchronous procedures as persisted state machines (design §3; SGP.02 §3.2–§3.5, §5.4, §5.5):
//! profile enabling, disabling and deletion, eUICC audit, fall-back attribute, and the confirmation of eUICC
//! notifications. Each step runs inside a transaction handed in by the caller (a request, the delivery worker or
//! the inbound worker) and is idempotent with respect to the stored state: an operation moves only from the
//! state it was read in ([`eis_store::operations::update`] checks it), ES5 commands are matched by id and
//! counter, and every outgoing message leaves through the outbox in the same transaction.
//!
//! Flow of a profile switch (enable; disable is the same with the fall-back profile as the new one): the
//! function call creates the operation and queues `ES5.EnableProfile` → the PoR `9000` moves it to
//! `AwaitingNotification` → the eUICC's notification `02` (after network attach) is confirmed with
//! `ES5.HandleNotificationConfirmation` (an operation of its own) → on that PoR the EIS is updated, the
//! owners are notified (ES4, and ES3 for SM-DP profiles), and the switch operation completes: its result is
//! recorded in the function call and sent to the caller's ReplyTo. Notification `03` (roll-back, §3.2.2) or
//! `05` (fall-back, §3.5) ends an open switch FAILED.

use eis_store::AnyConnection;
use eis_store::eis::{self, EuiccUpdate, ProfileRecord, ProfileState, ProfileUpdate};
use eis_store::es5_queue::{self, Es5Command as QueuedCommand, NewEs5Command};
use eis_store::function_calls::{self, CallResponse};
use eis_store::operations::{self, NewOperation, Operation, OperationState, OperationUpdate};
use es_interfaces::apdu::{ResponseApdu, StatusWord};
use es_interfaces::isdr::{
    self, Es5Command, Es5Completion, Es5Failure, Es5FailureKind, ExtendedCardResources, IsdpState,
};
use es_interfaces::messages::common::BaseResponse;
use es_interfaces::messages::eis::Eis;
use es_interfaces::messages::{es3, es4, es4v4};
use es_interfaces::notification::NotificationType;
use es_interfaces::routing::{self, RoutedResponse};
use es_interfaces::script::{CommandScript, ResponseScript};
use es_interfaces::status::{FunctionExecutionStatus, Reason, Status, StatusCodeData, Subject};
use es_interfaces::types::{Aid, HexBinary, XsDateTime};
use es_interfaces::wire_profile::CardProfile;
use es_interfaces::wsdl::Service;
use serde::{Deserialize, Serialize};

use crate::download;
use crate::eis_map::{Viewer, view};
use crate::error::SmsrError;
use crate::outgoing::{self, ProfileChange};
use crate::platform;
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
            // A download is recorded when it completes (crate::download::AUDIT_PROFILE_CREATED).
            OperationKind::ConfirmNotification
            | OperationKind::UpdateConnectivityParameters
            | OperationKind::CreateIsdp
            | OperationKind::SendData => None,
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

fn internal(msg: String) -> SmsrError {
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
    /// The first script, in expanded form ([`script`] builds one of ES5 commands).
    pub script: Vec<u8>,
}

/// Creates an operation and queues its first script; wakes the delivery worker.
pub fn start(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    s: Start<'_>,
    now: i64,
) -> Result<Operation, SmsrError> {
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
    enqueue_script(conn, &op, s.script, now)?;
    crate::esm2m::events::operation_created(conn, smsr, &op, now)?;
    smsr.wake.delivery.notify_one();
    Ok(op)
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
}

impl Outcome {
    /// Success.
    pub fn success() -> Self {
        Outcome {
            state: OperationState::Done,
            status: FunctionExecutionStatus::success(),
            euicc_response_data: None,
            eis: None,
        }
    }

    /// A failure with this status code data.
    pub fn failed(data: StatusCodeData) -> Self {
        Outcome {
            state: OperationState::Failed,
            status: FunctionExecutionStatus::failed(data),
            euicc_response_data: None,
            eis: None,
        }
    }

    /// Expiry (1.6 / 5.3).
    pub fn expired(message: String) -> Self {
        Outcome {
            state: OperationState::Expired,
            status: FunctionExecutionStatus::expired(Some(message)),
            euicc_response_data: None,
            eis: None,
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
        _ => return None,
    };
    Some(r)
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

impl NamedXml for es3::Response {
    fn to_xml_named(&self) -> (String, String) {
        (self.element_name().to_string(), self.to_xml())
    }
}

/// Ends `op` with `outcome`: the state, the ES5 commands released (the one in flight stops, the rest are
/// deleted), the audit-trail record, and — for a function call — the recorded final response and the
/// callback to ReplyTo. Returns `false` (and does nothing) if the operation was no longer in the state read.
pub fn finish(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    outcome: Outcome,
    now: i64,
) -> Result<bool, SmsrError> {
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
    let kind = OperationKind::parse(&op.kind)?;
    if kind == OperationKind::CreateIsdp && outcome.state != OperationState::Done {
        download::undo_creation(conn, op, now)?;
    }
    let op_ref = op.id.to_string();
    for c in es5_queue::commands_of_operation(conn, &op_ref)? {
        if c.state == es5_queue::Es5State::InFlight {
            es5_queue::mark_failed(conn, c.id, "operation finished", now)?;
        }
    }
    es5_queue::purge_operation(conn, &op_ref)?;
    if let Some(code) = kind.audit_operation_type()
        && eis::euicc_exists(conn, &op.eid)?
    {
        eis::append_audit(
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
        )?;
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
        let service = if op.interface == "ES4" {
            Service::Es4SmSr
        } else {
            Service::Es3SmSr
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
    let (subject, reason, what) = match failure.kind {
        Es5FailureKind::ReferencedDataNotFound => (
            Subject::PROFILE_ICCID,
            Reason::UNKNOWN,
            "the ISD-P is not on the eUICC",
        ),
        Es5FailureKind::ConditionsNotSatisfied => (
            Subject::PROFILE_ICCID,
            Reason::REFUSED,
            "conditions of use not satisfied (state, fall-back attribute or POL1)",
        ),
        Es5FailureKind::NotEnoughMemory => (Subject::EUICC, Reason::REFUSED, "not enough memory"),
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

fn aid_hex(aid: &[u8]) -> String {
    hex::encode_upper(aid)
}

/// Handles the eUICC's answer to command `cmd` of `op` (PoR `00` with the response script `responses`): the
/// command is done; the operation advances, completes or fails.
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
            finish(conn, smsr, op, Outcome::failed(d), now)?;
            return Ok(());
        }
    };
    let commands = CommandScript::parse_expanded(&cmd.payload).map_err(SmsrError::internal)?;
    // Every ES5 command must have been executed, each with success (or 6310 for GET STATUS); a routed ES8
    // script is judged by its ISD-P's answers below.
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
            finish(conn, smsr, op, Outcome::failed(d), now)?;
            return Ok(());
        };
        match isdr::interpret(function, r) {
            Ok(c) => completions.push((function, c, r.clone())),
            Err(failure) if download::absent_isdp_counts_as_deleted(conn, op, &failure)? => {
                let aid = op.isd_p_aid.clone().unwrap_or_default();
                apply_deletions(conn, smsr, &op.eid, &[aid], now)?;
                finish(conn, smsr, op, Outcome::success(), now)?;
                return Ok(());
            }
            Err(failure) => {
                let mut outcome = Outcome::failed(card_refusal(op, &failure));
                outcome.euicc_response_data = Some(r.to_bytes());
                finish(conn, smsr, op, outcome, now)?;
                return Ok(());
            }
        }
    }
    match kind {
        OperationKind::EnableProfile | OperationKind::DisableProfile => {
            // The switch runs on the eUICC; its outcome comes as a notification (SGP.02 §3.2).
            match operations::update(
                conn,
                op.id,
                op.state,
                &OperationUpdate {
                    state: Some(OperationState::AwaitingNotification),
                    data: None,
                    retry_at: Some(None),
                },
                now,
            ) {
                Ok(()) => awaiting_notification(conn, smsr, op, now),
                Err(eis_store::StoreError::Conflict { .. }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        }
        OperationKind::DeleteProfile => {
            apply_deletions(
                conn,
                smsr,
                &op.eid,
                &[op.isd_p_aid.clone().unwrap_or_default()],
                now,
            )?;
            finish(conn, smsr, op, Outcome::success(), now)?;
            Ok(())
        }
        OperationKind::SetFallbackAttribute => {
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
            finish(conn, smsr, op, Outcome::success(), now)?;
            Ok(())
        }
        OperationKind::AuditEis => on_audit_step(conn, smsr, op, &completions, now),
        OperationKind::ConfirmNotification => {
            let deleted = completions
                .iter()
                .find(|(f, _, _)| *f == isdr::Es5Function::HandleNotificationConfirmation)
                .map(|(_, _, r)| isdr::parse_notification_confirmation_response(&r.data))
                .transpose()
                .map_err(SmsrError::internal)?
                .unwrap_or_default();
            let data = OpData::parse(&op.data)?;
            let n = data
                .notification
                .ok_or_else(|| internal(format!("operation {} has no notification", op.id)))?;
            // Not applied when the confirmation was finished meanwhile (abandoned on a roll-back notification).
            if finish(conn, smsr, op, Outcome::success(), now)? {
                apply_notification(conn, smsr, &op.eid, &n, &deleted, now)?;
            }
            Ok(())
        }
        OperationKind::UpdateConnectivityParameters | OperationKind::SendData => {
            let sent = commands.commands.len().saturating_sub(1);
            let report = if kind == OperationKind::SendData {
                &download::SEND_DATA_REPORT
            } else {
                &CONNECTIVITY_PARAMETERS_REPORT
            };
            finish(
                conn,
                smsr,
                op,
                routed_outcome(op, sent, responses, report)?,
                now,
            )?;
            Ok(())
        }
        OperationKind::CreateIsdp => {
            download::on_isdp_created(conn, smsr, op, response_script, now)
        }
    }
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
const CONNECTIVITY_PARAMETERS_REPORT: RoutedReport = RoutedReport {
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

fn on_audit_step(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    completions: &[(isdr::Es5Function, Es5Completion, ResponseApdu)],
    now: i64,
) -> Result<(), SmsrError> {
    let mut data = OpData::parse(&op.data)?;
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
    if more {
        // GET STATUS continues after 6310 (GP Card Specification §11.4.2.1).
        let updated = Operation {
            data: data.to_json()?,
            ..op.clone()
        };
        operations::update(
            conn,
            op.id,
            op.state,
            &OperationUpdate {
                data: Some(updated.data.clone()),
                ..OperationUpdate::default()
            },
            now,
        )?;
        enqueue_commands(
            conn,
            &updated,
            &[Es5Command::AuditEis { continuation: true }],
            now,
        )?;
        smsr.wake.delivery.notify_one();
        return Ok(());
    }
    apply_audit(conn, smsr, op, &data, now)?;
    let mut outcome = Outcome::success();
    // The EIS goes back in an ES3/ES4 response; an owner reads the audited eUICC from the ESM2M API.
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
    finish(conn, smsr, op, outcome, now)?;
    Ok(())
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
        apply_deletions(conn, smsr, &op.eid, &gone, now)?;
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

/// Removes the profiles in ISD-Ps `aids` from the EIS (deleted on the eUICC), gives their memory back and
/// notifies the owners (SGP.02 §3.4, §5.5.12).
fn apply_deletions(
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

// ---------------------------------------------------------------------------------------------------------------
// eUICC notifications
// ---------------------------------------------------------------------------------------------------------------

fn notification_type(kind: u8) -> Option<NotificationType> {
    NotificationType::from_byte(kind).ok()
}

/// The open profile-switch operation a profile-change-succeeded notification (`02`) for ISD-P `aid` completes:
/// an enable of that ISD-P, or a disable of the profile enabled until now (its fall-back took over).
fn matching_switch(
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

/// Decides whether a notification just received is to be confirmed (SGP.02 §3.2, notes §4.3): a profile
/// change `02` only when an open enable/disable expects it (a late one, after its operation expired, is not
/// confirmed, so the eUICC rolls back); `01`, `03` and `05` always. Returns a reason for not confirming.
pub fn refuse_confirmation(
    conn: &mut AnyConnection,
    eid: &str,
    kind: NotificationType,
    aid: &[u8],
) -> Result<Option<String>, SmsrError> {
    if kind != NotificationType::ProfileChangeSucceeded {
        return Ok(None);
    }
    let open = operations::open_of(conn, eid)?;
    let profiles = eis::profiles_of(conn, eid)?;
    let enabled = profiles
        .iter()
        .find(|p| p.info.state == ProfileState::Enabled);
    if matching_switch(&open, aid, enabled).is_some() {
        Ok(None)
    } else {
        Ok(Some(format!(
            "no open enable or disable expects a switch to ISD-P {}",
            aid_hex(aid)
        )))
    }
}

/// Records that the eUICC executed the command of an open switch whose PoR never arrived (lost SMS, or the SM-SR
/// restarted between sending it and receiving the answer; SGP.02 §3.2, §3.2.2): a notification `02` naming
/// the switch's target, or a roll-back `03`, can only follow its execution. The command in flight is done (later
/// PoRs of it are dropped; the row stays, a delivery round may be recording a retransmission of it) and the
/// operation waits for this notification's confirmation. Without this the
/// confirmation queued behind the retransmissions of the command the eUICC already ran: sent to the MSISDN of
/// the profile it had left, they were lost until the eUICC gave up and rolled back, and a retransmission then
/// reached it and switched it again with nothing to confirm the new switch.
pub fn switch_executed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    eid: &str,
    kind: NotificationType,
    aid: &[u8],
    now: i64,
) -> Result<(), SmsrError> {
    let open: Vec<Operation> = operations::open_of(conn, eid)?
        .into_iter()
        .filter(|o| {
            o.kind == OperationKind::EnableProfile.as_str()
                || o.kind == OperationKind::DisableProfile.as_str()
        })
        .collect();
    let op = match kind {
        NotificationType::ProfileChangeSucceeded => {
            let profiles = eis::profiles_of(conn, eid)?;
            let enabled = profiles
                .iter()
                .find(|p| p.info.state == ProfileState::Enabled);
            matching_switch(&open, aid, enabled)
        }
        NotificationType::ProfileChangeFailedRollback => open.first().cloned(),
        _ => None,
    };
    let Some(op) = op.filter(|o| o.state == OperationState::Active) else {
        return Ok(());
    };
    let op_ref = op.id.to_string();
    for c in es5_queue::commands_of_operation(conn, &op_ref)? {
        if c.state == es5_queue::Es5State::InFlight {
            es5_queue::mark_done(conn, c.id, None, now)?;
        }
    }
    tracing::info!(op = op.id, %eid, ?kind, "the eUICC's notification shows the switch command executed; its PoR did not arrive");
    match operations::update(
        conn,
        op.id,
        op.state,
        &OperationUpdate {
            state: Some(OperationState::AwaitingNotification),
            data: None,
            retry_at: Some(None),
        },
        now,
    ) {
        Ok(()) => awaiting_notification(conn, smsr, &op, now),
        Err(eis_store::StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The owner's event of a switch now waiting for the eUICC's notification (ESM2M, [`crate::esm2m::events`]).
fn awaiting_notification(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    op: &Operation,
    now: i64,
) -> Result<(), SmsrError> {
    crate::esm2m::events::operation_state_changed(
        conn,
        smsr,
        op,
        OperationState::AwaitingNotification,
        now,
    )
}

/// Abandons the confirmations still under way of profile-change-succeeded notifications (`02`) of this eUICC
/// when it sends a roll-back notification (`03`, sequence `sequence`): it rolls back only when such a
/// confirmation did not reach it in time (SGP.02 §3.2.2, notes §4.3), so a late one changes nothing on the card
/// and its stale `02` must neither update the EIS nor complete the open switch SUCCESS — the roll-back decides
/// both. A late PoR of an abandoned confirmation is dropped (its command is finished with it).
pub fn abandon_unconfirmed(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    eid: &str,
    kind: NotificationType,
    sequence: u16,
    now: i64,
) -> Result<(), SmsrError> {
    if kind != NotificationType::ProfileChangeFailedRollback {
        return Ok(());
    }
    for op in operations::open_of(conn, eid)? {
        if op.kind != OperationKind::ConfirmNotification.as_str() {
            continue;
        }
        let Some(n) = OpData::parse(&op.data)?.notification else {
            continue;
        };
        if n.kind != NotificationType::ProfileChangeSucceeded.to_byte() || n.sequence == sequence {
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
        finish(conn, smsr, &op, Outcome::failed(d), now)?;
    }
    Ok(())
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
    let kind = notification_type(n.kind)
        .ok_or_else(|| internal(format!("stored notification type {:02X}", n.kind)))?;
    let profiles = eis::profiles_of(conn, eid)?;
    let enabled_before = profiles
        .iter()
        .find(|p| p.info.state == ProfileState::Enabled)
        .cloned();
    let open: Vec<Operation> = operations::open_of(conn, eid)?
        .into_iter()
        .filter(|o| {
            o.kind == OperationKind::EnableProfile.as_str()
                || o.kind == OperationKind::DisableProfile.as_str()
        })
        .collect();
    let mut auto_delete = Vec::new();
    let switch_op = match kind {
        NotificationType::ProfileChangeSucceeded => {
            matching_switch(&open, &aid, enabled_before.as_ref())
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
        apply_deletions(conn, smsr, eid, deleted_by_pol1, now)?;
    }
    if let Some(op) = switch_op {
        let outcome = match kind {
            NotificationType::ProfileChangeSucceeded => Outcome::success(),
            NotificationType::ProfileChangeFailedRollback => {
                let mut d = StatusCodeData::new(
                    Subject::PROFILE_ICCID,
                    Reason::EXECUTION_ERROR,
                    Some(
                        "the target profile did not provide connectivity; the eUICC rolled back to \
                         the previously enabled profile (SGP.02 §3.2.2)"
                            .to_string(),
                    ),
                );
                d.subject_identifier = op.iccid.clone();
                Outcome::failed(d)
            }
            _ => {
                let mut d = StatusCodeData::new(
                    Subject::PROFILE_ICCID,
                    Reason::EXECUTION_ERROR,
                    Some(
                        "connectivity was lost and the eUICC enabled its fall-back profile (SGP.02 §3.5)"
                            .to_string(),
                    ),
                );
                d.subject_identifier = op.iccid.clone();
                Outcome::failed(d)
            }
        };
        finish(conn, smsr, &op, outcome, now)?;
    }
    for p in auto_delete {
        start_auto_delete(conn, smsr, &p, now)?;
    }
    Ok(())
}

/// Deletes a profile POL2 asks to delete once disabled (SGP.02 §3.3, `Auto-Delete`): an operation of the SM-SR's
/// own, answered to no caller; its owners get HandleProfileDeletedNotification as for any deletion.
fn start_auto_delete(
    conn: &mut AnyConnection,
    smsr: &Smsr,
    p: &ProfileRecord,
    now: i64,
) -> Result<(), SmsrError> {
    let Some(settings) = smsr.es5.as_ref() else {
        return Ok(());
    };
    tracing::info!(eid = %p.eid, iccid = %p.info.iccid, "POL2 Auto-Delete: deleting the disabled profile");
    start(
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
            script: script(&[Es5Command::DeleteProfile {
                isd_p_aid: p.info.isd_p_aid.clone(),
            }])?,
        },
        now,
    )?;
    Ok(())
}
