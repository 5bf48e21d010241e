//! Pre-aggregated dashboard data, so a dashboard request never scans stock rows or the log:
//!
//! - stock totals per (tenant, warehouse): SKU count, on-hand sum, last update. Changed only
//!   inside the transaction that applies a batch, by the difference the batch made to each row
//!   (last writer wins, so a stale change adds nothing), hence always equal to a recount.
//! - one bucket per (tenant, minute): changes applied in that minute (counted in the apply
//!   transaction) and the gauges (total reported backlog, agents online) the hub's ticker
//!   sampled in it. Buckets older than [`BUCKET_RETENTION_MINUTES`] are pruned by the ticker.
//! - stock changes per (tenant, minute, warehouse), counted in the same apply transaction and
//!   pruned with the buckets, so a warehouse-bound user's series counts only its warehouses.

use crate::agents::store::{AGENTS, ORIGINS};
use crate::stock::store::STOCK;
use crate::store::table::{ReadTx, Table, WriteTx};
use crate::store::{META, Store, StoreError, TENANTS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use xt_shared::ids::{TenantId, WarehouseCode};
use xt_shared::model::UtcMillis;

/// Key: (tenant, warehouse).
pub(crate) const STOCK_TOTALS: Table<(&str, &str), StockTotals> = Table::new("stock_totals");
/// Key: (tenant, minute = Unix milliseconds / [`MINUTE_MS`]).
pub(crate) const MINUTES: Table<(&str, i64), MinuteBucket> = Table::new("minute_buckets");
/// Key: (tenant, minute, warehouse). Value: stock changes applied to the warehouse in the minute.
pub(crate) const WAREHOUSE_MINUTES: Table<(&str, i64, &str), u64> =
    Table::new("warehouse_minute_changes");
/// Set in `meta` once the stock totals were built from the stock table (hubs made before the
/// totals existed build them on their first open).
pub(crate) const TOTALS_BUILT: &str = "stock_totals_built";

/// One bucket's length.
pub const MINUTE_MS: i64 = 60_000;
/// How many minutes of buckets are kept: 24 hours.
pub const BUCKET_RETENTION_MINUTES: i64 = 24 * 60;

/// The minute `t` falls in.
pub fn minute_of(t: UtcMillis) -> i64 {
    t.0.div_euclid(MINUTE_MS)
}

/// Stock totals of one warehouse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockTotals {
    /// Stock rows (SKUs) in the warehouse.
    pub skus: u64,
    /// Sum of their on-hand quantities.
    pub on_hand: i64,
    /// When a batch last wrote a row of the warehouse (after a migration: the newest row's
    /// `updated_at`). `None` only for an empty record.
    pub updated_at: Option<UtcMillis>,
}

/// One minute of one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteBucket {
    /// Changes applied in this minute.
    pub changes: u64,
    /// Sum of the backlogs the tenant's agents last reported, when the ticker sampled it.
    pub backlog: Option<u64>,
    /// The tenant's agents with a live connection, when the ticker sampled it.
    pub agents_online: Option<u64>,
}

/// Gauges of one tenant at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    pub backlog: u64,
    pub agents_online: u64,
}

/// What one batch did to one warehouse's totals.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TotalsDelta {
    pub(crate) skus: i64,
    pub(crate) on_hand: i64,
}

/// Builds the totals of a hub made before they existed (once: a flag in `meta`).
pub(crate) fn create_tables(tx: &WriteTx) -> Result<(), StoreError> {
    if !tx.open(META)?.contains(TOTALS_BUILT)? {
        rebuild_totals(tx)?;
        tx.open(META)?.insert(TOTALS_BUILT, &vec![1])?;
    }
    Ok(())
}

/// Recounts every tenant's totals from the stock table: the one full scan, done once.
fn rebuild_totals(tx: &WriteTx) -> Result<(), StoreError> {
    let mut totals: BTreeMap<(String, String), StockTotals> = BTreeMap::new();
    for row in tx.open(STOCK)?.all()? {
        let row = row?;
        let (t, w, _) = row.key();
        let entry = totals.entry((t.to_owned(), w.to_owned())).or_default();
        entry.skus += 1;
        entry.on_hand += row.value.on_hand;
        entry.updated_at = entry.updated_at.max(Some(row.value.updated_at));
    }
    let mut table = tx.open(STOCK_TOTALS)?;
    table.clear()?;
    for ((t, w), record) in &totals {
        table.insert((t.as_str(), w.as_str()), record)?;
    }
    if !totals.is_empty() {
        tracing::info!(
            warehouses = totals.len(),
            "stock totals built from the stock table"
        );
    }
    Ok(())
}

