//! Update rounds: one random change of one order at a time (payment, cancellation, shipping,
//! completion, refunds), or a new order.

use crate::generate::{add_refund, generate, set_stage};
use crate::model::{Family, Ids, ORDERS_MAX, RefundStage, SimOrder, Stage};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use time::OffsetDateTime;

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
    use crate::generate::generate_shop;
    use rand::SeedableRng;
    use time::Duration;

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
