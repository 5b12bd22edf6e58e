//! PATCH values: the "empty means no value" rule, the shapes identity providers send, type
//! checks (through [`crate::value`]) and element equality.

use serde_json::{Map, Value};

use crate::error::ScimResult;
use crate::schema::{Attribute, Mutability};
use crate::value::{coerce_attribute, coerce_element, coerce_simple, equals, fold_case};

/// Whether a PATCH value means "no value": `null`, `""`, `{}` or `[]` (Entra ID clears
/// attributes, the manager included, with `""` or `null`).
pub(crate) fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Whether sub-attributes marked readOnly are dropped from a value (they are for values to
/// store, RFC 7643 §7: the client cannot set them) or kept (to compare a readOnly value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadOnlySubs {
    Drop,
    Keep,
}

/// Brings one element into the shape [`crate::value`] checks: a bare string for a complex
/// attribute with a `value` sub-attribute means `{"value": …}` (Entra's manager id);
/// empty-string sub-attributes mean "no value"; readOnly sub-attributes are dropped if asked.
fn shape_element(attr: &Attribute, v: Value, ro: ReadOnlySubs) -> Value {
    if !attr.is_complex() {
        return v;
    }
    match v {
        Value::String(s) => match attr.sub_attribute("value") {
            Some(_) if s.is_empty() => Value::Null,
            Some(sub) => {
                let mut m = Map::new();
                m.insert(sub.name.clone(), Value::String(s));
                Value::Object(m)
            }
            None => Value::String(s),
        },
        Value::Object(obj) => Value::Object(
            obj.into_iter()
                .filter(|(k, v)| {
                    let empty = matches!(v, Value::String(s) if s.is_empty());
                    let read_only = attr
                        .sub_attribute(k)
                        .is_some_and(|s| s.mutability == Mutability::ReadOnly);
                    !empty && (ro == ReadOnlySubs::Keep || !read_only)
                })
                .collect(),
        ),
        other => other,
    }
}

fn shape(attr: &Attribute, v: Value, ro: ReadOnlySubs) -> Value {
    match v {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| shape_element(attr, item, ro))
                .collect(),
        ),
        other => shape_element(attr, other, ro),
    }
}

/// A whole attribute value, checked and normalised; `None` means "no value".
pub(crate) fn attribute_value(
    attr: &Attribute,
    v: &Value,
    path: &str,
    ro: ReadOnlySubs,
) -> ScimResult<Option<Value>> {
    if is_blank(v) {
        return Ok(None);
    }
    coerce_attribute(attr, shape(attr, v.clone(), ro), path)
}

/// One element of a multi-valued attribute (or the value of a single complex one), checked
/// and normalised; `None` means "no value".
pub(crate) fn element_value(
    attr: &Attribute,
    v: &Value,
    path: &str,
    ro: ReadOnlySubs,
) -> ScimResult<Option<Value>> {
    if is_blank(v) {
        return Ok(None);
    }
    coerce_element(attr, shape_element(attr, v.clone(), ro), path)
}

/// The elements a value lists (an array, or one element), each normalised; empty ones are
/// left out.
pub(crate) fn element_list(
    attr: &Attribute,
    v: &Value,
    path: &str,
    ro: ReadOnlySubs,
) -> ScimResult<Vec<Value>> {
    let items: &[Value] = match v {
        Value::Array(items) => items,
        single => std::slice::from_ref(single),
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if let Some(e) = element_value(attr, item, path, ro)? {
            out.push(e);
        }
    }
    Ok(out)
}

/// A sub-attribute (simple) value, checked; `None` means "no value".
pub(crate) fn sub_value(sub: &Attribute, v: &Value, path: &str) -> ScimResult<Option<Value>> {
    if is_blank(v) {
        return Ok(None);
    }
    coerce_simple(sub, v.clone(), path)
}

/// Typed equality of two simple values (identical JSON, or equal by the attribute's type).
pub(crate) fn simple_equal(attr: &Attribute, a: &Value, b: &Value) -> bool {
    a == b || equals(attr, a, b)
}

fn sub_equal(attr: &Attribute, key: &str, a: &Value, b: &Value) -> bool {
    match attr.sub_attribute(key) {
        Some(sub) => simple_equal(sub, a, b),
        None => a == b,
    }
}

/// Typed equality of two elements (or two single values) of `attr`: the same
/// sub-attributes with equal values.
pub(crate) fn same_element(attr: &Attribute, a: &Value, b: &Value) -> bool {
    if !attr.is_complex() {
        return simple_equal(attr, a, b);
    }
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| sub_equal(attr, k, v, w)))
        }
        _ => a == b,
    }
}

/// Typed equality of two whole values of `attr` (`None` = absent). Multi-valued values are
/// compared as sets.
pub(crate) fn same_value(attr: &Attribute, a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) if attr.multi_valued => match (a, b) {
            (Value::Array(x), Value::Array(y)) => {
                x.len() == y.len()
                    && x.iter().all(|e| y.iter().any(|f| same_element(attr, e, f)))
                    && y.iter().all(|f| x.iter().any(|e| same_element(attr, e, f)))
            }
            _ => a == b,
        },
        (Some(a), Some(b)) => same_element(attr, a, b),
        _ => false,
    }
}

