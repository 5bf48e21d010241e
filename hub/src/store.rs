//! The hub's storage on redb: registry (tenants, keys, tokens, agents), identity (users, signing
//! keys, refresh tokens), per-origin progress, the materialized tables and the change log.
//!
//! Every value is a version byte followed by postcard bytes of a record, through the one codec
//! ([`codec`]): each record type says its version and how its older versions read.

use changes::{StoredOrigin, StoredSourceChange};
use codec::decode;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use xt_shared::change::{Change, Origin, SourceChange};
use xt_shared::ids::{AgentId, SiteId, SourceName, TenantId};
use xt_shared::model::UtcMillis;
use xt_shared::protocol::AgentRole;
use xt_shared::sync::AdmitError;

/// Facts about the layout: `schema` (its number) and flags of one-off builds, raw bytes.
pub(crate) const META: table::Table<&str, Vec<u8>> = table::Table::new("meta");
pub(crate) const TENANTS: table::Table<&str, TenantRecord> = table::Table::new("tenants");
/// Set in `meta` by layout 1 once its change log's tenant index was built; gone in layout 2.
const LOG_INDEX_BUILT: &str = "change_log_by_tenant_built";

/// The layout of the tables (`meta` key `schema`). A hub refuses to serve a database of an older
/// layout until `xt-hub migrate` ([`Store::migrate`]) has moved it to this one:
/// 1. hub-wide change log `change_log` (key: hub seq) with a (tenant, seq) index;
/// 2. the change log kept per tenant (`tenant_log`, [`log`]), with retention;
/// 3. agents, their origins and rejects keyed tenant first (`tenant_agents`, `tenant_origins`,
///    `tenant_rejects`), agents found by id through `agent_tenants`.
pub const SCHEMA_VERSION: u8 = 3;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(String),
    #[error("stored record in {table} is not readable: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("{0}")]
    Conflict(String),
    #[error(
        "the database was written with table layout {found}; this hub uses layout {current}: \
         back it up, then run `xt-hub migrate`"
    )]
    NeedsMigration { found: u8, current: u8 },
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.to_string()) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// SHA-256 of a secret, the only form in which secrets are stored.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantRecord {
    pub created_at: UtcMillis,
}

/// One entry of a tenant's change log ([`log`]). Variants are only appended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum LogEntry {
    /// The applied changes of one batch (an agent's, or a shop's page or webhook).
    Batch(LoggedBatch),
    /// An agent connected or disconnected.
    Agent(AgentLogged),
    /// A shop sent something the hub could not read; it is kept with its reason.
    CaptureError(CaptureErrorLogged),
    /// An agent answered one of the hub's commands (appended).
    Command(CommandLogged),
    /// An order moved in fulfilment (appended).
    Fulfilment(FulfilmentLogged),
}

impl LogEntry {
    pub fn tenant(&self) -> &TenantId {
        match self {
            LogEntry::Batch(b) => &b.tenant,
            LogEntry::Agent(a) => &a.tenant,
            LogEntry::CaptureError(e) => &e.tenant,
            LogEntry::Command(c) => &c.tenant,
            LogEntry::Fulfilment(f) => &f.tenant,
        }
    }

    /// When the entry was appended.
    pub fn at(&self) -> UtcMillis {
        match self {
            LogEntry::Batch(b) => b.applied_at,
            LogEntry::Agent(a) => a.at,
            LogEntry::CaptureError(e) => e.at,
            LogEntry::Command(c) => c.at,
            LogEntry::Fulfilment(f) => f.at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaptureErrorLogged {
    pub tenant: TenantId,
    pub shop: String,
    pub order_no: Option<String>,
    pub reason: String,
    pub at: UtcMillis,
}

/// An agent's answer to a command ([`crate::agents::commands`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandLogged {
    pub tenant: TenantId,
    pub agent: String,
    pub seq: u64,
    pub kind: String,
    pub delivery_no: String,
    pub warehouse: String,
    pub outcome: StoredOutcome,
    pub at: UtcMillis,
}

/// A command's outcome as stored (mirrors `shared::command::CommandOutcome`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredOutcome {
    Done,
    AlreadyDone,
    Refused { reason: String },
}

impl From<xt_shared::command::CommandOutcome> for StoredOutcome {
    fn from(outcome: xt_shared::command::CommandOutcome) -> Self {
        use xt_shared::command::CommandOutcome as O;
        match outcome {
            O::Done => StoredOutcome::Done,
            O::AlreadyDone => StoredOutcome::AlreadyDone,
            O::Refused { reason } => StoredOutcome::Refused { reason },
        }
    }
}

/// An order moved from one fulfilment state to another ([`crate::fulfilment`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfilmentLogged {
    pub tenant: TenantId,
    pub shop: String,
    pub order_no: String,
    pub from: String,
    pub to: String,
    /// Who moved it: `rule:<name>`, `user:<id>`, `platform`, `warehouse:<code>`, `hub`.
    pub actor: String,
    pub reason: String,
    pub at: UtcMillis,
}

