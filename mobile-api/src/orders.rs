//! Sales orders (`/api/v1/orders`), members, the SKU mapping table, a shop's capture errors and
//! the platforms' webhooks.
//!
//! An order's id is `{shop_id}:{platform order no}`. Money is `{"minor", "currency"}` in integer
//! minor units; times are RFC 3339 UTC. Webhooks are the one route without a bearer
//! credential: the platform signs the raw body with the shop's webhook secret, and the hub
//! checks that signature before anything is stored (401 otherwise).

use crate::access::Permission;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::routes::{AppState, blocking, require};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use xt_shared::order::{OrderState, Platform, RefundState};

/// Orders per page by default and at most.
pub const ORDERS_LIMIT_DEFAULT: u32 = 50;
pub const ORDERS_LIMIT_MAX: u32 = 500;
/// Longest backfill: Taobao serves only the last three months, Shopify 60 days without
/// `read_all_orders`.
pub const BACKFILL_DAYS_MAX: i64 = 92;
/// Largest webhook body accepted, in bytes: a platform's order with hundreds of lines is far
/// larger than the [`REQUEST_BODY_BYTES_MAX`](crate::REQUEST_BODY_BYTES_MAX) every other route
/// keeps.
pub const WEBHOOK_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Longest id, filter or cursor accepted, in bytes.
pub(crate) const TEXT_MAX: usize = 256;

/// An amount in integer minor units of its currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MoneyView {
    #[schema(example = 12345)]
    pub minor: i64,
    #[schema(example = "CNY")]
    pub currency: String,
}

/// `GET /api/v1/orders` query string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OrderQuery {
    /// Only this shop (`shop-…`).
    pub shop: Option<String>,
    /// Only this platform: taobao, tmall, jd, shopify, woocommerce.
    pub platform: Option<String>,
    /// Only this standard status (`paid`, `shipped`, …).
    pub status: Option<String>,
    /// Platform `modified` at or after this RFC 3339 time.
    pub modified_from: Option<String>,
    /// Platform `modified` at or before this RFC 3339 time.
    pub modified_to: Option<String>,
    /// Only this platform order number.
    pub order_no: Option<String>,
    /// A part of the receiver's name or phone (as the platform gave them, possibly masked).
    pub receiver: Option<String>,
    /// Only orders held (e.g. an unmapped SKU).
    pub held: Option<bool>,
    /// Opaque: the `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Rows per page: default 50, 1 to 500.
    pub limit: Option<u32>,
}

/// An [`OrderQuery`] checked: the hub relies on every field being valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderQueryChecked {
    pub shop: Option<String>,
    pub platform: Option<Platform>,
    pub status: Option<OrderState>,
    pub modified_from: Option<i64>,
    pub modified_to: Option<i64>,
    pub order_no: Option<String>,
    pub receiver: Option<String>,
    pub held_only: bool,
    pub after: Option<OrderCursor>,
    pub limit: usize,
}

/// Where an order page ended: the listing key of its last row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCursor {
    pub modified: i64,
    pub shop: String,
    pub order_no: String,
}

impl OrderCursor {
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursor encodes"))
    }

    pub fn decode(s: &str) -> Result<OrderCursor, ApiError> {
        let invalid = || ApiError::BadRequest("invalid cursor (pass next_cursor unchanged)".into());
        if s.len() > TEXT_MAX * 2 {
            return Err(invalid());
        }
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid())
    }
}

fn text(field: &str, v: &Option<String>) -> Result<Option<String>, ApiError> {
    match v {
        Some(s) if s.is_empty() || s.len() > TEXT_MAX || s.chars().any(char::is_control) => {
            Err(ApiError::BadRequest(format!(
                "{field} must be 1 to {TEXT_MAX} bytes without control characters"
            )))
        }
        other => Ok(other.clone()),
    }
}

