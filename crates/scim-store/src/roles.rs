//! Group-to-role mapping: the types of per-tenant role rules (see `sql/roles.rs` for how a
//! user's effective roles are kept in step with its memberships and attributes).

use scim_core::filter::{CompValue, CompareOp, Comparison, ResolvedFilter, ResolvedPath};
use scim_core::schema::AttributeType;
use serde_json::{Map, Value, json};

/// What a role rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoleMatch {
    /// Members (direct or through nested groups) of the group with this `displayName`
    /// (case-insensitive, as SCIM compares it).
    GroupDisplayName,
    /// Members of the group with this `externalId` (the identity provider's id).
    GroupExternalId,
    /// Members of the group with this `id`.
    GroupId,
    /// Every active user.
    Default,
    /// Users whose attributes match a SCIM filter (e.g. the enterprise extension's
    /// `department eq "Finance"`), re-evaluated whenever the user changes.
    UserFilter,
}

impl RoleMatch {
    /// The kind's name (`group_display_name`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RoleMatch::GroupDisplayName => "group_display_name",
            RoleMatch::GroupExternalId => "group_external_id",
            RoleMatch::GroupId => "group_id",
            RoleMatch::Default => "default",
            RoleMatch::UserFilter => "user_filter",
        }
    }

    /// Reads a kind's name.
    pub fn parse(s: &str) -> Option<RoleMatch> {
        Some(match s {
            "group_display_name" => RoleMatch::GroupDisplayName,
            "group_external_id" => RoleMatch::GroupExternalId,
            "group_id" => RoleMatch::GroupId,
            "default" => RoleMatch::Default,
            "user_filter" => RoleMatch::UserFilter,
            _ => return None,
        })
    }

    /// Whether the rule names groups (and so may be a pattern).
    pub fn is_group(self) -> bool {
        matches!(
            self,
            RoleMatch::GroupDisplayName | RoleMatch::GroupExternalId | RoleMatch::GroupId
        )
    }
}

/// A role rule to add.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleRuleSpec {
    /// The application role it gives (e.g. `admin`).
    pub role: String,
    /// What the rule matches on.
    pub matches: RoleMatch,
    /// The group's displayName, externalId or id (or a pattern of them), or the text of a
    /// [`RoleMatch::UserFilter`]'s filter; `None` for [`RoleMatch::Default`].
    pub value: Option<String>,
    /// A group rule's `value` is a pattern: `*` stands for any characters, `?` for one.
    pub pattern: bool,
    /// A [`RoleMatch::UserFilter`] rule's filter, resolved against the User schemas by
    /// the caller (the store keeps it resolved: [`filter_to_json`]).
    pub filter: Option<ResolvedFilter>,
}

/// A tenant's role rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleRule {
    /// The rule's id.
    pub id: String,
    /// The application role it gives.
    pub role: String,
    /// What it matches on.
    pub matches: RoleMatch,
    /// The value matched (`None` for [`RoleMatch::Default`]).
    pub value: Option<String>,
    /// Whether `value` is a pattern (`*`, `?`).
    pub pattern: bool,
    /// A [`RoleMatch::UserFilter`] rule's resolved filter.
    pub filter: Option<ResolvedFilter>,
    /// When it was added (RFC 3339).
    pub created: String,
}

/// Whether `text` matches a glob `pattern`: `*` any characters (none too), `?` exactly
/// one, everything else itself.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was, and the text position it is trying to stand for up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && p[pi] == t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A resolved filter as JSON (what `role_rules.compiled` holds).
pub fn filter_to_json(f: &ResolvedFilter) -> Value {
    match f {
        ResolvedFilter::And(l, r) => json!({"and": [filter_to_json(l), filter_to_json(r)]}),
        ResolvedFilter::Or(l, r) => json!({"or": [filter_to_json(l), filter_to_json(r)]}),
        ResolvedFilter::Not(x) => json!({ "not": filter_to_json(x) }),
        ResolvedFilter::Compare(c) => json!({
            "path": path_to_json(&c.path),
            "op": c.op.as_str(),
            "value": c.json(),
        }),
        ResolvedFilter::Present(p) => json!({ "present": path_to_json(p) }),
        ResolvedFilter::ValuePath { attr, filter } => json!({
            "value_path": path_to_json(attr),
            "filter": filter_to_json(filter),
        }),
    }
}

