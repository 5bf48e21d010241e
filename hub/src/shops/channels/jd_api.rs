//! JD POP: `POST {base}/routerjson`, form-encoded, the business parameters as one JSON string in
//! `360buy_param_json`, signed with MD5 over the sorted parameters. Orders from
//! `jingdong.pop.order.search` (by modified time, ≤ 1 day, paged by `page` against `orderTotal`),
//! refunds from `jingdong.pop.afs.soa.refundapply.queryPageList` (by `checkTime`, paged by
//! `pageIndex` against `totalCount`). Errors come as `error_response` with HTTP 200; JD spells
//! its success keys `…_responce`. Tracking is written back with `jingdong.pop.order.shipment`
//! (`orderId`, `logiCoprId`, `logiNo`): whole orders only.

use super::carriers::PlatformCarrier;
use super::client::{
    BoxFuture, Channel, ChannelConfig, ChannelStats, FetchError, Page, PageCursor, WebhookRefusal,
    Window,
};
use super::http::{Http, Limiter, Reply, now_millis};
use super::reason::{FIELD_CHARS_MAX, json_error, sanitize};
use super::refunds::parse_jd_refund;
use super::sign::{Params, md5_sign};
use super::taobao_api::{next_page, number_after, page_number};
use super::wire::{beijing, bounds_seconds, capture_orders, capture_refund, check_span, envelope};
use super::writeback::{ShipmentWriteBack, WriteBackAnswer, says_already_shipped};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;
use xt_shared::order::Platform;

pub const ORDERS_METHOD: &str = "jingdong.pop.order.search";
pub const REFUNDS_METHOD: &str = "jingdong.pop.afs.soa.refundapply.queryPageList";
const ORDERS_RESPONSE: &str = "jingdong_pop_order_search_responce";
const REFUNDS_RESPONSE: &str = "jingdong_pop_afs_soa_refundapply_queryPageList_responce";
pub const SHIPMENT_METHOD: &str = "jingdong.pop.order.shipment";
const SHIPMENT_RESPONSE: &str = "jingdong_pop_order_shipment_responce";
const ORDERS_PAGE_SIZE: u64 = 100;
const REFUNDS_PAGE_SIZE: u64 = 50;
const WINDOW_SECONDS_MAX: i64 = 24 * 3600;
const LIMIT_DEFAULT: Duration = Duration::from_secs(1);

/// Every order state (reference §2.3), so a search by modified time misses none.
pub const ORDER_STATES: &str = "WAIT_SELLER_STOCK_OUT,SEND_TO_DISTRIBUTION_CENER,\
DISTRIBUTION_CENTER_RECEIVED,WAIT_GOODS_RECEIVE_CONFIRM,RECEIPTS_CONFIRM,WAIT_SELLER_DELIVERY,\
FINISHED_L,TRADE_CANCELED,LOCKED,PAUSE,POP_ORDER_PAUSE";

/// The order fields the order parser reads.
pub const OPTIONAL_FIELDS: &str = "orderId,payType,orderTotalPrice,orderPayment,freightPrice,\
sellerDiscount,orderState,orderStartTime,paymentConfirmTime,modified,pin,open_id_buyer,\
consigneeInfo,itemInfoList,couponDetailList,orderRemark,venderRemark";

pub struct JdChannel {
    url: String,
    app_key: String,
    app_secret: String,
    access_token: String,
    http: Http,
    orders: Limiter,
    refunds: Limiter,
    shipments: Limiter,
}

impl JdChannel {
    pub(crate) fn new(
        base: &str,
        app_key: &str,
        app_secret: String,
        access_token: String,
        config: ChannelConfig,
    ) -> Result<Self, FetchError> {
        let http = Http::new(Platform::Jd, config)?;
        Ok(JdChannel {
            url: format!("{base}/routerjson"),
            app_key: app_key.to_owned(),
            app_secret,
            access_token,
            orders: http.limiter(),
            refunds: http.limiter(),
            shipments: http.limiter(),
            http,
        })
    }

    /// The signed form of one call, with a fresh timestamp.
    fn signed(&self, method: &str, business: &Value) -> Result<Params, FetchError> {
        let mut params = Params::new();
        for (k, v) in [
            ("method", method.to_owned()),
            ("app_key", self.app_key.clone()),
            ("access_token", self.access_token.clone()),
            ("timestamp", beijing(now_millis().0.div_euclid(1000))?),
            ("v", "2.0".to_owned()),
            ("360buy_param_json", business.to_string()),
        ] {
            params.insert(k.to_owned(), v);
        }
        let sign = md5_sign(&params, &self.app_secret);
        params.insert("sign".to_owned(), sign);
        Ok(params)
    }