fn time_ms(field: &str, v: &Option<String>) -> Result<Option<i64>, ApiError> {
    v.as_deref()
        .map(|s| {
            crate::utc::parse(s)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .map_err(|_| {
                    ApiError::BadRequest(format!(
                        "{field} {s:?} is not an RFC 3339 time (e.g. 2026-11-26T08:00:00Z)"
                    ))
                })
        })
        .transpose()
}

/// Parses a snake_case enum value the way serde names it, or a 400 listing the field.
fn enum_value<T: for<'de> Deserialize<'de>>(field: &str, v: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(v.to_owned()))
        .map_err(|_| ApiError::BadRequest(format!("{field} {v:?} is not a known value")))
}

impl OrderQuery {
    pub fn validated(&self) -> Result<OrderQueryChecked, ApiError> {
        let limit = self.limit.unwrap_or(ORDERS_LIMIT_DEFAULT);
        if !(1..=ORDERS_LIMIT_MAX).contains(&limit) {
            return Err(ApiError::BadRequest(format!(
                "limit must be between 1 and {ORDERS_LIMIT_MAX}, got {limit}"
            )));
        }
        Ok(OrderQueryChecked {
            shop: text("shop", &self.shop)?,
            platform: self
                .platform
                .as_deref()
                .map(|p| enum_value("platform", p))
                .transpose()?,
            status: self
                .status
                .as_deref()
                .map(|s| enum_value("status", s))
                .transpose()?,
            modified_from: time_ms("modified_from", &self.modified_from)?,
            modified_to: time_ms("modified_to", &self.modified_to)?,
            order_no: text("order_no", &self.order_no)?,
            receiver: text("receiver", &self.receiver)?,
            held_only: self.held.unwrap_or(false),
            after: self
                .cursor
                .as_deref()
                .map(OrderCursor::decode)
                .transpose()?,
            limit: limit as usize,
        })
    }
}

/// One order in a listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderSummary {
    /// `{shop_id}:{order_no}`.
    pub id: String,
    pub shop_id: String,
    pub shop_name: Option<String>,
    #[schema(value_type = String, example = "taobao")]
    pub platform: Platform,
    pub order_no: String,
    #[schema(value_type = String, example = "paid")]
    pub status: OrderState,
    pub platform_status: String,
    pub receiver_name: Option<String>,
    pub receiver_masked: bool,
    pub paid: MoneyView,
    pub lines: usize,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub modified_at: OffsetDateTime,
    /// Why the order is held (e.g. an unmapped SKU), `null` when it is not.
    pub held: Option<String>,
}

