//! Dispatch routing: which warehouses ship which lines of an order, by coverage, whole-order
//! availability, priority and cost, with an [`Explanation`] per part.
//!
//! The choice, in order:
//! 1. a SKU designated to a warehouse ([`SplitRules::designated`]) goes there, whole (the
//!    designation is the merchant's word: coverage is not asked; enabled and stock are);
//! 2. the other lines go to ONE enabled, covering warehouse holding every one of them, a
//!    warehouse already shipping designated SKUs first (no extra parcel), then by priority
//!    (lower first), cost per parcel, code;
//! 3. else, when splitting by stock, to the fewest warehouses that together hold them (exact
//!    search up to [`EXACT_SEARCH_WAREHOUSES_MAX`] candidates, greedy beyond), ties by the sum
//!    of priorities, total cost, then codes; a line is split across warehouses only when no
//!    single one holds its quantity, and then into the fewest parts;
//! 4. else no route, with how much each SKU is short and why each warehouse was not chosen.
//!
//! *Invariant:* a plan ships every line's quantity exactly, each part from a warehouse that
//! holds it; the same input gives the same plan (warehouses taken in preference order:
//! priority, cost, code; parts in that order, lines in the order's order).

use super::ReceiverView;
use super::explain::{Explanation, Lang, Matched, Missing, Rejected};
use super::explain::{missing_text, pick, rejected_text};
use super::normal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

mod choice;
use choice::Routing;

/// Above this many candidate warehouses, the fewest-parcels search is greedy instead of exact
/// (2^12 subsets is still instant).
pub const EXACT_SEARCH_WAREHOUSES_MAX: usize = 12;

/// A warehouse as routing sees it (configured per tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Warehouse {
    /// Unique within the tenant.
    pub code: String,
    pub kind: WarehouseKind,
    #[serde(default)]
    pub coverage: Coverage,
    /// Lower first.
    pub priority: u32,
    /// What one parcel from here costs, minor units.
    pub cost_minor: i64,
    pub enabled: bool,
}

/// How a warehouse receives its delivery orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WarehouseKind {
    /// Its own legacy WMS, through its agent.
    Agent,
    /// A 3PL over Qimen-style HTTP.
    ThirdParty,
    /// Staff confirm on a phone.
    Phone,
}

/// Where a warehouse ships: both lists empty = everywhere; otherwise a receiver whose city or
/// province is listed. Names compare after [`normal::region`] (`上海市` = `上海`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Coverage {
    pub provinces: Vec<String>,
    pub cities: Vec<String>,
}

impl Coverage {
    /// How it covers the receiver (a city match before a province match); `None` = it does not.
    pub fn matches(&self, r: &ReceiverView) -> Option<Matched> {
        if self.provinces.is_empty() && self.cities.is_empty() {
            return Some(Matched::Everywhere);
        }
        let find = |list: &[String], field: &Option<String>| {
            let want = normal::region(field.as_deref().unwrap_or(""));
            (!want.is_empty())
                .then(|| list.iter().find(|c| normal::region(c) == want))
                .flatten()
                .map(|c| c.trim().to_owned())
        };
        find(&self.cities, &r.city)
            .map(Matched::City)
            .or_else(|| find(&self.provinces, &r.province).map(Matched::Province))
    }
}

/// A tenant's split rules. By default orders are split by stock (fewest parcels first) and no
/// SKU is designated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SplitRules {
    /// When no one warehouse holds every line, ship from several.
    pub split_by_stock: bool,
    /// SKU → the warehouse code that always ships it.
    pub designated: BTreeMap<String, String>,
}

impl Default for SplitRules {
    fn default() -> Self {
        SplitRules {
            split_by_stock: true,
            designated: BTreeMap::new(),
        }
    }
}

/// A SKU and a quantity: a line to route, or a part's share of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub sku: String,
    pub quantity: i64,
}

/// Where an order ships from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutePlan {
    /// One per warehouse, in preference order.
    pub parts: Vec<Part>,
}

/// What one warehouse ships, and why it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    pub warehouse: String,
    /// In the order's line order.
    pub lines: Vec<Line>,
    pub why: Explanation,
}

/// How much of a SKU cannot be had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Short {
    pub sku: String,
    pub wanted: i64,
    /// Short by this much: from its designated warehouse, or from all covering warehouses
    /// together when splitting by stock, or from the best single one when not.
    pub missing: i64,
    /// The warehouse it is designated to, if any.
    pub designated: Option<String>,
}

