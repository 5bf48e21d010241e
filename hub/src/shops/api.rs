//! Shops over the store: ids, sealing the credentials with the master key, views without secrets.

use crate::api::{internal, utc, utc_opt};
use crate::hub::Hub;
use crate::shops::channels::ShopUrlPolicy;
use crate::shops::channels::WebhookRefusal;
use crate::store::{CaptureState, SealedCredentials, ShopHealthRecord, ShopRecord, StoreError};
use std::sync::Arc;
use xt_mobile_api::orders::{CaptureErrorView, WebhookAck};
use xt_mobile_api::shops::{CredentialsView, ShopHealth};
use xt_mobile_api::{ApiError, ShopNew, ShopOwned, ShopPatch, ShopView, ShopsApi};
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;
use xt_shared::order::Platform;

/// A new shop id: `shop-` and 16 random hex digits.
pub fn new_shop_id() -> String {
    format!("shop-{}", hex::encode(rand::random::<[u8; 8]>()))
}

/// The view of a shop with its capture counters.
pub(crate) fn shop_view(r: ShopRecord, capture: &CaptureState) -> Result<ShopView, ApiError> {
    Ok(owned(r, capture)?.view)
}

fn owned(r: ShopRecord, capture: &CaptureState) -> Result<ShopOwned, ApiError> {
    let h = &r.health;
    let health = ShopHealth {
        last_poll_ok_at: utc_opt(h.last_poll_ok_at)?,
        capture_lag_ms: h.capture_lag_ms,
        error_count: h.error_count,
        last_error: h.last_error.clone(),
        token_expires_at: utc_opt(h.token_expires_at)?,
        rate_limited_until: utc_opt(h.rate_limited_until)?,
        refunds_last_poll_ok_at: utc_opt(capture.refunds_health.last_poll_ok_at)?,
        refunds_capture_lag_ms: capture.refunds_health.capture_lag_ms,
        refunds_error_count: capture.refunds_health.error_count,
        refunds_last_error: capture.refunds_health.last_error.clone(),
    };
    Ok(ShopOwned {
        view: ShopView {
            credentials: CredentialsView::of(r.platform, &r.credential_id),
            id: r.id,
            platform: r.platform,
            name: r.name,
            api_base_url: r.api_base_url,
            enabled: r.enabled,
            health,
            orders: capture.orders,
            held: capture.held,
            capture_errors: capture.capture_errors,
            created_at: utc(r.created_at)?,
            updated_at: utc(r.updated_at)?,
        },
        tenant: r.tenant,
    })
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("shop {id:?} not found"))
}

/// Refuses an API base URL whose host is an IP literal the hub's shop URL policy refuses (names
/// are checked on every connection, when they resolve).
fn check_url_policy(policy: &ShopUrlPolicy, raw: &str) -> Result<(), ApiError> {
    let url = url::Url::parse(raw)
        .map_err(|e| ApiError::BadRequest(format!("api_base_url is not a URL: {e}")))?;
    policy
        .check_url(&url)
        .map_err(|refused| ApiError::BadRequest(format!("api_base_url: {refused}")))
}

