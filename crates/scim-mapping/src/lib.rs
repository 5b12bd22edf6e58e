//! `scim-mapping`: one small mapping language between records of named fields and SCIM
//! resources, in both directions. `scim sync` uses it to turn source rows into Users and
//! Groups; connector targets use the reverse direction to turn SCIM resources into rows.
//!
//! A mapping file is TOML. Each rule of a `[user]` or `[group]` table maps a SCIM attribute
//! path to a template over the input's fields; `[read.user]` / `[read.group]` map record
//! fields to templates over the SCIM resource's attribute paths (the reverse direction).
//! Rules of the forward direction that only copy one field (`"{email | lower}"`) are read
//! back automatically.
//!
//! ```toml
//! [user]
//! userName = "{email | lower}"
//! externalId = "{employee_id}"
//! "name.givenName" = "{first_name}"
//! displayName = "{first_name} {last_name}"
//! 'emails[type eq "work"].value' = "{email | lower}"
//! active = "{status | in('Active', 'Leave')}"
//! "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" = "{dept | default('None')}"
//! 'phoneNumbers[type eq "mobile"].value' = { value = "{mobile}", when = "{mobile | present}" }
//!
//! [group]
//! displayName = "{name}"
//! members = "{members | split(';')}"
//! ```
//!
//! Every error in a mapping file is found at load time and names the file, the line and the
//! reason; evaluation errors name the attribute.

#![warn(missing_docs)]

pub mod filter;
pub mod path;
pub mod template;

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::{Map, Value};
use toml::Spanned;

pub use path::ScimPath;
pub use template::{EvalError, Fields, Template, TemplateError};

/// The core schema URN of Users.
pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The core schema URN of Groups.
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

/// A mapping file that failed to load: where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct LoadError {
    /// The file's path, as given.
    pub file: String,
    /// 1-based line; 0 when the error concerns the whole file.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

impl LoadError {
    fn render(&self) -> String {
        if self.line == 0 {
            format!("{}: {}", self.file, self.reason)
        } else {
            format!("{}:{}: {}", self.file, self.line, self.reason)
        }
    }
}

/// One input could not be mapped: which attribute (or field) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{attribute}: {reason}")]
pub struct MapError {
    /// The SCIM attribute path (or record field) that could not be mapped.
    pub attribute: String,
    /// Why.
    pub reason: String,
}

/// A record of named fields: a CSV row, a JSON Lines object, a database row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record(pub Map<String, Value>);

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record::default()
    }

    /// Sets a field.
    pub fn insert(&mut self, name: impl Into<String>, value: Value) {
        self.0.insert(name.into(), value);
    }
}

impl Fields for Record {
    /// Exact name, then the name ignoring ASCII case, then a dotted path into nested objects
    /// (`manager.email` in a JSON Lines record).
    fn field(&self, name: &str) -> Option<Value> {
        if let Some(v) = path::get_ci(&self.0, name) {
            return (!v.is_null()).then(|| v.clone());
        }
        let mut parts = name.split('.');
        let mut cur = path::get_ci(&self.0, parts.next()?)?;
        for p in parts {
            cur = path::get_ci(cur.as_object()?, p)?;
        }
        (!cur.is_null()).then(|| cur.clone())
    }
}

/// A SCIM resource read through attribute paths (`name.givenName`, `emails[type eq "work"].value`).
pub struct Resource<'a>(pub &'a Value);

impl Fields for Resource<'_> {
    fn field(&self, name: &str) -> Option<Value> {
        ScimPath::parse(name).ok()?.get(self.0)
    }
}

/// Which resource a section maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Users (`[user]`).
    User,
    /// Groups (`[group]`).
    Group,
}

impl Kind {
    /// The core schema URN of the kind's resources.
    pub fn core_schema(self) -> &'static str {
        match self {
            Kind::User => USER_SCHEMA,
            Kind::Group => GROUP_SCHEMA,
        }
    }

    /// The section's name in a mapping file (`user`, `group`).
    pub fn table(self) -> &'static str {
        match self {
            Kind::User => "user",
            Kind::Group => "group",
        }
    }
}

/// One forward rule: SCIM attribute ← template, optionally only when a condition holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The SCIM attribute written.
    pub target: ScimPath,
    /// What it is set to.
    pub value: Template,
    /// The condition: the rule applies only when it renders true.
    pub when: Option<Template>,
    /// The rule's line in its file (for errors).
    pub line: usize,
}

