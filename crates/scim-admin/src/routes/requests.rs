//! `/admin/v1/tenants/{tenant}/requests`: the tenant's request log
//! (`scim_store::requests`), what a support engineer opens first when an identity provider
//! reports errors; and `/admin/v1/tenants/{tenant}/retention`: what the tenant keeps.
//!
//! | route | answer |
//! |---|---|
//! | `GET …/requests?failed=&status=&since=&after=&limit=` | entries, oldest first: the newest `limit` (default 100), or those after the id `after` (for following the log) |
//! | `GET …/retention` | the tenant's retention policy |

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use scim_store::requests::{MAX_REQUESTS, RequestQuery};
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

/// The tenant's request log: what its identity provider sent and what it was answered.
#[utoipa::path(get, path = "/tenants/{tenant}/requests", operation_id = "list_requests", tag = "requests",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("failed" = Option<bool>, Query, description = "Only answers of 400 or more (default false)"),
        ("status" = Option<u16>, Query, description = "Only answers with this status"),
        ("since" = Option<String>, Query, description = "Only requests at or after this RFC 3339 instant"),
        ("after" = Option<i64>, Query, description = "Entries after this id, oldest first (the previous answer's `last`); without it, the newest `limit`"),
        ("limit" = Option<u32>, Query, description = "Most entries (default 100)")),
    responses((status = 200, description = "`{\"tenant\", \"requests\": […], \"last\"}`", body = Object),
        (status = 400, description = "`field` names the parameter", body = ApiError), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn requests(
    _auth: AdminAuth,
    State(state): State<AdminState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    let mut params = Params::parse(query.as_deref())?;
    let tenant = tenant(&state, &name).await?;
    let failed = match params.text("failed").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(AdminError::invalid(
                "failed",
                format!("'failed' is true or false, not '{other}'"),
            ));
        }
    };
    let status = params
        .int("status", 100, 599)?
        .and_then(|s| u16::try_from(s).ok());
    let since = match params.text("since") {
        Some(text) => Some(
            scim_store::audit::parse_instant(&text).map_err(|e| match e {
                StoreError::Scim(s) => AdminError::invalid("since", s.detail),
                other => other.into(),
            })?,
        ),
        None => None,
    };
    let after = params.int("after", 0, i64::MAX)?;
    let limit = params
        .int("limit", 1, i64::from(MAX_REQUESTS))?
        .map_or(100, |l| u32::try_from(l).unwrap_or(MAX_REQUESTS));
    params.finish()?;
    let q = RequestQuery {
        failed,
        status,
        since,
        after,
        limit,
    };
    let entries = state.store.requests(tenant.id, &q).await?;
    let last = entries.last().map(|e| e.id).or(after);
    Ok(Json(json!({
        "tenant": tenant.name,
        "requests": entries,
        // Pass as `after` to read what was logged since.
        "last": last,
    })))
}

/// The tenant's retention policy.
#[utoipa::path(get, path = "/tenants/{tenant}/retention", operation_id = "read_retention", tag = "requests",
    params(("tenant" = String, Path, description = "The tenant's name")),
    responses((status = 200, description = "`{\"tenant\", \"softDeleteDays\", \"policy\"}`", body = Object),
        (status = 400, description = "An unknown parameter", body = ApiError), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn retention(
    _auth: AdminAuth,
    State(state): State<AdminState>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, AdminError> {
    Params::parse(query.as_deref())?.finish()?;
    let tenant = tenant(&state, &name).await?;
    let policy = state.store.retention_policy(tenant.id).await?;
    Ok(Json(json!({
        "tenant": tenant.name,
        "softDeleteDays": tenant.retention_days,
        "policy": policy,
    })))
}
