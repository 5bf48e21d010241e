//! `GET /metrics` over the real hub: the router called directly (tower `oneshot`) with the hub's
//! the hub's services (`HttpApi::domains`) over a freshly initialized data directory.

mod support;

use axum::extract::ConnectInfo;
use axum::http::{Method, StatusCode};
use std::net::SocketAddr;
use support::{Env, Reply, env, request};

impl Env {
    async fn metrics(&self, bearer: Option<&str>, client: Option<SocketAddr>) -> Reply {
        self.metrics_via(bearer, client, &[]).await
    }

    /// `GET /metrics` from `client` with extra `headers`.
    async fn metrics_via(
        &self,
        bearer: Option<&str>,
        client: Option<SocketAddr>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = request(Method::GET, "/metrics", bearer, None);
        if let Some(addr) = client {
            req.extensions_mut().insert(ConnectInfo(addr));
        }
        for (name, value) in headers {
            req.headers_mut().insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                axum::http::HeaderValue::from_str(value).unwrap(),
            );
        }
        self.send(req).await
    }
}

/// The value of the sample line starting with `series ` (0 if absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

const BAD_CREDENTIALS: &str = "xt_login_failures_total{reason=\"bad_credentials\"}";

#[tokio::test]
async fn operator_key_reads_metrics_with_http_and_login_series() {
    let env = env();
    let r = env
        .call(Method::GET, "/api/v1/agents", Some(&env.key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    env.call(Method::GET, "/healthz", None, None).await;
    env.call(Method::GET, "/no/such/path", None, None).await;

    let r = env.metrics(Some(&env.operator_key), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.content_type().starts_with("application/openmetrics-text"));
    assert!(r.text.contains("xt_http_request_duration_seconds"));
    assert!(r.text.contains(
        "xt_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/agents\",status=\"2xx\"} 1"
    ), "{}", r.text);
    assert!(r.text.contains(
        "xt_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"4xx\"} 1"
    ), "{}", r.text);
    // Raw paths never become labels.
    assert!(!r.text.contains("/no/such/path"));
    for name in [
        "xt_sync_batches_total",
        "xt_sync_changes_applied_total",
        "xt_sync_changes_rejected_total",
        "xt_agents_connected",
        "xt_sync_backlog",
        "xt_sync_lag_seconds",
    ] {
        assert!(r.text.contains(name), "{name} missing:\n{}", r.text);
    }
    let before = sample(&r.text, BAD_CREDENTIALS);

    assert_eq!(
        env.login("acme", "admin", "wrong password").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = env.metrics(Some(&env.operator_key), None).await;
    assert_eq!(sample(&r.text, BAD_CREDENTIALS), before + 1.0, "{}", r.text);
}

#[tokio::test]
async fn throttled_sign_ins_are_counted() {
    let env = env();
    let mut throttled = false;
    for _ in 0..20 {
        if env.login("acme", "admin", "wrong password").await.status
            == StatusCode::TOO_MANY_REQUESTS
        {
            throttled = true;
            break;
        }
    }
    assert!(throttled);
    let r = env.metrics(Some(&env.operator_key), None).await;
    assert_eq!(
        sample(&r.text, "xt_login_failures_total{reason=\"throttled\"}"),
        1.0,
        "{}",
        r.text
    );
}

#[tokio::test]
async fn access_needs_direct_loopback_or_the_operator_key() {
    let env = env();
    // No connect info and no credential: refused.
    let r = env.metrics(None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"]["code"], "unauthorized", "{}", r.text);
    // A remote client without a credential: refused.
    let remote: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    assert_eq!(
        env.metrics(None, Some(remote)).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A bad credential: 401.
    let r = env.metrics(Some("xtk_not_a_key"), Some(remote)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error"]["code"], "unauthorized", "{}", r.text);
    // Loopback (IPv4, IPv6, IPv4-mapped) without a credential: allowed.
    for addr in ["127.0.0.1:9000", "[::1]:9000", "[::ffff:127.0.0.1]:9000"] {
        let r = env.metrics(None, Some(addr.parse().unwrap())).await;
        assert_eq!(r.status, StatusCode::OK, "{addr}: {}", r.text);
        assert!(r.text.contains("xt_agents_connected"));
    }
    // The operator key from anywhere: allowed.
    let r = env.metrics(Some(&env.operator_key), Some(remote)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A manager: 403.
    let manager = env.user_token("mgr", &["manager"], &[]).await;
    let r = env.metrics(Some(&manager), Some(remote)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.body["error"]["code"], "forbidden", "{}", r.text);
}

#[tokio::test]
async fn owner_credentials_cannot_read_metrics() {
    let env = env();
    let remote: SocketAddr = "192.0.2.7:40000".parse().unwrap();
    let (owner, _) = env.tokens("acme", "admin", &env.owner_password).await;
    for bearer in [&env.key, &owner] {
        let r = env.metrics(Some(bearer), Some(remote)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        assert_eq!(r.body["error"]["code"], "forbidden", "{}", r.text);
    }
}

#[tokio::test]
async fn forwarded_loopback_requests_need_the_operator_key() {
    let env = env();
    // A reverse proxy on the hub's host connects from loopback on behalf of anyone.
    let proxy: SocketAddr = "127.0.0.1:50000".parse().unwrap();
    for header in [
        ("x-forwarded-for", "198.51.100.7"),
        ("forwarded", "for=198.51.100.7"),
        ("x-real-ip", "198.51.100.7"),
    ] {
        let r = env.metrics_via(None, Some(proxy), &[header]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{header:?}: {}", r.text);
        let r = env
            .metrics_via(Some(&env.operator_key), Some(proxy), &[header])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{header:?}: {}", r.text);
    }
}
