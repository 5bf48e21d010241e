//! Refresh tokens: opaque random secrets, stored as SHA-256 hashes, single use, grouped in
//! families (one per sign-in) so that a replayed token revokes everything it led to.

use super::REFRESH_TOKEN_TTL;
use crate::hub::new_secret;
use crate::store::{RefreshRecord, RefreshUse, Store, StoreError, secret_hash};
use std::time::Duration;
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;

fn expiry(now: UtcMillis) -> UtcMillis {
    UtcMillis(now.0 + REFRESH_TOKEN_TTL.as_millis() as i64)
}

/// Starts a family for a sign-in and returns its first token.
pub fn start(
    store: &Store,
    now: UtcMillis,
    tenant: &TenantId,
    username: &str,
    user_id: &str,
) -> Result<String, StoreError> {
    let secret = new_secret("xtr");
    let record = RefreshRecord {
        family: format!("f-{}", hex::encode(rand::random::<[u8; 12]>())),
        tenant: tenant.clone(),
        username: username.to_owned(),
        user_id: user_id.to_owned(),
        issued_at: now,
        expires_at: expiry(now),
        rotated_at: None,
        successor: None,
    };
    store.insert_refresh_family(&secret_hash(&secret), &record)?;
    Ok(secret)
}

/// Trades `secret` for its successor: `Some((successor, record of the presented token))`, or
/// `None` if it is not accepted (see [`Store::use_refresh`]).
pub fn rotate(
    store: &Store,
    now: UtcMillis,
    secret: &str,
    grace: Duration,
) -> Result<Option<(String, RefreshRecord)>, StoreError> {
    let successor = new_secret("xtr");
    let used = store.use_refresh(
        &secret_hash(secret),
        &secret_hash(&successor),
        now,
        grace.as_millis() as i64,
        expiry(now),
    )?;
    Ok(match used {
        RefreshUse::Rotated(record) => Some((successor, record)),
        RefreshUse::ReuseDetected => {
            tracing::warn!("a used refresh token was presented again; its family is revoked");
            None
        }
        RefreshUse::Refused => None,
    })
}

/// Revokes the family of `secret` (sign-out everywhere that session reached).
pub fn revoke(store: &Store, now: UtcMillis, secret: &str) -> Result<bool, StoreError> {
    store.revoke_refresh_family(&secret_hash(secret), now)
}
