//! Strict JSON parsing on arbitrary bytes: never panics; whatever it accepts, serde_json
//! accepts with the same value; whatever serde_json accepts and strict parsing refuses is a
//! duplicate name.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::json::{is_duplicate_key, parse_strict};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let loose = serde_json::from_slice::<Value>(data);
    match parse_strict(data) {
        Ok(v) => assert_eq!(Some(&v), loose.as_ref().ok(), "strict accepted what serde_json did not"),
        Err(e) => {
            if loose.is_ok() {
                assert!(is_duplicate_key(&e), "strict refused a valid document: {e}");
            }
        }
    }
});
