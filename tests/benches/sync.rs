//! Sync benchmark: 1,000,000 stock changes agent → hub end to end over loopback QUIC, durable on
//! both sides, against the raw redb rate for keyed upserts of the same records with the same
//! batch size, measured in the same run. Also the agent's idle RSS and binary size, and its peak
//! RSS under load: a real agent process reading 1,000,000 legacy SQLite rows with its hub away,
//! then draining them to the restarted hub (see `xt_tests::agent_memory`).
//!
//! `cargo bench -p xt-tests --bench sync` (XT_BENCH_CHANGES to change the count,
//! XT_BENCH_LEGACY_ROWS for the legacy rows of the memory run).

use redb::{Database, TableDefinition};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xt_agent::config::AgentConfig;
use xt_agent::identity::Identity;
use xt_agent::net::{DurableFeed, SyncDriver};
use xt_agent::outbox::Outbox;
use xt_shared::change::Body;
use xt_shared::ids::{Sku, SourceName, WarehouseCode};
use xt_shared::model::StockLevel;
use xt_shared::sync::SyncLimits;
use xt_tests::LocalHub;

const DISTINCT_SKUS: usize = 100_000;
const WAREHOUSES: [&str; 2] = ["WH-SH", "WH-BJ"];

fn change(i: usize) -> (String, String, i64) {
    let wh = WAREHOUSES[i % 2];
    let sku = format!("SKU-{:06}", (i / 2) % DISTINCT_SKUS);
    (wh.to_owned(), sku, (i % 997) as i64)
}

