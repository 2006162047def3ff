//! The ES4 REST twin for MNOs (design §1; issue 12 item 4) under `/api/v1/` on the SM-SR's mutual-TLS
//! listener, beside the ES4 SOAP endpoint. Each operation builds the ES4 request element from the path and JSON
//! body and runs it through [`es_runtime::rest_twin`]: the same caller check (TLS client certificate, role
//! MNO, `ES4` allowed), decoder, function-call record and function ([`crate::functions`]) as SOAP. The
//! OpenAPI 3.1 document is served at `/api/v1/openapi.json`.
//!
//! | method and path | function |
//! |---|---|
//! | `GET /api/v1/euiccs/{eid}` | ES4.GetEIS |
//! | `POST /api/v1/euiccs/{eid}/audit` | ES4.AuditEIS (202) |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/enable` | ES4.EnableProfile (202) |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/disable` | ES4.DisableProfile (202) |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/delete` | ES4.DeleteProfile (202) |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/fallback` | ES4.SetFallBackAttribute (202) |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/subscription-address` | ES4.UpdateSubscriptionAddress |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/policy-rules` | ES4.UpdatePolicyRules |
//! | `POST /api/v1/euiccs/{eid}/smsr-change/prepare` | ES4.PrepareSMSRChange (at the new SM-SR) |
//! | `POST /api/v1/euiccs/{eid}/smsr-change` | ES4.SMSRChange (at the current SM-SR, 202) |
//! | `GET /api/v1/function-calls/{id}` | the caller's ES4 call with that FunctionCallIdentifier, as recorded |

use std::sync::{Arc, OnceLock};

use actix_web::{HttpRequest, HttpResponse, web};
use es_interfaces::rest::RequestElement;
use es_runtime::rest_twin::{
    self, Accepted, AsyncAnswers, FunctionCallView, FunctionResult, MutualTlsSecurity,
    Pol2RuleBody, Problem, ProblemAnswers, TwinAnswer, TwinRequest, pol2_element,
    subscription_address_element,
};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};

use crate::functions::ES4;
use crate::service::Smsr;

/// Path prefix of the API.
pub const BASE_PATH: &str = "/api/v1";

/// Options of an asynchronous ES4 function (SGP.02 §5.1.6: ValidityPeriod; Annex B: ReplyTo).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"validityPeriod": 3600}))]
pub struct AsyncOptions {
    /// Seconds the request stays valid (ValidityPeriod); without it the SM-SR's default.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub validity_period: Option<u64>,
    /// HTTPS address for the SOAP callback carrying the result (`wsa:ReplyTo`); none: no callback, the result
    /// is read from the function-call resource.
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// The body of `POST /euiccs/{eid}/audit` (ES4.AuditEIS, SGP.02 §5.5.4).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"iccids": ["8949990000000000028"], "validityPeriod": 3600}))]
pub struct AuditOptions {
    /// Profiles to audit (none: all of the caller's).
    #[serde(default)]
    pub iccids: Vec<String>,
    /// Seconds the request stays valid (ValidityPeriod).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub validity_period: Option<u64>,
    /// HTTPS address for the SOAP callback (`wsa:ReplyTo`).
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// The body of `POST …/subscription-address` (ES4.UpdateSubscriptionAddress, SGP.02 §5.5).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"imsi": "234150999999999", "msisdn": "447700900123"}))]
pub struct SubscriptionAddressBody {
    /// The new IMSI.
    #[serde(default)]
    pub imsi: Option<String>,
    /// The new MSISDN.
    #[serde(default)]
    pub msisdn: Option<String>,
}

/// The body of `POST …/policy-rules` (ES4.UpdatePolicyRules, SGP.02 §5.5): the profile's new POL2.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"rules": [{"action": "DISABLE", "qualification": "Not-Allowed"}]}))]
pub struct PolicyRulesBody {
    /// The rules (none: no POL2).
    #[serde(default)]
    pub rules: Vec<Pol2RuleBody>,
}

/// The body of `POST /euiccs/{eid}/smsr-change/prepare` (ES4.PrepareSMSRChange, SGP.02 §3.8, §5.5).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"currentSmsrId": "1.3.6.1.4.1.99999.2", "validityPeriod": 3600}))]
pub struct PrepareSmsrChangeBody {
    /// The SM-SR that manages the eUICC now (`CurrentSMSRid`).
    pub current_smsr_id: String,
    /// Seconds the expectation holds (ValidityPeriod); without it the SM-SR's default.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub validity_period: Option<u64>,
}

/// The body of `POST /euiccs/{eid}/smsr-change` (ES4.SMSRChange, SGP.02 §3.8, §5.5).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"targetSmsrId": "1.3.6.1.4.1.99999.8", "validityPeriod": 3600}))]
pub struct SmsrChangeBody {
    /// The SM-SR to hand the eUICC over to (`Target-Smsr-id`).
    pub target_smsr_id: String,
    /// Seconds the change may take (ValidityPeriod); without it the SM-SR's default.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub validity_period: Option<u64>,
    /// HTTPS address for the SOAP callback carrying the result (`wsa:ReplyTo`).
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// The OpenAPI document of the SM-SR's `/api/v1` (ES4 twin).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "rsp SM-SR ES4 REST API",
        description = "ES4 (SGP.02 §5.5) as JSON for MNOs, on the SM-SR's mutual-TLS listener. The same functions, \
            function-call record and SGP.02 status codes as the SOAP endpoint; `Idempotency-Key` is the \
            FunctionCallIdentifier; refusals are RFC 9457 problem+json with `sgp02Status`."
    ),
    paths(get_eis, audit_eis, enable_profile, disable_profile, delete_profile, set_fallback,
        update_subscription_address, update_policy_rules, prepare_smsr_change, smsr_change, function_call),
    components(schemas(AsyncOptions, AuditOptions, SubscriptionAddressBody, PolicyRulesBody, Pol2RuleBody,
        PrepareSmsrChangeBody, SmsrChangeBody,
        FunctionResult, Accepted, FunctionCallView, Problem)),
    modifiers(&MutualTlsSecurity)
)]
pub struct Es4Api;

