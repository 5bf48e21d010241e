//! `GET /api/v1/events` over the real hub: the router called directly (tower `oneshot`), the
//! Server-Sent Events body read frame by frame while batches are applied.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::{Env, PASSWORD, acme, apply, env, request, stock};
use tower::ServiceExt as _;
use xt_hub::api::HttpApi;
use xt_hub::events::log::LogRetention;
use xt_hub::hub::{Authorized, now_ms};
use xt_hub::shops::channels::capture_order;
use xt_hub::store::{AgentLogged, AgentRecord};
use xt_mobile_api::events::EVENTS_REAUTH_INTERVAL;
use xt_mobile_api::{EventStreamLimits, Principal, RouterOptions, Scope};
use xt_shared::ids::{AgentId, SiteId, TenantId};
use xt_shared::model::UtcMillis;
use xt_shared::order::Platform;
use xt_shared::protocol::AgentRole;

/// How long to wait for events that should not come.
const QUIET: Duration = Duration::from_millis(700);
/// How long to wait for events that should come.
const PATIENCE: Duration = Duration::from_secs(5);

/// An agent as the hub knows it after authorizing its certificate (not registered in the store:
/// these tests read the change log only).
fn who(tenant: &str, agent: &str) -> Authorized {
    Authorized {
        agent: AgentId::new(agent).unwrap(),
        record: AgentRecord {
            tenant: TenantId::new(tenant).unwrap(),
            site: SiteId::new("s1").unwrap(),
            role: AgentRole::Warehouse,
            enrolled_at: UtcMillis(0),
            cert_serial: "00".into(),
            cert_not_after: UtcMillis(0),
            prev_cert_serial: None,
            revoked_at: None,
            last_seen: None,
        },
    }
}

/// One parsed event: its id and JSON data.
#[derive(Debug)]
struct Ev {
    id: u64,
    data: Value,
}

struct Stream {
    body: Body,
    buf: String,
}

impl Stream {
    /// Reads events until `n` arrived or `wait` passed.
    async fn events(&mut self, n: usize, wait: Duration) -> Vec<Ev> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = Some(v.trim().parse().unwrap());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(id) = id {
                    out.push(Ev {
                        id,
                        data: serde_json::from_str(&data).unwrap(),
                    });
                }
            }
            if out.len() >= n {
                return out;
            }
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Ok(bytes) = frame.into_data() {
                        self.buf.push_str(std::str::from_utf8(&bytes).unwrap());
                    }
                }
                Ok(_) | Err(_) => return out,
            }
        }
    }
}

impl Stream {
    /// Whether the stream ends (the body finishes) within `wait`; events on the way are skipped.
    async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.frame()).await {
                Ok(None) => return true,
                Ok(Some(Ok(_))) => {}
                Ok(Some(Err(e))) => panic!("stream broke: {e}"),
                Err(_) => return false,
            }
        }
    }
}

/// A GET of the event stream with `bearer`, sending `Last-Event-ID: last_id` if given.
fn events_request(bearer: &str, last_id: Option<&str>, query: &str) -> Request<Body> {
    let mut req = request(
        Method::GET,
        &format!("/api/v1/events{query}"),
        Some(bearer),
        None,
    );
    if let Some(id) = last_id {
        req.headers_mut()
            .insert("last-event-id", id.parse().unwrap());
    }
    req
}

impl Env {
    async fn open(&self, bearer: &str, last_id: Option<&str>, query: &str) -> Stream {
        let req = events_request(bearer, last_id, query);
        let response = self.router.clone().oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let ct = response.headers()["content-type"].to_str().unwrap();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        Stream {
            body: response.into_body(),
            buf: String::new(),
        }
    }
}

