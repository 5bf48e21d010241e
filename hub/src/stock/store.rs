//! The stock room's records, tables and transactions.

use super::decide::{TotalsMove, level_applies, totals_move};
use crate::store::table::{Table, WriteRows};
use crate::store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use xt_shared::ids::TenantId;
use xt_shared::model::{StockLevel, UtcMillis};

/// Key: (tenant, warehouse, sku).
pub(crate) const STOCK: Table<(&str, &str, &str), StockRecord> = Table::new("stock");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRecord {
    pub on_hand: i64,
    pub version: i64,
    pub origin: String,
    pub updated_at: UtcMillis,
}

/// A stock row as the API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockEntry {
    pub warehouse: String,
    pub sku: String,
    pub record: StockRecord,
}

/// Which SKUs a stock listing wants.
#[derive(Debug, Clone, Copy)]
pub enum SkuFilter<'a> {
    Any,
    Exact(&'a str),
    Prefix(&'a str),
}

impl SkuFilter<'_> {
    fn matches(&self, sku: &str) -> bool {
        match self {
            SkuFilter::Any => true,
            SkuFilter::Exact(want) => sku == *want,
            SkuFilter::Prefix(p) => sku.starts_with(p),
        }
    }
}

/// Applies one stock level of source version `version` to `rows` (the tenant's stock table in
/// the caller's transaction): written unless a newer version is stored. Returns how the
/// warehouse's totals move, or `None` when the level was stale.
pub(crate) fn apply_level(
    rows: &mut WriteRows<'_, (&'static str, &'static str, &'static str), StockRecord>,
    tenant: &TenantId,
    level: &StockLevel,
    version: i64,
    origin: &str,
    now: UtcMillis,
) -> Result<Option<TotalsMove>, StoreError> {
    let key = (
        tenant.as_str(),
        level.warehouse.as_str(),
        level.sku.as_str(),
    );
    let record = StockRecord {
        on_hand: level.on_hand,
        version,
        origin: origin.to_owned(),
        updated_at: now,
    };
    // Write first, look at what was there after: a stale level is rare, so one tree walk per
    // level instead of two; the rare loser is put back.
    let old = rows.replace(key, &record)?;
    if !level_applies(old.as_ref(), version) {
        if let Some(old) = old {
            rows.insert(key, &old)?;
        }
        return Ok(None);
    }
    Ok(Some(totals_move(old.as_ref(), level.on_hand)))
}

impl Store {
    /// Stock rows of a tenant in key order, after `after` (warehouse, sku), filtered.
    pub fn stock_page(
        &self,
        tenant: &TenantId,
        warehouse: Option<&str>,
        sku: SkuFilter<'_>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<StockEntry>, StoreError> {
        let tx = self.read()?;
        let start = match (after, warehouse) {
            (Some((w, s)), _) => (tenant.as_str(), w, s),
            (None, Some(w)) => (tenant.as_str(), w, ""),
            (None, None) => (tenant.as_str(), "", ""),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for row in tx.open(STOCK)?.range(start..)? {
            let row = row?;
            let (t, w, s) = row.key();
            if t != tenant.as_str() || warehouse.is_some_and(|want| want != w) {
                break;
            }
            if after == Some((w, s)) || !sku.matches(s) {
                continue;
            }
            out.push(StockEntry {
                warehouse: w.to_owned(),
                sku: s.to_owned(),
                record: row.value,
            });
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Every stock row of a tenant (tests and small tenants).
    pub fn stock_all(&self, tenant: &TenantId) -> Result<Vec<StockEntry>, StoreError> {
        self.stock_page(tenant, None, SkuFilter::Any, None, usize::MAX)
    }
}
