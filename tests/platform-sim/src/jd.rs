//! JD POP: `POST {base}/routerjson`, signed, `jingdong.pop.order.search` and
//! `jingdong.pop.afs.soa.refundapply.queryPageList`; every order value a string.

use crate::ShopSpec;
use crate::clock::{beijing, parse_beijing};
use crate::faults::{RefundsBroken, RequestFault};
use crate::model::{Malformation, Refund, RefundStage, SimOrder, Stage};
use crate::server::{paginate, slow};
use crate::sign;
use crate::state::{Sim, money, page_order};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

/// JD refuses a window longer than this.
const WINDOW_MAX: Duration = Duration::days(1);
const ORDER_PAGE_SIZE_MAX: usize = 100;
const REFUND_PAGE_SIZE_MAX: usize = 50;

fn order_state(order: &SimOrder) -> (&'static str, &'static str) {
    match order.stage {
        Stage::Paid if order.flavor == 3 => ("WAIT_SELLER_DELIVERY", "等待发货"),
        Stage::Paid | Stage::Pending | Stage::Processing => ("WAIT_SELLER_STOCK_OUT", "等待出库"),
        Stage::OnHold => match order.flavor % 3 {
            0 => ("LOCKED", "已锁定"),
            1 => ("PAUSE", "暂停"),
            _ => ("POP_ORDER_PAUSE", "暂停"),
        },
        Stage::Shipped | Stage::PartShipped => match order.flavor {
            0 => ("SEND_TO_DISTRIBUTION_CENER", "发往配送中心"),
            1 => ("DISTRIBUTION_CENTER_RECEIVED", "配送中心已收货"),
            _ => ("WAIT_GOODS_RECEIVE_CONFIRM", "等待确认收货"),
        },
        Stage::Delivered => ("RECEIPTS_CONFIRM", "收款确认"),
        Stage::Completed => ("FINISHED_L", "完成"),
        Stage::Cancelled | Stage::Refunded | Stage::Failed | Stage::Deleted => {
            ("TRADE_CANCELED", "取消")
        }
    }
}

/// Refund status numbers (reference §2.5).
fn refund_status(r: &Refund) -> u32 {
    match r.stage {
        RefundStage::Requested => 0,
        RefundStage::Returning => 10,
        RefundStage::Refused => 2,
        RefundStage::Closed => 11,
        RefundStage::Success if r.id.is_multiple_of(2) => 3,
        RefundStage::Success => 1,
    }
}

pub(crate) fn render(order: &SimOrder) -> Value {
    let p = &order.person;
    let (state, remark) = order_state(order);
    let no = order.id.to_string();
    let items: Vec<Value> = order
        .lines
        .iter()
        .map(|l| {
            json!({
                "skuId": l.sku_id.to_string(),
                "outerSkuId": l.sku,
                "skuName": l.title,
                "jdPrice": money(l.price),
                "itemTotal": l.qty.to_string(),
                "wareId": l.item_id.to_string(),
                "productNo": "",
                "giftPoint": "0",
            })
        })
        .collect();
    let mut coupons: Vec<Value> = order
        .lines
        .iter()
        .filter(|l| l.discount > 0)
        .map(|l| {
            json!({
                "orderId": no,
                "skuId": l.sku_id.to_string(),
                "couponType": "20-单品促销优惠",
                "couponPrice": money(l.discount),
            })
        })
        .collect();
    if order.order_discount > 0 {
        coupons.push(json!({
            "orderId": no,
            "couponType": "28-满减优惠",
            "couponPrice": money(order.order_discount),
        }));
    }
    let full_address = format!(
        "{}{}{}{}{}",
        p.province, p.city, p.district, p.town, p.address
    );
    let mut o = json!({
        "orderId": no,
        "venderId": "10086",
        "orderType": "22",
        "payType": if order.cod { "1" } else { "4" },
        "orderTotalPrice": money(order.goods()),
        "orderSellerPrice": money(order.goods() - order.discount()),
        "orderPayment": money(order.paid()),
        "freightPrice": money(order.freight),
        "sellerDiscount": money(order.discount()),
        "balanceUsed": "0.00",
        "orderState": state,
        "orderStateRemark": remark,
        "deliveryType": "任意时间",
        "invoiceInfo": "不需要开具发票",
        "orderStartTime": beijing(order.created),
        "modified": beijing(order.modified),
        "pin": p.nick,
        "open_id_buyer": format!("jd_open_{:x}", order.id % 0xffff_ffff),
        "storeOrder": "",
        "returnOrder": "0",
        "consigneeInfo": {
            "fullname": p.name,
            "mobile": p.phone,
            "telephone": "",
            "fullAddress": full_address,
            "province": p.province,
            "city": p.city,
            "county": p.district,
            "town": p.town,
        },
        "itemInfoList": items,
        "couponDetailList": coupons,
    });
    if let Some(paid) = order.paid_at {
        o["paymentConfirmTime"] = json!(beijing(paid));
    }
    if let Some(memo) = order.memo {
        o["orderRemark"] = json!(memo);
    }
    if let Some(memo) = order.seller_memo {
        o["venderRemark"] = json!(memo);
    }
    if order.lines.iter().any(|l| l.shipped) {
        o["waybill"] = json!(format!("JDV{}", order.id));
        o["logisticsId"] = json!("2087");
    }
    if matches!(order.stage, Stage::Completed | Stage::Cancelled) {
        o["orderEndTime"] = json!(beijing(order.modified));
    }
    match order.malformed {
        Some(Malformation::Money) => o["orderPayment"] = json!(format!("{}5", money(order.paid()))),
        Some(Malformation::Status) => o["orderState"] = json!("WAIT_SOMETHING_NEW"),
        None => {}
    }
    o
}

