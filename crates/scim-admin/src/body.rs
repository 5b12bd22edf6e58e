//! Request bodies: JSON read strictly, with errors that name the field (unknown fields,
//! wrong types, missing fields), and who asks (for the audit log).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};
use serde::de::DeserializeOwned;

use crate::auth::AdminAuth;
use crate::ops::{Caller, Idempotency};
use crate::{AdminError, AdminState};

/// Most bytes a management request body may have.
pub(crate) const MAX_BODY: usize = 256 * 1024;

/// The name between the first pair of backticks of a serde message (`unknown field `x``).
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

/// Reads a JSON body; an empty body is `{}` when `empty_ok`.
pub(crate) fn json<T: DeserializeOwned>(bytes: &[u8], empty_ok: bool) -> Result<T, AdminError> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        if !empty_ok {
            return Err(AdminError::invalid(
                "body",
                "this request needs a JSON object as its body",
            ));
        }
        b"{}"
    } else {
        bytes
    };
    if bytes.len() > MAX_BODY {
        return Err(AdminError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("a management request body may have at most {MAX_BODY} bytes"),
        ));
    }
    // Structs would also read from an array of their fields in order: only objects.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AdminError::invalid(
            "body",
            "the body must be a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        // A missing field's path is its parent's; an unknown field's path is its own.
        let missing = message
            .starts_with("missing field")
            .then(|| quoted(&message))
            .flatten();
        let field = match (path.as_str(), missing) {
            (".", Some(n)) => n.to_string(),
            (p, Some(n)) => format!("{p}.{n}"),
            (".", None) => "body".to_string(),
            (p, None) => p.to_string(),
        };
        AdminError::invalid(&field, format!("{field}: {message}"))
    })?;
    de.end().map_err(|e| {
        AdminError::invalid(
            "body",
            format!("the body has more after its JSON value: {e}"),
        )
    })?;
    Ok(value)
}

/// The management caller of a request: the admin token and the request id.
#[derive(Debug, Clone)]
pub(crate) struct Who(pub Caller);

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

impl FromRequestParts<AdminState> for Who {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        let auth = AdminAuth::from_request_parts(parts, state).await?;
        let request_id = parts
            .headers
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty() && v.len() <= 128)
            .map(str::to_string);
        Ok(Who(Caller {
            name: auth.name,
            token_id: auth.token.map(|t| t.id),
            request_id,
        }))
    }
}

/// The `Idempotency-Key` of a request, bound to its method, path and body.
pub(crate) fn idempotency(
    headers: &HeaderMap,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Option<Idempotency>, AdminError> {
    let mut keys = headers.get_all("idempotency-key").iter();
    let Some(value) = keys.next() else {
        return Ok(None);
    };
    if keys.next().is_some() {
        return Err(AdminError::invalid(
            "Idempotency-Key",
            "Idempotency-Key is given more than once",
        ));
    }
    let key = value.to_str().map_err(|_| {
        AdminError::invalid(
            "Idempotency-Key",
            "an Idempotency-Key must be printable ASCII",
        )
    })?;
    Idempotency::new(key, method, path, body).map(Some)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ops::TenantCreate;

    #[test]
    fn errors_name_the_field() {
        let e = json::<TenantCreate>(br#"{"name":"a","colour":1}"#, false).unwrap_err();
        assert_eq!(e.extra["field"], "colour");
        let e = json::<TenantCreate>(br#"{"name":"a","retention_days":"x"}"#, false).unwrap_err();
        assert_eq!(e.extra["field"], "retention_days");
        let e = json::<TenantCreate>(br#"{}"#, false).unwrap_err();
        assert_eq!(e.extra["field"], "name");
        let e = json::<TenantCreate>(br#"{"name":"a","jwt":{"issuer":"i"}}"#, false).unwrap_err();
        assert_eq!(e.extra["field"], "jwt.audience");
        let e = json::<TenantCreate>(b"", false).unwrap_err();
        assert_eq!(e.extra["field"], "body");
        let e = json::<TenantCreate>(br#"{"name":"a"} x"#, false).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(json::<TenantCreate>(br#"{"name":"a"}"#, false).is_ok());
    }
}
