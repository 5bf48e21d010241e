//! The channel clients against a small platform stub on 127.0.0.1: real HTTP, the wire
//! contract's paths, signatures, envelopes, pagination and errors. The stub serves the parser
//! fixtures as two pages with one malformed order among them, checks credentials the way each
//! platform does (its own signature check, not the client's code), and injects one fault on the
//! first request when a test asks for it. Retries are asserted by count, never by time.

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use xt_hub::shops::channels::{
    self, Captured, Channel, ChannelConfig, FetchError, PageCursor, WebhookRefusal, Window,
    channel_for,
};
use xt_shared::credentials::ShopCredentials;
use xt_shared::model::UtcMillis;
use xt_shared::order::Platform;

const APP_KEY: &str = "app-key-1";
const APP_SECRET: &str = "app-secret-1";
const SESSION: &str = "session-1";
const SHOP_DOMAIN: &str = "demo.myshopify.com";
const SHOPIFY_TOKEN: &str = "shpat-token-1";
const CONSUMER_KEY: &str = "ck_1";
const CONSUMER_SECRET: &str = "cs_1";
const WEBHOOK_SECRET: &str = "whsec-1";

/// 2026-11-01T00:00:00Z .. one day later, minus a second.
fn day() -> Window {
    Window {
        from: UtcMillis(1_793_491_200_000),
        to: UtcMillis(1_793_491_200_000 + 86_399_000),
    }
}

/// What the stub does to the next request instead of answering it.
#[derive(Debug, Clone)]
enum Fault {
    /// HTTP 429 with this `Retry-After`.
    TooMany(&'static str),
    ServerError,
    /// TOP code 7, "This ban will last for N more seconds".
    TopBan(u32),
    /// JD code 67, "retry after N seconds".
    JdLimit(u32),
    /// HTTP 200 with a body that is not the envelope.
    Broken,
    /// TOP code 27 / JD code 19.
    Expired,
}

struct Stub {
    /// Raw order objects, page 1 then page 2.
    pages: [Vec<Value>; 2],
    refunds: Vec<Value>,
    faults: Mutex<VecDeque<Fault>>,
    /// A fault served to every request (after the queued ones).
    always: Option<Fault>,
    requests: AtomicU64,
    seen: Mutex<Vec<HashMap<String, String>>>,
}

impl Stub {
    fn next_fault(&self) -> Option<Fault> {
        self.faults
            .lock()
            .unwrap()
            .pop_front()
            .or_else(|| self.always.clone())
    }
}

// ---- fixtures ----------------------------------------------------------------------------

fn fixture_dir(platform: Platform) -> &'static str {
    match platform {
        Platform::Taobao | Platform::Tmall => "taobao",
        Platform::Jd => "jd",
        Platform::Shopify => "shopify",
        Platform::Woocommerce => "woocommerce",
    }
}

/// Every order of the platform's fixtures (malformed.json aside), in file order.
fn fixture_orders(platform: Platform) -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/channels")
        .join(fixture_dir(platform));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_str().unwrap();
            name.ends_with(".json") && !name.ends_with(".expected.json") && name != "malformed.json"
        })
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(
            |p| match serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap() {
                Value::Array(items) => items,
                one => vec![one],
            },
        )
        .collect()
}

/// The first order of the platform's malformed.json.
fn malformed_order(platform: Platform) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/channels")
        .join(fixture_dir(platform))
        .join("malformed.json");
    let all: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    all[0].clone()
}

/// The fixtures in two pages, the malformed order in the middle of the first.
fn two_pages(platform: Platform) -> [Vec<Value>; 2] {
    let mut orders = fixture_orders(platform);
    assert!(orders.len() >= 3, "{platform}: too few fixture orders");
    let second = orders.split_off(orders.len() / 2);
    orders.insert(1, malformed_order(platform));
    [orders, second]
}

