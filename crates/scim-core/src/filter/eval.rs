//! In-memory evaluation of a [`ResolvedFilter`] over a resource's canonical JSON.
//!
//! The resource is a JSON object with core and common attributes at the top level under
//! their canonical names, and extension attributes inside an object under the extension's
//! canonical URN. Semantics (RFC 7644 §3.4.2.2):
//! - a path with several values (multi-valued attributes) matches if any value does;
//! - values compare by the attribute's type ([`crate::value::compare`]): dateTimes as
//!   instants, numbers numerically, strings case-insensitively unless caseExact, and
//!   `co`/`sw`/`ew` the same way;
//! - `pr` is false for an absent value, `null`, `""`, `[]` and `{}`;
//! - `ne` is the negation of `eq`, so an absent attribute matches `ne`; `eq null` matches
//!   when there is no value, `ne null` when there is one;
//! - `attr[filter]` needs one element that matches all of `filter`.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::value::{compare, equals};

use super::ast::CompareOp;
use super::resolve::{Comparison, ResolvedFilter, ResolvedPath};

/// Where paths are read from.
#[derive(Clone, Copy)]
enum Scope<'v> {
    /// The whole resource: paths start at its top level (or its extension objects).
    Resource(&'v Map<String, Value>),
    /// One element of a complex attribute: paths name its sub-attributes.
    Element(&'v Value),
}

impl ResolvedFilter {
    /// Whether the resource (its canonical JSON object) matches the filter.
    pub fn matches(&self, resource: &Map<String, Value>) -> bool {
        self.eval(Scope::Resource(resource))
    }

    /// Whether one element of a complex attribute matches a filter made by
    /// [`super::resolve_element_filter`] (e.g. one member for `members[value eq "x"]`).
    pub fn matches_element(&self, element: &Value) -> bool {
        self.eval(Scope::Element(element))
    }

    fn eval(&self, scope: Scope<'_>) -> bool {
        // `and`/`or` chains are left-deep; evaluating the right operand first and looping
        // on the left one keeps the stack shallow (evaluation has no side effects, so the
        // order does not matter).
        let mut node = self;
        loop {
            match node {
                ResolvedFilter::And(l, r) => {
                    if !r.eval(scope) {
                        return false;
                    }
                    node = l;
                }
                ResolvedFilter::Or(l, r) => {
                    if r.eval(scope) {
                        return true;
                    }
                    node = l;
                }
                leaf => return leaf.eval_leaf(scope),
            }
        }
    }

    fn eval_leaf(&self, scope: Scope<'_>) -> bool {
        match self {
            ResolvedFilter::And(..) | ResolvedFilter::Or(..) => self.eval(scope),
            ResolvedFilter::Not(f) => !f.eval(scope),
            ResolvedFilter::Present(path) => any_value(path, scope, is_present),
            ResolvedFilter::Compare(c) => comparison(c, scope),
            ResolvedFilter::ValuePath { attr, filter } => match scope {
                Scope::Resource(resource) => attribute(attr, resource).is_some_and(|top| {
                    each(top)
                        .filter(|e| e.is_object())
                        .any(|e| filter.eval(Scope::Element(e)))
                }),
                // Resolution never nests value paths.
                Scope::Element(_) => false,
            },
        }
    }
}

/// Whether a value counts as present for `pr`.
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => items.iter().any(is_present),
        Value::Object(obj) => !obj.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

/// The items of an array, or the value itself.
fn each(v: &Value) -> std::slice::Iter<'_, Value> {
    match v {
        Value::Array(items) => items.iter(),
        other => std::slice::from_ref(other).iter(),
    }
}

/// The attribute's value in the resource.
fn attribute<'v>(path: &ResolvedPath, resource: &'v Map<String, Value>) -> Option<&'v Value> {
    if path.extension {
        resource.get(&path.schema)?.get(path.attr.as_str())
    } else {
        resource.get(&path.attr)
    }
}

/// Whether `pred` holds for any value at `path`.
fn any_value(path: &ResolvedPath, scope: Scope<'_>, mut pred: impl FnMut(&Value) -> bool) -> bool {
    let sub = path.sub_attr.as_deref();
    match scope {
        Scope::Element(element) => match sub {
            Some(sub) => element.get(sub).is_some_and(|v| each(v).any(&mut pred)),
            None => each(element).any(pred),
        },
        Scope::Resource(resource) => {
            let Some(top) = attribute(path, resource) else {
                return false;
            };
            match sub {
                None => each(top).any(pred),
                Some(sub) => each(top)
                    .filter_map(|e| e.get(sub))
                    .any(|v| each(v).any(&mut pred)),
            }
        }
    }
}

fn comparison(c: &Comparison, scope: Scope<'_>) -> bool {
    let path = &c.path;
    let wanted = c.json();
    if wanted.is_null() {
        let present = any_value(path, scope, is_present);
        return match c.op {
            CompareOp::Ne => present,
            _ => !present,
        };
    }
    let attr = path.comparator();
    match c.op {
        CompareOp::Eq => any_value(path, scope, |v| equals(&attr, v, wanted)),
        CompareOp::Ne => !any_value(path, scope, |v| equals(&attr, v, wanted)),
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => {
            let Some(needle) = wanted.as_str() else {
                return false;
            };
            let op = c.op;
            if path.case_exact {
                any_value(path, scope, |v| {
                    v.as_str().is_some_and(|h| substring(op, h, needle))
                })
            } else {
                let needle = fold(needle);
                any_value(path, scope, |v| {
                    v.as_str().is_some_and(|h| substring(op, &fold(h), &needle))
                })
            }
        }
        CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le => {
            let op = c.op;
            any_value(path, scope, |v| {
                compare(&attr, v, wanted).is_some_and(|o| ordered(op, o))
            })
        }
    }
}

/// `co`, `sw` or `ew` on two strings (already case-folded when that applies).
fn substring(op: CompareOp, haystack: &str, needle: &str) -> bool {
    match op {
        CompareOp::Sw => haystack.starts_with(needle),
        CompareOp::Ew => haystack.ends_with(needle),
        _ => haystack.contains(needle),
    }
}

/// Lower-cases a string char by char, as [`crate::value::cmp_ignore_case`] compares.
fn fold(s: &str) -> String {
    if s.is_ascii() {
        s.to_ascii_lowercase()
    } else {
        s.chars().flat_map(char::to_lowercase).collect()
    }
}

fn ordered(op: CompareOp, o: Ordering) -> bool {
    match op {
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        _ => false,
    }
}
