//! Taobao/Tmall TOP: `POST {base}/router/rest`, signed, `taobao.trades.sold.increment.get` and
//! `taobao.refunds.receive.get`; trades and refund records in TOP's JSON.

use crate::ShopSpec;
use crate::clock::{beijing, parse_beijing};
use crate::faults::{RefundsBroken, RequestFault};
use crate::model::{Malformation, Refund, RefundStage, SimOrder, Stage};
use crate::server::{Page, paginate, slow};
use crate::sign;
use crate::state::{Shop, Sim, money};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};
use xt_shared::order::Platform;

/// TOP refuses a modified window longer than this.
const WINDOW_MAX: Duration = Duration::days(1);
const PAGE_SIZE_MAX: usize = 100;
const PAGE_SIZE_DEFAULT: usize = 40;

fn trade_status(order: &SimOrder) -> &'static str {
    match order.stage {
        Stage::Pending if order.flavor.is_multiple_of(2) => "WAIT_BUYER_PAY",
        Stage::Pending => "TRADE_NO_CREATE_PAY",
        Stage::Processing if order.flavor.is_multiple_of(2) => "PAY_PENDING",
        Stage::Processing => "WAIT_PRE_AUTH_CONFIRM",
        Stage::Paid => "WAIT_SELLER_SEND_GOODS",
        Stage::OnHold => "PAID_FORBID_CONSIGN",
        Stage::PartShipped => "SELLER_CONSIGNED_PART",
        Stage::Shipped => "WAIT_BUYER_CONFIRM_GOODS",
        Stage::Delivered => "TRADE_BUYER_SIGNED",
        Stage::Completed => "TRADE_FINISHED",
        Stage::Refunded => "TRADE_CLOSED",
        Stage::Cancelled | Stage::Failed | Stage::Deleted => "TRADE_CLOSED_BY_TAOBAO",
    }
}

fn line_status(order: &SimOrder, i: usize) -> &'static str {
    if order.line_refunded(i) {
        "TRADE_CLOSED"
    } else if order.stage == Stage::PartShipped {
        if order.lines[i].shipped {
            "WAIT_BUYER_CONFIRM_GOODS"
        } else {
            "WAIT_SELLER_SEND_GOODS"
        }
    } else {
        trade_status(order)
    }
}

fn refund_status(r: &Refund) -> &'static str {
    match r.stage {
        RefundStage::Requested if r.id.is_multiple_of(7) => "EXCHANGE_TRANSFORM_TO_REFUND",
        RefundStage::Requested => "WAIT_SELLER_AGREE",
        RefundStage::Returning if r.id.is_multiple_of(2) => "WAIT_BUYER_RETURN_GOODS",
        RefundStage::Returning => "WAIT_SELLER_CONFIRM_GOODS",
        RefundStage::Refused => "SELLER_REFUSE_BUYER",
        RefundStage::Closed => "CLOSED",
        RefundStage::Success => "SUCCESS",
    }
}

fn seller_type(shop: &Shop) -> &'static str {
    if shop.spec.platform == Platform::Tmall {
        "B"
    } else {
        "C"
    }
}

fn seller_nick(shop: &Shop) -> String {
    format!("协同{}店", shop.spec.key)
}

