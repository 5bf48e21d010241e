//! A small retrying client of the simulator's four APIs, written from `channels-wire.md`.

#![allow(dead_code)]

use base64::Engine;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use time::OffsetDateTime;
use time::macros::{format_description, offset};
use xt_platform_sim::{ShopSpec, sign};
use xt_shared::order::Platform;

/// Retries of one request before the test gives up (the sim serves after 3 failures in a row).
const TRIES_MAX: usize = 10;

pub fn beijing(t: OffsetDateTime) -> String {
    t.to_offset(offset!(+8))
        .format(format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second]"
        ))
        .unwrap()
}

pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

pub fn gmt(t: OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap()
}

/// What a full fetch saw.
#[derive(Default, Debug)]
pub struct Fetched {
    /// Every row in the order served, repeats included.
    pub rows: Vec<Value>,
    /// Requests answered with a rate limit or a transient error, then retried.
    pub retried: usize,
}

impl Fetched {
    /// The last row served per order number.
    pub fn by_no(&self, platform: Platform) -> BTreeMap<String, Value> {
        self.rows
            .iter()
            .map(|r| (order_no(platform, r), r.clone()))
            .collect()
    }

    pub fn repeats(&self, platform: Platform) -> usize {
        self.rows.len() - self.by_no(platform).len()
    }
}

pub fn order_no(platform: Platform, raw: &Value) -> String {
    let v = match platform {
        Platform::Taobao | Platform::Tmall => &raw["tid_str"],
        Platform::Jd => &raw["orderId"],
        Platform::Shopify | Platform::Woocommerce => &raw["id"],
    };
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub spec: ShopSpec,
}

/// A request's outcome: the answer, or retry.
enum Attempt {
    Done(reqwest::header::HeaderMap, Value),
    Retry,
}

impl Client {
    pub fn new(base: String, spec: ShopSpec) -> Client {
        Client {
            http: reqwest::Client::new(),
            base,
            spec,
        }
    }

