use super::*;
use crate::sinks::testing::{self, T0, cancel, create};
use std::path::Path;

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    out.sort();
    out
}

fn decode(bytes: &[u8], encoding: &'static encoding_rs::Encoding) -> String {
    encoding
        .decode_without_bom_handling_and_without_replacement(bytes)
        .expect("valid bytes")
        .into_owned()
}

fn at(ms: i64) -> UtcMillis {
    UtcMillis(T0.0 + ms)
}

const COLUMNS: &str = r#"
[sink.columns]
delivery_no = "发货单号"
line_no = "行号"
receiver_name = "收货人"
receiver_address = "地址"
sku = "商品编码"
quantity = "数量"
title = "品名"
buyer_memo = "买家留言"
"#;

fn toml(folder: &Path, csv: &str) -> String {
    testing::csv_sink_toml(folder, csv).replacen("[sink.csv]", &format!("{COLUMNS}[sink.csv]"), 1)
}

#[test]
fn per_order_gbk_file_appears_whole_after_the_decision_and_decodes_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = testing::build(&toml(
        dir.path(),
        "encoding = \"gbk\"\nmode = \"per_order\"",
    ));
    sink.recover(None).unwrap();
    let applied = sink.apply(1, &create("D-1", "WH-1"), T0).unwrap();
    assert_eq!(applied.outcome, CommandOutcome::Done);
    assert!(applied.state.is_some(), "the due rename is recorded");
    assert_eq!(
        names(dir.path()),
        [".xt-D-1.csv.tmp"],
        "not visible before the record"
    );
    sink.committed(T0).unwrap();
    assert_eq!(names(dir.path()), ["D-1.csv"]);

    let bytes = std::fs::read(dir.path().join("D-1.csv")).unwrap();
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "written as GBK, not UTF-8"
    );
    let text = decode(&bytes, encoding_rs::GBK);
    assert_eq!(
        text,
        "发货单号,行号,收货人,地址,商品编码,数量,品名,买家留言\r\n\
         D-1,1,张三,\"世纪大道 100 号, 8 楼\",SKU-RED,2,\"红色保温杯 \"\"经典\"\"\",周末送货\r\n\
         D-1,2,张三,\"世纪大道 100 号, 8 楼\",SKU-BLUE,1,蓝色杯盖,周末送货\r\n"
    );

    // Resent: the file is there, nothing is written again.
    let again = sink.apply(2, &create("D-1", "WH-1"), T0).unwrap();
    assert_eq!(again, Applied::outcome(CommandOutcome::AlreadyDone));
    sink.committed(T0).unwrap();
    assert_eq!(names(dir.path()), ["D-1.csv"]);
    assert_eq!(std::fs::read(dir.path().join("D-1.csv")).unwrap(), bytes);
}

#[test]
fn default_columns_are_every_field_in_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), "mode = \"per_order\""));
    sink.apply(1, &create("D-1", "WH-1"), T0).unwrap();
    sink.committed(T0).unwrap();
    let text = std::fs::read_to_string(dir.path().join("D-1.csv")).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        "delivery_no,line_no,warehouse,shop,order_nos,receiver_name,receiver_phone,receiver_province,receiver_city,receiver_district,receiver_address,receiver_zip,sku,quantity,title,buyer_memo,seller_memo,created_at"
    );
    assert!(
        text.contains("D-1,2,WH-1,tmall-旗舰店,\"T1001,T1002\",张三,13800000000,上海,上海市,浦东新区,\"世纪大道 100 号, 8 楼\",200120,SKU-BLUE,1,蓝色杯盖,周末送货,,2026-03-15 16:15:00\r\n"),
        "{text}"
    );
}

#[test]
fn cancel_drops_a_cancel_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), "mode = \"per_order\""));
    let done = sink.apply(1, &cancel("D-1", "WH-1"), T0).unwrap();
    assert_eq!(
        done.outcome,
        CommandOutcome::Done,
        "the folder cannot say it shipped"
    );
    sink.committed(T0).unwrap();
    let text = std::fs::read_to_string(dir.path().join("CANCEL-D-1.csv")).unwrap();
    assert_eq!(
        text,
        "delivery_no,warehouse,reason,cancelled_at\r\nD-1,WH-1,买家申请退款,2026-03-15 16:15:00\r\n"
    );
    let again = sink.apply(2, &cancel("D-1", "WH-1"), T0).unwrap();
    assert_eq!(again.outcome, CommandOutcome::AlreadyDone);
}

#[test]
fn refusals_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), "mode = \"per_order\""));
    let cases = [
        (create("D-1", "WH-2"), "does not serve warehouse WH-2"),
        (create("../etc/D", "WH-1"), "cannot name a file"),
        (create(".hidden", "WH-1"), "cannot name a file"),
        (cancel("a:b", "WH-1"), "cannot name a file"),
    ];
    for (command, expected) in cases {
        let applied = sink.apply(1, &command, T0).unwrap();
        let CommandOutcome::Refused { reason } = applied.outcome else {
            panic!("{command:?} was not refused");
        };
        assert!(reason.contains(expected), "{reason}");
    }
    assert!(names(dir.path()).is_empty());
}