/// Why an order has no route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoRoute {
    /// The order has no line.
    NoLines,
    /// A line with a blank SKU or a quantity that is not positive.
    BadLine { sku: String, quantity: i64 },
    /// A SKU is designated to a warehouse that is not configured.
    UnknownWarehouse { sku: String, warehouse: String },
    /// The warehouses cannot supply the lines.
    Unavailable {
        /// Each SKU short, in line order.
        short: Vec<Short>,
        /// Each warehouse that could not take the lines it was asked for, and why (a
        /// designated one its designated lines; a covering one every other line), in
        /// preference order.
        warehouses: Vec<Rejected>,
        /// Splitting by stock is off, and would have found a route.
        needs_split: bool,
    },
}

impl NoRoute {
    /// The reason as a person reads it.
    pub fn text(&self, lang: Lang) -> String {
        match self {
            NoRoute::NoLines => pick(lang, "订单没有商品行", "the order has no line").into(),
            NoRoute::BadLine { sku, quantity } => match lang {
                Lang::Zh => format!("商品行无效：SKU「{sku}」数量 {quantity}"),
                Lang::En => format!("bad line: sku {sku:?} quantity {quantity}"),
            },
            NoRoute::UnknownWarehouse { sku, warehouse } => match lang {
                Lang::Zh => format!("{sku} 指定的仓库 {warehouse} 不存在"),
                Lang::En => format!("{sku} is designated to unknown warehouse {warehouse}"),
            },
            NoRoute::Unavailable {
                short,
                warehouses,
                needs_split,
            } => {
                let mut out = pick(lang, "无仓可发", "no warehouse can ship").to_owned();
                if !short.is_empty() {
                    let missing: Vec<Missing> = short
                        .iter()
                        .map(|s| Missing {
                            sku: s.sku.clone(),
                            missing: s.missing,
                        })
                        .collect();
                    out.push_str(pick(lang, "：", ": "));
                    out.push_str(&missing_text(&missing, lang));
                }
                if *needs_split {
                    out.push_str(pick(
                        lang,
                        "；按库存拆单可发",
                        "; splitting by stock would ship it",
                    ));
                }
                out.push_str(&rejected_text(warehouses, lang));
                out
            }
        }
    }
}

impl std::fmt::Display for NoRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text(Lang::En))
    }
}

impl std::error::Error for NoRoute {}

/// Routes an order's lines (one SKU on several lines counts as one line) to the receiver from
/// `warehouses` (codes unique; of two with one code the first in preference order counts), with
/// `available(warehouse, sku)` the stock the caller may reserve (negative counts as none).
pub fn route(
    lines: &[Line],
    receiver: &ReceiverView,
    warehouses: &[Warehouse],
    available: &dyn Fn(&str, &str) -> i64,
    rules: &SplitRules,
) -> Result<RoutePlan, NoRoute> {
    let lines = aggregate(lines)?;
    let whs = preference_order(warehouses);
    let r = Routing::new(&lines, &whs, receiver, available, rules)?;
    let short = r.short();
    let chosen = if short.is_empty() { r.choose() } else { None };
    match chosen {
        Some(chosen) => Ok(r.plan(&chosen)),
        None => Err(NoRoute::Unavailable {
            short,
            warehouses: (0..whs.len())
                .filter_map(|g| r.unable(g).map(|reason| r.rejected(g, reason)))
                .collect(),
            needs_split: r.needs_split(),
        }),
    }
}

/// One line per SKU (quantities of a repeated SKU added, first appearance's place), each with a
/// SKU and a positive quantity.
fn aggregate(lines: &[Line]) -> Result<Vec<Line>, NoRoute> {
    if lines.is_empty() {
        return Err(NoRoute::NoLines);
    }
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    for l in lines {
        if l.sku.trim().is_empty() || l.quantity <= 0 {
            return Err(NoRoute::BadLine {
                sku: l.sku.clone(),
                quantity: l.quantity,
            });
        }
        match out.iter_mut().find(|o| o.sku == l.sku) {
            Some(o) => o.quantity = o.quantity.saturating_add(l.quantity),
            None => out.push(l.clone()),
        }
    }
    Ok(out)
}

/// The warehouses by priority, cost, code; of two with one code, the first.
pub(super) fn preference_order(warehouses: &[Warehouse]) -> Vec<&Warehouse> {
    let mut whs: Vec<&Warehouse> = warehouses.iter().collect();
    whs.sort_by(|a, b| {
        (a.priority, a.cost_minor, &a.code).cmp(&(b.priority, b.cost_minor, &b.code))
    });
    let mut seen = BTreeSet::new();
    whs.retain(|w| seen.insert(w.code.as_str()));
    whs
}
