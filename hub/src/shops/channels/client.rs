//! The channel clients: one [`Channel`] per bound shop, fetching its orders and refunds from the
//! platform's API by modified-time window, page by page, and verifying its webhooks.
//!
//! Each platform's wire format (paths, signing, envelopes, pagination, errors) follows the wire
//! contract shared with the platform simulator; the shared HTTP layer (`http.rs`) does rate
//! limiting, timeouts and retries. Every order or refund of a page becomes its own [`Captured`]:
//! one that does not parse is [`Captured::Malformed`] with its raw text and the reason, and the
//! rest of the page goes on.

use super::carriers::PlatformCarrier;
use super::writeback::{ShipmentWriteBack, WriteBackAnswer};
use super::{jd_api, shopify_api, taobao_api, woocommerce_api};
use reqwest::header::HeaderMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;
use xt_shared::credentials::ShopCredentials;
use xt_shared::model::UtcMillis;
use xt_shared::order::{Platform, StandardOrder, StandardRefund};

/// A boxed future that is `Send`, so channels can sit behind `dyn Channel`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A window of the platform's modified time, both bounds inclusive.
///
/// Taobao and JD take whole seconds: `from` is rounded down and `to` up, so a window never
/// misses an order (and may return one twice across adjacent windows: capture deduplicates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: UtcMillis,
    pub to: UtcMillis,
}

impl Window {
    /// Cuts the window into consecutive pieces of at most `max` (a channel's
    /// [`Channel::max_window`]), the first starting at `from` rounded down to a whole second, so
    /// each piece still fits `max` once a platform rounds it to seconds. Adjacent pieces do not
    /// overlap in milliseconds (a platform rounding to seconds may return an order at a boundary
    /// twice: capture deduplicates).
    pub fn pieces(&self, max: Duration) -> impl Iterator<Item = Window> + use<> {
        let step = i64::try_from(max.as_millis()).unwrap_or(i64::MAX).max(1000);
        let to = self.to;
        let mut start = (self.from.0.div_euclid(1000) * 1000).min(to.0);
        let mut done = self.from.0 > self.to.0;
        std::iter::from_fn(move || {
            if done {
                return None;
            }
            let end = start.saturating_add(step - 1).min(to.0);
            let piece = Window {
                from: UtcMillis(start),
                to: UtcMillis(end),
            };
            done = end >= to.0;
            start = end + 1;
            Some(piece)
        })
    }
}

/// One item of a fetched page.
// Most items are orders, so boxing the order would only add an allocation per item.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Captured {
    Order {
        /// The order's JSON text exactly as the platform sent it.
        raw: String,
        order: StandardOrder,
    },
    Refund {
        /// The refund's JSON text as the platform sent it (for refunds derived from an order:
        /// the order's refund object).
        raw: String,
        refund: StandardRefund,
    },
    /// An item that did not parse: kept with its raw text so it can be looked at and replayed.
    Malformed {
        raw: String,
        /// The platform's order (or refund) number, when it could be read.
        order_no: Option<String>,
        reason: String,
    },
}

/// Where the next page starts. Opaque to callers: hand it back to the same channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageCursor {
    /// A page number (JD `page`/`pageIndex`, WooCommerce `page`), from 1, walked forward.
    Page(u32),
    /// A page number walked from the last page back to the first (Taobao `page_no`, as TOP's
    /// docs advise for `increment.get`): an order modified meanwhile leaves the window and
    /// moves the rows after it up a place, onto pages already read, never past one not yet
    /// read, as it would walking forward. The first page is read first (for the count) and
    /// again last.
    Back(u32),
    /// Shopify's `page_info` from the `Link: rel="next"` header.
    PageInfo(String),
}

/// One page of a fetch; `next` is `None` on the last page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Captured>,
    pub next: Option<PageCursor>,
}

impl Page {
    pub fn empty() -> Self {
        Page {
            items: Vec::new(),
            next: None,
        }
    }
}

