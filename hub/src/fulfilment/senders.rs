//! The fulfilment room's outbound work, each a worker over a durable queue the room's steps fill
//! in their transactions:
//! - [`tpl`]: delivery orders and cancels to 3PLs over Qimen (`tpl_outbox`); the answer comes
//!   back through the pipeline ([`super::intake::TplAnswered`]); a failed call stays queued and
//!   is tried again with backoff.
//! - [`write_backs`]: tracking numbers to the platforms (`writebacks_due`), retried with capped
//!   backoff until the platform acknowledges; a permanent refusal is kept as failed (the order
//!   and the board show it), an expired authorization waits for the merchant to re-authorize.
//!
//! The network calls run outside any transaction; what they learned is written in one.

use super::intake::TplAnswered;
use super::qimen::{CancelAnswer, QimenClient, QimenConfig, default_call_config};
use super::records::{Actor, DeliveryRecord, WarehouseChannel, WriteBack, WriteBackDue};
use super::store::{
    DELIVERIES, FULFILMENTS, TPL_OUTBOX, WAREHOUSES, WRITEBACKS_DUE, WRITEBACKS_FAILED,
    delivery_order,
};
use crate::hub::{Hub, now_ms};
use crate::ingest::{Applied, Intake};
use crate::shops::channels::carriers::parse_carrier;
use crate::shops::channels::writeback::{ShipmentWriteBack, WriteBackAnswer, write_back};
use crate::shops::channels::{Channel, ChannelConfig};
use crate::shops::store::ShopRecord;
use crate::store::table::WriteTx;
use crate::store::{FulfilmentLogged, LogEntry, StoreError};
use crate::supervisor::CancellationToken;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use xt_shared::ids::{DocNo, TenantId};
use xt_shared::model::UtcMillis;

/// How often the senders look without being woken (retries coming due).
pub const SENDER_TICK: Duration = Duration::from_secs(1);
/// Calls made per tenant per round at most.
pub const SEND_BATCH_MAX: usize = 512;
/// Most write-backs in flight at once.
pub const WRITEBACKS_IN_FLIGHT: usize = 32;
/// Most write-back calls a second per shop. Not the capture quota (`ChannelConfig::for_platform`,
/// for order listing): a shop shipping thousands of parcels an hour needs its tracking out in
/// time; the platform's answer to too many calls is retried with backoff like any other.
pub const WRITEBACK_RATE_PER_SEC: u32 = 1000;
/// Longest wait between two tries of one write-back.
pub const RETRY_MAX_MS: i64 = 10 * 60 * 1000;

/// The wait before try `attempts + 1`: 1 s doubling, at most [`RETRY_MAX_MS`].
pub fn backoff_ms(attempts: u32) -> i64 {
    (1000i64 << attempts.min(20)).min(RETRY_MAX_MS)
}

/// Runs `round` whenever fulfilment queued work, and every [`SENDER_TICK`].
async fn run_rounds<F, Fut>(
    hub: Arc<Hub>,
    token: CancellationToken,
    mut round: F,
) -> anyhow::Result<()>
where
    F: FnMut(Arc<Hub>) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let mut work = hub.subscribe_fulfilment_work();
    let mut tick = tokio::time::interval(SENDER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = token.cancelled() => return Ok(()),
            r = work.changed() => r?,
            _ = tick.tick() => {}
        }
        if let Err(e) = round(hub.clone()).await {
            tracing::warn!(error = %e, "fulfilment sender round failed; retried next round");
        }
    }
}

/// Sends queued delivery orders and cancels to 3PLs.
pub async fn tpl(hub: Arc<Hub>, token: CancellationToken) -> anyhow::Result<()> {
    run_rounds(hub, token, tpl_round).await
}

/// One queued 3PL call.
struct TplCall {
    tenant: TenantId,
    warehouse: String,
    delivery_no: String,
    cancel: bool,
    config: QimenConfig,
    delivery: DeliveryRecord,
}

