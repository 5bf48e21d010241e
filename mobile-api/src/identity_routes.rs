//! Handlers for sign-in, refresh, logout, the JWKS, signing-key rotation and users.

use crate::error::ApiError;
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::identity::{
    Jwks, KeyRotated, LoginRequest, PASSWORD_BYTES_MAX, REFRESH_TOKEN_BYTES_MAX, RefreshRequest,
    TokenPair, UserCreate, UserList, UserPatch, UserView, check_username,
};
use crate::routes::{AppState, blocking, require};
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, request::Parts};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use std::net::{IpAddr, SocketAddr};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/refresh", post(refresh))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/keys/rotate", post(rotate_key))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{username}", patch(update_user))
}

/// The client's address when the server was started with connect info (tests calling the
/// router directly have none; then only per-account throttling applies).
pub(crate) struct ClientAddr(Option<IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let addr = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(a)| a.ip());
        Ok(ClientAddr(addr))
    }
}

fn check_refresh_token(token: &str) -> Result<(), ApiError> {
    if token.is_empty() || token.len() > REFRESH_TOKEN_BYTES_MAX {
        // A malformed token is as unknown as a forged one.
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

async fn jwks(State(state): State<AppState>) -> Result<Json<Jwks>, ApiError> {
    Ok(Json(blocking(&state.api, |api| api.jwks()).await?))
}

async fn login(
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
    let pair = blocking(&state.api, move |api| api.login(&req, client)).await?;
    tracing::Span::current().record("tenant", tracing::field::display(&tenant));
    Ok(Json(pair))
}

async fn refresh(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    check_refresh_token(&req.refresh_token)?;
    let pair = blocking(&state.api, move |api| api.refresh(&req.refresh_token)).await?;
    Ok(Json(pair))
}

async fn logout(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    if check_refresh_token(&req.refresh_token).is_ok() {
        blocking(&state.api, move |api| api.logout(&req.refresh_token)).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn rotate_key(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<KeyRotated>, ApiError> {
    require(principal.may_rotate_keys())?;
    let rotated = blocking(&state.api, |api| api.rotate_signing_key()).await?;
    tracing::info!(kid = %rotated.kid, subject = %principal.subject, "signing key rotated");
    Ok(Json(rotated))
}

async fn list_users(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<UserList>, ApiError> {
    require(principal.may_administer())?;
    let tenant = principal.tenant.clone();
    let users = blocking(&state.api, move |api| api.list_users(&tenant)).await?;
    if users.iter().any(|u| u.tenant != principal.tenant) {
        return Err(ApiError::Internal(format!(
            "hub returned another tenant's users to tenant {}",
            principal.tenant
        )));
    }
    Ok(Json(UserList { users }))
}

async fn create_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(req): ApiJson<UserCreate>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    require(principal.may_administer())?;
    req.validate()?;
    // Only an owner makes owners: an admin cannot raise anyone above itself.
    if req.roles.contains(&crate::Role::Owner) {
        require(principal.may_rotate_keys())?;
    }
    let tenant = principal.tenant.clone();
    let user = blocking(&state.api, move |api| api.create_user(&tenant, &req)).await?;
    tracing::info!(user = %user.id, subject = %principal.subject, "user created");
    Ok((StatusCode::CREATED, Json(user)))
}

async fn update_user(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(username): ApiPath<String>,
    ApiJson(patch): ApiJson<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    require(principal.may_administer())?;
    check_username(&username)?;
    if patch
        .roles
        .as_ref()
        .is_some_and(|r| r.contains(&crate::Role::Owner))
    {
        require(principal.may_rotate_keys())?;
    }
    let caller = principal.clone();
    let user = blocking(&state.api, move |api| {
        api.update_user(&caller, &username, &patch)
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
