//! What the HTTP surface needs from the hub: one trait per domain ([`Domains`]); the hub
//! implements them over its storage.

use crate::access::{Permission, Scope};
use crate::api_keys::{ApiKeyCreate, ApiKeyView};
use crate::dto::{AgentView, Dashboard, StockPage, StockQuery, TokenCreated, TokenRequest};
use crate::error::ApiError;
use crate::events::EventPage;
use crate::fulfilment::{
    DeliveryConfirm, DeliveryException, DeliveryPage, DeliveryQueryChecked, DeliveryView,
    FulfilmentAction, FulfilmentBoard, FulfilmentPage, FulfilmentQueryChecked, FulfilmentSettings,
    FulfilmentView, QimenReply, WarehouseNew, WarehouseView,
};
use crate::identity::{Jwks, KeyRotated, LoginRequest, TokenPair, UserCreate, UserPatch, UserView};
use crate::orders::{
    CaptureErrorView, MemberView, OrderDetail, OrderPage, OrderQueryChecked, SkuMappingNew,
    SkuMappingView, WebhookAck,
};
use crate::shops::{ShopNew, ShopOwned, ShopPatch};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use xt_shared::ids::{AgentId, DocNo, TenantId, WarehouseCode};
use xt_shared::order::Platform;

/// The hub as the HTTP surface sees it: one trait per domain, every method required (a hub that
/// forgets one does not compile), and one handle per domain.
///
/// Methods are synchronous (the hub's storage answers reads in microseconds); the router calls
/// them on the blocking pool (`tokio::task::spawn_blocking`), so an implementation may block on a
/// durable commit or a slow key hash without stalling the runtime.
///
/// Every method but the authentication ones, the signing-key ones and the callbacks signed by
/// an outside system (a platform's webhook, a 3PL's callback: the signature proves the tenant)
/// takes the tenant of the authenticated [`Principal`]: an implementation must never return or touch another tenant's
/// data, and must answer [`ApiError::NotFound`] (not `Forbidden`) for another tenant's ids, so
/// that ids do not leak across tenants.
///
/// Inputs arrive validated by the router: ids are parsed, [`TokenRequest::ttl_secs`] and
/// [`StockQuery::limit`] are `Some` and within their limits, and [`StockQuery::cursor`] decodes
/// as a [`StockCursor`](crate::dto::StockCursor).
#[derive(Clone)]
pub struct Domains {
    /// Identity and access: credentials, sign-in, users, signing keys and partner API keys.
    pub identity: Arc<dyn IdentityApi>,
    /// Agents: enrolled agents and their enrollment tokens.
    pub agents: Arc<dyn AgentsApi>,
    /// Stock levels synced from the agents.
    pub stock: Arc<dyn StockApi>,
    /// The tenant at a glance, pre-aggregated.
    pub dashboard: Arc<dyn DashboardApi>,
    /// Shops and capture: bound shops, their capture errors, backfills and webhooks.
    pub shops: Arc<dyn ShopsApi>,
    /// Orders with their refunds, members and the SKU mapping table.
    pub orders: Arc<dyn OrdersApi>,
    /// Fulfilment: review, dispatch, warehouses, delivery orders and their confirmation.
    pub fulfilment: Arc<dyn FulfilmentApi>,
    /// The change log as a stream of events.
    pub events: Arc<dyn EventsApi>,
    /// The hub operator's view: metrics.
    pub operations: Arc<dyn OperationsApi>,
}

