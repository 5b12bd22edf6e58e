//! Retention ([`crate::retention`]): policies (table `tenant_retention`), purging
//! soft-deleted resources, pruning old change records with the audit rows only they
//! needed, redacting deleted users' records, trimming the request log.

use async_trait::async_trait;
use scim_core::ScimError;

use super::db::{Db, DbExt, SqlValue, params};
use super::{Engine, SqlStore};
use crate::StoreError;
use crate::retention::{PolicyUpdate, Retention, RetentionPolicy, TenantReport};

/// What replaces a redacted record's documents (and the audit's copies of them).
pub(crate) const REDACTED: &str = r#"{"redacted":true}"#;
/// Deleted users redacted in one write transaction.
const REDACT_BATCH: i64 = 200;

pub(crate) fn parse_now(now: &str) -> Result<time::OffsetDateTime, StoreError> {
    scim_core::value::parse_datetime(now)
        .ok_or_else(|| ScimError::invalid_value(format!("'{now}' is not an instant")).into())
}

pub(crate) fn days_before(now: time::OffsetDateTime, days: i64) -> String {
    super::format_time(now - time::Duration::days(days.clamp(0, 36_500)))
}

pub(crate) fn purge_deleted(db: &mut dyn Db, tenant_id: i64, now: &str) -> Result<u64, StoreError> {
    let Some(days) = db.row(
        "SELECT retention_days FROM tenants WHERE id = ?",
        params![tenant_id],
        |r| r.int(0),
    )?
    else {
        return Ok(0);
    };
    let cutoff = days_before(parse_now(now)?, days);
    // The memberships a restore would have made again go with the resource.
    db.exec(
        "DELETE FROM ended_memberships WHERE tenant_id = ? AND deleted_id IN
           (SELECT id FROM resources
             WHERE tenant_id = ? AND deleted IS NOT NULL AND deleted < ?)",
        params![tenant_id, tenant_id, cutoff.as_str()],
    )?;
    // Stored times are text in one format: their order is their time order. Index
    // entries go with the rows (ON DELETE CASCADE); memberships went at the delete.
    db.exec(
        "DELETE FROM resources WHERE tenant_id = ? AND deleted IS NOT NULL AND deleted < ?",
        params![tenant_id, cutoff],
    )
}

pub(crate) fn policy(db: &mut dyn Db, tenant_id: i64) -> Result<RetentionPolicy, StoreError> {
    Ok(db
        .row(
            "SELECT changes_days, redact_days, requests_days, requests_max
               FROM tenant_retention WHERE tenant_id = ?",
            params![tenant_id],
            |r| {
                Ok(RetentionPolicy {
                    changes_days: r.opt_int(0)?,
                    redact_days: r.opt_int(1)?,
                    requests_days: r.int(2)?,
                    requests_max: r.int(3)?,
                })
            },
        )?
        .unwrap_or_default())
}

fn check_days(field: &str, days: Option<i64>) -> Result<(), StoreError> {
    match days {
        Some(d) if !(0..=36_500).contains(&d) => Err(ScimError::invalid_value(format!(
            "{field} must be 0 to 36500 days, not {d}"
        ))
        .into()),
        _ => Ok(()),
    }
}

pub(crate) fn set_policy(
    db: &mut dyn Db,
    tenant_id: i64,
    u: &PolicyUpdate,
) -> Result<RetentionPolicy, StoreError> {
    check_days("changes_days", u.changes_days.flatten())?;
    check_days("redact_days", u.redact_days.flatten())?;
    check_days("requests_days", u.requests_days)?;
    if let Some(n) = u.requests_max
        && !(1..=10_000_000).contains(&n)
    {
        return Err(ScimError::invalid_value(format!(
            "requests_max must be 1 to 10000000, not {n}"
        ))
        .into());
    }
    if db
        .row(
            "SELECT id FROM tenants WHERE id = ?",
            params![tenant_id],
            |r| r.int(0),
        )?
        .is_none()
    {
        return Err(ScimError::not_found("there is no such tenant").into());
    }
    let mut p = policy(db, tenant_id)?;
    if let Some(d) = u.changes_days {
        p.changes_days = d;
    }
    if let Some(d) = u.redact_days {
        p.redact_days = d;
    }
    if let Some(d) = u.requests_days {
        p.requests_days = d;
    }
    if let Some(n) = u.requests_max {
        p.requests_max = n;
    }
    let opt = |v: Option<i64>| v.map_or(SqlValue::Null, SqlValue::Int);
    db.exec(
        "INSERT INTO tenant_retention
             (tenant_id, changes_days, redact_days, requests_days, requests_max)
         VALUES (?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?, ?)
         ON CONFLICT (tenant_id) DO UPDATE SET
             changes_days = excluded.changes_days, redact_days = excluded.redact_days,
             requests_days = excluded.requests_days, requests_max = excluded.requests_max",
        &[
            SqlValue::Int(tenant_id),
            opt(p.changes_days),
            opt(p.redact_days),
            SqlValue::Int(p.requests_days),
            SqlValue::Int(p.requests_max),
        ],
    )?;
    Ok(p)
}

