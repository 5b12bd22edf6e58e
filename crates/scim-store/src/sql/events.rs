//! The change log's positions, for readers that follow it.

use std::collections::HashMap;

use super::db::{Db, DbExt, Dialect, SqlRow, SqlValue, params};
use super::tenants::{TENANT_COLUMNS, tenant_from_row};
use crate::StoreError;
use crate::events::LogSlice;
use crate::model::{ChangeRecord, Tenant};

pub(crate) fn tenant_by_id(db: &mut dyn Db, tenant_id: i64) -> Result<Option<Tenant>, StoreError> {
    db.row(
        &format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = ?"),
        params![tenant_id],
        tenant_from_row,
    )
}

pub(crate) fn change_heads(
    db: &mut dyn Db,
    tenant_ids: &[i64],
) -> Result<Vec<(i64, i64)>, StoreError> {
    let mut out = Vec::with_capacity(tenant_ids.len());
    for chunk in tenant_ids.chunks(100) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let ids: Vec<SqlValue> = chunk.iter().map(|&id| SqlValue::Int(id)).collect();
        out.extend(db.rows(
            &format!("SELECT id, change_seq FROM tenants WHERE id IN ({marks})"),
            &ids,
            |r| Ok((r.int(0)?, r.int(1)?)),
        )?);
    }
    Ok(out)
}

pub(crate) fn oldest_change(db: &mut dyn Db, tenant_id: i64) -> Result<Option<i64>, StoreError> {
    // The primary key (tenant_id, seq) answers this with one index probe.
    db.row(
        "SELECT seq FROM changes WHERE tenant_id = ? ORDER BY seq LIMIT 1",
        params![tenant_id],
        |r| r.int(0),
    )
}

/// The first position a reader can still get, as one expression (so one snapshot on both
/// engines): the oldest kept record, else the tenant's head + 1 (0 + 1 for a tenant that
/// does not exist). Parameters: the tenant twice.
const FIRST_KEPT: &str = "COALESCE(\
     (SELECT seq FROM changes WHERE tenant_id = ? ORDER BY seq LIMIT 1), \
     (SELECT change_seq + 1 FROM tenants WHERE id = ?), 1)";

pub(crate) fn first_kept(db: &mut dyn Db, tenant_id: i64) -> Result<i64, StoreError> {
    db.row(
        &format!("SELECT {FIRST_KEPT}"),
        params![tenant_id, tenant_id],
        |r| r.int(0),
    )
    .map(|first| first.unwrap_or(1))
}

pub(crate) fn prune_changes(
    db: &mut dyn Db,
    tenant_id: i64,
    through: i64,
) -> Result<u64, StoreError> {
    db.exec(
        "DELETE FROM changes WHERE tenant_id = ? AND seq <= ?",
        params![tenant_id, through],
    )
}

/// A reader's page of the log with the positions around it, in one statement (so one
/// snapshot on both engines): each row is the first position kept (as [`first_kept`]),
/// the tenant's head, then a record ([`super::resources::CHANGE_COLUMNS`]); an empty page is
/// one row without a record. The rows are not ordered (a join need not keep the page's
/// order, and sorting wide rows in the database costs more): [`log_page`] orders them.
/// Parameters: the tenant four times, `after`, `limit`.
pub(crate) fn log_page_statement(dialect: Dialect) -> String {
    format!(
        "SELECT k.first_kept, k.head, p.* FROM (SELECT {FIRST_KEPT} AS first_kept, \
             COALESCE((SELECT change_seq FROM tenants WHERE id = ?), 0) AS head) k \
         LEFT JOIN ({}) p ON 1 = 1",
        super::resources::changes_statement(dialect)
    )
}

/// The parameters of [`log_page_statement`].
pub(crate) fn log_page_params(tenant_id: i64, after: i64, limit: u32) -> Vec<SqlValue> {
    params![
        tenant_id,
        tenant_id,
        tenant_id,
        tenant_id,
        after,
        i64::from(limit)
    ]
    .to_vec()
}

/// One row of [`log_page_statement`].
pub(crate) struct PageRow {
    first_kept: i64,
    head: i64,
    /// The record, its `after` document left as text if it is a create's.
    record: Option<(ChangeRecord, Option<String>)>,
}

pub(crate) fn page_row(r: &dyn SqlRow) -> Result<PageRow, StoreError> {
    let record = match r.opt_int(2)? {
        Some(_) => Some(super::resources::change_row(r, 2, true)?),
        None => None,
    };
    Ok(PageRow {
        first_kept: r.int(0)?,
        head: r.int(1)?,
        record,
    })
}

/// The page [`log_page_statement`] read, with the roles of the users whose creates it holds
/// (see [`super::roles::roles_after_creates`]); and the users' records whose roles must
/// still be asked of the log ([`super::roles::roles_at`]).
pub(crate) fn log_page(rows: Vec<PageRow>, limit: u32) -> (LogSlice, Vec<(String, i64)>) {
    let (first_kept, head) = rows.first().map_or((1, 0), |r| (r.first_kept, r.head));
    let mut stored_after = HashMap::new();
    let mut records: Vec<ChangeRecord> = rows
        .into_iter()
        .filter_map(|row| row.record)
        .map(|(record, text)| {
            if let Some(text) = text {
                stored_after.insert(record.seq, text);
            }
            record
        })
        .collect();
    records.sort_unstable_by_key(|r| r.seq);
    let head = head.max(records.last().map_or(0, |r| r.seq));
    // Users' creates tell their roles from the page itself; the other users' records ask
    // the log.
    let complete = records.len() < usize::try_from(limit).unwrap_or(usize::MAX);
    let roles = super::roles::roles_after_creates(&records, complete);
    let users: Vec<(String, i64)> = records
        .iter()
        .filter(|r| {
            r.resource_type == "User" && (r.after.is_some() || stored_after.contains_key(&r.seq))
        })
        .map(|r| (r.resource_id.clone(), r.seq))
        .filter(|key| !roles.contains_key(key))
        .collect();
    let slice = LogSlice {
        first_kept,
        records,
        head,
        roles,
        stored_after,
    };
    (slice, users)
}
