//! The durable outbox: every change a source read, numbered per source, until the hub has it.
//!
//! One redb file (`<data_dir>/outbox.redb`) with three tables, all keyed by source name first so
//! that each source's data is one contiguous range:
//! - `rows`: `(source, seq)` → a stored change (version, body);
//! - `quarantine`: `(source, n)` → a refused row, numbered from 1 per source (the newest
//!   [`QUARANTINE_ROWS_KEPT`] are kept, the count is kept forever);
//! - `sources`: `source` → its seqs (durable, acked), quarantine count and read cursor.
//!
//! Invariants: per source, the rows present are exactly `acked_seq + 1 ..= durable_seq`, seqs
//! start at 1 and never repeat; rows, quarantine and cursor of one chunk become durable in one
//! transaction (so a source resumes exactly after what the outbox holds).
//!
//! Storage encodings are separate from the wire types: each value is a version byte
//! ([`STORAGE_V1`]) followed by postcard bytes of a private stored struct.

use redb::{Builder, Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::path::{Path, PathBuf};
use xt_shared::change::{Body, SourceChange};
use xt_shared::ids::SourceName;

#[cfg(test)]
mod tests;

/// File name of the outbox inside the data dir.
pub const OUTBOX_FILE: &str = "outbox.redb";
/// Leading byte of every stored value.
pub const STORAGE_V1: u8 = 1;
/// Most rows one `commit` takes.
pub const COMMIT_ROWS_MAX: usize = 200_000;
/// Quarantined rows kept per source (older ones are dropped; the count stays exact).
pub const QUARANTINE_ROWS_KEPT: u64 = 100_000;
/// Longest `raw` of a quarantined row kept, in bytes (longer ones are cut at a char boundary).
pub const QUARANTINE_RAW_BYTES_MAX: usize = 4096;
/// Longest `reason` or `location` of a quarantined row kept, in bytes.
pub const QUARANTINE_TEXT_BYTES_MAX: usize = 1024;
/// Largest cursor a source may store, in bytes.
pub const CURSOR_BYTES_MAX: usize = 64 * 1024;
/// Page cache of an outbox opened with [`Outbox::open`], in bytes (redb's own default is 1 GiB,
/// which lets the cache grow with the backlog). The agent sizes it from its memory budget.
pub const OUTBOX_CACHE_BYTES_DEFAULT: usize = 4 * 1024 * 1024;

const ROWS: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("rows");
const QUARANTINE: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("quarantine");
const SOURCES: TableDefinition<&str, &[u8]> = TableDefinition::new("sources");

/// Where one source stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceProgress {
    pub source: SourceName,
    /// Highest seq durable in the outbox (0: none yet).
    pub durable_seq: u64,
    /// Highest seq the hub acknowledged; rows up to it are gone from the outbox.
    pub acked_seq: u64,
    /// Rows refused since the outbox was created.
    pub quarantined: u64,
}

impl SourceProgress {
    /// Changes in the outbox not yet acknowledged.
    pub fn backlog(&self) -> u64 {
        self.durable_seq.saturating_sub(self.acked_seq)
    }
}

/// A row a source refused, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRow {
    /// Where the row was, e.g. `stock_20261126.csv line 17` or `row cursor=(…)`.
    pub location: String,
    pub reason: String,
    /// The row as read, for a human to fix (cut to [`QUARANTINE_RAW_BYTES_MAX`]).
    pub raw: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot open outbox {path}: {source}")]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
    #[error("outbox {op} failed: {source}")]
    Storage {
        op: &'static str,
        source: redb::Error,
    },
    #[error("outbox entry {what} is corrupt: {reason}")]
    Corrupt { what: String, reason: String },
    #[error("cannot encode outbox entry {what}: {reason}")]
    Encode { what: String, reason: String },
    #[error("cursor of source {name} is {len} bytes, more than {CURSOR_BYTES_MAX}")]
    CursorTooLarge { name: SourceName, len: usize },
    #[error("commit of {rows} rows for source {name} is more than {COMMIT_ROWS_MAX}")]
    TooManyRows { name: SourceName, rows: usize },
    #[error("outbox of source {name} has a gap: seq {found} where {expected} was expected")]
    Gap {
        name: SourceName,
        expected: u64,
        found: u64,
    },
}

fn storage<E: Into<redb::Error>>(op: &'static str) -> impl FnOnce(E) -> OutboxError {
    move |e| OutboxError::Storage {
        op,
        source: e.into(),
    }
}

/// The per-source record, as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoredSource {
    durable_seq: u64,
    acked_seq: u64,
    quarantined: u64,
    cursor: Option<Vec<u8>>,
}

/// A change as stored: the seq is the key. Field order matches `SourceChange` after `seq`, so
/// the wire size of a change is the stored size plus the seq's varint (see [`wire_bytes`]).
#[derive(Serialize)]
struct StoredRowRef<'a> {
    version: i64,
    body: &'a Body,
}