    async fn call<T>(
        &self,
        limiter: &Limiter,
        method: &str,
        business: &Value,
        interpret: impl Fn(&Reply) -> Result<T, FetchError>,
    ) -> Result<T, FetchError> {
        self.http
            .call(
                limiter,
                || {
                    let form = self.signed(method, business)?;
                    Ok(self.http.client().post(&self.url).form(&form))
                },
                interpret,
            )
            .await
    }
}

impl Channel for JdChannel {
    fn platform(&self) -> Platform {
        Platform::Jd
    }

    fn max_window(&self) -> Duration {
        Duration::from_secs(WINDOW_SECONDS_MAX as u64)
    }

    fn fetch_orders<'a>(
        &'a self,
        w: &'a Window,
        cursor: Option<&'a PageCursor>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(async move {
            let bounds = bounds_seconds(w)?;
            check_span(Platform::Jd, bounds, WINDOW_SECONDS_MAX)?;
            let page = page_number(cursor)?;
            let business = json!({
                "start_date": beijing(bounds.0)?,
                "end_date": beijing(bounds.1)?,
                "dateType": "0",
                "order_state": ORDER_STATES,
                "optional_fields": OPTIONAL_FIELDS,
                "page": page.to_string(),
                "page_size": ORDERS_PAGE_SIZE.to_string(),
            });
            let (raws, total) = self
                .call(&self.orders, ORDERS_METHOD, &business, read_orders)
                .await?;
            let more = u64::from(page) * ORDERS_PAGE_SIZE < total;
            Ok(Page {
                next: next_page(page, more, raws.is_empty()),
                items: capture_orders(Platform::Jd, &raws),
            })
        })
    }

    fn fetch_refunds<'a>(
        &'a self,
        w: &'a Window,
        cursor: Option<&'a PageCursor>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(async move {
            let bounds = bounds_seconds(w)?;
            check_span(Platform::Jd, bounds, WINDOW_SECONDS_MAX)?;
            let page = page_number(cursor)?;
            let business = json!({
                "checkTimeStart": beijing(bounds.0)?,
                "checkTimeEnd": beijing(bounds.1)?,
                "pageIndex": page.to_string(),
                "pageSize": REFUNDS_PAGE_SIZE.to_string(),
            });
            let (raws, total) = self
                .call(&self.refunds, REFUNDS_METHOD, &business, read_refunds)
                .await?;
            let more = u64::from(page) * REFUNDS_PAGE_SIZE < total;
            Ok(Page {
                next: next_page(page, more, raws.is_empty()),
                items: raws
                    .iter()
                    .map(|raw| capture_refund(raw.get(), "orderId", parse_jd_refund))
                    .collect(),
            })
        })
    }

    fn verify_webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookRefusal> {
        super::webhook::verify(Platform::Jd, None, headers, body)
    }

    fn send_shipment<'a>(
        &'a self,
        shipment: &'a ShipmentWriteBack,
        carrier: &'a PlatformCarrier,
    ) -> BoxFuture<'a, Result<WriteBackAnswer, FetchError>> {
        Box::pin(async move {
            if shipment.lines().is_some() {
                return Ok(WriteBackAnswer::Permanent(
                    "jd ships whole orders only".to_owned(),
                ));
            }
            let business = shipment_business(shipment, carrier);
            self.call(&self.shipments, SHIPMENT_METHOD, &business, shipment_answer)
                .await
        })
    }

    fn stats(&self) -> ChannelStats {
        self.http.stats()
    }
}

/// The business parameters of `jingdong.pop.order.shipment` (every value a string, like JD's).
pub(crate) fn shipment_business(shipment: &ShipmentWriteBack, carrier: &PlatformCarrier) -> Value {
    json!({
        "orderId": shipment.order_no().as_str(),
        "logiCoprId": carrier.code,
        "logiNo": shipment.tracking_no(),
    })
}

#[derive(Deserialize)]
struct ShipmentReply {
    sopjosshipment_result: Option<OperatorResult>,
}

#[derive(Deserialize)]
struct OperatorResult {
    success: Option<bool>,
    #[serde(rename = "errorCode", default)]
    error_code: Option<Value>,
    #[serde(rename = "chineseErrCode", default)]
    chinese_err_code: Option<String>,
    #[serde(rename = "englishErrCode", default)]
    english_err_code: Option<String>,
}

