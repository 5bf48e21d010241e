//! Webhooks from the Shopify and WooCommerce shops to a tiny receiver on 127.0.0.1, and the
//! determinism of the generator.

mod common;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use xt_hub::shops::channels::parse_order;
use xt_platform_sim::{Faults, ShopSpec, SimConfig};
use xt_shared::order::Platform;

#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

async fn receive(
    State(inbox): State<Inbox>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    inbox.lock().unwrap().push(Received {
        path: uri.path().to_owned(),
        headers,
        body: body.to_vec(),
    });
    "{\"accepted\":true}"
}

async fn receiver() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let app = Router::new()
        .route("/hook/{shop}", post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, inbox)
}

#[tokio::test]
async fn webhooks_are_signed_duplicates_reuse_the_delivery_id_and_forged_ones_fail() {
    let (url, inbox) = receiver().await;
    let faults = Faults {
        webhook_duplicate: 0.3,
        webhook_reorder: 0.2,
        webhook_drop: 0.1,
        webhook_forged: 2,
        ..Faults::none()
    };
    let shops = vec![
        ShopSpec {
            faults: faults.clone(),
            webhook_url: Some(format!("{url}/hook/shopify")),
            ..ShopSpec::new("shopify-1", Platform::Shopify, 20)
        },
        ShopSpec {
            faults,
            webhook_url: Some(format!("{url}/hook/woo")),
            ..ShopSpec::new("woo-1", Platform::Woocommerce, 20)
        },
        // No webhooks for TOP; its updates must not produce any.
        ShopSpec::new("tb-1", Platform::Taobao, 20),
    ];
    let config = SimConfig {
        seed: 21,
        history: Duration::from_secs(3600),
        shops: shops.clone(),
    };
    let sim = xt_platform_sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    sim.update_round(60).await;
    let stats = sim.stats();
    let received = inbox.lock().unwrap().clone();
    assert_eq!(received.len() as u64, stats.webhooks_sent, "{stats:?}");
    assert_eq!(stats.webhooks_failed, 0);

    let mut forged = 0;
    let mut ids: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for r in &received {
        let (spec, platform, sig_header, id_header) = if r.path.ends_with("shopify") {
            (
                &shops[0],
                Platform::Shopify,
                "x-shopify-hmac-sha256",
                "x-shopify-webhook-id",
            )
        } else {
            (
                &shops[1],
                Platform::Woocommerce,
                "x-wc-webhook-signature",
                "x-wc-webhook-delivery-id",
            )
        };
        let secret = &spec.credentials[2];
        if !common::verify_webhook(secret, &r.body, &r.headers[sig_header]) {
            forged += 1;
            continue;
        }
        let raw: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        parse_order(platform, &raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
        ids.entry(r.headers[id_header].clone())
            .or_default()
            .push(r.body.clone());
        if platform == Platform::Shopify {
            assert_eq!(r.headers["x-shopify-shop-domain"], spec.credentials[0]);
            assert_eq!(r.headers["x-shopify-api-version"], "2024-07");
            assert!(r.headers["x-shopify-topic"].starts_with("orders/"));
        } else {
            assert!(r.headers["x-wc-webhook-topic"].starts_with("order."));
            assert!(r.headers.contains_key("x-wc-webhook-source"));
            assert!(r.headers.contains_key("x-wc-webhook-id"));
        }
        assert_eq!(r.headers["content-type"], "application/json");
    }
    assert_eq!(forged, 4, "two forged per shop");
    assert_eq!(stats.webhooks_forged, 4);
    // A duplicate is the same delivery again: same id, same body.
    let duplicated: u64 = ids
        .values()
        .map(|bodies| {
            assert!(bodies.windows(2).all(|w| w[0] == w[1]));
            bodies.len() as u64 - 1
        })
        .sum();
    assert!(duplicated > 0, "{stats:?}");
    assert_eq!(duplicated, stats.webhooks_duplicated);
    assert!(
        stats.webhooks_dropped > 0 && stats.webhooks_reordered > 0,
        "{stats:?}"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn the_same_seed_yields_the_same_truth() {
    let shops = vec![
        ShopSpec {
            faults: Faults::all(),
            ..ShopSpec::new("tb-1", Platform::Taobao, 30)
        },
        ShopSpec::new("jd-1", Platform::Jd, 30),
        ShopSpec::new("shopify-1", Platform::Shopify, 30),
        ShopSpec::new("woo-1", Platform::Woocommerce, 30),
    ];
    let now = time::OffsetDateTime::now_utc();
    let start = |seed: u64| {
        let config = SimConfig {
            seed,
            history: Duration::from_secs(86_400),
            shops: shops.clone(),
        };
        xt_platform_sim::start_at(config, "127.0.0.1:0".parse().unwrap(), now)
    };
    let a = start(5).await.unwrap();
    let b = start(5).await.unwrap();
    let c = start(6).await.unwrap();
    for spec in &shops {
        assert_eq!(a.truth(&spec.key), b.truth(&spec.key), "{}", spec.key);
        assert_ne!(a.truth(&spec.key), c.truth(&spec.key), "{}", spec.key);
    }
    a.shutdown().await;
    b.shutdown().await;
    c.shutdown().await;
}
