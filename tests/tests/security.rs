//! Enrollment and connection-time refusals, and certificate renewal over the live connection.

mod support;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::{AGENT_BIN, AgentProc, HubProc, enroll, wait_stock_equal};
use xt_hub::agents::quic::{ENROLL_ATTEMPTS_BURST, ENROLL_FRAME_BYTES_MAX};
use xt_shared::protocol::{ErrorCode, Frame, HUB_SERVER_NAME, frame_bytes};
use xt_shared::quic::read_frame;
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

/// What one raw enrollment attempt over real QUIC got back.
#[derive(Debug)]
enum Attempt {
    /// The hub's answer.
    Answer(Frame),
    /// The connection ended without an answer; the error (with the hub's close reason).
    Closed(String),
}

impl Attempt {
    fn rate_limited(&self) -> bool {
        matches!(self, Attempt::Closed(e) if e.contains("too many enrollment attempts"))
    }

    fn token_unknown(&self) -> bool {
        matches!(
            self,
            Attempt::Answer(Frame::Error {
                code: ErrorCode::TokenUnknown,
                ..
            })
        )
    }
}

/// Connects with the enrollment ALPN as an agent does, sends `bytes` on the stream (finishing it
/// when `finish`), and reads the one frame the hub answers, within `within`.
async fn raw_enroll(
    hub: SocketAddr,
    fingerprint: &str,
    bytes: &[u8],
    finish: bool,
    within: Duration,
) -> Attempt {
    let exchange = async {
        let endpoint = xt_agent::tls::client_endpoint(hub).map_err(chain)?;
        let config = xt_agent::tls::enroll_config(fingerprint).map_err(chain)?;
        let conn = endpoint
            .connect_with(config, hub, HUB_SERVER_NAME)
            .map_err(chain)?
            .await
            .map_err(chain)?;
        let (mut send, mut recv) = conn.open_bi().await.map_err(chain)?;
        send.write_all(bytes).await.map_err(chain)?;
        if finish {
            let _ = send.finish();
        }
        let reply = read_frame(&mut recv).await.map_err(chain);
        conn.close(0u32.into(), b"done");
        match reply? {
            Some(frame) => Ok::<Frame, String>(frame),
            None => Err("stream finished without an answer".to_owned()),
        }
    };
    match tokio::time::timeout(within, exchange).await {
        Ok(Ok(frame)) => Attempt::Answer(frame),
        Ok(Err(e)) => Attempt::Closed(e),
        Err(_) => Attempt::Closed(format!("no answer within {within:?}")),
    }
}

/// An error with its whole chain of causes (where the hub's close reason is).
fn chain(e: impl Into<anyhow::Error>) -> String {
    format!("{:#}", e.into())
}

