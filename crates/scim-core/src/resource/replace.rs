//! Replacing a resource with PUT (RFC 7644 §3.5.1).

use serde_json::{Map, Value};

use super::assemble::assemble;
use super::body::parse_body;
use super::required::check_required;
use crate::error::{ScimError, ScimResult};
use crate::schema::{Attribute, Mutability, ResourceType, SchemaRegistry};
use crate::value::equals;

/// Validates a PUT body and merges it with the stored resource, giving the new stored form
/// (with `id` and `meta` kept from `existing`; the caller updates `meta` with
/// [`super::set_meta`]).
///
/// The body is processed as by [`super::prepare_create`], then per attribute mutability:
/// - readWrite: replaced wholesale; an attribute the body omits is cleared;
/// - readOnly (`id`, `meta`, `groups`, …): whatever the body says is ignored, the existing
///   value is kept; readOnly sub-attributes (`manager.displayName`) are
///   kept for values whose `value` did not change;
/// - immutable: once set it cannot change (400 `mutability`); omitted, it is kept;
/// - writeOnly (`password`): kept when the body omits it.
///
/// `id` is readOnly like the rest: an `id` in the body (Okta sends it) is ignored, even
/// one that differs from the resource's (RFC 7644 §3.5.1: readOnly values "SHALL be
/// ignored"); the URL names the resource. Required attributes are checked on the merged
/// result.
pub fn prepare_replace(
    reg: &SchemaRegistry,
    rt: &ResourceType,
    existing: &Map<String, Value>,
    input: Value,
) -> ScimResult<Map<String, Value>> {
    let body = parse_body(reg, rt, input)?;
    let merged = merge(reg, rt, existing, body.attrs)?;
    check_required(reg, rt, &merged)?;
    assemble(reg, rt, merged)
}

fn merge(
    reg: &SchemaRegistry,
    rt: &ResourceType,
    existing: &Map<String, Value>,
    mut new: Map<String, Value>,
) -> ScimResult<Map<String, Value>> {
    let mut out = Map::new();
    for attr in reg.common_attributes() {
        if attr.name == "schemas" {
            continue;
        }
        let v = merge_attr(
            attr,
            &attr.name,
            existing.get(&attr.name),
            new.swap_remove(&attr.name),
        )?;
        if let Some(v) = v {
            out.insert(attr.name.clone(), v);
        }
    }
    let empty = Map::new();
    for (schema, extension, _) in reg.schemas_of(rt) {
        let mut ext_fresh;
        let (old, fresh) = if extension {
            ext_fresh = match new.swap_remove(&schema.id) {
                Some(Value::Object(obj)) => obj,
                _ => Map::new(),
            };
            let old = existing
                .get(&schema.id)
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            (old, &mut ext_fresh)
        } else {
            (existing, &mut new)
        };
        let mut merged = Map::new();
        for attr in &schema.attributes {
            let path = if extension {
                format!("{}:{}", schema.id, attr.name)
            } else {
                attr.name.clone()
            };
            let value = merge_attr(
                attr,
                &path,
                old.get(&attr.name),
                fresh.swap_remove(&attr.name),
            )?;
            if let Some(v) = value {
                merged.insert(attr.name.clone(), v);
            }
        }
        if !extension {
            out.extend(merged);
        } else if !merged.is_empty() {
            out.insert(schema.id.clone(), Value::Object(merged));
        }
    }
    Ok(out)
}

/// The new value of one top-level attribute.
fn merge_attr(
    attr: &Attribute,
    path: &str,
    old: Option<&Value>,
    new: Option<Value>,
) -> ScimResult<Option<Value>> {
    match attr.mutability {
        Mutability::ReadOnly => Ok(old.cloned()),
        Mutability::WriteOnly => Ok(new.or_else(|| old.cloned())),
        Mutability::Immutable => match (old, new) {
            (Some(old), Some(new)) if !same_value(attr, old, &new) => Err(immutable(path)),
            (Some(old), _) => Ok(Some(old.clone())),
            (None, new) => Ok(new),
        },
        Mutability::ReadWrite if attr.is_complex() => {
            if attr.multi_valued {
                Ok(new.map(|new| carry_read_only_elements(attr, old, new)))
            } else {
                merge_single_complex(attr, path, old, new)
            }
        }
        Mutability::ReadWrite => Ok(new),
    }
}

