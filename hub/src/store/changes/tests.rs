//! The stored mirrors of the change envelope keep the model's layout today and convert back to
//! the same values.

use super::*;
use crate::orders::records::tests::{rich_order, rich_refund};
use crate::store::codec::{decode, encode};
use crate::store::{LogEntry, LoggedBatch};
use xt_shared::ids::TenantId;
use xt_shared::money::Currency;

fn doc(no: &str) -> DocNo {
    DocNo::new(no).unwrap()
}

fn sku(code: &str) -> Sku {
    Sku::new(code).unwrap()
}

fn wh(code: &str) -> WarehouseCode {
    WarehouseCode::new(code).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

fn lines() -> Vec<QuantityLine> {
    vec![
        QuantityLine {
            sku: sku("CUP-1"),
            quantity: 2,
        },
        QuantityLine {
            sku: sku("CUP-2"),
            quantity: -1,
        },
    ]
}

/// One body of every variant, each with every optional field set.
fn every_body() -> Vec<Body> {
    vec![
        Body::Stock(StockLevel {
            warehouse: wh("WH BJ"),
            sku: sku("CUP-1"),
            on_hand: -3,
        }),
        Body::StockMovement(StockMovement {
            movement_no: doc("MV-1"),
            warehouse: wh("WH-SH"),
            sku: sku("CUP-2"),
            delta: -7,
            kind: MovementKind::Transfer,
            occurred_at: UtcMillis(1_700_000_000_001),
        }),
        Body::Shipment(ShipmentConfirmation {
            delivery_no: doc("DO-1"),
            warehouse: wh("WH-SH"),
            order_no: Some(doc("SO-1")),
            carrier: "SF".into(),
            tracking_no: "SF1234567890".into(),
            shipped_at: UtcMillis(1_700_000_000_002),
            lines: lines(),
        }),
        Body::PosSale(PosSale {
            store: wh("STORE-1"),
            sale_no: doc("R-1"),
            total: Money::new(1999, Currency::CNY),
            sold_at: UtcMillis(1_700_000_000_003),
            lines: vec![SaleLine {
                sku: sku("CUP-1"),
                quantity: 1,
                unit_price: Money::new(1999, Currency::CNY),
            }],
        }),
        Body::PaymentFlow(PaymentFlow {
            account: doc("2088-1"),
            flow_no: doc("F-1"),
            direction: FlowDirection::Out,
            amount: usd(1000),
            fee: usd(6),
            order_ref: Some(doc("SO-1")),
            occurred_at: UtcMillis(1_700_000_000_004),
        }),
        Body::Order(OrderSkeleton {
            shop: doc("shop-1"),
            platform_order_no: doc("SO-1"),
            status: OrderStatus::Closed,
            paid: usd(2998),
            created_at: UtcMillis(1_700_000_000_005),
            lines: lines(),
        }),
        Body::PlatformOrder {
            shop: doc("shop-1"),
            order: Box::new(rich_order()),
        },
        Body::PlatformRefund {
            shop: doc("shop-1"),
            refund: rich_refund(),
        },
    ]
}

fn every_change() -> Vec<SourceChange> {
    every_body()
        .into_iter()
        .enumerate()
        .map(|(i, body)| SourceChange {
            seq: i as u64 + 1,
            version: 1_700_000_000_000 + i as i64,
            body,
        })
        .collect()
}

#[test]
fn every_body_round_trips_to_the_models_bytes() {
    let changes = every_change();
    // Every variant once, in order (a new variant does not compile here until it has a case).
    let variants: Vec<usize> = changes
        .iter()
        .map(|c| match c.body {
            Body::Stock(_) => 0,
            Body::StockMovement(_) => 1,
            Body::Shipment(_) => 2,
            Body::PosSale(_) => 3,
            Body::PaymentFlow(_) => 4,
            Body::Order(_) => 5,
            Body::PlatformOrder { .. } => 6,
            Body::PlatformRefund { .. } => 7,
        })
        .collect();
    assert_eq!(variants, (0..8).collect::<Vec<_>>());
    for change in changes {
        let stored = StoredSourceChange::from(&change);
        let bytes = postcard::to_allocvec(&stored).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&change).unwrap(), "{change:?}");
        let read: StoredSourceChange = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(read, stored);
        assert_eq!(SourceChange::try_from(read).unwrap(), change);
    }
}

#[test]
fn every_change_moved_in_stores_as_it_does_borrowed() {
    for change in every_change() {
        let borrowed = StoredSourceChange::from(&change);
        assert_eq!(StoredSourceChange::from(change), borrowed);
    }
}

