//! Schema and resource type documents from arbitrary JSON: never panic; a rejected document
//! leaves the registry usable and its error names the source.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::schema::SchemaRegistry;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    static BUILTIN: std::sync::OnceLock<Option<SchemaRegistry>> = std::sync::OnceLock::new();
    let Some(mut reg) = BUILTIN.get_or_init(|| SchemaRegistry::builtin().ok()).clone() else {
        return;
    };
    if let Err(e) = reg.add_json("fuzz.json", text) {
        assert!(e.to_string().starts_with("fuzz.json"), "{e}");
    }
    assert!(reg.resource_type("User").is_some());
});
