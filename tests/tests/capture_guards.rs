//! What a shop's capture refuses and what its health shows, over a real hub (in-process, redb in a
//! temp dir) and real HTTP on loopback: the platform simulator, or a small stub where a platform
//! must misbehave in one exact way.
//!
//! - A failing refund endpoint (404, no permission) leaves the orders captured, backfill
//!   included, and shows only in the refunds' health.
//! - A shop URL whose name resolves to loopback is refused when capture connects (default
//!   policy), with the reason in the shop's health; with `--allow-private-shop-urls` it works.
//! - A redirect to a refused address, or to another host, is not followed.
//! - A shop's `last_error` is a short reason: never the platform's body, a query string or a
//!   secret the platform echoed.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use xt_hub::api::HttpApi;
use xt_hub::hub::{Hub, HubSettings, now_ms};
use xt_hub::shops::capture::{CaptureArgs, Settled, poll_once, shop_channel};
use xt_hub::shops::channels::{ChannelConfig, FetchError, ShopUrlPolicy, Window, channel_for};
use xt_hub::store::OrderFilter;
use xt_hub::supervisor::CancellationToken;
use xt_mobile_api::{ShopCreate, ShopView, ShopsApi};
use xt_platform_sim::{Faults, RefundsBroken, ShopSpec, SimConfig};
use xt_shared::credentials::ShopCredentials;
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;
use xt_shared::order::Platform;

const DAY_MS: i64 = 86_400_000;

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn private_allowed() -> ShopUrlPolicy {
    ShopUrlPolicy {
        allow_private: true,
        allowed: Vec::new(),
    }
}

/// A hub over a fresh data directory with `shop_urls`, and its API.
struct TestHub {
    _dir: tempfile::TempDir,
    hub: Arc<Hub>,
    api: Arc<dyn ShopsApi>,
}

fn hub(shop_urls: ShopUrlPolicy) -> TestHub {
    let dir = tempfile::tempdir().unwrap();
    xt_hub::cli::init_hub(dir.path(), &acme()).unwrap();
    let settings = HubSettings {
        shop_urls,
        ..HubSettings::default()
    };
    let hub = Arc::new(Hub::open(dir.path(), settings).unwrap());
    let api = HttpApi::new(Arc::clone(&hub)).domains().shops;
    TestHub {
        _dir: dir,
        hub,
        api,
    }
}

impl TestHub {
    /// Binds a shop of `platform` at `url` with `credentials` (public id first); returns its id.
    fn bind(&self, platform: Platform, url: &str, credentials: &[String]) -> String {
        let spec = ShopSpec {
            credentials: credentials.to_vec(),
            ..ShopSpec::new("any", platform, 0)
        };
        let create: ShopCreate = serde_json::from_value(serde_json::json!({
            "platform": platform, "name": "shop", "api_base_url": url,
            "credentials": xt_tests::demo::shop_credentials(&spec),
        }))
        .unwrap();
        let shop = self
            .api
            .create_shop(&acme(), &create.validated().unwrap())
            .unwrap();
        shop.view.id
    }

    /// One capture poll of `shop` as its worker does it (the hub's own shop URL policy).
    async fn poll(&self, shop: &str) -> bool {
        let record = self.hub.store().shop(&acme(), shop).unwrap().unwrap();
        let config = ChannelConfig {
            shop_urls: self.hub.settings().shop_urls.clone(),
            ..ChannelConfig::for_tests()
        };
        let channel = shop_channel(&self.hub, &record, config).unwrap();
        poll_once(
            &self.hub,
            &acme(),
            shop,
            channel.as_ref(),
            &CaptureArgs::default(),
            &mut Settled::default(),
            &CancellationToken::new(),
        )
        .await
    }

    fn view(&self, shop: &str) -> ShopView {
        self.api.shop(&acme(), shop).unwrap().view
    }