/// One reverse rule: record field ← template over the resource's attribute paths.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRule {
    /// The record field written.
    pub field: String,
    /// What it is set to, from the resource's attribute paths.
    pub value: Template,
    /// The rule's line in its file (for errors).
    pub line: usize,
}

/// The rules of one resource kind.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// Users or groups.
    pub kind: Kind,
    /// The forward rules (record → SCIM), in file order.
    pub rules: Vec<Rule>,
    /// The reverse rules (SCIM → record): `[read.…]` and the copy rules read back.
    pub read: Vec<ReadRule>,
}

impl Section {
    /// Builds the SCIM resource for one input. Null results and rules whose `when` is not
    /// true set nothing. `schemas` lists the core schema and every extension written.
    pub fn to_resource(&self, input: &dyn Fields) -> Result<Value, MapError> {
        let mut out = Map::new();
        let mut extensions = BTreeSet::new();
        for rule in &self.rules {
            let err = |e: EvalError| MapError {
                attribute: rule.target.to_string(),
                reason: e.0,
            };
            if let Some(cond) = &rule.when {
                match cond.eval(input).map_err(err)? {
                    Value::Bool(true) => {}
                    Value::Bool(false) | Value::Null => continue,
                    other => {
                        return Err(MapError {
                            attribute: rule.target.to_string(),
                            reason: format!("the `when` condition gave {other}, not true/false"),
                        });
                    }
                }
            }
            let v = rule.value.eval(input).map_err(err)?;
            if v.is_null() {
                continue;
            }
            if let Some(urn) = &rule.target.urn {
                extensions.insert(urn.clone());
            }
            rule.target.set(&mut out, v);
        }
        let mut schemas = vec![Value::String(self.kind.core_schema().to_string())];
        schemas.extend(extensions.into_iter().map(Value::String));
        let mut resource = Map::new();
        resource.insert("schemas".into(), Value::Array(schemas));
        resource.extend(out);
        Ok(Value::Object(resource))
    }

    /// Reads a SCIM resource back into a record: the `[read.…]` rules, then every forward
    /// rule that copies a single field (unless a read rule already names that field).
    pub fn to_record(&self, resource: &Value) -> Result<Record, MapError> {
        let input = Resource(resource);
        let mut rec = Record::new();
        for r in &self.read {
            let v = r.value.eval(&input).map_err(|e| MapError {
                attribute: r.field.clone(),
                reason: e.0,
            })?;
            rec.insert(r.field.clone(), v);
        }
        for rule in &self.rules {
            if let Some(field) = rule
                .value
                .single_field()
                .filter(|f| !rec.0.contains_key(*f))
            {
                rec.insert(field, rule.target.get(resource).unwrap_or(Value::Null));
            }
        }
        Ok(rec)
    }

    /// The rule writing `path` (compared ignoring case), if any.
    pub fn rule_for(&self, path: &str) -> Option<&Rule> {
        let p = ScimPath::parse(path).ok()?;
        let key = p.to_string().to_ascii_lowercase();
        self.rules
            .iter()
            .find(|r| r.target.to_string().to_ascii_lowercase() == key)
    }
}

/// A loaded mapping file.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// The `[user]` section, if any.
    pub user: Option<Section>,
    /// The `[group]` section, if any.
    pub group: Option<Section>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    user: Option<BTreeMap<String, Spanned<toml::Value>>>,
    group: Option<BTreeMap<String, Spanned<toml::Value>>>,
    read: Option<RawRead>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRead {
    user: Option<BTreeMap<String, Spanned<toml::Value>>>,
    group: Option<BTreeMap<String, Spanned<toml::Value>>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|s| s.matches('\n').count() + 1)
        .unwrap_or(1)
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &std::path::Path) -> Result<Mapping, LoadError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| LoadError {
            file: file.clone(),
            line: 0,
            reason: format!("cannot read: {e}"),
        })?;
        Mapping::parse(&text, &file)
    }

    /// Parses and checks mapping text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Mapping, LoadError> {
        let err = |line: usize, reason: String| LoadError {
            file: file.to_string(),
            line,
            reason,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start)).unwrap_or(0);
            err(line, e.message().trim().to_string())
        })?;
        let (read_user, read_group) = match raw.read {
            Some(r) => (r.user, r.group),
            None => (None, None),
        };
        let user = section(Kind::User, raw.user, read_user, text, file)?;
        let group = section(Kind::Group, raw.group, read_group, text, file)?;
        if user.is_none() && group.is_none() {
            return Err(err(0, "no [user] or [group] table: nothing to map".into()));
        }
        Ok(Mapping { user, group })
    }

    /// The section of this kind, if the file has one.
    pub fn section(&self, kind: Kind) -> Option<&Section> {
        match kind {
            Kind::User => self.user.as_ref(),
            Kind::Group => self.group.as_ref(),
        }
    }
}

