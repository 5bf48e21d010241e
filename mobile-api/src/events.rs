//! `GET /api/v1/events`: Server-Sent Events of the changes the caller may see, one event per
//! hub change-log entry, its id the entry's key, resumable with `Last-Event-ID` (or `?after=`).

use crate::access::Permission;
use crate::api::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, Auth, Bearer, authenticate_bearer, bearer_secret};
use crate::routes::{AppState, blocking, require};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use utoipa::{IntoParams, ToSchema};
use xt_shared::ids::TenantId;

/// Most log entries the stream reads from the hub per call.
pub const EVENTS_PAGE_ENTRIES: usize = 256;
/// Most stock changes in one event; a larger log entry is cut and flagged `truncated`.
pub const EVENT_CHANGES_MAX: usize = 1000;
/// How often an idle stream looks for new entries when the hub cannot wake it up.
pub const EVENTS_POLL: Duration = Duration::from_millis(250);
/// How often an idle stream sends a keep-alive comment.
pub const EVENTS_KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a stream asks the hub again who its credential is (and before the next event
/// after that long): a revoked key, a disabled user or a changed role takes effect within this
/// (plus one [`EVENTS_POLL`]), well under 5 s.
pub const EVENTS_REAUTH_INTERVAL: Duration = Duration::from_secs(2);
/// Most event streams open at once for one tenant, by default.
pub const EVENT_STREAMS_PER_TENANT_MAX: usize = 64;
/// Most event streams open at once on the hub, by default.
pub const EVENT_STREAMS_MAX: usize = 1024;
/// The `Retry-After` of a stream refused because the caps are reached, in seconds.
pub const EVENT_STREAMS_RETRY_AFTER_SECS: u64 = 5;

/// How many event streams may be open at once ([`RouterOptions::event_streams`](crate::RouterOptions)).
/// Over either cap, `GET /api/v1/events` answers 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventStreamLimits {
    /// Most streams of one tenant.
    pub per_tenant_max: usize,
    /// Most streams of all tenants together.
    pub hub_max: usize,
}

impl Default for EventStreamLimits {
    fn default() -> EventStreamLimits {
        EventStreamLimits {
            per_tenant_max: EVENT_STREAMS_PER_TENANT_MAX,
            hub_max: EVENT_STREAMS_MAX,
        }
    }
}

/// The open streams per tenant and in all.
#[derive(Debug)]
pub(crate) struct StreamSlots {
    limits: EventStreamLimits,
    open: Mutex<SlotCounts>,
}

#[derive(Debug, Default)]
struct SlotCounts {
    total: usize,
    per_tenant: HashMap<TenantId, usize>,
}

impl StreamSlots {
    pub(crate) fn new(limits: EventStreamLimits) -> StreamSlots {
        StreamSlots {
            limits,
            open: Mutex::new(SlotCounts::default()),
        }
    }

    /// Takes a slot for a stream of `tenant`, freed when the [`StreamSlot`] drops (with the
    /// stream, when the client goes away); `TooManyRequests` if a cap is reached.
    fn acquire(self: &Arc<Self>, tenant: &TenantId) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let of_tenant = open.per_tenant.get(tenant).copied().unwrap_or(0);
        if open.total >= self.limits.hub_max || of_tenant >= self.limits.per_tenant_max {
            tracing::warn!(%tenant, of_tenant, total = open.total, "event stream refused: too many open");
            return Err(ApiError::TooManyRequests {
                retry_after_secs: EVENT_STREAMS_RETRY_AFTER_SECS,
            });
        }
        open.total += 1;
        *open.per_tenant.entry(tenant.clone()).or_default() += 1;
        Ok(StreamSlot {
            slots: Arc::clone(self),
            tenant: tenant.clone(),
        })
    }
}

/// One open stream's place in [`StreamSlots`].
struct StreamSlot {
    slots: Arc<StreamSlots>,
    tenant: TenantId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap_or_else(|e| e.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_tenant.get_mut(&self.tenant) {
            *n -= 1;
            if *n == 0 {
                open.per_tenant.remove(&self.tenant);
            }
        }
    }
}

/// `GET /api/v1/events` query.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Replay events with ids greater than this one first (like `Last-Event-ID`, which wins
    /// when both are given). Without either, the stream starts at the current end.
    pub after: Option<u64>,
}

