//! The room's transactions against a real redb file: an order from capture to a shipped parcel
//! through an agent's warehouse, a cancel that intercepts, stock that arrives late, a person's
//! hold and release, a phone confirmation and idempotence of every input.

use super::decide::{Assignment, Coverage, Line, MergeRules};
use super::intake::{Act, ActError, Action, Confirm, ConfirmOutcome};
use super::machine::{Exception, State};
use super::records::{
    Actor, DeliveryState, SettingsRecord, WarehouseChannel, WarehouseRecord, WriteBack,
};
use super::store::{Confirmed, WRITEBACKS_DUE};
use crate::agents::commands::{AnswerOutcome, CommandAnswers};
use crate::orders::cases::{order, with};
use crate::shops::channels::Captured;
use crate::store::Store;
use xt_shared::change::{Body, SourceChange};
use xt_shared::command::{AgentCommand, CommandOutcome};
use xt_shared::ids::{AgentId, DocNo, Sku, SourceName, TenantId, WarehouseCode};
use xt_shared::model::{QuantityLine, ShipmentConfirmation, StockLevel, UtcMillis};
use xt_shared::order::{OrderState, Receiver};
use xt_shared::protocol::AgentRole;

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn agent() -> AgentId {
    AgentId::new("agent-sh").unwrap()
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("hub.redb")).unwrap();
    store.create_tenant(&acme(), UtcMillis(0)).unwrap();
    let warehouse = |channel, priority, stock_tracked| WarehouseRecord {
        name: "仓".into(),
        channel,
        coverage: Coverage::default(),
        priority,
        cost_minor: 800,
        currency: "CNY".into(),
        enabled: true,
        stock_tracked,
        updated_at: UtcMillis(0),
    };
    store
        .put_warehouse(
            &acme(),
            "WH-SH",
            &warehouse(
                WarehouseChannel::Agent {
                    agent: agent().to_string(),
                },
                1,
                true,
            ),
        )
        .unwrap();
    store
        .put_warehouse(
            &acme(),
            "WH-PHONE",
            &warehouse(WarehouseChannel::Phone, 5, false),
        )
        .unwrap();
    let settings = SettingsRecord {
        merge: MergeRules {
            enabled: false,
            ..MergeRules::default()
        },
        ..SettingsRecord::default()
    };
    store.put_fulfilment_settings(&acme(), &settings).unwrap();
    (dir, store)
}

/// A paid order `no` to a full Shanghai address, `qty` of CUP-1.
fn paid(no: &str, modified: i64, qty: u32) -> Captured {
    let o = with(order(no, modified), |o| {
        o.receiver = Receiver {
            name: Some("张三".into()),
            phone: Some("13800001234".into()),
            masked: false,
            country: Some("CN".into()),
            province: Some("上海".into()),
            city: Some("上海市".into()),
            district: Some("浦东新区".into()),
            town: None,
            address: Some("世纪大道 1 号".into()),
            zip: None,
        };
        o.lines[0].quantity = qty;
        o.buyer.open_uid = Some(format!("buyer-{no}"));
    });
    Captured::Order {
        raw: String::new(),
        order: o,
    }
}

fn capture(store: &Store, item: Captured, now: i64) {
    store
        .apply_shop_items(&acme(), "shop-tb", vec![item], UtcMillis(now))
        .unwrap();
}

/// The agent's WMS source reports `body` as change `seq`.
fn wms(store: &Store, seq: u64, version: i64, body: Body) {
    store
        .apply_batch(
            &acme(),
            &agent(),
            AgentRole::Warehouse,
            &SourceName::new("wms").unwrap(),
            vec![SourceChange { seq, version, body }],
            UtcMillis(version),
        )
        .unwrap()
        .unwrap();
}

fn stock(store: &Store, seq: u64, version: i64, on_hand: i64) {
    wms(
        store,
        seq,
        version,
        Body::Stock(StockLevel {
            warehouse: WarehouseCode::new("WH-SH").unwrap(),
            sku: Sku::new("CUP-1").unwrap(),
            on_hand,
        }),
    );
}

fn shipment(delivery_no: &str, tracking: &str, qty: i64) -> Body {
    Body::Shipment(ShipmentConfirmation {
        delivery_no: DocNo::new(delivery_no).unwrap(),
        warehouse: WarehouseCode::new("WH-SH").unwrap(),
        order_no: None,
        carrier: "SF".into(),
        tracking_no: tracking.into(),
        shipped_at: UtcMillis(5_000),
        lines: vec![QuantityLine {
            sku: Sku::new("CUP-1").unwrap(),
            quantity: qty,
        }],
    })
}

fn state(store: &Store, no: &str) -> State {
    store
        .fulfilment(&acme(), "shop-tb", no)
        .unwrap()
        .expect("fulfilment")
        .state
}

