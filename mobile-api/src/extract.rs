//! Extractors whose failures are [`ApiError`]s, so every rejection has the JSON error shape:
//! the bearer auth (API key or access token), and JSON body, query string and path wrappers around axum's own.

use crate::api::Principal;
use crate::error::ApiError;
use crate::routes::{ACCESS_TOKEN_BYTES_MAX, API_KEY_BYTES_MAX, AppState, blocking};
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;

/// The caller, authenticated by `Authorization: Bearer <x>` where `x` is an API key or an access
/// token (a JWT: three dot-separated parts). Any failure (no header, another scheme, an unknown
/// key, a bad or expired token) is the same [`ApiError::Unauthorized`].
pub(crate) struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(&parts.headers, state).await.map(Auth)
    }
}

/// The hub operator, authenticated by `Authorization: Bearer <operator key>` (see
/// [`IdentityApi::authenticate_operator`](crate::IdentityApi::authenticate_operator)). No header or an
/// unknown credential is [`ApiError::Unauthorized`]; a valid tenant credential (any tenant's
/// owner included) is [`ApiError::Forbidden`]: the operator is not a tenant's.
pub(crate) struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate_operator(&parts.headers, state).await
    }
}

/// [`Operator`]'s check, for handlers that need it only sometimes.
pub(crate) async fn authenticate_operator(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Operator, ApiError> {
    let secret = bearer_secret(headers).ok_or(ApiError::Unauthorized)?;
    if let Bearer::Key(key) = secret
        && blocking(&state.api, move |api| {
            api.identity.authenticate_operator(&key)
        })
        .await?
    {
        tracing::Span::current().record("tenant", "(operator)");
        return Ok(Operator);
    }
    // A tenant's credential is known but not the operator; anything else is unknown.
    authenticate(headers, state).await?;
    Err(ApiError::Forbidden)
}

async fn authenticate(headers: &HeaderMap, state: &AppState) -> Result<Principal, ApiError> {
    let secret = bearer_secret(headers).ok_or(ApiError::Unauthorized)?;
    let principal = authenticate_bearer(state, secret)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    tracing::Span::current().record("tenant", tracing::field::display(&principal.tenant));
    Ok(principal)
}

/// Asks the hub who `secret` is now: `None` if it no longer authenticates (an unknown or revoked
/// key, a bad or expired token, a disabled user). Long-lived responses (the event stream) call
/// it again with the credential they were opened with.
pub(crate) async fn authenticate_bearer(
    state: &AppState,
    secret: Bearer,
) -> Result<Option<Principal>, ApiError> {
    blocking(&state.api, move |api| match secret {
        Bearer::Key(key) => api.identity.authenticate_key(&key),
        Bearer::Jwt(token) => api.identity.authenticate_access_token(&token),
    })
    .await
}

/// What a bearer credential looks like it is.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Bearer {
    Key(String),
    Jwt(String),
}

// Never prints the secret.
impl std::fmt::Debug for Bearer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Bearer::Key(_) => "Bearer::Key(..)",
            Bearer::Jwt(_) => "Bearer::Jwt(..)",
        })
    }
}

impl Bearer {
    /// An access token's `exp` claim (Unix seconds), read without checking the signature: only
    /// for a token the hub has just verified. `None` for API keys (they do not expire).
    pub(crate) fn expires_at(&self) -> Option<i64> {
        #[derive(serde::Deserialize)]
        struct Exp {
            exp: i64,
        }
        let Bearer::Jwt(token) = self else {
            return None;
        };
        let payload = token.split('.').nth(1)?;
        let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
        serde_json::from_slice::<Exp>(&json).ok().map(|c| c.exp)
    }
}

/// The credential from the one `Authorization: Bearer <x>` header, if it is well formed.
pub(crate) fn bearer_secret(headers: &HeaderMap) -> Option<Bearer> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let (scheme, secret) = value.to_str().ok()?.split_once(' ')?;
    let secret = secret.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || secret.is_empty() {
        return None;
    }
    if secret.split('.').count() == 3 {
        (secret.len() <= ACCESS_TOKEN_BYTES_MAX).then(|| Bearer::Jwt(secret.to_owned()))
    } else {
        (secret.len() <= API_KEY_BYTES_MAX).then(|| Bearer::Key(secret.to_owned()))
    }
}

/// `axum::Json` whose rejection is a JSON [`ApiError`].
pub(crate) struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            ApiError::BadRequest(format!("invalid request body: {}", inner(&e)))
        }
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::BadRequest(format!("malformed json body: {}", inner(&e)))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::BadRequest(
            "request body must be json (content-type: application/json)".into(),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge(format!(
                "request body is larger than {} bytes",
                crate::REQUEST_BODY_BYTES_MAX
            ))
        }
        other => ApiError::BadRequest(format!("cannot read request body: {}", inner(&other))),
    }
}

/// `axum::extract::Query` whose rejection is a JSON [`ApiError`].
pub(crate) struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::BadRequest(format!("invalid query string: {}", inner(&rejection)))
}

/// `axum::extract::Path` whose rejection is a JSON [`ApiError`].
pub(crate) struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    ApiError::BadRequest(format!("invalid path: {}", inner(&rejection)))
}

/// The most specific message of an axum rejection: its source (serde's "field: reason at line
/// 1 column 9") when it has one, else its own text with the first letter lowercased.
fn inner(err: &dyn std::error::Error) -> String {
    match err.source() {
        Some(source) => source.to_string(),
        None => {
            let text = err.to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().chain(chars).collect(),
                None => text,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn bearer_parsing() {
        let key = |k: &str| Some(Bearer::Key(k.to_owned()));
        assert_eq!(bearer_secret(&headers(&["Bearer k1"])), key("k1"));
        assert_eq!(bearer_secret(&headers(&["bearer  k1 "])), key("k1"));
        assert_eq!(
            bearer_secret(&headers(&["Bearer a.b.c"])),
            Some(Bearer::Jwt("a.b.c".into()))
        );
        assert_eq!(bearer_secret(&headers(&[])), None);
        assert_eq!(bearer_secret(&headers(&["Basic k1"])), None);
        assert_eq!(bearer_secret(&headers(&["Bearer "])), None);
        assert_eq!(bearer_secret(&headers(&["Bearer"])), None);
        assert_eq!(bearer_secret(&headers(&["Bearer a", "Bearer b"])), None);
        let long = format!("Bearer {}", "k".repeat(API_KEY_BYTES_MAX + 1));
        assert_eq!(bearer_secret(&headers(&[&long])), None);
    }

    #[test]
    fn an_access_tokens_expiry_is_read_from_its_claims() {
        let claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"u1","exp":1700000000}"#);
        let jwt = Bearer::Jwt(format!("h.{claims}.s"));
        assert_eq!(jwt.expires_at(), Some(1_700_000_000));
        assert_eq!(Bearer::Jwt("h.!!.s".into()).expires_at(), None);
        assert_eq!(Bearer::Key("k1".into()).expires_at(), None);
        assert_eq!(format!("{jwt:?}"), "Bearer::Jwt(..)");
    }
}
