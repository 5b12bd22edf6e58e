//! The audit index (`migrations/*/0005_ops.sql`) and the audit's queries ([`crate::audit`]).
//!
//! The index is derived from the change log, never written beside it: [`catch_up_step`]
//! replays a tenant's records after the position it has indexed into interval rows —
//! `audit_members` (a member's periods in a group) and `audit_states` (a resource's
//! successive documents) — and moves the position on, in one write transaction. Every
//! audit answer first brings the index up to date, so answers are exact whatever ran
//! before (a copied database, a build without the index); and pruning the change log
//! indexes what it is about to delete first. SCIM writes pay nothing for it.
//!
//! A question about a position S then reads only the rows alive at S
//! (`from_seq <= S < to_seq`) of the group, resource or type asked about: the members of a
//! group of 100,000 at an instant are one range scan of that group's intervals, whatever
//! the size of the change log.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use async_trait::async_trait;
use scim_core::ScimError;
use serde_json::{Map, Value};

use super::db::{Db, DbExt, Dialect, SqlRow, SqlValue, params};
use super::{Engine, SqlStore};
use crate::StoreError;
use crate::audit::{
    ActiveChange, Audit, ChangeQuery, DiffMember, DiffResource, MAX_LIMIT, MemberAt, Point,
    TenantDiff, UserAt, active_flag, diff_documents, display_of, parse_instant,
};
use crate::model::{Actor, ChangeRecord, Member, RecordedMember, StoredResource, Tenant};

/// Records read from the change log at a time while indexing.
const READ_CHUNK: i64 = 2_000;
/// Records indexed in one write transaction (then the writer serves others).
const RECORDS_PER_STEP: u64 = 20_000;
/// How deep nested groups are followed.
const MAX_NESTING: usize = 32;

const CHANGE_COLUMNS: &str = "seq, tenant_id, resource_type, resource_id, operation, changed, \
     before, after, members_added, members_removed, token_id, token_name, request_id, at, \
     version, created, detail";

