//! CSV files dropped into a folder the legacy system picks up.
//!
//! Files (header row, then one row per delivery line; CRLF line ends; the configured encoding):
//! - `per_order`: `<delivery_no>.csv` per delivery order;
//! - `per_batch`: `batch-<UTC time>-<first seq>.csv`, holding every delivery decided within
//!   `batch_window_ms` of the first (or until `batch_deliveries_max`); a delivery is answered
//!   `Done` once it is durably in the batch, and the file appears when the batch closes;
//! - a cancel: `CANCEL-<delivery_no>.csv` with `delivery_no,warehouse,reason,cancelled_at`
//!   (the legacy system cannot tell the agent whether it had shipped, so a cancel is `Done`).
//!   In `per_batch` mode the open batch is closed first, so the legacy system sees a delivery
//!   before its cancel.
//!
//! A file only ever appears whole: it is written to `.xt-<name>.tmp` in the same folder,
//! synced, and renamed after the agent recorded the decision ([`Sink::committed`]); a batch
//! grows in its temp file and is renamed when it closes. The recovery state recorded with each
//! decision (the rename due, the open batch and its length) lets [`Sink::recover`] finish a
//! decided rename, cut a batch back to its decided rows and delete temp files of undecided
//! work. Idempotency: `per_order` and cancels find their file; `per_batch` relies on the
//! agent's record of the delivery number (the applier answers `AlreadyDone` from it).
//!
//! No symbolic link in the folder is followed (the drop folder's file operations of the csv
//! source are reused).

use super::fields::{self, Value};
use super::{Applied, Common, Sink, SinkError};
use crate::config::{CsvMode, CsvSinkSettings, SinkKind};
use crate::sources::csv::folder::Folder;
use serde::{Deserialize, Serialize};
use std::io::{Seek, SeekFrom, Write};
use xt_shared::command::{AgentCommand, CommandOutcome, DeliveryOrder};
use xt_shared::ids::{DocNo, WarehouseCode};
use xt_shared::model::UtcMillis;

#[cfg(test)]
mod tests;

/// Leading byte of the recorded state.
const STATE_V1: u8 = 1;
/// Every temp file of the sink starts with this …
pub const TEMP_PREFIX: &str = ".xt-";
/// … and ends with this.
pub const TEMP_SUFFIX: &str = ".tmp";
/// Most temp files removed by one recovery (the rest go at the next).
const ORPHANS_MAX: usize = 10_000;
/// Header of a cancel file.
pub const CANCEL_HEADER: [&str; 4] = ["delivery_no", "warehouse", "reason", "cancelled_at"];

/// A rename decided and not yet known to be done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Publish {
    temp: String,
    target: String,
}

/// The batch file collecting deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OpenBatch {
    staging: String,
    target: String,
    /// Bytes of the staging file holding decided deliveries (header included).
    len: u64,
    opened_at: i64,
    deliveries: u32,
}

/// The recovery state recorded with each decision.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct State {
    pending: Option<Publish>,
    batch: Option<OpenBatch>,
}

/// Whether `delivery_no` can name a file on any system that picks it up.
pub fn file_name_problem(delivery_no: &DocNo) -> Option<String> {
    let no = delivery_no.as_str();
    let bad = no.starts_with('.')
        || no.chars().any(|c| {
            c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
        });
    bad.then(|| {
        format!(
            "delivery number {no:?} cannot name a file (no leading '.', no / \\ : * ? \" < > |)"
        )
    })
}

fn temp_of(target: &str) -> String {
    format!("{TEMP_PREFIX}{target}{TEMP_SUFFIX}")
}

/// CSV text of `records` (CRLF line ends), encoded.
fn csv_bytes<'a>(
    encoding: crate::mapping::TextEncoding,
    records: impl IntoIterator<Item = Vec<std::borrow::Cow<'a, str>>>,
) -> Result<Vec<u8>, String> {
    let mut w = ::csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for record in records {
        w.write_record(record.iter().map(|c| c.as_ref()))
            .map_err(|e| e.to_string())?;
    }
    let text = w.into_inner().map_err(|e| e.to_string())?;
    let text = String::from_utf8(text).map_err(|e| e.to_string())?;
    Ok(encoding.encode(&text))
}

