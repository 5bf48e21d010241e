//! The edge's decisions, as tables of named cases: each input is accepted into the checked
//! type the hub relies on, or refused with a message naming the field. (The routes' permissions
//! and limits are tested against the real hub: `hub/tests/fulfilment_routes.rs`.)

use super::routes::{delivery_no, order_id};
use super::*;
use serde_json::{Value, json};

/// Parses `body` as `T` (as the router's JSON extractor would) and checks it with `check`:
/// `Ok(checked)` or the refusal's message (a serde refusal included).
fn parse<T: serde::de::DeserializeOwned, C>(
    body: Value,
    check: impl Fn(&T) -> Result<C, crate::ApiError>,
) -> Result<C, String> {
    let parsed: T = serde_json::from_value(body).map_err(|e| e.to_string())?;
    check(&parsed).map_err(|e| e.to_string())
}

/// Each case: a name, a body, and `Ok(())` or a piece of the refusal's message.
type Case = (&'static str, Value, Result<(), &'static str>);

fn run<T: serde::de::DeserializeOwned, C: std::fmt::Debug>(
    cases: &[Case],
    check: impl Fn(&T) -> Result<C, crate::ApiError>,
) {
    for (name, body, want) in cases {
        let got = parse::<T, C>(body.clone(), &check);
        match (want, &got) {
            (Ok(()), Ok(_)) => {}
            (Err(piece), Err(message)) => {
                assert!(
                    message.contains(piece),
                    "{name}: {message:?} lacks {piece:?}"
                )
            }
            _ => panic!("{name}: wanted {want:?}, got {got:?}"),
        }
    }
}

#[test]
fn fulfilment_queries() {
    let cases: &[Case] = &[
        ("nothing: the first page of everything", json!({}), Ok(())),
        ("the review queue", json!({"state": "held"}), Ok(())),
        (
            "an exception state",
            json!({"state": "out_of_stock", "warehouse": "WH-SH"}),
            Ok(()),
        ),
        (
            "largest page",
            json!({"limit": FULFILMENTS_LIMIT_MAX}),
            Ok(()),
        ),
        (
            "unknown state",
            json!({"state": "lost"}),
            Err("state \"lost\""),
        ),
        (
            "zero limit",
            json!({"limit": 0}),
            Err("limit must be between 1 and 500"),
        ),
        ("too large a page", json!({"limit": 501}), Err("limit")),
        (
            "a warehouse with a newline",
            json!({"warehouse": "WH\n1"}),
            Err("warehouse"),
        ),
        (
            "a cursor not made by the hub",
            json!({"cursor": "!!"}),
            Err("invalid cursor"),
        ),
        (
            "an unknown parameter",
            json!({"status": "held"}),
            Err("unknown field"),
        ),
    ];
    run::<FulfilmentQuery, _>(cases, FulfilmentQuery::validated);
    let q = FulfilmentQuery {
        state: Some("partly_shipped".into()),
        cursor: Some(
            FulfilmentCursor {
                since: 7,
                shop: "shop-a".into(),
                order_no: "1:2".into(),
            }
            .encode(),
        ),
        ..FulfilmentQuery::default()
    }
    .validated()
    .unwrap();
    assert_eq!(q.state, Some(FulfilmentState::PartlyShipped));
    assert_eq!(q.after.unwrap().order_no, "1:2");
    assert_eq!(q.limit, FULFILMENTS_LIMIT_DEFAULT as usize);
}

#[test]
fn delivery_queries_default_to_what_waits_to_be_shipped() {
    let cases: &[Case] = &[
        ("nothing", json!({}), Ok(())),
        (
            "shipped ones",
            json!({"state": "shipped", "warehouse": "WH-PHONE"}),
            Ok(()),
        ),
        (
            "unknown state",
            json!({"state": "held"}),
            Err("not a delivery state"),
        ),
        (
            "too large a page",
            json!({"limit": DELIVERIES_LIMIT_MAX + 1}),
            Err("limit"),
        ),
        (
            "a cursor not made by the hub",
            json!({"cursor": "eyJ4IjoxfQ"}),
            Err("invalid cursor"),
        ),
    ];
    run::<DeliveryQuery, _>(cases, DeliveryQuery::validated);
    let q = DeliveryQuery::default().validated().unwrap();
    assert_eq!(q.state, DeliveryState::Pending);
    let cursor = DeliveryCursor {
        created: 5,
        delivery_no: "DL-1".into(),
    };
    assert_eq!(DeliveryCursor::decode(&cursor.encode()).unwrap(), cursor);
}

