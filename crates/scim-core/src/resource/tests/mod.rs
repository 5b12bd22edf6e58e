//! Tests of resource input and output, with the request bodies identity providers really send
//! (IDP-COMPAT.md).

mod create;
mod idp;
mod meta;
mod output;
mod replace;

use serde_json::{Map, Value, json};

use super::*;
use crate::error::{ScimResult, ScimType};
use crate::projection::Projection;
use crate::schema::{ResourceType, SchemaRegistry};

pub(super) const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(super) const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(super) const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub(super) const DEVICE: &str = "urn:example:scim:Device";
pub(super) const DEVICE_EXT: &str = "urn:example:scim:DeviceSite";

/// The built-in registry plus a `Device` resource type whose schema exercises every
/// characteristic: required, immutable, writeOnly, returned never/request, readOnly
/// sub-attributes, and a required extension.
pub(super) fn registry() -> SchemaRegistry {
    let mut reg = SchemaRegistry::builtin().unwrap();
    reg.add_json(
        "device.json",
        &json!([
            {"id": DEVICE, "name": "Device", "attributes": [
                {"name": "serialNumber", "type": "string", "required": true, "mutability": "immutable"},
                {"name": "owner", "type": "complex", "subAttributes": [
                    {"name": "value", "type": "string", "required": true},
                    {"name": "display", "type": "string", "mutability": "readOnly"},
                    {"name": "pin", "type": "string", "mutability": "writeOnly", "returned": "never"},
                    {"name": "badge", "type": "string", "mutability": "immutable"}]},
                {"name": "secret", "type": "string", "returned": "never"},
                {"name": "firmwareKey", "type": "string", "mutability": "writeOnly", "returned": "never"},
                {"name": "note", "type": "string", "returned": "request"},
                {"name": "tags", "type": "complex", "multiValued": true, "subAttributes": [
                    {"name": "value", "type": "string"},
                    {"name": "hidden", "type": "string", "returned": "never"},
                    {"name": "extra", "type": "string", "returned": "request"},
                    {"name": "kind", "type": "string", "returned": "always"},
                    {"name": "addedBy", "type": "string", "mutability": "readOnly"}]},
                {"name": "ports", "type": "integer", "multiValued": true},
                {"name": "bought", "type": "dateTime"},
                {"name": "caseTag", "type": "string", "caseExact": true}
            ]},
            {"id": DEVICE_EXT, "name": "DeviceSite", "attributes": [
                {"name": "site", "type": "string", "required": true},
                {"name": "rack", "type": "string", "mutability": "readOnly"}
            ]},
            {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
             "id": "Device", "name": "Device", "endpoint": "/Devices", "schema": DEVICE,
             "schemaExtensions": [{"schema": DEVICE_EXT, "required": true}]}
        ])
        .to_string(),
    )
    .unwrap();
    reg
}

pub(super) fn rt(reg: &SchemaRegistry, name: &str) -> ResourceType {
    reg.resource_type(name).unwrap().clone()
}

pub(super) fn create(rt_name: &str, body: Value) -> ScimResult<Map<String, Value>> {
    let reg = registry();
    let rt = rt(&reg, rt_name);
    prepare_create(&reg, &rt, body)
}

pub(super) fn replace(
    rt_name: &str,
    existing: &Map<String, Value>,
    body: Value,
) -> ScimResult<Map<String, Value>> {
    let reg = registry();
    let rt = rt(&reg, rt_name);
    prepare_replace(&reg, &rt, existing, body)
}

/// Renders with `attributes` / `excludedAttributes` as given.
pub(super) fn render_with(
    rt_name: &str,
    stored: &Map<String, Value>,
    attributes: Option<&str>,
    excluded: Option<&str>,
) -> Value {
    let reg = registry();
    let rt = rt(&reg, rt_name);
    let projection = Projection::parse(&reg, &rt, attributes, excluded).unwrap();
    Value::Object(render(&reg, &rt, stored.clone(), &projection))
}

pub(super) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// Asserts a 400 with this scimType whose detail contains `needle`.
pub(super) fn assert_err<T: std::fmt::Debug>(r: ScimResult<T>, scim_type: ScimType, needle: &str) {
    let e = r.unwrap_err();
    assert_eq!(e.status, 400, "{e}");
    assert_eq!(e.scim_type, Some(scim_type), "{e}");
    assert!(
        e.detail.contains(needle),
        "detail {:?} lacks {needle:?}",
        e.detail
    );
}

/// A stored user as the server keeps it after create + set_meta.
pub(super) fn stored_user() -> Map<String, Value> {
    let mut m = create(
        "User",
        json!({
            "schemas": [USER, ENTERPRISE],
            "userName": "alice@example.com",
            "externalId": "ext-1",
            "name": {"givenName": "Alice", "familyName": "Smith"},
            "displayName": "Alice Smith",
            "title": "Engineer",
            "active": true,
            "password": "s3cret",
            "emails": [
                {"value": "alice@work.example", "type": "work", "primary": true},
                {"value": "alice@home.example", "type": "home"}
            ],
            ENTERPRISE: {"department": "R&D", "employeeNumber": "42",
                         "manager": {"value": "boss-id"}}
        }),
    )
    .unwrap();
    set_meta(
        &mut m,
        "u-1",
        &Meta {
            resource_type: "User",
            created: "2024-05-01T12:00:00Z",
            last_modified: "2024-05-01T12:00:00Z",
            location: "https://example.com/scim/v2/Users/u-1",
            version: "W/\"1\"",
        },
    );
    m
}

pub(super) fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}
