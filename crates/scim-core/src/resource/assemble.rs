//! Canonical ordering of the stored form and the rebuilt `schemas` attribute.

use serde_json::{Map, Value};

use super::schemas_attr::core_urn;
use crate::error::ScimResult;
use crate::schema::{ResourceType, SchemaRegistry};

/// Puts a resource in the stored shape in canonical order — `schemas`, `id`, `externalId`,
/// core attributes in schema order, each extension object (attributes in schema order) in
/// resource-type order, `meta` — and rebuilds `schemas`: the core URN, then each extension
/// that has attributes. Empty extension objects and keys no schema defines are dropped.
pub(super) fn assemble(
    reg: &SchemaRegistry,
    rt: &ResourceType,
    mut attrs: Map<String, Value>,
) -> ScimResult<Map<String, Value>> {
    let core = core_urn(reg, rt)?;
    let mut out = Map::new();
    let mut schemas = vec![Value::String(core.to_string())];
    out.insert("schemas".into(), Value::Null);
    for name in ["id", "externalId"] {
        if let Some(v) = attrs.swap_remove(name) {
            out.insert(name.into(), v);
        }
    }
    for (schema, extension, _) in reg.schemas_of(rt) {
        if !extension {
            for attr in &schema.attributes {
                if let Some(v) = attrs.swap_remove(&attr.name) {
                    out.insert(attr.name.clone(), v);
                }
            }
            continue;
        }
        let Some(Value::Object(mut ext)) = attrs.swap_remove(&schema.id) else {
            continue;
        };
        let mut ordered = Map::new();
        for attr in &schema.attributes {
            if let Some(v) = ext.swap_remove(&attr.name) {
                ordered.insert(attr.name.clone(), v);
            }
        }
        if !ordered.is_empty() {
            schemas.push(Value::String(schema.id.clone()));
            out.insert(schema.id.clone(), Value::Object(ordered));
        }
    }
    if let Some(meta) = attrs.swap_remove("meta") {
        out.insert("meta".into(), meta);
    }
    out.insert("schemas".into(), Value::Array(schemas));
    Ok(out)
}
