//! The fulfilment service against a real hub in a temp dir: an order captured, reviewed and
//! dispatched by the room, then seen, confirmed and called back through the service.

use super::*;
use crate::orders::cases::{order, with};
use crate::shops::channels::Captured;
use xt_mobile_api::fulfilment::{
    Coverage as CoverageDto, DeliveryConfirm, DeliveryQuery, FulfilmentQuery, LineChecked,
    MoneyInput, PackageConfirm, QimenChecked, SplitPart,
};
use xt_mobile_api::{PrincipalKind, Role};
use xt_shared::money::{Currency, Money};
use xt_shared::order::Receiver;

fn acme() -> TenantId {
    TenantId::new("acme").unwrap()
}

fn other() -> TenantId {
    TenantId::new("other").unwrap()
}

struct Fixture {
    _dir: tempfile::TempDir,
    hub: Arc<Hub>,
    svc: FulfilmentService,
}

fn hub() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    crate::cli::init_hub(&data, &acme()).unwrap();
    let hub = Arc::new(Hub::open(&data, crate::hub::HubSettings::default()).unwrap());
    hub.store().create_tenant(&other(), UtcMillis(0)).unwrap();
    let svc = FulfilmentService::new(hub.clone());
    let mut settings = FulfilmentSettings::default();
    settings.merge.enabled = false;
    svc.put_settings(&acme(), &settings).unwrap();
    Fixture {
        _dir: dir,
        hub,
        svc,
    }
}

fn warehouse(code: &str, kind: WarehouseKindChecked) -> WarehouseNew {
    WarehouseNew {
        code: WarehouseCode::new(code).unwrap(),
        name: "仓".into(),
        kind,
        coverage: CoverageDto::default(),
        priority: 1,
        cost: Money::new(800, Currency::new("CNY").unwrap()),
        enabled: true,
    }
}

fn user(tenant: TenantId, warehouses: &[&str]) -> Principal {
    Principal {
        tenant,
        subject: "u-1".into(),
        kind: PrincipalKind::User,
        username: Some("picker".into()),
        roles: vec![if warehouses.is_empty() {
            Role::Owner
        } else {
            Role::Warehouse
        }],
        warehouses: warehouses
            .iter()
            .map(|w| WarehouseCode::new(*w).unwrap())
            .collect(),
        scopes: Vec::new(),
    }
}

/// Captures paid order `no` of shop `shop-tb` and lets fulfilment run; the delivery number.
fn flow(fx: &Fixture, no: &str, warehouse: &str) -> String {
    let o = with(order(no, 2_000), |o| {
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
        o.lines[0].quantity = 1;
        o.buyer.open_uid = Some(format!("buyer-{no}"));
    });
    let store = fx.hub.store();
    store
        .apply_shop_items(
            &acme(),
            "shop-tb",
            vec![Captured::Order {
                raw: String::new(),
                order: o,
            }],
            now_ms(),
        )
        .unwrap();
    store.fulfilment_step(&acme(), now_ms()).unwrap();
    let pending = store
        .deliveries_pending(&acme(), warehouse, None, 10)
        .unwrap();
    pending.last().expect("a delivery order").0.clone()
}

fn count(board: &FulfilmentBoard, state: FulfilmentState) -> u64 {
    board
        .states
        .iter()
        .find(|s| s.state == state)
        .unwrap()
        .count
}

#[test]
fn the_board_counts_an_order_that_flowed_to_a_phone_warehouse() {
    let fx = hub();
    fx.svc
        .create_warehouse(&acme(), &warehouse("WH-PHONE", WarehouseKindChecked::Phone))
        .unwrap();
    let empty = fx.svc.board(&acme()).unwrap();
    assert_eq!(empty.states.len(), FulfilmentState::ALL.len());
    assert!(empty.states.iter().all(|s| s.count == 0));
    flow(&fx, "T1", "WH-PHONE");
    let board = fx.svc.board(&acme()).unwrap();
    assert_eq!(count(&board, FulfilmentState::Sent), 1);
    assert_eq!(board.writeback_pending, 0);
    assert_eq!(
        count(&fx.svc.board(&other()).unwrap(), FulfilmentState::Sent),
        0
    );
    let view = fx.svc.fulfilment(&acme(), "shop-tb", "T1").unwrap();
    assert_eq!(view.summary.state, FulfilmentState::Sent);
    assert_eq!(view.deliveries.len(), 1);
    assert_eq!(view.dispatch[0].warehouse, "WH-PHONE");
    assert!(!view.dispatch[0].explanation.zh_cn.is_empty());
    assert_eq!(view.actions, vec![ActionKind::Cancel]);
    let page = fx
        .svc
        .fulfilments(
            &acme(),
            &FulfilmentQuery {
                state: Some("sent".into()),
                ..FulfilmentQuery::default()
            }
            .validated()
            .unwrap(),
        )
        .unwrap();
    assert_eq!(page.orders.len(), 1);
    assert!(matches!(
        fx.svc.fulfilment(&other(), "shop-tb", "T1"),
        Err(ApiError::NotFound(_))
    ));
}

