//! Order capture: one worker per enabled shop polls its platform by modified-time window and
//! applies what it fetches through [`Store::apply_shop_items`]; webhooks feed the same path.
//!
//! - **Fresh and settle reads.** Each poll fetches from the durable cursor (less one poll
//!   interval) up to now, cut into windows no longer than the platform allows, and once more
//!   what has since become older than the overlap (`decide::poll_windows`): an order the
//!   platform stamped with a `modified` up to the overlap in the past is caught by that settle
//!   read, and each order is listed about twice rather than once per poll within the overlap.
//!   An order fetched twice is a duplicate the store ignores. Where the settle reads have got to
//!   is the worker's own; a worker started afresh settles the whole overlap before the cursor.
//! - **A durable cursor advanced only after the window is applied.** Every page is applied (one
//!   durable transaction) before the next is fetched; the cursor moves to the window's end only
//!   after its last page. A hub stopped mid-window fetches that window again.
//! - **Backfill** of a range on demand (`POST /api/v1/shops/{id}/backfill`) walks its windows
//!   the same way, with its own durable position.
//! - **Orders and refunds apart.** Each has its own cursor, backfill position and health: a
//!   refund endpoint that fails (an app without the permission, a 404) never stops orders.
//! - **Health.** Each poll writes the shop's health, per stream: last successful poll, lag (now
//!   minus the cursor), error count and last error (a short, sanitized reason, never the
//!   platform's body), rate-limited-until; an expired token is flagged.
//! - **Shop URLs.** Channels connect only where the hub's [`ShopUrlPolicy`] allows
//!   (`--allow-private-shop-urls`, `--allow-shop-cidr`).
//!
//! A worker is restarted when its shop changes (credentials, URL) and stopped when the shop is
//! disabled. [`run`] is one of the hub's supervised workers (see [`crate::supervisor`]): when
//! its token is cancelled no new fetch or poll starts, the page being applied is applied, and
//! it returns once every shop's worker has stopped.

use super::decide::{backfill_done, narrowed_from, note, poll_windows};
use crate::hub::{Hub, now_ms};
use crate::shops::channels::{
    Captured, Channel, ChannelConfig, FetchError, PageCursor, ShopUrlPolicy, Window, channel_for,
    reason,
};
use crate::store::{CaptureState, ShopRecord, StoreError, StreamHealth};
use crate::supervisor::CancellationToken;
use clap::Args;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{AbortHandle, JoinSet};
use xt_shared::ids::TenantId;
use xt_shared::model::UtcMillis;

/// `xt-hub serve` capture settings.
#[derive(Args, Debug, Clone)]
pub struct CaptureArgs {
    /// How often each shop is polled.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub capture_poll: Duration,
    /// How late a platform may stamp an order's `modified`: each window is read once more when
    /// it is this old, to catch such orders.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub capture_overlap: Duration,
    /// How far back the first poll of a new shop reaches (older orders: backfill).
    #[arg(long, default_value = "1d", value_parser = humantime::parse_duration)]
    pub capture_lookback: Duration,
    /// Let shops' API base URLs reach loopback, private (RFC 1918, fc00::/7), link-local, CGNAT
    /// and reserved addresses: for a platform stand-in or an on-premises service on a private
    /// network; never needed for the public platforms. Metadata addresses stay refused.
    #[arg(long)]
    pub allow_private_shop_urls: bool,
    /// Allow shops' API base URLs to reach this range (ip or cidr, repeatable), e.g. an
    /// on-premises 3PL at 10.1.0.0/16, without allowing every private address.
    #[arg(long = "allow-shop-cidr", value_parser = crate::shops::channels::egress::parse_cidr)]
    pub allow_shop_cidrs: Vec<ipnet::IpNet>,
}

impl CaptureArgs {
    /// The shop URL policy these flags make.
    pub fn shop_url_policy(&self) -> ShopUrlPolicy {
        ShopUrlPolicy {
            allow_private: self.allow_private_shop_urls,
            allowed: self.allow_shop_cidrs.clone(),
        }
    }
}

