//! `GET /admin/v1/openapi.json`: the management API's OpenAPI 3.1 document, generated from
//! the handlers' annotations when the router is built (so it cannot drift from the code).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The document as JSON text, made once.
fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| crate::openapi().to_json().unwrap_or_default())
}

/// The OpenAPI document of this API (no token needed).
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi", tag = "meta", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json",
        body = Object)))]
pub(crate) async fn get() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
}
