//! add, replace and remove on attributes, sub-attributes, value filters and extensions,
//! with and without `path`.

use super::*;

#[test]
fn add_sets_and_replaces_single_valued_attributes() {
    let out = ok(
        "User",
        &user(),
        json!([
            {"op": "add", "path": "nickName", "value": "Babs"},
            {"op": "add", "path": "title", "value": "Lead Guide"}
        ]),
    );
    assert_eq!(out.resource["nickName"], "Babs");
    assert_eq!(out.resource["title"], "Lead Guide");
    assert_eq!(out.changed, ["nickName", "title"]);
}

#[test]
fn add_to_complex_merges_sub_attributes() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "add", "path": "name", "value": {"middleName": "Jane", "givenName": "Barb"}}]),
    );
    assert_eq!(
        out.resource["name"],
        json!({"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barb", "middleName": "Jane"})
    );
    assert_eq!(out.changed, ["name.givenName", "name.middleName"]);
}

#[test]
fn add_to_multi_valued_merges_without_duplicates() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "add", "path": "emails", "value": [
            {"value": "BJENSEN@example.com", "type": "WORK"},
            {"value": "barbara@example.org", "type": "other"},
            {"value": "barbara@example.org", "type": "other"}
        ]}]),
    );
    let emails = out.resource["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 3, "{emails:?}");
    assert_eq!(
        emails[2],
        json!({"value": "barbara@example.org", "type": "other"})
    );
    assert_eq!(out.changed, ["emails"]);
    // The same element again changes nothing.
    let again = ok(
        "User",
        &out.resource,
        json!([{"op": "add", "path": "emails", "value": {"value": "barbara@example.org"}}]),
    );
    assert!(again.changed.is_empty());
    assert_eq!(again.resource, out.resource);
}

#[test]
fn add_members_dedupes_by_value() {
    let out = ok(
        "Group",
        &group(),
        json!([{"op": "add", "path": "members", "value": [
            {"value": M1}, {"value": "new-1", "type": "User"}, {"value": "new-1"}
        ]}]),
    );
    assert_eq!(member_ids(&out.resource), [M1, M2, "new-1"]);
}

#[test]
fn add_primary_clears_other_primaries() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "add", "path": "emails", "value": [
            {"value": "new@example.com", "type": "work", "primary": "True"}
        ]}]),
    );
    let emails = out.resource["emails"].as_array().unwrap();
    assert_eq!(
        emails[0],
        json!({"value": "bjensen@example.com", "type": "work"})
    );
    assert_eq!(emails[2]["primary"], true);
    let e = err(
        "User",
        &user(),
        json!([{"op": "add", "path": "emails", "value": [
            {"value": "a@x", "primary": true}, {"value": "b@x", "primary": true}
        ]}]),
        ScimType::InvalidValue,
    );
    assert!(e.detail.contains("primary"), "{}", e.detail);
}

#[test]
fn add_with_null_or_empty_value_changes_nothing() {
    for v in [json!(null), json!(""), json!([]), json!({})] {
        let out = ok(
            "User",
            &user(),
            json!([{"op": "add", "path": "title", "value": v}]),
        );
        assert_eq!(out.resource, user());
        assert!(out.changed.is_empty());
    }
}

#[test]
fn add_value_filter_sets_sub_attribute_on_matches() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "add", "path": "emails[type eq \"home\"].display", "value": "Home"}]),
    );
    assert_eq!(
        out.resource["emails"][1],
        json!({"value": "babs@jensen.org", "type": "home", "display": "Home"})
    );
}

#[test]
fn add_value_filter_without_match_creates_the_described_element() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "add", "path": "addresses[type eq \"home\"].locality", "value": "Pasadena"}]),
    );
    assert_eq!(
        out.resource["addresses"][1],
        json!({"type": "home", "locality": "Pasadena"})
    );
    let out = ok(
        "User",
        &user(),
        json!([{"op": "add", "path": "phoneNumbers[type eq \"mobile\"]", "value": {"value": "555-1"}}]),
    );
    assert_eq!(
        out.resource["phoneNumbers"][1],
        json!({"type": "mobile", "value": "555-1"})
    );
    let e = err(
        "User",
        &user(),
        json!([{"op": "add", "path": "emails[type ne \"work\" and type ne \"home\"].value", "value": "x@y"}]),
        ScimType::NoTarget,
    );
    assert!(e.detail.contains("does not describe"), "{}", e.detail);
}