#[test]
fn another_warehouse_or_tenant_gets_not_found_and_a_double_tap_is_one_package() {
    let fx = hub();
    fx.svc
        .create_warehouse(&acme(), &warehouse("WH-PHONE", WarehouseKindChecked::Phone))
        .unwrap();
    let dn = flow(&fx, "T2", "WH-PHONE");
    let no = DocNo::new(&dn).unwrap();
    let confirm = DeliveryConfirm {
        confirmation_id: None,
        packages: vec![PackageConfirm {
            carrier: "顺丰".into(),
            tracking_no: "SF100".into(),
            lines: None,
        }],
    };
    for (who, p) in [
        ("another warehouse's staff", user(acme(), &["WH-BJ"])),
        ("another tenant", user(other(), &[])),
    ] {
        assert!(
            matches!(fx.svc.delivery(&p, &no), Err(ApiError::NotFound(_))),
            "{who}"
        );
        assert!(
            matches!(
                fx.svc.confirm_delivery(&p, &no, &confirm),
                Err(ApiError::NotFound(_))
            ),
            "{who}"
        );
    }
    let staff = user(acme(), &["WH-PHONE"]);
    let listed = fx
        .svc
        .deliveries(&staff, &DeliveryQuery::default().validated().unwrap())
        .unwrap();
    assert_eq!(listed.deliveries.len(), 1);
    let once = fx.svc.confirm_delivery(&staff, &no, &confirm).unwrap();
    let twice = fx.svc.confirm_delivery(&staff, &no, &confirm).unwrap();
    assert_eq!(once.packages.len(), 1);
    assert_eq!(twice.packages.len(), 1, "a double tap is one package");
    assert_eq!(twice.packages[0].carrier, "SF");
    assert_eq!(twice.state, DeliveryStateDto::Shipped);
    assert_eq!(
        fx.svc.board(&acme()).unwrap().writeback_pending,
        1,
        "its tracking waits to be written back"
    );
    let unknown = DeliveryConfirm {
        packages: vec![PackageConfirm {
            carrier: "飞鸽快运".into(),
            tracking_no: "X1".into(),
            lines: None,
        }],
        ..confirm
    };
    assert!(matches!(
        fx.svc.confirm_delivery(&staff, &no, &unknown),
        Err(ApiError::BadRequest(m)) if m.contains("飞鸽快运")
    ));
}

#[test]
fn a_phone_exception_report_refuses_the_delivery_and_the_order() {
    let fx = hub();
    fx.svc
        .create_warehouse(&acme(), &warehouse("WH-PHONE", WarehouseKindChecked::Phone))
        .unwrap();
    let dn = flow(&fx, "T3", "WH-PHONE");
    let no = DocNo::new(&dn).unwrap();
    let staff = user(acme(), &["WH-PHONE"]);
    let report = DeliveryException {
        kind: DeliveryExceptionKind::Damaged,
        reason: Some("外箱破损".into()),
    };
    let view = fx
        .svc
        .report_delivery_exception(&staff, &no, &report)
        .unwrap();
    assert_eq!(view.state, DeliveryStateDto::Exception);
    let e = view.exception.unwrap();
    assert_eq!(e.kind, DeliveryExceptionKind::Damaged);
    assert_eq!(e.by.as_deref(), Some("picker"));
    let order = fx.svc.fulfilment(&acme(), "shop-tb", "T3").unwrap();
    assert_eq!(order.summary.state, FulfilmentState::WarehouseRefused);
    assert!(order.actions.contains(&ActionKind::Reroute));
    assert!(matches!(
        fx.svc.report_delivery_exception(&staff, &no, &report),
        Err(ApiError::Conflict(_))
    ));
}

