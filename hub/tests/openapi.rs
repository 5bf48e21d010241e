//! The real hub router serves its OpenAPI description without credentials.

mod support;

use axum::http::{Method, StatusCode};
use support::env;

#[tokio::test]
async fn hub_serves_the_openapi_document() {
    let env = env();
    let r = env
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers.contains_key("x-request-id"));
    let doc = r.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (method, path) in xt_mobile_api::openapi::operations() {
        assert!(
            doc["paths"][&path][method.to_lowercase()].is_object(),
            "{method} {path} undocumented"
        );
    }
}
