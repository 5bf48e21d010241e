//! The decisions of applying captured items, case by case: each case is the stored state, the
//! input and `now`, and the decision it must give, written as the text [`render`] makes of it
//! (provenance grouped by who set it: `origin v<version> @<at>: fields`). Through the store, the
//! same paths are tested in `store/orders_tests.rs`.

use super::*;
use crate::orders::cases::{check, line, or_dash, order, with, yuan};
use xt_shared::ids::DocNo;
use xt_shared::order::{OrderState, Platform, RefundState, StandardRefund};

const SHOP: &str = "shop-a";
const ORIGIN: &str = "shop/shop-a";

fn by(now: i64) -> Applying<'static> {
    Applying {
        shop: SHOP,
        origin: ORIGIN,
        now: UtcMillis(now),
    }
}

fn render_provenance(provenance: &[Provenance]) -> String {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for p in provenance {
        let who = format!("{} v{} @{}", p.origin, p.version, p.at.0);
        match groups.iter_mut().find(|(w, _)| *w == who) {
            Some((_, fields)) => fields.push(&p.field),
            None => groups.push((who, vec![&p.field])),
        }
    }
    groups
        .iter()
        .map(|(who, fields)| format!("{who}: {}", fields.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn render(verdict: Verdict<OrderWrite>) -> String {
    let w = match verdict {
        Verdict::Stale => return "stale".into(),
        Verdict::Duplicate => return "duplicate".into(),
        Verdict::Apply(w) => w,
    };
    let r = &w.record;
    let replaces = match &w.replaces {
        None => "new".to_owned(),
        Some(old) => format!(
            "replaces v{}{}{}",
            old.version,
            if old.held { " held" } else { "" },
            old.unlinked_member
                .as_ref()
                .map_or(String::new(), |m| format!(" unlinking {m}"))
        ),
    };
    let skus: Vec<&str> = r
        .internal_skus
        .iter()
        .map(|s| or_dash(s.as_deref()))
        .collect();
    format!(
        "apply {replaces}; seen {}..{}; member {}; skus {}; held {}; {}",
        r.first_seen.0,
        r.updated_at.0,
        or_dash(r.member.as_deref()),
        skus.join(","),
        or_dash(r.held.as_deref()),
        render_provenance(&r.provenance)
    )
}

/// A record as an earlier apply of `order` by this shop at `at` left it.
fn stored(order: StandardOrder, at: i64) -> CapturedOrder {
    apply_order(
        None,
        order,
        vec![Some("SKU-CUP".into())],
        Some("mem-1".into()),
        &by(at),
    )
    .record
}

struct OrderCase {
    name: &'static str,
    stored: Option<CapturedOrder>,
    input: StandardOrder,
    /// What the lookups found: each line's SKU, the buyer's member.
    skus: Vec<Option<&'static str>>,
    member: Option<&'static str>,
    now: i64,
    expect: &'static str,
}

fn order_cases() -> Vec<OrderCase> {
    let mapped = || vec![Some("SKU-CUP")];
    vec![
        OrderCase {
            name: "a new order applies, every group set by this shop at its modified",
            stored: None,
            input: order("1001", 10),
            skus: mapped(),
            member: Some("mem-1"),
            now: 100,
            expect: "apply new; seen 100..100; member mem-1; skus SKU-CUP; held -; \
                     shop/shop-a v10 @100: status buyer receiver amounts times memos flags \
                     lines[0]",
        },
        OrderCase {
            name: "the same modified and the same content is a duplicate",
            stored: Some(stored(order("1001", 10), 100)),
            input: order("1001", 10),
            skus: mapped(),
            member: Some("mem-1"),
            now: 200,
            expect: "duplicate",
        },
        OrderCase {
            name: "an older modified is stale, whatever it says",
            stored: Some(stored(order("1001", 20), 100)),
            input: with(order("1001", 10), |o| o.status = OrderState::Cancelled),
            skus: mapped(),
            member: Some("mem-1"),
            now: 200,
            expect: "stale",
        },
        OrderCase {
            name: "a newer modified sets the groups that changed; the others keep who set them",
            stored: Some(stored(order("1001", 10), 100)),
            input: with(order("1001", 20), |o| {
                o.status = OrderState::Shipped;
                o.seller_memo = Some("加急".into());
            }),
            skus: mapped(),
            member: Some("mem-1"),
            now: 200,
            expect: "apply replaces v10; seen 100..200; member mem-1; skus SKU-CUP; held -; \
                     shop/shop-a v20 @200: status times memos; \
                     shop/shop-a v10 @100: buyer receiver amounts flags lines[0]",
        },
        OrderCase {
            name: "the same modified with other content applies; only that group is set again",
            stored: Some(stored(order("1001", 10), 100)),
            input: with(order("1001", 10), |o| o.flags.presale = true),
            skus: mapped(),
            member: Some("mem-1"),
            now: 200,
            expect: "apply replaces v10; seen 100..200; member mem-1; skus SKU-CUP; held -; \
                     shop/shop-a v10 @100: status buyer receiver amounts times memos lines[0]; \
                     shop/shop-a v10 @200: flags",
        },
        OrderCase {
            name: "an unchanged group keeps an older version and another origin",
            stored: Some({
                let mut r = stored(order("1001", 10), 100);
                r.provenance[5] = Provenance {
                    field: "memos".into(),
                    origin: "console/ann".into(),
                    version: 5,
                    at: UtcMillis(50),
                };
                r
            }),
            input: with(order("1001", 30), |o| o.status = OrderState::Shipped),
            skus: mapped(),
            member: Some("mem-1"),
            now: 300,
            expect: "apply replaces v10; seen 100..300; member mem-1; skus SKU-CUP; held -; \
                     shop/shop-a v30 @300: status times; \
                     shop/shop-a v10 @100: buyer receiver amounts flags lines[0]; \
                     console/ann v5 @50: memos",
        },
        OrderCase {
            name: "a line added is a group of its own, set by the new version",
            stored: Some(stored(order("1001", 10), 100)),
            input: with(order("1001", 20), |o| {
                o.lines.push(line("1001-2", Some("9002"), Some("CUP-2")))
            }),
            skus: vec![Some("SKU-CUP"), Some("SKU-CUP-2")],
            member: Some("mem-1"),
            now: 200,
            expect: "apply replaces v10; seen 100..200; member mem-1; skus SKU-CUP,SKU-CUP-2; \
                     held -; \
                     shop/shop-a v10 @100: status buyer receiver amounts memos flags lines[0]; \
                     shop/shop-a v20 @200: times lines[1]",
        },
        OrderCase {
            name: "a line without a SKU holds the order, naming the line",
            stored: None,
            input: order("1001", 10),
            skus: vec![None],
            member: None,
            now: 100,
            expect: "apply new; seen 100..100; member -; skus -; \
                     held unmapped SKU: line 1001-1 (platform SKU 9001, merchant code CUP-1); \
                     shop/shop-a v10 @100: status buyer receiver amounts times memos flags \
                     lines[0]",
        },
        OrderCase {
            name: "a held order whose lines map now leaves the held ones",
            stored: Some({
                let mut r = stored(order("1001", 10), 100);
                r.internal_skus = vec![None];
                r.held = Some(
                    "unmapped SKU: line 1001-1 (platform SKU 9001, merchant code CUP-1)".into(),
                );
                r
            }),
            input: with(order("1001", 20), |o| o.status = OrderState::Shipped),
            skus: mapped(),
            member: Some("mem-1"),
            now: 200,
            expect: "apply replaces v10 held; seen 100..200; member mem-1; skus SKU-CUP; held -; \
                     shop/shop-a v20 @200: status times; \
                     shop/shop-a v10 @100: buyer receiver amounts memos flags lines[0]",
        },
        OrderCase {
            name: "a buyer now linked to another member leaves the old member's orders",
            stored: Some(stored(order("1001", 10), 100)),
            input: with(order("1001", 20), |o| {
                o.buyer.email_sha256 = Some("e1".into())
            }),
            skus: mapped(),
            member: Some("mem-2"),
            now: 200,
            expect: "apply replaces v10 unlinking mem-1; seen 100..200; member mem-2; \
                     skus SKU-CUP; held -; \
                     shop/shop-a v10 @100: status receiver amounts memos flags lines[0]; \
                     shop/shop-a v20 @200: buyer times",
        },
    ]
}

#[test]
fn orders() {
    check(order_cases().into_iter().map(|c| {
        let decision = super::order(c.stored.as_ref(), &c.input).map(|()| {
            let skus = c.skus.iter().map(|s| s.map(str::to_owned)).collect();
            let member = c.member.map(str::to_owned);
            let write = apply_order(c.stored.clone(), c.input.clone(), skus, member, &by(c.now));
            assert_eq!(
                write.record.order, c.input,
                "{}: the order is kept as given",
                c.name
            );
            assert_eq!(write.record.shop, SHOP, "{}", c.name);
            write
        });
        (c.name, render(decision), c.expect)
    }));
}

#[test]
fn hold_reasons() {
    let two = |o: &mut StandardOrder| {
        o.lines.push(line("1001-2", None, Some("BOWL-1")));
        o.lines.push(line("1001-3", None, None));
    };
    let cases: Vec<(&str, StandardOrder, Vec<Option<&str>>, &str)> = vec![
        (
            "every line has a SKU: not held",
            order("1001", 10),
            vec![Some("SKU-CUP")],
            "-",
        ),
        (
            "an unmapped line is named with its platform SKU id and merchant code",
            order("1001", 10),
            vec![None],
            "unmapped SKU: line 1001-1 (platform SKU 9001, merchant code CUP-1)",
        ),
        (
            "only the unmapped lines are named, in line order, a dash for what a line lacks",
            with(order("1001", 10), two),
            vec![None, Some("SKU-BOWL"), None],
            "unmapped SKU: line 1001-1 (platform SKU 9001, merchant code CUP-1); \
             line 1001-3 (platform SKU —, merchant code —)",
        ),
    ];
    check(cases.into_iter().map(|(name, o, skus, expect)| {
        let skus: Vec<Option<String>> = skus.iter().map(|s| s.map(str::to_owned)).collect();
        let reason = hold_reason(&o, &skus);
        (name, or_dash(reason.as_deref()).to_owned(), expect)
    }));
}

#[test]
fn remapping_held_orders() {
    let held = || {
        let o = with(order("1001", 10), |o| {
            o.lines.push(line("1001-2", Some("9002"), None))
        });
        let mut r = apply_order(None, o, vec![None, None], None, &by(100)).record;
        r.updated_at = UtcMillis(150);
        r
    };
    let cases: Vec<(&str, CapturedOrder, Vec<Option<&str>>, &str)> = vec![
        (
            "every line maps now: released",
            held(),
            vec![Some("SKU-CUP"), Some("SKU-PLATE")],
            "released; skus SKU-CUP,SKU-PLATE; held -; updated 150",
        ),
        (
            "a line still unmapped: held for that line only",
            held(),
            vec![Some("SKU-CUP"), None],
            "held; skus SKU-CUP,-; \
             held unmapped SKU: line 1001-2 (platform SKU 9002, merchant code —); updated 150",
        ),
    ];
    check(cases.into_iter().map(|(name, record, skus, expect)| {
        let skus = skus.iter().map(|s| s.map(str::to_owned)).collect();
        let Remapped { record, released } = remap(record, skus);
        let skus: Vec<&str> = record
            .internal_skus
            .iter()
            .map(|s| or_dash(s.as_deref()))
            .collect();
        let actual = format!(
            "{}; skus {}; held {}; updated {}",
            if released { "released" } else { "held" },
            skus.join(","),
            or_dash(record.held.as_deref()),
            record.updated_at.0
        );
        (name, actual, expect)
    }));
}

fn refund(order_no: &str, modified: i64, state: RefundState) -> StandardRefund {
    StandardRefund {
        platform: Platform::Taobao,
        refund_id: DocNo::new("r-1").unwrap(),
        platform_order_no: DocNo::new(order_no).unwrap(),
        line_id: None,
        state,
        platform_status: "x".into(),
        amount: yuan(500),
        reason: None,
        created: UtcMillis(1),
        modified: UtcMillis(modified),
    }
}

fn stored_refund(refund: StandardRefund, at: i64) -> Option<CapturedRefund> {
    Some(CapturedRefund {
        refund,
        origin: ORIGIN.into(),
        updated_at: UtcMillis(at),
    })
}

#[test]
fn refunds() {
    let cases: Vec<(&str, Option<CapturedRefund>, StandardRefund, i64, &str)> = vec![
        (
            "a new refund applies, before its order or after",
            None,
            refund("1001", 10, RefundState::Requested),
            100,
            "apply new; Requested v10 of 1001 by shop/shop-a @100",
        ),
        (
            "the same refund again is a duplicate",
            stored_refund(refund("1001", 10, RefundState::Requested), 100),
            refund("1001", 10, RefundState::Requested),
            200,
            "duplicate",
        ),
        (
            "an older modified is stale, whatever it says",
            stored_refund(refund("1001", 20, RefundState::Refunded), 100),
            refund("1001", 10, RefundState::Requested),
            200,
            "stale",
        ),
        (
            "a newer modified applies and re-indexes from the stored order no",
            stored_refund(refund("1001", 10, RefundState::Requested), 100),
            refund("1001", 20, RefundState::Refunded),
            200,
            "apply replacing the one of 1001; Refunded v20 of 1001 by shop/shop-a @200",
        ),
        (
            "the same modified with other content applies",
            stored_refund(refund("1001", 10, RefundState::Requested), 100),
            refund("1002", 10, RefundState::Requested),
            200,
            "apply replacing the one of 1001; Requested v10 of 1002 by shop/shop-a @200",
        ),
    ];
    check(cases.into_iter().map(|(name, stored, input, now, expect)| {
        let actual = match super::refund(stored, input.clone(), &by(now)) {
            Verdict::Stale => "stale".to_owned(),
            Verdict::Duplicate => "duplicate".to_owned(),
            Verdict::Apply(w) => {
                assert_eq!(
                    w.record.refund, input,
                    "{name}: the refund is kept as given"
                );
                let r = &w.record;
                format!(
                    "apply {}; {:?} v{} of {} by {} @{}",
                    w.replaces_order_no
                        .map_or("new".to_owned(), |no| format!("replacing the one of {no}")),
                    r.refund.state,
                    r.refund.modified.0,
                    r.refund.platform_order_no,
                    r.origin,
                    r.updated_at.0
                )
            }
        };
        (name, actual, expect)
    }));
}

struct ErrorCase {
    name: &'static str,
    /// The raw payloads the shop has recorded errors for, and how many it recorded in all.
    recorded: (&'static [&'static str], u64),
    raw: String,
    order_no: Option<&'static str>,
    now: i64,
    expect: &'static str,
}

#[test]
fn capture_errors() {
    let bad = r#"{"tid":"1002","payment":"1.005"}"#;
    let cases = vec![
        ErrorCase {
            name: "a new malformed payload is the shop's next capture error",
            recorded: (&[], 0),
            raw: bad.into(),
            order_no: Some("1002"),
            now: 100,
            expect: "apply no 0; drops -; order 1002 @100; raw 32 bytes",
        },
        ErrorCase {
            name: "the same payload seen twice is recorded once",
            recorded: (&[r#"{"tid":"1002","payment":"1.005"}"#], 1),
            raw: bad.into(),
            order_no: Some("1002"),
            now: 200,
            expect: "duplicate",
        },
        ErrorCase {
            name: "another payload of the same order no is another error",
            recorded: (&[r#"{"tid":"1002","payment":"1.005"}"#], 1),
            raw: r#"{"tid":"1002","payment":"x"}"#.into(),
            order_no: Some("1002"),
            now: 200,
            expect: "apply no 1; drops -; order 1002 @200; raw 28 bytes",
        },
        ErrorCase {
            name: "past the errors kept, the oldest kept one is dropped",
            recorded: (&[], 1_500),
            raw: "{".into(),
            order_no: None,
            now: 300,
            expect: "apply no 1500; drops 500; order - @300; raw 1 bytes",
        },
        ErrorCase {
            name: "a payload over the size kept is clipped at a char boundary",
            recorded: (&[], 0),
            raw: format!("{}杯", "x".repeat(RAW_KEPT_MAX - 1)),
            order_no: None,
            now: 400,
            expect: "apply no 0; drops -; order - @400; \
                     raw 65535 bytes + …(truncated, 65538 bytes)",
        },
    ];
    check(cases.into_iter().map(|c| {
        let (raws, count) = c.recorded;
        let digest = payload_digest(&c.raw);
        let seen = raws.iter().any(|r| payload_digest(r) == digest);
        let reason = "amount has more than 2 decimal places".to_owned();
        let verdict = capture_error(
            seen,
            count,
            c.raw.clone(),
            c.order_no.map(str::to_owned),
            reason.clone(),
            UtcMillis(c.now),
        );
        let actual = match verdict {
            Verdict::Stale => "stale".to_owned(),
            Verdict::Duplicate => "duplicate".to_owned(),
            Verdict::Apply(w) => {
                assert_eq!(w.record.reason, reason, "{}", c.name);
                let raw = &w.record.raw;
                let raw = if *raw == c.raw {
                    format!("{} bytes", raw.len())
                } else {
                    let cut = raw.find('…').expect("a clipped payload says so");
                    assert_eq!(raw[..cut], c.raw[..cut], "{}", c.name);
                    format!("{cut} bytes + {}", &raw[cut..])
                };
                format!(
                    "apply no {}; drops {}; order {} @{}; raw {raw}",
                    w.no,
                    w.drops.map_or("-".to_owned(), |n| n.to_string()),
                    or_dash(w.record.order_no.as_deref()),
                    w.record.at.0
                )
            }
        };
        (c.name, actual, c.expect)
    }));
}

#[test]
fn clipping() {
    let cases = [
        ("a payload within the limit is kept whole", "abc", 3, "abc"),
        (
            "a longer payload is cut at the limit, with its full length",
            "abcdef",
            4,
            "abcd…(truncated, 6 bytes)",
        ),
        (
            "a cut inside a character backs off to its start",
            "杯子杯",
            4,
            "杯…(truncated, 9 bytes)",
        ),
        (
            "a cut on a character boundary keeps the character before it",
            "杯子杯",
            6,
            "杯子…(truncated, 9 bytes)",
        ),
    ];
    check(
        cases
            .into_iter()
            .map(|(name, raw, max, expect)| (name, clip(raw.to_owned(), max), expect)),
    );
}
