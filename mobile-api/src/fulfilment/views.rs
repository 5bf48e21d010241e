//! What the fulfilment routes answer: the board, an order's fulfilment (state, holds, timeline,
//! dispatch explanation, deliveries with their packages and tracking write-back), warehouses,
//! delivery orders, and the 3PL callback's raw reply.
//!
//! Every name a client branches on is a closed, snake_case enum; every time is RFC 3339 UTC;
//! money is `{"minor", "currency"}`.

use crate::orders::MoneyView;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;
use utoipa::ToSchema;
use xt_shared::order::Platform;

/// Where an order stands in fulfilment (the hub's state machine). The exceptions need someone;
/// [`FulfilmentState::ALL`] lists them first, most urgent first, as the board shows them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FulfilmentState {
    /// Exception: the platform cancelled it after the warehouse shipped (or shipped a part).
    InterceptFailed,
    /// Exception: the warehouse refused the delivery order.
    WarehouseRefused,
    /// Exception: no warehouse covering the receiver holds the stock; dispatched again when
    /// stock arrives.
    OutOfStock,
    /// Exception: a line's platform SKU is not mapped to a merchant SKU.
    UnmappedSku,
    /// Exception: the receiver's address lacks what a parcel needs.
    AddressIncomplete,
    /// Held by a review rule or a person (the review queue); a person approves or releases it.
    Held,
    /// Paid and captured, not reviewed yet.
    Paid,
    /// Being reviewed by the rules, or waiting in the merge buffer.
    Review,
    /// A warehouse is chosen and the stock reserved; the delivery order is not sent yet.
    Allocated,
    /// The delivery order reached the warehouse.
    Sent,
    /// Some lines have shipped.
    PartlyShipped,
    /// Every line has shipped.
    Shipped,
    /// Received by the buyer, or closed after shipping.
    Completed,
    /// Cancelled before shipping; its stock is released.
    Cancelled,
}

impl FulfilmentState {
    /// Every state in the board's order: exceptions first (most urgent first), then the held
    /// ones, then the lifecycle in its order.
    pub const ALL: [FulfilmentState; 14] = [
        FulfilmentState::InterceptFailed,
        FulfilmentState::WarehouseRefused,
        FulfilmentState::OutOfStock,
        FulfilmentState::UnmappedSku,
        FulfilmentState::AddressIncomplete,
        FulfilmentState::Held,
        FulfilmentState::Paid,
        FulfilmentState::Review,
        FulfilmentState::Allocated,
        FulfilmentState::Sent,
        FulfilmentState::PartlyShipped,
        FulfilmentState::Shipped,
        FulfilmentState::Completed,
        FulfilmentState::Cancelled,
    ];

    /// The name on the wire (`out_of_stock`, `partly_shipped`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            FulfilmentState::InterceptFailed => "intercept_failed",
            FulfilmentState::WarehouseRefused => "warehouse_refused",
            FulfilmentState::OutOfStock => "out_of_stock",
            FulfilmentState::UnmappedSku => "unmapped_sku",
            FulfilmentState::AddressIncomplete => "address_incomplete",
            FulfilmentState::Held => "held",
            FulfilmentState::Paid => "paid",
            FulfilmentState::Review => "review",
            FulfilmentState::Allocated => "allocated",
            FulfilmentState::Sent => "sent",
            FulfilmentState::PartlyShipped => "partly_shipped",
            FulfilmentState::Shipped => "shipped",
            FulfilmentState::Completed => "completed",
            FulfilmentState::Cancelled => "cancelled",
        }
    }

    /// Whether the state is an exception (needs someone to fix something upstream).
    pub fn is_exception(self) -> bool {
        matches!(
            self,
            FulfilmentState::InterceptFailed
                | FulfilmentState::WarehouseRefused
                | FulfilmentState::OutOfStock
                | FulfilmentState::UnmappedSku
                | FulfilmentState::AddressIncomplete
        )
    }
}

/// Every [`FulfilmentState`]'s name, in [`FulfilmentState::ALL`] order.
pub const FULFILMENT_STATE_NAMES: [&str; FulfilmentState::ALL.len()] = {
    let mut names = [""; FulfilmentState::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = FulfilmentState::ALL[i].as_str();
        i += 1;
    }
    names
};

