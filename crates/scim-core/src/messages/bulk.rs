//! Bulk requests and responses (RFC 7644 §3.7).

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::{BULK_RESPONSE, member};
use crate::error::{ScimError, ScimResult};
use crate::value::describe;

/// The HTTP method of one bulk operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BulkMethod {
    /// Create a resource.
    Post,
    /// Replace a resource.
    Put,
    /// Modify a resource.
    Patch,
    /// Delete a resource.
    Delete,
}

impl BulkMethod {
    /// Parses a method name, case-insensitively.
    pub fn parse(s: &str) -> Option<BulkMethod> {
        let s = s.trim();
        [
            BulkMethod::Post,
            BulkMethod::Put,
            BulkMethod::Patch,
            BulkMethod::Delete,
        ]
        .into_iter()
        .find(|m| m.as_str().eq_ignore_ascii_case(s))
    }

    /// The method as written on the wire (upper case).
    pub fn as_str(self) -> &'static str {
        match self {
            BulkMethod::Post => "POST",
            BulkMethod::Put => "PUT",
            BulkMethod::Patch => "PATCH",
            BulkMethod::Delete => "DELETE",
        }
    }
}

impl Serialize for BulkMethod {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// One operation of a bulk request.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkOperation {
    /// The HTTP method.
    pub method: BulkMethod,
    /// Required for POST; other operations may refer to it as `bulkId:<id>`.
    pub bulk_id: Option<String>,
    /// The entity tag for `If-Match` semantics.
    pub version: Option<String>,
    /// The resource path relative to the base URL (`/Users`, `/Groups/123`).
    pub path: String,
    /// The body: present for POST, PUT and PATCH, `None` for DELETE.
    pub data: Option<Value>,
}

/// A `POST /Bulk` body.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkRequest {
    /// Stop after this many errors; `None` means process every operation.
    pub fail_on_errors: Option<u32>,
    /// The operations, in request order.
    pub operations: Vec<BulkOperation>,
}

impl BulkRequest {
    /// Parses and checks a bulk request body. Member names match case-insensitively and
    /// `schemas` is not required. Every problem is a 400 naming the operation
    /// (`Operations[2]: …`): `invalidSyntax` for a missing or mistyped member, `invalidValue`
    /// for a wrong value (unknown method, path without a leading `/`, missing or duplicate
    /// `bulkId` on POST, missing `data` on POST/PUT/PATCH, negative `failOnErrors`).
    /// `data` of a DELETE is dropped.
    pub fn parse(body: Value) -> ScimResult<BulkRequest> {
        let Value::Object(mut obj) = body else {
            return Err(ScimError::invalid_syntax(format!(
                "a BulkRequest body must be a JSON object, got {}",
                describe(&body)
            )));
        };
        let fail_on_errors = match member(&obj, "failOnErrors") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(
                n.as_u64()
                    .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                    .ok_or_else(|| {
                        ScimError::invalid_value(format!(
                            "failOnErrors must be a non-negative integer, got {n}"
                        ))
                    })?,
            ),
            Some(other) => {
                return Err(ScimError::invalid_syntax(format!(
                    "failOnErrors must be an integer, got {}",
                    describe(other)
                )));
            }
        };
        let key = obj
            .keys()
            .find(|k| k.eq_ignore_ascii_case("Operations"))
            .cloned();
        let items = match key.and_then(|k| obj.swap_remove(&k)) {
            Some(Value::Array(items)) => items,
            None | Some(Value::Null) => {
                return Err(ScimError::invalid_syntax(
                    "a BulkRequest needs an 'Operations' array",
                ));
            }
            Some(other) => {
                return Err(ScimError::invalid_syntax(format!(
                    "'Operations' must be an array, got {}",
                    describe(&other)
                )));
            }
        };
        let mut operations: Vec<BulkOperation> = Vec::with_capacity(items.len());
        let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        for (i, item) in items.into_iter().enumerate() {
            let op = parse_operation(item).map_err(|e| e.context(format!("Operations[{i}]")))?;
            if let Some(id) = &op.bulk_id
                && let Some(j) = seen.insert(id.clone(), i)
            {
                return Err(ScimError::invalid_value(format!(
                    "Operations[{i}]: bulkId '{}' is already used by Operations[{j}]",
                    crate::Sent(id)
                )));
            }
            operations.push(op);
        }
        Ok(BulkRequest {
            fail_on_errors,
            operations,
        })
    }
}

fn parse_operation(item: Value) -> ScimResult<BulkOperation> {
    let Value::Object(mut obj) = item else {
        return Err(ScimError::invalid_syntax(format!(
            "an operation must be a JSON object, got {}",
            describe(&item)
        )));
    };
    let method_text =
        string(&obj, "method")?.ok_or_else(|| ScimError::invalid_syntax("'method' is missing"))?;
    let method = BulkMethod::parse(&method_text).ok_or_else(|| {
        ScimError::invalid_value(format!(
            "method '{}' is not one of POST, PUT, PATCH, DELETE",
            crate::Sent(&method_text)
        ))
    })?;
    let path =
        string(&obj, "path")?.ok_or_else(|| ScimError::invalid_syntax("'path' is missing"))?;
    if !path.starts_with('/') {
        return Err(ScimError::invalid_value(format!(
            "path '{}' must start with '/' (for example /Users or /Users/<id>)",
            crate::Sent(&path)
        )));
    }
    let bulk_id = string(&obj, "bulkId")?.filter(|s| !s.is_empty());
    if method == BulkMethod::Post && bulk_id.is_none() {
        return Err(ScimError::invalid_value(
            "a POST operation needs a 'bulkId'",
        ));
    }
    let version = string(&obj, "version")?;
    let data_key = obj.keys().find(|k| k.eq_ignore_ascii_case("data")).cloned();
    let data = match (method, data_key.and_then(|k| obj.swap_remove(&k))) {
        (BulkMethod::Delete, _) => None,
        (_, Some(Value::Object(d))) => Some(Value::Object(d)),
        (m, None | Some(Value::Null)) => {
            return Err(ScimError::invalid_value(format!(
                "a {} operation needs 'data'",
                m.as_str()
            )));
        }
        (_, Some(other)) => {
            return Err(ScimError::invalid_syntax(format!(
                "'data' must be a JSON object, got {}",
                describe(&other)
            )));
        }
    };
    Ok(BulkOperation {
        method,
        bulk_id,
        version,
        path,
        data,
    })
}

fn string(obj: &Map<String, Value>, name: &str) -> ScimResult<Option<String>> {
    match member(obj, name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(ScimError::invalid_syntax(format!(
            "'{name}' must be a string, got {}",
            describe(other)
        ))),
    }
}

/// The result of one bulk operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkOperationResponse {
    /// The method of the operation.
    pub method: BulkMethod,
    /// The operation's `bulkId`, echoed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The resource's new entity tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The URI of the created or modified resource.
    pub location: Option<String>,
    /// The HTTP status code as a string (`"201"`), as RFC 7644 §3.7.3 shows it.
    pub status: String,
    /// A SCIM Error body for failed operations (or a resource, where the server returns one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

/// A bulk response; serialises as `{"schemas":[BulkResponse URN], "Operations":[…]}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BulkResponse {
    /// One result per processed operation, in request order.
    pub operations: Vec<BulkOperationResponse>,
}

impl Serialize for BulkResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("schemas", &[BULK_RESPONSE])?;
        map.serialize_entry("Operations", &self.operations)?;
        map.end()
    }
}
