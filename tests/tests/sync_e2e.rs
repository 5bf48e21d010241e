//! Enroll → sync 100,000 SQLite rows and 20,000 GBK CSV rows (10 malformed) over real QUIC.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;
use support::{AgentProc, HubProc, enroll, wait_stock_equal};
use xt_tests::legacy::{CsvRow, LegacyWms, write_gbk_csv};
use xt_tests::{wait_for, write_agent_config};

/// Ten malformed lines of different kinds, GBK bytes as a legacy export would have them.
fn malformed_lines() -> Vec<Vec<u8>> {
    let g = xt_tests::legacy::gbk;
    vec![
        g("WH-GZ,BAD-QTY,坏数量,abc"),                      // not an integer
        g("WH-GZ,SHORT,缺字段"),                            // missing field
        g("WH-GZ,LONG,多字段,5,extra"),                     // too many fields
        g("WH-GZ,,空编码,5"),                               // empty sku
        [b"WH-GZ,BAD\x81\x20GBK,x,5".as_slice()].concat(),  // invalid GBK bytes in the sku
        g("WH-GZ,DECIMAL,小数,12.5"),                       // decimal quantity
        g("WH-GZ,HUGE,溢出,99999999999999999999999"),       // overflows i64
        g(",NO-WH,无仓库,5"),                               // empty warehouse
        g(&format!("WH-GZ,{},超长编码,5", "X".repeat(80))), // sku too long
        g("WH-GZ,EMPTY-QTY,空数量,"),                       // empty quantity
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_sqlite_and_gbk_csv_with_quarantine() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let hub = HubProc::start(&tmp.path().join("hub"), "acme", &[]).await?;
    let legacy = LegacyWms::create(&tmp.path().join("legacy"), &["WH-SH", "WH-BJ"], 50_000)?;
    assert_eq!(legacy.rows()?, 100_000);

    // 20,000 CSV rows in two files, with the 10 malformed lines spread over them.
    let mut expected = legacy.stock()?;
    let drop = legacy.dir.join(xt_tests::legacy::DROP_DIR);
    let malformed = malformed_lines();
    for file in 0..2 {
        let rows: Vec<CsvRow> = (0..10_000)
            .map(|i| CsvRow {
                warehouse: "WH-GZ".into(),
                sku: format!("广州-{file}-{i:05}"),
                name: format!("商品{i}"),
                qty: ((i * 7 + file) % 1000).to_string(),
            })
            .collect();
        for r in &rows {
            expected.insert((r.warehouse.clone(), r.sku.clone()), r.qty.parse()?);
        }
        let bad: Vec<(usize, Vec<u8>)> = malformed[file * 5..file * 5 + 5]
            .iter()
            .enumerate()
            .map(|(k, raw)| (k * 1999 + 3, raw.clone()))
            .collect();
        // Each file holds 10,000 lines in all: 9,995 good ones and 5 malformed.
        write_gbk_csv(&drop, &format!("stock_{file}.csv"), &rows[..9_995], &bad)?;
        for r in &rows[9_995..] {
            expected.remove(&(r.warehouse.clone(), r.sku.clone()));
        }
    }
    assert_eq!(expected.len(), 100_000 + 19_990);

    let agent_dir = tmp.path().join("agent");
    let token = hub.token("sh-wh1", "warehouse").await?;
    let (code, err) = enroll(&hub.quic, &token, &hub.fingerprint, &agent_dir);
    assert_eq!(code, 0, "enroll failed: {err}");
    let key_mode = std::fs::metadata(agent_dir.join("identity/agent.pem"))?.permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode) & 0o777,
        0o600
    );

    let config = tmp.path().join("agent.toml");
    write_agent_config(&config, &agent_dir, None, &legacy.dir, 1)?;
    let mut agent = AgentProc::new(&agent_dir, &config);
    agent.spawn()?;

    let api = hub.api();
    wait_stock_equal(&api, &expected, Duration::from_secs(300))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "{e}\nagent log:\n{}\nhub log tail:\n{}",
                agent.log(),
                tail(&hub.log())
            )
        })?;

    // Exactly the good rows were applied, once each; the quarantine holds exactly the bad ones.
    let counts = wait_for(
        Duration::from_secs(30),
        "quarantine counts reported",
        || {
            let api = api.clone();
            async move {
                let agents = api.agents().await.ok()?;
                let mut by_source = BTreeMap::new();
                for s in &agents[0].sources {
                    by_source.insert(
                        s.source.to_string(),
                        (s.records_applied, s.records_quarantined, s.backlog),
                    );
                }
                // Reported by the agent every second: wait for a report after the last ack.
                (by_source.get("wms-drop").map(|c| c.1) == Some(10)
                    && by_source.len() == 2
                    && by_source.values().all(|c| c.2 == 0))
                .then_some(by_source)
            }
        },
    )
    .await?;
    assert_eq!(counts["wms-stock"], (100_000, 0, 0));
    assert_eq!(counts["wms-drop"], (19_990, 10, 0));

    // The dashboard's pre-aggregated totals agree with the synced stock, row for row.
    let mut want: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    for ((warehouse, _), on_hand) in &expected {
        let t = want.entry(warehouse.clone()).or_default();
        t.0 += 1;
        t.1 += on_hand;
    }
    let board = api.dashboard().await?;
    let got: BTreeMap<String, (u64, i64)> = board
        .warehouses
        .iter()
        .map(|w| (w.warehouse.to_string(), (w.skus, w.on_hand)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(board.quarantined_total, 10);
    assert_eq!(
        (
            board.agents.online,
            board.agents.offline,
            board.agents.revoked
        ),
        (1, 0, 0)
    );
    assert!(
        board
            .sources
            .iter()
            .all(|s| s.connected && s.backlog == 0 && s.lag_secs == 0),
        "{:#?}",
        board.sources
    );
    let changes: u64 = board.series.points.iter().map(|p| p.changes).sum();
    assert_eq!(changes, 100_000 + 19_990);

    let quarantine = drop.join("quarantine");
    let mut reasons = Vec::new();
    for f in std::fs::read_dir(&quarantine)? {
        let text = std::fs::read_to_string(f?.path())?;
        reasons.extend(text.lines().skip(1).map(str::to_owned));
    }
    assert_eq!(reasons.len(), 10, "quarantine files: {reasons:#?}");
    assert!(
        reasons.iter().all(|r| r.split(',').count() >= 3),
        "{reasons:#?}"
    );
    assert!(drop.join("done/stock_0.csv").exists() && drop.join("done/stock_1.csv").exists());
    agent.kill();
    Ok(())
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