/// How many of the tenant's orders are in one state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StateCount {
    pub state: FulfilmentState,
    #[schema(example = 3)]
    pub count: u64,
    /// Whether `state` is an exception (the board shows these first, highlighted).
    pub exception: bool,
}

/// `GET /api/v1/fulfilment/board` response: the tenant's fulfilment at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FulfilmentBoard {
    /// One count per state, every state present (zeros included), in
    /// [`FulfilmentState::ALL`] order: exceptions first.
    pub states: Vec<StateCount>,
    /// Packages whose tracking write-back to the platform last failed (the hub keeps
    /// retrying them with backoff).
    #[schema(example = 1)]
    pub writeback_failed: u64,
    /// Orders shipped whose tracking the platform has not acknowledged yet (failed ones
    /// included).
    #[schema(example = 4)]
    pub writeback_pending: u64,
}

/// Why an order is held for review. The reasons come from the tenant's review rules
/// (`GET /api/v1/fulfilment/settings`) or from a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// The buyer left a memo. Params: `memo`.
    BuyerMemo,
    /// The seller left a memo. Params: `memo`.
    SellerMemo,
    /// The paid amount is over the threshold. Params: `paid`, `threshold` (decimal with the
    /// currency, `"1280.00 CNY"`).
    AmountOver,
    /// The receiver's address lacks parts. Params: `missing` (comma-separated: `province`,
    /// `city`, `district`, `address`, `name`, `phone`).
    AddressIncomplete,
    /// Cash on delivery.
    Cod,
    /// A line's SKU is unmapped. Params: `lines` (how many).
    UnmappedSku,
    /// Several orders to one receiver within the window. Params: `count`, `window_minutes`.
    RepeatReceiver,
    /// The receiver matches a blacklist entry. Params: `field` (`name`, `phone` or `address`).
    Blacklisted,
    /// Held by a person. Params: `reason`, `by` (the username).
    Manual,
}

/// One reason an order is held, with the values its text needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct HoldView {
    pub code: HoldReason,
    /// The values of the reason (see [`HoldReason`] for each code's keys).
    #[schema(example = json!({"memo": "请周五后发货"}))]
    pub params: BTreeMap<String, String>,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// Who moved an order from one state to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A review, merge, split or dispatch rule of the tenant's settings.
    Rule,
    /// A person (or an API key) through the API.
    User,
    /// The sales platform (a payment, a cancellation, a refund request).
    Platform,
    /// The warehouse (its WMS through the agent, the 3PL's callback, the phone confirmation).
    Warehouse,
    /// The hub itself (a retry, a re-dispatch when stock arrived).
    Hub,
}

/// One step of an order's fulfilment timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TimelineStep {
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// `null` for the first step (the order entering fulfilment).
    pub from: Option<FulfilmentState>,
    pub to: FulfilmentState,
    pub actor: ActorKind,
    /// The rule's name, the username or key id, the platform, the warehouse code; `null` for
    /// the hub.
    #[schema(example = "admin")]
    pub actor_id: Option<String>,
    /// Why, in words (a person's own reason, or the rule's).
    #[schema(example = "approved by hand")]
    pub reason: String,
}

/// A text in both languages of the console.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Localized {
    #[serde(rename = "zh-CN")]
    #[schema(example = "WH-SH：覆盖上海，3 行全部有货，优先级 1")]
    pub zh_cn: String,
    #[schema(example = "WH-SH: covers 上海, holds all 3 lines, priority 1")]
    pub en: String,
}

/// A SKU and a quantity (a dispatch part's line, a package's content).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineQuantity {
    #[schema(example = "CUP-1")]
    pub sku: String,
    #[schema(example = 2)]
    pub quantity: u32,
}

/// How a part's warehouse was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DispatchBasis {
    /// By coverage, whole-order availability, priority and cost.
    Rules,
    /// A SKU's designated warehouse (the split settings).
    Designated,
    /// A person rerouted or split the order.
    Manual,
}

