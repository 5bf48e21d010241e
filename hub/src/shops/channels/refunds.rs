//! Refunds into [`StandardRefund`]: Taobao `refunds.receive.get` records and JD
//! `afs.soa.refundapply` records as fetched on their own, and the refunds Shopify and
//! WooCommerce carry inside an order. Pure functions like the order parsers; an unknown status is
//! an error naming it.

use super::{Obj, ParseError, Reason, lookup, taobao};
use serde_json::Value;
use xt_shared::money::{Currency, Money};
use xt_shared::order::{Platform, RefundState, StandardRefund};

const CNY: Currency = Currency::CNY;

/// A refund record of `refunds.receive.get` (reference §1.5). `tid` and `oid` are JSON numbers
/// of up to 19 digits, read exactly as integers.
pub fn parse_taobao_refund(raw: &Value) -> Result<StandardRefund, ParseError> {
    // Taobao's refund status enum is the one its order lines carry (`NO_REFUND` aside).
    let o = refund_root(Platform::Taobao, raw)?;
    let created = o.beijing_time("created")?;
    Ok(StandardRefund {
        platform: Platform::Taobao,
        refund_id: o.doc_no("refund_id")?,
        platform_order_no: o.doc_no("tid")?,
        line_id: o
            .opt_id("oid")?
            .map(|oid| xt_shared::ids::DocNo::new(oid).map_err(|e| o.err("oid", e.into())))
            .transpose()?,
        state: o.status("status", taobao::REFUND_STATUSES)?,
        platform_status: o.str("status")?.to_owned(),
        amount: o.money("refund_fee", CNY)?,
        reason: o.opt_string("reason")?,
        created,
        modified: o.opt_beijing_time("modified")?.unwrap_or(created),
    })
}

/// JD refund-application status (reference §2.5, with the values seen in integrators' code).
/// Approved applications count as refunded: JD pays the money back without a return.
pub const JD_REFUND_STATUSES: &[(&str, RefundState)] = &[
    ("0", RefundState::Requested),  // 未审核
    ("1", RefundState::Refunded),   // 审核通过
    ("2", RefundState::Refused),    // 审核不通过
    ("3", RefundState::Refunded),   // 京东财务审核通过
    ("4", RefundState::Refused),    // 京东财务审核不通过
    ("5", RefundState::Refunded),   // 人工审核通过
    ("6", RefundState::Refunded),   // 拦截并退款
    ("7", RefundState::Refunded),   // 青龙拦截成功
    ("8", RefundState::Requested),  // 青龙拦截失败: still open, the parcel goes on
    ("9", RefundState::Refunded),   // 强制关单并退款
    ("10", RefundState::Requested), // 物流待跟进(线下拦截)
    ("11", RefundState::Closed),    // 用户撤销
    ("16", RefundState::Refunded),  // 拒收后退款
    ("17", RefundState::Closed),    // 协商关闭
    ("18", RefundState::Closed),    // 协商关闭
    ("19", RefundState::Requested), // 纠纷介入
    ("27", RefundState::Requested), // 京东承诺拦截
];

/// A refund record of `jingdong.pop.afs.soa.refundapply.queryPageList` (reference §2.5):
/// `applyRefundSum` in 元, `status` a number, `checkTime` its last change.
pub fn parse_jd_refund(raw: &Value) -> Result<StandardRefund, ParseError> {
    let o = refund_root(Platform::Jd, raw)?;
    let status = o.count("status")?.to_string();
    let state = lookup(JD_REFUND_STATUSES, &status)
        .ok_or_else(|| o.err("status", Reason::UnknownStatus(status.clone())))?;
    let created = o.beijing_time("applyTime")?;
    Ok(StandardRefund {
        platform: Platform::Jd,
        refund_id: o.doc_no("id")?,
        platform_order_no: o.doc_no("orderId")?,
        line_id: None,
        state,
        platform_status: status,
        amount: o.money("applyRefundSum", CNY)?,
        reason: o.opt_string("refundReason")?,
        created,
        modified: o.opt_beijing_time("checkTime")?.unwrap_or(created),
    })
}

/// The refunds inside an order: Shopify `refunds[]` (the successful `refund` transactions
/// summed) and WooCommerce `refunds[]` (negative totals as positive amounts). Taobao and JD
/// orders carry none (their refunds are fetched on their own): empty.
pub fn refunds_in_order(
    platform: Platform,
    raw: &Value,
) -> Result<Vec<StandardRefund>, ParseError> {
    Ok(refunds_with_raw(platform, raw)?
        .into_iter()
        .map(|(_, refund)| refund)
        .collect())
}

