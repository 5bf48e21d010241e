//! Group commit ([`super::group`]): members arriving together commit once; a member that fails
//! or panics fails alone and leaves the transaction free.

use super::group::Group;
use super::{Applied, Intake};
use crate::store::table::{Table, WriteTx};
use crate::store::{Store, StoreError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;
use xt_shared::model::UtcMillis;

const ROWS: Table<&str, u64> = Table::new("group_test_rows");

/// Writes its key (a duplicate admits nothing); then, the first time it runs, waits until
/// `hold_for` members queue behind it; then fails or panics if told to.
#[derive(Clone)]
struct Put {
    key: &'static str,
    group: Arc<Group>,
    hold_for: usize,
    held: Arc<AtomicBool>,
    fail: bool,
    panic: bool,
    /// How many times it was applied (copies included).
    runs: Arc<AtomicUsize>,
}

impl Put {
    fn new(group: &Arc<Group>, key: &'static str) -> Put {
        Put {
            key,
            group: group.clone(),
            hold_for: 0,
            held: Arc::new(AtomicBool::new(false)),
            fail: false,
            panic: false,
            runs: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Intake for Put {
    type Admitted = Put;
    /// Whether the key was new.
    type Outcome = bool;

    fn admit(self, tx: &WriteTx) -> Result<Result<Put, bool>, StoreError> {
        if tx.open(ROWS)?.contains(self.key)? {
            return Ok(Err(false));
        }
        Ok(Ok(self))
    }

    fn apply(put: Put, tx: &WriteTx, _now: UtcMillis) -> Result<Applied<bool>, StoreError> {
        put.runs.fetch_add(1, Ordering::SeqCst);
        tx.open(ROWS)?.insert(put.key, &1)?;
        if !put.held.swap(true, Ordering::SeqCst) {
            while put.group.queued() < put.hold_for {
                thread::sleep(Duration::from_millis(1));
            }
        }
        if put.panic {
            panic!("the test's member panics");
        }
        if put.fail {
            return Err(StoreError::Conflict(format!("{} refused", put.key)));
        }
        Ok(Applied {
            log: Vec::new(),
            outcome: true,
        })
    }
}

fn store() -> (tempfile::TempDir, Arc<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hub.redb")).unwrap();
    (dir, Arc::new(store))
}

fn stored(store: &Store, key: &str) -> bool {
    store
        .read()
        .unwrap()
        .open(ROWS)
        .unwrap()
        .contains(key)
        .unwrap()
}

/// Runs `first` (which holds the transaction until the others queue), then the others once it
/// holds it (or is done, alone); returns each one's result, `None` for one that panicked.
fn run_together(
    store: &Arc<Store>,
    group: &Arc<Group>,
    first: Put,
    others: Vec<Put>,
) -> Vec<Option<Result<bool, StoreError>>> {
    let run = |put: Put| {
        let (store, group) = (store.clone(), group.clone());
        thread::spawn(move || group.run(&store, put, UtcMillis(0)).map(|(new, _)| new))
    };
    let mut threads = vec![run(first)];
    while !group.busy() && !threads[0].is_finished() {
        thread::sleep(Duration::from_millis(1));
    }
    threads.extend(others.into_iter().map(run));
    threads.into_iter().map(|t| t.join().ok()).collect()
}

#[test]
fn members_arriving_together_commit_once() {
    let (_dir, store) = store();
    let group = Arc::new(Group::default());
    let keys = ["b", "c", "d", "e", "f"];
    let mut first = Put::new(&group, "a");
    first.hold_for = keys.len();
    let others = keys.iter().map(|k| Put::new(&group, k)).collect();
    let results = run_together(&store, &group, first, others);
    for result in results {
        assert!(matches!(result, Some(Ok(true))), "{result:?}");
    }
    assert_eq!(group.committed(), 1, "six members, one commit");
    for key in ["a", "b", "c", "d", "e", "f"] {
        assert!(stored(&store, key), "{key} committed");
    }
    // A member alone commits alone.
    let results = run_together(&store, &group, Put::new(&group, "g"), Vec::new());
    assert!(matches!(results[0], Some(Ok(true))));
    assert_eq!(group.committed(), 2);
}

#[test]
fn a_member_that_fails_fails_alone() {
    let (_dir, store) = store();
    let group = Arc::new(Group::default());
    let mut first = Put::new(&group, "a");
    first.hold_for = 3;
    let mut failing = Put::new(&group, "c");
    failing.fail = true;
    let others = vec![Put::new(&group, "b"), failing, Put::new(&group, "d")];
    let results = run_together(&store, &group, first, others);
    assert!(matches!(results[0], Some(Ok(true))), "{:?}", results[0]);
    assert!(matches!(results[1], Some(Ok(true))), "{:?}", results[1]);
    assert!(
        matches!(&results[2], Some(Err(StoreError::Conflict(m))) if m == "c refused"),
        "{:?}",
        results[2]
    );
    assert!(matches!(results[3], Some(Ok(true))), "{:?}", results[3]);
    for key in ["a", "b", "d"] {
        assert!(stored(&store, key), "{key} committed");
    }
    assert!(
        !stored(&store, "c"),
        "what the failing member wrote is dropped"
    );
}

#[test]
fn a_member_alone_that_fails_fails_once() {
    let (_dir, store) = store();
    let group = Arc::new(Group::default());
    let mut failing = Put::new(&group, "a");
    failing.fail = true;
    let runs = failing.runs.clone();
    let results = run_together(&store, &group, failing, Vec::new());
    assert!(matches!(&results[0], Some(Err(StoreError::Conflict(_)))));
    assert_eq!(runs.load(Ordering::SeqCst), 1, "not run again alone");
    assert!(!stored(&store, "a"));
}

#[test]
fn a_member_that_panics_frees_the_transaction() {
    let (_dir, store) = store();
    let group = Arc::new(Group::default());
    let mut first = Put::new(&group, "a");
    first.hold_for = 2;
    let mut panicking = Put::new(&group, "b");
    panicking.panic = true;
    let others = vec![panicking, Put::new(&group, "c")];
    let results = run_together(&store, &group, first, others);
    assert!(matches!(results[0], Some(Ok(true))), "{:?}", results[0]);
    assert!(results[1].is_none(), "the panic reaches its own caller");
    assert!(matches!(results[2], Some(Ok(true))), "{:?}", results[2]);
    assert!(stored(&store, "a") && stored(&store, "c"));
    assert!(!stored(&store, "b"));
    // Nothing is left holding the transaction.
    let results = run_together(&store, &group, Put::new(&group, "d"), Vec::new());
    assert!(matches!(results[0], Some(Ok(true))));
    assert!(stored(&store, "d"));
}

#[test]
fn a_duplicate_of_a_member_before_it_waits_for_that_commit() {
    let (_dir, store) = store();
    let group = Arc::new(Group::default());
    let mut first = Put::new(&group, "a");
    first.hold_for = 1;
    let results = run_together(&store, &group, first, vec![Put::new(&group, "a")]);
    // The second saw the first's row in the shared transaction: a duplicate, answered only
    // once that row committed, in the same batch.
    assert!(matches!(results[0], Some(Ok(true))), "{:?}", results[0]);
    assert!(matches!(results[1], Some(Ok(false))), "{:?}", results[1]);
    assert_eq!(group.committed(), 1);
    assert!(stored(&store, "a"));
}
