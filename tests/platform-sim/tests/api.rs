//! The four order APIs over real HTTP on 127.0.0.1, read by a client written from the wire
//! contract and parsed by the hub's own parsers.

mod common;

use common::{Client, order_no};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use time::OffsetDateTime;
use xt_hub::shops::channels::parse_order;
use xt_platform_sim::{Faults, ShopSpec, SimConfig, SimHandle, Truth};
use xt_shared::order::Platform;

const HISTORY: Duration = Duration::from_secs(6 * 3600);

fn shops(orders: usize, faults: &Faults) -> Vec<ShopSpec> {
    [
        ("tb-1", Platform::Taobao),
        ("tm-1", Platform::Tmall),
        ("jd-1", Platform::Jd),
        ("shopify-1", Platform::Shopify),
        ("woo-1", Platform::Woocommerce),
    ]
    .into_iter()
    .map(|(key, platform)| ShopSpec {
        faults: faults.clone(),
        ..ShopSpec::new(key, platform, orders)
    })
    .collect()
}

async fn start(seed: u64, shops: Vec<ShopSpec>) -> SimHandle {
    let config = SimConfig {
        seed,
        history: HISTORY,
        shops,
    };
    xt_platform_sim::start(config, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// A window covering the whole history and a little after now (under a day).
fn window() -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (
        now - time::Duration::hours(7),
        now + time::Duration::minutes(5),
    )
}

/// The standard status and paid amount the hub's parser reads from `raw`.
fn parsed(platform: Platform, raw: &Value) -> (String, i64) {
    let o = parse_order(platform, raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
    (format!("{:?}", o.status), o.amounts.paid.minor)
}

/// Fetches every order of the shop and checks it against the truth; returns the fetch.
async fn check_shop(sim: &SimHandle, spec: &ShopSpec) -> common::Fetched {
    let client = Client::new(sim.base_url(&spec.key), spec.clone());
    let (start, end) = window();
    let fetched = client.orders(start, end).await;
    let truth: Truth = sim.truth(&spec.key);
    let served = fetched.by_no(spec.platform);

    let expected: BTreeSet<&str> = truth.orders.iter().map(|o| o.order_no.as_str()).collect();
    let malformed: BTreeSet<&str> = truth.malformed.iter().map(String::as_str).collect();
    let got: BTreeSet<&str> = served.keys().map(String::as_str).collect();
    let all: BTreeSet<&str> = expected.union(&malformed).copied().collect();
    assert_eq!(
        got, all,
        "{}: orders served differ from the truth",
        spec.key
    );

    for o in &truth.orders {
        let api = parsed(spec.platform, &served[&o.order_no]);
        let want = parsed(spec.platform, &o.raw);
        assert_eq!(api, want, "{} order {}", spec.key, o.order_no);
    }
    for no in &truth.malformed {
        assert!(
            parse_order(spec.platform, &served[no]).is_err(),
            "{} malformed order {no} parsed",
            spec.key
        );
    }
    fetched
}

#[tokio::test]
async fn every_order_of_every_platform_parses_as_the_truth_says() {
    let shops = shops(40, &Faults::none());
    let sim = start(11, shops.clone()).await;
    for spec in &shops {
        let fetched = check_shop(&sim, spec).await;
        assert_eq!(fetched.retried, 0, "{}: no faults, no retries", spec.key);
        assert_eq!(fetched.repeats(spec.platform), 0, "{}", spec.key);

        // The spread the parsers must see: several statuses, multi-line orders, COD somewhere.
        let truth = sim.truth(&spec.key);
        let statuses: BTreeSet<String> = truth
            .orders
            .iter()
            .map(|o| parsed(spec.platform, &o.raw).0)
            .collect();
        assert!(statuses.len() >= 4, "{}: only {statuses:?}", spec.key);
        let orders: Vec<_> = truth
            .orders
            .iter()
            .map(|o| parse_order(spec.platform, &o.raw).unwrap())
            .collect();
        assert!(orders.iter().any(|o| o.lines.len() > 1), "{}", spec.key);
        for o in &orders {
            let a = &o.amounts;
            assert_eq!(
                a.goods.minor - a.discount.minor + a.freight.minor,
                a.paid.minor,
                "{} order {}: amounts do not add up",
                spec.key,
                o.platform_order_no.as_str()
            );
            assert!(a.refunded.minor <= a.paid.minor);
        }
        if spec.platform == Platform::Tmall {
            assert!(orders.iter().all(|o| o.platform == Platform::Tmall));
        }
    }
    // Masked receivers and COD on the Chinese platforms.
    let tb: Vec<_> = sim
        .truth("tb-1")
        .orders
        .iter()
        .map(|o| parse_order(Platform::Taobao, &o.raw).unwrap())
        .collect();
    assert!(tb.iter().any(|o| o.receiver.masked));
    assert!(
        tb.iter().any(|o| o.flags.cod)
            || sim
                .truth("jd-1")
                .orders
                .iter()
                .any(|o| { parse_order(Platform::Jd, &o.raw).unwrap().flags.cod })
    );
    assert_eq!(sim.stats().rate_limited + sim.stats().server_errors, 0);
    sim.shutdown().await;
}

#[tokio::test]
async fn refund_records_of_taobao_and_jd_match_the_truth() {
    let shops = shops(60, &Faults::none());
    let sim = start(12, shops.clone()).await;
    sim.update_round(60).await;
    for spec in shops
        .iter()
        .filter(|s| matches!(s.platform, Platform::Taobao | Platform::Jd))
    {
        let client = Client::new(sim.base_url(&spec.key), spec.clone());
        let (start, end) = window();
        let fetched = client.refunds(start, end).await;
        let served: BTreeMap<String, Value> = fetched
            .rows
            .iter()
            .map(|r| {
                let id = match &r["refund_id"] {
                    Value::String(s) => s.clone(),
                    _ => r["id"].to_string(),
                };
                (id, r.clone())
            })
            .collect();
        let truth = sim.truth(&spec.key);
        let expected: BTreeMap<String, Value> = truth
            .refunds
            .iter()
            .map(|r| (r.refund_id.clone(), r.raw.clone()))
            .collect();
        assert!(!expected.is_empty(), "{}: no refunds generated", spec.key);
        assert_eq!(served, expected, "{}", spec.key);
        // tid/oid are JSON numbers that must survive as exact u64s.
        if spec.platform == Platform::Taobao {
            for raw in served.values() {
                assert!(raw["tid"].as_u64().unwrap() > 1u64 << 53);
            }
        }
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn updates_are_served_and_still_parse() {
    let shops = shops(30, &Faults::none());
    let sim = start(13, shops.clone()).await;
    let before: Vec<Truth> = shops.iter().map(|s| sim.truth(&s.key)).collect();
    sim.update_round(80).await;
    let stats = sim.stats();
    assert!(stats.updates >= 60, "{stats:?}");
    for (spec, before) in shops.iter().zip(before) {
        let after = sim.truth(&spec.key);
        assert_ne!(after, before, "{}: nothing changed", spec.key);
        check_shop(&sim, spec).await;
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn orders_added_on_demand_are_paid_ready_to_ship_and_served() {
    let shops = shops(5, &Faults::none());
    let sim = start(17, shops.clone()).await;
    for spec in &shops {
        let numbers = sim.add_paid_orders(&spec.key, 4).await;
        assert_eq!(numbers.len(), 4, "{}", spec.key);
        let truth = sim.truth(&spec.key);
        for no in &numbers {
            let raw = &truth
                .orders
                .iter()
                .find(|o| &o.order_no == no)
                .unwrap_or_else(|| panic!("{no} is not in {}'s truth", spec.key))
                .raw;
            let o = parse_order(spec.platform, raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
            assert_eq!(
                format!("{:?}", o.status),
                "Paid",
                "{}: {no} waits to ship",
                spec.key
            );
            assert!(
                o.times.paid.is_some() && !o.flags.cod,
                "{}: {no} paid online",
                spec.key
            );
            assert!(
                o.buyer_memo.is_none() && o.seller_memo.is_none(),
                "{no}: no memo"
            );
            assert!(o.lines.iter().all(|l| l.merchant_sku.is_some()), "{no}");
        }
        check_shop(&sim, spec).await;
    }
    assert!(sim.add_paid_orders("nobody", 1).await.is_empty());
    sim.shutdown().await;
}

#[tokio::test]
async fn a_product_listed_without_a_merchant_code_parses_without_one_on_every_platform() {
    let (uncoded, _) = xt_platform_sim::catalog()[0];
    let shops: Vec<ShopSpec> = shops(0, &Faults::none())
        .into_iter()
        .map(|s| ShopSpec {
            uncoded: vec![uncoded.to_owned()],
            ..s
        })
        .collect();
    let sim = start(23, shops.clone()).await;
    for spec in &shops {
        sim.add_paid_orders(&spec.key, 40).await;
        let (mut with, mut without) = (0, 0);
        for o in sim.truth(&spec.key).orders {
            let order = parse_order(spec.platform, &o.raw).unwrap_or_else(|e| panic!("{e}"));
            for l in &order.lines {
                match &l.merchant_sku {
                    Some(code) => {
                        assert_ne!(code.as_str(), uncoded, "{}", spec.key);
                        with += 1;
                    }
                    None => without += 1,
                }
            }
        }
        assert!(
            with > 0 && without > 0,
            "{}: {with} coded, {without} not",
            spec.key
        );
        check_shop(&sim, spec).await;
    }
    let bad = ShopSpec {
        uncoded: vec!["NOT-SOLD".into()],
        ..ShopSpec::new("tb-1", Platform::Taobao, 0)
    };
    let config = SimConfig {
        seed: 1,
        history: HISTORY,
        shops: vec![bad],
    };
    assert!(
        xt_platform_sim::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .is_err()
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn with_every_fault_a_retrying_client_still_gets_every_order() {
    let faults = Faults {
        // Higher than Faults::all() so a small run sees each kind.
        rate_limit: 0.15,
        server_error: 0.10,
        slow: 0.05,
        slow_ms: 20,
        repeat_rows: 0.5,
        ..Faults::all()
    };
    let shops = shops(50, &faults);
    let sim = start(14, shops.clone()).await;
    sim.update_round(20).await;
    let mut repeats = 0;
    let mut retried = 0;
    for spec in &shops {
        let fetched = check_shop(&sim, spec).await;
        repeats += fetched.repeats(spec.platform);
        retried += fetched.retried;
        assert_eq!(sim.truth(&spec.key).malformed.len(), 3, "{}", spec.key);
    }
    let stats = sim.stats();
    assert!(repeats > 0, "no repeated rows: {stats:?}");
    assert_eq!(repeats as u64, stats.repeated_rows);
    assert!(retried > 0, "no faults: {stats:?}");
    assert_eq!(retried as u64, stats.rate_limited + stats.server_errors);
    assert!(stats.late_updates > 0, "{stats:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn wrong_signatures_and_credentials_get_the_platforms_errors() {
    let shops = shops(5, &Faults::none());
    let sim = start(15, shops.clone()).await;
    let (start, end) = window();
    let http = reqwest::Client::new();

    // Taobao: wrong secret → 25, right signature but wrong session → 27, over a day → 41.
    let tb = Client::new(sim.base_url("tb-1"), shops[0].clone());
    let params = tb.top_params("taobao.trades.sold.increment.get", start, end, 1);
    let (_, body) = tb.signed(params.clone(), "wrong-secret").await;
    assert_eq!(body["error_response"]["code"], json!(25), "{body}");
    let mut bad_session = params.clone();
    bad_session.insert("session".into(), "expired".into());
    let (_, body) = tb.signed(bad_session, &shops[0].credentials[1]).await;
    assert_eq!(body["error_response"]["code"], json!(27), "{body}");
    assert_eq!(
        body["error_response"]["sub_code"],
        json!("invalid-sessionkey")
    );
    let long = tb.top_params(
        "taobao.trades.sold.increment.get",
        end - time::Duration::hours(25),
        end,
        1,
    );
    let (_, body) = tb.signed(long, &shops[0].credentials[1]).await;
    assert_eq!(body["error_response"]["code"], json!(41), "{body}");
    // HMAC-MD5 signatures are accepted too.
    let mut hmac = params.clone();
    hmac.insert("sign_method".into(), "hmac".into());
    let sig = xt_platform_sim::sign::top_hmac(&hmac, &shops[0].credentials[1]);
    hmac.insert("sign".into(), sig);
    let body: Value = http
        .post(format!("{}/router/rest", sim.base_url("tb-1")))
        .form(&hmac)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        body.get("trades_sold_increment_get_response").is_some(),
        "{body}"
    );

    // JD: wrong secret → "17", wrong token → "19", over a day refused.
    let jd = Client::new(sim.base_url("jd-1"), shops[2].clone());
    let business = json!({"start_date": common::beijing(start), "end_date": common::beijing(end), "page": "1", "page_size": "10"});
    let params = jd.jd_params("jingdong.pop.order.search", business);
    let (_, body) = jd.signed(params.clone(), "wrong-secret").await;
    assert_eq!(body["error_response"]["code"], json!("17"), "{body}");
    let mut bad_token = params.clone();
    bad_token.insert("access_token".into(), "expired".into());
    let (_, body) = jd.signed(bad_token, &shops[2].credentials[1]).await;
    assert_eq!(body["error_response"]["code"], json!("19"), "{body}");
    let long = jd.jd_params(
        "jingdong.pop.order.search",
        json!({"start_date": common::beijing(end - time::Duration::days(2)), "end_date": common::beijing(end)}),
    );
    let (_, body) = jd.signed(long, &shops[2].credentials[1]).await;
    assert!(body.get("error_response").is_some(), "{body}");

    // Shopify: wrong token → 401 with Shopify's message.
    let r = http
        .get(format!(
            "{}/admin/api/2024-07/orders.json?status=any",
            sim.base_url("shopify-1")
        ))
        .header("X-Shopify-Access-Token", "shpat_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["errors"]
            .as_str()
            .unwrap()
            .contains("Invalid API key or access token")
    );

    // WooCommerce: wrong secret → 401 woocommerce_rest_authentication_error.
    let r = http
        .get(format!("{}/wp-json/wc/v3/orders", sim.base_url("woo-1")))
        .basic_auth(&shops[4].credentials[0], Some("cs_wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], json!("woocommerce_rest_authentication_error"));
    assert_eq!(body["data"]["status"], json!(401));

    let stats = sim.stats();
    assert_eq!(stats.auth_failures, 6, "{stats:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn shopify_pages_follow_link_headers_and_refuse_filters_with_page_info() {
    let shops = vec![ShopSpec::new("shopify-1", Platform::Shopify, 25)];
    let sim = start(16, shops.clone()).await;
    let http = reqwest::Client::new();
    let token = &shops[0].credentials[1];
    let first = http
        .get(format!(
            "{}/admin/api/2024-07/orders.json?status=any&limit=10",
            sim.base_url("shopify-1")
        ))
        .header("X-Shopify-Access-Token", token)
        .send()
        .await
        .unwrap();
    let next = common::next_link(first.headers()).expect("a next link");
    let page1: Value = first.json().await.unwrap();
    assert_eq!(page1["orders"].as_array().unwrap().len(), 10);

    let second = http
        .get(&next)
        .header("X-Shopify-Access-Token", token)
        .send()
        .await
        .unwrap();
    let link = second.headers()["link"].to_str().unwrap().to_owned();
    assert!(
        link.contains("rel=\"previous\"") && link.contains("rel=\"next\""),
        "{link}"
    );
    let page2: Value = second.json().await.unwrap();
    let ids = |p: &Value| -> Vec<String> {
        p["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| order_no(Platform::Shopify, o))
            .collect()
    };
    assert!(ids(&page2).iter().all(|id| !ids(&page1).contains(id)));

    let refused = http
        .get(format!("{next}&status=any"))
        .header("X-Shopify-Access-Token", token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_control_api_serves_truth_and_stats() {
    let shops = shops(5, &Faults::none());
    let sim = start(17, shops).await;
    let http = reqwest::Client::new();
    let truth: Truth = http
        .get(format!("http://{}/_sim/truth/jd-1", sim.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(truth, sim.truth("jd-1"));
    let unknown = http
        .get(format!("http://{}/_sim/truth/nope", sim.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let stats: Value = http
        .get(format!("http://{}/_sim/stats", sim.addr()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(stats.get("requests").is_some(), "{stats}");
    sim.shutdown().await;
}

#[tokio::test]
async fn rate_limits_have_each_platforms_shape_and_a_retry_gets_through_after_three() {
    let faults = Faults {
        rate_limit: 0.99,
        ..Faults::none()
    };
    let shops = shops(5, &faults);
    let sim = start(18, shops.clone()).await;
    let (start, end) = window();
    let http = reqwest::Client::new();
    for spec in &shops {
        let client = Client::new(sim.base_url(&spec.key), spec.clone());
        for attempt in 1..=xt_platform_sim::STREAK_MAX + 1 {
            let limited = match spec.platform {
                Platform::Taobao | Platform::Tmall => {
                    let params =
                        client.top_params("taobao.trades.sold.increment.get", start, end, 1);
                    let (_, body) = client.signed(params, &spec.credentials[1]).await;
                    let e = &body["error_response"];
                    if !e.is_null() {
                        assert_eq!(e["code"], json!(7), "{body}");
                        assert_eq!(
                            e["sub_code"],
                            json!("accesscontrol.limited-by-app-access-count")
                        );
                        assert!(
                            e["sub_msg"]
                                .as_str()
                                .unwrap()
                                .starts_with("This ban will last for ")
                        );
                    }
                    !e.is_null()
                }
                Platform::Jd => {
                    let business = json!({"start_date": common::beijing(start), "end_date": common::beijing(end)});
                    let params = client.jd_params("jingdong.pop.order.search", business);
                    let (_, body) = client.signed(params, &spec.credentials[1]).await;
                    let e = &body["error_response"];
                    if !e.is_null() {
                        assert_eq!(e["code"], json!("67"), "{body}");
                        assert!(e["en_desc"].as_str().unwrap().contains("retry after"));
                    }
                    !e.is_null()
                }
                Platform::Shopify | Platform::Woocommerce => {
                    let url = if spec.platform == Platform::Shopify {
                        format!(
                            "{}/admin/api/2024-07/orders.json?status=any",
                            sim.base_url(&spec.key)
                        )
                    } else {
                        format!("{}/wp-json/wc/v3/orders", sim.base_url(&spec.key))
                    };
                    let r = if spec.platform == Platform::Shopify {
                        http.get(url)
                            .header("X-Shopify-Access-Token", &spec.credentials[1])
                    } else {
                        http.get(url)
                            .basic_auth(&spec.credentials[0], Some(&spec.credentials[1]))
                    }
                    .send()
                    .await
                    .unwrap();
                    if r.status() == 429 {
                        let after: f64 = r.headers()["retry-after"]
                            .to_str()
                            .unwrap()
                            .parse()
                            .unwrap();
                        assert!(after > 0.0);
                    } else {
                        assert_eq!(r.status(), 200);
                    }
                    r.status() == 429
                }
            };
            // The first three are limited (at 99%), the fourth gets through whatever the dice.
            assert_eq!(
                limited,
                attempt <= xt_platform_sim::STREAK_MAX,
                "{} try {attempt}",
                spec.key
            );
        }
    }
    sim.shutdown().await;
}
