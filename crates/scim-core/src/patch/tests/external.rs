//! Membership kept outside the document (`PatchOptions::external_members`).

use super::*;

#[test]
fn external_members_are_returned_not_applied() {
    let out = ext_ok(
        &group(),
        json!([
            {"op": "add", "path": "members", "value": [{"value": "u3", "type": "User", "$ref": null}, {"value": "U3"}]},
            {"op": "remove", "path": "members[value eq \"a\" or value eq \"b\"]"},
            {"op": "remove", "path": "members[type eq \"Group\"]"},
            {"op": "remove", "path": "members"},
            {"op": "replace", "value": {"displayName": "Renamed", "members": [{"value": "u4"}]}},
            {"op": "add", "value": {"members": [{"value": "u5"}]}},
            {"op": "add", "path": "members", "value": []}
        ]),
    );
    assert_eq!(out.resource["members"], group()["members"]);
    assert_eq!(out.resource["displayName"], "Renamed");
    assert_eq!(out.changed, ["displayName", "members"]);
    assert_eq!(out.members.len(), 6);
    // Ids compare exactly: "u3" and "U3" are two members.
    assert_eq!(
        out.members[0],
        MemberChange::Add(vec![
            obj(json!({"value": "u3", "type": "User"})),
            obj(json!({"value": "U3"}))
        ])
    );
    assert_eq!(
        out.members[1],
        MemberChange::Remove(vec!["a".into(), "b".into()])
    );
    let MemberChange::RemoveMatching(f) = &out.members[2] else {
        panic!("{:?}", out.members[2])
    };
    assert!(f.matches_element(&json!({"value": "g", "type": "group"})));
    assert!(!f.matches_element(&json!({"value": "u", "type": "User"})));
    assert_eq!(out.members[3], MemberChange::RemoveAll);
    assert_eq!(
        out.members[4],
        MemberChange::ReplaceAll(vec![obj(json!({"value": "u4"}))])
    );
    assert_eq!(
        out.members[5],
        MemberChange::Add(vec![obj(json!({"value": "u5"}))])
    );
}

#[test]
fn external_members_filter_replace_is_remove_then_add() {
    let out = ext_ok(
        &group(),
        json!([{"op": "replace", "path": "members[value eq \"a\"]", "value": {"value": "b"}}]),
    );
    assert_eq!(
        out.members,
        [
            MemberChange::Remove(vec!["a".into()]),
            MemberChange::Add(vec![obj(json!({"value": "b"}))])
        ]
    );
}

#[test]
fn external_members_refuse_element_edits_and_values_without_id() {
    ext_err(
        &group(),
        json!([{"op": "replace", "path": "members[value eq \"a\"].value", "value": "b"}]),
        ScimType::Mutability,
    );
    ext_err(
        &group(),
        json!([{"op": "replace", "path": "members.type", "value": "User"}]),
        ScimType::Mutability,
    );
    ext_err(
        &group(),
        json!([{"op": "add", "path": "members[value eq \"a\"]", "value": {"value": "a"}}]),
        ScimType::InvalidPath,
    );
    ext_err(
        &group(),
        json!([{"op": "add", "path": "members", "value": [{"type": "User"}]}]),
        ScimType::InvalidValue,
    );
    ext_err(
        &group(),
        json!([{"op": "add", "path": "members", "value": [5]}]),
        ScimType::InvalidValue,
    );
    // A bare id is taken as {"value": id}.
    let out = ext_ok(
        &group(),
        json!([{"op": "add", "path": "members", "value": ["u1"]}]),
    );
    assert_eq!(
        out.members,
        [MemberChange::Add(vec![obj(json!({"value": "u1"}))])]
    );
    ext_err(
        &group(),
        json!([{"op": "remove", "path": "members", "value": [{"type": "User"}]}]),
        ScimType::InvalidValue,
    );
    // Only empty sub-attributes: nothing is listed, nothing is removed.
    let out = ext_ok(
        &group(),
        json!([{"op": "remove", "path": "members", "value": [{"$ref": null, "value": ""}]}]),
    );
    assert!(out.members.is_empty());
    // An error after member operations discards them with everything else.
    ext_err(
        &group(),
        json!([
            {"op": "add", "path": "members", "value": [{"value": "u1"}]},
            {"op": "replace", "path": "displayName", "value": ""}
        ]),
        ScimType::Mutability,
    );
}

#[test]
fn external_members_without_changes_leave_changed_empty() {
    let out = ext_ok(
        &group(),
        json!([{"op": "remove", "path": "members", "value": []}]),
    );
    assert!(out.members.is_empty());
    assert!(out.changed.is_empty());
}

#[test]
fn attribute_order_is_kept() {
    let out = ok(
        "User",
        &user(),
        json!([
            {"op": "replace", "path": "userName", "value": "babs@example.com"},
            {"op": "replace", "path": format!("{EXT}:department"), "value": "X"}
        ]),
    );
    let keys: Vec<String> = out.resource.keys().cloned().collect();
    let expected: Vec<String> = user().keys().cloned().collect();
    assert_eq!(keys, expected);
    let ext_keys: Vec<String> = ext(&out.resource).unwrap().keys().cloned().collect();
    assert_eq!(ext_keys, ["employeeNumber", "department", "manager"]);
}
