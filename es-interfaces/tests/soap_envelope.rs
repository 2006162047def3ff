//! SOAP envelopes: SOAP 1.2 and 1.1, WS-Addressing headers declared anywhere, SGP.02 URI parameters with `&`
//! and `?` separators, security refusals, faults, and our own envelopes read back.

mod messages_support;

use es_interfaces::messages::{DecodeErrorKind, RPS_NS, es3, es4};
use es_interfaces::soap::{
    self, Envelope, FaultCode, MessageKind, OutgoingHeaders, QuerySeparator, SgpUri, SoapError,
    SoapVersion, WSA_NS, action,
};
use es_interfaces::status::{Reason, Status, Subject};
use es_interfaces::xml::{ParseLimits, XmlErrorKind};
use messages_support::*;

const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";

fn enable_body(prefix: &str) -> String {
    format!(
        "<{prefix}:ES4-EnableProfileRequest xmlns:{prefix}=\"{RPS_NS}\"><{prefix}:FunctionCallIdentifier>F-1</{prefix}:FunctionCallIdentifier>\
         <{prefix}:Eid>{EID}</{prefix}:Eid><{prefix}:Iccid>{ICCID}</{prefix}:Iccid></{prefix}:ES4-EnableProfileRequest>"
    )
}

/// The shape of the gSOAP wire capture in the notes (B1): `wsa5` prefix, mustUnderstand, `&` separators.
fn gsoap_style(body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"{SOAP12}\" xmlns:wsa5=\"{WSA_NS}\">\
<SOAP-ENV:Header>\
<wsa5:MessageID>//1.3.6.1.4.1.20/urn:uuid:78c2aa10?TransactionId=urn:uuid:68ea0001&amp;MessageDate=2018-12-19T02:44:49Z</wsa5:MessageID>\
<wsa5:From><wsa5:Address>http://smdp.ztesoft.com:20000?EntityId=1.3.6.1.4.1.20&amp;EntityName=SM-SR</wsa5:Address></wsa5:From>\
<wsa5:To SOAP-ENV:mustUnderstand=\"true\">http://smdp.ztesoft.com:10000?EntityId=1.3.6.1.4.1.10</wsa5:To>\
<wsa5:Action SOAP-ENV:mustUnderstand=\"true\">http://gsma.com/ES4/PlatformManagement/ES4-EnableProfile</wsa5:Action>\
<wsa5:ReplyTo><wsa5:Address>http://mno.example/es4cb?EntityId=1.3.6.1.4.1.10</wsa5:Address></wsa5:ReplyTo>\
</SOAP-ENV:Header><SOAP-ENV:Body>{body}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
}

#[test]
fn soap12_envelope_with_wsa_headers_and_ampersand_parameters() {
    let env = Envelope::parse(gsoap_style(&enable_body("rps")).as_bytes()).unwrap();
    assert_eq!(env.version(), SoapVersion::V1_2);
    let wsa = env.wsa();
    let mid = wsa.message_id.as_ref().unwrap();
    assert_eq!(mid.base(), "//1.3.6.1.4.1.20/urn:uuid:78c2aa10");
    assert_eq!(mid.transaction_id(), Some("urn:uuid:68ea0001"));
    assert_eq!(mid.message_date(), Some("2018-12-19T02:44:49Z"));
    assert_eq!(mid.separator(), Some(QuerySeparator::Ampersand));
    let from = wsa.from.as_ref().unwrap();
    assert_eq!(
        (from.entity_id(), from.entity_name()),
        (Some("1.3.6.1.4.1.20"), Some("SM-SR"))
    );
    assert_eq!(wsa.to.as_ref().unwrap().entity_id(), Some("1.3.6.1.4.1.10"));
    assert_eq!(
        wsa.action.as_deref(),
        Some(action::ES4_ENABLE_PROFILE.request)
    );
    assert_eq!(
        wsa.reply_address().unwrap().base(),
        "http://mno.example/es4cb"
    );
    assert!(wsa.missing_required(MessageKind::Request).is_empty());
    assert_eq!(
        wsa.missing_required(MessageKind::Response),
        vec!["RelatesTo"]
    );
    let es4::Request::EnableProfile(m) = es4::Request::decode(env.body()).unwrap() else {
        panic!()
    };
    assert_eq!(m.iccid.to_string(), ICCID);
}

