//! WSDL 1.1 documents for the services this project provides (SGP.02 Annex B binding: SOAP 1.2,
//! document/literal, WS-Addressing), written for this project. The schema in `wsdl:types` is generated from
//! the message definitions of [`crate::messages`], so the WSDL always describes what the decoders accept.
//!
//! Servers serve [`Service::wsdl`] at `<service path>?wsdl`.

use crate::messages::codec::{BodyElement, RPS_NS, SchemaCollector};
use crate::messages::{es1, es2, es3, es4, es7};
use crate::soap::action::{self, Actions};
use crate::xml::escape_attribute;

/// A SOAP service offered by the SM-SR or the SM-DP (SGP.02 §5, Annex B).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// ES1 on the SM-SR: the EUM registers EISs (SGP.02 §5.2).
    Es1SmSr,
    /// ES2 on the SM-DP: the MNO's functions (SGP.02 §5.3).
    Es2SmDp,
    /// ES3 on the SM-SR: the SM-DP's functions (SGP.02 §5.4).
    Es3SmSr,
    /// ES3 on the SM-DP: callbacks and notifications from the SM-SR (SGP.02 §5.4).
    Es3SmDp,
    /// ES4 on the SM-SR: the MNO's functions (SGP.02 §5.5).
    Es4SmSr,
    /// ES7 on the SM-SR: the other SM-SR's functions, callbacks and notifications (SGP.02 §5.7).
    Es7SmSr,
}

/// How an operation is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationKind {
    /// A function: request in, response out (synchronous, or `202 Accepted` and a callback).
    Function,
    /// A callback carrying the response of an asynchronous function (one-way).
    Callback,
    /// A notification (one-way).
    Notification,
}

/// A body element and its schema declaration.
#[derive(Clone, Copy)]
pub struct MessageRef {
    /// The element's local name.
    pub element: &'static str,
    declare: fn(&mut SchemaCollector) -> String,
}

impl std::fmt::Debug for MessageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.element)
    }
}

fn msg<T: BodyElement>() -> MessageRef {
    MessageRef {
        element: T::ELEMENT,
        declare: T::schema_element_declaration,
    }
}

/// One WSDL operation of a service.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    /// Operation name, e.g. `ES4-GetEIS` or `ES3-CreateISDPCallback`.
    pub name: &'static str,
    /// Function, callback or notification.
    pub kind: OperationKind,
    /// The input body element.
    pub input: MessageRef,
    /// The output body element (functions only).
    pub output: Option<MessageRef>,
    /// The function's Actions.
    pub actions: &'static Actions,
}

impl Operation {
    /// The `wsa:Action` of the input message.
    pub fn input_action(&self) -> &'static str {
        match self.kind {
            OperationKind::Function | OperationKind::Notification => self.actions.request,
            OperationKind::Callback => self
                .actions
                .callback
                .or(self.actions.response)
                .unwrap_or(self.actions.request),
        }
    }

    /// The `wsa:Action` of the output message.
    pub fn output_action(&self) -> Option<&'static str> {
        self.output.and(self.actions.response)
    }
}

fn function<Req: BodyElement, Resp: BodyElement>(
    name: &'static str,
    actions: &'static Actions,
) -> Operation {
    Operation {
        name,
        kind: OperationKind::Function,
        input: msg::<Req>(),
        output: Some(msg::<Resp>()),
        actions,
    }
}

fn callback<Resp: BodyElement>(name: &'static str, actions: &'static Actions) -> Operation {
    Operation {
        name,
        kind: OperationKind::Callback,
        input: msg::<Resp>(),
        output: None,
        actions,
    }
}

fn notification<N: BodyElement>(actions: &'static Actions) -> Operation {
    Operation {
        name: actions.function,
        kind: OperationKind::Notification,
        input: msg::<N>(),
        output: None,
        actions,
    }
}

