//! Resource writes and reads. The write functions run inside one transaction each (the
//! backend provides it); nothing here commits.

use std::sync::Arc;

use scim_core::ScimError;
use serde_json::{Map, Value};

use super::db::{Db, DbExt, Dialect, OnFailure, SqlRow, SqlValue, params};
use super::document::Document;
use super::members::{self, MemberEffect};
use super::now;
use crate::StoreError;
use crate::index::{IndexPlan, UNINDEXED, extract, unindexed_entry};
use crate::model::{
    Actor, ChangeRecord, DeleteMode, Include, IndexedAttr, MEMBERS_PER_RECORD, MemberRef,
    RecordedMember, StoredResource, Update, UpdateFn,
};

/// A resource row with its internal sequence number.
pub(crate) struct Row0 {
    pub seq: i64,
    pub resource: StoredResource,
}

pub(crate) const RESOURCE_COLUMNS: &str =
    "seq, resource_type, id, version, created, last_modified, data";

pub(crate) fn resource_from_row(r: &dyn SqlRow) -> Result<Row0, StoreError> {
    let data = match serde_json::from_str::<Value>(&r.text(6)?)? {
        Value::Object(m) => m,
        _ => {
            return Err(StoreError::Database(
                "a stored resource is not a JSON object".into(),
            ));
        }
    };
    Ok(Row0 {
        seq: r.int(0)?,
        resource: StoredResource {
            resource_type: r.text(1)?,
            id: r.text(2)?,
            version: r.int(3)?,
            created: r.text(4)?,
            last_modified: r.text(5)?,
            data,
            members: None,
            groups: None,
        },
    })
}

fn not_found(resource_type: &str, id: &str) -> StoreError {
    ScimError::not_found(format!(
        "{resource_type} '{}' not found",
        scim_core::Sent(id)
    ))
    .into()
}

/// The display value a member or group reference shows: `displayName`, else `userName`.
fn display_of(data: &Map<String, Value>) -> Option<String> {
    data.get("displayName")
        .or_else(|| data.get("userName"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// ` FOR UPDATE` when a read must lock its row until the transaction ends (PostgreSQL;
/// SQLite has a single writer).
fn lock_clause(db: &dyn Db, lock: bool) -> &'static str {
    if lock && db.dialect() == Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    }
}

/// Reads a live resource; with `lock`, the row stays locked until the transaction ends
/// (PostgreSQL; SQLite has a single writer).
fn load_row(
    db: &mut dyn Db,
    tenant_id: i64,
    resource_type: &str,
    id: &str,
    lock: bool,
) -> Result<Option<Row0>, StoreError> {
    let lock = lock_clause(db, lock);
    db.row(
        &format!(
            "SELECT {RESOURCE_COLUMNS} FROM resources
             WHERE tenant_id = ? AND id = ? AND resource_type = ? AND deleted IS NULL{lock}"
        ),
        params![tenant_id, id, resource_type],
        resource_from_row,
    )
}

pub(crate) fn get(
    db: &mut dyn Db,
    tenant_id: i64,
    resource_type: &str,
    id: &str,
    include: Include,
) -> Result<Option<StoredResource>, StoreError> {
    let Some(row) = load_row(db, tenant_id, resource_type, id, false)? else {
        return Ok(None);
    };
    let mut resource = row.resource;
    if include.members {
        resource.members = Some(members::load(db, tenant_id, &resource.id)?);
    }
    if include.groups {
        let mut groups = members::groups_of(db, tenant_id, std::slice::from_ref(&resource.id))?;
        resource.groups = Some(groups.remove(&resource.id).unwrap_or_default());
    }
    Ok(Some(resource))
}

/// Checks an `If-Match` header value against the current version.
pub(crate) fn check_if_match(
    if_match: Option<&str>,
    current: &StoredResource,
) -> Result<(), StoreError> {
    let Some(header) = if_match else {
        return Ok(());
    };
    let matches = current.matches_etag(header);
    if matches {
        Ok(())
    } else {
        Err(ScimError::precondition_failed(format!(
            "The resource has changed: If-Match {} does not match the current version {}",
            scim_core::Sent(header),
            current.etag()
        ))
        .into())
    }
}

/// A live resource's `seq` and version, without reading its document; with `lock`, the row
/// stays locked until the transaction ends (PostgreSQL).
fn load_version(
    db: &mut dyn Db,
    tenant_id: i64,
    resource_type: &str,
    id: &str,
    lock: bool,
) -> Result<Option<(i64, i64)>, StoreError> {
    let lock = lock_clause(db, lock);
    db.row(
        &format!(
            "SELECT seq, version FROM resources
             WHERE tenant_id = ? AND id = ? AND resource_type = ? AND deleted IS NULL{lock}"
        ),
        params![tenant_id, id, resource_type],
        |r| Ok((r.int(0)?, r.int(1)?)),
    )
}

/// The `resources.seq` of the resource an index entry points to.
#[derive(Clone, Copy)]
enum SeqOf {
    /// Known.
    Known(i64),
    /// That of the resource the write inserted last (PostgreSQL), read by the statement
    /// itself, so that a create sends its statements without waiting for the insert's
    /// answer: the last value the connection drew from `resources`' sequence (its identity
    /// column's, `resources_seq_seq`, migration 0001). The insert went just before on the
    /// same connection, in the same write, and nothing inserts another resource in between
    /// (after a rollback to a savepoint, the statements are sent again in the same order,
    /// so the insert draws again first).
    Inserted,
}

impl SeqOf {
    /// The SQL expression of the value.
    fn sql(self) -> &'static str {
        match self {
            SeqOf::Known(_) => "?",
            SeqOf::Inserted => "currval('resources_seq_seq')",
        }
    }

    /// The parameters of [`Self::sql`].
    fn push(self, out: &mut Vec<SqlValue>) {
        match self {
            SeqOf::Known(seq) => out.push(SqlValue::Int(seq)),
            SeqOf::Inserted => {}
        }
    }
}

