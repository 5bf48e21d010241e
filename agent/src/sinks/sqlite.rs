//! A table in the WMS's SQLite database: one row per delivery line.
//!
//! Commands apply in one `BEGIN IMMEDIATE` transaction per batch (up to [`BATCH_MAX`], each in a
//! savepoint of its own). `CreateDelivery` inserts every line, unless a row with
//! the delivery number is already there (then `AlreadyDone`: the table itself is the
//! idempotency record, so even a crash between this commit and the agent's record cannot make a
//! second delivery order). `CancelDelivery` reads the delivery's statuses and, in the same
//! transaction, sets `cancelled_value` where the status is `new_value`; what it answers is
//! decided by [`decide_cancel`]. Names come from the validated config and are double-quoted;
//! every value is bound, never spliced into SQL.
//!
//! A constraint, type or size error of the table refuses the command with SQLite's message;
//! every other error (locked, busy, IO, a missing table or column) is transient and retried,
//! because the delivery is fine and the database will be again (see [`classify`]).

use super::fields::{self, Field, Value, quoted};
use super::{Applied, Common, Sink, SinkError};
use crate::config::{SinkKind, SqliteSinkSettings};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags, ToSql, TransactionBehavior};
use std::time::Duration;
use xt_shared::command::{AgentCommand, CommandOutcome};
use xt_shared::ids::{DocNo, WarehouseCode};
use xt_shared::model::UtcMillis;

#[cfg(test)]
mod tests;

/// Most distinct statuses read for one delivery.
const STATUSES_MAX: usize = 64;
/// Most commands applied in one transaction.
pub const BATCH_MAX: usize = 256;

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
        }))
    }
}

/// What an SQLite error means for the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Try again later: the database is locked, busy, unreachable or not as configured.
    Transient,
    /// The table refuses these rows: answer `Refused` with the message.
    Refuse,
}

/// Whether an error of SQLite is worth retrying.
pub fn classify(e: &rusqlite::Error) -> Failure {
    match e.sqlite_error_code() {
        Some(ErrorCode::ConstraintViolation | ErrorCode::TypeMismatch | ErrorCode::TooBig) => {
            Failure::Refuse
        }
        _ => Failure::Transient,
    }
}

/// The statuses that tell what a cancel may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusValues {
    pub new: String,
    pub cancelled: String,
    pub shipped: Vec<String>,
}

/// What a cancel does, from the statuses of the delivery's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelDecision {
    /// No row has the delivery number.
    NotFound,
    /// Every row is cancelled already.
    AlreadyCancelled,
    /// A row says the parcel left (the status found).
    Shipped(String),
    /// A row has a status that is neither new, cancelled nor shipped: the WMS has started on it.
    MovedOn(String),
    /// Set the new rows to cancelled.
    Cancel,
}

/// Decides a cancel from the distinct statuses of the delivery's rows (`None`: SQL NULL).
pub fn decide_cancel(statuses: &[Option<String>], values: &StatusValues) -> CancelDecision {
    if statuses.is_empty() {
        return CancelDecision::NotFound;
    }
    if let Some(s) = statuses
        .iter()
        .flatten()
        .find(|s| values.shipped.contains(s))
    {
        return CancelDecision::Shipped(s.clone());
    }
    if let Some(s) = statuses
        .iter()
        .find(|s| s.as_deref() != Some(&values.new) && s.as_deref() != Some(&values.cancelled))
    {
        return CancelDecision::MovedOn(s.clone().unwrap_or_else(|| "NULL".to_owned()));
    }
    if statuses
        .iter()
        .all(|s| s.as_deref() == Some(&values.cancelled))
    {
        return CancelDecision::AlreadyCancelled;
    }
    CancelDecision::Cancel
}

/// The outcome a cancel decision answers (a `Cancel` answers `Done` once written).
fn cancel_outcome(decision: &CancelDecision, delivery_no: &DocNo, table: &str) -> CommandOutcome {
    let refused = |reason: String| CommandOutcome::Refused { reason };
    match decision {
        CancelDecision::NotFound => refused(format!(
            "delivery order {delivery_no} is not in table {table} (never created here, or removed by the WMS)"
        )),
        CancelDecision::AlreadyCancelled => CommandOutcome::AlreadyDone,
        CancelDecision::Shipped(s) => refused(format!(
            "already shipped: delivery order {delivery_no} has status {s:?} in the WMS"
        )),
        CancelDecision::MovedOn(s) => refused(format!(
            "the WMS has started on delivery order {delivery_no} (status {s:?}): too late to cancel"
        )),
        CancelDecision::Cancel => CommandOutcome::Done,
    }
}

/// The statements of one sink, built once from the validated names.
#[derive(Debug, Clone)]
struct Statements {
    exists: String,
    insert: String,
    statuses: String,
    cancel: String,
}

