//! PATCH benchmarks: a typical Microsoft Entra ID user update, and a 100-member group add
//! with externally stored members.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};

use scim_core::patch::{PatchOptions, PatchRequest, apply_patch};
use scim_core::schema::{ENTERPRISE_USER_SCHEMA as EXT, SchemaRegistry, USER_SCHEMA};

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object"),
    }
}

fn user() -> Map<String, Value> {
    object(json!({
        "schemas": [USER_SCHEMA, EXT],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "bjensen",
        "meta": {"resourceType": "User", "created": "2024-01-01T00:00:00Z",
                 "lastModified": "2024-01-01T00:00:00Z", "version": "W/\"3694e05e9dff590\""},
        "userName": "bjensen@example.com",
        "name": {"formatted": "Ms. Barbara J Jensen III", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Babs Jensen",
        "title": "Tour Guide",
        "active": true,
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                   {"value": "babs@jensen.org", "type": "home"}],
        "phoneNumbers": [{"value": "555-555-8377", "type": "work"}],
        "addresses": [{"type": "work", "streetAddress": "100 Universal City Plaza",
                       "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "USA"}],
        EXT: {"employeeNumber": "701984", "department": "Tour Operations",
              "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}}
    }))
}

fn entra_update() -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Replace", "path": "displayName", "value": "Barbara Jensen"},
            {"op": "Replace", "path": "title", "value": "Senior Tour Guide"},
            {"op": "Replace", "path": "active", "value": "False"},
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "barbara.jensen@example.com"},
            {"op": "Replace", "path": "name.givenName", "value": "Barb"},
            {"op": "Replace", "path": format!("{EXT}:department"), "value": "Sales"},
            {"op": "Replace", "path": format!("{EXT}:manager"), "value": "9f0d1c7a-5b6e-4c1d-8f00-1a2b3c4d5e6f"}
        ]
    })
}

fn add_members(n: usize) -> Value {
    let members: Vec<Value> = (0..n)
        .map(|i| json!({"$ref": null, "value": format!("00000000-0000-4000-8000-{i:012}")}))
        .collect();
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "Add", "path": "members", "value": members}]
    })
}

fn bench(c: &mut Criterion) {
    let reg = SchemaRegistry::builtin().unwrap();
    let users = reg.resource_type("User").unwrap();
    let groups = reg.resource_type("Group").unwrap();
    let user = user();
    let group = object(json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba-f08f-4109-8486-d5c6a331660a",
        "displayName": "Tour Guides",
        "meta": {"resourceType": "Group", "created": "2024-01-01T00:00:00Z"}
    }));
    let no_options = PatchOptions::default();
    let external = PatchOptions::with_external_members("members");

    let body = entra_update();
    // What is measured really is the full update.
    let out = apply_patch(
        &reg,
        users,
        &user,
        &PatchRequest::parse(&body).unwrap(),
        &no_options,
    )
    .unwrap();
    assert_eq!(out.changed.len(), 7, "{:?}", out.changed);
    c.bench_function("patch/entra_user_update/parse+apply", |b| {
        b.iter(|| {
            let req = PatchRequest::parse(black_box(&body)).unwrap();
            apply_patch(&reg, users, black_box(&user), &req, &no_options).unwrap()
        })
    });
    let req = PatchRequest::parse(&body).unwrap();
    c.bench_function("patch/entra_user_update/apply", |b| {
        b.iter(|| apply_patch(&reg, users, black_box(&user), &req, &no_options).unwrap())
    });

    let body = add_members(100);
    let out = apply_patch(
        &reg,
        groups,
        &group,
        &PatchRequest::parse(&body).unwrap(),
        &external,
    )
    .unwrap();
    assert!(matches!(&out.members[..], [scim_core::patch::MemberChange::Add(m)] if m.len() == 100));
    c.bench_function("patch/add_100_members_external/parse+apply", |b| {
        b.iter(|| {
            let req = PatchRequest::parse(black_box(&body)).unwrap();
            apply_patch(&reg, groups, black_box(&group), &req, &external).unwrap()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
