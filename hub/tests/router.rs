//! The HTTP router over the real hub (a temp redb), with two tenants: `acme` (the owner key
//! `init` made) and `beta` ([`BETA_KEY`]), their agents enrolled and their stock applied as
//! enrollment and sync do. Status codes, JSON error shapes, headers, pagination and tenant
//! isolation.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use support::{
    BETA_KEY, Env, Reply, acme, apply, env, redeem_token, register_agent, register_agent_as, stock,
};
use xt_mobile_api::time::{Duration, OffsetDateTime};
use xt_mobile_api::{AgentList, StockPage, TokenCreated};
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;
use xt_shared::protocol::AgentRole;

fn beta() -> TenantId {
    TenantId::new("beta").unwrap()
}

/// A hub with two tenants. `acme` has agents `a1` (shanghai) and `a2` (hangzhou), and
/// `stock_rows` stock rows `SKU-0000`… alternating over `WH-1` and `WH-2` (row `i` has `i` on
/// hand), applied by `a1` from source `wms`; `beta` has agent `b1` (beijing) and five rows of
/// its own in `WH-1`, applied the same way.
fn seeded(stock_rows: usize) -> Env {
    let env = env();
    env.add_beta();
    let a1 = register_agent(&env.hub, &acme(), "a1", "shanghai");
    register_agent(&env.hub, &acme(), "a2", "hangzhou");
    let b1 = register_agent(&env.hub, &beta(), "b1", "beijing");
    let rows = (0..stock_rows)
        .map(|i| {
            let warehouse = if i % 2 == 0 { "WH-1" } else { "WH-2" };
            stock(i as u64 + 1, 1, warehouse, &format!("SKU-{i:04}"), i as i64)
        })
        .collect();
    apply(&env.hub, &a1, "wms", rows);
    let rows = (0..5)
        .map(|i| stock(i + 1, 1, "WH-1", &format!("SKU-{i:04}"), 1000 + i as i64))
        .collect();
    apply(&env.hub, &b1, "wms", rows);
    env
}

fn hub() -> Env {
    seeded(10)
}

fn get(path: &str, key: Option<&str>) -> Request<Body> {
    let mut req = Request::get(path);
    if let Some(key) = key {
        req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
    }
    req.body(Body::empty()).unwrap()
}

/// A POST with `body` sent as is (it need not be JSON) and labelled JSON.
fn post_json(path: &str, key: &str, body: &str) -> Request<Body> {
    Request::post(path)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

/// Asserts `v` is an RFC 3339 time in UTC (`…Z`) within a minute of now plus `from_now`.
fn assert_utc_near(v: &Value, from_now: Duration) {
    let text = v
        .as_str()
        .unwrap_or_else(|| panic!("not a time string: {v}"));
    assert!(text.ends_with('Z'), "not UTC: {text}");
    let t = xt_mobile_api::utc::parse(text).unwrap();
    let expected = OffsetDateTime::now_utc() + from_now;
    assert!(
        (t - expected).abs() < Duration::minutes(1),
        "{text} is not near {expected}"
    );
}

#[tokio::test]
async fn healthz_needs_no_key() {
    let reply = hub().send(get("/healthz", None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, json!({"status": "ok"}));
}

#[tokio::test]
async fn every_auth_failure_is_the_same_401() {
    let hub = hub();
    let basic = Request::get("/api/v1/agents")
        .header(header::AUTHORIZATION, format!("Basic {}", hub.key))
        .body(Body::empty())
        .unwrap();
    let replies = [
        hub.send(get("/api/v1/agents", None)).await,
        hub.send(get("/api/v1/agents", Some("wrong-key"))).await,
        hub.send(get("/api/v1/stock?limit=0", Some("wrong-key")))
            .await,
        hub.send(basic).await,
        hub.send(post_json("/api/v1/enrollment-tokens", "wrong", "{not json"))
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
    let reply = hub.send(get("/api/v1/agents", Some(&hub.key))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let list: AgentList = serde_json::from_value(reply.body.clone()).unwrap();
    let ids: Vec<&str> = list.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["a1", "a2"]);
    // Times are RFC 3339 UTC strings; absent ones are null (a1 never connected over QUIC).
    let first = &reply.body["agents"][0];
    assert_utc_near(&first["enrolled_at"], Duration::ZERO);
    assert_eq!(first["last_seen"], Value::Null);
    assert_eq!(first["revoked_at"], Value::Null);
    assert_eq!(first["role"], "warehouse");
    assert_eq!(first["sources"][0]["source"], "wms");
    assert_eq!(first["sources"][0]["applied_seq"], 10);
    assert_eq!(first["sources"][0]["records_applied"], 10);

    let reply = hub.send(get("/api/v1/agents", Some(BETA_KEY))).await;
    let list: AgentList = serde_json::from_value(reply.body).unwrap();
    let ids: Vec<&str> = list.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["b1"]);
}

#[tokio::test]
async fn a_tenant_cannot_revoke_another_tenants_agent() {
    let hub = hub();
    let reply = hub
        .send(post_json("/api/v1/agents/b1/revoke", &hub.key, ""))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");

    // b1 is untouched.
    let reply = hub.send(get("/api/v1/agents", Some(BETA_KEY))).await;
    assert_eq!(reply.body["agents"][0]["id"], "b1");
    assert_eq!(reply.body["agents"][0]["revoked_at"], Value::Null);

    // Its own tenant can revoke it.
    let reply = hub
        .send(post_json("/api/v1/agents/b1/revoke", BETA_KEY, ""))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.body["id"], "b1");
    assert_utc_near(&reply.body["revoked_at"], Duration::ZERO);
    assert_eq!(reply.body["connected"], false);
}

#[tokio::test]
async fn revoke_with_an_invalid_id_is_400() {
    let hub = hub();
    let reply = hub
        .send(post_json("/api/v1/agents/a%20b/revoke", &hub.key, ""))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "bad_request");
    assert!(reply.error_message().contains("agent id"), "{}", reply.text);
}

