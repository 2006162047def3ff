//! The XSD checker itself (testkit/py/xsd_validate.py) can fail: a valid envelope passes, and an invalid
//! WS-Addressing header, a header block nothing can check, an empty body, a Fault whose status is not a GSMA
//! ExecutionStatusType, an invalid body and a run with nothing to check are each refused.

const ENV: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing"
  xmlns:rps="http://namespaces.gsma.org/esim-messaging/3">
<env:Header>HEADER</env:Header><env:Body>BODY</env:Body></env:Envelope>"#;

const HEADER: &str = r#"<wsa:To env:mustUnderstand="true">https://smsr.example/ES4</wsa:To>
<wsa:MessageID>//1.3.6.1.4.1.99999.5/urn:uuid:1</wsa:MessageID>
<wsa:Action env:mustUnderstand="true">http://gsma.com/ES4/PlatformManagement/ES4-GetEISRequest</wsa:Action>"#;

const BODY: &str = r#"<rps:ES4-GetEISRequest><rps:FunctionCallIdentifier>x</rps:FunctionCallIdentifier>
<rps:Eid>89049032123451234512345678901235</rps:Eid></rps:ES4-GetEISRequest>"#;

fn envelope(header: &str, body: &str) -> String {
    ENV.replace("HEADER", header).replace("BODY", body)
}

fn fault(status: &str) -> String {
    format!(
        r#"<env:Fault><env:Code><env:Value>env:Sender</env:Value></env:Code>
<env:Reason><env:Text xml:lang="en">refused</env:Text></env:Reason>
<env:Detail><rps:FunctionExecutionStatus><rps:Status>{status}</rps:Status></rps:FunctionExecutionStatus></env:Detail>
</env:Fault>"#
    )
}

#[test]
fn the_xsd_checker_accepts_valid_messages_and_refuses_invalid_ones() {
    if testkit::gsma_xsd_dir().is_none() {
        eprintln!("GSMA XSDs not found (RSP_GSMA_XSD_DIR): skipped");
        return;
    }
    let check = |docs: &[String]| testkit::validate_gsma_bodies(docs);
    assert_eq!(check(&[envelope(HEADER, BODY)]), Ok(true));
    assert_eq!(check(&[envelope(HEADER, &fault("FAILED"))]), Ok(true));
    let bad = [
        (
            "a MessageID with element content",
            envelope(
                &HEADER.replace("urn:uuid:1</wsa:MessageID>", "<x/></wsa:MessageID>"),
                BODY,
            ),
        ),
        (
            "a header block of no known namespace",
            envelope(&format!("{HEADER}<o:Extra xmlns:o=\"urn:other\"/>"), BODY),
        ),
        ("an empty body", envelope(HEADER, "")),
        (
            "a fault status outside the enumeration",
            envelope(HEADER, &fault("Whatever")),
        ),
        (
            "a body missing its Eid",
            envelope(
                HEADER,
                &BODY.replace("<rps:Eid>89049032123451234512345678901235</rps:Eid>", ""),
            ),
        ),
    ];
    for (what, doc) in bad {
        assert!(check(&[doc]).is_err(), "{what} was accepted");
    }
    assert!(check(&[]).is_err(), "a run that checked nothing passed");
}
