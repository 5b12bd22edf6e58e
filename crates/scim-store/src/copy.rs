//! Copying a whole store to another, in any direction between the backends (`scim store
//! copy`): administration tokens, tenants (with their change counters and uids), tokens
//! (hashes only), resources (ids, versions, times, data, soft-deleted rows), the attribute
//! index, memberships and the change history, keeping every id and sequence number; and
//! what was built over them: webhook and NATS endpoints with their positions, the
//! point-in-time audit index, connector targets' positions and parked events, the record of
//! management writes, role rules and users' roles, and the memberships a restore re-makes.
//!
//! The source is read from one consistent snapshot, page by page; each page is written to
//! the target in a transaction of its own, as an upsert keyed by the row's primary key, so
//! an interrupted copy can simply be run again. At the end the rows of each table are
//! counted, per tenant, on both sides and must agree.
//!
//! Writers should be stopped while copying: the snapshot is of the moment the copy starts.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use crate::StoreError;
use crate::backend::AnyStore;
use crate::sql::db::{Db, DbError, DbExt, Dialect, SqlRow, SqlValue};
use crate::sql::document::Document;
use crate::sql::{Engine, SqlStore};

/// Rows read per page (and written per target transaction).
const PAGE: i64 = 500;

/// How a column is read.
#[derive(Debug, Clone, Copy)]
enum Col {
    Int,
    Text,
    OptText,
    /// A JSON document (`sql/document.rs`): written so that SQLite keeps a large one packed.
    Doc,
    OptDoc,
    Blob,
    /// A boolean, selected as `CASE WHEN c THEN 1 ELSE 0 END` (SQLite keeps 0/1).
    Bool,
    /// A nullable integer, selected as text (written with `CAST(? AS BIGINT)`).
    OptInt,
}

/// One table as the copy sees it.
struct Table {
    name: &'static str,
    /// Column names and how to read them, in the order of `upsert`'s placeholders.
    columns: &'static [(&'static str, Col)],
    /// Columns (indexes into `columns`) of a unique key, for keyset paging.
    key: &'static [usize],
    /// The statement that inserts one row or brings an existing one up to date.
    upsert: &'static str,
    /// The column with the tenant's id, for counting per tenant.
    tenant_column: &'static str,
}

const TENANTS: Table = Table {
    name: "tenants",
    columns: &[
        ("id", Col::Int),
        ("name", Col::Text),
        ("created", Col::Text),
        ("delete_mode", Col::Text),
        ("retention_days", Col::Int),
        ("change_seq", Col::Int),
        ("uid", Col::Text),
        ("case_twin", Col::OptInt),
    ],
    key: &[0],
    // The change counter never goes backwards: a target that has moved on keeps its count.
    // The uid is kept, so that event ids stay the same after a move between databases.
    upsert: "INSERT INTO tenants (id, name, created, delete_mode, retention_days, change_seq, uid,
                 case_twin)
             VALUES (?, ?, ?, ?, ?, ?, ?, CAST(? AS BIGINT))
             ON CONFLICT (id) DO UPDATE SET delete_mode = excluded.delete_mode,
                 retention_days = excluded.retention_days,
                 change_seq = CASE WHEN excluded.change_seq > tenants.change_seq
                     THEN excluded.change_seq ELSE tenants.change_seq END",
    tenant_column: "id",
};

const TOKENS: Table = Table {
    name: "tokens",
    columns: &[
        ("id", Col::Text),
        ("tenant_id", Col::Int),
        ("name", Col::Text),
        ("secret_hash", Col::Blob),
        ("created", Col::Text),
        ("expires", Col::OptText),
        ("revoked", Col::OptText),
        ("scope", Col::Text),
        ("last_used", Col::OptText),
        ("rotated_to", Col::OptText),
    ],
    key: &[0],
    upsert: "INSERT INTO tokens (id, tenant_id, name, secret_hash, created, expires, revoked,
                 scope, last_used, rotated_to)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, expires = excluded.expires,
                 revoked = excluded.revoked, scope = excluded.scope,
                 last_used = excluded.last_used, rotated_to = excluded.rotated_to",
    tenant_column: "tenant_id",
};

