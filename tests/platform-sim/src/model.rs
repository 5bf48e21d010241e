//! The platform-neutral order the simulator keeps (generated in `generate`, changed in
//! `updates`); each platform module renders it in its own format.

use rand::Rng;
use rand::rngs::StdRng;
use time::OffsetDateTime;
use xt_shared::order::Platform;

/// Orders per shop at most (generated plus created by updates stay far below in tests).
pub(crate) const ORDERS_MAX: usize = 100_000;

/// The platform families: Taobao and Tmall share TOP's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Top,
    Jd,
    Shopify,
    Woo,
}

impl Family {
    pub(crate) fn of(platform: Platform) -> Family {
        match platform {
            Platform::Taobao | Platform::Tmall => Family::Top,
            Platform::Jd => Family::Jd,
            Platform::Shopify => Family::Shopify,
            Platform::Woocommerce => Family::Woo,
        }
    }

    /// The stages this platform can express, each as often as it should be generated.
    pub(crate) fn stage_weights(self) -> &'static [(Stage, u32)] {
        use Stage::*;
        match self {
            Family::Top => &[
                (Pending, 3),
                (Processing, 1),
                (Paid, 4),
                (OnHold, 1),
                (PartShipped, 2),
                (Shipped, 4),
                (Delivered, 1),
                (Completed, 4),
                (Cancelled, 2),
                (Refunded, 1),
            ],
            // JD lists orders once paid (or COD); it has no unpaid state.
            Family::Jd => &[
                (Paid, 4),
                (OnHold, 1),
                (Shipped, 4),
                (Delivered, 1),
                (Completed, 4),
                (Cancelled, 2),
            ],
            Family::Shopify => &[
                (Pending, 3),
                (Processing, 1),
                (Paid, 4),
                (PartShipped, 2),
                (Shipped, 3),
                (Completed, 4),
                (Cancelled, 2),
                (Refunded, 1),
            ],
            Family::Woo => &[
                (Pending, 3),
                (Processing, 1),
                (Failed, 1),
                (Paid, 4),
                (Completed, 5),
                (Cancelled, 2),
                (Refunded, 1),
                (Deleted, 1),
            ],
        }
    }

    pub(crate) fn supports(self, stage: Stage) -> bool {
        self.stage_weights().iter().any(|(s, _)| *s == stage)
    }

    pub(crate) fn cod_rate(self) -> f64 {
        match self {
            Family::Top => 0.10,
            Family::Jd => 0.15,
            Family::Shopify => 0.05,
            Family::Woo => 0.10,
        }
    }

    pub(crate) fn chinese(self) -> bool {
        matches!(self, Family::Top | Family::Jd)
    }

    /// Refunds go through a request on the Chinese platforms; Shopify and WooCommerce record
    /// only refunds that are done.
    pub(crate) fn refund_requests(self) -> bool {
        self.chinese()
    }
}

/// Where an order is in its life, platform-neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Pending,
    Processing,
    Failed,
    Paid,
    OnHold,
    PartShipped,
    Shipped,
    Delivered,
    Completed,
    Cancelled,
    Refunded,
    Deleted,
}

