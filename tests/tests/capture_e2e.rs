//! Order capture end to end: a real hub (in-process, real HTTP on loopback, redb in a temp dir)
//! binds one shop per platform on the platform simulator, with every fault knob on (429s with
//! Retry-After, 5xx, slow answers, pages repeating rows, late updates, a few malformed orders,
//! duplicate / reordered / dropped / forged webhooks), while the simulator keeps updating its
//! orders (paid → cancelled, refunds, shipping). The hub is restarted mid-capture. In the end
//! the hub holds exactly the simulator's orders: the same order numbers (no duplicates, none
//! missing), each with the status and paid amount the platform's own payload says, every
//! refund, and each malformed order as a capture error with its reason.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;
use xt_hub::cli::{Running, ServeArgs};
use xt_hub::shops::channels::parse_order;
use xt_hub::store::OrderFilter;
use xt_platform_sim::{Faults, ShopSpec, SimConfig};
use xt_shared::ids::TenantId;
use xt_shared::order::Platform;

const ORDERS_PER_SHOP: usize = 2_500;
const UPDATE_ROUNDS: usize = 40;
const UPDATES_PER_ROUND: usize = 25;

fn serve_args(data: &std::path::Path, http: SocketAddr, quic: SocketAddr) -> ServeArgs {
    ServeArgs {
        data: data.to_owned(),
        quic,
        http,
        agent_cert_ttl: xt_hub::hub::AGENT_CERT_TTL_DEFAULT,
        trusted_proxies: Vec::new(),
        agent_address: None,
        capture: xt_hub::shops::capture::CaptureArgs {
            capture_poll: Duration::from_millis(300),
            // Longer than the simulator's late updates (30 s), which only the settle reads
            // catch: the fresh reads reach back one poll interval.
            capture_overlap: Duration::from_secs(40),
            capture_lookback: Duration::from_secs(3 * 3600),
            // The simulator is on loopback.
            allow_private_shop_urls: true,
            allow_shop_cidrs: Vec::new(),
        },
        log: Default::default(),
        shutdown_grace: xt_hub::supervisor::SHUTDOWN_GRACE_DEFAULT,
    }
}

async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    key: &str,
    body: Value,
) -> Value {
    let r = http
        .request(method, url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

/// (status, paid minor units) per order number.
type Book = BTreeMap<String, (String, i64)>;

fn expected(platform: Platform, truth: &xt_platform_sim::Truth) -> Book {
    truth
        .orders
        .iter()
        .map(|o| {
            let parsed = parse_order(platform, &o.raw)
                .unwrap_or_else(|e| panic!("truth order {} does not parse: {e}", o.order_no));
            (
                o.order_no.clone(),
                (format!("{:?}", parsed.status), parsed.amounts.paid.minor),
            )
        })
        .collect()
}

fn hub_book(running: &Running, tenant: &TenantId, shop: &str) -> Book {
    let filter = OrderFilter {
        shop: Some(shop.to_owned()),
        ..OrderFilter::default()
    };
    running
        .hub
        .store()
        .orders_page(tenant, &filter, None, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.order.platform_order_no.to_string(),
                (format!("{:?}", r.order.status), r.order.amounts.paid.minor),
            )
        })
        .collect()
}

