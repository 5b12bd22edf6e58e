//! PATCH operations (RFC 7644 §3.5.2) and the request body that carries them.

use serde::Serialize;
use serde_json::{Value, json};

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatchOp {
    /// `add`, `replace` or `remove`.
    pub op: &'static str,
    /// The attribute path (`members`, `emails[type eq "work"].value`); none: the whole resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value (none for `remove`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

impl PatchOp {
    /// An `add` of `value` at `path`.
    pub fn add(path: impl Into<String>, value: Value) -> PatchOp {
        PatchOp {
            op: "add",
            path: Some(path.into()),
            value: Some(value),
        }
    }

    /// A `replace` of `path` by `value`.
    pub fn replace(path: impl Into<String>, value: Value) -> PatchOp {
        PatchOp {
            op: "replace",
            path: Some(path.into()),
            value: Some(value),
        }
    }

    /// A `remove` of `path`.
    pub fn remove(path: impl Into<String>) -> PatchOp {
        PatchOp {
            op: "remove",
            path: Some(path.into()),
            value: None,
        }
    }

    /// Adds members (`{"value": id}` each).
    pub fn add_members<'a>(ids: impl IntoIterator<Item = &'a str>) -> PatchOp {
        let v: Vec<Value> = ids.into_iter().map(|id| json!({ "value": id })).collect();
        PatchOp::add("members", Value::Array(v))
    }

    /// Removes one member by id (`members[value eq "id"]`).
    pub fn remove_member(id: &str) -> PatchOp {
        PatchOp::remove(format!("members[value eq {}]", crate::quote(id)))
    }

    /// The operation as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The PatchOp request body.
pub fn body(ops: &[PatchOp]) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": ops.iter().map(PatchOp::to_json).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        let b = body(&[
            PatchOp::add_members(["a", "b"]),
            PatchOp::remove_member("c\""),
        ]);
        assert_eq!(
            b["Operations"],
            json!([
                {"op": "add", "path": "members", "value": [{"value": "a"}, {"value": "b"}]},
                {"op": "remove", "path": "members[value eq \"c\\\"\"]"}
            ])
        );
    }
}