/// The document, built once.
pub fn openapi() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(Es4Api::openapi)
}

fn run(
    req: &HttpRequest,
    smsr: &web::Data<Arc<Smsr>>,
    build: TwinRequest,
) -> impl FnOnce() -> TwinAnswer + Send + 'static {
    let cert = rest_twin::peer_certificate(req);
    let smsr = smsr.get_ref().clone();
    move || rest_twin::call(&*smsr, cert.as_ref(), ES4, BASE_PATH, build)
}

/// Reads the JSON body and the Idempotency-Key, then runs the ES4 function whose request `element` builds.
async fn asynchronous<T, F>(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    payload: web::Payload,
    element: F,
) -> HttpResponse
where
    T: serde::de::DeserializeOwned,
    F: FnOnce(&str, &T) -> (String, Option<String>),
{
    rest_twin::asynchronous(
        req,
        smsr.get_ref().clone(),
        ES4,
        BASE_PATH,
        payload,
        element,
    )
    .await
}

/// ES4.GetEIS (SGP.02 §5.5.1): the caller's view of the eUICC's EIS.
#[utoipa::path(get, path = "/api/v1/euiccs/{eid}", tag = "ES4",
    params(("eid" = String, Path, description = "EID (32 hexadecimal digits)", example = "89049999001000000000000000000143")),
    responses((status = 200, description = "The EIS (EXECUTED_SUCCESS)", body = FunctionResult), ProblemAnswers))]
pub async fn get_eis(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<String>,
) -> HttpResponse {
    let eid = path.into_inner();
    let key = match rest_twin::idempotency_key(&req) {
        Ok(k) => k,
        Err(p) => return p.answer().response(),
    };
    let t = TwinRequest {
        request_xml: RequestElement::new("ES4-GetEISRequest", &key, None)
            .field("Eid", &eid)
            .finish(),
        function_call_identifier: key,
        reply_to: None,
    };
    rest_twin::respond(run(&req, &smsr, t)).await
}

/// ES4.AuditEIS (SGP.02 §5.5.4): the result (the audited EIS) is read from the function call.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/audit", tag = "ES4",
    params(("eid" = String, Path, description = "EID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier (default: a fresh UUID)")),
    request_body(content = AuditOptions, content_type = "application/json"),
    responses(AsyncAnswers, ProblemAnswers))]
pub async fn audit_eis(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let eid = path.into_inner();
    asynchronous(req, smsr, payload, move |key, o: &AuditOptions| {
        let mut e =
            RequestElement::new("ES4-AuditEISRequest", key, o.validity_period).field("Eid", &eid);
        for iccid in &o.iccids {
            e = e.field("Iccid", iccid);
        }
        (e.finish(), o.reply_to.clone())
    })
    .await
}

