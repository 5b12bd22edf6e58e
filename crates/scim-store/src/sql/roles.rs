//! Group-to-role mapping: per-tenant rules ("members of the group whose displayName is
//! `Eng-Admins` get the role `admin`"), and each user's effective roles, kept in
//! `user_roles` and recomputed in the transaction of the write that changes what they
//! depend on, so that roles never disagree with memberships. A group rule names a group
//! exactly or by a glob pattern (`Eng-*`); a `user_filter` rule matches the user's own
//! attributes with a SCIM filter, kept resolved (`role_rules.compiled`) and evaluated on
//! the user's stored JSON, so every write of the user re-evaluates it.
//!
//! **Cost proportional to the users affected.** A change record names what a write
//! changed; only the users it can affect are recomputed: the user itself for a user's
//! write, the added or removed members for a membership change (for a nested group, the
//! users under it), the users under a group whose `displayName`/`externalId` changed, or
//! that was deleted, when a rule names it. Adding one member to a 100,000-member group
//! recomputes one user: its groups (by the membership index, through nesting), the rules
//! and its stored roles, each a lookup by key.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

use scim_core::ScimError;
use serde_json::{Map, Value, json};

use super::db::{Db, DbExt, Dialect, params};
use super::members::groups_of;
use super::resources::RecordBase;
use crate::StoreError;
use crate::model::{Actor, ChangeRecord, RecordedMember};
use crate::roles::{RoleMatch, RoleRule, RoleRuleSpec};

/// The operation of the change record a role change appends (`user.roles_changed`).
pub(crate) const ROLES_CHANGED: &str = "roles_changed";

/// Users recomputed, per tenant uid (read by tests and benchmarks through
/// [`crate::roles::recomputations`]).
pub(crate) static RECOMPUTED: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);

fn count_recomputed(db: &mut dyn Db, tenant_id: i64, n: u64) -> Result<(), StoreError> {
    if n == 0 {
        return Ok(());
    }
    let uid = db
        .row(
            "SELECT uid FROM tenants WHERE id = ?",
            params![tenant_id],
            |r| r.text(0),
        )?
        .unwrap_or_default();
    if let Ok(mut m) = RECOMPUTED.lock() {
        *m.get_or_insert_with(HashMap::new).entry(uid).or_default() += n;
    }
    Ok(())
}

const RULE_COLUMNS: &str = "id, role, match_kind, value, created, pattern, compiled";

fn rule_from_row(r: &dyn super::db::SqlRow) -> Result<RoleRule, StoreError> {
    let filter = match r.opt_text(6)? {
        Some(text) => {
            let f = crate::roles::filter_from_json(&serde_json::from_str(&text)?);
            if f.is_none() {
                // Written by this module: unreadable only if the row was edited by hand.
                tracing::error!(rule = %r.text(0)?, "a role rule's stored filter is unreadable; it matches no one");
            }
            f
        }
        None => None,
    };
    Ok(RoleRule {
        id: r.text(0)?,
        role: r.text(1)?,
        matches: RoleMatch::parse(&r.text(2)?).unwrap_or(RoleMatch::GroupId),
        value: r.opt_text(3)?,
        created: r.text(4)?,
        pattern: r.int(5)? != 0,
        filter,
    })
}

pub(crate) fn rules(db: &mut dyn Db, tenant_id: i64) -> Result<Vec<RoleRule>, StoreError> {
    db.rows(
        &format!("SELECT {RULE_COLUMNS} FROM role_rules WHERE tenant_id = ? ORDER BY created, id"),
        params![tenant_id],
        rule_from_row,
    )
}

pub(crate) fn user_roles(
    db: &mut dyn Db,
    tenant_id: i64,
    user_id: &str,
) -> Result<BTreeSet<String>, StoreError> {
    Ok(db
        .rows(
            "SELECT role FROM user_roles WHERE tenant_id = ? AND user_id = ?",
            params![tenant_id, user_id],
            |r| r.text(0),
        )?
        .into_iter()
        .collect())
}

