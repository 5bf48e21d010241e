//! The hub's storage on redb: registry (tenants, keys, tokens, agents), identity (users, signing
//! keys, refresh tokens), per-origin progress, the materialized tables and the change log.
//!
//! Every value is a version byte followed by postcard bytes of a record, through the one codec
//! ([`codec`]): each record type says its version and how its older versions read.

use codec::{decode, encode};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use xt_shared::change::{Body, Change, Origin, SourceChange};
use xt_shared::ids::{AgentId, SiteId, SourceName, TenantId};
use xt_shared::model::UtcMillis;
use xt_shared::protocol::{AgentRole, Rejection, ResumePoint, SourceStatus};
use xt_shared::sync::{AdmitError, admit};

pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("tenants");
const TOKENS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("enroll_tokens");
/// Key: (tenant, agent id). Layout 3; layout 2 and older had `agents` keyed by agent id.
pub(crate) const AGENTS: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("tenant_agents");
/// Key: agent id → its tenant: how a certificate (which names only the agent) finds its record.
const AGENT_TENANTS: TableDefinition<&str, &str> = TableDefinition::new("agent_tenants");
/// Key: (tenant, agent id, source name). Layout 3; before: `origins` keyed (agent, source).
pub(crate) const ORIGINS: TableDefinition<(&str, &str, &str), &[u8]> =
    TableDefinition::new("tenant_origins");
/// Key: (tenant, warehouse, sku).
pub(crate) const STOCK: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("stock");
/// Key: (tenant, entity key as text). Everything that is not stock, for now.
pub(crate) const ENTITIES: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("entities");
/// Key: (tenant, agent id, source name, seq): changes the hub refused, with their reason.
/// Layout 3; before: `rejects` keyed (agent, source, seq).
const REJECTS: TableDefinition<(&str, &str, &str, u64), &[u8]> =
    TableDefinition::new("tenant_rejects");
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub tenant: TenantId,
    pub site: SiteId,
    pub role: AgentRole,
    pub created_at: UtcMillis,
    pub expires_at: UtcMillis,
    pub used_by: Option<AgentId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentRecord {
    pub tenant: TenantId,
    pub site: SiteId,
    pub role: AgentRole,
    pub enrolled_at: UtcMillis,
    /// Serial (hex) of the current certificate.
    pub cert_serial: String,
    pub cert_not_after: UtcMillis,
    /// Serial of the certificate before the last renewal: still accepted until the agent shows
    /// up with the new one, so a crash between renewal and saving the new file cannot lock it out.
    pub prev_cert_serial: Option<String>,
    pub revoked_at: Option<UtcMillis>,
    pub last_seen: Option<UtcMillis>,
}

/// Stored as record version 2; version 1 ([`OriginRecordV1`], without the two times) is still
/// read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct OriginRecord {
    pub applied_seq: u64,
    pub records_applied: u64,
    pub records_rejected: u64,
    /// What the agent last reported about this source.
    pub reported_backlog: u64,
    pub reported_quarantined: u64,
    pub last_error: Option<String>,
    /// When the hub last applied a batch with new changes from this source.
    pub last_applied_at: Option<UtcMillis>,
    /// `(seq, at)`: at `at` the agent reported seqs up to `seq` durable in its outbox, and not
    /// all of them are applied yet. Oldest first, seqs increasing, at most
    /// [`PENDING_MARKS_MAX`]; marks whose seq is applied are dropped. The first mark's time is
    /// when the oldest change still waiting was first known to wait (see [`OriginRecord::lag_ms`]).
    pub pending: Vec<(u64, UtcMillis)>,
}

/// Most pending marks one origin keeps; when full, the two oldest merge into one that keeps the
/// older time (so the lag is never understated).
pub const PENDING_MARKS_MAX: usize = 16;

