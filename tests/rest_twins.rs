//! The REST twins of ES4 (SM-SR) and ES2 (SM-DP) for MNOs, against the SOAP endpoints in one lab (simulated
//! eUICCs over SMS), on SQLite and PostgreSQL: the same scenario over both transports gives the same results —
//! GetEIS, EnableProfile to the end, AuditEIS, UpdatePolicyRules (and the POL2 refusal it causes),
//! UpdateSubscriptionAddress, ES2.GetEIS, ES2.UpdatePolicyRules and ES2.UpdateSubscriptionAddress (relayed over
//! ES3; another MNO refused alike), an unknown EID (8.1.1/3.9 in problem+json), the
//! function-call record shared by both (an Idempotency-Key repeat answered from it, a reused key refused with
//! 1.6/3.3) — and another MNO sees none of it. Then schemathesis (PyPI) runs against each served OpenAPI
//! document (SM-SR and SM-DP `/api/v1` with the MNO's client certificate, ESM2M with a bearer token of every
//! scope), also on
//! both backends, with at most 25 examples per operation.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use es_interfaces::messages::{es2, es4};
use es_interfaces::rest::XsdShape;
use es_interfaces::soap::Envelope;
use es_interfaces::status::Status;
use es_interfaces::wsdl::Service;
use rsp::lab::Lab;
use serde_json::{Value, json};
use support::*;

const NO_SUCH_EID: &str = "89049032000000000000000000000999";

