//! The Qimen signature and system parameters (`platform-formats.md` §5.1): every query
//! parameter but `sign`, sorted by name (bytewise), concatenated as `name1value1name2value2…`,
//! then the raw body; `MD5(secret + that + secret)` in upper-case hex. Times on the wire are
//! `yyyy-MM-dd HH:mm:ss` in Beijing time (+08:00, no daylight saving).

use hmac::digest::CtOutput;
use md5::{Digest, Md5};
use std::collections::BTreeMap;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, PrimitiveDateTime};
use xt_shared::model::UtcMillis;

/// Query parameters sorted by name, as the signature needs them.
pub type Params = BTreeMap<String, String>;

/// The API version sent in `v`.
pub const VERSION: &str = "2.0";

/// `MD5(secret + sorted name/value pairs + body + secret)`, upper-case hex. `sign` itself is
/// never part of what is signed.
pub fn sign(params: &Params, body: &[u8], secret: &str) -> String {
    hex::encode_upper(digest(params, body, secret))
}

fn digest(params: &Params, body: &[u8], secret: &str) -> md5::digest::Output<Md5> {
    let mut h = Md5::new();
    h.update(secret.as_bytes());
    for (name, value) in params.iter().filter(|(k, _)| k.as_str() != "sign") {
        h.update(name.as_bytes());
        h.update(value.as_bytes());
    }
    h.update(body);
    h.update(secret.as_bytes());
    h.finalize()
}

/// Whether `given` (hex, either case) is the signature of `params` and `body`, compared in
/// constant time. A `given` that is not 32 hex digits is simply wrong.
pub fn verify(params: &Params, body: &[u8], secret: &str, given: &str) -> bool {
    let mut bytes = [0u8; 16];
    if hex::decode_to_slice(given.trim(), &mut bytes).is_err() {
        return false;
    }
    let expected = CtOutput::<Md5>::new(digest(params, body, secret));
    expected == CtOutput::new(bytes.into())
}

/// The system parameters of a call of `method` at `now`, signed over `body`.
pub fn signed_params(
    method: &str,
    app_key: &str,
    customer_id: &str,
    secret: &str,
    body: &[u8],
    now: UtcMillis,
) -> Params {
    let mut params: Params = [
        ("method", method),
        ("timestamp", &beijing(now)),
        ("format", "xml"),
        ("app_key", app_key),
        ("v", VERSION),
        ("sign_method", "md5"),
        ("customerId", customer_id),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let sign = sign(&params, body, secret);
    params.insert("sign".to_owned(), sign);
    params
}

/// `at` as `yyyy-MM-dd HH:mm:ss` in Beijing time, whole seconds (rounded down). A time outside
/// what the format can hold is clamped to its range (never a panic).
pub fn beijing(at: UtcMillis) -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let seconds = at.0.div_euclid(1000).clamp(0, 253_402_300_799 - 8 * 3600);
    OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset!(+8))
        .format(format)
        .unwrap_or_default()
}

/// A 3PL's `yyyy-MM-dd HH:mm:ss` Beijing time as UTC milliseconds; `None` when it is not one.
pub fn parse_beijing(text: &str) -> Option<UtcMillis> {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let local = PrimitiveDateTime::parse(text.trim(), format).ok()?;
    let utc = local.assume_offset(offset!(+8));
    Some(UtcMillis(utc.unix_timestamp() * 1000))
}