/// `GET /api/v1/orders` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderPage {
    pub orders: Vec<OrderSummary>,
    /// Where the next page starts; `null` at the end. Set also after a page with fewer orders
    /// than the limit (even none) when the request's scan budget ran out first.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BuyerView {
    #[schema(value_type = String)]
    pub platform: Platform,
    pub open_uid: Option<String>,
    pub customer_id: Option<String>,
    pub email_sha256: Option<String>,
    pub nick: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReceiverView {
    pub name: Option<String>,
    pub phone: Option<String>,
    /// The platform gave name/phone masked (`张**`, `138****1234`).
    pub masked: bool,
    pub country: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub town: Option<String>,
    pub address: Option<String>,
    pub zip: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AmountsView {
    pub goods: MoneyView,
    pub discount: MoneyView,
    pub freight: MoneyView,
    pub paid: MoneyView,
    pub cod_receivable: MoneyView,
    pub refunded: MoneyView,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FlagsView {
    pub cod: bool,
    pub presale: bool,
    pub test: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderLineView {
    pub line_id: String,
    pub platform_sku_id: Option<String>,
    pub merchant_sku: Option<String>,
    /// The internal SKU it maps to; `null` while unmapped (the order is then held).
    pub internal_sku: Option<String>,
    pub title: String,
    pub quantity: u32,
    pub unit_price: MoneyView,
    pub discount: MoneyView,
    pub paid: Option<MoneyView>,
    #[schema(value_type = Option<String>)]
    pub status: Option<OrderState>,
    #[schema(value_type = Option<String>)]
    pub refund: Option<RefundState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RefundView {
    pub refund_id: String,
    pub line_id: Option<String>,
    #[schema(value_type = String, example = "refunded")]
    pub state: RefundState,
    pub platform_status: String,
    pub amount: MoneyView,
    pub reason: Option<String>,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub modified_at: OffsetDateTime,
}

/// Who last set one field group of an order, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProvenanceView {
    /// `status`, `buyer`, `receiver`, `amounts`, `times`, `memos`, `flags`, `lines[i]`.
    pub field: String,
    /// `shop/{shop_id}` for capture (poll or webhook).
    pub origin: String,
    /// The origin's version: the platform `modified`, in ms since the epoch.
    pub version: i64,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// `GET /api/v1/orders/{id}` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderDetail {
    #[serde(flatten)]
    pub summary: OrderSummary,
    pub member_id: Option<String>,
    pub buyer: BuyerView,
    pub receiver: ReceiverView,
    pub amounts: AmountsView,
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paid_at: Option<OffsetDateTime>,
    pub buyer_memo: Option<String>,
    pub seller_memo: Option<String>,
    pub flags: FlagsView,
    pub lines: Vec<OrderLineView>,
    pub refunds: Vec<RefundView>,
    pub provenance: Vec<ProvenanceView>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IdentityView {
    #[schema(value_type = String)]
    pub platform: Platform,
    /// `open_uid`, `customer_id` or `email_sha256`.
    pub kind: String,
    pub value: String,
    /// The shop the identity is valid in; `null` for identities valid everywhere (hashed email).
    pub shop_id: Option<String>,
}

/// `GET /api/v1/members/{id}` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberView {
    pub id: String,
    pub identities: Vec<IdentityView>,
    /// Their orders (at most 200).
    pub orders: Vec<OrderSummary>,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub first_seen: OffsetDateTime,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen: OffsetDateTime,
}

/// One row of the SKU mapping table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkuMappingView {
    pub id: String,
    #[schema(value_type = String)]
    pub platform: Platform,
    pub platform_sku_id: Option<String>,
    pub merchant_sku: Option<String>,
    /// The internal SKU.
    pub sku: String,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SkuMappingList {
    pub mappings: Vec<SkuMappingView>,
}

/// `POST /api/v1/sku-mappings` body: a platform SKU id or a merchant code (not both) → SKU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkuMappingCreate {
    #[schema(value_type = String, example = "taobao")]
    pub platform: String,
    pub platform_sku_id: Option<String>,
    pub merchant_sku: Option<String>,
    pub sku: String,
}

/// A [`SkuMappingCreate`] checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuMappingNew {
    pub platform: Platform,
    pub platform_sku_id: Option<String>,
    pub merchant_sku: Option<String>,
    pub sku: xt_shared::ids::Sku,
}

impl SkuMappingCreate {
    pub fn validated(&self) -> Result<SkuMappingNew, ApiError> {
        let platform = crate::shops::parse_platform(&self.platform)?;
        let platform_sku_id = text("platform_sku_id", &self.platform_sku_id)?;
        let merchant_sku = text("merchant_sku", &self.merchant_sku)?;
        if platform_sku_id.is_some() == merchant_sku.is_some() {
            return Err(ApiError::BadRequest(
                "give exactly one of platform_sku_id and merchant_sku".into(),
            ));
        }
        let sku = xt_shared::ids::Sku::new(self.sku.as_str())
            .map_err(|e| ApiError::BadRequest(format!("sku: {e}")))?;
        Ok(SkuMappingNew {
            platform,
            platform_sku_id,
            merchant_sku,
            sku,
        })
    }
}

/// One payload a shop's capture could not use, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaptureErrorView {
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub order_no: Option<String>,
    pub reason: String,
    /// The payload as received (cut at 64 KiB).
    pub raw: String,
}

/// `GET /api/v1/shops/{id}/capture-errors` response, newest first (at most 100).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CaptureErrorList {
    pub errors: Vec<CaptureErrorView>,
}

