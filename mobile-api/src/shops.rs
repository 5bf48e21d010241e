//! Store binding (店铺绑定): the shops a tenant sells through, the JSON bodies and handlers.
//!
//! A shop's credentials go in with `POST`/`PATCH` and never come out: a [`ShopView`] shows
//! secrets as `{"configured": true}` and the one non-secret id of a platform (app key, consumer
//! key) masked as `"ab…yz"`. The hub keeps the secrets encrypted with its master key.

use crate::access::Permission;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, Auth};
use crate::routes::{AppState, blocking, require};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use xt_shared::credentials::ShopCredentials;
use xt_shared::ids::TenantId;
use xt_shared::order::Platform;

/// Longest shop name, in characters.
pub const SHOP_NAME_CHARS_MAX: usize = 64;
/// Longest API base URL, in bytes.
pub const SHOP_URL_BYTES_MAX: usize = 512;
/// Longest credential field, in bytes.
pub const CREDENTIAL_BYTES_MAX: usize = 512;
/// Longest shop id accepted in a path, in bytes (they are `shop-` and 16 hex digits).
pub const SHOP_ID_BYTES_MAX: usize = 64;

/// Credentials as a request sends them: the fields of the shop's platform, no others.
///
/// | platform        | fields                                       |
/// |-----------------|----------------------------------------------|
/// | taobao, tmall   | app_key, app_secret, session                 |
/// | jd              | app_key, app_secret, access_token            |
/// | shopify         | shop_domain, access_token, webhook_secret    |
/// | woocommerce     | consumer_key, consumer_secret, webhook_secret |
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsInput {
    pub app_key: Option<String>,
    pub app_secret: Option<String>,
    pub session: Option<String>,
    pub access_token: Option<String>,
    pub shop_domain: Option<String>,
    pub webhook_secret: Option<String>,
    pub consumer_key: Option<String>,
    pub consumer_secret: Option<String>,
}

impl std::fmt::Debug for CredentialsInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialsInput(..)")
    }
}

/// The credential fields of `platform`: its public id first, then its secrets.
pub fn credential_fields(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Taobao | Platform::Tmall => &["app_key", "app_secret", "session"],
        Platform::Jd => &["app_key", "app_secret", "access_token"],
        Platform::Shopify => &["shop_domain", "access_token", "webhook_secret"],
        Platform::Woocommerce => &["consumer_key", "consumer_secret", "webhook_secret"],
    }
}

impl CredentialsInput {
    fn field(&self, name: &str) -> Option<&String> {
        match name {
            "app_key" => self.app_key.as_ref(),
            "app_secret" => self.app_secret.as_ref(),
            "session" => self.session.as_ref(),
            "access_token" => self.access_token.as_ref(),
            "shop_domain" => self.shop_domain.as_ref(),
            "webhook_secret" => self.webhook_secret.as_ref(),
            "consumer_key" => self.consumer_key.as_ref(),
            "consumer_secret" => self.consumer_secret.as_ref(),
            _ => None,
        }
    }

    /// The credentials of `platform`: every field of it present, 1 to
    /// [`CREDENTIAL_BYTES_MAX`] bytes without control characters or spaces, no other field.
    pub fn validated(&self, platform: Platform) -> Result<ShopCredentials, ApiError> {
        const ALL: [&str; 8] = [
            "app_key",
            "app_secret",
            "session",
            "access_token",
            "shop_domain",
            "webhook_secret",
            "consumer_key",
            "consumer_secret",
        ];
        let wanted = credential_fields(platform);
        for name in ALL {
            if !wanted.contains(&name) && self.field(name).is_some() {
                return Err(ApiError::BadRequest(format!(
                    "credentials.{name} does not apply to {platform} (it takes {})",
                    wanted.join(", ")
                )));
            }
        }
        let value = |name: &str| -> Result<String, ApiError> {
            let value = self.field(name).ok_or_else(|| {
                ApiError::BadRequest(format!("credentials.{name} is required for {platform}"))
            })?;
            if value.is_empty()
                || value.len() > CREDENTIAL_BYTES_MAX
                || value.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                return Err(ApiError::BadRequest(format!(
                    "credentials.{name} must be 1 to {CREDENTIAL_BYTES_MAX} bytes without \
                     spaces or control characters"
                )));
            }
            Ok(value.clone())
        };
        // In the order of `credential_fields`, so the first missing or bad field is named.
        Ok(match platform {
            Platform::Taobao | Platform::Tmall => ShopCredentials::Taobao {
                app_key: value("app_key")?,
                app_secret: value("app_secret")?,
                session: value("session")?,
            },
            Platform::Jd => ShopCredentials::Jd {
                app_key: value("app_key")?,
                app_secret: value("app_secret")?,
                access_token: value("access_token")?,
            },
            Platform::Shopify => ShopCredentials::Shopify {
                shop_domain: value("shop_domain")?,
                access_token: value("access_token")?,
                webhook_secret: value("webhook_secret")?,
            },
            Platform::Woocommerce => ShopCredentials::Woocommerce {
                consumer_key: value("consumer_key")?,
                consumer_secret: value("consumer_secret")?,
                webhook_secret: value("webhook_secret")?,
            },
        })
    }
}