fn answer(store: &Store, seq: u64, outcome: CommandOutcome) -> AnswerOutcome {
    answers(store, vec![(seq, outcome)])[0]
}

/// Answers that arrived together: one transaction.
fn answers(store: &Store, answers: Vec<(u64, CommandOutcome)>) -> Vec<AnswerOutcome> {
    crate::ingest::commit(
        store,
        CommandAnswers {
            tenant: &acme(),
            agent: &agent(),
            answers,
        },
        UtcMillis(4_000),
    )
    .unwrap()
    .0
}

fn step(store: &Store, now: i64) {
    store.fulfilment_step(&acme(), UtcMillis(now)).unwrap();
}

#[test]
fn an_order_goes_from_paid_to_shipped_through_the_agents_warehouse_exactly_once() {
    let (_dir, store) = store();
    stock(&store, 1, 1_000, 10);
    capture(&store, paid("T1", 2_000, 2), 2_000);
    step(&store, 3_000);

    assert_eq!(state(&store, "T1"), State::Allocated);
    let cell = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(
        (cell.on_hand(), cell.reserved(), cell.available()),
        (10, 2, 8)
    );
    let pending = store.pending_commands(&acme(), &agent(), 0, 10).unwrap();
    assert_eq!(pending.len(), 1, "one delivery order for the agent");
    let (seq, AgentCommand::CreateDelivery(delivery)) = &pending[0] else {
        panic!("a create command: {pending:?}");
    };
    assert_eq!(delivery.order_nos, vec![DocNo::new("T1").unwrap()]);
    assert_eq!(delivery.lines[0].quantity, 2);
    assert_eq!(delivery.receiver.city, "上海市");
    let delivery_no = delivery.delivery_no.to_string();

    // Stepping again reads nothing new and makes nothing new.
    step(&store, 3_100);
    assert_eq!(
        store
            .pending_commands(&acme(), &agent(), 0, 10)
            .unwrap()
            .len(),
        1
    );

    assert_eq!(
        answers(
            &store,
            vec![
                (*seq, CommandOutcome::Done),
                (*seq, CommandOutcome::AlreadyDone)
            ]
        ),
        [AnswerOutcome::Recorded, AnswerOutcome::Duplicate],
        "the first of two answers to one seq in a batch counts"
    );
    assert_eq!(
        answer(&store, *seq, CommandOutcome::AlreadyDone),
        AnswerOutcome::Duplicate,
        "a resend's second answer"
    );
    assert!(
        store
            .pending_commands(&acme(), &agent(), 0, 10)
            .unwrap()
            .is_empty()
    );
    step(&store, 4_100);
    assert_eq!(state(&store, "T1"), State::Sent);

    wms(&store, 2, 5_000, shipment(&delivery_no, "SF100", 2));
    // The WMS sends the same row again (a newer version): one package, not two.
    wms(&store, 3, 5_001, shipment(&delivery_no, "SF100", 2));
    step(&store, 6_000);
    assert_eq!(state(&store, "T1"), State::Shipped);
    let d = store.delivery(&acme(), &delivery_no).unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Shipped);
    assert_eq!(d.packages.len(), 1);
    assert!(matches!(
        d.packages[0].write_back,
        WriteBack::Pending { .. }
    ));
    let cell = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(
        (cell.reserved(), cell.in_flight(), cell.available()),
        (0, 2, 8),
        "consumed: shipped units count until a newer snapshot reflects them"
    );
    stock(&store, 4, 7_000, 8);
    step(&store, 7_100);
    let cell = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(
        (cell.on_hand(), cell.in_flight(), cell.available()),
        (8, 0, 8)
    );

    let timeline: Vec<State> = store
        .fulfilment(&acme(), "shop-tb", "T1")
        .unwrap()
        .unwrap()
        .timeline
        .iter()
        .map(|s| s.to)
        .collect();
    assert_eq!(
        timeline,
        vec![State::Review, State::Allocated, State::Sent, State::Shipped]
    );
}

