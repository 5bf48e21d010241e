//! The agent's command line reports a failure as one line that says each cause once.

use std::process::Command;

#[test]
fn a_missing_sqlite_file_is_reported_once() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing").join("wms.db");
    let config = tmp.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            r#"data_dir = {data:?}

[[source]]
name = "wms-stock"
kind = "sqlite"
entity = "stock"

[source.columns]
warehouse = "wh_code"
sku = "item_code"
on_hand = "qty"

[source.sqlite]
path = {missing:?}
query = "SELECT wh_code, item_code, qty, id FROM stock WHERE id > ?1 ORDER BY id LIMIT ?2"
cursor = ["id"]
"#,
            data = tmp.path().join("data"),
            missing = missing,
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_xt-agent"))
        .args(["check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("source wms-stock:"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("FAILED"), "{line}");
    assert_eq!(
        line.matches("unable to open database file").count(),
        1,
        "{line}"
    );
    assert_eq!(line.matches("wms-stock").count(), 1, "{line}");
}
