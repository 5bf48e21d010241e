//! The shops room's capture decisions, pure: state, settings and time in, a decision out. The
//! platforms' payloads are decided by the parsers in [`super::channels`] (pure, fixture-tested).

use crate::store::StreamHealth;
use xt_shared::model::UtcMillis;

/// What one poll of a stream reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollWindows {
    /// Read now, up to now; the durable cursor moves to its end. It starts one poll interval
    /// before the cursor (an order stamped up to that late is caught at the next poll), or
    /// `lookback` before now for a stream never polled.
    pub fresh: (i64, i64),
    /// Read once more, now that it is older than the overlap (the settle read): an order whose
    /// `modified` the platform stamped late, up to the overlap, is visible by then. Read once a
    /// quarter of the overlap has aged (so the settle reads add a call every few polls rather
    /// than at each); `None` until then.
    pub settle: Option<(i64, i64)>,
    /// Where the next settle read starts once this poll is whole.
    pub next_settled: i64,
}

/// The windows of one poll: from the stream's durable `cursor` (the end of the last whole
/// fresh read) and `settled` (where the worker's next settle read starts; `None` for a worker
/// just started, which settles again from `overlap` before the cursor, as far as a hub stopped
/// at any point may not have).
///
/// Every order is read about twice (fresh, maybe once more at the next poll, then settled)
/// whatever the ratio of overlap to poll interval; reading the whole overlap at every poll read
/// it overlap ÷ poll times, which at volume is most of the capture's work. A late order is
/// caught within 1¼ overlaps of its stamp.
pub fn poll_windows(
    cursor: Option<UtcMillis>,
    settled: Option<i64>,
    now: UtcMillis,
    lookback_ms: i64,
    overlap_ms: i64,
    poll_ms: i64,
) -> PollWindows {
    let fresh_from = cursor.map_or(now.0.saturating_sub(lookback_ms), |c| {
        c.0.saturating_sub(overlap_ms.min(poll_ms))
    });
    let settle_to = now.0.saturating_sub(overlap_ms);
    let settle_from = match (settled, cursor) {
        (Some(s), _) => s,
        (None, Some(c)) => c.0.saturating_sub(overlap_ms),
        // Never polled: the fresh read reaches back `lookback`; what is older than the overlap
        // now has settled.
        (None, None) => settle_to.saturating_add(1),
    };
    let aged = settle_to.saturating_sub(settle_from).saturating_add(1);
    let settle = (aged >= (overlap_ms / 4).max(1)).then_some((settle_from, settle_to));
    PollWindows {
        fresh: (fresh_from, now.0),
        settle,
        next_settled: settle.map_or(settle_from, |(_, to)| to.saturating_add(1)),
    }
}

/// Where the next page of a window `(from, to)` starts after a page whose newest item was
/// modified at `newest` (in whole seconds, as the platforms stamp it): keyset paging narrows the
/// window to that second (`Some`) instead of asking for page n + 1, which skips a row when an
/// order of an earlier page is modified meanwhile and the pages shift. `None`: the narrowing
/// would not move the start (every item of the page is of its first second), so the next page
/// is asked for by its cursor.
///
/// The platforms take whole seconds, so a window is asked up to the second after `to`, and a
/// page may hold orders of that second, after `to`: the start is never moved past `to` (a
/// window that starts after it ends is refused before it is sent).
pub fn narrowed_from(window: (i64, i64), newest: i64) -> Option<i64> {
    let (from, to) = window;
    let narrowed = newest.min(to);
    (narrowed > from).then_some(narrowed)
}

/// Whether a backfill `(to, next)` is over: both streams have walked past its end (the refunds'
/// own position, or the orders' when the refunds never had one).
pub fn backfill_done(backfill: (UtcMillis, UtcMillis), refunds_next: Option<UtcMillis>) -> bool {
    let (to, next) = backfill;
    let refunds_next = refunds_next.unwrap_or(next);
    next.0 > to.0 && refunds_next.0 > to.0
}

