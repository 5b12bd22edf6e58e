//! Attribute values: type checks with the leniencies real identity providers need, and typed
//! comparison (RFC 7643 §2.3, RFC 7644 §3.4.2.2).
//!
//! Leniencies (see IDP-COMPAT.md): `"True"`/`"false"` strings for booleans (Entra ID),
//! `null` meaning "no value", unknown sub-attributes of complex values ignored (OneLogin).

use std::cmp::Ordering;

use base64::Engine;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{ScimError, ScimResult};
use crate::schema::{Attribute, AttributeType};

/// Parses an `xsd:dateTime` value as used by SCIM (RFC 3339 with a time zone).
pub fn parse_datetime(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Parses a boolean the lenient way: JSON booleans, or the strings `true`/`false` in any case.
pub fn parse_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// Checks and normalises one single (not multi-valued) value of a simple type.
///
/// Returns `Ok(None)` for `null`, meaning "no value". Strings are stored as sent.
pub fn coerce_simple(attr: &Attribute, value: Value, path: &str) -> ScimResult<Option<Value>> {
    let bad = |expected: &str, v: &Value| {
        ScimError::invalid_value(format!(
            "attribute '{path}' must be {expected}, got {}",
            describe(v)
        ))
    };
    if value.is_null() {
        return Ok(None);
    }
    let out = match attr.kind {
        AttributeType::String | AttributeType::Reference => match value {
            // U+0000 is never part of an identity attribute, and PostgreSQL cannot store it
            // in text: refused the same way on every backend.
            Value::String(s) if s.contains('\0') => {
                return Err(ScimError::invalid_value(format!(
                    "attribute '{path}' contains the NUL character (U+0000), which is not allowed"
                )));
            }
            Value::String(_) => value,
            other => return Err(bad("a string", &other)),
        },
        AttributeType::Boolean => match parse_bool(&value) {
            Some(b) => Value::Bool(b),
            None => return Err(bad("a boolean", &value)),
        },
        AttributeType::Integer => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value,
            Value::Number(n)
                if n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.abs() < 9e15) =>
            {
                // 3.0 is an integer value written with a fraction; keep it integral.
                Value::from(n.as_f64().map(|f| f as i64).unwrap_or_default())
            }
            Value::String(s) => match s.trim().parse::<i64>() {
                Ok(i) => Value::from(i),
                Err(_) => return Err(bad("an integer", &value)),
            },
            _ => return Err(bad("an integer", &value)),
        },
        AttributeType::Decimal => match &value {
            Value::Number(_) => value,
            Value::String(s) => match s.trim().parse::<f64>() {
                Ok(f) if f.is_finite() => serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| bad("a decimal number", &value))?,
                _ => return Err(bad("a decimal number", &value)),
            },
            _ => return Err(bad("a decimal number", &value)),
        },
        AttributeType::DateTime => match &value {
            Value::String(s) if parse_datetime(s).is_some() => value,
            Value::String(_) => {
                return Err(bad(
                    "an RFC 3339 date-time such as 2024-05-01T12:00:00Z",
                    &value,
                ));
            }
            _ => return Err(bad("a date-time string", &value)),
        },
        AttributeType::Binary => match &value {
            Value::String(s) if is_base64(s) => value,
            _ => return Err(bad("a base64-encoded string", &value)),
        },
        AttributeType::Complex => {
            return Err(ScimError::invalid_value(format!(
                "attribute '{path}' is complex and needs an object value"
            )));
        }
    };
    Ok(Some(out))
}

fn is_base64(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .is_ok()
        || base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&compact)
            .is_ok()
        || base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&compact)
            .is_ok()
}

