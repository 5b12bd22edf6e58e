//! Retention: what a tenant keeps, and a background job ([`spawn`]) that applies it to
//! every tenant periodically, and keeps the audit index up to date.
//!
//! - Soft-deleted resources go for good once their tenant's `retention_days` has passed
//!   (with the memberships a restore would have made again). Their change records stay.
//! - Change records older than the tenant's `changes_days` go, with the audit index rows
//!   that described only the time before the oldest record kept: the audit answers exactly
//!   for any instant from the oldest record kept on, and refuses older ones.
//! - The change records of users deleted (and purged) longer ago than `redact_days` lose
//!   their attribute values (`before`, `after`, and the audit's copies of them); each
//!   record's existence, time, operation, actor and the names of the attributes it changed
//!   stay, so the audit trail survives and the personal data does not.
//! - The request log keeps at most `requests_days` days and `requests_max` entries.
//!
//! Every step is an idempotent statement on what has expired, so any number of instances
//! may run the job at once; each pass logs what it did.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::{Store, StoreError, Tenant};

/// What a tenant keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionPolicy {
    /// Days change records are kept (`None`: forever).
    pub changes_days: Option<i64>,
    /// Days after a user's deletion its change records keep their attribute values
    /// (`None`: forever).
    pub redact_days: Option<i64>,
    /// Days request log entries are kept.
    pub requests_days: i64,
    /// Most request log entries kept.
    pub requests_max: i64,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        RetentionPolicy {
            changes_days: None,
            redact_days: None,
            requests_days: 30,
            requests_max: 10_000,
        }
    }
}

/// A change of a policy: only what is `Some` changes (`Some(None)`: forever).
#[derive(Debug, Clone, Default)]
pub struct PolicyUpdate {
    /// Days change records are kept.
    pub changes_days: Option<Option<i64>>,
    /// Days a deleted user's change records keep their attribute values.
    pub redact_days: Option<Option<i64>>,
    /// Days request log entries are kept.
    pub requests_days: Option<i64>,
    /// Most request log entries kept.
    pub requests_max: Option<i64>,
}

/// What retention did to one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TenantReport {
    /// Soft-deleted resources deleted for good.
    pub purged: u64,
    /// Change records deleted.
    pub changes_pruned: u64,
    /// Audit index rows deleted with them.
    pub audit_rows_pruned: u64,
    /// Deleted users whose change records were redacted.
    pub redacted_users: u64,
    /// Change records redacted.
    pub redacted_records: u64,
    /// Request log entries deleted.
    pub requests_trimmed: u64,
}

impl TenantReport {
    /// Whether retention changed nothing.
    pub fn is_empty(&self) -> bool {
        *self == TenantReport::default()
    }

    fn add(&mut self, o: &TenantReport) {
        self.purged += o.purged;
        self.changes_pruned += o.changes_pruned;
        self.audit_rows_pruned += o.audit_rows_pruned;
        self.redacted_users += o.redacted_users;
        self.redacted_records += o.redacted_records;
        self.requests_trimmed += o.requests_trimmed;
    }
}

/// Retention's operations on a store.
#[async_trait]
pub trait Retention: Send + Sync {
    /// Deletes for good the resources of a tenant soft-deleted more than its
    /// `retention_days` before `now` (a stored time: RFC 3339, UTC, milliseconds); returns
    /// how many.
    async fn purge_deleted(&self, tenant_id: i64, now: &str) -> Result<u64, StoreError>;

    /// A tenant's policy (the defaults if it never set one).
    async fn retention_policy(&self, tenant_id: i64) -> Result<RetentionPolicy, StoreError>;

    /// Changes a tenant's policy; returns the new one. Days are 0 to 36500, the most
    /// request log entries 1 to 10,000,000.
    async fn set_retention_policy(
        &self,
        tenant_id: i64,
        update: &PolicyUpdate,
    ) -> Result<RetentionPolicy, StoreError>;

    /// Applies a tenant's whole policy as of `now` (see the module's documentation).
    async fn apply_retention(&self, tenant_id: i64, now: &str) -> Result<TenantReport, StoreError>;
}

/// What one pass of the job did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PassReport {
    /// Tenants looked at.
    pub tenants: usize,
    /// Change records the audit index took in.
    pub indexed: u64,
    /// The sum over tenants.
    pub total: TenantReport,
    /// The tenants retention changed something in.
    pub by_tenant: Vec<(String, TenantReport)>,
}

/// One pass over every tenant ([`pass_over`]).
pub async fn pass(store: &Arc<dyn Store>) -> Result<PassReport, StoreError> {
    let tenants = store.list_tenants().await?;
    Ok(pass_over(store, &tenants, &crate::audit::now_instant()).await)
}

/// One pass over `tenants` as of `now`: the audit index brought up to date, then each
/// tenant's policy applied. A tenant's failure is logged and the pass goes on.
pub async fn pass_over(store: &Arc<dyn Store>, tenants: &[Tenant], now: &str) -> PassReport {
    let mut report = PassReport::default();
    for t in tenants {
        report.tenants += 1;
        match store.audit_catch_up(t.id).await {
            Ok(n) => report.indexed += n,
            Err(e) => tracing::warn!(tenant = %t.name, error = %e, "audit index not updated"),
        }
        match store.apply_retention(t.id, now).await {
            Ok(r) if r.is_empty() => {}
            Ok(r) => {
                tracing::info!(
                    tenant = %t.name,
                    purged = r.purged,
                    changes_pruned = r.changes_pruned,
                    audit_rows_pruned = r.audit_rows_pruned,
                    redacted_users = r.redacted_users,
                    redacted_records = r.redacted_records,
                    requests_trimmed = r.requests_trimmed,
                    "retention applied"
                );
                report.total.add(&r);
                report.by_tenant.push((t.name.clone(), r));
            }
            Err(e) => tracing::warn!(tenant = %t.name, error = %e, "retention failed"),
        }
    }
    report
}

/// Runs [`pass`] every `every`, until the task is aborted.
pub fn spawn(store: Arc<dyn Store>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = pass(&store).await {
                tracing::warn!(error = %e, "maintenance pass failed");
            }
        }
    })
}
