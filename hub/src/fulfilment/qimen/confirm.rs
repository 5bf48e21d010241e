//! A 3PL's `deliveryorder.confirm` callback (`platform-formats.md` §5.3): the signature checked
//! before anything of the body is read, then the XML parsed once into a [`QimenConfirm`], every
//! refusal with the field and the reason.
//!
//! Quantities follow the reference's batch rule: each confirm reports what left in that batch
//! (`confirmType` 1 = an intermediate batch, 0 = the last one), never a running total. Its
//! idempotency key is `outBizCode`; a 3PL that confirms in one batch may leave it out, and then
//! the key is the delivery number with `#final` (there is only one such confirm).

use super::sign::{Params, parse_beijing, verify};
use serde::Deserialize;
use xt_shared::ids::{DocNo, Sku, WarehouseCode};
use xt_shared::model::{QuantityLine, UtcMillis};
use xt_shared::order::ORDER_LINES_MAX;

/// The methods a confirm may name: the 3PL's own, or the same through the TOP gateway.
pub const CONFIRM_METHODS: [&str; 2] = [
    "deliveryorder.confirm",
    "taobao.qimen.deliveryorder.confirm",
];
/// Largest confirm body read.
pub const CONFIRM_BYTES_MAX: usize = 1 << 20;
/// Most packages one confirm may carry.
pub const PACKAGES_MAX: usize = 200;
/// Most items per package and lines per confirm.
pub const ITEMS_MAX: usize = ORDER_LINES_MAX;
/// Longest carrier code, tracking number or `outBizCode` kept, in bytes.
pub const CODE_BYTES_MAX: usize = 64;

/// Whether this confirm closes the delivery order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmType {
    /// `confirmType` 0 (or absent): the last batch; the delivery order is shipped.
    Final,
    /// `confirmType` 1: an intermediate batch; more follow.
    Partial,
}

/// A verified shipment confirmation from a 3PL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QimenConfirm {
    /// `deliveryOrderCode`: the hub's delivery number.
    pub delivery_no: DocNo,
    /// `deliveryOrderId`: the 3PL's own id, when it says one.
    pub warehouse_order_id: Option<String>,
    /// `outBizCode`: this confirm's idempotency key (see the module doc when it is absent).
    pub out_biz_code: String,
    pub confirm_type: ConfirmType,
    pub warehouse_code: WarehouseCode,
    /// `status` as the 3PL wrote it (`DELIVERED`, `PARTDELIVERED`, …), when it did.
    pub status: Option<String>,
    /// `orderConfirmTime` (else `operateTime`), from Beijing time to UTC.
    pub order_confirm_time: UtcMillis,
    /// At least one: a confirm without a parcel ships nothing.
    pub packages: Vec<Package>,
    pub lines: Vec<ConfirmLine>,
}

/// One parcel: its carrier, its tracking number and what is in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// `logisticsCode`, a Qimen carrier code (`SF`, `ZTO`, … §7.2; [`is_known_carrier`]).
    pub logistics_code: String,
    /// `expressCode`: the tracking (waybill) number.
    pub express_code: String,
    /// What the parcel holds; empty when the 3PL lists quantities only per order line.
    pub items: Vec<QuantityLine>,
}

/// One order line of the confirm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmLine {
    pub line_no: Option<String>,
    pub sku: Sku,
    pub planned: Option<i64>,
    /// Shipped in this batch.
    pub actual: i64,
}

impl QimenConfirm {
    /// What left in this batch per SKU, in first-seen order: the order lines' actual
    /// quantities, or (when the 3PL sent no lines) the packages' items.
    pub fn shipped(&self) -> Vec<QuantityLine> {
        let mut out: Vec<QuantityLine> = Vec::new();
        let mut add = |sku: &Sku, quantity: i64| match out.iter_mut().find(|l| &l.sku == sku) {
            Some(line) => line.quantity += quantity,
            None => out.push(QuantityLine {
                sku: sku.clone(),
                quantity,
            }),
        };
        if self.lines.is_empty() {
            for item in self.packages.iter().flat_map(|p| &p.items) {
                add(&item.sku, item.quantity);
            }
        } else {
            for line in &self.lines {
                add(&line.sku, line.actual);
            }
        }
        out
    }
}

