//! Agents: the tenant's enrolled agents and one-time enrollment tokens (`agents:read`,
//! `agents:write`). Served by [`AgentsApi`](crate::AgentsApi).

use crate::access::Permission;
use crate::api::Principal;
use crate::dto::{AgentList, AgentView, TokenCreated, TokenRequest};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Auth;
use crate::extract::{ApiJson, ApiPath};
use crate::routes::{AppState, blocking, require};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use xt_shared::ids::AgentId;

/// The agents domain's routes, each documented by its handler's `#[utoipa::path]`.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_agents))
        .routes(routes!(revoke_agent))
        .routes(routes!(create_token))
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

/// The tenant's enrolled agents with their sync state (`agents:read`).
#[utoipa::path(
    get,
    path = "/api/v1/agents",
    tag = "agents",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The agents", body = AgentList),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn list_agents(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<AgentList>, ApiError> {
    require(principal.allows(Permission::AgentsRead))?;
    let tenant = principal.tenant.clone();
    let agents = blocking(&state.api, move |api| api.agents.list_agents(&tenant)).await?;
    for agent in &agents {
        check_tenant(&principal, agent)?;
    }
    Ok(Json(AgentList { agents }))
}

/// Revokes an agent: its certificate is refused from now on and a live connection is closed
/// (`agents:write`).
#[utoipa::path(
    post,
    path = "/api/v1/agents/{id}/revoke",
    tag = "agents",
    params(("id" = String, Path, description = "The agent id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The revoked agent", body = AgentView),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such thing in the caller's tenant", body = ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = ErrorBody),
    ),
)]
pub(crate) async fn revoke_agent(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AgentView>, ApiError> {
    require(principal.allows(Permission::AgentsWrite))?;
    let id = AgentId::new(id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let tenant = principal.tenant.clone();
    let agent = blocking(&state.api, move |api| api.agents.revoke_agent(&tenant, &id)).await?;
    check_tenant(&principal, &agent)?;
    tracing::info!(agent = %agent.id, subject = %principal.subject, "agent revoked");
    Ok(Json(agent))
}

/// Makes a one-time enrollment token for an agent of a site and role (`agents:write`).
#[utoipa::path(
    post,
    path = "/api/v1/enrollment-tokens",
    tag = "agents",
    request_body = TokenRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The token, shown once", body = TokenCreated),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(mut req): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    require(principal.allows(Permission::AgentsWrite))?;
    req.ttl_secs = Some(req.ttl_secs_checked()?);
    let tenant = principal.tenant.clone();
    let asked = req.clone();
    let created = blocking(&state.api, move |api| {
        api.agents.create_enrollment_token(&tenant, &req)
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
