//! Sorting: `sortBy` and `sortOrder` (RFC 7644 §3.4.2.3).
//!
//! Rules, including the choices made where the RFC is silent:
//! - `sortBy` is an attribute path, matched case-insensitively, URN-qualified or not. A path
//!   that does not parse or names no attribute of the resource type is a 400 `invalidValue`
//!   (sorting by something unknown cannot be honoured, and ignoring it would return an order
//!   the client did not ask for).
//! - A complex attribute must be sorted by a sub-attribute (`name.familyName`); when it has a
//!   `value` sub-attribute, the bare name means that (`emails` is `emails.value`,
//!   `manager` is `manager.value`). Otherwise 400 `invalidValue`.
//! - Attributes that are never returned (`password`) cannot be sorted by: 400 `invalidValue`
//!   (the order would leak their values).
//! - For a multi-valued attribute the key is the primary element's value, else the first
//!   element's.
//! - `sortOrder` is `ascending` (the default) or `descending`, case-insensitively; anything
//!   else is a 400 `invalidValue`.
//! - Values compare by type ([`crate::value::compare`]); strings case-insensitively unless
//!   caseExact. Resources without a value sort last when ascending and first when descending
//!   (RFC 7644 §3.4.2.3). Ties are left to the caller, who adds a stable tiebreak.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::path::AttrPath;
use crate::schema::{Attribute, AttributeType, Mutability, ResourceType, Returned, SchemaRegistry};

/// `ascending` or `descending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    #[default]
    /// Smallest first; resources without a value last.
    Ascending,
    /// Largest first; resources without a value first.
    Descending,
}

impl SortOrder {
    /// Parses `sortOrder` (case-insensitive). `None` is ascending.
    pub fn parse(text: Option<&str>) -> ScimResult<SortOrder> {
        match text.map(str::trim) {
            None => Ok(SortOrder::Ascending),
            Some(s) if s.eq_ignore_ascii_case("ascending") => Ok(SortOrder::Ascending),
            Some(s) if s.eq_ignore_ascii_case("descending") => Ok(SortOrder::Descending),
            Some(s) => Err(ScimError::invalid_value(format!(
                "sortOrder must be \"ascending\" or \"descending\", got \"{}\"",
                crate::Sent(s)
            ))),
        }
    }

    /// The keyword as written in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrder::Ascending => "ascending",
            SortOrder::Descending => "descending",
        }
    }
}

/// The attribute a resource list is sorted by, resolved against the schema so that a store
/// can sort in SQL.
#[derive(Debug, Clone, PartialEq)]
pub struct SortAttribute {
    /// The extension URN when the attribute belongs to an extension (stored under that key).
    pub extension: Option<String>,
    /// The canonical top-level attribute name (`emails`, `name`, `userName`, `meta`).
    pub attr: String,
    /// The canonical sub-attribute name (`value`, `givenName`, `lastModified`), if any.
    pub sub_attr: Option<String>,
    /// Whether the top-level attribute is multi-valued (sort by the primary or first value).
    pub multi_valued: bool,
    /// The type of the compared value.
    pub kind: AttributeType,
    /// Whether strings compare case-sensitively (caseExact, or a reference or binary).
    pub case_exact: bool,
}

impl SortAttribute {
    /// The canonical path, URN-qualified for extension attributes
    /// (`name.givenName`, `urn:…:enterprise:2.0:User:manager.value`).
    pub fn canonical_path(&self) -> String {
        let mut s = String::new();
        if let Some(urn) = &self.extension {
            s.push_str(urn);
            s.push(':');
        }
        s.push_str(&self.attr);
        if let Some(sub) = &self.sub_attr {
            s.push('.');
            s.push_str(sub);
        }
        s
    }
}

/// A parsed `sortBy` / `sortOrder` pair.
#[derive(Debug, Clone, PartialEq)]
pub struct SortSpec {
    /// The resolved attribute.
    pub attribute: SortAttribute,
    /// The requested order.
    pub order: SortOrder,
    /// The definition of the compared value, for typed comparison.
    target: Attribute,
}