pub struct CsvSink {
    common: Common,
    settings: CsvSinkSettings,
    folder: Option<Folder>,
    /// The rename of the last decision, until done.
    pending: Option<Publish>,
    batch: Option<OpenBatch>,
}

impl CsvSink {
    pub fn new(common: Common, settings: CsvSinkSettings) -> CsvSink {
        CsvSink {
            common,
            settings,
            folder: None,
            pending: None,
            batch: None,
        }
    }

    fn io(&self, action: &'static str) -> impl FnOnce(std::io::Error) -> SinkError + '_ {
        SinkError::io(&self.common.name, action, &self.settings.folder)
    }

    fn folder(&mut self) -> Result<&Folder, SinkError> {
        if self.folder.is_none() {
            let folder = Folder::open(&self.settings.folder).map_err(self.io("open folder"))?;
            self.folder = Some(folder);
        }
        self.folder
            .as_ref()
            .ok_or_else(|| SinkError::invalid(&self.common.name, "folder is not open"))
    }

    fn state(&self) -> Vec<u8> {
        let state = State {
            pending: self.pending.clone(),
            batch: self.batch.clone(),
        };
        // Plain strings and numbers into a Vec: encoding cannot fail.
        postcard::to_extend(&state, vec![STATE_V1]).unwrap_or_else(|_| vec![STATE_V1])
    }

    fn decode_state(&self, bytes: &[u8]) -> Result<State, SinkError> {
        let corrupt = |reason: String| {
            SinkError::invalid(
                &self.common.name,
                format!("recorded state is corrupt: {reason}"),
            )
        };
        match bytes.split_first() {
            Some((&STATE_V1, rest)) => {
                postcard::from_bytes(rest).map_err(|e| corrupt(e.to_string()))
            }
            Some((v, _)) => Err(corrupt(format!("version {v}, this agent reads {STATE_V1}"))),
            None => Err(corrupt("empty".into())),
        }
    }

    fn header(&self) -> Vec<std::borrow::Cow<'_, str>> {
        self.common.columns.names().map(Into::into).collect()
    }

    /// The rows of `order`, encoded (without header), or the reason to refuse it.
    fn rows(&self, order: &DeliveryOrder) -> Result<Vec<u8>, String> {
        if let Some(reason) = fields::order_problem(order) {
            return Err(reason);
        }
        let ctx = fields::RowContext {
            status: "",
            time_format: self.common.time_format,
            offset: self.common.timezone,
        };
        let mut rows = Vec::with_capacity(order.lines.len());
        for i in 0..order.lines.len() {
            rows.push(fields::row(order, i, &self.common.columns, &ctx)?);
        }
        csv_bytes(
            self.settings.encoding,
            rows.iter().map(|r| r.iter().map(Value::text).collect()),
        )
    }

