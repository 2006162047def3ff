//! Strict decoding: each bad input gives the exact error kind and names the element (SGP.02 §5.1.6.4 status
//! 1.6/2.2 for a missing element, 1.6/2.1 otherwise); the GSMA bundle's spelling inconsistencies are accepted on
//! input and the XSD name is emitted; exact encoding of a small message.

mod messages_support;

use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::{DecodeError, DecodeErrorKind, RPS_NS, es1, es2, es3, es4};
use es_interfaces::status::{Reason, Status, Subject};
use es_interfaces::types::KeyValue;
use es_interfaces::xml::Document;
use messages_support::*;

fn decode4(xml: &str) -> Result<es4::Request, DecodeError> {
    let doc = Document::parse(xml.as_bytes()).unwrap();
    es4::Request::decode(doc.root())
}

fn enable(inner: &str) -> String {
    format!(
        "<r:ES4-EnableProfileRequest xmlns:r=\"{RPS_NS}\">\
         <r:FunctionCallIdentifier>F1</r:FunctionCallIdentifier>{inner}</r:ES4-EnableProfileRequest>"
    )
}

#[test]
fn exact_encoding_of_an_enable_profile_request() {
    let m = es4::EnableProfileRequest {
        base: req("MNO-45"),
        eid: p(EID),
        iccid: p(ICCID),
    };
    assert_eq!(
        m.to_xml(),
        format!(
            "<rps:ES4-EnableProfileRequest xmlns:rps=\"{RPS_NS}\">\
             <rps:FunctionCallIdentifier>MNO-45</rps:FunctionCallIdentifier><rps:ValidityPeriod>86400</rps:ValidityPeriod>\
             <rps:Eid>{EID}</rps:Eid><rps:Iccid>{ICCID}</rps:Iccid></rps:ES4-EnableProfileRequest>"
        )
    );
}

#[test]
fn other_prefixes_default_namespace_and_whitespace_are_accepted() {
    let xml = format!(
        "<ES4-EnableProfileRequest xmlns=\"{RPS_NS}\">\n  <FunctionCallIdentifier>F1</FunctionCallIdentifier>\n  \
         <Eid> {} </Eid>\n  <Iccid>{ICCID}</Iccid>\n</ES4-EnableProfileRequest>",
        EID.to_lowercase()
    );
    let es4::Request::EnableProfile(m) = decode4(&xml).unwrap() else {
        panic!("wrong variant")
    };
    assert_eq!(m.eid.to_string(), EID, "EID printed upper case");
    assert_eq!(m.base.function_call_identifier, "F1");
    assert_eq!(m.base.validity_period, None);
}

#[test]
fn missing_mandatory_element_names_its_path() {
    let e = decode4(&enable(&format!("<r:Eid>{EID}</r:Eid>"))).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::MissingElement);
    assert_eq!(e.path, "ES4-EnableProfileRequest/Iccid");
    assert_eq!(e.element(), "Iccid");
    assert_eq!(e.function.as_deref(), Some("ES4-EnableProfileRequest"));
    let s = e.status_code_data();
    assert_eq!(
        (s.subject, s.reason),
        (Subject::FUNCTION, Reason::MANDATORY_ELEMENT_MISSING)
    );
    assert!(
        s.message
            .unwrap()
            .contains("ES4-EnableProfileRequest/Iccid")
    );
    assert_eq!(e.function_execution_status().status, Status::Failed);

    let no_fci = format!(
        "<r:ES4-GetEISRequest xmlns:r=\"{RPS_NS}\"><r:Eid>{EID}</r:Eid></r:ES4-GetEISRequest>"
    );
    let e = decode4(&no_fci).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::MissingElement);
    assert_eq!(e.path, "ES4-GetEISRequest/FunctionCallIdentifier");
    let e = decode4(&format!("<r:ES4-GetEISRequest xmlns:r=\"{RPS_NS}\"/>")).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::MissingElement);
    assert_eq!(e.path, "ES4-GetEISRequest/FunctionCallIdentifier");
}

