//! The stored form of the change envelope: [`StoredOrigin`], [`StoredSourceChange`] and
//! [`StoredBody`] with its parts, mirrors of `xt_shared::change` and the model types its bodies
//! carry. The change log ([`super::LoggedBatch`]), the agents' entities and their refused
//! changes (`agents::store`) hold these, never the shared types.
//!
//! Why the mirror: the shared model and the agent protocol carry the same types, and they evolve
//! (a new field in a stock level, a body variant reordered, an id type stored differently).
//! Stored bytes may not change with them: what a released hub wrote must read to the same
//! meaning, and a new layout is a new record version (`store::codec`). The mirrors are laid out
//! exactly as the shared types were when these records were first stored (the same fields in the
//! same order, the same enum variants in the same order, since postcard stores a variant's index;
//! ids as strings, money as [`StoredMoney`], times as ms; `Box<T>` encodes as `T`), and the
//! conversions here are where a model change shows up: as a compile error, not as other bytes.
//! The orders room does the same for its order and refund records: `orders::records` (whose
//! [`StoredOrder`] and [`StoredRefund`] the platform bodies reuse) explains the pattern.
//!
//! A change converts borrowed (`From<&SourceChange>`) or moved (`From<SourceChange>`: an applied
//! platform order's text goes into the log without a copy); both give the same stored value.
//!
//! *Invariant:* model → stored → model is the identity, and the stored bytes equal the model's
//! bytes today (`changes/tests.rs`); stored → model fails only on a value the model refuses
//! today (an id or a currency code), which the records read as corrupt.

use crate::orders::records::{NotInModel, StoredMoney, StoredOrder, StoredRefund};
use crate::store::enums::mirror_enum;
use serde::{Deserialize, Serialize};
use xt_shared::change::{Body, Origin, SourceChange};
use xt_shared::ids::{AgentId, DocNo, Sku, SourceName, WarehouseCode};
use xt_shared::model::{
    FlowDirection, MovementKind, OrderSkeleton, OrderStatus, PaymentFlow, PosSale, QuantityLine,
    SaleLine, ShipmentConfirmation, StockLevel, StockMovement, UtcMillis,
};
use xt_shared::money::Money;
use xt_shared::order::{StandardOrder, StandardRefund};

#[cfg(test)]
mod tests;

/// [`Origin`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredOrigin {
    Agent { agent: String, source: String },
    Shop { shop: String },
}

/// [`SourceChange`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSourceChange {
    pub seq: u64,
    pub version: i64,
    pub body: StoredBody,
}

/// [`Body`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredBody {
    Stock(StoredStockLevel),
    StockMovement(StoredStockMovement),
    Shipment(StoredShipment),
    PosSale(StoredPosSale),
    PaymentFlow(StoredPaymentFlow),
    Order(StoredOrderSkeleton),
    PlatformOrder {
        shop: String,
        order: Box<StoredOrder>,
    },
    PlatformRefund {
        shop: String,
        refund: StoredRefund,
    },
}

/// [`StockLevel`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStockLevel {
    pub warehouse: String,
    pub sku: String,
    pub on_hand: i64,
}

mirror_enum!(
    /// [`MovementKind`] as stored.
    StoredMovementKind <=> MovementKind { Receipt, Shipment, Return, Adjustment, Transfer, Other }
);

/// [`StockMovement`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStockMovement {
    pub movement_no: String,
    pub warehouse: String,
    pub sku: String,
    pub delta: i64,
    pub kind: StoredMovementKind,
    pub occurred_at: i64,
}

/// [`QuantityLine`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredQuantityLine {
    pub sku: String,
    pub quantity: i64,
}

/// [`ShipmentConfirmation`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredShipment {
    pub delivery_no: String,
    pub warehouse: String,
    pub order_no: Option<String>,
    pub carrier: String,
    pub tracking_no: String,
    pub shipped_at: i64,
    pub lines: Vec<StoredQuantityLine>,
}

/// [`SaleLine`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSaleLine {
    pub sku: String,
    pub quantity: i64,
    pub unit_price: StoredMoney,
}

/// [`PosSale`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPosSale {
    pub store: String,
    pub sale_no: String,
    pub total: StoredMoney,
    pub sold_at: i64,
    pub lines: Vec<StoredSaleLine>,
}

mirror_enum!(
    /// [`FlowDirection`] as stored.
    StoredFlowDirection <=> FlowDirection { In, Out }
);

/// [`PaymentFlow`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredPaymentFlow {
    pub account: String,
    pub flow_no: String,
    pub direction: StoredFlowDirection,
    pub amount: StoredMoney,
    pub fee: StoredMoney,
    pub order_ref: Option<String>,
    pub occurred_at: i64,
}

