//! Group membership: one row per direct member, changed row by row, so that adding or
//! removing members costs time proportional to the members named, not to the group.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use scim_core::ScimError;
use serde_json::{Map, Value, json};

use super::db::{Db, DbExt, SqlRow, SqlValue, params};
use super::resources::{RecordBase, record_members};
use crate::model::{Actor, Member, MemberOp, MemberRef, RecordedMember};
use crate::{GroupMembership, StoreError};

/// The net effect of member operations on one group: member id → its type (when known).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct MemberEffect {
    /// Sorted maps: noting a member costs O(log n), so replacing a huge member list stays
    /// proportional to its size.
    pub added: BTreeMap<String, Option<String>>,
    pub removed: BTreeMap<String, Option<String>>,
}

impl MemberEffect {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }

    fn note_added(&mut self, id: &str, kind: Option<String>) {
        if self.removed.remove(id).is_none() {
            self.added.insert(id.to_string(), kind);
        }
    }

    fn note_removed(&mut self, id: &str, kind: Option<String>) {
        if self.added.remove(id).is_none() {
            self.removed.insert(id.to_string(), kind);
        }
    }

    /// The added and the removed members, as the change log keeps them.
    pub fn recorded(&self) -> (Vec<RecordedMember>, Vec<RecordedMember>) {
        let list = |m: &BTreeMap<String, Option<String>>| {
            m.iter()
                .map(|(value, kind)| RecordedMember {
                    value: value.clone(),
                    kind: kind.clone(),
                })
                .collect()
        };
        (list(&self.added), list(&self.removed))
    }
}

/// The members of a group with their type and display, ordered by id.
pub(crate) fn load(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
) -> Result<Vec<Member>, StoreError> {
    load_chunk(db, tenant_id, group_id, None, None)
}

/// At most `limit` members of a group whose ids follow `after`, ordered by id: a range of
/// the `members` primary key, so reading a group chunk by chunk costs the same as at once.
pub(crate) fn load_chunk(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
    after: Option<&str>,
    limit: Option<usize>,
) -> Result<Vec<Member>, StoreError> {
    let mut params = vec![
        SqlValue::Int(tenant_id),
        SqlValue::from(group_id),
        SqlValue::from(after.unwrap_or("")),
    ];
    let limit_sql = match limit {
        Some(n) => {
            params.push(SqlValue::Int(i64::try_from(n).unwrap_or(i64::MAX)));
            format!(" LIMIT {}", db.dialect().limit_param())
        }
        None => String::new(),
    };
    db.rows(
        &format!(
            "SELECT m.member_id, COALESCE(r.resource_type, m.member_type), COALESCE(m.display, r.display)
             FROM members m
             LEFT JOIN resources r ON r.tenant_id = m.tenant_id AND r.id = m.member_id AND r.deleted IS NULL
             WHERE m.tenant_id = ? AND m.group_id = ? AND m.member_id > ?
             ORDER BY m.member_id{limit_sql}"
        ),
        &params,
        |r| {
            Ok(Member {
                value: r.text(0)?,
                kind: r.opt_text(1)?,
                display: r.opt_text(2)?,
            })
        },
    )
}

