//! The platform-neutral order the simulator keeps, its generation and its updates. Each
//! platform module renders it in its own format.

use crate::catalog::{CATALOG, EN_MEMOS, Product, REASONS, ZH_MEMOS, person};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use time::{Duration, OffsetDateTime};
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
    fn stage_weights(self) -> &'static [(Stage, u32)] {
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

    fn supports(self, stage: Stage) -> bool {
        self.stage_weights().iter().any(|(s, _)| *s == stage)
    }

    fn cod_rate(self) -> f64 {
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
    fn refund_requests(self) -> bool {
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
    fn is_paid(self) -> bool {
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
    fn touch(&mut self, at: OffsetDateTime) {
        self.modified = at.max(self.modified);
    }
}

/// Id counters of one shop, seeded at random so shops differ.
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    order: u64,
    line: u64,
    refund: u64,
    number: u64,
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

    fn order(&mut self, family: Family, rng: &mut StdRng) -> u64 {
        let step = rng.random_range(1..=self.step_max);
        self.order += if family == Family::Top {
            step * 10
        } else {
            step
        };
        self.number += 1;
        self.order
    }

    fn line(&mut self, family: Family, order: u64, index: usize) -> u64 {
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

fn pick_stage(family: Family, rng: &mut StdRng) -> Stage {
    let weights = family.stage_weights();
    let total: u32 = weights.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (stage, w) in weights {
        if roll < *w {
            return *stage;
        }
        roll -= w;
    }
    weights[0].0
}

fn random_time(rng: &mut StdRng, from: OffsetDateTime, to: OffsetDateTime) -> OffsetDateTime {
    let span = (to - from).whole_seconds().max(0);
    from + Duration::seconds(rng.random_range(0..=span))
}

/// A new order of `family` created at `created`, its last change at `modified`, in a random
/// stage (or `Pending`, or `Paid` on JD, when `fresh`).
pub(crate) fn generate(
    family: Family,
    ids: &mut Ids,
    rng: &mut StdRng,
    created: OffsetDateTime,
    modified: OffsetDateTime,
    fresh: bool,
) -> SimOrder {
    let id = ids.order(family, rng);
    let n_lines = match rng.random_range(0..10) {
        0..6 => 1,
        6..9 => 2,
        _ => 3,
    };
    let mut products: Vec<&Product> = CATALOG.iter().collect();
    products.shuffle(rng);
    let lines: Vec<Line> = products[..n_lines]
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let qty = rng.random_range(1..=3);
            let price = p.price;
            let discount = if rng.random_bool(0.2) {
                (price * i64::from(qty) / 10).min(1000)
            } else {
                0
            };
            Line {
                id: ids.line(family, id, i),
                sku_id: p.sku_id,
                sku: p.sku,
                item_id: p.item_id,
                title: if family.chinese() { p.zh } else { p.en },
                qty,
                price,
                discount,
                shipped: false,
            }
        })
        .collect();
    let net: i64 = lines.iter().map(Line::net).sum();
    let order_discount = if net > 5000 && rng.random_bool(0.15) {
        1000
    } else {
        0
    };
    let freight = *[0, 0, 800, 1000, 1200].choose(rng).expect("freights");
    let cod = rng.random_bool(family.cod_rate());
    let chinese = family.chinese();
    let mut order = SimOrder {
        id,
        number: ids.number,
        created,
        paid_at: None,
        modified,
        stage: Stage::Pending,
        flavor: rng.random_range(0..4),
        lines,
        freight,
        order_discount,
        cod,
        presale: family == Family::Top && rng.random_bool(0.05),
        person: person(family, rng),
        memo: rng.random_bool(0.3).then(|| {
            *(if chinese { ZH_MEMOS } else { EN_MEMOS })
                .choose(rng)
                .expect("memos")
        }),
        seller_memo: (chinese && rng.random_bool(0.1)).then_some("已核对库存"),
        refunds: Vec::new(),
        malformed: None,
    };
    let stage = if fresh {
        if family == Family::Jd {
            Stage::Paid
        } else {
            Stage::Pending
        }
    } else {
        pick_stage(family, rng)
    };
    set_stage(&mut order, family, stage, ids, rng, modified);
    if !fresh
        && family.refund_requests()
        && matches!(order.stage, Stage::Paid | Stage::Shipped | Stage::Completed)
        && rng.random_bool(0.1)
    {
        // An open or settled refund request that leaves the order as it is.
        let line = rng.random_range(0..order.lines.len());
        let stage = *[
            RefundStage::Requested,
            RefundStage::Returning,
            RefundStage::Refused,
            RefundStage::Closed,
        ]
        .choose(rng)
        .expect("stages");
        add_refund(&mut order, family, ids, rng, line, stage, modified);
    }
    if !fresh
        && order.lines.len() > 1
        && matches!(
            order.stage,
            Stage::Paid | Stage::PartShipped | Stage::Shipped | Stage::Completed
        )
        && order.line_refund(0).is_none()
        && rng.random_bool(0.15)
    {
        // A partial refund of the first line, done.
        add_refund(
            &mut order,
            family,
            ids,
            rng,
            0,
            RefundStage::Success,
            modified,
        );
    }
    order
}

/// Moves `order` to `stage` with the facts that go with it (payment, shipped lines, refunds).
fn set_stage(
    order: &mut SimOrder,
    family: Family,
    stage: Stage,
    ids: &mut Ids,
    rng: &mut StdRng,
    at: OffsetDateTime,
) {
    let mut stage = stage;
    // Taobao's "signed" state is for COD trades only.
    if stage == Stage::Delivered && family == Family::Top && !order.cod {
        stage = Stage::Shipped;
    }
    if stage == Stage::PartShipped && order.lines.len() < 2 {
        stage = Stage::Shipped;
    }
    let paid_now = match stage {
        Stage::Cancelled => rng.random_bool(0.5) || family == Family::Jd,
        s => s.is_paid(),
    };
    if paid_now && order.paid_at.is_none() && !(order.cod && stage != Stage::Completed) {
        let from = order.created;
        let to = (order.created + Duration::minutes(10)).min(at.max(order.created));
        order.paid_at = Some(random_time(rng, from, to));
    }
    match stage {
        Stage::PartShipped => {
            order.lines[0].shipped = true;
        }
        Stage::Shipped | Stage::Delivered | Stage::Completed => {
            for line in &mut order.lines {
                line.shipped = true;
            }
        }
        Stage::Refunded => {
            for i in 0..order.lines.len() {
                if !order.line_refunded(i) {
                    add_refund(order, family, ids, rng, i, RefundStage::Success, at);
                }
            }
        }
        _ => {}
    }
    order.stage = stage;
}

fn add_refund(
    order: &mut SimOrder,
    family: Family,
    ids: &mut Ids,
    rng: &mut StdRng,
    line: usize,
    stage: RefundStage,
    at: OffsetDateTime,
) {
    let from = order.paid_at.unwrap_or(order.created);
    let created = random_time(rng, from, at.max(from));
    let refund = Refund {
        id: ids.refund(family),
        line,
        amount: order.line_paid(line),
        stage,
        created,
        modified: at.max(created),
        reason: REASONS.choose(rng).expect("reasons"),
    };
    order.refunds.push(refund);
}

/// Generates a shop's starting orders over `[now - history, now]`, `malformed` of them bad.
pub(crate) fn generate_shop(
    family: Family,
    ids: &mut Ids,
    rng: &mut StdRng,
    count: usize,
    malformed: usize,
    now: OffsetDateTime,
    history: Duration,
) -> Vec<SimOrder> {
    let start = now - history;
    let mut orders: Vec<SimOrder> = (0..count)
        .map(|_| {
            let created = random_time(rng, start, now);
            let modified = random_time(rng, created, (created + Duration::days(2)).min(now));
            generate(family, ids, rng, created, modified, false)
        })
        .collect();
    let mut indexes: Vec<usize> = (0..orders.len()).collect();
    indexes.shuffle(rng);
    for (n, i) in indexes.into_iter().take(malformed).enumerate() {
        orders[i].malformed = Some(if n.is_multiple_of(2) {
            Malformation::Money
        } else {
            Malformation::Status
        });
    }
    orders
}

/// What an update did, for the webhook topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    Created,
    Paid,
    Cancelled,
    Updated,
}

