//! Typed client errors: a SCIM error from the server, a non-SCIM answer, or no answer.

use scim_core::ScimError;

/// What went wrong with one request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The server answered with a SCIM Error (RFC 7644 §3.12).
    #[error("{method} {path}: {error}")]
    Scim {
        /// The request's method.
        method: String,
        /// The request's path (or URL).
        path: String,
        /// The server's error.
        error: ScimError,
    },
    /// The server answered with an error that is not a SCIM Error body (HTML, plain text…).
    #[error("{method} {path}: HTTP {status} without a SCIM error body ({content_type}): {snippet}")]
    NotScim {
        /// The request's method.
        method: String,
        /// The request's path (or URL).
        path: String,
        /// The HTTP status.
        status: u16,
        /// The answer's `Content-Type`.
        content_type: String,
        /// The body's first 200 characters.
        snippet: String,
    },
    /// No answer: connection refused or reset, timeout, TLS.
    #[error("{method} {path}: {reason}")]
    Transport {
        /// The request's method.
        method: String,
        /// The request's path (or URL).
        path: String,
        /// What failed.
        reason: String,
    },
    /// A 2xx answer whose body is not what SCIM says it must be.
    #[error("{method} {path}: the answer is not valid SCIM: {reason}")]
    Protocol {
        /// The request's method.
        method: String,
        /// The request's path (or URL).
        path: String,
        /// What is wrong with the body.
        reason: String,
    },
}

impl ClientError {
    /// The HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Scim { error, .. } => Some(error.status),
            ClientError::NotScim { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's SCIM error, if it sent one.
    pub fn scim(&self) -> Option<&ScimError> {
        match self {
            ClientError::Scim { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Worth retrying later: throttling, unavailability, gateway errors, no answer.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            _ => matches!(self.status(), Some(429 | 502 | 503 | 504)),
        }
    }
}
