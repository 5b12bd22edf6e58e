//! Finding the elements of a multi-valued attribute that a PATCH value designates in time
//! proportional to the list, not to the list times the value: a hash index over the
//! elements, keyed by the typed value of the sub-attributes the designating element gives.
//!
//! A key is equal for values the attribute's comparison finds equal (case folded unless
//! caseExact, dateTimes as instants, numbers and booleans as numbers and booleans); a
//! bucket is still checked with [`designates`], so the index only narrows the candidates.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde_json::Value;

use super::normalize::designates;
use crate::schema::{Attribute, AttributeType};
use crate::value::{parse_bool, parse_datetime};

/// Feeds the comparison key of a simple value of `attr` to `h`: equal for values the
/// attribute's comparison finds equal, without allocating for strings.
fn hash_value(attr: Option<&Attribute>, v: &Value, h: &mut DefaultHasher) {
    let json = |h: &mut DefaultHasher| {
        0u8.hash(h);
        v.to_string().hash(h);
    };
    let Some(attr) = attr else {
        return json(h);
    };
    match attr.kind {
        AttributeType::DateTime => match v.as_str().and_then(parse_datetime) {
            Some(t) => {
                1u8.hash(h);
                t.unix_timestamp_nanos().hash(h);
            }
            None => json(h),
        },
        AttributeType::Integer | AttributeType::Decimal => {
            let integer = match v {
                Value::Number(n) => n
                    .as_i64()
                    .map(i128::from)
                    .or_else(|| n.as_u64().map(i128::from)),
                Value::String(s) => s.trim().parse::<i128>().ok(),
                _ => None,
            };
            let float = match v {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            };
            match (integer, float) {
                (Some(i), _) => {
                    2u8.hash(h);
                    i.hash(h);
                }
                (None, Some(f)) if f.fract() == 0.0 && f.abs() < 1e30 => {
                    2u8.hash(h);
                    (f as i128).hash(h);
                }
                (None, Some(f)) => {
                    3u8.hash(h);
                    (f + 0.0).to_bits().hash(h);
                }
                (None, None) => json(h),
            }
        }
        AttributeType::Boolean => match parse_bool(v) {
            Some(b) => {
                4u8.hash(h);
                b.hash(h);
            }
            None => json(h),
        },
        _ => match v.as_str() {
            Some(s) if attr.compares_exactly() => {
                5u8.hash(h);
                s.hash(h);
            }
            Some(s) => {
                5u8.hash(h);
                for c in s.chars().flat_map(char::to_lowercase) {
                    h.write_u32(u32::from(c));
                }
                h.write_u8(0xff);
            }
            None => json(h),
        },
    }
}

/// The key of `element` over the sub-attributes `names`, or `None` if it lacks one.
fn element_key(attr: &Attribute, element: &Value, names: &[String]) -> Option<u64> {
    let mut h = DefaultHasher::new();
    if !attr.is_complex() {
        hash_value(Some(attr), element, &mut h);
        return Some(h.finish());
    }
    let obj = element.as_object()?;
    for name in names {
        let v = obj.get(name)?;
        hash_value(attr.sub_attribute(name), v, &mut h);
    }
    Some(h.finish())
}

/// The sub-attribute names a designating element gives, sorted (empty for simple values).
fn names_of(attr: &Attribute, given: &Value, by_value: bool) -> Vec<String> {
    match given.as_object() {
        Some(g) if attr.is_complex() => {
            if by_value && g.contains_key("value") {
                return vec!["value".to_string()];
            }
            let mut names: Vec<String> = g.keys().cloned().collect();
            names.sort();
            names
        }
        _ => Vec::new(),
    }
}

/// Positions of the elements with one key, as a chain: `heads[key]` is the last one,
/// `prev[i]` the one before `i` (no allocation per key).
#[derive(Default)]
struct Chains {
    heads: HashMap<u64, usize>,
    prev: Vec<Option<usize>>,
}

impl Chains {
    fn insert(&mut self, key: u64, i: usize) {
        if self.prev.len() <= i {
            self.prev.resize(i + 1, None);
        }
        self.prev[i] = self.heads.insert(key, i);
    }

