//! Group membership: one row per direct member, changed row by row, so that adding or
//! removing members costs time proportional to the members named, not to the group.

use std::collections::{BTreeSet, HashMap, HashSet};

use scim_core::ScimError;
use serde_json::{Map, Value, json};

use super::db::{Db, DbExt, SqlValue, params};
use super::resources::{ChangeArgs, record_change};
use crate::model::{Actor, Member, MemberOp, MemberRef};
use crate::{GroupMembership, StoreError};

/// The net effect of member operations on one group.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct MemberEffect {
    /// Sorted sets: noting a member costs O(log n), so replacing a huge member list stays
    /// proportional to its size.
    pub added: BTreeSet<String>,
    pub removed: BTreeSet<String>,
}

impl MemberEffect {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    fn note_added(&mut self, id: &str) {
        if !self.removed.remove(id) {
            self.added.insert(id.to_string());
        }
    }

    fn note_removed(&mut self, id: &str) {
        if !self.added.remove(id) {
            self.removed.insert(id.to_string());
        }
    }
}

/// The members of a group with their type and display, ordered by id.
pub(crate) fn load(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
) -> Result<Vec<Member>, StoreError> {
    db.rows(
        "SELECT m.member_id, COALESCE(r.resource_type, m.member_type), COALESCE(m.display, r.display)
         FROM members m
         LEFT JOIN resources r ON r.tenant_id = m.tenant_id AND r.id = m.member_id AND r.deleted IS NULL
         WHERE m.tenant_id = ? AND m.group_id = ?
         ORDER BY m.member_id",
        params![tenant_id, group_id],
        |r| {
            Ok(Member {
                value: r.text(0)?,
                kind: r.opt_text(1)?,
                display: r.opt_text(2)?,
            })
        },
    )
}

/// Members per multi-row statement of [`add`] and [`remove_ids`]: 100 members are at most
/// 500 parameters, far below the limits of SQLite (32,766) and PostgreSQL (65,535). Full
/// chunks share one prepared statement; a last, shorter chunk uses one of its own size.
const CHUNK: usize = 100;

