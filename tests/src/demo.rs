//! The demo's building blocks, shared by the `xt-demo` binary, its test (`demo_flow`) and the
//! console's browser tests: a hub in this process, a generated legacy WMS (an SQLite inventory
//! table for the Shanghai warehouse, with the `outbound` table the agent's sink writes delivery
//! orders into; GBK CSV snapshots exported by the Beijing warehouse) and a real agent that
//! enrolled over QUIC, synced once ([`Demo`]); then the fulfilment flow ([`Demo::start_flow`]):
//! simulated shops selling the catalogue WH-SH stocks, three warehouses configured through the
//! HTTP API as an admin would (WH-SH through the agent, a simulated 3PL over Qimen, a
//! phone-confirmed one with its staff user), and the warehouses' own people shipping what
//! reaches them after a short delay.
//!
//! *Unmapped on purpose:* the WooCommerce shop lists a few catalogue products without a
//! merchant code ([`UNCODED`]), so the hub can map their lines to nothing and holds those
//! orders in review with the unmapped-SKU exception.

use crate::legacy::{CsvRow, DROP_DIR, LegacyWms, ShippingStaff, write_gbk_csv};
use crate::{LocalHub, append_outbound_config, wait_for, write_agent_config};
use anyhow::Context;
use rand::Rng;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use xt_mobile_api::fulfilment::{
    Coverage, DeliveryPage, FulfilmentBoard, FulfilmentSettings, FulfilmentState, MoneyInput,
    QimenInput, WarehouseInput, WarehouseKind,
};

pub const TENANT: &str = "demo";
pub const SQLITE_WAREHOUSE: &str = "WH-SH";
pub const CSV_WAREHOUSE: &str = "WH-BJ";
pub const SITE: &str = "shanghai-dc";
/// The simulated 3PL (over Qimen) and the phone-confirmed warehouse.
pub const TPL_WAREHOUSE: &str = "3PL-TJ";
pub const PHONE_WAREHOUSE: &str = "WH-GZ";
/// The warehouse staff user bound to [`PHONE_WAREHOUSE`], and its password.
pub const PHONE_USER: &str = "gz-picker";
pub const PHONE_PASSWORD: &str = "gz-picker-demo-pass";
/// The WooCommerce shop lists these catalogue products without a merchant code.
pub const UNCODED: &[&str] = &["SOCKS-3P", "CANDLE-VAN"];
pub const UNCODED_SHOP: &str = "woo-1";
/// Units of each catalogue product WH-SH holds at start (high enough for hours of orders).
pub const CATALOGUE_QTY: i64 = 10_000;
/// The random stock churn touches only the generated `SKU-…` rows, never the catalogue.
pub const CHURN_PREFIX: &str = "SKU-";
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
        // WH-SH's delivery orders go into its `outbound` table; what its staff ship comes back.
        append_outbound_config(&config_path, &legacy_dir, &[SQLITE_WAREHOUSE])?;
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
    let shops = SimulatedShops::start(hub, orders, &[]).await?;
    shops.enable().await?;
    Ok(shops.shops)
}

/// The simulated shops bound to the hub but not enabled yet (nothing captured), so the
/// warehouses can be set up first.
struct SimulatedShops {
    shops: DemoShops,
    /// `PATCH /api/v1/shops/{id}` bodies that enable each shop on the simulator.
    enabling: Vec<(String, serde_json::Value)>,
    client: HubClient,
}

