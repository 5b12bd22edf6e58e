//! The management API's handlers, one module per resource.

pub(crate) mod admin_log;
pub(crate) mod audit;
pub(crate) mod directory;
pub(crate) mod events;
pub(crate) mod openapi;
pub(crate) mod requests;
pub(crate) mod roles;
pub(crate) mod tenants;
pub(crate) mod tokens;
pub(crate) mod webhooks;

use axum::Json;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AdminError;
use crate::ops::Created;

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiError {
    pub error: ApiErrorObject,
}

/// An error: a stable `code` to switch on and a `message` for people; some errors have
/// more fields (`field`: the request field or parameter at fault).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiErrorObject {
    /// Stable, snake_case: `invalid_request`, `unauthorized`, `tenant_not_found`, …
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A 201 answer: made now, or replayed for an `Idempotency-Key` (header
/// `Idempotent-Replayed: true`).
pub(crate) fn created<T: Serialize>(made: Created<T>) -> Response {
    match made {
        Created::New(v) => (StatusCode::CREATED, Json(v)).into_response(),
        Created::Replayed(body) => {
            let mut r = (StatusCode::CREATED, Json(body)).into_response();
            r.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            r
        }
    }
}

pub(crate) async fn not_found() -> AdminError {
    AdminError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "There is no such endpoint of the management API (/admin/v1)",
    )
}

pub(crate) async fn method_not_allowed() -> AdminError {
    AdminError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This method is not allowed on this endpoint",
    )
}
