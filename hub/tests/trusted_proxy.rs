//! Sign-in throttling per client address keys on the `X-Forwarded-For` address only when the
//! TCP peer is a trusted proxy: the hub's router over a temp redb, with the peer address
//! supplied as connect info.

mod support;

use axum::Router;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{Method, StatusCode};
use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use support::{Env, env, request};
use tower::ServiceExt as _;
use xt_hub::api::HttpApi;
use xt_hub::identity::throttle::{LoginThrottle, ThrottleLimits};
use xt_mobile_api::{RouterOptions, TrustedProxies};

/// Sign-in attempts per client address before it is throttled, in these tests.
const LOGIN_CLIENT_BURST: u32 = 3;

/// A router over a fresh hub (kept alive by the returned `Env`) whose TCP peer is `peer`.
fn router(peer: &str, trusted: &[&str]) -> (Env, Router) {
    let env = env();
    let options = RouterOptions {
        trusted_proxies: TrustedProxies::new(
            trusted
                .iter()
                .map(|t| TrustedProxies::parse_entry(t).unwrap())
                .collect(),
        ),
        ..RouterOptions::default()
    };
    let peer: SocketAddr = format!("{peer}:40000").parse().unwrap();
    // Budgets that do not refill during the test: what is throttled does not depend on speed.
    let throttle = LoginThrottle::new(ThrottleLimits {
        account_burst: LOGIN_CLIENT_BURST,
        account_refill: Duration::from_secs(3600),
        client_burst: LOGIN_CLIENT_BURST,
        client_refill: Duration::from_secs(3600),
        ..ThrottleLimits::default()
    });
    let api = HttpApi::with_throttle(Arc::clone(&env.hub), throttle);
    let router = xt_mobile_api::router_with(api.domains(), options).layer(MockConnectInfo(peer));
    (env, router)
}

/// A wrong sign-in of a fresh username (so only the per-address budget is spent).
async fn wrong_login(router: &Router, n: u32, forwarded_for: &str) -> StatusCode {
    let body = json!({"tenant": "acme", "username": format!("nobody{n}"), "password": "wrong"});
    let mut req = request(Method::POST, "/api/v1/auth/login", None, Some(body));
    req.headers_mut()
        .insert("x-forwarded-for", forwarded_for.parse().unwrap());
    router.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_throttled() {
    let (_env, router) = router("10.0.0.2", &["10.0.0.0/8"]);
    for n in 0..LOGIN_CLIENT_BURST {
        let status = wrong_login(&router, n, "198.51.100.1").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let status = wrong_login(&router, LOGIN_CLIENT_BURST, "198.51.100.1").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy has its own budget; a forged leftmost entry does
    // not let the throttled client borrow it.
    let status = wrong_login(&router, LOGIN_CLIENT_BURST + 1, "198.51.100.2").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let status = wrong_login(
        &router,
        LOGIN_CLIENT_BURST + 2,
        "198.51.100.2, 198.51.100.1",
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn an_untrusted_peers_forwarded_for_is_ignored() {
    let (_env, router) = router("192.0.2.50", &["10.0.0.0/8"]);
    for n in 0..LOGIN_CLIENT_BURST {
        let status = wrong_login(&router, n, &format!("198.51.100.{n}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    // Every attempt came from the peer itself, whatever it claimed to forward.
    let status = wrong_login(&router, LOGIN_CLIENT_BURST, "203.0.113.99").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