    /// The positions with this key, in ascending order.
    fn positions(&self, key: u64) -> Vec<usize> {
        let mut out = Vec::new();
        let mut at = self.heads.get(&key).copied();
        while let Some(i) = at {
            out.push(i);
            at = self.prev.get(i).copied().flatten();
        }
        out.reverse();
        out
    }
}

/// An index over a list's elements for [`designates`] lookups, one hash map per set of
/// sub-attribute names asked about, built on first use and kept up to date as elements are
/// appended.
pub(crate) struct ElementIndex<'a> {
    attr: &'a Attribute,
    by_value: bool,
    maps: HashMap<Vec<String>, Chains>,
}

impl<'a> ElementIndex<'a> {
    pub(crate) fn new(attr: &'a Attribute, by_value: bool) -> Self {
        ElementIndex {
            attr,
            by_value,
            maps: HashMap::new(),
        }
    }

    /// The positions in `list` of the elements `given` designates, in order.
    pub(crate) fn designated(&mut self, list: &[Value], given: &Value) -> Vec<usize> {
        let names = names_of(self.attr, given, self.by_value);
        if self.attr.is_complex() && names.is_empty() {
            // An empty or non-object value designates nothing, or compares as a whole.
            return (0..list.len())
                .filter(|&i| designates(self.attr, given, &list[i], self.by_value))
                .collect();
        }
        let Some(key) = element_key(self.attr, given, &names) else {
            return Vec::new();
        };
        let attr = self.attr;
        let chains = self.maps.entry(names).or_insert_with_key(|names| {
            let mut chains = Chains::default();
            for (i, e) in list.iter().enumerate() {
                if let Some(k) = element_key(attr, e, names) {
                    chains.insert(k, i);
                }
            }
            chains
        });
        chains
            .positions(key)
            .into_iter()
            .filter(|&i| designates(attr, given, &list[i], self.by_value))
            .collect()
    }

    /// Whether `given` designates any element of `list`.
    pub(crate) fn contains(&mut self, list: &[Value], given: &Value) -> bool {
        !self.designated(list, given).is_empty()
    }

    /// Notes that `list[i]` was appended (the list must not have changed otherwise).
    pub(crate) fn appended(&mut self, list: &[Value], i: usize) {
        let Some(e) = list.get(i) else { return };
        for (names, chains) in &mut self.maps {
            if let Some(k) = element_key(self.attr, e, names) {
                chains.insert(k, i);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::schema::SchemaRegistry;
    use serde_json::json;

    fn emails() -> Attribute {
        let reg = SchemaRegistry::builtin().unwrap();
        reg.schema(crate::schema::USER_SCHEMA)
            .and_then(|s| s.attribute("emails"))
            .cloned()
            .unwrap()
    }

    #[test]
    fn finds_what_a_scan_finds() {
        let attr = emails();
        let list = vec![
            json!({"value": "A@x", "type": "work", "primary": true}),
            json!({"value": "b@x"}),
            json!({"value": "a@X", "type": "home"}),
        ];
        let mut index = ElementIndex::new(&attr, false);
        for given in [
            json!({"value": "a@x"}),
            json!({"value": "A@X", "type": "WORK"}),
            json!({"type": "home"}),
            json!({"primary": "True"}),
            json!({"value": "zzz"}),
            json!({}),
        ] {
            let scan: Vec<usize> = (0..list.len())
                .filter(|&i| designates(&attr, &given, &list[i], false))
                .collect();
            assert_eq!(index.designated(&list, &given), scan, "{given}");
        }
    }

    #[test]
    fn keeps_up_with_appends() {
        let attr = emails();
        let mut list = vec![json!({"value": "a@x"})];
        let mut index = ElementIndex::new(&attr, false);
        assert!(!index.contains(&list, &json!({"value": "b@x"})));
        list.push(json!({"value": "B@x"}));
        index.appended(&list, 1);
        assert!(index.contains(&list, &json!({"value": "b@x"})));
    }
}