/// One stock row as an event carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StockChangeView {
    pub warehouse: String,
    pub sku: String,
    pub on_hand: i64,
    pub version: i64,
}

/// The JSON data of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventData {
    /// Stock levels an agent's source changed, in the order they were applied.
    StockChanged {
        agent: String,
        source: String,
        /// At most [`EVENT_CHANGES_MAX`] rows.
        changes: Vec<StockChangeView>,
        /// Whether rows were left out (`total` says how many there were).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
        /// How many rows the caller may see in this log entry.
        total: usize,
    },
    AgentConnected {
        agent: String,
        site: String,
    },
    AgentDisconnected {
        agent: String,
        site: String,
    },
    /// Orders of a shop were captured or changed (the orders themselves, or their refunds).
    /// Needs `orders:read`.
    OrdersChanged {
        shop: String,
        /// Ids as `GET /api/v1/orders` lists them (`{shop}:{order no}`), each once, at most
        /// [`EVENT_CHANGES_MAX`].
        orders: Vec<String>,
        /// Whether ids were left out (`total` says how many orders changed).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        truncated: bool,
        total: usize,
    },
    /// A shop sent something the hub could not read; it is kept with its reason among the
    /// shop's capture errors. Needs `orders:read`.
    CaptureError {
        shop: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        order_no: Option<String>,
        reason: String,
    },
    /// The stream resumed from a position the hub no longer keeps (its change log is trimmed
    /// by age and count): the events up to this one's id are gone, so whatever the client
    /// built from them must be loaded again. The stream goes on after it.
    Reset {
        /// The position the log is trimmed through (this event's id): the events that follow
        /// start after it.
        from: u64,
    },
}

/// One event: the change-log key it came from and its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEvent {
    pub id: u64,
    pub data: EventData,
}

/// What [`EventsApi::events_after`](crate::EventsApi::events_after) returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    /// The events the caller may see, in id order.
    pub events: Vec<StreamEvent>,
    /// The last log key scanned (filtered-out entries included): the next page starts after it.
    /// Equal to the `after` asked for when nothing was scanned.
    pub last_key: u64,
}

/// Where the stream starts: `Last-Event-ID`, else `?after=`, else `None` (the current end).
fn start_after(headers: &HeaderMap, query: &EventsQuery) -> Result<Option<u64>, ApiError> {
    match headers.get("last-event-id") {
        Some(v) => {
            let text = v.to_str().unwrap_or("").trim();
            if text.is_empty() {
                return Ok(query.after);
            }
            text.parse().map(Some).map_err(|_| {
                ApiError::BadRequest("last-event-id must be an event id (an integer)".into())
            })
        }
        None => Ok(query.after),
    }
}

struct Cursor {
    state: AppState,
    principal: Principal,
    /// The credential the stream was opened with, asked about again every
    /// [`EVENTS_REAUTH_INTERVAL`].
    credential: Bearer,
    checked_at: Instant,
    /// An access token's `exp` (Unix seconds): the stream ends then, re-check or not.
    expires_at: Option<i64>,
    after: u64,
    /// Every event the caller may see up to this key has been sent: where to read again from
    /// when the principal changes (what `pending` holds was filtered for the old one).
    delivered: u64,
    pending: VecDeque<StreamEvent>,
    wake: Option<tokio::sync::watch::Receiver<u64>>,
    _slot: StreamSlot,
}