#[test]
fn a_platform_cancel_intercepts_the_delivery_and_releases_the_stock() {
    let (_dir, store) = store();
    stock(&store, 1, 1_000, 10);
    capture(&store, paid("T2", 2_000, 3), 2_000);
    step(&store, 3_000);
    let (seq, _) = store.pending_commands(&acme(), &agent(), 0, 10).unwrap()[0].clone();
    answer(&store, seq, CommandOutcome::Done);
    step(&store, 4_100);
    assert_eq!(state(&store, "T2"), State::Sent);

    let cancelled = with(order("T2", 9_000), |o| o.status = OrderState::Cancelled);
    capture(
        &store,
        Captured::Order {
            raw: String::new(),
            order: cancelled,
        },
        9_000,
    );
    step(&store, 9_100);
    assert_eq!(state(&store, "T2"), State::Cancelled);
    let cell = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(cell.reserved(), 0, "released on cancel");
    let pending = store.pending_commands(&acme(), &agent(), 0, 10).unwrap();
    assert!(
        matches!(
            pending.as_slice(),
            [(_, AgentCommand::CancelDelivery { .. })]
        ),
        "{pending:?}"
    );

    // The warehouse shipped anyway: the intercept failed, and the dashboard must say so.
    let delivery_no = pending[0].1.delivery_no().to_string();
    answer(
        &store,
        pending[0].0,
        CommandOutcome::Refused {
            reason: "already shipped".into(),
        },
    );
    step(&store, 9_200);
    assert_eq!(
        state(&store, "T2"),
        State::Exception(Exception::InterceptFailed)
    );
    assert!(matches!(
        store
            .delivery(&acme(), &delivery_no)
            .unwrap()
            .unwrap()
            .state,
        DeliveryState::CancelFailed { .. }
    ));
}