/// The roles of these users, each sorted (users without roles are absent); read in
/// chunks of 500 ids, each one indexed lookup.
pub(crate) fn roles_of_users(
    db: &mut dyn Db,
    tenant_id: i64,
    user_ids: &[String],
) -> Result<HashMap<String, Vec<String>>, StoreError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for chunk in user_ids.chunks(500) {
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut args = vec![super::db::SqlValue::Int(tenant_id)];
        args.extend(chunk.iter().map(super::db::SqlValue::from));
        let rows = db.rows(
            &format!(
                "SELECT user_id, role FROM user_roles WHERE tenant_id = ? AND user_id IN ({marks})
                 ORDER BY user_id, role"
            ),
            &args,
            |r| Ok((r.text(0)?, r.text(1)?)),
        )?;
        for (user, role) in rows {
            out.entry(user).or_default().push(role);
        }
    }
    Ok(out)
}

/// A live user's roles, sorted; `None` when there is no such live user.
pub(crate) fn roles_of_live_user(
    db: &mut dyn Db,
    tenant_id: i64,
    user_id: &str,
) -> Result<Option<Vec<String>>, StoreError> {
    let live = db
        .row(
            "SELECT CAST(1 AS BIGINT) FROM resources WHERE tenant_id = ? AND id = ?
             AND resource_type = 'User' AND deleted IS NULL",
            params![tenant_id, user_id],
            |r| r.int(0),
        )?
        .is_some();
    if !live {
        return Ok(None);
    }
    Ok(Some(
        user_roles(db, tenant_id, user_id)?.into_iter().collect(),
    ))
}

/// Whether a rule names this group.
fn names_group(
    rule: &RoleRule,
    id: &str,
    display: Option<&str>,
    external_id: Option<&str>,
) -> bool {
    let v = rule.value.as_deref().unwrap_or("");
    let same = |name: &str, v: &str| {
        if rule.pattern {
            crate::roles::glob_matches(v, name)
        } else {
            name == v
        }
    };
    match rule.matches {
        RoleMatch::GroupId => same(id, v),
        // displayName is case-insensitive (RFC 7643 §4.2), patterns too.
        RoleMatch::GroupDisplayName => {
            display.is_some_and(|d| same(&d.to_lowercase(), &v.to_lowercase()))
        }
        RoleMatch::GroupExternalId => external_id.is_some_and(|e| same(e, v)),
        RoleMatch::Default | RoleMatch::UserFilter => false,
    }
}

/// The externalIds of these groups (only read when a rule matches on externalId).
fn external_ids(
    db: &mut dyn Db,
    tenant_id: i64,
    ids: &[String],
) -> Result<HashMap<String, String>, StoreError> {
    let mut out = HashMap::new();
    for id in ids {
        if let Some(data) = db.row(
            "SELECT data FROM resources WHERE tenant_id = ? AND id = ? AND deleted IS NULL",
            params![tenant_id, id.as_str()],
            |r| r.text(0),
        )? {
            let doc: Value = serde_json::from_str(&data)?;
            if let Some(e) = doc.get("externalId").and_then(Value::as_str) {
                out.insert(id.clone(), e.to_string());
            }
        }
    }
    Ok(out)
}

