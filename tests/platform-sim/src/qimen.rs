//! A third-party warehouse (3PL) speaking Qimen over real HTTP (`platform-formats.md` §5), for
//! the hub's 3PL client and its confirm callback.
//!
//! - API: `POST /3pl/{code}/qimen?method=…&sign=…` with an XML body. The signature, app key and
//!   customer id are checked; `deliveryorder.create` stores a delivery order once per
//!   `deliveryOrderCode` (a resend is answered per [`DuplicateAnswer`]); `order.cancel` cancels
//!   unless something shipped (then `failure` with [`CODE_SHIPPED`]), and answers
//!   [`CODE_NOT_FOUND`] for a code it never got.
//! - Shipping: after [`ThreePlSpec::ship_after_ms`] on its own (one parcel, everything, final),
//!   or by `POST /_sim/3pl/{code}/ship` ([`ShipRequest`]: parcels, carriers, tracking numbers,
//!   partial). Each shipment becomes a signed `deliveryorder.confirm` with its own `outBizCode`,
//!   POSTed to [`ThreePlSpec::callback_url`] in the order made, each retried until the hub
//!   answers `success` (at most [`CONFIRM_ATTEMPTS_MAX`] attempts, backoff capped at
//!   [`CONFIRM_BACKOFF_MAX`]).
//! - What it received and sent: `GET /_sim/3pl/{code}` or [`crate::SimHandle::qimen_log`]
//!   ([`ThreePlLog`]). A 3PL is added by `POST /_sim/3pl` or [`crate::SimHandle::add_3pl`].

mod wire;

pub use wire::{CARRIERS, qimen_md5};

use crate::SimHandle;
use crate::clock::beijing;
use crate::state::Sim;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::mpsc;
use wire::text;

/// `order.cancel` failure code: the delivery order shipped, whole or in part.
pub const CODE_SHIPPED: &str = "ORDER_SHIPPED";
/// `order.cancel` failure code: no delivery order with that code.
pub const CODE_NOT_FOUND: &str = "ORDER_NOT_EXISTS";
/// `deliveryorder.create` failure code for a resend under [`DuplicateAnswer::Exists`].
pub const CODE_EXISTS: &str = "DELIVERYORDER_EXISTS";
/// Failure code of a request whose signature, app key or customer id is wrong.
pub const CODE_SIGN: &str = "sign-check-failure";
/// Attempts to deliver one confirm before it is given up (and shown as not acknowledged).
pub const CONFIRM_ATTEMPTS_MAX: u32 = 200;
/// Longest wait between two attempts of one confirm.
pub const CONFIRM_BACKOFF_MAX: Duration = Duration::from_secs(1);
const CONFIRM_BACKOFF_FIRST: Duration = Duration::from_millis(20);
/// 3PLs one simulator holds.
pub const THREE_PLS_MAX: usize = 64;
/// Delivery orders one 3PL holds; more are refused with a failure.
pub const ORDERS_MAX: usize = 200_000;
/// Calls and confirms kept in a 3PL's log (the oldest go first).
pub const LOG_MAX: usize = 10_000;

/// How a 3PL answers a `deliveryorder.create` for a code it has already.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateAnswer {
    /// `success` again, with the same `deliveryOrderId`.
    #[default]
    Success,
    /// `failure` with [`CODE_EXISTS`].
    Exists,
}

/// One simulated 3PL warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreePlSpec {
    /// Its `warehouseCode`; its API is `POST /3pl/{code}/qimen`.
    pub code: String,
    pub app_key: String,
    pub secret: String,
    pub customer_id: String,
    /// Where `deliveryorder.confirm` goes; `None`: confirms are only logged.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Ship each delivery order this long after it arrives; `None`: only on a ship call.
    #[serde(default)]
    pub ship_after_ms: Option<u64>,
    /// The carrier of parcels a ship call does not name (a Qimen code, [`CARRIERS`]).
    pub carrier: String,
    #[serde(default)]
    pub duplicate: DuplicateAnswer,
    /// Answer the first this many API calls with HTTP 503.
    #[serde(default)]
    pub fail_first: u32,
}