/// [`refunds_in_order`] with each refund object's JSON text.
pub(crate) fn refunds_with_raw(
    platform: Platform,
    raw: &Value,
) -> Result<Vec<(String, StandardRefund)>, ParseError> {
    match platform {
        Platform::Shopify => shopify_refunds(raw),
        Platform::Woocommerce => woocommerce_refunds(raw),
        Platform::Taobao | Platform::Tmall | Platform::Jd => Ok(Vec::new()),
    }
}

/// A Shopify refund's `modified` is the order's `updated_at`: a refund bumps it, and a refund's
/// own fields (transactions going from pending to success) change without a time of their own.
fn shopify_refunds(raw: &Value) -> Result<Vec<(String, StandardRefund)>, ParseError> {
    let o = Obj::root(Platform::Shopify, raw)?;
    let order_no = o.doc_no("id")?;
    let currency = Currency::new(o.str("currency")?).map_err(|e| o.err("currency", e.into()))?;
    let updated = o.rfc3339("updated_at")?;
    let raws = raw.get("refunds").and_then(Value::as_array);
    let mut found = Vec::new();
    for (i, r) in o.objects("refunds")?.iter().enumerate() {
        let mut amount = 0i64;
        let mut statuses = Vec::new();
        for tx in r.objects("transactions")? {
            if tx.opt_str("kind")? != Some("refund") {
                continue;
            }
            let status = tx.opt_str("status")?.unwrap_or("pending");
            if status == "success" {
                amount = amount
                    .checked_add(tx.money("amount", currency)?.minor)
                    .ok_or_else(|| {
                        r.err("transactions", Reason::Invalid("refund overflows".into()))
                    })?;
            }
            statuses.push(status);
        }
        let (state, platform_status) = if statuses.contains(&"success") {
            (RefundState::Refunded, "success")
        } else if statuses.contains(&"pending") {
            (RefundState::Requested, "pending")
        } else if let Some(s) = statuses.first() {
            // failure / error: no money went back.
            (RefundState::Closed, *s)
        } else {
            // Restock only, no money: the refund is done.
            (RefundState::Refunded, "no transactions")
        };
        let created = r.opt_rfc3339("created_at")?.unwrap_or(updated);
        found.push((
            raws.and_then(|a| a.get(i))
                .map(Value::to_string)
                .unwrap_or_default(),
            StandardRefund {
                platform: Platform::Shopify,
                refund_id: r.doc_no("id")?,
                platform_order_no: order_no.clone(),
                line_id: None,
                state,
                platform_status: platform_status.to_owned(),
                amount: Money::new(amount, currency),
                reason: r.opt_string("note")?,
                created,
                modified: updated.max(created),
            },
        ));
    }
    Ok(found)
}

/// WooCommerce's refund summaries carry no time: created and modified are the order's
/// `date_modified_gmt`.
fn woocommerce_refunds(raw: &Value) -> Result<Vec<(String, StandardRefund)>, ParseError> {
    let o = Obj::root(Platform::Woocommerce, raw)?;
    let order_no = o.doc_no("id")?;
    let currency = Currency::new(o.str("currency")?).map_err(|e| o.err("currency", e.into()))?;
    let modified = o.gmt_time("date_modified_gmt")?;
    let raws = raw.get("refunds").and_then(Value::as_array);
    o.objects("refunds")?
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let total = r.money("total", currency)?;
            Ok((
                raws.and_then(|a| a.get(i))
                    .map(Value::to_string)
                    .unwrap_or_default(),
                StandardRefund {
                    platform: Platform::Woocommerce,
                    refund_id: r.doc_no("id")?,
                    platform_order_no: order_no.clone(),
                    line_id: None,
                    state: RefundState::Refunded,
                    platform_status: "refunded".into(),
                    amount: Money::new(total.minor.abs(), currency),
                    reason: r.opt_string("reason")?,
                    created: modified,
                    modified,
                },
            ))
        })
        .collect()
}

