//! `xt-hub`'s remote commands talk to a real hub over loopback HTTP through [`AdminClient`].

mod support;

use support::{acme, env, register_agent};
use xt_hub::admin_client::AdminClient;
use xt_mobile_api::TokenRequest;
use xt_shared::ids::{AgentId, SiteId};
use xt_shared::protocol::AgentRole;

/// Serves `env`'s router on a loopback port; returns its base URL.
async fn serve(env: &support::Env) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = env.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}/")
}

#[tokio::test]
async fn the_client_makes_tokens_lists_and_revokes_agents() {
    let env = env();
    register_agent(&env.hub, &acme(), "a1", "shanghai");
    let client = AdminClient::new(&serve(&env).await, &env.key).unwrap();

    let created = client
        .create_token(&TokenRequest {
            site: SiteId::new("hangzhou").unwrap(),
            role: AgentRole::Finance,
            ttl_secs: None,
        })
        .await
        .unwrap();
    assert!(!created.token.is_empty());
    assert_eq!(created.site.as_str(), "hangzhou");
    assert_eq!(created.tenant, acme());

    let agents = client.list_agents().await.unwrap();
    assert_eq!(agents.len(), 1);
    assert_eq!(agents[0].id.as_str(), "a1");
    assert!(agents[0].revoked_at.is_none());

    let revoked = client
        .revoke_agent(&AgentId::new("a1").unwrap())
        .await
        .unwrap();
    assert!(revoked.revoked_at.is_some());

    let err = client
        .revoke_agent(&AgentId::new("nope").unwrap())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("hub refused (404 not_found): "), "{err}");
}

#[tokio::test]
async fn a_bad_key_is_reported_with_the_status() {
    let env = env();
    let client = AdminClient::new(&serve(&env).await, "wrong").unwrap();
    let err = client.list_agents().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "hub refused (401 unauthorized): invalid or missing credentials"
    );
}
