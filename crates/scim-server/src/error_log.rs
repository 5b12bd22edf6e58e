//! What the request log says about a failed request: the SCIM error's `scimType` and its
//! `detail`, without the values a client sent.
//!
//! Details name attributes (`attribute 'active' must be a boolean`) but some also quote
//! what was sent (`userName 'bjensen@example.com' is already in use`), which is personal
//! data. Every quoted part of a detail is therefore replaced by `'…'` unless it is made of
//! names of the built-in schemas (attributes, sub-attributes, schema URNs, resource
//! types), so the log says which attribute was wrong, never what it held. Secrets never
//! appear in a detail in the first place (authentication failures have a fixed one).

use std::collections::HashSet;
use std::sync::OnceLock;

use scim_core::ScimError;

/// The part of a SCIM error the request log shows, attached to the response.
#[derive(Debug, Clone)]
pub(crate) struct ErrorSummary {
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

/// Longest detail logged, in characters.
const MAX_DETAIL: usize = 300;

impl ErrorSummary {
    pub(crate) fn of(e: &ScimError) -> ErrorSummary {
        let mut detail = redact(&e.detail);
        if detail.chars().count() > MAX_DETAIL {
            detail = detail.chars().take(MAX_DETAIL).collect::<String>() + "…";
        }
        ErrorSummary {
            scim_type: e.scim_type.map(|t| t.as_str()),
            detail,
        }
    }
}

/// Names of the built-in schemas, lower case.
fn known_names() -> &'static HashSet<String> {
    static NAMES: OnceLock<HashSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut names = HashSet::new();
        if let Ok(registry) = scim_core::schema::SchemaRegistry::builtin() {
            fn walk(a: &scim_core::schema::Attribute, names: &mut HashSet<String>) {
                names.insert(a.name.to_ascii_lowercase());
                for s in &a.sub_attributes {
                    walk(s, names);
                }
            }
            for schema in registry.schemas() {
                names.insert(schema.id.to_ascii_lowercase());
                for a in &schema.attributes {
                    walk(a, &mut names);
                }
            }
            for a in registry.common_attributes() {
                walk(a, &mut names);
            }
            for rt in registry.resource_types() {
                names.insert(rt.name.to_ascii_lowercase());
                names.insert(rt.endpoint.trim_start_matches('/').to_ascii_lowercase());
            }
        }
        for extra in ["$ref", "schemas", "operations", "op", "path", "value"] {
            names.insert(extra.to_string());
        }
        names
    })
}

/// A quoted part of a detail as it may be logged, if it is only schema names: an attribute
/// path such as `name.givenName`, `emails[…].value` (a filter in brackets is dropped, it
/// may hold a value), or one prefixed by a schema URN.
fn loggable_name(text: &str) -> Option<String> {
    let names = known_names();
    let lower = text.to_ascii_lowercase();
    if names.contains(&lower) {
        return Some(text.to_string());
    }
    // A URN-prefixed path: the URN must be a known schema.
    let path = match lower.rfind(':') {
        Some(i) if lower.starts_with("urn:") => {
            if !names.contains(&lower[..i]) {
                return None;
            }
            i + 1
        }
        Some(_) => return None,
        None => 0,
    };
    // Filters in brackets are left out.
    let mut plain = String::with_capacity(text.len());
    let mut shown = String::with_capacity(text.len());
    shown.push_str(&text[..path]);
    let mut depth = 0usize;
    for c in text[path..].chars() {
        match c {
            '[' => {
                if depth == 0 {
                    shown.push_str("[…]");
                }
                depth += 1;
            }
            ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => {
                plain.push(c.to_ascii_lowercase());
                shown.push(c);
            }
            _ => {}
        }
    }
    (!plain.is_empty() && plain.split('.').all(|part| names.contains(part))).then_some(shown)
}

/// `detail` with every quoted part that is not a schema name replaced by `'…'`.
pub(crate) fn redact(detail: &str) -> String {
    let mut out = String::with_capacity(detail.len());
    let mut rest = detail;
    while let Some(start) = rest.find(['\'', '"']) {
        let quote = rest[start..].chars().next().unwrap_or('\'');
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        // An apostrophe inside a word ("can't") is not a quote.
        let in_word = quote == '\''
            && rest[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
        match after.find(quote) {
            Some(end) if !in_word => {
                let inner = &after[..end];
                out.push(quote);
                match loggable_name(inner) {
                    Some(name) => out.push_str(&name),
                    None => out.push('…'),
                }
                out.push(quote);
                rest = &after[end + 1..];
            }
            _ => {
                out.push(quote);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_hidden_and_attribute_names_kept() {
        assert_eq!(
            redact("userName 'bjensen@example.com' is already in use by another User"),
            "userName '…' is already in use by another User"
        );
        assert_eq!(
            redact("attribute 'active' must be a boolean, got a string"),
            "attribute 'active' must be a boolean, got a string"
        );
        assert_eq!(
            redact("attribute 'name.givenName' must be a string"),
            "attribute 'name.givenName' must be a string"
        );
        assert_eq!(
            redact(r#"no target for 'emails[type eq "secret@x.org"].value'"#),
            "no target for 'emails[…].value'"
        );
        assert_eq!(
            redact(
                "'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber' is wrong"
            ),
            "'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber' is wrong"
        );
        assert_eq!(
            redact(r#"sortBy "Barbara Jensen": unknown"#),
            r#"sortBy "…": unknown"#
        );
        assert_eq!(redact("can't parse 'x"), "can't parse 'x");
        assert_eq!(redact("'urn:evil:Barbara' x"), "'…' x");
    }
}
