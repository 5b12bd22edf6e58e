//! The create and replace bodies of IDP-COMPAT.md, one test per provider quirk.

use super::*;
use crate::schema::ENTRA_GROUP_SCHEMA;

/// Entra ID's provisioning body for a new user (IDP-COMPAT.md, Entra 3, 5, 7).
fn entra_user_body() -> Value {
    json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": "True",
        "displayName": "Test User",
        "title": null,
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
        "roles": [],
        "addresses": null,
        "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100", "primary": "False"}],
        ENTERPRISE: {"employeeNumber": "0042", "department": "Sales", "manager": null}
    })
}

#[test]
fn entra_create_user_with_nulls_and_string_booleans() {
    let out = create("User", entra_user_body()).unwrap();
    assert_eq!(
        Value::Object(out),
        json!({
            "schemas": [USER, ENTERPRISE],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
            "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
            "displayName": "Test User",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "phoneNumbers": [{"type": "mobile", "value": "+1 555 0100", "primary": false}],
            ENTERPRISE: {"employeeNumber": "0042", "department": "Sales"}
        })
    );
}

#[test]
fn entra_create_user_with_active_false_string() {
    let mut body = entra_user_body();
    body["active"] = json!("false");
    assert_eq!(create("User", body).unwrap()["active"], json!(false));
}

#[test]
fn entra_create_user_with_manager_as_list_object_or_bare_id() {
    for manager in [
        json!([{"$ref": "../Users/boss-id", "value": "boss-id"}]),
        json!({"value": "boss-id"}),
        json!("boss-id"),
        json!(["boss-id"]),
    ] {
        let mut body = entra_user_body();
        body[ENTERPRISE]["manager"] = manager.clone();
        let out = create("User", body).unwrap();
        assert_eq!(out[ENTERPRISE]["manager"]["value"], "boss-id", "{manager}");
    }
}

#[test]
fn entra_create_user_with_manager_as_flat_urn_key() {
    let mut body = entra_user_body();
    body[format!("{ENTERPRISE}:manager")] = json!("boss-id");
    body[ENTERPRISE].as_object_mut().unwrap().remove("manager");
    let out = create("User", body).unwrap();
    assert_eq!(out[ENTERPRISE]["manager"], json!({"value": "boss-id"}));
}

#[test]
fn entra_create_user_with_empty_manager_has_none() {
    for manager in [json!(""), json!([]), json!({"value": ""}), json!(null)] {
        let mut body = entra_user_body();
        body[ENTERPRISE]["manager"] = manager;
        let out = create("User", body).unwrap();
        assert!(out[ENTERPRISE].get("manager").is_none());
    }
}

#[test]
fn entra_create_user_with_urn_qualified_flat_employee_number() {
    let out = create(
        "User",
        json!({
            "schemas": [USER, ENTERPRISE],
            "userName": "k@example.com",
            "name.givenName": "K",
            format!("{ENTERPRISE}:employeeNumber"): "7"
        }),
    )
    .unwrap();
    assert_eq!(out["name"], json!({"givenName": "K"}));
    assert_eq!(out[ENTERPRISE], json!({"employeeNumber": "7"}));
}

#[test]
fn entra_create_user_clears_optional_attributes_with_empty_strings() {
    let mut body = entra_user_body();
    body["displayName"] = json!("");
    body["name"]["givenName"] = json!("");
    let out = create("User", body).unwrap();
    assert!(out.get("displayName").is_none());
    assert!(out["name"].get("givenName").is_none());
}

#[test]
fn entra_group_with_extra_schema_urn() {
    let out = create(
        "Group",
        json!({
            "schemas": [GROUP, ENTRA_GROUP_SCHEMA],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "Group1DisplayName",
            "meta": {"resourceType": "Group"}
        }),
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"schemas": [GROUP], "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
               "displayName": "Group1DisplayName"})
    );
}

#[test]
fn entra_group_with_members_with_null_ref() {
    let out = create(
        "Group",
        json!({"schemas": [GROUP], "displayName": "g",
               "members": [{"$ref": null, "value": "u1"}, {"value": "u2"}]}),
    )
    .unwrap();
    assert_eq!(out["members"], json!([{"value": "u1"}, {"value": "u2"}]));
}

