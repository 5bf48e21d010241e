//! The agent's sync driver: drives [`xt_shared::sync::AgentSync`] over one QUIC connection at a
//! time, reconnecting with capped exponential backoff and jitter. With sinks configured, each
//! session also opens the command stream after `Welcome` and serves it
//! ([`crate::commands::serve`]); a failing command stream ends the session like a failing
//! control stream, and a hub that finishes it cleanly leaves the session running without it.

use crate::commands::stream::StreamError;
use crate::commands::{ServeOptions, SharedApplier};
use crate::config::AgentConfig;
use crate::identity::{self, Identity};
use crate::outbox::Outbox;
use crate::sources::runner::LastError;
use crate::tls;
use anyhow::Context;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{Notify, mpsc, watch};
use xt_shared::ids::SourceName;
use xt_shared::protocol::{Frame, HUB_SERVER_NAME, SourceStatus};
use xt_shared::quic::{read_frame, write_frame};
use xt_shared::sync::{AgentSync, Backoff, SyncEvent, renewal_due};

/// Control frames from the hub buffered between the reader task and the session loop.
const CONTROL_QUEUE_MAX: usize = 64;
/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// The close code the hub uses for agents it refuses (see the hub's `quic::close::REFUSED`).
const HUB_REFUSED: u32 = 403;

/// The hub refused this agent at connection time.
#[derive(Debug, thiserror::Error)]
#[error("hub refused this agent: {0}")]
struct Refused(String);

/// Where the sources tell the network side that new changes are durable.
#[derive(Default)]
pub struct DurableFeed {
    latest: Mutex<HashMap<SourceName, u64>>,
    notify: Notify,
    errors: Mutex<HashMap<SourceName, LastError>>,
}

impl DurableFeed {
    pub fn durable(&self, source: &SourceName, seq: u64) {
        let mut latest = self.latest.lock().expect("feed");
        let e = latest.entry(source.clone()).or_default();
        *e = (*e).max(seq);
        drop(latest);
        self.notify.notify_one();
    }

    /// The slot where the runner of `source` records its last error.
    pub fn error_slot(&self, source: &SourceName) -> LastError {
        self.errors
            .lock()
            .expect("feed")
            .entry(source.clone())
            .or_default()
            .clone()
    }

    fn drain(&self) -> HashMap<SourceName, u64> {
        std::mem::take(&mut *self.latest.lock().expect("feed"))
    }

    fn error(&self, source: &SourceName) -> Option<String> {
        self.errors
            .lock()
            .expect("feed")
            .get(source)
            .and_then(LastError::get)
    }
}

/// What the sync side needs; built by `xt-agent run` after the sources are up.
pub struct SyncDriver {
    pub data_dir: PathBuf,
    pub hub: String,
    pub config: crate::config::SyncConfig,
    pub outbox: Arc<Outbox>,
    pub feed: Arc<DurableFeed>,
    /// The applier of the hub's commands (`None`: no sinks, the command stream is never
    /// opened).
    pub commands: Option<SharedApplier>,
    pub command_options: ServeOptions,
}

/// The command stream's task, aborted with the session.
struct CommandTask(tokio::task::JoinHandle<Result<(), StreamError>>);

impl Drop for CommandTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl SyncDriver {
    pub fn new(
        config: &AgentConfig,
        identity: &Identity,
        outbox: Arc<Outbox>,
        feed: Arc<DurableFeed>,
    ) -> Self {
        SyncDriver {
            data_dir: config.data_dir.clone(),
            hub: config
                .hub
                .clone()
                .unwrap_or_else(|| identity.info.hub.clone()),
            config: config.sync.clone(),
            outbox,
            feed,
            commands: None,
            command_options: ServeOptions::default(),
        }
    }

    /// Serves the hub's commands with `applier` in every session.
    pub fn with_commands(mut self, applier: SharedApplier) -> Self {
        self.commands = Some(applier);
        self
    }

