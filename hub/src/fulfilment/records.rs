//! The fulfilment room's stored records. Each is the room's own type (the decisions' types it
//! holds are the room's too, serde without tags or skipped fields), at version 1; their golden
//! bytes are in `hub/tests/fixtures/records/`.

use super::decide::{Coverage, Explanation, HoldReason, MergeRules, ReviewRules, SplitRules};
use super::ledger::Cell;
use super::machine::State;
use crate::store::codec::first_version_records;
use serde::{Deserialize, Serialize};
use xt_shared::model::UtcMillis;

/// Who moved an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Actor {
    /// A review rule or the dispatcher, by name.
    Rule(String),
    /// A signed-in user or an API key, by subject.
    User(String),
    /// The sales platform (a cancel, a completion).
    Platform,
    /// A warehouse, by code (its agent, its 3PL or its phone staff).
    Warehouse(String),
    /// The hub itself (a retry, a timer).
    Hub,
}

impl Actor {
    /// `rule:<name>`, `user:<id>`, `platform`, `warehouse:<code>`, `hub`.
    pub fn label(&self) -> String {
        match self {
            Actor::Rule(name) => format!("rule:{name}"),
            Actor::User(id) => format!("user:{id}"),
            Actor::Platform => "platform".into(),
            Actor::Warehouse(code) => format!("warehouse:{code}"),
            Actor::Hub => "hub".into(),
        }
    }
}

/// One transition of an order's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub at: UtcMillis,
    pub from: State,
    pub to: State,
    pub actor: Actor,
    pub reason: String,
}

/// One line as fulfilment sees it: the merchant SKU (`None` while unmapped) and quantities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FLine {
    pub line_id: String,
    pub sku: Option<String>,
    pub title: String,
    pub quantity: i64,
    /// Units shipped so far.
    pub shipped: i64,
}

/// A warehouse's part of an order: what it was asked to ship and why it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanPart {
    pub warehouse: String,
    pub lines: Vec<(String, i64)>,
    pub why: Explanation,
    /// The delivery order this part went out on, once made.
    pub delivery_no: Option<String>,
}

/// One order's fulfilment (`fulfilments`, key (tenant, shop, order no)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FulfilmentRecord {
    pub state: State,
    pub since: UtcMillis,
    pub paid_at: UtcMillis,
    pub lines: Vec<FLine>,
    /// Why it is held (review rules, or a person's reason as `HoldReason` text).
    pub holds: Vec<HoldReason>,
    /// A person's hold reason, when a person held it.
    pub held_by_person: Option<String>,
    /// A person approved it: the review rules do not hold it again.
    pub approved: bool,
    pub merge_key: Option<String>,
    pub receiver_key: String,
    /// The warehouses' parts and the stock they reserve (holder `shop:order no`).
    pub plan: Vec<PlanPart>,
    /// The last reason no warehouse could take it, for the console.
    pub no_route: Option<String>,
    pub timeline: Vec<Step>,
}

/// Longest timeline kept per order; the oldest steps after the first go first.
pub const TIMELINE_MAX: usize = 200;

impl FulfilmentRecord {
    /// Moves to `to`, keeping the step (the timeline bounded).
    pub fn step(&mut self, to: State, actor: Actor, reason: impl Into<String>, at: UtcMillis) {
        if self.timeline.len() >= TIMELINE_MAX {
            self.timeline.remove(1);
        }
        self.timeline.push(Step {
            at,
            from: self.state,
            to,
            actor,
            reason: reason.into(),
        });
        self.state = to;
        self.since = at;
    }
}

/// How a warehouse receives delivery orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WarehouseChannel {
    /// Its own legacy WMS, through this enrolled agent's sinks.
    Agent { agent: String },
    /// A third-party logistics provider over Qimen-style HTTP. The secret is sealed with the
    /// hub's master key.
    Qimen {
        endpoint: String,
        app_key: String,
        sealed_secret: Vec<u8>,
        customer_id: String,
        owner_code: String,
    },
    /// No WMS: staff confirm shipments on a phone.
    Phone,
}

