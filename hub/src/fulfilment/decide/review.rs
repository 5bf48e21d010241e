//! Review: whether a paid order goes on to dispatch or waits for a person, by the tenant's
//! [`ReviewRules`] (configuration, not code).
//!
//! *Invariant:* a hold always says every rule that held it, each reason structured, in the
//! order of [`HoldReason`]'s variants; an order no rule holds is approved.

use super::explain::{Lang, money, pick};
use super::normal;
use super::{OrderView, ReceiverView};
use serde::{Deserialize, Serialize};

/// A tenant's review rules. The default is what a merchant expects out of the box: hold what
/// cannot ship as it is (unmapped SKU, incomplete address) or should not ship (a blacklisted
/// receiver; the list starts empty), hold orders with a buyer or seller memo (they usually ask
/// for something the warehouse must know), and a third order to one receiver within 24 hours
/// (brushing or a mistake); no amount threshold and no COD hold, which depend on the business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReviewRules {
    /// Hold an order whose buyer wrote a memo.
    pub hold_buyer_memo: bool,
    /// Hold an order the seller annotated.
    pub hold_seller_memo: bool,
    /// Hold an order that paid more than this (minor units); `None` = no threshold.
    pub amount_over_minor: Option<i64>,
    /// Hold an order missing one of [`Self::address_required`].
    pub hold_incomplete_address: bool,
    /// The receiver's parts an address needs (the district is not among the defaults: some
    /// cities have none).
    pub address_required: Vec<AddressField>,
    /// Hold cash-on-delivery orders.
    pub hold_cod: bool,
    /// Hold an order with a line whose SKU is not mapped.
    pub hold_unmapped_sku: bool,
    /// Hold the `count`-th order to one receiver within a window; `None` = off.
    pub repeat_receiver: Option<RepeatReceiver>,
    /// Receivers never shipped to without a person's look.
    pub blacklist: Vec<BlacklistEntry>,
}

impl Default for ReviewRules {
    fn default() -> Self {
        ReviewRules {
            hold_buyer_memo: true,
            hold_seller_memo: true,
            amount_over_minor: None,
            hold_incomplete_address: true,
            address_required: vec![
                AddressField::Name,
                AddressField::Phone,
                AddressField::Province,
                AddressField::City,
                AddressField::Address,
            ],
            hold_cod: false,
            hold_unmapped_sku: true,
            repeat_receiver: Some(RepeatReceiver {
                count: 3,
                window_ms: 24 * 60 * 60 * 1000,
            }),
            blacklist: Vec::new(),
        }
    }
}

/// Several orders to one receiver ([`receiver_key`]) within a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatReceiver {
    /// How many orders, this one included, make a hold (at least 2).
    pub count: u32,
    pub window_ms: i64,
}

impl RepeatReceiver {
    /// Whether another order to the same receiver, paid at `other_paid_at`, counts for an order
    /// paid at `paid_at`: paid before it (or at the same time), less than the window earlier.
    pub fn in_window(&self, paid_at: i64, other_paid_at: i64) -> bool {
        other_paid_at <= paid_at && paid_at.saturating_sub(other_paid_at) < self.window_ms
    }
}

/// A part of a receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressField {
    Name,
    Phone,
    Province,
    City,
    District,
    Address,
}

impl AddressField {
    fn of(self, r: &ReceiverView) -> &Option<String> {
        match self {
            AddressField::Name => &r.name,
            AddressField::Phone => &r.phone,
            AddressField::Province => &r.province,
            AddressField::City => &r.city,
            AddressField::District => &r.district,
            AddressField::Address => &r.address,
        }
    }
}

/// One blacklisted receiver or buyer, compared after normalising both sides
/// ([`normal`]): a phone by its digits; a name with an address, the address being either the
/// detail line or the whole address (province, city, district, detail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum BlacklistEntry {
    /// The shop's buyer key ([`OrderView::buyer`]).
    Buyer(String),
    Phone(String),
    NameAndAddress {
        name: String,
        address: String,
    },
}

impl BlacklistEntry {
    fn field(&self) -> BlacklistField {
        match self {
            BlacklistEntry::Buyer(_) => BlacklistField::Buyer,
            BlacklistEntry::Phone(_) => BlacklistField::Phone,
            BlacklistEntry::NameAndAddress { .. } => BlacklistField::NameAndAddress,
        }
    }

