//! The stored mirrors keep the model's layout today and convert back to the same values.

use super::*;
use crate::store::codec::{decode, encode, encode_as, encode_view};
use xt_shared::order::Platform;

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

fn doc(no: &str) -> DocNo {
    DocNo::new(no).unwrap()
}

/// An order with every optional field set and several lines (each optional set, or not).
pub(crate) fn rich_order() -> StandardOrder {
    let line = |id: &str, sku: Option<&str>| OrderLine {
        line_id: doc(id),
        platform_sku_id: Some(format!("v-{id}")),
        merchant_sku: sku.map(|s| Sku::new(s).unwrap()),
        title: format!("杯 {id}"),
        quantity: 3,
        unit_price: usd(1299),
        discount: usd(-100),
        paid: Some(usd(3797)),
        status: Some(OrderState::PartiallyShipped),
        refund: Some(RefundState::PartiallyRefunded),
    };
    let bare = OrderLine {
        platform_sku_id: None,
        merchant_sku: None,
        paid: None,
        status: None,
        refund: None,
        ..line("L-3", None)
    };
    StandardOrder {
        platform: Platform::Woocommerce,
        platform_order_no: doc("4012345678901234567"),
        status: OrderState::Deleted,
        platform_status: "trash".into(),
        buyer: Buyer {
            platform: Platform::Woocommerce,
            open_uid: Some("AAE1".into()),
            customer_id: Some("c-9".into()),
            email_sha256: Some("ab".repeat(32)),
            nick: Some("t**1".into()),
        },
        receiver: Receiver {
            name: Some("张**".into()),
            phone: Some("138****1234".into()),
            masked: true,
            country: Some("CN".into()),
            province: Some("浙江".into()),
            city: Some("杭州".into()),
            district: Some("西湖".into()),
            town: Some("北山".into()),
            address: Some("1 号".into()),
            zip: Some("310000".into()),
        },
        amounts: Amounts {
            goods: usd(7594),
            discount: usd(200),
            freight: usd(1000),
            paid: usd(8394),
            cod_receivable: usd(8394),
            refunded: usd(1299),
        },
        times: OrderTimes {
            created: UtcMillis(1_700_000_000_000),
            paid: Some(UtcMillis(1_700_000_060_000)),
            modified: UtcMillis(1_700_000_120_000),
        },
        buyer_memo: Some("请尽快发货".into()),
        seller_memo: Some("gift".into()),
        flags: OrderFlags {
            cod: true,
            presale: true,
            test: true,
        },
        lines: vec![line("L-1", Some("CUP-1")), line("L-2", Some("CUP-2")), bare],
    }
}

pub(crate) fn rich_refund() -> StandardRefund {
    StandardRefund {
        platform: Platform::Tmall,
        refund_id: doc("R-77"),
        platform_order_no: doc("4012345678901234567"),
        line_id: Some(doc("L-1")),
        state: RefundState::Exchanging,
        platform_status: "WAIT_BUYER_RETURN_GOODS".into(),
        amount: usd(1299),
        reason: Some("尺码不合适".into()),
        created: UtcMillis(1_700_000_200_000),
        modified: UtcMillis(1_700_000_300_000),
    }
}

#[test]
fn a_rich_order_and_refund_round_trip_through_the_stored_bytes_laid_out_as_the_model() {
    let order = rich_order();
    let stored = StoredOrder::from(&order);
    let bytes = postcard::to_allocvec(&stored).unwrap();
    assert_eq!(bytes, postcard::to_allocvec(&order).unwrap());
    let read: StoredOrder = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(read, stored);
    assert_eq!(StandardOrder::try_from(read).unwrap(), order);

    let refund = rich_refund();
    let stored = StoredRefund::from(&refund);
    let bytes = postcard::to_allocvec(&stored).unwrap();
    assert_eq!(bytes, postcard::to_allocvec(&refund).unwrap());
    let read: StoredRefund = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(read, stored);
    assert_eq!(StandardRefund::try_from(read).unwrap(), refund);
}

