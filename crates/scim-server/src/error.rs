//! The one place where errors become HTTP responses: always a SCIM Error body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_core::ScimError;
use scim_store::StoreError;

use crate::http::SCIM_JSON;

/// An error answered to a client as a SCIM Error message.
#[derive(Debug)]
pub struct ApiError(pub ScimError);

impl From<ScimError> for ApiError {
    fn from(e: ScimError) -> Self {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Scim(_) => {}
            StoreError::Unavailable(detail) => tracing::warn!(%detail, "storage unavailable"),
            StoreError::Database(detail) => tracing::error!(%detail, "storage error"),
        }
        ApiError(e.to_scim())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = self.0.to_json().to_string();
        let mut response = (status, body).into_response();
        // For the request log line (scimType and a detail without values).
        response
            .extensions_mut()
            .insert(crate::error_log::ErrorSummary::of(&self.0));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        match self.0.retry_after {
            Some(secs) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            None if status == StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            None => {}
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim\""),
            );
        }
        response
    }
}

/// What a handler returns: an answer, or an error answered as a SCIM Error.
pub type ApiResult<T> = Result<T, ApiError>;