const TENANT_SETTINGS: Table = Table {
    name: "tenant_settings",
    columns: &[
        ("tenant_id", Col::Int),
        ("rate_per_minute", Col::OptInt),
        ("rate_burst", Col::OptInt),
        ("jwt", Col::OptText),
    ],
    key: &[0],
    upsert: "INSERT INTO tenant_settings (tenant_id, rate_per_minute, rate_burst, jwt)
             VALUES (?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?)
             ON CONFLICT (tenant_id) DO UPDATE SET rate_per_minute = excluded.rate_per_minute,
                 rate_burst = excluded.rate_burst, jwt = excluded.jwt",
    tenant_column: "tenant_id",
};

const RESOURCES: Table = Table {
    name: "resources",
    columns: &[
        ("seq", Col::Int),
        ("tenant_id", Col::Int),
        ("resource_type", Col::Text),
        ("id", Col::Text),
        ("version", Col::Int),
        ("created", Col::Text),
        ("last_modified", Col::Text),
        ("data", Col::Doc),
        ("display", Col::OptText),
        ("deleted", Col::OptText),
    ],
    key: &[0],
    upsert: "INSERT INTO resources (seq, tenant_id, resource_type, id, version, created,
                 last_modified, data, display, deleted)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (seq) DO UPDATE SET version = excluded.version,
                 last_modified = excluded.last_modified, data = excluded.data,
                 display = excluded.display, deleted = excluded.deleted",
    tenant_column: "tenant_id",
};

/// Copied with the resources it belongs to (it has no key of its own): a page of resources
/// replaces all of their index entries.
const ATTR_INDEX: Table = Table {
    name: "attr_index",
    columns: &[
        ("tenant_id", Col::Int),
        ("resource_type", Col::Text),
        ("attr", Col::Text),
        ("value", Col::Text),
        ("resource_seq", Col::Int),
        ("is_unique", Col::Bool),
    ],
    key: &[4, 2, 3],
    upsert:
        "INSERT INTO attr_index (tenant_id, resource_type, attr, value, resource_seq, is_unique)
             VALUES (?, ?, ?, ?, ?, ?)",
    tenant_column: "tenant_id",
};

const MEMBERS: Table = Table {
    name: "members",
    columns: &[
        ("tenant_id", Col::Int),
        ("group_id", Col::Text),
        ("member_id", Col::Text),
        ("member_type", Col::OptText),
        ("display", Col::OptText),
    ],
    key: &[0, 1, 2],
    upsert: "INSERT INTO members (tenant_id, group_id, member_id, member_type, display)
             VALUES (?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, group_id, member_id) DO UPDATE SET
                 member_type = excluded.member_type, display = excluded.display",
    tenant_column: "tenant_id",
};

/// Change records never change: existing ones are skipped.
const CHANGES: Table = Table {
    name: "changes",
    columns: &[
        ("tenant_id", Col::Int),
        ("seq", Col::Int),
        ("resource_type", Col::Text),
        ("resource_id", Col::Text),
        ("operation", Col::Text),
        ("changed", Col::Text),
        ("before", Col::OptDoc),
        ("after", Col::OptDoc),
        ("members_added", Col::Text),
        ("members_removed", Col::Text),
        ("token_id", Col::OptText),
        ("token_name", Col::OptText),
        ("request_id", Col::OptText),
        ("at", Col::Text),
        ("version", Col::OptInt),
        ("created", Col::OptText),
        ("detail", Col::OptText),
    ],
    key: &[0, 1],
    upsert: "INSERT INTO changes (tenant_id, seq, resource_type, resource_id, operation, changed,
                 before, after, members_added, members_removed, token_id, token_name,
                 request_id, at, version, created, detail)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, seq) DO NOTHING",
    tenant_column: "tenant_id",
};

/// Administration tokens belong to the deployment, not to a tenant: they are counted
/// under tenant 0.
const ADMIN_TOKENS: Table = Table {
    name: "admin_tokens",
    columns: &[
        ("id", Col::Text),
        ("name", Col::Text),
        ("secret_hash", Col::Blob),
        ("created", Col::Text),
        ("expires", Col::OptText),
        ("revoked", Col::OptText),
        ("last_used", Col::OptText),
    ],
    key: &[0],
    upsert: "INSERT INTO admin_tokens (id, name, secret_hash, created, expires, revoked,
                 last_used)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (id) DO UPDATE SET revoked = excluded.revoked,
                 last_used = excluded.last_used",
    tenant_column: "length(id) * 0",
};

