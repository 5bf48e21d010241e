//! The per-tenant log on a real redb file: positions, pages, retention and the reset a reader
//! resuming from a trimmed position gets, and the move from the hub-wide log of layout 1.

use super::*;
use crate::store::AgentLogged;
use redb::TableDefinition;
use xt_shared::ids::{AgentId, SiteId};

fn agent_event(tenant: &str, at: i64) -> LogEntry {
    LogEntry::Agent(AgentLogged {
        tenant: TenantId::new(tenant).unwrap(),
        agent: AgentId::new("ag-1").unwrap(),
        site: SiteId::new("site").unwrap(),
        connected: true,
        at: UtcMillis(at),
    })
}

fn db() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("log.redb")).unwrap();
    (dir, store)
}

fn append_all(db: &Store, entries: &[LogEntry]) -> Vec<u64> {
    let tx = db.write().unwrap();
    let positions = append(&tx, entries).unwrap();
    tx.commit().unwrap();
    positions
}

fn read(db: &Store, tenant: &str, after: u64, limit: usize) -> LogPage {
    page(
        &db.read().unwrap(),
        &TenantId::new(tenant).unwrap(),
        after,
        limit,
    )
    .unwrap()
}

fn positions(page: &LogPage) -> Vec<u64> {
    page.entries.iter().map(|(p, _)| *p).collect()
}

#[test]
fn each_tenant_counts_its_own_positions() {
    let (_dir, db) = db();
    let got = append_all(
        &db,
        &[
            agent_event("a", 1),
            agent_event("b", 2),
            agent_event("a", 3),
            agent_event("b", 4),
            agent_event("b", 5),
        ],
    );
    assert_eq!(got, vec![1, 1, 2, 2, 3]);
    assert_eq!(positions(&read(&db, "a", 0, 10)), vec![1, 2]);
    assert_eq!(positions(&read(&db, "b", 1, 10)), vec![2, 3]);
    assert_eq!(positions(&read(&db, "b", 0, 2)), vec![1, 2]);
    assert!(read(&db, "c", 0, 10).entries.is_empty());
    assert!(read(&db, "a", u64::MAX, 10).entries.is_empty());
    let tx = db.read().unwrap();
    assert_eq!(last_position(&tx, &TenantId::new("b").unwrap()).unwrap(), 3);
    assert_eq!(last_position(&tx, &TenantId::new("c").unwrap()).unwrap(), 0);
}

/// One retention case: entries appended at these times (ms), trimmed at `now` with this
/// retention and batch; then which positions are left and where a reader from 0 is reset to.
struct TrimCase {
    name: &'static str,
    times: &'static [i64],
    max_age_ms: i64,
    max_entries: u64,
    now: i64,
    batch: usize,
    kept: &'static [u64],
    reset: Option<u64>,
}

const TRIM_CASES: &[TrimCase] = &[
    TrimCase {
        name: "nothing old, nothing over: nothing goes",
        times: &[10, 20, 30],
        max_age_ms: 100,
        max_entries: 10,
        now: 50,
        batch: 100,
        kept: &[1, 2, 3],
        reset: None,
    },
    TrimCase {
        name: "by age: entries older than now - max_age go",
        times: &[10, 20, 30, 40],
        max_age_ms: 15,
        max_entries: 10,
        now: 40,
        batch: 100,
        kept: &[3, 4],
        reset: Some(2),
    },
    TrimCase {
        name: "an entry exactly max_age old stays",
        times: &[10, 20],
        max_age_ms: 10,
        max_entries: 10,
        now: 20,
        batch: 100,
        kept: &[1, 2],
        reset: None,
    },
    TrimCase {
        name: "by count: the oldest beyond max_entries go",
        times: &[10, 20, 30, 40, 50],
        max_age_ms: 1_000,
        max_entries: 2,
        now: 50,
        batch: 100,
        kept: &[4, 5],
        reset: Some(3),
    },
    TrimCase {
        name: "count and age together: whichever removes more",
        times: &[10, 20, 30, 40, 50],
        max_age_ms: 15,
        max_entries: 4,
        now: 50,
        batch: 100,
        kept: &[4, 5],
        reset: Some(3),
    },
    TrimCase {
        name: "a batch bound leaves the rest for the next tick",
        times: &[10, 20, 30, 40, 50],
        max_age_ms: 1,
        max_entries: 100,
        now: 1_000,
        batch: 2,
        kept: &[3, 4, 5],
        reset: Some(2),
    },
    TrimCase {
        name: "everything old: the log is empty, positions go on",
        times: &[10, 20],
        max_age_ms: 5,
        max_entries: 100,
        now: 1_000,
        batch: 100,
        kept: &[],
        reset: Some(2),
    },
];

