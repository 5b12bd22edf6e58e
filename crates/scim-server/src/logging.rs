//! One structured log line per request: tenant, method, path, status, latency, request id.

use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, header::HeaderName};
use axum::middleware::Next;
use axum::response::Response;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Whether a client's `X-Request-Id` may be used as it is: 1 to 128 characters from a set
/// that cannot break a log line or forge a field in it (letters, digits, `-`, `_`, `.`,
/// `:`), enough for UUIDs, ULIDs and trace ids. Any other value is replaced by a fresh id.
pub(crate) fn acceptable_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Logs one request; `scim_prefix` is the tenants' path with a trailing `/` (`/scim/v2/`),
/// which the tenant's name follows.
pub async fn log_request(
    axum::extract::State(scim_prefix): axum::extract::State<std::sync::Arc<str>>,
    mut req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let request_id = match req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()) {
        Some(id) if acceptable_request_id(id) => id.to_string(),
        _ => uuid::Uuid::new_v4().to_string(),
    };
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        req.headers_mut().insert(REQUEST_ID, v);
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let tenant = path
        .strip_prefix(&*scim_prefix)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("-")
        .to_string();
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    let status = response.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    match response
        .extensions()
        .get::<crate::error_log::ErrorSummary>()
    {
        // Why it failed: the SCIM error's scimType and detail (values sent are not shown).
        Some(e) => tracing::info!(
            target: "scim::request",
            tenant = %tenant,
            method = %method,
            path = %path,
            status,
            latency_us,
            request_id = %request_id,
            scim_type = e.scim_type.unwrap_or("-"),
            detail = %e.detail,
        ),
        None => tracing::info!(
            target: "scim::request",
            tenant = %tenant,
            method = %method,
            path = %path,
            status,
            latency_us,
            request_id = %request_id,
        ),
    }
    response
}

#[cfg(test)]
mod tests {
    use super::acceptable_request_id;

    #[test]
    fn request_ids_that_could_forge_log_fields_are_refused() {
        for ok in ["a", "0f8fad5b-d9cb-469f-a165-70867728950e", "trace:1.2_x"] {
            assert!(acceptable_request_id(ok), "{ok}");
        }
        let long = "x".repeat(129);
        for bad in ["", "a b", "a=b", "a\"b", "a\nb", "é", long.as_str()] {
            assert!(!acceptable_request_id(bad), "{bad:?}");
        }
    }
}