/// A short description of a JSON value's type for error messages.
pub fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Normalises the value of a complex attribute (one element, for a multi-valued one):
/// sub-attribute names in canonical case, each value type-checked, `null` sub-attributes
/// dropped, unknown sub-attributes ignored. Returns `None` if nothing is left.
pub fn coerce_complex(
    attr: &Attribute,
    value: Value,
    path: &str,
) -> ScimResult<Option<Map<String, Value>>> {
    let obj = match value {
        Value::Null => return Ok(None),
        Value::Object(obj) => obj,
        other => {
            return Err(ScimError::invalid_value(format!(
                "attribute '{path}' is complex and needs an object value, got {}",
                describe(&other)
            )));
        }
    };
    let mut out = Map::new();
    for (key, v) in obj {
        let Some(sub) = attr.sub_attribute(&key) else {
            continue;
        };
        let sub_path = format!("{path}.{}", sub.name);
        if let Some(v) = coerce_simple(sub, v, &sub_path)? {
            out.insert(sub.name.clone(), v);
        }
    }
    Ok(if out.is_empty() { None } else { Some(out) })
}

/// Normalises one element of an attribute (the whole value for a single-valued one, one
/// item for a multi-valued one).
pub fn coerce_element(attr: &Attribute, value: Value, path: &str) -> ScimResult<Option<Value>> {
    if attr.is_complex() {
        Ok(coerce_complex(attr, value, path)?.map(Value::Object))
    } else {
        coerce_simple(attr, value, path)
    }
}

/// Normalises a whole attribute value (single- or multi-valued). A single value given for
/// a multi-valued attribute is taken as a one-element list. Empty results become `None`.
pub fn coerce_attribute(attr: &Attribute, value: Value, path: &str) -> ScimResult<Option<Value>> {
    if !attr.multi_valued {
        if let Value::Array(items) = &value {
            // Lenient: a one-element list for a single-valued complex attribute (Entra's
            // manager arrives as `[{"value": …}]`).
            if items.len() == 1 && attr.is_complex() {
                let Value::Array(mut items) = value else {
                    return Ok(None);
                };
                return coerce_element(attr, items.remove(0), path);
            }
            if items.is_empty() {
                return Ok(None);
            }
            return Err(ScimError::invalid_value(format!(
                "attribute '{path}' is single-valued, got an array"
            )));
        }
        return coerce_element(attr, value, path);
    }
    let items = match value {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        single => vec![single],
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(v) = coerce_element(attr, item, path)? {
            out.push(v);
        }
    }
    if attr.is_complex() {
        let primaries = out
            .iter()
            .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
            .count();
        if primaries > 1 {
            return Err(ScimError::invalid_value(format!(
                "attribute '{path}' has {primaries} values with \"primary\": true; at most one is allowed"
            )));
        }
    }
    Ok(if out.is_empty() {
        None
    } else {
        Some(Value::Array(out))
    })
}

/// Compares two values of an attribute by its type: dateTimes as instants, numbers
/// numerically, strings case-insensitively unless the attribute is caseExact.
/// `None` when the values are not comparable.
pub fn compare(attr: &Attribute, a: &Value, b: &Value) -> Option<Ordering> {
    match attr.kind {
        AttributeType::DateTime => {
            let (a, b) = (parse_datetime(a.as_str()?)?, parse_datetime(b.as_str()?)?);
            Some(a.cmp(&b))
        }
        AttributeType::Integer | AttributeType::Decimal => {
            // Integers compare exactly (f64 loses precision above 2^53).
            if let (Some(a), Some(b)) = (integer(a), integer(b)) {
                return Some(a.cmp(&b));
            }
            let (a, b) = (number(a)?, number(b)?);
            a.partial_cmp(&b)
        }
        AttributeType::Boolean => Some(parse_bool(a)?.cmp(&parse_bool(b)?)),
        _ => {
            let (a, b) = (a.as_str()?, b.as_str()?);
            if attr.compares_exactly() {
                Some(a.cmp(b))
            } else {
                Some(cmp_ignore_case(a, b))
            }
        }
    }
}

/// Equality by the attribute's type; strings case-insensitively unless caseExact.
pub fn equals(attr: &Attribute, a: &Value, b: &Value) -> bool {
    compare(attr, a, b) == Some(Ordering::Equal)
}

fn integer(v: &Value) -> Option<i128> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Case-insensitive string ordering (Unicode lower-case).
pub fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    a.chars()
        .flat_map(char::to_lowercase)
        .cmp(b.chars().flat_map(char::to_lowercase))
}

