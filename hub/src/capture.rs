//! Order capture: one worker per enabled shop polls its platform by modified-time window and
//! applies what it fetches through [`Store::apply_shop_items`]; webhooks feed the same path.
//!
//! - **Windows with overlap.** Each poll fetches from the durable cursor minus the overlap up to
//!   now, cut into windows no longer than the platform allows. An order written late with a
//!   `modified` inside an already-polled window is caught by the overlap; an order fetched twice
//!   is a duplicate the store ignores.
//! - **A durable cursor advanced only after the window is applied.** Every page is applied (one
//!   durable transaction) before the next is fetched; the cursor moves to the window's end only
//!   after its last page. A hub stopped mid-window fetches that window again.
//! - **Backfill** of a range on demand (`POST /api/v1/shops/{id}/backfill`) walks its windows
//!   the same way, with its own durable position.
//! - **Health.** Each poll writes the shop's health: last successful poll, lag (now minus the
//!   cursor), error count and last error, rate-limited-until; an expired token is flagged.
//!
//! A worker is restarted when its shop changes (credentials, URL) and stopped when the shop is
//! disabled.

use crate::channels::{
    Captured, Channel, ChannelConfig, FetchError, PageCursor, Window, channel_for,
};
use crate::hub::{Hub, now_ms};
use crate::store::{CaptureState, ShopItem, ShopRecord, StoreError};
use clap::Args;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;

/// `xt-hub serve` capture settings.
#[derive(Args, Debug, Clone)]
pub struct CaptureArgs {
    /// How often each shop is polled.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub capture_poll: Duration,
    /// How far back each poll reaches before the cursor, to catch orders whose `modified` was
    /// written late.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub capture_overlap: Duration,
    /// How far back the first poll of a new shop reaches (older orders: backfill).
    #[arg(long, default_value = "1d", value_parser = humantime::parse_duration)]
    pub capture_lookback: Duration,
}

impl Default for CaptureArgs {
    fn default() -> Self {
        CaptureArgs {
            capture_poll: Duration::from_secs(30),
            capture_overlap: Duration::from_secs(300),
            capture_lookback: Duration::from_secs(86_400),
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Which cursor a fetch moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Orders,
    Refunds,
}

/// Starts the supervisor: every poll interval it starts a worker for each enabled shop without
/// one, restarts workers whose shop changed and stops those of disabled or removed shops.
pub fn spawn(hub: Arc<Hub>, args: CaptureArgs) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Owned by this task: when the supervisor is aborted (hub shutdown) the map is dropped
        // and every worker with it.
        let mut workers: HashMap<(String, String), (UtcMillis, Worker)> = HashMap::new();
        loop {
            let shops = {
                let hub = hub.clone();
                tokio::task::spawn_blocking(move || hub.store.all_shops()).await
            };
            match shops {
                Ok(Ok(shops)) => {
                    let mut seen = Vec::new();
                    for shop in shops.into_iter().filter(|s| s.enabled) {
                        let key = (shop.tenant.to_string(), shop.id.clone());
                        seen.push(key.clone());
                        let current = workers
                            .get(&key)
                            .is_some_and(|(at, w)| *at == shop.updated_at && !w.0.is_finished());
                        if !current {
                            let at = shop.updated_at;
                            let handle = tokio::spawn(worker(hub.clone(), shop, args.clone()));
                            // Replacing drops (aborts) the old worker.
                            workers.insert(key, (at, Worker(handle)));
                        }
                    }
                    workers.retain(|k, _| seen.contains(k));
                }
                Ok(Err(e)) => tracing::error!(error = %e, "capture: cannot list shops"),
                Err(e) => tracing::error!(error = %e, "capture: shop listing failed"),
            }
            tokio::time::sleep(args.capture_poll).await;
        }
    })
}

/// A shop's worker task, aborted when dropped.
struct Worker(JoinHandle<()>);

impl Drop for Worker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The channel of a shop, built from its sealed credentials.
pub fn shop_channel(
    hub: &Hub,
    shop: &ShopRecord,
    config: ChannelConfig,
) -> Result<Box<dyn Channel>, FetchError> {
    let secrets = shop
        .open_secrets(&hub.master_key)
        .map_err(|e| FetchError::Fatal(format!("the shop's credentials cannot be opened: {e}")))?;
    channel_for(
        shop.platform,
        &shop.api_base_url,
        &shop.credential_id,
        &secrets,
        config,
    )
}

