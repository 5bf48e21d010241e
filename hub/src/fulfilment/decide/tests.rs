//! The decisions case by case. Most cases are data, "fixture in, decision out":
//! `hub/tests/fixtures/fulfilment/{review,merge,route}.json`, each case named, its input given as
//! patches onto a base (objects merge field by field, anything else replaces) and its expected
//! decision as JSON. A failing case prints what the decision was, to compare. The rest are Rust
//! tables where JSON is clumsy (normalisation, large inputs) and properties of routing.

use super::*;
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const REVIEW: &str = include_str!("../../../tests/fixtures/fulfilment/review.json");
const MERGE: &str = include_str!("../../../tests/fixtures/fulfilment/merge.json");
const ROUTE: &str = include_str!("../../../tests/fixtures/fulfilment/route.json");

/// `patch` merged onto `base`: objects field by field, anything else replaces.
fn patched(base: &Value, patch: Option<&Value>) -> Value {
    let mut out = base.clone();
    if let Some(p) = patch {
        merge_into(&mut out, p);
    }
    out
}

fn merge_into(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge_into(b.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p.clone(),
    }
}

fn from<T: DeserializeOwned>(v: Value, what: &str, case: &str) -> T {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("case {case:?}: bad {what}: {e}"))
}

fn name(case: &Value) -> String {
    case["name"]
        .as_str()
        .expect("every case has a name")
        .to_owned()
}

/// Runs every case, then fails once listing each failing case.
fn check_all(cases: &[Value], check: impl Fn(&Value) -> Result<(), String>) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(c).err().map(|e| format!("case {:?}: {e}", name(c))))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

fn expect_eq(got: &Value, want: &Value) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("want {want}\n  got {got}"))
    }
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).expect("fixture is JSON")
}

#[test]
fn review_cases() {
    let f = fixture(REVIEW);
    let rules_base = serde_json::to_value(ReviewRules::default()).unwrap();
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 12);
    check_all(cases, |c| {
        let n = name(c);
        let rules: ReviewRules = from(patched(&rules_base, c.get("rules")), "rules", &n);
        rules
            .validate()
            .map_err(|e| format!("rules refused: {e}"))?;
        let order: OrderView = from(patched(&f["order"], c.get("order")), "order", &n);
        let recent = c.get("recent").and_then(Value::as_u64).unwrap_or(0) as u32;
        let got = serde_json::to_value(review(&order, &rules, recent)).unwrap();
        expect_eq(&got, &c["expect"])
    });
}

#[test]
fn merge_key_cases() {
    let f = fixture(MERGE);
    let rules_base = serde_json::to_value(MergeRules::default()).unwrap();
    let cases = f["keys"].as_array().unwrap();
    check_all(cases, |c| {
        let n = name(c);
        let rules: MergeRules = from(patched(&rules_base, c.get("rules")), "rules", &n);
        let a: OrderView = from(patched(&f["order"], c.get("a")), "a", &n);
        let b: OrderView = from(patched(&f["order"], c.get("b")), "b", &n);
        let (ka, kb) = (merge_key(&a, &rules), merge_key(&b, &rules));
        let got = match (&ka, &kb) {
            (None, _) => "none",
            (Some(_), None) => "b has none",
            (Some(x), Some(y)) if x == y => "same",
            (Some(_), Some(_)) => "different",
        };
        expect_eq(&json!(got), &c["expect"])
    });
}

#[test]
fn merge_release_cases() {
    let f = fixture(MERGE);
    let rules_base = serde_json::to_value(MergeRules::default()).unwrap();
    let cases = f["release"].as_array().unwrap();
    assert!(cases.len() >= 8);
    check_all(cases, |c| {
        let n = name(c);
        let rules: MergeRules = from(patched(&rules_base, c.get("rules")), "rules", &n);
        let pending: Vec<(String, Option<String>, i64)> = from(c["pending"].clone(), "pending", &n);
        let pending: Vec<Pending> = pending
            .into_iter()
            .map(|(order_no, key, paid_at)| Pending {
                order_no,
                key,
                paid_at,
            })
            .collect();
        let now = c["now"].as_i64().expect("now");
        let got: Vec<Vec<String>> = release(&pending, &rules, now)
            .into_iter()
            .map(|r| r.order_nos)
            .collect();
        expect_eq(&json!(got), &c["expect"])
    });
}

