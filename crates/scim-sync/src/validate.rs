//! Checking desired resources against the target's `/Schemas` before anything is sent:
//! an attribute the target does not know stops the run (it is a mapping or column mistake,
//! the same for every row); a value of the wrong type skips its row. The plan workspace
//! ([`crate::workspace`]) checks each row as it is loaded.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

#[derive(Debug, Clone)]
struct Attr {
    kind: String,
    multi: bool,
    subs: HashMap<String, Attr>,
}

fn attrs_of(list: Option<&Value>) -> HashMap<String, Attr> {
    let mut out = HashMap::new();
    for a in list.and_then(Value::as_array).into_iter().flatten() {
        let Some(name) = a.get("name").and_then(Value::as_str) else {
            continue;
        };
        out.insert(
            name.to_ascii_lowercase(),
            Attr {
                kind: a
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("string")
                    .to_ascii_lowercase(),
                multi: a
                    .get("multiValued")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                subs: attrs_of(a.get("subAttributes")),
            },
        );
    }
    out
}

/// The attributes of the target's schemas, by schema URN.
#[derive(Debug, Clone, Default)]
pub struct Schemas {
    by_urn: HashMap<String, HashMap<String, Attr>>,
}

const COMMON: &[&str] = &["schemas", "id", "externalid", "meta"];

impl Schemas {
    /// The schemas of `/Schemas` documents (attributes by URN).
    pub fn from_documents(docs: &[Value]) -> Schemas {
        let mut by_urn = HashMap::new();
        for d in docs {
            if let Some(id) = d.get("id").and_then(Value::as_str) {
                by_urn.insert(id.to_ascii_lowercase(), attrs_of(d.get("attributes")));
            }
        }
        Schemas { by_urn }
    }

    /// Whether no schema was read.
    pub fn is_empty(&self) -> bool {
        self.by_urn.is_empty()
    }

    /// Unknown attribute names in `resource` of the core schema `core` (as `path` texts).
    fn unknown(&self, core: &str, resource: &Value, out: &mut Vec<String>) {
        let Some(obj) = resource.as_object() else {
            return;
        };
        let Some(core_attrs) = self.by_urn.get(&core.to_ascii_lowercase()) else {
            return;
        };
        for (k, v) in obj {
            let lk = k.to_ascii_lowercase();
            if COMMON.contains(&lk.as_str()) {
                continue;
            }
            if lk.starts_with("urn:") {
                match self.by_urn.get(&lk) {
                    None => out.push(format!("{k} (no such schema)")),
                    Some(ext) => {
                        for sk in v.as_object().into_iter().flat_map(|o| o.keys()) {
                            if !ext.contains_key(&sk.to_ascii_lowercase()) {
                                out.push(format!("{k}:{sk}"));
                            }
                        }
                    }
                }
                continue;
            }
            match core_attrs.get(&lk) {
                None => out.push(k.clone()),
                Some(a) if !a.subs.is_empty() => {
                    let elements: Vec<&Value> = match v {
                        Value::Array(items) => items.iter().collect(),
                        other => vec![other],
                    };
                    for el in elements {
                        for sk in el.as_object().into_iter().flat_map(|o| o.keys()) {
                            if !a.subs.contains_key(&sk.to_ascii_lowercase()) {
                                out.push(format!("{k}.{sk}"));
                            }
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }

    /// A value of the wrong type in `resource`, if any.
    fn type_error(&self, core: &str, resource: &Value) -> Option<String> {
        let obj = resource.as_object()?;
        let attrs = self.by_urn.get(&core.to_ascii_lowercase())?;
        for (k, v) in obj {
            let Some(a) = attrs.get(&k.to_ascii_lowercase()) else {
                continue;
            };
            let ok = match (a.kind.as_str(), v) {
                (_, Value::Null) => true,
                (_, Value::Array(_)) => a.multi,
                ("boolean", v) => v.is_boolean(),
                ("integer", v) => v.is_i64() || v.is_u64(),
                ("decimal", v) => v.is_number(),
                ("complex", v) => v.is_object() || a.multi,
                ("string" | "reference" | "datetime" | "binary", v) => v.is_string(),
                _ => true,
            };
            if !ok {
                return Some(format!("{k}: {v} is not a valid {} value", a.kind));
            }
        }
        None
    }
}

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

impl Schemas {
    /// Adds the attributes of a desired user the target does not know to `out` (an error
    /// for the whole run: a mapping or column mistake).
    pub fn unknown_user(&self, resource: &Value, out: &mut BTreeSet<String>) {
        let mut v = Vec::new();
        self.unknown(USER, resource, &mut v);
        out.extend(v);
    }

    /// Adds the attributes of a desired group the target does not know to `out`.
    pub fn unknown_group(&self, resource: &Value, out: &mut BTreeSet<String>) {
        let mut v = Vec::new();
        self.unknown(GROUP, resource, &mut v);
        out.extend(v);
    }

    /// A value of the wrong type in a desired user (its row is skipped), if any.
    pub fn user_type_error(&self, resource: &Value) -> Option<String> {
        self.type_error(USER, resource)
    }
}