impl ThreePlSpec {
    /// A 3PL with credentials derived from its code, shipping by SF on ship calls only.
    pub fn new(code: &str, callback_url: Option<String>) -> ThreePlSpec {
        ThreePlSpec {
            code: code.to_owned(),
            app_key: format!("{code}-app-key"),
            secret: format!("{code}-secret"),
            customer_id: format!("{code}-customer"),
            callback_url,
            ship_after_ms: None,
            carrier: "SF".to_owned(),
            duplicate: DuplicateAnswer::Success,
            fail_first: 0,
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            !self.code.is_empty()
                && self.code.len() <= 64
                && self
                    .code
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "3pl code {:?} is not 1-64 letters, digits, '-' and '_'",
            self.code
        );
        anyhow::ensure!(
            !self.app_key.is_empty() && !self.secret.is_empty() && !self.customer_id.is_empty(),
            "3pl {:?} needs an app key, a secret and a customer id",
            self.code
        );
        anyhow::ensure!(
            CARRIERS.contains(&self.carrier.as_str()),
            "3pl {:?}: carrier {:?} is not a qimen carrier code",
            self.code,
            self.carrier
        );
        if let Some(url) = &self.callback_url {
            let parsed = url::Url::parse(url)
                .map_err(|e| anyhow::anyhow!("3pl {:?}: callback url: {e}", self.code))?;
            anyhow::ensure!(
                matches!(parsed.scheme(), "http" | "https"),
                "3pl {:?}: callback url is not http(s)",
                self.code
            );
        }
        Ok(())
    }
}

/// A shipment a test asks for (`POST /_sim/3pl/{code}/ship`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipRequest {
    pub delivery_no: String,
    /// The parcels. None: one parcel of the 3PL's carrier with everything not yet shipped.
    #[serde(default)]
    pub packages: Vec<ShipPackage>,
    /// An intermediate batch (`confirmType` 1); otherwise the last one (0), which closes the
    /// delivery order even if it ships less than planned.
    #[serde(default)]
    pub partial: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipPackage {
    /// A Qimen carrier code; empty: the 3PL's own.
    #[serde(default)]
    pub carrier: String,
    /// Empty: one in the carrier's shape is made up.
    #[serde(default)]
    pub tracking_no: String,
    /// What the parcel holds. Empty (in the only parcel): everything not yet shipped.
    #[serde(default)]
    pub items: Vec<ShipItem>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipItem {
    pub sku: String,
    pub quantity: i64,
}

/// A delivery order as the 3PL holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreePlOrder {
    pub delivery_no: String,
    /// The 3PL's own id (`deliveryOrderId`).
    pub order_id: String,
    /// `ACCEPT`, `PARTDELIVERED`, `DELIVERED` or `CANCELED`.
    pub status: String,
    /// `deliveryorder.create` calls received for it (a resend counts).
    pub creates: u32,
    /// Shipments (confirms) made of it so far.
    pub batches: u32,
    pub receiver_name: String,
    pub lines: Vec<ThreePlLine>,
    /// The `cancelReason` of the `order.cancel` that cancelled it.
    pub cancel_reason: Option<String>,
    /// The body of the first create, as received.
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreePlLine {
    pub line_no: String,
    pub sku: String,
    pub planned: i64,
    pub shipped: i64,
}

/// One API call received and how it was answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedCall {
    pub method: String,
    /// `deliveryOrderCode` / `orderCode`, when the body could be read.
    pub delivery_no: Option<String>,
    pub http_status: u16,
    /// `success` or `failure` (empty for a 503).
    pub flag: String,
    pub code: String,
}

