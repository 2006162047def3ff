//! ES3: SM-DP → SM-SR, with SM-SR → SM-DP callbacks and notifications (SGP.02 §5.4; `euicc.request.ES3.xsd`).

use crate::messages::codec::{body_enum, failed_responses, message_enum, xml_type};
use crate::messages::common::{BaseRequest, BaseResponse, Pol2, SubscriptionAddress};
use crate::messages::eis::Eis;
use crate::types::{Aid, Eid, HexBinary, Iccid, Oid, XsDateTime};

xml_type! {
    /// ES3.GetEIS request: the SM-DP asks the SM-SR for an EIS (SGP.02 §5.4).
    pub struct GetEisRequest : "ES3-GetEISRequestType", element "ES3-GetEISRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
    }
}

xml_type! {
    /// ES3.GetEIS response (SGP.02 §5.4).
    pub struct GetEisResponse : "ES3-GetEISResponseType", element "ES3-GetEISResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// The EIS (the caller's view).
        pub eis: Option<Eis> = opt "Eis",
    }
}

xml_type! {
    /// ES3.AuditEIS request (SGP.02 §5.4).
    pub struct AuditEisRequest : "ES3-AuditEISRequestType", element "ES3-AuditEISRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// Profiles to audit (none: all the caller's).
        pub iccids: Vec<Iccid> = many(0, unbounded) "Iccid",
    }
}

xml_type! {
    /// ES3.AuditEIS response (SGP.02 §5.4).
    pub struct AuditEisResponse : "ES3-AuditEISResponseType", element "ES3-AuditEISResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// The EIS (the caller's view).
        pub eis: Option<Eis> = opt "Eis",
    }
}

xml_type! {
    /// ES3.CreateISDP request (SGP.02 §5.4, §3.1.1).
    pub struct CreateIsdpRequest : "ES3-CreateISDPRequestType", element "ES3-CreateISDPRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile to be installed in the new ISD-P.
        pub iccid: Iccid = one "Iccid",
        /// The MNO owning the profile.
        pub mno_id: Oid = one "Mno-id",
        /// Memory to reserve for the ISD-P (bytes).
        pub required_memory: i64 = one "RequiredMemory",
        /// More commands follow in the same session.
        pub more_to_do: Option<bool> = opt "MoreToDo",
    }
}

xml_type! {
    /// ES3.CreateISDP response (SGP.02 §5.4, §3.1.1).
    pub struct CreateIsdpResponse : "ES3-CreateISDPResponseType", element "ES3-CreateISDPResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// AID of the created ISD-P.
        pub isd_p_aid: Aid = one "Isd-p-aid",
        /// Detailed error returned by the eUICC when execution failed on it (ES8 response data).
        pub euicc_response_data: Option<HexBinary> = opt "EuiccResponseData",
    }
}

xml_type! {
    /// ES3.SendData request: data for a security domain on the eUICC, e.g. ES8 commands (SGP.02 §5.4).
    pub struct SendDataRequest : "ES3-SendDataRequestType", element "ES3-SendDataRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The target security domain (ISD-P or ISD-R).
        pub sd_aid: Aid = one "Sd-aid",
        /// The command data.
        pub data: HexBinary = one "Data",
        /// More commands follow in the same session.
        pub more_to_do: Option<bool> = opt "MoreToDo",
    }
}

xml_type! {
    /// ES3.SendData response (SGP.02 §5.4).
    pub struct SendDataResponse : "ES3-SendDataResponseType", element "ES3-SendDataResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// Detailed error returned by the eUICC when execution failed on it (ES8 response data).
        pub euicc_response_data: Option<HexBinary> = opt "EuiccResponseData",
    }
}

xml_type! {
    /// ES3.ProfileDownloadCompleted request (SGP.02 §5.4, §3.1.3).
    pub struct ProfileDownloadCompletedRequest : "ES3-ProfileDownloadCompletedRequestType", element "ES3-ProfileDownloadCompletedRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The profile type.
        pub profile_type: Option<String> = opt "ProfileType",
        /// The subscription address.
        pub subscription_address: Option<SubscriptionAddress> = opt "SubscriptionAddress",
        /// The POL2 rules.
        pub pol2: Option<Pol2> = opt "pol2",
    }
}

xml_type! {
    /// ES3.ProfileDownloadCompleted response (SGP.02 §5.4).
    pub struct ProfileDownloadCompletedResponse : "ES3-ProfileDownloadCompletedResponseType", element "ES3-ProfileDownloadCompletedResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES3.UpdatePolicyRules request (SGP.02 §5.4).
    pub struct UpdatePolicyRulesRequest : "ES3-UpdatePolicyRulesRequestType", element "ES3-UpdatePolicyRulesRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The new POL2.
        pub pol2: Option<Pol2> = opt "pol2",
    }
}

