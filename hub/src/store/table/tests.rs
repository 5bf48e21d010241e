use super::*;
use crate::store::Store;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    text: String,
}

impl Record for Note {
    const NAME: &'static str = "test_notes";
    const VERSION: u8 = 1;
    fn read_older(version: u8, payload: &[u8]) -> Option<Result<Self, postcard::Error>> {
        crate::store::codec::first_version(version, payload)
    }
}

const NOTES: Table<(&str, u64), Note> = Table::new("test_notes");
const NAMES: Table<&str, String> = Table::new("test_names");

fn note(text: &str) -> Note {
    Note { text: text.into() }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("t.redb")).unwrap();
    (dir, store)
}

#[test]
fn a_table_never_written_reads_empty() {
    let (_d, store) = store();
    let tx = store.read().unwrap();
    let notes = tx.open(NOTES).unwrap();
    assert_eq!(notes.get(("t1", 1)).unwrap(), None);
    assert!(notes.is_empty().unwrap());
    assert_eq!(notes.range(("t1", 0)..).unwrap().count(), 0);
}

#[test]
fn writes_commit_together_and_read_back_typed_in_key_order() {
    let (_d, store) = store();
    let tx = store.write().unwrap();
    {
        let mut notes = tx.open(NOTES).unwrap();
        for (t, n) in [("t2", 1), ("t1", 2), ("t1", 1)] {
            notes.insert((t, n), &note(&format!("{t}/{n}"))).unwrap();
        }
        tx.open(NAMES)
            .unwrap()
            .insert("a", &"甲".to_string())
            .unwrap();
    }
    tx.commit().unwrap();

    let tx = store.read().unwrap();
    let notes = tx.open(NOTES).unwrap();
    let t1: Vec<_> = notes
        .range(("t1", 0)..=("t1", u64::MAX))
        .unwrap()
        .map(|r| {
            let r = r.unwrap();
            (r.key().1, r.value.text)
        })
        .collect();
    assert_eq!(t1, [(1, "t1/1".to_string()), (2, "t1/2".to_string())]);
    assert_eq!(
        tx.open(NAMES).unwrap().get("a").unwrap().as_deref(),
        Some("甲")
    );
}

#[test]
fn a_dropped_write_transaction_leaves_nothing() {
    let (_d, store) = store();
    {
        let tx = store.write().unwrap();
        tx.open(NOTES)
            .unwrap()
            .insert(("t1", 1), &note("x"))
            .unwrap();
    }
    let tx = store.read().unwrap();
    assert_eq!(tx.open(NOTES).unwrap().get(("t1", 1)).unwrap(), None);
}

#[test]
fn replace_take_and_remove_range_answer_what_was_there() {
    let (_d, store) = store();
    let tx = store.write().unwrap();
    {
        let mut notes = tx.open(NOTES).unwrap();
        assert_eq!(notes.replace(("t1", 1), &note("a")).unwrap(), None);
        assert_eq!(
            notes.replace(("t1", 1), &note("b")).unwrap(),
            Some(note("a"))
        );
        notes.insert(("t1", 2), &note("c")).unwrap();
        notes.insert(("t2", 1), &note("d")).unwrap();
        assert_eq!(notes.take(("t1", 2)).unwrap(), Some(note("c")));
        assert!(!notes.remove(("t1", 2)).unwrap());
        assert_eq!(notes.remove_range(("t1", 0)..=("t1", u64::MAX)).unwrap(), 1);
        assert_eq!(notes.len().unwrap(), 1);
        assert!(notes.contains(("t2", 1)).unwrap());
    }
    tx.commit().unwrap();
}

#[test]
fn a_value_that_does_not_decode_is_an_error_naming_its_record() {
    let (_d, store) = store();
    let tx = store.write().unwrap();
    {
        let raw: TableDefinition<(&str, u64), &[u8]> = TableDefinition::new("test_notes");
        tx.backend()
            .open_table(raw)
            .unwrap()
            .insert(("t1", 1), [9u8, 1].as_slice())
            .unwrap();
    }
    let err = tx.open(NOTES).unwrap().get(("t1", 1)).unwrap_err();
    assert!(err.to_string().contains("test_notes"), "{err}");
}

#[test]
fn plain_bytes_are_the_bytes_a_record_table_holds() {
    const RAW_NOTES: Table<(&str, u64), Vec<u8>> = Table::new("test_notes");
    let (_d, store) = store();
    let tx = store.write().unwrap();
    tx.open(NOTES)
        .unwrap()
        .insert(("t1", 1), &note("a"))
        .unwrap();
    tx.open(RAW_NOTES)
        .unwrap()
        .insert(("t1", 2), &crate::store::codec::encode(&note("b")))
        .unwrap();
    tx.commit().unwrap();

    let tx = store.read().unwrap();
    assert_eq!(
        tx.open(RAW_NOTES).unwrap().get(("t1", 1)).unwrap(),
        Some(crate::store::codec::encode(&note("a")))
    );
    assert_eq!(
        tx.open(NOTES).unwrap().get(("t1", 2)).unwrap(),
        Some(note("b"))
    );
}
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NoteV2 {
    text: String,
    sealed: bool,
}

impl Record for NoteV2 {
    const NAME: &'static str = "test_notes";
    const VERSION: u8 = 2;
    fn read_older(version: u8, payload: &[u8]) -> Option<Result<Self, postcard::Error>> {
        crate::store::codec::first_version(version, payload)
    }
}

#[test]
fn bytes_are_stored_as_they_are() {
    const RAW: Table<&str, Vec<u8>> = Table::new("test_raw");
    let (_d, store) = store();
    let tx = store.write().unwrap();
    tx.open(RAW).unwrap().insert("flag", &vec![1]).unwrap();
    tx.commit().unwrap();
    let tx = store.read().unwrap();
    assert_eq!(tx.open(RAW).unwrap().get("flag").unwrap(), Some(vec![1]));
}

#[test]
fn old_or_new_reads_each_at_its_own_version_and_writes_it_back_unchanged() {
    const EITHER: Table<(&str, u64), OldOrNew<Note, NoteV2>> = Table::new("test_notes");
    const RAW: Table<(&str, u64), Vec<u8>> = Table::new("test_notes");
    let (_d, store) = store();
    let new = NoteV2 {
        text: "b".into(),
        sealed: true,
    };
    let tx = store.write().unwrap();
    {
        let mut rows = tx.open(EITHER).unwrap();
        rows.insert(("t1", 1), &OldOrNew::Old(note("a"))).unwrap();
        rows.insert(("t1", 2), &OldOrNew::New(new.clone())).unwrap();
    }
    tx.commit().unwrap();
    let tx = store.read().unwrap();
    let rows = tx.open(EITHER).unwrap();
    assert_eq!(rows.get(("t1", 1)).unwrap(), Some(OldOrNew::Old(note("a"))));
    assert_eq!(
        rows.get(("t1", 2)).unwrap(),
        Some(OldOrNew::New(new.clone()))
    );
    let raw = tx.open(RAW).unwrap();
    assert_eq!(raw.get(("t1", 1)).unwrap(), Some(encode(&note("a"))));
    assert_eq!(raw.get(("t1", 2)).unwrap(), Some(encode(&new)));
}