/// The filter [`filter_to_json`] wrote; `None` when the JSON is not one.
pub fn filter_from_json(v: &Value) -> Option<ResolvedFilter> {
    let o = v.as_object()?;
    let pair = |k: &str| -> Option<(ResolvedFilter, ResolvedFilter)> {
        let a = o.get(k)?.as_array()?;
        Some((filter_from_json(a.first()?)?, filter_from_json(a.get(1)?)?))
    };
    if let Some((l, r)) = pair("and") {
        return Some(ResolvedFilter::And(Box::new(l), Box::new(r)));
    }
    if let Some((l, r)) = pair("or") {
        return Some(ResolvedFilter::Or(Box::new(l), Box::new(r)));
    }
    if let Some(x) = o.get("not") {
        return Some(ResolvedFilter::Not(Box::new(filter_from_json(x)?)));
    }
    if let Some(p) = o.get("present") {
        return Some(ResolvedFilter::Present(path_from_json(p)?));
    }
    if let Some(p) = o.get("value_path") {
        return Some(ResolvedFilter::ValuePath {
            attr: path_from_json(p)?,
            filter: Box::new(filter_from_json(o.get("filter")?)?),
        });
    }
    let path = path_from_json(o.get("path")?)?;
    let op = match o.get("op")?.as_str()? {
        "eq" => CompareOp::Eq,
        "ne" => CompareOp::Ne,
        "co" => CompareOp::Co,
        "sw" => CompareOp::Sw,
        "ew" => CompareOp::Ew,
        "gt" => CompareOp::Gt,
        "ge" => CompareOp::Ge,
        "lt" => CompareOp::Lt,
        "le" => CompareOp::Le,
        _ => return None,
    };
    let value = match o.get("value")? {
        Value::Null => CompValue::Null,
        Value::Bool(b) => CompValue::Bool(*b),
        Value::Number(n) => CompValue::Number(n.clone()),
        Value::String(s) => CompValue::String(s.clone()),
        _ => return None,
    };
    Some(ResolvedFilter::Compare(Comparison::new(path, op, value)))
}

fn path_to_json(p: &ResolvedPath) -> Value {
    let mut o = Map::new();
    o.insert("schema".into(), json!(p.schema));
    o.insert("extension".into(), json!(p.extension));
    o.insert("common".into(), json!(p.common));
    o.insert("attr".into(), json!(p.attr));
    o.insert("sub_attr".into(), json!(p.sub_attr));
    o.insert("kind".into(), json!(p.kind));
    o.insert("case_exact".into(), json!(p.case_exact));
    o.insert("multi_valued".into(), json!(p.multi_valued));
    Value::Object(o)
}

fn path_from_json(v: &Value) -> Option<ResolvedPath> {
    let o = v.as_object()?;
    let flag = |k: &str| o.get(k).and_then(Value::as_bool);
    Some(ResolvedPath {
        schema: o.get("schema")?.as_str()?.to_string(),
        extension: flag("extension")?,
        common: flag("common")?,
        attr: o.get("attr")?.as_str()?.to_string(),
        sub_attr: o.get("sub_attr")?.as_str().map(str::to_string),
        kind: serde_json::from_value::<AttributeType>(o.get("kind")?.clone()).ok()?,
        case_exact: flag("case_exact")?,
        multi_valued: flag("multi_valued")?,
    })
}

/// How many users' roles this process has recomputed for the tenant with this uid: the
/// cost measure of role recomputation (one per user a write can affect), for tests and
/// benchmarks.
pub fn recomputations(tenant_uid: &str) -> u64 {
    crate::sql::roles::RECOMPUTED
        .lock()
        .ok()
        .and_then(|m| m.as_ref().and_then(|m| m.get(tenant_uid).copied()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use scim_core::filter::{parse_filter, resolve};
    use scim_core::schema::SchemaRegistry;

    use super::*;

    #[test]
    fn globs() {
        for (p, t) in [
            ("Eng-*", "Eng-Admins"),
            ("*", ""),
            ("*-admins", "eng-admins"),
            ("a?c", "abc"),
            ("a*b*c", "axxbyyc"),
            ("exact", "exact"),
        ] {
            assert!(glob_matches(p, t), "{p} {t}");
        }
        for (p, t) in [
            ("Eng-*", "Sales"),
            ("a?c", "ac"),
            ("a*b", "ac"),
            ("exact", "exactly"),
        ] {
            assert!(!glob_matches(p, t), "{p} {t}");
        }
    }

    #[test]
    fn resolved_filters_survive_json() {
        let reg = SchemaRegistry::builtin().unwrap();
        let rt = reg.resource_type("User").unwrap();
        for text in [
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "Finance""#,
            r#"title sw "VP" and not (active eq false) or emails[type eq "work" and value ew "@x.com"]"#,
            "name.givenName pr",
        ] {
            let f = resolve(&parse_filter(text).unwrap(), &reg, rt).unwrap();
            let back = filter_from_json(&filter_to_json(&f)).unwrap();
            assert_eq!(back, f, "{text}");
        }
    }
}
