//! The platforms' request and webhook signatures, as `channels-wire.md` gives them. Public so
//! tests (and clients under test) can sign what they send the simulator.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use md5::{Digest, Md5};
use std::collections::BTreeMap;

/// `name1value1name2value2…` over every parameter except `sign`, sorted by name.
fn concat(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, _)| k.as_str() != "sign")
        .map(|(k, v)| format!("{k}{v}"))
        .collect()
}

/// TOP `sign_method=md5`: `MD5(secret + concat + secret)`, hex upper-case.
pub fn top_md5(params: &BTreeMap<String, String>, secret: &str) -> String {
    let mut md5 = Md5::new();
    md5.update(secret.as_bytes());
    md5.update(concat(params).as_bytes());
    md5.update(secret.as_bytes());
    hex::encode_upper(md5.finalize())
}

/// TOP `sign_method=hmac`: `HMAC_MD5(key = secret, concat)`, hex upper-case.
pub fn top_hmac(params: &BTreeMap<String, String>, secret: &str) -> String {
    let mut mac =
        Hmac::<Md5>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(concat(params).as_bytes());
    hex::encode_upper(mac.finalize().into_bytes())
}

/// JD: `MD5(secret + concat + secret)`, hex upper-case (the same rule as TOP's md5).
pub fn jd_md5(params: &BTreeMap<String, String>, secret: &str) -> String {
    top_md5(params, secret)
}

/// Shopify and WooCommerce webhooks: `base64(HMAC-SHA256(key = secret, body))`.
pub fn webhook_hmac_sha256(secret: &str, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    STANDARD.encode(ring::hmac::sign(&key, body).as_ref())
}

/// Compares a signature or secret with what was given (ASCII case-insensitive, for hex). Not
/// constant time: the simulator guards nothing; the hub's own checks must be.
pub(crate) fn same(expected: &str, given: &str) -> bool {
    expected.eq_ignore_ascii_case(given.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn top_md5_signs_sorted_name_value_pairs_between_the_secret() {
        let p = params(&[("method", "m1"), ("app_key", "k1"), ("sign", "x")]);
        assert_eq!(top_md5(&p, "secret"), "784B502487581855B94E50886F109A60");
    }

    #[test]
    fn top_hmac_is_hmac_md5_of_the_concat() {
        // RFC 2104 test vector: key "Jefe", data "what do ya want for nothing?".
        let p = params(&[("what do ya want for nothing?", "")]);
        assert_eq!(top_hmac(&p, "Jefe"), "750C783E6AB0B503EAA86E310A5DB738");
    }

    #[test]
    fn webhook_signature_is_base64_hmac_sha256() {
        assert_eq!(
            webhook_hmac_sha256("key", b"The quick brown fox jumps over the lazy dog"),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
        );
    }
}
