//! PATCH (RFC 7644 §3.5.2): parse a request ([`PatchRequest::parse`]), then apply it to a
//! resource's canonical stored form ([`apply_patch`]), all or nothing.
//!
//! Files: `request.rs` (the message and its operations), `path.rs` (PATCH paths and their
//! resolution), `normalize.rs` (values: emptiness, IdP shapes, equality), `apply.rs` (the
//! operations), `members.rs` (membership kept outside the document), `finish.rs` (checks
//! after all operations, `schemas`, changed paths).
//!
//! Architecture invariant: like the rest of the core, this is pure. [`apply_patch`] works on
//! a copy; when it fails the caller's resource is untouched, and it never panics on any
//! input.
//!
//! # Decisions where the RFC leaves room (or real clients differ)
//!
//! - `schemas` must list `urn:ietf:params:scim:api:messages:2.0:PatchOp` (400
//!   `invalidSyntax`, the detail shows the expected body). Member names (`Operations`, `op`,
//!   `path`, `value`) and op names match in any letter case (Entra ID sends `Replace`).
//! - `remove` without `path` is 400 `noTarget`; `add`/`replace` without `value` is 400
//!   `invalidSyntax`. An empty `path` counts as no path.
//! - Unknown attributes, sub-attributes and extension URNs, in paths and in the keys of a
//!   path-less value, are 400 `invalidPath`, for every operation. Unknown sub-attributes
//!   *inside* complex values are ignored (OneLogin).
//! - "No value": `null`, `""`, `{}` and `[]`. `replace` with no value removes the target
//!   (Entra clears the manager with `""`); `add` with no value does nothing. A bare string
//!   for a complex attribute with a `value` sub-attribute means `{"value": …}` (Entra's
//!   manager id).
//! - `add` on a multi-valued attribute appends the elements not already present: an
//!   element is present when an existing one has equal values (typed comparison) for every
//!   sub-attribute the new one gives; for references (`members`, `groups`: elements with
//!   `$ref`) when the `value` is equal. `add`/`replace` on a single complex attribute or on
//!   an extension merge the given sub-attributes (RFC 7644 §3.5.2.3: the others are left
//!   unchanged); `replace` on a multi-valued attribute replaces the whole list.
//! - `attr.sub` on a multi-valued attribute without a filter applies to every element
//!   (`add`/`replace` on an empty attribute create one element).
//! - Value filters: `remove` removes the matching elements (or their sub-attribute) and is a
//!   no-op when none match, because identity providers retry removals; `replace` with no
//!   match is 400 `noTarget` (§3.5.2.3); `add` with no match creates the element described
//!   by the filter's `sub eq value` comparisons (Entra adds `emails[type eq "work"].value`
//!   to users without a work email) and is `noTarget` for other filters. Keys of a
//!   path-less value may be filter paths too; there `replace` with no match also creates.
//!   `replace` replaces each matching element whole (duplicates collapse into one).
//! - Keys of a path-less value: attribute names, `attr.sub`, URN-qualified names, an
//!   extension URN with an object, the core schema URN with an object of core attributes,
//!   and value filter paths.
//! - `remove` on a multi-valued attribute *with* a value (Entra ID:
//!   `{"op":"Remove","path":"members","value":[{"value":"<id>"}]}`) removes only the listed
//!   elements, matched by `value` when given (else by all given sub-attributes); it never
//!   clears the list. On other targets a remove's value is ignored. Removing an absent
//!   attribute succeeds and changes nothing.
//! - Setting `"primary": true` on an element clears it on the others; two new primaries in
//!   one operation are 400 `invalidValue`.
//! - Mutability (400 `mutability`): any path naming a readOnly attribute or sub-attribute
//!   (`id`, `meta.created`, `groups`), or `schemas`/`meta`; in a path-less value, `schemas`
//!   and `meta` keys are ignored and a readOnly key equal to the current value is ignored
//!   (Okta echoes `id` when renaming a group). readOnly sub-attributes inside values
//!   (the enterprise `manager.displayName`) are dropped. Immutable attributes may be
//!   set when absent, never changed or removed; immutable sub-attributes of existing
//!   elements likewise. Removing a required attribute is `mutability` (§3.5.2.2).
//! - Type errors are 400 `invalidValue` naming the canonical path ([`crate::value`] rules:
//!   `"False"` is a boolean for Entra).
//! - Externally stored members ([`PatchOptions::external_members`]): each operation on the
//!   attribute becomes [`MemberChange`]s (see there); `replace attr[filter]` becomes a
//!   removal followed by an `Add`; `add attr[filter]` is 400 `invalidPath` (add to `attr`
//!   instead); sub-attribute paths are 400 `mutability` for immutable or readOnly
//!   sub-attributes (`members.value`, `members.type`), else `invalidPath`; every element
//!   must have a `value` (400 `invalidValue`).
//! - Afterwards `schemas` lists exactly the extensions that have attributes.
//! - [`PatchOutcome::changed`] comes from comparing the stored values before and after, in
//!   schema order, so it lists only what actually changed.

mod apply;
mod finish;
mod index;
mod members;
mod normalize;
mod path;
mod request;

#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