#[test]
fn replace_simple_sub_attribute_and_complex() {
    let out = ok(
        "User",
        &user(),
        json!([
            {"op": "replace", "path": "name.familyName", "value": "Jensen-Smith"},
            {"op": "replace", "path": "name", "value": {"givenName": "Barb"}}
        ]),
    );
    assert_eq!(
        out.resource["name"],
        json!({"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen-Smith", "givenName": "Barb"})
    );
    assert_eq!(out.changed, ["name.familyName", "name.givenName"]);
    // A sub-attribute of an absent complex attribute creates it.
    let mut u = user();
    u.shift_remove("name");
    let out = ok(
        "User",
        &u,
        json!([{"op": "replace", "path": "name.givenName", "value": "B"}]),
    );
    assert_eq!(out.resource["name"], json!({"givenName": "B"}));
}

#[test]
fn replace_multi_valued_replaces_the_whole_list() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "path": "emails", "value": [{"value": "only@example.com", "type": "work"}]}]),
    );
    assert_eq!(
        out.resource["emails"],
        json!([{"value": "only@example.com", "type": "work"}])
    );
}

#[test]
fn replace_value_filter_replaces_matching_elements() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"]", "value": {"value": "b@home.org", "type": "home"}}]),
    );
    assert_eq!(
        out.resource["emails"][1],
        json!({"value": "b@home.org", "type": "home"})
    );
    assert_eq!(out.resource["emails"][0]["value"], "bjensen@example.com");
}

#[test]
fn replace_addresses_work_locality() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "path": "addresses[type eq \"work\"].locality", "value": "Burbank"}]),
    );
    assert_eq!(out.resource["addresses"][0]["locality"], "Burbank");
    assert_eq!(out.resource["addresses"][0]["postalCode"], "91608");
    assert_eq!(out.changed, ["addresses"]);
}

#[test]
fn replace_value_filter_without_match_is_no_target() {
    let e = err(
        "User",
        &user(),
        json!([{"op": "replace", "path": "emails[type eq \"other\"].value", "value": "x@y"}]),
        ScimType::NoTarget,
    );
    assert!(
        e.detail
            .starts_with("operation 1 (replace emails[type eq \"other\"].value): "),
        "{}",
        e.detail
    );
    err(
        "User",
        &user(),
        json!([{"op": "replace", "path": "emails[type eq \"other\"]", "value": {"value": "x@y"}}]),
        ScimType::NoTarget,
    );
}

#[test]
fn replace_primary_on_one_element_clears_the_others() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "path": "emails[type eq \"home\"].primary", "value": true}]),
    );
    assert_eq!(out.resource["emails"][0].get("primary"), None);
    assert_eq!(out.resource["emails"][1]["primary"], true);
}

#[test]
fn replace_sub_attribute_of_multi_valued_without_filter_applies_to_every_element() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "path": "emails.display", "value": "E"}]),
    );
    assert!(
        out.resource["emails"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["display"] == "E")
    );
    let out = ok(
        "User",
        &user(),
        json!([{"op": "remove", "path": "emails.type"}]),
    );
    assert!(
        out.resource["emails"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e.get("type").is_none())
    );
    let e = err(
        "User",
        &user(),
        json!([{"op": "replace", "path": "emails.primary", "value": true}]),
        ScimType::InvalidValue,
    );
    assert!(e.detail.contains("primary"));
}

#[test]
fn replace_with_empty_or_null_removes_any_attribute() {
    for v in [json!(""), json!(null), json!([]), json!({})] {
        let out = ok(
            "User",
            &user(),
            json!([
                {"op": "replace", "path": "title", "value": v},
                {"op": "replace", "path": "emails", "value": v},
                {"op": "replace", "path": "name.formatted", "value": v}
            ]),
        );
        assert!(out.resource.get("title").is_none());
        assert!(out.resource.get("emails").is_none());
        assert!(out.resource["name"].get("formatted").is_none());
        assert_eq!(out.changed, ["name.formatted", "title", "emails"]);
    }
}

