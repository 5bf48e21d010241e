//! Taobao / Tmall TOP: `POST {base}/router/rest`, form-encoded, signed with MD5 over the sorted
//! parameters. Orders from `taobao.trades.sold.increment.get`, refunds from
//! `taobao.refunds.receive.get`, both by modified time (≤ 1 day), paged with `page_no` and
//! `has_next`. Errors come as `error_response` with HTTP 200. Tracking is written back with
//! `taobao.logistics.offline.send` (`tid`, `out_sid`, `company_code`; `sub_tid` and `is_split=1`
//! for some lines only).

use super::carriers::PlatformCarrier;
use super::client::{
    BoxFuture, Captured, Channel, ChannelConfig, ChannelStats, FetchError, Page, PageCursor,
    WebhookRefusal, Window,
};
use super::http::{Http, Limiter, Reply, now_millis, seconds};
use super::reason::{FIELD_CHARS_MAX, json_error, sanitize};
use super::refunds::parse_taobao_refund;
use super::sign::{Params, md5_sign};
use super::wire::{beijing, bounds_seconds, capture_orders, capture_refund, check_span, envelope};
use super::writeback::{ShipmentWriteBack, WriteBackAnswer, says_already_shipped};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::time::Duration;
use xt_shared::order::Platform;

pub const ORDERS_METHOD: &str = "taobao.trades.sold.increment.get";
pub const REFUNDS_METHOD: &str = "taobao.refunds.receive.get";
const ORDERS_RESPONSE: &str = "trades_sold_increment_get_response";
const REFUNDS_RESPONSE: &str = "refunds_receive_get_response";
pub const SHIPMENT_METHOD: &str = "taobao.logistics.offline.send";
const SHIPMENT_RESPONSE: &str = "logistics_offline_send_response";
const PAGE_SIZE: u32 = 100;
const WINDOW_SECONDS_MAX: i64 = 24 * 3600;
/// How long to wait when code 7 does not say.
const BAN_DEFAULT: Duration = Duration::from_secs(1);

/// The trade fields the order parser reads (`orders` brings the sub-orders).
pub const TRADE_FIELDS: &str = "tid,tid_str,status,type,step_trade_status,cod,seller_type,\
buyer_nick,buyer_open_uid,buyer_message,buyer_memo,seller_memo,total_fee,payment,discount_fee,\
post_fee,created,pay_time,modified,receiver_name,receiver_mobile,receiver_phone,receiver_country,\
receiver_state,receiver_city,receiver_district,receiver_town,receiver_address,receiver_zip,orders";

/// The refund fields the refund parser reads, and the ones kept for audit.
pub const REFUND_FIELDS: &str = "refund_id,tid,oid,total_fee,refund_fee,payment,status,reason,\
created,modified,order_status,good_status,has_good_return,refund_phase";

pub struct TaobaoChannel {
    platform: Platform,
    url: String,
    app_key: String,
    app_secret: String,
    session: String,
    http: Http,
    orders: Limiter,
    refunds: Limiter,
    shipments: Limiter,
}

impl TaobaoChannel {
    pub(crate) fn new(
        platform: Platform,
        base: &str,
        app_key: &str,
        app_secret: String,
        session: String,
        config: ChannelConfig,
    ) -> Result<Self, FetchError> {
        let http = Http::new(platform, config)?;
        Ok(TaobaoChannel {
            platform,
            url: format!("{base}/router/rest"),
            app_key: app_key.to_owned(),
            app_secret,
            session,
            orders: http.limiter(),
            refunds: http.limiter(),
            shipments: http.limiter(),
            http,
        })
    }

    /// The signed form of one call, with a fresh timestamp.
    fn signed(&self, method: &str, business: &[(&str, String)]) -> Result<Params, FetchError> {
        let mut params: Params = business
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        for (k, v) in [
            ("method", method.to_owned()),
            ("app_key", self.app_key.clone()),
            ("session", self.session.clone()),
            ("timestamp", beijing(now_millis().0.div_euclid(1000))?),
            ("format", "json".to_owned()),
            ("v", "2.0".to_owned()),
            ("sign_method", "md5".to_owned()),
        ] {
            params.insert(k.to_owned(), v);
        }
        let sign = md5_sign(&params, &self.app_secret);
        params.insert("sign".to_owned(), sign);
        Ok(params)
    }

