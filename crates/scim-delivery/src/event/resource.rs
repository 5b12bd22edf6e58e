//! The resource an event carries: JSON text or a parsed value, parsed only when read.
//!
//! Most consumers only pass an event's resource on (a webhook body, a feed page, a NATS
//! message). A user created is delivered as the text it was stored as, with its `id`,
//! `meta` and effective roles written around it (`Resource::around_stored`): it is not
//! parsed into a `serde_json::Value`, rendered and serialised again for every event. Code
//! that reads it (a connector target, an embedder) gets the parsed value on first use,
//! through [`Deref`] or [`Resource::value`], and it is kept.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Deref;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A resource in its SCIM representation, as an event carries it (see the module
/// documentation). It dereferences to its JSON value, and serialises as it is (its text
/// unchanged when it has one).
#[derive(Clone)]
pub struct Resource(Repr);

#[derive(Clone)]
enum Repr {
    Value(Value),
    Text {
        text: Box<RawValue>,
        parsed: OnceLock<Value>,
    },
}

/// Top-level members a stored document must not have for its text to be used as it is:
/// the members [`Resource::around_stored`] writes around it.
const WRITTEN_AROUND: [&str; 3] = ["\"id\"", "\"meta\"", "\"effectiveRoles\""];

impl Resource {
    /// A resource from its JSON value.
    pub fn from_value(value: Value) -> Resource {
        Resource(Repr::Value(value))
    }

    /// A resource from JSON text (checked to be JSON, not parsed into a value).
    pub fn from_json(text: String) -> Result<Resource, serde_json::Error> {
        Ok(Resource(Repr::Text {
            text: RawValue::from_string(text)?,
            parsed: OnceLock::new(),
        }))
    }

    /// The SCIM representation of a stored document without parsing it: `{"id": id,`, the
    /// stored members, `"meta": meta` and, when given, the user's effective roles
    /// (`"effectiveRoles": [...]`, sorted), `}`. `None` when the text is not a JSON object,
    /// or names any of the members written around it anywhere in it (nested members with
    /// the same names included: the caller then renders it from the parsed value, which is
    /// always right).
    pub(crate) fn around_stored(
        stored: &str,
        id: &str,
        meta: &Map<String, Value>,
        roles: Option<&BTreeSet<String>>,
    ) -> Option<Resource> {
        let inner = stored.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
        if WRITTEN_AROUND.iter().any(|m| inner.contains(m)) {
            return None;
        }
        let id = serde_json::to_string(id).ok()?;
        let meta = serde_json::to_string(meta).ok()?;
        let roles = roles.map(serde_json::to_string).transpose().ok()?;
        let mut text = String::with_capacity(inner.len() + id.len() + meta.len() + 40);
        text.push_str("{\"id\":");
        text.push_str(&id);
        text.push(',');
        if !inner.is_empty() {
            text.push_str(inner);
            text.push(',');
        }
        text.push_str("\"meta\":");
        text.push_str(&meta);
        if let Some(roles) = roles {
            text.push_str(",\"");
            text.push_str(super::EFFECTIVE_ROLES);
            text.push_str("\":");
            text.push_str(&roles);
        }
        text.push('}');
        // Checked once, here: a stored text that is not JSON is rendered from the value.
        Resource::from_json(text).ok()
    }

    /// The JSON value (parsed on the first call when the resource is text).
    pub fn value(&self) -> &Value {
        match &self.0 {
            Repr::Value(v) => v,
            Repr::Text { text, parsed } => parsed.get_or_init(|| parse(text)),
        }
    }

    /// The JSON value, taken.
    pub fn into_value(self) -> Value {
        match self.0 {
            Repr::Value(v) => v,
            Repr::Text { text, parsed } => parsed.into_inner().unwrap_or_else(|| parse(&text)),
        }
    }
}

/// A resource's text, parsed (it was checked to be JSON when it was made).
fn parse(text: &RawValue) -> Value {
    serde_json::from_str(text.get()).unwrap_or_else(|e| {
        tracing::error!(error = %e, "an event's resource did not parse");
        Value::Null
    })
}

impl Deref for Resource {
    type Target = Value;