fn parse_json(s: Option<String>) -> Result<Option<Value>, StoreError> {
    Ok(match s {
        Some(s) => Some(serde_json::from_str(&s)?),
        None => None,
    })
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A change record from a row of [`CHANGE_COLUMNS`].
fn change_from_row(r: &dyn SqlRow) -> Result<ChangeRecord, StoreError> {
    Ok(ChangeRecord {
        seq: r.int(0)?,
        tenant_id: r.int(1)?,
        resource_type: r.text(2)?,
        resource_id: r.text(3)?,
        operation: r.text(4)?,
        changed: serde_json::from_str(&r.text(5)?)?,
        before: parse_json(r.opt_text(6)?)?,
        after: parse_json(r.opt_text(7)?)?,
        members_added: RecordedMember::parse_list(&r.text(8)?)?,
        members_removed: RecordedMember::parse_list(&r.text(9)?)?,
        actor: Actor {
            token_id: r.opt_text(10)?,
            token_name: r.opt_text(11)?,
            request_id: r.opt_text(12)?,
        },
        at: r.text(13)?,
        version: r.opt_int(14)?,
        created: r.opt_text(15)?,
        detail: parse_json(r.opt_text(16)?)?.map(object).unwrap_or_default(),
    })
}

fn tenant_not_found() -> StoreError {
    ScimError::not_found("there is no such tenant").into()
}

/// Whether the index is behind the change log (one cheap read: no write when it is not).
pub(crate) fn is_behind(db: &mut dyn Db, tenant_id: i64) -> Result<bool, StoreError> {
    let found = db.row(
        "SELECT t.change_seq, p.through_seq FROM tenants t
         LEFT JOIN audit_progress p ON p.tenant_id = t.id WHERE t.id = ?",
        params![tenant_id],
        |r| Ok((r.int(0)?, r.opt_int(1)?)),
    )?;
    let (head, through) = found.ok_or_else(tenant_not_found)?;
    Ok(through.is_none_or(|t| t < head))
}

/// Indexes up to `budget` of a tenant's records after the indexed position, in the
/// caller's (write) transaction. Returns how many it indexed and whether it is done.
pub(crate) fn catch_up_step(
    db: &mut dyn Db,
    tenant_id: i64,
    budget: u64,
) -> Result<(u64, bool), StoreError> {
    db.exec(
        "INSERT INTO audit_progress (tenant_id, through_seq, complete)
         SELECT id, 0, 1 FROM tenants WHERE id = ?
         ON CONFLICT (tenant_id) DO NOTHING",
        params![tenant_id],
    )?;
    // Indexers on other instances wait here (SQLite has one writer anyway).
    let lock = if db.dialect() == Dialect::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let (mut through, mut complete) = db
        .row(
            &format!("SELECT through_seq, complete FROM audit_progress WHERE tenant_id = ?{lock}"),
            params![tenant_id],
            |r| Ok((r.int(0)?, r.int(1)? != 0)),
        )?
        .ok_or_else(tenant_not_found)?;
    let limit = db.dialect().limit_param();
    let mut applied = 0u64;
    let done = loop {
        if applied >= budget {
            break false;
        }
        let records = db.rows(
            &format!(
                "SELECT {CHANGE_COLUMNS} FROM changes WHERE tenant_id = ? AND seq > ?
                 ORDER BY seq LIMIT {limit}"
            ),
            params![tenant_id, through, READ_CHUNK],
            change_from_row,
        )?;
        let n = records.len();
        for record in records {
            if record.seq != through + 1 {
                // Records were pruned before they were indexed: history has a hole.
                complete = false;
            }
            apply(db, tenant_id, &record)?;
            through = record.seq;
            applied += 1;
        }
        if (n as i64) < READ_CHUNK {
            break true;
        }
    };
    db.exec(
        "UPDATE audit_progress SET through_seq = ?, complete = ? WHERE tenant_id = ?",
        params![through, i64::from(complete), tenant_id],
    )?;
    Ok((applied, done))
}

/// Indexes one change record.
fn apply(db: &mut dyn Db, tenant_id: i64, c: &ChangeRecord) -> Result<(), StoreError> {
    if c.is_members_change() {
        // At most 100 rows (600 parameters) to a statement.
        for chunk in c.members_added.chunks(100) {
            let mut values = Vec::with_capacity(chunk.len() * 5);
            for m in chunk {
                values.extend([
                    SqlValue::Int(tenant_id),
                    SqlValue::from(c.resource_id.as_str()),
                    SqlValue::from(m.value.as_str()),
                    SqlValue::from(m.kind.clone()),
                    SqlValue::Int(c.seq),
                ]);
            }
            let rows = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            db.exec(
                &format!(
                    "INSERT INTO audit_members (tenant_id, group_id, member_id, member_type, from_seq)
                     VALUES {rows}"
                ),
                &values,
            )?;
        }
        for m in &c.members_removed {
            db.exec(
                "UPDATE audit_members SET to_seq = ?
                 WHERE tenant_id = ? AND group_id = ? AND member_id = ? AND to_seq IS NULL",
                params![c.seq, tenant_id, c.resource_id.as_str(), m.value.as_str()],
            )?;
        }
        return Ok(());
    }
    // Any other record ends the resource's current document …
    db.exec(
        "UPDATE audit_states SET to_seq = ?
         WHERE tenant_id = ? AND resource_id = ? AND to_seq IS NULL",
        params![c.seq, tenant_id, c.resource_id.as_str()],
    )?;
    match (&c.after, c.operation.as_str()) {
        // … a delete ends its memberships as a group too (the memberships it had as a
        // member were ended by records of their own, written before) …
        (_, "delete") | (None, _) => {
            db.exec(
                "UPDATE audit_members SET to_seq = ?
                 WHERE tenant_id = ? AND group_id = ? AND to_seq IS NULL",
                params![c.seq, tenant_id, c.resource_id.as_str()],
            )?;
        }
        // … and any other starts its next one.
        (Some(Value::Object(after)), _) => {
            let active = active_flag(after).map_or(SqlValue::Null, |a| SqlValue::Int(a.into()));
            db.exec(
                "INSERT INTO audit_states (tenant_id, resource_id, resource_type, from_seq, active, data)
                 VALUES (?, ?, ?, ?, CAST(? AS INTEGER), ?)",
                &[
                    SqlValue::Int(tenant_id),
                    c.resource_id.as_str().into(),
                    c.resource_type.as_str().into(),
                    SqlValue::Int(c.seq),
                    active,
                    serde_json::to_string(after)?.into(),
                ],
            )?;
        }
        (Some(_), _) => {}
    }
    Ok(())
}

/// Refuses to answer from an index with a hole in it.
fn ensure_complete(db: &mut dyn Db, tenant_id: i64) -> Result<(), StoreError> {
    let complete = db.row(
        "SELECT complete FROM audit_progress WHERE tenant_id = ?",
        params![tenant_id],
        |r| r.int(0),
    )?;
    if complete == Some(0) {
        return Err(ScimError::new(
            409,
            None,
            "this tenant's change log was pruned before the audit indexed it: its history is \
             incomplete and the audit cannot answer exactly",
        )
        .into());
    }
    Ok(())
}

/// The position and time of the first record at or after `seq`.
fn record_at(
    db: &mut dyn Db,
    tenant_id: i64,
    seq: i64,
) -> Result<Option<(i64, String)>, StoreError> {
    db.row(
        "SELECT seq, at FROM changes WHERE tenant_id = ? AND seq >= ? ORDER BY seq LIMIT 1",
        params![tenant_id, seq],
        |r| Ok((r.int(0)?, r.text(1)?)),
    )
}

/// The position of the last record at or before the stored time `at`: a binary search
/// over positions (records are appended in time order), ~20 index probes for a million.
pub(crate) fn seq_at(db: &mut dyn Db, tenant: &Tenant, at: &str) -> Result<i64, StoreError> {
    if at < tenant.created.as_str() {
        return Err(ScimError::invalid_value(format!(
            "tenant '{}' did not exist at {at}: it was created at {}",
            tenant.name, tenant.created
        ))
        .into());
    }
    let head = db
        .row(
            "SELECT change_seq FROM tenants WHERE id = ?",
            params![tenant.id],
            |r| r.int(0),
        )?
        .ok_or_else(tenant_not_found)?;
    let Some((oldest, oldest_at)) = record_at(db, tenant.id, 1)? else {
        if head == 0 {
            return Ok(0);
        }
        return Err(ScimError::invalid_value(format!(
            "tenant '{}' keeps no change records (they were pruned): the audit cannot place {at}",
            tenant.name
        ))
        .into());
    };
    if at < oldest_at.as_str() {
        if oldest == 1 {
            return Ok(0);
        }
        return Err(ScimError::invalid_value(format!(
            "{at} is older than the oldest change record kept for tenant '{}' ({oldest_at}, \
             position {oldest}): older history was pruned",
            tenant.name
        ))
        .into());
    }
    let (mut lo, mut hi) = (oldest, head.max(oldest));
    while lo < hi {
        let mid = lo + (hi - lo + 1) / 2;
        match record_at(db, tenant.id, mid)? {
            Some((s, a)) if s <= hi && a.as_str() <= at => lo = s,
            _ => hi = mid - 1,
        }
    }
    Ok(lo)
}

/// A resource's type and document.
type Document = (String, Map<String, Value>);

/// The document of a resource at a position.
fn state_row(
    db: &mut dyn Db,
    tenant_id: i64,
    resource_id: &str,
    seq: i64,
) -> Result<Option<Document>, StoreError> {
    let limit = db.dialect().limit_param();
    let found = db.row(
        &format!(
            "SELECT resource_type, data FROM audit_states
             WHERE tenant_id = ? AND resource_id = ? AND from_seq <= ?
               AND (to_seq IS NULL OR to_seq > ?)
             ORDER BY from_seq DESC LIMIT {limit}"
        ),
        params![tenant_id, resource_id, seq, seq, 1i64],
        |r| Ok((r.text(0)?, r.text(1)?)),
    )?;
    match found {
        Some((rt, data)) => Ok(Some((rt, object(serde_json::from_str(&data)?)))),
        None => Ok(None),
    }
}

/// A group's direct members at a position, by id.
fn direct_members(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
    seq: i64,
) -> Result<BTreeMap<String, Option<String>>, StoreError> {
    let mut out = BTreeMap::new();
    db.query(
        "SELECT member_id, member_type FROM audit_members
         WHERE tenant_id = ? AND group_id = ? AND from_seq <= ? AND (to_seq IS NULL OR to_seq > ?)",
        params![tenant_id, group_id, seq, seq],
        &mut |r| {
            out.insert(r.text(0)?, r.opt_text(1)?);
            Ok(())
        },
    )?;
    Ok(out)
}

fn is_member_at(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
    member_id: &str,
    seq: i64,
) -> Result<Option<Option<String>>, StoreError> {
    let limit = db.dialect().limit_param();
    db.row(
        &format!(
            "SELECT member_type FROM audit_members
             WHERE tenant_id = ? AND group_id = ? AND member_id = ? AND from_seq <= ?
               AND (to_seq IS NULL OR to_seq > ?) LIMIT {limit}"
        ),
        params![tenant_id, group_id, member_id, seq, seq, 1i64],
        |r| r.opt_text(0),
    )
}

pub(crate) fn state(
    db: &mut dyn Db,
    tenant_id: i64,
    resource_id: &str,
    seq: i64,
) -> Result<Option<StoredResource>, StoreError> {
    let Some((resource_type, data)) = state_row(db, tenant_id, resource_id, seq)? else {
        return Ok(None);
    };
    // Version and times from the resource's last record at S (a change of a group's
    // members moves them too). The changes_by_resource index answers it.
    let limit = db.dialect().limit_param();
    let meta = db.row(
        &format!(
            "SELECT version, at, created FROM changes
             WHERE tenant_id = ? AND resource_id = ? AND seq <= ?
             ORDER BY seq DESC LIMIT {limit}"
        ),
        params![tenant_id, resource_id, seq, 1i64],
        |r| Ok((r.opt_int(0)?, r.text(1)?, r.opt_text(2)?)),
    )?;
    let (version, last_modified, created) = meta.unwrap_or((None, String::new(), None));
    let members = direct_members(db, tenant_id, resource_id, seq)?;
    let members = (resource_type == "Group" || !members.is_empty()).then(|| {
        members
            .into_iter()
            .map(|(value, kind)| Member {
                value,
                kind,
                display: None,
            })
            .collect()
    });
    Ok(Some(StoredResource {
        resource_type,
        id: resource_id.to_string(),
        version: version.unwrap_or(0),
        created: created.unwrap_or_default(),
        last_modified,
        data,
        members,
        groups: None,
    }))
}

pub(crate) fn members(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
    seq: i64,
    nested: bool,
) -> Result<Option<Vec<MemberAt>>, StoreError> {
    if state_row(db, tenant_id, group_id, seq)?.is_none() {
        return Ok(None);
    }
    let mut out: BTreeMap<String, MemberAt> = BTreeMap::new();
    let mut seen: HashSet<String> = HashSet::from([group_id.to_string()]);
    let mut level = vec![group_id.to_string()];
    for _ in 0..MAX_NESTING {
        let mut next = Vec::new();
        for g in &level {
            let direct = g == group_id;
            for (value, kind) in direct_members(db, tenant_id, g, seq)? {
                if nested && kind.as_deref() == Some("Group") && seen.insert(value.clone()) {
                    next.push(value.clone());
                }
                let entry = out.entry(value.clone()).or_insert_with(|| MemberAt {
                    value,
                    kind,
                    direct: false,
                    via: Vec::new(),
                });
                if direct {
                    entry.direct = true;
                } else if !entry.via.contains(g) {
                    entry.via.push(g.clone());
                }
            }
        }
        if next.is_empty() || !nested {
            break;
        }
        level = next;
    }
    let mut list: Vec<MemberAt> = out.into_values().collect();
    for m in &mut list {
        m.via.sort();
    }
    Ok(Some(list))
}

pub(crate) fn active_users(
    db: &mut dyn Db,
    tenant_id: i64,
    seq: i64,
) -> Result<Vec<UserAt>, StoreError> {
    let mut out = Vec::new();
    db.query(
        "SELECT resource_id, active, data FROM audit_states
         WHERE tenant_id = ? AND resource_type = 'User' AND from_seq <= ?
           AND (to_seq IS NULL OR to_seq > ?)",
        params![tenant_id, seq, seq],
        &mut |r| {
            let active = r.opt_int(1)?.map(|a| a != 0);
            if active == Some(false) {
                return Ok(());
            }
            let data = object(serde_json::from_str(&r.text(2)?)?);
            out.push(UserAt {
                id: r.text(0)?,
                user_name: data
                    .get("userName")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                active,
            });
            Ok(())
        },
    )?;
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

fn records_between(
    db: &mut dyn Db,
    tenant_id: i64,
    from: i64,
    to: i64,
    extra: &str,
    extra_params: &[SqlValue],
    limit: Option<u32>,
) -> Result<Vec<ChangeRecord>, StoreError> {
    let mut p = vec![
        SqlValue::Int(tenant_id),
        SqlValue::Int(from),
        SqlValue::Int(to),
    ];
    p.extend_from_slice(extra_params);
    let limit = match limit {
        Some(n) => {
            p.push(SqlValue::Int(i64::from(n)));
            format!(" LIMIT {}", db.dialect().limit_param())
        }
        None => String::new(),
    };
    db.rows(
        &format!(
            "SELECT {CHANGE_COLUMNS} FROM changes
             WHERE tenant_id = ? AND seq > ? AND seq <= ?{extra} ORDER BY seq{limit}"
        ),
        &p,
        change_from_row,
    )
}

pub(crate) fn active_changes(
    db: &mut dyn Db,
    tenant_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<ActiveChange>, StoreError> {
    let records = records_between(
        db,
        tenant_id,
        from,
        to,
        " AND resource_type = 'User'",
        &[],
        None,
    )?;
    let flag = |doc: &Option<Value>| -> Value {
        doc.as_ref()
            .and_then(Value::as_object)
            .and_then(active_flag)
            .map_or(Value::Null, Value::Bool)
    };
    let mut out = Vec::new();
    for c in records {
        if c.is_members_change() {
            continue;
        }
        let (old, new) = (flag(&c.before), flag(&c.after));
        if old == new {
            continue;
        }
        let doc = c.after.as_ref().or(c.before.as_ref());
        out.push(ActiveChange {
            seq: c.seq,
            at: c.at,
            id: c.resource_id,
            user_name: doc
                .and_then(|d| d.get("userName"))
                .and_then(Value::as_str)
                .map(str::to_string),
            operation: c.operation,
            old,
            new,
            token: c.actor.token_name,
            request_id: c.actor.request_id,
        });
    }
    Ok(out)
}

pub(crate) fn history(
    db: &mut dyn Db,
    tenant_id: i64,
    resource_id: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<ChangeRecord>, StoreError> {
    let lim = db.dialect().limit_param();
    db.rows(
        &format!(
            "SELECT {CHANGE_COLUMNS} FROM changes
             WHERE tenant_id = ? AND resource_id = ? AND seq > ? ORDER BY seq LIMIT {lim}"
        ),
        params![
            tenant_id,
            resource_id,
            after,
            i64::from(limit.min(MAX_LIMIT))
        ],
        change_from_row,
    )
}

pub(crate) fn changes(
    db: &mut dyn Db,
    tenant_id: i64,
    q: &ChangeQuery,
) -> Result<Vec<ChangeRecord>, StoreError> {
    let mut extra = String::new();
    let mut p = Vec::new();
    for (column, value) in [
        ("resource_type", &q.resource_type),
        ("operation", &q.operation),
        ("token_name", &q.token),
    ] {
        if let Some(v) = value {
            extra.push_str(&format!(" AND {column} = ?"));
            p.push(SqlValue::from(v));
        }
    }
    records_between(
        db,
        tenant_id,
        q.from,
        q.to,
        &extra,
        &p,
        Some(q.limit.clamp(1, MAX_LIMIT)),
    )
}

pub(crate) fn diff(
    db: &mut dyn Db,
    tenant_id: i64,
    from: i64,
    to: i64,
) -> Result<TenantDiff, StoreError> {
    let mut out = TenantDiff {
        from,
        to,
        ..TenantDiff::default()
    };
    let records = records_between(db, tenant_id, from, to, "", &[], None)?;
    let mut touched: BTreeSet<String> = BTreeSet::new();
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    let mut deleted_groups: BTreeSet<String> = BTreeSet::new();
    for c in &records {
        if c.is_members_change() {
            for m in c.members_added.iter().chain(&c.members_removed) {
                pairs.insert((c.resource_id.clone(), m.value.clone()));
            }
        } else {
            touched.insert(c.resource_id.clone());
            if c.operation == "delete" {
                deleted_groups.insert(c.resource_id.clone());
            }
        }
    }
    drop(records);
    // A deleted group's memberships end without records of their own.
    for g in deleted_groups {
        for m in direct_members(db, tenant_id, &g, from)?.into_keys() {
            pairs.insert((g.clone(), m));
        }
    }
    for id in touched {
        let before = state_row(db, tenant_id, &id, from)?;
        let after = state_row(db, tenant_id, &id, to)?;
        let named = |rt: &str, d: &Map<String, Value>| DiffResource {
            resource_type: rt.to_string(),
            id: id.clone(),
            display: display_of(d),
            changes: Vec::new(),
        };
        match (before, after) {
            (None, Some((rt, d))) => out.created.push(named(&rt, &d)),
            (Some((rt, d)), None) => out.deleted.push(named(&rt, &d)),
            (Some((_, a)), Some((rt, b))) if a != b => {
                let mut r = named(&rt, &b);
                r.changes = diff_documents(&a, &b);
                out.updated.push(r);
            }
            _ => {}
        }
    }
    for (group, value) in pairs {
        let was = is_member_at(db, tenant_id, &group, &value, from)?;
        let is = is_member_at(db, tenant_id, &group, &value, to)?;
        match (was, is) {
            (None, Some(kind)) => out.members_added.push(DiffMember { group, value, kind }),
            (Some(kind), None) => out.members_removed.push(DiffMember { group, value, kind }),
            _ => {}
        }
    }
    Ok(out)
}

impl<E: Engine> SqlStore<E> {
    /// Brings the audit index up to date, a bounded step per write transaction.
    async fn catch_up(&self, tenant_id: i64) -> Result<u64, StoreError> {
        let behind = self
            .engine
            .read_short(move |db| is_behind(db, tenant_id))
            .await?;
        let mut total = 0;
        if behind {
            loop {
                let (n, done) = self
                    .engine
                    .write(move |db| catch_up_step(db, tenant_id, RECORDS_PER_STEP))
                    .await?;
                total += n;
                if done {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// Up to date and complete: ready to answer.
    async fn ready(&self, tenant_id: i64) -> Result<(), StoreError> {
        self.catch_up(tenant_id).await?;
        self.engine
            .read_short(move |db| ensure_complete(db, tenant_id))
            .await
    }

    /// Indexes what pruning is about to delete, then deletes it, in one transaction.
    pub(crate) async fn prune_indexed(
        &self,
        tenant_id: i64,
        through: i64,
    ) -> Result<u64, StoreError> {
        self.catch_up(tenant_id).await?;
        let pruned = self
            .engine
            .write(move |db| {
                // Records written since the catch-up: few.
                catch_up_step(db, tenant_id, u64::MAX)?;
                super::events::prune_changes(db, tenant_id, through)
            })
            .await?;
        if pruned > 0 {
            // Readers serving events they keep in memory (scim-delivery's feed tail) trust
            // a read of the log only when no wake-up was counted since it began: this one
            // makes them read the log again, and so tell an expired cursor.
            self.signal.notify(tenant_id);
        }
        Ok(pruned)
    }
}

#[async_trait]
impl<E: Engine> Audit for SqlStore<E> {
    async fn audit_point(&self, tenant: &Tenant, instant: &str) -> Result<Point, StoreError> {
        let at = parse_instant(instant)?;
        let (t, a) = (tenant.clone(), at.clone());
        let seq = self.engine.read(move |db| seq_at(db, &t, &a)).await?;
        Ok(Point { at, seq })
    }

    async fn audit_catch_up(&self, tenant_id: i64) -> Result<u64, StoreError> {
        self.catch_up(tenant_id).await
    }

    async fn audit_history(
        &self,
        tenant_id: i64,
        resource_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let id = resource_id.to_string();
        self.engine
            .read(move |db| history(db, tenant_id, &id, after, limit))
            .await
    }

    async fn audit_state(
        &self,
        tenant_id: i64,
        resource_id: &str,
        seq: i64,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.ready(tenant_id).await?;
        let id = resource_id.to_string();
        self.engine
            .read(move |db| state(db, tenant_id, &id, seq))
            .await
    }

    async fn audit_members(
        &self,
        tenant_id: i64,
        group_id: &str,
        seq: i64,
        nested: bool,
    ) -> Result<Option<Vec<MemberAt>>, StoreError> {
        self.ready(tenant_id).await?;
        let id = group_id.to_string();
        self.engine
            .read(move |db| members(db, tenant_id, &id, seq, nested))
            .await
    }

    async fn audit_active_users(
        &self,
        tenant_id: i64,
        seq: i64,
    ) -> Result<Vec<UserAt>, StoreError> {
        self.ready(tenant_id).await?;
        self.engine
            .read(move |db| active_users(db, tenant_id, seq))
            .await
    }

    async fn audit_active_changes(
        &self,
        tenant_id: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<ActiveChange>, StoreError> {
        self.engine
            .read(move |db| active_changes(db, tenant_id, from, to))
            .await
    }

    async fn audit_changes(
        &self,
        tenant_id: i64,
        query: ChangeQuery,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.engine
            .read(move |db| changes(db, tenant_id, &query))
            .await
    }

    async fn audit_diff(
        &self,
        tenant_id: i64,
        from: i64,
        to: i64,
    ) -> Result<TenantDiff, StoreError> {
        if from > to {
            return Err(ScimError::invalid_value(
                "the first instant of a diff must not be after the second",
            )
            .into());
        }
        self.ready(tenant_id).await?;
        self.engine
            .read(move |db| diff(db, tenant_id, from, to))
            .await
    }
}
