//! The JSON bodies of sign-in, tokens, signing keys and users.

use crate::api::Role;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use xt_shared::ids::{TenantId, WarehouseCode};

/// Longest username, in bytes.
pub const USERNAME_BYTES_MAX: usize = 64;
/// Shortest password accepted when a user is created, in characters.
pub const PASSWORD_CHARS_MIN: usize = 12;
/// Longest password accepted anywhere, in bytes: hashing is deliberately slow, so it is bounded.
pub const PASSWORD_BYTES_MAX: usize = 1024;
/// Longest refresh token accepted, in bytes (they are 68 characters).
pub const REFRESH_TOKEN_BYTES_MAX: usize = 256;
/// Most warehouses one user may be bound to.
pub const USER_WAREHOUSES_MAX: usize = 64;

/// Checks a username: 1 to [`USERNAME_BYTES_MAX`] bytes of ASCII letters, digits, `-_.@`.
pub fn check_username(username: &str) -> Result<(), ApiError> {
    let ok = !username.is_empty()
        && username.len() <= USERNAME_BYTES_MAX
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "username must be 1 to {USERNAME_BYTES_MAX} ascii letters, digits or -_.@"
        )))
    }
}

/// `POST /api/v1/auth/login` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(value_type = String)]
    pub tenant: TenantId,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("tenant", &self.tenant)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `POST /api/v1/auth/refresh` and `POST /api/v1/auth/logout` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshRequest { refresh_token: <redacted> }")
    }
}

/// A signed-in session: a short-lived access token and a refresh token to get the next one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TokenPair {
    /// A JWT (EdDSA) to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque; single use: each refresh returns a new one.
    pub refresh_token: String,
    /// Seconds until the refresh token expires.
    pub refresh_expires_in: u64,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish_non_exhaustive()
    }
}

/// `GET /.well-known/jwks.json` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// One public signing key (RFC 8037: `kty` OKP, `crv` Ed25519).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Jwk {
    pub kty: String,
    pub crv: String,
    /// The public key, base64url without padding.
    pub x: String,
    pub kid: String,
    pub alg: String,
    #[serde(rename = "use")]
    pub use_: String,
}

/// `POST /api/v1/keys/rotate` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct KeyRotated {
    /// The new current key's id.
    pub kid: String,
}

/// `POST /api/v1/users` body.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    pub username: String,
    pub password: String,
    pub roles: Vec<Role>,
    /// Required with the `warehouse` role, refused without it.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub warehouses: Vec<WarehouseCode>,
}

impl std::fmt::Debug for UserCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCreate")
            .field("username", &self.username)
            .field("roles", &self.roles)
            .field("warehouses", &self.warehouses)
            .finish_non_exhaustive()
    }
}

impl UserCreate {
    /// Checks every field; the router calls this before the hub sees the request.
    pub fn validate(&self) -> Result<(), ApiError> {
        check_username(&self.username)?;
        let chars = self.password.chars().count();
        if chars < PASSWORD_CHARS_MIN || self.password.len() > PASSWORD_BYTES_MAX {
            return Err(ApiError::BadRequest(format!(
                "password must be {PASSWORD_CHARS_MIN} characters to {PASSWORD_BYTES_MAX} bytes"
            )));
        }
        check_roles(&self.roles, &self.warehouses)
    }
}

/// `PATCH /api/v1/users/{username}` body: the fields to change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<Role>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<String>>)]
    pub warehouses: Option<Vec<WarehouseCode>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// Checks a user's roles and warehouses together: at least one role, and warehouses exactly
/// when the user has the `warehouse` role.
pub fn check_roles(roles: &[Role], warehouses: &[WarehouseCode]) -> Result<(), ApiError> {
    if roles.is_empty() {
        return Err(ApiError::BadRequest(
            "a user needs at least one role".into(),
        ));
    }
    let bound = roles.contains(&Role::Warehouse);
    if bound && warehouses.is_empty() {
        return Err(ApiError::BadRequest(
            "the warehouse role needs at least one warehouse".into(),
        ));
    }
    if !bound && !warehouses.is_empty() {
        return Err(ApiError::BadRequest(
            "warehouses can only be given with the warehouse role".into(),
        ));
    }
    if warehouses.len() > USER_WAREHOUSES_MAX {
        return Err(ApiError::BadRequest(format!(
            "a user may be bound to at most {USER_WAREHOUSES_MAX} warehouses"
        )));
    }
    Ok(())
}

/// One user, as an admin sees it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    #[schema(value_type = String)]
    pub tenant: TenantId,
    pub username: String,
    pub roles: Vec<Role>,
    #[schema(value_type = Vec<String>)]
    pub warehouses: Vec<WarehouseCode>,
    pub disabled: bool,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime, example = "2026-01-02T03:04:05Z")]
    pub created_at: OffsetDateTime,
}

/// `GET /api/v1/users` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
}
