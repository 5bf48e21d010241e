//! Shopify Admin REST 2024-07: `GET {base}/admin/api/2024-07/orders.json` with the
//! `X-Shopify-Access-Token` header, by `updated_at` (RFC 3339, both bounds inclusive), paged by the
//! `page_info` of the `Link: rel="next"` header. Refunds come inside the orders, so there is no
//! refund poll. Webhooks are signed with base64 HMAC-SHA256 of the raw body.
//!
//! Tracking is written back as a fulfillment (reference §3.4, the fulfillment-order API): the
//! order's fulfillment orders are read first (`GET orders/{id}/fulfillment_orders.json`), then
//! `POST fulfillments.json` fulfils what is still open of them, with the tracking number and
//! company. Nothing left to fulfil means it already shipped; a refused POST is looked at again
//! the same way, since a retry after a lost answer finds its own fulfillment done.

use super::carriers::PlatformCarrier;
use super::client::{
    BoxFuture, Channel, ChannelConfig, ChannelStats, FetchError, Page, PageCursor, WebhookRefusal,
    Window,
};
use super::http::{Http, Limiter, Reply};
use super::webhook;
use super::wire::{bounds_seconds, capture_orders, envelope, rfc3339};
use super::writeback::{ShipmentWriteBack, WriteBackAnswer, numeric_id};
use reqwest::header::{HeaderMap, LINK};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::time::Duration;
use xt_shared::ids::DocNo;
use xt_shared::order::Platform;

pub const API_VERSION: &str = "2024-07";
pub const ACCESS_TOKEN_HEADER: &str = "x-shopify-access-token";
const PAGE_SIZE: &str = "250";
/// Shopify keeps no limit on the span; a week keeps one window's pages few.
const WINDOW_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct ShopifyChannel {
    url: String,
    /// `{base}/admin/api/{API_VERSION}`.
    api: String,
    access_token: String,
    webhook_secret: Option<String>,
    http: Http,
    orders: Limiter,
    shipments: Limiter,
}

impl ShopifyChannel {
    pub(crate) fn new(
        base: &str,
        access_token: String,
        webhook_secret: Option<String>,
        config: ChannelConfig,
    ) -> Result<Self, FetchError> {
        let http = Http::new(Platform::Shopify, config)?;
        Ok(ShopifyChannel {
            url: format!("{base}/admin/api/{API_VERSION}/orders.json"),
            api: format!("{base}/admin/api/{API_VERSION}"),
            access_token,
            webhook_secret,
            orders: http.limiter(),
            shipments: http.limiter(),
            http,
        })
    }
}

#[derive(Deserialize)]
struct Orders {
    orders: Vec<Box<RawValue>>,
}

impl Channel for ShopifyChannel {
    fn platform(&self) -> Platform {
        Platform::Shopify
    }

    fn max_window(&self) -> Duration {
        WINDOW_MAX
    }