    fn deref(&self) -> &Value {
        self.value()
    }
}

impl From<Value> for Resource {
    fn from(value: Value) -> Resource {
        Resource::from_value(value)
    }
}

impl PartialEq for Resource {
    fn eq(&self, other: &Resource) -> bool {
        self.value() == other.value()
    }
}

impl PartialEq<Value> for Resource {
    fn eq(&self, other: &Value) -> bool {
        self.value() == other
    }
}

impl fmt::Debug for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value().fmt(f)
    }
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Value(v) => v.serialize(s),
            Repr::Text { text, .. } => text.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Any format, and inside untagged or flattened types: a value.
        Value::deserialize(d).map(Resource::from_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta() -> Map<String, Value> {
        json!({"resourceType": "User", "version": "W/\"1\""})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn a_stored_document_is_used_as_it_is_with_id_and_meta_around_it() {
        let stored = r#"{"userName":"bj\u00f6rn \"b\"","emails":[{"value":"b@x"}]}"#;
        let r = Resource::around_stored(stored, "u\"1", &meta(), None).unwrap();
        assert_eq!(
            *r.value(),
            json!({"id": "u\"1", "userName": "björn \"b\"", "emails": [{"value": "b@x"}],
                   "meta": {"resourceType": "User", "version": "W/\"1\""}})
        );
        // Serialised as the text it is: the stored members unchanged.
        let out = serde_json::to_string(&r).unwrap();
        assert!(out.contains(r#""userName":"bj\u00f6rn \"b\"""#), "{out}");
        // An empty document, and a text with spaces.
        let empty = Resource::around_stored(" { } ", "a", &meta(), None).unwrap();
        assert_eq!(empty["id"], "a");
        let spaced =
            Resource::around_stored(r#"{"active": true, "userName": "x"}"#, "b", &meta(), None);
        assert_eq!(spaced.unwrap()["active"], true);
    }

    #[test]
    fn documents_naming_what_is_written_around_them_are_left_to_the_value() {
        for stored in [
            r#"{"id":"x","userName":"a"}"#,
            r#"{"userName":"a","meta":{}}"#,
            r#"{"urn:x:Device":{"id":"nested"}}"#,
            r#"{"effectiveRoles":["root"]}"#,
            "[1]",
            "not json",
        ] {
            assert!(
                Resource::around_stored(stored, "a", &meta(), None).is_none(),
                "{stored}"
            );
        }
    }

    #[test]
    fn effective_roles_are_written_after_meta_sorted_and_once() {
        let roles: BTreeSet<String> = ["b", "a", "b"].map(String::from).into_iter().collect();
        let text = Resource::around_stored(r#"{"userName":"a"}"#, "a", &meta(), Some(&roles));
        let text = text.unwrap();
        assert_eq!(text["effectiveRoles"], json!(["a", "b"]));
        // The same as the value path writes (`set_effective_roles`).
        let mut value = Resource::around_stored(r#"{"userName":"a"}"#, "a", &meta(), None)
            .unwrap()
            .into_value();
        crate::event::set_effective_roles(&mut value, ["b".to_string(), "a".to_string()]);
        assert_eq!(text, value);
        let out = serde_json::to_string(&text).unwrap();
        assert!(out.ends_with(r#","effectiveRoles":["a","b"]}"#), "{out}");
        // None at all, on an empty document.
        let bare = Resource::around_stored("{}", "a", &meta(), Some(&BTreeSet::new())).unwrap();
        assert_eq!(bare["effectiveRoles"], json!([]));
        // A text that has them already is left to the value path: never repeated.
        let had = r#"{"effectiveRoles":["old"]}"#;
        assert!(Resource::around_stored(had, "a", &meta(), Some(&roles)).is_none());
    }

    #[test]
    fn it_reads_back_from_its_json_and_compares_by_value() {
        let r = Resource::from_value(json!({"a": [1, {"b": null}]}));
        let text = serde_json::to_string(&r).unwrap();
        let back: Resource = serde_json::from_str(&text).unwrap();
        assert_eq!(back, r);
        assert_eq!(back.into_value(), json!({"a": [1, {"b": null}]}));
        assert!(Resource::from_json("{".into()).is_err());
    }
}
