//! Identity and access: password hashing, signed access tokens, rotating refresh tokens and
//! sign-in throttling. The HTTP side is in [`crate::api`]; storage in [`crate::store`].
//!
//! Secrets (passwords, refresh tokens, private keys) are never logged: records holding them
//! have redacting `Debug` impls, and only hashes of refresh tokens are stored.

pub mod jwt;
pub mod password;
pub mod refresh;
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
