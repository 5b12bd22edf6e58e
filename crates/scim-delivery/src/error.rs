//! The delivery error type.

use scim_store::StoreError;

/// Why reading or delivering events failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DeliveryError {
    /// The store failed (unavailable, or an internal error).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The cursor points before the oldest change still kept; `oldest` is the earliest
    /// cursor that can be read from now (events after it are complete).
    #[error(
        "the cursor {after} is older than the events kept; the oldest cursor available is {oldest}"
    )]
    CursorExpired {
        /// The cursor asked from.
        after: i64,
        /// The oldest cursor that can be read from now.
        oldest: i64,
    },
    /// A request was malformed (an unknown event type pattern, a negative cursor, …).
    #[error("{0}")]
    Invalid(String),
}