impl OriginRecord {
    /// Notes a status report: seqs up to `durable_seq` exist at the agent at `now`.
    fn note_durable(&mut self, durable_seq: u64, now: UtcMillis) {
        let newer = self.pending.last().map_or(self.applied_seq, |(s, _)| *s);
        if durable_seq > newer {
            self.pending.push((durable_seq, now));
        }
        if self.pending.len() > PENDING_MARKS_MAX {
            let (_, oldest) = self.pending.remove(0);
            self.pending[0].1 = oldest;
        }
    }

    /// Forgets the marks the applied seq has caught up with.
    fn note_applied(&mut self) {
        let applied = self.applied_seq;
        self.pending.retain(|(s, _)| *s > applied);
    }

    /// How long the oldest change the hub knows is waiting at the agent has been waiting, at
    /// least: since the first status report that showed it durable there. 0 when every seq the
    /// agent reported is applied. Resolution: the agent's status interval.
    pub fn lag_ms(&self, now: UtcMillis) -> i64 {
        self.pending
            .first()
            .map_or(0, |(_, since)| (now.0 - since.0).max(0))
    }
}

/// The origin record as version 1 stored it.
#[derive(Deserialize)]
struct OriginRecordV1 {
    applied_seq: u64,
    records_applied: u64,
    records_rejected: u64,
    reported_backlog: u64,
    reported_quarantined: u64,
    last_error: Option<String>,
}

impl From<OriginRecordV1> for OriginRecord {
    fn from(v1: OriginRecordV1) -> OriginRecord {
        OriginRecord {
            applied_seq: v1.applied_seq,
            records_applied: v1.records_applied,
            records_rejected: v1.records_rejected,
            reported_backlog: v1.reported_backlog,
            reported_quarantined: v1.reported_quarantined,
            last_error: v1.last_error,
            last_applied_at: None,
            pending: Vec::new(),
        }
    }
}