impl Statements {
    fn new(table: &str, columns: &fields::Columns) -> Statements {
        let table = quoted(table);
        // Required by the config: a sqlite sink maps delivery_no and status.
        let no = quoted(columns.column(Field::DeliveryNo).unwrap_or("delivery_no"));
        let status = quoted(columns.column(Field::Status).unwrap_or("status"));
        let names: Vec<String> = columns.names().map(quoted).collect();
        let params: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        Statements {
            exists: format!("SELECT 1 FROM {table} WHERE {no} = ?1 LIMIT 1"),
            insert: format!(
                "INSERT INTO {table} ({}) VALUES ({})",
                names.join(", "),
                params.join(", ")
            ),
            statuses: format!(
                "SELECT DISTINCT {status} FROM {table} WHERE {no} = ?1 LIMIT {STATUSES_MAX}"
            ),
            cancel: format!("UPDATE {table} SET {status} = ?1 WHERE {no} = ?2 AND {status} = ?3"),
        }
    }
}

pub struct SqliteSink {
    common: Common,
    settings: SqliteSinkSettings,
    values: StatusValues,
    sql: Statements,
    conn: Option<Connection>,
}

/// What one command does to the table.
enum Work {
    Create {
        delivery_no: DocNo,
        rows: Vec<Vec<Value>>,
    },
    Cancel {
        delivery_no: DocNo,
    },
}

impl Work {
    /// Inserts the delivery's rows unless its number is there already (`AlreadyDone`), or
    /// cancels it as [`decide_cancel`] says.
    fn run(
        &self,
        conn: &Connection,
        sql: &Statements,
        values: &StatusValues,
        table: &str,
    ) -> rusqlite::Result<CommandOutcome> {
        match self {
            Work::Create { delivery_no, rows } => {
                if conn
                    .prepare_cached(&sql.exists)?
                    .exists([delivery_no.as_str()])?
                {
                    return Ok(CommandOutcome::AlreadyDone);
                }
                let mut stmt = conn.prepare_cached(&sql.insert)?;
                for row in rows {
                    stmt.execute(rusqlite::params_from_iter(row))?;
                }
                Ok(CommandOutcome::Done)
            }
            Work::Cancel { delivery_no } => {
                let statuses = {
                    let mut stmt = conn.prepare_cached(&sql.statuses)?;
                    let mut rows = stmt.query([delivery_no.as_str()])?;
                    let mut out = Vec::new();
                    while let Some(row) = rows.next()? {
                        out.push(status_text(row.get_ref(0)?));
                    }
                    out
                };
                let decision = decide_cancel(&statuses, values);
                if decision == CancelDecision::Cancel {
                    conn.execute(
                        &sql.cancel,
                        [&values.cancelled, delivery_no.as_str(), &values.new],
                    )?;
                }
                Ok(cancel_outcome(&decision, delivery_no, table))
            }
        }
    }
}

impl SqliteSink {
    pub fn new(common: Common, settings: SqliteSinkSettings) -> SqliteSink {
        SqliteSink {
            sql: Statements::new(&settings.table, &common.columns),
            values: StatusValues {
                new: settings.new_value.clone(),
                cancelled: settings.cancelled_value.clone(),
                shipped: settings.shipped_values.clone(),
            },
            common,
            settings,
            conn: None,
        }
    }

    fn error(&self, source: rusqlite::Error) -> SinkError {
        SinkError::Sqlite {
            name: self.common.name.clone(),
            path: self.settings.path.clone(),
            source: Box::new(source),
        }
    }

    /// Opens the database read-write (never creating it) if it is not open yet.
    fn connect(&mut self) -> Result<&mut Connection, SinkError> {
        if self.conn.is_none() {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let conn = Connection::open_with_flags(&self.settings.path, flags)
                .map_err(|e| self.error(e))?;
            conn.busy_timeout(Duration::from_millis(self.settings.busy_timeout_ms))
                .map_err(|e| self.error(e))?;
            self.conn = Some(conn);
        }
        self.conn
            .as_mut()
            .ok_or_else(|| SinkError::invalid(&self.common.name, "sqlite connection is not open"))
    }

    /// What `command` asks of the table, or the outcome when the table need not be asked (a
    /// warehouse this sink does not serve, an order whose rows cannot be made).
    fn work(&self, command: &AgentCommand) -> Result<Work, CommandOutcome> {
        if !self.serves(command.warehouse()) {
            return Err(CommandOutcome::Refused {
                reason: format!(
                    "sink {} does not serve warehouse {}",
                    self.common.name,
                    command.warehouse()
                ),
            });
        }
        match command {
            AgentCommand::CreateDelivery(order) => {
                if let Some(reason) = fields::order_problem(order) {
                    return Err(CommandOutcome::Refused { reason });
                }
                let ctx = fields::RowContext {
                    status: &self.values.new,
                    time_format: self.common.time_format,
                    offset: self.common.timezone,
                };
                let mut rows = Vec::with_capacity(order.lines.len());
                for i in 0..order.lines.len() {
                    match fields::row(order, i, &self.common.columns, &ctx) {
                        Ok(row) => rows.push(row),
                        Err(reason) => return Err(CommandOutcome::Refused { reason }),
                    }
                }
                Ok(Work::Create {
                    delivery_no: order.delivery_no.clone(),
                    rows,
                })
            }
            AgentCommand::CancelDelivery { delivery_no, .. } => Ok(Work::Cancel {
                delivery_no: delivery_no.clone(),
            }),
        }
    }