#[test]
fn missing_element_deep_in_the_eis_names_the_full_path() {
    let good = es1::RegisterEisRequest {
        base: req("EUM-1"),
        eis: full_eis(),
    }
    .to_xml();
    let bad = good.replacen(&format!("<rps:Eid>{EID}</rps:Eid>"), "", 1);
    let doc = Document::parse(bad.as_bytes()).unwrap();
    let e = es1::Request::decode(doc.root()).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::MissingElement);
    assert_eq!(e.path, "ES1-RegisterEISRequest/Eis/EumSignedInfo/Eid");
    assert_eq!(e.function.as_deref(), Some("ES1-RegisterEISRequest"));

    // A key set must have at least one… key set: remove the ISD-R's key sets.
    let start = good.find("<rps:Isd-r>").unwrap();
    let ks = good[start..].find("<rps:Keyset>").unwrap() + start;
    let end = good[start..].find("</rps:Isd-r>").unwrap() + start;
    let bad = format!("{}{}", &good[..ks], &good[end..]);
    let doc = Document::parse(bad.as_bytes()).unwrap();
    let e = es1::Request::decode(doc.root()).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::MissingElement);
    assert_eq!(e.path, "ES1-RegisterEISRequest/Eis/Isd-r/Keyset");

    // Attribute missing on a key component.
    let bad = good.replacen(" type=\"88\"", "", 1);
    let doc = Document::parse(bad.as_bytes()).unwrap();
    let e = es1::Request::decode(doc.root()).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::MissingAttribute);
    assert_eq!(
        e.path,
        "ES1-RegisterEISRequest/Eis/Isd-r/Keyset/Key/KeyComponents/@type"
    );
}

#[test]
fn bad_eid_is_an_invalid_value_naming_the_element() {
    for bad in [
        &EID[..30],
        "8904903212345123451234567890123G",
        "89049032123451234512345678901235AB",
    ] {
        let e = decode4(&enable(&format!(
            "<r:Eid>{bad}</r:Eid><r:Iccid>{ICCID}</r:Iccid>"
        )))
        .unwrap_err();
        let DecodeErrorKind::InvalidValue(v) = &e.kind else {
            panic!("{e}")
        };
        assert_eq!(v.type_name, "EIDType");
        assert_eq!(e.path, "ES4-EnableProfileRequest/Eid");
        assert!(!e.to_string().contains(bad), "the value is not echoed: {e}");
        let s = e.status_code_data();
        assert_eq!((s.subject, s.reason), (Subject::FUNCTION, Reason::INVALID));
    }
}

#[test]
fn bad_iccid_is_an_invalid_value_naming_the_element() {
    for bad in [
        "1234567890123456789",
        "8944",
        "89441100123456789012345",
        "89441100A2345678901",
    ] {
        let e = decode4(&enable(&format!(
            "<r:Eid>{EID}</r:Eid><r:Iccid>{bad}</r:Iccid>"
        )))
        .unwrap_err();
        let DecodeErrorKind::InvalidValue(v) = &e.kind else {
            panic!("{e}")
        };
        assert_eq!(v.type_name, "ICCIDType");
        assert_eq!(e.path, "ES4-EnableProfileRequest/Iccid");
    }
}

#[test]
fn wrong_namespace_on_a_child_or_the_body_element() {
    let e = decode4(&enable(&format!(
        "<x:Eid xmlns:x=\"http://namespaces.gsma.org/esim-messaging/1\">{EID}</x:Eid><r:Iccid>{ICCID}</r:Iccid>"
    )))
    .unwrap_err();
    assert_eq!(
        e.kind,
        DecodeErrorKind::WrongNamespace {
            found: Some("http://namespaces.gsma.org/esim-messaging/1".into()),
            expected: RPS_NS.into()
        }
    );
    assert_eq!(e.path, "ES4-EnableProfileRequest/Eid");
    assert_eq!(e.status_code_data().reason, Reason::INVALID);

    // An unqualified child (no namespace at all).
    let e = decode4(&enable(&format!(
        "<Eid>{EID}</Eid><r:Iccid>{ICCID}</r:Iccid>"
    )))
    .unwrap_err();
    assert!(
        matches!(e.kind, DecodeErrorKind::WrongNamespace { found: None, .. }),
        "{e}"
    );

    let old = format!(
        "<ES4-EnableProfileRequest xmlns=\"http://namespaces.gsma.org/esim-messaging/1\">\
         <FunctionCallIdentifier>F</FunctionCallIdentifier><Eid>{EID}</Eid><Iccid>{ICCID}</Iccid></ES4-EnableProfileRequest>"
    );
    let e = decode4(&old).unwrap_err();
    assert!(matches!(e.kind, DecodeErrorKind::WrongNamespace { .. }));
    assert_eq!(e.path, "ES4-EnableProfileRequest");
    assert_eq!(
        e.function.as_deref(),
        Some("ES4-EnableProfileRequest"),
        "the function is still known"
    );
}

