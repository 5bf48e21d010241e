//! Xietong's HTTP surface: the routes, the API-key auth, the JSON DTOs and the error shape.
//!
//! The crate never touches storage. It defines one narrow trait per domain of the hub
//! ([`Domains`] holds one handle of each); the hub implements them and serves [`router`]. Every request is authenticated by an API key or an
//! access token from `POST /api/v1/auth/login` (`Authorization: Bearer <key or token>`), and the
//! tenant always comes from the credential, never from the request. Every error, including unknown routes and malformed bodies, is JSON:
//! `{"error": {"code": "not_found", "message": "…"}}`.
//! The OpenAPI 3.1 description is served at `GET /api/v1/openapi.json` (see [`openapi`]), and
//! every response carries `x-request-id`. The web console is served at `/` (see [`console`]).
//!
//! ```no_run
//! use std::sync::Arc;
//! use xt_mobile_api::Domains;
//!
//! async fn serve(api: Domains) -> std::io::Result<()> {
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     axum::serve(listener, xt_mobile_api::router(api)).await
//! }
//! ```
//!
//! Architecture invariant: no IO besides serving HTTP; the only way to data is [`Domains`].

pub mod access;
mod agents;
pub mod api;
pub mod api_keys;
pub mod client_addr;
pub mod console;
mod dashboard;
pub mod dto;
pub mod error;
pub mod events;
mod extract;
pub mod fulfilment;
pub mod identity;
mod identity_routes;
pub mod openapi;
pub mod orders;
mod routes;
pub mod shops;
mod stock;
pub mod utc;

pub use access::{Permission, Scope};
pub use api::{
    AgentsApi, ApiKeyMade, ApiKeyOwned, DashboardApi, Domains, EventsApi, FulfilmentApi,
    IdentityApi, OperationsApi, OrdersApi, Principal, PrincipalKind, Role, ShopsApi, StockApi,
};
pub use api_keys::{ApiKeyCreate, ApiKeyCreated, ApiKeyList, ApiKeyView, MeView};
pub use client_addr::TrustedProxies;
pub use dto::{
    AgentList, AgentView, DASHBOARD_BUCKET_SECS, DASHBOARD_MINUTES_DEFAULT, DASHBOARD_MINUTES_MAX,
    Dashboard, DashboardAgents, DashboardPoint, DashboardQuery, DashboardSeries, DashboardSource,
    DashboardWarehouse, STOCK_LIMIT_DEFAULT, STOCK_LIMIT_MAX, SourceView, StockCursor, StockPage,
    StockQuery, StockRow, TOKEN_TTL_SECS_DEFAULT, TOKEN_TTL_SECS_MAX, TokenCreated, TokenRequest,
};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use events::{
    EventData, EventPage, EventStreamLimits, EventsQuery, StockChangeView, StreamEvent,
};
pub use routes::{
    ACCESS_TOKEN_BYTES_MAX, API_KEY_BYTES_MAX, HUB_CALLS_MAX, METRICS_CONTENT_TYPE,
    REQUEST_BODY_BYTES_MAX, REQUEST_ID_BYTES_MAX, REQUEST_ID_HEADER, REQUEST_TIMEOUT,
    RouterOptions, SIGN_IN_CALLS_MAX, router, router_with,
};
pub use shops::{
    CredentialsInput, CredentialsView, SecretSet, ShopCreate, ShopHealth, ShopList, ShopNew,
    ShopOwned, ShopPatch, ShopView,
};
/// Re-exported so the hub and clients build DTO timestamps with the same `time` version.
pub use time;
