use super::*;

#[test]
fn default_projection_returns_everything_but_password() {
    let v = render_with("User", &stored_user(), None, None);
    assert!(v.get("password").is_none());
    assert_eq!(v["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(v["id"], "u-1");
    assert_eq!(v["meta"]["resourceType"], "User");
    assert_eq!(v[ENTERPRISE]["manager"], json!({"value": "boss-id"}));
    assert_eq!(
        keys(&v),
        [
            "schemas",
            "id",
            "externalId",
            "userName",
            "name",
            "displayName",
            "title",
            "active",
            "emails",
            ENTERPRISE,
            "meta"
        ]
    );
}

#[test]
fn attributes_limit_to_listed_plus_always() {
    let v = render_with("User", &stored_user(), Some("userName"), None);
    assert_eq!(
        v,
        json!({"schemas": [USER], "id": "u-1", "userName": "alice@example.com"})
    );
    let v = render_with("User", &stored_user(), Some(" USERNAME , meta "), None);
    assert_eq!(keys(&v), ["schemas", "id", "userName", "meta"]);
}

#[test]
fn attributes_with_sub_attributes() {
    let v = render_with(
        "User",
        &stored_user(),
        Some("name.givenName,emails.value"),
        None,
    );
    assert_eq!(
        v,
        json!({"schemas": [USER], "id": "u-1", "name": {"givenName": "Alice"},
               "emails": [{"value": "alice@work.example"}, {"value": "alice@home.example"}]})
    );
    // The whole attribute wins over one of its sub-attributes.
    let v = render_with("User", &stored_user(), Some("name.givenName,name"), None);
    assert_eq!(
        v["name"],
        json!({"givenName": "Alice", "familyName": "Smith"})
    );
    let v = render_with("User", &stored_user(), Some("meta.lastModified"), None);
    assert_eq!(v["meta"], json!({"lastModified": "2024-05-01T12:00:00Z"}));
}

#[test]
fn attributes_with_urn_qualified_names() {
    let v = render_with(
        "User",
        &stored_user(),
        Some(&format!("{}:Department", ENTERPRISE.to_lowercase())),
        None,
    );
    assert_eq!(
        v,
        json!({"schemas": [USER, ENTERPRISE], "id": "u-1", ENTERPRISE: {"department": "R&D"}})
    );
    let v = render_with(
        "User",
        &stored_user(),
        Some(&format!("{USER}:userName")),
        None,
    );
    assert_eq!(v["userName"], "alice@example.com");
    let v = render_with(
        "User",
        &stored_user(),
        Some(&format!("{ENTERPRISE}:manager.value")),
        None,
    );
    assert_eq!(v[ENTERPRISE], json!({"manager": {"value": "boss-id"}}));
}

#[test]
fn bare_extension_urn_means_the_whole_extension() {
    let v = render_with("User", &stored_user(), Some(ENTERPRISE), None);
    assert_eq!(
        v,
        json!({"schemas": [USER, ENTERPRISE], "id": "u-1",
               ENTERPRISE: {"employeeNumber": "42", "department": "R&D",
                            "manager": {"value": "boss-id"}}})
    );
    let v = render_with("User", &stored_user(), None, Some(ENTERPRISE));
    assert!(v.get(ENTERPRISE).is_none());
    assert_eq!(v["schemas"], json!([USER]));
}

#[test]
fn excluded_attributes_remove_from_the_default_set() {
    let v = render_with(
        "User",
        &stored_user(),
        None,
        Some("emails, name.givenName,meta"),
    );
    assert!(v.get("emails").is_none());
    assert!(v.get("meta").is_none());
    assert_eq!(v["name"], json!({"familyName": "Smith"}));
    assert_eq!(v["userName"], "alice@example.com");
    let v = render_with(
        "User",
        &stored_user(),
        None,
        Some("emails.type,emails.primary"),
    );
    assert_eq!(
        v["emails"],
        json!([{"value": "alice@work.example"}, {"value": "alice@home.example"}])
    );
}

#[test]
fn always_attributes_survive_exclusion() {
    let v = render_with("User", &stored_user(), None, Some("id,schemas,userName"));
    assert_eq!(v["id"], "u-1");
    assert_eq!(v["schemas"], json!([USER, ENTERPRISE]));
    assert!(v.get("userName").is_none());
}

#[test]
fn both_parameters_apply() {
    let v = render_with(
        "User",
        &stored_user(),
        Some("emails"),
        Some("emails.primary,emails.type"),
    );
    assert_eq!(
        v["emails"],
        json!([{"value": "alice@work.example"}, {"value": "alice@home.example"}])
    );
}

#[test]
fn unknown_names_are_ignored() {
    let v = render_with(
        "User",
        &stored_user(),
        Some("shoeSize,urn:example:nope:x,userName"),
        None,
    );
    assert_eq!(keys(&v), ["schemas", "id", "userName"]);
    let v = render_with("User", &stored_user(), None, Some("shoeSize"));
    assert!(v.get("userName").is_some());
}

#[test]
fn entra_reads_groups_without_members() {
    let mut g = create(
        "Group",
        json!({"schemas": [GROUP], "displayName": "G", "members": [{"value": "u1"}]}),
    )
    .unwrap();
    set_meta(
        &mut g,
        "g-1",
        &Meta {
            resource_type: "Group",
            created: "2024-01-01T00:00:00Z",
            last_modified: "2024-01-01T00:00:00Z",
            location: "",
            version: "",
        },
    );
    let v = render_with("Group", &g, None, Some("members"));
    assert_eq!(keys(&v), ["schemas", "id", "displayName", "meta"]);
    let v = render_with("Group", &g, None, None);
    assert_eq!(v["members"], json!([{"value": "u1"}]));
}

fn stored_device() -> Map<String, Value> {
    let mut m = obj(json!({
        "schemas": [DEVICE, DEVICE_EXT],
        "id": "d-1",
        "serialNumber": "SN",
        "owner": {"value": "u1", "display": "Alice", "pin": "1234"},
        "secret": "s",
        "firmwareKey": "fw",
        "note": "n",
        "tags": [{"value": "t1", "hidden": "h", "extra": "e", "kind": "k"}, {"hidden": "only"}],
        "unknownKey": 1,
        DEVICE_EXT: {"site": "Paris", "rack": "R1"}
    }));
    m.insert("meta".into(), json!({"resourceType": "Device"}));
    m
}

#[test]
fn never_and_write_only_are_never_returned_at_any_level() {
    for (attrs, excl) in [
        (None, None),
        (
            Some("secret,firmwareKey,owner.pin,tags.hidden,owner,tags"),
            None,
        ),
        (None, Some("note")),
    ] {
        let v = render_with("Device", &stored_device(), attrs, excl);
        let text = v.to_string();
        for hidden in [
            "\"secret\"",
            "firmwareKey",
            "\"pin\"",
            "\"hidden\"",
            "unknownKey",
        ] {
            assert!(!text.contains(hidden), "{hidden} leaked in {text}");
        }
    }
}

#[test]
fn request_attributes_only_when_named() {
    let v = render_with("Device", &stored_device(), None, None);
    assert!(v.get("note").is_none());
    assert_eq!(v["tags"], json!([{"value": "t1", "kind": "k"}]));
    let v = render_with("Device", &stored_device(), Some("note"), None);
    assert_eq!(v["note"], "n");
    // Naming the parent does not name its request sub-attributes; naming them does.
    let v = render_with("Device", &stored_device(), Some("tags"), None);
    assert_eq!(v["tags"], json!([{"value": "t1", "kind": "k"}]));
    let v = render_with("Device", &stored_device(), Some("tags.extra"), None);
    assert_eq!(v["tags"], json!([{"extra": "e", "kind": "k"}]));
    // A bare schema URN does not name request attributes.
    let v = render_with("Device", &stored_device(), Some(DEVICE), None);
    assert!(v.get("note").is_none());
    assert_eq!(v["serialNumber"], "SN");
}

#[test]
fn always_sub_attributes_survive_sub_attribute_selection() {
    let v = render_with(
        "Device",
        &stored_device(),
        Some("tags.value"),
        Some("tags.kind"),
    );
    assert_eq!(v["tags"], json!([{"value": "t1", "kind": "k"}]));
}

#[test]
fn schemas_lists_only_extensions_in_the_output() {
    let v = render_with("Device", &stored_device(), Some("serialNumber"), None);
    assert_eq!(v["schemas"], json!([DEVICE]));
    let v = render_with(
        "Device",
        &stored_device(),
        Some(&format!("{DEVICE_EXT}:rack")),
        None,
    );
    assert_eq!(v["schemas"], json!([DEVICE, DEVICE_EXT]));
    assert_eq!(v[DEVICE_EXT], json!({"rack": "R1"}));
}
