//! Taobao and Tmall (TOP API): one `trade` object with its sub-orders in `orders.order[]`, as
//! `taobao.trade.fullinfo.get` or `taobao.trades.sold.increment.get` return it (the object
//! inside the response wrapper). Money is in 元 as strings; times are Beijing local time.

use super::{Obj, ParseError, Reason, is_masked, sum};
use serde_json::Value;
use xt_shared::money::{Currency, Money};
use xt_shared::order::{
    Amounts, Buyer, OrderFlags, OrderLine, OrderState, OrderTimes, Platform, Receiver, RefundState,
    StandardOrder,
};

/// `Trade.status` and `Order.status`. The query-only aggregates `ALL_WAIT_PAY` and `ALL_CLOSED`
/// never appear on a trade, so they are refused like any unknown value.
pub const TRADE_STATUSES: &[(&str, OrderState)] = &[
    ("TRADE_NO_CREATE_PAY", OrderState::PendingPayment),
    ("WAIT_BUYER_PAY", OrderState::PendingPayment),
    ("PAY_PENDING", OrderState::PaymentProcessing),
    ("WAIT_PRE_AUTH_CONFIRM", OrderState::PaymentProcessing),
    ("WAIT_SELLER_SEND_GOODS", OrderState::Paid),
    ("PAID_FORBID_CONSIGN", OrderState::OnHold),
    ("SELLER_CONSIGNED_PART", OrderState::PartiallyShipped),
    ("WAIT_BUYER_CONFIRM_GOODS", OrderState::Shipped),
    ("TRADE_BUYER_SIGNED", OrderState::Delivered),
    ("TRADE_FINISHED", OrderState::Completed),
    ("TRADE_CLOSED", OrderState::Refunded),
    ("TRADE_CLOSED_BY_TAOBAO", OrderState::Cancelled),
];

/// `Order.refund_status` (the refund enum of `taobao.refunds.receive.get`, plus `NO_REFUND`).
pub const REFUND_STATUSES: &[(&str, RefundState)] = &[
    ("NO_REFUND", RefundState::None),
    ("WAIT_SELLER_AGREE", RefundState::Requested),
    ("WAIT_BUYER_RETURN_GOODS", RefundState::AwaitingReturn),
    ("WAIT_SELLER_CONFIRM_GOODS", RefundState::ReturnInTransit),
    ("SELLER_REFUSE_BUYER", RefundState::Refused),
    ("CLOSED", RefundState::Closed),
    ("SUCCESS", RefundState::Refunded),
    (
        "WAIT_BUYER_CONFIRM_EXCHANGE_SELLER_SEND_GOODS",
        RefundState::Exchanging,
    ),
    ("WAIT_SELLER_CONSIGN_GOODS", RefundState::Exchanging),
    // The buyer turned an exchange into a refund request.
    ("EXCHANGE_TRANSFORM_TO_REFUND", RefundState::Requested),
];

const CNY: Currency = Currency::CNY;

