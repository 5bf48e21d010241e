//! The stock room's decisions, pure.

use super::store::StockRecord;

/// Whether a stock level at source version `incoming` replaces `stored`: last writer wins by
/// the source's version; an equal version is the same write again and applies (idempotent).
pub fn level_applies(stored: Option<&StockRecord>, incoming: i64) -> bool {
    stored.is_none_or(|s| s.version <= incoming)
}

/// How a tenant's totals for a warehouse move when `new_on_hand` replaces `stored`.
pub fn totals_move(stored: Option<&StockRecord>, new_on_hand: i64) -> TotalsMove {
    TotalsMove {
        new_sku: stored.is_none(),
        on_hand: new_on_hand - stored.map_or(0, |s| s.on_hand),
    }
}

/// What one applied stock level does to its warehouse's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotalsMove {
    /// The SKU is new in the warehouse.
    pub new_sku: bool,
    /// Change of the warehouse's on-hand sum.
    pub on_hand: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use xt_shared::model::UtcMillis;

    fn at(version: i64, on_hand: i64) -> StockRecord {
        StockRecord {
            on_hand,
            version,
            origin: "agent:a/s".into(),
            updated_at: UtcMillis(0),
        }
    }

    #[test]
    fn level_cases() {
        let cases: &[(&str, Option<StockRecord>, i64, bool)] = &[
            ("nothing stored: applies", None, 1, true),
            ("newer version: applies", Some(at(5, 3)), 6, true),
            (
                "same version again: applies (idempotent)",
                Some(at(5, 3)),
                5,
                true,
            ),
            ("older version: stale, ignored", Some(at(5, 3)), 4, false),
        ];
        for (name, stored, incoming, want) in cases {
            assert_eq!(level_applies(stored.as_ref(), *incoming), *want, "{name}");
        }
    }

    #[test]
    fn totals_cases() {
        let cases: &[(&str, Option<StockRecord>, i64, TotalsMove)] = &[
            (
                "a new SKU adds itself and its units",
                None,
                7,
                TotalsMove {
                    new_sku: true,
                    on_hand: 7,
                },
            ),
            (
                "a known SKU moves by the difference",
                Some(at(1, 10)),
                4,
                TotalsMove {
                    new_sku: false,
                    on_hand: -6,
                },
            ),
            (
                "negative stock counts as it is",
                Some(at(1, 2)),
                -3,
                TotalsMove {
                    new_sku: false,
                    on_hand: -5,
                },
            ),
        ];
        for (name, stored, on_hand, want) in cases {
            assert_eq!(totals_move(stored.as_ref(), *on_hand), *want, "{name}");
        }
    }
}