/// Index entries in one statement (those of non-unique attributes, and at most one of a
/// unique attribute, see [`write_index_values`]).
const INDEX_ROWS_PER_STATEMENT: usize = 100;

/// Writes the index entries of every indexed attribute of a resource.
fn write_index(
    db: &mut dyn Db,
    plan: &IndexPlan,
    tenant_id: i64,
    resource_type: &str,
    seq: SeqOf,
    data: &Map<String, Value>,
) -> Result<(), StoreError> {
    let attrs: Vec<&IndexedAttr> = plan.for_type(resource_type).iter().collect();
    write_index_of(db, &attrs, tenant_id, resource_type, seq, data)
}

/// Writes the index entries of `attrs` (indexed attributes of the resource's type).
fn write_index_of(
    db: &mut dyn Db,
    attrs: &[&IndexedAttr],
    tenant_id: i64,
    resource_type: &str,
    seq: SeqOf,
    data: &Map<String, Value>,
) -> Result<(), StoreError> {
    let values: Vec<(&IndexedAttr, Vec<String>)> = attrs
        .iter()
        .map(|&attr| (attr, extract(data, attr)))
        .collect();
    write_index_values(db, &values, tenant_id, resource_type, seq)
}

/// Inserts index entries: each attribute with its index strings (from [`extract`]).
fn write_index_values<A: std::borrow::Borrow<IndexedAttr>>(
    db: &mut dyn Db,
    values: &[(A, Vec<String>)],
    tenant_id: i64,
    resource_type: &str,
    seq: SeqOf,
) -> Result<(), StoreError> {
    let row_sql = format!("(?, ?, ?, ?, {}, ?)", seq.sql());
    // Entries of non-unique attributes cannot conflict (the unique index covers only the
    // rows of unique attributes): one statement for all of them.
    let mut rows: Vec<Vec<SqlValue>> = Vec::new();
    // Entries of unique attributes, each with the error of its value already in use.
    let mut unique: Vec<(Vec<SqlValue>, StoreError)> = Vec::new();
    for (attr, list) in values {
        let attr: &IndexedAttr = attr.borrow();
        for value in list {
            let value = if value == UNINDEXED {
                unindexed_entry(tenant_id, resource_type, &attr.path)
            } else {
                value.clone()
            };
            // The error of a unique attribute's value already in use.
            let in_use = attr.unique.then(|| {
                ScimError::uniqueness(format!(
                    "{} '{}' is already in use by another {resource_type}",
                    attr.path,
                    scim_core::Sent(&value)
                ))
            });
            let mut row = vec![
                SqlValue::Int(tenant_id),
                SqlValue::from(resource_type),
                SqlValue::from(attr.path.as_str()),
                SqlValue::Text(value),
            ];
            seq.push(&mut row);
            row.push(SqlValue::Bool(attr.unique));
            match in_use {
                Some(in_use) => unique.push((row, in_use.into())),
                None => rows.push(row),
            }
        }
    }
    // One entry of a unique attribute (the usual case: a user's userName) goes first in the
    // statement of the others, which then fails only if that value is in use: one
    // statement per resource instead of two. Several get a statement each, so that a
    // conflict names its attribute.
    let mut first_fails = OnFailure::default();
    if unique.len() == 1
        && let Some((row, in_use)) = unique.pop()
    {
        rows.insert(0, row);
        first_fails.unique = Some(in_use);
    }
    // The statement inserting `n` entries.
    let insert = |n: usize| {
        format!(
            "INSERT INTO attr_index (tenant_id, resource_type, attr, value, resource_seq, is_unique)
             VALUES {}",
            vec![row_sql.as_str(); n].join(", ")
        )
    };
    for (row, in_use) in unique {
        let on = OnFailure {
            unique: Some(in_use),
            not_null: None,
        };
        db.execute_deferred(&insert(1), row, on)?;
    }
    for chunk in rows.chunks(INDEX_ROWS_PER_STATEMENT) {
        let on = std::mem::take(&mut first_fails);
        db.execute_deferred(&insert(chunk.len()), chunk.concat(), on)?;
    }
    Ok(())
}

