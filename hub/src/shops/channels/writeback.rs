//! Writing a shipment's tracking back to its platform: one input for every platform
//! ([`ShipmentWriteBack`]), one classified answer ([`WriteBackAnswer`]) and one entry point
//! ([`write_back`]) that maps our carrier to the platform's and sends it through the shop's
//! [`Channel`] (Taobao `taobao.logistics.offline.send`, JD `jingdong.pop.order.shipment`, a
//! Shopify fulfillment, a WooCommerce order update; each in its `*_api` module).
//!
//! *Invariant:* a write-back is idempotent from the caller's view. A platform that says the
//! order (or the lines) already shipped has acknowledged it: a retry after a lost answer, or a
//! second write-back of the same parcel, is [`WriteBackAnswer::AlreadyShipped`], never a failure.
//! Transport errors, 5xx and rate limits are retried by the channel's HTTP layer first and then
//! come back as [`WriteBackAnswer::Retryable`]; the caller owns the longer backoff.

use super::carriers::{Carrier, carrier_for};
use super::client::{Channel, FetchError};
use std::collections::HashSet;
use std::time::Duration;
use xt_shared::ids::DocNo;
use xt_shared::order::{ORDER_LINES_MAX, Platform};

/// Longest tracking (waybill) number accepted, in bytes.
pub const TRACKING_NO_BYTES_MAX: usize = 40;

/// One parcel of one order, to be written back. Built only through [`ShipmentWriteBack::new`],
/// so every value that reaches a client is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentWriteBack {
    order_no: DocNo,
    carrier: Carrier,
    tracking_no: String,
    lines: Option<Vec<DocNo>>,
}

/// Why a write-back cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShipmentInvalid {
    #[error("tracking number {0:?} is empty or longer than {TRACKING_NO_BYTES_MAX} bytes")]
    TrackingLength(String),
    #[error("tracking number {0:?} may only hold letters, digits and '-'")]
    TrackingChars(String),
    #[error("a partial shipment needs 1 to {ORDER_LINES_MAX} lines, got {0}")]
    LineCount(usize),
    #[error("line {0} is named twice")]
    RepeatedLine(String),
}

impl ShipmentWriteBack {
    /// `lines`: the platform's line ids (Taobao `oid`, Shopify and WooCommerce line item ids) of
    /// a partial shipment; `None` ships the whole order (what is left of it).
    pub fn new(
        order_no: DocNo,
        carrier: Carrier,
        tracking_no: &str,
        lines: Option<Vec<DocNo>>,
    ) -> Result<Self, ShipmentInvalid> {
        if tracking_no.is_empty() || tracking_no.len() > TRACKING_NO_BYTES_MAX {
            return Err(ShipmentInvalid::TrackingLength(
                tracking_no.chars().take(TRACKING_NO_BYTES_MAX).collect(),
            ));
        }
        if !tracking_no
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(ShipmentInvalid::TrackingChars(tracking_no.to_owned()));
        }
        if let Some(lines) = &lines {
            if lines.is_empty() || lines.len() > ORDER_LINES_MAX {
                return Err(ShipmentInvalid::LineCount(lines.len()));
            }
            let mut seen = HashSet::new();
            if let Some(twice) = lines.iter().find(|l| !seen.insert(l.as_str())) {
                return Err(ShipmentInvalid::RepeatedLine(twice.to_string()));
            }
        }
        Ok(ShipmentWriteBack {
            order_no,
            carrier,
            tracking_no: tracking_no.to_owned(),
            lines,
        })
    }

    /// The platform's order number (Taobao `tid`, JD `orderId`, Shopify and WooCommerce `id`).
    pub fn order_no(&self) -> &DocNo {
        &self.order_no
    }

    pub fn carrier(&self) -> Carrier {
        self.carrier
    }

    pub fn tracking_no(&self) -> &str {
        &self.tracking_no
    }

    /// The lines of a partial shipment; `None` for the whole order.
    pub fn lines(&self) -> Option<&[DocNo]> {
        self.lines.as_deref()
    }
}

