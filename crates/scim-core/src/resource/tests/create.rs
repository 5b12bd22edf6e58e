use super::*;

#[test]
fn minimal_user_is_canonical() {
    let out = create("User", json!({"schemas": [USER], "userName": "alice"})).unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"schemas": [USER], "userName": "alice"})
    );
}

#[test]
fn body_must_be_an_object() {
    assert_err(
        create("User", json!([1])),
        ScimType::InvalidSyntax,
        "JSON object",
    );
    assert_err(
        create("User", json!("x")),
        ScimType::InvalidSyntax,
        "JSON object",
    );
}

#[test]
fn schemas_must_be_present_and_well_formed() {
    assert_err(
        create("User", json!({"userName": "a"})),
        ScimType::InvalidSyntax,
        "'schemas'",
    );
    assert_err(
        create("User", json!({"schemas": null, "userName": "a"})),
        ScimType::InvalidSyntax,
        "'schemas'",
    );
    assert_err(
        create("User", json!({"schemas": {"a": 1}, "userName": "a"})),
        ScimType::InvalidSyntax,
        "array",
    );
    assert_err(
        create("User", json!({"schemas": [USER, 5], "userName": "a"})),
        ScimType::InvalidSyntax,
        "array",
    );
}

#[test]
fn schemas_must_list_the_core_schema() {
    assert_err(
        create("User", json!({"schemas": [ENTERPRISE], "userName": "a"})),
        ScimType::InvalidValue,
        USER,
    );
}

#[test]
fn unknown_schema_urns_are_rejected() {
    assert_err(
        create(
            "User",
            json!({"schemas": [USER, "urn:example:Nope"], "userName": "a"}),
        ),
        ScimType::InvalidValue,
        "urn:example:Nope",
    );
    // A known schema that is not an extension of this resource type.
    assert_err(
        create(
            "Group",
            json!({"schemas": [GROUP, ENTERPRISE], "displayName": "g"}),
        ),
        ScimType::InvalidValue,
        ENTERPRISE,
    );
}

#[test]
fn schemas_may_be_a_single_string_and_any_case() {
    let out = create(
        "User",
        json!({"schemas": USER.to_uppercase(), "userName": "a"}),
    )
    .unwrap();
    assert_eq!(out["schemas"], json!([USER]));
}

#[test]
fn extension_attributes_need_the_extension_in_schemas() {
    assert_err(
        create(
            "User",
            json!({"schemas": [USER], "userName": "a", ENTERPRISE: {"department": "x"}}),
        ),
        ScimType::InvalidValue,
        "does not list",
    );
    assert_err(
        create(
            "User",
            json!({"schemas": [USER], "userName": "a",
                   format!("{ENTERPRISE}:department"): "x"}),
        ),
        ScimType::InvalidValue,
        ENTERPRISE,
    );
}

#[test]
fn declared_but_unused_extension_is_dropped_from_schemas() {
    let out = create(
        "User",
        json!({"schemas": [USER, ENTERPRISE], "userName": "a", ENTERPRISE: {"manager": null}}),
    )
    .unwrap();
    assert_eq!(out["schemas"], json!([USER]));
    assert!(!out.contains_key(ENTERPRISE));
}

#[test]
fn names_match_case_insensitively_and_come_out_canonical() {
    let out = create(
        "User",
        json!({
            "SCHEMAS": [USER, ENTERPRISE.to_lowercase()],
            "USERNAME": "a",
            "Name": {"GIVENNAME": "Al", "familyname": "B"},
            "EMAILS": [{"VALUE": "a@x", "Primary": "true"}],
            ENTERPRISE.to_uppercase(): {"DEPARTMENT": "d"}
        }),
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({
            "schemas": [USER, ENTERPRISE],
            "userName": "a",
            "name": {"givenName": "Al", "familyName": "B"},
            "emails": [{"value": "a@x", "primary": true}],
            ENTERPRISE: {"department": "d"}
        })
    );
}

#[test]
fn output_is_in_schema_order_whatever_the_input_order() {
    let out = create(
        "User",
        json!({
            ENTERPRISE: {"manager": "m", "employeeNumber": "1"},
            "emails": [{"value": "a@x"}],
            "active": true,
            "userName": "a",
            "externalId": "e",
            "schemas": [ENTERPRISE, USER]
        }),
    )
    .unwrap();
    let keys: Vec<&str> = out.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "schemas",
            "externalId",
            "userName",
            "active",
            "emails",
            ENTERPRISE
        ]
    );
    assert_eq!(out["schemas"], json!([USER, ENTERPRISE]));
    let ext: Vec<&str> = out[ENTERPRISE]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(ext, ["employeeNumber", "manager"]);
}

