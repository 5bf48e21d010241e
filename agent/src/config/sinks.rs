//! `[[sink]]` tables: the legacy systems the hub's commands are applied to (see
//! [`crate::sinks`]). Parsed with unknown keys refused and validated with the rest of the config.

use crate::mapping::TextEncoding;
use crate::sinks::fields::{self, Field, TimeFormat};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use xt_shared::ids::WarehouseCode;

/// Most sinks one agent runs.
pub const SINKS_MAX: usize = 16;
/// Most warehouses one sink serves.
pub const SINK_WAREHOUSES_MAX: usize = 256;
/// Longest sink name, in bytes.
pub const SINK_NAME_BYTES_MAX: usize = 64;
/// Shortest and longest `csv.batch_window_ms`.
pub const BATCH_WINDOW_MS_MIN: u64 = 100;
pub const BATCH_WINDOW_MS_MAX: u64 = 600_000;
/// Default `csv.batch_window_ms`: how long a batch file collects deliveries.
pub const BATCH_WINDOW_MS_DEFAULT: u64 = 2_000;
/// Largest `csv.batch_deliveries_max`.
pub const BATCH_DELIVERIES_MAX: u32 = 10_000;
/// Default `csv.batch_deliveries_max`.
pub const BATCH_DELIVERIES_DEFAULT: u32 = 500;
/// Most values in `sqlite.shipped_values`.
pub const SHIPPED_VALUES_MAX: usize = 32;

/// What kind of legacy system a sink writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    Sqlite,
    Csv,
}

impl SinkKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SinkKind::Sqlite => "sqlite",
            SinkKind::Csv => "csv",
        }
    }
}

/// One `[[sink]]`: where the delivery orders of some warehouses go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Unique name within this agent (letters, digits, `-`, `_`, `.`); it keys the sink's
    /// recovery state in `commands.redb`, so never rename a sink with work in flight.
    pub name: String,
    /// `sqlite` or `csv`; the table of the same name (`[sink.sqlite]`, `[sink.csv]`) must be
    /// present.
    pub kind: SinkKind,
    /// The warehouses whose commands this sink applies; a warehouse is served by one sink at most
    /// (a command for a warehouse no sink serves is refused).
    pub warehouses: Vec<WarehouseCode>,
    /// How `created_at` is written: `local` (`YYYY-MM-DD HH:MM:SS` in the agent's `timezone`,
    /// the default), `rfc3339` (UTC, `…Z`) or `epoch_ms` (an integer).
    #[serde(default)]
    pub time_format: TimeFormat,
    /// Delivery field → the table's column (sqlite) or the file's header (csv); see
    /// [`crate::sinks::fields`] for the fields. A csv sink without it writes every field under
    /// its own name.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Column → a fixed value written on every row, for columns the legacy system requires that
    /// no delivery field fills (e.g. `creator = "xietong"`).
    #[serde(default)]
    pub constants: BTreeMap<String, String>,
    /// Settings of a `sqlite` sink.
    #[serde(default)]
    pub sqlite: Option<SqliteSinkSettings>,
    /// Settings of a `csv` sink.
    #[serde(default)]
    pub csv: Option<CsvSinkSettings>,
}

/// `[sink.sqlite]`: a table in the WMS's SQLite database, one row per delivery line.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteSinkSettings {
    /// The database file, opened read-write; it must exist (the agent never creates it).
    pub path: PathBuf,
    /// The table delivery lines are inserted into.
    pub table: String,
    /// The status a new delivery order is inserted with, and the only one a cancel changes.
    pub new_value: String,
    /// The status a cancel sets.
    pub cancelled_value: String,
    /// Statuses meaning the parcel left: a cancel of such a delivery is refused as shipped. Any
    /// other status but `new_value` and `cancelled_value` is refused too (the WMS has started).
    pub shipped_values: Vec<String>,
    /// How long to wait for a write lock held by the WMS, in milliseconds (then the command is
    /// retried with backoff).
    #[serde(default = "default_busy_timeout_ms")]
    pub busy_timeout_ms: u64,
}

fn default_busy_timeout_ms() -> u64 {
    5000
}

