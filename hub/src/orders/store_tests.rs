//! The orders store: idempotency, ordering by platform `modified`, provenance, holds and SKU
//! mappings, members, malformed payloads, listing — on a real redb file.

use super::store::*;
use crate::shops::channels::Captured;
use crate::store::table::Table;
use crate::store::*;
use xt_shared::ids::{DocNo, Sku};
use xt_shared::money::{Currency, Money};
use xt_shared::order::*;
#[allow(unused_imports)]
use xt_shared::{change::*, ids::*, model::*, protocol::*};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hub.redb")).unwrap();
    (dir, store)
}

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn yuan(minor: i64) -> Money {
    Money::new(minor, Currency::CNY)
}

fn order(no: &str, modified: i64, status: OrderState, email: Option<&str>) -> StandardOrder {
    StandardOrder {
        platform: Platform::Taobao,
        platform_order_no: DocNo::new(no).unwrap(),
        status,
        platform_status: format!("{status:?}"),
        buyer: Buyer {
            platform: Platform::Taobao,
            open_uid: Some(format!("uid-{no}")),
            customer_id: None,
            email_sha256: email.map(str::to_owned),
            nick: None,
        },
        receiver: Receiver {
            name: Some("张**".into()),
            phone: Some("138****1234".into()),
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
            modified: UtcMillis(modified),
        },
        buyer_memo: None,
        seller_memo: None,
        flags: OrderFlags::default(),
        lines: vec![OrderLine {
            line_id: DocNo::new(format!("{no}-1")).unwrap(),
            platform_sku_id: Some("9001".into()),
            merchant_sku: Some(Sku::new("CUP-1").unwrap()),
            title: "杯".into(),
            quantity: 1,
            unit_price: yuan(1000),
            discount: yuan(0),
            paid: Some(yuan(1000)),
            status: None,
            refund: None,
        }],
    }
}

fn apply(store: &Store, shop: &str, items: Vec<Captured>, now: i64) -> ShopOutcome {
    store
        .apply_shop_items(&acme(), shop, items, UtcMillis(now))
        .unwrap()
}

fn orders(store: &Store) -> Vec<CapturedOrder> {
    store
        .orders_page(&acme(), &OrderFilter::default(), None, usize::MAX)
        .unwrap()
}

#[test]
fn the_same_order_twice_is_one_order_and_one_logged_change() {
    let (_d, store) = store();
    let o = order("1001", 10, OrderState::Paid, None);
    let first = apply(
        &store,
        "shop-a",
        vec![Captured::Order {
            raw: String::new(),
            order: o.clone(),
        }],
        100,
    );
    let again = apply(
        &store,
        "shop-a",
        vec![
            Captured::Order {
                raw: String::new(),
                order: o.clone(),
            },
            Captured::Order {
                raw: String::new(),
                order: o,
            },
        ],
        200,
    );
    assert_eq!((first.applied, again.applied, again.duplicates), (1, 0, 2));
    assert_eq!(orders(&store).len(), 1);
    let logged = store.change_log(&acme()).unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].origin.to_string(), "shop/shop-a");
    let state = store.capture_state(&acme(), "shop-a").unwrap();
    assert_eq!((state.orders, state.seq, state.duplicates), (1, 1, 2));
}

#[test]
fn events_in_any_order_converge_on_the_newest_modified() {
    let versions = [
        order("1001", 10, OrderState::PendingPayment, None),
        order("1001", 20, OrderState::Paid, None),
        order("1001", 30, OrderState::Cancelled, None),
    ];
    let perms = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for perm in perms {
        let (_d, store) = store();
        for (n, i) in perm.iter().enumerate() {
            apply(
                &store,
                "shop-a",
                vec![Captured::Order {
                    raw: String::new(),
                    order: versions[*i].clone(),
                }],
                n as i64,
            );
        }
        let all = orders(&store);
        assert_eq!(all.len(), 1, "{perm:?}");
        assert_eq!(all[0].order.status, OrderState::Cancelled, "{perm:?}");
        assert_eq!(all[0].version(), 30);
    }
}