/// One random update of one order of the shop (or a new order), at `at`. `None` when the
/// chosen order could not move (a closed order); the caller tries another.
pub(crate) fn update(
    orders: &mut Vec<SimOrder>,
    family: Family,
    ids: &mut Ids,
    rng: &mut StdRng,
    at: OffsetDateTime,
) -> Option<(usize, Change)> {
    if orders.is_empty() || rng.random_bool(0.1) {
        if orders.len() >= ORDERS_MAX {
            return None;
        }
        orders.push(generate(family, ids, rng, at, at, true));
        return Some((orders.len() - 1, Change::Created));
    }
    let i = rng.random_range(0..orders.len());
    let order = &mut orders[i];
    if order.malformed.is_some() {
        return None;
    }
    // An open refund request moves on first.
    if let Some(r) = order
        .refunds
        .iter()
        .position(|r| matches!(r.stage, RefundStage::Requested | RefundStage::Returning))
    {
        let next = match order.refunds[r].stage {
            RefundStage::Requested => *[
                RefundStage::Returning,
                RefundStage::Success,
                RefundStage::Refused,
            ]
            .choose(rng)
            .expect("stages"),
            _ => RefundStage::Success,
        };
        order.refunds[r].stage = next;
        order.refunds[r].modified = at.max(order.refunds[r].modified);
        if next == RefundStage::Success && (0..order.lines.len()).all(|l| order.line_refunded(l)) {
            // JD has no refunded state: a refund of everything cancels the order.
            order.stage = if family.supports(Stage::Refunded) {
                Stage::Refunded
            } else {
                Stage::Cancelled
            };
        }
        order.touch(at);
        return Some((i, Change::Updated));
    }
    let next = match order.stage {
        Stage::Pending => {
            if rng.random_bool(0.8) {
                Stage::Paid
            } else {
                Stage::Cancelled
            }
        }
        Stage::Processing | Stage::OnHold => Stage::Paid,
        Stage::Paid => match rng.random_range(0..10) {
            0 => Stage::Cancelled,
            1 | 2 => Stage::Refunded,
            3 | 4 => Stage::PartShipped,
            _ => Stage::Shipped,
        },
        Stage::PartShipped => Stage::Shipped,
        Stage::Shipped => {
            if rng.random_bool(0.3) {
                Stage::Refunded
            } else {
                Stage::Delivered
            }
        }
        Stage::Delivered => Stage::Completed,
        Stage::Completed | Stage::Cancelled | Stage::Refunded | Stage::Failed | Stage::Deleted => {
            return None;
        }
    };
    let mut next = next;
    // Skip the stages the platform has no word for (WooCommerce: processing → completed).
    while !family.supports(next) {
        next = match next {
            Stage::PartShipped => Stage::Shipped,
            Stage::Shipped => Stage::Delivered,
            Stage::Delivered => Stage::Completed,
            // JD: a refund of everything cancels the order.
            Stage::Refunded => Stage::Cancelled,
            _ => return None,
        };
    }
    // Taobao's "signed" state is for COD trades only: the others complete.
    if next == Stage::Delivered && family == Family::Top && !order.cod {
        next = Stage::Completed;
    }
    if next == Stage::Refunded && family.refund_requests() && rng.random_bool(0.5) {
        // A partial refund request on one line; the order stays where it is.
        let line = rng.random_range(0..order.lines.len());
        if order.line_refund(line).is_none() {
            add_refund(order, family, ids, rng, line, RefundStage::Requested, at);
            order.touch(at);
            return Some((i, Change::Updated));
        }
    }
    if next == Stage::Refunded && order.lines.len() > 1 && rng.random_bool(0.5) {
        // A partial refund that is done at once.
        // Never the last line: refunding every line is a full refund, below.
        let line = (0..order.lines.len()).find(|l| order.line_refund(*l).is_none());
        if let Some(line) = line
            && line + 1 < order.lines.len()
        {
            add_refund(order, family, ids, rng, line, RefundStage::Success, at);
            order.touch(at);
            return Some((i, Change::Updated));
        }
    }
    let was_paid = order.paid_at.is_some();
    let at_or_created = at.max(order.created);
    set_stage(order, family, next, ids, rng, at_or_created);
    if order.paid_at.is_some_and(|p| p > at_or_created) {
        order.paid_at = Some(at_or_created);
    }
    order.touch(at);
    let change = match next {
        Stage::Paid if !was_paid => Change::Paid,
        Stage::Cancelled => Change::Cancelled,
        _ => Change::Updated,
    };
    Some((i, change))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    const FAMILIES: [Family; 4] = [Family::Top, Family::Jd, Family::Shopify, Family::Woo];

    fn check(order: &SimOrder, family: Family) {
        let lines_paid: i64 = (0..order.lines.len()).map(|i| order.line_paid(i)).sum();
        assert_eq!(lines_paid + order.freight, order.paid(), "{order:?}");
        assert!(
            order.paid() > 0 && order.refunded() <= order.paid(),
            "{order:?}"
        );
        assert!(family.supports(order.stage), "{family:?} {order:?}");
        assert!(order.created <= order.modified);
        assert!(order.paid_at.is_none_or(|p| order.created <= p));
        for r in &order.refunds {
            assert!(r.line < order.lines.len() && r.created <= r.modified);
            assert_eq!(r.amount, order.line_paid(r.line));
        }
        let refunded_lines = (0..order.lines.len())
            .filter(|i| order.line_refunded(*i))
            .count();
        if order.stage == Stage::Refunded {
            assert_eq!(refunded_lines, order.lines.len(), "{order:?}");
        }
        if matches!(
            order.stage,
            Stage::Shipped | Stage::Delivered | Stage::Completed
        ) {
            assert!(order.lines.iter().all(|l| l.shipped));
        }
    }

    #[test]
    fn generated_and_updated_orders_keep_their_invariants() {
        let mut rng = StdRng::seed_from_u64(3);
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        for family in FAMILIES {
            let mut ids = Ids::new(family, &mut rng);
            let mut orders =
                generate_shop(family, &mut ids, &mut rng, 300, 0, now, Duration::days(2));
            for step in 0..600 {
                let at = now + Duration::seconds(step);
                update(&mut orders, family, &mut ids, &mut rng, at);
            }
            for order in &orders {
                check(order, family);
            }
            let mut nos: Vec<u64> = orders.iter().map(|o| o.id).collect();
            nos.sort_unstable();
            nos.dedup();
            assert_eq!(nos.len(), orders.len(), "{family:?}: order ids repeat");
        }
    }

    #[test]
    fn a_late_update_never_moves_modified_backwards() {
        let mut rng = StdRng::seed_from_u64(4);
        let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let mut ids = Ids::new(Family::Shopify, &mut rng);
        let mut orders = generate_shop(
            Family::Shopify,
            &mut ids,
            &mut rng,
            5,
            0,
            now,
            Duration::hours(1),
        );
        let before: Vec<OffsetDateTime> = orders.iter().map(|o| o.modified).collect();
        for _ in 0..50 {
            update(
                &mut orders,
                Family::Shopify,
                &mut ids,
                &mut rng,
                now - Duration::hours(2),
            );
        }
        for (order, before) in orders.iter().zip(before) {
            assert!(order.modified >= before);
        }
    }
}
