//! Point-in-time audit over the change log: a resource's history and its state at any
//! instant, a group's members at an instant (direct and through nested groups), who could
//! sign in at an instant, changes in a period and the diff of a tenant between two instants.
//!
//! Positions, not clocks, are what the audit reasons in: an instant is first turned into
//! the position of the last change record committed at or before it ([`Audit::audit_point`]),
//! and every answer is "the tenant after that record". The storage behind it (the interval
//! tables of `sql/audit.rs`) is derived from the change log; the pure parts — what changed
//! between two documents, whether a user counts as active — are here, beside the types.

use std::collections::BTreeSet;

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::StoreError;
use crate::model::{ChangeRecord, StoredResource, Tenant};

/// An instant resolved to a position of the tenant's change log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Point {
    /// The instant asked for, as stored times are written (UTC, milliseconds).
    pub at: String,
    /// The position of the last change record at or before `at` (0: before the first).
    pub seq: i64,
}

/// A member of a group at a position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberAt {
    /// The member's id.
    pub value: String,
    /// `User`, `Group`, or absent for an id that was not a resource of the tenant.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// A direct member of the group asked about.
    pub direct: bool,
    /// The nested groups it is a member of, for members through nested groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<String>,
}

/// A user at a position, as "who could sign in" lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserAt {
    /// The user's id.
    pub id: String,
    /// The user's `userName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The user's `active` (`None`, JSON null: never set, which counts as active).
    pub active: Option<bool>,
}

/// A change of a user's `active` attribute.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveChange {
    /// The change record's position.
    pub seq: i64,
    /// When it was committed.
    pub at: String,
    /// The user's id.
    pub id: String,
    /// The user's `userName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// What the client did (`create`, `patch`, `delete`, …).
    pub operation: String,
    /// `active` before (`null`: not set, or the user did not exist).
    pub old: Value,
    /// `active` after (`null`: not set, or the user was deleted).
    pub new: Value,
    /// The name of the token the change was made with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The request's `X-Request-Id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// One changed attribute, with its value before and after (`null`: no value).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributeChange {
    /// The attribute's canonical path.
    pub attribute: String,
    /// Its value before.
    pub old: Value,
    /// Its value after.
    pub new: Value,
}

/// A resource named in a diff.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffResource {
    /// `User`, `Group`, or a custom type's name.
    pub resource_type: String,
    /// The resource's id.
    pub id: String,
    /// `displayName`, else `userName` (at the later instant, else the earlier).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// For `updated`: what changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<AttributeChange>,
}

/// A membership that began or ended between two instants.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DiffMember {
    /// The group's id.
    pub group: String,
    /// The member's id.
    pub value: String,
    /// The member's resource type, when it is a resource of the tenant.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// How a tenant differs between two positions: what exists at `to` and not at `from`, and
/// so on. Changes undone in between do not show.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct TenantDiff {
    /// The earlier position.
    pub from: i64,
    /// The later position.
    pub to: i64,
    /// Resources that exist at `to` and not at `from`.
    pub created: Vec<DiffResource>,
    /// Resources that exist at `from` and not at `to`.
    pub deleted: Vec<DiffResource>,
    /// Resources at both whose attributes differ.
    pub updated: Vec<DiffResource>,
    /// Memberships at `to` and not at `from`.
    pub members_added: Vec<DiffMember>,
    /// Memberships at `from` and not at `to`.
    pub members_removed: Vec<DiffMember>,
}

/// Which change records to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeQuery {
    /// Records after this position …
    pub from: i64,
    /// … up to and including this one.
    pub to: i64,
    /// Only records of this resource type.
    pub resource_type: Option<String>,
    /// `create`, `replace`, `patch`, `delete`, `restore`.
    pub operation: Option<String>,
    /// The name of the token the change was made with.
    pub token: Option<String>,
    /// Most records in the answer (the caller pages on with `from` = the last `seq`).
    pub limit: u32,
}