/// Identity and access: credentials, sign-in, users, signing keys and partner API keys. See [`Domains`] for what every domain trait promises.
pub trait IdentityApi: Send + Sync + 'static {
    /// Looks up an API key by its secret (the hub stores only hashes). `None` = unknown or revoked.
    fn authenticate_key(&self, secret: &str) -> Result<Option<Principal>, ApiError>;

    /// Whether `secret` is the hub operator's key: a hub-level credential, no tenant's (never a
    /// [`Principal`]), accepted only where the router asks for an operator — rotating the
    /// signing keys and reading the metrics. The hub stores only its hash.
    fn authenticate_operator(&self, secret: &str) -> Result<bool, ApiError>;

    /// Verifies an access token (signature, `kid`, expiry, not-before) and resolves its user.
    /// `None` = not a valid token of an enabled user.
    fn authenticate_access_token(&self, token: &str) -> Result<Option<Principal>, ApiError>;

    /// Signs a user in. Unknown user, wrong password and disabled user are the same
    /// `Unauthorized`; too many attempts for the account or from `client` are `TooManyRequests`.
    fn login(&self, req: &LoginRequest, client: Option<IpAddr>) -> Result<TokenPair, ApiError>;

    /// Trades a refresh token for a new pair; the presented one is rotated out.
    fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ApiError>;

    /// Revokes the refresh token's whole family. Unknown tokens are ignored.
    fn logout(&self, refresh_token: &str) -> Result<(), ApiError>;

    /// The public keys access tokens are verified with.
    fn jwks(&self) -> Result<Jwks, ApiError>;

    /// Makes a new current signing key; earlier ones keep verifying until their tokens expire.
    fn rotate_signing_key(&self) -> Result<KeyRotated, ApiError>;

    /// Creates a user of `tenant`; `Conflict` if the username is taken.
    fn create_user(&self, tenant: &TenantId, req: &UserCreate) -> Result<UserView, ApiError>;

    /// Every user of `tenant`, disabled ones included.
    fn list_users(&self, tenant: &TenantId) -> Result<Vec<UserView>, ApiError>;

    /// Changes a user of the caller's tenant: roles, warehouses or disabled flag. `NotFound` if
    /// not this tenant's; `BadRequest` if the result fails
    /// [`check_roles`](crate::identity::check_roles); `Forbidden` unless
    /// [`may_grant`](crate::access::may_grant) allows the caller the user both as it is and as it
    /// becomes. Disabling a user revokes the API keys it made, and those those keys made.
    fn update_user(
        &self,
        principal: &Principal,
        username: &str,
        patch: &UserPatch,
    ) -> Result<UserView, ApiError>;

    /// The API keys of `tenant`, newest first, revoked ones included.
    fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyOwned>, ApiError>;

    /// Makes an API key of the caller's tenant, created by the caller. The router has validated
    /// `req` and checked that the caller may grant every scope in it.
    fn create_api_key(
        &self,
        principal: &Principal,
        req: &ApiKeyCreate,
    ) -> Result<ApiKeyMade, ApiError>;

    /// Revokes the key `id` of `tenant` (idempotent). `NotFound` if it is not this tenant's.
    fn revoke_api_key(&self, tenant: &TenantId, id: &str) -> Result<ApiKeyOwned, ApiError>;
}

/// Agents: enrolled agents and their enrollment tokens. See [`Domains`] for what every domain trait promises.
pub trait AgentsApi: Send + Sync + 'static {
    /// Every agent enrolled in `tenant`, revoked ones included.
    fn list_agents(&self, tenant: &TenantId) -> Result<Vec<AgentView>, ApiError>;

    /// Revokes `agent` and returns its view after the change. `NotFound` if it is not this
    /// tenant's agent.
    fn revoke_agent(&self, tenant: &TenantId, agent: &AgentId) -> Result<AgentView, ApiError>;

    /// Makes a one-time enrollment token for `tenant`, bound to the requested site and role.
    fn create_enrollment_token(
        &self,
        tenant: &TenantId,
        req: &TokenRequest,
    ) -> Result<TokenCreated, ApiError>;
}

/// Stock levels synced from the agents. See [`Domains`] for what every domain trait promises.
pub trait StockApi: Send + Sync + 'static {
    /// One page of the caller's tenant's stock rows, ordered by `(warehouse, sku)`, starting
    /// strictly after the cursor if there is one, limited to [`Principal::stock_scope`].
    /// `next_cursor` is `Some` when more rows may follow.
    fn list_stock(&self, principal: &Principal, query: &StockQuery) -> Result<StockPage, ApiError>;
}

/// The tenant at a glance, pre-aggregated. See [`Domains`] for what every domain trait promises.
pub trait DashboardApi: Send + Sync + 'static {
    /// The caller's tenant's dashboard with `minutes` points of series (1 to
    /// [`DASHBOARD_MINUTES_MAX`](crate::dto::DASHBOARD_MINUTES_MAX), checked by the router),
    /// stock totals limited to [`Principal::stock_scope`]. Must cost O(warehouses + sources +
    /// minutes), never a scan of stock rows or the change log.
    fn dashboard(&self, principal: &Principal, minutes: u32) -> Result<Dashboard, ApiError>;
}

