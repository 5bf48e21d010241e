//! The orders API over a real hub (temp redb, the router called directly): orders captured from
//! the platforms' own payloads are listed, filtered, paged and shown with provenance; SKU
//! mappings release held orders; members link buyers; another tenant sees none of it.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Env, acme, env};
use xt_hub::shops::channels::Captured;
use xt_hub::shops::channels::{capture_order, parse_order};
use xt_hub::store::{ORDERS_SCAN_ROWS_MAX, OrderFilter};
use xt_shared::ids::DocNo;
use xt_shared::model::UtcMillis;
use xt_shared::order::Platform;

fn fixture(platform: &str, name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/channels/{platform}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn shop(env: &Env, platform: &str) -> String {
    let creds = match platform {
        "taobao" => json!({"app_key": "12345678", "app_secret": "s", "session": "s"}),
        _ => {
            json!({"shop_domain": "acme.myshopify.com", "access_token": "t", "webhook_secret": "w"})
        }
    };
    let r = env
        .call(
            Method::POST,
            "/api/v1/shops",
            Some(&env.key),
            Some(
                json!({"platform": platform, "name": format!("{platform} 店"),
                "api_base_url": "http://127.0.0.1:9", "credentials": creds}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

fn capture(env: &Env, shop: &str, platform: Platform, raw: &Value) {
    let items = capture_order(platform, &raw.to_string());
    env.hub
        .store()
        .apply_shop_items(&acme(), shop, items, UtcMillis(1_000))
        .unwrap();
}

async fn get(env: &Env, path: &str) -> Value {
    let r = env.call(Method::GET, path, Some(&env.key), None).await;
    assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
    r.body
}

#[tokio::test]
async fn captured_orders_are_listed_filtered_and_shown_with_provenance() {
    let env = env();
    let tb = shop(&env, "taobao").await;
    let sp = shop(&env, "shopify").await;
    for name in [
        "multi-line-tmall",
        "cod-signed-county-city",
        "refund-partial",
    ] {
        capture(&env, &tb, Platform::Taobao, &fixture("taobao", name));
    }
    capture(
        &env,
        &sp,
        Platform::Shopify,
        &fixture("shopify", "paid-unfulfilled-multi-line"),
    );
    capture(
        &env,
        &sp,
        Platform::Shopify,
        &fixture("shopify", "malformed"),
    );

    let all = get(&env, "/api/v1/orders").await;
    let orders = all["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 4, "{all}");
    let modified: Vec<&str> = orders
        .iter()
        .map(|o| o["modified_at"].as_str().unwrap())
        .collect();
    assert!(
        modified.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {modified:?}"
    );
    assert!(orders.iter().all(|o| o["paid"]["minor"].is_i64()));

    let shopify = get(&env, "/api/v1/orders?platform=shopify").await;
    assert_eq!(shopify["orders"].as_array().unwrap().len(), 1);
    let by_shop = get(&env, &format!("/api/v1/orders?shop={tb}&limit=2")).await;
    assert_eq!(by_shop["orders"].as_array().unwrap().len(), 2);
    let cursor = by_shop["next_cursor"].as_str().unwrap();
    let rest = get(
        &env,
        &format!("/api/v1/orders?shop={tb}&limit=2&cursor={cursor}"),
    )
    .await;
    assert_eq!(rest["orders"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());

    let first = &orders[0];
    let id = first["id"].as_str().unwrap();
    let no = first["order_no"].as_str().unwrap();
    let by_no = get(&env, &format!("/api/v1/orders?order_no={no}")).await;
    assert_eq!(by_no["orders"][0]["id"], first["id"]);
    let detail = get(&env, &format!("/api/v1/orders/{id}")).await;
    assert_eq!(detail["order_no"], first["order_no"]);
    let fields: Vec<&str> = detail["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    for f in [
        "status", "buyer", "receiver", "amounts", "times", "lines[0]",
    ] {
        assert!(fields.contains(&f), "{f} in {fields:?}");
    }
    assert!(
        detail["provenance"][0]["origin"]
            .as_str()
            .unwrap()
            .starts_with("shop/shop-")
    );
    assert!(
        detail["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["internal_sku"].is_null())
    );
    assert!(detail["held"].as_str().unwrap().contains("unmapped SKU"));

    // The malformed payload is kept with its reason, not lost.
    let errors = get(&env, &format!("/api/v1/shops/{sp}/capture-errors")).await;
    assert_eq!(errors["errors"].as_array().unwrap().len(), 1, "{errors}");
    assert!(!errors["errors"][0]["reason"].as_str().unwrap().is_empty());
    let shop_view = get(&env, &format!("/api/v1/shops/{sp}")).await;
    assert_eq!(
        (
            shop_view["orders"].as_u64(),
            shop_view["capture_errors"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let dash = get(&env, "/api/v1/dashboard").await;
    assert_eq!(
        dash["shops"].as_array().unwrap().len(),
        2,
        "{}",
        dash["shops"]
    );

    // Bad filters are 400s naming the field.
    for bad in [
        "status=lost",
        "platform=ebay",
        "modified_from=yesterday",
        "limit=0",
        "cursor=zz",
        "colour=red",
    ] {
        let r = env
            .call(
                Method::GET,
                &format!("/api/v1/orders?{bad}"),
                Some(&env.key),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
}

#[tokio::test]
async fn a_sku_mapping_releases_held_orders() {
    let env = env();
    let sp = shop(&env, "shopify").await;
    capture(
        &env,
        &sp,
        Platform::Shopify,
        &fixture("shopify", "paid-unfulfilled-multi-line"),
    );
    let held = get(&env, "/api/v1/orders?held=true").await;
    let order = &held["orders"][0];
    let detail = get(
        &env,
        &format!("/api/v1/orders/{}", order["id"].as_str().unwrap()),
    )
    .await;
    let mut ids = Vec::new();
    for line in detail["lines"].as_array().unwrap() {
        let body = match line["merchant_sku"].as_str() {
            Some(code) => json!({"platform": "shopify", "merchant_sku": code, "sku": "INT-1"}),
            None => json!({"platform": "shopify",
                "platform_sku_id": line["platform_sku_id"].as_str().unwrap(), "sku": "INT-2"}),
        };
        let r = env
            .call(
                Method::POST,
                "/api/v1/sku-mappings",
                Some(&env.key),
                Some(body.clone()),
            )
            .await;
        if r.status == StatusCode::CONFLICT {
            continue; // two lines with the same code
        }
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        ids.push(r.body["id"].as_str().unwrap().to_owned());
        let again = env
            .call(
                Method::POST,
                "/api/v1/sku-mappings",
                Some(&env.key),
                Some(body),
            )
            .await;
        assert_eq!(again.status, StatusCode::CONFLICT);
    }
    let held = get(&env, "/api/v1/orders?held=true").await;
    assert!(held["orders"].as_array().unwrap().is_empty(), "{held}");
    let detail = get(
        &env,
        &format!("/api/v1/orders/{}", order["id"].as_str().unwrap()),
    )
    .await;
    assert!(detail["held"].is_null());
    assert!(
        detail["lines"]
            .as_array()
            .unwrap()
            .iter()
            .all(|l| l["internal_sku"].is_string())
    );
    let list = get(&env, "/api/v1/sku-mappings").await;
    assert_eq!(list["mappings"].as_array().unwrap().len(), ids.len());
    let r = env
        .call(
            Method::DELETE,
            &format!("/api/v1/sku-mappings/{}", ids[0]),
            Some(&env.key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = env
        .call(
            Method::DELETE,
            &format!("/api/v1/sku-mappings/{}", ids[0]),
            Some(&env.key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn members_orders_and_mappings_are_per_tenant_and_per_role() {
    let env = env();
    let tb = shop(&env, "taobao").await;
    capture(
        &env,
        &tb,
        Platform::Taobao,
        &fixture("taobao", "multi-line-tmall"),
    );
    let list = get(&env, "/api/v1/orders").await;
    let id = list["orders"][0]["id"].as_str().unwrap().to_owned();
    let detail = get(&env, &format!("/api/v1/orders/{id}")).await;
    let member = detail["member_id"].as_str().expect("the buyer is a member");
    let m = get(&env, &format!("/api/v1/members/{member}")).await;
    assert_eq!(m["orders"][0]["id"], json!(id));
    assert!(!m["identities"].as_array().unwrap().is_empty());

    let beta = env.add_beta();
    for path in [
        format!("/api/v1/orders/{id}"),
        format!("/api/v1/members/{member}"),
        format!("/api/v1/shops/{tb}/capture-errors"),
    ] {
        let r = env.call(Method::GET, &path, Some(&beta), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
    let r = env
        .call(Method::GET, "/api/v1/orders", Some(&beta), None)
        .await;
    assert_eq!(r.body["orders"], json!([]));

    let warehouse = env.user_token("picker", &["warehouse"], &["WH1"]).await;
    let r = env
        .call(Method::GET, "/api/v1/orders", Some(&warehouse), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let manager = env.user_token("boss", &["manager"], &[]).await;
    let r = env
        .call(Method::GET, "/api/v1/orders", Some(&manager), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = env
        .call(
            Method::POST,
            "/api/v1/sku-mappings",
            Some(&manager),
            Some(json!({"platform": "taobao", "merchant_sku": "X", "sku": "X"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_order_filter_matching_nothing_ends_its_page_early_with_a_cursor() {
    let env = env();
    let tb = shop(&env, "taobao").await;
    let base = parse_order(Platform::Taobao, &fixture("taobao", "multi-line-tmall")).unwrap();
    // More orders than one request may examine; the only one matching the filter is the oldest.
    let total = ORDERS_SCAN_ROWS_MAX + ORDERS_SCAN_ROWS_MAX / 2;
    let items: Vec<Captured> = (0..total)
        .map(|i| {
            let mut o = base.clone();
            o.platform_order_no = DocNo::new(format!("9{i:07}")).unwrap();
            o.times.modified = UtcMillis(1_700_000_000_000 + i as i64 * 1000);
            o.receiver.name = Some(if i == 0 { "needle" } else { "hay" }.into());
            Captured::Order {
                raw: String::new(),
                order: o,
            }
        })
        .collect();
    for chunk in items.chunks(1000) {
        env.hub
            .store()
            .apply_shop_items(&acme(), &tb, chunk.to_vec(), UtcMillis(1_000))
            .unwrap();
    }

    // The store examines at most its budget of rows and says where it stopped.
    let none = OrderFilter {
        receiver: Some("nobody".into()),
        ..OrderFilter::default()
    };
    let scan = env
        .hub
        .store()
        .orders_scan(&acme(), &none, None, 50, ORDERS_SCAN_ROWS_MAX)
        .unwrap();
    assert!(scan.orders.is_empty());
    assert_eq!(scan.examined, ORDERS_SCAN_ROWS_MAX);
    assert!(scan.resume.is_some());

    // Over HTTP: an empty page with a cursor, then the rest, then the end.
    let page = get(&env, "/api/v1/orders?receiver=needle&limit=50").await;
    assert_eq!(page["orders"], json!([]), "{page}");
    let cursor = page["next_cursor"].as_str().expect("a cursor to continue");
    let page = get(
        &env,
        &format!("/api/v1/orders?receiver=needle&limit=50&cursor={cursor}"),
    )
    .await;
    let found: Vec<&str> = page["orders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["order_no"].as_str().unwrap())
        .collect();
    assert_eq!(found, ["90000000"]);
    assert_eq!(page["next_cursor"], json!(null));

    // Without a filter, full pages go on from their last row as before.
    let page = get(&env, "/api/v1/orders?limit=500").await;
    assert_eq!(page["orders"].as_array().unwrap().len(), 500);
    assert!(page["next_cursor"].is_string());
}
