//! `GET /api/v1/events`: Server-Sent Events of the changes the caller may see, one event per
//! hub change-log entry, its id the entry's key, resumable with `Last-Event-ID` (or `?after=`).

use crate::access::Permission;
use crate::api::Principal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiQuery, Auth};
use crate::routes::{AppState, blocking, require};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;
use utoipa::{IntoParams, ToSchema};

/// Most log entries the stream reads from the hub per call.
pub const EVENTS_PAGE_ENTRIES: usize = 256;
/// Most stock changes in one event; a larger log entry is cut and flagged `truncated`.
pub const EVENT_CHANGES_MAX: usize = 1000;
/// How often an idle stream looks for new entries when the hub cannot wake it up.
pub const EVENTS_POLL: Duration = Duration::from_millis(250);
/// How often an idle stream sends a keep-alive comment.
pub const EVENTS_KEEP_ALIVE: Duration = Duration::from_secs(15);

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
}

/// One event: the change-log key it came from and its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamEvent {
    pub id: u64,
    pub data: EventData,
}

/// What [`HubApi::events_after`](crate::HubApi::events_after) returns.
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
    after: u64,
    pending: VecDeque<StreamEvent>,
    wake: Option<tokio::sync::watch::Receiver<u64>>,
}

impl Cursor {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Cursor)> {
        loop {
            if let Some(ev) = self.pending.pop_front() {
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
                api.events_after(&principal, Some(after), EVENTS_PAGE_ENTRIES)
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
}

/// Streams the changes the caller may see as Server-Sent Events: `stock_changed` (a
/// warehouse-bound user gets only its warehouses' rows) and `agent_connected` /
/// `agent_disconnected`, each event's `id` a hub change-log key and its `data` a JSON
/// [`EventData`]. With `Last-Event-ID` (or `?after=`) the events after that id are replayed
/// first; then new ones follow as they happen. Idle streams get keep-alive comments.
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
    ),
)]
pub(crate) async fn events(
    State(state): State<AppState>,
    Auth(principal): Auth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    require(principal.allows(Permission::EventsRead))?;
    let wake = state.api.subscribe();
    let after = match start_after(&headers, &query)? {
        Some(after) => after,
        None => blocking(&state.api, |api| Ok(api.latest_event_id())).await?,
    };
    let cursor = Cursor {
        state,
        principal,
        after,
        pending: VecDeque::new(),
        wake,
    };
    let stream = stream::unfold(cursor, Cursor::next);
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(EVENTS_KEEP_ALIVE)))
}