/// Webhook endpoints and NATS publishers, with their positions (not their leases, nor the
/// record of past attempts, `delivery_attempts`, which stays behind).
const DESTINATIONS: Table = Table {
    name: "destinations",
    columns: &[
        ("id", Col::Text),
        ("tenant_id", Col::Int),
        ("kind", Col::Text),
        ("url", Col::Text),
        ("event_types", Col::Text),
        ("description", Col::Text),
        ("secret", Col::OptText),
        ("previous_secret", Col::OptText),
        ("previous_expires", Col::OptText),
        ("batch_max", Col::Int),
        ("state", Col::Text),
        ("paused_reason", Col::OptText),
        ("position", Col::Int),
        ("generation", Col::Int),
        ("failures", Col::Int),
        ("failing_since", Col::OptText),
        ("next_attempt", Col::OptText),
        ("last_status", Col::OptInt),
        ("last_error", Col::OptText),
        ("last_success", Col::OptText),
        ("created", Col::Text),
        ("updated", Col::Text),
    ],
    key: &[0],
    // An existing endpoint is brought up to date; its generation moves on, so that a
    // deliverer holding the old one reloads it.
    upsert: "INSERT INTO destinations (id, tenant_id, kind, url, event_types, description,
                 secret, previous_secret, previous_expires, batch_max, state, paused_reason,
                 position, generation, failures, failing_since, next_attempt, last_status,
                 last_error, last_success, created, updated)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, CAST(? AS BIGINT), ?, ?,
                 ?, ?)
             ON CONFLICT (id) DO UPDATE SET url = excluded.url,
                 event_types = excluded.event_types, description = excluded.description,
                 secret = excluded.secret, previous_secret = excluded.previous_secret,
                 previous_expires = excluded.previous_expires, batch_max = excluded.batch_max,
                 state = excluded.state, paused_reason = excluded.paused_reason,
                 position = excluded.position, generation = excluded.generation + 1,
                 failures = excluded.failures, failing_since = excluded.failing_since,
                 next_attempt = excluded.next_attempt, last_status = excluded.last_status,
                 last_error = excluded.last_error, last_success = excluded.last_success,
                 updated = excluded.updated",
    tenant_column: "tenant_id",
};

/// How far the point-in-time audit index has read the change log.
const AUDIT_PROGRESS: Table = Table {
    name: "audit_progress",
    columns: &[
        ("tenant_id", Col::Int),
        ("through_seq", Col::Int),
        ("complete", Col::Int),
    ],
    key: &[0],
    upsert: "INSERT INTO audit_progress (tenant_id, through_seq, complete) VALUES (?, ?, ?)
             ON CONFLICT (tenant_id) DO UPDATE SET through_seq = excluded.through_seq,
                 complete = excluded.complete",
    tenant_column: "tenant_id",
};

/// Membership intervals of the audit index (they outlive the change records they were
/// derived from once those are pruned).
const AUDIT_MEMBERS: Table = Table {
    name: "audit_members",
    columns: &[
        ("tenant_id", Col::Int),
        ("group_id", Col::Text),
        ("member_id", Col::Text),
        ("member_type", Col::OptText),
        ("from_seq", Col::Int),
        ("to_seq", Col::OptInt),
    ],
    key: &[0, 1, 2, 4],
    upsert: "INSERT INTO audit_members (tenant_id, group_id, member_id, member_type, from_seq,
                 to_seq)
             VALUES (?, ?, ?, ?, ?, CAST(? AS BIGINT))
             ON CONFLICT (tenant_id, group_id, member_id, from_seq) DO UPDATE SET
                 to_seq = excluded.to_seq",
    tenant_column: "tenant_id",
};

/// Resource states of the audit index.
const AUDIT_STATES: Table = Table {
    name: "audit_states",
    columns: &[
        ("tenant_id", Col::Int),
        ("resource_id", Col::Text),
        ("resource_type", Col::Text),
        ("from_seq", Col::Int),
        ("to_seq", Col::OptInt),
        ("active", Col::OptInt),
        ("data", Col::Text),
    ],
    key: &[0, 1, 3],
    upsert: "INSERT INTO audit_states (tenant_id, resource_id, resource_type, from_seq, to_seq,
                 active, data)
             VALUES (?, ?, ?, ?, CAST(? AS BIGINT), CAST(? AS BIGINT), ?)
             ON CONFLICT (tenant_id, resource_id, from_seq) DO UPDATE SET
                 to_seq = excluded.to_seq",
    tenant_column: "tenant_id",
};

