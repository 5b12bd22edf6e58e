//! `/tenants/{tenant}/tokens`: a tenant's SCIM bearer tokens.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{ApiError, created};
use crate::body::{Who, idempotency, json};
use crate::ops::{TokenCreate, TokenCreated, TokenList, TokenRotate, TokenRotated, TokenView};
use crate::query::Params;
use crate::{AdminError, AdminState};

/// Creates a token; its secret is in this answer only.
#[utoipa::path(post, path = "/tenants/{tenant}/tokens", operation_id = "create_token", tag = "tokens",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("Idempotency-Key" = Option<String>, Header,
        description = "Makes the create safe to retry; a replay answers without the secret")),
    request_body = TokenCreate,
    responses(
        (status = 201, description = "Created (or replayed: header Idempotent-Replayed, no secret)", body = TokenCreated),
        (status = 400, description = "Invalid field (`field` names it)", body = ApiError),
        (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError),
        (status = 422, description = "`idempotency_key_reused`", body = ApiError),
    ))]
pub(crate) async fn create(
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
        &format!("/tenants/{tenant}/tokens"),
        &body,
    )?;
    let req: TokenCreate = json(&body, false)?;
    let made = state
        .manager
        .create_token(&caller, &tenant, req, key)
        .await?;
    Ok(created(made))
}

/// A tenant's tokens: created, last used, expiry, status (never secrets).
#[utoipa::path(get, path = "/tenants/{tenant}/tokens", operation_id = "list_tokens", tag = "tokens",
    params(("tenant" = String, Path, description = "The tenant's name")),
    responses((status = 200, body = TokenList), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn list(
    _who: Who,
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<TokenList>, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    Ok(Json(state.manager.list_tokens(&tenant).await?))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/tenants/{tenant}/tokens/{token_id}", operation_id = "revoke_token", tag = "tokens",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("token_id" = String, Path, description = "The token's id")),
    responses((status = 200, description = "The revoked token", body = TokenView),
        (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`, `token_not_found`", body = ApiError)))]
pub(crate) async fn revoke(
    Who(caller): Who,
    State(state): State<AdminState>,
    Path((tenant, token_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<TokenView>, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    Ok(Json(
        state
            .manager
            .revoke_token(&caller, &tenant, &token_id)
            .await?,
    ))
}

/// Replaces a token by a new one (same name and scope; secret shown once); the old one
/// keeps working until the time given (default 24 hours).
#[utoipa::path(post, path = "/tenants/{tenant}/tokens/{token_id}/rotate", operation_id = "rotate_token", tag = "tokens",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("token_id" = String, Path, description = "The token's id")),
    request_body(content = TokenRotate, description = "Optional (an empty body: 24 hours)"),
    responses((status = 201, body = TokenRotated), (status = 400, body = ApiError),
        (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`, `token_not_found`", body = ApiError)))]
pub(crate) async fn rotate(
    Who(caller): Who,
    State(state): State<AdminState>,
    Path((tenant, token_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    let req: TokenRotate = json(&body, true)?;
    let rotated = state
        .manager
        .rotate_token(&caller, &tenant, &token_id, req)
        .await?;
    Ok((StatusCode::CREATED, Json(rotated)).into_response())
}
