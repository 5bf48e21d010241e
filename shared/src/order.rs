//! The standard order: what every sales platform's order (Taobao/Tmall, JD, Shopify,
//! WooCommerce) becomes once parsed at the edge. One header, its lines, money in integer minor
//! units and times in UTC.
//!
//! The tenant and the shop are not part of it: capture knows them and puts them in the `Change`
//! envelope's origin. Platform ids stay strings so a 19-digit Taobao `tid` is kept exact.

use crate::ids::{DocNo, Sku};
use crate::model::UtcMillis;
use crate::money::Money;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The sales platform an order came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Taobao,
    Tmall,
    Jd,
    Shopify,
    Woocommerce,
}

impl Platform {
    pub fn as_str(&self) -> &'static str {
        match self {
            Platform::Taobao => "taobao",
            Platform::Tmall => "tmall",
            Platform::Jd => "jd",
            Platform::Shopify => "shopify",
            Platform::Woocommerce => "woocommerce",
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The standard status every platform's mapping table lands on. Ordered roughly by the life of
/// an order; the mapping tables live with the parsers (`xt-hub` `channels`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Created, not paid yet (also drafts and partly paid orders).
    PendingPayment,
    /// Paid or authorized, but the platform still confirms the payment (card review, pre-auth).
    PaymentProcessing,
    /// The payment failed; the buyer may still retry.
    PaymentFailed,
    /// Paid, waiting to be shipped.
    Paid,
    /// Paid but the platform forbids shipping for now (locked, paused, group-buy pending).
    OnHold,
    /// Some lines or units shipped.
    PartiallyShipped,
    /// Everything shipped, not yet confirmed received.
    Shipped,
    /// The buyer signed for it (COD) but the trade is not finished.
    Delivered,
    /// The trade is finished.
    Completed,
    /// Closed before payment, or voided: nothing was collected.
    Cancelled,
    /// Closed after payment because the money went back to the buyer.
    Refunded,
    /// Deleted on the platform (WooCommerce trash).
    Deleted,
}

/// Where an after-sales refund of a line (or order) stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// No refund asked for.
    None,
    /// The buyer asked; the seller has not agreed yet.
    Requested,
    /// The seller agreed; waiting for the buyer to send goods back.
    AwaitingReturn,
    /// Goods sent back; waiting for the seller to confirm receipt.
    ReturnInTransit,
    /// The seller refused the refund.
    Refused,
    /// The refund was closed without money going back.
    Closed,
    /// Part of the line's quantity or amount was refunded.
    PartiallyRefunded,
    /// The whole line was refunded.
    Refunded,
    /// An exchange (换货) is in progress instead of a refund.
    Exchanging,
}

/// Who bought: the identities the platform gives, to be linked into one member later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Buyer {
    pub platform: Platform,
    /// Taobao `buyer_open_uid`, JD `open_id_buyer`.
    pub open_uid: Option<String>,
    /// Shopify/WooCommerce customer id.
    pub customer_id: Option<String>,
    /// Lower-case hex SHA-256 of the trimmed, lower-cased e-mail; the address itself is not kept.
    pub email_sha256: Option<String>,
    /// The nick or account name as given (often masked, e.g. `t**1`).
    pub nick: Option<String>,
}

/// Where the order ships to, as the platform gives it: name and phone may be masked
/// (`张**`, `138****1234`) or encrypted; they are kept as given, never unmasked here.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Receiver {
    pub name: Option<String>,
    /// Mobile first, else the landline.
    pub phone: Option<String>,
    /// True when name or phone arrived masked (contains `*`).
    pub masked: bool,
    /// As the platform gives it (Shopify: ISO 3166-1 alpha-2); `CN` when Taobao or JD leave it
    /// empty.
    pub country: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub town: Option<String>,
    pub address: Option<String>,
    pub zip: Option<String>,
}

/// The order's money, all in the order's currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amounts {
    /// Goods before order-level discounts and freight (Taobao `total_fee`).
    pub goods: Money,
    /// Discounts the seller or platform gave on the order.
    pub discount: Money,
    pub freight: Money,
    /// What the buyer pays (or paid) in total (Taobao `payment`, Shopify `total_price`).
    pub paid: Money,
    /// What the courier collects on delivery; zero unless cash on delivery.
    pub cod_receivable: Money,
    /// Money already refunded, as far as the order payload says.
    pub refunded: Money,
}

/// Order times, UTC. `modified` orders updates: an older one never overwrites a newer one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTimes {
    pub created: UtcMillis,
    pub paid: Option<UtcMillis>,
    pub modified: UtcMillis,
}