#[test]
fn remove_attribute_sub_attribute_and_absent_attribute() {
    let out = ok(
        "User",
        &user(),
        json!([
            {"op": "remove", "path": "title"},
            {"op": "remove", "path": "name.formatted"},
            {"op": "remove", "path": "nickName"},
            {"op": "remove", "path": "x509Certificates[value eq \"abc\"]"}
        ]),
    );
    assert!(out.resource.get("title").is_none());
    assert_eq!(
        out.resource["name"],
        json!({"familyName": "Jensen", "givenName": "Barbara"})
    );
    assert_eq!(out.changed, ["name.formatted", "title"]);
    let out = ok(
        "User",
        &user(),
        json!([
            {"op": "remove", "path": "name.formatted"},
            {"op": "remove", "path": "name.familyName"},
            {"op": "remove", "path": "name.givenName"}
        ]),
    );
    assert!(
        out.resource.get("name").is_none(),
        "an emptied complex attribute is removed"
    );
}

#[test]
fn remove_value_filter_removes_only_the_matches() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
    );
    assert_eq!(
        out.resource["emails"],
        json!([{"value": "babs@jensen.org", "type": "home"}])
    );
    let out = ok(
        "User",
        &out.resource,
        json!([{"op": "remove", "path": "emails[type eq \"home\"]"}]),
    );
    assert!(
        out.resource.get("emails").is_none(),
        "removing the last element removes the attribute"
    );
    let out = ok(
        "Group",
        &group(),
        json!([{"op": "remove", "path": format!("members[value eq \"{M2}\"]")}]),
    );
    assert_eq!(member_ids(&out.resource), [M1]);
    assert_eq!(out.changed, ["members"]);
}

#[test]
fn remove_value_filter_sub_attribute() {
    let mut u = user();
    u.insert("emails".into(), json!([{"value": "a@x", "type": "work", "display": "A"}, {"value": "b@x", "type": "home", "display": "B"}]));
    let out = ok(
        "User",
        &u,
        json!([{"op": "remove", "path": "emails[type eq \"work\"].display"}]),
    );
    assert_eq!(
        out.resource["emails"],
        json!([{"value": "a@x", "type": "work"}, {"value": "b@x", "type": "home", "display": "B"}])
    );
}

#[test]
fn remove_without_match_or_value_is_a_no_op() {
    let out = ok(
        "Group",
        &group(),
        json!([{"op": "remove", "path": "members[value eq \"nobody\"]"}]),
    );
    assert_eq!(out.resource, group());
    assert!(out.changed.is_empty());
}

#[test]
fn remove_with_value_removes_only_the_listed_elements() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "remove", "path": "emails", "value": [{"value": "BABS@jensen.org"}]}]),
    );
    assert_eq!(
        out.resource["emails"],
        json!([{"value": "bjensen@example.com", "type": "work", "primary": true}])
    );
    let out = ok(
        "User",
        &user(),
        json!([{"op": "remove", "path": "emails", "value": []}]),
    );
    assert_eq!(out.resource, user(), "an empty list removes nothing");
}

#[test]
fn extension_attributes_by_urn_path() {
    let out = ok(
        "User",
        &user(),
        json!([
            {"op": "replace", "path": format!("{EXT}:department"), "value": "Sales"},
            {"op": "add", "path": format!("{EXT}:manager.value"), "value": "boss-2"},
            {"op": "add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:COSTCENTER", "value": "4130"}
        ]),
    );
    let e = ext(&out.resource).unwrap();
    assert_eq!(e["department"], "Sales");
    assert_eq!(e["manager"], json!({"value": "boss-2"}));
    assert_eq!(e["costCenter"], "4130");
    assert_eq!(
        out.changed,
        [
            format!("{EXT}:costCenter"),
            format!("{EXT}:department"),
            format!("{EXT}:manager.value")
        ]
    );
}

