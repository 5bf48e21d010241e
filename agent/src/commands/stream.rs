//! The command stream's loop, over any pair of byte streams: say `CommandsReady`, then read
//! `Command`, decide it, answer `CommandResult`, in seq order, until the hub finishes the
//! stream.
//!
//! A transient failure (the WMS locked, a full disk) is retried with capped backoff and jitter,
//! holding the commands behind it (they must apply in order), and is never answered. Time-due
//! work (closing a batch file) runs between commands. Frames are read by a task into a small
//! bounded queue, so a frame is never lost to the timer and memory stays bounded.

use super::applier::Applier;
use super::frames::{FrameIoError, read_frame, write_frame};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use xt_shared::command::{AgentCommand, CommandOutcome};
use xt_shared::model::UtcMillis;
use xt_shared::protocol::Frame;
use xt_shared::sync::Backoff;

/// Largest frame read on the command stream: one delivery order is far smaller.
pub const COMMAND_FRAME_BYTES_MAX: usize = 1024 * 1024;
/// Frames read ahead of the one being applied.
pub const COMMAND_QUEUE_MAX: usize = 4;
/// First retry delay of a transient failure, in milliseconds (doubles per failure).
pub const RETRY_BASE_MS: u64 = 250;
/// Longest retry delay, in milliseconds.
pub const RETRY_MAX_MS: u64 = 30_000;

/// How soon a busy applier is asked again for its deadline, in milliseconds.
const BUSY_RECHECK_MS: i64 = 100;

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

/// When time-due work is next, without blocking the runtime: an applier still busy with a
/// command of an earlier stream is asked again shortly.
fn deadline(applier: &SharedApplier) -> Option<UtcMillis> {
    match applier.try_lock() {
        Ok(a) => a.deadline(),
        Err(TryLockError::Poisoned(p)) => p.into_inner().deadline(),
        Err(TryLockError::WouldBlock) => Some(UtcMillis(now().0 + BUSY_RECHECK_MS)),
    }
}

/// Aborts the reader task when the loop ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the command stream until the hub finishes it (`Ok`) or it fails.
pub async fn serve<R, W>(
    applier: &SharedApplier,
    recv: R,
    mut send: W,
    options: &ServeOptions,
) -> Result<(), StreamError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin,
{
    let a = applier.clone();
    let sinks = tokio::task::spawn_blocking(move || lock(&a).kinds())
        .await
        .map_err(|e| StreamError::Task(e.to_string()))?;
    write_frame(&mut send, &Frame::CommandsReady { sinks }).await?;

    let (tx, mut frames) = mpsc::channel(COMMAND_QUEUE_MAX);
    let _reader = AbortOnDrop(tokio::spawn(async move {
        let mut recv = recv;
        loop {
            let frame = read_frame(&mut recv, COMMAND_FRAME_BYTES_MAX).await;
            let end = !matches!(frame, Ok(Some(_)));
            if tx.send(frame).await.is_err() || end {
                return;
            }
        }
    }));
    loop {
        let wait = deadline(applier)
            .map(|d| Duration::from_millis(d.0.saturating_sub(now().0).max(0) as u64));
        tokio::select! {
            frame = frames.recv() => match frame {
                None | Some(Ok(None)) => return Ok(()),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Some(Frame::Command { seq, command }))) => {
                    let outcome = decide(applier, seq, command, options).await?;
                    write_frame(&mut send, &Frame::CommandResult { seq, outcome }).await?;
                }
                Some(Ok(Some(other))) => return Err(StreamError::Unexpected(other.name())),
            },
            _ = tokio::time::sleep(wait.unwrap_or_default()), if wait.is_some() => {
                tick(applier).await?;
            }
        }
    }
}

/// Runs time-due work; a failure is logged and tried again at the next deadline.
async fn tick(applier: &SharedApplier) -> Result<(), StreamError> {
    let a = applier.clone();
    let result = tokio::task::spawn_blocking(move || lock(&a).tick(now()))
        .await
        .map_err(|e| StreamError::Task(e.to_string()))?;
    if let Err(e) = result {
        tracing::warn!(error = %xt_shared::errors::chain(&e), "closing a batch file failed; retrying");
        // Do not spin on a deadline that stays due: wait a little before the next try.
        tokio::time::sleep(Duration::from_millis(RETRY_BASE_MS)).await;
    }
    Ok(())
}

/// Applies `command` until it is decided, retrying transient failures with backoff.
async fn decide(
    applier: &SharedApplier,
    seq: u64,
    command: AgentCommand,
    options: &ServeOptions,
) -> Result<CommandOutcome, StreamError> {
    let command = Arc::new(command);
    let mut backoff = Backoff::new(options.retry_base_ms, options.retry_max_ms);
    loop {
        let (a, c) = (applier.clone(), command.clone());
        let result = tokio::task::spawn_blocking(move || lock(&a).apply(seq, &c, now()))
            .await
            .map_err(|e| StreamError::Task(e.to_string()))?;
        match result {
            Ok(outcome) => {
                options.last_error.send_replace(None);
                tracing::debug!(seq, kind = command.kind(), delivery_no = %command.delivery_no(), ?outcome, "command decided");
                return Ok(outcome);
            }
            Err(e) => {
                let message = xt_shared::errors::chain(&e);
                let delay = backoff.next_delay_ms(rand::random());
                tracing::warn!(seq, kind = command.kind(), delivery_no = %command.delivery_no(), error = %message, delay_ms = delay, "command not applied yet; retrying");
                options.last_error.send_replace(Some(message));
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
        }
    }
}
