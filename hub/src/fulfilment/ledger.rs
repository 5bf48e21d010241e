//! The stock ledger of one warehouse × SKU: what the WMS says is on hand, what dispatched
//! orders hold, and what left the building but the WMS has not counted yet. Pure: the caller
//! loads a [`Cell`], feeds it one event, stores it back.
//!
//! *Invariants*, whatever order snapshots, movements and shipments arrive in:
//! - **On hand** = the newest WMS snapshot (last writer wins by `version`; an older one is
//!   stale) + the movements that happened after it. A snapshot as of `as_of` counts every event
//!   at or before `as_of`: such a movement changes nothing, and a newer snapshot drops the
//!   movements it covers. Movements are idempotent by `movement_no`.
//! - **In flight**: a shipment (idempotent by its confirmation's own key) is a physical
//!   decrement the WMS may not have counted yet. It counts against available until it is
//!   *reflected*: by a snapshot with `as_of >= shipped_at`, or by a movement of kind
//!   [`MovementKind::Shipment`] whose `movement_no` is the shipment's key (that movement is
//!   the same units leaving, so it replaces the in-flight quantity). A unit shipped is thus
//!   counted once: in flight, then in on hand, never both and never neither.
//! - **Reserved** ≥ 0 per holder, all or nothing; a shipment consumes up to its quantity of
//!   its holder's reservation. Reserved never exceeds `max(on_hand − in_flight, 0)`: `reserve`
//!   refuses what would overdraw, and every event that lowers stock evicts the newest
//!   reservations (by reservation order) until it holds, returning them to the caller.
//! - **Available** = on hand − in flight − reserved.
//! - **Reported short**: a warehouse's stock-out report is a correcting movement that brings
//!   available to zero without touching a reservation, until the next newer snapshot covers
//!   it or newer movements add stock ([`Cell::report_short`]).
//! - **Bounded**: movements covered by the snapshot are dropped; a reflected shipment is kept
//!   only while its holder still holds a reservation (so a redelivered confirmation cannot
//!   consume it twice). A holder stands for one delivery: once its reservation is gone, a
//!   redelivered confirmation of a reflected shipment consumes nothing. The caller makes a
//!   holder stand for one delivery (the room: the delivery order's number is in it, the
//!   reservation [`Cell::transfer`]red to it when the delivery order is made), so a second
//!   delivery of the same order never holds under a holder a late confirmation names.
//!
//! The ledger assumes a shipment and its WMS movement carry the same time, and that the WMS's
//! snapshot versions rise with their `as_of`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod truth;

/// The `movement_no` prefix of a warehouse's stock-out report ([`Cell::report_short`]).
pub const SHORT_PREFIX: &str = "short:";

/// The kind of a WMS movement, as the ledger keeps it.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MovementKind {
    Receipt,
    /// Units leaving; with a `movement_no` equal to a shipment's key, it reflects that shipment.
    Shipment,
    Return,
    Adjustment,
    Transfer,
    #[default]
    Other,
}

impl From<xt_shared::model::MovementKind> for MovementKind {
    fn from(kind: xt_shared::model::MovementKind) -> Self {
        use xt_shared::model::MovementKind as M;
        match kind {
            M::Receipt => Self::Receipt,
            M::Shipment => Self::Shipment,
            M::Return => Self::Return,
            M::Adjustment => Self::Adjustment,
            M::Transfer => Self::Transfer,
            M::Other => Self::Other,
        }
    }
}

/// The newest WMS count applied.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    pub on_hand: i64,
    pub version: i64,
    /// Every event at or before this instant (UTC millis) is counted in `on_hand`.
    pub as_of: i64,
}

/// A movement newer than the snapshot, kept until a snapshot covers it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Movement {
    /// What it adds to on hand: its delta, or 0 when it reflects a shipment a snapshot had
    /// already counted.
    pub delta: i64,
    pub occurred_at: i64,
    pub kind: MovementKind,
}

/// A holder's reservation.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Reservation {
    pub qty: i64,
    /// Reservation order: the highest is the newest, evicted first.
    pub seq: i64,
}

/// A shipment confirmation, kept while in flight or while its holder still holds stock.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Shipment {
    pub holder: String,
    pub qty: i64,
    pub shipped_at: i64,
    /// Counted in on hand (by a snapshot or its movement); no longer in flight.
    pub reflected: bool,
}

/// One warehouse × SKU. See the module doc for its invariants.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Cell {
    snapshot: Option<Snapshot>,
    /// By `movement_no`; every one newer than the snapshot.
    movements: BTreeMap<String, Movement>,
    /// By holder.
    reservations: BTreeMap<String, Reservation>,
    /// By shipment key.
    shipments: BTreeMap<String, Shipment>,
    /// The next reservation's `seq`.
    next_seq: i64,
}

