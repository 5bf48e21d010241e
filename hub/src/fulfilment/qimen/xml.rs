//! The XML bodies of the calls the hub makes (`deliveryorder.create`, `order.cancel`), the
//! `<response>` a 3PL answers with, and the `<response>` the hub answers a callback with
//! (`platform-formats.md` §5.1–5.2). Lists are a wrapper element holding one element per item;
//! names are camelCase. Text is escaped by the serializer; characters XML 1.0 cannot carry
//! (control characters but tab and line ends) become spaces first.

use super::sign::beijing;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use xt_shared::command::DeliveryOrder;
use xt_shared::model::UtcMillis;

/// `orderType` of every delivery order the hub sends: 一般交易出库 (a sale).
pub const ORDER_TYPE_SALE: &str = "JYCK";
/// `logisticsCode` when the hub leaves the carrier to the 3PL.
pub const CARRIER_ANY: &str = "OTHER";
/// `inventoryType` of what is sold: 正品 (sellable stock).
pub const INVENTORY_SELLABLE: &str = "ZP";

/// `text` without the characters XML 1.0 cannot carry.
fn clean(text: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    if text.chars().any(bad) {
        Cow::Owned(text.chars().map(|c| if bad(c) { ' ' } else { c }).collect())
    } else {
        Cow::Borrowed(text)
    }
}

