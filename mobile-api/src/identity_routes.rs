//! Handlers for sign-in, refresh, logout, the JWKS, signing-key rotation and users.

use crate::access::{Permission, may_grant};
use crate::client_addr::ClientAddr;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Auth, Operator};
use crate::identity::{
    Jwks, KeyRotated, LoginRequest, PASSWORD_BYTES_MAX, REFRESH_TOKEN_BYTES_MAX, RefreshRequest,
    TokenPair, UserCreate, UserList, UserPatch, UserView, check_username,
};
use crate::routes::{AppState, Budget, blocking, blocking_in, require};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

fn check_refresh_token(token: &str) -> Result<(), ApiError> {
    if token.is_empty() || token.len() > REFRESH_TOKEN_BYTES_MAX {
        // A malformed token is as unknown as a forged one.
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

/// The public keys that verify access tokens (JWKS).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "auth",
    responses(
        (status = 200, description = "The current and retained public keys", body = Jwks),
    ),
)]
pub(crate) async fn jwks(State(state): State<AppState>) -> Result<Json<Jwks>, ApiError> {
    Ok(Json(blocking(&state.api, |api| api.identity.jwks()).await?))
}

/// Signs a user in: an access token and a refresh token. Throttled per account and client address.
#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenPair),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
        (status = 401, description = "Unknown tenant or user, wrong password or disabled user (one uniform answer)", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
        (status = 429, description = "Too many sign-in attempts", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    ),
)]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    // Malformed usernames and oversized passwords cannot belong to anyone: the same refusal as
    // a wrong password, without spending a hash on them.
    if check_username(&req.username).is_err() || req.password.len() > PASSWORD_BYTES_MAX {
        return Err(ApiError::Unauthorized);
    }
    let tenant = req.tenant.clone();
    let pair = blocking_in(&state.api, Budget::SignIn, move |api| {
        api.identity.login(&req, client)
    })
    .await?;
    tracing::Span::current().record("tenant", tracing::field::display(&tenant));
    Ok(Json(pair))
}

/// Trades a refresh token (single use) for a new token pair; replaying a used one revokes its
/// whole family.
#[utoipa::path(
    post,
    path = "/api/v1/auth/refresh",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
        (status = 401, description = "Unknown, already used, revoked or expired refresh token", body = ErrorBody),
    ),
)]
pub(crate) async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    check_refresh_token(&req.refresh_token)?;
    let pair = blocking_in(&state.api, Budget::SignIn, move |api| {
        api.identity.refresh(&req.refresh_token)
    })
    .await?;
    Ok(Json(pair))
}

/// Revokes a refresh token and its family; answers 204 whether or not the token was known.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out"),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
    ),
)]
pub(crate) async fn logout(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    if check_refresh_token(&req.refresh_token).is_ok() {
        blocking(&state.api, move |api| {
            api.identity.logout(&req.refresh_token)
        })
        .await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Makes a new current signing key; older keys stay in the JWKS while their tokens may live.
/// Hub-wide, so the hub operator's key only: no tenant's credential rotates, owners' included.
#[utoipa::path(
    post,
    path = "/api/v1/keys/rotate",
    tag = "keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The new current key", body = KeyRotated),
        (status = 401, description = "Missing, malformed or unknown credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "A tenant's credential: only the hub operator rotates keys", body = ErrorBody),
    ),
)]
pub(crate) async fn rotate_key(
    State(state): State<AppState>,
    _operator: Operator,
) -> Result<Json<KeyRotated>, ApiError> {
    let rotated = blocking(&state.api, |api| api.identity.rotate_signing_key()).await?;
    tracing::info!(kid = %rotated.kid, subject = "operator", "signing key rotated");
    Ok(Json(rotated))
}

/// The tenant's users (`users:read`).
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "users",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The users", body = UserList),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn list_users(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<UserList>, ApiError> {
    require(principal.allows(Permission::UsersRead))?;
    let tenant = principal.tenant.clone();
    let users = blocking(&state.api, move |api| api.identity.list_users(&tenant)).await?;
    if users.iter().any(|u| u.tenant != principal.tenant) {
        return Err(ApiError::Internal(format!(
            "hub returned another tenant's users to tenant {}",
            principal.tenant
        )));
    }
    Ok(Json(UserList { users }))
}

/// Adds a user (`users:write`, and only with roles whose every permission the caller has itself;
/// only an owner makes owners).
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "users",
    request_body = UserCreate,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new user", body = UserView),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 409, description = "Conflicts with the current state", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(req): ApiJson<UserCreate>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    require(principal.allows(Permission::UsersWrite))?;
    req.validate()?;
    // Nobody makes a user who may do more than they may: no escalation through a new user.
    require(may_grant(&principal, &req.roles, &req.warehouses))?;
    let tenant = principal.tenant.clone();
    let user = blocking(&state.api, move |api| {
        api.identity.create_user(&tenant, &req)
    })
    .await?;
    tracing::info!(user = %user.id, subject = %principal.subject, "user created");
    Ok((StatusCode::CREATED, Json(user)))
}

/// Changes a user's roles, warehouses or disabled flag (`users:write`; the caller must be able to
/// make the user both as it is and as it becomes, so only an owner grants or touches owner).
/// Disabling a user revokes the API keys it made, and the keys those keys made.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{username}",
    tag = "users",
    params(("username" = String, Path, description = "The username")),
    request_body = UserPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated user", body = UserView),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such thing in the caller's tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(username): ApiPath<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    require(principal.allows(Permission::UsersWrite))?;
    check_username(&username)?;
    // Roles the caller could not grant are refused before the hub is asked; the hub checks the
    // user as it is and as it becomes with the same rule.
    if let Some(roles) = &patch.roles {
        let warehouses = patch.warehouses.as_deref().unwrap_or_default();
        require(may_grant(&principal, roles, warehouses))?;
    }
    let caller = principal.clone();
    let user = blocking(&state.api, move |api| {
        api.identity.update_user(&caller, &username, &patch)
    })
    .await?;
    if user.tenant != principal.tenant {
        return Err(ApiError::Internal(format!(
            "hub updated user {} of another tenant for tenant {}",
            user.id, principal.tenant
        )));
    }
    tracing::info!(user = %user.id, subject = %principal.subject, "user updated");
    Ok(Json(user))
}

/// Identity and access: sign-in, refresh, logout, the public signing keys and their rotation, users. Each route and its OpenAPI path come from the handler's `#[utoipa::path]`.
pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<crate::routes::AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(jwks))
        .routes(utoipa_axum::routes!(login))
        .routes(utoipa_axum::routes!(refresh))
        .routes(utoipa_axum::routes!(logout))
        .routes(utoipa_axum::routes!(rotate_key))
        .routes(utoipa_axum::routes!(list_users, create_user))
        .routes(utoipa_axum::routes!(update_user))
}