/// What a snapshot or a movement did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Effect {
    /// It changed nothing: an older or the same snapshot version; a movement already seen or
    /// already counted by the snapshot.
    pub stale: bool,
    /// Reservations released because stock fell below them, newest first: `(holder, qty)`.
    pub evicted: Vec<(String, i64)>,
}

/// What a shipment confirmation did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Shipped {
    /// The key was seen before (or the quantity was not positive): nothing changed.
    pub duplicate: bool,
    /// Taken from the holder's reservation.
    pub consumed: i64,
    /// Reservations released because the shipment took more than its holder held.
    pub evicted: Vec<(String, i64)>,
}

/// Why a reservation was refused; the cell is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The most this holder could hold now (its own reservation included).
    #[error("short of stock: at most {available} can be reserved")]
    Short { available: i64 },
    #[error("a reservation must be positive, not {qty}")]
    NotPositive { qty: i64 },
}

impl Cell {
    /// Units in the warehouse as the WMS has counted them: snapshot + newer movements.
    pub fn on_hand(&self) -> i64 {
        self.snapshot.as_ref().map_or(0, |s| s.on_hand)
            + self.movements.values().map(|m| m.delta).sum::<i64>()
    }

    /// Units shipped that on hand does not reflect yet.
    pub fn in_flight(&self) -> i64 {
        self.shipments
            .values()
            .filter(|s| !s.reflected)
            .map(|s| s.qty)
            .sum()
    }

    pub fn reserved(&self) -> i64 {
        self.reservations.values().map(|r| r.qty).sum()
    }

    /// On hand − in flight − reserved; negative when shipments outran the WMS's count.
    pub fn available(&self) -> i64 {
        self.on_hand() - self.in_flight() - self.reserved()
    }

    /// What a holder holds (0 when nothing).
    pub fn reserved_by(&self, holder: &str) -> i64 {
        self.reservations.get(holder).map_or(0, |r| r.qty)
    }

    /// Every holder and its quantity, in reservation order (oldest first).
    pub fn holders(&self) -> Vec<(&str, i64)> {
        let mut all: Vec<_> = self.reservations.iter().collect();
        all.sort_by_key(|(_, r)| r.seq);
        all.into_iter().map(|(h, r)| (h.as_str(), r.qty)).collect()
    }

