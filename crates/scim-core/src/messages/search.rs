//! The SearchRequest message of `POST /.search` (RFC 7644 §3.4.3).

use serde_json::{Map, Value};

use super::member;
use super::query::{ListQuery, parse_integer};
use crate::error::{ScimError, ScimResult};
use crate::value::describe;

/// A `POST …/.search` body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SearchRequest {
    /// `attributes`, one name per element.
    pub attributes: Vec<String>,
    /// `excludedAttributes`, one name per element.
    pub excluded_attributes: Vec<String>,
    /// `filter`, unparsed.
    pub filter: Option<String>,
    /// `sortBy`.
    pub sort_by: Option<String>,
    /// `sortOrder`.
    pub sort_order: Option<String>,
    /// `startIndex`, as given.
    pub start_index: Option<i64>,
    /// `count`, as given.
    pub count: Option<i64>,
    /// RFC 9865 `cursor`.
    pub cursor: Option<String>,
}

impl SearchRequest {
    /// Parses a search body leniently: member names in any case, `schemas` not required,
    /// `attributes` / `excludedAttributes` as arrays of names or comma-separated strings,
    /// `startIndex` / `count` as integers or numeric strings, `null` as absent, unknown members
    /// ignored. Wrong types are a 400 `invalidValue` naming the member; a body that is not an
    /// object is a 400 `invalidSyntax`.
    pub fn parse(body: &Value) -> ScimResult<SearchRequest> {
        let Value::Object(obj) = body else {
            return Err(ScimError::invalid_syntax(format!(
                "a SearchRequest body must be a JSON object, got {}",
                describe(body)
            )));
        };
        Ok(SearchRequest {
            attributes: names(obj, "attributes")?,
            excluded_attributes: names(obj, "excludedAttributes")?,
            filter: string(obj, "filter")?,
            sort_by: string(obj, "sortBy")?,
            sort_order: string(obj, "sortOrder")?,
            start_index: integer(obj, "startIndex")?,
            count: integer(obj, "count")?,
            cursor: match member(obj, "cursor") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.trim().to_string()),
                Some(other) => return Err(wrong_type("cursor", "a string", other)),
            },
        })
    }

    /// The same request as list query parameters (names joined with commas).
    pub fn into_query(self) -> ListQuery {
        let join = |names: Vec<String>| (!names.is_empty()).then(|| names.join(","));
        ListQuery {
            filter: self.filter,
            sort_by: self.sort_by,
            sort_order: self.sort_order,
            start_index: self.start_index,
            count: self.count,
            cursor: self.cursor,
            attributes: join(self.attributes),
            excluded_attributes: join(self.excluded_attributes),
        }
    }
}

fn wrong_type(name: &str, expected: &str, got: &Value) -> ScimError {
    ScimError::invalid_value(format!(
        "SearchRequest '{name}' must be {expected}, got {}",
        describe(got)
    ))
}

/// A string member; empty strings count as absent.
fn string(obj: &Map<String, Value>, name: &str) -> ScimResult<Option<String>> {
    match member(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            Ok((!s.is_empty()).then(|| s.to_string()))
        }
        Some(other) => Err(wrong_type(name, "a string", other)),
    }
}

fn integer(obj: &Map<String, Value>, name: &str) -> ScimResult<Option<i64>> {
    match member(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_u64().map(|_| i64::MAX))
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| {
                ScimError::invalid_value(format!(
                    "SearchRequest '{name}' must be an integer, got {n}"
                ))
            }),
        Some(Value::String(s)) => parse_integer(name, s).map(Some),
        Some(other) => Err(wrong_type(name, "an integer", other)),
    }
}

/// Attribute names from an array of strings or a comma-separated string.
fn names(obj: &Map<String, Value>, name: &str) -> ScimResult<Vec<String>> {
    let split = |s: &str| {
        s.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    match member(obj, name) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(split(s)),
        Some(Value::Array(items)) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => out.extend(split(s)),
                    Value::Null => {}
                    other => return Err(wrong_type(name, "a list of attribute names", other)),
                }
            }
            Ok(out)
        }
        Some(other) => Err(wrong_type(name, "a list of attribute names", other)),
    }
}