#[test]
fn urn_qualified_flat_keys_go_under_the_extension() {
    let out = create(
        "User",
        json!({
            "schemas": [USER, ENTERPRISE],
            "userName": "a",
            format!("{ENTERPRISE}:employeeNumber"): "7",
            format!("{}:costCenter", ENTERPRISE.to_lowercase()): "cc",
            format!("{USER}:displayName"): "Al"
        }),
    )
    .unwrap();
    assert_eq!(out["displayName"], "Al");
    assert_eq!(
        out[ENTERPRISE],
        json!({"employeeNumber": "7", "costCenter": "cc"})
    );
}

#[test]
fn dotted_keys_set_one_sub_attribute() {
    let out = create(
        "User",
        json!({
            "schemas": [USER, ENTERPRISE],
            "userName": "a",
            "name": {"familyName": "B"},
            "name.givenName": "Al",
            format!("{ENTERPRISE}:manager.value"): "boss"
        }),
    )
    .unwrap();
    assert_eq!(out["name"], json!({"familyName": "B", "givenName": "Al"}));
    assert_eq!(out[ENTERPRISE], json!({"manager": {"value": "boss"}}));
}

#[test]
fn dotted_key_into_a_multi_valued_attribute_is_rejected() {
    assert_err(
        create(
            "User",
            json!({"schemas": [USER], "userName": "a", "emails.value": "a@x"}),
        ),
        ScimType::InvalidSyntax,
        "multi-valued",
    );
}

#[test]
fn core_attributes_under_the_core_urn_are_accepted() {
    let out = create(
        "User",
        json!({"schemas": [USER], USER: {"userName": "a", "title": "t"}}),
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"schemas": [USER], "userName": "a", "title": "t"})
    );
}

#[test]
fn unknown_attributes_are_rejected_by_name() {
    assert_err(
        create(
            "User",
            json!({"schemas": [USER], "userName": "a", "shoeSize": 42}),
        ),
        ScimType::InvalidSyntax,
        "unknown attribute 'shoeSize'",
    );
    assert_err(
        create(
            "User",
            json!({"schemas": [USER, ENTERPRISE], "userName": "a", ENTERPRISE: {"nope": 1}}),
        ),
        ScimType::InvalidSyntax,
        &format!("unknown attribute '{ENTERPRISE}:nope'"),
    );
    assert_err(
        create(
            "User",
            json!({"schemas": [USER], "userName": "a", "urn:example:x:attr": 1}),
        ),
        ScimType::InvalidSyntax,
        "unknown attribute 'urn:example:x:attr'",
    );
    assert_err(
        create(
            "User",
            json!({"schemas": [USER], "userName": "a", "name.nickname": "x"}),
        ),
        ScimType::InvalidSyntax,
        "unknown attribute 'name.nickname'",
    );
    assert_err(
        create(
            "User",
            json!({"schemas": [USER], "userName": "a", "bad key": 1}),
        ),
        ScimType::InvalidSyntax,
        "unknown attribute 'bad key'",
    );
}

#[test]
fn extension_value_must_be_an_object() {
    assert_err(
        create(
            "User",
            json!({"schemas": [USER, ENTERPRISE], "userName": "a", ENTERPRISE: "x"}),
        ),
        ScimType::InvalidSyntax,
        "must be an object",
    );
}

#[test]
fn read_only_attributes_are_ignored() {
    let out = create(
        "User",
        json!({
            "schemas": [USER], "userName": "a",
            "id": "client-chosen", "meta": {"resourceType": "User", "version": "W/\"9\""},
            "groups": [{"value": "g1"}]
        }),
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"schemas": [USER], "userName": "a"})
    );
}

#[test]
fn read_only_sub_attributes_are_ignored() {
    let out = create(
        "Device",
        json!({"schemas": [DEVICE, DEVICE_EXT], "serialNumber": "s", DEVICE_EXT: {"site": "a"},
               "owner": {"value": "u1", "display": "Alice"},
               "tags": [{"value": "t1", "addedBy": "x"}, {"addedBy": "only read-only"}]}),
    )
    .unwrap();
    assert_eq!(out["owner"], json!({"value": "u1"}));
    assert_eq!(out["tags"], json!([{"value": "t1"}]));
}

#[test]
fn required_attributes_are_enforced() {
    assert_err(
        create("User", json!({"schemas": [USER], "displayName": "x"})),
        ScimType::InvalidValue,
        "'userName'",
    );
    assert_err(
        create("User", json!({"schemas": [USER], "userName": ""})),
        ScimType::InvalidValue,
        "'userName'",
    );
    assert_err(
        create("User", json!({"schemas": [USER], "userName": null})),
        ScimType::InvalidValue,
        "'userName'",
    );
    assert_err(
        create("Group", json!({"schemas": [GROUP], "members": []})),
        ScimType::InvalidValue,
        "'displayName'",
    );
}

