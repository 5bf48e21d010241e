//! The hub's background workers and how they stop.
//!
//! A [`Supervisor`] owns every long-running task of a serving hub, each under a name: the QUIC
//! server, the HTTP server, the dashboard ticker, the refresh-token sweep, the capture
//! supervisor (which owns its per-shop workers) and the change-log trimmer. `cli::start` is the
//! one place that registers them; a later worker (fulfilment dispatch, inventory push) is one
//! more [`Supervisor::spawn`] there, nowhere else.
//!
//! A worker is a function from a [`CancellationToken`] to a future. It runs until the token is
//! cancelled, then finishes what it must (a request in flight, a page being written) and
//! returns. One that returns earlier, fails or panics is logged and started again after a
//! doubling delay with jitter, from [`RestartPolicy::delay_min`] up to
//! [`RestartPolicy::delay_max`], back to the minimum after a run that lasted that long.
//!
//! *Invariant:* no worker is started or restarted once shutdown has begun, and
//! [`Supervisor::shutdown`] returns once every worker has stopped, or once its grace is over
//! and the workers left are aborted and named.
//!
//! ```no_run
//! # async fn example() {
//! use std::time::Duration;
//! use xt_hub::supervisor::Supervisor;
//!
//! let mut supervisor = Supervisor::new();
//! supervisor.spawn("ticker", |token| async move {
//!     let mut tick = tokio::time::interval(Duration::from_secs(60));
//!     loop {
//!         tokio::select! {
//!             () = token.cancelled() => return Ok(()),
//!             _ = tick.tick() => { /* one bounded piece of work */ }
//!         }
//!     }
//! });
//! let report = supervisor.shutdown(Duration::from_secs(10)).await;
//! assert!(report.aborted.is_empty());
//! # }
//! ```

use std::future::Future;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument as _;

pub use tokio_util::sync::CancellationToken;

/// How long `serve` gives its workers to stop by default (`--shutdown-grace`).
pub const SHUTDOWN_GRACE_DEFAULT: Duration = Duration::from_secs(10);
/// The first delay before a failed worker is started again.
pub const RESTART_DELAY_MIN: Duration = Duration::from_secs(1);
/// The longest delay before a failed worker is started again.
pub const RESTART_DELAY_MAX: Duration = Duration::from_secs(60);

/// What a worker's run ends with: `Ok` once it has stopped after its token was cancelled.
pub type WorkerResult = anyhow::Result<()>;

/// How soon a worker that ended early is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The delay after the first failure (and after a run that lasted `delay_max`).
    pub delay_min: Duration,
    /// The delay doubles up to this.
    pub delay_max: Duration,
}

impl Default for RestartPolicy {
    fn default() -> RestartPolicy {
        RestartPolicy {
            delay_min: RESTART_DELAY_MIN,
            delay_max: RESTART_DELAY_MAX,
        }
    }
}

impl RestartPolicy {
    /// The delay after `delay`: doubled, capped.
    fn next(&self, delay: Duration) -> Duration {
        delay.saturating_mul(2).min(self.delay_max)
    }
}

/// How [`Supervisor::shutdown`] went: the workers that stopped within the grace and the ones
/// that were aborted, in the order they were registered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    pub stopped: Vec<&'static str>,
    pub aborted: Vec<&'static str>,
}

/// Named background workers, restarted when they end early, stopped together.
pub struct Supervisor {
    token: CancellationToken,
    restart: RestartPolicy,
    workers: Vec<(&'static str, JoinHandle<()>)>,
}

impl Default for Supervisor {
    fn default() -> Supervisor {
        Supervisor::new()
    }
}

impl Supervisor {
    /// A supervisor with the default [`RestartPolicy`].
    pub fn new() -> Supervisor {
        Supervisor::with_restart(RestartPolicy::default())
    }

    pub fn with_restart(restart: RestartPolicy) -> Supervisor {
        assert!(
            !restart.delay_min.is_zero() && restart.delay_min <= restart.delay_max,
            "restart delays must be non-zero and min <= max: {restart:?}"
        );
        Supervisor {
            token: CancellationToken::new(),
            restart,
            workers: Vec::new(),
        }
    }