fn clear_index(db: &mut dyn Db, seq: i64) -> Result<(), StoreError> {
    db.execute_deferred(
        "DELETE FROM attr_index WHERE resource_seq = ?",
        vec![SqlValue::Int(seq)],
        OnFailure::default(),
    )
}

/// The indexed attributes whose index strings differ between `before` and `after` (and those
/// not indexed value by value in `after`, see below), each with its strings in `after`: what
/// an update rewrites in the index, and only that (most of an identity provider's PATCHes — a
/// title, a manager, `active` — touch no index row). Worked out before the write, off the
/// SQLite writer.
pub(crate) fn index_changes(
    plan: &IndexPlan,
    resource_type: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Vec<(IndexedAttr, Vec<String>)> {
    plan.for_type(resource_type)
        .iter()
        .filter_map(|attr| {
            let (old, new) = (extract(before, attr), extract(after, attr));
            // An attribute that is not indexed value by value may still have the entries
            // it got before that rule (stale after a change): rewrite it on every change.
            (old != new || new.first().is_some_and(|v| v == UNINDEXED)).then(|| (attr.clone(), new))
        })
        .collect()
}

/// Rewrites the index entries of the attributes in `changes` (from [`index_changes`]).
fn update_index(
    db: &mut dyn Db,
    a: &UpdateArgs<'_>,
    seq: i64,
    changes: &[(IndexedAttr, Vec<String>)],
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let mut params = vec![SqlValue::Int(seq)];
    params.extend(
        changes
            .iter()
            .map(|(attr, _)| SqlValue::from(attr.path.as_str())),
    );
    let marks = vec!["?"; changes.len()].join(", ");
    db.execute_deferred(
        &format!("DELETE FROM attr_index WHERE resource_seq = ? AND attr IN ({marks})"),
        params,
        OnFailure::default(),
    )?;
    write_index_values(db, changes, a.tenant_id, a.resource_type, SeqOf::Known(seq))
}

/// What every change record of one write shares.
pub(crate) struct RecordBase<'a> {
    pub tenant_id: i64,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub operation: &'a str,
    /// The resource's version and creation time after the write.
    pub version: Option<i64>,
    pub created: Option<&'a str>,
    pub actor: &'a Actor,
    pub at: &'a str,
}

/// One change record's own content.
struct RecordBody<'a> {
    detail: Option<&'a Map<String, Value>>,
    changed: &'a [String],
    before: Option<&'a Map<String, Value>>,
    after: Option<&'a Map<String, Value>>,
    /// `before` and `after` already serialised (an update prepares them off the writer; a
    /// create shares the resource's own).
    before_json: Option<&'a Arc<Document>>,
    after_json: Option<&'a Arc<Document>>,
    added: &'a [RecordedMember],
    removed: &'a [RecordedMember],
}

