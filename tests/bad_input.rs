//! Bad input on the ES interfaces (foundation issue, item 7): each case answers with a SOAP response or fault
//! carrying FAILED and 1.6/2.1 or 1.6/2.2 naming the element, never a 500 or a stack trace; oversized bodies get
//! 413; DTDs and entity expansion are refused; nothing stored changes.

mod common;

use common::{Db, Lab, block_on, envelope, post, service_url, status_of};
use conformance::eum::{Es1Client, read_eis_document};
use es_interfaces::soap::action;
use es_interfaces::wsdl::Service;

const RPS: &str = "http://namespaces.gsma.org/esim-messaging/3";

fn get_eis(eid: &str) -> String {
    format!(
        "<rps:ES4-GetEISRequest xmlns:rps=\"{RPS}\"><rps:FunctionCallIdentifier>{}</rps:FunctionCallIdentifier>\
         <rps:Eid>{eid}</rps:Eid></rps:ES4-GetEISRequest>",
        uuid::Uuid::new_v4()
    )
}

#[test]
fn bad_input_is_refused_with_status_codes_and_nothing_changes() {
    let mut lab = Lab::new(2, Db::Sqlite);
    lab.max_body = 64 * 1024;
    lab.start();
    let es1_client = Es1Client::new(&lab.world, &lab.smsr_url).expect("ES1 client");
    let eis0 = read_eis_document(&common::eis_path(&lab.world, 0)).expect("EIS");
    let r = block_on(es1_client.register(&eis0, "reg-0")).expect("register");
    assert_eq!(
        r.response.base.function_execution_status.status.as_str(),
        "EXECUTED_SUCCESS"
    );
    let eid0 = lab.world.euiccs[0].eid.clone();
    let eid1 = lab.world.euiccs[1].eid.clone();
    let es4 = service_url(&lab.smsr_url, Service::Es4SmSr);
    let es1 = service_url(&lab.smsr_url, Service::Es1SmSr);
    let mno = lab.mno(0);
    let eum = lab.eum();
    let snapshot = || {
        block_on(post(
            &mno,
            &es4,
            envelope(&es4, action::ES4_GET_EIS.request, &get_eis(&eid0)),
        ))
    };
    let strip = |x: String| x[x.find("<rps:ES4-GetEISResponse").expect("response")..].to_string();
    let before = strip(snapshot().1);

    let expect =
        |(status, body): (u16, String), http: u16, subject: &str, reason: &str, names: &str| {
            assert_eq!(status, http, "{body}");
            let s = status_of(&body);
            assert_eq!(s.0, "FAILED", "{body}");
            assert_eq!(
                (s.1.as_deref(), s.2.as_deref()),
                (Some(subject), Some(reason)),
                "{body}"
            );
            assert!(
                body.contains(names),
                "the answer does not name {names}: {body}"
            );
            assert!(
                !body.contains("panicked") && !body.contains("backtrace"),
                "{body}"
            );
        };

    // Malformed XML: a Sender fault carrying 1.6/2.1.
    expect(
        block_on(post(&mno, &es4, "<env:Envelope><oops".into())),
        400,
        "1.6",
        "2.1",
        "Fault",
    );
    // Unknown body element.
    expect(
        block_on(post(
            &mno,
            &es4,
            envelope(
                &es4,
                "x",
                &format!("<rps:ES4-FrobnicateRequest xmlns:rps=\"{RPS}\"/>"),
            ),
        )),
        400,
        "1.6",
        "2.1",
        "ES4-FrobnicateRequest",
    );
    // Missing mandatory element: the function's own response, FAILED 1.6/2.2 naming Eid.
    expect(
        block_on(post(
            &mno,
            &es4,
            envelope(
                &es4,
                action::ES4_GET_EIS.request,
                &format!(
                    "<rps:ES4-GetEISRequest xmlns:rps=\"{RPS}\"><rps:FunctionCallIdentifier>m</rps:FunctionCallIdentifier>\
                     </rps:ES4-GetEISRequest>"
                ),
            ),
        )),
        200,
        "1.6",
        "2.2",
        "Eid",
    );
    // Wrong namespace of the body element (the function is recognised by name: its response, FAILED 1.6/2.1).
    expect(
        block_on(post(
            &mno,
            &es4,
            envelope(
                &es4,
                action::ES4_GET_EIS.request,
                "<x:ES4-GetEISRequest xmlns:x=\"urn:wrong\"><x:FunctionCallIdentifier>n</x:FunctionCallIdentifier>\
                 <x:Eid>00</x:Eid></x:ES4-GetEISRequest>",
            ),
        )),
        200,
        "1.6",
        "2.1",
        "urn:wrong",
    );
    // Wrong namespace of a child element.
    expect(
        block_on(post(
            &mno,
            &es4,
            envelope(
                &es4,
                action::ES4_GET_EIS.request,
                &format!(
                    "<rps:ES4-GetEISRequest xmlns:rps=\"{RPS}\"><rps:FunctionCallIdentifier>c</rps:FunctionCallIdentifier>\
                     <Eid xmlns=\"urn:wrong\">{eid0}</Eid></rps:ES4-GetEISRequest>"
                ),
            ),
        )),
        200,
        "1.6",
        "2.1",
        "Eid",
    );
    // Bad simple type: an EID that is not 16 bytes of hex.
    expect(
        block_on(post(
            &mno,
            &es4,
            envelope(&es4, action::ES4_GET_EIS.request, &get_eis("XYZ")),
        )),
        200,
        "1.6",
        "2.1",
        "Eid",
    );
    // A bad ICCID inside an EIS sent to ES1: the ES1 response, FAILED 1.6/2.1 naming Iccid; nothing stored.
    let eis1 = read_eis_document(&common::eis_path(&lab.world, 1)).expect("EIS");
    let good = es1_client.envelope(&eis1, "bad-iccid");
    let iccid = eis1.profile_info[0].iccid.to_string();
    let bad = good.replacen(&format!(">{iccid}<"), ">12345<", 1);
    assert_ne!(bad, good);
    expect(block_on(post(&eum, &es1, bad)), 200, "1.6", "2.1", "Iccid");
    // A DTD with entity expansion (billion laughs) and an external entity: refused before anything runs.
    let laughs = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>{}",
        envelope(&es4, action::ES4_GET_EIS.request, &get_eis("&lol2;"))
    );
    expect(
        block_on(post(&mno, &es4, laughs)),
        400,
        "1.6",
        "2.1",
        "Fault",
    );
    let xxe = format!(
        "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>{}",
        envelope(&es4, action::ES4_GET_EIS.request, &get_eis("&x;"))
    );
    let (st, body) = block_on(post(&mno, &es4, xxe));
    assert_eq!(st, 400, "{body}");
    assert!(!body.contains("root:"), "external entity resolved: {body}");
    // An entity reference without a DTD.
    expect(
        block_on(post(
            &mno,
            &es4,
            envelope(&es4, action::ES4_GET_EIS.request, &get_eis("&undefined;")),
        )),
        400,
        "1.6",
        "2.1",
        "Fault",
    );
    // A body over the configured limit: 413.
    let huge = envelope(
        &es4,
        action::ES4_GET_EIS.request,
        &format!("<!--{}-->{}", "x".repeat(70 * 1024), get_eis(&eid0)),
    );
    let (st, _) = block_on(post(&mno, &es4, huge));
    assert_eq!(st, 413);
    // Not SOAP at all.
    expect(
        block_on(post(&mno, &es4, "<html/>".into())),
        400,
        "1.6",
        "2.1",
        "Fault",
    );

    // Nothing stored changed: the registered EIS is the same, the refused one is unknown.
    assert_eq!(strip(snapshot().1), before);
    let (_, unknown) = block_on(post(
        &mno,
        &es4,
        envelope(&es4, action::ES4_GET_EIS.request, &get_eis(&eid1)),
    ));
    let s = status_of(&unknown);
    assert_eq!(
        (s.1.as_deref(), s.2.as_deref()),
        (Some("8.1.1"), Some("3.9")),
        "{unknown}"
    );
    common::assert_captured_valid(&lab);
}

