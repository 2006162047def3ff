//! ES1: EUM → SM-SR (SGP.02 §5.2; `euicc.request.ES1.xsd`).

use crate::messages::codec::{body_enum, failed_responses, message_enum, xml_type};
use crate::messages::common::{BaseRequest, BaseResponse};
use crate::messages::eis::Eis;

xml_type! {
    /// ES1.RegisterEIS request: registers a new eUICC at the SM-SR (SGP.02 §5.2.1).
    pub struct RegisterEisRequest : "ES1-RegisterEISRequestType", element "ES1-RegisterEISRequest" {
        /// Function call identifier and validity period.
        pub base: BaseRequest = flatten,
        /// The EIS to register.
        pub eis: Eis = one "Eis",
    }
}

xml_type! {
    /// ES1.RegisterEIS response (SGP.02 §5.2.1).
    pub struct RegisterEisResponse : "ES1-RegisterEISResponseType", element "ES1-RegisterEISResponse" {
        /// Processing times and status.
        pub base: BaseResponse = flatten,
    }
}

body_enum! {
    /// ES1 requests (SGP.02 §5.2).
    pub enum Request {
        /// ES1.RegisterEIS.
        RegisterEis(RegisterEisRequest),
    }
}

body_enum! {
    /// ES1 responses (SGP.02 §5.2).
    pub enum Response {
        /// ES1.RegisterEIS.
        RegisterEis(RegisterEisResponse),
    }
}

message_enum! {
    /// Any ES1 body element (SGP.02 §5.2).
    pub enum Message {
        /// A request.
        Request(Request),
        /// A response.
        Response(Response),
    }
}

failed_responses! {
    Response {
        RegisterEisRequest => RegisterEis(RegisterEisResponse {  }),
    }
}