/// Appends a change record. Its `seq` comes from the tenant's counter, whose row stays
/// locked until the transaction ends: a tenant's change records commit in `seq` order, so a
/// reader following them with a cursor never skips one that commits late.
fn record_change(db: &mut dyn Db, a: &RecordBase<'_>, b: RecordBody<'_>) -> Result<(), StoreError> {
    let json = |m: Option<&Map<String, Value>>| -> Result<Option<String>, StoreError> {
        Ok(match m {
            Some(m) => Some(serde_json::to_string(m)?),
            None => None,
        })
    };
    let document = |given: Option<&Arc<Document>>,
                    m: Option<&Map<String, Value>>|
     -> Result<SqlValue, StoreError> {
        Ok(match (given, m) {
            (Some(d), _) => SqlValue::Document(d.clone()),
            (None, Some(m)) => SqlValue::Document(Document::new(serde_json::to_string(m)?)),
            (None, None) => SqlValue::Null,
        })
    };
    let columns = "tenant_id, seq, resource_type, resource_id, operation, changed, before, after,
            members_added, members_removed, token_id, token_name, request_id, at, version,
            created, detail";
    let mut values = vec![
        SqlValue::Int(a.tenant_id),
        a.resource_type.into(),
        a.resource_id.into(),
        a.operation.into(),
        serde_json::to_string(b.changed)?.into(),
        document(b.before_json, b.before)?,
        document(b.after_json, b.after)?,
        serde_json::to_string(b.added)?.into(),
        serde_json::to_string(b.removed)?.into(),
        a.actor.token_id.clone().into(),
        a.actor.token_name.clone().into(),
        a.actor.request_id.clone().into(),
        a.at.into(),
        a.version.map_or(SqlValue::Null, SqlValue::Int),
        a.created.into(),
        json(b.detail)?.into(),
    ];
    if db.dialect() == Dialect::Postgres {
        // One statement, sent without waiting for an answer: the counter's update (which
        // locks its row until the commit) and the record numbered by it. A tenant that no
        // longer exists leaves the number NULL, which the column refuses.
        let mut params = vec![SqlValue::Int(a.tenant_id)];
        params.append(&mut values);
        db.execute_deferred(
            &format!(
                "WITH counter AS (
                     UPDATE tenants SET change_seq = change_seq + 1 WHERE id = ? RETURNING change_seq)
                 INSERT INTO changes ({columns})
                 VALUES (?, (SELECT change_seq FROM counter), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            params,
            OnFailure {
                unique: None,
                not_null: Some(super::tenant_gone()),
            },
        )?;
    } else {
        let seq = db
            .row(
                "UPDATE tenants SET change_seq = change_seq + 1 WHERE id = ? RETURNING change_seq",
                params![a.tenant_id],
                |r| r.int(0),
            )?
            .ok_or_else(super::tenant_gone)?;
        values.insert(1, SqlValue::Int(seq));
        db.exec(
            &format!(
                "INSERT INTO changes ({columns})
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ),
            &values,
        )?;
    }
    // Roles follow in the same transaction (sql/roles.rs).
    super::roles::on_change(db, a, b.changed, b.before, b.after, b.added, b.removed)
}

/// Appends the record of a change of a user's roles (`detail`: added, removed, roles).
pub(crate) fn record_roles_changed(
    db: &mut dyn Db,
    base: &RecordBase<'_>,
    detail: &Map<String, Value>,
) -> Result<(), StoreError> {
    record_change(
        db,
        base,
        RecordBody {
            detail: Some(detail),
            changed: &[],
            before: None,
            after: None,
            added: &[],
            removed: &[],
            before_json: None,
            after_json: None,
        },
    )
}

/// Appends the record of a change of a resource's attributes; `serialised` is `before` and
/// `after` as JSON already (an update prepares them off the writer).
pub(crate) fn record_attributes(
    db: &mut dyn Db,
    base: &RecordBase<'_>,
    changed: &[String],
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
    serialised: (Option<&Arc<Document>>, Option<&Arc<Document>>),
) -> Result<(), StoreError> {
    record_change(
        db,
        base,
        RecordBody {
            detail: None,
            changed,
            before,
            after,
            added: &[],
            removed: &[],
            before_json: serialised.0,
            after_json: serialised.1,
        },
    )
}

/// Appends the records of a change of a group's members: the added members, then the
/// removed ones, [`MEMBERS_PER_RECORD`] to a record. `group` is the group's attributes
/// after the write, when known.
pub(crate) fn record_members(
    db: &mut dyn Db,
    base: &RecordBase<'_>,
    group: Option<&Map<String, Value>>,
    effect: &MemberEffect,
) -> Result<(), StoreError> {
    let changed = ["members".to_string()];
    let (added, removed) = effect.recorded();
    for chunk in added.chunks(MEMBERS_PER_RECORD) {
        let body = RecordBody {
            detail: None,
            changed: &changed,
            before: None,
            after: group,
            added: chunk,
            removed: &[],
            before_json: None,
            after_json: None,
        };
        record_change(db, base, body)?;
    }
    for chunk in removed.chunks(MEMBERS_PER_RECORD) {
        let body = RecordBody {
            detail: None,
            changed: &changed,
            before: None,
            after: group,
            added: &[],
            removed: chunk,
            before_json: None,
            after_json: None,
        };
        record_change(db, base, body)?;
    }
    Ok(())
}

pub(crate) fn create(
    db: &mut dyn Db,
    plan: &IndexPlan,
    tenant_id: i64,
    resource_type: &str,
    data: Map<String, Value>,
    member_refs: Vec<MemberRef>,
    actor: &Actor,
) -> Result<StoredResource, StoreError> {
    // Time-ordered (UUIDv7): a new id lands at the end of the id indexes, on pages already
    // in cache, instead of on a random page of each.
    let id = uuid::Uuid::now_v7().to_string();
    let at = now();
    // Serialised once, for the resource and its change record.
    let text = Document::new(serde_json::to_string(&data)?);
    let sql = "INSERT INTO resources (tenant_id, resource_type, id, version, created, last_modified, data, display)
         VALUES (?, ?, ?, 1, ?, ?, ?, ?)";
    let params = vec![
        SqlValue::Int(tenant_id),
        resource_type.into(),
        id.as_str().into(),
        at.as_str().into(),
        at.as_str().into(),
        SqlValue::Document(text.clone()),
        display_of(&data).into(),
    ];
    let seq = if db.dialect() == Dialect::Postgres {
        // Sent without waiting for its answer: the index entries read the new row's seq
        // themselves.
        db.execute_deferred(sql, params, OnFailure::default())?;
        SeqOf::Inserted
    } else {
        SeqOf::Known(db.one(&format!("{sql} RETURNING seq"), &params, |r| r.int(0))?)
    };
    write_index(db, plan, tenant_id, resource_type, seq, &data)?;
    let mut effect = MemberEffect::default();
    members::add(db, tenant_id, &id, &member_refs, &mut effect)?;
    let changed: Vec<String> = data.keys().cloned().collect();
    let base = RecordBase {
        tenant_id,
        resource_type,
        resource_id: &id,
        operation: "create",
        version: Some(1),
        created: Some(&at),
        actor,
        at: &at,
    };
    record_attributes(db, &base, &changed, None, Some(&data), (None, Some(&text)))?;
    record_members(db, &base, Some(&data), &effect)?;
    let members = if member_refs.is_empty() {
        Some(Vec::new())
    } else {
        Some(members::load(db, tenant_id, &id)?)
    };
    Ok(StoredResource {
        resource_type: resource_type.to_string(),
        id,
        version: 1,
        created: at.clone(),
        last_modified: at,
        data,
        members,
        // A resource with a fresh id cannot be in any group yet.
        groups: Some(Vec::new()),
    })
}

pub(crate) struct UpdateArgs<'a> {
    pub tenant_id: i64,
    pub resource_type: &'a str,
    pub id: &'a str,
    pub if_match: Option<&'a str>,
    pub operation: &'a str,
    pub with_members: bool,
    pub actor: &'a Actor,
}