#[test]
fn required_sub_attributes_only_when_the_parent_is_present() {
    let ok = create(
        "Device",
        json!({"schemas": [DEVICE, DEVICE_EXT], "serialNumber": "s1", DEVICE_EXT: {"site": "a"}}),
    );
    assert!(ok.is_ok(), "{ok:?}");
    assert_err(
        create(
            "Device",
            json!({"schemas": [DEVICE, DEVICE_EXT], "serialNumber": "s1",
                   "owner": {"badge": "b"}, DEVICE_EXT: {"site": "a"}}),
        ),
        ScimType::InvalidValue,
        "'owner.value'",
    );
}

#[test]
fn required_extension_and_its_required_attributes() {
    assert_err(
        create("Device", json!({"schemas": [DEVICE], "serialNumber": "s1"})),
        ScimType::InvalidValue,
        DEVICE_EXT,
    );
    assert_err(
        create(
            "Device",
            json!({"schemas": [DEVICE, DEVICE_EXT], DEVICE_EXT: {"site": "x"}}),
        ),
        ScimType::InvalidValue,
        "'serialNumber'",
    );
    // Several missing attributes are all named.
    let e = create("Device", json!({"schemas": [DEVICE]})).unwrap_err();
    assert!(
        e.detail.contains("'serialNumber'") && e.detail.contains(DEVICE_EXT),
        "{e}"
    );
}

#[test]
fn type_errors_are_invalid_value() {
    assert_err(
        create(
            "User",
            json!({"schemas": [USER], "userName": "a", "active": "yes"}),
        ),
        ScimType::InvalidValue,
        "'active'",
    );
    assert_err(
        create("User", json!({"schemas": [USER], "userName": 5})),
        ScimType::InvalidValue,
        "'userName'",
    );
    assert_err(
        create(
            "User",
            json!({"schemas": [USER], "userName": "a",
                   "emails": [{"value": "a", "primary": true}, {"value": "b", "primary": "True"}]}),
        ),
        ScimType::InvalidValue,
        "primary",
    );
    assert_err(
        create(
            "Device",
            json!({"schemas": [DEVICE, DEVICE_EXT], "serialNumber": "s", "bought": "yesterday",
                   DEVICE_EXT: {"site": "a"}}),
        ),
        ScimType::InvalidValue,
        "'bought'",
    );
}

#[test]
fn write_only_password_is_kept_in_the_stored_form() {
    let out = create(
        "User",
        json!({"schemas": [USER], "userName": "a", "password": "pw"}),
    )
    .unwrap();
    assert_eq!(out["password"], "pw");
}

#[test]
fn empty_strings_and_nulls_mean_no_value() {
    let out = create(
        "User",
        json!({"schemas": [USER], "userName": "a", "title": "", "nickName": null,
               "name": {"givenName": "", "familyName": "B"},
               "emails": [{"value": ""}, {"value": "b@x", "type": ""}],
               "addresses": null, "roles": [], "phoneNumbers": [null]}),
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"schemas": [USER], "userName": "a", "name": {"familyName": "B"},
               "emails": [{"value": "b@x"}]})
    );
}

#[test]
fn the_same_attribute_twice_is_rejected() {
    assert_err(
        create(
            "User",
            json!({"schemas": [USER], "userName": "a", "USERNAME": "b"}),
        ),
        ScimType::InvalidSyntax,
        "more than once",
    );
}

#[test]
fn multi_valued_simple_attributes_and_single_values() {
    let out = create(
        "Device",
        json!({"schemas": [DEVICE, DEVICE_EXT], "serialNumber": "s", "ports": ["80", 443],
               "tags": {"value": "one"}, DEVICE_EXT: {"site": "a", "rack": "ignored"}}),
    )
    .unwrap();
    assert_eq!(out["ports"], json!([80, 443]));
    assert_eq!(out["tags"], json!([{"value": "one"}]));
    assert_eq!(out[DEVICE_EXT], json!({"site": "a"}));
}

#[test]
fn bare_strings_for_multi_valued_complex_values() {
    let out = create(
        "Group",
        json!({"schemas": [GROUP], "displayName": "g", "members": ["u1", {"value": "u2"}]}),
    )
    .unwrap();
    assert_eq!(out["members"], json!([{"value": "u1"}, {"value": "u2"}]));
}
