//! Platform webhooks against a real hub (temp redb, the router called directly): a delivery
//! signed with the shop's webhook secret is captured once however often it comes; a missing or
//! wrong signature is 401 and stores nothing; a body that is not an order is kept as a capture
//! error; an older delivery never overwrites a newer one.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use support::{Env, acme, env};
use xt_hub::channels::webhook::sign_hmac_sha256;

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
    env.hub
        .store
        .orders_page(&acme(), &Default::default(), None, usize::MAX)
        .unwrap()
        .len()
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
                .store
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
        let state = env.hub.store.capture_state(&acme(), &id).unwrap();
        assert_eq!((state.orders, state.stale), (1, 1), "{platform}: {state:?}");

        // Signed but not an order: accepted (the platform must not retry it) and kept.
        let junk = r#"{"hello":"world"}"#;
        let sig_junk = sign_hmac_sha256(SECRET, junk.as_bytes());
        assert_eq!(
            deliver(&env, platform, &id, junk, Some(sig_junk)).await,
            StatusCode::OK
        );
        let errors = env.hub.store.capture_errors(&acme(), &id, 10).unwrap();
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