/// One `deliveryorder.confirm` made, and how its delivery went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentConfirm {
    pub out_biz_code: String,
    pub delivery_no: String,
    /// 0 final, 1 partial.
    pub confirm_type: u8,
    /// (carrier, tracking number) per parcel.
    pub parcels: Vec<(String, String)>,
    pub query: String,
    pub body: String,
    pub attempts: u32,
    /// The callback answered `success`.
    pub acknowledged: bool,
}

/// What a 3PL received and sent (`GET /_sim/3pl/{code}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreePlLog {
    pub orders: Vec<ThreePlOrder>,
    pub calls: Vec<ReceivedCall>,
    pub confirms: Vec<SentConfirm>,
}

/// How one API call is answered: its delivery number (when read), the success reply or the
/// failure code and message, and whether it created a delivery order.
struct Answer {
    delivery_no: Option<String>,
    result: Result<String, (&'static str, String)>,
    created: bool,
}

impl Answer {
    fn failure(delivery_no: Option<String>, code: &'static str, message: String) -> Answer {
        Answer {
            delivery_no,
            result: Err((code, message)),
            created: false,
        }
    }

    fn success(delivery_no: Option<String>, reply: String) -> Answer {
        Answer {
            delivery_no,
            result: Ok(reply),
            created: false,
        }
    }
}

/// One parcel of a shipment: its carrier, tracking number and (SKU, quantity) items.
struct Parcel {
    carrier: String,
    tracking: String,
    items: Vec<(String, i64)>,
}

/// The simulator's 3PLs.
#[derive(Default)]
pub(crate) struct ThreePls {
    all: Mutex<BTreeMap<String, Arc<ThreePl>>>,
}

impl ThreePls {
    fn get(&self, code: &str) -> Option<Arc<ThreePl>> {
        lock(&self.all).get(code).cloned()
    }
}

struct ThreePl {
    spec: ThreePlSpec,
    state: Mutex<ThreePlState>,
    /// Confirms to deliver, in order, to one sender task.
    outbox: mpsc::UnboundedSender<usize>,
}

#[derive(Default)]
struct ThreePlState {
    orders: BTreeMap<String, ThreePlOrder>,
    calls: Vec<ReceivedCall>,
    confirms: Vec<SentConfirm>,
    /// Confirms dropped from the front of `confirms` (so an index stays valid).
    confirms_dropped: usize,
    fail_left: u32,
    next_id: u64,
    next_tracking: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ThreePlState {
    fn log_call(&mut self, call: ReceivedCall) {
        if self.calls.len() >= LOG_MAX {
            self.calls.remove(0);
        }
        self.calls.push(call);
    }

    /// The confirm with absolute index `i`, if still kept.
    fn confirm_mut(&mut self, i: usize) -> Option<&mut SentConfirm> {
        let at = i.checked_sub(self.confirms_dropped)?;
        self.confirms.get_mut(at)
    }
}

/// Adds a 3PL to the simulator and starts its confirm sender; returns its API URL.
pub(crate) fn add(sim: &Sim, spec: ThreePlSpec) -> anyhow::Result<String> {
    spec.validate()?;
    let mut all = lock(&sim.qimen.all);
    anyhow::ensure!(
        !all.contains_key(&spec.code),
        "3pl {:?} exists already",
        spec.code
    );
    anyhow::ensure!(all.len() < THREE_PLS_MAX, "more than {THREE_PLS_MAX} 3pls");
    let (outbox, queue) = mpsc::unbounded_channel();
    let three_pl = Arc::new(ThreePl {
        state: Mutex::new(ThreePlState {
            fail_left: spec.fail_first,
            ..ThreePlState::default()
        }),
        spec: spec.clone(),
        outbox,
    });
    tokio::spawn(send_confirms(
        Arc::downgrade(&three_pl),
        sim.http.clone(),
        queue,
    ));
    all.insert(spec.code.clone(), three_pl);
    Ok(api_url(sim, &spec.code))
}

fn api_url(sim: &Sim, code: &str) -> String {
    format!("http://{}/3pl/{code}/qimen", sim.addr)
}

impl SimHandle {
    /// Adds a 3PL; returns its Qimen endpoint (`http://127.0.0.1:P/3pl/{code}/qimen`).
    pub fn add_3pl(&self, spec: ThreePlSpec) -> anyhow::Result<String> {
        add(&self.sim, spec)
    }

