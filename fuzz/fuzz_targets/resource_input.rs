//! Request bodies (`prepare_create`, `prepare_replace`) for User and Group from arbitrary
//! JSON: never panic; what is accepted is canonical (no nulls, no empty values) and renders
//! without `password`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::projection::Projection;
use scim_core::resource::{prepare_create, prepare_replace, render};
use scim_core::schema::SchemaRegistry;
use serde_json::{Map, Value, json};

fn canonical(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty() && a.iter().all(canonical),
        Value::Object(o) => !o.is_empty() && o.values().all(canonical),
        _ => true,
    }
}

fn registry() -> Option<&'static SchemaRegistry> {
    static REG: std::sync::OnceLock<Option<SchemaRegistry>> = std::sync::OnceLock::new();
    REG.get_or_init(|| SchemaRegistry::builtin().ok()).as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Some(reg) = registry() else {
        return;
    };
    for name in ["User", "Group"] {
        let Some(rt) = reg.resource_type(name) else {
            return;
        };
        if let Ok(doc) = prepare_create(reg, rt, body.clone()) {
            assert!(doc.values().all(canonical), "{doc:?}");
            let mut stored = doc.clone();
            stored.insert("id".into(), json!("1"));
            let out = render(reg, rt, &stored, &Projection::default());
            assert!(out.get("password").is_none());
            let _ = prepare_replace(reg, rt, &stored, body.clone());
        }
        let existing: Map<String, Value> = match json!({
            "schemas": [rt.schema.clone()], "id": "1", "userName": "u", "displayName": "d"
        }) {
            Value::Object(m) => m,
            _ => return,
        };
        let _ = prepare_replace(reg, rt, &existing, body.clone());
    }
});
