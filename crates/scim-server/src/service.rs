//! SCIM semantics on top of the store: what to write for a create, replace, patch or delete,
//! and how a stored resource is shown to a client. Handlers (HTTP) and Bulk both call this.

use std::collections::HashMap;
use std::sync::Arc;

use scim_core::ScimError;
use scim_core::limits::{check_patch_operations, check_value_counts};
use scim_core::patch::{MemberChange, PatchOptions, PatchRequest, apply_patch};
use scim_core::projection::Projection;
use scim_core::resource::{prepare_create, prepare_replace, render};
use scim_core::schema::{AttributeType, Mutability, ResourceType, SchemaRegistry};
use scim_store::{Include, MemberOp, MemberRef, StoredResource, Update, UpdateFn};
use serde_json::{Map, Value, json};

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The attribute name under which group members are kept outside the resource document.
pub const MEMBERS: &str = "members";

/// Whether a resource type's members are kept as membership rows (Group, and any custom
/// type whose core schema has a multi-valued complex `members` with a `value`).
pub fn has_external_members(reg: &SchemaRegistry, rt: &ResourceType) -> bool {
    reg.schema(&rt.schema)
        .and_then(|s| s.attribute(MEMBERS))
        .is_some_and(|a| {
            a.multi_valued && a.kind == AttributeType::Complex && a.sub_attribute("value").is_some()
        })
}

/// Whether a resource type shows the read-only `groups` of its resources (User).
fn has_groups(reg: &SchemaRegistry, rt: &ResourceType) -> bool {
    reg.schema(&rt.schema)
        .and_then(|s| s.attribute("groups"))
        .is_some_and(|a| a.mutability == Mutability::ReadOnly && a.multi_valued)
}

/// Drops writeOnly attributes before storage: `scim` never keeps passwords (identity
/// providers own authentication), and a value that is never returned need not be stored.
fn strip_write_only(reg: &SchemaRegistry, rt: &ResourceType, data: &mut Map<String, Value>) {
    for (schema, extension, _) in reg.schemas_of(rt) {
        for a in &schema.attributes {
            if a.mutability != Mutability::WriteOnly {
                continue;
            }
            if extension {
                if let Some(Value::Object(ext)) = data.get_mut(&schema.id) {
                    ext.shift_remove(&a.name);
                }
            } else {
                data.shift_remove(&a.name);
            }
        }
    }
}

fn member_ref(v: &Value) -> ApiResult<MemberRef> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    match v.get("value").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => Ok(MemberRef {
            value: id.to_string(),
            kind: text("type"),
            display: text("display"),
        }),
        _ => Err(ScimError::invalid_value(
            "each member needs a \"value\": the id of a user or group",
        )
        .into()),
    }
}

fn member_refs(items: &[Value]) -> ApiResult<Vec<MemberRef>> {
    items.iter().map(member_ref).collect()
}

/// Takes the members out of a resource document.
fn take_members(data: &mut Map<String, Value>) -> ApiResult<Vec<MemberRef>> {
    match data.shift_remove(MEMBERS) {
        Some(Value::Array(items)) => member_refs(&items),
        Some(other) => member_refs(std::slice::from_ref(&other)),
        None => Ok(Vec::new()),
    }
}

/// The stored document: the resource without `id`, `meta` and external members.
fn to_document(mut resource: Map<String, Value>, external: bool) -> Map<String, Value> {
    resource.shift_remove("id");
    resource.shift_remove("meta");
    if external {
        resource.shift_remove(MEMBERS);
    }
    resource
}

/// Top-level attributes (and extension attributes, URN-qualified) that differ.
fn changed_attributes(before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    let keys = before
        .keys()
        .chain(after.keys().filter(|k| !before.contains_key(*k)));
    for key in keys {
        let (b, a) = (before.get(key), after.get(key));
        if b == a || key == "schemas" {
            continue;
        }
        match (b, a) {
            (Some(Value::Object(bo)), Some(Value::Object(ao))) if key.starts_with("urn:") => {
                for sub in changed_attributes(bo, ao) {
                    out.push(format!("{key}:{sub}"));
                }
            }
            _ => out.push(key.clone()),
        }
    }
    out
}

