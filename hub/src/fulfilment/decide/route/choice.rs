//! The choice behind [`super::route`]: one routing's facts (lines, warehouses in preference
//! order, designations, coverage, stock) and the search over them: which warehouses ship the
//! lines not designated, then which warehouse ships what, with the reasons for the others.
//!
//! *Invariant:* [`Routing::plan`] is called only with a choice [`Routing::choose`] made, so every
//! line's quantity is placed exactly, on members that hold it.

use super::{
    EXACT_SEARCH_WAREHOUSES_MAX, Line, NoRoute, Part, ReceiverView, RoutePlan, Short, SplitRules,
    Warehouse,
};
use crate::fulfilment::decide::explain::{Explanation, Matched, Missing, Rejected, Rejection};
use std::collections::{BTreeMap, BTreeSet};

/// How a set of warehouses ranks among sets of its size: sum of priorities, total cost, codes.
type Rank<'a> = (u64, i128, Vec<&'a str>);

/// One routing's facts, warehouses by their index in preference order, lines by their index in
/// the aggregated lines.
pub(super) struct Routing<'a> {
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
    pub(super) fn new(
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
    pub(super) fn short(&self) -> Vec<Short> {
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
    pub(super) fn needs_split(&self) -> bool {
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
    pub(super) fn choose(&self) -> Option<Vec<usize>> {
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
            let mut best: Option<(Rank<'a>, Vec<usize>)> = None;
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
    fn rank(&self, set: &[usize]) -> Rank<'a> {
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
    pub(super) fn unable(&self, g: usize) -> Option<Rejection> {
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

    pub(super) fn rejected(&self, g: usize, reason: Rejection) -> Rejected {
        Rejected {
            warehouse: self.whs[g].code.clone(),
            reason,
        }
    }

    /// The plan once [`Self::choose`] chose: designated lines to their warehouse; a free line
    /// held whole to the first member holding it; any other free line to the members with the
    /// most, largest first (the fewest parts).
    pub(super) fn plan(&self, chosen: &[usize]) -> RoutePlan {
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