#[test]
fn actions_take_exactly_their_fields() {
    let part = |w: &str, sku: &str| json!({"warehouse": w, "lines": [{"sku": sku, "quantity": 1}]});
    let cases: &[Case] = &[
        ("approve", json!({"action": "approve"}), Ok(())),
        ("release", json!({"action": "release"}), Ok(())),
        (
            "hold with a reason",
            json!({"action": "hold", "reason": "客服确认地址"}),
            Ok(()),
        ),
        (
            "cancel with a reason",
            json!({"action": "cancel", "reason": "buyer asked"}),
            Ok(()),
        ),
        (
            "reroute",
            json!({"action": "reroute", "warehouse": "WH-BJ"}),
            Ok(()),
        ),
        (
            "split in two",
            json!({"action": "split", "parts": [part("WH-SH", "A"), part("WH-BJ", "B")]}),
            Ok(()),
        ),
        (
            "unknown action",
            json!({"action": "ship"}),
            Err("unknown variant"),
        ),
        (
            "hold without a reason",
            json!({"action": "hold"}),
            Err("hold needs reason"),
        ),
        (
            "blank reason",
            json!({"action": "cancel", "reason": "  "}),
            Err("reason must be 1 to 200"),
        ),
        (
            "reason too long",
            json!({"action": "hold", "reason": "长".repeat(REASON_CHARS_MAX + 1)}),
            Err("reason"),
        ),
        (
            "approve with a reason",
            json!({"action": "approve", "reason": "x"}),
            Err("reason does not go with approve"),
        ),
        (
            "reroute without a warehouse",
            json!({"action": "reroute"}),
            Err("reroute needs warehouse"),
        ),
        (
            "reroute to a bad code",
            json!({"action": "reroute", "warehouse": " WH"}),
            Err("warehouse"),
        ),
        (
            "release with parts",
            json!({"action": "release", "parts": []}),
            Err("parts does not go with release"),
        ),
        (
            "split in one",
            json!({"action": "split", "parts": [part("WH-SH", "A")]}),
            Err("2 to 20 parts"),
        ),
        (
            "split with an empty part",
            json!({"action": "split", "parts": [part("WH-SH", "A"), {"warehouse": "WH-BJ", "lines": []}]}),
            Err("parts[1].lines must hold 1 to"),
        ),
        (
            "split with a zero quantity",
            json!({"action": "split", "parts": [part("WH-SH", "A"),
                {"warehouse": "WH-BJ", "lines": [{"sku": "B", "quantity": 0}]}]}),
            Err("parts[1].lines[0].quantity"),
        ),
        (
            "split with a SKU twice in a part",
            json!({"action": "split", "parts": [part("WH-SH", "A"),
                {"warehouse": "WH-BJ", "lines": [{"sku": "B", "quantity": 1}, {"sku": "B", "quantity": 2}]}]}),
            Err("listed twice"),
        ),
        (
            "an unknown field",
            json!({"action": "approve", "note": "x"}),
            Err("unknown field"),
        ),
    ];
    run::<FulfilmentActionRequest, _>(cases, FulfilmentActionRequest::validated);
    let hold = parse::<FulfilmentActionRequest, _>(
        json!({"action": "hold", "reason": "  wait  "}),
        FulfilmentActionRequest::validated,
    );
    assert_eq!(
        hold,
        Ok(FulfilmentAction::Hold {
            reason: "wait".into()
        })
    );
}

fn warehouse_body(kind: &str) -> Value {
    json!({
        "code": "WH-SH", "name": "上海仓", "kind": kind,
        "coverage": {"provinces": ["浙江省", "上海", "上海"], "cities": []},
        "priority": 1, "cost": {"minor": 800, "currency": "CNY"},
    })
}

fn with(mut body: Value, field: &str, value: Value) -> Value {
    body[field] = value;
    body
}

