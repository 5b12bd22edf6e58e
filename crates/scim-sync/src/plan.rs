//! The plan: what the target must receive to hold what the source says, computed before
//! any write from the target's current state.

use scim_client::PatchOp;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::source::{MatchKey, Skipped};
use crate::workspace::PlanCounts;

/// What to do with target users that are missing from the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaverPolicy {
    /// Set `active` to false.
    Deactivate,
    /// Delete them.
    Delete,
    /// Leave them as they are.
    Ignore,
}

/// A user to create.
#[derive(Debug, Clone, Serialize)]
pub struct Create {
    /// Its match key.
    pub key: String,
    /// Its line in the source.
    pub line: u64,
    /// The resource to POST.
    pub resource: Value,
}

/// A user or group to change with a PATCH.
#[derive(Debug, Clone, Serialize)]
pub struct Update {
    /// Its match key (a group's name).
    pub key: String,
    /// Its id on the target.
    pub id: String,
    /// The PATCH operations (only what differs).
    pub operations: Vec<PatchOp>,
}

/// A target user the source no longer has.
#[derive(Debug, Clone, Serialize)]
pub struct Leaver {
    /// Its match key.
    pub key: String,
    /// Its id on the target.
    pub id: String,
    /// Its `userName`, for people reading the plan.
    #[serde(rename = "userName")]
    pub user_name: String,
}

/// A group to create.
#[derive(Debug, Clone, Serialize)]
pub struct GroupCreate {
    /// Its `displayName`.
    pub name: String,
    /// The resource to POST (without members: those are added by membership PATCHes).
    pub resource: Value,
}

/// A member named by user key; `id` is known unless the user is created by this plan.
#[derive(Debug, Clone, Serialize)]
pub struct MemberRef {
    /// The user's match key.
    pub key: String,
    /// The user's id on the target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// The membership changes of one group.
#[derive(Debug, Clone, Serialize)]
pub struct Membership {
    /// The group's `displayName`.
    pub group: String,
    /// `None` for a group this plan creates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Members to add.
    pub add: Vec<MemberRef>,
    /// Members to remove.
    pub remove: Vec<MemberRef>,
}

/// Everything a run will write, in the order it writes it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Users to create.
    pub creates: Vec<Create>,
    /// Users to update.
    pub updates: Vec<Update>,
    /// Groups to create.
    pub group_creates: Vec<GroupCreate>,
    /// Groups to update.
    pub group_updates: Vec<Update>,
    /// Membership changes, per group.
    pub memberships: Vec<Membership>,
    /// Users to deactivate (leavers).
    pub deactivations: Vec<Leaver>,
    /// Users to delete (leavers).
    pub deletes: Vec<Leaver>,
    /// Source rows not used, with their reasons.
    pub skipped: Vec<Skipped>,
    /// Members named by a group that no source user has.
    pub unknown_members: Vec<String>,
    /// Users the target holds with a match key (the base of the delete guard's percentage).
    pub managed_users: usize,
    /// Why leavers were held back, when they were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leavers_held: Option<String>,
}

impl Plan {
    /// How many memberships it adds.
    pub fn member_adds(&self) -> usize {
        self.memberships.iter().map(|m| m.add.len()).sum()
    }

    /// How many memberships it removes.
    pub fn member_removes(&self) -> usize {
        self.memberships.iter().map(|m| m.remove.len()).sum()
    }

    /// True when applying it writes nothing.
    pub fn is_empty(&self) -> bool {
        self.counts().is_empty()
    }

    /// How many items of each kind it holds.
    pub fn counts(&self) -> PlanCounts {
        PlanCounts {
            creates: self.creates.len(),
            updates: self.updates.len(),
            group_creates: self.group_creates.len(),
            group_updates: self.group_updates.len(),
            memberships: self.memberships.len(),
            member_adds: self.member_adds(),
            member_removes: self.member_removes(),
            deactivations: self.deactivations.len(),
            deletes: self.deletes.len(),
            skipped: self.skipped.len(),
            unknown_members: self.unknown_members.len(),
            managed_users: self.managed_users,
            leavers_held: self.leavers_held.clone(),
        }
    }

    /// A readable summary: counts, then the first few items of each action.
    pub fn render(&self, limit: usize) -> String {
        render(self, &self.counts(), limit)
    }
}

