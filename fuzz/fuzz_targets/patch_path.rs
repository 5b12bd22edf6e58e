//! `PatchPath::parse` on arbitrary text: never panics, and a parsed path parses again to
//! the same path from its own text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::patch::PatchPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = PatchPath::parse(text) {
        let again = PatchPath::parse(path.as_str());
        assert_eq!(again.as_ref().ok(), Some(&path), "{text:?}");
    }
});