/// Okta's create body (IDP-COMPAT.md, Okta 4).
fn okta_user_body() -> Value {
    json!({
        "schemas": [USER],
        "userName": "test.user@okta.local",
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

#[test]
fn okta_create_user_with_password_groups_and_locale() {
    let out = create("User", okta_user_body()).unwrap();
    assert_eq!(out["password"], "1mz050nq");
    assert_eq!(out["locale"], "en-US");
    assert_eq!(out["externalId"], "00ujl29u0le5T6Aj10h7");
    assert!(!out.contains_key("groups"));
    // The password is kept for the server but never rendered.
    let rendered = render_with("User", &out, None, None);
    assert!(rendered.get("password").is_none());
    let rendered = render_with("User", &out, Some("password,userName"), None);
    assert!(rendered.get("password").is_none());
}

fn okta_stored_user() -> Map<String, Value> {
    let mut m = create("User", okta_user_body()).unwrap();
    set_meta(
        &mut m,
        "u-42",
        &Meta {
            resource_type: "User",
            created: "2024-05-01T12:00:00Z",
            last_modified: "2024-05-01T12:00:00Z",
            location: "https://example.com/scim/v2/Users/u-42",
            version: "W/\"1\"",
        },
    );
    // The server adds group memberships when it reads the user.
    m.insert(
        "groups".into(),
        json!([{"value": "g-1", "display": "Admins"}]),
    );
    m
}

#[test]
fn okta_put_with_id_meta_and_groups() {
    let existing = okta_stored_user();
    let out = replace(
        "User",
        &existing,
        json!({
            "schemas": [USER],
            "id": "u-42",
            "userName": "test.user@okta.local",
            "name": {"givenName": "Test", "familyName": "Renamed"},
            "emails": [{"primary": true, "value": "test.user@okta.local", "type": "work"}],
            "displayName": "Test Renamed",
            "locale": "en-US",
            "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [],
            "active": true,
            "meta": {"resourceType": "User", "created": "1999-01-01T00:00:00Z"}
        }),
    )
    .unwrap();
    assert_eq!(out["id"], "u-42");
    assert_eq!(out["meta"], existing["meta"]);
    assert_eq!(out["groups"], existing["groups"]);
    assert_eq!(out["name"]["familyName"], "Renamed");
    // The password was not sent: the stored one stays.
    assert_eq!(out["password"], "1mz050nq");
    assert_eq!(keys(&Value::Object(out.clone()))[..2], ["schemas", "id"]);
}

#[test]
fn okta_put_with_another_id_keeps_the_resource_id() {
    // RFC 7644 §3.5.1: readOnly values in a PUT body, `id` included, SHALL be ignored.
    let existing = okta_stored_user();
    let mut body = okta_user_body();
    body["id"] = json!("u-43");
    let out = replace("User", &existing, body).unwrap();
    assert_eq!(out["id"], existing["id"]);
}

#[test]
fn okta_put_deactivates_without_deleting() {
    let existing = okta_stored_user();
    let mut body = okta_user_body();
    body["active"] = json!(false);
    let out = replace("User", &existing, body).unwrap();
    assert_eq!(out["active"], false);
    assert_eq!(out["id"], "u-42");
}

#[test]
fn okta_group_push_with_empty_members() {
    let out = create(
        "Group",
        json!({"schemas": [GROUP], "displayName": "Test Group", "members": []}),
    )
    .unwrap();
    assert_eq!(
        Value::Object(out),
        json!({"schemas": [GROUP], "displayName": "Test Group"})
    );
}

#[test]
fn okta_group_members_with_display() {
    let out = create(
        "Group",
        json!({"schemas": [GROUP], "displayName": "G",
               "members": [{"value": "b", "display": "Bob"}]}),
    )
    .unwrap();
    assert_eq!(out["members"], json!([{"value": "b", "display": "Bob"}]));
}

#[test]
fn onelogin_manager_with_unknown_sub_attribute() {
    let out = create(
        "User",
        json!({
            "schemas": [USER, ENTERPRISE],
            "userName": "o@example.com",
            ENTERPRISE: {"manager": {"value": "42", "displayName": "Boss", "email": "boss@x"}}
        }),
    )
    .unwrap();
    assert_eq!(out[ENTERPRISE]["manager"], json!({"value": "42"}));
}

#[test]
fn jumpcloud_connection_test_user_and_group() {
    let user = create(
        "User",
        json!({"schemas": [USER], "userName": "jc-test-user", "active": true,
               "name": {"givenName": "JC", "familyName": "Test"},
               "emails": [{"value": "jc@example.com", "primary": true}]}),
    );
    assert!(user.is_ok(), "{user:?}");
    let group = create(
        "Group",
        json!({"schemas": [GROUP], "displayName": "jc-test-group"}),
    );
    assert!(group.is_ok(), "{group:?}");
}