/// A routing case's input, read from its fixture.
struct RouteInput {
    lines: Vec<Line>,
    receiver: ReceiverView,
    warehouses: Vec<Warehouse>,
    stock: BTreeMap<String, BTreeMap<String, i64>>,
    rules: SplitRules,
}

fn route_input(f: &Value, c: &Value) -> RouteInput {
    let n = name(c);
    let rules_base = serde_json::to_value(SplitRules::default()).unwrap();
    let warehouses = c["warehouses"]
        .as_array()
        .expect("warehouses")
        .iter()
        .map(|w| from(patched(&f["warehouse"], Some(w)), "warehouse", &n))
        .collect();
    RouteInput {
        lines: lines(&c["lines"], &n),
        receiver: from(patched(&f["receiver"], c.get("receiver")), "receiver", &n),
        warehouses,
        stock: c
            .get("stock")
            .map_or_else(BTreeMap::new, |s| from(s.clone(), "stock", &n)),
        rules: from(patched(&rules_base, c.get("rules")), "rules", &n),
    }
}

fn lines(v: &Value, case: &str) -> Vec<Line> {
    let pairs: Vec<(String, i64)> = from(v.clone(), "lines", case);
    pairs
        .into_iter()
        .map(|(sku, quantity)| Line { sku, quantity })
        .collect()
}

fn route_of(input: &RouteInput) -> Result<RoutePlan, NoRoute> {
    let available = |w: &str, sku: &str| {
        input
            .stock
            .get(w)
            .and_then(|s| s.get(sku))
            .copied()
            .unwrap_or(0)
    };
    route(
        &input.lines,
        &input.receiver,
        &input.warehouses,
        &available,
        &input.rules,
    )
}

/// Parts as the fixtures write them: warehouse, lines as pairs, the English text and, when the
/// case gives one, the Chinese.
fn parts_json(parts: &[Part], want: &Value) -> Value {
    let want = want.as_array().cloned().unwrap_or_default();
    let parts = parts
        .iter()
        .enumerate()
        .map(|(n, p)| {
            let mut v = json!({
                "warehouse": p.warehouse,
                "lines": p.lines.iter().map(|l| json!([l.sku, l.quantity])).collect::<Vec<_>>(),
                "en": p.why.text(Lang::En),
            });
            if want.get(n).and_then(|w| w.get("zh")).is_some() {
                v["zh"] = json!(p.why.text(Lang::Zh));
            }
            v
        })
        .collect();
    Value::Array(parts)
}

#[test]
fn route_cases() {
    let f = fixture(ROUTE);
    let cases = f["cases"].as_array().unwrap();
    assert!(cases.len() >= 15);
    check_all(cases, |c| {
        let want = &c["expect"];
        let got = match route_of(&route_input(&f, c)) {
            Ok(plan) => json!({ "parts": parts_json(&plan.parts, &want["parts"]) }),
            Err(no) => {
                let mut v = json!({ "no_route": no });
                for (key, lang) in [("en", Lang::En), ("zh", Lang::Zh)] {
                    if want.get(key).is_some() {
                        v[key] = json!(no.text(lang));
                    }
                }
                v
            }
        };
        expect_eq(&got, want)
    });
}

#[test]
fn hand_cases() {
    let f = fixture(ROUTE);
    let cases = f["hand"].as_array().unwrap();
    check_all(cases, |c| {
        let n = name(c);
        let input = route_input(&f, c);
        let assignment: Vec<(String, Vec<(String, i64)>)> =
            from(c["assignment"].clone(), "assignment", &n);
        let assignment: Vec<Assignment> = assignment
            .into_iter()
            .map(|(warehouse, ls)| Assignment {
                warehouse,
                lines: ls
                    .into_iter()
                    .map(|(sku, quantity)| Line { sku, quantity })
                    .collect(),
            })
            .collect();
        let want = &c["expect"];
        let got = match split_by_hand(&input.lines, &assignment, &input.warehouses) {
            Ok(parts) => json!({ "parts": parts_json(&parts, &want["parts"]) }),
            Err(e) => json!({ "problems": e.problems }),
        };
        expect_eq(&got, want)
    });
}

