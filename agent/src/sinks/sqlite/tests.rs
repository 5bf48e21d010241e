use super::*;
use crate::sinks::testing::{self, T0, cancel, create, wms_db, wms_rows};
use rusqlite::Connection;

fn values() -> StatusValues {
    StatusValues {
        new: "NEW".into(),
        cancelled: "CANCELLED".into(),
        shipped: vec!["SHIPPED".into(), "DONE".into()],
    }
}

/// Each set of statuses of a delivery's rows and what a cancel does.
#[test]
fn cancel_decisions() {
    let s = |v: &str| Some(v.to_owned());
    let cases: &[(&str, Vec<Option<String>>, CancelDecision)] = &[
        ("no rows", vec![], CancelDecision::NotFound),
        ("all new", vec![s("NEW")], CancelDecision::Cancel),
        (
            "all cancelled",
            vec![s("CANCELLED")],
            CancelDecision::AlreadyCancelled,
        ),
        (
            "some cancelled, some new",
            vec![s("CANCELLED"), s("NEW")],
            CancelDecision::Cancel,
        ),
        (
            "shipped",
            vec![s("SHIPPED")],
            CancelDecision::Shipped("SHIPPED".into()),
        ),
        (
            "shipped wins over new",
            vec![s("NEW"), s("DONE")],
            CancelDecision::Shipped("DONE".into()),
        ),
        (
            "picking: the WMS moved on",
            vec![s("NEW"), s("PICKING")],
            CancelDecision::MovedOn("PICKING".into()),
        ),
        (
            "a null status is not new",
            vec![None],
            CancelDecision::MovedOn("NULL".into()),
        ),
        (
            "statuses are compared exactly",
            vec![s("new")],
            CancelDecision::MovedOn("new".into()),
        ),
    ];
    for (name, statuses, expected) in cases {
        assert_eq!(&decide_cancel(statuses, &values()), expected, "{name}");
    }
}

/// Which SQLite errors are retried and which refuse the command.
#[test]
fn errors_are_classified() {
    let err = |code: i32| rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
    let cases = [
        ("busy", rusqlite::ffi::SQLITE_BUSY, Failure::Transient),
        ("locked", rusqlite::ffi::SQLITE_LOCKED, Failure::Transient),
        ("io error", rusqlite::ffi::SQLITE_IOERR, Failure::Transient),
        ("disk full", rusqlite::ffi::SQLITE_FULL, Failure::Transient),
        (
            "cannot open",
            rusqlite::ffi::SQLITE_CANTOPEN,
            Failure::Transient,
        ),
        (
            "read-only",
            rusqlite::ffi::SQLITE_READONLY,
            Failure::Transient,
        ),
        (
            "no such table (generic error)",
            rusqlite::ffi::SQLITE_ERROR,
            Failure::Transient,
        ),
        (
            "not null",
            rusqlite::ffi::SQLITE_CONSTRAINT_NOTNULL,
            Failure::Refuse,
        ),
        (
            "unique",
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE,
            Failure::Refuse,
        ),
        (
            "type mismatch",
            rusqlite::ffi::SQLITE_MISMATCH,
            Failure::Refuse,
        ),
        ("too big", rusqlite::ffi::SQLITE_TOOBIG, Failure::Refuse),
    ];
    for (name, code, expected) in cases {
        assert_eq!(classify(&err(code)), expected, "{name}");
    }
    assert_eq!(
        classify(&rusqlite::Error::InvalidQuery),
        Failure::Transient,
        "anything else is retried"
    );
}

fn refused(applied: Applied) -> String {
    match applied.outcome {
        CommandOutcome::Refused { reason } => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn create_inserts_every_line_once_and_a_resend_is_already_done() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let mut sink = testing::build(&testing::sqlite_sink_toml(&db, ""));
    let first = sink.apply(1, &create("D-1", "WH-1"), T0).unwrap();
    assert_eq!(first, Applied::outcome(CommandOutcome::Done));
    let rows = wms_rows(&db);
    assert_eq!(
        rows,
        vec![
            ("D-1".into(), 1, "SKU-RED".into(), 2, "NEW".into()),
            ("D-1".into(), 2, "SKU-BLUE".into(), 1, "NEW".into()),
        ]
    );
    let conn = Connection::open(&db).unwrap();
    let (order_nos, receiver, created, creator, memo): (String, String, String, String, String) =
        conn.query_row(
            "SELECT order_nos, receiver, created, creator, buyer_memo FROM delivery_lines WHERE line_no = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (order_nos.as_str(), receiver.as_str(), created.as_str()),
        ("T1001,T1002", "张三", "2026-03-15 16:15:00")
    );
    assert_eq!((creator.as_str(), memo.as_str()), ("xietong", "周末送货"));

    // The hub resends (same seq or a new one): the delivery number is found, nothing written.
    for seq in [1, 7] {
        let again = sink.apply(seq, &create("D-1", "WH-1"), T0).unwrap();
        assert_eq!(again, Applied::outcome(CommandOutcome::AlreadyDone));
    }
    assert_eq!(wms_rows(&db), rows);
}

#[test]
fn cancel_of_a_new_delivery_cancels_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let mut sink = testing::build(&testing::sqlite_sink_toml(&db, ""));
    sink.apply(1, &create("D-1", "WH-1"), T0).unwrap();
    sink.apply(2, &create("D-2", "WH-1"), T0).unwrap();
    let done = sink.apply(3, &cancel("D-1", "WH-1"), T0).unwrap();
    assert_eq!(done, Applied::outcome(CommandOutcome::Done));
    let statuses: Vec<(String, String)> = wms_rows(&db)
        .into_iter()
        .map(|(no, _, _, _, status)| (no, status))
        .collect();
    assert_eq!(
        statuses,
        [
            ("D-1", "CANCELLED"),
            ("D-1", "CANCELLED"),
            ("D-2", "NEW"),
            ("D-2", "NEW")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );
    let again = sink.apply(4, &cancel("D-1", "WH-1"), T0).unwrap();
    assert_eq!(again, Applied::outcome(CommandOutcome::AlreadyDone));
}

#[test]
fn cancel_after_the_wms_moved_on_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let mut sink = testing::build(&testing::sqlite_sink_toml(&db, ""));
    sink.apply(1, &create("D-1", "WH-1"), T0).unwrap();
    sink.apply(2, &create("D-2", "WH-1"), T0).unwrap();
    let conn = Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE delivery_lines SET status = 'SHIPPED' WHERE delivery_no = 'D-1'",
        [],
    )
    .unwrap();
    conn.execute(
        "UPDATE delivery_lines SET status = 'PICKING' WHERE delivery_no = 'D-2'",
        [],
    )
    .unwrap();

    let shipped = refused(sink.apply(3, &cancel("D-1", "WH-1"), T0).unwrap());
    assert!(shipped.starts_with("already shipped"), "{shipped}");
    assert!(shipped.contains("\"SHIPPED\""), "{shipped}");
    let picking = refused(sink.apply(4, &cancel("D-2", "WH-1"), T0).unwrap());
    assert!(
        picking.contains("has started on delivery order D-2"),
        "{picking}"
    );
    let unknown = refused(sink.apply(5, &cancel("D-9", "WH-1"), T0).unwrap());
    assert!(
        unknown.contains("D-9 is not in table delivery_lines"),
        "{unknown}"
    );
    let statuses: Vec<String> = wms_rows(&db).into_iter().map(|r| r.4).collect();
    assert_eq!(statuses, ["SHIPPED", "SHIPPED", "PICKING", "PICKING"]);
}

