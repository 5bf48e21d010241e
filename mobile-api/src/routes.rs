//! The router: routes, layers and handlers. Handlers parse and validate at the edge, call the
//! hub on the blocking pool, check what came back belongs to the caller's tenant, and answer.

use crate::api::Domains;
use crate::client_addr::{DirectLoopback, TrustedProxies};
use crate::error::{ApiError, ErrorBody, error_response};
use crate::extract::authenticate_operator;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, Method, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest request body accepted, in bytes. Every body this API takes is a few hundred bytes,
/// but platforms' webhooks and 3PLs' callbacks, which have their own limits
/// ([`WEBHOOK_BODY_BYTES_MAX`](crate::orders::WEBHOOK_BODY_BYTES_MAX),
/// [`QIMEN_BODY_BYTES_MAX`](crate::fulfilment::QIMEN_BODY_BYTES_MAX)).
pub const REQUEST_BODY_BYTES_MAX: usize = 64 * 1024;
/// Longest a request may take, body reading and the hub call included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest API key accepted in the `Authorization` header, in bytes; longer ones are refused
/// without asking the hub.
pub const API_KEY_BYTES_MAX: usize = 256;
/// Longest access token (JWT) accepted in the `Authorization` header, in bytes.
pub const ACCESS_TOKEN_BYTES_MAX: usize = 4096;
/// Hub calls (all but sign-in and refresh) running at once on the blocking pool by default.
/// Further calls wait their turn inside their request's [`REQUEST_TIMEOUT`]; one whose request
/// timed out while waiting never starts, so slow requests cannot pile up blocking work.
pub const HUB_CALLS_MAX: usize = 32;
/// Sign-in and refresh calls (argon2, slow on purpose) running at once by default, on a budget
/// of their own: however many slow requests wait, sign-in still gets its turn.
pub const SIGN_IN_CALLS_MAX: usize = 8;

/// What every handler gets.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) api: HubCalls,
    pub(crate) trusted_proxies: Arc<TrustedProxies>,
    /// The open event streams, counted against [`RouterOptions::event_streams`].
    pub(crate) event_streams: Arc<crate::events::StreamSlots>,
}

/// The hub, one handle per domain, and the budgets its calls run under (see [`blocking`]); derefs
/// to the [`Domains`] for what does not block.
#[derive(Clone)]
pub(crate) struct HubCalls {
    api: Arc<Domains>,
    general: Arc<Semaphore>,
    sign_in: Arc<Semaphore>,
}

impl std::ops::Deref for HubCalls {
    type Target = Domains;

    fn deref(&self) -> &Self::Target {
        self.api.as_ref()
    }
}

/// Which budget a hub call runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Everything but sign-in and refresh ([`RouterOptions::hub_calls_max`]).
    General,
    /// Sign-in and refresh ([`RouterOptions::sign_in_calls_max`]).
    SignIn,
}

/// How the router is set up beyond the hub's [`Domains`].
#[derive(Debug, Clone)]
pub struct RouterOptions {
    /// Proxies whose `X-Forwarded-For` names the client (for sign-in throttling per address).
    pub trusted_proxies: TrustedProxies,
    /// Hub calls (all but sign-in and refresh) that may run at once (at least 1).
    pub hub_calls_max: usize,
    /// Sign-in and refresh calls that may run at once, apart from the others (at least 1).
    pub sign_in_calls_max: usize,
    /// How many `GET /api/v1/events` streams may be open at once, per tenant and in all.
    pub event_streams: crate::events::EventStreamLimits,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            trusted_proxies: TrustedProxies::default(),
            hub_calls_max: HUB_CALLS_MAX,
            sign_in_calls_max: SIGN_IN_CALLS_MAX,
            event_streams: crate::events::EventStreamLimits::default(),
        }
    }
}