#[test]
fn the_explanation_behind_the_console_text() {
    let f = fixture(ROUTE);
    let case = &f["cases"][0];
    let plan = route_of(&route_input(&f, case)).expect("routes");
    assert_eq!(
        plan.parts[0].why,
        Explanation {
            warehouse: "WH-SH".into(),
            matched: Matched::Province("上海".into()),
            designated: vec![],
            by_hand: false,
            lines_held: 3,
            lines_total: 3,
            split_skus: vec![],
            priority: 1,
            cost_minor: 0,
            rejected: vec![],
        }
    );
}

#[test]
fn a_hand_split_error_says_every_problem() {
    let err = SplitError {
        problems: vec![
            SplitProblem::UnknownWarehouse {
                warehouse: "WH-X".into(),
            },
            SplitProblem::Unassigned {
                sku: "A".into(),
                wanted: 3,
                assigned: 2,
            },
        ],
    };
    assert_eq!(
        err.to_string(),
        "split refused: warehouse WH-X is not configured; A: 2 of 3 assigned"
    );
}

#[test]
fn normalisation() {
    type Normalise = fn(&str) -> String;
    let cases: &[(&str, Normalise, &str, &str)] = &[
        (
            "text trims and collapses",
            normal::text,
            "  张 \t 三 ",
            "张 三",
        ),
        (
            "text folds full width and case",
            normal::text,
            "Ｊohn\u{3000}Smith",
            "john smith",
        ),
        ("text of blank", normal::text, " \u{3000} ", ""),
        (
            "compact drops spaces",
            normal::compact,
            "世纪大道 100 号",
            "世纪大道100号",
        ),
        (
            "phone keeps digits",
            normal::phone,
            "138-0013 8000",
            "13800138000",
        ),
        (
            "phone drops +86",
            normal::phone,
            "+86 138 0013 8000",
            "13800138000",
        ),
        (
            "phone drops 86 of 13 digits",
            normal::phone,
            "8613800138000",
            "13800138000",
        ),
        ("phone keeps a short 86", normal::phone, "86123", "86123"),
        (
            "phone keeps a mask",
            normal::phone,
            "138****8000",
            "138****8000",
        ),
        (
            "phone of full-width digits",
            normal::phone,
            "１３８００１３８０００",
            "13800138000",
        ),
        ("region drops 市", normal::region, "上海市", "上海"),
        (
            "region drops 省 and spaces",
            normal::region,
            " 江苏 省 ",
            "江苏",
        ),
        (
            "region drops 壮族自治区",
            normal::region,
            "广西壮族自治区",
            "广西",
        ),
        (
            "region drops 维吾尔自治区",
            normal::region,
            "新疆维吾尔自治区",
            "新疆",
        ),
        (
            "region drops 回族自治区",
            normal::region,
            "宁夏回族自治区",
            "宁夏",
        ),
        ("region drops 自治区", normal::region, "西藏自治区", "西藏"),
        (
            "region drops 特别行政区",
            normal::region,
            "香港特别行政区",
            "香港",
        ),
        ("region keeps a bare suffix", normal::region, "市", "市"),
        (
            "region of a latin name",
            normal::region,
            "Shanghai",
            "shanghai",
        ),
    ];
    for (what, f, input, want) in cases {
        let got = f(input);
        assert_eq!(got, *want, "{what}: {input:?}");
        assert_eq!(f(&got), got, "{what}: not idempotent");
    }
}

fn receiver(name: &str, phone: &str, city: &str, address: &str) -> ReceiverView {
    ReceiverView {
        name: Some(name.into()),
        phone: Some(phone.into()),
        province: Some("上海".into()),
        city: Some(city.into()),
        district: Some("浦东新区".into()),
        address: Some(address.into()),
    }
}

