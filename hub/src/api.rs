//! The hub's side of the HTTP surface: every domain trait of `xt_mobile_api` over the store.

use crate::auth::throttle::LoginThrottle;
use crate::hub::Hub;
use crate::store::{AgentRecord, LogEntry, SkuFilter, StockEntry};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use xt_mobile_api::events::EVENT_CHANGES_MAX;
use xt_mobile_api::identity::{
    Jwks, KeyRotated, LoginRequest, TokenPair, UserCreate, UserPatch, UserView,
};
use xt_mobile_api::time::OffsetDateTime;
use xt_mobile_api::{
    AgentView, ApiError, ApiKeyCreate, ApiKeyMade, ApiKeyOwned, Permission, Principal, SourceView,
    StockCursor, StockPage, StockQuery, StockRow, TokenCreated, TokenRequest,
};
use xt_mobile_api::{
    AgentsApi, DashboardApi, Domains, EventsApi, IdentityApi, OperationsApi, OrdersApi, ShopsApi,
    StockApi,
};
use xt_mobile_api::{EventData, EventPage, StockChangeView, StreamEvent};
use xt_mobile_api::{ShopNew, ShopOwned, ShopPatch};
use xt_shared::change::{Body, Origin};
use xt_shared::ids::{AgentId, Sku, TenantId, WarehouseCode};
use xt_shared::model::UtcMillis;

mod identity;
use xt_mobile_api::orders::{
    CaptureErrorView, MemberView, OrderDetail, OrderPage, OrderQueryChecked, SkuMappingNew,
    SkuMappingView, WebhookAck,
};
mod keys;
mod orders;
mod shops;
pub(crate) use shops::shop_view;

pub use keys::{KEY_USE_WRITE_INTERVAL_MS, new_key_id};
pub use shops::new_shop_id;

/// Every domain trait over a [`Hub`], with the sign-in throttle (which lives as long as the server).
pub struct HttpApi {
    hub: Arc<Hub>,
    throttle: LoginThrottle,
    key_uses: keys::KeyUses,
    agents_dial: AgentsDial,
    /// See [`HttpApi::with_stock_delay`]; zero in a served hub.
    stock_delay: Duration,
}

/// Where agents reach this hub, as told to whoever makes an enrollment token.
#[derive(Debug, Clone, Default)]
pub struct AgentsDial {
    /// The UDP port QUIC is bound to (0 = not serving QUIC, e.g. a router under test).
    pub quic_port: u16,
    /// `host:port` agents should dial, when the operator said (`serve --agent-address`).
    pub address: Option<String>,
}

impl HttpApi {
    /// This API as the router's [`Domains`]: one handle per domain.
    pub fn domains(self) -> Domains {
        Domains::of(Arc::new(self))
    }
}

impl HttpApi {
    pub fn new(hub: Arc<Hub>) -> HttpApi {
        HttpApi::with_throttle(hub, LoginThrottle::default())
    }

    /// With a sign-in throttle of other budgets (benchmarks and tests).
    pub fn with_throttle(hub: Arc<Hub>, throttle: LoginThrottle) -> HttpApi {
        HttpApi {
            hub,
            throttle,
            key_uses: keys::KeyUses::default(),
            agents_dial: AgentsDial::default(),
            stock_delay: Duration::ZERO,
        }
    }

    /// For tests of the router's budgets: every stock listing first holds its blocking thread
    /// this long, as a slow disk would. Never set by `serve`.
    pub fn with_stock_delay(mut self, delay: Duration) -> HttpApi {
        self.stock_delay = delay;
        self
    }

