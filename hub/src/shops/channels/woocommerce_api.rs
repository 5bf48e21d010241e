//! WooCommerce wc/v3: `GET {base}/wp-json/wc/v3/orders` with HTTP Basic auth (consumer key and
//! secret), by modified time in GMT (`dates_are_gmt=true`), paged by `page` against
//! `X-WP-TotalPages`. Refunds come inside the orders, so there is no refund poll. Webhooks are
//! signed with base64 HMAC-SHA256 of the raw body.
//!
//! WooCommerce has no shipment or tracking field of its own: tracking is written back by
//! reading the order (`GET orders/{id}`) and updating it (`PUT orders/{id}`) with our parcels in
//! the order meta [`TRACKING_META_KEY`] (carrier, name, tracking number, lines) and, once every
//! line has a parcel, status `completed`. A parcel already in the meta is already shipped.

use super::carriers::PlatformCarrier;
use super::client::{
    BoxFuture, Channel, ChannelConfig, ChannelStats, FetchError, Page, PageCursor, WebhookRefusal,
    Window,
};
use super::http::{Http, Limiter, Reply};
use super::taobao_api::{next_page, page_number};
use super::webhook;
use super::wire::{bounds_seconds, capture_orders, envelope, gmt};
use super::writeback::{ShipmentWriteBack, WriteBackAnswer, numeric_id};
use reqwest::header::HeaderMap;
use serde_json::value::RawValue;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::time::Duration;
use xt_shared::order::Platform;

pub const TOTAL_PAGES_HEADER: &str = "x-wp-totalpages";
const PAGE_SIZE: usize = 100;
const WINDOW_MAX: Duration = Duration::from_secs(7 * 24 * 3600);
/// The order meta holding our parcels: a list of `{carrier, carrier_name, tracking_no, lines?}`.
pub const TRACKING_META_KEY: &str = "xt_tracking";
/// Parcels kept in one order's meta at most.
const PARCELS_MAX: usize = 100;
/// Order statuses that take no shipment.
const CLOSED_STATUSES: &[&str] = &["cancelled", "refunded", "failed", "trash", "checkout-draft"];

pub struct WooChannel {
    url: String,
    consumer_key: String,
    consumer_secret: String,
    webhook_secret: Option<String>,
    http: Http,
    orders: Limiter,
    shipments: Limiter,
}

impl WooChannel {
    pub(crate) fn new(
        base: &str,
        consumer_key: &str,
        consumer_secret: String,
        webhook_secret: Option<String>,
        config: ChannelConfig,
    ) -> Result<Self, FetchError> {
        let http = Http::new(Platform::Woocommerce, config)?;
        Ok(WooChannel {
            url: format!("{base}/wp-json/wc/v3/orders"),
            consumer_key: consumer_key.to_owned(),
            consumer_secret,
            webhook_secret,
            orders: http.limiter(),
            shipments: http.limiter(),
            http,
        })
    }
}

impl Channel for WooChannel {
    fn platform(&self) -> Platform {
        Platform::Woocommerce
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
            let (from, to) = bounds_seconds(w)?;
            let page = page_number(cursor)?;
            let query = [
                ("modified_after", gmt(from)?),
                ("modified_before", gmt(to)?),
                ("dates_are_gmt", "true".into()),
                ("orderby", "modified".into()),
                ("order", "asc".into()),
                ("page", page.to_string()),
                ("per_page", PAGE_SIZE.to_string()),
                ("status", "any".into()),
            ];
            let (raws, total_pages) = self
                .http
                .call(
                    &self.orders,
                    || {
                        Ok(self
                            .http
                            .client()
                            .get(&self.url)
                            .query(&query)
                            .basic_auth(&self.consumer_key, Some(&self.consumer_secret)))
                    },
                    read_orders,
                )
                .await?;
            // Without the header, a full page means there may be another.
            let more = match total_pages {
                Some(total) => u64::from(page) < total,
                None => raws.len() >= PAGE_SIZE,
            };
            Ok(Page {
                next: next_page(page, more, raws.is_empty()),
                items: capture_orders(Platform::Woocommerce, &raws),
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
            Platform::Woocommerce,
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
            let Some(id) = numeric_id(shipment.order_no()) else {
                return Ok(WriteBackAnswer::Permanent(format!(
                    "woocommerce order id {:?} is not a number",
                    shipment.order_no().as_str()
                )));
            };
            let url = format!("{}/{id}", self.url);
            let order = self
                .http
                .call(
                    &self.shipments,
                    || {
                        Ok(self
                            .http
                            .client()
                            .get(&url)
                            .basic_auth(&self.consumer_key, Some(&self.consumer_secret)))
                    },
                    read_order,
                )
                .await?;
            let body = match plan_update(&order, shipment, carrier) {
                Update::Done(answer) => return Ok(answer),
                Update::Put(body) => body,
            };
            self.http
                .call(
                    &self.shipments,
                    || {
                        Ok(self
                            .http
                            .client()
                            .put(&url)
                            .basic_auth(&self.consumer_key, Some(&self.consumer_secret))
                            .json(&body))
                    },
                    read_update,
                )
                .await
        })
    }