    /// Runs until `shutdown` turns true.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let progress = self.outbox.progress()?;
        let mut sync = AgentSync::new(
            self.config.limits(),
            progress
                .iter()
                .map(|p| (p.source.clone(), p.durable_seq, p.acked_seq)),
        );
        let mut backoff = Backoff::new(self.config.reconnect_base_ms, self.config.reconnect_max_ms);
        loop {
            if *shutdown.borrow() {
                return Ok(());
            }
            let started = std::time::Instant::now();
            let result = tokio::select! {
                r = self.session(&mut sync) => r,
                _ = shutdown.changed() => return Ok(()),
            };
            sync.disconnected();
            match &result {
                Err(e) if e.is::<Refused>() => {
                    tracing::error!(hub = %self.hub, reason = %e, "the hub refuses this agent; it keeps retrying slowly (a revoked agent must be enrolled again)");
                    backoff.saturate();
                }
                Err(e) => {
                    tracing::warn!(hub = %self.hub, error = xt_shared::errors::causes(e.chain()), "sync connection ended")
                }
                Ok(()) => {}
            }
            if started.elapsed() > Duration::from_secs(30) {
                backoff.reset(); // it was a working connection, not a failing attempt
            }
            let delay = Duration::from_millis(backoff.next_delay_ms(rand::random()));
            tracing::info!(delay_ms = delay.as_millis() as u64, "reconnecting");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return Ok(()),
            }
        }
    }

    fn statuses(&self, sync: &AgentSync) -> anyhow::Result<Vec<SourceStatus>> {
        Ok(self
            .outbox
            .progress()?
            .into_iter()
            .map(|p| SourceStatus {
                backlog: sync
                    .backlog(&p.source)
                    .max(p.durable_seq.saturating_sub(p.acked_seq)),
                last_error: self.feed.error(&p.source),
                source: p.source,
                durable_seq: p.durable_seq,
                quarantined: p.quarantined,
            })
            .collect())
    }

    async fn session(&self, sync: &mut AgentSync) -> anyhow::Result<()> {
        let identity = Identity::load(&self.data_dir)?;
        let addr = tls::resolve(&self.hub).await?;
        let endpoint = tls::client_endpoint(addr)?;
        let connecting =
            endpoint.connect_with(tls::sync_config(&identity)?, addr, HUB_SERVER_NAME)?;
        let conn = tokio::time::timeout(CONNECT_TIMEOUT, connecting)
            .await
            .with_context(|| format!("hub at {addr} did not answer within {CONNECT_TIMEOUT:?}"))?
            .with_context(|| format!("cannot connect to hub at {addr}"))?;
        let result = self.stream(sync, &conn, &identity).await;
        // The hub closes with 403 when it will not take this agent (revoked, unknown,
        // superseded certificate): say so plainly instead of as a network hiccup.
        if let Some(quinn::ConnectionError::ApplicationClosed(close)) = conn.close_reason()
            && close.error_code == quinn::VarInt::from_u32(HUB_REFUSED)
        {
            return Err(Refused(String::from_utf8_lossy(&close.reason).into_owned()).into());
        }
        conn.close(0u32.into(), b"bye");
        endpoint.wait_idle().await;
        result
    }

    async fn stream(
        &self,
        sync: &mut AgentSync,
        conn: &quinn::Connection,
        identity: &Identity,
    ) -> anyhow::Result<()> {
        let (mut ctl_send, ctl_recv) = conn.open_bi().await?;
        for (source, seq) in self.feed.drain() {
            sync.outbox_appended(&source, seq);
        }
        let hello = sync.connected(env!("CARGO_PKG_VERSION"), self.statuses(sync)?);
        write_frame(&mut ctl_send, &hello).await?;

        // A reader task makes the control stream cancel-safe for the select below.
        let (tx, mut control) = mpsc::channel::<anyhow::Result<Frame>>(CONTROL_QUEUE_MAX);
        let reader = tokio::spawn(async move {
            let mut recv = ctl_recv;
            loop {
                let frame = read_frame(&mut recv).await;
                let end = !matches!(frame, Ok(Some(_)));
                let item = match frame {
                    Ok(Some(f)) => Ok(f),
                    Ok(None) => Err(anyhow::anyhow!("hub closed the control stream")),
                    Err(e) => Err(e.into()),
                };
                if tx.send(item).await.is_err() || end {
                    return;
                }
            }
        });
        let result = self
            .stream_inner(sync, conn, identity, &mut ctl_send, &mut control)
            .await;
        reader.abort();
        result
    }

    async fn stream_inner(
        &self,
        sync: &mut AgentSync,
        conn: &quinn::Connection,
        identity: &Identity,
        ctl_send: &mut quinn::SendStream,
        control: &mut mpsc::Receiver<anyhow::Result<Frame>>,
    ) -> anyhow::Result<()> {
        // Handshake.
        let welcome = tokio::time::timeout(CONNECT_TIMEOUT, control.recv())
            .await
            .context("hub did not answer hello")?
            .context("control stream ended")??;
        sync.handle_frame(welcome)?;
        self.handle_events(sync)?;
        tracing::info!(agent = %identity.info.agent, "connected to hub");

        let mut commands = match &self.commands {
            Some(applier) => {
                let (send, recv) = conn.open_bi().await?;
                let (applier, options) = (applier.clone(), self.command_options.clone());
                Some(CommandTask(tokio::spawn(async move {
                    crate::commands::serve(&applier, recv, send, &options).await
                })))
            }
            None => None,
        };
        let mut batches = conn.open_uni().await?;
        let mut status_tick =
            tokio::time::interval(Duration::from_secs(self.config.status_interval_secs.max(1)));
        status_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending_key: Option<Vec<u8>> = None;
        loop {
            // Send what the state machine allows.
            while let Some(plan) = sync.poll_batch() {
                let outbox = self.outbox.clone();
                let p = plan.clone();
                let changes = tokio::task::spawn_blocking(move || {
                    outbox.read(&p.source, p.from_seq, p.to_seq, p.rows_max, p.bytes_max)
                })
                .await??;
                let last = changes.last().map_or(0, |c| c.seq);
                if !changes.is_empty() {
                    let frame = Frame::Batch {
                        batch_id: plan.batch_id,
                        source: plan.source.clone(),
                        changes,
                    };
                    write_frame(&mut batches, &frame).await?;
                }
                sync.batch_sent(&plan, last);
            }
            tokio::select! {
                frame = control.recv() => {
                    let frame = frame.context("control stream ended")??;
                    match frame {
                        Frame::RenewResponse { cert_der } => {
                            let key = pending_key.take().context("renewal response without a request")?;
                            self.save_renewed(identity, &cert_der, &key)?;
                        }
                        other => {
                            sync.handle_frame(other)?;
                            self.handle_events(sync)?;
                        }
                    }
                }
                ended = async { (&mut commands.as_mut().expect("guarded").0).await }, if commands.is_some() => {
                    commands = None;
                    match ended {
                        Ok(Ok(())) => tracing::info!("the hub finished the command stream"),
                        Ok(Err(e)) => return Err(e.into()),
                        Err(e) => anyhow::bail!("command stream task failed: {e}"),
                    }
                }
                _ = self.feed.notify.notified() => {
                    for (source, seq) in self.feed.drain() {
                        sync.outbox_appended(&source, seq);
                    }
                }
                _ = status_tick.tick() => {
                    write_frame(ctl_send, &Frame::Status { sources: self.statuses(sync)? }).await?;
                    if pending_key.is_none() {
                        let (not_before, not_after) = identity::cert_validity(&self.current_cert()?)?;
                        if renewal_due(not_before, not_after, now_secs()) {
                            let (key, csr) = identity::new_key_and_csr()?;
                            tracing::info!("renewing agent certificate");
                            write_frame(ctl_send, &Frame::RenewRequest { csr_der: csr }).await?;
                            pending_key = Some(key);
                        }
                    }
                }
            }
        }
    }

    /// The certificate currently on disk (a renewal may have replaced the one we connected with).
    fn current_cert(&self) -> anyhow::Result<Vec<u8>> {
        Ok(Identity::load(&self.data_dir)?.cert.to_vec())
    }

    fn save_renewed(&self, identity: &Identity, cert: &[u8], key: &[u8]) -> anyhow::Result<()> {
        let cn = identity::cert_common_name(cert)?;
        anyhow::ensure!(
            cn == identity.info.agent.as_str(),
            "renewed certificate names {cn}, not this agent ({})",
            identity.info.agent
        );
        identity::Identity::save_key_and_cert(&self.data_dir, cert, key)?;
        let (_, not_after) = identity::cert_validity(cert)?;
        tracing::info!(not_after, "agent certificate renewed");
        Ok(())
    }

    fn handle_events(&self, sync: &mut AgentSync) -> anyhow::Result<()> {
        while let Some(event) = sync.poll_event() {
            match event {
                SyncEvent::Trim { source, up_to } => self.outbox.trim(&source, up_to)?,
                SyncEvent::AheadOfOutbox {
                    source,
                    hub_seq,
                    durable_seq,
                } => {
                    tracing::warn!(%source, hub_seq, durable_seq, "hub has applied more than this outbox holds; numbering continues after the hub's seq");
                    self.outbox.skip_to(&source, hub_seq)?;
                }
                SyncEvent::Rejected { source, rejections } => {
                    for r in rejections {
                        tracing::warn!(%source, seq = r.seq, reason = %r.reason, "hub rejected a change");
                    }
                }
                SyncEvent::Resumed => {}
            }
        }
        Ok(())
    }
}