/// Connector targets' positions kept by `scim` (targets that keep theirs in their own
/// database have none here).
const TARGET_POSITIONS: Table = Table {
    name: "target_positions",
    columns: &[
        ("target", Col::Text),
        ("tenant_id", Col::Int),
        ("position", Col::Int),
        ("failures", Col::Int),
        ("last_error", Col::OptText),
        ("last_error_at", Col::OptText),
        ("paused", Col::OptText),
        ("updated", Col::Text),
    ],
    key: &[0, 1],
    upsert: "INSERT INTO target_positions (target, tenant_id, position, failures, last_error,
                 last_error_at, paused, updated)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (target, tenant_id) DO UPDATE SET position = excluded.position,
                 failures = excluded.failures, last_error = excluded.last_error,
                 last_error_at = excluded.last_error_at, paused = excluded.paused,
                 updated = excluded.updated",
    tenant_column: "tenant_id",
};

/// Events a connector target parked (waiting for an operator).
const TARGET_PARKED: Table = Table {
    name: "target_parked",
    columns: &[
        ("target", Col::Text),
        ("tenant_id", Col::Int),
        ("position", Col::Int),
        ("resource_id", Col::Text),
        ("event", Col::Text),
        ("error", Col::Text),
        ("parked_at", Col::Text),
    ],
    key: &[0, 1, 2],
    upsert: "INSERT INTO target_parked (target, tenant_id, position, resource_id, event, error,
                 parked_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (target, tenant_id, position) DO NOTHING",
    tenant_column: "tenant_id",
};

/// The record of management writes: it belongs to the deployment (tenants are named in
/// it, not referenced), so it is counted under tenant 0.
const ADMIN_AUDIT: Table = Table {
    name: "admin_audit",
    columns: &[
        ("seq", Col::Int),
        ("at", Col::Text),
        ("actor", Col::Text),
        ("actor_id", Col::OptText),
        ("action", Col::Text),
        ("tenant", Col::OptText),
        ("target", Col::OptText),
        ("request_id", Col::OptText),
        ("detail", Col::Text),
    ],
    key: &[0],
    upsert: "INSERT INTO admin_audit (seq, at, actor, actor_id, action, tenant, target,
                 request_id, detail)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (seq) DO NOTHING",
    tenant_column: "length(actor) * 0",
};

/// Group-to-role rules (a `user_filter` rule's filter is kept resolved in `compiled`).
const ROLE_RULES: Table = Table {
    name: "role_rules",
    columns: &[
        ("tenant_id", Col::Int),
        ("id", Col::Text),
        ("role", Col::Text),
        ("match_kind", Col::Text),
        ("value", Col::OptText),
        ("created", Col::Text),
        ("pattern", Col::Int),
        ("compiled", Col::OptText),
    ],
    key: &[0, 1],
    upsert: "INSERT INTO role_rules (tenant_id, id, role, match_kind, value, created, pattern,
                 compiled)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, id) DO UPDATE SET role = excluded.role,
                 match_kind = excluded.match_kind, value = excluded.value,
                 pattern = excluded.pattern, compiled = excluded.compiled",
    tenant_column: "tenant_id",
};

/// Users' effective roles (derived from the rules, copied as they are).
const USER_ROLES: Table = Table {
    name: "user_roles",
    columns: &[
        ("tenant_id", Col::Int),
        ("user_id", Col::Text),
        ("role", Col::Text),
    ],
    key: &[0, 1, 2],
    upsert: "INSERT INTO user_roles (tenant_id, user_id, role) VALUES (?, ?, ?)
             ON CONFLICT (tenant_id, user_id, role) DO NOTHING",
    tenant_column: "tenant_id",
};