    /// Tells enrollment-token makers where agents reach this hub.
    pub fn with_agents_dial(mut self, dial: AgentsDial) -> HttpApi {
        self.agents_dial = dial;
        self
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// The hub's one conversion of a stored time for the API ([`xt_mobile_api::utc::from_unix_ms`]):
/// a time out of range is an error naming it, never shown as 1970.
pub(crate) fn utc(ms: UtcMillis) -> Result<OffsetDateTime, ApiError> {
    xt_mobile_api::utc::from_unix_ms(ms.0)
}

/// [`utc`] of a time that may be absent.
pub(crate) fn utc_opt(ms: Option<UtcMillis>) -> Result<Option<OffsetDateTime>, ApiError> {
    ms.map(utc).transpose()
}

impl HttpApi {
    fn view(&self, id: AgentId, r: AgentRecord) -> Result<AgentView, ApiError> {
        let sources = self
            .hub
            .store
            .origins(&r.tenant, &id)
            .map_err(internal)?
            .into_iter()
            .map(|(source, o)| SourceView {
                source,
                applied_seq: o.applied_seq,
                records_applied: o.records_applied,
                records_quarantined: o.reported_quarantined,
                records_rejected: o.records_rejected,
                backlog: o.reported_backlog,
                last_error: o.last_error,
            })
            .collect();
        let live = self.hub.live_since(&id);
        Ok(AgentView {
            connected: live.is_some(),
            last_seen: if live.is_some() {
                Some(utc(crate::hub::now_ms())?)
            } else {
                utc_opt(r.last_seen)?
            },
            id,
            tenant: r.tenant,
            site: r.site,
            role: r.role,
            enrolled_at: utc(r.enrolled_at)?,
            cert_expires_at: utc(r.cert_not_after)?,
            revoked_at: utc_opt(r.revoked_at)?,
            sources,
        })
    }
}

impl IdentityApi for HttpApi {
    fn authenticate_key(&self, secret: &str) -> Result<Option<Principal>, ApiError> {
        self.key_principal(secret)
    }

    fn authenticate_operator(&self, secret: &str) -> Result<bool, ApiError> {
        let found = self.hub.store.operator_key(secret).map_err(internal)?;
        Ok(found.is_some())
    }

    fn authenticate_access_token(&self, token: &str) -> Result<Option<Principal>, ApiError> {
        self.access_principal(token)
    }

    fn login(&self, req: &LoginRequest, client: Option<IpAddr>) -> Result<TokenPair, ApiError> {
        self.sign_in(req, client)
    }

    fn refresh(&self, refresh_token: &str) -> Result<TokenPair, ApiError> {
        self.refresh_pair(refresh_token)
    }

    fn logout(&self, refresh_token: &str) -> Result<(), ApiError> {
        self.sign_out(refresh_token)
    }

    fn jwks(&self) -> Result<Jwks, ApiError> {
        let now = crate::hub::now_ms();
        crate::auth::jwt::jwks(&self.hub.store, &self.hub.master_key, now).map_err(internal)
    }

    fn rotate_signing_key(&self) -> Result<KeyRotated, ApiError> {
        let now = crate::hub::now_ms();
        let kid = crate::auth::jwt::rotate(&self.hub.store, &self.hub.master_key, now)
            .map_err(internal)?;
        Ok(KeyRotated { kid })
    }

    fn create_user(&self, tenant: &TenantId, req: &UserCreate) -> Result<UserView, ApiError> {
        self.add_user(tenant, req)
    }

    fn list_users(&self, tenant: &TenantId) -> Result<Vec<UserView>, ApiError> {
        self.users(tenant)
    }

    fn update_user(
        &self,
        principal: &Principal,
        username: &str,
        patch: &UserPatch,
    ) -> Result<UserView, ApiError> {
        self.change_user(principal, username, patch)
    }

    fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyOwned>, ApiError> {
        self.keys(tenant)
    }

    fn create_api_key(
        &self,
        principal: &Principal,
        req: &ApiKeyCreate,
    ) -> Result<ApiKeyMade, ApiError> {
        self.add_key(principal, req)
    }

    fn revoke_api_key(&self, tenant: &TenantId, id: &str) -> Result<ApiKeyOwned, ApiError> {
        self.drop_key(tenant, id)
    }
}

impl AgentsApi for HttpApi {
    fn list_agents(&self, tenant: &TenantId) -> Result<Vec<AgentView>, ApiError> {
        self.hub
            .store
            .agents(tenant)
            .map_err(internal)?
            .into_iter()
            .map(|(id, r)| self.view(id, r))
            .collect()
    }

    fn revoke_agent(&self, tenant: &TenantId, agent: &AgentId) -> Result<AgentView, ApiError> {
        match self.hub.revoke(tenant, agent).map_err(internal)? {
            Some(r) => self.view(agent.clone(), r),
            None => Err(ApiError::NotFound(format!("agent {agent} not found"))),
        }
    }

    fn create_enrollment_token(
        &self,
        tenant: &TenantId,
        req: &TokenRequest,
    ) -> Result<TokenCreated, ApiError> {
        let ttl = Duration::from_secs(req.ttl_secs_checked()?);
        let (token, expires_at) = self
            .hub
            .create_token(tenant, &req.site, req.role, ttl)
            .map_err(internal)?;
        Ok(TokenCreated {
            token,
            ca_fingerprint: self.hub.ca.fingerprint(),
            expires_at: utc(expires_at)?,
            tenant: tenant.clone(),
            site: req.site.clone(),
            role: req.role,
            quic_port: self.agents_dial.quic_port,
            agent_address: self.agents_dial.address.clone(),
        })
    }
}

impl StockApi for HttpApi {
    fn list_stock(&self, principal: &Principal, query: &StockQuery) -> Result<StockPage, ApiError> {
        if !self.stock_delay.is_zero() {
            std::thread::sleep(self.stock_delay);
        }
        let tenant = &principal.tenant;
        let limit = query.limit.unwrap_or(xt_mobile_api::STOCK_LIMIT_DEFAULT) as usize;
        let cursor = query
            .cursor
            .as_deref()
            .map(StockCursor::decode)
            .transpose()?;
        let sku = match (&query.sku, &query.sku_prefix) {
            (Some(exact), _) => SkuFilter::Exact(exact),
            (None, Some(prefix)) => SkuFilter::Prefix(prefix),
            (None, None) => SkuFilter::Any,
        };
        let after = cursor
            .as_ref()
            .map(|c| (c.warehouse.as_str(), c.sku.as_str()));
        let mut rows = match principal.stock_scope() {
            None => self
                .hub
                .store
                .stock_page(tenant, query.warehouse.as_deref(), sku, after, limit + 1)
                .map_err(internal)?,
            Some(allowed) => self.scoped_stock(tenant, allowed, query, sku, after, limit + 1)?,
        };
        let more = rows.len() > limit;
        rows.truncate(limit);
        let items = rows
            .into_iter()
            .map(|e| {
                let bad = |err: xt_shared::ids::IdError| ApiError::Internal(err.to_string());
                Ok(StockRow {
                    warehouse: WarehouseCode::new(e.warehouse).map_err(bad)?,
                    sku: Sku::new(e.sku).map_err(bad)?,
                    on_hand: e.record.on_hand,
                    version: e.record.version,
                    origin: e.record.origin,
                    updated_at: utc(e.record.updated_at)?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let next_cursor = if more {
            items.last().map(|r| {
                StockCursor {
                    warehouse: r.warehouse.clone(),
                    sku: r.sku.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(StockPage { items, next_cursor })
    }
}

impl DashboardApi for HttpApi {
    fn dashboard(
        &self,
        principal: &Principal,
        minutes: u32,
    ) -> Result<xt_mobile_api::Dashboard, ApiError> {
        crate::dashboard::build(&self.hub, principal, minutes, crate::hub::now_ms())
    }
}

impl ShopsApi for HttpApi {
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

impl OrdersApi for HttpApi {
    fn orders(&self, tenant: &TenantId, query: &OrderQueryChecked) -> Result<OrderPage, ApiError> {
        self.order_page(tenant, query)
    }

    fn order(
        &self,
        tenant: &TenantId,
        shop: &str,
        order_no: &str,
    ) -> Result<OrderDetail, ApiError> {
        self.order_detail(tenant, shop, order_no)
    }

    fn member(&self, tenant: &TenantId, id: &str) -> Result<MemberView, ApiError> {
        self.member_detail(tenant, id)
    }

    fn sku_mappings(&self, tenant: &TenantId) -> Result<Vec<SkuMappingView>, ApiError> {
        self.mappings(tenant)
    }

    fn create_sku_mapping(
        &self,
        tenant: &TenantId,
        new: &SkuMappingNew,
    ) -> Result<SkuMappingView, ApiError> {
        self.add_mapping(tenant, new)
    }

    fn delete_sku_mapping(&self, tenant: &TenantId, id: &str) -> Result<(), ApiError> {
        self.drop_mapping(tenant, id)
    }
}

impl EventsApi for HttpApi {
    fn events_after(
        &self,
        principal: &Principal,
        after: Option<u64>,
        limit: usize,
    ) -> Result<EventPage, ApiError> {
        let after = after.unwrap_or(0);
        let page = self
            .hub
            .store
            .tenant_log_page(&principal.tenant, after, limit)
            .map_err(internal)?;
        let mut last_key = after;
        let mut events = Vec::with_capacity(page.entries.len() + 1);
        if let Some(from) = page.reset {
            events.push(StreamEvent {
                id: from,
                data: EventData::Reset { from },
            });
            last_key = from;
        }
        for (id, entry) in page.entries {
            last_key = id;
            if let Some(data) = visible_event(principal, entry) {
                events.push(StreamEvent { id, data });
            }
        }
        Ok(EventPage { events, last_key })
    }

    fn latest_event_id(&self, principal: &Principal) -> Result<u64, ApiError> {
        self.hub
            .store
            .last_log_position(&principal.tenant)
            .map_err(internal)
    }

    fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.hub.subscribe_log())
    }
}

impl OperationsApi for HttpApi {
    fn metrics_text(&self) -> Result<String, ApiError> {
        Ok(self.hub.metrics.encode())
    }

    fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.hub
            .metrics
            .observe_http(method, route, status, seconds);
    }
}

/// What of a change-log entry `principal` may see, as event data: its tenant's only, agent
/// events with `agents:read` only, stock rows of its warehouses only (at most
/// [`EVENT_CHANGES_MAX`] of them), orders and capture errors with `orders:read` only; `None` if
/// nothing is left.
fn visible_event(principal: &Principal, entry: LogEntry) -> Option<EventData> {
    if entry.tenant() != &principal.tenant {
        return None;
    }
    match entry {
        // The same rule as `GET /api/v1/agents`.
        LogEntry::Agent(_) if !principal.allows(Permission::AgentsRead) => None,
        LogEntry::Agent(a) => {
            let (agent, site) = (a.agent.to_string(), a.site.to_string());
            Some(if a.connected {
                EventData::AgentConnected { agent, site }
            } else {
                EventData::AgentDisconnected { agent, site }
            })
        }
        LogEntry::CaptureError(_) if !principal.allows(Permission::OrdersRead) => None,
        LogEntry::CaptureError(e) => Some(EventData::CaptureError {
            shop: e.shop,
            order_no: e.order_no,
            reason: e.reason,
        }),
        LogEntry::Batch(batch) if matches!(batch.origin, Origin::Shop { .. }) => {
            if !principal.allows(Permission::OrdersRead) {
                return None;
            }
            let Origin::Shop { shop } = batch.origin else {
                return None;
            };
            let mut ids = std::collections::BTreeSet::new();
            for c in batch.changes {
                let no = match c.body {
                    Body::PlatformOrder { order, .. } => order.platform_order_no,
                    Body::PlatformRefund { refund, .. } => refund.platform_order_no,
                    _ => continue,
                };
                ids.insert(format!("{shop}:{no}"));
            }
            let total = ids.len();
            if total == 0 {
                return None;
            }
            let orders: Vec<String> = ids.into_iter().take(EVENT_CHANGES_MAX).collect();
            Some(EventData::OrdersChanged {
                shop: shop.to_string(),
                truncated: total > orders.len(),
                orders,
                total,
            })
        }
        LogEntry::Batch(batch) => {
            let scope = principal.stock_scope();
            let rows = batch.changes.into_iter().filter_map(|c| match c.body {
                Body::Stock(s) if scope.is_none_or(|allowed| allowed.contains(&s.warehouse)) => {
                    Some(StockChangeView {
                        warehouse: s.warehouse.to_string(),
                        sku: s.sku.to_string(),
                        on_hand: s.on_hand,
                        version: c.version,
                    })
                }
                _ => None,
            });
            let mut changes = Vec::new();
            let mut total = 0;
            for row in rows {
                total += 1;
                if changes.len() < EVENT_CHANGES_MAX {
                    changes.push(row);
                }
            }
            if total == 0 {
                return None;
            }
            // Only agents write stock; a shop's batch holds orders and refunds.
            let Origin::Agent { agent, source } = batch.origin else {
                return None;
            };
            Some(EventData::StockChanged {
                agent: agent.to_string(),
                source: source.to_string(),
                truncated: total > changes.len(),
                changes,
                total,
            })
        }
    }
}

impl HttpApi {
    /// Stock rows of only the `allowed` warehouses, in the same `(warehouse, sku)` order as
    /// the unrestricted listing: one range scan per allowed warehouse, from the cursor's on.
    fn scoped_stock(
        &self,
        tenant: &TenantId,
        allowed: &[WarehouseCode],
        query: &StockQuery,
        sku: SkuFilter<'_>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<StockEntry>, ApiError> {
        let mut warehouses: Vec<&str> = allowed
            .iter()
            .map(WarehouseCode::as_str)
            .filter(|w| query.warehouse.as_deref().is_none_or(|want| want == *w))
            .filter(|w| after.is_none_or(|(aw, _)| *w >= aw))
            .collect();
        warehouses.sort_unstable();
        warehouses.dedup();
        let mut rows = Vec::new();
        for w in warehouses {
            let from = after.filter(|(aw, _)| *aw == w);
            let more = self
                .hub
                .store
                .stock_page(tenant, Some(w), sku, from, limit - rows.len())
                .map_err(internal)?;
            rows.extend(more);
            if rows.len() >= limit {
                break;
            }
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn a_stored_time_out_of_range_is_an_error_never_1970() {
        assert_eq!(
            utc(UtcMillis(1_700_000_000_123)).unwrap(),
            OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_000_000).unwrap()
        );
        for ms in [i64::MAX, i64::MIN] {
            let e = utc(UtcMillis(ms)).unwrap_err();
            assert!(e.to_string().contains("out of range"), "{e}");
            assert!(utc_opt(Some(UtcMillis(ms))).is_err());
        }
        assert_eq!(utc_opt(None).unwrap(), None);
    }
}
