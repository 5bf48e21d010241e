//! Tracking written back by the hub's own channel clients to the simulator over real HTTP on
//! 127.0.0.1: each platform records the write-back, marks the order shipped (a later capture
//! sees it), and takes a second write-back as already shipped, which the client acknowledges.

use serde_json::Value;
use std::time::Duration;
use xt_hub::shops::channels::carriers::Carrier;
use xt_hub::shops::channels::{
    Captured, Channel, ChannelConfig, ShipmentWriteBack, Window, WriteBackAnswer, channel_for,
    parse_order, write_back,
};
use xt_platform_sim::{Faults, Outcome, ShopSpec, SimConfig, SimHandle, WriteBack};
use xt_shared::credentials::ShopCredentials;
use xt_shared::ids::DocNo;
use xt_shared::model::UtcMillis;
use xt_shared::order::{OrderState, Platform};

const SHOPS: [(&str, Platform); 4] = [
    ("tb-1", Platform::Taobao),
    ("jd-1", Platform::Jd),
    ("shopify-1", Platform::Shopify),
    ("woo-1", Platform::Woocommerce),
];

async fn start(seed: u64, faults: Faults) -> SimHandle {
    let shops = SHOPS
        .iter()
        .map(|(key, platform)| ShopSpec {
            faults: faults.clone(),
            ..ShopSpec::new(key, *platform, 120)
        })
        .collect();
    let config = SimConfig {
        seed,
        history: Duration::from_secs(6 * 3600),
        shops,
    };
    xt_platform_sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn credentials(spec: &ShopSpec) -> ShopCredentials {
    let c = |i: usize| spec.credentials[i].clone();
    match spec.platform {
        Platform::Taobao | Platform::Tmall => ShopCredentials::Taobao {
            app_key: c(0),
            app_secret: c(1),
            session: c(2),
        },
        Platform::Jd => ShopCredentials::Jd {
            app_key: c(0),
            app_secret: c(1),
            access_token: c(2),
        },
        Platform::Shopify => ShopCredentials::Shopify {
            shop_domain: c(0),
            access_token: c(1),
            webhook_secret: c(2),
        },
        Platform::Woocommerce => ShopCredentials::Woocommerce {
            consumer_key: c(0),
            consumer_secret: c(1),
            webhook_secret: c(2),
        },
    }
}

fn channel(sim: &SimHandle, key: &str, platform: Platform) -> Box<dyn Channel> {
    let spec = ShopSpec::new(key, platform, 0);
    channel_for(
        platform,
        &sim.base_url(key),
        &credentials(&spec),
        ChannelConfig::for_tests(),
    )
    .unwrap()
}

/// The order's standard status and line ids, as the hub's parser reads its platform JSON.
fn parsed(platform: Platform, raw: &Value) -> (OrderState, Vec<String>) {
    let o = parse_order(platform, raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
    let lines = o.lines.iter().map(|l| l.line_id.to_string()).collect();
    (o.status, lines)
}

/// A paid, unshipped, non-COD order of the shop with at least `lines` lines: its number and
/// line ids.
/// Orders with a refund are left out (a refunded line does not ship).
fn shippable(
    sim: &SimHandle,
    key: &str,
    platform: Platform,
    lines: usize,
) -> (String, Vec<String>) {
    let truth = sim.truth(key);
    truth
        .orders
        .iter()
        .filter(|o| {
            let cod = o.raw["type"] == "cod"
                || o.raw["payType"] == "1"
                || o.raw["payment_method"] == "cod";
            let refunded = truth.refunds.iter().any(|r| r.order_no == o.order_no);
            !cod && !refunded
        })
        .map(|o| (o.order_no.clone(), parsed(platform, &o.raw)))
        .find(|(_, (status, ids))| *status == OrderState::Paid && ids.len() >= lines)
        .map(|(no, (_, ids))| (no, ids))
        .unwrap_or_else(|| panic!("{key}: no paid order of {lines} lines"))
}

fn status_now(sim: &SimHandle, key: &str, platform: Platform, order_no: &str) -> OrderState {
    let truth = sim.truth(key);
    let order = truth
        .orders
        .iter()
        .find(|o| o.order_no == order_no)
        .expect("the order is still there");
    parsed(platform, &order.raw).0
}

fn shipment(order_no: &str, tracking: &str, lines: Option<&[String]>) -> ShipmentWriteBack {
    ShipmentWriteBack::new(
        DocNo::new(order_no).unwrap(),
        Carrier::Sf,
        tracking,
        lines.map(|ls| ls.iter().map(|l| DocNo::new(l.as_str()).unwrap()).collect()),
    )
    .unwrap()
}

fn of_order<'a>(all: &'a [WriteBack], key: &str, order_no: &str) -> Vec<&'a WriteBack> {
    all.iter()
        .filter(|w| w.shop == key && w.order_no == order_no)
        .collect()
}

