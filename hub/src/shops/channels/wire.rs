//! What every channel does the same way on the wire: a window's bounds in each platform's time
//! format, and a page's raw items turned into [`Captured`] items one by one.

use super::client::{Captured, FetchError, Window};
use super::{ParseError, parse_order, refunds};
use serde_json::Value;
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::macros::{format_description, offset};
use xt_shared::order::{Platform, StandardRefund};

/// A window's bounds in whole seconds: `from` rounded down, `to` rounded up.
pub(crate) fn bounds_seconds(w: &Window) -> Result<(i64, i64), FetchError> {
    if w.from.0 > w.to.0 {
        return Err(FetchError::Fatal(format!(
            "window from {} ms is after to {} ms",
            w.from.0, w.to.0
        )));
    }
    Ok((w.from.0.div_euclid(1000), (w.to.0 + 999).div_euclid(1000)))
}

fn at(seconds: i64) -> Result<OffsetDateTime, FetchError> {
    OffsetDateTime::from_unix_timestamp(seconds)
        .map_err(|_| FetchError::Fatal(format!("window bound {seconds} s is out of range")))
}

/// `yyyy-MM-dd HH:mm:ss` in Beijing time (Taobao, JD).
pub(crate) fn beijing(seconds: i64) -> Result<String, FetchError> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    at(seconds)?
        .to_offset(offset!(+8))
        .format(format)
        .map_err(|e| FetchError::Fatal(format!("window bound: {e}")))
}

/// RFC 3339 in UTC with a `Z`, whole seconds (Shopify).
pub(crate) fn rfc3339(seconds: i64) -> Result<String, FetchError> {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    at(seconds)?
        .format(format)
        .map_err(|e| FetchError::Fatal(format!("window bound: {e}")))
}

/// ISO 8601 without an offset, meant as GMT (WooCommerce with `dates_are_gmt=true`).
pub(crate) fn gmt(seconds: i64) -> Result<String, FetchError> {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    at(seconds)?
        .format(format)
        .map_err(|e| FetchError::Fatal(format!("window bound: {e}")))
}

/// Refuses a window longer than `max_seconds` after rounding (Taobao, JD: one day).
pub(crate) fn check_span(
    platform: Platform,
    (from, to): (i64, i64),
    max_seconds: i64,
) -> Result<(), FetchError> {
    if to - from > max_seconds {
        return Err(FetchError::Fatal(format!(
            "{platform} window of {} s is longer than {max_seconds} s",
            to - from
        )));
    }
    Ok(())
}

/// The key holding an order's number in each platform's order object.
fn order_no_key(platform: Platform) -> &'static str {
    match platform {
        Platform::Taobao | Platform::Tmall => "tid",
        Platform::Jd => "orderId",
        Platform::Shopify | Platform::Woocommerce => "id",
    }
}

/// An id at `key` as text, if it is a string or an integer.
pub(crate) fn id_text(value: &Value, key: &str) -> Option<String> {
    match value.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) if n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

/// One order of a page or a webhook: the order, or `Malformed`; for Shopify and WooCommerce
/// also the refunds inside it (a broken refund is its own `Malformed`, the order still stands).
pub fn capture_order(platform: Platform, raw: &str) -> Vec<Captured> {
    let value: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(e) => {
            return vec![Captured::Malformed {
                raw: raw.to_owned(),
                order_no: None,
                reason: format!("{platform} order is not JSON: {e}"),
            }];
        }
    };
    let order_no = id_text(&value, order_no_key(platform));
    let order = match parse_order(platform, &value) {
        Ok(order) => order,
        Err(e) => {
            return vec![Captured::Malformed {
                raw: raw.to_owned(),
                order_no,
                reason: e.to_string(),
            }];
        }
    };
    let mut items = vec![Captured::Order {
        raw: raw.to_owned(),
        order,
    }];
    match refunds::refunds_with_raw(platform, &value) {
        Ok(found) => items.extend(
            found
                .into_iter()
                .map(|(raw, refund)| Captured::Refund { raw, refund }),
        ),
        Err(e) => items.push(Captured::Malformed {
            raw: raw.to_owned(),
            order_no,
            reason: e.to_string(),
        }),
    }
    items
}

/// One refund record of a page (Taobao, JD).
pub(crate) fn capture_refund(
    raw: &str,
    order_no_key: &str,
    parse: fn(&Value) -> Result<StandardRefund, ParseError>,
) -> Captured {
    let value: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(e) => {
            return Captured::Malformed {
                raw: raw.to_owned(),
                order_no: None,
                reason: format!("refund is not JSON: {e}"),
            };
        }
    };
    match parse(&value) {
        Ok(refund) => Captured::Refund {
            raw: raw.to_owned(),
            refund,
        },
        Err(e) => Captured::Malformed {
            raw: raw.to_owned(),
            order_no: id_text(&value, order_no_key),
            reason: e.to_string(),
        },
    }
}

/// The orders of a page, each captured on its own.
pub(crate) fn capture_orders(platform: Platform, raws: &[Box<RawValue>]) -> Vec<Captured> {
    raws.iter()
        .flat_map(|raw| capture_order(platform, raw.get()))
        .collect()
}

/// Parses a response body as the envelope type `T`; a body that is not one is transient (the
/// platform or a proxy sent something broken; the retry may get the real answer).
pub(crate) fn envelope<'a, T: serde::Deserialize<'a>>(
    platform: Platform,
    body: &'a [u8],
) -> Result<T, FetchError> {
    serde_json::from_slice(body).map_err(|e| {
        FetchError::Transient(format!(
            "{platform} response is not the expected JSON envelope: {}",
            super::reason::json_error(&e)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xt_shared::model::UtcMillis;

    #[test]
    fn windows_round_outwards_to_whole_seconds() {
        let w = Window {
            from: UtcMillis(1_700_000_000_999),
            to: UtcMillis(1_700_000_001_001),
        };
        assert_eq!(bounds_seconds(&w).unwrap(), (1_700_000_000, 1_700_000_002));
        let exact = Window {
            from: UtcMillis(1_700_000_000_000),
            to: UtcMillis(1_700_000_000_000),
        };
        assert_eq!(
            bounds_seconds(&exact).unwrap(),
            (1_700_000_000, 1_700_000_000)
        );
        let backwards = Window {
            from: UtcMillis(2),
            to: UtcMillis(1),
        };
        assert!(matches!(
            bounds_seconds(&backwards),
            Err(FetchError::Fatal(_))
        ));
    }

    #[test]
    fn bounds_in_each_platform_format() {
        // 2026-11-01T00:00:00Z = 2026-11-01 08:00:00 in Beijing.
        let s = 1_793_491_200;
        assert_eq!(beijing(s).unwrap(), "2026-11-01 08:00:00");
        assert_eq!(rfc3339(s).unwrap(), "2026-11-01T00:00:00Z");
        assert_eq!(gmt(s).unwrap(), "2026-11-01T00:00:00");
    }
}
