//! The embedded web console, as the real hub serves it: at `/` and `/assets/{path}` with the
//! right content types, revalidation and security headers; the page modules listed at
//! `/assets/pages/index.json`; unknown assets are 404 in the JSON error shape.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use support::{Env, Reply, env};
use xt_mobile_api::console::CONSOLE_CSP;

async fn get(env: &Env, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    env.send(req.body(Body::empty()).unwrap()).await
}

#[tokio::test]
async fn index_and_assets_have_types_and_security_headers() {
    let env = env();
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
        ("/assets/i18n.json", "application/json"),
        ("/assets/favicon.svg", "image/svg+xml"),
        ("/assets/pages/orders.js", "text/javascript; charset=utf-8"),
        ("/assets/pages/index.json", "application/json"),
    ] {
        let r = get(&env, path, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert_eq!(r.content_type(), content_type, "{path}");
        assert_eq!(r.headers["content-security-policy"], CONSOLE_CSP, "{path}");
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(r.headers["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(r.headers["cache-control"], "no-cache", "{path}");
        assert!(!r.text.is_empty(), "{path}");
        // Revalidation: the same ETag answers 304 without a body.
        let etag = r.headers["etag"].to_str().unwrap().to_owned();
        let r = get(&env, path, &[("if-none-match", &etag)]).await;
        assert_eq!(r.status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(r.text.is_empty());
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
    let html = get(&env(), "/", &[]).await.text;
    assert!(html.contains(r#"<script type="module" src="/assets/app.js">"#));
    assert!(!html.contains("<script>") && !html.contains("<style") && !html.contains("style="));
}

#[tokio::test]
async fn unknown_assets_are_404_json() {
    let env = env();
    for path in [
        "/assets/nope.js",
        "/assets/index.html",
        "/assets/..%2Fsrc%2Flib.rs",
        "/assets/pages/../i18n.json",
        "/assets/pages/%2E%2E/i18n.json",
        "/assets/pages/",
        "/assets/pages/index.html",
    ] {
        let r = get(&env, path, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.error_code(), "not_found", "{path}");
    }
}

#[tokio::test]
async fn the_page_list_names_every_page_module_and_each_is_served() {
    let env = env();
    let r = get(&env, "/assets/pages/index.json", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    let pages: Vec<String> = serde_json::from_value(r.body).unwrap();
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
        let r = get(&env, url, &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{url}");
        assert_eq!(r.headers["content-security-policy"], CONSOLE_CSP, "{url}");
        assert!(r.text.contains("export const page"), "{url}");
    }
    // The navigation is built from them, not written into the page.
    let html = get(&env, "/", &[]).await.text;
    assert!(
        !html.contains("data-page="),
        "index.html hard-codes nav links"
    );
}