#[derive(Deserialize)]
struct StoredRow {
    version: i64,
    body: Body,
}

fn encode<T: Serialize>(value: &T, what: impl FnOnce() -> String) -> Result<Vec<u8>, OutboxError> {
    postcard::to_extend(value, vec![STORAGE_V1]).map_err(|e| OutboxError::Encode {
        what: what(),
        reason: e.to_string(),
    })
}

fn decode<T: DeserializeOwned>(bytes: &[u8], what: impl Fn() -> String) -> Result<T, OutboxError> {
    match bytes.split_first() {
        Some((&STORAGE_V1, rest)) => postcard::from_bytes(rest).map_err(|e| OutboxError::Corrupt {
            what: what(),
            reason: e.to_string(),
        }),
        Some((v, _)) => Err(OutboxError::Corrupt {
            what: what(),
            reason: format!("storage version {v}, this agent reads {STORAGE_V1}"),
        }),
        None => Err(OutboxError::Corrupt {
            what: what(),
            reason: "empty value".into(),
        }),
    }
}

/// Bytes of a postcard varint holding `n`.
fn varint_bytes(n: u64) -> usize {
    (64 - (n | 1).leading_zeros() as usize).div_ceil(7)
}

/// Encoded (postcard) size of the `SourceChange` with `seq` whose stored value is `stored`.
fn wire_bytes(seq: u64, stored: &[u8]) -> usize {
    varint_bytes(seq) + stored.len().saturating_sub(1)
}

/// Cuts `s` to at most `max` bytes at a char boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The durable outbox. `Send + Sync`; share it behind an `Arc`.
pub struct Outbox {
    db: Database,
    path: PathBuf,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("path", &self.path).finish()
    }
}

impl Outbox {
    /// Opens (or creates) the outbox file at `path`, with a page cache of
    /// [`OUTBOX_CACHE_BYTES_DEFAULT`].
    pub fn open(path: &Path) -> Result<Outbox, OutboxError> {
        Outbox::open_with_cache(path, OUTBOX_CACHE_BYTES_DEFAULT)
    }

