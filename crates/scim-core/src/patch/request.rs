//! The PATCH request message (RFC 7644 §3.5.2): `schemas`, `Operations`, and each
//! operation's `op`, `path` and `value`, checked before anything is applied.

use std::fmt;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::value::describe;

use super::path::PatchPath;

/// The URN a PATCH body must list in `schemas`.
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// A PATCH operation kind. Parsed case-insensitively (Microsoft Entra ID sends `Add`,
/// `Replace` and `Remove`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOp {
    /// `add`.
    Add,
    /// `replace`.
    Replace,
    /// `remove`.
    Remove,
}

impl PatchOp {
    /// The operation name as the RFC spells it (lower case).
    pub fn as_str(self) -> &'static str {
        match self {
            PatchOp::Add => "add",
            PatchOp::Replace => "replace",
            PatchOp::Remove => "remove",
        }
    }

    /// Parses an operation name in any letter case.
    pub fn parse(text: &str) -> Option<PatchOp> {
        let text = text.trim();
        [PatchOp::Add, PatchOp::Replace, PatchOp::Remove]
            .into_iter()
            .find(|op| op.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for PatchOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One checked operation.
///
/// Invariants established by [`PatchRequest::parse`]: `add` and `replace` always carry a
/// `value` (possibly JSON `null`, meaning "no value"); `remove` always has a `path`, and its
/// `value` is `None` when absent or `null`.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOperation {
    /// The operation.
    pub op: PatchOp,
    /// Where it applies (`None`: the resource itself).
    pub path: Option<PatchPath>,
    /// The value (see the invariants above).
    pub value: Option<Value>,
}

impl PatchOperation {
    /// A short label for error messages: `replace emails[type eq "work"].value`.
    pub fn label(&self) -> String {
        self.label_with(|p| p.to_string())
    }

    /// The label with the path marked as the client's text ([`crate::Sent`]: a filter in
    /// it holds values), for an error detail: logs show `replace …`, and the message after
    /// it names the attribute.
    pub(crate) fn marked_label(&self) -> String {
        self.label_with(|p| crate::Sent(p).to_string())
    }

    fn label_with(&self, path: impl Fn(&PatchPath) -> String) -> String {
        match &self.path {
            Some(p) => format!("{} {}", self.op, path(p)),
            None => format!("{} (no path)", self.op),
        }
    }
}

/// A parsed PATCH request body: the operations in the order they apply.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRequest {
    /// The operations, in request order.
    pub operations: Vec<PatchOperation>,
}

/// Looks a member up by name: exact spelling first, then case-insensitively (SCIM
/// attribute names are case-insensitive, RFC 7643 §2.1).
fn member<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn lists_patch_schema(v: &Value) -> bool {
    match v {
        Value::String(s) => s.trim().eq_ignore_ascii_case(PATCH_OP_SCHEMA),
        Value::Array(items) => items.iter().any(lists_patch_schema),
        _ => false,
    }
}

