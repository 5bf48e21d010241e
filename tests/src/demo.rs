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

/// The simulated sales platforms of the demo: one shop per platform, bound to the hub.
pub struct DemoShops {
    pub sim: xt_platform_sim::SimHandle,
    /// (simulator key, hub shop id, platform) of each shop.
    pub shops: Vec<(String, String, xt_shared::order::Platform)>,
}

/// A simulated shop's credentials as `POST /api/v1/shops` takes them.
pub fn shop_credentials(spec: &xt_platform_sim::ShopSpec) -> serde_json::Value {
    use serde_json::json;
    use xt_shared::order::Platform;
    let c = &spec.credentials;
    match spec.platform {
        Platform::Taobao | Platform::Tmall => {
            json!({"app_key": c[0], "app_secret": c[1], "session": c[2]})
        }
        Platform::Jd => json!({"app_key": c[0], "app_secret": c[1], "access_token": c[2]}),
        Platform::Shopify => {
            json!({"shop_domain": c[0], "access_token": c[1], "webhook_secret": c[2]})
        }
        Platform::Woocommerce => {
            json!({"consumer_key": c[0], "consumer_secret": c[1], "webhook_secret": c[2]})
        }
    }
}

/// Starts the platform simulator with one shop per platform (`orders` orders each, every fault
/// knob on) and binds each to the hub through the shops API, with webhooks for Shopify and
/// WooCommerce pointed at the hub; the hub's capture loop takes it from there.
pub async fn bind_simulated_shops(hub: &LocalHub, orders: usize) -> anyhow::Result<DemoShops> {
    use serde_json::json;
    use xt_platform_sim::{Faults, ShopSpec, SimConfig};
    use xt_shared::order::Platform;
    let base = format!("http://{}", hub.running.http_addr);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, url: String, body: serde_json::Value| {
        let req = http
            .request(method, url)
            .bearer_auth(&hub.admin_key)
            .json(&body);
        async move {
            let r = req.send().await?;
            let status = r.status();
            let v: serde_json::Value = r.json().await?;
            anyhow::ensure!(status.is_success(), "{status}: {v}");
            anyhow::Ok(v)
        }
    };
    let mut specs = vec![
        ShopSpec::new("tb-1", Platform::Taobao, orders),
        ShopSpec::new("jd-1", Platform::Jd, orders),
        ShopSpec::new("shopify-1", Platform::Shopify, orders),
        ShopSpec::new("woo-1", Platform::Woocommerce, orders),
    ];
    let names = [
        "天猫旗舰店（模拟）",
        "京东自营店（模拟）",
        "Shopify Global (sim)",
        "WooCommerce EU (sim)",
    ];
    let mut shops = Vec::new();
    let mut credentials_of = Vec::new();
    for (spec, name) in specs.iter_mut().zip(names) {
        let credentials = shop_credentials(spec);
        credentials_of.push(credentials.clone());
        let shop = call(
            reqwest::Method::POST,
            format!("{base}/api/v1/shops"),
            json!({"platform": spec.platform, "name": name, "enabled": false,
                "api_base_url": "http://127.0.0.1:9", "credentials": credentials}),
        )
        .await?;
        let id = shop["id"].as_str().unwrap_or_default().to_owned();
        spec.faults = Faults::all();
        if matches!(spec.platform, Platform::Shopify | Platform::Woocommerce) {
            spec.webhook_url = Some(format!("{base}/api/v1/webhooks/{}/{id}", spec.platform));
        }
        shops.push((spec.key.clone(), id, spec.platform));
    }
    let sim = xt_platform_sim::start(
        SimConfig {
            seed: rand::rng().random(),
            history: Duration::from_secs(6 * 3600),
            shops: specs,
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;
    for ((key, id, _), credentials) in shops.iter().zip(credentials_of) {
        // A new URL needs the credentials again.
        call(
            reqwest::Method::PATCH,
            format!("{base}/api/v1/shops/{id}"),
            json!({"api_base_url": sim.base_url(key), "enabled": true,
                "credentials": credentials}),
        )
        .await?;
    }
    Ok(DemoShops { sim, shops })
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
