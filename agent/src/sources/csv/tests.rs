use super::*;
use crate::timestamp::UtcOffset;
use std::collections::BTreeMap;
use xt_shared::change::{Body, EntityKind};
use xt_shared::ids::{DocNo, Sku, WarehouseCode};
use xt_shared::model::{PosSale, SaleLine, StockLevel, UtcMillis};
use xt_shared::money::{Currency, Money};

fn name() -> SourceName {
    SourceName::new("drop").unwrap()
}

fn settings(dir: &Path, encoding: TextEncoding, chunk_rows: usize) -> CsvSettings {
    CsvSettings {
        dir: dir.to_owned(),
        encoding,
        delimiter: ",".into(),
        pattern: "*.csv".into(),
        settle_ms: 0,
        chunk_rows,
    }
}

fn mapping(entity: EntityKind, pairs: &[(&str, &str)]) -> Mapping {
    let columns: BTreeMap<String, String> = pairs
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    Mapping::new(entity, &columns, &BTreeMap::new(), UtcOffset::CST).unwrap()
}

fn stock_source(dir: &Path, chunk_rows: usize) -> CsvSource {
    let m = mapping(
        EntityKind::Stock,
        &[("warehouse", "wh"), ("sku", "sku"), ("on_hand", "qty")],
    );
    CsvSource::new(name(), m, settings(dir, TextEncoding::Utf8, chunk_rows))
}

fn gbk(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(text);
    assert!(!unmappable);
    bytes.into_owned()
}

fn outbox(dir: &Path) -> Outbox {
    Outbox::open(&dir.join("outbox.redb")).unwrap()
}

fn drain(source: &mut CsvSource, outbox: &Outbox) -> Vec<PollReport> {
    let mut reports = Vec::new();
    for _ in 0..10_000 {
        let report = source.poll(outbox).unwrap();
        reports.push(report);
        if !report.more {
            return reports;
        }
    }
    panic!("source never settled");
}

fn bodies(outbox: &Outbox) -> Vec<Body> {
    outbox
        .read(&name(), 1, u64::MAX, usize::MAX, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|c| c.body)
        .collect()
}

fn stock(sku: &str, on_hand: i64) -> Body {
    Body::Stock(StockLevel {
        warehouse: WarehouseCode::new("WH1").unwrap(),
        sku: Sku::new(sku).unwrap(),
        on_hand,
    })
}

