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

/// The values of `path` (a canonical path, possibly URN-qualified, with at most one
/// sub-attribute) in a canonical resource, as index strings.
pub fn extract(data: &Map<String, Value>, attr: &IndexedAttr) -> Vec<String> {
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
}
