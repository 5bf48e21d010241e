//! The fulfilment routes as the router enforces them, over a real hub (temp redb), whatever
//! the fulfilment room answers: each route's permission per role (403 before the room is
//! asked; anything but 401/403 once allowed), query and body checking (400 before the room is
//! asked), and the 3PL callback: no bearer credential, its own body cap.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use support::{Env, env};
use xt_mobile_api::fulfilment::{FulfilmentSettings, QIMEN_BODY_BYTES_MAX, QIMEN_QUERY_BYTES_MAX};

fn warehouse(code: &str) -> Value {
    json!({"code": code, "name": "电话仓", "kind": "phone",
        "coverage": {"provinces": ["上海"], "cities": []},
        "priority": 1, "cost": {"minor": 800, "currency": "CNY"}})
}

/// Every fulfilment route with a valid request, and the permission it needs.
fn routes() -> Vec<(Method, &'static str, Option<Value>, &'static str)> {
    let settings = serde_json::to_value(FulfilmentSettings::default()).unwrap();
    vec![
        (Method::GET, "/api/v1/fulfilment/board", None, "orders:read"),
        (
            Method::GET,
            "/api/v1/fulfilment/orders?state=held",
            None,
            "orders:read",
        ),
        (
            Method::GET,
            "/api/v1/fulfilment/orders/shop-x:1001",
            None,
            "orders:read",
        ),
        (
            Method::POST,
            "/api/v1/fulfilment/orders/shop-x:1001/actions",
            Some(json!({"action": "approve"})),
            "orders:write",
        ),
        (
            Method::GET,
            "/api/v1/fulfilment/settings",
            None,
            "orders:read",
        ),
        (
            Method::PUT,
            "/api/v1/fulfilment/settings",
            Some(settings),
            "orders:write",
        ),
        (Method::GET, "/api/v1/warehouses", None, "shipments:read"),
        (
            Method::POST,
            "/api/v1/warehouses",
            Some(warehouse("WH1")),
            "shops:write",
        ),
        (
            Method::PUT,
            "/api/v1/warehouses/WH1",
            Some(warehouse("WH1")),
            "shops:write",
        ),
        (Method::GET, "/api/v1/deliveries", None, "shipments:read"),
        (
            Method::GET,
            "/api/v1/deliveries/DL-1",
            None,
            "shipments:read",
        ),
        (
            Method::POST,
            "/api/v1/deliveries/DL-1/confirm",
            Some(json!({"carrier": "SF", "tracking_no": "SF1234567890"})),
            "shipments:write",
        ),
        (
            Method::POST,
            "/api/v1/deliveries/DL-1/exception",
            Some(json!({"kind": "out_of_stock"})),
            "shipments:write",
        ),
    ]
}

/// What each role holds of the permissions the routes need.
fn holds(role: &str, permission: &str) -> bool {
    match role {
        "owner" => true,
        "manager" => permission.ends_with(":read"),
        "warehouse" => permission.starts_with("shipments:"),
        "finance" => permission == "orders:read",
        other => panic!("no role {other}"),
    }
}

async fn people(env: &Env) -> Vec<(&'static str, String)> {
    vec![
        ("owner", env.key.clone()),
        ("manager", env.user_token("mgr", &["manager"], &[]).await),
        (
            "warehouse",
            env.user_token("picker", &["warehouse"], &["WH1"]).await,
        ),
        ("finance", env.user_token("fin", &["finance"], &[]).await),
    ]
}

