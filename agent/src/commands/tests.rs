//! The applier's durability and the command stream's loop, against real sinks (a SQLite WMS
//! and a drop folder in temp dirs) and a real `commands.redb`; the stream runs over
//! `tokio::io::duplex`, the test playing the hub.

use super::applier::Applier;
use super::frames::{read_frame, write_frame};
use super::store::{COMMANDS_FILE, CommandStore};
use super::stream::{COMMAND_FRAME_BYTES_MAX, ServeOptions, SharedApplier, serve};
use crate::sinks::testing::{self, T0, cancel, create, wms_db, wms_rows};
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{DuplexStream, ReadHalf, WriteHalf};
use xt_shared::command::{AgentCommand, CommandOutcome};
use xt_shared::protocol::Frame;

fn applier(data: &Path, sinks_toml: &str) -> Applier {
    let store = CommandStore::open(&data.join(COMMANDS_FILE)).unwrap();
    let sinks = testing::parse_sinks(sinks_toml)
        .iter()
        .map(|c| crate::sinks::build(c, crate::timestamp::UtcOffset::CST).unwrap())
        .collect();
    Applier::new(store, sinks)
}

fn refused(outcome: CommandOutcome) -> String {
    match outcome {
        CommandOutcome::Refused { reason } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn an_agent_without_sinks_has_no_applier_and_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("data_dir = {:?}", dir.path());
    let config = crate::config::AgentConfig::parse(&text, Path::new("agent.toml")).unwrap();
    assert!(Applier::open(&config).unwrap().is_none());
    assert!(!dir.path().join(COMMANDS_FILE).exists());

    let db = wms_db(dir.path());
    let text = format!("{text}\n{}", testing::sqlite_sink_toml(&db, ""));
    let config = crate::config::AgentConfig::parse(&text, Path::new("agent.toml")).unwrap();
    let applier = Applier::open(&config).unwrap().expect("an applier");
    assert_eq!(applier.kinds(), ["sqlite"]);
    assert!(dir.path().join(COMMANDS_FILE).exists());
}

#[test]
fn a_decided_seq_is_answered_from_the_record_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let sinks = testing::sqlite_sink_toml(&db, "");
    {
        let mut a = applier(dir.path(), &sinks);
        assert_eq!(
            a.apply(1, &create("D-1", "WH-1"), T0).unwrap(),
            CommandOutcome::Done
        );
    }
    // The WMS deletes the rows (say, archived); the agent restarts and the hub resends seq 1.
    Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM delivery_lines", [])
        .unwrap();
    let mut a = applier(dir.path(), &sinks);
    assert_eq!(
        a.apply(1, &create("D-1", "WH-1"), T0).unwrap(),
        CommandOutcome::Done,
        "the same outcome as first sent"
    );
    assert!(
        wms_rows(&db).is_empty(),
        "the record answered; nothing was written"
    );
    // Another seq for the same delivery: the record of the delivery number answers.
    assert_eq!(
        a.apply(2, &create("D-1", "WH-1"), T0).unwrap(),
        CommandOutcome::AlreadyDone
    );
    assert!(wms_rows(&db).is_empty());
}

#[test]
fn a_crash_between_the_sink_write_and_the_record_answers_already_done() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let sinks = testing::sqlite_sink_toml(&db, "");
    // The sink writes; the agent dies before recording the decision.
    let mut sink = testing::build(&sinks);
    sink.apply(1, &create("D-1", "WH-1"), T0).unwrap();
    drop(sink);

    let mut a = applier(dir.path(), &sinks);
    assert_eq!(
        a.apply(1, &create("D-1", "WH-1"), T0).unwrap(),
        CommandOutcome::AlreadyDone
    );
    assert_eq!(wms_rows(&db).len(), 2, "one set of rows");
    assert_eq!(
        a.store().decision(1).unwrap().unwrap().outcome,
        CommandOutcome::AlreadyDone
    );
}

