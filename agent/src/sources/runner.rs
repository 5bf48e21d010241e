//! Runs one source on its own thread: poll, commit, repeat; back off on failure.
//!
//! A failing source (database locked, folder unmounted) retries with capped exponential backoff
//! and jitter, and never stops the others. A panic inside a poll is caught and treated like an
//! error, so one bad source cannot take its thread down silently.

use super::Source;
use crate::outbox::Outbox;
use rand::Rng;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xt_shared::ids::SourceName;

/// Longest wait between retries of a failing source.
pub const RETRY_DELAY_MAX: Duration = Duration::from_secs(60);
/// First wait after a failure.
pub const RETRY_DELAY_BASE: Duration = Duration::from_millis(500);
/// How often a sleeping runner looks at the shutdown flag.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(50);

/// The last error of a source while it is failing (`None` once a poll succeeds). Cheap to clone;
/// the status reporter reads it for `SourceStatus::last_error`.
#[derive(Debug, Clone, Default)]
pub struct LastError(Arc<Mutex<Option<String>>>);

impl LastError {
    pub fn get(&self) -> Option<String> {
        self.0
            .lock()
            .map(|e| e.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn set(&self, error: Option<String>) {
        match self.0.lock() {
            Ok(mut e) => *e = error,
            Err(p) => *p.into_inner() = error,
        }
    }
}

/// Starts `source` on a dedicated thread named `source-<name>`. It polls every `interval`, at
/// once again while a poll reports `more`, calls `on_durable(name, durable_seq)` after each
/// commit that added rows, records failures in `last_error`, and returns when `shutdown` is set
/// (finishing the poll in progress).
pub fn spawn(
    mut source: Box<dyn Source>,
    outbox: Arc<Outbox>,
    interval: Duration,
    on_durable: impl Fn(&SourceName, u64) + Send + 'static,
    shutdown: Arc<AtomicBool>,
    last_error: LastError,
    backlog_rows_max: u64,
) -> std::io::Result<JoinHandle<()>> {
    let name = source.name().clone();
    std::thread::Builder::new()
        .name(format!("source-{name}"))
        .spawn(move || {
            let mut failures: u32 = 0;
            let mut paused = false;
            while !shutdown.load(Ordering::Relaxed) {
                // Backpressure: while the hub is out of reach for long, stop reading once the
                // outbox holds `backlog_rows_max` unacknowledged rows. The source's cursor stays
                // where it is, so nothing is lost: the legacy system still holds the rows.
                let backlog = outbox.source_progress(&name).map(|p| p.backlog()).unwrap_or(0);
                if backlog >= backlog_rows_max {
                    if !paused {
                        tracing::warn!(source = %name, backlog, backlog_rows_max, "outbox full: pausing the source until the hub catches up");
                        paused = true;
                    }
                    sleep_unless(&shutdown, interval.min(Duration::from_secs(1)));
                    continue;
                }
                if paused {
                    tracing::info!(source = %name, backlog, "outbox has room again: resuming the source");
                    paused = false;
                }
                let result = catch_unwind(AssertUnwindSafe(|| source.poll(&outbox)));
                let wait = match result {
                    Ok(Ok(report)) => {
                        failures = 0;
                        last_error.set(None);
                        if report.rows > 0 || report.quarantined > 0 {
                            tracing::debug!(
                                source = %name,
                                rows = report.rows,
                                quarantined = report.quarantined,
                                durable_seq = report.durable_seq,
                                "source chunk committed"
                            );
                        }
                        if report.rows > 0 {
                            on_durable(&name, report.durable_seq);
                        }
                        if report.more {
                            continue;
                        }
                        interval
                    }
                    Ok(Err(e)) => {
                        failures = failures.saturating_add(1);
                        let delay = retry_delay(failures);
                        let error = xt_shared::errors::chain(&e);
                        tracing::warn!(source = %name, %error, failures, retry_in_ms = delay.as_millis() as u64, "source poll failed");
                        last_error.set(Some(error));
                        delay
                    }
                    Err(panic) => {
                        failures = failures.saturating_add(1);
                        let what = panic
                            .downcast_ref::<&str>()
                            .map(|s| (*s).to_owned())
                            .or_else(|| panic.downcast_ref::<String>().cloned())
                            .unwrap_or_else(|| "unknown panic".into());
                        let delay = retry_delay(failures);
                        tracing::error!(source = %name, panic = %what, failures, "source poll panicked");
                        last_error.set(Some(format!("source {name}: poll panicked: {what}")));
                        delay
                    }
                };
                sleep_unless(&shutdown, wait);
            }
            tracing::debug!(source = %name, "source runner stopped");
        })
}

/// Capped exponential backoff with ±25% jitter.
fn retry_delay(failures: u32) -> Duration {
    let exp = RETRY_DELAY_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let capped = exp.min(RETRY_DELAY_MAX);
    let jitter = rand::rng().random_range(0.75..=1.25);
    capped.mul_f64(jitter).min(RETRY_DELAY_MAX)
}

fn sleep_unless(shutdown: &AtomicBool, wait: Duration) {
    let until = Instant::now() + wait;
    while !shutdown.load(Ordering::Relaxed) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(SHUTDOWN_CHECK));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::{PollReport, SourceError};
    use std::sync::mpsc;
    use xt_shared::change::Body;
    use xt_shared::ids::{Sku, WarehouseCode};
    use xt_shared::model::StockLevel;

    /// Fails `fail` times, panics once, then commits one row per poll, three polls in a row.
    struct Flaky {
        name: SourceName,
        fail: u32,
        panicked: bool,
        polls: u32,
    }

    impl Source for Flaky {
        fn name(&self) -> &SourceName {
            &self.name
        }

        fn poll(&mut self, outbox: &Outbox) -> Result<PollReport, SourceError> {
            if self.fail > 0 {
                self.fail -= 1;
                return Err(SourceError::invalid(&self.name, "database is locked"));
            }
            if !self.panicked {
                self.panicked = true;
                panic!("boom");
            }
            self.polls += 1;
            if self.polls > 3 {
                return Ok(PollReport::default());
            }
            let body = Body::Stock(StockLevel {
                warehouse: WarehouseCode::new("W").unwrap(),
                sku: Sku::new(format!("S{}", self.polls)).unwrap(),
                on_hand: 1,
            });
            let durable_seq = outbox
                .commit(&self.name, vec![(None, body)], vec![], None)
                .unwrap();
            Ok(PollReport {
                rows: 1,
                quarantined: 0,
                durable_seq,
                more: self.polls < 3,
            })
        }

        fn check(&mut self) -> Result<String, SourceError> {
            Ok("flaky".into())
        }
    }

    #[test]
    fn retries_failures_and_panics_then_reports_durable_seqs() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Arc::new(Outbox::open(&dir.path().join("outbox.redb")).unwrap());
        let name = SourceName::new("flaky").unwrap();
        let source = Box::new(Flaky {
            name: name.clone(),
            fail: 1,
            panicked: false,
            polls: 0,
        });
        let (tx, rx) = mpsc::channel();
        let shutdown = Arc::new(AtomicBool::new(false));
        let last_error = LastError::default();
        let handle = spawn(
            source,
            outbox.clone(),
            Duration::from_secs(3600),
            move |n: &SourceName, seq| tx.send((n.clone(), seq)).unwrap(),
            shutdown.clone(),
            last_error.clone(),
            u64::MAX,
        )
        .unwrap();
        let mut seen = Vec::new();
        for _ in 0..3 {
            seen.push(rx.recv_timeout(Duration::from_secs(20)).unwrap());
        }
        assert_eq!(seen, [(name.clone(), 1), (name.clone(), 2), (name, 3)]);
        assert_eq!(last_error.get(), None);
        shutdown.store(true, Ordering::Relaxed);
        handle.join().unwrap();
    }