    fn fetch_orders<'a>(
        &'a self,
        w: &'a Window,
        cursor: Option<&'a PageCursor>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(async move {
            // With page_info Shopify takes only `limit`: any other filter is a 400.
            let query: Vec<(&str, String)> = match cursor {
                None => {
                    let (from, to) = bounds_seconds(w)?;
                    vec![
                        ("status", "any".into()),
                        ("updated_at_min", rfc3339(from)?),
                        ("updated_at_max", rfc3339(to)?),
                        ("limit", PAGE_SIZE.into()),
                        ("order", "updated_at asc".into()),
                    ]
                }
                Some(PageCursor::PageInfo(info)) => {
                    vec![("limit", PAGE_SIZE.into()), ("page_info", info.clone())]
                }
                Some(other) => {
                    return Err(FetchError::Fatal(format!(
                        "cursor {other:?} is not a shopify page_info"
                    )));
                }
            };
            let (raws, next) = self
                .http
                .call(
                    &self.orders,
                    || {
                        Ok(self
                            .http
                            .client()
                            .get(&self.url)
                            .query(&query)
                            .header(ACCESS_TOKEN_HEADER, &self.access_token))
                    },
                    read_orders,
                )
                .await?;
            Ok(Page {
                next: if raws.is_empty() { None } else { next },
                items: capture_orders(Platform::Shopify, &raws),
            })
        })
    }

    fn fetch_refunds<'a>(
        &'a self,
        _: &'a Window,
        _: Option<&'a PageCursor>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(async { Ok(Page::empty()) })
    }

    fn verify_webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookRefusal> {
        webhook::verify(
            Platform::Shopify,
            self.webhook_secret.as_deref(),
            headers,
            body,
        )
    }

    fn send_shipment<'a>(
        &'a self,
        shipment: &'a ShipmentWriteBack,
        carrier: &'a PlatformCarrier,
    ) -> BoxFuture<'a, Result<WriteBackAnswer, FetchError>> {
        Box::pin(async move {
            let Some(order_id) = numeric_id(shipment.order_no()) else {
                return Ok(WriteBackAnswer::Permanent(format!(
                    "shopify order id {:?} is not a number",
                    shipment.order_no().as_str()
                )));
            };
            let open = self.fulfillment_orders(order_id).await?;
            let groups = match plan_fulfillment(&open, shipment.lines()) {
                Fulfil::Done(answer) => return Ok(answer),
                Fulfil::Send(groups) => groups,
            };
            let body = fulfillment_body(&groups, shipment, carrier);
            let url = format!("{}/fulfillments.json", self.api);
            let sent = self
                .http
                .call(
                    &self.shipments,
                    || {
                        Ok(self
                            .http
                            .client()
                            .post(&url)
                            .header(ACCESS_TOKEN_HEADER, &self.access_token)
                            .json(&body))
                    },
                    read_fulfillment,
                )
                .await;
            match sent {
                // Refused: our own earlier attempt may have gone through unanswered, or someone
                // fulfilled the order meanwhile. Look again before calling it a failure.
                Err(refused @ FetchError::Fatal(_)) => {
                    let now = self.fulfillment_orders(order_id).await?;
                    match plan_fulfillment(&now, shipment.lines()) {
                        Fulfil::Done(WriteBackAnswer::AlreadyShipped) => {
                            Ok(WriteBackAnswer::AlreadyShipped)
                        }
                        _ => Err(refused),
                    }
                }
                other => other,
            }
        })
    }

    fn stats(&self) -> ChannelStats {
        self.http.stats()
    }
}

impl ShopifyChannel {
    async fn fulfillment_orders(&self, order_id: u64) -> Result<Vec<FulfillmentOrder>, FetchError> {
        let url = format!("{}/orders/{order_id}/fulfillment_orders.json", self.api);
        self.http
            .call(
                &self.shipments,
                || {
                    Ok(self
                        .http
                        .client()
                        .get(&url)
                        .header(ACCESS_TOKEN_HEADER, &self.access_token))
                },
                read_fulfillment_orders,
            )
            .await
    }
}

#[derive(Debug, Clone, Deserialize)]
struct FulfillmentOrders {
    fulfillment_orders: Vec<FulfillmentOrder>,
}

/// One fulfillment order: the part of an order one location fulfils.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct FulfillmentOrder {
    id: u64,
    status: String,
    #[serde(default)]
    line_items: Vec<FulfillmentOrderLine>,
}

#[derive(Debug, Clone, Deserialize)]
struct FulfillmentOrderLine {
    id: u64,
    line_item_id: u64,
    fulfillable_quantity: u64,
}

/// Fulfillment order statuses: which can take a fulfillment now, which are done, which wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FoState {
    Open,
    Done,
    Cancelled,
    Held,
}

const FO_STATES: &[(&str, FoState)] = &[
    ("open", FoState::Open),
    ("in_progress", FoState::Open),
    ("closed", FoState::Done),
    ("cancelled", FoState::Cancelled),
    ("on_hold", FoState::Held),
    ("scheduled", FoState::Held),
    ("incomplete", FoState::Held),
];

/// What to fulfil of one fulfillment order: all of it (`None`), or `(line id, quantity)`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoGroup {
    fulfillment_order_id: u64,
    lines: Option<Vec<(u64, u64)>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fulfil {
    /// Nothing to send: the answer is known.
    Done(WriteBackAnswer),
    Send(Vec<FoGroup>),
}

