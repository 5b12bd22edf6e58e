//! Properties of PATCH over generated users, groups and operation lists:
//! - a PATCH with a failing operation returns an error and leaves the input byte-identical
//!   (and no PATCH ever modifies its input);
//! - applying the same PATCH twice gives the same outcome;
//! - `changed` is empty exactly when the resource did not change;
//! - with `external_members`, operations on `members` never touch the document's `members`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use serde_json::{Map, Value, json};

use scim_core::patch::{PATCH_OP_SCHEMA, PatchOptions, PatchRequest, apply_patch};
use scim_core::schema::{ENTERPRISE_USER_SCHEMA as EXT, GROUP_SCHEMA, SchemaRegistry, USER_SCHEMA};

fn registry() -> SchemaRegistry {
    SchemaRegistry::builtin().unwrap()
}

fn email() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["a@x.org", "B@x.org", "c@y.org"]),
        prop::option::of(prop::sample::select(vec!["work", "home", "other"])),
    )
        .prop_map(|(v, t)| {
            let mut m = Map::new();
            m.insert("value".into(), json!(v));
            if let Some(t) = t {
                m.insert("type".into(), json!(t));
            }
            Value::Object(m)
        })
}

prop_compose! {
    fn user()(
        display in prop::option::of("[A-Za-z ]{1,12}"),
        title in prop::option::of(prop::sample::select(vec!["Guide", "Lead"])),
        active in prop::option::of(any::<bool>()),
        given in prop::option::of("[A-Z][a-z]{0,8}"),
        family in prop::option::of("[A-Z][a-z]{0,8}"),
        emails in prop::collection::vec(email(), 0..4),
        primary in any::<bool>(),
        department in prop::option::of(prop::sample::select(vec!["Sales", "Ops"])),
        manager in prop::option::of("[a-f0-9]{4}"),
    ) -> Map<String, Value> {
        let mut u = Map::new();
        let mut schemas = vec![json!(USER_SCHEMA)];
        u.insert("id".into(), json!("u-1"));
        u.insert("meta".into(), json!({"resourceType": "User", "created": "2024-01-01T00:00:00Z"}));
        u.insert("userName".into(), json!("bjensen"));
        if let Some(d) = display { u.insert("displayName".into(), json!(d)); }
        if let Some(t) = title { u.insert("title".into(), json!(t)); }
        if let Some(a) = active { u.insert("active".into(), json!(a)); }
        let mut name = Map::new();
        if let Some(g) = given { name.insert("givenName".into(), json!(g)); }
        if let Some(f) = family { name.insert("familyName".into(), json!(f)); }
        if !name.is_empty() { u.insert("name".into(), Value::Object(name)); }
        if !emails.is_empty() {
            let mut emails = emails;
            if primary && let Some(Value::Object(first)) = emails.first_mut() {
                first.insert("primary".into(), json!(true));
            }
            u.insert("emails".into(), Value::Array(emails));
        }
        let mut ext = Map::new();
        if let Some(d) = department { ext.insert("department".into(), json!(d)); }
        if let Some(m) = manager { ext.insert("manager".into(), json!({"value": m})); }
        if !ext.is_empty() {
            u.insert(EXT.into(), Value::Object(ext));
            schemas.push(json!(EXT));
        }
        u.insert("schemas".into(), Value::Array(schemas));
        u
    }
}

fn op_kind() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["add", "Replace", "remove"])
}

fn user_path() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(
        0.85,
        prop::sample::select(vec![
            "title".to_string(),
            "active".into(),
            "displayName".into(),
            "name".into(),
            "name.givenName".into(),
            "emails".into(),
            "emails.type".into(),
            "emails[type eq \"work\"].value".into(),
            "emails[type eq \"home\"]".into(),
            "emails[value co \"x\"].primary".into(),
            format!("{EXT}:department"),
            format!("{EXT}:manager"),
            format!("{EXT}:manager.value"),
            EXT.into(),
            "userName".into(),
            "id".into(),
            "nope".into(),
        ]),
    )
}

fn any_value() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!("x"),
        json!(""),
        Value::Null,
        json!(true),
        json!("False"),
        json!(5),
        json!([{"value": "d@x.org", "type": "work"}]),
        json!([{"value": "a@x.org", "primary": true}]),
        json!({"givenName": "G"}),
        json!({"value": "m-1"}),
        json!({"department": "R&D"}),
        json!({"title": "T", "name.familyName": "F"}),
        json!({"active": "true", format!("{EXT}:costCenter"): "42"}),
        json!("yes"),
        json!([{"value": "b@x", "primary": true}, {"value": "c@x", "primary": true}]),
    ])
}

fn user_op() -> impl Strategy<Value = Value> {
    (
        op_kind(),
        user_path(),
        prop::option::weighted(0.9, any_value()),
    )
        .prop_map(|(op, path, value)| {
            let mut m = Map::new();
            m.insert("op".into(), json!(op));
            if let Some(p) = path {
                m.insert("path".into(), json!(p));
            }
            if let Some(v) = value {
                m.insert("value".into(), v);
            }
            Value::Object(m)
        })
}

