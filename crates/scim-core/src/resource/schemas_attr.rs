//! The `schemas` attribute of a request body (RFC 7643 §3, RFC 7644 §3.3).

use serde_json::Value;

use crate::error::{ScimError, ScimResult};
use crate::schema::{ENTRA_GROUP_SCHEMA, ResourceType, SchemaRegistry};

/// The extension URNs (canonical spelling) a body lists in `schemas`.
///
/// The core schema must be listed. Every other URN must be an extension of the resource
/// type, except Microsoft Entra ID's group URN ([`ENTRA_GROUP_SCHEMA`]), which is accepted and
/// dropped. A single string is taken as a one-element list.
pub(super) fn declared_extensions(
    reg: &SchemaRegistry,
    rt: &ResourceType,
    schemas: Option<&Value>,
) -> ScimResult<Vec<String>> {
    let core = core_urn(reg, rt)?;
    let urns: Vec<&str> = match schemas {
        None | Some(Value::Null) => {
            return Err(ScimError::invalid_syntax(format!(
                "the request body has no 'schemas' attribute; it must list {core}"
            )));
        }
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().ok_or_else(|| {
                    ScimError::invalid_syntax(format!(
                        "'schemas' must be an array of schema URN strings, it holds {}",
                        crate::value::describe(v)
                    ))
                })
            })
            .collect::<ScimResult<_>>()?,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "'schemas' must be an array of schema URN strings, got {}",
                crate::value::describe(other)
            )));
        }
    };
    let mut has_core = false;
    let mut extensions: Vec<String> = Vec::new();
    for urn in urns {
        let urn = urn.trim();
        if urn.eq_ignore_ascii_case(core) {
            has_core = true;
        } else if let Some(ext) = reg.extension_of(rt, urn) {
            if !extensions.contains(&ext.id) {
                extensions.push(ext.id.clone());
            }
        } else if !urn.eq_ignore_ascii_case(ENTRA_GROUP_SCHEMA) {
            return Err(ScimError::invalid_value(format!(
                "'schemas' lists '{}', which is not a schema of resource type {}; allowed: {}",
                crate::Sent(urn),
                rt.name,
                allowed(reg, rt)
            )));
        }
    }
    if !has_core {
        return Err(ScimError::invalid_value(format!(
            "'schemas' must list the core schema {core} of resource type {}",
            rt.name
        )));
    }
    Ok(extensions)
}

/// The canonical URN of the resource type's core schema.
pub(super) fn core_urn<'a>(reg: &'a SchemaRegistry, rt: &ResourceType) -> ScimResult<&'a str> {
    reg.schema(&rt.schema)
        .map(|s| s.id.as_str())
        .ok_or_else(|| {
            ScimError::internal(format!(
                "resource type {} refers to schema {}, which is not loaded",
                rt.name, rt.schema
            ))
        })
}

fn allowed(reg: &SchemaRegistry, rt: &ResourceType) -> String {
    reg.schemas_of(rt)
        .map(|(s, _, _)| s.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