    /// One page of a `*.get` list call, walked from the last page back ([`PageCursor::Back`]):
    /// the items and the cursor of the next page to read.
    async fn list(
        &self,
        limiter: &Limiter,
        method: &str,
        fields: &str,
        w: &Window,
        cursor: Option<&PageCursor>,
        (response_key, list_key, item_key): (&str, &str, &str),
    ) -> Result<(Option<PageCursor>, Vec<Box<RawValue>>), FetchError> {
        let bounds = bounds_seconds(w)?;
        check_span(self.platform, bounds, WINDOW_SECONDS_MAX)?;
        let page_no = match cursor {
            Some(PageCursor::Back(n)) if *n >= 1 => *n,
            other => page_number(other)?,
        };
        // Without `use_has_next` the platform counts the window (`total_results`): the walk
        // back starts from the last page it makes.
        let business = [
            ("fields", fields.to_owned()),
            ("start_modified", beijing(bounds.0)?),
            ("end_modified", beijing(bounds.1)?),
            ("page_no", page_no.to_string()),
            ("page_size", PAGE_SIZE.to_string()),
        ];
        let (listed, items) = self
            .http
            .call(
                limiter,
                || {
                    let form = self.signed(method, &business)?;
                    Ok(self.http.client().post(&self.url).form(&form))
                },
                |reply| top_list(self.platform, reply, response_key, list_key, item_key),
            )
            .await?;
        Ok((walk_back(cursor, page_no, listed, items.is_empty()), items))
    }
}

impl Channel for TaobaoChannel {
    fn platform(&self) -> Platform {
        self.platform
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
            let keys = (ORDERS_RESPONSE, "trades", "trade");
            let (next, raws) = self
                .list(&self.orders, ORDERS_METHOD, TRADE_FIELDS, w, cursor, keys)
                .await?;
            Ok(Page {
                next,
                items: capture_orders(self.platform, &raws),
            })
        })
    }

    fn fetch_refunds<'a>(
        &'a self,
        w: &'a Window,
        cursor: Option<&'a PageCursor>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(async move {
            let keys = (REFUNDS_RESPONSE, "refunds", "refund");
            let (next, raws) = self
                .list(
                    &self.refunds,
                    REFUNDS_METHOD,
                    REFUND_FIELDS,
                    w,
                    cursor,
                    keys,
                )
                .await?;
            let items: Vec<Captured> = raws
                .iter()
                .map(|raw| capture_refund(raw.get(), "tid", parse_taobao_refund))
                .collect();
            Ok(Page { next, items })
        })
    }

    fn verify_webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookRefusal> {
        super::webhook::verify(self.platform, None, headers, body)
    }

    fn send_shipment<'a>(
        &'a self,
        shipment: &'a ShipmentWriteBack,
        carrier: &'a PlatformCarrier,
    ) -> BoxFuture<'a, Result<WriteBackAnswer, FetchError>> {
        Box::pin(async move {
            let business = shipment_params(shipment, carrier);
            self.http
                .call(
                    &self.shipments,
                    || {
                        let form = self.signed(SHIPMENT_METHOD, &business)?;
                        Ok(self.http.client().post(&self.url).form(&form))
                    },
                    |reply| shipment_answer(self.platform, reply),
                )
                .await
        })
    }

    fn stats(&self) -> ChannelStats {
        self.http.stats()
    }
}

/// The business parameters of `taobao.logistics.offline.send` (自己联系物流): the whole trade, or
/// the sub-orders (`oid`s) of a partial shipment as `sub_tid` with `is_split=1`.
pub(crate) fn shipment_params(
    shipment: &ShipmentWriteBack,
    carrier: &PlatformCarrier,
) -> Vec<(&'static str, String)> {
    let mut params = vec![
        ("tid", shipment.order_no().to_string()),
        ("out_sid", shipment.tracking_no().to_owned()),
        ("company_code", carrier.code.to_owned()),
    ];
    if let Some(lines) = shipment.lines() {
        let oids: Vec<&str> = lines.iter().map(|l| l.as_str()).collect();
        params.push(("sub_tid", oids.join(",")));
        params.push(("is_split", "1".to_owned()));
    }
    params
}

#[derive(Deserialize)]
struct ShipmentReply {
    shipping: Option<Shipping>,
}

#[derive(Deserialize)]
struct Shipping {
    is_success: Option<bool>,
}

