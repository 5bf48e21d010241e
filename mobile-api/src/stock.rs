//! Stock levels synced from the agents (`stock:read`), limited to a warehouse-bound user's
//! warehouses. Served by [`StockApi`](crate::StockApi).

use crate::access::Permission;
use crate::dto::{StockPage, StockQuery};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::extract::Auth;
use crate::routes::{AppState, blocking, require};
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The stock domain's routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_stock))
}

/// One page of stock levels, ordered by warehouse then SKU; a warehouse-bound user sees only
/// its warehouses.
#[utoipa::path(
    get,
    path = "/api/v1/stock",
    tag = "stock",
    params(StockQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of stock rows", body = StockPage),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn list_stock(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<StockQuery>,
) -> Result<Json<StockPage>, ApiError> {
    require(principal.allows(Permission::StockRead))?;
    let query = query.validated()?;
    let limit = query.limit.unwrap_or_default() as usize;
    let page = blocking(&state.api, move |api| {
        api.stock.list_stock(&principal, &query)
    })
    .await?;
    if page.items.len() > limit {
        return Err(ApiError::Internal(format!(
            "hub returned {} stock rows for a limit of {limit}",
            page.items.len()
        )));
    }
    Ok(Json(page))
}
