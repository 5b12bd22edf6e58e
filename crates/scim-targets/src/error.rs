//! Errors of targets.

use scim_delivery::DeliveryError;
use scim_store::StoreError;

/// Whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// A transient failure (unreachable, timeout, deadlock, 5xx): try again later.
    Retry,
    /// The target refuses this event (a constraint violation, a 4xx): trying again
    /// without a fix gives the same answer. The event is parked.
    Permanent,
}

/// Why a target could not apply an event (or read itself back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TargetError {
    /// Whether trying again may help.
    pub disposition: Disposition,
    /// What went wrong.
    pub message: String,
}

impl TargetError {
    /// A transient failure: the event is tried again after a backoff.
    pub fn retry(message: impl Into<String>) -> TargetError {
        TargetError {
            disposition: Disposition::Retry,
            message: message.into(),
        }
    }

    /// A permanent failure: the event is parked.
    pub fn permanent(message: impl Into<String>) -> TargetError {
        TargetError {
            disposition: Disposition::Permanent,
            message: message.into(),
        }
    }

    /// Whether the event must be parked rather than retried.
    pub fn is_permanent(&self) -> bool {
        self.disposition == Disposition::Permanent
    }
}

/// Why running a target (or a reconcile) stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// scim's store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reading events failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// The target failed.
    #[error("target: {0}")]
    Target(#[from] TargetError),
    /// A request or a state that cannot be acted on.
    #[error("{0}")]
    Invalid(String),
}
