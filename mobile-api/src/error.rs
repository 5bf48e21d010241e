//! The one error type of the API and its JSON shape:
//! `{"error": {"code": "not_found", "message": "agent \"a1\" not found"}}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Every way a request can fail. The hub returns these from [`Domains`](crate::Domains) methods;
/// the router turns them into responses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No credential, a malformed one, or one the hub does not accept (unknown key, bad or
    /// expired token, wrong user or password). One uniform answer, so a caller cannot tell which.
    #[error("invalid or missing credentials")]
    Unauthorized,
    /// The credential is valid but may not do this.
    #[error("these credentials may not do that")]
    Forbidden,
    /// Too many attempts (sign-in throttling); try again after this many seconds.
    #[error("too many attempts, retry after {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// The thing does not exist for this tenant (another tenant's ids are also "not found").
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or out of range; the message says which field and why.
    #[error("{0}")]
    BadRequest(String),
    /// The request conflicts with the current state (e.g. already revoked, if the hub says so).
    #[error("{0}")]
    Conflict(String),
    /// The request body is larger than the router accepts.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Something broke inside the hub. The message is logged, never sent to the client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// The machine-readable code in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status it answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "request failed with an internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = error_response(self.status(), self.code(), message);
        if self == ApiError::Unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let ApiError::TooManyRequests { retry_after_secs } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        response
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// What went wrong: a stable machine code and a human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// `unauthorized`, `forbidden`, `too_many_requests`, `not_found`, `bad_request`, `conflict`,
    /// `payload_too_large`, `method_not_allowed`, `timeout` or `internal`.
    pub code: String,
    pub message: String,
}

/// Builds an error response for statuses that have no [`ApiError`] variant (405, 408).
pub(crate) fn error_response(status: StatusCode, code: &str, message: String) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: code.to_owned(),
            message,
        },
    };
    (status, axum::Json(body)).into_response()
}