/// The memberships a soft delete ended, which a restore makes again.
const ENDED_MEMBERSHIPS: Table = Table {
    name: "ended_memberships",
    columns: &[
        ("tenant_id", Col::Int),
        ("deleted_id", Col::Text),
        ("group_id", Col::Text),
        ("member_id", Col::Text),
        ("member_type", Col::OptText),
        ("display", Col::OptText),
    ],
    key: &[0, 1, 2, 3],
    upsert: "INSERT INTO ended_memberships (tenant_id, deleted_id, group_id, member_id,
                 member_type, display)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (tenant_id, deleted_id, group_id, member_id) DO NOTHING",
    tenant_column: "tenant_id",
};

/// Every table, in the order they are copied (parents before children). Not copied:
/// `delivery_attempts` (a delivery log of the old deployment) and `admin_idempotency`
/// (idempotency keys live for a day).
const TABLES: [&Table; 18] = [
    &ADMIN_TOKENS,
    &TENANTS,
    &TENANT_SETTINGS,
    &TOKENS,
    &RESOURCES,
    &ATTR_INDEX,
    &MEMBERS,
    &CHANGES,
    &DESTINATIONS,
    &AUDIT_PROGRESS,
    &AUDIT_MEMBERS,
    &AUDIT_STATES,
    &TARGET_POSITIONS,
    &TARGET_PARKED,
    &ADMIN_AUDIT,
    &ROLE_RULES,
    &USER_ROLES,
    &ENDED_MEMBERSHIPS,
];

/// The rows of one table in the source and, after the copy, in the target (counted over the
/// source's tenants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    /// The table's name.
    pub table: &'static str,
    /// Rows in the source.
    pub source: u64,
    /// Rows in the target after the copy.
    pub target: u64,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The source store, as described for logs.
    pub from: String,
    /// The target store, as described for logs.
    pub to: String,
    /// Per table, in copy order; every `source` equals its `target` (else the copy fails).
    pub tables: Vec<TableCount>,
}

type Row = Vec<SqlValue>;

/// One page read from the source, written to the target in one transaction.
struct Batch {
    table: &'static Table,
    rows: Vec<Row>,
    /// For a page of resources: their index entries (all of them).
    index: Vec<Row>,
}

/// Counts per table, per tenant.
type Counts = BTreeMap<&'static str, BTreeMap<i64, u64>>;

/// Copies everything in `from` to `to` and verifies the counts.
pub async fn copy(from: &AnyStore, to: &AnyStore) -> Result<CopyReport, StoreError> {
    if from.describe() == to.describe() {
        return Err(StoreError::Database(
            "the source and the target are the same database".into(),
        ));
    }
    match (from, to) {
        (AnyStore::Sqlite(a), AnyStore::Sqlite(b)) => copy_between(a, b).await,
        (AnyStore::Sqlite(a), AnyStore::Postgres(b)) => copy_between(a, b).await,
        (AnyStore::Postgres(a), AnyStore::Sqlite(b)) => copy_between(a, b).await,
        (AnyStore::Postgres(a), AnyStore::Postgres(b)) => copy_between(a, b).await,
    }
}

async fn copy_between<A: Engine, B: Engine>(
    from: &SqlStore<A>,
    to: &SqlStore<B>,
) -> Result<CopyReport, StoreError> {
    let (tx, mut rx) = mpsc::channel::<Batch>(4);
    let read = from.engine.read(move |db| read_all(db, &tx));
    let write = async {
        while let Some(batch) = rx.recv().await {
            to.engine.write(move |db| write_batch(db, &batch)).await?;
        }
        to.engine.write(finish_target).await
    };
    // If the writer fails, its receiver is dropped and the reader stops at its next page.
    let (source, written) = tokio::join!(read, write);
    written?;
    let source = source?;
    let target = to.engine.read(count_all).await?;
    let mut tables = Vec::new();
    let mut mismatches = Vec::new();
    for table in TABLES {
        let per_source = source.get(table.name).cloned().unwrap_or_default();
        let per_target = target.get(table.name).cloned().unwrap_or_default();
        let source_total: u64 = per_source.values().sum();
        let target_total: u64 = per_source
            .keys()
            .map(|t| per_target.get(t).copied().unwrap_or(0))
            .sum();
        if source_total != target_total {
            mismatches.push(format!(
                "{}: {source_total} in the source, {target_total} in the target",
                table.name
            ));
        }
        tables.push(TableCount {
            table: table.name,
            source: source_total,
            target: target_total,
        });
    }
    if !mismatches.is_empty() {
        return Err(StoreError::Database(format!(
            "the copy does not match the source ({}); the target holds rows of these tenants \
             that the source does not: copy into an empty database",
            mismatches.join("; ")
        )));
    }
    Ok(CopyReport {
        from: from.describe(),
        to: to.describe(),
        tables,
    })
}