/// Connects, says hello and returns the hub's resume points (for `xt-agent check`).
pub async fn probe(
    data_dir: &std::path::Path,
    hub: &str,
) -> anyhow::Result<Vec<xt_shared::protocol::ResumePoint>> {
    let identity = Identity::load(data_dir)?;
    let addr = tls::resolve(hub).await?;
    let endpoint = tls::client_endpoint(addr)?;
    let conn = tokio::time::timeout(
        CONNECT_TIMEOUT,
        endpoint.connect_with(tls::sync_config(&identity)?, addr, HUB_SERVER_NAME)?,
    )
    .await
    .with_context(|| format!("hub at {addr} did not answer within {CONNECT_TIMEOUT:?}"))?
    .with_context(|| format!("cannot connect to hub at {addr}"))?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let mut sync = AgentSync::new(Default::default(), []);
    write_frame(
        &mut send,
        &sync.connected(env!("CARGO_PKG_VERSION"), vec![]),
    )
    .await?;
    let reply = tokio::time::timeout(CONNECT_TIMEOUT, read_frame(&mut recv))
        .await
        .context("hub did not answer hello")??
        .context("hub closed the stream")?;
    conn.close(0u32.into(), b"check done");
    endpoint.wait_idle().await;
    match reply {
        Frame::Welcome { resume, .. } => Ok(resume),
        Frame::Error { message, .. } => anyhow::bail!("hub refused: {message}"),
        other => anyhow::bail!("unexpected {} frame", other.name()),
    }
}