    #[test]
    fn a_full_outbox_pauses_the_source_without_losing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Arc::new(Outbox::open(&dir.path().join("outbox.redb")).unwrap());
        let name = SourceName::new("busy").unwrap();
        let source = Box::new(Flaky {
            name: name.clone(),
            fail: 0,
            panicked: true,
            polls: 0,
        });
        let shutdown = Arc::new(AtomicBool::new(false));
        let handle = spawn(
            source,
            outbox.clone(),
            Duration::from_millis(10),
            |_: &SourceName, _| {},
            shutdown.clone(),
            LastError::default(),
            2,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let p = outbox.source_progress(&name).unwrap();
        assert_eq!((p.durable_seq, p.backlog()), (2, 2), "stopped at the limit");
        // The hub acknowledges: the source resumes and reads the rest.
        outbox.trim(&name, 2).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(outbox.source_progress(&name).unwrap().durable_seq, 3);
        shutdown.store(true, Ordering::Relaxed);
        handle.join().unwrap();
    }

    #[test]
    fn retry_delay_is_capped() {
        assert!(retry_delay(1) <= RETRY_DELAY_BASE.mul_f64(1.25));
        assert!(retry_delay(1) >= RETRY_DELAY_BASE.mul_f64(0.75));
        let longest = retry_delay(40);
        assert!(longest <= RETRY_DELAY_MAX && longest >= RETRY_DELAY_MAX.mul_f64(0.75));
    }
}
