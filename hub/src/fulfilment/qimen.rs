//! A third-party warehouse (3PL) over Qimen-style HTTP (`platform-formats.md` §5): the hub's
//! client for `deliveryorder.create` and `order.cancel`, and the check of the 3PL's signed
//! `deliveryorder.confirm` callbacks.
//!
//! On the wire: `POST {endpoint}?method=…&timestamp=…&format=xml&app_key=…&v=2.0&sign_method=md5
//! &customerId=…&sign=…` with an XML `<request>` body, answered by `<response><flag>success|
//! failure</flag><code/><message/></response>`; the signature covers the query and the body
//! ([`sign`]). The same format carries the 3PL's callbacks to the hub ([`verify_confirm`]).
//!
//! *Owns:* no tables: the 3PL wire format and the classification of its answers.
//! *Invariant:* a delivery order is created at most once per delivery number
//! (`deliveryOrderCode`): a resend the 3PL answers "exists already" is a success
//! ([`QimenAnswer::AlreadyExists`]); a callback is believed only with a valid signature; the app
//! secret is never printed (not by `Debug`, not in errors or logs).
//! *Boundary:* HTTP to the configured endpoint under the shop URL policy ([`ShopUrlPolicy`]),
//! with a timeout, a rate limit, and capped retries of transient failures only.

mod confirm;
pub mod sign;
#[cfg(test)]
mod tests;
mod xml;

pub use confirm::{
    CARRIERS, CONFIRM_BYTES_MAX, CONFIRM_METHODS, ConfirmError, ConfirmLine, ConfirmType,
    PACKAGES_MAX, Package, QimenConfirm, is_known_carrier, verify_confirm,
};
pub use xml::{
    CARRIER_ANY, ORDER_TYPE_SALE, Response, cancel_body, create_body, failure_reply,
    parse_response, success_reply,
};

use crate::shops::channels::egress::refusal_in;
use crate::shops::channels::reason::{FIELD_CHARS_MAX, sanitize};
use crate::shops::channels::{ChannelConfig, ShopUrlPolicy};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use reqwest::StatusCode;
use std::fmt;
use std::num::NonZeroU32;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use url::Url;
use xt_shared::command::DeliveryOrder;
use xt_shared::ids::{DocNo, WarehouseCode};
use xt_shared::model::UtcMillis;

pub const METHOD_CREATE: &str = "deliveryorder.create";
pub const METHOD_CANCEL: &str = "order.cancel";

/// Failure codes that mean "a delivery order with this code exists already": the resend of a
/// create whose first answer was lost. 3PLs word this differently; each one's code goes here.
pub const EXISTS_CODES: &[&str] = &["DELIVERYORDER_EXISTS", "ORDER_EXISTS", "DUPLICATE_ORDER"];
/// Failure codes of `order.cancel` that mean the parcel left already (whole or in part).
pub const SHIPPED_CODES: &[&str] = &["ORDER_SHIPPED", "ORDER_DELIVERED", "CANCEL_AFTER_DELIVERY"];
/// Failure codes of `order.cancel` that mean the 3PL does not know the delivery order.
pub const NOT_FOUND_CODES: &[&str] = &["ORDER_NOT_EXISTS", "ORDER_NOT_FOUND"];
/// Failure codes that mean "try again later" rather than a refusal.
pub const BUSY_CODES: &[&str] = &["SYSTEM_BUSY", "SYSTEM_ERROR", "isp.service-unavailable"];

/// One 3PL warehouse: where to call it and with which credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct QimenConfig {
    /// The 3PL's Qimen endpoint, http or https, without a query.
    pub endpoint: Url,
    pub app_key: String,
    /// Signs requests and callbacks; never printed.
    pub secret: String,
    /// `customerId`: who the hub is at the 3PL (also the `ownerCode` of every line).
    pub customer_id: String,
    /// The warehouse's code at the 3PL (`warehouseCode`).
    pub warehouse_code: WarehouseCode,
}

