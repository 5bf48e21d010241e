//! The Qimen wire format as a 3PL speaks it (`platform-formats.md` §5): the signature, the
//! `deliveryorder.create` and `order.cancel` bodies it reads, the `<response>` it answers with
//! and the `deliveryorder.confirm` it sends. Written from the reference, not from the hub's
//! client, so the two check each other.

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `MD5(secret + sorted name/value pairs but sign + body + secret)`, upper-case hex.
pub fn qimen_md5(params: &BTreeMap<String, String>, body: &[u8], secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(secret.as_bytes());
    for (k, v) in params.iter().filter(|(k, _)| k.as_str() != "sign") {
        md5.update(k.as_bytes());
        md5.update(v.as_bytes());
    }
    md5.update(body);
    md5.update(secret.as_bytes());
    hex::encode_upper(md5.finalize())
}

/// The Qimen carrier codes (`platform-formats.md` §5 and §7.2) the 3PL ships with.
pub const CARRIERS: &[&str] = &[
    "SF", "EMS", "EYB", "ZJS", "YTO", "ZTO", "HTKY", "UC", "STO", "TTKDEX", "QFKD", "FAST",
    "POSTB", "GTO", "YUNDA", "JD", "DD", "AMAZON", "OTHER",
];

/// A tracking number in the carrier's usual shape, from a running number.
pub fn tracking_no(carrier: &str, n: u64) -> String {
    match carrier {
        "SF" => format!("SF{:013}", 1_400_000_000_000 + n),
        "ZTO" => format!("{:012}", 753_000_000_000 + n),
        "YTO" => format!("YT{:013}", 8_800_000_000_000 + n),
        "YUNDA" => format!("{:013}", 4_312_000_000_000 + n),
        "STO" => format!("{:012}", 773_000_000_000 + n),
        "JD" => format!("JDV{:012}", 20_000_000_000 + n),
        "EMS" | "EYB" | "POSTB" => format!("{:013}", 9_800_000_000_000 + n),
        other => format!("{other}{:010}", n),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRequest {
    pub delivery_order: Option<DeliveryOrderIn>,
    pub order_lines: Option<OrderLinesIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOrderIn {
    pub delivery_order_code: Option<String>,
    pub order_type: Option<String>,
    pub warehouse_code: Option<String>,
    pub create_time: Option<String>,
    pub place_order_time: Option<String>,
    pub operate_time: Option<String>,
    pub shop_nick: Option<String>,
    pub logistics_code: Option<String>,
    pub receiver_info: Option<ReceiverIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverIn {
    pub name: Option<String>,
    pub mobile: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub detail_address: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct OrderLinesIn {
    #[serde(default, rename = "orderLine")]
    pub lines: Vec<OrderLineIn>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLineIn {
    pub order_line_no: Option<String>,
    pub owner_code: Option<String>,
    pub item_code: Option<String>,
    pub plan_qty: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    pub warehouse_code: Option<String>,
    pub order_code: Option<String>,
    pub cancel_reason: Option<String>,
}

/// A field's trimmed text, `None` when absent or blank.
pub fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseOut<'a> {
    flag: &'a str,
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    create_time: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivery_order_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warehouse_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logistics_code: Option<&'a str>,
}

fn xml_with_root(root: &str, value: &impl Serialize) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    let mut ser =
        quick_xml::se::Serializer::with_root(&mut out, Some(root)).expect("a fixed root name");
    ser.indent(' ', 2);
    value
        .serialize(ser)
        .expect("strings and integers serialize");
    out
}

pub fn failure(code: &str, message: &str) -> String {
    xml_with_root(
        "response",
        &ResponseOut {
            flag: "failure",
            code,
            message,
            create_time: None,
            delivery_order_id: None,
            warehouse_code: None,
            logistics_code: None,
        },
    )
}

pub fn success() -> String {
    created(None, None, None, None)
}

/// `deliveryorder.create`'s success, with what the 3PL assigned.
pub fn created(
    create_time: Option<&str>,
    delivery_order_id: Option<&str>,
    warehouse_code: Option<&str>,
    logistics_code: Option<&str>,
) -> String {
    xml_with_root(
        "response",
        &ResponseOut {
            flag: "success",
            code: "0",
            message: "ok",
            create_time,
            delivery_order_id,
            warehouse_code,
            logistics_code,
        },
    )
}

/// Whether a callback's answer is a `<response>` with `flag` success.
pub fn is_success(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Flag {
        flag: Option<String>,
    }
    std::str::from_utf8(body)
        .ok()
        .and_then(|t| quick_xml::de::from_str::<Flag>(t).ok())
        .and_then(|f| f.flag)
        .is_some_and(|f| f.trim().eq_ignore_ascii_case("success"))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmOut {
    pub delivery_order: ConfirmOrderOut,
    pub packages: PackagesOut,
    pub order_lines: ConfirmLinesOut,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmOrderOut {
    pub delivery_order_code: String,
    pub delivery_order_id: String,
    pub warehouse_code: String,
    pub order_type: String,
    pub status: String,
    pub out_biz_code: String,
    pub confirm_type: u8,
    pub order_confirm_time: String,
    pub operator_code: String,
    pub operate_time: String,
}

#[derive(Serialize)]
pub struct PackagesOut {
    pub package: Vec<PackageOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PackageOut {
    pub logistics_code: String,
    pub express_code: String,
    pub package_code: String,
    pub items: ItemsOut,
}

#[derive(Serialize)]
pub struct ItemsOut {
    pub item: Vec<ItemOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemOut {
    pub item_code: String,
    pub quantity: i64,
}

#[derive(Serialize)]
pub struct ConfirmLinesOut {
    #[serde(rename = "orderLine")]
    pub lines: Vec<ConfirmLineOut>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmLineOut {
    pub order_line_no: String,
    pub owner_code: String,
    pub item_code: String,
    pub inventory_type: &'static str,
    pub plan_qty: i64,
    pub actual_qty: i64,
}

pub fn confirm_body(confirm: &ConfirmOut) -> String {
    xml_with_root("request", confirm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_wraps_sorted_pairs_and_the_body_in_the_secret() {
        // printf '%s' 'sapp_keykmethodm<r/>s' | md5sum
        let params: BTreeMap<String, String> = [("method", "m"), ("app_key", "k"), ("sign", "x")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(
            qimen_md5(&params, b"<r/>", "s"),
            "F69724E238CD20A885F4EE19F357A486"
        );
    }

    #[test]
    fn answers_are_responses() {
        assert!(is_success(success().as_bytes()));
        assert!(!is_success(failure("E", "no").as_bytes()));
        assert!(!is_success(b"ok"));
        assert!(failure("E", "<&>").contains("&lt;&amp;&gt;"));
    }

    #[test]
    fn tracking_numbers_differ_per_parcel() {
        assert_eq!(tracking_no("SF", 1), "SF1400000000001");
        assert_ne!(tracking_no("ZTO", 1), tracking_no("ZTO", 2));
    }
}
