//! The agent's TOML config: parsed with unknown keys refused, then validated fully before
//! anything starts. See `deploy/agent.example.toml` for a documented example.

use crate::mapping::{Mapping, TextEncoding};
use crate::timestamp::UtcOffset;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use xt_shared::change::EntityKind;
use xt_shared::ids::SourceName;
use xt_shared::protocol::FRAME_BYTES_MAX;
use xt_shared::sync::SyncLimits;

mod sinks;
pub use sinks::*;

/// Largest config file read, in bytes.
pub const CONFIG_BYTES_MAX: u64 = 1024 * 1024;
/// Most sources one agent runs.
pub const SOURCES_MAX: usize = 64;
/// Most rows one chunk (one outbox transaction) of a source holds.
pub const CHUNK_ROWS_MAX: usize = 100_000;
/// Longest poll interval, in seconds (one day).
pub const POLL_INTERVAL_SECS_MAX: u64 = 86_400;
/// Shortest `poll_interval_ms`: a table polled ten times a second at most.
pub const POLL_INTERVAL_MS_MIN: u64 = 100;
/// Default of `memory_budget_mb`: what the agent's resident memory stays under.
pub const MEMORY_BUDGET_MB_DEFAULT: u64 = 32;
/// Smallest `memory_budget_mb` accepted.
pub const MEMORY_BUDGET_MB_MIN: u64 = 16;
/// Largest `memory_budget_mb` accepted.
pub const MEMORY_BUDGET_MB_MAX: u64 = 4096;

/// The whole agent config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Where the agent keeps its identity (written by `xt-agent enroll`), `outbox.redb` and
    /// quarantine files.
    pub data_dir: PathBuf,
    /// The hub's `host:port`; overrides the address recorded at enrollment.
    #[serde(default)]
    pub hub: Option<String>,
    /// UTC offset of timestamps in the legacy systems (`+08:00` unless set).
    #[serde(default)]
    pub timezone: UtcOffset,
    /// Resident memory (MiB) the agent is sized to stay under, at any backlog: the outbox's
    /// cache gets an eighth of it, and the batches in flight (`sync.batch_bytes_max` ×
    /// `sync.in_flight_max`) must fit in a quarter of it.
    #[serde(default = "default_memory_budget_mb")]
    pub memory_budget_mb: u64,
    /// Limits and timings of the sync with the hub.
    #[serde(default)]
    pub sync: SyncConfig,
    /// The legacy systems this agent reads (`[[source]]` tables).
    #[serde(default, rename = "source")]
    pub sources: Vec<SourceConfig>,
    /// The legacy systems the hub's commands are applied to (`[[sink]]` tables). Without any,
    /// the agent never asks the hub for commands.
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkConfig>,
}

fn default_memory_budget_mb() -> u64 {
    MEMORY_BUDGET_MB_DEFAULT
}

/// `[sync]`: how the agent talks to the hub. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Most changes in one batch sent to the hub.
    pub batch_rows_max: usize,
    /// Most encoded bytes in one batch sent to the hub.
    pub batch_bytes_max: usize,
    /// Most batches sent and not yet acknowledged.
    pub in_flight_max: usize,
    /// Seconds between status reports to the hub.
    pub status_interval_secs: u64,
    /// First reconnect delay after the connection drops, in milliseconds (doubles per failure).
    pub reconnect_base_ms: u64,
    /// Longest reconnect delay, in milliseconds.
    pub reconnect_max_ms: u64,
    /// Most unacknowledged rows a source may hold in the outbox; past it the source pauses
    /// (its cursor stays put) until the hub catches up. Days offline fit well below the default.
    pub backlog_rows_max: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        let limits = SyncLimits::default();
        SyncConfig {
            batch_rows_max: limits.batch_rows_max,
            batch_bytes_max: limits.batch_bytes_max,
            in_flight_max: limits.in_flight_max,
            status_interval_secs: 10,
            reconnect_base_ms: 500,
            reconnect_max_ms: 60_000,
            backlog_rows_max: 20_000_000,
        }
    }
}

