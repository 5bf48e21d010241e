//! Sign-in throttling cannot be turned into a lock-out: failures from one address leave the
//! same account signing in from another address, only a generous per-account ceiling spans
//! addresses, and IPv6 clients are throttled per /64. The hub's router over a temp redb; client
//! addresses come from `X-Forwarded-For` behind a trusted proxy (the TCP peer, as connect info).

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
use xt_hub::identity::throttle::{LOGIN_ACCOUNT_BURST, LoginThrottle, ThrottleLimits};
use xt_mobile_api::{RouterOptions, TrustedProxies};

/// The proxy every request comes through.
const PROXY: &str = "10.0.0.2";

/// A router over a fresh hub whose clients are named by a trusted proxy's `X-Forwarded-For`.
fn router(limits: ThrottleLimits) -> (Env, Router) {
    let env = env();
    let options = RouterOptions {
        trusted_proxies: TrustedProxies::new(vec![
            TrustedProxies::parse_entry("10.0.0.0/8").unwrap(),
        ]),
        ..RouterOptions::default()
    };
    let api = HttpApi::with_throttle(Arc::clone(&env.hub), LoginThrottle::new(limits));
    let peer: SocketAddr = format!("{PROXY}:40000").parse().unwrap();
    let router = xt_mobile_api::router_with(api.domains(), options).layer(MockConnectInfo(peer));
    (env, router)
}

/// Budgets that do not refill during a test, so what is throttled does not depend on speed.
fn frozen() -> ThrottleLimits {
    ThrottleLimits {
        account_refill: Duration::from_secs(3600),
        account_ceiling_refill: Duration::from_secs(3600),
        client_refill: Duration::from_secs(3600),
        ..ThrottleLimits::default()
    }
}

/// Signs `admin` of `acme` in from `client` with `password`.
async fn login(router: &Router, client: &str, password: &str) -> StatusCode {
    let body = json!({"tenant": "acme", "username": "admin", "password": password});
    let mut req = request(Method::POST, "/api/v1/auth/login", None, Some(body));
    req.headers_mut()
        .insert("x-forwarded-for", client.parse().unwrap());
    router.clone().oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn failed_sign_ins_from_one_address_do_not_lock_out_another_address() {
    let (env, router) = router(frozen());
    let attacker = "198.51.100.7";
    for n in 0..LOGIN_ACCOUNT_BURST {
        let status = login(&router, attacker, "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    // The attacker's address is throttled for this account, even with the right password...
    let status = login(&router, attacker, &env.owner_password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // ...but the account's owner, elsewhere, still signs in.
    let status = login(&router, "203.0.113.20", &env.owner_password).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn failed_sign_ins_across_addresses_reach_the_account_ceiling() {
    let ceiling = 8;
    let (env, router) = router(ThrottleLimits {
        account_ceiling_burst: ceiling,
        ..frozen()
    });
    for n in 0..ceiling {
        let status = login(&router, &format!("198.51.100.{n}"), "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let status = login(&router, "203.0.113.20", &env.owner_password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn ipv6_sign_ins_are_throttled_per_64() {
    let (env, router) = router(frozen());
    // Each failure from another address of the same /64.
    for n in 0..LOGIN_ACCOUNT_BURST {
        let client = format!("2001:db8:1:2::{:x}", n + 1);
        let status = login(&router, &client, "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let status = login(&router, "2001:db8:1:2:ffff::9", &env.owner_password).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // Another /64 is another client.
    let status = login(&router, "2001:db8:1:3::1", &env.owner_password).await;
    assert_eq!(status, StatusCode::OK);
}
