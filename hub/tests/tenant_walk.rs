//! The tenant-isolation walk: every route of the OpenAPI document, sent with tenant A's
//! credentials (an API key and a user's access token) against tenant B's ids, answers 403 or
//! 404; routes without ids answer A nothing of B's. One real hub (`xt_hub::cli::start`) over a
//! temp redb, real HTTP on 127.0.0.1. The route list is read from the running hub's
//! `/api/v1/openapi.json`, so new routes are walked without touching this file — unless they
//! take a path parameter or a body this file does not know yet, which fails with a message
//! saying what to add.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use support::{PASSWORD, apply, register_agent, stock};
use xt_hub::cli::{Running, add_tenant, init_hub, start};
use xt_shared::ids::{AgentId, TenantId};
/// Most bytes of an event stream read while waiting for A's own first event.
const STREAM_BYTES_MAX: usize = 64 * 1024;

// Markers chosen so that nothing but tenant B's own data can contain them.
const A_AGENT: &str = "ag-alpha-walk";
const A_SKU: &str = "SKU-ALPHA-WALK";
const B_AGENT: &str = "ag-beta-zq7";
const B_USERNAME: &str = "beta-only-zq7";
const B_WAREHOUSE: &str = "WH-BETA-ZQ7";
const B_SKU: &str = "SKU-BETA-ZQ7";
const B_KEY_NAME: &str = "beta-partner-zq7";
const B_SHOP_NAME: &str = "beta-shop-zq7";
const B_SHOP_URL: &str = "http://127.0.0.1:9/beta-zq7";
const B_ORDER_NO: &str = "7700990011223";
const B_RECEIVER: &str = "beta-receiver-zq7";
const B_DELIVERY: &str = "DL-BETA-ZQ7";

/// A phone warehouse of code `code`, as A would configure it.
fn walked_warehouse(code: &str) -> Value {
    json!({"code": code, "name": "walker", "kind": "phone",
        "coverage": {"provinces": [], "cities": []},
        "priority": 1, "cost": {"minor": 0, "currency": "CNY"}})
}

/// An order of B's shop, with markers in the fields a listing shows.
fn b_order() -> xt_shared::order::StandardOrder {
    let raw: Value = serde_json::from_str(include_str!(
        "fixtures/channels/shopify/paid-unfulfilled-multi-line.json"
    ))
    .unwrap();
    let mut order =
        xt_hub::shops::channels::parse_order(xt_shared::order::Platform::Shopify, &raw).unwrap();
    order.platform_order_no = xt_shared::ids::DocNo::new(B_ORDER_NO).unwrap();
    order.receiver.name = Some(B_RECEIVER.to_owned());
    order.buyer.email_sha256 = Some("beta-email-hash-zq7".to_owned());
    order
}

/// Routes not walked with B's ids, and why. Each must exist in the document.
const NOT_WALKED_WITH_B: &[(&str, &str, &str)] = &[
    // The credential is the body: B's tenant/username/password here is B signing in, by
    // design. Walked as A (A's own body) for leaks only.
    ("post", "/api/v1/auth/login", "the body is the credential"),
    // Same for B's refresh token: presenting it is B refreshing or signing out.
    ("post", "/api/v1/auth/refresh", "the body is the credential"),
    ("post", "/api/v1/auth/logout", "the body is the credential"),
];

struct World {
    _dir: tempfile::TempDir,
    running: Running,
    base: String,
    http: reqwest::Client,
    a_key: String,
    a_access: String,
    a_refresh: String,
    b_key: String,
    b_key_id: String,
    b_shop_id: String,
    b_order_no: String,
    b_member_id: String,
    b_mapping_id: String,
}

impl World {
    async fn send(
        &self,
        method: &Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        // Event streams replay from the start of the log, so a leak of B's (older) events
        // would be in what they send; other routes ignore the header.
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("last-event-id", "0");
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        req.send().await.unwrap()
    }

