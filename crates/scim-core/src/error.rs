//! The one SCIM error type used by every layer (RFC 7644 §3.12).

use serde_json::{Value, json};

/// The URN of the SCIM error message schema.
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

/// The `scimType` keywords of RFC 7644 §3.12 table 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScimType {
    /// The filter is malformed or not supported.
    InvalidFilter,
    /// The request would return or touch more resources than the server allows.
    TooMany,
    /// A value must be unique and is taken.
    Uniqueness,
    /// The request changes an attribute that may not be changed.
    Mutability,
    /// The body is not valid SCIM (malformed JSON, a missing `schemas`, …).
    InvalidSyntax,
    /// The path attribute is malformed or not supported.
    InvalidPath,
    /// The path matched no value (a PATCH `remove` or `replace` with a filter).
    NoTarget,
    /// A value is of the wrong type or out of range, or a required one is missing.
    InvalidValue,
    /// The SCIM protocol version is not supported.
    InvalidVers,
    /// The request put sensitive data (a password) in the URL.
    Sensitive,
    /// RFC 9865: the cursor is not one the server issued, or is malformed.
    InvalidCursor,
    /// RFC 9865: the cursor was valid but has expired.
    ExpiredCursor,
    /// RFC 9865: `count` exceeds what the server allows with cursors.
    InvalidCount,
}

impl ScimType {
    /// The keyword as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ScimType::InvalidFilter => "invalidFilter",
            ScimType::TooMany => "tooMany",
            ScimType::Uniqueness => "uniqueness",
            ScimType::Mutability => "mutability",
            ScimType::InvalidSyntax => "invalidSyntax",
            ScimType::InvalidPath => "invalidPath",
            ScimType::NoTarget => "noTarget",
            ScimType::InvalidValue => "invalidValue",
            ScimType::InvalidVers => "invalidVers",
            ScimType::Sensitive => "sensitive",
            ScimType::InvalidCursor => "invalidCursor",
            ScimType::ExpiredCursor => "expiredCursor",
            ScimType::InvalidCount => "invalidCount",
        }
    }

    /// Parses a wire keyword (exact spelling).
    pub fn parse(s: &str) -> Option<ScimType> {
        Some(match s {
            "invalidFilter" => ScimType::InvalidFilter,
            "tooMany" => ScimType::TooMany,
            "uniqueness" => ScimType::Uniqueness,
            "mutability" => ScimType::Mutability,
            "invalidSyntax" => ScimType::InvalidSyntax,
            "invalidPath" => ScimType::InvalidPath,
            "noTarget" => ScimType::NoTarget,
            "invalidValue" => ScimType::InvalidValue,
            "invalidVers" => ScimType::InvalidVers,
            "sensitive" => ScimType::Sensitive,
            "invalidCursor" => ScimType::InvalidCursor,
            "expiredCursor" => ScimType::ExpiredCursor,
            "invalidCount" => ScimType::InvalidCount,
            _ => return None,
        })
    }
}

impl std::fmt::Display for ScimType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Opens a value the client sent, inside a detail being built (see [`Sent`]).
const SENT_OPEN: char = '\u{E000}';
/// Closes a value the client sent.
const SENT_CLOSE: char = '\u{E001}';
/// What the request log shows in place of a value the client sent.
pub const HIDDEN: &str = "…";

/// A value the client sent (a `userName`, an email, a filter's comparison value, an
/// unknown attribute name, a bulkId, an id from the URL …), embedded in an error's detail:
/// `ScimError::uniqueness(format!("userName '{}' is already in use", Sent(name)))`.
///
/// The client's answer shows the value as is; the request log and the server's log line
/// show [`HIDDEN`] in its place ([`ScimError::logged_detail`]), so that personal data never
/// reaches them while attribute names, allowed values and RFC terms around it stay. While
/// the detail is a `String` being built, the value is enclosed in two private-use
/// characters; [`ScimError::new`] and [`ScimError::context`] take them out and remember
/// where the value was. Those characters are dropped from the value itself, so a value can
/// never end its own marking early.
#[derive(Debug, Clone, Copy)]
pub struct Sent<T>(pub T);

