use super::*;

fn device_existing() -> Map<String, Value> {
    let mut m = create(
        "Device",
        json!({
            "schemas": [DEVICE, DEVICE_EXT],
            "serialNumber": "SN-1",
            "owner": {"value": "u1", "badge": "B7", "pin": "1234"},
            "firmwareKey": "fw",
            "note": "n",
            "tags": [{"value": "t1"}],
            DEVICE_EXT: {"site": "Paris"}
        }),
    )
    .unwrap();
    // Server-maintained values.
    m["owner"]["display"] = json!("Alice");
    m[DEVICE_EXT]["rack"] = json!("R1");
    set_meta(
        &mut m,
        "d-1",
        &Meta {
            resource_type: "Device",
            created: "2024-01-01T00:00:00Z",
            last_modified: "2024-01-01T00:00:00Z",
            location: "https://example.com/Devices/d-1",
            version: "W/\"1\"",
        },
    );
    m
}

fn device_body(extra: Value) -> Value {
    let mut body = json!({
        "schemas": [DEVICE, DEVICE_EXT],
        "serialNumber": "SN-1",
        DEVICE_EXT: {"site": "Paris"}
    });
    for (k, v) in obj(extra) {
        body[k] = v;
    }
    body
}

#[test]
fn read_write_attributes_are_replaced_and_absent_ones_cleared() {
    let existing = stored_user();
    let out = replace(
        "User",
        &existing,
        json!({"schemas": [USER], "userName": "alice@example.com", "nickName": "Al"}),
    )
    .unwrap();
    assert_eq!(out["nickName"], "Al");
    for gone in [
        "title",
        "name",
        "emails",
        "displayName",
        "active",
        "externalId",
        ENTERPRISE,
    ] {
        assert!(!out.contains_key(gone), "{gone} should be cleared");
    }
    assert_eq!(out["schemas"], json!([USER]));
    assert_eq!(out["id"], "u-1");
    assert_eq!(out["meta"], existing["meta"]);
}

#[test]
fn write_only_password_is_kept_unless_sent() {
    let existing = stored_user();
    let body = json!({"schemas": [USER], "userName": "alice@example.com"});
    assert_eq!(
        replace("User", &existing, body).unwrap()["password"],
        "s3cret"
    );
    let body = json!({"schemas": [USER], "userName": "alice@example.com", "password": "new"});
    assert_eq!(replace("User", &existing, body).unwrap()["password"], "new");
}

#[test]
fn required_attributes_are_checked_on_put() {
    let existing = stored_user();
    assert_err(
        replace(
            "User",
            &existing,
            json!({"schemas": [USER], "displayName": "x"}),
        ),
        ScimType::InvalidValue,
        "'userName'",
    );
}

#[test]
fn put_body_is_validated_like_create() {
    let existing = stored_user();
    assert_err(
        replace("User", &existing, json!({"userName": "a"})),
        ScimType::InvalidSyntax,
        "'schemas'",
    );
    assert_err(
        replace(
            "User",
            &existing,
            json!({"schemas": [USER], "userName": "a", "x": 1}),
        ),
        ScimType::InvalidSyntax,
        "unknown attribute 'x'",
    );
}

#[test]
fn immutable_attribute_cannot_change_but_may_be_omitted_or_repeated() {
    let existing = device_existing();
    assert_err(
        replace(
            "Device",
            &existing,
            device_body(json!({"serialNumber": "SN-2"})),
        ),
        ScimType::Mutability,
        "serialNumber",
    );
    // Same value (case-insensitively, the attribute is not caseExact).
    let out = replace(
        "Device",
        &existing,
        device_body(json!({"serialNumber": "sn-1"})),
    )
    .unwrap();
    assert_eq!(out["serialNumber"], "SN-1");
    // Omitted: kept (and so the required check passes).
    let mut body = device_body(json!({}));
    body.as_object_mut().unwrap().remove("serialNumber");
    let out = replace("Device", &existing, body).unwrap();
    assert_eq!(out["serialNumber"], "SN-1");
}

#[test]
fn immutable_attribute_may_be_set_when_it_had_no_value() {
    let mut existing = device_existing();
    existing.shift_remove("serialNumber");
    let out = replace(
        "Device",
        &existing,
        device_body(json!({"serialNumber": "SN-9"})),
    )
    .unwrap();
    assert_eq!(out["serialNumber"], "SN-9");
}

