//! The real hub router serves its OpenAPI description without credentials.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt as _;
use xt_hub::api::HttpApi;
use xt_hub::hub::{Hub, HubSettings};
use xt_shared::ids::TenantId;

#[tokio::test]
async fn hub_serves_the_openapi_document() {
    let dir = tempfile::tempdir().unwrap();
    xt_hub::cli::init_hub(dir.path(), &TenantId::new("acme").unwrap()).unwrap();
    let hub = Arc::new(Hub::open(dir.path(), HubSettings::default()).unwrap());
    let router = xt_mobile_api::router(Arc::new(HttpApi::new(hub)));
    let response = router
        .oneshot(
            Request::get("/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().contains_key("x-request-id"));
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let doc: Value = serde_json::from_slice(&bytes).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for (method, path) in xt_mobile_api::ROUTES {
        assert!(
            doc["paths"][path][method.to_lowercase()].is_object(),
            "{method} {path} undocumented"
        );
    }
}
