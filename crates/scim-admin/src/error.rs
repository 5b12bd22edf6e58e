//! The management API's errors: an HTTP status that means what it says and a JSON body
//! with a stable `code` (what a program switches on) and a `message` (what a person reads).
//!
//! ```json
//! {"error": {"code": "cursor_expired", "message": "…", "oldest": 41}}
//! ```

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_delivery::DeliveryError;
use scim_store::StoreError;
use serde_json::{Map, Value, json};

/// An error answer of the management API.
#[derive(Debug, Clone)]
pub struct AdminError {
    /// The HTTP status answered.
    pub status: StatusCode,
    /// Stable, snake_case: `unauthorized`, `not_found`, `invalid_request`, …
    pub code: &'static str,
    /// What a person reads.
    pub message: String,
    /// More fields of the error object (`field`, `oldest`, …).
    pub extra: Map<String, Value>,
}

impl AdminError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AdminError {
            status,
            code,
            message: message.into(),
            extra: Map::new(),
        }
    }

    /// Adds a field to the error object.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// 401 `unauthorized`: no administration token, or not a valid one.
    pub fn unauthorized() -> Self {
        AdminError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "This endpoint needs an administration token: Authorization: Bearer scimadm_…",
        )
    }

    /// A request parameter or body field is wrong; `field` names it.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AdminError::new(StatusCode::BAD_REQUEST, "invalid_request", message).with("field", field)
    }

    /// 404 `tenant_not_found`: there is no tenant of this name.
    pub fn tenant_not_found(name: &str) -> Self {
        AdminError::new(
            StatusCode::NOT_FOUND,
            "tenant_not_found",
            format!("there is no tenant named '{name}'"),
        )
    }
}

impl std::fmt::Display for AdminError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.extra.get("field").and_then(Value::as_str) {
            Some(field) if !self.message.contains(field) => {
                write!(f, "{} ({field})", self.message)
            }
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for AdminError {}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::Scim(s) => {
                let status = StatusCode::from_u16(s.status).unwrap_or(StatusCode::BAD_REQUEST);
                let code = match s.status {
                    404 => "not_found",
                    409 => "conflict",
                    412 => "precondition_failed",
                    _ => "invalid_request",
                };
                AdminError::new(status, code, s.detail.clone())
            }
            StoreError::Unavailable(_) => {
                tracing::warn!(error = %e, "management API: storage unavailable");
                AdminError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "The database is temporarily unavailable; retry shortly",
                )
            }
            StoreError::Database(_) => {
                tracing::error!(error = %e, "management API: storage error");
                AdminError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal storage error",
                )
            }
        }
    }
}

impl From<DeliveryError> for AdminError {
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::Store(s) => s.into(),
            DeliveryError::CursorExpired { oldest, .. } => {
                AdminError::new(StatusCode::GONE, "cursor_expired", e.to_string())
                    .with("oldest", oldest)
            }
            DeliveryError::Invalid(m) => {
                AdminError::new(StatusCode::BAD_REQUEST, "invalid_request", m)
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        error.extend(self.extra);
        let mut response = (self.status, axum::Json(json!({ "error": error }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"scim-admin\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