/// Shops and capture: bound shops, their capture errors, backfills and webhooks. See [`Domains`] for what every domain trait promises.
pub trait ShopsApi: Send + Sync + 'static {
    /// The shops of `tenant`, oldest first.
    fn list_shops(&self, tenant: &TenantId) -> Result<Vec<ShopOwned>, ApiError>;

    /// Shop `id` of `tenant`. `NotFound` if it is not this tenant's.
    fn shop(&self, tenant: &TenantId, id: &str) -> Result<ShopOwned, ApiError>;

    /// Binds a shop of `tenant` (validated by the router), its secrets stored encrypted.
    fn create_shop(&self, tenant: &TenantId, shop: &ShopNew) -> Result<ShopOwned, ApiError>;

    /// Changes shop `id` of `tenant`; the router checked name and URL, the hub checks the
    /// credentials against the shop's platform (`BadRequest` naming the field). `NotFound` if it
    /// is not this tenant's.
    fn update_shop(
        &self,
        tenant: &TenantId,
        id: &str,
        patch: &ShopPatch,
    ) -> Result<ShopOwned, ApiError>;

    /// The newest capture errors of shop `id` of `tenant`. `NotFound` if it is not this tenant's.
    fn capture_errors(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Vec<CaptureErrorView>, ApiError>;

    /// Schedules a backfill of shop `id` of `tenant` over `[from, to]` (ms).
    fn backfill(&self, tenant: &TenantId, id: &str, from: i64, to: i64) -> Result<(), ApiError>;

    /// A platform webhook for `shop`: verify the signature over `body` with the shop's webhook
    /// secret (`Unauthorized` if it does not match), then capture its order.
    fn webhook(
        &self,
        platform: Platform,
        shop: &str,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> Result<WebhookAck, ApiError>;
}

/// Orders with their refunds, members and the SKU mapping table. See [`Domains`] for what every domain trait promises.
pub trait OrdersApi: Send + Sync + 'static {
    /// Orders of `tenant` (the router checked the query).
    fn orders(&self, tenant: &TenantId, query: &OrderQueryChecked) -> Result<OrderPage, ApiError>;

    /// Order `order_no` of shop `shop` of `tenant`. `NotFound` if it is not this tenant's.
    fn order(&self, tenant: &TenantId, shop: &str, order_no: &str)
    -> Result<OrderDetail, ApiError>;

    /// Member `id` of `tenant`. `NotFound` if it is not this tenant's.
    fn member(&self, tenant: &TenantId, id: &str) -> Result<MemberView, ApiError>;

    /// The SKU mapping table of `tenant`.
    fn sku_mappings(&self, tenant: &TenantId) -> Result<Vec<SkuMappingView>, ApiError>;

    /// Adds a mapping; `Conflict` if its platform key is already mapped.
    fn create_sku_mapping(
        &self,
        tenant: &TenantId,
        new: &SkuMappingNew,
    ) -> Result<SkuMappingView, ApiError>;

    /// Deletes mapping `id` of `tenant`. `NotFound` if it is not this tenant's.
    fn delete_sku_mapping(&self, tenant: &TenantId, id: &str) -> Result<(), ApiError>;
}