xml_type! {
    /// ES3.UpdatePolicyRules response (SGP.02 §5.4).
    pub struct UpdatePolicyRulesResponse : "ES3-UpdatePolicyRulesResponseType", element "ES3-UpdatePolicyRulesResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES3.UpdateSubscriptionAddress request (SGP.02 §5.4).
    pub struct UpdateSubscriptionAddressRequest : "ES3-UpdateSubscriptionAddressRequestType", element "ES3-UpdateSubscriptionAddressRequest" {
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
    /// ES3.UpdateSubscriptionAddress response (SGP.02 §5.4).
    pub struct UpdateSubscriptionAddressResponse : "ES3-UpdateSubscriptionAddressResponseType", element "ES3-UpdateSubscriptionAddressResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES3.EnableProfile request (SGP.02 §5.4, §3.3).
    pub struct EnableProfileRequest : "ES3-EnableProfileRequestType", element "ES3-EnableProfileRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
    }
}

xml_type! {
    /// ES3.EnableProfile response (SGP.02 §5.4).
    pub struct EnableProfileResponse : "ES3-EnableProfileResponseType", element "ES3-EnableProfileResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// Detailed error returned by the eUICC when execution failed on it (ES8 response data).
        pub euicc_response_data: Option<HexBinary> = opt "EuiccResponseData",
    }
}

xml_type! {
    /// ES3.DisableProfile request (SGP.02 §5.4).
    pub struct DisableProfileRequest : "ES3-DisableProfileRequestType", element "ES3-DisableProfileRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
    }
}

xml_type! {
    /// ES3.DisableProfile response (SGP.02 §5.4).
    pub struct DisableProfileResponse : "ES3-DisableProfileResponseType", element "ES3-DisableProfileResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// Detailed error returned by the eUICC when execution failed on it (ES8 response data).
        pub euicc_response_data: Option<HexBinary> = opt "EuiccResponseData",
    }
}

xml_type! {
    /// ES3.DeleteISDP request (SGP.02 §5.4).
    pub struct DeleteIsdpRequest : "ES3-DeleteISDPRequestType", element "ES3-DeleteISDPRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
    }
}

xml_type! {
    /// ES3.DeleteISDP response (SGP.02 §5.4).
    pub struct DeleteIsdpResponse : "ES3-DeleteISDPResponseType", element "ES3-DeleteISDPResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// Detailed error returned by the eUICC when execution failed on it (ES8 response data).
        pub euicc_response_data: Option<HexBinary> = opt "EuiccResponseData",
    }
}

xml_type! {
    /// ES3.UpdateConnectivityParameters request (SGP.02 §5.4); absent from the XSD's ES3 group but defined as an element.
    pub struct UpdateConnectivityParametersRequest : "ES3-UpdateConnectivityParametersRequestType", element "ES3-UpdateConnectivityParametersRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The connectivity parameters (ES8 data).
        pub connectivity_parameters: HexBinary = one "ConnectivityParameters",
    }
}

xml_type! {
    /// ES3.UpdateConnectivityParameters response (SGP.02 §5.4).
    pub struct UpdateConnectivityParametersResponse : "ES3-UpdateConnectivityParametersResponseType", element "ES3-UpdateConnectivityParametersResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// Detailed error returned by the eUICC when execution failed on it (ES8 response data).
        pub euicc_response_data: Option<HexBinary> = opt "EuiccResponseData",
    }
}