/// The Qimen carrier codes of `platform-formats.md` §5 and §7.2, with their names.
pub const CARRIERS: &[(&str, &str)] = &[
    ("SF", "顺丰"),
    ("EMS", "EMS 标准快递"),
    ("EYB", "EMS 经济快件"),
    ("ZJS", "宅急送"),
    ("YTO", "圆通"),
    ("ZTO", "中通"),
    ("HTKY", "百世汇通"),
    ("UC", "优速"),
    ("STO", "申通"),
    ("TTKDEX", "天天"),
    ("QFKD", "全峰"),
    ("FAST", "快捷"),
    ("POSTB", "邮政小包"),
    ("GTO", "国通"),
    ("YUNDA", "韵达"),
    ("JD", "京东配送"),
    ("DD", "当当宅配"),
    ("AMAZON", "亚马逊物流"),
    ("OTHER", "其他"),
];

/// Whether `code` is one of the Qimen carrier codes. An unknown one is kept as sent (the 3PL
/// shipped the parcel whatever it calls its carrier); mapping it for a platform may fail later.
pub fn is_known_carrier(code: &str) -> bool {
    CARRIERS.iter().any(|(c, _)| *c == code)
}

/// Why a confirm callback was refused. Nothing of a refused confirm is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmError {
    #[error("the query has no sign parameter")]
    MissingSignature,
    #[error("the sign parameter does not match the query and body")]
    BadSignature,
    #[error("query parameter {0} is given more than once")]
    RepeatedParameter(String),
    #[error("method {0:?} is not deliveryorder.confirm")]
    WrongMethod(String),
    #[error("body of {0} bytes is larger than {CONFIRM_BYTES_MAX} bytes")]
    TooLarge(usize),
    #[error("body is not a well-formed confirm: {0}")]
    MalformedXml(String),
    #[error("field {0} is missing")]
    Missing(String),
    #[error("field {field}: {reason}")]
    Invalid { field: String, reason: String },
}

impl ConfirmError {
    /// The `code` of the failure reply (see [`super::failure_reply`]).
    pub fn code(&self) -> &'static str {
        match self {
            ConfirmError::MissingSignature | ConfirmError::BadSignature => "sign-check-failure",
            ConfirmError::RepeatedParameter(_) | ConfirmError::WrongMethod(_) => {
                "invalid-parameter"
            }
            ConfirmError::TooLarge(_) => "body-too-large",
            ConfirmError::MalformedXml(_) => "invalid-xml",
            ConfirmError::Missing(_) | ConfirmError::Invalid { .. } => "invalid-field",
        }
    }
}

/// Checks a `deliveryorder.confirm` callback: `query` is the raw query string (system
/// parameters with `sign`), `body` the raw XML, `secret` the 3PL's app secret. The signature
/// (constant time) is checked before the body is parsed.
pub fn verify_confirm(
    query: &str,
    body: &[u8],
    secret: &str,
) -> Result<QimenConfirm, ConfirmError> {
    if body.len() > CONFIRM_BYTES_MAX {
        return Err(ConfirmError::TooLarge(body.len()));
    }
    let mut params = Params::new();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if params
            .insert(name.to_string(), value.into_owned())
            .is_some()
        {
            return Err(ConfirmError::RepeatedParameter(cut(&name)));
        }
    }
    let given = params.get("sign").ok_or(ConfirmError::MissingSignature)?;
    if secret.is_empty() || !verify(&params, body, secret, given) {
        return Err(ConfirmError::BadSignature);
    }
    let method = params.get("method").map(String::as_str).unwrap_or("");
    if !CONFIRM_METHODS.contains(&method) {
        return Err(ConfirmError::WrongMethod(cut(method)));
    }
    parse_confirm(body)
}