    fn matches(&self, order: &OrderView) -> bool {
        let r = &order.receiver;
        match self {
            BlacklistEntry::Buyer(b) => {
                let b = normal::text(b);
                !b.is_empty() && b == normal::text(&order.buyer)
            }
            BlacklistEntry::Phone(p) => {
                let p = normal::phone(p);
                !p.is_empty() && r.phone.as_deref().is_some_and(|q| normal::phone(q) == p)
            }
            BlacklistEntry::NameAndAddress { name, address } => {
                let (name, address) = (normal::text(name), normal::compact(address));
                if name.is_empty() || address.is_empty() {
                    return false;
                }
                let detail = normal::compact(r.address.as_deref().unwrap_or(""));
                let whole: String = [&r.province, &r.city, &r.district, &r.address]
                    .iter()
                    .map(|p| normal::compact(p.as_deref().unwrap_or("")))
                    .collect();
                r.name.as_deref().is_some_and(|n| normal::text(n) == name)
                    && (address == detail || address == whole)
            }
        }
    }
}

/// Which kind of blacklist entry matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlacklistField {
    Buyer,
    Phone,
    NameAndAddress,
}

/// Review's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approve,
    /// Held for a person, with every reason (never empty).
    Hold(Vec<HoldReason>),
}

/// Why an order is held. The variants' order is the order reasons are listed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// A blacklist entry of this kind matched (one reason per kind, in [`BlacklistField`]'s
    /// order).
    Blacklisted {
        matched: BlacklistField,
    },
    /// These lines (line ids, in the order's order) have no SKU.
    UnmappedSku {
        lines: Vec<String>,
    },
    /// These required parts are missing or blank (in [`AddressField`]'s order).
    AddressIncomplete {
        missing: Vec<AddressField>,
    },
    /// This is the `count`-th order to the receiver within `window_ms`.
    RepeatReceiver {
        count: u32,
        window_ms: i64,
    },
    /// Paid `paid`, over `limit` (minor units).
    AmountOver {
        paid: i64,
        limit: i64,
    },
    Cod,
    BuyerMemo,
    SellerMemo,
}

impl HoldReason {
    /// The reason in words, as a timeline keeps it ("seller memo", "卖家备注").
    pub fn text(&self, lang: Lang) -> String {
        let join = |words: Vec<&str>| words.join(pick(lang, "、", ", "));
        match self {
            HoldReason::Blacklisted { matched } => {
                let what = match matched {
                    BlacklistField::Buyer => pick(lang, "买家", "buyer"),
                    BlacklistField::Phone => pick(lang, "电话", "phone"),
                    BlacklistField::NameAndAddress => pick(lang, "姓名和地址", "name and address"),
                };
                match lang {
                    Lang::Zh => format!("黑名单（{what}）"),
                    Lang::En => format!("blacklisted ({what})"),
                }
            }
            HoldReason::UnmappedSku { lines } => match lang {
                Lang::Zh => format!("未对应商品编码的行：{}", lines.join("、")),
                Lang::En => format!("lines without a SKU: {}", lines.join(", ")),
            },
            HoldReason::AddressIncomplete { missing } => {
                let missing = join(
                    missing
                        .iter()
                        .map(|m| match m {
                            AddressField::Name => pick(lang, "收货人", "name"),
                            AddressField::Phone => pick(lang, "电话", "phone"),
                            AddressField::Province => pick(lang, "省", "province"),
                            AddressField::City => pick(lang, "市", "city"),
                            AddressField::District => pick(lang, "区县", "district"),
                            AddressField::Address => pick(lang, "详细地址", "address"),
                        })
                        .collect(),
                );
                match lang {
                    Lang::Zh => format!("地址不全：缺{missing}"),
                    Lang::En => format!("address incomplete: no {missing}"),
                }
            }
            HoldReason::RepeatReceiver { count, window_ms } => {
                let minutes = window_ms / 60_000;
                match lang {
                    Lang::Zh => format!("{minutes} 分钟内发往同一收货人的第 {count} 单"),
                    Lang::En => {
                        format!("order {count} to the same receiver within {minutes} minutes")
                    }
                }
            }
            HoldReason::AmountOver { paid, limit } => {
                let (paid, limit) = (money(*paid), money(*limit));
                match lang {
                    Lang::Zh => format!("实付 {paid} 超过 {limit}"),
                    Lang::En => format!("paid {paid}, over {limit}"),
                }
            }
            HoldReason::Cod => pick(lang, "货到付款", "cash on delivery").into(),
            HoldReason::BuyerMemo => pick(lang, "买家留言", "buyer memo").into(),
            HoldReason::SellerMemo => pick(lang, "卖家备注", "seller memo").into(),
        }
    }
}