#[test]
fn a_phone_out_of_stock_report_routes_the_order_to_another_warehouse() {
    let fx = hub();
    fx.svc
        .create_warehouse(&acme(), &warehouse("WH-PHONE", WarehouseKindChecked::Phone))
        .unwrap();
    let mut second = warehouse("WH-PHONE2", WarehouseKindChecked::Phone);
    second.priority = 2;
    fx.svc.create_warehouse(&acme(), &second).unwrap();
    let dn = flow(&fx, "T8", "WH-PHONE");
    let staff = user(acme(), &["WH-PHONE"]);
    let report = DeliveryException {
        kind: DeliveryExceptionKind::OutOfStock,
        reason: Some("货架上没有".into()),
    };
    let view = fx
        .svc
        .report_delivery_exception(&staff, &DocNo::new(&dn).unwrap(), &report)
        .unwrap();
    assert_eq!(
        view.exception.unwrap().kind,
        DeliveryExceptionKind::OutOfStock
    );
    let store = fx.hub.store();
    store.fulfilment_step(&acme(), now_ms()).unwrap();
    let order = fx.svc.fulfilment(&acme(), "shop-tb", "T8").unwrap();
    assert_eq!(order.summary.state, FulfilmentState::Sent);
    assert_eq!(order.dispatch.len(), 1);
    assert_eq!(order.dispatch[0].warehouse, "WH-PHONE2");
    assert!(order.timeline.iter().any(|s| {
        s.reason
            .starts_with("re-routed: WH-PHONE reported out of stock")
    }));
    assert!(
        store
            .deliveries_pending(&acme(), "WH-PHONE", None, 10)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .deliveries_pending(&acme(), "WH-PHONE2", None, 10)
            .unwrap()
            .len(),
        1
    );
}

fn confirm_body(dn: &str, sku: &str) -> Vec<u8> {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><request><deliveryOrder>\
         <deliveryOrderCode>{dn}</deliveryOrderCode><warehouseCode>QM-SH</warehouseCode>\
         <status>DELIVERED</status><outBizCode>OBC-1</outBizCode><confirmType>0</confirmType>\
         <orderConfirmTime>2026-11-02 09:15:00</orderConfirmTime></deliveryOrder>\
         <packages><package><logisticsCode>SF</logisticsCode>\
         <expressCode>SF1234567890123</expressCode></package></packages>\
         <orderLines><orderLine><orderLineNo>1</orderLineNo><itemCode>{sku}</itemCode>\
         <planQty>1</planQty><actualQty>1</actualQty></orderLine></orderLines></request>"
    )
    .into_bytes()
}

fn query(body: &[u8], secret: &str) -> String {
    let params = qimen::sign::signed_params(
        "deliveryorder.confirm",
        "app-1",
        "CUST01",
        secret,
        body,
        now_ms(),
    );
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish()
}

#[test]
fn a_qimen_callback_with_a_bad_signature_is_refused_and_a_good_one_ships_the_order() {
    let fx = hub();
    let made = fx
        .svc
        .create_warehouse(
            &acme(),
            &warehouse(
                "QM-SH",
                WarehouseKindChecked::Qimen(QimenChecked {
                    endpoint: "https://qimen.example-3pl.com/router/qm".into(),
                    app_key: Some("app-1-abcdef".into()),
                    secret: Some("s3cret".into()),
                    customer_id: "CUST01".into(),
                    owner_code: "ACME".into(),
                }),
            ),
        )
        .unwrap();
    let q = made.qimen.unwrap();
    assert!(q.secret.configured);
    assert_eq!(q.app_key, "ap…ef", "the app key is masked");
    let dn = flow(&fx, "T4", "QM-SH");
    let sku = fx
        .hub
        .store()
        .delivery(&acme(), &dn)
        .unwrap()
        .unwrap()
        .lines[0]
        .sku
        .clone();
    let body = confirm_body(&dn, &sku);
    let code = WarehouseCode::new("QM-SH").unwrap();
    let bad = fx
        .svc
        .qimen_callback(&acme(), &code, &query(&body, "wrong"), &body);
    assert_eq!(bad.status, 401);
    let elsewhere = fx
        .svc
        .qimen_callback(&other(), &code, &query(&body, "s3cret"), &body);
    assert_eq!(
        elsewhere.status, 401,
        "another tenant's warehouse is unknown"
    );
    let before = fx.svc.fulfilment(&acme(), "shop-tb", "T4").unwrap();
    assert_ne!(
        before.summary.state,
        FulfilmentState::Shipped,
        "nothing shipped"
    );
    for _ in 0..2 {
        let good = fx
            .svc
            .qimen_callback(&acme(), &code, &query(&body, "s3cret"), &body);
        assert_eq!(good.status, 200, "{}", String::from_utf8_lossy(&good.body));
    }
    let view = fx.svc.fulfilment(&acme(), "shop-tb", "T4").unwrap();
    assert_eq!(view.summary.state, FulfilmentState::Shipped);
    assert_eq!(
        view.deliveries[0].packages.len(),
        1,
        "a repeated callback is one"
    );
    assert_eq!(
        view.deliveries[0].packages[0].tracking_no,
        "SF1234567890123"
    );
}