    /// Writes `bytes` to the temp file of `target`, durably, and makes its rename due.
    fn stage(&mut self, target: String, bytes: &[u8]) -> Result<Applied, SinkError> {
        let temp = temp_of(&target);
        let folder = self.folder()?;
        let result = (|| {
            folder.remove(&temp)?;
            let mut file = folder.create_new(&temp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            folder.sync()
        })();
        result.map_err(self.io("write a temp file in"))?;
        self.pending = Some(Publish { temp, target });
        Ok(Applied {
            outcome: CommandOutcome::Done,
            state: Some(self.state()),
        })
    }

    fn create(
        &mut self,
        seq: u64,
        order: &DeliveryOrder,
        now: UtcMillis,
    ) -> Result<Applied, SinkError> {
        if let Some(reason) = file_name_problem(&order.delivery_no) {
            return Ok(Applied::refused(reason));
        }
        let rows = match self.rows(order) {
            Ok(rows) => rows,
            Err(reason) => return Ok(Applied::refused(reason)),
        };
        match self.settings.mode {
            CsvMode::PerOrder => {
                let target = format!("{}.csv", order.delivery_no);
                if self.folder()?.contains(&target) {
                    return Ok(Applied::outcome(CommandOutcome::AlreadyDone));
                }
                let mut bytes = self.header_bytes()?;
                bytes.extend_from_slice(&rows);
                self.stage(target, &bytes)
            }
            CsvMode::PerBatch => self.append(seq, &rows, now),
        }
    }

    fn header_bytes(&self) -> Result<Vec<u8>, SinkError> {
        csv_bytes(self.settings.encoding, [self.header()])
            .map_err(|e| SinkError::invalid(&self.common.name, format!("header: {e}")))
    }

    /// Appends a delivery's rows to the open batch (opening one if needed).
    fn append(&mut self, seq: u64, rows: &[u8], now: UtcMillis) -> Result<Applied, SinkError> {
        if self.batch_due(now, true) {
            self.close_batch()?;
        }
        if self.batch.is_none() {
            let time = match fields::file_time(now) {
                Ok(time) => time,
                Err(reason) => return Ok(Applied::refused(reason)),
            };
            let target = format!("batch-{time}-{seq}.csv");
            let staging = temp_of(&target);
            let header = self.header_bytes()?;
            let folder = self.folder()?;
            let result = (|| {
                folder.remove(&staging)?;
                let mut file = folder.create_new(&staging)?;
                file.write_all(&header)?;
                file.sync_all()?;
                folder.sync()
            })();
            result.map_err(self.io("start a batch file in"))?;
            self.batch = Some(OpenBatch {
                staging,
                target,
                len: header.len() as u64,
                opened_at: now.0,
                deliveries: 0,
            });
        }
        let Some(batch) = self.batch.clone() else {
            return Err(SinkError::invalid(&self.common.name, "no open batch"));
        };
        let folder = self.folder()?;
        let result = (|| {
            let mut file = folder.open_write(&batch.staging)?;
            // Bytes past `len` are from an attempt that was never decided.
            file.set_len(batch.len)?;
            file.seek(SeekFrom::Start(batch.len))?;
            file.write_all(rows)?;
            file.sync_data()
        })();
        result.map_err(self.io("append to the batch file in"))?;
        self.batch = Some(OpenBatch {
            len: batch.len + rows.len() as u64,
            deliveries: batch.deliveries + 1,
            ..batch
        });
        Ok(Applied {
            outcome: CommandOutcome::Done,
            state: Some(self.state()),
        })
    }

    /// Whether the open batch must close at `now` (`full` counts a full batch too).
    fn batch_due(&self, now: UtcMillis, full: bool) -> bool {
        self.batch.as_ref().is_some_and(|b| {
            now.0 >= b.opened_at.saturating_add(self.settings.window_ms() as i64)
                || (full && b.deliveries >= self.settings.deliveries_max())
        })
    }

    /// Renames the open batch into view. Every delivery in it is decided.
    fn close_batch(&mut self) -> Result<(), SinkError> {
        let Some(batch) = self.batch.clone() else {
            return Ok(());
        };
        self.rename(&batch.staging, &batch.target)?;
        self.batch = None;
        Ok(())
    }

    /// Renames `temp` to `target` durably; a missing temp file was renamed before.
    fn rename(&mut self, temp: &str, target: &str) -> Result<(), SinkError> {
        let folder = self.folder()?;
        let result = match folder.replace(temp, target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other.and_then(|()| folder.sync()),
        };
        result.map_err(self.io("rename a file in"))
    }

    fn cancel(
        &mut self,
        delivery_no: &DocNo,
        warehouse: &WarehouseCode,
        reason: &str,
        now: UtcMillis,
    ) -> Result<Applied, SinkError> {
        if let Some(reason) = file_name_problem(delivery_no) {
            return Ok(Applied::refused(reason));
        }
        // The legacy system must see a delivery before its cancel.
        self.close_batch()?;
        let target = format!("CANCEL-{delivery_no}.csv");
        if self.folder()?.contains(&target) {
            return Ok(Applied {
                outcome: CommandOutcome::AlreadyDone,
                state: Some(self.state()),
            });
        }
        let at = match fields::time_value(now, self.common.time_format, self.common.timezone) {
            Ok(at) => at,
            Err(reason) => return Ok(Applied::refused(reason)),
        };
        let header = CANCEL_HEADER.iter().map(|h| (*h).into()).collect();
        let row = vec![
            delivery_no.as_str().into(),
            warehouse.as_str().into(),
            reason.into(),
            at.text(),
        ];
        let bytes = csv_bytes(self.settings.encoding, [header, row])
            .map_err(|e| SinkError::invalid(&self.common.name, format!("cancel file: {e}")))?;
        self.stage(target, &bytes)
    }

    /// Removes temp files of undecided work (all but `keep`).
    fn remove_orphans(&mut self, keep: Option<&str>) -> Result<(), SinkError> {
        let path = self.settings.folder.clone();
        let entries = std::fs::read_dir(&path).map_err(self.io("list"))?;
        let mut orphans = Vec::new();
        for entry in entries {
            let entry = entry.map_err(self.io("list"))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX) && Some(name) != keep {
                orphans.push(name.to_owned());
                if orphans.len() >= ORPHANS_MAX {
                    break;
                }
            }
        }
        for name in &orphans {
            tracing::info!(sink = %self.common.name, file = %name, "removing the temp file of an undecided command");
        }
        let folder = self.folder()?;
        let result = (|| {
            for name in &orphans {
                folder.remove(name)?;
            }
            if orphans.is_empty() {
                Ok(())
            } else {
                folder.sync()
            }
        })();
        result.map_err(self.io("remove a temp file in"))
    }
}

