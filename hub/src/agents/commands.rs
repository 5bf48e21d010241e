//! Each agent's durable command outbox: what the hub asks an agent to apply to its legacy
//! system (delivery orders, intercepts), kept until the agent answers.
//!
//! A room enqueues a command in its own write transaction ([`enqueue`]), so the command exists
//! exactly when the decision that made it committed. The agent's QUIC session sends every
//! unanswered command in seq order ([`Store::pending_commands`]) and sends them all again after
//! a reconnect; the agent's answers come back through the pipeline ([`CommandAnswers`]: all that
//! arrived together, in one transaction), which removes each command and logs its outcome for
//! the rooms that wait on it. The command is kept as its wire bytes (`shared::command`, whose
//! variants are only appended like frames), so a stored command reads with every later version.

use super::store::AGENTS;
use crate::ingest::{Applied, Intake};
use crate::store::codec::first_version_records;
use crate::store::table::{Table, WriteTx};
use crate::store::{CommandLogged, LogEntry, Store, StoreError, StoredOutcome};
use serde::{Deserialize, Serialize};
use xt_shared::command::{AgentCommand, CommandOutcome};
use xt_shared::ids::{AgentId, TenantId};
use xt_shared::model::UtcMillis;

/// Key: (tenant, agent, seq).
pub(crate) const COMMANDS: Table<(&str, &str, u64), CommandRecord> = Table::new("agent_commands");
/// Key: (tenant, agent) → the last seq given out.
pub(crate) const COMMAND_SEQS: Table<(&str, &str), u64> = Table::new("agent_command_seqs");

/// Most commands a session keeps unanswered on the wire at once.
pub const COMMANDS_IN_FLIGHT_MAX: usize = 256;

/// One command waiting for its agent's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    pub enqueued_at: UtcMillis,
    /// The delivery number (the command's idempotency key), for listings.
    pub delivery_no: String,
    pub kind: String,
    /// `postcard` bytes of the [`AgentCommand`].
    pub wire: Vec<u8>,
}

first_version_records! {
    "agent_commands" => CommandRecord,
}

impl CommandRecord {
    pub fn command(&self) -> Result<AgentCommand, StoreError> {
        postcard::from_bytes(&self.wire).map_err(|e| StoreError::Corrupt {
            table: "agent_commands",
            reason: e.to_string(),
        })
    }
}

/// Puts `command` in `agent`'s outbox in the caller's transaction; returns its seq.
pub(crate) fn enqueue(
    tx: &WriteTx,
    tenant: &TenantId,
    agent: &str,
    command: &AgentCommand,
    now: UtcMillis,
) -> Result<u64, StoreError> {
    let mut seqs = tx.open(COMMAND_SEQS)?;
    let seq = seqs.get((tenant.as_str(), agent))?.unwrap_or(0) + 1;
    seqs.insert((tenant.as_str(), agent), &seq)?;
    let record = CommandRecord {
        enqueued_at: now,
        delivery_no: command.delivery_no().to_string(),
        kind: command.kind().to_owned(),
        wire: postcard::to_allocvec(command).expect("a command encodes"),
    };
    tx.open(COMMANDS)?
        .insert((tenant.as_str(), agent, seq), &record)?;
    Ok(seq)
}

/// An agent's answers to commands, as many as arrived together (one transaction for all).
#[derive(Clone)]
pub struct CommandAnswers<'a> {
    pub tenant: &'a TenantId,
    pub agent: &'a AgentId,
    /// (seq, outcome), in the order the agent sent them.
    pub answers: Vec<(u64, CommandOutcome)>,
}

/// What became of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Recorded and logged.
    Recorded,
    /// The command was answered before (a resend's second answer): nothing to do.
    Duplicate,
}

/// The answers admitted: each with its command's record (`None`: a duplicate).
pub struct AdmittedAnswers<'a> {
    tenant: &'a TenantId,
    agent: &'a AgentId,
    answers: Vec<(u64, CommandOutcome, Option<CommandRecord>)>,
}

