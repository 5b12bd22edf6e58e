//! The response representation of a stored resource (RFC 7643 §2.2 `returned`, RFC 7644
//! §3.4.2.5 and §3.9).

use serde_json::{Map, Value};

use crate::projection::{Choice, Projection};
use crate::schema::{Attribute, Mutability, ResourceType, Returned, SchemaRegistry};

/// Renders a stored resource for a response under a projection.
///
/// - `returned: never` and writeOnly attributes (`password`) are never emitted, at any level.
/// - `returned: always` attributes (`id`, `schemas`) are always emitted.
/// - `returned: default` attributes follow `attributes` / `excludedAttributes`;
///   `returned: request` ones appear only when named in `attributes`.
/// - `schemas` lists the core URN and only the extensions present in the output.
/// - Output order: `schemas`, `id`, `externalId`, core attributes in schema order,
///   extensions in resource-type order, `meta`. Keys no schema defines are not emitted.
///
/// It takes the stored representation by value and moves what it keeps into the output.
pub fn render(
    reg: &SchemaRegistry,
    rt: &ResourceType,
    mut stored: Map<String, Value>,
    projection: &Projection,
) -> Map<String, Value> {
    let mut out = Map::new();
    let core = reg.schema(&rt.schema);
    let core_id = core.map_or(rt.schema.as_str(), |s| s.id.as_str());
    let mut schemas = vec![Value::String(core_id.to_string())];
    out.insert("schemas".into(), Value::Null);
    let common = reg.common_attributes();
    let core_attrs = core.map(|s| s.attributes.as_slice()).unwrap_or_default();
    let before_meta = common
        .iter()
        .filter(|a| a.name != "schemas" && a.name != "meta")
        .chain(core_attrs);
    for attr in before_meta {
        if let Some(v) = project_attr(projection, core_id, attr, stored.swap_remove(&attr.name)) {
            out.insert(attr.name.clone(), v);
        }
    }
    for (schema, extension, _) in reg.schemas_of(rt) {
        if !extension {
            continue;
        }
        let Some(Value::Object(mut ext)) = stored.swap_remove(&schema.id) else {
            continue;
        };
        let mut rendered = Map::new();
        for attr in &schema.attributes {
            if let Some(v) = project_attr(projection, &schema.id, attr, ext.swap_remove(&attr.name))
            {
                rendered.insert(attr.name.clone(), v);
            }
        }
        if !rendered.is_empty() {
            schemas.push(Value::String(schema.id.clone()));
            out.insert(schema.id.clone(), Value::Object(rendered));
        }
    }
    for attr in common.iter().filter(|a| a.name == "meta") {
        if let Some(v) = project_attr(projection, core_id, attr, stored.swap_remove(&attr.name)) {
            out.insert(attr.name.clone(), v);
        }
    }
    out.insert("schemas".into(), Value::Array(schemas));
    out
}

/// The rendered value of one top-level attribute, or `None` when it is left out.
fn project_attr(
    projection: &Projection,
    schema: &str,
    attr: &Attribute,
    value: Option<Value>,
) -> Option<Value> {
    let value = value?;
    if attr.returned == Returned::Never || attr.mutability == Mutability::WriteOnly {
        return None;
    }
    let choice = if attr.returned == Returned::Always {
        Choice::Named { excluded_subs: &[] }
    } else {
        let choice = projection.choice(schema, &attr.name)?;
        if attr.returned == Returned::Request && !choice.is_explicit() {
            return None;
        }
        choice
    };
    if !attr.is_complex() {
        return Some(value);
    }
    match value {
        Value::Array(items) => {
            let items: Vec<Value> = items
                .into_iter()
                .filter_map(|item| project_element(attr, item, choice))
                .collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        other => project_element(attr, other, choice),
    }
}

/// One complex value with only the sub-attributes the choice keeps.
fn project_element(attr: &Attribute, value: Value, choice: Choice<'_>) -> Option<Value> {
    let Value::Object(obj) = value else {
        return None;
    };
    let kept: Map<String, Value> = obj
        .into_iter()
        .filter(|(k, _)| attr.sub_attribute(k).is_some_and(|s| choice.keeps_sub(s)))
        .collect();
    (!kept.is_empty()).then_some(Value::Object(kept))
}