#[test]
fn schemas_follow_the_extensions_present() {
    let mut u = user();
    u.shift_remove(EXT);
    u.insert("schemas".into(), json!([USER_SCHEMA]));
    let out = ok(
        "User",
        &u,
        json!([{"op": "add", "path": format!("{EXT}:employeeNumber"), "value": "7"}]),
    );
    assert_eq!(out.resource["schemas"], json!([USER_SCHEMA, EXT]));
    assert_eq!(out.resource[EXT], json!({"employeeNumber": "7"}));
    let out = ok(
        "User",
        &out.resource,
        json!([{"op": "remove", "path": format!("{EXT}:employeeNumber")}]),
    );
    assert_eq!(out.resource["schemas"], json!([USER_SCHEMA]));
    assert!(out.resource.get(EXT).is_none());
}

#[test]
fn whole_extension_by_bare_urn() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "path": EXT, "value": {"department": "Sales", "division": "West"}}]),
    );
    let e = ext(&out.resource).unwrap();
    assert_eq!(e["department"], "Sales");
    assert_eq!(e["division"], "West");
    assert_eq!(
        e["employeeNumber"], "701984",
        "attributes not given are kept"
    );
    let out = ok("User", &user(), json!([{"op": "remove", "path": EXT}]));
    assert!(out.resource.get(EXT).is_none());
    assert_eq!(out.resource["schemas"], json!([USER_SCHEMA]));
    let e = err(
        "User",
        &user(),
        json!([{"op": "add", "path": EXT, "value": "x"}]),
        ScimType::InvalidValue,
    );
    assert!(e.detail.contains("object"));
    err(
        "User",
        &user(),
        json!([{"op": "add", "path": EXT, "value": {"nope": 1}}]),
        ScimType::InvalidPath,
    );
}

/// scim2-tester sends the extension's value with a `schemas` key inside; it is ignored.
#[test]
fn whole_extension_value_with_schemas_key() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "add", "path": EXT, "value": {"schemas": [EXT], "costCenter": "4130"}}]),
    );
    let e = ext(&out.resource).unwrap();
    assert_eq!(e["costCenter"], "4130");
    assert!(e.get("schemas").is_none());
}

#[test]
fn pathless_value_keys_apply_each() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "add", "value": {
            "nickName": "Babs",
            "name.middleName": "J",
            EXT: {"division": "West"},
            "emails[type eq \"other\"].value": "o@x",
            "meta": {"resourceType": "User"},
            "schemas": [USER_SCHEMA]
        }}]),
    );
    assert_eq!(out.resource["nickName"], "Babs");
    assert_eq!(out.resource["name"]["middleName"], "J");
    assert_eq!(ext(&out.resource).unwrap()["division"], "West");
    assert_eq!(
        out.resource["emails"][2],
        json!({"type": "other", "value": "o@x"})
    );
    assert_eq!(out.resource["meta"], user()["meta"]);
}

#[test]
fn pathless_core_schema_urn_key_groups_core_attributes() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "value": {USER_SCHEMA: {"displayName": "X", "name.givenName": "G", "id": UID}}}]),
    );
    assert_eq!(out.resource["displayName"], "X");
    assert_eq!(out.resource["name"]["givenName"], "G");
    assert_eq!(out.changed, ["name.givenName", "displayName"]);
    err(
        "User",
        &user(),
        json!([{"op": "replace", "value": {USER_SCHEMA: {"nope": 1}}}]),
        ScimType::InvalidPath,
    );
}

#[test]
fn pathless_replace_with_filter_key_creates_when_nothing_matches() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "value": {"phoneNumbers[type eq \"mobile\"].value": "555-2"}}]),
    );
    assert_eq!(
        out.resource["phoneNumbers"][1],
        json!({"type": "mobile", "value": "555-2"})
    );
}

#[test]
fn pathless_errors_name_the_key() {
    let e = err(
        "User",
        &user(),
        json!([{"op": "replace", "value": {"nope": 1}}]),
        ScimType::InvalidPath,
    );
    assert!(e.detail.contains("value key 'nope'"), "{}", e.detail);
    let e = err(
        "User",
        &user(),
        json!([{"op": "replace", "value": {"active": "maybe"}}]),
        ScimType::InvalidValue,
    );
    assert!(e.detail.contains("'active'"), "{}", e.detail);
    err(
        "User",
        &user(),
        json!([{"op": "replace", "value": "x"}]),
        ScimType::InvalidValue,
    );
    err(
        "User",
        &user(),
        json!([{"op": "replace", "value": {"id": "other"}}]),
        ScimType::Mutability,
    );
}
