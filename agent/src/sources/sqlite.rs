//! A table in a SQLite database, polled with a composite cursor.
//!
//! The user's query returns rows strictly after the cursor in cursor order
//! (`WHERE (updated_at, id) > (?1, ?2) ORDER BY updated_at, id LIMIT ?3`). After each chunk the
//! cursor becomes the last row's cursor columns, stored typed (integer, real, text, blob) with
//! the chunk. The tie-breaking column makes the cursor exact: rows sharing an `updated_at` are
//! never skipped at a chunk boundary, and a row written later with the same `updated_at` but a
//! higher id is still after the cursor.

use super::{PollReport, Source, SourceError, cut};
use crate::config::{CursorValue, SqliteSettings};
use crate::mapping::{Mapping, RowError};
use crate::outbox::{Outbox, QUARANTINE_RAW_BYTES_MAX, QuarantinedRow};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ToSql};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::time::Duration;
use xt_shared::ids::SourceName;

#[cfg(test)]
mod tests;

/// Leading byte of a stored sqlite cursor.
const CURSOR_V1: u8 = 1;
/// `check` counts pending rows up to this many.
const CHECK_COUNT_MAX: i64 = 1_000_000;

/// One cursor value, typed as SQLite returned it, so that it compares the same when bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Cell {
    Int(i64),
    Real(f64),
    /// Text bytes as stored (normally UTF-8), kept exact so the cursor binds back identically.
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

impl ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Cell::Int(v) => ValueRef::Integer(*v),
            Cell::Real(v) => ValueRef::Real(*v),
            Cell::Text(v) => ValueRef::Text(v),
            Cell::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Int(v) => write!(f, "{v}"),
            Cell::Real(v) => write!(f, "{v}"),
            Cell::Text(v) => write!(f, "{:?}", String::from_utf8_lossy(v)),
            Cell::Blob(v) => write!(f, "x'{}'", hex::encode(v)),
        }
    }
}

impl From<&CursorValue> for Cell {
    fn from(v: &CursorValue) -> Self {
        match v {
            CursorValue::Int(v) => Cell::Int(*v),
            CursorValue::Real(v) => Cell::Real(*v),
            CursorValue::Text(v) => Cell::Text(v.clone().into_bytes()),
        }
    }
}

/// A row's columns as text for the mapping: SQL NULL is `""`, numbers print in full, text must
/// be UTF-8.
fn cell_text(value: ValueRef<'_>, column: &str) -> Result<String, RowError> {
    let utf8 = |bytes: &[u8]| {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| RowError::Encoding {
                column: column.to_owned(),
                encoding: "utf-8",
            })
    };
    match value {
        ValueRef::Null => Ok(String::new()),
        ValueRef::Integer(v) => Ok(v.to_string()),
        ValueRef::Real(v) => Ok(v.to_string()),
        ValueRef::Text(b) | ValueRef::Blob(b) => utf8(b),
    }
}

fn encode_cursor(cells: &[Cell]) -> Vec<u8> {
    // Encoding plain enums of numbers, strings and bytes into a Vec cannot fail.
    postcard::to_extend(cells, vec![CURSOR_V1]).unwrap_or_else(|_| vec![CURSOR_V1])
}

fn decode_cursor(bytes: &[u8]) -> Result<Vec<Cell>, String> {
    match bytes.split_first() {
        Some((&CURSOR_V1, rest)) => postcard::from_bytes(rest).map_err(|e| e.to_string()),
        Some((v, _)) => Err(format!("cursor version {v}, this agent reads {CURSOR_V1}")),
        None => Err("empty cursor".into()),
    }
}

