//! The SM-SR's function errors and their one mapping to SGP.02 status codes (SGP.02 §5.1.6.4 and the
//! per-function tables of §5.2–§5.7).

use eis_store::{RecordKind, StoreError, TxError};
use es_interfaces::status::{FunctionExecutionStatus, Reason, StatusCodeData, Subject};

/// Why an SM-SR function did not execute. Messages name the element concerned and never carry key material.
#[derive(Debug, thiserror::Error)]
pub enum SmsrError {
    /// No EIS for this EID, or one the caller may not know of (8.1.1 / 3.9; the same words either way).
    #[error("the eUICC {eid} is unknown")]
    UnknownEid {
        /// The EID.
        eid: String,
    },
    /// ES1.RegisterEIS of an EID that is already registered; nothing is overwritten (8.1.1 / 3.3).
    #[error("the eUICC {eid} is already registered; the stored EIS is unchanged")]
    EidAlreadyRegistered {
        /// The EID.
        eid: String,
    },
    /// The caller may not manage this EIS, e.g. an EUM registering an eUICC of another EUM (8.6 / 1.2).
    #[error("{caller} is not allowed to manage the EIS of {eid}: {why}")]
    EisNotAllowed {
        /// The caller's OID.
        caller: String,
        /// The EID.
        eid: String,
        /// Why.
        why: String,
    },
    /// The EUM signature over EumSignedInfo is missing or does not verify (8.6 / 6.1).
    #[error("the EumSignature of the EIS of {eid} does not verify: {why}")]
    BadEisSignature {
        /// The EID.
        eid: String,
        /// Why.
        why: String,
    },
    /// A certificate of a chain (EUM, ECASD, SM-DP, SM-SR) failed its check; the status comes from certs.
    #[error("{message}")]
    Certificate {
        /// Subject code, e.g. 8.5.2.
        subject: String,
        /// Reason code, e.g. 6.3.
        reason: String,
        /// Which certificate and why.
        message: String,
    },
    /// No profile of the caller has this ICCID: none exists, or it is another owner's (8.2.1 / 3.9; the same
    /// words either way).
    #[error("the profile {iccid} is unknown")]
    UnknownIccid {
        /// The ICCID.
        iccid: String,
    },
    /// The caller's profile is installed on another eUICC than the one named (8.2.1 / 3.10 [P]).
    #[error("the profile {iccid} is not installed on the eUICC {eid}")]
    IccidOnOtherEuicc {
        /// The ICCID.
        iccid: String,
        /// The EID named by the caller.
        eid: String,
    },
    /// ES3.CreateISDP of an ICCID already present on an eUICC of this SM-SR (8.2.1 / 3.3 [P]).
    #[error("the profile {iccid} is already present on an eUICC of this SM-SR")]
    IccidInUse {
        /// The ICCID.
        iccid: String,
    },
    /// ES3.CreateISDP asks for more memory than the eUICC has left in the EIS (8.1 / 3.8 [P]).
    #[error("the eUICC {eid} has {remaining} bytes of memory left, {required} are required")]
    InsufficientMemory {
        /// The EID.
        eid: String,
        /// RequiredMemory of the request.
        required: i64,
        /// RemainingMemory of the EIS.
        remaining: i64,
    },
    /// Every ISD-P instance AID of wire-profile §1 has been given on this eUICC (8.1 / 3.8 [P]).
    #[error("the eUICC {eid} has no ISD-P AID left to allocate")]
    NoIsdpAidLeft {
        /// The EID.
        eid: String,
    },
    /// ES3.SendData to a security domain that is no ISD-P of the eUICC (8.3.1 / 3.9).
    #[error("the eUICC {eid} has no ISD-P {aid}")]
    UnknownIsdp {
        /// The AID, upper-case hex.
        aid: String,
        /// The EID.
        eid: String,
    },
    /// ES3.SendData to the ISD-P of a profile the caller did not download (8.3.1 / 1.2 [P]).
    #[error("{caller} is not allowed to send data to the ISD-P {aid}")]
    IsdpNotAllowed {
        /// The caller's OID.
        caller: String,
        /// The AID, upper-case hex.
        aid: String,
    },
    /// The profile's state forbids the function, e.g. enabling the enabled profile or deleting the fall-back
    /// profile (8.2.1 / 3.8).
    #[error("the profile {iccid} cannot be {action}: {why}")]
    ProfileRefused {
        /// The ICCID.
        iccid: String,
        /// What was asked ("enabled", "disabled", "deleted", …).
        action: &'static str,
        /// Why not.
        why: String,
    },
    /// A POL2 rule of the profile forbids the action (8.2.3 / 3.8), checked before anything is sent.
    #[error("POL2 of the profile {iccid} does not allow {action}")]
    Pol2Refused {
        /// The ICCID.
        iccid: String,
        /// The action (ENABLE, DISABLE, DELETE).
        action: &'static str,
    },
    /// The function needs ES5 and this SM-SR has no ES5 transport (SMPP) configured (1.2 / 3.8).
    #[error(
        "{function} needs ES5, and this SM-SR has no ES5 transport configured (smsr.smpp in the configuration)"
    )]
    NoEs5Transport {
        /// The function.
        function: String,
    },
    /// An input value is invalid in a way the schema cannot express (1.6 / 2.1, naming the element).
    #[error("invalid {element}: {why}")]
    Invalid {
        /// The element path.
        element: String,
        /// Why.
        why: String,
    },
    /// The eUICC is being handed over to or from another SM-SR (SGP.02 §3.8): other operations on it are
    /// refused until the change ends (8.1.1 / 3.8 [P]).
    #[error("the eUICC {eid} is locked by an SM-SR change in progress")]
    EuiccLocked {
        /// The EID.
        eid: String,
    },
    /// An SM-SR change step refused (SGP.02 §3.8, §5.5, §5.7): no matching ES4.PrepareSMSRChange, an unknown
    /// SM-SR, an eUICC already here, … with the codes of the case.
    #[error("{message}")]
    SmsrChangeRefused {
        /// Subject code.
        subject: Subject,
        /// Reason code.
        reason: Reason,
        /// What was refused and why.
        message: String,
    },
    /// The `wsa:ReplyTo` is not an address this SM-SR may call back for the caller (1.1 / 1.2), refused before
    /// the function runs.
    #[error(transparent)]
    ReplyToRefused(#[from] es_runtime::destination::DestinationError),
    /// The database failed (1.2 / 4.2). The message is generic; details go to the log.
    #[error("the SM-SR could not execute the function (storage)")]
    Store(#[source] StoreError),
    /// Another internal failure (1.2 / 4.2). The message is generic; details go to the log.
    #[error("the SM-SR could not execute the function")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl SmsrError {
    /// The SGP.02 status of this error (the one place errors become status codes).
    pub fn status_code_data(&self) -> StatusCodeData {
        let (subject, reason) = match self {
            SmsrError::UnknownEid { .. } => (Subject::EID, Reason::UNKNOWN),
            SmsrError::EidAlreadyRegistered { .. } => (Subject::EID, Reason::ALREADY_IN_USE),
            SmsrError::EisNotAllowed { .. } => (Subject::EIS, Reason::NOT_ALLOWED),
            SmsrError::BadEisSignature { .. } => (Subject::EIS, Reason::VERIFICATION_FAILED),
            SmsrError::Certificate {
                subject, reason, ..
            } => {
                let subject = subject.parse().unwrap_or(Subject::EUICC);
                let reason = reason.parse().unwrap_or(Reason::VERIFICATION_FAILED);
                (subject, reason)
            }
            SmsrError::UnknownIccid { .. } => (Subject::PROFILE_ICCID, Reason::UNKNOWN),
            SmsrError::IccidOnOtherEuicc { .. } => {
                (Subject::PROFILE_ICCID, Reason::INVALID_DESTINATION)
            }
            SmsrError::IccidInUse { .. } => (Subject::PROFILE_ICCID, Reason::ALREADY_IN_USE),
            SmsrError::InsufficientMemory { .. } | SmsrError::NoIsdpAidLeft { .. } => {
                (Subject::EUICC, Reason::REFUSED)
            }
            SmsrError::UnknownIsdp { .. } => (Subject::ISD_P, Reason::UNKNOWN),
            SmsrError::IsdpNotAllowed { .. } => (Subject::ISD_P, Reason::NOT_ALLOWED),
            SmsrError::ProfileRefused { .. } => (Subject::PROFILE_ICCID, Reason::REFUSED),
            SmsrError::Pol2Refused { .. } => (Subject::POL2, Reason::REFUSED),
            SmsrError::NoEs5Transport { .. } => (Subject::FUNCTION_PROVIDER, Reason::REFUSED),
            SmsrError::Invalid { .. } => (Subject::FUNCTION, Reason::INVALID),
            SmsrError::EuiccLocked { .. } => (Subject::EID, Reason::REFUSED),
            SmsrError::SmsrChangeRefused {
                subject, reason, ..
            } => (subject.clone(), reason.clone()),
            SmsrError::ReplyToRefused(_) => (Subject::FUNCTION_REQUESTER, Reason::NOT_ALLOWED),
            SmsrError::Store(_) | SmsrError::Internal(_) => {
                (Subject::FUNCTION_PROVIDER, Reason::EXECUTION_ERROR)
            }
        };
        StatusCodeData::new(subject, reason, Some(self.to_string()))
    }

    /// The FAILED execution status carrying [`SmsrError::status_code_data`].
    pub fn execution_status(&self) -> FunctionExecutionStatus {
        FunctionExecutionStatus::failed(self.status_code_data())
    }

    /// An internal error from any source.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        SmsrError::Internal(Box::new(e))
    }
}

impl From<StoreError> for SmsrError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AlreadyExists {
                kind: RecordKind::Eis,
                key,
            } => SmsrError::EidAlreadyRegistered { eid: key },
            e => SmsrError::Store(e),
        }
    }
}

impl TxError for SmsrError {
    fn is_retryable(&self) -> bool {
        matches!(self, SmsrError::Store(e) if e.is_retryable())
    }
}

impl From<certs::chain::ChainError> for SmsrError {
    fn from(e: certs::chain::ChainError) -> Self {
        let s = e.sgp02_status();
        SmsrError::Certificate {
            subject: s.subject_code.to_string(),
            reason: s.reason_code.to_string(),
            message: s.message,
        }
    }
}
