//! SCIM attribute paths as mappings name them, and reading/writing them in a JSON resource.
//!
//! ```text
//! path := ( urn ":" )? attr ( "[" sub "eq" string "]" )? ( "." sub )?
//! ```
//!
//! `name.givenName`, `emails[type eq "work"].value`,
//! `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
//! Attribute names match case-insensitively, as in SCIM.

use serde_json::{Map, Value};

/// A parsed attribute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScimPath {
    /// The schema URN of an extension attribute.
    pub urn: Option<String>,
    /// The attribute's name (`emails`, `name`, `department`).
    pub attr: String,
    /// `[name eq "value"]`: which element of a multi-valued attribute.
    pub select: Option<(String, String)>,
    /// The sub-attribute (`givenName` in `name.givenName`).
    pub sub: Option<String>,
}

/// Multi-valued attributes of the core schemas: a path into them writes list elements.
const MULTI_VALUED: &[&str] = &[
    "emails",
    "phonenumbers",
    "ims",
    "photos",
    "addresses",
    "groups",
    "entitlements",
    "roles",
    "x509certificates",
    "members",
];

fn valid_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

impl ScimPath {
    /// Parses a path; the error says what is wrong.
    pub fn parse(text: &str) -> Result<ScimPath, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty attribute path".into());
        }
        let bracket = text.find('[');
        let head_end = bracket.unwrap_or(text.len());
        let head = &text[..head_end];
        let (urn, attr_part) = if head
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
        {
            match head.rfind(':') {
                Some(i) if i + 1 < head.len() => (Some(head[..i].to_string()), &head[i + 1..]),
                _ => {
                    return Err(format!(
                        "'{text}': a URN path needs ':attribute' at the end"
                    ));
                }
            }
        } else {
            (None, head)
        };
        let (attr, mut sub) = match attr_part.split_once('.') {
            Some((a, s)) => (a.to_string(), Some(s.to_string())),
            None => (attr_part.to_string(), None),
        };
        if !valid_name(&attr) {
            return Err(format!("'{attr}' is not an attribute name"));
        }
        let mut select = None;
        if let Some(b) = bracket {
            if sub.is_some() {
                return Err(format!(
                    "'{text}': a [filter] belongs right after the attribute"
                ));
            }
            let rest = &text[b + 1..];
            let Some(close) = rest.rfind(']') else {
                return Err(format!("'{text}': unclosed '['"));
            };
            let inner = rest[..close].trim();
            let after = &rest[close + 1..];
            let mut words = inner.splitn(3, char::is_whitespace);
            let (Some(name), Some(op), Some(value)) = (words.next(), words.next(), words.next())
            else {
                return Err(format!("'{inner}': expected `sub eq \"value\"`"));
            };
            if !op.eq_ignore_ascii_case("eq") {
                return Err(format!("'{inner}': only `eq` selects a list element"));
            }
            if !valid_name(name) {
                return Err(format!("'{name}' is not an attribute name"));
            }
            let value = value.trim();
            let unquoted = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| format!("'{value}': the value must be a \"quoted\" string"))?;
            select = Some((name.to_string(), unquoted.replace("\\\"", "\"")));
            if !after.is_empty() {
                let Some(s) = after.strip_prefix('.') else {
                    return Err(format!("'{text}': expected '.' after ']'"));
                };
                sub = Some(s.to_string());
            }
        }
        if let Some(s) = sub.as_ref().filter(|s| !valid_name(s)) {
            return Err(format!("'{s}' is not a sub-attribute name"));
        }
        Ok(ScimPath {
            urn,
            attr,
            select,
            sub,
        })
    }

    fn multi_valued(&self) -> bool {
        self.select.is_some() || MULTI_VALUED.contains(&self.attr.to_ascii_lowercase().as_str())
    }

    /// The value at this path in `resource`, if present and not null.
    pub fn get(&self, resource: &Value) -> Option<Value> {
        let mut container = resource.as_object()?;
        if let Some(urn) = &self.urn {
            container = get_ci(container, urn)?.as_object()?;
        }
        let value = get_ci(container, &self.attr)?;
        let value = match (&self.select, value) {
            (Some((k, v)), Value::Array(items)) => items.iter().find(|el| {
                el.as_object()
                    .and_then(|o| get_ci(o, k))
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case(v))
            })?,
            (Some(_), _) => return None,
            (None, Value::Array(items)) if self.sub.is_some() => items
                .iter()
                .find(|el| {
                    el.as_object()
                        .and_then(|o| get_ci(o, "primary"))
                        .is_some_and(|p| p == &Value::Bool(true))
                })
                .or_else(|| items.first())?,
            (None, v) => v,
        };
        let out = match (&self.sub, &self.select) {
            (Some(s), _) => get_ci(value.as_object()?, s)?,
            // `emails[type eq "work"]` as one value is the element's `value` (as `set` writes it).
            (None, Some(_)) => value
                .as_object()
                .and_then(|o| get_ci(o, "value"))
                .unwrap_or(value),
            (None, None) => value,
        };
        (!out.is_null()).then(|| out.clone())
    }

    /// Writes `value` at this path, creating objects and list elements as needed.
    pub fn set(&self, resource: &mut Map<String, Value>, value: Value) {
        let container = match &self.urn {
            Some(urn) => match object_at(resource, urn) {
                Some(c) => c,
                None => return,
            },
            None => resource,
        };
        if !self.multi_valued() {
            match &self.sub {
                None => {
                    let key = existing_key(container, &self.attr);
                    container.insert(key, value);
                }
                Some(s) => {
                    let Some(parent) = object_at(container, &self.attr) else {
                        return;
                    };
                    let key = existing_key(parent, s);
                    parent.insert(key, value);
                }
            }
            return;
        }
        let key = existing_key(container, &self.attr);
        if self.select.is_none() && self.sub.is_none() {
            container.insert(key, value);
            return;
        }
        let list = container
            .entry(key)
            .or_insert_with(|| Value::Array(Vec::new()));
        if !list.is_array() {
            *list = Value::Array(Vec::new());
        }
        let Value::Array(items) = list else { return };
        let index = match &self.select {
            Some((k, v)) => items.iter().position(|el| {
                el.as_object()
                    .and_then(|o| get_ci(o, k))
                    .and_then(Value::as_str)
                    .is_some_and(|s| s.eq_ignore_ascii_case(v))
            }),
            None => (!items.is_empty()).then_some(0),
        };
        let index = match index {
            Some(i) => i,
            None => {
                let mut el = Map::new();
                if let Some((k, v)) = &self.select {
                    el.insert(k.clone(), Value::String(v.clone()));
                }
                items.push(Value::Object(el));
                items.len() - 1
            }
        };
        let Some(Value::Object(el)) = items.get_mut(index) else {
            return;
        };
        match (&self.sub, value) {
            (Some(s), v) => {
                let key = existing_key(el, s);
                el.insert(key, v);
            }
            (None, Value::Object(fields)) => el.extend(fields),
            (None, v) => {
                el.insert("value".into(), v);
            }
        }
    }
}

