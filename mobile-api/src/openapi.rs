//! The OpenAPI 3.1 description of the router, generated from the handlers' `#[utoipa::path]`
//! annotations and the DTOs' schemas, served at `GET /api/v1/openapi.json` (no auth).

use crate::api::Role;
use crate::dto::{
    AgentList, AgentRoleSchema, AgentView, Dashboard, DashboardAgents, DashboardPoint,
    DashboardSeries, DashboardSource, DashboardWarehouse, SourceView, StockPage, StockRow,
    TokenCreated, TokenRequest,
};
use crate::error::{ErrorBody, ErrorDetail};
use crate::identity::{
    Jwk, Jwks, KeyRotated, LoginRequest, RefreshRequest, TokenPair, UserCreate, UserList,
    UserPatch, UserView,
};
use crate::routes::Health;

pub mod constraints;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::OnceLock;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The name of the bearer security scheme in the document.
pub(crate) const BEARER: &str = "bearer";

/// The document's info, tags, security scheme and shared schemas; the paths come from each
/// domain's routes ([`openapi`] joins them).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Xietong hub API",
        description = "The hub's HTTP surface for people, partners and the console. Every error \
                       is `{\"error\": {\"code\": …, \"message\": …}}`; every response carries \
                       `x-request-id` (the client's own if it sent a usable one)."
    ),
    components(schemas(
        Health, AgentList, AgentView, SourceView, AgentRoleSchema, TokenRequest, TokenCreated,
        StockPage, StockRow, ErrorBody, ErrorDetail, Jwks, Jwk, KeyRotated, LoginRequest,
        RefreshRequest, TokenPair, UserCreate, UserPatch, UserView, UserList, Role,
        crate::events::EventData, crate::events::StockChangeView, Dashboard, DashboardAgents,
        DashboardSource, DashboardWarehouse, DashboardSeries, DashboardPoint,
        crate::api_keys::ApiKeyView, crate::api_keys::ApiKeyList, crate::api_keys::ApiKeyCreate,
        crate::api_keys::ApiKeyCreated, crate::api_keys::MeView, crate::access::Scope,
        crate::access::Permission, crate::api::PrincipalKind, crate::shops::ShopCreate,
        crate::shops::ShopPatch, crate::shops::CredentialsInput, crate::shops::CredentialsView,
        crate::shops::SecretSet, crate::shops::ShopHealth, crate::shops::ShopView,
        crate::shops::ShopList, crate::orders::MoneyView, crate::dto::DashboardShop, crate::orders::OrderSummary,
        crate::orders::OrderPage, crate::orders::BuyerView, crate::orders::ReceiverView,
        crate::orders::AmountsView, crate::orders::FlagsView, crate::orders::OrderLineView,
        crate::orders::RefundView, crate::orders::ProvenanceView, crate::orders::OrderDetail,
        crate::orders::IdentityView, crate::orders::MemberView, crate::orders::SkuMappingView,
        crate::orders::SkuMappingList, crate::orders::SkuMappingCreate,
        crate::orders::CaptureErrorView, crate::orders::CaptureErrorList,
        crate::orders::BackfillRequest, crate::orders::WebhookAck,
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "meta", description = "Health, metrics and this description"),
        (name = "agents", description = "Enrolled agents and enrollment tokens"),
        (name = "stock", description = "Stock levels synced from the agents"),
        (name = "dashboard", description = "The tenant at a glance, pre-aggregated"),
        (name = "events", description = "A live, resumable stream of changes"),
        (name = "auth", description = "Sign-in, refresh, logout and the public signing keys"),
        (name = "users", description = "The tenant's users"),
        (name = "keys", description = "The hub's token signing keys"),
        (name = "api-keys", description = "Scoped API keys for partners and integrations"),
        (name = "shops", description = "Bound shops of the sales platforms, secrets never shown"),
        (name = "orders", description = "Captured platform orders, members, SKU mappings and webhooks"),
        (name = "fulfilment", description = "Review, dispatch, warehouses, delivery orders and their confirmation, the 3PL callback"),
    )
)]
pub struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description = Some(
            "`Authorization: Bearer <credential>`, where the credential is either an API key \
             (`xt-hub init` makes one with the `owner` scope, `POST /api/v1/api-keys` makes \
             scoped ones) or an access token \
             (an EdDSA JWT from `POST /api/v1/auth/login` or `/auth/refresh`). Any missing, \
             malformed, unknown or expired credential gets the same 401."
                .to_owned(),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(BEARER, SecurityScheme::Http(http));
    }
}

/// The OpenAPI document of this crate's router, as JSON: what the annotations generate, with the
/// validators' constraints and the links between operations written in (see [`constraints`]).
pub fn openapi() -> serde_json::Value {
    // Serializing a document of plain strings and maps cannot fail.
    let mut doc = serde_json::to_value(crate::routes::domains().into_openapi()).unwrap_or_default();
    let missing = constraints::apply(&mut doc);
    debug_assert!(
        missing.is_empty(),
        "constraints without a place: {missing:?}"
    );
    doc
}

/// Every `(METHOD, path)` the router serves under its domains' routes, paths in OpenAPI
/// `{param}` syntax: the operations of [`openapi`], since routes and documentation come from one
/// list.
pub fn operations() -> Vec<(String, String)> {
    let doc = openapi();
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ] {
                if item.get(method).is_some() {
                    out.push((method.to_uppercase(), path.clone()));
                }
            }
        }
    }
    out
}

/// The OpenAPI 3.1 description of this API.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)),
)]
pub(crate) async fn openapi_json() -> impl IntoResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| openapi().to_string());
    ([(header::CONTENT_TYPE, "application/json")], json.as_str())
}
