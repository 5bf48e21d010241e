//! The embedded web console: served at `/` and `/assets/{path}` with the right content types,
//! revalidation and security headers; the page modules listed at `/assets/pages/index.json`;
//! unknown assets are 404 in the JSON error shape.

mod support;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use std::sync::Arc;
use support::FakeHub;
use tower::ServiceExt;
use xt_mobile_api::console::CONSOLE_CSP;
use xt_mobile_api::router;

async fn get(path: &str, headers: &[(&str, &str)]) -> (StatusCode, HeaderMap, Vec<u8>) {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = router(Arc::new(FakeHub::new(3)))
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    (status, headers, body.to_vec())
}

#[tokio::test]
async fn index_and_assets_have_types_and_security_headers() {
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/i18n.json", "application/json"),
        ("/assets/favicon.svg", "image/svg+xml"),
        ("/assets/pages/orders.js", "text/javascript; charset=utf-8"),
        ("/assets/pages/index.json", "application/json"),
    ] {
        let (status, headers, body) = get(path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(headers["content-security-policy"], CONSOLE_CSP, "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        assert!(!body.is_empty(), "{path}");
        // Revalidation: the same ETag answers 304 without a body.
        let etag = headers["etag"].to_str().unwrap().to_owned();
        let (status, _, body) = get(path, &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(body.is_empty());
    }
    let csp = CONSOLE_CSP;
    for directive in [
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "{directive}");
    }
    assert!(!csp.contains("unsafe-inline"));
}

#[tokio::test]
async fn the_page_has_no_inline_script_or_style() {
    let (_, _, body) = get("/", &[]).await;
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains(r#"<script type="module" src="/assets/app.js">"#));
    assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains("style="));
}

#[tokio::test]
async fn unknown_assets_are_404_json() {
    for path in [
        "/assets/nope.js",
        "/assets/index.html",
        "/assets/..%2Fsrc%2Flib.rs",
        "/assets/pages/../i18n.json",
        "/assets/pages/%2E%2E/i18n.json",
        "/assets/pages/",
        "/assets/pages/index.html",
    ] {
        let (status, _, body) = get(path, &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "not_found", "{path}");
    }
}

#[tokio::test]
async fn the_page_list_names_every_page_module_and_each_is_served() {
    let (status, _, body) = get("/assets/pages/index.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    let pages: Vec<String> = serde_json::from_slice(&body).unwrap();
    for page in [
        "dashboard",
        "orders",
        "stock",
        "shops",
        "sku-mappings",
        "agents",
        "users",
        "keys",
    ] {
        assert!(
            pages.contains(&format!("/assets/pages/{page}.js")),
            "{page} in {pages:?}"
        );
    }
    for url in &pages {
        let (status, headers, body) = get(url, &[]).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(headers["content-security-policy"], CONSOLE_CSP, "{url}");
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("export const page"), "{url}");
    }
    // The navigation is built from them, not written into the page.
    let (_, _, body) = get("/", &[]).await;
    let html = String::from_utf8(body).unwrap();
    assert!(
        !html.contains("data-page="),
        "index.html hard-codes nav links"
    );
}
