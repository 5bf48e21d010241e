//! The demo shows the whole flow by itself: started as `xt-demo` starts it (small sizes, short
//! delays, free loopback ports), paid orders ship through each of its three warehouses — WH-SH's
//! legacy WMS through the agent, the simulated 3PL over Qimen, the phone warehouse — and the
//! simulated platforms receive their tracking numbers, while an order of a product listed
//! without a merchant code waits in review with the unmapped-SKU hold.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use xt_mobile_api::fulfilment::{FulfilmentState, HoldReason, WritebackState};
use xt_platform_sim::Outcome;
use xt_tests::demo::{Demo, Flow, FlowOptions, PHONE_WAREHOUSE, SQLITE_WAREHOUSE, TPL_WAREHOUSE};

/// Generous: the flow usually completes in well under a minute.
const TIMEOUT: Duration = Duration::from_secs(240);
const WAREHOUSES: [&str; 3] = [SQLITE_WAREHOUSE, TPL_WAREHOUSE, PHONE_WAREHOUSE];

fn free_addr() -> SocketAddr {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
    let t = std::net::TcpListener::bind(s.local_addr().expect("its address"));
    match t {
        Ok(t) => t.local_addr().expect("its address"),
        // The UDP port's TCP twin is taken: try another.
        Err(_) => free_addr(),
    }
}

/// What the flow has shown so far.
#[derive(Debug, Default)]
struct Seen {
    /// Warehouses with a shipped delivery order whose tracking number every platform order of
    /// it acknowledged and the simulator recorded as shipping the order.
    written_back: BTreeSet<String>,
    /// An order waiting in review with the unmapped-SKU hold: its id.
    unmapped: Option<String>,
}

impl Seen {
    fn done(&self) -> bool {
        self.written_back.len() == WAREHOUSES.len() && self.unmapped.is_some()
    }
}

async fn look(flow: &Flow, seen: &mut Seen) -> anyhow::Result<()> {
    let recorded: BTreeSet<(String, String)> = flow
        .shops
        .sim
        .writebacks()
        .into_iter()
        .filter(|w| w.outcome == Outcome::Shipped)
        .map(|w| (w.order_no, w.tracking_no))
        .collect();
    for warehouse in WAREHOUSES {
        if seen.written_back.contains(warehouse) {
            continue;
        }
        for d in flow.deliveries(warehouse, "shipped", 1000).await? {
            let acknowledged = d.packages.iter().any(|p| {
                !p.writeback.is_empty()
                    && p.writeback.iter().all(|w| {
                        let order_no = w.order_id.split_once(':').map_or("", |(_, no)| no);
                        w.state == WritebackState::Acknowledged
                            && recorded.contains(&(order_no.to_owned(), p.tracking_no.clone()))
                    })
            });
            if acknowledged {
                seen.written_back.insert(warehouse.to_owned());
                break;
            }
        }
    }
    if seen.unmapped.is_none() {
        seen.unmapped = flow
            .orders_in(FulfilmentState::UnmappedSku.as_str(), 1000)
            .await?
            .into_iter()
            .find(|o| o.holds.iter().any(|h| h.code == HoldReason::UnmappedSku))
            .map(|o| o.id);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ships_through_every_warehouse_and_holds_an_unmapped_sku() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut demo = Demo::start(dir.path(), free_addr(), free_addr(), 20).await?;
    let mut flow = demo
        .start_flow(FlowOptions {
            orders: 20,
            paid_per_round: 1,
            updates_per_round: 0..0,
            wms_after: Duration::from_millis(300),
            tpl_after: Duration::from_millis(300),
            phone_after: Duration::from_millis(300),
            merge_minutes: 0,
        })
        .await?;
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Seen::default();
    let result = loop {
        flow.ship_due(&mut demo)?;
        flow.sell().await;
        if let Err(e) = look(&flow, &mut seen).await {
            break Err(e);
        }
        if seen.done() {
            break Ok(());
        }
        if Instant::now() > deadline {
            let status = flow.status().await.map(|s| s.lines().join("\n"));
            break Err(anyhow::anyhow!(
                "after {TIMEOUT:?}: {seen:?}\n{}",
                status.unwrap_or_else(|e| format!("{e:#}"))
            ));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    demo.stop().await;
    flow.stop().await;
    result
}