/// The operations a change record can name.
pub const OPERATIONS: [&str; 5] = ["create", "replace", "patch", "delete", "restore"];

/// Most records one [`Audit::audit_changes`] or [`Audit::audit_history`] answer holds.
pub const MAX_LIMIT: u32 = 10_000;

/// The audit, implemented by every store.
#[async_trait]
pub trait Audit: Send + Sync {
    /// The position of the last change record committed at or before `instant` (RFC 3339).
    /// 400 `invalidValue` for an unparsable instant, an instant before the tenant existed,
    /// or one older than the change records kept.
    async fn audit_point(&self, tenant: &Tenant, instant: &str) -> Result<Point, StoreError>;

    /// Brings the tenant's audit index up to date with its change log; returns how many
    /// records it indexed. Every audit answer does this first; a background job may call
    /// it to keep that cheap.
    async fn audit_catch_up(&self, tenant_id: i64) -> Result<u64, StoreError>;

    /// Every change record of a resource after position `after`, oldest first.
    async fn audit_history(
        &self,
        tenant_id: i64,
        resource_id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError>;

    /// A resource as it was at a position: attributes, `meta` (version, created,
    /// lastModified) and, for a group, its direct members. `None` if it did not exist.
    async fn audit_state(
        &self,
        tenant_id: i64,
        resource_id: &str,
        seq: i64,
    ) -> Result<Option<StoredResource>, StoreError>;

    /// A group's members at a position, ordered by id: direct ones, and with `nested`
    /// also the members of its member groups (cycles cut). `None` if the group did not
    /// exist then.
    async fn audit_members(
        &self,
        tenant_id: i64,
        group_id: &str,
        seq: i64,
        nested: bool,
    ) -> Result<Option<Vec<MemberAt>>, StoreError>;

    /// The users that existed at a position and were active (`active` not `false`),
    /// ordered by id.
    async fn audit_active_users(&self, tenant_id: i64, seq: i64)
    -> Result<Vec<UserAt>, StoreError>;

    /// The changes of users' `active` after position `from` up to `to`, in order.
    async fn audit_active_changes(
        &self,
        tenant_id: i64,
        from: i64,
        to: i64,
    ) -> Result<Vec<ActiveChange>, StoreError>;

    /// The change records in a period, filtered (see [`ChangeQuery`]).
    async fn audit_changes(
        &self,
        tenant_id: i64,
        query: ChangeQuery,
    ) -> Result<Vec<ChangeRecord>, StoreError>;

    /// How the tenant at position `to` differs from the tenant at position `from`.
    async fn audit_diff(
        &self,
        tenant_id: i64,
        from: i64,
        to: i64,
    ) -> Result<TenantDiff, StoreError>;
}

/// Whether a user document counts as active: `active` is not `false` (not set is active,
/// as identity providers and `docs/events.md` treat it).
pub fn is_active(data: &Map<String, Value>) -> bool {
    active_flag(data) != Some(false)
}

/// The document's `active`, read leniently (`"False"` is false).
pub fn active_flag(data: &Map<String, Value>) -> Option<bool> {
    data.get("active").and_then(scim_core::value::parse_bool)
}

/// What a member list or a group reference shows for a resource: `displayName`, else
/// `userName`.
pub fn display_of(data: &Map<String, Value>) -> Option<String> {
    data.get("displayName")
        .or_else(|| data.get("userName"))
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// The attributes that differ between two documents, in canonical paths: top-level
/// attributes, the sub-attributes of a single complex attribute (`name.givenName`) and the
/// attributes of an extension (`urn:…:User:department`). Multi-valued attributes compare
/// whole. Sorted by path.
pub fn diff_documents(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<AttributeChange> {
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        if key == "schemas" {
            continue;
        }
        let (a, b) = (old.get(key), new.get(key));
        if a == b {
            continue;
        }
        let extension = key.starts_with("urn:");
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let sep = if extension { ":" } else { "." };
                let inner: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in inner {
                    let (p, q) = (x.get(k), y.get(k));
                    if p != q {
                        out.push(AttributeChange {
                            attribute: format!("{key}{sep}{k}"),
                            old: p.cloned().unwrap_or(Value::Null),
                            new: q.cloned().unwrap_or(Value::Null),
                        });
                    }
                }
            }
            _ => out.push(AttributeChange {
                attribute: key.clone(),
                old: a.cloned().unwrap_or(Value::Null),
                new: b.cloned().unwrap_or(Value::Null),
            }),
        }
    }
    out.sort_by(|x, y| x.attribute.cmp(&y.attribute));
    out
}