/// Recomputes these users' roles from the rules and their memberships, stores the
/// difference and appends a `roles_changed` record for each user whose roles changed.
pub(crate) fn recompute(
    db: &mut dyn Db,
    tenant_id: i64,
    users: &BTreeSet<String>,
    actor: &Actor,
    at: &str,
) -> Result<(), StoreError> {
    if users.is_empty() {
        return Ok(());
    }
    let rules = rules(db, tenant_id)?;
    let by_external = rules
        .iter()
        .any(|r| r.matches == RoleMatch::GroupExternalId);
    for user in users {
        let doc = db.row(
            "SELECT data, version, created FROM resources
             WHERE tenant_id = ? AND id = ? AND resource_type = 'User' AND deleted IS NULL",
            params![tenant_id, user.as_str()],
            |r| Ok((r.text(0)?, r.int(1)?, r.text(2)?)),
        )?;
        let current = user_roles(db, tenant_id, user)?;
        let Some(doc) = doc else {
            // Deleted (or not a user): its roles go, without an event of their own (its
            // `user.deleted` says it).
            if !current.is_empty() {
                db.exec(
                    "DELETE FROM user_roles WHERE tenant_id = ? AND user_id = ?",
                    params![tenant_id, user.as_str()],
                )?;
            }
            continue;
        };
        let (doc, version, created) = doc;
        let doc: Value = serde_json::from_str(&doc)?;
        let active = doc.get("active") != Some(&Value::Bool(false));
        let mut wanted = BTreeSet::new();
        if !rules.is_empty() {
            let groups = groups_of(db, tenant_id, std::slice::from_ref(user))?
                .remove(user)
                .unwrap_or_default();
            let ids: Vec<String> = groups.iter().map(|g| g.group_id.clone()).collect();
            let externals = if by_external && !ids.is_empty() {
                external_ids(db, tenant_id, &ids)?
            } else {
                HashMap::new()
            };
            for rule in &rules {
                let hit = match rule.matches {
                    RoleMatch::Default => active,
                    RoleMatch::UserFilter => match (&rule.filter, doc.as_object()) {
                        (Some(f), Some(d)) => f.matches(d),
                        _ => false,
                    },
                    _ => groups.iter().any(|g| {
                        names_group(
                            rule,
                            &g.group_id,
                            g.display.as_deref(),
                            externals.get(&g.group_id).map(String::as_str),
                        )
                    }),
                };
                if hit {
                    wanted.insert(rule.role.clone());
                }
            }
        }
        let added: Vec<&String> = wanted.difference(&current).collect();
        let removed: Vec<&String> = current.difference(&wanted).collect();
        if added.is_empty() && removed.is_empty() {
            continue;
        }
        for role in &added {
            db.exec(
                "INSERT INTO user_roles (tenant_id, user_id, role) VALUES (?, ?, ?)",
                params![tenant_id, user.as_str(), role.as_str()],
            )?;
        }
        for role in &removed {
            db.exec(
                "DELETE FROM user_roles WHERE tenant_id = ? AND user_id = ? AND role = ?",
                params![tenant_id, user.as_str(), role.as_str()],
            )?;
        }
        let mut detail = Map::new();
        detail.insert("added".into(), json!(added));
        detail.insert("removed".into(), json!(removed));
        detail.insert("roles".into(), json!(wanted));
        super::resources::record_roles_changed(
            db,
            &RecordBase {
                tenant_id,
                resource_type: "User",
                resource_id: user,
                operation: ROLES_CHANGED,
                // The user's own version does not change: its roles are not its attributes.
                version: Some(version),
                created: Some(&created),
                actor,
                at,
            },
            &detail,
        )?;
    }
    count_recomputed(db, tenant_id, users.len() as u64)
}

/// Whether the tenant has role rules (when it has none, writes skip everything here).
/// Rules change only under the tenant's row lock ([`lock_tenant`]), so an engine may
/// remember the answer for the rest of a transaction that holds the row.
fn has_rules(db: &mut dyn Db, tenant_id: i64) -> Result<bool, StoreError> {
    let key = format!("has_role_rules:{tenant_id}");
    if let Some(known) = db.remembered(&key) {
        return Ok(known);
    }
    let has = db
        .row(
            "SELECT CAST(1 AS BIGINT) FROM role_rules WHERE tenant_id = ? LIMIT 1",
            params![tenant_id],
            |r| r.int(0),
        )?
        .is_some();
    db.remember(&key, has);
    Ok(has)
}