/// Decides what to fulfil of the order's fulfillment orders: everything still fulfillable
/// (`lines` `None`), or the fulfillable quantity of each named line item. Lines already
/// fulfilled are skipped; nothing left means already shipped; a fulfillment order on hold
/// waits (retryable); a line not in the order, or only in cancelled ones, is refused.
pub(crate) fn plan_fulfillment(fos: &[FulfillmentOrder], lines: Option<&[DocNo]>) -> Fulfil {
    let mut states = Vec::with_capacity(fos.len());
    for fo in fos {
        match super::lookup(FO_STATES, &fo.status) {
            Some(state) => states.push(state),
            None => {
                return Fulfil::Done(WriteBackAnswer::Permanent(format!(
                    "shopify fulfillment order {} has unknown status {:?}",
                    fo.id, fo.status
                )));
            }
        }
    }
    let fulfillable =
        |fo: &FulfillmentOrder| fo.line_items.iter().any(|l| l.fulfillable_quantity > 0);
    let held = |what: String| {
        Fulfil::Done(WriteBackAnswer::Retryable {
            reason: what,
            retry_after: None,
        })
    };
    let Some(lines) = lines else {
        let mut groups = Vec::new();
        for (fo, state) in fos.iter().zip(&states) {
            match state {
                FoState::Held if fulfillable(fo) => {
                    return held(format!(
                        "shopify fulfillment order {} is {}",
                        fo.id, fo.status
                    ));
                }
                FoState::Open if fulfillable(fo) => groups.push(FoGroup {
                    fulfillment_order_id: fo.id,
                    lines: None,
                }),
                _ => {}
            }
        }
        if !groups.is_empty() {
            return Fulfil::Send(groups);
        }
        let any_done = states
            .iter()
            .any(|s| matches!(s, FoState::Done | FoState::Open));
        return Fulfil::Done(if any_done {
            WriteBackAnswer::AlreadyShipped
        } else {
            WriteBackAnswer::Permanent(
                "shopify order has no fulfillment order left to fulfil (cancelled)".to_owned(),
            )
        });
    };
    let mut groups: Vec<FoGroup> = Vec::new();
    for line in lines {
        let mut found = false;
        let mut cancelled = true;
        for (fo, state) in fos.iter().zip(&states) {
            for item in fo
                .line_items
                .iter()
                .filter(|i| i.line_item_id.to_string() == line.as_str())
            {
                found = true;
                cancelled &= *state == FoState::Cancelled;
                if item.fulfillable_quantity == 0 {
                    continue;
                }
                match state {
                    FoState::Held => {
                        return held(format!(
                            "shopify fulfillment order {} of line {line} is {}",
                            fo.id, fo.status
                        ));
                    }
                    FoState::Open => {
                        let pair = (item.id, item.fulfillable_quantity);
                        match groups.iter_mut().find(|g| g.fulfillment_order_id == fo.id) {
                            Some(g) => g.lines.get_or_insert_with(Vec::new).push(pair),
                            None => groups.push(FoGroup {
                                fulfillment_order_id: fo.id,
                                lines: Some(vec![pair]),
                            }),
                        }
                    }
                    FoState::Done | FoState::Cancelled => {}
                }
            }
        }
        if !found {
            return Fulfil::Done(WriteBackAnswer::Permanent(format!(
                "line {line} is not in the shopify order's fulfillment orders"
            )));
        }
        if cancelled {
            return Fulfil::Done(WriteBackAnswer::Permanent(format!(
                "line {line} is only in cancelled shopify fulfillment orders"
            )));
        }
    }
    if groups.is_empty() {
        Fulfil::Done(WriteBackAnswer::AlreadyShipped)
    } else {
        Fulfil::Send(groups)
    }
}