    fn order_nos(&self, shop: &str) -> BTreeSet<String> {
        let filter = OrderFilter {
            shop: Some(shop.to_owned()),
            ..OrderFilter::default()
        };
        self.hub
            .store()
            .orders_page(&acme(), &filter, None, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|r| r.order.platform_order_no.to_string())
            .collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_refund_endpoint_leaves_orders_captured_and_shows_in_refund_health() {
    let broken = |key: &str, platform, how| ShopSpec {
        faults: Faults {
            refunds_broken: Some(how),
            ..Faults::none()
        },
        ..ShopSpec::new(key, platform, 40)
    };
    let specs = vec![
        broken("tb-1", Platform::Taobao, RefundsBroken::NotFound),
        broken("jd-1", Platform::Jd, RefundsBroken::NoPermission),
    ];
    let sim = xt_platform_sim::start(
        SimConfig {
            seed: 9,
            // Older than the first poll's look-back (1 day): those orders come by backfill.
            history: Duration::from_secs(3 * 86_400),
            shops: specs.clone(),
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    sim.update_round(30).await;
    let hub = hub(private_allowed());
    for spec in &specs {
        let truth = sim.truth(&spec.key);
        let id = hub.bind(spec.platform, &sim.base_url(&spec.key), &spec.credentials);
        let now = now_ms().0;
        hub.api
            .backfill(&acme(), &id, now - 4 * DAY_MS, now)
            .unwrap();

        assert!(!hub.poll(&id).await, "{}: the refunds failed", spec.key);

        let want: BTreeSet<String> = truth.orders.iter().map(|o| o.order_no.clone()).collect();
        assert_eq!(
            hub.order_nos(&id),
            want,
            "{}: every order captured",
            spec.key
        );
        let health = hub.view(&id).health;
        assert!(health.last_poll_ok_at.is_some(), "{}: {health:?}", spec.key);
        assert_eq!(health.last_error, None, "{}", spec.key);
        assert_eq!(health.refunds_last_poll_ok_at, None, "{}", spec.key);
        assert_eq!(health.refunds_error_count, Some(1), "{}", spec.key);
        let refunds_error = health.refunds_last_error.unwrap();
        let expected = match spec.platform {
            Platform::Jd => "jd error 12: No permission for this api",
            _ => "http 404",
        };
        assert!(
            refunds_error.contains(expected),
            "{}: {refunds_error}",
            spec.key
        );
        // The 404 page echoed the signed request: none of it is repeated.
        for secret in &spec.credentials[1..] {
            assert!(!refunds_error.contains(secret.as_str()), "{refunds_error}");
        }
        assert!(!refunds_error.contains("sign="), "{refunds_error}");
        let state = hub.hub.store().capture_state(&acme(), &id).unwrap();
        assert!(state.orders_cursor.is_some() && state.refunds_cursor.is_none());
        assert!(
            state.backfill.is_some(),
            "the refunds' part of the backfill is still to do"
        );
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shop_url_resolving_to_loopback_is_refused_when_capture_connects_unless_allowed() {
    let spec = ShopSpec::new("tb-1", Platform::Taobao, 10);
    let sim = xt_platform_sim::start(
        SimConfig {
            seed: 3,
            history: Duration::from_secs(3600),
            shops: vec![spec.clone()],
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let by_name = sim.base_url("tb-1").replace("127.0.0.1", "localhost");

    // Default policy: a name binds (it is checked when it resolves), then capture refuses it.
    let strict = hub(ShopUrlPolicy::default());
    let id = strict.bind(Platform::Taobao, &by_name, &spec.credentials);
    assert!(!strict.poll(&id).await);
    let health = strict.view(&id).health;
    let error = health.last_error.unwrap();
    assert!(
        error.contains("localhost resolves to") && error.contains("loopback address"),
        "{error}"
    );
    assert!(error.contains("--allow-private-shop-urls"), "{error}");
    assert!(health.refunds_last_error.unwrap().contains("loopback"));
    assert_eq!(sim.stats().requests, 0, "nothing reached the platform");
    assert!(strict.order_nos(&id).is_empty());

    // A shop an older hub bound to an IP literal: its channel is refused before any request.
    let mut old = strict.hub.store().shop(&acme(), &id).unwrap().unwrap();
    let credentials = old.open_credentials(strict.hub.master_key()).unwrap();
    old.id = "shop-0123456789abcdef".into();
    old.api_base_url = sim.base_url("tb-1");
    old.seal_credentials(strict.hub.master_key(), &credentials);
    strict.hub.store().insert_shop(&old).unwrap();
    let config = ChannelConfig {
        shop_urls: ShopUrlPolicy::default(),
        ..ChannelConfig::for_tests()
    };
    let refused = shop_channel(&strict.hub, &old, config).err().unwrap();
    assert!(
        refused
            .to_string()
            .contains("127.0.0.1 is a loopback address"),
        "{refused}"
    );

    // With --allow-private-shop-urls the same URL captures.
    let open = hub(private_allowed());
    let id = open.bind(Platform::Taobao, &by_name, &spec.credentials);
    assert!(open.poll(&id).await);
    let want: BTreeSet<String> = sim
        .truth("tb-1")
        .orders
        .iter()
        .map(|o| o.order_no.clone())
        .collect();
    assert_eq!(open.order_nos(&id), want);
    assert_eq!(open.view(&id).health.last_error, None);
    sim.shutdown().await;
}

/// Requests seen by a stub.
#[derive(Default)]
struct Hits(AtomicU64);

async fn serve(addr: &str, app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A Shopify stand-in that answers every request with an empty page, counting them.
async fn target(addr: &str) -> (SocketAddr, Arc<Hits>) {
    let hits = Arc::new(Hits::default());
    let app = Router::new()
        .fallback(|State(hits): State<Arc<Hits>>| async move {
            hits.0.fetch_add(1, Ordering::SeqCst);
            axum::Json(serde_json::json!({"orders": []}))
        })
        .with_state(Arc::clone(&hits));
    (serve(addr, app).await, hits)
}

/// A stub that redirects every request to `to` followed by the request's path and query.
async fn redirector(to: String) -> SocketAddr {
    let app = Router::new().fallback(move |uri: Uri| {
        let location = format!("{to}{uri}");
        async move { (StatusCode::FOUND, [(header::LOCATION, location)]) }
    });
    serve("127.0.0.1:0", app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_to_a_private_address_or_another_host_is_refused() {
    // The shop's own address is allowed by CIDR; the redirect targets are not.
    let policy = ShopUrlPolicy {
        allow_private: false,
        allowed: vec!["127.0.0.1/32".parse().unwrap()],
    };
    let config = || ChannelConfig {
        shop_urls: policy.clone(),
        ..ChannelConfig::for_tests()
    };
    let now = now_ms().0;
    let window = Window {
        from: UtcMillis(now - 3_600_000),
        to: UtcMillis(now),
    };
    let credentials = ShopCredentials::Shopify {
        shop_domain: "d".into(),
        access_token: "shpat_redirect_token".into(),
        webhook_secret: "whsec".into(),
    };
    let fetch = |base: String| {
        let config = config();
        let credentials = credentials.clone();
        async move {
            let channel = channel_for(Platform::Shopify, &base, &credentials, config).unwrap();
            channel.fetch_orders(&window, None).await
        }
    };

    // The target itself is reachable when named by an allowed address.
    let (v4, v4_hits) = target("127.0.0.1:0").await;
    fetch(format!("http://{v4}")).await.unwrap();
    assert_eq!(v4_hits.0.load(Ordering::SeqCst), 1);

    let (v6, v6_hits) = target("[::1]:0").await;
    let to_private = redirector(format!("http://{v6}")).await;
    let err = fetch(format!("http://{to_private}")).await.unwrap_err();
    assert!(matches!(err, FetchError::Fatal(_)), "{err:?}");
    // Refused as another host before its address is even looked at.
    assert!(
        err.to_string()
            .contains("redirects to another host are not followed"),
        "{err}"
    );
    assert_eq!(
        v6_hits.0.load(Ordering::SeqCst),
        0,
        "the redirect was followed"
    );

    let to_other_host = redirector(format!("http://localhost:{}", v4.port())).await;
    let err = fetch(format!("http://{to_other_host}")).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("redirects to another host are not followed"),
        "{err}"
    );
    assert!(!err.to_string().contains("page_info"), "{err}");
    assert_eq!(
        v4_hits.0.load(Ordering::SeqCst),
        1,
        "the redirect was followed"
    );
}

/// A long TOP session key, as the platform issues them.
const TOP_SESSION: &str = "6201f0b3c9e5d41d8cd98f00b204e9800998ecf8427e";
const SHOPIFY_TOKEN: &str = "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";
const WOO_SECRET: &str = "cs_9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281716";

/// A platform whose error answers echo what they were sent.
async fn echoing_platform() -> SocketAddr {
    let app = Router::new()
        .route(
            "/top/router/rest",
            axum::routing::post(|| async {
                axum::Json(serde_json::json!({"error_response": {
                    "code": 41, "msg": "Invalid arguments", "sub_code": "isv.invalid-parameter",
                    "sub_msg": format!("rejected http://gw.example/router/rest?session={TOP_SESSION}&sign=AB12 \
                        for session {TOP_SESSION}\u{1b}[31m\ntrace"),
                    "request_id": "r1"}}))
            }),
        )
        .route(
            "/shopify/admin/api/2024-07/orders.json",
            axum::routing::get(|| async {
                let body = serde_json::json!({
                    "errors": "[API] Invalid API key or access token (unrecognized login or wrong password)",
                    "request": {"headers": {"X-Shopify-Access-Token": SHOPIFY_TOKEN}}});
                (StatusCode::UNAUTHORIZED, axum::Json(body))
            }),
        )
        .route(
            "/woo/wp-json/wc/v3/orders",
            axum::routing::get(|| async {
                let page = format!(
                    "<html><body><h1>Fatal error</h1><pre>Basic auth ck_1:{WOO_SECRET}\n\
                     at /var/www/wp-content/plugins/woocommerce/includes/rest-api.php</pre></body></html>"
                );
                (StatusCode::INTERNAL_SERVER_ERROR, page).into_response()
            }),
        );
    serve("127.0.0.1:0", app).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_error_never_echoes_the_platforms_body_or_a_secret() {
    let addr = echoing_platform().await;
    let hub = hub(private_allowed());
    let shops = [
        (
            Platform::Taobao,
            "top",
            vec![
                "12345678".to_owned(),
                "app-secret".to_owned(),
                TOP_SESSION.to_owned(),
            ],
            "top error 41: Invalid arguments (isv.invalid-parameter: rejected http://gw.example \
             for session [redacted]",
        ),
        (
            Platform::Shopify,
            "shopify",
            vec![
                "d.myshopify.com".to_owned(),
                SHOPIFY_TOKEN.to_owned(),
                "whsec".to_owned(),
            ],
            "credentials refused: http 401: [API] Invalid API key or access token",
        ),
        (
            Platform::Woocommerce,
            "woo",
            vec!["ck_1".to_owned(), WOO_SECRET.to_owned(), "whsec".to_owned()],
            "transient: http 500",
        ),
    ];
    for (platform, path, credentials, expected) in shops {
        let id = hub.bind(platform, &format!("http://{addr}/{path}"), &credentials);
        assert!(!hub.poll(&id).await);
        let error = hub.view(&id).health.last_error.unwrap();
        assert!(error.starts_with(expected), "{platform}: {error}");
        for secret in &credentials[1..] {
            assert!(!error.contains(secret.as_str()), "{platform}: {error}");
        }
        for leak in [
            "sign=",
            "session=",
            "<html",
            "X-Shopify",
            "rest-api.php",
            "\u{1b}",
            "\n",
        ] {
            assert!(!error.contains(leak), "{platform}: {error}");
        }
        assert!(error.chars().count() <= 300, "{platform}: {error}");
    }
}

/// Taobao's `increment.get` read page by page while orders of the window ship (a write-back
/// moves an order's `modified` out of the window): every order still in it is listed. Walked
/// forward, the rows after those that left move up past the page being read and are skipped;
/// the channel walks from the last page back to the first, as TOP's docs advise.
#[tokio::test]
async fn a_tmall_window_read_while_its_orders_ship_misses_none() {
    use xt_hub::shops::channels::Captured;
    use xt_hub::shops::channels::carriers::Carrier;
    use xt_hub::shops::channels::writeback::{ShipmentWriteBack, write_back};
    use xt_shared::ids::DocNo;

    let spec = ShopSpec::new("tm-dense", Platform::Tmall, 0);
    let sim = xt_platform_sim::start(
        SimConfig {
            seed: 5,
            history: Duration::from_secs(3600),
            shops: vec![spec.clone()],
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    // 250 orders paid at once: one second of three pages.
    let sold = sim.add_paid_orders("tm-dense", 250).await;
    assert_eq!(sold.len(), 250);
    let stamped = now_ms().0;
    // What ships from here on is modified in a later second, out of the window.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let credentials = ShopCredentials::Taobao {
        app_key: spec.credentials[0].clone(),
        app_secret: spec.credentials[1].clone(),
        session: spec.credentials[2].clone(),
    };
    let config = ChannelConfig {
        shop_urls: private_allowed(),
        ..ChannelConfig::for_tests()
    };
    let channel = channel_for(
        Platform::Tmall,
        &sim.base_url("tm-dense"),
        &credentials,
        config,
    )
    .unwrap();
    let window = Window {
        from: UtcMillis(stamped - 2_000),
        to: UtcMillis(stamped),
    };
    let order_nos = |items: &[Captured]| -> Vec<String> {
        items
            .iter()
            .filter_map(|c| match c {
                Captured::Order { order, .. } => Some(order.platform_order_no.to_string()),
                _ => None,
            })
            .collect()
    };
    let first = channel.fetch_orders(&window, None).await.unwrap();
    let mut seen: BTreeSet<String> = order_nos(&first.items).into_iter().collect();
    assert!(first.next.is_some(), "more than one page");
    // Half the first page ships while the rest of the window is read.
    let mut shipped = BTreeSet::new();
    for no in order_nos(&first.items).into_iter().take(50) {
        let shipment =
            ShipmentWriteBack::new(DocNo::new(no.as_str()).unwrap(), Carrier::Sf, "SF1", None)
                .unwrap();
        let answer = write_back(channel.as_ref(), &shipment).await;
        assert!(answer.is_acknowledged(), "{no}: {answer:?}");
        shipped.insert(no);
    }
    let mut cursor = first.next;
    let mut pages = 1;
    while let Some(c) = cursor {
        let page = channel.fetch_orders(&window, Some(&c)).await.unwrap();
        seen.extend(order_nos(&page.items));
        cursor = page.next;
        pages += 1;
        assert!(pages < 20, "the walk ends");
    }
    let missed: Vec<&String> = sold.iter().filter(|no| !seen.contains(*no)).collect();
    assert!(
        missed.is_empty(),
        "{} of {} orders never listed (shipped meanwhile: {})",
        missed.len(),
        sold.len(),
        shipped.len()
    );
    sim.shutdown().await;
}
