//! The `xt-agent` command line.

use crate::config::AgentConfig;
use crate::enroll::{EnrollError, enroll};
use crate::identity::Identity;
use crate::net::{DurableFeed, SyncDriver};
use crate::outbox::Outbox;
use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Exit code when the hub refused (token used/expired/unknown, agent revoked).
pub const EXIT_REFUSED: u8 = 2;
/// Exit code when the configuration is invalid.
pub const EXIT_CONFIG: u8 = 3;

pub const OUTBOX_FILE: &str = "outbox.redb";

#[derive(Parser, Debug)]
#[command(
    name = "xt-agent",
    version,
    about = "Xietong agent: syncs a legacy system to the hub"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Enroll with the hub using a one-time token; makes the key pair locally.
    Enroll {
        /// Hub QUIC address, host:port.
        #[arg(long)]
        hub: String,
        #[arg(long)]
        token: String,
        /// The hub CA's SHA-256 fingerprint, printed with the token.
        #[arg(long)]
        ca_fingerprint: String,
        /// Data directory (identity, outbox); the config's `data_dir`.
        #[arg(long)]
        data: PathBuf,
    },
    /// Run: poll the sources into the outbox and sync it to the hub, until stopped.
    Run {
        #[arg(long)]
        config: PathBuf,
    },
    /// Validate the config, open the sources, reach the hub, print what was found.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
}

fn load_config(path: &std::path::Path) -> Result<AgentConfig, ExitCode> {
    AgentConfig::load(path).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(EXIT_CONFIG)
    })
}

pub async fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Enroll {
            hub,
            token,
            ca_fingerprint,
            data,
        } => match enroll(&hub, &token, &ca_fingerprint, &data).await {
            Ok(info) => {
                println!(
                    "enrolled as agent {} (tenant {}, site {}, role {}); identity saved in {}",
                    info.agent,
                    info.tenant,
                    info.site,
                    info.role.as_str(),
                    crate::identity::identity_dir(&data).display()
                );
                ExitCode::SUCCESS
            }
            Err(e @ EnrollError::Refused { .. }) => {
                eprintln!("error: {e}");
                ExitCode::from(EXIT_REFUSED)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run { config } => {
            let config = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match run_agent(config).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {}", xt_shared::errors::causes(e.chain()));
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check { config } => {
            let config = match load_config(&config) {
                Ok(c) => c,
                Err(code) => return code,
            };
            match check(config).await {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::FAILURE,
                Err(e) => {
                    eprintln!("error: {}", xt_shared::errors::causes(e.chain()));
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// The running agent until Ctrl-C or SIGTERM.
pub async fn run_agent(config: AgentConfig) -> anyhow::Result<()> {
    run_agent_until(config, shutdown_signal()).await
}

/// The running agent: sources on their own threads, the sync driver on the runtime, until
/// `stop` completes.
pub async fn run_agent_until(
    config: AgentConfig,
    stop_when: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let identity = Identity::load(&config.data_dir)?;
    let outbox = Arc::new(
        Outbox::open_with_cache(
            &config.data_dir.join(OUTBOX_FILE),
            config.outbox_cache_bytes(),
        )
        .with_context(|| format!("cannot open outbox in {}", config.data_dir.display()))?,
    );
    let feed = Arc::new(DurableFeed::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for sc in &config.sources {
        let source = crate::sources::build(sc, config.timezone)
            .with_context(|| format!("source {}", sc.name))?;
        let slot = feed.error_slot(&sc.name);
        let notify = feed.clone();
        threads.push(crate::sources::runner::spawn(
            source,
            outbox.clone(),
            sc.poll_interval(),
            move |name, seq| notify.durable(name, seq),
            stop.clone(),
            slot,
            config.sync.backlog_rows_max,
        )?);
    }
    tracing::info!(agent = %identity.info.agent, sources = config.sources.len(), "xt-agent running");
    let (tx, rx) = tokio::sync::watch::channel(false);
    let mut driver = SyncDriver::new(&config, &identity, outbox, feed);
    let config_for_sinks = config.clone();
    let applier =
        tokio::task::spawn_blocking(move || crate::commands::Applier::open(&config_for_sinks))
            .await??;
    let mut ticker = None;
    if let Some(applier) = applier {
        tracing::info!(sinks = config.sinks.len(), "applying the hub's commands");
        let applier = Arc::new(std::sync::Mutex::new(applier));
        ticker = Some(tokio::spawn(crate::commands::stream::tick_until(
            applier.clone(),
            rx.clone(),
        )));
        driver = driver.with_commands(applier);
    }
    let sync = tokio::spawn(driver.run(rx));
    stop_when.await;
    tracing::info!("stopping");
    let _ = tx.send(true);
    stop.store(true, Ordering::SeqCst);
    let _ = sync.await;
    if let Some(ticker) = ticker {
        let _ = ticker.await;
    }
    for t in threads {
        let _ = tokio::task::spawn_blocking(move || t.join()).await;
    }
    Ok(())
}

async fn check(config: AgentConfig) -> anyhow::Result<bool> {
    let mut ok = true;
    println!(
        "config: ok ({} sources, {} sinks)",
        config.sources.len(),
        config.sinks.len()
    );
    for sc in &config.sources {
        let result = crate::sources::build(sc, config.timezone)
            .map_err(anyhow::Error::from)
            .and_then(|mut s| s.check().map_err(anyhow::Error::from));
        match result {
            Ok(found) => println!("source {}: ok: {found}", sc.name),
            Err(e) => {
                ok = false;
                // The source's errors name it already.
                let line = xt_shared::errors::causes(e.chain());
                let prefix = format!("source {}: ", sc.name);
                let reason = line.strip_prefix(&prefix).unwrap_or(&line);
                println!("source {}: FAILED: {reason}", sc.name);
            }
        }
    }
    for sc in &config.sinks {
        let result = crate::sinks::build(sc, config.timezone).and_then(|mut s| s.check());
        match result {
            Ok(found) => println!("sink {}: ok: {found}", sc.name),
            Err(e) => {
                ok = false;
                let line = xt_shared::errors::chain(&e);
                let prefix = format!("sink {}: ", sc.name);
                let reason = line.strip_prefix(&prefix).unwrap_or(&line);
                println!("sink {}: FAILED: {reason}", sc.name);
            }
        }
    }
    let identity = match Identity::load(&config.data_dir) {
        Ok(i) => {
            let (_, not_after) = i.validity()?;
            println!(
                "identity: agent {} (tenant {}, site {}), certificate valid until {}",
                i.info.agent,
                i.info.tenant,
                i.info.site,
                time::OffsetDateTime::from_unix_timestamp(not_after)
                    .map_or_else(|_| not_after.to_string(), |t| t.to_string())
            );
            i
        }
        Err(e) => {
            println!("identity: FAILED: {}", xt_shared::errors::causes(e.chain()));
            return Ok(false);
        }
    };
    let hub = config
        .hub
        .clone()
        .unwrap_or_else(|| identity.info.hub.clone());
    match crate::net::probe(&config.data_dir, &hub).await {
        Ok(resume) => {
            println!("hub {hub}: reachable, mutual TLS ok");
            for p in resume {
                println!(
                    "  source {}: hub has applied up to seq {}",
                    p.source, p.applied_seq
                );
            }
        }
        Err(e) => {
            ok = false;
            println!(
                "hub {hub}: FAILED: {}",
                xt_shared::errors::causes(e.chain())
            );
        }
    }
    Ok(ok)
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// Entry point shared by the binary and test wrappers.
pub fn main_entry() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("XT_LOG").unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(cli))
}