    async fn json(&self, method: Method, path: &str, bearer: &str, body: Option<Value>) -> Value {
        let r = self.send(&method, path, Some(bearer), body.as_ref()).await;
        assert!(r.status().is_success(), "{method} {path}: {}", r.status());
        r.json().await.unwrap()
    }

    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let a = TenantId::new("alpha").unwrap();
        let b = TenantId::new("beta").unwrap();
        let a_made = init_hub(dir.path(), &a).unwrap();
        let running = start(&support::loopback_serve_args(dir.path()))
            .await
            .unwrap();
        let b_made = add_tenant(running.hub.store(), &b).unwrap();
        // B's data first, so a leak into A's event stream would come before A's own events.
        let b_agent = register_agent(&running.hub, &b, B_AGENT, "s1");
        apply(
            &running.hub,
            &b_agent,
            "wms",
            vec![stock(1, 1, B_WAREHOUSE, B_SKU, 7)],
        );
        let a_agent = register_agent(&running.hub, &a, A_AGENT, "s1");
        apply(
            &running.hub,
            &a_agent,
            "wms",
            vec![stock(1, 1, "WH1", A_SKU, 7)],
        );
        let mut world = World {
            base: format!("http://{}", running.http_addr),
            _dir: dir,
            running,
            http: reqwest::Client::new(),
            a_key: a_made.admin_key,
            a_access: String::new(),
            a_refresh: String::new(),
            b_key: b_made.admin_key,
            b_key_id: String::new(),
            b_shop_id: String::new(),
            b_order_no: B_ORDER_NO.to_owned(),
            b_member_id: String::new(),
            b_mapping_id: String::new(),
        };
        let b_key = world.b_key.clone();
        world
            .json(
                Method::POST,
                "/api/v1/users",
                &b_key,
                Some(json!({"username": B_USERNAME, "password": PASSWORD,
                    "roles": ["warehouse"], "warehouses": [B_WAREHOUSE]})),
            )
            .await;
        let made = world
            .json(
                Method::POST,
                "/api/v1/api-keys",
                &b_key,
                Some(json!({"name": B_KEY_NAME, "scopes": ["stock:read"]})),
            )
            .await;
        world.b_key_id = made["key"]["id"].as_str().unwrap().to_owned();
        let shop = world
            .json(
                Method::POST,
                "/api/v1/shops",
                &b_key,
                Some(json!({"platform": "shopify", "name": B_SHOP_NAME,
                    "api_base_url": B_SHOP_URL, "credentials": {
                        "shop_domain": "beta-zq7.myshopify.com", "access_token": "shpat_beta",
                        "webhook_secret": "whsec_beta"}})),
            )
            .await;
        world.b_shop_id = shop["id"].as_str().unwrap().to_owned();
        let b_order = b_order();
        world
            .running
            .hub
            .store()
            .apply_shop_items(
                &TenantId::new("beta").unwrap(),
                &world.b_shop_id,
                vec![xt_hub::shops::channels::Captured::Order {
                    raw: String::new(),
                    order: b_order,
                }],
                xt_hub::hub::now_ms(),
            )
            .unwrap();
        let stored = world
            .running
            .hub
            .store()
            .order(
                &TenantId::new("beta").unwrap(),
                &world.b_shop_id,
                B_ORDER_NO,
            )
            .unwrap()
            .unwrap();
        world.b_member_id = stored.member.expect("B's buyer is a member");
        let mapping = world
            .json(
                Method::POST,
                "/api/v1/sku-mappings",
                &b_key,
                Some(json!({"platform": "shopify", "merchant_sku": B_SKU, "sku": B_SKU})),
            )
            .await;
        world.b_mapping_id = mapping["id"].as_str().unwrap().to_owned();
        let login = json!({"tenant": "alpha", "username": a_made.owner_user,
            "password": a_made.owner_password});
        let r = world
            .send(&Method::POST, "/api/v1/auth/login", None, Some(&login))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let pair: Value = r.json().await.unwrap();
        world.a_access = pair["access_token"].as_str().unwrap().to_owned();
        world.a_refresh = pair["refresh_token"].as_str().unwrap().to_owned();
        world
    }

    fn b_markers(&self) -> Vec<&str> {
        vec![
            B_AGENT,
            B_USERNAME,
            B_WAREHOUSE,
            B_SKU,
            B_KEY_NAME,
            &self.b_key_id,
            B_SHOP_NAME,
            B_SHOP_URL,
            &self.b_shop_id,
            B_ORDER_NO,
            B_RECEIVER,
            B_DELIVERY,
            &self.b_member_id,
            &self.b_mapping_id,
            "beta",
        ]
    }

    /// B's id for path parameter `name` of `path`, or a failure saying what to add.
    fn b_param(&self, path: &str, name: &str) -> String {
        match (name, path) {
            ("id", p) if p.starts_with("/api/v1/agents/") => B_AGENT.to_owned(),
            ("id", p) if p.starts_with("/api/v1/api-keys/") => self.b_key_id.clone(),
            ("id", p) if p.starts_with("/api/v1/shops/") => self.b_shop_id.clone(),
            ("id", p) if p.starts_with("/api/v1/orders/") => {
                format!("{}:{}", self.b_shop_id, self.b_order_no)
            }
            ("id", p) if p.starts_with("/api/v1/members/") => self.b_member_id.clone(),
            ("id", p) if p.starts_with("/api/v1/sku-mappings/") => self.b_mapping_id.clone(),
            ("platform", p) if p.starts_with("/api/v1/webhooks/") => "shopify".to_owned(),
            ("shop", p) if p.starts_with("/api/v1/webhooks/") => self.b_shop_id.clone(),
            ("username", p) if p.starts_with("/api/v1/users/") => B_USERNAME.to_owned(),
            ("id", p) if p.starts_with("/api/v1/fulfilment/orders/") => {
                format!("{}:{}", self.b_shop_id, self.b_order_no)
            }
            ("code", p) if p.starts_with("/api/v1/warehouses/") => B_WAREHOUSE.to_owned(),
            ("delivery_no", p) if p.starts_with("/api/v1/deliveries/") => B_DELIVERY.to_owned(),
            ("tenant", p) if p.starts_with("/api/v1/callbacks/") => "beta".to_owned(),
            ("warehouse", p) if p.starts_with("/api/v1/callbacks/") => B_WAREHOUSE.to_owned(),
            _ => panic!(
                "the tenant walk does not know path parameter {{{name}}} of {path}: add tenant \
                 B's value for it to World::b_param in hub/tests/tenant_walk.rs"
            ),
        }
    }

    /// A plausible body for an operation that takes one, or a failure saying what to add.
    fn body(&self, method: &str, path: &str) -> Value {
        match (method, path) {
            ("post", "/api/v1/enrollment-tokens") => json!({"site": "s1", "role": "pos"}),
            ("post", "/api/v1/users") => json!({"username": "walker", "password": PASSWORD,
                "roles": ["manager"]}),
            ("patch", "/api/v1/users/{username}") => {
                json!({"disabled": true, "roles": ["owner"]})
            }
            ("post", "/api/v1/api-keys") => json!({"name": "walker", "scopes": ["owner"]}),
            ("post", "/api/v1/shops") => json!({"platform": "jd", "name": "walker",
                "api_base_url": "http://127.0.0.1:9", "credentials": {"app_key": "walker-key",
                "app_secret": "walker-secret", "access_token": "walker-token"}}),
            ("post", "/api/v1/sku-mappings") => {
                json!({"platform": "jd", "merchant_sku": "WALK-1", "sku": "WALK-1"})
            }
            ("post", "/api/v1/shops/{id}/backfill") => {
                json!({"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"})
            }
            // The webhook's credential is the signature over this body (none here).
            ("post", "/api/v1/webhooks/{platform}/{shop}") => json!({"id": 1}),
            ("patch", "/api/v1/shops/{id}") => json!({"name": "walked", "enabled": false,
                "api_base_url": "http://127.0.0.1:9/walked"}),
            ("post", "/api/v1/auth/login") => json!({"tenant": "alpha", "username": "admin",
                "password": "not the password"}),
            ("post", "/api/v1/fulfilment/orders/{id}/actions") => {
                json!({"action": "cancel", "reason": "walker"})
            }
            ("put", "/api/v1/fulfilment/settings") => {
                serde_json::to_value(xt_mobile_api::fulfilment::FulfilmentSettings::default())
                    .unwrap()
            }
            ("post", "/api/v1/warehouses") => walked_warehouse("WALK-1"),
            // The body names the path's code (B's), as a change of that warehouse would.
            ("put", "/api/v1/warehouses/{code}") => walked_warehouse(B_WAREHOUSE),
            ("post", "/api/v1/deliveries/{delivery_no}/confirm") => {
                json!({"carrier": "SF", "tracking_no": "WALK1"})
            }
            ("post", "/api/v1/deliveries/{delivery_no}/exception") => {
                json!({"kind": "out_of_stock"})
            }
            // The callback's credential is the Qimen signature in the query (none here).
            ("post", "/api/v1/callbacks/qimen/{tenant}/{warehouse}") => {
                json!({"deliveryOrder": {"deliveryOrderCode": B_DELIVERY}})
            }
            ("post", "/api/v1/auth/refresh" | "/api/v1/auth/logout") => {
                json!({"refresh_token": self.a_refresh})
            }
            _ => panic!(
                "the tenant walk has no request body for {method} {path}: add a plausible one \
                 to World::body in hub/tests/tenant_walk.rs"
            ),
        }
    }

    /// The response text; for an event stream, what arrived up to A's own first event (B's
    /// events, being older, would have come before it).
    async fn text(&self, mut r: reqwest::Response) -> String {
        let streaming = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !streaming {
            return r.text().await.unwrap();
        }
        let mut text = String::new();
        while !text.contains(A_SKU) {
            assert!(
                text.len() < STREAM_BYTES_MAX,
                "no event of A's in the stream's first {STREAM_BYTES_MAX} bytes: {text}"
            );
            // A safety net so a broken stream fails instead of hanging, not a timing assertion.
            let chunk = tokio::time::timeout(Duration::from_secs(60), r.chunk())
                .await
                .expect("event stream went quiet before A's own event")
                .unwrap()
                .expect("event stream ended before A's own event");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    }
}