#[test]
fn gbk_pos_sales_with_ten_malformed_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let drop_dir = tmp.path().join("drop");
    fs::create_dir(&drop_dir).unwrap();
    let header = "门店,单号,合计,时间,商品,数量,单价\n";
    let mut good = Vec::new();
    let mut text = String::from(header);
    let mut bad_lines = Vec::new();
    // Line 2 onwards; a bad row every third line, ten in all, each of a different kind.
    let bad_rows = [
        (
            "S01,B1,10.00,2024-11-26 10:00:00,红色T恤,两,10.00",
            r#"quantity (column "数量"): "两" is not an integer"#,
        ),
        (
            "S01,B2,10.00,2024-11-26 10:00:00,红色T恤,1",
            "expected 7 fields, found 6",
        ),
        (
            "S01,B3,10.00,2024-11-26 10:00:00,<GBK>,1,10.00",
            r#"invalid gbk bytes in column "商品""#,
        ),
        (
            "S01,B4,10.00,2024-11-26 10:00:00,,1,10.00",
            r#"sku (column "商品") is empty"#,
        ),
        (
            "S01,B5,10.00,2024-11-26 10:00:00,红色T恤,1,10.00,多余",
            "expected 7 fields, found 8",
        ),
        (
            "S01,B6,12.345,2024-11-26 10:00:00,红色T恤,1,12.345",
            r#"total (column "合计"): amount "12.345" has more than 2 decimal places"#,
        ),
        (
            "S01,B7,10.00,2024-13-26 10:00:00,红色T恤,1,10.00",
            r#"sold_at (column "时间"): "2024-13-26 10:00:00" is not a timestamp"#,
        ),
        (
            "S01,B8,10.00,2024-11-26 10:00:00,红色T恤,1,十元",
            r#"unit_price (column "单价"): amount "十元" is not a decimal number"#,
        ),
        (
            ",B9,10.00,2024-11-26 10:00:00,红色T恤,1,10.00",
            r#"store (column "门店") is empty"#,
        ),
        (
            "S01,B10,10.00,昨天,红色T恤,1,10.00",
            r#"sold_at (column "时间"): "昨天" is not a timestamp"#,
        ),
    ];
    for i in 0..30 {
        let line = i + 2;
        if i % 3 == 2 {
            let (row, _) = bad_rows[i / 3];
            text.push_str(row);
            text.push('\n');
            bad_lines.push(line);
        } else {
            // A quoted Chinese SKU with the delimiter inside.
            text.push_str(&format!(
                "S01,G{i},1234.50,2024/11/26 10:00:{i:02},\"蓝色,外套-{i}\",3,411.50\n"
            ));
            good.push(Body::PosSale(PosSale {
                store: WarehouseCode::new("S01").unwrap(),
                sale_no: DocNo::new(format!("G{i}")).unwrap(),
                total: Money::new(123_450, Currency::CNY),
                sold_at: UtcMillis(1_732_586_400_000 + i as i64 * 1000),
                lines: vec![SaleLine {
                    sku: Sku::new(format!("蓝色,外套-{i}")).unwrap(),
                    quantity: 3,
                    unit_price: Money::new(41_150, Currency::CNY),
                }],
            }));
        }
    }
    let mut bytes = Vec::new();
    for part in text.split("<GBK>") {
        if !bytes.is_empty() {
            bytes.extend_from_slice(b"\xba\xec\xff"); // 红 then a lone 0xFF: not GBK
        }
        bytes.extend_from_slice(&gbk(part));
    }
    fs::write(drop_dir.join("sales_20241126.csv"), &bytes).unwrap();

    let m = mapping(
        EntityKind::PosSale,
        &[
            ("store", "门店"),
            ("sale_no", "单号"),
            ("total", "合计"),
            ("sold_at", "时间"),
            ("sku", "商品"),
            ("quantity", "数量"),
            ("unit_price", "单价"),
        ],
    );
    let mut source = CsvSource::new(name(), m, settings(&drop_dir, TextEncoding::Gbk, 5000));
    let ob = outbox(tmp.path());
    let reports = drain(&mut source, &ob);
    assert_eq!(reports.iter().map(|r| r.rows).sum::<u64>(), 20);
    assert_eq!(reports.iter().map(|r| r.quarantined).sum::<u64>(), 10);
    assert_eq!(bodies(&ob), good);

    let mtime = mtime_ms(&fs::metadata(drop_dir.join("done/sales_20241126.csv")).unwrap());
    let changes = ob
        .read(&name(), 1, u64::MAX, usize::MAX, usize::MAX)
        .unwrap();
    assert!(
        changes.iter().all(|c| c.version == mtime),
        "version is the file mtime"
    );

    let q = ob.quarantined_rows(&name()).unwrap();
    assert_eq!(q.len(), 10);
    for ((row, (_, reason)), line) in q.iter().zip(bad_rows).zip(&bad_lines) {
        assert_eq!(row.location, format!("sales_20241126.csv line {line}"));
        assert!(row.reason.starts_with(reason), "{} vs {reason}", row.reason);
    }
    assert!(q[2].raw.contains("红\u{fffd}"), "{}", q[2].raw);

    assert!(!drop_dir.join("sales_20241126.csv").exists());
    let rejected =
        fs::read_to_string(drop_dir.join("quarantine/sales_20241126.csv.rejected.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(rejected.as_bytes());
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 10);
    assert_eq!(&records[0][0], bad_lines[0].to_string());
    assert_eq!(&records[0][2], bad_rows[0].0);
    assert_eq!(ob.cursor(&name()).unwrap(), Some(Cursor::Idle.encode()));
}