impl PatchRequest {
    /// Checks a PATCH body and parses its operations and paths.
    ///
    /// Errors (all 400): `invalidSyntax` when the body is not an object, `schemas` does not
    /// list [`PATCH_OP_SCHEMA`], `Operations` (any letter case) is missing, not an array or
    /// empty, an operation is not an object, its `op` is not add/replace/remove, or an
    /// add/replace has no `value`; `invalidPath` for a malformed `path`; `noTarget` for a
    /// remove without `path` (RFC 7644 §3.5.2.2). Details name the operation (1-based).
    pub fn parse(body: &Value) -> ScimResult<PatchRequest> {
        let shape = format!(
            "send {{\"schemas\": [\"{PATCH_OP_SCHEMA}\"], \"Operations\": [{{\"op\": \"replace\", \"path\": \"…\", \"value\": …}}]}}"
        );
        let Value::Object(obj) = body else {
            return Err(ScimError::invalid_syntax(format!(
                "the PATCH body must be a JSON object, got {}: {shape}",
                describe(body)
            )));
        };
        match member(obj, "schemas") {
            Some(s) if lists_patch_schema(s) => {}
            Some(_) => {
                return Err(ScimError::invalid_syntax(format!(
                    "the PATCH body's \"schemas\" must contain \"{PATCH_OP_SCHEMA}\": {shape}"
                )));
            }
            None => {
                return Err(ScimError::invalid_syntax(format!(
                    "the PATCH body has no \"schemas\"; it must be [\"{PATCH_OP_SCHEMA}\"]: {shape}"
                )));
            }
        }
        let ops = match member(obj, "Operations") {
            Some(Value::Array(ops)) if !ops.is_empty() => ops,
            Some(Value::Array(_)) => {
                return Err(ScimError::invalid_syntax(format!(
                    "the PATCH body's \"Operations\" is empty; it needs at least one operation: {shape}"
                )));
            }
            Some(other) => {
                return Err(ScimError::invalid_syntax(format!(
                    "the PATCH body's \"Operations\" must be an array, got {}: {shape}",
                    describe(other)
                )));
            }
            None => {
                return Err(ScimError::invalid_syntax(format!(
                    "the PATCH body has no \"Operations\" array: {shape}"
                )));
            }
        };
        let operations = ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                parse_operation(op).map_err(|e| e.context(format!("operation {}", i + 1)))
            })
            .collect::<ScimResult<Vec<_>>>()?;
        Ok(PatchRequest { operations })
    }
}

