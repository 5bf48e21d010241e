//! A watched drop folder of CSV files, read in name order, one chunk per poll.
//!
//! Bytes are split into records by `csv_core` (see `csv/records.rs`; GBK and GB18030 trail bytes
//! never collide with `,`, `"`, CR or LF), then every field is decoded explicitly; a field that
//! does not decode, a wrong field count or a row the mapping refuses is quarantined with its
//! line number.
//!
//! The cursor, committed with each chunk, is the file, the byte offset after the last record
//! consumed and the line there, so a restart resumes exactly at the next record: no row lost,
//! none twice. A finished file gets `quarantine/<file>.rejected.csv` (rewritten from the
//! outbox, so a restart does not duplicate lines), moves to `done/`, and only then is the
//! cursor cleared. A file whose header lacks a mapped column moves to `quarantine/` whole.
//!
//! No symbolic link in the folder is ever followed (see `csv/folder.rs`): a `*.csv` link is
//! moved, as a link, to `quarantine/` with its reason; a `done/` or `quarantine/` link fails the
//! poll with an error naming it; moves never replace an existing file.

use super::{PollReport, Source, SourceError, cut};
use crate::config::CsvSettings;
use crate::mapping::{Mapping, RowError, TextEncoding};
use crate::outbox::{Outbox, QUARANTINE_RAW_BYTES_MAX, QuarantinedRow};
use folder::{Folder, NotRegular, SubdirError};
use records::{ReadError, RecordReader};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use xt_shared::ids::SourceName;

pub(crate) mod folder;
mod records;
#[cfg(test)]
mod tests;

pub use records::RECORD_BYTES_MAX;
/// Leading byte of a stored CSV cursor.
const CURSOR_V1: u8 = 1;
/// Sub-folder for finished files.
pub const DONE_DIR: &str = "done";
/// Sub-folder for rejected rows (`<file>.rejected.csv`) and rejected files.
pub const QUARANTINE_DIR: &str = "quarantine";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum Cursor {
    /// Between files.
    Idle,
    /// Inside `file`: reading resumes at byte `offset` (just after the last record consumed),
    /// which is on line `line` (1-based).
    Reading {
        file: String,
        offset: u64,
        line: u64,
        /// The source's quarantine count before this file: its rejects are the ones after it.
        quarantined_before: u64,
    },
}

impl Cursor {
    fn encode(&self) -> Vec<u8> {
        // A small enum of numbers and a string: encoding into a Vec cannot fail.
        postcard::to_extend(self, vec![CURSOR_V1]).unwrap_or_else(|_| vec![CURSOR_V1])
    }

    fn decode(bytes: &[u8]) -> Result<Cursor, String> {
        match bytes.split_first() {
            Some((&CURSOR_V1, rest)) => postcard::from_bytes(rest).map_err(|e| e.to_string()),
            Some((v, _)) => Err(format!("cursor version {v}, this agent reads {CURSOR_V1}")),
            None => Err("empty cursor".into()),
        }
    }
}