/// Keyed upserts of the same records into a fresh redb file, one durable commit per batch.
fn raw_redb(n: usize, batch: usize) -> anyhow::Result<f64> {
    const STOCK: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("stock");
    let dir = tempfile::tempdir()?;
    let db = Database::create(dir.path().join("raw.redb"))?;
    let started = Instant::now();
    let mut i = 0;
    while i < n {
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(STOCK)?;
            for j in i..(i + batch).min(n) {
                let (wh, sku, qty) = change(j);
                // The same shape of value the hub stores: quantity, version, origin, time.
                let value =
                    postcard::to_allocvec(&(qty, j as i64, "ag-0000000000000000/bench", 0i64))?;
                table.insert(("bench", wh.as_str(), sku.as_str()), value.as_slice())?;
            }
        }
        txn.commit()?;
        i += batch;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn loopback() -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

struct EndToEnd {
    rate: f64,
    producer_rate: f64,
}

async fn end_to_end(n: usize, batch: usize) -> anyhow::Result<EndToEnd> {
    let dir = tempfile::tempdir()?;
    let hub = LocalHub::start(&dir.path().join("hub"), "bench", loopback(), loopback()).await?;
    let agent_dir = dir.path().join("agent");
    let info = hub.enroll_agent("bench", &agent_dir).await?;
    let running = &hub.running;

    let config = AgentConfig::parse(
        &format!(
            "data_dir = {:?}\n[sync]\nbatch_rows_max = {batch}\n[[source]]\nname = \"bench\"\nkind = \"csv\"\nentity = \"stock\"\n[source.columns]\nwarehouse = \"w\"\nsku = \"s\"\non_hand = \"q\"\n[source.csv]\ndir = {:?}\nencoding = \"utf-8\"\n",
            agent_dir.display().to_string(),
            dir.path().join("unused").display().to_string()
        ),
        &dir.path().join("bench.toml"),
    )?;
    let identity = Identity::load(&agent_dir)?;
    let outbox = Arc::new(Outbox::open(&agent_dir.join(xt_agent::cli::OUTBOX_FILE))?);
    let feed = Arc::new(DurableFeed::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let driver = tokio::spawn(
        SyncDriver::new(&config, &identity, outbox.clone(), feed.clone()).run(stop_rx),
    );

    let source = SourceName::new("bench")?;
    let started = Instant::now();
    // The source side: durable outbox commits of `batch` rows, as a source poll makes them.
    let producer = {
        let (outbox, feed, source) = (outbox.clone(), feed.clone(), source.clone());
        std::thread::spawn(move || -> anyhow::Result<Duration> {
            let t = Instant::now();
            let mut i = 0;
            while i < n {
                let rows: Vec<(Option<i64>, Body)> = (i..(i + batch).min(n))
                    .map(|j| {
                        let (wh, sku, qty) = change(j);
                        let body = Body::Stock(StockLevel {
                            warehouse: WarehouseCode::new(wh).expect("valid"),
                            sku: Sku::new(sku).expect("valid"),
                            on_hand: qty,
                        });
                        (Some(j as i64), body)
                    })
                    .collect();
                let durable = outbox.commit(&source, rows, vec![], None)?;
                feed.durable(&source, durable);
                i += batch;
            }
            Ok(t.elapsed())
        })
    };
    loop {
        let applied = running
            .hub
            .store()
            .origins(&info.tenant, &info.agent)?
            .into_iter()
            .find(|(s, _)| s == &source)
            .map_or(0, |(_, o)| o.applied_seq);
        if applied >= n as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let produced_in = producer
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))??;
    let _ = stop_tx.send(true);
    let _ = driver.await;
    hub.running.shutdown().await;
    Ok(EndToEnd {
        rate: n as f64 / elapsed.as_secs_f64(),
        producer_rate: n as f64 / produced_in.as_secs_f64(),
    })
}

/// Starts a real agent process against a hub, lets it go idle, reads its resident memory.
async fn agent_idle_rss() -> anyhow::Result<(u64, u64)> {
    let dir = tempfile::tempdir()?;
    let hub = LocalHub::start(&dir.path().join("hub"), "rss", loopback(), loopback()).await?;
    let agent_dir = dir.path().join("agent");
    hub.enroll_agent("rss", &agent_dir).await?;
    let legacy =
        xt_tests::legacy::LegacyWms::create(&dir.path().join("legacy"), &["WH-SH", "WH-BJ"], 300)?;
    let config = dir.path().join("agent.toml");
    xt_tests::write_agent_config(&config, &agent_dir, None, &legacy.dir, 10)?;
    let bin = env!("CARGO_BIN_EXE_xt-test-agent");
    let mut child = std::process::Command::new(bin)
        .args(["run", "--config", config.to_str().unwrap_or_default()])
        .env("XT_LOG", "warn")
        .spawn()?;
    tokio::time::sleep(Duration::from_secs(8)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    let _ = child.kill();
    let _ = child.wait();
    hub.running.shutdown().await;
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0);
    let size = std::fs::metadata(bin)?.len();
    Ok((rss_kb, size))
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        println!("sync: bench");
        return Ok(());
    }
    let n: usize = std::env::var("XT_BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let batch = SyncLimits::default().batch_rows_max;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;

    println!(
        "sync benchmark: {n} stock changes over {} keys, batch {batch} rows, durable commits",
        DISTINCT_SKUS * 2
    );
    let raw = raw_redb(n, batch)?;
    println!("  raw redb keyed upserts      {:>10.0} records/s", raw);
    let e2e = rt.block_on(end_to_end(n, batch))?;
    println!(
        "  agent → hub end to end      {:>10.0} records/s  (outbox alone {:.0} records/s)",
        e2e.rate, e2e.producer_rate
    );
    println!(
        "  ratio end-to-end / raw      {:>10.2}  (target ≥ 0.50)",
        e2e.rate / raw
    );
    let legacy_rows: usize = std::env::var("XT_BENCH_LEGACY_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let bins = xt_tests::agent_memory::Binaries {
        hub: env!("CARGO_BIN_EXE_xt-test-hub").into(),
        agent: env!("CARGO_BIN_EXE_xt-test-agent").into(),
    };
    let load = rt.block_on(xt_tests::agent_memory::measure(
        &bins,
        dir.path(),
        legacy_rows,
    ))?;
    let mb = |kib: u64| kib as f64 / 1024.0;
    println!(
        "  agent reads {} legacy rows, hub away  {:>8.0} rows/s  peak RSS {:.1} MB",
        load.rows,
        load.rows as f64 / load.read_secs,
        mb(load.offline_peak_kib)
    );
    println!(
        "  agent drains them to the hub          {:>8.0} rows/s  peak RSS {:.1} MB (whole run {:.1} MB, idle after {:.1} MB)",
        load.rows as f64 / load.drain_secs,
        mb(load.drain_peak_kib),
        mb(load.peak_kib),
        mb(load.idle_kib)
    );
    let (rss_kb, size) = rt.block_on(agent_idle_rss())?;
    println!(
        "  agent idle RSS              {:>10.1} MB  (target < 10 MB)",
        rss_kb as f64 / 1024.0
    );
    println!(
        "  agent binary (stripped)     {:>10.1} MB  (target < 15 MB)",
        size as f64 / 1_048_576.0
    );
    Ok(())
}
