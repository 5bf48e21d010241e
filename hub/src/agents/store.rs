//! The agents room's records, tables and transactions: enrollment tokens, agents (keyed tenant
//! first, found by id through `agent_tenants`), each source's progress and the changes the hub
//! refused; the batch intake that applies an agent's changes ([`AgentBatch`]) is in
//! [`super::intake`].

use super::decide::token_refusal;
use crate::store::changes::{StoredBody, StoredSourceChange};
use crate::store::codec;
use crate::store::table::Table;
use crate::store::{Store, StoreError, secret_hash};
use serde::{Deserialize, Serialize};
use std::fmt;
use xt_shared::change::{Body, SourceChange};
use xt_shared::ids::{AgentId, SiteId, SourceName, TenantId};
use xt_shared::model::UtcMillis;
use xt_shared::protocol::{AgentRole, ResumePoint, SourceStatus};

/// Key: SHA-256 of the token's secret.
pub(crate) const TOKENS: Table<&[u8], TokenRecord> = Table::new("enroll_tokens");
/// Key: (tenant, agent id). Layout 3; layout 2 and older had `agents` keyed by agent id.
pub(crate) const AGENTS: Table<(&str, &str), AgentRecord> = Table::new("tenant_agents");
/// Key: agent id → its tenant: how a certificate (which names only the agent) finds its record.
pub(crate) const AGENT_TENANTS: Table<&str, String> = Table::new("agent_tenants");
/// Key: (tenant, agent id, source name). Layout 3; before: `origins` keyed (agent, source).
pub(crate) const ORIGINS: Table<(&str, &str, &str), OriginRecord> = Table::new("tenant_origins");
/// Key: (tenant, entity key as text). Everything agents send that is not stock, for now.
pub(crate) const ENTITIES: Table<(&str, &str), EntityRecord> = Table::new("entities");
/// Key: (tenant, agent id, source name, seq): changes the hub refused, with their reason.
/// Layout 3; before: `rejects` keyed (agent, source, seq).
pub(crate) const REJECTS: Table<(&str, &str, &str, u64), RejectRecord> =
    Table::new("tenant_rejects");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRecord {
    pub tenant: TenantId,
    pub site: SiteId,
    #[serde(with = "crate::store::enums::agent_role")]
    pub role: AgentRole,
    pub created_at: UtcMillis,
    pub expires_at: UtcMillis,
    pub used_by: Option<AgentId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentRecord {
    pub tenant: TenantId,
    pub site: SiteId,
    #[serde(with = "crate::store::enums::agent_role")]
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
    pub(crate) fn note_durable(&mut self, durable_seq: u64, now: UtcMillis) {
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
    pub(crate) fn note_applied(&mut self) {
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

/// The latest version of an entity an agent sent (not stock), its body mirrored
/// ([`crate::store::changes`]).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct EntityRecord {
    pub(crate) version: i64,
    pub(crate) origin: String,
    pub(crate) body: StoredBody,
}

/// A change the hub refused, with the reason, the change mirrored ([`crate::store::changes`]).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct RejectRecord {
    pub(crate) reason: String,
    pub(crate) change: StoredSourceChange,
}

/// Shows the body as the model reads it (the golden records, `store/records_tests.rs`, compare
/// that meaning), or as stored when the model refuses it.
impl fmt::Debug for EntityRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let model = Body::try_from(self.body.clone());
        let body: &dyn fmt::Debug = match &model {
            Ok(body) => body,
            Err(_) => &self.body,
        };
        f.debug_struct("EntityRecord")
            .field("version", &self.version)
            .field("origin", &self.origin)
            .field("body", body)
            .finish()
    }
}

/// Shows the change as the model reads it (as [`EntityRecord`]'s `Debug`).
impl fmt::Debug for RejectRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let model = SourceChange::try_from(self.change.clone());
        let change: &dyn fmt::Debug = match &model {
            Ok(change) => change,
            Err(_) => &self.change,
        };
        f.debug_struct("RejectRecord")
            .field("reason", &self.reason)
            .field("change", change)
            .finish()
    }
}

/// Why a token could not be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Unknown,
    Used,
    Expired,
}

impl Store {
    pub fn insert_token(&self, secret: &str, record: &TokenRecord) -> Result<(), StoreError> {
        let tx = self.write()?;
        tx.open(TOKENS)?
            .insert(secret_hash(secret).as_slice(), record)?;
        tx.commit()
    }

