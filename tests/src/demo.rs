//! The demo's building blocks, shared by the `xt-demo` binary and the console's browser tests:
//! a hub in this process, a generated legacy WMS (an SQLite inventory table for the Shanghai
//! warehouse, GBK CSV snapshots exported by the Beijing warehouse) and a real agent that
//! enrolled over QUIC, synced once.

use crate::legacy::{CsvRow, DROP_DIR, LegacyWms, write_gbk_csv};
use crate::{LocalHub, wait_for, write_agent_config};
use rand::Rng;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const TENANT: &str = "demo";
pub const SQLITE_WAREHOUSE: &str = "WH-SH";
pub const CSV_WAREHOUSE: &str = "WH-BJ";
pub const SITE: &str = "shanghai-dc";
/// How long the first full sync may take before the demo gives up.
pub const FIRST_SYNC_TIMEOUT: Duration = Duration::from_secs(120);

/// A running demo: hub, agent and legacy data under `root`.
pub struct Demo {
    pub root: PathBuf,
    pub hub: LocalHub,
    pub wms: LegacyWms,
    /// The Beijing quantities of the last snapshot, SKU index → on hand.
    pub bj: Vec<i64>,
    pub agent_id: String,
    pub drop_dir: PathBuf,
    stop: tokio::sync::oneshot::Sender<()>,
    agent: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Demo {
    /// Starts everything in `root` (which must not hold a demo yet) and waits for the first
    /// full sync of `skus` SKUs per warehouse.
    pub async fn start(
        root: &Path,
        http: SocketAddr,
        quic: SocketAddr,
        skus: usize,
    ) -> anyhow::Result<Demo> {
        std::fs::create_dir_all(root)?;
        let hub_dir = root.join("hub");
        let agent_dir = root.join("agent");
        let legacy_dir = root.join("legacy-wms");
        anyhow::ensure!(
            !hub_dir.exists(),
            "{} already holds a demo; pass another --data",
            root.display()
        );
        let hub = LocalHub::start(&hub_dir, TENANT, quic, http).await?;
        let wms = LegacyWms::create(&legacy_dir, &[SQLITE_WAREHOUSE], skus)?;
        let drop_dir = legacy_dir.join(DROP_DIR);
        let bj: Vec<i64> = (0..skus)
            .map(|_| rand::rng().random_range(0..500))
            .collect();
        write_snapshot(&drop_dir, &bj, 0)?;

        // The agent enrolls over QUIC exactly as IT would do it, then runs.
        let info = hub.enroll_agent(SITE, &agent_dir).await?;
        let config_path = root.join("agent.toml");
        write_agent_config(&config_path, &agent_dir, None, &legacy_dir, 2)?;
        let config = xt_agent::config::AgentConfig::load(&config_path)?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let agent = tokio::spawn(xt_agent::cli::run_agent_until(config, async move {
            let _ = stopped.await;
        }));

        let api = hub.api();
        let expected = skus * 2;
        wait_for(FIRST_SYNC_TIMEOUT, "the first sync", || {
            let api = api.clone();
            async move {
                api.stock()
                    .await
                    .ok()
                    .filter(|s| s.len() >= expected)
                    .map(|_| ())
            }
        })
        .await?;
        Ok(Demo {
            root: root.to_owned(),
            hub,
            wms,
            bj,
            agent_id: info.agent.to_string(),
            drop_dir,
            stop,
            agent,
        })
    }

    /// Writes the next Beijing snapshot from [`Demo::bj`].
    pub fn write_snapshot(&self, n: u64) -> anyhow::Result<()> {
        write_snapshot(&self.drop_dir, &self.bj, n)
    }

    /// Stops the agent, then the hub.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.agent.await;
        self.hub.running.shutdown().await;
    }
}

/// The Beijing WMS exports a full snapshot as GBK CSV.
fn write_snapshot(drop: &Path, qty: &[i64], n: u64) -> anyhow::Result<()> {
    let rows: Vec<CsvRow> = qty
        .iter()
        .enumerate()
        .map(|(i, q)| CsvRow {
            warehouse: CSV_WAREHOUSE.into(),
            sku: format!("SKU-{i:06}"),
            name: format!("商品{i}号 北京"),
            qty: q.to_string(),
        })
        .collect();
    write_gbk_csv(drop, &format!("库存快照_{n:06}.csv"), &rows, &[])
}
