//! WooCommerce REST (`wc/v3/orders`): one order object. Money is a string in the shop currency;
//! times are taken from the `*_gmt` fields (the plain `date_*` ones are shop-local without an
//! offset, so they are never used).

use super::{Obj, ParseError, Reason, email_sha256, is_masked, join, sum};
use serde_json::Value;
use xt_shared::money::{Currency, Money};
use xt_shared::order::{
    Amounts, Buyer, OrderFlags, OrderLine, OrderState, OrderTimes, Platform, Receiver, RefundState,
    StandardOrder,
};

/// `status` as the REST API gives it (without the internal `wc-` prefix).
pub const ORDER_STATUSES: &[(&str, OrderState)] = &[
    ("checkout-draft", OrderState::PendingPayment),
    ("pending", OrderState::PendingPayment),
    // Awaiting payment confirmation (bank transfer, cheque); stock is already reduced.
    ("on-hold", OrderState::PaymentProcessing),
    ("failed", OrderState::PaymentFailed),
    ("processing", OrderState::Paid),
    ("completed", OrderState::Completed),
    ("cancelled", OrderState::Cancelled),
    ("refunded", OrderState::Refunded),
    ("trash", OrderState::Deleted),
];

/// WooCommerce's built-in cash-on-delivery gateway id.
const PAYMENT_METHOD_COD: &str = "cod";

pub fn parse_order(raw: &Value) -> Result<StandardOrder, ParseError> {
    let o = Obj::root(Platform::Woocommerce, raw)?;
    let platform_order_no = o.doc_no("id")?;
    let status_text = o.str("status")?;
    let status = o.status("status", ORDER_STATUSES)?;
    let currency_text = o.str("currency")?;
    let currency = Currency::new(currency_text).map_err(|e| o.err("currency", Reason::Money(e)))?;

    let items = o.objects("line_items")?;
    if items.is_empty() {
        return Err(o.err(
            "line_items",
            Reason::Invalid("the order has no line items".into()),
        ));
    }
    let mut lines = Vec::with_capacity(items.len());
    let mut goods = Vec::with_capacity(items.len());
    for item in &items {
        let quantity = item.quantity("quantity")?;
        let subtotal = item.money("subtotal", currency)?;
        let total = item.money("total", currency)?;
        goods.push(subtotal);
        // `price` is a JSON number (a float), so the unit price is derived from the exact
        // subtotal, rounded half up to the minor unit when it does not divide evenly.
        let q = i64::from(quantity);
        let unit_minor = (subtotal.minor + q / 2).div_euclid(q);
        let variation = item.opt_id("variation_id")?.filter(|v| v != "0");
        lines.push(OrderLine {
            line_id: item.doc_no("id")?,
            platform_sku_id: match variation {
                Some(v) => Some(v),
                None => item.opt_id("product_id")?,
            },
            merchant_sku: item.opt_sku("sku")?,
            title: item.opt_string("name")?.unwrap_or_default(),
            quantity,
            unit_price: Money::new(unit_minor, currency),
            discount: Money::new(subtotal.minor - total.minor, currency),
            paid: Some(total),
            status: None,
            // Refunds carry no line detail; only a fully refunded order says something per line.
            refund: (status == OrderState::Refunded).then_some(RefundState::Refunded),
        });
    }

    // Refund totals are negative strings ("-10.00"); the order's refunded amount is positive.
    let refunded = o
        .objects("refunds")?
        .iter()
        .map(|r| {
            r.money("total", currency)
                .map(|m| Money::new(m.minor.abs(), currency))
        })
        .collect::<Result<Vec<_>, _>>()?;

    let paid = o.money("total", currency)?;
    let cod = o.opt_str("payment_method")? == Some(PAYMENT_METHOD_COD);
    let billing = o.opt_obj("billing")?;
    let email = match &billing {
        Some(b) => b.opt_str("email")?,
        None => None,
    };
    let billing_phone = match &billing {
        Some(b) => b.opt_string("phone")?,
        None => None,
    };
    let receiver = match o.opt_obj("shipping")? {
        None => Receiver::default(),
        Some(s) => {
            let name = join(&[s.opt_str("first_name")?, s.opt_str("last_name")?]);
            // `shipping.phone` exists only in newer versions; the billing phone stands in.
            let phone = match s.opt_string("phone")? {
                Some(p) => Some(p),
                None => billing_phone,
            };
            Receiver {
                masked: is_masked(&[&name, &phone]),
                name,
                phone,
                country: s.opt_string("country")?,
                province: s.opt_string("state")?,
                city: s.opt_string("city")?,
                district: None,
                town: None,
                address: join(&[s.opt_str("address_1")?, s.opt_str("address_2")?]),
                zip: s.opt_string("postcode")?,
            }
        }
    };

    Ok(StandardOrder {
        platform: Platform::Woocommerce,
        platform_order_no,
        status,
        platform_status: status_text.to_owned(),
        buyer: Buyer {
            platform: Platform::Woocommerce,
            open_uid: None,
            // Guests have customer id 0.
            customer_id: o.opt_id("customer_id")?.filter(|c| c != "0"),
            email_sha256: email.map(email_sha256),
            nick: None,
        },
        receiver,
        amounts: Amounts {
            goods: sum(currency, goods)
                .ok_or_else(|| o.err("line_items", Reason::Invalid("goods overflow".into())))?,
            discount: o.money_or_zero("discount_total", currency)?,
            freight: o.money_or_zero("shipping_total", currency)?,
            paid,
            cod_receivable: if cod { paid } else { Money::new(0, currency) },
            refunded: sum(currency, refunded)
                .ok_or_else(|| o.err("refunds", Reason::Invalid("refunds overflow".into())))?,
        },
        times: OrderTimes {
            created: o.gmt_time("date_created_gmt")?,
            paid: o.opt_gmt_time("date_paid_gmt")?,
            modified: o.gmt_time("date_modified_gmt")?,
        },
        buyer_memo: o.opt_string("customer_note")?,
        seller_memo: None,
        flags: OrderFlags {
            cod,
            presale: false,
            test: false,
        },
        lines,
    })
}