impl<T: std::fmt::Display> std::fmt::Display for Sent<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        let text = self.0.to_string();
        f.write_char(SENT_OPEN)?;
        for c in text.chars().filter(|c| *c != SENT_OPEN && *c != SENT_CLOSE) {
            f.write_char(c)?;
        }
        f.write_char(SENT_CLOSE)
    }
}

/// `text` without its [`Sent`] marks, and the byte ranges of the values they enclosed. A
/// mark left open hides the rest of the text (the safe side); a stray close is dropped.
fn unmark(text: &str) -> (String, Vec<std::ops::Range<usize>>) {
    if !text.contains([SENT_OPEN, SENT_CLOSE]) {
        return (text.to_string(), Vec::new());
    }
    let mut out = String::with_capacity(text.len());
    let mut spans = Vec::new();
    let mut open: Option<usize> = None;
    for c in text.chars() {
        match c {
            SENT_OPEN => {
                if open.is_none() {
                    open = Some(out.len());
                }
            }
            SENT_CLOSE => {
                if let Some(start) = open.take() {
                    spans.push(start..out.len());
                }
            }
            _ => out.push(c),
        }
    }
    if let Some(start) = open {
        spans.push(start..out.len());
    }
    (out, spans)
}

/// A SCIM protocol error: an HTTP status, an optional `scimType` and a human-readable detail.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}{}: {detail}", scim_type.map(|t| format!(" {t}")).unwrap_or_default())]
pub struct ScimError {
    /// The HTTP status.
    pub status: u16,
    /// The `scimType` keyword (400 and 409 answers).
    pub scim_type: Option<ScimType>,
    /// What went wrong, for a person (the client sees it whole).
    pub detail: String,
    /// Seconds the client should wait before retrying (an HTTP `Retry-After` header, for
    /// 429 and 503 answers); not part of the SCIM body.
    pub retry_after: Option<u32>,
    /// Where `detail` holds values the client sent ([`Sent`]), as byte ranges in order.
    sent: Vec<std::ops::Range<usize>>,
}

/// Two errors are equal when the client would see the same: status, `scimType`, detail
/// and `Retry-After` (where values were marked does not matter).
impl PartialEq for ScimError {
    fn eq(&self, other: &Self) -> bool {
        self.status == other.status
            && self.scim_type == other.scim_type
            && self.detail == other.detail
            && self.retry_after == other.retry_after
    }
}

impl Eq for ScimError {}

/// Result alias used throughout the core.
pub type ScimResult<T> = Result<T, ScimError>;

