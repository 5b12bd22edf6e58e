//! The store's error type.

use scim_core::ScimError;

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The request is wrong in SCIM terms (not found, uniqueness, precondition, invalid value).
    #[error(transparent)]
    Scim(#[from] ScimError),
    /// The database is unreachable or overloaded; the client should retry. The operation
    /// did not happen, except when only the acknowledgement of a commit was lost (a retried
    /// create may then meet its own first attempt, as 409 for a unique userName).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The database failed in a way the caller cannot fix.
    #[error("storage error: {0}")]
    Database(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Unavailable(e.to_string())
            }
            // The only foreign keys are to `tenants` (and, inside one write, to the resource
            // it has just written): a tenant deleted under a write.
            Some(ErrorCode::ConstraintViolation)
                if matches!(&e, rusqlite::Error::SqliteFailure(f, _)
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) =>
            {
                crate::sql::tenant_gone()
            }
            _ => StoreError::Database(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Database(format!("stored JSON is unreadable: {e}"))
    }
}

impl StoreError {
    /// The SCIM error to send to a client. Database details are logged, not sent.
    pub fn to_scim(&self) -> ScimError {
        match self {
            StoreError::Scim(e) => e.clone(),
            StoreError::Unavailable(_) => {
                ScimError::unavailable("The directory is temporarily unavailable; retry shortly")
            }
            StoreError::Database(_) => ScimError::internal("Internal storage error"),
        }
    }
}
