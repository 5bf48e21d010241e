//! The events room's side of the HTTP API: [`EventsService`] implements
//! [`EventsApi`](xt_mobile_api::EventsApi).

use crate::api::internal;
use crate::hub::Hub;
use crate::store::{LogEntry, StoreError};
use std::sync::Arc;
use xt_mobile_api::EventsApi;
use xt_mobile_api::events::EVENT_CHANGES_MAX;
use xt_mobile_api::{ApiError, Permission, Principal};
use xt_mobile_api::{EventData, EventPage, StockChangeView, StreamEvent};
use xt_shared::change::{Body, Origin};

/// The events room's service: pages of a tenant's change log as events, and the wake-up.
pub struct EventsService {
    hub: Arc<Hub>,
}

impl EventsService {
    pub fn new(hub: Arc<Hub>) -> EventsService {
        EventsService { hub }
    }
}

impl EventsApi for EventsService {
    fn events_after(
        &self,
        principal: &Principal,
        after: Option<u64>,
        limit: usize,
    ) -> Result<EventPage, ApiError> {
        let after = after.unwrap_or(0);
        let page = self
            .hub
            .store()
            .tenant_log_page(&principal.tenant, after, limit)
            .map_err(internal)?;
        let mut last_key = after;
        let mut events = Vec::with_capacity(page.entries.len() + 1);
        if let Some(from) = page.reset {
            events.push(StreamEvent {
                id: from,
                data: EventData::Reset { from },
            });
            last_key = from;
        }
        for (id, entry) in page.entries {
            last_key = id;
            if let Some(data) = visible_event(principal, entry).map_err(internal)? {
                events.push(StreamEvent { id, data });
            }
        }
        Ok(EventPage { events, last_key })
    }

    fn latest_event_id(&self, principal: &Principal) -> Result<u64, ApiError> {
        self.hub
            .store()
            .last_log_position(&principal.tenant)
            .map_err(internal)
    }

    fn subscribe(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.hub.subscribe_log())
    }
}

/// What of a change-log entry `principal` may see, as event data: its tenant's only, agent
/// events with `agents:read` only, stock rows of its warehouses only (at most
/// [`EVENT_CHANGES_MAX`] of them), orders and capture errors with `orders:read` only; `None` if
/// nothing is left.
fn visible_event(principal: &Principal, entry: LogEntry) -> Result<Option<EventData>, StoreError> {
    if entry.tenant() != &principal.tenant {
        return Ok(None);
    }
    Ok(match entry {
        // The same rule as `GET /api/v1/agents`.
        LogEntry::Agent(_) if !principal.allows(Permission::AgentsRead) => None,
        LogEntry::Agent(a) => {
            let (agent, site) = (a.agent.to_string(), a.site.to_string());
            Some(if a.connected {
                EventData::AgentConnected { agent, site }
            } else {
                EventData::AgentDisconnected { agent, site }
            })
        }
        // Command answers are the fulfilment room's input; its transitions are what people see.
        LogEntry::Command(_) => None,
        LogEntry::Fulfilment(_) if !principal.allows(Permission::OrdersRead) => None,
        LogEntry::Fulfilment(f) => Some(EventData::OrdersChanged {
            orders: vec![format!("{}:{}", f.shop, f.order_no)],
            shop: f.shop,
            truncated: false,
            total: 1,
        }),
        LogEntry::CaptureError(_) if !principal.allows(Permission::OrdersRead) => None,
        LogEntry::CaptureError(e) => Some(EventData::CaptureError {
            shop: e.shop,
            order_no: e.order_no,
            reason: e.reason,
        }),
        LogEntry::Batch(batch) if batch.from_shop() => {
            if !principal.allows(Permission::OrdersRead) {
                return Ok(None);
            }
            let (Origin::Shop { shop }, changes) = batch.into_model()? else {
                return Ok(None);
            };
            let mut ids = std::collections::BTreeSet::new();
            for c in changes {
                let no = match c.body {
                    Body::PlatformOrder { order, .. } => order.platform_order_no,
                    Body::PlatformRefund { refund, .. } => refund.platform_order_no,
                    _ => continue,
                };
                ids.insert(format!("{shop}:{no}"));
            }
            let total = ids.len();
            if total == 0 {
                return Ok(None);
            }
            let orders: Vec<String> = ids.into_iter().take(EVENT_CHANGES_MAX).collect();
            Some(EventData::OrdersChanged {
                shop: shop.to_string(),
                truncated: total > orders.len(),
                orders,
                total,
            })
        }
        LogEntry::Batch(batch) => {
            let scope = principal.stock_scope();
            let (origin, changes) = batch.into_model()?;
            let rows = changes.into_iter().filter_map(|c| match c.body {
                Body::Stock(s) if scope.is_none_or(|allowed| allowed.contains(&s.warehouse)) => {
                    Some(StockChangeView {
                        warehouse: s.warehouse.to_string(),
                        sku: s.sku.to_string(),
                        on_hand: s.on_hand,
                        version: c.version,
                    })
                }
                _ => None,
            });
            let mut changes = Vec::new();
            let mut total = 0;
            for row in rows {
                total += 1;
                if changes.len() < EVENT_CHANGES_MAX {
                    changes.push(row);
                }
            }
            if total == 0 {
                return Ok(None);
            }
            // Only agents write stock; a shop's batch holds orders and refunds.
            let Origin::Agent { agent, source } = origin else {
                return Ok(None);
            };
            Some(EventData::StockChanged {
                agent: agent.to_string(),
                source: source.to_string(),
                truncated: total > changes.len(),
                changes,
                total,
            })
        }
    })
}
