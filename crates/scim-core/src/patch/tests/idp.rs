//! The PATCH shapes of IDP-COMPAT.md; each test names its identity provider.

use super::*;

#[test]
fn entra_patch_ops_capitalised() {
    let out = ok(
        "User",
        &user(),
        json!([
            {"op": "Add", "path": "nickName", "value": "Babs"},
            {"op": "Replace", "path": "title", "value": "Lead"},
            {"op": "Remove", "path": "phoneNumbers"}
        ]),
    );
    assert_eq!(out.changed, ["nickName", "title", "phoneNumbers"]);
}

#[test]
fn entra_replace_active_string_false() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    );
    assert_eq!(out.resource["active"], false);
    assert_eq!(out.changed, ["active"]);
}

#[test]
fn entra_pathless_dotted_and_urn_keys() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "value": {
            "name.givenName": "K",
            format!("{EXT}:employeeNumber"): "7",
            format!("{EXT}:manager"): "boss-3",
            "active": "True"
        }}]),
    );
    assert_eq!(out.resource["name"]["givenName"], "K");
    assert_eq!(out.resource["name"]["familyName"], "Jensen");
    assert_eq!(ext(&out.resource).unwrap()["employeeNumber"], "7");
    assert_eq!(
        ext(&out.resource).unwrap()["manager"],
        json!({"value": "boss-3"})
    );
    assert_eq!(
        out.changed,
        [
            "name.givenName".to_string(),
            format!("{EXT}:employeeNumber"),
            format!("{EXT}:manager.value")
        ]
    );
}

#[test]
fn entra_manager_replace_with_empty_removes() {
    for v in [
        json!(""),
        json!(null),
        json!({}),
        json!([]),
        json!({"value": ""}),
    ] {
        let out = ok(
            "User",
            &user(),
            json!([{"op": "Replace", "path": format!("{EXT}:manager"), "value": v}]),
        );
        let e = ext(&out.resource).unwrap();
        assert!(e.get("manager").is_none(), "{v}");
        assert_eq!(out.changed, [format!("{EXT}:manager.value")]);
    }
}

#[test]
fn entra_manager_shapes_all_set_manager_value() {
    for v in [
        json!("boss-9"),
        json!({"value": "boss-9"}),
        json!([{"$ref": "../Users/boss-9", "value": "boss-9"}]),
    ] {
        let out = ok(
            "User",
            &user(),
            json!([{"op": "Add", "path": format!("{EXT}:manager"), "value": v.clone()}]),
        );
        assert_eq!(
            ext(&out.resource).unwrap()["manager"]["value"],
            "boss-9",
            "{v}"
        );
    }
}

#[test]
fn entra_clears_optional_attributes_with_empty_string_or_null() {
    let out = ok(
        "User",
        &user(),
        json!([
            {"op": "Replace", "path": "title", "value": ""},
            {"op": "Replace", "path": format!("{EXT}:department"), "value": null}
        ]),
    );
    assert!(out.resource.get("title").is_none());
    assert!(ext(&out.resource).unwrap().get("department").is_none());
}

#[test]
fn entra_work_email_filter_paths() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@example.com"}]),
    );
    assert_eq!(
        out.resource["emails"][0],
        json!({"value": "new@example.com", "type": "work", "primary": true})
    );
    let mut u = user();
    u.shift_remove("emails");
    let out = ok(
        "User",
        &u,
        json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "w@example.com"}]),
    );
    assert_eq!(
        out.resource["emails"],
        json!([{"type": "work", "value": "w@example.com"}])
    );
}

#[test]
fn entra_add_members_with_null_ref() {
    let out = ok(
        "Group",
        &group(),
        json!([{"op": "Add", "path": "members", "value": [{"$ref": null, "value": "u3"}]}]),
    );
    assert_eq!(out.resource["members"][2], json!({"value": "u3"}));
}

#[test]
fn entra_remove_members_with_value_list_removes_only_listed() {
    let out = ok(
        "Group",
        &group(),
        json!([{"op": "Remove", "path": "members", "value": [{"value": M1}]}]),
    );
    assert_eq!(member_ids(&out.resource), [M2]);
    let out = ext_ok(
        &group(),
        json!([{"op": "Remove", "path": "members", "value": [{"value": M1}, {"value": "u9"}]}]),
    );
    assert_eq!(
        out.members,
        [MemberChange::Remove(vec![M1.into(), "u9".into()])]
    );
    assert_eq!(out.resource, group());
    assert_eq!(out.changed, ["members"]);
}