fn taobao_refunds() -> Vec<Value> {
    vec![
        json!({"refund_id": "7001", "tid": 4312345678901234567u64, "oid": 4312345678901234568u64,
               "refund_fee": "12.50", "total_fee": "30.00", "payment": "17.50",
               "created": "2026-11-01 08:00:00", "modified": "2026-11-01 09:00:00",
               "status": "SUCCESS", "reason": "不想要了", "order_status": "TRADE_CLOSED"}),
        json!({"refund_id": "7002", "tid": 4312345678901234569u64, "oid": 4312345678901234570u64,
               "refund_fee": "1.00", "created": "2026-11-01 08:00:00",
               "status": "REFUNDING"}),
        json!({"refund_id": "7003", "tid": 4312345678901234571u64,
               "refund_fee": "3.00", "created": "2026-11-01 10:00:00",
               "status": "WAIT_SELLER_AGREE"}),
    ]
}

fn jd_refunds() -> Vec<Value> {
    vec![
        json!({"id": 990001u64, "orderId": "301234567891", "applyRefundSum": "12.50", "status": 1,
               "applyTime": "2026-11-01 08:00:00", "checkTime": "2026-11-01 09:00:00",
               "refundReason": "拍错了", "buyerId": "b", "buyerName": "j**n"}),
        json!({"id": 990002u64, "orderId": "301234567892", "applyRefundSum": "1.00", "status": 99,
               "applyTime": "2026-11-01 08:00:00"}),
    ]
}

// ---- the stub ----------------------------------------------------------------------------

async fn start(
    platform: Platform,
    faults: Vec<Fault>,
    always: Option<Fault>,
) -> (String, Arc<Stub>) {
    let refunds = match platform {
        Platform::Taobao | Platform::Tmall => taobao_refunds(),
        Platform::Jd => jd_refunds(),
        _ => Vec::new(),
    };
    let stub = Arc::new(Stub {
        pages: two_pages(platform),
        refunds,
        faults: Mutex::new(faults.into()),
        always,
        requests: AtomicU64::new(0),
        seen: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/shop/router/rest", post(top))
        .route("/shop/routerjson", post(jd))
        .route("/shop/admin/api/2024-07/orders.json", get(shopify))
        .route("/shop/wp-json/wc/v3/orders", get(woo))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/shop"), stub)
}

/// The platform's own check: MD5(secret + sorted name+value pairs + secret), upper-case hex.
fn stub_md5_sign(params: &HashMap<String, String>, secret: &str) -> String {
    let mut names: Vec<&String> = params.keys().filter(|k| k.as_str() != "sign").collect();
    names.sort();
    let mut text = String::from(secret);
    for name in names {
        text.push_str(name);
        text.push_str(&params[name]);
    }
    text.push_str(secret);
    hex::encode_upper(Md5::digest(text.as_bytes()))
}

fn beijing_seconds(text: &str) -> i64 {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text, format)
        .unwrap_or_else(|_| panic!("bad beijing time {text:?}"))
        .assume_offset(time::macros::offset!(+8))
        .unix_timestamp()
}

fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::TooMany(after) => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "slow down").into_response();
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static(after));
            r
        }
        Fault::ServerError => (StatusCode::BAD_GATEWAY, "upstream down").into_response(),
        Fault::TopBan(n) => Json(
            json!({"error_response": {"code": 7, "msg": "App Call Limited",
            "sub_code": "accesscontrol.limited-by-app-access-count",
            "sub_msg": format!("This ban will last for {n} more seconds"), "request_id": "r"}}),
        )
        .into_response(),
        Fault::JdLimit(n) => Json(
            json!({"error_response": {"code": "67", "zh_desc": "调用次数超限",
            "en_desc": format!("Call frequency exceeded, retry after {n} seconds")}}),
        )
        .into_response(),
        Fault::Broken => (StatusCode::OK, "<html>maintenance</html>").into_response(),
        Fault::Expired => unreachable!("platform-specific"),
    }
}

fn top_error(code: i64, msg: &str, sub_code: &str) -> Response {
    Json(
        json!({"error_response": {"code": code, "msg": msg, "sub_code": sub_code,
        "sub_msg": msg, "request_id": "r"}}),
    )
    .into_response()
}