/// Why the dispatcher passed over a warehouse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Its coverage does not include the receiver's province or city.
    NotCovering,
    /// It does not hold every line of the part.
    ShortOfStock,
    /// It is switched off.
    Disabled,
    /// Another warehouse that qualifies has a better (lower) priority.
    LowerPriority,
    /// Another warehouse of the same priority costs less.
    HigherCost,
    /// It refused this order before.
    RefusedBefore,
}

/// A warehouse the dispatcher did not choose, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RejectedWarehouse {
    #[schema(example = "WH-BJ")]
    pub warehouse: String,
    pub reason: RejectReason,
    pub text: Localized,
}

/// One part of an order as dispatched (an order not split has one part), with why this
/// warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DispatchPart {
    #[schema(example = "WH-SH")]
    pub warehouse: String,
    pub lines: Vec<LineQuantity>,
    pub basis: DispatchBasis,
    /// The whole explanation, ready to show.
    pub explanation: Localized,
    /// The coverage entry that matched the receiver (`上海`), `null` when the warehouse covers
    /// everywhere or was chosen by hand.
    #[schema(example = "上海")]
    pub matched_region: Option<String>,
    /// Lines of the part the warehouse held stock for when it was chosen.
    #[schema(example = 3)]
    pub lines_held: u32,
    #[schema(example = 3)]
    pub lines_total: u32,
    /// The warehouse's priority (lower is tried first).
    #[schema(example = 1)]
    pub priority: u32,
    /// The warehouse's cost per parcel, if configured.
    pub cost: Option<MoneyView>,
    /// The warehouses passed over, best first.
    pub rejected: Vec<RejectedWarehouse>,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// Where a package's tracking stands with one platform order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WritebackState {
    /// Not yet acknowledged by the platform (waiting for its turn or its next retry).
    Pending,
    /// The platform acknowledged the tracking number.
    Acknowledged,
    /// The last attempt failed; the hub retries with backoff.
    Failed,
}

/// The tracking write-back of one package to one platform order (a merged delivery writes
/// back to each of its orders).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WritebackView {
    /// `{shop_id}:{order_no}`.
    pub order_id: String,
    pub state: WritebackState,
    #[schema(example = 1)]
    pub attempts: u32,
    /// The last failure: a short reason (status, the platform's code and message).
    pub last_error: Option<String>,
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_attempt_at: Option<OffsetDateTime>,
    /// When the hub tries again (`null` once acknowledged).
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub acknowledged_at: Option<OffsetDateTime>,
}

/// One parcel the warehouse shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PackageView {
    /// The carrier code (Taobao/Cainiao namespace: `SF`, `ZTO`, `YTO`, `YUNDA`, `STO`, `EMS`,
    /// `POSTB`, `JD`, …); the hub maps it per platform when writing back.
    #[schema(example = "SF")]
    pub carrier: String,
    #[schema(example = "SF1234567890123")]
    pub tracking_no: String,
    pub lines: Vec<LineQuantity>,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub shipped_at: OffsetDateTime,
    /// Who confirmed it: the warehouse's WMS, the 3PL, or the username on the phone.
    pub confirmed_by: ActorKind,
    pub confirmed_by_id: Option<String>,
    pub writeback: Vec<WritebackView>,
}

/// Where a delivery order stands at its warehouse.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// On its way to the warehouse (the agent's command or the 3PL call is not acknowledged).
    Sending,
    /// At the warehouse, not shipped yet: what phone staff confirm.
    Pending,
    /// Some lines shipped.
    PartlyShipped,
    /// Every line shipped.
    Shipped,
    /// A cancel (intercept) is on its way to the warehouse.
    Cancelling,
    Cancelled,
    /// The warehouse refused it or reported an exception; see its `exception`.
    Exception,
}

impl DeliveryState {
    /// The name on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Sending => "sending",
            DeliveryState::Pending => "pending",
            DeliveryState::PartlyShipped => "partly_shipped",
            DeliveryState::Shipped => "shipped",
            DeliveryState::Cancelling => "cancelling",
            DeliveryState::Cancelled => "cancelled",
            DeliveryState::Exception => "exception",
        }
    }

    /// Every state, in the lifecycle's order.
    pub const ALL: [DeliveryState; 7] = [
        DeliveryState::Sending,
        DeliveryState::Pending,
        DeliveryState::PartlyShipped,
        DeliveryState::Shipped,
        DeliveryState::Cancelling,
        DeliveryState::Cancelled,
        DeliveryState::Exception,
    ];
}