/// How a csv sink groups deliveries into files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvMode {
    /// One file `<delivery_no>.csv` per delivery order.
    PerOrder,
    /// Deliveries decided within `batch_window_ms` of the first go into one file
    /// `batch-<UTC time>-<first seq>.csv`.
    PerBatch,
}

/// `[sink.csv]`: files dropped into a folder the legacy system picks up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSinkSettings {
    /// The folder the files appear in (it must exist). Files appear whole (temp file + rename);
    /// the agent's temp files there start with `.xt-` and end with `.tmp`.
    pub folder: PathBuf,
    /// `utf-8` (no BOM), `gbk` or `gb18030`; `gbk` is written as GB18030, which is the same
    /// bytes for every character GBK has.
    #[serde(default)]
    pub encoding: TextEncoding,
    /// `per_order` or `per_batch`.
    pub mode: CsvMode,
    /// `per_batch`: how long a batch file collects deliveries after its first (default 2000).
    #[serde(default)]
    pub batch_window_ms: Option<u64>,
    /// `per_batch`: most deliveries in one batch file (default 500).
    #[serde(default)]
    pub batch_deliveries_max: Option<u32>,
}

impl CsvSinkSettings {
    pub fn window_ms(&self) -> u64 {
        self.batch_window_ms.unwrap_or(BATCH_WINDOW_MS_DEFAULT)
    }

    pub fn deliveries_max(&self) -> u32 {
        self.batch_deliveries_max
            .unwrap_or(BATCH_DELIVERIES_DEFAULT)
    }
}

/// Whether `name` may name a sink.
fn name_problem(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() <= SINK_NAME_BYTES_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    (!ok).then(|| {
        format!("name {name:?} must be 1 to {SINK_NAME_BYTES_MAX} letters, digits, '-', '_' or '.'")
    })
}

impl SinkConfig {
    /// The checked columns of this sink.
    pub fn columns(&self) -> Result<fields::Columns, String> {
        let (required, forbidden): (&[Field], &[Field]) = match self.kind {
            SinkKind::Sqlite => (fields::SQLITE_REQUIRED, &[]),
            SinkKind::Csv => (fields::CSV_REQUIRED, &[Field::Status]),
        };
        let identifiers = self.kind == SinkKind::Sqlite;
        if self.kind == SinkKind::Csv && self.columns.is_empty() {
            return fields::Columns::every_field(forbidden, &self.constants);
        }
        fields::Columns::new(
            &self.columns,
            &self.constants,
            required,
            forbidden,
            identifiers,
        )
    }

    /// Every problem of this sink (without its name: the caller prefixes it).
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        out.extend(name_problem(&self.name));
        if self.warehouses.is_empty() {
            out.push("warehouses is empty: name the warehouses this sink serves".to_owned());
        }
        if self.warehouses.len() > SINK_WAREHOUSES_MAX {
            out.push(format!(
                "{} warehouses is more than {SINK_WAREHOUSES_MAX}",
                self.warehouses.len()
            ));
        }
        let mut seen = BTreeSet::new();
        for w in &self.warehouses {
            if !seen.insert(w) {
                out.push(format!("warehouses names {:?} twice", w.as_str()));
            }
        }
        if let Err(e) = self.columns() {
            out.push(e);
        }
        match (self.kind, &self.sqlite, &self.csv) {
            (SinkKind::Sqlite, Some(sqlite), None) => sqlite.problems(&mut out),
            (SinkKind::Csv, None, Some(csv)) => csv.problems(&mut out),
            (kind, sqlite, csv) => {
                let kind = kind.as_str();
                let present = match (sqlite, csv) {
                    (Some(_), Some(_)) => "both [sink.sqlite] and [sink.csv] are present",
                    (None, None) => "neither [sink.sqlite] nor [sink.csv] is present",
                    (Some(_), None) => "[sink.sqlite] is present",
                    (None, Some(_)) => "[sink.csv] is present",
                };
                out.push(format!(
                    "kind = {kind:?} needs exactly a [sink.{kind}] table, but {present}"
                ));
            }
        }
        out
    }
}

