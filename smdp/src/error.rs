//! The SM-DP's function errors and their one mapping to SGP.02 status codes (SGP.02 §5.1.6.4, §5.3).

use eis_store::{StoreError, TxError};
use es_interfaces::status::{FunctionExecutionStatus, Reason, StatusCodeData, Subject};

/// Why an SM-DP function did not execute. Messages name the element concerned and never carry secrets.
#[derive(Debug, thiserror::Error)]
pub enum SmdpError {
    /// A function this SM-DP does not provide (1.2 / 3.8).
    #[error("{function} is not provided by this SM-DP")]
    NotSupported {
        /// The function, e.g. `ES2-DownloadProfile`.
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
    /// The SM-SR answered the relayed ES3 function with this status, which the ES2 answer carries on.
    #[error("the SM-SR refused the relayed function: {message}")]
    Relayed {
        /// The SM-SR's status.
        status: Box<FunctionExecutionStatus>,
        /// Its message, for logs.
        message: String,
    },
    /// ES2.DownloadProfile was refused before anything was started, with this status (SGP.02 §5.3.2: the
    /// stock record asked for cannot be reserved).
    #[error("download refused: {message}")]
    DownloadRefused {
        /// The status answered.
        status: Box<FunctionExecutionStatus>,
        /// Its message, for logs.
        message: String,
    },
    /// The eUICC does not exist, or carries no profile of the calling MNO among those this SM-DP manages
    /// (8.1.1 / 3.9; the same words either way, docs/architecture.md §8).
    #[error("the eUICC {eid} is unknown")]
    UnknownEid {
        /// The EID.
        eid: String,
    },
    /// No profile of the calling MNO among those this SM-DP manages on the eUICC has this ICCID: none exists,
    /// or it is another owner's (8.2.1 / 3.9; the same words either way).
    #[error("the profile {iccid} is unknown")]
    UnknownIccid {
        /// The ICCID.
        iccid: String,
    },
    /// The SM-SR named by the request is not registered, or has no ES3 endpoint (8.7 / 3.9).
    #[error("the SM-SR {smsr} is unknown to this SM-DP or has no ES3 endpoint")]
    UnknownSmsr {
        /// Its OID.
        smsr: String,
    },
    /// The SM-SR could not be reached or answered something that is not an ES3 response (1.2 / 4.2).
    #[error("ES3 call to the SM-SR failed: {0}")]
    Es3Call(String),
    /// The `wsa:ReplyTo` is not an address this SM-DP may call back for the caller (1.1 / 1.2), refused before
    /// anything is recorded or relayed.
    #[error(transparent)]
    ReplyToRefused(#[from] es_runtime::destination::DestinationError),
    /// The database failed (1.2 / 4.2). The message is generic; details go to the log.
    #[error("the SM-DP could not execute the function (storage)")]
    Store(#[source] StoreError),
    /// Another internal failure (1.2 / 4.2).
    #[error("the SM-DP could not execute the function")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl SmdpError {
    /// The SGP.02 status of this error.
    pub fn status_code_data(&self) -> StatusCodeData {
        if let SmdpError::Relayed { status, .. } | SmdpError::DownloadRefused { status, .. } = self
            && let Some(d) = &status.status_code_data
        {
            return d.clone();
        }
        let (subject, reason) = match self {
            SmdpError::Relayed { .. }
            | SmdpError::DownloadRefused { .. }
            | SmdpError::Es3Call(_) => (Subject::FUNCTION_PROVIDER, Reason::EXECUTION_ERROR),
            SmdpError::UnknownEid { .. } => (Subject::EID, Reason::UNKNOWN),
            SmdpError::UnknownIccid { .. } => (Subject::PROFILE_ICCID, Reason::UNKNOWN),
            SmdpError::UnknownSmsr { .. } => (Subject::SM_SR, Reason::UNKNOWN),
            SmdpError::NotSupported { .. } => (Subject::FUNCTION_PROVIDER, Reason::REFUSED),
            SmdpError::ReplyToRefused(_) => (Subject::FUNCTION_REQUESTER, Reason::NOT_ALLOWED),
            SmdpError::Invalid { .. } => (Subject::FUNCTION, Reason::INVALID),
            SmdpError::Store(_) | SmdpError::Internal(_) => {
                (Subject::FUNCTION_PROVIDER, Reason::EXECUTION_ERROR)
            }
        };
        StatusCodeData::new(subject, reason, Some(self.to_string()))
    }

    /// The FAILED execution status carrying [`SmdpError::status_code_data`].
    pub fn execution_status(&self) -> FunctionExecutionStatus {
        if let SmdpError::Relayed { status, .. } | SmdpError::DownloadRefused { status, .. } = self
        {
            return (**status).clone();
        }
        FunctionExecutionStatus::failed(self.status_code_data())
    }

    /// An internal error from any source.
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        SmdpError::Internal(Box::new(e))
    }
}

impl From<StoreError> for SmdpError {
    fn from(e: StoreError) -> Self {
        SmdpError::Store(e)
    }
}

impl TxError for SmdpError {
    fn is_retryable(&self) -> bool {
        matches!(self, SmdpError::Store(e) if e.is_retryable())
    }
}