/// Fulfilment: from a paid order to a parcel whose tracking the platform knows. The board, each
/// order's fulfilment (holds, timeline, dispatch explanation, deliveries), people's actions,
/// warehouses, the review/merge/split settings, delivery orders as warehouse staff see and
/// confirm them on a phone, and the 3PL's Qimen callback. See [`Domains`] for what every domain
/// trait promises.
///
/// Orders are named `(shop, order_no)` as in [`OrdersApi`]; an order the tenant has but that has
/// not entered fulfilment yet is `NotFound`. An action or a confirmation that does not apply in
/// the current state is `Conflict`, with the reason (`"release does not apply to an order in
/// state allocated"`).
///
/// **Warehouse staff:** the delivery methods take the [`Principal`]: a caller bound to
/// warehouses ([`Principal::stock_scope`] is `Some`) sees and confirms only the delivery orders
/// of those warehouses. Another warehouse's delivery order is `NotFound`, exactly as another
/// tenant's is, so its number does not leak.
pub trait FulfilmentApi: Send + Sync + 'static {
    /// How many of the tenant's orders are in each state (every state, in
    /// [`FulfilmentState::ALL`](crate::fulfilment::FulfilmentState::ALL) order), and the
    /// tracking write-backs failed and waiting. Must cost O(states), never a scan of orders.
    fn board(&self, tenant: &TenantId) -> Result<FulfilmentBoard, ApiError>;

    /// One page of the tenant's orders in fulfilment, oldest `since` first (the router checked
    /// the query). `next_cursor` encodes a
    /// [`FulfilmentCursor`](crate::fulfilment::FulfilmentCursor); a page may end early with a
    /// cursor when the request's scan budget ran out.
    fn fulfilments(
        &self,
        tenant: &TenantId,
        query: &FulfilmentQueryChecked,
    ) -> Result<FulfilmentPage, ApiError>;

    /// Order `order_no` of shop `shop`: state, holds, timeline, dispatch explanation,
    /// deliveries with their packages and write-back, and the actions that apply now.
    fn fulfilment(
        &self,
        tenant: &TenantId,
        shop: &str,
        order_no: &str,
    ) -> Result<FulfilmentView, ApiError>;

    /// A person's action on an order (the router checked `orders:write` and the body). Kept in
    /// the timeline with actor `user` and the principal's username or key id. Returns the
    /// order after the action.
    fn act(
        &self,
        principal: &Principal,
        shop: &str,
        order_no: &str,
        action: &FulfilmentAction,
    ) -> Result<FulfilmentView, ApiError>;

    /// The tenant's warehouses configured for dispatch, by code; a warehouse-bound caller sees
    /// only its own. Secrets never.
    fn warehouses(&self, principal: &Principal) -> Result<Vec<WarehouseView>, ApiError>;

    /// Configures a new warehouse; `Conflict` if the code is configured already, `BadRequest`
    /// naming the field if a Qimen warehouse comes without `app_key` or `secret`, or its
    /// endpoint is refused by the egress policy.
    fn create_warehouse(
        &self,
        tenant: &TenantId,
        warehouse: &WarehouseNew,
    ) -> Result<WarehouseView, ApiError>;

    /// Replaces warehouse `warehouse.code`'s configuration; `NotFound` if it is not this
    /// tenant's. Qimen `app_key`/`secret` left out keep the stored ones (`BadRequest` if there
    /// are none). Orders already dispatched keep their warehouse.
    fn update_warehouse(
        &self,
        tenant: &TenantId,
        warehouse: &WarehouseNew,
    ) -> Result<WarehouseView, ApiError>;

    /// The tenant's review, merge and split settings ([`FulfilmentSettings::default`] until
    /// set).
    fn settings(&self, tenant: &TenantId) -> Result<FulfilmentSettings, ApiError>;

    /// Replaces them (checked by the router); they apply to orders reviewed from now on.
    /// Returns them as stored.
    fn put_settings(
        &self,
        tenant: &TenantId,
        settings: &FulfilmentSettings,
    ) -> Result<FulfilmentSettings, ApiError>;

    /// One page of delivery orders in `query.state`, oldest first, of the caller's warehouses
    /// (see the trait's note on warehouse staff). `next_cursor` encodes a
    /// [`DeliveryCursor`](crate::fulfilment::DeliveryCursor).
    fn deliveries(
        &self,
        principal: &Principal,
        query: &DeliveryQueryChecked,
    ) -> Result<DeliveryPage, ApiError>;

    /// Delivery order `delivery_no`; `NotFound` if not this tenant's or not of the caller's
    /// warehouses.
    fn delivery(
        &self,
        principal: &Principal,
        delivery_no: &DocNo,
    ) -> Result<DeliveryView, ApiError>;

    /// Confirms a delivery order shipped by hand (a phone warehouse): its packages, carriers and
    /// tracking numbers, all lines or part of them. Idempotent by `confirmation_id` (or, without
    /// one, by carrier and tracking number); `Conflict` if the delivery order is not of a phone
    /// warehouse, is cancelled, or the lines exceed what is left to ship. Returns it after.
    fn confirm_delivery(
        &self,
        principal: &Principal,
        delivery_no: &DocNo,
        confirm: &DeliveryConfirm,
    ) -> Result<DeliveryView, ApiError>;

    /// Warehouse staff cannot ship it: the delivery order goes to `exception` with the report;
    /// an `out_of_stock` report reroutes the order if another warehouse holds the goods.
    fn report_delivery_exception(
        &self,
        principal: &Principal,
        delivery_no: &DocNo,
        report: &DeliveryException,
    ) -> Result<DeliveryView, ApiError>;

    /// A 3PL's callback (`deliveryorder.confirm` and the like) for warehouse `warehouse` of
    /// `tenant`, no bearer credential: the hub verifies the Qimen signature over `query` (the
    /// raw query string, at most
    /// [`QIMEN_QUERY_BYTES_MAX`](crate::fulfilment::QIMEN_QUERY_BYTES_MAX)) and `body` (at
    /// most [`QIMEN_BODY_BYTES_MAX`](crate::fulfilment::QIMEN_BODY_BYTES_MAX)) with that
    /// warehouse's secret before anything is read, and applies a confirmation once per
    /// `outBizCode`. An unknown tenant or warehouse, or one that is not `qimen`, answers as a
    /// wrong signature does (status 401), so neither leaks. Always answers in Qimen's format
    /// (a failure body on any error), never an [`ApiError`].
    fn qimen_callback(
        &self,
        tenant: &TenantId,
        warehouse: &WarehouseCode,
        query: &str,
        body: &[u8],
    ) -> QimenReply;
}

