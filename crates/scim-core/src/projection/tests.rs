use super::*;
use crate::error::ScimType;

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

fn parse(rt: &str, attributes: Option<&str>, excluded: Option<&str>) -> ScimResult<Projection> {
    let reg = SchemaRegistry::builtin().unwrap();
    let rt = reg.resource_type(rt).unwrap().clone();
    Projection::parse(&reg, &rt, attributes, excluded)
}

#[test]
fn default_projection_includes_everything() {
    let p = Projection::default();
    assert!(p.is_default());
    for name in ["members", "userName", "meta", ENTERPRISE, "anything"] {
        assert!(p.includes(name), "{name}");
    }
    let parsed = parse("Group", None, None).unwrap();
    assert!(parsed.is_default());
    assert!(parsed.includes("members"));
}

#[test]
fn excluded_members_are_not_included() {
    let p = parse("Group", None, Some("members")).unwrap();
    assert!(!p.is_default());
    assert!(!p.includes("members"));
    assert!(!p.includes("MEMBERS"));
    assert!(p.includes("displayName"));
    assert!(p.includes("id"));
    // Excluding a sub-attribute still loads the attribute.
    let p = parse("Group", None, Some("members.display")).unwrap();
    assert!(p.includes("members"));
}

#[test]
fn attributes_include_only_named_and_always() {
    let p = parse("Group", Some("displayName"), None).unwrap();
    assert!(p.includes("displayName"));
    assert!(!p.includes("members"));
    assert!(!p.includes("meta"));
    assert!(p.includes("id"));
    assert!(p.includes("schemas"));
    let p = parse("Group", Some("members.value"), None).unwrap();
    assert!(p.includes("members"));
}

#[test]
fn includes_understands_extensions() {
    let p = parse("User", Some(&format!("{ENTERPRISE}:manager")), None).unwrap();
    assert!(p.includes(&format!("{ENTERPRISE}:manager")));
    assert!(p.includes(&format!("{}:MANAGER", ENTERPRISE.to_lowercase())));
    assert!(!p.includes(&format!("{ENTERPRISE}:department")));
    assert!(p.includes(ENTERPRISE));
    assert!(!p.includes("userName"));

    let p = parse("User", Some(ENTERPRISE), None).unwrap();
    assert!(p.includes(ENTERPRISE));
    assert!(p.includes(&format!("{ENTERPRISE}:department")));
    assert!(!p.includes("emails"));

    let p = parse("User", None, Some(ENTERPRISE)).unwrap();
    assert!(!p.includes(ENTERPRISE));
    assert!(!p.includes(&format!("{ENTERPRISE}:department")));
    assert!(p.includes("emails"));

    let p = parse(
        "User",
        Some("urn:ietf:params:scim:schemas:core:2.0:User"),
        None,
    )
    .unwrap();
    assert!(p.includes("emails"));
    assert!(!p.includes(ENTERPRISE));
}

#[test]
fn names_are_trimmed_case_insensitive_and_unknown_ones_ignored() {
    let p = parse(
        "User",
        Some("  username ,, nope , urn:x:y:z , emails.nope"),
        None,
    )
    .unwrap();
    assert!(p.includes("userName"));
    assert!(!p.includes("emails"));
    assert!(!p.includes("nope"));
    // An unknown extension URN is not malformed.
    assert!(
        parse(
            "User",
            Some("urn:ietf:params:scim:schemas:extension:custom:2.0"),
            None
        )
        .is_ok()
    );
}

#[test]
fn malformed_names_are_invalid_value() {
    for bad in [
        "a b",
        "name.givenName.x",
        "1abc",
        "emails[type eq \"work\"].value",
    ] {
        let e = parse("User", Some(bad), None).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidValue), "{bad}");
        assert!(e.detail.contains("attributes"), "{e}");
        let e = parse("User", None, Some(bad)).unwrap_err();
        assert!(e.detail.contains("excludedAttributes"), "{e}");
    }
}

#[test]
fn choice_for_render() {
    let p = parse("User", Some("name.givenName,emails"), Some("emails.type")).unwrap();
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    assert_eq!(
        p.choice(core, "name"),
        Some(Choice::Subs {
            subs: &["givenName".to_string()],
            excluded_subs: &[],
        })
    );
    assert_eq!(
        p.choice(core, "emails"),
        Some(Choice::Named {
            excluded_subs: &["type".to_string()],
        })
    );
    assert_eq!(p.choice(core, "userName"), None);
}

#[test]
fn excluding_a_schema_wins_over_excluding_its_sub_attributes() {
    let core = "urn:ietf:params:scim:schemas:core:2.0:User";
    let p = parse("User", None, Some(&format!("{core}, emails.type"))).unwrap();
    assert!(!p.includes("emails"));
    assert_eq!(p.choice(core, "emails"), None);
    assert!(p.includes("id"));
    assert!(p.includes(ENTERPRISE));
}

#[test]
fn empty_attributes_list_means_the_default_set() {
    let p = parse("Group", Some(" , "), None).unwrap();
    assert!(p.is_default());
    assert!(p.includes("members"));
    // A list of only unknown names is not empty: only `returned: always` attributes remain.
    let p = parse("Group", Some("nope"), None).unwrap();
    assert!(!p.includes("members"));
}
