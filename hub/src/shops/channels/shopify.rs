//! Shopify Admin REST: the bare order object (as in `orders.json` items and `orders/*` webhooks),
//! with its `refunds` when present. Money is a string in the shop currency; times are ISO 8601
//! with an offset.
//!
//! Shopify has no single order status: the standard one comes from `cancelled_at`, `closed_at`,
//! `financial_status` and `fulfillment_status` together (see [`standard_status`]).

use super::{Obj, ParseError, Reason, email_sha256, is_masked, join, sum};
use serde_json::Value;
use std::collections::HashMap;
use xt_shared::money::{Currency, Money};
use xt_shared::order::{
    Amounts, Buyer, OrderFlags, OrderLine, OrderState, OrderTimes, Platform, Receiver, RefundState,
    StandardOrder,
};

/// What `financial_status` says about the money.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Financial {
    Unpaid,
    Authorized,
    Paid,
    Refunded,
    Voided,
}

/// `financial_status` (REST, plus `expired` from GraphQL).
pub const FINANCIAL_STATUSES: &[(&str, Financial)] = &[
    ("pending", Financial::Unpaid),
    ("partially_paid", Financial::Unpaid),
    ("authorized", Financial::Authorized),
    ("paid", Financial::Paid),
    ("partially_refunded", Financial::Paid),
    ("refunded", Financial::Refunded),
    ("voided", Financial::Voided),
    ("expired", Financial::Voided),
];

/// What `fulfillment_status` says about shipping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fulfillment {
    Unfulfilled,
    Partial,
    Fulfilled,
    Restocked,
}

/// `fulfillment_status`; `null` (absent) means unfulfilled, and `unfulfilled` is accepted as
/// its spelled-out form.
pub const FULFILLMENT_STATUSES: &[(&str, Fulfillment)] = &[
    ("unfulfilled", Fulfillment::Unfulfilled),
    ("partial", Fulfillment::Partial),
    ("fulfilled", Fulfillment::Fulfilled),
    ("restocked", Fulfillment::Restocked),
];

/// The standard status from Shopify's separate facts, most decisive first.
pub fn standard_status(
    financial: Financial,
    fulfillment: Fulfillment,
    cancelled: bool,
    closed: bool,
) -> OrderState {
    match (financial, fulfillment) {
        (Financial::Refunded, _) => OrderState::Refunded,
        (Financial::Voided, _) => OrderState::Cancelled,
        _ if cancelled => OrderState::Cancelled,
        // Restocked: the items came back to stock, the order is void.
        (_, Fulfillment::Restocked) => OrderState::Cancelled,
        (_, Fulfillment::Fulfilled) if closed => OrderState::Completed,
        (_, Fulfillment::Fulfilled) => OrderState::Shipped,
        (_, Fulfillment::Partial) => OrderState::PartiallyShipped,
        (Financial::Unpaid, Fulfillment::Unfulfilled) => OrderState::PendingPayment,
        (Financial::Authorized, Fulfillment::Unfulfilled) => OrderState::PaymentProcessing,
        (Financial::Paid, Fulfillment::Unfulfilled) => OrderState::Paid,
    }
}