pub(crate) fn render(shop: &Shop, order: &SimOrder) -> Value {
    let shares = order.shares();
    let p = &order.person;
    let lines: Vec<Value> = order
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut line = json!({
                "oid": l.id,
                "num_iid": l.item_id,
                "sku_id": l.sku_id.to_string(),
                "outer_iid": l.sku.split('-').next().unwrap_or(l.sku),
                "outer_sku_id": l.sku,
                "title": l.title,
                "num": l.qty,
                "price": money(l.price),
                "total_fee": money(l.net()),
                "payment": money(l.net()),
                "discount_fee": money(l.discount),
                "adjust_fee": "0.00",
                "divide_order_fee": money(l.net() - shares[i]),
                "status": line_status(order, i),
                "refund_status": order.line_refund(i).map_or("NO_REFUND", refund_status),
                "seller_type": seller_type(shop),
            });
            if let Some(r) = order.line_refund(i) {
                line["refund_id"] = json!(r.id.to_string());
            }
            line
        })
        .collect();
    let trade_type = if order.cod {
        "cod"
    } else if order.presale {
        "step"
    } else {
        "fixed"
    };
    let mut t = json!({
        "tid": order.id,
        "tid_str": order.id.to_string(),
        "status": trade_status(order),
        "type": trade_type,
        "title": seller_nick(shop),
        "seller_nick": seller_nick(shop),
        "buyer_nick": p.nick,
        "buyer_open_uid": format!("AAH{:x}", order.id % 0xffff_ffff),
        "total_fee": money(order.goods()),
        "discount_fee": money(order.discount()),
        "adjust_fee": "0.00",
        "post_fee": money(order.freight),
        "payment": money(order.paid()),
        "received_payment": money(if order.stage == Stage::Completed { order.paid() } else { 0 }),
        "created": beijing(order.created),
        "modified": beijing(order.modified),
        "receiver_name": p.name,
        "receiver_mobile": p.phone,
        "receiver_state": p.province,
        "receiver_city": p.city,
        "receiver_district": p.district,
        "receiver_town": p.town,
        "receiver_address": p.address,
        "receiver_zip": p.zip,
        "shipping_type": "express",
        "trade_from": "WAP,TAOBAO",
        "num": 0,
        "orders": { "order": lines },
    });
    if let Some(paid) = order.paid_at {
        t["pay_time"] = json!(beijing(paid));
    }
    if let Some(memo) = order.memo {
        t["buyer_message"] = json!(memo);
        t["has_buyer_message"] = json!(true);
    }
    if let Some(memo) = order.seller_memo {
        t["seller_memo"] = json!(memo);
        t["seller_flag"] = json!(1);
    }
    if order.presale && !order.cod {
        t["step_trade_status"] = json!(match order.paid_at {
            Some(_) => "FRONT_PAID_FINAL_PAID",
            None => "FRONT_NOPAID_FINAL_NOPAID",
        });
    }
    match order.malformed {
        Some(Malformation::Money) => t["payment"] = json!(format!("{}5", money(order.paid()))),
        Some(Malformation::Status) => t["status"] = json!("TRADE_SOMETHING_NEW"),
        None => {}
    }
    t
}

pub(crate) fn render_refund(shop: &Shop, order: &SimOrder, r: &Refund) -> Value {
    let l = &order.lines[r.line];
    let line_paid = order.line_paid(r.line);
    let mut v = json!({
        "refund_id": r.id.to_string(),
        "tid": order.id,
        "oid": l.id,
        "title": l.title,
        "buyer_nick": order.person.nick,
        "seller_nick": seller_nick(shop),
        "total_fee": money(line_paid),
        "refund_fee": money(r.amount),
        "payment": money(line_paid - r.amount),
        "price": money(l.price),
        "num": l.qty,
        "num_iid": l.item_id,
        "outer_id": l.sku,
        "status": refund_status(r),
        "order_status": line_status(order, r.line),
        "good_status": if l.shipped { "BUYER_RECEIVED" } else { "BUYER_NOT_RECEIVED" },
        "has_good_return": r.stage == RefundStage::Returning,
        "reason": r.reason,
        "desc": "",
        "created": beijing(r.created),
        "modified": beijing(r.modified),
        "refund_phase": if l.shipped { "aftersale" } else { "onsale" },
        "refund_version": r.modified.unix_timestamp() * 1000,
    });
    if r.stage == RefundStage::Returning {
        v["company_name"] = json!("顺丰速运");
        v["sid"] = json!(format!("SF{}", r.id));
    }
    v
}

/// A TOP error: HTTP 200 with `error_response`.
pub(crate) fn error(code: u32, msg: &str, sub_code: &str, sub_msg: &str) -> Response {
    Json(json!({"error_response": {
        "code": code,
        "msg": msg,
        "sub_code": sub_code,
        "sub_msg": sub_msg,
        "request_id": "sim-error",
    }}))
    .into_response()
}

