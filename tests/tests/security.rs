//! Enrollment and connection-time refusals, and certificate renewal over the live connection.

mod support;

use std::process::Command;
use std::time::Duration;
use support::{AGENT_BIN, AgentProc, HubProc, enroll, wait_stock_equal};
use xt_tests::legacy::LegacyWms;
use xt_tests::{wait_for, write_agent_config};

fn check(config: &std::path::Path) -> (bool, String) {
    let out = Command::new(AGENT_BIN)
        .args(["check", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_unknown_and_expired_tokens_are_refused() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let hub = HubProc::start(&tmp.path().join("hub"), "acme", &[]).await?;
    let token = hub.token("site-a", "warehouse").await?;
    let (code, err) = enroll(&hub.quic, &token, &hub.fingerprint, &tmp.path().join("a1"));
    assert_eq!(code, 0, "{err}");

    let (code, err) = enroll(&hub.quic, &token, &hub.fingerprint, &tmp.path().join("a2"));
    assert_eq!(
        code, 2,
        "a reused token must be refused with exit code 2: {err}"
    );
    assert!(err.contains("already used"), "{err}");
    assert!(
        !tmp.path().join("a2/identity/agent.pem").exists(),
        "nothing saved on refusal"
    );

    let (code, err) = enroll(
        &hub.quic,
        "xte_not-a-real-token",
        &hub.fingerprint,
        &tmp.path().join("a3"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown"), "{err}");

    let out = Command::new(support::HUB_BIN)
        .args([
            "token", "create", "--site", "s", "--role", "pos", "--ttl", "1s", "--json",
        ])
        .env("XT_HUB_URL", format!("http://{}", hub.http))
        .env("XT_KEY", &hub.key)
        .output()?;
    let short: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (code, err) = enroll(
        &hub.quic,
        short["token"].as_str().unwrap(),
        &hub.fingerprint,
        &tmp.path().join("a4"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("expired"), "{err}");

    // A wrong pinned fingerprint: the agent refuses the hub, nothing is sent.
    let token = hub.token("site-a", "warehouse").await?;
    let wrong = "00".repeat(32);
    let (code, err) = enroll(&hub.quic, &token, &wrong, &tmp.path().join("a5"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pinned fingerprint"), "{err}");
    // The token was not spent by the failed attempt.
    let (code, err) = enroll(&hub.quic, &token, &hub.fingerprint, &tmp.path().join("a5"));
    assert_eq!(code, 0, "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_of_another_ca_and_revoked_agent_are_refused() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let hub = HubProc::start(&tmp.path().join("hub"), "acme", &[]).await?;
    let other = HubProc::start(&tmp.path().join("other"), "evil", &[]).await?;
    let legacy = LegacyWms::create(&tmp.path().join("legacy"), &["WH"], 10)?;

    // Enrolled with the other hub, pointed at ours: refused at the TLS handshake.
    let stranger = tmp.path().join("stranger");
    let token = other.token("x", "warehouse").await?;
    assert_eq!(
        enroll(&other.quic, &token, &other.fingerprint, &stranger).0,
        0
    );
    let config = tmp.path().join("stranger.toml");
    write_agent_config(
        &config,
        &stranger,
        Some(&hub.quic.to_string()),
        &legacy.dir,
        1,
    )?;
    let (ok, out) = check(&config);
    assert!(!ok, "an agent of another CA must not get in: {out}");
    wait_for(
        Duration::from_secs(10),
        "hub logs the refused handshake",
        || {
            let log = hub.log();
            async move {
                log.contains("refused connection: handshake failed")
                    .then_some(())
            }
        },
    )
    .await?;

    // A properly enrolled agent gets in, until it is revoked.
    let good = tmp.path().join("good");
    let token = hub.token("y", "warehouse").await?;
    assert_eq!(enroll(&hub.quic, &token, &hub.fingerprint, &good).0, 0);
    let config = tmp.path().join("good.toml");
    write_agent_config(&config, &good, None, &legacy.dir, 1)?;
    let (ok, out) = check(&config);
    assert!(ok, "{out}");
    let mut agent = AgentProc::new(&good, &config);
    agent.spawn()?;
    let api = hub.api();
    let expected = legacy.stock()?;
    wait_stock_equal(&api, &expected, Duration::from_secs(60)).await?;
    let id = api.agents().await?[0].id.to_string();
    assert!(api.agents().await?[0].connected);

    let out = Command::new(support::HUB_BIN)
        .args(["agents", "revoke", &id])
        .env("XT_HUB_URL", format!("http://{}", hub.http))
        .env("XT_KEY", &hub.key)
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_for(
        Duration::from_secs(10),
        "revoked agent disconnected",
        || {
            let api = api.clone();
            async move {
                api.agents()
                    .await
                    .ok()
                    .filter(|a| !a[0].connected && a[0].revoked_at.is_some())
                    .map(|_| ())
            }
        },
    )
    .await?;
    // It keeps trying, and keeps being refused with a logged reason.
    wait_for(
        Duration::from_secs(20),
        "hub logs the revoked agent's refusal",
        || {
            let log = hub.log();
            async move { log.contains("is revoked").then_some(()) }
        },
    )
    .await?;
    wait_for(
        Duration::from_secs(20),
        "agent says plainly that it is refused",
        || {
            let log = agent.log();
            async move { log.contains("the hub refuses this agent").then_some(()) }
        },
    )
    .await?;
    agent.kill();
    let (ok, out) = check(&config);
    assert!(!ok, "{out}");
    assert!(api.agents().await?.iter().all(|a| !a.connected));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_certificate_is_refused_and_renewal_keeps_identity() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    // Certificates that live 12 seconds: renewal is due after about 8.
    let hub = HubProc::start(
        &tmp.path().join("hub"),
        "acme",
        &["--agent-cert-ttl", "12s"],
    )
    .await?;
    let legacy = LegacyWms::create(&tmp.path().join("legacy"), &["WH"], 100)?;

    // An agent that never runs lets its certificate expire: refused at the handshake.
    let idle = tmp.path().join("idle");
    let token = hub.token("idle", "warehouse").await?;
    assert_eq!(enroll(&hub.quic, &token, &hub.fingerprint, &idle).0, 0);
    let idle_config = tmp.path().join("idle.toml");
    write_agent_config(&idle_config, &idle, None, &legacy.dir, 1)?;
    assert!(check(&idle_config).0, "fresh certificate works");

    // A running agent renews over its live connection and keeps its identity and outbox.
    let data = tmp.path().join("agent");
    let token = hub.token("live", "warehouse").await?;
    assert_eq!(enroll(&hub.quic, &token, &hub.fingerprint, &data).0, 0);
    let config = tmp.path().join("agent.toml");
    write_agent_config(&config, &data, None, &legacy.dir, 1)?;
    let first_cert = std::fs::read(data.join("identity/agent.pem"))?;
    let mut agent = AgentProc::new(&data, &config);
    agent.spawn()?;
    let api = hub.api();
    wait_stock_equal(&api, &legacy.stock()?, Duration::from_secs(60)).await?;
    wait_for(Duration::from_secs(30), "certificate renewed", || {
        let now = std::fs::read(data.join("identity/agent.pem")).unwrap_or_default();
        let changed = now != first_cert && !now.is_empty();
        async move { changed.then_some(()) }
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}\n{}", agent.log()))?;
    tokio::time::sleep(Duration::from_secs(13)).await; // the first certificate has expired by now

    assert!(
        !check(&idle_config).0,
        "an expired certificate must be refused"
    );
    assert!(hub.log().contains("refused connection: handshake failed"));

    // Restart with the renewed certificate: same agent, outbox intact, new rows flow.
    agent.kill();
    let mut legacy = legacy;
    legacy.change_random(50)?;
    agent.spawn()?;
    wait_stock_equal(&api, &legacy.stock()?, Duration::from_secs(60))
        .await
        .map_err(|e| anyhow::anyhow!("{e}\n{}", agent.log()))?;
    let agents = api.agents().await?;
    let live = agents.iter().find(|a| a.site.as_str() == "live").unwrap();
    assert!(live.connected);
    let source = live
        .sources
        .iter()
        .find(|s| s.source.as_str() == "wms-stock")
        .unwrap();
    assert_eq!(
        source.records_applied, source.applied_seq,
        "no duplicates across renewal and restart"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_of_our_ca_for_an_unknown_agent_is_refused() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let hub = HubProc::start(&tmp.path().join("hub"), "acme", &[]).await?;
    let legacy = LegacyWms::create(&tmp.path().join("legacy"), &["WH"], 10)?;
    let data = tmp.path().join("agent");
    let token = hub.token("x", "warehouse").await?;
    assert_eq!(enroll(&hub.quic, &token, &hub.fingerprint, &data).0, 0);

    // A second hub with the same CA but its own registry (say, a restored old backup): the
    // certificate verifies, the agent is not in the registry.
    let mut twin = HubProc::start(&tmp.path().join("twin"), "acme", &[]).await?;
    twin.kill();
    for f in ["ca.crt.pem", "ca.key.pem"] {
        std::fs::copy(hub.data.join(f), twin.data.join(f))?;
    }
    twin.spawn().await?;
    let config = tmp.path().join("agent.toml");
    write_agent_config(&config, &data, Some(&twin.quic.to_string()), &legacy.dir, 1)?;
    let (ok, out) = check(&config);
    assert!(!ok, "{out}");
    wait_for(
        Duration::from_secs(10),
        "twin logs the unknown agent",
        || {
            let log = twin.log();
            async move {
                (log.contains("refused agent connection") && log.contains("is unknown"))
                    .then_some(())
            }
        },
    )
    .await?;
    Ok(())
}