/// The applied changes of one batch as stored: origin and changes mirrored ([`changes`]), built
/// from the model with [`LoggedBatch::new`] and read back with [`LoggedBatch::into_model`] or
/// [`LoggedBatch::envelopes`].
#[derive(Clone, Serialize, Deserialize)]
pub struct LoggedBatch {
    pub tenant: TenantId,
    origin: StoredOrigin,
    pub applied_at: UtcMillis,
    /// Consecutive applied changes of `origin` (refused ones are in the rejects table).
    changes: Vec<StoredSourceChange>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentLogged {
    pub tenant: TenantId,
    pub agent: AgentId,
    pub site: SiteId,
    pub connected: bool,
    pub at: UtcMillis,
}

impl LoggedBatch {
    /// The entry of `tenant`'s `changes` of `origin`, applied at `applied_at`. The changes are
    /// borrowed (`&[SourceChange]`: copied) or given (`Vec<SourceChange>`: moved in).
    pub fn new<C>(
        tenant: TenantId,
        origin: &Origin,
        applied_at: UtcMillis,
        changes: impl IntoIterator<Item = C>,
    ) -> LoggedBatch
    where
        StoredSourceChange: From<C>,
    {
        LoggedBatch {
            tenant,
            origin: origin.into(),
            applied_at,
            changes: changes.into_iter().map(StoredSourceChange::from).collect(),
        }
    }

    /// Whether the batch came from a shop (its changes are orders and refunds).
    pub fn from_shop(&self) -> bool {
        matches!(self.origin, StoredOrigin::Shop { .. })
    }

    /// The origin and the changes as the model reads them; a value the model refuses reads as
    /// corrupt.
    pub fn into_model(self) -> Result<(Origin, Vec<SourceChange>), StoreError> {
        let corrupt = crate::orders::records::corrupt::<LogEntry>;
        let origin = self.origin.try_into().map_err(corrupt)?;
        let changes = self
            .changes
            .into_iter()
            .map(SourceChange::try_from)
            .collect::<Result<_, _>>()
            .map_err(corrupt)?;
        Ok((origin, changes))
    }

    /// The changes as full envelopes.
    pub(crate) fn envelopes(self) -> Result<Vec<Change>, StoreError> {
        let (origin, changes) = self.into_model()?;
        Ok(changes
            .into_iter()
            .map(|c| Change::from_source(origin.clone(), c))
            .collect())
    }
}

/// Shows the origin and the changes as the model reads them (the golden records,
/// `store/records_tests.rs`, compare that meaning), or as stored when the model refuses them.
impl fmt::Debug for LoggedBatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = Origin::try_from(self.origin.clone());
        let changes = self
            .changes
            .iter()
            .cloned()
            .map(SourceChange::try_from)
            .collect::<Result<Vec<_>, _>>();
        let origin: &dyn fmt::Debug = match &origin {
            Ok(origin) => origin,
            Err(_) => &self.origin,
        };
        let changes: &dyn fmt::Debug = match &changes {
            Ok(changes) => changes,
            Err(_) => &self.changes,
        };
        f.debug_struct("LoggedBatch")
            .field("tenant", &self.tenant)
            .field("origin", origin)
            .field("applied_at", &self.applied_at)
            .field("changes", changes)
            .finish()
    }
}

pub struct Store {
    db: Database,
}

impl Store {
    /// A consistent snapshot for reading ([`table`]).
    pub fn read(&self) -> Result<table::ReadTx, StoreError> {
        Ok(table::ReadTx(self.db.begin_read()?))
    }