fn skus(ev: &Ev) -> Vec<String> {
    ev.data["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["warehouse"].as_str().unwrap(),
                c["sku"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn replays_in_order_and_resumes_after_an_id() {
    let env = env();
    let a = who("acme", "ag-1");
    apply(&env.hub, &a, "wms", vec![stock(1, 1, "WH1", "A", 5)]);
    apply(
        &env.hub,
        &a,
        "wms",
        vec![stock(2, 2, "WH2", "B", 6), stock(3, 3, "WH1", "C", 7)],
    );
    apply(&env.hub, &a, "wms", vec![stock(4, 4, "WH1", "D", 8)]);

    let mut s = env.open(&env.key, Some("0"), "").await;
    let evs = s.events(3, PATIENCE).await;
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert!(evs.windows(2).all(|w| w[0].id < w[1].id), "{evs:?}");
    for ev in &evs {
        assert_eq!(ev.data["kind"], "stock_changed");
        assert_eq!(ev.data["agent"], "ag-1");
        assert_eq!(ev.data["source"], "wms");
    }
    assert_eq!(skus(&evs[0]), ["WH1/A"]);
    assert_eq!(skus(&evs[1]), ["WH2/B", "WH1/C"]);
    assert_eq!(
        evs[1].data["changes"][0],
        json!({"warehouse": "WH2", "sku": "B", "on_hand": 6, "version": 2})
    );
    assert_eq!(evs[1].data["total"], 2);

    let first = evs[0].id.to_string();
    let mut s = env.open(&env.key, Some(&first), "").await;
    let resumed = s.events(2, PATIENCE).await;
    let ids: Vec<u64> = resumed.iter().map(|e| e.id).collect();
    assert_eq!(ids, [evs[1].id, evs[2].id]);

    let mut s = env.open(&env.key, None, &format!("?after={first}")).await;
    assert_eq!(s.events(2, PATIENCE).await.len(), 2);
    // Nothing more is replayed.
    assert!(s.events(1, QUIET).await.is_empty());
}

#[tokio::test]
async fn a_tenant_sees_none_of_another_tenants_events() {
    let env = env();
    let key_b = env.add_beta();
    apply(
        &env.hub,
        &who("acme", "ag-1"),
        "wms",
        vec![stock(1, 1, "WH1", "A", 5)],
    );
    apply(
        &env.hub,
        &who("beta", "ag-2"),
        "wms",
        vec![stock(1, 1, "WB", "Z", 1)],
    );

    let mut b = env.open(&key_b, Some("0"), "").await;
    let evs = b.events(2, QUIET).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].data["agent"], "ag-2");

    let mut a = env.open(&env.key, Some("0"), "").await;
    let evs = a.events(2, QUIET).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].data["agent"], "ag-1");
}

#[tokio::test]
async fn a_warehouse_user_sees_only_its_warehouses_rows() {
    let env = env();
    let user = env.add_user("wh1", &["warehouse"], &["WH1"]).await;
    assert_eq!(user["username"], "wh1", "{user}");
    let (token, _) = env.tokens("acme", "wh1", PASSWORD).await;

    let a = who("acme", "ag-1");
    apply(&env.hub, &a, "wms", vec![stock(1, 1, "WH2", "X", 1)]);
    apply(
        &env.hub,
        &a,
        "wms",
        vec![stock(2, 2, "WH1", "A", 2), stock(3, 3, "WH2", "Y", 3)],
    );
    env.hub
        .store()
        .log_agent_event(AgentLogged {
            tenant: TenantId::new("acme").unwrap(),
            agent: AgentId::new("ag-1").unwrap(),
            site: SiteId::new("s1").unwrap(),
            connected: true,
            at: UtcMillis(0),
        })
        .unwrap();

    let mut s = env.open(&token, Some("0"), "").await;
    let evs = s.events(3, QUIET).await;
    // No agent events: the warehouse role lacks agents:read.
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].id, 2);
    assert_eq!(skus(&evs[0]), ["WH1/A"]);
    assert_eq!(evs[0].data["total"], 1);

    // The owner key sees every row.
    let mut s = env.open(&env.key, Some("0"), "").await;
    let evs = s.events(3, PATIENCE).await;
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert_eq!(skus(&evs[1]), ["WH1/A", "WH2/Y"]);
}