/// `POST /api/v1/shops/{id}/backfill` body: capture again every order modified in this range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BackfillRequest {
    #[schema(example = "2026-11-01T00:00:00Z")]
    pub from: String,
    #[schema(example = "2026-11-26T00:00:00Z")]
    pub to: String,
}

/// A webhook delivery the hub accepted (also a duplicate, or a payload kept as a capture error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WebhookAck {
    pub accepted: bool,
}

/// Orders of the tenant, newest platform `modified` first (`orders:read`).
///
/// Each request examines a bounded number of orders (a few thousand), matching or not, so a
/// filter that matches little answers quickly: **a page may hold fewer orders than `limit`,
/// even none, while `next_cursor` is set.** Keep passing `next_cursor` until it is `null` to
/// see every match.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    params(OrderQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of orders. It may hold fewer orders than `limit` (even none) while `next_cursor` is set: each request examines a bounded number of orders; follow `next_cursor` until it is null", body = OrderPage),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn list_orders(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<OrderQuery>,
) -> Result<Json<OrderPage>, ApiError> {
    require(principal.allows(Permission::OrdersRead))?;
    let query = query.validated()?;
    let tenant = principal.tenant.clone();
    let page = blocking(&state.api, move |api| api.orders.orders(&tenant, &query)).await?;
    Ok(Json(page))
}

/// One order with its lines, refunds and per-field provenance (`orders:read`).
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    params(("id" = String, Path, description = "`{shop_id}:{platform order no}`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such thing in the caller's tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn get_order(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<OrderDetail>, ApiError> {
    require(principal.allows(Permission::OrdersRead))?;
    let not_found = || ApiError::NotFound(format!("order {id:?} not found"));
    let (shop, no) = id.split_once(':').ok_or_else(not_found)?;
    if shop.is_empty() || no.is_empty() || id.len() > TEXT_MAX {
        return Err(not_found());
    }
    let (shop, no) = (shop.to_owned(), no.to_owned());
    let tenant = principal.tenant.clone();
    let order = blocking(&state.api, move |api| api.orders.order(&tenant, &shop, &no)).await?;
    Ok(Json(order))
}

/// A member: the buyer identities linked across channels, and their orders (`orders:read`).
#[utoipa::path(
    get,
    path = "/api/v1/members/{id}",
    tag = "orders",
    params(("id" = String, Path, description = "The member id (`mem-…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The member", body = MemberView),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such thing in the caller's tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn get_member(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<MemberView>, ApiError> {
    require(principal.allows(Permission::OrdersRead))?;
    if id.is_empty() || id.len() > TEXT_MAX {
        return Err(ApiError::NotFound(format!("member {id:?} not found")));
    }
    let tenant = principal.tenant.clone();
    let member = blocking(&state.api, move |api| api.orders.member(&tenant, &id)).await?;
    Ok(Json(member))
}

/// The SKU mapping table (`orders:read`).
#[utoipa::path(
    get,
    path = "/api/v1/sku-mappings",
    tag = "orders",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every mapping of the tenant", body = SkuMappingList),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn list_sku_mappings(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<SkuMappingList>, ApiError> {
    require(principal.allows(Permission::OrdersRead))?;
    let tenant = principal.tenant.clone();
    let mappings = blocking(&state.api, move |api| api.orders.sku_mappings(&tenant)).await?;
    Ok(Json(SkuMappingList { mappings }))
}

/// Maps a platform SKU id or merchant code to an internal SKU (`orders:write`); held orders
/// it completes are released.
#[utoipa::path(
    post,
    path = "/api/v1/sku-mappings",
    tag = "orders",
    request_body = SkuMappingCreate,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The mapping", body = SkuMappingView),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 409, description = "That platform SKU id or merchant code is already mapped", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn create_sku_mapping(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(req): ApiJson<SkuMappingCreate>,
) -> Result<(StatusCode, Json<SkuMappingView>), ApiError> {
    require(principal.allows(Permission::OrdersWrite))?;
    let new = req.validated()?;
    let tenant = principal.tenant.clone();
    let view = blocking(&state.api, move |api| {
        api.orders.create_sku_mapping(&tenant, &new)
    })
    .await?;
    tracing::info!(mapping = %view.id, subject = %principal.subject, "SKU mapping added");
    Ok((StatusCode::CREATED, Json(view)))
}

