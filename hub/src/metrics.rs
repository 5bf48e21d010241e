//! The hub's Prometheus metrics, served as OpenMetrics text at `GET /metrics`.
//!
//! Every label is bounded: HTTP routes are route templates (`/api/v1/users/{username}`, never raw
//! paths), methods are the standard ones (anything else is `other`), statuses are classes
//! (`2xx` …) and login-failure reasons are a fixed set. Sync metrics are hub-wide aggregates;
//! no agent id, tenant or SKU ever becomes a label value.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Instant;
use xt_shared::ids::{AgentId, SourceName};
use xt_shared::protocol::SourceStatus;

/// Why a sign-in failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum LoginFailure {
    /// Unknown tenant or user, wrong password or disabled user.
    bad_credentials,
    /// Too many attempts for the account or from the client address.
    throttled,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ReasonLabels {
    reason: LoginFailure,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    route: String,
    status: String,
}

/// What each agent last reported: backlog per source and when.
#[derive(Default)]
struct Reports {
    backlog: HashMap<(AgentId, SourceName), u64>,
    at: HashMap<AgentId, Instant>,
}

/// The hub's metrics; [`Hub`](crate::hub::Hub) holds one.
pub struct Metrics {
    registry: Registry,
    http: Family<HttpLabels, Histogram, fn() -> Histogram>,
    login_failures: Family<ReasonLabels, Counter>,
    sync_batches: Counter,
    changes_applied: Counter,
    changes_rejected: Counter,
    agents_connected: Gauge,
    sync_backlog: Gauge,
    sync_lag: Gauge<f64, AtomicU64>,
    reports: Mutex<Reports>,
}

fn http_histogram() -> Histogram {
    // 1 ms … ~16 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let http = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            http_histogram as fn() -> Histogram,
        );
        let login_failures = Family::<ReasonLabels, Counter>::default();
        let (sync_batches, changes_applied, changes_rejected) =
            (Counter::default(), Counter::default(), Counter::default());
        let (agents_connected, sync_backlog) = (Gauge::default(), Gauge::default());
        let sync_lag = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "xt_http_request_duration_seconds",
            "HTTP request duration by method, route template and status class",
            http.clone(),
        );
        registry.register(
            "xt_login_failures",
            "Failed sign-ins by reason (bad_credentials, throttled)",
            login_failures.clone(),
        );
        registry.register(
            "xt_sync_batches",
            "Batches applied from agents",
            sync_batches.clone(),
        );
        registry.register(
            "xt_sync_changes_applied",
            "Changes applied from agents' batches (skipped duplicates not counted)",
            changes_applied.clone(),
        );
        registry.register(
            "xt_sync_changes_rejected",
            "Changes refused (kept as rejects with a reason)",
            changes_rejected.clone(),
        );
        registry.register(
            "xt_agents_connected",
            "Agents with a live QUIC connection",
            agents_connected.clone(),
        );
        registry.register(
            "xt_sync_backlog",
            "Sum of the unacknowledged changes agents last reported (agents reporting since the hub started)",
            sync_backlog.clone(),
        );
        registry.register(
            "xt_sync_lag_seconds",
            "Seconds since the agent that reported longest ago last reported (agents reporting since the hub started)",
            sync_lag.clone(),
        );
        Metrics {
            registry,
            http,
            login_failures,
            sync_batches,
            changes_applied,
            changes_rejected,
            agents_connected,
            sync_backlog,
            sync_lag,
            reports: Mutex::new(Reports::default()),
        }
    }

    /// One HTTP request answered. `route` must be a route template (or a fixed word).
    pub fn observe_http(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let method = match method {
            "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => method,
            _ => "other",
        };
        let status = match status {
            100..=599 => format!("{}xx", status / 100),
            _ => "other".to_owned(),
        };
        let labels = HttpLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.http.get_or_create(&labels).observe(seconds);
    }

    /// A sign-in failed.
    pub fn login_failed(&self, reason: LoginFailure) {
        tracing::debug!(reason = ?reason, "login failure counted");
        self.login_failures
            .get_or_create(&ReasonLabels { reason })
            .inc();
    }

    /// A batch was applied: `applied` changes taken, `rejected` refused.
    pub fn batch_applied(&self, applied: u64, rejected: u64) {
        self.sync_batches.inc();
        self.changes_applied.inc_by(applied);
        self.changes_rejected.inc_by(rejected);
    }

    /// The number of live agent connections changed.
    pub fn set_agents_connected(&self, n: usize) {
        self.agents_connected
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// An agent reported the state of its sources (Hello or Status).
    pub fn agent_reported(&self, agent: &AgentId, sources: &[SourceStatus]) {
        let mut reports = self.reports.lock().expect("metrics reports");
        for s in sources {
            reports
                .backlog
                .insert((agent.clone(), s.source.clone()), s.backlog);
        }
        reports.at.insert(agent.clone(), Instant::now());
    }

    /// A revoked agent's reports no longer count.
    pub fn agent_forgotten(&self, agent: &AgentId) {
        let mut reports = self.reports.lock().expect("metrics reports");
        reports.backlog.retain(|(a, _), _| a != agent);
        reports.at.remove(agent);
    }

    /// All metrics in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        {
            let reports = self.reports.lock().expect("metrics reports");
            let backlog: u64 = reports.backlog.values().copied().sum();
            self.sync_backlog
                .set(i64::try_from(backlog).unwrap_or(i64::MAX));
            let lag = reports
                .at
                .values()
                .map(|at| at.elapsed().as_secs_f64())
                .fold(0.0, f64::max);
            self.sync_lag.set(lag);
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, name: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in\n{text}"))
    }

    #[test]
    fn sync_counters_and_gauges_move() {
        let m = Metrics::new();
        let before = m.encode();
        assert_eq!(value(&before, "xt_sync_batches_total"), 0.0);
        m.batch_applied(7, 2);
        m.batch_applied(3, 0);
        m.set_agents_connected(2);
        let agent = AgentId::new("ag-1").unwrap();
        let status = |source: &str, backlog| SourceStatus {
            source: SourceName::new(source).unwrap(),
            durable_seq: 0,
            backlog,
            quarantined: 0,
            last_error: None,
        };
        m.agent_reported(&agent, &[status("a", 5), status("b", 6)]);
        m.agent_reported(&agent, &[status("a", 1)]);
        m.login_failed(LoginFailure::throttled);
        m.observe_http("BREW", "/api/v1/users/{username}", 404, 0.01);
        let text = m.encode();
        assert_eq!(value(&text, "xt_sync_batches_total"), 2.0);
        assert_eq!(value(&text, "xt_sync_changes_applied_total"), 10.0);
        assert_eq!(value(&text, "xt_sync_changes_rejected_total"), 2.0);
        assert_eq!(value(&text, "xt_agents_connected"), 2.0);
        assert_eq!(value(&text, "xt_sync_backlog"), 7.0);
        assert!(value(&text, "xt_sync_lag_seconds") >= 0.0);
        assert_eq!(
            value(&text, "xt_login_failures_total{reason=\"throttled\"}"),
            1.0
        );
        assert!(text.contains(
            "xt_http_request_duration_seconds_count{method=\"other\",route=\"/api/v1/users/{username}\",status=\"4xx\"} 1"
        ));
        m.agent_forgotten(&agent);
        assert_eq!(value(&m.encode(), "xt_sync_backlog"), 0.0);
    }
}