use crate::error::ScimResult;
use crate::filter::ResolvedFilter;
use crate::schema::{ResourceType, SchemaRegistry};

pub use path::{PatchPath, PatchPathKind};
pub use request::{PATCH_OP_SCHEMA, PatchOp, PatchOperation, PatchRequest};

/// How [`apply_patch`] treats the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchOptions {
    /// The multi-valued attribute the store keeps outside the resource document (`members`
    /// for groups). Operations on it are not applied to the document but returned as
    /// [`MemberChange`]s. `None`: every attribute is applied to the document.
    pub external_members: Option<String>,
    /// Most operations in one request (413 beyond).
    pub max_operations: usize,
    /// Most values of one multi-valued attribute of the document, checked as each
    /// operation is applied (400 `invalidValue` beyond). With both bounds, applying a
    /// request costs at most time proportional to its size plus operations × values.
    pub max_values: usize,
}

impl Default for PatchOptions {
    fn default() -> Self {
        PatchOptions {
            external_members: None,
            max_operations: crate::limits::DEFAULT_MAX_PATCH_OPERATIONS,
            max_values: crate::limits::DEFAULT_MAX_VALUES,
        }
    }
}

impl PatchOptions {
    /// Options for a store that keeps the attribute `name` (e.g. `members`) apart.
    pub fn with_external_members(name: impl Into<String>) -> Self {
        PatchOptions {
            external_members: Some(name.into()),
            ..PatchOptions::default()
        }
    }
}

/// A change to an externally stored multi-valued attribute, in request order.
#[derive(Debug, Clone, PartialEq)]
pub enum MemberChange {
    /// Add these elements (normalised: canonical sub-attribute names, `value` always
    /// present, readOnly sub-attributes dropped; no two with the same `value`). Elements
    /// already present should be left as they are.
    Add(Vec<Map<String, Value>>),
    /// Remove the elements with these `value`s (ids), from `members[value eq "a"]`,
    /// `members[value eq "a" or value eq "b"]`, or a remove listing `[{"value": "a"}]`.
    Remove(Vec<String>),
    /// Remove the elements matching this filter (any other value filter), resolved with
    /// [`crate::filter::resolve_element_filter`]: evaluate it per element with
    /// [`ResolvedFilter::matches_element`].
    RemoveMatching(ResolvedFilter),
    /// Remove every element.
    RemoveAll,
    /// Replace the whole list with these elements (normalised as for `Add`).
    ReplaceAll(Vec<Map<String, Value>>),
}

/// The result of a successful PATCH.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchOutcome {
    /// The patched resource (canonical stored form; `meta` is left for the caller to
    /// update).
    pub resource: Map<String, Value>,
    /// The canonical paths of the attributes whose value changed, in schema order:
    /// `active`, `name.givenName`, `emails`,
    /// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department`, and the
    /// external attribute (`members`) when [`PatchOutcome::members`] is not empty.
    pub changed: Vec<String>,
    /// The changes to the external attribute, in request order (empty without
    /// [`PatchOptions::external_members`]).
    pub members: Vec<MemberChange>,
    /// Every operation was on the external attribute: the document was not touched, so
    /// [`PatchOutcome::members`] apply to any later version of the resource as well (a store
    /// need not recompute a membership PATCH that raced with another write).
    pub members_only: bool,
}

/// Applies a parsed PATCH request to `resource` (of type `rt`), all or nothing.
///
/// `resource` is the canonical stored form; it is not modified. On error nothing is
/// applied; errors are 400s whose detail names the operation (`operation 2 (replace
/// active): …`) and the attribute. See the module documentation for the semantics.
pub fn apply_patch(
    registry: &SchemaRegistry,
    rt: &ResourceType,
    resource: &Map<String, Value>,
    request: &PatchRequest,
    options: &PatchOptions,
) -> ScimResult<PatchOutcome> {
    crate::limits::check_patch_operations(request.operations.len(), options.max_operations)?;
    let mut doc = resource.clone();
    let mut engine = apply::Engine::new(registry, rt, options);
    for (i, op) in request.operations.iter().enumerate() {
        engine
            .apply(&mut doc, op)
            .and_then(|()| crate::limits::check_value_counts(&doc, options.max_values))
            .map_err(|e| e.context(format!("operation {} ({})", i + 1, op.marked_label())))?;
    }
    let members_only = !engine.touched_document;
    let members = engine.members;
    let external = options.external_members.as_deref().map(|name| {
        path::parse_attr_path(name)
            .ok()
            .and_then(|p| registry.resolve(rt, &p))
            .map(|ra| ra.canonical_path())
            .unwrap_or_else(|| name.to_string())
    });
    finish::sync_schemas(&mut doc, registry, rt);
    finish::check_required(registry, rt, resource, &doc, external.as_deref())?;
    finish::check_immutable(registry, rt, resource, &doc)?;
    let mut changed = finish::changed_paths(registry, rt, resource, &doc);
    if let Some(name) = external
        && !members.is_empty()
        && !changed.contains(&name)
    {
        changed.push(name);
    }
    Ok(PatchOutcome {
        resource: doc,
        changed,
        members,
        members_only,
    })
}
