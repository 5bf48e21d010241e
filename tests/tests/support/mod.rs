//! Process-level harness: real `xt-hub` and `xt-agent` processes (thin wrappers built by this
//! package), real loopback QUIC and HTTP, real redb and SQLite files in temp dirs.
#![allow(dead_code)]

use anyhow::Context;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use xt_tests::{Api, wait_for};

pub const HUB_BIN: &str = env!("CARGO_BIN_EXE_xt-test-hub");
pub const AGENT_BIN: &str = env!("CARGO_BIN_EXE_xt-test-agent");

/// A free loopback port for UDP and TCP (bound and released; fine for tests on one machine).
pub fn free_addr() -> SocketAddr {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("udp bind");
        let port = udp.local_addr().expect("addr").port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return SocketAddr::from(([127, 0, 0, 1], port));
        }
    }
}

fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .expect("log file")
}

pub struct HubProc {
    pub data: PathBuf,
    pub quic: SocketAddr,
    pub http: SocketAddr,
    pub key: String,
    pub fingerprint: String,
    pub child: Option<Child>,
    extra: Vec<String>,
}

impl HubProc {
    /// `xt-hub init` in `data`, then `serve`.
    pub async fn start(data: &Path, tenant: &str, extra: &[&str]) -> anyhow::Result<HubProc> {
        let out = Command::new(HUB_BIN)
            .args([
                "init",
                "--data",
                data.to_str().unwrap(),
                "--tenant",
                tenant,
                "--json",
            ])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        let mut hub = HubProc {
            data: data.to_owned(),
            quic: free_addr(),
            http: free_addr(),
            key: v["admin_key"].as_str().context("admin_key")?.to_owned(),
            fingerprint: v["ca_fingerprint"]
                .as_str()
                .context("ca_fingerprint")?
                .to_owned(),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        hub.spawn().await?;
        Ok(hub)
    }

    pub async fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new(HUB_BIN)
            .args(["serve", "--data", self.data.to_str().unwrap()])
            .args([
                "--quic",
                &self.quic.to_string(),
                "--http",
                &self.http.to_string(),
            ])
            .args(&self.extra)
            .env("XT_LOG", "info,xt_hub=debug")
            .stdout(Stdio::null())
            .stderr(log_file(&self.data, "hub.log"))
            .spawn()?;
        self.child = Some(child);
        let api = self.api();
        wait_for(Duration::from_secs(20), "hub http", || {
            let api = api.clone();
            async move { api.agents().await.ok().map(|_| ()) }
        })
        .await
    }

    pub fn api(&self) -> Api {
        Api::new(&format!("http://{}", self.http), &self.key)
    }

    /// kill -9.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("hub.log")).unwrap_or_default()
    }

    pub async fn token(&self, site: &str, role: &str) -> anyhow::Result<String> {
        let out = Command::new(HUB_BIN)
            .args(["token", "create", "--site", site, "--role", role, "--json"])
            .env("XT_HUB_URL", format!("http://{}", self.http))
            .env("XT_KEY", &self.key)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "token create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        Ok(v["token"].as_str().context("token")?.to_owned())
    }
}

impl Drop for HubProc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct AgentProc {
    pub data: PathBuf,
    pub config: PathBuf,
    pub child: Option<Child>,
}

/// `xt-agent enroll`; returns its exit status and stderr.
pub fn enroll(hub: &SocketAddr, token: &str, fingerprint: &str, data: &Path) -> (i32, String) {
    let out = Command::new(AGENT_BIN)
        .args([
            "enroll",
            "--hub",
            &hub.to_string(),
            "--token",
            token,
            "--ca-fingerprint",
            fingerprint,
        ])
        .args(["--data", data.to_str().unwrap()])
        .output()
        .expect("run agent");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

impl AgentProc {
    pub fn new(data: &Path, config: &Path) -> AgentProc {
        AgentProc {
            data: data.to_owned(),
            config: config.to_owned(),
            child: None,
        }
    }

    pub fn spawn(&mut self) -> anyhow::Result<()> {
        let child = Command::new(AGENT_BIN)
            .args(["run", "--config", self.config.to_str().unwrap()])
            .env("XT_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log_file(&self.data, "agent.log"))
            .spawn()?;
        self.child = Some(child);
        Ok(())
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.join("agent.log")).unwrap_or_default()
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until the hub's stock equals `expected` exactly.
pub async fn wait_stock_equal(
    api: &Api,
    expected: &std::collections::BTreeMap<(String, String), i64>,
    timeout: Duration,
) -> anyhow::Result<()> {
    let result = wait_for(timeout, "hub stock to equal the source", || {
        let api = api.clone();
        async move {
            let got = api.stock().await.ok()?;
            (&got == expected).then_some(())
        }
    })
    .await;
    if result.is_err() {
        let got = api.stock().await?;
        let differing = expected
            .iter()
            .filter(|(k, v)| got.get(*k) != Some(*v))
            .count();
        anyhow::bail!(
            "hub holds {} rows, source {}; {differing} rows differ",
            got.len(),
            expected.len()
        );
    }
    Ok(())
}
