//! The change log, kept per tenant: what event streams replay (`GET /api/v1/events`).
//!
//! *Owns:* the tables `tenant_log` (key (tenant, position) → [`LogEntry`]) and
//! `tenant_log_heads` (tenant → its last position and the position it is trimmed through).
//! *Invariant:* a tenant's positions only grow, by one per entry appended (positions of a log
//! migrated from the hub-wide log of layout 1 keep their old keys: a client's `Last-Event-ID`
//! stays valid); an entry is appended in the same transaction as the changes it describes
//! ([`append`], called by the ingest pipeline), and trimming ([`trim`]) removes only a tenant's
//! oldest entries and records how far it went, so a reader resuming from a trimmed position
//! learns it ([`LogPage::reset`]).
//! *Boundary:* the ingest pipeline appends; the API pages; the trimmer trims.

use crate::store::table::{ReadTx, Table, WriteTx};
use crate::store::{LogEntry, Store, StoreError};
use xt_shared::change::Change;
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;

/// Key: (tenant, position).
pub(crate) const TENANT_LOG: Table<(&str, u64), LogEntry> = Table::new("tenant_log");
/// Key: tenant → (last position written, trimmed through: every position up to it is gone).
pub(crate) const TENANT_LOG_HEADS: Table<&str, (u64, u64)> = Table::new("tenant_log_heads");

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

fn heads(tx: &WriteTx, tenant: &str) -> Result<(u64, u64), StoreError> {
    Ok(tx.open(TENANT_LOG_HEADS)?.get(tenant)?.unwrap_or((0, 0)))
}

/// Appends `entries`, in order, each to its tenant's log, in the caller's transaction; returns
/// their positions. The one way entries get into the log (the ingest pipeline calls it with all
/// an intake applied: the tables are opened once for them all).
pub(crate) fn append(tx: &WriteTx, entries: &[LogEntry]) -> Result<Vec<u64>, StoreError> {
    if entries.is_empty() {
        return Ok(Vec::new());
    }
    let mut heads = tx.open(TENANT_LOG_HEADS)?;
    let mut log = tx.open(TENANT_LOG)?;
    // Each tenant's (last, trimmed) as the entries move it.
    let mut moved: Vec<(&str, (u64, u64))> = Vec::new();
    let mut positions = Vec::with_capacity(entries.len());
    for entry in entries {
        let tenant = entry.tenant().as_str();
        let i = match moved.iter().position(|(t, _)| *t == tenant) {
            Some(i) => i,
            None => {
                moved.push((tenant, heads.get(tenant)?.unwrap_or((0, 0))));
                moved.len() - 1
            }
        };
        // Trimming never passes the last position, so the next one follows it.
        let (last, _) = &mut moved[i].1;
        *last += 1;
        log.insert((tenant, *last), entry)?;
        positions.push(*last);
    }
    for (tenant, head) in &moved {
        heads.insert(*tenant, head)?;
    }
    Ok(positions)
}

/// The position of `tenant`'s newest entry (0 when it never had one).
pub(crate) fn last_position(tx: &ReadTx, tenant: &TenantId) -> Result<u64, StoreError> {
    Ok(tx
        .open(TENANT_LOG_HEADS)?
        .get(tenant.as_str())?
        .map_or(0, |(last, _)| last))
}

/// Up to `limit` entries of `tenant` after position `after`, in order.
pub(crate) fn page(
    tx: &ReadTx,
    tenant: &TenantId,
    after: u64,
    limit: usize,
) -> Result<LogPage, StoreError> {
    let t = tenant.as_str();
    let trimmed = tx
        .open(TENANT_LOG_HEADS)?
        .get(t)?
        .map_or(0, |(_, trimmed)| trimmed);
    let mut page = LogPage {
        reset: (after < trimmed).then_some(trimmed),
        entries: Vec::with_capacity(limit.min(1024)),
    };
    let from = after.max(trimmed);
    if from == u64::MAX {
        return Ok(page);
    }
    let log = tx.open(TENANT_LOG)?;
    for row in log.range((t, from + 1)..=(t, u64::MAX))? {
        if page.entries.len() >= limit {
            break;
        }
        let row = row?;
        page.entries.push((row.key().1, row.value));
    }
    Ok(page)
}