/// SQLite's type affinity rule, reduced to: is this declared type TEXT affinity?
fn is_text_affinity(decl_type: Option<&str>) -> bool {
    let t = decl_type.unwrap_or("").to_ascii_uppercase();
    !t.contains("INT") && (t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT"))
}

/// The shape of the query, learned once per poll from the prepared statement.
struct Shape {
    columns: Vec<String>,
    cursor_idx: Vec<usize>,
    initial: Vec<Cell>,
}

pub struct SqliteSource {
    name: SourceName,
    mapping: Mapping,
    settings: SqliteSettings,
    conn: Option<Connection>,
    /// The cursor after the last poll, for `check`.
    last_cursor: Option<Vec<Cell>>,
}

impl SqliteSource {
    pub fn new(name: SourceName, mapping: Mapping, settings: SqliteSettings) -> Self {
        SqliteSource {
            name,
            mapping,
            settings,
            conn: None,
            last_cursor: None,
        }
    }

    fn sql_err(&self) -> impl FnOnce(rusqlite::Error) -> SourceError + '_ {
        |source| SourceError::Sqlite {
            name: self.name.clone(),
            path: self.settings.path.clone(),
            source: Box::new(source),
        }
    }

    /// Opens the database read-only if it is not open yet.
    fn connect(&mut self) -> Result<(), SourceError> {
        if self.conn.is_none() {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn =
                Connection::open_with_flags(&self.settings.path, flags).map_err(self.sql_err())?;
            conn.busy_timeout(Duration::from_millis(self.settings.busy_timeout_ms))
                .map_err(self.sql_err())?;
            self.conn = Some(conn);
        }
        Ok(())
    }

    fn conn(&self) -> Result<&Connection, SourceError> {
        self.conn
            .as_ref()
            .ok_or_else(|| SourceError::invalid(&self.name, "sqlite connection is not open"))
    }

    fn shape(&self, stmt: &rusqlite::Statement<'_>) -> Result<Shape, SourceError> {
        let expected = self.settings.cursor.len() + 1;
        if stmt.parameter_count() != expected {
            return Err(SourceError::invalid(
                &self.name,
                format!(
                    "sqlite.query has {} parameter(s), expected {expected} (the cursor columns, then the limit)",
                    stmt.parameter_count()
                ),
            ));
        }
        let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
        let decl: Vec<Option<String>> = stmt
            .columns()
            .iter()
            .map(|c| c.decl_type().map(String::from))
            .collect();
        let mut cursor_idx = Vec::new();
        let mut initial = Vec::new();
        for name in &self.settings.cursor {
            let Some(i) = columns.iter().position(|c| c == name) else {
                return Err(SourceError::invalid(
                    &self.name,
                    format!("cursor column {name:?} is not a result column of sqlite.query"),
                ));
            };
            cursor_idx.push(i);
            initial.push(if is_text_affinity(decl[i].as_deref()) {
                Cell::Text(Vec::new())
            } else {
                Cell::Int(i64::MIN)
            });
        }
        if let Some(given) = &self.settings.initial_cursor {
            initial = given.iter().map(Cell::from).collect();
        }
        for column in self.mapping.columns() {
            if !columns.iter().any(|c| c == column) {
                return Err(SourceError::invalid(
                    &self.name,
                    format!("mapped column {column:?} is not a result column of sqlite.query"),
                ));
            }
        }
        Ok(Shape {
            columns,
            cursor_idx,
            initial,
        })
    }

    fn stored_cursor(&self, outbox: &Outbox) -> Result<Option<Vec<Cell>>, SourceError> {
        let Some(bytes) = outbox
            .cursor(&self.name)
            .map_err(SourceError::outbox(&self.name))?
        else {
            return Ok(None);
        };
        let cells = decode_cursor(&bytes).map_err(|reason| {
            SourceError::invalid(&self.name, format!("stored cursor is corrupt: {reason}"))
        })?;
        if cells.len() != self.settings.cursor.len() {
            return Err(SourceError::invalid(
                &self.name,
                format!(
                    "stored cursor has {} value(s) but sqlite.cursor names {} column(s): the cursor changed after the source synced; use a new source name",
                    cells.len(),
                    self.settings.cursor.len()
                ),
            ));
        }
        Ok(Some(cells))
    }

    fn poll_chunk(&mut self, outbox: &Outbox) -> Result<PollReport, SourceError> {
        let stored = self.stored_cursor(outbox)?;
        let limit = self.settings.batch_rows;
        self.connect()?;
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&self.settings.query).map_err(self.sql_err())?;
        let shape = self.shape(&stmt)?;
        let cursor = stored.unwrap_or_else(|| shape.initial.clone());
        let params = cursor.iter().cloned().chain([Cell::Int(limit as i64)]);
        let mut rows = stmt
            .query(rusqlite::params_from_iter(params))
            .map_err(self.sql_err())?;

        let mut good = Vec::new();
        let mut quarantined = Vec::new();
        let mut last: Option<Vec<Cell>> = None;
        let mut fetched = 0usize;
        while fetched < limit {
            let Some(row) = rows.next().map_err(self.sql_err())? else {
                break;
            };
            fetched += 1;
            let mut key = Vec::with_capacity(shape.cursor_idx.len());
            for (&i, name) in shape.cursor_idx.iter().zip(&self.settings.cursor) {
                key.push(match row.get_ref(i).map_err(self.sql_err())? {
                    ValueRef::Integer(v) => Cell::Int(v),
                    ValueRef::Real(v) => Cell::Real(v),
                    ValueRef::Text(v) => Cell::Text(v.to_vec()),
                    ValueRef::Blob(v) => Cell::Blob(v.to_vec()),
                    ValueRef::Null => {
                        return Err(SourceError::invalid(
                            &self.name,
                            format!(
                                "cursor column {name:?} is null in a row after cursor ({}); cursor columns must be NOT NULL",
                                render(&cursor)
                            ),
                        ));
                    }
                });
            }
            let mut texts = Vec::with_capacity(shape.columns.len());
            for (i, column) in shape.columns.iter().enumerate() {
                texts.push(cell_text(row.get_ref(i).map_err(self.sql_err())?, column));
            }
            let mapped = match texts.iter().find_map(|t| t.as_ref().err()) {
                Some(e) => Err(e.clone()),
                None => {
                    let get = |column: &str| {
                        let i = shape.columns.iter().position(|c| c == column)?;
                        texts[i].as_deref().ok()
                    };
                    self.mapping.map(&get)
                }
            };
            match mapped {
                Ok(row) => good.push(row),
                Err(reason) => quarantined.push(QuarantinedRow {
                    location: format!("row cursor=({})", render(&key)),
                    reason: reason.to_string(),
                    raw: raw_row(&shape.columns, &texts),
                }),
            }
            last = Some(key);
        }
        drop(rows);
        drop(stmt);

        let Some(last) = last else {
            let progress = outbox
                .source_progress(&self.name)
                .map_err(SourceError::outbox(&self.name))?;
            self.last_cursor = Some(cursor);
            return Ok(PollReport {
                durable_seq: progress.durable_seq,
                ..PollReport::default()
            });
        };
        let report = PollReport {
            rows: good.len() as u64,
            quarantined: quarantined.len() as u64,
            durable_seq: 0,
            more: fetched == limit,
        };
        let durable_seq = outbox
            .commit(&self.name, good, quarantined, Some(&encode_cursor(&last)))
            .map_err(SourceError::outbox(&self.name))?;
        self.last_cursor = Some(last);
        Ok(PollReport {
            durable_seq,
            ..report
        })
    }

    fn count_pending(&mut self) -> Result<String, SourceError> {
        self.connect()?;
        let conn = self.conn()?;
        let stmt = conn.prepare(&self.settings.query).map_err(self.sql_err())?;
        let shape = self.shape(&stmt)?;
        drop(stmt);
        let (cursor, which) = match &self.last_cursor {
            Some(c) => (c.clone(), "the last polled cursor"),
            None => (shape.initial.clone(), "the initial cursor"),
        };
        let query = self.settings.query.trim().trim_end_matches(';');
        let count_sql = format!("SELECT count(*) FROM ({query})");
        let params = cursor.into_iter().chain([Cell::Int(CHECK_COUNT_MAX)]);
        let count: i64 = conn
            .query_row(&count_sql, rusqlite::params_from_iter(params), |r| r.get(0))
            .map_err(self.sql_err())?;
        let plus = if count >= CHECK_COUNT_MAX { "+" } else { "" };
        Ok(format!(
            "sqlite {}: query ok, {count}{plus} rows after {which}",
            self.settings.path.display()
        ))
    }
}

fn render(cells: &[Cell]) -> String {
    let mut out = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{c}");
    }
    out
}

fn raw_row(columns: &[String], texts: &[Result<String, RowError>]) -> String {
    let mut out = String::new();
    for (i, (column, text)) in columns.iter().zip(texts).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = match text {
            Ok(t) => write!(out, "{column}={t}"),
            Err(_) => write!(out, "{column}=<undecodable>"),
        };
        if out.len() > QUARANTINE_RAW_BYTES_MAX {
            break;
        }
    }
    cut(&mut out, QUARANTINE_RAW_BYTES_MAX);
    out
}

impl Source for SqliteSource {
    fn name(&self) -> &SourceName {
        &self.name
    }

    fn poll(&mut self, outbox: &Outbox) -> Result<PollReport, SourceError> {
        let result = self.poll_chunk(outbox);
        if matches!(result, Err(SourceError::Sqlite { .. })) {
            // Reopen next time: the file may have been replaced or the handle broken.
            self.conn = None;
        }
        result
    }

    fn check(&mut self) -> Result<String, SourceError> {
        let result = self.count_pending();
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}