async fn top(State(s): State<Arc<Stub>>, Form(p): Form<HashMap<String, String>>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    s.seen.lock().unwrap().push(p.clone());
    match s.next_fault() {
        Some(Fault::Expired) => return top_error(27, "Invalid session", "invalid-sessionkey"),
        Some(f) => return fault_response(f),
        None => {}
    }
    let sign_ok = p.get("sign") == Some(&stub_md5_sign(&p, APP_SECRET))
        && p.get("sign_method").map(String::as_str) == Some("md5");
    if p.get("app_key").map(String::as_str) != Some(APP_KEY) || !sign_ok {
        return top_error(25, "Invalid signature", "isv.invalid-signature");
    }
    if p.get("session").map(String::as_str) != Some(SESSION) {
        return top_error(27, "Invalid session", "invalid-sessionkey");
    }
    for (k, v) in [("format", "json"), ("v", "2.0")] {
        assert_eq!(p.get(k).map(String::as_str), Some(v), "{k}");
    }
    // The hub asks for the count (it walks a window from its last page back to its first).
    assert_eq!(p.get("use_has_next"), None);
    let start = beijing_seconds(&p["start_modified"]);
    let end = beijing_seconds(&p["end_modified"]);
    assert!(
        start <= end && end - start <= 86_400,
        "window {start}..{end}"
    );
    let page: usize = p["page_no"].parse().unwrap();
    match p["method"].as_str() {
        "taobao.trades.sold.increment.get" => {
            assert!(p["fields"].contains("tid") && p["fields"].contains("orders"));
            let trades = &s.pages[page - 1];
            // Every page but the last is full, as `page_size` says.
            let size: usize = p["page_size"].parse().unwrap();
            let total = size * (s.pages.len() - 1) + s.pages.last().map_or(0, Vec::len);
            Json(json!({"trades_sold_increment_get_response": {
                "total_results": total, "trades": {"trade": trades}, "request_id": "r"}}))
            .into_response()
        }
        "taobao.refunds.receive.get" => Json(json!({"refunds_receive_get_response": {
            "total_results": s.refunds.len(), "refunds": {"refund": s.refunds},
            "request_id": "r"}}))
        .into_response(),
        other => panic!("unexpected method {other}"),
    }
}

async fn jd(State(s): State<Arc<Stub>>, Form(p): Form<HashMap<String, String>>) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    s.seen.lock().unwrap().push(p.clone());
    let jd_error = |code: &str, en: &str| {
        Json(json!({"error_response": {"code": code, "zh_desc": en, "en_desc": en}}))
            .into_response()
    };
    match s.next_fault() {
        Some(Fault::Expired) => return jd_error("19", "Invalid access_token"),
        Some(f) => return fault_response(f),
        None => {}
    }
    if p.get("app_key").map(String::as_str) != Some(APP_KEY)
        || p.get("sign") != Some(&stub_md5_sign(&p, APP_SECRET))
    {
        return jd_error("17", "Invalid signature");
    }
    if p.get("access_token").map(String::as_str) != Some(SESSION) {
        return jd_error("19", "Invalid access_token");
    }
    let business: Value = serde_json::from_str(&p["360buy_param_json"]).unwrap();
    match p["method"].as_str() {
        "jingdong.pop.order.search" => {
            assert_eq!(business["dateType"], "0");
            let start = beijing_seconds(business["start_date"].as_str().unwrap());
            let end = beijing_seconds(business["end_date"].as_str().unwrap());
            assert!(start <= end && end - start <= 86_400);
            let page: usize = business["page"].as_str().unwrap().parse().unwrap();
            // Pretend pages of 100: orderTotal says there are two pages.
            let total = 100 + s.pages[1].len();
            Json(json!({"jingdong_pop_order_search_responce": {"code": "0",
                "searchorderinfo_result": {
                    "apiResult": {"success": true, "resultCode": "0", "chineseErrCode": "成功",
                                  "englishErrCode": "success"},
                    "orderInfoList": s.pages[page - 1], "orderTotal": total}}}))
            .into_response()
        }
        "jingdong.pop.afs.soa.refundapply.queryPageList" => {
            assert!(business["checkTimeStart"].is_string());
            Json(
                json!({"jingdong_pop_afs_soa_refundapply_queryPageList_responce": {"code": "0",
                "queryResult": {"success": true, "result": s.refunds,
                                "totalCount": s.refunds.len()}}}),
            )
            .into_response()
        }
        other => panic!("unexpected method {other}"),
    }
}

