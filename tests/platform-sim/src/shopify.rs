//! Shopify Admin REST 2024-07: `GET {base}/admin/api/2024-07/orders.json` with the access token
//! header, cursor pages through the `Link` header, refunds inside the orders.

use crate::ShopSpec;
use crate::clock::{parse_rfc3339, shopify as ts};
use crate::faults::RequestFault;
use crate::model::{Malformation, Refund, SimOrder, Stage};
use crate::server::slow;
use crate::state::{Sim, money, page_order};
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::OffsetDateTime;

pub(crate) const API_VERSION: &str = "2024-07";
const LIMIT_MAX: usize = 250;
const LIMIT_DEFAULT: usize = 50;
pub(crate) const CURRENCY: &str = "USD";

fn financial_status(order: &SimOrder) -> &'static str {
    match order.stage {
        Stage::Pending if order.flavor % 3 == 2 => "partially_paid",
        Stage::Pending => "pending",
        Stage::Processing => "authorized",
        Stage::Cancelled if order.flavor == 3 => "expired",
        Stage::Cancelled | Stage::Failed | Stage::Deleted => "voided",
        Stage::Refunded => "refunded",
        _ if order.refunded() > 0 => "partially_refunded",
        _ => "paid",
    }
}

fn fulfillment_status(order: &SimOrder) -> Option<&'static str> {
    match order.stage {
        Stage::Cancelled if order.flavor == 1 => Some("restocked"),
        _ if order.lines.iter().all(|l| l.shipped) => Some("fulfilled"),
        _ if order.lines.iter().any(|l| l.shipped) => Some("partial"),
        _ => None,
    }
}

fn gateway(order: &SimOrder) -> &'static str {
    if order.cod {
        "Cash on Delivery (COD)"
    } else {
        "shopify_payments"
    }
}

pub(crate) fn render(order: &SimOrder) -> Value {
    let p = &order.person;
    let lines: Vec<Value> = order
        .lines
        .iter()
        .map(|l| {
            json!({
                "id": l.id,
                "variant_id": l.sku_id,
                "product_id": l.item_id,
                "sku": l.sku,
                "title": l.title,
                "name": l.title,
                "quantity": l.qty,
                "price": money(l.price),
                "total_discount": money(l.discount),
                "fulfillment_status": if l.shipped { Some("fulfilled") } else { None },
                "requires_shipping": true,
                "taxable": true,
                "fulfillment_service": "manual",
            })
        })
        .collect();
    let shipping_lines: Vec<Value> = if order.freight > 0 {
        vec![
            json!({"id": order.id + 7, "title": "Standard", "code": "STANDARD", "price": money(order.freight)}),
        ]
    } else {
        Vec::new()
    };
    let cancelled = order.stage == Stage::Cancelled;
    let closed = order.stage == Stage::Completed;
    let refunds: Vec<Value> = order
        .refunds
        .iter()
        .filter(|r| r.stage == crate::model::RefundStage::Success)
        .map(|r| render_refund(order, r))
        .collect();
    let mut o = json!({
        "id": order.id,
        "admin_graphql_api_id": format!("gid://shopify/Order/{}", order.id),
        "name": format!("#{}", order.number),
        "order_number": order.number,
        "number": order.number - 1000,
        "email": p.email,
        "created_at": ts(order.created),
        "updated_at": ts(order.modified),
        "processed_at": ts(order.paid_at.unwrap_or(order.created)),
        "cancelled_at": cancelled.then(|| ts(order.modified)),
        "cancel_reason": cancelled.then_some("customer"),
        "closed_at": closed.then(|| ts(order.modified)),
        "currency": CURRENCY,
        "presentment_currency": CURRENCY,
        "total_price": money(order.paid()),
        "subtotal_price": money(order.goods() - order.discount()),
        "total_line_items_price": money(order.goods()),
        "total_tax": "0.00",
        "total_discounts": money(order.discount()),
        "taxes_included": false,
        "financial_status": financial_status(order),
        "fulfillment_status": fulfillment_status(order),
        "gateway": gateway(order),
        "payment_gateway_names": [gateway(order)],
        "source_name": "web",
        "test": false,
        "confirmed": true,
        "note": order.memo,
        "tags": "",
        "customer": {"id": 6_000_000_000 + p.customer_id, "email": p.email},
        "shipping_lines": shipping_lines,
        "shipping_address": {
            "first_name": p.first,
            "last_name": p.last,
            "name": p.name,
            "address1": p.address,
            "address2": null,
            "city": p.city,
            "province_code": p.province,
            "province": p.province,
            "country_code": p.country,
            "zip": p.zip,
            "phone": p.phone,
        },
        "line_items": lines,
        "refunds": refunds,
    });
    if p.customer_id == 0 {
        o["customer"] = Value::Null;
    }
    match order.malformed {
        Some(Malformation::Money) => o["total_price"] = json!(format!("{}5", money(order.paid()))),
        Some(Malformation::Status) => o["financial_status"] = json!("mystery_status"),
        None => {}
    }
    o
}

