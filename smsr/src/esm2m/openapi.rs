//! The OpenAPI 3.1 document of the ESM2M API (issue 12 item 5), generated from the handlers' and types'
//! annotations and served at `/esm2m/v1/openapi.json` (no token needed). A new resource is added by listing its
//! handler in `paths(…)` and its types in `components(schemas(…))` below.

use std::sync::OnceLock;

use actix_web::HttpResponse;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};

use super::events::{EventPage, EventView};
use super::fleet::{
    CountsView, FleetPage, FleetRequest, FleetView, Selector, TargetPage, TargetView,
};
use super::idempotency::ApiProblem;
use super::operations::{Action, OperationRequest, OperationView, ResultView};
use super::transfers::{TransferRequest, TransferView};
use super::webhooks::{
    AttemptView, DeliveryPage, DeliveryView, NewWebhook, WebhookList, WebhookView,
};
use super::{EuiccPage, EuiccView, Problem, ProfileView};

/// The answers every ESM2M endpoint can give besides its own, in the document: problem+json bodies.
#[derive(utoipa::IntoResponses)]
pub enum CommonAnswers {
    /// Missing, malformed, unknown, expired or revoked token.
    #[response(status = 401, content_type = "application/problem+json")]
    Unauthorized(Problem),
    /// The SM-SR could not complete the request.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(Problem),
}

/// Name of the bearer-token security scheme.
pub const BEARER: &str = "bearer";

/// The ESM2M document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "rsp ESM2M eUICC owner API",
        description = "The eUICC owner's REST API on the SM-SR: `Authorization: Bearer esm2m_…` tokens with scopes \
            read / operate / admin; an owner sees its own eUICCs only; errors are RFC 9457 problem+json."
    ),
    paths(super::euiccs, super::euicc, super::transfers::post_transfer, super::operations::post_operation, super::operations::get_operation,
        super::fleet::post_fleet, super::fleet::list_fleets, super::fleet::get_fleet, super::fleet::get_targets,
        super::fleet::get_targets_csv, super::fleet::post_command, super::events::get_events,
        super::webhooks::post_webhook, super::webhooks::get_webhooks, super::webhooks::delete_webhook,
        super::webhooks::get_deliveries, super::webhooks::post_replay_delivery, super::webhooks::post_replay_event),
    components(schemas(EuiccPage, EuiccView, ProfileView, Problem, ApiProblem, Action, OperationRequest,
        OperationView, ResultView, FleetRequest, Selector, FleetView, CountsView, FleetPage, TargetPage,
        TargetView, EventPage, EventView, NewWebhook, WebhookView, WebhookList, DeliveryPage, DeliveryView,
        AttemptView, TransferRequest, TransferView)),
    modifiers(&BearerSecurity)
)]
pub struct Esm2mApi;

/// Adds the bearer-token scheme and requires it on every operation.
struct BearerSecurity;

impl utoipa::Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API token of `rsp owner token create`"))
                    .build(),
            ),
        );
        openapi.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    }
}

/// The document, built once.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(Esm2mApi::openapi)
}

/// `GET /esm2m/v1/openapi.json`.
pub async fn serve() -> HttpResponse {
    match document().to_json() {
        Ok(body) => HttpResponse::Ok()
            .content_type("application/json")
            .body(body),
        Err(e) => super::internal(e).response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_the_resources_and_the_bearer_scheme() {
        let doc = serde_json::to_value(document()).expect("json");
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/esm2m/v1/euiccs"]["get"].is_object(), "{doc}");
        assert!(
            doc["paths"]["/esm2m/v1/euiccs/{eid}"]["get"].is_object(),
            "{doc}"
        );
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        for (path, method, scope) in [
            ("/esm2m/v1/euiccs/{eid}/operations", "post", "operate"),
            ("/esm2m/v1/operations/{id}", "get", "read"),
            ("/esm2m/v1/fleet-operations", "post", "operate"),
            ("/esm2m/v1/fleet-operations", "get", "read"),
            ("/esm2m/v1/fleet-operations/{id}", "get", "read"),
            ("/esm2m/v1/fleet-operations/{id}/targets", "get", "read"),
            ("/esm2m/v1/fleet-operations/{id}/targets.csv", "get", "read"),
            (
                "/esm2m/v1/fleet-operations/{id}/{command}",
                "post",
                "operate",
            ),
            ("/esm2m/v1/events", "get", "read"),
            ("/esm2m/v1/webhooks", "post", "admin"),
            ("/esm2m/v1/webhooks", "get", "admin"),
            ("/esm2m/v1/webhooks/{id}", "delete", "admin"),
            ("/esm2m/v1/webhooks/{id}/deliveries", "get", "admin"),
            (
                "/esm2m/v1/webhooks/{id}/deliveries/{delivery}/replay",
                "post",
                "admin",
            ),
            ("/esm2m/v1/webhooks/{id}/replay", "post", "admin"),
        ] {
            let op = &doc["paths"][path][method];
            assert_eq!(op["security"][0][BEARER][0], scope, "{method} {path}: {op}");
            assert!(op["responses"]["401"].is_object(), "{method} {path}");
        }
        let post = &doc["paths"]["/esm2m/v1/fleet-operations"]["post"];
        assert_eq!(post["parameters"][0]["name"], "Idempotency-Key");
        assert!(post["responses"]["202"]["headers"]["Location"].is_object());
        let csv = &doc["paths"]["/esm2m/v1/fleet-operations/{id}/targets.csv"]["get"];
        assert!(csv["responses"]["200"]["content"]["text/csv"].is_object());
        assert!(doc["components"]["schemas"]["FleetRequest"]["example"].is_object());
    }
}