fn parse_operation(op: &Value) -> ScimResult<PatchOperation> {
    let Value::Object(obj) = op else {
        return Err(ScimError::invalid_syntax(format!(
            "an operation must be an object with \"op\", \"path\" and \"value\", got {}",
            describe(op)
        )));
    };
    let kind = match member(obj, "op") {
        Some(Value::String(s)) => PatchOp::parse(s).ok_or_else(|| {
            ScimError::invalid_syntax(format!(
                "\"op\" must be \"add\", \"replace\" or \"remove\", got \"{}\"",
                crate::Sent(s)
            ))
        })?,
        Some(other) => {
            return Err(ScimError::invalid_syntax(format!(
                "\"op\" must be the string \"add\", \"replace\" or \"remove\", got {}",
                describe(other)
            )));
        }
        None => {
            return Err(ScimError::invalid_syntax(
                "the operation has no \"op\"; use \"add\", \"replace\" or \"remove\"",
            ));
        }
    };
    let path = match member(obj, "path") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(PatchPath::parse(s)?),
        Some(other) => {
            return Err(ScimError::invalid_path(format!(
                "\"path\" must be a string such as \"emails[type eq \\\"work\\\"].value\", got {}",
                describe(other)
            )));
        }
    };
    let value = member(obj, "value").cloned();
    match kind {
        PatchOp::Add | PatchOp::Replace if value.is_none() => {
            Err(ScimError::invalid_syntax(format!(
                "a \"{kind}\" operation needs a \"value\" (use null or \"\" to clear an attribute)"
            )))
        }
        PatchOp::Remove if path.is_none() => Err(ScimError::no_target(
            "a \"remove\" operation needs a \"path\" naming what to remove",
        )),
        PatchOp::Remove => Ok(PatchOperation {
            op: kind,
            path,
            value: value.filter(|v| !v.is_null()),
        }),
        _ => Ok(PatchOperation {
            op: kind,
            path,
            value,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ScimType;
    use serde_json::json;

    fn body(ops: Value) -> Value {
        json!({"schemas": [PATCH_OP_SCHEMA], "Operations": ops})
    }

    #[test]
    fn parses_operations_in_order() {
        let req = PatchRequest::parse(&body(json!([
            {"op": "add", "path": "nickName", "value": "Babs"},
            {"op": "replace", "value": {"active": false}},
            {"op": "remove", "path": "title"}
        ])))
        .unwrap();
        let kinds: Vec<_> = req.operations.iter().map(|o| o.op).collect();
        assert_eq!(kinds, [PatchOp::Add, PatchOp::Replace, PatchOp::Remove]);
        assert_eq!(
            req.operations[0].path.as_ref().unwrap().as_str(),
            "nickName"
        );
        assert!(req.operations[1].path.is_none());
        assert_eq!(req.operations[2].value, None);
    }

    #[test]
    fn entra_patch_ops_capitalised_and_operations_key_in_any_case() {
        let req = PatchRequest::parse(&json!({
            "schemas": [PATCH_OP_SCHEMA],
            "operations": [
                {"op": "Add", "path": "title", "value": "x"},
                {"op": "Replace", "path": "title", "value": "y"},
                {"op": "Remove", "path": "title"},
                {"Op": "REPLACE", "Path": "title", "Value": "z"}
            ]
        }))
        .unwrap();
        let kinds: Vec<_> = req.operations.iter().map(|o| o.op).collect();
        assert_eq!(
            kinds,
            [
                PatchOp::Add,
                PatchOp::Replace,
                PatchOp::Remove,
                PatchOp::Replace
            ]
        );
        assert_eq!(req.operations[3].value, Some(json!("z")));
    }

    #[test]
    fn schemas_must_list_the_patch_op_urn() {
        let e = PatchRequest::parse(&json!({"Operations": [{"op": "remove", "path": "x"}]}))
            .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        assert!(e.detail.contains(PATCH_OP_SCHEMA), "{}", e.detail);
        let e = PatchRequest::parse(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "Operations": [{"op": "remove", "path": "x"}]
        }))
        .unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax));
        // Case-insensitive URN, a lone string tolerated.
        assert!(
            PatchRequest::parse(&json!({
                "schemas": "URN:ietf:params:scim:api:messages:2.0:patchop",
                "Operations": [{"op": "remove", "path": "title"}]
            }))
            .is_ok()
        );
    }

    #[test]
    fn operations_must_be_a_non_empty_array() {
        for bad in [
            json!({"schemas": [PATCH_OP_SCHEMA]}),
            json!({"schemas": [PATCH_OP_SCHEMA], "Operations": []}),
            json!({"schemas": [PATCH_OP_SCHEMA], "Operations": {"op": "add"}}),
            json!([1, 2]),
            json!("x"),
        ] {
            let e = PatchRequest::parse(&bad).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax), "{bad}");
        }
    }

    #[test]
    fn bad_operations_are_invalid_syntax_and_name_the_operation() {
        for (ops, needle) in [
            (json!([{"op": "move", "path": "x"}]), "\"move\""),
            (json!([{"path": "x"}]), "no \"op\""),
            (json!([{"op": 1}]), "got a number"),
            (json!(["add"]), "must be an object"),
            (json!([{"op": "add", "path": "title"}]), "needs a \"value\""),
            (json!([{"op": "replace"}]), "needs a \"value\""),
        ] {
            let e = PatchRequest::parse(&body(ops.clone())).unwrap_err();
            assert_eq!(e.scim_type, Some(ScimType::InvalidSyntax), "{ops}");
            assert!(e.detail.starts_with("operation 1: "), "{}", e.detail);
            assert!(e.detail.contains(needle), "{} / {needle}", e.detail);
        }
    }

    #[test]
    fn remove_without_path_is_no_target() {
        let e = PatchRequest::parse(&body(json!([{"op": "remove"}]))).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
        let e = PatchRequest::parse(&body(json!([{"op": "remove", "path": "  "}]))).unwrap_err();
        assert_eq!(e.scim_type, Some(ScimType::NoTarget));
    }

    #[test]
    fn malformed_paths_are_invalid_path() {
        for p in [
            json!("a..b"),
            json!(5),
            json!("emails[type eq]"),
            json!("1x"),
        ] {
            let e = PatchRequest::parse(&body(json!([{"op": "remove", "path": p}]))).unwrap_err();
            assert_eq!(
                e.scim_type,
                Some(ScimType::InvalidPath),
                "{p}: {}",
                e.detail
            );
        }
    }

    #[test]
    fn null_value_is_kept_for_add_and_replace_and_dropped_for_remove() {
        let req = PatchRequest::parse(&body(json!([
            {"op": "replace", "path": "title", "value": null},
            {"op": "remove", "path": "title", "value": null}
        ])))
        .unwrap();
        assert_eq!(req.operations[0].value, Some(Value::Null));
        assert_eq!(req.operations[1].value, None);
    }
}