/// A reqwest client presenting MNO `i`'s TLS client certificate.
fn mno_http(lab: &Lab, i: usize) -> reqwest::Client {
    let (cert, key, ca) = mno_files(lab, i);
    let read = |p: &Path| std::fs::read(p).expect("read PKI file");
    reqwest::Client::builder()
        .tls_backend_native()
        .identity(reqwest::Identity::from_pkcs8_pem(&read(&cert), &read(&key)).expect("identity"))
        .add_root_certificate(reqwest::Certificate::from_pem(&read(&ca)).expect("CA"))
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// MNO `i`'s client certificate and key, and the TLS CA.
fn mno_files(lab: &Lab, i: usize) -> (PathBuf, PathBuf, PathBuf) {
    let m = &lab.world.manifest;
    (
        lab.world.dir.join(&m.mnos[i].tls_client.cert),
        lab.world.dir.join(&m.mnos[i].tls_client.key),
        lab.world.dir.join(&m.tls_ca.cert),
    )
}

/// A REST answer: status, content type, JSON body, Location.
struct Answer {
    status: u16,
    ctype: String,
    body: Value,
    location: Option<String>,
}

async fn send(r: reqwest::RequestBuilder) -> Answer {
    let resp = r.send().await.expect("request");
    let status = resp.status().as_u16();
    let header = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let ctype = header("content-type").unwrap_or_default();
    let location = header("location");
    let text = resp.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    Answer {
        status,
        ctype,
        body,
        location,
    }
}

/// The JSON view of a SOAP response body (or callback), without its status and processing times.
fn soap_json(envelope: &str) -> Value {
    let env = Envelope::parse(envelope.as_bytes()).expect("envelope");
    let shape = XsdShape::of(&[Service::Es4SmSr, Service::Es2SmDp]);
    strip_times(shape.to_json(env.body(), &["FunctionExecutionStatus"]))
}

/// Without the processing times (they differ between two calls); a bare status is the empty object.
fn strip_times(v: Value) -> Value {
    match v {
        Value::Object(mut o) => {
            o.remove("ProcessingStart");
            o.remove("ProcessingEnd");
            Value::Object(o)
        }
        _ => json!({}),
    }
}

/// `(subject, reason)` of a problem's `sgp02Status`.
fn codes(a: &Answer) -> (String, String) {
    assert_eq!(a.ctype, "application/problem+json", "{}", a.body);
    assert_eq!(a.body["status"], a.status, "{}", a.body);
    let s = &a.body["sgp02Status"];
    (
        s["subjectCode"].as_str().expect("subjectCode").to_string(),
        s["reasonCode"].as_str().expect("reasonCode").to_string(),
    )
}

/// The SOAP status codes `(status, subject, reason, message)`.
fn soap_codes(out: &conformance::mno::CallOutcome) -> (Status, String, String, Option<String>) {
    let s = out.status().expect("a status");
    let d = s.status_code_data.expect("status code data");
    (
        s.status,
        d.subject.code().to_string(),
        d.reason.code().to_string(),
        d.message,
    )
}

/// Reads the function call at `location` until it has completed.
/// The `ProfileInfo` of `iccid` in a GetEIS answer read over REST.
fn profile_in(view: &Value, iccid: &str) -> Value {
    view["response"]["Eis"]["ProfileInfo"]
        .as_array()
        .expect("ProfileInfo")
        .iter()
        .find(|p| p["Iccid"] == iccid)
        .cloned()
        .expect("the profile in the EIS")
}

async fn completed(http: &reqwest::Client, base: &str, location: &str) -> Value {
    for _ in 0..600 {
        let a = send(http.get(format!("{base}{location}"))).await;
        assert_eq!(a.status, 200, "{}", a.body);
        if a.body["state"] == "Completed" {
            return a.body;
        }
        assert_eq!(a.body["state"], "InProgress", "{}", a.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{location} did not complete");
}

async fn scenario(lab: &Lab) {
    let mno = lab.mno(0).expect("mno");
    let http = mno_http(lab, 0);
    let other = mno_http(lab, 1);
    let (sr, dp) = (lab.smsr_url().to_string(), lab.smdp_url().to_string());
    let (e0, e1) = (eid(lab, 0), eid(lab, 1));
    let p2_0 = iccid(lab, 0, 1);
    let p2_1 = iccid(lab, 1, 1);

    // ES4.GetEIS: the same EIS over both transports.
    let soap = call(
        &mno,
        &es4::GetEisRequest {
            base: conformance::mno::base("get-0", None),
            eid: e0.parse().expect("eid"),
        },
    )
    .await;
    assert_eq!(soap.http_status, 200, "{}", soap.envelope);
    let rest = send(http.get(format!("{sr}/api/v1/euiccs/{e0}"))).await;
    assert_eq!(rest.status, 200, "{}", rest.body);
    assert_eq!(rest.ctype, "application/json");
    assert_eq!(rest.body["function"], "ES4.GetEIS");
    assert_eq!(rest.body["executionStatus"], "EXECUTED_SUCCESS");
    assert_eq!(
        strip_times(rest.body["response"].clone()),
        soap_json(&soap.envelope)
    );
    let profiles: Vec<&str> = rest.body["response"]["Eis"]["ProfileInfo"]
        .as_array()
        .expect("ProfileInfo is an array")
        .iter()
        .map(|p| p["Iccid"].as_str().expect("Iccid"))
        .collect();
    assert!(profiles.contains(&p2_0.as_str()), "{profiles:?}");

    // An unknown EID: 8.1.1/3.9 both ways, with the same message; on GetEIS and on EnableProfile.
    let soap = call(
        &mno,
        &es4::GetEisRequest {
            base: conformance::mno::base("get-unknown", None),
            eid: NO_SUCH_EID.parse().expect("eid"),
        },
    )
    .await;
    let (st, subject, reason, message) = soap_codes(&soap);
    assert_eq!(
        (st, subject.as_str(), reason.as_str()),
        (Status::Failed, "8.1.1", "3.9")
    );
    let rest = send(http.get(format!("{sr}/api/v1/euiccs/{NO_SUCH_EID}"))).await;
    assert_eq!(rest.status, 404, "{}", rest.body);
    assert_eq!(codes(&rest), (subject.clone(), reason.clone()));
    assert_eq!(
        rest.body["sgp02Status"]["message"].as_str(),
        message.as_deref()
    );
    assert_eq!(rest.body["executionStatus"], "FAILED");
    let soap = call(&mno, &enable(NO_SUCH_EID, &p2_0, "enable-unknown", None)).await;
    assert_eq!(soap.http_status, 200, "{}", soap.envelope);
    let (_, subject, reason, _) = soap_codes(&soap);
    let rest = send(
        http.post(format!(
            "{sr}/api/v1/euiccs/{NO_SUCH_EID}/profiles/{p2_0}/enable"
        ))
        .header("Idempotency-Key", "rest-enable-unknown")
        .json(&json!({})),
    )
    .await;
    assert_eq!(rest.status, 404, "{}", rest.body);
    assert_eq!(codes(&rest), (subject, reason));
    assert_eq!(rest.body["functionCallIdentifier"], "rest-enable-unknown");

    // ES4.EnableProfile of P2: over SOAP on eUICC 0 (callback to ReplyTo), over REST on eUICC 1 (202, the
    // result read from the function call; no ReplyTo given, so no callback).
    let soap = call(&mno, &enable(&e0, &p2_0, "soap-enable", None)).await;
    assert_eq!(soap.http_status, 202, "{}", soap.envelope);
    let cb = callback(lab, 0, &soap, 60).await;
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    let rest = send(
        http.post(format!("{sr}/api/v1/euiccs/{e1}/profiles/{p2_1}/enable"))
            .header("Idempotency-Key", "rest-enable")
            .json(&json!({"validityPeriod": 600})),
    )
    .await;
    assert_eq!(rest.status, 202, "{}", rest.body);
    assert_eq!(rest.body["state"], "InProgress");
    let location = rest.location.clone().expect("Location");
    assert_eq!(rest.body["location"], location.as_str());
    assert_eq!(location, "/api/v1/function-calls/rest-enable");
    let done = completed(&http, &sr, &location).await;
    assert_eq!(done["executionStatus"], "EXECUTED_SUCCESS", "{done}");
    assert_eq!(done["function"], "ES4.EnableProfile");
    assert_eq!(
        strip_times(done["response"].clone()),
        soap_json(&cb.envelope)
    );
    notification(lab, 0, "ES4-HandleProfileEnabledNotification", &p2_1, 0).await;
    for e in [&e0, &e1] {
        let states = profile_states(lab, e);
        assert_eq!(
            states[1].1,
            eis_store::eis::ProfileState::Enabled,
            "{e}: {states:?}"
        );
    }

    // The record is shared: the SOAP call is readable as a function call, and a repeat of either answers from
    // the record (200, the final response) without running again.
    let soap_call = completed(&http, &sr, "/api/v1/function-calls/soap-enable").await;
    assert_eq!(soap_call["executionStatus"], "EXECUTED_SUCCESS");
    assert_eq!(
        strip_times(soap_call["response"].clone()),
        soap_json(&cb.envelope)
    );
    let again = call(&mno, &enable(&e0, &p2_0, "soap-enable", None)).await;
    assert_eq!(again.http_status, 200);
    assert_status(again.status(), Status::ExecutedSuccess, None);
    let rest_again = send(
        http.post(format!("{sr}/api/v1/euiccs/{e1}/profiles/{p2_1}/enable"))
            .header("Idempotency-Key", "rest-enable")
            .json(&json!({"validityPeriod": 600})),
    )
    .await;
    assert_eq!(rest_again.status, 200, "{}", rest_again.body);
    assert_eq!(rest_again.body["executionStatus"], "EXECUTED_SUCCESS");
    assert_eq!(rest_again.body["response"], done["response"]);
    assert_eq!(
        strip_times(rest_again.body["response"].clone()),
        soap_json(&again.envelope)
    );
    let enables = lab
        .smsr
        .store
        .conn()
        .map(|mut c| eis_store::operations::all_of(&mut c, &e1).expect("operations"))
        .expect("conn")
        .iter()
        .filter(|o| o.kind == "EnableProfile")
        .count();
    assert_eq!(enables, 1, "the repeat did not start a second operation");

    // The same key for another request: 1.6/3.3 both ways, nothing run.
    let soap = call(&mno, &disable(&e0, &p2_0, "soap-enable")).await;
    let (st, subject, reason, _) = soap_codes(&soap);
    assert_eq!(
        (st, subject.as_str(), reason.as_str()),
        (Status::Failed, "1.6", "3.3")
    );
    let rest = send(
        http.post(format!("{sr}/api/v1/euiccs/{e1}/profiles/{p2_1}/disable"))
            .header("Idempotency-Key", "rest-enable")
            .json(&json!({})),
    )
    .await;
    assert_eq!(rest.status, 409, "{}", rest.body);
    assert_eq!(codes(&rest), ("1.6".to_string(), "3.3".to_string()));
    let rest = send(
        http.post(format!("{sr}/api/v1/euiccs/{e1}/profiles/{p2_1}/enable"))
            .header("Idempotency-Key", "rest-enable")
            .json(&json!({"validityPeriod": 601})),
    )
    .await;
    assert_eq!(
        rest.status, 409,
        "a changed body under the same key: {}",
        rest.body
    );

    // ES4.AuditEIS over both: the audited EIS of each eUICC, the REST one equal to what GetEIS shows now.
    let soap = call(
        &mno,
        &es4::AuditEisRequest {
            base: conformance::mno::base("soap-audit", None),
            eid: e0.parse().expect("eid"),
            iccids: vec![],
        },
    )
    .await;
    assert_eq!(soap.http_status, 202, "{}", soap.envelope);
    let cb = callback(lab, 0, &soap, 60).await;
    assert_status(cb.status(), Status::ExecutedSuccess, None);
    let rest = send(
        http.post(format!("{sr}/api/v1/euiccs/{e1}/audit"))
            .header("Idempotency-Key", "rest-audit")
            .json(&json!({"iccids": []})),
    )
    .await;
    assert_eq!(rest.status, 202, "{}", rest.body);
    let done = completed(&http, &sr, rest.location.as_deref().expect("Location")).await;
    assert_eq!(done["executionStatus"], "EXECUTED_SUCCESS", "{done}");
    let audited = &done["response"]["Eis"];
    assert_eq!(audited["EumSignedInfo"]["Eid"], e1.as_str(), "{done}");
    let soap_view = soap_json(&cb.envelope);
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(audited), keys(&soap_view["Eis"]), "same EIS members");
    let now = send(http.get(format!("{sr}/api/v1/euiccs/{e1}"))).await;
    assert_eq!(
        now.body["response"]["Eis"]["ProfileInfo"],
        audited["ProfileInfo"]
    );

    // ES4.UpdatePolicyRules, then a disable POL2 forbids: the same 8.2.3/3.8 refusal both ways.
    let pol2 = es_interfaces::messages::common::Pol2 {
        rules: vec![es_interfaces::messages::common::Pol2Rule {
            subject: es_interfaces::types::Pol2RuleSubject::Profile,
            action: es_interfaces::types::Pol2RuleAction::Disable,
            qualification: es_interfaces::types::Pol2RuleQualification::NotAllowed,
        }],
    };
    let soap = call(
        &mno,
        &es4::UpdatePolicyRulesRequest {
            base: conformance::mno::base("soap-pol2", None),
            eid: e0.parse().expect("eid"),
            iccid: p2_0.parse().expect("iccid"),
            pol2,
        },
    )
    .await;
    assert_status(soap.status(), Status::ExecutedSuccess, None);
    let rest = send(
        http.post(format!(
            "{sr}/api/v1/euiccs/{e1}/profiles/{p2_1}/policy-rules"
        ))
        .header("Idempotency-Key", "rest-pol2")
        .json(&json!({"rules": [{"action": "DISABLE", "qualification": "Not-Allowed"}]})),
    )
    .await;
    assert_eq!(rest.status, 200, "{}", rest.body);
    assert_eq!(rest.body["function"], "ES4.UpdatePolicyRules");
    assert_eq!(
        strip_times(rest.body["response"].clone()),
        soap_json(&soap.envelope)
    );
    let soap = call(&mno, &disable(&e0, &p2_0, "soap-disable-pol2")).await;
    let (st, subject, reason, _) = soap_codes(&soap);
    assert_eq!(
        (st, subject.as_str(), reason.as_str()),
        (Status::Failed, "8.2.3", "3.8")
    );
    let rest = send(
        http.post(format!("{sr}/api/v1/euiccs/{e1}/profiles/{p2_1}/disable"))
            .header("Idempotency-Key", "rest-disable-pol2")
            .json(&json!({})),
    )
    .await;
    assert_eq!(rest.status, 409, "{}", rest.body);
    assert_eq!(codes(&rest), (subject, reason));

    // ES4.UpdateSubscriptionAddress: the new MSISDN shows in GetEIS; an unknown EID is 8.1.1/3.9 both ways.
    let rest = send(
        http.post(format!(
            "{sr}/api/v1/euiccs/{e1}/profiles/{p2_1}/subscription-address"
        ))
        .json(&json!({"msisdn": "447700900123"})),
    )
    .await;
    assert_eq!(rest.status, 200, "{}", rest.body);
    let now = send(http.get(format!("{sr}/api/v1/euiccs/{e1}"))).await;
    let p2_view = profile_in(&now.body, &p2_1);
    assert_eq!(
        p2_view["SubscriptionAddress"]["Msisdn"], "447700900123",
        "{p2_view}"
    );
    let soap = call(
        &mno,
        &es4::UpdateSubscriptionAddressRequest {
            base: conformance::mno::base("soap-sa-unknown", None),
            eid: NO_SUCH_EID.parse().expect("eid"),
            iccid: p2_0.parse().expect("iccid"),
            new_subscription_address: es_interfaces::messages::common::SubscriptionAddress {
                imsi: None,
                msisdn: Some("447700900123".parse().expect("msisdn")),
            },
        },
    )
    .await;
    let (_, subject, reason, _) = soap_codes(&soap);
    let rest = send(
        http.post(format!(
            "{sr}/api/v1/euiccs/{NO_SUCH_EID}/profiles/{p2_0}/subscription-address"
        ))
        .json(&json!({"msisdn": "447700900123"})),
    )
    .await;
    assert_eq!(rest.status, 404, "{}", rest.body);
    assert_eq!(codes(&rest), (subject, reason));

    // (counted late, so that a callback of the REST call would have had time to arrive)
    let callbacks = lab.receivers[0]
        .received()
        .into_iter()
        .filter(|r| r.element == "ES4-EnableProfileResponse")
        .count();
    assert_eq!(callbacks, 1, "only the SOAP call named a ReplyTo");

    // Another MNO sees none of it: its own view of the function call is the same 404 as a call never made.
    let theirs = send(other.get(format!("{sr}/api/v1/function-calls/rest-enable"))).await;
    let never = send(other.get(format!("{sr}/api/v1/function-calls/never-made"))).await;
    assert_eq!((theirs.status, never.status), (404, 404), "{}", theirs.body);
    assert_eq!(theirs.body["title"], never.body["title"]);

    // ES2 at the SM-DP: GetEIS of the eUICC whose profile the SM-DP manages, and an unknown EID.
    let smsr_id = lab.world.manifest.sm_sr.oid.clone();
    let soap = mno
        .es2(&es2::GetEisRequest {
            base: conformance::mno::base("dp-get", None),
            eid: e1.parse().expect("eid"),
            smsr_id: smsr_id.parse().expect("oid"),
        })
        .await
        .expect("ES2 GetEIS");
    assert_eq!(soap.http_status, 200, "{}", soap.envelope);
    let rest = send(http.get(format!("{dp}/api/v1/euiccs/{e1}?smsrId={smsr_id}"))).await;
    assert_eq!(rest.status, 200, "{}", rest.body);
    assert_eq!(rest.body["function"], "ES2.GetEIS");
    assert_eq!(
        strip_times(rest.body["response"].clone()),
        soap_json(&soap.envelope)
    );
    let soap = mno
        .es2(&es2::GetEisRequest {
            base: conformance::mno::base("dp-get-unknown", None),
            eid: NO_SUCH_EID.parse().expect("eid"),
            smsr_id: smsr_id.parse().expect("oid"),
        })
        .await
        .expect("ES2 GetEIS");
    let (_, subject, reason, _) = soap_codes(&soap);
    let rest = send(http.get(format!("{dp}/api/v1/euiccs/{NO_SUCH_EID}?smsrId={smsr_id}"))).await;
    assert_eq!(rest.status, 404, "{}", rest.body);
    assert_eq!(codes(&rest), (subject, reason));

    // ES2.UpdatePolicyRules, relayed to the SM-SR over ES3, on eUICC 1 (the one carrying a profile this SM-DP
    // manages): a DELETE rule over REST, then the DISABLE rule back over SOAP, the same answer both ways and
    // each rule in ES2.GetEIS after it; an unknown EID and another MNO's call refused with the same codes both
    // ways, changing nothing.
    let rule = |action| es_interfaces::messages::common::Pol2 {
        rules: vec![es_interfaces::messages::common::Pol2Rule {
            subject: es_interfaces::types::Pol2RuleSubject::Profile,
            action,
            qualification: es_interfaces::types::Pol2RuleQualification::NotAllowed,
        }],
    };
    let pol2_request = |fci: &str, eid: &str, pol2| es2::UpdatePolicyRulesRequest {
        base: conformance::mno::base(fci, None),
        eid: eid.parse().expect("eid"),
        iccid: p2_1.parse().expect("iccid"),
        smsr_id: smsr_id.parse().expect("oid"),
        pol2: Some(pol2),
    };
    let p2_rules = |view: &Value| profile_in(view, &p2_1)["pol2"]["Rule"].clone();
    let dp_view = || async {
        let v = send(http.get(format!("{dp}/api/v1/euiccs/{e1}?smsrId={smsr_id}"))).await;
        assert_eq!(v.status, 200, "{}", v.body);
        v.body
    };
    let pol2_body =
        json!({"smsrId": smsr_id, "rules": [{"action": "DELETE", "qualification": "Not-Allowed"}]});
    let rest = send(
        http.post(format!(
            "{dp}/api/v1/euiccs/{e1}/profiles/{p2_1}/policy-rules"
        ))
        .header("Idempotency-Key", "dp-rest-pol2")
        .json(&pol2_body),
    )
    .await;
    assert_eq!(rest.status, 200, "{}", rest.body);
    assert_eq!(rest.body["function"], "ES2.UpdatePolicyRules");
    assert_eq!(rest.body["executionStatus"], "EXECUTED_SUCCESS");
    let delete_only =
        json!([{"Subject": "PROFILE", "Action": "DELETE", "Qualification": "Not-Allowed"}]);
    assert_eq!(p2_rules(&dp_view().await), delete_only);
    let soap = mno
        .es2(&pol2_request(
            "dp-pol2",
            &e1,
            rule(es_interfaces::types::Pol2RuleAction::Disable),
        ))
        .await
        .expect("ES2 UpdatePolicyRules");
    assert_eq!(soap.http_status, 200, "{}", soap.envelope);
    assert_status(soap.status(), Status::ExecutedSuccess, None);
    assert_eq!(
        strip_times(rest.body["response"].clone()),
        soap_json(&soap.envelope)
    );
    let disable_only =
        json!([{"Subject": "PROFILE", "Action": "DISABLE", "Qualification": "Not-Allowed"}]);
    assert_eq!(p2_rules(&dp_view().await), disable_only);
    let delete = || rule(es_interfaces::types::Pol2RuleAction::Delete);
    let soap = mno
        .es2(&pol2_request("dp-pol2-unknown", NO_SUCH_EID, delete()))
        .await
        .expect("ES2 UpdatePolicyRules");
    let (st, subject, reason, _) = soap_codes(&soap);
    assert_eq!(st, Status::Failed, "{}", soap.envelope);
    let rest = send(
        http.post(format!(
            "{dp}/api/v1/euiccs/{NO_SUCH_EID}/profiles/{p2_1}/policy-rules"
        ))
        .json(&pol2_body),
    )
    .await;
    assert_eq!(rest.status, 404, "{}", rest.body);
    assert_eq!(codes(&rest), (subject, reason));
    let other_mno = lab.mno(1).expect("mno 1");
    let soap = other_mno
        .es2(&pol2_request("dp-pol2-other", &e1, delete()))
        .await
        .expect("ES2 UpdatePolicyRules");
    let (st, subject, reason, _) = soap_codes(&soap);
    assert_eq!(st, Status::Failed, "{}", soap.envelope);
    let rest = send(
        other
            .post(format!(
                "{dp}/api/v1/euiccs/{e1}/profiles/{p2_1}/policy-rules"
            ))
            .json(&pol2_body),
    )
    .await;
    assert!(rest.status >= 400, "{}", rest.body);
    assert_eq!(codes(&rest), (subject, reason));
    assert_eq!(p2_rules(&dp_view().await), disable_only, "unchanged");

    // ES2.UpdateSubscriptionAddress on eUICC 1: an MSISDN over SOAP, another over REST, the same answer both
    // ways and each in ES2.GetEIS after it; an unknown EID refused with the same codes both ways.
    let msisdn_in = |view: &Value| profile_in(view, &p2_1)["SubscriptionAddress"]["Msisdn"].clone();
    let address_request = |fci: &str, eid: &str| es2::UpdateSubscriptionAddressRequest {
        base: conformance::mno::base(fci, None),
        eid: eid.parse().expect("eid"),
        smsr_id: smsr_id.parse().expect("oid"),
        iccid: p2_1.parse().expect("iccid"),
        new_subscription_address: es_interfaces::messages::common::SubscriptionAddress {
            imsi: None,
            msisdn: Some("447700900124".parse().expect("msisdn")),
        },
    };
    let soap = mno
        .es2(&address_request("dp-sa", &e1))
        .await
        .expect("ES2 UpdateSubscriptionAddress");
    assert_eq!(soap.http_status, 200, "{}", soap.envelope);
    assert_status(soap.status(), Status::ExecutedSuccess, None);
    assert_eq!(msisdn_in(&dp_view().await), "447700900124");
    let rest = send(
        http.post(format!(
            "{dp}/api/v1/euiccs/{e1}/profiles/{p2_1}/subscription-address"
        ))
        .json(&json!({"smsrId": smsr_id, "msisdn": "447700900125"})),
    )
    .await;
    assert_eq!(rest.status, 200, "{}", rest.body);
    assert_eq!(rest.body["function"], "ES2.UpdateSubscriptionAddress");
    assert_eq!(
        strip_times(rest.body["response"].clone()),
        soap_json(&soap.envelope)
    );
    assert_eq!(msisdn_in(&dp_view().await), "447700900125");
    let soap = mno
        .es2(&address_request("dp-sa-unknown", NO_SUCH_EID))
        .await
        .expect("ES2 UpdateSubscriptionAddress");
    let (st, subject, reason, _) = soap_codes(&soap);
    assert_eq!(st, Status::Failed, "{}", soap.envelope);
    let rest = send(
        http.post(format!(
            "{dp}/api/v1/euiccs/{NO_SUCH_EID}/profiles/{p2_1}/subscription-address"
        ))
        .json(&json!({"smsrId": smsr_id, "msisdn": "447700900126"})),
    )
    .await;
    assert_eq!(rest.status, 404, "{}", rest.body);
    assert_eq!(codes(&rest), (subject, reason));
    assert_eq!(msisdn_in(&dp_view().await), "447700900125", "unchanged");

    // ES2.DownloadProfile of a profile type that does not exist: the same FAILED codes both ways, recorded
    // for the key (a repeat answers the same).
    let soap = mno
        .es2(&es2::DownloadProfileRequest {
            base: conformance::mno::base("dp-download", None),
            eid: e1.parse().expect("eid"),
            smsr_id: smsr_id.parse().expect("oid"),
            profile_type: Some("no-such-type".into()),
            iccid: None,
            enable_profile: false,
        })
        .await
        .expect("ES2 DownloadProfile");
    let (st, subject, reason, _) = soap_codes(&soap);
    assert_eq!(st, Status::Failed);
    let body = json!({"smsrId": smsr_id, "profileType": "no-such-type", "enableProfile": false});
    for _ in 0..2 {
        let rest = send(
            http.post(format!("{dp}/api/v1/euiccs/{e1}/download"))
                .header("Idempotency-Key", "rest-download")
                .json(&body),
        )
        .await;
        assert!(rest.status >= 400, "{}", rest.body);
        assert_eq!(codes(&rest), (subject.clone(), reason.clone()));
    }
    let rec = send(http.get(format!("{dp}/api/v1/function-calls/rest-download"))).await;
    assert_eq!(rec.status, 200, "{}", rec.body);
    assert_eq!(rec.body["executionStatus"], "FAILED");
    assert_eq!(rec.body["sgp02Status"]["reasonCode"], reason.as_str());

    // A client certificate of no MNO is refused like SOAP (1.1/1.x), as problem+json.
    let (cert, key, ca) = {
        let m = &lab.world.manifest;
        (
            lab.world.dir.join(&m.eum_tls_client.cert),
            lab.world.dir.join(&m.eum_tls_client.key),
            lab.world.dir.join(&m.tls_ca.cert),
        )
    };
    let read = |p: &Path| std::fs::read(p).expect("read");
    let eum = reqwest::Client::builder()
        .tls_backend_native()
        .identity(reqwest::Identity::from_pkcs8_pem(&read(&cert), &read(&key)).expect("identity"))
        .add_root_certificate(reqwest::Certificate::from_pem(&read(&ca)).expect("CA"))
        .build()
        .expect("client");
    let rest = send(eum.get(format!("{sr}/api/v1/euiccs/{e0}"))).await;
    assert_eq!(rest.status, 403, "{}", rest.body);
    assert_eq!(codes(&rest).0, "1.1");
}

#[actix_web::test]
async fn rest_twins_answer_as_soap_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| o.smdp_profiles = vec![(1, 1)]).await;
    scenario(&lab).await;
    lab.stop().await;
}