/// Why a fetch failed, after the HTTP layer's retries. Messages never contain secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The platform asks us to wait longer than a channel waits on its own
    /// ([`ChannelConfig::retry_after_max`]), or still limits after all retries.
    #[error("rate limited by the platform, retry after {retry_after:?}")]
    RateLimited { retry_after: Duration },
    /// A network error, a timeout, a 5xx or a broken envelope; retried, then reported.
    #[error("transient: {0}")]
    Transient(String),
    /// Bad signature or credentials: a configuration error, never retried.
    #[error("credentials refused: {0}")]
    Auth(String),
    /// The session or access token expired: the merchant must re-authorize the shop.
    #[error("access token expired: {0}")]
    TokenExpired(String),
    /// Anything else that retrying cannot fix (bad request, bad configuration).
    #[error("{0}")]
    Fatal(String),
}

impl FetchError {
    /// Whether the HTTP layer retries it.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            FetchError::Transient(_) | FetchError::RateLimited { .. }
        )
    }
}

/// Why a webhook delivery was refused (answered with 401; nothing is stored).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookRefusal {
    #[error("{0} sends no webhooks")]
    Unsupported(Platform),
    #[error("the shop has no webhook secret configured")]
    NoSecret,
    #[error("header {0} is missing")]
    MissingSignature(&'static str),
    #[error("header {0} is not valid base64")]
    MalformedSignature(&'static str),
    #[error("the signature in header {0} does not match the body")]
    BadSignature(&'static str),
}

/// What a channel has done, for the shop's capture health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// HTTP requests sent (every attempt counts).
    pub requests: u64,
    /// Attempts that were retries of a failed one.
    pub retries: u64,
    /// Responses that said "rate limited" (429, TOP code 7, JD code 67).
    pub rate_limited: u64,
    /// Until when the platform asked us to wait, as of the last rate-limited response.
    pub rate_limited_until: Option<UtcMillis>,
    /// The last error a request saw (retried or not), without secrets.
    pub last_error: Option<String>,
}

/// How a channel talks to its platform. [`ChannelConfig::for_platform`] gives the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// Requests per second per endpoint (orders, refunds) of one shop.
    pub rate_per_sec: u32,
    /// Requests that may go at once after a quiet spell.
    pub burst: u32,
    /// Time limit of one HTTP request, connect to last byte.
    pub timeout: Duration,
    /// Retries after the first attempt, for transient errors and rate limits.
    pub max_retries: u32,
    /// First backoff delay; doubled per retry, with jitter.
    pub backoff_base: Duration,
    /// Longest backoff delay.
    pub backoff_max: Duration,
    /// The longest wait a platform's "retry after" may ask for that the channel sleeps through
    /// itself; a longer one is returned as [`FetchError::RateLimited`] for the caller to schedule.
    pub retry_after_max: Duration,
    /// Largest response body read; a bigger one is a transient error.
    pub response_bytes_max: usize,
    /// Which addresses the channel may connect to (checked on every connection).
    pub shop_urls: super::ShopUrlPolicy,
}

impl ChannelConfig {
    /// Defaults per platform, below each platform's published limits.
    pub fn for_platform(platform: Platform) -> Self {
        let rate_per_sec = match platform {
            Platform::Taobao | Platform::Tmall => 10,
            Platform::Jd => 10,
            // Shopify REST: a bucket of 40 leaking 2 per second.
            Platform::Shopify => 2,
            Platform::Woocommerce => 5,
        };
        ChannelConfig {
            rate_per_sec,
            burst: rate_per_sec.max(1),
            timeout: Duration::from_secs(30),
            max_retries: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            retry_after_max: Duration::from_secs(60),
            response_bytes_max: 32 << 20,
            shop_urls: super::ShopUrlPolicy::default(),
        }
    }