impl SqliteSinkSettings {
    fn problems(&self, out: &mut Vec<String>) {
        if self.path.as_os_str().is_empty() {
            out.push("sqlite.path is empty".to_owned());
        }
        if let Err(e) = fields::check_identifier(&self.table) {
            out.push(format!("sqlite.table: {e}"));
        }
        let mut status = |what: &str, value: &str| {
            if value.is_empty() || value.chars().any(char::is_control) {
                out.push(format!(
                    "sqlite.{what} {value:?} must be non-empty text without control characters"
                ));
            }
        };
        status("new_value", &self.new_value);
        status("cancelled_value", &self.cancelled_value);
        for v in &self.shipped_values {
            status("shipped_values", v);
        }
        if self.shipped_values.is_empty() {
            out.push(
                "sqlite.shipped_values is empty: name the statuses meaning the parcel left"
                    .to_owned(),
            );
        }
        if self.shipped_values.len() > SHIPPED_VALUES_MAX {
            out.push(format!(
                "sqlite.shipped_values has more than {SHIPPED_VALUES_MAX} values"
            ));
        }
        if self.new_value == self.cancelled_value {
            out.push("sqlite.new_value and sqlite.cancelled_value are the same".to_owned());
        }
        for (what, v) in [
            ("new_value", &self.new_value),
            ("cancelled_value", &self.cancelled_value),
        ] {
            if self.shipped_values.contains(v) {
                out.push(format!(
                    "sqlite.{what} {v:?} is also in sqlite.shipped_values"
                ));
            }
        }
        if self.busy_timeout_ms > 600_000 {
            out.push(format!(
                "sqlite.busy_timeout_ms = {} is more than ten minutes",
                self.busy_timeout_ms
            ));
        }
    }
}

impl CsvSinkSettings {
    fn problems(&self, out: &mut Vec<String>) {
        if self.folder.as_os_str().is_empty() {
            out.push("csv.folder is empty".to_owned());
        }
        match self.mode {
            CsvMode::PerOrder => {
                for (what, given) in [
                    ("batch_window_ms", self.batch_window_ms.is_some()),
                    ("batch_deliveries_max", self.batch_deliveries_max.is_some()),
                ] {
                    if given {
                        out.push(format!("csv.{what} applies only to mode = \"per_batch\""));
                    }
                }
            }
            CsvMode::PerBatch => {
                let window = self.window_ms();
                if !(BATCH_WINDOW_MS_MIN..=BATCH_WINDOW_MS_MAX).contains(&window) {
                    out.push(format!(
                        "csv.batch_window_ms = {window} is outside {BATCH_WINDOW_MS_MIN}..={BATCH_WINDOW_MS_MAX}"
                    ));
                }
                let max = self.deliveries_max();
                if !(1..=BATCH_DELIVERIES_MAX).contains(&max) {
                    out.push(format!(
                        "csv.batch_deliveries_max = {max} is outside 1..={BATCH_DELIVERIES_MAX}"
                    ));
                }
            }
        }
    }
}

/// Problems across sinks: count, duplicate names, a warehouse served twice.
pub(crate) fn problems(sinks: &[SinkConfig], out: &mut Vec<String>) {
    if sinks.len() > SINKS_MAX {
        out.push(format!("{} sinks is more than {SINKS_MAX}", sinks.len()));
    }
    let mut names = BTreeSet::new();
    let mut served: BTreeMap<&str, &str> = BTreeMap::new();
    let mut folders: BTreeMap<&std::path::Path, &str> = BTreeMap::new();
    for sink in sinks {
        if let Some(csv) = &sink.csv {
            // Each csv sink recovers its folder by removing temp files it did not decide.
            match folders.get(csv.folder.as_path()) {
                Some(other) => out.push(format!(
                    "sink {:?}: csv.folder {} is also the folder of sink {other:?}",
                    sink.name,
                    csv.folder.display()
                )),
                None => {
                    folders.insert(&csv.folder, &sink.name);
                }
            }
        }
        if !names.insert(sink.name.as_str()) {
            out.push(format!("sink {:?}: name is used twice", sink.name));
        }
        for problem in sink.problems() {
            out.push(format!("sink {:?}: {problem}", sink.name));
        }
        for w in &sink.warehouses {
            match served.get(w.as_str()) {
                Some(other) if *other != sink.name => out.push(format!(
                    "sink {:?}: warehouse {:?} is already served by sink {other:?}",
                    sink.name,
                    w.as_str()
                )),
                _ => {
                    served.insert(w.as_str(), &sink.name);
                }
            }
        }
    }
}
