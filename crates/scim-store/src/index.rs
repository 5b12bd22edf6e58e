//! Which attribute values a store indexes, and extracting them from a resource.

use std::collections::HashMap;

use scim_core::path::AttrPath;
use scim_core::schema::{AttributeType, SchemaRegistry, Uniqueness};
use serde_json::{Map, Value};

use crate::model::IndexedAttr;

/// Attributes indexed for every resource type that has them: the ones identity providers
/// match on (IDP-COMPAT.md) on every provisioning cycle.
const MATCHED_ON: [&str; 4] = ["userName", "externalId", "displayName", "emails.value"];

/// The indexed attributes of each resource type (keyed by resource type name).
#[derive(Debug, Clone, Default)]
pub struct IndexPlan {
    by_type: HashMap<String, Vec<IndexedAttr>>,
}

impl IndexPlan {
    /// The indexed attributes of a resource type (none for an unknown one).
    pub fn for_type(&self, resource_type: &str) -> &[IndexedAttr] {
        self.by_type
            .get(resource_type)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The indexed attribute with this canonical path, if it is indexed.
    pub fn find(&self, resource_type: &str, path: &str) -> Option<&IndexedAttr> {
        self.for_type(resource_type).iter().find(|a| a.path == path)
    }
}

/// Works out the index plan from the schemas: the attributes providers match on, plus every
/// simple attribute with `uniqueness` server or global (those get a unique index).
pub fn indexed_attributes(registry: &SchemaRegistry) -> IndexPlan {
    let mut by_type = HashMap::new();
    for rt in registry.resource_types() {
        let mut attrs: Vec<IndexedAttr> = Vec::new();
        let mut push = |path: String, fold_case: bool, unique: bool| {
            if let Some(existing) = attrs.iter_mut().find(|a| a.path == path) {
                existing.unique |= unique;
            } else {
                attrs.push(IndexedAttr {
                    path,
                    fold_case,
                    unique,
                });
            }
        };
        for path in MATCHED_ON {
            let Ok(p) = AttrPath::parse(path) else {
                continue;
            };
            if let Some(r) = registry.resolve(rt, &p) {
                let t = r.target();
                push(
                    r.canonical_path(),
                    !t.compares_exactly(),
                    t.uniqueness != Uniqueness::None && !r.attr.multi_valued,
                );
            }
        }
        for (schema, extension, _) in registry.schemas_of(rt) {
            for a in &schema.attributes {
                if a.uniqueness == Uniqueness::None
                    || a.multi_valued
                    || a.kind == AttributeType::Complex
                {
                    continue;
                }
                let path = if extension {
                    format!("{}:{}", schema.id, a.name)
                } else {
                    a.name.clone()
                };
                push(path, !a.compares_exactly(), true);
            }
        }
        by_type.insert(rt.name.clone(), attrs);
    }
    IndexPlan { by_type }
}

/// Distinct values of one attribute of one resource that are indexed one by one. Beyond
/// this, the resource gets a single entry for the attribute instead (`UNINDEXED`): the
/// index work of one write stays bounded (a PATCH replacing 1,000 emails rewrote 1,000
/// entries on the shared writer, holding every other tenant's writes behind it), and a
/// filter on the attribute reads such resources as candidates and evaluates them.
pub const MAX_INDEXED_VALUES: usize = 100;

/// What [`extract`] gives for an attribute with more than [`MAX_INDEXED_VALUES`] distinct
/// values: "this resource may hold any value". It is stored as [`unindexed_entry`].
pub(crate) const UNINDEXED: &str = "\u{1}unindexed";

/// The stored index entry of a resource whose attribute is not indexed value by value: one
/// value per tenant, resource type and attribute, so that PostgreSQL's hash index on the
/// value alone finds one tenant's such resources without walking every tenant's. A real
/// value equal to it is only an extra candidate, which the evaluator settles.
pub(crate) fn unindexed_entry(tenant_id: i64, resource_type: &str, attr: &str) -> String {
    format!("{UNINDEXED}\u{1}{tenant_id}\u{1}{resource_type}\u{1}{attr}")
}

/// The index strings of `path` (a canonical path, possibly URN-qualified, with at most one
/// sub-attribute) in a canonical resource: its distinct values, or [`UNINDEXED`] alone when
/// there are more than [`MAX_INDEXED_VALUES`].
pub(crate) fn extract(data: &Map<String, Value>, attr: &IndexedAttr) -> Vec<String> {
    let mut values = values_of(data, attr);
    if values.len() > MAX_INDEXED_VALUES {
        values = vec![UNINDEXED.to_string()];
    }
    values
}

/// The distinct values of `path` in a canonical resource, as index strings.
fn values_of(data: &Map<String, Value>, attr: &IndexedAttr) -> Vec<String> {
    let Ok(path) = AttrPath::parse(&attr.path) else {
        return Vec::new();
    };
    let container = match &path.schema {
        Some(urn) => match data.get(urn.as_str()) {
            Some(Value::Object(o)) => o,
            _ => return Vec::new(),
        },
        None => data,
    };
    let mut out = Vec::new();
    let mut push = |v: &Value| {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return,
        };
        out.push(if attr.fold_case {
            scim_core::value::fold_case(&s)
        } else {
            s
        });
    };
    let top = container.get(path.attr.as_str());
    match (&path.sub_attr, top) {
        (None, Some(Value::Array(items))) => items.iter().for_each(&mut push),
        (None, Some(v)) => push(v),
        (Some(sub), Some(Value::Array(items))) => {
            for item in items {
                if let Some(v) = item.get(sub.as_str()) {
                    push(v);
                }
            }
        }
        (Some(sub), Some(Value::Object(o))) => {
            if let Some(v) = o.get(sub.as_str()) {
                push(v);
            }
        }
        _ => {}
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn user_plan_indexes_matched_attributes_and_unique_user_name() {
        let reg = SchemaRegistry::builtin().unwrap();
        let plan = indexed_attributes(&reg);
        let user_name = plan.find("User", "userName").unwrap();
        assert!(user_name.unique && user_name.fold_case);
        let ext = plan.find("User", "externalId").unwrap();
        assert!(!ext.unique && !ext.fold_case);
        assert!(plan.find("User", "emails.value").is_some());
        assert!(plan.find("Group", "displayName").is_some());
        assert!(plan.find("Group", "userName").is_none());
    }

    #[test]
    fn extracts_folded_values() {
        let attr = IndexedAttr {
            path: "emails.value".into(),
            fold_case: true,
            unique: false,
        };
        let data =
            json!({"emails": [{"value": "A@X.com"}, {"value": "b@x.com"}, {"type": "home"}]});
        let data = data.as_object().unwrap();
        assert_eq!(extract(data, &attr), vec!["a@x.com", "b@x.com"]);
    }

    #[test]
    fn an_attribute_with_too_many_values_gets_one_entry() {
        let attr = IndexedAttr {
            path: "emails.value".into(),
            fold_case: true,
            unique: false,
        };
        let emails = |n: usize| -> Map<String, Value> {
            let list: Vec<Value> = (0..n)
                .map(|i| json!({"value": format!("u{i}@x.com")}))
                .collect();
            json!({ "emails": list })
                .as_object()
                .cloned()
                .unwrap_or_default()
        };
        assert_eq!(
            extract(&emails(MAX_INDEXED_VALUES), &attr).len(),
            MAX_INDEXED_VALUES
        );
        assert_eq!(
            extract(&emails(MAX_INDEXED_VALUES + 1), &attr),
            vec![UNINDEXED.to_string()]
        );
        // Duplicates count once.
        let mut twice = emails(MAX_INDEXED_VALUES);
        if let Some(Value::Array(list)) = twice.get_mut("emails") {
            let copy = list.clone();
            list.extend(copy);
        }
        assert_eq!(extract(&twice, &attr).len(), MAX_INDEXED_VALUES);
    }
}