/// Reads the answer to `taobao.logistics.offline.send`: `shipping.is_success`, or the
/// `error_response`. A refusal that says the trade already shipped is [`AlreadyShipped`]; a
/// business refusal (`isv.*`, whatever its code) is permanent, with TOP's message; rate limits,
/// credentials and `isp.*` go back to the HTTP layer as errors.
///
/// [`AlreadyShipped`]: WriteBackAnswer::AlreadyShipped
pub(crate) fn shipment_answer(
    platform: Platform,
    reply: &Reply,
) -> Result<WriteBackAnswer, FetchError> {
    let broken = |what: String| FetchError::Transient(format!("{platform} response {what}"));
    let top: HashMap<String, Box<RawValue>> = envelope(platform, &reply.body)?;
    if let Some(error) = top.get("error_response") {
        let error: TopError = serde_json::from_str(error.get()).map_err(|e| {
            broken(format!(
                "has an unreadable error_response ({})",
                json_error(&e)
            ))
        })?;
        let texts = [&error.msg, &error.sub_msg, &error.sub_code];
        if says_already_shipped(texts.iter().filter_map(|t| t.as_deref())) {
            return Ok(WriteBackAnswer::AlreadyShipped);
        }
        let isv = error
            .sub_code
            .as_deref()
            .is_some_and(|s| s.starts_with("isv."));
        return match top_error(error) {
            FetchError::Transient(text) | FetchError::Fatal(text) if isv => {
                Ok(WriteBackAnswer::Permanent(text))
            }
            other => Err(other),
        };
    }
    let response = top
        .get(SHIPMENT_RESPONSE)
        .ok_or_else(|| broken(format!("has no {SHIPMENT_RESPONSE}")))?;
    let response: ShipmentReply = serde_json::from_str(response.get()).map_err(|e| {
        broken(format!(
            "{SHIPMENT_RESPONSE} is unreadable ({})",
            json_error(&e)
        ))
    })?;
    match response.shipping.and_then(|s| s.is_success) {
        Some(true) => Ok(WriteBackAnswer::Acknowledged),
        Some(false) => Ok(WriteBackAnswer::Permanent(format!(
            "{platform} answered shipping.is_success false"
        ))),
        None => Err(broken(format!(
            "{SHIPMENT_RESPONSE} has no shipping.is_success"
        ))),
    }
}

/// The page a cursor names; the first page without one.
pub(crate) fn page_number(cursor: Option<&PageCursor>) -> Result<u32, FetchError> {
    match cursor {
        None => Ok(1),
        Some(PageCursor::Page(n)) if *n >= 1 => Ok(*n),
        Some(other) => Err(FetchError::Fatal(format!(
            "cursor {other:?} is not a page number"
        ))),
    }
}

/// What a TOP list page says of the window: how many rows it holds (`total_results`), or, when
/// the platform did not count, whether there are more (`has_next`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listed {
    Total(u64),
    HasNext(bool),
}

/// The page to read after page `page_no` of a walk back ([`PageCursor::Back`]): from the first
/// page (read for the count) to the last, then down to the first again. A platform that did
/// not count is walked forward ([`next_page`]).
pub(crate) fn walk_back(
    cursor: Option<&PageCursor>,
    page_no: u32,
    listed: Listed,
    empty: bool,
) -> Option<PageCursor> {
    match (cursor, listed) {
        (_, Listed::HasNext(more)) => next_page(page_no, more, empty),
        (None, Listed::Total(total)) => {
            let last = total.div_ceil(u64::from(PAGE_SIZE));
            (last > 1).then(|| PageCursor::Back(u32::try_from(last).unwrap_or(u32::MAX)))
        }
        (Some(PageCursor::Back(n)), Listed::Total(_)) => (*n > 1).then(|| PageCursor::Back(n - 1)),
        (Some(_), Listed::Total(total)) => next_page(
            page_no,
            u64::from(page_no) * u64::from(PAGE_SIZE) < total,
            empty,
        ),
    }
}

/// The next page, unless this one was the last (or empty: a platform saying "more" with an
/// empty page would otherwise loop forever).
pub(crate) fn next_page(page_no: u32, more: bool, empty: bool) -> Option<PageCursor> {
    (more && !empty).then(|| PageCursor::Page(page_no + 1))
}

#[derive(Deserialize)]
struct TopError {
    code: serde_json::Value,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    sub_code: Option<String>,
    #[serde(default)]
    sub_msg: Option<String>,
}