/// What came of one write-back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteBackAnswer {
    /// The platform took it.
    Acknowledged,
    /// The platform says the order (or these lines) shipped already: acknowledged too.
    AlreadyShipped,
    /// Try again later: timeouts, 5xx, rate limits, a broken answer, a fulfillment on hold.
    Retryable {
        reason: String,
        /// What the platform asked for, when it said.
        retry_after: Option<Duration>,
    },
    /// The shop's credentials were refused or expired: not this order's fault, and retrying
    /// helps only once the merchant re-authorizes the shop.
    Unauthorized(String),
    /// The platform refused it for good (cancelled order, unknown line, bad carrier), with the
    /// platform's message; or we could not even ask (no code for the carrier on this platform).
    Permanent(String),
}

impl WriteBackAnswer {
    /// Whether the platform now has the tracking number.
    pub fn is_acknowledged(&self) -> bool {
        matches!(
            self,
            WriteBackAnswer::Acknowledged | WriteBackAnswer::AlreadyShipped
        )
    }

    /// A request that failed after the HTTP layer's retries.
    pub(crate) fn from_error(e: FetchError) -> Self {
        match e {
            FetchError::RateLimited { retry_after } => WriteBackAnswer::Retryable {
                reason: e.to_string(),
                retry_after: Some(retry_after),
            },
            FetchError::Transient(_) => WriteBackAnswer::Retryable {
                reason: e.to_string(),
                retry_after: None,
            },
            FetchError::Auth(_) | FetchError::TokenExpired(_) => {
                WriteBackAnswer::Unauthorized(e.to_string())
            }
            FetchError::Fatal(_) => WriteBackAnswer::Permanent(e.to_string()),
        }
    }
}

/// Whether `platform` takes a shipment of some lines only. JD ships whole orders: a partial
/// shipment of a JD order is written back with its last parcel (the caller decides when).
pub fn partial_shipments(platform: Platform) -> bool {
    !matches!(platform, Platform::Jd)
}

/// Writes `shipment` back through the shop's channel: maps the carrier, refuses what the
/// platform cannot take without asking it, sends, and classifies the answer.
pub async fn write_back(channel: &dyn Channel, shipment: &ShipmentWriteBack) -> WriteBackAnswer {
    let platform = channel.platform();
    let carrier = match carrier_for(platform, shipment.carrier()) {
        Ok(c) => c,
        Err(e) => return WriteBackAnswer::Permanent(e.to_string()),
    };
    if shipment.lines().is_some() && !partial_shipments(platform) {
        return WriteBackAnswer::Permanent(format!(
            "{platform} ships whole orders only: write back the order's last parcel without lines"
        ));
    }
    match channel.send_shipment(shipment, &carrier).await {
        Ok(answer) => answer,
        Err(e) => WriteBackAnswer::from_error(e),
    }
}