/// `*` matches any run of characters, `?` one; ASCII case is ignored.
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().map(|c| c.to_ascii_lowercase()).collect();
    let n: Vec<char> = name.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn mtime_ms(meta: &fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The files waiting in the folder.
struct Listing {
    /// Settled files, by name then mtime.
    ready: Vec<String>,
    /// Files modified too recently (still being written).
    settling: usize,
}

/// The header of a file and where its data starts.
struct Header {
    names: Vec<String>,
    index: HashMap<String, usize>,
    data_offset: u64,
    data_line: u64,
    raw: String,
}

pub struct CsvSource {
    name: SourceName,
    mapping: Mapping,
    settings: CsvSettings,
}

impl CsvSource {
    pub fn new(name: SourceName, mapping: Mapping, settings: CsvSettings) -> Self {
        CsvSource {
            name,
            mapping,
            settings,
        }
    }

    fn encoding(&self) -> TextEncoding {
        self.settings.encoding
    }

    fn list(&self) -> Result<Listing, SourceError> {
        let dir = &self.settings.dir;
        let entries = fs::read_dir(dir).map_err(SourceError::io(&self.name, "list", dir))?;
        let now = SystemTime::now();
        let settle = Duration::from_millis(self.settings.settle_ms);
        let mut ready = Vec::new();
        let mut settling = 0;
        for entry in entries {
            let entry = entry.map_err(SourceError::io(&self.name, "list", dir))?;
            let Ok(file) = entry.file_name().into_string() else {
                tracing::warn!(source = %self.name, name = ?entry.file_name(), "skipping a file whose name is not utf-8");
                continue;
            };
            if file.starts_with('.')
                || file.ends_with(".tmp")
                || file.ends_with(".part")
                || !pattern_matches(&self.settings.pattern, &file)
            {
                continue;
            }
            // Never follows a symlink: a link is listed (to be quarantined by `read_chunk`),
            // other non-files are skipped, and so are vanished files.
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            if meta.is_symlink() {
                ready.push((file, UNIX_EPOCH));
                continue;
            }
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().unwrap_or(UNIX_EPOCH);
            // A modification time in the future (clock skew) counts as settled.
            if now.duration_since(modified).is_ok_and(|age| age < settle) {
                settling += 1;
                continue;
            }
            ready.push((file, modified));
        }
        ready.sort();
        Ok(Listing {
            ready: ready.into_iter().map(|(f, _)| f).collect(),
            settling,
        })
    }

    fn commit(
        &self,
        outbox: &Outbox,
        rows: Vec<(Option<i64>, xt_shared::change::Body)>,
        quarantined: Vec<QuarantinedRow>,
        cursor: &Cursor,
    ) -> Result<u64, SourceError> {
        outbox
            .commit(&self.name, rows, quarantined, Some(&cursor.encode()))
            .map_err(SourceError::outbox(&self.name))
    }

    /// The drop folder, opened for operations that never follow a symlink.
    fn folder(&self) -> Result<Folder, SourceError> {
        let dir = &self.settings.dir;
        Folder::open(dir).map_err(SourceError::io(&self.name, "open", dir))
    }

    /// The sub-folder `sub` of the drop folder; a symlink there is refused.
    fn subdir(&self, folder: &Folder, sub: &str) -> Result<Folder, SourceError> {
        folder.subdir(sub).map_err(|e| match e {
            SubdirError::Io { path, source } => SourceError::Io {
                name: self.name.clone(),
                action: "open",
                path,
                source,
            },
            refused => SourceError::invalid(&self.name, refused.to_string()),
        })
    }

    /// Opens `file` of the drop folder for reading if it is a regular file.
    fn open(&self, folder: &Folder, file: &str) -> Result<Result<File, NotRegular>, SourceError> {
        let path = folder.path().join(file);
        folder
            .open_regular(file)
            .map_err(SourceError::io(&self.name, "open", &path))
    }

    fn read_header(&self, file: &File, path: &Path) -> Result<Option<Header>, SourceError> {
        let mut reader = RecordReader::new(file, self.settings.delimiter_byte(), 0, 1);
        match reader.read() {
            Ok(None) => return Ok(None),
            Ok(Some(_)) => {}
            Err(e) => return Err(self.read_error(path, e)),
        }
        let mut names = Vec::with_capacity(reader.len());
        for (i, field) in reader.fields().enumerate() {
            let field = match (i, self.encoding()) {
                (0, TextEncoding::Utf8) => field.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(field),
                _ => field,
            };
            // An undecodable header name cannot match a mapped column; keep its position.
            let name = self
                .encoding()
                .decode(field, "header")
                .unwrap_or_else(|_| format!("\u{fffd}#{}", i + 1));
            names.push(name.trim().to_owned());
        }
        let mut index = HashMap::new();
        for (i, n) in names.iter().enumerate() {
            index.entry(n.clone()).or_insert(i);
        }
        let (data_offset, data_line) = reader.position();
        Ok(Some(Header {
            raw: self.raw_record(&reader),
            names,
            index,
            data_offset,
            data_line,
        }))
    }

    fn read_error(&self, path: &Path, e: ReadError) -> SourceError {
        match e {
            ReadError::Io(source) => SourceError::Io {
                name: self.name.clone(),
                action: "read",
                path: path.to_owned(),
                source,
            },
            too_long => SourceError::invalid(&self.name, format!("{}: {too_long}", path.display())),
        }
    }

    fn raw_record<R>(&self, record: &RecordReader<R>) -> String
    where
        R: std::io::Read,
    {
        let delimiter = char::from(self.settings.delimiter_byte());
        let mut raw = String::new();
        for (i, field) in record.fields().enumerate() {
            if i > 0 {
                raw.push(delimiter);
            }
            raw.push_str(&self.encoding().decode_lossy(field));
            if raw.len() > QUARANTINE_RAW_BYTES_MAX {
                break;
            }
        }
        cut(&mut raw, QUARANTINE_RAW_BYTES_MAX);
        raw
    }

    fn map_record<R: std::io::Read>(
        &self,
        header: &Header,
        record: &RecordReader<R>,
        version: i64,
    ) -> Result<(Option<i64>, xt_shared::change::Body), RowError> {
        if record.len() != header.names.len() {
            return Err(RowError::FieldCount {
                expected: header.names.len(),
                found: record.len(),
            });
        }
        let mut fields = Vec::with_capacity(record.len());
        for (bytes, column) in record.fields().zip(&header.names) {
            fields.push(self.encoding().decode(bytes, column)?);
        }
        let get = |column: &str| header.index.get(column).map(|&i| fields[i].as_str());
        let (v, body) = self.mapping.map(&get)?;
        Ok((Some(v.unwrap_or(version)), body))
    }

    /// Reads one chunk of `file` from the cursor; finishes the file at its end.
    fn read_chunk(
        &self,
        outbox: &Outbox,
        file: &str,
        cursor: Cursor,
    ) -> Result<PollReport, SourceError> {
        let folder = self.folder()?;
        let path = folder.path().join(file);
        let handle = match self.open(&folder, file)? {
            Ok(handle) => handle,
            Err(not_regular) => return self.refuse_file(outbox, &folder, file, &not_regular),
        };
        let (offset, line, quarantined_before) = match cursor {
            Cursor::Reading {
                offset,
                line,
                quarantined_before,
                ..
            } => (offset, line, quarantined_before),
            Cursor::Idle => (0, 0, self.quarantine_count(outbox)?),
        };
        let Some(header) = self.read_header(&handle, &path)? else {
            // An empty file: nothing to read.
            return self.finish(
                outbox,
                &folder,
                file,
                quarantined_before,
                PollReport::default(),
            );
        };
        let missing: Vec<&str> = self
            .mapping
            .columns()
            .filter(|c| !header.index.contains_key(*c))
            .collect();
        if !missing.is_empty() {
            return self.reject_file(outbox, &folder, file, &header, &missing);
        }
        let (offset, line) = if offset == 0 {
            (header.data_offset, header.data_line)
        } else {
            (offset, line)
        };
        let meta = handle
            .metadata()
            .map_err(SourceError::io(&self.name, "stat", &path))?;
        let version = mtime_ms(&meta);

        (&handle)
            .seek(SeekFrom::Start(offset))
            .map_err(SourceError::io(&self.name, "seek in", &path))?;
        let mut reader = RecordReader::new(&handle, self.settings.delimiter_byte(), offset, line);
        let (mut rows, mut quarantined) = (Vec::new(), Vec::new());
        let mut consumed = 0usize;
        let at_end = loop {
            if consumed == self.settings.chunk_rows {
                break false;
            }
            let record_line = match reader.read() {
                Ok(Some(line)) => line,
                Ok(None) => break true,
                Err(ReadError::TooLong { line }) => {
                    quarantined.push(QuarantinedRow {
                        location: format!("{file} line {line}"),
                        reason: format!(
                            "{}; the rest of the file was not read",
                            ReadError::TooLong { line }
                        ),
                        raw: String::new(),
                    });
                    break true;
                }
                Err(e) => return Err(self.read_error(&path, e)),
            };
            consumed += 1;
            match self.map_record(&header, &reader, version) {
                Ok(row) => rows.push(row),
                Err(reason) => quarantined.push(QuarantinedRow {
                    location: format!("{file} line {record_line}"),
                    reason: reason.to_string(),
                    raw: self.raw_record(&reader),
                }),
            }
        };
        let (offset, line) = reader.position();
        let next = Cursor::Reading {
            file: file.to_owned(),
            offset,
            line,
            quarantined_before,
        };
        let report = PollReport {
            rows: rows.len() as u64,
            quarantined: quarantined.len() as u64,
            durable_seq: self.commit(outbox, rows, quarantined, &next)?,
            more: true,
        };
        if at_end {
            return self.finish(outbox, &folder, file, quarantined_before, report);
        }
        Ok(report)
    }

    fn quarantine_count(&self, outbox: &Outbox) -> Result<u64, SourceError> {
        Ok(outbox
            .source_progress(&self.name)
            .map_err(SourceError::outbox(&self.name))?
            .quarantined)
    }

    /// Writes the file's rejects, moves it to `done/`, clears the cursor. Each step is safe to
    /// repeat after a crash.
    fn finish(
        &self,
        outbox: &Outbox,
        folder: &Folder,
        file: &str,
        quarantined_before: u64,
        report: PollReport,
    ) -> Result<PollReport, SourceError> {
        let rejected = outbox
            .quarantined_since(&self.name, quarantined_before)
            .map_err(SourceError::outbox(&self.name))?;
        if !rejected.is_empty() {
            self.write_rejects(folder, file, &rejected)?;
        }
        self.move_to(folder, file, DONE_DIR)?;
        let durable_seq = self.commit(outbox, vec![], vec![], &Cursor::Idle)?;
        tracing::info!(source = %self.name, file, rejected = rejected.len(), "csv file done");
        Ok(PollReport {
            durable_seq,
            more: true,
            ..report
        })
    }

    /// The header lacks mapped columns: the whole file goes to `quarantine/`.
    fn reject_file(
        &self,
        outbox: &Outbox,
        folder: &Folder,
        file: &str,
        header: &Header,
        missing: &[&str],
    ) -> Result<PollReport, SourceError> {
        self.move_to(folder, file, QUARANTINE_DIR)?;
        let reason = format!(
            "header lacks mapped column(s) {}; the file was moved to {QUARANTINE_DIR}/",
            missing
                .iter()
                .map(|c| format!("{c:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        tracing::warn!(source = %self.name, file, %reason, "csv file rejected");
        let row = QuarantinedRow {
            location: format!("{file} line 1"),
            reason,
            raw: header.raw.clone(),
        };
        let durable_seq = self.commit(outbox, vec![], vec![row], &Cursor::Idle)?;
        Ok(PollReport {
            rows: 0,
            quarantined: 1,
            durable_seq,
            more: true,
        })
    }

    /// `file` is a symlink (or a FIFO, a folder …): it is not read but moved as it is to
    /// `quarantine/`, with the reason as a quarantined row.
    fn refuse_file(
        &self,
        outbox: &Outbox,
        folder: &Folder,
        file: &str,
        not_regular: &NotRegular,
    ) -> Result<PollReport, SourceError> {
        self.move_to(folder, file, QUARANTINE_DIR)?;
        let reason = format!(
            "{file} {not_regular}: the agent reads only regular files in its drop folder; it was moved unread to {QUARANTINE_DIR}/"
        );
        tracing::warn!(source = %self.name, file, %reason, "csv file refused");
        let row = QuarantinedRow {
            location: file.to_owned(),
            reason,
            raw: String::new(),
        };
        let durable_seq = self.commit(outbox, vec![], vec![row], &Cursor::Idle)?;
        Ok(PollReport {
            rows: 0,
            quarantined: 1,
            durable_seq,
            more: true,
        })
    }

    /// Writes `quarantine/<file>.rejected.csv` through a temp file created new (a leftover or
    /// planted one is removed first, never written through) and renamed over the old copy.
    fn write_rejects(
        &self,
        folder: &Folder,
        file: &str,
        rejected: &[QuarantinedRow],
    ) -> Result<(), SourceError> {
        let dir = self.subdir(folder, QUARANTINE_DIR)?;
        let target = format!("{file}.rejected.csv");
        let tmp = format!(".{file}.rejected.csv.tmp");
        let tmp_path = dir.path().join(&tmp);
        dir.remove(&tmp)
            .map_err(SourceError::io(&self.name, "remove", &tmp_path))?;
        let handle = dir
            .create_new(&tmp)
            .map_err(SourceError::io(&self.name, "create", &tmp_path))?;
        let io_err = |e: csv::Error| {
            SourceError::invalid(
                &self.name,
                format!("cannot write {}: {e}", tmp_path.display()),
            )
        };
        let mut writer = csv::Writer::from_writer(handle);
        writer
            .write_record(["line", "reason", "raw"])
            .map_err(io_err)?;
        let prefix = format!("{file} line ");
        for row in rejected {
            let line = row.location.strip_prefix(&prefix).unwrap_or(&row.location);
            writer
                .write_record([line, &row.reason, &row.raw])
                .map_err(io_err)?;
        }
        let file_handle = writer.into_inner().map_err(|e| {
            SourceError::invalid(
                &self.name,
                format!("cannot write {}: {e}", tmp_path.display()),
            )
        })?;
        file_handle
            .sync_all()
            .map_err(SourceError::io(&self.name, "sync", &tmp_path))?;
        dir.replace(&tmp, &target)
            .map_err(SourceError::io(&self.name, "rename", &tmp_path))
    }

    /// Moves `file` into the sub-folder `sub`, never replacing an earlier file of the same name
    /// (the later one gets a `.1`, `.2` … suffix).
    fn move_to(&self, folder: &Folder, file: &str, sub: &str) -> Result<PathBuf, SourceError> {
        let into = self.subdir(folder, sub)?;
        let from = folder.path().join(file);
        folder
            .move_into(file, &into)
            .map_err(SourceError::io(&self.name, "move", &from))
    }
}

impl Source for CsvSource {
    fn name(&self) -> &SourceName {
        &self.name
    }

    fn poll(&mut self, outbox: &Outbox) -> Result<PollReport, SourceError> {
        let stored = outbox
            .cursor(&self.name)
            .map_err(SourceError::outbox(&self.name))?;
        let cursor = match stored {
            None => Cursor::Idle,
            Some(bytes) => Cursor::decode(&bytes).map_err(|reason| {
                SourceError::invalid(&self.name, format!("stored cursor is corrupt: {reason}"))
            })?,
        };
        match cursor {
            Cursor::Reading { ref file, .. } => {
                let file = file.clone();
                let folder = self.folder()?;
                if folder.contains(&file) {
                    return self.read_chunk(outbox, &file, cursor);
                }
                // Finished (moved to done/ just before a crash) or removed by someone: the rows
                // read so far are committed either way.
                if !fs::symlink_metadata(folder.path().join(DONE_DIR).join(&file))
                    .is_ok_and(|m| m.is_file())
                {
                    tracing::warn!(source = %self.name, file, "csv file vanished while being read");
                }
                let durable_seq = self.commit(outbox, vec![], vec![], &Cursor::Idle)?;
                Ok(PollReport {
                    durable_seq,
                    more: true,
                    ..PollReport::default()
                })
            }
            Cursor::Idle => {
                let listing = self.list()?;
                match listing.ready.first() {
                    Some(file) => self.read_chunk(outbox, file, Cursor::Idle),
                    None => Ok(PollReport {
                        durable_seq: outbox
                            .source_progress(&self.name)
                            .map_err(SourceError::outbox(&self.name))?
                            .durable_seq,
                        ..PollReport::default()
                    }),
                }
            }
        }
    }

    fn check(&mut self) -> Result<String, SourceError> {
        let listing = self.list()?;
        let mut out = format!(
            "csv {}: {} file(s) waiting",
            self.settings.dir.display(),
            listing.ready.len()
        );
        if listing.settling > 0 {
            out.push_str(&format!(", {} still being written", listing.settling));
        }
        if let Some(first) = listing.ready.first() {
            let folder = self.folder()?;
            let path = folder.path().join(first);
            let handle = match self.open(&folder, first)? {
                Ok(handle) => handle,
                Err(not_regular) => {
                    out.push_str(&format!(
                        "; {first} {not_regular} and will be moved unread to {QUARANTINE_DIR}/"
                    ));
                    return Ok(out);
                }
            };
            if let Some(header) = self.read_header(&handle, &path)? {
                let missing: Vec<&str> = self
                    .mapping
                    .columns()
                    .filter(|c| !header.index.contains_key(*c))
                    .collect();
                if !missing.is_empty() {
                    out.push_str(&format!("; {first} lacks mapped column(s) {missing:?}"));
                }
            }
        }
        Ok(out)
    }
}