#[test]
fn a_crash_between_the_record_and_the_rename_finishes_the_rename_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("drop");
    std::fs::create_dir(&folder).unwrap();
    let sinks = testing::csv_sink_toml(&folder, "mode = \"per_order\"");
    {
        // Apply and record as the applier does, then die before `committed`.
        let store = CommandStore::open(&dir.path().join(COMMANDS_FILE)).unwrap();
        let mut sink = testing::build(&sinks);
        let applied = sink.apply(1, &create("D-1", "WH-1"), T0).unwrap();
        let decision = super::store::Decision {
            kind: "create_delivery".into(),
            delivery_no: xt_shared::ids::DocNo::new("D-1").unwrap(),
            sink: Some("drop".into()),
            outcome: applied.outcome,
        };
        store
            .record(1, &decision, applied.state.as_deref())
            .unwrap();
    }
    assert!(!folder.join("D-1.csv").exists());
    let mut a = applier(dir.path(), &sinks);
    a.recover().unwrap();
    assert!(folder.join("D-1.csv").exists(), "recovery renamed it");
    assert_eq!(
        a.apply(1, &create("D-1", "WH-1"), T0).unwrap(),
        CommandOutcome::Done
    );
    let files: Vec<_> = std::fs::read_dir(&folder).unwrap().collect();
    assert_eq!(files.len(), 1);
}

#[test]
fn commands_are_routed_by_warehouse_and_unserved_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let folder = dir.path().join("drop");
    std::fs::create_dir(&folder).unwrap();
    let sinks = format!(
        "{}{}",
        testing::sqlite_sink_toml(&db, ""),
        testing::csv_sink_toml(&folder, "mode = \"per_order\"").replace("\"WH-1\"", "\"WH-2\"")
    );
    let mut a = applier(dir.path(), &sinks);
    assert_eq!(a.kinds(), ["csv", "sqlite"]);
    assert_eq!(
        a.apply(1, &create("D-1", "WH-1"), T0).unwrap(),
        CommandOutcome::Done
    );
    assert_eq!(
        a.apply(2, &create("D-2", "WH-2"), T0).unwrap(),
        CommandOutcome::Done
    );
    let reason = refused(a.apply(3, &create("D-3", "WH-3"), T0).unwrap());
    assert_eq!(reason, "no sink of this agent serves warehouse WH-3");
    assert_eq!(wms_rows(&db).len(), 2);
    assert!(folder.join("D-2.csv").exists());
    // A refusal is recorded like any decision.
    assert_eq!(
        refused(a.apply(3, &create("D-3", "WH-3"), T0).unwrap()),
        reason
    );
}

/// A trigger of the WMS that rejects D-2's second line (after its first is written).
const REJECT_D2: &str = "CREATE TRIGGER reject_d2 BEFORE INSERT ON delivery_lines
    WHEN NEW.delivery_no = 'D-2' AND NEW.line_no = 2
    BEGIN SELECT RAISE(ABORT, 'D-2 is blocked'); END;";

#[test]
fn a_batch_applies_in_one_transaction_and_a_refused_delivery_rolls_back_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    Connection::open(&db)
        .unwrap()
        .execute_batch(REJECT_D2)
        .unwrap();
    let mut a = applier(dir.path(), &testing::sqlite_sink_toml(&db, ""));
    let commands = [
        create("D-1", "WH-1"),
        create("D-2", "WH-1"),
        create("D-3", "WH-1"),
        cancel("D-1", "WH-1"),
        // The same delivery again under another seq: ends the run, answered from the record.
        create("D-1", "WH-1"),
        create("D-9", "WH-7"),
    ];
    let batch: Vec<(u64, &AgentCommand)> = (1..).zip(commands.iter()).collect();
    let (outcomes, failed) = a.apply_batch(&batch, T0);
    assert!(failed.is_none(), "{failed:?}");
    assert_eq!(outcomes.len(), 6);
    assert_eq!(outcomes[0], CommandOutcome::Done);
    let reason = refused(outcomes[1].clone());
    assert!(reason.contains("D-2 is blocked"), "{reason}");
    assert_eq!(outcomes[2], CommandOutcome::Done);
    assert_eq!(
        outcomes[3],
        CommandOutcome::Done,
        "cancels the row of seq 1"
    );
    assert_eq!(outcomes[4], CommandOutcome::AlreadyDone);
    assert!(refused(outcomes[5].clone()).contains("WH-7"));
    let rows: Vec<(String, String)> = wms_rows(&db).into_iter().map(|r| (r.0, r.4)).collect();
    assert_eq!(
        rows,
        [
            ("D-1".to_owned(), "CANCELLED".to_owned()),
            ("D-1".to_owned(), "CANCELLED".to_owned()),
            ("D-3".to_owned(), "NEW".to_owned()),
            ("D-3".to_owned(), "NEW".to_owned()),
        ],
        "D-2's first line went back with its savepoint"
    );
    for (seq, outcome) in (1..).zip(&outcomes) {
        assert_eq!(&a.store().decision(seq).unwrap().unwrap().outcome, outcome);
    }
}