#[tokio::test]
async fn live_events_follow_and_old_ones_are_not_replayed_without_an_id() {
    let env = env();
    let a = who("acme", "ag-1");
    apply(&env.hub, &a, "wms", vec![stock(1, 1, "WH1", "OLD", 1)]);

    let mut s = env.open(&env.key, None, "").await;
    assert!(s.events(1, Duration::from_millis(300)).await.is_empty());

    let hub = Arc::clone(&env.hub);
    let writer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        apply(&hub, &a, "wms", vec![stock(2, 2, "WH1", "NEW", 2)]);
    });
    let evs = s.events(1, PATIENCE).await;
    writer.await.unwrap();
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].id, 2);
    assert_eq!(skus(&evs[0]), ["WH1/NEW"]);

    // Agent connections are events too, woken up by the hub.
    env.hub
        .store()
        .log_agent_event(AgentLogged {
            tenant: TenantId::new("acme").unwrap(),
            agent: AgentId::new("ag-1").unwrap(),
            site: SiteId::new("s1").unwrap(),
            connected: false,
            at: UtcMillis(0),
        })
        .unwrap();
    env.hub.log_changed();
    let evs = s.events(1, PATIENCE).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].id, 3);
    assert_eq!(evs[0].data["kind"], "agent_disconnected");
}

