//! The stored forms of orders and refunds: [`OrderRecord`] and [`RefundRecord`] hold mirrors of
//! the shared model's order types ([`StoredOrder`], [`StoredRefund`] and their parts), never the
//! model itself.
//!
//! Why the mirror: `xt_shared::order` is the model every channel parses into and the API shows,
//! and it changes when platforms need it to. Stored bytes may not change with it: what a released
//! hub wrote must read to the same meaning, and a new layout is a new record version
//! (`store::codec`). A record embedding the model would change its stored layout silently with
//! any model change. The mirrors are laid out exactly as the model was when these records were
//! first stored (the same fields in the same order, the same enum variants in the same order; ids
//! as strings, money as (minor units, currency code), times as ms), and the conversions here are
//! where a model change shows up: as a compile error, not as other bytes.
//!
//! Writing does not build the mirror: [`OrderRecordRef`] and [`RefundRecordRef`] (`records/view.rs`)
//! borrow a captured order or refund and encode it as its record, to the same bytes. The change
//! log's copy of an applied order is the model moved into its mirror (`From<StandardOrder>`).
//!
//! *Invariant:* model → stored → model is the identity (`records/tests.rs`); stored → model fails
//! only on a value the model refuses today (an id or currency code), which reads as corrupt; a
//! view's bytes are its record's.

use super::store::{CapturedOrder, CapturedRefund, Provenance};
use crate::store::StoreError;
use crate::store::codec::Record;
use crate::store::enums::{StoredPlatform, mirror_enum};
use serde::{Deserialize, Serialize};
use std::fmt;
use xt_shared::ids::{DocNo, IdError, Sku};
use xt_shared::model::UtcMillis;
use xt_shared::money::{Currency, Money, MoneyError};
use xt_shared::order::{
    Amounts, Buyer, OrderFlags, OrderLine, OrderState, OrderTimes, Receiver, RefundState,
    StandardOrder, StandardRefund,
};

#[cfg(test)]
pub(crate) mod tests;
mod view;

pub use view::{OrderRecordRef, RefundRecordRef};

/// A stored value the model refuses (an id or a currency code it no longer accepts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not readable as the model: {0}")]
pub struct NotInModel(String);

impl From<IdError> for NotInModel {
    fn from(e: IdError) -> NotInModel {
        NotInModel(e.to_string())
    }
}

impl From<MoneyError> for NotInModel {
    fn from(e: MoneyError) -> NotInModel {
        NotInModel(e.to_string())
    }
}

mirror_enum!(
    /// [`OrderState`] as stored.
    StoredOrderState <=> OrderState {
        PendingPayment,
        PaymentProcessing,
        PaymentFailed,
        Paid,
        OnHold,
        PartiallyShipped,
        Shipped,
        Delivered,
        Completed,
        Cancelled,
        Refunded,
        Deleted,
    }
);
mirror_enum!(
    /// [`RefundState`] as stored.
    StoredRefundState <=> RefundState {
        None,
        Requested,
        AwaitingReturn,
        ReturnInTransit,
        Refused,
        Closed,
        PartiallyRefunded,
        Refunded,
        Exchanging,
    }
);

/// [`Money`] as stored: minor units and the three ASCII capitals of the currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMoney {
    pub minor: i64,
    pub currency: [u8; 3],
}

impl From<Money> for StoredMoney {
    fn from(m: Money) -> StoredMoney {
        // A currency's text is always three ASCII capitals (`Currency::new` checks).
        let mut currency = [0; 3];
        for (to, b) in currency.iter_mut().zip(m.currency.as_str().bytes()) {
            *to = b;
        }
        StoredMoney {
            minor: m.minor,
            currency,
        }
    }
}

impl TryFrom<StoredMoney> for Money {
    type Error = NotInModel;
    fn try_from(s: StoredMoney) -> Result<Money, NotInModel> {
        let code = std::str::from_utf8(&s.currency)
            .map_err(|_| NotInModel(format!("currency bytes {:?}", s.currency)))?;
        Ok(Money::new(s.minor, Currency::new(code)?))
    }
}

/// [`Buyer`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBuyer {
    pub platform: StoredPlatform,
    pub open_uid: Option<String>,
    pub customer_id: Option<String>,
    pub email_sha256: Option<String>,
    pub nick: Option<String>,
}