#[test]
fn question_mark_separators_of_sgp02_v4() {
    // KPN's documented From, and a movasim-style MessageID.
    let from = SgpUri::parse(
        "http://rsp.kpnthings.com?EntityId=1.3.6.1.4.1.6886?EntityName=KPN?X-KPN-ProviderEntityId=1.3.6.1.4.1.54008",
    );
    assert_eq!(from.base(), "http://rsp.kpnthings.com");
    assert_eq!(from.entity_id(), Some("1.3.6.1.4.1.6886"));
    assert_eq!(from.entity_name(), Some("KPN"));
    assert_eq!(
        from.param(&["X-KPN-ProviderEntityId"]),
        Some("1.3.6.1.4.1.54008")
    );
    assert_eq!(from.separator(), Some(QuerySeparator::Question));
    let mid = SgpUri::parse(
        "https://mno.example/MNO/es4?TransactionID=T-9?ContextID=C-1?MessageDate=2025-01-01T00:00:00Z",
    );
    assert_eq!(
        (mid.transaction_id(), mid.context_id()),
        (Some("T-9"), Some("C-1"))
    );
    assert_eq!(
        mid.to_uri(QuerySeparator::Ampersand),
        "https://mno.example/MNO/es4?TransactionID=T-9&ContextID=C-1&MessageDate=2025-01-01T00:00:00Z"
    );
    // Percent-encoded values are decoded.
    let u = SgpUri::parse("http://x?EntityName=ACME%20SM-DP&EntityId=1.2");
    assert_eq!(u.entity_name(), Some("ACME SM-DP"));
}

#[test]
fn message_id_and_entity_address_builders() {
    let date = ts("2025-03-04T05:06:07Z");
    assert_eq!(
        soap::message_id(
            "//1.3.6.1.4.1.31746.2/urn:uuid:0001",
            Some("urn:uuid:0002"),
            None,
            Some(&date),
            QuerySeparator::Ampersand
        ),
        "//1.3.6.1.4.1.31746.2/urn:uuid:0001?TransactionID=urn:uuid:0002&MessageDate=2025-03-04T05:06:07Z"
    );
    assert_eq!(
        soap::message_id(
            "urn:uuid:1",
            Some("T"),
            Some("C"),
            None,
            QuerySeparator::Question
        ),
        "urn:uuid:1?TransactionID=T?ContextID=C"
    );
    assert_eq!(
        soap::entity_address(
            "https://smsr.example/es3",
            SMSR_ID,
            Some("ACME SM-SR"),
            QuerySeparator::Ampersand
        ),
        "https://smsr.example/es3?EntityId=1.3.6.1.4.1.31746.2&EntityName=ACME%20SM-SR"
    );
}

#[test]
fn soap11_envelope_is_accepted_and_reported() {
    let xml = format!(
        "<s:Envelope xmlns:s=\"{SOAP11}\"><s:Header><a:Action xmlns:a=\"{WSA_NS}\" s:mustUnderstand=\"1\">urn:x</a:Action></s:Header>\
         <s:Body>{}</s:Body></s:Envelope>",
        enable_body("n")
    );
    let env = Envelope::parse(xml.as_bytes()).unwrap();
    assert_eq!(env.version(), SoapVersion::V1_1);
    assert_eq!(env.wsa().action.as_deref(), Some("urn:x"));
    assert!(es4::Request::decode(env.body()).is_ok());
    assert_eq!(
        SoapVersion::from_content_type("text/xml; charset=utf-8"),
        Some(SoapVersion::V1_1)
    );
    assert_eq!(
        SoapVersion::from_content_type("application/soap+xml;charset=utf-8;action=\"x\""),
        Some(SoapVersion::V1_2)
    );
}

