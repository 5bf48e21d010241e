//! `GET /api/v1/events` over the real hub: the router called directly (tower `oneshot`), the
//! Server-Sent Events body read frame by frame while batches are applied.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use support::{Env, PASSWORD, apply, env, request, stock};
use tower::ServiceExt as _;
use xt_hub::hub::Authorized;
use xt_hub::store::{AgentLogged, AgentRecord};
use xt_shared::ids::{AgentId, SiteId, TenantId};
use xt_shared::model::UtcMillis;
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
        .store
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
        .store
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
            .store
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