#[tokio::test]
async fn tenant_a_gets_nothing_of_tenant_b_on_any_route() {
    let world = World::new().await;
    let doc: Value = world
        .send(&Method::GET, "/api/v1/openapi.json", None, None)
        .await
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().expect("paths");
    for (method, path, why) in NOT_WALKED_WITH_B {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "allow-listed {method} {path} ({why}) is not a route any more: remove it"
        );
    }
    let mut walked = BTreeMap::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let names: Vec<&str> = path
                .split('{')
                .skip(1)
                .map(|p| p.split('}').next().unwrap())
                .collect();
            let body = op.get("requestBody").map(|_| world.body(method, path));
            for (who, bearer) in [("A's api key", &world.a_key), ("A's user", &world.a_access)] {
                if names.is_empty() {
                    let r = world
                        .send(&http_method, path, Some(bearer), body.as_ref())
                        .await;
                    let status = r.status();
                    let text = world.text(r).await;
                    // A 500 would hide a leak the router caught at the last moment.
                    assert!(
                        !status.is_server_error(),
                        "{method} {path} as {who} answered {status}: {text}"
                    );
                    for marker in world.b_markers() {
                        assert!(
                            !text.contains(marker),
                            "{method} {path} as {who} ({status}) shows B's {marker:?}: {text}"
                        );
                    }
                } else {
                    let mut concrete = path.clone();
                    for name in &names {
                        concrete =
                            concrete.replace(&format!("{{{name}}}"), &world.b_param(path, name));
                    }
                    let r = world
                        .send(&http_method, &concrete, Some(bearer), body.as_ref())
                        .await;
                    let status = r.status();
                    let text = r.text().await.unwrap();
                    // A webhook's (a 3PL callback's) credential is the platform's (the 3PL's)
                    // signature, not A's bearer: on B's shop (warehouse) without B's signature
                    // it is refused before anything is read.
                    let signed_route = path.starts_with("/api/v1/webhooks/")
                        || path.starts_with("/api/v1/callbacks/");
                    assert!(
                        matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND)
                            || (signed_route && status == StatusCode::UNAUTHORIZED),
                        "{method} {concrete} as {who} answered {status}: {text}"
                    );
                }
                *walked.entry((method.clone(), path.clone())).or_insert(0) += 1;
            }
        }
    }
    assert!(walked.len() >= 20, "walked only {walked:?}");

    // B is untouched: its agent, user and key are as they were, and its key still reads its
    // stock (so the markers were there to be leaked).
    let b = TenantId::new("beta").unwrap();
    let agent = world
        .running
        .hub
        .store()
        .agent(&AgentId::new(B_AGENT).unwrap());
    assert!(agent.unwrap().unwrap().revoked_at.is_none());
    let user = world
        .running
        .hub
        .store()
        .user(&b, B_USERNAME)
        .unwrap()
        .unwrap();
    assert!(!user.disabled);
    assert_eq!(user.roles, vec![xt_mobile_api::Role::Warehouse]);
    let keys = world.running.hub.store().api_keys(&b).unwrap();
    let key = keys.iter().find(|k| k.id == world.b_key_id).unwrap();
    assert!(key.revoked_at.is_none());
    let shop = world
        .running
        .hub
        .store()
        .shop(&b, &world.b_shop_id)
        .unwrap()
        .unwrap();
    assert_eq!(
        (shop.name.as_str(), shop.api_base_url.as_str(), shop.enabled),
        (B_SHOP_NAME, B_SHOP_URL, true)
    );
    assert_eq!(shop.created_at, shop.updated_at);
    let stock = world
        .json(Method::GET, "/api/v1/stock", &world.b_key, None)
        .await;
    assert!(stock.to_string().contains(B_SKU), "{stock}");
    world.running.shutdown().await;
}
