//! [`IdentityApi`](xt_mobile_api::IdentityApi), API keys: authenticating keys (and recording their use), listing,
//! making and revoking them.

use super::api::IdentityService;
use crate::api::{internal, utc, utc_opt};
use crate::hub::{new_secret, now_ms};
use crate::store::{ApiKeyRecord, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use xt_mobile_api::{ApiError, ApiKeyCreate, ApiKeyMade, ApiKeyOwned, ApiKeyView, Principal};
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;

/// A key's `last_used_at` is written at most once per this interval (so it is accurate to
/// this granularity): authenticating must not cost a durable write per request.
pub const KEY_USE_WRITE_INTERVAL_MS: i64 = 60_000;
/// Most keys whose last recorded use is remembered; past that the memory is cleared (which
/// costs at most one extra write per key).
pub const KEY_USES_TRACKED_MAX: usize = 10_000;

/// When each key's use was last written, by (tenant, key id).
#[derive(Default)]
pub(crate) struct KeyUses(Mutex<HashMap<(TenantId, String), UtcMillis>>);

impl KeyUses {
    /// Whether a use at `now` should be written, remembering it if so.
    fn due(&self, tenant: &TenantId, id: &str, now: UtcMillis) -> bool {
        let mut uses = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = (tenant.clone(), id.to_owned());
        if uses
            .get(&key)
            .is_some_and(|at| now.0 - at.0 < KEY_USE_WRITE_INTERVAL_MS)
        {
            return false;
        }
        if uses.len() >= KEY_USES_TRACKED_MAX {
            uses.clear();
        }
        uses.insert(key, now);
        true
    }
}

fn view(r: ApiKeyRecord) -> Result<ApiKeyOwned, ApiError> {
    Ok(ApiKeyOwned {
        tenant: r.tenant,
        view: ApiKeyView {
            id: r.id,
            name: r.name,
            scopes: r.scopes,
            created_at: utc(r.created_at)?,
            created_by: r.created_by,
            last_used_at: utc_opt(r.last_used_at)?,
            revoked_at: utc_opt(r.revoked_at)?,
        },
    })
}

/// A new key id: `key-` and 12 hex digits.
pub fn new_key_id() -> String {
    format!("key-{}", hex::encode(rand::random::<[u8; 6]>()))
}

impl IdentityService {
    pub(super) fn key_principal(&self, secret: &str) -> Result<Option<Principal>, ApiError> {
        let store = &self.hub.store();
        let Some(key) = store.api_key(secret).map_err(internal)? else {
            return Ok(None);
        };
        if key.revoked_at.is_some() {
            return Ok(None);
        }
        let now = now_ms();
        if self.key_uses.due(&key.tenant, &key.id, now)
            && let Err(e) = store.touch_api_key(&key.tenant, &key.id, now)
        {
            // Bookkeeping only: the request goes on.
            tracing::warn!(key = %key.id, error = %e, "cannot record api key use");
        }
        Ok(Some(Principal::api_key(key.tenant, key.id, key.scopes)))
    }

    pub(super) fn keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyOwned>, ApiError> {
        let keys = self.hub.store().api_keys(tenant).map_err(internal)?;
        keys.into_iter().map(view).collect()
    }

    pub(super) fn add_key(
        &self,
        principal: &Principal,
        req: &ApiKeyCreate,
    ) -> Result<ApiKeyMade, ApiError> {
        let secret = new_secret("xtk");
        let record = ApiKeyRecord {
            id: new_key_id(),
            tenant: principal.tenant.clone(),
            name: req.name.clone(),
            scopes: req.scopes.clone(),
            created_at: now_ms(),
            created_by: principal.subject.clone(),
            last_used_at: None,
            revoked_at: None,
        };
        self.hub
            .store()
            .insert_api_key(&secret, &record)
            .map_err(|e| match e {
                StoreError::Conflict(m) => ApiError::Conflict(m),
                other => internal(other),
            })?;
        let owned = view(record)?;
        Ok(ApiKeyMade {
            tenant: owned.tenant,
            view: owned.view,
            secret,
        })
    }

    pub(super) fn drop_key(&self, tenant: &TenantId, id: &str) -> Result<ApiKeyOwned, ApiError> {
        match self
            .hub
            .store()
            .revoke_api_key(tenant, id, now_ms())
            .map_err(internal)?
        {
            Some(r) => view(r),
            None => Err(ApiError::NotFound(format!("api key {id:?} not found"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keys_use_is_written_at_most_once_per_interval() {
        let uses = KeyUses::default();
        let t = TenantId::new("acme").unwrap();
        let at = |ms: i64| UtcMillis(1_000_000 + ms);
        assert!(uses.due(&t, "key-1", at(0)));
        assert!(!uses.due(&t, "key-1", at(1)));
        assert!(!uses.due(&t, "key-1", at(KEY_USE_WRITE_INTERVAL_MS - 1)));
        assert!(uses.due(&t, "key-2", at(1)));
        assert!(uses.due(&t, "key-1", at(KEY_USE_WRITE_INTERVAL_MS)));
        // The same id in another tenant is another key.
        assert!(uses.due(&TenantId::new("beta").unwrap(), "key-1", at(2)));
    }
}
