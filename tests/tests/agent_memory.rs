//! The agent's memory stays within the budget named in its config while it reads a legacy table
//! with its hub away and while it drains the backlog afterwards. The sync benchmark runs the same
//! measurement with a million rows; the suite uses fewer (XT_MEMORY_ROWS to change).

use xt_agent::config::AgentConfig;
use xt_tests::agent_memory::{Binaries, measure};

/// Legacy rows read in the suite: enough for the outbox to outgrow any fixed cache many times.
const ROWS_DEFAULT: usize = 200_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_rss_stays_under_its_memory_budget_offline_and_draining() -> anyhow::Result<()> {
    let rows = std::env::var("XT_MEMORY_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ROWS_DEFAULT);
    let dir = tempfile::tempdir()?;
    let bins = Binaries {
        hub: env!("CARGO_BIN_EXE_xt-test-hub").into(),
        agent: env!("CARGO_BIN_EXE_xt-test-agent").into(),
    };
    let run = measure(&bins, dir.path(), rows).await?;
    let config = AgentConfig::load(&run.config)?;
    let budget_kib = config.memory_budget_mb * 1024;
    println!(
        "{} rows: read with the hub away in {:.1} s, peak RSS {} KiB; drained in {:.1} s, peak RSS {} KiB; idle {} KiB; budget {} KiB",
        run.rows,
        run.read_secs,
        run.offline_peak_kib,
        run.drain_secs,
        run.drain_peak_kib,
        run.idle_kib,
        budget_kib
    );
    assert!(
        run.offline_peak_kib < budget_kib,
        "peak RSS {} KiB reading {} rows with the hub away is over the budget of {} MiB",
        run.offline_peak_kib,
        run.rows,
        config.memory_budget_mb
    );
    assert!(
        run.peak_kib < budget_kib,
        "peak RSS {} KiB while draining {} rows is over the budget of {} MiB",
        run.peak_kib,
        run.rows,
        config.memory_budget_mb
    );
    Ok(())
}