/// The summary of a plan of which `head` holds (at least) the first `limit` items of
/// each kind and `counts` the numbers: what [`Plan::render`] prints, and what a plan kept
/// in the workspace prints without loading it.
pub fn render(head: &Plan, counts: &PlanCounts, limit: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Plan: {} to create, {} to update, {} to deactivate, {} to delete; {} groups to create, {} to update; {} member additions, {} removals.",
        counts.creates,
        counts.updates,
        counts.deactivations,
        counts.deletes,
        counts.group_creates,
        counts.group_updates,
        counts.member_adds,
        counts.member_removes
    );
    for c in head.creates.iter().take(limit) {
        let _ = writeln!(s, "  + user {} (line {})", c.key, c.line);
    }
    more(&mut s, counts.creates, limit);
    for u in head.updates.iter().take(limit) {
        let paths: Vec<_> = u
            .operations
            .iter()
            .filter_map(|o| o.path.as_deref())
            .collect();
        let _ = writeln!(s, "  ~ user {}: {}", u.key, paths.join(", "));
    }
    more(&mut s, counts.updates, limit);
    for l in head.deactivations.iter().take(limit) {
        let _ = writeln!(s, "  - deactivate {} ({})", l.key, l.user_name);
    }
    more(&mut s, counts.deactivations, limit);
    for l in head.deletes.iter().take(limit) {
        let _ = writeln!(s, "  - delete {} ({})", l.key, l.user_name);
    }
    more(&mut s, counts.deletes, limit);
    for g in head.group_creates.iter().take(limit) {
        let _ = writeln!(s, "  + group {}", g.name);
    }
    more(&mut s, counts.group_creates, limit);
    for g in head.group_updates.iter().take(limit) {
        let _ = writeln!(s, "  ~ group {}", g.key);
    }
    for m in head.memberships.iter().take(limit) {
        let _ = writeln!(
            s,
            "  group {}: +{} -{} members",
            m.group,
            m.add.len(),
            m.remove.len()
        );
    }
    more(&mut s, counts.memberships, limit);
    if let Some(why) = &counts.leavers_held {
        let _ = writeln!(s, "  ! leavers held back: {why}");
    }
    if counts.unknown_members > 0 {
        let _ = writeln!(
            s,
            "  ! {} group members name no source user (first: {})",
            counts.unknown_members,
            head.unknown_members
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for k in head.skipped.iter().take(limit) {
        let _ = writeln!(s, "  ! skipped {}:{}: {}", k.source, k.line, k.reason);
    }
    more(&mut s, counts.skipped, limit);
    s
}

fn more(s: &mut String, n: usize, limit: usize) {
    if n > limit {
        s.push_str(&format!("    … and {} more\n", n - limit));
    }
}

pub(crate) fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Values equal as SCIM compares them: booleans against "true"/"false" text, objects by
/// the desired side's members, multi-valued attributes as sets of the same size.
pub fn same(desired: &Value, current: Option<&Value>) -> bool {
    let current = current.unwrap_or(&Value::Null);
    match (desired, current) {
        (Value::Null, _) => true,
        (Value::Bool(b), Value::String(s)) | (Value::String(s), Value::Bool(b)) => {
            s.eq_ignore_ascii_case(if *b { "true" } else { "false" })
        }
        (Value::Number(a), Value::String(s)) | (Value::String(s), Value::Number(a)) => {
            a.to_string() == *s
        }
        (Value::Object(d), Value::Object(c)) => d.iter().all(|(k, v)| same(v, get_ci(c, k))),
        (Value::Array(d), Value::Array(c)) => {
            let d: Vec<_> = d.iter().filter(|v| !v.is_null()).collect();
            d.len() == c.len() && d.iter().all(|dv| c.iter().any(|cv| same(dv, Some(cv))))
        }
        (Value::Array(d), Value::Null) => d.is_empty(),
        (d, c) => d == c,
    }
}

const NOT_COMPARED: &[&str] = &["schemas", "id", "meta", "groups", "members", "password"];

/// The PATCH operations that make `current` carry what `desired` says: one `replace` per
/// differing attribute (sub-attributes of complex and extension attributes separately).
/// Attributes the source does not provide are left alone.
pub fn diff(desired: &Value, current: &Value) -> Vec<PatchOp> {
    let mut ops = Vec::new();
    let (Some(d), Some(c)) = (desired.as_object(), current.as_object()) else {
        return ops;
    };
    for (k, dv) in d {
        if NOT_COMPARED.iter().any(|n| n.eq_ignore_ascii_case(k)) || dv.is_null() {
            continue;
        }
        let cv = get_ci(c, k);
        match dv {
            Value::Object(sub) => {
                let cur = cv.and_then(Value::as_object);
                let is_urn = k.len() > 4 && k[..4].eq_ignore_ascii_case("urn:");
                for (sk, sv) in sub {
                    if sv.is_null() || same(sv, cur.and_then(|o| get_ci(o, sk))) {
                        continue;
                    }
                    let path = if is_urn {
                        format!("{k}:{sk}")
                    } else {
                        format!("{k}.{sk}")
                    };
                    ops.push(PatchOp::replace(path, sv.clone()));
                }
            }
            _ => {
                if !same(dv, cv) {
                    ops.push(PatchOp::replace(k.clone(), dv.clone()));
                }
            }
        }
    }
    ops
}

pub(crate) fn is_active(resource: &Value) -> bool {
    match resource.as_object().and_then(|o| get_ci(o, "active")) {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.eq_ignore_ascii_case("false"),
        _ => true,
    }
}

pub(crate) fn text(resource: &Value, name: &str) -> String {
    resource
        .as_object()
        .and_then(|o| get_ci(o, name))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Options of planning.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Which attribute pairs source and target users.
    pub key: MatchKey,
    /// What to do with target users the source does not have.
    pub leavers: LeaverPolicy,
    /// Delete groups the source does not have (never by default).
    pub delete_groups: bool,
    /// Plan deactivations even when source rows were skipped.
    pub allow_partial: bool,
}

/// The delete guard: how many deactivations and deletes a run may carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Limit {
    /// At most this many.
    Count(usize),
    /// At most this percentage of the target's managed users.
    Percent(f64),
}

