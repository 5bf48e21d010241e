//! The fulfilment worker: runs [`Tail`] for every tenant whenever a change log grew (and on a
//! short tick, for merge groups coming due), and wakes the agents' sessions, the 3PL sender
//! and the write-back sender when a step gave them work.

use super::intake::{Tail, Worked};
use super::store::RELEASE_BATCH_MAX;
use crate::hub::{Hub, now_ms};
use crate::supervisor::CancellationToken;
use std::sync::Arc;
use std::time::Duration;
use xt_shared::ids::TenantId;

/// How often the worker looks without being woken (merge groups coming due).
pub const TAIL_TICK: Duration = Duration::from_millis(500);

/// Runs until `token` is cancelled; a step in progress finishes first.
pub async fn run(hub: Arc<Hub>, token: CancellationToken) -> anyhow::Result<()> {
    let mut grew = hub.subscribe_log();
    let mut tick = tokio::time::interval(TAIL_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = token.cancelled() => return Ok(()),
            r = grew.changed() => r?,
            _ = tick.tick() => {}
        }
        let h = hub.clone();
        let worked = tokio::task::spawn_blocking(move || step_all(&h)).await??;
        if worked.commands {
            hub.commands_enqueued();
        }
        if worked.tpl || worked.writebacks {
            hub.fulfilment_work();
        }
    }
}

/// Steps every tenant until its log is read through and nothing is due.
pub fn step_all(hub: &Hub) -> anyhow::Result<Worked> {
    let mut all = Worked::default();
    let tenants = crate::events::log::tenants(&hub.store().read()?)?;
    for tenant in tenants {
        let tenant = TenantId::new(tenant)?;
        loop {
            let w = hub
                .ingest()
                .run(hub.store(), Tail { tenant: &tenant }, now_ms())?;
            all.entries += w.entries;
            all.released += w.released;
            all.commands |= w.commands;
            all.tpl |= w.tpl;
            all.writebacks |= w.writebacks;
            if !w.more && w.released < RELEASE_BATCH_MAX {
                break;
            }
        }
    }
    Ok(all)
}