    /// What the 3PL `code` received and sent; empty for an unknown code.
    pub fn qimen_log(&self, code: &str) -> ThreePlLog {
        self.sim
            .qimen
            .get(code)
            .map(|t| t.log())
            .unwrap_or_default()
    }

    /// Ships as a ship call would; returns the confirm made (queued for the callback).
    pub fn qimen_ship(&self, code: &str, request: &ShipRequest) -> anyhow::Result<SentConfirm> {
        let three_pl = self
            .sim
            .qimen
            .get(code)
            .ok_or_else(|| anyhow::anyhow!("no 3pl {code:?}"))?;
        three_pl.ship(request).map_err(|(_, e)| anyhow::anyhow!(e))
    }
}

impl ThreePl {
    fn log(&self) -> ThreePlLog {
        let state = lock(&self.state);
        ThreePlLog {
            orders: state.orders.values().cloned().collect(),
            calls: state.calls.clone(),
            confirms: state.confirms.clone(),
        }
    }

    /// One API call: the answer's HTTP status and XML body, and the delivery number it created.
    fn handle(&self, query: Option<&str>, body: &[u8]) -> (StatusCode, String, Option<String>) {
        let params: BTreeMap<String, String> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .into_owned()
                .collect();
        let method = params.get("method").cloned().unwrap_or_default();
        let mut state = lock(&self.state);
        if state.fail_left > 0 {
            state.fail_left -= 1;
            state.log_call(ReceivedCall {
                method,
                delivery_no: None,
                http_status: 503,
                flag: String::new(),
                code: String::new(),
            });
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "service unavailable".into(),
                None,
            );
        }
        let signed = params.get("sign").is_some_and(|given| {
            qimen_md5(&params, body, &self.spec.secret).eq_ignore_ascii_case(given.trim())
        });
        let answer = if !signed
            || params.get("app_key") != Some(&self.spec.app_key)
            || params.get("customerId") != Some(&self.spec.customer_id)
        {
            Answer::failure(None, CODE_SIGN, "Illegal request: sign check failed".into())
        } else {
            match std::str::from_utf8(body) {
                Err(_) => Answer::failure(None, "invalid-xml", "body is not UTF-8".into()),
                Ok(xml) => match method.trim_start_matches("taobao.qimen.") {
                    "deliveryorder.create" => self.create(&mut state, xml),
                    "order.cancel" => self.cancel(&mut state, xml),
                    other => Answer::failure(
                        None,
                        "invalid-method",
                        format!("method {other:?} is not served"),
                    ),
                },
            }
        };
        let (flag, code, reply) = match answer.result {
            Ok(reply) => ("success", "0", reply),
            Err((code, message)) => ("failure", code, wire::failure(code, &message)),
        };
        state.log_call(ReceivedCall {
            method,
            delivery_no: answer.delivery_no.clone(),
            http_status: 200,
            flag: flag.to_owned(),
            code: code.to_owned(),
        });
        let created = answer.created.then_some(answer.delivery_no).flatten();
        (StatusCode::OK, reply, created)
    }

