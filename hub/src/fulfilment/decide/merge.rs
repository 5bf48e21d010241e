//! Merge: unshipped orders of one shop, buyer and receiver paid close together become one
//! delivery order. A paid order waits in a buffer for `window_ms` after the first order of its
//! group; [`release`] says which pending orders leave now, and together.
//!
//! *Invariant:* a COD order is never merged (each parcel collects its own order's money); an
//! order without a key leaves at once, alone; a group leaves whole (up to
//! [`MERGE_GROUP_ORDERS_MAX`] orders a delivery order) once its earliest order has waited the
//! window; groups and their orders come out in a stable order.

use super::OrderView;
use super::normal;
use super::review::receiver_parts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most orders one delivery order merges; a larger group leaves as several, in payment
/// order.
pub const MERGE_GROUP_ORDERS_MAX: usize = 20;

/// A tenant's merge rules. By default merging is on with a 10-minute buffer: long enough for a
/// buyer's second checkout after remembering one more item, short enough not to delay the day's
/// shipping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MergeRules {
    pub enabled: bool,
    /// How long the first order of a group waits for others.
    pub window_ms: i64,
}

impl Default for MergeRules {
    fn default() -> Self {
        MergeRules {
            enabled: true,
            window_ms: 10 * 60 * 1000,
        }
    }
}

/// Which orders may merge: SHA-256 hex of the shop, the buyer and the receiver's normalised
/// name, phone and whole address. `None` (never merged) when merging is off, for COD, and when
/// the receiver has no name, phone or detail address (it would merge strangers).
pub fn merge_key(order: &OrderView, rules: &MergeRules) -> Option<String> {
    if !rules.enabled || order.cod {
        return None;
    }
    let [name, phone, province, city, district, address] = receiver_parts(&order.receiver);
    if name.is_empty() || phone.is_empty() || address.is_empty() {
        return None;
    }
    let shop = normal::text(&order.shop);
    let buyer = normal::text(&order.buyer);
    Some(normal::digest(
        "merge/v1",
        &[
            &shop, &buyer, &name, &phone, &province, &city, &district, &address,
        ],
    ))
}

/// An order waiting in the merge buffer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pending {
    pub order_no: String,
    /// Its [`merge_key`].
    pub key: Option<String>,
    pub paid_at: i64,
}

/// Orders that leave the buffer together: one delivery order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// In payment order (then order number).
    pub order_nos: Vec<String>,
}

/// Which pending orders leave the buffer at `now`: an order without a key (or every order, when
/// merging is off) alone; a key's group once its earliest `paid_at + window_ms <= now`. Groups
/// come out by their earliest payment, then their first order number.
pub fn release(pending: &[Pending], rules: &MergeRules, now: i64) -> Vec<Release> {
    let mut groups: BTreeMap<&str, Vec<&Pending>> = BTreeMap::new();
    let mut out: Vec<Vec<&Pending>> = Vec::new();
    for p in pending {
        match p.key.as_deref().filter(|_| rules.enabled) {
            Some(key) => groups.entry(key).or_default().push(p),
            None => out.push(vec![p]),
        }
    }
    for (_, mut group) in groups {
        group.sort_by(|a, b| (a.paid_at, &a.order_no).cmp(&(b.paid_at, &b.order_no)));
        let earliest = group[0].paid_at;
        if earliest.saturating_add(rules.window_ms) <= now {
            out.extend(
                group
                    .chunks(MERGE_GROUP_ORDERS_MAX)
                    .map(<[&Pending]>::to_vec),
            );
        }
    }
    out.sort_by(|a, b| (a[0].paid_at, &a[0].order_no).cmp(&(b[0].paid_at, &b[0].order_no)));
    out.into_iter()
        .map(|g| Release {
            order_nos: g.iter().map(|p| p.order_no.clone()).collect(),
        })
        .collect()
}
