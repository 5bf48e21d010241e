//! The tenant at a glance (`dashboard:read`), served from pre-aggregated data by
//! [`DashboardApi`](crate::DashboardApi).

use crate::access::Permission;
use crate::dto::{DASHBOARD_BUCKET_SECS, Dashboard, DashboardQuery};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;
use crate::extract::Auth;
use crate::routes::{AppState, blocking, require};
use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The dashboard domain's routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(dashboard))
}

/// The tenant at a glance: agents online/offline, sync health per source, quarantined rows,
/// stock totals per warehouse (only its warehouses for a warehouse-bound user) and a per-minute
/// series for the charts. Served from pre-aggregated data.
#[utoipa::path(
    get,
    path = "/api/v1/dashboard",
    tag = "dashboard",
    params(DashboardQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The dashboard", body = Dashboard),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(query): ApiQuery<DashboardQuery>,
) -> Result<Json<Dashboard>, ApiError> {
    require(principal.allows(Permission::DashboardRead))?;
    let minutes = query.minutes_checked()?;
    let tenant = principal.tenant.clone();
    let board = blocking(&state.api, move |api| {
        api.dashboard.dashboard(&principal, minutes)
    })
    .await?;
    if board.tenant != tenant
        || board.series.points.len() != minutes as usize
        || board.series.bucket_secs != DASHBOARD_BUCKET_SECS
    {
        return Err(ApiError::Internal(format!(
            "hub returned a dashboard of tenant {} with {} points of {} s to tenant {tenant} \
             asking {minutes} minutes",
            board.tenant,
            board.series.points.len(),
            board.series.bucket_secs
        )));
    }
    Ok(Json(board))
}
