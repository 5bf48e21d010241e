//! Commands the hub sends an agent to apply to its legacy system, and what the agent answers.
//!
//! A command travels in [`crate::protocol::Frame::Command`] on the command stream, which an
//! agent opens with [`crate::protocol::Frame::CommandsReady`] only when it has sinks: an agent
//! older than commands never opens it and never receives one. Each command has a seq, strictly
//! increasing per agent; the hub keeps it in the agent's durable outbox until the agent answers
//! with [`crate::protocol::Frame::CommandResult`], and sends it again after a reconnect until
//! then. The delivery number is the idempotency key: a command sent twice creates one delivery
//! order in the legacy system (the agent answers [`CommandOutcome::AlreadyDone`]).
//!
//! Like frames, variants are only appended, never reordered or removed.

use crate::ids::{DocNo, Sku, WarehouseCode};
use crate::model::UtcMillis;
use serde::{Deserialize, Serialize};

/// What the hub asks an agent to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentCommand {
    /// Create a delivery order (发货单) in the warehouse's legacy WMS.
    CreateDelivery(Box<DeliveryOrder>),
    /// Cancel (intercept) a delivery order not yet shipped.
    CancelDelivery {
        delivery_no: DocNo,
        warehouse: WarehouseCode,
        reason: String,
    },
}

impl AgentCommand {
    /// The delivery number the command is about: its idempotency key.
    pub fn delivery_no(&self) -> &DocNo {
        match self {
            AgentCommand::CreateDelivery(order) => &order.delivery_no,
            AgentCommand::CancelDelivery { delivery_no, .. } => delivery_no,
        }
    }

    /// The warehouse the command is for (a sink serves the warehouses its config names).
    pub fn warehouse(&self) -> &WarehouseCode {
        match self {
            AgentCommand::CreateDelivery(order) => &order.warehouse,
            AgentCommand::CancelDelivery { warehouse, .. } => warehouse,
        }
    }

    /// The kind name used in logs and sink config.
    pub fn kind(&self) -> &'static str {
        match self {
            AgentCommand::CreateDelivery(_) => "create_delivery",
            AgentCommand::CancelDelivery { .. } => "cancel_delivery",
        }
    }
}

/// A delivery order: what the warehouse must pick, pack and ship, and to whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryOrder {
    /// The hub's delivery number, unique per tenant: the idempotency key in the WMS.
    pub delivery_no: DocNo,
    pub warehouse: WarehouseCode,
    /// The shop the orders were sold in.
    pub shop: DocNo,
    /// The platform orders this delivery fulfils (several when merged).
    pub order_nos: Vec<DocNo>,
    pub receiver: DeliveryReceiver,
    pub lines: Vec<DeliveryLine>,
    pub buyer_memo: Option<String>,
    pub seller_memo: Option<String>,
    /// When the hub created the delivery order.
    pub created_at: UtcMillis,
}

/// Where the parcel goes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeliveryReceiver {
    pub name: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub address: String,
    pub zip: String,
}

/// One line to pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryLine {
    pub sku: Sku,
    pub quantity: i64,
    /// The product title as sold, for the picker.
    pub title: String,
}

/// What applying a command came to. A transient failure (the legacy database locked, a full
/// disk) is not an outcome: the agent retries it and answers only once it is decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandOutcome {
    /// Applied now.
    Done,
    /// Applied before (found by its delivery number): nothing was written again.
    AlreadyDone,
    /// The legacy system or the sink refused it (unknown warehouse, a cancel of a delivery
    /// already shipped, a row the table rejects), with the reason.
    Refused { reason: String },
}