/// A warehouse's configuration (`warehouses`, key (tenant, code)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WarehouseRecord {
    pub name: String,
    pub channel: WarehouseChannel,
    pub coverage: Coverage,
    pub priority: u32,
    /// Cost per parcel, minor units of `currency`.
    pub cost_minor: i64,
    pub currency: String,
    pub enabled: bool,
    /// Whether the hub keeps this warehouse's stock (its WMS reports it). An untracked one (a
    /// shop's back room confirmed by phone, a 3PL whose stock the hub is not told) is routed to
    /// as if it held everything; its coverage and priority still decide.
    pub stock_tracked: bool,
    pub updated_at: UtcMillis,
}

/// A tenant's fulfilment configuration (`fulfilment_settings`, key tenant).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsRecord {
    pub review: ReviewRules,
    pub merge: MergeRules,
    pub split: SplitRules,
}

/// Where a delivery order stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryState {
    /// Made; being handed to the warehouse (agent command, 3PL call).
    Sending,
    /// The warehouse has it.
    Sent,
    /// The warehouse refused it.
    Refused {
        reason: String,
    },
    PartlyShipped,
    Shipped,
    /// A cancel is on its way to the warehouse.
    Cancelling,
    Cancelled,
    /// The warehouse had already shipped when the cancel came.
    CancelFailed {
        reason: String,
    },
}

impl DeliveryState {
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryState::Sending => "sending",
            DeliveryState::Sent => "sent",
            DeliveryState::Refused { .. } => "refused",
            DeliveryState::PartlyShipped => "partly_shipped",
            DeliveryState::Shipped => "shipped",
            DeliveryState::Cancelling => "cancelling",
            DeliveryState::Cancelled => "cancelled",
            DeliveryState::CancelFailed { .. } => "cancel_failed",
        }
    }

    /// Whether warehouse staff still have work on it (the phone's pending list).
    pub fn pending(&self) -> bool {
        matches!(
            self,
            DeliveryState::Sending | DeliveryState::Sent | DeliveryState::PartlyShipped
        )
    }
}

/// Where a package's tracking number stands with the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteBack {
    Pending {
        attempts: u32,
        last_error: Option<String>,
    },
    Acknowledged {
        at: UtcMillis,
    },
    Failed {
        attempts: u32,
        error: String,
    },
}

/// One parcel that left the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// The confirmation's own idempotency key (agent change, 3PL `outBizCode`, phone).
    pub key: String,
    pub carrier: String,
    pub tracking_no: String,
    pub lines: Vec<(String, i64)>,
    pub shipped_at: UtcMillis,
    pub write_back: WriteBack,
}

/// A delivery order (`deliveries`, key (tenant, delivery no)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub warehouse: String,
    pub shop: String,
    pub orders: Vec<String>,
    pub receiver: StoredDeliveryReceiver,
    /// (sku, quantity, title, shipped).
    pub lines: Vec<DeliveryLineRecord>,
    pub buyer_memo: Option<String>,
    pub seller_memo: Option<String>,
    pub state: DeliveryState,
    pub packages: Vec<Package>,
    pub created_at: UtcMillis,
    pub updated_at: UtcMillis,
    /// A warehouse's exception report (phone), if any.
    pub exception: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDeliveryReceiver {
    pub name: String,
    pub phone: String,
    pub province: String,
    pub city: String,
    pub district: String,
    pub address: String,
    pub zip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryLineRecord {
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    pub shipped: i64,
}

/// A write-back waiting for its time (`writebacks_due`, key (tenant, due at, delivery no,
/// package key)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBackDue {
    pub attempts: u32,
}

first_version_records! {
    "fulfilments" => FulfilmentRecord,
    "warehouses" => WarehouseRecord,
    "fulfilment_settings" => SettingsRecord,
    "deliveries" => DeliveryRecord,
    "stock_ledger" => Cell,
    "writebacks_due" => WriteBackDue,
}
