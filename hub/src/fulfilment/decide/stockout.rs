//! Whether a warehouse's refusal of a delivery order says it is out of stock: a WMS's or a 3PL's
//! own words (an agent's refused command, a Qimen error message), in Chinese or English.
//!
//! *Invariant:* pure and conservative: only words that name a shortage count ("库存不足",
//! "缺货", "out of stock", "insufficient stock", …); anything else (an address problem, a
//! damaged parcel, "in stock") is not a stock-out, so the order waits for a person as before.

use super::normal;

/// Shortage phrases, lower case, `_` and `-` read as spaces, runs of spaces as one.
const SHORTAGE: &[&str] = &[
    "out of stock",
    "stockout",
    "stock out",
    "no stock",
    "not enough stock",
    "stock not enough",
    "insufficient stock",
    "stock insufficient",
    "insufficient inventory",
    "inventory insufficient",
    "not enough inventory",
    "inventory not enough",
    "short of stock",
    "库存不足",
    "库存不够",
    "缺货",
    "无库存",
    "没有库存",
    "没库存",
    "无货",
    "断货",
];

/// Whether `reason` says the warehouse does not have the goods.
pub fn says_out_of_stock(reason: &str) -> bool {
    let spaced: String = reason
        .chars()
        .map(|c| if matches!(c, '_' | '-') { ' ' } else { c })
        .collect();
    let text = normal::text(&spaced);
    SHORTAGE.iter().any(|p| text.contains(p))
}

#[cfg(test)]
mod tests {
    use super::says_out_of_stock;

    #[test]
    fn refusal_reasons() {
        let cases: &[(&str, &str, bool)] = &[
            ("english", "Out of stock", true),
            ("a WMS error code", "ERR_OUT_OF_STOCK: CUP-1", true),
            ("hyphenated", "item out-of-stock", true),
            ("insufficient", "Insufficient  stock for SKU CUP-1", true),
            ("a Qimen-style code", "STOCK_NOT_ENOUGH", true),
            ("full-width letters", "ＯＵＴ ＯＦ ＳＴＯＣＫ", true),
            ("库存不足", "商品 CUP-1 库存不足", true),
            ("缺货", "缺货", true),
            ("无库存", "仓库无库存", true),
            ("an address", "address incomplete", false),
            ("damaged", "外箱破损", false),
            ("in stock but held", "in stock, awaiting QC", false),
            ("stock alone", "stock reserved by another channel", false),
            ("empty", "", false),
        ];
        for (name, reason, want) in cases {
            assert_eq!(says_out_of_stock(reason), *want, "{name}: {reason}");
        }
    }
}