impl Stage {
    pub(crate) fn is_paid(self) -> bool {
        !matches!(
            self,
            Stage::Pending | Stage::Processing | Stage::Failed | Stage::Deleted
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefundStage {
    Requested,
    Returning,
    Refused,
    Closed,
    Success,
}

/// How a malformed order is bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformation {
    /// The paid amount has three decimals (`12.345`).
    Money,
    /// The status is outside the platform's table.
    Status,
}

#[derive(Debug, Clone)]
pub(crate) struct Line {
    pub id: u64,
    pub sku_id: u64,
    pub sku: &'static str,
    pub item_id: u64,
    pub title: &'static str,
    pub qty: u32,
    /// Unit price in minor units.
    pub price: i64,
    /// The line's own discount (coupon), minor units.
    pub discount: i64,
    pub shipped: bool,
}

impl Line {
    pub(crate) fn gross(&self) -> i64 {
        self.price * i64::from(self.qty)
    }

    pub(crate) fn net(&self) -> i64 {
        self.gross() - self.discount
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Refund {
    pub id: u64,
    /// Index into the order's lines: refunds here always cover one whole line.
    pub line: usize,
    pub amount: i64,
    pub stage: RefundStage,
    pub created: OffsetDateTime,
    pub modified: OffsetDateTime,
    pub reason: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct Person {
    pub name: String,
    pub first: &'static str,
    pub last: &'static str,
    pub phone: String,
    pub email: String,
    pub nick: String,
    pub customer_id: u64,
    pub country: &'static str,
    pub province: &'static str,
    pub city: &'static str,
    pub district: &'static str,
    pub town: &'static str,
    pub address: String,
    pub zip: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) struct SimOrder {
    /// The platform's order id (tid, orderId, Shopify id, WooCommerce post id).
    pub id: u64,
    /// Shopify `order_number` / WooCommerce `number`.
    pub number: u64,
    pub created: OffsetDateTime,
    pub paid_at: Option<OffsetDateTime>,
    pub modified: OffsetDateTime,
    pub stage: Stage,
    /// Picks among a platform's synonyms for the stage (e.g. `WAIT_BUYER_PAY` or
    /// `TRADE_NO_CREATE_PAY`).
    pub flavor: u8,
    pub lines: Vec<Line>,
    pub freight: i64,
    /// Discount on the whole order, shared out over the lines.
    pub order_discount: i64,
    pub cod: bool,
    pub presale: bool,
    pub person: Person,
    pub memo: Option<&'static str>,
    pub seller_memo: Option<&'static str>,
    pub refunds: Vec<Refund>,
    pub malformed: Option<Malformation>,
}

impl SimOrder {
    pub(crate) fn goods(&self) -> i64 {
        self.lines.iter().map(Line::gross).sum()
    }

    pub(crate) fn discount(&self) -> i64 {
        self.lines.iter().map(|l| l.discount).sum::<i64>() + self.order_discount
    }

    /// The order discount shared out over the lines in proportion to their net amounts; the
    /// last line takes the rounding remainder.
    pub(crate) fn shares(&self) -> Vec<i64> {
        let total: i64 = self.lines.iter().map(Line::net).sum();
        let mut shares: Vec<i64> = self
            .lines
            .iter()
            .map(|l| {
                if total == 0 {
                    0
                } else {
                    self.order_discount * l.net() / total
                }
            })
            .collect();
        let given: i64 = shares.iter().sum();
        if let Some(last) = shares.last_mut() {
            *last += self.order_discount - given;
        }
        shares
    }

    /// What the buyer pays for line `i` after every discount.
    pub(crate) fn line_paid(&self, i: usize) -> i64 {
        self.lines[i].net() - self.shares()[i]
    }

    pub(crate) fn paid(&self) -> i64 {
        self.goods() - self.discount() + self.freight
    }

    /// The latest refund of line `i`.
    pub(crate) fn line_refund(&self, i: usize) -> Option<&Refund> {
        self.refunds.iter().rev().find(|r| r.line == i)
    }

    pub(crate) fn line_refunded(&self, i: usize) -> bool {
        self.line_refund(i)
            .is_some_and(|r| r.stage == RefundStage::Success)
    }

    pub(crate) fn refunded(&self) -> i64 {
        self.refunds
            .iter()
            .filter(|r| r.stage == RefundStage::Success)
            .map(|r| r.amount)
            .sum()
    }

    /// Records a change at `at`. A late change may carry a time in the past, but never one
    /// before the order's last change: platforms never move `modified` backwards.
    pub(crate) fn touch(&mut self, at: OffsetDateTime) {
        self.modified = at.max(self.modified);
    }
}

/// Id counters of one shop, seeded at random so shops differ.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    order: u64,
    line: u64,
    refund: u64,
    pub number: u64,
    step_max: u64,
}

impl Ids {
    pub(crate) fn new(family: Family, rng: &mut StdRng) -> Ids {
        match family {
            // 19-digit tids (above 2^53) with the sub-orders' oids right after them.
            Family::Top => Ids {
                order: rng.random_range(3_000_000_000_000_000_000..3_900_000_000_000_000_000) / 10
                    * 10,
                line: 0,
                refund: rng.random_range(100_000_000_000_000..200_000_000_000_000),
                number: 0,
                step_max: 1_000_000,
            },
            Family::Jd => Ids {
                order: rng.random_range(300_000_000_000..310_000_000_000),
                line: 0,
                refund: rng.random_range(100_000_000..200_000_000),
                number: 0,
                step_max: 1_000,
            },
            Family::Shopify => Ids {
                order: rng.random_range(5_100_000_000_000..5_200_000_000_000),
                line: rng.random_range(13_000_000_000..14_000_000_000),
                refund: rng.random_range(900_000_000..990_000_000),
                number: 1000,
                step_max: 1_000,
            },
            // WooCommerce orders and refunds are posts: small ints from one counter.
            Family::Woo => Ids {
                order: rng.random_range(100..1000),
                line: rng.random_range(1..100),
                refund: 0,
                number: 0,
                step_max: 3,
            },
        }
    }

    pub(crate) fn order(&mut self, family: Family, rng: &mut StdRng) -> u64 {
        let step = rng.random_range(1..=self.step_max);
        self.order += if family == Family::Top {
            step * 10
        } else {
            step
        };
        self.number += 1;
        self.order
    }

    pub(crate) fn line(&mut self, family: Family, order: u64, index: usize) -> u64 {
        match family {
            Family::Top => order + index as u64 + 1,
            // JD items have no id of their own (the SKU is the line).
            Family::Jd => 0,
            _ => {
                self.line += 1;
                self.line
            }
        }
    }

    pub(crate) fn refund(&mut self, family: Family) -> u64 {
        match family {
            Family::Woo => {
                self.order += 1;
                self.order
            }
            _ => {
                self.refund += 1;
                self.refund
            }
        }
    }
}