/// Starts the hub on the given addresses, retrying while the previous run's last blocking
/// write still holds the database (a restart, not a timing assertion).
async fn start(args: &ServeArgs) -> Running {
    let mut last = None;
    for _ in 0..100 {
        match xt_hub::cli::start(args).await {
            Ok(r) => return r,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("hub did not restart: {:?}", last.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_orders_with_every_fault_and_a_restart_end_exactly_as_the_platforms_say() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let made = xt_hub::cli::init_hub(dir.path(), &tenant).unwrap();
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut running = start(&serve_args(dir.path(), loopback, loopback)).await;
    let (http_addr, quic_addr) = (running.http_addr, running.quic_addr);
    let base = format!("http://{http_addr}");
    let http = reqwest::Client::new();

    // Bind the shops first (disabled: the simulator's address is not known yet), so the
    // simulator can be told where each shop's webhooks go.
    let mut specs = vec![
        ShopSpec::new("tb-1", Platform::Taobao, ORDERS_PER_SHOP),
        ShopSpec::new("jd-1", Platform::Jd, ORDERS_PER_SHOP),
        ShopSpec::new("shopify-1", Platform::Shopify, ORDERS_PER_SHOP),
        ShopSpec::new("woo-1", Platform::Woocommerce, ORDERS_PER_SHOP),
    ];
    let mut shop_ids = Vec::new();
    for spec in &mut specs {
        let shop = call(
            &http,
            reqwest::Method::POST,
            &format!("{base}/api/v1/shops"),
            &made.admin_key,
            json!({"platform": spec.platform, "name": spec.key, "enabled": false,
                "api_base_url": "http://127.0.0.1:9", "credentials": xt_tests::demo::shop_credentials(spec)}),
        )
        .await;
        let id = shop["id"].as_str().unwrap().to_owned();
        spec.faults = Faults::all();
        // Capture pages Taobao, JD and WooCommerce by narrowing the window (keyset), so only
        // Shopify's `page_info` pages can repeat rows: make that frequent enough to happen.
        spec.faults.repeat_rows = 0.5;
        if matches!(spec.platform, Platform::Shopify | Platform::Woocommerce) {
            spec.webhook_url = Some(format!("{base}/api/v1/webhooks/{}/{id}", spec.platform));
        }
        shop_ids.push(id);
    }
    let sim = xt_platform_sim::start(
        SimConfig {
            seed: 20261126,
            history: Duration::from_secs(2 * 3600),
            shops: specs.clone(),
        },
        loopback,
    )
    .await
    .unwrap();
    for (spec, id) in specs.iter().zip(&shop_ids) {
        call(
            &http,
            reqwest::Method::PATCH,
            &format!("{base}/api/v1/shops/{id}"),
            &made.admin_key,
            // A new URL needs the credentials again.
            json!({"api_base_url": sim.base_url(&spec.key), "enabled": true,
                "credentials": xt_tests::demo::shop_credentials(spec)}),
        )
        .await;
    }

    // The platforms keep changing orders while the hub captures; halfway the hub restarts.
    for round in 0..UPDATE_ROUNDS {
        sim.update_round(UPDATES_PER_ROUND).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        if round == UPDATE_ROUNDS / 2 {
            running.shutdown().await;
            running = start(&serve_args(dir.path(), http_addr, quic_addr)).await;
        }
    }

    // Wait (bounded, as a safety net) for every shop to match the simulator's truth.
    let want: Vec<Book> = specs
        .iter()
        .map(|s| expected(s.platform, &sim.truth(&s.key)))
        .collect();
    let mut matched = false;
    for _ in 0..600 {
        matched = specs
            .iter()
            .zip(&shop_ids)
            .zip(&want)
            .all(|((_, id), want)| hub_book(&running, &tenant, id) == *want);
        if matched {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut total = 0;
    for ((spec, id), want) in specs.iter().zip(&shop_ids).zip(&want) {
        let got = hub_book(&running, &tenant, id);
        let missing: Vec<_> = want
            .keys()
            .filter(|k| !got.contains_key(*k))
            .take(5)
            .collect();
        let extra: Vec<_> = got
            .keys()
            .filter(|k| !want.contains_key(*k))
            .take(5)
            .collect();
        let differ: Vec<_> = want
            .iter()
            .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
            .take(5)
            .map(|(k, v)| (k, v, &got[k]))
            .collect();
        assert!(
            matched,
            "{}: {} orders held, {} in the simulator; missing {missing:?}, extra {extra:?}, \
             differing (order, want, got) {differ:?}",
            spec.key,
            got.len(),
            want.len()
        );
        let state = running.hub.store().capture_state(&tenant, id).unwrap();
        assert_eq!(
            state.orders as usize,
            want.len(),
            "{}: distinct orders",
            spec.key
        );
        total += want.len();

        // Every malformed order is a capture error with its raw payload and reason.
        let truth = sim.truth(&spec.key);
        let errors = running
            .hub
            .store()
            .capture_errors(&tenant, id, 1000)
            .unwrap();
        for no in &truth.malformed {
            assert!(
                errors
                    .iter()
                    .any(|e| e.raw.contains(no.as_str()) && !e.reason.is_empty()),
                "{}: malformed order {no} is not a capture error",
                spec.key
            );
        }
        // Every refund the platform reports is held beside its order.
        for r in &truth.refunds {
            let refunds = running
                .hub
                .store()
                .order_refunds(&tenant, id, &r.order_no)
                .unwrap();
            assert!(
                refunds
                    .iter()
                    .any(|h| h.refund.refund_id.as_str() == r.refund_id),
                "{}: refund {} of order {} missing",
                spec.key,
                r.refund_id,
                r.order_no
            );
        }
        // The shop's health shows a successful poll.
        let shop = running.hub.store().shop(&tenant, id).unwrap().unwrap();
        assert!(
            shop.health.last_poll_ok_at.is_some(),
            "{}: {:?}",
            spec.key,
            shop.health
        );
    }
    assert!(
        total >= 4 * (ORDERS_PER_SHOP - Faults::all().malformed),
        "{total}"
    );

    // The faults really happened.
    let stats = sim.stats();
    assert!(stats.rate_limited > 0, "{stats:?}");
    assert!(stats.server_errors > 0, "{stats:?}");
    assert!(stats.repeated_rows > 0, "{stats:?}");
    assert!(stats.late_updates > 0, "{stats:?}");
    assert!(stats.webhooks_duplicated > 0, "{stats:?}");
    assert!(stats.updates > 0, "{stats:?}");
    running.shutdown().await;
    sim.shutdown().await;
}

/// Waits (bounded, as a safety net) until `done`.
async fn wait(what: &str, done: impl Fn() -> bool) {
    for _ in 0..600 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_fetches_older_orders_and_an_expired_session_shows_in_the_shops_health() {
    let dir = tempfile::tempdir().unwrap();
    let tenant = TenantId::new("acme").unwrap();
    let made = xt_hub::cli::init_hub(dir.path(), &tenant).unwrap();
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut args = serve_args(dir.path(), loopback, loopback);
    // The first poll reaches one hour back; the simulator's orders spread over three days.
    args.capture.capture_lookback = Duration::from_secs(3600);
    let running = start(&args).await;
    let base = format!("http://{}", running.http_addr);
    let http = reqwest::Client::new();
    let specs = vec![
        ShopSpec::new("jd-old", Platform::Jd, 300),
        ShopSpec::new("tb-expired", Platform::Taobao, 10),
    ];
    let sim = xt_platform_sim::start(
        SimConfig {
            seed: 7,
            history: Duration::from_secs(3 * 86_400),
            shops: specs.clone(),
        },
        loopback,
    )
    .await
    .unwrap();
    let mut ids = Vec::new();
    for spec in &specs {
        let mut creds = xt_tests::demo::shop_credentials(spec);
        if spec.key == "tb-expired" {
            creds["session"] = json!("a-session-the-platform-expired");
        }
        let shop = call(
            &http,
            reqwest::Method::POST,
            &format!("{base}/api/v1/shops"),
            &made.admin_key,
            json!({"platform": spec.platform, "name": spec.key,
                "api_base_url": sim.base_url(&spec.key), "credentials": creds}),
        )
        .await;
        ids.push(shop["id"].as_str().unwrap().to_owned());
    }
    let (jd, tb) = (&ids[0], &ids[1]);
    let want = expected(Platform::Jd, &sim.truth("jd-old"));
    // The first polls: only the last hour's orders, and the cursor is durable.
    wait("the first poll", || {
        running
            .hub
            .store()
            .capture_state(&tenant, jd)
            .unwrap()
            .orders_cursor
            .is_some()
    })
    .await;
    let recent = hub_book(&running, &tenant, jd).len();
    assert!(
        recent < want.len(),
        "{recent} of {} before the backfill",
        want.len()
    );

    let r = http
        .post(format!("{base}/api/v1/shops/{jd}/backfill"))
        .bearer_auth(&made.admin_key)
        .json(&json!({"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        reqwest::StatusCode::BAD_REQUEST,
        "a backfill longer than the platforms keep orders: {}",
        r.text().await.unwrap()
    );
    let now = time::OffsetDateTime::now_utc();
    let from = (now - time::Duration::days(4))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let to = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let r = http
        .post(format!("{base}/api/v1/shops/{jd}/backfill"))
        .bearer_auth(&made.admin_key)
        .json(&json!({"from": from, "to": to}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    wait("the backfill", || hub_book(&running, &tenant, jd) == want).await;
    wait("the backfill's end", || {
        running
            .hub
            .store()
            .capture_state(&tenant, jd)
            .unwrap()
            .backfill
            .is_none()
    })
    .await;

    // The Taobao shop's session is refused: its health says so and nothing is captured.
    wait("the expired session in the health", || {
        let shop = running.hub.store().shop(&tenant, tb).unwrap().unwrap();
        shop.health.token_expires_at.is_some()
    })
    .await;
    let shop = running.hub.store().shop(&tenant, tb).unwrap().unwrap();
    let error = shop.health.last_error.clone().unwrap();
    assert!(error.contains("expired"), "{error}");
    assert!(!error.contains("a-session-the-platform-expired"), "{error}");
    assert!(shop.health.error_count.unwrap() >= 1);
    assert!(shop.health.last_poll_ok_at.is_none());
    assert!(hub_book(&running, &tenant, tb).is_empty());
    running.shutdown().await;
    sim.shutdown().await;
}
