//! A loopback stand-in for the sales platforms' order APIs: Taobao/Tmall TOP, JD POP, Shopify
//! Admin REST and WooCommerce REST, served from one seeded generator in the platforms' own
//! formats, so the hub's capture clients can be tested end to end without the real platforms.
//!
//! The wire contract (paths, parameters, signatures, envelopes, pagination, errors, webhooks and
//! the `/_sim/*` control API) is `channels-wire.md`; the order objects are exactly what
//! `xt_hub::shops::channels::parse_order` reads. Each platform also takes the hub's tracking
//! write-back (Taobao `logistics.offline.send`, JD `order.shipment`, Shopify fulfillments,
//! WooCommerce order updates), ships the order in its truth and records the call
//! ([`SimHandle::writebacks`], `GET /_sim/writebacks`).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use xt_platform_sim::{Faults, ShopSpec, SimConfig};
//! use xt_shared::order::Platform;
//!
//! let config = SimConfig {
//!     seed: 7,
//!     history: Duration::from_secs(3600),
//!     shops: vec![ShopSpec::new("tb-1", Platform::Taobao, 50)],
//! };
//! let sim = xt_platform_sim::start(config, "127.0.0.1:0".parse()?).await?;
//! println!("taobao at {}", sim.base_url("tb-1"));
//! sim.update_round(10).await;
//! let truth = sim.truth("tb-1");
//! assert!(!truth.orders.is_empty());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Generation and faults are decided by one seeded RNG: the same seed and start time give the
//! same orders. Faults never block progress: after [`STREAK_MAX`] failed requests in a row a
//! shop serves the next one.

#![recursion_limit = "256"]
// The request checks return the platform's own error answer as `Err(Response)`; boxing every one
// would buy nothing in a test stand-in.
#![allow(clippy::result_large_err)]

mod catalog;
mod clock;
mod faults;
mod generate;
mod jd;
mod model;
pub mod qimen;
mod server;
mod shopify;
pub mod sign;
mod state;
mod taobao;
mod updates;
mod webhooks;
mod woo;
mod writeback;

pub use faults::{Faults, RefundsBroken};
pub use qimen::{ShipItem, ShipPackage, ShipRequest, ThreePlLog, ThreePlSpec};
pub use state::{Stats, Truth, TruthOrder, TruthRefund};
pub use writeback::{Outcome, WriteBack};

use anyhow::Context;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use xt_shared::order::Platform;

/// Failed requests in a row (rate limit or server error) after which a shop serves the next
/// request whatever the dice say, so a retrying client always makes progress.
pub const STREAK_MAX: u32 = 3;

/// What to simulate: the seed and the shops.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds every random decision (orders, updates, faults).
    pub seed: u64,
    /// The generated orders' created/modified times spread over `[now - history, now]` at start.
    pub history: Duration,
    pub shops: Vec<ShopSpec>,
}

/// One shop of one platform, served under `/{key}`.
#[derive(Debug, Clone)]
pub struct ShopSpec {
    /// The path prefix, e.g. `tb-1`.
    pub key: String,
    pub platform: Platform,
    /// The public id first, then the secrets, in `channels-wire.md` order: taobao/tmall
    /// `app_key, app_secret, session`; jd `app_key, app_secret, access_token`; shopify
    /// `shop_domain, access_token, webhook_secret`; woocommerce `consumer_key,
    /// consumer_secret, webhook_secret`.
    pub credentials: Vec<String>,
    /// Orders generated at start (malformed ones included).
    pub orders: usize,
    pub faults: Faults,
    /// Shopify/WooCommerce: where to POST webhooks on updates.
    pub webhook_url: Option<String>,
    /// Catalogue products ([`catalog`] codes) this shop lists without a merchant code, as a
    /// seller who never filled it in: their lines are served with an empty code, so the hub
    /// cannot map them. Empty by default.
    pub uncoded: Vec<String>,
}

impl ShopSpec {
    /// A shop with credentials derived from its key, no faults and no webhooks.
    pub fn new(key: &str, platform: Platform, orders: usize) -> ShopSpec {
        let credentials = match platform {
            Platform::Taobao | Platform::Tmall => vec![
                format!("{key}-app-key"),
                format!("{key}-app-secret"),
                format!("{key}-session"),
            ],
            Platform::Jd => vec![
                format!("{key}-app-key"),
                format!("{key}-app-secret"),
                format!("{key}-access-token"),
            ],
            Platform::Shopify => vec![
                format!("{key}.myshopify.com"),
                format!("shpat_{}", key.replace('-', "")),
                format!("{key}-webhook-secret"),
            ],
            Platform::Woocommerce => vec![
                format!("ck_{}", key.replace('-', "")),
                format!("cs_{}", key.replace('-', "")),
                format!("{key}-webhook-secret"),
            ],
        };
        ShopSpec {
            key: key.to_owned(),
            platform,
            credentials,
            orders,
            faults: Faults::none(),
            webhook_url: None,
            uncoded: Vec::new(),
        }
    }