pub(crate) fn render_refund(order: &SimOrder, r: &Refund) -> Value {
    json!({
        "id": r.id,
        "orderId": order.id.to_string(),
        "applyRefundSum": money(r.amount),
        "status": refund_status(r),
        "applyTime": beijing(r.created),
        "checkTime": beijing(r.modified),
        "refundReason": r.reason,
        "buyerId": order.person.nick,
        "buyerName": order.person.name,
        "checkUsername": "sim",
    })
}

pub(crate) fn error(code: &str, zh: &str, en: &str) -> Response {
    Json(json!({"error_response": {"code": code, "zh_desc": zh, "en_desc": en}})).into_response()
}

pub(crate) fn invalid(en: &str) -> Response {
    error("66", "参数错误", &format!("Invalid parameter: {en}"))
}

fn authenticate(spec: &ShopSpec, p: &BTreeMap<String, String>) -> Result<(), Response> {
    let bad_sign = || error("17", "签名错误", "Invalid signature");
    if p.get("app_key").map(String::as_str) != Some(spec.credential(0)) {
        return Err(bad_sign());
    }
    let given = p.get("sign").ok_or_else(bad_sign)?;
    if !sign::same(&sign::jd_md5(p, spec.credential(1)), given) {
        return Err(bad_sign());
    }
    if p.get("access_token").map(String::as_str) != Some(spec.credential(2)) {
        return Err(error("19", "无效的access_token", "Invalid access_token"));
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

/// A business parameter as a string (JD sends `"1"` but a number is accepted too).
fn text(b: &Map<String, Value>, name: &str) -> Option<String> {
    match b.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn time_param(b: &Map<String, Value>, name: &str) -> Result<OffsetDateTime, Response> {
    let s = text(b, name).ok_or_else(|| invalid(&format!("{name} is missing")))?;
    parse_beijing(&s).ok_or_else(|| invalid(&format!("{name} {s:?} is not yyyy-MM-dd HH:mm:ss")))
}

fn number_param(
    b: &Map<String, Value>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, Response> {
    match text(b, name) {
        None => Ok(default),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(invalid(&format!("{name} must be within 1..={max}"))),
        },
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
            return Err(bad(invalid(&format!("{name} is missing"))));
        }
    }
    if parse_beijing(&p["timestamp"]).is_none() {
        return Err(bad(invalid("timestamp is not yyyy-MM-dd HH:mm:ss")));
    }
    let business: Map<String, Value> = match p
        .get("360buy_param_json")
        .map(|s| serde_json::from_str::<Value>(s))
    {
        Some(Ok(Value::Object(m))) => m,
        _ => return Err(bad(invalid("360buy_param_json is not a JSON object"))),
    };
    if p["method"] == "jingdong.pop.order.shipment" {
        return crate::writeback::jd_shipment(sim, spec, &business)
            .await
            .map_err(bad);
    }
    let refunds = match p["method"].as_str() {
        "jingdong.pop.order.search" => false,
        "jingdong.pop.afs.soa.refundapply.queryPageList" => true,
        other => {
            return Err(bad(error(
                "22",
                "无效的方法",
                &format!("Invalid method {other}"),
            )));
        }
    };
    if refunds && let Some(broken) = spec.faults.refunds_broken {
        return Ok(match broken {
            RefundsBroken::NotFound => crate::faults::echoing_not_found("/routerjson", p),
            RefundsBroken::NoPermission => {
                error("12", "接口无权访问", "No permission for this api")
            }
        });
    }
    let (start_name, end_name, page_name, size_name, size_max) = if refunds {
        (
            "checkTimeStart",
            "checkTimeEnd",
            "pageIndex",
            "pageSize",
            REFUND_PAGE_SIZE_MAX,
        )
    } else {
        (
            "start_date",
            "end_date",
            "page",
            "page_size",
            ORDER_PAGE_SIZE_MAX,
        )
    };
    let start = time_param(&business, start_name).map_err(bad)?;
    let end = time_param(&business, end_name).map_err(bad)?;
    if end < start {
        return Err(bad(invalid(&format!("{end_name} is before {start_name}"))));
    }
    if end - start > WINDOW_MAX {
        return Err(bad(invalid("the time window must not exceed one day")));
    }
    let page_no = number_param(&business, page_name, 1, 100_000).map_err(bad)?;
    let page_size = number_param(&business, size_name, size_max, size_max).map_err(bad)?;
    let states: Option<Vec<String>> = text(&business, "order_state")
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.split(',').map(|x| x.trim().to_owned()).collect());
    let by_created = text(&business, "dateType").as_deref() == Some("1");

    match sim.roll_fault(&spec.key) {
        Some(RequestFault::RateLimited) => {
            return Ok(error(
                "67",
                "调用次数超限",
                "Call frequency exceeded, retry after 1 seconds",
            ));
        }
        Some(RequestFault::ServerError) => {
            return Ok((StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable").into_response());
        }
        Some(RequestFault::Slow(ms)) => slow(ms).await,
        None => {}
    }

    let repeat = sim.roll_repeat(&spec.key, page_no);
    let rows = {
        let state = sim.lock();
        let Some(shop) = state.shop(&spec.key) else {
            return Err(error("19", "无效的access_token", "Invalid access_token"));
        };
        let mut rows = Vec::new();
        for order in &shop.orders {
            if refunds {
                for r in &order.refunds {
                    if (start..=end).contains(&r.modified) {
                        rows.push((r.modified, r.id, render_refund(order, r)));
                    }
                }
                continue;
            }
            let at = if by_created {
                order.created
            } else {
                order.modified
            };
            if !(start..=end).contains(&at) {
                continue;
            }
            let raw = render(&shop.served(order));
            let wanted = match (&states, raw["orderState"].as_str()) {
                (Some(states), Some(s)) => states.iter().any(|w| w == s),
                // A malformed order's unknown state still goes out: JD would not filter it.
                _ => true,
            };
            if wanted || order.malformed.is_some() {
                rows.push((at, order.id, raw));
            }
        }
        page_order(&mut rows);
        rows.into_iter().map(|(_, _, v)| v).collect::<Vec<_>>()
    };
    let page = paginate(rows, page_no, page_size, repeat);
    sim.count_repeated(page.repeated);
    let body = if refunds {
        json!({"jingdong_pop_afs_soa_refundapply_queryPageList_responce": {
            "code": "0",
            "queryResult": {"success": true, "result": page.rows, "totalCount": page.total},
        }})
    } else {
        json!({"jingdong_pop_order_search_responce": {
            "code": "0",
            "searchorderinfo_result": {
                "apiResult": {
                    "success": true,
                    "resultCode": "0",
                    "chineseErrCode": "成功",
                    "englishErrCode": "success",
                },
                "orderInfoList": page.rows,
                "orderTotal": page.total,
            },
        }})
    };
    Ok(Json(body).into_response())
}