fn member_ops(changes: Vec<MemberChange>) -> ApiResult<Vec<MemberOp>> {
    changes
        .into_iter()
        .map(|c| {
            Ok(match c {
                MemberChange::Add(items) => MemberOp::Add(
                    items
                        .iter()
                        .map(|m| member_ref(&Value::Object(m.clone())))
                        .collect::<ApiResult<_>>()?,
                ),
                MemberChange::Remove(ids) => MemberOp::Remove(ids),
                MemberChange::RemoveMatching(filter) => {
                    MemberOp::RemoveWhere(Arc::new(move |el| filter.matches_element(el)))
                }
                MemberChange::RemoveAll => MemberOp::RemoveAll,
                MemberChange::ReplaceAll(items) => MemberOp::ReplaceAll(
                    items
                        .iter()
                        .map(|m| member_ref(&Value::Object(m.clone())))
                        .collect::<ApiResult<_>>()?,
                ),
            })
        })
        .collect()
}

/// A resource type the service works on, with what it needs to know about it.
#[derive(Clone)]
pub struct Target {
    /// The schemas the resource type's documents follow.
    pub registry: Arc<SchemaRegistry>,
    /// The resource type (`User`, `Group`, or a custom one).
    pub rt: ResourceType,
    /// Whether its `members` may name values that are not resources of the tenant.
    pub external_members: bool,
}

impl Target {
    /// The resource type `rt` as served by `state`.
    pub fn new(state: &AppState, rt: &ResourceType) -> Target {
        Target {
            registry: state.registry.clone(),
            external_members: has_external_members(&state.registry, rt),
            rt: rt.clone(),
        }
    }
}

/// Creates a resource from a POST body (RFC 7644 §3.3): validated against the schemas
/// and stored with its change record; the answer renders the stored resource.
pub async fn create(
    state: &AppState,
    auth: &Auth,
    target: &Target,
    body: Value,
) -> ApiResult<StoredResource> {
    let mut data = prepare_create(&target.registry, &target.rt, body)?;
    strip_write_only(&target.registry, &target.rt, &mut data);
    check_value_counts(&data, state.config.max_values)?;
    let members = if target.external_members {
        take_members(&mut data)?
    } else {
        Vec::new()
    };
    Ok(state
        .store
        .create(
            auth.tenant.id,
            &target.rt.name,
            data,
            members,
            &auth.actor(),
        )
        .await?)
}

/// A change to an existing resource: a PUT body or a PATCH body.
pub enum Modification {
    /// A PUT body: the resource's new state (RFC 7644 §3.5.1).
    Replace(Value),
    /// A PATCH body: operations on the current state (RFC 7644 §3.5.2).
    Patch(Value),
}

/// The new state of a resource replaced by a PUT body (RFC 7644 §3.5.1).
fn replace_update(t: Target, body: Value, max_values: usize) -> UpdateFn {
    UpdateFn::new(move |current: &StoredResource| {
        let existing = current.to_json(&t.rt.endpoint, None);
        let mut data = prepare_replace(&t.registry, &t.rt, &existing, body.clone())?;
        strip_write_only(&t.registry, &t.rt, &mut data);
        check_value_counts(&data, max_values)?;
        let members = if t.external_members {
            vec![MemberOp::ReplaceAll(
                take_members(&mut data).map_err(|e| e.0)?,
            )]
        } else {
            Vec::new()
        };
        let data = to_document(data, t.external_members);
        Ok(Update {
            changed: changed_attributes(&current.data, &data),
            data,
            members,
            members_only: false,
        })
    })
}

/// The new state of a resource after a PATCH (RFC 7644 §3.5.2), all or nothing.
fn patch_update(t: Target, request: PatchRequest, options: PatchOptions) -> UpdateFn {
    UpdateFn::new(move |current: &StoredResource| {
        let view = current.to_json(&t.rt.endpoint, None);
        let outcome = apply_patch(&t.registry, &t.rt, &view, &request, &options)?;
        let mut data = to_document(outcome.resource, t.external_members);
        strip_write_only(&t.registry, &t.rt, &mut data);
        Ok(Update {
            changed: outcome.changed,
            data,
            members: member_ops(outcome.members).map_err(|e| e.0)?,
            members_only: outcome.members_only,
        })
    })
}

