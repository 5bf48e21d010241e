//! Identity and access: people (users, roles, their warehouses), partners' API keys, the
//! operator key, password hashing, signed access tokens, rotating refresh tokens, sign-in
//! throttling.
//!
//! *Owns:* the tables `users`, `signing_keys`, `refresh_tokens`, `refresh_families`,
//! `api_keys`, `api_keys_by_tenant`, `operator_keys`.
//! *Invariant:* secrets (passwords, refresh tokens, API keys, private keys) are stored only as
//! hashes or sealed, never logged (records holding them have redacting `Debug`); a used refresh
//! token presented again outside its grace revokes its whole family; a user's tenant comes from
//! the credential, never the request.
//! *Boundary:* `IdentityApi` for the router ([`api`], [`keys`]); the store's transactions in
//! [`store`], [`api_keys`], [`operator`]; decisions in [`decide`] (pure: what presenting a
//! refresh token does), [`jwt`], [`password`], [`refresh`], [`throttle`].

pub mod api;
pub mod api_keys;
pub(crate) mod decide;
pub mod jwt;
pub mod keys;
pub mod operator;
pub mod password;
pub mod refresh;
pub mod store;
pub mod throttle;

use std::time::Duration;

/// Lifetime of an access token.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Lifetime of a refresh token (each rotation starts a new one).
pub const REFRESH_TOKEN_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Default window in which a used refresh token may be presented again (a retried request)
/// without revoking its family.
pub const REFRESH_GRACE_DEFAULT: Duration = Duration::from_secs(30);
/// Clock skew tolerated on `exp` and `nbf`.
pub const CLOCK_LEEWAY: Duration = Duration::from_secs(30);
/// How long a retired signing key keeps verifying: the longest-lived token it signed, plus
/// the clock leeway, plus a margin.
pub const SIGNING_KEY_RETENTION: Duration =
    Duration::from_secs(ACCESS_TOKEN_TTL.as_secs() + CLOCK_LEEWAY.as_secs() + 5 * 60);

/// Why an identity operation failed inside the hub.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot hash password: {0}")]
    Hash(String),
    #[error("cannot make signing key: {0}")]
    KeyGen(String),
    #[error("cannot sign access token: {0}")]
    Sign(String),
}