#[test]
fn unexpected_and_out_of_order_elements_and_text() {
    let e = decode4(&enable(&format!(
        "<r:Eid>{EID}</r:Eid><r:Iccid>{ICCID}</r:Iccid><r:Extra>1</r:Extra>"
    )))
    .unwrap_err();
    assert_eq!(
        (e.kind.clone(), e.path.as_str()),
        (
            DecodeErrorKind::UnexpectedElement,
            "ES4-EnableProfileRequest/Extra"
        )
    );

    let e = decode4(&enable(&format!(
        "<r:Iccid>{ICCID}</r:Iccid><r:Eid>{EID}</r:Eid>"
    )))
    .unwrap_err();
    assert_eq!(
        (e.kind.clone(), e.path.as_str()),
        (
            DecodeErrorKind::UnexpectedElement,
            "ES4-EnableProfileRequest/Iccid"
        )
    );

    let e = decode4(&enable(&format!(
        "<r:Eid>{EID}</r:Eid>stray<r:Iccid>{ICCID}</r:Iccid>"
    )))
    .unwrap_err();
    assert_eq!(
        (e.kind.clone(), e.path.as_str()),
        (DecodeErrorKind::UnexpectedText, "ES4-EnableProfileRequest")
    );

    let e = decode4(&enable(&format!(
        "<r:Eid><r:b/>{EID}</r:Eid><r:Iccid>{ICCID}</r:Iccid>"
    )))
    .unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::UnexpectedChildElement);

    let e = decode4(&enable(&format!(
        "<r:Eid a=\"1\">{EID}</r:Eid><r:Iccid>{ICCID}</r:Iccid>"
    )))
    .unwrap_err();
    assert_eq!(
        (e.kind.clone(), e.path.as_str()),
        (
            DecodeErrorKind::UnexpectedAttribute,
            "ES4-EnableProfileRequest/Eid/@a"
        )
    );

    let e = decode4(&enable(&format!(
        "<r:Eid>{EID}</r:Eid><r:Iccid>{ICCID}</r:Iccid><r:Iccid>{ICCID}</r:Iccid>"
    )))
    .unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::UnexpectedElement);
}

#[test]
fn unknown_body_element_is_reported_without_a_function() {
    let xml = format!("<r:ES4-FooRequest xmlns:r=\"{RPS_NS}\"/>");
    let e = decode4(&xml).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::UnknownBodyElement);
    assert_eq!(e.path, "ES4-FooRequest");
    assert_eq!(e.function, None);
    // An ES3 element is unknown to the ES4 decoder.
    let xml = format!(
        "<r:ES3-GetEISRequest xmlns:r=\"{RPS_NS}\"><r:FunctionCallIdentifier>x</r:FunctionCallIdentifier><r:Eid>{EID}</r:Eid></r:ES3-GetEISRequest>"
    );
    assert_eq!(
        decode4(&xml).unwrap_err().kind,
        DecodeErrorKind::UnknownBodyElement
    );
    let doc = Document::parse(xml.as_bytes()).unwrap();
    assert!(es3::Request::decode(doc.root()).is_ok());
}

#[test]
fn bundle_inconsistencies_are_accepted_and_the_xsd_name_is_emitted() {
    // ES2-DownloadProfileRequest: XSD says SmSr-id; accept Smsr-id.
    let xml = format!(
        "<r:ES2-DownloadProfileRequest xmlns:r=\"{RPS_NS}\"><r:FunctionCallIdentifier>F</r:FunctionCallIdentifier>\
         <r:Eid>{EID}</r:Eid><r:Smsr-id>{SMSR_ID}</r:Smsr-id><r:EnableProfile>1</r:EnableProfile></r:ES2-DownloadProfileRequest>"
    );
    let doc = Document::parse(xml.as_bytes()).unwrap();
    let es2::Request::DownloadProfile(m) = es2::Request::decode(doc.root()).unwrap() else {
        panic!()
    };
    assert!(m.enable_profile);
    let out = m.to_xml();
    assert!(
        out.contains("<rps:SmSr-id>1.3.6.1.4.1.31746.2</rps:SmSr-id>"),
        "{out}"
    );
    assert!(out.contains("<rps:EnableProfile>true</rps:EnableProfile>"));

    // ES2-GetEISRequest: XSD says Smsr-id; accept SmSr-id.
    let xml = format!(
        "<r:ES2-GetEISRequest xmlns:r=\"{RPS_NS}\"><r:FunctionCallIdentifier>F</r:FunctionCallIdentifier>\
         <r:Eid>{EID}</r:Eid><r:SmSr-id>{SMSR_ID}</r:SmSr-id></r:ES2-GetEISRequest>"
    );
    let doc = Document::parse(xml.as_bytes()).unwrap();
    let m = es2::GetEisRequest::decode_body(doc.root()).unwrap();
    assert!(m.to_xml().contains("<rps:Smsr-id>"));

    // ES2-HandleProfileEnabledNotification: XSD says completionTimestamp; accept CompletionTimestamp.
    let xml = format!(
        "<r:ES2-HandleProfileEnabledNotification xmlns:r=\"{RPS_NS}\"><r:Eid>{EID}</r:Eid><r:Iccid>{ICCID}</r:Iccid>\
         <r:CompletionTimestamp>2025-02-02T10:00:00Z</r:CompletionTimestamp></r:ES2-HandleProfileEnabledNotification>"
    );
    let doc = Document::parse(xml.as_bytes()).unwrap();
    let m = es2::HandleProfileEnabledNotification::decode_body(doc.root()).unwrap();
    assert!(
        m.to_xml()
            .contains("<rps:completionTimestamp>2025-02-02T10:00:00Z</rps:completionTimestamp>")
    );
    // …and the reverse for ES2-HandleProfileDisabledNotification.
    let xml = xml
        .replace("Enabled", "Disabled")
        .replace("CompletionTimestamp", "completionTimestamp");
    let doc = Document::parse(xml.as_bytes()).unwrap();
    let m = es2::HandleProfileDisabledNotification::decode_body(doc.root()).unwrap();
    assert!(m.to_xml().contains("<rps:CompletionTimestamp>"));
}