#[test]
fn provenance_records_who_set_each_field_group() {
    let (_d, store) = store();
    apply(
        &store,
        "shop-a",
        vec![Captured::Order {
            raw: String::new(),
            order: order("1001", 10, OrderState::Paid, None),
        }],
        100,
    );
    let mut later = order("1001", 20, OrderState::Shipped, None);
    later.seller_memo = Some("加急".into());
    apply(
        &store,
        "shop-a",
        vec![Captured::Order {
            raw: String::new(),
            order: later,
        }],
        200,
    );
    let r = store.order(&acme(), "shop-a", "1001").unwrap().unwrap();
    let prov = |f: &str| r.provenance.iter().find(|p| p.field == f).unwrap().clone();
    assert_eq!(
        (prov("status").version, prov("status").at),
        (20, UtcMillis(200))
    );
    assert_eq!(prov("memos").version, 20);
    assert_eq!(
        (prov("receiver").version, prov("receiver").at),
        (10, UtcMillis(100))
    );
    assert_eq!(prov("lines[0]").version, 10);
    assert_eq!(prov("times").version, 20, "modified is in times");
    assert!(r.provenance.iter().all(|p| p.origin == "shop/shop-a"));
}

#[test]
fn an_unmapped_line_holds_the_order_until_a_mapping_releases_it() {
    let (_d, store) = store();
    apply(
        &store,
        "shop-a",
        vec![Captured::Order {
            raw: String::new(),
            order: order("1001", 10, OrderState::Paid, None),
        }],
        1,
    );
    let r = store.order(&acme(), "shop-a", "1001").unwrap().unwrap();
    assert!(r.held.as_deref().unwrap().contains("CUP-1"), "{:?}", r.held);
    assert_eq!(r.internal_skus, [None]);
    let held = OrderFilter {
        held_only: true,
        ..OrderFilter::default()
    };
    assert_eq!(
        store.orders_page(&acme(), &held, None, 10).unwrap().len(),
        1
    );
    let mapping = SkuMapping {
        id: new_mapping_id(),
        platform: Platform::Tmall,
        platform_sku_id: None,
        merchant_sku: Some("CUP-1".into()),
        sku: "SKU-CUP".into(),
        created_at: UtcMillis(2),
    };
    assert_eq!(
        store.add_sku_mapping(&acme(), &mapping).unwrap(),
        1,
        "tmall shares taobao's catalogue"
    );
    let r = store.order(&acme(), "shop-a", "1001").unwrap().unwrap();
    assert_eq!(
        (r.held, r.internal_skus),
        (None, vec![Some("SKU-CUP".to_owned())])
    );
    assert_eq!(store.capture_state(&acme(), "shop-a").unwrap().held, 0);
    assert!(
        store
            .add_sku_mapping(
                &acme(),
                &SkuMapping {
                    id: new_mapping_id(),
                    ..mapping.clone()
                }
            )
            .is_err()
    );
    // Another tenant neither sees nor uses acme's mapping.
    let beta = TenantId::new("beta").unwrap();
    assert!(store.sku_mappings(&beta).unwrap().is_empty());
    assert!(!store.delete_sku_mapping(&beta, &mapping.id).unwrap());
    assert!(store.delete_sku_mapping(&acme(), &mapping.id).unwrap());
    assert!(store.sku_mappings(&acme()).unwrap().is_empty());
}

#[test]
fn a_merchant_code_the_tenant_stocks_maps_to_itself() {
    let (_d, store) = store();
    let stock = SourceChange {
        seq: 1,
        version: 1,
        body: Body::Stock(xt_shared::model::StockLevel {
            warehouse: xt_shared::ids::WarehouseCode::new("WH1").unwrap(),
            sku: Sku::new("CUP-1").unwrap(),
            on_hand: 5,
        }),
    };
    let agent = AgentId::new("ag-1").unwrap();
    let source = SourceName::new("wms").unwrap();
    store
        .apply_batch(
            &acme(),
            &agent,
            AgentRole::Warehouse,
            &source,
            vec![stock],
            UtcMillis(0),
        )
        .unwrap()
        .unwrap();
    apply(
        &store,
        "shop-a",
        vec![Captured::Order {
            raw: String::new(),
            order: order("1001", 10, OrderState::Paid, None),
        }],
        1,
    );
    let r = store.order(&acme(), "shop-a", "1001").unwrap().unwrap();
    assert_eq!(
        (r.held, r.internal_skus),
        (None, vec![Some("CUP-1".to_owned())])
    );
}