#[test]
fn the_records_encode_as_they_did_when_they_held_the_model() {
    let order = CapturedOrder {
        shop: "shop-1".into(),
        order: rich_order(),
        provenance: vec![Provenance {
            field: "status".into(),
            origin: "shop/shop-1".into(),
            version: 1_700_000_120_000,
            at: UtcMillis(1_700_000_130_000),
        }],
        internal_skus: vec![Some("SKU-CUP".into()), None, None],
        held: Some("unmapped SKU: line L-2".into()),
        member: Some("mem-1".into()),
        first_seen: UtcMillis(1_700_000_010_000),
        updated_at: UtcMillis(1_700_000_130_000),
    };
    let bytes = encode(&OrderRecord::from(&order));
    // The record as it was: the same fields, holding the model's order.
    let c = &order;
    let model = (
        &c.shop,
        &c.order,
        &c.provenance,
        &c.internal_skus,
        &c.held,
        &c.member,
        c.first_seen,
        c.updated_at,
    );
    assert_eq!(bytes, encode_as(1, &model));
    let read = CapturedOrder::try_from(decode::<OrderRecord>(&bytes).unwrap()).unwrap();
    assert_eq!(read, order);

    let refund = CapturedRefund {
        refund: rich_refund(),
        origin: "shop/shop-1".into(),
        updated_at: UtcMillis(1_700_000_310_000),
    };
    let bytes = encode(&RefundRecord::from(&refund));
    let model = (&refund.refund, &refund.origin, refund.updated_at);
    assert_eq!(bytes, encode_as(1, &model));
    let read = CapturedRefund::try_from(decode::<RefundRecord>(&bytes).unwrap()).unwrap();
    assert_eq!(read, refund);
}

/// A captured order around `order`, every field of the hub's own set (or not: `bare`).
fn captured(order: StandardOrder, bare: bool) -> CapturedOrder {
    let lines = order.lines.len();
    CapturedOrder {
        shop: "shop-1".into(),
        order,
        provenance: if bare {
            vec![]
        } else {
            vec![Provenance {
                field: "lines[0]".into(),
                origin: "shop/shop-1".into(),
                version: 1_700_000_120_000,
                at: UtcMillis(1_700_000_130_000),
            }]
        },
        internal_skus: if bare {
            vec![None; lines]
        } else {
            vec![Some("SKU-CUP".into()); lines]
        },
        held: (!bare).then(|| "unmapped SKU: line L-3".into()),
        member: (!bare).then(|| "mem-1".into()),
        first_seen: UtcMillis(1_700_000_010_000),
        updated_at: UtcMillis(1_700_000_130_000),
    }
}

/// The rich order, and the same with every optional field of the model empty and no lines.
fn orders() -> Vec<StandardOrder> {
    let rich = rich_order();
    let bare = StandardOrder {
        buyer: Buyer {
            platform: Platform::Jd,
            open_uid: None,
            customer_id: None,
            email_sha256: None,
            nick: None,
        },
        receiver: Receiver::default(),
        times: OrderTimes {
            paid: None,
            ..rich.times
        },
        buyer_memo: None,
        seller_memo: None,
        flags: OrderFlags::default(),
        lines: vec![],
        ..rich.clone()
    };
    vec![rich, bare]
}

#[test]
fn the_views_encode_to_their_records_bytes() {
    for order in orders() {
        for bare in [false, true] {
            let c = captured(order.clone(), bare);
            let view = encode_view(&OrderRecordRef::from(&c));
            assert_eq!(view, encode(&OrderRecord::from(&c)), "{c:?}");
            let read = CapturedOrder::try_from(decode::<OrderRecord>(&view).unwrap()).unwrap();
            assert_eq!(read, c);
        }
    }
    let bare = StandardRefund {
        line_id: None,
        reason: None,
        ..rich_refund()
    };
    for refund in [rich_refund(), bare] {
        let c = CapturedRefund {
            refund,
            origin: "shop/shop-1".into(),
            updated_at: UtcMillis(1_700_000_310_000),
        };
        let view = encode_view(&RefundRecordRef::from(&c));
        assert_eq!(view, encode(&RefundRecord::from(&c)), "{c:?}");
        let read = CapturedRefund::try_from(decode::<RefundRecord>(&view).unwrap()).unwrap();
        assert_eq!(read, c);
    }
}

#[test]
fn an_order_or_refund_moved_into_its_mirror_stores_as_one_borrowed() {
    for order in orders() {
        let borrowed = StoredOrder::from(&order);
        assert_eq!(StoredOrder::from(order), borrowed);
    }
    let refund = rich_refund();
    let borrowed = StoredRefund::from(&refund);
    assert_eq!(StoredRefund::from(refund), borrowed);
}

#[test]
fn a_stored_value_the_model_refuses_reads_as_corrupt() {
    let mut stored = StoredOrder::from(&rich_order());
    stored.lines[1].line_id = String::new();
    assert!(StandardOrder::try_from(stored.clone()).is_err());
    stored.lines[1].line_id = "L-2".into();
    stored.amounts.freight.currency = *b"us$";
    let record = OrderRecord {
        shop: "shop-1".into(),
        order: stored,
        provenance: vec![],
        internal_skus: vec![],
        held: None,
        member: None,
        first_seen: UtcMillis(0),
        updated_at: UtcMillis(0),
    };
    let err = CapturedOrder::try_from(record).unwrap_err();
    assert!(err.to_string().contains("orders"), "{err}");
}