/// [`Receiver`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReceiver {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub masked: bool,
    pub country: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub town: Option<String>,
    pub address: Option<String>,
    pub zip: Option<String>,
}

/// [`Amounts`] as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAmounts {
    pub goods: StoredMoney,
    pub discount: StoredMoney,
    pub freight: StoredMoney,
    pub paid: StoredMoney,
    pub cod_receivable: StoredMoney,
    pub refunded: StoredMoney,
}

/// [`OrderTimes`] as stored, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredTimes {
    pub created: i64,
    pub paid: Option<i64>,
    pub modified: i64,
}

/// [`OrderFlags`] as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFlags {
    pub cod: bool,
    pub presale: bool,
    pub test: bool,
}

/// [`OrderLine`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOrderLine {
    pub line_id: String,
    pub platform_sku_id: Option<String>,
    pub merchant_sku: Option<String>,
    pub title: String,
    pub quantity: u32,
    pub unit_price: StoredMoney,
    pub discount: StoredMoney,
    pub paid: Option<StoredMoney>,
    pub status: Option<StoredOrderState>,
    pub refund: Option<StoredRefundState>,
}

/// [`StandardOrder`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOrder {
    pub platform: StoredPlatform,
    pub platform_order_no: String,
    pub status: StoredOrderState,
    pub platform_status: String,
    pub buyer: StoredBuyer,
    pub receiver: StoredReceiver,
    pub amounts: StoredAmounts,
    pub times: StoredTimes,
    pub buyer_memo: Option<String>,
    pub seller_memo: Option<String>,
    pub flags: StoredFlags,
    pub lines: Vec<StoredOrderLine>,
}

/// [`StandardRefund`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRefund {
    pub platform: StoredPlatform,
    pub refund_id: String,
    pub platform_order_no: String,
    pub line_id: Option<String>,
    pub state: StoredRefundState,
    pub platform_status: String,
    pub amount: StoredMoney,
    pub reason: Option<String>,
    pub created: i64,
    pub modified: i64,
}

impl From<&Amounts> for StoredAmounts {
    fn from(a: &Amounts) -> StoredAmounts {
        let Amounts {
            goods,
            discount,
            freight,
            paid,
            cod_receivable,
            refunded,
        } = *a;
        StoredAmounts {
            goods: goods.into(),
            discount: discount.into(),
            freight: freight.into(),
            paid: paid.into(),
            cod_receivable: cod_receivable.into(),
            refunded: refunded.into(),
        }
    }
}

impl From<&OrderTimes> for StoredTimes {
    fn from(t: &OrderTimes) -> StoredTimes {
        let OrderTimes {
            created,
            paid,
            modified,
        } = *t;
        StoredTimes {
            created: created.0,
            paid: paid.map(|p| p.0),
            modified: modified.0,
        }
    }
}

impl From<&OrderFlags> for StoredFlags {
    fn from(f: &OrderFlags) -> StoredFlags {
        let OrderFlags { cod, presale, test } = *f;
        StoredFlags { cod, presale, test }
    }
}

/// Moves the order's text into the mirror (ids are copied: the model does not give its text up).
impl From<StandardOrder> for StoredOrder {
    fn from(o: StandardOrder) -> StoredOrder {
        let StandardOrder {
            platform,
            platform_order_no,
            status,
            platform_status,
            buyer,
            receiver,
            amounts,
            times,
            buyer_memo,
            seller_memo,
            flags,
            lines,
        } = o;
        let Buyer {
            platform: buyer_platform,
            open_uid,
            customer_id,
            email_sha256,
            nick,
        } = buyer;
        let Receiver {
            name,
            phone,
            masked,
            country,
            province,
            city,
            district,
            town,
            address,
            zip,
        } = receiver;
        StoredOrder {
            platform: platform.into(),
            platform_order_no: platform_order_no.to_string(),
            status: status.into(),
            platform_status,
            buyer: StoredBuyer {
                platform: buyer_platform.into(),
                open_uid,
                customer_id,
                email_sha256,
                nick,
            },
            receiver: StoredReceiver {
                name,
                phone,
                masked,
                country,
                province,
                city,
                district,
                town,
                address,
                zip,
            },
            amounts: (&amounts).into(),
            times: (&times).into(),
            buyer_memo,
            seller_memo,
            flags: (&flags).into(),
            lines: lines.into_iter().map(StoredOrderLine::from).collect(),
        }
    }
}