/// The value at a canonical attribute path in a stored document: `name.givenName`, or
/// `urn:…:User:department` (an extension's attributes are kept under its URN).
pub fn lookup<'a>(doc: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    let (container, rest): (&Map<String, Value>, &str) = match path.rfind(':') {
        Some(i) if path.starts_with("urn:") => (doc.get(&path[..i])?.as_object()?, &path[i + 1..]),
        _ => (doc, path),
    };
    let mut parts = rest.split('.');
    let mut value = container.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// The attribute changes a change record carries: each changed path with its value in
/// `before` and `after` (`null`: none). A members record carries none (its members do).
pub fn record_changes(record: &ChangeRecord) -> Vec<AttributeChange> {
    if record.is_members_change() {
        return Vec::new();
    }
    let obj = |v: &Option<Value>| v.as_ref().and_then(Value::as_object).cloned();
    let (before, after) = (obj(&record.before), obj(&record.after));
    record
        .changed
        .iter()
        .map(|path| AttributeChange {
            attribute: path.clone(),
            old: before
                .as_ref()
                .and_then(|d| lookup(d, path))
                .cloned()
                .unwrap_or(Value::Null),
            new: after
                .as_ref()
                .and_then(|d| lookup(d, path))
                .cloned()
                .unwrap_or(Value::Null),
        })
        .collect()
}

/// The current time as the audit writes instants (UTC, milliseconds).
pub fn now_instant() -> String {
    crate::sql::now()
}

/// A change record as the audit shows it (JSON, camelCase): position, time, resource,
/// operation, actor, the changed attributes with old and new values, the members added
/// or removed, the version after the change and what else the record says (`detail`).
pub fn record_json(c: &ChangeRecord) -> Value {
    let mut out = Map::new();
    out.insert("position".into(), Value::from(c.seq));
    out.insert("at".into(), Value::from(c.at.clone()));
    out.insert("resourceType".into(), Value::from(c.resource_type.clone()));
    out.insert("id".into(), Value::from(c.resource_id.clone()));
    out.insert("operation".into(), Value::from(c.operation.clone()));
    let mut actor = Map::new();
    if let Some(t) = &c.actor.token_name {
        actor.insert("token".into(), Value::from(t.clone()));
    }
    if let Some(r) = &c.actor.request_id {
        actor.insert("requestId".into(), Value::from(r.clone()));
    }
    out.insert("actor".into(), Value::Object(actor));
    if let Some(v) = c.version {
        out.insert("version".into(), Value::from(v));
    }
    let changes = record_changes(c);
    if !changes.is_empty() {
        out.insert(
            "changes".into(),
            serde_json::to_value(changes).unwrap_or(Value::Null),
        );
    }
    for (key, list) in [
        ("membersAdded", &c.members_added),
        ("membersRemoved", &c.members_removed),
    ] {
        if !list.is_empty() {
            out.insert(
                key.into(),
                serde_json::to_value(list).unwrap_or(Value::Null),
            );
        }
    }
    if !c.detail.is_empty() {
        out.insert("detail".into(), Value::Object(c.detail.clone()));
    }
    Value::Object(out)
}

