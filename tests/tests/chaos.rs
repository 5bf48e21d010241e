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

/// Waits until the hub applied at least `more` rows beyond `from`: a sync is in full flow.
async fn wait_progress(api: &Api, from: u64, more: u64) -> anyhow::Result<u64> {
    wait_applied(api, from + more).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_agent_at_five_points() -> anyhow::Result<()> {
    let mut s = setup(&[]).await?;
    let api = s.hub.api();
    // The source keeps changing the whole time, so every kill lands in the middle of a sync.
    let churn = s.legacy.keep_changing(300, Duration::from_millis(20))?;
    // Kill points: right after start (before the first batch is acked), then after growing
    // amounts of progress within one run.
    for (i, progress) in [0u64, 2_000, 10_000, 25_000, 40_000]
        .into_iter()
        .enumerate()
    {
        let before = applied(&api).await;
        s.agent.spawn()?;
        if progress == 0 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        } else {
            wait_progress(&api, before, progress).await?;
        }
        s.agent.kill();
        let after = applied(&api).await;
        println!(
            "kill {i}: agent killed after {} more rows applied",
            after - before
        );
    }
    s.agent.spawn()?;
    churn.stop(&mut s.legacy);
    let expected = s.legacy.stock()?;
    wait_stock_equal(&api, &expected, Duration::from_secs(180))
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nagent log:\n{}", s.agent.log()))?;
    // Every change the source produced was applied exactly once: records applied equals the
    // applied seq (seqs are consecutive from 1), so no resend was counted twice.
    let produced = s.hub_expected_changes().await?;
    assert!(produced > 60_000, "the churn produced changes: {produced}");
    assert_eq!(applied(&api).await, produced);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_hub_at_five_points() -> anyhow::Result<()> {
    let mut s = setup(&[]).await?;
    let api = s.hub.api();
    let churn = s.legacy.keep_changing(300, Duration::from_millis(20))?;
    s.agent.spawn()?;
    for (i, progress) in [0u64, 2_000, 10_000, 25_000, 40_000]
        .into_iter()
        .enumerate()
    {
        let before = applied(&api).await;
        if progress == 0 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        } else {
            wait_progress(&api, before, progress).await?;
        }
        s.hub.kill();
        println!("kill {i}: hub killed");
        s.hub.spawn().await?;
    }
    churn.stop(&mut s.legacy);
    let expected = s.legacy.stock()?;
    wait_stock_equal(&api, &expected, Duration::from_secs(180))
        .await
        .map_err(|e| anyhow::anyhow!("{e}\nagent log:\n{}", s.agent.log()))?;
    let produced = s.hub_expected_changes().await?;
    assert!(produced > 60_000, "the churn produced changes: {produced}");
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
