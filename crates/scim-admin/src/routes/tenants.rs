//! `/tenants` and `/tenants/{tenant}`: create, list, read, update settings, delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{ApiError, created};
use crate::body::{Who, idempotency, json};
use crate::ops::{TenantCreate, TenantDeleted, TenantList, TenantPatch, TenantView};
use crate::query::Params;
use crate::{AdminError, AdminState};

/// Creates a tenant with its settings.
#[utoipa::path(post, path = "/tenants", operation_id = "create_tenant", tag = "tenants",
    request_body = TenantCreate,
    params(("Idempotency-Key" = Option<String>, Header,
        description = "Makes the create safe to retry: the same key and body answer the first answer again (24 hours)")),
    responses(
        (status = 201, description = "Created (or replayed: header Idempotent-Replayed)", body = TenantView),
        (status = 400, description = "Invalid field (`field` names it)", body = ApiError),
        (status = 401, body = ApiError),
        (status = 409, description = "`tenant_exists`", body = ApiError),
        (status = 422, description = "`idempotency_key_reused`", body = ApiError),
    ))]
pub(crate) async fn create(
    Who(caller): Who,
    State(state): State<AdminState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    let key = idempotency(&headers, "POST", "/tenants", &body)?;
    let req: TenantCreate = json(&body, false)?;
    let made = state.manager.create_tenant(&caller, req, key).await?;
    Ok(created(made))
}

/// Every tenant with its settings and counts of users and groups.
#[utoipa::path(get, path = "/tenants", operation_id = "list_tenants", tag = "tenants",
    responses((status = 200, body = TenantList), (status = 401, body = ApiError)))]
pub(crate) async fn list(
    _who: Who,
    State(state): State<AdminState>,
    RawQuery(query): RawQuery,
) -> Result<Json<TenantList>, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    Ok(Json(state.manager.list_tenants().await?))
}

/// A tenant with its settings and counts.
#[utoipa::path(get, path = "/tenants/{tenant}", operation_id = "read_tenant", tag = "tenants",
    params(("tenant" = String, Path, description = "The tenant's name")),
    responses((status = 200, body = TenantView), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn read(
    _who: Who,
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<TenantView>, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    Ok(Json(state.manager.tenant(&tenant).await?))
}

/// Changes a tenant's settings: only the fields given; `null` restores a default.
#[utoipa::path(patch, path = "/tenants/{tenant}", operation_id = "update_tenant", tag = "tenants",
    params(("tenant" = String, Path, description = "The tenant's name")),
    request_body = TenantPatch,
    responses((status = 200, body = TenantView), (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn update(
    Who(caller): Who,
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<TenantView>, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    let patch: TenantPatch = json(&body, false)?;
    Ok(Json(
        state.manager.update_tenant(&caller, &tenant, patch).await?,
    ))
}

/// Deletes a tenant and every trace of its data; answers what was removed.
#[utoipa::path(delete, path = "/tenants/{tenant}", operation_id = "delete_tenant", tag = "tenants",
    params(("tenant" = String, Path, description = "The tenant's name")),
    responses((status = 200, body = TenantDeleted), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn delete(
    Who(caller): Who,
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<TenantDeleted>, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    Ok(Json(state.manager.delete_tenant(&caller, &tenant).await?))
}