/// `?, ?, …`: `n` placeholders.
fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Adds members (not the group itself). A member that is a resource of the tenant gets its
/// real type; any other id is kept with the type the client gave. Only members not yet in
/// the group count as added; of an id named twice, the first mention counts.
pub(crate) fn add(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
    refs: &[MemberRef],
    effect: &mut MemberEffect,
) -> Result<(), StoreError> {
    if refs.iter().any(|r| r.value == group_id) {
        return Err(ScimError::invalid_value("a group cannot be a member of itself").into());
    }
    let mut seen = HashSet::with_capacity(refs.len());
    let refs: Vec<&MemberRef> = refs
        .iter()
        .filter(|r| seen.insert(r.value.as_str()))
        .collect();
    for chunk in refs.chunks(CHUNK) {
        let mut params = Vec::with_capacity(chunk.len() + 1);
        params.push(SqlValue::Int(tenant_id));
        params.extend(chunk.iter().map(|r| SqlValue::from(r.value.as_str())));
        let kinds: HashMap<String, String> = db
            .rows(
                &format!(
                    "SELECT id, resource_type FROM resources
                     WHERE tenant_id = ? AND id IN ({}) AND deleted IS NULL",
                    placeholders(chunk.len())
                ),
                &params,
                |row| Ok((row.text(0)?, row.text(1)?)),
            )?
            .into_iter()
            .collect();

        let mut params = Vec::with_capacity(chunk.len() * 5);
        for r in chunk {
            let kind = kinds.get(&r.value).cloned().or_else(|| r.kind.clone());
            params.extend([
                SqlValue::Int(tenant_id),
                SqlValue::from(group_id),
                SqlValue::from(r.value.as_str()),
                SqlValue::from(kind),
                SqlValue::from(r.display.clone()),
            ]);
        }
        let rows = vec!["(?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        // RETURNING names the rows inserted, not those already there.
        let inserted: HashSet<String> = db
            .rows(
                &format!(
                    "INSERT INTO members (tenant_id, group_id, member_id, member_type, display)
                     VALUES {rows} ON CONFLICT DO NOTHING RETURNING member_id"
                ),
                &params,
                |row| row.text(0),
            )?
            .into_iter()
            .collect();
        for r in chunk {
            if inserted.contains(&r.value) {
                effect.note_added(&r.value);
            }
        }
    }
    Ok(())
}

fn remove_ids(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
    ids: &[String],
    effect: &mut MemberEffect,
) -> Result<(), StoreError> {
    let mut seen = HashSet::with_capacity(ids.len());
    let ids: Vec<&str> = ids
        .iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect();
    for chunk in ids.chunks(CHUNK) {
        let mut params = Vec::with_capacity(chunk.len() + 2);
        params.push(SqlValue::Int(tenant_id));
        params.push(SqlValue::from(group_id));
        params.extend(chunk.iter().map(|id| SqlValue::from(*id)));
        let removed: HashSet<String> = db
            .rows(
                &format!(
                    "DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id IN ({})
                     RETURNING member_id",
                    placeholders(chunk.len())
                ),
                &params,
                |row| row.text(0),
            )?
            .into_iter()
            .collect();
        for id in chunk {
            if removed.contains(*id) {
                effect.note_removed(id);
            }
        }
    }
    Ok(())
}

fn member_ids(db: &mut dyn Db, tenant_id: i64, group_id: &str) -> Result<Vec<String>, StoreError> {
    db.rows(
        "SELECT member_id FROM members WHERE tenant_id = ? AND group_id = ?",
        params![tenant_id, group_id],
        |r| r.text(0),
    )
}

/// Removes every member of a group.
pub(crate) fn clear(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
) -> Result<MemberEffect, StoreError> {
    let mut effect = MemberEffect::default();
    for id in member_ids(db, tenant_id, group_id)? {
        effect.note_removed(&id);
    }
    db.exec(
        "DELETE FROM members WHERE tenant_id = ? AND group_id = ?",
        params![tenant_id, group_id],
    )?;
    Ok(effect)
}

/// Applies one member operation.
pub(crate) fn apply(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
    op: MemberOp,
    effect: &mut MemberEffect,
) -> Result<(), StoreError> {
    match op {
        MemberOp::Add(refs) => add(db, tenant_id, group_id, &refs, effect),
        MemberOp::Remove(ids) => remove_ids(db, tenant_id, group_id, &ids, effect),
        MemberOp::RemoveWhere(pred) => {
            let matching: Vec<String> = load(db, tenant_id, group_id)?
                .into_iter()
                .filter(|m| {
                    let mut el = Map::new();
                    el.insert("value".into(), json!(m.value));
                    if let Some(k) = &m.kind {
                        el.insert("type".into(), json!(k));
                    }
                    if let Some(d) = &m.display {
                        el.insert("display".into(), json!(d));
                    }
                    pred(&Value::Object(el))
                })
                .map(|m| m.value)
                .collect();
            remove_ids(db, tenant_id, group_id, &matching, effect)
        }
        MemberOp::RemoveAll => {
            for id in clear(db, tenant_id, group_id)?.removed {
                effect.note_removed(&id);
            }
            Ok(())
        }
        MemberOp::ReplaceAll(refs) => {
            let wanted: HashSet<&str> = refs.iter().map(|r| r.value.as_str()).collect();
            let gone: Vec<String> = member_ids(db, tenant_id, group_id)?
                .into_iter()
                .filter(|id| !wanted.contains(id.as_str()))
                .collect();
            remove_ids(db, tenant_id, group_id, &gone, effect)?;
            add(db, tenant_id, group_id, &refs, effect)
        }
    }
}

/// Removes a resource from every group it is a direct member of and bumps each group's
/// version. Returns the groups (id, resource type) for [`record_detached`], which the caller
/// runs after its other row changes: each group row is locked (by the update) before its
/// membership row, the order every other writer uses, and the tenant's change counter is
/// taken last. Either order reversed can deadlock on PostgreSQL.
pub(crate) fn detach_everywhere(
    db: &mut dyn Db,
    tenant_id: i64,
    member_id: &str,
    at: &str,
) -> Result<Vec<(String, String)>, StoreError> {
    let groups = db.rows(
        "SELECT m.group_id, r.resource_type FROM members m
         JOIN resources r ON r.tenant_id = m.tenant_id AND r.id = m.group_id
         WHERE m.tenant_id = ? AND m.member_id = ?
         ORDER BY m.group_id",
        params![tenant_id, member_id],
        |r| Ok((r.text(0)?, r.text(1)?)),
    )?;
    for (group_id, _) in &groups {
        db.exec(
            "UPDATE resources SET version = version + 1, last_modified = ? WHERE tenant_id = ? AND id = ?",
            params![at, tenant_id, group_id.as_str()],
        )?;
        db.exec(
            "DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id = ?",
            params![tenant_id, group_id.as_str(), member_id],
        )?;
    }
    Ok(groups)
}

/// Records, on each group, the removal of a member done by [`detach_everywhere`].
pub(crate) fn record_detached(
    db: &mut dyn Db,
    tenant_id: i64,
    member_id: &str,
    groups: Vec<(String, String)>,
    actor: &Actor,
    at: &str,
) -> Result<(), StoreError> {
    for (group_id, group_type) in groups {
        let effect = MemberEffect {
            added: BTreeSet::new(),
            removed: BTreeSet::from([member_id.to_string()]),
        };
        record_change(
            db,
            ChangeArgs {
                tenant_id,
                resource_type: &group_type,
                resource_id: &group_id,
                operation: "patch",
                changed: &["members".to_string()],
                before: None,
                after: None,
                members: &effect,
                actor,
                at,
            },
        )?;
    }
    Ok(())
}

/// The groups each of several resources belongs to, directly or through nested groups
/// (cycles are cut), in one query. Resources in no group are absent from the map.
pub(crate) fn groups_of(
    db: &mut dyn Db,
    tenant_id: i64,
    member_ids: &[String],
) -> Result<HashMap<String, Vec<GroupMembership>>, StoreError> {
    let mut out: HashMap<String, Vec<GroupMembership>> = HashMap::new();
    if member_ids.is_empty() {
        return Ok(out);
    }
    let sql = groups_of_sql(member_ids.len());
    let mut params = vec![SqlValue::Int(tenant_id)];
    params.extend(member_ids.iter().map(|id| SqlValue::Text(id.clone())));
    params.push(SqlValue::Int(tenant_id));
    params.push(SqlValue::Int(tenant_id));
    let rows = db.rows(&sql, &params, |r| {
        Ok((
            r.text(0)?,
            GroupMembership {
                group_id: r.text(1)?,
                direct: r.int(2)? == 0,
                display: r.opt_text(3)?,
            },
        ))
    })?;
    for (root, membership) in rows {
        out.entry(root).or_default().push(membership);
    }
    Ok(out)
}

/// The query of [`groups_of`] for `n` member ids.
pub(crate) fn groups_of_sql(n: usize) -> String {
    let placeholders = vec!["?"; n].join(", ");
    format!(
        // CROSS JOIN fixes the join order (SQLite never reorders it; PostgreSQL treats it
        // as an inner join): from the groups found so far to their membership rows and
        // resources by index, never a scan of the tenant's memberships or resources.
        "WITH RECURSIVE up(root, group_id, depth) AS (
             SELECT member_id, group_id, CAST(0 AS BIGINT) FROM members
             WHERE tenant_id = ? AND member_id IN ({placeholders})
             UNION
             SELECT up.root, m.group_id, up.depth + 1 FROM up CROSS JOIN members m
             WHERE m.tenant_id = ? AND m.member_id = up.group_id AND up.depth < 32
         )
         SELECT up.root, up.group_id, MIN(up.depth), MIN(r.display) FROM up
         CROSS JOIN resources r
         WHERE r.tenant_id = ? AND r.id = up.group_id AND r.deleted IS NULL
           AND up.group_id <> up.root
         GROUP BY up.root, up.group_id ORDER BY up.root, up.group_id"
    )
}