/// How many members a group has, counting at most `limit` of them: an index-only range of
/// the `members` primary key, so asking whether a group is larger than 100 costs 101 index
/// entries whatever its size.
pub(crate) fn count_up_to(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
    limit: u64,
) -> Result<u64, StoreError> {
    let n = db.one(
        &format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM members WHERE tenant_id = ? AND group_id = ? LIMIT {}) AS m",
            db.dialect().limit_param()
        ),
        params![tenant_id, group_id, i64::try_from(limit).unwrap_or(i64::MAX)],
        |r| r.int(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
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
    let ids: Vec<String> = refs.iter().map(|r| r.value.clone()).collect();
    let live = live_resources(db, tenant_id, &ids)?;
    for chunk in refs.chunks(CHUNK) {
        let mut params = Vec::with_capacity(chunk.len() * 5);
        let kind_of = |r: &MemberRef| {
            live.get(&r.value)
                .map(|l| l.kind.clone())
                .or_else(|| r.kind.clone())
        };
        for r in chunk {
            let kind = kind_of(r);
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
                effect.note_added(&r.value, kind_of(r));
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
        let mut removed: HashMap<String, Option<String>> = db
            .rows(
                &format!(
                    "DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id IN ({})
                     RETURNING member_id, member_type",
                    placeholders(chunk.len())
                ),
                &params,
                |row| Ok((row.text(0)?, row.opt_text(1)?)),
            )?
            .into_iter()
            .collect();
        for id in chunk {
            if let Some(kind) = removed.remove(*id) {
                effect.note_removed(id, kind);
            }
        }
    }
    Ok(())
}

/// The ids and types of a group's members.
fn member_ids(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
) -> Result<Vec<(String, Option<String>)>, StoreError> {
    db.rows(
        "SELECT member_id, member_type FROM members WHERE tenant_id = ? AND group_id = ?",
        params![tenant_id, group_id],
        |r| Ok((r.text(0)?, r.opt_text(1)?)),
    )
}

/// Removes every member of a group.
pub(crate) fn clear(
    db: &mut dyn Db,
    tenant_id: i64,
    group_id: &str,
) -> Result<MemberEffect, StoreError> {
    let mut effect = MemberEffect::default();
    for (id, kind) in member_ids(db, tenant_id, group_id)? {
        effect.note_removed(&id, kind);
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
            for (id, kind) in clear(db, tenant_id, group_id)?.removed {
                effect.note_removed(&id, kind);
            }
            Ok(())
        }
        MemberOp::ReplaceAll(refs) => {
            let wanted: HashSet<&str> = refs.iter().map(|r| r.value.as_str()).collect();
            let gone: Vec<String> = member_ids(db, tenant_id, group_id)?
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| !wanted.contains(id.as_str()))
                .collect();
            remove_ids(db, tenant_id, group_id, &gone, effect)?;
            add(db, tenant_id, group_id, &refs, effect)
        }
    }
}

/// A group a deleted resource was removed from, as it is after the removal.
pub(crate) struct DetachedFrom {
    group_id: String,
    resource_type: String,
    version: i64,
    created: String,
    data: Map<String, Value>,
}

/// Removes a resource from every group it is a direct member of and bumps each group's
/// version. Returns the groups for [`record_detached`], which the caller runs after its
/// other row changes: each group row is locked (by the update) before its membership row,
/// the order every other writer uses, and the tenant's change counter is taken last. Either
/// order reversed can deadlock on PostgreSQL.
pub(crate) fn detach_everywhere(
    db: &mut dyn Db,
    tenant_id: i64,
    member_id: &str,
    at: &str,
) -> Result<Vec<DetachedFrom>, StoreError> {
    let groups = db.rows(
        "SELECT m.group_id FROM members m
         WHERE m.tenant_id = ? AND m.member_id = ?
         ORDER BY m.group_id",
        params![tenant_id, member_id],
        |r| r.text(0),
    )?;
    let mut out = Vec::with_capacity(groups.len());
    for group_id in groups {
        let group = db.row(
            "UPDATE resources SET version = version + 1, last_modified = ?
             WHERE tenant_id = ? AND id = ?
             RETURNING resource_type, version, created, data",
            params![at, tenant_id, group_id.as_str()],
            |r| {
                let data = match serde_json::from_str::<Value>(&r.text(3)?)? {
                    Value::Object(m) => m,
                    _ => Map::new(),
                };
                Ok((r.text(0)?, r.int(1)?, r.text(2)?, data))
            },
        )?;
        db.exec(
            "DELETE FROM members WHERE tenant_id = ? AND group_id = ? AND member_id = ?",
            params![tenant_id, group_id.as_str(), member_id],
        )?;
        if let Some((resource_type, version, created, data)) = group {
            out.push(DetachedFrom {
                group_id,
                resource_type,
                version,
                created,
                data,
            });
        }
    }
    Ok(out)
}