#[test]
fn receiver_keys() {
    let base = receiver("张三", "13800138000", "上海市", "世纪大道100号");
    let key = receiver_key(&base);
    assert_eq!(key.len(), 64, "a SHA-256 hex digest");
    assert!(!key.contains("13800138000"));
    let same = [
        (
            "spaces and full width",
            receiver(
                " 张三 ",
                "１３８ ００１３ ８０００",
                "上海市",
                "世纪大道 100 号",
            ),
        ),
        (
            "country code",
            receiver("张三", "+86 13800138000", "上海", "世纪大道100号"),
        ),
    ];
    for (what, r) in same {
        assert_eq!(receiver_key(&r), key, "{what}");
    }
    let different = [
        (
            "another name",
            receiver("李四", "13800138000", "上海市", "世纪大道100号"),
        ),
        (
            "another phone",
            receiver("张三", "13900139000", "上海市", "世纪大道100号"),
        ),
        (
            "another address",
            receiver("张三", "13800138000", "上海市", "世纪大道101号"),
        ),
        (
            "no district",
            ReceiverView {
                district: None,
                ..base.clone()
            },
        ),
    ];
    for (what, r) in different {
        assert_ne!(receiver_key(&r), key, "{what}");
    }
}

#[test]
fn repeat_receiver_window() {
    let r = RepeatReceiver {
        count: 3,
        window_ms: 1000,
    };
    let cases = [
        ("same time", 5000, 5000, true),
        ("just inside", 5000, 4001, true),
        ("window ago", 5000, 4000, false),
        ("later order", 5000, 5001, false),
    ];
    for (what, paid_at, other, want) in cases {
        assert_eq!(r.in_window(paid_at, other), want, "{what}");
    }
}

#[test]
fn review_rules_validation() {
    let ok = ReviewRules::default();
    assert_eq!(ok.validate(), Ok(()));
    let cases = [
        (
            "negative amount",
            ReviewRules {
                amount_over_minor: Some(-1),
                ..ok.clone()
            },
            RulesError::NegativeAmount(-1),
        ),
        (
            "count of one",
            ReviewRules {
                repeat_receiver: Some(RepeatReceiver {
                    count: 1,
                    window_ms: 10,
                }),
                ..ok.clone()
            },
            RulesError::RepeatCount(1),
        ),
        (
            "empty window",
            ReviewRules {
                repeat_receiver: Some(RepeatReceiver {
                    count: 2,
                    window_ms: 0,
                }),
                ..ok.clone()
            },
            RulesError::RepeatWindow(0),
        ),
        (
            "blank phone",
            ReviewRules {
                blacklist: vec![
                    BlacklistEntry::Buyer("x".into()),
                    BlacklistEntry::Phone(" - ".into()),
                ],
                ..ok.clone()
            },
            RulesError::BlankBlacklistEntry(1),
        ),
    ];
    for (what, rules, want) in cases {
        assert_eq!(rules.validate(), Err(want), "{what}");
    }
}

#[test]
fn rules_deny_unknown_fields() {
    let bad = json!({ "hold_buyer_memo": true, "hold_memo": true });
    assert!(serde_json::from_value::<ReviewRules>(bad).is_err());
    let partial: ReviewRules = serde_json::from_value(json!({ "hold_cod": true })).unwrap();
    assert_eq!(
        partial,
        ReviewRules {
            hold_cod: true,
            ..ReviewRules::default()
        }
    );
}

#[test]
fn a_large_merge_group_leaves_in_capped_delivery_orders() {
    let pending: Vec<Pending> = (0..45)
        .map(|n| Pending {
            order_no: format!("O{n:02}"),
            key: Some("k".into()),
            paid_at: n,
        })
        .collect();
    let sizes: Vec<usize> = release(&pending, &MergeRules::default(), 1_000_000)
        .iter()
        .map(|r| r.order_nos.len())
        .collect();
    assert_eq!(sizes, [MERGE_GROUP_ORDERS_MAX, MERGE_GROUP_ORDERS_MAX, 5]);
}

fn everywhere(code: &str, priority: u32) -> Warehouse {
    Warehouse {
        code: code.into(),
        kind: WarehouseKind::Agent,
        coverage: Coverage::default(),
        priority,
        cost_minor: 0,
        enabled: true,
    }
}