#[tokio::test]
async fn internal_errors_do_not_leak() {
    // An agent whose stored certificate expiry is out of the range of times the API can show:
    // the hub refuses to render it (rather than show a wrong time) with an internal error whose
    // detail names the value. Listing and revoking it must answer the bare 500.
    let hub = hub();
    register_agent_as(&hub.hub, &acme(), "a-bad", "shanghai", |r| {
        r.cert_not_after = UtcMillis(i64::MAX);
    });
    let secret = i64::MAX.to_string();
    let replies = [
        hub.send(get("/api/v1/agents", Some(&hub.key))).await,
        hub.send(post_json("/api/v1/agents/a-bad/revoke", &hub.key, ""))
            .await,
    ];
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            reply.body,
            json!({"error": {"code": "internal", "message": "internal error"}})
        );
        assert!(!reply.text.contains(&secret), "{}", reply.text);
        assert!(!reply.text.contains("out of range"), "{}", reply.text);
    }
    // The other tenant is not affected.
    let reply = hub.send(get("/api/v1/agents", Some(BETA_KEY))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
}

#[tokio::test]
async fn token_creation_is_201_with_the_tenant_of_the_key() {
    let hub = hub();
    let body = r#"{"site": "shanghai", "role": "finance", "ttl_secs": 3600}"#;
    let reply = hub
        .send(post_json("/api/v1/enrollment-tokens", &hub.key, body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
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
    assert_eq!(reply.body["tenant"], "acme");
    assert_eq!(reply.body["site"], "shanghai");
    assert_eq!(reply.body["role"], "finance");
    assert_utc_near(&reply.body["expires_at"], Duration::hours(1));
    let created: TokenCreated = serde_json::from_value(reply.body).unwrap();
    assert_eq!(created.ca_fingerprint, hub.hub.ca().fingerprint());
    // The hub made the token for the key's tenant: redeemed, it enrolls an acme agent.
    let who = redeem_token(&hub.hub, &created.token, "a9", |_| {});
    assert_eq!(who.record.tenant, acme());
    assert_eq!(who.record.site.as_str(), "shanghai");
    assert_eq!(who.record.role, AgentRole::Finance);

    // Without ttl_secs the token lives 24 hours.
    let body = r#"{"site": "shanghai", "role": "pos"}"#;
    let reply = hub
        .send(post_json("/api/v1/enrollment-tokens", &hub.key, body))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    assert_utc_near(&reply.body["expires_at"], Duration::hours(24));
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
            r#"{"site": "s1", "role": "pos", "tenant": "beta"}"#,
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
        let reply = hub
            .send(post_json("/api/v1/enrollment-tokens", &hub.key, body))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), "bad_request");
        assert!(
            reply.error_message().contains(needle),
            "{body}: {:?} lacks {needle:?}",
            reply.error_message()
        );
    }

    let no_content_type = Request::post("/api/v1/enrollment-tokens")
        .header(header::AUTHORIZATION, format!("Bearer {}", hub.key))
        .body(Body::from(r#"{"site": "s1", "role": "pos"}"#))
        .unwrap();
    let reply = hub.send(no_content_type).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.error_message().contains("content-type"));
}