    /// The newest snapshot applied.
    pub fn snapshot_applied(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// Movements and shipments kept (what bounds the cell's size).
    pub fn kept(&self) -> (usize, usize) {
        (self.movements.len(), self.shipments.len())
    }

    /// A WMS count: applies when its version is newer than the one applied.
    pub fn snapshot(&mut self, on_hand: i64, version: i64, as_of: i64) -> Effect {
        if self.snapshot.as_ref().is_some_and(|s| s.version >= version) {
            return Effect {
                stale: true,
                evicted: Vec::new(),
            };
        }
        self.snapshot = Some(Snapshot {
            on_hand,
            version,
            as_of,
        });
        self.movements.retain(|_, m| m.occurred_at > as_of);
        for s in self.shipments.values_mut() {
            s.reflected |= s.shipped_at <= as_of;
        }
        self.applied()
    }

    /// A WMS movement: counts once, unless the snapshot already counted it.
    pub fn movement(
        &mut self,
        movement_no: &str,
        delta: i64,
        occurred_at: i64,
        kind: MovementKind,
    ) -> Effect {
        let covered = self.as_of().is_some_and(|as_of| occurred_at <= as_of);
        if covered || self.movements.contains_key(movement_no) {
            return Effect {
                stale: true,
                evicted: Vec::new(),
            };
        }
        let mut counted = delta;
        if kind == MovementKind::Shipment
            && let Some(s) = self.shipments.get_mut(movement_no)
        {
            // Already reflected means a snapshot counted these units: adding the delta
            // again would count them twice.
            if s.reflected {
                counted = 0;
            }
            s.reflected = true;
        }
        self.movements.insert(
            movement_no.to_owned(),
            Movement {
                delta: counted,
                occurred_at,
                kind,
            },
        );
        self.applied()
    }

    /// A warehouse reports it has none of this SKU to ship (`report` names the report, e.g.
    /// the delivery order it refused): a correcting movement `short:<report>` brings available
    /// down to zero, every reservation kept. It is dated just after the snapshot applied (`at`
    /// without one), so the next newer snapshot covers it and the WMS's count rules again, and
    /// a newer movement that adds stock makes that stock available. The same report again is
    /// stale.
    pub fn report_short(&mut self, report: &str, at: i64) -> Effect {
        let no = format!("{SHORT_PREFIX}{report}");
        if self.movements.contains_key(&no) {
            return Effect {
                stale: true,
                evicted: Vec::new(),
            };
        }
        let delta = -self.available().max(0);
        let occurred_at = self.as_of().map_or(at, |as_of| as_of.saturating_add(1));
        self.movements.insert(
            no,
            Movement {
                delta,
                occurred_at,
                kind: MovementKind::Adjustment,
            },
        );
        self.applied()
    }

    /// When the newest stock-out report still kept was dated ([`Cell::report_short`]).
    pub fn reported_short(&self) -> Option<i64> {
        self.movements
            .iter()
            .filter(|(no, _)| no.starts_with(SHORT_PREFIX))
            .map(|(_, m)| m.occurred_at)
            .max()
    }

    /// A shipment confirmation: consumes up to `qty` of the holder's reservation and counts
    /// `qty` in flight until reflected.
    pub fn ship(&mut self, shipment_key: &str, holder: &str, qty: i64, shipped_at: i64) -> Shipped {
        if qty <= 0 || self.shipments.contains_key(shipment_key) {
            return Shipped {
                duplicate: true,
                ..Shipped::default()
            };
        }
        let by_snapshot = self.as_of().is_some_and(|as_of| shipped_at <= as_of);
        let by_movement = self
            .movements
            .get(shipment_key)
            .is_some_and(|m| m.kind == MovementKind::Shipment);
        self.shipments.insert(
            shipment_key.to_owned(),
            Shipment {
                holder: holder.to_owned(),
                qty,
                shipped_at,
                reflected: by_snapshot || by_movement,
            },
        );
        let consumed = match self.reservations.get_mut(holder) {
            Some(r) => {
                let consumed = r.qty.min(qty);
                r.qty -= consumed;
                if r.qty == 0 {
                    self.reservations.remove(holder);
                }
                consumed
            }
            None => 0,
        };
        let evicted = self.overdrawn();
        self.prune();
        Shipped {
            duplicate: false,
            consumed,
            evicted,
        }
    }

    /// Holds `qty` for `holder`, all or nothing. The same quantity again changes nothing; a
    /// different one adjusts the holder's reservation (keeping its place in reservation
    /// order) within what is available.
    pub fn reserve(&mut self, holder: &str, qty: i64) -> Result<(), Refused> {
        if qty <= 0 {
            return Err(Refused::NotPositive { qty });
        }
        let own = self.reserved_by(holder);
        let room = self.available();
        if qty > own && qty - own > room {
            return Err(Refused::Short {
                available: (own + room).max(0),
            });
        }
        match self.reservations.get_mut(holder) {
            Some(r) => r.qty = qty,
            None => {
                let seq = self.next_seq;
                self.next_seq += 1;
                self.reservations
                    .insert(holder.to_owned(), Reservation { qty, seq });
            }
        }
        Ok(())
    }

    /// Moves `from`'s reservation to `to`, keeping its place in reservation order (added to
    /// what `to` holds, if anything, at the older place); returns the quantity moved.
    /// Available does not change.
    pub fn transfer(&mut self, from: &str, to: &str) -> i64 {
        if from == to {
            return 0;
        }
        let Some(moved) = self.reservations.remove(from) else {
            return 0;
        };
        let qty = moved.qty;
        match self.reservations.get_mut(to) {
            Some(r) => {
                r.qty += moved.qty;
                r.seq = r.seq.min(moved.seq);
            }
            None => {
                self.reservations.insert(to.to_owned(), moved);
            }
        }
        self.prune();
        qty
    }

    /// Lets go of a holder's reservation; returns what it held (0 when nothing).
    pub fn release(&mut self, holder: &str) -> i64 {
        let released = self.reservations.remove(holder).map_or(0, |r| r.qty);
        self.prune();
        released
    }

    /// Releases the newest reservations until reserved ≤ max(on hand − in flight, 0); returns
    /// them, newest first. Every event that lowers stock calls it; it is public so a cell
    /// stored by an older rule can be brought back to the invariant.
    pub fn overdrawn(&mut self) -> Vec<(String, i64)> {
        let cap = (self.on_hand() - self.in_flight()).max(0);
        let mut reserved = self.reserved();
        let mut evicted = Vec::new();
        while reserved > cap {
            let Some(newest) = self
                .reservations
                .iter()
                .max_by_key(|(_, r)| r.seq)
                .map(|(h, _)| h.clone())
            else {
                break;
            };
            let qty = self.reservations.remove(&newest).map_or(0, |r| r.qty);
            reserved -= qty;
            evicted.push((newest, qty));
        }
        self.prune();
        evicted
    }

    fn as_of(&self) -> Option<i64> {
        self.snapshot.as_ref().map(|s| s.as_of)
    }

    /// After on hand changed: evict what it no longer covers, drop what no longer matters.
    fn applied(&mut self) -> Effect {
        let evicted = self.overdrawn();
        Effect {
            stale: false,
            evicted,
        }
    }

    /// Drops reflected shipments whose holder holds nothing: they can no longer consume or
    /// count, and a redelivered one is reflected again at once (by snapshot or movement).
    fn prune(&mut self) {
        let reservations = &self.reservations;
        self.shipments
            .retain(|_, s| !s.reflected || reservations.contains_key(&s.holder));
    }
}
