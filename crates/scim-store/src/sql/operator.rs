//! Issue 12: tenant contents, soft-deleted resources, and the memberships a soft delete
//! ended (kept so that a restore makes them again).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::db::{Db, DbExt, params};
use super::members::{self, MemberEffect};
use super::resources::{RecordBase, record_members};
use crate::StoreError;
use crate::model::{Actor, MemberRef};
use crate::operator::{DeletedResource, TenantContents};

pub(crate) fn tenant_contents(
    db: &mut dyn Db,
    tenant_id: i64,
) -> Result<TenantContents, StoreError> {
    let resources = db.rows(
        "SELECT resource_type, count(*) FROM resources
         WHERE tenant_id = ? AND deleted IS NULL GROUP BY resource_type ORDER BY resource_type",
        params![tenant_id],
        |r| Ok((r.text(0)?, r.int(1)?)),
    )?;
    let deleted = db.one(
        "SELECT count(*) FROM resources WHERE tenant_id = ? AND deleted IS NOT NULL",
        params![tenant_id],
        |r| r.int(0),
    )?;
    let (tokens, active_tokens) = token_counts(db, tenant_id, &super::now())?;
    let changes = db.one(
        "SELECT count(*) FROM changes WHERE tenant_id = ?",
        params![tenant_id],
        |r| r.int(0),
    )?;
    Ok(TenantContents {
        resources,
        deleted,
        tokens: i64::try_from(tokens).unwrap_or(i64::MAX),
        active_tokens: i64::try_from(active_tokens).unwrap_or(i64::MAX),
        changes,
    })
}

/// A tenant's tokens: all of them (revoked and expired included), and those that work at
/// `now` (neither revoked nor expired). `scim tenant delete` and the management API's
/// tenant delete say both, counted the same way.
pub(crate) fn token_counts(
    db: &mut dyn Db,
    tenant_id: i64,
    now: &str,
) -> Result<(u64, u64), StoreError> {
    let tokens = db.rows(
        "SELECT revoked, expires FROM tokens WHERE tenant_id = ?",
        params![tenant_id],
        |r| Ok((r.opt_text(0)?.is_none(), r.opt_text(1)?)),
    )?;
    let active = tokens
        .iter()
        .filter(|(unrevoked, expires)| {
            *unrevoked
                && expires
                    .as_deref()
                    .is_none_or(|e| !super::tenants::expired(e, now))
        })
        .count();
    Ok((tokens.len() as u64, active as u64))
}

/// The tenant's soft-deleted resources, most recently deleted first.
pub(crate) fn deleted_resources(
    db: &mut dyn Db,
    tenant_id: i64,
    limit: u32,
) -> Result<Vec<DeletedResource>, StoreError> {
    let retention = db
        .row(
            "SELECT retention_days FROM tenants WHERE id = ?",
            params![tenant_id],
            |r| r.int(0),
        )?
        .unwrap_or(0);
    let limit_sql = db.dialect().limit_param();
    let rows = db.rows(
        &format!(
            "SELECT r.id, r.resource_type, r.display, r.deleted,
                    (SELECT count(*) FROM ended_memberships e
                      WHERE e.tenant_id = r.tenant_id AND e.deleted_id = r.id AND e.member_id = r.id)
             FROM resources r
             WHERE r.tenant_id = ? AND r.deleted IS NOT NULL
             ORDER BY r.deleted DESC, r.id LIMIT {limit_sql}"
        ),
        params![tenant_id, i64::from(limit)],
        |r| Ok((r.text(0)?, r.text(1)?, r.opt_text(2)?, r.text(3)?, r.int(4)?)),
    )?;
    Ok(rows
        .into_iter()
        .map(|(id, resource_type, display, deleted, groups)| {
            let until = scim_core::value::parse_datetime(&deleted)
                .map(|d| super::format_time(d + time::Duration::days(retention)));
            DeletedResource {
                id,
                resource_type,
                display,
                deleted,
                restorable_until: until,
                groups,
            }
        })
        .collect())
}

