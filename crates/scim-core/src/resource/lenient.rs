//! Input leniencies applied before type checks (see IDP-COMPAT.md), and removal of the
//! readOnly sub-attributes a client sent.

use serde_json::{Map, Value};

use crate::error::ScimResult;
use crate::schema::{Attribute, Mutability};
use crate::value::coerce_attribute;

/// Normalises the value of a writable attribute from a request body: `""` and `null` mean
/// "no value", a bare string for a complex attribute with a `value` sub-attribute means
/// `{"value": …}` (Entra's `manager`), types are checked by
/// [`crate::value::coerce_attribute`], and readOnly sub-attributes are dropped (RFC 7644
/// §3.3: readOnly values in a request are ignored). `None` when nothing is left.
pub(super) fn coerce_input(
    attr: &Attribute,
    value: Value,
    path: &str,
) -> ScimResult<Option<Value>> {
    let value = bare_value(attr, blank_to_null(value));
    let Some(value) = coerce_attribute(attr, value, path)? else {
        return Ok(None);
    };
    Ok(strip_read_only_subs(attr, value))
}

/// Normalises one sub-attribute value sent on its own (`name.givenName`).
pub(super) fn coerce_sub_input(
    sub: &Attribute,
    value: Value,
    path: &str,
) -> ScimResult<Option<Value>> {
    crate::value::coerce_simple(sub, blank_to_null(value), path)
}

/// `""` becomes `null` at every level: an empty string is "no value" (Entra clears
/// optional attributes with `""`).
fn blank_to_null(value: Value) -> Value {
    match value {
        Value::String(s) if s.is_empty() => Value::Null,
        Value::Array(items) => Value::Array(items.into_iter().map(blank_to_null).collect()),
        Value::Object(obj) => Value::Object(
            obj.into_iter()
                .map(|(k, v)| (k, blank_to_null(v)))
                .collect(),
        ),
        other => other,
    }
}

/// For a complex attribute with a `value` sub-attribute, a string stands for `{"value": s}`
/// (for a multi-valued one, in each element).
fn bare_value(attr: &Attribute, value: Value) -> Value {
    if !attr.is_complex() {
        return value;
    }
    let Some(sub) = attr.sub_attribute("value") else {
        return value;
    };
    let wrap = |v: Value| match v {
        Value::String(s) => {
            let mut obj = Map::new();
            obj.insert(sub.name.clone(), Value::String(s));
            Value::Object(obj)
        }
        other => other,
    };
    match value {
        Value::Array(items) => Value::Array(items.into_iter().map(wrap).collect()),
        other => wrap(other),
    }
}

/// Removes readOnly sub-attributes from a coerced complex value; elements left empty are
/// dropped. `None` when nothing is left.
fn strip_read_only_subs(attr: &Attribute, value: Value) -> Option<Value> {
    if !attr.is_complex()
        || !attr
            .sub_attributes
            .iter()
            .any(|s| s.mutability == Mutability::ReadOnly)
    {
        return Some(value);
    }
    let strip = |v: Value| -> Option<Value> {
        let Value::Object(mut obj) = v else {
            return Some(v);
        };
        obj.retain(|k, _| {
            attr.sub_attribute(k)
                .is_none_or(|s| s.mutability != Mutability::ReadOnly)
        });
        (!obj.is_empty()).then_some(Value::Object(obj))
    };
    match value {
        Value::Array(items) => {
            let items: Vec<Value> = items.into_iter().filter_map(strip).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        other => strip(other),
    }
}