/// `"ab…yz"` for ids of 8 characters or more, `"…"` for shorter ones.
pub fn mask(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 8 {
        return "…".to_owned();
    }
    let head: String = chars[..2].iter().collect();
    let tail: String = chars[chars.len() - 2..].iter().collect();
    format!("{head}…{tail}")
}

/// Parses a platform name (`taobao`, `tmall`, `jd`, `shopify`, `woocommerce`).
pub fn parse_platform(s: &str) -> Result<Platform, ApiError> {
    [
        Platform::Taobao,
        Platform::Tmall,
        Platform::Jd,
        Platform::Shopify,
        Platform::Woocommerce,
    ]
    .into_iter()
    .find(|p| p.as_str() == s)
    .ok_or_else(|| {
        ApiError::BadRequest(format!(
            "platform: unknown platform {s:?} (taobao, tmall, jd, shopify, woocommerce)"
        ))
    })
}

/// Checks a shop name: 1 to [`SHOP_NAME_CHARS_MAX`] characters, no control characters.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let chars = name.chars().count();
    if chars == 0 || chars > SHOP_NAME_CHARS_MAX || name.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "name must be 1 to {SHOP_NAME_CHARS_MAX} characters without control characters"
        )));
    }
    Ok(())
}

/// Checks an API base URL: an absolute `http` or `https` URL with a host, no user info,
/// query or fragment, at most [`SHOP_URL_BYTES_MAX`] bytes.
pub fn check_url(raw: &str) -> Result<(), ApiError> {
    let bad = |why: &str| ApiError::BadRequest(format!("api_base_url {why}"));
    if raw.len() > SHOP_URL_BYTES_MAX {
        return Err(bad(&format!("is longer than {SHOP_URL_BYTES_MAX} bytes")));
    }
    let url = url::Url::parse(raw).map_err(|e| bad(&format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must start with http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(bad("must not hold credentials, a query or a fragment"));
    }
    Ok(())
}

/// `POST /api/v1/shops` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopCreate {
    /// `taobao`, `tmall`, `jd`, `shopify` or `woocommerce`.
    #[schema(example = "taobao")]
    pub platform: String,
    /// 1 to 64 characters.
    #[schema(example = "天猫旗舰店")]
    pub name: String,
    /// Where the platform's API is reached: the platform itself, a sandbox or a simulator.
    /// Loopback, private, link-local and metadata addresses are refused (400 for an IP literal,
    /// at connection time for a name) unless the hub's operator allows them
    /// (`--allow-private-shop-urls`, `--allow-shop-cidr`).
    #[schema(example = "https://eco.taobao.com/router/rest")]
    pub api_base_url: String,
    /// Whether capture runs for it (default true).
    pub enabled: Option<bool>,
    pub credentials: CredentialsInput,
}

/// A [`ShopCreate`] after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopNew {
    pub platform: Platform,
    pub name: String,
    pub api_base_url: String,
    pub enabled: bool,
    pub credentials: ShopCredentials,
}

impl ShopCreate {
    pub fn validated(&self) -> Result<ShopNew, ApiError> {
        let platform = parse_platform(&self.platform)?;
        check_name(&self.name)?;
        check_url(&self.api_base_url)?;
        let credentials = self.credentials.validated(platform)?;
        Ok(ShopNew {
            platform,
            name: self.name.clone(),
            api_base_url: self.api_base_url.clone(),
            enabled: self.enabled.unwrap_or(true),
            credentials,
        })
    }
}

/// `PATCH /api/v1/shops/{id}` body: absent fields stay as they are; `credentials` replaces
/// all of them at once and must match the shop's platform. A new `api_base_url` needs
/// `credentials` in the same request (the stored secrets never go to another host).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopPatch {
    pub name: Option<String>,
    pub api_base_url: Option<String>,
    pub enabled: Option<bool>,
    pub credentials: Option<CredentialsInput>,
}

impl ShopPatch {
    /// Checks name and URL (credentials are checked by the hub, which knows the platform).
    pub fn check(&self) -> Result<(), ApiError> {
        if let Some(name) = &self.name {
            check_name(name)?;
        }
        if let Some(url) = &self.api_base_url {
            check_url(url)?;
        }
        Ok(())
    }
}

/// A secret credential field: only whether it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SecretSet {
    pub configured: bool,
}

