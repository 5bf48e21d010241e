//! The fulfilment handlers: each checks its permission, parses its input into a checked type,
//! calls the hub on the blocking pool and answers. One `#[utoipa::path]` per handler makes both
//! the route and its OpenAPI operation.

use super::config::{FulfilmentSettings, WarehouseInput};
use super::input::{
    DeliveryConfirmRequest, DeliveryExceptionRequest, DeliveryQuery, FulfilmentActionRequest,
    FulfilmentQuery, QIMEN_BODY_BYTES_MAX, QIMEN_QUERY_BYTES_MAX,
};
use super::views::{
    DeliveryPage, DeliveryView, FulfilmentBoard, FulfilmentPage, FulfilmentView, WarehouseList,
    WarehouseView,
};
use crate::access::Permission;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::routes::{AppState, blocking, require};
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes as paths;
use xt_shared::ids::{DocNo, TenantId, WarehouseCode};

/// The tenant's fulfilment at a glance: orders per state, exceptions first, and the tracking
/// write-backs failed and waiting (`orders:read`).
#[utoipa::path(
    get,
    path = "/api/v1/fulfilment/board",
    tag = "fulfilment",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every state's count, exceptions first", body = FulfilmentBoard),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn fulfilment_board(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<FulfilmentBoard>, ApiError> {
    require(principal.allows(Permission::OrdersRead))?;
    let tenant = principal.tenant.clone();
    let board = blocking(&state.api, move |api| api.fulfilment.board(&tenant)).await?;
    Ok(Json(board))
}

/// Orders in fulfilment, oldest in their state first (`orders:read`); `state=held` is the
/// review queue.
///
/// Each request examines a bounded number of orders, so **a page may hold fewer orders than
/// `limit`, even none, while `next_cursor` is set.** Follow `next_cursor` until it is `null`.
#[utoipa::path(
    get,
    path = "/api/v1/fulfilment/orders",
    tag = "fulfilment",
    params(FulfilmentQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of orders; it may be short (even empty) while `next_cursor` is set", body = FulfilmentPage),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn list_fulfilments(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<FulfilmentQuery>,
) -> Result<Json<FulfilmentPage>, ApiError> {
    require(principal.allows(Permission::OrdersRead))?;
    let query = query.validated()?;
    let tenant = principal.tenant.clone();
    let page = blocking(&state.api, move |api| {
        api.fulfilment.fulfilments(&tenant, &query)
    })
    .await?;
    Ok(Json(page))
}

/// One order's fulfilment: state, holds, timeline, dispatch explanation, delivery orders with
/// their packages and tracking write-back, and the actions that apply now (`orders:read`).
#[utoipa::path(
    get,
    path = "/api/v1/fulfilment/orders/{id}",
    tag = "fulfilment",
    params(("id" = String, Path, description = "`{shop_id}:{platform order no}`")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order's fulfilment", body = FulfilmentView),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such order in fulfilment in the caller's tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn get_fulfilment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<FulfilmentView>, ApiError> {
    require(principal.allows(Permission::OrdersRead))?;
    let (shop, no) = order_id(&id)?;
    let tenant = principal.tenant.clone();
    let view = blocking(&state.api, move |api| {
        api.fulfilment.fulfilment(&tenant, &shop, &no)
    })
    .await?;
    Ok(Json(view))
}

/// A person's action on an order (`orders:write`): approve, hold (with a reason), release,
/// cancel (with a reason; a delivery order already at the warehouse is intercepted), reroute
/// to a warehouse, or split into parts. Kept in the order's timeline with the caller.
#[utoipa::path(
    post,
    path = "/api/v1/fulfilment/orders/{id}/actions",
    tag = "fulfilment",
    params(("id" = String, Path, description = "`{shop_id}:{platform order no}`")),
    request_body = FulfilmentActionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order after the action", body = FulfilmentView),
        (status = 400, description = "Malformed request, or a split whose parts do not add up to the order (the message says why)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such order in fulfilment, or no such warehouse, in the caller's tenant", body = ErrorBody),
        (status = 409, description = "The action does not apply in the order's state (the message says why)", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn act_on_fulfilment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<FulfilmentActionRequest>,
) -> Result<Json<FulfilmentView>, ApiError> {
    require(principal.allows(Permission::OrdersWrite))?;
    let (shop, no) = order_id(&id)?;
    let action = req.validated()?;
    let who = principal.clone();
    let view = blocking(&state.api, move |api| {
        api.fulfilment.act(&who, &shop, &no, &action)
    })
    .await?;
    tracing::info!(order = %id, action = req.action.as_str(), subject = %principal.subject, "fulfilment action");
    Ok(Json(view))
}

/// The tenant's review, merge and split settings (`orders:read`).
#[utoipa::path(
    get,
    path = "/api/v1/fulfilment/settings",
    tag = "fulfilment",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings (the defaults until set)", body = FulfilmentSettings),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn get_fulfilment_settings(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<FulfilmentSettings>, ApiError> {
    require(principal.allows(Permission::OrdersRead))?;
    let tenant = principal.tenant.clone();
    let settings = blocking(&state.api, move |api| api.fulfilment.settings(&tenant)).await?;
    Ok(Json(settings))
}