xml_type! {
    /// ES3.HandleProfileDisabledNotification, SM-SR → SM-DP (SGP.02 §5.4).
    pub struct HandleProfileDisabledNotification : "ES3-HandleProfileDisabledNotificationType", element "ES3-HandleProfileDisabledNotification" {
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The MNO owning the profile.
        pub mno_id: Oid = one "Mno-id",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

xml_type! {
    /// ES3.HandleProfileEnabledNotification, SM-SR → SM-DP (SGP.02 §5.4).
    pub struct HandleProfileEnabledNotification : "ES3-HandleProfileEnabledNotificationType", element "ES3-HandleProfileEnabledNotification" {
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The MNO owning the profile.
        pub mno_id: Oid = one "Mno-id",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

xml_type! {
    /// ES3.HandleSMSRChangeNotification, SM-SR → SM-DP (SGP.02 §5.4); the XSD spells `completionTimestamp`.
    pub struct HandleSmsrChangeNotification : "ES3-HandleSMSRChangeNotificationType", element "ES3-HandleSMSRChangeNotification" {
        /// The EIS after the change.
        pub eis: Eis = one "Eis",
        /// The MNO owning the profile.
        pub mno_id: Oid = one "Mno-id",
        /// When the change completed (XSD spelling `completionTimestamp`).
        pub completion_timestamp: XsDateTime = one "completionTimestamp" | "CompletionTimestamp",
    }
}

xml_type! {
    /// ES3.HandleProfileDeletedNotification, SM-SR → SM-DP (SGP.02 §5.4).
    pub struct HandleProfileDeletedNotification : "ES3-HandleProfileDeletedNotificationType", element "ES3-HandleProfileDeletedNotification" {
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The MNO owning the profile.
        pub mno_id: Oid = one "Mno-id",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

body_enum! {
    /// ES3 requests, SM-DP → SM-SR (SGP.02 §5.4).
    pub enum Request {
        /// ES3.GetEis.
        GetEis(GetEisRequest),
        /// ES3.AuditEis.
        AuditEis(AuditEisRequest),
        /// ES3.CreateIsdp.
        CreateIsdp(CreateIsdpRequest),
        /// ES3.SendData.
        SendData(SendDataRequest),
        /// ES3.ProfileDownloadCompleted.
        ProfileDownloadCompleted(ProfileDownloadCompletedRequest),
        /// ES3.UpdatePolicyRules.
        UpdatePolicyRules(UpdatePolicyRulesRequest),
        /// ES3.UpdateSubscriptionAddress.
        UpdateSubscriptionAddress(UpdateSubscriptionAddressRequest),
        /// ES3.EnableProfile.
        EnableProfile(EnableProfileRequest),
        /// ES3.DisableProfile.
        DisableProfile(DisableProfileRequest),
        /// ES3.DeleteIsdp.
        DeleteIsdp(DeleteIsdpRequest),
        /// ES3.UpdateConnectivityParameters.
        UpdateConnectivityParameters(UpdateConnectivityParametersRequest),
    }
}

body_enum! {
    /// ES3 responses, SM-SR → SM-DP, synchronous or as callbacks (SGP.02 §5.4).
    pub enum Response {
        /// ES3.GetEis.
        GetEis(GetEisResponse),
        /// ES3.AuditEis.
        AuditEis(AuditEisResponse),
        /// ES3.CreateIsdp.
        CreateIsdp(CreateIsdpResponse),
        /// ES3.SendData.
        SendData(SendDataResponse),
        /// ES3.ProfileDownloadCompleted.
        ProfileDownloadCompleted(ProfileDownloadCompletedResponse),
        /// ES3.UpdatePolicyRules.
        UpdatePolicyRules(UpdatePolicyRulesResponse),
        /// ES3.UpdateSubscriptionAddress.
        UpdateSubscriptionAddress(UpdateSubscriptionAddressResponse),
        /// ES3.EnableProfile.
        EnableProfile(EnableProfileResponse),
        /// ES3.DisableProfile.
        DisableProfile(DisableProfileResponse),
        /// ES3.DeleteIsdp.
        DeleteIsdp(DeleteIsdpResponse),
        /// ES3.UpdateConnectivityParameters.
        UpdateConnectivityParameters(UpdateConnectivityParametersResponse),
    }
}

body_enum! {
    /// ES3 notifications, SM-SR → SM-DP (SGP.02 §5.4).
    pub enum Notification {
        /// ES3.HandleProfileDisabledNotification.
        ProfileDisabled(HandleProfileDisabledNotification),
        /// ES3.HandleProfileEnabledNotification.
        ProfileEnabled(HandleProfileEnabledNotification),
        /// ES3.HandleSMSRChangeNotification.
        SmsrChange(HandleSmsrChangeNotification),
        /// ES3.HandleProfileDeletedNotification.
        ProfileDeleted(HandleProfileDeletedNotification),
    }
}

message_enum! {
    /// Any ES3 body element (SGP.02 §5.4).
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
        CreateIsdpRequest => CreateIsdp(CreateIsdpResponse { isd_p_aid: Aid::create_isdp_refused(), euicc_response_data: None }),
        SendDataRequest => SendData(SendDataResponse { euicc_response_data: None }),
        ProfileDownloadCompletedRequest => ProfileDownloadCompleted(ProfileDownloadCompletedResponse {  }),
        UpdatePolicyRulesRequest => UpdatePolicyRules(UpdatePolicyRulesResponse {  }),
        UpdateSubscriptionAddressRequest => UpdateSubscriptionAddress(UpdateSubscriptionAddressResponse {  }),
        EnableProfileRequest => EnableProfile(EnableProfileResponse { euicc_response_data: None }),
        DisableProfileRequest => DisableProfile(DisableProfileResponse { euicc_response_data: None }),
        DeleteIsdpRequest => DeleteIsdp(DeleteIsdpResponse { euicc_response_data: None }),
        UpdateConnectivityParametersRequest => UpdateConnectivityParameters(UpdateConnectivityParametersResponse { euicc_response_data: None }),
    }
}