fn template_from(
    v: &toml::Value,
    what: &str,
    line: usize,
    file: &str,
) -> Result<Template, LoadError> {
    let err = |reason: String| LoadError {
        file: file.to_string(),
        line,
        reason,
    };
    let text = match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Boolean(b) => format!("{{{b}}}"),
        toml::Value::Integer(i) => format!("{{{i}}}"),
        other => {
            return Err(err(format!(
                "{what}: expected a template string, found a {}",
                other.type_str()
            )));
        }
    };
    Template::parse(&text).map_err(|e| {
        let extra_lines = text.chars().take(e.offset).filter(|c| *c == '\n').count();
        LoadError {
            file: file.to_string(),
            line: line + extra_lines,
            reason: format!(
                "{what}: {} (at character {} of the template)",
                e.reason,
                e.offset + 1
            ),
        }
    })
}

fn section(
    kind: Kind,
    rules: Option<BTreeMap<String, Spanned<toml::Value>>>,
    read: Option<BTreeMap<String, Spanned<toml::Value>>>,
    text: &str,
    file: &str,
) -> Result<Option<Section>, LoadError> {
    if rules.is_none() && read.is_none() {
        return Ok(None);
    }
    let mut out = Section {
        kind,
        rules: Vec::new(),
        read: Vec::new(),
    };
    let mut seen = BTreeSet::new();
    // Rules apply in file order (the TOML table itself is sorted by key).
    let mut rules: Vec<_> = rules.unwrap_or_default().into_iter().collect();
    rules.sort_by_key(|(_, v)| v.span().start);
    let mut read: Vec<_> = read.unwrap_or_default().into_iter().collect();
    read.sort_by_key(|(_, v)| v.span().start);
    for (key, value) in rules {
        let line = line_of(text, value.span().start);
        let err = |reason: String| LoadError {
            file: file.to_string(),
            line,
            reason,
        };
        let target = ScimPath::parse(&key).map_err(|r| err(format!("[{}] {r}", kind.table())))?;
        if !seen.insert(target.to_string().to_ascii_lowercase()) {
            return Err(err(format!("'{key}' is mapped twice")));
        }
        let (value_t, when) = match value.get_ref() {
            toml::Value::Table(t) => {
                for k in t.keys() {
                    if k != "value" && k != "when" {
                        return Err(err(format!(
                            "{key}: unknown key '{k}' (a rule table has `value` and `when`)"
                        )));
                    }
                }
                let Some(v) = t.get("value") else {
                    return Err(err(format!("{key}: a rule table needs `value`")));
                };
                let v = template_from(v, &key, line, file)?;
                let w = match t.get("when") {
                    Some(w) => Some(template_from(w, &format!("{key}.when"), line, file)?),
                    None => None,
                };
                (v, w)
            }
            other => (template_from(other, &key, line, file)?, None),
        };
        out.rules.push(Rule {
            target,
            value: value_t,
            when,
            line,
        });
    }
    for (field, value) in read {
        let line = line_of(text, value.span().start);
        if field.trim().is_empty() {
            return Err(LoadError {
                file: file.to_string(),
                line,
                reason: "an empty field name".into(),
            });
        }
        let t = template_from(value.get_ref(), &field, line, file)?;
        for name in t.fields() {
            ScimPath::parse(name).map_err(|r| LoadError {
                file: file.to_string(),
                line,
                reason: format!("[read.{}] {field}: {r}", kind.table()),
            })?;
        }
        out.read.push(ReadRule {
            field,
            value: t,
            line,
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SAMPLE: &str = r#"
[user]
userName = "{email | lower}"
externalId = "{employee_id}"
"name.givenName" = "{first_name}"
"name.familyName" = "{last_name}"
displayName = "{first_name} {last_name}"
'emails[type eq "work"].value' = "{email | lower}"
'emails[type eq "work"].primary' = true
active = "{status | in('Active', 'Leave')}"
"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department" = "{dept | default('None')}"
'phoneNumbers[type eq "mobile"].value' = { value = "{mobile}", when = "{mobile | present}" }

[group]
displayName = "{name}"
members = "{members | split(';')}"

[read.user]
full_name = "{name.givenName} {name.familyName}"
"#;

    fn rec(v: Value) -> Record {
        match v {
            Value::Object(m) => Record(m),
            _ => Record::new(),
        }
    }

    #[test]
    fn maps_a_row_to_a_user_and_back() -> Result<(), Box<dyn std::error::Error>> {
        let m = Mapping::parse(SAMPLE, "m.toml")?;
        let user = m.user.as_ref().ok_or("no user")?;
        let row = rec(
            json!({"email": "Ann@X.com", "employee_id": "7", "first_name": "Ann",
            "last_name": "Lee", "status": "leave", "dept": "", "mobile": ""}),
        );
        let r = user.to_resource(&row)?;
        assert_eq!(
            r,
            json!({
                "schemas": [USER_SCHEMA, "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
                "active": true,
                "displayName": "Ann Lee",
                "emails": [{"type": "work", "value": "ann@x.com", "primary": true}],
                "externalId": "7",
                "name": {"familyName": "Lee", "givenName": "Ann"},
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "None"},
                "userName": "ann@x.com"
            })
        );
        let back = user.to_record(&r)?;
        assert_eq!(back.field("full_name"), Some(json!("Ann Lee")));
        assert_eq!(back.field("employee_id"), Some(json!("7")));
        assert_eq!(back.field("email"), Some(json!("ann@x.com")));
        assert_eq!(back.field("mobile"), None);
        let g = m.group.as_ref().ok_or("no group")?;
        let r = g.to_resource(&rec(json!({"name": "Eng", "members": "1; 2"})))?;
        assert_eq!(r["members"], json!(["1", "2"]));
        Ok(())
    }

    #[test]
    fn load_errors_name_file_line_and_reason() {
        let cases = [
            (
                "[user]\nuserName = \"{email | lowr}\"\n",
                2,
                "unknown filter 'lowr'",
            ),
            ("[user]\nuserName = \"{email\"\n", 2, "unclosed '{'"),
            (
                "\n\n[user]\n'emails[type ne \"w\"].value' = \"{e}\"\n",
                4,
                "only `eq`",
            ),
            ("[user]\na = \"{x}\"\nA = \"{y}\"\n", 3, "mapped twice"),
            ("[users]\na = \"{x}\"\n", 1, "unknown field `users`"),
            (
                "[user]\na = { value = \"{x}\", if = \"{y}\" }\n",
                2,
                "unknown key 'if'",
            ),
            ("[user]\na = { when = \"{y}\" }\n", 2, "needs `value`"),
            ("[user]\na = 1.5\n", 2, "expected a template string"),
            ("[user]\na = \"{x | default}\"\n", 2, "takes 1 argument"),
            ("[user]\na = [\n", 2, ""),
            ("", 0, "nothing to map"),
            (
                "[read.user]\nx = \"{emails[type gt \\\"a\\\"].value}\"\n",
                2,
                "only `eq`",
            ),
        ];
        for (text, line, reason) in cases {
            match Mapping::parse(text, "map.toml") {
                Ok(_) => panic!("accepted: {text}"),
                Err(e) => {
                    assert_eq!(e.file, "map.toml");
                    assert_eq!(e.line, line, "{text}: {e}");
                    assert!(e.reason.contains(reason), "{text}: {e}");
                    assert!(e.to_string().starts_with("map.toml:"));
                }
            }
        }
    }

    #[test]
    fn conditions_and_type_errors() -> Result<(), Box<dyn std::error::Error>> {
        let m = Mapping::parse(
            "[user]\nuserName = \"{u}\"\nactive = \"{a | bool}\"\ntitle = { value = \"{t}\", when = \"{t}\" }\n",
            "m",
        )?;
        let s = m.user.as_ref().ok_or("no user")?;
        let e = s.to_resource(&rec(json!({"u": "x", "a": "perhaps"}))).err();
        assert_eq!(e.map(|e| e.attribute), Some("active".to_string()));
        let e = s.to_resource(&rec(json!({"u": "x", "t": "Boss"}))).err();
        assert!(e.is_some_and(|e| e.reason.contains("not true/false")));
        let r = s.to_resource(&rec(json!({"u": "x", "a": "no"})))?;
        assert_eq!(r["active"], json!(false));
        Ok(())
    }

    #[test]
    fn record_fields_nested_and_case_insensitive() {
        let r = rec(json!({"Email": "a", "manager": {"id": "m"}, "n": null}));
        assert_eq!(r.field("email"), Some(json!("a")));
        assert_eq!(r.field("manager.id"), Some(json!("m")));
        assert_eq!(r.field("n"), None);
        assert_eq!(r.field("missing.x"), None);
    }
}