#[test]
fn warehouses_take_the_fields_of_their_kind() {
    let qimen = json!({"endpoint": "https://qm.example.com/router", "app_key": "k-123456",
        "secret": "s3cr3t", "customer_id": "C-1", "owner_code": "ACME"});
    let cases: &[Case] = &[
        ("a phone warehouse", warehouse_body("phone"), Ok(())),
        (
            "an agent's",
            with(warehouse_body("agent"), "agent_id", json!("ag-1")),
            Ok(()),
        ),
        (
            "a 3PL's",
            with(warehouse_body("qimen"), "qimen", qimen.clone()),
            Ok(()),
        ),
        (
            "a 3PL's keeping its keys",
            with(
                warehouse_body("qimen"),
                "qimen",
                json!({"endpoint": "https://qm.example.com",
                "customer_id": "C-1", "owner_code": "ACME"}),
            ),
            Ok(()),
        ),
        (
            "an agent's without its agent",
            warehouse_body("agent"),
            Err("kind agent needs agent_id"),
        ),
        (
            "a phone one with an agent",
            with(warehouse_body("phone"), "agent_id", json!("ag-1")),
            Err("agent_id does not go with kind phone"),
        ),
        (
            "a phone one with qimen",
            with(warehouse_body("phone"), "qimen", qimen.clone()),
            Err("qimen does not go with kind phone"),
        ),
        (
            "a 3PL's without qimen",
            warehouse_body("qimen"),
            Err("kind qimen needs qimen"),
        ),
        (
            "a 3PL's at no URL",
            with(
                warehouse_body("qimen"),
                "qimen",
                with(qimen.clone(), "endpoint", json!("ftp://x")),
            ),
            Err("qimen.endpoint must start with http"),
        ),
        (
            "a secret with a space",
            with(
                warehouse_body("qimen"),
                "qimen",
                with(qimen.clone(), "secret", json!("a b")),
            ),
            Err("qimen.secret"),
        ),
        (
            "an agent id that is no slug",
            with(warehouse_body("agent"), "agent_id", json!("ag 1")),
            Err("agent_id"),
        ),
        (
            "an unknown kind",
            warehouse_body("drone"),
            Err("unknown variant"),
        ),
        (
            "a bad code",
            with(warehouse_body("phone"), "code", json!("")),
            Err("code"),
        ),
        (
            "a blank name",
            with(warehouse_body("phone"), "name", json!(" ")),
            Err("name must be 1 to 64"),
        ),
        (
            "priority too high",
            with(warehouse_body("phone"), "priority", json!(PRIORITY_MAX + 1)),
            Err("priority"),
        ),
        (
            "a negative cost",
            with(
                warehouse_body("phone"),
                "cost",
                json!({"minor": -1, "currency": "CNY"}),
            ),
            Err("cost.minor"),
        ),
        (
            "a cost in no currency",
            with(
                warehouse_body("phone"),
                "cost",
                json!({"minor": 1, "currency": "yuan"}),
            ),
            Err("cost"),
        ),
        (
            "a province with a control character",
            with(
                warehouse_body("phone"),
                "coverage",
                json!({"provinces": ["上\u{7}海"], "cities": []}),
            ),
            Err("coverage.provinces[0]"),
        ),
        (
            "an unknown field",
            with(warehouse_body("phone"), "region", json!("east")),
            Err("unknown field"),
        ),
    ];
    run::<WarehouseInput, _>(cases, WarehouseInput::validated);
    let made = parse::<WarehouseInput, _>(
        with(warehouse_body("qimen"), "qimen", qimen),
        WarehouseInput::validated,
    )
    .unwrap();
    // Coverage comes back sorted, each entry once; secrets never in Debug.
    assert_eq!(made.coverage.provinces, vec!["上海", "浙江省"]);
    assert!(made.enabled);
    assert!(!format!("{made:?}").contains("s3cr3t"), "{made:?}");
    assert!(!format!("{made:?}").contains("k-123456"), "{made:?}");
}

/// The default settings with the field at `path` (`/group/field`) set to `value`, added if
/// it is not one of theirs.
fn settings_with(path: &str, value: Value) -> Value {
    let mut body = serde_json::to_value(FulfilmentSettings::default()).unwrap();
    let (group, field) = path.rsplit_once('/').unwrap();
    let parent = if group.is_empty() {
        &mut body
    } else {
        body.pointer_mut(group).unwrap()
    };
    parent[field] = value;
    body
}