async fn shopify(
    State(s): State<Arc<Stub>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    s.seen.lock().unwrap().push(q.clone());
    if let Some(f) = s.next_fault() {
        return fault_response(f);
    }
    let token = headers
        .get("x-shopify-access-token")
        .and_then(|v| v.to_str().ok());
    if token != Some(SHOPIFY_TOKEN) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"})),
        )
            .into_response();
    }
    assert_eq!(q.get("limit").map(String::as_str), Some("250"));
    let page = match q.get("page_info") {
        None => {
            assert_eq!(q.get("status").map(String::as_str), Some("any"));
            assert_eq!(q.get("order").map(String::as_str), Some("updated_at asc"));
            let min = time::OffsetDateTime::parse(
                &q["updated_at_min"],
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap();
            assert_eq!(min.unix_timestamp(), day().from.0 / 1000);
            0
        }
        Some(info) => {
            if q.len() != 2 {
                return (StatusCode::BAD_REQUEST, "page_info takes only limit").into_response();
            }
            assert_eq!(info, "cursor-2");
            1
        }
    };
    let mut r = Json(json!({"orders": s.pages[page]})).into_response();
    let base = "http://elsewhere.example/shop/admin/api/2024-07/orders.json?limit=250";
    let link = if page == 0 {
        format!("<{base}&page_info=cursor-2>; rel=\"next\"")
    } else {
        format!("<{base}&page_info=cursor-1>; rel=\"previous\"")
    };
    r.headers_mut()
        .insert("link", HeaderValue::from_str(&link).unwrap());
    r
}

async fn woo(
    State(s): State<Arc<Stub>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    s.requests.fetch_add(1, Ordering::SeqCst);
    s.seen.lock().unwrap().push(q.clone());
    if let Some(f) = s.next_fault() {
        return fault_response(f);
    }
    let expected = format!(
        "Basic {}",
        STANDARD.encode(format!("{CONSUMER_KEY}:{CONSUMER_SECRET}"))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"code": "woocommerce_rest_authentication_error",
                        "message": "Invalid signature", "data": {"status": 401}})),
        )
            .into_response();
    }
    for (k, v) in [
        ("dates_are_gmt", "true"),
        ("orderby", "modified"),
        ("order", "asc"),
        ("per_page", "100"),
    ] {
        assert_eq!(q.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert_eq!(q["modified_after"], "2026-11-01T00:00:00");
    let page: usize = q["page"].parse().unwrap();
    let mut r = Json(&s.pages[page - 1]).into_response();
    let total = s.pages[0].len() + s.pages[1].len();
    r.headers_mut().insert(
        "x-wp-total",
        HeaderValue::from_str(&total.to_string()).unwrap(),
    );
    r.headers_mut()
        .insert("x-wp-totalpages", HeaderValue::from_static("2"));
    r
}

// ---- helpers -----------------------------------------------------------------------------

/// The stubs' credentials of `platform`; `secret` is its first secret (app secret, access
/// token, consumer secret).
fn credentials(platform: Platform, secret: &str) -> ShopCredentials {
    match platform {
        Platform::Taobao | Platform::Tmall => ShopCredentials::Taobao {
            app_key: APP_KEY.into(),
            app_secret: secret.into(),
            session: SESSION.into(),
        },
        Platform::Jd => ShopCredentials::Jd {
            app_key: APP_KEY.into(),
            app_secret: secret.into(),
            access_token: SESSION.into(),
        },
        Platform::Shopify => ShopCredentials::Shopify {
            shop_domain: SHOP_DOMAIN.into(),
            access_token: secret.into(),
            webhook_secret: WEBHOOK_SECRET.into(),
        },
        Platform::Woocommerce => ShopCredentials::Woocommerce {
            consumer_key: CONSUMER_KEY.into(),
            consumer_secret: secret.into(),
            webhook_secret: WEBHOOK_SECRET.into(),
        },
    }
}

/// The first secret the stubs of `platform` take.
fn first_secret(platform: Platform) -> &'static str {
    match platform {
        Platform::Taobao | Platform::Tmall | Platform::Jd => APP_SECRET,
        Platform::Shopify => SHOPIFY_TOKEN,
        Platform::Woocommerce => CONSUMER_SECRET,
    }
}