impl<'a> Intake for CommandAnswers<'a> {
    type Admitted = AdmittedAnswers<'a>;
    /// One per answer, in order.
    type Outcome = Vec<AnswerOutcome>;

    /// Exactly once: only an answer to a command still in the outbox counts (and only the
    /// first of two answers to one seq in the same batch).
    fn admit(self, tx: &WriteTx) -> Result<Result<Self::Admitted, Self::Outcome>, StoreError> {
        let (t, a) = (self.tenant.as_str(), self.agent.as_str());
        let commands = tx.open(COMMANDS)?;
        let mut seen = std::collections::BTreeSet::new();
        let mut answers = Vec::with_capacity(self.answers.len());
        for (seq, outcome) in self.answers {
            let record = if seen.insert(seq) {
                commands.get((t, a, seq))?
            } else {
                None
            };
            answers.push((seq, outcome, record));
        }
        if answers.iter().all(|(_, _, r)| r.is_none()) {
            return Ok(Err(vec![AnswerOutcome::Duplicate; answers.len()]));
        }
        Ok(Ok(AdmittedAnswers {
            tenant: self.tenant,
            agent: self.agent,
            answers,
        }))
    }

    fn apply(
        admitted: Self::Admitted,
        tx: &WriteTx,
        now: UtcMillis,
    ) -> Result<Applied<Self::Outcome>, StoreError> {
        let (t, a) = (admitted.tenant.as_str(), admitted.agent.as_str());
        let mut commands = tx.open(COMMANDS)?;
        let mut log = Vec::new();
        let mut outcomes = Vec::with_capacity(admitted.answers.len());
        for (seq, outcome, record) in admitted.answers {
            let Some(record) = record else {
                outcomes.push(AnswerOutcome::Duplicate);
                continue;
            };
            commands.remove((t, a, seq))?;
            let command = record.command()?;
            log.push(LogEntry::Command(CommandLogged {
                tenant: admitted.tenant.clone(),
                agent: a.to_owned(),
                seq,
                kind: record.kind,
                delivery_no: record.delivery_no,
                warehouse: command.warehouse().to_string(),
                outcome: StoredOutcome::from(outcome),
                at: now,
            }));
            outcomes.push(AnswerOutcome::Recorded);
        }
        Ok(Applied {
            log,
            outcome: outcomes,
        })
    }
}

impl Store {
    /// Up to `limit` of `agent`'s unanswered commands with a seq after `after`, in seq order.
    pub fn pending_commands(
        &self,
        tenant: &TenantId,
        agent: &AgentId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, AgentCommand)>, StoreError> {
        let tx = self.read()?;
        let (t, a) = (tenant.as_str(), agent.as_str());
        let mut out = Vec::new();
        for row in tx
            .open(COMMANDS)?
            .range((t, a, after.saturating_add(1))..=(t, a, u64::MAX))?
        {
            if out.len() >= limit {
                break;
            }
            let row = row?;
            out.push((row.key().2, row.value.command()?));
        }
        Ok(out)
    }

    /// How many commands `agent` has not answered yet.
    pub fn commands_waiting(&self, tenant: &TenantId, agent: &AgentId) -> Result<u64, StoreError> {
        let tx = self.read()?;
        let (t, a) = (tenant.as_str(), agent.as_str());
        Ok(tx
            .open(COMMANDS)?
            .range((t, a, 0)..=(t, a, u64::MAX))?
            .count() as u64)
    }

    /// Whether `agent` is enrolled under `tenant` (a warehouse names only its own agents).
    pub fn agent_enrolled(&self, tenant: &TenantId, agent: &str) -> Result<bool, StoreError> {
        self.read()?
            .open(AGENTS)?
            .contains((tenant.as_str(), agent))
    }
}
