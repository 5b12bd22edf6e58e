//! Resolution and evaluation tests: what filters mean for real resources, including every
//! filter shape the identity providers in IDP-COMPAT.md send.
//!
//! `check(filter, expected)` resolves `filter` against the User resource type and
//! evaluates it on Barbara Jensen (`bjensen()`); `expected` is `true`, `false` or `!` with
//! the start of the error detail.

use serde_json::{Map, Value, json};

use super::{
    CompValue, CompareOp, Filter, ResolvedFilter, parse_element_filter, parse_filter, resolve,
    resolve_element_filter,
};
use crate::error::ScimType;
use crate::path::AttrPath;
use crate::schema::{AttributeType, ENTERPRISE_USER_SCHEMA, SchemaRegistry, USER_SCHEMA};

const GUID: &str = "2819c223-7f76-453a-919d-413861904646";

fn registry() -> SchemaRegistry {
    let mut reg = SchemaRegistry::builtin().unwrap();
    // A resource type with the types the built-in schemas lack (integer, decimal,
    // top-level dateTime and binary, a multi-valued simple attribute).
    reg.add_json(
        "device.json",
        r#"[{"id":"urn:example:scim:schemas:Device","name":"Device","attributes":[
            {"name":"serialNumber","type":"string","caseExact":true},
            {"name":"ports","type":"integer"},
            {"name":"weight","type":"decimal"},
            {"name":"seen","type":"dateTime"},
            {"name":"enabled","type":"boolean"},
            {"name":"firmware","type":"binary"},
            {"name":"homepage","type":"reference","referenceTypes":["external"]},
            {"name":"tags","type":"string","multiValued":true},
            {"name":"geo","type":"complex","subAttributes":[{"name":"lat","type":"decimal"}]}]},
           {"schemas":["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],"id":"Device","name":"Device",
            "endpoint":"/Devices","schema":"urn:example:scim:schemas:Device"}]"#,
    )
    .unwrap();
    reg
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// The RFC 7643 §8.2 user, in canonical JSON.
fn bjensen() -> Map<String, Value> {
    obj(json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "id": GUID,
        "externalId": "bjensen-ext",
        "userName": "bjensen@example.com",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "nickName": "Émilie",
        "userType": "Employee",
        "active": true,
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [{"type": "work", "locality": "Hollywood", "country": "USA"}],
        "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
        "x509Certificates": [{"value": "TUlJRERBQ0NBc"}],
        "groups": [{"value": "e9e30dba", "$ref": "https://example.com/v2/Groups/e9e30dba", "display": "Tour Guides"}],
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\"",
            "location": format!("https://example.com/v2/Users/{GUID}")
        },
        ENTERPRISE_USER_SCHEMA: {
            "employeeNumber": "701984",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        }
    }))
}

fn device() -> Map<String, Value> {
    obj(json!({
        "id": "d1",
        "serialNumber": "SN-ABC",
        "ports": 8,
        "weight": 2.0,
        "seen": "2024-05-01T12:00:00+02:00",
        "enabled": false,
        "firmware": "AAECAw==",
        "homepage": "https://Example.com/Device",
        "tags": ["Edge", "lab"],
        "geo": {"lat": 52.5}
    }))
}

fn resolve_for(rt: &str, text: &str) -> crate::error::ScimResult<ResolvedFilter> {
    let reg = registry();
    let rt = reg.resource_type(rt).unwrap().clone();
    resolve(&parse_filter(text)?, &reg, &rt)
}

#[track_caller]
fn check_on(rt: &str, resource: &Map<String, Value>, text: &str, expected: &str) {
    let got = match resolve_for(rt, text) {
        Ok(f) => {
            // The canonical rendering means the same thing.
            let again = resolve_for(rt, &f.to_string()).unwrap();
            assert_eq!(again, f, "{text} → {f}");
            f.matches(resource).to_string()
        }
        Err(e) => {
            assert_eq!(
                (e.status, e.scim_type),
                (400, Some(ScimType::InvalidFilter))
            );
            format!("!{}", e.detail)
        }
    };
    match expected.strip_prefix('!') {
        Some(prefix) => assert!(
            got.strip_prefix('!').is_some_and(|g| g.starts_with(prefix)),
            "filter:   {text}\nexpected: {expected}\ngot:      {got}"
        ),
        None => assert_eq!(got, expected, "filter: {text}"),
    }
}

