//! Issue 10 items 2, 2b and 7b, end to end on `rsp serve`: a repeated FunctionCallIdentifier replays only the
//! same caller's same function with the same request (anything else under a used identifier is refused with
//! 1.6/3.3), read-only calls are not recorded, and requests without the mandatory WS-Addressing headers are
//! refused with a WS-Addressing fault before anything runs.

mod common;

use common::{Db, Lab, block_on, envelope, post, service_url, status_of};
use conformance::eum::{Es1Client, read_eis_document};
use es_interfaces::messages::codec::BodyElement;
use es_interfaces::messages::common::{BaseRequest, Pol2, Pol2Rule};
use es_interfaces::messages::es4;
use es_interfaces::soap::action;
use es_interfaces::types::{Pol2RuleAction, Pol2RuleQualification, Pol2RuleSubject};
use es_interfaces::wsdl::Service;

fn get_eis(fcid: &str, eid: &str) -> String {
    es4::GetEisRequest {
        base: BaseRequest::new(fcid.to_string()),
        eid: eid.parse().expect("eid"),
    }
    .to_xml()
}

fn update_policy_rules(fcid: &str, eid: &str, iccid: &str, action: Pol2RuleAction) -> String {
    es4::UpdatePolicyRulesRequest {
        base: BaseRequest::new(fcid.to_string()),
        eid: eid.parse().expect("eid"),
        iccid: iccid.parse().expect("iccid"),
        pol2: Pol2 {
            rules: vec![Pol2Rule {
                subject: Pol2RuleSubject::Profile,
                action,
                qualification: Pol2RuleQualification::NotAllowed,
            }],
        },
    }
    .to_xml()
}

struct Es4<'a> {
    lab: &'a Lab,
    url: String,
}

impl Es4<'_> {
    fn call(&self, mno: usize, action: &str, body: &str) -> (u16, String) {
        block_on(post(
            &self.lab.mno(mno),
            &self.url,
            envelope(&self.url, action, body),
        ))
    }

    /// The POL2 actions of `iccid` as GetEIS shows them to MNO 0.
    fn pol2_of(&self, eid: &str, iccid: &str) -> Vec<String> {
        let (_, body) = self.call(
            0,
            action::ES4_GET_EIS.request,
            &get_eis(&uuid::Uuid::new_v4().to_string(), eid),
        );
        let start = body
            .find(&format!("<rps:Iccid>{iccid}</rps:Iccid>"))
            .expect("profile in the EIS");
        let rest = &body[start..];
        let end = rest.find("</rps:ProfileInfo>").expect("end of profile");
        rest[..end]
            .split("<rps:Action>")
            .skip(1)
            .filter_map(|s| s.split('<').next())
            .map(str::to_string)
            .collect()
    }
}