/// `text` cut to [`CODE_BYTES_MAX`] bytes (on a character boundary) for an error message.
fn cut(text: &str) -> String {
    let mut end = text.len().min(CODE_BYTES_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfirmXml {
    delivery_order: Option<DeliveryOrderXml>,
    packages: Option<PackagesXml>,
    order_lines: Option<OrderLinesXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryOrderXml {
    delivery_order_code: Option<String>,
    delivery_order_id: Option<String>,
    warehouse_code: Option<String>,
    status: Option<String>,
    out_biz_code: Option<String>,
    confirm_type: Option<String>,
    order_confirm_time: Option<String>,
    operate_time: Option<String>,
}

#[derive(Deserialize)]
struct PackagesXml {
    #[serde(default)]
    package: Vec<PackageXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PackageXml {
    logistics_code: Option<String>,
    express_code: Option<String>,
    items: Option<ItemsXml>,
}

#[derive(Deserialize)]
struct ItemsXml {
    #[serde(default)]
    item: Vec<ItemXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ItemXml {
    item_code: Option<String>,
    quantity: Option<String>,
}

#[derive(Deserialize)]
struct OrderLinesXml {
    #[serde(default, rename = "orderLine")]
    order_line: Vec<OrderLineXml>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderLineXml {
    order_line_no: Option<String>,
    item_code: Option<String>,
    plan_qty: Option<String>,
    actual_qty: Option<String>,
}

/// A field's text, trimmed; missing when absent or blank.
fn required(value: &Option<String>, field: &str) -> Result<String, ConfirmError> {
    optional(value).ok_or_else(|| ConfirmError::Missing(field.to_owned()))
}

fn optional(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn invalid(field: &str, reason: impl Into<String>) -> ConfirmError {
    ConfirmError::Invalid {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A code (carrier, tracking number, outBizCode): at most [`CODE_BYTES_MAX`] bytes, no control
/// characters.
fn code(value: &Option<String>, field: &str) -> Result<String, ConfirmError> {
    let text = required(value, field)?;
    if text.len() > CODE_BYTES_MAX {
        return Err(invalid(
            field,
            format!("is longer than {CODE_BYTES_MAX} bytes"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(field, "contains a control character"));
    }
    Ok(text)
}

/// A quantity: a non-negative whole number.
fn quantity(text: &str, field: &str) -> Result<i64, ConfirmError> {
    match text.parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n),
        _ => Err(invalid(
            field,
            format!("{:?} is not a whole number of at least 0", cut(text)),
        )),
    }
}

fn sku(value: &Option<String>, field: &str) -> Result<Sku, ConfirmError> {
    Sku::new(required(value, field)?).map_err(|e| invalid(field, e.to_string()))
}

/// Parses a confirm body whose signature was checked.
pub(super) fn parse_confirm(body: &[u8]) -> Result<QimenConfirm, ConfirmError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        ConfirmError::MalformedXml(format!("not UTF-8 at byte {}", e.valid_up_to()))
    })?;
    let xml: ConfirmXml =
        quick_xml::de::from_str(text).map_err(|e| ConfirmError::MalformedXml(e.to_string()))?;
    let order = xml
        .delivery_order
        .ok_or_else(|| ConfirmError::Missing("deliveryOrder".into()))?;

    let f = "deliveryOrder.deliveryOrderCode";
    let delivery_no = DocNo::new(required(&order.delivery_order_code, f)?)
        .map_err(|e| invalid(f, e.to_string()))?;
    let f = "deliveryOrder.warehouseCode";
    let warehouse_code = WarehouseCode::new(required(&order.warehouse_code, f)?)
        .map_err(|e| invalid(f, e.to_string()))?;
    let f = "deliveryOrder.confirmType";
    let confirm_type = match optional(&order.confirm_type).as_deref() {
        None | Some("0") => ConfirmType::Final,
        Some("1") => ConfirmType::Partial,
        Some(other) => return Err(invalid(f, format!("{:?} is not 0 or 1", cut(other)))),
    };
    let out_biz_code = match (optional(&order.out_biz_code), confirm_type) {
        (Some(_), _) => code(&order.out_biz_code, "deliveryOrder.outBizCode")?,
        (None, ConfirmType::Final) => format!("{delivery_no}#final"),
        (None, ConfirmType::Partial) => {
            return Err(ConfirmError::Missing("deliveryOrder.outBizCode".into()));
        }
    };
    let (f, time) = match optional(&order.order_confirm_time) {
        Some(t) => ("deliveryOrder.orderConfirmTime", t),
        None => (
            "deliveryOrder.operateTime",
            required(
                &order.operate_time,
                "deliveryOrder.orderConfirmTime (or operateTime)",
            )?,
        ),
    };
    let order_confirm_time = parse_beijing(&time).ok_or_else(|| {
        invalid(
            f,
            format!("{:?} is not a yyyy-MM-dd HH:mm:ss time", cut(&time)),
        )
    })?;

    let raw_packages = xml.packages.map(|p| p.package).unwrap_or_default();
    if raw_packages.is_empty() {
        return Err(ConfirmError::Missing("packages.package".into()));
    }
    if raw_packages.len() > PACKAGES_MAX {
        return Err(invalid(
            "packages",
            format!(
                "has {} packages, more than {PACKAGES_MAX}",
                raw_packages.len()
            ),
        ));
    }
    let mut packages = Vec::with_capacity(raw_packages.len());
    for (i, p) in raw_packages.iter().enumerate() {
        let at = format!("packages.package[{i}]");
        let raw_items = p.items.as_ref().map(|x| x.item.as_slice()).unwrap_or(&[]);
        if raw_items.len() > ITEMS_MAX {
            return Err(invalid(
                &format!("{at}.items"),
                format!("has {} items, more than {ITEMS_MAX}", raw_items.len()),
            ));
        }
        let mut items = Vec::with_capacity(raw_items.len());
        for (j, item) in raw_items.iter().enumerate() {
            let at = format!("{at}.items.item[{j}]");
            let f = format!("{at}.quantity");
            items.push(QuantityLine {
                sku: sku(&item.item_code, &format!("{at}.itemCode"))?,
                quantity: quantity(&required(&item.quantity, &f)?, &f)?,
            });
        }
        packages.push(Package {
            logistics_code: code(&p.logistics_code, &format!("{at}.logisticsCode"))?,
            express_code: code(&p.express_code, &format!("{at}.expressCode"))?,
            items,
        });
    }

    let raw_lines = xml.order_lines.map(|l| l.order_line).unwrap_or_default();
    if raw_lines.len() > ITEMS_MAX {
        return Err(invalid(
            "orderLines",
            format!("has {} lines, more than {ITEMS_MAX}", raw_lines.len()),
        ));
    }
    let mut lines = Vec::with_capacity(raw_lines.len());
    for (i, line) in raw_lines.iter().enumerate() {
        let at = format!("orderLines.orderLine[{i}]");
        let planned = match optional(&line.plan_qty) {
            Some(text) => Some(quantity(&text, &format!("{at}.planQty"))?),
            None => None,
        };
        let f = format!("{at}.actualQty");
        lines.push(ConfirmLine {
            line_no: optional(&line.order_line_no),
            sku: sku(&line.item_code, &format!("{at}.itemCode"))?,
            planned,
            actual: quantity(&required(&line.actual_qty, &f)?, &f)?,
        });
    }

    Ok(QimenConfirm {
        delivery_no,
        warehouse_order_id: optional(&order.delivery_order_id),
        out_biz_code,
        confirm_type,
        warehouse_code,
        status: optional(&order.status),
        order_confirm_time,
        packages,
        lines,
    })
}