    fn create(&self, state: &mut ThreePlState, xml: &str) -> Answer {
        let request: wire::CreateRequest = match quick_xml::de::from_str(xml) {
            Ok(r) => r,
            Err(e) => return Answer::failure(None, "invalid-xml", e.to_string()),
        };
        let order = request.delivery_order.unwrap_or_default();
        let Some(code) = text(&order.delivery_order_code).map(str::to_owned) else {
            return Answer::failure(
                None,
                "invalid-parameter",
                "deliveryOrderCode is missing".into(),
            );
        };
        let no = Some(code.clone());
        let invalid = |why: String| Answer::failure(no.clone(), "invalid-parameter", why);
        if let Some(existing) = state.orders.get_mut(&code) {
            existing.creates += 1;
            let id = existing.order_id.clone();
            return match self.spec.duplicate {
                DuplicateAnswer::Success => Answer::success(no, self.created_reply(&id)),
                DuplicateAnswer::Exists => {
                    Answer::failure(no, CODE_EXISTS, format!("出库单 {code} 已存在"))
                }
            };
        }
        if text(&order.warehouse_code) != Some(self.spec.code.as_str()) {
            return Answer::failure(
                no,
                "WAREHOUSE_NOT_MATCH",
                "warehouseCode is not this warehouse".into(),
            );
        }
        for (value, name) in [
            (&order.order_type, "orderType"),
            (&order.create_time, "createTime"),
            (&order.place_order_time, "placeOrderTime"),
            (&order.operate_time, "operateTime"),
            (&order.shop_nick, "shopNick"),
            (&order.logistics_code, "logisticsCode"),
        ] {
            if text(value).is_none() {
                return invalid(format!("deliveryOrder.{name} is missing"));
            }
        }
        let receiver = order.receiver_info.unwrap_or_default();
        for (value, name) in [
            (&receiver.name, "name"),
            (&receiver.mobile, "mobile"),
            (&receiver.province, "province"),
            (&receiver.city, "city"),
            (&receiver.detail_address, "detailAddress"),
        ] {
            if text(value).is_none() {
                return invalid(format!("receiverInfo.{name} is missing"));
            }
        }
        let raw_lines = request.order_lines.map(|l| l.lines).unwrap_or_default();
        if raw_lines.is_empty() {
            return invalid("orderLines is empty".into());
        }
        let mut lines = Vec::new();
        for (i, line) in raw_lines.iter().enumerate() {
            let planned = text(&line.plan_qty).and_then(|q| q.parse::<i64>().ok());
            match (text(&line.item_code), planned, text(&line.owner_code)) {
                (Some(sku), Some(planned), Some(_)) if planned > 0 => lines.push(ThreePlLine {
                    line_no: text(&line.order_line_no)
                        .map(str::to_owned)
                        .unwrap_or_else(|| (i + 1).to_string()),
                    sku: sku.to_owned(),
                    planned,
                    shipped: 0,
                }),
                _ => {
                    return invalid(format!(
                        "orderLine[{i}] needs itemCode, ownerCode and planQty > 0"
                    ));
                }
            }
        }
        if state.orders.len() >= ORDERS_MAX {
            return Answer::failure(no, "SYSTEM_BUSY", "the warehouse is full".into());
        }
        state.next_id += 1;
        let id = format!("{}-{:08}", self.spec.code, state.next_id);
        state.orders.insert(
            code.clone(),
            ThreePlOrder {
                delivery_no: code,
                order_id: id.clone(),
                status: "ACCEPT".into(),
                creates: 1,
                batches: 0,
                receiver_name: text(&receiver.name).unwrap_or("").to_owned(),
                lines,
                cancel_reason: None,
                body: xml.to_owned(),
            },
        );
        Answer {
            created: true,
            ..Answer::success(no, self.created_reply(&id))
        }
    }

    fn created_reply(&self, id: &str) -> String {
        wire::created(
            Some(&beijing(OffsetDateTime::now_utc())),
            Some(id),
            Some(&self.spec.code),
            Some(&self.spec.carrier),
        )
    }

