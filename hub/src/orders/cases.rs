//! What the decisions' case tables share: the runner ([`check`]) and the sample order the
//! cases start from (one Taobao order with one line, changed field by field in each case).

use xt_shared::ids::{DocNo, Sku};
use xt_shared::model::UtcMillis;
use xt_shared::money::{Currency, Money};
use xt_shared::order::*;

/// Checks every case's actual rendering against its expected one, reporting all failures at once
/// by case name. Names are unique: a name says what its case shows.
pub fn check(cases: impl IntoIterator<Item = (&'static str, String, &'static str)>) {
    let mut names = std::collections::BTreeSet::new();
    let mut failed = Vec::new();
    for (name, actual, expect) in cases {
        assert!(names.insert(name), "two cases named {name:?}");
        if actual != expect {
            failed.push(format!(
                "case {name:?}\n  expected: {expect}\n  actual:   {actual}"
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "{} failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}

/// `"-"` for nothing.
pub fn or_dash(v: Option<&str>) -> &str {
    v.unwrap_or("-")
}

pub fn yuan(minor: i64) -> Money {
    Money::new(minor, Currency::CNY)
}

/// A line with its platform SKU id and merchant code, if any.
pub fn line(id: &str, platform_sku: Option<&str>, merchant: Option<&str>) -> OrderLine {
    OrderLine {
        line_id: DocNo::new(id).unwrap(),
        platform_sku_id: platform_sku.map(str::to_owned),
        merchant_sku: merchant.map(|m| Sku::new(m).unwrap()),
        title: "杯".into(),
        quantity: 1,
        unit_price: yuan(1000),
        discount: yuan(0),
        paid: Some(yuan(1000)),
        status: None,
        refund: None,
    }
}

/// Taobao order `no`, paid, platform `modified` at `modified`, bought by open uid `u-<no>`, one
/// line `<no>-1` (platform SKU 9001, merchant code CUP-1).
pub fn order(no: &str, modified: i64) -> StandardOrder {
    StandardOrder {
        platform: Platform::Taobao,
        platform_order_no: DocNo::new(no).unwrap(),
        status: OrderState::Paid,
        platform_status: "WAIT_SELLER_SEND_GOODS".into(),
        buyer: Buyer {
            platform: Platform::Taobao,
            open_uid: Some(format!("u-{no}")),
            customer_id: None,
            email_sha256: None,
            nick: None,
        },
        receiver: Receiver {
            name: Some("张**".into()),
            phone: Some("138****1234".into()),
            masked: true,
            ..Receiver::default()
        },
        amounts: Amounts {
            goods: yuan(1000),
            discount: yuan(0),
            freight: yuan(0),
            paid: yuan(1000),
            cod_receivable: yuan(0),
            refunded: yuan(0),
        },
        times: OrderTimes {
            created: UtcMillis(1),
            paid: Some(UtcMillis(2)),
            modified: UtcMillis(modified),
        },
        buyer_memo: None,
        seller_memo: None,
        flags: OrderFlags::default(),
        lines: vec![line(&format!("{no}-1"), Some("9001"), Some("CUP-1"))],
    }
}

/// `order` changed by `f`.
pub fn with(mut order: StandardOrder, f: impl FnOnce(&mut StandardOrder)) -> StandardOrder {
    f(&mut order);
    order
}
