//! Short, sanitized reasons for a shop's health. A platform's error body may echo what it was
//! sent (signed parameters, tokens) or hold anything at all, and the health is shown to every
//! reader of the shop: so an error names the HTTP status and the platform's own error code and
//! message fields, each cut short, never the body, a header or a URL's path and query.

use serde_json::Value;

/// Longest reason kept in a shop's health, in characters.
pub const REASON_CHARS_MAX: usize = 300;
/// Longest single field (code, message) taken from a platform's error body, in characters.
pub const FIELD_CHARS_MAX: usize = 120;
/// Fields taken from one error body.
const FIELDS_MAX: usize = 4;
/// Words at least this long made only of token characters, with letters and digits, are taken
/// for secrets (tokens, signatures, session keys) and not repeated.
const SECRET_CHARS_MIN: usize = 20;

/// `text` with control characters and runs of whitespace as one space, URLs cut to their
/// origin, query strings and secret-looking words replaced, at most `chars_max` characters.
pub fn sanitize(text: &str, chars_max: usize) -> String {
    let words: Vec<String> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
        .map(word)
        .collect();
    cut(&words.join(" "), chars_max)
}

fn word(w: &str) -> String {
    if w.contains("://") {
        let trimmed =
            w.trim_matches(|c: char| matches!(c, '"' | '\'' | '(' | ')' | '<' | '>' | ',' | ';'));
        return match url::Url::parse(trimmed) {
            Ok(url) if url.host().is_some() => url.origin().ascii_serialization(),
            _ => "[url]".to_owned(),
        };
    }
    if w.contains('=') && (w.contains('&') || w.contains('?')) {
        return "[query]".to_owned();
    }
    let core = w.trim_matches(|c: char| !c.is_alphanumeric());
    let token_chars = core
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/' | '='));
    if core.chars().count() >= SECRET_CHARS_MIN
        && token_chars
        && core.chars().any(|c| c.is_ascii_digit())
        && core.chars().any(|c| c.is_ascii_alphabetic())
    {
        return "[redacted]".to_owned();
    }
    w.to_owned()
}

fn cut(text: &str, chars_max: usize) -> String {
    if text.chars().count() <= chars_max {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(chars_max.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// The platform's own error code and message fields of an error body, sanitized: TOP and JD
/// `error_response` (`code`, `msg`, `sub_code`, `sub_msg`, `en_desc`, `zh_desc`), Shopify
/// `errors`, WooCommerce `code` and `message`, OAuth-style `error` and `error_description`.
/// `None` when the body is not JSON or holds none of them.
pub fn platform_fields(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    let mut found = Vec::new();
    let scalar = |v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    if let Some(inner) = object.get("error_response").and_then(Value::as_object) {
        for key in ["code", "msg", "sub_code", "sub_msg", "en_desc", "zh_desc"] {
            found.extend(inner.get(key).and_then(scalar));
        }
    }
    match object.get("errors") {
        Some(Value::Object(fields)) => {
            for (field, messages) in fields {
                let messages = match messages {
                    Value::Array(list) => list.iter().filter_map(scalar).collect::<Vec<_>>(),
                    other => scalar(other).into_iter().collect(),
                };
                found.push(format!("{field}: {}", messages.join(", ")));
            }
        }
        Some(Value::Array(list)) => found.extend(list.iter().filter_map(scalar)),
        Some(other) => found.extend(scalar(other)),
        None => {}
    }
    for key in ["code", "message", "error", "error_description"] {
        match object.get(key) {
            Some(Value::Object(inner)) => {
                found.extend(inner.get("message").and_then(scalar));
            }
            Some(v) => found.extend(scalar(v)),
            None => {}
        }
    }
    let fields: Vec<String> = found
        .iter()
        .take(FIELDS_MAX)
        .map(|f| sanitize(f, FIELD_CHARS_MAX))
        .filter(|f| !f.is_empty())
        .collect();
    (!fields.is_empty()).then(|| fields.join("; "))
}

/// A JSON error without the input it may quote (serde's data errors repeat the value read).
pub fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "unreadable",
        Category::Syntax => "not JSON",
        Category::Data => "not of the expected shape",
        Category::Eof => "cut short",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_lose_control_characters_urls_queries_and_secret_looking_words() {
        let text = "bad\u{7}\n\tthing at https://eco.taobao.com/router/rest?sign=ABC&session=s1 \
                    sign=0f0e&x=1 token shpat_0123456789abcdef0123 isp.trade-service-unavailable";
        assert_eq!(
            sanitize(text, 500),
            "bad thing at https://eco.taobao.com [query] token [redacted] \
             isp.trade-service-unavailable"
        );
        let long = "x".repeat(500);
        let cut = sanitize(&long, 50);
        assert_eq!(cut.chars().count(), 50);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn platform_fields_are_the_error_codes_and_messages_only() {
        let top = br#"{"error_response":{"code":11,"msg":"Insufficient isv permissions",
            "sub_code":"isv.permission-api-package-empty","sub_msg":"no refund api",
            "request_id":"r1","echo":"SECRET-SESSION-123"}}"#;
        assert_eq!(
            platform_fields(top).unwrap(),
            "11; Insufficient isv permissions; isv.permission-api-package-empty; no refund api"
        );
        let shopify = br#"{"errors":"[API] Invalid API key or access token","token":"shpat_x"}"#;
        assert_eq!(
            platform_fields(shopify).unwrap(),
            "[API] Invalid API key or access token"
        );
        let fields = br#"{"errors":{"updated_at_min":["is invalid"]}}"#;
        assert_eq!(
            platform_fields(fields).unwrap(),
            "updated_at_min: is invalid"
        );
        let woo = br#"{"code":"woocommerce_rest_cannot_view","message":"Sorry, you cannot list resources.","data":{"status":401}}"#;
        assert_eq!(
            platform_fields(woo).unwrap(),
            "woocommerce_rest_cannot_view; Sorry, you cannot list resources."
        );
        assert_eq!(platform_fields(b"<html>SECRET</html>"), None);
        assert_eq!(platform_fields(br#"{"debug":"SECRET"}"#), None);
    }

    #[test]
    fn json_errors_do_not_quote_the_input() {
        let e = serde_json::from_str::<bool>(r#""SECRET-VALUE""#).unwrap_err();
        let text = json_error(&e);
        assert!(!text.contains("SECRET"), "{text}");
        assert!(text.contains("line 1"), "{text}");
    }
}