/// Replaces the review, merge and split settings as a whole (`orders:write`); they apply to
/// orders reviewed from now on.
#[utoipa::path(
    put,
    path = "/api/v1/fulfilment/settings",
    tag = "fulfilment",
    request_body = FulfilmentSettings,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The settings as stored", body = FulfilmentSettings),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn put_fulfilment_settings(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(req): ApiJson<FulfilmentSettings>,
) -> Result<Json<FulfilmentSettings>, ApiError> {
    require(principal.allows(Permission::OrdersWrite))?;
    let settings = req.validated()?;
    let tenant = principal.tenant.clone();
    let stored = blocking(&state.api, move |api| {
        api.fulfilment.put_settings(&tenant, &settings)
    })
    .await?;
    tracing::info!(subject = %principal.subject, "fulfilment settings changed");
    Ok(Json(stored))
}

/// The warehouses configured for dispatch, by code (`shipments:read`); staff bound to
/// warehouses see only theirs. Secrets never.
#[utoipa::path(
    get,
    path = "/api/v1/warehouses",
    tag = "fulfilment",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The warehouses, without secrets", body = WarehouseList),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn list_warehouses(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<WarehouseList>, ApiError> {
    require(principal.allows(Permission::ShipmentsRead))?;
    let who = principal.clone();
    let warehouses = blocking(&state.api, move |api| api.fulfilment.warehouses(&who)).await?;
    Ok(Json(WarehouseList { warehouses }))
}

/// Configures a warehouse for dispatch (`shops:write`): its kind (an agent's WMS, a 3PL over
/// Qimen, or phone confirmation), coverage, priority and cost. Qimen secrets are stored
/// encrypted and never shown again.
#[utoipa::path(
    post,
    path = "/api/v1/warehouses",
    tag = "fulfilment",
    request_body = WarehouseInput,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The warehouse, without secrets", body = WarehouseView),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 409, description = "A warehouse of that code is configured already", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn create_warehouse(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(req): ApiJson<WarehouseInput>,
) -> Result<(StatusCode, Json<WarehouseView>), ApiError> {
    require(principal.allows(Permission::ShopsWrite))?;
    let new = req.validated()?;
    let tenant = principal.tenant.clone();
    let view = blocking(&state.api, move |api| {
        api.fulfilment.create_warehouse(&tenant, &new)
    })
    .await?;
    tracing::info!(warehouse = %view.code, subject = %principal.subject, "warehouse configured");
    Ok((StatusCode::CREATED, Json(view)))
}

/// Replaces a warehouse's configuration (`shops:write`); the body names the same code. Qimen
/// `app_key` and `secret` left out keep the stored ones.
#[utoipa::path(
    put,
    path = "/api/v1/warehouses/{code}",
    tag = "fulfilment",
    params(("code" = String, Path, description = "The warehouse code")),
    request_body = WarehouseInput,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The warehouse after the change, without secrets", body = WarehouseView),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such warehouse in the caller's tenant", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn update_warehouse(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(code): ApiPath<String>,
    ApiJson(req): ApiJson<WarehouseInput>,
) -> Result<Json<WarehouseView>, ApiError> {
    require(principal.allows(Permission::ShopsWrite))?;
    let code = WarehouseCode::new(code.as_str())
        .map_err(|_| ApiError::NotFound(format!("warehouse {code:?} not found")))?;
    let new = req.validated()?;
    if new.code != code {
        return Err(ApiError::BadRequest(format!(
            "code {} differs from the path's {code}: a warehouse's code never changes",
            new.code
        )));
    }
    let tenant = principal.tenant.clone();
    let view = blocking(&state.api, move |api| {
        api.fulfilment.update_warehouse(&tenant, &new)
    })
    .await?;
    tracing::info!(warehouse = %view.code, subject = %principal.subject, "warehouse changed");
    Ok(Json(view))
}