/// A shop's credentials as shown: the platform's fields, the public id masked, secrets as
/// `{"configured": true}`. Fields of other platforms are absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CredentialsView {
    /// Masked, `"ab…yz"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_secret: Option<SecretSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<SecretSet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<SecretSet>,
    /// Masked, `"my…om"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shop_domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<SecretSet>,
    /// Masked, `"ck…9f"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumer_secret: Option<SecretSet>,
}

impl CredentialsView {
    /// The view of credentials of `platform` whose public id is `id` (secrets all set).
    pub fn of(platform: Platform, id: &str) -> CredentialsView {
        let set = Some(SecretSet { configured: true });
        let masked = Some(mask(id));
        let mut v = CredentialsView::default();
        for name in credential_fields(platform) {
            match *name {
                "app_key" => v.app_key = masked.clone(),
                "shop_domain" => v.shop_domain = masked.clone(),
                "consumer_key" => v.consumer_key = masked.clone(),
                "app_secret" => v.app_secret = set,
                "session" => v.session = set,
                "access_token" => v.access_token = set,
                "webhook_secret" => v.webhook_secret = set,
                "consumer_secret" => v.consumer_secret = set,
                _ => {}
            }
        }
        v
    }
}

/// A shop's capture health, all `null` until the capture loop runs: the orders' poll (and the
/// shop's token and rate limit), then the refunds' poll. An error is a short, sanitized reason
/// (the HTTP status and the platform's error code and message), never the platform's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShopHealth {
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_poll_ok_at: Option<OffsetDateTime>,
    /// How far capture is behind the platform, in milliseconds.
    pub capture_lag_ms: Option<i64>,
    pub error_count: Option<u64>,
    pub last_error: Option<String>,
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub token_expires_at: Option<OffsetDateTime>,
    /// Until when the platform asked us to slow down.
    #[serde(with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub rate_limited_until: Option<OffsetDateTime>,
    /// The refunds' last successful poll. Refunds are fetched apart from orders (Taobao, JD): a
    /// refund endpoint that fails leaves the orders captured and shows here.
    #[serde(default, with = "crate::utc::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub refunds_last_poll_ok_at: Option<OffsetDateTime>,
    /// How far refund capture is behind the platform, in milliseconds.
    #[serde(default)]
    pub refunds_capture_lag_ms: Option<i64>,
    #[serde(default)]
    pub refunds_error_count: Option<u64>,
    /// The refunds' last error: a short reason (status, the platform's error code and message).
    #[serde(default)]
    pub refunds_last_error: Option<String>,
}

/// A shop as shown: never a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShopView {
    #[schema(example = "shop-3f2a9c0d1e4b5a69")]
    pub id: String,
    #[schema(value_type = String, example = "taobao")]
    pub platform: Platform,
    pub name: String,
    pub api_base_url: String,
    pub enabled: bool,
    pub credentials: CredentialsView,
    pub health: ShopHealth,
    /// Orders captured from the shop (distinct platform orders).
    #[serde(default)]
    pub orders: u64,
    /// Of those, orders held (e.g. an unmapped SKU).
    #[serde(default)]
    pub held: u64,
    /// Payloads capture could not use (see `/api/v1/shops/{id}/capture-errors`).
    #[serde(default)]
    pub capture_errors: u64,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "crate::utc")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// `GET /api/v1/shops` response, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShopList {
    pub shops: Vec<ShopView>,
}

/// A shop as the hub answers about it: the view and its tenant (checked by the router).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopOwned {
    pub tenant: TenantId,
    pub view: ShopView,
}

fn check_tenant(tenant: &TenantId, shops: &[ShopOwned]) -> Result<(), ApiError> {
    if shops.iter().all(|s| &s.tenant == tenant) {
        Ok(())
    } else {
        Err(ApiError::Internal(format!(
            "hub returned another tenant's shops to tenant {tenant}"
        )))
    }
}

pub(crate) fn check_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.len() > SHOP_ID_BYTES_MAX {
        return Err(ApiError::NotFound(format!("shop {id:?} not found")));
    }
    Ok(())
}