#[test]
fn a_transient_failure_in_a_batch_leaves_nothing_and_the_retry_applies_all() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let mut a = applier(
        dir.path(),
        &testing::sqlite_sink_toml(&db, "busy_timeout_ms = 0"),
    );
    let commands = [create("D-1", "WH-1"), create("D-2", "WH-1")];
    let batch: Vec<(u64, &AgentCommand)> = (1..).zip(commands.iter()).collect();
    let wms = Connection::open(&db).unwrap();
    wms.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (outcomes, failed) = a.apply_batch(&batch, T0);
    assert!(outcomes.is_empty());
    assert!(failed.is_some());
    wms.execute_batch("COMMIT").unwrap();
    assert!(wms_rows(&db).is_empty());
    assert!(a.store().is_empty().unwrap(), "nothing recorded");
    let (outcomes, failed) = a.apply_batch(&batch, T0);
    assert!(failed.is_none(), "{failed:?}");
    assert_eq!(outcomes, [CommandOutcome::Done, CommandOutcome::Done]);
    assert_eq!(wms_rows(&db).len(), 4);
}

#[test]
fn per_batch_idempotency_is_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("drop");
    std::fs::create_dir(&folder).unwrap();
    let sinks = testing::csv_sink_toml(&folder, "mode = \"per_batch\"");
    let mut a = applier(dir.path(), &sinks);
    a.apply(1, &create("D-1", "WH-1"), T0).unwrap();
    assert_eq!(
        a.apply(2, &create("D-1", "WH-1"), T0).unwrap(),
        CommandOutcome::AlreadyDone
    );
    assert_eq!(a.deadline(), Some(xt_shared::model::UtcMillis(T0.0 + 2000)));
    a.tick(xt_shared::model::UtcMillis(T0.0 + 2000)).unwrap();
    let text = std::fs::read_to_string(folder.join("batch-20260315T081500Z-1.csv")).unwrap();
    assert_eq!(
        text.lines().count(),
        3,
        "header and D-1's two lines: {text}"
    );
}

#[tokio::test]
async fn the_ticker_closes_a_due_batch_with_or_without_a_hub() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("drop");
    std::fs::create_dir(&folder).unwrap();
    let mut a = applier(
        dir.path(),
        &testing::csv_sink_toml(&folder, "mode = \"per_batch\""),
    );
    // Decided a minute ago: its window has ended.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let then = xt_shared::model::UtcMillis(now - 60_000);
    a.apply(1, &create("D-1", "WH-1"), then).unwrap();
    let applier: SharedApplier = Arc::new(Mutex::new(a));
    // Told to stop already: it still does the work that is due, then returns.
    let (_stop, stopping) = tokio::sync::watch::channel(true);
    super::stream::tick_until(applier.clone(), stopping).await;
    let time = crate::sinks::fields::file_time(then).unwrap();
    assert!(folder.join(format!("batch-{time}-1.csv")).exists());
    assert_eq!(applier.lock().unwrap().deadline(), None);
}

// ---- the stream ----------------------------------------------------------------------------

struct Hub {
    recv: ReadHalf<DuplexStream>,
    send: WriteHalf<DuplexStream>,
    agent: tokio::task::JoinHandle<Result<(), super::stream::StreamError>>,
}

impl Hub {
    fn start(applier: Applier, options: ServeOptions) -> Hub {
        let applier: SharedApplier = Arc::new(Mutex::new(applier));
        let (agent_side, hub_side) = tokio::io::duplex(64 * 1024);
        let (agent_recv, agent_send) = tokio::io::split(agent_side);
        let (recv, send) = tokio::io::split(hub_side);
        let agent =
            tokio::spawn(async move { serve(&applier, agent_recv, agent_send, &options).await });
        Hub { recv, send, agent }
    }

