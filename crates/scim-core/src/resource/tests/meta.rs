use super::*;

#[test]
fn set_meta_places_id_after_schemas_and_meta_last() {
    let mut m = create(
        "User",
        json!({"schemas": [USER], "userName": "a", "title": "t"}),
    )
    .unwrap();
    let meta = Meta {
        resource_type: "User",
        created: "2024-05-01T12:00:00Z",
        last_modified: "2024-05-02T12:00:00Z",
        location: "https://example.com/Users/1",
        version: "W/\"2\"",
    };
    set_meta(&mut m, "1", &meta);
    let v = Value::Object(m.clone());
    assert_eq!(keys(&v), ["schemas", "id", "userName", "title", "meta"]);
    assert_eq!(
        v["meta"],
        json!({"resourceType": "User", "created": "2024-05-01T12:00:00Z",
               "lastModified": "2024-05-02T12:00:00Z",
               "location": "https://example.com/Users/1", "version": "W/\"2\""})
    );
    // Setting again replaces in place.
    set_meta(
        &mut m,
        "2",
        &Meta {
            version: "",
            ..meta
        },
    );
    let v = Value::Object(m);
    assert_eq!(keys(&v), ["schemas", "id", "userName", "title", "meta"]);
    assert_eq!(v["id"], "2");
    assert!(v["meta"].get("version").is_none());
}

#[test]
fn set_meta_without_schemas_puts_id_first() {
    let mut m = Map::new();
    m.insert("userName".into(), json!("a"));
    set_meta(
        &mut m,
        "x",
        &Meta {
            resource_type: "User",
            created: "2024-05-01T12:00:00Z",
            last_modified: "2024-05-01T12:00:00Z",
            location: "",
            version: "",
        },
    );
    assert_eq!(keys(&Value::Object(m)), ["id", "userName", "meta"]);
}