#[actix_web::test]
async fn rest_twins_answer_as_soap_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.smdp_profiles = vec![(1, 1)];
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    scenario(&lab).await;
    lab.stop().await;
}

/// Examples per operation and mode (bounded so the run stays within minutes against a real lab).
const MAX_EXAMPLES: &str = "25";

/// Runs schemathesis against the document at `doc_url`, the API at `base`, with extra arguments; returns the
/// number of test cases it generated, failing the test on any failed check.
async fn schemathesis(
    name: &str,
    http: &reqwest::Client,
    doc_url: &str,
    base: &str,
    args: &[&str],
) -> u64 {
    let doc = send(http.get(doc_url)).await;
    assert_eq!(doc.status, 200, "{}", doc.body);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join(format!("{name}.json"));
    std::fs::write(&file, serde_json::to_vec(&doc.body).expect("json")).expect("write");
    let python = testkit::python();
    let st = python.with_file_name("schemathesis");
    let out = Command::new(&st)
        .arg("run")
        .arg(&file)
        .args(["--url", base])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            "42",
            "--workers",
            "2",
            "--suppress-health-check",
            "all",
        ])
        .args(args)
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let cases = count_cases(&stdout);
    println!("schemathesis {name}: {cases} test cases");
    assert!(
        out.status.success(),
        "schemathesis {name} found problems:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cases > 0, "schemathesis {name} ran nothing:\n{stdout}");
    cases
}