/// Writes a stock file of `rows` rows; every seventh row has a bad quantity. Returns the
/// good rows' bodies in file order.
fn write_stock_file(path: &Path, rows: usize) -> Vec<Body> {
    let mut text = String::from("wh,sku,qty\r\n");
    let mut good = Vec::new();
    for i in 0..rows {
        if i % 7 == 3 {
            text.push_str(&format!("WH1,S{i},x{i}\r\n"));
        } else {
            text.push_str(&format!("WH1,\"S{i}\",{i}\r\n"));
            good.push(stock(&format!("S{i}"), i as i64));
        }
    }
    fs::write(path, text).unwrap();
    good
}

#[test]
fn crash_mid_file_resumes_without_loss_or_duplicates() {
    for k in [0, 1, 3, 6] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("drop");
        fs::create_dir(&dir).unwrap();
        let good_a = write_stock_file(&dir.join("a.csv"), 45);
        let good_b = write_stock_file(&dir.join("b.csv"), 10);
        let ob = outbox(tmp.path());
        {
            let mut first = stock_source(&dir, 4);
            for _ in 0..k {
                first.poll(&ob).unwrap();
            }
            // Dropped here: the "crash".
        }
        let mut second = stock_source(&dir, 4);
        drain(&mut second, &ob);
        let expected: Vec<Body> = good_a.into_iter().chain(good_b).collect();
        assert_eq!(bodies(&ob), expected, "crash after {k} chunk(s)");
        let q = ob.quarantined_rows(&name()).unwrap();
        assert_eq!(q.len(), 6 + 1, "crash after {k} chunk(s)");
        assert!(dir.join("done/a.csv").is_file() && dir.join("done/b.csv").is_file());
        let rejected = fs::read_to_string(dir.join("quarantine/a.csv.rejected.csv")).unwrap();
        assert_eq!(rejected.lines().count(), 1 + 6);
        assert!(
            rejected.contains(
                "5,\"on_hand (column \"\"qty\"\"): \"\"x3\"\" is not an integer\",\"WH1,S3,x3\""
            ),
            "{rejected}"
        );
    }
}

#[test]
fn crash_around_finishing_a_file_is_harmless() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("drop");
    fs::create_dir(&dir).unwrap();
    let good = write_stock_file(&dir.join("a.csv"), 20);
    let len = fs::metadata(dir.join("a.csv")).unwrap().len();
    let ob = outbox(tmp.path());
    let mut s = stock_source(&dir, 100);
    drain(&mut s, &ob);
    assert_eq!(bodies(&ob), good);

    // Crash after the move, before the cursor was cleared.
    let at_end = Cursor::Reading {
        file: "a.csv".into(),
        offset: len,
        line: 22,
        quarantined_before: 0,
    };
    ob.commit(&name(), vec![], vec![], Some(&at_end.encode()))
        .unwrap();
    drain(&mut s, &ob);
    assert_eq!(ob.cursor(&name()).unwrap(), Some(Cursor::Idle.encode()));

    // Crash after the last chunk's commit, before the move: the rejects are rewritten, not
    // appended, and nothing is read twice.
    fs::rename(dir.join("done/a.csv"), dir.join("a.csv")).unwrap();
    ob.commit(&name(), vec![], vec![], Some(&at_end.encode()))
        .unwrap();
    drain(&mut s, &ob);
    assert_eq!(bodies(&ob), good);
    let rejected = fs::read_to_string(dir.join("quarantine/a.csv.rejected.csv")).unwrap();
    assert_eq!(rejected.lines().count(), 1 + 3);
    assert!(dir.join("done/a.csv").is_file());
}