mirror_enum!(
    /// [`OrderStatus`] as stored.
    StoredOrderStatus <=> OrderStatus { PendingPayment, Paid, Shipped, Completed, Cancelled, Closed }
);

/// [`OrderSkeleton`] as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredOrderSkeleton {
    pub shop: String,
    pub platform_order_no: String,
    pub status: StoredOrderStatus,
    pub paid: StoredMoney,
    pub created_at: i64,
    pub lines: Vec<StoredQuantityLine>,
}

impl From<&Origin> for StoredOrigin {
    fn from(o: &Origin) -> StoredOrigin {
        match o {
            Origin::Agent { agent, source } => StoredOrigin::Agent {
                agent: agent.to_string(),
                source: source.to_string(),
            },
            Origin::Shop { shop } => StoredOrigin::Shop {
                shop: shop.to_string(),
            },
        }
    }
}

impl TryFrom<StoredOrigin> for Origin {
    type Error = NotInModel;
    fn try_from(o: StoredOrigin) -> Result<Origin, NotInModel> {
        Ok(match o {
            StoredOrigin::Agent { agent, source } => Origin::Agent {
                agent: AgentId::new(agent)?,
                source: SourceName::new(source)?,
            },
            StoredOrigin::Shop { shop } => Origin::Shop {
                shop: DocNo::new(shop)?,
            },
        })
    }
}

impl From<&SourceChange> for StoredSourceChange {
    fn from(c: &SourceChange) -> StoredSourceChange {
        StoredSourceChange {
            seq: c.seq,
            version: c.version,
            body: (&c.body).into(),
        }
    }
}

/// Moves the change into its stored form: an applied platform order or refund goes into the
/// change log without being copied (its ids are: the model does not give their text up).
impl From<SourceChange> for StoredSourceChange {
    fn from(c: SourceChange) -> StoredSourceChange {
        StoredSourceChange {
            seq: c.seq,
            version: c.version,
            body: c.body.into(),
        }
    }
}

impl TryFrom<StoredSourceChange> for SourceChange {
    type Error = NotInModel;
    fn try_from(c: StoredSourceChange) -> Result<SourceChange, NotInModel> {
        Ok(SourceChange {
            seq: c.seq,
            version: c.version,
            body: c.body.try_into()?,
        })
    }
}

fn stored_lines(lines: &[QuantityLine]) -> Vec<StoredQuantityLine> {
    lines
        .iter()
        .map(|l| StoredQuantityLine {
            sku: l.sku.to_string(),
            quantity: l.quantity,
        })
        .collect()
}

fn model_lines(lines: Vec<StoredQuantityLine>) -> Result<Vec<QuantityLine>, NotInModel> {
    lines
        .into_iter()
        .map(|l| {
            Ok(QuantityLine {
                sku: Sku::new(l.sku)?,
                quantity: l.quantity,
            })
        })
        .collect()
}

impl From<&Body> for StoredBody {
    fn from(b: &Body) -> StoredBody {
        match b {
            Body::Stock(s) => StoredBody::Stock(StoredStockLevel {
                warehouse: s.warehouse.to_string(),
                sku: s.sku.to_string(),
                on_hand: s.on_hand,
            }),
            Body::StockMovement(m) => StoredBody::StockMovement(StoredStockMovement {
                movement_no: m.movement_no.to_string(),
                warehouse: m.warehouse.to_string(),
                sku: m.sku.to_string(),
                delta: m.delta,
                kind: m.kind.into(),
                occurred_at: m.occurred_at.0,
            }),
            Body::Shipment(s) => StoredBody::Shipment(StoredShipment {
                delivery_no: s.delivery_no.to_string(),
                warehouse: s.warehouse.to_string(),
                order_no: s.order_no.as_ref().map(DocNo::to_string),
                carrier: s.carrier.clone(),
                tracking_no: s.tracking_no.clone(),
                shipped_at: s.shipped_at.0,
                lines: stored_lines(&s.lines),
            }),
            Body::PosSale(p) => StoredBody::PosSale(StoredPosSale {
                store: p.store.to_string(),
                sale_no: p.sale_no.to_string(),
                total: p.total.into(),
                sold_at: p.sold_at.0,
                lines: p
                    .lines
                    .iter()
                    .map(|l| StoredSaleLine {
                        sku: l.sku.to_string(),
                        quantity: l.quantity,
                        unit_price: l.unit_price.into(),
                    })
                    .collect(),
            }),
            Body::PaymentFlow(p) => StoredBody::PaymentFlow(StoredPaymentFlow {
                account: p.account.to_string(),
                flow_no: p.flow_no.to_string(),
                direction: p.direction.into(),
                amount: p.amount.into(),
                fee: p.fee.into(),
                order_ref: p.order_ref.as_ref().map(DocNo::to_string),
                occurred_at: p.occurred_at.0,
            }),
            Body::Order(o) => StoredBody::Order(StoredOrderSkeleton {
                shop: o.shop.to_string(),
                platform_order_no: o.platform_order_no.to_string(),
                status: o.status.into(),
                paid: o.paid.into(),
                created_at: o.created_at.0,
                lines: stored_lines(&o.lines),
            }),
            Body::PlatformOrder { shop, order } => StoredBody::PlatformOrder {
                shop: shop.to_string(),
                order: Box::new(order.as_ref().into()),
            },
            Body::PlatformRefund { shop, refund } => StoredBody::PlatformRefund {
                shop: shop.to_string(),
                refund: refund.into(),
            },
        }
    }
}

