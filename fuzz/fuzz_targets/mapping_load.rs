//! Mapping files (scim-mapping) from arbitrary text: loading never panics, a rejected file's
//! error names the file and a line inside it, and a loaded mapping evaluates any record
//! without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_mapping::{Fields, Mapping, Record};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Mapping::parse(text, "fuzz.toml") {
        Err(e) => {
            assert!(e.to_string().starts_with("fuzz.toml"), "{e}");
            assert!(e.line <= text.lines().count() + 1, "{e}");
        }
        Ok(m) => {
            let mut r = Record::new();
            for (i, word) in ["email", "name", "status", "members", "x"].iter().enumerate() {
                r.insert(*word, json!(format!("v{i};A b")));
            }
            for s in [m.user.as_ref(), m.group.as_ref()].into_iter().flatten() {
                if let Ok(res) = s.to_resource(&r) {
                    let _ = s.to_record(&res).map(|back| back.field("email"));
                }
            }
        }
    }
});