    /// Starts the worker `name`: `worker` is called with a token for each run (the first now,
    /// later ones after a failure) and its future is spawned. Names are unique.
    pub fn spawn<F, Fut>(&mut self, name: &'static str, worker: F)
    where
        F: FnMut(CancellationToken) -> Fut + Send + 'static,
        Fut: Future<Output = WorkerResult> + Send + 'static,
    {
        assert!(
            self.workers.iter().all(|(n, _)| *n != name),
            "a worker named {name} is already registered"
        );
        let task = tokio::spawn(
            supervise(worker, self.token.clone(), self.restart)
                .instrument(tracing::info_span!("worker", name)),
        );
        self.workers.push((name, task));
    }

    /// The names of the workers, in the order they were registered.
    pub fn names(&self) -> Vec<&'static str> {
        self.workers.iter().map(|(n, _)| *n).collect()
    }

    /// Cancels every worker's token and waits up to `grace` for all of them to return; those
    /// still running then are aborted (and named in a warning and in the report).
    pub async fn shutdown(mut self, grace: Duration) -> ShutdownReport {
        self.token.cancel();
        let deadline = Instant::now() + grace;
        let mut report = ShutdownReport::default();
        let mut late = Vec::new();
        for (name, mut task) in std::mem::take(&mut self.workers) {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(_) => report.stopped.push(name),
                Err(_) => {
                    task.abort();
                    late.push((name, task));
                }
            }
        }
        for (name, task) in late {
            // Aborted: ends at once, aborting the worker's own task as it drops.
            let _ = task.await;
            report.aborted.push(name);
        }
        if report.aborted.is_empty() {
            tracing::info!(stopped = ?report.stopped, "every worker stopped");
        } else {
            tracing::warn!(
                aborted = ?report.aborted,
                grace_ms = grace.as_millis() as u64,
                "workers still running after the shutdown grace were aborted"
            );
        }
        report
    }
}

impl Drop for Supervisor {
    /// A supervisor dropped without [`Supervisor::shutdown`] still tells its workers to stop.
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// A spawned task aborted when this is dropped: aborting a supervising task aborts its worker.
struct AbortOnDrop(JoinHandle<WorkerResult>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `worker` until `token` is cancelled, restarting it with backoff when it ends earlier
/// (inside the span naming it).
async fn supervise<F, Fut>(mut worker: F, token: CancellationToken, restart: RestartPolicy)
where
    F: FnMut(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = WorkerResult> + Send + 'static,
{
    let mut delay = restart.delay_min;
    while !token.is_cancelled() {
        let started = Instant::now();
        // Its own task, so that a panic ends the run and not the supervision.
        let mut run = AbortOnDrop(tokio::spawn(worker(token.child_token()).in_current_span()));
        let ended = (&mut run.0).await;
        if token.is_cancelled() {
            match ended {
                Ok(Ok(())) => tracing::debug!("worker stopped"),
                Ok(Err(e)) => tracing::warn!(
                    error = %xt_shared::errors::causes(e.chain()),
                    "worker failed while stopping"
                ),
                Err(e) => tracing::error!(error = %join_error(e), "worker failed while stopping"),
            }
            return;
        }
        if started.elapsed() >= restart.delay_max {
            delay = restart.delay_min;
        }
        let wait = jitter(delay);
        let wait_ms = wait.as_millis() as u64;
        match ended {
            Ok(Ok(())) => tracing::error!(wait_ms, "worker returned before shutdown; restarting"),
            Ok(Err(e)) => tracing::error!(
                error = %xt_shared::errors::causes(e.chain()),
                wait_ms,
                "worker failed; restarting"
            ),
            Err(e) => tracing::error!(error = %join_error(e), wait_ms, "worker failed; restarting"),
        }
        tokio::select! {
            () = token.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        delay = restart.next(delay);
    }
}

/// Between half of `delay` and all of it, so that workers failing together do not restart in
/// step.
fn jitter(delay: Duration) -> Duration {
    delay.mul_f64(rand::random_range(0.5..=1.0))
}

/// A worker's panic message, or why its task ended otherwise.
fn join_error(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let panic = e.into_panic();
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    format!("panicked: {message}")
}

#[cfg(test)]
mod tests;
