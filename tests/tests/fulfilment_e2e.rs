//! Fulfilment end to end, as separate processes on loopback: a real `xt-hub` and a real
//! `xt-agent` (QUIC with mutual TLS, redb files in a temp dir), the platform simulator's Tmall
//! shop, and a legacy WMS in SQLite. Paid Tmall orders are captured, reviewed, dispatched to the
//! agent's warehouse, written into the WMS's `outbound` table by the agent's sink; the test ships
//! them in the WMS the way its staff would; the agent's shipment source reports them; the hub
//! marks them shipped and writes the tracking back to Tmall. The agent and the hub are killed
//! with SIGKILL between every step (and in the middle of the stream). In the end every order has
//! exactly one delivery order in the WMS and the platform marked it shipped exactly once.

mod support;

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use support::{AgentProc, HubProc, enroll};
use xt_platform_sim::{Outcome, ShopSpec, SimConfig, SimHandle};
use xt_shared::order::Platform;
use xt_tests::legacy::LegacyWms;
use xt_tests::{append_outbound_config, wait_for, write_agent_config};

const SHOP_KEY: &str = "tm-1";
const WAREHOUSE: &str = "WH-SH";
const TPL: &str = "WH-3PL";

/// Which warehouse ships the orders.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ships {
    /// The merchant's own WMS, through the agent.
    Agent,
    /// The simulator's 3PL over Qimen.
    ThreePl,
}
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

struct Env {
    _tmp: tempfile::TempDir,
    hub: HubProc,
    agent: AgentProc,
    wms: LegacyWms,
    sim: SimHandle,
    shop_id: String,
    http: reqwest::Client,
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.hub.http)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.hub.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// The order's fulfilment state as the API says it (`None` before the hub has it).
    async fn state(&self, order_no: &str) -> Option<String> {
        let r = self
            .http
            .get(self.url(&format!(
                "/api/v1/fulfilment/orders/{}:{order_no}",
                self.shop_id
            )))
            .bearer_auth(&self.hub.key)
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let v: Value = r.json().await.ok()?;
        v["state"].as_str().map(str::to_owned)
    }

    /// Waits until every order in `orders` is in `state`.
    async fn wait_state(&self, orders: &[String], state: &str) -> anyhow::Result<()> {
        let what = format!("{} orders {state}", orders.len());
        wait_for(STEP_TIMEOUT, &what, || async {
            for no in orders {
                if self.state(no).await.as_deref() != Some(state) {
                    return None;
                }
            }
            Some(())
        })
        .await
        .map_err(|e| self.explain(e))
    }

    /// Delivery numbers in the WMS per order number (from the `order_nos` column).
    fn wms_deliveries(&self) -> BTreeMap<String, BTreeSet<String>> {
        let conn = rusqlite::Connection::open(self.wms.dir.join(xt_tests::legacy::DB_FILE))
            .expect("open wms");
        let mut stmt = conn
            .prepare("SELECT DISTINCT delivery_no, order_nos FROM outbound")
            .expect("query");
        let rows = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
            })
            .expect("rows");
        let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for row in rows {
            let (delivery, orders) = row.expect("row");
            for no in orders.unwrap_or_default().split(',') {
                out.entry(no.to_owned())
                    .or_default()
                    .insert(delivery.clone());
            }
        }
        out
    }

    /// Waits until the WMS holds a delivery order for every order in `orders`.
    async fn wait_in_wms(&self, orders: &[String]) -> anyhow::Result<()> {
        wait_for(STEP_TIMEOUT, "delivery orders in the WMS", || async {
            let d = self.wms_deliveries();
            orders.iter().all(|no| d.contains_key(no)).then_some(())
        })
        .await
        .map_err(|e| self.explain(e))
    }

    /// The write-backs the simulator received, per order: (shipped, repeats answered as such).
    fn writebacks(&self) -> BTreeMap<String, (usize, usize)> {
        let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for w in self.sim.writebacks() {
            let e = out.entry(w.order_no.clone()).or_default();
            match w.outcome {
                Outcome::Shipped => e.0 += 1,
                _ => e.1 += 1,
            }
        }
        out
    }

    async fn restart_hub(&mut self) -> anyhow::Result<()> {
        self.hub.kill();
        self.hub.spawn().await
    }

    fn restart_agent(&mut self) -> anyhow::Result<()> {
        self.agent.kill();
        self.agent.spawn()
    }

    /// Kill -9 both, then start both again.
    async fn kill_both(&mut self) -> anyhow::Result<()> {
        self.agent.kill();
        self.restart_hub().await?;
        self.restart_agent()
    }

    fn explain(&self, e: anyhow::Error) -> anyhow::Error {
        let tail = |log: String| {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(30)..].join("\n")
        };
        anyhow::anyhow!(
            "{e}\n--- hub log ---\n{}\n--- agent log ---\n{}",
            tail(self.hub.log()),
            tail(self.agent.log())
        )
    }
}