/// Operations that always fail on the generated resources (`remove userName` when no later
/// operation adds it back).
fn failing_op() -> impl Strategy<Value = Value> {
    prop::sample::select(vec![
        json!({"op": "replace", "path": "id", "value": "other"}),
        json!({"op": "replace", "path": "active", "value": "maybe"}),
        json!({"op": "add", "path": "nope", "value": 1}),
        json!({"op": "remove", "path": "userName"}),
        json!({"op": "replace", "path": "meta.created", "value": "2020-01-01T00:00:00Z"}),
        json!({"op": "replace", "value": {"id": "changed"}}),
        json!({"op": "replace", "path": "emails[type eq \"nope\"].value", "value": "z@z"}),
    ])
}

fn body(ops: Vec<Value>) -> Value {
    json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
}

fn bytes(m: &Map<String, Value>) -> Vec<u8> {
    serde_json::to_vec(m).unwrap()
}

fn group_op() -> impl Strategy<Value = Value> {
    let ids = || prop::sample::select(vec!["m1", "m2", "m3", "M1"]);
    prop_oneof![
        prop::collection::vec(ids(), 0..3).prop_map(|ids| json!({"op": "add", "path": "members",
            "value": ids.iter().map(|i| json!({"value": i, "display": "D"})).collect::<Vec<_>>()})),
        prop::collection::vec(ids(), 0..3)
            .prop_map(|ids| json!({"op": "Remove", "path": "members",
            "value": ids.iter().map(|i| json!({"value": i})).collect::<Vec<_>>()})),
        ids().prop_map(|i| json!({"op": "remove", "path": format!("members[value eq \"{i}\"]")})),
        Just(json!({"op": "remove", "path": "members[type eq \"Group\"]"})),
        Just(json!({"op": "remove", "path": "members"})),
        prop::collection::vec(ids(), 0..3)
            .prop_map(|ids| json!({"op": "replace", "path": "members",
            "value": ids.iter().map(|i| json!({"value": i})).collect::<Vec<_>>()})),
        ids().prop_map(
            |i| json!({"op": "replace", "value": {"members": [{"value": i}], "displayName": "G2"}})
        ),
        Just(json!({"op": "replace", "path": "displayName", "value": "Renamed"})),
        Just(json!({"op": "replace", "path": "members[value eq \"m1\"].value", "value": "m9"})),
    ]
}

fn group() -> Map<String, Value> {
    match json!({
        "schemas": [GROUP_SCHEMA], "id": "g-1", "displayName": "Guides",
        "meta": {"resourceType": "Group"},
        "members": [{"value": "m1", "type": "User"}, {"value": "m2", "type": "User"}]
    }) {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn a_failing_operation_fails_the_patch_and_changes_nothing(
        u in user(),
        ops in prop::collection::vec(user_op(), 0..5),
        bad in failing_op(),
        at in any::<prop::sample::Index>(),
    ) {
        let reg = registry();
        let rt = reg.resource_type("User").unwrap();
        let mut ops = ops;
        // Removing a required attribute fails only if no later operation adds it back
        // (RFC 7644 §3.5.2: the result as a whole must be valid): that one goes last.
        let pos = if bad["path"] == "userName" {
            ops.len()
        } else {
            at.index(ops.len() + 1)
        };
        ops.insert(pos, bad);
        let before = bytes(&u);
        // The generated operations may fail too; parse errors count as failures.
        let result = PatchRequest::parse(&body(ops))
            .and_then(|req| apply_patch(&reg, rt, &u, &req, &PatchOptions::default()));
        prop_assert!(result.is_err(), "{result:?}");
        prop_assert_eq!(bytes(&u), before);
    }

    #[test]
    fn applying_is_deterministic_and_changed_is_exact(
        u in user(),
        ops in prop::collection::vec(user_op(), 1..6),
    ) {
        let reg = registry();
        let rt = reg.resource_type("User").unwrap();
        let before = bytes(&u);
        let Ok(req) = PatchRequest::parse(&body(ops)) else { return Ok(()); };
        let first = apply_patch(&reg, rt, &u, &req, &PatchOptions::default());
        let second = apply_patch(&reg, rt, &u, &req, &PatchOptions::default());
        prop_assert_eq!(bytes(&u), before);
        match (first, second) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(bytes(&a.resource), bytes(&b.resource));
                prop_assert_eq!(&a.changed, &b.changed);
                prop_assert!(a.members.is_empty());
                prop_assert_eq!(a.changed.is_empty(), a.resource == u, "{:?}", a.changed);
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "different outcomes: {a:?} / {b:?}"),
        }
    }

    #[test]
    fn external_members_never_touch_the_documents_members(
        ops in prop::collection::vec(group_op(), 1..6),
    ) {
        let reg = registry();
        let rt = reg.resource_type("Group").unwrap();
        let g = group();
        let before = bytes(&g);
        let req = PatchRequest::parse(&body(ops)).unwrap();
        let options = PatchOptions::with_external_members("members");
        match apply_patch(&reg, rt, &g, &req, &options) {
            Ok(out) => {
                prop_assert_eq!(out.resource.get("members"), g.get("members"));
                prop_assert_eq!(out.changed.contains(&"members".to_string()), !out.members.is_empty());
                let again = apply_patch(&reg, rt, &g, &req, &options).unwrap();
                prop_assert_eq!(again, out);
            }
            Err(e) => prop_assert_eq!(e.status, 400),
        }
        prop_assert_eq!(bytes(&g), before);
    }
}