#[test]
fn a_logged_batch_of_given_changes_encodes_as_one_of_borrowed_ones() {
    let tenant = TenantId::new("demo").unwrap();
    let origin = Origin::Shop {
        shop: doc("shop-1"),
    };
    let changes = every_change();
    let borrowed = LoggedBatch::new(tenant.clone(), &origin, UtcMillis(9), &changes);
    let given = LoggedBatch::new(tenant, &origin, UtcMillis(9), changes);
    assert_eq!(
        encode(&LogEntry::Batch(given)),
        encode(&LogEntry::Batch(borrowed))
    );
}

#[test]
fn every_origin_round_trips_to_the_models_bytes() {
    for origin in [
        Origin::Agent {
            agent: AgentId::new("ag-1").unwrap(),
            source: SourceName::new("wms").unwrap(),
        },
        Origin::Shop {
            shop: doc("shop-1"),
        },
    ] {
        let stored = StoredOrigin::from(&origin);
        let bytes = postcard::to_allocvec(&stored).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&origin).unwrap());
        let read: StoredOrigin = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(Origin::try_from(read).unwrap(), origin);
    }
}

/// The model form of a logged batch, laid out as the record was first stored.
#[derive(Serialize)]
enum ModelEntry {
    Batch {
        tenant: TenantId,
        origin: Origin,
        applied_at: UtcMillis,
        changes: Vec<SourceChange>,
    },
}

#[test]
fn a_logged_batch_stores_the_models_bytes_and_reads_back() {
    let tenant = TenantId::new("demo").unwrap();
    let origin = Origin::Shop {
        shop: doc("shop-1"),
    };
    let changes = every_change();
    let entry = LogEntry::Batch(LoggedBatch::new(
        tenant.clone(),
        &origin,
        UtcMillis(9),
        &changes,
    ));
    let model = ModelEntry::Batch {
        tenant,
        origin: origin.clone(),
        applied_at: UtcMillis(9),
        changes: changes.clone(),
    };
    let bytes = encode(&entry);
    assert_eq!(bytes[1..], postcard::to_allocvec(&model).unwrap());
    let LogEntry::Batch(read) = decode::<LogEntry>(&bytes).unwrap() else {
        panic!("not a batch");
    };
    let envelopes = read.envelopes().unwrap();
    assert_eq!(envelopes.len(), changes.len());
    for (e, c) in envelopes.into_iter().zip(changes) {
        assert_eq!(e, xt_shared::change::Change::from_source(origin.clone(), c));
    }
}

#[test]
fn an_id_the_model_refuses_reads_as_corrupt() {
    let entry = LoggedBatch {
        tenant: TenantId::new("demo").unwrap(),
        origin: StoredOrigin::Shop { shop: " ".into() },
        applied_at: UtcMillis(1),
        changes: Vec::new(),
    };
    // Shown as stored when the model refuses it.
    assert!(format!("{entry:?}").contains("origin: Shop { shop: \" \" }"));
    assert!(matches!(
        entry.into_model(),
        Err(crate::store::StoreError::Corrupt {
            table: "tenant_log",
            ..
        })
    ));
}

/// The entity and reject records as they were first stored, holding the model.
#[derive(Serialize)]
struct ModelEntity {
    version: i64,
    origin: String,
    body: Body,
}

#[derive(Serialize)]
struct ModelReject {
    reason: String,
    change: SourceChange,
}

#[test]
fn entity_and_reject_records_store_the_models_bytes_and_show_the_model() {
    use crate::agents::store::{EntityRecord, RejectRecord};
    for change in every_change() {
        let entity = EntityRecord {
            version: change.version,
            origin: "ag-1/wms".into(),
            body: (&change.body).into(),
        };
        let model = ModelEntity {
            version: change.version,
            origin: "ag-1/wms".into(),
            body: change.body.clone(),
        };
        let bytes = encode(&entity);
        assert_eq!(bytes[1..], postcard::to_allocvec(&model).unwrap());
        let read: EntityRecord = decode(&bytes).unwrap();
        assert_eq!(Body::try_from(read.body.clone()).unwrap(), change.body);
        assert!(format!("{read:?}").contains(&format!("body: {:?}", change.body)));

        let reject = RejectRecord {
            reason: "not allowed".into(),
            change: (&change).into(),
        };
        let model = ModelReject {
            reason: "not allowed".into(),
            change: change.clone(),
        };
        let bytes = encode(&reject);
        assert_eq!(bytes[1..], postcard::to_allocvec(&model).unwrap());
        let read: RejectRecord = decode(&bytes).unwrap();
        assert_eq!(SourceChange::try_from(read.change.clone()).unwrap(), change);
        assert!(format!("{read:?}").contains(&format!("change: {change:?}")));
    }
}
