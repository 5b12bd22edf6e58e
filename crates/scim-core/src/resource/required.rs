//! Required attributes (RFC 7643 §2.2 `required`, §6 required extensions).

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::schema::{Attribute, Mutability, ResourceType, SchemaRegistry};

/// Checks that every required writable attribute has a value, that every required
/// sub-attribute is present in each value of its (present) parent, and that required
/// extensions are present. Errors are 400 `invalidValue` naming everything missing.
pub(super) fn check_required(
    reg: &SchemaRegistry,
    rt: &ResourceType,
    resource: &Map<String, Value>,
) -> ScimResult<()> {
    let mut missing: Vec<String> = Vec::new();
    for (schema, extension, required) in reg.schemas_of(rt) {
        let (container, prefix) = if extension {
            match resource.get(&schema.id) {
                Some(Value::Object(obj)) => (obj, format!("{}:", schema.id)),
                _ => {
                    if required {
                        missing.push(schema.id.clone());
                    }
                    continue;
                }
            }
        } else {
            (resource, String::new())
        };
        for attr in &schema.attributes {
            check_attr(attr, container.get(&attr.name), &prefix, &mut missing);
        }
    }
    match missing.as_slice() {
        [] => Ok(()),
        [one] => Err(ScimError::invalid_value(format!(
            "required attribute '{one}' is missing or empty"
        ))),
        many => Err(ScimError::invalid_value(format!(
            "required attributes are missing or empty: {}",
            many.iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

fn check_attr(attr: &Attribute, value: Option<&Value>, prefix: &str, missing: &mut Vec<String>) {
    if attr.mutability == Mutability::ReadOnly {
        // Set by the service provider, never by the client.
        return;
    }
    let Some(value) = value else {
        if attr.required {
            missing.push(format!("{prefix}{}", attr.name));
        }
        return;
    };
    if !attr.is_complex() {
        return;
    }
    let elements: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    for sub in attr
        .sub_attributes
        .iter()
        .filter(|s| s.required && s.mutability != Mutability::ReadOnly)
    {
        if elements.iter().any(|e| e.get(&sub.name).is_none()) {
            let path = format!("{prefix}{}.{}", attr.name, sub.name);
            if !missing.contains(&path) {
                missing.push(path);
            }
        }
    }
}