/// The users under a group, through nested groups (each group visited once).
pub(crate) fn users_under(
    db: &mut dyn Db,
    tenant_id: i64,
    group_ids: &[String],
    out: &mut BTreeSet<String>,
) -> Result<(), StoreError> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut frontier: Vec<String> = group_ids.to_vec();
    while let Some(g) = frontier.pop() {
        if !seen.insert(g.clone()) {
            continue;
        }
        let rows = db.rows(
            "SELECT m.member_id, r.resource_type FROM members m
             JOIN resources r ON r.tenant_id = m.tenant_id AND r.id = m.member_id
             WHERE m.tenant_id = ? AND m.group_id = ? AND r.deleted IS NULL",
            params![tenant_id, g.as_str()],
            |r| Ok((r.text(0)?, r.text(1)?)),
        )?;
        for (member, kind) in rows {
            match kind.as_str() {
                "User" => {
                    out.insert(member);
                }
                "Group" => frontier.push(member),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The users a group's deletion can change the roles of (read before its members go).
pub(crate) fn before_group_delete(
    db: &mut dyn Db,
    tenant_id: i64,
    resource_type: &str,
    id: &str,
) -> Result<BTreeSet<String>, StoreError> {
    let mut users = BTreeSet::new();
    if resource_type == "Group" && has_rules(db, tenant_id)? {
        users_under(db, tenant_id, &[id.to_string()], &mut users)?;
    }
    Ok(users)
}

/// Called for every change record a write appends (after the write's data changes):
/// recomputes the roles of the users the change can affect.
pub(crate) fn on_change(
    db: &mut dyn Db,
    a: &RecordBase<'_>,
    changed: &[String],
    before: Option<&Map<String, Value>>,
    after: Option<&Map<String, Value>>,
    added: &[RecordedMember],
    removed: &[RecordedMember],
) -> Result<(), StoreError> {
    if a.operation == ROLES_CHANGED || !has_rules(db, a.tenant_id)? {
        return Ok(());
    }
    let mut users = BTreeSet::new();
    let mut groups = Vec::new();
    for m in added.iter().chain(removed) {
        match m.kind.as_deref() {
            Some("User") => {
                users.insert(m.value.clone());
            }
            Some("Group") => groups.push(m.value.clone()),
            _ => {}
        }
    }
    match a.resource_type {
        "User" => {
            users.insert(a.resource_id.to_string());
        }
        // A group deleted: handled by the delete itself (`before_group_delete`).
        "Group" if a.operation != "delete" => {
            let names = |d: Option<&Map<String, Value>>, k: &str| {
                d.and_then(|d| d.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let renamed = changed
                .iter()
                .any(|c| c == "displayName" || c == "externalId")
                || a.operation == "restore";
            if renamed {
                let rules = rules(db, a.tenant_id)?;
                // The rules that name the group before and after: its users are affected
                // only when they differ.
                let named = |d: Option<&Map<String, Value>>| -> Vec<bool> {
                    let (display, external) = (names(d, "displayName"), names(d, "externalId"));
                    rules
                        .iter()
                        .map(|r| {
                            d.is_some()
                                && names_group(
                                    r,
                                    a.resource_id,
                                    display.as_deref(),
                                    external.as_deref(),
                                )
                        })
                        .collect()
                };
                if named(before) != named(after) {
                    groups.push(a.resource_id.to_string());
                }
            }
        }
        _ => {}
    }
    if !groups.is_empty() {
        users_under(db, a.tenant_id, &groups, &mut users)?;
    }
    recompute(db, a.tenant_id, &users, a.actor, a.at)
}

/// Validates a rule to add (400 naming the field otherwise).
fn check(spec: &RoleRuleSpec) -> Result<(), StoreError> {
    let role_ok =
        !spec.role.is_empty() && spec.role.len() <= 100 && !spec.role.chars().any(char::is_control);
    if !role_ok {
        return Err(
            ScimError::invalid_value("role: a role must be 1-100 printable characters").into(),
        );
    }
    if spec.pattern && !spec.matches.is_group() {
        return Err(ScimError::invalid_value("pattern: only a group rule can be a pattern").into());
    }
    match (spec.matches, spec.value.as_deref()) {
        (RoleMatch::Default, None) => Ok(()),
        (RoleMatch::Default, Some(_)) => {
            Err(ScimError::invalid_value("value: a default rule takes no value").into())
        }
        (RoleMatch::UserFilter, Some(v)) if !v.is_empty() && spec.filter.is_some() => Ok(()),
        (RoleMatch::UserFilter, _) => {
            Err(ScimError::invalid_value("value: a user_filter rule needs a filter").into())
        }
        (_, Some(v)) if !v.is_empty() && v.len() <= 1000 => Ok(()),
        _ => Err(ScimError::invalid_value("value: a group rule needs the group's value").into()),
    }
}

/// Locks the tenant's row (PostgreSQL) so that rule changes and membership changes of
/// one tenant do not interleave.
fn lock_tenant(db: &mut dyn Db, tenant_id: i64) -> Result<(), StoreError> {
    if db.dialect() == Dialect::Postgres {
        db.row(
            "SELECT id FROM tenants WHERE id = ? FOR UPDATE",
            params![tenant_id],
            |r| r.int(0),
        )?;
    }
    Ok(())
}

/// The users a rule can give a role to.
fn users_of_rule(
    db: &mut dyn Db,
    tenant_id: i64,
    rule: &RoleRule,
) -> Result<BTreeSet<String>, StoreError> {
    let mut users = BTreeSet::new();
    if rule.matches == RoleMatch::UserFilter {
        // The users it matches now (rule changes are rare: one pass over the users).
        let Some(filter) = &rule.filter else {
            return Ok(users);
        };
        let rows = db.rows(
            "SELECT id, data FROM resources
             WHERE tenant_id = ? AND resource_type = 'User' AND deleted IS NULL",
            params![tenant_id],
            |r| Ok((r.text(0)?, r.text(1)?)),
        )?;
        for (id, data) in rows {
            if let Value::Object(doc) = serde_json::from_str::<Value>(&data)?
                && filter.matches(&doc)
            {
                users.insert(id);
            }
        }
        return Ok(users);
    }
    if rule.matches == RoleMatch::Default {
        users.extend(db.rows(
            "SELECT id FROM resources WHERE tenant_id = ? AND resource_type = 'User' AND deleted IS NULL",
            params![tenant_id],
            |r| r.text(0),
        )?);
        return Ok(users);
    }
    // The groups it names (rule changes are rare: one pass over the tenant's groups).
    let groups = db.rows(
        "SELECT id, display, data FROM resources
         WHERE tenant_id = ? AND resource_type = 'Group' AND deleted IS NULL",
        params![tenant_id],
        |r| Ok((r.text(0)?, r.opt_text(1)?, r.text(2)?)),
    )?;
    let mut named = Vec::new();
    for (id, display, data) in groups {
        let external = if rule.matches == RoleMatch::GroupExternalId {
            serde_json::from_str::<Value>(&data)?
                .get("externalId")
                .and_then(Value::as_str)
                .map(str::to_string)
        } else {
            None
        };
        if names_group(rule, &id, display.as_deref(), external.as_deref()) {
            named.push(id);
        }
    }
    users_under(db, tenant_id, &named, &mut users)?;
    Ok(users)
}

pub(crate) fn add_rule(
    db: &mut dyn Db,
    tenant_id: i64,
    spec: &RoleRuleSpec,
    actor: &Actor,
) -> Result<RoleRule, StoreError> {
    check(spec)?;
    lock_tenant(db, tenant_id)?;
    let id = format!("rr_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
    let at = super::now();
    let rule = db.one(
        &format!(
            "INSERT INTO role_rules
             (tenant_id, id, role, match_kind, value, created, pattern, compiled)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING {RULE_COLUMNS}"
        ),
        params![
            tenant_id,
            id.as_str(),
            spec.role.as_str(),
            spec.matches.as_str(),
            spec.value.clone(),
            at.as_str(),
            i64::from(spec.pattern),
            spec.filter
                .as_ref()
                .map(|f| crate::roles::filter_to_json(f).to_string())
        ],
        rule_from_row,
    )?;
    let users = users_of_rule(db, tenant_id, &rule)?;
    recompute(db, tenant_id, &users, actor, &at)?;
    Ok(rule)
}

pub(crate) fn remove_rule(
    db: &mut dyn Db,
    tenant_id: i64,
    rule_id: &str,
    actor: &Actor,
) -> Result<RoleRule, StoreError> {
    lock_tenant(db, tenant_id)?;
    let rule = db
        .row(
            &format!("SELECT {RULE_COLUMNS} FROM role_rules WHERE tenant_id = ? AND id = ?"),
            params![tenant_id, rule_id],
            rule_from_row,
        )?
        .ok_or_else(|| {
            StoreError::from(ScimError::not_found(format!("no role rule '{rule_id}'")))
        })?;
    // The users who may have had its role: by the rule, and by the role stored.
    let mut users = users_of_rule(db, tenant_id, &rule)?;
    users.extend(db.rows(
        "SELECT user_id FROM user_roles WHERE tenant_id = ? AND role = ?",
        params![tenant_id, rule.role.as_str()],
        |r| r.text(0),
    )?);
    db.exec(
        "DELETE FROM role_rules WHERE tenant_id = ? AND id = ?",
        params![tenant_id, rule_id],
    )?;
    // With no rule left, `recompute` empties their roles (each change told).
    let at = super::now();
    recompute(db, tenant_id, &users, actor, &at)?;
    Ok(rule)
}

/// Where a user's roles stood around one of its change records: the positions of the
/// records of that user that decide them (see [`roles_at`]).
struct RolesAround {
    /// The latest `roles_changed` at or before the record's own recompute (`pos + 1`).
    changed_before: Option<i64>,
    /// The latest deletion at or before the record.
    deleted_before: Option<i64>,
    /// The user's creation, when still kept (then its whole history is).
    created: Option<i64>,
    /// The first `roles_changed` after the record's own recompute.
    changed_after: Option<i64>,
    /// The first deletion after the record.
    deleted_after: Option<i64>,
}

/// How the roles of one `(user, position)` are found.
enum RolesSource {
    /// The `roles` of this `roles_changed` record.
    Record(i64),
    /// The roles before this `roles_changed` record (`roles - added + removed`).
    Before(i64),
    /// The user's roles now.
    Current,
    /// None.
    Empty,
    /// Not known: the records that would tell were pruned.
    Unknown,
}

impl RolesAround {
    fn source(&self) -> RolesSource {
        match (self.changed_before, self.deleted_before) {
            // A deletion drops the roles without a record: only a later change counts.
            (Some(c), d) if d.is_none_or(|d| c > d) => return RolesSource::Record(c),
            (_, Some(_)) => return RolesSource::Empty,
            _ => {}
        }
        if self.created.is_some() {
            // The whole history is kept and no role was ever given before.
            return RolesSource::Empty;
        }
        // The user's earlier records were pruned: look forward from the record instead.
        match (self.changed_after, self.deleted_after) {
            (Some(c), d) if d.is_none_or(|d| c < d) => RolesSource::Before(c),
            (None, None) => RolesSource::Current,
            _ => RolesSource::Unknown,
        }
    }
}

/// The roles of a `roles_changed` record's detail, or those before it.
fn roles_of_detail(detail: &Map<String, Value>, before: bool) -> Option<BTreeSet<String>> {
    let list = |k: &str| -> Option<Vec<String>> {
        detail.get(k)?.as_array().map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
    };
    let mut roles: BTreeSet<String> = list("roles")?.into_iter().collect();
    if before {
        for r in list("added")? {
            roles.remove(&r);
        }
        roles.extend(list("removed")?);
    }
    Some(roles)
}

/// The effective roles right after the users' `create` records of `records` (a page of a
/// tenant's log, in order) that the page itself tells, without a look at the rest of the
/// log: [`roles_at`]'s answer for those pairs.
///
/// A new user has no record before its create (ids are new UUIDs, never reused), and a
/// write that gives it roles appends its `roles_changed` record at the next position, in
/// the same commit ([`on_change`] runs right after the write's record). So the record at
/// `p + 1` decides: that user's `roles_changed` gives its roles; any other record, none.
/// When the page does not hold `p + 1`, it decides only if the page is `complete` (it
/// reaches the head of its snapshot, which would include `p + 1` with `p`); otherwise
/// the pair is left to [`roles_at`]. A create-heavy log (a first provisioning) then
/// costs no statement here.
pub(crate) fn roles_after_creates(
    records: &[ChangeRecord],
    complete: bool,
) -> HashMap<(String, i64), Vec<String>> {
    let mut out = HashMap::new();
    for (i, r) in records.iter().enumerate() {
        // A create always has a resource, parsed or left as text (`LogSlice::stored_after`).
        if r.resource_type != "User" || r.operation != "create" {
            continue;
        }
        let roles = match records.get(i + 1) {
            Some(next) if next.seq == r.seq + 1 => {
                if next.operation == ROLES_CHANGED && next.resource_id == r.resource_id {
                    match roles_of_detail(&next.detail, false) {
                        Some(roles) => roles,
                        None => continue,
                    }
                } else {
                    BTreeSet::new()
                }
            }
            None if complete => BTreeSet::new(),
            _ => continue,
        };
        out.insert((r.resource_id.clone(), r.seq), roles.into_iter().collect());
    }
    out
}

/// `chunk` with its last element repeated up to the next power of two (at least 8): a
/// statement with a placeholder group per element then has a handful of shapes, which stay
/// in the connection's statement cache however many are asked (a delivery reader asks for
/// a different number on every read; preparing each anew was 2.4% of the server's CPU under
/// the create workload with two consumers). The repeats only repeat answers.
fn padded<T: Clone>(chunk: &[T]) -> Vec<T> {
    let mut out = chunk.to_vec();
    if let Some(last) = chunk.last() {
        out.resize(chunk.len().next_power_of_two().max(8), last.clone());
    }
    out
}

/// The effective roles of users as of change records of theirs: for each `(user id,
/// position of a record of that user)`, the roles right after that record's write — a
/// user's write recomputes its roles at once, appending its `roles_changed` record right
/// after the write's own record (`position + 1`). Sorted; absent where it cannot be known
/// (a user deleted since, whose records before the position were pruned).
///
/// Read from the change log, so that it is exact for any position, not the roles now: one
/// statement for every pair (each a few probes of `changes_by_resource` under the user's
/// id), one for the records found, and, for users whose earlier records were pruned and
/// whose roles have not changed since, their roles now.
pub(crate) fn roles_at(
    db: &mut dyn Db,
    tenant_id: i64,
    asked: &[(String, i64)],
) -> Result<HashMap<(String, i64), Vec<String>>, StoreError> {
    let mut sources = Vec::with_capacity(asked.len());
    for chunk in asked.chunks(128) {
        let chunk = padded(chunk);
        let values = vec!["(CAST(? AS TEXT), CAST(? AS BIGINT))"; chunk.len()].join(", ");
        let probe = |agg: &str, op: &str, cond: &str| {
            format!(
                "(SELECT {agg}(c.seq) FROM changes c WHERE c.tenant_id = ? \
                 AND c.resource_id = a.user_id AND c.operation = '{op}'{cond})"
            )
        };
        let sql = format!(
            "WITH asked(user_id, pos) AS (VALUES {values})
             SELECT a.user_id, a.pos, {}, {}, {}, {}, {} FROM asked a",
            probe("MAX", ROLES_CHANGED, " AND c.seq <= a.pos + 1"),
            probe("MAX", "delete", " AND c.seq <= a.pos"),
            probe("MIN", "create", ""),
            probe("MIN", ROLES_CHANGED, " AND c.seq > a.pos + 1"),
            probe("MIN", "delete", " AND c.seq > a.pos"),
        );
        let mut args = Vec::with_capacity(chunk.len() * 2 + 5);
        for (user, pos) in &chunk {
            args.push(super::db::SqlValue::from(user));
            args.push(super::db::SqlValue::Int(*pos));
        }
        args.extend(std::iter::repeat_n(super::db::SqlValue::Int(tenant_id), 5));
        sources.extend(db.rows(&sql, &args, |r| {
            let around = RolesAround {
                changed_before: r.opt_int(2)?,
                deleted_before: r.opt_int(3)?,
                created: r.opt_int(4)?,
                changed_after: r.opt_int(5)?,
                deleted_after: r.opt_int(6)?,
            };
            Ok(((r.text(0)?, r.int(1)?), around.source()))
        })?);
    }
    // The records named, by position.
    let seqs: Vec<i64> = sources
        .iter()
        .filter_map(|(_, s)| match s {
            RolesSource::Record(seq) | RolesSource::Before(seq) => Some(*seq),
            _ => None,
        })
        .collect::<BTreeSet<i64>>()
        .into_iter()
        .collect();
    let mut details: HashMap<i64, Map<String, Value>> = HashMap::new();
    for chunk in seqs.chunks(512) {
        let chunk = padded(chunk);
        let marks = vec!["?"; chunk.len()].join(", ");
        let mut args = vec![super::db::SqlValue::Int(tenant_id)];
        args.extend(chunk.iter().map(|s| super::db::SqlValue::Int(*s)));
        for (seq, detail) in db.rows(
            &format!("SELECT seq, detail FROM changes WHERE tenant_id = ? AND seq IN ({marks})"),
            &args,
            |r| Ok((r.int(0)?, r.opt_text(1)?)),
        )? {
            if let Some(Value::Object(d)) = detail
                .map(|d| serde_json::from_str::<Value>(&d))
                .transpose()?
            {
                details.insert(seq, d);
            }
        }
    }
    let current_of: Vec<String> = sources
        .iter()
        .filter(|(_, s)| matches!(s, RolesSource::Current))
        .map(|((user, _), _)| user.clone())
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect();
    let current = if current_of.is_empty() {
        HashMap::new()
    } else {
        roles_of_users(db, tenant_id, &current_of)?
    };
    let mut out = HashMap::with_capacity(sources.len());
    for (key, source) in sources {
        let roles = match source {
            RolesSource::Record(seq) => details.get(&seq).and_then(|d| roles_of_detail(d, false)),
            RolesSource::Before(seq) => details.get(&seq).and_then(|d| roles_of_detail(d, true)),
            RolesSource::Current => Some(
                current
                    .get(&key.0)
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .collect(),
            ),
            RolesSource::Empty => Some(BTreeSet::new()),
            RolesSource::Unknown => None,
        };
        if let Some(roles) = roles {
            out.insert(key, roles.into_iter().collect());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::{ChangeRecord, ROLES_CHANGED, json, padded, roles_after_creates};

    fn record(seq: i64, user: &str, operation: &str) -> ChangeRecord {
        ChangeRecord {
            seq,
            tenant_id: 1,
            resource_type: "User".into(),
            resource_id: user.into(),
            operation: operation.into(),
            changed: Vec::new(),
            before: None,
            after: Some(json!({"userName": user})),
            members_added: Vec::new(),
            members_removed: Vec::new(),
            version: Some(1),
            created: None,
            detail: Default::default(),
            actor: Default::default(),
            at: String::new(),
        }
    }

    #[test]
    fn the_record_after_a_create_tells_its_roles() {
        let mut granted = record(2, "a", ROLES_CHANGED);
        granted.detail = json!({"added": ["x", "w"], "removed": [], "roles": ["x", "w"]})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let page = [
            record(1, "a", "create"),
            granted,
            record(3, "b", "create"),
            record(4, "c", "patch"),
            record(5, "d", "create"),
        ];
        let got = roles_after_creates(&page, false);
        assert_eq!(got[&("a".to_string(), 1)], ["w", "x"]);
        assert!(got[&("b".to_string(), 3)].is_empty());
        // Not a create, or the page cut right after it: left to the log.
        assert!(!got.contains_key(&("c".to_string(), 4)));
        assert!(!got.contains_key(&("d".to_string(), 5)));
        // A page that reaches the head: nothing follows in the commit, so none.
        let got = roles_after_creates(&page, true);
        assert!(got[&("d".to_string(), 5)].is_empty());
        // A gap (records pruned or another page): left to the log.
        let got = roles_after_creates(&[record(1, "a", "create"), record(3, "b", "patch")], true);
        assert!(got.is_empty());
    }

    #[test]
    fn chunks_are_padded_to_few_shapes_with_repeats_of_the_last() {
        assert!(padded::<i64>(&[]).is_empty());
        assert_eq!(padded(&[1]), [1; 8]);
        assert_eq!(padded(&[1, 2, 3, 4, 5, 6, 7, 8, 9]).len(), 16);
        let p = padded(&(0..100).collect::<Vec<_>>());
        assert_eq!(p.len(), 128);
        assert_eq!(&p[..100], (0..100).collect::<Vec<_>>());
        assert!(p[100..].iter().all(|&x| x == 99));
        let shapes: std::collections::BTreeSet<usize> =
            (1..=128).map(|n| padded(&vec![0; n]).len()).collect();
        assert_eq!(shapes.len(), 5, "{shapes:?}");
    }
}