impl Default for CaptureArgs {
    fn default() -> Self {
        CaptureArgs {
            capture_poll: Duration::from_secs(30),
            capture_overlap: Duration::from_secs(300),
            capture_lookback: Duration::from_secs(86_400),
            allow_private_shop_urls: false,
            allow_shop_cidrs: Vec::new(),
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

/// The capture supervisor, until `token` is cancelled: every poll interval it starts a worker
/// for each enabled shop without one, restarts workers whose shop changed and stops those of
/// disabled or removed shops. Then it waits for its workers to stop.
///
/// A worker is stopped by cancelling its token (a child of `token`): a page being written is
/// written, and no new fetch or poll starts. A stopped worker of a changed shop may finish its
/// page while its replacement starts: both write through the same idempotent ingest.
pub async fn run(hub: Arc<Hub>, args: CaptureArgs, token: CancellationToken) -> anyhow::Result<()> {
    // Dropped with this future if it is aborted: that aborts every worker too.
    let mut tasks = JoinSet::new();
    let mut workers: HashMap<(String, String), ShopWorker> = HashMap::new();
    loop {
        while let Some(ended) = tasks.try_join_next() {
            if let Err(e) = ended {
                tracing::error!(error = %e, "capture: a shop worker failed");
            }
        }
        let shops = {
            let hub = hub.clone();
            tokio::task::spawn_blocking(move || hub.store().all_shops()).await
        };
        match shops {
            Ok(Ok(shops)) => {
                let mut seen = Vec::new();
                for shop in shops.into_iter().filter(|s| s.enabled) {
                    let key = (shop.tenant.to_string(), shop.id.clone());
                    seen.push(key.clone());
                    let current = workers
                        .get(&key)
                        .is_some_and(|w| w.updated_at == shop.updated_at && !w.task.is_finished());
                    if !current {
                        let worker_token = token.child_token();
                        let updated_at = shop.updated_at;
                        let task = tasks.spawn(worker(
                            hub.clone(),
                            shop,
                            args.clone(),
                            worker_token.clone(),
                        ));
                        let new = ShopWorker {
                            updated_at,
                            token: worker_token,
                            task,
                        };
                        if let Some(old) = workers.insert(key, new) {
                            old.token.cancel();
                        }
                    }
                }
                workers.retain(|k, w| {
                    let keep = seen.contains(k);
                    if !keep {
                        w.token.cancel();
                    }
                    keep
                });
            }
            Ok(Err(e)) => tracing::error!(error = %e, "capture: cannot list shops"),
            Err(e) => tracing::error!(error = %e, "capture: shop listing failed"),
        }
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(args.capture_poll) => {}
        }
    }
    // Every worker's token is a child of `token`: each ends after the page it is writing.
    while let Some(ended) = tasks.join_next().await {
        if let Err(e) = ended {
            tracing::error!(error = %e, "capture: a shop worker failed while stopping");
        }
    }
    Ok(())
}

/// A shop's running worker: the shop version it polls, and how to stop it.
struct ShopWorker {
    updated_at: UtcMillis,
    token: CancellationToken,
    task: AbortHandle,
}

/// The channel of a shop, built from its sealed credentials, under the hub's egress policy.
pub fn shop_channel(
    hub: &Hub,
    shop: &ShopRecord,
    config: ChannelConfig,
) -> Result<Box<dyn Channel>, FetchError> {
    let credentials = shop
        .open_credentials(hub.master_key())
        .map_err(|e| FetchError::Fatal(format!("the shop's credentials cannot be opened: {e}")))?;
    channel_for(
        shop.platform,
        &shop.api_base_url,
        &credentials,
        hub.egress(config),
    )
}

async fn worker(hub: Arc<Hub>, shop: ShopRecord, args: CaptureArgs, token: CancellationToken) {
    let config = ChannelConfig::for_platform(shop.platform);
    let channel = match shop_channel(&hub, &shop, config) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(shop = %shop.id, error = %e, "capture: cannot build the channel");
            let failed = Err(e);
            record_health(&hub, &shop.tenant, &shop.id, (&failed, &failed), None).await;
            return;
        }
    };
    tracing::info!(shop = %shop.id, platform = %shop.platform, "capture started");
    let mut settled = Settled::default();
    loop {
        poll_once(
            &hub,
            &shop.tenant,
            &shop.id,
            channel.as_ref(),
            &args,
            &mut settled,
            &token,
        )
        .await;
        tokio::select! {
            () = token.cancelled() => break,
            () = tokio::time::sleep(args.capture_poll) => {}
        }
    }
    tracing::info!(shop = %shop.id, "capture stopped");
}

/// Where a worker's settle reads have got to, per stream (`None`: not yet; see
/// [`poll_windows`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Settled {
    orders: Option<i64>,
    refunds: Option<i64>,
}

