//! Shopify fulfillment orders and fulfillments (Admin REST 2024-07, reference §3.4):
//! `GET orders/{id}/fulfillment_orders.json` lists the order's one fulfillment order (the
//! simulator has one location), `POST fulfillments.json` fulfils it, whole or by line items,
//! with `tracking_info`. A fulfillment order that is not open is refused with Shopify's 422
//! "unfulfillable status" error; an unpaid order's is `on_hold` here.

use super::{Parcel, Refusal, Shipped};
use crate::ShopSpec;
use crate::clock::shopify as ts;
use crate::faults::RequestFault;
use crate::model::{Family, SimOrder, Stage};
use crate::server::slow;
use crate::shopify::{API_VERSION, unauthorized};
use crate::state::Sim;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) fn routes() -> Router<Arc<Sim>> {
    Router::new()
        .route(
            &format!("/{{key}}/admin/api/{API_VERSION}/orders/{{id}}/fulfillment_orders.json"),
            get(fulfillment_orders),
        )
        .route(
            &format!("/{{key}}/admin/api/{API_VERSION}/fulfillments.json"),
            post(create),
        )
}

/// The fulfillment order id of an order, and back.
fn fo_id(order_id: u64) -> u64 {
    order_id * 10 + 1
}

fn order_of(fo_id: u64) -> Option<u64> {
    (fo_id % 10 == 1).then_some(fo_id / 10)
}

/// The fulfillment order line item id of a line item.
fn fo_line_id(line_id: u64) -> u64 {
    line_id * 10 + 1
}

fn open_line(order: &SimOrder, i: usize) -> bool {
    !order.lines[i].shipped && !order.line_refunded(i)
}

fn fo_status(order: &SimOrder) -> &'static str {
    let shipped = order.lines.iter().any(|l| l.shipped);
    match order.stage {
        Stage::Cancelled | Stage::Failed | Stage::Deleted => "cancelled",
        Stage::Refunded if !shipped => "cancelled",
        Stage::Pending | Stage::Processing | Stage::OnHold => "on_hold",
        _ if (0..order.lines.len()).all(|i| !open_line(order, i)) => "closed",
        _ if shipped => "in_progress",
        _ => "open",
    }
}

fn render_fulfillment_order(order: &SimOrder) -> Value {
    let status = fo_status(order);
    let lines: Vec<Value> = order
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let fulfillable = if status != "cancelled" && open_line(order, i) {
                l.qty
            } else {
                0
            };
            json!({
                "id": fo_line_id(l.id),
                "shop_id": 1,
                "fulfillment_order_id": fo_id(order.id),
                "line_item_id": l.id,
                "inventory_item_id": l.sku_id,
                "quantity": l.qty,
                "fulfillable_quantity": fulfillable,
                "variant_id": l.sku_id,
            })
        })
        .collect();
    json!({
        "id": fo_id(order.id),
        "shop_id": 1,
        "order_id": order.id,
        "assigned_location_id": 1,
        "request_status": "unsubmitted",
        "status": status,
        "supported_actions": if matches!(status, "open" | "in_progress") { json!(["create_fulfillment"]) } else { json!([]) },
        "line_items": lines,
        "fulfill_at": ts(order.created),
        "created_at": ts(order.created),
        "updated_at": ts(order.modified),
    })
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"errors": "Not Found"}))).into_response()
}

fn unprocessable(message: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"errors": [message]})),
    )
        .into_response()
}

/// The shop under `key` when it is a Shopify shop and the token is its own. `Err`: the answer.
fn admit(sim: &Sim, key: &str, headers: &HeaderMap) -> Result<ShopSpec, Response> {
    let spec = {
        let state = sim.lock();
        state
            .shop(key)
            .filter(|s| s.family == Family::Shopify)
            .map(|s| s.spec.clone())
    };
    let Some(spec) = spec else {
        return Err(not_found());
    };
    sim.count_request();
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if token.is_empty() || token != spec.credential(1) {
        sim.count_auth_failure();
        return Err(unauthorized());
    }
    Ok(spec)
}

/// Shopify's answers to the fault dice.
async fn fault(sim: &Sim, spec: &ShopSpec) -> Option<Response> {
    match sim.roll_fault(&spec.key) {
        Some(RequestFault::RateLimited) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service."})),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("0.5"));
            Some(r)
        }
        Some(RequestFault::ServerError) => Some(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"errors": "Service Unavailable"})),
            )
                .into_response(),
        ),
        Some(RequestFault::Slow(ms)) => {
            slow(ms).await;
            None
        }
        None => None,
    }
}

async fn fulfillment_orders(
    State(sim): State<Arc<Sim>>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let spec = match admit(&sim, &key, &headers) {
        Ok(spec) => spec,
        Err(r) => return r,
    };
    if let Some(r) = fault(&sim, &spec).await {
        return r;
    }
    let state = sim.lock();
    let Some(order) = state
        .shop(&key)
        .and_then(|shop| shop.orders.iter().find(|o| o.id.to_string() == id))
    else {
        return not_found();
    };
    Json(json!({"fulfillment_orders": [render_fulfillment_order(order)]})).into_response()
}

/// What a valid `POST fulfillments.json` asks: the order, the line item ids (empty: all), the
/// tracking number and company.
struct Request {
    order_id: u64,
    lines: Vec<String>,
    number: String,
    company: String,
}