impl From<OrderLine> for StoredOrderLine {
    fn from(l: OrderLine) -> StoredOrderLine {
        let OrderLine {
            line_id,
            platform_sku_id,
            merchant_sku,
            title,
            quantity,
            unit_price,
            discount,
            paid,
            status,
            refund,
        } = l;
        StoredOrderLine {
            line_id: line_id.to_string(),
            platform_sku_id,
            merchant_sku: merchant_sku.as_ref().map(Sku::to_string),
            title,
            quantity,
            unit_price: unit_price.into(),
            discount: discount.into(),
            paid: paid.map(StoredMoney::from),
            status: status.map(StoredOrderState::from),
            refund: refund.map(StoredRefundState::from),
        }
    }
}

/// A copy of the order, moved into the mirror.
impl From<&StandardOrder> for StoredOrder {
    fn from(o: &StandardOrder) -> StoredOrder {
        o.clone().into()
    }
}

impl TryFrom<StoredOrderLine> for OrderLine {
    type Error = NotInModel;
    fn try_from(l: StoredOrderLine) -> Result<OrderLine, NotInModel> {
        Ok(OrderLine {
            line_id: DocNo::new(l.line_id)?,
            platform_sku_id: l.platform_sku_id,
            merchant_sku: l.merchant_sku.map(Sku::new).transpose()?,
            title: l.title,
            quantity: l.quantity,
            unit_price: l.unit_price.try_into()?,
            discount: l.discount.try_into()?,
            paid: l.paid.map(Money::try_from).transpose()?,
            status: l.status.map(OrderState::from),
            refund: l.refund.map(RefundState::from),
        })
    }
}

