//! The HTTP router: each shop under `/{key}` with its platform's paths, and `/_sim/*`.

use crate::model::Family;
use crate::state::Sim;
use crate::{ShopSpec, jd, qimen, shopify, taobao, woo};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Request bodies above this are refused (the platforms' list calls have small bodies).
const BODY_BYTES_MAX: usize = 64 * 1024;

pub(crate) fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/truth/{key}", get(truth))
        .route("/{key}/router/rest", post(top).get(top))
        .route("/{key}/routerjson", post(jd_route).get(jd_route))
        .route("/{key}/admin/api/2024-07/orders.json", get(shopify_route))
        .route("/{key}/wp-json/wc/v3/orders", get(woo_route))
        .route("/3pl/{code}/qimen", post(qimen::api))
        .route("/_sim/3pl", post(qimen::register))
        .route("/_sim/3pl/{code}", get(qimen::log))
        .route("/_sim/3pl/{code}/ship", post(qimen::ship))
        .merge(crate::writeback::routes())
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(BODY_BYTES_MAX))
        .with_state(sim)
}

async fn stats(State(sim): State<Arc<Sim>>) -> Json<crate::Stats> {
    Json(sim.stats())
}

async fn truth(State(sim): State<Arc<Sim>>, Path(key): Path<String>) -> Response {
    match sim.truth(&key) {
        Some(truth) => Json(truth).into_response(),
        None => not_found().await,
    }
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"errors": "Not Found"}))).into_response()
}

/// The shop under `key` when it is of `family`.
fn shop(sim: &Sim, key: &str, family: Family) -> Option<ShopSpec> {
    let state = sim.lock();
    state
        .shop(key)
        .filter(|s| s.family == family)
        .map(|s| s.spec.clone())
}

async fn top(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(spec) = shop(&sim, &key, Family::Top) else {
        return not_found().await;
    };
    sim.count_request();
    taobao::handle(&sim, &spec, params(query.as_deref(), &body)).await
}

async fn jd_route(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(spec) = shop(&sim, &key, Family::Jd) else {
        return not_found().await;
    };
    sim.count_request();
    jd::handle(&sim, &spec, params(query.as_deref(), &body)).await
}

async fn shopify_route(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(spec) = shop(&sim, &key, Family::Shopify) else {
        return not_found().await;
    };
    sim.count_request();
    shopify::handle(&sim, &spec, &headers, pairs(query.as_deref())).await
}

async fn woo_route(
    State(sim): State<Arc<Sim>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let Some(spec) = shop(&sim, &key, Family::Woo) else {
        return not_found().await;
    };
    sim.count_request();
    woo::handle(&sim, &spec, &headers, pairs(query.as_deref())).await
}

/// Query and form body parameters together (TOP and JD accept both); the body wins.
fn params(query: Option<&str>, body: &[u8]) -> BTreeMap<String, String> {
    let mut all: BTreeMap<String, String> = pairs(query).into_iter().collect();
    all.extend(url::form_urlencoded::parse(body).into_owned());
    all
}

/// Query parameters in order (Shopify must tell which ones came with `page_info`).
fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// One page of rows sorted by the platform's order.
pub(crate) struct Page<T = Value> {
    pub rows: Vec<T>,
    pub total: usize,
    pub has_next: bool,
    pub repeated: usize,
}

/// Page `page` (from 1) of `size` rows; `repeat` rows of the previous page go first again.
pub(crate) fn paginate<T: Clone>(rows: Vec<T>, page: usize, size: usize, repeat: usize) -> Page<T> {
    let total = rows.len();
    let start = (page - 1).saturating_mul(size).min(total);
    let end = start.saturating_add(size).min(total);
    // Repeat only onto a page that has rows of its own.
    let from = if start == end {
        start
    } else {
        start.saturating_sub(repeat)
    };
    Page {
        repeated: start - from,
        rows: rows[from..end].to_vec(),
        total,
        has_next: end < total,
    }
}

/// A sleep for a `slow` fault, outside any lock.
pub(crate) async fn slow(ms: u64) {
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(n: u64) -> Vec<Value> {
        (0..n).map(|i| json!(i)).collect()
    }

    #[test]
    fn pages_cover_every_row_once_without_repeats() {
        let mut seen = Vec::new();
        let mut page = 1;
        loop {
            let p = paginate(rows(7), page, 3, 0);
            seen.extend(p.rows);
            if !p.has_next {
                break;
            }
            page += 1;
        }
        assert_eq!(seen, rows(7));
    }

    #[test]
    fn a_repeat_puts_rows_of_the_previous_page_first() {
        let p = paginate(rows(7), 2, 3, 2);
        assert_eq!(
            p.rows,
            vec![json!(1), json!(2), json!(3), json!(4), json!(5)]
        );
        assert_eq!(p.repeated, 2);
        assert!(p.has_next);
        let past_the_end = paginate(rows(7), 4, 3, 2);
        assert!(past_the_end.rows.is_empty());
    }
}
