//! WooCommerce REST wc/v3: `GET {base}/wp-json/wc/v3/orders` with HTTP Basic auth, numbered
//! pages with `X-WP-Total`/`X-WP-TotalPages`, refunds inside the orders.

use crate::ShopSpec;
use crate::clock::{WOO_OFFSET, naive, parse_woo};
use crate::faults::RequestFault;
use crate::model::{Malformation, Refund, RefundStage, SimOrder, Stage};
use crate::server::{paginate, slow};
use crate::state::{Sim, money, page_order};
use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use time::{OffsetDateTime, UtcOffset};

const PER_PAGE_MAX: usize = 100;
const PER_PAGE_DEFAULT: usize = 10;
pub(crate) const CURRENCY: &str = "EUR";

fn status(order: &SimOrder) -> &'static str {
    match order.stage {
        Stage::Pending if order.flavor == 3 => "checkout-draft",
        Stage::Pending => "pending",
        Stage::Processing => "on-hold",
        Stage::Failed => "failed",
        Stage::Paid | Stage::OnHold | Stage::PartShipped | Stage::Shipped | Stage::Delivered => {
            "processing"
        }
        Stage::Completed => "completed",
        Stage::Cancelled => "cancelled",
        Stage::Refunded => "refunded",
        Stage::Deleted => "trash",
    }
}

fn gmt(t: OffsetDateTime) -> String {
    naive(t, UtcOffset::UTC)
}

pub(crate) fn render(order: &SimOrder) -> Value {
    let p = &order.person;
    let shares = order.shares();
    let lines: Vec<Value> = order
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            json!({
                "id": l.id,
                "name": l.title,
                "product_id": l.item_id % 1000,
                "variation_id": if l.sku.contains('-') { l.sku_id % 10_000 } else { 0 },
                "quantity": l.qty,
                "tax_class": "",
                "subtotal": money(l.gross()),
                "subtotal_tax": "0.00",
                "total": money(l.net() - shares[i]),
                "total_tax": "0.00",
                "taxes": [],
                "meta_data": [],
                "sku": l.sku,
                "price": l.price as f64 / 100.0,
            })
        })
        .collect();
    let refunds: Vec<Value> = order
        .refunds
        .iter()
        .filter(|r| r.stage == RefundStage::Success)
        .map(render_refund)
        .collect();
    let (payment_method, payment_title) = if order.cod {
        ("cod", "Cash on delivery")
    } else {
        ("stripe", "Credit card")
    };
    let mut o = json!({
        "id": order.id,
        "parent_id": 0,
        "number": order.id.to_string(),
        "order_key": format!("wc_order_{:x}", order.id * 7919),
        "created_via": "checkout",
        "version": "9.4.0",
        "status": status(order),
        "currency": CURRENCY,
        "date_created": naive(order.created, WOO_OFFSET),
        "date_created_gmt": gmt(order.created),
        "date_modified": naive(order.modified, WOO_OFFSET),
        "date_modified_gmt": gmt(order.modified),
        "date_paid": order.paid_at.map(|t| naive(t, WOO_OFFSET)),
        "date_paid_gmt": order.paid_at.map(gmt),
        "date_completed": (order.stage == Stage::Completed).then(|| naive(order.modified, WOO_OFFSET)),
        "date_completed_gmt": (order.stage == Stage::Completed).then(|| gmt(order.modified)),
        "discount_total": money(order.discount()),
        "discount_tax": "0.00",
        "shipping_total": money(order.freight),
        "shipping_tax": "0.00",
        "cart_tax": "0.00",
        "total": money(order.paid()),
        "total_tax": "0.00",
        "prices_include_tax": false,
        "customer_id": p.customer_id,
        "customer_ip_address": "127.0.0.1",
        "customer_note": order.memo.unwrap_or(""),
        "billing": {
            "first_name": p.first,
            "last_name": p.last,
            "company": "",
            "address_1": p.address,
            "address_2": "",
            "city": p.city,
            "state": p.province,
            "postcode": p.zip,
            "country": p.country,
            "email": p.email,
            "phone": p.phone,
        },
        "shipping": {
            "first_name": p.first,
            "last_name": p.last,
            "company": "",
            "address_1": p.address,
            "address_2": "",
            "city": p.city,
            "state": p.province,
            "postcode": p.zip,
            "country": p.country,
            "phone": p.phone,
        },
        "payment_method": payment_method,
        "payment_method_title": payment_title,
        "transaction_id": if order.paid_at.is_some() { format!("ch_{:x}", order.id * 104_729) } else { String::new() },
        "line_items": lines,
        "tax_lines": [],
        "shipping_lines": if order.freight > 0 {
            json!([{"id": order.id * 10 + 1, "method_title": "Flat rate", "method_id": "flat_rate", "total": money(order.freight), "total_tax": "0.00"}])
        } else {
            json!([])
        },
        "fee_lines": [],
        "coupon_lines": [],
        "refunds": refunds,
        "meta_data": [],
    });
    match order.malformed {
        Some(Malformation::Money) => o["total"] = json!(format!("{}5", money(order.paid()))),
        Some(Malformation::Status) => o["status"] = json!("wc-unknown"),
        None => {}
    }
    o
}