impl TryFrom<StoredOrder> for StandardOrder {
    type Error = NotInModel;
    fn try_from(o: StoredOrder) -> Result<StandardOrder, NotInModel> {
        let (b, r, a, t, f) = (o.buyer, o.receiver, o.amounts, o.times, o.flags);
        Ok(StandardOrder {
            platform: o.platform.into(),
            platform_order_no: DocNo::new(o.platform_order_no)?,
            status: o.status.into(),
            platform_status: o.platform_status,
            buyer: Buyer {
                platform: b.platform.into(),
                open_uid: b.open_uid,
                customer_id: b.customer_id,
                email_sha256: b.email_sha256,
                nick: b.nick,
            },
            receiver: Receiver {
                name: r.name,
                phone: r.phone,
                masked: r.masked,
                country: r.country,
                province: r.province,
                city: r.city,
                district: r.district,
                town: r.town,
                address: r.address,
                zip: r.zip,
            },
            amounts: Amounts {
                goods: a.goods.try_into()?,
                discount: a.discount.try_into()?,
                freight: a.freight.try_into()?,
                paid: a.paid.try_into()?,
                cod_receivable: a.cod_receivable.try_into()?,
                refunded: a.refunded.try_into()?,
            },
            times: OrderTimes {
                created: UtcMillis(t.created),
                paid: t.paid.map(UtcMillis),
                modified: UtcMillis(t.modified),
            },
            buyer_memo: o.buyer_memo,
            seller_memo: o.seller_memo,
            flags: OrderFlags {
                cod: f.cod,
                presale: f.presale,
                test: f.test,
            },
            lines: o
                .lines
                .into_iter()
                .map(OrderLine::try_from)
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Moves the refund's text into the mirror (ids are copied).
impl From<StandardRefund> for StoredRefund {
    fn from(r: StandardRefund) -> StoredRefund {
        let StandardRefund {
            platform,
            refund_id,
            platform_order_no,
            line_id,
            state,
            platform_status,
            amount,
            reason,
            created,
            modified,
        } = r;
        StoredRefund {
            platform: platform.into(),
            refund_id: refund_id.to_string(),
            platform_order_no: platform_order_no.to_string(),
            line_id: line_id.as_ref().map(DocNo::to_string),
            state: state.into(),
            platform_status,
            amount: amount.into(),
            reason,
            created: created.0,
            modified: modified.0,
        }
    }
}

/// A copy of the refund, moved into the mirror.
impl From<&StandardRefund> for StoredRefund {
    fn from(r: &StandardRefund) -> StoredRefund {
        r.clone().into()
    }
}

impl TryFrom<StoredRefund> for StandardRefund {
    type Error = NotInModel;
    fn try_from(r: StoredRefund) -> Result<StandardRefund, NotInModel> {
        Ok(StandardRefund {
            platform: r.platform.into(),
            refund_id: DocNo::new(r.refund_id)?,
            platform_order_no: DocNo::new(r.platform_order_no)?,
            line_id: r.line_id.map(DocNo::new).transpose()?,
            state: r.state.into(),
            platform_status: r.platform_status,
            amount: r.amount.try_into()?,
            reason: r.reason,
            created: UtcMillis(r.created),
            modified: UtcMillis(r.modified),
        })
    }
}

/// An order as stored (the `orders` table): a [`CapturedOrder`] with its order mirrored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub shop: String,
    pub order: StoredOrder,
    pub provenance: Vec<Provenance>,
    pub internal_skus: Vec<Option<String>>,
    pub held: Option<String>,
    pub member: Option<String>,
    pub first_seen: UtcMillis,
    pub updated_at: UtcMillis,
}

/// A refund as stored (the `refunds` table): a [`CapturedRefund`] with its refund mirrored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    pub refund: StoredRefund,
    pub origin: String,
    pub updated_at: UtcMillis,
}

/// `e` as the store's error about a record `R` that does not read.
pub(crate) fn corrupt<R: Record>(e: NotInModel) -> StoreError {
    StoreError::Corrupt {
        table: R::NAME,
        reason: e.to_string(),
    }
}

impl From<&CapturedOrder> for OrderRecord {
    fn from(c: &CapturedOrder) -> OrderRecord {
        OrderRecord {
            shop: c.shop.clone(),
            order: (&c.order).into(),
            provenance: c.provenance.clone(),
            internal_skus: c.internal_skus.clone(),
            held: c.held.clone(),
            member: c.member.clone(),
            first_seen: c.first_seen,
            updated_at: c.updated_at,
        }
    }
}

impl TryFrom<OrderRecord> for CapturedOrder {
    type Error = StoreError;
    fn try_from(r: OrderRecord) -> Result<CapturedOrder, StoreError> {
        Ok(CapturedOrder {
            shop: r.shop,
            order: r.order.try_into().map_err(corrupt::<OrderRecord>)?,
            provenance: r.provenance,
            internal_skus: r.internal_skus,
            held: r.held,
            member: r.member,
            first_seen: r.first_seen,
            updated_at: r.updated_at,
        })
    }
}

impl From<&CapturedRefund> for RefundRecord {
    fn from(c: &CapturedRefund) -> RefundRecord {
        RefundRecord {
            refund: (&c.refund).into(),
            origin: c.origin.clone(),
            updated_at: c.updated_at,
        }
    }
}

impl TryFrom<RefundRecord> for CapturedRefund {
    type Error = StoreError;
    fn try_from(r: RefundRecord) -> Result<CapturedRefund, StoreError> {
        Ok(CapturedRefund {
            refund: r.refund.try_into().map_err(corrupt::<RefundRecord>)?,
            origin: r.origin,
            updated_at: r.updated_at,
        })
    }
}

/// Shows the order as the model reads it (the golden records, `store/records_tests.rs`, compare
/// that meaning), or as stored when the model refuses it.
impl fmt::Debug for OrderRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let model = StandardOrder::try_from(self.order.clone());
        let order: &dyn fmt::Debug = match &model {
            Ok(order) => order,
            Err(_) => &self.order,
        };
        f.debug_struct("OrderRecord")
            .field("shop", &self.shop)
            .field("order", order)
            .field("provenance", &self.provenance)
            .field("internal_skus", &self.internal_skus)
            .field("held", &self.held)
            .field("member", &self.member)
            .field("first_seen", &self.first_seen)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// Shows the refund as the model reads it (as [`OrderRecord`]'s `Debug`).
impl fmt::Debug for RefundRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let model = StandardRefund::try_from(self.refund.clone());
        let refund: &dyn fmt::Debug = match &model {
            Ok(refund) => refund,
            Err(_) => &self.refund,
        };
        f.debug_struct("RefundRecord")
            .field("refund", refund)
            .field("origin", &self.origin)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}