/// Delivery orders of the caller's warehouses, oldest first, by default those waiting to be
/// shipped (`shipments:read`). Staff bound to warehouses see only theirs: naming another
/// warehouse lists nothing.
///
/// Each request examines a bounded number of rows, so **a page may hold fewer than `limit`,
/// even none, while `next_cursor` is set.**
#[utoipa::path(
    get,
    path = "/api/v1/deliveries",
    tag = "fulfilment",
    params(DeliveryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of delivery orders; it may be short (even empty) while `next_cursor` is set", body = DeliveryPage),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<DeliveryQuery>,
) -> Result<Json<DeliveryPage>, ApiError> {
    require(principal.allows(Permission::ShipmentsRead))?;
    let query = query.validated()?;
    let who = principal.clone();
    let page = blocking(&state.api, move |api| {
        api.fulfilment.deliveries(&who, &query)
    })
    .await?;
    Ok(Json(page))
}

/// One delivery order: lines, receiver, memos, packages (`shipments:read`). A delivery order
/// of a warehouse the caller is not bound to is 404, as another tenant's is.
#[utoipa::path(
    get,
    path = "/api/v1/deliveries/{delivery_no}",
    tag = "fulfilment",
    params(("delivery_no" = String, Path, description = "The delivery number")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The delivery order", body = DeliveryView),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such delivery order in the caller's tenant and warehouses", body = ErrorBody),
    ),
)]
pub(crate) async fn get_delivery(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(no): ApiPath<String>,
) -> Result<Json<DeliveryView>, ApiError> {
    require(principal.allows(Permission::ShipmentsRead))?;
    let no = delivery_no(&no)?;
    let who = principal.clone();
    let view = blocking(&state.api, move |api| api.fulfilment.delivery(&who, &no)).await?;
    Ok(Json(view))
}

/// Confirms a delivery order shipped by hand (`shipments:write`): one parcel with its carrier
/// and tracking number, or several parcels, or part of the lines. Sending the same
/// `confirmation_id` again does not ship twice. A delivery order of a warehouse the caller is
/// not bound to is 404, as another tenant's is.
#[utoipa::path(
    post,
    path = "/api/v1/deliveries/{delivery_no}/confirm",
    tag = "fulfilment",
    params(("delivery_no" = String, Path, description = "The delivery number")),
    request_body = DeliveryConfirmRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The delivery order after the confirmation", body = DeliveryView),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such delivery order in the caller's tenant and warehouses", body = ErrorBody),
        (status = 409, description = "Not a phone warehouse's, cancelled, or more than is left to ship (the message says why)", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn confirm_delivery(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(no): ApiPath<String>,
    ApiJson(req): ApiJson<DeliveryConfirmRequest>,
) -> Result<Json<DeliveryView>, ApiError> {
    require(principal.allows(Permission::ShipmentsWrite))?;
    let no = delivery_no(&no)?;
    let confirm = req.validated()?;
    let who = principal.clone();
    let view = blocking(&state.api, move |api| {
        api.fulfilment.confirm_delivery(&who, &no, &confirm)
    })
    .await?;
    tracing::info!(delivery = %view.delivery_no, subject = %principal.subject, "delivery confirmed");
    Ok(Json(view))
}

/// Reports that a delivery order cannot be shipped (`shipments:write`): out of stock (the
/// order goes to another warehouse if one holds the goods), an address problem, damaged goods,
/// or another reason. Another warehouse's delivery order is 404.
#[utoipa::path(
    post,
    path = "/api/v1/deliveries/{delivery_no}/exception",
    tag = "fulfilment",
    params(("delivery_no" = String, Path, description = "The delivery number")),
    request_body = DeliveryExceptionRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The delivery order after the report", body = DeliveryView),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such delivery order in the caller's tenant and warehouses", body = ErrorBody),
        (status = 409, description = "Already shipped or cancelled", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn report_delivery_exception(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(no): ApiPath<String>,
    ApiJson(req): ApiJson<DeliveryExceptionRequest>,
) -> Result<Json<DeliveryView>, ApiError> {
    require(principal.allows(Permission::ShipmentsWrite))?;
    let no = delivery_no(&no)?;
    let report = req.validated()?;
    let who = principal.clone();
    let view = blocking(&state.api, move |api| {
        api.fulfilment.report_delivery_exception(&who, &no, &report)
    })
    .await?;
    tracing::info!(delivery = %view.delivery_no, subject = %principal.subject, "delivery exception reported");
    Ok(Json(view))
}

/// A 3PL's Qimen callback (`deliveryorder.confirm` and the like) for one warehouse. No bearer
/// credential: the query string carries the Qimen signature
/// (`MD5(secret + sorted params + body + secret)`), checked with the warehouse's secret before
/// anything is read. The answer is Qimen's own
/// `<response><flag>…</flag><code>…</code><message>…</message></response>`.
#[utoipa::path(
    post,
    path = "/api/v1/callbacks/qimen/{tenant}/{warehouse}",
    tag = "fulfilment",
    params(
        ("tenant" = String, Path, description = "The tenant id"),
        ("warehouse" = String, Path, description = "The warehouse code (a `qimen` warehouse)"),
    ),
    request_body(content = String, description = "The 3PL's request (XML or JSON), as it signed it", content_type = "application/xml"),
    responses(
        (status = 200, description = "Qimen's answer (`flag` success or failure; a repeated `outBizCode` is a success)", body = String, content_type = "application/xml"),
        (status = 400, description = "A query string longer than 4 KiB", body = ErrorBody),
        (status = 401, description = "Missing or wrong signature, or no such Qimen warehouse (Qimen's failure answer)", body = String, content_type = "application/xml"),
        (status = 404, description = "Not a tenant id or warehouse code", body = ErrorBody),
        (status = 413, description = "Request body larger than 1 MiB", body = ErrorBody),
    ),
)]
pub(crate) async fn qimen_callback(
    State(state): State<AppState>,
    ApiPath((tenant, warehouse)): ApiPath<(String, String)>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no qimen warehouse {tenant}/{warehouse}"));
    let tenant_id = TenantId::new(tenant.as_str()).map_err(|_| not_found())?;
    let code = WarehouseCode::new(warehouse.as_str()).map_err(|_| not_found())?;
    let query = query.unwrap_or_default();
    if query.len() > QIMEN_QUERY_BYTES_MAX {
        return Err(ApiError::BadRequest(format!(
            "query string is longer than {QIMEN_QUERY_BYTES_MAX} bytes"
        )));
    }
    let body = capped_body(body, QIMEN_BODY_BYTES_MAX, "callback body").await?;
    let reply = blocking(&state.api, move |api| {
        Ok(api
            .fulfilment
            .qimen_callback(&tenant_id, &code, &query, &body))
    })
    .await?;
    let status = StatusCode::from_u16(reply.status)
        .map_err(|_| ApiError::Internal(format!("qimen reply has status {}", reply.status)))?;
    let content_type = HeaderValue::from_str(&reply.content_type).map_err(|_| {
        ApiError::Internal(format!(
            "qimen reply has content type {:?}",
            reply.content_type
        ))
    })?;
    Ok((status, [(header::CONTENT_TYPE, content_type)], reply.body).into_response())
}

