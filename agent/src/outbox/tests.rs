use super::*;
use xt_shared::ids::{Sku, WarehouseCode};
use xt_shared::model::StockLevel;

fn name(s: &str) -> SourceName {
    SourceName::new(s).unwrap()
}

fn body(i: i64) -> Body {
    Body::Stock(StockLevel {
        warehouse: WarehouseCode::new("WH-SH").unwrap(),
        sku: Sku::new(format!("SKU-{i}")).unwrap(),
        on_hand: i,
    })
}

fn rows(range: std::ops::Range<i64>) -> Vec<(Option<i64>, Body)> {
    range.map(|i| (Some(1000 + i), body(i))).collect()
}

fn q(location: &str) -> QuarantinedRow {
    QuarantinedRow {
        location: location.into(),
        reason: "bad".into(),
        raw: "a,b".into(),
    }
}

fn seqs(changes: &[SourceChange]) -> Vec<u64> {
    changes.iter().map(|c| c.seq).collect()
}

fn open() -> (tempfile::TempDir, Outbox) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join(OUTBOX_FILE)).unwrap();
    (dir, outbox)
}

#[test]
fn outbox_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Outbox>();
}

#[test]
fn commit_assigns_consecutive_seqs_per_source() {
    let (_dir, outbox) = open();
    let (a, b) = (name("a"), name("b"));
    assert_eq!(
        outbox.commit(&a, rows(0..3), vec![], Some(b"c1")).unwrap(),
        3
    );
    assert_eq!(outbox.commit(&b, rows(0..1), vec![], None).unwrap(), 1);
    assert_eq!(
        outbox
            .commit(&a, vec![(None, body(9))], vec![], None)
            .unwrap(),
        4
    );
    // An empty commit only moves the cursor.
    assert_eq!(outbox.commit(&a, vec![], vec![], Some(b"c2")).unwrap(), 4);

    let changes = outbox.read(&a, 1, u64::MAX, 100, usize::MAX).unwrap();
    assert_eq!(seqs(&changes), [1, 2, 3, 4]);
    assert_eq!(changes[0].version, 1000);
    assert_eq!(changes[2].body, body(2));
    assert_eq!(
        changes[3].version, 4,
        "a row without a version gets its seq"
    );
    assert_eq!(outbox.cursor(&a).unwrap().as_deref(), Some(&b"c2"[..]));
    assert_eq!(outbox.cursor(&b).unwrap(), None);
    assert_eq!(outbox.cursor(&name("never")).unwrap(), None);
    assert_eq!(seqs(&outbox.read(&b, 1, 10, 100, usize::MAX).unwrap()), [1]);
}

#[test]
fn read_honours_range_and_limits() {
    let (_dir, outbox) = open();
    let a = name("a");
    outbox.commit(&a, rows(0..200), vec![], None).unwrap();
    assert_eq!(
        seqs(&outbox.read(&a, 5, 8, 100, usize::MAX).unwrap()),
        [5, 6, 7, 8]
    );
    assert_eq!(outbox.read(&a, 5, 200, 3, usize::MAX).unwrap().len(), 3);
    assert_eq!(outbox.read(&a, 5, 4, 3, usize::MAX).unwrap(), vec![]);
    assert_eq!(outbox.read(&a, 5, 9, 0, usize::MAX).unwrap(), vec![]);
    assert_eq!(outbox.read(&a, 201, 300, 10, usize::MAX).unwrap(), vec![]);

    // The byte limit counts the postcard size of each change exactly.
    let all = outbox.read(&a, 1, 200, 1000, usize::MAX).unwrap();
    let sizes: Vec<usize> = all
        .iter()
        .map(|c| postcard::to_allocvec(c).unwrap().len())
        .collect();
    let budget = sizes[..10].iter().sum::<usize>();
    assert_eq!(outbox.read(&a, 1, 200, 1000, budget).unwrap().len(), 10);
    assert_eq!(outbox.read(&a, 1, 200, 1000, budget - 1).unwrap().len(), 9);
    // Always at least one row, even when it alone is over the limit.
    assert_eq!(seqs(&outbox.read(&a, 7, 200, 1000, 1).unwrap()), [7]);
}

#[test]
fn trim_deletes_and_acked_is_monotonic() {
    let (_dir, outbox) = open();
    let a = name("a");
    outbox.commit(&a, rows(0..10), vec![], None).unwrap();
    outbox.trim(&a, 4).unwrap();
    outbox.trim(&a, 2).unwrap();
    assert_eq!(
        seqs(&outbox.read(&a, 1, 100, 100, usize::MAX).unwrap()),
        [5, 6, 7, 8, 9, 10]
    );
    let p = outbox.source_progress(&a).unwrap();
    assert_eq!((p.durable_seq, p.acked_seq, p.backlog()), (10, 4, 6));
    outbox.trim(&a, 10).unwrap();
    assert_eq!(outbox.read(&a, 1, 100, 100, usize::MAX).unwrap(), vec![]);
    assert_eq!(outbox.commit(&a, rows(0..1), vec![], None).unwrap(), 11);
    assert_eq!(
        seqs(&outbox.read(&a, 1, 100, 100, usize::MAX).unwrap()),
        [11]
    );
}

