//! The HTTP layer every channel shares: a token bucket per endpoint, a time limit per request,
//! capped exponential retries with jitter for transient errors and rate limits (honouring the
//! platform's "retry after"), no retry for credential errors, and the stats a shop's health shows.
//!
//! Requests are built anew for each attempt (Taobao and JD sign a fresh timestamp). Nothing here
//! logs a URL, a header or a body: the signed parameters and tokens stay out of logs and errors,
//! and an error answer is reported by its status and the platform's error fields only
//! ([`super::reason`]). Every connection goes through the shop URL policy ([`super::egress`]):
//! names are checked as they resolve, IP literals before each request and each redirect, and no
//! system proxy is used (it would resolve the names the policy must check).

use super::client::{ChannelConfig, ChannelStats, FetchError};
use super::{egress, reason};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use xt_shared::model::UtcMillis;
use xt_shared::order::Platform;

/// Longest "retry after" believed from a platform; anything longer is clamped.
const RETRY_AFTER_CLAMP: Duration = Duration::from_secs(24 * 3600);

/// A token bucket for one endpoint of one shop.
pub(crate) type Limiter = DefaultDirectRateLimiter;

/// A response read in full.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

pub(crate) struct Http {
    platform: Platform,
    client: reqwest::Client,
    config: ChannelConfig,
    stats: Mutex<ChannelStats>,
}