#[test]
fn a_hashed_email_links_buyers_of_two_shops_into_one_member() {
    let (_d, store) = store();
    apply(
        &store,
        "shop-a",
        vec![Captured::Order {
            raw: String::new(),
            order: order("1001", 10, OrderState::Paid, Some("e1")),
        }],
        1,
    );
    apply(
        &store,
        "shop-b",
        vec![Captured::Order {
            raw: String::new(),
            order: order("2002", 10, OrderState::Paid, Some("e1")),
        }],
        2,
    );
    apply(
        &store,
        "shop-b",
        vec![Captured::Order {
            raw: String::new(),
            order: order("3003", 10, OrderState::Paid, Some("e2")),
        }],
        3,
    );
    let a = store.order(&acme(), "shop-a", "1001").unwrap().unwrap();
    let b = store.order(&acme(), "shop-b", "2002").unwrap().unwrap();
    let c = store.order(&acme(), "shop-b", "3003").unwrap().unwrap();
    assert_eq!(a.member, b.member);
    assert_ne!(a.member, c.member);
    let m = store
        .member(&acme(), a.member.as_deref().unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(m.identities.len(), 3, "{:?}", m.identities);
    let orders = store.member_orders(&acme(), &m.id, 10).unwrap();
    assert_eq!(orders.len(), 2);
    assert!(
        store
            .member(&TenantId::new("beta").unwrap(), &m.id)
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_malformed_payload_is_kept_with_its_reason_and_the_rest_goes_on() {
    let (_d, store) = store();
    let out = apply(
        &store,
        "shop-a",
        vec![
            Captured::Order {
                raw: String::new(),
                order: order("1001", 10, OrderState::Paid, None),
            },
            Captured::Malformed {
                raw: r#"{"tid":"1002","payment":"1.005"}"#.into(),
                order_no: Some("1002".into()),
                reason: "amount has more than 2 decimal places".into(),
            },
            Captured::Order {
                raw: String::new(),
                order: order("1003", 11, OrderState::Paid, None),
            },
        ],
        5,
    );
    assert_eq!((out.applied, out.errors), (2, 1));
    // The next overlapping poll fetches the same bad payload: it is not recorded twice.
    let again = apply(
        &store,
        "shop-a",
        vec![Captured::Malformed {
            raw: r#"{"tid":"1002","payment":"1.005"}"#.into(),
            order_no: Some("1002".into()),
            reason: "amount has more than 2 decimal places".into(),
        }],
        6,
    );
    assert_eq!((again.errors, again.duplicates), (0, 1));
    let errors = store.capture_errors(&acme(), "shop-a", 10).unwrap();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].raw.contains("1.005") && errors[0].reason.contains("decimal"));
    assert_eq!(
        store
            .capture_state(&acme(), "shop-a")
            .unwrap()
            .capture_errors,
        1
    );
}

#[test]
fn listing_is_newest_first_paged_filtered_and_per_tenant() {
    let (_d, store) = store();
    let items = (0..25)
        .map(|i| {
            let status = if i % 2 == 0 {
                OrderState::Paid
            } else {
                OrderState::Shipped
            };
            Captured::Order {
                raw: String::new(),
                order: order(&format!("{}", 1000 + i), 100 + i, status, None),
            }
        })
        .collect();
    apply(&store, "shop-a", items, 1);
    let f = OrderFilter::default();
    let mut seen = Vec::new();
    let mut after: Option<OrderCursor> = None;
    loop {
        let page = store.orders_page(&acme(), &f, after.as_ref(), 10).unwrap();
        let Some(last) = page.last() else { break };
        after = Some((
            last.version(),
            last.shop.clone(),
            last.order.platform_order_no.to_string(),
        ));
        seen.extend(page.into_iter().map(|r| r.version()));
    }
    assert_eq!(seen, (100..125).rev().collect::<Vec<_>>());
    let shipped = OrderFilter {
        status: Some(OrderState::Shipped),
        modified_from: Some(110),
        modified_to: Some(119),
        ..OrderFilter::default()
    };
    let got: Vec<i64> = store
        .orders_page(&acme(), &shipped, None, 100)
        .unwrap()
        .iter()
        .map(|r| r.version())
        .collect();
    assert_eq!(got, [119, 117, 115, 113, 111]);
    let by_no = OrderFilter {
        order_no: Some("1007".into()),
        ..OrderFilter::default()
    };
    assert_eq!(
        store.orders_page(&acme(), &by_no, None, 100).unwrap().len(),
        1
    );
    let beta = TenantId::new("beta").unwrap();
    assert!(store.orders_page(&beta, &f, None, 100).unwrap().is_empty());
    assert!(store.order(&beta, "shop-a", "1007").unwrap().is_none());
}

#[test]
fn a_refund_before_its_order_is_kept_and_an_older_one_never_overwrites() {
    let (_d, store) = store();
    let refund = |modified, state| StandardRefund {
        platform: Platform::Taobao,
        refund_id: DocNo::new("r-1").unwrap(),
        platform_order_no: DocNo::new("1001").unwrap(),
        line_id: None,
        state,
        platform_status: "x".into(),
        amount: yuan(500),
        reason: None,
        created: UtcMillis(1),
        modified: UtcMillis(modified),
    };
    apply(
        &store,
        "shop-a",
        vec![Captured::Refund {
            raw: String::new(),
            refund: refund(20, RefundState::Refunded),
        }],
        1,
    );
    let out = apply(
        &store,
        "shop-a",
        vec![Captured::Refund {
            raw: String::new(),
            refund: refund(10, RefundState::Requested),
        }],
        2,
    );
    assert_eq!(out.stale, 1);
    apply(
        &store,
        "shop-a",
        vec![Captured::Order {
            raw: String::new(),
            order: order("1001", 5, OrderState::Paid, None),
        }],
        3,
    );
    let refunds = store.order_refunds(&acme(), "shop-a", "1001").unwrap();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].refund.state, RefundState::Refunded);
}

