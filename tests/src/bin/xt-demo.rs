//! The demo: a hub and a real agent talking over loopback QUIC, fed by a generated legacy WMS
//! (an SQLite inventory table for the Shanghai warehouse and GBK CSV snapshots exported by the
//! Beijing warehouse), with stock changing every few seconds; four simulated shops selling, and
//! their paid orders going through review and dispatch to three warehouses (WH-SH's WMS through
//! the agent, a simulated 3PL over Qimen, a phone-confirmed one) until they ship and the
//! platforms have the tracking numbers. Runs until Ctrl-C.

use anyhow::Context;
use clap::Parser;
use rand::Rng;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use xt_hub::cli::shutdown_signal;
use xt_tests::demo::{
    CHURN_PREFIX, CSV_WAREHOUSE, Demo, FlowOptions, PHONE_PASSWORD, PHONE_USER, PHONE_WAREHOUSE,
    SITE, SQLITE_WAREHOUSE, TENANT, TPL_WAREHOUSE, UNCODED, UNCODED_SHOP,
};

#[derive(Parser, Debug)]
#[command(
    name = "xt-demo",
    about = "Xietong demo: hub + agent + a generated legacy WMS on loopback"
)]
struct Args {
    /// Where the demo keeps its hub, agent and legacy data (default: a new temporary folder).
    #[arg(long)]
    data: Option<PathBuf>,
    /// HTTP API address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http: SocketAddr,
    /// QUIC address agents connect to.
    #[arg(long, default_value = "127.0.0.1:4433")]
    quic: SocketAddr,
    /// SKUs per warehouse.
    #[arg(long, default_value_t = 300)]
    skus: usize,
    /// Seconds between stock changes in the legacy systems.
    #[arg(long, default_value_t = 3)]
    every: u64,
    /// Orders each simulated shop (Taobao, JD, Shopify, WooCommerce) starts with.
    #[arg(long, default_value_t = 200)]
    orders: usize,
    /// New paid orders each shop gets every round.
    #[arg(long, default_value_t = 2)]
    paid: usize,
    /// Seconds WH-SH's staff take to ship a delivery order in their WMS.
    #[arg(long, default_value_t = 5)]
    wms_after: u64,
    /// Seconds the simulated 3PL takes to ship.
    #[arg(long, default_value_t = 5)]
    tpl_after: u64,
    /// Seconds before the phone warehouse's staff confirm a delivery order themselves (confirm
    /// one on the phone page before that to do it by hand).
    #[arg(long, default_value_t = 30)]
    phone_after: u64,
    /// The merge buffer in minutes (0: orders leave as soon as they are reviewed).
    #[arg(long, default_value_t = 0)]
    merge_minutes: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("XT_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let (_keep, root) = match &args.data {
        Some(d) => (None, d.clone()),
        None => {
            let t = tempfile::Builder::new().prefix("xietong-demo-").tempdir()?;
            let p = t.path().to_owned();
            (Some(t), p)
        }
    };
    let mut demo = Demo::start(&root, args.http, args.quic, args.skus)
        .await
        .context("pass --http/--quic to use other ports")?;
    let mut flow = demo
        .start_flow(FlowOptions {
            orders: args.orders,
            paid_per_round: args.paid,
            updates_per_round: 5..20,
            wms_after: Duration::from_secs(args.wms_after),
            tpl_after: Duration::from_secs(args.tpl_after),
            phone_after: Duration::from_secs(args.phone_after),
            merge_minutes: args.merge_minutes,
        })
        .await
        .context("setting up fulfilment")?;
    let hub = &demo.hub;
    let running = &hub.running;
    let api = hub.api();
    let legacy_dir = demo.wms.dir.clone();