/// Every [`DeliveryState`]'s name, in [`DeliveryState::ALL`] order.
pub const DELIVERY_STATE_NAMES: [&str; DeliveryState::ALL.len()] = {
    let mut names = [""; DeliveryState::ALL.len()];
    let mut i = 0;
    while i < names.len() {
        names[i] = DeliveryState::ALL[i].as_str();
        i += 1;
    }
    names
};

/// How a warehouse receives its delivery orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarehouseKind {
    /// Its own legacy WMS, through an enrolled agent's sink (commands over QUIC).
    Agent,
    /// A third-party logistics provider over Qimen-style HTTP.
    Qimen,
    /// No WMS: staff bound to it confirm on a phone.
    Phone,
}

impl WarehouseKind {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            WarehouseKind::Agent => "agent",
            WarehouseKind::Qimen => "qimen",
            WarehouseKind::Phone => "phone",
        }
    }
}

/// Why warehouse staff could not ship a delivery order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryExceptionKind {
    /// The goods are not there: the hub routes the order to another warehouse if one holds
    /// them.
    OutOfStock,
    /// The address cannot be shipped to.
    AddressProblem,
    /// The goods are damaged.
    Damaged,
    /// Something else (the reason says what).
    Other,
}

/// What the warehouse reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryExceptionView {
    pub kind: DeliveryExceptionKind,
    pub reason: Option<String>,
    /// The warehouse's own words when it refused (a WMS or 3PL message), or the username.
    pub by: Option<String>,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// Where a delivery goes: as the platform gave it (possibly masked), for the label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryReceiverView {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub province: Option<String>,
    pub city: Option<String>,
    pub district: Option<String>,
    pub address: Option<String>,
    pub zip: Option<String>,
}

/// One line to pick.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryLineView {
    #[schema(example = "CUP-1")]
    pub sku: String,
    /// The product title as sold, for the picker.
    pub title: String,
    #[schema(example = 2)]
    pub quantity: u32,
    /// How many of them have shipped.
    #[schema(example = 0)]
    pub shipped: u32,
}

/// A delivery order (发货单): what one warehouse must pick, pack and ship, and to whom.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryView {
    /// The hub's delivery number, unique per tenant: the idempotency key at the warehouse.
    #[schema(example = "DL-20261126-000123")]
    pub delivery_no: String,
    #[schema(example = "WH-SH")]
    pub warehouse: String,
    pub warehouse_kind: WarehouseKind,
    pub state: DeliveryState,
    pub shop_id: String,
    /// The orders it fulfils, `{shop_id}:{order_no}` (several when merged).
    pub order_ids: Vec<String>,
    pub receiver: DeliveryReceiverView,
    pub lines: Vec<DeliveryLineView>,
    pub buyer_memo: Option<String>,
    pub seller_memo: Option<String>,
    pub packages: Vec<PackageView>,
    /// Set in state `exception`.
    pub exception: Option<DeliveryExceptionView>,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// `GET /api/v1/deliveries` response, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryView>,
    /// Where the next page starts; `null` at the end. A page may hold fewer than `limit` (even
    /// none) while this is set: each request examines a bounded number of rows.
    pub next_cursor: Option<String>,
}

/// What a person may do to an order (`POST /api/v1/fulfilment/orders/{id}/actions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Approve a held order (or one in review): dispatch it now.
    Approve,
    /// Hold it for review, with a reason.
    Hold,
    /// Release a held order back to the review rules.
    Release,
    /// Cancel it, with a reason; a delivery order already sent is intercepted.
    Cancel,
    /// Send it to another warehouse (the reservation moves).
    Reroute,
    /// Split it by hand into parts, each with its warehouse and lines.
    Split,
}

impl ActionKind {
    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Approve => "approve",
            ActionKind::Hold => "hold",
            ActionKind::Release => "release",
            ActionKind::Cancel => "cancel",
            ActionKind::Reroute => "reroute",
            ActionKind::Split => "split",
        }
    }
}