/// Whether the elements of `attr` reference other resources (they have a `$ref`
/// sub-attribute, like `members` and `groups`): such elements are identified by `value`.
pub(crate) fn identified_by_value(attr: &Attribute) -> bool {
    attr.sub_attribute("$ref").is_some() && attr.sub_attribute("value").is_some()
}

/// Whether `existing` is the element a PATCH value `given` designates: by `value` alone
/// when `by_value` and `given` has one, else every sub-attribute `given` has is equal in
/// `existing`. An empty `given` designates nothing.
pub(crate) fn designates(
    attr: &Attribute,
    given: &Value,
    existing: &Value,
    by_value: bool,
) -> bool {
    if !attr.is_complex() {
        return simple_equal(attr, given, existing);
    }
    let (Value::Object(g), Value::Object(e)) = (given, existing) else {
        return false;
    };
    if by_value && let Some(v) = g.get("value") {
        return e
            .get("value")
            .is_some_and(|w| sub_equal(attr, "value", v, w));
    }
    !g.is_empty()
        && g.iter()
            .all(|(k, v)| e.get(k).is_some_and(|w| sub_equal(attr, k, v, w)))
}

/// A hashable key for the `value` of an element identified by value, folded like the
/// sub-attribute compares (case-insensitively unless caseExact). `None` when the element
/// has no string `value`.
pub(crate) fn value_key(attr: &Attribute, element: &Value) -> Option<String> {
    let s = element.get("value")?.as_str()?;
    let exact = attr
        .sub_attribute("value")
        .is_some_and(Attribute::compares_exactly);
    Some(if exact { s.to_string() } else { fold_case(s) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaRegistry;
    use serde_json::json;

    fn user_attr(name: &str) -> Attribute {
        let reg = SchemaRegistry::builtin().unwrap();
        reg.schema(crate::schema::USER_SCHEMA)
            .and_then(|s| s.attribute(name))
            .cloned()
            .unwrap()
    }

    fn manager() -> Attribute {
        let reg = SchemaRegistry::builtin().unwrap();
        reg.schema(crate::schema::ENTERPRISE_USER_SCHEMA)
            .and_then(|s| s.attribute("manager"))
            .cloned()
            .unwrap()
    }

    #[test]
    fn blank_values_mean_no_value() {
        for v in [json!(null), json!(""), json!({}), json!([])] {
            assert!(is_blank(&v));
            assert_eq!(
                attribute_value(&manager(), &v, "m", ReadOnlySubs::Drop).unwrap(),
                None
            );
        }
        assert!(!is_blank(&json!(false)));
        assert!(!is_blank(&json!(0)));
        // Nothing left after dropping empties and readOnly sub-attributes: no value.
        assert_eq!(
            attribute_value(
                &manager(),
                &json!({"value": "", "displayName": "Boss"}),
                "m",
                ReadOnlySubs::Drop
            )
            .unwrap(),
            None
        );
    }

    #[test]
    fn entra_manager_shapes_all_mean_manager_value() {
        for v in [
            json!("42"),
            json!({"value": "42"}),
            json!([{"$ref": null, "value": "42"}]),
            json!({"value": "42", "displayName": "Boss"}),
        ] {
            assert_eq!(
                attribute_value(&manager(), &v, "manager", ReadOnlySubs::Drop).unwrap(),
                Some(json!({"value": "42"})),
                "{v}"
            );
        }
        assert_eq!(
            attribute_value(
                &manager(),
                &json!({"value": "42", "displayName": "B"}),
                "m",
                ReadOnlySubs::Keep
            )
            .unwrap(),
            Some(json!({"value": "42", "displayName": "B"}))
        );
    }

    #[test]
    fn element_equality_is_typed() {
        let emails = user_attr("emails");
        assert!(same_element(
            &emails,
            &json!({"value": "A@x.org", "primary": true}),
            &json!({"value": "a@x.org", "primary": true})
        ));
        assert!(!same_element(
            &emails,
            &json!({"value": "a"}),
            &json!({"value": "a", "type": "work"})
        ));
        assert!(same_value(
            &emails,
            Some(&json!([{"value": "a"}, {"value": "b"}])),
            Some(&json!([{"value": "B"}, {"value": "a"}]))
        ));
        assert!(same_value(&emails, None, None));
        assert!(!same_value(&emails, Some(&json!([])), None));
        assert!(designates(
            &emails,
            &json!({"value": "A"}),
            &json!({"value": "a", "type": "w"}),
            false
        ));
        assert!(!designates(
            &emails,
            &json!({}),
            &json!({"value": "a"}),
            false
        ));
        assert!(!designates(
            &emails,
            &json!({"value": "a", "type": "home"}),
            &json!({"value": "a", "type": "w"}),
            false
        ));
        assert!(designates(
            &emails,
            &json!({"value": "a", "type": "home"}),
            &json!({"value": "a", "type": "w"}),
            true
        ));
    }

    #[test]
    fn value_keys_fold_case_unless_case_exact() {
        let emails = user_attr("emails");
        assert_eq!(
            value_key(&emails, &json!({"value": "AbC"})).as_deref(),
            Some("abc")
        );
        assert_eq!(value_key(&emails, &json!({"type": "x"})), None);
        let x509 = user_attr("x509Certificates");
        assert_eq!(
            value_key(&x509, &json!({"value": "AbC"})).as_deref(),
            Some("AbC")
        );
        assert!(identified_by_value(&user_attr("groups")));
        assert!(!identified_by_value(&emails));
    }
}