async fn setup(ships: Ships) -> anyhow::Result<Env> {
    let tmp = tempfile::tempdir()?;
    let hub = HubProc::start(
        &tmp.path().join("hub"),
        "acme",
        &["--capture-poll", "300ms", "--allow-private-shop-urls"],
    )
    .await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;

    // The legacy WMS holds every SKU the shop sells.
    let mut wms = LegacyWms::create(&tmp.path().join("legacy"), &[WAREHOUSE], 0)?;
    let items: Vec<(&str, &str, i64)> = xt_platform_sim::catalog()
        .into_iter()
        .map(|(sku, name)| (sku, name, 10_000))
        .collect();
    wms.put_items(WAREHOUSE, &items)?;

    let agent_dir = tmp.path().join("agent");
    let token = hub.token("sh-wh1", "warehouse").await?;
    let (code, err) = enroll(&hub.quic, &token, &hub.fingerprint, &agent_dir);
    anyhow::ensure!(code == 0, "enroll failed: {err}");
    let config = tmp.path().join("agent.toml");
    write_agent_config(&config, &agent_dir, None, &wms.dir, 1)?;
    append_outbound_config(&config, &wms.dir, &[WAREHOUSE])?;
    let mut agent = AgentProc::new(&agent_dir, &config);
    agent.spawn()?;

    let spec = ShopSpec::new(SHOP_KEY, Platform::Tmall, 0);
    let credentials = xt_tests::demo::shop_credentials(&spec);
    let sim = xt_platform_sim::start(
        SimConfig {
            seed: 11,
            history: Duration::from_secs(3600),
            shops: vec![spec],
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let mut env = Env {
        _tmp: tmp,
        hub,
        agent,
        wms,
        sim,
        shop_id: String::new(),
        http,
    };
    let shop = env
        .call(
            reqwest::Method::POST,
            "/api/v1/shops",
            Some(
                json!({"platform": "tmall", "name": "天猫旗舰店", "enabled": true,
                "api_base_url": env.sim.base_url(SHOP_KEY), "credentials": credentials}),
            ),
        )
        .await;
    env.shop_id = shop["id"].as_str().expect("shop id").to_owned();

    // The warehouse, as an admin configures it; orders ship one by one.
    let warehouse = match ships {
        Ships::Agent => {
            let agents = env.hub.api().agents().await?;
            let agent_id = agents.first().expect("the agent enrolled").id.to_string();
            json!({"code": WAREHOUSE, "name": "上海仓", "kind": "agent", "agent_id": agent_id,
                "coverage": {"provinces": [], "cities": []}, "priority": 1,
                "cost": {"minor": 800, "currency": "CNY"}})
        }
        Ships::ThreePl => {
            let mut spec = xt_platform_sim::ThreePlSpec::new(
                TPL,
                Some(env.url(&format!("/api/v1/callbacks/qimen/acme/{TPL}"))),
            );
            spec.carrier = "YTO".into();
            let r = env
                .http
                .post(format!("http://{}/_sim/3pl", env.sim.addr()))
                .json(&spec)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "3pl: {}", r.text().await?);
            json!({"code": TPL, "name": "云仓（第三方）", "kind": "qimen",
                "qimen": {"endpoint": format!("http://{}/3pl/{TPL}/qimen", env.sim.addr()),
                    "app_key": spec.app_key, "secret": spec.secret,
                    "customer_id": spec.customer_id, "owner_code": "ACME"},
                "coverage": {"provinces": [], "cities": []}, "priority": 1,
                "cost": {"minor": 600, "currency": "CNY"}})
        }
    };
    env.call(reqwest::Method::POST, "/api/v1/warehouses", Some(warehouse))
        .await;
    let mut settings = env
        .call(reqwest::Method::GET, "/api/v1/fulfilment/settings", None)
        .await;
    settings["merge"]["enabled"] = json!(false);
    // Every order is one shopper's: nothing for a person to review.
    settings["review"]["repeat_receiver"] = Value::Null;
    settings["review"]["amount_over"] = Value::Null;
    env.call(
        reqwest::Method::PUT,
        "/api/v1/fulfilment/settings",
        Some(settings),
    )
    .await;

    // The hub knows the WMS's stock before any order comes.
    let api = env.hub.api();
    let skus = items.len();
    wait_for(STEP_TIMEOUT, "the WMS's stock at the hub", || {
        let api = api.clone();
        async move {
            let stock = api.stock().await.ok()?;
            (stock.len() >= skus).then_some(())
        }
    })
    .await
    .map_err(|e| env.explain(e))?;
    Ok(env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmall_orders_reach_the_wms_and_their_tracking_reaches_tmall_exactly_once_through_kills()
-> anyhow::Result<()> {
    let mut env = setup(Ships::Agent).await?;

    // Step 1: orders are paid on Tmall; the hub captures and dispatches them.
    let first = env.sim.add_paid_orders(SHOP_KEY, 5).await;
    assert_eq!(first.len(), 5);
    wait_for(STEP_TIMEOUT, "the orders captured", || async {
        for no in &first {
            env.state(no).await?;
        }
        Some(())
    })
    .await
    .map_err(|e| env.explain(e))?;
    env.kill_both().await?;

    // Step 2: the delivery orders reach the WMS through the agent's sink.
    env.wait_in_wms(&first).await?;
    env.kill_both().await?;
    env.wait_state(&first, "sent").await?;

    // More orders arrive while the hub is killed in the middle of their stream.
    let second = env.sim.add_paid_orders(SHOP_KEY, 20).await;
    assert_eq!(second.len(), 20);
    wait_for(
        STEP_TIMEOUT,
        "a few of the second batch in the WMS",
        || async {
            let d = env.wms_deliveries();
            (second.iter().filter(|no| d.contains_key(*no)).count() >= 3).then_some(())
        },
    )
    .await
    .map_err(|e| env.explain(e))?;
    env.restart_hub().await?;
    env.wait_in_wms(&second).await?;
    let all: Vec<String> = first.iter().chain(&second).cloned().collect();
    env.wait_state(&all, "sent").await?;

    // Step 3: the WMS's staff ship them; the agent is killed right after, before it may have
    // read the shipped rows, and the hub too.
    let delivery_of: BTreeMap<String, String> = env
        .wms_deliveries()
        .into_iter()
        .map(|(no, ds)| (no, ds.into_iter().next().expect("one delivery")))
        .collect();
    for (i, delivery) in env.wms.waiting()?.into_iter().enumerate() {
        env.wms
            .ship(&delivery, "SF", &format!("SF{:010}", 7_000_000 + i))?;
    }
    env.agent.kill();
    env.restart_hub().await?;
    env.restart_agent()?;

    // Step 4: the hub learns they shipped.
    env.wait_state(&all, "shipped").await?;
    env.kill_both().await?;

    // Step 5: Tmall receives the tracking numbers.
    wait_for(STEP_TIMEOUT, "every tracking number at Tmall", || async {
        let w = env.writebacks();
        all.iter()
            .all(|no| w.get(no).is_some_and(|(shipped, _)| *shipped >= 1))
            .then_some(())
    })
    .await
    .map_err(|e| env.explain(e))?;
    env.kill_both().await?;

    // Once more through a restart, nothing is sent or written twice.
    let api = env.hub.api();
    wait_for(STEP_TIMEOUT, "the agent back", || {
        let api = api.clone();
        async move {
            let agents = api.agents().await.ok()?;
            agents.iter().any(|a| a.connected).then_some(())
        }
    })
    .await
    .map_err(|e| env.explain(e))?;
    let deliveries = env.wms_deliveries();
    let writebacks = env.writebacks();
    eprintln!(
        "{} orders, {} delivery lines in the WMS, write-backs {writebacks:?}",
        all.len(),
        env.wms.outbound()?.len()
    );
    let sim_truth = env.sim.truth(SHOP_KEY);
    for no in &all {
        let ds = deliveries.get(no).cloned().unwrap_or_default();
        assert_eq!(
            ds.len(),
            1,
            "{no}: one delivery order in the WMS, got {ds:?}"
        );
        assert_eq!(
            ds.iter().next(),
            delivery_of.get(no),
            "{no}: the same delivery"
        );
        // A write-back repeated after a kill is answered "already shipped" by Tmall.
        let (shipped, _) = writebacks.get(no).copied().unwrap_or_default();
        assert_eq!(shipped, 1, "{no}: Tmall marked it shipped once");
        let raw = &sim_truth
            .orders
            .iter()
            .find(|o| &o.order_no == no)
            .expect("in the truth")
            .raw;
        let parsed = xt_hub::shops::channels::parse_order(Platform::Tmall, raw)?;
        assert_eq!(
            format!("{:?}", parsed.status),
            "Shipped",
            "{no}: Tmall says shipped"
        );
    }
    // Every line in the WMS shipped once: quantities shipped equal the orders'.
    let lines = env.wms.outbound()?;
    assert!(lines.iter().all(|l| l.status == "SHIPPED"), "{lines:?}");
    let hub_stock = env.hub.api().stock().await?;
    let wms_stock = env.wms.stock()?;
    wait_for(STEP_TIMEOUT, "the hub's stock equal to the WMS's", || {
        let api = env.hub.api();
        let want = wms_stock.clone();
        async move { (api.stock().await.ok()? == want).then_some(()) }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}: hub {hub_stock:?}"))?;
    env.sim.shutdown().await;
    Ok(())
}

/// What the 3PL holds: delivery number → (status, creates received).
async fn tpl_orders(env: &Env) -> BTreeMap<String, (String, u32)> {
    let log: xt_platform_sim::ThreePlLog = env
        .http
        .get(format!("http://{}/_sim/3pl/{TPL}", env.sim.addr()))
        .send()
        .await
        .expect("3pl log")
        .json()
        .await
        .expect("3pl log json");
    log.orders
        .into_iter()
        .map(|o| (o.delivery_no, (o.status, o.creates)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tmall_orders_ship_through_the_3pl_and_reach_tmall_exactly_once_through_kills()
-> anyhow::Result<()> {
    let mut env = setup(Ships::ThreePl).await?;

    // Step 1: paid orders are captured and sent to the 3PL; the hub is killed in the middle
    // of sending them.
    let orders = env.sim.add_paid_orders(SHOP_KEY, 12).await;
    assert_eq!(orders.len(), 12);
    wait_for(STEP_TIMEOUT, "the first orders at the 3PL", || async {
        (!tpl_orders(&env).await.is_empty()).then_some(())
    })
    .await
    .map_err(|e| env.explain(e))?;
    env.restart_hub().await?;
    env.wait_state(&orders, "sent").await?;
    env.restart_hub().await?;

    // Step 2: the 3PL holds one delivery order per order.
    let at_3pl = tpl_orders(&env).await;
    assert_eq!(at_3pl.len(), orders.len(), "{at_3pl:?}");

    // Step 3: the 3PL ships them; its signed confirms reach the hub while it is killed.
    for delivery in at_3pl.keys() {
        let r = env
            .http
            .post(format!("http://{}/_sim/3pl/{TPL}/ship", env.sim.addr()))
            .json(&xt_platform_sim::ShipRequest {
                delivery_no: delivery.clone(),
                ..Default::default()
            })
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "ship: {}", r.text().await?);
    }
    env.hub.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    env.hub.spawn().await?;

    // Step 4: the hub learns they shipped, then Tmall receives the tracking numbers.
    env.wait_state(&orders, "shipped").await?;
    env.restart_hub().await?;
    wait_for(STEP_TIMEOUT, "every tracking number at Tmall", || async {
        let w = env.writebacks();
        orders
            .iter()
            .all(|no| w.get(no).is_some_and(|(shipped, _)| *shipped >= 1))
            .then_some(())
    })
    .await
    .map_err(|e| env.explain(e))?;
    env.restart_hub().await?;

    let writebacks = env.writebacks();
    for no in &orders {
        let (shipped, _) = writebacks.get(no).copied().unwrap_or_default();
        assert_eq!(shipped, 1, "{no}: Tmall marked it shipped once");
    }
    let at_3pl = tpl_orders(&env).await;
    assert_eq!(
        at_3pl.len(),
        orders.len(),
        "still one delivery order per order"
    );
    assert!(
        at_3pl.values().all(|(status, _)| status == "DELIVERED"),
        "{at_3pl:?}"
    );
    env.sim.shutdown().await;
    Ok(())
}
