//! The interface every target implements: the SQL and HTTP targets, and custom ones
//! (see `examples/`).

use std::collections::BTreeMap;

use async_trait::async_trait;
use scim_delivery::Event;
use serde_json::Value;

use crate::TargetError;

/// What one event did to a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event's effect is in the target.
    Done,
    /// The target had already applied this event (its stored position was at or past it):
    /// nothing changed.
    AlreadyApplied,
}

/// A row of a target as reconcile compares it: column (or field) → value as text
/// (`None`: NULL).
pub type Row = BTreeMap<String, Option<String>>;

/// A system that `scim`'s changes are applied to: an application's database, its API.
///
/// **Contract.** [`Target::apply`] is idempotent: applying an event twice has the effect
/// of applying it once (the applier delivers at least once; a restart may repeat the last
/// event). A target that [keeps its position](Target::keeps_position) stores
/// `event.position` in the same transaction as the event's effect, which makes the effect
/// exactly once. An event with position 0 is a repair made by reconcile: apply it, but do
/// not move the position.
#[async_trait]
pub trait Target: Send + Sync {
    /// The target's name (unique among the configured targets).
    fn name(&self) -> &str;

    /// Whether the target stores its position itself, with each event's effect.
    fn keeps_position(&self) -> bool {
        false
    }

    /// The position the target stored for a tenant (targets that keep their position;
    /// `None` when it stored none yet).
    async fn position(&self, _tenant: &str) -> Result<Option<i64>, TargetError> {
        Ok(None)
    }

    /// Applies one event (see the contract above).
    async fn apply(&self, event: &Event) -> Result<Applied, TargetError>;

    /// Whether [`Target::apply_batch`] applies several events at once, all or nothing
    /// (targets that keep their position). The applier then sends runs of events, and
    /// falls back to one at a time when a batch fails.
    fn batches(&self) -> bool {
        false
    }

    /// Applies consecutive events of one tenant all or nothing, moving the position to the
    /// last. [`Applied::AlreadyApplied`] when some of them were applied before (nothing
    /// changed: the applier then applies them one at a time).
    async fn apply_batch(&self, events: &[Event]) -> Result<Applied, TargetError> {
        for e in events {
            self.apply(e).await?;
        }
        Ok(Applied::Done)
    }

    /// Records that the event at `position` was parked, without applying it (targets
    /// that keep their position move it past the event, so a restart does not try it
    /// again).
    async fn skip(&self, _tenant: &str, _position: i64) -> Result<(), TargetError> {
        Ok(())
    }

    /// The target read back for reconcile, when it can be.
    fn readback(&self) -> Option<&dyn Readback> {
        None
    }
}

/// A target that can be read back and compared with `scim`'s users.
#[async_trait]
pub trait Readback: Send + Sync {
    /// The target's users of a tenant with a key (the SCIM id) after `after`, in the
    /// key's byte order, at most `limit`.
    async fn rows_after(
        &self,
        tenant: &str,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, Row)>, TargetError>;

    /// The row the target should hold for a user (the SCIM resource, with `id`); `None`
    /// when it should hold none (an inactive user under a delete-on-deactivation policy).
    fn expected(&self, tenant: &str, user: &Value) -> Result<Option<Row>, TargetError>;

    /// The row the target should hold for a user that `scim` no longer has; `None` when
    /// the row should be gone.
    fn expected_for_deleted(&self, tenant: &str) -> Option<Row>;
}