pub(crate) fn render_refund(order: &SimOrder, r: &Refund) -> Value {
    let l = &order.lines[r.line];
    json!({
        "id": r.id,
        "order_id": order.id,
        "created_at": ts(r.created),
        "processed_at": ts(r.modified),
        "note": r.reason,
        "restock": l.shipped,
        "refund_line_items": [{
            "id": r.id + 1_000_000_000,
            "quantity": l.qty,
            "line_item_id": l.id,
            "restock_type": if l.shipped { "return" } else { "cancel" },
            "subtotal": money(r.amount),
            "total_tax": "0.00",
        }],
        "transactions": [{
            "id": r.id + 2_000_000_000,
            "order_id": order.id,
            "amount": money(r.amount),
            "kind": "refund",
            "gateway": gateway(order),
            "status": "success",
            "currency": CURRENCY,
            "created_at": ts(r.modified),
        }],
        "order_adjustments": [],
    })
}

/// A page cursor: the filters of the first request and the key of the page's edge row.
#[derive(Serialize, Deserialize)]
struct Cursor {
    status: String,
    min: Option<i64>,
    max: Option<i64>,
    /// `(updated_at unix seconds, id)` of the edge row.
    key: (i64, u64),
    /// `true`: rows after `key`; `false`: rows before it.
    next: bool,
}

impl Cursor {
    fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a cursor serializes"))
    }

    fn decode(s: &str) -> Option<Cursor> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(s).ok()?).ok()
    }
}

fn bad_request(field: &str, why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"errors": {field: [why]}})),
    )
        .into_response()
}

pub(crate) fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})),
    )
        .into_response()
}

fn wanted(status: &str, order: &SimOrder) -> bool {
    let cancelled = order.stage == Stage::Cancelled;
    let closed = order.stage == Stage::Completed;
    match status {
        "open" => !cancelled && !closed,
        "closed" => closed,
        "cancelled" => cancelled,
        _ => true,
    }
}

pub(crate) async fn handle(
    sim: &Sim,
    spec: &ShopSpec,
    headers: &HeaderMap,
    query: Vec<(String, String)>,
) -> Response {
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if token.is_empty() || token != spec.credential(1) {
        sim.count_auth_failure();
        return unauthorized();
    }
    match answer(sim, spec, query).await {
        Ok(r) => r,
        Err(r) => {
            sim.count_bad_request();
            r
        }
    }
}