impl std::fmt::Display for ScimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.attr)?;
        if let Some((k, v)) = &self.select {
            write!(f, "[{k} eq \"{}\"]", v.replace('"', "\\\""))?;
        }
        if let Some(s) = &self.sub {
            write!(f, ".{s}")?;
        }
        Ok(())
    }
}

/// A key of `obj` equal to `name` ignoring ASCII case.
pub(crate) fn get_ci<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn existing_key(obj: &Map<String, Value>, name: &str) -> String {
    obj.keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .unwrap_or_else(|| name.to_string())
}

fn object_at<'a>(
    obj: &'a mut Map<String, Value>,
    name: &str,
) -> Option<&'a mut Map<String, Value>> {
    let key = existing_key(obj, name);
    let slot = obj.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    #[test]
    fn parses_the_shapes_mappings_use() {
        let p = ScimPath::parse(r#"emails[type eq "work"].value"#);
        assert_eq!(
            p,
            Ok(ScimPath {
                urn: None,
                attr: "emails".into(),
                select: Some(("type".into(), "work".into())),
                sub: Some("value".into())
            })
        );
        let p = ScimPath::parse(&format!("{ENT}:manager.value"));
        assert!(matches!(p, Ok(ref p) if p.urn.as_deref() == Some(ENT) && p.attr == "manager"));
        for bad in [
            "",
            "9x",
            "a[type ne \"x\"]",
            "a[type eq x]",
            "a.b[c eq \"d\"]",
            "urn:x:",
            "a[b eq \"c\"]x",
        ] {
            assert!(ScimPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn set_then_get_round_trips() {
        let mut r = Map::new();
        let paths = [
            ("userName", json!("ann")),
            ("name.givenName", json!("Ann")),
            (r#"emails[type eq "work"].value"#, json!("a@x")),
            (r#"emails[type eq "work"].primary"#, json!(true)),
            (r#"phoneNumbers[type eq "mobile"].value"#, json!("+1")),
            (&format!("{ENT}:department"), json!("R&D")),
            (&format!("{ENT}:manager.value"), json!("m1")),
        ];
        for (p, v) in &paths {
            let path = ScimPath::parse(p).unwrap_or_else(|e| panic!("{e}"));
            path.set(&mut r, v.clone());
        }
        let r = Value::Object(r);
        for (p, v) in &paths {
            let path = ScimPath::parse(p).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(path.get(&r).as_ref(), Some(v), "{p}");
            assert_eq!(ScimPath::parse(&path.to_string()).as_ref(), Ok(&path));
        }
        assert_eq!(
            r["emails"],
            json!([{"type": "work", "value": "a@x", "primary": true}])
        );
        assert_eq!(
            ScimPath::parse("USERNAME").ok().and_then(|p| p.get(&r)),
            Some(json!("ann"))
        );
    }
}