/// Adds one batch's differences to the totals, in the batch's transaction.
pub(crate) fn apply_totals(
    tx: &WriteTx,
    tenant: &TenantId,
    deltas: &BTreeMap<String, TotalsDelta>,
    now: UtcMillis,
) -> Result<(), StoreError> {
    let mut table = tx.open(STOCK_TOTALS)?;
    for (warehouse, delta) in deltas {
        let key = (tenant.as_str(), warehouse.as_str());
        let mut totals = table.get(key)?.unwrap_or_default();
        let skus = i64::try_from(totals.skus).unwrap_or(i64::MAX) + delta.skus;
        totals.skus = u64::try_from(skus).map_err(|_| StoreError::Corrupt {
            table: "stock_totals",
            reason: format!("{tenant}/{warehouse} would count {skus} SKUs"),
        })?;
        totals.on_hand += delta.on_hand;
        totals.updated_at = Some(now);
        table.insert(key, &totals)?;
    }
    Ok(())
}

/// The warehouses `tenant` has stock in, from the totals (one row per warehouse).
pub(crate) fn warehouses(tx: &WriteTx, tenant: &TenantId) -> Result<Vec<String>, StoreError> {
    let table = tx.open(STOCK_TOTALS)?;
    let t = tenant.as_str();
    let mut out = Vec::new();
    for key in table.keys((t, "")..)? {
        let key = key?;
        let (kt, w) = key.value();
        if kt != t {
            break;
        }
        out.push(w.to_owned());
    }
    Ok(out)
}

/// Counts `changes` applied changes into the tenant's bucket of `now`'s minute.
pub(crate) fn count_changes(
    tx: &WriteTx,
    tenant: &TenantId,
    now: UtcMillis,
    changes: u64,
) -> Result<(), StoreError> {
    let mut table = tx.open(MINUTES)?;
    let key = (tenant.as_str(), minute_of(now));
    let mut bucket = table.get(key)?.unwrap_or_default();
    bucket.changes += changes;
    table.insert(key, &bucket)?;
    Ok(())
}

/// Counts one batch's stock changes per warehouse into the tenant's minute of `now`.
pub(crate) fn count_warehouse_changes(
    tx: &WriteTx,
    tenant: &TenantId,
    now: UtcMillis,
    changes: &BTreeMap<String, u64>,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut table = tx.open(WAREHOUSE_MINUTES)?;
    let minute = minute_of(now);
    for (warehouse, n) in changes {
        let key = (tenant.as_str(), minute, warehouse.as_str());
        let before = table.get(key)?.unwrap_or(0);
        table.insert(key, &(before + n))?;
    }
    Ok(())
}

/// The buckets of a window: the newest gauges before it (to carry forward) and the buckets in it.
#[derive(Debug, Clone, Default)]
pub struct BucketWindow {
    pub gauges_before: Option<Gauges>,
    /// `(minute, bucket)` in minute order, only the minutes that have a bucket.
    pub buckets: Vec<(i64, MinuteBucket)>,
}

/// The names of every tenant.
fn tenant_names(tx: &WriteTx) -> Result<Vec<String>, StoreError> {
    tx.open(TENANTS)?
        .keys::<&str>(..)?
        .map(|key| key.map(|k| k.value().to_owned()))
        .collect()
}

impl MinuteBucket {
    pub fn gauges(&self) -> Option<Gauges> {
        Some(Gauges {
            backlog: self.backlog?,
            agents_online: self.agents_online?,
        })
    }
}

impl Store {
    /// Stock totals of a tenant's warehouses in warehouse order: all of them, or only `only`.
    pub fn stock_totals(
        &self,
        tenant: &TenantId,
        only: Option<&[WarehouseCode]>,
    ) -> Result<Vec<(String, StockTotals)>, StoreError> {
        let tx = self.read()?;
        let table = tx.open(STOCK_TOTALS)?;
        let mut out = Vec::new();
        match only {
            Some(warehouses) => {
                let mut wanted: Vec<&str> = warehouses.iter().map(WarehouseCode::as_str).collect();
                wanted.sort_unstable();
                wanted.dedup();
                for w in wanted {
                    if let Some(totals) = table.get((tenant.as_str(), w))? {
                        out.push((w.to_owned(), totals));
                    }
                }
            }
            None => {
                for row in table.range((tenant.as_str(), "")..)? {
                    let row = row?;
                    let (t, w) = row.key();
                    if t != tenant.as_str() {
                        break;
                    }
                    out.push((w.to_owned(), row.value));
                }
            }
        }
        Ok(out)
    }

