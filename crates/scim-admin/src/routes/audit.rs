//! `/admin/v1/tenants/{tenant}/audit/…`: point-in-time audit over the change log
//! (`scim_store::audit`). Instants are RFC 3339 (`at`, `from`, `to`; default: now, and
//! `from` defaults to the tenant's creation); every answer names the position of the
//! change log it describes.
//!
//! | route | answer |
//! |---|---|
//! | `GET …/audit/resources/{id}?at=` | the resource as it was (404 if it did not exist) |
//! | `GET …/audit/resources/{id}/history?after=&limit=` | its change records |
//! | `GET …/audit/groups/{id}/members?at=&nested=` | its members then, direct and nested |
//! | `GET …/audit/users/active?at=` | the users that could sign in then |
//! | `GET …/audit/users/active-changes?from=&to=` | changes of users' `active` |
//! | `GET …/audit/changes?from=&to=&resourceType=&operation=&token=&after=&limit=` | change records |
//! | `GET …/audit/diff?from=&to=` | how the tenant differs between two instants |

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use scim_store::audit::{self, ChangeQuery, MAX_LIMIT, OPERATIONS, Point};
use scim_store::{StoreError, Tenant};
use serde_json::{Value, json};

use super::ApiError;
use crate::auth::AdminAuth;
use crate::query::Params;
use crate::{AdminError, AdminState};

async fn tenant(state: &AdminState, name: &str) -> Result<Tenant, AdminError> {
    state
        .store
        .tenant(name)
        .await?
        .ok_or_else(|| AdminError::tenant_not_found(name))
}

/// A 400 from the store about a parameter, naming it.
fn about(field: &str) -> impl Fn(StoreError) -> AdminError + '_ {
    move |e| match e {
        StoreError::Scim(s) if s.status == 400 => AdminError::invalid(field, s.detail),
        other => other.into(),
    }
}

/// The instant a parameter names (default: now), as a position.
async fn point(
    state: &AdminState,
    tenant: &Tenant,
    params: &mut Params,
    name: &str,
    default: Option<Point>,
) -> Result<Point, AdminError> {
    match params.text(name) {
        Some(text) => state
            .store
            .audit_point(tenant, &text)
            .await
            .map_err(about(name)),
        None => match default {
            Some(p) => Ok(p),
            None => Ok(Point {
                at: audit::now_instant(),
                seq: state.store.change_head(tenant.id).await?,
            }),
        },
    }
}

fn start(tenant: &Tenant) -> Point {
    Point {
        at: tenant.created.clone(),
        seq: 0,
    }
}

fn nested_param(params: &mut Params) -> Result<bool, AdminError> {
    match params.text("nested").as_deref() {
        None | Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(AdminError::invalid(
            "nested",
            format!("'nested' is true or false, not '{other}'"),
        )),
    }
}

fn endpoint(resource_type: &str) -> String {
    format!("{resource_type}s")
}

