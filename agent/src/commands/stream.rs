//! The command stream's loop, over any pair of byte streams: say `CommandsReady`, then read
//! `Command`, decide it, answer `CommandResult`, in seq order, until the hub finishes the
//! stream.
//!
//! Frames are read as they arrive (each at most [`COMMAND_FRAME_BYTES_MAX`]) and the commands
//! that queued up while the applier was busy are decided together ([`BATCH_MAX`]): a batching
//! sink writes them in one transaction and the agent records them in one. A transient failure
//! (the WMS locked, a full disk) is retried with capped backoff and jitter, holding the
//! commands behind it (they must apply in order), and is never answered. Time-due work (closing
//! a batch file) runs in [`tick_until`], beside the sessions, so a batch closes on time whether
//! the hub is reachable or not.

use super::applier::Applier;
use super::frames::{FrameIoError, read_frame, write_frame};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use xt_shared::command::AgentCommand;
use xt_shared::model::UtcMillis;
use xt_shared::protocol::Frame;
use xt_shared::sync::Backoff;

/// Most commands decided together (the hub keeps at most this many unanswered).
pub const BATCH_MAX: usize = 256;
/// Largest frame read on the command stream: one delivery order is far smaller.
pub const COMMAND_FRAME_BYTES_MAX: usize = 1024 * 1024;
/// First retry delay of a transient failure, in milliseconds (doubles per failure).
pub const RETRY_BASE_MS: u64 = 250;
/// Longest retry delay, in milliseconds.
pub const RETRY_MAX_MS: u64 = 30_000;

/// Longest time the ticker sleeps, in milliseconds: a batch opened meanwhile closes at most
/// this late.
pub const TICK_IDLE_MS: u64 = 250;

/// The shared applier: one command stream at a time uses it, across reconnects.
pub type SharedApplier = Arc<Mutex<Applier>>;

/// How the loop retries, and where it reports a failing command.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// The error of the command being retried (`None` once it is decided).
    pub last_error: watch::Sender<Option<String>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            retry_base_ms: RETRY_BASE_MS,
            retry_max_ms: RETRY_MAX_MS,
            last_error: watch::channel(None).0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("command stream: {0}")]
    Frame(#[from] FrameIoError),
    #[error("command stream: unexpected {0} frame from the hub")]
    Unexpected(&'static str),
    #[error("command stream: applying a command failed: {0}")]
    Task(String),
}

fn now() -> UtcMillis {
    UtcMillis(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64),
    )
}

/// Locks the applier; after a panic elsewhere it recovers its sinks before going on.
fn lock(applier: &SharedApplier) -> MutexGuard<'_, Applier> {
    applier.lock().unwrap_or_else(|poisoned| {
        let mut guard = poisoned.into_inner();
        guard.mark_unrecovered();
        guard
    })
}

/// When time-due work is next, without blocking the runtime: an applier busy with a command
/// is asked again shortly.
fn deadline(applier: &SharedApplier) -> Option<UtcMillis> {
    match applier.try_lock() {
        Ok(a) => a.deadline(),
        Err(TryLockError::Poisoned(p)) => p.into_inner().deadline(),
        Err(TryLockError::WouldBlock) => Some(UtcMillis(now().0 + TICK_IDLE_MS as i64)),
    }
}

/// Runs the command stream until the hub finishes it (`Ok`) or it fails.
pub async fn serve<R, W>(
    applier: &SharedApplier,
    mut recv: R,
    mut send: W,
    options: &ServeOptions,
) -> Result<(), StreamError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let a = applier.clone();
    let sinks = tokio::task::spawn_blocking(move || lock(&a).kinds())
        .await
        .map_err(|e| StreamError::Task(e.to_string()))?;
    write_frame(&mut send, &Frame::CommandsReady { sinks }).await?;
    // Commands are read as they come and decided in batches: all that arrived while the last
    // batch was being applied go through the applier together.
    let (queued, mut queue) = tokio::sync::mpsc::channel::<(u64, AgentCommand)>(BATCH_MAX);
    let reading = async move {
        loop {
            match read_frame(&mut recv, COMMAND_FRAME_BYTES_MAX).await? {
                None => return Ok(()),
                Some(Frame::Command { seq, command }) => {
                    if queued.send((seq, command)).await.is_err() {
                        return Ok(());
                    }
                }
                Some(other) => return Err(StreamError::Unexpected(other.name())),
            }
        }
    };
    let working = async {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < BATCH_MAX {
                match queue.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            decide(applier, batch, &mut send, options).await?;
        }
        Ok::<(), StreamError>(())
    };
    tokio::try_join!(reading, working)?;
    Ok(())
}

/// Closes what time closes (batch files) for as long as the agent runs, connected or not,
/// until `stop` turns true. Looks at least every [`TICK_IDLE_MS`]; a failure is logged and
/// tried again.
pub async fn tick_until(applier: SharedApplier, mut stop: watch::Receiver<bool>) {
    loop {
        if deadline(&applier).is_some_and(|d| d <= now()) {
            let a = applier.clone();
            match tokio::task::spawn_blocking(move || lock(&a).tick(now())).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %xt_shared::errors::chain(&e), "closing a batch file failed; retrying")
                }
                Err(e) => tracing::warn!(error = %e, "closing a batch file panicked; retrying"),
            }
        }
        let wait = deadline(&applier)
            .map_or(TICK_IDLE_MS, |d| d.0.saturating_sub(now().0).max(1) as u64)
            .min(TICK_IDLE_MS);
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait)) => {}
            _ = stop.changed() => return,
        }
    }
}

/// Decides `batch` in order and answers each command as soon as its outcome is recorded,
/// retrying a transient failure with backoff from the command that failed.
async fn decide<W: AsyncWrite + Unpin>(
    applier: &SharedApplier,
    batch: Vec<(u64, AgentCommand)>,
    send: &mut W,
    options: &ServeOptions,
) -> Result<(), StreamError> {
    let batch = Arc::new(batch);
    let mut from = 0;
    let mut backoff = Backoff::new(options.retry_base_ms, options.retry_max_ms);
    while from < batch.len() {
        let (a, b) = (applier.clone(), batch.clone());
        let (outcomes, failed) = tokio::task::spawn_blocking(move || {
            let commands: Vec<(u64, &AgentCommand)> =
                b[from..].iter().map(|(seq, c)| (*seq, c)).collect();
            lock(&a).apply_batch(&commands, now())
        })
        .await
        .map_err(|e| StreamError::Task(e.to_string()))?;
        if !outcomes.is_empty() {
            // Progress: the next failure starts its backoff afresh.
            backoff = Backoff::new(options.retry_base_ms, options.retry_max_ms);
        }
        for outcome in outcomes {
            let (seq, command) = &batch[from];
            tracing::debug!(seq, kind = command.kind(), delivery_no = %command.delivery_no(), ?outcome, "command decided");
            write_frame(send, &Frame::CommandResult { seq: *seq, outcome }).await?;
            from += 1;
        }
        match failed {
            None => {
                options.last_error.send_replace(None);
            }
            Some(e) => {
                let (seq, command) = &batch[from];
                let message = xt_shared::errors::chain(&e);
                let delay = backoff.next_delay_ms(rand::random());
                tracing::warn!(seq, kind = command.kind(), delivery_no = %command.delivery_no(), error = %message, delay_ms = delay, "command not applied yet; retrying");
                options.last_error.send_replace(Some(message));
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
        }
    }
    Ok(())
}