#[test]
fn settings_round_trip_and_bad_rules_are_refused() {
    let fx = hub();
    let mut s = FulfilmentSettings::default();
    s.review.amount_over = Some(MoneyInput {
        minor: 100_000,
        currency: "CNY".into(),
    });
    s.review.blacklist = vec![
        xt_mobile_api::fulfilment::BlacklistEntry {
            name: None,
            phone: Some("13800000000".into()),
            address: None,
        },
        xt_mobile_api::fulfilment::BlacklistEntry {
            name: Some("王五".into()),
            phone: None,
            address: Some("人民路 2 号".into()),
        },
    ];
    s.merge.window_minutes = 5;
    s.split.designated = vec![DesignatedWarehouse {
        sku: "FROZEN-1".into(),
        warehouse: "WH-COLD".into(),
    }];
    let stored = fx.svc.put_settings(&acme(), &s).unwrap();
    assert_eq!(stored, s);
    assert_eq!(fx.svc.settings(&acme()).unwrap(), s);
    assert_eq!(
        fx.svc.settings(&other()).unwrap(),
        settings_dto(&SettingsRecord::default())
    );
    let mut bad = s.clone();
    bad.review.repeat_receiver = Some(RepeatDto {
        count: 1,
        window_minutes: 10,
    });
    assert!(matches!(
        fx.svc.put_settings(&acme(), &bad),
        Err(ApiError::BadRequest(_))
    ));
}

/// A tracked warehouse `WH-SH` through agent `agent-sh` holding `cups` of CUP-1, and a phone one.
fn tracked_and_phone(fx: &Fixture, cups: i64) {
    fx.svc
        .create_warehouse(&acme(), &warehouse("WH-PHONE", WarehouseKindChecked::Phone))
        .unwrap();
    let store = fx.hub.store();
    let (_, phone) = store.warehouses(&acme()).unwrap().remove(0);
    let sh = WarehouseRecord {
        channel: WarehouseChannel::Agent {
            agent: "agent-sh".into(),
        },
        stock_tracked: true,
        ..phone
    };
    store.put_warehouse(&acme(), "WH-SH", &sh).unwrap();
    store
        .apply_batch(
            &acme(),
            &xt_shared::ids::AgentId::new("agent-sh").unwrap(),
            xt_shared::protocol::AgentRole::Warehouse,
            &xt_shared::ids::SourceName::new("wms").unwrap(),
            vec![xt_shared::change::SourceChange {
                seq: 1,
                version: 1_000,
                body: xt_shared::change::Body::Stock(xt_shared::model::StockLevel {
                    warehouse: WarehouseCode::new("WH-SH").unwrap(),
                    sku: xt_shared::ids::Sku::new("CUP-1").unwrap(),
                    on_hand: cups,
                }),
            }],
            now_ms(),
        )
        .unwrap()
        .unwrap();
}

fn split_part(warehouse: &str, lines: &[(&str, u32)]) -> SplitPart {
    SplitPart {
        warehouse: WarehouseCode::new(warehouse).unwrap(),
        lines: lines
            .iter()
            .map(|(sku, quantity)| LineChecked {
                sku: xt_shared::ids::Sku::new(*sku).unwrap(),
                quantity: *quantity,
            })
            .collect(),
    }
}