pub fn parse_order(raw: &Value) -> Result<StandardOrder, ParseError> {
    let o = Obj::root(Platform::Shopify, raw)?;
    let platform_order_no = o.doc_no("id")?;
    let currency_text = o.str("currency")?;
    let currency = Currency::new(currency_text).map_err(|e| o.err("currency", Reason::Money(e)))?;

    let financial_text = o.str("financial_status")?;
    let financial = o.status("financial_status", FINANCIAL_STATUSES)?;
    let fulfillment_text = o.opt_str("fulfillment_status")?.unwrap_or("unfulfilled");
    let fulfillment = o
        .opt_status("fulfillment_status", FULFILLMENT_STATUSES)?
        .unwrap_or(Fulfillment::Unfulfilled);
    let cancelled = o.opt_str("cancelled_at")?.is_some();
    let closed = o.opt_str("closed_at")?.is_some();
    let status = standard_status(financial, fulfillment, cancelled, closed);

    // Refunds: quantities per line item and the money that went back.
    let mut refunded_qty: HashMap<String, u64> = HashMap::new();
    let mut refunded = Vec::new();
    for r in o.objects("refunds")? {
        for rl in r.objects("refund_line_items")? {
            *refunded_qty.entry(rl.id("line_item_id")?).or_default() += rl.count("quantity")?;
        }
        for tx in r.objects("transactions")? {
            if tx.opt_str("kind")? == Some("refund") && tx.opt_str("status")? == Some("success") {
                refunded.push(tx.money("amount", currency)?);
            }
        }
    }

    let items = o.objects("line_items")?;
    if items.is_empty() {
        return Err(o.err(
            "line_items",
            Reason::Invalid("the order has no line items".into()),
        ));
    }
    let mut lines = Vec::with_capacity(items.len());
    for item in &items {
        let line_id = item.doc_no("id")?;
        let quantity = item.quantity("quantity")?;
        let unit_price = item.money("price", currency)?;
        let discount = item.money_or_zero("total_discount", currency)?;
        let paid = unit_price
            .minor
            .checked_mul(i64::from(quantity))
            .and_then(|gross| gross.checked_sub(discount.minor))
            .map(|minor| Money::new(minor, currency))
            .ok_or_else(|| item.err("price", Reason::Invalid("line total overflows".into())))?;
        let refund = match refunded_qty.get(line_id.as_str()).copied().unwrap_or(0) {
            0 => RefundState::None,
            n if n < u64::from(quantity) => RefundState::PartiallyRefunded,
            _ => RefundState::Refunded,
        };
        let status = item
            .opt_status("fulfillment_status", FULFILLMENT_STATUSES)?
            .map(|f| standard_status(financial, f, cancelled, closed));
        lines.push(OrderLine {
            line_id,
            platform_sku_id: item.opt_id("variant_id")?,
            merchant_sku: item.opt_sku("sku")?,
            title: match item.opt_string("name")? {
                Some(n) => n,
                None => item.opt_string("title")?.unwrap_or_default(),
            },
            quantity,
            unit_price,
            discount,
            paid: Some(paid),
            status,
            refund: Some(refund),
        });
    }

    let freight = sum(
        currency,
        o.objects("shipping_lines")?
            .iter()
            .map(|s| s.money("price", currency))
            .collect::<Result<Vec<_>, _>>()?,
    )
    .ok_or_else(|| {
        o.err(
            "shipping_lines",
            Reason::Invalid("freight overflows".into()),
        )
    })?;
    let paid = o.money("total_price", currency)?;
    let gateway = o.opt_str("gateway")?.unwrap_or("").to_lowercase();
    let cod = gateway == "cod" || gateway.contains("cash on delivery");

    let customer_id = match o.opt_obj("customer")? {
        Some(c) => c.opt_id("id")?,
        None => None,
    };
    let receiver = match o.opt_obj("shipping_address")? {
        None => Receiver::default(),
        Some(a) => {
            let name = match a.opt_string("name")? {
                Some(n) => Some(n),
                None => join(&[a.opt_str("first_name")?, a.opt_str("last_name")?]),
            };
            let phone = a.opt_string("phone")?;
            Receiver {
                masked: is_masked(&[&name, &phone]),
                name,
                phone,
                country: a.opt_string("country_code")?,
                province: a.opt_string("province")?,
                city: a.opt_string("city")?,
                district: None,
                town: None,
                address: join(&[a.opt_str("address1")?, a.opt_str("address2")?]),
                zip: a.opt_string("zip")?,
            }
        }
    };
    // REST orders carry no payment time; `processed_at` is when the payment was processed, so
    // it counts only once the money is in.
    let paid_at = match financial {
        Financial::Paid | Financial::Refunded => o.opt_rfc3339("processed_at")?,
        _ => None,
    };

    Ok(StandardOrder {
        platform: Platform::Shopify,
        platform_order_no,
        status,
        platform_status: format!(
            "{financial_text}/{fulfillment_text}{}{}",
            if cancelled { "/cancelled" } else { "" },
            if closed { "/closed" } else { "" }
        ),
        buyer: Buyer {
            platform: Platform::Shopify,
            open_uid: None,
            customer_id,
            email_sha256: o.opt_str("email")?.map(email_sha256),
            nick: None,
        },
        receiver,
        amounts: Amounts {
            goods: o.money("total_line_items_price", currency)?,
            discount: o.money_or_zero("total_discounts", currency)?,
            freight,
            paid,
            cod_receivable: if cod { paid } else { Money::new(0, currency) },
            refunded: sum(currency, refunded)
                .ok_or_else(|| o.err("refunds", Reason::Invalid("refunds overflow".into())))?,
        },
        times: OrderTimes {
            created: o.rfc3339("created_at")?,
            paid: paid_at,
            modified: o.rfc3339("updated_at")?,
        },
        buyer_memo: o.opt_string("note")?,
        seller_memo: None,
        flags: OrderFlags {
            cod,
            presale: false,
            test: o.opt_bool("test")?.unwrap_or(false),
        },
        lines,
    })
}
