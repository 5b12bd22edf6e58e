//! Protocol messages from arbitrary input: SearchRequest and BulkRequest bodies, list query
//! parameters, and `attributes`/`sortBy` parameters. Never panic; errors are 4xx.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scim_core::messages::{BulkRequest, ListQuery, SearchRequest};
use scim_core::projection::Projection;
use scim_core::schema::SchemaRegistry;
use scim_core::sort::SortSpec;
use serde_json::Value;

fn registry() -> Option<&'static SchemaRegistry> {
    static REG: std::sync::OnceLock<Option<SchemaRegistry>> = std::sync::OnceLock::new();
    REG.get_or_init(|| SchemaRegistry::builtin().ok()).as_ref()
}

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = serde_json::from_slice::<Value>(data) {
        if let Err(e) = SearchRequest::parse(&body) {
            assert!((400..500).contains(&e.status));
        }
        if let Err(e) = BulkRequest::parse(body) {
            assert!((400..500).contains(&e.status));
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pairs: Vec<(&str, &str)> = text
        .split('&')
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    if let Ok(q) = ListQuery::from_pairs(pairs) {
        let page = q.page(100, 1000);
        assert!(page.start_index >= 1 && (0..=1000).contains(&page.count));
    }
    let Some(reg) = registry() else {
        return;
    };
    let Some(users) = reg.resource_type("User") else {
        return;
    };
    let _ = Projection::parse(reg, users, Some(text), None);
    let _ = Projection::parse(reg, users, None, Some(text));
    let _ = SortSpec::parse(reg, users, text, Some(text));
});
