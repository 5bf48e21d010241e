//! `xt-platform-sim`: one shop per platform on loopback, a JSON line with their addresses and
//! credentials, then a round of updates every second until Ctrl-C.

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use xt_platform_sim::{Faults, ShopSpec, SimConfig};
use xt_shared::order::Platform;

/// Serves simulated Taobao, JD, Shopify and WooCommerce order APIs.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Where to listen; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Seeds orders, updates and faults.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Orders generated per shop at start.
    #[arg(long, default_value_t = 500)]
    orders: usize,
    /// The generated orders spread over this many hours before now.
    #[arg(long, default_value_t = 48)]
    history_hours: u64,
    /// Turn every fault knob on at moderate rates (see `Faults::all`).
    #[arg(long)]
    faults: bool,
    /// Updates per round (one round a second).
    #[arg(long, default_value_t = 3)]
    updates_per_round: usize,
    /// Where the Shopify shop POSTs its webhooks.
    #[arg(long)]
    webhook_url_shopify: Option<String>,
    /// Where the WooCommerce shop POSTs its webhooks.
    #[arg(long)]
    webhook_url_woo: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let faults = if args.faults {
        Faults::all()
    } else {
        Faults::none()
    };
    let shop = |key: &str, platform: Platform, webhook_url: Option<String>| ShopSpec {
        faults: faults.clone(),
        webhook_url,
        ..ShopSpec::new(key, platform, args.orders)
    };
    let shops = vec![
        shop("tb-1", Platform::Taobao, None),
        shop("jd-1", Platform::Jd, None),
        shop(
            "shopify-1",
            Platform::Shopify,
            args.webhook_url_shopify.clone(),
        ),
        shop("woo-1", Platform::Woocommerce, args.webhook_url_woo.clone()),
    ];
    let config = SimConfig {
        seed: args.seed,
        history: Duration::from_secs(args.history_hours * 3600),
        shops: shops.clone(),
    };
    let sim = xt_platform_sim::start(config, args.listen)
        .await
        .context("starting the platform simulator")?;
    let line = json!({
        "addr": sim.addr().to_string(),
        "seed": args.seed,
        "shops": shops.iter().map(|s| json!({
            "key": s.key,
            "platform": s.platform.as_str(),
            "base_url": sim.base_url(&s.key),
            "credentials": s.credentials,
        })).collect::<Vec<_>>(),
    });
    println!("{line}");
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let stop = stopped()?;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => sim.update_round(args.updates_per_round).await,
        }
    }
    sim.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM (how scripts and service managers stop it).
fn stopped() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
