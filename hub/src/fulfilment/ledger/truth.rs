//! The ledger against a truth: a WMS whose physical stock is known, reporting it through
//! snapshots and movements, shipments confirmed on their own path, and the hub reserving and
//! releasing, all delivered in a random order with some events delivered twice. After every
//! delivery the invariants hold and a redelivery changes nothing; once everything has arrived,
//! on hand, in flight and available are the truth's.

use super::*;
use proptest::prelude::*;
use proptest::sample::Index;
use std::collections::BTreeSet;

/// One step of the warehouse's physical life, in time order.
#[derive(Debug, Clone)]
enum Physical {
    Receive(i64),
    Adjust(i64),
    /// A parcel for holder `h{holder}`; with or without a WMS movement keyed as the shipment.
    Ship {
        holder: u8,
        qty: i64,
        with_movement: bool,
    },
    Snapshot,
}

/// What reaches the ledger.
#[derive(Debug, Clone)]
enum Delivery {
    Snapshot {
        on_hand: i64,
        version: i64,
        as_of: i64,
    },
    Movement {
        no: String,
        delta: i64,
        at: i64,
        kind: MovementKind,
    },
    Shipment {
        key: String,
        holder: String,
        qty: i64,
        at: i64,
    },
    Reserve {
        holder: String,
        qty: i64,
    },
    Release {
        holder: String,
    },
}

fn physical() -> impl Strategy<Value = Physical> {
    prop_oneof![
        3 => (1..20i64).prop_map(Physical::Receive),
        1 => (-6..6i64).prop_map(Physical::Adjust),
        3 => (0..6u8, 1..6i64, any::<bool>()).prop_map(|(holder, qty, with_movement)| {
            Physical::Ship { holder, qty, with_movement }
        }),
        2 => Just(Physical::Snapshot),
    ]
}

fn hub_op() -> impl Strategy<Value = Delivery> {
    prop_oneof![
        3 => (0..6u8, 1..9i64).prop_map(|(h, qty)| Delivery::Reserve { holder: format!("h{h}"), qty }),
        1 => (0..6u8).prop_map(|h| Delivery::Release { holder: format!("h{h}") }),
    ]
}

/// The WMS's and the carriers' reports of `steps`, and the physical stock at the end. Every
/// event has its own millisecond; a snapshot counts everything up to the last event's.
fn report(steps: &[Physical], final_snapshot: bool) -> (Vec<Delivery>, i64) {
    let mut out = Vec::new();
    let (mut stock, mut at, mut version) = (0i64, 0i64, 0i64);
    let mut snapshot = |stock: i64, at: i64, out: &mut Vec<Delivery>| {
        version += 1;
        out.push(Delivery::Snapshot {
            on_hand: stock,
            version,
            as_of: at,
        });
    };
    for (i, step) in steps.iter().enumerate() {
        match *step {
            Physical::Receive(delta) | Physical::Adjust(delta) if stock + delta >= 0 => {
                at += 1;
                stock += delta;
                let kind = match step {
                    Physical::Receive(_) => MovementKind::Receipt,
                    _ => MovementKind::Adjustment,
                };
                out.push(Delivery::Movement {
                    no: format!("m{i}"),
                    delta,
                    at,
                    kind,
                });
            }
            Physical::Ship {
                holder,
                qty,
                with_movement,
            } if qty <= stock => {
                at += 1;
                stock -= qty;
                let key = format!("s{i}");
                out.push(Delivery::Shipment {
                    key: key.clone(),
                    holder: format!("h{holder}"),
                    qty,
                    at,
                });
                if with_movement {
                    out.push(Delivery::Movement {
                        no: key,
                        delta: -qty,
                        at,
                        kind: MovementKind::Shipment,
                    });
                }
            }
            Physical::Snapshot => snapshot(stock, at, &mut out),
            _ => {}
        }
    }
    if final_snapshot {
        snapshot(stock, at, &mut out);
    }
    (out, stock)
}

#[derive(Debug, Clone)]
struct Scenario {
    stock: i64,
    final_snapshot: bool,
    arrivals: Vec<Delivery>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(physical(), 0..40),
        prop::collection::vec(hub_op(), 0..24),
        any::<bool>(),
        prop::collection::vec(any::<Index>(), 0..12),
    )
        .prop_flat_map(|(steps, hub, final_snapshot, twice)| {
            let (mut arrivals, stock) = report(&steps, final_snapshot);
            arrivals.extend(hub);
            if !arrivals.is_empty() {
                let again: Vec<_> = twice.iter().map(|i| i.get(&arrivals).clone()).collect();
                arrivals.extend(again);
            }
            Just(arrivals)
                .prop_shuffle()
                .prop_map(move |arrivals| Scenario {
                    stock,
                    final_snapshot,
                    arrivals,
                })
        })
}

/// What the hub believes each holder holds, kept from the answers the ledger gave.
#[derive(Default)]
struct Mirror {
    held: BTreeMap<String, i64>,
    /// Holders a shipment has been confirmed for: the hub does not reserve for them again
    /// (a holder stands for one delivery; dispatching again makes a new one).
    shipped: BTreeSet<String>,
    keys: BTreeSet<String>,
}