/// Parses an instant given to the audit (RFC 3339, any offset) into a stored time (UTC,
/// milliseconds): 400 `invalidValue` otherwise.
pub fn parse_instant(text: &str) -> Result<String, StoreError> {
    let t = scim_core::value::parse_datetime(text.trim()).ok_or_else(|| {
        scim_core::ScimError::invalid_value(format!(
            "'{}' is not an instant: use RFC 3339, e.g. 2026-03-14T09:00:00Z",
            scim_core::Sent(text)
        ))
    })?;
    Ok(crate::sql::format_time(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn diffs_name_sub_attributes_and_extension_attributes() {
        let ent = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let a = doc(json!({"schemas": ["x"], "userName": "a", "active": true,
            "name": {"givenName": "A", "familyName": "F"}, ent: {"department": "Sales"},
            "emails": [{"value": "a@x"}]}));
        let b = doc(json!({"schemas": ["y"], "userName": "a", "active": false,
            "name": {"givenName": "B", "familyName": "F"}, ent: {"department": "Finance"},
            "title": "Boss"}));
        let got: Vec<(String, Value, Value)> = diff_documents(&a, &b)
            .into_iter()
            .map(|c| (c.attribute, c.old, c.new))
            .collect();
        assert_eq!(
            got,
            vec![
                ("active".into(), json!(true), json!(false)),
                ("emails".into(), json!([{"value": "a@x"}]), Value::Null),
                ("name.givenName".into(), json!("A"), json!("B")),
                ("title".into(), Value::Null, json!("Boss")),
                (
                    format!("{ent}:department"),
                    json!("Sales"),
                    json!("Finance")
                ),
            ]
        );
        assert!(diff_documents(&a, &a).is_empty());
    }

    #[test]
    fn active_is_not_false() {
        assert!(is_active(&doc(json!({"userName": "a"}))));
        assert!(is_active(&doc(json!({"active": true}))));
        assert!(!is_active(&doc(json!({"active": false}))));
        assert!(!is_active(&doc(json!({"active": "False"}))));
    }

    #[test]
    fn instants_are_normalised_or_refused() {
        assert_eq!(
            parse_instant("2026-03-14T10:00:00+01:00").unwrap(),
            "2026-03-14T09:00:00.000Z"
        );
        assert_eq!(
            parse_instant("2026-03-14T09:00:00.123456Z").unwrap(),
            "2026-03-14T09:00:00.123Z"
        );
        for bad in ["", "yesterday", "2026-03-14", "2026-13-01T00:00:00Z"] {
            let e = parse_instant(bad).unwrap_err();
            assert!(matches!(e, StoreError::Scim(s) if s.status == 400), "{bad}");
        }
    }

    #[test]
    fn lookup_reads_paths() {
        let d = doc(json!({"name": {"givenName": "A"},
            "urn:x:User": {"department": "D"}}));
        assert_eq!(lookup(&d, "name.givenName"), Some(&json!("A")));
        assert_eq!(lookup(&d, "urn:x:User:department"), Some(&json!("D")));
        assert_eq!(lookup(&d, "nickName"), None);
    }

    proptest::proptest! {
        #[test]
        fn parse_instant_never_panics(s in ".{0,40}") {
            let _ = parse_instant(&s);
        }

        #[test]
        fn a_diff_applied_gives_the_new_document(
            a in proptest::collection::btree_map("[a-c]", 0i64..3, 0..3),
            b in proptest::collection::btree_map("[a-c]", 0i64..3, 0..3),
        ) {
            let to_doc = |m: &std::collections::BTreeMap<String, i64>| -> Map<String, Value> {
                m.iter().map(|(k, v)| (k.clone(), json!(v))).collect()
            };
            let (old, new) = (to_doc(&a), to_doc(&b));
            let mut patched = old.clone();
            for c in diff_documents(&old, &new) {
                if c.new.is_null() {
                    patched.remove(&c.attribute);
                } else {
                    patched.insert(c.attribute, c.new);
                }
            }
            proptest::prop_assert_eq!(to_sorted(&patched), to_sorted(&new));
        }
    }

    fn to_sorted(m: &Map<String, Value>) -> Vec<(String, Value)> {
        let mut v: Vec<_> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}
