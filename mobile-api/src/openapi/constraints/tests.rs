//! The constraints agree with the validators and bound every input; the links resolve.

use super::*;
use xt_shared::ids::{Sku, TenantId};

/// The patterns are ECMA-262 regular expressions; `regex-automata` reads the constructs
/// used here (classes, `\s`, `\uXXXX`, groups) the same way.
fn matches(pattern: &str, value: &str) -> bool {
    regex_automata::meta::Regex::new(pattern)
        .unwrap()
        .is_match(value)
}

const SAMPLES: &[&str] = &[
    "acme",
    "WH-SH.1_a",
    "仓库一",
    " lead",
    "trail ",
    "in side",
    "tab\there",
    "nl\n",
    "\u{85}next",
    "a",
    "a@b.c",
    "-",
    "x:y",
    "",
];

#[test]
fn order_states_are_every_state_the_api_takes() {
    use xt_shared::order::OrderState as S;
    // Exhaustive: a new state fails to compile here until the list has it.
    let name = |s: S| match s {
        S::PendingPayment
        | S::PaymentProcessing
        | S::PaymentFailed
        | S::Paid
        | S::OnHold
        | S::PartiallyShipped
        | S::Shipped
        | S::Delivered
        | S::Completed
        | S::Cancelled
        | S::Refunded
        | S::Deleted => serde_json::to_value(s).unwrap(),
    };
    for value in ORDER_STATES {
        let state: S = serde_json::from_value(json!(value)).unwrap();
        assert_eq!(name(state), json!(value));
    }
    assert_eq!(ORDER_STATES.len(), 12);
}

#[test]
fn slug_pattern_agrees_with_slug_ids() {
    for s in SAMPLES.iter().filter(|s| s.len() <= ID_BYTES_MAX) {
        assert_eq!(matches(SLUG_PATTERN, s), TenantId::new(*s).is_ok(), "{s:?}");
    }
}

#[test]
fn code_pattern_agrees_with_codes() {
    for s in SAMPLES.iter().filter(|s| s.len() <= ID_BYTES_MAX) {
        assert_eq!(matches(CODE_PATTERN, s), Sku::new(*s).is_ok(), "{s:?}");
    }
}

#[test]
fn username_pattern_agrees_with_check_username() {
    for s in SAMPLES {
        assert_eq!(
            matches(USERNAME_PATTERN, s),
            crate::identity::check_username(s).is_ok(),
            "{s:?}"
        );
    }
}

#[test]
fn text_pattern_refuses_exactly_control_characters() {
    for s in SAMPLES {
        let valid = !s.is_empty() && !s.chars().any(char::is_control);
        assert_eq!(matches(TEXT_PATTERN, s), valid, "{s:?}");
    }
}

#[test]
fn every_rule_and_link_finds_its_place_in_the_document() {
    // `openapi()` has applied them already; applying again must find everything.
    let mut doc = crate::openapi::openapi();
    assert_eq!(apply(&mut doc), Vec::<String>::new());
}

/// Follows `$ref`s within the document.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap_or(schema),
        None => schema,
    }
}

fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Every value `schema` accepts is bounded: strings by length or a set of values, numbers
/// by a range, lists by a size; objects by their properties'.
fn check_bounded(doc: &Value, schema: &Value, at: &str, problems: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            for b in branches {
                check_bounded(doc, b, at, problems);
            }
        }
    }
    if schema.get("enum").is_some() {
        return;
    }
    for t in types(schema) {
        match t {
            "string" if schema.get("maxLength").is_none() => {
                problems.push(format!("{at}: string without maxLength"))
            }
            "integer" | "number"
                if schema.get("minimum").is_none() || schema.get("maximum").is_none() =>
            {
                problems.push(format!("{at}: number without minimum and maximum"))
            }
            "array" => {
                if schema.get("maxItems").is_none() {
                    problems.push(format!("{at}: list without maxItems"));
                }
                if let Some(items) = schema.get("items") {
                    check_bounded(doc, items, &format!("{at}[]"), problems);
                }
            }
            "object" => {
                for (name, p) in schema
                    .get("properties")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    check_bounded(doc, p, &format!("{at}.{name}"), problems);
                }
            }
            _ => {}
        }
    }
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((path.clone(), method.clone(), op));
        }
    }
    out
}

#[test]
fn every_request_field_and_parameter_is_bounded() {
    let doc = crate::openapi::openapi();
    let mut problems = Vec::new();
    for (path, method, op) in operations(&doc) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let at = format!("{method} {path} parameter {}", p["name"]);
            check_bounded(&doc, &p["schema"], &at, &mut problems);
        }
        if let Some(content) = op
            .pointer("/requestBody/content")
            .and_then(Value::as_object)
        {
            for (kind, media) in content {
                let at = format!("{method} {path} body ({kind})");
                check_bounded(&doc, &media["schema"], &at, &mut problems);
            }
        }
    }
    assert!(
        problems.is_empty(),
        "unbounded input:\n{}",
        problems.join("\n")
    );
}

#[test]
fn creating_operations_link_to_what_reads_what_they_made() {
    let doc = crate::openapi::openapi();
    let ops = operations(&doc);
    let by_id = |id: &str| {
        ops.iter()
            .find(|(_, _, op)| op["operationId"] == json!(id))
            .map(|(_, _, op)| *op)
    };
    let mut creating = 0;
    for (path, method, op) in &ops {
        let Some(created) = op.pointer("/responses/201") else {
            continue;
        };
        creating += 1;
        let links = created["links"].as_object();
        assert!(
            links.is_some_and(|l| !l.is_empty()),
            "{method} {path} creates something but links to nothing"
        );
    }
    assert!(creating >= 4, "only {creating} creating operations found");
    for (path, method, op) in &ops {
        for (status, response) in op["responses"].as_object().unwrap() {
            for (name, link) in response["links"].as_object().into_iter().flatten() {
                let to = link["operationId"].as_str().unwrap();
                let target = by_id(to).unwrap_or_else(|| {
                    panic!("{method} {path} {status} link {name}: no operation {to}")
                });
                for param in link["parameters"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|p| p.0)
                {
                    let known = target["parameters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["name"] == json!(param));
                    assert!(known, "link {name} to {to} names unknown parameter {param}");
                }
            }
        }
    }
}
