//! ES4 functions added by SGP.02 v4 that the v3 web-services bundle lacks (notes sgp02-interfaces §1.5):
//! `ES4.SetFallBackAttribute` (SGP.02 v4.0 §5.5.21, confirmed by the KPN ES4 pages). No v4 XSD is public: the
//! element names follow the v3 pattern (`ES4-<Function>Request/Response`) and the fields those of
//! EnableProfile [P]; the Action follows the ES4 `PlatformManagement` pattern [P]. These messages are not
//! part of the v3 enums ([`crate::messages::es4`]) and do not validate against the v3 XSDs.

use crate::messages::codec::{body_enum, failed_responses, xml_type};
use crate::messages::common::{BaseRequest, BaseResponse};
use crate::types::{Eid, HexBinary, Iccid};

/// `wsa:Action` of ES4.SetFallBackAttribute requests [P].
pub const SET_FALLBACK_ATTRIBUTE_ACTION: &str =
    "http://gsma.com/ES4/PlatformManagement/ES4-SetFallBackAttribute";
/// `wsa:Action` of its response and callback [P].
pub const SET_FALLBACK_ATTRIBUTE_RESPONSE_ACTION: &str =
    "http://gsma.com/ES4/eUICCManagement/ES4-SetFallBackAttributeResponse";

/// The request and response Actions of a v4 element of this module, `None` for other elements.
pub fn actions(element: &str) -> Option<(&'static str, &'static str)> {
    match element {
        "ES4-SetFallBackAttributeRequest" | "ES4-SetFallBackAttributeResponse" => Some((
            SET_FALLBACK_ATTRIBUTE_ACTION,
            SET_FALLBACK_ATTRIBUTE_RESPONSE_ACTION,
        )),
        _ => None,
    }
}

xml_type! {
    /// ES4.SetFallBackAttribute request: give the fall-back attribute to a profile (SGP.02 v4 §5.5.21).
    pub struct SetFallBackAttributeRequest : "ES4-SetFallBackAttributeRequestType", element "ES4-SetFallBackAttributeRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The eUICC.
        pub eid: Eid = one "Eid",
        /// The profile to carry the attribute.
        pub iccid: Iccid = one "Iccid",
    }
}

xml_type! {
    /// ES4.SetFallBackAttribute response (SGP.02 v4 §5.5.21).
    pub struct SetFallBackAttributeResponse : "ES4-SetFallBackAttributeResponseType", element "ES4-SetFallBackAttributeResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
        /// Detailed error returned by the eUICC when execution failed on it.
        pub euicc_response_data: Option<HexBinary> = opt "EuiccResponseData",
    }
}

body_enum! {
    /// ES4 v4 requests, MNO → SM-SR.
    pub enum Request {
        /// ES4.SetFallBackAttribute.
        SetFallBackAttribute(SetFallBackAttributeRequest),
    }
}

body_enum! {
    /// ES4 v4 responses, SM-SR → MNO, synchronous or as callbacks.
    pub enum Response {
        /// ES4.SetFallBackAttribute.
        SetFallBackAttribute(SetFallBackAttributeResponse),
    }
}

failed_responses! {
    Response {
        SetFallBackAttributeRequest => SetFallBackAttribute(SetFallBackAttributeResponse { euicc_response_data: None }),
    }
}
