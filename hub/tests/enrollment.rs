//! Enrollment tokens made over HTTP tell IT where agents dial the hub: the QUIC port the hub is
//! really bound to, and the operator's `--agent-address` when there is one.

mod support;

use serde_json::{Value, json};
use xt_hub::cli::{ServeArgs, init_hub, start};
use xt_shared::ids::TenantId;

async fn token_from_a_hub_serving(agent_address: Option<&str>) -> (u16, Value) {
    let dir = tempfile::tempdir().unwrap();
    let made = init_hub(dir.path(), &TenantId::new("acme").unwrap()).unwrap();
    let running = start(&ServeArgs {
        agent_address: agent_address.map(str::to_owned),
        capture: Default::default(),
        ..support::loopback_serve_args(dir.path())
    })
    .await
    .unwrap();
    let reply = reqwest::Client::new()
        .post(format!(
            "http://{}/api/v1/enrollment-tokens",
            running.http_addr
        ))
        .bearer_auth(&made.admin_key)
        .json(&json!({"site": "shanghai-dc", "role": "warehouse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), reqwest::StatusCode::CREATED);
    let body: Value = reply.json().await.unwrap();
    let port = running.quic_addr.port();
    running.shutdown().await;
    (port, body)
}

#[tokio::test]
async fn a_token_names_the_bound_quic_port() {
    let (port, token) = token_from_a_hub_serving(None).await;
    assert_ne!(port, 0);
    assert_eq!(token["quic_port"], json!(port), "{token}");
    assert_eq!(token["agent_address"], Value::Null, "{token}");
}

#[tokio::test]
async fn a_token_names_the_operators_agent_address() {
    let (port, token) = token_from_a_hub_serving(Some("hub.example.cn:4433")).await;
    assert_eq!(token["quic_port"], json!(port), "{token}");
    assert_eq!(
        token["agent_address"],
        json!("hub.example.cn:4433"),
        "{token}"
    );
}