/// The key under which a case-insensitive string is indexed and compared for uniqueness.
/// Folds character by character, exactly as [`cmp_ignore_case`] compares, so that an index
/// lookup and an in-memory comparison always agree.
pub fn fold_case(s: &str) -> String {
    s.chars().flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attr(kind: AttributeType) -> Attribute {
        Attribute::new("a", kind)
    }

    #[test]
    fn entra_boolean_strings_are_coerced() {
        // Microsoft Entra ID sends "active": "True".
        let a = attr(AttributeType::Boolean);
        assert_eq!(
            coerce_simple(&a, json!("True"), "active").unwrap(),
            Some(json!(true))
        );
        assert_eq!(
            coerce_simple(&a, json!("FALSE"), "active").unwrap(),
            Some(json!(false))
        );
        assert!(coerce_simple(&a, json!("yes"), "active").is_err());
    }

    #[test]
    fn null_means_no_value() {
        let a = attr(AttributeType::String);
        assert_eq!(coerce_simple(&a, Value::Null, "title").unwrap(), None);
    }

    #[test]
    fn type_errors_are_invalid_value_and_name_the_attribute() {
        let e = coerce_simple(&attr(AttributeType::Integer), json!("x"), "count").unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.scim_type, Some(crate::error::ScimType::InvalidValue));
        assert!(e.detail.contains("'count'"));
        assert!(coerce_simple(&attr(AttributeType::DateTime), json!("yesterday"), "d").is_err());
        assert!(
            coerce_simple(
                &attr(AttributeType::DateTime),
                json!("2024-05-01T12:00:00Z"),
                "d"
            )
            .is_ok()
        );
        assert!(coerce_simple(&attr(AttributeType::Binary), json!("aGVsbG8="), "b").is_ok());
        assert!(coerce_simple(&attr(AttributeType::Binary), json!("***"), "b").is_err());
        assert!(coerce_simple(&attr(AttributeType::String), json!(5), "s").is_err());
        assert!(coerce_simple(&attr(AttributeType::String), json!("a\u{0}b"), "s").is_err());
    }

    #[test]
    fn complex_values_drop_unknown_sub_attributes_and_canonicalise_names() {
        // OneLogin sends manager as {"value": …, "displayName": …} on schemas without it.
        let mut a = attr(AttributeType::Complex);
        a.sub_attributes = vec![Attribute::new("value", AttributeType::String)];
        let v = coerce_complex(&a, json!({"VALUE": "42", "displayName": "Boss"}), "manager")
            .unwrap()
            .unwrap();
        assert_eq!(Value::Object(v), json!({"value": "42"}));
    }

    #[test]
    fn at_most_one_primary() {
        let mut a = attr(AttributeType::Complex);
        a.multi_valued = true;
        a.sub_attributes = vec![
            Attribute::new("value", AttributeType::String),
            Attribute::new("primary", AttributeType::Boolean),
        ];
        let two = json!([{"value": "a", "primary": true}, {"value": "b", "primary": "True"}]);
        assert!(coerce_attribute(&a, two, "emails").is_err());
        let one = json!([{"value": "a", "primary": true}, {"value": "b"}]);
        assert!(coerce_attribute(&a, one, "emails").is_ok());
    }

    #[test]
    fn typed_comparison() {
        let dt = attr(AttributeType::DateTime);
        assert_eq!(
            compare(
                &dt,
                &json!("2024-01-01T00:00:00Z"),
                &json!("2024-01-01T01:00:00+02:00")
            ),
            Some(Ordering::Greater)
        );
        let s = attr(AttributeType::String);
        assert!(equals(&s, &json!("Alice"), &json!("alice")));
        let mut exact = attr(AttributeType::String);
        exact.case_exact = true;
        assert!(!equals(&exact, &json!("Alice"), &json!("alice")));
        let d = attr(AttributeType::Decimal);
        assert_eq!(
            compare(&d, &json!(10), &json!(9.5)),
            Some(Ordering::Greater)
        );
    }
}
