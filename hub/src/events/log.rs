//! The change log, kept per tenant: what event streams replay (`GET /api/v1/events`).
//!
//! *Owns:* the tables `tenant_log` (key (tenant, position) → [`LogEntry`]) and
//! `tenant_log_heads` (tenant → its last position and the position it is trimmed through).
//! *Invariant:* a tenant's positions only grow, by one per entry appended (positions of a log
//! migrated from the hub-wide log of layout 1 keep their old keys: a client's `Last-Event-ID`
//! stays valid); an entry is appended in the same transaction as the changes it describes
//! ([`append`]), and trimming ([`trim`]) removes only a tenant's oldest entries and records how
//! far it went, so a reader resuming from a trimmed position learns it ([`LogPage::reset`]).
//! *Boundary:* the store's apply functions append; the API pages; the ticker trims.

use crate::store::codec::{decode, encode};
use crate::store::{LogEntry, StoreError};
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;

/// Key: (tenant, position).
pub(crate) const TENANT_LOG: TableDefinition<(&str, u64), &[u8]> =
    TableDefinition::new("tenant_log");
/// Key: tenant → (last position written, trimmed through: every position up to it is gone).
pub(crate) const TENANT_LOG_HEADS: TableDefinition<&str, (u64, u64)> =
    TableDefinition::new("tenant_log_heads");

/// How long and how much of each tenant's log is kept (`serve --log-retention`,
/// `--log-retention-entries`). Whichever limit is reached first trims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRetention {
    /// Entries older than this (by the time they were appended) go.
    pub max_age_ms: i64,
    /// At most this many entries per tenant are kept.
    pub max_entries: u64,
}

/// 7 days, 100,000 entries per tenant: a phone offline over a weekend resumes where it was; a
/// client away longer gets a reset and reloads.
pub const LOG_RETENTION_DEFAULT: LogRetention = LogRetention {
    max_age_ms: 7 * 24 * 3600 * 1000,
    max_entries: 100_000,
};

impl Default for LogRetention {
    fn default() -> LogRetention {
        LOG_RETENTION_DEFAULT
    }
}

/// Most entries one [`trim`] call removes from a tenant: the rest goes at the next tick, so a
/// first trim of a big log never holds the write lock for long.
pub const TRIM_BATCH_MAX: usize = 10_000;

/// A page of a tenant's log.
#[derive(Debug, Default)]
pub struct LogPage {
    /// Set when positions after the one asked for were already trimmed: the position the log is
    /// trimmed through. The entries follow it; whatever lay between is gone.
    pub reset: Option<u64>,
    pub entries: Vec<(u64, LogEntry)>,
}

fn heads(txn: &WriteTransaction, tenant: &str) -> Result<(u64, u64), StoreError> {
    Ok(txn
        .open_table(TENANT_LOG_HEADS)?
        .get(tenant)?
        .map_or((0, 0), |v| v.value()))
}

/// Appends `entry` to its tenant's log in the caller's transaction; returns its position. The
/// one way entries get into the log.
pub(crate) fn append(txn: &WriteTransaction, entry: &LogEntry) -> Result<u64, StoreError> {
    let tenant = entry.tenant().as_str();
    // Trimming never passes the last position, so the next one follows it.
    let (last, trimmed) = heads(txn, tenant)?;
    let position = last + 1;
    txn.open_table(TENANT_LOG)?
        .insert((tenant, position), encode(entry).as_slice())?;
    txn.open_table(TENANT_LOG_HEADS)?
        .insert(tenant, (position, trimmed))?;
    Ok(position)
}

/// The position of `tenant`'s newest entry (0 when it never had one).
pub(crate) fn last_position(
    heads: &impl ReadableTable<&'static str, (u64, u64)>,
    tenant: &TenantId,
) -> Result<u64, StoreError> {
    Ok(heads.get(tenant.as_str())?.map_or(0, |v| v.value().0))
}