fn select_list(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|(name, col)| match col {
            Col::Bool => format!("CASE WHEN {name} THEN 1 ELSE 0 END"),
            Col::OptInt => format!("CAST({name} AS TEXT)"),
            _ => (*name).to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_row(table: &Table, r: &dyn SqlRow) -> Result<Row, StoreError> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(i, (_, col))| {
            Ok(match col {
                Col::Int => SqlValue::Int(r.int(i)?),
                Col::Text => SqlValue::Text(r.text(i)?),
                Col::OptText => r.opt_text(i)?.into(),
                Col::Doc => SqlValue::Document(Document::new(r.text(i)?)),
                Col::OptDoc => r
                    .opt_text(i)?
                    .map_or(SqlValue::Null, |t| SqlValue::Document(Document::new(t))),
                Col::Blob => SqlValue::Blob(r.blob(i)?),
                Col::Bool => SqlValue::Bool(r.int(i)? != 0),
                Col::OptInt => match r.opt_text(i)?.map(|t| t.parse::<i64>()) {
                    Some(Ok(n)) => SqlValue::Int(n),
                    Some(Err(_)) => {
                        return Err(StoreError::Database(format!(
                            "{}.{} is not an integer",
                            table.name, table.columns[i].0
                        )));
                    }
                    None => SqlValue::Null,
                },
            })
        })
        .collect()
}