impl Cursor {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Cursor)> {
        loop {
            if !self.still_allowed().await {
                return None;
            }
            if let Some(ev) = self.pending.pop_front() {
                self.delivered = ev.id;
                let event = Event::default()
                    .id(ev.id.to_string())
                    .json_data(&ev.data)
                    .unwrap_or_else(|_| Event::default().comment("unencodable event"));
                return Some((Ok(event), self));
            }
            if let Some(rx) = self.wake.as_mut() {
                // Seen now, so a change from here on wakes the wait below.
                rx.borrow_and_update();
            }
            let principal = self.principal.clone();
            let after = self.after;
            let page = blocking(&self.state.api, move |api| {
                api.events
                    .events_after(&principal, Some(after), EVENTS_PAGE_ENTRIES)
            })
            .await;
            let page = match page {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "event stream ends");
                    return None;
                }
            };
            let progressed = page.last_key > self.after;
            self.after = self.after.max(page.last_key);
            self.pending.extend(page.events);
            if self.pending.is_empty() {
                self.delivered = self.after;
            }
            if !self.pending.is_empty() || progressed {
                continue;
            }
            match self.wake.as_mut() {
                Some(rx) => {
                    tokio::select! {
                        changed = rx.changed() => if changed.is_err() { self.wake = None },
                        () = tokio::time::sleep(EVENTS_POLL) => {}
                    }
                }
                None => tokio::time::sleep(EVENTS_POLL).await,
            }
        }
    }

    /// Whether the stream may go on: its access token has not expired and, when the last check
    /// is [`EVENTS_REAUTH_INTERVAL`] old, the credential still authenticates with `events:read`.
    /// A changed principal replaces the old one, and what was read for the old one is read again.
    async fn still_allowed(&mut self) -> bool {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if self.expires_at.is_some_and(|exp| now >= exp) {
            tracing::info!(subject = %self.principal.subject, "event stream ends: access token expired");
            return false;
        }
        if self.checked_at.elapsed() < EVENTS_REAUTH_INTERVAL {
            return true;
        }
        let fresh = match authenticate_bearer(&self.state, self.credential.clone()).await {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::warn!(error = %e, "event stream ends: its credential cannot be checked");
                return false;
            }
        };
        self.checked_at = Instant::now();
        let Some(fresh) =
            fresh.filter(|p| p.tenant == self.principal.tenant && p.allows(Permission::EventsRead))
        else {
            tracing::info!(subject = %self.principal.subject, "event stream ends: credential revoked or no longer allowed");
            return false;
        };
        if fresh != self.principal {
            tracing::info!(subject = %fresh.subject, "event stream follows the credential's new permissions");
            self.principal = fresh;
            self.pending.clear();
            self.after = self.delivered;
        }
        true
    }
}

/// Streams the changes the caller may see as Server-Sent Events: `stock_changed` (a
/// warehouse-bound user gets only its warehouses' rows) and `agent_connected` /
/// `agent_disconnected`, each event's `id` a hub change-log key and its `data` a JSON
/// [`EventData`]. With `Last-Event-ID` (or `?after=`) the events after that id are replayed
/// first; then new ones follow as they happen. Idle streams get keep-alive comments.
///
/// The stream re-checks its credential every few seconds: it ends when the API key is revoked,
/// the user disabled or the access token expired, and narrows when the user's roles change.
/// Open streams are capped per tenant and hub-wide (429 with `Retry-After` over the cap).
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "events",
    params(
        EventsQuery,
        ("Last-Event-ID" = Option<u64>, Header, description = "Resume after this event id"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "An endless `text/event-stream`; each event's data is an EventData",
            body = EventData, content_type = "text/event-stream"),
        (status = 400, description = "Malformed or out-of-range request (the message says which field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 429, description = "Too many event streams open for the tenant or the hub (`Retry-After`)", body = ErrorBody),
    ),
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    require(principal.allows(Permission::EventsRead))?;
    // `Auth` has just authenticated this very header.
    let credential = bearer_secret(&headers).ok_or(ApiError::Unauthorized)?;
    let slot = state.event_streams.acquire(&principal.tenant)?;
    let wake = state.api.events.subscribe();
    let after = match start_after(&headers, &query)? {
        Some(after) => after,
        None => {
            let principal = principal.clone();
            blocking(&state.api, move |api| {
                api.events.latest_event_id(&principal)
            })
            .await?
        }
    };
    let cursor = Cursor {
        state,
        principal,
        expires_at: credential.expires_at(),
        credential,
        checked_at: Instant::now(),
        after,
        delivered: after,
        pending: VecDeque::new(),
        wake,
        _slot: slot,
    };
    let stream = stream::unfold(cursor, Cursor::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(EVENTS_KEEP_ALIVE)))
}

/// The change log as a live, resumable stream. Each route and its OpenAPI path come from the handler's `#[utoipa::path]`.
pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<crate::routes::AppState> {
    utoipa_axum::router::OpenApiRouter::new().routes(utoipa_axum::routes!(events))
}