/// The carrier each platform was told for SF.
fn sf_on(platform: Platform) -> &'static str {
    match platform {
        Platform::Taobao | Platform::Tmall | Platform::Woocommerce => "SF",
        Platform::Jd => "467",
        Platform::Shopify => "SF Express",
    }
}

/// Whether a capture of the last minutes sees `order_no` in `want`.
async fn captured(ch: &dyn Channel, order_no: &str, want: OrderState) -> bool {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let window = Window {
        from: UtcMillis(now - 10 * 60_000),
        to: UtcMillis(now + 60_000),
    };
    let mut cursor = None;
    loop {
        let page = ch.fetch_orders(&window, cursor.as_ref()).await.unwrap();
        for item in &page.items {
            if let Captured::Order { order, .. } = item
                && order.platform_order_no.as_str() == order_no
                && order.status == want
            {
                return true;
            }
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return false,
        }
    }
}

#[tokio::test]
async fn each_platform_records_the_write_back_and_acknowledges_a_repeat() {
    let sim = start(21, Faults::none()).await;
    for (key, platform) in SHOPS {
        let ch = channel(&sim, key, platform);
        let (no, _) = shippable(&sim, key, platform, 1);
        let tracking = format!("SF{no}");
        let tracking = &tracking[..tracking.len().min(30)];
        let first = write_back(ch.as_ref(), &shipment(&no, tracking, None)).await;
        assert_eq!(first, WriteBackAnswer::Acknowledged, "{key}");

        let all = sim.writebacks();
        let got = of_order(&all, key, &no);
        assert_eq!(got.len(), 1, "{key}: {got:?}");
        assert_eq!(got[0].platform, platform);
        assert_eq!(got[0].tracking_no, tracking);
        assert_eq!(got[0].carrier, sf_on(platform), "{key}");
        assert!(got[0].lines.is_empty());
        assert_eq!(got[0].outcome, Outcome::Shipped);

        let shipped = match platform {
            Platform::Woocommerce => OrderState::Completed,
            _ => OrderState::Shipped,
        };
        assert_eq!(status_now(&sim, key, platform, &no), shipped, "{key}");
        assert!(
            captured(ch.as_ref(), &no, shipped).await,
            "{key}: a capture of the last minutes sees the order shipped"
        );

        let second = write_back(ch.as_ref(), &shipment(&no, tracking, None)).await;
        assert_eq!(second, WriteBackAnswer::AlreadyShipped, "{key}");
        assert!(second.is_acknowledged());
        let all = sim.writebacks();
        let got = of_order(&all, key, &no);
        match platform {
            // The platform answers the repeat itself.
            Platform::Taobao | Platform::Jd => {
                assert_eq!(got.len(), 2, "{key}");
                assert_eq!(got[1].outcome, Outcome::AlreadyShipped);
            }
            // The client sees it shipped before writing again.
            _ => assert_eq!(got.len(), 1, "{key}"),
        }
    }
    let seqs: Vec<u64> = sim.writebacks().iter().map(|w| w.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn partial_shipments_ship_their_lines_then_the_rest() {
    let sim = start(22, Faults::none()).await;
    for (key, platform) in SHOPS {
        let ch = channel(&sim, key, platform);
        let (no, lines) = shippable(&sim, key, platform, 2);
        let first = write_back(ch.as_ref(), &shipment(&no, "SF001", Some(&lines[..1]))).await;
        if platform == Platform::Jd {
            assert!(matches!(first, WriteBackAnswer::Permanent(_)), "{first:?}");
            assert!(
                of_order(&sim.writebacks(), key, &no).is_empty(),
                "nothing sent"
            );
            continue;
        }
        assert_eq!(first, WriteBackAnswer::Acknowledged, "{key}");
        let part = match platform {
            // WooCommerce has no partly-shipped status: still processing.
            Platform::Woocommerce => OrderState::Paid,
            _ => OrderState::PartiallyShipped,
        };
        assert_eq!(status_now(&sim, key, platform, &no), part, "{key}");
        let again = write_back(ch.as_ref(), &shipment(&no, "SF001", Some(&lines[..1]))).await;
        assert_eq!(again, WriteBackAnswer::AlreadyShipped, "{key}");

        let rest = write_back(ch.as_ref(), &shipment(&no, "SF002", None)).await;
        assert_eq!(rest, WriteBackAnswer::Acknowledged, "{key}");
        let done = match platform {
            Platform::Woocommerce => OrderState::Completed,
            _ => OrderState::Shipped,
        };
        assert_eq!(status_now(&sim, key, platform, &no), done, "{key}");
        let all = sim.writebacks();
        let shipped: Vec<&WriteBack> = of_order(&all, key, &no)
            .into_iter()
            .filter(|w| w.outcome == Outcome::Shipped)
            .collect();
        assert_eq!(shipped.len(), 2, "{key}");
        assert_eq!(shipped[0].lines, lines[..1], "{key}");
        assert_eq!(shipped[1].tracking_no, "SF002");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_are_retried_and_the_order_ships_once() {
    let faults = Faults {
        rate_limit: 0.3,
        server_error: 0.3,
        ..Faults::none()
    };
    let sim = start(23, faults).await;
    for (key, platform) in SHOPS {
        let ch = channel(&sim, key, platform);
        let (no, _) = shippable(&sim, key, platform, 1);
        let answer = write_back(ch.as_ref(), &shipment(&no, "SF777", None)).await;
        assert!(answer.is_acknowledged(), "{key}: {answer:?}");
        let all = sim.writebacks();
        let shipped = of_order(&all, key, &no)
            .into_iter()
            .filter(|w| w.outcome == Outcome::Shipped)
            .count();
        assert_eq!(shipped, 1, "{key}");
    }
    let stats = sim.stats();
    assert!(stats.rate_limited + stats.server_errors > 0, "{stats:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn refusals_are_permanent_or_unauthorized_and_listed_over_http() {
    let sim = start(24, Faults::none()).await;
    let ch = channel(&sim, "tb-1", Platform::Taobao);
    let missing = write_back(ch.as_ref(), &shipment("1", "SF1", None)).await;
    assert!(
        matches!(&missing, WriteBackAnswer::Permanent(m) if m.contains("TRADE_NOT_EXIST")),
        "{missing:?}"
    );
    let ch = channel(&sim, "woo-1", Platform::Woocommerce);
    let missing = write_back(ch.as_ref(), &shipment("1", "SF1", None)).await;
    assert!(
        matches!(&missing, WriteBackAnswer::Permanent(m) if m.contains("http 404")),
        "{missing:?}"
    );
    // A carrier the platform has no code for never reaches it.
    let ch = channel(&sim, "jd-1", Platform::Jd);
    let ups = ShipmentWriteBack::new(DocNo::new("1").unwrap(), Carrier::Ups, "1Z1", None).unwrap();
    assert_eq!(
        write_back(ch.as_ref(), &ups).await,
        WriteBackAnswer::Permanent("carrier UPS has no jd code".into())
    );

    let mut spec = ShopSpec::new("shopify-1", Platform::Shopify, 0);
    spec.credentials[1] = "shpat_wrong".into();
    let wrong = channel_for(
        Platform::Shopify,
        &sim.base_url("shopify-1"),
        &credentials(&spec),
        ChannelConfig::for_tests(),
    )
    .unwrap();
    let (no, _) = shippable(&sim, "shopify-1", Platform::Shopify, 1);
    let refused = write_back(wrong.as_ref(), &shipment(&no, "SF1", None)).await;
    assert!(
        matches!(refused, WriteBackAnswer::Unauthorized(_)),
        "{refused:?}"
    );

    let listed: Value = reqwest::get(format!("http://{}/_sim/writebacks?shop=tb-1", sim.addr()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let list: Vec<WriteBack> = serde_json::from_value(listed["writebacks"].clone()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list, sim.writebacks()[..1]);
    assert_eq!(
        list[0].outcome,
        Outcome::Refused {
            reason: "order not found".into()
        }
    );
    sim.shutdown().await;
}

/// Two write-backs of one parcel at once (a retry racing the original): both acknowledged, the
/// order shipped once. On Shopify the loser's POST is refused and the client looks again.
#[tokio::test]
async fn concurrent_write_backs_of_one_parcel_ship_it_once() {
    let sim = start(25, Faults::none()).await;
    for (key, platform) in SHOPS {
        let (a, b) = (channel(&sim, key, platform), channel(&sim, key, platform));
        let (no, _) = shippable(&sim, key, platform, 1);
        let s = shipment(&no, "SF42", None);
        let (x, y) = tokio::join!(write_back(a.as_ref(), &s), write_back(b.as_ref(), &s));
        assert!(
            x.is_acknowledged() && y.is_acknowledged(),
            "{key}: {x:?} {y:?}"
        );
        let all = sim.writebacks();
        let shipped = of_order(&all, key, &no)
            .into_iter()
            .filter(|w| w.outcome == Outcome::Shipped)
            .count();
        assert_eq!(shipped, 1, "{key}");
    }
    sim.shutdown().await;
}
