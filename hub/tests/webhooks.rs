//! Platform webhooks against a real hub (temp redb, the router called directly): a delivery
//! signed with the shop's webhook secret is captured once however often it comes; a missing or
//! wrong signature is 401 and stores nothing; a body that is not an order is kept as a capture
//! error; an older delivery never overwrites a newer one.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use support::{Env, acme, env, forget_index};
use xt_hub::hub::{DB_FILE, Hub, HubSettings};
use xt_hub::shops::channels::webhook::sign_hmac_sha256;
use xt_hub::store::{SealedCredentials, ShopHealthRecord, ShopRecord};
use xt_shared::credentials::ShopCredentials;
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;
use xt_shared::order::Platform;

const SECRET: &str = "whsec-zq9";

async fn shop(env: &Env, platform: &str) -> String {
    let creds = match platform {
        "shopify" => {
            json!({"shop_domain": "a.myshopify.com", "access_token": "t", "webhook_secret": SECRET})
        }
        "woocommerce" => {
            json!({"consumer_key": "ck_1", "consumer_secret": "cs", "webhook_secret": SECRET})
        }
        _ => json!({"app_key": "12345678", "app_secret": "s", "session": "s"}),
    };
    let r = env
        .call(
            Method::POST,
            "/api/v1/shops",
            Some(&env.key),
            Some(
                json!({"platform": platform, "name": platform, "api_base_url": "http://127.0.0.1:9",
                "credentials": creds}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    r.body["id"].as_str().unwrap().to_owned()
}

fn fixture(platform: &str, name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/channels/{platform}/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn deliver(
    env: &Env,
    platform: &str,
    shop: &str,
    body: &str,
    signature: Option<String>,
) -> StatusCode {
    let header = match platform {
        "shopify" => "x-shopify-hmac-sha256",
        _ => "x-wc-webhook-signature",
    };
    let mut req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/webhooks/{platform}/{shop}"))
        .header("content-type", "application/json");
    if let Some(sig) = signature {
        req = req.header(header, sig);
    }
    env.send(req.body(Body::from(body.to_owned())).unwrap())
        .await
        .status
}

fn orders(env: &Env) -> usize {
    orders_of(env, &acme())
}

fn orders_of(env: &Env, tenant: &TenantId) -> usize {
    env.hub
        .store()
        .orders_page(tenant, &Default::default(), None, usize::MAX)
        .unwrap()
        .len()
}

fn beta() -> TenantId {
    TenantId::new("beta").unwrap()
}

/// A Shopify shop record `id` of `tenant` whose webhook secret is `secret`, sealed with `hub`'s
/// master key (as the shops API stores it).
fn shopify_record(hub: &Hub, tenant: &TenantId, id: &str, secret: &str) -> ShopRecord {
    let mut r = ShopRecord {
        id: id.into(),
        tenant: tenant.clone(),
        platform: Platform::Shopify,
        name: "shopify".into(),
        api_base_url: "http://127.0.0.1:9".into(),
        enabled: true,
        created_at: UtcMillis(1),
        updated_at: UtcMillis(1),
        credential_id: String::new(),
        credentials_sealed: SealedCredentials::default(),
        health: ShopHealthRecord::default(),
    };
    let credentials = ShopCredentials::Shopify {
        shop_domain: "b.myshopify.com".into(),
        access_token: "token".into(),
        webhook_secret: secret.into(),
    };
    r.seal_credentials(hub.master_key(), &credentials);
    r
}

#[tokio::test]
async fn signed_deliveries_are_captured_once_and_unsigned_ones_are_refused() {
    let env = env();
    for platform in ["shopify", "woocommerce"] {
        let id = shop(&env, platform).await;
        let name = if platform == "shopify" {
            "paid-unfulfilled-multi-line"
        } else {
            "processing-multi-line"
        };
        let body = fixture(platform, name);
        let before = orders(&env);

        assert_eq!(
            deliver(&env, platform, &id, &body, None).await,
            StatusCode::UNAUTHORIZED
        );
        let forged = sign_hmac_sha256("another-secret", body.as_bytes());
        assert_eq!(
            deliver(&env, platform, &id, &body, Some(forged)).await,
            StatusCode::UNAUTHORIZED
        );
        let tampered = format!("{body} ");
        let sig = sign_hmac_sha256(SECRET, body.as_bytes());
        assert_eq!(
            deliver(&env, platform, &id, &tampered, Some(sig.clone())).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            orders(&env),
            before,
            "{platform}: a refused delivery stored something"
        );
        assert_eq!(
            env.hub
                .store()
                .capture_state(&acme(), &id)
                .unwrap()
                .capture_errors,
            0
        );

        for _ in 0..3 {
            assert_eq!(
                deliver(&env, platform, &id, &body, Some(sig.clone())).await,
                StatusCode::OK
            );
        }
        assert_eq!(
            orders(&env),
            before + 1,
            "{platform}: duplicates are one order"
        );

        // An older version of the same order arriving late changes nothing.
        let mut older: Value = serde_json::from_str(&body).unwrap();
        let (field, old) = match platform {
            "shopify" => ("updated_at", json!("2000-01-01T00:00:00Z")),
            _ => ("date_modified_gmt", json!("2000-01-01T00:00:00")),
        };
        older[field] = old;
        older["note"] = json!("stale");
        older["customer_note"] = json!("stale");
        let older = older.to_string();
        let sig_old = sign_hmac_sha256(SECRET, older.as_bytes());
        assert_eq!(
            deliver(&env, platform, &id, &older, Some(sig_old)).await,
            StatusCode::OK
        );
        let state = env.hub.store().capture_state(&acme(), &id).unwrap();
        assert_eq!((state.orders, state.stale), (1, 1), "{platform}: {state:?}");

        // Signed but not an order: accepted (the platform must not retry it) and kept.
        let junk = r#"{"hello":"world"}"#;
        let sig_junk = sign_hmac_sha256(SECRET, junk.as_bytes());
        assert_eq!(
            deliver(&env, platform, &id, junk, Some(sig_junk)).await,
            StatusCode::OK
        );
        let errors = env.hub.store().capture_errors(&acme(), &id, 10).unwrap();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].raw.contains("hello"), "{:?}", errors[0]);
    }
    // Taobao sends no webhooks; an unknown shop is not found.
    let tb = shop(&env, "taobao").await;
    assert_eq!(
        deliver(&env, "taobao", &tb, "{}", Some("x".into())).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        deliver(&env, "shopify", &tb, "{}", Some("x".into())).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        deliver(&env, "shopify", "shop-0000", "{}", Some("x".into())).await,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_webhook_finds_its_shop_by_id_in_whichever_tenant_signed_it() {
    let env = env();
    env.add_beta();
    let id = shop(&env, "shopify").await;
    // Beta binds a shop with the same id (ids are unique per tenant only) and its own secret.
    env.hub
        .store()
        .insert_shop(&shopify_record(&env.hub, &beta(), &id, "beta-secret"))
        .unwrap();
    let body = fixture("shopify", "paid-unfulfilled-multi-line");

    let sig = sign_hmac_sha256("beta-secret", body.as_bytes());
    assert_eq!(
        deliver(&env, "shopify", &id, &body, Some(sig)).await,
        StatusCode::OK
    );
    assert_eq!((orders(&env), orders_of(&env, &beta())), (0, 1));

    let sig = sign_hmac_sha256(SECRET, body.as_bytes());
    assert_eq!(
        deliver(&env, "shopify", &id, &body, Some(sig)).await,
        StatusCode::OK
    );
    assert_eq!((orders(&env), orders_of(&env, &beta())), (1, 1));

    let forged = sign_hmac_sha256("neither", body.as_bytes());
    assert_eq!(
        deliver(&env, "shopify", &id, &body, Some(forged)).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(env.hub.store().shops_by_id(&id).unwrap().len(), 2);
    assert!(env.hub.store().shops_by_id("shop-none").unwrap().is_empty());
}

#[tokio::test]
async fn shops_bound_before_the_id_index_existed_take_webhooks() {
    let dir = tempfile::tempdir().unwrap();
    let made = xt_hub::cli::init_hub(dir.path(), &acme()).unwrap();
    {
        let hub = Hub::open(dir.path(), HubSettings::default()).unwrap();
        hub.store()
            .insert_shop(&shopify_record(&hub, &acme(), "shop-old", SECRET))
            .unwrap();
    }
    forget_index(
        &dir.path().join(DB_FILE),
        "shops_by_id",
        "shops_by_id_built",
    );
    let env = Env::over(
        dir,
        made.admin_key,
        made.owner_password,
        HubSettings::default(),
    );
    let body = fixture("shopify", "paid-unfulfilled-multi-line");
    let sig = sign_hmac_sha256(SECRET, body.as_bytes());
    assert_eq!(
        deliver(&env, "shopify", "shop-old", &body, Some(sig)).await,
        StatusCode::OK
    );
    assert_eq!(orders(&env), 1);
}

#[tokio::test]
async fn a_200_kib_signed_webhook_is_accepted_and_200_kib_elsewhere_is_413() {
    let env = env();
    let id = shop(&env, "shopify").await;
    let mut order: Value =
        serde_json::from_str(&fixture("shopify", "paid-unfulfilled-multi-line")).unwrap();
    order["xt_padding"] = json!("x".repeat(200 * 1024));
    let body = order.to_string();
    assert!(body.len() > 200 * 1024 && body.len() > xt_mobile_api::REQUEST_BODY_BYTES_MAX);
    let sig = sign_hmac_sha256(SECRET, body.as_bytes());
    assert_eq!(
        deliver(&env, "shopify", &id, &body, Some(sig)).await,
        StatusCode::OK
    );
    assert_eq!(orders(&env), 1);

    // Beyond the webhook limit it is 413 too.
    let huge = "x".repeat(xt_mobile_api::orders::WEBHOOK_BODY_BYTES_MAX + 1);
    let sig = sign_hmac_sha256(SECRET, huge.as_bytes());
    assert_eq!(
        deliver(&env, "shopify", &id, &huge, Some(sig)).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // Every other route keeps the small limit.
    let big = json!({"name": "x".repeat(200 * 1024), "scopes": ["stock:read"]});
    let r = env
        .call(Method::POST, "/api/v1/api-keys", Some(&env.key), Some(big))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.body["error"]["code"], "payload_too_large");
}