#[test]
fn wsa_declared_on_the_header_and_default_namespaces() {
    // zeep's layout: wsa declared on the Header, the body in a default namespace.
    let xml = format!(
        "<soap-env:Envelope xmlns:soap-env=\"{SOAP12}\"><soap-env:Header xmlns:wsa=\"{WSA_NS}\">\
         <wsa:Action>urn:a</wsa:Action><wsa:MessageID>urn:uuid:1</wsa:MessageID><wsa:To>https://smsr.example/es4</wsa:To>\
         </soap-env:Header><soap-env:Body>\n  <ES4-GetEISRequest xmlns=\"{RPS_NS}\"><FunctionCallIdentifier>f</FunctionCallIdentifier>\
         <Eid>{EID}</Eid></ES4-GetEISRequest>\n</soap-env:Body></soap-env:Envelope>"
    );
    let env = Envelope::parse(xml.as_bytes()).unwrap();
    assert_eq!(
        env.wsa().to.as_ref().unwrap().as_str(),
        "https://smsr.example/es4"
    );
    assert_eq!(
        env.wsa().message_id.as_ref().unwrap().as_str(),
        "urn:uuid:1"
    );
    assert!(matches!(
        es4::Request::decode(env.body()).unwrap(),
        es4::Request::GetEis(_)
    ));
}

#[test]
fn malformed_xml_is_refused_with_a_position() {
    let xml = format!("<e:Envelope xmlns:e=\"{SOAP12}\">\n<e:Body><a></b></e:Body></e:Envelope>");
    let SoapError::Xml(e) = Envelope::parse(xml.as_bytes()).unwrap_err() else {
        panic!()
    };
    assert!(matches!(e.kind, XmlErrorKind::Malformed(_)), "{e}");
    assert_eq!(e.line, 2);
    // Truncated input.
    let SoapError::Xml(e) =
        Envelope::parse(format!("<e:Envelope xmlns:e=\"{SOAP12}\"><e:Body>").as_bytes())
            .unwrap_err()
    else {
        panic!()
    };
    assert!(
        matches!(
            e.kind,
            XmlErrorKind::UnexpectedEof(_) | XmlErrorKind::Malformed(_)
        ),
        "{e}"
    );
    // Undeclared prefix.
    let SoapError::Xml(e) = Envelope::parse(b"<e:Envelope/>").unwrap_err() else {
        panic!()
    };
    assert_eq!(e.kind, XmlErrorKind::UnboundPrefix("e".into()));
    // Not UTF-8.
    let SoapError::Xml(e) = Envelope::parse(b"<a>\xff</a>").unwrap_err() else {
        panic!()
    };
    assert_eq!(e.kind, XmlErrorKind::NotUtf8);
}

#[test]
fn doctype_dtd_and_entity_expansion_are_refused() {
    let billion_laughs = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n \
        <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n \
        <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n]>\n<lolz>&lol3;</lolz>";
    let SoapError::Xml(e) = Envelope::parse(billion_laughs.as_bytes()).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.kind, XmlErrorKind::DoctypeForbidden);
    assert_eq!(e.line, 2);
    let xxe = "<!DOCTYPE d [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><d>&x;</d>";
    let SoapError::Xml(e) = Envelope::parse(xxe.as_bytes()).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.kind, XmlErrorKind::DoctypeForbidden);
    // An entity reference without any DTD.
    let xml =
        format!("<e:Envelope xmlns:e=\"{SOAP12}\"><e:Body><a>&lol9;</a></e:Body></e:Envelope>");
    let SoapError::Xml(e) = Envelope::parse(xml.as_bytes()).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.kind, XmlErrorKind::UnknownEntity("lol9".into()));
    let xml =
        format!("<e:Envelope xmlns:e=\"{SOAP12}\"><e:Body><a b=\"&x;\"/></e:Body></e:Envelope>");
    let SoapError::Xml(e) = Envelope::parse(xml.as_bytes()).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.kind, XmlErrorKind::UnknownEntity("x".into()));
    // Processing instructions.
    let xml =
        format!("<e:Envelope xmlns:e=\"{SOAP12}\"><?evil x?><e:Body><a/></e:Body></e:Envelope>");
    let SoapError::Xml(e) = Envelope::parse(xml.as_bytes()).unwrap_err() else {
        panic!()
    };
    assert_eq!(
        e.kind,
        XmlErrorKind::ProcessingInstructionForbidden("evil".into())
    );
}