    /// The credential at `i`, or empty when the spec has fewer.
    pub(crate) fn credential(&self, i: usize) -> &str {
        self.credentials.get(i).map(String::as_str).unwrap_or("")
    }
}

/// The products every shop sells: (merchant SKU code, Chinese title).
pub fn catalog() -> Vec<(&'static str, &'static str)> {
    catalog::CATALOG.iter().map(|p| (p.sku, p.zh)).collect()
}

/// A running simulator.
pub struct SimHandle {
    sim: Arc<state::Sim>,
    shutdown: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<()>,
}

/// Starts the simulator on `addr` (port 0 picks a free one), with "now" the current time.
pub async fn start(config: SimConfig, addr: SocketAddr) -> anyhow::Result<SimHandle> {
    start_at(config, addr, OffsetDateTime::now_utc()).await
}

/// Starts the simulator with the generated history ending at `now` (whole seconds): the same
/// seed and `now` give the same truth.
pub async fn start_at(
    config: SimConfig,
    addr: SocketAddr,
    now: OffsetDateTime,
) -> anyhow::Result<SimHandle> {
    validate(&config)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the simulator to {addr}"))?;
    let addr = listener.local_addr()?;
    let sim = Arc::new(state::Sim::new(&config, addr, now));
    let router = server::router(sim.clone());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "platform simulator stopped");
        }
    });
    Ok(SimHandle {
        sim,
        shutdown,
        server,
    })
}

fn validate(config: &SimConfig) -> anyhow::Result<()> {
    let mut keys = std::collections::HashSet::new();
    for shop in &config.shops {
        anyhow::ensure!(
            !shop.key.is_empty()
                && !shop.key.starts_with('_')
                && shop
                    .key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-'),
            "shop key {:?} is not letters, digits and dashes",
            shop.key
        );
        anyhow::ensure!(
            keys.insert(&shop.key),
            "shop key {:?} is repeated",
            shop.key
        );
        anyhow::ensure!(
            shop.credentials.len() == 3,
            "shop {:?} needs 3 credentials (public id, then 2 secrets), got {}",
            shop.key,
            shop.credentials.len()
        );
        anyhow::ensure!(
            shop.orders <= model::ORDERS_MAX,
            "shop {:?} asks for {} orders, more than {}",
            shop.key,
            shop.orders,
            model::ORDERS_MAX
        );
        shop.faults
            .validate()
            .with_context(|| format!("shop {:?}", shop.key))?;
        for code in &shop.uncoded {
            anyhow::ensure!(
                catalog::CATALOG.iter().any(|p| p.sku == code),
                "shop {:?}: uncoded {code:?} is not a catalogue code",
                shop.key
            );
        }
    }
    Ok(())
}

impl SimHandle {
    pub fn addr(&self) -> SocketAddr {
        self.sim.addr
    }

    /// `http://127.0.0.1:P/<key>`: the shop's `api_base_url`.
    pub fn base_url(&self, shop_key: &str) -> String {
        format!("http://{}/{shop_key}", self.sim.addr)
    }

    /// `n` random updates across the shops (pay, cancel, ship, complete, refunds, new orders),
    /// then the resulting webhooks, delivered before this returns.
    pub async fn update_round(&self, n: usize) {
        let now = OffsetDateTime::now_utc();
        let deliveries = self.sim.update_round(n, now);
        webhooks::deliver(&self.sim, deliveries).await;
    }

    /// Adds `n` new paid orders, ready to ship, to shop `key` (see the webhooks delivered before
    /// this returns) and returns their order numbers; empty for an unknown key.
    pub async fn add_paid_orders(&self, shop_key: &str, n: usize) -> Vec<String> {
        let Some((numbers, deliveries)) = self.sim.add_paid(shop_key, n, OffsetDateTime::now_utc())
        else {
            return Vec::new();
        };
        webhooks::deliver(&self.sim, deliveries).await;
        numbers
    }

    /// What the shop holds now; the same as `GET /_sim/truth/{key}`. Empty for an unknown key.
    pub fn truth(&self, shop_key: &str) -> Truth {
        self.sim.truth(shop_key).unwrap_or_default()
    }

    pub fn stats(&self) -> Stats {
        self.sim.stats()
    }

    /// The write-backs received (tracking sent back by the hub), oldest first; the same as
    /// `GET /_sim/writebacks`.
    pub fn writebacks(&self) -> Vec<WriteBack> {
        self.sim.writebacks(None)
    }

    pub async fn shutdown(self) {
        let _ = self.shutdown.send(());
        let _ = self.server.await;
    }
}