    /// For tests on loopback: no practical rate limit, short timeouts and backoff, private
    /// addresses allowed.
    pub fn for_tests() -> Self {
        ChannelConfig {
            rate_per_sec: 1000,
            burst: 1000,
            timeout: Duration::from_secs(10),
            max_retries: 3,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(10),
            retry_after_max: Duration::from_secs(2),
            response_bytes_max: 32 << 20,
            shop_urls: super::ShopUrlPolicy {
                allow_private: true,
                allowed: Vec::new(),
            },
        }
    }

    pub(crate) fn validate(&self) -> Result<(), FetchError> {
        if self.rate_per_sec == 0 || self.burst == 0 {
            return Err(FetchError::Fatal(
                "channel config: rate_per_sec and burst must be at least 1".into(),
            ));
        }
        if self.timeout.is_zero() {
            return Err(FetchError::Fatal(
                "channel config: timeout must be > 0".into(),
            ));
        }
        Ok(())
    }
}

/// One shop of one platform.
pub trait Channel: Send + Sync {
    fn platform(&self) -> Platform;

    /// The longest window one fetch accepts (Taobao and JD: 1 day, after rounding to seconds).
    fn max_window(&self) -> Duration;

    /// One page of the orders modified within `w`; `cursor` from the previous page, `None` first.
    fn fetch_orders<'a>(
        &'a self,
        w: &'a Window,
        cursor: Option<&'a PageCursor>,
    ) -> BoxFuture<'a, Result<Page, FetchError>>;

    /// One page of the refunds modified within `w`. Shopify and WooCommerce: always an empty
    /// page, since their refunds come inside the orders ([`super::refunds_in_order`]).
    fn fetch_refunds<'a>(
        &'a self,
        w: &'a Window,
        cursor: Option<&'a PageCursor>,
    ) -> BoxFuture<'a, Result<Page, FetchError>>;

    /// Checks a webhook delivery's signature over the raw body (constant time).
    fn verify_webhook(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), WebhookRefusal>;

    /// Sends one shipment's tracking to the platform, `carrier` already in the platform's
    /// namespace. `Ok` is the platform's own answer (taken, already shipped, refused); `Err` a
    /// request that failed after the HTTP layer's retries. Call it through
    /// [`super::writeback::write_back`], which maps the carrier and classifies the answer.
    fn send_shipment<'a>(
        &'a self,
        shipment: &'a ShipmentWriteBack,
        carrier: &'a PlatformCarrier,
    ) -> BoxFuture<'a, Result<WriteBackAnswer, FetchError>>;

    fn stats(&self) -> ChannelStats;
}

