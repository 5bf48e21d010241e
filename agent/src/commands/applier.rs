//! The applier: one command at a time through plan → sink → record → commit (see the module
//! docs of [`crate::commands`]). Blocking; the command stream runs it on the blocking pool.

use super::decide::{self, Plan};
use super::store::{COMMANDS_FILE, CommandStore, Decision, StoreError};
use crate::config::AgentConfig;
use crate::sinks::{self, Sink, SinkError};
use xt_shared::command::{AgentCommand, CommandOutcome};
use xt_shared::model::UtcMillis;

/// Why a command is not decided yet. Always transient: the stream retries it.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Sink(#[from] SinkError),
}

/// The record and the sinks, applying commands in seq order.
pub struct Applier {
    store: CommandStore,
    sinks: Vec<Box<dyn Sink>>,
    /// Every sink is back at its recorded state (false at start and after a failed attempt,
    /// which may have left half-done work behind).
    recovered: bool,
}

impl std::fmt::Debug for Applier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Applier")
            .field("store", &self.store)
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Applier {
    /// Opens `commands.redb` in the data dir and builds the config's sinks (`None` without
    /// sinks). Recovery runs now; if a sink's legacy system is out of reach it runs again before
    /// the first command.
    pub fn open(config: &AgentConfig) -> anyhow::Result<Option<Applier>> {
        if config.sinks.is_empty() {
            return Ok(None);
        }
        let store = CommandStore::open(&config.data_dir.join(COMMANDS_FILE))?;
        let sinks = config
            .sinks
            .iter()
            .map(|s| sinks::build(s, config.timezone))
            .collect::<Result<Vec<_>, _>>()?;
        let mut applier = Applier::new(store, sinks);
        if let Err(e) = applier.recover() {
            tracing::warn!(error = %xt_shared::errors::chain(&e), "sink recovery failed; retrying before the first command");
        }
        Ok(Some(applier))
    }

    /// An applier over `store` and `sinks`; recovery runs before the first command.
    pub fn new(store: CommandStore, sinks: Vec<Box<dyn Sink>>) -> Applier {
        Applier {
            store,
            sinks,
            recovered: false,
        }
    }

    /// The kinds of sink, for `CommandsReady` (sorted, once each).
    pub fn kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .sinks
            .iter()
            .map(|s| s.kind().as_str().to_owned())
            .collect();
        kinds.sort();
        kinds.dedup();
        kinds
    }

    pub fn store(&self) -> &CommandStore {
        &self.store
    }

    /// Brings every sink back to its recorded state.
    pub fn recover(&mut self) -> Result<(), ApplyError> {
        for sink in &mut self.sinks {
            let state = self.store.sink_state(sink.name())?;
            sink.recover(state.as_deref())?;
        }
        self.recovered = true;
        Ok(())
    }

    /// Decides command `seq` at `now`: answers a recorded decision again, or applies it and
    /// records the outcome durably before returning it. An error is transient: call again.
    pub fn apply(
        &mut self,
        seq: u64,
        command: &AgentCommand,
        now: UtcMillis,
    ) -> Result<CommandOutcome, ApplyError> {
        let (mut outcomes, failed) = self.apply_batch(&[(seq, command)], now);
        match (outcomes.pop(), failed) {
            (Some(outcome), _) => Ok(outcome),
            (None, Some(e)) => Err(e),
            (None, None) => unreachable!("a command is decided or failed"),
        }
    }

    /// Decides `commands` in order, as [`Applier::apply`] does, applying runs of them that go
    /// to the same batching sink ([`Sink::batch_max`]) in one sink transaction and one durable
    /// record. Returns the outcomes of the commands decided, a prefix of `commands`, and the
    /// transient error that stopped the rest (call again from there).
    pub fn apply_batch(
        &mut self,
        commands: &[(u64, &AgentCommand)],
        now: UtcMillis,
    ) -> (Vec<CommandOutcome>, Option<ApplyError>) {
        let mut out = Vec::with_capacity(commands.len());
        let mut next = 0;
        while next < commands.len() {
            let run = self.decide_run(&commands[next..], now);
            match run {
                Ok(outcomes) => {
                    next += outcomes.len();
                    out.extend(outcomes);
                }
                Err(e) => return (out, Some(e)),
            }
        }
        (out, None)
    }

    /// What to do with `command`, from the record and the sinks.
    fn plan(
        &self,
        seq: u64,
        command: &AgentCommand,
    ) -> Result<(Plan, Option<Decision>), ApplyError> {
        let recorded = self.store.decision(seq)?;
        if let Some(d) = &recorded
            && (d.kind != command.kind() || &d.delivery_no != command.delivery_no())
        {
            tracing::warn!(seq, recorded = %d.delivery_no, sent = %command.delivery_no(), "the hub resent a seq with another command; answering what was decided");
        }
        let before = self
            .store
            .delivery(command.kind(), command.delivery_no())?
            .map(|(_, d)| d);
        let sink = self
            .sinks
            .iter()
            .position(|s| s.serves(command.warehouse()));
        let plan = decide::plan(
            recorded.as_ref(),
            before.as_ref(),
            sink,
            command.warehouse(),
        );
        Ok((plan, recorded))
    }

    /// Decides the first of `commands` and, when a batching sink applies it, the commands after
    /// it that go to the same sink (up to its batch size; a seq or a delivery seen twice ends
    /// the run, so each is planned against the record of the one before). At least one.
    fn decide_run(
        &mut self,
        commands: &[(u64, &AgentCommand)],
        now: UtcMillis,
    ) -> Result<Vec<CommandOutcome>, ApplyError> {
        if !self.recovered {
            self.recover()?;
        }
        let (seq, command) = commands[0];
        let decision =
            |command: &AgentCommand, sink: Option<&str>, outcome: CommandOutcome| Decision {
                kind: command.kind().to_owned(),
                delivery_no: command.delivery_no().clone(),
                sink: sink.map(str::to_owned),
                outcome,
            };
        let (plan, recorded) = self.plan(seq, command)?;
        let i = match plan {
            Plan::Answer(outcome) => {
                // A decided rename may still be due (the answer was lost with it).
                let sink = recorded.and_then(|d| d.sink);
                if let Some(s) = self
                    .sinks
                    .iter_mut()
                    .find(|s| Some(s.name()) == sink.as_deref())
                {
                    s.committed(now)?;
                }
                return Ok(vec![outcome]);
            }
            Plan::Decide(outcome) => {
                self.store
                    .record(seq, &decision(command, None, outcome.clone()), None)?;
                return Ok(vec![outcome]);
            }
            Plan::Apply(i) => i,
        };
        let mut run = vec![(seq, command)];
        let max = self.sinks[i].batch_max().max(1);
        let mut seen =
            std::collections::BTreeSet::from([(seq, command.kind(), command.delivery_no())]);
        for &(seq, command) in &commands[1..] {
            if run.len() >= max
                || seen.iter().any(|(s, k, d)| {
                    *s == seq || (*k == command.kind() && *d == command.delivery_no())
                })
            {
                break;
            }
            match self.plan(seq, command)? {
                (Plan::Apply(j), _) if j == i => {
                    seen.insert((seq, command.kind(), command.delivery_no()));
                    run.push((seq, command));
                }
                _ => break,
            }
        }
        let sink = &mut self.sinks[i];
        let applied = match sink.apply_batch(&run, now) {
            Ok(applied) if applied.len() == run.len() => applied,
            Ok(_) => {
                self.recovered = false;
                return Err(ApplyError::Sink(crate::sinks::SinkError::invalid(
                    sink.name(),
                    "the sink did not answer every command",
                )));
            }
            Err(e) => {
                self.recovered = false;
                return Err(e.into());
            }
        };
        let decided: Vec<(u64, Decision, Option<Vec<u8>>)> = run
            .iter()
            .zip(applied)
            .map(|(&(seq, command), applied)| {
                let outcome = decide::bounded(applied.outcome);
                (
                    seq,
                    decision(command, Some(sink.name()), outcome),
                    applied.state,
                )
            })
            .collect();
        let rows: Vec<(u64, &Decision, Option<&[u8]>)> = decided
            .iter()
            .map(|(seq, d, state)| (*seq, d, state.as_deref()))
            .collect();
        if let Err(e) = self.store.record_all(&rows) {
            // Undecided: the sink's staged work is undone before the next attempt.
            self.recovered = false;
            return Err(e.into());
        }
        self.sinks[i].committed(now)?;
        Ok(decided.into_iter().map(|(_, d, _)| d.outcome).collect())
    }

    /// Closes what time closes (batch files whose window ended by `now`).
    pub fn tick(&mut self, now: UtcMillis) -> Result<(), ApplyError> {
        if !self.recovered {
            self.recover()?;
        }
        for sink in &mut self.sinks {
            if sink.deadline().is_some_and(|d| d <= now) {
                sink.committed(now)?;
            }
        }
        Ok(())
    }

    /// The earliest time [`Applier::tick`] has work.
    pub fn deadline(&self) -> Option<UtcMillis> {
        self.sinks.iter().filter_map(|s| s.deadline()).min()
    }

    /// After a panic while applying: recover before the next command.
    pub fn mark_unrecovered(&mut self) {
        self.recovered = false;
    }
}
