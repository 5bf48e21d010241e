//! Fulfilment benchmark: orders paid on the simulator's Tmall shop at a sustained rate (1,000/s
//! for 60 s by default) through a real `xt-hub` process and a real `xt-agent` process (QUIC with
//! mutual TLS on loopback) into a legacy WMS's SQLite `outbound` table, shipped there as the
//! WMS's staff would, and back to Tmall as tracking numbers. Measured in the same run:
//!
//! - order applied at the hub (its `first_seen`) → its delivery line visible in the WMS table
//!   (an observer polls the table every 10 ms: up to 10 ms of the figure is the observer's);
//! - the WMS's shipment committed → Tmall receiving the tracking number (the simulator's own
//!   receipt time); the agent polls the shipped rows every 200 ms (`poll_interval_ms`);
//! - the hub's resident memory at the end (`VmRSS`), with the orders and deliveries it holds;
//! - where the time goes, stage by stage (paid on Tmall → applied at the hub → accepted by the
//!   warehouse → shipped at the hub → Tmall), from each order's own fulfilment timeline, and the
//!   p99 per 10 s of the run (a backlog building shows as a p99 that grows).
//!
//! Targets: both p99 < 1 s on this 2-core machine. The run fails if an order is missing at the
//! end (no delivery in the WMS or no tracking at Tmall) or has two delivery orders.
//!
//! `cargo bench -p xt-tests --bench fulfilment` (XT_BENCH_RATE orders/s, XT_BENCH_SECS seconds).

#[path = "../tests/support/mod.rs"]
mod support;

use rusqlite::{Connection, OpenFlags, params};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{AgentProc, HubProc, enroll};
use xt_platform_sim::{Outcome, ShopSpec, SimConfig};
use xt_shared::order::Platform;
use xt_tests::legacy::{DB_FILE, LegacyWms, local_timestamp, now_ms};
use xt_tests::{append_outbound_config, wait_for, write_agent_config};

/// The merchant's Tmall shops the orders are spread over: each shop's order listing is bounded
/// by the platform's call quota (`ChannelConfig::for_platform`), so one shop alone cannot be
/// captured at 1,000 orders/s.
const SHOPS: usize = 4;
const WAREHOUSE: &str = "WH-SH";
/// How long the path may take to drain after the last order before the run fails.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the WMS's staff ship what is waiting.
const SHIP_EVERY: Duration = Duration::from_millis(50);
/// How often the observer reads the `outbound` table.
const OBSERVE_EVERY: Duration = Duration::from_millis(10);

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// p50, p99 and max of `v` (sorted here), in ms.
fn percentiles(v: &mut [i64]) -> (i64, i64, i64) {
    if v.is_empty() {
        return (0, 0, 0);
    }
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.50), at(0.99), v[v.len() - 1])
}

/// What the WMS side saw: when each order's delivery line first appeared, and when each
/// delivery was shipped (Unix ms, this machine's clock, as the hub's).
#[derive(Default)]
struct WmsClock {
    /// order no → (delivery no, first seen).
    seen: HashMap<String, (String, i64)>,
    /// delivery no → shipped at.
    shipped: HashMap<String, i64>,
    /// delivery numbers per order (more than one is a failure).
    deliveries_of: HashMap<String, Vec<String>>,
}

/// Reads new `outbound` rows every [`OBSERVE_EVERY`] until `stop`.
fn observe(db: std::path::PathBuf, clock: Arc<Mutex<WmsClock>>, stop: Arc<AtomicBool>) {
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("wms");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy");
    let mut last_id = 0i64;
    while !stop.load(Ordering::SeqCst) {
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, delivery_no, order_nos FROM outbound WHERE id > ?1 ORDER BY id",
            )
            .expect("query");
        let rows: Vec<(i64, String, String)> = stmt
            .query_map([last_id], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get::<_, Option<String>>(2)?.unwrap_or_default(),
                ))
            })
            .and_then(|rows| rows.collect())
            .unwrap_or_default();
        let at = now_ms();
        let mut c = clock.lock().expect("clock");
        for (id, delivery, orders) in rows {
            last_id = last_id.max(id);
            for no in orders.split(',').filter(|n| !n.is_empty()) {
                c.seen
                    .entry(no.to_owned())
                    .or_insert_with(|| (delivery.clone(), at));
                let ds = c.deliveries_of.entry(no.to_owned()).or_default();
                if !ds.contains(&delivery) {
                    ds.push(delivery.clone());
                }
            }
        }
        drop(c);
        std::thread::sleep(OBSERVE_EVERY);
    }
}