#[test]
fn files_are_taken_in_name_order_and_unfinished_ones_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("drop");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("b.csv"), "wh,sku,qty\nWH1,B,2\n").unwrap();
    fs::write(dir.join("A.CSV"), "\u{feff}wh , sku,qty\nWH1,A,1\n").unwrap();
    fs::write(dir.join("c.csv.part"), "wh,sku,qty\nWH1,C,3\n").unwrap();
    fs::write(dir.join("d.csv.tmp"), "wh,sku,qty\nWH1,D,3\n").unwrap();
    fs::write(dir.join(".e.csv"), "wh,sku,qty\nWH1,E,3\n").unwrap();
    fs::write(dir.join("f.txt"), "wh,sku,qty\nWH1,F,3\n").unwrap();
    fs::write(dir.join("empty.csv"), "").unwrap();
    fs::create_dir(dir.join("sub.csv")).unwrap();
    let ob = outbox(tmp.path());
    let mut s = stock_source(&dir, 100);
    assert_eq!(
        s.check().unwrap(),
        format!("csv {}: 3 file(s) waiting", dir.display())
    );
    drain(&mut s, &ob);
    assert_eq!(bodies(&ob), [stock("A", 1), stock("B", 2)]);
    assert!(dir.join("done/empty.csv").is_file());
    for left in ["c.csv.part", "d.csv.tmp", ".e.csv", "f.txt"] {
        assert!(dir.join(left).is_file(), "{left}");
    }

    // A file modified just now waits for settle_ms.
    fs::write(dir.join("g.csv"), "wh,sku,qty\nWH1,G,7\n").unwrap();
    let mut waiting = stock_source(&dir, 100);
    waiting.settings.settle_ms = 3_600_000;
    assert_eq!(waiting.poll(&ob).unwrap().rows, 0);
    assert!(
        waiting
            .check()
            .unwrap()
            .ends_with("0 file(s) waiting, 1 still being written")
    );
    assert_eq!(s.poll(&ob).unwrap().rows, 1);
}

#[test]
fn a_header_without_mapped_columns_quarantines_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("drop");
    fs::create_dir(&dir).unwrap();
    fs::write(dir.join("a.csv"), "wh,item,qty\nWH1,A,1\n").unwrap();
    let ob = outbox(tmp.path());
    let mut s = stock_source(&dir, 100);
    assert!(
        s.check()
            .unwrap()
            .ends_with("; a.csv lacks mapped column(s) [\"sku\"]")
    );
    let reports = drain(&mut s, &ob);
    assert_eq!(reports[0].quarantined, 1);
    assert!(dir.join("quarantine/a.csv").is_file());
    let q = ob.quarantined_rows(&name()).unwrap();
    assert_eq!(q[0].location, "a.csv line 1");
    assert_eq!(
        q[0].reason,
        "header lacks mapped column(s) \"sku\"; the file was moved to quarantine/"
    );
    assert_eq!(q[0].raw, "wh,item,qty");
    assert_eq!(bodies(&ob), []);
}

#[test]
fn an_unbalanced_quote_does_not_read_the_whole_file_into_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("drop");
    fs::create_dir(&dir).unwrap();
    let mut text = String::from("wh,sku,qty\nWH1,A,1\nWH1,\"B,2\n");
    let filler = "WH1,C,3\n".repeat(RECORD_BYTES_MAX / 8 + 10);
    text.push_str(&filler);
    fs::write(dir.join("a.csv"), text).unwrap();
    let ob = outbox(tmp.path());
    let mut s = stock_source(&dir, 100);
    drain(&mut s, &ob);
    assert_eq!(bodies(&ob), [stock("A", 1)]);
    let q = ob.quarantined_rows(&name()).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].location, "a.csv line 3");
    assert!(q[0].reason.contains("unbalanced quote"), "{}", q[0].reason);
    assert!(dir.join("done/a.csv").is_file());
}

#[test]
fn patterns() {
    for (pattern, name, expected) in [
        ("*.csv", "a.csv", true),
        ("*.csv", "A.CSV", true),
        ("*.csv", "a.csv.bak", false),
        ("stock_*.csv", "stock_20241126.csv", true),
        ("stock_*.csv", "sales_20241126.csv", false),
        ("stock_????????.csv", "stock_20241126.csv", true),
        ("stock_????????.csv", "stock_2024112.csv", false),
        ("*", "库存.csv", true),
        ("*_*_*.csv", "a_b_c.csv", true),
        ("*_*_*.csv", "a_b.csv", false),
    ] {
        assert_eq!(pattern_matches(pattern, name), expected, "{pattern} {name}");
    }
}

