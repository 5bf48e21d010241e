//! Drives the router in memory (`oneshot`) against a two-tenant fake hub.

mod support;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;
use support::{AGENT_BOOM, FakeHub, KEY_A, KEY_B, SECRET_DETAIL};
use tower::ServiceExt;
use xt_mobile_api::{AgentList, StockPage, TokenCreated, router};

/// What came back: status, headers and the JSON body (`Value::Null` if the body is empty).
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn error_code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or_else(|| {
            panic!("not an error body: {}", self.body);
        })
    }

    fn error_message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap()
    }
}

async fn call(hub: &Arc<FakeHub>, req: Request<Body>) -> Reply {
    let response = router(hub.clone()).oneshot(req).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            panic!(
                "body is not json ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn get(path: &str, key: Option<&str>) -> Request<Body> {
    let mut req = Request::get(path);
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    req.body(Body::empty()).unwrap()
}

fn post_json(path: &str, key: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn hub() -> Arc<FakeHub> {
    Arc::new(FakeHub::new(10))
}

#[tokio::test]
async fn healthz_needs_no_key() {
    let reply = call(&hub(), get("/healthz", None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn every_auth_failure_is_the_same_401() {
    let hub = hub();
    let basic = Request::get("/api/v1/agents")
        .header(header::AUTHORIZATION, format!("Basic {KEY_A}"))
        .body(Body::empty())
        .unwrap();
    let replies = [
        call(&hub, get("/api/v1/agents", None)).await,
        call(&hub, get("/api/v1/agents", Some("wrong-key"))).await,
        call(&hub, get("/api/v1/stock?limit=0", Some("wrong-key"))).await,
        call(&hub, basic).await,
        call(
            &hub,
            post_json("/api/v1/enrollment-tokens", "wrong", "{not json"),
        )
        .await,
    ];
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(
            reply.body,
            json!({"error": {"code": "unauthorized", "message": "invalid or missing credentials"}})
        );
    }
}

#[tokio::test]
async fn agents_are_listed_per_tenant() {
    let hub = hub();
    let reply = call(&hub, get("/api/v1/agents", Some(KEY_A))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let list: AgentList = serde_json::from_value(reply.body.clone()).unwrap();
    let ids: Vec<&str> = list.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2"]);
    // Times are RFC 3339 UTC strings; absent ones are null.
    let first = &reply.body["agents"][0];
    assert_eq!(first["last_seen"], "2024-05-01T10:00:00Z");
    assert_eq!(first["revoked_at"], Value::Null);
    assert_eq!(first["role"], "warehouse");
    assert_eq!(first["sources"][0]["applied_seq"], 42);

    let reply = call(&hub, get("/api/v1/agents", Some(KEY_B))).await;
    let list: AgentList = serde_json::from_value(reply.body).unwrap();
    let ids: Vec<&str> = list.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["b1"]);
}

#[tokio::test]
async fn a_tenant_cannot_revoke_another_tenants_agent() {
    let hub = hub();
    let reply = call(&hub, post_json("/api/v1/agents/b1/revoke", KEY_A, "")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");

    // b1 is untouched.
    let reply = call(&hub, get("/api/v1/agents", Some(KEY_B))).await;
    assert_eq!(reply.body["agents"][0]["revoked_at"], Value::Null);

    // Its own tenant can revoke it.
    let reply = call(&hub, post_json("/api/v1/agents/b1/revoke", KEY_B, "")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body["id"], "b1");
    assert_eq!(reply.body["revoked_at"], "2024-05-01T10:00:00Z");
    assert_eq!(reply.body["connected"], false);
}

#[tokio::test]
async fn revoke_with_an_invalid_id_is_400() {
    let reply = call(&hub(), post_json("/api/v1/agents/a%20b/revoke", KEY_A, "")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "bad_request");
    assert!(reply.error_message().contains("agent id"), "{}", reply.body);
}

#[tokio::test]
async fn internal_errors_do_not_leak() {
    let path = format!("/api/v1/agents/{AGENT_BOOM}/revoke");
    let reply = call(&hub(), post_json(&path, KEY_A, "")).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.body,
        json!({"error": {"code": "internal", "message": "internal error"}})
    );
    assert!(!reply.body.to_string().contains(SECRET_DETAIL));
}

#[tokio::test]
async fn token_creation_is_201_with_the_tenant_of_the_key() {
    let hub = hub();
    let body = r#"{"site": "shanghai", "role": "finance", "ttl_secs": 3600}"#;
    let reply = call(&hub, post_json("/api/v1/enrollment-tokens", KEY_A, body)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let keys: BTreeSet<&str> = reply
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from([
            "token",
            "ca_fingerprint",
            "expires_at",
            "tenant",
            "site",
            "role",
            "quic_port",
            "agent_address"
        ])
    );
    assert_eq!(reply.body["tenant"], "a");
    assert_eq!(reply.body["site"], "shanghai");
    assert_eq!(reply.body["role"], "finance");
    assert_eq!(reply.body["expires_at"], "2024-05-01T11:00:00Z");
    let created: TokenCreated = serde_json::from_value(reply.body).unwrap();
    assert_eq!(created.token, "tok-a-shanghai");

    // Without ttl_secs the token lives 24 hours.
    let body = r#"{"site": "shanghai", "role": "pos"}"#;
    let reply = call(&hub, post_json("/api/v1/enrollment-tokens", KEY_A, body)).await;
    assert_eq!(reply.status, StatusCode::CREATED);
    assert_eq!(reply.body["expires_at"], "2024-05-02T10:00:00Z");
}

#[tokio::test]
async fn bad_token_requests_are_400_json() {
    let hub = hub();
    let cases = [
        (r#"{"site": "s1", "role": "boss"}"#, "unknown variant"),
        (r#"{"site": "a b", "role": "pos"}"#, "site id"),
        (r#"{"site": "", "role": "pos"}"#, "site id is empty"),
        (r#"{"role": "pos"}"#, "missing field `site`"),
        (
            r#"{"site": "s1", "role": "pos", "tenant": "b"}"#,
            "unknown field `tenant`",
        ),
        (
            r#"{"site": "s1", "role": "pos", "ttl_secs": 0}"#,
            "ttl_secs",
        ),
        (
            r#"{"site": "s1", "role": "pos", "ttl_secs": 2592001}"#,
            "ttl_secs",
        ),
        (
            r#"{"site": "s1", "role": "pos", "ttl_secs": -1}"#,
            "ttl_secs",
        ),
        ("{not json", "malformed json body"),
        ("", "malformed json body"),
    ];
    for (body, needle) in cases {
        let reply = call(&hub, post_json("/api/v1/enrollment-tokens", KEY_A, body)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.body
        );
        assert_eq!(reply.error_code(), "bad_request");
        assert!(
            reply.error_message().contains(needle),
            "{body}: {:?} lacks {needle:?}",
            reply.error_message()
        );
    }

    let no_content_type = Request::post("/api/v1/enrollment-tokens")
        .header(header::AUTHORIZATION, format!("Bearer {KEY_A}"))
        .body(Body::from(r#"{"site": "s1", "role": "pos"}"#))
        .unwrap();
    let reply = call(&hub, no_content_type).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error_message().contains("content-type"));
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let body = format!(
        r#"{{"site": "s1", "role": "pos", "pad": "{}"}}"#,
        "x".repeat(xt_mobile_api::REQUEST_BODY_BYTES_MAX)
    );
    let reply = call(&hub(), post_json("/api/v1/enrollment-tokens", KEY_A, &body)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.error_code(), "payload_too_large");
}

#[tokio::test]
async fn bad_stock_queries_are_400_json() {
    let hub = hub();
    let cases = [
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=1001", "limit must be between 1 and 1000"),
        ("limit=abc", "invalid query string"),
        ("limit=-1", "invalid query string"),
        ("cursor=garbage", "invalid cursor"),
        ("warehouse=", "warehouse code is empty"),
        ("sku=A&sku_prefix=A", "cannot be used together"),
        ("prefix=A", "unknown field"),
    ];
    for (query, needle) in cases {
        let reply = call(&hub, get(&format!("/api/v1/stock?{query}"), Some(KEY_A))).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.body
        );
        assert_eq!(reply.error_code(), "bad_request");
        assert!(
            reply.error_message().contains(needle),
            "{query}: {:?} lacks {needle:?}",
            reply.error_message()
        );
    }
}

/// Walks every page with `limit` and returns the `(warehouse, sku)` of each row, in order.
async fn walk_stock(hub: &Arc<FakeHub>, key: &str, filter: &str, limit: u32) -> Vec<String> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/api/v1/stock?limit={limit}{filter}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = call(hub, get(&path, Some(key))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let page: StockPage = serde_json::from_value(reply.body).unwrap();
        assert!(page.items.len() <= limit as usize);
        rows.extend(
            page.items
                .iter()
                .map(|r| format!("{}/{}", r.warehouse, r.sku)),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return rows,
        }
    }
    panic!("stock pages never ended");
}

#[tokio::test]
async fn stock_pagination_returns_every_row_once() {
    let hub = Arc::new(FakeHub::new(25));
    for limit in [1, 3, 7, 25, 1000] {
        let rows = walk_stock(&hub, KEY_A, "", limit).await;
        assert_eq!(rows.len(), 25, "limit {limit}");
        let unique: BTreeSet<&String> = rows.iter().collect();
        assert_eq!(unique.len(), 25, "limit {limit}: duplicates");
        assert!(
            rows.windows(2).all(|w| w[0] < w[1]),
            "limit {limit}: out of order"
        );
        assert!(rows.iter().all(|r| r.starts_with("WH-")));
    }

    // Filters combine with paging; tenant B sees only its own five rows.
    let rows = walk_stock(&hub, KEY_A, "&warehouse=WH-2", 4).await;
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().all(|r| r.starts_with("WH-2/")));
    let rows = walk_stock(&hub, KEY_A, "&sku_prefix=SKU-001", 2).await;
    assert_eq!(rows.len(), 10);
    let rows = walk_stock(&hub, KEY_A, "&sku=SKU-0003", 2).await;
    assert_eq!(rows, ["WH-2/SKU-0003"]);
    assert_eq!(walk_stock(&hub, KEY_B, "", 2).await.len(), 5);

    // The default limit applies without one.
    let reply = call(&hub, get("/api/v1/stock", Some(KEY_A))).await;
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 25);
    assert_eq!(reply.body["next_cursor"], Value::Null);
    assert_eq!(reply.body["items"][0]["updated_at"], "2024-05-01T10:00:00Z");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let hub = hub();
    let reply = call(&hub, get("/api/v1/nothing", Some(KEY_A))).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");
    assert_eq!(reply.error_message(), "no route for GET /api/v1/nothing");

    let reply = call(&hub, get("/api/v1/enrollment-tokens", Some(KEY_A))).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error_code(), "method_not_allowed");
}