/// The first record at or after `seq`: its position and time.
fn record_at(
    db: &mut dyn Db,
    tenant_id: i64,
    seq: i64,
) -> Result<Option<(i64, String)>, StoreError> {
    let limit = db.dialect().limit_param();
    db.row(
        &format!(
            "SELECT seq, at FROM changes WHERE tenant_id = ? AND seq >= ? ORDER BY seq LIMIT {limit}"
        ),
        params![tenant_id, seq, 1],
        |r| Ok((r.int(0)?, r.text(1)?)),
    )
}

/// The position of the last change record older than `cutoff` (`None`: there is none):
/// a binary search over positions, since records are appended in time order.
pub(crate) fn last_before(
    db: &mut dyn Db,
    tenant_id: i64,
    cutoff: &str,
) -> Result<Option<i64>, StoreError> {
    let Some((oldest, oldest_at)) = record_at(db, tenant_id, 0)? else {
        return Ok(None);
    };
    if oldest_at.as_str() >= cutoff {
        return Ok(None);
    }
    let head = db.one(
        "SELECT change_seq FROM tenants WHERE id = ?",
        params![tenant_id],
        |r| r.int(0),
    )?;
    let (mut lo, mut hi) = (oldest, head.max(oldest));
    while lo < hi {
        let mid = lo + (hi - lo + 1) / 2;
        match record_at(db, tenant_id, mid)? {
            Some((s, a)) if s <= hi && a.as_str() < cutoff => lo = s,
            _ => hi = mid - 1,
        }
    }
    Ok(Some(lo))
}

/// Deletes the audit rows that ended at or before `through`: no question about an instant
/// from the oldest record kept on reads them.
fn prune_audit_rows(db: &mut dyn Db, tenant_id: i64, through: i64) -> Result<u64, StoreError> {
    let mut n = 0;
    for table in ["audit_states", "audit_members"] {
        n += db.exec(
            &format!(
                "DELETE FROM {table}
                  WHERE tenant_id = ? AND to_seq IS NOT NULL AND to_seq <= ?"
            ),
            params![tenant_id, through],
        )?;
    }
    Ok(n)
}

/// Redacts the records of up to [`REDACT_BATCH`] users deleted before `cutoff` (their last
/// record is the delete, and their row is gone); returns (users, records).
fn redact_step(db: &mut dyn Db, tenant_id: i64, cutoff: &str) -> Result<(u64, u64), StoreError> {
    let limit = db.dialect().limit_param();
    let ids = db.rows(
        &format!(
            "SELECT c.resource_id FROM changes c
              WHERE c.tenant_id = ? AND c.operation = 'delete' AND c.redacted IS NULL
                AND c.at < ? AND c.resource_type = 'User'
                AND NOT EXISTS (SELECT 1 FROM changes n WHERE n.tenant_id = c.tenant_id
                                   AND n.resource_id = c.resource_id AND n.seq > c.seq)
                AND NOT EXISTS (SELECT 1 FROM resources r WHERE r.tenant_id = c.tenant_id
                                   AND r.id = c.resource_id)
              ORDER BY c.at LIMIT {limit}"
        ),
        params![tenant_id, cutoff, REDACT_BATCH],
        |r| r.text(0),
    )?;
    let now = super::now();
    let mut records = 0;
    for id in &ids {
        records += db.exec(
            "UPDATE changes SET
                 before = CASE WHEN before IS NULL THEN NULL ELSE ? END,
                 after = CASE WHEN after IS NULL THEN NULL ELSE ? END,
                 redacted = ?
              WHERE tenant_id = ? AND resource_id = ? AND redacted IS NULL",
            params![REDACTED, REDACTED, now.as_str(), tenant_id, id.as_str()],
        )?;
        db.exec(
            "UPDATE audit_states SET data = ? WHERE tenant_id = ? AND resource_id = ?",
            params![REDACTED, tenant_id, id.as_str()],
        )?;
    }
    Ok((ids.len() as u64, records))
}