pub(crate) fn render_refund(r: &Refund) -> Value {
    json!({"id": r.id, "reason": r.reason, "total": money(-r.amount)})
}

pub(crate) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message, "data": {"status": status.as_u16()}})),
    )
        .into_response()
}

pub(crate) fn authenticated(spec: &ShopSpec, headers: &HeaderMap) -> bool {
    let Some(basic) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
    else {
        return false;
    };
    let Some(decoded) = STANDARD
        .decode(basic.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let Some((key, secret)) = decoded.split_once(':') else {
        return false;
    };
    !secret.is_empty() && key == spec.credential(0) && secret == spec.credential(1)
}

pub(crate) async fn handle(
    sim: &Sim,
    spec: &ShopSpec,
    headers: &HeaderMap,
    query: Vec<(String, String)>,
) -> Response {
    if !authenticated(spec, headers) {
        sim.count_auth_failure();
        return error(
            StatusCode::UNAUTHORIZED,
            "woocommerce_rest_authentication_error",
            "Consumer key or secret is invalid.",
        );
    }
    match answer(sim, spec, query).await {
        Ok(r) => r,
        Err(r) => {
            sim.count_bad_request();
            r
        }
    }
}

fn invalid(name: &str, why: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "rest_invalid_param",
        &format!("Invalid parameter(s): {name} ({why})"),
    )
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
    let time = |name: &str| -> Result<Option<OffsetDateTime>, Response> {
        match get(name) {
            None => Ok(None),
            Some(s) => parse_woo(s)
                .map(Some)
                .ok_or_else(|| invalid(name, "not an ISO 8601 date")),
        }
    };
    let after = time("modified_after")?;
    let before = time("modified_before")?;
    let number = |name: &str, default: usize, max: usize| -> Result<usize, Response> {
        match get(name) {
            None => Ok(default),
            Some(s) => match s.parse::<usize>() {
                Ok(n) if (1..=max).contains(&n) => Ok(n),
                _ => Err(invalid(name, &format!("must be within 1..={max}"))),
            },
        }
    };
    let page_no = number("page", 1, usize::MAX)?;
    let per_page = number("per_page", PER_PAGE_DEFAULT, PER_PAGE_MAX)?;
    let statuses: Option<Vec<String>> = match get("status") {
        None | Some("any") => None,
        Some(s) => Some(s.split(',').map(|x| x.trim().to_owned()).collect()),
    };
    let descending = get("order") == Some("desc");

    match sim.roll_fault(&spec.key) {
        Some(RequestFault::RateLimited) => {
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "woocommerce_rest_too_many_requests",
                "Too many requests. Please wait and try again.",
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Ok(r);
        }
        Some(RequestFault::ServerError) => {
            return Ok(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_server_error",
                "There has been a critical error on this website.",
            ));
        }
        Some(RequestFault::Slow(ms)) => slow(ms).await,
        None => {}
    }

    let repeat = sim.roll_repeat(&spec.key, page_no);
    let rows = {
        let state = sim.lock();
        let Some(shop) = state.shop(&spec.key) else {
            return Err(error(
                StatusCode::NOT_FOUND,
                "rest_no_route",
                "No route was found.",
            ));
        };
        let mut rows: Vec<(OffsetDateTime, u64, Value)> = shop
            .orders
            .iter()
            .filter(|o| {
                after.is_none_or(|a| o.modified >= a) && before.is_none_or(|b| o.modified <= b)
            })
            .map(|o| (o.modified, o.id, render(&shop.served(o))))
            .filter(|(_, _, v)| match (&statuses, v["status"].as_str()) {
                (Some(wanted), Some(s)) => wanted.iter().any(|w| w == s),
                _ => true,
            })
            .collect();
        page_order(&mut rows);
        if descending {
            rows.reverse();
        }
        rows.into_iter().map(|(_, _, v)| v).collect::<Vec<_>>()
    };
    let page = paginate(rows, page_no, per_page, repeat);
    sim.count_repeated(page.repeated);
    let pages = page.total.div_ceil(per_page);
    let mut r = Json(Value::Array(page.rows)).into_response();
    let h = r.headers_mut();
    h.insert("x-wp-total", HeaderValue::from(page.total));
    h.insert("x-wp-totalpages", HeaderValue::from(pages));
    Ok(r)
}