#[test]
fn per_batch_collects_deliveries_until_the_window_ends() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "mode = \"per_batch\"\nbatch_window_ms = 1000";
    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), csv));
    sink.recover(None).unwrap();
    for (seq, no, t) in [(5, "D-1", 0), (6, "D-2", 400)] {
        let applied = sink.apply(seq, &create(no, "WH-1"), at(t)).unwrap();
        assert_eq!(applied.outcome, CommandOutcome::Done);
        sink.committed(at(t)).unwrap();
    }
    assert_eq!(sink.deadline(), Some(at(1000)));
    assert_eq!(
        names(dir.path()),
        [".xt-batch-20260315T081500Z-5.csv.tmp"],
        "the batch is still open"
    );
    sink.committed(at(1000)).unwrap();
    assert_eq!(sink.deadline(), None);
    let text = std::fs::read_to_string(dir.path().join("batch-20260315T081500Z-5.csv")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "one header, two lines per delivery: {text}");
    assert!(lines[0].starts_with("delivery_no,line_no,"));
    assert!(lines[1].starts_with("D-1,1,") && lines[4].starts_with("D-2,2,"));

    // The next delivery opens the next batch, named by its time and seq.
    sink.apply(7, &create("D-3", "WH-1"), at(5000)).unwrap();
    sink.committed(at(5000)).unwrap();
    assert!(names(dir.path()).contains(&".xt-batch-20260315T081505Z-7.csv.tmp".to_owned()));
}

#[test]
fn per_batch_closes_when_full_and_before_a_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "mode = \"per_batch\"\nbatch_deliveries_max = 2";
    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), csv));
    for (seq, no) in [(1, "D-1"), (2, "D-2"), (3, "D-3")] {
        sink.apply(seq, &create(no, "WH-1"), T0).unwrap();
        sink.committed(T0).unwrap();
    }
    sink.apply(4, &cancel("D-3", "WH-1"), T0).unwrap();
    sink.committed(T0).unwrap();
    assert_eq!(
        names(dir.path()),
        [
            "CANCEL-D-3.csv",
            "batch-20260315T081500Z-1.csv",
            "batch-20260315T081500Z-3.csv"
        ],
        "full after two; the batch holding D-3 is out before its cancel"
    );
}

#[test]
fn recovery_cuts_a_batch_back_to_its_decided_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "mode = \"per_batch\"";
    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), csv));
    let decided = sink.apply(1, &create("D-1", "WH-1"), T0).unwrap().state;
    // Seq 2 reaches the file, then the agent dies before recording it.
    sink.apply(2, &create("D-2", "WH-1"), T0).unwrap();
    drop(sink);

    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), csv));
    sink.recover(decided.as_deref()).unwrap();
    sink.apply(2, &create("D-2", "WH-1"), at(10)).unwrap();
    sink.committed(at(60_000)).unwrap();
    let text = std::fs::read_to_string(dir.path().join("batch-20260315T081500Z-1.csv")).unwrap();
    let deliveries: Vec<&str> = text.lines().skip(1).map(|l| &l[..3]).collect();
    assert_eq!(deliveries, ["D-1", "D-1", "D-2", "D-2"], "{text}");
}

#[test]
fn recovery_finishes_a_decided_rename_and_drops_undecided_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "mode = \"per_order\"";
    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), csv));
    // D-1 is decided (its state recorded) but the agent dies before the rename; D-2 is written
    // to its temp file but never decided.
    let decided = sink.apply(1, &create("D-1", "WH-1"), T0).unwrap().state;
    sink.apply(2, &create("D-2", "WH-1"), T0).unwrap();
    drop(sink);
    assert_eq!(names(dir.path()), [".xt-D-1.csv.tmp", ".xt-D-2.csv.tmp"]);

    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), csv));
    sink.recover(decided.as_deref()).unwrap();
    assert_eq!(names(dir.path()), ["D-1.csv"]);
    // D-2 is resent and written whole.
    let again = sink.apply(2, &create("D-2", "WH-1"), T0).unwrap();
    assert_eq!(again.outcome, CommandOutcome::Done);
    sink.committed(T0).unwrap();
    assert_eq!(names(dir.path()), ["D-1.csv", "D-2.csv"]);
}

#[test]
fn a_symlink_in_the_folder_is_never_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"keep").unwrap();
    std::os::unix::fs::symlink(&victim, dir.path().join(".xt-D-1.csv.tmp")).unwrap();
    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), "mode = \"per_order\""));
    sink.apply(1, &create("D-1", "WH-1"), T0).unwrap();
    sink.committed(T0).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    assert!(
        std::fs::read_to_string(dir.path().join("D-1.csv"))
            .unwrap()
            .starts_with("delivery_no")
    );
}

#[test]
fn check_says_whether_the_folder_is_usable() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = testing::build(&testing::csv_sink_toml(dir.path(), "mode = \"per_batch\""));
    let found = sink.check().unwrap();
    assert!(found.contains("writable, batch files, utf-8"), "{found}");
    let missing = dir.path().join("absent");
    let err = testing::build(&testing::csv_sink_toml(&missing, "mode = \"per_order\""))
        .check()
        .unwrap_err();
    assert!(err.to_string().contains("cannot open folder"), "{err}");
}