#[test]
fn empty_pol2_round_trips() {
    let mut eis = full_eis();
    eis.profile_info[0].pol2.rules.clear();
    let m = es4::GetEisResponse {
        base: ok(),
        eis: Some(eis),
    };
    let xml = m.to_xml();
    assert!(xml.contains("<rps:pol2/>"));
    let doc = Document::parse(xml.as_bytes()).unwrap();
    assert_eq!(es4::GetEisResponse::decode_body(doc.root()).unwrap(), m);
}

#[test]
fn eum_signature_content_is_checked_and_kept() {
    let sig = eum_signature();
    assert_eq!(sig.children_xml().len(), 3);
    assert!(sig.children_xml()[0].starts_with("<ds:SignedInfo xmlns:ds="));
    // SignatureValue before SignedInfo.
    let e = es_interfaces::messages::eis::EumSignature::from_children_xml(
        None,
        &format!("<ds:SignatureValue xmlns:ds=\"{DS}\">AA==</ds:SignatureValue>"),
    )
    .unwrap_err();
    assert_eq!(
        (e.kind, e.path.as_str()),
        (DecodeErrorKind::MissingElement, "EumSignature/SignedInfo")
    );
    // Not XML-DSig.
    let e = es_interfaces::messages::eis::EumSignature::from_children_xml(None, "<SignedInfo/>")
        .unwrap_err();
    assert!(matches!(e.kind, DecodeErrorKind::WrongNamespace { .. }));
}

#[test]
fn key_values_are_redacted_in_debug_output() {
    let eis = full_eis();
    let dbg = format!("{eis:?}");
    assert!(
        !dbg.contains("00112233445566778899AABBCCDDEEFF"),
        "key leaked in Debug"
    );
    assert!(dbg.contains("[redacted]"));
    let k: KeyValue = "00112233".parse().unwrap();
    assert_eq!(format!("{k:?}"), "KeyValue([redacted])");
}

#[test]
fn a_bad_request_is_answered_with_its_functions_failed_response() {
    let e = decode4(&enable(&format!("<r:Eid>{EID}</r:Eid>"))).unwrap_err();
    let function = e.function.clone().unwrap();
    let resp = es4::Response::failed(&function, e.function_execution_status()).unwrap();
    let es4::Response::EnableProfile(r) = &resp else {
        panic!("{resp:?}")
    };
    assert_eq!(r.base.function_execution_status.status, Status::Failed);
    assert_eq!(r.euicc_response_data, None);

    // Every function gets one (CreateISDP too, its Isd-p-aid the ISD-R AID standing for "no ISD-P" [P]), and it
    // validates.
    let status = e.function_execution_status();
    let mut xml = Vec::new();
    let mut none = Vec::new();
    macro_rules! collect {
        ($m:ident) => {
            for el in $m::Request::ELEMENTS {
                match $m::Response::failed(el, status.clone()) {
                    Some(r) => {
                        assert_eq!(
                            r.element_name().trim_end_matches("Response"),
                            el.trim_end_matches("Request")
                        );
                        xml.push(r.to_xml());
                    }
                    None => none.push(*el),
                }
            }
        };
    }
    collect!(es1);
    collect!(es2);
    collect!(es3);
    collect!(es4);
    use es_interfaces::messages::es7;
    collect!(es7);
    // ES7.AuthenticateSMSR and CreateAdditionalKeySet too: their mandatory RandomChallenge, DerivationRandom and
    // Receipt are empty hexBinary in a FAILED response.
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(es4::Response::failed("ES4-FooRequest", status), None);
    match testkit::validate_gsma_bodies(&xml) {
        Ok(_) => {}
        Err(report) => panic!("{report}"),
    }
}