/// One stream's poll outcome on its health: success moves `last_poll_ok_at` (and starts the
/// error count at 0); an error counts and is kept as the last error, which stays until the next
/// one, beside a newer `last_poll_ok_at`.
pub fn note(h: &mut StreamHealth, now: UtcMillis, lag_ms: Option<i64>, error: Option<&str>) {
    h.capture_lag_ms = lag_ms;
    match error {
        None => {
            h.last_poll_ok_at = Some(now);
            h.error_count.get_or_insert(0);
        }
        Some(message) => {
            h.error_count = Some(h.error_count.unwrap_or(0) + 1);
            h.last_error = Some(message.to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// A case: its name, the cursor, the settled position, now, and the windows wanted.
    type PollCase = (&'static str, Option<i64>, Option<i64>, i64, PollWindows);

    #[test]
    fn poll_windows_cases() {
        const SEC: i64 = 1_000;
        // Lookback 30 min, overlap 5 min, poll every 30 s.
        let cases: &[PollCase] = &[
            (
                "never polled: look back from now; nothing to settle yet",
                None,
                None,
                100 * MIN,
                PollWindows {
                    fresh: (70 * MIN, 100 * MIN),
                    settle: None,
                    next_settled: 95 * MIN + 1,
                },
            ),
            (
                "a worker just started settles the whole overlap before the cursor",
                Some(90 * MIN),
                None,
                100 * MIN,
                PollWindows {
                    fresh: (90 * MIN - 30 * SEC, 100 * MIN),
                    settle: Some((85 * MIN, 95 * MIN)),
                    next_settled: 95 * MIN + 1,
                },
            ),
            (
                "a running worker waits until a quarter of the overlap has aged",
                Some(100 * MIN),
                Some(95 * MIN + 1),
                101 * MIN,
                PollWindows {
                    fresh: (100 * MIN - 30 * SEC, 101 * MIN),
                    settle: None,
                    next_settled: 95 * MIN + 1,
                },
            ),
            (
                "then settles what aged past the overlap since its last settle read",
                Some(101 * MIN),
                Some(95 * MIN + 1),
                101 * MIN + 15 * SEC,
                PollWindows {
                    fresh: (101 * MIN - 30 * SEC, 101 * MIN + 15 * SEC),
                    settle: Some((95 * MIN + 1, 96 * MIN + 15 * SEC)),
                    next_settled: 96 * MIN + 15 * SEC + 1,
                },
            ),
            (
                "polled again within the same millisecond: nothing to settle",
                Some(100 * MIN),
                Some(95 * MIN + 1),
                100 * MIN,
                PollWindows {
                    fresh: (100 * MIN - 30 * SEC, 100 * MIN),
                    settle: None,
                    next_settled: 95 * MIN + 1,
                },
            ),
            (
                "a cursor ahead of now: fresh from the cursor, settle up to the overlap",
                Some(120 * MIN),
                None,
                100 * MIN,
                PollWindows {
                    fresh: (120 * MIN - 30 * SEC, 100 * MIN),
                    settle: None,
                    next_settled: 115 * MIN,
                },
            ),
            (
                "no underflow at the epoch's edge",
                Some(i64::MIN + 1),
                None,
                0,
                PollWindows {
                    fresh: (i64::MIN, 0),
                    settle: Some((i64::MIN, -5 * MIN)),
                    next_settled: -5 * MIN + 1,
                },
            ),
        ];
        for (name, cursor, settled, now, want) in cases {
            let got = poll_windows(
                cursor.map(UtcMillis),
                *settled,
                UtcMillis(*now),
                30 * MIN,
                5 * MIN,
                30 * SEC,
            );
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn an_overlap_shorter_than_the_poll_interval_is_the_fresh_overlap() {
        let got = poll_windows(
            Some(UtcMillis(100 * MIN)),
            Some(99 * MIN),
            UtcMillis(110 * MIN),
            30 * MIN,
            MIN,
            5 * MIN,
        );
        assert_eq!(got.fresh, (99 * MIN, 110 * MIN));
        assert_eq!(got.settle, Some((99 * MIN, 109 * MIN)));
    }

    /// A case: its name, the backfill `(to, next)`, the refunds' position, whether it is done.
    type BackfillCase = (&'static str, (i64, i64), Option<i64>, bool);

    /// A case: its name, the window, the newest `modified` on the page, the next start.
    type NarrowCase = (&'static str, (i64, i64), i64, Option<i64>);

    #[test]
    fn narrowed_from_cases() {
        let cases: &[NarrowCase] = &[
            (
                "a page reaching a later second narrows to it",
                (10_000, 20_500),
                15_000,
                Some(15_000),
            ),
            (
                "a page all of its first second pages on by cursor",
                (10_000, 20_500),
                10_000,
                None,
            ),
            (
                "a window started mid-second: its own second pages on by cursor",
                (10_400, 20_500),
                10_000,
                None,
            ),
            (
                "orders of the second after `to` narrow only up to `to`",
                (10_000, 20_500),
                21_000,
                Some(20_500),
            ),
            (
                "once at `to`, orders after it page on by cursor (no window after its end)",
                (20_500, 20_500),
                21_000,
                None,
            ),
        ];
        for (name, window, newest, want) in cases {
            assert_eq!(narrowed_from(*window, *newest), *want, "{name}");
        }
    }

    #[test]
    fn backfill_done_cases() {
        let cases: &[BackfillCase] = &[
            ("orders not yet at the end", (100, 50), Some(101), false),
            ("refunds not yet at the end", (100, 101), Some(60), false),
            ("both past the end", (100, 101), Some(101), true),
            (
                "exactly at the end is not past it",
                (100, 100),
                Some(101),
                false,
            ),
            (
                "refunds without a position follow the orders",
                (100, 101),
                None,
                true,
            ),
            (
                "refunds without a position, orders not done",
                (100, 99),
                None,
                false,
            ),
        ];
        for (name, (to, next), refunds, want) in cases {
            let got = backfill_done((UtcMillis(*to), UtcMillis(*next)), refunds.map(UtcMillis));
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn health_cases() {
        let failed_before = StreamHealth {
            last_poll_ok_at: Some(UtcMillis(1)),
            capture_lag_ms: Some(5),
            error_count: Some(2),
            last_error: Some("http 500".into()),
        };
        let cases: Vec<(&str, StreamHealth, Option<&str>, StreamHealth)> = vec![
            (
                "a first success starts the count at 0",
                StreamHealth::default(),
                None,
                StreamHealth {
                    last_poll_ok_at: Some(UtcMillis(10)),
                    capture_lag_ms: Some(7),
                    error_count: Some(0),
                    last_error: None,
                },
            ),
            (
                "a success keeps the count and the last error",
                failed_before.clone(),
                None,
                StreamHealth {
                    last_poll_ok_at: Some(UtcMillis(10)),
                    capture_lag_ms: Some(7),
                    ..failed_before.clone()
                },
            ),
            (
                "an error counts and replaces the last error; the last success stays",
                failed_before.clone(),
                Some("http 429"),
                StreamHealth {
                    capture_lag_ms: Some(7),
                    error_count: Some(3),
                    last_error: Some("http 429".into()),
                    ..failed_before.clone()
                },
            ),
        ];
        for (name, mut health, error, want) in cases {
            note(&mut health, UtcMillis(10), Some(7), error);
            assert_eq!(health, want, "{name}");
        }
    }
}