/// Keeps the memberships that the soft delete of `id` is about to end: the groups it is a
/// direct member of, and (for a group) its own members. Runs before they are removed.
pub(crate) fn remember_memberships(
    db: &mut dyn Db,
    tenant_id: i64,
    id: &str,
) -> Result<(), StoreError> {
    // Left over from an earlier delete of the same resource (restored, deleted again).
    db.exec(
        "DELETE FROM ended_memberships WHERE tenant_id = ? AND deleted_id = ?",
        params![tenant_id, id],
    )?;
    db.exec(
        "INSERT INTO ended_memberships
             (tenant_id, deleted_id, group_id, member_id, member_type, display)
         SELECT tenant_id, ?, group_id, member_id, member_type, display FROM members
         WHERE tenant_id = ? AND member_id = ?",
        params![id, tenant_id, id],
    )?;
    db.exec(
        "INSERT INTO ended_memberships
             (tenant_id, deleted_id, group_id, member_id, member_type, display)
         SELECT tenant_id, ?, group_id, member_id, member_type, display FROM members
         WHERE tenant_id = ? AND group_id = ?",
        params![id, tenant_id, id],
    )?;
    Ok(())
}

/// A group that got a restored member back, for its change record.
pub(crate) struct Rejoined {
    group_id: String,
    resource_type: String,
    version: i64,
    created: String,
    data: Map<String, Value>,
    effect: MemberEffect,
}

/// Makes again the memberships the deletion of `id` ended, where both sides still exist:
/// puts the restored resource back into its groups (each group's version goes up) and,
/// for a restored group, its own members back into it. Row changes only; the change
/// records are written by [`record_rejoined`] after the caller's own records (group rows
/// are locked before membership rows and the tenant's change counter last, the order of
/// every other writer).
pub(crate) fn rejoin(
    db: &mut dyn Db,
    tenant_id: i64,
    id: &str,
    resource_type: &str,
    at: &str,
) -> Result<(Vec<Rejoined>, MemberEffect), StoreError> {
    let rows = db.rows(
        "SELECT group_id, member_id, member_type, display FROM ended_memberships
         WHERE tenant_id = ? AND deleted_id = ? ORDER BY group_id, member_id",
        params![tenant_id, id],
        |r| Ok((r.text(0)?, r.text(1)?, r.opt_text(2)?, r.opt_text(3)?)),
    )?;
    db.exec(
        "DELETE FROM ended_memberships WHERE tenant_id = ? AND deleted_id = ?",
        params![tenant_id, id],
    )?;
    let mut groups: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut own: Vec<MemberRef> = Vec::new();
    for (group_id, member_id, member_type, display) in rows {
        if member_id == id && group_id != id {
            groups.insert(group_id, display);
        } else if group_id == id {
            own.push(MemberRef {
                value: member_id,
                kind: member_type,
                display,
            });
        }
    }
    let mut rejoined = Vec::with_capacity(groups.len());
    for (group_id, display) in groups {
        let group = db.row(
            "UPDATE resources SET version = version + 1, last_modified = ?
             WHERE tenant_id = ? AND id = ? AND deleted IS NULL
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
        // A group deleted since is not brought back with its member.
        let Some((group_type, version, created, data)) = group else {
            continue;
        };
        let mut effect = MemberEffect::default();
        let member = MemberRef {
            value: id.to_string(),
            kind: Some(resource_type.to_string()),
            display,
        };
        members::add(db, tenant_id, &group_id, &[member], &mut effect)?;
        rejoined.push(Rejoined {
            group_id,
            resource_type: group_type,
            version,
            created,
            data,
            effect,
        });
    }
    // A restored group's own members: those that are resources must still exist; ids that
    // were never resources of the tenant are kept as they were sent.
    let ids: Vec<String> = own.iter().map(|m| m.value.clone()).collect();
    let live = members::live_ids(db, tenant_id, &ids)?;
    let own: Vec<MemberRef> = own
        .into_iter()
        .filter(|m| m.kind.is_none() || live.contains(&m.value))
        .collect();
    let mut own_effect = MemberEffect::default();
    if !own.is_empty() {
        members::add(db, tenant_id, id, &own, &mut own_effect)?;
    }
    Ok((rejoined, own_effect))
}

/// Records, on each group, the member a restore put back.
pub(crate) fn record_rejoined(
    db: &mut dyn Db,
    tenant_id: i64,
    rejoined: Vec<Rejoined>,
    actor: &Actor,
    at: &str,
) -> Result<(), StoreError> {
    for g in rejoined {
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
        record_members(db, &base, Some(&g.data), &g.effect)?;
    }
    Ok(())
}
