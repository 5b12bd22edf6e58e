//! The management API's handlers, one module per resource.

pub(crate) mod audit;
pub(crate) mod events;
pub(crate) mod webhooks;

use axum::http::StatusCode;

use crate::AdminError;

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
