//! Function execution status and status codes (SGP.02 §5.1.6: `ExecutionStatusType`, `StatusCodeDataType` of
//! `euicc.common.types.xsd`; the general subject and reason codes of §5.1.6.4 and the function-specific ones of
//! the §5.x function tables, as far as public material shows them — see the notes §2.7).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::messages::codec::{SimpleType, xml_type};
use crate::types::{InvalidValue, Oid};

/// The outcome of a function (`StatusType`, SGP.02 §5.1.6.2); the wire uses the XSD enumeration spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `EXECUTED_SUCCESS`: executed as requested.
    ExecutedSuccess,
    /// `EXECUTED_WITHWARNING`: executed, with a warning in the status code data.
    ExecutedWithWarning,
    /// `FAILED`: not executed; the status code data says why.
    Failed,
    /// `EXPIRED`: the validity period ended before execution completed.
    Expired,
}

impl Status {
    /// The wire spelling (`euicc.common.types.xsd` `StatusType`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::ExecutedSuccess => "EXECUTED_SUCCESS",
            Status::ExecutedWithWarning => "EXECUTED_WITHWARNING",
            Status::Failed => "FAILED",
            Status::Expired => "EXPIRED",
        }
    }
}

impl FromStr for Status {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
            "EXECUTED_SUCCESS" => Ok(Status::ExecutedSuccess),
            "EXECUTED_WITHWARNING" => Ok(Status::ExecutedWithWarning),
            "FAILED" => Ok(Status::Failed),
            "EXPIRED" => Ok(Status::Expired),
            _ => Err(InvalidValue::new(
                "StatusType",
                "expected EXECUTED_SUCCESS, EXECUTED_WITHWARNING, FAILED or EXPIRED",
            )),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl SimpleType for Status {
    const XSD_TYPE: &'static str = "rps:StatusType";
    fn schema_definition() -> Option<String> {
        Some(
            "<xs:simpleType name=\"StatusType\"><xs:restriction base=\"xs:string\">\
             <xs:enumeration value=\"EXECUTED_SUCCESS\"/><xs:enumeration value=\"EXECUTED_WITHWARNING\"/>\
             <xs:enumeration value=\"FAILED\"/><xs:enumeration value=\"EXPIRED\"/>\
             </xs:restriction></xs:simpleType>"
                .to_string(),
        )
    }
    fn parse_text(s: &str) -> Result<Self, InvalidValue> {
        s.parse()
    }
    fn to_text(&self) -> String {
        self.as_str().to_string()
    }
}

macro_rules! code_type {
    (
        $(#[$m:meta])* $name:ident {
            $( $(#[$cm:meta])* $konst:ident = $code:literal, $label:literal; )+
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(Cow<'static, str>);

        impl $name {
            $( $(#[$cm])* pub const $konst: $name = $name(Cow::Borrowed($code)); )+

            /// Every code this crate names, with its label.
            pub const KNOWN: &'static [(&'static str, &'static str)] = &[$( ($code, $label) ),+];

            /// The dotted code, e.g. `8.1.1`.
            pub fn code(&self) -> &str {
                &self.0
            }

            /// The spec's label for a known code, e.g. `EID`.
            pub fn label(&self) -> Option<&'static str> {
                Self::KNOWN.iter().find(|(c, _)| *c == self.code()).map(|(_, l)| *l)
            }
        }

        impl FromStr for $name {
            type Err = InvalidValue;
            /// Any code matching `ObjectIdentifierType`, known to this crate or not.
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let oid: Oid = s.parse()?;
                Ok($name(Cow::Owned(oid.as_str().to_string())))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.label() {
                    Some(l) => write!(f, "{}({} {})", stringify!($name), self.0, l),
                    None => write!(f, "{}({})", stringify!($name), self.0),
                }
            }
        }

        impl SimpleType for $name {
            const XSD_TYPE: &'static str = "rps:ObjectIdentifierType";
            fn schema_definition() -> Option<String> {
                <Oid as SimpleType>::schema_definition()
            }
            fn parse_text(s: &str) -> Result<Self, InvalidValue> {
                s.parse()
            }
            fn to_text(&self) -> String {
                self.0.to_string()
            }
        }
    };
}

code_type!(
    /// The system element an exception concerns (`StatusCodeData/Subject`, SGP.02 §5.1.6.4 and the function
    /// tables of §5.3–§5.7).
    Subject {
        /// 1.1 Function requester: the entity calling the function (SGP.02 §5.1.6.4).
        FUNCTION_REQUESTER = "1.1", "Function requester";
        /// 1.2 Function provider: the entity executing the function (SGP.02 §5.1.6.4).
        FUNCTION_PROVIDER = "1.2", "Function provider";
        /// 1.2.1 Validity period of the request (SGP.02 §5.1.6.4).
        VALIDITY_PERIOD = "1.2.1", "Validity Period";
        /// 1.6 Function: the function call itself, e.g. its input parameters (SGP.02 §5.1.6.4).
        FUNCTION = "1.6", "Function";
        /// 8.1 eUICC (SGP.02 §5.x function tables).
        EUICC = "8.1", "eUICC";
        /// 8.1.1 EID: the eUICC identified by an EID (SGP.02 §5.x function tables).
        EID = "8.1.1", "EID";
        /// 8.2 Profile (SGP.02 §5.x function tables).
        PROFILE = "8.2", "Profile";
        /// 8.2.1 Profile ICCID (SGP.02 §5.x function tables).
        PROFILE_ICCID = "8.2.1", "Profile ICCID";
        /// 8.2.2 POL1 of a profile (SGP.02 §5.x function tables).
        POL1 = "8.2.2", "POL1";
        /// 8.2.3 POL2 of a profile (SGP.02 §5.x function tables).
        POL2 = "8.2.3", "POL2";
        /// 8.2.5 Profile Type (SGP.02 §5.x function tables).
        PROFILE_TYPE = "8.2.5", "Profile Type";
        /// 8.2.6 Subscription Address (SGP.02 §5.x function tables).
        SUBSCRIPTION_ADDRESS = "8.2.6", "Subscription Address";
        /// 8.3.1 ISD-P (used by Njiwa for an unknown ISD-P; grade C in the notes).
        ISD_P = "8.3.1", "ISD-P";
        /// 8.4 ISD-R (SGP.02 §5.x function tables, e.g. key set creation errors).
        ISD_R = "8.4", "ISD-R";
        /// 8.5.2 ECASD certificate / eUICC certificate authority certification (SGP.02 §5.x function tables).
        ECASD_CERTIFICATE = "8.5.2", "ECASD Certificate";
        /// 8.5.3 SM-SR certificate (SGP.02 §5.x function tables).
        SM_SR_CERTIFICATE = "8.5.3", "SM-SR Certificate";
        /// 8.6 EIS (SGP.02 §5.x function tables).
        EIS = "8.6", "EIS";
        /// 8.7 SM-SR (SGP.02 §5.x function tables, e.g. an unknown target SM-SR).
        SM_SR = "8.7", "SM-SR";
    }
);

code_type!(
    /// Why an exception occurred (`StatusCodeData/Reason`, SGP.02 §5.1.6.4).
    Reason {
        /// 1.1 Unknown: requester identification or authentication failed (SGP.02 §5.1.6.4).
        UNKNOWN_REQUESTER = "1.1", "Unknown (Identification or Authentication)";
        /// 1.2 Not allowed: the requester is not authorised (SGP.02 §5.1.6.4).
        NOT_ALLOWED = "1.2", "Not Allowed (Authorisation)";
        /// 2.1 Invalid: an input parameter is invalid; the message names it (SGP.02 §5.1.6.4).
        INVALID = "2.1", "Invalid";
        /// 2.2 Mandatory element missing (SGP.02 §5.1.6.4).
        MANDATORY_ELEMENT_MISSING = "2.2", "Mandatory Element Missing";
        /// 2.3 Conditional element missing (SGP.02 §5.1.6.4).
        CONDITIONAL_ELEMENT_MISSING = "2.3", "Conditional Element Missing";
        /// 3.3 Already in use, e.g. an EID already registered. [P] The number follows the §5.1.6.4 numbering
        /// that SGP.22 carries over; the SGP.02 table itself was not available.
        ALREADY_IN_USE = "3.3", "Already in Use";
        /// 3.10 Invalid destination: the element is known but belongs elsewhere, e.g. an ICCID installed on
        /// another eUICC than the one named (SGP.02 §5.x function tables, notes §2.7). [P] The spec's number
        /// for this reason was not available; 3.10 is the SGP.22 "Invalid Association" number of the same
        /// §5.1.6.4 table.
        INVALID_DESTINATION = "3.10", "Invalid Destination";
        /// 3.8 Refused (SGP.02 §5.1.6.4, e.g. a validity period not accepted).
        REFUSED = "3.8", "Refused";
        /// 3.9 Unknown: the identified element is unknown (SGP.02 §5.x, e.g. 8.1.1/3.9 unknown EID).
        UNKNOWN = "3.9", "Unknown";
        /// 6.1 Verification failed, e.g. a signature or certificate that does not verify. [P] SGP.22 numbering
        /// of the §5.1.6.4 table.
        VERIFICATION_FAILED = "6.1", "Verification Failed";
        /// 6.3 Expired, e.g. a certificate past its validity. [P] SGP.22 numbering of the §5.1.6.4 table.
        EXPIRED = "6.3", "Expired";
        /// 4.2 Execution error: internal error, only when nothing more accurate applies (SGP.02 §5.1.6.4).
        EXECUTION_ERROR = "4.2", "Execution Error";
        /// 4.4 Busy (SGP.02 §5.1.6.4).
        BUSY = "4.4", "Busy";
        /// 5.3 Time to live expired: the validity period ended (SGP.02 §5.1.6.4).
        TIME_TO_LIVE_EXPIRED = "5.3", "Time To Live Expired";
        /// 5.4 Delivered with no response (SGP.02 §5.1.6.4).
        DELIVERED_WITH_NO_RESPONSE = "5.4", "Delivered With No Response";
    }
);

xml_type! {
    /// Details of a warning or failure, `StatusCodeDataType` (SGP.02 §5.1.6.3); present only if the status is
    /// not EXECUTED_SUCCESS.
    pub struct StatusCodeData : "StatusCodeDataType" {
        /// The system element concerned.
        pub subject: Subject = one "Subject",
        /// The reason.
        pub reason: Reason = one "Reason",
        /// Identifier of the element concerned (e.g. an AID or ICCID), implementation dependent.
        pub subject_identifier: Option<String> = opt "SubjectIdentifier",
        /// Human-readable message.
        pub message: Option<String> = opt "Message",
    }
}

xml_type! {
    /// The result of a function execution, `ExecutionStatusType` (SGP.02 §5.1.6.1).
    pub struct FunctionExecutionStatus : "ExecutionStatusType" {
        /// The outcome.
        pub status: Status = one "Status",
        /// Details, for a status other than EXECUTED_SUCCESS.
        pub status_code_data: Option<StatusCodeData> = opt "StatusCodeData",
    }
}

impl FunctionExecutionStatus {
    /// `EXECUTED_SUCCESS` without status code data.
    pub fn success() -> Self {
        FunctionExecutionStatus {
            status: Status::ExecutedSuccess,
            status_code_data: None,
        }
    }

    /// `FAILED` with the given status code data.
    pub fn failed(data: StatusCodeData) -> Self {
        FunctionExecutionStatus {
            status: Status::Failed,
            status_code_data: Some(data),
        }
    }

    /// `EXPIRED` with subject 1.6 Function and reason 5.3 Time to live expired (SGP.02 §5.1.6.4).
    pub fn expired(message: Option<String>) -> Self {
        FunctionExecutionStatus {
            status: Status::Expired,
            status_code_data: Some(StatusCodeData::new(
                Subject::FUNCTION,
                Reason::TIME_TO_LIVE_EXPIRED,
                message,
            )),
        }
    }
}

impl StatusCodeData {
    /// Status code data without a subject identifier.
    pub fn new(subject: Subject, reason: Reason, message: Option<String>) -> Self {
        StatusCodeData {
            subject,
            reason,
            subject_identifier: None,
            message,
        }
    }
}