async fn tpl_round(hub: Arc<Hub>) -> anyhow::Result<()> {
    let h = hub.clone();
    let calls = tokio::task::spawn_blocking(move || queued_tpl(&h)).await??;
    // One client per 3PL per round (its rate limit and connections are shared by its calls),
    // reaching only what the hub's egress policy allows, as the shop clients do.
    let mut clients: BTreeMap<(String, String), QimenClient> = BTreeMap::new();
    for call in calls {
        let key = (call.tenant.to_string(), call.warehouse.clone());
        if !clients.contains_key(&key) {
            match QimenClient::new(call.config.clone(), hub.egress(default_call_config())) {
                Ok(c) => {
                    clients.insert(key.clone(), c);
                }
                Err(e) => {
                    tracing::warn!(warehouse = %call.warehouse, error = %e, "3PL client cannot be built");
                    continue;
                }
            }
        }
        let client = &clients[&key];
        let refused = if call.cancel {
            match client
                .cancel(&DocNo::new(call.delivery_no.as_str())?, "cancelled")
                .await
            {
                Ok(CancelAnswer::Cancelled | CancelAnswer::NotFound { .. }) => None,
                Ok(CancelAnswer::AlreadyShipped { message, .. }) => Some(message),
                Err(e) if e.is_retryable() => continue,
                Err(e) => Some(e.to_string()),
            }
        } else {
            let order = delivery_order(&call.delivery_no, &call.delivery)?;
            match client.create_delivery(&order).await {
                Ok(_) => None,
                Err(e) if e.is_retryable() => continue,
                Err(e) => Some(e.to_string()),
            }
        };
        let h = hub.clone();
        tokio::task::spawn_blocking(move || {
            h.ingest().run(
                h.store(),
                TplAnswered {
                    tenant: &call.tenant,
                    warehouse: &call.warehouse,
                    delivery_no: &call.delivery_no,
                    cancel: call.cancel,
                    refused,
                },
                now_ms(),
            )
        })
        .await??;
    }
    Ok(())
}

fn queued_tpl(hub: &Hub) -> anyhow::Result<Vec<TplCall>> {
    let tx = hub.store().read()?;
    let mut out = Vec::new();
    let outbox = tx.open(TPL_OUTBOX)?;
    let warehouses = tx.open(WAREHOUSES)?;
    let deliveries = tx.open(DELIVERIES)?;
    for row in outbox.all()? {
        if out.len() >= SEND_BATCH_MAX {
            break;
        }
        let row = row?;
        let (t, w, d) = row.key();
        let Some(wh) = warehouses.get((t, w))? else {
            continue;
        };
        let WarehouseChannel::Qimen {
            endpoint,
            app_key,
            sealed_secret,
            customer_id,
            owner_code: _,
        } = wh.channel
        else {
            continue;
        };
        let Some(delivery) = deliveries.get((t, d))? else {
            continue;
        };
        let secret = hub
            .master_key()
            .open(qimen_aad(t, w).as_bytes(), &sealed_secret)
            .map_err(|e| anyhow::anyhow!("the 3PL secret of {w} cannot be opened: {e}"))?;
        out.push(TplCall {
            tenant: TenantId::new(t)?,
            warehouse: w.to_owned(),
            delivery_no: d.to_owned(),
            cancel: row.value == 1,
            config: QimenConfig {
                endpoint: endpoint.parse()?,
                app_key,
                secret: String::from_utf8(secret)?,
                customer_id,
                warehouse_code: xt_shared::ids::WarehouseCode::new(w)?,
            },
            delivery,
        });
    }
    Ok(out)
}

/// What a 3PL's sealed secret is bound to.
pub fn qimen_aad(tenant: &str, warehouse: &str) -> String {
    format!("qimen/{tenant}/{warehouse}")
}

/// Writes tracking numbers back to the platforms.
pub async fn write_backs(hub: Arc<Hub>, token: CancellationToken) -> anyhow::Result<()> {
    let channels = Arc::new(std::sync::Mutex::new(WriteBackChannels::new()));
    run_rounds(hub, token, move |hub| {
        write_back_round(hub, channels.clone())
    })
    .await
}

/// The write-back channel of each shop, kept across rounds: its connections are reused and its
/// call quota holds from one round to the next. Rebuilt when the shop's record changes in any
/// way (re-bound, new credentials, another URL).
type WriteBackChannels = BTreeMap<(String, String), (ShopRecord, Arc<dyn Channel>)>;

