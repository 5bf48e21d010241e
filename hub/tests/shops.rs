//! Store binding (店铺绑定) against a real hub (temp redb, the router called directly): shops of
//! the four platforms are bound, listed, changed and never show their secrets — not in any
//! response, not in the redb file, not in the logs.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use support::{Env, env};
use xt_hub::store::{SealedCredentials, ShopRecord};
use xt_shared::credentials::ShopCredentials;

/// Every log line of this test binary, at every level.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&buf);
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || Sink(Arc::clone(&sink)))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buf
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Secret values used below: none may ever come out of the hub.
const SECRETS: &[&str] = &[
    "TOP-APP-SECRET-zq1",
    "TOP-SESSION-zq1",
    "JD-APP-SECRET-zq2",
    "JD-ACCESS-TOKEN-zq2",
    "SHPAT-ACCESS-zq3",
    "SHOPIFY-WEBHOOK-zq3",
    "WC-CONSUMER-SECRET-zq4",
    "WC-WEBHOOK-zq4",
    "TOP-APP-SECRET-NEW-zq5",
    "TOP-SESSION-NEW-zq5",
];

fn bodies() -> Vec<Value> {
    vec![
        json!({"platform": "taobao", "name": "淘宝旗舰店", "api_base_url": "http://127.0.0.1:9/top",
            "credentials": {"app_key": "12345678", "app_secret": SECRETS[0], "session": SECRETS[1]}}),
        json!({"platform": "jd", "name": "京东自营", "api_base_url": "https://api.jd.com/routerjson",
            "credentials": {"app_key": "JDKEY0001", "app_secret": SECRETS[2], "access_token": SECRETS[3]}}),
        json!({"platform": "shopify", "name": "Global", "api_base_url": "https://acme.myshopify.com",
            "enabled": false,
            "credentials": {"shop_domain": "acme.myshopify.com", "access_token": SECRETS[4],
                "webhook_secret": SECRETS[5]}}),
        json!({"platform": "woocommerce", "name": "Woo", "api_base_url": "http://[::1]:8080/wp-json",
            "credentials": {"consumer_key": "ck_0123456789", "consumer_secret": SECRETS[6],
                "webhook_secret": SECRETS[7]}}),
    ]
}