#[tokio::test]
async fn each_route_needs_its_permission() {
    let env = env();
    let people = people(&env).await;
    for (method, path, body, permission) in routes() {
        for (role, bearer) in &people {
            let r = env
                .call(method.clone(), path, Some(bearer), body.clone())
                .await;
            if holds(role, permission) {
                assert!(
                    !matches!(
                        r.status,
                        StatusCode::FORBIDDEN | StatusCode::UNAUTHORIZED | StatusCode::BAD_REQUEST
                    ),
                    "{method} {path} as {role} ({permission}) answered {}: {}",
                    r.status,
                    r.text
                );
            } else {
                assert_eq!(
                    r.status,
                    StatusCode::FORBIDDEN,
                    "{method} {path} as {role} (without {permission}): {}",
                    r.text
                );
            }
        }
        let r = env.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
}

#[tokio::test]
async fn queries_and_bodies_are_checked_before_the_hub_is_asked() {
    let env = env();
    let key = env.key.clone();
    let cases: &[(&str, Method, &str, Option<Value>, &str)] = &[
        (
            "unknown state",
            Method::GET,
            "/api/v1/fulfilment/orders?state=lost",
            None,
            "state",
        ),
        (
            "zero limit",
            Method::GET,
            "/api/v1/fulfilment/orders?limit=0",
            None,
            "limit",
        ),
        (
            "unknown parameter",
            Method::GET,
            "/api/v1/fulfilment/orders?status=held",
            None,
            "status",
        ),
        (
            "bad cursor",
            Method::GET,
            "/api/v1/fulfilment/orders?cursor=zz",
            None,
            "cursor",
        ),
        (
            "delivery state",
            Method::GET,
            "/api/v1/deliveries?state=held",
            None,
            "state",
        ),
        (
            "delivery limit",
            Method::GET,
            "/api/v1/deliveries?limit=201",
            None,
            "limit",
        ),
        (
            "hold without a reason",
            Method::POST,
            "/api/v1/fulfilment/orders/shop-x:1/actions",
            Some(json!({"action": "hold"})),
            "reason",
        ),
        (
            "a split in one part",
            Method::POST,
            "/api/v1/fulfilment/orders/shop-x:1/actions",
            Some(json!({"action": "split", "parts": [{"warehouse": "WH1",
                "lines": [{"sku": "A", "quantity": 1}]}]})),
            "parts",
        ),
        (
            "a warehouse's code changed",
            Method::PUT,
            "/api/v1/warehouses/WH1",
            Some(warehouse("WH2")),
            "never changes",
        ),
        (
            "a merge window of two days",
            Method::PUT,
            "/api/v1/fulfilment/settings",
            Some({
                let mut s = serde_json::to_value(FulfilmentSettings::default()).unwrap();
                s["merge"]["window_minutes"] = json!(2880);
                s
            }),
            "merge.window_minutes",
        ),
        (
            "a confirmation without a tracking number",
            Method::POST,
            "/api/v1/deliveries/DL-1/confirm",
            Some(json!({"carrier": "SF"})),
            "tracking_no",
        ),
        (
            "another kind of exception without a reason",
            Method::POST,
            "/api/v1/deliveries/DL-1/exception",
            Some(json!({"kind": "other"})),
            "reason",
        ),
    ];
    for (name, method, path, body, piece) in cases {
        let r = env
            .call(method.clone(), path, Some(&key), body.clone())
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{name}: {}", r.text);
        assert!(r.error_message().contains(piece), "{name}: {}", r.text);
    }
    // Not ids at all: not found, as an unknown id.
    for path in [
        "/api/v1/fulfilment/orders/no-colon",
        "/api/v1/deliveries/%20DL",
    ] {
        let r = env.call(Method::GET, path, Some(&key), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
}

fn callback(path: &str, body: Vec<u8>) -> Request<Body> {
    Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("content-type", "application/xml")
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn the_qimen_callback_needs_no_bearer_and_has_its_own_body_cap() {
    let env = env();
    let path = "/api/v1/callbacks/qimen/acme/WH1?method=deliveryorder.confirm&sign=00";
    // Unsigned: the room answers in Qimen's format, never the bearer challenge.
    let r = env.send(callback(path, b"<request/>".to_vec())).await;
    assert!(!r.headers.contains_key("www-authenticate"), "{}", r.text);
    assert_ne!(r.body["error"]["code"], "unauthorized", "{}", r.text);
    // Larger than every other route's cap, within the callback's: read and handed over.
    let big = vec![b' '; 256 * 1024];
    let r = env.send(callback(path, big)).await;
    assert_ne!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    // Over its cap: refused before the room sees it.
    let huge = vec![b' '; QIMEN_BODY_BYTES_MAX + 1];
    let r = env.send(callback(path, huge)).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.error_code(), "payload_too_large");
    let long_query = format!(
        "/api/v1/callbacks/qimen/acme/WH1?sign={}",
        "0".repeat(QIMEN_QUERY_BYTES_MAX)
    );
    let r = env
        .send(callback(&long_query, b"<request/>".to_vec()))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // Not a tenant id: not found.
    let r = env
        .send(callback("/api/v1/callbacks/qimen/a%20b/WH1", Vec::new()))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}