    /// Why the token `secret` could not be redeemed at `now`, or `None` if it could; read-only,
    /// so a flood of bad tokens costs no write transaction (and [`Store::redeem_token`] checks
    /// again inside its own).
    pub fn token_refusal(
        &self,
        secret: &str,
        now: UtcMillis,
    ) -> Result<Option<TokenRefusal>, StoreError> {
        let tx = self.read()?;
        Ok(
            match tx.open(TOKENS)?.get(secret_hash(secret).as_slice())? {
                None => Some(TokenRefusal::Unknown),
                Some(token) => token_refusal(&token, now),
            },
        )
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
        let tx = self.write()?;
        let mut tokens = tx.open(TOKENS)?;
        let hash = secret_hash(secret);
        let Some(mut token) = tokens.get(hash.as_slice())? else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        if let Some(refusal) = token_refusal(&token, now) {
            return Ok(Err(refusal));
        }
        let record = make_record(&token);
        token.used_by = Some(agent.clone());
        tokens.insert(hash.as_slice(), &token)?;
        drop(tokens);
        tx.open(AGENTS)?
            .insert((record.tenant.as_str(), agent.as_str()), &record)?;
        tx.open(AGENT_TENANTS)?
            .insert(agent.as_str(), &record.tenant.to_string())?;
        tx.commit()?;
        Ok(Ok(record))
    }

    /// An agent by id alone (what its certificate names), through the `agent_tenants` index.
    pub fn agent(&self, agent: &AgentId) -> Result<Option<AgentRecord>, StoreError> {
        let tx = self.read()?;
        let Some(tenant) = tx.open(AGENT_TENANTS)?.get(agent.as_str())? else {
            return Ok(None);
        };
        tx.open(AGENTS)?.get((tenant.as_str(), agent.as_str()))
    }

    /// Reads, changes and writes one agent record in one transaction.
    pub fn update_agent<R>(
        &self,
        agent: &AgentId,
        f: impl FnOnce(&mut AgentRecord) -> R,
    ) -> Result<Option<(AgentRecord, R)>, StoreError> {
        let tx = self.write()?;
        let Some(tenant) = tx.open(AGENT_TENANTS)?.get(agent.as_str())? else {
            return Ok(None);
        };
        let mut agents = tx.open(AGENTS)?;
        let key = (tenant.as_str(), agent.as_str());
        let Some(mut record) = agents.get(key)? else {
            return Ok(None);
        };
        let r = f(&mut record);
        agents.insert(key, &record)?;
        drop(agents);
        tx.commit()?;
        Ok(Some((record, r)))
    }

    pub fn agents(&self, tenant: &TenantId) -> Result<Vec<(AgentId, AgentRecord)>, StoreError> {
        let tx = self.read()?;
        let t = tenant.as_str();
        let mut out = Vec::new();
        for row in tx.open(AGENTS)?.range((t, "")..)? {
            let row = row?;
            let (kt, id) = row.key();
            if kt != t {
                break;
            }
            let id = AgentId::new(id).map_err(|e| StoreError::Corrupt {
                table: "agents",
                reason: e.to_string(),
            })?;
            out.push((id, row.value));
        }
        Ok(out)
    }

    /// The sources of `tenant`'s agent `agent` and the hub's progress with each.
    pub fn origins(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
    ) -> Result<Vec<(SourceName, OriginRecord)>, StoreError> {
        let tx = self.read()?;
        let t = tenant.as_str();
        let mut out = Vec::new();
        for row in tx.open(ORIGINS)?.range((t, agent.as_str(), "")..)? {
            let row = row?;
            let (kt, a, s) = row.key();
            if kt != t || a != agent.as_str() {
                break;
            }
            let source = SourceName::new(s).map_err(|e| StoreError::Corrupt {
                table: "origins",
                reason: e.to_string(),
            })?;
            out.push((source, row.value));
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
        let tx = self.write()?;
        {
            let mut origins = tx.open(ORIGINS)?;
            for s in sources {
                let key = (tenant.as_str(), agent.as_str(), s.source.as_str());
                let mut o = origins.get(key)?.unwrap_or_default();
                o.note_durable(s.durable_seq, now);
                o.reported_backlog = s.backlog;
                o.reported_quarantined = s.quarantined;
                o.last_error.clone_from(&s.last_error);
                origins.insert(key, &o)?;
            }
            let mut agents = tx.open(AGENTS)?;
            let key = (tenant.as_str(), agent.as_str());
            if let Some(mut a) = agents.get(key)? {
                a.last_seen = Some(now);
                agents.insert(key, &a)?;
            }
        }
        tx.commit()
    }
}
