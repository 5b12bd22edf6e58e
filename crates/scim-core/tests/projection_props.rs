//! Property: whatever `attributes` / `excludedAttributes` a client sends, a rendered resource
//! always has `id` and `schemas`, never a writeOnly or `returned: never` attribute (at any
//! level), and `schemas` lists exactly the extensions present.

// Test helpers outside `#[test]` functions may unwrap: a failure is a test failure.
#![allow(clippy::unwrap_used, clippy::panic)]

use proptest::prelude::*;
use scim_core::projection::Projection;
use scim_core::resource::{Meta, prepare_create, render, set_meta};
use scim_core::schema::{Attribute, Mutability, Returned, SchemaRegistry};
use serde_json::{Map, Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const BADGE: &str = "urn:example:scim:Badge";

/// The built-in registry with a second User extension holding hidden attributes at both levels.
fn registry() -> SchemaRegistry {
    let mut reg = SchemaRegistry::builtin().unwrap();
    reg.add_json(
        "badge.json",
        &json!({"id": BADGE, "name": "Badge", "attributes": [
            {"name": "number", "type": "string"},
            {"name": "pinHash", "type": "string", "returned": "never"},
            {"name": "note", "type": "string", "returned": "request"},
            {"name": "doors", "type": "complex", "multiValued": true, "subAttributes": [
                {"name": "value", "type": "string"},
                {"name": "code", "type": "string", "returned": "never"},
                {"name": "secret", "type": "string", "mutability": "writeOnly"}]}
        ]})
        .to_string(),
    )
    .unwrap();
    let mut user = reg.resource_type("User").unwrap().clone();
    user.schema_extensions
        .push(scim_core::schema::SchemaExtension {
            schema: BADGE.into(),
            required: false,
        });
    // A second registry with the extended User type under another name and endpoint.
    user.id = "BadgeUser".into();
    user.name = "BadgeUser".into();
    user.endpoint = "/BadgeUsers".into();
    reg.add_resource_type_json("badge-user.json", &serde_json::to_string(&user).unwrap())
        .unwrap();
    reg
}

fn opt_string() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[a-zA-Z0-9 ]{0,8}")
}

prop_compose! {
    fn user_body()(
        user_name in "[a-z]{1,8}",
        given in opt_string(),
        family in opt_string(),
        title in opt_string(),
        password in opt_string(),
        active in prop::option::of(any::<bool>()),
        emails in prop::collection::vec(("[a-z]{1,5}@x", prop::option::of("work|home")), 0..3),
        department in opt_string(),
        manager in opt_string(),
        number in opt_string(),
        pin in opt_string(),
        note in opt_string(),
        doors in prop::collection::vec(("[a-z]{1,3}", opt_string(), opt_string()), 0..3),
    ) -> Value {
        let emails: Vec<Value> = emails
            .into_iter()
            .map(|(v, t)| json!({"value": v, "type": t}))
            .collect();
        let doors: Vec<Value> = doors
            .into_iter()
            .map(|(v, c, s)| json!({"value": v, "code": c, "secret": s}))
            .collect();
        json!({
            "schemas": [USER, ENTERPRISE, BADGE],
            "userName": user_name,
            "name": {"givenName": given, "familyName": family},
            "title": title,
            "password": password,
            "active": active,
            "emails": emails,
            ENTERPRISE: {"department": department, "manager": manager},
            BADGE: {"number": number, "pinHash": pin, "note": note, "doors": doors}
        })
    }
}

/// Names a client might put in `attributes` / `excludedAttributes`.
fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "id",
        "ID",
        "schemas",
        "userName",
        "USERNAME",
        "name",
        "name.givenName",
        "name.FAMILYNAME",
        "title",
        "password",
        "emails",
        "emails.value",
        "emails.type",
        "active",
        "meta",
        "meta.version",
        "externalId",
        "groups",
        "unknown",
        "emails.unknown",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:core:2.0:User",
        "urn:ietf:params:scim:schemas:core:2.0:User:password",
        "urn:example:scim:Badge",
        "urn:example:scim:Badge:pinHash",
        "urn:example:scim:Badge:note",
        "urn:example:scim:Badge:doors",
        "urn:example:scim:Badge:doors.code",
        "urn:example:scim:Badge:doors.secret",
        "urn:example:scim:Badge:doors.value",
        "urn:example:nope",
    ])
    .prop_map(str::to_string)
}

fn list() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop::collection::vec(name(), 0..6).prop_map(|v| v.join(" , ")))
}

/// Asserts that no hidden attribute (writeOnly or `returned: never`) is in `obj`.
fn assert_nothing_hidden(attrs: &[Attribute], obj: &Map<String, Value>, at: &str) {
    for (key, value) in obj {
        let Some(def) = attrs.iter().find(|a| a.name == *key) else {
            continue;
        };
        assert!(
            def.returned != Returned::Never && def.mutability != Mutability::WriteOnly,
            "{at}{key} is hidden but was rendered"
        );
        let elements: Vec<&Value> = match value {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        };
        for e in elements {
            if let Value::Object(sub) = e {
                assert_nothing_hidden(&def.sub_attributes, sub, &format!("{at}{key}."));
            }
        }
    }
}

proptest! {
    #[test]
    fn rendered_output_keeps_id_and_schemas_and_hides_secrets(
        body in user_body(),
        attributes in list(),
        excluded in list(),
    ) {
        let reg = registry();
        let rt = reg.resource_type("BadgeUser").unwrap().clone();
        let mut stored = prepare_create(&reg, &rt, body).unwrap();
        set_meta(&mut stored, "id-1", &Meta {
            resource_type: "User",
            created: "2024-01-01T00:00:00Z",
            last_modified: "2024-01-01T00:00:00Z",
            location: "https://example.com/Users/id-1",
            version: "W/\"1\"",
        });
        let projection =
            Projection::parse(&reg, &rt, attributes.as_deref(), excluded.as_deref()).unwrap();
        let out = render(&reg, &rt, stored.clone(), &projection);

        prop_assert_eq!(out.get("id"), Some(&json!("id-1")));
        let schemas = out.get("schemas").and_then(Value::as_array).unwrap();
        prop_assert_eq!(&schemas[0], &json!(USER));
        let text = Value::Object(out.clone()).to_string();
        prop_assert!(!text.contains("password"), "{}", text);

        let mut all = reg.common_attributes().to_vec();
        all.extend(reg.schema(USER).unwrap().attributes.iter().cloned());
        assert_nothing_hidden(&all, &out, "");
        for ext in [ENTERPRISE, BADGE] {
            let listed = schemas.contains(&json!(ext));
            prop_assert_eq!(listed, out.contains_key(ext));
            if let Some(Value::Object(e)) = out.get(ext) {
                assert_nothing_hidden(&reg.schema(ext).unwrap().attributes, e, ext);
            }
        }
        for key in out.keys() {
            // What the projection says may be left out is left out.
            if !projection.includes(key) {
                prop_assert!(false, "{} rendered but includes() says no", key);
            }
        }
    }
}