/// The change log as a stream of events. See [`Domains`] for what every domain trait promises.
pub trait EventsApi: Send + Sync + 'static {
    /// The events of the change log after key `after` (`None` = from the start) that the caller
    /// may see: only its tenant's, stock rows limited to [`Principal::stock_scope`]. Reads at
    /// most `limit` of the tenant's log entries and none of other tenants' (the work is bounded
    /// whatever they write); [`EventPage::last_key`] is the last key read, so entries filtered
    /// out still advance the caller.
    fn events_after(
        &self,
        principal: &Principal,
        after: Option<u64>,
        limit: usize,
    ) -> Result<EventPage, ApiError>;

    /// The newest event id of the caller's tenant (its change-log position); a stream without
    /// `Last-Event-ID` starts after it.
    fn latest_event_id(&self, principal: &Principal) -> Result<u64, ApiError>;

    /// A receiver that changes whenever any tenant's change log grows, to wake idle event
    /// streams up (each then reads its own tenant's log); `None` = streams poll.
    fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>>;
}

/// The hub operator's view: metrics. See [`Domains`] for what every domain trait promises.
pub trait OperationsApi: Send + Sync + 'static {
    /// The hub's metrics in the OpenMetrics text format (served as
    /// [`METRICS_CONTENT_TYPE`](crate::METRICS_CONTENT_TYPE)). Hub-wide aggregates with bounded
    /// labels only: no tenant's ids may appear in it (it is hub-wide; the operator reads it).
    fn metrics_text(&self) -> Result<String, ApiError>;

    /// One HTTP request was answered: `route` is the route template (`/api/v1/users/{username}`)
    /// or `unmatched`, never a raw path. Called on the async runtime, so it must not block.
    fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64);
}