/// The current version of a resource, to compute an update from (outside the write).
pub(crate) fn snapshot(
    db: &mut dyn Db,
    tenant_id: i64,
    resource_type: &str,
    id: &str,
) -> Result<StoredResource, StoreError> {
    load_row(db, tenant_id, resource_type, id, false)?
        .map(|row| row.resource)
        .ok_or_else(|| not_found(resource_type, id))
}

/// An update computed from a snapshot of the resource, with what its write needs worked out
/// before it, off the SQLite writer: whether the document changed, both documents serialised,
/// and the index entries to rewrite. The writer then only checks that the resource is still
/// at the snapshot's version and writes; a PATCH replacing 1,000 emails no longer parses,
/// compares and serialises 60 KB documents on the thread every tenant's writes wait for
/// (issue 11).
pub(crate) struct PreparedUpdate {
    /// The resource the update was computed from.
    base: StoredResource,
    update: Update,
    data_changed: bool,
    /// `base.data` and `update.data` serialised, when the document changed.
    before_json: Arc<Document>,
    after_json: Arc<Document>,
    index: Vec<(IndexedAttr, Vec<String>)>,
}

impl PreparedUpdate {
    /// Computes `update` on `base` and prepares its write.
    pub(crate) fn compute(
        plan: &IndexPlan,
        resource_type: &str,
        base: StoredResource,
        update: &UpdateFn,
        pack: bool,
    ) -> Result<PreparedUpdate, StoreError> {
        let computed = update.apply(&base).map_err(StoreError::Scim)?;
        PreparedUpdate::new(plan, resource_type, base, computed, pack)
    }