#[test]
fn sub_attribute_mutability_inside_a_single_valued_complex_attribute() {
    let existing = device_existing();
    // Same owner: display (readOnly) carried over, pin (writeOnly) kept, badge (immutable) kept.
    let out = replace(
        "Device",
        &existing,
        device_body(json!({"owner": {"value": "u1"}})),
    )
    .unwrap();
    assert_eq!(
        out["owner"],
        json!({"value": "u1", "display": "Alice", "pin": "1234", "badge": "B7"})
    );
    // New owner: the old display no longer applies.
    let out = replace(
        "Device",
        &existing,
        device_body(json!({"owner": {"value": "u2"}})),
    )
    .unwrap();
    assert_eq!(
        out["owner"],
        json!({"value": "u2", "pin": "1234", "badge": "B7"})
    );
    // The immutable badge cannot change.
    assert_err(
        replace(
            "Device",
            &existing,
            device_body(json!({"owner": {"value": "u1", "badge": "B8"}})),
        ),
        ScimType::Mutability,
        "owner.badge",
    );
}

#[test]
fn read_only_attributes_of_extensions_are_kept() {
    let existing = device_existing();
    let out = replace(
        "Device",
        &existing,
        device_body(json!({DEVICE_EXT: {"site": "Lyon", "rack": "R9"}})),
    )
    .unwrap();
    assert_eq!(out[DEVICE_EXT], json!({"site": "Lyon", "rack": "R1"}));
}

#[test]
fn write_only_and_request_attributes_follow_their_mutability() {
    let existing = device_existing();
    let out = replace("Device", &existing, device_body(json!({}))).unwrap();
    assert_eq!(out["firmwareKey"], "fw");
    // `note` is readWrite (returned on request only): omitted means cleared.
    assert!(!out.contains_key("note"));
    assert!(!out.contains_key("tags"));
}

#[test]
fn multi_valued_read_only_sub_attributes_are_carried_by_value() {
    let mut existing = device_existing();
    existing["tags"] =
        json!([{"value": "t1", "addedBy": "admin"}, {"value": "t2", "addedBy": "ops"}]);
    let out = replace(
        "Device",
        &existing,
        device_body(json!({"tags": [{"value": "t2", "addedBy": "client says"}, {"value": "t3"}]})),
    )
    .unwrap();
    assert_eq!(
        out["tags"],
        json!([{"value": "t2", "addedBy": "ops"}, {"value": "t3"}])
    );
}

#[test]
fn okta_put_group_replaces_members_as_sent() {
    let mut existing = create(
        "Group",
        json!({"schemas": [GROUP], "displayName": "G",
               "members": [{"value": "u1", "display": "Alice"}]}),
    )
    .unwrap();
    set_meta(
        &mut existing,
        "g-1",
        &Meta {
            resource_type: "Group",
            created: "2024-01-01T00:00:00Z",
            last_modified: "2024-01-01T00:00:00Z",
            location: "",
            version: "",
        },
    );
    let out = replace(
        "Group",
        &existing,
        json!({"schemas": [GROUP], "id": "g-1", "displayName": "G2",
               "members": [{"value": "u2", "display": "Bob"}, {"value": "u3"}]}),
    )
    .unwrap();
    assert_eq!(
        out["members"],
        json!([{"value": "u2", "display": "Bob"}, {"value": "u3"}])
    );
    assert_eq!(out["displayName"], "G2");
    assert_eq!(out["id"], "g-1");
}

#[test]
fn extension_absent_from_put_is_cleared() {
    let existing = stored_user();
    let out = replace(
        "User",
        &existing,
        json!({"schemas": [USER, ENTERPRISE], "userName": "alice@example.com",
               ENTERPRISE: {"department": "Ops"}}),
    )
    .unwrap();
    assert_eq!(out[ENTERPRISE], json!({"department": "Ops"}));
    assert_eq!(out["schemas"], json!([USER, ENTERPRISE]));
}

#[test]
fn id_in_body_is_ignored_even_when_it_differs() {
    // RFC 7644 §3.5.1: readOnly values in a PUT body SHALL be ignored.
    let existing = stored_user();
    for id in [json!(null), json!("u-1"), json!("u-2"), json!(7)] {
        let body = json!({"schemas": [USER], "userName": "a", "id": id});
        let out = replace("User", &existing, body).unwrap();
        assert_eq!(out["id"], "u-1");
    }
}

#[test]
fn same_value_compares_by_attribute_semantics() {
    let reg = registry();
    let user = reg.schema(USER).unwrap();
    let emails = user.attribute("emails").unwrap();
    let a = json!([{"value": "A@x", "type": "work"}, {"value": "b@x"}]);
    let b = json!([{"value": "b@x"}, {"value": "a@X", "type": "WORK"}]);
    assert!(super::super::replace::same_value(emails, &a, &b));
    let c = json!([{"value": "b@x"}]);
    assert!(!super::super::replace::same_value(emails, &a, &c));
    let device = reg.schema(DEVICE).unwrap();
    let tag = device.attribute("caseTag").unwrap();
    assert!(!super::super::replace::same_value(
        tag,
        &json!("A"),
        &json!("a")
    ));
}
