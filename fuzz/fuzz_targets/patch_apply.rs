//! A PATCH body from arbitrary bytes applied to a realistic user and group (members in the
//! document, and members kept apart): never panics, never touches the input, is
//! deterministic, and a success leaves a canonical resource (no nulls, no empty values,
//! `schemas` listing exactly the extensions present, external members untouched).
//!
//! Bytes that are not JSON become the `path` of a few fixed operations, so paths reach the
//! resolution and application code too.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

use scim_core::patch::{PATCH_OP_SCHEMA, PatchOptions, PatchRequest, apply_patch};
use scim_core::schema::{ENTERPRISE_USER_SCHEMA, SchemaRegistry};

struct Fixture {
    registry: SchemaRegistry,
    user: Map<String, Value>,
    group: Map<String, Value>,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        registry: SchemaRegistry::builtin().expect("built-in schemas load"),
        user: object(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE_USER_SCHEMA],
            "id": "2819c223-7f76-453a-919d-413861904646",
            "externalId": "bjensen",
            "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z",
                     "lastModified": "2024-01-01T00:00:00Z", "version": "W/\"1\""},
            "userName": "bjensen@example.com",
            "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
            "displayName": "Babs Jensen",
            "title": "Tour Guide",
            "active": true,
            "password": "t1meMa$heen",
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}],
            "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
            "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza",
                           "locality": "Hollywood", "region": "CA", "postalCode": "91608",
                           "country": "USA", "primary": true}],
            "x509Certificates": [{"value": "aGVsbG8="}],
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "701984", "department": "Tour Operations",
                                     "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}}
        })),
        group: object(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
            "meta": {"resourceType": "Group", "created": "2024-01-01T00:00:00Z"},
            "displayName": "Tour Guides",
            "members": [{"value": "2819c223-7f76-453a-919d-413861904646", "type": "User"},
                        {"value": "902c246b-6245-4190-8e05-00816be7344a", "type": "User", "display": "Jim"}]
        })),
    })
}

/// The body: the bytes as JSON, or else fixed operations whose path is the text.
fn body(data: &[u8]) -> Value {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        return v;
    }
    let (selector, rest) = data.split_first().map_or((0, data), |(b, r)| (*b, r));
    let path = String::from_utf8_lossy(rest);
    let value = match selector % 6 {
        0 => json!("x"),
        1 => json!(""),
        2 => json!({"value": "v", "type": "work", "primary": true}),
        3 => json!([{"value": "m1"}]),
        4 => json!("False"),
        _ => Value::Null,
    };
    let op = ["add", "replace", "remove"][usize::from(selector / 6 % 3)];
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": [{"op": op, "path": path, "value": value}]})
}

/// Canonical stored form: no `null`, no empty array, object or element anywhere.
fn check_canonical(v: &Value, at: &str) {
    match v {
        Value::Null => panic!("null at {at}"),
        Value::Array(items) => {
            assert!(!items.is_empty(), "empty array at {at}");
            for item in items {
                check_canonical(item, at);
            }
        }
        Value::Object(m) => {
            assert!(!m.is_empty(), "empty object at {at}");
            for (k, item) in m {
                check_canonical(item, &format!("{at}.{k}"));
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let Ok(request) = PatchRequest::parse(&body(data)) else {
        return;
    };
    let users = fx.registry.resource_type("User").expect("User");
    let groups = fx.registry.resource_type("Group").expect("Group");
    let external = PatchOptions::with_external_members("members");
    let plain = PatchOptions::default();
    for (rt, resource, options) in [
        (users, &fx.user, &plain),
        (groups, &fx.group, &plain),
        (groups, &fx.group, &external),
    ] {
        let before = serde_json::to_vec(resource).expect("serialises");
        let first = apply_patch(&fx.registry, rt, resource, &request, options);
        assert_eq!(serde_json::to_vec(resource).expect("serialises"), before);
        let second = apply_patch(&fx.registry, rt, resource, &request, options);
        assert_eq!(first, second, "not deterministic");
        match first {
            Ok(out) => {
                check_canonical(&Value::Object(out.resource.clone()), "");
                let ext = out.resource.contains_key(ENTERPRISE_USER_SCHEMA);
                let listed = out
                    .resource
                    .get("schemas")
                    .and_then(Value::as_array)
                    .is_some_and(|s| s.iter().any(|u| u == ENTERPRISE_USER_SCHEMA));
                assert_eq!(ext, listed, "schemas out of step with the extension");
                if options.external_members.is_some() {
                    assert_eq!(out.resource.get("members"), resource.get("members"));
                } else {
                    assert!(out.members.is_empty());
                }
                let external_name = options.external_members.as_deref();
                let document_changed = out
                    .changed
                    .iter()
                    .any(|c| Some(c.as_str()) != external_name);
                assert_eq!(
                    !document_changed,
                    out.resource == *resource,
                    "{:?}",
                    out.changed
                );
            }
            Err(e) => {
                assert_eq!(e.status, 400, "{e}");
                assert!(e.scim_type.is_some() && !e.detail.is_empty(), "{e}");
            }
        }
    }
});