impl Sink for CsvSink {
    fn name(&self) -> &str {
        &self.common.name
    }

    fn kind(&self) -> SinkKind {
        SinkKind::Csv
    }

    fn serves(&self, warehouse: &WarehouseCode) -> bool {
        self.common.serves(warehouse)
    }

    fn recover(&mut self, state: Option<&[u8]>) -> Result<(), SinkError> {
        let state = match state {
            Some(bytes) => self.decode_state(bytes)?,
            None => State::default(),
        };
        self.folder = None;
        self.pending = None;
        self.batch = None;
        if let Some(p) = &state.pending {
            // Decided: finish the rename (done already if the temp file is gone).
            self.rename(&p.temp, &p.target)?;
        }
        if let Some(b) = state.batch {
            let folder = self.folder()?;
            let cut = (|| {
                let file = folder.open_write(&b.staging)?;
                file.set_len(b.len)?;
                file.sync_all()
            })();
            match cut {
                Ok(()) => self.batch = Some(b),
                // Gone: the batch was closed after its last decision.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.io("cut back the batch file in")(e)),
            }
        }
        let keep = self.batch.as_ref().map(|b| b.staging.clone());
        self.remove_orphans(keep.as_deref())
    }

    fn apply(
        &mut self,
        seq: u64,
        command: &AgentCommand,
        now: UtcMillis,
    ) -> Result<Applied, SinkError> {
        if !self.serves(command.warehouse()) {
            return Ok(Applied::refused(format!(
                "sink {} does not serve warehouse {}",
                self.common.name,
                command.warehouse()
            )));
        }
        let result = match command {
            AgentCommand::CreateDelivery(order) => self.create(seq, order, now),
            AgentCommand::CancelDelivery {
                delivery_no,
                warehouse,
                reason,
            } => self.cancel(delivery_no, warehouse, reason, now),
        };
        if result.is_err() {
            // Reopen next time: the folder may have been remounted.
            self.folder = None;
        }
        result
    }

    fn committed(&mut self, now: UtcMillis) -> Result<(), SinkError> {
        if let Some(p) = self.pending.clone() {
            self.rename(&p.temp, &p.target)?;
            self.pending = None;
        }
        if self.batch_due(now, true) {
            self.close_batch()?;
        }
        Ok(())
    }

    fn deadline(&self) -> Option<UtcMillis> {
        self.batch
            .as_ref()
            .map(|b| UtcMillis(b.opened_at.saturating_add(self.settings.window_ms() as i64)))
    }

    fn check(&mut self) -> Result<String, SinkError> {
        let path = self.settings.folder.clone();
        let meta = std::fs::metadata(&path).map_err(self.io("open folder"))?;
        if !meta.is_dir() {
            return Err(SinkError::invalid(
                &self.common.name,
                format!("{} is not a folder", path.display()),
            ));
        }
        rustix::fs::access(&path, rustix::fs::Access::WRITE_OK)
            .map_err(|e| self.io("write in")(e.into()))?;
        let mode = match self.settings.mode {
            CsvMode::PerOrder => "a file per delivery order",
            CsvMode::PerBatch => "batch files",
        };
        Ok(format!(
            "csv folder {}: writable, {mode}, {}",
            path.display(),
            self.settings.encoding.as_str()
        ))
    }
}
