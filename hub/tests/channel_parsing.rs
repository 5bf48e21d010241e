//! Data-driven tests of the channel parsers: every `*.json` under
//! `tests/fixtures/channels/<platform>/` is a platform payload (one order, or an array of orders)
//! and `<name>.expected.json` next to it is what it must parse to — `{"ok": <standard order>}`
//! or `{"error": "<message>"}` per order, money shown as `"12.30 CNY"`. A new fixture is picked
//! up automatically; run with `UPDATE_EXPECT=1` to (re)write the expected files, then review them.

use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use xt_hub::shops::channels::{self, jd, shopify, taobao, woocommerce};
use xt_shared::money::{Currency, Money};
use xt_shared::order::Platform;

const EXPECTED_SUFFIX: &str = ".expected.json";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/channels")
}

fn platforms() -> [(&'static str, Platform); 4] {
    [
        ("taobao", Platform::Taobao),
        ("jd", Platform::Jd),
        ("shopify", Platform::Shopify),
        ("woocommerce", Platform::Woocommerce),
    ]
}

/// The payload fixtures of one platform, sorted.
fn fixtures(dir: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("fixture folder {dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".json") && !name.ends_with(EXPECTED_SUFFIX)
        })
        .collect();
    paths.sort();
    paths
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Money as `{"minor": 1230, "currency": [67, 78, 89]}` becomes `"12.30 CNY"` for review.
fn readable(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            if map.len() == 2
                && map.contains_key("minor")
                && map.contains_key("currency")
                && let Ok(m) = serde_json::from_value::<Money>(Value::Object(map.clone()))
            {
                return Value::String(m.to_string());
            }
            Value::Object(map.into_iter().map(|(k, v)| (k, readable(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(readable).collect()),
        other => other,
    }
}

fn check_one(platform: Platform, raw: &Value) -> Value {
    match channels::parse_order(platform, raw) {
        Ok(order) => json!({ "ok": readable(serde_json::to_value(order).unwrap()) }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

#[test]
fn fixtures_parse_to_expected() {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut failures = Vec::new();
    for (dir, platform) in platforms() {
        let paths = fixtures(dir);
        assert!(paths.len() >= 3, "{dir}: only {} fixtures", paths.len());
        for path in paths {
            let raw = read_json(&path);
            let actual = match &raw {
                Value::Array(orders) => {
                    Value::Array(orders.iter().map(|o| check_one(platform, o)).collect())
                }
                order => check_one(platform, order),
            };
            let expected_path = path.with_extension("").with_extension("expected.json");
            if update {
                let text = serde_json::to_string_pretty(&actual).unwrap() + "\n";
                std::fs::write(&expected_path, text).unwrap();
                continue;
            }
            if !expected_path.exists() {
                failures.push(format!(
                    "{}: no expected file (run with UPDATE_EXPECT=1 and review it)",
                    path.display()
                ));
                continue;
            }
            let expected = read_json(&expected_path);
            if expected != actual {
                failures.push(format!(
                    "{}:\nexpected {}\nactual   {}",
                    path.display(),
                    serde_json::to_string_pretty(&expected).unwrap(),
                    serde_json::to_string_pretty(&actual).unwrap()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every string value under `key` anywhere in the fixture payloads of `dir`.
fn values_under(dir: &str, key: &str) -> Vec<String> {
    fn walk(v: &Value, key: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if k == key
                        && let Value::String(s) = v
                    {
                        out.push(s.clone());
                    }
                    walk(v, key, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, key, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for path in fixtures(dir) {
        walk(&read_json(&path), key, &mut out);
    }
    out
}

fn assert_covered<T>(dir: &str, key: &str, table: &[(&str, T)]) {
    let seen = values_under(dir, key);
    let missing: Vec<&str> = table
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !seen.iter().any(|s| s == k))
        .collect();
    assert!(
        missing.is_empty(),
        "{dir}: no fixture has {key} = {missing:?}"
    );
}

#[test]
fn fixtures_cover_every_status_value() {
    assert_covered("taobao", "status", taobao::TRADE_STATUSES);
    assert_covered("taobao", "refund_status", taobao::REFUND_STATUSES);
    assert_covered("jd", "orderState", jd::ORDER_STATES);
    assert_covered("shopify", "financial_status", shopify::FINANCIAL_STATUSES);
    // `unfulfilled` is written as `null` by the REST API; the table accepts both.
    assert_covered(
        "shopify",
        "fulfillment_status",
        &shopify::FULFILLMENT_STATUSES[1..],
    );
    assert_covered("woocommerce", "status", woocommerce::ORDER_STATUSES);
}

#[test]
fn every_platform_has_a_malformed_fixture() {
    for (dir, _) in platforms() {
        let any_error = fixtures(dir).iter().any(|p| {
            let expected = p.with_extension("").with_extension("expected.json");
            std::fs::read_to_string(expected).is_ok_and(|t| t.contains("\"error\""))
        });
        assert!(any_error, "{dir}: no fixture expects a parse error");
    }
}

/// A money amount as a platform writes it: `minor` units with the currency's decimals, and
/// sometimes trailing zeros beyond them.
fn decimal_text(minor: i64, exponent: u32, extra_zeros: usize) -> String {
    let unit = 10i64.pow(exponent);
    let mut s = if exponent == 0 {
        minor.to_string()
    } else {
        format!(
            "{}.{:0width$}",
            minor / unit,
            minor % unit,
            width = exponent as usize
        )
    };
    if extra_zeros > 0 {
        if exponent == 0 {
            s.push('.');
        }
        s.push_str(&"0".repeat(extra_zeros));
    }
    s
}

fn taobao_trade(payment: &str) -> Value {
    json!({
        "tid": 4012345678901234567u64, "status": "WAIT_SELLER_SEND_GOODS",
        "payment": payment, "total_fee": payment,
        "created": "2026-11-11 00:00:01", "modified": "2026-11-11 00:00:02",
        "orders": {"order": [{"oid": 4012345678901234568u64, "num": 1, "price": payment,
                              "status": "WAIT_SELLER_SEND_GOODS"}]}
    })
}

fn shopify_order(currency: &str, total: &str) -> Value {
    json!({
        "id": 450789469, "currency": currency, "financial_status": "paid",
        "total_price": total, "total_line_items_price": total,
        "created_at": "2026-11-11T00:00:01+08:00", "updated_at": "2026-11-11T00:00:02+08:00",
        "line_items": [{"id": 1, "quantity": 1, "price": total}]
    })
}

proptest! {
    #[test]
    fn money_strings_round_trip_exactly(
        minor in 0i64..1_000_000_000_000_000,
        extra_zeros in 0usize..3,
    ) {
        // Straight through `Money`, for two-decimal and zero-decimal currencies.
        for currency in [Currency::CNY, Currency::new("JPY").unwrap()] {
            let text = decimal_text(minor, currency.exponent(), extra_zeros);
            let money = Money::parse(&text, currency).unwrap();
            prop_assert_eq!(money.minor, minor);
            let shown = money.to_string();
            let number = shown.split(' ').next().unwrap();
            prop_assert_eq!(Money::parse(number, currency).unwrap(), money);
        }
        // And through the parsers, where the strings come from.
        let text = decimal_text(minor, 2, extra_zeros);
        let order = taobao::parse_order(&taobao_trade(&text)).unwrap();
        prop_assert_eq!(order.amounts.paid.minor, minor);
        prop_assert_eq!(order.lines[0].unit_price.minor, minor);
        let order = shopify::parse_order(&shopify_order("USD", &text)).unwrap();
        prop_assert_eq!(order.amounts.paid.minor, minor);
        let text = decimal_text(minor, 0, extra_zeros);
        let order = shopify::parse_order(&shopify_order("JPY", &text)).unwrap();
        prop_assert_eq!(order.amounts.paid.minor, minor);
    }
}

#[test]
fn a_nineteen_digit_tid_stays_exact_without_tid_str() {
    let order = taobao::parse_order(&taobao_trade("1.00")).unwrap();
    assert_eq!(order.platform_order_no.as_str(), "4012345678901234567");
    assert_eq!(order.lines[0].line_id.as_str(), "4012345678901234568");
}

#[test]
fn beijing_time_becomes_utc() {
    let order = taobao::parse_order(&taobao_trade("1.00")).unwrap();
    // 2026-11-11 00:00:01 +08:00 = 2026-11-10T16:00:01Z.
    assert_eq!(order.times.created.0, 1_794_326_401_000);
}
