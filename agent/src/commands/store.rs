//! The agent's record of decided commands: `<data_dir>/commands.redb`, beside the outbox.
//!
//! Tables:
//! - `decided`: seq → the decision (command kind, delivery number, sink, outcome);
//! - `deliveries`: (command kind, delivery number) → the seq that applied it (only `Done` and
//!   `AlreadyDone` decisions: a refused delivery may be sent again and succeed);
//! - `sink_state`: sink name → the recovery state recorded with its last decision.
//!
//! Invariant: a decision, its delivery index entry and the sink's state become durable in one
//! transaction, before the outcome is sent; `deliveries` only points at seqs `decided` holds.
//! The newest [`DECISIONS_KEPT`] decisions are kept (the hub resends only unanswered commands,
//! which are recent); older ones go with their index entries.
//!
//! Storage encodings are separate from the wire types: a version byte ([`STORAGE_V1`]), then
//! postcard bytes of a private stored struct.

use redb::{Builder, Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use xt_shared::command::CommandOutcome;
use xt_shared::ids::DocNo;

/// File name of the command record inside the data dir.
pub const COMMANDS_FILE: &str = "commands.redb";
/// Leading byte of every stored value.
pub const STORAGE_V1: u8 = 1;
/// Decisions kept; older ones are trimmed as new ones are recorded.
pub const DECISIONS_KEPT: u64 = 100_000;
/// Most old decisions one record trims (the rest go with the next records).
const TRIM_PER_RECORD_MAX: usize = 64;
/// Page cache of the command record, in bytes: it is small and written once per command.
pub const COMMANDS_CACHE_BYTES: usize = 1024 * 1024;
/// Longest sink state recorded, in bytes.
pub const SINK_STATE_BYTES_MAX: usize = 16 * 1024;

const DECIDED: TableDefinition<u64, &[u8]> = TableDefinition::new("decided");
const DELIVERIES: TableDefinition<(&str, &str), u64> = TableDefinition::new("deliveries");
const SINK_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("sink_state");

/// A decided command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `AgentCommand::kind()`.
    pub kind: String,
    pub delivery_no: DocNo,
    /// The sink that decided it (`None`: decided without one, e.g. no sink serves the
    /// warehouse).
    pub sink: Option<String>,
    pub outcome: CommandOutcome,
}

impl Decision {
    /// Whether the command's effect is in the legacy system.
    pub fn applied(&self) -> bool {
        matches!(
            self.outcome,
            CommandOutcome::Done | CommandOutcome::AlreadyDone
        )
    }
}