#[test]
fn settings_are_bounded() {
    let defaults = serde_json::to_value(FulfilmentSettings::default()).unwrap();
    let cases: &[Case] = &[
        ("the defaults", defaults.clone(), Ok(())),
        (
            "a threshold",
            settings_with(
                "/review/amount_over",
                json!({"minor": 100000, "currency": "CNY"}),
            ),
            Ok(()),
        ),
        (
            "a repeat rule",
            settings_with(
                "/review/repeat_receiver",
                json!({"count": 3, "window_minutes": 60}),
            ),
            Ok(()),
        ),
        (
            "a blacklisted phone",
            settings_with("/review/blacklist", json!([{"phone": "13800000000"}])),
            Ok(()),
        ),
        (
            "merge off",
            settings_with("/merge", json!({"enabled": false, "window_minutes": 0})),
            Ok(()),
        ),
        (
            "a designated SKU",
            settings_with(
                "/split/designated",
                json!([{"sku": "ICE-1", "warehouse": "WH-COLD"}]),
            ),
            Ok(()),
        ),
        (
            "a threshold in no currency",
            settings_with(
                "/review/amount_over",
                json!({"minor": 1, "currency": "RMB1"}),
            ),
            Err("review.amount_over"),
        ),
        (
            "a repeat of one",
            settings_with(
                "/review/repeat_receiver",
                json!({"count": 1, "window_minutes": 60}),
            ),
            Err("review.repeat_receiver.count"),
        ),
        (
            "a repeat window of none",
            settings_with(
                "/review/repeat_receiver",
                json!({"count": 2, "window_minutes": 0}),
            ),
            Err("window_minutes"),
        ),
        (
            "an empty blacklist entry",
            settings_with("/review/blacklist", json!([{}])),
            Err("review.blacklist[0] needs"),
        ),
        (
            "a merge window of two days",
            settings_with("/merge/window_minutes", json!(2880)),
            Err("merge.window_minutes"),
        ),
        (
            "a SKU designated twice",
            settings_with(
                "/split/designated",
                json!([{"sku": "A", "warehouse": "W1"}, {"sku": "A", "warehouse": "W2"}]),
            ),
            Err("two designated warehouses"),
        ),
        (
            "a designated bad warehouse",
            settings_with("/split/designated", json!([{"sku": "A", "warehouse": ""}])),
            Err("split.designated[0].warehouse"),
        ),
        (
            "a missing group",
            json!({"review": defaults["review"], "merge": defaults["merge"]}),
            Err("missing field `split`"),
        ),
        (
            "an unknown rule",
            settings_with("/review/hold_presale", json!(true)),
            Err("unknown field"),
        ),
    ];
    run::<FulfilmentSettings, _>(cases, FulfilmentSettings::validated);
    let trimmed = parse::<FulfilmentSettings, _>(
        settings_with("/review/blacklist", json!([{"name": " 张三 "}])),
        FulfilmentSettings::validated,
    )
    .unwrap();
    assert_eq!(trimmed.review.blacklist[0].name.as_deref(), Some("张三"));
}

#[test]
fn settings_with_too_long_a_blacklist_are_refused() {
    let many = vec![json!({"phone": "1"}); BLACKLIST_MAX + 1];
    let got = parse::<FulfilmentSettings, _>(
        settings_with("/review/blacklist", Value::Array(many)),
        FulfilmentSettings::validated,
    );
    assert!(got.unwrap_err().contains("at most 200"));
}

#[test]
fn confirmations_are_one_parcel_or_listed_packages() {
    let pkg = |t: &str, lines: Option<Value>| {
        let mut p = json!({"carrier": "SF", "tracking_no": t});
        if let Some(l) = lines {
            p["lines"] = l;
        }
        p
    };
    let one = json!([{"sku": "A", "quantity": 1}]);
    let cases: &[Case] = &[
        (
            "one parcel",
            json!({"carrier": "SF", "tracking_no": "SF1234567890"}),
            Ok(()),
        ),
        (
            "one parcel, with an id",
            json!({"carrier": "JTSD", "tracking_no": "JT-1", "confirmation_id": "c-1.a_b"}),
            Ok(()),
        ),
        (
            "one listed package, all lines",
            json!({"packages": [pkg("SF1", None)]}),
            Ok(()),
        ),
        (
            "a partial shipment",
            json!({"packages": [pkg("SF1", Some(one.clone()))]}),
            Ok(()),
        ),
        (
            "two packages",
            json!({"packages": [pkg("SF1", Some(one.clone())), pkg("SF2", Some(json!([{"sku": "B", "quantity": 2}])))]}),
            Ok(()),
        ),
        (
            "nothing",
            json!({}),
            Err("give either carrier and tracking_no, or packages"),
        ),
        (
            "a carrier alone",
            json!({"carrier": "SF"}),
            Err("give either"),
        ),
        (
            "both forms",
            json!({"carrier": "SF", "tracking_no": "1", "packages": [pkg("SF1", None)]}),
            Err("give either"),
        ),
        (
            "no packages",
            json!({"packages": []}),
            Err("packages must hold 1 to"),
        ),
        (
            "a lowercase carrier",
            json!({"carrier": "sf", "tracking_no": "1"}),
            Err("carrier must be a carrier code"),
        ),
        (
            "a tracking number with a space",
            json!({"carrier": "SF", "tracking_no": "SF 1"}),
            Err("tracking_no"),
        ),
        (
            "a tracking number too long",
            json!({"carrier": "SF", "tracking_no": "9".repeat(TRACKING_NO_BYTES_MAX + 1)}),
            Err("tracking_no"),
        ),
        (
            "two packages, one without lines",
            json!({"packages": [pkg("SF1", Some(one.clone())), pkg("SF2", None)]}),
            Err("packages[1].lines: with several packages"),
        ),
        (
            "the same parcel twice",
            json!({"packages": [pkg("SF1", Some(one.clone())), pkg("SF1", Some(one.clone()))]}),
            Err("given twice"),
        ),
        (
            "a confirmation id with a slash",
            json!({"carrier": "SF", "tracking_no": "1", "confirmation_id": "a/b"}),
            Err("confirmation_id"),
        ),
        (
            "an unknown field",
            json!({"carrier": "SF", "tracking_no": "1", "weight": 2}),
            Err("unknown field"),
        ),
    ];
    run::<DeliveryConfirmRequest, _>(cases, DeliveryConfirmRequest::validated);
    let single = parse::<DeliveryConfirmRequest, _>(
        json!({"carrier": "ZTO", "tracking_no": "7312"}),
        DeliveryConfirmRequest::validated,
    )
    .unwrap();
    assert_eq!(
        single.packages,
        vec![PackageConfirm {
            carrier: "ZTO".into(),
            tracking_no: "7312".into(),
            lines: None,
        }]
    );
    for carrier in COMMON_CARRIERS {
        let body = json!({"carrier": carrier, "tracking_no": "1"});
        parse::<DeliveryConfirmRequest, _>(body, DeliveryConfirmRequest::validated).unwrap();
    }
}

