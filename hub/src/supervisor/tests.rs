//! The supervisor over real tokio tasks on a paused clock: grace periods and restart delays pass
//! as soon as every task waits, so no test sleeps for real.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{Notify, oneshot};

const GRACE: Duration = Duration::from_secs(10);

type Run = std::pin::Pin<Box<dyn Future<Output = WorkerResult> + Send>>;

/// A worker that says when it runs and returns as soon as its token is cancelled.
fn polite(running: Arc<Notify>) -> impl FnMut(CancellationToken) -> Run + Send + 'static {
    move |token| {
        let running = running.clone();
        Box::pin(async move {
            running.notify_one();
            token.cancelled().await;
            Ok(())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_honours_its_token_stops_within_the_grace() {
    let mut supervisor = Supervisor::new();
    let running = Arc::new(Notify::new());
    supervisor.spawn("polite", polite(running.clone()));
    running.notified().await;
    let (stopped_tx, stopped_rx) = oneshot::channel();
    let mut stopped_tx = Some(stopped_tx);
    let tidy_running = running.clone();
    supervisor.spawn("tidy", move |token| {
        let stopped_tx = stopped_tx.take();
        let running = tidy_running.clone();
        async move {
            running.notify_one();
            token.cancelled().await;
            // Work that finishes after the cancel (a page being written) still finishes.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = stopped_tx.expect("runs once").send(());
            Ok(())
        }
    });
    running.notified().await;
    let started = Instant::now();
    let report = supervisor.shutdown(GRACE).await;
    assert_eq!(report.stopped, ["polite", "tidy"]);
    assert!(report.aborted.is_empty(), "{report:?}");
    assert_eq!(stopped_rx.await, Ok(()), "tidy finished its work");
    assert!(started.elapsed() < GRACE, "shutdown waited for the grace");
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_panics_returns_or_fails_is_restarted_until_it_stays_up() {
    let runs = Arc::new(AtomicUsize::new(0));
    let up = Arc::new(Notify::new());
    let mut supervisor = Supervisor::new();
    supervisor.spawn("flaky", {
        let (runs, up) = (runs.clone(), up.clone());
        move |token: CancellationToken| {
            let (runs, up) = (runs.clone(), up.clone());
            async move {
                match runs.fetch_add(1, Ordering::SeqCst) {
                    0 => panic!("first run"),
                    1 => Ok(()),
                    2 => anyhow::bail!("third run"),
                    _ => {
                        up.notify_one();
                        token.cancelled().await;
                        Ok(())
                    }
                }
            }
        }
    });
    up.notified().await;
    assert_eq!(runs.load(Ordering::SeqCst), 4);
    let report = supervisor.shutdown(GRACE).await;
    assert_eq!(report.stopped, ["flaky"]);
    assert_eq!(runs.load(Ordering::SeqCst), 4, "no run after shutdown");
}

#[tokio::test(start_paused = true)]
async fn restarts_wait_longer_each_time_up_to_the_cap() {
    let runs = Arc::new(AtomicUsize::new(0));
    let mut supervisor = Supervisor::new();
    supervisor.spawn("failing", {
        let runs = runs.clone();
        move |_token| {
            runs.fetch_add(1, Ordering::SeqCst);
            async { anyhow::bail!("always") }
        }
    });
    // Delays with jitter, between half and all of 1, 2, 4, 8, 16, 32, 60, 60, … s: the 6th run
    // starts by 31 s, the 8th not before 61.5 s; then one run every 30 to 60 s.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let early = runs.load(Ordering::SeqCst);
    assert!((6..=7).contains(&early), "{early} runs in the first minute");
    tokio::time::sleep(Duration::from_secs(600)).await;
    let later = runs.load(Ordering::SeqCst) - early;
    assert!(
        (9..=21).contains(&later),
        "{later} runs in ten capped minutes"
    );
    let report = supervisor.shutdown(GRACE).await;
    assert_eq!(report.stopped, ["failing"]);
}

#[test]
fn the_restart_delay_doubles_up_to_its_cap() {
    let policy = RestartPolicy::default();
    let mut delay = policy.delay_min;
    let mut seen = Vec::new();
    for _ in 0..9 {
        seen.push(delay.as_secs());
        delay = policy.next(delay);
    }
    assert_eq!(seen, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
}

#[tokio::test(start_paused = true)]
async fn a_worker_stuck_past_the_grace_is_aborted_and_shutdown_returns() {
    let mut supervisor = Supervisor::new();
    let running = Arc::new(Notify::new());
    supervisor.spawn("polite", polite(running.clone()));
    running.notified().await;
    // The stuck worker holds the sender: the receiver hears of it when the worker is dropped.
    let (held_tx, held_rx) = oneshot::channel::<()>();
    let mut held_tx = Some(held_tx);
    let stuck_running = running.clone();
    supervisor.spawn("stuck", move |_token| {
        let held = held_tx.take();
        let running = stuck_running.clone();
        async move {
            let _held = held;
            running.notify_one();
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    running.notified().await;
    let started = Instant::now();
    let report = supervisor.shutdown(GRACE).await;
    assert_eq!(report.stopped, ["polite"]);
    assert_eq!(report.aborted, ["stuck"]);
    assert!(started.elapsed() >= GRACE, "the stuck worker had its grace");
    assert!(held_rx.await.is_err(), "the stuck worker was dropped");
}

#[tokio::test(start_paused = true)]
async fn a_dropped_supervisor_still_stops_its_workers() {
    let mut supervisor = Supervisor::new();
    let running = Arc::new(Notify::new());
    let (stopped_tx, stopped_rx) = oneshot::channel();
    let mut stopped_tx = Some(stopped_tx);
    let worker_running = running.clone();
    supervisor.spawn("polite", move |token| {
        let stopped_tx = stopped_tx.take();
        let running = worker_running.clone();
        async move {
            running.notify_one();
            token.cancelled().await;
            if let Some(tx) = stopped_tx {
                let _ = tx.send(());
            }
            Ok(())
        }
    });
    running.notified().await;
    drop(supervisor);
    assert_eq!(stopped_rx.await, Ok(()));
}