/// Deletes a mapping (`orders:write`). Orders already mapped keep their SKUs.
#[utoipa::path(
    delete,
    path = "/api/v1/sku-mappings/{id}",
    tag = "orders",
    params(("id" = String, Path, description = "The mapping id (`map-…`)")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such thing in the caller's tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn delete_sku_mapping(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    require(principal.allows(Permission::OrdersWrite))?;
    if id.is_empty() || id.len() > TEXT_MAX {
        return Err(ApiError::NotFound(format!("mapping {id:?} not found")));
    }
    let tenant = principal.tenant.clone();
    blocking(&state.api, move |api| {
        api.orders.delete_sku_mapping(&tenant, &id)
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The newest payloads a shop's capture could not use, with their reasons (`shops:read`).
#[utoipa::path(
    get,
    path = "/api/v1/shops/{id}/capture-errors",
    tag = "shops",
    params(("id" = String, Path, description = "The shop id (`shop-…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Newest first, at most 100", body = CaptureErrorList),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such thing in the caller's tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn list_capture_errors(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CaptureErrorList>, ApiError> {
    require(principal.allows(Permission::ShopsRead))?;
    crate::shops::check_id(&id)?;
    let tenant = principal.tenant.clone();
    let errors = blocking(&state.api, move |api| {
        api.shops.capture_errors(&tenant, &id)
    })
    .await?;
    Ok(Json(CaptureErrorList { errors }))
}

/// Captures every order modified in a time range again (`shops:write`), in the background,
/// window by window; orders already held are updated only where the platform has newer data.
#[utoipa::path(
    post,
    path = "/api/v1/shops/{id}/backfill",
    tag = "shops",
    request_body = BackfillRequest,
    params(("id" = String, Path, description = "The shop id (`shop-…`)")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Backfill scheduled"),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such thing in the caller's tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn backfill_shop(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<BackfillRequest>,
) -> Result<StatusCode, ApiError> {
    require(principal.allows(Permission::ShopsWrite))?;
    crate::shops::check_id(&id)?;
    let some = |f: &str, v: &str| time_ms(f, &Some(v.to_owned())).map(|t| t.unwrap_or(0));
    let (from, to) = (some("from", &req.from)?, some("to", &req.to)?);
    if from >= to {
        return Err(ApiError::BadRequest("from must be before to".into()));
    }
    if to - from > BACKFILL_DAYS_MAX * 86_400_000 {
        return Err(ApiError::BadRequest(format!(
            "a backfill spans at most {BACKFILL_DAYS_MAX} days (the platforms keep no older orders)"
        )));
    }
    let tenant = principal.tenant.clone();
    blocking(&state.api, move |api| {
        api.shops.backfill(&tenant, &id, from, to)
    })
    .await?;
    tracing::info!(subject = %principal.subject, "backfill scheduled");
    Ok(StatusCode::ACCEPTED)
}

/// A platform's webhook for one shop. No bearer credential: the body must carry the shop's
/// signature (`X-Shopify-Hmac-Sha256` / `X-WC-Webhook-Signature`, HMAC-SHA256 of the raw body
/// with the shop's webhook secret), else 401 and nothing is stored.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{platform}/{shop}",
    tag = "orders",
    params(
        ("platform" = String, Path, description = "`shopify` or `woocommerce`"),
        ("shop" = String, Path, description = "The shop id (`shop-…`)"),
    ),
    request_body(content = String, description = "The platform's order JSON, as it signed it", content_type = "application/json"),
    responses(
        (status = 200, description = "Accepted (also a duplicate, or a payload kept as a capture error)", body = WebhookAck),
        (status = 401, description = "Missing or wrong signature", body = ErrorBody),
        (status = 404, description = "No such shop for that platform", body = ErrorBody),
        (status = 413, description = "Request body larger than 4 MiB", body = ErrorBody),
    ),
)]
pub(crate) async fn webhook(
    State(state): State<AppState>,
    ApiPath((platform, shop)): ApiPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<WebhookAck>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no {platform} shop {shop:?}"));
    let platform: Platform = enum_value("platform", &platform).map_err(|_| not_found())?;
    if shop.is_empty() || shop.len() > TEXT_MAX {
        return Err(not_found());
    }
    let body = webhook_body(body).await?;
    let ack = blocking(&state.api, move |api| {
        api.shops.webhook(platform, &shop, &headers, &body)
    })
    .await?;
    Ok(Json(ack))
}

/// Reads a webhook's body up to [`WEBHOOK_BODY_BYTES_MAX`] (the router's default limit applies
/// only to the `Bytes`/`Json` extractors, which this route does not use).
async fn webhook_body(body: Body) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, WEBHOOK_BODY_BYTES_MAX)
        .collect()
        .await
    {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::PayloadTooLarge(
            format!("webhook body is larger than {WEBHOOK_BODY_BYTES_MAX} bytes"),
        )),
        Err(e) => Err(ApiError::BadRequest(format!(
            "cannot read webhook body: {e}"
        ))),
    }
}