    /// Opens (or creates) the outbox file at `path`; redb's page cache (reads and the write
    /// buffer together) stays within `cache_bytes`, whatever the backlog.
    pub fn open_with_cache(path: &Path, cache_bytes: usize) -> Result<Outbox, OutboxError> {
        let db = Builder::new()
            .set_cache_size(cache_bytes)
            .create(path)
            .map_err(|source| OutboxError::Open {
                path: path.to_owned(),
                source,
            })?;
        // Create the tables once so that readers never meet a missing table.
        let txn = db.begin_write().map_err(storage("open"))?;
        txn.open_table(ROWS).map_err(storage("open"))?;
        txn.open_table(QUARANTINE).map_err(storage("open"))?;
        txn.open_table(SOURCES).map_err(storage("open"))?;
        txn.commit().map_err(storage("open"))?;
        Ok(Outbox {
            db,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `rows` (version, body) as the next seqs of `source`, records the quarantined rows
    /// and stores `cursor` (`None` keeps the stored one) — all in ONE durable write transaction.
    /// Returns the source's durable seq after it. A row without a version gets its seq as version.
    pub fn commit(
        &self,
        source: &SourceName,
        rows: Vec<(Option<i64>, Body)>,
        quarantined: Vec<QuarantinedRow>,
        cursor: Option<&[u8]>,
    ) -> Result<u64, OutboxError> {
        if rows.len() > COMMIT_ROWS_MAX {
            return Err(OutboxError::TooManyRows {
                name: source.clone(),
                rows: rows.len(),
            });
        }
        if let Some(c) = cursor.filter(|c| c.len() > CURSOR_BYTES_MAX) {
            return Err(OutboxError::CursorTooLarge {
                name: source.clone(),
                len: c.len(),
            });
        }
        let name = source.as_str();
        let txn = self.db.begin_write().map_err(storage("commit"))?;
        let durable = {
            let mut sources = txn.open_table(SOURCES).map_err(storage("commit"))?;
            let mut meta = load_source(&sources, source)?;
            let mut table = txn.open_table(ROWS).map_err(storage("commit"))?;
            let mut buf = Vec::new();
            for (version, body) in &rows {
                let seq = meta.durable_seq + 1;
                let version = version.unwrap_or(seq as i64);
                buf.clear();
                buf.push(STORAGE_V1);
                buf = postcard::to_extend(&StoredRowRef { version, body }, buf).map_err(|e| {
                    OutboxError::Encode {
                        what: format!("{name}/{seq}"),
                        reason: e.to_string(),
                    }
                })?;
                table
                    .insert((name, seq), buf.as_slice())
                    .map_err(storage("commit"))?;
                meta.durable_seq = seq;
            }
            if !quarantined.is_empty() {
                let mut table = txn.open_table(QUARANTINE).map_err(storage("commit"))?;
                let before = meta.quarantined;
                for row in quarantined {
                    meta.quarantined += 1;
                    let row = QuarantinedRow {
                        location: cut(row.location, QUARANTINE_TEXT_BYTES_MAX),
                        reason: cut(row.reason, QUARANTINE_TEXT_BYTES_MAX),
                        raw: cut(row.raw, QUARANTINE_RAW_BYTES_MAX),
                    };
                    let n = meta.quarantined;
                    let value = encode(&row, || format!("quarantine {name}/{n}"))?;
                    table
                        .insert((name, n), value.as_slice())
                        .map_err(storage("commit"))?;
                }
                // Keep the newest QUARANTINE_ROWS_KEPT: drop what just fell out of the window.
                let drop_from = before.saturating_sub(QUARANTINE_ROWS_KEPT) + 1;
                let drop_to = meta.quarantined.saturating_sub(QUARANTINE_ROWS_KEPT);
                if drop_to >= drop_from {
                    table
                        .retain_in((name, drop_from)..=(name, drop_to), |_, _| false)
                        .map_err(storage("commit"))?;
                }
            }
            if let Some(c) = cursor {
                meta.cursor = Some(c.to_vec());
            }
            store_source(&mut sources, source, &meta)?;
            meta.durable_seq
        };
        txn.commit().map_err(storage("commit"))?;
        Ok(durable)
    }

    /// The cursor `source` stored with its last commit.
    pub fn cursor(&self, source: &SourceName) -> Result<Option<Vec<u8>>, OutboxError> {
        Ok(self.source_record(source)?.cursor)
    }

    /// Changes with seq in `from..=to`, at most `rows_max` of them, stopping before the encoded
    /// size (postcard) would exceed `bytes_max` (but always at least one row if any).
    pub fn read(
        &self,
        source: &SourceName,
        from_seq: u64,
        to_seq: u64,
        rows_max: usize,
        bytes_max: usize,
    ) -> Result<Vec<SourceChange>, OutboxError> {
        let name = source.as_str();
        let txn = self.db.begin_read().map_err(storage("read"))?;
        let meta = {
            let sources = txn.open_table(SOURCES).map_err(storage("read"))?;
            load_source(&sources, source)?
        };
        let table = txn.open_table(ROWS).map_err(storage("read"))?;
        let mut out = Vec::new();
        if from_seq > to_seq || rows_max == 0 {
            return Ok(out);
        }
        let mut expected = from_seq.max(meta.acked_seq + 1);
        let mut bytes = 0usize;
        for entry in table
            .range((name, from_seq)..=(name, to_seq))
            .map_err(storage("read"))?
        {
            let (key, value) = entry.map_err(storage("read"))?;
            let seq = key.value().1;
            if seq != expected {
                return Err(OutboxError::Gap {
                    name: source.clone(),
                    expected,
                    found: seq,
                });
            }
            let value = value.value();
            let size = wire_bytes(seq, value);
            if !out.is_empty() && bytes + size > bytes_max {
                break;
            }
            let row: StoredRow = decode(value, || format!("{name}/{seq}"))?;
            out.push(SourceChange {
                seq,
                version: row.version,
                body: row.body,
            });
            bytes += size;
            expected = seq + 1;
            if out.len() >= rows_max {
                break;
            }
        }
        // Everything asked for that the outbox should hold must be there.
        let last_held = to_seq.min(meta.durable_seq);
        if out.is_empty() && expected <= last_held {
            return Err(OutboxError::Gap {
                name: source.clone(),
                expected,
                found: 0,
            });
        }
        Ok(out)
    }

    /// The hub has everything up to `up_to`: delete those rows, remember the acked seq
    /// (monotonic). An ack beyond the durable seq (the outbox was lost) also moves the durable
    /// seq there, like [`Outbox::skip_to`], so that new rows never reuse a seq the hub applied.
    ///
    /// The trim is not made durable by itself (it rides on the next durable commit): losing it
    /// in a crash only means resending rows the hub will skip, and it keeps an fsync per ack
    /// off the sync path.
    pub fn trim(&self, source: &SourceName, up_to: u64) -> Result<(), OutboxError> {
        self.advance(source, up_to, "trim", Durability::None)
    }

    /// The hub applied more than we ever had (outbox lost): make the next seq at least
    /// `hub_seq + 1` and the acked seq `hub_seq` (never lowering either).
    pub fn skip_to(&self, source: &SourceName, hub_seq: u64) -> Result<(), OutboxError> {
        self.advance(source, hub_seq, "skip_to", Durability::Immediate)
    }

    fn advance(
        &self,
        source: &SourceName,
        up_to: u64,
        op: &'static str,
        durability: Durability,
    ) -> Result<(), OutboxError> {
        let name = source.as_str();
        let mut txn = self.db.begin_write().map_err(storage(op))?;
        txn.set_durability(durability).map_err(storage(op))?;
        {
            let mut sources = txn.open_table(SOURCES).map_err(storage(op))?;
            let mut meta = load_source(&sources, source)?;
            if up_to <= meta.acked_seq {
                return Ok(());
            }
            if up_to > meta.durable_seq {
                tracing::warn!(
                    source = name,
                    hub_seq = up_to,
                    durable_seq = meta.durable_seq,
                    "the hub has more of this source than the outbox: continuing after the hub's seq"
                );
                meta.durable_seq = up_to;
            }
            let mut table = txn.open_table(ROWS).map_err(storage(op))?;
            table
                .retain_in((name, meta.acked_seq + 1)..=(name, up_to), |_, _| false)
                .map_err(storage(op))?;
            meta.acked_seq = up_to;
            store_source(&mut sources, source, &meta)?;
        }
        txn.commit().map_err(storage(op))
    }

    /// Where every source that ever committed stands.
    pub fn progress(&self) -> Result<Vec<SourceProgress>, OutboxError> {
        let txn = self.db.begin_read().map_err(storage("progress"))?;
        let sources = txn.open_table(SOURCES).map_err(storage("progress"))?;
        let mut out = Vec::new();
        for entry in sources.iter().map_err(storage("progress"))? {
            let (key, value) = entry.map_err(storage("progress"))?;
            let name = key.value();
            let source = SourceName::new(name).map_err(|e| OutboxError::Corrupt {
                what: format!("source {name:?}"),
                reason: e.to_string(),
            })?;
            let meta: StoredSource = decode(value.value(), || format!("source {name}"))?;
            out.push(progress_of(source, &meta));
        }
        Ok(out)
    }

    /// Where `source` stands (all zero before its first commit).
    pub fn source_progress(&self, source: &SourceName) -> Result<SourceProgress, OutboxError> {
        Ok(progress_of(source.clone(), &self.source_record(source)?))
    }

    /// The quarantined rows of `source` still kept, oldest first.
    pub fn quarantined_rows(
        &self,
        source: &SourceName,
    ) -> Result<Vec<QuarantinedRow>, OutboxError> {
        self.quarantined_since(source, 0)
    }

    /// The kept quarantined rows of `source` numbered after `after` (compare with
    /// [`SourceProgress::quarantined`] taken earlier), oldest first.
    pub fn quarantined_since(
        &self,
        source: &SourceName,
        after: u64,
    ) -> Result<Vec<QuarantinedRow>, OutboxError> {
        let name = source.as_str();
        let txn = self.db.begin_read().map_err(storage("quarantine read"))?;
        let table = txn
            .open_table(QUARANTINE)
            .map_err(storage("quarantine read"))?;
        let mut out = Vec::new();
        let Some(first) = after.checked_add(1) else {
            return Ok(out);
        };
        for entry in table
            .range((name, first)..=(name, u64::MAX))
            .map_err(storage("quarantine read"))?
        {
            let (key, value) = entry.map_err(storage("quarantine read"))?;
            let n = key.value().1;
            out.push(decode(value.value(), || format!("quarantine {name}/{n}"))?);
        }
        Ok(out)
    }

    fn source_record(&self, source: &SourceName) -> Result<StoredSource, OutboxError> {
        let txn = self.db.begin_read().map_err(storage("read"))?;
        let sources = txn.open_table(SOURCES).map_err(storage("read"))?;
        load_source(&sources, source)
    }
}

fn progress_of(source: SourceName, meta: &StoredSource) -> SourceProgress {
    SourceProgress {
        source,
        durable_seq: meta.durable_seq,
        acked_seq: meta.acked_seq,
        quarantined: meta.quarantined,
    }
}

fn load_source(
    sources: &impl ReadableTable<&'static str, &'static [u8]>,
    source: &SourceName,
) -> Result<StoredSource, OutboxError> {
    let name = source.as_str();
    match sources.get(name).map_err(storage("read source"))? {
        Some(value) => decode(value.value(), || format!("source {name}")),
        None => Ok(StoredSource::default()),
    }
}

fn store_source(
    sources: &mut redb::Table<&'static str, &'static [u8]>,
    source: &SourceName,
    meta: &StoredSource,
) -> Result<(), OutboxError> {
    debug_assert!(meta.acked_seq <= meta.durable_seq);
    let name = source.as_str();
    let value = encode(meta, || format!("source {name}"))?;
    sources
        .insert(name, value.as_slice())
        .map_err(storage("write source"))?;
    Ok(())
}
