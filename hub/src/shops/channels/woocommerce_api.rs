//! WooCommerce wc/v3: `GET {base}/wp-json/wc/v3/orders` with HTTP Basic auth (consumer key and
//! secret), by modified time in GMT (`dates_are_gmt=true`), paged by `page` against
//! `X-WP-TotalPages`. Refunds come inside the orders, so there is no refund poll. Webhooks are
//! signed with base64 HMAC-SHA256 of the raw body.

use super::client::{
    BoxFuture, Channel, ChannelConfig, ChannelStats, FetchError, Page, PageCursor, WebhookRefusal,
    Window,
};
use super::http::{Http, Limiter, Reply};
use super::taobao_api::{next_page, page_number};
use super::webhook;
use super::wire::{bounds_seconds, capture_orders, envelope, gmt};
use reqwest::header::HeaderMap;
use serde_json::value::RawValue;
use std::time::Duration;
use xt_shared::order::Platform;

pub const TOTAL_PAGES_HEADER: &str = "x-wp-totalpages";
const PAGE_SIZE: usize = 100;
const WINDOW_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

pub struct WooChannel {
    url: String,
    consumer_key: String,
    consumer_secret: String,
    webhook_secret: Option<String>,
    http: Http,
    orders: Limiter,
}

impl WooChannel {
    pub(crate) fn new(
        base: &str,
        consumer_key: &str,
        consumer_secret: String,
        webhook_secret: Option<String>,
        config: ChannelConfig,
    ) -> Result<Self, FetchError> {
        let http = Http::new(Platform::Woocommerce, config)?;
        Ok(WooChannel {
            url: format!("{base}/wp-json/wc/v3/orders"),
            consumer_key: consumer_key.to_owned(),
            consumer_secret,
            webhook_secret,
            orders: http.limiter(),
            http,
        })
    }
}

impl Channel for WooChannel {
    fn platform(&self) -> Platform {
        Platform::Woocommerce
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
            let (from, to) = bounds_seconds(w)?;
            let page = page_number(cursor)?;
            let query = [
                ("modified_after", gmt(from)?),
                ("modified_before", gmt(to)?),
                ("dates_are_gmt", "true".into()),
                ("orderby", "modified".into()),
                ("order", "asc".into()),
                ("page", page.to_string()),
                ("per_page", PAGE_SIZE.to_string()),
                ("status", "any".into()),
            ];
            let (raws, total_pages) = self
                .http
                .call(
                    &self.orders,
                    || {
                        Ok(self
                            .http
                            .client()
                            .get(&self.url)
                            .query(&query)
                            .basic_auth(&self.consumer_key, Some(&self.consumer_secret)))
                    },
                    read_orders,
                )
                .await?;
            // Without the header, a full page means there may be another.
            let more = match total_pages {
                Some(total) => u64::from(page) < total,
                None => raws.len() >= PAGE_SIZE,
            };
            Ok(Page {
                next: next_page(page, more, raws.is_empty()),
                items: capture_orders(Platform::Woocommerce, &raws),
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
            Platform::Woocommerce,
            self.webhook_secret.as_deref(),
            headers,
            body,
        )
    }

    fn stats(&self) -> ChannelStats {
        self.http.stats()
    }
}

fn read_orders(reply: &Reply) -> Result<(Vec<Box<RawValue>>, Option<u64>), FetchError> {
    let orders: Vec<Box<RawValue>> = envelope(Platform::Woocommerce, &reply.body)?;
    let total_pages = reply
        .headers
        .get(TOTAL_PAGES_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok());
    Ok((orders, total_pages))
}