/// Yes/no facts about the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrderFlags {
    /// Cash on delivery (货到付款).
    pub cod: bool,
    /// Pre-sale (预售, Taobao step trade).
    pub presale: bool,
    /// A platform test order (Shopify `test`).
    pub test: bool,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// Taobao `oid`, Shopify/WooCommerce line item id, JD `skuId` (JD lines have no own id).
    pub line_id: DocNo,
    /// The platform's SKU or variant id.
    pub platform_sku_id: Option<String>,
    /// The merchant's SKU code (`outer_sku_id`, `outerSkuId`, `sku`): the key for SKU mapping.
    pub merchant_sku: Option<Sku>,
    pub title: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub discount: Money,
    /// This line's share of the paid amount, when the platform gives or implies one.
    pub paid: Option<Money>,
    /// The line's own status, when the platform has one per line.
    pub status: Option<OrderState>,
    /// The line's refund state, when the payload says.
    pub refund: Option<RefundState>,
}

/// A platform order in the standard shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardOrder {
    pub platform: Platform,
    /// The platform's order number, exactly as given (Taobao `tid_str`, JD `orderId`, Shopify
    /// `id`, WooCommerce `id`), validated as a document number (at most 64 bytes).
    pub platform_order_no: DocNo,
    pub status: OrderState,
    /// The platform's own status text(s) the standard status came from, for display and audit.
    pub platform_status: String,
    pub buyer: Buyer,
    pub receiver: Receiver,
    pub amounts: Amounts,
    pub times: OrderTimes,
    pub buyer_memo: Option<String>,
    pub seller_memo: Option<String>,
    pub flags: OrderFlags,
    pub lines: Vec<OrderLine>,
}

/// An after-sales refund as a platform reports it on its own (Taobao `refunds.receive.get`, JD
/// `afs.soa.refundapply`, a Shopify refund): it may arrive before the order it refunds, and is
/// kept beside the order rather than folded into it, so the order's own fields stay exactly what
/// the platform said about the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandardRefund {
    pub platform: Platform,
    /// The platform's refund id (Taobao `refund_id`, JD `id`, Shopify refund `id`).
    pub refund_id: DocNo,
    /// The order it refunds.
    pub platform_order_no: DocNo,
    /// The line it refunds, when the platform names one (Taobao `oid`).
    pub line_id: Option<DocNo>,
    pub state: RefundState,
    /// The platform's own status text, for display and audit.
    pub platform_status: String,
    /// What goes (or went) back to the buyer.
    pub amount: Money,
    pub reason: Option<String>,
    pub created: UtcMillis,
    /// The platform's last change of this refund; a refund with an older `modified` never
    /// overwrites a newer one.
    pub modified: UtcMillis,
}

/// Most lines one order may have; more is a malformed payload, not a real basket.
pub const ORDER_LINES_MAX: usize = 1000;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn serde_round_trips_through_postcard() {
        let yuan = |minor| Money::new(minor, Currency::CNY);
        let order = StandardOrder {
            platform: Platform::Tmall,
            platform_order_no: DocNo::new("4012345678901234567").unwrap(),
            status: OrderState::Paid,
            platform_status: "WAIT_SELLER_SEND_GOODS".into(),
            buyer: Buyer {
                platform: Platform::Tmall,
                open_uid: Some("AAE1".into()),
                customer_id: None,
                email_sha256: None,
                nick: Some("t**1".into()),
            },
            receiver: Receiver {
                name: Some("张**".into()),
                masked: true,
                ..Receiver::default()
            },
            amounts: Amounts {
                goods: yuan(1000),
                discount: yuan(0),
                freight: yuan(0),
                paid: yuan(1000),
                cod_receivable: yuan(0),
                refunded: yuan(0),
            },
            times: OrderTimes {
                created: UtcMillis(1),
                paid: None,
                modified: UtcMillis(2),
            },
            buyer_memo: None,
            seller_memo: None,
            flags: OrderFlags::default(),
            lines: vec![OrderLine {
                line_id: DocNo::new("4012345678901234568").unwrap(),
                platform_sku_id: None,
                merchant_sku: Some(Sku::new("A-1").unwrap()),
                title: "杯".into(),
                quantity: 1,
                unit_price: yuan(1000),
                discount: yuan(0),
                paid: Some(yuan(1000)),
                status: Some(OrderState::Paid),
                refund: Some(RefundState::None),
            }],
        };
        let bytes = postcard::to_allocvec(&order).unwrap();
        assert_eq!(
            postcard::from_bytes::<StandardOrder>(&bytes).unwrap(),
            order
        );
    }
}
