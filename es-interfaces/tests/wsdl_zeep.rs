//! Python zeep, an independent SOAP client, against our generated WSDLs: it loads each WSDL, builds a request
//! envelope for every operation and every sample input (our `soap` and `messages` decoders must accept it and
//! yield the same value), and parses our encoded responses with the binding's `process_reply` (the value it
//! returns, rendered back by zeep, must decode to what we sent).

mod messages_support;

use std::fs;

use es_interfaces::soap::{self, Envelope, OutgoingHeaders, SoapVersion};
use es_interfaces::wsdl::{OperationKind, Service};
use es_interfaces::xml::Document;
use messages_support::*;

const FROM: &str = "https://mno.example.com/es?EntityId=1.3.6.1.4.1.31746.3";

#[test]
fn zeep_builds_requests_we_decode_and_parses_responses_we_encode() {
    let samples = all_samples();
    let dir = testkit::tempdir_in_tools("wsdl-zeep");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/zeep_roundtrip.py");
    let mut operations_checked = 0;
    for &service in Service::ALL {
        let address = format!("https://rsp.example.com{}", service.default_path());
        let wsdl_path = dir.join(format!("{}.wsdl", service.name()));
        fs::write(&wsdl_path, service.wsdl(&address)).unwrap();
        let mut requests = Vec::new();
        let mut expected_requests = Vec::new();
        let mut replies = Vec::new();
        let mut expected_replies = Vec::new();
        for op in service.operations() {
            let inputs: Vec<&Any> = samples
                .iter()
                .filter(|s| s.element_name() == op.input.element)
                .collect();
            assert!(!inputs.is_empty(), "no sample for {}", op.input.element);
            for s in inputs {
                let out = dir.join(format!("req-{}.xml", requests.len()));
                requests.push(serde_json::json!({
                    "operation": op.name, "body": s.to_xml(), "out": out.to_string_lossy(),
                }));
                expected_requests.push((op, s, out));
            }
            if let Some(output) = op.output {
                for s in samples
                    .iter()
                    .filter(|s| s.element_name() == output.element)
                {
                    let headers = OutgoingHeaders {
                        to: FROM.to_string(),
                        from: Some(address.clone()),
                        reply_to: None,
                        message_id:
                            "//1.3.6.1.4.1.31746.2/urn:uuid:4a1f0c2e-0000-4000-8000-000000000001"
                                .into(),
                        action: op.output_action().unwrap().to_string(),
                        relates_to: Some("urn:uuid:5b2e1d3f-0000-4000-8000-000000000002".into()),
                    };
                    let envelope = soap::envelope(SoapVersion::V1_2, &headers, |w| s.write_body(w));
                    let out = dir.join(format!("reply-{}.xml", replies.len()));
                    replies.push(serde_json::json!({
                        "operation": op.name, "element": output.element, "envelope": envelope,
                        "out": out.to_string_lossy(),
                    }));
                    expected_replies.push((s, out));
                }
            }
            operations_checked += 1;
        }
        let spec = dir.join(format!("{}.json", service.name()));
        fs::write(
            &spec,
            serde_json::json!({
                "wsdl": wsdl_path.to_string_lossy(), "from": FROM,
                "requests": requests, "replies": replies,
            })
            .to_string(),
        )
        .unwrap();
        let stdout = testkit::run_python(&script, &[spec.to_str().unwrap()]);

        for (op, sample, out) in expected_requests {
            let bytes = fs::read(&out).unwrap();
            let env = Envelope::parse(&bytes).unwrap_or_else(|e| {
                panic!("{}: {e}\n{}", op.name, String::from_utf8_lossy(&bytes))
            });
            assert_eq!(env.version(), SoapVersion::V1_2, "{}", op.name);
            let wsa = env.wsa();
            assert_eq!(
                wsa.action.as_deref(),
                Some(op.input_action()),
                "{}",
                op.name
            );
            assert_eq!(wsa.to.as_ref().map(|t| t.as_str()), Some(address.as_str()));
            let from = wsa.from.as_ref().expect("wsa:From");
            assert_eq!(from.entity_id(), Some("1.3.6.1.4.1.31746.3"));
            assert!(wsa.message_id.is_some());
            let kind = match op.kind {
                OperationKind::Function => soap::MessageKind::Request,
                OperationKind::Callback => soap::MessageKind::Response,
                OperationKind::Notification => soap::MessageKind::Notification,
            };
            let missing = wsa.missing_required(kind);
            if kind == soap::MessageKind::Response {
                assert_eq!(missing, vec!["RelatesTo"], "zeep adds no RelatesTo");
            } else {
                assert!(missing.is_empty(), "{}: {missing:?}", op.name);
            }
            let decoded = sample.decode_like(env.body()).unwrap_or_else(|e| {
                panic!("{}: {e}\n{}", op.name, String::from_utf8_lossy(&bytes))
            });
            assert_eq!(&decoded, sample, "{} through zeep", op.name);
        }
        for (sample, out) in expected_replies {
            let bytes = fs::read(&out).unwrap();
            let doc = Document::parse(&bytes).unwrap();
            let decoded = sample
                .decode_like(doc.root())
                .unwrap_or_else(|e| panic!("{e}\n{}", String::from_utf8_lossy(&bytes)));
            assert_eq!(&decoded, sample, "{} parsed by zeep", sample.element_name());
        }
        if service == Service::Es4SmSr {
            // zeep's own view of our GetEIS response: the EID and the profiles of the full EIS.
            let line = stdout
                .lines()
                .find(|l| l.contains("\"ES4-GetEIS\"") && l.contains("Eid"))
                .unwrap_or_else(|| panic!("no GetEIS reply summary in {stdout}"));
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["Status"], "EXECUTED_SUCCESS");
            assert_eq!(v["Eid"], EID);
            assert_eq!(v["Profiles"], serde_json::json!([ICCID, ICCID2]));
        }
    }
    assert_eq!(operations_checked, 1 + 7 + 11 + 11 + 9 + 7);
    let _ = fs::remove_dir_all(&dir);
}