fn immutable(path: &str) -> ScimError {
    ScimError::mutability(format!(
        "attribute '{path}' is immutable: it already has a value, which cannot be changed"
    ))
}

/// A single-valued complex attribute: omitted, it is cleared; sent, its readWrite
/// sub-attributes come from the body and the others follow their own mutability.
fn merge_single_complex(
    attr: &Attribute,
    path: &str,
    old: Option<&Value>,
    new: Option<Value>,
) -> ScimResult<Option<Value>> {
    let old = old.and_then(Value::as_object);
    let mut out = match new {
        Some(Value::Object(obj)) => obj,
        // The readWrite parent is omitted: it is cleared with all its sub-attributes.
        None => return Ok(None),
        Some(other) => return Ok(Some(other)),
    };
    let same_identity = attr
        .sub_attribute("value")
        .is_none_or(|v| old.and_then(|o| o.get(&v.name)) == out.get(&v.name));
    for sub in &attr.sub_attributes {
        let before = old.and_then(|o| o.get(&sub.name));
        match sub.mutability {
            Mutability::ReadWrite => {}
            Mutability::ReadOnly => {
                if let (true, Some(b)) = (same_identity, before) {
                    out.insert(sub.name.clone(), b.clone());
                }
            }
            Mutability::WriteOnly => {
                if let (false, Some(b)) = (out.contains_key(&sub.name), before) {
                    out.insert(sub.name.clone(), b.clone());
                }
            }
            Mutability::Immutable => match (before, out.get(&sub.name)) {
                (Some(b), Some(n)) if !equals(sub, b, n) && b != n => {
                    return Err(immutable(&format!("{path}.{}", sub.name)));
                }
                (Some(b), None) => {
                    out.insert(sub.name.clone(), b.clone());
                }
                _ => {}
            },
        }
    }
    Ok((!out.is_empty()).then_some(Value::Object(out)))
}

/// A multi-valued complex attribute is replaced wholesale, but the readOnly sub-attributes
/// the server set are carried over to elements with the same `value`.
fn carry_read_only_elements(attr: &Attribute, old: Option<&Value>, new: Value) -> Value {
    let read_only: Vec<&Attribute> = attr
        .sub_attributes
        .iter()
        .filter(|s| s.mutability == Mutability::ReadOnly)
        .collect();
    let (Some(Value::Array(old)), Some(value_sub)) = (old, attr.sub_attribute("value")) else {
        return new;
    };
    if read_only.is_empty() {
        return new;
    }
    let Value::Array(mut items) = new else {
        return new;
    };
    for item in &mut items {
        let Value::Object(obj) = item else { continue };
        let Some(v) = obj.get(&value_sub.name) else {
            continue;
        };
        let Some(Value::Object(prev)) = old.iter().find(|o| o.get(&value_sub.name) == Some(v))
        else {
            continue;
        };
        for sub in &read_only {
            if let (false, Some(b)) = (obj.contains_key(&sub.name), prev.get(&sub.name)) {
                obj.insert(sub.name.clone(), b.clone());
            }
        }
    }
    Value::Array(items)
}

/// Equality by the attribute's semantics: strings case-insensitively unless caseExact,
/// multi-valued attributes as sets, complex values sub-attribute by sub-attribute.
pub(super) fn same_value(attr: &Attribute, a: &Value, b: &Value) -> bool {
    if attr.multi_valued {
        return match (a, b) {
            (Value::Array(a), Value::Array(b)) => {
                a.len() == b.len()
                    && a.iter().all(|x| b.iter().any(|y| same_element(attr, x, y)))
                    && b.iter().all(|y| a.iter().any(|x| same_element(attr, x, y)))
            }
            _ => a == b,
        };
    }
    same_element(attr, a, b)
}

fn same_element(attr: &Attribute, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) if attr.is_complex() => {
            a.len() == b.len()
                && a.iter().all(|(k, x)| {
                    b.get(k).is_some_and(|y| {
                        x == y || attr.sub_attribute(k).is_some_and(|s| equals(s, x, y))
                    })
                })
        }
        _ => a == b || equals(attr, a, b),
    }
}
