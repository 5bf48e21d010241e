//! The standard model v1: what legacy rows and platform payloads become once parsed at the edge.
//!
//! These are domain types. Wire frames carry them inside [`crate::change::Body`]; storage encodes
//! them with its own version byte (see the hub's `store` module).

use crate::ids::{DocNo, Sku, WarehouseCode};
use crate::money::Money;
use serde::{Deserialize, Serialize};

/// A point in time, milliseconds since the Unix epoch, UTC. Callers pass it in; `shared` never
/// reads the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UtcMillis(pub i64);

/// How many units of one SKU a warehouse holds right now (a snapshot row from the WMS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub warehouse: WarehouseCode,
    pub sku: Sku,
    /// Units physically on hand; may be negative when the legacy system allows it.
    pub on_hand: i64,
}

/// Why stock moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MovementKind {
    Receipt,
    Shipment,
    Return,
    Adjustment,
    Transfer,
    Other,
}

/// One ledger entry of the WMS: a signed change of on-hand quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockMovement {
    pub movement_no: DocNo,
    pub warehouse: WarehouseCode,
    pub sku: Sku,
    pub delta: i64,
    pub kind: MovementKind,
    pub occurred_at: UtcMillis,
}

/// The warehouse says a delivery order left the building.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentConfirmation {
    pub delivery_no: DocNo,
    pub warehouse: WarehouseCode,
    /// The order this delivery fulfils, when the WMS knows it.
    pub order_no: Option<DocNo>,
    pub carrier: String,
    pub tracking_no: String,
    pub shipped_at: UtcMillis,
    pub lines: Vec<QuantityLine>,
}

/// A SKU and a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantityLine {
    pub sku: Sku,
    pub quantity: i64,
}

/// A sale line with its price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaleLine {
    pub sku: Sku,
    pub quantity: i64,
    pub unit_price: Money,
}

/// A till receipt from an offline store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosSale {
    pub store: WarehouseCode,
    pub sale_no: DocNo,
    pub total: Money,
    pub sold_at: UtcMillis,
    pub lines: Vec<SaleLine>,
}

/// Direction of a payment flow, seen from the merchant's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlowDirection {
    In,
    Out,
}

/// One line of a payment platform's bill or a bank statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFlow {
    /// The merchant's account at the payment platform.
    pub account: DocNo,
    pub flow_no: DocNo,
    pub direction: FlowDirection,
    /// Always positive; `direction` says which way it went.
    pub amount: Money,
    pub fee: Money,
    /// The order or trade this flow belongs to, when the bill names it.
    pub order_ref: Option<DocNo>,
    pub occurred_at: UtcMillis,
}

/// The standard order status, shared by every platform's mapping table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Shipped,
    Completed,
    Cancelled,
    Closed,
}

/// The order skeleton of v1: enough to link shipments, sales and flows. Later issues widen it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSkeleton {
    pub shop: DocNo,
    pub platform_order_no: DocNo,
    pub status: OrderStatus,
    pub paid: Money,
    pub created_at: UtcMillis,
    pub lines: Vec<QuantityLine>,
}
