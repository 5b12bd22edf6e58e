//! `/tenants/{tenant}/users` and `/groups`: a tenant's directory, read by an application in
//! the event feed's JSON.

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use serde_json::Value;

use super::ApiError;
use crate::body::Who;
use crate::ops::{ResourcePage, ResourceQuery};
use crate::query::Params;
use crate::{AdminError, AdminState};

fn query(raw: Option<&str>) -> Result<ResourceQuery, AdminError> {
    let mut p = Params::parse(raw)?;
    let q = ResourceQuery {
        filter: p.text("filter"),
        cursor: p.text("cursor"),
        count: p
            .int("count", 1, 1000)?
            .map(|n| u64::try_from(n).unwrap_or(1)),
    };
    p.finish()?;
    Ok(q)
}

/// A page of the tenant's users, optionally filtered (SCIM filter syntax).
#[utoipa::path(get, path = "/tenants/{tenant}/users", tag = "directory", operation_id = "list_users",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("filter" = Option<String>, Query, description = "A SCIM filter, e.g. `userName sw \"a\"`"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
        ("count" = Option<u32>, Query, description = "Resources per page (1-1000, default 100)")),
    responses((status = 200, body = ResourcePage),
        (status = 400, description = "`field` names the parameter", body = ApiError),
        (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn list_users(
    _who: Who,
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ResourcePage>, AdminError> {
    let q = query(raw.as_deref())?;
    Ok(Json(
        state.manager.list_resources(&tenant, "User", q).await?,
    ))
}

/// One user.
#[utoipa::path(get, path = "/tenants/{tenant}/users/{id}", tag = "directory", operation_id = "read_user",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("id" = String, Path, description = "The user's id")),
    responses((status = 200, description = "The user, as in the event feed, with `effectiveRoles` (its roles from the role rules)", body = Object),
        (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`, `resource_not_found`", body = ApiError)))]
pub(crate) async fn read_user(
    _who: Who,
    State(state): State<AdminState>,
    Path((tenant, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AdminError> {
    Params::parse(raw.as_deref())?.finish()?;
    Ok(Json(state.manager.resource(&tenant, "User", &id).await?))
}

/// A page of the tenant's groups (without members), optionally filtered.
#[utoipa::path(get, path = "/tenants/{tenant}/groups", tag = "directory", operation_id = "list_groups",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("filter" = Option<String>, Query, description = "A SCIM filter, e.g. `displayName eq \"Eng\"`"),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page"),
        ("count" = Option<u32>, Query, description = "Resources per page (1-1000, default 100)")),
    responses((status = 200, body = ResourcePage),
        (status = 400, description = "`field` names the parameter", body = ApiError),
        (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn list_groups(
    _who: Who,
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ResourcePage>, AdminError> {
    let q = query(raw.as_deref())?;
    Ok(Json(
        state.manager.list_resources(&tenant, "Group", q).await?,
    ))
}

/// One group (without members).
#[utoipa::path(get, path = "/tenants/{tenant}/groups/{id}", tag = "directory", operation_id = "read_group",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("id" = String, Path, description = "The group's id")),
    responses((status = 200, description = "The group, as in the event feed", body = Object),
        (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`, `resource_not_found`", body = ApiError)))]
pub(crate) async fn read_group(
    _who: Who,
    State(state): State<AdminState>,
    Path((tenant, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, AdminError> {
    Params::parse(raw.as_deref())?.finish()?;
    Ok(Json(state.manager.resource(&tenant, "Group", &id).await?))
}