/// The `POST fulfillments.json` body: the groups, the tracking number and company, and no
/// e-mail to the buyer from Shopify (the merchant's own notification settings stay in charge).
pub(crate) fn fulfillment_body(
    groups: &[FoGroup],
    shipment: &ShipmentWriteBack,
    carrier: &PlatformCarrier,
) -> Value {
    let by_order: Vec<Value> = groups
        .iter()
        .map(|g| {
            let mut v = json!({"fulfillment_order_id": g.fulfillment_order_id});
            if let Some(lines) = &g.lines {
                v["fulfillment_order_line_items"] = lines
                    .iter()
                    .map(|(id, quantity)| json!({"id": id, "quantity": quantity}))
                    .collect();
            }
            v
        })
        .collect();
    json!({"fulfillment": {
        "line_items_by_fulfillment_order": by_order,
        "tracking_info": {"number": shipment.tracking_no(), "company": carrier.code},
        "notify_customer": false,
    }})
}

fn read_fulfillment_orders(reply: &Reply) -> Result<Vec<FulfillmentOrder>, FetchError> {
    let list: FulfillmentOrders = envelope(Platform::Shopify, &reply.body)?;
    Ok(list.fulfillment_orders)
}

#[derive(Deserialize)]
struct Created {
    fulfillment: CreatedFulfillment,
}

#[derive(Deserialize)]
struct CreatedFulfillment {
    id: u64,
}

/// The answer to `POST fulfillments.json` (2xx; errors were classified by their status): the
/// fulfillment created, with its id.
pub(crate) fn read_fulfillment(reply: &Reply) -> Result<WriteBackAnswer, FetchError> {
    let created: Created = envelope(Platform::Shopify, &reply.body)?;
    tracing::debug!(
        fulfillment = created.fulfillment.id,
        "shopify fulfillment created"
    );
    Ok(WriteBackAnswer::Acknowledged)
}

fn read_orders(reply: &Reply) -> Result<(Vec<Box<RawValue>>, Option<PageCursor>), FetchError> {
    let orders: Orders = envelope(Platform::Shopify, &reply.body)?;
    let next = reply
        .headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(next_page_info)
        .map(PageCursor::PageInfo);
    Ok((orders.orders, next))
}

/// The `page_info` of the `rel="next"` link in a `Link` header value, e.g.
/// `<https://x/orders.json?limit=250&page_info=abc>; rel="previous", <…&page_info=def>; rel="next"`.
/// Only the cursor is taken: the next request goes to the shop's own base URL, never to a host the
/// header names.
pub(crate) fn next_page_info(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        if !is_next {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let url = url::Url::parse(target).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "page_info")
            .map(|(_, v)| v.into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shops::channels::carriers::carrier_for;
    use crate::shops::channels::writeback::fixtures;

    #[test]
    fn shipment_requests_match_the_fixtures() {
        for case in fixtures::cases("shopify", "requests.json") {
            let shipment = fixtures::shipment(&case);
            let carrier = carrier_for(Platform::Shopify, shipment.carrier()).unwrap();
            let fos: FulfillmentOrders =
                serde_json::from_value(case["fulfillment_orders"].clone()).unwrap();
            let got = match plan_fulfillment(&fos.fulfillment_orders, shipment.lines()) {
                Fulfil::Send(groups) => {
                    json!({"post": fulfillment_body(&groups, &shipment, &carrier)})
                }
                Fulfil::Done(answer) => json!({"answer": fixtures::written(&Ok(answer))}),
            };
            assert_eq!(got, case["expect"], "{}", case["name"]);
        }
    }

    #[test]
    fn shipment_answers_match_the_fixtures() {
        fixtures::check_answers("shopify", read_fulfillment);
    }

    #[test]
    fn link_header_next_page_info() {
        let both = "<http://127.0.0.1:1/s/admin/api/2024-07/orders.json?limit=250&page_info=prev1>; rel=\"previous\", <http://127.0.0.1:1/s/admin/api/2024-07/orders.json?limit=250&page_info=next%2B2>; rel=\"next\"";
        assert_eq!(next_page_info(both).as_deref(), Some("next+2"));
        let prev_only = "<http://127.0.0.1:1/admin/api/2024-07/orders.json?limit=250&page_info=p>; rel=\"previous\"";
        assert_eq!(next_page_info(prev_only), None);
        assert_eq!(next_page_info("garbage"), None);
    }
}