/// A changed API base URL without the credentials: the stored secrets would go to the new host
/// (whoever may change a shop could otherwise collect its tokens).
fn check_url_change(current: &str, patch: &ShopPatch) -> Result<(), ApiError> {
    match &patch.api_base_url {
        Some(url) if url != current && patch.credentials.is_none() => Err(ApiError::BadRequest(
            "api_base_url: changing a shop's API base URL needs its credentials again in the \
                 same request (credentials), so the stored ones never go to another host"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// Lets [`crate::store::Store::change_shop`] carry a refusal of the patch.
enum PatchError {
    Store(StoreError),
    Api(ApiError),
}

impl From<StoreError> for PatchError {
    fn from(e: StoreError) -> PatchError {
        PatchError::Store(e)
    }
}

/// The shops room's service: bound shops (credentials sealed), their capture errors and
/// backfills, and webhooks.
pub struct ShopsService {
    hub: Arc<Hub>,
}

impl ShopsService {
    pub fn new(hub: Arc<Hub>) -> ShopsService {
        ShopsService { hub }
    }
}

impl ShopsService {
    fn with_capture(&self, r: ShopRecord) -> Result<ShopOwned, ApiError> {
        let capture = self
            .hub
            .store()
            .capture_state(&r.tenant, &r.id)
            .map_err(internal)?;
        owned(r, &capture)
    }

    pub(super) fn shops(&self, tenant: &TenantId) -> Result<Vec<ShopOwned>, ApiError> {
        let shops = self.hub.store().shops(tenant).map_err(internal)?;
        shops.into_iter().map(|r| self.with_capture(r)).collect()
    }

    fn one_shop(&self, tenant: &TenantId, id: &str) -> Result<ShopOwned, ApiError> {
        let shop = self.hub.store().shop(tenant, id).map_err(internal)?;
        shop.map(|r| self.with_capture(r))
            .ok_or_else(|| not_found(id))?
    }

    pub(super) fn add_shop(&self, tenant: &TenantId, new: &ShopNew) -> Result<ShopOwned, ApiError> {
        check_url_policy(&self.hub.settings().shop_urls, &new.api_base_url)?;
        let now = crate::hub::now_ms();
        let mut record = ShopRecord {
            id: new_shop_id(),
            tenant: tenant.clone(),
            platform: new.platform,
            name: new.name.clone(),
            api_base_url: new.api_base_url.clone(),
            enabled: new.enabled,
            created_at: now,
            updated_at: now,
            credential_id: String::new(),
            credentials_sealed: SealedCredentials::default(),
            health: ShopHealthRecord::default(),
        };
        record.seal_credentials(self.hub.master_key(), &new.credentials);
        self.hub.store().insert_shop(&record).map_err(internal)?;
        self.with_capture(record)
    }

    pub(super) fn patch_shop(
        &self,
        tenant: &TenantId,
        id: &str,
        patch: &ShopPatch,
    ) -> Result<ShopOwned, ApiError> {
        let key = &self.hub.master_key();
        if let Some(url) = &patch.api_base_url {
            check_url_policy(&self.hub.settings().shop_urls, url)?;
        }
        let changed = self.hub.store().change_shop(tenant, id, |r| {
            check_url_change(&r.api_base_url, patch).map_err(PatchError::Api)?;
            if let Some(input) = &patch.credentials {
                let credentials = input.validated(r.platform).map_err(PatchError::Api)?;
                r.seal_credentials(key, &credentials);
            }
            if let Some(name) = &patch.name {
                r.name = name.clone();
            }
            if let Some(url) = &patch.api_base_url {
                r.api_base_url = url.clone();
            }
            if let Some(enabled) = patch.enabled {
                r.enabled = enabled;
            }
            r.updated_at = crate::hub::now_ms();
            Ok(())
        });
        match changed {
            Ok(Some(r)) => self.with_capture(r),
            Ok(None) => Err(not_found(id)),
            Err(PatchError::Api(e)) => Err(e),
            Err(PatchError::Store(e)) => Err(internal(e)),
        }
    }
}

impl ShopsService {
    fn shop_capture_errors(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Vec<CaptureErrorView>, ApiError> {
        self.one_shop(tenant, id)?;
        let errors = self
            .hub
            .store()
            .capture_errors(tenant, id, 100)
            .map_err(internal)?;
        errors
            .into_iter()
            .map(crate::orders::api::capture_error_view)
            .collect()
    }

    /// A webhook delivery: find the shop, check the signature over the raw body with its
    /// webhook secret (constant time), then capture the order like a poll would.
    fn take_webhook(
        &self,
        platform: Platform,
        shop_id: &str,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> Result<WebhookAck, ApiError> {
        let not_found = || ApiError::NotFound(format!("no {platform} shop {shop_id:?}"));
        // Usually one shop; if tenants share the id, the signature says whose delivery it is.
        let candidates = self.hub.store().shops_by_id(shop_id).map_err(internal)?;
        let mut candidates = candidates
            .into_iter()
            .filter(|s| s.platform == platform)
            .peekable();
        if candidates.peek().is_none() {
            return Err(not_found());
        }
        let mut signed = None;
        for shop in candidates {
            let credentials = shop
                .open_credentials(self.hub.master_key())
                .map_err(internal)?;
            let secret = credentials.webhook_secret();
            match crate::shops::channels::webhook::verify(platform, secret, headers, body) {
                Ok(()) => {
                    signed = Some(shop);
                    break;
                }
                Err(WebhookRefusal::Unsupported(_)) => return Err(not_found()),
                Err(refusal) => {
                    tracing::warn!(shop = %shop.id, tenant = %shop.tenant, %refusal, "webhook refused");
                }
            }
        }
        let Some(shop) = signed else {
            return Err(ApiError::Unauthorized);
        };
        if !shop.enabled {
            tracing::info!(shop = %shop.id, "webhook for a disabled shop ignored");
            return Ok(WebhookAck { accepted: false });
        }
        let items = crate::shops::channels::parse_webhook_order(platform, body);
        self.hub
            .ingest_shop_items(&shop.tenant, &shop.id, items)
            .map_err(internal)?;
        Ok(WebhookAck { accepted: true })
    }

    fn schedule_backfill(
        &self,
        tenant: &TenantId,
        id: &str,
        from: i64,
        to: i64,
    ) -> Result<(), ApiError> {
        self.one_shop(tenant, id)?;
        self.hub
            .store()
            .update_capture_state(tenant, id, |s| {
                s.backfill = Some((UtcMillis(to), UtcMillis(from)));
                s.refunds_backfill = Some(UtcMillis(from));
            })
            .map_err(internal)?;
        Ok(())
    }
}

impl ShopsApi for ShopsService {
    fn list_shops(&self, tenant: &TenantId) -> Result<Vec<ShopOwned>, ApiError> {
        self.shops(tenant)
    }

    fn shop(&self, tenant: &TenantId, id: &str) -> Result<ShopOwned, ApiError> {
        self.one_shop(tenant, id)
    }

    fn create_shop(&self, tenant: &TenantId, shop: &ShopNew) -> Result<ShopOwned, ApiError> {
        self.add_shop(tenant, shop)
    }

    fn update_shop(
        &self,
        tenant: &TenantId,
        id: &str,
        patch: &ShopPatch,
    ) -> Result<ShopOwned, ApiError> {
        self.patch_shop(tenant, id, patch)
    }

    fn capture_errors(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Vec<CaptureErrorView>, ApiError> {
        self.shop_capture_errors(tenant, id)
    }

    fn backfill(&self, tenant: &TenantId, id: &str, from: i64, to: i64) -> Result<(), ApiError> {
        self.schedule_backfill(tenant, id, from, to)
    }

    fn webhook(
        &self,
        platform: xt_shared::order::Platform,
        shop: &str,
        headers: &axum::http::HeaderMap,
        body: &[u8],
    ) -> Result<WebhookAck, ApiError> {
        self.take_webhook(platform, shop, headers, body)
    }
}