impl fmt::Debug for QimenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QimenConfig")
            .field("endpoint", &self.endpoint.as_str())
            .field("app_key", &self.app_key)
            .field("secret", &"[redacted]")
            .field("customer_id", &self.customer_id)
            .field("warehouse_code", &self.warehouse_code)
            .finish()
    }
}

impl QimenConfig {
    /// Checks what a request needs: an http(s) endpoint without a query (its parameters would
    /// be signed too), an app key, a secret and a customer id.
    pub fn validate(&self) -> Result<(), QimenError> {
        if !matches!(self.endpoint.scheme(), "http" | "https") {
            return Err(QimenError::Fatal(format!(
                "qimen endpoint {} is not http or https",
                self.endpoint.origin().ascii_serialization()
            )));
        }
        if self.endpoint.query().is_some() {
            return Err(QimenError::Fatal(
                "qimen endpoint must not carry a query".into(),
            ));
        }
        for (value, name) in [
            (&self.app_key, "app_key"),
            (&self.secret, "secret"),
            (&self.customer_id, "customer_id"),
        ] {
            if value.trim().is_empty() {
                return Err(QimenError::Fatal(format!("qimen config has no {name}")));
            }
        }
        Ok(())
    }
}

/// A signed request, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    /// The endpoint with the system parameters and `sign` in the query.
    pub url: Url,
    pub body: Vec<u8>,
}

/// Signs a call of `method` with `body` at `now` (pure: the timestamp is `now`).
pub fn signed_request(
    config: &QimenConfig,
    method: &str,
    body: Vec<u8>,
    now: UtcMillis,
) -> SignedRequest {
    let params = sign::signed_params(
        method,
        &config.app_key,
        &config.customer_id,
        &config.secret,
        &body,
        now,
    );
    let mut url = config.endpoint.clone();
    url.query_pairs_mut().extend_pairs(&params);
    SignedRequest { url, body }
}

/// What the 3PL said to a `deliveryorder.create`: both are a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QimenAnswer {
    /// Taken now (or a resend the 3PL answers with success again); its own id when it said one.
    Created { warehouse_order_id: Option<String> },
    /// It had it already: nothing new was created.
    AlreadyExists { code: String, message: String },
}

/// What the 3PL said to an `order.cancel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelAnswer {
    /// Cancelled (or cancelled before): nothing will ship.
    Cancelled,
    /// Too late: the parcel left (whole or in part). The intercept failed.
    AlreadyShipped { code: String, message: String },
    /// The 3PL does not know the delivery order (its create never arrived): nothing will ship.
    NotFound { code: String, message: String },
}

/// Why a call failed. Messages hold the HTTP status and the 3PL's own code and message,
/// sanitized, never a URL, a query (it carries the signature) or a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QimenError {
    /// A timeout, a refused connection, a 5xx or 429, a busy code or an unreadable answer:
    /// the same call may succeed later.
    #[error("transient: {0}")]
    Transient(String),
    /// `flag=failure` with a code: the 3PL refused the call; resending it will not help.
    #[error("the 3pl refused {method}: {code}: {message}")]
    Refused {
        method: &'static str,
        code: String,
        message: String,
    },
    /// A configuration error or a 4xx answer: no retry helps until someone changes something.
    #[error("{0}")]
    Fatal(String),
}

impl QimenError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, QimenError::Transient(_))
    }
}

fn listed(table: &[&str], code: &str) -> bool {
    table.iter().any(|c| c.eq_ignore_ascii_case(code))
}

fn field(text: &str) -> String {
    sanitize(text, FIELD_CHARS_MAX)
}

/// A `failure` answer's error: transient for a busy code, else a refusal.
fn failure(method: &'static str, r: &Response) -> QimenError {
    if listed(BUSY_CODES, &r.code) {
        return QimenError::Transient(format!(
            "{method}: {}: {}",
            field(&r.code),
            field(&r.message)
        ));
    }
    QimenError::Refused {
        method,
        code: field(&r.code),
        message: field(&r.message),
    }
}

