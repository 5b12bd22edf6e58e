//! The state of connector targets kept in `scim`'s own database: each target's place in
//! each tenant's change log, its health, and the events it parked.

use async_trait::async_trait;

use crate::{StoreError, StoredResource};

/// A target's place in one tenant's change log, and its health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetStatus {
    /// The target's name.
    pub target: String,
    /// The tenant whose events it applies.
    pub tenant_id: i64,
    /// The last position applied or parked (0: none yet).
    pub position: i64,
    /// Failures in a row of the event after `position` (0 when the last attempt worked).
    pub failures: i64,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// When the last failure happened (RFC 3339).
    pub last_error_at: Option<String>,
    /// When the target was paused after repeated failures (`None`: running).
    pub paused: Option<String>,
    /// When this status was last written (RFC 3339).
    pub updated: String,
}

impl TargetStatus {
    /// A target that has applied nothing yet.
    pub fn new(target: &str, tenant_id: i64) -> TargetStatus {
        TargetStatus {
            target: target.to_string(),
            tenant_id,
            position: 0,
            failures: 0,
            last_error: None,
            last_error_at: None,
            paused: None,
            updated: String::new(),
        }
    }
}

/// An event a target rejected permanently, or one that waits behind such an event of the
/// same resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedEvent {
    /// The target's name.
    pub target: String,
    /// The tenant.
    pub tenant_id: i64,
    /// The event's position.
    pub position: i64,
    /// The resource the event is about: later events of it wait behind this one.
    pub resource_id: String,
    /// The event as JSON.
    pub event: String,
    /// Why the target rejected it (or which earlier event it waits behind).
    pub error: String,
    /// When it was parked (RFC 3339).
    pub parked_at: String,
}

/// Where connector targets keep their state in `scim`'s database.
#[async_trait]
pub trait TargetStates: Send + Sync {
    /// A target's status for a tenant, `None` before its first event.
    async fn target_status(
        &self,
        target: &str,
        tenant_id: i64,
    ) -> Result<Option<TargetStatus>, StoreError>;

    /// Every status of a target (every target with `None`), by target then tenant.
    async fn target_statuses(&self, target: Option<&str>) -> Result<Vec<TargetStatus>, StoreError>;

    /// Writes a status (its `updated` is set to now).
    async fn save_target_status(&self, status: &TargetStatus) -> Result<(), StoreError>;

    /// Parks an event and, in the same transaction, moves the target's position to it
    /// when `advance` (a target that keeps its position here).
    async fn park_event(&self, parked: &ParkedEvent, advance: bool) -> Result<(), StoreError>;

    /// A target's parked events for a tenant, in position order.
    async fn parked_events(
        &self,
        target: &str,
        tenant_id: i64,
    ) -> Result<Vec<ParkedEvent>, StoreError>;

    /// Removes a parked event (applied after a fix, or dropped). `false` if there was none.
    async fn unpark_event(
        &self,
        target: &str,
        tenant_id: i64,
        position: i64,
    ) -> Result<bool, StoreError>;

    /// Live resources of a type with an id after `after`, in id order (byte order), at most
    /// `limit`: the `scim` side of a reconcile, read in pages.
    async fn resources_after_id(
        &self,
        tenant_id: i64,
        resource_type: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<StoredResource>, StoreError>;
}