/// Builds the channel of a shop of `platform` from its `credentials` (which must be of that
/// platform; Tmall shops take Taobao's). `base_url` is the shop's API base URL.
pub fn channel_for(
    platform: Platform,
    base_url: &str,
    credentials: &ShopCredentials,
    config: ChannelConfig,
) -> Result<Box<dyn Channel>, FetchError> {
    config.validate()?;
    if !credentials.fits(platform) {
        return Err(FetchError::Fatal(format!(
            "a {platform} shop cannot use {} credentials",
            credentials.kind()
        )));
    }
    let base = base_url.trim_end_matches('/');
    let parsed = url::Url::parse(base)
        .map_err(|e| FetchError::Fatal(format!("api base url {base:?} is not a url: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(FetchError::Fatal(format!(
            "api base url {base:?} is not http or https"
        )));
    }
    config
        .shop_urls
        .check_url(&parsed)
        .map_err(|refused| FetchError::Fatal(refused.to_string()))?;
    let required = |value: &str, name: &str| -> Result<String, FetchError> {
        if value.is_empty() {
            return Err(FetchError::Auth(format!("{platform} shop has no {name}")));
        }
        Ok(value.to_owned())
    };
    let webhook_secret = credentials
        .webhook_secret()
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    Ok(match credentials {
        ShopCredentials::Taobao {
            app_key,
            app_secret,
            session,
        } => Box::new(taobao_api::TaobaoChannel::new(
            platform,
            base,
            app_key,
            required(app_secret, "app_secret")?,
            required(session, "session")?,
            config,
        )?),
        ShopCredentials::Jd {
            app_key,
            app_secret,
            access_token,
        } => Box::new(jd_api::JdChannel::new(
            base,
            app_key,
            required(app_secret, "app_secret")?,
            required(access_token, "access_token")?,
            config,
        )?),
        ShopCredentials::Shopify { access_token, .. } => {
            Box::new(shopify_api::ShopifyChannel::new(
                base,
                required(access_token, "access_token")?,
                webhook_secret,
                config,
            )?)
        }
        ShopCredentials::Woocommerce {
            consumer_key,
            consumer_secret,
            ..
        } => Box::new(woocommerce_api::WooChannel::new(
            base,
            consumer_key,
            required(consumer_secret, "consumer_secret")?,
            webhook_secret,
            config,
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(from: i64, to: i64) -> Window {
        Window {
            from: UtcMillis(from),
            to: UtcMillis(to),
        }
    }

    #[test]
    fn pieces_cover_the_window_without_gaps_and_fit_after_rounding() {
        let day = Duration::from_secs(86_400);
        let day_ms = 86_400_000;
        let pieces: Vec<_> = w(1_500, 3 * day_ms).pieces(day).collect();
        assert_eq!(
            pieces,
            [
                w(1_000, day_ms + 999),
                w(day_ms + 1_000, 2 * day_ms + 999),
                w(2 * day_ms + 1_000, 3 * day_ms),
            ]
        );
        for p in &pieces {
            let (from, to) = (p.from.0.div_euclid(1000), (p.to.0 + 999).div_euclid(1000));
            assert!(to - from <= 86_400);
        }
        assert_eq!(
            w(5_000, 5_000).pieces(day).collect::<Vec<_>>(),
            [w(5_000, 5_000)]
        );
        assert_eq!(w(2, 1).pieces(day).count(), 0);
    }

    #[test]
    fn errors_say_what_failed_without_the_credentials() {
        let e = FetchError::RateLimited {
            retry_after: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "rate limited by the platform, retry after 1.5s"
        );
        assert!(e.is_retryable());
        assert!(!FetchError::Auth("x".into()).is_retryable());
        assert!(!FetchError::TokenExpired("x".into()).is_retryable());
    }

    #[test]
    fn channels_need_their_secrets_of_their_platform_and_an_http_base() {
        let config = ChannelConfig::for_tests;
        let jd = |access_token: &str| ShopCredentials::Jd {
            app_key: "id".into(),
            app_secret: "s".into(),
            access_token: access_token.into(),
        };
        let shopify = ShopCredentials::Shopify {
            shop_domain: "d".into(),
            access_token: "t".into(),
            webhook_secret: "w".into(),
        };
        let err =
            |p, base: &str, c: &ShopCredentials| channel_for(p, base, c, config()).err().unwrap();
        assert_eq!(
            err(Platform::Jd, "http://127.0.0.1:1", &jd("")),
            FetchError::Auth("jd shop has no access_token".into())
        );
        assert_eq!(
            err(Platform::Shopify, "http://127.0.0.1:1", &jd("a")),
            FetchError::Fatal("a shopify shop cannot use jd credentials".into())
        );
        assert!(matches!(
            err(Platform::Shopify, "ftp://x", &shopify),
            FetchError::Fatal(_)
        ));
        let mut bad = config();
        bad.rate_per_sec = 0;
        assert!(channel_for(Platform::Shopify, "http://x", &shopify, bad).is_err());
        let ok = channel_for(Platform::Shopify, "http://127.0.0.1:1/", &shopify, config());
        assert_eq!(ok.unwrap().platform(), Platform::Shopify);
        let ok = channel_for(Platform::Jd, "http://127.0.0.1:1/", &jd("a"), config());
        assert_eq!(ok.unwrap().platform(), Platform::Jd);
    }
}
