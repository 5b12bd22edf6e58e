//! Error cases: mutability, required, immutable, invalidValue, invalidPath, noTarget, and
//! all-or-nothing application.

use super::*;

#[test]
fn read_only_paths_are_mutability_errors() {
    for (op, path, value) in [
        ("replace", "id", json!("x")),
        ("replace", "meta.created", json!("2020-01-01T00:00:00Z")),
        ("remove", "meta", json!(null)),
        ("add", "groups", json!([{"value": "g"}])),
        ("remove", "id", json!(null)),
        ("replace", "schemas", json!([USER_SCHEMA])),
        ("add", "groups[value eq \"g\"].display", json!("G")),
        (
            "replace",
            &format!("{EXT}:manager.displayName"),
            json!("Boss"),
        ),
    ] {
        let e = err(
            "User",
            &user(),
            json!([{"op": op, "path": path, "value": value}]),
            ScimType::Mutability,
        );
        assert!(!e.detail.is_empty());
    }
}

#[test]
fn write_only_password_can_be_set_and_removed() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "path": "password", "value": "t1meMa$heen"}]),
    );
    assert_eq!(out.resource["password"], "t1meMa$heen");
    assert_eq!(out.changed, ["password"]);
    let out = ok(
        "User",
        &out.resource,
        json!([{"op": "remove", "path": "password"}]),
    );
    assert!(out.resource.get("password").is_none());
}

#[test]
fn required_attributes_cannot_be_removed() {
    let e = err(
        "User",
        &user(),
        json!([{"op": "remove", "path": "userName"}]),
        ScimType::Mutability,
    );
    assert!(e.detail.contains("'userName' is required"), "{}", e.detail);
    err(
        "User",
        &user(),
        json!([{"op": "replace", "path": "userName", "value": ""}]),
        ScimType::Mutability,
    );
    err(
        "Group",
        &group(),
        json!([{"op": "replace", "value": {"displayName": null}}]),
        ScimType::Mutability,
    );
}

#[test]
fn immutable_sub_attributes_of_existing_elements_cannot_change() {
    err(
        "Group",
        &group(),
        json!([{"op": "replace", "path": format!("members[value eq \"{M1}\"].value"), "value": "other"}]),
        ScimType::Mutability,
    );
    err(
        "Group",
        &group(),
        json!([{"op": "remove", "path": "members.type"}]),
        ScimType::Mutability,
    );
    err(
        "Group",
        &group(),
        json!([{"op": "add", "path": format!("members[value eq \"{M1}\"]"), "value": {"type": "Group"}}]),
        ScimType::Mutability,
    );
    // The same value again is fine; whole elements may come and go.
    ok(
        "Group",
        &group(),
        json!([{"op": "replace", "path": format!("members[value eq \"{M1}\"].type"), "value": "user"}]),
    );
}

fn device_registry() -> SchemaRegistry {
    let mut reg = registry();
    reg.add_json(
        "device.json",
        r#"[
        {"id": "urn:example:scim:schemas:Device", "name": "Device", "attributes": [
            {"name": "serialNumber", "type": "string", "required": true, "mutability": "immutable"},
            {"name": "label", "type": "string"},
            {"name": "count", "type": "integer"},
            {"name": "owner", "type": "complex", "subAttributes": [
                {"name": "value", "type": "string", "mutability": "immutable"},
                {"name": "display", "type": "string"}]}]},
        {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "Device",
         "name": "Device", "endpoint": "/Devices", "schema": "urn:example:scim:schemas:Device"}
    ]"#,
    )
    .unwrap();
    reg
}

#[test]
fn immutable_attributes_may_be_set_once() {
    let reg = device_registry();
    let rt = reg.resource_type("Device").unwrap();
    let run = |res: &Map<String, Value>, ops: Value| {
        apply_patch(&reg, rt, res, &request(ops), &PatchOptions::default())
    };
    let empty = obj(json!({"schemas": ["urn:example:scim:schemas:Device"], "id": "d1"}));
    let set = run(&empty, json!([{"op": "add", "path": "serialNumber", "value": "SN1"}, {"op": "add", "path": "owner.value", "value": "u1"}])).unwrap();
    assert_eq!(set.resource["serialNumber"], "SN1");
    assert_eq!(set.changed, ["serialNumber", "owner.value"]);
    let same = run(
        &set.resource,
        json!([{"op": "replace", "value": {"serialNumber": "SN1", "label": "x"}}]),
    )
    .unwrap();
    assert_eq!(same.changed, ["label"]);
    for ops in [
        json!([{"op": "replace", "path": "serialNumber", "value": "SN2"}]),
        json!([{"op": "replace", "path": "owner", "value": {"value": "u2"}}]),
        json!([{"op": "remove", "path": "owner.value"}]),
    ] {
        let e = run(&set.resource, ops.clone()).unwrap_err();
        assert_eq!(
            e.scim_type,
            Some(ScimType::Mutability),
            "{ops}: {}",
            e.detail
        );
        assert!(e.detail.contains("immutable"), "{}", e.detail);
    }
    let e = run(
        &set.resource,
        json!([{"op": "replace", "path": "count", "value": "many"}]),
    )
    .unwrap_err();
    assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
    assert_eq!(
        run(
            &set.resource,
            json!([{"op": "replace", "path": "count", "value": "3"}])
        )
        .unwrap()
        .resource["count"],
        3
    );
}

#[test]
fn type_errors_are_invalid_value_naming_the_path() {
    for (path, value, needle) in [
        ("active", json!("yes"), "'active'"),
        ("name.givenName", json!(5), "'name.givenName'"),
        (
            "emails",
            json!([{"value": "a", "primary": "sometimes"}]),
            "'emails.primary'",
        ),
        (
            "emails[type eq \"work\"].primary",
            json!(3),
            "'emails.primary'",
        ),
        ("displayName", json!(["a", "b"]), "'displayName'"),
    ] {
        let e = err(
            "User",
            &user(),
            json!([{"op": "replace", "path": path, "value": value}]),
            ScimType::InvalidValue,
        );
        assert!(e.detail.contains(needle), "{path}: {}", e.detail);
    }
}

#[test]
fn unknown_paths_are_invalid_path() {
    for path in [
        "nope",
        "name.nope",
        "urn:example:other:2.0:x",
        "emails[nope eq \"x\"]",
        "members",
    ] {
        err(
            "User",
            &user(),
            json!([{"op": "replace", "path": path, "value": "x"}]),
            ScimType::InvalidPath,
        );
    }
}

#[test]
fn failure_in_a_later_operation_changes_nothing_and_names_it() {
    let u = user();
    let e = err(
        "User",
        &u,
        json!([
            {"op": "replace", "path": "title", "value": "Changed"},
            {"op": "remove", "path": "emails"},
            {"op": "replace", "path": "active", "value": "perhaps"}
        ]),
        ScimType::InvalidValue,
    );
    assert!(
        e.detail.starts_with("operation 3 (replace active): "),
        "{}",
        e.detail
    );
}

#[test]
fn changed_is_empty_when_values_are_rewritten_unchanged() {
    let out = ok(
        "User",
        &user(),
        json!([
            {"op": "replace", "path": "title", "value": "Tour Guide"},
            {"op": "replace", "path": "active", "value": "True"},
            {"op": "add", "path": "emails", "value": [{"value": "bjensen@example.com", "type": "work"}]}
        ]),
    );
    assert!(out.changed.is_empty(), "{:?}", out.changed);
    assert_eq!(out.resource, user());
}
