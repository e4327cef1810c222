//! The one error type of the HTTP API: every failure is JSON `{"error", "detail"}` with the
//! status that says whose fault it is, and `detail` tells the caller what to do next.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Short machine-readable code, e.g. `not_found`.
    pub code: &'static str,
    /// A sentence for the person calling.
    pub detail: String,
    /// Seconds to send as `Retry-After` (503).
    pub retry_after: Option<u32>,
    /// Send `WWW-Authenticate: Bearer` (401), as RFC 6750 asks.
    pub challenge: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after: None,
            challenge: false,
        }
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub fn invalid_json(error: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the request body is not valid JSON ({error}); send a JSON object"),
        )
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        ApiError {
            challenge: true,
            ..Self::new(StatusCode::UNAUTHORIZED, "unauthorized", detail)
        }
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", detail)
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than {limit} bytes; send a smaller one"),
        )
    }

    pub fn unavailable(detail: impl Into<String>, retry_after: u32) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail)
        }
    }

    /// The unknown `/api/` path `path`.
    pub fn no_route(path: &str) -> Self {
        Self::not_found(format!(
            "no API endpoint at {path}; see /api/v1/openapi.json for the endpoints"
        ))
    }

    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{path} does not accept {method}; the Allow header lists the methods it does"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            // Logged once here, where it is handled; the caller gets the same sentence.
            tracing::warn!(status = %self.status, error = self.code, detail = %self.detail, "HTTP request failed");
        }
        let body = Json(json!({"error": self.code, "detail": self.detail}));
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ordo\""),
            );
        }
        response
    }
}