/// Who is calling: an API key or a signed-in user, always of one tenant.
///
/// What it may do is [`Principal::allows`]: a user gets the union of its roles' permissions
/// ([`Role::permissions`]), an API key the union of its scopes' ([`Scope::permissions`]):
///
/// | who                 | permissions                                                        |
/// |---------------------|--------------------------------------------------------------------|
/// | owner role, `owner` scope | everything of the tenant (not the hub-wide `keys:rotate`, `metrics:read`: the hub operator's) |
/// | admin               | the same; only owners grant or change owners ([`may_grant`](crate::access::may_grant)) |
/// | manager             | agents:read, stock:read, events:read, dashboard:read, orders:read, shipments:read, shops:read |
/// | warehouse           | stock:read, events:read, dashboard:read, shipments:read, shipments:write; stock of its warehouses only ([`Principal::stock_scope`]) |
/// | finance             | stock:read, events:read, dashboard:read, orders:read               |
/// | any other key scope | exactly the permission of the same name (`api_keys:write` = `api_keys:write`) |
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The tenant the credential belongs to; every request is scoped to it.
    pub tenant: TenantId,
    /// The key's public id or the user's id (never a secret), for logs and audit.
    pub subject: String,
    /// What kind of credential it was.
    pub kind: PrincipalKind,
    /// The user's username (`None` for API keys).
    pub username: Option<String>,
    /// The user's roles; an API key has `[owner]` if it has the `owner` scope, else none.
    pub roles: Vec<Role>,
    /// The warehouses a [`Role::Warehouse`] user is bound to (empty for everyone else).
    pub warehouses: Vec<WarehouseCode>,
    /// What an API key may do (empty for users).
    pub scopes: Vec<Scope>,
}

/// The kind of credential a [`Principal`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    ApiKey,
    User,
}

impl Principal {
    /// An API key of `tenant` with `scopes`.
    pub fn api_key(tenant: TenantId, key_id: String, scopes: Vec<Scope>) -> Principal {
        let roles = if scopes.contains(&Scope::Owner) {
            vec![Role::Owner]
        } else {
            Vec::new()
        };
        Principal {
            tenant,
            subject: key_id,
            kind: PrincipalKind::ApiKey,
            username: None,
            roles,
            warehouses: Vec::new(),
            scopes,
        }
    }

    /// Whether the caller may do `permission` (see the table on [`Principal`]).
    pub fn allows(&self, permission: Permission) -> bool {
        match self.kind {
            PrincipalKind::User => self
                .roles
                .iter()
                .any(|r| r.permissions().contains(&permission)),
            PrincipalKind::ApiKey => self
                .scopes
                .iter()
                .any(|s| s.permissions().contains(&permission)),
        }
    }

    /// Every permission the caller has, in [`Permission::ALL`] order.
    pub fn permissions(&self) -> Vec<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| self.allows(*p))
            .collect()
    }

    /// Whether the caller is an owner (owner user or `owner`-scoped key): only owners make
    /// owners, of either kind.
    pub fn is_owner(&self) -> bool {
        match self.kind {
            PrincipalKind::User => self.roles.contains(&Role::Owner),
            PrincipalKind::ApiKey => self.scopes.contains(&Scope::Owner),
        }
    }

    /// The warehouses whose stock the caller may see: `None` for all of them, `Some` for a user
    /// whose only stock-reading role is [`Role::Warehouse`]. API keys are never bound to
    /// warehouses.
    pub fn stock_scope(&self) -> Option<&[WarehouseCode]> {
        if self.kind == PrincipalKind::ApiKey {
            return None;
        }
        let unrestricted = self.roles.iter().any(|r| !matches!(r, Role::Warehouse));
        (!unrestricted).then_some(self.warehouses.as_slice())
    }
}

/// A user's role within a tenant.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including the hub's signing keys.
    Owner,
    /// Agents, enrollment tokens, users and data.
    Admin,
    /// Reads all of the tenant's data.
    Manager,
    /// Reads the stock of the warehouses the user is bound to.
    Warehouse,
    /// Reads the tenant's data (finance views come later).
    Finance,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Manager => "manager",
            Role::Warehouse => "warehouse",
            Role::Finance => "finance",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "owner" => Ok(Role::Owner),
            "admin" => Ok(Role::Admin),
            "manager" => Ok(Role::Manager),
            "warehouse" => Ok(Role::Warehouse),
            "finance" => Ok(Role::Finance),
            other => Err(format!(
                "unknown role {other:?} (owner, admin, manager, warehouse, finance)"
            )),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An API key as the hub answers about it: the view and the tenant it belongs to (which the
/// router checks is the caller's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyOwned {
    pub tenant: TenantId,
    pub view: ApiKeyView,
}

/// A new API key: its view, its tenant and its secret (shown once, then only its hash is kept).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyMade {
    pub tenant: TenantId,
    pub view: ApiKeyView,
    pub secret: String,
}

impl std::fmt::Debug for ApiKeyMade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyMade")
            .field("tenant", &self.tenant)
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}
