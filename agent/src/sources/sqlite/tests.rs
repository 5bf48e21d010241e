use super::*;
use crate::timestamp::UtcOffset;
use std::collections::BTreeMap;
use std::path::Path;
use xt_shared::change::{Body, EntityKind};

const QUERY: &str = "SELECT wh_code, item_code, qty, updated_at, id FROM stock \
     WHERE (updated_at, id) > (?1, ?2) ORDER BY updated_at, id LIMIT ?3";

struct Fixture {
    _dir: tempfile::TempDir,
    db: PathBuf,
    outbox: Outbox,
    writer: Connection,
}

use std::path::PathBuf;

fn fixture(updated_at_type: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wms.db");
    let writer = Connection::open(&db).unwrap();
    writer
        .execute_batch(&format!(
            "CREATE TABLE stock (id INTEGER PRIMARY KEY, wh_code TEXT NOT NULL, \
             item_code TEXT, qty, updated_at {updated_at_type} NOT NULL);"
        ))
        .unwrap();
    let outbox = Outbox::open(&dir.path().join("outbox.redb")).unwrap();
    Fixture {
        _dir: dir,
        db,
        outbox,
        writer,
    }
}

fn source(db: &Path, batch_rows: usize) -> SqliteSource {
    let columns: BTreeMap<String, String> = [
        ("warehouse", "wh_code"),
        ("sku", "item_code"),
        ("on_hand", "qty"),
        ("version", "updated_at"),
    ]
    .into_iter()
    .map(|(a, b)| (a.to_owned(), b.to_owned()))
    .collect();
    let mapping = Mapping::new(
        EntityKind::Stock,
        &columns,
        &BTreeMap::new(),
        UtcOffset::CST,
    )
    .unwrap();
    SqliteSource::new(
        SourceName::new("wms-stock").unwrap(),
        mapping,
        SqliteSettings {
            path: db.to_owned(),
            query: QUERY.into(),
            cursor: vec!["updated_at".into(), "id".into()],
            initial_cursor: None,
            batch_rows,
            busy_timeout_ms: 1000,
        },
    )
}

fn insert(f: &Fixture, id: i64, sku: &str, qty: &str, updated_at: &str) {
    f.writer
        .execute(
            "INSERT INTO stock (id, wh_code, item_code, qty, updated_at) VALUES (?1, 'WH1', ?2, ?3, ?4)",
            rusqlite::params![id, sku, qty, updated_at],
        )
        .unwrap();
}

/// Polls until the source has nothing more; returns the reports.
fn drain(source: &mut SqliteSource, outbox: &Outbox) -> Vec<PollReport> {
    let mut reports = Vec::new();
    for _ in 0..1000 {
        let report = source.poll(outbox).unwrap();
        reports.push(report);
        if !report.more {
            return reports;
        }
    }
    panic!("source never settled");
}

/// The SKUs in the outbox, in seq order.
fn skus(outbox: &Outbox) -> Vec<String> {
    let name = SourceName::new("wms-stock").unwrap();
    outbox
        .read(&name, 1, u64::MAX, usize::MAX, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|c| match c.body {
            Body::Stock(s) => s.sku.to_string(),
            other => panic!("unexpected body {other:?}"),
        })
        .collect()
}

#[test]
fn ties_on_updated_at_across_chunks_are_not_skipped() {
    let f = fixture("TEXT");
    for id in 1..=10 {
        insert(&f, id, &format!("S{id}"), "5", "2024-11-26 10:00:00");
    }
    let mut s = source(&f.db, 3);
    let reports = drain(&mut s, &f.outbox);
    assert_eq!(
        reports.iter().map(|r| r.rows).collect::<Vec<_>>(),
        [3, 3, 3, 1]
    );
    assert_eq!(reports.last().unwrap().durable_seq, 10);
    let expected: Vec<String> = (1..=10).map(|i| format!("S{i}")).collect();
    assert_eq!(skus(&f.outbox), expected);

    // Written later with the same updated_at and a higher id: still picked up.
    insert(&f, 11, "S11", "1", "2024-11-26 10:00:00");
    insert(&f, 12, "S12", "1", "2024-11-26 10:00:01");
    let report = s.poll(&f.outbox).unwrap();
    assert_eq!(
        (report.rows, report.durable_seq, report.more),
        (2, 12, false)
    );
    // Nothing new: nothing committed.
    let report = s.poll(&f.outbox).unwrap();
    assert_eq!((report.rows, report.durable_seq), (0, 12));
    // A new source on the same outbox resumes from the stored cursor.
    let mut again = source(&f.db, 3);
    assert_eq!(again.poll(&f.outbox).unwrap().rows, 0);
    assert_eq!(skus(&f.outbox).len(), 12);
}

#[test]
fn ten_thousand_rows_sync_fully() {
    let f = fixture("INTEGER");
    f.writer.execute_batch("BEGIN").unwrap();
    for id in 1..=10_000 {
        // 7 rows share each version.
        insert(
            &f,
            id,
            &format!("S{id}"),
            &(id % 50).to_string(),
            &(1_700_000_000 + id / 7).to_string(),
        );
    }
    f.writer.execute_batch("COMMIT").unwrap();
    let mut s = source(&f.db, 4096);
    let reports = drain(&mut s, &f.outbox);
    assert_eq!(reports.iter().map(|r| r.rows).sum::<u64>(), 10_000);
    assert_eq!(reports.len(), 3);
    let name = SourceName::new("wms-stock").unwrap();
    let all = f
        .outbox
        .read(&name, 1, u64::MAX, usize::MAX, usize::MAX)
        .unwrap();
    assert_eq!(all.len(), 10_000);
    // Integer versions are taken as they are.
    assert_eq!(all[6].version, 1_700_000_001);
    let expected: Vec<String> = (1..=10_000).map(|i| format!("S{i}")).collect();
    assert_eq!(skus(&f.outbox), expected);
}

