//! Each agent's durable command outbox: what the hub asks an agent to apply to its legacy
//! system (delivery orders, intercepts), kept until the agent answers.
//!
//! A room enqueues a command in its own write transaction ([`enqueue`]), so the command exists
//! exactly when the decision that made it committed. The agent's QUIC session sends every
//! unanswered command in seq order ([`Store::pending_commands`]) and sends them all again after
//! a reconnect; the agent's answer comes back through the pipeline ([`CommandAnswer`]), which
//! removes the command and logs the outcome for the rooms that wait on it. The command is kept
//! as its wire bytes (`shared::command`, whose variants are only appended like frames), so a
//! stored command reads with every later version.

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

/// An agent's answer to one command.
pub struct CommandAnswer<'a> {
    pub tenant: &'a TenantId,
    pub agent: &'a AgentId,
    pub seq: u64,
    pub outcome: CommandOutcome,
}

/// What became of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// Recorded and logged.
    Recorded,
    /// The command was answered before (a resend's second answer): nothing to do.
    Duplicate,
}

impl<'a> Intake for CommandAnswer<'a> {
    type Admitted = (CommandAnswer<'a>, CommandRecord);
    type Outcome = AnswerOutcome;

    /// Exactly once: only an answer to a command still in the outbox counts.
    fn admit(self, tx: &WriteTx) -> Result<Result<Self::Admitted, AnswerOutcome>, StoreError> {
        let key = (self.tenant.as_str(), self.agent.as_str(), self.seq);
        Ok(match tx.open(COMMANDS)?.get(key)? {
            Some(record) => Ok((self, record)),
            None => Err(AnswerOutcome::Duplicate),
        })
    }

    fn apply(
        (answer, record): Self::Admitted,
        tx: &WriteTx,
        now: UtcMillis,
    ) -> Result<Applied<AnswerOutcome>, StoreError> {
        let key = (answer.tenant.as_str(), answer.agent.as_str(), answer.seq);
        tx.open(COMMANDS)?.remove(key)?;
        let command = record.command()?;
        let entry = LogEntry::Command(CommandLogged {
            tenant: answer.tenant.clone(),
            agent: answer.agent.to_string(),
            seq: answer.seq,
            kind: record.kind,
            delivery_no: record.delivery_no,
            warehouse: command.warehouse().to_string(),
            outcome: StoredOutcome::from(answer.outcome),
            at: now,
        });
        Ok(Applied {
            log: vec![entry],
            outcome: AnswerOutcome::Recorded,
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