/// One poll of one shop: orders and refunds (fresh, then settled), any backfill due, then its
/// health. Returns whether everything fetched was applied.
///
/// Orders and refunds go each their own way: a refund endpoint that fails (an app without the
/// refund permission, a 404) leaves the orders captured and only the refunds' health in error.
///
/// Once `token` is cancelled no fetch starts: the page being written is written, the poll ends
/// there (false) without touching the health, and the cursor stays at the last whole window.
pub async fn poll_once(
    hub: &Arc<Hub>,
    tenant: &TenantId,
    shop: &str,
    channel: &dyn Channel,
    args: &CaptureArgs,
    settled: &mut Settled,
    token: &CancellationToken,
) -> bool {
    let now = now_ms();
    let state = match blocking(hub, {
        let (t, s) = (tenant.clone(), shop.to_owned());
        move |hub| hub.store().capture_state(&t, &s)
    })
    .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(shop, error = %e, "capture: cannot read the capture state");
            return false;
        }
    };
    let windows = |cursor: Option<UtcMillis>, settled: Option<i64>| {
        poll_windows(
            cursor,
            settled,
            now,
            ms(args.capture_lookback),
            ms(args.capture_overlap),
            ms(args.capture_poll),
        )
    };
    let run = |stream, (from, to): (i64, i64), moves| {
        let range = Range {
            stream,
            from,
            to,
            moves,
        };
        run_range(hub, tenant, shop, channel, range, token)
    };
    let order_windows = windows(state.orders_cursor, settled.orders);
    let refund_windows = windows(state.refunds_cursor, settled.refunds);
    let Some(mut orders) =
        whole(run(Stream::Orders, order_windows.fresh, Some(Moves::Cursor)).await)
    else {
        return false;
    };
    let Some(mut refunds) =
        whole(run(Stream::Refunds, refund_windows.fresh, Some(Moves::Cursor)).await)
    else {
        return false;
    };
    for (stream, windows, result, position) in [
        (
            Stream::Orders,
            order_windows,
            &mut orders,
            &mut settled.orders,
        ),
        (
            Stream::Refunds,
            refund_windows,
            &mut refunds,
            &mut settled.refunds,
        ),
    ] {
        if result.is_err() {
            continue;
        }
        if let Some(window) = windows.settle {
            let Some(r) = whole(run(stream, window, None).await) else {
                return false;
            };
            *result = r;
        }
        if result.is_ok() {
            *position = Some(windows.next_settled);
        }
    }
    if let Some((to, next)) = state.backfill {
        if orders.is_ok() {
            let Some(r) = whole(run(Stream::Orders, (next.0, to.0), Some(Moves::Backfill)).await)
            else {
                return false;
            };
            orders = r;
        }
        if refunds.is_ok() {
            let refunds_next = state.refunds_backfill.unwrap_or(next);
            let Some(r) = whole(
                run(
                    Stream::Refunds,
                    (refunds_next.0, to.0),
                    Some(Moves::Backfill),
                )
                .await,
            ) else {
                return false;
            };
            refunds = r;
        }
        // Over once both streams have passed its end.
        let (t, s) = (tenant.clone(), shop.to_owned());
        let _ = blocking(hub, move |hub| {
            hub.store().update_capture_state(&t, &s, |c| {
                if c.backfill
                    .is_some_and(|b| backfill_done(b, c.refunds_backfill))
                {
                    c.backfill = None;
                    c.refunds_backfill = None;
                }
            })
        })
        .await;
    }
    let stats = channel.stats();
    record_health(
        hub,
        tenant,
        shop,
        (&orders, &refunds),
        stats.rate_limited_until,
    )
    .await;
    for (stream, result) in [("orders", &orders), ("refunds", &refunds)] {
        if let Err(e) = result {
            tracing::warn!(shop, stream, error = %e, "capture poll failed; the cursor stays where it was");
        }
    }
    orders.is_ok() && refunds.is_ok()
}

/// What [`run_range`] walks: `[from, to]` of one stream, and what it moves after each window
/// (`None`: nothing durable, for a settle read, whose position the worker keeps).
struct Range {
    stream: Stream,
    from: i64,
    to: i64,
    moves: Option<Moves>,
}

/// The durable position a walk moves after each whole window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moves {
    /// The stream's cursor (a fresh read).
    Cursor,
    /// The backfill's position.
    Backfill,
}

/// How a range walk ended without an error.
enum Ran {
    Whole,
    /// Cancelled before a fetch; every page fetched before was applied.
    Cancelled,
}

/// `None` if the walk was cancelled, else its outcome.
fn whole(ran: Result<Ran, FetchError>) -> Option<Result<(), FetchError>> {
    match ran {
        Ok(Ran::Cancelled) => None,
        Ok(Ran::Whole) => Some(Ok(())),
        Err(e) => Some(Err(e)),
    }
}

