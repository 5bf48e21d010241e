//! The agent's resident memory under load, measured on real processes: an `xt-agent` reads a
//! generated legacy SQLite table while its hub is stopped, then drains its outbox to the
//! restarted hub. Its memory is read from `/proc/<pid>/status`: `VmRSS` sampled every 100 ms,
//! `VmHWM` (the kernel's own peak) at the end of each phase. Used by the `agent_memory` test and
//! the sync benchmark; no timing is asserted here.

use crate::legacy::LegacyWms;
use crate::{Api, wait_for, write_agent_config};
use anyhow::Context;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The programs to run: the hub and agent CLIs (or their test wrappers).
pub struct Binaries {
    pub hub: PathBuf,
    pub agent: PathBuf,
}

/// What one run measured; memory in KiB.
#[derive(Debug, Clone)]
pub struct MemoryRun {
    /// Legacy rows read and drained.
    pub rows: u64,
    /// The agent config used (`<dir>/agent.toml`).
    pub config: PathBuf,
    /// Seconds to read every row into the outbox with the hub away.
    pub read_secs: f64,
    /// Seconds from the hub's restart until it had applied every row.
    pub drain_secs: f64,
    /// Peak resident memory (`VmHWM`) once every row was read with the hub away.
    pub offline_peak_kib: u64,
    /// Highest `VmRSS` sampled while draining.
    pub drain_peak_kib: u64,
    /// Peak resident memory of the whole run (`VmHWM` after the drain).
    pub peak_kib: u64,
    /// `VmRSS` a few seconds after the drain, with nothing left to do.
    pub idle_kib: u64,
}

/// How long each phase may take before the run fails.
const PHASE_TIMEOUT: Duration = Duration::from_secs(900);
/// How often memory and progress are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How long the agent idles after the drain before its idle memory is read.
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// One field (`VmRSS`, `VmHWM`) of `/proc/<pid>/status`, in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// A free loopback port for both UDP and TCP.
fn free_addr() -> anyhow::Result<SocketAddr> {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0")?;
        let port = udp.local_addr()?.port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
        }
    }
}

/// A child process killed when dropped, so a failed run leaves nothing behind.
struct Proc(Child);

impl Proc {
    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn log_file(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open {}", path.display()))
}

fn run_json(command: &mut Command, what: &str) -> anyhow::Result<serde_json::Value> {
    let out = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).with_context(|| format!("{what} printed no json"))
}

struct Hub<'a> {
    bin: &'a Path,
    data: PathBuf,
    quic: SocketAddr,
    http: SocketAddr,
    key: String,
}

impl Hub<'_> {
    async fn serve(&self) -> anyhow::Result<Proc> {
        let child = Command::new(self.bin)
            .args(["serve", "--data", &self.data.display().to_string()])
            .args(["--quic", &self.quic.to_string()])
            .args(["--http", &self.http.to_string()])
            .env("XT_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log_file(&self.data.join("hub.log"))?)
            .spawn()
            .context("cannot start the hub")?;
        let proc = Proc(child);
        let api = self.api();
        wait_for(Duration::from_secs(30), "hub http", || {
            let api = api.clone();
            async move { api.agents().await.ok().map(|_| ()) }
        })
        .await?;
        Ok(proc)
    }

    fn api(&self) -> Api {
        Api::new(&format!("http://{}", self.http), &self.key)
    }
}

/// `text` without ANSI colour sequences (`ESC [ … m`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\u{1b}') => in_escape = true,
            (false, c) => out.push(c),
            (true, 'm') => in_escape = false,
            (true, _) => {}
        }
    }
    out
}