#[test]
fn a_person_splits_a_held_order_across_two_warehouses() {
    let fx = hub();
    let mut settings = fx.svc.settings(&acme()).unwrap();
    settings.review.hold_seller_memo = true;
    fx.svc.put_settings(&acme(), &settings).unwrap();
    tracked_and_phone(&fx, 1);
    // Two lines (2 × CUP-1, 1 × LID-1), held for its seller memo.
    let o = with(order("T7", 2_000), |o| {
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
        o.lines[0].quantity = 2;
        let mut lid = o.lines[0].clone();
        lid.line_id = DocNo::new("T7-2").unwrap();
        lid.merchant_sku = Some(xt_shared::ids::Sku::new("LID-1").unwrap());
        lid.quantity = 1;
        o.lines.push(lid);
        o.seller_memo = Some("核对地址".into());
    });
    let store = fx.hub.store();
    store
        .apply_shop_items(
            &acme(),
            "shop-tb",
            vec![Captured::Order {
                raw: String::new(),
                order: o,
            }],
            now_ms(),
        )
        .unwrap();
    store.fulfilment_step(&acme(), now_ms()).unwrap();
    let owner = user(acme(), &[]);
    let before = fx.svc.fulfilment(&acme(), "shop-tb", "T7").unwrap();
    assert_eq!(before.summary.state, FulfilmentState::Held);
    assert!(before.actions.contains(&ActionKind::Split));

    // WH-SH holds one cup, not two: refused, naming the warehouse, and nothing changed.
    let greedy = FulfilmentAction::Split {
        parts: vec![
            split_part("WH-SH", &[("CUP-1", 2)]),
            split_part("WH-PHONE", &[("LID-1", 1)]),
        ],
    };
    assert!(matches!(
        fx.svc.act(&owner, "shop-tb", "T7", &greedy),
        Err(ApiError::Conflict(m)) if m.contains("WH-SH holds 1 of CUP-1")
    ));
    assert_eq!(fx.svc.fulfilment(&acme(), "shop-tb", "T7").unwrap(), before);

    let split = FulfilmentAction::Split {
        parts: vec![
            split_part("WH-SH", &[("CUP-1", 1)]),
            split_part("WH-PHONE", &[("CUP-1", 1), ("LID-1", 1)]),
        ],
    };
    assert!(matches!(
        fx.svc.act(&user(other(), &[]), "shop-tb", "T7", &split),
        Err(ApiError::NotFound(_))
    ));
    let view = fx.svc.act(&owner, "shop-tb", "T7", &split).unwrap();
    assert_eq!(view.summary.state, FulfilmentState::Held, "still held");
    let parts: Vec<&str> = view.dispatch.iter().map(|p| p.warehouse.as_str()).collect();
    assert_eq!(parts, vec!["WH-SH", "WH-PHONE"]);
    assert!(view.dispatch[0].explanation.en.contains("split by hand"));
    assert!(
        view.timeline
            .last()
            .unwrap()
            .reason
            .contains("split by hand by")
    );

    // Approved: the person's split stands and each part becomes a delivery order.
    let view = fx
        .svc
        .act(&owner, "shop-tb", "T7", &FulfilmentAction::Approve)
        .unwrap();
    assert_eq!(view.summary.state, FulfilmentState::Allocated);
    store.fulfilment_step(&acme(), now_ms()).unwrap();
    let phone = store
        .deliveries_pending(&acme(), "WH-PHONE", None, 10)
        .unwrap();
    assert_eq!(phone.len(), 1);
    let lines: Vec<(&str, i64)> = phone[0]
        .1
        .lines
        .iter()
        .map(|l| (l.sku.as_str(), l.quantity))
        .collect();
    assert_eq!(lines, vec![("CUP-1", 1), ("LID-1", 1)]);
    assert_eq!(
        store
            .deliveries_pending(&acme(), "WH-SH", None, 10)
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .ledger_cell(&acme(), "WH-SH", "CUP-1")
            .unwrap()
            .reserved(),
        1
    );
}

#[test]
fn unknown_orders_are_not_found() {
    let fx = hub();
    let owner = user(acme(), &[]);
    let split = FulfilmentAction::Split { parts: Vec::new() };
    for action in [split, FulfilmentAction::Approve] {
        assert!(matches!(
            fx.svc.act(&owner, "shop-tb", "NOPE", &action),
            Err(ApiError::NotFound(_))
        ));
    }
}
