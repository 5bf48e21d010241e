//! Borrowed views of the orders room's records: [`OrderRecordRef`] and [`RefundRecordRef`] encode
//! a [`CapturedOrder`] or a [`CapturedRefund`] as its stored record ([`OrderRecord`],
//! [`RefundRecord`]) without building that record.
//!
//! Why: writing an order is the hot step of applying one. Building the owned mirror first copied
//! every string of the order only to encode it and drop it. A view lays out the same fields in
//! the same order, each in its stored form (enums as their mirrors, ids as text, money as
//! [`StoredMoney`], times as ms), and borrows everything else.
//!
//! *Invariant:* a view encodes to exactly the bytes of the record it stands for
//! (`records/tests.rs`, over the rich order and refund, every optional field set and not); the
//! conversions destructure the model in full, so a model field added shows up here as a compile
//! error, as it does in the owned mirrors.

use super::{
    OrderRecord, RefundRecord, StoredAmounts, StoredFlags, StoredMoney, StoredOrderState,
    StoredRefundState, StoredTimes,
};
use crate::orders::store::{CapturedOrder, CapturedRefund, Provenance};
use crate::store::codec::View;
use crate::store::enums::StoredPlatform;
use serde::{Serialize, Serializer};
use xt_shared::model::UtcMillis;
use xt_shared::order::{Buyer, OrderLine, Receiver, StandardOrder, StandardRefund};

/// An [`OrderRecord`] borrowing the [`CapturedOrder`] it stores.
#[derive(Serialize)]
pub struct OrderRecordRef<'a> {
    shop: &'a str,
    order: StoredOrderRef<'a>,
    provenance: &'a [Provenance],
    internal_skus: &'a [Option<String>],
    held: &'a Option<String>,
    member: &'a Option<String>,
    first_seen: UtcMillis,
    updated_at: UtcMillis,
}

impl View<OrderRecord> for OrderRecordRef<'_> {}

impl<'a> From<&'a CapturedOrder> for OrderRecordRef<'a> {
    fn from(c: &'a CapturedOrder) -> OrderRecordRef<'a> {
        let CapturedOrder {
            shop,
            order,
            provenance,
            internal_skus,
            held,
            member,
            first_seen,
            updated_at,
        } = c;
        OrderRecordRef {
            shop,
            order: order.into(),
            provenance,
            internal_skus,
            held,
            member,
            first_seen: *first_seen,
            updated_at: *updated_at,
        }
    }
}

/// A [`RefundRecord`] borrowing the [`CapturedRefund`] it stores.
#[derive(Serialize)]
pub struct RefundRecordRef<'a> {
    refund: StoredRefundRef<'a>,
    origin: &'a str,
    updated_at: UtcMillis,
}

impl View<RefundRecord> for RefundRecordRef<'_> {}

impl<'a> From<&'a CapturedRefund> for RefundRecordRef<'a> {
    fn from(c: &'a CapturedRefund) -> RefundRecordRef<'a> {
        let CapturedRefund {
            refund,
            origin,
            updated_at,
        } = c;
        RefundRecordRef {
            refund: refund.into(),
            origin,
            updated_at: *updated_at,
        }
    }
}

/// [`super::StoredOrder`], borrowed.
#[derive(Serialize)]
struct StoredOrderRef<'a> {
    platform: StoredPlatform,
    platform_order_no: &'a str,
    status: StoredOrderState,
    platform_status: &'a str,
    buyer: StoredBuyerRef<'a>,
    receiver: StoredReceiverRef<'a>,
    amounts: StoredAmounts,
    times: StoredTimes,
    buyer_memo: &'a Option<String>,
    seller_memo: &'a Option<String>,
    flags: StoredFlags,
    lines: LinesRef<'a>,
}

impl<'a> From<&'a StandardOrder> for StoredOrderRef<'a> {
    fn from(o: &'a StandardOrder) -> StoredOrderRef<'a> {
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
        StoredOrderRef {
            platform: (*platform).into(),
            platform_order_no: platform_order_no.as_str(),
            status: (*status).into(),
            platform_status,
            buyer: buyer.into(),
            receiver: receiver.into(),
            amounts: amounts.into(),
            times: times.into(),
            buyer_memo,
            seller_memo,
            flags: flags.into(),
            lines: LinesRef(lines),
        }
    }
}

