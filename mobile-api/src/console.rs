//! The web console: one page (`GET /`) and its assets (`GET /assets/{file}`), all embedded in
//! the binary at build time from `mobile-api/console/`, so serving it needs no files on disk and
//! building it needs no Node toolchain. The page routes with `#/…` fragments, so the server
//! only ever serves `/`.
//!
//! These routes are deliberately outside the API's `endpoints!` list (and its OpenAPI
//! description): they serve a page, not JSON. Every response carries a strict
//! Content-Security-Policy (no inline scripts or styles, same-origin connections only), so a
//! value that slipped through the console's escaping still could not run.

use crate::error::ApiError;
use crate::routes::AppState;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::sync::OnceLock;

/// The Content-Security-Policy of every console response.
pub const CONSOLE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Everything the console is made of; `index.html` is served at `/`, the rest under `/assets/`.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("i18n.js", JS),
    asset!("ui.js", JS),
    asset!("charts.js", JS),
    asset!("pages.js", JS),
    asset!("admin.js", JS),
    asset!("shops.js", JS),
    asset!("orders.js", JS),
    asset!("i18n.json", "application/json"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The console's routes, merged into [`crate::router`].
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/assets/{file}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(
        find("index.html").expect("index.html is embedded"),
        &headers,
    )
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    match find(&file).filter(|a| a.name != "index.html") {
        Some(asset) => Ok(serve(asset, &headers)),
        None => Err(ApiError::NotFound(format!("no console asset {file:?}"))),
    }
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// A strong ETag per asset, computed once: the names are not content-hashed, so browsers
/// revalidate (`no-cache`) and get a 304 while the binary is unchanged.
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                // FNV-1a: stable, dependency-free, and plenty to tell two builds apart.
                let hash = a.body.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
                });
                format!("\"{hash:016x}-{}\"", a.body.len())
            })
            .collect()
    });
    let i = ASSETS
        .iter()
        .position(|a| a.name == asset.name)
        .unwrap_or_default();
    &tags[i]
}

fn serve(asset: &'static Asset, request: &HeaderMap) -> Response {
    let tag = etag(asset);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_static(tag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn table() -> serde_json::Map<String, serde_json::Value> {
        let text = find("i18n.json").unwrap().body;
        serde_json::from_slice(text).expect("i18n.json is a JSON object")
    }

    fn keys(lang: &serde_json::Value) -> BTreeSet<String> {
        lang.as_object()
            .expect("a language is an object of key → text")
            .iter()
            .map(|(k, v)| {
                assert!(
                    v.as_str().is_some_and(|s| !s.is_empty()),
                    "{k} must be a non-empty string"
                );
                k.clone()
            })
            .collect()
    }

    /// Every `data-i18n*="key"` in the HTML and every `t("key")` in the scripts (the one
    /// convention the console uses for text, so it can be checked here).
    fn used_keys() -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        for asset in ASSETS {
            let text = std::str::from_utf8(asset.body).unwrap();
            let patterns: &[&str] = match asset.name {
                "index.html" => &[
                    "data-i18n=\"",
                    "data-i18n-placeholder=\"",
                    "data-i18n-title=\"",
                ],
                n if n.ends_with(".js") => &["t(\""],
                _ => &[],
            };
            for pattern in patterns {
                for (at, _) in text.match_indices(pattern) {
                    let start = at + pattern.len();
                    // `t("` must be the function itself, not the end of another name.
                    if *pattern == "t(\""
                        && text[..at]
                            .chars()
                            .next_back()
                            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.')
                    {
                        continue;
                    }
                    let end = text[start..].find('"').unwrap() + start;
                    used.insert(text[start..end].to_owned());
                }
            }
        }
        used
    }

    #[test]
    fn both_languages_have_the_same_keys_and_every_used_key() {
        let table = table();
        let zh = keys(&table["zh-CN"]);
        let en = keys(&table["en"]);
        assert_eq!(table.len(), 2, "exactly zh-CN and en");
        let only_zh: Vec<_> = zh.difference(&en).collect();
        let only_en: Vec<_> = en.difference(&zh).collect();
        assert!(only_zh.is_empty(), "missing in en: {only_zh:?}");
        assert!(only_en.is_empty(), "missing in zh-CN: {only_en:?}");
        let used = used_keys();
        assert!(used.len() > 50, "the key scan found only {used:?}");
        let missing: Vec<_> = used.difference(&zh).collect();
        assert!(missing.is_empty(), "used but not in i18n.json: {missing:?}");
    }

    #[test]
    fn every_script_the_page_loads_is_embedded() {
        let index = std::str::from_utf8(find("index.html").unwrap().body).unwrap();
        for asset in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(asset.body).unwrap();
            for (at, _) in text.match_indices("from \"./") {
                let start = at + "from \"./".len();
                let end = text[start..].find('"').unwrap() + start;
                assert!(
                    find(&text[start..end]).is_some(),
                    "{} imports {}",
                    asset.name,
                    &text[start..end]
                );
            }
        }
        for (at, _) in index.match_indices("/assets/") {
            let start = at + "/assets/".len();
            let end = text_end(&index[start..]) + start;
            assert!(
                find(&index[start..end]).is_some(),
                "index.html loads {}",
                &index[start..end]
            );
        }
    }

    fn text_end(s: &str) -> usize {
        s.find(['"', '?', '#']).unwrap()
    }
}
