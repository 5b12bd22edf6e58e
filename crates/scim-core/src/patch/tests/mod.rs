//! PATCH semantics and the shapes identity providers send (IDP-COMPAT.md), on whole
//! resources: shared fixtures and helpers here, tests in the sibling files.

mod errors;
mod external;
mod idp;
mod operations;

use serde_json::{Map, Value, json};

use super::*;
use crate::error::{ScimError, ScimType};
use crate::schema::{ENTERPRISE_USER_SCHEMA as EXT, GROUP_SCHEMA, USER_SCHEMA};

const UID: &str = "2819c223-7f76-453a-919d-413861904646";
const GID: &str = "e9e30dba-f08f-4109-8486-d5c6a331660a";
const M1: &str = "2819c223-7f76-453a-919d-413861904646";
const M2: &str = "902c246b-6245-4190-8e05-00816be7344a";

fn registry() -> SchemaRegistry {
    SchemaRegistry::builtin().unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn user() -> Map<String, Value> {
    obj(json!({
        "schemas": [USER_SCHEMA, EXT],
        "id": UID,
        "externalId": "bjensen",
        "meta": {
            "resourceType": "User",
            "created": "2024-01-01T00:00:00Z",
            "lastModified": "2024-01-01T00:00:00Z",
            "version": "W/\"1\"",
            "location": format!("https://example.com/v2/Users/{UID}")
        },
        "userName": "bjensen@example.com",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
        "addresses": [{
            "type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
            "region": "CA", "postalCode": "91608", "country": "USA", "primary": true
        }],
        EXT: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        }
    }))
}

fn group() -> Map<String, Value> {
    obj(json!({
        "schemas": [GROUP_SCHEMA],
        "id": GID,
        "meta": {"resourceType": "Group", "created": "2024-01-01T00:00:00Z", "lastModified": "2024-01-01T00:00:00Z"},
        "displayName": "Tour Guides",
        "members": [{"value": M1, "type": "User"}, {"value": M2, "type": "User"}]
    }))
}

fn request(ops: Value) -> PatchRequest {
    PatchRequest::parse(&json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})).unwrap()
}

fn run_with(
    rt: &str,
    resource: &Map<String, Value>,
    ops: Value,
    options: &PatchOptions,
) -> ScimResult<PatchOutcome> {
    let reg = registry();
    let rt = reg.resource_type(rt).unwrap();
    let before = resource.clone();
    let out = apply_patch(&reg, rt, resource, &request(ops), options);
    assert_eq!(&before, resource, "apply_patch must not modify its input");
    out
}

fn ok(rt: &str, resource: &Map<String, Value>, ops: Value) -> PatchOutcome {
    run_with(rt, resource, ops, &PatchOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn err(rt: &str, resource: &Map<String, Value>, ops: Value, scim_type: ScimType) -> ScimError {
    let e = run_with(rt, resource, ops, &PatchOptions::default()).unwrap_err();
    assert_eq!(e.status, 400);
    assert_eq!(e.scim_type, Some(scim_type), "{}", e.detail);
    e
}

fn ext_ok(resource: &Map<String, Value>, ops: Value) -> PatchOutcome {
    run_with(
        "Group",
        resource,
        ops,
        &PatchOptions::with_external_members("members"),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn ext_err(resource: &Map<String, Value>, ops: Value, scim_type: ScimType) -> ScimError {
    let e = run_with(
        "Group",
        resource,
        ops,
        &PatchOptions::with_external_members("members"),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(scim_type), "{}", e.detail);
    e
}

fn ext(r: &Map<String, Value>) -> Option<&Map<String, Value>> {
    r.get(EXT).and_then(Value::as_object)
}

fn member_ids(r: &Map<String, Value>) -> Vec<&str> {
    r.get("members")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|m| m["value"].as_str()).collect())
        .unwrap_or_default()
}
