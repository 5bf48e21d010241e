//! The stock room's side of the HTTP API: [`StockService`] implements
//! [`StockApi`](xt_mobile_api::StockApi).

use crate::api::{internal, utc};
use crate::hub::Hub;
use crate::store::{SkuFilter, StockEntry};
use std::sync::Arc;
use std::time::Duration;
use xt_mobile_api::StockApi;
use xt_mobile_api::{ApiError, Principal, StockCursor, StockPage, StockQuery, StockRow};
use xt_shared::ids::{Sku, TenantId, WarehouseCode};

/// The stock room's service: paged, warehouse-scoped stock listings.
pub struct StockService {
    hub: Arc<Hub>,
    /// See [`crate::api::HttpApi::with_stock_delay`]; zero in a served hub.
    delay: Duration,
}

impl StockService {
    pub fn new(hub: Arc<Hub>, delay: Duration) -> StockService {
        StockService { hub, delay }
    }
}

impl StockApi for StockService {
    fn list_stock(&self, principal: &Principal, query: &StockQuery) -> Result<StockPage, ApiError> {
        if !self.delay.is_zero() {
            std::thread::sleep(self.delay);
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
                .store()
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

impl StockService {
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
                .store()
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
