//! `GET /api/v1/dashboard` over the real hub (temp redb, the router called directly): stock
//! totals equal what was applied, a warehouse-bound user sees only its warehouses, the series
//! counts changes in their minute and carries gauges, the query is validated, and another
//! tenant's data never appears.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use support::{Env, apply, env, register_agent, stock};
use xt_hub::hub::{Authorized, now_ms};
use xt_hub::store::{MINUTE_MS, minute_of};
use xt_mobile_api::{DASHBOARD_MINUTES_DEFAULT, DASHBOARD_MINUTES_MAX, Principal, Scope};
use xt_shared::ids::{SourceName, TenantId};
use xt_shared::model::UtcMillis;
use xt_shared::protocol::SourceStatus;

impl Env {
    /// Registers an agent of `tenant` at `site` as enrollment does (token redeemed).
    fn agent(&self, tenant: &str, agent: &str, site: &str) -> Authorized {
        register_agent(&self.hub, &TenantId::new(tenant).unwrap(), agent, site)
    }

    async fn get(&self, path: &str, bearer: Option<&str>) -> (StatusCode, Value) {
        let r = self.call(Method::GET, path, bearer, None).await;
        (r.status, r.body)
    }

    async fn dashboard(&self, bearer: &str) -> Value {
        let (status, body) = self.get("/api/v1/dashboard", Some(bearer)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Records the status `who` reported of one of its sources at `at`.
    fn report(&self, who: &Authorized, status: SourceStatus, at: UtcMillis) {
        self.hub
            .store()
            .record_status(&who.record.tenant, &who.agent, &[status], at)
            .unwrap();
    }

    /// A signed-in warehouse user bound to `warehouses`; returns its access token.
    async fn warehouse_user(&self, username: &str, warehouses: &[&str]) -> String {
        self.user_token(username, &["warehouse"], warehouses).await
    }
}

/// A status of source `inventory` with `backlog` changes unacknowledged and nothing else.
fn inventory(backlog: u64) -> SourceStatus {
    SourceStatus {
        source: SourceName::new("inventory").unwrap(),
        durable_seq: 0,
        backlog,
        quarantined: 0,
        last_error: None,
    }
}

/// `(warehouse, skus, on_hand)` of a dashboard.
fn totals(board: &Value) -> Vec<(String, u64, i64)> {
    board["warehouses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["warehouse"].as_str().unwrap().to_owned(),
                w["skus"].as_u64().unwrap(),
                w["on_hand"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn changes_total(board: &Value) -> u64 {
    board["series"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["changes"].as_u64().unwrap())
        .sum()
}

/// Two warehouses, an overwrite, a stale version that loses, two sources.
fn seed(env: &Env) -> Authorized {
    let who = env.agent("acme", "wh-agent-1", "sh");
    apply(
        &env.hub,
        &who,
        "inventory",
        vec![
            stock(1, 10, "WH-SH", "A", 5),
            stock(2, 10, "WH-SH", "B", 7),
            stock(3, 10, "WH-BJ", "A", 100),
            stock(4, 20, "WH-SH", "A", 8),
            stock(5, 15, "WH-SH", "A", 1_000),
        ],
    );
    apply(
        &env.hub,
        &who,
        "pos",
        vec![stock(1, 30, "WH-BJ", "C", -2), stock(2, 5, "WH-BJ", "A", 9)],
    );
    who
}

#[tokio::test]
async fn totals_per_warehouse_equal_what_was_applied() {
    let env = env();
    let who = seed(&env);
    let status = SourceStatus {
        durable_seq: 9,
        quarantined: 3,
        last_error: Some("bad row 17".into()),
        ..inventory(4)
    };
    env.report(&who, status, UtcMillis(now_ms().0 - 30_000));
    let board = env.dashboard(&env.key).await;
    assert_eq!(board["tenant"], "acme");
    // WH-SH: A = 8 (version 20 beat 15), B = 7; WH-BJ: A = 100 (version 5 lost), C = -2.
    assert_eq!(
        totals(&board),
        [("WH-BJ".into(), 2, 98), ("WH-SH".into(), 2, 15)]
    );
    assert_eq!(
        board["agents"],
        json!({"online": 0, "offline": 1, "revoked": 0})
    );
    let sources = board["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    let inv = &sources[0];
    assert_eq!(inv["agent"], "wh-agent-1");
    assert_eq!(inv["site"], "sh");
    assert_eq!(inv["source"], "inventory");
    assert_eq!(inv["connected"], false);
    assert_eq!(inv["applied_seq"], 5);
    assert_eq!(inv["records_applied"], 5);
    assert_eq!(inv["backlog"], 4);
    assert_eq!(inv["quarantined"], 3);
    assert_eq!(inv["rejected"], 0);
    assert_eq!(inv["last_error"], "bad row 17");
    assert!(inv["last_applied_at"].is_string());
    // Seqs 6..=9 were reported durable 30 s ago and are not applied.
    assert!(inv["lag_secs"].as_u64().unwrap() >= 30, "{inv}");
    assert_eq!(sources[1]["source"], "pos");
    assert_eq!(sources[1]["lag_secs"], 0);
    assert_eq!(board["quarantined_total"], 3);
    assert_eq!(changes_total(&board), 7);
    let points = board["series"]["points"].as_array().unwrap();
    assert_eq!(points.len(), DASHBOARD_MINUTES_DEFAULT as usize);
    assert_eq!(board["series"]["bucket_secs"], 60);
    // The current minute shows the gauges as they are now.
    assert_eq!(points.last().unwrap()["backlog"], 4);
}

#[tokio::test]
async fn a_warehouse_user_sees_only_its_warehouse() {
    let env = env();
    seed(&env);
    let access = env.warehouse_user("picker", &["WH-SH", "WH-EMPTY"]).await;
    let board = env.dashboard(&access).await;
    assert_eq!(totals(&board), [("WH-SH".into(), 2, 15)]);
    // Agents and their sources need agents:read, which the warehouse role lacks.
    assert_eq!(board["sources"], json!([]));
    let nowhere = env.warehouse_user("idle", &["WH-EMPTY"]).await;
    assert_eq!(totals(&env.dashboard(&nowhere).await), []);
}

#[tokio::test]
async fn series_counts_changes_in_their_minute_and_carries_gauges() {
    let env = env();
    let who = env.agent("acme", "wh-agent-1", "sh");
    let principal = Principal::api_key(
        TenantId::new("acme").unwrap(),
        "k".into(),
        vec![Scope::Owner],
    );
    let base = minute_of(now_ms()) - 30;
    let at = |minute: i64, secs: i64| UtcMillis(minute * MINUTE_MS + secs * 1_000);
    let apply_at = |seq: u64, n: u64, now: UtcMillis| {
        let changes = (seq..seq + n)
            .map(|s| stock(s, s as i64, "WH-SH", &format!("S{s}"), 1))
            .collect();
        env.hub
            .store()
            .apply_batch(
                &who.record.tenant,
                &who.agent,
                who.record.role,
                &SourceName::new("inventory").unwrap(),
                changes,
                now,
            )
            .unwrap()
            .unwrap();
    };
    env.report(&who, inventory(12), at(base, 0));
    env.hub.sample_gauges(at(base, 1)).unwrap();
    apply_at(1, 3, at(base, 2));
    apply_at(4, 2, at(base, 59));
    apply_at(6, 4, at(base + 2, 0));

    let board = xt_hub::dashboard::build(&env.hub, &principal, 5, at(base + 3, 30)).unwrap();
    let points: Vec<(i64, u64, u64)> = board
        .series
        .points
        .iter()
        .map(|p| {
            let minute = (p.at.unix_timestamp() * 1_000).div_euclid(MINUTE_MS);
            (minute, p.changes, p.backlog)
        })
        .collect();
    assert_eq!(
        points,
        [
            (base - 1, 0, 0),
            (base, 5, 12),
            (base + 1, 0, 12),
            (base + 2, 4, 12),
            (base + 3, 0, 12),
        ],
        "zeros before the first sample, then carried forward"
    );
    // A window starting after the sample still carries it.
    let later = xt_hub::dashboard::build(&env.hub, &principal, 2, at(base + 3, 30)).unwrap();
    assert_eq!(later.series.points[0].backlog, 12);

    // Over HTTP, at the real time: the same 9 changes, in a full default window.
    let board = env.dashboard(&env.key).await;
    assert_eq!(changes_total(&board), 9);
}

#[tokio::test]
async fn the_query_is_validated() {
    let env = env();
    for bad in [
        "minutes=0",
        "minutes=1441",
        "minutes=-1",
        "minutes=abc",
        "minute=5",
    ] {
        let (status, body) = env
            .get(&format!("/api/v1/dashboard?{bad}"), Some(&env.key))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{bad}: {body}");
        assert!(body["error"]["message"].is_string());
    }
    for (query, points) in [
        ("", DASHBOARD_MINUTES_DEFAULT),
        ("?minutes=1", 1),
        (
            &format!("?minutes={DASHBOARD_MINUTES_MAX}"),
            DASHBOARD_MINUTES_MAX,
        ),
    ] {
        let (status, body) = env
            .get(&format!("/api/v1/dashboard{query}"), Some(&env.key))
            .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        let points_got = body["series"]["points"].as_array().unwrap();
        assert_eq!(points_got.len(), points as usize);
        let first = points_got[0]["at"].as_str().unwrap();
        let last = points_got.last().unwrap()["at"].as_str().unwrap();
        assert!(first <= last, "oldest first");
    }
    let (status, body) = env.get("/api/v1/dashboard", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn another_tenants_data_never_appears() {
    let env = env();
    let key_b = env.add_beta();
    seed(&env);
    let board = env.dashboard(&key_b).await;
    assert_eq!(board["tenant"], "beta");
    assert_eq!(totals(&board), []);
    assert_eq!(board["sources"], json!([]));
    assert_eq!(
        board["agents"],
        json!({"online": 0, "offline": 0, "revoked": 0})
    );
    assert_eq!(changes_total(&board), 0);

    let beta = env.agent("beta", "beta-agent", "bj");
    apply(
        &env.hub,
        &beta,
        "inventory",
        vec![stock(1, 1, "WH-SH", "Z", 50)],
    );
    let acme = env.dashboard(&env.key).await;
    assert_eq!(
        totals(&acme),
        [("WH-BJ".into(), 2, 98), ("WH-SH".into(), 2, 15)],
        "beta's row in a warehouse of the same name is not acme's"
    );
    assert_eq!(acme["sources"].as_array().unwrap().len(), 2);
    assert_eq!(changes_total(&acme), 7);
    let board = env.dashboard(&key_b).await;
    assert_eq!(totals(&board), [("WH-SH".into(), 1, 50)]);
    assert_eq!(board["sources"][0]["agent"], "beta-agent");
}

#[tokio::test]
async fn the_ticker_samples_gauges_into_the_current_minute() {
    let env = env();
    let who = env.agent("acme", "wh-agent-1", "sh");
    env.report(&who, inventory(5), now_ms());
    let token = xt_hub::supervisor::CancellationToken::new();
    let ticker = tokio::spawn(xt_hub::dashboard::tick_gauges(
        Arc::clone(&env.hub),
        std::time::Duration::from_millis(20),
        token.clone(),
    ));
    let tenant = TenantId::new("acme").unwrap();
    let mut sampled = None;
    for _ in 0..250 {
        let minute = minute_of(now_ms());
        let window = env
            .hub
            .store()
            .minute_buckets(&tenant, minute - 1, minute)
            .unwrap();
        sampled = window.buckets.iter().find_map(|(_, b)| b.gauges());
        if sampled.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    token.cancel();
    ticker.await.unwrap().unwrap();
    let gauges = sampled.expect("the ticker sampled the gauges");
    assert_eq!((gauges.backlog, gauges.agents_online), (5, 0));
}

#[tokio::test]
async fn dashboard_shows_shops_only_to_shops_read_and_agents_only_to_agents_read() {
    let env = env();
    let who = seed(&env);
    env.report(&who, inventory(4), now_ms());
    env.hub.sample_gauges(now_ms()).unwrap();
    let shop = json!({"platform": "jd", "name": "京东自营", "enabled": false,
        "api_base_url": "https://api.jd.com/routerjson",
        "credentials": {"app_key": "JDKEY0001", "app_secret": "s3cret-app-0001",
            "access_token": "s3cret-token-0001"}});
    let r = env
        .call(Method::POST, "/api/v1/shops", Some(&env.key), Some(shop))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    let full = env.dashboard(&env.key).await;
    assert_eq!(full["shops"].as_array().unwrap().len(), 1);
    assert_eq!(full["sources"].as_array().unwrap().len(), 2);
    assert_eq!(full["agents"]["offline"], 1);

    // finance: stock, events, dashboard and orders, but neither agents nor shops.
    let finance = env.user_token("books", &["finance"], &[]).await;
    let board = env.dashboard(&finance).await;
    assert_eq!(board["shops"], json!([]));
    assert_eq!(board["sources"], json!([]));
    assert_eq!(board["quarantined_total"], 0);
    assert_eq!(
        board["agents"],
        json!({"online": 0, "offline": 0, "revoked": 0})
    );
    for p in board["series"]["points"].as_array().unwrap() {
        assert_eq!(
            (&p["backlog"], &p["agents_online"]),
            (&json!(0), &json!(0)),
            "{p}"
        );
    }
    // Stock is still theirs to see.
    assert_eq!(totals(&board), totals(&full));

    // A key of dashboard:read + shops:read sees shops but no agents.
    let body = json!({"name": "board", "scopes": ["dashboard:read", "shops:read"]});
    let r = env
        .call(Method::POST, "/api/v1/api-keys", Some(&env.key), Some(body))
        .await;
    let key = r.body["secret"].as_str().unwrap().to_owned();
    let board = env.dashboard(&key).await;
    assert_eq!(board["shops"].as_array().unwrap().len(), 1);
    assert_eq!(board["sources"], json!([]));

    // manager: agents:read and shops:read, so everything.
    let manager = env.user_token("mgr", &["manager"], &[]).await;
    let board = env.dashboard(&manager).await;
    assert_eq!(board["shops"].as_array().unwrap().len(), 1);
    assert_eq!(board["sources"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_warehouse_users_series_counts_only_its_warehouses() {
    let env = env();
    seed(&env);
    assert_eq!(changes_total(&env.dashboard(&env.key).await), 7);
    // seed applied 4 changes to WH-SH and 3 to WH-BJ.
    let sh = env.warehouse_user("picker", &["WH-SH"]).await;
    assert_eq!(changes_total(&env.dashboard(&sh).await), 4);
    let bj = env.warehouse_user("loader", &["WH-BJ", "WH-EMPTY"]).await;
    assert_eq!(changes_total(&env.dashboard(&bj).await), 3);
    let nowhere = env.warehouse_user("idle", &["WH-EMPTY"]).await;
    assert_eq!(changes_total(&env.dashboard(&nowhere).await), 0);
}
