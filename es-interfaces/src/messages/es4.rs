//! ES4: MNO → SM-SR, with SM-SR → MNO callbacks and notifications (SGP.02 §5.5; `euicc.request.ES4.xsd`).

use crate::messages::codec::{body_enum, failed_responses, message_enum, xml_type};
use crate::messages::common::{BaseRequest, BaseResponse, Pol2, SubscriptionAddress};
use crate::messages::eis::Eis;
use crate::types::{Eid, HexBinary, Iccid, Oid, XsDateTime};

xml_type! {
    /// ES4.GetEIS request: the MNO asks the SM-SR for an EIS (SGP.02 §5.5.1).
    pub struct GetEisRequest : "ES4-GetEISRequestType", element "ES4-GetEISRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
    }
}

xml_type! {
    /// ES4.GetEIS response (SGP.02 §5.5.1).
    pub struct GetEisResponse : "ES4-GetEISResponseType", element "ES4-GetEISResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// The EIS (the caller's view).
        pub eis: Option<Eis> = opt "Eis",
    }
}

xml_type! {
    /// ES4.AuditEIS request (SGP.02 §5.5.4).
    pub struct AuditEisRequest : "ES4-AuditEISRequestType", element "ES4-AuditEISRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// Profiles to audit (none: all the caller's).
        pub iccids: Vec<Iccid> = many(0, unbounded) "Iccid",
    }
}

xml_type! {
    /// ES4.AuditEIS response (SGP.02 §5.5.4).
    pub struct AuditEisResponse : "ES4-AuditEISResponseType", element "ES4-AuditEISResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// The EIS (the caller's view).
        pub eis: Option<Eis> = opt "Eis",
    }
}

xml_type! {
    /// ES4.UpdatePolicyRules request (SGP.02 §5.5).
    pub struct UpdatePolicyRulesRequest : "ES4-UpdatePolicyRulesRequestType", element "ES4-UpdatePolicyRulesRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The new POL2.
        pub pol2: Pol2 = one "pol2",
    }
}

xml_type! {
    /// ES4.UpdatePolicyRules response (SGP.02 §5.5).
    pub struct UpdatePolicyRulesResponse : "ES4-UpdatePolicyRulesResponseType", element "ES4-UpdatePolicyRulesResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES4.UpdateSubscriptionAddress request (SGP.02 §5.5).
    pub struct UpdateSubscriptionAddressRequest : "ES4-UpdateSubscriptionAddressRequestType", element "ES4-UpdateSubscriptionAddressRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The new subscription address.
        pub new_subscription_address: SubscriptionAddress = one "newSubscriptionAddress",
    }
}

xml_type! {
    /// ES4.UpdateSubscriptionAddress response (SGP.02 §5.5).
    pub struct UpdateSubscriptionAddressResponse : "ES4-UpdateSubscriptionAddressResponseType", element "ES4-UpdateSubscriptionAddressResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES4.EnableProfile request (SGP.02 §5.5.5).
    pub struct EnableProfileRequest : "ES4-EnableProfileRequestType", element "ES4-EnableProfileRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
    }
}

xml_type! {
    /// ES4.EnableProfile response (SGP.02 §5.5.5).
    pub struct EnableProfileResponse : "ES4-EnableProfileResponseType", element "ES4-EnableProfileResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// Detailed error returned by the eUICC when execution failed on it (ES8 response data).
        pub euicc_response_data: Option<HexBinary> = opt "EuiccResponseData",
    }
}

xml_type! {
    /// ES4.DisableProfile request (SGP.02 §5.5).
    pub struct DisableProfileRequest : "ES4-DisableProfileRequestType", element "ES4-DisableProfileRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
    }
}

xml_type! {
    /// ES4.DisableProfile response (SGP.02 §5.5).
    pub struct DisableProfileResponse : "ES4-DisableProfileResponseType", element "ES4-DisableProfileResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// Detailed error returned by the eUICC when execution failed on it (ES8 response data).
        pub euicc_response_data: Option<HexBinary> = opt "EuiccResponseData",
    }
}

xml_type! {
    /// ES4.DeleteProfile request (SGP.02 §5.5).
    pub struct DeleteProfileRequest : "ES4-DeleteProfileRequestType", element "ES4-DeleteProfileRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
    }
}

xml_type! {
    /// ES4.DeleteProfile response (SGP.02 §5.5).
    pub struct DeleteProfileResponse : "ES4-DeleteProfileResponseType", element "ES4-DeleteProfileResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// Detailed error returned by the eUICC when execution failed on it (ES8 response data).
        pub euicc_response_data: Option<HexBinary> = opt "EuiccResponseData",
    }
}

xml_type! {
    /// ES4.PrepareSMSRChange request, sent to the new SM-SR (SGP.02 §5.5, §3.8).
    pub struct PrepareSmsrChangeRequest : "ES4-PrepareSMSRChangeRequestType", element "ES4-PrepareSMSRChangeRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The SM-SR currently in charge.
        pub current_smsr_id: Oid = one "CurrentSMSRid",
    }
}

xml_type! {
    /// ES4.PrepareSMSRChange response (SGP.02 §5.5).
    pub struct PrepareSmsrChangeResponse : "ES4-PrepareSMSRChangeResponseType", element "ES4-PrepareSMSRChangeResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES4.SMSRChange request, sent to the current SM-SR (SGP.02 §5.5, §3.8).
    pub struct SmsrChangeRequest : "ES4-SMSRChangeRequestType", element "ES4-SMSRChangeRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The SM-SR to hand over to.
        pub target_smsr_id: Oid = one "Target-Smsr-id",
    }
}

