//! The real hub router serves its OpenAPI description without credentials; the document matches
//! the router, and every response carries a request id.

mod support;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;
use support::{Env, env};
use xt_mobile_api::{REQUEST_ID_BYTES_MAX, REQUEST_ID_HEADER};

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

async fn document(env: &Env) -> Value {
    let r = env
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.content_type(), "application/json");
    r.body
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, _) in item.as_object().unwrap() {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

/// What the router's domains register (each route and its path from one `#[utoipa::path]`).
fn routed() -> BTreeSet<(String, String)> {
    xt_mobile_api::openapi::operations().into_iter().collect()
}

#[tokio::test]
async fn document_is_openapi_3_1_without_auth() {
    let doc = document(&env()).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    let description = bearer["description"].as_str().unwrap();
    assert!(description.contains("API key") && description.contains("access token"));
    for schema in [
        "ErrorBody",
        "AgentView",
        "AgentRole",
        "Role",
        "StockPage",
        "UserView",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
    let roles = &doc["components"]["schemas"]["AgentRole"]["enum"];
    assert_eq!(roles, &serde_json::json!(["warehouse", "finance", "pos"]));
}

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_is_routed() {
    let doc = document(&env()).await;
    let documented = documented(&doc);
    let routed = routed();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routed but not documented: {undocumented:?}"
    );
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
}

#[tokio::test]
async fn every_listed_route_is_served() {
    // The router and the document come from one list; this checks the router really answers
    // each documented (method, path) with something other than the unknown-route 404 or a 405.
    let env = env();
    for (method, path) in routed() {
        let concrete = path
            .replace("{id}", "agent-x")
            .replace("{username}", "nobody");
        let req = Request::builder()
            .method(Method::from_bytes(method.as_bytes()).unwrap())
            .uri(&concrete)
            .body(Body::empty())
            .unwrap();
        let r = env.send(req).await;
        assert_ne!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            r.text
        );
        let message = r.body["error"]["message"].as_str().unwrap_or("");
        assert!(
            !message.starts_with("no route for"),
            "{method} {path} is not routed: {}",
            r.text
        );
    }
}

#[tokio::test]
async fn operations_document_security_and_errors() {
    let doc = document(&env()).await;
    let public = [
        ("get", "/healthz"),
        ("get", "/api/v1/openapi.json"),
        ("get", "/.well-known/jwks.json"),
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/refresh"),
        ("post", "/api/v1/auth/logout"),
        // Signed by the platform with the shop's webhook secret instead of a bearer credential.
        ("post", "/api/v1/webhooks/{platform}/{shop}"),
        // Signed by the 3PL with the warehouse's Qimen secret.
        ("post", "/api/v1/callbacks/qimen/{tenant}/{warehouse}"),
    ];
    // Any valid credential may ask who it is: no 403 to document.
    let never_forbidden = [("get", "/api/v1/me")];
    for (method, path) in routed() {
        let method = method.to_lowercase();
        let op = &doc["paths"][&path][&method];
        let is_public = public.contains(&(method.as_str(), path.as_str()));
        if is_public {
            assert!(
                op.get("security").is_none(),
                "{method} {path} should be public"
            );
        } else {
            assert_eq!(
                op["security"],
                serde_json::json!([{"bearer": []}]),
                "{method} {path}"
            );
            for status in ["401", "403"] {
                if status == "403" && never_forbidden.contains(&(method.as_str(), path.as_str())) {
                    continue;
                }
                let schema = &op["responses"][status]["content"]["application/json"]["schema"];
                assert_eq!(
                    schema["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
        for param in path.split('{').skip(1) {
            let name = param.split('}').next().unwrap();
            let params = op["parameters"].as_array().expect("parameters");
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "path"),
                "{method} {path}: path parameter {name} undocumented"
            );
        }
    }
    let login = &doc["paths"]["/api/v1/auth/login"]["post"];
    assert!(login["responses"]["429"]["headers"]["Retry-After"].is_object());
    let stock = doc["paths"]["/api/v1/stock"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: BTreeSet<_> = stock.iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["warehouse", "sku", "sku_prefix", "cursor", "limit"])
    );
}

#[tokio::test]
async fn every_response_has_a_request_id_and_a_supplied_one_is_echoed() {
    let env = env();
    let mut seen = BTreeSet::new();
    for path in ["/healthz", "/api/v1/agents", "/no/such/route"] {
        let r = env.call(Method::GET, path, None, None).await;
        let id = r.headers[REQUEST_ID_HEADER].to_str().unwrap().to_owned();
        assert_eq!(id.len(), 36, "not a uuid: {id}");
        assert!(seen.insert(id), "request ids repeat");
    }

    let r = env
        .send(
            Request::get("/api/v1/agents")
                .header(REQUEST_ID_HEADER, "client-abc-123")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[REQUEST_ID_HEADER], "client-abc-123");

    // Unusable ids (too long, not printable ASCII) are replaced, not echoed.
    for bad in ["x".repeat(REQUEST_ID_BYTES_MAX + 1), "has space".to_owned()] {
        let r = env
            .send(
                Request::get("/healthz")
                    .header(REQUEST_ID_HEADER, bad.as_str())
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        let id = r.headers[REQUEST_ID_HEADER].to_str().unwrap();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 36);
    }
}