#[tokio::test]
async fn oversized_bodies_are_413_json() {
    let hub = hub();
    let body = format!(
        r#"{{"site": "s1", "role": "pos", "pad": "{}"}}"#,
        "x".repeat(xt_mobile_api::REQUEST_BODY_BYTES_MAX)
    );
    let reply = hub
        .send(post_json("/api/v1/enrollment-tokens", &hub.key, &body))
        .await;
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
        let reply = hub
            .send(get(&format!("/api/v1/stock?{query}"), Some(&hub.key)))
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.text
        );
        assert_eq!(reply.error_code(), "bad_request");
        assert!(
            reply.error_message().contains(needle),
            "{query}: {:?} lacks {needle:?}",
            reply.error_message()
        );
    }
}

/// Walks every page with `limit` and returns the `warehouse/sku` of each row, in order.
async fn walk_stock(hub: &Env, key: &str, filter: &str, limit: u32) -> Vec<String> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..100 {
        let mut path = format!("/api/v1/stock?limit={limit}{filter}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply: Reply = hub.send(get(&path, Some(key))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
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
    let hub = seeded(25);
    for limit in [1, 3, 7, 25, 1000] {
        let rows = walk_stock(&hub, &hub.key, "", limit).await;
        assert_eq!(rows.len(), 25, "limit {limit}");
        let unique: BTreeSet<&String> = rows.iter().collect();
        assert_eq!(unique.len(), 25, "limit {limit}: duplicates");
        assert!(
            rows.windows(2).all(|w| w[0] < w[1]),
            "limit {limit}: out of order"
        );
        assert!(rows.iter().all(|r| r.starts_with("WH-")));
    }

    // Filters combine with paging; tenant beta sees only its own five rows.
    let rows = walk_stock(&hub, &hub.key, "&warehouse=WH-2", 4).await;
    assert_eq!(rows.len(), 12);
    assert!(rows.iter().all(|r| r.starts_with("WH-2/")));
    let rows = walk_stock(&hub, &hub.key, "&sku_prefix=SKU-001", 2).await;
    assert_eq!(rows.len(), 10);
    let rows = walk_stock(&hub, &hub.key, "&sku=SKU-0003", 2).await;
    assert_eq!(rows, ["WH-2/SKU-0003"]);
    assert_eq!(walk_stock(&hub, BETA_KEY, "", 2).await.len(), 5);

    // The default limit applies without one.
    let reply = hub.send(get("/api/v1/stock", Some(&hub.key))).await;
    assert_eq!(reply.body["items"].as_array().unwrap().len(), 25);
    assert_eq!(reply.body["next_cursor"], Value::Null);
    assert_utc_near(&reply.body["items"][0]["updated_at"], Duration::ZERO);
    // Beta's rows are its own, not acme's of the same warehouse and SKU.
    let reply = hub
        .send(get("/api/v1/stock?sku=SKU-0000", Some(BETA_KEY)))
        .await;
    assert_eq!(reply.body["items"][0]["on_hand"], 1000, "{}", reply.text);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let hub = hub();
    let reply = hub.send(get("/api/v1/nothing", Some(&hub.key))).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.error_code(), "not_found");
    assert_eq!(reply.error_message(), "no route for GET /api/v1/nothing");

    let reply = hub
        .send(get("/api/v1/enrollment-tokens", Some(&hub.key)))
        .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.error_code(), "method_not_allowed");
}