#[test]
fn exception_reports() {
    let cases: &[Case] = &[
        ("out of stock", json!({"kind": "out_of_stock"}), Ok(())),
        (
            "damaged, with words",
            json!({"kind": "damaged", "reason": "外箱破损"}),
            Ok(()),
        ),
        (
            "other with a reason",
            json!({"kind": "other", "reason": "下雨"}),
            Ok(()),
        ),
        (
            "other without",
            json!({"kind": "other"}),
            Err("needs a reason"),
        ),
        (
            "a blank reason",
            json!({"kind": "damaged", "reason": ""}),
            Err("reason"),
        ),
        (
            "an unknown kind",
            json!({"kind": "lost"}),
            Err("unknown variant"),
        ),
    ];
    run::<DeliveryExceptionRequest, _>(cases, DeliveryExceptionRequest::validated);
}

#[test]
fn path_ids_that_are_not_ids_are_not_found() {
    assert_eq!(
        order_id("shop-a:1:2").unwrap(),
        ("shop-a".into(), "1:2".into())
    );
    for bad in ["shop-a", ":1", "shop-a:", ""] {
        assert!(
            matches!(order_id(bad), Err(crate::ApiError::NotFound(_))),
            "{bad}"
        );
    }
    assert!(delivery_no("DL-1").is_ok());
    for bad in ["", " DL", "D\nL"] {
        assert!(
            matches!(delivery_no(bad), Err(crate::ApiError::NotFound(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn state_names_are_the_wire_names_and_exceptions_come_first() {
    for (state, name) in FulfilmentState::ALL.iter().zip(FULFILMENT_STATE_NAMES) {
        assert_eq!(serde_json::to_value(state).unwrap(), json!(name));
    }
    for (state, name) in DeliveryState::ALL.iter().zip(DELIVERY_STATE_NAMES) {
        assert_eq!(serde_json::to_value(state).unwrap(), json!(name));
    }
    let first_normal = FulfilmentState::ALL
        .iter()
        .position(|s| !s.is_exception())
        .unwrap();
    assert!(
        FulfilmentState::ALL[first_normal..]
            .iter()
            .all(|s| !s.is_exception())
    );
    assert_eq!(first_normal, 5);
    for kind in [ActionKind::Approve, ActionKind::Split] {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
    for kind in [
        WarehouseKind::Agent,
        WarehouseKind::Qimen,
        WarehouseKind::Phone,
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
    }
}

#[test]
fn localized_texts_are_keyed_by_the_consoles_languages() {
    let text = Localized {
        zh_cn: "覆盖上海".into(),
        en: "covers 上海".into(),
    };
    assert_eq!(
        serde_json::to_value(&text).unwrap(),
        json!({"zh-CN": "覆盖上海", "en": "covers 上海"})
    );
}
