//! What a server says it supports (`/ServiceProviderConfig`, RFC 7643 §5), read leniently.

use serde::Serialize;
use serde_json::Value;

/// The parts of a ServiceProviderConfig a client acts on.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceProviderConfig {
    /// PATCH is supported.
    pub patch: bool,
    /// `Some((maxOperations, maxPayloadSize))` when Bulk is supported.
    pub bulk: Option<(usize, usize)>,
    /// Filters are supported.
    pub filter: bool,
    /// The most results a filtered list returns (`filter.maxResults`).
    pub filter_max_results: Option<usize>,
    /// Sorting is supported.
    pub sort: bool,
    /// ETags (versions, `If-Match`) are supported.
    pub etag: bool,
    /// RFC 9865 cursor pagination.
    pub cursor: bool,
    /// The largest page the server serves (`pagination.maxPageSize`, RFC 9865).
    pub max_page_size: Option<usize>,
}

fn get<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    let o = v.as_object()?;
    o.get(name).or_else(|| {
        o.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn flag(v: &Value, name: &str) -> bool {
    get(v, name)
        .and_then(|s| get(s, "supported"))
        .is_some_and(|b| {
            b == &Value::Bool(true) || b.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
        })
}

fn num(v: Option<&Value>) -> Option<usize> {
    match v? {
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

impl ServiceProviderConfig {
    /// Reads a `/ServiceProviderConfig` body leniently: names in any case, booleans and numbers
    /// as strings too; what is missing or malformed counts as not supported.
    pub fn from_json(v: &Value) -> ServiceProviderConfig {
        let bulk = flag(v, "bulk").then(|| {
            let b = get(v, "bulk");
            (
                num(b.and_then(|b| get(b, "maxOperations"))).unwrap_or(0),
                num(b.and_then(|b| get(b, "maxPayloadSize"))).unwrap_or(0),
            )
        });
        let pagination = get(v, "pagination");
        ServiceProviderConfig {
            patch: flag(v, "patch"),
            bulk: bulk.filter(|(ops, size)| *ops > 0 && *size > 0),
            filter: flag(v, "filter"),
            filter_max_results: num(get(v, "filter").and_then(|f| get(f, "maxResults"))),
            sort: flag(v, "sort"),
            etag: flag(v, "etag"),
            cursor: pagination
                .and_then(|p| get(p, "cursor"))
                .is_some_and(|c| c == &Value::Bool(true)),
            max_page_size: num(pagination.and_then(|p| get(p, "maxPageSize"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient_parse() {
        let s = ServiceProviderConfig::from_json(&json!({
            "patch": {"supported": true},
            "bulk": {"supported": "True", "maxOperations": "100", "maxPayloadSize": 1048576},
            "filter": {"supported": true, "maxResults": 200},
            "Pagination": {"cursor": true, "maxPageSize": 500},
        }));
        assert!(s.patch && s.filter && s.cursor && !s.sort);
        assert_eq!(s.bulk, Some((100, 1_048_576)));
        assert_eq!(s.max_page_size, Some(500));
        assert_eq!(
            ServiceProviderConfig::from_json(&json!({})),
            ServiceProviderConfig::default()
        );
    }
}
