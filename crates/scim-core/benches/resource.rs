//! Resource input and output: `prepare_create` of a realistic Entra ID user body, and
//! `render` of the stored user with the default projection.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use scim_core::projection::Projection;
use scim_core::resource::{Meta, prepare_create, render, set_meta};
use scim_core::schema::SchemaRegistry;
use serde_json::{Value, json};

/// What Entra ID's provisioning service posts for a new user.
fn entra_user() -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com",
        "active": "True",
        "displayName": "Test User",
        "title": null,
        "preferredLanguage": "en-US",
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@contoso.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "Test User", "familyName": "User", "givenName": "Test"},
        "phoneNumbers": [
            {"type": "work", "value": "+1 425 555 0100", "primary": "True"},
            {"type": "mobile", "value": "+1 425 555 0101"}
        ],
        "addresses": [{"type": "work", "streetAddress": "1 Microsoft Way", "locality": "Redmond",
                       "region": "WA", "postalCode": "98052", "country": "US", "primary": true}],
        "roles": [],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "0042",
            "department": "Sales",
            "costCenter": "CC-7",
            "manager": [{"$ref": "../Users/26118915-6090-4610-87e4-49d8ca9f808d",
                         "value": "26118915-6090-4610-87e4-49d8ca9f808d"}]
        }
    })
}

fn bench(c: &mut Criterion) {
    let Ok(reg) = SchemaRegistry::builtin() else {
        return;
    };
    let Some(rt) = reg.resource_type("User").cloned() else {
        return;
    };
    let body = entra_user();
    c.bench_function("prepare_create/entra_user", |b| {
        b.iter(|| prepare_create(&reg, &rt, black_box(body.clone())))
    });

    let Ok(mut stored) = prepare_create(&reg, &rt, body) else {
        return;
    };
    set_meta(
        &mut stored,
        "2819c223-7f76-453a-919d-413861904646",
        &Meta {
            resource_type: "User",
            created: "2024-05-01T12:00:00Z",
            last_modified: "2024-05-01T12:00:00Z",
            location: "https://example.com/scim/v2/Users/2819c223-7f76-453a-919d-413861904646",
            version: "W/\"1\"",
        },
    );
    let projection = Projection::default();
    c.bench_function("render/default_projection", |b| {
        b.iter(|| render(&reg, &rt, black_box(stored.clone()), &projection))
    });
    let Ok(excluding) = Projection::parse(&reg, &rt, Some("userName,emails.value"), None) else {
        return;
    };
    c.bench_function("render/attributes_userName_emails.value", |b| {
        b.iter(|| render(&reg, &rt, black_box(stored.clone()), &excluding))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