/// Why review rules are not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("amount threshold {0} is negative")]
    NegativeAmount(i64),
    #[error("repeat receiver count {0} must be at least 2 (1 would hold every order)")]
    RepeatCount(u32),
    #[error("repeat receiver window {0} ms must be positive")]
    RepeatWindow(i64),
    #[error("blacklist entry {0} is blank")]
    BlankBlacklistEntry(usize),
}

impl ReviewRules {
    /// Checks rules before they are stored.
    pub fn validate(&self) -> Result<(), RulesError> {
        if let Some(limit) = self.amount_over_minor.filter(|l| *l < 0) {
            return Err(RulesError::NegativeAmount(limit));
        }
        if let Some(r) = &self.repeat_receiver {
            if r.count < 2 {
                return Err(RulesError::RepeatCount(r.count));
            }
            if r.window_ms <= 0 {
                return Err(RulesError::RepeatWindow(r.window_ms));
            }
        }
        for (i, e) in self.blacklist.iter().enumerate() {
            let blank = match e {
                BlacklistEntry::Buyer(b) => normal::text(b).is_empty(),
                BlacklistEntry::Phone(p) => normal::phone(p).is_empty(),
                BlacklistEntry::NameAndAddress { name, address } => {
                    normal::text(name).is_empty() || normal::compact(address).is_empty()
                }
            };
            if blank {
                return Err(RulesError::BlankBlacklistEntry(i));
            }
        }
        Ok(())
    }
}

/// Reviews a paid order. `recent_orders_to_same_receiver` counts the *other* orders to the same
/// [`receiver_key`] the caller found within the repeat window before this one
/// ([`RepeatReceiver::in_window`]).
pub fn review(
    order: &OrderView,
    rules: &ReviewRules,
    recent_orders_to_same_receiver: u32,
) -> Verdict {
    let mut reasons = Vec::new();
    let mut matched: Vec<BlacklistField> = rules
        .blacklist
        .iter()
        .filter(|e| e.matches(order))
        .map(BlacklistEntry::field)
        .collect();
    matched.sort();
    matched.dedup();
    reasons.extend(
        matched
            .into_iter()
            .map(|matched| HoldReason::Blacklisted { matched }),
    );
    if rules.hold_unmapped_sku {
        let lines: Vec<String> = order
            .lines
            .iter()
            .filter(|l| l.sku.as_deref().is_none_or(|s| s.trim().is_empty()))
            .map(|l| l.line_id.clone())
            .collect();
        if !lines.is_empty() {
            reasons.push(HoldReason::UnmappedSku { lines });
        }
    }
    if rules.hold_incomplete_address {
        let mut missing: Vec<AddressField> = rules
            .address_required
            .iter()
            .copied()
            .filter(|f| normal::blank(f.of(&order.receiver)))
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            reasons.push(HoldReason::AddressIncomplete { missing });
        }
    }
    if let Some(r) = &rules.repeat_receiver {
        let count = recent_orders_to_same_receiver.saturating_add(1);
        if count >= r.count {
            reasons.push(HoldReason::RepeatReceiver {
                count,
                window_ms: r.window_ms,
            });
        }
    }
    if let Some(limit) = rules.amount_over_minor
        && order.paid_minor > limit
    {
        reasons.push(HoldReason::AmountOver {
            paid: order.paid_minor,
            limit,
        });
    }
    if rules.hold_cod && order.cod {
        reasons.push(HoldReason::Cod);
    }
    if rules.hold_buyer_memo && !normal::blank(&order.buyer_memo) {
        reasons.push(HoldReason::BuyerMemo);
    }
    if rules.hold_seller_memo && !normal::blank(&order.seller_memo) {
        reasons.push(HoldReason::SellerMemo);
    }
    if reasons.is_empty() {
        Verdict::Approve
    } else {
        Verdict::Hold(reasons)
    }
}

/// A receiver's key: SHA-256 hex of its normalised name, phone, province, city, district and
/// detail address ([`normal`]), so the same receiver typed differently gets one key and the
/// key carries no personal data. Repeat-receiver counting and merging both use it.
pub fn receiver_key(r: &ReceiverView) -> String {
    let parts = receiver_parts(r);
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    normal::digest("receiver/v1", &refs)
}

/// The normalised parts of a receiver, in the key's order.
pub(super) fn receiver_parts(r: &ReceiverView) -> [String; 6] {
    let or = |s: &Option<String>| s.as_deref().unwrap_or("").to_owned();
    [
        normal::text(&or(&r.name)),
        normal::phone(&or(&r.phone)),
        normal::region(&or(&r.province)),
        normal::region(&or(&r.city)),
        normal::compact(&or(&r.district)),
        normal::compact(&or(&r.address)),
    ]
}