/// The whole HTTP surface, ready to serve:
///
/// - `GET /` and `GET /assets/{path}` (no auth): the web console, see [`crate::console`]
/// - `GET /healthz` (no auth): `{"status":"ok"}`
/// - `GET /api/v1/openapi.json` (no auth): the OpenAPI 3.1 description of all of this
/// - `GET /metrics` (direct loopback clients, or the hub operator's key): the hub's Prometheus
///   metrics
/// - `GET /api/v1/agents`: [`AgentList`]
/// - `POST /api/v1/agents/{id}/revoke`: the revoked [`AgentView`]
/// - `POST /api/v1/enrollment-tokens` with a [`TokenRequest`]: 201 and a [`TokenCreated`]
/// - `GET /api/v1/stock?warehouse=&sku=&sku_prefix=&cursor=&limit=`: a [`StockPage`]
/// - `GET /api/v1/dashboard?minutes=`: a [`Dashboard`]
/// - `GET /api/v1/events` (`Last-Event-ID` or `?after=` to resume): Server-Sent Events, see
///   [`crate::events`]
/// - `GET /.well-known/jwks.json` (no auth), `POST /api/v1/auth/{login,refresh,logout}`,
///   `GET|POST /api/v1/users`, `PATCH /api/v1/users/{username}`, `POST /api/v1/keys/rotate`
///   (the hub operator's key only): see [`crate::identity`]
/// - `GET /api/v1/me`: the caller and its permissions; `GET|POST /api/v1/api-keys`,
///   `POST /api/v1/api-keys/{id}/revoke`: partner API keys, see [`crate::api_keys`]
/// - `GET|POST /api/v1/shops`, `GET|PATCH /api/v1/shops/{id}`: bound shops, see [`crate::shops`]
/// - `GET /api/v1/shops/{id}/capture-errors`, `POST /api/v1/shops/{id}/backfill`,
///   `GET /api/v1/orders`, `GET /api/v1/orders/{id}`, `GET /api/v1/members/{id}`,
///   `GET|POST /api/v1/sku-mappings`, `DELETE /api/v1/sku-mappings/{id}`,
///   `POST /api/v1/webhooks/{platform}/{shop}`: see [`crate::orders`]
/// - `/api/v1/fulfilment/*`, `/api/v1/warehouses*`, `/api/v1/deliveries*` and
///   `POST /api/v1/callbacks/qimen/{tenant}/{warehouse}`: see [`crate::fulfilment`]
///
/// Everything under `/api/v1` but `auth/*` needs `Authorization: Bearer <api key or access
/// token>`. Serve with `into_make_service_with_connect_info::<SocketAddr>()` so sign-in
/// throttling sees client addresses (behind a reverse proxy, name it in
/// [`RouterOptions::trusted_proxies`] so the address comes from its `X-Forwarded-For`).
/// Every response carries `x-request-id` (the client's own if it sent a usable one, else a
/// new UUID), which is also in the request's tracing span.
pub fn router(api: Domains) -> Router {
    router_with(api, RouterOptions::default())
}

/// [`router`] with [`RouterOptions`].
pub fn router_with(api: Domains, options: RouterOptions) -> Router {
    let state = AppState {
        api: HubCalls {
            api: Arc::new(api),
            general: Arc::new(Semaphore::new(options.hub_calls_max.max(1))),
            sign_in: Arc::new(Semaphore::new(options.sign_in_calls_max.max(1))),
        },
        trusted_proxies: Arc::new(options.trusted_proxies),
        event_streams: Arc::new(crate::events::StreamSlots::new(options.event_streams)),
    };
    let (routed, _) = domains().split_for_parts();
    routed
        .merge(crate::console::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(REQUEST_BODY_BYTES_MAX))
        .layer(middleware::from_fn(deadline))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            // The query string is left out on purpose: it is user input of unbounded variety.
            tracing::info_span!(
                "http",
                method = %req.method(),
                path = %req.uri().path(),
                request_id = %request_id(req.headers()),
                tenant = tracing::field::Empty,
            )
        }))
        // Outermost first: drop an unusable client id, keep a usable one or make a UUID, then
        // copy it to the response (every response, errors and timeouts included).
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(middleware::map_request(drop_unusable_request_id))
        .with_state(state)
}

/// Reports every request's duration to [`OperationsApi::observe_http`](crate::api::OperationsApi::observe_http) by method, route template
/// (`unmatched` when no route matched) and status.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    state.api.operations.observe_http(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// The request id header: set on every response; a client's own id is kept when usable.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
const X_REQUEST_ID: HeaderName = HeaderName::from_static(REQUEST_ID_HEADER);
/// Longest client-supplied request id kept, in bytes; longer ones are replaced by a UUID.
pub const REQUEST_ID_BYTES_MAX: usize = 128;

fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// A client's request id goes into logs and back out, so only short printable ASCII ones are
/// kept (one header, 1 to [`REQUEST_ID_BYTES_MAX`] bytes); anything else is replaced.
async fn drop_unusable_request_id(mut req: Request) -> Request {
    let headers = req.headers_mut();
    let mut values = headers.get_all(X_REQUEST_ID).iter();
    let usable = match (values.next(), values.next()) {
        (None, _) => true,
        (Some(v), None) => {
            let b = v.as_bytes();
            !b.is_empty() && b.len() <= REQUEST_ID_BYTES_MAX && b.iter().all(u8::is_ascii_graphic)
        }
        (Some(_), Some(_)) => false,
    };
    if !usable {
        headers.remove(X_REQUEST_ID);
    }
    req
}

/// Every domain's routes, each domain's from its own list, with their OpenAPI paths: a route and
/// its documentation come from the handler's one `#[utoipa::path]` (method, path, parameters,
/// answers), so they cannot drift apart. The document's info, tags and shared schemas come from
/// [`ApiDoc`](crate::openapi::ApiDoc).
pub(crate) fn domains() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .merge(meta_routes())
        .merge(crate::identity_routes::routes())
        .merge(crate::api_keys::routes())
        .merge(crate::agents::routes())
        .merge(crate::stock::routes())
        .merge(crate::dashboard::routes())
        .merge(crate::events::routes())
        .merge(crate::shops::routes())
        .merge(crate::orders::routes())
        .merge(crate::fulfilment::routes())
}

/// Health, metrics and the API's own description.
fn meta_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(crate::openapi::openapi_json))
        .routes(routes!(metrics))
}

/// Runs a hub call on the blocking pool under the general budget, inside the current request's
/// span (see [`blocking_in`]).
pub(crate) async fn blocking<T, F>(calls: &HubCalls, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Domains) -> Result<T, ApiError> + Send + 'static,
{
    blocking_in(calls, Budget::General, f).await
}

/// Runs a hub call on the blocking pool once `budget` has a permit, inside the current request's
/// span. The permit is taken asynchronously before the call starts and held until the call ends:
/// a request that times out while waiting never starts its call, and one that times out while
/// its call runs keeps the permit until the call is done, so blocking work stays bounded.
pub(crate) async fn blocking_in<T, F>(calls: &HubCalls, budget: Budget, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(&Domains) -> Result<T, ApiError> + Send + 'static,
{
    let semaphore = match budget {
        Budget::General => &calls.general,
        Budget::SignIn => &calls.sign_in,
    };
    let permit = Arc::clone(semaphore)
        .acquire_owned()
        .await
        .map_err(|e| ApiError::Internal(format!("hub call budget closed: {e}")))?;
    let api = Arc::clone(&calls.api);
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        span.in_scope(|| f(api.as_ref()))
    })
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

/// `GET /healthz` response.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
}

/// Liveness: answers as long as the process serves HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    responses(
        (status = 200, description = "Serving", body = Health),
    ),
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The content type of `GET /metrics`: OpenMetrics text, which Prometheus scrapes natively.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The hub's Prometheus metrics (OpenMetrics text), hub-wide, so the hub operator's: open to a
/// scraper on the hub's own host (a loopback peer with no `Forwarded`/`X-Forwarded-For`/
/// `X-Real-IP` header, which a reverse proxy on the same host would add), anyone else needs the
/// operator key. No tenant's credential reads them, owners' included.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The metrics in the OpenMetrics text format", body = String,
            content_type = "application/openmetrics-text"),
        (status = 401, description = "Not a direct loopback client, and no or an unknown credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "A tenant's credential: only the hub operator reads metrics", body = ErrorBody),
        (status = 404, description = "This hub has no metrics", body = ErrorBody),
    ),
)]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    DirectLoopback(local): DirectLoopback,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Without connect info (a router called directly) the client is not known to be local.
    if !local || headers.contains_key(header::AUTHORIZATION) {
        authenticate_operator(&headers, &state).await?;
    }
    let text = blocking(&state.api, |api| api.operations.metrics_text()).await?;
    Ok(([(header::CONTENT_TYPE, METRICS_CONTENT_TYPE)], text).into_response())
}

pub(crate) fn require(allowed: bool) -> Result<(), ApiError> {
    if allowed {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}