impl SyncConfig {
    /// The limits the sync state machine takes.
    pub fn limits(&self) -> SyncLimits {
        SyncLimits {
            batch_rows_max: self.batch_rows_max,
            batch_bytes_max: self.batch_bytes_max,
            in_flight_max: self.in_flight_max,
        }
    }
}

/// What kind of legacy system a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Csv,
    Sqlite,
}

impl SourceKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SourceKind::Csv => "csv",
            SourceKind::Sqlite => "sqlite",
        }
    }
}

/// One `[[source]]`: a legacy table or drop folder yielding one kind of entity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Unique name within this agent; the hub keys the source's changes by it. Never rename a
    /// source that has synced: the hub would see a new origin.
    pub name: SourceName,
    /// `csv` or `sqlite`; the table of the same name (`[source.csv]`, `[source.sqlite]`) must be
    /// present.
    pub kind: SourceKind,
    /// What the rows are: `stock`, `stock_movement`, `shipment`, `pos_sale` or `payment_flow`.
    pub entity: EntityKind,
    /// Seconds between polls when there is nothing new (default 5).
    #[serde(default = "default_poll_interval_secs")]
    pub poll_interval_secs: u64,
    /// Milliseconds between polls; when present it replaces `poll_interval_secs`, for tables
    /// whose rows must travel fast (a WMS's shipments: the platform waits for the tracking).
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
    /// Standard field → legacy column name (see the `mapping` module for the fields).
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
    /// Standard field → fixed value, for fields the legacy table lacks.
    #[serde(default)]
    pub constants: BTreeMap<String, String>,
    /// Settings of a `csv` source.
    #[serde(default)]
    pub csv: Option<CsvSettings>,
    /// Settings of a `sqlite` source.
    #[serde(default)]
    pub sqlite: Option<SqliteSettings>,
}

fn default_poll_interval_secs() -> u64 {
    5
}

/// `[source.csv]`: a watched drop folder.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvSettings {
    /// The watched folder. Finished files move to `dir/done/`, refused rows are written to
    /// `dir/quarantine/<file>.rejected.csv`, files whose header lacks a mapped column move to
    /// `dir/quarantine/`.
    pub dir: PathBuf,
    /// Text encoding of the files: `utf-8` (a BOM is stripped), `gbk` or `gb18030`.
    #[serde(default)]
    pub encoding: TextEncoding,
    /// Field delimiter, one ASCII character (default `,`; `"\t"` for tab).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Which file names to read: `*` matches any run of characters, `?` one (default `*.csv`).
    #[serde(default = "default_pattern")]
    pub pattern: String,
    /// Files modified less than this many milliseconds ago are still being written and wait.
    #[serde(default = "default_settle_ms")]
    pub settle_ms: u64,
    /// Rows per outbox transaction (default 5000).
    #[serde(default = "default_chunk_rows")]
    pub chunk_rows: usize,
}

fn default_delimiter() -> String {
    ",".into()
}

fn default_pattern() -> String {
    "*.csv".into()
}

fn default_settle_ms() -> u64 {
    1000
}

fn default_chunk_rows() -> usize {
    5000
}

impl CsvSettings {
    /// The delimiter byte (validated at load).
    pub fn delimiter_byte(&self) -> u8 {
        self.delimiter.as_bytes().first().copied().unwrap_or(b',')
    }
}

/// A value of a cursor column, as given in `initial_cursor` and as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum CursorValue {
    Int(i64),
    Real(f64),
    Text(String),
}

