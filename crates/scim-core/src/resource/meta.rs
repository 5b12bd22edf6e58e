//! The server-set common attributes `id` and `meta` (RFC 7643 §3.1).

use serde_json::{Map, Value};

/// The `meta` attribute as the server sets it. Times are RFC 3339 strings chosen by the
/// caller (this crate reads no clock); `version` is the entity tag (`W/"3"`), `location` the
/// resource's absolute URI. Empty strings are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta<'a> {
    /// `meta.resourceType` (`User`).
    pub resource_type: &'a str,
    /// `meta.created`, RFC 3339.
    pub created: &'a str,
    /// `meta.lastModified`, RFC 3339.
    pub last_modified: &'a str,
    /// `meta.location`, the absolute URI of the resource.
    pub location: &'a str,
    /// `meta.version`, the entity tag.
    pub version: &'a str,
}

impl Meta<'_> {
    /// The `meta` object.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in [
            ("resourceType", self.resource_type),
            ("created", self.created),
            ("lastModified", self.last_modified),
            ("location", self.location),
            ("version", self.version),
        ] {
            if !v.is_empty() {
                m.insert(k.into(), Value::String(v.into()));
            }
        }
        Value::Object(m)
    }
}

/// Sets `id` (placed right after `schemas`) and `meta` (placed last) on a stored resource,
/// replacing any previous values.
pub fn set_meta(resource: &mut Map<String, Value>, id: &str, meta: &Meta<'_>) {
    resource.shift_remove("id");
    let at = resource
        .keys()
        .position(|k| k == "schemas")
        .map_or(0, |i| i + 1);
    resource.shift_insert(at, "id".into(), Value::String(id.into()));
    resource.shift_remove("meta");
    resource.insert("meta".into(), meta.to_value());
}
