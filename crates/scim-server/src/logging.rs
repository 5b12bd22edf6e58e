//! One structured log line per request: tenant, method, path, status, latency, request id;
//! and, for a tenant's SCIM requests, an entry of the request log (`request_log.rs`).

use std::sync::Arc;
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

/// Longest path and query kept in the request log, in characters.
const MAX_PATH: usize = 2000;

/// Logs one request (and records it in the tenant's request log when there is one);
/// `scim_prefix` is the tenants' path with a trailing `/` (`/scim/v2/`), which the tenant's
/// name follows.
pub async fn log_request(
    scim_prefix: Arc<str>,
    logger: Option<Arc<crate::request_log::RequestLogger>>,
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
    // A tenant's SCIM request goes to the request log.
    let entry = match &logger {
        Some(logger) if tenant != "-" && !tenant.is_empty() => {
            let slot = crate::request_log::AuthSlot::default();
            req.extensions_mut().insert(slot.clone());
            let capture = crate::request_log::BodyCapture::default();
            if matches!(method.as_str(), "POST" | "PUT" | "PATCH") {
                let body = std::mem::take(req.body_mut());
                *req.body_mut() = capture.wrap(body);
            }
            let path_and_query: String = req
                .uri()
                .path_and_query()
                .map_or(path.as_str(), |p| p.as_str())
                .chars()
                .take(MAX_PATH)
                .collect();
            let user_agent = req
                .headers()
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(300).collect::<String>());
            Some((logger.clone(), slot, capture, path_and_query, user_agent))
        }
        _ => None,
    };
    let mut response = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    let status = response.status().as_u16();
    let latency_us = started.elapsed().as_micros() as u64;
    let summary = response
        .extensions()
        .get::<crate::error_log::ErrorSummary>();
    if let Some((logger, slot, capture, path_and_query, user_agent)) = entry {
        let auth = slot.get();
        let failed = status >= 400;
        logger.record(scim_store::requests::NewRequest {
            tenant_id: auth.as_ref().map(|a| a.0),
            tenant_name: tenant.clone(),
            at: scim_store::audit::now_instant(),
            method: method.to_string(),
            path: path_and_query,
            status,
            scim_type: summary.and_then(|e| e.scim_type).map(str::to_string),
            detail: summary.map(|e| e.detail.clone()),
            duration_us: latency_us,
            request_id: Some(request_id.clone()),
            token_name: auth.map(|a| a.1),
            user_agent,
            request_body: if failed { capture.logged() } else { None },
            response_body: match summary {
                Some(e) if failed => Some(
                    serde_json::json!({
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                        "status": status.to_string(),
                        "scimType": e.scim_type,
                        "detail": e.detail,
                    })
                    .to_string(),
                ),
                _ => None,
            },
        });
    }
    match summary {
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
