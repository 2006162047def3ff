//! The ES2 REST twin for MNOs (design §1; issue 12 item 4), in the SM-DP's `/api/v1/` beside the warehouse
//! ([`crate::rest`]). Each operation builds the ES2 request element from the path and JSON body and runs it
//! through [`es_runtime::rest_twin`]: the same caller check (TLS client certificate, role MNO, `ES2`
//! allowed), decoder, function-call record and function ([`crate::functions`]) as SOAP.
//!
//! | method and path | function |
//! |---|---|
//! | `GET /api/v1/euiccs/{eid}?smsrId=` | ES2.GetEIS |
//! | `POST /api/v1/euiccs/{eid}/download` | ES2.DownloadProfile (202) |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/enable` | ES2.EnableProfile (202) |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/disable` | ES2.DisableProfile (202) |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/delete` | ES2.DeleteProfile (202) |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/policy-rules` | ES2.UpdatePolicyRules |
//! | `POST /api/v1/euiccs/{eid}/profiles/{iccid}/subscription-address` | ES2.UpdateSubscriptionAddress |
//! | `GET /api/v1/function-calls/{id}` | the caller's ES2 call with that FunctionCallIdentifier, as recorded |

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use es_interfaces::rest::RequestElement;
use es_runtime::rest_twin::{
    self, Pol2RuleBody, TwinAnswer, TwinRequest, pol2_element, subscription_address_element,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::functions::ES2;
use crate::service::Smdp;

/// Path prefix of the API.
pub const BASE_PATH: &str = "/api/v1";

/// Query of `GET /euiccs/{eid}` (ES2.GetEIS).
#[derive(Debug, Deserialize, ToSchema, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GetEisQuery {
    /// OID of the SM-SR in charge of the eUICC.
    #[param(example = "1.3.6.1.4.1.99999.2")]
    pub smsr_id: String,
}

/// The body of `POST /euiccs/{eid}/download` (ES2.DownloadProfile, SGP.02 §5.3.2).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"smsrId": "1.3.6.1.4.1.99999.2", "profileType": "usim", "enableProfile": true, "validityPeriod": 3600}))]
pub struct DownloadOptions {
    /// OID of the SM-SR in charge of the eUICC.
    pub smsr_id: String,
    /// The profile type to download (or `iccid`).
    #[serde(default)]
    pub profile_type: Option<String>,
    /// The ICCID of the stock record to download (or `profileType`).
    #[serde(default)]
    pub iccid: Option<String>,
    /// Whether to enable the profile once installed.
    #[serde(default)]
    pub enable_profile: bool,
    /// Seconds the request stays valid (ValidityPeriod).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub validity_period: Option<u64>,
    /// HTTPS address for the SOAP callback (`wsa:ReplyTo`); none: read the result from the function call.
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// The body of the profile functions relayed to the SM-SR (SGP.02 §5.3.5–§5.3.7).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"smsrId": "1.3.6.1.4.1.99999.2", "validityPeriod": 3600}))]
pub struct RelayOptions {
    /// OID of the SM-SR in charge of the eUICC.
    pub smsr_id: String,
    /// Seconds the request stays valid (ValidityPeriod).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub validity_period: Option<u64>,
    /// HTTPS address for the SOAP callback (`wsa:ReplyTo`).
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// The body of `POST …/policy-rules` (ES2.UpdatePolicyRules, SGP.02 §5.3.3): the profile's new POL2.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"smsrId": "1.3.6.1.4.1.99999.2", "rules": [{"action": "DISABLE", "qualification": "Not-Allowed"}]}))]
pub struct PolicyRulesOptions {
    /// OID of the SM-SR in charge of the eUICC.
    pub smsr_id: String,
    /// The rules (none: an empty POL2).
    #[serde(default)]
    pub rules: Vec<Pol2RuleBody>,
}

/// The body of `POST …/subscription-address` (ES2.UpdateSubscriptionAddress, SGP.02 §5.3.4).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"smsrId": "1.3.6.1.4.1.99999.2", "imsi": "234150999999999", "msisdn": "447700900123"}))]
pub struct SubscriptionAddressOptions {
    /// OID of the SM-SR in charge of the eUICC.
    pub smsr_id: String,
    /// The new IMSI.
    #[serde(default)]
    pub imsi: Option<String>,
    /// The new MSISDN.
    #[serde(default)]
    pub msisdn: Option<String>,
}

fn run(
    req: &HttpRequest,
    smdp: &web::Data<Arc<Smdp>>,
    t: TwinRequest,
) -> impl FnOnce() -> TwinAnswer + Send + 'static {
    let cert = rest_twin::peer_certificate(req);
    let smdp = smdp.get_ref().clone();
    move || rest_twin::call(&*smdp, cert.as_ref(), ES2, BASE_PATH, t)
}

/// Reads the JSON body and the Idempotency-Key, then runs the ES2 function whose request `element` builds.
async fn asynchronous<T, F>(
    req: HttpRequest,
    smdp: web::Data<Arc<Smdp>>,
    payload: web::Payload,
    element: F,
) -> HttpResponse
where
    T: serde::de::DeserializeOwned,
    F: FnOnce(&str, &T) -> (String, Option<String>),
{
    rest_twin::asynchronous(
        req,
        smdp.get_ref().clone(),
        ES2,
        BASE_PATH,
        payload,
        element,
    )
    .await
}

/// ES2.GetEIS (SGP.02 §5.3.1): the caller's view of the eUICC, read from the SM-SR over ES3.
#[utoipa::path(get, path = "/api/v1/euiccs/{eid}", tag = "ES2",
    params(("eid" = String, Path, description = "EID (32 hexadecimal digits)", example = "89049999001000000000000000000143"), GetEisQuery),
    responses((status = 200, description = "The EIS (EXECUTED_SUCCESS)", body = rest_twin::FunctionResult), rest_twin::ProblemAnswers))]
