//! The router: routes, layers and handlers. Handlers parse and validate at the edge, call the
//! hub on the blocking pool, check what came back belongs to the caller's tenant, and answer.

use crate::api::{HubApi, Principal};
use crate::dto::{AgentList, AgentView, StockPage, StockQuery, TokenCreated, TokenRequest};
use crate::error::{ApiError, error_response};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;
use std::time::Duration;
use tower_http::trace::TraceLayer;
use xt_shared::ids::AgentId;

/// Largest request body accepted, in bytes. Every body this API takes is a few hundred bytes.
pub const REQUEST_BODY_BYTES_MAX: usize = 64 * 1024;
/// Longest a request may take, body reading and the hub call included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest API key accepted in the `Authorization` header, in bytes; longer ones are refused
/// without asking the hub.
pub const API_KEY_BYTES_MAX: usize = 256;
/// Longest access token (JWT) accepted in the `Authorization` header, in bytes.
pub const ACCESS_TOKEN_BYTES_MAX: usize = 4096;

/// What every handler gets.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) api: Arc<dyn HubApi>,
}

/// The whole HTTP surface, ready to serve:
///
/// - `GET /healthz` (no auth): `{"status":"ok"}`
/// - `GET /api/v1/agents`: [`AgentList`]
/// - `POST /api/v1/agents/{id}/revoke`: the revoked [`AgentView`]
/// - `POST /api/v1/enrollment-tokens` with a [`TokenRequest`]: 201 and a [`TokenCreated`]
/// - `GET /api/v1/stock?warehouse=&sku=&sku_prefix=&cursor=&limit=`: a [`StockPage`]
/// - `GET /.well-known/jwks.json` (no auth), `POST /api/v1/auth/{login,refresh,logout}`,
///   `GET|POST /api/v1/users`, `PATCH /api/v1/users/{username}`, `POST /api/v1/keys/rotate`:
///   see [`crate::identity`]
///
/// Everything under `/api/v1` but `auth/*` needs `Authorization: Bearer <api key or access
/// token>`. Serve with `into_make_service_with_connect_info::<SocketAddr>()` so sign-in
/// throttling sees client addresses.
pub fn router(api: Arc<dyn HubApi>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/v1/agents", get(list_agents))
        .route("/api/v1/agents/{id}/revoke", post(revoke_agent))
        .route("/api/v1/enrollment-tokens", post(create_token))
        .route("/api/v1/stock", get(list_stock))
        .merge(crate::identity_routes::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .layer(middleware::from_fn(deadline))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The query string is left out on purpose: it is user input of unbounded variety.
            tracing::info_span!(
                "http",
                method = %req.method(),
                path = %req.uri().path(),
                tenant = tracing::field::Empty,
            )
        }))
        .with_state(AppState { api })
}

/// Runs a hub call on the blocking pool, inside the current request's span.
pub(crate) async fn blocking<T, F>(api: &Arc<dyn HubApi>, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&dyn HubApi) -> Result<T, ApiError> + Send + 'static,
{
    let api = Arc::clone(api);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(|| f(api.as_ref())))
        .await
        .map_err(|e| ApiError::Internal(format!("hub call did not finish: {e}")))?
}

/// Answers 503 with the JSON error shape when a request takes longer than [`REQUEST_TIMEOUT`].
/// (tower-http's timeout layer answers with an empty body, which clients cannot parse.)
async fn deadline(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_secs = REQUEST_TIMEOUT.as_secs(),
                "request timed out"
            );
            error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!("request took longer than {} s", REQUEST_TIMEOUT.as_secs()),
            )
        }
    }
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {method}", uri.path()),
    )
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

pub(crate) fn require(allowed: bool) -> Result<(), ApiError> {
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

/// A hub answer about another tenant is a bug in the hub; refuse to pass it on.
fn check_tenant(principal: &Principal, agent: &AgentView) -> Result<(), ApiError> {
    if agent.tenant == principal.tenant {
        Ok(())
    } else {
        Err(ApiError::Internal(format!(
            "hub returned agent {} of tenant {} to tenant {}",
            agent.id, agent.tenant, principal.tenant
        )))
    }
}

async fn list_agents(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<AgentList>, ApiError> {
    require(principal.may_administer())?;
    let tenant = principal.tenant.clone();
    let agents = blocking(&state.api, move |api| api.list_agents(&tenant)).await?;
    for agent in &agents {
        check_tenant(&principal, agent)?;
    }
    Ok(Json(AgentList { agents }))
}

async fn revoke_agent(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AgentView>, ApiError> {
    require(principal.may_administer())?;
    let id = AgentId::new(id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let tenant = principal.tenant.clone();
    let agent = blocking(&state.api, move |api| api.revoke_agent(&tenant, &id)).await?;
    check_tenant(&principal, &agent)?;
    tracing::info!(agent = %agent.id, subject = %principal.subject, "agent revoked");
    Ok(Json(agent))
}

async fn create_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(mut req): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    require(principal.may_administer())?;
    req.ttl_secs = Some(req.ttl_secs_checked()?);
    let tenant = principal.tenant.clone();
    let asked = req.clone();
    let created = blocking(&state.api, move |api| {
        api.create_enrollment_token(&tenant, &req)
    })
    .await?;
    if created.tenant != principal.tenant
        || created.site != asked.site
        || created.role != asked.role
    {
        return Err(ApiError::Internal(format!(
            "hub made a token for {}/{}/{} when {}/{}/{} was asked",
            created.tenant,
            created.site,
            created.role.as_str(),
            principal.tenant,
            asked.site,
            asked.role.as_str()
        )));
    }
    tracing::info!(site = %created.site, role = created.role.as_str(), subject = %principal.subject,
        "enrollment token created");
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list_stock(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<StockQuery>,
) -> Result<Json<StockPage>, ApiError> {
    require(principal.may_read())?;
    let query = query.validated()?;
    let limit = query.limit.unwrap_or_default() as usize;
    let page = blocking(&state.api, move |api| api.list_stock(&principal, &query)).await?;
    if page.items.len() > limit {
        return Err(ApiError::Internal(format!(
            "hub returned {} stock rows for a limit of {limit}",
            page.items.len()
        )));
    }
    Ok(Json(page))
}
