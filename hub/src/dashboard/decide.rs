//! The dashboard room's decisions, pure: the minute series from the pre-aggregated buckets.
//! (Stock totals move by [`crate::stock::decide::totals_move`] in the apply transaction.)

use super::store::{BucketWindow, Gauges};
use std::collections::BTreeMap;

/// One minute of the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Point {
    pub minute: i64,
    pub changes: u64,
    pub gauges: Gauges,
}

/// What a caller may see of the series.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    /// The agent gauges (backlog, agents online): with `agents:read` only, else zeros.
    pub agents: bool,
    /// A warehouse-bound caller's changes per minute (its warehouses only), instead of the
    /// tenant's.
    pub bound_changes: Option<&'a BTreeMap<i64, u64>>,
}

/// The points of minutes `first..=last`: each minute's changes (0 without a bucket), the
/// gauges sampled in it or carried forward from the last sample (the window's
/// `gauges_before` at first), and the current minute (`last`) with `gauges_now`.
pub fn series(
    first: i64,
    last: i64,
    window: BucketWindow,
    gauges_now: Gauges,
    seen: Seen<'_>,
) -> Vec<Point> {
    let mut buckets = window.buckets.into_iter().peekable();
    let mut carried = if seen.agents {
        window.gauges_before.unwrap_or_default()
    } else {
        Gauges::default()
    };
    let mut points = Vec::with_capacity(usize::try_from(last - first + 1).unwrap_or(0));
    for minute in first..=last {
        let bucket = buckets.next_if(|(m, _)| *m == minute).map(|(_, b)| b);
        let changes = match seen.bound_changes {
            Some(counts) => counts.get(&minute).copied().unwrap_or(0),
            None => bucket.as_ref().map_or(0, |b| b.changes),
        };
        if seen.agents
            && let Some(g) = bucket.as_ref().and_then(|b| b.gauges())
        {
            carried = g;
        }
        let gauges = if minute == last { gauges_now } else { carried };
        points.push(Point {
            minute,
            changes,
            gauges,
        });
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MinuteBucket;

    fn g(backlog: u64, agents_online: u64) -> Gauges {
        Gauges {
            backlog,
            agents_online,
        }
    }

    fn bucket(changes: u64, gauges: Option<Gauges>) -> MinuteBucket {
        MinuteBucket {
            changes,
            backlog: gauges.map(|g| g.backlog),
            agents_online: gauges.map(|g| g.agents_online),
        }
    }

    struct Case {
        name: &'static str,
        buckets: Vec<(i64, MinuteBucket)>,
        before: Option<Gauges>,
        agents: bool,
        bound: Option<BTreeMap<i64, u64>>,
        want: Vec<(u64, Gauges)>,
    }

    #[test]
    fn series_cases() {
        let now = g(9, 3);
        let cases = vec![
            Case {
                name: "no buckets: zeros, carried gauges from before, now at the last minute",
                buckets: vec![],
                before: Some(g(4, 1)),
                agents: true,
                bound: None,
                want: vec![(0, g(4, 1)), (0, g(4, 1)), (0, now)],
            },
            Case {
                name: "a sample is carried forward until the next one",
                buckets: vec![(10, bucket(2, Some(g(5, 2)))), (11, bucket(1, None))],
                before: None,
                agents: true,
                bound: None,
                want: vec![(2, g(5, 2)), (1, g(5, 2)), (0, now)],
            },
            Case {
                name: "without agents:read nothing is carried (the caller passes zeros as now)",
                buckets: vec![(10, bucket(2, Some(g(5, 2))))],
                before: Some(g(4, 1)),
                agents: false,
                bound: None,
                want: vec![(2, g(0, 0)), (0, g(0, 0)), (0, now)],
            },
            Case {
                name: "a warehouse-bound caller counts its warehouses' changes only",
                buckets: vec![(10, bucket(7, None)), (12, bucket(5, None))],
                before: None,
                agents: false,
                bound: Some(BTreeMap::from([(10, 1), (11, 2)])),
                want: vec![(1, g(0, 0)), (2, g(0, 0)), (0, now)],
            },
        ];
        for case in cases {
            let window = BucketWindow {
                gauges_before: case.before,
                buckets: case.buckets,
            };
            let seen = Seen {
                agents: case.agents,
                bound_changes: case.bound.as_ref(),
            };
            let got: Vec<(u64, Gauges)> = series(10, 12, window, now, seen)
                .into_iter()
                .map(|p| (p.changes, p.gauges))
                .collect();
            assert_eq!(got, case.want, "{}", case.name);
        }
    }
}