pub async fn get_eis(
    req: HttpRequest,
    smdp: web::Data<Arc<Smdp>>,
    path: web::Path<String>,
    query: web::Query<GetEisQuery>,
) -> HttpResponse {
    let eid = path.into_inner();
    let key = match rest_twin::idempotency_key(&req) {
        Ok(k) => k,
        Err(p) => return p.answer().response(),
    };
    let t = TwinRequest {
        request_xml: RequestElement::new("ES2-GetEISRequest", &key, None)
            .field("Eid", &eid)
            .field("Smsr-id", &query.smsr_id)
            .finish(),
        function_call_identifier: key,
        reply_to: None,
    };
    rest_twin::respond(run(&req, &smdp, t)).await
}

/// ES2.DownloadProfile (SGP.02 §5.3.2): the result (the ICCID installed) is read from the function call.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/download", tag = "ES2",
    params(("eid" = String, Path, description = "EID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier (default: a fresh UUID)")),
    request_body(content = DownloadOptions, content_type = "application/json"),
    responses(rest_twin::AsyncAnswers, rest_twin::ProblemAnswers))]
pub async fn download_profile(
    req: HttpRequest,
    smdp: web::Data<Arc<Smdp>>,
    path: web::Path<String>,
    payload: web::Payload,
) -> HttpResponse {
    let eid = path.into_inner();
    asynchronous(req, smdp, payload, move |key, o: &DownloadOptions| {
        let e = RequestElement::new("ES2-DownloadProfileRequest", key, o.validity_period)
            .field("Eid", &eid)
            .field("SmSr-id", &o.smsr_id)
            .opt("ProfileType", o.profile_type.as_deref())
            .opt("Iccid", o.iccid.as_deref())
            .field(
                "EnableProfile",
                if o.enable_profile { "true" } else { "false" },
            );
        (e.finish(), o.reply_to.clone())
    })
    .await
}

/// An ES2 profile function relayed to the SM-SR: `element` with Eid, SM-SR id and Iccid in the XSD's order.
async fn relayed(
    req: HttpRequest,
    smdp: web::Data<Arc<Smdp>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    element: &'static str,
) -> HttpResponse {
    let (eid, iccid) = path.into_inner();
    asynchronous(req, smdp, payload, move |key, o: &RelayOptions| {
        let e = RequestElement::new(element, key, o.validity_period).field("Eid", &eid);
        let e = match element {
            "ES2-EnableProfileRequest" => e.field("SmSr-id", &o.smsr_id).field("Iccid", &iccid),
            "ES2-DeleteProfileRequest" => e.field("Iccid", &iccid).field("Smsr-id", &o.smsr_id),
            _ => e.field("Smsr-id", &o.smsr_id).field("Iccid", &iccid),
        };
        (e.finish(), o.reply_to.clone())
    })
    .await
}

/// ES2.EnableProfile (SGP.02 §5.3.5), relayed to the SM-SR.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/enable", tag = "ES2",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = RelayOptions, content_type = "application/json"),
    responses(rest_twin::AsyncAnswers, rest_twin::ProblemAnswers))]
pub async fn enable_profile(
    req: HttpRequest,
    smdp: web::Data<Arc<Smdp>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    relayed(req, smdp, path, payload, "ES2-EnableProfileRequest").await
}

/// ES2.DisableProfile (SGP.02 §5.3.6), relayed to the SM-SR.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/disable", tag = "ES2",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = RelayOptions, content_type = "application/json"),
    responses(rest_twin::AsyncAnswers, rest_twin::ProblemAnswers))]