/// Orders with their refunds, members and the SKU mapping table. Each route and its OpenAPI path come from the handler's `#[utoipa::path]`.
pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<crate::routes::AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(list_orders))
        .routes(utoipa_axum::routes!(get_order))
        .routes(utoipa_axum::routes!(get_member))
        .routes(utoipa_axum::routes!(list_sku_mappings, create_sku_mapping))
        .routes(utoipa_axum::routes!(delete_sku_mapping))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked_field_by_field() {
        let q = OrderQuery {
            platform: Some("jd".into()),
            status: Some("partially_shipped".into()),
            modified_from: Some("2026-11-26T00:00:00Z".into()),
            held: Some(true),
            ..OrderQuery::default()
        };
        let c = q.validated().unwrap();
        assert_eq!(c.platform, Some(Platform::Jd));
        assert_eq!(c.status, Some(OrderState::PartiallyShipped));
        assert_eq!(c.modified_from, Some(1_795_651_200_000));
        assert!(c.held_only);
        assert_eq!(c.limit, 50);
        for bad in [
            OrderQuery {
                status: Some("lost".into()),
                ..OrderQuery::default()
            },
            OrderQuery {
                platform: Some("ebay".into()),
                ..OrderQuery::default()
            },
            OrderQuery {
                modified_to: Some("yesterday".into()),
                ..OrderQuery::default()
            },
            OrderQuery {
                limit: Some(0),
                ..OrderQuery::default()
            },
            OrderQuery {
                cursor: Some("x".into()),
                ..OrderQuery::default()
            },
            OrderQuery {
                receiver: Some("a\nb".into()),
                ..OrderQuery::default()
            },
        ] {
            let err = bad.validated().unwrap_err().to_string();
            assert!(!err.is_empty());
        }
        let cursor = OrderCursor {
            modified: 5,
            shop: "shop-a".into(),
            order_no: "1:2".into(),
        };
        assert_eq!(OrderCursor::decode(&cursor.encode()).unwrap(), cursor);
    }

    #[test]
    fn a_mapping_names_exactly_one_platform_key() {
        let m = |id: Option<&str>, code: Option<&str>| SkuMappingCreate {
            platform: "tmall".into(),
            platform_sku_id: id.map(Into::into),
            merchant_sku: code.map(Into::into),
            sku: "CUP-1".into(),
        };
        assert!(m(Some("9001"), None).validated().is_ok());
        assert!(m(None, Some("C-1")).validated().is_ok());
        assert!(m(None, None).validated().is_err());
        assert!(m(Some("9001"), Some("C-1")).validated().is_err());
    }
}
