use serde_json::json;

use super::*;
use crate::error::ScimType;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn spec(by: &str, order: Option<&str>) -> ScimResult<SortSpec> {
    let reg = SchemaRegistry::builtin().unwrap();
    let rt = reg.resource_type("User").unwrap().clone();
    SortSpec::parse(&reg, &rt, by, order)
}

fn user(v: serde_json::Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn sorted(spec: &SortSpec, users: &[Map<String, Value>]) -> Vec<String> {
    let mut users = users.to_vec();
    users.sort_by(|a, b| spec.compare(a, b));
    users
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn parses_and_resolves_to_canonical_paths() {
    let s = spec("USERNAME", None).unwrap();
    assert_eq!(s.order, SortOrder::Ascending);
    assert_eq!(s.attribute.canonical_path(), "userName");
    assert_eq!(s.attribute.kind, AttributeType::String);
    assert!(!s.attribute.case_exact);
    assert!(!s.attribute.multi_valued);

    let s = spec("name.familyname", Some("Descending")).unwrap();
    assert_eq!(s.order, SortOrder::Descending);
    assert_eq!(s.attribute.attr, "name");
    assert_eq!(s.attribute.sub_attr.as_deref(), Some("familyName"));

    let s = spec("emails", None).unwrap();
    assert_eq!(s.attribute.canonical_path(), "emails.value");
    assert!(s.attribute.multi_valued);

    let s = spec(&format!("{ENTERPRISE}:manager"), None).unwrap();
    assert_eq!(
        s.attribute.canonical_path(),
        format!("{ENTERPRISE}:manager.value")
    );
    assert_eq!(s.attribute.extension.as_deref(), Some(ENTERPRISE));

    let s = spec("meta.lastModified", None).unwrap();
    assert_eq!(s.attribute.kind, AttributeType::DateTime);
    let s = spec("id", None).unwrap();
    assert!(s.attribute.case_exact);
}

#[test]
fn bad_sort_parameters_are_invalid_value() {
    for (by, order, needle) in [
        ("shoeSize", None, "no such attribute"),
        ("a b", None, "sortBy"),
        ("name", None, "name.formatted"),
        ("meta", None, "complex"),
        ("password", None, "never returned"),
        ("userName", Some("up"), "sortOrder"),
    ] {
        let e = spec(by, order).unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue));
        assert!(e.detail.contains(needle), "{by}: {}", e.detail);
    }
}

#[test]
fn sort_order_parsing() {
    assert_eq!(SortOrder::parse(None).unwrap(), SortOrder::Ascending);
    assert_eq!(
        SortOrder::parse(Some(" ASCENDING ")).unwrap(),
        SortOrder::Ascending
    );
    assert_eq!(
        SortOrder::parse(Some("descending")).unwrap().as_str(),
        "descending"
    );
    assert!(SortOrder::parse(Some("desc")).is_err());
}

#[test]
fn key_of_multi_valued_is_primary_else_first() {
    let s = spec("emails", None).unwrap();
    let u = user(json!({"emails": [{"value": "b@x"}, {"value": "a@x", "primary": true}]}));
    assert_eq!(s.key(&u), Some(json!("a@x")));
    let u = user(json!({"emails": [{"value": "b@x"}, {"value": "a@x"}]}));
    assert_eq!(s.key(&u), Some(json!("b@x")));
    assert_eq!(s.key(&user(json!({}))), None);
    let s = spec(&format!("{ENTERPRISE}:department"), None).unwrap();
    assert_eq!(
        s.key(&user(json!({ENTERPRISE: {"department": "Ops"}}))),
        Some(json!("Ops"))
    );
}

#[test]
fn strings_sort_case_insensitively_and_absent_last_ascending() {
    let users = [
        user(json!({"id": "1", "userName": "bob"})),
        user(json!({"id": "2"})),
        user(json!({"id": "3", "userName": "Alice"})),
        user(json!({"id": "4", "userName": "carol"})),
    ];
    assert_eq!(
        sorted(&spec("userName", None).unwrap(), &users),
        ["3", "1", "4", "2"]
    );
    // Descending: absent values first.
    assert_eq!(
        sorted(&spec("userName", Some("descending")).unwrap(), &users),
        ["2", "4", "1", "3"]
    );
}

#[test]
fn case_exact_strings_sort_by_code_point() {
    let users = [
        user(json!({"id": "b", "externalId": "b"})),
        user(json!({"id": "B", "externalId": "B"})),
        user(json!({"id": "a", "externalId": "a"})),
    ];
    assert_eq!(
        sorted(&spec("externalId", None).unwrap(), &users),
        ["B", "a", "b"]
    );
}

#[test]
fn date_times_sort_as_instants() {
    let users = [
        user(json!({"id": "1", "meta": {"lastModified": "2024-01-01T10:00:00+02:00"}})),
        user(json!({"id": "2", "meta": {"lastModified": "2024-01-01T09:00:00Z"}})),
        user(json!({"id": "3", "meta": {"lastModified": "not a date"}})),
    ];
    // 10:00+02:00 is 08:00Z, before 09:00Z; invalid values after valid ones.
    assert_eq!(
        sorted(&spec("meta.lastModified", None).unwrap(), &users),
        ["1", "2", "3"]
    );
}

#[test]
fn booleans_sort_false_first() {
    let users = [
        user(json!({"id": "1", "active": true})),
        user(json!({"id": "2", "active": false})),
    ];
    assert_eq!(sorted(&spec("active", None).unwrap(), &users), ["2", "1"]);
}

#[test]
fn ties_compare_equal() {
    let s = spec("userName", None).unwrap();
    let a = user(json!({"userName": "ALICE"}));
    let b = user(json!({"userName": "alice"}));
    assert_eq!(s.compare(&a, &b), Ordering::Equal);
}