/// Reads one list response: `{response_key: {has_next, list_key: {item_key: [...]}}}`, or the
/// `error_response` as a [`FetchError`].
fn top_list(
    platform: Platform,
    reply: &Reply,
    response_key: &str,
    list_key: &str,
    item_key: &str,
) -> Result<(Listed, Vec<Box<RawValue>>), FetchError> {
    let broken = |what: String| FetchError::Transient(format!("{platform} response {what}"));
    let top: HashMap<String, Box<RawValue>> = envelope(platform, &reply.body)?;
    if let Some(error) = top.get("error_response") {
        let error: TopError = serde_json::from_str(error.get()).map_err(|e| {
            broken(format!(
                "has an unreadable error_response ({})",
                json_error(&e)
            ))
        })?;
        return Err(top_error(error));
    }
    let response = top
        .get(response_key)
        .ok_or_else(|| broken(format!("has no {response_key}")))?;
    let mut response: HashMap<String, Box<RawValue>> = serde_json::from_str(response.get())
        .map_err(|e| {
            broken(format!(
                "{response_key} is not an object ({})",
                json_error(&e)
            ))
        })?;
    let listed = match (response.get("total_results"), response.get("has_next")) {
        (Some(v), _) => Listed::Total(
            serde_json::from_str::<u64>(v.get())
                .map_err(|_| broken(format!("{response_key}.total_results is not a count")))?,
        ),
        (None, None) => Listed::HasNext(false),
        (None, Some(v)) => Listed::HasNext(
            serde_json::from_str::<bool>(v.get())
                .map_err(|_| broken(format!("{response_key}.has_next is not a boolean")))?,
        ),
    };
    let items = match response.remove(list_key) {
        None => Vec::new(),
        Some(list) => {
            let mut list: HashMap<String, Vec<Box<RawValue>>> = serde_json::from_str(list.get())
                .map_err(|e| {
                    broken(format!(
                        "{response_key}.{list_key} is not a list object ({})",
                        json_error(&e)
                    ))
                })?;
            list.remove(item_key).unwrap_or_default()
        }
    };
    Ok((listed, items))
}

/// TOP error codes (wire contract): 7 rate limited, 25 bad signature, 27 session expired,
/// 15 and `isp.*` transient; the rest (bad parameters, missing permissions) fatal.
fn top_error(e: TopError) -> FetchError {
    let code = match &e.code {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => s.parse().ok(),
        _ => None,
    };
    // The platform's own fields, each sanitized and cut short: a message may echo a parameter.
    let field = |f: &Option<String>| sanitize(f.as_deref().unwrap_or(""), FIELD_CHARS_MAX);
    let text = format!(
        "top error {}: {} ({}: {})",
        sanitize(&e.code.to_string(), FIELD_CHARS_MAX),
        field(&e.msg),
        field(&e.sub_code),
        field(&e.sub_msg)
    );
    let isp = e.sub_code.as_deref().is_some_and(|s| s.starts_with("isp."));
    match code {
        Some(7) => FetchError::RateLimited {
            retry_after: e
                .sub_msg
                .as_deref()
                .and_then(|m| number_after(m, "for"))
                .unwrap_or(BAN_DEFAULT),
        },
        Some(25) => FetchError::Auth(text),
        Some(27) => FetchError::TokenExpired(text),
        Some(15) => FetchError::Transient(text),
        _ if isp => FetchError::Transient(text),
        _ => FetchError::Fatal(text),
    }
}