    fn new(
        plan: &IndexPlan,
        resource_type: &str,
        base: StoredResource,
        update: Update,
        pack: bool,
    ) -> Result<PreparedUpdate, StoreError> {
        let data_changed = update.data != base.data;
        let (before_json, after_json, index) = if data_changed {
            (
                Document::new(serde_json::to_string(&base.data)?),
                Document::new(serde_json::to_string(&update.data)?),
                index_changes(plan, resource_type, &base.data, &update.data),
            )
        } else {
            (
                Document::new(String::new()),
                Document::new(String::new()),
                Vec::new(),
            )
        };
        if pack {
            // Compressed here rather than on the writer (sql/document.rs).
            before_json.pack();
            after_json.pack();
        }
        Ok(PreparedUpdate {
            base,
            update,
            data_changed,
            before_json,
            after_json,
            index,
        })
    }
}

/// Writes an update computed from a snapshot of the resource. `Ok(None)` when the resource
/// has changed since and the update depends on its document: the caller computes it again
/// from the current version. A members-only update applies to any version.
pub(crate) fn apply_update(
    db: &mut dyn Db,
    a: UpdateArgs<'_>,
    prepared: PreparedUpdate,
) -> Result<Option<StoredResource>, StoreError> {
    let (seq, version) = load_version(db, a.tenant_id, a.resource_type, a.id, true)?
        .ok_or_else(|| not_found(a.resource_type, a.id))?;
    let PreparedUpdate {
        base,
        update,
        data_changed,
        before_json,
        after_json,
        index,
    } = prepared;
    let Update {
        data,
        changed,
        members: member_ops,
        members_only,
    } = update;
    // The snapshot is the stored resource when the versions agree: nothing to read again.
    let (before, data, data_changed, index) = if version == base.version {
        check_if_match(a.if_match, &base)?;
        (base, data, data_changed, index)
    } else if !members_only {
        // Computed from an older version: the If-Match check needs only the version, the
        // caller computes again (the document is not read here).
        let current = StoredResource { version, ..base };
        check_if_match(a.if_match, &current)?;
        return Ok(None);
    } else {
        let row = load_row(db, a.tenant_id, a.resource_type, a.id, true)?
            .ok_or_else(|| not_found(a.resource_type, a.id))?;
        check_if_match(a.if_match, &row.resource)?;
        // Members only: the document stays as it is now.
        let data = row.resource.data.clone();
        (row.resource, data, false, Vec::new())
    };
    let mut effect = MemberEffect::default();
    for op in member_ops {
        members::apply(db, a.tenant_id, a.id, op, &mut effect)?;
    }
    let mut result = if data_changed || !effect.is_empty() {
        let at = now();
        let version = before.version + 1;
        let text = if data_changed {
            after_json.clone()
        } else {
            Document::new(serde_json::to_string(&data)?)
        };
        db.execute_deferred(
            "UPDATE resources SET version = ?, last_modified = ?, data = ?, display = ? WHERE seq = ?",
            params![version, at.as_str(), text, display_of(&data), seq].to_vec(),
            OnFailure::default(),
        )?;
        if data_changed {
            update_index(db, &a, seq, &index)?;
        }
        let base = RecordBase {
            tenant_id: a.tenant_id,
            resource_type: a.resource_type,
            resource_id: a.id,
            operation: a.operation,
            version: Some(version),
            created: Some(&before.created),
            actor: a.actor,
            at: &at,
        };
        if data_changed {
            // Members kept outside the document are recorded apart, below.
            let changed: Vec<String> = if effect.is_empty() {
                changed
            } else {
                changed.into_iter().filter(|p| p != "members").collect()
            };
            record_attributes(
                db,
                &base,
                &changed,
                Some(&before.data),
                Some(&data),
                (Some(&before_json), Some(&after_json)),
            )?;
        }
        record_members(db, &base, Some(&data), &effect)?;
        StoredResource {
            version,
            last_modified: at,
            data,
            ..before
        }
    } else {
        before
    };
    if a.with_members {
        result.members = Some(members::load(db, a.tenant_id, a.id)?);
    }
    Ok(Some(result))
}

