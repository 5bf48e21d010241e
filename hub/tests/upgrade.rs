//! A hub data directory written by an earlier version on `main` opens with this one and keeps
//! everything: the fixtures under `fixtures/data/<date>/` are such directories, kept byte for
//! byte, with what that version's API answered over them (`answers/`) and the keys and passwords
//! they hold (`credentials.json`). Each test migrates a copy (`xt-hub migrate`), opens it as
//! `serve` would, and asks the same questions.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use std::path::PathBuf;
use support::Env;
use xt_hub::store::SealedCredentials;
use xt_shared::credentials::ShopCredentials;
use xt_shared::ids::TenantId;

/// The fixture written by `main` of 2026-11-29 (commit 88b0376).
fn fixture_2026_11_29() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/2026-11-29")
}

fn read_json(path: PathBuf) -> Value {
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn open(fixture: &std::path::Path) -> (Env, Value) {
    let credentials = read_json(fixture.join("credentials.json"));
    let demo = &credentials["demo"];
    let env = Env::upgraded(
        &fixture.join("hub"),
        demo["admin_key"].as_str().unwrap().to_owned(),
        demo["owner_password"].as_str().unwrap().to_owned(),
    );
    (env, credentials)
}

/// `value` without the fields that change by being asked (a key's last use).
fn steady(mut value: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("last_used_at");
                map.values_mut().for_each(walk);
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

async fn get(env: &Env, path: &str, bearer: &str) -> Value {
    let r = env.call(Method::GET, path, Some(bearer), None).await;
    assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.text);
    r.body
}

#[tokio::test]
async fn the_2026_11_29_data_directory_answers_as_it_did() {
    let fixture = fixture_2026_11_29();
    let (env, _) = open(&fixture);
    let answers = fixture.join("answers");
    let key = env.key.clone();
    for (file, path) in [
        ("agents.json", "/api/v1/agents"),
        ("stock.json", "/api/v1/stock?limit=500"),
        ("orders.json", "/api/v1/orders?limit=200"),
        ("users.json", "/api/v1/users"),
        ("api-keys.json", "/api/v1/api-keys"),
        ("shops.json", "/api/v1/shops"),
        ("sku-mappings.json", "/api/v1/sku-mappings"),
    ] {
        let then = read_json(answers.join(file));
        let now = get(&env, path, &key).await;
        assert_eq!(steady(now), steady(then), "GET {path} answers as {file}");
    }
    let details = read_json(answers.join("order-details.json"));
    let details = details.as_object().unwrap();
    assert_eq!(details.len(), 43);
    for (id, then) in details {
        let now = get(&env, &format!("/api/v1/orders/{id}"), &key).await;
        assert_eq!(&now, then, "order {id}");
    }
    let members = read_json(answers.join("members.json"));
    for (id, then) in members.as_object().unwrap() {
        let now = get(&env, &format!("/api/v1/members/{id}"), &key).await;
        assert_eq!(&now, then, "member {id}");
    }
    let errors = read_json(answers.join("capture-errors.json"));
    for (shop, then) in errors.as_object().unwrap() {
        let now = get(&env, &format!("/api/v1/shops/{shop}/capture-errors"), &key).await;
        assert_eq!(&now, then, "capture errors of {shop}");
    }
}

#[tokio::test]
async fn the_2026_11_29_keys_and_passwords_still_work() {
    let (env, credentials) = open(&fixture_2026_11_29());
    let demo = &credentials["demo"];
    // Every user signs in with the password it was given; tokens are issued and accepted.
    env.tokens("demo", "admin", &env.owner_password).await;
    for (user, password) in demo["users"].as_object().unwrap() {
        let (access, _) = env.tokens("demo", user, password.as_str().unwrap()).await;
        let me = get(&env, "/api/v1/me", &access).await;
        assert_eq!(me["username"], json!(user), "{me}");
    }
    assert_eq!(
        env.login("demo", "wang.li", "not the password")
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // The partner key keeps its scopes: orders yes, users no.
    let partner = demo["partner_key"].as_str().unwrap();
    get(&env, "/api/v1/orders?limit=1", partner).await;
    let r = env
        .call(Method::GET, "/api/v1/users", Some(partner), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // The second tenant: its own key and owner, none of the demo's data.
    let acme = &credentials["acme"];
    let acme_key = acme["admin_key"].as_str().unwrap();
    let orders = get(&env, "/api/v1/orders", acme_key).await;
    assert_eq!(orders["orders"], json!([]));
    env.tokens("acme", "admin", acme["owner_password"].as_str().unwrap())
        .await;
    // The operator key rotates signing keys; after it, old users still sign in.
    let operator = credentials["operator_key"].as_str().unwrap();
    let r = env
        .call(Method::POST, "/api/v1/keys/rotate", Some(operator), None)
        .await;
    assert!(r.status.is_success(), "{}: {}", r.status, r.text);
    env.tokens("demo", "wang.li", "Fixture-pass-2026!").await;
}

/// The credentials of a shop of `credentials.json`, whose `secrets` are in the order the hub of
/// 2026-11-29 sealed them (the platform's fields after its public id). Its `key` is the
/// simulated shop's, from which the simulator of that day named the public id (`tb-1-app-key`,
/// `shopify-1.myshopify.com`, `ck_woo1`; `answers/shops.json` shows them masked).
fn typed_credentials(shop: &Value) -> ShopCredentials {
    let sim_key = shop["key"].as_str().unwrap();
    let key = match shop["platform"].as_str().unwrap() {
        "shopify" => format!("{sim_key}.myshopify.com"),
        "woocommerce" => format!("ck_{}", sim_key.replace('-', "")),
        _ => format!("{sim_key}-app-key"),
    };
    let secret = |i: usize| shop["secrets"][i].as_str().unwrap().to_owned();
    assert_eq!(shop["secrets"].as_array().unwrap().len(), 2);
    match shop["platform"].as_str().unwrap() {
        "taobao" | "tmall" => ShopCredentials::Taobao {
            app_key: key,
            app_secret: secret(0),
            session: secret(1),
        },
        "jd" => ShopCredentials::Jd {
            app_key: key,
            app_secret: secret(0),
            access_token: secret(1),
        },
        "shopify" => ShopCredentials::Shopify {
            shop_domain: key,
            access_token: secret(0),
            webhook_secret: secret(1),
        },
        "woocommerce" => ShopCredentials::Woocommerce {
            consumer_key: key,
            consumer_secret: secret(0),
            webhook_secret: secret(1),
        },
        other => panic!("unknown platform {other}"),
    }
}

#[tokio::test]
async fn the_2026_11_29_shops_secrets_still_open() {
    let (env, credentials) = open(&fixture_2026_11_29());
    let demo = TenantId::new("demo").unwrap();
    let shops = credentials["demo"]["shops"].as_object().unwrap();
    for (id, shop) in shops {
        let record = env.hub.store().shop(&demo, id).unwrap().expect("shop kept");
        assert!(
            matches!(record.credentials_sealed, SealedCredentials::Positional(_)),
            "{id}: sealed the old way"
        );
        let credentials = record.open_credentials(env.hub.master_key()).unwrap();
        assert_eq!(credentials, typed_credentials(shop), "{id}");
    }
    // Through the front door: a webhook signed with the stored secret is taken, one signed with
    // another is refused.
    for (id, shop) in shops {
        let platform = shop["platform"].as_str().unwrap();
        let header = match platform {
            "shopify" => "x-shopify-hmac-sha256",
            "woocommerce" => "x-wc-webhook-signature",
            _ => continue,
        };
        let credentials = typed_credentials(shop);
        let secret = credentials.webhook_secret().unwrap();
        let body = b"{\"id\": 1}";
        for (key, refused) in [("another secret", true), (secret, false)] {
            let req = Request::builder()
                .method(Method::POST)
                .uri(format!("/api/v1/webhooks/{platform}/{id}"))
                .header("content-type", "application/json")
                .header(
                    header,
                    xt_hub::shops::channels::webhook::sign_hmac_sha256(key, body),
                )
                .body(Body::from(&body[..]))
                .unwrap();
            let r = env.send(req).await;
            assert_eq!(
                r.status == StatusCode::UNAUTHORIZED,
                refused,
                "{platform} webhook signed with {key:?}: {} {}",
                r.status,
                r.text
            );
        }
    }
    // New credentials for an old shop are sealed typed; its view keeps its shape.
    let (id, _) = shops
        .iter()
        .find(|(_, s)| s["platform"] == "woocommerce")
        .unwrap();
    let before = get(&env, &format!("/api/v1/shops/{id}"), &env.key).await;
    let r = env
        .call(
            Method::PATCH,
            &format!("/api/v1/shops/{id}"),
            Some(&env.key),
            Some(json!({"credentials": {"consumer_key": "ck_woo1",
                "consumer_secret": "cs_new", "webhook_secret": "woo-1-new-webhook-secret"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["credentials"], before["credentials"]);
    assert!(!r.text.contains("cs_new") && !r.text.contains("new-webhook"));
    let record = env.hub.store().shop(&demo, id).unwrap().unwrap();
    assert!(matches!(
        record.credentials_sealed,
        SealedCredentials::Typed(_)
    ));
    let credentials = record.open_credentials(env.hub.master_key()).unwrap();
    assert_eq!(
        credentials.webhook_secret(),
        Some("woo-1-new-webhook-secret")
    );
}

#[tokio::test]
async fn the_2026_11_29_agent_resumes_where_it_was() {
    let (env, credentials) = open(&fixture_2026_11_29());
    let agents = get(&env, "/api/v1/agents", &env.key).await;
    let agent = credentials["demo"]["agent"].as_str().unwrap();
    let listed = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == json!(agent))
        .expect("the agent is kept");
    assert_eq!(listed["revoked_at"], Value::Null, "{listed}");
    // Its sources' applied positions are where the agent will resume from.
    let dashboard = get(&env, "/api/v1/dashboard", &env.key).await;
    let applied: Vec<u64> = dashboard["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["applied_seq"].as_u64().unwrap())
        .collect();
    assert_eq!(applied.len(), 2, "{dashboard}");
    assert!(applied.iter().all(|&seq| seq > 0), "{dashboard}");
}

#[test]
fn serve_asks_for_migrate_on_the_2026_11_29_directory_and_migrate_runs_once() {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&fixture_2026_11_29().join("hub"), dir.path());
    let data = dir.path().to_str().unwrap();
    let hub = env!("CARGO_BIN_EXE_xt-hub");
    let serve = std::process::Command::new(hub)
        .args([
            "serve",
            "--data",
            data,
            "--quic",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert!(!serve.status.success());
    let stderr = String::from_utf8_lossy(&serve.stderr);
    assert!(
        stderr.contains(&format!("xt-hub migrate --data {data}")),
        "{stderr}"
    );
    assert!(stderr.contains("back up"), "{stderr}");
    let run = |args: &[&str]| {
        let out = std::process::Command::new(hub).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let first = run(&["migrate", "--data", data]);
    assert!(first.contains("layout 1 → 2"), "{first}");
    assert!(
        first.contains("layout 2 → 3: 1 agents, 2 sources"),
        "{first}"
    );
    let again = run(&["migrate", "--data", data]);
    assert!(again.contains("nothing to do"), "{again}");
}

#[tokio::test]
async fn the_2026_11_29_change_log_resumes_from_its_old_event_ids() {
    let (env, _) = open(&fixture_2026_11_29());
    // The directory's log was hub-wide; each tenant's entries keep their keys as event ids, so a
    // client that had seen id N resumes after N.
    let api = xt_hub::api::HttpApi::new(std::sync::Arc::clone(&env.hub))
        .domains()
        .events;
    let demo = TenantId::new("demo").unwrap();
    let owner = xt_mobile_api::Principal::api_key(
        demo,
        "key-test".into(),
        vec![xt_mobile_api::Scope::Owner],
    );
    let all = api.events_after(&owner, Some(0), 10_000).unwrap();
    assert!(all.events.len() > 10, "{}", all.events.len());
    let ids: Vec<u64> = all.events.iter().map(|e| e.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let kinds: std::collections::BTreeSet<String> = all
        .events
        .iter()
        .map(|e| {
            serde_json::to_value(&e.data).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for kind in ["stock_changed", "orders_changed", "agent_connected"] {
        assert!(kinds.contains(kind), "{kinds:?}");
    }
    let middle = ids[ids.len() / 2];
    let rest = api.events_after(&owner, Some(middle), 10_000).unwrap();
    assert_eq!(
        rest.events.first().map(|e| e.id),
        ids.iter().copied().find(|&i| i > middle)
    );
    assert_eq!(api.latest_event_id(&owner).unwrap(), all.last_key);
}

/// The fixture written by `main` at table layout 3 (commit 61e2b25): the records this session
/// introduced (per-tenant change log, tenant-first agents, typed sealed shop credentials).
fn fixture_layout_3() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/2026-11-29-layout3")
}

#[tokio::test]
async fn the_layout_3_data_directory_answers_as_it_did_and_its_records_read() {
    let fixture = fixture_layout_3();
    let (env, credentials) = open(&fixture);
    let answers = fixture.join("answers");
    let key = env.key.clone();
    for (file, path) in [
        ("agents.json", "/api/v1/agents"),
        ("stock.json", "/api/v1/stock?limit=500"),
        ("orders.json", "/api/v1/orders?limit=200"),
        ("users.json", "/api/v1/users"),
        ("api-keys.json", "/api/v1/api-keys"),
        ("sku-mappings.json", "/api/v1/sku-mappings"),
    ] {
        let then = read_json(answers.join(file));
        let now = get(&env, path, &key).await;
        assert_eq!(steady(now), steady(then), "GET {path} answers as {file}");
    }
    let details = read_json(answers.join("order-details.json"));
    assert!(!details.as_object().unwrap().is_empty());
    for (id, then) in details.as_object().unwrap() {
        let now = get(&env, &format!("/api/v1/orders/{id}"), &key).await;
        assert_eq!(&now, then, "order {id}");
    }
    let errors = read_json(answers.join("capture-errors.json"));
    for (shop, then) in errors.as_object().unwrap() {
        let now = get(&env, &format!("/api/v1/shops/{shop}/capture-errors"), &key).await;
        assert_eq!(&now, then, "capture errors of {shop}");
    }
    // Typed sealed credentials (shop record version 2) open to what was bound.
    let demo = TenantId::new("demo").unwrap();
    for (id, shop) in credentials["demo"]["shops"].as_object().unwrap() {
        let record = env.hub.store().shop(&demo, id).unwrap().expect("shop kept");
        assert!(
            matches!(record.credentials_sealed, SealedCredentials::Typed(_)),
            "{id}: sealed typed"
        );
        let opened = record.open_credentials(env.hub.master_key()).unwrap();
        assert_eq!(opened, typed_credentials(shop), "{id}");
    }
    // Every kind of change-log entry this version wrote replays, in position order.
    let api = xt_hub::api::HttpApi::new(std::sync::Arc::clone(&env.hub))
        .domains()
        .events;
    let owner = xt_mobile_api::Principal::api_key(
        demo,
        "key-test".into(),
        vec![xt_mobile_api::Scope::Owner],
    );
    let all = api.events_after(&owner, Some(0), 10_000).unwrap();
    let kinds: std::collections::BTreeSet<String> = all
        .events
        .iter()
        .map(|e| {
            serde_json::to_value(&e.data).unwrap()["kind"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    for kind in [
        "stock_changed",
        "orders_changed",
        "capture_error",
        "agent_connected",
    ] {
        assert!(kinds.contains(kind), "{kind} in {kinds:?}");
    }
    let ids: Vec<u64> = all.events.iter().map(|e| e.id).collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "positions 1, 2, 3, …"
    );
    assert_eq!(api.latest_event_id(&owner).unwrap(), all.last_key);
}

#[test]
fn migrate_leaves_a_layout_3_directory_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    support::copy_dir(&fixture_layout_3().join("hub"), dir.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xt-hub"))
        .args(["migrate", "--data", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("nothing to do"), "{stdout}");
}

/// The fixture written by `main` with fulfilment (2026-11-30): warehouses of the three kinds,
/// settings, fulfilments in every state the demo reaches, delivery orders with packages and
/// write-backs, the stock ledger, the agent's command outbox and their log entries.
fn fixture_fulfilment() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/data/2026-11-30-fulfilment")
}

/// Its questions: the file each answer is kept in, and the path asked.
fn fulfilment_questions(env_orders: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = [
        ("board.json", "/api/v1/fulfilment/board"),
        ("settings.json", "/api/v1/fulfilment/settings"),
        ("warehouses.json", "/api/v1/warehouses"),
        (
            "fulfilment-orders.json",
            "/api/v1/fulfilment/orders?limit=500",
        ),
        ("deliveries.json", "/api/v1/deliveries?limit=200"),
        ("stock.json", "/api/v1/stock?limit=500"),
    ]
    .into_iter()
    .map(|(f, p)| (f.to_owned(), p.to_owned()))
    .collect();
    for o in env_orders["orders"].as_array().into_iter().flatten() {
        let id = o["id"].as_str().unwrap();
        out.push((
            format!("order-{}.json", id.replace(':', "_")),
            format!("/api/v1/fulfilment/orders/{id}"),
        ));
    }
    out
}

/// `XT_WRITE_FIXTURE_ANSWERS=1` writes the answers of this version (once, by the version that
/// wrote the data); otherwise every later version must answer the same.
#[tokio::test]
async fn the_fulfilment_data_directory_answers_as_it_did() {
    let fixture = fixture_fulfilment();
    let (env, _) = open(&fixture);
    let answers = fixture.join("answers");
    let key = env.key.clone();
    let write = std::env::var("XT_WRITE_FIXTURE_ANSWERS").is_ok_and(|v| v == "1");
    let orders = get(&env, "/api/v1/fulfilment/orders?limit=500", &key).await;
    let questions = fulfilment_questions(&orders);
    assert!(questions.len() > 20, "the fixture holds fulfilments");
    if write {
        std::fs::create_dir_all(&answers).unwrap();
    }
    for (file, path) in questions {
        let now = get(&env, &path, &key).await;
        if write {
            let text = serde_json::to_string_pretty(&now).unwrap();
            std::fs::write(answers.join(&file), text + "\n").unwrap();
            continue;
        }
        let then = read_json(answers.join(&file));
        assert_eq!(steady(now), steady(then), "GET {path} answers as {file}");
    }
}
