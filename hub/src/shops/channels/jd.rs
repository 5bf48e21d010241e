//! JD POP (`jingdong.pop.order.search` / `.get`): one `OrderSearchInfo` object with camelCase
//! keys, every value a string, money in 元, times Beijing local time.

use super::{Obj, ParseError, Reason, is_masked, sum};
use serde_json::Value;
use xt_shared::money::{Currency, Money};
use xt_shared::order::{
    Amounts, Buyer, OrderFlags, OrderLine, OrderState, OrderTimes, Platform, Receiver,
    StandardOrder,
};

/// `orderState`. JD spells `SEND_TO_DISTRIBUTION_CENER` that way; `POP_ORDER_PAUSE` appears in
/// some docs next to `PAUSE`.
pub const ORDER_STATES: &[(&str, OrderState)] = &[
    ("WAIT_SELLER_STOCK_OUT", OrderState::Paid),
    // Cross-border (海外购) orders waiting to be sent.
    ("WAIT_SELLER_DELIVERY", OrderState::Paid),
    // LBP/SOPL: on the way to, or received at, JD's distribution centre.
    ("SEND_TO_DISTRIBUTION_CENER", OrderState::Shipped),
    ("DISTRIBUTION_CENTER_RECEIVED", OrderState::Shipped),
    ("WAIT_GOODS_RECEIVE_CONFIRM", OrderState::Shipped),
    // LBP/SOPL: payment collected on delivery confirmed.
    ("RECEIPTS_CONFIRM", OrderState::Delivered),
    ("FINISHED_L", OrderState::Completed),
    ("TRADE_CANCELED", OrderState::Cancelled),
    ("LOCKED", OrderState::OnHold),
    ("PAUSE", OrderState::OnHold),
    ("POP_ORDER_PAUSE", OrderState::OnHold),
];

/// `payType` value that means cash on delivery (货到付款) in JD's legacy list. The reference
/// calls `payType` ambiguous; only this value is interpreted, the rest stay unflagged.
const PAY_TYPE_COD: &str = "1";

const CNY: Currency = Currency::CNY;

pub fn parse_order(raw: &Value) -> Result<StandardOrder, ParseError> {
    let o = Obj::root(Platform::Jd, raw)?;
    let platform_order_no = o.doc_no("orderId")?;
    let status_text = o.str("orderState")?;
    let status = o.status("orderState", ORDER_STATES)?;

    let coupons = o
        .objects("couponDetailList")?
        .iter()
        .map(|c| -> Result<_, ParseError> {
            Ok((c.opt_id("skuId")?, c.money_or_zero("couponPrice", CNY)?))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let items = o.objects("itemInfoList")?;
    if items.is_empty() {
        return Err(o.err(
            "itemInfoList",
            Reason::Invalid("the order has no items".into()),
        ));
    }
    let mut lines = Vec::with_capacity(items.len());
    for item in &items {
        let sku_id = item.doc_no("skuId")?;
        let discount = sum(
            CNY,
            coupons
                .iter()
                .filter(|(s, _)| s.as_deref() == Some(sku_id.as_str()))
                .map(|(_, m)| *m),
        )
        .ok_or_else(|| {
            o.err(
                "couponDetailList",
                Reason::Invalid("coupons overflow".into()),
            )
        })?;
        lines.push(OrderLine {
            // JD items have no line id of their own; the SKU is unique within an order.
            platform_sku_id: Some(sku_id.as_str().to_owned()),
            // JD items have no line id of their own; the SKU is unique within an order.
            line_id: sku_id,
            // JD documents `outerSkuId` as "not guaranteed"; an empty one stays unmapped.
            merchant_sku: item.opt_sku("outerSkuId")?,
            title: item.opt_string("skuName")?.unwrap_or_default(),
            quantity: item.quantity("itemTotal")?,
            unit_price: item.money("jdPrice", CNY)?,
            discount,
            paid: None,
            status: None,
            refund: None,
        });
    }

    let paid = o.money("orderPayment", CNY)?;
    let cod = o.opt_str("payType")? == Some(PAY_TYPE_COD);
    let c = o.obj("consigneeInfo")?;
    let name = c.opt_string("fullname")?;
    let phone = match c.opt_string("mobile")? {
        Some(m) => Some(m),
        None => c.opt_string("telephone")?,
    };
    let province = c.opt_string("province")?;
    let city = c.opt_string("city")?;
    let district = c.opt_string("county")?;
    let town = c.opt_string("town")?;
    let address = c
        .opt_str("fullAddress")?
        .map(|full| street(full, &[&province, &city, &district, &town]));

    Ok(StandardOrder {
        platform: Platform::Jd,
        platform_order_no,
        status,
        platform_status: status_text.to_owned(),
        buyer: Buyer {
            platform: Platform::Jd,
            open_uid: o.opt_string("open_id_buyer")?,
            customer_id: None,
            email_sha256: None,
            nick: o.opt_string("pin")?,
        },
        receiver: Receiver {
            masked: is_masked(&[&name, &phone]),
            name,
            phone,
            country: Some("CN".into()),
            province,
            city,
            district,
            town,
            address,
            zip: None,
        },
        amounts: Amounts {
            goods: o.money("orderTotalPrice", CNY)?,
            discount: o.money_or_zero("sellerDiscount", CNY)?,
            freight: o.money_or_zero("freightPrice", CNY)?,
            paid,
            cod_receivable: if cod { paid } else { Money::new(0, CNY) },
            refunded: Money::new(0, CNY),
        },
        times: OrderTimes {
            created: o.beijing_time("orderStartTime")?,
            paid: o.opt_beijing_time("paymentConfirmTime")?,
            modified: o.beijing_time("modified")?,
        },
        buyer_memo: o.opt_string("orderRemark")?,
        seller_memo: o.opt_string("venderRemark")?,
        flags: OrderFlags {
            cod,
            presale: false,
            test: false,
        },
        lines,
    })
}

/// `fullAddress` repeats the region names before the street; strip them in order.
fn street(full: &str, regions: &[&Option<String>]) -> String {
    let mut rest = full.trim();
    for region in regions.iter().filter_map(|r| r.as_deref()) {
        if let Some(stripped) = rest.strip_prefix(region) {
            rest = stripped.trim_start();
        }
    }
    if rest.is_empty() {
        full.trim().to_owned()
    } else {
        rest.to_owned()
    }
}