pub(crate) fn missing(name: &str) -> Response {
    error(
        40,
        "Missing required arguments",
        &format!("isv.missing-parameter:{name}"),
        &format!("missing required argument {name}"),
    )
}

pub(crate) fn invalid(name: &str, why: &str) -> Response {
    error(
        41,
        "Invalid arguments",
        &format!("isv.invalid-parameter:{name}"),
        why,
    )
}

/// The `[start, end]` window of `start_modified`/`end_modified`, at most a day.
fn window(p: &BTreeMap<String, String>) -> Result<(OffsetDateTime, OffsetDateTime), Response> {
    let get = |name: &str| -> Result<OffsetDateTime, Response> {
        let s = p.get(name).ok_or_else(|| missing(name))?;
        parse_beijing(s).ok_or_else(|| invalid(name, &format!("{s:?} is not yyyy-MM-dd HH:mm:ss")))
    };
    let (start, end) = (get("start_modified")?, get("end_modified")?);
    if end < start {
        return Err(invalid(
            "end_modified",
            "end_modified is before start_modified",
        ));
    }
    if end - start > WINDOW_MAX {
        return Err(invalid(
            "start_modified",
            "the span between start_modified and end_modified must not exceed one day",
        ));
    }
    Ok((start, end))
}

fn page_args(p: &BTreeMap<String, String>) -> Result<(usize, usize), Response> {
    let page_no = match p.get("page_no") {
        None => 1,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => return Err(invalid("page_no", "page_no must be 1 or more")),
        },
    };
    let page_size = match p.get("page_size") {
        None => PAGE_SIZE_DEFAULT,
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=PAGE_SIZE_MAX).contains(&n) => n,
            _ => return Err(invalid("page_size", "page_size must be within 1..=100")),
        },
    };
    Ok((page_no, page_size))
}

/// Checks app key, signature and session; `Err` is the TOP error to answer.
fn authenticate(spec: &ShopSpec, p: &BTreeMap<String, String>) -> Result<(), Response> {
    let bad_sign = || error(25, "Invalid signature", "", "the signature does not match");
    if p.get("app_key").map(String::as_str) != Some(spec.credential(0)) {
        // The sim knows one app per shop: a foreign app key cannot have signed right.
        return Err(bad_sign());
    }
    let given = p.get("sign").ok_or_else(bad_sign)?;
    let expected = match p.get("sign_method").map(String::as_str) {
        None | Some("md5") => sign::top_md5(p, spec.credential(1)),
        Some("hmac") => sign::top_hmac(p, spec.credential(1)),
        Some(_) => return Err(invalid("sign_method", "sign_method must be md5 or hmac")),
    };
    if !sign::same(&expected, given) {
        return Err(bad_sign());
    }
    if p.get("session").map(String::as_str) != Some(spec.credential(2)) {
        return Err(error(
            27,
            "Invalid session",
            "invalid-sessionkey",
            "the session is invalid or expired",
        ));
    }
    Ok(())
}

pub(crate) async fn handle(sim: &Sim, spec: &ShopSpec, p: BTreeMap<String, String>) -> Response {
    if let Err(refused) = authenticate(spec, &p) {
        sim.count_auth_failure();
        return refused;
    }
    match answer(sim, spec, &p).await {
        Ok(r) | Err(r) => r,
    }
}

