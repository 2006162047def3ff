//! ES7: SM-SR ↔ SM-SR for the SM-SR change (SGP.02 §5.7; `euicc.request.ES7.xsd`).

use crate::messages::codec::{body_enum, failed_responses, message_enum, xml_type};
use crate::messages::common::{BaseRequest, BaseResponse};
use crate::messages::eis::Eis;
use crate::types::{EccKeyLength, Eid, HexBinary, KeysetVersion, XsDateTime};

xml_type! {
    /// ES7.HandoverEUICC request, current SM-SR → new SM-SR (SGP.02 §5.7, §3.8).
    pub struct HandoverEuiccRequest : "ES7-HandoverEUICCRequestType", element "ES7-HandoverEUICCRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The EIS handed over.
        pub eis: Eis = one "Eis",
    }
}

xml_type! {
    /// ES7.HandoverEUICC response (SGP.02 §5.7).
    pub struct HandoverEuiccResponse : "ES7-HandoverEUICCResponseType", element "ES7-HandoverEUICCResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

xml_type! {
    /// ES7.AuthenticateSMSR request, new SM-SR → current SM-SR (SGP.02 §5.7, §3.8).
    ///
    /// The XSD carries `Eis` here although the function identifies the eUICC (Njiwa sends `Eid`); we follow the XSD.
    pub struct AuthenticateSmsrRequest : "ES7-AuthenticateSMSRRequestType", element "ES7-AuthenticateSMSRRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The EIS identifying the eUICC.
        pub eis: Eis = one "Eis",
        /// The new SM-SR's certificate: the full `7F21` TLV.
        pub smsr_certificate: HexBinary = one "SmsrCertificate",
    }
}

xml_type! {
    /// ES7.AuthenticateSMSR response (SGP.02 §5.7).
    pub struct AuthenticateSmsrResponse : "ES7-AuthenticateSMSRResponseType", element "ES7-AuthenticateSMSRResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// The eUICC's random challenge.
        pub random_challenge: HexBinary = one "RandomChallenge",
    }
}

xml_type! {
    /// ES7.CreateAdditionalKeySet request (SGP.02 §5.7, §3.8; GP Amendment E scenario #3).
    pub struct CreateAdditionalKeySetRequest : "ES7-CreateAdditionalKeySetRequestType", element "ES7-CreateAdditionalKeySetRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// Key version number of the new key set.
        pub key_version_number: KeysetVersion = one "KeyVersionNumber",
        /// Initial sequence counter.
        pub initial_sequence_counter: i64 = one "InitialSequenceCounter",
        /// ECC key length.
        pub ecc_key_length: EccKeyLength = one "ECCKeyLength",
        /// Scenario parameter (GP Amendment E Table 4-17).
        pub scenario_parameter: i8 = one "ScenarioParameter",
        /// Host identifier (GP Amendment E Table 4-15).
        pub host_id: HexBinary = one "HostId",
        /// The new SM-SR's ephemeral public key.
        pub ephemeral_public_key: HexBinary = one "EphemeralPublicKey",
        /// Signature over the key establishment data.
        pub signature: HexBinary = one "Signature",
    }
}

xml_type! {
    /// ES7.CreateAdditionalKeySet response (SGP.02 §5.7).
    pub struct CreateAdditionalKeySetResponse : "ES7-CreateAdditionalKeySetResponseType", element "ES7-CreateAdditionalKeySetResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// The derivation random from the eUICC.
        pub derivation_random: HexBinary = one "DerivationRandom",
        /// The receipt (MAC) from the eUICC.
        pub receipt: HexBinary = one "Receipt",
    }
}

xml_type! {
    /// ES7.HandleSMSRChangeNotification, new SM-SR → current SM-SR (SGP.02 §5.7).
    pub struct HandleSmsrChangeNotification : "ES7-HandleSMSRChangeNotificationType", element "ES7-HandleSMSRChangeNotification" {
        /// The EIS after the change.
        pub eis: Eis = one "Eis",
        /// When the operation completed.
        pub completion_timestamp: XsDateTime = one "CompletionTimestamp" | "completionTimestamp",
    }
}

body_enum! {
    /// ES7 requests between SM-SRs (SGP.02 §5.7).
    pub enum Request {
        /// ES7.HandoverEuicc.
        HandoverEuicc(HandoverEuiccRequest),
        /// ES7.AuthenticateSmsr.
        AuthenticateSmsr(AuthenticateSmsrRequest),
        /// ES7.CreateAdditionalKeySet.
        CreateAdditionalKeySet(CreateAdditionalKeySetRequest),
    }
}

body_enum! {
    /// ES7 responses, synchronous or as callbacks (SGP.02 §5.7).
    pub enum Response {
        /// ES7.HandoverEuicc.
        HandoverEuicc(HandoverEuiccResponse),
        /// ES7.AuthenticateSmsr.
        AuthenticateSmsr(AuthenticateSmsrResponse),
        /// ES7.CreateAdditionalKeySet.
        CreateAdditionalKeySet(CreateAdditionalKeySetResponse),
    }
}

body_enum! {
    /// ES7 notifications (SGP.02 §5.7).
    pub enum Notification {
        /// ES7.HandleSMSRChangeNotification.
        SmsrChange(HandleSmsrChangeNotification),
    }
}

message_enum! {
    /// Any ES7 body element (SGP.02 §5.7).
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
        HandoverEuiccRequest => HandoverEuicc(HandoverEuiccResponse {  }),
        AuthenticateSmsrRequest => AuthenticateSmsr(AuthenticateSmsrResponse { random_challenge: HexBinary::empty() }),
        CreateAdditionalKeySetRequest => CreateAdditionalKeySet(CreateAdditionalKeySetResponse { derivation_random: HexBinary::empty(), receipt: HexBinary::empty() }),
    }
}