/// The seconds after the word `word` in a platform's message ("This ban will last for 12 more
/// seconds", "retry after 3 seconds").
pub(crate) fn number_after(message: &str, word: &str) -> Option<Duration> {
    let words: Vec<&str> = message.split_whitespace().collect();
    words
        .windows(2)
        .find(|pair| pair[0].eq_ignore_ascii_case(word))
        .and_then(|pair| seconds(pair[1].trim_end_matches([',', '.'])))
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

    fn list(body: &str) -> Result<(Listed, Vec<Box<RawValue>>), FetchError> {
        top_list(
            Platform::Taobao,
            &reply(body),
            ORDERS_RESPONSE,
            "trades",
            "trade",
        )
    }

    #[test]
    fn envelopes_with_and_without_trades() {
        let (more, items) = list(
            r#"{"trades_sold_increment_get_response":{"has_next":true,"trades":{"trade":[{"tid":1},{"tid":2}]},"request_id":"r"}}"#,
        )
        .unwrap();
        assert_eq!(more, Listed::HasNext(true));
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].get(), r#"{"tid":2}"#);
        let (more, items) =
            list(r#"{"trades_sold_increment_get_response":{"has_next":false,"request_id":"r"}}"#)
                .unwrap();
        assert_eq!(more, Listed::HasNext(false));
        assert!(items.is_empty());
        // Counted (no `use_has_next`): the count rules.
        let (listed, _) = list(
            r#"{"trades_sold_increment_get_response":{"total_results":250,"trades":{"trade":[{"tid":1}]},"request_id":"r"}}"#,
        )
        .unwrap();
        assert_eq!(listed, Listed::Total(250));
    }

    #[test]
    fn broken_envelopes_are_transient() {
        for body in [
            "<html>",
            r#"{"other_response":{}}"#,
            r#"{"trades_sold_increment_get_response":{"has_next":"yes"}}"#,
            r#"{"trades_sold_increment_get_response":{"total_results":-1}}"#,
        ] {
            assert!(
                matches!(list(body), Err(FetchError::Transient(_))),
                "{body}"
            );
        }
    }

    #[test]
    fn error_codes_map_to_fetch_errors() {
        let err = |code: &str, sub_msg: &str| {
            list(&format!(
                r#"{{"error_response":{{"code":{code},"msg":"m","sub_code":"s","sub_msg":"{sub_msg}","request_id":"r"}}}}"#
            ))
            .unwrap_err()
        };
        assert_eq!(
            err("7", "This ban will last for 12 more seconds"),
            FetchError::RateLimited {
                retry_after: Duration::from_secs(12)
            }
        );
        assert_eq!(
            err("7", "go away"),
            FetchError::RateLimited {
                retry_after: BAN_DEFAULT
            }
        );
        assert!(matches!(err("25", "x"), FetchError::Auth(_)));
        assert!(matches!(err("27", "x"), FetchError::TokenExpired(_)));
        assert!(matches!(err("15", "x"), FetchError::Transient(_)));
        assert!(matches!(err("41", "x"), FetchError::Fatal(_)));
    }

    #[test]
    fn shipment_requests_match_the_fixtures() {
        use crate::shops::channels::carriers::carrier_for;
        use crate::shops::channels::writeback::fixtures;
        for case in fixtures::cases("taobao", "requests.json") {
            let shipment = fixtures::shipment(&case);
            let carrier = carrier_for(Platform::Taobao, shipment.carrier()).unwrap();
            let params: serde_json::Map<String, serde_json::Value> =
                shipment_params(&shipment, &carrier)
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.into()))
                    .collect();
            assert_eq!(
                serde_json::Value::Object(params),
                case["params"],
                "{}",
                case["name"]
            );
        }
    }

    #[test]
    fn shipment_answers_match_the_fixtures() {
        crate::shops::channels::writeback::fixtures::check_answers("taobao", |reply| {
            shipment_answer(Platform::Taobao, reply)
        });
    }

    #[test]
    fn pages_follow_has_next() {
        assert_eq!(page_number(None).unwrap(), 1);
        assert_eq!(page_number(Some(&PageCursor::Page(3))).unwrap(), 3);
        assert!(page_number(Some(&PageCursor::PageInfo("x".into()))).is_err());
        assert_eq!(next_page(1, true, false), Some(PageCursor::Page(2)));
        assert_eq!(next_page(1, false, false), None);
        assert_eq!(next_page(1, true, true), None);
    }

    #[test]
    fn a_counted_window_is_walked_from_its_last_page_back_to_its_first() {
        let walk = |total: u64| {
            let mut read = vec![1];
            let mut cursor = walk_back(None, 1, Listed::Total(total), false);
            while let Some(c) = cursor {
                let PageCursor::Back(n) = c else {
                    panic!("a walk back: {c:?}")
                };
                read.push(n);
                cursor = walk_back(Some(&c), n, Listed::Total(total), false);
            }
            read
        };
        assert_eq!(walk(0), vec![1], "empty");
        assert_eq!(walk(100), vec![1], "one page");
        assert_eq!(walk(101), vec![1, 2, 1]);
        assert_eq!(walk(250), vec![1, 3, 2, 1]);
        // A count that shrinks meanwhile does not stop the walk short of the first page.
        assert_eq!(
            walk_back(Some(&PageCursor::Back(3)), 3, Listed::Total(0), true),
            Some(PageCursor::Back(2))
        );
        // A platform that does not count is walked forward.
        assert_eq!(
            walk_back(None, 1, Listed::HasNext(true), false),
            Some(PageCursor::Page(2))
        );
    }
}
