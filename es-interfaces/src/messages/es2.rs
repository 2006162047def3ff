//! ES2: MNO → SM-DP, and SM-DP → MNO notifications (SGP.02 §5.3; `euicc.request.ES2.xsd`).
//!
//! The XSD spells the SM-SR identifier `SmSr-id` in DownloadProfile and EnableProfile and `Smsr-id`
//! elsewhere, and the timestamp `completionTimestamp` in HandleProfileEnabledNotification: we emit exactly
//! that and accept either spelling on input.

use crate::messages::codec::{body_enum, failed_responses, message_enum, xml_type};
use crate::messages::common::{BaseRequest, BaseResponse, Pol2, SubscriptionAddress};
use crate::messages::eis::Eis;
use crate::types::{Eid, Iccid, Oid, XsDateTime};

xml_type! {
    /// ES2.GetEIS request: the MNO asks for the EIS of an eUICC (SGP.02 §5.3.1).
    pub struct GetEisRequest : "ES2-GetEISRequestType", element "ES2-GetEISRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The SM-SR in charge of it.
        pub smsr_id: Oid = one "Smsr-id" | "SmSr-id",
    }
}

xml_type! {
    /// ES2.GetEIS response (SGP.02 §5.3.1).
    pub struct GetEisResponse : "ES2-GetEISResponseType", element "ES2-GetEISResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// The EIS (the MNO's view).
        pub eis: Option<Eis> = opt "Eis",
    }
}

xml_type! {
    /// ES2.DownloadProfile request (SGP.02 §5.3.2).
    pub struct DownloadProfileRequest : "ES2-DownloadProfileRequestType", element "ES2-DownloadProfileRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The target eUICC.
        pub eid: Eid = one "Eid",
        /// The SM-SR in charge of it (XSD spelling `SmSr-id`).
        pub smsr_id: Oid = one "SmSr-id" | "Smsr-id",
        /// The profile type to download.
        pub profile_type: Option<String> = opt "ProfileType",
        /// The ICCID of the profile to download.
        pub iccid: Option<Iccid> = opt "Iccid",
        /// Whether to enable the profile once installed.
        pub enable_profile: bool = one "EnableProfile",
    }
}

xml_type! {
    /// ES2.DownloadProfile response (SGP.02 §5.3.2).
    pub struct DownloadProfileResponse : "ES2-DownloadProfileResponseType", element "ES2-DownloadProfileResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// The ICCID of the downloaded profile.
        pub iccid: Option<Iccid> = opt "Iccid",
    }
}

xml_type! {
    /// ES2.UpdatePolicyRules request (SGP.02 §5.3.3).
    pub struct UpdatePolicyRulesRequest : "ES2-UpdatePolicyRulesRequestType", element "ES2-UpdatePolicyRulesRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The SM-SR in charge.
        pub smsr_id: Oid = one "Smsr-id" | "SmSr-id",
        /// The new POL2.
        pub pol2: Option<Pol2> = opt "pol2",
    }
}

xml_type! {
    /// ES2.UpdatePolicyRules response (SGP.02 §5.3.3).
    pub struct UpdatePolicyRulesResponse : "ES2-UpdatePolicyRulesResponseType", element "ES2-UpdatePolicyRulesResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES2.UpdateSubscriptionAddress request (SGP.02 §5.3.4).
    pub struct UpdateSubscriptionAddressRequest : "ES2-UpdateSubscriptionAddressRequestType", element "ES2-UpdateSubscriptionAddressRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The SM-SR in charge.
        pub smsr_id: Oid = one "Smsr-id" | "SmSr-id",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The new subscription address.
        pub new_subscription_address: SubscriptionAddress = one "newSubscriptionAddress",
    }
}

xml_type! {
    /// ES2.UpdateSubscriptionAddress response (SGP.02 §5.3.4).
    pub struct UpdateSubscriptionAddressResponse : "ES2-UpdateSubscriptionAddressResponseType", element "ES2-UpdateSubscriptionAddressResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES2.EnableProfile request (SGP.02 §5.3.5).
    pub struct EnableProfileRequest : "ES2-EnableProfileRequestType", element "ES2-EnableProfileRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The SM-SR in charge (XSD spelling `SmSr-id`).
        pub smsr_id: Oid = one "SmSr-id" | "Smsr-id",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
    }
}

xml_type! {
    /// ES2.EnableProfile response (SGP.02 §5.3.5).
    pub struct EnableProfileResponse : "ES2-EnableProfileResponseType", element "ES2-EnableProfileResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES2.DisableProfile request (SGP.02 §5.3.6).
    pub struct DisableProfileRequest : "ES2-DisableProfileRequestType", element "ES2-DisableProfileRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The SM-SR in charge.
        pub smsr_id: Oid = one "Smsr-id" | "SmSr-id",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
    }
}