/// An enrollment request frame with `token` and `csr_der`.
fn enroll_request(token: &str, csr_der: Vec<u8>) -> Vec<u8> {
    frame_bytes(&Frame::EnrollRequest {
        token: token.to_owned(),
        csr_der,
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_enrollment_token_is_refused_before_anything_is_signed() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let hub = HubProc::start(&tmp.path().join("hub"), "acme", &[]).await?;
    // Not a CSR at all: a hub that signed before looking at the token would answer "bad CSR".
    let bytes = enroll_request("xte_guessed", b"not a csr".to_vec());
    let attempt = raw_enroll(hub.quic, &hub.fingerprint, &bytes, true, ANSWER_BOUND).await;
    assert!(attempt.token_unknown(), "{attempt:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_enrollment_frame_is_refused_before_it_is_read() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let hub = HubProc::start(&tmp.path().join("hub"), "acme", &[]).await?;
    // A length prefix of 1 MiB (within the general frame limit), then a few bytes and nothing
    // more: the hub must refuse on the prefix instead of waiting for the megabyte.
    let mut bytes = (1024u32 * 1024).to_be_bytes().to_vec();
    bytes.extend_from_slice(&[0; 16]);
    let attempt = raw_enroll(hub.quic, &hub.fingerprint, &bytes, false, ANSWER_BOUND).await;
    match &attempt {
        Attempt::Answer(Frame::Error {
            code: ErrorCode::BadRequest,
            message,
        }) => assert!(
            message.contains(&ENROLL_FRAME_BYTES_MAX.to_string()),
            "{message}"
        ),
        other => panic!("expected a refusal naming the limit, got {other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_attempts_are_rate_limited_per_address() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let hub = HubProc::start(&tmp.path().join("hub"), "acme", &[]).await?;
    let bytes = enroll_request("xte_guessed", b"not a csr".to_vec());
    let mut attempts = Vec::new();
    for _ in 0..ENROLL_ATTEMPTS_BURST * 2 {
        attempts.push(raw_enroll(hub.quic, &hub.fingerprint, &bytes, true, ANSWER_BOUND).await);
    }
    assert!(attempts[0].token_unknown(), "{:?}", attempts[0]);
    let limited = attempts.iter().filter(|a| a.rate_limited()).count();
    assert!(
        limited >= 1,
        "no attempt out of {} was rate-limited: {:?}",
        attempts.len(),
        attempts.last()
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.token_unknown() || a.rate_limited()),
        "{attempts:?}"
    );
    // A real agent is told plainly why.
    let (code, err) = enroll(
        &hub.quic,
        "xte_guessed",
        &hub.fingerprint,
        &tmp.path().join("a"),
    );
    assert_ne!(code, 0);
    assert!(err.contains("too many enrollment attempts"), "{err}");
    Ok(())
}

/// Flood attempts in flight at once.
const FLOOD_CONCURRENCY: usize = 50;
/// Most attempts one flood task makes (the flood stops earlier once sync and HTTP were checked).
const FLOOD_ATTEMPTS_PER_TASK: usize = 100;
/// Longest wait for one answer from the hub (enrollment, an HTTP call): a generous liveness bound.
const ANSWER_BOUND: Duration = Duration::from_secs(10);
/// Generous bound for the agent to sync changed rows while the flood goes on.
const SYNC_BOUND: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_enrollment_flood_does_not_slow_sync_or_the_http_api() -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let hub = HubProc::start(&tmp.path().join("hub"), "acme", &[]).await?;
    let mut legacy = LegacyWms::create(&tmp.path().join("legacy"), &["WH-SH", "WH-BJ"], 500)?;
    let data = tmp.path().join("agent");
    let token = hub.token("site-a", "warehouse").await?;
    let (code, err) = enroll(&hub.quic, &token, &hub.fingerprint, &data);
    assert_eq!(code, 0, "{err}");
    let config = tmp.path().join("agent.toml");
    write_agent_config(&config, &data, None, &legacy.dir, 1)?;
    let mut agent = AgentProc::new(&data, &config);
    agent.spawn()?;
    let api = hub.api();
    wait_stock_equal(&api, &legacy.stock()?, Duration::from_secs(60)).await?;

    // The flood: many concurrent attempts with guessed tokens and real CSRs, bounded in count.
    let (_key, csr) = xt_agent::identity::new_key_and_csr()?;
    let bytes = enroll_request("xte_guessed", csr);
    let stop = Arc::new(AtomicBool::new(false));
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..FLOOD_CONCURRENCY {
        let (quic, fingerprint, bytes) = (hub.quic, hub.fingerprint.clone(), bytes.clone());
        let stop = Arc::clone(&stop);
        flood.spawn(async move {
            let mut out = Vec::new();
            while out.len() < FLOOD_ATTEMPTS_PER_TASK && !stop.load(Ordering::Relaxed) {
                out.push(raw_enroll(quic, &fingerprint, &bytes, true, ANSWER_BOUND).await);
            }
            out
        });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Meanwhile the agent syncs new changes and the HTTP API answers.
    legacy.change_random(200)?;
    wait_stock_equal(&api, &legacy.stock()?, SYNC_BOUND).await?;
    let agents = tokio::time::timeout(ANSWER_BOUND, api.agents())
        .await
        .map_err(|_| anyhow::anyhow!("the HTTP API did not answer within {ANSWER_BOUND:?}"))??;
    assert!(agents[0].connected);

    stop.store(true, Ordering::Relaxed);
    let mut attempts = Vec::new();
    while let Some(done) = flood.join_next().await {
        attempts.extend(done?);
    }
    assert!(attempts.len() >= FLOOD_CONCURRENCY, "{}", attempts.len());
    let limited = attempts.iter().filter(|a| a.rate_limited()).count();
    assert!(
        limited > attempts.len() / 2,
        "only {limited} of {} rate-limited",
        attempts.len()
    );
    assert!(
        attempts
            .iter()
            .all(|a| a.token_unknown() || a.rate_limited()),
        "{:?}",
        attempts
            .iter()
            .find(|a| !a.token_unknown() && !a.rate_limited())
    );
    Ok(())
}
