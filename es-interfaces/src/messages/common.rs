//! Types shared by all interfaces (`euicc.common.request.xsd` and `euicc.common.types.xsd`; SGP.02 §5.1).

use crate::messages::codec::xml_type;
use crate::status::FunctionExecutionStatus;
use crate::types::{
    Imsi, Msisdn, Pol2RuleAction, Pol2RuleQualification, Pol2RuleSubject, PositiveInteger,
    XsDateTime,
};

xml_type! {
    /// The fields every request starts with, `BaseRequestType` (SGP.02 §5.1.2).
    pub struct BaseRequest : "BaseRequestType" {
        /// Identifies the function call; lets the provider recognise a retried call.
        pub function_call_identifier: String = one "FunctionCallIdentifier",
        /// Seconds during which the request is valid, counted from its reception.
        pub validity_period: Option<PositiveInteger> = opt "ValidityPeriod",
    }
}

impl BaseRequest {
    /// A request header with this identifier and no validity period.
    pub fn new(function_call_identifier: impl Into<String>) -> Self {
        BaseRequest {
            function_call_identifier: function_call_identifier.into(),
            validity_period: None,
        }
    }
}

xml_type! {
    /// The fields every response starts with, `BaseResponseType` (SGP.02 §5.1.3).
    pub struct BaseResponse : "BaseResponseType" {
        /// When the real processing started (not the reception time).
        pub processing_start: Option<XsDateTime> = opt "ProcessingStart",
        /// When processing ended.
        pub processing_end: Option<XsDateTime> = opt "ProcessingEnd",
        /// The validity period the provider accepts, when the requested one was refused.
        pub acceptable_validity_period: Option<PositiveInteger> = opt "AcceptableValidityPeriod",
        /// The outcome.
        pub function_execution_status: FunctionExecutionStatus = one "FunctionExecutionStatus",
    }
}

impl BaseResponse {
    /// A response header carrying only the status.
    pub fn with_status(function_execution_status: FunctionExecutionStatus) -> Self {
        BaseResponse {
            processing_start: None,
            processing_end: None,
            acceptable_validity_period: None,
            function_execution_status,
        }
    }
}

xml_type! {
    /// Subscription address of a profile, `SubscriptionAddressType` (SGP.02 §5.1.1.3.6).
    pub struct SubscriptionAddress : "SubscriptionAddressType" {
        /// IMSI.
        pub imsi: Option<Imsi> = opt "Imsi",
        /// MSISDN.
        pub msisdn: Option<Msisdn> = opt "Msisdn",
    }
}

xml_type! {
    /// One POL2 rule, `POL2RuleType` (SGP.02 §2.4.5, §5.1.1.3.7).
    pub struct Pol2Rule : "POL2RuleType" {
        /// What the rule applies to (PROFILE).
        pub subject: Pol2RuleSubject = one "Subject",
        /// The action it governs.
        pub action: Pol2RuleAction = one "Action",
        /// Not-Allowed or Auto-Delete.
        pub qualification: Pol2RuleQualification = one "Qualification",
    }
}

xml_type! {
    /// The POL2 policy rules of a profile, `POL2Type` (SGP.02 §2.4.5, §5.1.1.3.7).
    pub struct Pol2 : "POL2Type" {
        /// The rules.
        pub rules: Vec<Pol2Rule> = many(0, unbounded) "Rule",
    }
}
