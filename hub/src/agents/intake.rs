//! What agents send, through the ingest pipeline ([`crate::ingest`]): a batch of a source's
//! changes ([`AgentBatch`], exactly once by seq) and an agent connecting or leaving
//! ([`AgentPresence`]).

use super::decide::refusal;
use super::store::{ENTITIES, EntityRecord, ORIGINS, OriginRecord, REJECTS, RejectRecord};
use crate::dashboard::store as dashboard;
use crate::ingest::{Applied, Intake};
use crate::stock;
use crate::store::table::WriteTx;
use crate::store::{AgentLogged, LogEntry, LoggedBatch, StoreError};
use std::collections::BTreeMap;
use xt_shared::change::{Body, Origin, SourceChange};
use xt_shared::ids::{AgentId, SourceName, TenantId};
use xt_shared::model::UtcMillis;
use xt_shared::protocol::{AgentRole, Rejection};
use xt_shared::sync::{Admission, AdmitError, admit};

/// What applying a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    pub applied_seq: u64,
    pub applied: u64,
    pub skipped: u64,
    pub rejected: Vec<Rejection>,
}

/// One batch of one agent's source: consecutive changes by seq.
#[derive(Clone)]
pub struct AgentBatch<'a> {
    pub tenant: &'a TenantId,
    pub agent: &'a AgentId,
    pub role: AgentRole,
    pub source: &'a SourceName,
    pub changes: Vec<SourceChange>,
}

/// A batch past admission: the changes not applied before, and the source's progress.
pub struct AdmittedBatch<'a> {
    batch: AgentBatch<'a>,
    admission: Admission,
    progress: OriginRecord,
}

impl<'a> Intake for AgentBatch<'a> {
    type Admitted = AdmittedBatch<'a>;
    type Outcome = Result<BatchOutcome, AdmitError>;

    /// Exactly once: seqs the source's progress already covers are skipped, a gap is refused.
    fn admit(self, tx: &WriteTx) -> Result<Result<AdmittedBatch<'a>, Self::Outcome>, StoreError> {
        let key = (
            self.tenant.as_str(),
            self.agent.as_str(),
            self.source.as_str(),
        );
        let progress = tx.open(ORIGINS)?.get(key)?.unwrap_or_default();
        Ok(match admit(progress.applied_seq, &self.changes) {
            Ok(admission) => Ok(AdmittedBatch {
                batch: self,
                admission,
                progress,
            }),
            Err(e) => Err(Err(e)),
        })
    }

    /// Stock to the stock room (last writer wins by source version), everything else to the
    /// entities it names; a change the agent's role may not write to the rejects with its
    /// reason; the dashboard's aggregates and the source's progress in the same transaction.
    fn apply(
        admitted: AdmittedBatch<'a>,
        tx: &WriteTx,
        now: UtcMillis,
    ) -> Result<Applied<Self::Outcome>, StoreError> {
        let AdmittedBatch {
            batch,
            admission,
            mut progress,
        } = admitted;
        let AgentBatch {
            tenant,
            agent,
            role,
            source,
            changes,
        } = batch;
        let origin = Origin::Agent {
            agent: agent.clone(),
            source: source.clone(),
        };
        let origin_text = origin.to_string();
        let mut stock_rows = tx.open(stock::store::STOCK)?;
        let mut entities = tx.open(ENTITIES)?;
        let mut rejects = tx.open(REJECTS)?;
        let mut rejected = Vec::new();
        let mut logged = Vec::with_capacity(changes.len());
        let mut totals: BTreeMap<String, dashboard::TotalsDelta> = BTreeMap::new();
        let mut warehouse_changes: BTreeMap<String, u64> = BTreeMap::new();
        for change in changes.into_iter().skip(admission.first_new) {
            if let Some(reason) = refusal(role, &change.body) {
                let key = (tenant.as_str(), agent.as_str(), source.as_str(), change.seq);
                rejects.insert(
                    key,
                    &RejectRecord {
                        reason: reason.clone(),
                        change: (&change).into(),
                    },
                )?;
                rejected.push(Rejection {
                    seq: change.seq,
                    reason,
                });
                continue;
            }
            match &change.body {
                Body::Stock(level) => {
                    *warehouse_changes
                        .entry(level.warehouse.to_string())
                        .or_default() += 1;
                    if let Some(moved) = stock::store::apply_level(
                        &mut stock_rows,
                        tenant,
                        level,
                        change.version,
                        &origin_text,
                        now,
                    )? {
                        let delta = totals.entry(level.warehouse.to_string()).or_default();
                        delta.skus += i64::from(moved.new_sku);
                        delta.on_hand += moved.on_hand;
                    }
                }
                body => {
                    let entity = body.entity().to_string();
                    let key = (tenant.as_str(), entity.as_str());
                    let newer = entities
                        .get(key)?
                        .is_none_or(|stored| stored.version <= change.version);
                    if newer {
                        let record = EntityRecord {
                            version: change.version,
                            origin: origin_text.clone(),
                            body: body.into(),
                        };
                        entities.insert(key, &record)?;
                    }
                }
            }
            logged.push(change);
        }
        drop((stock_rows, entities, rejects));
        dashboard::apply_totals(tx, tenant, &totals, now)?;
        dashboard::count_warehouse_changes(tx, tenant, now, &warehouse_changes)?;
        let applied = logged.len() as u64;
        let mut log = Vec::new();
        if applied > 0 {
            dashboard::count_changes(tx, tenant, now, applied)?;
            // One change-log entry per batch: the origin and time once, the changes in seq order.
            log.push(LogEntry::Batch(LoggedBatch::new(
                tenant.clone(),
                &origin,
                now,
                &logged,
            )));
        }
        progress.applied_seq = admission.applied_seq;
        progress.records_applied += applied;
        progress.records_rejected += rejected.len() as u64;
        if applied > 0 {
            progress.last_applied_at = Some(now);
        }
        progress.note_applied();
        tx.open(ORIGINS)?.insert(
            (tenant.as_str(), agent.as_str(), source.as_str()),
            &progress,
        )?;
        Ok(Applied {
            log,
            outcome: Ok(BatchOutcome {
                applied_seq: admission.applied_seq,
                applied,
                skipped: admission.first_new as u64,
                rejected,
            }),
        })
    }
}

/// An agent connected or disconnected: only logged, for the event streams.
#[derive(Clone)]
pub struct AgentPresence(pub AgentLogged);

impl Intake for AgentPresence {
    type Admitted = AgentLogged;
    type Outcome = ();

    fn admit(self, _tx: &WriteTx) -> Result<Result<AgentLogged, ()>, StoreError> {
        Ok(Ok(self.0))
    }

    fn apply(
        event: AgentLogged,
        _tx: &WriteTx,
        _now: UtcMillis,
    ) -> Result<Applied<()>, StoreError> {
        Ok(Applied {
            log: vec![LogEntry::Agent(event)],
            outcome: (),
        })
    }
}
