//! Partner API keys (list, create, revoke) and `GET /api/v1/me`: the JSON bodies and handlers.

use crate::access::{Permission, Scope, may_grant_scope};
use crate::api::{ApiKeyOwned, Principal, PrincipalKind, Role};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::routes::{AppState, blocking, require};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use xt_shared::ids::{TenantId, WarehouseCode};

/// Longest API key name, in characters.
pub const API_KEY_NAME_CHARS_MAX: usize = 64;
/// Most scopes one API key may have.
pub const API_KEY_SCOPES_MAX: usize = 16;
/// Longest API key id accepted in a path, in bytes (they are `key-` and 12 hex digits).
pub const API_KEY_ID_BYTES_MAX: usize = 64;

/// An API key as listed: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyView {
    /// The key's public id, `key-…`.
    #[schema(example = "key-3f2a9c0d1e4b")]
    pub id: String,
    #[schema(example = "erp-sync")]
    pub name: String,
    pub scopes: Vec<Scope>,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Subject (user id or key id) of whoever made it; `init` for the key `xt-hub init` made.
    pub created_by: String,
    /// When the key last authenticated a request, to the minute: the hub records a use at most
    /// once a minute per key.
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

/// `GET /api/v1/api-keys` response, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyList {
    pub keys: Vec<ApiKeyView>,
}

/// `POST /api/v1/api-keys` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyCreate {
    /// 1 to 64 characters, no control characters.
    #[schema(example = "erp-sync")]
    pub name: String,
    /// 1 to 16 scopes; `owner` only from an owner.
    pub scopes: Vec<Scope>,
}

impl ApiKeyCreate {
    /// Checks the name and the number of scopes, and drops repeated scopes (order kept).
    pub fn validated(mut self) -> Result<ApiKeyCreate, ApiError> {
        let chars = self.name.chars().count();
        if chars == 0 || chars > API_KEY_NAME_CHARS_MAX || self.name.chars().any(char::is_control) {
            return Err(ApiError::BadRequest(format!(
                "name must be 1 to {API_KEY_NAME_CHARS_MAX} characters without control characters"
            )));
        }
        let mut seen = Vec::with_capacity(self.scopes.len());
        self.scopes.retain(|s| {
            let new = !seen.contains(s);
            seen.push(*s);
            new
        });
        if self.scopes.is_empty() || self.scopes.len() > API_KEY_SCOPES_MAX {
            return Err(ApiError::BadRequest(format!(
                "scopes must hold 1 to {API_KEY_SCOPES_MAX} scopes"
            )));
        }
        Ok(self)
    }
}

/// `POST /api/v1/api-keys` response: the key and its secret, which is shown this once.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeyCreated {
    pub key: ApiKeyView,
    /// `xtk_…`; send as `Authorization: Bearer …`. The hub keeps only its hash.
    pub secret: String,
}

impl std::fmt::Debug for ApiKeyCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyCreated")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// `GET /api/v1/me` response: who the credential is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeView {
    #[schema(value_type = String, example = "acme")]
    pub tenant: TenantId,
    /// The user id (`u-…`) or key id (`key-…`).
    pub subject: String,
    pub kind: PrincipalKind,
    /// The username for users, `null` for API keys.
    pub username: Option<String>,
    pub roles: Vec<Role>,
    #[schema(value_type = Vec<String>)]
    pub warehouses: Vec<WarehouseCode>,
    pub scopes: Vec<Scope>,
    /// Everything the credential may do.
    pub permissions: Vec<Permission>,
}

/// Who the credential is and what it may do (any valid credential).
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeView),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
    ),
)]
pub(crate) async fn me(Auth(principal): Auth) -> Json<MeView> {
    let permissions = principal.permissions();
    Json(MeView {
        tenant: principal.tenant,
        subject: principal.subject,
        kind: principal.kind,
        username: principal.username,
        roles: principal.roles,
        warehouses: principal.warehouses,
        scopes: principal.scopes,
        permissions,
    })
}

/// Whether `principal` may list or revoke key `key`: `owner`-scoped keys are the owners' own.
fn may_see_key(principal: &Principal, key: &ApiKeyView) -> bool {
    !key.scopes.contains(&Scope::Owner) || principal.is_owner()
}