/// The number of generated test cases, from schemathesis's summary ("Test cases: N generated, N passed").
fn count_cases(stdout: &str) -> u64 {
    stdout
        .lines()
        .filter(|l| l.contains(" generated"))
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.trim_matches(|c: char| !c.is_ascii_digit()).parse().ok())
        })
        .max()
        .unwrap_or(0)
}

#[actix_web::test]
async fn schemathesis_finds_nothing_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| o.smdp_profiles = vec![(1, 1)]).await;
    fuzz(&lab, &dir).await;
    lab.stop().await;
}

#[actix_web::test]
async fn schemathesis_finds_nothing_postgres() {
    let smsr_db = testkit::PgTestDb::new();
    let smdp_db = testkit::PgTestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let lab = small_lab(&dir, |o| {
        o.smdp_profiles = vec![(1, 1)];
        o.smsr_database_url = Some(smsr_db.url().to_string());
        o.smdp_database_url = Some(smdp_db.url().to_string());
    })
    .await;
    fuzz(&lab, &dir).await;
    lab.stop().await;
}

/// schemathesis against the three documents of `lab`.
async fn fuzz(lab: &Lab, dir: &tempfile::TempDir) {
    let http = mno_http(lab, 0);
    let (cert, key, ca) = mno_files(lab, 0);
    let (cert, key, ca) = (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
        ca.to_string_lossy().into_owned(),
    );
    let tls = [
        "--tls-verify",
        ca.as_str(),
        "--request-cert",
        cert.as_str(),
        "--request-cert-key",
        key.as_str(),
    ];
    let mut total = 0;
    for (name, url) in [("smsr", lab.smsr_url()), ("smdp", lab.smdp_url())] {
        total += schemathesis(
            name,
            &http,
            &format!("{url}/api/v1/openapi.json"),
            url,
            &tls,
        )
        .await;
    }

    // ESM2M: an owner with a token of every scope (read, operate, admin) over two of the world's eUICCs, so that
    // the operations, fleet operations and webhooks run too (the examples start real ones on the lab).
    let var = lab.config.var_dir.clone();
    let db = lab
        .config
        .resolve_database_url(&lab.config.smsr.database_url);
    let rsp = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_rsp"))
            .arg("--var-dir")
            .arg(&var)
            .args(args)
            .args(["--smsr-database-url", &db])
            .env_remove("RSP_CONFIG")
            .env("RUST_LOG", "warn")
            .output()
            .expect("run rsp");
        assert!(
            out.status.success(),
            "rsp {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf8")
    };
    let owner = "1.3.6.1.4.1.4242.90.7";
    rsp(&[
        "entity",
        "add",
        "--oid",
        owner,
        "--role",
        "euicc-owner",
        "--name",
        "Fleet",
        "--server",
        "smsr",
    ]);
    let eids = dir.path().join("eids.txt");
    std::fs::write(&eids, format!("{}\n{}\n", eid(lab, 0), eid(lab, 1))).expect("eids");
    rsp(&[
        "owner",
        "assign",
        "--owner",
        owner,
        "--eids",
        &eids.to_string_lossy(),
    ]);
    let token = rsp(&[
        "owner",
        "token",
        "create",
        "--owner",
        owner,
        "--scopes",
        "read,operate,admin",
        "--expires",
        "1",
    ])
    .trim()
    .to_string();
    let plain = reqwest::Client::builder()
        .tls_backend_native()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&ca).expect("CA")).expect("CA"),
        )
        .build()
        .expect("client");
    let esm2m = lab.config.esm2m.public_url.clone();
    let auth = format!("Authorization: Bearer {token}");
    total += schemathesis(
        "esm2m",
        &plain,
        &format!("{esm2m}/esm2m/v1/openapi.json"),
        &esm2m,
        &["--tls-verify", ca.as_str(), "-H", auth.as_str()],
    )
    .await;
    println!("schemathesis: {total} test cases in all, no failure");
}
