//! The audit log of management writes.

use scim_store::manage::AuditQuery;

use super::Manager;
use super::views::{AuditPage, AuditRecord};
use crate::AdminError;

/// Most records of one read.
pub const MAX_AUDIT_LIMIT: u32 = 1000;

impl Manager {
    /// Audit records after `after`, oldest first, at most `limit`; only those about
    /// `tenant` when given (a deleted tenant's records stay readable).
    pub async fn audit(
        &self,
        after: i64,
        limit: u32,
        tenant: Option<String>,
    ) -> Result<AuditPage, AdminError> {
        if !(1..=MAX_AUDIT_LIMIT).contains(&limit) {
            return Err(AdminError::invalid(
                "limit",
                format!("limit must be 1 to {MAX_AUDIT_LIMIT}"),
            ));
        }
        let entries = self
            .store
            .audit_log(AuditQuery {
                after,
                limit,
                tenant,
            })
            .await?;
        let next = entries.last().map_or(after, |e| e.seq);
        Ok(AuditPage {
            next,
            records: entries
                .into_iter()
                .map(|e| AuditRecord {
                    seq: e.seq,
                    at: e.at,
                    actor: e.actor,
                    actor_id: e.actor_id,
                    action: e.action,
                    tenant: e.tenant,
                    target: e.target,
                    request_id: e.request_id,
                    detail: e.detail,
                })
                .collect(),
        })
    }
}