#[derive(Debug, Serialize, Deserialize)]
enum StoredOutcome {
    Done,
    AlreadyDone,
    Refused { reason: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredDecision {
    kind: String,
    delivery_no: String,
    sink: Option<String>,
    outcome: StoredOutcome,
}

impl From<&Decision> for StoredDecision {
    fn from(d: &Decision) -> Self {
        StoredDecision {
            kind: d.kind.clone(),
            delivery_no: d.delivery_no.as_str().to_owned(),
            sink: d.sink.clone(),
            outcome: match &d.outcome {
                CommandOutcome::Done => StoredOutcome::Done,
                CommandOutcome::AlreadyDone => StoredOutcome::AlreadyDone,
                CommandOutcome::Refused { reason } => StoredOutcome::Refused {
                    reason: reason.clone(),
                },
            },
        }
    }
}

impl TryFrom<StoredDecision> for Decision {
    type Error = String;
    fn try_from(s: StoredDecision) -> Result<Self, String> {
        Ok(Decision {
            kind: s.kind,
            delivery_no: DocNo::new(s.delivery_no).map_err(|e| e.to_string())?,
            sink: s.sink,
            outcome: match s.outcome {
                StoredOutcome::Done => CommandOutcome::Done,
                StoredOutcome::AlreadyDone => CommandOutcome::AlreadyDone,
                StoredOutcome::Refused { reason } => CommandOutcome::Refused { reason },
            },
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open command record {path}: {source}")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
    #[error("command record {op} failed: {source}")]
    Storage {
        op: &'static str,
        source: redb::Error,
    },
    #[error("command record entry {what} is corrupt: {reason}")]
    Corrupt { what: String, reason: String },
    #[error("state of sink {sink} is {len} bytes, more than {SINK_STATE_BYTES_MAX}")]
    StateTooLarge { sink: String, len: usize },
}

fn storage<E: Into<redb::Error>>(op: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Storage {
        op,
        source: e.into(),
    }
}

fn decode(bytes: &[u8], seq: u64) -> Result<Decision, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        what: format!("seq {seq}"),
        reason,
    };
    let stored: StoredDecision = match bytes.split_first() {
        Some((&STORAGE_V1, rest)) => {
            postcard::from_bytes(rest).map_err(|e| corrupt(e.to_string()))?
        }
        Some((v, _)) => {
            return Err(corrupt(format!(
                "storage version {v}, this agent reads {STORAGE_V1}"
            )));
        }
        None => return Err(corrupt("empty value".into())),
    };
    Decision::try_from(stored).map_err(corrupt)
}

/// The durable record of decided commands. `Send + Sync`.
pub struct CommandStore {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for CommandStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandStore")
            .field("path", &self.path)
            .finish()
    }
}

impl CommandStore {
    /// Opens (or creates) the record at `path`.
    pub fn open(path: &Path) -> Result<CommandStore, StoreError> {
        let db = Builder::new()
            .set_cache_size(COMMANDS_CACHE_BYTES)
            .create(path)
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        let txn = db.begin_write().map_err(storage("open"))?;
        txn.open_table(DECIDED).map_err(storage("open"))?;
        txn.open_table(DELIVERIES).map_err(storage("open"))?;
        txn.open_table(SINK_STATE).map_err(storage("open"))?;
        txn.commit().map_err(storage("open"))?;
        Ok(CommandStore {
            db,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The decision of `seq`, if recorded (and not trimmed).
    pub fn decision(&self, seq: u64) -> Result<Option<Decision>, StoreError> {
        let txn = self.db.begin_read().map_err(storage("read"))?;
        let table = txn.open_table(DECIDED).map_err(storage("read"))?;
        match table.get(seq).map_err(storage("read"))? {
            Some(v) => Ok(Some(decode(v.value(), seq)?)),
            None => Ok(None),
        }
    }

    /// The decision that applied command `kind` for `delivery_no`, with its seq.
    pub fn delivery(
        &self,
        kind: &str,
        delivery_no: &DocNo,
    ) -> Result<Option<(u64, Decision)>, StoreError> {
        let txn = self.db.begin_read().map_err(storage("read"))?;
        let index = txn.open_table(DELIVERIES).map_err(storage("read"))?;
        let Some(seq) = index
            .get((kind, delivery_no.as_str()))
            .map_err(storage("read"))?
            .map(|v| v.value())
        else {
            return Ok(None);
        };
        let decided = txn.open_table(DECIDED).map_err(storage("read"))?;
        match decided.get(seq).map_err(storage("read"))? {
            Some(v) => Ok(Some((seq, decode(v.value(), seq)?))),
            None => Err(StoreError::Corrupt {
                what: format!("delivery {kind}/{delivery_no}"),
                reason: format!("points at seq {seq}, which is not recorded"),
            }),
        }
    }

    /// The state recorded with `sink`'s last decision.
    pub fn sink_state(&self, sink: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read().map_err(storage("read"))?;
        let table = txn.open_table(SINK_STATE).map_err(storage("read"))?;
        Ok(table
            .get(sink)
            .map_err(storage("read"))?
            .map(|v| v.value().to_vec()))
    }

    /// Records `decision` for `seq`, with `state` as the new recovery state of its sink, in one
    /// durable transaction; trims the oldest decisions beyond [`DECISIONS_KEPT`].
    pub fn record(
        &self,
        seq: u64,
        decision: &Decision,
        state: Option<&[u8]>,
    ) -> Result<(), StoreError> {
        self.record_all(&[(seq, decision, state)])
    }

    /// Records every `(seq, decision, state)` in one durable transaction, in order (a later
    /// state of the same sink replaces an earlier one); trims as [`CommandStore::record`] does,
    /// for each.
    pub fn record_all(
        &self,
        decided: &[(u64, &Decision, Option<&[u8]>)],
    ) -> Result<(), StoreError> {
        let mut rows = Vec::with_capacity(decided.len());
        for &(seq, decision, state) in decided {
            let sink_state = match (&decision.sink, state) {
                (Some(sink), Some(state)) if state.len() > SINK_STATE_BYTES_MAX => {
                    return Err(StoreError::StateTooLarge {
                        sink: sink.clone(),
                        len: state.len(),
                    });
                }
                (Some(sink), Some(state)) => Some((sink.as_str(), state)),
                _ => None,
            };
            let value = postcard::to_extend(&StoredDecision::from(decision), vec![STORAGE_V1])
                .map_err(|e| StoreError::Corrupt {
                    what: format!("seq {seq}"),
                    reason: format!("cannot encode: {e}"),
                })?;
            rows.push((seq, decision, value, sink_state));
        }
        let txn = self.db.begin_write().map_err(storage("record"))?;
        {
            let mut decided = txn.open_table(DECIDED).map_err(storage("record"))?;
            let mut index = txn.open_table(DELIVERIES).map_err(storage("record"))?;
            let mut states = txn.open_table(SINK_STATE).map_err(storage("record"))?;
            for (seq, decision, value, sink_state) in &rows {
                decided
                    .insert(*seq, value.as_slice())
                    .map_err(storage("record"))?;
                if decision.applied() {
                    index
                        .insert(
                            (decision.kind.as_str(), decision.delivery_no.as_str()),
                            *seq,
                        )
                        .map_err(storage("record"))?;
                }
                if let Some((sink, state)) = sink_state {
                    states.insert(*sink, *state).map_err(storage("record"))?;
                }
            }
            let newest = rows.iter().map(|r| r.0).max();
            if let Some(trim_to) = newest.and_then(|seq| seq.checked_sub(DECISIONS_KEPT)) {
                let mut old = Vec::new();
                for entry in decided.range(..=trim_to).map_err(storage("trim"))? {
                    let (k, v) = entry.map_err(storage("trim"))?;
                    let seq = k.value();
                    // A corrupt old decision still goes; its index entry cannot be found.
                    old.push((seq, decode(v.value(), seq).ok()));
                    if old.len() >= TRIM_PER_RECORD_MAX * rows.len() {
                        break;
                    }
                }
                for (old_seq, d) in old {
                    decided.remove(old_seq).map_err(storage("trim"))?;
                    let Some(d) = d else { continue };
                    let key = (d.kind.as_str(), d.delivery_no.as_str());
                    let points_here = index
                        .get(key)
                        .map_err(storage("trim"))?
                        .is_some_and(|v| v.value() == old_seq);
                    if points_here {
                        index.remove(key).map_err(storage("trim"))?;
                    }
                }
            }
        }
        txn.commit().map_err(storage("record"))
    }

    /// Decisions held (for tests and `check`).
    pub fn len(&self) -> Result<u64, StoreError> {
        let txn = self.db.begin_read().map_err(storage("read"))?;
        let table = txn.open_table(DECIDED).map_err(storage("read"))?;
        redb::ReadableTableMetadata::len(&table).map_err(storage("read"))
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(no: &str, outcome: CommandOutcome) -> Decision {
        Decision {
            kind: "create_delivery".into(),
            delivery_no: DocNo::new(no).unwrap(),
            sink: Some("wms".into()),
            outcome,
        }
    }

    #[test]
    fn decisions_and_states_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(COMMANDS_FILE);
        {
            let store = CommandStore::open(&path).unwrap();
            store
                .record(1, &decision("D-1", CommandOutcome::Done), Some(b"s1"))
                .unwrap();
            let refused = CommandOutcome::Refused {
                reason: "no".into(),
            };
            store
                .record(2, &decision("D-2", refused), Some(b"s2"))
                .unwrap();
        }
        let store = CommandStore::open(&path).unwrap();
        assert_eq!(
            store.decision(1).unwrap(),
            Some(decision("D-1", CommandOutcome::Done))
        );
        let d1 = DocNo::new("D-1").unwrap();
        assert_eq!(
            store
                .delivery("create_delivery", &d1)
                .unwrap()
                .map(|(s, _)| s),
            Some(1)
        );
        assert_eq!(store.delivery("cancel_delivery", &d1).unwrap(), None);
        let d2 = DocNo::new("D-2").unwrap();
        assert_eq!(
            store.delivery("create_delivery", &d2).unwrap(),
            None,
            "a refused delivery is not indexed: it may be sent again"
        );
        assert_eq!(
            store.sink_state("wms").unwrap().as_deref(),
            Some(&b"s2"[..])
        );
        assert_eq!(store.decision(3).unwrap(), None);
    }

    #[test]
    fn old_decisions_are_trimmed_with_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = CommandStore::open(&dir.path().join(COMMANDS_FILE)).unwrap();
        store
            .record(5, &decision("D-old", CommandOutcome::Done), None)
            .unwrap();
        store
            .record(
                DECISIONS_KEPT + 5,
                &decision("D-new", CommandOutcome::Done),
                None,
            )
            .unwrap();
        assert_eq!(store.decision(5).unwrap(), None);
        let old = DocNo::new("D-old").unwrap();
        assert_eq!(store.delivery("create_delivery", &old).unwrap(), None);
        assert_eq!(store.len().unwrap(), 1);
    }
}