xml_type! {
    /// ES4.SMSRChange response (SGP.02 §5.5).
    pub struct SmsrChangeResponse : "ES4-SMSRChangeResponseType", element "ES4-SMSRChangeResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES4.HandleProfileDisabledNotification, SM-SR → MNO (SGP.02 §5.5.10).
    pub struct HandleProfileDisabledNotification : "ES4-HandleProfileDisabledNotificationType", element "ES4-HandleProfileDisabledNotification" {
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

xml_type! {
    /// ES4.HandleProfileEnabledNotification, SM-SR → MNO (SGP.02 §5.5.11).
    pub struct HandleProfileEnabledNotification : "ES4-HandleProfileEnabledNotificationType", element "ES4-HandleProfileEnabledNotification" {
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

xml_type! {
    /// ES4.HandleSMSRChangeNotification, SM-SR → MNO (SGP.02 §5.5).
    pub struct HandleSmsrChangeNotification : "ES4-HandleSMSRChangeNotificationType", element "ES4-HandleSMSRChangeNotification" {
        /// The EIS after the change (the MNO's view).
        pub eis: Eis = one "Eis",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

xml_type! {
    /// ES4.HandleProfileDeletedNotification, SM-SR → MNO (SGP.02 §5.5).
    pub struct HandleProfileDeletedNotification : "ES4-HandleProfileDeletedNotificationType", element "ES4-HandleProfileDeletedNotification" {
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

body_enum! {
    /// ES4 requests, MNO → SM-SR (SGP.02 §5.5).
    pub enum Request {
        /// ES4.GetEis.
        GetEis(GetEisRequest),
        /// ES4.AuditEis.
        AuditEis(AuditEisRequest),
        /// ES4.UpdatePolicyRules.
        UpdatePolicyRules(UpdatePolicyRulesRequest),
        /// ES4.UpdateSubscriptionAddress.
        UpdateSubscriptionAddress(UpdateSubscriptionAddressRequest),
        /// ES4.EnableProfile.
        EnableProfile(EnableProfileRequest),
        /// ES4.DisableProfile.
        DisableProfile(DisableProfileRequest),
        /// ES4.DeleteProfile.
        DeleteProfile(DeleteProfileRequest),
        /// ES4.PrepareSmsrChange.
        PrepareSmsrChange(PrepareSmsrChangeRequest),
        /// ES4.SmsrChange.
        SmsrChange(SmsrChangeRequest),
    }
}

body_enum! {
    /// ES4 responses, SM-SR → MNO, synchronous or as callbacks (SGP.02 §5.5).
    pub enum Response {
        /// ES4.GetEis.
        GetEis(GetEisResponse),
        /// ES4.AuditEis.
        AuditEis(AuditEisResponse),
        /// ES4.UpdatePolicyRules.
        UpdatePolicyRules(UpdatePolicyRulesResponse),
        /// ES4.UpdateSubscriptionAddress.
        UpdateSubscriptionAddress(UpdateSubscriptionAddressResponse),
        /// ES4.EnableProfile.
        EnableProfile(EnableProfileResponse),
        /// ES4.DisableProfile.
        DisableProfile(DisableProfileResponse),
        /// ES4.DeleteProfile.
        DeleteProfile(DeleteProfileResponse),
        /// ES4.PrepareSmsrChange.
        PrepareSmsrChange(PrepareSmsrChangeResponse),
        /// ES4.SmsrChange.
        SmsrChange(SmsrChangeResponse),
    }
}

body_enum! {
    /// ES4 notifications, SM-SR → MNO (SGP.02 §5.5).
    pub enum Notification {
        /// ES4.HandleProfileDisabledNotification.
        ProfileDisabled(HandleProfileDisabledNotification),
        /// ES4.HandleProfileEnabledNotification.
        ProfileEnabled(HandleProfileEnabledNotification),
        /// ES4.HandleSMSRChangeNotification.
        SmsrChange(HandleSmsrChangeNotification),
        /// ES4.HandleProfileDeletedNotification.
        ProfileDeleted(HandleProfileDeletedNotification),
    }
}

message_enum! {
    /// Any ES4 body element (SGP.02 §5.5).
    pub enum Message {
        /// A request.
        Request(Request),
        /// A response.
        Response(Response),
        /// A notification.
        Notification(Notification),
    }
}

failed_responses! {
    Response {
        GetEisRequest => GetEis(GetEisResponse { eis: None }),
        AuditEisRequest => AuditEis(AuditEisResponse { eis: None }),
        UpdatePolicyRulesRequest => UpdatePolicyRules(UpdatePolicyRulesResponse {  }),
        UpdateSubscriptionAddressRequest => UpdateSubscriptionAddress(UpdateSubscriptionAddressResponse {  }),
        EnableProfileRequest => EnableProfile(EnableProfileResponse { euicc_response_data: None }),
        DisableProfileRequest => DisableProfile(DisableProfileResponse { euicc_response_data: None }),
        DeleteProfileRequest => DeleteProfile(DeleteProfileResponse { euicc_response_data: None }),
        PrepareSmsrChangeRequest => PrepareSmsrChange(PrepareSmsrChangeResponse {  }),
        SmsrChangeRequest => SmsrChange(SmsrChangeResponse {  }),
    }
}