#[test]
fn bad_rows_are_quarantined_with_their_cursor() {
    let f = fixture("TEXT");
    insert(&f, 1, "S1", "12.0", "2024-11-26 10:00:00");
    insert(&f, 2, "S2", "abc", "2024-11-26 10:00:00");
    insert(&f, 3, "", "1", "2024-11-26 10:00:00");
    f.writer
        .execute(
            "INSERT INTO stock VALUES (4, 'WH1', 'S4', NULL, '2024-11-26 10:00:01')",
            [],
        )
        .unwrap();
    f.writer
        .execute(
            "INSERT INTO stock VALUES (5, 'WH1', CAST(x'BAEC' AS TEXT), 1, '2024-11-26 10:00:02')",
            [],
        )
        .unwrap();
    insert(&f, 6, "S6", "7", "2024-11-26 10:00:03");
    let mut s = source(&f.db, 100);
    let report = s.poll(&f.outbox).unwrap();
    assert_eq!(
        (report.rows, report.quarantined, report.more),
        (2, 4, false)
    );
    assert_eq!(skus(&f.outbox), ["S1", "S6"]);
    let name = SourceName::new("wms-stock").unwrap();
    let q = f.outbox.quarantined_rows(&name).unwrap();
    let got: Vec<(&str, &str)> = q
        .iter()
        .map(|r| (r.location.as_str(), r.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                r#"row cursor=("2024-11-26 10:00:00", 2)"#,
                r#"on_hand (column "qty"): "abc" is not an integer"#
            ),
            (
                r#"row cursor=("2024-11-26 10:00:00", 3)"#,
                r#"sku (column "item_code") is empty"#
            ),
            (
                r#"row cursor=("2024-11-26 10:00:01", 4)"#,
                r#"on_hand (column "qty") is empty"#
            ),
            (
                r#"row cursor=("2024-11-26 10:00:02", 5)"#,
                r#"invalid utf-8 bytes in column "item_code""#
            ),
        ]
    );
    assert_eq!(
        q[0].raw,
        "wh_code=WH1, item_code=S2, qty=abc, updated_at=2024-11-26 10:00:00, id=2"
    );
    assert_eq!(f.outbox.source_progress(&name).unwrap().quarantined, 4);
}

#[test]
fn default_initial_cursor_fits_the_column_type() {
    for (decl, updated_at) in [
        ("TEXT", ""),
        ("VARCHAR(20)", "!"),
        ("INTEGER", "-5"),
        ("REAL", "0.5"),
        ("", "x"),
    ] {
        let f = fixture(decl);
        insert(&f, 1, "S1", "1", updated_at);
        insert(&f, 2, "S2", "1", "2024-11-26 10:00:00");
        let mut s = source(&f.db, 10);
        let report = s.poll(&f.outbox).unwrap();
        let durable = f
            .outbox
            .source_progress(&SourceName::new("wms-stock").unwrap())
            .unwrap()
            .durable_seq;
        // Versions that are not timestamps are quarantined, but every row is read.
        assert_eq!(report.rows + report.quarantined, 2, "column type {decl:?}");
        assert_eq!(durable, report.rows, "column type {decl:?}");
    }
}

#[test]
fn check_describes_and_errors_name_the_problem() {
    let f = fixture("TEXT");
    insert(&f, 1, "S1", "1", "2024-11-26 10:00:00");
    insert(&f, 2, "S2", "1", "2024-11-26 10:00:00");
    let mut s = source(&f.db, 1);
    let text = s.check().unwrap();
    assert!(
        text.ends_with("query ok, 2 rows after the initial cursor"),
        "{text}"
    );
    s.poll(&f.outbox).unwrap();
    let text = s.check().unwrap();
    assert!(
        text.ends_with("query ok, 1 rows after the last polled cursor"),
        "{text}"
    );

    let mut missing = source(&f.db.with_file_name("nope.db"), 10);
    let err = missing.poll(&f.outbox).unwrap_err().to_string();
    assert!(err.starts_with("source wms-stock: sqlite "), "{err}");

    let mut wrong = source(&f.db, 10);
    wrong.settings.query =
        "SELECT wh_code, item_code, qty, updated_at, id FROM stock WHERE id > ?1 LIMIT ?2".into();
    let err = wrong.check().unwrap_err().to_string();
    assert_eq!(
        err,
        "source wms-stock: sqlite.query has 2 parameter(s), expected 3 (the cursor columns, then the limit)"
    );

    let mut wrong = source(&f.db, 10);
    wrong.settings.query =
        "SELECT wh_code, item_code, qty, id FROM stock WHERE (id, id) > (?1, ?2) LIMIT ?3".into();
    let err = wrong.poll(&f.outbox).unwrap_err().to_string();
    assert_eq!(
        err,
        "source wms-stock: cursor column \"updated_at\" is not a result column of sqlite.query"
    );
}

#[test]
fn cursor_round_trips_exactly() {
    let cells = vec![
        Cell::Int(i64::MIN),
        Cell::Real(0.1),
        Cell::Text(b"\xba\xec".to_vec()),
        Cell::Blob(vec![0, 1]),
    ];
    assert_eq!(decode_cursor(&encode_cursor(&cells)).unwrap(), cells);
    assert!(
        decode_cursor(&[9, 0])
            .unwrap_err()
            .contains("cursor version 9")
    );
    assert!(is_text_affinity(Some("varchar(10)")));
    assert!(!is_text_affinity(Some("INTEGER")));
    assert!(!is_text_affinity(None));
}