/// A drop folder `drop/` and a directory `elsewhere/` beside it, where no agent write may land.
fn drop_and_elsewhere() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("drop");
    let elsewhere = tmp.path().join("elsewhere");
    fs::create_dir(&dir).unwrap();
    fs::create_dir(&elsewhere).unwrap();
    (tmp, dir, elsewhere)
}

fn is_symlink(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn a_symlinked_csv_is_quarantined_unread() {
    let (tmp, dir, elsewhere) = drop_and_elsewhere();
    // A "secret" outside the drop folder that parses as a stock file.
    let secret = elsewhere.join("shadow");
    fs::write(&secret, "wh,sku,qty\nWH1,SECRET,1\n").unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("a.csv")).unwrap();
    fs::write(dir.join("b.csv"), "wh,sku,qty\nWH1,B,2\n").unwrap();
    let ob = outbox(tmp.path());
    let mut s = stock_source(&dir, 100);
    assert!(
        s.check().unwrap().contains("; a.csv is a symbolic link"),
        "{}",
        s.check().unwrap()
    );
    drain(&mut s, &ob);

    assert_eq!(
        bodies(&ob),
        [stock("B", 2)],
        "the link's target was not read"
    );
    let q = ob.quarantined_rows(&name()).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].location, "a.csv");
    assert!(
        q[0].reason.starts_with(&format!(
            "a.csv is a symbolic link (to {:?}), not a regular file: the agent reads only regular files",
            secret.display().to_string()
        )),
        "{}",
        q[0].reason
    );
    assert!(q[0].raw.is_empty());
    // The link itself went to quarantine/; its target is untouched where it was.
    assert!(is_symlink(&dir.join("quarantine/a.csv")));
    assert!(!dir.join("a.csv").exists() && !is_symlink(&dir.join("a.csv")));
    assert_eq!(
        fs::read_to_string(&secret).unwrap(),
        "wh,sku,qty\nWH1,SECRET,1\n"
    );
    assert_eq!(files_in(&elsewhere), ["shadow"]);
    assert!(dir.join("done/b.csv").is_file());
}

#[test]
fn a_file_swapped_for_a_symlink_mid_read_is_not_followed() {
    let (tmp, dir, elsewhere) = drop_and_elsewhere();
    write_stock_file(&dir.join("a.csv"), 20);
    let secret = elsewhere.join("secret.csv");
    write_stock_file(&secret, 40);
    let ob = outbox(tmp.path());
    let mut s = stock_source(&dir, 4);
    let first = s.poll(&ob).unwrap();
    assert_eq!(first.rows + first.quarantined, 4);
    // Someone replaces the file being read with a link to a longer file elsewhere.
    fs::remove_file(dir.join("a.csv")).unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("a.csv")).unwrap();
    drain(&mut s, &ob);
    assert_eq!(
        bodies(&ob).len() as u64,
        first.rows,
        "nothing read through the link"
    );
    assert!(is_symlink(&dir.join("quarantine/a.csv")));
    assert_eq!(files_in(&elsewhere), ["secret.csv"]);
}

