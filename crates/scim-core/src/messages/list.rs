//! The ListResponse message (RFC 7644 §3.4.2, cursors from RFC 9865).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::{LIST_RESPONSE, member};
use crate::error::{ScimError, ScimResult};

/// A page of query results.
///
/// Serialises as `{"schemas":[ListResponse URN], "totalResults":…, "startIndex":…,
/// "itemsPerPage":…, "nextCursor":…, "previousCursor":…, "Resources":[…]}` with integer
/// counters; `startIndex` and the cursors are left out when `None` (cursor pagination has no
/// `startIndex`, index pagination no cursors).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ListResponse {
    /// Total number of matching resources.
    pub total_results: u64,
    /// 1-based index of the first resource of this page (`None` with cursors).
    pub start_index: Option<u64>,
    /// Number of resources in this page.
    pub items_per_page: u64,
    /// The rendered resources.
    pub resources: Vec<Value>,
    /// RFC 9865 cursor of the next page.
    pub next_cursor: Option<String>,
    /// RFC 9865 cursor of the previous page.
    pub previous_cursor: Option<String>,
}

impl ListResponse {
    /// An index-paginated page: `itemsPerPage` is the number of resources given.
    pub fn page(total_results: u64, start_index: u64, resources: Vec<Value>) -> ListResponse {
        ListResponse {
            total_results,
            start_index: Some(start_index),
            items_per_page: resources.len() as u64,
            resources,
            next_cursor: None,
            previous_cursor: None,
        }
    }

    /// The message as a JSON value.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("schemas".into(), Value::Array(vec![LIST_RESPONSE.into()]));
        m.insert("totalResults".into(), self.total_results.into());
        if let Some(i) = self.start_index {
            m.insert("startIndex".into(), i.into());
        }
        m.insert("itemsPerPage".into(), self.items_per_page.into());
        if let Some(c) = &self.next_cursor {
            m.insert("nextCursor".into(), c.clone().into());
        }
        if let Some(c) = &self.previous_cursor {
            m.insert("previousCursor".into(), c.clone().into());
        }
        m.insert("Resources".into(), Value::Array(self.resources.clone()));
        Value::Object(m)
    }

    /// Parses a ListResponse from another SCIM server, leniently: member names in any case,
    /// counters as numbers or numeric strings, `Resources` absent when empty, and
    /// `itemsPerPage` defaulting to the number of resources.
    pub fn from_json(body: Value) -> ScimResult<ListResponse> {
        let Value::Object(mut obj) = body else {
            return Err(ScimError::invalid_syntax(
                "a ListResponse must be a JSON object",
            ));
        };
        let resources = match take_member(&mut obj, "Resources") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                return Err(ScimError::invalid_syntax(
                    "a ListResponse's 'Resources' must be an array",
                ));
            }
        };
        let counter = |name: &str| -> ScimResult<Option<u64>> {
            match member(&obj, name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => match v {
                    Value::Number(n) => n.as_u64(),
                    Value::String(s) => s.trim().parse().ok(),
                    _ => None,
                }
                .map(Some)
                .ok_or_else(|| {
                    ScimError::invalid_syntax(format!(
                        "a ListResponse's '{name}' must be a non-negative integer, got {v}"
                    ))
                }),
            }
        };
        let cursor = |name: &str| {
            member(&obj, name)
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Ok(ListResponse {
            total_results: counter("totalResults")?.unwrap_or(resources.len() as u64),
            start_index: counter("startIndex")?,
            items_per_page: counter("itemsPerPage")?.unwrap_or(resources.len() as u64),
            next_cursor: cursor("nextCursor"),
            previous_cursor: cursor("previousCursor"),
            resources,
        })
    }
}

fn take_member(obj: &mut Map<String, Value>, key: &str) -> Option<Value> {
    let name = obj.keys().find(|k| k.eq_ignore_ascii_case(key))?.clone();
    obj.swap_remove(&name)
}

impl Serialize for ListResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("schemas", &[LIST_RESPONSE])?;
        map.serialize_entry("totalResults", &self.total_results)?;
        if let Some(i) = self.start_index {
            map.serialize_entry("startIndex", &i)?;
        }
        map.serialize_entry("itemsPerPage", &self.items_per_page)?;
        if let Some(c) = &self.next_cursor {
            map.serialize_entry("nextCursor", c)?;
        }
        if let Some(c) = &self.previous_cursor {
            map.serialize_entry("previousCursor", c)?;
        }
        map.serialize_entry("Resources", &self.resources)?;
        map.end()
    }
}