pub async fn disable_profile(
    req: HttpRequest,
    smdp: web::Data<Arc<Smdp>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    relayed(req, smdp, path, payload, "ES2-DisableProfileRequest").await
}

/// ES2.DeleteProfile (SGP.02 §5.3.7), relayed to the SM-SR.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/delete", tag = "ES2",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = RelayOptions, content_type = "application/json"),
    responses(rest_twin::AsyncAnswers, rest_twin::ProblemAnswers))]
pub async fn delete_profile(
    req: HttpRequest,
    smdp: web::Data<Arc<Smdp>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    relayed(req, smdp, path, payload, "ES2-DeleteProfileRequest").await
}

/// ES2.UpdatePolicyRules (SGP.02 §5.3.3): the profile's POL2, relayed to the SM-SR over ES3 and answered at once.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/policy-rules", tag = "ES2",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = PolicyRulesOptions, content_type = "application/json"),
    responses((status = 200, description = "Done (EXECUTED_SUCCESS), or the recorded answer of a repeated Idempotency-Key", body = rest_twin::FunctionResult), rest_twin::ProblemAnswers))]
pub async fn update_policy_rules(
    req: HttpRequest,
    smdp: web::Data<Arc<Smdp>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    let (eid, iccid) = path.into_inner();
    asynchronous(req, smdp, payload, move |key, o: &PolicyRulesOptions| {
        let e = RequestElement::new("ES2-UpdatePolicyRulesRequest", key, None)
            .field("Eid", &eid)
            .field("Iccid", &iccid)
            .field("Smsr-id", &o.smsr_id);
        (pol2_element(e, &o.rules).finish(), None)
    })
    .await
}

/// ES2.UpdateSubscriptionAddress (SGP.02 §5.3.4): the profile's IMSI and MSISDN in the EIS, relayed to the SM-SR
/// over ES3 and answered at once.
#[utoipa::path(post, path = "/api/v1/euiccs/{eid}/profiles/{iccid}/subscription-address", tag = "ES2",
    params(("eid" = String, Path, description = "EID"), ("iccid" = String, Path, description = "ICCID"),
        ("Idempotency-Key" = Option<String>, Header, description = "FunctionCallIdentifier")),
    request_body(content = SubscriptionAddressOptions, content_type = "application/json"),
    responses((status = 200, description = "Done (EXECUTED_SUCCESS), or the recorded answer of a repeated Idempotency-Key", body = rest_twin::FunctionResult), rest_twin::ProblemAnswers))]
pub async fn update_subscription_address(
    req: HttpRequest,
    smdp: web::Data<Arc<Smdp>>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> HttpResponse {
    let (eid, iccid) = path.into_inner();
    asynchronous(
        req,
        smdp,
        payload,
        move |key, o: &SubscriptionAddressOptions| {
            let e = RequestElement::new("ES2-UpdateSubscriptionAddressRequest", key, None)
                .field("Eid", &eid)
                .field("Smsr-id", &o.smsr_id)
                .field("Iccid", &iccid);
            let e = subscription_address_element(e, o.imsi.as_deref(), o.msisdn.as_deref());
            (e.finish(), None)
        },
    )
    .await
}

/// The caller's ES2 function call with this FunctionCallIdentifier (SOAP or REST), as recorded.
#[utoipa::path(get, path = "/api/v1/function-calls/{id}", tag = "ES2",
    params(("id" = String, Path, description = "FunctionCallIdentifier")),
    responses((status = 200, description = "The call", body = rest_twin::FunctionCallView), rest_twin::ProblemAnswers))]
pub async fn function_call(
    req: HttpRequest,
    smdp: web::Data<Arc<Smdp>>,
    path: web::Path<String>,
) -> HttpResponse {
    let fci = path.into_inner();
    let cert = rest_twin::peer_certificate(&req);
    let smdp = smdp.get_ref().clone();
    rest_twin::respond(move || rest_twin::function_call(&*smdp, cert.as_ref(), ES2, &fci)).await
}

/// Adds the ES2 twin's routes to the `/api/v1` scope of [`crate::rest::configure`].
pub fn routes(scope: actix_web::Scope, smdp: Arc<Smdp>) -> actix_web::Scope {
    scope
        .app_data(web::Data::new(smdp))
        .route("/euiccs/{eid}", web::get().to(get_eis))
        .route("/euiccs/{eid}/download", web::post().to(download_profile))
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
            "/euiccs/{eid}/profiles/{iccid}/policy-rules",
            web::post().to(update_policy_rules),
        )
        .route(
            "/euiccs/{eid}/profiles/{iccid}/subscription-address",
            web::post().to(update_subscription_address),
        )
        .route("/function-calls/{id}", web::get().to(function_call))
}