#[track_caller]
fn check(text: &str, expected: &str) {
    check_on("User", &bjensen(), text, expected);
}

#[track_caller]
fn check_device(text: &str, expected: &str) {
    check_on("Device", &device(), text, expected);
}

/// The canonical rendering of a resolved filter.
#[track_caller]
fn check_resolved(text: &str, expected: &str) {
    assert_eq!(
        resolve_for("User", text).unwrap().to_string(),
        expected,
        "{text}"
    );
}

// ---- Identity providers (IDP-COMPAT.md) ----

#[test]
fn entra_test_connection_guid_username_filter() {
    // Entra's Test Connection asks for a random GUID user name: a valid filter, no match.
    check(
        r#"userName eq "5e2c1e3e-5f0b-4c9b-9d6e-3a4b8c2d1f00""#,
        "false",
    );
}

#[test]
fn entra_matching_on_username_and_external_id() {
    check(r#"userName eq "bjensen@example.com""#, "true");
    check(r#"externalId eq "bjensen-ext""#, "true");
    // externalId is caseExact (RFC 7643 §3.1).
    check(r#"externalId eq "BJENSEN-EXT""#, "false");
    check(
        r#"userName eq "bjensen@example.com" and externalId eq "bjensen-ext""#,
        "true",
    );
}

#[test]
fn entra_work_email_value_path_filter() {
    check(
        r#"emails[type eq "work"].value eq "bjensen@example.com""#,
        "true",
    );
    check(
        r#"emails[type eq "work"].value eq "BJensen@Example.com""#,
        "true",
    );
    // The home address is not the work one: both conditions must hold on one element.
    check(
        r#"emails[type eq "work"].value eq "babs@jensen.org""#,
        "false",
    );
    check_resolved(
        r#"EMAILS[TYPE eq "work"].VALUE eq "a@x""#,
        r#"emails[type eq "work" and value eq "a@x"]"#,
    );
}

#[test]
fn entra_group_display_name_filter() {
    let group =
        obj(json!({"id": "g1", "displayName": "Tour Guides", "members": [{"value": GUID}]}));
    check_on("Group", &group, r#"displayName eq "tour guides""#, "true");
    check_on("Group", &group, r#"displayName eq "Other""#, "false");
    check_on(
        "Group",
        &group,
        r#"userName eq "x""#,
        "!invalid filter: unknown attribute 'userName' for resource type Group",
    );
}

#[test]
fn entra_enterprise_attributes_by_urn_path() {
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department eq "tour operations""#,
        "true",
    );
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#,
        "true",
    );
    check(
        r#"URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER eq "701984""#,
        "true",
    );
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:costCenter pr"#,
        "false",
    );
    check_resolved(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:user:Manager eq "x""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "x""#,
    );
}

#[test]
fn entra_boolean_strings_in_filters() {
    // Entra writes booleans as strings on writes; accept them in filters too.
    check(r#"active eq "True""#, "true");
    check(r#"active eq "false""#, "false");
    check_resolved(r#"active eq "True""#, "active eq true");
    check(
        r#"active eq "yes""#,
        "!invalid filter: 'active eq \"yes\"': the attribute is boolean, so the value must be true or false",
    );
}

#[test]
fn entra_remove_member_by_value_path() {
    // `{"op":"Remove","path":"members[value eq \"<id>\"]"}`: the bracket filter selects members.
    let reg = registry();
    let rt = reg.resource_type("Group").unwrap();
    let members = reg.resolve(rt, &AttrPath::simple("members")).unwrap();
    let f = resolve_element_filter(
        &parse_element_filter(&format!(r#"value eq "{GUID}""#)).unwrap(),
        &reg,
        rt,
        &members,
    )
    .unwrap();
    assert!(f.matches_element(&json!({"value": GUID, "display": "Babs"})));
    assert!(!f.matches_element(&json!({"value": "other"})));
    assert!(!f.matches_element(&json!({"display": GUID})));
    // members.value holds ids, which scim compares exactly (caseExact in group.json), as
    // the store's membership rows do.
    assert!(!f.matches_element(&json!({"value": GUID.to_uppercase()})));
}

#[test]
fn okta_username_eq_is_case_insensitive() {
    check(r#"userName eq "BJENSEN@EXAMPLE.COM""#, "true");
    check(r#"userName eq "alice@example.com""#, "false");
}

#[test]
fn okta_membership_patch_path_value_filter() {
    // `remove members[value eq "a"]`.
    let reg = registry();
    let rt = reg.resource_type("Group").unwrap();
    let members = reg.resolve(rt, &AttrPath::simple("members")).unwrap();
    let f = resolve_element_filter(
        &parse_filter(r#"value eq "a""#).unwrap(),
        &reg,
        rt,
        &members,
    )
    .unwrap();
    let list = [json!({"value": "a"}), json!({"value": "b"})];
    let kept: Vec<&Value> = list.iter().filter(|m| !f.matches_element(m)).collect();
    assert_eq!(kept, vec![&json!({"value": "b"})]);
}

#[test]
fn patch_path_with_sub_attribute_after_the_filter() {
    // `addresses[type eq "work"].locality`: the filter selects the element.
    let reg = registry();
    let rt = reg.resource_type("User").unwrap();
    let addresses = reg.resolve(rt, &AttrPath::simple("addresses")).unwrap();
    let f = resolve_element_filter(
        &parse_element_filter(r#"type eq "WORK""#).unwrap(),
        &reg,
        rt,
        &addresses,
    )
    .unwrap();
    assert!(f.matches_element(&json!({"type": "work", "locality": "Hollywood"})));
    assert!(!f.matches_element(&json!({"type": "home"})));
    let ResolvedFilter::Compare(c) = &f else {
        panic!("{f:?}")
    };
    assert_eq!(c.path.attr, "addresses");
    assert_eq!(c.path.sub_attr.as_deref(), Some("type"));
    // Errors name the attribute.
    let e = resolve_element_filter(&parse_filter("street pr").unwrap(), &reg, rt, &addresses)
        .unwrap_err();
    assert!(e.detail.starts_with("invalid filter: unknown sub-attribute 'street' of 'addresses' (it has formatted, streetAddress"), "{}", e.detail);
    let user_name = reg.resolve(rt, &AttrPath::simple("userName")).unwrap();
    let e = resolve_element_filter(&parse_filter("value pr").unwrap(), &reg, rt, &user_name)
        .unwrap_err();
    assert_eq!(
        e.detail,
        "invalid filter: a value filter '[…]' needs a complex attribute, and 'userName' is string"
    );
    let e = resolve_element_filter(
        &parse_filter("emails[type pr]").unwrap(),
        &reg,
        rt,
        &addresses,
    )
    .unwrap_err();
    assert!(e.detail.contains("cannot be nested"), "{}", e.detail);
}

// ---- Resolution ----

#[test]
fn resolves_to_canonical_typed_paths() {
    let f = resolve_for("User", r#"EMAILS CO "@X""#).unwrap();
    let ResolvedFilter::Compare(c) = &f else {
        panic!("{f:?}")
    };
    assert_eq!(c.path.schema, USER_SCHEMA);
    assert_eq!(c.path.attr, "emails");
    assert_eq!(c.path.sub_attr.as_deref(), Some("value"));
    assert_eq!(c.path.kind, AttributeType::String);
    assert!(c.path.multi_valued && !c.path.extension && !c.path.common && !c.path.case_exact);
    assert_eq!(c.op, CompareOp::Co);
    assert_eq!(c.value, CompValue::String("@X".into()));
    assert_eq!(f.to_string(), r#"emails.value co "@X""#);

    let f = resolve_for("User", "meta.LASTMODIFIED pr").unwrap();
    let ResolvedFilter::Present(p) = &f else {
        panic!("{f:?}")
    };
    assert!(p.common && p.case_exact && !p.multi_valued);
    assert_eq!(
        (p.attr.as_str(), p.sub_attr.as_deref(), p.kind),
        ("meta", Some("lastModified"), AttributeType::DateTime)
    );

    let f = resolve_for(
        "User",
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "1""#,
    )
    .unwrap();
    let ResolvedFilter::Compare(c) = &f else {
        panic!("{f:?}")
    };
    assert!(c.path.extension);
    assert_eq!(c.path.schema, ENTERPRISE_USER_SCHEMA);
    assert_eq!(
        c.path.canonical(),
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
    );

    let f = resolve_for("User", r#"ID eq "x""#).unwrap();
    let ResolvedFilter::Compare(c) = &f else {
        panic!("{f:?}")
    };
    assert!(c.path.common && c.path.case_exact);

    // `emails pr` tests the attribute itself; a comparison means its `value`.
    check_resolved("emails pr", "emails pr");
    check_resolved(
        r#"emails[TYPE eq "work" and value co "@"]"#,
        r#"emails[type eq "work" and value co "@"]"#,
    );
    check_resolved(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:USERNAME eq "x""#,
        r#"userName eq "x""#,
    );
}

#[test]
fn unknown_attributes_are_explained() {
    check(
        r#"nope eq "x""#,
        "!invalid filter: unknown attribute 'nope' for resource type User",
    );
    check(
        r#"name.nope eq "x""#,
        "!invalid filter: unknown sub-attribute 'nope' in 'name.nope' for resource type User: 'name' has formatted, familyName, givenName",
    );
    check(
        r#"userName.x eq "x""#,
        "!invalid filter: unknown sub-attribute 'x' in 'userName.x' for resource type User: 'userName' is string and has no sub-attributes",
    );
    check(
        r#"urn:example:Other:x eq "x""#,
        "!invalid filter: unknown attribute 'urn:example:Other:x' for resource type User: 'urn:example:Other' is not one of its schemas",
    );
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope pr"#,
        "!invalid filter: unknown attribute 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:nope' for resource type User",
    );
    check(
        r#"emails[nope eq "x"]"#,
        "!invalid filter: unknown sub-attribute 'nope' of 'emails' (it has value, display, type, primary)",
    );
    check(
        r#"emails[value.x eq "x"]"#,
        "!invalid filter: inside 'emails[…]' a path names one sub-attribute of 'emails', found 'value.x'",
    );
    check(
        r#"userName[value eq "x"]"#,
        "!invalid filter: a value filter '[…]' needs a complex attribute, and 'userName' is string",
    );
    check(
        r#"emails.value[value eq "x"]"#,
        "!invalid filter: a value filter '[…]' applies to an attribute, not to the sub-attribute 'emails.value'",
    );
    // Department is an extension attribute: it needs its URN.
    check(
        r#"department eq "x""#,
        "!invalid filter: unknown attribute 'department' for resource type User",
    );
}

#[test]
fn hand_built_trees_that_the_parser_never_makes_are_rejected() {
    let reg = registry();
    let rt = reg.resource_type("User").unwrap();
    let nested = Filter::ValuePath {
        attr: AttrPath::simple("emails"),
        filter: Box::new(Filter::ValuePath {
            attr: AttrPath::simple("type"),
            filter: Box::new(Filter::Present(AttrPath::simple("value"))),
        }),
    };
    let e = resolve(&nested, &reg, rt).unwrap_err();
    assert_eq!(
        e.detail,
        "invalid filter: value filters cannot be nested ('type[…]' inside 'emails[…]')"
    );
    let urn_inside = Filter::ValuePath {
        attr: AttrPath::simple("emails"),
        filter: Box::new(Filter::Present(AttrPath::parse("urn:x:y:type").unwrap())),
    };
    assert!(resolve(&urn_inside, &reg, rt).is_err());
    let mut deep = Filter::Present(AttrPath::simple("title"));
    for _ in 0..3000 {
        deep = Filter::Not(Box::new(deep));
    }
    let e = resolve(&deep, &reg, rt).unwrap_err();
    assert_eq!(e.detail, "invalid filter: it is nested too deeply");
}

#[test]
fn operators_must_suit_the_attribute_type() {
    check(
        "active gt true",
        "!invalid filter: 'active gt true': 'gt' does not apply to boolean attributes; use eq or ne",
    );
    check(
        r#"x509Certificates.value le "AA""#,
        "!invalid filter: 'x509Certificates.value le \"AA\"': 'le' does not apply to binary attributes",
    );
    check(
        r#"meta.created co "2011""#,
        "!invalid filter: 'meta.created co \"2011\"': 'co' applies to string, reference and binary attributes, and this one is dateTime",
    );
    check(
        r#"active sw "t""#,
        "!invalid filter: 'active sw \"t\"': 'sw' applies to string, reference and binary attributes, and this one is boolean",
    );
    check_device(
        "ports ew 1",
        "!invalid filter: 'ports ew 1': 'ew' applies to string, reference and binary attributes, and this one is integer",
    );
    check(
        r#"meta.lastModified gt "yesterday""#,
        "!invalid filter: 'meta.lastModified gt \"yesterday\"': the attribute is a dateTime, so the value must be an RFC 3339 date-time string such as \"2024-05-01T12:00:00Z\"",
    );
    check(
        "meta.lastModified gt 2011",
        "!invalid filter: 'meta.lastModified gt 2011': the attribute is a dateTime",
    );
    check_device(
        r#"ports eq "8""#,
        "!invalid filter: 'ports eq \"8\"': the attribute is integer, so the value must be a number (without quotes)",
    );
    check_device(
        "weight eq true",
        "!invalid filter: 'weight eq true': the attribute is decimal, so the value must be a number",
    );
    check(
        "userName eq 5",
        "!invalid filter: 'userName eq 5': the attribute is string, so the value must be a string in double quotes",
    );
    check(
        "active eq 1",
        "!invalid filter: 'active eq 1': the attribute is boolean",
    );
    check(
        "userName gt null",
        "!invalid filter: 'userName gt null': null can only be compared with eq or ne (use 'userName pr' to test for a value)",
    );
    check(
        r#"name eq "x""#,
        "!invalid filter: 'name' is complex and has no 'value' sub-attribute; compare one of its sub-attributes (formatted, familyName",
    );
    // `pr` applies to everything.
    for path in [
        "active",
        "name",
        "emails",
        "meta.created",
        "x509Certificates.value",
        "x509Certificates",
    ] {
        assert!(resolve_for("User", &format!("{path} pr")).is_ok(), "{path}");
    }
    // Ordering applies to strings, numbers and dateTimes.
    check(r#"userName gt "a""#, "true");
    check_device("ports gt 1", "true");
}

// ---- Evaluation ----

#[test]
fn every_operator_on_a_string() {
    for (filter, expected) in [
        (r#"userName eq "bjensen@example.com""#, "true"),
        (r#"userName ne "bjensen@example.com""#, "false"),
        (r#"userName ne "other""#, "true"),
        (r#"userName co "JENSEN@""#, "true"),
        (r#"userName co "smith""#, "false"),
        (r#"userName sw "BJ""#, "true"),
        (r#"userName sw "jensen""#, "false"),
        (r#"userName ew ".COM""#, "true"),
        (r#"userName ew "bjensen""#, "false"),
        (r#"userName gt "bjensen""#, "true"),
        (r#"userName gt "C""#, "false"),
        (r#"userName ge "BJENSEN@EXAMPLE.COM""#, "true"),
        (r#"userName lt "c""#, "true"),
        (r#"userName lt "bjensen@example.com""#, "false"),
        (r#"userName le "BJENSEN@EXAMPLE.COM""#, "true"),
        ("userName pr", "true"),
        ("title pr", "false"),
    ] {
        check(filter, expected);
    }
}

#[test]
fn logic_precedence_and_not() {
    // a or b and c: a=true, b=false, c=false → a or (b and c) = true, (a or b) and c = false.
    let (a, b, c) = ("userName pr", "title pr", r#"displayName eq "x""#);
    check(&format!("{a} or {b} and {c}"), "true");
    check(&format!("({a} or {b}) and {c}"), "false");
    check(&format!("{c} and {b} or {a}"), "true");
    check(&format!("not ({a})"), "false");
    check(&format!("not ({b}) and not ({c})"), "true");
    check(&format!("not ({a} or {b})"), "false");
    check(&format!("not (not ({a}))"), "true");
}

#[test]
fn case_exact_attributes_compare_exactly() {
    check(&format!(r#"id eq "{GUID}""#), "true");
    check(&format!(r#"id eq "{}""#, GUID.to_uppercase()), "false");
    check(r#"id sw "2819C223""#, "false");
    check(r#"id sw "2819c223""#, "true");
    check(r#"meta.version eq "w/\"3694e05e9dff591\"""#, "false");
    check(r#"meta.version eq "W/\"3694e05e9dff591\"""#, "true");
    // References and binaries compare exactly (RFC 7643 §2.3.6, §2.3.7).
    check(r#"groups.$ref co "/groups/""#, "false");
    check(r#"groups.$ref co "/Groups/""#, "true");
    check(r#"x509Certificates.value eq "tUlJRERBQ0NBc""#, "false");
    check(r#"x509Certificates.value eq "TUlJRERBQ0NBc""#, "true");
    check_device(r#"serialNumber eq "sn-abc""#, "false");
    check_device(r#"serialNumber eq "SN-ABC""#, "true");
    check_device(r#"homepage sw "https://example.com""#, "false");
    check_device(r#"firmware eq "AAECAw==""#, "true");
}

#[test]
fn case_insensitive_matching_is_unicode_aware() {
    check(r#"nickName eq "ÉMILIE""#, "true");
    check(r#"nickName co "MIL""#, "true");
    check(r#"nickName sw "É""#, "true");
    check(r#"nickName ew "LIE""#, "true");
    check(r#"displayName co "BABS J""#, "true");
}

#[test]
fn typed_comparisons() {
    // dateTimes compare as instants, whatever the offset.
    check(
        r#"meta.lastModified eq "2011-05-13T06:42:34+02:00""#,
        "true",
    );
    check(r#"meta.lastModified gt "2011-05-13T04:42:33Z""#, "true");
    check(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, "false");
    check(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, "true");
    check(
        r#"meta.lastModified lt "2011-05-13T05:42:34+01:00""#,
        "false",
    );
    check(r#"meta.created lt "2011-01-01T00:00:00.5Z""#, "true");
    check_device(r#"seen eq "2024-05-01T10:00:00Z""#, "true");
    check_device(r#"seen le "2024-05-01T09:59:59.999Z""#, "false");
    // Numbers compare numerically, integers and decimals alike.
    check_device("ports eq 8", "true");
    check_device("ports eq 8.0", "true");
    check_device("ports ge 8", "true");
    check_device("ports gt 8", "false");
    check_device("ports lt 10", "true");
    check_device("ports lt 9.5", "true");
    check_device("weight eq 2", "true");
    check_device("weight gt 1.5", "true");
    check_device("weight le -1e3", "false");
    check_device("geo.lat gt 52.4", "true");
    // Booleans.
    check_device("enabled eq false", "true");
    check_device("enabled ne true", "true");
    check("active eq true", "true");
    check("active ne true", "false");
}

#[test]
fn multi_valued_attributes_match_if_any_value_does() {
    check(r#"emails co "jensen.org""#, "true");
    check(r#"emails.value ew "@EXAMPLE.COM""#, "true");
    check(r#"emails.type eq "home""#, "true");
    check(r#"emails.type ne "home""#, "false");
    check(r#"emails.display pr"#, "false");
    check(r#"phoneNumbers.value eq "555-555-8377""#, "true");
    check_device(r#"tags eq "EDGE""#, "true");
    check_device(r#"tags sw "la""#, "true");
    check_device(r#"tags eq "core""#, "false");
}

#[test]
fn value_paths_need_one_element_to_match_everything() {
    check(
        r#"emails[type eq "work" and value co "@example.com"]"#,
        "true",
    );
    check(
        r#"emails[type eq "work" and value co "jensen.org"]"#,
        "false",
    );
    // Without brackets the conditions may hold on different elements (RFC 7644 §3.4.2.2).
    check(
        r#"emails.type eq "work" and emails.value co "jensen.org""#,
        "true",
    );
    check(r#"emails[not (type eq "work")]"#, "true");
    check(r#"emails[type eq "other" or primary eq true]"#, "true");
    check(r#"emails[primary eq true and type eq "home"]"#, "false");
    check(
        r#"addresses[type eq "work" and locality eq "HOLLYWOOD"]"#,
        "true",
    );
    check(r#"ims[type pr]"#, "false");
    // A value path on a single-valued complex attribute looks at its one value.
    check(
        r#"name[givenName eq "barbara" and familyName sw "J"]"#,
        "true",
    );
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager[displayName co "smith"]"#,
        "true",
    );
}

#[test]
fn presence_absence_and_null() {
    let sparse = obj(json!({
        "userName": "x",
        "title": "",
        "nickName": null,
        "emails": [],
        "name": {},
        "phoneNumbers": [{"value": ""}],
        "ims": [null]
    }));
    let on = |f: &str, expected: &str| check_on("User", &sparse, f, expected);
    for path in [
        "title",
        "nickName",
        "emails",
        "name",
        "phoneNumbers.value",
        "ims",
        "displayName",
        "addresses",
    ] {
        on(&format!("{path} pr"), "false");
        on(&format!("{path} eq null"), "true");
        on(&format!("{path} ne null"), "false");
    }
    on("userName pr", "true");
    on("userName eq null", "false");
    on("userName ne null", "true");
    on("phoneNumbers pr", "true");
    // `ne` is the negation of `eq`: absent attributes match it.
    on(r#"displayName ne "x""#, "true");
    on(r#"emails ne "x""#, "true");
    on(r#"displayName eq "x""#, "false");
    on(r#"not (displayName eq "x")"#, "true");
    check("nickName eq null", "false");
}

#[test]
fn stored_values_of_the_wrong_type_never_match() {
    let odd = obj(
        json!({"userName": 5, "active": "maybe", "meta": {"created": "not a date"}, "emails": "a@x"}),
    );
    let on = |f: &str, expected: &str| check_on("User", &odd, f, expected);
    on(r#"userName eq "5""#, "false");
    on(r#"userName co "5""#, "false");
    on("active eq true", "false");
    on(r#"meta.created gt "2000-01-01T00:00:00Z""#, "false");
    // A single value where a list is expected is read as a one-element list.
    on(r#"emails eq "a@x""#, "false");
    on("emails pr", "true");
}

#[test]
fn the_largest_parsed_filters_resolve_and_evaluate_on_a_small_stack() {
    // 256 ids in one `or` chain: 511 nodes, a left-deep tree 255 levels deep.
    let ids: Vec<String> = (0..256).map(|i| format!(r#"id eq "{i}""#)).collect();
    let chain = ids.join(" or ");
    let with_guid = chain.replacen(r#"id eq "0""#, &format!(r#"id eq "{GUID}""#), 1);
    // Right-nested parentheses to the depth limit.
    let mut nested = String::from("userName pr");
    for _ in 0..31 {
        nested = format!("title pr or ({nested})");
    }
    // Parse, resolve, evaluate and render on a thread with a deliberately small stack.
    let handle = std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            let user = bjensen();
            [(chain, false), (with_guid, true), (nested, true)].map(|(text, expected)| {
                let f = resolve_for("User", &text).unwrap();
                assert_eq!(f.matches(&user), expected);
                assert_eq!(
                    parse_filter(&f.to_string()).unwrap().to_string(),
                    f.to_string()
                );
            })
        })
        .unwrap();
    handle.join().unwrap();
}
