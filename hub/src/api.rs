//! The hub's side of the HTTP surface: [`HubApi`] over the store.

use crate::hub::Hub;
use crate::store::{AgentRecord, SkuFilter, StoreError};
use std::sync::Arc;
use std::time::Duration;
use xt_mobile_api::time::OffsetDateTime;
use xt_mobile_api::{
    AgentView, ApiError, HubApi, KeyRole, Principal, SourceView, StockCursor, StockPage,
    StockQuery, StockRow, TokenCreated, TokenRequest,
};
use xt_shared::ids::{AgentId, Sku, TenantId, WarehouseCode};
use xt_shared::model::UtcMillis;

pub struct HttpApi(pub Arc<Hub>);

fn internal(e: StoreError) -> ApiError {
    ApiError::Internal(e.to_string())
}

fn utc(ms: UtcMillis) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms.0) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

impl HttpApi {
    fn view(&self, id: AgentId, r: AgentRecord) -> Result<AgentView, ApiError> {
        let sources = self
            .0
            .store
            .origins(&id)
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
        let live = self.0.live_since(&id);
        Ok(AgentView {
            connected: live.is_some(),
            last_seen: if live.is_some() {
                Some(utc(crate::hub::now_ms()))
            } else {
                r.last_seen.map(utc)
            },
            id,
            tenant: r.tenant,
            site: r.site,
            role: r.role,
            enrolled_at: utc(r.enrolled_at),
            cert_expires_at: utc(r.cert_not_after),
            revoked_at: r.revoked_at.map(utc),
            sources,
        })
    }
}

impl HubApi for HttpApi {
    fn authenticate_key(&self, secret: &str) -> Result<Option<Principal>, ApiError> {
        let key = self.0.store.api_key(secret).map_err(internal)?;
        Ok(key.filter(|k| k.revoked_at.is_none()).map(|k| Principal {
            tenant: k.tenant,
            key_id: k.id,
            role: KeyRole::Owner,
        }))
    }

    fn list_agents(&self, tenant: &TenantId) -> Result<Vec<AgentView>, ApiError> {
        self.0
            .store
            .agents(tenant)
            .map_err(internal)?
            .into_iter()
            .map(|(id, r)| self.view(id, r))
            .collect()
    }

    fn revoke_agent(&self, tenant: &TenantId, agent: &AgentId) -> Result<AgentView, ApiError> {
        match self.0.revoke(tenant, agent).map_err(internal)? {
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
            .0
            .create_token(tenant, &req.site, req.role, ttl)
            .map_err(internal)?;
        Ok(TokenCreated {
            token,
            ca_fingerprint: self.0.ca.fingerprint(),
            expires_at: utc(expires_at),
            tenant: tenant.clone(),
            site: req.site.clone(),
            role: req.role,
        })
    }

    fn list_stock(&self, tenant: &TenantId, query: &StockQuery) -> Result<StockPage, ApiError> {
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
        let mut rows = self
            .0
            .store
            .stock_page(tenant, query.warehouse.as_deref(), sku, after, limit + 1)
            .map_err(internal)?;
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
                    updated_at: utc(e.record.updated_at),
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