impl Http {
    pub fn new(platform: Platform, config: ChannelConfig) -> Result<Self, FetchError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("xietong-hub/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(config.shop_urls.resolver())
            .redirect(config.shop_urls.redirects())
            .no_proxy()
            .build()
            .map_err(|e| FetchError::Fatal(format!("http client: {e}")))?;
        Ok(Http {
            platform,
            client,
            config,
            stats: Mutex::new(ChannelStats::default()),
        })
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// A token bucket for one endpoint, per the channel's config.
    pub fn limiter(&self) -> Limiter {
        let rate = NonZeroU32::new(self.config.rate_per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.config.burst).unwrap_or(NonZeroU32::MIN);
        RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
    }

    pub fn stats(&self) -> ChannelStats {
        self.stats.lock().expect("stats lock").clone()
    }

    /// Sends the request `make` builds, retrying as the config allows, and hands each complete
    /// response to `interpret`. HTTP 429, 401/403 and 5xx are classified before `interpret` sees
    /// them; `interpret` turns a platform's own error envelope into a [`FetchError`].
    pub async fn call<T>(
        &self,
        limiter: &Limiter,
        make: impl Fn() -> Result<reqwest::RequestBuilder, FetchError>,
        interpret: impl Fn(&Reply) -> Result<T, FetchError>,
    ) -> Result<T, FetchError> {
        let mut attempt: u32 = 0;
        loop {
            limiter.until_ready().await;
            self.stats.lock().expect("stats lock").requests += 1;
            let result = match make() {
                Ok(request) => match self.send(request).await {
                    Ok(reply) => classify_status(&reply, self.backoff(attempt))
                        .and_then(|()| interpret(&reply)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            let error = match result {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            self.record(&error);
            let delay = match &error {
                FetchError::RateLimited { retry_after }
                    if *retry_after <= self.config.retry_after_max =>
                {
                    *retry_after
                }
                FetchError::RateLimited { .. } => return Err(error),
                FetchError::Transient(_) => self.backoff(attempt),
                _ => return Err(error),
            };
            if attempt >= self.config.max_retries {
                return Err(error);
            }
            tracing::debug!(platform = %self.platform, attempt, ?delay, %error, "channel request retried");
            tokio::time::sleep(delay).await;
            attempt += 1;
            self.stats.lock().expect("stats lock").retries += 1;
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<Reply, FetchError> {
        let (client, request) = request.build_split();
        let request = request.map_err(transport_error)?;
        // An IP literal skips the resolver, so it is checked here.
        self.config
            .shop_urls
            .check_url(request.url())
            .map_err(|refused| FetchError::Fatal(refused.to_string()))?;
        let mut response = client.execute(request).await.map_err(transport_error)?;
        let status = response.status();
        let headers = response.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > self.config.response_bytes_max {
                return Err(FetchError::Transient(format!(
                    "{} response larger than {} bytes",
                    self.platform, self.config.response_bytes_max
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    fn record(&self, error: &FetchError) {
        let mut stats = self.stats.lock().expect("stats lock");
        stats.last_error = Some(error.to_string());
        if let FetchError::RateLimited { retry_after } = error {
            stats.rate_limited += 1;
            let until = now_millis()
                .0
                .saturating_add(retry_after.as_millis() as i64);
            stats.rate_limited_until = Some(UtcMillis(until));
        }
    }

    /// Exponential backoff for retry `attempt` (0-based), capped, with jitter in [d/2, d].
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.config.backoff_base.as_millis() as u64;
        let max = self.config.backoff_max.as_millis() as u64;
        let full = base.saturating_mul(1u64 << attempt.min(32)).min(max);
        let jittered = rand::rng().random_range(full / 2..=full);
        Duration::from_millis(jittered)
    }
}

/// A request that got no complete response: a refusal of the shop URL policy is fatal (a retry
/// cannot change it); the rest is transient. `without_url`: the URL may carry query parameters.
fn transport_error(e: reqwest::Error) -> FetchError {
    if let Some(refused) = egress::refusal_in(&e) {
        return FetchError::Fatal(refused.to_string());
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    FetchError::Transient(format!("{kind}: {}", e.without_url()))
}

/// The HTTP status classes every platform shares. The message is the status and the platform's
/// own error fields when the body has them, never the body itself.
pub(crate) fn classify_status(reply: &Reply, default_wait: Duration) -> Result<(), FetchError> {
    let status = reply.status;
    if status.is_success() {
        return Ok(());
    }
    let what = match reason::platform_fields(&reply.body) {
        Some(fields) => format!("http {}: {fields}", status.as_u16()),
        None => format!("http {}", status.as_u16()),
    };
    Err(match status {
        StatusCode::TOO_MANY_REQUESTS => FetchError::RateLimited {
            retry_after: retry_after(&reply.headers).unwrap_or(default_wait),
        },
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => FetchError::Auth(what),
        StatusCode::REQUEST_TIMEOUT => FetchError::Transient(what),
        s if s.is_server_error() => FetchError::Transient(what),
        _ => FetchError::Fatal(what),
    })
}

/// `Retry-After` in seconds, fractions allowed (Shopify sends `2.0`). HTTP dates are not used by
/// the platforms we talk to and count as absent.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?;
    seconds(text)
}

/// Non-negative decimal seconds as a duration, clamped to a day.
pub(crate) fn seconds(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs).min(RETRY_AFTER_CLAMP))
}

pub(crate) fn now_millis() -> UtcMillis {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UtcMillis(since.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_takes_fractional_seconds_and_refuses_garbage() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("2.0"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("0.25"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(250)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), None);
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("1e12"));
        assert_eq!(retry_after(&h), Some(RETRY_AFTER_CLAMP));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let mut config = ChannelConfig::for_tests();
        config.backoff_base = Duration::from_millis(100);
        config.backoff_max = Duration::from_millis(1000);
        let http = Http::new(Platform::Shopify, config).unwrap();
        for (attempt, full) in [
            (0, 100),
            (1, 200),
            (2, 400),
            (3, 800),
            (4, 1000),
            (40, 1000),
        ] {
            let d = http.backoff(attempt).as_millis() as u64;
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d} ms");
        }
    }

    #[test]
    fn error_answers_show_their_status_and_error_fields_not_their_body() {
        let reply = |status: u16, body: &str| Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        };
        let wait = Duration::from_secs(1);
        let err = classify_status(
            &reply(
                401,
                r#"{"errors":"[API] Invalid API key","echo":"shpat_SECRET"}"#,
            ),
            wait,
        )
        .unwrap_err();
        assert_eq!(
            err,
            FetchError::Auth("http 401: [API] Invalid API key".into())
        );
        let err = classify_status(&reply(502, "<html>SECRET proxy page</html>"), wait).unwrap_err();
        assert_eq!(err, FetchError::Transient("http 502".into()));
        let err = classify_status(&reply(404, "Not Found: /router/rest?session=SECRET"), wait)
            .unwrap_err();
        assert_eq!(err, FetchError::Fatal("http 404".into()));
    }
}