/// [`super::StoredBuyer`], borrowed.
#[derive(Serialize)]
struct StoredBuyerRef<'a> {
    platform: StoredPlatform,
    open_uid: &'a Option<String>,
    customer_id: &'a Option<String>,
    email_sha256: &'a Option<String>,
    nick: &'a Option<String>,
}

impl<'a> From<&'a Buyer> for StoredBuyerRef<'a> {
    fn from(b: &'a Buyer) -> StoredBuyerRef<'a> {
        let Buyer {
            platform,
            open_uid,
            customer_id,
            email_sha256,
            nick,
        } = b;
        StoredBuyerRef {
            platform: (*platform).into(),
            open_uid,
            customer_id,
            email_sha256,
            nick,
        }
    }
}

/// [`super::StoredReceiver`], borrowed.
#[derive(Serialize)]
struct StoredReceiverRef<'a> {
    name: &'a Option<String>,
    phone: &'a Option<String>,
    masked: bool,
    country: &'a Option<String>,
    province: &'a Option<String>,
    city: &'a Option<String>,
    district: &'a Option<String>,
    town: &'a Option<String>,
    address: &'a Option<String>,
    zip: &'a Option<String>,
}

impl<'a> From<&'a Receiver> for StoredReceiverRef<'a> {
    fn from(r: &'a Receiver) -> StoredReceiverRef<'a> {
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
        } = r;
        StoredReceiverRef {
            name,
            phone,
            masked: *masked,
            country,
            province,
            city,
            district,
            town,
            address,
            zip,
        }
    }
}

/// The lines of an order, each encoded as a [`super::StoredOrderLine`] as it is written (no
/// vector of views is built).
struct LinesRef<'a>(&'a [OrderLine]);

impl Serialize for LinesRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(StoredOrderLineRef::from))
    }
}

/// [`super::StoredOrderLine`], borrowed.
#[derive(Serialize)]
struct StoredOrderLineRef<'a> {
    line_id: &'a str,
    platform_sku_id: &'a Option<String>,
    merchant_sku: Option<&'a str>,
    title: &'a str,
    quantity: u32,
    unit_price: StoredMoney,
    discount: StoredMoney,
    paid: Option<StoredMoney>,
    status: Option<StoredOrderState>,
    refund: Option<StoredRefundState>,
}

impl<'a> From<&'a OrderLine> for StoredOrderLineRef<'a> {
    fn from(l: &'a OrderLine) -> StoredOrderLineRef<'a> {
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
        StoredOrderLineRef {
            line_id: line_id.as_str(),
            platform_sku_id,
            merchant_sku: merchant_sku.as_ref().map(|s| s.as_str()),
            title,
            quantity: *quantity,
            unit_price: (*unit_price).into(),
            discount: (*discount).into(),
            paid: paid.map(StoredMoney::from),
            status: status.map(StoredOrderState::from),
            refund: refund.map(StoredRefundState::from),
        }
    }
}

/// [`super::StoredRefund`], borrowed.
#[derive(Serialize)]
struct StoredRefundRef<'a> {
    platform: StoredPlatform,
    refund_id: &'a str,
    platform_order_no: &'a str,
    line_id: Option<&'a str>,
    state: StoredRefundState,
    platform_status: &'a str,
    amount: StoredMoney,
    reason: &'a Option<String>,
    created: i64,
    modified: i64,
}

impl<'a> From<&'a StandardRefund> for StoredRefundRef<'a> {
    fn from(r: &'a StandardRefund) -> StoredRefundRef<'a> {
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
        StoredRefundRef {
            platform: (*platform).into(),
            refund_id: refund_id.as_str(),
            platform_order_no: platform_order_no.as_str(),
            line_id: line_id.as_ref().map(|l| l.as_str()),
            state: (*state).into(),
            platform_status,
            amount: (*amount).into(),
            reason,
            created: created.0,
            modified: modified.0,
        }
    }
}