/// What a `deliveryorder.create` answer comes to (pure).
pub fn create_outcome(r: &Response) -> Result<QimenAnswer, QimenError> {
    if r.success {
        return Ok(QimenAnswer::Created {
            warehouse_order_id: r.delivery_order_id.as_deref().map(field),
        });
    }
    if listed(EXISTS_CODES, &r.code) {
        return Ok(QimenAnswer::AlreadyExists {
            code: field(&r.code),
            message: field(&r.message),
        });
    }
    Err(failure(METHOD_CREATE, r))
}

/// What an `order.cancel` answer comes to (pure).
pub fn cancel_outcome(r: &Response) -> Result<CancelAnswer, QimenError> {
    if r.success {
        return Ok(CancelAnswer::Cancelled);
    }
    let (code, message) = (field(&r.code), field(&r.message));
    if listed(SHIPPED_CODES, &r.code) {
        return Ok(CancelAnswer::AlreadyShipped { code, message });
    }
    if listed(NOT_FOUND_CODES, &r.code) {
        return Ok(CancelAnswer::NotFound { code, message });
    }
    Err(failure(METHOD_CANCEL, r))
}

/// The client of one 3PL warehouse.
pub struct QimenClient {
    config: QimenConfig,
    call: ChannelConfig,
    http: reqwest::Client,
    limiter: DefaultDirectRateLimiter,
}

impl fmt::Debug for QimenClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QimenClient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// How the hub calls a 3PL by default: a few calls a second, 10 s per call, 4 retries.
pub fn default_call_config() -> ChannelConfig {
    ChannelConfig {
        rate_per_sec: 20,
        burst: 20,
        timeout: Duration::from_secs(10),
        max_retries: 4,
        backoff_base: Duration::from_millis(500),
        backoff_max: Duration::from_secs(10),
        retry_after_max: Duration::from_secs(30),
        response_bytes_max: 1 << 20,
        shop_urls: ShopUrlPolicy::default(),
    }
}

