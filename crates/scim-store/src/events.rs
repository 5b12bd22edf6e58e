//! Reading the change log for delivery: positions, heads, pruning, commit signals.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::StoreError;
use crate::model::{ChangeRecord, Tenant};
use crate::signal::CommitSignal;

/// What a reader of the change log needs for one page: see [`EventLog::log_slice`].
#[derive(Debug, Clone, Default)]
pub struct LogSlice {
    /// The position of the first change still kept (as [`EventLog::first_kept`]).
    pub first_kept: i64,
    /// The records after the position asked for, in order. A create record's `after`
    /// is `None` here: its document is in [`LogSlice::stored_after`].
    pub records: Vec<ChangeRecord>,
    /// The tenant's latest position (as [`EventLog::change_head`]); at least the last
    /// record's.
    pub head: i64,
    /// The effective roles of the users the records carry, as of each record (as
    /// [`EventLog::roles_at`]), for every `User` record with an `after` document (parsed,
    /// or in [`LogSlice::stored_after`]).
    pub roles: HashMap<(String, i64), Vec<String>>,
    /// The `after` documents of the create records, by position, as stored (JSON text, not
    /// parsed): a reader that only passes a created resource on does not parse it (see
    /// `scim_delivery::event::derive_stored`).
    pub stored_after: HashMap<i64, String>,
}

/// The change log as a source of events (see `scim-delivery`), beyond
/// [`crate::Store::changes`].
#[async_trait]
pub trait EventLog: Send + Sync {
    /// A tenant by its id (tenant ids are never reused).
    async fn tenant_by_id(&self, tenant_id: i64) -> Result<Option<Tenant>, StoreError>;

    /// The position of a tenant's latest change record (0 when it has none).
    async fn change_head(&self, tenant_id: i64) -> Result<i64, StoreError> {
        Ok(self
            .change_heads(vec![tenant_id])
            .await?
            .first()
            .map_or(0, |h| h.1))
    }

    /// The latest positions of several tenants, one query for all; tenants that do not
    /// exist are left out.
    async fn change_heads(&self, tenant_ids: Vec<i64>) -> Result<Vec<(i64, i64)>, StoreError>;

    /// The position of the oldest change record still kept (`None` when the log is empty).
    async fn oldest_change(&self, tenant_id: i64) -> Result<Option<i64>, StoreError>;

    /// The position of the first change a reader can still get: the oldest record kept, or
    /// one past the head when the log is empty (everything was pruned, or nothing happened
    /// yet). Read in one snapshot, so that a commit between two reads cannot make a cursor
    /// look expired; a cursor `after` is served in full when `after >= first_kept - 1`.
    async fn first_kept(&self, tenant_id: i64) -> Result<i64, StoreError>;

    /// Deletes a tenant's change records at or before `through` (retention); returns how
    /// many were deleted. Readers asking for an older position are then told it is gone.
    async fn prune_changes(&self, tenant_id: i64, through: i64) -> Result<u64, StoreError>;

    /// The effective roles users had as of change records of theirs: for each `(user id,
    /// position of a record of that user)`, the roles right after that record's write
    /// (including the recompute the write made: its `roles_changed` record, right after
    /// it), sorted. Exact for any position kept, not the roles now; a pair is absent only
    /// when it cannot be known (a user deleted since, whose earlier records were pruned).
    /// One batched read for all the pairs.
    async fn roles_at(
        &self,
        tenant_id: i64,
        at: Vec<(String, i64)>,
    ) -> Result<HashMap<(String, i64), Vec<String>>, StoreError>;

    /// A page of the change log for a reader — the first position kept, up to `limit`
    /// records after `after`, the head, and the roles of the users the records carry. The
    /// positions and the records are one statement, so one snapshot and, on PostgreSQL,
    /// one round trip without a transaction (a reader woken by every commit makes this
    /// read for each wake-up). Roles the page cannot tell itself (users' records other
    /// than creates) take a second read; a user's roles as of a committed record do not
    /// change, so it tells what the page's snapshot would have (unless the user's earlier
    /// records were pruned and it is deleted in between: its roles are then unknown).
    async fn log_slice(
        &self,
        tenant_id: i64,
        after: i64,
        limit: u32,
    ) -> Result<LogSlice, StoreError>;

    /// Wake-ups after this store's own writes (see [`CommitSignal`]).
    fn commit_signal(&self) -> &CommitSignal;
}
