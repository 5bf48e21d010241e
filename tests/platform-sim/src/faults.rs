//! The fault knobs of one shop. Rates are probabilities in `[0, 1]`, decided by the seeded RNG.

/// What can go wrong at a shop, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Per request: answered with the platform's rate-limit error (TOP code 7, JD code 67,
    /// HTTP 429 with `Retry-After` for Shopify/WooCommerce).
    pub rate_limit: f64,
    /// Per request: a transient error (HTTP 502, or TOP code 15 `isp.*-service-unavailable`
    /// for half of the Taobao ones).
    pub server_error: f64,
    /// Per request: answered correctly after `slow_ms`.
    pub slow: f64,
    pub slow_ms: u64,
    /// Per page after the first: the page starts with 1..=3 rows of the previous page again.
    pub repeat_rows: f64,
    /// Per update: the order's new modified time is `now - late_by_secs` instead of `now`
    /// (but never before its previous one), so it lands in a window a poller may already have
    /// passed.
    pub late_updates: f64,
    pub late_by_secs: u64,
    /// Orders of the shop that the parser refuses (3-decimal money or a status outside the
    /// table); they are served like the others and listed under `malformed` in the truth.
    pub malformed: usize,
    /// Per webhook: delivered twice with the same delivery id.
    pub webhook_duplicate: f64,
    /// Per webhook: held back and delivered after the next one of its round.
    pub webhook_reorder: f64,
    /// Per webhook: never delivered.
    pub webhook_drop: f64,
    /// Webhooks with a wrong signature (the body with a byte added, signed with another key):
    /// one after each of the shop's first webhook-worthy updates until this many were sent.
    pub webhook_forged: usize,
    /// Every request to the shop's refund endpoint (Taobao, JD) fails this way, as for an app
    /// without the refund permission; orders are served as usual.
    pub refunds_broken: Option<RefundsBroken>,
}

/// How a refund endpoint fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefundsBroken {
    /// HTTP 404 with an HTML page that echoes the request, signed parameters and session
    /// included (as some gateways do).
    NotFound,
    /// The platform's own "no permission for this API" error (TOP code 11
    /// `isv.permission-api-package-empty`, JD code 12).
    NoPermission,
}

impl Faults {
    pub fn none() -> Faults {
        Faults {
            rate_limit: 0.0,
            server_error: 0.0,
            slow: 0.0,
            slow_ms: 0,
            repeat_rows: 0.0,
            late_updates: 0.0,
            late_by_secs: 0,
            malformed: 0,
            webhook_duplicate: 0.0,
            webhook_reorder: 0.0,
            webhook_drop: 0.0,
            webhook_forged: 0,
            refunds_broken: None,
        }
    }

    /// Every knob on at a moderate rate.
    pub fn all() -> Faults {
        Faults {
            rate_limit: 0.05,
            server_error: 0.03,
            slow: 0.03,
            slow_ms: 300,
            repeat_rows: 0.05,
            late_updates: 0.10,
            late_by_secs: 30,
            malformed: 3,
            webhook_duplicate: 0.10,
            webhook_reorder: 0.10,
            webhook_drop: 0.05,
            webhook_forged: 2,
            refunds_broken: None,
        }
    }

    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        for (name, rate) in [
            ("rate_limit", self.rate_limit),
            ("server_error", self.server_error),
            ("slow", self.slow),
            ("repeat_rows", self.repeat_rows),
            ("late_updates", self.late_updates),
            ("webhook_duplicate", self.webhook_duplicate),
            ("webhook_reorder", self.webhook_reorder),
            ("webhook_drop", self.webhook_drop),
        ] {
            anyhow::ensure!(
                (0.0..=1.0).contains(&rate),
                "fault rate {name} = {rate} is not within 0..=1"
            );
        }
        anyhow::ensure!(
            self.rate_limit + self.server_error < 1.0,
            "rate_limit + server_error must stay below 1"
        );
        anyhow::ensure!(self.slow_ms <= 10_000, "slow_ms above 10000");
        anyhow::ensure!(self.late_by_secs <= 86_400, "late_by_secs above one day");
        Ok(())
    }
}

impl Default for Faults {
    fn default() -> Faults {
        Faults::none()
    }
}

/// A 404 page that echoes the request's path and every parameter (signature, session and
/// access token included), as a careless gateway would: what a client must never repeat.
pub(crate) fn echoing_not_found(
    path: &str,
    params: &std::collections::BTreeMap<String, String>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let page = format!(
        "<html><head><title>404 Not Found</title></head><body>\n<h1>Not Found</h1>\n\
         <p>The requested URL {path}?{query} was not found on this server.</p></body></html>"
    );
    (
        axum::http::StatusCode::NOT_FOUND,
        [(axum::http::header::CONTENT_TYPE, "text/html")],
        page,
    )
        .into_response()
}

/// What the dice decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestFault {
    RateLimited,
    ServerError,
    Slow(u64),
}
