//! The fulfilment room's pure decisions: whether a paid order passes review ([`mod@review`]),
//! which pending orders leave the merge buffer together ([`merge`]), and which warehouses ship
//! which lines, with the reasons a person can read ([`mod@route`], [`explain`], by hand:
//! [`hand`]); whether a warehouse's refusal says it is out of stock ([`stockout`]); how typed
//! text is compared ([`normal`]).
//!
//! *Invariant:* no IO, no clock, no randomness, no store types: an order's view, the tenant's
//! rules, the stock the caller read and `now` (UTC millis) come in, a decision value comes out;
//! the same input always gives the same decision, its lists in a stable order. Every type is
//! serde (no tags, flattening or skipped fields, so postcard records hold them as well as JSON),
//! so rules are stored as configuration and decisions kept as records.
//!
//! The input is this module's own small view of an order ([`OrderView`]), not the shared model:
//! the caller fills it from what it stored, SKUs already mapped (`None` = unmapped).

use serde::{Deserialize, Serialize};

pub mod explain;
pub mod hand;
pub mod merge;
pub mod normal;
pub mod review;
pub mod route;
pub mod stockout;

#[cfg(test)]
mod tests;

pub use explain::{Explanation, Lang, Matched, Missing, Rejected, Rejection};
pub use hand::{Assignment, SplitError, SplitProblem, split_by_hand};
pub use merge::{MERGE_GROUP_ORDERS_MAX, MergeRules, Pending, Release, merge_key, release};
pub use review::{
    AddressField, BlacklistEntry, BlacklistField, HoldReason, RepeatReceiver, ReviewRules,
    RulesError, Verdict, receiver_key, review,
};
pub use route::{
    Coverage, EXACT_SEARCH_WAREHOUSES_MAX, Line, NoRoute, Part, RoutePlan, Short, SplitRules,
    Warehouse, WarehouseKind, route,
};
pub use stockout::says_out_of_stock;

/// What the decisions read of an order: one platform order as captured, SKUs mapped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderView {
    /// The shop's id (tenant-scoped).
    pub shop: String,
    /// The platform's order number.
    pub order_no: String,
    /// A stable key of the buyer within the shop (platform buyer id or nick); may be empty when
    /// the platform gives none.
    pub buyer: String,
    pub receiver: ReceiverView,
    #[serde(default)]
    pub buyer_memo: Option<String>,
    #[serde(default)]
    pub seller_memo: Option<String>,
    /// What the buyer paid, in minor units.
    pub paid_minor: i64,
    /// Cash on delivery: nothing is paid until the parcel arrives.
    #[serde(default)]
    pub cod: bool,
    /// When it was paid, UTC millis.
    pub paid_at: i64,
    pub lines: Vec<LineView>,
}

/// Who receives the parcel and where; each part as the platform gave it (`None` when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReceiverView {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    /// The detail address (street, building, room).
    pub address: Option<String>,
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineView {
    /// The platform's line (sub-order) id.
    pub line_id: String,
    /// The internal SKU it maps to; `None` = unmapped.
    pub sku: Option<String>,
    pub quantity: i64,
    #[serde(default)]
    pub title: String,
}
