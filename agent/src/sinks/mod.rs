//! Sinks apply the hub's commands to legacy systems: one folder per kind, the trait here.
//!
//! A sink is built from its validated [`SinkConfig`] by [`build`] and driven by the command
//! applier ([`crate::commands`]), in seq order, one command at a time or, for a sink that takes
//! them ([`Sink::batch_max`]), several in one unit:
//! 1. [`Sink::apply`] writes the command's effect, or finds it already there (the delivery
//!    number is the idempotency key in the legacy system: a sink always looks for it first), and
//!    returns the outcome with the sink's new recovery state;
//! 2. the applier records outcome and state in one durable transaction of `commands.redb`;
//! 3. [`Sink::committed`] makes visible what the sink staged (a csv file's rename).
//!
//! After a crash, [`Sink::recover`] gets the state of the last recorded decision and finishes
//! or undoes what was half done, so that a resent command never writes twice. A refusal by the
//! legacy system (a cancel of a shipped delivery, a row its table rejects) is an outcome; a
//! [`SinkError`] is always transient (database locked, disk full, folder unmounted, a table the
//! config names but the database lacks): the applier retries it, never answers it.

use crate::config::{SinkConfig, SinkKind};
use crate::timestamp::UtcOffset;
use std::path::PathBuf;
use xt_shared::command::{AgentCommand, CommandOutcome};
use xt_shared::ids::WarehouseCode;
use xt_shared::model::UtcMillis;

pub mod csv;
pub mod fields;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod testing;

/// A legacy system commands are applied to.
pub trait Sink: Send {
    fn name(&self) -> &str;
    fn kind(&self) -> SinkKind;
    /// Whether this sink applies the commands of `warehouse`.
    fn serves(&self, warehouse: &WarehouseCode) -> bool;
    /// Restores the state recorded with this sink's last decision (`None`: nothing recorded),
    /// finishing a write that was decided and undoing one that was not.
    fn recover(&mut self, state: Option<&[u8]>) -> Result<(), SinkError>;
    /// Applies `command` (numbered `seq`) at `now`. Never writes a delivery number twice.
    fn apply(
        &mut self,
        seq: u64,
        command: &AgentCommand,
        now: UtcMillis,
    ) -> Result<Applied, SinkError>;
    /// Most commands [`Sink::apply_batch`] takes at once: 1 (the default) for a sink whose
    /// recovery state covers one staged command.
    fn batch_max(&self) -> usize {
        1
    }
    /// Applies `commands` in order as one unit: on `Err` none of them is visible, on `Ok` each
    /// has its outcome (the state is the sink's after the last). The default applies one.
    fn apply_batch(
        &mut self,
        commands: &[(u64, &AgentCommand)],
        now: UtcMillis,
    ) -> Result<Vec<Applied>, SinkError> {
        debug_assert!(commands.len() <= self.batch_max());
        commands
            .iter()
            .map(|&(seq, command)| self.apply(seq, command, now))
            .collect()
    }
    /// The last decision and its state are durable: make the staged effect visible, and close
    /// what time or size closes (a batch file).
    fn committed(&mut self, now: UtcMillis) -> Result<(), SinkError>;
    /// When [`Sink::committed`] must next run for time's sake (an open batch's window end).
    fn deadline(&self) -> Option<UtcMillis>;
    /// For `xt-agent check`: open the legacy system and describe it, writing nothing.
    fn check(&mut self) -> Result<String, SinkError>;
}

/// What applying a command came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub outcome: CommandOutcome,
    /// The sink's recovery state to record with the outcome (`None`: unchanged).
    pub state: Option<Vec<u8>>,
}

impl Applied {
    pub fn outcome(outcome: CommandOutcome) -> Applied {
        Applied {
            outcome,
            state: None,
        }
    }

    pub fn refused(reason: impl Into<String>) -> Applied {
        Applied::outcome(CommandOutcome::Refused {
            reason: reason.into(),
        })
    }
}

/// Why a sink could not apply a command now. Always transient: retried, never answered.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink {name}: sqlite {path}: {source}")]
    Sqlite {
        name: String,
        path: PathBuf,
        source: Box<rusqlite::Error>,
    },
    #[error("sink {name}: cannot {action} {path}: {source}")]
    Io {
        name: String,
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("sink {name}: {message}")]
    Invalid { name: String, message: String },
}

impl SinkError {
    pub(crate) fn io<'a>(
        name: &'a str,
        action: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> SinkError + 'a {
        move |source| SinkError::Io {
            name: name.to_owned(),
            action,
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn invalid(name: &str, message: impl Into<String>) -> SinkError {
        SinkError::Invalid {
            name: name.to_owned(),
            message: message.into(),
        }
    }
}

/// Builds the runtime sink for a validated config. Opens nothing: the legacy system is first
/// touched by `recover`, `apply` or `check`.
pub fn build(config: &SinkConfig, timezone: UtcOffset) -> Result<Box<dyn Sink>, SinkError> {
    let name = &config.name;
    let columns = config.columns().map_err(|e| SinkError::invalid(name, e))?;
    let missing = |table: &str| SinkError::invalid(name, format!("[sink.{table}] is missing"));
    let common = Common {
        name: name.clone(),
        warehouses: config.warehouses.clone(),
        columns,
        time_format: config.time_format,
        timezone,
    };
    Ok(match config.kind {
        SinkKind::Sqlite => {
            let settings = config.sqlite.clone().ok_or_else(|| missing("sqlite"))?;
            Box::new(sqlite::SqliteSink::new(common, settings))
        }
        SinkKind::Csv => {
            let settings = config.csv.clone().ok_or_else(|| missing("csv"))?;
            Box::new(csv::CsvSink::new(common, settings))
        }
    })
}

/// What every sink is configured with.
#[derive(Debug, Clone)]
pub struct Common {
    pub name: String,
    pub warehouses: Vec<WarehouseCode>,
    pub columns: fields::Columns,
    pub time_format: fields::TimeFormat,
    pub timezone: UtcOffset,
}

impl Common {
    pub fn serves(&self, warehouse: &WarehouseCode) -> bool {
        self.warehouses.contains(warehouse)
    }
}