/// Reads the answer to `jingdong.pop.order.shipment`: `sopjosshipment_result.success`, its
/// error texts when false (an order already out of the warehouse is [`AlreadyShipped`], any other
/// refusal permanent), or the `error_response` (credentials and rate limits as errors; one that
/// says "already shipped" is an acknowledgement too).
///
/// [`AlreadyShipped`]: WriteBackAnswer::AlreadyShipped
pub(crate) fn shipment_answer(reply: &Reply) -> Result<WriteBackAnswer, FetchError> {
    let mut top: HashMap<String, Box<RawValue>> = envelope(Platform::Jd, &reply.body)?;
    if let Some(error) = top.get("error_response") {
        let error: JdError = serde_json::from_str(error.get()).map_err(|e| {
            broken(&format!(
                "has an unreadable error_response ({})",
                json_error(&e)
            ))
        })?;
        if says_already_shipped(
            [&error.zh_desc, &error.en_desc]
                .into_iter()
                .flatten()
                .map(String::as_str),
        ) {
            return Ok(WriteBackAnswer::AlreadyShipped);
        }
        return match jd_error(error) {
            FetchError::Fatal(text) => Ok(WriteBackAnswer::Permanent(text)),
            other => Err(other),
        };
    }
    let raw = top
        .remove(SHIPMENT_RESPONSE)
        .ok_or_else(|| broken(&format!("has no {SHIPMENT_RESPONSE}")))?;
    let reply: ShipmentReply = serde_json::from_str(raw.get()).map_err(|e| {
        broken(&format!(
            "{SHIPMENT_RESPONSE} is unreadable ({})",
            json_error(&e)
        ))
    })?;
    let result = reply
        .sopjosshipment_result
        .ok_or_else(|| broken("has no sopjosshipment_result"))?;
    match result.success {
        Some(true) => Ok(WriteBackAnswer::Acknowledged),
        Some(false) => {
            let zh = result.chinese_err_code.unwrap_or_default();
            let en = result.english_err_code.unwrap_or_default();
            if says_already_shipped([zh.as_str(), en.as_str()]) {
                return Ok(WriteBackAnswer::AlreadyShipped);
            }
            let code = match result.error_code {
                Some(Value::String(s)) => s,
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            Ok(WriteBackAnswer::Permanent(format!(
                "jd shipment refused {}: {} ({})",
                sanitize(&code, FIELD_CHARS_MAX),
                sanitize(&en, FIELD_CHARS_MAX),
                sanitize(&zh, FIELD_CHARS_MAX)
            )))
        }
        None => Err(broken("sopjosshipment_result has no success")),
    }
}

#[derive(Deserialize)]
struct JdError {
    code: Value,
    #[serde(default)]
    zh_desc: Option<String>,
    #[serde(default)]
    en_desc: Option<String>,
}

#[derive(Deserialize)]
struct OrderSearch {
    searchorderinfo_result: Option<SearchResult>,
}

#[derive(Deserialize)]
struct SearchResult {
    #[serde(rename = "apiResult")]
    api_result: Option<ApiResult>,
    #[serde(rename = "orderInfoList", default)]
    order_info_list: Option<Vec<Box<RawValue>>>,
    #[serde(rename = "orderTotal", default)]
    order_total: Option<Value>,
}

#[derive(Deserialize)]
struct ApiResult {
    success: Option<bool>,
    #[serde(rename = "englishErrCode")]
    english_err_code: Option<String>,
    #[serde(rename = "resultCode")]
    result_code: Option<Value>,
}

#[derive(Deserialize)]
struct RefundQuery {
    #[serde(rename = "queryResult")]
    query_result: Option<QueryResult>,
}

#[derive(Deserialize)]
struct QueryResult {
    success: Option<bool>,
    #[serde(default)]
    result: Option<Vec<Box<RawValue>>>,
    #[serde(rename = "totalCount", default)]
    total_count: Option<Value>,
}

/// The response object under `key`, or the `error_response` as an error.
fn response(reply: &Reply, key: &str) -> Result<Box<RawValue>, FetchError> {
    let mut top: HashMap<String, Box<RawValue>> = envelope(Platform::Jd, &reply.body)?;
    if let Some(error) = top.get("error_response") {
        let error: JdError = serde_json::from_str(error.get()).map_err(|e| {
            FetchError::Transient(format!(
                "jd response has an unreadable error_response ({})",
                json_error(&e)
            ))
        })?;
        return Err(jd_error(error));
    }
    top.remove(key)
        .ok_or_else(|| FetchError::Transient(format!("jd response has no {key}")))
}

fn broken(what: &str) -> FetchError {
    FetchError::Transient(format!("jd response {what}"))
}

fn read_orders(reply: &Reply) -> Result<(Vec<Box<RawValue>>, u64), FetchError> {
    let raw = response(reply, ORDERS_RESPONSE)?;
    let search: OrderSearch = serde_json::from_str(raw.get()).map_err(|e| {
        broken(&format!(
            "{ORDERS_RESPONSE} is unreadable ({})",
            json_error(&e)
        ))
    })?;
    let result = search
        .searchorderinfo_result
        .ok_or_else(|| broken("has no searchorderinfo_result"))?;
    if let Some(api) = &result.api_result
        && api.success == Some(false)
    {
        return Err(FetchError::Transient(format!(
            "jd order search failed: {} {}",
            sanitize(
                &api.result_code.clone().unwrap_or_default().to_string(),
                FIELD_CHARS_MAX
            ),
            sanitize(
                api.english_err_code.as_deref().unwrap_or(""),
                FIELD_CHARS_MAX
            )
        )));
    }
    let total =
        count(result.order_total.as_ref()).ok_or_else(|| broken("orderTotal is not a count"))?;
    Ok((result.order_info_list.unwrap_or_default(), total))
}

fn read_refunds(reply: &Reply) -> Result<(Vec<Box<RawValue>>, u64), FetchError> {
    let raw = response(reply, REFUNDS_RESPONSE)?;
    let query: RefundQuery = serde_json::from_str(raw.get()).map_err(|e| {
        broken(&format!(
            "{REFUNDS_RESPONSE} is unreadable ({})",
            json_error(&e)
        ))
    })?;
    let result = query
        .query_result
        .ok_or_else(|| broken("has no queryResult"))?;
    if result.success == Some(false) {
        return Err(broken("says queryResult.success false"));
    }
    let total =
        count(result.total_count.as_ref()).ok_or_else(|| broken("totalCount is not a count"))?;
    Ok((result.result.unwrap_or_default(), total))
}

/// A count as a JSON integer or a digit string; absent is 0.
fn count(v: Option<&Value>) -> Option<u64> {
    match v {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    }
}

/// JD error codes (wire contract): 19 token expired, 17 bad signature, 67 rate limited.
fn jd_error(e: JdError) -> FetchError {
    let code = match &e.code {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    // The platform's own fields, each sanitized and cut short: a message may echo a parameter.
    let text = format!(
        "jd error {}: {} ({})",
        sanitize(&code, FIELD_CHARS_MAX),
        sanitize(e.en_desc.as_deref().unwrap_or(""), FIELD_CHARS_MAX),
        sanitize(e.zh_desc.as_deref().unwrap_or(""), FIELD_CHARS_MAX)
    );
    match code.as_str() {
        "19" => FetchError::TokenExpired(text),
        "17" => FetchError::Auth(text),
        "67" => FetchError::RateLimited {
            retry_after: e
                .en_desc
                .as_deref()
                .and_then(|m| number_after(m, "after"))
                .unwrap_or(LIMIT_DEFAULT),
        },
        _ => FetchError::Fatal(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn reply(body: &str) -> Reply {
        Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn order_search_envelope() {
        let (items, total) = read_orders(&reply(
            r#"{"jingdong_pop_order_search_responce":{"code":"0","searchorderinfo_result":{"apiResult":{"success":true,"resultCode":"0","chineseErrCode":"成功","englishErrCode":"success"},"orderInfoList":[{"orderId":"1"}],"orderTotal":101}}}"#,
        ))
        .unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(total, 101);
        assert!(matches!(
            read_orders(&reply(r#"{"jingdong_pop_order_search_response":{}}"#)),
            Err(FetchError::Transient(_))
        ));
    }

    #[test]
    fn refund_envelope() {
        let (items, total) = read_refunds(&reply(
            r#"{"jingdong_pop_afs_soa_refundapply_queryPageList_responce":{"code":"0","queryResult":{"success":true,"result":[{"id":1},{"id":2}],"totalCount":"2"}}}"#,
        ))
        .unwrap();
        assert_eq!((items.len(), total), (2, 2));
    }

    #[test]
    fn shipment_requests_match_the_fixtures() {
        use crate::shops::channels::carriers::carrier_for;
        use crate::shops::channels::writeback::fixtures;
        for case in fixtures::cases("jd", "requests.json") {
            let shipment = fixtures::shipment(&case);
            let carrier = carrier_for(Platform::Jd, shipment.carrier()).unwrap();
            let business = shipment_business(&shipment, &carrier);
            assert_eq!(business, case["360buy_param_json"], "{}", case["name"]);
        }
    }

    #[test]
    fn shipment_answers_match_the_fixtures() {
        crate::shops::channels::writeback::fixtures::check_answers("jd", shipment_answer);
    }

    #[test]
    fn error_codes_map_to_fetch_errors() {
        let err = |code: &str, en: &str| {
            read_orders(&reply(&format!(
                r#"{{"error_response":{{"code":"{code}","zh_desc":"z","en_desc":"{en}"}}}}"#
            )))
            .unwrap_err()
        };
        assert!(matches!(
            err("19", "Invalid access_token"),
            FetchError::TokenExpired(_)
        ));
        assert!(matches!(err("17", "sign"), FetchError::Auth(_)));
        assert_eq!(
            err("67", "Call frequency exceeded, retry after 3 seconds"),
            FetchError::RateLimited {
                retry_after: Duration::from_secs(3)
            }
        );
        assert!(matches!(err("1", "x"), FetchError::Fatal(_)));
    }
}
