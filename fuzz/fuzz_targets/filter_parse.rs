//! Filter parsing on arbitrary UTF-8: never panics; whatever parses renders to text that
//! parses back to the same tree; resolving against the built-in User type and evaluating
//! against a fixed user never panics, and a resolved filter's rendering resolves to the
//! same tree. The same for bracket filters against `emails`.

#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scim_core::filter::{
    parse_element_filter, parse_filter, resolve, resolve_element_filter,
};
use scim_core::path::AttrPath;
use scim_core::schema::{ResourceType, SchemaRegistry};
use serde_json::{Map, Value, json};

struct Fixture {
    registry: SchemaRegistry,
    users: ResourceType,
    user: Map<String, Value>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let registry = SchemaRegistry::builtin().expect("built-in schemas load");
    let users = registry.resource_type("User").expect("User type").clone();
    let Value::Object(user) = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen",
        "userName": "bjensen@example.com",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs Jensen",
        "title": "",
        "active": true,
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                   {"value": "babs@jensen.org", "type": "home"}],
        "x509Certificates": [{"value": "TUlJRERBQ0NBc"}],
        "groups": [{"value": "e9e30dba", "$ref": "https://example.com/v2/Groups/e9e30dba"}],
        "meta": {"resourceType": "User", "created": "2010-01-23T04:56:22Z",
                 "lastModified": "2011-05-13T04:42:34Z", "version": "W/\"3694e05e9dff591\""},
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "department": "Tour Operations",
            "manager": {"value": "26118915", "displayName": "John Smith"}
        }
    }) else {
        unreachable!()
    };
    Fixture { registry, users, user }
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let fx = &*FIXTURE;
    if let Ok(filter) = parse_filter(text) {
        let rendered = filter.to_string();
        let again = parse_filter(&rendered)
            .unwrap_or_else(|e| panic!("{text:?} renders as {rendered:?}, which fails: {e}"));
        assert_eq!(again, filter, "{text:?} renders as {rendered:?}");
        if let Ok(resolved) = resolve(&filter, &fx.registry, &fx.users) {
            let verdict = resolved.matches(&fx.user);
            let canonical = resolved.to_string();
            let again = parse_filter(&canonical)
                .and_then(|f| resolve(&f, &fx.registry, &fx.users))
                .unwrap_or_else(|e| panic!("{text:?} resolves to {canonical:?}, which fails: {e}"));
            assert_eq!(again, resolved, "{text:?} resolves to {canonical:?}");
            assert_eq!(again.matches(&fx.user), verdict);
        }
    }
    if let Ok(filter) = parse_element_filter(text) {
        let emails = fx
            .registry
            .resolve(&fx.users, &AttrPath::simple("emails"))
            .expect("emails");
        if let Ok(resolved) = resolve_element_filter(&filter, &fx.registry, &fx.users, &emails) {
            if let Some(Value::Array(items)) = fx.user.get("emails") {
                for item in items {
                    let _ = resolved.matches_element(item);
                }
            }
        }
    }
});