#[test]
fn skip_to_continues_after_the_hub() {
    let (_dir, outbox) = open();
    let a = name("a");
    outbox.commit(&a, rows(0..3), vec![], None).unwrap();
    outbox.skip_to(&a, 50).unwrap();
    let p = outbox.source_progress(&a).unwrap();
    assert_eq!((p.durable_seq, p.acked_seq), (50, 50));
    assert_eq!(outbox.read(&a, 1, 100, 100, usize::MAX).unwrap(), vec![]);
    assert_eq!(outbox.commit(&a, rows(0..2), vec![], None).unwrap(), 52);
    assert_eq!(
        seqs(&outbox.read(&a, 51, 100, 100, usize::MAX).unwrap()),
        [51, 52]
    );
    // Never lowers.
    outbox.skip_to(&a, 10).unwrap();
    assert_eq!(outbox.source_progress(&a).unwrap().acked_seq, 50);
}

#[test]
fn quarantine_is_counted_and_kept() {
    let (_dir, outbox) = open();
    let a = name("a");
    outbox
        .commit(
            &a,
            rows(0..2),
            vec![q("f.csv line 2"), q("f.csv line 5")],
            None,
        )
        .unwrap();
    let before = outbox.source_progress(&a).unwrap().quarantined;
    outbox
        .commit(&a, vec![], vec![q("g.csv line 3")], None)
        .unwrap();
    assert_eq!(outbox.quarantined_rows(&a).unwrap().len(), 3);
    assert_eq!(
        outbox.quarantined_since(&a, before).unwrap(),
        vec![q("g.csv line 3")]
    );
    assert_eq!(outbox.quarantined_rows(&name("b")).unwrap(), vec![]);
    let progress = outbox.progress().unwrap();
    assert_eq!(progress.len(), 1);
    assert_eq!(
        progress[0],
        SourceProgress {
            source: a.clone(),
            durable_seq: 2,
            acked_seq: 0,
            quarantined: 3
        }
    );
    // Oversized text is cut at a char boundary.
    let long = QuarantinedRow {
        location: "x".into(),
        reason: "r".into(),
        raw: "红".repeat(QUARANTINE_RAW_BYTES_MAX),
    };
    outbox.commit(&a, vec![], vec![long], None).unwrap();
    let kept = outbox.quarantined_since(&a, 3).unwrap();
    assert!(kept[0].raw.len() <= QUARANTINE_RAW_BYTES_MAX && kept[0].raw.starts_with('红'));
}

#[test]
fn reopen_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(OUTBOX_FILE);
    let a = name("wms-stock");
    {
        let outbox = Outbox::open(&path).unwrap();
        outbox
            .commit(&a, rows(0..5), vec![q("r")], Some(b"cur"))
            .unwrap();
        outbox.trim(&a, 2).unwrap();
    }
    let outbox = Outbox::open(&path).unwrap();
    assert_eq!(
        seqs(&outbox.read(&a, 1, 100, 100, usize::MAX).unwrap()),
        [3, 4, 5]
    );
    assert_eq!(outbox.cursor(&a).unwrap().as_deref(), Some(&b"cur"[..]));
    assert_eq!(
        outbox.progress().unwrap(),
        vec![SourceProgress {
            source: a.clone(),
            durable_seq: 5,
            acked_seq: 2,
            quarantined: 1
        }]
    );
    assert_eq!(outbox.commit(&a, rows(0..1), vec![], None).unwrap(), 6);
}

#[test]
fn large_commit_is_one_transaction() {
    let (_dir, outbox) = open();
    let a = name("a");
    assert_eq!(
        outbox
            .commit(&a, rows(0..20_000), vec![], Some(b"x"))
            .unwrap(),
        20_000
    );
    let mut next = 1;
    loop {
        let batch = outbox
            .read(&a, next, u64::MAX, 4096, 2 * 1024 * 1024)
            .unwrap();
        let Some(last) = batch.last() else { break };
        assert_eq!(batch[0].seq, next);
        next = last.seq + 1;
    }
    assert_eq!(next, 20_001);
}

#[test]
fn oversized_inputs_are_refused() {
    let (_dir, outbox) = open();
    let a = name("a");
    let cursor = vec![0u8; CURSOR_BYTES_MAX + 1];
    let err = outbox
        .commit(&a, vec![], vec![], Some(&cursor))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "cursor of source a is {} bytes, more than {CURSOR_BYTES_MAX}",
            CURSOR_BYTES_MAX + 1
        )
    );
    assert_eq!(outbox.source_progress(&a).unwrap().durable_seq, 0);
}

#[test]
fn varints_are_sized_like_postcard() {
    for n in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
        assert_eq!(
            varint_bytes(n),
            postcard::to_allocvec(&n).unwrap().len(),
            "{n}"
        );
    }
}