#[test]
fn entra_many_membership_operations_in_one_patch() {
    let ops = json!([
        {"op": "Add", "path": "members", "value": [{"value": "u3"}]},
        {"op": "Remove", "path": "members", "value": [{"value": M1}]},
        {"op": "Remove", "path": format!("members[value eq \"{M2}\"]")},
        {"op": "Add", "path": "members", "value": [{"value": "u4"}, {"value": "u5"}]}
    ]);
    let out = ok("Group", &group(), ops.clone());
    assert_eq!(member_ids(&out.resource), ["u3", "u4", "u5"]);
    let out = ext_ok(&group(), ops);
    assert_eq!(
        out.members,
        [
            MemberChange::Add(vec![obj(json!({"value": "u3"}))]),
            MemberChange::Remove(vec![M1.into()]),
            MemberChange::Remove(vec![M2.into()]),
            MemberChange::Add(vec![
                obj(json!({"value": "u4"})),
                obj(json!({"value": "u5"}))
            ]),
        ]
    );
}

#[test]
fn okta_deactivate_pathless_active_false() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "value": {"active": false}}]),
    );
    assert_eq!(out.resource["active"], false);
    assert_eq!(out.changed, ["active"]);
    let back = ok(
        "User",
        &out.resource,
        json!([{"op": "replace", "value": {"active": true}}]),
    );
    assert_eq!(back.resource, user());
}

#[test]
fn okta_group_rename_with_unchanged_id() {
    let out = ok(
        "Group",
        &group(),
        json!([{"op": "replace", "value": {"id": GID, "displayName": "Guides"}}]),
    );
    assert_eq!(out.resource["displayName"], "Guides");
    assert_eq!(out.changed, ["displayName"]);
    let e = err(
        "Group",
        &group(),
        json!([{"op": "replace", "value": {"id": "another", "displayName": "Guides"}}]),
        ScimType::Mutability,
    );
    assert!(e.detail.contains("'id'"), "{}", e.detail);
}

#[test]
fn okta_remove_and_add_member_in_one_patch() {
    let ops = json!([
        {"op": "remove", "path": format!("members[value eq \"{M1}\"]")},
        {"op": "add", "path": "members", "value": [{"value": "u7", "display": "Seven"}]}
    ]);
    let out = ok("Group", &group(), ops.clone());
    assert_eq!(member_ids(&out.resource), [M2, "u7"]);
    assert_eq!(
        out.resource["members"][1],
        json!({"value": "u7", "display": "Seven"})
    );
    let out = ext_ok(&group(), ops);
    assert_eq!(
        out.members,
        [
            MemberChange::Remove(vec![M1.into()]),
            MemberChange::Add(vec![obj(json!({"value": "u7", "display": "Seven"}))]),
        ]
    );
}

#[test]
fn okta_replace_members_sets_whole_list() {
    let ops = json!([{"op": "replace", "path": "members", "value": [{"value": "u1", "display": "One"}, {"value": "u2"}]}]);
    let out = ok("Group", &group(), ops.clone());
    assert_eq!(member_ids(&out.resource), ["u1", "u2"]);
    let out = ext_ok(&group(), ops);
    assert_eq!(
        out.members,
        [MemberChange::ReplaceAll(vec![
            obj(json!({"value": "u1", "display": "One"})),
            obj(json!({"value": "u2"}))
        ])]
    );
    let out = ext_ok(
        &group(),
        json!([{"op": "replace", "path": "members", "value": []}]),
    );
    assert_eq!(out.members, [MemberChange::RemoveAll]);
}

#[test]
fn onelogin_manager_with_display_name_is_tolerated() {
    let out = ok(
        "User",
        &user(),
        json!([{"op": "replace", "path": format!("{EXT}:manager"), "value": {"value": "b2", "displayName": "Boss", "unknown": 1}}]),
    );
    assert_eq!(
        ext(&out.resource).unwrap()["manager"],
        json!({"value": "b2"})
    );
}