async fn worker(hub: Arc<Hub>, shop: ShopRecord, args: CaptureArgs) {
    let channel = match shop_channel(&hub, &shop, ChannelConfig::for_platform(shop.platform)) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(shop = %shop.id, error = %e, "capture: cannot build the channel");
            record_health(&hub, &shop.tenant, &shop.id, None, Some(&e), None).await;
            return;
        }
    };
    tracing::info!(shop = %shop.id, platform = %shop.platform, "capture started");
    loop {
        poll_once(&hub, &shop.tenant, &shop.id, channel.as_ref(), &args).await;
        tokio::time::sleep(args.capture_poll).await;
    }
}

/// One poll of one shop: orders, refunds and any backfill due, then its health. Returns whether
/// everything fetched was applied.
pub async fn poll_once(
    hub: &Arc<Hub>,
    tenant: &TenantId,
    shop: &str,
    channel: &dyn Channel,
    args: &CaptureArgs,
) -> bool {
    let now = now_ms();
    let state = match blocking(hub, {
        let (t, s) = (tenant.clone(), shop.to_owned());
        move |hub| hub.store.capture_state(&t, &s)
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(shop, error = %e, "capture: cannot read the capture state");
            return false;
        }
    };
    let start = |cursor: Option<UtcMillis>| {
        cursor.map_or(now.0 - ms(args.capture_lookback), |c| {
            c.0 - ms(args.capture_overlap)
        })
    };
    let range = |orders_from: i64, refunds_from: i64, to: i64, backfill: bool| async move {
        run_range(
            hub,
            tenant,
            shop,
            channel,
            Stream::Orders,
            orders_from,
            to,
            backfill,
        )
        .await?;
        run_range(
            hub,
            tenant,
            shop,
            channel,
            Stream::Refunds,
            refunds_from,
            to,
            backfill,
        )
        .await
    };
    let mut result = range(
        start(state.orders_cursor),
        start(state.refunds_cursor),
        now.0,
        false,
    )
    .await;
    if result.is_ok()
        && let Some((to, next)) = state.backfill
    {
        result = range(next.0, next.0, to.0, true).await;
        if result.is_ok() {
            let (t, s) = (tenant.clone(), shop.to_owned());
            let _ = blocking(hub, move |hub| {
                hub.store
                    .update_capture_state(&t, &s, |c| c.backfill = None)
            })
            .await;
        }
    }
    let stats = channel.stats();
    let ok = result.is_ok();
    record_health(
        hub,
        tenant,
        shop,
        ok.then_some(now),
        result.as_ref().err(),
        stats.rate_limited_until,
    )
    .await;
    if let Err(e) = &result {
        tracing::warn!(shop, error = %e, "capture poll failed; the cursor stays where it was");
    }
    ok
}

