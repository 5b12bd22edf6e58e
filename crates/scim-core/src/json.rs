//! Strict parsing of JSON request bodies: a name that appears twice in one object is an
//! error.
//!
//! RFC 8259 §4 says the names of an object SHOULD be unique and leaves duplicates to the
//! implementation; `serde_json` keeps the last one. A SCIM request whose body says
//! `"active": true` and then `"active": false` is ambiguous (two parsers on its way, a proxy
//! and the server, may read it differently), so it is refused instead of guessed at.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses one JSON document, refusing duplicate names in any object. The error is
/// `serde_json`'s (with line and column); for a duplicate name its message starts with
/// `duplicate key`.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Whether a [`parse_strict`] error is a duplicate name (rather than a syntax error).
pub fn is_duplicate_key(e: &serde_json::Error) -> bool {
    e.is_data() && e.to_string().starts_with(DUPLICATE)
}

const DUPLICATE: &str = "duplicate key";

/// Builds a [`Value`] like `serde_json` does, checking object names as it goes.
#[derive(Clone, Copy)]
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                // The key is the client's (perhaps not an attribute name): marked for logs.
                return Err(de::Error::custom(format!(
                    "{DUPLICATE} \"{}\" in one object",
                    crate::Sent(key.escape_default())
                )));
            }
            let value = map.next_value_seed(Strict)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn duplicate_names_are_refused_at_any_depth() {
        for text in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"a": {"b": true, "b": false}}"#,
            r#"[{"x": 1}, {"y": [{"z": null, "z": null}]}]"#,
            r#"{"a": 1, "\u0061": 2}"#,
        ] {
            let e = parse_strict(text.as_bytes()).unwrap_err();
            assert!(is_duplicate_key(&e), "{text}: {e}");
        }
    }

    #[test]
    fn syntax_errors_are_not_duplicates() {
        let e = parse_strict(b"{\"a\": }").unwrap_err();
        assert!(!is_duplicate_key(&e));
        assert!(parse_strict(b"{} {}").is_err(), "trailing content");
    }

    #[test]
    fn same_names_in_different_objects_are_fine() {
        let v = parse_strict(br#"{"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}"#).unwrap();
        assert_eq!(v, json!({"a": {"a": 1}, "b": [{"a": 2}, {"a": 3}]}));
    }

    #[test]
    fn nesting_is_bounded_like_serde_json() {
        let deep = "[".repeat(100_000);
        assert!(parse_strict(deep.as_bytes()).is_err());
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<u64>().prop_map(|n| json!(n)),
            (-1e15f64..1e15).prop_map(|f| json!(f)),
            "\\PC{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Without duplicates, strict parsing agrees with serde_json on any document.
        #[test]
        fn agrees_with_serde_json(v in json_value()) {
            let text = serde_json::to_string(&v).unwrap();
            prop_assert_eq!(parse_strict(text.as_bytes()).unwrap(), serde_json::from_str::<Value>(&text).unwrap());
        }

        /// Repeating any member of any object is caught.
        #[test]
        fn a_repeated_member_is_caught(v in json_value(), key in "\\PC{0,6}", dup in json_value()) {
            let mut obj = Map::new();
            obj.insert(key.clone(), v);
            let text = serde_json::to_string(&Value::Object(obj)).unwrap();
            let member = format!("{}:{}", serde_json::to_string(&key).unwrap(), serde_json::to_string(&dup).unwrap());
            let doubled = format!("{{{member},{}", &text[1..]);
            let e = parse_strict(doubled.as_bytes()).unwrap_err();
            prop_assert!(is_duplicate_key(&e), "{}: {}", doubled, e);
        }

        /// Arbitrary bytes never panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = parse_strict(&bytes);
        }
    }
}