/// Removes `tenant`'s entries beyond `retention` as of `now`, oldest first, at most `max` of
/// them; returns how many went. Entries are appended in time order, so the oldest are first.
/// An entry fulfilment (which reads the log from its cursor) has not read yet is never removed.
pub(crate) fn trim(
    tx: &WriteTx,
    tenant: &str,
    retention: LogRetention,
    now: UtcMillis,
    max: usize,
) -> Result<usize, StoreError> {
    let (last, trimmed) = heads(tx, tenant)?;
    // A tenant fulfilment has never read (no cursor yet: it reads a tenant from the start the
    // first time it steps) is trimmed by retention alone.
    let read_through = tx
        .open(crate::fulfilment::store::CURSORS)?
        .get(tenant)?
        .unwrap_or(u64::MAX);
    let mut log = tx.open(TENANT_LOG)?;
    let kept = log.keys((tenant, 0)..=(tenant, u64::MAX))?.count() as u64;
    let over = kept.saturating_sub(retention.max_entries);
    let oldest_kept = now.0.saturating_sub(retention.max_age_ms);
    let mut doomed = Vec::new();
    for row in log.range((tenant, 0)..=(tenant, u64::MAX))? {
        if doomed.len() >= max {
            break;
        }
        let row = row?;
        let position = row.key().1;
        if position > read_through {
            break;
        }
        if (doomed.len() as u64) < over {
            doomed.push(position);
            continue;
        }
        if row.value.at() >= UtcMillis(oldest_kept) {
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
    tx.open(TENANT_LOG_HEADS)?
        .insert(tenant, &(last, trimmed.max(through)))?;
    Ok(doomed.len())
}

/// The tenants that have a log.
pub(crate) fn tenants(tx: &ReadTx) -> Result<Vec<String>, StoreError> {
    let heads = tx.open(TENANT_LOG_HEADS)?;
    let mut out = Vec::new();
    for row in heads.all()? {
        out.push(row?.key().to_owned());
    }
    Ok(out)
}

impl Store {
    /// The position of `tenant`'s newest change-log entry (0 when it has none).
    pub fn last_log_position(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        last_position(&self.read()?, tenant)
    }

    /// Up to `limit` change-log entries of `tenant` after position `after`, in order, and
    /// whether entries after `after` were already trimmed (see [`LogPage`]). Reads only that
    /// tenant's entries.
    pub fn tenant_log_page(
        &self,
        tenant: &TenantId,
        after: u64,
        limit: usize,
    ) -> Result<LogPage, StoreError> {
        page(&self.read()?, tenant, after, limit)
    }

    /// Trims every tenant's change log to `retention` as of `now`, at most [`TRIM_BATCH_MAX`]
    /// entries per tenant per call; returns how many entries went.
    pub fn trim_logs(&self, retention: LogRetention, now: UtcMillis) -> Result<usize, StoreError> {
        let mut removed = 0;
        // Listed in a read transaction: writers are not held up while the list is read.
        for tenant in tenants(&self.read()?)? {
            let tx = self.write()?;
            removed += trim(&tx, &tenant, retention, now, TRIM_BATCH_MAX)?;
            tx.commit()?;
        }
        Ok(removed)
    }

    /// Every change in `tenant`'s change log, in apply order (tests and small tenants; the
    /// event stream pages through it with [`Store::tenant_log_page`]).
    pub fn change_log(&self, tenant: &TenantId) -> Result<Vec<Change>, StoreError> {
        let tx = self.read()?;
        let t = tenant.as_str();
        let mut out = Vec::new();
        for row in tx.open(TENANT_LOG)?.range((t, 0)..=(t, u64::MAX))? {
            if let LogEntry::Batch(batch) = row?.value {
                out.extend(batch.envelopes()?);
            }
        }
        Ok(out)
    }
}

/// Layout 1 → 2: moves the hub-wide `change_log` (and drops its tenant index) into the
/// per-tenant log, each entry keeping its old key as its position. Returns how many moved.
pub(crate) fn migrate_from_hub_wide(tx: &WriteTx) -> Result<u64, StoreError> {
    const CHANGE_LOG: Table<u64, LogEntry> = Table::new("change_log");
    let mut moved = 0u64;
    {
        let old = tx.open(CHANGE_LOG)?;
        let mut log = tx.open(TENANT_LOG)?;
        let mut heads = tx.open(TENANT_LOG_HEADS)?;
        for row in old.all()? {
            let row = row?;
            let tenant = row.value.tenant().as_str();
            log.insert((tenant, row.key()), &row.value)?;
            let trimmed = heads.get(tenant)?.map_or(0, |(_, trimmed)| trimmed);
            heads.insert(tenant, &(row.key(), trimmed))?;
            moved += 1;
        }
    }
    tx.drop_table("change_log")?;
    tx.drop_table("change_log_by_tenant")?;
    Ok(moved)
}

#[cfg(test)]
mod tests;