fn function_call_identifiers(db: Db) {
    let mut lab = Lab::new(2, db);
    lab.start();
    let es1 = Es1Client::new(&lab.world, &lab.smsr_url).expect("ES1 client");
    let mut iccids = Vec::new();
    for i in 0..2 {
        let eis = read_eis_document(&common::eis_path(&lab.world, i)).expect("EIS");
        iccids.push(eis.profile_info[1].iccid.to_string());
        let r = block_on(es1.register(&eis, &format!("reg-{i}"))).expect("register");
        assert_eq!(
            r.response.base.function_execution_status.status.as_str(),
            "EXECUTED_SUCCESS"
        );
    }
    let eid0 = lab.world.euiccs[0].eid.clone();
    let eid1 = lab.world.euiccs[1].eid.clone();
    let es4 = Es4 {
        url: service_url(&lab.smsr_url, Service::Es4SmSr),
        lab: &lab,
    };
    let upr = action::ES4_UPDATE_POLICY_RULES.request;

    // 1. GetEIS then UpdatePolicyRules under one identifier: the update runs (it used to get the recorded
    //    ES4-GetEISResponse SUCCESS while nothing was applied).
    let (_, r) = es4.call(0, action::ES4_GET_EIS.request, &get_eis("x-1", &eid0));
    assert_eq!(status_of(&r).0, "EXECUTED_SUCCESS", "{r}");
    let (_, r) = es4.call(
        0,
        upr,
        &update_policy_rules("x-1", &eid0, &iccids[0], Pol2RuleAction::Delete),
    );
    assert!(r.contains("ES4-UpdatePolicyRulesResponse"), "{r}");
    assert_eq!(status_of(&r).0, "EXECUTED_SUCCESS", "{r}");
    assert_eq!(es4.pol2_of(&eid0, &iccids[0]), ["DELETE"]);

    // 2. The same request again: the recorded answer. DISABLE under the same identifier: refused 1.6/3.3 and
    //    nothing applied (it used to answer SUCCESS while the rules stayed DELETE).
    let (_, again) = es4.call(
        0,
        upr,
        &update_policy_rules("x-1", &eid0, &iccids[0], Pol2RuleAction::Delete),
    );
    assert_eq!(status_of(&again).0, "EXECUTED_SUCCESS", "{again}");
    let (status, r) = es4.call(
        0,
        upr,
        &update_policy_rules("x-1", &eid0, &iccids[0], Pol2RuleAction::Disable),
    );
    assert_eq!(status, 200, "{r}");
    assert!(r.contains("ES4-UpdatePolicyRulesResponse"), "{r}");
    let s = status_of(&r);
    assert_eq!(
        (s.0.as_str(), s.1.as_deref(), s.2.as_deref()),
        ("FAILED", Some("1.6"), Some("3.3")),
        "{r}"
    );
    assert_eq!(es4.pol2_of(&eid0, &iccids[0]), ["DELETE"]);
    // A GetEIS under the identifier of that recorded update is refused too, not answered with the update's
    // response.
    let (_, r) = es4.call(0, action::ES4_GET_EIS.request, &get_eis("x-1", &eid0));
    assert!(r.contains("ES4-GetEISResponse"), "{r}");
    assert_eq!(status_of(&r).1.as_deref(), Some("1.6"), "{r}");
    assert_eq!(status_of(&r).2.as_deref(), Some("3.3"), "{r}");

    // 3. GetEIS of eUICC 1 under eUICC 0's identifier: eUICC 1's EIS (it used to return eUICC 0's).
    let (_, r0) = es4.call(0, action::ES4_GET_EIS.request, &get_eis("g-1", &eid0));
    assert!(r0.contains(&eid0), "{r0}");
    let (_, r1) = es4.call(0, action::ES4_GET_EIS.request, &get_eis("g-1", &eid1));
    assert_eq!(status_of(&r1).0, "EXECUTED_SUCCESS", "{r1}");
    assert!(r1.contains(&eid1) && !r1.contains(&eid0), "{r1}");

    // Another caller's identifiers are its own: MNO 1 may use x-1 (and is refused for its own reasons only).
    let (_, r) = es4.call(
        1,
        upr,
        &update_policy_rules("x-1", &eid1, &iccids[1], Pol2RuleAction::Disable),
    );
    assert_ne!(status_of(&r).2.as_deref(), Some("3.3"), "{r}");

    // 7b. Requests without MessageID, To or From: a WS-Addressing fault, nothing executed.
    let full = envelope(
        &es4.url,
        upr,
        &update_policy_rules("h-1", &eid0, &iccids[0], Pol2RuleAction::Disable),
    );
    for (header, cut) in [
        ("MessageID", cut_element(&full, "wsa:MessageID")),
        ("To", cut_element(&full, "wsa:To")),
        ("From", cut_element(&full, "wsa:From")),
    ] {
        let (status, r) = block_on(post(&lab.mno(0), &es4.url, cut));
        assert_eq!(status, 400, "{header}: {r}");
        assert!(r.contains("wsa:MessageAddressingHeaderRequired"), "{r}");
        assert!(
            r.contains(&format!(
                "<wsa:ProblemHeaderQName>wsa:{header}</wsa:ProblemHeaderQName>"
            )),
            "{r}"
        );
        let s = status_of(&r);
        assert_eq!(
            (s.1.as_deref(), s.2.as_deref()),
            (Some("1.6"), Some("2.2")),
            "{r}"
        );
    }
    assert_eq!(es4.pol2_of(&eid0, &iccids[0]), ["DELETE"]);
    // The same request with every header runs.
    let (_, r) = block_on(post(&lab.mno(0), &es4.url, full));
    assert_eq!(status_of(&r).0, "EXECUTED_SUCCESS", "{r}");
    assert_eq!(es4.pol2_of(&eid0, &iccids[0]), ["DISABLE"]);
    common::assert_captured_valid(&lab);
}

/// `xml` without the element `qname` (its first occurrence, start tag to end tag).
fn cut_element(xml: &str, qname: &str) -> String {
    let start = xml.find(&format!("<{qname}>")).expect("element present");
    let close = format!("</{qname}>");
    let end = xml[start..].find(&close).expect("element closed") + start + close.len();
    format!("{}{}", &xml[..start], &xml[end..])
}

#[test]
fn function_call_identifiers_sqlite() {
    function_call_identifiers(Db::Sqlite);
}

#[test]
fn function_call_identifiers_postgres() {
    function_call_identifiers(Db::Postgres);
}