    fn stats(&self) -> ChannelStats {
        self.http.stats()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Update {
    /// Nothing to send: the answer is known.
    Done(WriteBackAnswer),
    /// The `PUT orders/{id}` body.
    Put(Value),
}

/// Decides the order update that adds `shipment`'s parcel: refused for a closed order or a line
/// the order lacks, already shipped when the meta holds the tracking number, else the meta with
/// the parcel added and, when every line now has a parcel, status `completed`.
pub(crate) fn plan_update(
    order: &Value,
    shipment: &ShipmentWriteBack,
    carrier: &PlatformCarrier,
) -> Update {
    let permanent = |why: String| Update::Done(WriteBackAnswer::Permanent(why));
    let no = shipment.order_no();
    let status = order["status"].as_str().unwrap_or("");
    if CLOSED_STATUSES.contains(&status) {
        return permanent(format!("woocommerce order {no} is {status}"));
    }
    let meta = order["meta_data"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let ours = meta.iter().find(|m| m["key"] == TRACKING_META_KEY);
    let mut parcels: Vec<Value> = ours
        .and_then(|m| m["value"].as_array())
        .cloned()
        .unwrap_or_default();
    if parcels
        .iter()
        .any(|p| p["tracking_no"] == shipment.tracking_no())
    {
        return Update::Done(WriteBackAnswer::AlreadyShipped);
    }
    if parcels.len() >= PARCELS_MAX {
        return permanent(format!(
            "woocommerce order {no} holds {PARCELS_MAX} parcels already"
        ));
    }
    let line_ids: HashSet<String> = order["line_items"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .filter_map(|l| match &l["id"] {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    let mut parcel = json!({
        "carrier": carrier.code,
        "carrier_name": carrier.name,
        "tracking_no": shipment.tracking_no(),
    });
    if let Some(lines) = shipment.lines() {
        if let Some(missing) = lines.iter().find(|l| !line_ids.contains(l.as_str())) {
            return permanent(format!("line {missing} is not in woocommerce order {no}"));
        }
        parcel["lines"] = lines.iter().map(|l| l.as_str()).collect();
    }
    parcels.push(parcel);
    let mut covered: HashSet<String> = HashSet::new();
    let mut whole = false;
    for p in &parcels {
        match p["lines"].as_array() {
            Some(lines) => {
                covered.extend(lines.iter().filter_map(|l| l.as_str().map(str::to_owned)))
            }
            None => whole = true,
        }
    }
    let complete = whole || line_ids.iter().all(|id| covered.contains(id));
    let mut entry = Map::new();
    if let Some(id) = ours.and_then(|m| m.get("id")).filter(|id| id.is_u64()) {
        entry.insert("id".into(), id.clone());
    }
    entry.insert("key".into(), TRACKING_META_KEY.into());
    entry.insert("value".into(), Value::Array(parcels));
    let mut body = json!({"meta_data": [entry]});
    if complete && status != "completed" {
        body["status"] = "completed".into();
    }
    Update::Put(body)
}

/// One order object (`GET` or `PUT orders/{id}`).
fn read_order(reply: &Reply) -> Result<Value, FetchError> {
    match envelope(Platform::Woocommerce, &reply.body)? {
        order @ Value::Object(_) => Ok(order),
        _ => Err(FetchError::Transient(
            "woocommerce response is not an order object".to_owned(),
        )),
    }
}

/// The answer to the order update (2xx; errors were classified by their status).
pub(crate) fn read_update(reply: &Reply) -> Result<WriteBackAnswer, FetchError> {
    read_order(reply).map(|_| WriteBackAnswer::Acknowledged)
}

fn read_orders(reply: &Reply) -> Result<(Vec<Box<RawValue>>, Option<u64>), FetchError> {
    let orders: Vec<Box<RawValue>> = envelope(Platform::Woocommerce, &reply.body)?;
    let total_pages = reply
        .headers
        .get(TOTAL_PAGES_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    Ok((orders, total_pages))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shops::channels::carriers::carrier_for;
    use crate::shops::channels::writeback::fixtures;

    #[test]
    fn shipment_requests_match_the_fixtures() {
        for case in fixtures::cases("woocommerce", "requests.json") {
            let shipment = fixtures::shipment(&case);
            let carrier = carrier_for(Platform::Woocommerce, shipment.carrier()).unwrap();
            let got = match plan_update(&case["order"], &shipment, &carrier) {
                Update::Put(body) => json!({"put": body}),
                Update::Done(answer) => json!({"answer": fixtures::written(&Ok(answer))}),
            };
            assert_eq!(got, case["expect"], "{}", case["name"]);
        }
    }

    #[test]
    fn shipment_answers_match_the_fixtures() {
        fixtures::check_answers("woocommerce", read_update);
    }
}
