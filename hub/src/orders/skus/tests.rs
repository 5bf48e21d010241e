//! Line mapping and mapping keys, case by case. A case's state is the tenant's mappings (as
//! added, each kept under [`mapping_key`]) and the codes it stocks; its input an order's lines;
//! its decision each line's SKU, the hold reason (`decide::hold_reason`) and the lookups asked,
//! in order (a line mapped early asks no more).

use super::*;
use crate::orders::cases::{check, line, or_dash, order, with};
use crate::orders::decide::hold_reason;
use std::collections::BTreeMap;
use xt_shared::model::UtcMillis;
use xt_shared::order::OrderLine;

/// A mapping as added: platform, platform SKU id, merchant code, internal SKU.
type Added = (
    Platform,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
);

fn mapping((platform, id, code, sku): Added) -> SkuMapping {
    SkuMapping {
        id: format!("map-{sku}"),
        platform,
        platform_sku_id: id.map(str::to_owned),
        merchant_sku: code.map(str::to_owned),
        sku: sku.to_owned(),
        created_at: UtcMillis(0),
    }
}

struct LineCase {
    name: &'static str,
    mappings: &'static [Added],
    stocked: &'static [&'static str],
    platform: Platform,
    lines: Vec<OrderLine>,
    expect: &'static str,
}

fn render_source(source: SkuSource<'_>) -> String {
    match source {
        SkuSource::Mapping(k) => format!("{} {} {}", k.scope, k.kind.as_str(), k.value),
        SkuSource::Stocked(code) => format!("stocked {code}"),
    }
}

#[test]
fn lines() {
    use Platform::*;
    let cup = || vec![line("1001-1", Some("9001"), Some("CUP-1"))];
    let cases = vec![
        LineCase {
            name: "mapped by platform SKU id; the merchant code is not looked up",
            mappings: &[(Taobao, Some("9001"), None, "SKU-A")],
            stocked: &["CUP-1"],
            platform: Taobao,
            lines: cup(),
            expect: "SKU-A; held -; asked taobao id 9001",
        },
        LineCase {
            name: "mapped by merchant code when the id has no mapping",
            mappings: &[(Taobao, None, Some("CUP-1"), "SKU-B")],
            stocked: &["CUP-1"],
            platform: Taobao,
            lines: cup(),
            expect: "SKU-B; held -; asked taobao id 9001, taobao code CUP-1",
        },
        LineCase {
            name: "a merchant code the tenant stocks maps to itself",
            mappings: &[],
            stocked: &["CUP-1"],
            platform: Taobao,
            lines: cup(),
            expect: "CUP-1; held -; asked taobao id 9001, taobao code CUP-1, stocked CUP-1",
        },
        LineCase {
            name: "an id mapping wins over a code mapping",
            mappings: &[
                (Taobao, None, Some("CUP-1"), "SKU-B"),
                (Taobao, Some("9001"), None, "SKU-A"),
            ],
            stocked: &[],
            platform: Taobao,
            lines: cup(),
            expect: "SKU-A; held -; asked taobao id 9001",
        },
        LineCase {
            name: "a code mapping wins over the stocked code",
            mappings: &[(Taobao, None, Some("CUP-1"), "SKU-B")],
            stocked: &["CUP-1"],
            platform: Taobao,
            lines: cup(),
            expect: "SKU-B; held -; asked taobao id 9001, taobao code CUP-1",
        },
        LineCase {
            name: "an unmapped line holds the order, named with its id and code",
            mappings: &[],
            stocked: &[],
            platform: Taobao,
            lines: cup(),
            expect: "-; held unmapped SKU: line 1001-1 (platform SKU 9001, merchant code CUP-1); \
                     asked taobao id 9001, taobao code CUP-1, stocked CUP-1",
        },
        LineCase {
            name: "a line with neither id nor code asks nothing and is held with dashes",
            mappings: &[(Taobao, Some("9001"), None, "SKU-A")],
            stocked: &["CUP-1"],
            platform: Taobao,
            lines: vec![line("1001-1", None, None)],
            expect: "-; held unmapped SKU: line 1001-1 (platform SKU —, merchant code —); \
                     asked",
        },
        LineCase {
            name: "a Tmall order uses a mapping added for Taobao: one catalogue",
            mappings: &[(Taobao, Some("9001"), None, "SKU-A")],
            stocked: &[],
            platform: Tmall,
            lines: cup(),
            expect: "SKU-A; held -; asked taobao id 9001",
        },
        LineCase {
            name: "a Taobao order uses a mapping added for Tmall",
            mappings: &[(Tmall, None, Some("CUP-1"), "SKU-B")],
            stocked: &[],
            platform: Taobao,
            lines: cup(),
            expect: "SKU-B; held -; asked taobao id 9001, taobao code CUP-1",
        },
        LineCase {
            name: "another platform's mapping does not map the line",
            mappings: &[(Jd, Some("9001"), Some("CUP-1"), "SKU-J")],
            stocked: &[],
            platform: Taobao,
            lines: cup(),
            expect: "-; held unmapped SKU: line 1001-1 (platform SKU 9001, merchant code CUP-1); \
                     asked taobao id 9001, taobao code CUP-1, stocked CUP-1",
        },
        LineCase {
            name: "of two lines only the unmapped one is named",
            mappings: &[(Jd, Some("7001"), None, "SKU-J")],
            stocked: &[],
            platform: Jd,
            lines: vec![
                line("7001", Some("7001"), None),
                line("7002", Some("7002"), Some("PLATE-1")),
            ],
            expect: "SKU-J,-; held unmapped SKU: line 7002 (platform SKU 7002, merchant code \
                     PLATE-1); asked jd id 7001, jd id 7002, jd code PLATE-1, stocked PLATE-1",
        },
    ];
    check(cases.into_iter().map(|c| {
        let mut kept = BTreeMap::new();
        for added in c.mappings {
            let m = mapping(*added);
            let k = mapping_key(&m).unwrap();
            kept.insert((k.scope, k.kind, k.value.to_owned()), m.sku);
        }
        let o = with(order("1001", 10), |o| {
            o.platform = c.platform;
            o.lines = c.lines;
        });
        let mut asked = Vec::new();
        let skus = line_skus(&o, |source| {
            asked.push(render_source(source));
            Ok::<_, std::convert::Infallible>(match source {
                SkuSource::Mapping(k) => kept.get(&(k.scope, k.kind, k.value.to_owned())).cloned(),
                SkuSource::Stocked(code) => c.stocked.contains(&code).then(|| code.to_owned()),
            })
        })
        .unwrap();
        let reason = hold_reason(&o, &skus);
        let skus: Vec<&str> = skus.iter().map(|s| or_dash(s.as_deref())).collect();
        let actual = format!(
            "{}; held {}; asked {}",
            skus.join(","),
            or_dash(reason.as_deref()),
            asked.join(", ")
        );
        (c.name, actual.trim_end().to_owned(), c.expect)
    }));
}