    /// A write transaction ([`table`]): commits everything it wrote, in every room, at once.
    pub fn write(&self) -> Result<table::WriteTx, StoreError> {
        Ok(table::WriteTx(self.db.begin_write()?))
    }

    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let db = Database::create(path)?;
        let tx = table::WriteTx(db.begin_write()?);
        {
            let mut meta = tx.open(META)?;
            let existing = meta.get("schema")?;
            match existing.as_deref() {
                None => {
                    meta.insert("schema", &vec![SCHEMA_VERSION])?;
                }
                Some([SCHEMA_VERSION]) => {}
                Some(&[found]) if found < SCHEMA_VERSION => {
                    return Err(StoreError::NeedsMigration {
                        found,
                        current: SCHEMA_VERSION,
                    });
                }
                Some(other) => {
                    return Err(StoreError::Corrupt {
                        table: "meta",
                        reason: format!(
                            "schema version {other:?}, this hub knows {SCHEMA_VERSION}"
                        ),
                    });
                }
            }
        }
        // Each room's one-off builds (indexes, totals of hubs made before they existed).
        api_keys::create_tables(&tx)?;
        identity::create_tables(&tx)?;
        orders::create_tables(&tx)?;
        operator::create_tables(&tx)?;
        shops::create_tables(&tx)?;
        dashboard::create_tables(&tx)?;
        tx.commit()?;
        Ok(Store { db })
    }

    /// Moves a database of an older table layout to [`SCHEMA_VERSION`], one step per layout, in
    /// one transaction (all or nothing), then opens it. Returns the store and what was done, one
    /// line per step (nothing when it was already current).
    pub fn migrate(path: &Path) -> Result<(Store, Vec<String>), StoreError> {
        let mut done = Vec::new();
        {
            let db = Database::create(path)?;
            let tx = table::WriteTx(db.begin_write()?);
            let found = tx.open(META)?.get("schema")?;
            let mut layout = match found.as_deref() {
                // A new database: `open` makes it.
                None => SCHEMA_VERSION,
                Some(&[v]) => v,
                // Unreadable: `open` refuses it, naming it.
                Some(_) => SCHEMA_VERSION,
            };
            if layout == 1 {
                let moved = log::migrate_from_hub_wide(&tx)?;
                tx.open(META)?.remove(LOG_INDEX_BUILT)?;
                done.push(format!(
                    "layout 1 → 2: {moved} change-log entries kept per tenant"
                ));
                layout = 2;
            }
            if layout == 2 {
                let (agents, origins, rejects) = migrate_agents_tenant_first(tx.backend())?;
                done.push(format!(
                    "layout 2 → 3: {agents} agents, {origins} sources and {rejects} refused \
                     changes keyed by tenant"
                ));
                layout = 3;
            }
            if !done.is_empty() {
                tx.open(META)?.insert("schema", &vec![layout])?;
            }
            tx.commit()?;
        }
        Ok((Store::open(path)?, done))
    }

    pub fn create_tenant(&self, tenant: &TenantId, now: UtcMillis) -> Result<(), StoreError> {
        let tx = self.write()?;
        let mut tenants = tx.open(TENANTS)?;
        if tenants.contains(tenant.as_str())? {
            return Err(StoreError::Conflict(format!(
                "tenant {tenant} already exists"
            )));
        }
        tenants.insert(tenant.as_str(), &TenantRecord { created_at: now })?;
        drop(tenants);
        tx.commit()
    }

    pub fn tenant_exists(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        self.read()?.open(TENANTS)?.contains(tenant.as_str())
    }

    /// Applies one agent batch through the ingest pipeline ([`crate::ingest::commit`]) without
    /// waking anyone: for tests and tools (the served hub goes through [`crate::hub::Hub`]).
    pub fn apply_batch(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        role: AgentRole,
        source: &SourceName,
        changes: Vec<SourceChange>,
        now: UtcMillis,
    ) -> Result<Result<BatchOutcome, AdmitError>, StoreError> {
        let batch = crate::agents::intake::AgentBatch {
            tenant,
            agent,
            role,
            source,
            changes,
        };
        Ok(crate::ingest::commit(self, batch, now)?.0)
    }

    /// Logs an agent's connection or disconnection through the ingest pipeline without waking
    /// anyone (tests and tools); returns its log position.
    pub fn log_agent_event(&self, event: AgentLogged) -> Result<u64, StoreError> {
        let at = event.at;
        let (_, positions) =
            crate::ingest::commit(self, crate::agents::intake::AgentPresence(event), at)?;
        // A presence is always logged: one entry, one position.
        Ok(positions.first().copied().unwrap_or_default())
    }
}