#[test]
fn many_warehouses_are_searched_greedily() {
    // 14 candidates, over the exact search's bound: WH-05 completes two lines, WH-09 the third.
    let whs: Vec<Warehouse> = (0..14)
        .map(|n| everywhere(&format!("WH-{n:02}"), 1))
        .collect();
    let available = |w: &str, sku: &str| match (w, sku) {
        ("WH-05", "A" | "B") | ("WH-09" | "WH-12", "C") => 1,
        (_, "A") => 1,
        _ => 0,
    };
    let lines = ["A", "B", "C"].map(|sku| Line {
        sku: sku.into(),
        quantity: 1,
    });
    let plan = route(
        &lines,
        &ReceiverView::default(),
        &whs,
        &available,
        &SplitRules::default(),
    )
    .expect("routes");
    let got: Vec<(&str, Vec<&str>)> = plan
        .parts
        .iter()
        .map(|p| {
            (
                p.warehouse.as_str(),
                p.lines.iter().map(|l| l.sku.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(got, [("WH-05", vec!["A", "B"]), ("WH-09", vec!["C"])]);
}

#[test]
fn decisions_are_records_too() {
    // The lead stores rules and decisions with postcard (no self-description): every type must
    // round-trip through it as well as JSON.
    fn both<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: T) {
        let bytes = postcard::to_allocvec(&v).expect("postcard");
        assert_eq!(postcard::from_bytes::<T>(&bytes).expect("postcard back"), v);
        let text = serde_json::to_string(&v).expect("json");
        assert_eq!(serde_json::from_str::<T>(&text).expect("json back"), v);
    }
    both(ReviewRules {
        blacklist: vec![
            BlacklistEntry::Phone("138".into()),
            BlacklistEntry::NameAndAddress {
                name: "张三".into(),
                address: "x".into(),
            },
        ],
        amount_over_minor: Some(100),
        ..ReviewRules::default()
    });
    both(MergeRules::default());
    both(SplitRules {
        split_by_stock: false,
        designated: [("A".into(), "WH-X".into())].into(),
    });
    both(Verdict::Hold(vec![
        HoldReason::AddressIncomplete {
            missing: vec![AddressField::City],
        },
        HoldReason::Cod,
    ]));
    let f = fixture(ROUTE);
    for c in f["cases"].as_array().unwrap() {
        let input = route_input(&f, c);
        for w in &input.warehouses {
            both(w.clone());
        }
        match route_of(&input) {
            Ok(plan) => both(plan),
            Err(no) => both(no),
        }
    }
    both(SplitError {
        problems: vec![SplitProblem::NoLines],
    });
}

/// A small random world: up to 6 warehouses over two provinces, 3 SKUs, maybe one designation.
fn world() -> impl Strategy<Value = (Vec<Warehouse>, Vec<[i64; 3]>, Vec<Line>, SplitRules)> {
    let warehouse =
        (1u32..4, 0i64..3, 0u8..10, 0u8..3).prop_map(|(priority, cost, on, region)| Warehouse {
            code: String::new(),
            kind: WarehouseKind::Phone,
            coverage: Coverage {
                provinces: match region {
                    0 => vec![],
                    1 => vec!["上海".into()],
                    _ => vec!["北京".into()],
                },
                cities: vec![],
            },
            priority,
            cost_minor: cost * 100,
            enabled: on > 0,
        });
    (
        prop::collection::vec((warehouse, [0i64..7, 0i64..7, 0i64..7]), 1..7),
        prop::collection::vec((0usize..3, 1i64..8), 1..4),
        any::<bool>(),
        prop::option::of((0usize..3, 0usize..6)),
    )
        .prop_map(|(whs, wanted, split_by_stock, designation)| {
            let (mut warehouses, stock): (Vec<Warehouse>, Vec<[i64; 3]>) = whs.into_iter().unzip();
            for (n, w) in warehouses.iter_mut().enumerate() {
                w.code = format!("WH-{n}");
            }
            let lines = wanted
                .into_iter()
                .map(|(s, quantity)| Line {
                    sku: SKUS[s].into(),
                    quantity,
                })
                .collect();
            let mut designated = BTreeMap::new();
            if let Some((s, w)) = designation {
                designated.insert(SKUS[s].into(), format!("WH-{}", w % warehouses.len()));
            }
            let rules = SplitRules {
                split_by_stock,
                designated,
            };
            (warehouses, stock, lines, rules)
        })
}

const SKUS: [&str; 3] = ["A", "B", "C"];

proptest! {
    /// Whatever the world, a plan ships exactly what was ordered, each part from an enabled
    /// warehouse holding it (covering, unless designated), designated SKUs from their warehouse,
    /// no warehouse twice, one warehouse for the free lines when not splitting; no route says
    /// why; the warehouses' order does not change the decision; the texts render.
    #[test]
    fn routing_keeps_its_promises((warehouses, stock, lines, rules) in world()) {
        let receiver = ReceiverView { province: Some("上海市".into()), ..ReceiverView::default() };
        let available = |w: &str, sku: &str| {
            let n: usize = w[3..].parse().unwrap();
            stock[n][SKUS.iter().position(|s| *s == sku).unwrap()]
        };
        let got = route(&lines, &receiver, &warehouses, &available, &rules);
        let mut reversed = warehouses.clone();
        reversed.reverse();
        prop_assert_eq!(&route(&lines, &receiver, &reversed, &available, &rules), &got);
        let mut wanted: BTreeMap<&str, i64> = BTreeMap::new();
        for l in &lines {
            *wanted.entry(l.sku.as_str()).or_default() += l.quantity;
        }
        match got {
            Ok(plan) => {
                let mut shipped: BTreeMap<&str, i64> = BTreeMap::new();
                let mut seen = std::collections::BTreeSet::new();
                let mut free_from = std::collections::BTreeSet::new();
                for p in &plan.parts {
                    prop_assert!(seen.insert(p.warehouse.clone()), "{} twice", p.warehouse);
                    prop_assert!(!p.lines.is_empty());
                    let w = warehouses.iter().find(|w| w.code == p.warehouse).unwrap();
                    prop_assert!(w.enabled);
                    for l in &p.lines {
                        prop_assert!(l.quantity > 0 && l.quantity <= available(&w.code, &l.sku));
                        *shipped.entry(l.sku.as_str()).or_default() += l.quantity;
                        match rules.designated.get(&l.sku) {
                            Some(d) => prop_assert_eq!(d, &w.code),
                            None => {
                                prop_assert!(w.coverage.matches(&receiver).is_some());
                                free_from.insert(w.code.clone());
                            }
                        }
                    }
                    p.why.text(Lang::Zh);
                    p.why.text(Lang::En);
                }
                prop_assert_eq!(shipped, wanted);
                if !rules.split_by_stock {
                    prop_assert!(free_from.len() <= 1);
                }
            }
            Err(NoRoute::Unavailable { short, warehouses: why, needs_split }) => {
                prop_assert!(!short.is_empty() || !rules.split_by_stock);
                prop_assert!(!needs_split || !rules.split_by_stock);
                prop_assert!(!why.is_empty() || !short.is_empty());
                NoRoute::Unavailable { short, warehouses: why, needs_split }.text(Lang::Zh);
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }
}

#[test]
fn hold_reasons_in_words() {
    use super::review::{AddressField, BlacklistField};
    let cases: Vec<(HoldReason, &str, &str)> = vec![
        (HoldReason::SellerMemo, "卖家备注", "seller memo"),
        (HoldReason::BuyerMemo, "买家留言", "buyer memo"),
        (HoldReason::Cod, "货到付款", "cash on delivery"),
        (
            HoldReason::Blacklisted {
                matched: BlacklistField::Phone,
            },
            "黑名单（电话）",
            "blacklisted (phone)",
        ),
        (
            HoldReason::UnmappedSku {
                lines: vec!["T1-1".into(), "T1-2".into()],
            },
            "未对应商品编码的行：T1-1、T1-2",
            "lines without a SKU: T1-1, T1-2",
        ),
        (
            HoldReason::AddressIncomplete {
                missing: vec![AddressField::Phone, AddressField::Address],
            },
            "地址不全：缺电话、详细地址",
            "address incomplete: no phone, address",
        ),
        (
            HoldReason::RepeatReceiver {
                count: 3,
                window_ms: 600_000,
            },
            "10 分钟内发往同一收货人的第 3 单",
            "order 3 to the same receiver within 10 minutes",
        ),
        (
            HoldReason::AmountOver {
                paid: 150_000,
                limit: 100_000,
            },
            "实付 1500.00 超过 1000.00",
            "paid 1500.00, over 1000.00",
        ),
    ];
    for (reason, zh, en) in cases {
        assert_eq!(reason.text(Lang::Zh), zh, "{reason:?}");
        assert_eq!(reason.text(Lang::En), en, "{reason:?}");
    }
}