fn channel(platform: Platform, base: &str) -> Box<dyn Channel> {
    let credentials = credentials(platform, first_secret(platform));
    channel_for(platform, base, &credentials, ChannelConfig::for_tests()).unwrap()
}

/// Every page of orders of `w`.
async fn all_orders(ch: &dyn Channel, w: &Window) -> Result<(Vec<Captured>, usize), FetchError> {
    let mut items = Vec::new();
    let mut cursor: Option<PageCursor> = None;
    let mut pages = 0;
    let mut by_page: BTreeMap<u32, Vec<Captured>> = BTreeMap::new();
    loop {
        let page = ch.fetch_orders(w, cursor.as_ref()).await?;
        pages += 1;
        // A walk back reads the first page twice: keep each page once, in page order.
        let walked_back = match &cursor {
            Some(PageCursor::Back(n)) => Some(*n),
            None if matches!(page.next, Some(PageCursor::Back(_))) => Some(1),
            _ => None,
        };
        match walked_back {
            Some(n) => {
                by_page.insert(n, page.items);
            }
            None => items.extend(page.items),
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => {
                items.extend(by_page.into_values().flatten());
                return Ok((items, pages));
            }
        }
        assert!(pages < 10, "pagination does not end");
    }
}

/// Checks the captured orders against the stub's pages parsed directly: every good order
/// parsed, every bad one malformed with its reason and raw text, in order.
fn assert_orders_match(platform: Platform, stub: &Stub, items: &[Captured]) {
    let orders: Vec<&Captured> = items
        .iter()
        .filter(|c| !matches!(c, Captured::Refund { .. }))
        .collect();
    let sent: Vec<&Value> = stub.pages.iter().flatten().collect();
    assert_eq!(orders.len(), sent.len());
    let mut malformed = 0;
    for (got, raw) in orders.iter().zip(sent) {
        match (got, channels::parse_order(platform, raw)) {
            (Captured::Order { raw: text, order }, Ok(expected)) => {
                assert_eq!(order, &expected);
                assert_eq!(&serde_json::from_str::<Value>(text).unwrap(), raw);
            }
            (
                Captured::Malformed {
                    raw: text, reason, ..
                },
                Err(e),
            ) => {
                malformed += 1;
                assert_eq!(reason, &e.to_string());
                assert_eq!(&serde_json::from_str::<Value>(text).unwrap(), raw);
            }
            (got, expected) => panic!("{platform}: got {got:?}, expected {expected:?}"),
        }
    }
    assert!(
        malformed >= 1,
        "the malformed order must come through as Malformed"
    );
    let good = orders
        .iter()
        .filter(|c| matches!(c, Captured::Order { .. }))
        .count();
    assert!(good >= 2);
}

// ---- tests -------------------------------------------------------------------------------