/// Fetches and applies `[from, to]` of one stream window by window, moving the durable cursor
/// (or, for a backfill, its position) after each window.
#[allow(clippy::too_many_arguments)]
async fn run_range(
    hub: &Arc<Hub>,
    tenant: &TenantId,
    shop: &str,
    channel: &dyn Channel,
    stream: Stream,
    from: i64,
    to: i64,
    backfill: bool,
) -> Result<(), FetchError> {
    let step = ms(channel.max_window()).max(1_000);
    let mut w_from = from;
    while w_from <= to {
        let w_to = (w_from + step - 1_000).min(to);
        let mut window = Window {
            from: UtcMillis(w_from),
            to: UtcMillis(w_to),
        };
        let mut cursor = None;
        loop {
            let page = match stream {
                Stream::Orders => channel.fetch_orders(&window, cursor.as_ref()).await?,
                Stream::Refunds => channel.fetch_refunds(&window, cursor.as_ref()).await?,
            };
            // Narrow the window to the newest `modified` seen (keyset paging) instead of
            // asking for page n+1: if an order of an earlier page is modified meanwhile, it leaves
            // the window and page numbers shift, which would skip a row. Narrowing cannot skip;
            // the rows of that second come again and are duplicates the store ignores.
            let newest = page
                .items
                .iter()
                .filter_map(|c| match c {
                    Captured::Order { order, .. } => Some(order.times.modified.0),
                    Captured::Refund { refund, .. } => Some(refund.modified.0),
                    Captured::Malformed { .. } => None,
                })
                .max()
                .map(|m| m - m.rem_euclid(1_000));
            let items = page.items.into_iter().map(item).collect::<Vec<_>>();
            if !items.is_empty() {
                let (t, s) = (tenant.clone(), shop.to_owned());
                blocking(hub, move |hub| {
                    hub.store.apply_shop_items(&t, &s, items, now_ms())
                })
                .await
                .map_err(|e| FetchError::Fatal(format!("cannot apply: {e}")))?;
            }
            match (page.next, newest) {
                (None, _) => break,
                (Some(PageCursor::Page(_)), Some(m)) if m > window.from.0 => {
                    window.from = UtcMillis(m);
                    cursor = None;
                }
                (Some(next), _) => cursor = Some(next),
            }
        }
        let (t, s) = (tenant.clone(), shop.to_owned());
        blocking(hub, move |hub| {
            hub.store
                .update_capture_state(&t, &s, |c: &mut CaptureState| {
                    let end = Some(UtcMillis(w_to));
                    match (stream, backfill) {
                        (_, true) => {
                            if let Some(b) = &mut c.backfill {
                                b.1 = UtcMillis(w_to + 1);
                            }
                        }
                        (Stream::Orders, false) => c.orders_cursor = c.orders_cursor.max(end),
                        (Stream::Refunds, false) => c.refunds_cursor = c.refunds_cursor.max(end),
                    }
                })
        })
        .await
        .map_err(|e| FetchError::Fatal(format!("cannot move the cursor: {e}")))?;
        w_from = w_to + 1;
    }
    Ok(())
}

/// A fetched item as the store takes it.
pub fn item(c: Captured) -> ShopItem {
    match c {
        Captured::Order { order, .. } => ShopItem::Order(Box::new(order)),
        Captured::Refund { refund, .. } => ShopItem::Refund(Box::new(refund)),
        Captured::Malformed {
            raw,
            order_no,
            reason,
        } => ShopItem::Malformed {
            raw,
            order_no,
            reason,
        },
    }
}

async fn blocking<T: Send + 'static>(
    hub: &Arc<Hub>,
    f: impl FnOnce(&Hub) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let hub = hub.clone();
    tokio::task::spawn_blocking(move || f(&hub))
        .await
        .map_err(|e| StoreError::Db(format!("capture task failed: {e}")))?
}

/// Writes a poll's outcome into the shop's health (not its `updated_at`: that would restart
/// the worker).
async fn record_health(
    hub: &Arc<Hub>,
    tenant: &TenantId,
    shop: &str,
    ok_at: Option<UtcMillis>,
    error: Option<&FetchError>,
    rate_limited_until: Option<UtcMillis>,
) {
    let (t, s) = (tenant.clone(), shop.to_owned());
    let error = error.map(|e| (e.to_string(), matches!(e, FetchError::TokenExpired(_))));
    let result = blocking(hub, move |hub| {
        let cursor = hub.store.capture_state(&t, &s)?.orders_cursor;
        hub.store.change_shop::<StoreError>(&t, &s, |r| {
            let h = &mut r.health;
            let now = now_ms();
            if let Some(at) = ok_at {
                h.last_poll_ok_at = Some(at);
            }
            h.capture_lag_ms = cursor.map(|c| (now.0 - c.0).max(0));
            if let Some((message, expired)) = &error {
                h.error_count = Some(h.error_count.unwrap_or(0) + 1);
                h.last_error = Some(message.clone());
                if *expired {
                    h.token_expires_at = Some(now);
                }
            } else {
                h.error_count.get_or_insert(0);
            }
            h.rate_limited_until = rate_limited_until.filter(|u| u.0 > now.0);
            Ok(())
        })?;
        Ok(())
    })
    .await;
    if let Err(e) = result {
        tracing::error!(shop, error = %e, "capture: cannot record the shop's health");
    }
}
