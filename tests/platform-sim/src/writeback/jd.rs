//! JD `jingdong.pop.order.shipment` (`orderId`, `logiCoprId`, `logiNo` in `360buy_param_json`):
//! whole orders. Answers `jingdong_pop_order_shipment_responce.sopjosshipment_result`
//! (`success`, `errorCode`, `chineseErrCode`, `englishErrCode`; JD's response shape per the
//! reference's unverified notes), or JD's `error_response`.

use super::{Parcel, Refusal, Shipped};
use crate::ShopSpec;
use crate::faults::RequestFault;
use crate::jd::{error, invalid};
use crate::server::slow;
use crate::state::Sim;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

fn text(b: &Map<String, Value>, name: &str) -> Option<String> {
    match b.get(name)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn result(success: bool, code: &str, zh: &str, en: &str) -> Response {
    Json(json!({"jingdong_pop_order_shipment_responce": {
        "code": "0",
        "sopjosshipment_result": {
            "success": success,
            "errorCode": code,
            "chineseErrCode": zh,
            "englishErrCode": en,
        },
    }}))
    .into_response()
}

/// Handles one call; `Err` is a bad request (counted by the caller).
pub(crate) async fn shipment(
    sim: &Sim,
    spec: &ShopSpec,
    business: &Map<String, Value>,
) -> Result<Response, Response> {
    let digits = |name: &str| -> Result<String, Response> {
        let v = text(business, name).ok_or_else(|| invalid(&format!("{name} is missing")))?;
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(&format!("{name} must be digits")));
        }
        Ok(v)
    };
    let order_id = digits("orderId")?;
    let logi_copr_id = digits("logiCoprId")?;
    let logi_no = text(business, "logiNo").ok_or_else(|| invalid("logiNo is missing"))?;

    match sim.roll_fault(&spec.key) {
        Some(RequestFault::RateLimited) => {
            return Ok(error(
                "67",
                "调用次数超限",
                "Call frequency exceeded, retry after 1 seconds",
            ));
        }
        Some(RequestFault::ServerError) => {
            return Ok((StatusCode::SERVICE_UNAVAILABLE, "503 Service Unavailable").into_response());
        }
        Some(RequestFault::Slow(ms)) => slow(ms).await,
        None => {}
    }

    let parcel = Parcel {
        carrier: logi_copr_id,
        carrier_name: None,
        tracking_no: logi_no,
        lines: Vec::new(),
    };
    let Some(shipped) = sim.ship_and_record(&spec.key, &order_id, parcel) else {
        return Ok(error("19", "无效的access_token", "Invalid access_token"));
    };
    Ok(match shipped {
        Shipped::Lines(_) => result(true, "", "成功", "success"),
        Shipped::Already => result(false, "10400005", "订单已出库", "order already shipped"),
        Shipped::Refused(Refusal::NotFound) => {
            result(false, "10400001", "订单不存在", "order not found")
        }
        Shipped::Refused(Refusal::NotPaid) => {
            result(false, "10400002", "订单未付款", "order not paid")
        }
        Shipped::Refused(Refusal::Closed) => {
            result(false, "10400003", "订单已取消", "order cancelled")
        }
        Shipped::Refused(Refusal::Held) => result(
            false,
            "10400004",
            "订单已暂停或锁定",
            "order paused or locked",
        ),
        Shipped::Refused(Refusal::UnknownLine(_)) | Shipped::Refused(Refusal::TooManyParcels) => {
            result(false, "10400006", "发货失败", "shipment refused")
        }
    })
}

/// The last parcel as the order's `waybill` and `logisticsId`.
pub(super) fn decorate(parcels: &[Parcel], raw: &mut Value) {
    if let Some(last) = parcels.last() {
        raw["waybill"] = json!(last.tracking_no);
        raw["logisticsId"] = json!(last.carrier);
    }
}
