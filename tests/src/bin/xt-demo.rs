//! The demo: a hub and a real agent talking over loopback QUIC, fed by a generated legacy WMS
//! (an SQLite inventory table for the Shanghai warehouse and GBK CSV snapshots exported by the
//! Beijing warehouse), with stock changing every few seconds. Runs until Ctrl-C.

use anyhow::Context;
use clap::Parser;
use rand::Rng;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use xt_hub::cli::shutdown_signal;
use xt_tests::demo::{CSV_WAREHOUSE, Demo, SITE, SQLITE_WAREHOUSE, TENANT};

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
    let shops = xt_tests::demo::bind_simulated_shops(&demo.hub, args.orders)
        .await
        .context("binding the simulated shops")?;
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
        "  legacy WMS   {} (SQLite, {SQLITE_WAREHOUSE}) and {} (GBK CSV, {CSV_WAREHOUSE})",
        legacy_dir.join("wms.db").display(),
        demo.drop_dir.display()
    );
    for (key, id, platform) in &shops.shops {
        println!(
            "  shop         {id} ({platform}) on the platform simulator at {}",
            shops.sim.base_url(key)
        );
    }
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
        "    XT_HUB_URL=http://{} XT_KEY={} cargo run -q -p xt-hub -- agents list",
        running.http_addr, hub.admin_key
    );
    println!();

    // Stock keeps changing in both legacy systems until Ctrl-C.
    let mut tick = tokio::time::interval(Duration::from_secs(args.every.max(1)));
    tick.tick().await;
    let mut snapshot = 1u64;
    let changer = async {
        loop {
            tick.tick().await;
            let n = rand::rng().random_range(5..30);
            demo.wms.change_random(n)?;
            for _ in 0..rand::rng().random_range(5..20) {
                let i = rand::rng().random_range(0..demo.bj.len());
                demo.bj[i] = rand::rng().random_range(0..500);
            }
            demo.write_snapshot(snapshot)?;
            // The platforms keep selling, paying, cancelling and refunding.
            shops
                .sim
                .update_round(rand::rng().random_range(5..20))
                .await;
            let orders: u64 = shops
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
    demo.stop().await;
    Ok(())
}