/// Reads one page of `table` after `after` (the key of the last row of the previous page).
fn read_page(
    db: &mut dyn Db,
    table: &Table,
    after: Option<&Row>,
    extra: Option<(&str, Vec<SqlValue>)>,
) -> Result<Vec<Row>, StoreError> {
    let key: Vec<&str> = table.key.iter().map(|&i| table.columns[i].0).collect();
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let Some(last) = after {
        let marks = vec!["?"; key.len()].join(", ");
        conditions.push(format!("({}) > ({marks})", key.join(", ")));
        params.extend(table.key.iter().map(|&i| last[i].clone()));
    }
    if let Some((condition, values)) = extra {
        conditions.push(condition.to_string());
        params.extend(values);
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    params.push(SqlValue::Int(PAGE));
    db.rows(
        &format!(
            "SELECT {} FROM {}{filter} ORDER BY {} LIMIT ?",
            select_list(table),
            table.name,
            key.join(", ")
        ),
        &params,
        |r| read_row(table, r),
    )
}

/// Reads every table from the source's snapshot and hands the pages to the writer;
/// returns the source's counts (from the same snapshot).
fn read_all(db: &mut dyn Db, tx: &mpsc::Sender<Batch>) -> Result<Counts, StoreError> {
    let send = |batch: Batch| {
        tx.blocking_send(batch)
            .map_err(|_| StoreError::Database("the copy's writer stopped".into()))
    };
    // The attribute index goes with its resources' pages.
    for table in TABLES.into_iter().filter(|t| t.name != ATTR_INDEX.name) {
        let mut last: Option<Row> = None;
        loop {
            let rows = read_page(db, table, last.as_ref(), None)?;
            let Some(tail) = rows.last().cloned() else {
                break;
            };
            let full = rows.len() as i64 == PAGE;
            let index = if table.name == RESOURCES.name {
                page_index(db, last.as_ref(), &tail)?
            } else {
                Vec::new()
            };
            send(Batch { table, rows, index })?;
            if !full {
                break;
            }
            last = Some(tail);
        }
    }
    count_all(db)
}

/// The index entries of the resources with `after.seq < seq <= last.seq`.
fn page_index(db: &mut dyn Db, after: Option<&Row>, last: &Row) -> Result<Vec<Row>, StoreError> {
    let low = match after.map(|r| &r[0]) {
        Some(SqlValue::Int(seq)) => *seq,
        _ => i64::MIN,
    };
    let high = match &last[0] {
        SqlValue::Int(seq) => *seq,
        _ => return Err(StoreError::Database("a resource without seq".into())),
    };
    let mut out = Vec::new();
    let mut cursor: Option<Row> = None;
    loop {
        let rows = read_page(
            db,
            &ATTR_INDEX,
            cursor.as_ref(),
            Some((
                "resource_seq > ? AND resource_seq <= ?",
                vec![SqlValue::Int(low), SqlValue::Int(high)],
            )),
        )?;
        let full = rows.len() as i64 == PAGE;
        cursor = rows.last().cloned();
        out.extend(rows);
        if !full {
            return Ok(out);
        }
    }
}

fn count_all(db: &mut dyn Db) -> Result<Counts, StoreError> {
    let mut counts = Counts::new();
    for table in TABLES {
        let per_tenant = db.rows(
            &format!(
                "SELECT {c}, COUNT(*) FROM {t} GROUP BY {c}",
                c = table.tenant_column,
                t = table.name
            ),
            &[],
            |r| Ok((r.int(0)?, u64::try_from(r.int(1)?).unwrap_or(0))),
        )?;
        counts.insert(table.name, per_tenant.into_iter().collect());
    }
    Ok(counts)
}

fn conflict(table: &Table, row: &Row) -> StoreError {
    let key: Vec<String> = table
        .key
        .iter()
        .map(|&i| match &row[i] {
            SqlValue::Int(n) => n.to_string(),
            SqlValue::Text(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    StoreError::Database(format!(
        "{} row ({}) conflicts with a different row in the target: copy into an empty database",
        table.name,
        key.join(", ")
    ))
}

fn upsert(db: &mut dyn Db, table: &Table, row: &Row) -> Result<(), StoreError> {
    match db.execute(table.upsert, row) {
        Ok(_) => Ok(()),
        Err(DbError::Unique) => Err(conflict(table, row)),
        Err(DbError::Store(e)) => Err(e),
    }
}

/// Refuses to merge a source tenant into a different target tenant of the same id or name.
fn check_tenant(db: &mut dyn Db, row: &Row) -> Result<(), StoreError> {
    let (SqlValue::Int(id), SqlValue::Text(name)) = (&row[0], &row[1]) else {
        return Err(StoreError::Database(
            "a tenant row without id or name".into(),
        ));
    };
    let clash = db.rows(
        "SELECT id, name FROM tenants WHERE id = ? OR name = ?",
        &[SqlValue::Int(*id), SqlValue::Text(name.clone())],
        |r| Ok((r.int(0)?, r.text(1)?)),
    )?;
    if let Some((other_id, other_name)) = clash.iter().find(|(i, n)| i != id || n != name) {
        return Err(StoreError::Database(format!(
            "tenant '{name}' (id {id}) cannot be copied: the target has tenant '{other_name}' \
             with id {other_id}; copy into an empty database (or delete that tenant there)"
        )));
    }
    Ok(())
}

fn write_batch(db: &mut dyn Db, batch: &Batch) -> Result<(), StoreError> {
    for row in &batch.rows {
        if batch.table.name == TENANTS.name {
            check_tenant(db, row)?;
        }
        upsert(db, batch.table, row)?;
        if batch.table.name == RESOURCES.name {
            db.exec("DELETE FROM attr_index WHERE resource_seq = ?", &row[..1])?;
        }
    }
    for row in &batch.index {
        upsert(db, &ATTR_INDEX, row)?;
    }
    Ok(())
}

/// On PostgreSQL: moves the identity sequences past the copied ids, so new tenants and
/// resources do not collide with them (SQLite derives the next id from the table itself),
/// and gathers planner statistics, which a freshly filled database lacks until autovacuum
/// gets to it (meanwhile filter lookups may be planned as scans).
fn finish_target(db: &mut dyn Db) -> Result<(), StoreError> {
    if db.dialect() != Dialect::Postgres {
        return Ok(());
    }
    for (table, column) in [
        ("tenants", "id"),
        ("resources", "seq"),
        ("admin_audit", "seq"),
    ] {
        db.rows(
            &format!(
                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                    (SELECT COALESCE(MAX({column}), 0) + 1 FROM {table}), false)"
            ),
            &[],
            |r| r.int(0),
        )?;
    }
    for table in TABLES {
        db.exec(&format!("ANALYZE {}", table.name), &[])?;
    }
    Ok(())
}