/// A shop's capture state as hubs before separate refund health wrote it (version 1): seq 7,
/// orders cursor 1_700_000_000_000, no refunds cursor, a backfill to 1_600_000_000_000 next at
/// 1_650_000_000_000, counters 12 1 3 2 0 5, last applied 1_700_000_001_000.
const CAPTURE_STATE_V1_BYTES: &[u8] = &[
    1, 7, 1, 128, 160, 171, 254, 249, 98, 0, 1, 128, 128, 244, 246, 144, 93, 128, 208, 207, 186,
    133, 96, 12, 1, 3, 2, 0, 5, 1, 208, 175, 171, 254, 249, 98,
];

#[test]
fn capture_state_written_by_older_hubs_still_reads() {
    let v1 = CaptureStateV1 {
        seq: 7,
        orders_cursor: Some(UtcMillis(1_700_000_000_000)),
        refunds_cursor: None,
        backfill: Some((UtcMillis(1_600_000_000_000), UtcMillis(1_650_000_000_000))),
        orders: 12,
        held: 1,
        refunds: 3,
        capture_errors: 2,
        stale: 0,
        duplicates: 5,
        last_applied_at: Some(UtcMillis(1_700_000_001_000)),
    };
    assert_eq!(codec::encode_as(1, &v1), CAPTURE_STATE_V1_BYTES);
    let (_dir, store) = store();
    // The capture table's bytes as they are, to write and read them as an older hub did.
    const RAW: Table<(&str, &str), Vec<u8>> = Table::new("shop_capture");
    let tx = store.write().unwrap();
    tx.open(RAW)
        .unwrap()
        .insert(("acme", "shop-old"), &CAPTURE_STATE_V1_BYTES.to_vec())
        .unwrap();
    tx.commit().unwrap();

    let state = store.capture_state(&acme(), "shop-old").unwrap();
    assert_eq!(
        state,
        CaptureState {
            seq: 7,
            orders_cursor: Some(UtcMillis(1_700_000_000_000)),
            refunds_cursor: None,
            backfill: Some((UtcMillis(1_600_000_000_000), UtcMillis(1_650_000_000_000))),
            orders: 12,
            held: 1,
            refunds: 3,
            capture_errors: 2,
            stale: 0,
            duplicates: 5,
            last_applied_at: Some(UtcMillis(1_700_000_001_000)),
            refunds_backfill: Some(UtcMillis(1_650_000_000_000)),
            refunds_health: StreamHealth::default(),
        }
    );
    // The next change writes version 2, which reads back with the new fields.
    store
        .update_capture_state(&acme(), "shop-old", |c| {
            c.refunds_health.last_error = Some("http 404".into());
        })
        .unwrap();
    let again = store.capture_state(&acme(), "shop-old").unwrap();
    assert_eq!(again.orders, 12);
    assert_eq!(again.refunds_health.last_error.as_deref(), Some("http 404"));
    let bytes = store
        .read()
        .unwrap()
        .open(RAW)
        .unwrap()
        .get(("acme", "shop-old"))
        .unwrap()
        .unwrap();
    assert_eq!(bytes[0], CAPTURE_STATE_V2);
    assert_eq!(codec::decode::<CaptureState>(&bytes).unwrap(), again);
}