#[test]
fn a_symlinked_done_folder_is_refused() {
    let (tmp, dir, elsewhere) = drop_and_elsewhere();
    std::os::unix::fs::symlink(&elsewhere, dir.join(DONE_DIR)).unwrap();
    fs::write(dir.join("a.csv"), "wh,sku,qty\nWH1,A,1\n").unwrap();
    let ob = outbox(tmp.path());
    let mut s = stock_source(&dir, 100);
    let err = s.poll(&ob).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "source drop: {} is a symbolic link: the agent moves and writes files only in a real sub-folder of the drop folder (replace the link with a directory)",
            dir.join(DONE_DIR).display()
        )
    );
    // It keeps failing, moving nothing, until someone fixes the folder; then it finishes
    // without reading a row twice.
    assert!(s.poll(&ob).is_err());
    assert_eq!(files_in(&elsewhere), Vec::<String>::new());
    assert!(dir.join("a.csv").is_file());
    fs::remove_file(dir.join(DONE_DIR)).unwrap();
    drain(&mut s, &ob);
    assert_eq!(bodies(&ob), [stock("A", 1)]);
    assert!(dir.join("done/a.csv").is_file());
}

#[test]
fn a_symlinked_quarantine_folder_is_refused() {
    let (tmp, dir, elsewhere) = drop_and_elsewhere();
    std::os::unix::fs::symlink(&elsewhere, dir.join(QUARANTINE_DIR)).unwrap();
    // One bad row (rejects to write), and a file whose header sends it to quarantine whole.
    fs::write(dir.join("a.csv"), "wh,sku,qty\nWH1,A,x\n").unwrap();
    fs::write(dir.join("b.csv"), "wh,item,qty\nWH1,B,1\n").unwrap();
    let ob = outbox(tmp.path());
    let mut s = stock_source(&dir, 100);
    let err = s.poll(&ob).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "{} is a symbolic link",
            dir.join(QUARANTINE_DIR).display()
        )),
        "{err}"
    );
    assert_eq!(files_in(&elsewhere), Vec::<String>::new());
    assert!(dir.join("a.csv").is_file() && dir.join("b.csv").is_file());
}

#[test]
fn a_planted_reject_temp_or_target_link_is_not_written_through() {
    let (tmp, dir, elsewhere) = drop_and_elsewhere();
    let quarantine = dir.join(QUARANTINE_DIR);
    fs::create_dir(&quarantine).unwrap();
    let victim_tmp = elsewhere.join("victim-tmp");
    let victim = elsewhere.join("victim");
    fs::write(&victim_tmp, "precious").unwrap();
    fs::write(&victim, "precious").unwrap();
    std::os::unix::fs::symlink(&victim_tmp, quarantine.join(".a.csv.rejected.csv.tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, quarantine.join("a.csv.rejected.csv")).unwrap();
    write_stock_file(&dir.join("a.csv"), 20);
    let ob = outbox(tmp.path());
    let mut s = stock_source(&dir, 100);
    drain(&mut s, &ob);

    assert_eq!(fs::read_to_string(&victim_tmp).unwrap(), "precious");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    let rejected = quarantine.join("a.csv.rejected.csv");
    assert!(!is_symlink(&rejected) && rejected.is_file());
    assert_eq!(fs::read_to_string(rejected).unwrap().lines().count(), 1 + 3);
    assert!(!quarantine.join(".a.csv.rejected.csv.tmp").exists());
}

#[test]
fn moving_to_done_never_replaces_an_existing_entry() {
    let (tmp, dir, elsewhere) = drop_and_elsewhere();
    let done = dir.join(DONE_DIR);
    fs::create_dir(&done).unwrap();
    fs::write(done.join("a.csv"), "earlier").unwrap();
    // A dangling link: `exists()` says no, yet something is there.
    std::os::unix::fs::symlink(elsewhere.join("nothing"), done.join("a.csv.1")).unwrap();
    fs::write(dir.join("a.csv"), "wh,sku,qty\nWH1,A,1\n").unwrap();
    let ob = outbox(tmp.path());
    let mut s = stock_source(&dir, 100);
    drain(&mut s, &ob);
    assert_eq!(fs::read_to_string(done.join("a.csv")).unwrap(), "earlier");
    assert!(is_symlink(&done.join("a.csv.1")));
    assert_eq!(
        fs::read_to_string(done.join("a.csv.2")).unwrap(),
        "wh,sku,qty\nWH1,A,1\n"
    );
    assert_eq!(files_in(&elsewhere), Vec::<String>::new());
}
