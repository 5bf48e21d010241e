//! Hub calls run under budgets: 200 slow requests in flight cannot take every blocking thread,
//! and sign-in has a budget of its own, so it still answers. The hub's router over a temp redb,
//! served on 127.0.0.1; stock listings are made slow for real (each holds its blocking thread,
//! as a slow disk would) with the hub's test knob.

mod support;

use serde_json::json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use support::env;
use xt_hub::api::HttpApi;

/// Slow requests in flight at once.
const SLOW_REQUESTS: usize = 200;
/// How long each slow request holds its blocking thread.
const SLOW_CALL: Duration = Duration::from_secs(10);
/// Blocking threads of the runtime: fewer than the slow requests, more than the router's
/// budgets together ([`xt_mobile_api::HUB_CALLS_MAX`] + [`xt_mobile_api::SIGN_IN_CALLS_MAX`]), as
/// in a hub whose pool the slow requests would fill.
const BLOCKING_THREADS: usize = 64;
/// Generous liveness bound for one sign-in (argon2 included) while the slow requests wait.
const SIGN_IN_BOUND: Duration = Duration::from_secs(5);

#[test]
fn slow_requests_cannot_starve_sign_in() {
    const {
        assert!(xt_mobile_api::HUB_CALLS_MAX + xt_mobile_api::SIGN_IN_CALLS_MAX < BLOCKING_THREADS);
        assert!(BLOCKING_THREADS < SLOW_REQUESTS);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(BLOCKING_THREADS)
        .enable_all()
        .build()
        .unwrap();
    let env = env();
    rt.block_on(async {
        let api = HttpApi::new(Arc::clone(&env.hub)).with_stock_delay(SLOW_CALL);
        let router = xt_mobile_api::router(api.domains())
            .into_make_service_with_connect_info::<SocketAddr>();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let client = reqwest::Client::new();

        let mut slow = tokio::task::JoinSet::new();
        for _ in 0..SLOW_REQUESTS {
            let request = client
                .get(format!("http://{addr}/api/v1/stock"))
                .bearer_auth(&env.key)
                .send();
            slow.spawn(request);
        }
        // Let the slow requests reach the hub and take what they can.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(slow.len(), SLOW_REQUESTS, "slow requests answered early");

        let login = client
            .post(format!("http://{addr}/api/v1/auth/login"))
            .json(&json!({"tenant": "acme", "username": "admin", "password": env.owner_password}))
            .send();
        let reply = tokio::time::timeout(SIGN_IN_BOUND, login)
            .await
            .unwrap_or_else(|_| {
                panic!("sign-in did not answer within {SIGN_IN_BOUND:?} behind slow requests")
            })
            .unwrap();
        assert_eq!(reply.status(), reqwest::StatusCode::OK);
        slow.abort_all();
    });
    // The slow calls still sleeping are not waited for.
    rt.shutdown_background();
}
