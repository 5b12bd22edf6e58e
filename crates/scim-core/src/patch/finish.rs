//! What is checked and computed once all operations have applied: `schemas`, required and
//! immutable attributes, and the list of changed attribute paths.

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::schema::{Attribute, Mutability, ResourceType, SchemaRegistry};

use super::normalize::{same_value, simple_equal};

/// Where an attribute of one schema lives in a resource document.
fn lookup<'d>(
    doc: &'d Map<String, Value>,
    schema: &str,
    extension: bool,
    name: &str,
) -> Option<&'d Value> {
    let container = if extension {
        doc.get(schema)?.as_object()?
    } else {
        doc
    };
    container.get(name).filter(|v| !v.is_null())
}

fn qualified(schema: &str, extension: bool, name: &str) -> String {
    if extension {
        format!("{schema}:{name}")
    } else {
        name.to_string()
    }
}

fn urn_eq(v: &Value, urn: &str) -> bool {
    v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(urn))
}

/// Drops empty extension objects and makes `schemas` list exactly the extensions present
/// (the core schema first if it was missing; other entries kept in their order).
pub(crate) fn sync_schemas(
    doc: &mut Map<String, Value>,
    registry: &SchemaRegistry,
    rt: &ResourceType,
) {
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for (schema, extension, _) in registry.schemas_of(rt) {
        if !extension {
            continue;
        }
        match doc.get(&schema.id) {
            Some(Value::Object(o)) if !o.is_empty() => present.push(schema.id.as_str()),
            Some(_) => {
                doc.shift_remove(&schema.id);
                absent.push(schema.id.as_str());
            }
            None => absent.push(schema.id.as_str()),
        }
    }
    let old: Vec<Value> = match doc.get("schemas") {
        Some(Value::Array(a)) => a.clone(),
        Some(v @ Value::String(_)) => vec![v.clone()],
        _ => Vec::new(),
    };
    let mut next: Vec<Value> = old
        .iter()
        .filter(|s| !absent.iter().any(|a| urn_eq(s, a)))
        .cloned()
        .collect();
    if !next.iter().any(|s| urn_eq(s, &rt.schema)) {
        next.insert(0, Value::String(rt.schema.clone()));
    }
    for urn in present {
        if !next.iter().any(|s| urn_eq(s, urn)) {
            next.push(Value::String(urn.to_string()));
        }
    }
    if doc.get("schemas") != Some(&Value::Array(next.clone())) {
        doc.insert("schemas".into(), Value::Array(next));
    }
}

/// Required attributes that had a value must still have one (RFC 7644 §3.5.2.2: 400
/// `mutability`).
pub(crate) fn check_required(
    registry: &SchemaRegistry,
    rt: &ResourceType,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
    external: Option<&str>,
) -> ScimResult<()> {
    for (schema, extension, _) in registry.schemas_of(rt) {
        for attr in schema.attributes.iter().filter(|a| a.required) {
            let path = qualified(&schema.id, extension, &attr.name);
            if external.is_some_and(|e| e.eq_ignore_ascii_case(&path)) {
                continue;
            }
            if lookup(before, &schema.id, extension, &attr.name).is_some()
                && lookup(after, &schema.id, extension, &attr.name).is_none()
            {
                return Err(ScimError::mutability(format!(
                    "attribute '{path}' is required and cannot be removed"
                )));
            }
        }
    }
    Ok(())
}

/// Immutable attributes (and immutable sub-attributes of single complex attributes) that
/// had a value must keep it (RFC 7643 §7, RFC 7644 §3.5.2: 400 `mutability`).
pub(crate) fn check_immutable(
    registry: &SchemaRegistry,
    rt: &ResourceType,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> ScimResult<()> {
    let err = |path: String| {
        ScimError::mutability(format!(
            "attribute '{path}' is immutable: it can be set when it has no value, but not changed or removed"
        ))
    };
    for (schema, extension, _) in registry.schemas_of(rt) {
        for attr in &schema.attributes {
            let b = lookup(before, &schema.id, extension, &attr.name);
            let a = lookup(after, &schema.id, extension, &attr.name);
            if attr.mutability == Mutability::Immutable {
                if b.is_some() && !same_value(attr, b, a) {
                    return Err(err(qualified(&schema.id, extension, &attr.name)));
                }
                continue;
            }
            if attr.multi_valued || !attr.is_complex() {
                continue;
            }
            for sub in attr
                .sub_attributes
                .iter()
                .filter(|s| s.mutability == Mutability::Immutable)
            {
                let bs = b.and_then(|v| v.get(&sub.name));
                let as_ = a.and_then(|v| v.get(&sub.name));
                if let Some(old) = bs
                    && !as_.is_some_and(|new| simple_equal(sub, old, new))
                {
                    let base = qualified(&schema.id, extension, &attr.name);
                    return Err(err(format!("{base}.{}", sub.name)));
                }
            }
        }
    }
    Ok(())
}

fn diff_attr(
    out: &mut Vec<String>,
    base: String,
    attr: &Attribute,
    b: Option<&Value>,
    a: Option<&Value>,
) {
    if b == a {
        return;
    }
    if attr.is_complex() && !attr.multi_valued {
        let before = out.len();
        for sub in &attr.sub_attributes {
            if b.and_then(|v| v.get(&sub.name)) != a.and_then(|v| v.get(&sub.name)) {
                out.push(format!("{base}.{}", sub.name));
            }
        }
        if out.len() > before {
            return;
        }
    }
    out.push(base);
}

/// The canonical paths of the attributes whose stored value differs, in schema order:
/// `active`, `name.givenName` (sub-attributes of single complex attributes one by one),
/// `emails` (multi-valued attributes as a whole),
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`.
pub(crate) fn changed_paths(
    registry: &SchemaRegistry,
    rt: &ResourceType,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Vec<String> {
    let mut out = Vec::new();
    for attr in registry.common_attributes() {
        if attr.name == "externalId" {
            diff_attr(
                &mut out,
                attr.name.clone(),
                attr,
                before.get(&attr.name),
                after.get(&attr.name),
            );
        }
    }
    for (schema, extension, _) in registry.schemas_of(rt) {
        for attr in &schema.attributes {
            diff_attr(
                &mut out,
                qualified(&schema.id, extension, &attr.name),
                attr,
                lookup(before, &schema.id, extension, &attr.name),
                lookup(after, &schema.id, extension, &attr.name),
            );
        }
    }
    out
}