    /// Stock changes applied to `only` of a tenant's warehouses in each minute of
    /// `first..=last` that has any (minutes before the hub counted per warehouse have none).
    pub fn warehouse_changes(
        &self,
        tenant: &TenantId,
        only: &[WarehouseCode],
        first: i64,
        last: i64,
    ) -> Result<BTreeMap<i64, u64>, StoreError> {
        let tx = self.read()?;
        let table = tx.open(WAREHOUSE_MINUTES)?;
        let t = tenant.as_str();
        let mut out = BTreeMap::new();
        for row in table.range((t, first, "")..(t, last.saturating_add(1), ""))? {
            let row = row?;
            let (_, minute, warehouse) = row.key();
            if only.iter().any(|w| w.as_str() == warehouse) {
                *out.entry(minute).or_default() += row.value;
            }
        }
        Ok(out)
    }

    /// A tenant's buckets for minutes `first..=last`, and the newest sampled gauges before
    /// `first` (looked for within the retention only).
    pub fn minute_buckets(
        &self,
        tenant: &TenantId,
        first: i64,
        last: i64,
    ) -> Result<BucketWindow, StoreError> {
        let tx = self.read()?;
        let table = tx.open(MINUTES)?;
        let t = tenant.as_str();
        let mut window = BucketWindow::default();
        let oldest = first.saturating_sub(BUCKET_RETENTION_MINUTES);
        for row in table.range((t, oldest)..(t, first))?.rev() {
            if let Some(g) = row?.value.gauges() {
                window.gauges_before = Some(g);
                break;
            }
        }
        for row in table.range((t, first)..=(t, last))? {
            let row = row?;
            window.buckets.push((row.key().1, row.value));
        }
        Ok(window)
    }

    /// Writes sampled gauges into each tenant's bucket of `now`'s minute and drops every
    /// bucket older than the retention, in one transaction. Returns the buckets dropped.
    pub fn record_gauges(
        &self,
        samples: &BTreeMap<TenantId, Gauges>,
        now: UtcMillis,
    ) -> Result<u64, StoreError> {
        let minute = minute_of(now);
        let keep_from = minute - BUCKET_RETENTION_MINUTES + 1;
        let tx = self.write()?;
        let mut dropped = 0;
        {
            let mut table = tx.open(MINUTES)?;
            for (tenant, gauges) in samples {
                let key = (tenant.as_str(), minute);
                let mut bucket = table.get(key)?.unwrap_or_default();
                bucket.backlog = Some(gauges.backlog);
                bucket.agents_online = Some(gauges.agents_online);
                table.insert(key, &bucket)?;
            }
            let tenants = tenant_names(&tx)?;
            for t in &tenants {
                dropped += table.remove_range((t.as_str(), i64::MIN)..(t.as_str(), keep_from))?;
            }
            let mut per_warehouse = tx.open(WAREHOUSE_MINUTES)?;
            for t in &tenants {
                per_warehouse
                    .remove_range((t.as_str(), i64::MIN, "")..(t.as_str(), keep_from, ""))?;
            }
        }
        tx.commit()?;
        Ok(dropped)
    }

    /// Every tenant's gauges now: backlog reported by its non-revoked agents, and how many of
    /// those `is_live` says are connected. Tenants without agents get zeros. O(agents + sources).
    pub fn gauges(
        &self,
        is_live: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<TenantId, Gauges>, StoreError> {
        let tx: ReadTx = self.read()?;
        let mut out = BTreeMap::new();
        let corrupt = |table, e: xt_shared::ids::IdError| StoreError::Corrupt {
            table,
            reason: e.to_string(),
        };
        for key in tx.open(TENANTS)?.keys::<&str>(..)? {
            let tenant = TenantId::new(key?.value()).map_err(|e| corrupt("tenants", e))?;
            out.insert(tenant, Gauges::default());
        }
        let mut tenant_of: BTreeMap<String, TenantId> = BTreeMap::new();
        for row in tx.open(AGENTS)?.all()? {
            let row = row?;
            let (_, agent) = row.key();
            let record = &row.value;
            if record.revoked_at.is_some() {
                continue;
            }
            let g: &mut Gauges = out.entry(record.tenant.clone()).or_default();
            if is_live(agent) {
                g.agents_online += 1;
            }
            tenant_of.insert(agent.to_owned(), record.tenant.clone());
        }
        for row in tx.open(ORIGINS)?.all()? {
            let row = row?;
            let Some(tenant) = tenant_of.get(row.key().1) else {
                continue;
            };
            if let Some(g) = out.get_mut(tenant) {
                g.backlog += row.value.reported_backlog;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
impl Store {
    /// Makes the store look like one written before the totals existed.
    pub(crate) fn forget_totals(&self) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.drop_table(STOCK_TOTALS.name())?;
        tx.open(META)?.remove(TOTALS_BUILT)?;
        tx.commit()
    }
}