#[test]
fn mapping_keys() {
    use Platform::*;
    /// (name, the mapping added, the keys taken already, the key or why it is refused).
    type Case = (&'static str, Added, &'static [Key], &'static str);
    type Key = (&'static str, MappingKind, &'static str);
    let cases: Vec<Case> = vec![
        (
            "a mapping with a platform SKU id is kept under the id, even with a code",
            (Taobao, Some("9001"), Some("CUP-1"), "SKU-A"),
            &[("taobao", MappingKind::Code, "CUP-1")],
            "taobao id 9001",
        ),
        (
            "a mapping with only a merchant code is kept under the code",
            (Jd, None, Some("CUP-1"), "SKU-A"),
            &[],
            "jd code CUP-1",
        ),
        (
            "a Tmall mapping is kept in Taobao's scope",
            (Tmall, Some("9001"), None, "SKU-A"),
            &[],
            "taobao id 9001",
        ),
        (
            "a mapping with neither is refused",
            (Taobao, None, None, "SKU-A"),
            &[],
            "refused: a mapping needs a platform SKU id or a merchant code",
        ),
        (
            "a platform SKU id mapped already is refused, saying which",
            (Tmall, Some("9001"), None, "SKU-B"),
            &[("taobao", MappingKind::Id, "9001")],
            "refused: taobao platform SKU id \"9001\" is already mapped",
        ),
        (
            "a merchant code mapped already is refused, saying which",
            (Jd, None, Some("CUP-1"), "SKU-B"),
            &[("jd", MappingKind::Code, "CUP-1")],
            "refused: jd merchant code \"CUP-1\" is already mapped",
        ),
    ];
    check(cases.into_iter().map(|(name, added, taken, expect)| {
        let m = mapping(added);
        let actual = mapping_key(&m).and_then(|k| {
            let is_taken = taken.contains(&(k.scope, k.kind, k.value));
            admit(k, is_taken).map(|()| k)
        });
        let actual = match actual {
            Ok(k) => format!("{} {} {}", k.scope, k.kind.as_str(), k.value),
            Err(refused) => format!("refused: {refused}"),
        };
        (name, actual, expect)
    }));
}