#[test]
fn retention_trims_by_age_and_count() {
    for case in TRIM_CASES {
        let (_dir, db) = db();
        let entries: Vec<_> = case.times.iter().map(|&t| agent_event("a", t)).collect();
        append_all(&db, &entries);
        let tx = db.write().unwrap();
        let retention = LogRetention {
            max_age_ms: case.max_age_ms,
            max_entries: case.max_entries,
        };
        let removed = trim(&tx, "a", retention, UtcMillis(case.now), case.batch).unwrap();
        tx.commit().unwrap();
        let page = read(&db, "a", 0, 100);
        assert_eq!(positions(&page), case.kept, "{}", case.name);
        assert_eq!(page.reset, case.reset, "{}", case.name);
        assert_eq!(removed, case.times.len() - case.kept.len(), "{}", case.name);
    }
}

#[test]
fn a_reader_behind_the_trim_is_reset_one_ahead_is_not() {
    let (_dir, db) = db();
    append_all(
        &db,
        &(1..=6).map(|t| agent_event("a", t)).collect::<Vec<_>>(),
    );
    let tx = db.write().unwrap();
    let retention = LogRetention {
        max_age_ms: i64::MAX,
        max_entries: 2,
    };
    assert_eq!(trim(&tx, "a", retention, UtcMillis(6), 100).unwrap(), 4);
    tx.commit().unwrap();
    // Resuming from 1: 2..=4 are gone.
    let behind = read(&db, "a", 1, 10);
    assert_eq!(behind.reset, Some(4));
    assert_eq!(positions(&behind), vec![5, 6]);
    // Resuming from exactly where the trim ended, or later: nothing was lost.
    let at = read(&db, "a", 4, 10);
    assert_eq!(at.reset, None);
    assert_eq!(positions(&at), vec![5, 6]);
    assert_eq!(read(&db, "a", 5, 10).reset, None);
    // New entries continue the positions.
    assert_eq!(append_all(&db, &[agent_event("a", 7)]), vec![7]);
    // Even a log trimmed empty continues from its last position.
    let tx = db.write().unwrap();
    trim(&tx, "a", retention, UtcMillis(100), 100).unwrap();
    let all = LogRetention {
        max_age_ms: 0,
        max_entries: 0,
    };
    trim(&tx, "a", all, UtcMillis(100), 100).unwrap();
    tx.commit().unwrap();
    assert!(read(&db, "a", 7, 10).entries.is_empty());
    assert_eq!(append_all(&db, &[agent_event("a", 101)]), vec![8]);
}

#[test]
fn the_hub_wide_log_of_layout_1_moves_keeping_its_keys() {
    const CHANGE_LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("change_log");
    const CHANGE_LOG_BY_TENANT: TableDefinition<(&str, u64), ()> =
        TableDefinition::new("change_log_by_tenant");
    let (_dir, db) = db();
    let tx = db.write().unwrap();
    {
        let txn = tx.backend();
        let mut old = txn.open_table(CHANGE_LOG).unwrap();
        let mut index = txn.open_table(CHANGE_LOG_BY_TENANT).unwrap();
        for (key, tenant) in [(1, "a"), (2, "b"), (3, "a"), (4, "a"), (5, "b")] {
            old.insert(
                key,
                crate::store::codec::encode(&agent_event(tenant, key as i64)).as_slice(),
            )
            .unwrap();
            index.insert((tenant, key), ()).unwrap();
        }
    }
    assert_eq!(migrate_from_hub_wide(&tx).unwrap(), 5);
    tx.commit().unwrap();
    assert_eq!(positions(&read(&db, "a", 0, 10)), vec![1, 3, 4]);
    assert_eq!(positions(&read(&db, "b", 0, 10)), vec![2, 5]);
    // A client that had seen key 3 resumes after it.
    assert_eq!(positions(&read(&db, "a", 3, 10)), vec![4]);
    // The next entry of each tenant follows its last key.
    assert_eq!(
        append_all(&db, &[agent_event("a", 9), agent_event("b", 9)]),
        vec![5, 6]
    );
    let names = db.read().unwrap().table_names().unwrap();
    assert!(!names.contains(&"change_log".to_owned()), "{names:?}");
    assert!(
        !names.contains(&"change_log_by_tenant".to_owned()),
        "{names:?}"
    );
}