/// One due write-back of one order.
#[derive(Clone)]
struct Due {
    tenant: TenantId,
    due_at: i64,
    delivery_no: String,
    package: String,
    attempts: u32,
    shop: String,
    order_nos: Vec<String>,
    carrier: String,
    tracking_no: String,
}

async fn write_back_round(
    hub: Arc<Hub>,
    kept: Arc<std::sync::Mutex<WriteBackChannels>>,
) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let h = hub.clone();
    let due = tokio::task::spawn_blocking(move || due_write_backs(&h, now_ms())).await??;
    let full = due.len() >= SEND_BATCH_MAX;
    let mut channels: BTreeMap<(String, String), Result<Arc<dyn Channel>, WriteBackAnswer>> =
        BTreeMap::new();
    for d in &due {
        let key = (d.tenant.to_string(), d.shop.clone());
        channels
            .entry(key)
            .or_insert_with(|| writeback_channel(&hub, &kept, &d.tenant, &d.shop));
    }
    let answers: Vec<(Due, WriteBackAnswer)> =
        futures_util::stream::iter(due.into_iter().map(|d| {
            let channel = channels[&(d.tenant.to_string(), d.shop.clone())].clone();
            async move {
                let answer = match channel {
                    Ok(channel) => send_one(channel.as_ref(), &d).await,
                    Err(answer) => answer,
                };
                (d, answer)
            }
        }))
        .buffer_unordered(WRITEBACKS_IN_FLIGHT)
        .collect()
        .await;
    if answers.is_empty() {
        return Ok(());
    }
    let h = hub.clone();
    tokio::task::spawn_blocking(move || {
        h.ingest().run(h.store(), WriteBacksDone(answers), now_ms())
    })
    .await??;
    if full {
        // More are due: the next round starts now rather than at the next tick.
        hub.fulfilment_work();
    }
    Ok(())
}

/// The channel write-backs to `shop` go through (the kept one while the shop's record is
/// unchanged), or why there is none.
fn writeback_channel(
    hub: &Hub,
    kept: &std::sync::Mutex<WriteBackChannels>,
    tenant: &TenantId,
    shop: &str,
) -> Result<Arc<dyn Channel>, WriteBackAnswer> {
    let key = (tenant.to_string(), shop.to_owned());
    let shop = match hub.store().shop(tenant, shop) {
        Ok(Some(shop)) => shop,
        Ok(None) => {
            return Err(WriteBackAnswer::Permanent(format!(
                "shop {shop} is not bound"
            )));
        }
        Err(e) => {
            return Err(WriteBackAnswer::Retryable {
                reason: e.to_string(),
                retry_after: None,
            });
        }
    };
    let mut kept = kept.lock().expect("write-back channels");
    if let Some((built_for, channel)) = kept.get(&key)
        && *built_for == shop
    {
        return Ok(channel.clone());
    }
    let config = ChannelConfig {
        rate_per_sec: WRITEBACK_RATE_PER_SEC,
        burst: WRITEBACK_RATE_PER_SEC,
        ..ChannelConfig::for_platform(shop.platform)
    };
    let channel: Arc<dyn Channel> = crate::shops::capture::shop_channel(hub, &shop, config)
        .map(Arc::from)
        .map_err(|e| WriteBackAnswer::Permanent(e.to_string()))?;
    kept.insert(key, (shop, channel.clone()));
    Ok(channel)
}

async fn send_one(channel: &dyn Channel, d: &Due) -> WriteBackAnswer {
    let carrier = match parse_carrier(&d.carrier) {
        Ok(c) => c,
        Err(e) => return WriteBackAnswer::Permanent(e.to_string()),
    };
    let mut last = WriteBackAnswer::Acknowledged;
    for no in &d.order_nos {
        let order_no = match DocNo::new(no.as_str()) {
            Ok(n) => n,
            Err(e) => return WriteBackAnswer::Permanent(e.to_string()),
        };
        let shipment = match ShipmentWriteBack::new(order_no, carrier, &d.tracking_no, None) {
            Ok(s) => s,
            Err(e) => return WriteBackAnswer::Permanent(e.to_string()),
        };
        last = write_back(channel, &shipment).await;
        if !last.is_acknowledged() {
            return last;
        }
    }
    last
}

