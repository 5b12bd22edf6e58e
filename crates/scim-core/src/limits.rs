//! Bounds on the work one request may cause, enforced by the core and advertised by the
//! server (`/ServiceProviderConfig` where RFC 7643 §5 has a field for it, the README's
//! "Limits" section otherwise).

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};

/// Most operations in one PATCH request (the same as a Bulk request's by default).
pub const DEFAULT_MAX_PATCH_OPERATIONS: usize = 1000;
/// Most values of one multi-valued attribute of a stored resource (`emails`, `roles`, …;
/// group `members` are kept as rows and are not counted).
pub const DEFAULT_MAX_VALUES: usize = 1000;

/// 400 `invalidValue` if any multi-valued attribute of `doc` (core or extension) has more
/// than `max` values. Looks at each attribute once: O(attributes).
pub fn check_value_counts(doc: &Map<String, Value>, max: usize) -> ScimResult<()> {
    for (name, v) in doc {
        match v {
            Value::Array(items) if items.len() > max && name != "schemas" => {
                return Err(too_many_values(name, items.len(), max));
            }
            Value::Object(ext) if name.starts_with("urn:") => {
                for (sub, v) in ext {
                    if let Value::Array(items) = v
                        && items.len() > max
                    {
                        return Err(too_many_values(&format!("{name}:{sub}"), items.len(), max));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn too_many_values(path: &str, n: usize, max: usize) -> ScimError {
    ScimError::invalid_value(format!(
        "attribute '{path}' has {n} values; at most {max} are allowed per attribute"
    ))
}

/// 413 when a PATCH request has more than `max` operations.
pub fn check_patch_operations(n: usize, max: usize) -> ScimResult<()> {
    if n <= max {
        return Ok(());
    }
    Err(ScimError::payload_too_large(format!(
        "The PATCH request has {n} operations; at most {max} are allowed in one request (send several)"
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn counts_core_and_extension_lists() {
        let ok = json!({"emails": [1, 2], "urn:x:Ext": {"roles": [1, 2]}});
        assert!(check_value_counts(ok.as_object().unwrap(), 2).is_ok());
        let core = json!({"emails": [1, 2, 3]});
        let e = check_value_counts(core.as_object().unwrap(), 2).unwrap_err();
        assert!(e.detail.contains("'emails' has 3 values"), "{e}");
        let ext = json!({"urn:x:Ext": {"roles": [1, 2, 3]}});
        let e = check_value_counts(ext.as_object().unwrap(), 2).unwrap_err();
        assert!(e.detail.contains("urn:x:Ext:roles"), "{e}");
        assert_eq!(check_patch_operations(3, 2).unwrap_err().status, 413);
    }
}