    fn cancel(&self, state: &mut ThreePlState, xml: &str) -> Answer {
        let request: wire::CancelRequest = match quick_xml::de::from_str(xml) {
            Ok(r) => r,
            Err(e) => return Answer::failure(None, "invalid-xml", e.to_string()),
        };
        let Some(code) = text(&request.order_code).map(str::to_owned) else {
            return Answer::failure(None, "invalid-parameter", "orderCode is missing".into());
        };
        let no = Some(code.clone());
        if text(&request.warehouse_code) != Some(self.spec.code.as_str()) {
            return Answer::failure(
                no,
                "WAREHOUSE_NOT_MATCH",
                "warehouseCode is not this warehouse".into(),
            );
        }
        let Some(order) = state.orders.get_mut(&code) else {
            return Answer::failure(no, CODE_NOT_FOUND, format!("单据 {code} 不存在"));
        };
        match order.status.as_str() {
            "ACCEPT" => {
                order.status = "CANCELED".into();
                order.cancel_reason = text(&request.cancel_reason).map(str::to_owned);
                Answer::success(no, wire::success())
            }
            "CANCELED" => Answer::success(no, wire::success()),
            _ => Answer::failure(no, CODE_SHIPPED, format!("单据 {code} 已发货，无法取消")),
        }
    }

    /// Ships per `request`: updates the order, logs the confirm and queues it for the
    /// callback. The error is the HTTP status a ship call answers with and why.
    fn ship(&self, request: &ShipRequest) -> Result<SentConfirm, (StatusCode, String)> {
        let bad = |why: String| Err((StatusCode::BAD_REQUEST, why));
        let mut state = lock(&self.state);
        let state = &mut *state;
        let Some(order) = state.orders.get(&request.delivery_no) else {
            return Err((
                StatusCode::NOT_FOUND,
                format!("no delivery order {:?}", request.delivery_no),
            ));
        };
        if !matches!(order.status.as_str(), "ACCEPT" | "PARTDELIVERED") {
            return Err((
                StatusCode::CONFLICT,
                format!("delivery order {} is {}", order.delivery_no, order.status),
            ));
        }
        let remaining: Vec<(String, i64)> = order
            .lines
            .iter()
            .map(|l| (l.sku.clone(), l.planned - l.shipped))
            .filter(|(_, q)| *q > 0)
            .collect();
        let mut packages = request.packages.clone();
        if packages.is_empty() {
            packages.push(ShipPackage::default());
        }
        let mut parcels: Vec<Parcel> = Vec::new();
        for (i, p) in packages.iter().enumerate() {
            let carrier = if p.carrier.is_empty() {
                self.spec.carrier.clone()
            } else {
                p.carrier.clone()
            };
            if !CARRIERS.contains(&carrier.as_str()) {
                return bad(format!("carrier {carrier:?} is not a qimen carrier code"));
            }
            let items: Vec<(String, i64)> = if p.items.is_empty() {
                if packages.len() > 1 || request.partial {
                    return bad(format!(
                        "parcel {i} lists no items (only the one parcel of a final shipment may)"
                    ));
                }
                remaining.clone()
            } else {
                p.items
                    .iter()
                    .map(|x| (x.sku.clone(), x.quantity))
                    .collect()
            };
            let tracking = if p.tracking_no.is_empty() {
                state.next_tracking += 1;
                wire::tracking_no(&carrier, state.next_tracking)
            } else {
                p.tracking_no.clone()
            };
            parcels.push(Parcel {
                carrier,
                tracking,
                items,
            });
        }
        // This batch per SKU, checked against what is left to ship.
        let mut batch: BTreeMap<String, i64> = BTreeMap::new();
        for (sku, quantity) in parcels.iter().flat_map(|p| &p.items) {
            if *quantity <= 0 {
                return bad(format!("quantity of {sku} must be at least 1"));
            }
            *batch.entry(sku.clone()).or_default() += quantity;
        }
        for (sku, quantity) in &batch {
            let left = remaining.iter().find(|(s, _)| s == sku).map_or(0, |r| r.1);
            if *quantity > left {
                return bad(format!("{sku}: ships {quantity}, only {left} left to ship"));
            }
        }
        let order = state
            .orders
            .get_mut(&request.delivery_no)
            .expect("found above");
        let mut to_take = batch.clone();
        for line in &mut order.lines {
            if let Some(q) = to_take.get_mut(&line.sku) {
                let take = (*q).min(line.planned - line.shipped);
                line.shipped += take;
                *q -= take;
            }
        }
        order.status = if request.partial {
            "PARTDELIVERED"
        } else {
            "DELIVERED"
        }
        .into();
        order.batches += 1;
        let out_biz_code = format!("{}-{}-{}", self.spec.code, order.delivery_no, order.batches);
        let now = beijing(OffsetDateTime::now_utc());
        let confirm = wire::ConfirmOut {
            delivery_order: wire::ConfirmOrderOut {
                delivery_order_code: order.delivery_no.clone(),
                delivery_order_id: order.order_id.clone(),
                warehouse_code: self.spec.code.clone(),
                order_type: "JYCK".into(),
                status: order.status.clone(),
                out_biz_code: out_biz_code.clone(),
                confirm_type: u8::from(request.partial),
                order_confirm_time: now.clone(),
                operator_code: "sim".into(),
                operate_time: now,
            },
            packages: wire::PackagesOut {
                package: parcels
                    .iter()
                    .enumerate()
                    .map(|(i, p)| wire::PackageOut {
                        logistics_code: p.carrier.clone(),
                        express_code: p.tracking.clone(),
                        package_code: format!("{out_biz_code}-P{}", i + 1),
                        items: wire::ItemsOut {
                            item: p
                                .items
                                .iter()
                                .map(|(sku, quantity)| wire::ItemOut {
                                    item_code: sku.clone(),
                                    quantity: *quantity,
                                })
                                .collect(),
                        },
                    })
                    .collect(),
            },
            order_lines: wire::ConfirmLinesOut {
                lines: order
                    .lines
                    .iter()
                    .map(|l| wire::ConfirmLineOut {
                        order_line_no: l.line_no.clone(),
                        owner_code: self.spec.customer_id.clone(),
                        item_code: l.sku.clone(),
                        inventory_type: "ZP",
                        plan_qty: l.planned,
                        actual_qty: batch.get(&l.sku).copied().unwrap_or(0),
                    })
                    .collect(),
            },
        };
        let body = wire::confirm_body(&confirm);
        let query = self.signed_query(body.as_bytes());
        let sent = SentConfirm {
            out_biz_code,
            delivery_no: request.delivery_no.clone(),
            confirm_type: u8::from(request.partial),
            parcels: parcels
                .into_iter()
                .map(|p| (p.carrier, p.tracking))
                .collect(),
            query,
            body,
            attempts: 0,
            acknowledged: false,
        };
        if state.confirms.len() >= LOG_MAX {
            state.confirms.remove(0);
            state.confirms_dropped += 1;
        }
        state.confirms.push(sent.clone());
        let index = state.confirms_dropped + state.confirms.len() - 1;
        if self.spec.callback_url.is_some() {
            // The sender task lives as long as this 3PL: a send cannot fail while `self` does.
            let _ = self.outbox.send(index);
        }
        Ok(sent)
    }

