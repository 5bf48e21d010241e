//! Shopify Admin REST 2024-07: `GET {base}/admin/api/2024-07/orders.json` with the
//! `X-Shopify-Access-Token` header, by `updated_at` (RFC 3339, both bounds inclusive), paged by the
//! `page_info` of the `Link: rel="next"` header. Refunds come inside the orders, so there is no
//! refund poll. Webhooks are signed with base64 HMAC-SHA256 of the raw body.

use super::client::{
    BoxFuture, Channel, ChannelConfig, ChannelStats, FetchError, Page, PageCursor, WebhookRefusal,
    Window,
};
use super::http::{Http, Limiter, Reply};
use super::webhook;
use super::wire::{bounds_seconds, capture_orders, envelope, rfc3339};
use reqwest::header::{HeaderMap, LINK};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::time::Duration;
use xt_shared::order::Platform;

pub const API_VERSION: &str = "2024-07";
pub const ACCESS_TOKEN_HEADER: &str = "x-shopify-access-token";
const PAGE_SIZE: &str = "250";
/// Shopify keeps no limit on the span; a week keeps one window's pages few.
const WINDOW_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct ShopifyChannel {
    url: String,
    access_token: String,
    webhook_secret: Option<String>,
    http: Http,
    orders: Limiter,
}

impl ShopifyChannel {
    pub(crate) fn new(
        base: &str,
        access_token: String,
        webhook_secret: Option<String>,
        config: ChannelConfig,
    ) -> Result<Self, FetchError> {
        let http = Http::new(Platform::Shopify, config)?;
        Ok(ShopifyChannel {
            url: format!("{base}/admin/api/{API_VERSION}/orders.json"),
            access_token,
            webhook_secret,
            orders: http.limiter(),
            http,
        })
    }
}

#[derive(Deserialize)]
struct Orders {
    orders: Vec<Box<RawValue>>,
}

impl Channel for ShopifyChannel {
    fn platform(&self) -> Platform {
        Platform::Shopify
    }

    fn max_window(&self) -> Duration {
        WINDOW_MAX
    }

    fn fetch_orders<'a>(
        &'a self,
        w: &'a Window,
        cursor: Option<&'a PageCursor>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(async move {
            // With page_info Shopify takes only `limit`: any other filter is a 400.
            let query: Vec<(&str, String)> = match cursor {
                None => {
                    let (from, to) = bounds_seconds(w)?;
                    vec![
                        ("status", "any".into()),
                        ("updated_at_min", rfc3339(from)?),
                        ("updated_at_max", rfc3339(to)?),
                        ("limit", PAGE_SIZE.into()),
                        ("order", "updated_at asc".into()),
                    ]
                }
                Some(PageCursor::PageInfo(info)) => {
                    vec![("limit", PAGE_SIZE.into()), ("page_info", info.clone())]
                }
                Some(other) => {
                    return Err(FetchError::Fatal(format!(
                        "cursor {other:?} is not a shopify page_info"
                    )));
                }
            };
            let (raws, next) = self
                .http
                .call(
                    &self.orders,
                    || {
                        Ok(self
                            .http
                            .client()
                            .get(&self.url)
                            .query(&query)
                            .header(ACCESS_TOKEN_HEADER, &self.access_token))
                    },
                    read_orders,
                )
                .await?;
            Ok(Page {
                next: if raws.is_empty() { None } else { next },
                items: capture_orders(Platform::Shopify, &raws),
            })
        })
    }

    fn fetch_refunds<'a>(
        &'a self,
        _: &'a Window,
        _: Option<&'a PageCursor>,
    ) -> BoxFuture<'a, Result<Page, FetchError>> {
        Box::pin(async { Ok(Page::empty()) })
    }

    fn verify_webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookRefusal> {
        webhook::verify(
            Platform::Shopify,
            self.webhook_secret.as_deref(),
            headers,
            body,
        )
    }

    fn stats(&self) -> ChannelStats {
        self.http.stats()
    }
}

fn read_orders(reply: &Reply) -> Result<(Vec<Box<RawValue>>, Option<PageCursor>), FetchError> {
    let orders: Orders = envelope(Platform::Shopify, &reply.body)?;
    let next = reply
        .headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(next_page_info)
        .map(PageCursor::PageInfo);
    Ok((orders.orders, next))
}

/// The `page_info` of the `rel="next"` link in a `Link` header value, e.g.
/// `<https://x/orders.json?limit=250&page_info=abc>; rel="previous", <…&page_info=def>; rel="next"`.
/// Only the cursor is taken: the next request goes to the shop's own base URL, never to a host the
/// header names.
pub(crate) fn next_page_info(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim();
            p == "rel=\"next\"" || p == "rel=next"
        });
        if !is_next {
            return None;
        }
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let url = url::Url::parse(target).ok()?;
        url.query_pairs()
            .find(|(k, _)| k == "page_info")
            .map(|(_, v)| v.into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header_next_page_info() {
        let both = "<http://127.0.0.1:1/s/admin/api/2024-07/orders.json?limit=250&page_info=prev1>; rel=\"previous\", <http://127.0.0.1:1/s/admin/api/2024-07/orders.json?limit=250&page_info=next%2B2>; rel=\"next\"";
        assert_eq!(next_page_info(both).as_deref(), Some("next+2"));
        let prev_only = "<http://127.0.0.1:1/admin/api/2024-07/orders.json?limit=250&page_info=p>; rel=\"previous\"";
        assert_eq!(next_page_info(prev_only), None);
        assert_eq!(next_page_info("garbage"), None);
    }
}