/// A capture state as this version writes it (version 2), kept so later versions prove they
/// still read it: the version-1 state above plus a refunds backfill position and refund health.
const CAPTURE_STATE_V2_BYTES: &[u8] = &[
    2, 7, 1, 128, 160, 171, 254, 249, 98, 1, 128, 144, 204, 189, 175, 98, 1, 128, 128, 244, 246,
    144, 93, 128, 208, 207, 186, 133, 96, 12, 1, 3, 2, 0, 5, 1, 208, 175, 171, 254, 249, 98, 1,
    128, 192, 240, 249, 186, 95, 1, 160, 191, 171, 254, 249, 98, 1, 184, 23, 1, 4, 1, 8, 104, 116,
    116, 112, 32, 52, 48, 52,
];

#[test]
fn capture_state_version_2_golden_bytes_still_read() {
    let state = CaptureState {
        seq: 7,
        orders_cursor: Some(UtcMillis(1_700_000_000_000)),
        refunds_cursor: Some(UtcMillis(1_690_000_000_000)),
        backfill: Some((UtcMillis(1_600_000_000_000), UtcMillis(1_650_000_000_000))),
        orders: 12,
        held: 1,
        refunds: 3,
        capture_errors: 2,
        stale: 0,
        duplicates: 5,
        last_applied_at: Some(UtcMillis(1_700_000_001_000)),
        refunds_backfill: Some(UtcMillis(1_640_000_000_000)),
        refunds_health: StreamHealth {
            last_poll_ok_at: Some(UtcMillis(1_700_000_002_000)),
            capture_lag_ms: Some(1_500),
            error_count: Some(4),
            last_error: Some("http 404".into()),
        },
    };
    assert_eq!(codec::encode(&state), CAPTURE_STATE_V2_BYTES);
    assert_eq!(
        codec::decode::<CaptureState>(CAPTURE_STATE_V2_BYTES).unwrap(),
        state
    );
}

#[test]
fn what_a_channel_parses_is_what_the_store_applies_without_a_conversion() {
    let (_d, store) = store();
    let path = format!(
        "{}/tests/fixtures/channels/shopify/partially-refunded-partial-fulfilled.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let body = std::fs::read(path).unwrap();
    // The webhook parser's items go to the store as they are: one type from the channel to
    // the tables.
    let items: Vec<Captured> =
        crate::shops::channels::parse_webhook_order(Platform::Shopify, &body);
    let refunds = items
        .iter()
        .filter(|c| matches!(c, Captured::Refund { .. }))
        .count() as u64;
    assert!(refunds > 0, "the fixture's order holds refunds");
    let out = apply(&store, "shop-1", items, 1_000);
    assert_eq!((out.applied, out.errors), (1 + refunds, 0));
    assert_eq!(orders(&store).len(), 1);
    let malformed = crate::shops::channels::parse_webhook_order(Platform::Shopify, b"{not json");
    let out = apply(&store, "shop-1", malformed, 2_000);
    assert_eq!((out.applied, out.errors), (0, 1));
}