impl SortSpec {
    /// Parses `sortBy` (an attribute path) and `sortOrder` against a resource type.
    pub fn parse(
        reg: &SchemaRegistry,
        rt: &ResourceType,
        sort_by: &str,
        sort_order: Option<&str>,
    ) -> ScimResult<SortSpec> {
        let order = SortOrder::parse(sort_order)?;
        let text = sort_by.trim();
        let path = AttrPath::parse(text).map_err(|e| {
            ScimError::invalid_value(format!("sortBy \"{}\": {}", crate::Sent(text), e.marked()))
        })?;
        let r = reg.resolve(rt, &path).ok_or_else(|| {
            ScimError::invalid_value(format!(
                "sortBy \"{}\": resource type {} has no such attribute",
                crate::Sent(text),
                rt.name
            ))
        })?;
        let sub = match r.sub {
            Some(sub) => Some(sub),
            None if r.attr.is_complex() => Some(r.attr.sub_attribute("value").ok_or_else(|| {
                ScimError::invalid_value(format!(
                    "sortBy \"{text}\": '{}' is complex; sort by one of its sub-attributes, such as {}.{}",
                    r.attr.name,
                    r.attr.name,
                    r.attr.sub_attributes.first().map_or("value", |s| s.name.as_str())
                ))
            })?),
            None => None,
        };
        let hidden =
            |a: &Attribute| a.returned == Returned::Never || a.mutability == Mutability::WriteOnly;
        if hidden(r.attr) || sub.is_some_and(hidden) {
            return Err(ScimError::invalid_value(format!(
                "sortBy \"{text}\": '{}' is never returned and cannot be sorted by",
                r.attr.name
            )));
        }
        let target = sub.unwrap_or(r.attr).clone();
        Ok(SortSpec {
            attribute: SortAttribute {
                extension: r.extension.then(|| r.schema.to_string()),
                attr: r.attr.name.clone(),
                sub_attr: sub.map(|s| s.name.clone()),
                multi_valued: r.attr.multi_valued,
                kind: target.kind,
                case_exact: target.compares_exactly(),
            },
            order,
            target,
        })
    }

    /// The value a resource (stored form) is sorted by: for a multi-valued attribute, the
    /// primary element's, else the first element's. `None` when there is no value.
    pub fn key(&self, resource: &Map<String, Value>) -> Option<Value> {
        self.key_ref(resource).cloned()
    }

    fn key_ref<'r>(&self, resource: &'r Map<String, Value>) -> Option<&'r Value> {
        let a = &self.attribute;
        let container = match &a.extension {
            Some(urn) => resource.get(urn)?.as_object()?,
            None => resource,
        };
        let mut value = container.get(&a.attr)?;
        if let Value::Array(items) = value {
            value = items
                .iter()
                .find(|v| v.get("primary") == Some(&Value::Bool(true)))
                .or_else(|| items.first())?;
        }
        match &a.sub_attr {
            Some(sub) => value.get(sub),
            None => Some(value),
        }
        .filter(|v| !v.is_null())
    }

    /// Compares two resources by the sort key in the requested order. Resources without a
    /// value come last when ascending, first when descending. A total order: values that do
    /// not fit the attribute's type sort after those that do, by their JSON text.
    pub fn compare(&self, a: &Map<String, Value>, b: &Map<String, Value>) -> Ordering {
        let ascending = match (self.key_ref(a), self.key_ref(b)) {
            (Some(x), Some(y)) => self.compare_values(x, y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        match self.order {
            SortOrder::Ascending => ascending,
            SortOrder::Descending => ascending.reverse(),
        }
    }

    fn compare_values(&self, x: &Value, y: &Value) -> Ordering {
        let valid = |v: &Value| crate::value::compare(&self.target, v, v).is_some();
        match (valid(x), valid(y)) {
            (true, true) => crate::value::compare(&self.target, x, y).unwrap_or(Ordering::Equal),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => x.to_string().cmp(&y.to_string()),
        }
    }
}

#[cfg(test)]
mod tests;
