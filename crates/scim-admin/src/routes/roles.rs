//! `/tenants/{tenant}/role-rules` and `/tenants/{tenant}/users/{id}/roles`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{ApiError, created};
use crate::body::{Who, idempotency, json};
use crate::ops::{RoleRuleCreate, RoleRuleList, RoleRuleView, UserRoles};
use crate::query::Params;
use crate::{AdminError, AdminState};

/// Adds a role rule: members of a group (by displayName, externalId or id; directly or
/// through nested groups), or every active user, get a role.
#[utoipa::path(post, path = "/tenants/{tenant}/role-rules", tag = "roles", operation_id = "add_role_rule",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes the create safe to retry")),
    request_body = RoleRuleCreate,
    responses((status = 201, body = RoleRuleView),
        (status = 400, description = "`field` names the field", body = ApiError),
        (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError),
        (status = 422, description = "`idempotency_key_reused`", body = ApiError)))]
pub(crate) async fn add(
    Who(caller): Who,
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    let key = idempotency(
        &headers,
        "POST",
        &format!("/tenants/{tenant}/role-rules"),
        &body,
    )?;
    let req: RoleRuleCreate = json(&body, false)?;
    let made = state
        .manager
        .add_role_rule(&caller, &tenant, req, key)
        .await?;
    Ok(created(made))
}

/// A tenant's role rules.
#[utoipa::path(get, path = "/tenants/{tenant}/role-rules", tag = "roles", operation_id = "list_role_rules",
    params(("tenant" = String, Path, description = "The tenant's name")),
    responses((status = 200, body = RoleRuleList), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn list(
    _who: Who,
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<RoleRuleList>, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    Ok(Json(state.manager.list_role_rules(&tenant).await?))
}

/// Removes a role rule.
#[utoipa::path(delete, path = "/tenants/{tenant}/role-rules/{rule_id}", tag = "roles", operation_id = "remove_role_rule",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("rule_id" = String, Path, description = "The rule's id")),
    responses((status = 200, description = "The removed rule", body = RoleRuleView),
        (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`, `role_rule_not_found`", body = ApiError)))]
pub(crate) async fn remove(
    Who(caller): Who,
    State(state): State<AdminState>,
    Path((tenant, rule_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<RoleRuleView>, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    Ok(Json(
        state
            .manager
            .remove_role_rule(&caller, &tenant, &rule_id)
            .await?,
    ))
}

/// A user's effective roles.
#[utoipa::path(get, path = "/tenants/{tenant}/users/{id}/roles", tag = "roles", operation_id = "read_user_roles",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("id" = String, Path, description = "The user's id")),
    responses((status = 200, body = UserRoles), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`, `resource_not_found`", body = ApiError)))]
pub(crate) async fn of_user(
    _who: Who,
    State(state): State<AdminState>,
    Path((tenant, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<UserRoles>, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    Ok(Json(state.manager.user_roles(&tenant, &id).await?))
}