/// One order in the fulfilment list (and the review queue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FulfilmentSummary {
    /// `{shop_id}:{order_no}`, as orders are named everywhere.
    #[schema(example = "shop-3f2a9c0d1e4b5a69:4012345678901234")]
    pub id: String,
    pub shop_id: String,
    pub shop_name: Option<String>,
    #[schema(value_type = String, example = "tmall")]
    pub platform: Platform,
    pub order_no: String,
    pub state: FulfilmentState,
    /// When the order entered `state`.
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub since: OffsetDateTime,
    /// Why it is held (empty when it is not).
    pub holds: Vec<HoldView>,
    /// The warehouses its parts are dispatched to (empty before dispatch).
    pub warehouses: Vec<String>,
    pub receiver_name: Option<String>,
    pub paid: MoneyView,
    /// Order lines.
    pub lines: u32,
}

/// `GET /api/v1/fulfilment/orders` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FulfilmentPage {
    pub orders: Vec<FulfilmentSummary>,
    /// Where the next page starts; `null` at the end. A page may hold fewer than `limit` (even
    /// none) while this is set: each request examines a bounded number of rows.
    pub next_cursor: Option<String>,
}

/// `GET /api/v1/fulfilment/orders/{id}` response: one order's fulfilment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FulfilmentView {
    #[serde(flatten)]
    pub summary: FulfilmentSummary,
    /// Every transition, oldest first.
    pub timeline: Vec<TimelineStep>,
    /// The parts as dispatched, with why each warehouse (empty before dispatch).
    pub dispatch: Vec<DispatchPart>,
    /// Its delivery orders, oldest first (a rerouted order keeps its cancelled ones).
    pub deliveries: Vec<DeliveryView>,
    /// Other orders merged into the same delivery order, `{shop_id}:{order_no}`.
    pub merged_with: Vec<String>,
    /// The actions that apply in the order's state (whether the caller may take them is
    /// `orders:write`).
    pub actions: Vec<ActionKind>,
}

/// A 3PL's Qimen settings as shown: the app key masked, the secret only whether it is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QimenView {
    #[schema(example = "https://qimen.example-3pl.com/router/qm")]
    pub endpoint: String,
    /// Masked, `"ab…yz"`.
    pub app_key: String,
    pub secret: crate::shops::SecretSet,
    /// The 3PL's `customerId` (routing id of the merchant at the 3PL).
    pub customer_id: String,
    /// The `ownerCode` of the order lines.
    pub owner_code: String,
}

/// Which provinces and cities a warehouse ships to. Both empty: everywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Coverage {
    /// As the platforms name them (`上海`, `浙江省`); matched ignoring a trailing 省/市/自治区.
    #[schema(example = json!(["上海", "浙江省", "江苏省"]))]
    pub provinces: Vec<String>,
    /// Cities covered outside the listed provinces (`苏州市`).
    #[schema(example = json!(["苏州市"]))]
    pub cities: Vec<String>,
}

/// A warehouse as configured for dispatch. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WarehouseView {
    /// The warehouse code, as its stock rows and agents name it.
    #[schema(example = "WH-SH")]
    pub code: String,
    #[schema(example = "上海仓")]
    pub name: String,
    pub kind: WarehouseKind,
    /// Kind `agent`: the agent whose sink takes its delivery orders.
    pub agent_id: Option<String>,
    /// Kind `qimen`: the 3PL's endpoint and ids.
    pub qimen: Option<QimenView>,
    pub coverage: Coverage,
    /// Lower is tried first.
    #[schema(example = 1)]
    pub priority: u32,
    /// Cost per parcel; among warehouses of the same priority the cheaper wins.
    pub cost: MoneyView,
    pub enabled: bool,
    /// Delivery orders not shipped yet (sending, pending, partly shipped).
    #[schema(example = 12)]
    pub open_deliveries: u64,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// `GET /api/v1/warehouses` response, by code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WarehouseList {
    pub warehouses: Vec<WarehouseView>,
}

/// What the hub answers a 3PL's callback, sent as it is: Qimen's
/// `<response><flag>success|failure</flag><code>…</code><message>…</message></response>` in
/// the format the request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QimenReply {
    /// The HTTP status (200 for Qimen answers, failures included; 401 for a wrong signature).
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
}
