//! `GET /audit`: the record of every management write.

use axum::Json;
use axum::extract::{RawQuery, State};

use super::ApiError;
use crate::body::Who;
use crate::ops::AuditPage;
use crate::query::Params;
use crate::{AdminError, AdminState};

/// Management writes (who, what, when, request id), oldest first, from a cursor.
#[utoipa::path(get, path = "/audit", tag = "audit", operation_id = "list_audit",
    params(("after" = Option<i64>, Query, description = "Records after this position (default 0)"),
        ("limit" = Option<u32>, Query, description = "Most records (1-1000, default 100)"),
        ("tenant" = Option<String>, Query, description = "Only the records about this tenant")),
    responses((status = 200, body = AuditPage),
        (status = 400, description = "`field` names the parameter", body = ApiError),
        (status = 401, body = ApiError)))]
pub(crate) async fn list(
    _who: Who,
    State(state): State<AdminState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditPage>, AdminError> {
    let mut p = Params::parse(raw.as_deref())?;
    let after = p.int("after", 0, i64::MAX)?.unwrap_or(0);
    let limit = p.int("limit", 1, 1000)?.unwrap_or(100);
    let tenant = p.text("tenant");
    p.finish()?;
    let limit = u32::try_from(limit).unwrap_or(100);
    Ok(Json(state.manager.audit(after, limit, tenant).await?))
}