/// A profile function of ES4: `element` with Eid and Iccid.
async fn profile_function(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    element: &'static str,
) -> HttpResponse {
    let (eid, iccid) = path.into_inner();
    asynchronous(req, smsr, payload, move |key, o: &AsyncOptions| {
        let e = RequestElement::new(element, key, o.validity_period)
            .field("Eid", &eid)
            .field("Iccid", &iccid);
        (e.finish(), o.reply_to.clone())
    })
    .await
}

/// ES4.EnableProfile (SGP.02 §5.5.2).
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/enable", tag = "ES4",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID of one of the caller's profiles"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier (default: a fresh UUID)")),
    request_body(content = AsyncOptions, content_type = "application/json"),
    responses(AsyncAnswers, ProblemAnswers))]
pub async fn enable_profile(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    profile_function(req, smsr, path, payload, "ES4-EnableProfileRequest").await
}

/// ES4.DisableProfile (SGP.02 §5.5.3).
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/disable", tag = "ES4",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = AsyncOptions, content_type = "application/json"),
    responses(AsyncAnswers, ProblemAnswers))]
pub async fn disable_profile(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    profile_function(req, smsr, path, payload, "ES4-DisableProfileRequest").await
}

/// ES4.DeleteProfile (SGP.02 §5.5.5).
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/delete", tag = "ES4",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = AsyncOptions, content_type = "application/json"),
    responses(AsyncAnswers, ProblemAnswers))]
pub async fn delete_profile(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    profile_function(req, smsr, path, payload, "ES4-DeleteProfileRequest").await
}

/// ES4.SetFallBackAttribute (SGP.02 v4 §5.5.x).
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/fallback", tag = "ES4",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = AsyncOptions, content_type = "application/json"),
    responses(AsyncAnswers, ProblemAnswers))]
pub async fn set_fallback(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    profile_function(req, smsr, path, payload, "ES4-SetFallBackAttributeRequest").await
}

/// ES4.UpdateSubscriptionAddress (SGP.02 §5.5): the profile's IMSI and MSISDN in the EIS.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/subscription-address", tag = "ES4",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = SubscriptionAddressBody, content_type = "application/json"),
    responses((status = 200, description = "Done (EXECUTED_SUCCESS), or the recorded answer of a repeated Idempotency-Key", body = FunctionResult), ProblemAnswers))]
pub async fn update_subscription_address(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    let (eid, iccid) = path.into_inner();
    asynchronous(
        req,
        smsr,
        payload,
        move |key, b: &SubscriptionAddressBody| {
            let e = RequestElement::new("ES4-UpdateSubscriptionAddressRequest", key, None)
                .field("Eid", &eid)
                .field("Iccid", &iccid);
            let e = subscription_address_element(e, b.imsi.as_deref(), b.msisdn.as_deref());
            (e.finish(), None)
        },
    )
    .await
}

/// ES4.UpdatePolicyRules (SGP.02 §5.5): the profile's POL2.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/policy-rules", tag = "ES4",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = PolicyRulesBody, content_type = "application/json"),
    responses((status = 200, description = "Done (EXECUTED_SUCCESS), or the recorded answer of a repeated Idempotency-Key", body = FunctionResult), ProblemAnswers))]
pub async fn update_policy_rules(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    let (eid, iccid) = path.into_inner();
    asynchronous(req, smsr, payload, move |key, b: &PolicyRulesBody| {
        let e = RequestElement::new("ES4-UpdatePolicyRulesRequest", key, None)
            .field("Eid", &eid)
            .field("Iccid", &iccid);
        (pol2_element(e, &b.rules).finish(), None)
    })
    .await
}

/// ES4.PrepareSMSRChange at the new SM-SR (SGP.02 §3.8 step 1, §5.5): it expects the eUICC from the current SM-SR.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/smsr-change/prepare", tag = "ES4",
    params(("eid" = String, Path, description = "EID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = PrepareSmsrChangeBody, content_type = "application/json"),
    responses((status = 200, description = "Expected (EXECUTED_SUCCESS), or the recorded answer of a repeated Idempotency-Key", body = FunctionResult), ProblemAnswers))]