xml_type! {
    /// ES2.DisableProfile response (SGP.02 §5.3.6).
    pub struct DisableProfileResponse : "ES2-DisableProfileResponseType", element "ES2-DisableProfileResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES2.DeleteProfile request (SGP.02 §5.3.7).
    pub struct DeleteProfileRequest : "ES2-DeleteProfileRequestType", element "ES2-DeleteProfileRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// The SM-SR in charge.
        pub smsr_id: Oid = one "Smsr-id" | "SmSr-id",
    }
}

xml_type! {
    /// ES2.DeleteProfile response (SGP.02 §5.3.7).
    pub struct DeleteProfileResponse : "ES2-DeleteProfileResponseType", element "ES2-DeleteProfileResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES2.HandleProfileDisabledNotification (SGP.02 §5.3.8).
    pub struct HandleProfileDisabledNotification : "ES2-HandleProfileDisabledNotificationType", element "ES2-HandleProfileDisabledNotification" {
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

xml_type! {
    /// ES2.HandleProfileEnabledNotification (SGP.02 §5.3.9); the XSD spells `completionTimestamp`.
    pub struct HandleProfileEnabledNotification : "ES2-HandleProfileEnabledNotificationType", element "ES2-HandleProfileEnabledNotification" {
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "completionTimestamp" | "CompletionTimestamp",
    }
}

xml_type! {
    /// ES2.HandleSMSRChangeNotification (SGP.02 §5.3.10).
    pub struct HandleSmsrChangeNotification : "ES2-HandleSMSRChangeNotificationType", element "ES2-HandleSMSRChangeNotification" {
        /// The EIS (the MNO's view) after the change.
        pub eis: Eis = one "Eis",
        /// When the change completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

xml_type! {
    /// ES2.HandleProfileDeletedNotification (SGP.02 §5.3.11).
    pub struct HandleProfileDeletedNotification : "ES2-HandleProfileDeletedNotificationType", element "ES2-HandleProfileDeletedNotification" {
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile.
        pub iccid: Iccid = one "Iccid",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

body_enum! {
    /// ES2 requests, MNO → SM-DP (SGP.02 §5.3).
    pub enum Request {
        /// ES2.GetEIS.
        GetEis(GetEisRequest),
        /// ES2.DownloadProfile.
        DownloadProfile(DownloadProfileRequest),
        /// ES2.UpdatePolicyRules.
        UpdatePolicyRules(UpdatePolicyRulesRequest),
        /// ES2.UpdateSubscriptionAddress.
        UpdateSubscriptionAddress(UpdateSubscriptionAddressRequest),
        /// ES2.EnableProfile.
        EnableProfile(EnableProfileRequest),
        /// ES2.DisableProfile.
        DisableProfile(DisableProfileRequest),
        /// ES2.DeleteProfile.
        DeleteProfile(DeleteProfileRequest),
    }
}

body_enum! {
    /// ES2 responses, SM-DP → MNO, synchronous or as callbacks (SGP.02 §5.3).
    pub enum Response {
        /// ES2.GetEIS.
        GetEis(GetEisResponse),
        /// ES2.DownloadProfile.
        DownloadProfile(DownloadProfileResponse),
        /// ES2.UpdatePolicyRules.
        UpdatePolicyRules(UpdatePolicyRulesResponse),
        /// ES2.UpdateSubscriptionAddress.
        UpdateSubscriptionAddress(UpdateSubscriptionAddressResponse),
        /// ES2.EnableProfile.
        EnableProfile(EnableProfileResponse),
        /// ES2.DisableProfile.
        DisableProfile(DisableProfileResponse),
        /// ES2.DeleteProfile.
        DeleteProfile(DeleteProfileResponse),
    }
}

body_enum! {
    /// ES2 notifications, SM-DP → MNO (SGP.02 §5.3.8–§5.3.11).
    pub enum Notification {
        /// ES2.HandleProfileDisabledNotification.
        ProfileDisabled(HandleProfileDisabledNotification),
        /// ES2.HandleProfileEnabledNotification.
        ProfileEnabled(HandleProfileEnabledNotification),
        /// ES2.HandleSMSRChangeNotification.
        SmsrChange(HandleSmsrChangeNotification),
        /// ES2.HandleProfileDeletedNotification.
        ProfileDeleted(HandleProfileDeletedNotification),
    }
}

message_enum! {
    /// Any ES2 body element (SGP.02 §5.3).
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
        DownloadProfileRequest => DownloadProfile(DownloadProfileResponse { iccid: None }),
        UpdatePolicyRulesRequest => UpdatePolicyRules(UpdatePolicyRulesResponse {  }),
        UpdateSubscriptionAddressRequest => UpdateSubscriptionAddress(UpdateSubscriptionAddressResponse {  }),
        EnableProfileRequest => EnableProfile(EnableProfileResponse {  }),
        DisableProfileRequest => DisableProfile(DisableProfileResponse {  }),
        DeleteProfileRequest => DeleteProfile(DeleteProfileResponse {  }),
    }
}
