//! Webhooks of Shopify and WooCommerce: the signature check (base64 HMAC-SHA256 of the raw body
//! under the shop's webhook secret, compared in constant time) and the bare order they carry.

use super::client::{Captured, WebhookRefusal};
use super::wire::capture_order;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::HeaderMap;
use ring::hmac;
use xt_shared::order::Platform;

pub const SHOPIFY_SIGNATURE_HEADER: &str = "x-shopify-hmac-sha256";
pub const WOOCOMMERCE_SIGNATURE_HEADER: &str = "x-wc-webhook-signature";

/// Checks `header` against base64(HMAC-SHA256(secret, body)) in constant time.
fn verify_hmac_sha256(
    secret: Option<&str>,
    header: &'static str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), WebhookRefusal> {
    let secret = secret
        .filter(|s| !s.is_empty())
        .ok_or(WebhookRefusal::NoSecret)?;
    let given = headers
        .get(header)
        .ok_or(WebhookRefusal::MissingSignature(header))?;
    let tag = STANDARD
        .decode(given.as_bytes().trim_ascii())
        .map_err(|_| WebhookRefusal::MalformedSignature(header))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    hmac::verify(&key, body, &tag).map_err(|_| WebhookRefusal::BadSignature(header))
}

/// Checks a webhook delivery of `platform` signed with the shop's webhook secret: Shopify's
/// `X-Shopify-Hmac-Sha256`, WooCommerce's `X-WC-Webhook-Signature`; Taobao and JD send none.
/// The one check both the channels and the hub's webhook route use.
pub fn verify(
    platform: Platform,
    secret: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), WebhookRefusal> {
    let header = match platform {
        Platform::Shopify => SHOPIFY_SIGNATURE_HEADER,
        Platform::Woocommerce => WOOCOMMERCE_SIGNATURE_HEADER,
        Platform::Taobao | Platform::Tmall | Platform::Jd => {
            return Err(WebhookRefusal::Unsupported(platform));
        }
    };
    verify_hmac_sha256(secret, header, headers, body)
}

/// The signature header value for `body` under `secret` (what the platform sends).
pub fn sign_hmac_sha256(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    STANDARD.encode(hmac::sign(&key, body).as_ref())
}

/// The bare order of a webhook body: the order (plus, for Shopify and WooCommerce, the refunds
/// inside it), or one `Malformed` item with the raw payload and the reason.
pub fn parse_webhook_order(platform: Platform, body: &[u8]) -> Vec<Captured> {
    match std::str::from_utf8(body) {
        Ok(text) => capture_order(platform, text),
        Err(e) => vec![Captured::Malformed {
            raw: String::from_utf8_lossy(body).into_owned(),
            order_no: None,
            reason: format!("{platform} webhook body is not UTF-8: {e}"),
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn hmac_sha256_known_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let tag = sign_hmac_sha256("Jefe", b"what do ya want for nothing?");
        let hex_tag = hex::encode(STANDARD.decode(&tag).unwrap());
        assert_eq!(
            hex_tag,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verification_accepts_the_right_tag_and_refuses_others() {
        let body = br#"{"id":1}"#;
        let mut headers = HeaderMap::new();
        let h = SHOPIFY_SIGNATURE_HEADER;
        assert_eq!(
            verify_hmac_sha256(Some("s"), h, &headers, body),
            Err(WebhookRefusal::MissingSignature(h))
        );
        headers.insert(
            h,
            HeaderValue::from_str(&sign_hmac_sha256("s", body)).unwrap(),
        );
        assert_eq!(verify_hmac_sha256(Some("s"), h, &headers, body), Ok(()));
        assert_eq!(
            verify_hmac_sha256(Some("other"), h, &headers, body),
            Err(WebhookRefusal::BadSignature(h))
        );
        assert_eq!(
            verify_hmac_sha256(Some("s"), h, &headers, br#"{"id":2}"#),
            Err(WebhookRefusal::BadSignature(h))
        );
        assert_eq!(
            verify_hmac_sha256(None, h, &headers, body),
            Err(WebhookRefusal::NoSecret)
        );
        headers.insert(h, HeaderValue::from_static("not base64!"));
        assert_eq!(
            verify_hmac_sha256(Some("s"), h, &headers, body),
            Err(WebhookRefusal::MalformedSignature(h))
        );
    }

    #[test]
    fn a_webhook_body_that_is_not_an_order_is_malformed_with_its_raw_text() {
        let items = parse_webhook_order(Platform::Shopify, b"{not json");
        assert!(
            matches!(&items[..], [Captured::Malformed { raw, order_no: None, .. }] if raw == "{not json")
        );
        let items = parse_webhook_order(Platform::Woocommerce, br#"{"id":7}"#);
        assert!(matches!(&items[..], [Captured::Malformed { order_no: Some(n), .. }] if n == "7"));
    }
}