async fn answer(
    sim: &Sim,
    spec: &ShopSpec,
    query: Vec<(String, String)>,
) -> Result<Response, Response> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let limit = match get("limit") {
        None => LIMIT_DEFAULT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=LIMIT_MAX).contains(&n) => n,
            _ => return Err(bad_request("limit", "must be within 1..=250")),
        },
    };
    let cursor = match get("page_info") {
        None => None,
        Some(s) => {
            if let Some((k, _)) = query
                .iter()
                .find(|(k, _)| !matches!(k.as_str(), "limit" | "page_info" | "fields"))
            {
                return Err(bad_request(
                    "page_info",
                    &format!("{k} cannot be used with page_info, only limit and fields"),
                ));
            }
            Some(Cursor::decode(s).ok_or_else(|| bad_request("page_info", "Invalid value."))?)
        }
    };
    let time = |name: &str| -> Result<Option<i64>, Response> {
        match get(name) {
            None => Ok(None),
            Some(s) => parse_rfc3339(s)
                .map(|t| Some(t.unix_timestamp()))
                .ok_or_else(|| bad_request(name, "must be an ISO 8601 time with an offset")),
        }
    };
    let (status, min, max) = match &cursor {
        Some(c) => (c.status.clone(), c.min, c.max),
        None => {
            let status = get("status").unwrap_or("open").to_owned();
            if !matches!(status.as_str(), "open" | "closed" | "cancelled" | "any") {
                return Err(bad_request(
                    "status",
                    "must be open, closed, cancelled or any",
                ));
            }
            (status, time("updated_at_min")?, time("updated_at_max")?)
        }
    };

    match sim.roll_fault(&spec.key) {
        Some(RequestFault::RateLimited) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."})),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("0.5"));
            return Ok(r);
        }
        Some(RequestFault::ServerError) => {
            return Ok((
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"errors": "Service Unavailable"})),
            )
                .into_response());
        }
        Some(RequestFault::Slow(ms)) => slow(ms).await,
        None => {}
    }

    let repeat = match &cursor {
        Some(c) if c.next => sim.roll_repeat(&spec.key, 2),
        _ => 0,
    };
    let rows = {
        let state = sim.lock();
        let Some(shop) = state.shop(&spec.key) else {
            return Err(unauthorized());
        };
        let in_window = |t: OffsetDateTime| {
            let t = t.unix_timestamp();
            min.is_none_or(|m| t >= m) && max.is_none_or(|m| t <= m)
        };
        let mut rows: Vec<(OffsetDateTime, u64, Value)> = shop
            .orders
            .iter()
            .filter(|o| in_window(o.modified) && wanted(&status, o))
            .map(|o| (o.modified, o.id, render(&shop.served(o))))
            .collect();
        page_order(&mut rows);
        rows.into_iter()
            .map(|(t, id, v)| ((t.unix_timestamp(), id), v))
            .collect::<Vec<_>>()
    };
    let (from, to) = match &cursor {
        None => (0, rows.len().min(limit)),
        Some(c) if c.next => {
            let from = rows.partition_point(|(k, _)| *k <= c.key);
            (from, (from + limit).min(rows.len()))
        }
        Some(c) => {
            let to = rows.partition_point(|(k, _)| *k < c.key);
            (to.saturating_sub(limit), to)
        }
    };
    let first = if from < to {
        from.saturating_sub(repeat)
    } else {
        from
    };
    sim.count_repeated(from - first);
    let page: Vec<Value> = rows[first..to].iter().map(|(_, v)| v.clone()).collect();

    let link = |key: (i64, u64), next: bool, rel: &str| {
        let c = Cursor {
            status: status.clone(),
            min,
            max,
            key,
            next,
        };
        format!(
            "<http://{}/{}/admin/api/{API_VERSION}/orders.json?limit={limit}&page_info={}>; rel=\"{rel}\"",
            sim.addr,
            spec.key,
            c.encode()
        )
    };
    let mut links = Vec::new();
    if from > 0 && from < to {
        links.push(link(rows[from].0, false, "previous"));
    }
    if to < rows.len() && to > 0 {
        links.push(link(rows[to - 1].0, true, "next"));
    }
    let mut r = Json(json!({"orders": page})).into_response();
    if !links.is_empty()
        && let Ok(v) = HeaderValue::from_str(&links.join(", "))
    {
        r.headers_mut().insert(header::LINK, v);
    }
    Ok(r)
}