    /// A signed TOP or JD call (POST form), answered as JSON, without retries.
    pub async fn signed(&self, mut params: BTreeMap<String, String>, secret: &str) -> (u16, Value) {
        let (path, sig) = match self.spec.platform {
            Platform::Jd => ("routerjson", sign::jd_md5(&params, secret)),
            _ => ("router/rest", sign::top_md5(&params, secret)),
        };
        params.insert("sign".into(), sig);
        let r = self
            .http
            .post(format!("{}/{path}", self.base))
            .form(&params)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub fn top_params(
        &self,
        method: &str,
        start: OffsetDateTime,
        end: OffsetDateTime,
        page: usize,
    ) -> BTreeMap<String, String> {
        let c = &self.spec.credentials;
        let now = OffsetDateTime::now_utc();
        [
            ("method", method.to_owned()),
            ("app_key", c[0].clone()),
            ("session", c[2].clone()),
            ("timestamp", beijing(now)),
            ("format", "json".into()),
            ("v", "2.0".into()),
            ("sign_method", "md5".into()),
            (
                "fields",
                "tid,tid_str,status,payment,orders,refund_id,refund_fee".into(),
            ),
            ("start_modified", beijing(start)),
            ("end_modified", beijing(end)),
            ("page_no", page.to_string()),
            ("page_size", "10".into()),
            ("use_has_next", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    pub fn jd_params(&self, method: &str, business: Value) -> BTreeMap<String, String> {
        let c = &self.spec.credentials;
        [
            ("method", method.to_owned()),
            ("app_key", c[0].clone()),
            ("access_token", c[2].clone()),
            ("timestamp", beijing(OffsetDateTime::now_utc())),
            ("v", "2.0".into()),
            ("360buy_param_json", business.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    async fn attempt_signed(&self, params: BTreeMap<String, String>) -> Attempt {
        let (status, body) = self.signed(params, &self.spec.credentials[1]).await;
        if status >= 500 {
            return Attempt::Retry;
        }
        if let Some(e) = body.get("error_response") {
            let code = match &e["code"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if matches!(code.as_str(), "7" | "15" | "67") {
                return Attempt::Retry;
            }
            panic!("{:?} refused: {body}", self.spec.platform);
        }
        Attempt::Done(reqwest::header::HeaderMap::new(), body)
    }

    async fn attempt_get(&self, url: &str) -> Attempt {
        let mut request = self.http.get(url);
        request = match self.spec.platform {
            Platform::Shopify => {
                request.header("X-Shopify-Access-Token", &self.spec.credentials[1])
            }
            _ => request.basic_auth(&self.spec.credentials[0], Some(&self.spec.credentials[1])),
        };
        let r = request.send().await.unwrap();
        let status = r.status().as_u16();
        if status == 429 || status >= 500 {
            return Attempt::Retry;
        }
        assert_eq!(status, 200, "{url}");
        let headers = r.headers().clone();
        Attempt::Done(headers, r.json().await.unwrap())
    }

    async fn retry<F, Fut>(
        &self,
        fetched: &mut Fetched,
        mut f: F,
    ) -> (reqwest::header::HeaderMap, Value)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt>,
    {
        for _ in 0..TRIES_MAX {
            match f().await {
                Attempt::Done(h, v) => return (h, v),
                Attempt::Retry => {
                    fetched.retried += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        panic!(
            "{:?}: still failing after {TRIES_MAX} tries",
            self.spec.platform
        );
    }

    /// Every order modified in `[start, end]` (at most a day for Taobao/JD), through all pages.
    pub async fn orders(&self, start: OffsetDateTime, end: OffsetDateTime) -> Fetched {
        let mut fetched = Fetched::default();
        match self.spec.platform {
            Platform::Taobao | Platform::Tmall => {
                for page in 1.. {
                    let (_, body) = self
                        .retry(&mut fetched, || {
                            self.attempt_signed(self.top_params(
                                "taobao.trades.sold.increment.get",
                                start,
                                end,
                                page,
                            ))
                        })
                        .await;
                    let r = &body["trades_sold_increment_get_response"];
                    if let Some(rows) = r["trades"]["trade"].as_array() {
                        fetched.rows.extend(rows.iter().cloned());
                    }
                    if r["has_next"] != json!(true) {
                        break;
                    }
                }
            }
            Platform::Jd => {
                for page in 1.. {
                    let business = json!({
                        "start_date": beijing(start), "end_date": beijing(end), "dateType": "0",
                        "optional_fields": "orderId,orderState,orderPayment",
                        "page": page.to_string(), "page_size": "10",
                    });
                    let (_, body) = self
                        .retry(&mut fetched, || {
                            self.attempt_signed(
                                self.jd_params("jingdong.pop.order.search", business.clone()),
                            )
                        })
                        .await;
                    let r = &body["jingdong_pop_order_search_responce"]["searchorderinfo_result"];
                    let rows = r["orderInfoList"].as_array().unwrap();
                    fetched.rows.extend(rows.iter().cloned());
                    if page * 10 >= r["orderTotal"].as_u64().unwrap() as usize {
                        break;
                    }
                }
            }
            Platform::Shopify => {
                let mut url = format!(
                    "{}/admin/api/2024-07/orders.json?status=any&updated_at_min={}&updated_at_max={}&limit=10&order=updated_at%20asc",
                    self.base,
                    urlencode(&rfc3339(start)),
                    urlencode(&rfc3339(end)),
                );
                loop {
                    let (headers, body) = self.retry(&mut fetched, || self.attempt_get(&url)).await;
                    fetched
                        .rows
                        .extend(body["orders"].as_array().unwrap().iter().cloned());
                    match next_link(&headers) {
                        Some(next) => url = next,
                        None => break,
                    }
                }
            }
            Platform::Woocommerce => {
                for page in 1.. {
                    let url = format!(
                        "{}/wp-json/wc/v3/orders?modified_after={}&modified_before={}&dates_are_gmt=true&orderby=modified&order=asc&page={page}&per_page=10&status=any",
                        self.base,
                        gmt(start),
                        gmt(end),
                    );
                    let (headers, body) = self.retry(&mut fetched, || self.attempt_get(&url)).await;
                    fetched
                        .rows
                        .extend(body.as_array().unwrap().iter().cloned());
                    let pages: usize = headers["x-wp-totalpages"]
                        .to_str()
                        .unwrap()
                        .parse()
                        .unwrap();
                    if page >= pages {
                        break;
                    }
                }
            }
        }
        fetched
    }

    /// Taobao/JD: every refund record changed in `[start, end]`.
    pub async fn refunds(&self, start: OffsetDateTime, end: OffsetDateTime) -> Fetched {
        let mut fetched = Fetched::default();
        for page in 1.. {
            if self.spec.platform == Platform::Jd {
                let business = json!({
                    "checkTimeStart": beijing(start), "checkTimeEnd": beijing(end),
                    "pageIndex": page.to_string(), "pageSize": "10",
                });
                let (_, body) = self
                    .retry(&mut fetched, || {
                        self.attempt_signed(self.jd_params(
                            "jingdong.pop.afs.soa.refundapply.queryPageList",
                            business.clone(),
                        ))
                    })
                    .await;
                let r =
                    &body["jingdong_pop_afs_soa_refundapply_queryPageList_responce"]["queryResult"];
                fetched
                    .rows
                    .extend(r["result"].as_array().unwrap().iter().cloned());
                if page * 10 >= r["totalCount"].as_u64().unwrap() as usize {
                    break;
                }
            } else {
                let (_, body) = self
                    .retry(&mut fetched, || {
                        self.attempt_signed(self.top_params(
                            "taobao.refunds.receive.get",
                            start,
                            end,
                            page,
                        ))
                    })
                    .await;
                let r = &body["refunds_receive_get_response"];
                if let Some(rows) = r["refunds"]["refund"].as_array() {
                    fetched.rows.extend(rows.iter().cloned());
                }
                if r["has_next"] != json!(true) {
                    break;
                }
            }
        }
        fetched
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The `rel="next"` url of a Shopify `Link` header.
pub fn next_link(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let link = headers.get("link")?.to_str().ok()?;
    link.split(", ").find_map(|part| {
        let (url, rel) = part.split_once("; ")?;
        (rel == "rel=\"next\"").then(|| url.trim_matches(['<', '>']).to_owned())
    })
}

/// Checks a base64 HMAC-SHA256 header the way a receiver would (ring, not the sim's helper).
pub fn verify_webhook(secret: &str, body: &[u8], header: &str) -> bool {
    let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(header) else {
        return false;
    };
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    ring::hmac::verify(&key, body, &tag).is_ok()
}