fn due_write_backs(hub: &Hub, now: UtcMillis) -> anyhow::Result<Vec<Due>> {
    let tx = hub.store().read()?;
    let table = tx.open(WRITEBACKS_DUE)?;
    let deliveries = tx.open(DELIVERIES)?;
    let mut out = Vec::new();
    let tenants = crate::events::log::tenants(&tx)?;
    for t in tenants {
        for row in table.range(
            (t.as_str(), i64::MIN, "", "")..=(t.as_str(), now.0, "\u{10ffff}", "\u{10ffff}"),
        )? {
            if out.len() >= SEND_BATCH_MAX {
                break;
            }
            let row = row?;
            let (_, due_at, dn, key) = row.key();
            let Some(d) = deliveries.get((t.as_str(), dn))? else {
                continue;
            };
            let Some(p) = d.packages.iter().find(|p| p.key == key) else {
                continue;
            };
            out.push(Due {
                tenant: TenantId::new(t.as_str())?,
                due_at,
                delivery_no: dn.to_owned(),
                package: key.to_owned(),
                attempts: row.value.attempts,
                shop: d.shop.clone(),
                order_nos: d.orders.clone(),
                carrier: p.carrier.clone(),
                tracking_no: p.tracking_no.clone(),
            });
        }
    }
    Ok(out)
}

/// A round's write-back answers, recorded in one transaction: each acknowledged, failed, or
/// due again after a backoff. An answer whose due row is gone (recorded before) is skipped.
#[derive(Clone)]
struct WriteBacksDone(Vec<(Due, WriteBackAnswer)>);

impl Intake for WriteBacksDone {
    type Admitted = WriteBacksDone;
    type Outcome = ();

    fn admit(self, tx: &WriteTx) -> Result<Result<WriteBacksDone, ()>, StoreError> {
        let due = tx.open(WRITEBACKS_DUE)?;
        let mut kept = Vec::with_capacity(self.0.len());
        for (d, answer) in self.0 {
            let key = (
                d.tenant.as_str(),
                d.due_at,
                d.delivery_no.as_str(),
                d.package.as_str(),
            );
            if due.contains(key)? {
                kept.push((d, answer));
            }
        }
        Ok(if kept.is_empty() {
            Err(())
        } else {
            Ok(WriteBacksDone(kept))
        })
    }

    fn apply(
        done: WriteBacksDone,
        tx: &WriteTx,
        now: UtcMillis,
    ) -> Result<Applied<()>, StoreError> {
        let mut log = Vec::new();
        for (due, answer) in done.0 {
            log.extend(record_answer(due, answer, tx, now)?);
        }
        Ok(Applied { log, outcome: () })
    }
}