/// A platform id that goes into a URL path (Shopify, WooCommerce): decimal digits only.
pub(crate) fn numeric_id(no: &DocNo) -> Option<u64> {
    let s = no.as_str();
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Words in a platform's refusal that mean "this already shipped". TOP and JD answer a repeated
/// shipment with an error whose message says so; their exact codes are not in the reference, so
/// the message is what we read (unverified against the live platforms: the simulator answers
/// with these).
const ALREADY_SHIPPED_MARKERS: &[&str] = &[
    "已发货",
    "已经发货",
    "已出库",
    "already shipped",
    "already consigned",
    "already been shipped",
];

/// Whether one of a platform's error texts says the order already shipped.
pub(crate) fn says_already_shipped<'a>(texts: impl IntoIterator<Item = &'a str>) -> bool {
    texts.into_iter().any(|t| {
        let lower = t.to_lowercase();
        ALREADY_SHIPPED_MARKERS.iter().any(|m| lower.contains(m))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no(s: &str) -> DocNo {
        DocNo::new(s).unwrap()
    }

    #[test]
    fn a_write_back_is_checked_once_when_built() {
        struct Case {
            name: &'static str,
            tracking: String,
            lines: Option<Vec<DocNo>>,
            want: Result<(), ShipmentInvalid>,
        }
        let case = |name, tracking: &str, lines, want| Case {
            name,
            tracking: tracking.to_owned(),
            lines,
            want,
        };
        let build = |tracking: &str, lines: Option<Vec<DocNo>>| {
            ShipmentWriteBack::new(no("1001"), Carrier::Sf, tracking, lines)
        };
        let cases = [
            case("whole order", "SF1234567890", None, Ok(())),
            case("some lines", "SF1", Some(vec![no("1"), no("2")]), Ok(())),
            case("dash", "JDV-000123", None, Ok(())),
            case(
                "empty",
                "",
                None,
                Err(ShipmentInvalid::TrackingLength(String::new())),
            ),
            case(
                "too long",
                &"9".repeat(41),
                None,
                Err(ShipmentInvalid::TrackingLength("9".repeat(40))),
            ),
            case(
                "space",
                "SF 123",
                None,
                Err(ShipmentInvalid::TrackingChars("SF 123".into())),
            ),
            case(
                "not ascii",
                "顺丰123",
                None,
                Err(ShipmentInvalid::TrackingChars("顺丰123".into())),
            ),
            case(
                "no lines",
                "SF1",
                Some(vec![]),
                Err(ShipmentInvalid::LineCount(0)),
            ),
            case(
                "a line twice",
                "SF1",
                Some(vec![no("1"), no("1")]),
                Err(ShipmentInvalid::RepeatedLine("1".into())),
            ),
        ];
        for c in cases {
            let got = build(&c.tracking, c.lines).map(|_| ());
            assert_eq!(got, c.want, "{}", c.name);
        }
        let s = build("SF1", Some(vec![no("7")])).unwrap();
        assert_eq!(
            (s.order_no().as_str(), s.carrier(), s.tracking_no()),
            ("1001", Carrier::Sf, "SF1")
        );
        assert_eq!(s.lines(), Some(&[no("7")][..]));
    }

    #[test]
    fn failed_requests_become_answers() {
        let cases = [
            (
                FetchError::RateLimited {
                    retry_after: Duration::from_secs(3),
                },
                WriteBackAnswer::Retryable {
                    reason: "rate limited by the platform, retry after 3s".into(),
                    retry_after: Some(Duration::from_secs(3)),
                },
            ),
            (
                FetchError::Transient("http 502".into()),
                WriteBackAnswer::Retryable {
                    reason: "transient: http 502".into(),
                    retry_after: None,
                },
            ),
            (
                FetchError::Auth("http 401".into()),
                WriteBackAnswer::Unauthorized("credentials refused: http 401".into()),
            ),
            (
                FetchError::TokenExpired("top error 27".into()),
                WriteBackAnswer::Unauthorized("access token expired: top error 27".into()),
            ),
            (
                FetchError::Fatal("http 422: Invalid".into()),
                WriteBackAnswer::Permanent("http 422: Invalid".into()),
            ),
        ];
        for (error, want) in cases {
            let got = WriteBackAnswer::from_error(error);
            assert!(!got.is_acknowledged());
            assert_eq!(got, want);
        }
        assert!(WriteBackAnswer::Acknowledged.is_acknowledged());
        assert!(WriteBackAnswer::AlreadyShipped.is_acknowledged());
    }

    #[test]
    fn already_shipped_is_read_from_the_platform_message() {
        assert!(says_already_shipped(["订单已发货，不能重复发货"]));
        assert!(says_already_shipped(["", "Order has ALREADY SHIPPED"]));
        assert!(says_already_shipped(["订单已出库"]));
        assert!(!says_already_shipped(["订单未发货", "trade closed"]));
        assert!(!says_already_shipped([]));
    }

    #[test]
    fn order_ids_in_paths_are_digits_only() {
        let id = |s: &str| numeric_id(&no(s));
        assert_eq!(id("5100000000001"), Some(5_100_000_000_001));
        assert_eq!(id("../orders"), None);
        assert_eq!(id("12a"), None);
        assert_eq!(id("+12"), None);
        assert_eq!(id("99999999999999999999999"), None);
    }

    #[test]
    fn only_jd_refuses_partial_shipments() {
        assert!(!partial_shipments(Platform::Jd));
        for p in [
            Platform::Taobao,
            Platform::Tmall,
            Platform::Shopify,
            Platform::Woocommerce,
        ] {
            assert!(partial_shipments(p), "{p}");
        }
    }
}

/// The write-back fixtures' shared reading: `tests/fixtures/channels/<platform>/writeback/`
/// holds `requests.json` (shipments in, what the client sends out) and `answers.json` (platform
/// answers in, [`WriteBackAnswer`] out), each a list of named cases.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use crate::shops::channels::http::{Reply, classify_status};
    use reqwest::StatusCode;
    use reqwest::header::HeaderMap;
    use serde_json::{Value, json};

    /// The named cases of one fixture file.
    pub fn cases(platform_dir: &str, file: &str) -> Vec<Value> {
        let path = format!(
            "{}/tests/fixtures/channels/{platform_dir}/writeback/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        match serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}")) {
            Value::Array(cases) => cases,
            _ => panic!("{path}: not a list of cases"),
        }
    }

    /// A case's `shipment`: `{order_no, carrier (our code), tracking_no, lines?}`.
    pub fn shipment(case: &Value) -> ShipmentWriteBack {
        let s = &case["shipment"];
        let text = |k: &str| s[k].as_str().unwrap_or_else(|| panic!("shipment.{k}"));
        let lines = s["lines"].as_array().map(|lines| {
            lines
                .iter()
                .map(|l| DocNo::new(l.as_str().expect("line ids are strings")).unwrap())
                .collect()
        });
        ShipmentWriteBack::new(
            DocNo::new(text("order_no")).unwrap(),
            Carrier::from_code(text("carrier")).expect("our carrier code"),
            text("tracking_no"),
            lines,
        )
        .unwrap()
    }

    /// A case's `reply`: `{status, body}` (`body` as JSON, or `body_text` as it is).
    pub fn reply(case: &Value) -> Reply {
        let r = &case["reply"];
        let status = r["status"].as_u64().unwrap_or(200) as u16;
        let body = match r.get("body_text").and_then(Value::as_str) {
            Some(text) => text.as_bytes().to_vec(),
            None => serde_json::to_vec(&r["body"]).unwrap(),
        };
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body,
        }
    }

    /// An answer as the fixtures write it.
    pub fn written(answer: &Result<WriteBackAnswer, FetchError>) -> Value {
        let answer = match answer {
            Ok(a) => a.clone(),
            Err(e) => WriteBackAnswer::from_error(e.clone()),
        };
        match answer {
            WriteBackAnswer::Acknowledged => json!("acknowledged"),
            WriteBackAnswer::AlreadyShipped => json!("already_shipped"),
            WriteBackAnswer::Retryable {
                reason,
                retry_after,
            } => match retry_after {
                Some(d) => json!({"retryable": reason, "retry_after_ms": d.as_millis() as u64}),
                None => json!({"retryable": reason}),
            },
            WriteBackAnswer::Unauthorized(r) => json!({"unauthorized": r}),
            WriteBackAnswer::Permanent(r) => json!({"permanent": r}),
        }
    }

    /// Checks every case of `answers.json` with the platform's answer reader, after the HTTP
    /// layer's status classes (as a request's last attempt sees them; a 429 without
    /// `Retry-After` waits a second).
    pub fn check_answers(
        platform_dir: &str,
        read: impl Fn(&Reply) -> Result<WriteBackAnswer, FetchError>,
    ) {
        let cases = cases(platform_dir, "answers.json");
        assert!(!cases.is_empty());
        for case in cases {
            let reply = reply(&case);
            let answer =
                classify_status(&reply, Duration::from_secs(1)).and_then(|()| read(&reply));
            let got = written(&answer);
            assert_eq!(got, case["answer"], "{platform_dir}: {}", case["name"]);
        }
    }
}
