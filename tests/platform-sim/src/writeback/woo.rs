//! WooCommerce `GET` and `PUT`/`POST orders/{id}` (wc/v3). WooCommerce has no tracking field:
//! the hub keeps its parcels in the order meta `xt_tracking` (a list of `{carrier,
//! carrier_name, tracking_no, lines?}`) and sets status `completed` once everything shipped. The
//! simulator reads that meta as a shipment: each parcel it did not hold yet ships its lines (all
//! lines without `lines`) and is recorded; the meta is then kept as sent, like WooCommerce keeps
//! any meta.

use super::{Parcel, record, ship};
use crate::ShopSpec;
use crate::faults::RequestFault;
use crate::model::{Family, SimOrder, Stage};
use crate::server::slow;
use crate::state::Sim;
use crate::woo::{authenticated, error};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;
use time::OffsetDateTime;

/// The order meta the hub writes its parcels to.
const TRACKING_META_KEY: &str = "xt_tracking";

pub(super) fn routes() -> Router<Arc<Sim>> {
    Router::new().route(
        "/{key}/wp-json/wc/v3/orders/{id}",
        get(read).put(update).post(update),
    )
}

fn invalid_id() -> Response {
    error(
        StatusCode::NOT_FOUND,
        "woocommerce_rest_shop_order_invalid_id",
        "Invalid ID.",
    )
}

fn invalid(why: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "rest_invalid_param",
        &format!("Invalid parameter(s): {why}"),
    )
}

/// The shop under `key` when it is a WooCommerce shop and the keys are its own.
fn admit(sim: &Sim, key: &str, headers: &HeaderMap) -> Result<ShopSpec, Response> {
    let spec = {
        let state = sim.lock();
        state
            .shop(key)
            .filter(|s| s.family == Family::Woo)
            .map(|s| s.spec.clone())
    };
    let Some(spec) = spec else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "rest_no_route",
            "No route was found.",
        ));
    };
    sim.count_request();
    if !authenticated(&spec, headers) {
        sim.count_auth_failure();
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_authentication_error",
            "Consumer key or secret is invalid.",
        ));
    }
    Ok(spec)
}

async fn fault(sim: &Sim, spec: &ShopSpec) -> Option<Response> {
    match sim.roll_fault(&spec.key) {
        Some(RequestFault::RateLimited) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "woocommerce_rest_too_many_requests",
                "Too many requests. Please wait and try again.",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            Some(r)
        }
        Some(RequestFault::ServerError) => Some(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_server_error",
            "There has been a critical error on this website.",
        )),
        Some(RequestFault::Slow(ms)) => {
            slow(ms).await;
            None
        }
        None => None,
    }
}

async fn read(
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
    let Some(shop) = state.shop(&key) else {
        return invalid_id();
    };
    match shop.orders.iter().find(|o| o.id.to_string() == id) {
        Some(order) => Json(shop.render(order)).into_response(),
        None => invalid_id(),
    }
}