/// Records one write-back's answer; returns what goes into the log.
fn record_answer(
    d: Due,
    answer: WriteBackAnswer,
    tx: &WriteTx,
    now: UtcMillis,
) -> Result<Vec<LogEntry>, StoreError> {
    let t = d.tenant.as_str();
    tx.open(WRITEBACKS_DUE)?
        .remove((t, d.due_at, d.delivery_no.as_str(), d.package.as_str()))?;
    let attempts = d.attempts + 1;
    let (state, note) = match &answer {
        WriteBackAnswer::Acknowledged | WriteBackAnswer::AlreadyShipped => (
            WriteBack::Acknowledged { at: now },
            format!("tracking {} written back", d.tracking_no),
        ),
        WriteBackAnswer::Permanent(reason) => {
            tx.open(WRITEBACKS_FAILED)?
                .insert((t, d.delivery_no.as_str(), d.package.as_str()), &())?;
            (
                WriteBack::Failed {
                    attempts,
                    error: reason.clone(),
                },
                format!("tracking write-back failed: {reason}"),
            )
        }
        WriteBackAnswer::Retryable {
            reason,
            retry_after,
        } => {
            let wait = retry_after
                .map_or(backoff_ms(attempts), |w| w.as_millis() as i64)
                .clamp(1000, RETRY_MAX_MS);
            tx.open(WRITEBACKS_DUE)?.insert(
                (t, now.0 + wait, d.delivery_no.as_str(), d.package.as_str()),
                &WriteBackDue { attempts },
            )?;
            (
                WriteBack::Pending {
                    attempts,
                    last_error: Some(reason.clone()),
                },
                String::new(),
            )
        }
        WriteBackAnswer::Unauthorized(reason) => {
            tx.open(WRITEBACKS_DUE)?.insert(
                (
                    t,
                    now.0 + RETRY_MAX_MS,
                    d.delivery_no.as_str(),
                    d.package.as_str(),
                ),
                &WriteBackDue { attempts },
            )?;
            (
                WriteBack::Pending {
                    attempts,
                    last_error: Some(format!("the shop must be authorized again: {reason}")),
                },
                String::new(),
            )
        }
    };
    let mut deliveries = tx.open(DELIVERIES)?;
    let Some(mut delivery) = deliveries.get((t, d.delivery_no.as_str()))? else {
        return Ok(Vec::new());
    };
    if let Some(p) = delivery.packages.iter_mut().find(|p| p.key == d.package) {
        p.write_back = state;
    }
    deliveries.insert((t, d.delivery_no.as_str()), &delivery)?;
    drop(deliveries);
    let mut log = Vec::new();
    if !note.is_empty() {
        let mut orders = tx.open(FULFILMENTS)?;
        for no in &delivery.orders {
            let key = (t, delivery.shop.as_str(), no.as_str());
            let Some(mut f) = orders.get(key)? else {
                continue;
            };
            let s = f.state;
            f.step(s, Actor::Platform, note.clone(), now);
            orders.insert(key, &f)?;
            log.push(LogEntry::Fulfilment(FulfilmentLogged {
                tenant: d.tenant.clone(),
                shop: delivery.shop.clone(),
                order_no: no.clone(),
                from: s.as_str().to_owned(),
                to: s.as_str().to_owned(),
                actor: "platform".into(),
                reason: note.clone(),
                at: now,
            }));
        }
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xt_mobile_api::api::ShopsApi;
    use xt_mobile_api::shops::{ShopCreate, ShopPatch};

    #[test]
    fn a_shops_write_back_channel_is_kept_until_its_record_changes() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let tenant = TenantId::new("acme").unwrap();
        crate::cli::init_hub(&data, &tenant).unwrap();
        let settings = crate::hub::HubSettings {
            shop_urls: crate::shops::channels::ShopUrlPolicy {
                allow_private: true,
                allowed: Vec::new(),
            },
            ..crate::hub::HubSettings::default()
        };
        let hub = Arc::new(Hub::open(&data, settings).unwrap());
        let shops = crate::shops::api::ShopsService::new(hub.clone());
        let create: ShopCreate = serde_json::from_value(serde_json::json!({
            "platform": "tmall", "name": "天猫", "api_base_url": "http://127.0.0.1:9/router",
            "credentials": {"app_key": "k1", "app_secret": "s1", "session": "t1"}
        }))
        .unwrap();
        let shop = shops
            .create_shop(&tenant, &create.validated().unwrap())
            .unwrap();
        let kept = std::sync::Mutex::new(WriteBackChannels::new());
        let channel = |kept| {
            writeback_channel(&hub, kept, &tenant, &shop.view.id)
                .ok()
                .unwrap()
        };
        let first = channel(&kept);
        assert!(Arc::ptr_eq(&first, &channel(&kept)), "kept across rounds");

        let patch: ShopPatch = serde_json::from_value(serde_json::json!({
            "credentials": {"app_key": "k1", "app_secret": "s2", "session": "t2"}
        }))
        .unwrap();
        shops.update_shop(&tenant, &shop.view.id, &patch).unwrap();
        let renewed = channel(&kept);
        assert!(
            !Arc::ptr_eq(&first, &renewed),
            "new credentials, new channel"
        );
        assert!(Arc::ptr_eq(&renewed, &channel(&kept)));
    }
}
