//! HTTP plumbing: SCIM JSON bodies in and out, query parameters, conditional headers.

use axum::body::Body;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_core::ScimError;
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// The media type of SCIM bodies (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// A JSON response with the SCIM media type and optional `ETag` / `Location`.
pub struct ScimJson {
    /// The HTTP status.
    pub status: StatusCode,
    /// The JSON body.
    pub body: Value,
    /// The `ETag` header (a resource's version), when the answer is one resource.
    pub etag: Option<String>,
    /// The `Location` header (a created resource's URL).
    pub location: Option<String>,
}

impl ScimJson {
    /// A `200 OK` with this body and no headers.
    pub fn ok(body: Value) -> Self {
        ScimJson {
            status: StatusCode::OK,
            body,
            etag: None,
            location: None,
        }
    }
}

impl IntoResponse for ScimJson {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
        if let Some(tag) = self.etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
            headers.insert(header::ETAG, tag);
        }
        if let Some(loc) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, loc);
        }
        response
    }
}

/// A request body parsed as JSON, whatever its declared content type (identity providers
/// send `application/json` and `application/scim+json`), within the configured size limit;
/// with the units of the tenant's rate limit the request took for its size
/// ([`size_units`]).
///
/// A body larger than one [`BODY_UNIT`] takes one more unit of the tenant's rate limit per
/// unit of size, before it is parsed (on authentication, from `Content-Length`; here, once
/// read, for a body sent without it): over the rate it is answered 429 like any request, over
/// the tenant's burst 413. A request's price follows the work it causes (parsing, the stored
/// documents, the change record, the events delivered): without it, a tenant limited to 20
/// requests a second could send 20 PATCHes of 1,000 emails a second, and every other
/// tenant's writes waited behind their commits (issue 11).
pub struct JsonBody(pub Value, pub u32);

/// The size of body one unit of a tenant's rate limit pays for. Identity providers' requests
/// are far smaller (a user is 1–5 KB), so they cost one unit as before.
pub const BODY_UNIT: usize = 16 * 1024;

/// The units of a tenant's rate limit a body of `len` bytes costs (at least one).
pub fn size_units(len: usize) -> u32 {
    u32::try_from(len.saturating_sub(1) / BODY_UNIT + 1).unwrap_or(u32::MAX)
}

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request<Body>, state: &AppState) -> Result<Self, Self::Rejection> {
        let limit = state.config.max_payload_bytes;
        let within = state.config.body_read_timeout;
        let admitted = req.extensions().get::<crate::auth::Admitted>().copied();
        let too_large = || {
            ScimError::payload_too_large(format!(
                "The request body is larger than the maximum of {limit} bytes"
            ))
        };
        let read = tokio::time::timeout(within, axum::body::to_bytes(req.into_body(), limit));
        let bytes = read
            .await
            .map_err(|_| {
                ScimError::new(
                    408,
                    None,
                    format!(
                        "The request body did not arrive within {} s",
                        within.as_secs()
                    ),
                )
            })?
            .map_err(|_| too_large())?;
        let units = size_units(bytes.len());
        if let Some(taken) = admitted
            && units > taken.units
            && let Err(e) =
                state
                    .throttle
                    .admit_more(taken.tenant_id, taken.units, units - taken.units)
        {
            return Err(crate::auth::tarpit(e).await);
        }
        parse_json(&bytes).map(|v| JsonBody(v, units))
    }
}

/// Parses a JSON body with a SCIM `invalidSyntax` error that says where it broke.
pub fn parse_json(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ScimError::invalid_syntax(
            "The request body is empty; a JSON object is required",
        )
        .into());
    }
    // Duplicate names are refused: which of two values a client meant cannot be known.
    scim_core::json::parse_strict(bytes).map_err(|e| {
        let what = if scim_core::json::is_duplicate_key(&e) {
            "The request body names the same attribute twice in one object"
        } else {
            "The request body is not valid JSON"
        };
        // serde_json's message ends with its own "at line L column C": said once, here.
        let message = e.to_string();
        let position = format!(" at line {} column {}", e.line(), e.column());
        let message = message.strip_suffix(&position).unwrap_or(&message);
        ScimError::invalid_syntax(format!(
            "{what}: {message} (line {}, column {})",
            e.line(),
            e.column()
        ))
        .into()
    })
}

/// The value of a header as text, if present and readable.
pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether an `If-None-Match` header names the resource's current version.
pub fn none_match(headers: &HeaderMap, resource: &scim_store::StoredResource) -> bool {
    header_str(headers, header::IF_NONE_MATCH).is_some_and(|h| resource.matches_etag(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_costs_one_unit_per_started_16_kib() {
        assert_eq!(size_units(0), 1);
        assert_eq!(size_units(1), 1);
        assert_eq!(size_units(BODY_UNIT), 1);
        assert_eq!(size_units(BODY_UNIT + 1), 2);
        assert_eq!(size_units(4 * BODY_UNIT), 4);
        assert_eq!(size_units(4 * BODY_UNIT + 1), 5);
        assert_eq!(size_units(usize::MAX), u32::MAX);
    }
}