async fn create(env: &Env, bearer: &str, body: Value) -> Value {
    let r = env
        .call(Method::POST, "/api/v1/shops", Some(bearer), Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body
}

fn assert_no_secret(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{what} shows secret {secret}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shops_are_bound_listed_changed_and_never_show_their_secrets() {
    let logs = logs();
    let env = env();
    let mut texts = Vec::new();
    let mut ids = Vec::new();
    for body in bodies() {
        let shop = create(&env, &env.key, body).await;
        texts.push(shop.to_string());
        assert!(shop["id"].as_str().unwrap().starts_with("shop-"), "{shop}");
        assert!(
            shop["health"]
                .as_object()
                .unwrap()
                .values()
                .all(Value::is_null)
        );
        ids.push(shop["id"].as_str().unwrap().to_owned());
    }
    let list = env
        .call(Method::GET, "/api/v1/shops", Some(&env.key), None)
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    texts.push(list.text.clone());
    let shops = list.body["shops"].as_array().unwrap();
    assert_eq!(shops.len(), 4);
    let top = &shops.iter().find(|s| s["platform"] == "taobao").unwrap();
    assert_eq!(
        top["credentials"],
        json!({"app_key": "12…78", "app_secret": {"configured": true},
            "session": {"configured": true}})
    );
    assert_eq!(top["enabled"], true);
    let shopify = shops.iter().find(|s| s["platform"] == "shopify").unwrap();
    assert_eq!(shopify["enabled"], false);
    assert_eq!(
        shopify["credentials"],
        json!({"shop_domain": "ac…om", "access_token": {"configured": true},
            "webhook_secret": {"configured": true}})
    );

    // Change the Taobao shop: everything at once, credentials replaced as a whole.
    let path = format!("/api/v1/shops/{}", ids[0]);
    let patch = json!({"name": "天猫店", "enabled": false, "api_base_url": "http://127.0.0.1:10",
        "credentials": {"app_key": "87654321", "app_secret": SECRETS[8], "session": SECRETS[9]}});
    let r = env
        .call(Method::PATCH, &path, Some(&env.key), Some(patch))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    texts.push(r.text.clone());
    assert_eq!(r.body["name"], "天猫店");
    assert_eq!(r.body["enabled"], false);
    assert_eq!(r.body["api_base_url"], "http://127.0.0.1:10");
    assert_eq!(r.body["credentials"]["app_key"], "87…21");
    let got = env.call(Method::GET, &path, Some(&env.key), None).await;
    assert_eq!(got.status, StatusCode::OK, "{}", got.text);
    assert_eq!(got.body, r.body);
    texts.push(got.text);

    // The hub itself can still open the new secrets (for the capture loop).
    let record: ShopRecord = env
        .hub
        .store()
        .shop(&support::acme(), &ids[0])
        .unwrap()
        .unwrap();
    assert_eq!(record.credential_id, "87654321");
    assert!(matches!(
        record.credentials_sealed,
        SealedCredentials::Typed(_)
    ));
    assert_eq!(
        record.open_credentials(env.hub.master_key()).unwrap(),
        ShopCredentials::Taobao {
            app_key: "87654321".into(),
            app_secret: SECRETS[8].into(),
            session: SECRETS[9].into(),
        }
    );

    for text in &texts {
        assert_no_secret("a response", text);
    }
    let db = std::fs::read(env.hub.data_dir().join(xt_hub::hub::DB_FILE)).unwrap();
    assert_no_secret("the redb file", &String::from_utf8_lossy(&db));
    let logged = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(logged.contains("shop bound"), "the logs were not captured");
    assert_no_secret("the logs", &logged);
}

#[tokio::test]
async fn bad_shop_input_is_a_400_naming_the_field() {
    let env = env();
    let good = bodies().remove(0);
    let cases = [
        ("platform", json!({"platform": "ebay"})),
        ("name", json!({"name": ""})),
        ("name", json!({"name": "x".repeat(65)})),
        ("api_base_url", json!({"api_base_url": "ftp://x"})),
        ("api_base_url", json!({"api_base_url": "not a url"})),
        (
            "credentials.access_token",
            json!({"credentials": {"app_key": "12345678", "app_secret": "s", "session": "s",
                "access_token": "t"}}),
        ),
        (
            "credentials.session",
            json!({"credentials": {"app_key": "12345678", "app_secret": "s"}}),
        ),
    ];
    for (field, change) in cases {
        let mut body = good.clone();
        for (k, v) in change.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = env
            .call(Method::POST, "/api/v1/shops", Some(&env.key), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text);
        assert!(
            r.body["error"]["message"].as_str().unwrap().contains(field),
            "{field}: {}",
            r.text
        );
    }
    let shop = create(&env, &env.key, good).await;
    let path = format!("/api/v1/shops/{}", shop["id"].as_str().unwrap());
    for (field, patch) in [
        (
            "credentials.webhook_secret does not apply to taobao",
            json!({"credentials": {"consumer_key": "ck", "consumer_secret": "cs",
                "webhook_secret": "w"}}),
        ),
        ("api_base_url", json!({"api_base_url": "https://"})),
        ("name", json!({"name": "\u{7}"})),
    ] {
        let r = env
            .call(Method::PATCH, &path, Some(&env.key), Some(patch))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text);
        assert!(r.text.contains(field), "{field}: {}", r.text);
    }
    let unchanged = env.call(Method::GET, &path, Some(&env.key), None).await;
    assert_eq!(unchanged.body, shop);
}

#[tokio::test]
async fn another_tenants_shop_is_not_found() {
    let env = env();
    let beta = env.add_beta();
    let theirs = create(&env, &beta, bodies().remove(1)).await;
    let path = format!("/api/v1/shops/{}", theirs["id"].as_str().unwrap());
    let r = env.call(Method::GET, &path, Some(&env.key), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = env
        .call(
            Method::PATCH,
            &path,
            Some(&env.key),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let list = env
        .call(Method::GET, "/api/v1/shops", Some(&env.key), None)
        .await;
    assert_eq!(list.body, json!({"shops": []}));
    let still = env.call(Method::GET, &path, Some(&beta), None).await;
    assert_eq!(still.body, theirs);
}

#[tokio::test]
async fn managers_read_shops_and_only_owners_and_admins_bind_them() {
    let env = env();
    create(&env, &env.key, bodies().remove(2)).await;
    let admin = env.user_token("ada", &["admin"], &[]).await;
    create(&env, &admin, bodies().remove(3)).await;
    let manager = env.user_token("max", &["manager"], &[]).await;
    let r = env
        .call(Method::GET, "/api/v1/shops", Some(&manager), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["shops"].as_array().unwrap().len(), 2);
    let r = env
        .call(
            Method::POST,
            "/api/v1/shops",
            Some(&manager),
            Some(bodies().remove(0)),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let clerk = env.user_token("wes", &["warehouse"], &["WH1"]).await;
    let r = env
        .call(Method::GET, "/api/v1/shops", Some(&clerk), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}

#[tokio::test]
async fn the_admin_client_binds_lists_enables_and_disables_shops() {
    use xt_hub::admin_client::AdminClient;
    use xt_hub::cli::{init_hub, start};
    let dir = tempfile::tempdir().unwrap();
    let made = init_hub(dir.path(), &support::acme()).unwrap();
    let running = start(&support::loopback_serve_args(dir.path()))
        .await
        .unwrap();
    let client =
        AdminClient::new(&format!("http://{}", running.http_addr), &made.admin_key).unwrap();
    let req: xt_mobile_api::ShopCreate = serde_json::from_value(bodies().remove(3)).unwrap();
    let shop = client.create_shop(&req).await.unwrap();
    assert_eq!(shop.credentials.consumer_key.as_deref(), Some("ck…89"));
    let off = xt_mobile_api::ShopPatch {
        enabled: Some(false),
        ..Default::default()
    };
    assert!(!client.update_shop(&shop.id, &off).await.unwrap().enabled);
    let listed = client.list_shops().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].enabled);
    let err = client.update_shop("../x", &off).await.unwrap_err();
    assert!(err.to_string().contains("invalid shop id"), "{err}");
    let err = client.update_shop("shop-none", &off).await.unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
    running.shutdown().await;
}

#[test]
fn shop_secrets_given_to_the_cli_are_not_in_its_debug_output() {
    use clap::Parser;
    let cli = xt_hub::cli::Cli::try_parse_from([
        "xt-hub",
        "shops",
        "add",
        "--key",
        "xtk_test",
        "--platform",
        "taobao",
        "--name",
        "t",
        "--api-base-url",
        "http://127.0.0.1:9",
        "--app-key",
        "12345678",
        "--app-secret",
        SECRETS[0],
        "--session",
        SECRETS[1],
    ])
    .unwrap();
    let debug = format!("{cli:?}");
    assert!(debug.contains("12345678"), "{debug}");
    assert_no_secret("the cli's debug output", &debug);
}

#[test]
fn a_hub_restarted_with_another_master_key_still_lists_shops_and_refuses_their_secrets() {
    use std::sync::Arc;
    use xt_hub::api::HttpApi;
    use xt_hub::hub::{Hub, HubSettings};
    use xt_hub::master_key::MASTER_KEY_FILE;
    let dir = tempfile::tempdir().unwrap();
    xt_hub::cli::init_hub(dir.path(), &support::acme()).unwrap();
    let key_file = dir.path().join(MASTER_KEY_FILE);
    assert_eq!(std::fs::read(&key_file).unwrap().len(), 32);
    let req: xt_mobile_api::ShopCreate = serde_json::from_value(bodies().remove(0)).unwrap();
    let id = {
        let hub = Arc::new(Hub::open(dir.path(), support::private_shop_urls()).unwrap());
        let api = HttpApi::new(hub).domains().shops;
        let shop = api
            .create_shop(&support::acme(), &req.validated().unwrap())
            .unwrap();
        shop.view.id
    };
    // A lost key is not silently remade while shops are sealed with it.
    std::fs::remove_file(&key_file).unwrap();
    let refused = Hub::open(dir.path(), HubSettings::default())
        .err()
        .expect("a hub whose master key is lost must not open");
    assert!(
        format!("{refused:#}").contains("restore it from the backup"),
        "{refused:#}"
    );
    // Another hub's key: the record is kept and still shown, its secrets are refused with an
    // error naming the master key.
    std::fs::write(&key_file, [7u8; 32]).unwrap();
    let hub = Arc::new(Hub::open(dir.path(), HubSettings::default()).unwrap());
    let record = hub.store().shop(&support::acme(), &id).unwrap().unwrap();
    let err = record.open_credentials(hub.master_key()).unwrap_err();
    assert!(err.to_string().contains("master key"), "{err}");
    let api = HttpApi::new(hub).domains().shops;
    assert_eq!(api.list_shops(&support::acme()).unwrap().len(), 1);
}

/// Binds the first shop of [`bodies`] at `url`.
async fn bind(env: &Env, url: &str) -> support::Reply {
    let mut body = bodies().remove(0);
    body["api_base_url"] = json!(url);
    env.call(Method::POST, "/api/v1/shops", Some(&env.key), Some(body))
        .await
}

#[tokio::test]
async fn private_shop_urls_are_refused_at_bind_unless_allowed() {
    use xt_hub::hub::HubSettings;
    use xt_hub::shops::channels::ShopUrlPolicy;
    let strict = Env::with_settings(HubSettings::default());
    for url in [
        "http://127.0.0.1:9/top",
        "http://[::1]:8080/wp-json",
        "http://[::ffff:127.0.0.1]/",
        "http://2130706433/",
        "http://10.1.2.3/",
        "http://192.168.1.10:8080",
        "http://100.64.0.1/",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/",
        "http://[fe80::1]/",
        "http://0.0.0.0:80",
    ] {
        let r = bind(&strict, url).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}: {}", r.text);
        let message = r.body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("api_base_url"), "{url}: {message}");
        assert!(
            message.contains("--allow-private-shop-urls"),
            "{url}: {message}"
        );
    }
    // A name is checked when capture resolves it, on every connection.
    let shop = create(&strict, &strict.key, bodies().remove(1)).await;
    let path = format!("/api/v1/shops/{}", shop["id"].as_str().unwrap());
    let patch = json!({"api_base_url": "http://10.0.0.5/routerjson",
        "credentials": {"app_key": "JDKEY0001", "app_secret": "s", "access_token": "t"}});
    let r = strict
        .call(Method::PATCH, &path, Some(&strict.key), Some(patch))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("api_base_url"), "{}", r.text);

    // --allow-private-shop-urls: private ranges bind, metadata addresses still do not.
    let open = env();
    for url in [
        "http://127.0.0.1:9/top",
        "http://10.1.2.3/",
        "http://[::1]:8080",
    ] {
        let r = bind(&open, url).await;
        assert_eq!(r.status, StatusCode::CREATED, "{url}: {}", r.text);
    }
    let r = bind(&open, "http://169.254.169.254/").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // --allow-shop-cidr 10.1.0.0/16: that range only.
    let listed = Env::with_settings(HubSettings {
        shop_urls: ShopUrlPolicy {
            allow_private: false,
            allowed: vec!["10.1.0.0/16".parse().unwrap()],
        },
        ..HubSettings::default()
    });
    let r = bind(&listed, "http://10.1.2.3:8080/").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = bind(&listed, "http://10.2.0.1/").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
}

#[tokio::test]
async fn changing_a_shop_url_needs_its_credentials_again() {
    let env = env();
    let shop = create(&env, &env.key, bodies().remove(0)).await;
    let path = format!("/api/v1/shops/{}", shop["id"].as_str().unwrap());
    let r = env
        .call(
            Method::PATCH,
            &path,
            Some(&env.key),
            Some(json!({"api_base_url": "https://collector.example/router/rest"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("api_base_url"), "{message}");
    assert!(message.contains("credentials"), "{message}");
    let unchanged = env.call(Method::GET, &path, Some(&env.key), None).await;
    assert_eq!(unchanged.body, shop);

    // The same URL again is no change.
    let same = json!({"api_base_url": shop["api_base_url"], "name": "改名"});
    let r = env
        .call(Method::PATCH, &path, Some(&env.key), Some(same))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // With the credentials in the same request the URL changes.
    let moved = json!({"api_base_url": "https://eco.taobao.com/router/rest",
        "credentials": {"app_key": "12345678", "app_secret": SECRETS[8], "session": SECRETS[9]}});
    let r = env
        .call(Method::PATCH, &path, Some(&env.key), Some(moved))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["api_base_url"], "https://eco.taobao.com/router/rest");
}