    /// The system parameters of a `deliveryorder.confirm` with `body`, signed, as a query.
    fn signed_query(&self, body: &[u8]) -> String {
        let mut params: BTreeMap<String, String> = [
            ("method", "deliveryorder.confirm".to_owned()),
            ("timestamp", beijing(OffsetDateTime::now_utc())),
            ("format", "xml".to_owned()),
            ("app_key", self.spec.app_key.clone()),
            ("v", "2.0".to_owned()),
            ("sign_method", "md5".to_owned()),
            ("customerId", self.spec.customer_id.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let sign = qimen_md5(&params, body, &self.spec.secret);
        params.insert("sign".to_owned(), sign);
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&params)
            .finish()
    }
}

/// Delivers queued confirms one after another, each until the callback answers `success`.
async fn send_confirms(
    three_pl: Weak<ThreePl>,
    http: reqwest::Client,
    mut queue: mpsc::UnboundedReceiver<usize>,
) {
    while let Some(index) = queue.recv().await {
        let Some((url, query, body)) = three_pl.upgrade().and_then(|t| {
            let url = t.spec.callback_url.clone()?;
            let mut state = lock(&t.state);
            let c = state.confirm_mut(index)?;
            Some((url, c.query.clone(), c.body.clone()))
        }) else {
            continue;
        };
        let target = if url.contains('?') {
            format!("{url}&{query}")
        } else {
            format!("{url}?{query}")
        };
        let mut delay = CONFIRM_BACKOFF_FIRST;
        for attempt in 1..=CONFIRM_ATTEMPTS_MAX {
            let acknowledged = match http
                .post(&target)
                .header("Content-Type", "application/xml; charset=utf-8")
                .body(body.clone())
                .send()
                .await
            {
                Ok(answer) => match answer.bytes().await {
                    Ok(reply) => wire::is_success(&reply),
                    Err(_) => false,
                },
                Err(e) => {
                    tracing::debug!(error = %e, "qimen confirm delivery failed");
                    false
                }
            };
            let Some(t) = three_pl.upgrade() else { return };
            if let Some(c) = lock(&t.state).confirm_mut(index) {
                c.attempts = attempt;
                c.acknowledged = acknowledged;
            }
            if acknowledged {
                break;
            }
            drop(t);
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(CONFIRM_BACKOFF_MAX);
        }
    }
}

/// Ships `delivery_no` after the 3PL's delay, whole, in one parcel (unless shipped or
/// cancelled by then).
fn ship_later(three_pl: &Arc<ThreePl>, delivery_no: String) {
    let Some(ms) = three_pl.spec.ship_after_ms else {
        return;
    };
    let weak = Arc::downgrade(three_pl);
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if let Some(t) = weak.upgrade() {
            let request = ShipRequest {
                delivery_no,
                ..ShipRequest::default()
            };
            if let Err((_, why)) = t.ship(&request) {
                tracing::debug!(%why, "automatic 3pl shipment skipped");
            }
        }
    });
}