/// Applies a PUT or PATCH to a resource, atomically, honouring `If-Match`.
pub async fn modify(
    state: &AppState,
    auth: &Auth,
    target: &Target,
    id: &str,
    if_match: Option<String>,
    modification: Modification,
    with_members: bool,
) -> ApiResult<StoredResource> {
    let limits = &state.config;
    // A request with many values is computed off the async workers (`UpdateFn`).
    let large = match &modification {
        Modification::Replace(body) | Modification::Patch(body) => scim_store::is_large([body]),
    };
    let (operation, update) = match modification {
        Modification::Replace(body) => (
            "replace",
            replace_update(target.clone(), body, limits.max_values),
        ),
        Modification::Patch(body) => {
            // Parse and size-check before touching the store: a malformed or oversized
            // request costs no read and no transaction.
            let request = PatchRequest::parse(&body)?;
            let options = PatchOptions {
                external_members: target.external_members.then(|| MEMBERS.to_string()),
                max_operations: limits.max_patch_operations,
                max_values: limits.max_values,
            };
            check_patch_operations(request.operations.len(), options.max_operations)?;
            ("patch", patch_update(target.clone(), request, options))
        }
    };
    let update = update.large(large);
    Ok(state
        .store
        .update(
            auth.tenant.id,
            &target.rt.name,
            id,
            if_match,
            operation,
            update,
            with_members,
            &auth.actor(),
        )
        .await?)
}

/// The response body for a stored resource under a projection, with `groups` for users.
pub async fn render_resource(
    state: &AppState,
    auth: &Auth,
    target: &Target,
    stored: StoredResource,
    projection: &Projection,
) -> ApiResult<Value> {
    let mut rendered = render_resources(state, auth, target, vec![stored], projection).await?;
    Ok(rendered.pop().unwrap_or(Value::Null))
}

/// The response bodies of resources under a projection. A user's `groups` come with the
/// resource when it was read with them (see [`include()`]) and are looked up otherwise.
pub async fn render_resources(
    state: &AppState,
    auth: &Auth,
    target: &Target,
    page: Vec<StoredResource>,
    projection: &Projection,
) -> ApiResult<Vec<Value>> {
    let base = state.config.base_url(&auth.tenant.name);
    let wants_groups = has_groups(&target.registry, &target.rt) && projection.includes("groups");
    let missing: Vec<String> = page
        .iter()
        .filter(|r| wants_groups && r.groups.is_none())
        .map(|r| r.id.clone())
        .collect();
    let mut looked_up = if missing.is_empty() {
        HashMap::new()
    } else {
        state.store.groups_of(auth.tenant.id, missing).await?
    };
    let mut out = Vec::with_capacity(page.len());
    for mut stored in page {
        let memberships = match stored.groups.take() {
            Some(known) if wants_groups => Some(known),
            _ => looked_up.remove(&stored.id),
        };
        let mut json = stored.into_json(&target.rt.endpoint, Some(&base));
        if let Some(memberships) = memberships.filter(|m| !m.is_empty()) {
            let list: Vec<Value> = memberships
                .into_iter()
                .map(|g| {
                    let mut el = json!({
                        "value": g.group_id,
                        "$ref": format!("{base}/Groups/{}", g.group_id),
                        "type": if g.direct { "direct" } else { "indirect" },
                    });
                    if let (Some(d), Some(obj)) = (g.display, el.as_object_mut()) {
                        obj.insert("display".into(), Value::String(d));
                    }
                    el
                })
                .collect();
            json.insert("groups".into(), Value::Array(list));
        }
        out.push(Value::Object(render(
            &target.registry,
            &target.rt,
            json,
            projection,
        )));
    }
    Ok(out)
}

/// What a read under this projection needs loaded besides the resources: the members of
/// groups (proportional to the group: only when returned) and the groups of users.
pub fn include(target: &Target, projection: &Projection) -> Include {
    Include {
        members: target.external_members && projection.includes(MEMBERS),
        groups: has_groups(&target.registry, &target.rt) && projection.includes("groups"),
    }
}

impl From<ApiError> for ScimError {
    fn from(e: ApiError) -> Self {
        e.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_attributes_names_top_level_and_extension_attributes() {
        let before = json!({"userName": "a", "active": true,
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "x"}});
        let after = json!({"userName": "a", "active": false, "title": "t",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "y"}});
        let changed = changed_attributes(before.as_object().unwrap(), after.as_object().unwrap());
        assert_eq!(
            changed,
            vec![
                "active",
                "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
                "title"
            ]
        );
    }
}
