//! Operations on a multi-valued attribute that the store keeps apart from the resource
//! document ([`super::PatchOptions::external_members`], typically a group's `members`):
//! they are not applied to the document but returned, in order, as [`MemberChange`]s.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::error::{ScimError, ScimResult};
use crate::filter::ResolvedFilter;
use crate::schema::{Attribute, Mutability, ResolvedAttr};

use super::MemberChange;
use super::normalize::{ReadOnlySubs, element_list, is_blank, value_key};
use super::path::listed_values;
use super::request::PatchOp;

/// Changes for a path naming the whole attribute (`members`), or a key of a path-less value.
///
/// - add `[…]` → [`MemberChange::Add`] (duplicates by `value` dropped; nothing for `[]`);
/// - replace `[…]` → [`MemberChange::ReplaceAll`], or [`MemberChange::RemoveAll`] when empty;
/// - remove → [`MemberChange::RemoveAll`]; remove with a value listing elements (Entra ID)
///   → [`MemberChange::Remove`] of their `value`s only.
pub(crate) fn attr_changes(
    kind: PatchOp,
    ra: &ResolvedAttr<'_>,
    value: Option<&Value>,
) -> ScimResult<Vec<MemberChange>> {
    let path = ResolvedAttr { sub: None, ..*ra }.canonical_path();
    if let Some(sub) = ra.sub {
        return Err(sub_error(&path, sub));
    }
    Ok(match kind {
        PatchOp::Add => {
            let elems = member_list(ra.attr, value, &path)?;
            if elems.is_empty() {
                Vec::new()
            } else {
                vec![MemberChange::Add(elems)]
            }
        }
        PatchOp::Replace => {
            let elems = member_list(ra.attr, value, &path)?;
            if elems.is_empty() {
                vec![MemberChange::RemoveAll]
            } else {
                vec![MemberChange::ReplaceAll(elems)]
            }
        }
        PatchOp::Remove => match value {
            None => vec![MemberChange::RemoveAll],
            Some(v) => {
                let ids = listed_ids(ra.attr, v, &path)?;
                if ids.is_empty() {
                    Vec::new()
                } else {
                    vec![MemberChange::Remove(ids)]
                }
            }
        },
    })
}

/// Changes for `members[filter]`: remove → [`MemberChange::Remove`] when the filter is
/// `value eq "a"` (or several joined by `or`), else [`MemberChange::RemoveMatching`];
/// replace → that removal followed by [`MemberChange::Add`] of the value's elements.
/// `add` with a filter, and any sub-attribute path, are refused.
pub(crate) fn filtered_changes(
    kind: PatchOp,
    ra: &ResolvedAttr<'_>,
    filter: ResolvedFilter,
    sub: Option<&Attribute>,
    value: Option<&Value>,
) -> ScimResult<Vec<MemberChange>> {
    let path = ra.canonical_path();
    if let Some(sub) = sub {
        return Err(sub_error(&path, sub));
    }
    let removal = |filter: ResolvedFilter| match listed_values(&filter) {
        Some(ids) => MemberChange::Remove(ids),
        None => MemberChange::RemoveMatching(filter),
    };
    match kind {
        PatchOp::Remove => Ok(vec![removal(filter)]),
        PatchOp::Replace => {
            let elems = member_list(ra.attr, value, &path)?;
            let mut out = vec![removal(filter)];
            if !elems.is_empty() {
                out.push(MemberChange::Add(elems));
            }
            Ok(out)
        }
        PatchOp::Add => Err(ScimError::invalid_path(format!(
            "\"add\" with a value filter is not supported on '{path}': add the new values with path \"{path}\""
        ))),
    }
}

fn sub_error(path: &str, sub: &Attribute) -> ScimError {
    match sub.mutability {
        Mutability::ReadOnly | Mutability::Immutable => ScimError::mutability(format!(
            "'{path}.{}' cannot be changed: remove the value from '{path}' and add a new one",
            sub.name
        )),
        _ => ScimError::invalid_path(format!(
            "the sub-attributes of '{path}' cannot be patched one by one: remove the value and add a new one"
        )),
    }
}

/// The normalised elements a value lists, each with a `value`, without duplicates.
fn member_list(
    attr: &Attribute,
    value: Option<&Value>,
    path: &str,
) -> ScimResult<Vec<Map<String, Value>>> {
    let Some(v) = value.filter(|v| !is_blank(v)) else {
        return Ok(Vec::new());
    };
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for item in element_list(attr, v, path, ReadOnlySubs::Drop)? {
        let key = value_key(attr, &item).ok_or_else(|| missing_value(path))?;
        if let Value::Object(obj) = item
            && seen.insert(key)
        {
            out.push(obj);
        }
    }
    Ok(out)
}

/// The `value`s of the elements a remove lists (Entra ID: `"value": [{"value": "<id>"}]`).
fn listed_ids(attr: &Attribute, v: &Value, path: &str) -> ScimResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for item in element_list(attr, v, path, ReadOnlySubs::Drop)? {
        let id = item
            .get("value")
            .and_then(Value::as_str)
            .ok_or_else(|| missing_value(path))?;
        if !out.iter().any(|o| o == id) {
            out.push(id.to_string());
        }
    }
    Ok(out)
}

fn missing_value(path: &str) -> ScimError {
    ScimError::invalid_value(format!(
        "each value of '{path}' must be an object with a \"value\" (the member's id), such as {{\"value\": \"2819c223\"}}"
    ))
}