/// Trims a tenant's request log to `days` and `max` entries.
pub(crate) fn trim_requests(
    db: &mut dyn Db,
    tenant_id: i64,
    since: &str,
    max: i64,
) -> Result<u64, StoreError> {
    let aged = db.exec(
        "DELETE FROM request_log WHERE tenant_id = ? AND at < ?",
        params![tenant_id, since],
    )?;
    Ok(aged + cap_requests(db, tenant_id, max)?)
}

/// Trims a tenant's request log to its newest `max` entries, in one statement. The id
/// bound is found through the index on (tenant, id), newest first; the age of entries is
/// not looked at (that needs every entry's row: [`trim_requests`]).
pub(crate) fn cap_requests(db: &mut dyn Db, tenant_id: i64, max: i64) -> Result<u64, StoreError> {
    let offset = db.dialect().limit_param();
    db.exec(
        &format!(
            "DELETE FROM request_log WHERE tenant_id = ? AND id <= (
                 SELECT id FROM request_log WHERE tenant_id = ?
                  ORDER BY id DESC LIMIT 1 OFFSET {offset})"
        ),
        params![tenant_id, tenant_id, max],
    )
}

#[async_trait]
impl<E: Engine> Retention for SqlStore<E> {
    async fn purge_deleted(&self, tenant_id: i64, now: &str) -> Result<u64, StoreError> {
        let now = now.to_string();
        self.engine
            .write(move |db| purge_deleted(db, tenant_id, &now))
            .await
    }

    async fn retention_policy(&self, tenant_id: i64) -> Result<RetentionPolicy, StoreError> {
        self.engine
            .read_short(move |db| policy(db, tenant_id))
            .await
    }

    async fn set_retention_policy(
        &self,
        tenant_id: i64,
        update: &PolicyUpdate,
    ) -> Result<RetentionPolicy, StoreError> {
        let update = update.clone();
        self.engine
            .write(move |db| set_policy(db, tenant_id, &update))
            .await
    }

    async fn apply_retention(&self, tenant_id: i64, now: &str) -> Result<TenantReport, StoreError> {
        let at = parse_now(now)?;
        let p = self.retention_policy(tenant_id).await?;
        let mut report = TenantReport {
            purged: self.purge_deleted(tenant_id, now).await?,
            ..TenantReport::default()
        };
        if let Some(days) = p.changes_days {
            let cutoff = days_before(at, days);
            let through = self
                .engine
                .read(move |db| last_before(db, tenant_id, &cutoff))
                .await?;
            if let Some(through) = through {
                // The audit index takes in what is pruned first (sql/audit.rs).
                report.changes_pruned = self.prune_indexed(tenant_id, through).await?;
                report.audit_rows_pruned = self
                    .engine
                    .write(move |db| prune_audit_rows(db, tenant_id, through))
                    .await?;
            }
        }
        if let Some(days) = p.redact_days {
            let cutoff = days_before(at, days);
            loop {
                let c = cutoff.clone();
                let (users, records) = self
                    .engine
                    .write(move |db| redact_step(db, tenant_id, &c))
                    .await?;
                report.redacted_users += users;
                report.redacted_records += records;
                if users < REDACT_BATCH as u64 {
                    break;
                }
            }
        }
        let since = days_before(at, p.requests_days);
        let max = p.requests_max;
        report.requests_trimmed = self
            .engine
            .write(move |db| trim_requests(db, tenant_id, &since, max))
            .await?;
        Ok(report)
    }
}