/// `[source.sqlite]`: a query polled with a composite cursor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqliteSettings {
    /// The database file, opened read-only.
    pub path: PathBuf,
    /// The query. It binds the cursor values as `?1, ?2 …` (in `cursor` order) and the row limit
    /// as the last parameter, returns rows strictly after the cursor in cursor order, e.g.
    /// `… WHERE (updated_at, id) > (?1, ?2) ORDER BY updated_at, id LIMIT ?3`.
    pub query: String,
    /// Result columns forming the cursor, in `ORDER BY` order; they must be NOT NULL.
    pub cursor: Vec<String>,
    /// Cursor to start from. Default: the smallest value of each column's type: `""` for
    /// columns declared with TEXT affinity (CHAR, CLOB, TEXT), the smallest 64-bit integer
    /// otherwise (SQLite orders every number before every text).
    #[serde(default)]
    pub initial_cursor: Option<Vec<CursorValue>>,
    /// Rows per query and per outbox transaction (default 5000).
    #[serde(default = "default_chunk_rows")]
    pub batch_rows: usize,
    /// How long to wait for a write lock held by the legacy application, in milliseconds.
    #[serde(default = "default_busy_timeout_ms")]
    pub busy_timeout_ms: u64,
}

fn default_busy_timeout_ms() -> u64 {
    5000
}

/// Why the config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path} is larger than {CONFIG_BYTES_MAX} bytes")]
    TooLarge { path: PathBuf },
    #[error("config {path} is not valid toml for the agent: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config {path} has {} problem(s):\n  - {}", problems.len(), problems.join("\n  - "))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
}

impl AgentConfig {
    /// Reads, parses and validates the config at `path`.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let read = |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let len = std::fs::metadata(path).map_err(read)?.len();
        if len > CONFIG_BYTES_MAX {
            return Err(ConfigError::TooLarge {
                path: path.to_owned(),
            });
        }
        let text = std::fs::read_to_string(path).map_err(read)?;
        AgentConfig::parse(&text, path)
    }

    /// Parses and validates config text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<AgentConfig, ConfigError> {
        let config: AgentConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            });
        }
        Ok(config)
    }

    /// Bytes of the outbox's page cache: an eighth of `memory_budget_mb`.
    pub fn outbox_cache_bytes(&self) -> usize {
        usize::try_from(self.memory_budget_mb.saturating_mul(1024 * 1024) / 8).unwrap_or(usize::MAX)
    }

    /// Every problem found, each naming the source and field.
    fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.data_dir.as_os_str().is_empty() {
            out.push("data_dir is empty".to_owned());
        }
        if let Some(hub) = self.hub.as_ref().filter(|hub| !hub.contains(':')) {
            out.push(format!("hub {hub:?} is not host:port"));
        }
        self.sync.problems(&mut out);
        if !(MEMORY_BUDGET_MB_MIN..=MEMORY_BUDGET_MB_MAX).contains(&self.memory_budget_mb) {
            out.push(format!(
                "memory_budget_mb = {} is outside {MEMORY_BUDGET_MB_MIN}..={MEMORY_BUDGET_MB_MAX}",
                self.memory_budget_mb
            ));
        }
        let in_flight_bytes =
            (self.sync.batch_bytes_max as u64).saturating_mul(self.sync.in_flight_max as u64);
        let quarter = self.memory_budget_mb.saturating_mul(1024 * 1024) / 4;
        if in_flight_bytes > quarter {
            out.push(format!(
                "sync.batch_bytes_max × sync.in_flight_max = {in_flight_bytes} bytes is more than a quarter of memory_budget_mb = {} ({quarter} bytes): lower them or raise the budget",
                self.memory_budget_mb
            ));
        }
        if self.sources.len() > SOURCES_MAX {
            out.push(format!(
                "{} sources is more than {SOURCES_MAX}",
                self.sources.len()
            ));
        }
        let mut names = BTreeSet::new();
        for source in &self.sources {
            if !names.insert(source.name.as_str()) {
                out.push(format!(
                    "source {:?}: name is used twice",
                    source.name.as_str()
                ));
            }
            for problem in source.problems(self.timezone) {
                out.push(format!("source {:?}: {problem}", source.name.as_str()));
            }
        }
        sinks::problems(&self.sinks, &mut out);
        out
    }
}

