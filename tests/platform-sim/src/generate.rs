//! Generating orders: a shop's history at start and the new orders of update rounds, each in a
//! random stage with the facts that go with it.

use crate::catalog::{CATALOG, EN_MEMOS, Product, REASONS, ZH_MEMOS, person};
use crate::model::{Family, Ids, Line, Malformation, Refund, RefundStage, SimOrder, Stage};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use time::{Duration, OffsetDateTime};

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
pub(crate) fn set_stage(
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

pub(crate) fn add_refund(
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
        // No refunds: the refund APIs then serve nothing that the truth leaves out.
        orders[i].refunds.clear();
        orders[i].malformed = Some(if n.is_multiple_of(2) {
            Malformation::Money
        } else {
            Malformation::Status
        });
    }
    orders
}
