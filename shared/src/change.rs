//! The `Change` envelope: the one path by which data enters the hub (see DESIGN.md).

use crate::ids::{AgentId, DocNo, Sku, SourceName, WarehouseCode};
use crate::model::{
    OrderSkeleton, PaymentFlow, PosSale, ShipmentConfirmation, StockLevel, StockMovement,
};
use crate::order::{StandardOrder, StandardRefund};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Who produced a change. Seqs are strictly increasing per origin.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Origin {
    /// One `[[source]]` of one enrolled agent. The agent id comes from its certificate, never
    /// from what the agent says.
    Agent { agent: AgentId, source: SourceName },
    /// A bound sales-platform shop (店铺): its capture loop and its webhooks. Appended after
    /// `Agent`, so the wire encoding of older variants is unchanged.
    Shop { shop: DocNo },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Agent { agent, source } => write!(f, "{agent}/{source}"),
            Origin::Shop { shop } => write!(f, "shop/{shop}"),
        }
    }
}

/// The key of the thing a change describes. Two changes with equal keys describe the same thing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum EntityKey {
    Stock {
        warehouse: WarehouseCode,
        sku: Sku,
    },
    StockMovement {
        warehouse: WarehouseCode,
        movement_no: DocNo,
    },
    Shipment {
        delivery_no: DocNo,
    },
    PosSale {
        store: WarehouseCode,
        sale_no: DocNo,
    },
    PaymentFlow {
        account: DocNo,
        flow_no: DocNo,
    },
    Order {
        shop: DocNo,
        platform_order_no: DocNo,
    },
    /// A platform refund, kept beside its order.
    Refund {
        shop: DocNo,
        refund_id: DocNo,
    },
}

impl EntityKey {
    /// The kind name used in tables, APIs and config (`entity = "stock"`).
    pub fn kind(&self) -> EntityKind {
        match self {
            EntityKey::Stock { .. } => EntityKind::Stock,
            EntityKey::StockMovement { .. } => EntityKind::StockMovement,
            EntityKey::Shipment { .. } => EntityKind::Shipment,
            EntityKey::PosSale { .. } => EntityKind::PosSale,
            EntityKey::PaymentFlow { .. } => EntityKind::PaymentFlow,
            EntityKey::Order { .. } => EntityKind::Order,
            EntityKey::Refund { .. } => EntityKind::Refund,
        }
    }
}

impl fmt::Display for EntityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntityKey::Stock { warehouse, sku } => write!(f, "stock/{warehouse}/{sku}"),
            EntityKey::StockMovement {
                warehouse,
                movement_no,
            } => {
                write!(f, "stock_movement/{warehouse}/{movement_no}")
            }
            EntityKey::Shipment { delivery_no } => write!(f, "shipment/{delivery_no}"),
            EntityKey::PosSale { store, sale_no } => write!(f, "pos_sale/{store}/{sale_no}"),
            EntityKey::PaymentFlow { account, flow_no } => {
                write!(f, "payment_flow/{account}/{flow_no}")
            }
            EntityKey::Order {
                shop,
                platform_order_no,
            } => {
                write!(f, "order/{shop}/{platform_order_no}")
            }
            EntityKey::Refund { shop, refund_id } => write!(f, "refund/{shop}/{refund_id}"),
        }
    }
}

/// What kind of rows a source yields (`entity = "…"` in the agent config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Stock,
    StockMovement,
    Shipment,
    PosSale,
    PaymentFlow,
    Order,
    Refund,
}

impl EntityKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            EntityKind::Stock => "stock",
            EntityKind::StockMovement => "stock_movement",
            EntityKind::Shipment => "shipment",
            EntityKind::PosSale => "pos_sale",
            EntityKind::PaymentFlow => "payment_flow",
            EntityKind::Order => "order",
            EntityKind::Refund => "refund",
        }
    }
}

/// The typed payload of a change, already in the standard model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    Stock(StockLevel),
    StockMovement(StockMovement),
    Shipment(ShipmentConfirmation),
    PosSale(PosSale),
    PaymentFlow(PaymentFlow),
    Order(OrderSkeleton),
    /// A sales-platform order captured from `shop`, already parsed into the standard order.
    /// Appended: the variants above keep their wire encoding.
    PlatformOrder {
        shop: DocNo,
        order: Box<StandardOrder>,
    },
    /// A platform refund captured from `shop`.
    PlatformRefund {
        shop: DocNo,
        refund: StandardRefund,
    },
}

impl Body {
    /// The entity this body describes; the envelope's `entity` is always this.
    pub fn entity(&self) -> EntityKey {
        match self {
            Body::Stock(s) => EntityKey::Stock {
                warehouse: s.warehouse.clone(),
                sku: s.sku.clone(),
            },
            Body::StockMovement(m) => EntityKey::StockMovement {
                warehouse: m.warehouse.clone(),
                movement_no: m.movement_no.clone(),
            },
            Body::Shipment(s) => EntityKey::Shipment {
                delivery_no: s.delivery_no.clone(),
            },
            Body::PosSale(p) => EntityKey::PosSale {
                store: p.store.clone(),
                sale_no: p.sale_no.clone(),
            },
            Body::PaymentFlow(p) => EntityKey::PaymentFlow {
                account: p.account.clone(),
                flow_no: p.flow_no.clone(),
            },
            Body::Order(o) => EntityKey::Order {
                shop: o.shop.clone(),
                platform_order_no: o.platform_order_no.clone(),
            },
            Body::PlatformOrder { shop, order } => EntityKey::Order {
                shop: shop.clone(),
                platform_order_no: order.platform_order_no.clone(),
            },
            Body::PlatformRefund { shop, refund } => EntityKey::Refund {
                shop: shop.clone(),
                refund_id: refund.refund_id.clone(),
            },
        }
    }
}

/// A change as the agent's outbox stores it and sends it: the origin is implied by the
/// connection (agent certificate) and the batch (source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceChange {
    pub seq: u64,
    /// The source's own ordering for this entity (row `updated_at`, file time …).
    pub version: i64,
    pub body: Body,
}

/// The full envelope, as the hub sees a change once it knows the origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub origin: Origin,
    pub seq: u64,
    pub entity: EntityKey,
    pub version: i64,
    pub body: Body,
}

impl Change {
    pub fn from_source(origin: Origin, change: SourceChange) -> Self {
        Change {
            origin,
            seq: change.seq,
            entity: change.body.entity(),
            version: change.version,
            body: change.body,
        }
    }
}