/// The refund object at the root of `raw`; errors name `refund.<field>`.
fn refund_root(platform: Platform, raw: &Value) -> Result<Obj<'_>, ParseError> {
    match raw {
        Value::Object(map) => Ok(Obj {
            platform,
            map,
            path: "refund".into(),
        }),
        _ => Err(ParseError {
            platform,
            field: "(refund)".into(),
            reason: Reason::WrongType("an object"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use xt_shared::model::UtcMillis;

    fn taobao_refund() -> Value {
        json!({
            "refund_id": "88001",
            "tid": 4312345678901234567u64,
            "oid": 4312345678901234568u64,
            "refund_fee": "12.50",
            "total_fee": "30.00",
            "payment": "17.50",
            "created": "2026-11-01 08:00:00",
            "modified": "2026-11-02 09:30:00",
            "status": "WAIT_SELLER_AGREE",
            "reason": "不想要了",
            "order_status": "WAIT_SELLER_SEND_GOODS"
        })
    }

    #[test]
    fn taobao_refund_keeps_19_digit_ids_exact_and_converts_beijing_times() {
        let r = parse_taobao_refund(&taobao_refund()).unwrap();
        assert_eq!(r.refund_id.as_str(), "88001");
        assert_eq!(r.platform_order_no.as_str(), "4312345678901234567");
        assert_eq!(r.line_id.unwrap().as_str(), "4312345678901234568");
        assert_eq!(r.state, RefundState::Requested);
        assert_eq!(r.platform_status, "WAIT_SELLER_AGREE");
        assert_eq!(r.amount, Money::new(1250, CNY));
        assert_eq!(r.reason.as_deref(), Some("不想要了"));
        // 2026-11-01 08:00:00 +08:00 = 2026-11-01T00:00:00Z.
        assert_eq!(r.created, UtcMillis(1_793_491_200_000));
        assert_eq!(
            r.modified,
            UtcMillis(1_793_491_200_000 + 25 * 3600 * 1000 + 1800 * 1000)
        );
    }

    #[test]
    fn taobao_refund_statuses_map_and_unknown_is_named() {
        for (status, state) in [
            ("WAIT_BUYER_RETURN_GOODS", RefundState::AwaitingReturn),
            ("WAIT_SELLER_CONFIRM_GOODS", RefundState::ReturnInTransit),
            ("SELLER_REFUSE_BUYER", RefundState::Refused),
            ("CLOSED", RefundState::Closed),
            ("SUCCESS", RefundState::Refunded),
            ("WAIT_SELLER_CONSIGN_GOODS", RefundState::Exchanging),
        ] {
            let mut raw = taobao_refund();
            raw["status"] = json!(status);
            assert_eq!(parse_taobao_refund(&raw).unwrap().state, state, "{status}");
        }
        let mut raw = taobao_refund();
        raw["status"] = json!("REFUNDING");
        let e = parse_taobao_refund(&raw).unwrap_err();
        assert_eq!(
            e.to_string(),
            "taobao order field refund.status: has unknown status \"REFUNDING\""
        );
        let mut raw = taobao_refund();
        raw["refund_fee"] = json!(12.5);
        assert_eq!(
            parse_taobao_refund(&raw).unwrap_err().field,
            "refund.refund_fee"
        );
        let mut raw = taobao_refund();
        raw["tid"] = json!(4.3e18);
        assert_eq!(parse_taobao_refund(&raw).unwrap_err().field, "refund.tid");
    }

    fn jd_refund() -> Value {
        json!({
            "id": 9900112233u64,
            "orderId": "301234567891",
            "applyRefundSum": "12.50",
            "status": 1,
            "applyTime": "2026-11-01 08:00:00",
            "checkTime": "2026-11-01 10:00:00",
            "refundReason": "拍错了",
            "buyerId": "b1",
            "buyerName": "j**n"
        })
    }

    #[test]
    fn jd_refund_parses_and_maps_numeric_statuses() {
        let r = parse_jd_refund(&jd_refund()).unwrap();
        assert_eq!(r.refund_id.as_str(), "9900112233");
        assert_eq!(r.platform_order_no.as_str(), "301234567891");
        assert_eq!(r.line_id, None);
        assert_eq!(r.state, RefundState::Refunded);
        assert_eq!(r.platform_status, "1");
        assert_eq!(r.amount, Money::new(1250, CNY));
        assert_eq!(r.created, UtcMillis(1_793_491_200_000));
        assert_eq!(r.modified, UtcMillis(1_793_491_200_000 + 2 * 3600 * 1000));
        for (status, state) in [
            (0, RefundState::Requested),
            (2, RefundState::Refused),
            (4, RefundState::Refused),
            (11, RefundState::Closed),
            (19, RefundState::Requested),
        ] {
            let mut raw = jd_refund();
            raw["status"] = json!(status);
            assert_eq!(parse_jd_refund(&raw).unwrap().state, state, "{status}");
        }
        let mut raw = jd_refund();
        raw["status"] = json!(42);
        assert_eq!(
            parse_jd_refund(&raw).unwrap_err().to_string(),
            "jd order field refund.status: has unknown status \"42\""
        );
        let mut raw = jd_refund();
        raw.as_object_mut().unwrap().remove("checkTime");
        assert_eq!(
            parse_jd_refund(&raw).unwrap().modified,
            UtcMillis(1_793_491_200_000)
        );
    }

    fn fixture(path: &str) -> Value {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/channels/");
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}{path}")).unwrap()).unwrap()
    }

    #[test]
    fn shopify_refunds_sum_successful_refund_transactions() {
        let order = fixture("shopify/partially-refunded-partial-fulfilled.json");
        let refunds = refunds_in_order(Platform::Shopify, &order).unwrap();
        assert_eq!(refunds.len(), 1);
        let r = &refunds[0];
        assert_eq!(r.refund_id.as_str(), "509562969");
        assert_eq!(r.platform_order_no.as_str(), order["id"].to_string());
        assert_eq!(r.state, RefundState::Refunded);
        let currency = Currency::new(order["currency"].as_str().unwrap()).unwrap();
        let expected: i64 = order["refunds"][0]["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["kind"] == "refund" && t["status"] == "success")
            .map(|t| {
                Money::parse(t["amount"].as_str().unwrap(), currency)
                    .unwrap()
                    .minor
            })
            .sum();
        assert_eq!(r.amount, Money::new(expected, currency));
        assert_eq!(r.reason.as_deref(), Some("damaged"));
    }

    #[test]
    fn shopify_refund_states_follow_the_transactions() {
        let order = json!({
            "id": 1, "currency": "USD", "updated_at": "2026-11-05T08:30:00Z",
            "refunds": [
                {"id": 10, "created_at": "2026-11-05T08:00:00Z", "transactions": [
                    {"kind": "refund", "status": "pending", "amount": "5.00"}]},
                {"id": 11, "created_at": "2026-11-05T08:00:00Z", "transactions": [
                    {"kind": "refund", "status": "failure", "amount": "5.00"}]},
                {"id": 12, "created_at": "2026-11-05T08:00:00Z", "transactions": []}
            ]
        });
        let states: Vec<_> = refunds_in_order(Platform::Shopify, &order)
            .unwrap()
            .into_iter()
            .map(|r| (r.state, r.amount.minor))
            .collect();
        assert_eq!(
            states,
            [
                (RefundState::Requested, 0),
                (RefundState::Closed, 0),
                (RefundState::Refunded, 0)
            ]
        );
    }

    #[test]
    fn woocommerce_refunds_turn_negative_totals_positive() {
        let order = fixture("woocommerce/completed-partial-refund.json");
        let refunds = refunds_in_order(Platform::Woocommerce, &order).unwrap();
        let raws = order["refunds"].as_array().unwrap();
        assert_eq!(refunds.len(), raws.len());
        assert!(!refunds.is_empty());
        let currency = Currency::new(order["currency"].as_str().unwrap()).unwrap();
        for (r, raw) in refunds.iter().zip(raws) {
            let total = Money::parse(raw["total"].as_str().unwrap(), currency).unwrap();
            assert!(total.minor < 0);
            assert_eq!(r.amount.minor, -total.minor);
            assert_eq!(r.state, RefundState::Refunded);
            assert_eq!(r.refund_id.as_str(), raw["id"].to_string());
        }
        let mut bad = order.clone();
        bad["refunds"][0]["total"] = json!(-5);
        assert_eq!(
            refunds_in_order(Platform::Woocommerce, &bad)
                .unwrap_err()
                .field,
            "refunds[0].total"
        );
    }

    #[test]
    fn taobao_and_jd_orders_carry_no_refunds() {
        let order = fixture("jd/cod-shipped.json");
        assert!(refunds_in_order(Platform::Jd, &order).unwrap().is_empty());
    }
}