/// The highest `durable_seq` the agent logged for `source` (its runner logs each chunk).
fn durable_seq_logged(log: &Path, source: &str) -> u64 {
    let text = strip_ansi(&std::fs::read_to_string(log).unwrap_or_default());
    let marker = format!("source={source} ");
    text.lines()
        .filter(|l| l.contains(&marker))
        .filter_map(|l| l.split("durable_seq=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

/// Runs the whole measurement in `dir` (left there for a look after a failure): `rows` legacy
/// rows (rounded down to even: two warehouses) read with the hub stopped, then drained.
pub async fn measure(bins: &Binaries, dir: &Path, rows: usize) -> anyhow::Result<MemoryRun> {
    let skus = rows / 2;
    let rows = (skus * 2) as u64;
    let legacy = LegacyWms::create(&dir.join("legacy"), &["WH-SH", "WH-BJ"], skus)?;

    let data = dir.join("hub");
    let init = run_json(
        Command::new(&bins.hub).args([
            "init",
            "--data",
            &data.display().to_string(),
            "--tenant",
            "mem",
            "--json",
        ]),
        "hub init",
    )?;
    let field = |name: &str| -> anyhow::Result<String> {
        Ok(init[name]
            .as_str()
            .with_context(|| format!("hub init printed no {name}"))?
            .to_owned())
    };
    let hub = Hub {
        bin: &bins.hub,
        data: data.clone(),
        quic: free_addr()?,
        http: free_addr()?,
        key: field("admin_key")?,
    };
    let agent_dir = dir.join("agent");
    {
        let _serving = hub.serve().await?;
        let token = run_json(
            Command::new(&bins.hub)
                .args(["token", "create", "--site", "mem", "--role", "warehouse"])
                .arg("--json")
                .env("XT_HUB_URL", format!("http://{}", hub.http))
                .env("XT_KEY", &hub.key),
            "hub token create",
        )?;
        let token = token["token"].as_str().context("no token")?;
        let out = Command::new(&bins.agent)
            .args(["enroll", "--hub", &hub.quic.to_string(), "--token", token])
            .args(["--ca-fingerprint", &field("ca_fingerprint")?])
            .args(["--data", &agent_dir.display().to_string()])
            .output()
            .context("cannot run xt-agent enroll")?;
        anyhow::ensure!(
            out.status.success(),
            "enroll failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The hub stops here: the agent reads everything with its hub away.
    }

    let config = dir.join("agent.toml");
    write_agent_config(&config, &agent_dir, None, &legacy.dir, 1)?;
    let agent_log = agent_dir.join("agent.log");
    let agent = Proc(
        Command::new(&bins.agent)
            .args(["run", "--config", &config.display().to_string()])
            .env("XT_LOG", "warn,xt_agent::sources::runner=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log_file(&agent_log)?)
            .spawn()
            .context("cannot start the agent")?,
    );
    let pid = agent.pid();
    let started = Instant::now();
    while durable_seq_logged(&agent_log, "wms-stock") < rows {
        anyhow::ensure!(
            started.elapsed() < PHASE_TIMEOUT,
            "the agent read {} of {rows} rows in {PHASE_TIMEOUT:?}",
            durable_seq_logged(&agent_log, "wms-stock")
        );
        anyhow::ensure!(
            proc_status_kib(pid, "VmRSS").is_some(),
            "the agent exited while reading: {}",
            std::fs::read_to_string(&agent_log).unwrap_or_default()
        );
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let read_secs = started.elapsed().as_secs_f64();
    let offline_peak_kib = proc_status_kib(pid, "VmHWM").context("agent VmHWM")?;

    let _serving = hub.serve().await?;
    let api = hub.api();
    let started = Instant::now();
    let mut drain_peak_kib = 0;
    let mut last_check = Instant::now() - Duration::from_secs(1);
    loop {
        drain_peak_kib = drain_peak_kib.max(proc_status_kib(pid, "VmRSS").unwrap_or(0));
        if last_check.elapsed() >= Duration::from_millis(500) {
            last_check = Instant::now();
            let applied = api.applied().await.unwrap_or_default();
            if applied.get("wms-stock").copied().unwrap_or(0) >= rows {
                break;
            }
        }
        anyhow::ensure!(
            started.elapsed() < PHASE_TIMEOUT,
            "the hub did not apply {rows} rows in {PHASE_TIMEOUT:?}"
        );
        tokio::time::sleep(SAMPLE_EVERY).await;
    }
    let drain_secs = started.elapsed().as_secs_f64();
    let peak_kib = proc_status_kib(pid, "VmHWM").context("agent VmHWM")?;
    tokio::time::sleep(IDLE_WAIT).await;
    let idle_kib = proc_status_kib(pid, "VmRSS").context("agent VmRSS")?;
    drop(agent);
    Ok(MemoryRun {
        rows,
        config,
        read_secs,
        drain_secs,
        offline_peak_kib,
        drain_peak_kib,
        peak_kib,
        idle_kib,
    })
}
