//! Shared pieces of the end-to-end tests, the demo and the benchmark: a generated legacy WMS
//! (SQLite tables and GBK CSV drop files, the way real legacy systems keep them), agent config
//! writing, and small HTTP helpers against the hub API.

pub mod agent_memory;
pub mod demo;
pub mod legacy;

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use xt_mobile_api::{AgentList, AgentView, StockPage};

/// Polls `f` until it returns `Some`, or fails after `timeout` with `what` in the message.
pub async fn wait_for<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return Ok(v);
        }
        if Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A tiny client for the hub's HTTP API, as a partner would use it.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }

    pub async fn agents(&self) -> anyhow::Result<Vec<AgentView>> {
        let resp = self
            .http
            .get(format!("{}/api/v1/agents", self.base))
            .bearer_auth(&self.key)
            .send()
            .await?
            .error_for_status()?;
        Ok(resp.json::<AgentList>().await?.agents)
    }

    /// The whole stock table of the key's tenant: (warehouse, sku) → on hand.
    pub async fn stock(&self) -> anyhow::Result<BTreeMap<(String, String), i64>> {
        let mut out = BTreeMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = self
                .http
                .get(format!("{}/api/v1/stock", self.base))
                .bearer_auth(&self.key)
                .query(&[("limit", "1000")]);
            if let Some(c) = &cursor {
                req = req.query(&[("cursor", c.as_str())]);
            }
            let page: StockPage = req.send().await?.error_for_status()?.json().await?;
            for row in page.items {
                out.insert(
                    (row.warehouse.to_string(), row.sku.to_string()),
                    row.on_hand,
                );
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// The key's tenant's dashboard (`GET /api/v1/dashboard`).
    pub async fn dashboard(&self) -> anyhow::Result<xt_mobile_api::Dashboard> {
        let resp = self
            .http
            .get(format!("{}/api/v1/dashboard", self.base))
            .bearer_auth(&self.key)
            .send()
            .await?
            .error_for_status()?;
        Ok(resp.json().await?)
    }

    /// Records applied per source name, summed over the tenant's agents.
    pub async fn applied(&self) -> anyhow::Result<BTreeMap<String, u64>> {
        let mut out = BTreeMap::new();
        for a in self.agents().await? {
            for s in a.sources {
                *out.entry(s.source.to_string()).or_default() += s.records_applied;
            }
        }
        Ok(out)
    }
}

/// Writes an agent config for the generated legacy WMS in `legacy_dir`.
pub fn write_agent_config(
    path: &Path,
    data_dir: &Path,
    hub: Option<&str>,
    legacy_dir: &Path,
    status_interval_secs: u64,
) -> anyhow::Result<()> {
    let hub_line = hub.map(|h| format!("hub = {h:?}\n")).unwrap_or_default();
    let text = format!(
        r#"data_dir = {data:?}
{hub_line}timezone = "+08:00"

[sync]
status_interval_secs = {status_interval_secs}
reconnect_base_ms = 200
reconnect_max_ms = 2000

[[source]]
name = "wms-stock"
kind = "sqlite"
entity = "stock"
poll_interval_secs = 1
[source.columns]
warehouse = "wh_code"
sku = "item_code"
on_hand = "qty"
version = "updated_at"
[source.sqlite]
path = {db:?}
query = "SELECT wh_code, item_code, qty, updated_at, id FROM inventory WHERE (updated_at, id) > (?1, ?2) ORDER BY updated_at, id LIMIT ?3"
cursor = ["updated_at", "id"]

[[source]]
name = "wms-drop"
kind = "csv"
entity = "stock"
poll_interval_secs = 1
[source.columns]
warehouse = "仓库"
sku = "货品编码"
on_hand = "数量"
[source.csv]
dir = {drop:?}
encoding = "gbk"
settle_ms = 0
"#,
        data = data_dir.display().to_string(),
        db = legacy_dir.join(legacy::DB_FILE).display().to_string(),
        drop = legacy_dir.join(legacy::DROP_DIR).display().to_string(),
    );
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Appends to the agent config at `path` what fulfilment needs from the generated legacy WMS:
/// a sink writing `warehouses`' delivery orders into its `outbound` table, and a shipment
/// source reading the lines its staff shipped.
pub fn append_outbound_config(
    path: &Path,
    legacy_dir: &Path,
    warehouses: &[&str],
) -> anyhow::Result<()> {
    use std::io::Write;
    let text = format!(
        r#"
[[source]]
name = "wms-shipped"
kind = "sqlite"
entity = "shipment"
poll_interval_ms = 200
[source.columns]
delivery_no = "delivery_no"
warehouse = "wh_code"
carrier = "carrier"
tracking_no = "tracking_no"
shipped_at = "shipped_at"
sku = "item_code"
quantity = "qty"
version = "shipped_at"
[source.sqlite]
path = {db:?}
query = "SELECT delivery_no, wh_code, carrier, tracking_no, shipped_at, item_code, qty, id FROM outbound WHERE status = 'SHIPPED' AND (shipped_at, id) > (?1, ?2) ORDER BY shipped_at, id LIMIT ?3"
cursor = ["shipped_at", "id"]

[[sink]]
name = "wms-outbound"
kind = "sqlite"
warehouses = {warehouses:?}
[sink.columns]
delivery_no = "delivery_no"
line_no = "line_no"
warehouse = "wh_code"
order_nos = "order_nos"
receiver_name = "receiver"
receiver_phone = "phone"
receiver_province = "province"
receiver_city = "city"
receiver_district = "district"
receiver_address = "address"
sku = "item_code"
quantity = "qty"
title = "item_name"
created_at = "created_at"
status = "status"
[sink.sqlite]
path = {db:?}
table = "outbound"
new_value = "NEW"
cancelled_value = "CANCELLED"
shipped_values = ["SHIPPED"]
"#,
        db = legacy_dir.join(legacy::DB_FILE).display().to_string(),
    );
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .with_context(|| format!("cannot append to {}", path.display()))
}

/// A hub running in this process, with real QUIC and HTTP on loopback, and its admin key.
pub struct LocalHub {
    pub running: xt_hub::cli::Running,
    pub tenant: xt_shared::ids::TenantId,
    pub admin_key: String,
    /// The owner user `init` made, and its one-time password.
    pub owner_user: String,
    pub owner_password: String,
    pub ca_fingerprint: String,
}

impl LocalHub {
    /// `xt-hub init` then `serve`, in-process.
    pub async fn start(
        data: &Path,
        tenant: &str,
        quic: std::net::SocketAddr,
        http: std::net::SocketAddr,
    ) -> anyhow::Result<LocalHub> {
        let tenant = xt_shared::ids::TenantId::new(tenant)?;
        let made = xt_hub::cli::init_hub(data, &tenant)?;
        let running = xt_hub::cli::start(&xt_hub::cli::ServeArgs {
            data: data.to_owned(),
            quic,
            http,
            agent_cert_ttl: xt_hub::hub::AGENT_CERT_TTL_DEFAULT,
            trusted_proxies: Vec::new(),
            agent_address: None,
            // Shops bound here (the demo's simulated ones, on loopback) are polled every two
            // seconds.
            capture: xt_hub::shops::capture::CaptureArgs {
                capture_poll: Duration::from_secs(2),
                allow_private_shop_urls: true,
                ..Default::default()
            },
            log: Default::default(),
            shutdown_grace: xt_hub::supervisor::SHUTDOWN_GRACE_DEFAULT,
        })
        .await
        .context("starting the hub")?;
        Ok(LocalHub {
            running,
            tenant,
            admin_key: made.admin_key,
            owner_user: made.owner_user,
            owner_password: made.owner_password,
            ca_fingerprint: made.ca_fingerprint,
        })
    }

    /// Makes a token and enrolls a warehouse agent over QUIC, as `xt-agent enroll` does.
    pub async fn enroll_agent(
        &self,
        site: &str,
        agent_dir: &Path,
    ) -> anyhow::Result<xt_agent::identity::IdentityInfo> {
        let (token, _) = self.running.hub.create_token(
            &self.tenant,
            &xt_shared::ids::SiteId::new(site)?,
            xt_shared::protocol::AgentRole::Warehouse,
            Duration::from_secs(600),
        )?;
        Ok(xt_agent::enroll::enroll(
            &self.running.quic_addr.to_string(),
            &token,
            &self.ca_fingerprint,
            agent_dir,
        )
        .await?)
    }

    pub fn api(&self) -> Api {
        Api::new(
            &format!("http://{}", self.running.http_addr),
            &self.admin_key,
        )
    }
}