#[tokio::test]
async fn taobao_orders_two_pages_after_a_ban_with_one_malformed() {
    let (base, stub) = start(Platform::Taobao, vec![Fault::TopBan(1)], None).await;
    let ch = channel(Platform::Taobao, &base);
    let (items, pages) = all_orders(ch.as_ref(), &day()).await.unwrap();
    // Page 1 (for the count), the last (2), then page 1 again.
    assert_eq!(pages, 3);
    assert_orders_match(Platform::Taobao, &stub, &items);
    let malformed = items
        .iter()
        .find_map(|c| match c {
            Captured::Malformed {
                order_no, reason, ..
            } => Some((order_no.clone(), reason.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        malformed,
        (
            Some("4300000000000000001".into()),
            "taobao order field status: has unknown status \"ALL_WAIT_PAY\"".into()
        )
    );
    let stats = ch.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.rate_limited),
        (4, 1, 1)
    );
    assert!(stats.rate_limited_until.is_some());
    // The window went out in Beijing time, rounded to whole seconds.
    let seen = stub.seen.lock().unwrap();
    assert_eq!(seen[1]["start_modified"], "2026-11-01 08:00:00");
    assert_eq!(seen[1]["end_modified"], "2026-11-02 07:59:59");
    assert_eq!(seen[2]["page_no"], "2");
    assert_eq!(seen[3]["page_no"], "1");
}

#[tokio::test]
async fn tmall_uses_the_taobao_wire_and_keeps_its_platform() {
    let (base, _stub) = start(Platform::Tmall, vec![], None).await;
    let ch = channel(Platform::Tmall, &base);
    assert_eq!(ch.platform(), Platform::Tmall);
    assert_eq!(ch.max_window(), Duration::from_secs(86_400));
    let (items, _) = all_orders(ch.as_ref(), &day()).await.unwrap();
    assert!(items.iter().any(|c| matches!(c, Captured::Order { .. })));
}

#[tokio::test]
async fn taobao_refunds_parse_and_a_bad_status_is_malformed() {
    let (base, _stub) = start(Platform::Taobao, vec![Fault::ServerError], None).await;
    let ch = channel(Platform::Taobao, &base);
    let page = ch.fetch_refunds(&day(), None).await.unwrap();
    assert_eq!(page.next, None);
    assert_eq!(page.items.len(), 3);
    match &page.items[0] {
        Captured::Refund { refund, raw } => {
            assert_eq!(refund.refund_id.as_str(), "7001");
            assert_eq!(refund.platform_order_no.as_str(), "4312345678901234567");
            assert_eq!(refund.amount.minor, 1250);
            assert!(raw.contains("4312345678901234567"));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(&page.items[1], Captured::Malformed { order_no: Some(n), reason, .. }
        if n == "4312345678901234569" && reason.contains("REFUNDING"))
    );
    assert!(matches!(&page.items[2], Captured::Refund { .. }));
    assert_eq!(ch.stats().retries, 1);
}

#[tokio::test]
async fn jd_orders_page_by_order_total_after_a_rate_limit_and_a_5xx() {
    let faults = vec![Fault::JdLimit(0), Fault::ServerError];
    let (base, stub) = start(Platform::Jd, faults, None).await;
    let ch = channel(Platform::Jd, &base);
    let (items, pages) = all_orders(ch.as_ref(), &day()).await.unwrap();
    assert_eq!(pages, 2);
    assert_orders_match(Platform::Jd, &stub, &items);
    let stats = ch.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.rate_limited),
        (4, 2, 1)
    );
}

#[tokio::test]
async fn jd_refunds_parse_and_an_unknown_status_is_malformed() {
    let (base, _stub) = start(Platform::Jd, vec![], None).await;
    let ch = channel(Platform::Jd, &base);
    let page = ch.fetch_refunds(&day(), None).await.unwrap();
    assert_eq!(page.next, None);
    assert!(matches!(&page.items[0], Captured::Refund { refund, .. }
        if refund.refund_id.as_str() == "990001" && refund.amount.minor == 1250));
    assert!(
        matches!(&page.items[1], Captured::Malformed { order_no: Some(n), reason, .. }
        if n == "301234567892" && reason.contains("\"99\""))
    );
}