/// The parcels of an `xt_tracking` meta value; `Err` names what is wrong.
fn parcels(value: &Value) -> Result<Vec<Parcel>, String> {
    let list = value
        .as_array()
        .ok_or_else(|| format!("meta {TRACKING_META_KEY} is not a list"))?;
    list.iter()
        .map(|p| {
            let text = |k: &str| p[k].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
            let lines = match &p["lines"] {
                Value::Null => Vec::new(),
                Value::Array(ls) => ls
                    .iter()
                    .map(|l| l.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("parcel lines are not strings")?,
                _ => return Err("parcel lines are not a list".to_owned()),
            };
            Ok(Parcel {
                carrier: text("carrier").ok_or("a parcel has no carrier")?,
                carrier_name: text("carrier_name"),
                tracking_no: text("tracking_no").ok_or("a parcel has no tracking_no")?,
                lines,
            })
        })
        .collect()
}

async fn update(
    State(sim): State<Arc<Sim>>,
    Path((key, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let spec = match admit(&sim, &key, &headers) {
        Ok(spec) => spec,
        Err(r) => return r,
    };
    let bad = |r: Response| {
        sim.count_bad_request();
        r
    };
    let Ok(body @ Value::Object(_)) = serde_json::from_slice::<Value>(&body) else {
        return bad(error(
            StatusCode::BAD_REQUEST,
            "rest_invalid_json",
            "Invalid JSON body passed.",
        ));
    };
    let complete = match body.get("status").and_then(Value::as_str) {
        None => false,
        Some("completed") => true,
        Some(other) => {
            return bad(invalid(&format!(
                "status {other} (the simulator takes completed only)"
            )));
        }
    };
    let sent = match body["meta_data"]
        .as_array()
        .and_then(|m| m.iter().find(|e| e["key"] == TRACKING_META_KEY))
    {
        None => None,
        Some(entry) => match parcels(&entry["value"]) {
            Ok(p) => Some(p),
            Err(why) => return bad(invalid(&why)),
        },
    };
    if let Some(r) = fault(&sim, &spec).await {
        return r;
    }
    let now = crate::clock::whole_seconds(OffsetDateTime::now_utc());
    let mut guard = sim.lock();
    let state = &mut *guard;
    let Some(s) = state.shops.iter().position(|s| s.spec.key == key) else {
        return invalid_id();
    };
    let Some(i) = state.shops[s]
        .orders
        .iter()
        .position(|o| o.id.to_string() == id)
    else {
        return invalid_id();
    };
    if let Some(sent) = sent {
        let order_id = state.shops[s].orders[i].id;
        let held: Vec<String> = state.shops[s]
            .parcels
            .get(&order_id)
            .map(|ps| ps.iter().map(|p| p.tracking_no.clone()).collect())
            .unwrap_or_default();
        for parcel in sent.iter().filter(|p| !held.contains(&p.tracking_no)) {
            let lines = (!parcel.lines.is_empty()).then_some(parcel.lines.as_slice());
            let shipped = ship(&mut state.shops[s], i, lines, parcel.clone(), now);
            record(
                &mut state.received,
                &state.shops[s],
                &id,
                parcel,
                shipped.outcome(),
            );
        }
        // WooCommerce keeps the meta as sent.
        state.shops[s].parcels.insert(order_id, sent);
    }
    let shop = &mut state.shops[s];
    if complete && shop.orders[i].stage != Stage::Completed {
        complete_by_hand(&mut shop.orders[i]);
    }
    shop.orders[i].touch(now);
    Json(shop.render(&shop.orders[i])).into_response()
}

/// Status `completed` without a parcel for every line: the rest counts as shipped.
fn complete_by_hand(order: &mut SimOrder) {
    if matches!(
        order.stage,
        Stage::Paid | Stage::OnHold | Stage::PartShipped | Stage::Shipped | Stage::Delivered
    ) {
        for l in &mut order.lines {
            l.shipped = true;
        }
        order.stage = Stage::Completed;
    }
}

/// The parcels as the order's `xt_tracking` meta.
pub(super) fn decorate(order: &SimOrder, parcels: &[Parcel], raw: &mut Value) {
    let value: Vec<Value> = parcels
        .iter()
        .map(|p| {
            let mut v = json!({"carrier": p.carrier, "tracking_no": p.tracking_no});
            if let Some(name) = &p.carrier_name {
                v["carrier_name"] = json!(name);
            }
            if !p.lines.is_empty() {
                v["lines"] = json!(p.lines);
            }
            v
        })
        .collect();
    let entry = json!({"id": order.id * 10 + 7, "key": TRACKING_META_KEY, "value": value});
    match raw["meta_data"].as_array_mut() {
        Some(meta) => meta.push(entry),
        None => raw["meta_data"] = json!([entry]),
    }
}