async fn answer(
    sim: &Sim,
    spec: &ShopSpec,
    p: &BTreeMap<String, String>,
) -> Result<Response, Response> {
    let bad = |r: Response| {
        sim.count_bad_request();
        r
    };
    for name in ["timestamp", "v", "method"] {
        if !p.contains_key(name) {
            return Err(bad(missing(name)));
        }
    }
    if parse_beijing(&p["timestamp"]).is_none() {
        return Err(bad(invalid(
            "timestamp",
            "timestamp is not yyyy-MM-dd HH:mm:ss",
        )));
    }
    if p.get("format").is_some_and(|f| f != "json") {
        return Err(bad(invalid(
            "format",
            "the simulator answers format=json only",
        )));
    }
    let method = p["method"].as_str();
    if method == "taobao.logistics.offline.send" {
        return crate::writeback::top_offline_send(sim, spec, p)
            .await
            .map_err(bad);
    }
    let refunds = match method {
        "taobao.trades.sold.increment.get" => false,
        "taobao.refunds.receive.get" => true,
        _ => {
            return Err(bad(error(
                22,
                "Invalid method",
                "",
                &format!("unknown method {method}"),
            )));
        }
    };
    if refunds && let Some(broken) = spec.faults.refunds_broken {
        return Ok(match broken {
            RefundsBroken::NotFound => crate::faults::echoing_not_found("/router/rest", p),
            RefundsBroken::NoPermission => error(
                11,
                "Insufficient isv permissions",
                "isv.permission-api-package-empty",
                "the app has no permission for taobao.refunds.receive.get",
            ),
        });
    }
    if p.get("fields").is_none_or(|f| f.trim().is_empty()) {
        return Err(bad(missing("fields")));
    }
    let (start, end) = window(p).map_err(bad)?;
    let (page_no, page_size) = page_args(p).map_err(bad)?;

    match sim.roll_fault(&spec.key) {
        Some(RequestFault::RateLimited) => {
            return Ok(error(
                7,
                "App Call Limited",
                "accesscontrol.limited-by-app-access-count",
                "This ban will last for 1 more seconds",
            ));
        }
        Some(RequestFault::ServerError) => {
            return Ok(if page_no.is_multiple_of(2) {
                error(
                    15,
                    "Remote service error",
                    "isp.trade-service-unavailable",
                    "the trade service is unavailable",
                )
            } else {
                (StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response()
            });
        }
        Some(RequestFault::Slow(ms)) => slow(ms).await,
        None => {}
    }

    let repeat = sim.roll_repeat(&spec.key, page_no);
    let page = {
        let state = sim.lock();
        let Some(shop) = state.shop(&spec.key) else {
            return Err(error(
                27,
                "Invalid session",
                "invalid-sessionkey",
                "the shop is gone",
            ));
        };
        // Sorted and paged by key; only the page's rows are rendered (a shop holds thousands).
        let mut keys = Vec::new();
        for (i, order) in shop.orders.iter().enumerate() {
            if refunds {
                for (j, r) in order.refunds.iter().enumerate() {
                    if (start..=end).contains(&r.modified) {
                        keys.push((r.modified, r.id, i, j));
                    }
                }
            } else if (start..=end).contains(&order.modified) {
                keys.push((order.modified, order.id, i, 0));
            }
        }
        keys.sort_by_key(|k| (k.0, k.1));
        let page = paginate(keys, page_no, page_size, repeat);
        let rows = page
            .rows
            .iter()
            .map(|&(_, _, i, j)| {
                let order = &shop.orders[i];
                if refunds {
                    render_refund(shop, &shop.served(order), &order.refunds[j])
                } else {
                    render(shop, &shop.served(order))
                }
            })
            .collect();
        Page {
            rows,
            total: page.total,
            has_next: page.has_next,
            repeated: page.repeated,
        }
    };
    sim.count_repeated(page.repeated);
    let request_id = format!("sim-{}", sim.stats().requests);
    let (envelope, list, item) = if refunds {
        ("refunds_receive_get_response", "refunds", "refund")
    } else {
        ("trades_sold_increment_get_response", "trades", "trade")
    };
    let mut body = json!({"has_next": page.has_next, "request_id": request_id});
    if p.get("use_has_next").map(String::as_str) != Some("true") {
        body["total_results"] = json!(page.total);
    }
    if !page.rows.is_empty() {
        body[list] = json!({ item: page.rows });
    }
    Ok(Json(json!({ envelope: body })).into_response())
}