fn deliver(cell: &mut Cell, delivery: &Delivery) -> (Vec<(String, i64)>, String) {
    match delivery {
        Delivery::Snapshot {
            on_hand,
            version,
            as_of,
        } => {
            let fx = cell.snapshot(*on_hand, *version, *as_of);
            (fx.evicted, format!("stale={}", fx.stale))
        }
        Delivery::Movement {
            no,
            delta,
            at,
            kind,
        } => {
            let fx = cell.movement(no, *delta, *at, *kind);
            (fx.evicted, format!("stale={}", fx.stale))
        }
        Delivery::Shipment {
            key,
            holder,
            qty,
            at,
        } => {
            let s = cell.ship(key, holder, *qty, *at);
            (s.evicted, format!("consumed={}", s.consumed))
        }
        Delivery::Reserve { holder, qty } => {
            (Vec::new(), format!("{:?}", cell.reserve(holder, *qty)))
        }
        Delivery::Release { holder } => (Vec::new(), format!("released={}", cell.release(holder))),
    }
}

fn check_invariants(cell: &Cell, step: usize) {
    let (reserved, in_flight) = (cell.reserved(), cell.in_flight());
    assert!(reserved >= 0, "step {step}: reserved {reserved} < 0");
    assert!(in_flight >= 0, "step {step}: in flight {in_flight} < 0");
    let cap = (cell.on_hand() - in_flight).max(0);
    assert!(
        reserved <= cap,
        "step {step}: reserved {reserved} over {cap}: {cell:?}"
    );
    assert!(
        cell.holders().iter().all(|(_, q)| *q > 0),
        "step {step}: an empty reservation kept"
    );
}

/// Evicted holders are the newest, newest first, and no more than needed.
fn check_evicted(before: &[(String, i64)], evicted: &[(String, i64)], cell: &Cell, step: usize) {
    let newest: Vec<_> = before.iter().rev().take(evicted.len()).cloned().collect();
    assert_eq!(
        evicted,
        newest.as_slice(),
        "step {step}: evicted not the newest"
    );
    if let Some((_, last)) = evicted.last() {
        let cap = (cell.on_hand() - cell.in_flight()).max(0);
        assert!(
            cell.reserved() + last > cap,
            "step {step}: evicted more than needed"
        );
    }
}

fn run(s: &Scenario) {
    let mut cell = Cell::default();
    let mut mirror = Mirror::default();
    for (step, delivery) in s.arrivals.iter().enumerate() {
        if let Delivery::Reserve { holder, .. } = delivery
            && mirror.shipped.contains(holder)
        {
            continue;
        }
        let before_cell = cell.clone();
        let mut before: Vec<(String, i64)> = cell
            .holders()
            .into_iter()
            .map(|(h, q)| (h.to_owned(), q))
            .collect();
        let avail_before = cell.available();
        let (evicted, said) = deliver(&mut cell, delivery);
        match delivery {
            Delivery::Reserve { holder, qty } => {
                let own = mirror.held.get(holder).copied().unwrap_or(0);
                let fits = *qty <= own || qty - own <= avail_before;
                assert_eq!(
                    said == "Ok(())",
                    fits,
                    "step {step}: reserve answered {said}"
                );
                if fits {
                    mirror.held.insert(holder.clone(), *qty);
                }
            }
            Delivery::Release { holder } => {
                let had = mirror.held.remove(holder).unwrap_or(0);
                assert_eq!(said, format!("released={had}"), "step {step}");
            }
            Delivery::Shipment {
                key, holder, qty, ..
            } => {
                mirror.shipped.insert(holder.clone());
                if mirror.keys.insert(key.clone()) {
                    let own = mirror.held.get(holder).copied().unwrap_or(0);
                    let consumed = own.min(*qty);
                    assert_eq!(said, format!("consumed={consumed}"), "step {step}");
                    if own - consumed > 0 {
                        mirror.held.insert(holder.clone(), own - consumed);
                    } else {
                        mirror.held.remove(holder);
                    }
                    before.retain(|(h, _)| mirror.held.contains_key(h));
                } else {
                    assert_eq!(
                        cell, before_cell,
                        "step {step}: a shipment redelivered changed the cell"
                    );
                }
            }
            Delivery::Snapshot { .. } | Delivery::Movement { .. } => {}
        }
        check_evicted(&before, &evicted, &cell, step);
        for (holder, _) in &evicted {
            mirror.held.remove(holder);
        }
        check_invariants(&cell, step);
        let holders: BTreeMap<String, i64> = cell
            .holders()
            .into_iter()
            .map(|(h, q)| (h.to_owned(), q))
            .collect();
        assert_eq!(
            holders, mirror.held,
            "step {step}: the hub's belief drifted"
        );

        let once = cell.clone();
        let (evicted, _) = deliver(&mut cell, delivery);
        assert!(evicted.is_empty(), "step {step}: a redelivery evicted");
        assert_eq!(
            cell, once,
            "step {step}: a redelivery of {delivery:?} changed the cell"
        );
    }

    let reserved: i64 = mirror.held.values().sum();
    assert_eq!(cell.on_hand() - cell.in_flight(), s.stock, "physical stock");
    assert_eq!(cell.reserved(), reserved, "reserved");
    assert_eq!(cell.available(), s.stock - reserved, "available");
    if s.final_snapshot {
        assert_eq!(cell.on_hand(), s.stock, "on hand after the last snapshot");
        assert_eq!(cell.in_flight(), 0, "in flight after the last snapshot");
        let (movements, _) = cell.kept();
        assert_eq!(movements, 0, "movements kept after the last snapshot");
        assert!(
            cell.shipments
                .values()
                .all(|sh| cell.reservations.contains_key(&sh.holder)),
            "a shipment kept for a holder holding nothing"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_arrival_order_keeps_the_invariants_and_ends_at_the_truth(s in scenario()) {
        run(&s);
    }
}