#[test]
fn depth_and_element_count_limits() {
    let deep = format!(
        "<e:Envelope xmlns:e=\"{SOAP12}\"><e:Body>{}{}</e:Body></e:Envelope>",
        "<a>".repeat(100),
        "</a>".repeat(100)
    );
    let SoapError::Xml(e) = Envelope::parse(deep.as_bytes()).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.kind, XmlErrorKind::TooDeep(64));
    // At the limit (Envelope and Body are levels 1 and 2) the envelope parses; one level more is refused.
    let nested = |levels: usize| {
        format!(
            "<e:Envelope xmlns:e=\"{SOAP12}\"><e:Body>{}{}</e:Body></e:Envelope>",
            "<a>".repeat(levels),
            "</a>".repeat(levels)
        )
    };
    assert!(Envelope::parse(nested(62).as_bytes()).is_ok());
    let SoapError::Xml(e) = Envelope::parse(nested(63).as_bytes()).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.kind, XmlErrorKind::TooDeep(64));
    let wide = format!(
        "<e:Envelope xmlns:e=\"{SOAP12}\"><e:Body><a>{}</a></e:Body></e:Envelope>",
        "<b/>".repeat(50)
    );
    let limits = ParseLimits {
        max_depth: 64,
        max_elements: 40,
    };
    let SoapError::Xml(e) = Envelope::parse_with(wide.as_bytes(), limits, &[]).unwrap_err() else {
        panic!()
    };
    assert_eq!(e.kind, XmlErrorKind::TooManyElements(40));
}

#[test]
fn envelope_structure_errors() {
    let e =
        Envelope::parse("<x:Envelope xmlns:x=\"urn:not-soap\"><x:Body/></x:Envelope>".as_bytes())
            .unwrap_err();
    assert!(matches!(e, SoapError::VersionMismatch(_)));
    assert_eq!(e.fault_code(), FaultCode::VersionMismatch);
    let e = Envelope::parse(format!("<e:Envelope xmlns:e=\"{SOAP12}\"/>").as_bytes()).unwrap_err();
    assert_eq!(e, SoapError::MissingBody);
    let e = Envelope::parse(
        format!("<e:Envelope xmlns:e=\"{SOAP12}\"><e:Body><a/><b/></e:Body></e:Envelope>")
            .as_bytes(),
    )
    .unwrap_err();
    assert_eq!(e, SoapError::BodyElementCount(2));
    let e = Envelope::parse(
        format!("<e:Envelope xmlns:e=\"{SOAP12}\"><e:Body/></e:Envelope>").as_bytes(),
    )
    .unwrap_err();
    assert_eq!(e, SoapError::BodyElementCount(0));
    assert_eq!(
        e.status_code_data().reason,
        Reason::MANDATORY_ELEMENT_MISSING
    );
    let dup = format!(
        "<e:Envelope xmlns:e=\"{SOAP12}\" xmlns:a=\"{WSA_NS}\"><e:Header><a:MessageID>1</a:MessageID><a:MessageID>2</a:MessageID>\
         </e:Header><e:Body><x/></e:Body></e:Envelope>"
    );
    assert!(
        matches!(Envelope::parse(dup.as_bytes()).unwrap_err(), SoapError::InvalidHeader { name, .. } if name == "MessageID")
    );
}

