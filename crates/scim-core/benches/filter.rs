//! Filter benchmarks: parse, resolve and evaluate realistic filters against a realistic
//! user (`cargo bench -p scim-core --bench filter`).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use scim_core::filter::{parse_filter, resolve};
use scim_core::schema::{ENTERPRISE_USER_SCHEMA, SchemaRegistry, USER_SCHEMA};
use serde_json::{Map, Value, json};

/// A list filter as an identity provider's matching step might send it.
const FILTER: &str = r#"userName eq "bjensen@example.com" and (emails[type eq "work" and value co "@example.com"] or active eq true)"#;

/// The RFC 7643 §8.2 user, in canonical JSON.
fn user() -> Map<String, Value> {
    let v = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "701984",
        "userName": "bjensen@example.com",
        "name": {
            "formatted": "Ms. Barbara J Jensen, III",
            "familyName": "Jensen",
            "givenName": "Barbara",
            "middleName": "Jane",
            "honorificPrefix": "Ms.",
            "honorificSuffix": "III"
        },
        "displayName": "Babs Jensen",
        "nickName": "Babs",
        "profileUrl": "https://login.example.com/bjensen",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "addresses": [
            {"type": "work", "streetAddress": "100 Universal City Plaza", "locality": "Hollywood",
             "region": "CA", "postalCode": "91608", "country": "USA", "primary": true},
            {"type": "home", "streetAddress": "456 Hollywood Blvd", "locality": "Hollywood",
             "region": "CA", "postalCode": "91608", "country": "USA"}
        ],
        "phoneNumbers": [
            {"value": "555-555-5555", "type": "work"},
            {"value": "555-555-4444", "type": "mobile"}
        ],
        "userType": "Employee",
        "title": "Tour Guide",
        "preferredLanguage": "en-US",
        "locale": "en-US",
        "timezone": "America/Los_Angeles",
        "active": true,
        "groups": [
            {"value": "e9e30dba-f08f-4109-8486-d5c6a331660a", "display": "Tour Guides",
             "$ref": "https://example.com/v2/Groups/e9e30dba-f08f-4109-8486-d5c6a331660a"}
        ],
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff591\"",
            "location": "https://example.com/v2/Users/2819c223-7f76-453a-919d-413861904646"
        },
        ENTERPRISE_USER_SCHEMA: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "organization": "Universal Studios",
            "division": "Theme Park",
            "department": "Tour Operations",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        }
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

fn bench(c: &mut Criterion) {
    let Ok(registry) = SchemaRegistry::builtin() else {
        return;
    };
    let Some(users) = registry.resource_type("User").cloned() else {
        return;
    };
    let user = user();
    let Ok(parsed) = parse_filter(FILTER) else {
        return;
    };
    let Ok(resolved) = resolve(&parsed, &registry, &users) else {
        return;
    };
    assert!(resolved.matches(&user));
    // 100 ids in one `or` chain, as a batch lookup sends them.
    let batch = (0..100)
        .map(|i| format!(r#"id eq "2819c223-7f76-453a-919d-4138619046{i:02}""#))
        .collect::<Vec<_>>()
        .join(" or ");

    let mut g = c.benchmark_group("filter");
    g.bench_function("parse", |b| b.iter(|| parse_filter(black_box(FILTER))));
    g.bench_function("resolve", |b| {
        b.iter(|| resolve(black_box(&parsed), &registry, &users))
    });
    g.bench_function("evaluate", |b| {
        b.iter(|| resolved.matches(black_box(&user)))
    });
    g.bench_function("parse+resolve+evaluate", |b| {
        b.iter(|| {
            parse_filter(black_box(FILTER))
                .and_then(|f| resolve(&f, &registry, &users))
                .map(|r| r.matches(black_box(&user)))
        })
    });
    g.bench_function("parse+resolve+evaluate 100-id or-chain", |b| {
        b.iter(|| {
            parse_filter(black_box(&batch))
                .and_then(|f| resolve(&f, &registry, &users))
                .map(|r| r.matches(black_box(&user)))
        })
    });
    g.bench_function("render", |b| b.iter(|| black_box(&parsed).to_string()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