impl Limit {
    /// Reads `25` (a count) or `10%` (a percentage).
    pub fn parse(s: &str) -> Result<Limit, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("'{s}' is not a percentage"))?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("'{s}' is not between 0% and 100%"));
            }
            return Ok(Limit::Percent(v));
        }
        s.parse()
            .map(Limit::Count)
            .map_err(|_| format!("'{s}' is neither a count nor a percentage"))
    }

    /// The largest number allowed out of `base`. A percentage is rounded up, so that a
    /// small directory may still lose one user (10% of 5 allows 1, not 0).
    pub fn allowed(self, base: usize) -> usize {
        match self {
            Limit::Count(n) => n,
            Limit::Percent(p) => ((base as f64) * p / 100.0).ceil() as usize,
        }
    }
}

/// Refuses a plan whose deactivations and deletes exceed the limit, unless `allow` (the
/// `--allow-deletes N` the operator typed) covers them.
pub fn guard(plan: &Plan, limit: Limit, allow: Option<usize>) -> Result<(), String> {
    guard_counts(&plan.counts(), limit, allow)
}

/// [`guard`] on a plan's counts (all the guard needs).
pub fn guard_counts(counts: &PlanCounts, limit: Limit, allow: Option<usize>) -> Result<(), String> {
    let n = counts.deactivations + counts.deletes;
    let allowed = limit.allowed(counts.managed_users);
    if n <= allowed || allow.is_some_and(|a| n <= a) {
        return Ok(());
    }
    Err(format!(
        "the plan deactivates or deletes {n} of {} managed users, more than the limit of {allowed} ({}); \
         if the source is right, run again with --allow-deletes {n}",
        counts.managed_users,
        match limit {
            Limit::Count(c) => format!("{c}"),
            Limit::Percent(p) => format!("{p}%"),
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn diff_is_minimal() {
        let d = json!({"schemas": [], "userName": "a", "name": {"givenName": "A", "familyName": "B"},
            "emails": [{"type": "work", "value": "a@x", "primary": true}], "active": true,
            "urn:x:User": {"department": "R"}});
        let c = json!({"id": "1", "userName": "a", "name": {"givenName": "A", "familyName": "C", "formatted": "A C"},
            "emails": [{"type": "work", "value": "a@x", "primary": true}], "active": "True",
            "urn:x:User": {"department": "S"}});
        let ops = diff(&d, &c);
        assert_eq!(
            ops,
            vec![
                PatchOp::replace("name.familyName", json!("B")),
                PatchOp::replace("urn:x:User:department", json!("R")),
            ]
        );
        assert!(diff(&d, &d).is_empty());
    }

    #[test]
    fn limits() {
        assert_eq!(Limit::parse("10%"), Ok(Limit::Percent(10.0)));
        assert_eq!(Limit::parse("5"), Ok(Limit::Count(5)));
        assert!(Limit::parse("x").is_err() && Limit::parse("120%").is_err());
        assert_eq!(Limit::Percent(10.0).allowed(95), 10);
        assert_eq!(Limit::Percent(10.0).allowed(5), 1);
        assert_eq!(Limit::Percent(10.0).allowed(100), 10);
        assert_eq!(Limit::Percent(0.0).allowed(100), 0);
    }
}