    async fn next(&mut self) -> Frame {
        read_frame(&mut self.recv, COMMAND_FRAME_BYTES_MAX)
            .await
            .unwrap()
            .expect("a frame")
    }

    async fn command(&mut self, seq: u64, command: AgentCommand) {
        write_frame(&mut self.send, &Frame::Command { seq, command })
            .await
            .unwrap();
    }

    async fn result(&mut self, seq: u64) -> CommandOutcome {
        match self.next().await {
            Frame::CommandResult { seq: s, outcome } if s == seq => outcome,
            other => panic!("expected the result of {seq}, got {other:?}"),
        }
    }
}

fn fast_retries() -> ServeOptions {
    ServeOptions {
        retry_base_ms: 1,
        retry_max_ms: 5,
        ..ServeOptions::default()
    }
}

#[tokio::test]
async fn the_stream_says_ready_then_answers_every_command_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let a = applier(dir.path(), &testing::sqlite_sink_toml(&db, ""));
    let mut hub = Hub::start(a, fast_retries());
    assert_eq!(
        hub.next().await,
        Frame::CommandsReady {
            sinks: vec!["sqlite".into()]
        }
    );
    // Pipelined: several commands before any answer.
    hub.command(1, create("D-1", "WH-1")).await;
    hub.command(2, create("D-2", "WH-1")).await;
    hub.command(3, cancel("D-1", "WH-1")).await;
    hub.command(4, create("D-9", "WH-7")).await;
    assert_eq!(hub.result(1).await, CommandOutcome::Done);
    assert_eq!(hub.result(2).await, CommandOutcome::Done);
    assert_eq!(hub.result(3).await, CommandOutcome::Done);
    assert!(refused(hub.result(4).await).contains("WH-7"));
    // After a reconnect the hub resends what it did not see answered.
    hub.command(2, create("D-2", "WH-1")).await;
    assert_eq!(hub.result(2).await, CommandOutcome::Done);
    let statuses: Vec<String> = wms_rows(&db).into_iter().map(|r| r.4).collect();
    assert_eq!(statuses, ["CANCELLED", "CANCELLED", "NEW", "NEW"]);

    // The hub finishes the stream: the loop ends cleanly.
    tokio::io::AsyncWriteExt::shutdown(&mut hub.send)
        .await
        .unwrap();
    hub.agent.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_transient_failure_is_retried_and_never_answered() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let a = applier(
        dir.path(),
        &testing::sqlite_sink_toml(&db, "busy_timeout_ms = 0"),
    );
    let options = fast_retries();
    let mut failing = options.last_error.subscribe();
    let mut hub = Hub::start(a, options);
    hub.next().await; // CommandsReady

    let wms = Connection::open(&db).unwrap();
    wms.execute_batch("BEGIN EXCLUSIVE").unwrap();
    hub.command(1, create("D-1", "WH-1")).await;
    // Wait until the agent has met the lock (no sleeping: the loop reports it).
    failing
        .wait_for(|e| e.as_deref().is_some_and(|e| e.contains("locked")))
        .await
        .unwrap();
    wms.execute_batch("COMMIT").unwrap();
    assert_eq!(hub.result(1).await, CommandOutcome::Done);
    assert_eq!(*failing.borrow(), None, "cleared once decided");
    assert_eq!(wms_rows(&db).len(), 2);
}

#[tokio::test]
async fn frames_other_than_commands_end_the_stream_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let mut hub = Hub::start(
        applier(dir.path(), &testing::sqlite_sink_toml(&db, "")),
        fast_retries(),
    );
    hub.next().await;
    write_frame(&mut hub.send, &Frame::Status { sources: vec![] })
        .await
        .unwrap();
    let err = hub.agent.await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "command stream: unexpected status frame from the hub"
    );
}

#[tokio::test]
async fn an_oversized_frame_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let mut hub = Hub::start(
        applier(dir.path(), &testing::sqlite_sink_toml(&db, "")),
        fast_retries(),
    );
    hub.next().await;
    use tokio::io::AsyncWriteExt;
    let len = (COMMAND_FRAME_BYTES_MAX as u32 + 1).to_be_bytes();
    hub.send.write_all(&len).await.unwrap();
    let err = hub.agent.await.unwrap().unwrap_err();
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
}