/// The tenant's shops, oldest first (`shops:read`).
#[utoipa::path(
    get,
    path = "/api/v1/shops",
    tag = "shops",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The shops, without secrets", body = ShopList),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
    ),
)]
pub(crate) async fn list_shops(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> Result<Json<ShopList>, ApiError> {
    require(principal.allows(Permission::ShopsRead))?;
    let tenant = principal.tenant.clone();
    let shops = blocking(&state.api, move |api| api.shops.list_shops(&tenant)).await?;
    check_tenant(&principal.tenant, &shops)?;
    Ok(Json(ShopList {
        shops: shops.into_iter().map(|s| s.view).collect(),
    }))
}

/// One shop of the tenant (`shops:read`).
#[utoipa::path(
    get,
    path = "/api/v1/shops/{id}",
    tag = "shops",
    params(("id" = String, Path, description = "The shop id (`shop-…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The shop, without secrets", body = ShopView),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such thing in the caller's tenant", body = ErrorBody),
    ),
)]
pub(crate) async fn get_shop(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ShopView>, ApiError> {
    require(principal.allows(Permission::ShopsRead))?;
    check_id(&id)?;
    let tenant = principal.tenant.clone();
    let shop = blocking(&state.api, move |api| api.shops.shop(&tenant, &id)).await?;
    check_tenant(&principal.tenant, std::slice::from_ref(&shop))?;
    Ok(Json(shop.view))
}

/// Binds a shop (`shops:write`). The credentials are stored encrypted and never shown again.
#[utoipa::path(
    post,
    path = "/api/v1/shops",
    tag = "shops",
    request_body = ShopCreate,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The shop, without secrets", body = ShopView),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn create_shop(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(req): ApiJson<ShopCreate>,
) -> Result<(StatusCode, Json<ShopView>), ApiError> {
    require(principal.allows(Permission::ShopsWrite))?;
    let new = req.validated()?;
    let tenant = principal.tenant.clone();
    let shop = blocking(&state.api, move |api| api.shops.create_shop(&tenant, &new)).await?;
    check_tenant(&principal.tenant, std::slice::from_ref(&shop))?;
    tracing::info!(shop = %shop.view.id, platform = %shop.view.platform, subject = %principal.subject, "shop bound");
    Ok((StatusCode::CREATED, Json(shop.view)))
}

/// Changes a shop: name, API base URL, enabled, or all of its credentials at once
/// (`shops:write`).
#[utoipa::path(
    patch,
    path = "/api/v1/shops/{id}",
    tag = "shops",
    request_body = ShopPatch,
    params(("id" = String, Path, description = "The shop id (`shop-…`)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The shop after the change, without secrets", body = ShopView),
        (status = 400, description = "Malformed or out-of-range request (the message names the field)", body = ErrorBody),
        (status = 401, description = "Missing, malformed, unknown or expired credential (`WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "The credential may not do this", body = ErrorBody),
        (status = 404, description = "No such thing in the caller's tenant", body = ErrorBody),
        (status = 413, description = "Request body too large", body = ErrorBody),
    ),
)]
pub(crate) async fn update_shop(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<ShopPatch>,
) -> Result<Json<ShopView>, ApiError> {
    require(principal.allows(Permission::ShopsWrite))?;
    check_id(&id)?;
    patch.check()?;
    let tenant = principal.tenant.clone();
    let shop = blocking(&state.api, move |api| {
        api.shops.update_shop(&tenant, &id, &patch)
    })
    .await?;
    check_tenant(&principal.tenant, std::slice::from_ref(&shop))?;
    tracing::info!(shop = %shop.view.id, subject = %principal.subject, "shop changed");
    Ok(Json(shop.view))
}

/// Shops and capture: bound shops, their capture errors and backfills, and the platforms' webhooks. Each route and its OpenAPI path come from the handler's `#[utoipa::path]`.
pub(crate) fn routes() -> utoipa_axum::router::OpenApiRouter<crate::routes::AppState> {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(list_shops, create_shop))
        .routes(utoipa_axum::routes!(get_shop, update_shop))
        .routes(utoipa_axum::routes!(crate::orders::list_capture_errors))
        .routes(utoipa_axum::routes!(crate::orders::backfill_shop))
        .routes(utoipa_axum::routes!(crate::orders::webhook))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_must_match_the_platform() {
        let top = CredentialsInput {
            app_key: Some("12345678".into()),
            app_secret: Some("s3cr3t".into()),
            session: Some("sess".into()),
            ..Default::default()
        };
        let c = top.validated(Platform::Taobao).unwrap();
        assert_eq!(
            c,
            ShopCredentials::Taobao {
                app_key: "12345678".into(),
                app_secret: "s3cr3t".into(),
                session: "sess".into(),
            }
        );
        let err = top.validated(Platform::Jd).unwrap_err().to_string();
        assert!(err.contains("credentials.session"), "{err}");
        let err = top.validated(Platform::Shopify).unwrap_err().to_string();
        assert!(err.contains("credentials.app_key"), "{err}");
        assert!(!format!("{top:?}{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        for ok in [
            "https://eco.taobao.com/router/rest",
            "http://127.0.0.1:8088",
            "http://[::1]:9000/x",
        ] {
            check_url(ok).unwrap();
        }
        for bad in [
            "ftp://x",
            "https://",
            "http://u:p@host",
            "http://h?x=1",
            "http://h:99999",
            "host",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn masks_show_two_characters_each_side() {
        assert_eq!(mask("abcdefyz"), "ab…yz");
        assert_eq!(mask("short"), "…");
    }
}