/// Parses one TOP `trade`. A trade whose sub-orders are Tmall's (`seller_type` `B`) is Tmall.
pub fn parse_order(raw: &Value) -> Result<StandardOrder, ParseError> {
    let t = Obj::root(Platform::Taobao, raw)?;
    // `tid_str` is the exact text of `tid`; prefer it when a JSON layer may have rounded `tid`.
    let platform_order_no = match t.opt_id("tid_str")? {
        Some(_) => t.doc_no("tid_str")?,
        None => t.doc_no("tid")?,
    };
    let status_text = t.str("status")?;
    let status = t.status("status", TRADE_STATUSES)?;
    let trade_type = t.opt_str("type")?;

    let line_objs = t.obj("orders")?.objects("order")?;
    if line_objs.is_empty() {
        return Err(t.err(
            "orders.order",
            Reason::Invalid("the trade has no orders".into()),
        ));
    }
    let mut lines = Vec::with_capacity(line_objs.len());
    let mut tmall = false;
    let mut refunded = Vec::new();
    for o in &line_objs {
        tmall |= o.opt_str("seller_type")? == Some("B");
        let line = parse_line(o)?;
        if line.refund == Some(RefundState::Refunded) {
            refunded.push(line.paid.unwrap_or(Money::new(0, CNY)));
        }
        lines.push(line);
    }
    let platform = if tmall {
        Platform::Tmall
    } else {
        Platform::Taobao
    };

    let paid = t.money("payment", CNY)?;
    let cod = trade_type == Some("cod");
    let amounts = Amounts {
        goods: t.money("total_fee", CNY)?,
        discount: t.money_or_zero("discount_fee", CNY)?,
        freight: t.money_or_zero("post_fee", CNY)?,
        paid,
        cod_receivable: if cod { paid } else { Money::new(0, CNY) },
        refunded: sum(CNY, refunded)
            .ok_or_else(|| t.err("orders.order", Reason::Invalid("refunds overflow".into())))?,
    };

    let receiver = receiver(&t)?;
    Ok(StandardOrder {
        platform,
        platform_order_no,
        status,
        platform_status: status_text.to_owned(),
        buyer: Buyer {
            platform,
            open_uid: t.opt_string("buyer_open_uid")?,
            customer_id: None,
            email_sha256: None,
            nick: t.opt_string("buyer_nick")?,
        },
        receiver,
        amounts,
        times: OrderTimes {
            created: t.beijing_time("created")?,
            paid: t.opt_beijing_time("pay_time")?,
            modified: t.beijing_time("modified")?,
        },
        // `buyer_message` is what the buyer wrote at checkout (留言); `buyer_memo` is the
        // buyer's private note, used only when there is no message.
        buyer_memo: match t.opt_string("buyer_message")? {
            Some(m) => Some(m),
            None => t.opt_string("buyer_memo")?,
        },
        seller_memo: t.opt_string("seller_memo")?,
        flags: OrderFlags {
            cod,
            presale: trade_type == Some("step") || t.opt_str("step_trade_status")?.is_some(),
            test: false,
        },
        lines,
    })
}

fn parse_line(o: &Obj<'_>) -> Result<OrderLine, ParseError> {
    // A SKU-less item has no `outer_sku_id`; its merchant code is then the item's `outer_iid`.
    let merchant_sku = match o.opt_sku("outer_sku_id")? {
        Some(sku) => Some(sku),
        None => o.opt_sku("outer_iid")?,
    };
    // `divide_order_fee` is the paid amount after order-level discounts are shared out.
    let paid = match o.opt_money("divide_order_fee", CNY)? {
        Some(m) => Some(m),
        None => o.opt_money("payment", CNY)?,
    };
    Ok(OrderLine {
        line_id: o.doc_no("oid")?,
        platform_sku_id: o.opt_id("sku_id")?,
        merchant_sku,
        title: o.opt_string("title")?.unwrap_or_default(),
        quantity: o.quantity("num")?,
        unit_price: o.money("price", CNY)?,
        discount: o.money_or_zero("discount_fee", CNY)?,
        paid,
        status: Some(o.status("status", TRADE_STATUSES)?),
        refund: o.opt_status("refund_status", REFUND_STATUSES)?,
    })
}

fn receiver(t: &Obj<'_>) -> Result<Receiver, ParseError> {
    let name = t.opt_string("receiver_name")?;
    let phone = match t.opt_string("receiver_mobile")? {
        Some(m) => Some(m),
        None => t.opt_string("receiver_phone")?,
    };
    let district = t.opt_string("receiver_district")?;
    // A county-level city under a province (济源) comes as district with an empty city; the
    // platform's own advice is to use it as the city.
    let city = match t.opt_string("receiver_city")? {
        Some(c) => Some(c),
        None => district.clone(),
    };
    Ok(Receiver {
        masked: is_masked(&[&name, &phone]),
        name,
        phone,
        country: Some(
            t.opt_string("receiver_country")?
                .unwrap_or_else(|| "CN".into()),
        ),
        province: t.opt_string("receiver_state")?,
        city,
        district,
        town: t.opt_string("receiver_town")?,
        address: t.opt_string("receiver_address")?,
        zip: t.opt_string("receiver_zip")?,
    })
}