#[tokio::test]
async fn a_bad_last_event_id_or_credential_is_refused() {
    let env = env();
    let r = env.send(events_request(&env.key, Some("x1"), "")).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = env.send(events_request("xtk_nope", Some("1"), "")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn agent_events_need_agents_read() {
    let env = env();
    let a = who("acme", "ag-1");
    apply(&env.hub, &a, "wms", vec![stock(1, 1, "WH1", "A", 1)]);
    for connected in [true, false] {
        env.hub
            .store()
            .log_agent_event(AgentLogged {
                tenant: TenantId::new("acme").unwrap(),
                agent: AgentId::new("ag-1").unwrap(),
                site: SiteId::new("s1").unwrap(),
                connected,
                at: UtcMillis(0),
            })
            .unwrap();
    }
    // finance reads stock and events but not agents (GET /api/v1/agents is 403 to it).
    env.add_user("books", &["finance"], &[]).await;
    let (finance, _) = env.tokens("acme", "books", PASSWORD).await;
    let r = env
        .call(Method::GET, "/api/v1/agents", Some(&finance), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let mut s = env.open(&finance, Some("0"), "").await;
    let evs = s.events(3, QUIET).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].data["kind"], "stock_changed");

    // manager reads agents, so it sees them come and go.
    env.add_user("mgr", &["manager"], &[]).await;
    let (manager, _) = env.tokens("acme", "mgr", PASSWORD).await;
    let mut s = env.open(&manager, Some("0"), "").await;
    let kinds: Vec<Value> = s
        .events(3, PATIENCE)
        .await
        .into_iter()
        .map(|e| e.data["kind"].clone())
        .collect();
    assert_eq!(
        kinds,
        [
            json!("stock_changed"),
            json!("agent_connected"),
            json!("agent_disconnected")
        ]
    );
}

/// An agent connection of `tenant`, as the hub logs it.
fn connected(tenant: &str, agent: &str) -> AgentLogged {
    AgentLogged {
        tenant: TenantId::new(tenant).unwrap(),
        agent: AgentId::new(agent).unwrap(),
        site: SiteId::new("s1").unwrap(),
        connected: true,
        at: UtcMillis(0),
    }
}

/// The bound within which a stream must notice its credential changed.
const RECHECK_BOUND: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_revoked_keys_stream_ends_within_5s() {
    let env = env();
    let r = env
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(&env.key),
            Some(json!({"name": "feed", "scopes": ["events:read"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let (id, secret) = (
        r.body["key"]["id"].as_str().unwrap().to_owned(),
        r.body["secret"].as_str().unwrap().to_owned(),
    );
    let mut s = env.open(&secret, None, "").await;
    let a = who("acme", "ag-1");
    apply(&env.hub, &a, "wms", vec![stock(1, 1, "WH1", "A", 1)]);
    env.hub.log_changed();
    assert_eq!(s.events(1, PATIENCE).await.len(), 1, "the stream is live");

    let r = env
        .call(
            Method::POST,
            &format!("/api/v1/api-keys/{id}/revoke"),
            Some(&env.key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        s.ends_within(RECHECK_BOUND).await,
        "a revoked key still streams"
    );
}

#[tokio::test]
async fn a_disabled_users_stream_ends_within_5s() {
    let env = env();
    let token = env.user_token("mgr", &["manager"], &[]).await;
    let mut s = env.open(&token, None, "").await;
    let r = env
        .call(
            Method::PATCH,
            "/api/v1/users/mgr",
            Some(&env.key),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        s.ends_within(RECHECK_BOUND).await,
        "a disabled user still streams"
    );
}

#[tokio::test]
async fn a_role_change_narrows_the_stream_within_5s() {
    let env = env();
    let token = env.user_token("mgr", &["manager"], &[]).await;
    let mut s = env.open(&token, None, "").await;
    let a = who("acme", "ag-1");
    apply(
        &env.hub,
        &a,
        "wms",
        vec![stock(1, 1, "WH1", "A", 1), stock(2, 2, "WH2", "B", 1)],
    );
    env.hub.log_changed();
    let evs = s.events(1, PATIENCE).await;
    assert_eq!(skus(&evs[0]), ["WH1/A", "WH2/B"]);

    let r = env
        .call(
            Method::PATCH,
            "/api/v1/users/mgr",
            Some(&env.key),
            Some(json!({"roles": ["warehouse"], "warehouses": ["WH1"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Past one re-check interval (and a poll), still well within the bound.
    tokio::time::sleep(EVENTS_REAUTH_INTERVAL + Duration::from_millis(800)).await;
    assert!(EVENTS_REAUTH_INTERVAL + Duration::from_millis(800) < RECHECK_BOUND);
    apply(
        &env.hub,
        &a,
        "wms",
        vec![stock(3, 3, "WH1", "C", 1), stock(4, 4, "WH2", "D", 1)],
    );
    env.hub.log_changed();
    let evs = s.events(1, PATIENCE).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(skus(&evs[0]), ["WH1/C"], "the stream did not narrow");
}

#[tokio::test]
async fn an_expired_access_tokens_stream_ends_at_its_expiry() {
    let env = env();
    env.add_user("mgr", &["manager"], &[]).await;
    let user = env.hub.store().user(&acme(), "mgr").unwrap().unwrap();
    // Issued so that it expires in about two seconds; the hub's clock leeway would still
    // accept it for a while after that, so only the stream's own expiry check can end it.
    let ttl_ms = xt_hub::identity::ACCESS_TOKEN_TTL.as_millis() as i64;
    let token = xt_hub::identity::jwt::issue(
        env.hub.store(),
        env.hub.master_key(),
        UtcMillis(now_ms().0 - ttl_ms + 2_000),
        &user.id,
        "mgr",
        &acme(),
        &user.roles,
        &user.warehouses,
    )
    .unwrap();
    let mut s = env.open(&token, None, "").await;
    assert!(
        s.ends_within(Duration::from_secs(3) + RECHECK_BOUND).await,
        "an expired token still streams"
    );
}

/// The router over `env`'s hub with stream caps of 2 per tenant and 3 in all.
fn capped_router(env: &Env) -> axum::Router {
    xt_mobile_api::router_with(
        HttpApi::new(Arc::clone(&env.hub)).domains(),
        RouterOptions {
            event_streams: EventStreamLimits {
                per_tenant_max: 2,
                hub_max: 3,
            },
            ..RouterOptions::default()
        },
    )
}

#[tokio::test]
async fn event_streams_are_capped_per_tenant_and_hub_wide() {
    let env = env();
    let key_b = env.add_beta();
    let router = capped_router(&env);
    let open = |bearer: String| {
        let router = router.clone();
        async move {
            router
                .oneshot(events_request(&bearer, None, ""))
                .await
                .unwrap()
        }
    };
    let a1 = open(env.key.clone()).await;
    let a2 = open(env.key.clone()).await;
    assert_eq!((a1.status(), a2.status()), (StatusCode::OK, StatusCode::OK));
    let a3 = open(env.key.clone()).await;
    assert_eq!(a3.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(a3.headers().contains_key("retry-after"));
    let body = a3.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");

    // Another tenant has its own cap, under the hub-wide one.
    let b1 = open(key_b.clone()).await;
    assert_eq!(b1.status(), StatusCode::OK);
    let b2 = open(key_b.clone()).await;
    assert_eq!(b2.status(), StatusCode::TOO_MANY_REQUESTS, "hub-wide cap");

    // A client going away frees its slot.
    drop(a1);
    let a4 = open(env.key.clone()).await;
    assert_eq!(a4.status(), StatusCode::OK);
    drop((a2, a4, b1));
    assert_eq!(open(key_b).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn event_replay_reads_only_the_callers_tenant() {
    let env = env();
    env.add_beta();
    for i in 0..40 {
        env.hub
            .store()
            .log_agent_event(connected("beta", &format!("ag-b{i}")))
            .unwrap();
    }
    let a = who("acme", "ag-1");
    apply(&env.hub, &a, "wms", vec![stock(1, 1, "WH1", "A", 1)]);

    // Acme's log holds acme's entry only, whatever beta wrote.
    let api = HttpApi::new(Arc::clone(&env.hub)).domains().events;
    let owner = Principal::api_key(acme(), "key-test".into(), vec![Scope::Owner]);
    let page = api.events_after(&owner, Some(0), 10).unwrap();
    let ids: Vec<u64> = page.events.iter().map(|e| e.id).collect();
    assert_eq!(ids, [1]);
    assert_eq!(page.last_key, 1);
    // Nothing further: the next page is empty and stays put.
    let page = api.events_after(&owner, Some(1), 10).unwrap();
    assert!(page.events.is_empty());
    assert_eq!(page.last_key, 1);
    // And the store reads acme's entries only.
    let rows = env.hub.store().tenant_log_page(&acme(), 0, 10).unwrap();
    assert_eq!(rows.entries.len(), 1);
}

/// A Taobao order from the parser fixtures, captured through the hub's one ingest path.
fn ingest_taobao(env: &Env, shop: &str, name: &str, tweak: impl FnOnce(&mut Value)) {
    let path = format!(
        "{}/tests/fixtures/channels/taobao/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut raw: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    tweak(&mut raw);
    let items = capture_order(Platform::Taobao, &raw.to_string());
    env.hub.ingest_shop_items(&acme(), shop, items).unwrap();
}

#[tokio::test]
async fn captured_orders_and_capture_errors_reach_the_stream_of_orders_readers_only() {
    let env = env();
    let manager = env.user_token("mgr", &["manager"], &[]).await;
    let warehouse = env.user_token("wh", &["warehouse"], &["WH1"]).await;
    let mut owner_stream = env.open(&env.key, None, "").await;
    let mut manager_stream = env.open(&manager, None, "").await;
    let mut warehouse_stream = env.open(&warehouse, None, "").await;

    ingest_taobao(&env, "shop-tb", "multi-line-tmall", |_| {});
    let evs = owner_stream.events(1, PATIENCE).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].data["kind"], "orders_changed", "{:?}", evs[0]);
    assert_eq!(evs[0].data["shop"], "shop-tb");
    let id = evs[0].data["orders"][0].as_str().unwrap().to_owned();
    assert!(id.starts_with("shop-tb:"), "{id}");
    assert_eq!(evs[0].data["total"], 1);
    // The id is the order's id in the orders API.
    let r = env
        .call(
            Method::GET,
            &format!("/api/v1/orders/{id}"),
            Some(&env.key),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(manager_stream.events(1, PATIENCE).await.len(), 1);

    // A payload that does not parse is a capture error, on the stream too.
    ingest_taobao(&env, "shop-tb", "multi-line-tmall", |raw| {
        raw["payment"] = json!("not money");
    });
    let evs = owner_stream.events(1, PATIENCE).await;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].data["kind"], "capture_error", "{:?}", evs[0]);
    assert_eq!(evs[0].data["shop"], "shop-tb");
    assert!(!evs[0].data["reason"].as_str().unwrap().is_empty());

    // The same order again changes nothing: no event.
    ingest_taobao(&env, "shop-tb", "multi-line-tmall", |_| {});
    assert!(owner_stream.events(1, QUIET).await.is_empty());

    // Warehouse staff (no `orders:read`) see neither.
    assert!(warehouse_stream.events(1, QUIET).await.is_empty());
}

#[tokio::test]
async fn each_tenant_counts_its_own_event_ids() {
    let env = env();
    let beta_key = env.add_beta();
    let b = who("beta", "ag-b");
    let a = who("acme", "ag-a");
    apply(&env.hub, &b, "wms", vec![stock(1, 1, "WH1", "A", 1)]);
    apply(&env.hub, &b, "wms", vec![stock(2, 2, "WH1", "B", 1)]);
    apply(&env.hub, &a, "wms", vec![stock(1, 1, "WH1", "A", 1)]);
    let mut beta = env.open(&beta_key, Some("0"), "").await;
    let mut acme = env.open(&env.key, Some("0"), "").await;
    let ids = |evs: Vec<Ev>| evs.iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(ids(beta.events(2, PATIENCE).await), [1, 2]);
    assert_eq!(ids(acme.events(1, PATIENCE).await), [1]);
}

#[tokio::test]
async fn a_stream_resuming_from_a_trimmed_position_gets_a_reset_then_what_is_kept() {
    let env = env();
    let a = who("acme", "ag-1");
    for seq in 1..=6 {
        let sku = format!("S{seq}");
        apply(
            &env.hub,
            &a,
            "wms",
            vec![stock(seq, seq as i64, "WH1", &sku, 1)],
        );
    }
    let retention = LogRetention {
        max_age_ms: i64::MAX,
        max_entries: 2,
    };
    assert_eq!(env.hub.store().trim_logs(retention, now_ms()).unwrap(), 4);
    // From 1: 2..=4 are gone; a reset says so, then 5 and 6 follow.
    let mut s = env.open(&env.key, Some("1"), "").await;
    let evs = s.events(3, PATIENCE).await;
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert_eq!(evs[0].data, json!({"kind": "reset", "from": 4}));
    assert_eq!(evs[0].id, 4);
    assert_eq!(
        evs[1..].iter().map(|e| e.id).collect::<Vec<_>>(),
        [5, 6],
        "{evs:?}"
    );
    // From where the trim ended: no reset, nothing was lost.
    let mut s = env.open(&env.key, Some("4"), "").await;
    let evs = s.events(2, PATIENCE).await;
    assert_eq!(evs.iter().map(|e| e.id).collect::<Vec<_>>(), [5, 6]);
    // A new stream (no id) starts at the end.
    let mut s = env.open(&env.key, None, "").await;
    assert!(s.events(1, QUIET).await.is_empty());
    apply(&env.hub, &a, "wms", vec![stock(7, 7, "WH1", "S7", 1)]);
    let evs = s.events(1, PATIENCE).await;
    assert_eq!(evs.iter().map(|e| e.id).collect::<Vec<_>>(), [7]);
}
