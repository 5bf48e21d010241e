//! The ledger's rules as tables of named cases: a script of events in, the cell's figures and
//! the last event's outcome out.

use super::*;

/// One event fed to a cell.
#[derive(Debug, Clone)]
enum Ev {
    Snap(i64, i64, i64),
    Mv(&'static str, i64, i64, MovementKind),
    Ship(&'static str, &'static str, i64, i64),
    Res(&'static str, i64),
    Rel(&'static str),
    Short(&'static str, i64),
    Move(&'static str, &'static str),
}

/// What the last event answered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Effect(Effect),
    Shipped(Shipped),
    Reserved(Result<(), Refused>),
    Released(i64),
}

/// The cell after the script.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Want {
    on_hand: i64,
    in_flight: i64,
    reserved: i64,
    holders: Vec<(String, i64)>,
    /// Movements and shipments kept.
    kept: (usize, usize),
    last: Out,
}

use Ev::*;

fn snap(on_hand: i64, version: i64, as_of: i64) -> Ev {
    Snap(on_hand, version, as_of)
}
fn mv(no: &'static str, delta: i64, at: i64) -> Ev {
    Mv(no, delta, at, MovementKind::Receipt)
}
fn ship_mv(no: &'static str, delta: i64, at: i64) -> Ev {
    Mv(no, delta, at, MovementKind::Shipment)
}
fn ship(key: &'static str, holder: &'static str, qty: i64, at: i64) -> Ev {
    Ship(key, holder, qty, at)
}
fn res(holder: &'static str, qty: i64) -> Ev {
    Res(holder, qty)
}
fn rel(holder: &'static str) -> Ev {
    Rel(holder)
}

fn fx(stale: bool, evicted: &[(&str, i64)]) -> Out {
    Out::Effect(Effect {
        stale,
        evicted: evicted.iter().map(|(h, q)| (h.to_string(), *q)).collect(),
    })
}
fn shipped(duplicate: bool, consumed: i64, evicted: &[(&str, i64)]) -> Out {
    Out::Shipped(Shipped {
        duplicate,
        consumed,
        evicted: evicted.iter().map(|(h, q)| (h.to_string(), *q)).collect(),
    })
}
fn ok() -> Out {
    Out::Reserved(Ok(()))
}
fn short(available: i64) -> Out {
    Out::Reserved(Err(Refused::Short { available }))
}

/// `(on_hand, in_flight, reserved)`, holders, kept, last outcome.
fn want(
    (on_hand, in_flight, reserved): (i64, i64, i64),
    holders: &[(&'static str, i64)],
    kept: (usize, usize),
    last: Out,
) -> Want {
    Want {
        on_hand,
        in_flight,
        reserved,
        holders: holders.iter().map(|(h, q)| (h.to_string(), *q)).collect(),
        kept,
        last,
    }
}

fn apply(cell: &mut Cell, ev: &Ev) -> Out {
    match ev {
        Snap(on_hand, version, as_of) => Out::Effect(cell.snapshot(*on_hand, *version, *as_of)),
        Mv(no, delta, at, kind) => Out::Effect(cell.movement(no, *delta, *at, *kind)),
        Ship(key, holder, qty, at) => Out::Shipped(cell.ship(key, holder, *qty, *at)),
        Res(holder, qty) => Out::Reserved(cell.reserve(holder, *qty)),
        Rel(holder) => Out::Released(cell.release(holder)),
        Short(report, at) => Out::Effect(cell.report_short(report, *at)),
        Move(from, to) => Out::Released(cell.transfer(from, to)),
    }
}

fn check(cases: &[(&str, Vec<Ev>, Want)]) {
    for (name, events, want) in cases {
        let mut cell = Cell::default();
        let mut last = None;
        for ev in events {
            last = Some(apply(&mut cell, ev));
        }
        let got = Want {
            on_hand: cell.on_hand(),
            in_flight: cell.in_flight(),
            reserved: cell.reserved(),
            holders: cell
                .holders()
                .into_iter()
                .map(|(h, q)| (h.to_owned(), q))
                .collect(),
            kept: cell.kept(),
            last: last.expect("a case has events"),
        };
        assert_eq!(&got, want, "{name}");
        assert_eq!(
            cell.available(),
            want.on_hand - want.in_flight - want.reserved,
            "{name}: available"
        );
    }
}

#[test]
fn snapshot_cases() {
    check(&[
        (
            "the first snapshot sets on hand",
            vec![snap(10, 1, 100)],
            want((10, 0, 0), &[], (0, 0), fx(false, &[])),
        ),
        (
            "a newer version replaces it",
            vec![snap(10, 1, 100), snap(7, 2, 200)],
            want((7, 0, 0), &[], (0, 0), fx(false, &[])),
        ),
        (
            "an older version is stale and ignored",
            vec![snap(10, 2, 200), snap(7, 1, 100)],
            want((10, 0, 0), &[], (0, 0), fx(true, &[])),
        ),
        (
            "the same version again changes nothing",
            vec![snap(10, 2, 200), snap(10, 2, 200)],
            want((10, 0, 0), &[], (0, 0), fx(true, &[])),
        ),
        (
            "a snapshot drops the movements it covers and keeps the newer ones",
            vec![mv("m1", 5, 100), mv("m2", 3, 300), snap(6, 1, 200)],
            want((9, 0, 0), &[], (1, 0), fx(false, &[])),
        ),
        (
            "a snapshot at a movement's time covers it",
            vec![mv("m1", 5, 100), snap(6, 1, 100)],
            want((6, 0, 0), &[], (0, 0), fx(false, &[])),
        ),
    ]);
}

#[test]
fn movement_cases() {
    check(&[
        (
            "before any snapshot, movements add up from zero",
            vec![mv("m1", 5, 100), mv("m2", -2, 200)],
            want((3, 0, 0), &[], (2, 0), fx(false, &[])),
        ),
        (
            "a movement after the snapshot adds to it",
            vec![snap(10, 1, 100), mv("m1", 4, 101)],
            want((14, 0, 0), &[], (1, 0), fx(false, &[])),
        ),
        (
            "a movement at the snapshot's as_of is already counted",
            vec![snap(10, 1, 100), mv("m1", 4, 100)],
            want((10, 0, 0), &[], (0, 0), fx(true, &[])),
        ),
        (
            "a movement before the snapshot is already counted",
            vec![snap(10, 1, 100), mv("m1", 4, 50)],
            want((10, 0, 0), &[], (0, 0), fx(true, &[])),
        ),
        (
            "the same movement_no again counts once",
            vec![snap(10, 1, 100), mv("m1", 4, 101), mv("m1", 4, 101)],
            want((14, 0, 0), &[], (1, 0), fx(true, &[])),
        ),
        (
            "a newer snapshot that counted a kept movement replaces it, not adds to it",
            vec![snap(10, 1, 100), mv("m1", 4, 101), snap(14, 2, 150)],
            want((14, 0, 0), &[], (0, 0), fx(false, &[])),
        ),
        (
            "a movement arriving after the snapshot that counted it is ignored",
            vec![snap(14, 2, 150), mv("m1", 4, 101)],
            want((14, 0, 0), &[], (0, 0), fx(true, &[])),
        ),
    ]);
}

#[test]
fn shipment_cases() {
    check(&[
        (
            "a shipment consumes the holder's reservation and is in flight",
            vec![snap(10, 1, 100), res("o1", 3), ship("k1", "o1", 3, 200)],
            want((10, 3, 0), &[], (0, 1), shipped(false, 3, &[])),
        ),
        (
            "partial shipments: each key consumes its part",
            vec![
                snap(10, 1, 100),
                res("o1", 5),
                ship("k1", "o1", 2, 200),
                ship("k2", "o1", 1, 210),
            ],
            want((10, 3, 2), &[("o1", 2)], (0, 2), shipped(false, 1, &[])),
        ),
        (
            "the same key again changes nothing",
            vec![
                snap(10, 1, 100),
                res("o1", 5),
                ship("k1", "o1", 2, 200),
                ship("k1", "o1", 2, 200),
            ],
            want((10, 2, 3), &[("o1", 3)], (0, 1), shipped(true, 0, &[])),
        ),
        (
            "a snapshot newer than the shipment reflects it: out of flight",
            vec![
                snap(10, 1, 100),
                res("o1", 5),
                ship("k1", "o1", 2, 200),
                snap(8, 2, 200),
            ],
            want((8, 0, 3), &[("o1", 3)], (0, 1), fx(false, &[])),
        ),
        (
            "a shipment the snapshot already counted consumes but is not in flight",
            vec![
                snap(10, 1, 100),
                res("o1", 5),
                snap(8, 2, 300),
                ship("k1", "o1", 2, 200),
            ],
            want((8, 0, 3), &[("o1", 3)], (0, 1), shipped(false, 2, &[])),
        ),
        (
            "its shipment movement (same key) reflects it: counted once in on hand",
            vec![
                snap(10, 1, 100),
                res("o1", 5),
                ship("k1", "o1", 2, 200),
                ship_mv("k1", -2, 200),
            ],
            want((8, 0, 3), &[("o1", 3)], (1, 1), fx(false, &[])),
        ),
        (
            "its shipment movement arriving first: the shipment is reflected at once",
            vec![
                snap(10, 1, 100),
                res("o1", 5),
                ship_mv("k1", -2, 200),
                ship("k1", "o1", 2, 200),
            ],
            want((8, 0, 3), &[("o1", 3)], (1, 1), shipped(false, 2, &[])),
        ),
        (
            "a movement of another kind with the shipment's number does not reflect it",
            vec![snap(10, 1, 100), ship("k1", "o1", 2, 200), mv("k1", 1, 201)],
            want((11, 2, 0), &[], (1, 1), fx(false, &[])),
        ),
        (
            "a shipment movement after a snapshot counted the shipment is not counted again",
            vec![
                snap(10, 1, 100),
                res("o1", 5),
                ship("k1", "o1", 2, 200),
                snap(8, 2, 250),
                ship_mv("k1", -2, 260),
            ],
            want((8, 0, 3), &[("o1", 3)], (1, 1), fx(false, &[])),
        ),
        (
            "a shipment without a reservation is in flight only",
            vec![snap(10, 1, 100), ship("k1", "o9", 4, 200)],
            want((10, 4, 0), &[], (0, 1), shipped(false, 0, &[])),
        ),
        (
            "shipping more than reserved evicts the newest other holders",
            vec![
                snap(10, 1, 100),
                res("o1", 2),
                res("o2", 4),
                res("o3", 4),
                ship("k1", "o1", 5, 200),
            ],
            want(
                (10, 5, 4),
                &[("o2", 4)],
                (0, 1),
                shipped(false, 2, &[("o3", 4)]),
            ),
        ),
        (
            "a non-positive quantity ships nothing",
            vec![snap(10, 1, 100), res("o1", 2), ship("k1", "o1", 0, 200)],
            want((10, 0, 2), &[("o1", 2)], (0, 0), shipped(true, 0, &[])),
        ),
    ]);
}

#[test]
fn reserve_cases() {
    check(&[
        (
            "within available: held",
            vec![snap(10, 1, 100), res("o1", 4)],
            want((10, 0, 4), &[("o1", 4)], (0, 0), ok()),
        ),
        (
            "all or nothing: short, nothing held, the most it could hold reported",
            vec![snap(10, 1, 100), res("o1", 4), res("o2", 7)],
            want((10, 0, 4), &[("o1", 4)], (0, 0), short(6)),
        ),
        (
            "exactly what is available: held",
            vec![snap(10, 1, 100), res("o1", 4), res("o2", 6)],
            want((10, 0, 10), &[("o1", 4), ("o2", 6)], (0, 0), ok()),
        ),
        (
            "the same holder and quantity again: nothing changes",
            vec![snap(10, 1, 100), res("o1", 4), res("o1", 4)],
            want((10, 0, 4), &[("o1", 4)], (0, 0), ok()),
        ),
        (
            "a larger quantity within availability adjusts",
            vec![snap(10, 1, 100), res("o1", 4), res("o1", 9)],
            want((10, 0, 9), &[("o1", 9)], (0, 0), ok()),
        ),
        (
            "a larger quantity beyond availability is refused, the old one stays",
            vec![snap(10, 1, 100), res("o1", 4), res("o1", 11)],
            want((10, 0, 4), &[("o1", 4)], (0, 0), short(10)),
        ),
        (
            "a smaller quantity adjusts down",
            vec![snap(10, 1, 100), res("o1", 4), res("o1", 1)],
            want((10, 0, 1), &[("o1", 1)], (0, 0), ok()),
        ),
        (
            "zero is refused",
            vec![snap(10, 1, 100), res("o1", 0)],
            want(
                (10, 0, 0),
                &[],
                (0, 0),
                Out::Reserved(Err(Refused::NotPositive { qty: 0 })),
            ),
        ),
        (
            "no stock known: short",
            vec![res("o1", 1)],
            want((0, 0, 0), &[], (0, 0), short(0)),
        ),
        (
            "in flight counts against availability",
            vec![snap(10, 1, 100), ship("k1", "o9", 8, 200), res("o1", 3)],
            want((10, 8, 0), &[], (0, 1), short(2)),
        ),
        (
            "release returns what was held",
            vec![snap(10, 1, 100), res("o1", 4), rel("o1")],
            want((10, 0, 0), &[], (0, 0), Out::Released(4)),
        ),
        (
            "release again returns nothing",
            vec![snap(10, 1, 100), res("o1", 4), rel("o1"), rel("o1")],
            want((10, 0, 0), &[], (0, 0), Out::Released(0)),
        ),
    ]);
}

#[test]
fn overdraw_cases() {
    check(&[
        (
            "a lower snapshot evicts the newest until reserved fits",
            vec![
                snap(10, 1, 100),
                res("o1", 3),
                res("o2", 3),
                res("o3", 3),
                snap(5, 2, 200),
            ],
            want(
                (5, 0, 3),
                &[("o1", 3)],
                (0, 0),
                fx(false, &[("o3", 3), ("o2", 3)]),
            ),
        ),
        (
            "a negative movement evicts too",
            vec![
                snap(10, 1, 100),
                res("o1", 6),
                res("o2", 4),
                mv("m1", -1, 200),
            ],
            want((9, 0, 6), &[("o1", 6)], (1, 0), fx(false, &[("o2", 4)])),
        ),
        (
            "an adjusted reservation keeps its place in reservation order",
            vec![
                snap(10, 1, 100),
                res("o1", 2),
                res("o2", 2),
                res("o1", 5),
                snap(6, 2, 200),
            ],
            want((6, 0, 5), &[("o1", 5)], (0, 0), fx(false, &[("o2", 2)])),
        ),
        (
            "on hand below in flight: nothing can be held",
            vec![
                snap(10, 1, 100),
                res("o1", 2),
                ship("k1", "o9", 6, 200),
                snap(3, 2, 150),
            ],
            want((3, 6, 0), &[], (0, 1), fx(false, &[("o1", 2)])),
        ),
        (
            "a release after an eviction has nothing to release",
            vec![snap(10, 1, 100), res("o1", 6), snap(2, 2, 200), rel("o1")],
            want((2, 0, 0), &[], (0, 0), Out::Released(0)),
        ),
        (
            "stock that still covers every reservation evicts nothing",
            vec![snap(10, 1, 100), res("o1", 6), snap(6, 2, 200)],
            want((6, 0, 6), &[("o1", 6)], (0, 0), fx(false, &[])),
        ),
    ]);
}

#[test]
fn bounded_cases() {
    check(&[
        (
            "a reflected shipment whose holder is done is dropped",
            vec![
                snap(10, 1, 100),
                res("o1", 2),
                ship("k1", "o1", 2, 200),
                snap(8, 2, 300),
            ],
            want((8, 0, 0), &[], (0, 0), fx(false, &[])),
        ),
        (
            "a reflected shipment is kept while its holder still holds stock",
            vec![
                snap(10, 1, 100),
                res("o1", 5),
                ship("k1", "o1", 2, 200),
                snap(8, 2, 300),
            ],
            want((8, 0, 3), &[("o1", 3)], (0, 1), fx(false, &[])),
        ),
        (
            "released: its reflected shipments are dropped",
            vec![
                snap(10, 1, 100),
                res("o1", 5),
                ship("k1", "o1", 2, 200),
                snap(8, 2, 300),
                rel("o1"),
            ],
            want((8, 0, 0), &[], (0, 0), Out::Released(3)),
        ),
        (
            "a dropped shipment redelivered consumes nothing and leaves nothing",
            vec![
                snap(10, 1, 100),
                res("o1", 5),
                ship("k1", "o1", 2, 200),
                snap(8, 2, 300),
                rel("o1"),
                ship("k1", "o1", 2, 200),
            ],
            want((8, 0, 0), &[], (0, 0), shipped(false, 0, &[])),
        ),
        (
            "a shipment reflected by its movement and dropped: redelivered, reflected again",
            vec![
                snap(10, 1, 100),
                res("o1", 2),
                ship("k1", "o1", 2, 200),
                ship_mv("k1", -2, 200),
                ship("k1", "o1", 2, 200),
            ],
            want((8, 0, 0), &[], (1, 0), shipped(false, 0, &[])),
        ),
        (
            "an unreflected shipment is kept whatever its holder",
            vec![
                snap(10, 1, 100),
                res("o1", 2),
                ship("k1", "o1", 2, 200),
                rel("o1"),
            ],
            want((10, 2, 0), &[], (0, 1), Out::Released(0)),
        ),
    ]);
}

#[test]
fn transfer_cases() {
    check(&[
        (
            "a transferred reservation keeps its place in reservation order",
            vec![
                snap(10, 1, 100),
                res("o1", 4),
                res("o2", 4),
                Move("o1", "DO1|o1"),
                snap(5, 2, 200),
            ],
            want((5, 0, 4), &[("DO1|o1", 4)], (0, 0), fx(false, &[("o2", 4)])),
        ),
        (
            "a shipment under the old holder consumes nothing of it",
            vec![
                snap(10, 1, 100),
                res("o1", 2),
                Move("o1", "DO2|o1"),
                ship("k1", "o1", 2, 200),
            ],
            want((10, 2, 2), &[("DO2|o1", 2)], (0, 1), shipped(false, 0, &[])),
        ),
        (
            "onto a holder that holds: added",
            vec![snap(10, 1, 100), res("a", 2), res("b", 3), Move("b", "a")],
            want((10, 0, 5), &[("a", 5)], (0, 0), Out::Released(3)),
        ),
        (
            "nothing held: nothing moves",
            vec![snap(10, 1, 100), Move("o1", "DO1|o1")],
            want((10, 0, 0), &[], (0, 0), Out::Released(0)),
        ),
    ]);
}

#[test]
fn reported_short_cases() {
    check(&[
        (
            "a stock-out report leaves nothing available and keeps every reservation",
            vec![snap(10, 1, 100), res("o1", 3), Short("DO1", 5_000)],
            want((3, 0, 3), &[("o1", 3)], (1, 0), fx(false, &[])),
        ),
        (
            "the same report again changes nothing",
            vec![snap(10, 1, 100), Short("DO1", 5_000), Short("DO1", 6_000)],
            want((0, 0, 0), &[], (1, 0), fx(true, &[])),
        ),
        (
            "with nothing available it only marks the cell",
            vec![snap(2, 1, 100), res("o1", 2), Short("DO1", 5_000)],
            want((2, 0, 2), &[("o1", 2)], (1, 0), fx(false, &[])),
        ),
        (
            "shipments in flight stay counted",
            vec![
                snap(10, 1, 100),
                res("o1", 2),
                ship("k1", "o1", 2, 200),
                Short("DO1", 5_000),
            ],
            want((2, 2, 0), &[], (1, 1), fx(false, &[])),
        ),
        (
            "a newer snapshot covers the report: the WMS's count rules again",
            vec![snap(10, 1, 100), Short("DO1", 5_000), snap(10, 2, 101)],
            want((10, 0, 0), &[], (0, 0), fx(false, &[])),
        ),
        (
            "an older snapshot does not",
            vec![snap(10, 2, 100), Short("DO1", 5_000), snap(10, 1, 150)],
            want((0, 0, 0), &[], (1, 0), fx(true, &[])),
        ),
        (
            "a receipt after the report is available",
            vec![snap(10, 1, 100), Short("DO1", 5_000), mv("r1", 4, 300)],
            want((4, 0, 0), &[], (2, 0), fx(false, &[])),
        ),
    ]);
    let mut cell = Cell::default();
    assert_eq!(cell.reported_short(), None);
    cell.report_short("DO1", 5_000);
    assert_eq!(
        cell.reported_short(),
        Some(5_000),
        "no snapshot: dated when made"
    );
    cell.snapshot(3, 1, 4_000);
    assert_eq!(
        cell.reported_short(),
        Some(5_000),
        "a snapshot as of before it does not"
    );
    cell.snapshot(3, 2, 6_000);
    assert_eq!(cell.reported_short(), None, "one as of after it covers it");
}

#[test]
fn movement_kinds_convert_one_to_one() {
    use xt_shared::model::MovementKind as M;
    let cases = [
        (M::Receipt, MovementKind::Receipt),
        (M::Shipment, MovementKind::Shipment),
        (M::Return, MovementKind::Return),
        (M::Adjustment, MovementKind::Adjustment),
        (M::Transfer, MovementKind::Transfer),
        (M::Other, MovementKind::Other),
    ];
    for (shared, ours) in cases {
        assert_eq!(MovementKind::from(shared), ours, "{shared:?}");
    }
}

#[test]
fn a_cell_round_trips_through_serde() {
    let mut cell = Cell::default();
    for ev in [
        snap(10, 1, 100),
        res("o1", 5),
        ship("k1", "o1", 2, 200),
        mv("m1", 3, 150),
    ] {
        apply(&mut cell, &ev);
    }
    let bytes = postcard::to_allocvec(&cell).expect("encodes");
    let back: Cell = postcard::from_bytes(&bytes).expect("decodes");
    assert_eq!(back, cell);
}
