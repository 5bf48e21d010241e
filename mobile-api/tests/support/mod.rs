//! An in-memory [`HubApi`] with two tenants, for driving the router without a hub.

use std::collections::BTreeMap;
use std::sync::Mutex;
use xt_mobile_api::utc::from_unix_ms;
use xt_mobile_api::{
    AgentView, ApiError, HubApi, Principal, SourceView, StockCursor, StockPage, StockQuery,
    StockRow, TokenCreated, TokenRequest,
};
use xt_shared::ids::{AgentId, SiteId, Sku, SourceName, TenantId, WarehouseCode};
use xt_shared::protocol::AgentRole;

pub const KEY_A: &str = "key-of-tenant-a";
pub const KEY_B: &str = "key-of-tenant-b";
/// An agent id for which the fake fails with an internal error carrying a secret detail.
pub const AGENT_BOOM: &str = "boom";
pub const SECRET_DETAIL: &str = "redb file /var/lib/secret.redb is corrupt";
pub const NOW_MS: i64 = 1_714_557_600_000;

pub fn tenant(s: &str) -> TenantId {
    TenantId::new(s).unwrap()
}

#[derive(Default)]
pub struct FakeHub {
    agents: Mutex<Vec<AgentView>>,
    /// `(tenant, warehouse, sku)` → row; the BTreeMap order is the page order.
    stock: BTreeMap<(TenantId, WarehouseCode, Sku), StockRow>,
}

fn agent(id: &str, tenant_id: &str, site: &str) -> AgentView {
    AgentView {
        id: AgentId::new(id).unwrap(),
        tenant: tenant(tenant_id),
        site: SiteId::new(site).unwrap(),
        role: AgentRole::Warehouse,
        connected: true,
        last_seen: Some(from_unix_ms(NOW_MS).unwrap()),
        enrolled_at: from_unix_ms(NOW_MS - 86_400_000).unwrap(),
        cert_expires_at: from_unix_ms(NOW_MS + 30 * 86_400_000).unwrap(),
        revoked_at: None,
        sources: vec![SourceView {
            source: SourceName::new("wms").unwrap(),
            applied_seq: 42,
            records_applied: 40,
            records_quarantined: 1,
            records_rejected: 1,
            backlog: 0,
            last_error: None,
        }],
    }
}

impl FakeHub {
    /// Tenant `a` has agents `a1`, `a2` and `stock_rows_a` stock rows over two warehouses;
    /// tenant `b` has agent `b1` and a few stock rows of its own.
    pub fn new(stock_rows_a: usize) -> FakeHub {
        let agents = vec![
            agent("a1", "a", "shanghai"),
            agent("a2", "a", "hangzhou"),
            agent("b1", "b", "beijing"),
        ];
        let mut stock = BTreeMap::new();
        let mut add = |t: &str, w: &str, s: String, on_hand: i64| {
            let row = StockRow {
                warehouse: WarehouseCode::new(w).unwrap(),
                sku: Sku::new(s).unwrap(),
                on_hand,
                version: on_hand,
                origin: format!("{t}1/wms"),
                updated_at: from_unix_ms(NOW_MS).unwrap(),
            };
            stock.insert((tenant(t), row.warehouse.clone(), row.sku.clone()), row);
        };
        for i in 0..stock_rows_a {
            let w = if i % 2 == 0 { "WH-1" } else { "WH-2" };
            add("a", w, format!("SKU-{i:04}"), i as i64);
        }
        for i in 0..5 {
            add("b", "WH-1", format!("SKU-{i:04}"), 1000 + i);
        }
        FakeHub {
            agents: Mutex::new(agents),
            stock,
        }
    }
}

impl HubApi for FakeHub {
    fn authenticate_key(&self, secret: &str) -> Result<Option<Principal>, ApiError> {
        let tenant_id = match secret {
            KEY_A => "a",
            KEY_B => "b",
            _ => return Ok(None),
        };
        Ok(Some(Principal::api_key(
            tenant(tenant_id),
            format!("key-{tenant_id}"),
            vec![xt_mobile_api::Scope::Owner],
        )))
    }

    fn authenticate_operator(&self, _: &str) -> Result<bool, ApiError> {
        Ok(false)
    }

    fn list_agents(&self, tenant: &TenantId) -> Result<Vec<AgentView>, ApiError> {
        let agents = self.agents.lock().unwrap();
        Ok(agents
            .iter()
            .filter(|a| &a.tenant == tenant)
            .cloned()
            .collect())
    }

    fn revoke_agent(&self, tenant: &TenantId, agent: &AgentId) -> Result<AgentView, ApiError> {
        if agent.as_str() == AGENT_BOOM {
            return Err(ApiError::Internal(SECRET_DETAIL.into()));
        }
        let mut agents = self.agents.lock().unwrap();
        let found = agents
            .iter_mut()
            .find(|a| &a.tenant == tenant && &a.id == agent)
            .ok_or_else(|| ApiError::NotFound(format!("agent {:?} not found", agent.as_str())))?;
        found
            .revoked_at
            .get_or_insert(from_unix_ms(NOW_MS).unwrap());
        found.connected = false;
        Ok(found.clone())
    }

    fn create_enrollment_token(
        &self,
        tenant: &TenantId,
        req: &TokenRequest,
    ) -> Result<TokenCreated, ApiError> {
        let ttl_secs = req.ttl_secs.expect("the router fills in ttl_secs");
        Ok(TokenCreated {
            token: format!("tok-{}-{}", tenant, req.site),
            ca_fingerprint: "ab".repeat(32),
            expires_at: from_unix_ms(NOW_MS + ttl_secs as i64 * 1000).unwrap(),
            tenant: tenant.clone(),
            site: req.site.clone(),
            role: req.role,
            quic_port: 4433,
            agent_address: None,
        })
    }

    fn list_stock(&self, principal: &Principal, query: &StockQuery) -> Result<StockPage, ApiError> {
        let tenant = &principal.tenant;
        let limit = query.limit.expect("the router fills in limit") as usize;
        let after = query
            .cursor
            .as_deref()
            .map(StockCursor::decode)
            .transpose()?;
        let mut items: Vec<StockRow> = self
            .stock
            .iter()
            .filter(|((t, w, s), _)| {
                t == tenant
                    && after
                        .as_ref()
                        .is_none_or(|c| (w, s) > (&c.warehouse, &c.sku))
            })
            .map(|(_, row)| row)
            .filter(|row| {
                query
                    .warehouse
                    .as_deref()
                    .is_none_or(|w| row.warehouse.as_str() == w)
                    && query.sku.as_deref().is_none_or(|s| row.sku.as_str() == s)
                    && query
                        .sku_prefix
                        .as_deref()
                        .is_none_or(|p| row.sku.as_str().starts_with(p))
            })
            .take(limit + 1)
            .cloned()
            .collect();
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|row| {
                StockCursor {
                    warehouse: row.warehouse.clone(),
                    sku: row.sku.clone(),
                }
                .encode()
            })
        } else {
            None
        };
        Ok(StockPage { items, next_cursor })
    }

    xt_mobile_api::stand_in_hub_unavailable!();
}