/// Checks the body against the order as it stands; `Err` is Shopify's answer.
fn check(sim: &Sim, key: &str, body: &Value) -> Result<Request, Response> {
    let f = &body["fulfillment"];
    let groups = f["line_items_by_fulfillment_order"]
        .as_array()
        .filter(|g| !g.is_empty())
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"errors": {"fulfillment": ["line_items_by_fulfillment_order is required"]}})),
            )
                .into_response()
        })?;
    let state = sim.lock();
    let shop = state.shop(key).ok_or_else(not_found)?;
    let mut order_id = None;
    let mut lines = Vec::new();
    for g in groups {
        let fo = g["fulfillment_order_id"].as_u64().ok_or_else(not_found)?;
        let id = order_of(fo).ok_or_else(not_found)?;
        let order = shop
            .orders
            .iter()
            .find(|o| o.id == id)
            .ok_or_else(not_found)?;
        if order_id.is_some_and(|o| o != id) {
            return Err(unprocessable(
                "All fulfillment orders must belong to the same order.",
            ));
        }
        order_id = Some(id);
        let status = fo_status(order);
        if !matches!(status, "open" | "in_progress") {
            return Err(unprocessable(&format!(
                "Fulfillment order {fo} has an unfulfillable status= {status}."
            )));
        }
        let Some(items) = g["fulfillment_order_line_items"].as_array() else {
            continue;
        };
        for item in items {
            let fo_line = item["id"].as_u64().unwrap_or(0);
            let Some(i) =
                (0..order.lines.len()).find(|i| fo_line_id(order.lines[*i].id) == fo_line)
            else {
                return Err(unprocessable(&format!(
                    "Invalid fulfillment order line item id {fo_line}."
                )));
            };
            let fulfillable = if open_line(order, i) {
                order.lines[i].qty
            } else {
                0
            };
            // The simulator ships whole lines: the quantity must be all that is left.
            if item["quantity"].as_u64() != Some(u64::from(fulfillable)) || fulfillable == 0 {
                return Err(unprocessable(
                    "Invalid fulfillment order line item quantity requested.",
                ));
            }
            lines.push(order.lines[i].id.to_string());
        }
    }
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    Ok(Request {
        order_id: order_id.ok_or_else(not_found)?,
        lines,
        number: text(&f["tracking_info"]["number"]),
        company: text(&f["tracking_info"]["company"]),
    })
}

async fn create(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = match admit(&sim, &key, &headers) {
        Ok(spec) => spec,
        Err(r) => return r,
    };
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        sim.count_bad_request();
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"errors": "body is not valid JSON"})),
        )
            .into_response();
    };
    if let Some(r) = fault(&sim, &spec).await {
        return r;
    }
    let request = match check(&sim, &key, &body) {
        Ok(r) => r,
        Err(r) => {
            sim.count_bad_request();
            return r;
        }
    };
    let order_no = request.order_id.to_string();
    let parcel = Parcel {
        carrier: request.company.clone(),
        carrier_name: None,
        tracking_no: request.number.clone(),
        lines: request.lines.clone(),
    };
    let Some(shipped) = sim.ship_and_record(&key, &order_no, parcel) else {
        return not_found();
    };
    let fo = fo_id(request.order_id);
    match shipped {
        Shipped::Lines(_) => {}
        Shipped::Already => {
            return unprocessable(&format!(
                "Fulfillment order {fo} has an unfulfillable status= closed."
            ));
        }
        Shipped::Refused(Refusal::NotFound) => return not_found(),
        Shipped::Refused(r) => {
            return unprocessable(&format!(
                "Fulfillment order {fo} cannot be fulfilled: {}.",
                r.reason()
            ));
        }
    }
    let state = sim.lock();
    let Some((order, parcels)) = state.shop(&key).and_then(|shop| {
        let order = shop.orders.iter().find(|o| o.id == request.order_id)?;
        Some((order, shop.parcels.get(&order.id)?))
    }) else {
        return not_found();
    };
    let fulfillment = render_fulfillment(order, parcels.len() - 1, &parcels[parcels.len() - 1]);
    (
        StatusCode::CREATED,
        Json(json!({"fulfillment": fulfillment})),
    )
        .into_response()
}

/// Parcel `n` (from 0) of an order as a Shopify fulfillment.
fn render_fulfillment(order: &SimOrder, n: usize, parcel: &Parcel) -> Value {
    let lines: Vec<Value> = order
        .lines
        .iter()
        .filter(|l| parcel.lines.is_empty() || parcel.lines.contains(&l.id.to_string()))
        .map(|l| json!({"id": l.id, "sku": l.sku, "quantity": l.qty, "fulfillment_status": "fulfilled"}))
        .collect();
    json!({
        "id": order.id * 100 + n as u64 + 1,
        "order_id": order.id,
        "name": format!("#{}.{}", order.number, n + 1),
        "status": "success",
        "service": "manual",
        "location_id": 1,
        "tracking_company": parcel.carrier,
        "tracking_number": parcel.tracking_no,
        "tracking_numbers": [parcel.tracking_no],
        "tracking_url": null,
        "tracking_urls": [],
        "line_items": lines,
        "created_at": ts(order.modified),
        "updated_at": ts(order.modified),
    })
}

/// The parcels as the order's `fulfillments`.
pub(super) fn decorate(order: &SimOrder, parcels: &[Parcel], raw: &mut Value) {
    raw["fulfillments"] = parcels
        .iter()
        .enumerate()
        .map(|(n, p)| render_fulfillment(order, n, p))
        .collect();
}