impl QimenClient {
    /// A client of the 3PL `config` names; `call` sets its rate, timeout, retries, response
    /// size and which addresses it may reach ([`default_call_config`]).
    pub fn new(config: QimenConfig, call: ChannelConfig) -> Result<Self, QimenError> {
        config.validate()?;
        call.validate()
            .map_err(|e| QimenError::Fatal(e.to_string()))?;
        call.shop_urls
            .check_url(&config.endpoint)
            .map_err(|refused| QimenError::Fatal(refused.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(call.timeout)
            .connect_timeout(call.timeout)
            .user_agent(concat!("xietong-hub/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(call.shop_urls.resolver())
            .redirect(call.shop_urls.redirects())
            .no_proxy()
            .build()
            .map_err(|e| QimenError::Fatal(format!("http client: {e}")))?;
        let rate = NonZeroU32::new(call.rate_per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(call.burst).unwrap_or(NonZeroU32::MIN);
        Ok(QimenClient {
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            config,
            call,
            http,
        })
    }

    pub fn config(&self) -> &QimenConfig {
        &self.config
    }

    /// Sends `order` to the 3PL (`deliveryorder.create`, `deliveryOrderCode` = its delivery
    /// number). Safe to repeat: a delivery order the 3PL has already is a success.
    pub async fn create_delivery(&self, order: &DeliveryOrder) -> Result<QimenAnswer, QimenError> {
        let response = self
            .call(METHOD_CREATE, |now| {
                create_body(order, &self.config.customer_id, now)
            })
            .await?;
        create_outcome(&response)
    }

    /// Asks the 3PL to cancel (intercept) `delivery_no` (`order.cancel`).
    pub async fn cancel(
        &self,
        delivery_no: &DocNo,
        reason: &str,
    ) -> Result<CancelAnswer, QimenError> {
        let response = self
            .call(METHOD_CANCEL, |_| {
                cancel_body(
                    self.config.warehouse_code.as_str(),
                    &self.config.customer_id,
                    delivery_no.as_str(),
                    reason,
                )
            })
            .await?;
        cancel_outcome(&response)
    }

    /// One call with retries: each attempt is signed anew (a fresh timestamp); transient
    /// failures wait with capped, jittered exponential backoff; the rest return at once. A
    /// busy code counts as transient here too.
    async fn call(
        &self,
        method: &'static str,
        body: impl Fn(UtcMillis) -> Vec<u8>,
    ) -> Result<Response, QimenError> {
        let mut attempt: u32 = 0;
        loop {
            self.limiter.until_ready().await;
            let now = now_millis();
            let request = signed_request(&self.config, method, body(now), now);
            let result = self.send(request).await.and_then(|response| {
                if !response.success && listed(BUSY_CODES, &response.code) {
                    Err(failure(method, &response))
                } else {
                    Ok(response)
                }
            });
            let error = match result {
                Ok(response) => return Ok(response),
                Err(e) if e.is_retryable() && attempt < self.call.max_retries => e,
                Err(e) => return Err(e),
            };
            let delay = backoff(&self.call, attempt);
            tracing::debug!(method, attempt, ?delay, %error, "qimen call retried");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    async fn send(&self, request: SignedRequest) -> Result<Response, QimenError> {
        // An IP literal skips the policy's resolver, so it is checked here.
        self.call
            .shop_urls
            .check_url(&request.url)
            .map_err(|refused| QimenError::Fatal(refused.to_string()))?;
        let mut answer = self
            .http
            .post(request.url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/xml; charset=utf-8",
            )
            .body(request.body)
            .send()
            .await
            .map_err(transport_error)?;
        let status = answer.status();
        let mut body = Vec::new();
        while let Some(chunk) = answer.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > self.call.response_bytes_max {
                return Err(QimenError::Transient(format!(
                    "qimen response larger than {} bytes",
                    self.call.response_bytes_max
                )));
            }
            body.extend_from_slice(&chunk);
        }
        interpret(status, &body)
    }
}

/// An HTTP answer as a `<response>` or the error it is (pure).
pub fn interpret(status: StatusCode, body: &[u8]) -> Result<Response, QimenError> {
    if !status.is_success() {
        // The 3PL's own code and message when the error page is a <response>, never the body.
        let what = match parse_response(body) {
            Ok(r) if !r.code.is_empty() || !r.message.is_empty() => format!(
                "http {}: {}: {}",
                status.as_u16(),
                field(&r.code),
                field(&r.message)
            ),
            _ => format!("http {}", status.as_u16()),
        };
        return Err(
            if status.is_server_error()
                || status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::REQUEST_TIMEOUT
            {
                QimenError::Transient(what)
            } else {
                QimenError::Fatal(what)
            },
        );
    }
    parse_response(body).map_err(|reason| QimenError::Transient(field(&reason)))
}

/// A call that got no complete answer: refused by the URL policy (fatal) or a network error
/// (transient), named without its URL.
fn transport_error(e: reqwest::Error) -> QimenError {
    if let Some(refused) = refusal_in(&e) {
        return QimenError::Fatal(refused.to_string());
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    QimenError::Transient(format!("qimen {kind}: {}", e.without_url()))
}

/// Backoff before retry `attempt` (0-based): base × 2^attempt, capped, jittered in [d/2, d].
fn backoff(call: &ChannelConfig, attempt: u32) -> Duration {
    let base = call.backoff_base.as_millis() as u64;
    let max = call.backoff_max.as_millis() as u64;
    let full = base.saturating_mul(1u64 << attempt.min(32)).min(max);
    Duration::from_millis(rand::rng().random_range(full / 2..=full))
}

fn now_millis() -> UtcMillis {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UtcMillis(since.as_millis() as i64)
}