fn xml(status: StatusCode, body: String) -> Response {
    (
        status,
        [("Content-Type", "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

fn error(status: StatusCode, why: String) -> Response {
    (status, Json(json!({ "error": why }))).into_response()
}

/// `POST /3pl/{code}/qimen`: the 3PL's Qimen API.
pub(crate) async fn api(
    State(sim): State<Arc<Sim>>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(three_pl) = sim.qimen.get(&code) else {
        return error(StatusCode::NOT_FOUND, format!("no 3pl {code:?}"));
    };
    let (status, reply, created) = three_pl.handle(query.as_deref(), &body);
    if let Some(delivery_no) = created {
        ship_later(&three_pl, delivery_no);
    }
    xml(status, reply)
}

/// `POST /_sim/3pl`: adds a 3PL ([`ThreePlSpec`] as JSON); answers its endpoint.
pub(crate) async fn register(
    State(sim): State<Arc<Sim>>,
    Json(spec): Json<ThreePlSpec>,
) -> Response {
    match add(&sim, spec) {
        Ok(endpoint) => Json(json!({ "endpoint": endpoint })).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// `GET /_sim/3pl/{code}`: what the 3PL received and sent.
pub(crate) async fn log(State(sim): State<Arc<Sim>>, Path(code): Path<String>) -> Response {
    match sim.qimen.get(&code) {
        Some(t) => Json(t.log()).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no 3pl {code:?}")),
    }
}

/// `POST /_sim/3pl/{code}/ship`: ships ([`ShipRequest`] as JSON); answers the confirm made.
pub(crate) async fn ship(
    State(sim): State<Arc<Sim>>,
    Path(code): Path<String>,
    Json(request): Json<ShipRequest>,
) -> Response {
    let Some(three_pl) = sim.qimen.get(&code) else {
        return error(StatusCode::NOT_FOUND, format!("no 3pl {code:?}"));
    };
    match three_pl.ship(&request) {
        Ok(sent) => Json(sent).into_response(),
        Err((status, why)) => error(status, why),
    }
}