pub async fn prepare_smsr_change(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let eid = path.into_inner();
    asynchronous(req, smsr, payload, move |key, b: &PrepareSmsrChangeBody| {
        let e = RequestElement::new("ES4-PrepareSMSRChangeRequest", key, b.validity_period)
            .field("Eid", &eid)
            .field("CurrentSMSRid", &b.current_smsr_id);
        (e.finish(), None)
    })
    .await
}

/// ES4.SMSRChange at the current SM-SR (SGP.02 §3.8, §5.5): the eUICC is handed over to the target SM-SR; the
/// result is read from the function call.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/smsr-change", tag = "ES4",
    params(("eid" = String, Path, description = "EID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = SmsrChangeBody, content_type = "application/json"),
    responses(AsyncAnswers, ProblemAnswers))]
pub async fn smsr_change(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let eid = path.into_inner();
    asynchronous(req, smsr, payload, move |key, b: &SmsrChangeBody| {
        let e = RequestElement::new("ES4-SMSRChangeRequest", key, b.validity_period)
            .field("Eid", &eid)
            .field("Target-Smsr-id", &b.target_smsr_id);
        (e.finish(), b.reply_to.clone())
    })
    .await
}

/// The caller's ES4 function call with this FunctionCallIdentifier (SOAP or REST), as recorded: in progress,
/// or completed with its result.
#[utoipa::path(get, path = "/api/v1/function-calls/{id}", tag = "ES4",
    params(("id" = String, Path, description = "FunctionCallIdentifier")),
    responses((status = 200, description = "The call", body = FunctionCallView), ProblemAnswers))]
pub async fn function_call(
    req: HttpRequest,
    smsr: web::Data<Arc<Smsr>>,
    path: web::Path<String>,
) -> HttpResponse {
    let fci = path.into_inner();
    let cert = rest_twin::peer_certificate(&req);
    let smsr = smsr.get_ref().clone();
    rest_twin::respond(move || rest_twin::function_call(&*smsr, cert.as_ref(), ES4, &fci)).await
}

async fn openapi_json() -> HttpResponse {
    rest_twin::openapi_response(openapi())
}

/// Registers the ES4 twin under `/api/v1/` (add to the SM-SR's mutual-TLS listener).
pub fn configure(cfg: &mut web::ServiceConfig, smsr: Arc<Smsr>) {
    let (path_errors, query_errors) = rest_twin::extractor_errors();
    cfg.service(
        web::scope(BASE_PATH)
            .app_data(web::Data::new(smsr))
            .app_data(path_errors)
            .app_data(query_errors)
            .route("/openapi.json", web::get().to(openapi_json))
            .route("/euiccs/{eid}", web::get().to(get_eis))
            .route("/euiccs/{eid}/audit", web::post().to(audit_eis))
            .route(
                "/euiccs/{eid}/profiles/{iccid}/enable",
                web::post().to(enable_profile),
            )
            .route(
                "/euiccs/{eid}/profiles/{iccid}/disable",
                web::post().to(disable_profile),
            )
            .route(
                "/euiccs/{eid}/profiles/{iccid}/delete",
                web::post().to(delete_profile),
            )
            .route(
                "/euiccs/{eid}/profiles/{iccid}/fallback",
                web::post().to(set_fallback),
            )
            .route(
                "/euiccs/{eid}/profiles/{iccid}/subscription-address",
                web::post().to(update_subscription_address),
            )
            .route(
                "/euiccs/{eid}/profiles/{iccid}/policy-rules",
                web::post().to(update_policy_rules),
            )
            .route(
                "/euiccs/{eid}/smsr-change/prepare",
                web::post().to(prepare_smsr_change),
            )
            .route("/euiccs/{eid}/smsr-change", web::post().to(smsr_change))
            .route("/function-calls/{id}", web::get().to(function_call))
            .default_service(web::to(rest_twin::not_found)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The document is OpenAPI 3.1 and names every operation of the twin.
    #[test]
    fn the_document_lists_the_operations() {
        let doc = serde_json::to_value(openapi()).expect("json");
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        for p in [
            "/api/v1/euiccs/{eid}",
            "/api/v1/euiccs/{eid}/audit",
            "/api/v1/euiccs/{eid}/profiles/{iccid}/enable",
            "/api/v1/euiccs/{eid}/smsr-change/prepare",
            "/api/v1/euiccs/{eid}/smsr-change",
            "/api/v1/function-calls/{id}",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["mutualTLS"]["type"],
            "mutualTLS"
        );
    }
}