impl SyncConfig {
    fn problems(&self, out: &mut Vec<String>) {
        let mut range = |name: &str, value: u64, min: u64, max: u64| {
            if value < min || value > max {
                out.push(format!("sync.{name} = {value} is outside {min}..={max}"));
            }
        };
        range("batch_rows_max", self.batch_rows_max as u64, 1, 65_536);
        range(
            "batch_bytes_max",
            self.batch_bytes_max as u64,
            4096,
            (FRAME_BYTES_MAX / 2) as u64,
        );
        range("in_flight_max", self.in_flight_max as u64, 1, 64);
        range("status_interval_secs", self.status_interval_secs, 1, 3600);
        range("reconnect_base_ms", self.reconnect_base_ms, 10, 60_000);
        range("reconnect_max_ms", self.reconnect_max_ms, 10, 3_600_000);
        range(
            "backlog_rows_max",
            self.backlog_rows_max,
            1_000,
            1_000_000_000,
        );
        if self.reconnect_max_ms < self.reconnect_base_ms {
            out.push("sync.reconnect_max_ms is less than sync.reconnect_base_ms".to_owned());
        }
    }
}

impl SourceConfig {
    /// The checked column mapping of this source.
    pub fn mapping(&self, timezone: UtcOffset) -> Result<Mapping, crate::mapping::MappingError> {
        Mapping::new(self.entity, &self.columns, &self.constants, timezone)
    }

    /// How long the source waits between polls when there is nothing new.
    pub fn poll_interval(&self) -> std::time::Duration {
        match self.poll_interval_ms {
            Some(ms) => std::time::Duration::from_millis(ms.max(POLL_INTERVAL_MS_MIN)),
            None => std::time::Duration::from_secs(self.poll_interval_secs.max(1)),
        }
    }

    fn problems(&self, timezone: UtcOffset) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(ms) = self.poll_interval_ms
            && !(POLL_INTERVAL_MS_MIN..=POLL_INTERVAL_SECS_MAX * 1000).contains(&ms)
        {
            out.push(format!(
                "poll_interval_ms = {ms} is outside {POLL_INTERVAL_MS_MIN}..={}",
                POLL_INTERVAL_SECS_MAX * 1000
            ));
        }
        if !(1..=POLL_INTERVAL_SECS_MAX).contains(&self.poll_interval_secs) {
            out.push(format!(
                "poll_interval_secs = {} is outside 1..={POLL_INTERVAL_SECS_MAX}",
                self.poll_interval_secs
            ));
        }
        if let Err(e) = self.mapping(timezone) {
            out.push(e.to_string());
        }
        match (self.kind, &self.csv, &self.sqlite) {
            (SourceKind::Csv, Some(csv), None) => csv.problems(&mut out),
            (SourceKind::Sqlite, None, Some(sqlite)) => sqlite.problems(&mut out),
            (kind, csv, sqlite) => {
                let kind = kind.as_str();
                let present = match (csv, sqlite) {
                    (Some(_), Some(_)) => "both [source.csv] and [source.sqlite] are present",
                    (None, None) => "neither [source.csv] nor [source.sqlite] is present",
                    (Some(_), None) => "[source.csv] is present",
                    (None, Some(_)) => "[source.sqlite] is present",
                };
                out.push(format!(
                    "kind = {kind:?} needs exactly a [source.{kind}] table, but {present}"
                ));
            }
        }
        out
    }
}