#[tokio::test]
async fn shopify_orders_follow_link_page_info_after_a_429_and_bring_their_refunds() {
    let (base, stub) = start(Platform::Shopify, vec![Fault::TooMany("0.05")], None).await;
    let ch = channel(Platform::Shopify, &base);
    let (items, pages) = all_orders(ch.as_ref(), &day()).await.unwrap();
    assert_eq!(pages, 2);
    assert_orders_match(Platform::Shopify, &stub, &items);
    let refunds: Vec<_> = items
        .iter()
        .filter_map(|c| match c {
            Captured::Refund { refund, .. } => Some(refund),
            _ => None,
        })
        .collect();
    let expected: usize = stub
        .pages
        .iter()
        .flatten()
        .filter(|o| channels::parse_order(Platform::Shopify, o).is_ok())
        .map(|o| {
            channels::refunds_in_order(Platform::Shopify, o)
                .unwrap()
                .len()
        })
        .sum();
    assert!(expected >= 1);
    assert_eq!(refunds.len(), expected);
    let stats = ch.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.rate_limited),
        (3, 1, 1)
    );
    // The second page went to our own base with only limit and page_info, not to the Link host.
    assert_eq!(stub.seen.lock().unwrap()[2].len(), 2);
    assert!(
        ch.fetch_refunds(&day(), None)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn woocommerce_orders_page_by_total_pages_after_a_5xx() {
    let (base, stub) = start(Platform::Woocommerce, vec![Fault::ServerError], None).await;
    let ch = channel(Platform::Woocommerce, &base);
    let (items, pages) = all_orders(ch.as_ref(), &day()).await.unwrap();
    assert_eq!(pages, 2);
    assert_orders_match(Platform::Woocommerce, &stub, &items);
    assert!(items.iter().any(|c| matches!(c, Captured::Refund { .. })));
    let stats = ch.stats();
    assert_eq!(
        (stats.requests, stats.retries, stats.rate_limited),
        (3, 1, 0)
    );
    assert!(stats.last_error.unwrap().contains("502"));
}

#[tokio::test]
async fn bad_credentials_are_auth_errors_without_retry() {
    for platform in [
        Platform::Taobao,
        Platform::Jd,
        Platform::Shopify,
        Platform::Woocommerce,
    ] {
        let (base, stub) = start(platform, vec![], None).await;
        let wrong = credentials(platform, "wrong-secret");
        let ch = channel_for(platform, &base, &wrong, ChannelConfig::for_tests()).unwrap();
        let err = ch.fetch_orders(&day(), None).await.unwrap_err();
        assert!(matches!(err, FetchError::Auth(_)), "{platform}: {err:?}");
        assert!(
            !err.to_string().contains("wrong-secret"),
            "{platform}: {err}"
        );
        assert_eq!(stub.requests.load(Ordering::SeqCst), 1, "{platform}");
        let stats = ch.stats();
        assert_eq!((stats.requests, stats.retries), (1, 0), "{platform}");
    }
}

#[tokio::test]
async fn expired_sessions_are_token_expired_without_retry() {
    for platform in [Platform::Taobao, Platform::Jd] {
        let (base, stub) = start(platform, vec![Fault::Expired], None).await;
        let ch = channel(platform, &base);
        let err = ch.fetch_orders(&day(), None).await.unwrap_err();
        assert!(
            matches!(err, FetchError::TokenExpired(_)),
            "{platform}: {err:?}"
        );
        assert_eq!(stub.requests.load(Ordering::SeqCst), 1);
    }
}

#[tokio::test]
async fn a_wait_longer_than_the_channel_sleeps_is_returned_not_slept() {
    // TOP: a ban of an hour; Shopify: Retry-After of 30 s (for_tests waits at most 2 s).
    let (base, stub) = start(Platform::Taobao, vec![Fault::TopBan(3600)], None).await;
    let ch = channel(Platform::Taobao, &base);
    let err = ch.fetch_orders(&day(), None).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::RateLimited {
            retry_after: Duration::from_secs(3600)
        }
    );
    assert_eq!(stub.requests.load(Ordering::SeqCst), 1);
    let stats = ch.stats();
    assert_eq!((stats.retries, stats.rate_limited), (0, 1));
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    // Until about an hour from now (the ban started before `now_ms`).
    assert!(stats.rate_limited_until.unwrap().0 > now_ms + 3_500_000);

    let (base, stub) = start(Platform::Shopify, vec![Fault::TooMany("30")], None).await;
    let ch = channel(Platform::Shopify, &base);
    let err = ch.fetch_orders(&day(), None).await.unwrap_err();
    assert_eq!(
        err,
        FetchError::RateLimited {
            retry_after: Duration::from_secs(30)
        }
    );
    assert_eq!(stub.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_broken_envelope_is_retried_then_reported_as_transient() {
    for platform in [
        Platform::Taobao,
        Platform::Jd,
        Platform::Shopify,
        Platform::Woocommerce,
    ] {
        let (base, stub) = start(platform, vec![], Some(Fault::Broken)).await;
        let ch = channel(platform, &base);
        let err = ch.fetch_orders(&day(), None).await.unwrap_err();
        // Said without repeating the body (a platform's answer never reaches a shop's health).
        assert!(
            matches!(&err, FetchError::Transient(m)
                if m.contains("not the expected JSON envelope") && !m.contains("maintenance")),
            "{platform}: {err:?}"
        );
        let retries = u64::from(ChannelConfig::for_tests().max_retries);
        assert_eq!(
            stub.requests.load(Ordering::SeqCst),
            retries + 1,
            "{platform}"
        );
        assert_eq!(ch.stats().retries, retries);
    }
}

#[tokio::test]
async fn windows_longer_than_a_day_are_refused_before_any_request() {
    let (base, stub) = start(Platform::Jd, vec![], None).await;
    let ch = channel(Platform::Jd, &base);
    let w = Window {
        from: day().from,
        to: UtcMillis(day().from.0 + 86_400_001),
    };
    assert!(matches!(
        ch.fetch_orders(&w, None).await,
        Err(FetchError::Fatal(_))
    ));
    assert!(matches!(
        ch.fetch_refunds(&w, None).await,
        Err(FetchError::Fatal(_))
    ));
    assert_eq!(stub.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn webhooks_verify_the_hmac_of_the_raw_body() {
    let body = serde_json::to_vec(&fixture_orders(Platform::Shopify)[0]).unwrap();
    for (platform, header) in [
        (Platform::Shopify, "x-shopify-hmac-sha256"),
        (Platform::Woocommerce, "x-wc-webhook-signature"),
    ] {
        let ch = channel(platform, "http://127.0.0.1:9");
        let mut headers = HeaderMap::new();
        let good = channels::webhook::sign_hmac_sha256(WEBHOOK_SECRET, &body);
        headers.insert(header, HeaderValue::from_str(&good).unwrap());
        assert_eq!(ch.verify_webhook(&headers, &body), Ok(()), "{platform}");
        let forged = channels::webhook::sign_hmac_sha256("not-the-secret", &body);
        headers.insert(header, HeaderValue::from_str(&forged).unwrap());
        assert!(matches!(
            ch.verify_webhook(&headers, &body),
            Err(WebhookRefusal::BadSignature(_))
        ));
        headers.remove(header);
        assert!(matches!(
            ch.verify_webhook(&headers, &body),
            Err(WebhookRefusal::MissingSignature(_))
        ));
    }
    let ch = channel(Platform::Taobao, "http://127.0.0.1:9");
    assert_eq!(
        ch.verify_webhook(&HeaderMap::new(), &body),
        Err(WebhookRefusal::Unsupported(Platform::Taobao))
    );
}

#[test]
fn webhook_orders_parse_with_their_refunds() {
    let order = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/channels/shopify/partially-refunded-partial-fulfilled.json");
    let body = std::fs::read(order).unwrap();
    let items = channels::parse_webhook_order(Platform::Shopify, &body);
    assert!(matches!(&items[0], Captured::Order { raw, .. } if raw.as_bytes() == body.as_slice()));
    assert!(
        items[1..]
            .iter()
            .all(|c| matches!(c, Captured::Refund { .. }))
    );
    assert!(items.len() >= 2);
    let bad = serde_json::to_vec(&malformed_order(Platform::Woocommerce)).unwrap();
    assert!(matches!(
        &channels::parse_webhook_order(Platform::Woocommerce, &bad)[..],
        [Captured::Malformed { .. }]
    ));
}
