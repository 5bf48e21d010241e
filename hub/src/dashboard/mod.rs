//! The dashboard: `GET /api/v1/dashboard`, built only from pre-aggregated data (agents, their
//! sources, stock totals per warehouse, minute buckets: O(agents + sources + warehouses +
//! minutes) per request), and the ticker that samples the gauges into the minute buckets and
//! prunes old ones.
//!
//! *Owns:* the tables `stock_totals`, `minute_buckets`, `warehouse_minute_changes` ([`store`]).
//! *Invariant:* the aggregates change only in the transaction that applies what they count, so
//! they always equal a recount; the series is decided from them by [`decide::series`] (pure).
//! *Boundary:* `DashboardApi` for the router ([`api`]); the apply transactions of the agents
//! and orders rooms bump the counters; the ticker is a supervised worker.

pub mod decide;
pub mod store;
#[cfg(test)]
mod store_tests;

use crate::hub::{Hub, now_ms};
use crate::store::{Gauges, MINUTE_MS, StoreError, minute_of};
use crate::supervisor::CancellationToken;
use std::sync::Arc;
use std::time::Duration;
use xt_mobile_api::{
    ApiError, DASHBOARD_BUCKET_SECS, Dashboard, DashboardAgents, DashboardPoint, DashboardSeries,
    DashboardSource, DashboardWarehouse, Permission, Principal,
};
use xt_shared::ids::WarehouseCode;
use xt_shared::model::UtcMillis;

/// How often the ticker samples the gauges: once per bucket.
pub const GAUGE_TICK: Duration = Duration::from_secs(60);

impl Hub {
    /// Samples every tenant's gauges (reported backlog, agents online) into the bucket of
    /// `now`'s minute and drops buckets older than the retention.
    pub fn sample_gauges(&self, now: UtcMillis) -> Result<(), StoreError> {
        let live = self.live_agents();
        let gauges = self.store().gauges(|agent| live.contains(agent))?;
        let dropped = self.store().record_gauges(&gauges, now)?;
        tracing::debug!(tenants = gauges.len(), dropped, "dashboard gauges sampled");
        Ok(())
    }
}

/// Samples the gauges every `period` (the first time at once) until `token` is cancelled; a
/// sample in progress finishes first.
pub async fn tick_gauges(
    hub: Arc<Hub>,
    period: Duration,
    token: CancellationToken,
) -> anyhow::Result<()> {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            () = token.cancelled() => return Ok(()),
            _ = interval.tick() => {}
        }
        let hub = Arc::clone(&hub);
        match tokio::task::spawn_blocking(move || hub.sample_gauges(now_ms())).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot sample dashboard gauges"),
            Err(e) => tracing::warn!(error = %e, "dashboard gauge sampling did not finish"),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(e.to_string())
}

/// The dashboard of `principal`'s tenant at `now`, with `minutes` series points.
pub fn build(
    hub: &Hub,
    principal: &Principal,
    minutes: u32,
    now: UtcMillis,
) -> Result<Dashboard, ApiError> {
    let tenant = &principal.tenant;
    use crate::api::{utc, utc_opt};
    let mut agents = DashboardAgents {
        online: 0,
        offline: 0,
        revoked: 0,
    };
    let mut gauges_now = Gauges::default();
    let mut sources = Vec::new();
    // What a role sees follows the routes: agents and their sources (and the agent gauges of
    // the series) with `agents:read`, shops with `shops:read`, stock of the caller's warehouses.
    let see_agents = principal.allows(Permission::AgentsRead);
    let agent_list = if see_agents {
        hub.store().agents(tenant).map_err(internal)?
    } else {
        Vec::new()
    };
    for (id, record) in agent_list {
        if record.tenant != *tenant {
            return Err(internal(format!("agent {id} is not of tenant {tenant}")));
        }
        let revoked = record.revoked_at.is_some();
        let connected = !revoked && hub.live_since(&id).is_some();
        match (revoked, connected) {
            (true, _) => agents.revoked += 1,
            (false, true) => agents.online += 1,
            (false, false) => agents.offline += 1,
        }
        for (source, o) in hub.store().origins(tenant, &id).map_err(internal)? {
            if !revoked {
                gauges_now.backlog += o.reported_backlog;
            }
            sources.push(DashboardSource {
                agent: id.clone(),
                site: record.site.clone(),
                source,
                connected,
                applied_seq: o.applied_seq,
                records_applied: o.records_applied,
                backlog: o.reported_backlog,
                lag_secs: u64::try_from(o.lag_ms(now) / 1_000).unwrap_or(0),
                quarantined: o.reported_quarantined,
                rejected: o.records_rejected,
                last_error: o.last_error,
                last_applied_at: utc_opt(o.last_applied_at)?,
            });
        }
    }
    gauges_now.agents_online = agents.online;
    let quarantined_total = sources.iter().map(|s| s.quarantined).sum();

    let warehouses = hub
        .store()
        .stock_totals(tenant, principal.stock_scope())
        .map_err(internal)?
        .into_iter()
        .map(|(warehouse, t)| {
            Ok(DashboardWarehouse {
                warehouse: WarehouseCode::new(warehouse).map_err(internal)?,
                skus: t.skus,
                on_hand: t.on_hand,
                updated_at: utc_opt(t.updated_at)?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;

    let last = minute_of(now);
    let first = last - i64::from(minutes.max(1)) + 1;
    let window = hub
        .store()
        .minute_buckets(tenant, first, last)
        .map_err(internal)?;
    // A warehouse-bound caller counts only its warehouses' changes.
    let bound_changes = match principal.stock_scope() {
        Some(only) => Some(
            hub.store()
                .warehouse_changes(tenant, only, first, last)
                .map_err(internal)?,
        ),
        None => None,
    };
    let seen = decide::Seen {
        agents: see_agents,
        bound_changes: bound_changes.as_ref(),
    };
    let points = decide::series(first, last, window, gauges_now, seen)
        .into_iter()
        .map(|p| {
            Ok(DashboardPoint {
                at: utc(UtcMillis(p.minute * MINUTE_MS))?,
                changes: p.changes,
                backlog: p.gauges.backlog,
                agents_online: p.gauges.agents_online,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;

    let shop_list = if principal.allows(Permission::ShopsRead) {
        hub.store().shops(tenant).map_err(crate::api::internal)?
    } else {
        Vec::new()
    };
    let shops = shop_list
        .into_iter()
        .map(|r| {
            let c = hub
                .store()
                .capture_state(tenant, &r.id)
                .map_err(crate::api::internal)?;
            let view = crate::shops::api::shop_view(r, &c)?;
            Ok(xt_mobile_api::dto::DashboardShop {
                id: view.id,
                name: view.name,
                platform: view.platform,
                enabled: view.enabled,
                health: view.health,
                orders: view.orders,
                held: view.held,
                capture_errors: view.capture_errors,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Dashboard {
        shops,
        tenant: tenant.clone(),
        generated_at: utc(now)?,
        agents,
        sources,
        quarantined_total,
        warehouses,
        series: DashboardSeries {
            bucket_secs: DASHBOARD_BUCKET_SECS,
            points,
        },
    })
}
pub mod api;