/// A resource as it was at an instant.
#[utoipa::path(get, path = "/tenants/{tenant}/audit/resources/{id}", operation_id = "audit_resource", tag = "audit",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The resource's id"), ("at" = Option<String>, Query, description = "An RFC 3339 instant (default: now)")),
    responses((status = 200, description = "`{\"at\", \"position\", \"resource\"}`: its SCIM representation then", body = Object),
        (status = 400, description = "`field` names the parameter", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, or `not_found`: it did not exist then", body = ApiError)))]
pub(crate) async fn resource(
    _auth: AdminAuth,
    State(state): State<AdminState>,
    Path((name, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::parse(query.as_deref())?;
    let tenant = tenant(&state, &name).await?;
    let at = point(&state, &tenant, &mut params, "at", None).await?;
    params.finish()?;
    let found = state.store.audit_state(tenant.id, &id, at.seq).await?;
    let Some(r) = found else {
        return Err(AdminError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("'{id}' did not exist in tenant '{name}' at {}", at.at),
        ));
    };
    let rt = r.resource_type.clone();
    Ok(Json(json!({
        "at": at.at,
        "position": at.seq,
        "resource": r.into_json(&endpoint(&rt), None),
    })))
}

/// A resource's change records, oldest first.
#[utoipa::path(get, path = "/tenants/{tenant}/audit/resources/{id}/history", operation_id = "audit_history", tag = "audit",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The resource's id"), ("after" = Option<i64>, Query, description = "Records after this position (the previous page's `next`)"), ("limit" = Option<i64>, Query, description = "1-1000 (default 100)")),
    responses((status = 200, description = "`{\"id\", \"changes\": […], \"next\"}`", body = Object), (status = 400, description = "`field` names the parameter", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn history(
    _auth: AdminAuth,
    State(state): State<AdminState>,
    Path((name, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::parse(query.as_deref())?;
    let after = params.int("after", 0, i64::MAX)?.unwrap_or(0);
    let limit = params.int("limit", 1, i64::from(MAX_LIMIT))?.unwrap_or(100);
    params.finish()?;
    let tenant = tenant(&state, &name).await?;
    let limit = u32::try_from(limit).unwrap_or(MAX_LIMIT);
    let records = state
        .store
        .audit_history(tenant.id, &id, after, limit)
        .await?;
    let next = records.last().map(|c| c.seq);
    Ok(Json(json!({
        "id": id,
        "changes": records.iter().map(audit::record_json).collect::<Vec<_>>(),
        "next": if records.len() as u32 == limit { next } else { None },
    })))
}

/// A group's members at an instant, direct or through nested groups.
#[utoipa::path(get, path = "/tenants/{tenant}/audit/groups/{id}/members", operation_id = "audit_group_members", tag = "audit",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The group's id"), ("at" = Option<String>, Query, description = "An RFC 3339 instant (default: now)"),
        ("nested" = Option<bool>, Query, description = "Also the members of nested groups (default false)")),
    responses((status = 200, description = "`{\"at\", \"position\", \"group\", \"members\": […]}`", body = Object),
        (status = 400, description = "`field` names the parameter", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, or `not_found`: the group did not exist then", body = ApiError)))]
pub(crate) async fn members(
    _auth: AdminAuth,
    State(state): State<AdminState>,
    Path((name, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::parse(query.as_deref())?;
    let tenant = tenant(&state, &name).await?;
    let at = point(&state, &tenant, &mut params, "at", None).await?;
    let nested = nested_param(&mut params)?;
    params.finish()?;
    let Some(list) = state
        .store
        .audit_members(tenant.id, &id, at.seq, nested)
        .await?
    else {
        return Err(AdminError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("group '{id}' did not exist in tenant '{name}' at {}", at.at),
        ));
    };
    Ok(Json(json!({
        "at": at.at,
        "position": at.seq,
        "group": id,
        "members": list,
    })))
}

/// The users that could sign in (active) at an instant.
#[utoipa::path(get, path = "/tenants/{tenant}/audit/users/active", operation_id = "audit_active_users", tag = "audit",
    params(("tenant" = String, Path, description = "The tenant's name"), ("at" = Option<String>, Query, description = "An RFC 3339 instant (default: now)")),
    responses((status = 200, description = "`{\"at\", \"position\", \"users\": […]}`", body = Object), (status = 400, description = "`field` names the parameter", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn active_users(
    _auth: AdminAuth,
    State(state): State<AdminState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::parse(query.as_deref())?;
    let tenant = tenant(&state, &name).await?;
    let at = point(&state, &tenant, &mut params, "at", None).await?;
    params.finish()?;
    let users = state.store.audit_active_users(tenant.id, at.seq).await?;
    Ok(Json(
        json!({ "at": at.at, "position": at.seq, "users": users }),
    ))
}

/// The changes of users' `active` between two instants.
#[utoipa::path(get, path = "/tenants/{tenant}/audit/users/active-changes", operation_id = "audit_active_changes", tag = "audit",
    params(("tenant" = String, Path, description = "The tenant's name"), ("from" = Option<String>, Query, description = "An RFC 3339 instant (default: the tenant's creation)"), ("to" = Option<String>, Query, description = "An RFC 3339 instant (default: now)")),
    responses((status = 200, description = "`{\"from\", \"to\", \"changes\": […]}`", body = Object), (status = 400, description = "`field` names the parameter", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn active_changes(
    _auth: AdminAuth,
    State(state): State<AdminState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::parse(query.as_deref())?;
    let tenant = tenant(&state, &name).await?;
    let from = point(&state, &tenant, &mut params, "from", Some(start(&tenant))).await?;
    let to = point(&state, &tenant, &mut params, "to", None).await?;
    params.finish()?;
    let changes = state
        .store
        .audit_active_changes(tenant.id, from.seq, to.seq.max(from.seq))
        .await?;
    Ok(Json(json!({ "from": from, "to": to, "changes": changes })))
}

/// The change records between two instants, filtered.
#[utoipa::path(get, path = "/tenants/{tenant}/audit/changes", operation_id = "audit_changes", tag = "audit",
    params(("tenant" = String, Path, description = "The tenant's name"), ("from" = Option<String>, Query, description = "An RFC 3339 instant (default: the tenant's creation)"), ("to" = Option<String>, Query, description = "An RFC 3339 instant (default: now)"), ("after" = Option<i64>, Query, description = "Records after this position (the previous page's `next`)"), ("limit" = Option<i64>, Query, description = "1-1000 (default 100)"),
        ("resourceType" = Option<String>, Query, description = "`User`, `Group`, …"),
        ("operation" = Option<String>, Query, description = "One operation (create, update, delete, …)"),
        ("token" = Option<String>, Query, description = "The name of the token that made the change")),
    responses((status = 200, description = "`{\"from\", \"to\", \"changes\": […], \"next\"}`", body = Object), (status = 400, description = "`field` names the parameter", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn changes(
    _auth: AdminAuth,
    State(state): State<AdminState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::parse(query.as_deref())?;
    let tenant = tenant(&state, &name).await?;
    let from = point(&state, &tenant, &mut params, "from", Some(start(&tenant))).await?;
    let to = point(&state, &tenant, &mut params, "to", None).await?;
    let after = params.int("after", 0, i64::MAX)?;
    let limit = params.int("limit", 1, i64::from(MAX_LIMIT))?.unwrap_or(100);
    let operation = params.text("operation");
    if let Some(op) = &operation
        && !OPERATIONS.contains(&op.as_str())
    {
        return Err(AdminError::invalid(
            "operation",
            format!(
                "'operation' is one of {}, not '{op}'",
                OPERATIONS.join(", ")
            ),
        ));
    }
    let q = ChangeQuery {
        from: after.unwrap_or(from.seq).max(from.seq),
        to: to.seq,
        resource_type: params.text("resourceType"),
        operation,
        token: params.text("token"),
        limit: u32::try_from(limit).unwrap_or(MAX_LIMIT),
    };
    params.finish()?;
    let limit = q.limit;
    let records = state.store.audit_changes(tenant.id, q).await?;
    let next = (records.len() as u32 == limit)
        .then(|| records.last().map(|c| c.seq))
        .flatten();
    Ok(Json(json!({
        "from": from,
        "to": to,
        "changes": records.iter().map(audit::record_json).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// How the tenant differs between two instants.
#[utoipa::path(get, path = "/tenants/{tenant}/audit/diff", operation_id = "audit_diff", tag = "audit",
    params(("tenant" = String, Path, description = "The tenant's name"), ("from" = Option<String>, Query, description = "An RFC 3339 instant (default: the tenant's creation)"), ("to" = Option<String>, Query, description = "An RFC 3339 instant (default: now)")),
    responses((status = 200, description = "`{\"from\", \"to\", \"diff\"}`", body = Object), (status = 400, description = "`field` names the parameter", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn diff(
    _auth: AdminAuth,
    State(state): State<AdminState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::parse(query.as_deref())?;
    let tenant = tenant(&state, &name).await?;
    let from = point(&state, &tenant, &mut params, "from", Some(start(&tenant))).await?;
    let to = point(&state, &tenant, &mut params, "to", None).await?;
    params.finish()?;
    if from.seq > to.seq {
        return Err(AdminError::invalid(
            "from",
            format!("'from' ({}) is after 'to' ({})", from.at, to.at),
        ));
    }
    let d = state.store.audit_diff(tenant.id, from.seq, to.seq).await?;
    Ok(Json(json!({ "from": from, "to": to, "diff": d })))
}