pub(crate) fn delete(
    db: &mut dyn Db,
    tenant_id: i64,
    resource_type: &str,
    id: &str,
    if_match: Option<&str>,
    actor: &Actor,
) -> Result<(), StoreError> {
    let row = load_row(db, tenant_id, resource_type, id, true)?
        .ok_or_else(|| not_found(resource_type, id))?;
    check_if_match(if_match, &row.resource)?;
    let mode = db.one(
        "SELECT delete_mode FROM tenants WHERE id = ?",
        params![tenant_id],
        |r| r.text(0),
    )?;
    let at = now();
    let role_users = super::roles::before_group_delete(db, tenant_id, resource_type, id)?;
    let soft = DeleteMode::parse(&mode) == Some(DeleteMode::Soft);
    if soft {
        // What a restore will make again (read before the rows go).
        super::operator::remember_memberships(db, tenant_id, id)?;
    }
    let detached = members::detach_everywhere(db, tenant_id, id, &at)?;
    // A deleted group's own member list goes with it (its memberships end with it; its
    // last members stay readable in the records that added them).
    members::clear(db, tenant_id, id)?;
    clear_index(db, row.seq)?;
    if soft {
        db.exec(
            "UPDATE resources SET deleted = ? WHERE seq = ?",
            params![at.as_str(), row.seq],
        )?;
    } else {
        db.exec("DELETE FROM resources WHERE seq = ?", params![row.seq])?;
    }
    members::record_detached(db, tenant_id, id, resource_type, detached, actor, &at)?;
    let base = RecordBase {
        tenant_id,
        resource_type,
        resource_id: id,
        operation: "delete",
        version: Some(row.resource.version),
        created: Some(&row.resource.created),
        actor,
        at: &at,
    };
    let mut detail = Map::new();
    let mode = if soft {
        DeleteMode::Soft
    } else {
        DeleteMode::Hard
    };
    detail.insert("deleteMode".into(), Value::String(mode.as_str().into()));
    record_change(
        db,
        &base,
        RecordBody {
            detail: Some(&detail),
            changed: &[],
            before: Some(&row.resource.data),
            after: None,
            added: &[],
            removed: &[],
            before_json: None,
            after_json: None,
        },
    )?;
    super::roles::recompute(db, tenant_id, &role_users, actor, &at)
}

pub(crate) fn restore(
    db: &mut dyn Db,
    plan: &IndexPlan,
    tenant_id: i64,
    id: &str,
    actor: &Actor,
) -> Result<StoredResource, StoreError> {
    let found = db.row(
        &format!(
            "SELECT {RESOURCE_COLUMNS}, deleted FROM resources
             WHERE tenant_id = ? AND id = ? AND deleted IS NOT NULL"
        ),
        params![tenant_id, id],
        |r| Ok((resource_from_row(r)?, r.text(7)?)),
    )?;
    let Some((row, deleted)) = found else {
        return Err(ScimError::not_found(format!(
            "no deleted resource '{}' to restore",
            scim_core::Sent(id)
        ))
        .into());
    };
    let retention = db.one(
        "SELECT retention_days FROM tenants WHERE id = ?",
        params![tenant_id],
        |r| r.int(0),
    )?;
    let deleted_at = scim_core::value::parse_datetime(&deleted);
    let limit = deleted_at.map(|d| d + time::Duration::days(retention));
    if limit.is_some_and(|l| l < time::OffsetDateTime::now_utc()) {
        return Err(ScimError::not_found(format!(
            "'{}' was deleted on {deleted}, beyond the {retention}-day retention window",
            scim_core::Sent(id)
        ))
        .into());
    }
    let resource = row.resource;
    write_index(
        db,
        plan,
        tenant_id,
        &resource.resource_type,
        SeqOf::Known(row.seq),
        &resource.data,
    )?;
    let at = now();
    let version = resource.version + 1;
    db.exec(
        "UPDATE resources SET deleted = NULL, version = ?, last_modified = ? WHERE seq = ?",
        params![version, at.as_str(), row.seq],
    )?;
    // Back into the groups it was removed from at deletion (and, for a group, its own
    // members back into it), where they still exist.
    let (rejoined, own_members) =
        super::operator::rejoin(db, tenant_id, id, &resource.resource_type, &at)?;
    let changed: Vec<String> = resource.data.keys().cloned().collect();
    let base = RecordBase {
        tenant_id,
        resource_type: &resource.resource_type,
        resource_id: id,
        operation: "restore",
        version: Some(version),
        created: Some(&resource.created),
        actor,
        at: &at,
    };
    record_attributes(
        db,
        &base,
        &changed,
        None,
        Some(&resource.data),
        (None, None),
    )?;
    if !own_members.is_empty() {
        record_members(db, &base, Some(&resource.data), &own_members)?;
    }
    super::operator::record_rejoined(db, tenant_id, rejoined, actor, &at)?;
    Ok(StoredResource {
        version,
        last_modified: at,
        members: None,
        groups: None,
        ..resource
    })
}