#[test]
fn an_order_without_stock_waits_and_is_dispatched_when_stock_arrives() {
    let (_dir, store) = store();
    // Only the agent's warehouse, whose stock is tracked.
    let (_, mut phone) = store
        .warehouses(&acme())
        .unwrap()
        .into_iter()
        .find(|(code, _)| code == "WH-PHONE")
        .unwrap();
    phone.enabled = false;
    store.put_warehouse(&acme(), "WH-PHONE", &phone).unwrap();
    stock(&store, 1, 1_000, 1);
    capture(&store, paid("T3", 2_000, 2), 2_000);
    step(&store, 3_000);
    assert_eq!(state(&store, "T3"), State::Exception(Exception::OutOfStock));
    let f = store.fulfilment(&acme(), "shop-tb", "T3").unwrap().unwrap();
    assert!(f.no_route.is_some(), "the reason is kept");

    stock(&store, 2, 4_000, 5);
    step(&store, 4_100);
    assert_eq!(state(&store, "T3"), State::Allocated);
    assert_eq!(
        store
            .pending_commands(&acme(), &agent(), 0, 10)
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_wms_table_reporting_a_package_one_line_per_row_ships_every_line_once() {
    let (_dir, store) = store();
    stock(&store, 1, 1_000, 10);
    wms(
        &store,
        2,
        1_001,
        Body::Stock(StockLevel {
            warehouse: WarehouseCode::new("WH-SH").unwrap(),
            sku: Sku::new("LID-1").unwrap(),
            on_hand: 10,
        }),
    );
    let Captured::Order { raw, order } = paid("T9", 2_000, 2) else {
        unreachable!()
    };
    let order = with(order, |o| {
        let mut second = o.lines[0].clone();
        second.line_id = DocNo::new("T9-2").unwrap();
        second.merchant_sku = Some(Sku::new("LID-1").unwrap());
        second.quantity = 1;
        o.lines.push(second);
    });
    capture(&store, Captured::Order { raw, order }, 2_000);
    step(&store, 3_000);
    let pending = store.pending_commands(&acme(), &agent(), 0, 10).unwrap();
    let (seq, AgentCommand::CreateDelivery(delivery)) = &pending[0] else {
        panic!("a create command: {pending:?}");
    };
    assert_eq!(delivery.lines.len(), 2);
    let delivery_no = delivery.delivery_no.to_string();
    answer(&store, *seq, CommandOutcome::Done);
    step(&store, 4_100);

    let row = |sku: &str, qty| {
        Body::Shipment(ShipmentConfirmation {
            lines: vec![QuantityLine {
                sku: Sku::new(sku).unwrap(),
                quantity: qty,
            }],
            ..match shipment(&delivery_no, "SF900", 0) {
                Body::Shipment(s) => s,
                _ => unreachable!(),
            }
        })
    };
    wms(&store, 3, 5_000, row("CUP-1", 2));
    step(&store, 5_100);
    assert_eq!(state(&store, "T9"), State::PartlyShipped);
    wms(&store, 4, 5_001, row("LID-1", 1));
    // The source reads both rows again (its cursor was reset): nothing moves twice.
    wms(&store, 5, 5_002, row("CUP-1", 2));
    wms(&store, 6, 5_003, row("LID-1", 1));
    step(&store, 6_000);
    assert_eq!(state(&store, "T9"), State::Shipped);
    let d = store.delivery(&acme(), &delivery_no).unwrap().unwrap();
    assert_eq!(d.state, DeliveryState::Shipped);
    let shipped: Vec<(String, i64)> = d.lines.iter().map(|l| (l.sku.clone(), l.shipped)).collect();
    assert_eq!(shipped, vec![("CUP-1".into(), 2), ("LID-1".into(), 1)]);
    // One parcel (one tracking number) reported a row per line: one package, written back once.
    assert_eq!(d.packages.len(), 1, "{:?}", d.packages);
    assert_eq!(
        d.packages[0].lines,
        vec![("CUP-1".into(), 2), ("LID-1".into(), 1)]
    );
    let due = store
        .read()
        .unwrap()
        .open(WRITEBACKS_DUE)
        .unwrap()
        .len()
        .unwrap();
    assert_eq!(due, 1, "one write-back for the parcel");
    for (sku, left) in [("CUP-1", 8), ("LID-1", 9)] {
        let cell = store.ledger_cell(&acme(), "WH-SH", sku).unwrap();
        assert_eq!((cell.reserved(), cell.available()), (0, left), "{sku}");
    }
}

#[test]
fn phone_confirmations_apply_once_by_their_key() {
    let (_dir, store) = store();
    // The agent's warehouse is switched off: the phone one (stock not tracked) takes it.
    let (_, mut sh) = store
        .warehouses(&acme())
        .unwrap()
        .into_iter()
        .find(|(code, _)| code == "WH-SH")
        .unwrap();
    sh.enabled = false;
    store.put_warehouse(&acme(), "WH-SH", &sh).unwrap();
    capture(&store, paid("T5", 2_000, 1), 2_000);
    step(&store, 3_000);
    assert_eq!(
        state(&store, "T5"),
        State::Sent,
        "a phone warehouse has it at once"
    );
    let pending = store
        .deliveries_pending(&acme(), "WH-PHONE", None, 10)
        .unwrap();
    assert_eq!(pending.len(), 1);
    let delivery_no = pending[0].0.clone();
    let confirm = |key: &str| {
        crate::ingest::commit(
            &store,
            Confirm {
                tenant: &acme(),
                confirmed: Confirmed {
                    key: key.into(),
                    delivery_no: delivery_no.clone(),
                    carrier: "ZTO".into(),
                    tracking_no: "ZT1".into(),
                    lines: Vec::new(),
                    shipped_at: UtcMillis(5_000),
                    last: true,
                },
                actor: Actor::User("u-1".into()),
            },
            UtcMillis(5_000),
        )
        .unwrap()
        .0
    };
    assert_eq!(confirm("phone-1"), ConfirmOutcome::Applied);
    assert_eq!(confirm("phone-1"), ConfirmOutcome::Duplicate);
    assert_eq!(state(&store, "T5"), State::Shipped);
    assert!(
        store
            .deliveries_pending(&acme(), "WH-PHONE", None, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_held_order_keeps_its_stock_until_a_person_releases_it() {
    let (_dir, store) = store();
    stock(&store, 1, 1_000, 5);
    let with_memo = match paid("T6", 2_000, 2) {
        Captured::Order { order, raw } => Captured::Order {
            raw,
            order: with(order, |o| o.seller_memo = Some("核对地址".into())),
        },
        other => other,
    };
    capture(&store, with_memo, 2_000);
    step(&store, 3_000);
    assert_eq!(state(&store, "T6"), State::Held);
    let cell = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(cell.reserved(), 2, "a held paid order keeps its stock");
    assert!(
        store
            .pending_commands(&acme(), &agent(), 0, 10)
            .unwrap()
            .is_empty()
    );

    let act = |action| {
        crate::ingest::commit(
            &store,
            Act {
                tenant: &acme(),
                shop: "shop-tb",
                order_no: "T6",
                action,
                by: "u-boss".into(),
            },
            UtcMillis(4_000),
        )
        .unwrap()
        .0
    };
    assert!(act(Action::Approve).is_ok());
    assert_eq!(state(&store, "T6"), State::Allocated);
    step(&store, 4_100);
    assert_eq!(
        store
            .pending_commands(&acme(), &agent(), 0, 10)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .ledger_cell(&acme(), "WH-SH", "CUP-1")
            .unwrap()
            .reserved(),
        2
    );
    assert!(act(Action::Release).is_err(), "not held any more");
    let f = store.fulfilment(&acme(), "shop-tb", "T6").unwrap().unwrap();
    assert!(
        f.timeline
            .iter()
            .any(|s| s.actor == Actor::User("u-boss".into()))
    );
}

/// Reports `on_hand` of `sku` in `warehouse` through the agent, as change `seq`.
fn stock_of(store: &Store, seq: u64, version: i64, warehouse: &str, sku: &str, on_hand: i64) {
    wms(
        store,
        seq,
        version,
        Body::Stock(StockLevel {
            warehouse: WarehouseCode::new(warehouse).unwrap(),
            sku: Sku::new(sku).unwrap(),
            on_hand,
        }),
    );
}

/// A second agent warehouse `WH-BJ` (same agent, stock tracked), the phone one switched off,
/// and with `split_by_stock` off unless `split`.
fn two_warehouses(store: &Store, split: bool) {
    let all = store.warehouses(&acme()).unwrap();
    let (_, sh) = all.iter().find(|(c, _)| c == "WH-SH").unwrap().clone();
    let (_, mut phone) = all.into_iter().find(|(c, _)| c == "WH-PHONE").unwrap();
    phone.enabled = false;
    store.put_warehouse(&acme(), "WH-PHONE", &phone).unwrap();
    let bj = WarehouseRecord { priority: 2, ..sh };
    store.put_warehouse(&acme(), "WH-BJ", &bj).unwrap();
    let mut settings = store.fulfilment_settings(&acme()).unwrap();
    settings.split.split_by_stock = split;
    store.put_fulfilment_settings(&acme(), &settings).unwrap();
}

/// Paid order `no`: `cups` of CUP-1 and one LID-1.
fn paid_two_lines(no: &str, cups: u32) -> Captured {
    let Captured::Order { raw, order } = paid(no, 2_000, cups) else {
        unreachable!()
    };
    let order = with(order, |o| {
        let mut second = o.lines[0].clone();
        second.line_id = DocNo::new(format!("{no}-2")).unwrap();
        second.merchant_sku = Some(Sku::new("LID-1").unwrap());
        second.quantity = 1;
        o.lines.push(second);
    });
    Captured::Order { raw, order }
}

fn act_on(store: &Store, no: &str, action: Action, now: i64) -> Result<(), ActError> {
    crate::ingest::commit(
        store,
        Act {
            tenant: &acme(),
            shop: "shop-tb",
            order_no: no,
            action,
            by: "u-boss".into(),
        },
        UtcMillis(now),
    )
    .unwrap()
    .0
    .map(|_| ())
}

fn assignment(warehouse: &str, lines: &[(&str, i64)]) -> Assignment {
    Assignment {
        warehouse: warehouse.into(),
        lines: lines
            .iter()
            .map(|(sku, quantity)| Line {
                sku: (*sku).into(),
                quantity: *quantity,
            })
            .collect(),
    }
}

fn reserved(store: &Store, warehouse: &str, sku: &str) -> i64 {
    store
        .ledger_cell(&acme(), warehouse, sku)
        .unwrap()
        .reserved()
}

#[test]
fn a_person_splits_an_order_across_two_warehouses_and_each_part_is_dispatched() {
    let (_dir, store) = store();
    two_warehouses(&store, false);
    stock_of(&store, 1, 1_000, "WH-SH", "CUP-1", 10);
    stock_of(&store, 2, 1_001, "WH-BJ", "LID-1", 5);
    capture(&store, paid_two_lines("T10", 2), 2_000);
    step(&store, 3_000);
    assert_eq!(
        state(&store, "T10"),
        State::Exception(Exception::OutOfStock),
        "no one warehouse holds both lines and splitting by stock is off"
    );
    let before = store
        .fulfilment(&acme(), "shop-tb", "T10")
        .unwrap()
        .unwrap();

    // More than WH-SH holds: refused with the reason, nothing changed.
    let short = Action::Split {
        parts: vec![
            assignment("WH-SH", &[("CUP-1", 1), ("LID-1", 1)]),
            assignment("WH-BJ", &[("CUP-1", 1)]),
        ],
    };
    match act_on(&store, "T10", short, 3_500) {
        Err(ActError::NotAllowed(why)) => {
            assert!(why.contains("WH-SH") && why.contains("LID-1"), "{why}")
        }
        other => panic!("refused: {other:?}"),
    }
    // Not adding up to the order: refused by the hand-split rules.
    let wrong = Action::Split {
        parts: vec![
            assignment("WH-SH", &[("CUP-1", 1)]),
            assignment("WH-BJ", &[("LID-1", 1)]),
        ],
    };
    match act_on(&store, "T10", wrong, 3_500) {
        Err(ActError::NotAllowed(why)) => assert!(why.contains("CUP-1: 1 of 2"), "{why}"),
        other => panic!("refused: {other:?}"),
    }
    assert_eq!(
        store
            .fulfilment(&acme(), "shop-tb", "T10")
            .unwrap()
            .unwrap(),
        before,
        "a refused split changes nothing"
    );
    for (w, sku) in [("WH-SH", "CUP-1"), ("WH-SH", "LID-1"), ("WH-BJ", "LID-1")] {
        assert_eq!(reserved(&store, w, sku), 0, "{w} {sku}");
    }

    let split = Action::Split {
        parts: vec![
            assignment("WH-SH", &[("CUP-1", 2)]),
            assignment("WH-BJ", &[("LID-1", 1)]),
        ],
    };
    assert_eq!(act_on(&store, "T10", split.clone(), 4_000), Ok(()));
    assert_eq!(state(&store, "T10"), State::Allocated);
    assert_eq!(reserved(&store, "WH-SH", "CUP-1"), 2);
    assert_eq!(reserved(&store, "WH-BJ", "LID-1"), 1);
    let f = store
        .fulfilment(&acme(), "shop-tb", "T10")
        .unwrap()
        .unwrap();
    let last = f.timeline.last().unwrap();
    assert_eq!(last.actor, Actor::User("u-boss".into()));
    assert!(
        last.reason.starts_with("split by hand by u-boss"),
        "{}",
        last.reason
    );
    assert!(f.plan.iter().all(|p| p.why.by_hand), "{:?}", f.plan);

    step(&store, 4_100);
    let pending = store.pending_commands(&acme(), &agent(), 0, 10).unwrap();
    let mut sent: Vec<(String, Vec<(String, i64)>)> = pending
        .iter()
        .map(|(_, c)| match c {
            AgentCommand::CreateDelivery(d) => (
                d.warehouse.to_string(),
                d.lines
                    .iter()
                    .map(|l| (l.sku.to_string(), l.quantity))
                    .collect(),
            ),
            other => panic!("a create: {other:?}"),
        })
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        vec![
            ("WH-BJ".into(), vec![("LID-1".into(), 1)]),
            ("WH-SH".into(), vec![("CUP-1".into(), 2)]),
        ],
        "one delivery order per part"
    );
    for (seq, _) in &pending {
        answer(&store, *seq, CommandOutcome::Done);
    }
    step(&store, 4_200);
    assert_eq!(state(&store, "T10"), State::Sent);
    match act_on(&store, "T10", split, 4_300) {
        Err(ActError::NotAllowed(why)) => assert!(why.contains("not yet sent"), "{why}"),
        other => panic!("refused once sent: {other:?}"),
    }
}

/// The one create command waiting for the agent: (seq, warehouse, delivery no).
fn the_create(store: &Store) -> (u64, String, String) {
    let pending = store.pending_commands(&acme(), &agent(), 0, 10).unwrap();
    match pending.as_slice() {
        [(seq, AgentCommand::CreateDelivery(d))] => {
            (*seq, d.warehouse.to_string(), d.delivery_no.to_string())
        }
        other => panic!("one create command: {other:?}"),
    }
}

#[test]
fn a_stock_out_refusal_reroutes_the_order_to_a_warehouse_that_has_it() {
    let (_dir, store) = store();
    two_warehouses(&store, false);
    stock_of(&store, 1, 1_000, "WH-SH", "CUP-1", 10);
    stock_of(&store, 2, 1_001, "WH-BJ", "CUP-1", 5);
    capture(&store, paid("T11", 2_000, 2), 2_000);
    step(&store, 3_000);
    let (seq, warehouse, first) = the_create(&store);
    assert_eq!(warehouse, "WH-SH", "priority 1 first");

    let refused = CommandOutcome::Refused {
        reason: "商品 CUP-1 库存不足".into(),
    };
    answer(&store, seq, refused);
    step(&store, 4_100);
    assert_eq!(state(&store, "T11"), State::Allocated);
    let f = store
        .fulfilment(&acme(), "shop-tb", "T11")
        .unwrap()
        .unwrap();
    let to: Vec<(&str, &str)> = f
        .timeline
        .iter()
        .rev()
        .take(2)
        .map(|s| (s.to.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(to[1].0, "warehouse_refused");
    assert!(
        to[1].1.starts_with("WH-SH reported out of stock"),
        "{}",
        to[1].1
    );
    assert_eq!(to[0].0, "allocated");
    assert!(
        to[0]
            .1
            .starts_with("re-routed: WH-SH reported out of stock"),
        "{}",
        to[0].1
    );
    assert_eq!(f.plan.len(), 1, "the refused part is gone: {:?}", f.plan);
    assert_eq!(f.plan[0].warehouse, "WH-BJ");
    let (_, warehouse, second) = the_create(&store);
    assert_eq!(warehouse, "WH-BJ", "dispatched again");
    assert_ne!(second, first);
    let sh = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(
        (sh.reserved(), sh.available()),
        (0, 0),
        "WH-SH has none now"
    );
    assert_eq!(reserved(&store, "WH-BJ", "CUP-1"), 2);

    // The next order is not sent to WH-SH for CUP-1 ...
    capture(&store, paid("T12", 2_000, 1), 5_000);
    step(&store, 5_100);
    let f = store
        .fulfilment(&acme(), "shop-tb", "T12")
        .unwrap()
        .unwrap();
    assert_eq!(f.plan[0].warehouse, "WH-BJ");
    // ... until its WMS counts it again.
    stock_of(&store, 3, 6_000, "WH-SH", "CUP-1", 10);
    step(&store, 6_100);
    let sh = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(sh.available(), 10);
}

#[test]
fn a_stock_out_refusal_of_a_hand_routed_order_routes_it_again() {
    let (_dir, store) = store();
    two_warehouses(&store, false);
    stock_of(&store, 1, 1_000, "WH-SH", "CUP-1", 10);
    stock_of(&store, 2, 1_001, "WH-BJ", "CUP-1", 5);
    let with_memo = match paid("T15", 2_000, 2) {
        Captured::Order { order, raw } => Captured::Order {
            raw,
            order: with(order, |o| o.seller_memo = Some("发北京仓".into())),
        },
        other => other,
    };
    capture(&store, with_memo, 2_000);
    step(&store, 3_000);
    assert_eq!(state(&store, "T15"), State::Held);
    // A person sends it to WH-BJ and approves: the person's choice stands.
    let reroute = Action::Reroute {
        warehouse: "WH-BJ".into(),
    };
    assert_eq!(act_on(&store, "T15", reroute, 3_100), Ok(()));
    assert_eq!(act_on(&store, "T15", Action::Approve, 3_200), Ok(()));
    step(&store, 3_300);
    let (seq, warehouse, first) = the_create(&store);
    assert_eq!(warehouse, "WH-BJ");

    // WH-BJ has none after all: the hub routes it again, past the person's choice.
    let refused = CommandOutcome::Refused {
        reason: "缺货".into(),
    };
    answer(&store, seq, refused);
    step(&store, 4_100);
    assert_eq!(state(&store, "T15"), State::Allocated);
    let (_, warehouse, second) = the_create(&store);
    assert_eq!(warehouse, "WH-SH");
    assert_ne!(second, first);
    assert_eq!(reserved(&store, "WH-SH", "CUP-1"), 2);
    assert_eq!(reserved(&store, "WH-BJ", "CUP-1"), 0);
}

#[test]
fn a_stock_out_refusal_with_no_other_warehouse_waits_for_stock() {
    let (_dir, store) = store();
    two_warehouses(&store, false);
    let (_, mut bj) = store
        .warehouses(&acme())
        .unwrap()
        .into_iter()
        .find(|(c, _)| c == "WH-BJ")
        .unwrap();
    bj.enabled = false;
    store.put_warehouse(&acme(), "WH-BJ", &bj).unwrap();
    stock_of(&store, 1, 1_000, "WH-SH", "CUP-1", 10);
    capture(&store, paid("T13", 2_000, 2), 2_000);
    step(&store, 3_000);
    let (seq, _, first) = the_create(&store);
    let refused = CommandOutcome::Refused {
        reason: "ERR_OUT_OF_STOCK".into(),
    };
    answer(&store, seq, refused);
    step(&store, 4_100);
    assert_eq!(
        state(&store, "T13"),
        State::Exception(Exception::OutOfStock)
    );
    let f = store
        .fulfilment(&acme(), "shop-tb", "T13")
        .unwrap()
        .unwrap();
    assert!(f.no_route.is_some());
    assert!(f.plan.is_empty(), "{:?}", f.plan);
    assert!(matches!(
        store.delivery(&acme(), &first).unwrap().unwrap().state,
        DeliveryState::Refused { .. }
    ));
    assert!(
        store
            .pending_commands(&acme(), &agent(), 0, 10)
            .unwrap()
            .is_empty()
    );
    let sh = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!((sh.reserved(), sh.available()), (0, 0));

    // Stock counted again: tried again, dispatched again.
    stock_of(&store, 2, 5_000, "WH-SH", "CUP-1", 10);
    step(&store, 5_100);
    assert_eq!(state(&store, "T13"), State::Allocated);
    let (_, warehouse, second) = the_create(&store);
    assert_eq!(warehouse, "WH-SH");
    assert_ne!(second, first);
    assert_eq!(reserved(&store, "WH-SH", "CUP-1"), 2);
}

#[test]
fn a_refusal_for_another_reason_waits_for_a_person() {
    let (_dir, store) = store();
    stock(&store, 1, 1_000, 10);
    capture(&store, paid("T14", 2_000, 2), 2_000);
    step(&store, 3_000);
    let (seq, _, _) = the_create(&store);
    let refused = CommandOutcome::Refused {
        reason: "收货地址无法识别".into(),
    };
    answer(&store, seq, refused);
    step(&store, 4_100);
    assert_eq!(
        state(&store, "T14"),
        State::Exception(Exception::WarehouseRefused)
    );
    let cell = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(
        (cell.reserved(), cell.available()),
        (2, 8),
        "stock still held"
    );
}

#[test]
fn a_late_confirmation_of_a_refused_delivery_does_not_take_the_next_deliverys_stock() {
    let (_dir, store) = store();
    stock(&store, 1, 1_000, 10);
    capture(&store, paid("T20", 2_000, 2), 2_000);
    step(&store, 3_000);
    let (seq, _, first) = the_create(&store);
    let refused = CommandOutcome::Refused {
        reason: "收货地址无法识别".into(),
    };
    answer(&store, seq, refused);
    step(&store, 4_100);
    assert_eq!(
        state(&store, "T20"),
        State::Exception(Exception::WarehouseRefused)
    );
    // A person sends it to the same warehouse again: a second delivery order.
    let reroute = Action::Reroute {
        warehouse: "WH-SH".into(),
    };
    assert_eq!(act_on(&store, "T20", reroute, 4_200), Ok(()));
    step(&store, 4_300);
    let (seq, _, second) = the_create(&store);
    assert_ne!(second, first);
    answer(&store, seq, CommandOutcome::Done);
    step(&store, 4_400);
    assert_eq!(state(&store, "T20"), State::Sent);
    assert_eq!(reserved(&store, "WH-SH", "CUP-1"), 2);

    // The WMS shipped the refused one after all, then the second: four units left.
    wms(&store, 2, 5_000, shipment(&first, "SF1", 2));
    step(&store, 5_100);
    let cell = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(
        (cell.reserved(), cell.in_flight(), cell.available()),
        (2, 2, 6),
        "the first delivery's parcel does not take what the second holds"
    );
    wms(&store, 3, 5_001, shipment(&second, "SF2", 2));
    step(&store, 5_200);
    let cell = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(
        (cell.reserved(), cell.in_flight(), cell.available()),
        (0, 4, 6),
        "every unit that left counts once"
    );
    // The WMS counts them: nothing counted twice or not at all.
    stock(&store, 4, 7_000, 6);
    step(&store, 7_100);
    let cell = store.ledger_cell(&acme(), "WH-SH", "CUP-1").unwrap();
    assert_eq!(
        (cell.on_hand(), cell.in_flight(), cell.available()),
        (6, 0, 6)
    );
}

/// The room's records as this version writes them, from an order taken from capture to a
/// shipped parcel (the golden records, `store::records_tests`): (stem, stored bytes).
pub(crate) fn golden_records() -> Vec<(&'static str, Vec<u8>)> {
    use crate::store::LogEntry;
    use crate::store::codec::encode;
    let (_dir, store) = store();
    stock(&store, 1, 1_000, 10);
    let with_memo = match paid("G1", 2_000, 2) {
        Captured::Order { order, raw } => Captured::Order {
            raw,
            order: with(order, |o| o.seller_memo = Some("核对地址".into())),
        },
        other => other,
    };
    capture(&store, with_memo, 2_000);
    step(&store, 3_000);
    crate::ingest::commit(
        &store,
        Act {
            tenant: &acme(),
            shop: "shop-tb",
            order_no: "G1",
            action: Action::Approve,
            by: "u-boss".into(),
        },
        UtcMillis(3_500),
    )
    .unwrap()
    .0
    .unwrap();
    step(&store, 3_600);
    let tx = store.read().unwrap();
    let (seq, command) = tx
        .open(crate::agents::commands::COMMANDS)
        .unwrap()
        .all()
        .unwrap()
        .next()
        .unwrap()
        .map(|row| (row.key().2, row.value))
        .unwrap();
    drop(tx);
    answer(&store, seq, CommandOutcome::Done);
    step(&store, 4_100);
    let delivery_no = command.delivery_no.clone();
    wms(&store, 2, 5_000, shipment(&delivery_no, "SF100", 2));
    step(&store, 6_000);

    let tx = store.read().unwrap();
    let t = acme();
    let f = store.fulfilment(&t, "shop-tb", "G1").unwrap().unwrap();
    let d = store.delivery(&t, &delivery_no).unwrap().unwrap();
    let (_, wh) = store.warehouses(&t).unwrap().remove(0);
    let settings = store.fulfilment_settings(&t).unwrap();
    let cell = store.ledger_cell(&t, "WH-SH", "CUP-1").unwrap();
    let due = tx
        .open(super::store::WRITEBACKS_DUE)
        .unwrap()
        .all()
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .value;
    drop(tx);
    let log = store.tenant_log_page(&t, 0, usize::MAX).unwrap().entries;
    let logged = |want: fn(&LogEntry) -> bool| {
        log.iter()
            .map(|(_, e)| e)
            .find(|e| want(e))
            .map(encode)
            .unwrap()
    };
    vec![
        ("fulfilments.v1", encode(&f)),
        ("deliveries.v1", encode(&d)),
        ("warehouses.v1", encode(&wh)),
        ("fulfilment_settings.v1", encode(&settings)),
        ("stock_ledger.v1", encode(&cell)),
        ("writebacks_due.v1", encode(&due)),
        ("agent_commands.v1", encode(&command)),
        (
            "tenant_log.v1.command",
            logged(|e| matches!(e, LogEntry::Command(_))),
        ),
        (
            "tenant_log.v1.fulfilment",
            logged(|e| matches!(e, LogEntry::Fulfilment(_))),
        ),
    ]
}
