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
use super::explain::{Explanation, Lang, Matched, Missing, Rejected, Rejection};
use super::explain::{missing_text, pick, rejected_text};
use super::normal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

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

/// One routing's facts, warehouses by their index in preference order, lines by their index in
/// the aggregated lines.
struct Routing<'a> {
    lines: &'a [Line],
    whs: &'a [&'a Warehouse],
    split_by_stock: bool,
    /// Per line: the warehouse it is designated to.
    designated_to: Vec<Option<usize>>,
    /// The lines not designated, which the dispatcher places.
    free: Vec<usize>,
    /// Per warehouse: how it covers the receiver; `None` when it is disabled or does not.
    matched: Vec<Option<Matched>>,
    /// The warehouses that may take free lines (enabled, covering).
    eligible: Vec<usize>,
    /// The eligible warehouses that ship designated lines anyway (a free line there costs no
    /// parcel).
    base: Vec<usize>,
    /// Per warehouse, per line: what it has (never negative).
    have: Vec<Vec<i64>>,
}

impl<'a> Routing<'a> {
    fn new(
        lines: &'a [Line],
        whs: &'a [&'a Warehouse],
        receiver: &ReceiverView,
        available: &dyn Fn(&str, &str) -> i64,
        rules: &SplitRules,
    ) -> Result<Self, NoRoute> {
        let mut designated_to = Vec::with_capacity(lines.len());
        for l in lines {
            designated_to.push(match rules.designated.get(&l.sku) {
                None => None,
                Some(code) => Some(whs.iter().position(|w| w.code == *code).ok_or_else(|| {
                    NoRoute::UnknownWarehouse {
                        sku: l.sku.clone(),
                        warehouse: code.clone(),
                    }
                })?),
            });
        }
        let matched: Vec<Option<Matched>> = whs
            .iter()
            .map(|w| w.enabled.then(|| w.coverage.matches(receiver)).flatten())
            .collect();
        let eligible: Vec<usize> = (0..whs.len()).filter(|g| matched[*g].is_some()).collect();
        let base = eligible
            .iter()
            .copied()
            .filter(|g| designated_to.contains(&Some(*g)))
            .collect();
        Ok(Routing {
            lines,
            whs,
            split_by_stock: rules.split_by_stock,
            free: (0..lines.len())
                .filter(|i| designated_to[*i].is_none())
                .collect(),
            designated_to,
            matched,
            eligible,
            base,
            have: whs
                .iter()
                .map(|w| {
                    lines
                        .iter()
                        .map(|l| available(&w.code, &l.sku).max(0))
                        .collect()
                })
                .collect(),
        })
    }

    fn q(&self, i: usize) -> i64 {
        self.lines[i].quantity
    }

    /// What the eligible warehouses have of free line `i`: together when splitting by stock,
    /// the best single one when not.
    fn supply(&self, i: usize) -> i64 {
        let per = self.eligible.iter().map(|&g| self.have[g][i]);
        if self.split_by_stock {
            per.sum()
        } else {
            per.max().unwrap_or(0)
        }
    }

    /// What line `i`'s designated warehouse `g` can give it (nothing when disabled).
    fn designated_supply(&self, g: usize, i: usize) -> i64 {
        if self.whs[g].enabled {
            self.have[g][i]
        } else {
            0
        }
    }

    /// Every SKU that cannot be had, in line order.
    fn short(&self) -> Vec<Short> {
        (0..self.lines.len())
            .filter_map(|i| {
                let got = match self.designated_to[i] {
                    Some(g) => self.designated_supply(g, i),
                    None => self.supply(i),
                };
                (got < self.q(i)).then(|| Short {
                    sku: self.lines[i].sku.clone(),
                    wanted: self.q(i),
                    missing: self.q(i) - got,
                    designated: self.designated_to[i].map(|g| self.whs[g].code.clone()),
                })
            })
            .collect()
    }

    /// Splitting by stock is off, and would have found a route.
    fn needs_split(&self) -> bool {
        let designated_ok = (0..self.lines.len()).all(|i| {
            self.designated_to[i].is_none_or(|g| self.designated_supply(g, i) >= self.q(i))
        });
        let free_ok = self
            .free
            .iter()
            .all(|&i| self.eligible.iter().map(|&g| self.have[g][i]).sum::<i64>() >= self.q(i));
        !self.split_by_stock && designated_ok && free_ok
    }

    /// Whether some single eligible warehouse holds line `i` whole.
    fn whole(&self, i: usize) -> bool {
        self.eligible.iter().any(|&g| self.have[g][i] >= self.q(i))
    }

    /// Whether `members` can ship every free line: a line some warehouse holds whole, from one
    /// member; any other line from the members together.
    fn feasible(&self, members: &[usize]) -> bool {
        self.free.iter().all(|&i| {
            if self.whole(i) {
                members.iter().any(|&g| self.have[g][i] >= self.q(i))
            } else {
                members.iter().map(|&g| self.have[g][i]).sum::<i64>() >= self.q(i)
            }
        })
    }

    /// The warehouses that ship the free lines besides [`Self::base`]; `None` when nothing can.
    /// Call only when no SKU is short.
    fn choose(&self) -> Option<Vec<usize>> {
        if self.free.is_empty() {
            return Some(Vec::new());
        }
        if !self.split_by_stock {
            return self
                .eligible
                .iter()
                .copied()
                .filter(|&g| self.free.iter().all(|&i| self.have[g][i] >= self.q(i)))
                .min_by_key(|g| (!self.base.contains(g), *g))
                .map(|g| vec![g]);
        }
        let others: Vec<usize> = self
            .eligible
            .iter()
            .copied()
            .filter(|g| !self.base.contains(g))
            .collect();
        if others.len() > EXACT_SEARCH_WAREHOUSES_MAX {
            return Some(self.greedy(&others));
        }
        let with = |set: &[usize]| -> Vec<usize> { self.base.iter().chain(set).copied().collect() };
        for size in 0..=others.len() as u32 {
            let mut best: Option<((u64, i128, Vec<&str>), Vec<usize>)> = None;
            for mask in 0u32..(1 << others.len()) {
                if mask.count_ones() != size {
                    continue;
                }
                let set: Vec<usize> = (0..others.len())
                    .filter(|b| mask & (1 << b) != 0)
                    .map(|b| others[b])
                    .collect();
                if !self.feasible(&with(&set)) {
                    continue;
                }
                let key = self.rank(&set);
                if best.as_ref().is_none_or(|(k, _)| key < *k) {
                    best = Some((key, set));
                }
            }
            if let Some((_, set)) = best {
                return Some(set);
            }
        }
        Some(others)
    }

    /// How sets of one size rank: by the sum of priorities, total cost, then codes.
    fn rank(&self, set: &[usize]) -> (u64, i128, Vec<&'a str>) {
        let mut codes: Vec<&'a str> = set.iter().map(|&g| self.whs[g].code.as_str()).collect();
        codes.sort_unstable();
        (
            set.iter().map(|&g| u64::from(self.whs[g].priority)).sum(),
            set.iter()
                .map(|&g| i128::from(self.whs[g].cost_minor))
                .sum(),
            codes,
        )
    }

    /// Beyond the exact search: add the warehouse that completes the most lines (then adds the
    /// most units to lines no one holds whole; then comes first in preference) until the lines
    /// ship.
    fn greedy(&self, others: &[usize]) -> Vec<usize> {
        let mut chosen: Vec<usize> = Vec::new();
        loop {
            let members: Vec<usize> = self.base.iter().chain(&chosen).copied().collect();
            if self.feasible(&members) {
                return chosen;
            }
            let mut best: Option<((usize, i64), usize)> = None;
            for &g in others.iter().filter(|g| !chosen.contains(g)) {
                let mut score = (0usize, 0i64);
                for &i in &self.free {
                    let (q, add) = (self.q(i), self.have[g][i]);
                    if self.whole(i) {
                        let met = members.iter().any(|&m| self.have[m][i] >= q);
                        if !met && add >= q {
                            score.0 += 1;
                        }
                    } else {
                        let got: i64 = members.iter().map(|&m| self.have[m][i]).sum();
                        if got < q {
                            score.1 += add.min(q - got);
                            if got + add >= q {
                                score.0 += 1;
                            }
                        }
                    }
                }
                if best.as_ref().is_none_or(|(s, _)| score > *s) {
                    best = Some((score, g));
                }
            }
            match best {
                Some((score, g)) if score > (0, 0) => chosen.push(g),
                _ => return others.to_vec(),
            }
        }
    }

    /// Why warehouse `g` could not take what it was asked for (its designated lines; every free
    /// line if it may take them); `None` when it could, or was asked for nothing.
    fn unable(&self, g: usize) -> Option<Rejection> {
        let designated_here = self.designated_to.contains(&Some(g));
        if self.free.is_empty() && !designated_here {
            return None;
        }
        if !self.whs[g].enabled {
            return Some(Rejection::Disabled);
        }
        if self.matched[g].is_none() && !designated_here {
            return Some(Rejection::NotCovering);
        }
        let missing: Vec<Missing> = (0..self.lines.len())
            .filter(|&i| match self.designated_to[i] {
                Some(d) => d == g,
                None => self.matched[g].is_some(),
            })
            .filter(|&i| self.have[g][i] < self.q(i))
            .map(|i| self.missing(g, i))
            .collect();
        (!missing.is_empty()).then_some(Rejection::Short { missing })
    }

    fn missing(&self, g: usize, i: usize) -> Missing {
        Missing {
            sku: self.lines[i].sku.clone(),
            missing: self.q(i) - self.have[g][i],
        }
    }

    fn rejected(&self, g: usize, reason: Rejection) -> Rejected {
        Rejected {
            warehouse: self.whs[g].code.clone(),
            reason,
        }
    }

    /// The plan once [`Self::choose`] chose: designated lines to their warehouse; a free line
    /// held whole to the first member holding it; any other free line to the members with the
    /// most, largest first (the fewest parts).
    fn plan(&self, chosen: &[usize]) -> RoutePlan {
        let members: Vec<usize> = if self.split_by_stock {
            let all: BTreeSet<usize> = self.base.iter().chain(chosen).copied().collect();
            all.into_iter().collect()
        } else {
            chosen.to_vec()
        };
        let mut shares: BTreeMap<usize, Vec<(usize, i64)>> = BTreeMap::new();
        let mut split = BTreeSet::new();
        for (i, d) in self.designated_to.iter().enumerate() {
            if let Some(g) = *d {
                shares.entry(g).or_default().push((i, self.q(i)));
            }
        }
        for &i in &self.free {
            let q = self.q(i);
            if let Some(&g) = members.iter().find(|&&g| self.have[g][i] >= q) {
                shares.entry(g).or_default().push((i, q));
                continue;
            }
            let mut by_most = members.clone();
            by_most.sort_by_key(|&g| (std::cmp::Reverse(self.have[g][i]), g));
            let mut left = q;
            for g in by_most {
                let take = self.have[g][i].min(left);
                if take > 0 {
                    shares.entry(g).or_default().push((i, take));
                    left -= take;
                }
            }
            split.insert(i);
        }
        let only_designated = chosen.iter().all(|g| self.base.contains(g));
        let rejected: Vec<Rejected> = (0..self.whs.len())
            .filter(|g| !self.free.is_empty() && !shares.contains_key(g))
            .map(|g| {
                let reason = self.unable(g).unwrap_or(if only_designated {
                    Rejection::ExtraParcel
                } else {
                    Rejection::LostTie {
                        priority: self.whs[g].priority,
                        cost_minor: self.whs[g].cost_minor,
                    }
                });
                self.rejected(g, reason)
            })
            .collect();
        let parts = shares
            .into_iter()
            .map(|(g, mut taken)| {
                taken.sort_by_key(|(i, _)| *i);
                let w = self.whs[g];
                let skus = |keep: &dyn Fn(usize) -> bool| -> Vec<String> {
                    taken
                        .iter()
                        .filter(|(i, _)| keep(*i))
                        .map(|(i, _)| self.lines[*i].sku.clone())
                        .collect()
                };
                Part {
                    warehouse: w.code.clone(),
                    lines: taken
                        .iter()
                        .map(|&(i, quantity)| Line {
                            sku: self.lines[i].sku.clone(),
                            quantity,
                        })
                        .collect(),
                    why: Explanation {
                        warehouse: w.code.clone(),
                        matched: self.matched[g].clone().unwrap_or(Matched::NotAsked),
                        designated: skus(&|i| self.designated_to[i] == Some(g)),
                        by_hand: false,
                        lines_held: taken.len() as u32,
                        lines_total: self.lines.len() as u32,
                        split_skus: skus(&|i| split.contains(&i)),
                        priority: w.priority,
                        cost_minor: w.cost_minor,
                        rejected: rejected.clone(),
                    },
                }
            })
            .collect();
        RoutePlan { parts }
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