#[test]
fn a_command_for_another_warehouse_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let mut sink = testing::build(&testing::sqlite_sink_toml(&db, ""));
    let reason = refused(sink.apply(1, &create("D-1", "WH-2"), T0).unwrap());
    assert_eq!(reason, "sink wms does not serve warehouse WH-2");
    assert!(wms_rows(&db).is_empty());
}

#[test]
fn rows_the_table_rejects_refuse_the_whole_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    // Without the constant, the NOT NULL `creator` column rejects every row.
    let toml = testing::sqlite_sink_toml(&db, "").replace("creator = \"xietong\"", "");
    let mut sink = testing::build(&toml);
    let reason = refused(sink.apply(1, &create("D-1", "WH-1"), T0).unwrap());
    assert!(
        reason.starts_with("table delivery_lines refused it:"),
        "{reason}"
    );
    assert!(reason.contains("NOT NULL"), "{reason}");

    // A zero quantity is refused before the table sees it.
    let mut sink = testing::build(&testing::sqlite_sink_toml(&db, ""));
    let mut order = testing::order("D-2", "WH-1");
    order.lines[1].quantity = 0;
    let reason = refused(
        sink.apply(2, &AgentCommand::CreateDelivery(Box::new(order)), T0)
            .unwrap(),
    );
    assert!(reason.contains("quantity 0"), "{reason}");
    assert!(
        wms_rows(&db).is_empty(),
        "nothing of a refused delivery is written"
    );
}

#[test]
fn a_locked_database_is_transient_and_the_retry_writes_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let mut sink = testing::build(&testing::sqlite_sink_toml(&db, "busy_timeout_ms = 0"));
    let wms = Connection::open(&db).unwrap();
    wms.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let err = sink.apply(1, &create("D-1", "WH-1"), T0).unwrap_err();
    assert!(
        matches!(&err, SinkError::Sqlite { source, .. } if classify(source) == Failure::Transient),
        "{err}"
    );
    wms.execute_batch("COMMIT").unwrap();
    let done = sink.apply(1, &create("D-1", "WH-1"), T0).unwrap();
    assert_eq!(done.outcome, CommandOutcome::Done);
    assert_eq!(wms_rows(&db).len(), 2);
}

#[test]
fn a_missing_database_or_table_is_transient() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.db");
    let mut sink = testing::build(&testing::sqlite_sink_toml(&missing, ""));
    assert!(sink.apply(1, &create("D-1", "WH-1"), T0).is_err());
    assert!(
        !missing.exists(),
        "the agent never creates the WMS database"
    );

    let db = dir.path().join("empty.db");
    Connection::open(&db).unwrap();
    let mut sink = testing::build(&testing::sqlite_sink_toml(&db, ""));
    let err = sink.apply(1, &create("D-1", "WH-1"), T0).unwrap_err();
    assert!(err.to_string().contains("no such table"), "{err}");
}

#[test]
fn check_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let db = wms_db(dir.path());
    let mut sink = testing::build(&testing::sqlite_sink_toml(&db, ""));
    let found = sink.check().unwrap();
    assert!(
        found.contains("has the 13 mapped columns, writable"),
        "{found}"
    );

    let toml = testing::sqlite_sink_toml(&db, "").replace("\"item_name\"", "\"品名\"");
    let err = testing::build(&toml).check().unwrap_err().to_string();
    assert!(err.contains("has no column [\"品名\"]"), "{err}");
    let toml = testing::sqlite_sink_toml(&db, "").replace("\"delivery_lines\"", "\"发货单\"");
    let err = testing::build(&toml).check().unwrap_err().to_string();
    assert!(err.contains("no table \"发货单\""), "{err}");
}