fn check_tenant_keys(tenant: &TenantId, keys: &[ApiKeyOwned]) -> Result<(), ApiError> {
    if keys.iter().all(|k| &k.tenant == tenant) {
        Ok(())
    } else {
        Err(ApiError::Internal(format!(
            "hub returned another tenant's api keys to tenant {tenant}"
        )))
    }
}

/// The tenant's API keys, newest first, revoked ones included (`api_keys:write`); `owner`-scoped
/// keys only to owners.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The keys, without secrets", body = ApiKeyList),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn list_api_keys(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<ApiKeyList>, ApiError> {
    require(principal.allows(Permission::ApiKeysWrite))?;
    let tenant = principal.tenant.clone();
    let keys = blocking(&state.api, move |api| api.identity.list_api_keys(&tenant)).await?;
    check_tenant_keys(&principal.tenant, &keys)?;
    Ok(Json(ApiKeyList {
        keys: keys
            .into_iter()
            .map(|k| k.view)
            .filter(|k| may_see_key(&principal, k))
            .collect(),
    }))
}

/// Makes an API key with the given scopes (`api_keys:write`). A caller grants only scopes
/// whose permissions it has itself, so only an owner grants `owner`. The secret is in this
/// answer only.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    request_body = ApiKeyCreate,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The key and its secret, shown once", body = ApiKeyCreated),
        (status = 400, description = "Malformed or out-of-range request, or an unknown scope (the message names it)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this, or may not grant one of the scopes", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(req): ApiJson<ApiKeyCreate>,
) -> Result<(StatusCode, Json<ApiKeyCreated>), ApiError> {
    require(principal.allows(Permission::ApiKeysWrite))?;
    let req = req.validated()?;
    // Nobody hands out more than they have: no escalation through a new key.
    for scope in &req.scopes {
        require(may_grant_scope(&principal, *scope))?;
    }
    let caller = principal.clone();
    let created = blocking(&state.api, move |api| {
        api.identity.create_api_key(&caller, &req)
    })
    .await?;
    if created.tenant != principal.tenant {
        return Err(ApiError::Internal(format!(
            "hub made an api key of another tenant for tenant {}",
            principal.tenant
        )));
    }
    tracing::info!(key = %created.view.id, subject = %principal.subject, "api key created");
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            key: created.view,
            secret: created.secret,
        }),
    ))
}

/// Revokes an API key: it is refused (401) from its next request on. Revoking a revoked key
/// is idempotent: 200 with the key as it is, `revoked_at` unchanged (`api_keys:write`; an
/// `owner`-scoped key only by an owner).
#[utoipa::path(
    post,
    path = "/api/v1/api-keys/{id}/revoke",
    tag = "api-keys",
    params(("id" = String, Path, description = "The key id (`key-…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The revoked key", body = ApiKeyView),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this (a non-owner revoking an `owner` key)", body = ErrorBody),
        (status = 404, description = "No such thing in the caller's tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn revoke_api_key(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    require(principal.allows(Permission::ApiKeysWrite))?;
    if id.is_empty() || id.len() > API_KEY_ID_BYTES_MAX {
        return Err(ApiError::NotFound(format!("api key {id:?} not found")));
    }
    if !principal.is_owner() {
        // Scopes never change, so what is read here still holds when the key is revoked.
        let tenant = principal.tenant.clone();
        let keys = blocking(&state.api, move |api| api.identity.list_api_keys(&tenant)).await?;
        check_tenant_keys(&principal.tenant, &keys)?;
        let target = keys.iter().find(|k| k.view.id == id);
        require(target.is_none_or(|k| may_see_key(&principal, &k.view)))?;
    }
    let tenant = principal.tenant.clone();
    let key = blocking(&state.api, move |api| {
        api.identity.revoke_api_key(&tenant, &id)
    })
    .await?;
    check_tenant_keys(&principal.tenant, std::slice::from_ref(&key))?;
    tracing::info!(key = %key.view.id, subject = %principal.subject, "api key revoked");
    Ok(Json(key.view))
}

/// The caller itself and the partners' API keys. Each route and its OpenAPI path come from the handler's `#[utoipa::path]`.
pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<crate::routes::AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(me))
        .routes(utoipa_axum::routes!(list_api_keys, create_api_key))
        .routes(utoipa_axum::routes!(revoke_api_key))
}