    println!();
    println!("  Xietong demo is running (Ctrl-C to stop)");
    println!();
    println!("  web console  http://{}/", running.http_addr);
    println!(
        "  login        tenant {TENANT}, user {}, password {}",
        hub.owner_user, hub.owner_password
    );
    println!("  HTTP API     http://{}/api/v1", running.http_addr);
    println!("  admin key    {}", hub.admin_key);
    println!(
        "  agent        {} (site {SITE}) over QUIC {}",
        demo.agent_id, running.quic_addr
    );
    println!(
        "  legacy WMS   {} (SQLite, {SQLITE_WAREHOUSE}) and {} (GBK CSV, {CSV_WAREHOUSE}: stock only)",
        legacy_dir.join("wms.db").display(),
        demo.drop_dir.display()
    );
    for (key, id, platform) in &flow.shops.shops {
        println!(
            "  shop         {id} ({platform}) on the platform simulator at {}",
            flow.shops.sim.base_url(key)
        );
    }
    println!();
    println!("  fulfilment   {}", flow.board_url);
    println!(
        "    paid orders are reviewed, dispatched and shipped by themselves, then the tracking"
    );
    println!("    number goes back to the shop:");
    println!(
        "    {SQLITE_WAREHOUSE}  own WMS through the agent (table outbound), covers 上海 浙江 江苏 安徽; its staff ship after {} s",
        args.wms_after
    );
    println!(
        "    {TPL_WAREHOUSE} a simulated 3PL over Qimen, covers 北京 天津 河北 山西 内蒙古; ships after {} s",
        args.tpl_after
    );
    println!(
        "    {PHONE_WAREHOUSE}  no WMS, confirmed on a phone, ships everywhere else; its staff confirm after {} s",
        args.phone_after
    );
    println!("  phone page   {}", flow.phone_url);
    println!(
        "    sign in as tenant {TENANT}, user {PHONE_USER}, password {PHONE_PASSWORD} (a phone-size window) and confirm one yourself"
    );
    println!(
        "  review queue the {UNCODED_SHOP} shop lists {} without a merchant code: their orders wait with the",
        UNCODED.join(" and ")
    );
    println!(
        "    unmapped-SKU exception (so do orders with a buyer memo, cash on delivery or an incomplete address)"
    );
    println!("  data         {}", root.display());
    println!();
    println!("  try:");
    println!(
        "    curl -s -H 'Authorization: Bearer {}' http://{}/api/v1/agents",
        hub.admin_key, running.http_addr
    );
    println!(
        "    curl -s -H 'Authorization: Bearer {}' 'http://{}/api/v1/stock?warehouse={CSV_WAREHOUSE}&limit=5'",
        hub.admin_key, running.http_addr
    );
    println!(
        "    curl -s -H 'Authorization: Bearer {}' 'http://{}/api/v1/orders?limit=5'",
        hub.admin_key, running.http_addr
    );
    println!(
        "    curl -s -H 'Authorization: Bearer {}' http://{}/api/v1/fulfilment/board",
        hub.admin_key, running.http_addr
    );
    println!(
        "    curl -s -H 'Authorization: Bearer {}' 'http://{}/api/v1/deliveries?state=shipped&limit=5'",
        hub.admin_key, running.http_addr
    );
    println!(
        "    XT_HUB_URL=http://{} XT_KEY={} cargo run -q -p xt-hub -- agents list",
        running.http_addr, hub.admin_key
    );
    println!();

    // Stock keeps changing in both legacy systems, the shops keep selling and the warehouses
    // keep shipping until Ctrl-C.
    let every = args.every.max(1);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut snapshot = 1u64;
    let mut second = 0u64;
    let changer = async {
        loop {
            tick.tick().await;
            flow.ship_due(&mut demo)?;
            second += 1;
            if !second.is_multiple_of(every) {
                continue;
            }
            let n = rand::rng().random_range(5..30);
            demo.wms.change_random_with_prefix(n, CHURN_PREFIX)?;
            for _ in 0..rand::rng().random_range(5..20) {
                let i = rand::rng().random_range(0..demo.bj.len());
                demo.bj[i] = rand::rng().random_range(0..500);
            }
            demo.write_snapshot(snapshot)?;
            // The platforms keep selling, paying, cancelling and refunding.
            flow.sell().await;
            let orders: u64 = flow
                .shops
                .shops
                .iter()
                .filter_map(|(_, id, _)| {
                    demo.hub
                        .running
                        .hub
                        .store()
                        .capture_state(&demo.hub.tenant, id)
                        .ok()
                })
                .map(|c| c.orders)
                .sum();
            println!("  orders captured from the four simulated shops: {orders}");
            if let Ok(agents) = api.agents().await {
                let line: Vec<String> = agents
                    .iter()
                    .flat_map(|a| a.sources.iter())
                    .map(|s| {
                        format!(
                            "{} applied {} backlog {}",
                            s.source, s.records_applied, s.backlog
                        )
                    })
                    .collect();
                println!(
                    "  changed {n} rows in {SQLITE_WAREHOUSE}, wrote snapshot {snapshot} for {CSV_WAREHOUSE}; {}",
                    line.join(", ")
                );
            }
            match flow.status().await {
                Ok(status) => {
                    for line in status.lines() {
                        println!("  {line}");
                    }
                }
                Err(e) => println!("  fulfilment status unavailable: {e:#}"),
            }
            println!();
            snapshot += 1;
        }
        #[allow(unreachable_code)]
        anyhow::Ok(())
    };
    tokio::select! {
        r = changer => r?,
        _ = shutdown_signal() => {}
    }
    println!("stopping");
    // The hub first, while the simulator still answers its last calls.
    demo.stop().await;
    flow.stop().await;
    Ok(())
}