/// The highest `?N` in `query` (string literals are not told apart: a query is not data).
fn highest_parameter(query: &str) -> Option<usize> {
    let bytes = query.as_bytes();
    let mut highest = None;
    for (i, _) in query.match_indices('?') {
        let digits = bytes[i + 1..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if let Ok(n) = query[i + 1..i + 1 + digits].parse::<usize>() {
            highest = highest.max(Some(n));
        }
    }
    highest
}

fn chunk_problem(out: &mut Vec<String>, name: &str, value: usize) {
    if !(1..=CHUNK_ROWS_MAX).contains(&value) {
        out.push(format!("{name} = {value} is outside 1..={CHUNK_ROWS_MAX}"));
    }
}

impl CsvSettings {
    fn problems(&self, out: &mut Vec<String>) {
        if self.dir.as_os_str().is_empty() {
            out.push("csv.dir is empty".to_owned());
        }
        let d = self.delimiter.as_bytes();
        if d.len() != 1 || !d[0].is_ascii() || matches!(d[0], b'"' | b'\r' | b'\n') {
            out.push(format!(
                "csv.delimiter {:?} must be one ascii character other than a quote or line break",
                self.delimiter
            ));
        }
        if self.pattern.is_empty() || self.pattern.contains(['/', '\\']) {
            out.push(format!(
                "csv.pattern {:?} must be a non-empty file name pattern",
                self.pattern
            ));
        }
        if self.settle_ms > 3_600_000 {
            out.push(format!(
                "csv.settle_ms = {} is more than one hour",
                self.settle_ms
            ));
        }
        chunk_problem(out, "csv.chunk_rows", self.chunk_rows);
    }
}

impl SqliteSettings {
    fn problems(&self, out: &mut Vec<String>) {
        if self.path.as_os_str().is_empty() {
            out.push("sqlite.path is empty".to_owned());
        }
        if self.query.trim().is_empty() {
            out.push("sqlite.query is empty".to_owned());
        }
        if self.cursor.is_empty() {
            out.push("sqlite.cursor is empty: name the columns of the ORDER BY".to_owned());
        }
        if self.cursor.iter().any(|c| c.trim().is_empty()) {
            out.push("sqlite.cursor names an empty column".to_owned());
        }
        let mut seen = BTreeSet::new();
        for c in &self.cursor {
            if !seen.insert(c) {
                out.push(format!("sqlite.cursor names {c:?} twice"));
            }
        }
        let expected = self.cursor.len() + 1;
        match highest_parameter(&self.query) {
            Some(n) if n == expected => {}
            found => out.push(format!(
                "sqlite.query must bind the {} cursor value(s) as ?1 … and the row limit as ?{expected}, but its highest numbered parameter is {}",
                self.cursor.len(),
                found.map_or("none".to_owned(), |n| format!("?{n}"))
            )),
        }
        if let Some(initial) = self
            .initial_cursor
            .as_ref()
            .filter(|initial| initial.len() != self.cursor.len())
        {
            out.push(format!(
                "sqlite.initial_cursor has {} value(s) but sqlite.cursor names {} column(s)",
                initial.len(),
                self.cursor.len()
            ));
        }
        chunk_problem(out, "sqlite.batch_rows", self.batch_rows);
        if self.busy_timeout_ms > 600_000 {
            out.push(format!(
                "sqlite.busy_timeout_ms = {} is more than ten minutes",
                self.busy_timeout_ms
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AgentConfig, String> {
        AgentConfig::parse(text, Path::new("agent.toml")).map_err(|e| e.to_string())
    }

    const STOCK_SQLITE: &str = r#"
data_dir = "/var/lib/xt-agent"
[[source]]
name = "wms-stock"
kind = "sqlite"
entity = "stock"
[source.columns]
warehouse = "wh_code"
sku = "item_code"
on_hand = "qty"
[source.sqlite]
path = "/data/wms.db"
query = "SELECT * FROM stock WHERE (updated_at, id) > (?1, ?2) ORDER BY updated_at, id LIMIT ?3"
cursor = ["updated_at", "id"]
"#;

    #[test]
    fn example_config_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/agent.example.toml");
        let config = AgentConfig::load(&path).unwrap();
        assert_eq!(config.timezone, UtcOffset::CST);
        assert_eq!(config.sources.len(), 2);
        assert_eq!(config.sources[0].kind, SourceKind::Sqlite);
        let csv = config.sources[1].csv.as_ref().unwrap();
        assert_eq!(csv.encoding, TextEncoding::Gbk);
        assert_eq!(config.sync, SyncConfig::default());
        assert_eq!(config.memory_budget_mb, MEMORY_BUDGET_MB_DEFAULT);
        let kinds: Vec<SinkKind> = config.sinks.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [SinkKind::Sqlite, SinkKind::Csv]);
        let csv = config.sinks[1].csv.as_ref().unwrap();
        assert_eq!(
            (csv.encoding, csv.mode),
            (TextEncoding::Gbk, CsvMode::PerBatch)
        );
    }

    #[test]
    fn memory_budget_is_named_in_the_config_and_bounds_cache_and_batches() {
        let config = parse(STOCK_SQLITE).unwrap();
        assert_eq!(config.memory_budget_mb, 32);
        assert_eq!(config.outbox_cache_bytes(), 4 * 1024 * 1024);
        // The default batches in flight fill exactly a quarter of the default budget.
        let sync = SyncConfig::default();
        assert_eq!(sync.batch_bytes_max * sync.in_flight_max, 8 * 1024 * 1024);

        let text = STOCK_SQLITE.replacen(
            "data_dir = \"/var/lib/xt-agent\"",
            "data_dir = \"/x\"\nmemory_budget_mb = 64\n[sync]\nin_flight_max = 8",
            1,
        );
        let raised = parse(&text).unwrap();
        assert_eq!(raised.outbox_cache_bytes(), 8 * 1024 * 1024);
        assert_eq!(
            raised.sync.in_flight_max, 8,
            "a larger budget admits more in flight"
        );
    }

    #[test]
    fn defaults_apply() {
        let config = parse(STOCK_SQLITE).unwrap();
        assert_eq!(config.hub, None);
        assert_eq!(config.timezone, UtcOffset::CST);
        let source = &config.sources[0];
        assert_eq!(source.poll_interval_secs, 5);
        let sqlite = source.sqlite.as_ref().unwrap();
        assert_eq!(
            (sqlite.batch_rows, sqlite.initial_cursor.as_ref()),
            (5000, None)
        );
    }

    /// Each edit of the valid config and the error it must produce.
    #[test]
    fn invalid_configs_are_explained() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "data_dir = \"/var/lib/xt-agent\"",
                "data_dir = \"/x\"\nport = 1",
                "unknown field `port`",
            ),
            (
                "name = \"wms-stock\"",
                "name = \"wms stock\"",
                "may only contain letters",
            ),
            (
                "entity = \"stock\"",
                "entity = \"stok\"",
                "unknown variant `stok`",
            ),
            (
                "entity = \"stock\"",
                "entity = \"order\"",
                "source \"wms-stock\": entity order cannot be read by agent sources",
            ),
            (
                "on_hand = \"qty\"",
                "",
                "source \"wms-stock\": on_hand is required for stock",
            ),
            (
                "on_hand = \"qty\"",
                "on_hand = \"qty\"\nonhand = \"x\"",
                "\"onhand\" is not a field of stock",
            ),
            (
                "kind = \"sqlite\"",
                "kind = \"csv\"",
                "kind = \"csv\" needs exactly a [source.csv] table, but [source.sqlite] is present",
            ),
            (
                "cursor = [\"updated_at\", \"id\"]",
                "cursor = []",
                "sqlite.cursor is empty",
            ),
            (
                "cursor = [\"updated_at\", \"id\"]",
                "cursor = [\"updated_at\"]",
                "sqlite.query must bind the 1 cursor value(s) as ?1 … and the row limit as ?2, but its highest numbered parameter is ?3",
            ),
            (
                "LIMIT ?3",
                "LIMIT ?",
                "but its highest numbered parameter is ?2",
            ),
            (
                "cursor = [\"updated_at\", \"id\"]",
                "cursor = [\"updated_at\", \"id\"]\ninitial_cursor = [\"\"]",
                "initial_cursor has 1 value(s) but sqlite.cursor names 2",
            ),
            (
                "cursor = [\"updated_at\", \"id\"]",
                "cursor = [\"updated_at\", \"id\"]\nbatch_rows = 0",
                "sqlite.batch_rows = 0 is outside 1..=100000",
            ),
            (
                "entity = \"stock\"",
                "entity = \"stock\"\npoll_interval_secs = 0",
                "poll_interval_secs = 0 is outside",
            ),
            (
                "entity = \"stock\"",
                "entity = \"stock\"\npoll_interval_ms = 50",
                "poll_interval_ms = 50 is outside 100..=86400000",
            ),
            (
                "data_dir = \"/var/lib/xt-agent\"",
                "data_dir = \"/x\"\ntimezone = \"Asia/Shanghai\"",
                "is not a utc offset",
            ),
            (
                "data_dir = \"/var/lib/xt-agent\"",
                "data_dir = \"/x\"\nmemory_budget_mb = 8",
                "memory_budget_mb = 8 is outside 16..=4096",
            ),
            (
                "data_dir = \"/var/lib/xt-agent\"",
                "data_dir = \"/x\"\n[sync]\nin_flight_max = 8",
                "sync.batch_bytes_max × sync.in_flight_max = 16777216 bytes is more than a quarter of memory_budget_mb = 32 (8388608 bytes)",
            ),
            (
                "data_dir = \"/var/lib/xt-agent\"",
                "data_dir = \"/x\"\n[sync]\nin_flight_max = 0",
                "sync.in_flight_max = 0 is outside 1..=64",
            ),
            (
                "data_dir = \"/var/lib/xt-agent\"",
                "data_dir = \"/x\"\n[sync]\nreconnect_base_ms = 900\nreconnect_max_ms = 800",
                "reconnect_max_ms is less than",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(STOCK_SQLITE.contains(from), "{from}");
            let text = STOCK_SQLITE.replacen(from, to, 1);
            let err = parse(&text).expect_err(to);
            assert!(err.contains(expected), "edit {to:?}: {err}");
        }
    }

    const SINKS: &str = r#"
data_dir = "/x"
[[sink]]
name = "wms"
kind = "sqlite"
warehouses = ["WH-1"]
[sink.columns]
delivery_no = "dn"
sku = "sku"
quantity = "qty"
status = "st"
[sink.sqlite]
path = "/data/wms.db"
table = "delivery_lines"
new_value = "NEW"
cancelled_value = "CANCELLED"
shipped_values = ["SHIPPED"]

[[sink]]
name = "drop"
kind = "csv"
warehouses = ["WH-2"]
[sink.csv]
folder = "/data/out"
mode = "per_order"
"#;

    #[test]
    fn sinks_parse_with_defaults() {
        let config = parse(SINKS).unwrap();
        assert_eq!(config.sinks.len(), 2);
        let sqlite = config.sinks[0].sqlite.as_ref().unwrap();
        assert_eq!(sqlite.busy_timeout_ms, 5000);
        let csv = &config.sinks[1];
        assert_eq!(csv.kind, SinkKind::Csv);
        let settings = csv.csv.as_ref().unwrap();
        assert_eq!(settings.encoding, TextEncoding::Utf8);
        assert_eq!(settings.window_ms(), BATCH_WINDOW_MS_DEFAULT);
        assert_eq!(
            csv.columns().unwrap().mapped.len(),
            crate::sinks::fields::Field::ALL.len() - 1,
            "a csv sink without columns writes every field but status"
        );
        assert!(parse(STOCK_SQLITE).unwrap().sinks.is_empty());
    }

    /// Each edit of the valid sinks and the error it must produce.
    #[test]
    fn invalid_sinks_are_explained() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "kind = \"sqlite\"",
                "kind = \"ftp\"",
                "unknown variant `ftp`",
            ),
            ("table = \"delivery_lines\"", "", "missing field `table`"),
            (
                "name = \"drop\"",
                "name = \"wms\"",
                "sink \"wms\": name is used twice",
            ),
            (
                "name = \"wms\"",
                "name = \"w m s\"",
                "sink \"w m s\": name \"w m s\" must be",
            ),
            (
                "warehouses = [\"WH-2\"]",
                "warehouses = [\"WH-1\"]",
                "sink \"drop\": warehouse \"WH-1\" is already served by sink \"wms\"",
            ),
            (
                "warehouses = [\"WH-1\"]",
                "warehouses = [\"WH-1\", \"WH-1\"]",
                "warehouses names \"WH-1\" twice",
            ),
            (
                "warehouses = [\"WH-1\"]",
                "warehouses = []",
                "warehouses is empty",
            ),
            (
                "table = \"delivery_lines\"",
                "table = 'a\"b'",
                "sink \"wms\": sqlite.table: \"a\\\"b\" is not a usable name",
            ),
            (
                "status = \"st\"",
                "",
                "sink \"wms\": columns.status is required",
            ),
            (
                "sku = \"sku\"",
                "sku = \"sku\"\nskew = \"x\"",
                "\"skew\" is not a delivery field",
            ),
            (
                "cancelled_value = \"CANCELLED\"",
                "cancelled_value = \"NEW\"",
                "sqlite.new_value and sqlite.cancelled_value are the same",
            ),
            (
                "shipped_values = [\"SHIPPED\"]",
                "shipped_values = []",
                "sqlite.shipped_values is empty",
            ),
            (
                "shipped_values = [\"SHIPPED\"]",
                "shipped_values = [\"SHIPPED\", \"NEW\"]",
                "sqlite.new_value \"NEW\" is also in sqlite.shipped_values",
            ),
            (
                "mode = \"per_order\"",
                "mode = \"per_order\"\nbatch_window_ms = 500",
                "csv.batch_window_ms applies only to mode = \"per_batch\"",
            ),
            (
                "mode = \"per_order\"",
                "mode = \"per_batch\"\nbatch_window_ms = 5",
                "csv.batch_window_ms = 5 is outside 100..=600000",
            ),
            (
                "mode = \"per_order\"",
                "mode = \"per_day\"",
                "unknown variant `per_day`",
            ),
            ("mode = \"per_order\"", "", "missing field `mode`"),
            (
                "mode = \"per_order\"",
                "mode = \"per_order\"\nencoding = \"big5\"",
                "unknown variant `big5`",
            ),
            (
                "kind = \"csv\"",
                "kind = \"sqlite\"",
                "sink \"drop\": kind = \"sqlite\" needs exactly a [sink.sqlite] table, but [sink.csv] is present",
            ),
            (
                "folder = \"/data/out\"",
                "folder = \"/data/out\"\nfolders = 1",
                "unknown field `folders`",
            ),
        ];
        for (from, to, expected) in cases {
            assert!(SINKS.contains(from), "{from}");
            let text = SINKS.replacen(from, to, 1);
            let err = parse(&text).expect_err(to);
            assert!(err.contains(expected), "edit {to:?}: {err}");
        }
        // Two csv sinks may not share a folder (each cleans its temp files there).
        let twice = format!(
            "{SINKS}{}",
            SINKS
                .split("[[sink]]")
                .nth(2)
                .map(|csv| format!("[[sink]]{csv}"))
                .unwrap()
                .replace("\"drop\"", "\"drop2\"")
                .replace("\"WH-2\"", "\"WH-3\"")
        );
        let err = parse(&twice).unwrap_err();
        assert!(
            err.contains(
                "sink \"drop2\": csv.folder /data/out is also the folder of sink \"drop\""
            ),
            "{err}"
        );
    }

    #[test]
    fn duplicate_names_and_csv_settings() {
        let csv = r#"
[[source]]
name = "wms-stock"
kind = "csv"
entity = "stock"
columns = { warehouse = "a", sku = "b", on_hand = "c" }
csv = { dir = "/d", encoding = "latin1" }
"#;
        let err = parse(&format!("{STOCK_SQLITE}{csv}")).unwrap_err();
        assert!(err.contains("unknown variant `latin1`"), "{err}");
        let csv = csv.replace("\"latin1\" }", "\"gb18030\", delimiter = \";;\" }");
        let err = parse(&format!("{STOCK_SQLITE}{csv}")).unwrap_err();
        assert!(
            err.contains("source \"wms-stock\": name is used twice"),
            "{err}"
        );
        assert!(
            err.contains("csv.delimiter \";;\" must be one ascii character"),
            "{err}"
        );
        assert!(
            err.starts_with("config agent.toml has 2 problem(s):"),
            "{err}"
        );
    }
}
