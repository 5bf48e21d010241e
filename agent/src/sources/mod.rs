//! Sources read legacy systems into the outbox: one folder per kind, one runner thread each.
//!
//! A source is built from its validated [`SourceConfig`] by [`build`]. Each [`Source::poll`]
//! reads at most one chunk, maps every row, and commits the good rows, the refused rows (with
//! their reasons) and the source's new cursor in one outbox transaction: after a crash the
//! source resumes exactly after the last committed chunk. Bad data never fails a poll; only the
//! legacy system being unreachable (or the outbox failing) does, and the runner retries.

use crate::config::{SourceConfig, SourceKind};
use crate::outbox::{Outbox, OutboxError};
use crate::timestamp::UtcOffset;
use std::path::PathBuf;
use xt_shared::ids::SourceName;

pub mod csv;
pub mod runner;
pub mod sqlite;

/// A legacy system read into the outbox.
pub trait Source: Send {
    fn name(&self) -> &SourceName;
    /// Reads what is new, commits rows + quarantine + cursor in one outbox transaction per
    /// chunk. Never panics on bad data.
    fn poll(&mut self, outbox: &Outbox) -> Result<PollReport, SourceError>;
    /// For `xt-agent check`: open the source and describe what it sees, without committing
    /// anything.
    fn check(&mut self) -> Result<String, SourceError>;
}

/// What one poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PollReport {
    /// Rows committed to the outbox.
    pub rows: u64,
    /// Rows refused and quarantined.
    pub quarantined: u64,
    /// The source's durable seq after the poll.
    pub durable_seq: u64,
    /// It stopped early (a full chunk, or more files waiting): poll again immediately.
    pub more: bool,
}

/// Why a poll or check failed. Bad rows are not errors: they are quarantined.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {name}: {source}")]
    Outbox {
        name: SourceName,
        source: Box<OutboxError>,
    },
    #[error("source {name}: sqlite {path}: {source}")]
    Sqlite {
        name: SourceName,
        path: PathBuf,
        source: Box<rusqlite::Error>,
    },
    #[error("source {name}: cannot {action} {path}: {source}")]
    Io {
        name: SourceName,
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("source {name}: {message}")]
    Invalid { name: SourceName, message: String },
}

impl SourceError {
    pub(crate) fn outbox(name: &SourceName) -> impl FnOnce(OutboxError) -> SourceError + '_ {
        move |source| SourceError::Outbox {
            name: name.clone(),
            source: Box::new(source),
        }
    }

    pub(crate) fn io<'a>(
        name: &'a SourceName,
        action: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> SourceError + 'a {
        move |source| SourceError::Io {
            name: name.clone(),
            action,
            path: path.to_owned(),
            source,
        }
    }

    pub(crate) fn invalid(name: &SourceName, message: impl Into<String>) -> SourceError {
        SourceError::Invalid {
            name: name.clone(),
            message: message.into(),
        }
    }
}

/// Builds the runtime source for a validated config. Opens nothing: the legacy system is first
/// touched by `poll` or `check`, so that an unreachable system is retried, not fatal.
pub fn build(config: &SourceConfig, timezone: UtcOffset) -> Result<Box<dyn Source>, SourceError> {
    let name = &config.name;
    let mapping = config
        .mapping(timezone)
        .map_err(|e| SourceError::invalid(name, e.to_string()))?;
    let missing = |table: &str| SourceError::invalid(name, format!("[source.{table}] is missing"));
    Ok(match config.kind {
        SourceKind::Csv => {
            let settings = config.csv.clone().ok_or_else(|| missing("csv"))?;
            Box::new(csv::CsvSource::new(name.clone(), mapping, settings))
        }
        SourceKind::Sqlite => {
            let settings = config.sqlite.clone().ok_or_else(|| missing("sqlite"))?;
            Box::new(sqlite::SqliteSource::new(name.clone(), mapping, settings))
        }
    })
}

/// Cuts `s` to at most `max` bytes at a char boundary, for quarantine `raw` text.
pub(crate) fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}