/// Records, on each group, the removal of a member done by [`detach_everywhere`].
pub(crate) fn record_detached(
    db: &mut dyn Db,
    tenant_id: i64,
    member_id: &str,
    member_type: &str,
    groups: Vec<DetachedFrom>,
    actor: &Actor,
    at: &str,
) -> Result<(), StoreError> {
    for g in groups {
        let mut effect = MemberEffect::default();
        effect.note_removed(member_id, Some(member_type.to_string()));
        let base = RecordBase {
            tenant_id,
            resource_type: &g.resource_type,
            resource_id: &g.group_id,
            operation: "patch",
            version: Some(g.version),
            created: Some(&g.created),
            actor,
            at,
        };
        record_members(db, &base, Some(&g.data), &effect)?;
    }
    Ok(())
}

/// How deep nested groups are followed.
const MAX_NESTING: usize = 32;

/// The groups each of several resources belongs to, directly or through nested groups
/// (cycles are cut), with each group's display name. Resources in no group are absent.
///
/// It walks up level by level with plain index lookups (the memberships of the resources,
/// then of the groups found, then the groups' names), sharing the walk between resources
/// that are in the same groups. A recursive query did the same in one statement but built
/// temporary tables on every call, which made it most of the cost of reading one user.
pub(crate) fn groups_of(
    db: &mut dyn Db,
    tenant_id: i64,
    member_ids: &[String],
) -> Result<HashMap<String, Vec<GroupMembership>>, StoreError> {
    let mut out: HashMap<String, Vec<GroupMembership>> = HashMap::new();
    let direct = memberships(db, tenant_id, member_ids)?;
    if direct.is_empty() {
        return Ok(out);
    }
    // The groups above every group found, level by level.
    let mut parents: HashMap<String, Vec<String>> = HashMap::new();
    let mut frontier: Vec<String> = direct
        .values()
        .flatten()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for _ in 0..MAX_NESTING {
        if frontier.is_empty() {
            break;
        }
        for group in &frontier {
            parents.entry(group.clone()).or_default();
        }
        let found = memberships(db, tenant_id, &frontier)?;
        let mut next = BTreeSet::new();
        for (group, above) in found {
            for parent in &above {
                if !parents.contains_key(parent) {
                    next.insert(parent.clone());
                }
            }
            parents.insert(group, above);
        }
        frontier = next.into_iter().collect();
    }
    let all: Vec<String> = parents.keys().cloned().collect();
    let names = live_resources(db, tenant_id, &all)?;
    for (member, groups) in direct {
        // Breadth first, so each group is reached first at its smallest depth.
        let mut depth_of: HashMap<&str, usize> = HashMap::new();
        let mut level: Vec<&str> = groups.iter().map(String::as_str).collect();
        for depth in 0..=MAX_NESTING {
            let mut next = Vec::new();
            for g in level {
                if depth_of.contains_key(g) {
                    continue;
                }
                depth_of.insert(g, depth);
                if depth < MAX_NESTING {
                    next.extend(parents.get(g).into_iter().flatten().map(String::as_str));
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        let mut list: Vec<GroupMembership> = depth_of
            .into_iter()
            .filter(|(g, _)| *g != member.as_str())
            .filter_map(|(g, depth)| {
                let group = names.get(g)?;
                Some(GroupMembership {
                    group_id: g.to_string(),
                    display: group.display.clone(),
                    direct: depth == 0,
                })
            })
            .collect();
        if !list.is_empty() {
            list.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            out.insert(member, list);
        }
    }
    Ok(out)
}

/// Sizes of the `IN (…)` lists of [`memberships`] and [`live_resources`]: a list is padded to
/// the next size (repeating its last id), so a handful of statements serve every call
/// from the statement cache.
const IN_SIZES: [usize; 4] = [1, 8, 32, 128];

/// `ids` in chunks of the sizes in [`IN_SIZES`], each padded to its size.
fn padded_chunks(ids: &[String]) -> Vec<Vec<&str>> {
    let largest = IN_SIZES[IN_SIZES.len() - 1];
    ids.chunks(largest)
        .map(|chunk| {
            let size = IN_SIZES
                .iter()
                .copied()
                .find(|s| *s >= chunk.len())
                .unwrap_or(largest);
            let mut v: Vec<&str> = chunk.iter().map(String::as_str).collect();
            while let Some(last) = v.last().copied().filter(|_| v.len() < size) {
                v.push(last);
            }
            v
        })
        .collect()
}

/// Runs `select` (a query whose only parameters are the tenant and the ids of its
/// `IN ({})`) over `ids` in padded chunks, collecting every row.
fn rows_for_ids<T>(
    db: &mut dyn Db,
    tenant_id: i64,
    ids: &[String],
    select: &str,
    row: &mut dyn FnMut(&dyn SqlRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for chunk in padded_chunks(ids) {
        let sql = select.replace("{}", &placeholders(chunk.len()));
        let mut params = vec![SqlValue::Int(tenant_id)];
        params.extend(chunk.iter().map(|id| SqlValue::Text((*id).to_string())));
        out.extend(db.rows(&sql, &params, |r| row(r))?);
    }
    Ok(out)
}

const MEMBERSHIPS_OF: &str =
    "SELECT DISTINCT member_id, group_id FROM members WHERE tenant_id = ? AND member_id IN ({})";
// Deleted rows are left out in Rust, not with `deleted IS NULL` in SQL: that condition lets
// PostgreSQL pick the partial index of live resources, and on a table that has just grown (an
// identity provider's first import, before autovacuum has analysed it) the planner believes
// the tenant has a handful of rows and scans all of them for every lookup instead of using
// `resources_by_id` (80 ms per 100 ids at 200,000 users: adding members became 100 times
// slower).
const RESOURCES_OF: &str = "SELECT DISTINCT id, resource_type, display, deleted FROM resources \
     WHERE tenant_id = ? AND id IN ({})";

/// The groups each of `ids` is a direct member of.
fn memberships(
    db: &mut dyn Db,
    tenant_id: i64,
    ids: &[String],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    let rows = rows_for_ids(db, tenant_id, ids, MEMBERSHIPS_OF, &mut |r| {
        Ok((r.text(0)?, r.text(1)?))
    })?;
    for (member, group) in rows {
        out.entry(member).or_default().push(group);
    }
    Ok(out)
}

/// What the lookups by id need of a live resource.
struct LiveResource {
    kind: String,
    display: Option<String>,
}

/// Those of `ids` that are live resources of the tenant.
fn live_resources(
    db: &mut dyn Db,
    tenant_id: i64,
    ids: &[String],
) -> Result<HashMap<String, LiveResource>, StoreError> {
    let rows = rows_for_ids(db, tenant_id, ids, RESOURCES_OF, &mut |r| {
        Ok((r.text(0)?, r.text(1)?, r.opt_text(2)?, r.opt_text(3)?))
    })?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, _, deleted)| deleted.is_none())
        .map(|(id, kind, display, _)| (id, LiveResource { kind, display }))
        .collect())
}

/// Which of these ids are live (not deleted) resources of the tenant.
pub(crate) fn live_ids(
    db: &mut dyn Db,
    tenant_id: i64,
    ids: &[String],
) -> Result<HashSet<String>, StoreError> {
    Ok(live_resources(db, tenant_id, ids)?.into_keys().collect())
}

/// The statements [`groups_of`] runs, for a plan test.
#[cfg(test)]
pub(crate) fn groups_of_statements() -> Vec<String> {
    [MEMBERSHIPS_OF, RESOURCES_OF]
        .iter()
        .map(|sql| sql.replace("{}", &placeholders(8)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_lists_are_padded_to_a_few_sizes() {
        let ids: Vec<String> = (0..140).map(|i| i.to_string()).collect();
        let sizes: Vec<usize> = padded_chunks(&ids).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![128, 32]);
        let last = padded_chunks(&ids).pop().unwrap_or_default();
        assert_eq!(last[11], "139");
        assert_eq!(last[31], "139");
        assert_eq!(padded_chunks(&ids[..1])[0], vec!["0"]);
        assert_eq!(padded_chunks(&ids[..2])[0].len(), 8);
        assert!(padded_chunks(&[]).is_empty());
    }
}