fn is_empty(text: &str) -> bool {
    text.trim().is_empty()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateXml<'a> {
    delivery_order: DeliveryOrderXml<'a>,
    order_lines: OrderLinesXml<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryOrderXml<'a> {
    delivery_order_code: Cow<'a, str>,
    order_type: &'static str,
    warehouse_code: Cow<'a, str>,
    create_time: String,
    place_order_time: String,
    operate_time: String,
    shop_nick: Cow<'a, str>,
    logistics_code: &'static str,
    #[serde(skip_serializing_if = "is_empty")]
    buyer_message: Cow<'a, str>,
    #[serde(skip_serializing_if = "is_empty")]
    seller_message: Cow<'a, str>,
    receiver_info: ReceiverXml<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReceiverXml<'a> {
    name: Cow<'a, str>,
    #[serde(skip_serializing_if = "is_empty")]
    zip_code: Cow<'a, str>,
    mobile: Cow<'a, str>,
    province: Cow<'a, str>,
    city: Cow<'a, str>,
    #[serde(skip_serializing_if = "is_empty")]
    area: Cow<'a, str>,
    detail_address: Cow<'a, str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderLinesXml<'a> {
    order_line: Vec<OrderLineXml<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderLineXml<'a> {
    order_line_no: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_order_code: Option<Cow<'a, str>>,
    owner_code: Cow<'a, str>,
    item_code: Cow<'a, str>,
    item_name: Cow<'a, str>,
    inventory_type: &'static str,
    plan_qty: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelXml<'a> {
    warehouse_code: Cow<'a, str>,
    owner_code: Cow<'a, str>,
    order_code: Cow<'a, str>,
    order_type: &'static str,
    #[serde(skip_serializing_if = "is_empty")]
    cancel_reason: Cow<'a, str>,
}

/// Serializes `value` as `<request>…</request>` after an XML declaration, indented by two.
fn request_xml(value: &impl Serialize) -> Vec<u8> {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let mut ser = quick_xml::se::Serializer::with_root(&mut out, Some("request"))
        .expect("\"request\" is an XML name");
    ser.indent(' ', 2);
    // Our own structs of strings and integers, under a fixed root: nothing can fail.
    value
        .serialize(ser)
        .expect("a request of strings and integers serializes");
    out.push('\n');
    out.into_bytes()
}

/// The `deliveryorder.create` body of `order` for the 3PL's owner `owner_code` (its
/// `customerId`), with `operateTime` `now`. The placement time is the delivery order's
/// creation time (the hub's delivery order may merge several platform orders); the carrier is
/// left to the 3PL. A line names its platform order only when the delivery fulfils one.
pub fn create_body(order: &DeliveryOrder, owner_code: &str, now: UtcMillis) -> Vec<u8> {
    let created = beijing(order.created_at);
    let source = match order.order_nos.as_slice() {
        [one] => Some(clean(one.as_str())),
        _ => None,
    };
    let r = &order.receiver;
    let body = CreateXml {
        delivery_order: DeliveryOrderXml {
            delivery_order_code: clean(order.delivery_no.as_str()),
            order_type: ORDER_TYPE_SALE,
            warehouse_code: clean(order.warehouse.as_str()),
            create_time: created.clone(),
            place_order_time: created,
            operate_time: beijing(now),
            shop_nick: clean(order.shop.as_str()),
            logistics_code: CARRIER_ANY,
            buyer_message: clean(order.buyer_memo.as_deref().unwrap_or("")),
            seller_message: clean(order.seller_memo.as_deref().unwrap_or("")),
            receiver_info: ReceiverXml {
                name: clean(&r.name),
                zip_code: clean(&r.zip),
                mobile: clean(&r.phone),
                province: clean(&r.province),
                city: clean(&r.city),
                area: clean(&r.district),
                detail_address: clean(&r.address),
            },
        },
        order_lines: OrderLinesXml {
            order_line: order
                .lines
                .iter()
                .enumerate()
                .map(|(i, line)| OrderLineXml {
                    order_line_no: (i + 1).to_string(),
                    source_order_code: source.clone(),
                    owner_code: clean(owner_code),
                    item_code: clean(line.sku.as_str()),
                    item_name: clean(&line.title),
                    inventory_type: INVENTORY_SELLABLE,
                    plan_qty: line.quantity,
                })
                .collect(),
        },
    };
    request_xml(&body)
}

/// The `order.cancel` body of the delivery order `delivery_no` in `warehouse`.
pub fn cancel_body(warehouse: &str, owner_code: &str, delivery_no: &str, reason: &str) -> Vec<u8> {
    request_xml(&CancelXml {
        warehouse_code: clean(warehouse),
        owner_code: clean(owner_code),
        order_code: clean(delivery_no),
        order_type: ORDER_TYPE_SALE,
        cancel_reason: clean(reason),
    })
}

/// A 3PL's `<response>`, read as text fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// `flag` was `success`.
    pub success: bool,
    pub code: String,
    pub message: String,
    /// `deliveryorder.create`: the 3PL's own id of the delivery order, when it says one.
    pub delivery_order_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseXml {
    flag: Option<String>,
    code: Option<String>,
    message: Option<String>,
    delivery_order_id: Option<String>,
}

/// Reads a `<response>`; the reason when it is not one (not UTF-8, not XML, no `flag` or a
/// `flag` other than `success` / `failure`).
pub fn parse_response(body: &[u8]) -> Result<Response, String> {
    let text = std::str::from_utf8(body).map_err(|_| "response is not UTF-8".to_owned())?;
    let xml: ResponseXml = quick_xml::de::from_str(text)
        .map_err(|e| format!("response is not a qimen <response>: {e}"))?;
    let success = match xml.flag.as_deref().map(str::trim) {
        Some(flag) if flag.eq_ignore_ascii_case("success") => true,
        Some(flag) if flag.eq_ignore_ascii_case("failure") => false,
        Some(flag) => {
            return Err(format!(
                "response flag {:?} is neither success nor failure",
                flag.chars().take(40).collect::<String>()
            ));
        }
        None => return Err("response has no flag".to_owned()),
    };
    let text = |v: Option<String>| v.map(|s| s.trim().to_owned()).unwrap_or_default();
    Ok(Response {
        success,
        code: text(xml.code),
        message: text(xml.message),
        delivery_order_id: xml
            .delivery_order_id
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty()),
    })
}

#[derive(Serialize)]
struct ReplyXml<'a> {
    flag: &'static str,
    code: Cow<'a, str>,
    message: Cow<'a, str>,
}

fn reply(flag: &'static str, code: &str, message: &str) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    let ser = quick_xml::se::Serializer::with_root(&mut out, Some("response"))
        .expect("\"response\" is an XML name");
    ReplyXml {
        flag,
        code: clean(code),
        message: clean(message),
    }
    .serialize(ser)
    .expect("a reply of strings serializes");
    out
}

/// What the hub answers a callback it took (or had taken before: the answer is the same).
pub fn success_reply() -> String {
    reply("success", "0", "ok")
}

/// What the hub answers a callback it refused, with a code and the reason.
pub fn failure_reply(code: &str, message: &str) -> String {
    reply("failure", code, message)
}