impl codec::Record for OriginRecord {
    const NAME: &'static str = "origins";
    const VERSION: u8 = 2;
    fn read_older(version: u8, payload: &[u8]) -> Option<Result<Self, postcard::Error>> {
        match version {
            1 => codec::older::<OriginRecordV1, _>(payload),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockRecord {
    pub on_hand: i64,
    pub version: i64,
    pub origin: String,
    pub updated_at: UtcMillis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct EntityRecord {
    version: i64,
    origin: String,
    body: Body,
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
}

impl LogEntry {
    pub fn tenant(&self) -> &TenantId {
        match self {
            LogEntry::Batch(b) => &b.tenant,
            LogEntry::Agent(a) => &a.tenant,
            LogEntry::CaptureError(e) => &e.tenant,
        }
    }

    /// When the entry was appended.
    pub fn at(&self) -> UtcMillis {
        match self {
            LogEntry::Batch(b) => b.applied_at,
            LogEntry::Agent(a) => a.at,
            LogEntry::CaptureError(e) => e.at,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedBatch {
    pub tenant: TenantId,
    pub origin: Origin,
    pub applied_at: UtcMillis,
    /// Consecutive applied changes of `origin` (refused ones are in the rejects table).
    pub changes: Vec<SourceChange>,
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
    /// The changes as full envelopes.
    fn envelopes(self) -> impl Iterator<Item = Change> {
        let origin = self.origin;
        self.changes
            .into_iter()
            .map(move |c| Change::from_source(origin.clone(), c))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RejectRecord {
    reason: String,
    change: SourceChange,
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

/// What applying a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub applied_seq: u64,
    pub applied: u64,
    pub skipped: u64,
    pub rejected: Vec<Rejection>,
}

/// Why `token` cannot be redeemed at `now`, if it cannot.
fn token_refusal(token: &TokenRecord, now: UtcMillis) -> Option<TokenRefusal> {
    if token.used_by.is_some() {
        Some(TokenRefusal::Used)
    } else if token.expires_at <= now {
        Some(TokenRefusal::Expired)
    } else {
        None
    }
}

/// Why a token could not be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Unknown,
    Used,
    Expired,
}

pub struct Store {
    pub(crate) db: Database,
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
        let txn = tx.backend();
        {
            let mut meta = txn.open_table(META)?;
            let existing = meta.get("schema")?.map(|v| v.value().to_vec());
            match existing.as_deref() {
                None => {
                    meta.insert("schema", [SCHEMA_VERSION].as_slice())?;
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
            // Create every table so readers never see a missing one.
            txn.open_table(TENANTS)?;
            api_keys::create_tables(&tx)?;
            txn.open_table(TOKENS)?;
            txn.open_table(AGENTS)?;
            txn.open_table(AGENT_TENANTS)?;
            txn.open_table(ORIGINS)?;
            txn.open_table(STOCK)?;
            txn.open_table(ENTITIES)?;
            txn.open_table(REJECTS)?;
            txn.open_table(log::TENANT_LOG)?;
            txn.open_table(log::TENANT_LOG_HEADS)?;
            identity::create_tables(&tx)?;
            orders::create_tables(&tx)?;
            operator::create_tables(&tx)?;
        }
        // These read `meta`, so after the block above let go of it.
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
            let txn = db.begin_write()?;
            let found = txn
                .open_table(META)?
                .get("schema")?
                .map(|v| v.value().to_vec());
            let mut layout = match found.as_deref() {
                // A new database: `open` makes it.
                None => SCHEMA_VERSION,
                Some(&[v]) => v,
                // Unreadable: `open` refuses it, naming it.
                Some(_) => SCHEMA_VERSION,
            };
            if layout == 1 {
                let moved = log::migrate_from_hub_wide(&txn)?;
                txn.open_table(META)?.remove(LOG_INDEX_BUILT)?;
                done.push(format!(
                    "layout 1 → 2: {moved} change-log entries kept per tenant"
                ));
                layout = 2;
            }
            if layout == 2 {
                let (agents, origins, rejects) = migrate_agents_tenant_first(&txn)?;
                done.push(format!(
                    "layout 2 → 3: {agents} agents, {origins} sources and {rejects} refused \
                     changes keyed by tenant"
                ));
                layout = 3;
            }
            if !done.is_empty() {
                txn.open_table(META)?
                    .insert("schema", [layout].as_slice())?;
            }
            txn.commit()?;
        }
        Ok((Store::open(path)?, done))
    }

    pub fn create_tenant(&self, tenant: &TenantId, now: UtcMillis) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut t = txn.open_table(TENANTS)?;
            if t.get(tenant.as_str())?.is_some() {
                return Err(StoreError::Conflict(format!(
                    "tenant {tenant} already exists"
                )));
            }
            t.insert(
                tenant.as_str(),
                encode(&TenantRecord { created_at: now }).as_slice(),
            )?;
        }
        txn.commit()?;
        Ok(())
    }

    pub fn tenant_exists(&self, tenant: &TenantId) -> Result<bool, StoreError> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(TENANTS)?.get(tenant.as_str())?.is_some())
    }

    pub fn insert_token(&self, secret: &str, record: &TokenRecord) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        txn.open_table(TOKENS)?
            .insert(secret_hash(secret).as_slice(), encode(record).as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// Why the token `secret` could not be redeemed at `now`, or `None` if it could; read-only,
    /// so a flood of bad tokens costs no write transaction (and [`Store::redeem_token`] checks
    /// again inside its own).
    pub fn token_refusal(
        &self,
        secret: &str,
        now: UtcMillis,
    ) -> Result<Option<TokenRefusal>, StoreError> {
        let txn = self.db.begin_read()?;
        let tokens = txn.open_table(TOKENS)?;
        let Some(bytes) = tokens.get(secret_hash(secret).as_slice())? else {
            return Ok(Some(TokenRefusal::Unknown));
        };
        let token: TokenRecord = decode(bytes.value())?;
        Ok(token_refusal(&token, now))
    }

    /// Redeems a one-time token and registers the agent, atomically: a token can make one
    /// agent only, even if two enrollments race.
    pub fn redeem_token(
        &self,
        secret: &str,
        agent: &AgentId,
        make_record: impl FnOnce(&TokenRecord) -> AgentRecord,
        now: UtcMillis,
    ) -> Result<Result<AgentRecord, TokenRefusal>, StoreError> {
        let txn = self.db.begin_write()?;
        let result = {
            let mut tokens = txn.open_table(TOKENS)?;
            let hash = secret_hash(secret);
            let found = tokens.get(hash.as_slice())?.map(|v| v.value().to_vec());
            match found {
                None => Err(TokenRefusal::Unknown),
                Some(bytes) => {
                    let mut token: TokenRecord = decode(&bytes)?;
                    if let Some(refusal) = token_refusal(&token, now) {
                        Err(refusal)
                    } else {
                        let record = make_record(&token);
                        token.used_by = Some(agent.clone());
                        tokens.insert(hash.as_slice(), encode(&token).as_slice())?;
                        txn.open_table(AGENTS)?.insert(
                            (record.tenant.as_str(), agent.as_str()),
                            encode(&record).as_slice(),
                        )?;
                        txn.open_table(AGENT_TENANTS)?
                            .insert(agent.as_str(), record.tenant.as_str())?;
                        Ok(record)
                    }
                }
            }
        };
        if result.is_ok() {
            txn.commit()?;
        }
        Ok(result)
    }

    /// An agent by id alone (what its certificate names), through the `agent_tenants` index.
    pub fn agent(&self, agent: &AgentId) -> Result<Option<AgentRecord>, StoreError> {
        let txn = self.db.begin_read()?;
        let Some(tenant) = txn.open_table(AGENT_TENANTS)?.get(agent.as_str())? else {
            return Ok(None);
        };
        let table = txn.open_table(AGENTS)?;
        let found = table.get((tenant.value(), agent.as_str()))?;
        found.map(|v| decode(v.value())).transpose()
    }

    /// Reads, changes and writes one agent record in one transaction.
    pub fn update_agent<R>(
        &self,
        agent: &AgentId,
        f: impl FnOnce(&mut AgentRecord) -> R,
    ) -> Result<Option<(AgentRecord, R)>, StoreError> {
        let txn = self.db.begin_write()?;
        let out = {
            let tenant = txn
                .open_table(AGENT_TENANTS)?
                .get(agent.as_str())?
                .map(|t| t.value().to_owned());
            let mut table = txn.open_table(AGENTS)?;
            let found = match &tenant {
                Some(t) => table
                    .get((t.as_str(), agent.as_str()))?
                    .map(|v| v.value().to_vec()),
                None => None,
            };
            match (tenant, found) {
                (Some(tenant), Some(bytes)) => {
                    let mut record: AgentRecord = decode(&bytes)?;
                    let r = f(&mut record);
                    table.insert(
                        (tenant.as_str(), agent.as_str()),
                        encode(&record).as_slice(),
                    )?;
                    Some((record, r))
                }
                _ => None,
            }
        };
        txn.commit()?;
        Ok(out)
    }

    pub fn agents(&self, tenant: &TenantId) -> Result<Vec<(AgentId, AgentRecord)>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(AGENTS)?;
        let t = tenant.as_str();
        let mut out = Vec::new();
        for item in table.range((t, "")..)? {
            let (k, v) = item?;
            let (kt, id) = k.value();
            if kt != t {
                break;
            }
            let id = AgentId::new(id).map_err(|e| StoreError::Corrupt {
                table: "agents",
                reason: e.to_string(),
            })?;
            out.push((id, decode(v.value())?));
        }
        Ok(out)
    }

    /// The sources of `tenant`'s agent `agent` and the hub's progress with each.
    pub fn origins(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
    ) -> Result<Vec<(SourceName, OriginRecord)>, StoreError> {
        let txn = self.db.begin_read()?;
        let t = tenant.as_str();
        let table = txn.open_table(ORIGINS)?;
        let mut out = Vec::new();
        for item in table.range((t, agent.as_str(), "")..)? {
            let (k, v) = item?;
            let (kt, a, s) = k.value();
            if kt != t || a != agent.as_str() {
                break;
            }
            let source = SourceName::new(s).map_err(|e| StoreError::Corrupt {
                table: "origins",
                reason: e.to_string(),
            })?;
            out.push((source, decode::<OriginRecord>(v.value())?));
        }
        Ok(out)
    }

    pub fn resume_points(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
    ) -> Result<Vec<ResumePoint>, StoreError> {
        Ok(self
            .origins(tenant, agent)?
            .into_iter()
            .map(|(source, o)| ResumePoint {
                source,
                applied_seq: o.applied_seq,
            })
            .collect())
    }

    /// Stores what the agent reported about its sources.
    pub fn record_status(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        sources: &[SourceStatus],
        now: UtcMillis,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut origins = txn.open_table(ORIGINS)?;
            for s in sources {
                let key = (tenant.as_str(), agent.as_str(), s.source.as_str());
                let mut o: OriginRecord = match origins.get(key)? {
                    Some(v) => decode::<OriginRecord>(v.value())?,
                    None => OriginRecord::default(),
                };
                o.note_durable(s.durable_seq, now);
                o.reported_backlog = s.backlog;
                o.reported_quarantined = s.quarantined;
                o.last_error.clone_from(&s.last_error);
                origins.insert(key, encode(&o).as_slice())?;
            }
            let mut agents = txn.open_table(AGENTS)?;
            let key = (tenant.as_str(), agent.as_str());
            let found = agents.get(key)?.map(|v| v.value().to_vec());
            if let Some(bytes) = found {
                let mut a: AgentRecord = decode(&bytes)?;
                a.last_seen = Some(now);
                agents.insert(key, encode(&a).as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Applies one batch in one durable write transaction: skip what was applied, reduce the
    /// new changes into the materialized tables (last writer wins by source version), append
    /// them to the change log, advance the origin's applied seq, commit.
    pub fn apply_batch(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        role: AgentRole,
        source: &SourceName,
        changes: Vec<SourceChange>,
        now: UtcMillis,
    ) -> Result<Result<BatchOutcome, AdmitError>, StoreError> {
        let txn = self.db.begin_write()?;
        let outcome = {
            let mut origins = txn.open_table(ORIGINS)?;
            let key = (tenant.as_str(), agent.as_str(), source.as_str());
            let mut progress: OriginRecord = match origins.get(key)? {
                Some(v) => decode::<OriginRecord>(v.value())?,
                None => OriginRecord::default(),
            };
            let admission = match admit(progress.applied_seq, &changes) {
                Ok(a) => a,
                Err(e) => return Ok(Err(e)),
            };
            let skipped = admission.first_new as u64;
            let origin = Origin::Agent {
                agent: agent.clone(),
                source: source.clone(),
            };
            let origin_text = origin.to_string();
            let mut stock = txn.open_table(STOCK)?;
            let mut entities = txn.open_table(ENTITIES)?;
            let mut rejects = txn.open_table(REJECTS)?;
            let mut rejected = Vec::new();
            let mut logged = Vec::with_capacity(changes.len());
            let mut totals: BTreeMap<String, dashboard::TotalsDelta> = BTreeMap::new();
            let mut warehouse_changes: BTreeMap<String, u64> = BTreeMap::new();
            for change in changes.into_iter().skip(admission.first_new) {
                if let Some(reason) = refusal(role, &change.body) {
                    rejects.insert(
                        (tenant.as_str(), agent.as_str(), source.as_str(), change.seq),
                        encode(&RejectRecord {
                            reason: reason.clone(),
                            change: change.clone(),
                        })
                        .as_slice(),
                    )?;
                    rejected.push(Rejection {
                        seq: change.seq,
                        reason,
                    });
                    continue;
                }
                match &change.body {
                    Body::Stock(s) => {
                        *warehouse_changes
                            .entry(s.warehouse.to_string())
                            .or_default() += 1;
                        let k = (tenant.as_str(), s.warehouse.as_str(), s.sku.as_str());
                        let record = StockRecord {
                            on_hand: s.on_hand,
                            version: change.version,
                            origin: origin_text.clone(),
                            updated_at: now,
                        };
                        // Write first, look at what was there after: a stale change is rare, so
                        // one tree walk per change instead of two; the rare loser is put back.
                        let previous = stock
                            .insert(k, encode(&record).as_slice())?
                            .map(|v| v.value().to_vec());
                        let old = previous.as_deref().map(decode::<StockRecord>).transpose()?;
                        match (old, previous) {
                            (Some(old), Some(previous)) if old.version > change.version => {
                                stock.insert(k, previous.as_slice())?;
                            }
                            (old, _) => {
                                let delta = totals.entry(s.warehouse.to_string()).or_default();
                                delta.skus += i64::from(old.is_none());
                                delta.on_hand += s.on_hand - old.map_or(0, |o| o.on_hand);
                            }
                        }
                    }
                    body => {
                        let entity = body.entity().to_string();
                        let k = (tenant.as_str(), entity.as_str());
                        let newer = match entities.get(k)? {
                            Some(v) => decode::<EntityRecord>(v.value())?.version <= change.version,
                            None => true,
                        };
                        if newer {
                            let record = EntityRecord {
                                version: change.version,
                                origin: origin_text.clone(),
                                body: body.clone(),
                            };
                            entities.insert(k, encode(&record).as_slice())?;
                        }
                    }
                }
                logged.push(change);
            }
            dashboard::apply_totals(&txn, tenant, &totals, now)?;
            dashboard::count_warehouse_changes(&txn, tenant, now, &warehouse_changes)?;
            // One change-log entry per batch: the origin and time once, the changes in seq order.
            let applied = logged.len() as u64;
            if applied > 0 {
                dashboard::count_changes(&txn, tenant, now, applied)?;
            }
            if applied > 0 {
                let entry = LoggedBatch {
                    tenant: tenant.clone(),
                    origin,
                    applied_at: now,
                    changes: logged,
                };
                log::append(&txn, &LogEntry::Batch(entry))?;
            }
            progress.applied_seq = admission.applied_seq;
            progress.records_applied += applied;
            progress.records_rejected += rejected.len() as u64;
            if applied > 0 {
                progress.last_applied_at = Some(now);
            }
            progress.note_applied();
            origins.insert(key, encode(&progress).as_slice())?;
            BatchOutcome {
                applied_seq: admission.applied_seq,
                applied,
                skipped,
                rejected,
            }
        };
        txn.commit()?;
        Ok(Ok(outcome))
    }

    /// Stock rows of a tenant in key order, after `after` (warehouse, sku), filtered.
    pub fn stock_page(
        &self,
        tenant: &TenantId,
        warehouse: Option<&str>,
        sku: SkuFilter<'_>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<StockEntry>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(STOCK)?;
        let start = match (after, warehouse) {
            (Some((w, s)), _) => (tenant.as_str(), w, s),
            (None, Some(w)) => (tenant.as_str(), w, ""),
            (None, None) => (tenant.as_str(), "", ""),
        };
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in table.range(start..)? {
            let (k, v) = item?;
            let (t, w, s) = k.value();
            if t != tenant.as_str() || warehouse.is_some_and(|want| want != w) {
                break;
            }
            if after == Some((w, s)) || !sku.matches(s) {
                continue;
            }
            out.push(StockEntry {
                warehouse: w.to_owned(),
                sku: s.to_owned(),
                record: decode(v.value())?,
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

    /// Appends an agent's connection or disconnection to its tenant's log; returns its position.
    pub fn log_agent_event(&self, event: AgentLogged) -> Result<u64, StoreError> {
        let txn = self.db.begin_write()?;
        let key = log::append(&txn, &LogEntry::Agent(event))?;
        txn.commit()?;
        Ok(key)
    }

    /// The position of `tenant`'s newest change-log entry (0 when it has none).
    pub fn last_log_position(&self, tenant: &TenantId) -> Result<u64, StoreError> {
        let txn = self.db.begin_read()?;
        log::last_position(&txn.open_table(log::TENANT_LOG_HEADS)?, tenant)
    }

    /// Up to `limit` change-log entries of `tenant` after position `after`, in order, and
    /// whether entries after `after` were already trimmed (see [`log::LogPage`]). Reads only
    /// that tenant's entries.
    pub fn tenant_log_page(
        &self,
        tenant: &TenantId,
        after: u64,
        limit: usize,
    ) -> Result<log::LogPage, StoreError> {
        let txn = self.db.begin_read()?;
        log::page(
            &txn.open_table(log::TENANT_LOG)?,
            &txn.open_table(log::TENANT_LOG_HEADS)?,
            tenant,
            after,
            limit,
        )
    }

    /// Trims every tenant's change log to `retention` as of `now`, at most
    /// [`log::TRIM_BATCH_MAX`] entries per tenant per call; returns how many entries went.
    pub fn trim_logs(
        &self,
        retention: log::LogRetention,
        now: UtcMillis,
    ) -> Result<usize, StoreError> {
        let mut removed = 0;
        // Listed in a read transaction: writers are not held up while the list is read.
        let tenants = log::tenants(&self.db.begin_read()?.open_table(log::TENANT_LOG_HEADS)?)?;
        for tenant in tenants {
            let txn = self.db.begin_write()?;
            let n = log::trim(&txn, &tenant, retention, now, log::TRIM_BATCH_MAX)?;
            txn.commit()?;
            removed += n;
        }
        Ok(removed)
    }

    /// Every change in `tenant`'s change log, in apply order (tests and small tenants; the
    /// event stream pages through it with [`Store::tenant_log_page`]).
    pub fn change_log(&self, tenant: &TenantId) -> Result<Vec<Change>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(log::TENANT_LOG)?;
        let t = tenant.as_str();
        let mut out = Vec::new();
        for item in table.range((t, 0)..=(t, u64::MAX))? {
            let (_, v) = item?;
            if let LogEntry::Batch(batch) = decode(v.value())? {
                out.extend(batch.envelopes());
            }
        }
        Ok(out)
    }
}

/// Layout 2 → 3: agents, their origins and their rejects re-keyed tenant first, with the
/// agent id → tenant index; the old tables are dropped. Returns how many of each moved.
fn migrate_agents_tenant_first(txn: &WriteTransaction) -> Result<(u64, u64, u64), StoreError> {
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

/// Why an agent of `role` may not write `body`, if it may not.
fn refusal(role: AgentRole, body: &Body) -> Option<String> {
    let allowed = match role {
        AgentRole::Warehouse => {
            matches!(
                body,
                Body::Stock(_) | Body::StockMovement(_) | Body::Shipment(_)
            )
        }
        AgentRole::Finance => matches!(body, Body::PaymentFlow(_)),
        AgentRole::Pos => matches!(
            body,
            Body::PosSale(_) | Body::Stock(_) | Body::StockMovement(_)
        ),
    };
    (!allowed).then(|| {
        format!(
            "a {} agent may not write {} records",
            role.as_str(),
            body.entity().kind().as_str()
        )
    })
}

pub mod codec;
pub mod table;
codec::first_version_records! {
    "tenants" => TenantRecord,
    "enroll_tokens" => TokenRecord,
    "agents" => AgentRecord,
    "stock" => StockRecord,
    "entities" => EntityRecord,
    "tenant_log" => LogEntry,
    "tenant_rejects" => RejectRecord,
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
pub(crate) use crate::{
    dashboard::store as dashboard, identity::api_keys, identity::operator,
    identity::store as identity, orders::store as orders, shops::store as shops,
};

#[cfg(test)]
mod records_tests;
#[cfg(test)]
mod tests;