/// The columns of a change record, in the order [`change_row`] reads them.
pub(crate) const CHANGE_COLUMNS: &str = "seq, tenant_id, resource_type, resource_id, operation, \
     changed, before, after, members_added, members_removed, token_id, token_name, request_id, \
     at, version, created, detail";

/// The statement of [`changes`]: a tenant's records after a position, bound `(tenant,
/// after, limit)`. The limit differs from read to read (a feed reader asks for what its
/// tail lacks): a plain `LIMIT ?` would make SQLite prepare the statement again on each
/// (`Dialect::limit_param`).
pub(crate) fn changes_statement(dialect: Dialect) -> String {
    format!(
        "SELECT {CHANGE_COLUMNS} FROM changes WHERE tenant_id = ? AND seq > ? ORDER BY seq LIMIT {}",
        dialect.limit_param()
    )
}

pub(crate) fn changes(
    db: &mut dyn Db,
    tenant_id: i64,
    after: i64,
    limit: u32,
) -> Result<Vec<ChangeRecord>, StoreError> {
    db.rows(
        &changes_statement(db.dialect()),
        params![tenant_id, after, i64::from(limit)],
        |r| Ok(change_row(r, 0, false)?.0),
    )
}

/// The change record in the columns [`CHANGE_COLUMNS`] from column `first` on. When
/// `creates_unparsed`, a create record's `after` document is left as the stored text,
/// returned beside the record (whose `after` is then `None`): see
/// [`crate::events::LogSlice::stored_after`].
pub(crate) fn change_row(
    r: &dyn SqlRow,
    first: usize,
    creates_unparsed: bool,
) -> Result<(ChangeRecord, Option<String>), StoreError> {
    let parse = |s: Option<String>| -> Result<Option<Value>, StoreError> {
        Ok(match s {
            Some(s) => Some(serde_json::from_str(&s)?),
            None => None,
        })
    };
    let c = |i: usize| first + i;
    let operation = r.text(c(4))?;
    let after_text = r.opt_text(c(7))?;
    let (after, stored_after) = if creates_unparsed && operation == "create" {
        (None, after_text)
    } else {
        (parse(after_text)?, None)
    };
    let record = ChangeRecord {
        seq: r.int(c(0))?,
        tenant_id: r.int(c(1))?,
        resource_type: r.text(c(2))?,
        resource_id: r.text(c(3))?,
        operation,
        changed: serde_json::from_str(&r.text(c(5))?)?,
        before: parse(r.opt_text(c(6))?)?,
        after,
        members_added: RecordedMember::parse_list(&r.text(c(8))?)?,
        members_removed: RecordedMember::parse_list(&r.text(c(9))?)?,
        version: r.opt_int(c(14))?,
        created: r.opt_text(c(15))?,
        detail: match parse(r.opt_text(c(16))?)? {
            Some(Value::Object(m)) => m,
            _ => Map::new(),
        },
        actor: Actor {
            token_id: r.opt_text(c(10))?,
            token_name: r.opt_text(c(11))?,
            request_id: r.opt_text(c(12))?,
        },
        at: r.text(c(13))?,
    };
    Ok((record, stored_after))
}
