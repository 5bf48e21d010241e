//! The shops room's capture decisions, pure: state, settings and time in, a decision out. The
//! platforms' payloads are decided by the parsers in [`super::channels`] (pure, fixture-tested).

use crate::store::StreamHealth;
use xt_shared::model::UtcMillis;

/// Where a stream's next poll window starts: `overlap_ms` before its cursor (so an order whose
/// `modified` the platform stamps late is still seen; duplicates are idempotent), or
/// `lookback_ms` before `now` for a stream never polled.
pub fn window_start(
    cursor: Option<UtcMillis>,
    now: UtcMillis,
    lookback_ms: i64,
    overlap_ms: i64,
) -> i64 {
    cursor.map_or(now.0.saturating_sub(lookback_ms), |c| {
        c.0.saturating_sub(overlap_ms)
    })
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

    #[test]
    fn window_start_cases() {
        let cases: &[(&str, Option<i64>, i64, i64)] = &[
            (
                "never polled: look back from now",
                None,
                100 * MIN,
                100 * MIN - 30 * MIN,
            ),
            (
                "polled: overlap before the cursor",
                Some(90 * MIN),
                100 * MIN,
                90 * MIN - 5 * MIN,
            ),
            (
                "a cursor ahead of now still overlaps from the cursor",
                Some(120 * MIN),
                100 * MIN,
                115 * MIN,
            ),
            (
                "no underflow at the epoch's edge",
                Some(i64::MIN + 1),
                0,
                i64::MIN,
            ),
        ];
        for (name, cursor, now, want) in cases {
            let got = window_start(cursor.map(UtcMillis), UtcMillis(*now), 30 * MIN, 5 * MIN);
            assert_eq!(got, *want, "{name}");
        }
    }

    /// A case: its name, the backfill `(to, next)`, the refunds' position, whether it is done.
    type BackfillCase = (&'static str, (i64, i64), Option<i64>, bool);

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