/// Fetches and applies a range of one stream window by window, moving the durable cursor (or,
/// for a backfill, its position) after each window. Stops before a fetch once `token` is
/// cancelled (a fetch in flight is dropped; a page being applied is applied).
async fn run_range(
    hub: &Arc<Hub>,
    tenant: &TenantId,
    shop: &str,
    channel: &dyn Channel,
    range: Range,
    token: &CancellationToken,
) -> Result<Ran, FetchError> {
    let Range {
        stream,
        from,
        to,
        moves,
    } = range;
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
            let fetch = async {
                match stream {
                    Stream::Orders => channel.fetch_orders(&window, cursor.as_ref()).await,
                    Stream::Refunds => channel.fetch_refunds(&window, cursor.as_ref()).await,
                }
            };
            let page = tokio::select! {
                biased;
                () = token.cancelled() => return Ok(Ran::Cancelled),
                page = fetch => page?,
            };
            // Narrow the window to the newest `modified` seen (keyset paging) instead of
            // asking for page n+1: if an order of an earlier page is modified meanwhile, it leaves
            // the window and page numbers shift, which would skip a row. Narrowing cannot skip;
            // the rows of that second come again and are duplicates the store ignores. Never
            // past the window's end (`narrowed_from`). A channel that walks its pages back
            // (`PageCursor::Back`: Taobao) is followed as it is: that walk cannot skip either.
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
            let items = page.items;
            if !items.is_empty() {
                let (t, s) = (tenant.clone(), shop.to_owned());
                blocking(hub, move |hub| hub.ingest_shop_items(&t, &s, items))
                    .await
                    .map_err(|e| FetchError::Fatal(format!("cannot apply: {e}")))?;
            }
            let narrowed = newest.and_then(|m| narrowed_from((window.from.0, window.to.0), m));
            match (page.next, narrowed) {
                (None, _) => break,
                (Some(PageCursor::Page(_)), Some(from)) => {
                    window.from = UtcMillis(from);
                    cursor = None;
                }
                (Some(next), _) => cursor = Some(next),
            }
        }
        if let Some(moves) = moves {
            let (t, s) = (tenant.clone(), shop.to_owned());
            blocking(hub, move |hub| {
                hub.store()
                    .update_capture_state(&t, &s, |c: &mut CaptureState| {
                        let end = Some(UtcMillis(w_to));
                        match (stream, moves) {
                            (Stream::Orders, Moves::Backfill) => {
                                if let Some(b) = &mut c.backfill {
                                    b.1 = UtcMillis(w_to + 1);
                                }
                            }
                            (Stream::Refunds, Moves::Backfill) => {
                                if c.backfill.is_some() {
                                    c.refunds_backfill = Some(UtcMillis(w_to + 1));
                                }
                            }
                            (Stream::Orders, Moves::Cursor) => {
                                c.orders_cursor = c.orders_cursor.max(end)
                            }
                            (Stream::Refunds, Moves::Cursor) => {
                                c.refunds_cursor = c.refunds_cursor.max(end)
                            }
                        }
                    })
            })
            .await
            .map_err(|e| FetchError::Fatal(format!("cannot move the cursor: {e}")))?;
        }
        w_from = w_to + 1;
    }
    Ok(Ran::Whole)
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

/// Writes a poll's outcome into the shop's health: the orders' into the shop record (not its
/// `updated_at`: that would restart the worker), the refunds' into its capture state. An error
/// is kept as a short, sanitized reason.
async fn record_health(
    hub: &Arc<Hub>,
    tenant: &TenantId,
    shop: &str,
    (orders, refunds): (&Result<(), FetchError>, &Result<(), FetchError>),
    rate_limited_until: Option<UtcMillis>,
) {
    let (t, s) = (tenant.clone(), shop.to_owned());
    let outcome = |r: &Result<(), FetchError>| {
        r.as_ref()
            .err()
            .map(|e| reason::sanitize(&e.to_string(), reason::REASON_CHARS_MAX))
    };
    let (orders_error, refunds_error) = (outcome(orders), outcome(refunds));
    let expired = [orders, refunds]
        .iter()
        .any(|r| matches!(r, Err(FetchError::TokenExpired(_))));
    let result = blocking(hub, move |hub| {
        let now = now_ms();
        let lag = |cursor: Option<UtcMillis>| cursor.map(|c| (now.0 - c.0).max(0));
        let state = hub.store().update_capture_state(&t, &s, |c| {
            let lag = lag(c.refunds_cursor);
            note(&mut c.refunds_health, now, lag, refunds_error.as_deref());
            c.clone()
        })?;
        hub.store().change_shop::<StoreError>(&t, &s, |r| {
            let mut orders = StreamHealth {
                last_poll_ok_at: r.health.last_poll_ok_at,
                capture_lag_ms: r.health.capture_lag_ms,
                error_count: r.health.error_count,
                last_error: r.health.last_error.take(),
            };
            note(
                &mut orders,
                now,
                lag(state.orders_cursor),
                orders_error.as_deref(),
            );
            let h = &mut r.health;
            h.last_poll_ok_at = orders.last_poll_ok_at;
            h.capture_lag_ms = orders.capture_lag_ms;
            h.error_count = orders.error_count;
            h.last_error = orders.last_error;
            if expired {
                h.token_expires_at = Some(now);
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
