//! Why a warehouse ships a part, and why the others do not: the structured explanation routing
//! and hand splits write, kept with the order and rendered for people in Chinese or English
//! ("WH-SH：覆盖 上海，有全部 3 行库存，优先级 1" / "WH-SH: covers 上海, holds all 3 lines,
//! priority 1").
//!
//! *Invariant:* the text is a function of the structure alone; every field a person needs to
//! check a choice (region, lines, priority, each alternative's reason) is in the structure.

use serde::{Deserialize, Serialize};

/// The language of a rendered explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    Zh,
    En,
}

/// Why one warehouse ships one part of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Explanation {
    pub warehouse: String,
    /// How its coverage matched the receiver.
    pub matched: Matched,
    /// The SKUs of this part designated to this warehouse (in the order's line order).
    pub designated: Vec<String>,
    /// A person assigned the part ([`super::split_by_hand`]); stock and coverage were not asked.
    pub by_hand: bool,
    /// How many of the order's lines this part ships.
    pub lines_held: u32,
    /// How many lines the order has (one per SKU).
    pub lines_total: u32,
    /// The SKUs of this part whose quantity is shared with other parts (no one warehouse had it
    /// all).
    pub split_skus: Vec<String>,
    pub priority: u32,
    /// Per parcel, minor units.
    pub cost_minor: i64,
    /// The warehouses that ship nothing of the order, each with why (in preference order:
    /// priority, cost, code).
    pub rejected: Vec<Rejected>,
}

/// How a warehouse's coverage matched the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Matched {
    /// Its coverage is empty: it ships everywhere.
    Everywhere,
    /// By this province of its coverage (as configured).
    Province(String),
    /// By this city of its coverage (as configured); preferred over a province match.
    City(String),
    /// Coverage was not asked: designated SKUs only, or assigned by hand.
    NotAsked,
}

/// A warehouse that ships nothing of the order, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rejected {
    pub warehouse: String,
    pub reason: Rejection,
}

/// Why a warehouse was not chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    Disabled,
    /// Its coverage does not include the receiver's city or province.
    NotCovering,
    /// It lacks these lines' quantities (asked for whole, in line order).
    Short {
        missing: Vec<Missing>,
    },
    /// It holds every line but another came first by priority, then cost, then code; its own
    /// priority and cost.
    LostTie {
        priority: u32,
        cost_minor: i64,
    },
    /// It holds every line, but a warehouse already shipping designated SKUs holds them too:
    /// choosing it would send one parcel more.
    ExtraParcel,
}

/// How much of a SKU a warehouse (or all of them) lacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Missing {
    pub sku: String,
    pub missing: i64,
}

impl Explanation {
    /// The explanation as a person reads it.
    pub fn text(&self, lang: Lang) -> String {
        let (sep, list) = match lang {
            Lang::Zh => ("，", "、"),
            Lang::En => (", ", ", "),
        };
        let mut clauses = Vec::new();
        if self.by_hand {
            clauses.push(pick(lang, "人工拆分", "split by hand").to_owned());
        }
        match &self.matched {
            Matched::Everywhere => clauses.push(pick(lang, "覆盖全国", "covers everywhere").into()),
            Matched::Province(r) | Matched::City(r) => {
                clauses.push(format!("{} {r}", pick(lang, "覆盖", "covers")));
            }
            Matched::NotAsked => {}
        }
        if !self.designated.is_empty() {
            let skus = self.designated.join(list);
            clauses.push(match lang {
                Lang::Zh => format!("指定 {skus}"),
                Lang::En => format!("designated for {skus}"),
            });
        }
        clauses.push(self.lines_text(lang));
        if !self.split_skus.is_empty() {
            let skus = self.split_skus.join(list);
            clauses.push(match lang {
                Lang::Zh => format!("{skus} 分仓发"),
                Lang::En => format!("{skus} split across warehouses"),
            });
        }
        clauses.push(format!(
            "{} {}",
            pick(lang, "优先级", "priority"),
            self.priority
        ));
        let head = match lang {
            Lang::Zh => format!("{}：", self.warehouse),
            Lang::En => format!("{}: ", self.warehouse),
        };
        let mut out = head + &clauses.join(sep);
        out.push_str(&rejected_text(&self.rejected, lang));
        out
    }

    fn lines_text(&self, lang: Lang) -> String {
        let (k, n) = (self.lines_held, self.lines_total);
        match (lang, self.by_hand) {
            (Lang::Zh, false) if k == n => format!("有全部 {n} 行库存"),
            (Lang::Zh, false) => format!("有 {k}/{n} 行库存"),
            (Lang::Zh, true) => format!("发 {k}/{n} 行"),
            (Lang::En, hand) => {
                let verb = if hand { "ships" } else { "holds" };
                match (k == n, n) {
                    (true, 1) => format!("{verb} its one line"),
                    (true, _) => format!("{verb} all {n} lines"),
                    (false, _) => format!("{verb} {k} of {n} lines"),
                }
            }
        }
    }
}

/// "；未选 WH-B（不覆盖）、…" / "; not chosen: WH-B (does not cover), …"; empty for none.
pub(super) fn rejected_text(rejected: &[Rejected], lang: Lang) -> String {
    if rejected.is_empty() {
        return String::new();
    }
    let items: Vec<String> = rejected
        .iter()
        .map(|r| match lang {
            Lang::Zh => format!("{}（{}）", r.warehouse, r.reason.text(lang)),
            Lang::En => format!("{} ({})", r.warehouse, r.reason.text(lang)),
        })
        .collect();
    match lang {
        Lang::Zh => format!("；未选 {}", items.join("、")),
        Lang::En => format!("; not chosen: {}", items.join(", ")),
    }
}

impl Rejection {
    /// The reason as a person reads it.
    pub fn text(&self, lang: Lang) -> String {
        match self {
            Rejection::Disabled => pick(lang, "已停用", "disabled").into(),
            Rejection::NotCovering => pick(lang, "不覆盖", "does not cover").into(),
            Rejection::Short { missing } => missing_text(missing, lang),
            Rejection::LostTie {
                priority,
                cost_minor,
            } => match lang {
                Lang::Zh => format!("优先级 {priority}，成本 {}", money(*cost_minor)),
                Lang::En => format!("priority {priority}, cost {}", money(*cost_minor)),
            },
            Rejection::ExtraParcel => pick(lang, "多一个包裹", "one parcel more").into(),
        }
    }
}

/// "缺 SKU-A 2 件、SKU-B 1 件" / "short SKU-A by 2, SKU-B by 1".
pub(super) fn missing_text(missing: &[Missing], lang: Lang) -> String {
    let items: Vec<String> = missing
        .iter()
        .map(|m| match lang {
            Lang::Zh => format!("{} {} 件", m.sku, m.missing),
            Lang::En => format!("{} by {}", m.sku, m.missing),
        })
        .collect();
    match lang {
        Lang::Zh => format!("缺 {}", items.join("、")),
        Lang::En => format!("short {}", items.join(", ")),
    }
}

pub(super) fn pick(lang: Lang, zh: &'static str, en: &'static str) -> &'static str {
    match lang {
        Lang::Zh => zh,
        Lang::En => en,
    }
}

/// Minor units as a decimal with two places (the warehouses' costs are in the tenant's currency,
/// yuan for the platforms served).
pub(super) fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let m = minor.unsigned_abs();
    format!("{sign}{}.{:02}", m / 100, m % 100)
}