/// The WMS's staff: every [`SHIP_EVERY`], every NEW delivery is shipped by SF in one
/// transaction, the inventory going down with it.
fn ship(db: std::path::PathBuf, clock: Arc<Mutex<WmsClock>>, stop: Arc<AtomicBool>) {
    let mut conn = Connection::open(&db).expect("wms");
    conn.busy_timeout(Duration::from_secs(10)).expect("busy");
    let mut n = 0u64;
    while !stop.load(Ordering::SeqCst) {
        // Immediate: a read that turns into a write mid-transaction gets SQLITE_BUSY in WAL.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .expect("tx");
        let waiting: Vec<(String, String, String, i64)> = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT delivery_no, wh_code, item_code, qty FROM outbound WHERE status = 'NEW'",
                )
                .expect("query");
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .and_then(|rows| rows.collect())
                .unwrap_or_default()
        };
        let at = now_ms();
        let stamp = local_timestamp(at);
        let mut tracking: BTreeMap<String, String> = BTreeMap::new();
        for (delivery, warehouse, sku, qty) in &waiting {
            if !tracking.contains_key(delivery) {
                n += 1;
                let t = format!("SF{:012}", n);
                tx.execute(
                    "UPDATE outbound SET status = 'SHIPPED', carrier = 'SF', tracking_no = ?2,
                     shipped_at = ?3 WHERE delivery_no = ?1 AND status = 'NEW'",
                    params![delivery, t, stamp],
                )
                .expect("ship");
                tracking.insert(delivery.clone(), t);
            }
            tx.execute(
                "UPDATE inventory SET qty = qty - ?3, updated_at = ?4 WHERE wh_code = ?1 AND item_code = ?2",
                params![warehouse, sku, qty, stamp],
            )
            .expect("inventory");
        }
        tx.commit().expect("commit");
        let done = now_ms();
        let mut c = clock.lock().expect("clock");
        for delivery in tracking.into_keys() {
            c.shipped.insert(delivery, done);
        }
        drop(c);
        std::thread::sleep(SHIP_EVERY);
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn run(rate: u64, secs: u64) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let mut hub = HubProc::start(
        &tmp.path().join("hub"),
        "bench",
        // Polled every second (Tmall's `modified` is in whole seconds: a poll reads from the
        // start of the second before, so polling more often reads most orders several times).
        // The simulator stamps an order's `modified` when it is sold, at most a few seconds
        // before it can be listed under this load, so a 10 s overlap settles every order (the
        // default, 5 min, would leave a late one for the settle read after the run).
        &[
            "--capture-poll",
            "1s",
            "--capture-overlap",
            "10s",
            "--allow-private-shop-urls",
        ],
    )
    .await?;
    let http = reqwest::Client::new();
    let (hub_http, hub_key) = (hub.http, hub.key.clone());
    let call = |method: reqwest::Method, path: &str, body: Value| {
        let req = http
            .request(method, format!("http://{hub_http}{path}"))
            .bearer_auth(&hub_key)
            .json(&body);
        let path = path.to_owned();
        async move {
            let r = req.send().await?;
            let status = r.status();
            let text = r.text().await?;
            anyhow::ensure!(status.is_success(), "{path}: {status} {text}");
            Ok::<Value, anyhow::Error>(serde_json::from_str(&text).unwrap_or(Value::Null))
        }
    };

    let mut wms = LegacyWms::create(&tmp.path().join("legacy"), &[WAREHOUSE], 0)?;
    let items: Vec<(&str, &str, i64)> = xt_platform_sim::catalog()
        .into_iter()
        .map(|(sku, name)| (sku, name, 100_000_000))
        .collect();
    wms.put_items(WAREHOUSE, &items)?;
    let agent_dir = tmp.path().join("agent");
    let token = hub.token("bench-wh", "warehouse").await?;
    let (code, err) = enroll(&hub.quic, &token, &hub.fingerprint, &agent_dir);
    anyhow::ensure!(code == 0, "enroll failed: {err}");
    let config = tmp.path().join("agent.toml");
    write_agent_config(&config, &agent_dir, None, &wms.dir, 5)?;
    append_outbound_config(&config, &wms.dir, &[WAREHOUSE])?;
    let mut agent = AgentProc::new(&agent_dir, &config);
    agent.spawn()?;

    let specs: Vec<ShopSpec> = (1..=SHOPS)
        .map(|i| ShopSpec::new(&format!("tm-{i}"), Platform::Tmall, 0))
        .collect();
    let sim = xt_platform_sim::start(
        SimConfig {
            seed: 3,
            history: Duration::from_secs(3600),
            shops: specs.clone(),
        },
        "127.0.0.1:0".parse()?,
    )
    .await?;
    let mut shop_ids = Vec::new();
    for spec in &specs {
        let shop = call(
            reqwest::Method::POST,
            "/api/v1/shops",
            json!({"platform": "tmall", "name": format!("天猫 {}", spec.key), "enabled": true,
                "api_base_url": sim.base_url(&spec.key),
                "credentials": xt_tests::demo::shop_credentials(spec)}),
        )
        .await?;
        shop_ids.push(shop["id"].as_str().unwrap_or_default().to_owned());
    }
    let agents = hub.api().agents().await?;
    let agent_id = agents.first().map(|a| a.id.to_string()).unwrap_or_default();
    call(
        reqwest::Method::POST,
        "/api/v1/warehouses",
        json!({"code": WAREHOUSE, "name": "上海仓", "kind": "agent", "agent_id": agent_id,
            "coverage": {"provinces": [], "cities": []}, "priority": 1,
            "cost": {"minor": 800, "currency": "CNY"}}),
    )
    .await?;
    let mut settings = call(
        reqwest::Method::GET,
        "/api/v1/fulfilment/settings",
        json!({}),
    )
    .await?;
    settings["merge"]["enabled"] = json!(false);
    settings["review"]["repeat_receiver"] = Value::Null;
    settings["review"]["amount_over"] = Value::Null;
    call(
        reqwest::Method::PUT,
        "/api/v1/fulfilment/settings",
        settings,
    )
    .await?;
    let api = hub.api();
    let skus = items.len();
    wait_for(
        Duration::from_secs(60),
        "the WMS's stock at the hub",
        || {
            let api = api.clone();
            async move {
                let stock = api.stock().await.ok()?;
                (stock.len() >= skus).then_some(())
            }
        },
    )
    .await?;

    let clock = Arc::new(Mutex::new(WmsClock::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let db = wms.dir.join(DB_FILE);
    let observer = {
        let (db, clock, stop) = (db.clone(), clock.clone(), stop.clone());
        std::thread::spawn(move || observe(db, clock, stop))
    };
    let shipper = {
        let (db, clock, stop) = (db.clone(), clock.clone(), stop.clone());
        std::thread::spawn(move || ship(db, clock, stop))
    };

    // The platform sells at `rate` orders/s for `secs` s, in ticks of 100 ms.
    println!("  selling {rate} orders/s for {secs} s over {SHOPS} simulated Tmall shops");
    let total = (rate * secs) as usize;
    let started = Instant::now();
    let mut orders: Vec<String> = Vec::with_capacity(total);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while orders.len() < total {
        tick.tick().await;
        let due = ((started.elapsed().as_secs_f64() * rate as f64) as usize).min(total);
        let mut i = orders.len();
        while due > orders.len() {
            let n = (due - orders.len()).div_ceil(SHOPS);
            let key = format!("tm-{}", i % SHOPS + 1);
            orders.extend(sim.add_paid_orders(&key, n.min(due - orders.len())).await);
            i += 1;
        }
    }
    let sold_in = started.elapsed();
    println!(
        "  sold {} orders in {:.1} s ({:.0}/s)",
        orders.len(),
        sold_in.as_secs_f64(),
        orders.len() as f64 / sold_in.as_secs_f64()
    );

    // Everything drains: every order has a delivery in the WMS and its tracking at Tmall.
    let drained = wait_for(DRAIN_TIMEOUT, "every order back at Tmall", || async {
        let received: std::collections::HashSet<String> = sim
            .writebacks()
            .into_iter()
            .filter(|w| w.outcome == Outcome::Shipped)
            .map(|w| w.order_no)
            .collect();
        orders.iter().all(|no| received.contains(no)).then_some(())
    })
    .await;
    let drain_secs = started.elapsed().as_secs_f64() - sold_in.as_secs_f64();
    let pid = hub.child.as_ref().map(|c| c.id()).unwrap_or(0);
    let hub_rss = rss_kb(pid);
    let agent_rss = rss_kb(agent.child.as_ref().map(|c| c.id()).unwrap_or(0));
    stop.store(true, Ordering::SeqCst);
    let _ = observer.join();
    let _ = shipper.join();
    agent.kill();
    hub.kill();
    let incomplete = drained.err().map(|e| {
        let c = clock.lock().expect("clock");
        format!(
            "{e}: {} orders seen in the WMS, {} deliveries shipped, {} write-backs at Tmall\n\
             --- hub log ---\n{}\n--- agent log ---\n{}",
            c.seen.len(),
            c.shipped.len(),
            sim.writebacks().len(),
            tail(&hub.log()),
            tail(&agent.log())
        )
    });
    // The hub's own record of when each order was applied.
    let store = xt_hub::store::Store::open(&tmp.path().join("hub").join(xt_hub::hub::DB_FILE))?;
    let tenant = xt_shared::ids::TenantId::new("bench")?;
    let mut applied: HashMap<String, i64> = HashMap::new();
    let mut stages = Stages::default();
    for shop in shop_ids {
        let filter = xt_hub::store::OrderFilter {
            shop: Some(shop.clone()),
            ..Default::default()
        };
        for o in store.orders_page(&tenant, &filter, None, usize::MAX)? {
            let no = o.order.platform_order_no.to_string();
            applied.insert(no.clone(), o.first_seen.0);
            if let Some(f) = store.fulfilment(&tenant, &shop, &no)? {
                stages.add(&no, o.first_seen.0, &f);
            }
        }
    }
    let received: HashMap<String, i64> = sim
        .writebacks()
        .into_iter()
        .filter(|w| w.outcome == Outcome::Shipped)
        .map(|w| (w.order_no, w.received_ms))
        .collect();
    let clock = std::mem::take(&mut *clock.lock().expect("clock"));
    let mut to_wms = Vec::with_capacity(orders.len());
    let mut to_platform = Vec::with_capacity(orders.len());
    let mut twice = 0;
    let mut missing = 0usize;
    for no in &orders {
        if clock.deliveries_of.get(no).is_some_and(|d| d.len() > 1) {
            twice += 1;
        }
        let (Some(applied), Some((delivery, seen))) = (applied.get(no), clock.seen.get(no)) else {
            missing += 1;
            continue;
        };
        to_wms.push(seen - applied);
        let (Some(shipped), Some(got)) = (clock.shipped.get(delivery), received.get(no)) else {
            missing += 1;
            continue;
        };
        to_platform.push(got - shipped);
    }
    anyhow::ensure!(
        twice == 0,
        "{twice} orders have two delivery orders in the WMS"
    );
    let (a50, a99, amax) = percentiles(&mut to_wms);
    let (b50, b99, bmax) = percentiles(&mut to_platform);
    println!("  waited {drain_secs:.1} s after the last sale for the rest");
    stages.print(&clock, &received);
    println!(
        "  applied at hub → row in WMS       p50 {a50:>5} ms  p99 {a99:>5} ms  max {amax:>6} ms  (target p99 < 1000)"
    );
    println!(
        "  WMS confirmation → Tmall tracking p50 {b50:>5} ms  p99 {b99:>5} ms  max {bmax:>6} ms  (target p99 < 1000)"
    );
    println!(
        "  hub RSS at the end {:.1} MiB, agent {:.1} MiB ({} orders, {} applied at the hub, one \
         delivery order each)",
        hub_rss as f64 / 1024.0,
        agent_rss as f64 / 1024.0,
        orders.len(),
        applied.len()
    );
    if let Some(why) = incomplete {
        // Which orders the hub never captured, and when Tmall last stamped them: a capture gap
        // shows as orders of the same seconds.
        let mut stamped = HashMap::new();
        for shop in 1..=SHOPS {
            let key = format!("tm-{shop}");
            for o in sim.truth(&key).orders {
                stamped.insert(o.order_no, (key.clone(), o.raw["modified"].to_string()));
            }
        }
        let never: Vec<&String> = orders
            .iter()
            .filter(|no| !applied.contains_key(*no))
            .collect();
        for no in never.iter().take(12) {
            let (shop, modified) = stamped.get(*no).cloned().unwrap_or_default();
            println!("    never captured: {no} of {shop}, modified {modified}");
        }
        anyhow::bail!(
            "{missing} orders did not go the whole way ({} never captured): {why}",
            never.len()
        );
    }
    sim.shutdown().await;
    Ok(())
}

/// Where the time goes, stage by stage, from the hub's own timeline of each order.
#[derive(Default)]
struct Stages {
    /// order no → (paid on the platform, applied at the hub, accepted by the warehouse (the
    /// `sent` state: the agent's answer, after the row is written), shipped at the hub).
    at: HashMap<String, (i64, i64, Option<i64>, Option<i64>)>,
}

impl Stages {
    fn add(&mut self, no: &str, applied: i64, f: &xt_hub::fulfilment::records::FulfilmentRecord) {
        let when = |to: &str| {
            f.timeline
                .iter()
                .find(|s| s.to.as_str() == to)
                .map(|s| s.at.0)
        };
        self.at.insert(
            no.to_owned(),
            (f.paid_at.0, applied, when("sent"), when("shipped")),
        );
    }

    fn print(&self, clock: &WmsClock, received: &HashMap<String, i64>) {
        let mut paid_applied = Vec::new();
        let mut applied_sent = Vec::new();
        let mut seen_sent = Vec::new();
        let mut wms_hub = Vec::new();
        let mut hub_tmall = Vec::new();
        // p99 of applied → WMS per 10 s of the run, by when the order was applied.
        let mut windows: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let first = self.at.values().map(|a| a.1).min().unwrap_or(0);
        for (no, &(paid, applied, sent, shipped)) in &self.at {
            paid_applied.push(applied - paid);
            let seen = clock.seen.get(no);
            if let Some(sent) = sent {
                applied_sent.push(sent - applied);
                if let Some((_, seen)) = seen {
                    seen_sent.push(sent - seen);
                }
            }
            if let Some((delivery, seen)) = seen {
                windows
                    .entry((applied - first) / 10_000)
                    .or_default()
                    .push(seen - applied);
                if let (Some(wms), Some(hub)) = (clock.shipped.get(delivery), shipped) {
                    wms_hub.push(hub - wms);
                    if let Some(got) = received.get(no) {
                        hub_tmall.push(got - hub);
                    }
                }
            }
        }
        for (name, v) in [
            ("paid on Tmall → applied at hub", &mut paid_applied),
            ("applied → accepted by the WMS", &mut applied_sent),
            ("  of which row in WMS → accepted", &mut seen_sent),
            ("shipped in WMS → shipped at hub", &mut wms_hub),
            ("shipped at hub → Tmall", &mut hub_tmall),
        ] {
            let (p50, p99, max) = percentiles(v);
            println!("    {name:<32} p50 {p50:>5} ms  p99 {p99:>5} ms  max {max:>6} ms");
        }
        let by_window: Vec<String> = windows
            .into_values()
            .enumerate()
            .map(|(i, mut v)| format!("{}s:{}", i * 10, percentiles(&mut v).1))
            .collect();
        println!("    applied → WMS p99 per 10 s: {}", by_window.join(" "));
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| !l.contains("commands answered") && !l.contains("gauges sampled"))
        .collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn main() -> anyhow::Result<()> {
    if std::env::args().any(|a| a == "--list") {
        println!("fulfilment: bench");
        return Ok(());
    }
    let rate = env_or("XT_BENCH_RATE", 1_000);
    let secs = env_or("XT_BENCH_SECS", 60);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!("fulfilment benchmark: simulator → hub → agent → SQLite WMS → hub → simulator");
    rt.block_on(run(rate, secs))
}