/// Reads a body up to `max` bytes (the router's default limit applies only to the
/// `Bytes`/`Json` extractors, which a signed callback does not use: it needs the raw bytes).
async fn capped_body(body: Body, max: usize, what: &str) -> Result<Bytes, ApiError> {
    use http_body_util::BodyExt as _;
    match http_body_util::Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::PayloadTooLarge(
            format!("{what} is larger than {max} bytes"),
        )),
        Err(e) => Err(ApiError::BadRequest(format!("cannot read {what}: {e}"))),
    }
}

/// Parses a delivery number from a path: anything that is not one is "not found".
pub(super) fn delivery_no(raw: &str) -> Result<DocNo, ApiError> {
    DocNo::new(raw).map_err(|_| ApiError::NotFound(format!("delivery order {raw:?} not found")))
}

/// Parses an order id `{shop}:{order no}` from a path: anything that is not one is "not
/// found".
pub(super) fn order_id(id: &str) -> Result<(String, String), ApiError> {
    let not_found = || ApiError::NotFound(format!("order {id:?} not found"));
    let (shop, no) = id.split_once(':').ok_or_else(not_found)?;
    if shop.is_empty() || no.is_empty() || id.len() > crate::orders::TEXT_MAX {
        return Err(not_found());
    }
    Ok((shop.to_owned(), no.to_owned()))
}

/// The fulfilment routes, each from its handler's `#[utoipa::path]`.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(paths!(fulfilment_board))
        .routes(paths!(list_fulfilments))
        .routes(paths!(get_fulfilment))
        .routes(paths!(act_on_fulfilment))
        .routes(paths!(get_fulfilment_settings, put_fulfilment_settings))
        .routes(paths!(list_warehouses, create_warehouse))
        .routes(paths!(update_warehouse))
        .routes(paths!(list_deliveries))
        .routes(paths!(get_delivery))
        .routes(paths!(confirm_delivery))
        .routes(paths!(report_delivery_exception))
        .routes(paths!(qimen_callback))
}