/// Issue 10 item 1: ES3.UpdateConnectivityParameters carrying `AE 80` nested 20,000 times (80 KB, under the body
/// limit) from the profile's own SM-DP used to overflow the request thread's stack and abort both servers. It is
/// now refused with FAILED 1.6/2.1 naming ConnectivityParameters, and the server keeps serving.
#[test]
fn deeply_nested_connectivity_parameters_are_refused_and_the_server_keeps_serving() {
    let mut lab = Lab::new(1, Db::Sqlite);
    lab.start();
    let es1_client = Es1Client::new(&lab.world, &lab.smsr_url).expect("ES1 client");
    let mut eis0 = read_eis_document(&common::eis_path(&lab.world, 0)).expect("EIS");
    // The profile at issuance, as if this SM-DP had downloaded it (ProfileInfo is outside the EUM's signature).
    let smdp_oid = lab.world.manifest.sm_dp.oid.clone();
    let profile = eis0
        .profile_info
        .first_mut()
        .expect("a profile at issuance");
    profile.smdp_id = Some(smdp_oid.parse().expect("oid"));
    let iccid = profile.iccid.to_string();
    let r = block_on(es1_client.register(&eis0, "reg-nested")).expect("register");
    assert_eq!(
        r.response.base.function_execution_status.status.as_str(),
        "EXECUTED_SUCCESS"
    );
    let eid0 = lab.world.euiccs[0].eid.clone();
    let es3 = service_url(&lab.smsr_url, Service::Es3SmSr);
    let mut hostile = "AE80".repeat(20_000);
    hostile.push_str("0000");
    let body = format!(
        "<rps:ES3-UpdateConnectivityParametersRequest xmlns:rps=\"{RPS}\">\
         <rps:FunctionCallIdentifier>nested-1</rps:FunctionCallIdentifier><rps:Eid>{eid0}</rps:Eid>\
         <rps:Iccid>{iccid}</rps:Iccid><rps:ConnectivityParameters>{hostile}</rps:ConnectivityParameters>\
         </rps:ES3-UpdateConnectivityParametersRequest>"
    );
    let (status, answer) = block_on(post(
        &lab.smdp_client(),
        &es3,
        envelope(
            &es3,
            action::ES3_UPDATE_CONNECTIVITY_PARAMETERS.request,
            &body,
        ),
    ));
    assert_eq!(status, 200, "{answer}");
    let s = status_of(&answer);
    assert_eq!(
        (s.0.as_str(), s.1.as_deref(), s.2.as_deref()),
        ("FAILED", Some("1.6"), Some("2.1")),
        "{answer}"
    );
    assert!(answer.contains("ConnectivityParameters"), "{answer}");
    assert!(answer.contains("nests deeper"), "{answer}");
    // Still serving.
    let (_, eis) = block_on(post(
        &lab.mno(0),
        &service_url(&lab.smsr_url, Service::Es4SmSr),
        envelope(
            &service_url(&lab.smsr_url, Service::Es4SmSr),
            action::ES4_GET_EIS.request,
            &get_eis(&eid0),
        ),
    ));
    assert_eq!(status_of(&eis).0, "EXECUTED_SUCCESS", "{eis}");
}