/// Moves a platform order or refund into its mirror; the agents' bodies (ids and numbers, few
/// strings of their own) convert as borrowed.
impl From<Body> for StoredBody {
    fn from(b: Body) -> StoredBody {
        match b {
            Body::PlatformOrder { shop, order } => StoredBody::PlatformOrder {
                shop: shop.to_string(),
                order: Box::new((*order).into()),
            },
            Body::PlatformRefund { shop, refund } => StoredBody::PlatformRefund {
                shop: shop.to_string(),
                refund: refund.into(),
            },
            other => (&other).into(),
        }
    }
}

impl TryFrom<StoredBody> for Body {
    type Error = NotInModel;
    fn try_from(b: StoredBody) -> Result<Body, NotInModel> {
        Ok(match b {
            StoredBody::Stock(s) => Body::Stock(StockLevel {
                warehouse: WarehouseCode::new(s.warehouse)?,
                sku: Sku::new(s.sku)?,
                on_hand: s.on_hand,
            }),
            StoredBody::StockMovement(m) => Body::StockMovement(StockMovement {
                movement_no: DocNo::new(m.movement_no)?,
                warehouse: WarehouseCode::new(m.warehouse)?,
                sku: Sku::new(m.sku)?,
                delta: m.delta,
                kind: m.kind.into(),
                occurred_at: UtcMillis(m.occurred_at),
            }),
            StoredBody::Shipment(s) => Body::Shipment(ShipmentConfirmation {
                delivery_no: DocNo::new(s.delivery_no)?,
                warehouse: WarehouseCode::new(s.warehouse)?,
                order_no: s.order_no.map(DocNo::new).transpose()?,
                carrier: s.carrier,
                tracking_no: s.tracking_no,
                shipped_at: UtcMillis(s.shipped_at),
                lines: model_lines(s.lines)?,
            }),
            StoredBody::PosSale(p) => Body::PosSale(PosSale {
                store: WarehouseCode::new(p.store)?,
                sale_no: DocNo::new(p.sale_no)?,
                total: p.total.try_into()?,
                sold_at: UtcMillis(p.sold_at),
                lines: p
                    .lines
                    .into_iter()
                    .map(|l| {
                        Ok(SaleLine {
                            sku: Sku::new(l.sku)?,
                            quantity: l.quantity,
                            unit_price: Money::try_from(l.unit_price)?,
                        })
                    })
                    .collect::<Result<_, NotInModel>>()?,
            }),
            StoredBody::PaymentFlow(p) => Body::PaymentFlow(PaymentFlow {
                account: DocNo::new(p.account)?,
                flow_no: DocNo::new(p.flow_no)?,
                direction: p.direction.into(),
                amount: p.amount.try_into()?,
                fee: p.fee.try_into()?,
                order_ref: p.order_ref.map(DocNo::new).transpose()?,
                occurred_at: UtcMillis(p.occurred_at),
            }),
            StoredBody::Order(o) => Body::Order(OrderSkeleton {
                shop: DocNo::new(o.shop)?,
                platform_order_no: DocNo::new(o.platform_order_no)?,
                status: o.status.into(),
                paid: o.paid.try_into()?,
                created_at: UtcMillis(o.created_at),
                lines: model_lines(o.lines)?,
            }),
            StoredBody::PlatformOrder { shop, order } => Body::PlatformOrder {
                shop: DocNo::new(shop)?,
                order: Box::new(StandardOrder::try_from(*order)?),
            },
            StoredBody::PlatformRefund { shop, refund } => Body::PlatformRefund {
                shop: DocNo::new(shop)?,
                refund: StandardRefund::try_from(refund)?,
            },
        })
    }
}