impl SimulatedShops {
    /// `uncoded`: catalogue products the WooCommerce shop lists without a merchant code.
    async fn start(
        hub: &LocalHub,
        orders: usize,
        uncoded: &[&str],
    ) -> anyhow::Result<SimulatedShops> {
        use serde_json::json;
        use xt_platform_sim::{Faults, ShopSpec, SimConfig};
        use xt_shared::order::Platform;
        let client = HubClient::admin(hub);
        let base = client.base.clone();
        let mut specs = vec![
            ShopSpec::new("tb-1", Platform::Taobao, orders),
            ShopSpec::new("jd-1", Platform::Jd, orders),
            ShopSpec::new("shopify-1", Platform::Shopify, orders),
            ShopSpec::new(UNCODED_SHOP, Platform::Woocommerce, orders),
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
            let shop = client
                .call(
                    reqwest::Method::POST,
                    "/api/v1/shops",
                    &json!({"platform": spec.platform, "name": name, "enabled": false,
                        "api_base_url": "http://127.0.0.1:9", "credentials": credentials}),
                )
                .await?;
            let id = shop["id"].as_str().unwrap_or_default().to_owned();
            spec.faults = Faults::all();
            if matches!(spec.platform, Platform::Shopify | Platform::Woocommerce) {
                spec.webhook_url = Some(format!("{base}/api/v1/webhooks/{}/{id}", spec.platform));
            }
            if spec.key == UNCODED_SHOP {
                spec.uncoded = uncoded.iter().map(|s| (*s).to_owned()).collect();
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
        // A new URL needs the credentials again.
        let enabling = shops
            .iter()
            .zip(credentials_of)
            .map(|((key, id, _), credentials)| {
                let body = json!({"api_base_url": sim.base_url(key), "enabled": true,
                    "credentials": credentials});
                (id.clone(), body)
            })
            .collect();
        Ok(SimulatedShops {
            shops: DemoShops { sim, shops },
            enabling,
            client,
        })
    }

    /// Points each shop at the simulator and enables it: capture starts.
    async fn enable(&self) -> anyhow::Result<()> {
        for (id, body) in &self.enabling {
            self.client
                .call(reqwest::Method::PATCH, &format!("/api/v1/shops/{id}"), body)
                .await?;
        }
        Ok(())
    }
}

/// The hub's HTTP API with one credential: JSON in, JSON out, a refusal an error naming it.
#[derive(Clone)]
struct HubClient {
    base: String,
    bearer: String,
    http: reqwest::Client,
}

impl HubClient {
    fn admin(hub: &LocalHub) -> HubClient {
        HubClient {
            base: format!("http://{}", hub.running.http_addr),
            bearer: hub.admin_key.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<serde_json::Value> {
        let r = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.bearer)
            .json(body)
            .send()
            .await?;
        let status = r.status();
        let v: serde_json::Value = r.json().await?;
        anyhow::ensure!(status.is_success(), "{method} {path}: {status}: {v}");
        Ok(v)
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<serde_json::Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.bearer)
            .query(query)
            .send()
            .await?;
        let status = r.status();
        let v: serde_json::Value = r.json().await?;
        anyhow::ensure!(status.is_success(), "GET {path}: {status}: {v}");
        Ok(v)
    }
}

/// How the fulfilment flow runs: the sizes and the warehouses' delays.
#[derive(Debug, Clone)]
pub struct FlowOptions {
    /// Orders each simulated shop starts with (its history).
    pub orders: usize,
    /// New paid orders each shop gets per [`Flow::sell`].
    pub paid_per_round: usize,
    /// Random platform updates (payments, cancellations, refunds, …) per [`Flow::sell`].
    pub updates_per_round: std::ops::Range<usize>,
    /// The WMS staff ship a delivery order this long after it reached their table.
    pub wms_after: Duration,
    /// The 3PL ships this long after a delivery order arrived.
    pub tpl_after: Duration,
    /// The phone warehouse's staff confirm a pending delivery order this long after they
    /// first saw it (anyone may confirm it on the phone page before).
    pub phone_after: Duration,
    /// The merge buffer: how long a reviewed order waits for others to the same receiver.
    pub merge_minutes: u32,
}

/// The fulfilment flow of a running [`Demo`]: simulated shops, three warehouses, and the people
/// who ship.
pub struct Flow {
    pub shops: DemoShops,
    pub options: FlowOptions,
    /// WH-SH's shipping staff (they ship in its legacy WMS).
    pub wms_staff: ShippingStaff,
    /// The console's fulfilment board and the phone ship page.
    pub board_url: String,
    pub phone_url: String,
    client: HubClient,
    phone_confirmed: Arc<AtomicU64>,
    phone_staff: tokio::task::JoinHandle<()>,
}

impl Demo {
    /// Sets up fulfilment on a started demo: stocks the simulated shops' catalogue in WH-SH,
    /// starts the shops (not yet captured), registers the simulated 3PL, configures the review,
    /// merge and split settings, the three warehouses and the phone warehouse's staff user
    /// through the HTTP API, then enables the shops.
    pub async fn start_flow(&mut self, options: FlowOptions) -> anyhow::Result<Flow> {
        let catalogue = xt_platform_sim::catalog();
        let items: Vec<(&str, &str, i64)> = catalogue
            .iter()
            .map(|(sku, title)| (*sku, *title, CATALOGUE_QTY))
            .collect();
        self.wms.put_items(SQLITE_WAREHOUSE, &items)?;
        let api = self.hub.api();
        wait_for(FIRST_SYNC_TIMEOUT, "the catalogue's stock in WH-SH", || {
            let api = api.clone();
            let catalogue = catalogue.clone();
            async move {
                let stock = api.stock().await.ok()?;
                catalogue
                    .iter()
                    .all(|(sku, _)| {
                        stock.get(&(SQLITE_WAREHOUSE.to_owned(), (*sku).to_owned()))
                            == Some(&CATALOGUE_QTY)
                    })
                    .then_some(())
            }
        })
        .await?;

        let shops = SimulatedShops::start(&self.hub, options.orders, UNCODED).await?;
        let client = shops.client.clone();
        let tenant = self.hub.tenant.to_string();
        let mut tpl = xt_platform_sim::ThreePlSpec::new(
            TPL_WAREHOUSE,
            Some(format!(
                "{}/api/v1/callbacks/qimen/{tenant}/{TPL_WAREHOUSE}",
                client.base
            )),
        );
        tpl.ship_after_ms = Some(options.tpl_after.as_millis() as u64);
        let endpoint = shops.shops.sim.add_3pl(tpl.clone())?;

        let mut settings = FulfilmentSettings::default();
        settings.merge.window_minutes = options.merge_minutes;
        client
            .call(
                reqwest::Method::PUT,
                "/api/v1/fulfilment/settings",
                &serde_json::to_value(&settings)?,
            )
            .await
            .context("fulfilment settings")?;
        let cny = |minor| MoneyInput {
            minor,
            currency: "CNY".into(),
        };
        let provinces = |list: &[&str]| Coverage {
            provinces: list.iter().map(|p| (*p).to_owned()).collect(),
            cities: Vec::new(),
        };
        let warehouses = [
            WarehouseInput {
                code: SQLITE_WAREHOUSE.into(),
                name: "上海仓（自有 WMS）".into(),
                kind: WarehouseKind::Agent,
                agent_id: Some(self.agent_id.clone()),
                qimen: None,
                coverage: provinces(&["上海", "浙江省", "江苏省", "安徽省"]),
                priority: 1,
                cost: cny(600),
                enabled: Some(true),
            },
            WarehouseInput {
                code: TPL_WAREHOUSE.into(),
                name: "天津第三方仓（奇门）".into(),
                kind: WarehouseKind::Qimen,
                agent_id: None,
                qimen: Some(QimenInput {
                    endpoint,
                    app_key: Some(tpl.app_key.clone()),
                    secret: Some(tpl.secret.clone()),
                    customer_id: tpl.customer_id.clone(),
                    owner_code: "DEMO".into(),
                }),
                coverage: provinces(&["北京", "天津", "河北省", "山西省", "内蒙古自治区"]),
                priority: 2,
                cost: cny(800),
                enabled: Some(true),
            },
            WarehouseInput {
                code: PHONE_WAREHOUSE.into(),
                name: "广州门店仓（手机确认）".into(),
                kind: WarehouseKind::Phone,
                agent_id: None,
                qimen: None,
                // Everywhere: the fallback for what the others do not cover.
                coverage: Coverage::default(),
                priority: 3,
                cost: cny(1000),
                enabled: Some(true),
            },
        ];
        for w in &warehouses {
            client
                .call(
                    reqwest::Method::POST,
                    "/api/v1/warehouses",
                    &serde_json::to_value(w)?,
                )
                .await
                .with_context(|| format!("configuring warehouse {}", w.code))?;
        }
        client
            .call(
                reqwest::Method::POST,
                "/api/v1/users",
                &serde_json::json!({"username": PHONE_USER, "password": PHONE_PASSWORD,
                    "roles": ["warehouse"], "warehouses": [PHONE_WAREHOUSE]}),
            )
            .await
            .context("the phone warehouse's user")?;
        shops.enable().await?;

        let phone_confirmed = Arc::new(AtomicU64::new(0));
        let phone_staff = tokio::spawn(phone_staff(
            client.base.clone(),
            tenant,
            options.phone_after,
            phone_confirmed.clone(),
        ));
        Ok(Flow {
            board_url: format!("{}/#/fulfilment", client.base),
            phone_url: format!("{}/#/ship", client.base),
            wms_staff: ShippingStaff::new(options.wms_after),
            shops: shops.shops,
            options,
            client,
            phone_confirmed,
            phone_staff,
        })
    }
}

impl Flow {
    /// WH-SH's staff ship the delivery orders due in the legacy WMS; how many they shipped.
    pub fn ship_due(&mut self, demo: &mut Demo) -> anyhow::Result<usize> {
        self.wms_staff.ship_due(&mut demo.wms)
    }

    /// The platforms keep selling: random updates, and new paid orders in every shop.
    pub async fn sell(&self) {
        let range = self.options.updates_per_round.clone();
        if !range.is_empty() {
            self.shops
                .sim
                .update_round(rand::rng().random_range(range))
                .await;
        }
        for (key, _, _) in &self.shops.shops {
            self.shops
                .sim
                .add_paid_orders(key, self.options.paid_per_round)
                .await;
        }
    }

    /// Where fulfilment stands: the hub's board, what each warehouse shipped and has open, and
    /// the tracking numbers the platforms received.
    pub async fn status(&self) -> anyhow::Result<FlowStatus> {
        let board: FulfilmentBoard =
            serde_json::from_value(self.client.get("/api/v1/fulfilment/board", &[]).await?)?;
        let list: xt_mobile_api::fulfilment::WarehouseList =
            serde_json::from_value(self.client.get("/api/v1/warehouses", &[]).await?)?;
        let open = list
            .warehouses
            .iter()
            .map(|w| (w.code.clone(), w.open_deliveries))
            .collect();
        let tpl_shipped = self
            .shops
            .sim
            .qimen_log(TPL_WAREHOUSE)
            .confirms
            .iter()
            .filter(|c| c.acknowledged)
            .count() as u64;
        let writebacks = self.shops.sim.writebacks();
        let accepted = writebacks
            .iter()
            .filter(|w| w.outcome == xt_platform_sim::Outcome::Shipped)
            .count() as u64;
        Ok(FlowStatus {
            board,
            open,
            shipped: BTreeMap::from([
                (SQLITE_WAREHOUSE.to_owned(), self.wms_staff.shipped),
                (TPL_WAREHOUSE.to_owned(), tpl_shipped),
                (
                    PHONE_WAREHOUSE.to_owned(),
                    self.phone_confirmed.load(Ordering::SeqCst),
                ),
            ]),
            writebacks_received: writebacks.len() as u64,
            writebacks_accepted: accepted,
        })
    }

    /// Delivery orders of `warehouse` in `state` (`shipped`, `pending`, …), oldest first, at
    /// most `max`.
    pub async fn deliveries(
        &self,
        warehouse: &str,
        state: &str,
        max: usize,
    ) -> anyhow::Result<Vec<xt_mobile_api::fulfilment::DeliveryView>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("warehouse", warehouse), ("state", state), ("limit", "200")];
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            let page: DeliveryPage =
                serde_json::from_value(self.client.get("/api/v1/deliveries", &query).await?)?;
            out.extend(page.deliveries);
            match page.next_cursor {
                Some(c) if out.len() < max => cursor = Some(c),
                _ => return Ok(out),
            }
        }
    }

    /// Orders in fulfilment state `state` (`unmapped_sku`, `held`, …), at most `max`.
    pub async fn orders_in(
        &self,
        state: &str,
        max: usize,
    ) -> anyhow::Result<Vec<xt_mobile_api::fulfilment::FulfilmentSummary>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("state", state), ("limit", "500")];
            if let Some(c) = &cursor {
                query.push(("cursor", c));
            }
            let page: xt_mobile_api::fulfilment::FulfilmentPage = serde_json::from_value(
                self.client.get("/api/v1/fulfilment/orders", &query).await?,
            )?;
            out.extend(page.orders);
            match page.next_cursor {
                Some(c) if out.len() < max => cursor = Some(c),
                _ => return Ok(out),
            }
        }
    }

    /// Stops the phone staff and the simulator (after the hub, whose senders may still be
    /// calling it).
    pub async fn stop(self) {
        self.phone_staff.abort();
        let _ = self.phone_staff.await;
        self.shops.sim.shutdown().await;
    }
}