#[test]
fn must_understand_headers() {
    let xml = |role: &str| {
        format!(
            "<e:Envelope xmlns:e=\"{SOAP12}\"><e:Header><s:Security xmlns:s=\"urn:wsse\" e:mustUnderstand=\"true\"{role}/></e:Header>\
             <e:Body><x/></e:Body></e:Envelope>"
        )
    };
    let e = Envelope::parse(xml("").as_bytes()).unwrap_err();
    assert_eq!(e, SoapError::MustUnderstand("{urn:wsse}Security".into()));
    assert_eq!(e.fault_code(), FaultCode::MustUnderstand);
    let env = Envelope::parse_with(
        xml("").as_bytes(),
        ParseLimits::default(),
        &[("urn:wsse", "Security")],
    )
    .unwrap();
    assert_eq!(env.header_blocks().len(), 1);
    let none_role = xml(" e:role=\"http://www.w3.org/2003/05/soap-envelope/role/none\"");
    assert!(Envelope::parse(none_role.as_bytes()).is_ok());
}

#[test]
fn unknown_body_element_gets_a_sender_fault_with_function_execution_status() {
    let body = format!("<r:ES4-NoSuchFunctionRequest xmlns:r=\"{RPS_NS}\"/>");
    let env = Envelope::parse(gsoap_style(&body).as_bytes()).unwrap();
    let err = es4::Request::decode(env.body()).unwrap_err();
    assert_eq!(err.kind, DecodeErrorKind::UnknownBodyElement);
    let headers = OutgoingHeaders::reply(
        env.wsa(),
        "https://smsr.example/es4",
        "urn:uuid:f1".into(),
        soap::WSA_FAULT_ACTION,
    );
    assert_eq!(
        headers.to,
        "http://mno.example/es4cb?EntityId=1.3.6.1.4.1.10"
    );
    let fault_xml = soap::decode_error_fault(env.version(), &err, Some(&headers));
    let back = Envelope::parse(fault_xml.as_bytes()).unwrap();
    assert!(back.is_fault());
    assert_eq!(
        back.wsa().relates_to.as_deref(),
        env.wsa().message_id.as_ref().map(|m| m.as_str())
    );
    let fault = back.fault().unwrap();
    assert_eq!(fault.code, Some(FaultCode::Sender));
    assert_eq!(fault.code_text, "env:Sender");
    assert!(fault.reason.contains("ES4-NoSuchFunctionRequest"));
    let status = fault.status.unwrap();
    assert_eq!(status.status, Status::Failed);
    let data = status.status_code_data.unwrap();
    assert_eq!(
        (data.subject, data.reason),
        (Subject::FUNCTION, Reason::INVALID)
    );

    // SOAP 1.1 flavour, from a SoapError.
    let err = SoapError::BodyElementCount(2);
    let xml = err.to_fault(SoapVersion::V1_1, None);
    assert!(xml.contains(&format!("xmlns:env=\"{SOAP11}\"")));
    let f = Envelope::parse(xml.as_bytes()).unwrap().fault().unwrap();
    assert_eq!(
        (f.code, f.code_text.as_str()),
        (Some(FaultCode::Sender), "env:Client")
    );
    assert_eq!(
        f.status.unwrap().status_code_data.unwrap().reason,
        Reason::INVALID
    );
}