impl ScimError {
    /// An error with this status, `scimType` and detail. Values in the detail that the
    /// client sent are marked with [`Sent`].
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        let (detail, sent) = unmark(&detail.into());
        ScimError {
            status,
            scim_type,
            detail,
            retry_after: None,
            sent,
        }
    }

    /// The detail as logs keep it: every value the client sent ([`Sent`]) replaced by
    /// [`HIDDEN`], everything else (attribute names, allowed values, RFC terms) as is.
    pub fn logged_detail(&self) -> String {
        let mut out = String::with_capacity(self.detail.len());
        let mut at = 0;
        for span in &self.sent {
            if span.start < at || span.end > self.detail.len() {
                continue;
            }
            out.push_str(self.detail.get(at..span.start).unwrap_or_default());
            out.push_str(HIDDEN);
            at = span.end;
        }
        out.push_str(self.detail.get(at..).unwrap_or_default());
        out
    }

    /// The detail with its values still marked, to embed it in another error's detail
    /// (`format!("invalid path: {}", e.marked_detail())`) without unmarking them.
    pub fn marked_detail(&self) -> String {
        let mut out = String::with_capacity(self.detail.len() + 2 * self.sent.len());
        let mut at = 0;
        for span in &self.sent {
            if span.start < at || span.end > self.detail.len() {
                continue;
            }
            out.push_str(self.detail.get(at..span.start).unwrap_or_default());
            out.push(SENT_OPEN);
            out.push_str(self.detail.get(span.clone()).unwrap_or_default());
            out.push(SENT_CLOSE);
            at = span.end;
        }
        out.push_str(self.detail.get(at..).unwrap_or_default());
        out
    }

    /// The same error, telling the client to retry after `seconds`.
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 400 with a `scimType`.
    pub fn bad_request(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(400, Some(scim_type), detail)
    }

    /// 400 `invalidFilter`.
    pub fn invalid_filter(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidFilter, detail)
    }
    /// 400 `invalidSyntax`.
    pub fn invalid_syntax(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidSyntax, detail)
    }
    /// 400 `invalidValue`.
    pub fn invalid_value(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidValue, detail)
    }
    /// 400 `invalidPath`.
    pub fn invalid_path(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidPath, detail)
    }
    /// 400 `noTarget`.
    pub fn no_target(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::NoTarget, detail)
    }
    /// 400 `mutability`.
    pub fn mutability(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::Mutability, detail)
    }
    /// 400 `tooMany`.
    pub fn too_many(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::TooMany, detail)
    }
    /// 400 `invalidVers`.
    pub fn invalid_vers(detail: impl Into<String>) -> Self {
        Self::bad_request(ScimType::InvalidVers, detail)
    }
    /// 409 `uniqueness`.
    pub fn uniqueness(detail: impl Into<String>) -> Self {
        Self::new(409, Some(ScimType::Uniqueness), detail)
    }
    /// 404 without a `scimType`.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(404, None, detail)
    }
    /// 412: the `If-Match` version is stale.
    pub fn precondition_failed(detail: impl Into<String>) -> Self {
        Self::new(412, None, detail)
    }
    /// 413: the request is larger than advertised limits.
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        Self::new(413, None, detail)
    }
    /// 401 with a fixed detail that reveals nothing about tenants or resources.
    pub fn unauthorized() -> Self {
        Self::new(
            401,
            None,
            "Authentication failed: send a valid bearer token for this tenant in the Authorization header",
        )
    }
    /// 403: the token may not do this (a read-scope token writing).
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(403, None, detail)
    }
    /// 405: the endpoint does not support this method.
    pub fn method_not_allowed(detail: impl Into<String>) -> Self {
        Self::new(405, None, detail)
    }
    /// 501: the feature is not implemented.
    pub fn not_implemented(detail: impl Into<String>) -> Self {
        Self::new(501, None, detail)
    }
    /// 500: a fault of the server.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(500, None, detail)
    }
    /// 503: the server cannot answer now; retry later (with `Retry-After`).
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(503, None, detail)
    }

    /// Prefixes the detail with context (for example the attribute path being processed);
    /// values in it that the client sent are marked with [`Sent`].
    pub fn context(mut self, prefix: impl std::fmt::Display) -> Self {
        let (prefix, mut sent) = unmark(&format!("{prefix}: "));
        let shift = prefix.len();
        sent.extend(self.sent.iter().map(|r| r.start + shift..r.end + shift));
        self.detail = prefix + &self.detail;
        self.sent = sent;
        self
    }

    /// The error as a SCIM Error message body.
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR_SCHEMA],
            "status": self.status.to_string(),
            "detail": self.detail,
        });
        if let (Some(t), Some(obj)) = (self.scim_type, body.as_object_mut()) {
            obj.insert("scimType".into(), Value::String(t.as_str().into()));
        }
        body
    }

    /// Parses a SCIM Error body (as returned by another SCIM server), leniently.
    pub fn from_json(status: u16, body: &Value) -> ScimError {
        let detail = body
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("no detail given")
            .to_string();
        let scim_type = body
            .get("scimType")
            .and_then(Value::as_str)
            .and_then(ScimType::parse);
        let status = body
            .get("status")
            .and_then(|s| match s {
                Value::String(s) => s.parse().ok(),
                Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                _ => None,
            })
            .unwrap_or(status);
        ScimError::new(status, scim_type, detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_has_status_as_string_and_scim_type() {
        let e = ScimError::invalid_filter("expected an operator at position 9");
        let body = e.to_json();
        assert_eq!(body["schemas"][0], ERROR_SCHEMA);
        assert_eq!(body["status"], "400");
        assert_eq!(body["scimType"], "invalidFilter");
        assert_eq!(body["detail"], "expected an operator at position 9");
    }

    #[test]
    fn values_the_client_sent_are_shown_to_it_and_hidden_from_logs() {
        let e = ScimError::uniqueness(format!(
            "userName '{}' is already in use by another User",
            Sent("bjensen@example.com")
        ));
        assert_eq!(
            e.detail,
            "userName 'bjensen@example.com' is already in use by another User"
        );
        assert_eq!(e.to_json()["detail"], e.detail.as_str());
        assert_eq!(
            e.logged_detail(),
            "userName '…' is already in use by another User"
        );
        // Names and allowed values are not values the client sent: they stay.
        let e = ScimError::invalid_value(format!(
            "attribute \"active\" must be one of \"true\", \"false\", got \"{}\"",
            Sent("Barbara")
        ));
        assert_eq!(
            e.logged_detail(),
            "attribute \"active\" must be one of \"true\", \"false\", got \"…\""
        );
        // Context (itself with a value) and nesting keep the marks.
        let inner = ScimError::invalid_path(format!("'{}': unknown", Sent("x@y")));
        let outer = ScimError::invalid_path(format!(
            "invalid path '{}': {}",
            Sent("emails[value eq \"x@y\"]"),
            inner.marked_detail()
        ))
        .context(format!("value key '{}'", Sent("secret")))
        .context("operation 2");
        assert_eq!(
            outer.detail,
            "operation 2: value key 'secret': invalid path 'emails[value eq \"x@y\"]': 'x@y': unknown"
        );
        assert_eq!(
            outer.logged_detail(),
            "operation 2: value key '…': invalid path '…': '…': unknown"
        );
        assert_eq!(outer, ScimError::invalid_path(outer.detail.clone()));
        // A value cannot close its own mark early; a mark left open hides the rest.
        let e = ScimError::invalid_value(format!("got '{}' here", Sent("a\u{E001}b\u{E000}c")));
        assert_eq!(e.detail, "got 'abc' here");
        assert_eq!(e.logged_detail(), "got '…' here");
        let e = ScimError::invalid_value("before \u{E000}rest \u{E001}\u{E001} after");
        assert_eq!(e.detail, "before rest  after");
        assert_eq!(e.logged_detail(), "before … after");
        let e = ScimError::invalid_value("open \u{E000}to the end");
        assert_eq!(e.logged_detail(), "open …");
    }

    #[test]
    fn error_without_scim_type_omits_the_key() {
        let body = ScimError::not_found("Resource 42 not found").to_json();
        assert!(body.get("scimType").is_none());
        assert_eq!(body["status"], "404");
    }

    #[test]
    fn parses_foreign_error_bodies() {
        let e = ScimError::from_json(
            500,
            &json!({"status": 409, "scimType": "uniqueness", "detail": "taken"}),
        );
        assert_eq!(e, ScimError::uniqueness("taken"));
        for t in [
            ScimType::InvalidFilter,
            ScimType::TooMany,
            ScimType::Uniqueness,
            ScimType::Mutability,
            ScimType::InvalidSyntax,
            ScimType::InvalidPath,
            ScimType::NoTarget,
            ScimType::InvalidValue,
            ScimType::InvalidVers,
            ScimType::Sensitive,
            ScimType::InvalidCursor,
            ScimType::ExpiredCursor,
            ScimType::InvalidCount,
        ] {
            assert_eq!(ScimType::parse(t.as_str()), Some(t));
        }
    }
}