/// Where the demo's fulfilment stands (see [`Flow::status`]).
#[derive(Debug, Clone)]
pub struct FlowStatus {
    pub board: FulfilmentBoard,
    /// Delivery orders not shipped yet, per warehouse.
    pub open: BTreeMap<String, u64>,
    /// Delivery orders shipped per warehouse, as the warehouse's people (or the 3PL) did it.
    pub shipped: BTreeMap<String, u64>,
    /// Tracking write-backs the simulated platforms received, and those that shipped the order.
    pub writebacks_received: u64,
    pub writebacks_accepted: u64,
}

impl FlowStatus {
    /// Orders in `state` on the board.
    pub fn count(&self, state: FulfilmentState) -> u64 {
        self.board
            .states
            .iter()
            .find(|c| c.state == state)
            .map_or(0, |c| c.count)
    }

    /// The summary lines the demo prints.
    pub fn lines(&self) -> Vec<String> {
        use FulfilmentState as S;
        let exceptions: Vec<String> = self
            .board
            .states
            .iter()
            .filter(|c| c.exception && c.count > 0)
            .map(|c| format!("{} {}", c.state.as_str(), c.count))
            .collect();
        let per_warehouse = |m: &BTreeMap<String, u64>| {
            [SQLITE_WAREHOUSE, TPL_WAREHOUSE, PHONE_WAREHOUSE]
                .iter()
                .map(|w| format!("{w} {}", m.get(*w).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        vec![
            format!(
                "fulfilment: allocated {}, sent {}, shipped {} (+{} partly); review queue {} held; exceptions: {}",
                self.count(S::Allocated),
                self.count(S::Sent),
                self.count(S::Shipped) + self.count(S::Completed),
                self.count(S::PartlyShipped),
                self.count(S::Held),
                if exceptions.is_empty() {
                    "none".to_owned()
                } else {
                    exceptions.join(", ")
                }
            ),
            format!(
                "warehouses shipped {}; still open {}",
                per_warehouse(&self.shipped),
                per_warehouse(&self.open)
            ),
            format!(
                "tracking numbers the platforms took {} (of {} write-back calls: the rest were repeats or refusals); hub still sending {}, failing {}",
                self.writebacks_accepted,
                self.writebacks_received,
                self.board.writeback_pending,
                self.board.writeback_failed
            ),
        ]
    }
}

/// The phone warehouse's staff: signed in as [`PHONE_USER`], they confirm each pending
/// delivery order of [`PHONE_WAREHOUSE`] `after` they first saw it, through the same API as
/// the phone page, with a carrier and a new tracking number. Errors are logged and retried.
async fn phone_staff(base: String, tenant: String, after: Duration, confirmed: Arc<AtomicU64>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    let mut token: Option<String> = None;
    let mut seen: BTreeMap<String, Instant> = BTreeMap::new();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let bearer = match &token {
            Some(t) => t.clone(),
            None => {
                match sign_in(&http, &base, &tenant).await {
                    Ok(t) => token = Some(t),
                    Err(e) => tracing::warn!(error = %e, "phone staff cannot sign in"),
                }
                continue;
            }
        };
        match confirm_due(&http, &base, &bearer, after, &mut seen).await {
            Ok(n) => {
                confirmed.fetch_add(n, Ordering::SeqCst);
            }
            Err(e) => {
                // An expired session signs in again; anything else is tried again.
                tracing::warn!(error = %e, "phone staff");
                token = None;
            }
        }
    }
}

async fn sign_in(http: &reqwest::Client, base: &str, tenant: &str) -> anyhow::Result<String> {
    let pair: xt_mobile_api::identity::TokenPair = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(
            &serde_json::json!({"tenant": tenant, "username": PHONE_USER,
            "password": PHONE_PASSWORD}),
        )
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(pair.access_token)
}

/// Confirms the pending delivery orders seen for `after`; how many.
async fn confirm_due(
    http: &reqwest::Client,
    base: &str,
    bearer: &str,
    after: Duration,
    seen: &mut BTreeMap<String, Instant>,
) -> anyhow::Result<u64> {
    let now = Instant::now();
    let mut pending = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..20 {
        let mut req = http
            .get(format!("{base}/api/v1/deliveries"))
            .bearer_auth(bearer)
            .query(&[("warehouse", PHONE_WAREHOUSE), ("limit", "200")]);
        if let Some(c) = &cursor {
            req = req.query(&[("cursor", c.as_str())]);
        }
        let page: DeliveryPage = req.send().await?.error_for_status()?.json().await?;
        pending.extend(page.deliveries.into_iter().map(|d| d.delivery_no));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    seen.retain(|no, _| pending.contains(no));
    let mut n = 0;
    for no in pending {
        let since = *seen.entry(no.clone()).or_insert(now);
        if now.duration_since(since) < after {
            continue;
        }
        let carriers = crate::legacy::CARRIERS;
        let carrier = carriers[rand::rng().random_range(0..carriers.len())];
        let r = http
            .post(format!("{base}/api/v1/deliveries/{no}/confirm"))
            .bearer_auth(bearer)
            .json(&serde_json::json!({"carrier": carrier,
                "tracking_no": crate::legacy::tracking_no(carrier),
                "confirmation_id": format!("phone-{no}")}))
            .send()
            .await?;
        match r.status() {
            s if s.is_success() => n += 1,
            // Cancelled or shipped meanwhile: nothing to confirm.
            reqwest::StatusCode::CONFLICT | reqwest::StatusCode::NOT_FOUND => {}
            s => anyhow::bail!("confirming {no}: {s}"),
        }
        seen.remove(&no);
    }
    Ok(n)
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