/// Layout 2 → 3: agents, their origins and their rejects re-keyed tenant first, with the
/// agent id → tenant index; the old tables are dropped. Returns how many of each moved.
fn migrate_agents_tenant_first(txn: &WriteTransaction) -> Result<(u64, u64, u64), StoreError> {
    // The backend's own tables: a migration copies bytes as they are, whatever their version.
    const AGENTS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("tenant_agents");
    const AGENT_TENANTS: TableDefinition<&str, &str> = TableDefinition::new("agent_tenants");
    const ORIGINS: TableDefinition<(&str, &str, &str), &[u8]> =
        TableDefinition::new("tenant_origins");
    const REJECTS: TableDefinition<(&str, &str, &str, u64), &[u8]> =
        TableDefinition::new("tenant_rejects");
    const OLD_AGENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("agents");
    const OLD_ORIGINS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("origins");
    const OLD_REJECTS: TableDefinition<(&str, &str, u64), &[u8]> = TableDefinition::new("rejects");
    let (mut agents_moved, mut origins_moved, mut rejects_moved) = (0, 0, 0);
    {
        let mut tenant_of = BTreeMap::new();
        let mut agents = txn.open_table(AGENTS)?;
        let mut index = txn.open_table(AGENT_TENANTS)?;
        for item in txn.open_table(OLD_AGENTS)?.iter()? {
            let (k, v) = item?;
            let record: AgentRecord = decode(v.value())?;
            agents.insert((record.tenant.as_str(), k.value()), v.value())?;
            index.insert(k.value(), record.tenant.as_str())?;
            tenant_of.insert(k.value().to_owned(), record.tenant.to_string());
            agents_moved += 1;
        }
        let orphan = |table: &'static str, agent: &str| StoreError::Corrupt {
            table,
            reason: format!("agent {agent} is not in the agents table"),
        };
        let mut origins = txn.open_table(ORIGINS)?;
        for item in txn.open_table(OLD_ORIGINS)?.iter()? {
            let (k, v) = item?;
            let (agent, source) = k.value();
            let tenant = tenant_of
                .get(agent)
                .ok_or_else(|| orphan("origins", agent))?;
            origins.insert((tenant.as_str(), agent, source), v.value())?;
            origins_moved += 1;
        }
        let mut rejects = txn.open_table(REJECTS)?;
        for item in txn.open_table(OLD_REJECTS)?.iter()? {
            let (k, v) = item?;
            let (agent, source, seq) = k.value();
            let tenant = tenant_of
                .get(agent)
                .ok_or_else(|| orphan("rejects", agent))?;
            rejects.insert((tenant.as_str(), agent, source, seq), v.value())?;
            rejects_moved += 1;
        }
    }
    txn.delete_table(OLD_AGENTS)?;
    txn.delete_table(OLD_ORIGINS)?;
    txn.delete_table(OLD_REJECTS)?;
    Ok((agents_moved, origins_moved, rejects_moved))
}

pub mod changes;
pub mod codec;
pub mod enums;
pub mod table;
codec::first_version_records! {
    "tenants" => TenantRecord,
    "enroll_tokens" => TokenRecord,
    "agents" => AgentRecord,
    "stock" => StockRecord,
    "entities" => crate::agents::store::EntityRecord,
    "tenant_log" => LogEntry,
    "tenant_rejects" => crate::agents::store::RejectRecord,
    "stock_totals" => crate::dashboard::store::StockTotals,
    "minute_buckets" => dashboard::MinuteBucket,
    "users" => identity::UserRecord,
    "signing_keys" => identity::SigningKeyRecord,
    "refresh_tokens" => identity::RefreshRecord,
    "refresh_families" => identity::FamilyRecord,
    "operator_keys" => operator::OperatorKeyRecord,
    "orders" => orders::OrderRecord,
    "refunds" => orders::RefundRecord,
    "sku_mappings" => orders::SkuMapping,
    "members" => orders::MemberRecord,
    "capture_errors" => orders::CaptureErrorRecord,
}
pub use crate::agents::intake::BatchOutcome;
pub use crate::agents::store::{
    AgentRecord, OriginRecord, PENDING_MARKS_MAX, TokenRecord, TokenRefusal,
};
pub use crate::dashboard::store::{
    BUCKET_RETENTION_MINUTES, BucketWindow, Gauges, MINUTE_MS, MinuteBucket, StockTotals, minute_of,
};
pub(crate) use crate::events::log;
pub use crate::identity::api_keys::{ApiKeyRecord, ApiKeyRecordV1, CREATED_BY_INIT, enc_key_v1};
pub use crate::identity::operator::OperatorKeyRecord;
pub use crate::identity::store::{
    RefreshRecord, RefreshSweep, RefreshUse, SigningKeyRecord, UserRecord,
};
pub use crate::orders::store::{
    CAPTURE_STATE_V2, CaptureErrorRecord, CaptureState, CaptureStateV1, CapturedOrder,
    CapturedRefund, Identity, MemberRecord, ORDERS_SCAN_ROWS_MAX, OrderCursor, OrderFilter,
    OrderRecord, OrderScan, Provenance, RefundRecord, ShopOutcome, SkuMapping, StreamHealth,
    new_mapping_id,
};
pub use crate::shops::store::{SealedCredentials, ShopHealthRecord, ShopRecord};
pub use crate::stock::store::{SkuFilter, StockEntry, StockRecord};
pub(crate) use crate::{
    dashboard::store as dashboard, identity::api_keys, identity::operator,
    identity::store as identity, orders::store as orders, shops::store as shops,
};

#[cfg(test)]
mod records_tests;
#[cfg(test)]
mod tests;