    /// Runs every command's work in one `BEGIN IMMEDIATE` transaction, each in a savepoint: a
    /// command the table refuses is rolled back alone and answered `Refused`; any other error
    /// rolls back all of them.
    fn run(
        &mut self,
        work: Vec<Result<Work, CommandOutcome>>,
    ) -> Result<Vec<CommandOutcome>, SinkError> {
        if work.iter().all(Result::is_err) {
            return Ok(work.into_iter().filter_map(Result::err).collect());
        }
        let (sql, values) = (self.sql.clone(), self.values.clone());
        let table = self.settings.table.clone();
        let conn = self.connect()?;
        let result = (|| {
            let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut out = Vec::with_capacity(work.len());
            for w in work {
                let w = match w {
                    Ok(w) => w,
                    Err(outcome) => {
                        out.push(outcome);
                        continue;
                    }
                };
                let sp = tx.savepoint()?;
                match w.run(&sp, &sql, &values, &table) {
                    Ok(outcome) => {
                        sp.commit()?;
                        out.push(outcome);
                    }
                    Err(e) if classify(&e) == Failure::Refuse => {
                        // Dropping the savepoint rolls this command's rows back.
                        drop(sp);
                        out.push(CommandOutcome::Refused {
                            reason: format!("table {table} refused it: {e}"),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            tx.commit()?;
            Ok(out)
        })();
        result.map_err(|e| {
            // Reopen next time: the file may have been replaced or the handle broken.
            self.conn = None;
            self.error(e)
        })
    }

    fn describe(&mut self) -> Result<String, SinkError> {
        let table = self.settings.table.clone();
        let path = self.settings.path.display().to_string();
        let wanted: Vec<String> = self.common.columns.names().map(str::to_owned).collect();
        let conn = self.connect()?;
        let have = (|| {
            let mut stmt = conn.prepare("SELECT name FROM pragma_table_info(?1)")?;
            let names = stmt
                .query_map([&table], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            let readonly = conn.is_readonly(rusqlite::MAIN_DB)?;
            Ok((names, readonly))
        })();
        let (have, readonly) = have.map_err(|e| self.error(e))?;
        if have.is_empty() {
            return Err(SinkError::invalid(
                &self.common.name,
                format!("sqlite {path}: no table {table:?}"),
            ));
        }
        let missing: Vec<&String> = wanted.iter().filter(|c| !have.contains(c)).collect();
        if !missing.is_empty() {
            return Err(SinkError::invalid(
                &self.common.name,
                format!("sqlite {path}: table {table:?} has no column {missing:?}"),
            ));
        }
        if readonly {
            return Err(SinkError::invalid(
                &self.common.name,
                format!("sqlite {path} can only be opened read-only"),
            ));
        }
        Ok(format!(
            "sqlite {path}: table {table:?} has the {} mapped columns, writable",
            wanted.len()
        ))
    }
}

/// A status cell as text (`None` for NULL).
fn status_text(value: ValueRef<'_>) -> Option<String> {
    match value {
        ValueRef::Null => None,
        ValueRef::Integer(v) => Some(v.to_string()),
        ValueRef::Real(v) => Some(v.to_string()),
        ValueRef::Text(b) | ValueRef::Blob(b) => Some(String::from_utf8_lossy(b).into_owned()),
    }
}

impl Sink for SqliteSink {
    fn name(&self) -> &str {
        &self.common.name
    }

    fn kind(&self) -> SinkKind {
        SinkKind::Sqlite
    }

    fn serves(&self, warehouse: &WarehouseCode) -> bool {
        self.common.serves(warehouse)
    }

    fn recover(&mut self, _state: Option<&[u8]>) -> Result<(), SinkError> {
        // The table is its own record: nothing is staged outside a committed transaction.
        Ok(())
    }

    fn apply(
        &mut self,
        seq: u64,
        command: &AgentCommand,
        now: UtcMillis,
    ) -> Result<Applied, SinkError> {
        let mut applied = self.apply_batch(&[(seq, command)], now)?;
        applied
            .pop()
            .ok_or_else(|| SinkError::invalid(&self.common.name, "no outcome for the command"))
    }

    fn batch_max(&self) -> usize {
        BATCH_MAX
    }

    fn apply_batch(
        &mut self,
        commands: &[(u64, &AgentCommand)],
        _now: UtcMillis,
    ) -> Result<Vec<Applied>, SinkError> {
        let work = commands.iter().map(|(_, c)| self.work(c)).collect();
        Ok(self.run(work)?.into_iter().map(Applied::outcome).collect())
    }

    fn committed(&mut self, _now: UtcMillis) -> Result<(), SinkError> {
        Ok(())
    }

    fn deadline(&self) -> Option<UtcMillis> {
        None
    }

    fn check(&mut self) -> Result<String, SinkError> {
        let result = self.describe();
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}