/// Up to `limit` entries of `tenant` after position `after`, in order.
pub(crate) fn page(
    log: &impl ReadableTable<(&'static str, u64), &'static [u8]>,
    heads: &impl ReadableTable<&'static str, (u64, u64)>,
    tenant: &TenantId,
    after: u64,
    limit: usize,
) -> Result<LogPage, StoreError> {
    let t = tenant.as_str();
    let trimmed = heads.get(t)?.map_or(0, |v| v.value().1);
    let mut page = LogPage {
        reset: (after < trimmed).then_some(trimmed),
        entries: Vec::with_capacity(limit.min(1024)),
    };
    let from = after.max(trimmed);
    if from == u64::MAX {
        return Ok(page);
    }
    for item in log.range((t, from + 1)..=(t, u64::MAX))? {
        if page.entries.len() >= limit {
            break;
        }
        let (k, v) = item?;
        page.entries.push((k.value().1, decode(v.value())?));
    }
    Ok(page)
}

/// Removes `tenant`'s entries beyond `retention` as of `now`, oldest first, at most `max` of
/// them; returns how many went. Entries are appended in time order, so the oldest are first.
pub(crate) fn trim(
    txn: &WriteTransaction,
    tenant: &str,
    retention: LogRetention,
    now: UtcMillis,
    max: usize,
) -> Result<usize, StoreError> {
    let (last, trimmed) = heads(txn, tenant)?;
    let mut log = txn.open_table(TENANT_LOG)?;
    let kept = log.range((tenant, 0)..=(tenant, u64::MAX))?.count() as u64;
    let over = kept.saturating_sub(retention.max_entries);
    let oldest_kept = now.0.saturating_sub(retention.max_age_ms);
    let mut doomed = Vec::new();
    for item in log.range((tenant, 0)..=(tenant, u64::MAX))? {
        if doomed.len() >= max {
            break;
        }
        let (k, v) = item?;
        let position = k.value().1;
        if (doomed.len() as u64) < over {
            doomed.push(position);
            continue;
        }
        let entry: LogEntry = decode(v.value())?;
        if entry.at() >= UtcMillis(oldest_kept) {
            break;
        }
        doomed.push(position);
    }
    let Some(&through) = doomed.last() else {
        return Ok(0);
    };
    for position in &doomed {
        log.remove((tenant, *position))?;
    }
    txn.open_table(TENANT_LOG_HEADS)?
        .insert(tenant, (last, trimmed.max(through)))?;
    Ok(doomed.len())
}

/// The tenants that have a log.
pub(crate) fn tenants(
    heads: &impl ReadableTable<&'static str, (u64, u64)>,
) -> Result<Vec<String>, StoreError> {
    let mut out = Vec::new();
    for item in heads.iter()? {
        out.push(item?.0.value().to_owned());
    }
    Ok(out)
}

/// Layout 1 → 2: moves the hub-wide `change_log` (and drops its tenant index) into the
/// per-tenant log, each entry keeping its old key as its position. Returns how many moved.
pub(crate) fn migrate_from_hub_wide(txn: &WriteTransaction) -> Result<u64, StoreError> {
    const CHANGE_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("change_log");
    const CHANGE_LOG_BY_TENANT: TableDefinition<(&str, u64), ()> =
        TableDefinition::new("change_log_by_tenant");
    let mut moved = 0u64;
    {
        let old = txn.open_table(CHANGE_LOG)?;
        let mut log = txn.open_table(TENANT_LOG)?;
        let mut heads = txn.open_table(TENANT_LOG_HEADS)?;
        for item in old.iter()? {
            let (k, v) = item?;
            let entry: LogEntry = decode(v.value())?;
            let tenant = entry.tenant().as_str();
            log.insert((tenant, k.value()), v.value())?;
            let trimmed = heads.get(tenant)?.map_or(0, |h| h.value().1);
            heads.insert(tenant, (k.value(), trimmed))?;
            moved += 1;
        }
    }
    txn.delete_table(CHANGE_LOG)?;
    txn.delete_table(CHANGE_LOG_BY_TENANT)?;
    Ok(moved)
}

#[cfg(test)]
mod tests;