#[test]
fn our_envelopes_read_back_for_every_message() {
    for version in [SoapVersion::V1_2, SoapVersion::V1_1] {
        for sample in all_samples() {
            let name = sample.element_name();
            let actions =
                action::for_element(name).unwrap_or_else(|| panic!("no Action for {name}"));
            let headers = OutgoingHeaders {
                to: "https://peer.example/es?EntityId=1.3.6.1.4.1.31746.4".into(),
                from: Some("https://smsr.example/es?EntityId=1.3.6.1.4.1.31746.2".into()),
                reply_to: Some("https://smsr.example/cb".into()),
                message_id: soap::message_id(
                    "//1.3.6.1.4.1.31746.2/urn:uuid:7",
                    Some("T&1"),
                    None,
                    None,
                    QuerySeparator::Ampersand,
                ),
                action: actions.request.into(),
                relates_to: Some("urn:uuid:req".into()),
            };
            let xml = soap::envelope(version, &headers, |w| sample.write_body(w));
            let env = Envelope::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(env.version(), version);
            let wsa = env.wsa();
            assert_eq!(
                wsa.to.as_ref().unwrap().entity_id(),
                Some("1.3.6.1.4.1.31746.4")
            );
            assert_eq!(
                wsa.from.as_ref().unwrap().entity_id(),
                Some("1.3.6.1.4.1.31746.2")
            );
            assert_eq!(
                wsa.message_id.as_ref().unwrap().transaction_id(),
                Some("T&1")
            );
            assert_eq!(wsa.action.as_deref(), Some(actions.request));
            assert_eq!(wsa.relates_to.as_deref(), Some("urn:uuid:req"));
            assert_eq!(sample.decode_like(env.body()).unwrap(), sample, "{name}");
        }
    }
}

#[test]
fn mustunderstand_is_written_on_to_and_action() {
    let m = es3::GetEisRequest {
        base: req("DP-1"),
        eid: p(EID),
    };
    let headers = OutgoingHeaders {
        to: "https://smsr.example/es3".into(),
        from: Some("https://smdp.example?EntityId=1.3.6.1.4.1.31746.4".into()),
        reply_to: None,
        message_id: "urn:uuid:1".into(),
        action: action::ES3_GET_EIS.request.into(),
        relates_to: None,
    };
    let xml = soap::envelope_for(SoapVersion::V1_2, &headers, &m);
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?><env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:wsa=\"http://www.w3.org/2005/08/addressing\" xmlns:rps=\"http://namespaces.gsma.org/esim-messaging/3\"><env:Header>"));
    assert!(xml.contains("<wsa:To env:mustUnderstand=\"true\">https://smsr.example/es3</wsa:To>"));
    assert!(xml.contains("<wsa:Action env:mustUnderstand=\"true\">http://gsma.com/ES3/ProfileManagement/ES3-GetEISRequest</wsa:Action>"));
    assert!(xml.contains("<wsa:From><wsa:Address>https://smdp.example?EntityId=1.3.6.1.4.1.31746.4</wsa:Address></wsa:From>"));
    assert!(xml.contains("<env:Body><rps:ES3-GetEISRequest>"));
    // Our envelopes validate against the GSMA XSDs too (the body part).
    match testkit::validate_gsma_bodies(&[xml]) {
        Ok(_) => {}
        Err(report) => panic!("{report}"),
    }
}

#[test]
fn action_lookup_by_element() {
    assert_eq!(
        action::for_element("ES4-EnableProfileRequest"),
        Some(&action::ES4_ENABLE_PROFILE)
    );
    assert_eq!(
        action::for_element("ES4-EnableProfileResponse"),
        Some(&action::ES4_ENABLE_PROFILE)
    );
    assert_eq!(
        action::ES3_PROFILE_DOWNLOAD_COMPLETED.request,
        "http://gsma.com/ES3/ProfileManagement/ES3-ProfileDownloadedCompletedRequest"
    );
    assert_eq!(
        action::ES3_CREATE_ISDP.callback,
        Some("http://gsma.com/ES3/ProfileManagementCallBack/ES3-CreateISDP")
    );
    assert_eq!(action::for_element("ES9-Nothing"), None);
}
