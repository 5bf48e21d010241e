//! Taobao/Tmall `taobao.logistics.offline.send` (自己联系物流): `tid`, `out_sid`,
//! `company_code`, and `sub_tid` with `is_split=1` for some sub-orders. Answers
//! `logistics_offline_send_response.shipping.is_success`, or TOP's `error_response`.

use super::{Parcel, Refusal, Shipped};
use crate::ShopSpec;
use crate::faults::RequestFault;
use crate::server::slow;
use crate::state::Sim;
use crate::taobao::{error, invalid, missing};
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::BTreeMap;

/// A refusal of the logistics service: code 15 with an `isv.*` sub-code (the caller's error).
fn refused(what: &str, sub_msg: &str) -> Response {
    error(
        15,
        "Remote service error",
        &format!("isv.logistics-offline-service-error:{what}"),
        sub_msg,
    )
}

/// Handles one call; `Err` is a bad request (counted by the caller).
pub(crate) async fn offline_send(
    sim: &Sim,
    spec: &ShopSpec,
    p: &BTreeMap<String, String>,
) -> Result<Response, Response> {
    let get = |name: &str| -> Result<&str, Response> {
        p.get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| missing(name))
    };
    let tid = get("tid")?;
    if !tid.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("tid", "tid must be a number"));
    }
    let out_sid = get("out_sid")?;
    let company_code = get("company_code")?;
    if !company_code
        .bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(invalid("company_code", "unknown company_code"));
    }
    let sub_tids: Vec<String> = match p.get("sub_tid").filter(|s| !s.trim().is_empty()) {
        None => Vec::new(),
        Some(list) => {
            let oids: Vec<String> = list.split(',').map(|s| s.trim().to_owned()).collect();
            if oids
                .iter()
                .any(|o| o.is_empty() || !o.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(invalid(
                    "sub_tid",
                    "sub_tid must be numbers separated by commas",
                ));
            }
            if p.get("is_split").map(String::as_str) != Some("1") {
                return Err(invalid("is_split", "sub_tid needs is_split=1"));
            }
            oids
        }
    };

    match sim.roll_fault(&spec.key) {
        Some(RequestFault::RateLimited) => {
            return Ok(error(
                7,
                "App Call Limited",
                "accesscontrol.limited-by-app-access-count",
                "This ban will last for 1 more seconds",
            ));
        }
        Some(RequestFault::ServerError) => {
            return Ok((StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response());
        }
        Some(RequestFault::Slow(ms)) => slow(ms).await,
        None => {}
    }

    let cod = {
        let state = sim.lock();
        state
            .shop(&spec.key)
            .and_then(|shop| super::find(shop, tid).map(|i| &shop.orders[i]))
            .is_some_and(|o| o.cod)
    };
    let parcel = Parcel {
        carrier: company_code.to_owned(),
        carrier_name: None,
        tracking_no: out_sid.to_owned(),
        lines: sub_tids,
    };
    if cod {
        // Not for cash-on-delivery trades (reference §1.7): recorded, refused.
        sim.refuse_and_record(&spec.key, tid, &parcel, "cash on delivery trade");
        return Ok(refused(
            "COD",
            "货到付款订单不能使用自己联系物流发货 (cash on delivery trades cannot be shipped offline)",
        ));
    }
    let Some(shipped) = sim.ship_and_record(&spec.key, tid, parcel) else {
        return Ok(error(
            27,
            "Invalid session",
            "invalid-sessionkey",
            "the shop is gone",
        ));
    };
    Ok(match shipped {
        Shipped::Lines(_) => Json(json!({"logistics_offline_send_response": {
            "shipping": {"is_success": true},
            "request_id": format!("sim-{}", sim.stats().requests),
        }}))
        .into_response(),
        Shipped::Already => refused(
            "ALREADY_SENT",
            "订单已发货，不能重复发货 (the trade has already been consigned)",
        ),
        Shipped::Refused(Refusal::NotFound) => {
            refused("TRADE_NOT_EXIST", "交易不存在 (no such trade)")
        }
        Shipped::Refused(Refusal::NotPaid) => {
            refused("NOT_PAID", "买家未付款，不能发货 (the buyer has not paid)")
        }
        Shipped::Refused(Refusal::Held) => refused(
            "FORBID_CONSIGN",
            "交易禁止发货 (the trade may not be consigned)",
        ),
        Shipped::Refused(Refusal::Closed) => {
            refused("TRADE_CLOSED", "交易已关闭，不能发货 (the trade is closed)")
        }
        Shipped::Refused(Refusal::UnknownLine(oid)) => {
            invalid("sub_tid", &format!("sub order {oid} is not in trade {tid}"))
        }
        Shipped::Refused(Refusal::TooManyParcels) => {
            refused("TOO_MANY_PACKAGES", "包裹数超过上限 (too many parcels)")
        }
    })
}