impl Service {
    /// Every service, for serving and testing.
    pub const ALL: &'static [Service] = &[
        Service::Es1SmSr,
        Service::Es2SmDp,
        Service::Es3SmSr,
        Service::Es3SmDp,
        Service::Es4SmSr,
        Service::Es7SmSr,
    ];

    /// The service name, as in the GSMA WSDLs (e.g. `ES4SmSrService`).
    pub fn name(self) -> &'static str {
        match self {
            Service::Es1SmSr => "ES1SmSrService",
            Service::Es2SmDp => "ES2SmDpService",
            Service::Es3SmSr => "ES3SmSrService",
            Service::Es3SmDp => "ES3SmDpService",
            Service::Es4SmSr => "ES4SmSrService",
            Service::Es7SmSr => "ES7SmSrService",
        }
    }

    fn port_type(self) -> &'static str {
        self.name().trim_end_matches("Service")
    }

    /// The default HTTP path, after the GSMA service addresses (`/esim-messaging/3/ES4/ES4SmSrService`).
    pub fn default_path(self) -> &'static str {
        match self {
            Service::Es1SmSr => "/esim-messaging/3/ES1/ES1SmSrService",
            Service::Es2SmDp => "/esim-messaging/3/ES2/ES2SmDpService",
            Service::Es3SmSr => "/esim-messaging/3/ES3/ES3SmSrService",
            Service::Es3SmDp => "/esim-messaging/3/ES3/ES3SmDpService",
            Service::Es4SmSr => "/esim-messaging/3/ES4/ES4SmSrService",
            Service::Es7SmSr => "/esim-messaging/3/ES7/ES7SmSrService",
        }
    }

    /// The operations of the service.
    pub fn operations(self) -> Vec<Operation> {
        use action::*;
        match self {
            Service::Es1SmSr => vec![
                function::<es1::RegisterEisRequest, es1::RegisterEisResponse>(
                    "ES1-RegisterEIS",
                    &ES1_REGISTER_EIS,
                ),
            ],
            Service::Es2SmDp => vec![
                function::<es2::GetEisRequest, es2::GetEisResponse>("ES2-GetEIS", &ES2_GET_EIS),
                function::<es2::DownloadProfileRequest, es2::DownloadProfileResponse>(
                    "ES2-DownloadProfile",
                    &ES2_DOWNLOAD_PROFILE,
                ),
                function::<es2::UpdatePolicyRulesRequest, es2::UpdatePolicyRulesResponse>(
                    "ES2-UpdatePolicyRules",
                    &ES2_UPDATE_POLICY_RULES,
                ),
                function::<
                    es2::UpdateSubscriptionAddressRequest,
                    es2::UpdateSubscriptionAddressResponse,
                >(
                    "ES2-UpdateSubscriptionAddress",
                    &ES2_UPDATE_SUBSCRIPTION_ADDRESS,
                ),
                function::<es2::EnableProfileRequest, es2::EnableProfileResponse>(
                    "ES2-EnableProfile",
                    &ES2_ENABLE_PROFILE,
                ),
                function::<es2::DisableProfileRequest, es2::DisableProfileResponse>(
                    "ES2-DisableProfile",
                    &ES2_DISABLE_PROFILE,
                ),
                function::<es2::DeleteProfileRequest, es2::DeleteProfileResponse>(
                    "ES2-DeleteProfile",
                    &ES2_DELETE_PROFILE,
                ),
            ],
            Service::Es3SmSr => vec![
                function::<es3::GetEisRequest, es3::GetEisResponse>("ES3-GetEIS", &ES3_GET_EIS),
                function::<es3::AuditEisRequest, es3::AuditEisResponse>(
                    "ES3-AuditEIS",
                    &ES3_AUDIT_EIS,
                ),
                function::<es3::CreateIsdpRequest, es3::CreateIsdpResponse>(
                    "ES3-CreateISDP",
                    &ES3_CREATE_ISDP,
                ),
                function::<es3::SendDataRequest, es3::SendDataResponse>(
                    "ES3-SendData",
                    &ES3_SEND_DATA,
                ),
                function::<
                    es3::ProfileDownloadCompletedRequest,
                    es3::ProfileDownloadCompletedResponse,
                >(
                    "ES3-ProfileDownloadCompleted",
                    &ES3_PROFILE_DOWNLOAD_COMPLETED,
                ),
                function::<es3::UpdatePolicyRulesRequest, es3::UpdatePolicyRulesResponse>(
                    "ES3-UpdatePolicyRules",
                    &ES3_UPDATE_POLICY_RULES,
                ),
                function::<
                    es3::UpdateSubscriptionAddressRequest,
                    es3::UpdateSubscriptionAddressResponse,
                >(
                    "ES3-UpdateSubscriptionAddress",
                    &ES3_UPDATE_SUBSCRIPTION_ADDRESS,
                ),
                function::<es3::EnableProfileRequest, es3::EnableProfileResponse>(
                    "ES3-EnableProfile",
                    &ES3_ENABLE_PROFILE,
                ),
                function::<es3::DisableProfileRequest, es3::DisableProfileResponse>(
                    "ES3-DisableProfile",
                    &ES3_DISABLE_PROFILE,
                ),
                function::<es3::DeleteIsdpRequest, es3::DeleteIsdpResponse>(
                    "ES3-DeleteISDP",
                    &ES3_DELETE_ISDP,
                ),
                function::<
                    es3::UpdateConnectivityParametersRequest,
                    es3::UpdateConnectivityParametersResponse,
                >(
                    "ES3-UpdateConnectivityParameters",
                    &ES3_UPDATE_CONNECTIVITY_PARAMETERS,
                ),
            ],
            Service::Es3SmDp => vec![
                callback::<es3::AuditEisResponse>("ES3-AuditEISCallback", &ES3_AUDIT_EIS),
                callback::<es3::CreateIsdpResponse>("ES3-CreateISDPCallback", &ES3_CREATE_ISDP),
                callback::<es3::SendDataResponse>("ES3-SendDataCallback", &ES3_SEND_DATA),
                callback::<es3::EnableProfileResponse>(
                    "ES3-EnableProfileCallback",
                    &ES3_ENABLE_PROFILE,
                ),
                callback::<es3::DisableProfileResponse>(
                    "ES3-DisableProfileCallback",
                    &ES3_DISABLE_PROFILE,
                ),
                callback::<es3::DeleteIsdpResponse>("ES3-DeleteISDPCallback", &ES3_DELETE_ISDP),
                callback::<es3::UpdateConnectivityParametersResponse>(
                    "ES3-UpdateConnectivityParametersCallback",
                    &ES3_UPDATE_CONNECTIVITY_PARAMETERS,
                ),
                notification::<es3::HandleProfileDisabledNotification>(
                    &ES3_HANDLE_PROFILE_DISABLED_NOTIFICATION,
                ),
                notification::<es3::HandleProfileEnabledNotification>(
                    &ES3_HANDLE_PROFILE_ENABLED_NOTIFICATION,
                ),
                notification::<es3::HandleSmsrChangeNotification>(
                    &ES3_HANDLE_SMSR_CHANGE_NOTIFICATION,
                ),
                notification::<es3::HandleProfileDeletedNotification>(
                    &ES3_HANDLE_PROFILE_DELETED_NOTIFICATION,
                ),
            ],
            Service::Es4SmSr => vec![
                function::<es4::GetEisRequest, es4::GetEisResponse>("ES4-GetEIS", &ES4_GET_EIS),
                function::<es4::AuditEisRequest, es4::AuditEisResponse>(
                    "ES4-AuditEIS",
                    &ES4_AUDIT_EIS,
                ),
                function::<es4::UpdatePolicyRulesRequest, es4::UpdatePolicyRulesResponse>(
                    "ES4-UpdatePolicyRules",
                    &ES4_UPDATE_POLICY_RULES,
                ),
                function::<
                    es4::UpdateSubscriptionAddressRequest,
                    es4::UpdateSubscriptionAddressResponse,
                >(
                    "ES4-UpdateSubscriptionAddress",
                    &ES4_UPDATE_SUBSCRIPTION_ADDRESS,
                ),
                function::<es4::EnableProfileRequest, es4::EnableProfileResponse>(
                    "ES4-EnableProfile",
                    &ES4_ENABLE_PROFILE,
                ),
                function::<es4::DisableProfileRequest, es4::DisableProfileResponse>(
                    "ES4-DisableProfile",
                    &ES4_DISABLE_PROFILE,
                ),
                function::<es4::DeleteProfileRequest, es4::DeleteProfileResponse>(
                    "ES4-DeleteProfile",
                    &ES4_DELETE_PROFILE,
                ),
                function::<es4::PrepareSmsrChangeRequest, es4::PrepareSmsrChangeResponse>(
                    "ES4-PrepareSMSRChange",
                    &ES4_PREPARE_SMSR_CHANGE,
                ),
                function::<es4::SmsrChangeRequest, es4::SmsrChangeResponse>(
                    "ES4-SMSRChange",
                    &ES4_SMSR_CHANGE,
                ),
            ],
            Service::Es7SmSr => vec![
                function::<es7::HandoverEuiccRequest, es7::HandoverEuiccResponse>(
                    "ES7-HandoverEUICC",
                    &ES7_HANDOVER_EUICC,
                ),
                function::<es7::AuthenticateSmsrRequest, es7::AuthenticateSmsrResponse>(
                    "ES7-AuthenticateSMSR",
                    &ES7_AUTHENTICATE_SMSR,
                ),
                function::<es7::CreateAdditionalKeySetRequest, es7::CreateAdditionalKeySetResponse>(
                    "ES7-CreateAdditionalKeySet",
                    &ES7_CREATE_ADDITIONAL_KEY_SET,
                ),
                callback::<es7::HandoverEuiccResponse>(
                    "ES7-HandoverEUICCCallback",
                    &ES7_HANDOVER_EUICC,
                ),
                callback::<es7::AuthenticateSmsrResponse>(
                    "ES7-AuthenticateSMSRCallback",
                    &ES7_AUTHENTICATE_SMSR,
                ),
                callback::<es7::CreateAdditionalKeySetResponse>(
                    "ES7-CreateAdditionalKeySetCallback",
                    &ES7_CREATE_ADDITIONAL_KEY_SET,
                ),
                notification::<es7::HandleSmsrChangeNotification>(
                    &ES7_HANDLE_SMSR_CHANGE_NOTIFICATION,
                ),
            ],
        }
    }

    /// The operation whose input is this body element, if the service accepts it.
    pub fn operation_for_input(self, element: &str) -> Option<Operation> {
        self.operations()
            .into_iter()
            .find(|o| o.input.element == element)
    }

    /// The WSDL 1.1 document of the service with `address` as its `soap12:address` location.
    pub fn wsdl(self, address: &str) -> String {
        let ops = self.operations();
        let mut schema = SchemaCollector::new();
        let mut elements: Vec<String> = Vec::new();
        let mut messages: Vec<&'static str> = Vec::new();
        for op in &ops {
            for m in std::iter::once(op.input).chain(op.output) {
                if !messages.contains(&m.element) {
                    messages.push(m.element);
                    elements.push((m.declare)(&mut schema));
                }
            }
        }
        let port_type = self.port_type();
        let mut out = String::new();
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str(&format!(
            "<wsdl:definitions name=\"{port_type}\" targetNamespace=\"{RPS_NS}\" \
             xmlns:wsdl=\"http://schemas.xmlsoap.org/wsdl/\" \
             xmlns:soap12=\"http://schemas.xmlsoap.org/wsdl/soap12/\" \
             xmlns:xs=\"http://www.w3.org/2001/XMLSchema\" \
             xmlns:wsam=\"http://www.w3.org/2007/05/addressing/metadata\" \
             xmlns:wsaw=\"http://www.w3.org/2006/05/addressing/wsdl\" \
             xmlns:rps=\"{RPS_NS}\">\n"
        ));
        out.push_str(&format!(
            "  <wsdl:documentation>SGP.02 {} (SOAP 1.2, document/literal, WS-Addressing 1.0).</wsdl:documentation>\n",
            self.name()
        ));
        out.push_str("  <wsdl:types>\n");
        out.push_str(&format!(
            "    <xs:schema targetNamespace=\"{RPS_NS}\" xmlns:rps=\"{RPS_NS}\" elementFormDefault=\"qualified\" attributeFormDefault=\"unqualified\">\n"
        ));
        for e in &elements {
            out.push_str("      ");
            out.push_str(e);
            out.push('\n');
        }
        for d in schema.definitions() {
            out.push_str("      ");
            out.push_str(d);
            out.push('\n');
        }
        out.push_str("    </xs:schema>\n  </wsdl:types>\n");
        for m in &messages {
            out.push_str(&format!(
                "  <wsdl:message name=\"{m}\"><wsdl:part name=\"parameters\" element=\"rps:{m}\"/></wsdl:message>\n"
            ));
        }
        out.push_str(&format!("  <wsdl:portType name=\"{port_type}\">\n"));
        for op in &ops {
            out.push_str(&format!("    <wsdl:operation name=\"{}\">\n", op.name));
            out.push_str(&format!(
                "      <wsdl:input message=\"rps:{}\" wsam:Action=\"{}\"/>\n",
                op.input.element,
                op.input_action()
            ));
            if let (Some(o), Some(a)) = (op.output, op.output_action()) {
                out.push_str(&format!(
                    "      <wsdl:output message=\"rps:{}\" wsam:Action=\"{a}\"/>\n",
                    o.element
                ));
            }
            out.push_str("    </wsdl:operation>\n");
        }
        out.push_str("  </wsdl:portType>\n");
        out.push_str(&format!(
            "  <wsdl:binding name=\"{port_type}Binding\" type=\"rps:{port_type}\">\n\
             \x20   <soap12:binding style=\"document\" transport=\"http://www.w3.org/2003/05/soap/bindings/HTTP/\"/>\n\
             \x20   <wsaw:UsingAddressing wsdl:required=\"true\"/>\n"
        ));
        for op in &ops {
            out.push_str(&format!(
                "    <wsdl:operation name=\"{}\">\n      <soap12:operation soapAction=\"{}\" style=\"document\"/>\n      <wsdl:input><soap12:body use=\"literal\"/></wsdl:input>\n",
                op.name,
                op.input_action()
            ));
            if op.output.is_some() {
                out.push_str("      <wsdl:output><soap12:body use=\"literal\"/></wsdl:output>\n");
            }
            out.push_str("    </wsdl:operation>\n");
        }
        out.push_str("  </wsdl:binding>\n");
        out.push_str(&format!(
            "  <wsdl:service name=\"{}\">\n    <wsdl:port name=\"{port_type}Port\" binding=\"rps:{port_type}Binding\">\n      <soap12:address location=\"{}\"/>\n    </wsdl:port>\n  </wsdl:service>\n",
            self.name(),
            escape_attribute(address)
        ));
        out.push_str("</wsdl:definitions>\n");
        out
    }
}
