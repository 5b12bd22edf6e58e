//! Push destinations of a tenant: webhook endpoints (`/tenants/{tenant}/webhooks`) and
//! NATS JetStream publishers (`/tenants/{tenant}/nats`). Creating a webhook (and rotating
//! its secret) answers the signing secret, once. Every write is recorded in the management
//! audit log as the caller's (`scim_delivery::push::Destinations` does it).

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use scim_delivery::push::{DestinationSpec, DestinationView, Start};
use scim_store::Tenant;
use scim_store::delivery::{Destination, DestinationKind};
use scim_store::manage::AuditActor;
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use crate::auth::AdminAuth;
use crate::body::Who;
use crate::query::Params;
use crate::{AdminError, AdminState};

/// The body of a create or update.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DestinationBody {
    /// The receiver (`https://…`) or NATS server (`nats://host:4222`). Required to create.
    url: Option<String>,
    /// Event types and patterns, comma-separated (`user.*,group.members_*`); all if absent.
    event_types: Option<String>,
    description: Option<String>,
    /// Events per POST (webhooks; 1 by default: one event per request).
    batch_max: Option<i64>,
    /// Where delivery starts (create only): `now` (default), `beginning`, or a position.
    #[schema(value_type = Option<Object>)]
    start: Option<serde_json::Value>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ReplayBody {
    /// Events after this position are sent again.
    from: i64,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct RotateBody {
    /// How long the old secret keeps signing beside the new one (default 86400, a day).
    overlap_seconds: Option<u64>,
}

fn body<T: serde::de::DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, AdminError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    // Strict, with errors that name the field (unknown fields, wrong types).
    crate::body::json(bytes, false)
}

fn label(kind: DestinationKind) -> &'static str {
    match kind {
        DestinationKind::Webhook => "webhook",
        DestinationKind::Nats => "NATS publisher",
    }
}

fn not_found(kind: DestinationKind, id: &str) -> AdminError {
    AdminError::new(
        StatusCode::NOT_FOUND,
        "destination_not_found",
        format!("this tenant has no {} with id '{id}'", label(kind)),
    )
}

async fn tenant(state: &AdminState, name: &str) -> Result<Tenant, AdminError> {
    state
        .store
        .tenant(name)
        .await?
        .ok_or_else(|| AdminError::tenant_not_found(name))
}

async fn destination(
    state: &AdminState,
    kind: DestinationKind,
    name: &str,
    id: &str,
) -> Result<(Tenant, Destination), AdminError> {
    let t = tenant(state, name).await?;
    let d = state
        .destinations
        .get(&t, kind, id)
        .await?
        .ok_or_else(|| not_found(kind, id))?;
    Ok((t, d))
}

fn start_of(v: Option<serde_json::Value>) -> Result<Start, AdminError> {
    match v {
        None => Ok(Start::Now),
        Some(serde_json::Value::String(s)) if s == "now" => Ok(Start::Now),
        Some(serde_json::Value::String(s)) if s == "beginning" => Ok(Start::Beginning),
        Some(serde_json::Value::Number(n)) if n.as_i64().is_some_and(|p| p >= 0) => {
            Ok(Start::After(n.as_i64().unwrap_or(0)))
        }
        Some(other) => Err(AdminError::invalid(
            "start",
            format!("'start' is \"now\", \"beginning\" or a position (0 or more), not {other}"),
        )),
    }
}

fn spec(b: DestinationBody, creating: bool) -> Result<DestinationSpec, AdminError> {
    if !creating && b.start.is_some() {
        return Err(AdminError::invalid(
            "start",
            "'start' is for creation; use replay to move a destination's position",
        ));
    }
    let url = match (b.url, creating) {
        (Some(u), _) => u,
        (None, true) => return Err(AdminError::invalid("url", "'url' is required")),
        (None, false) => String::new(),
    };
    Ok(DestinationSpec {
        url,
        event_types: b.event_types,
        description: b.description,
        batch_max: b.batch_max,
        start: start_of(b.start)?,
    })
}

fn field_of(e: &scim_delivery::DeliveryError) -> &'static str {
    let text = e.to_string();
    if text.contains("URL") || text.contains("address") || text.contains("host") {
        "url"
    } else if text.contains("event type") || text.contains("pattern") {
        "eventTypes"
    } else if text.contains("batchMax") {
        "batchMax"
    } else {
        "body"
    }
}

/// A delivery error, with the field it is about for invalid input.
fn refused(e: scim_delivery::DeliveryError) -> AdminError {
    match e {
        scim_delivery::DeliveryError::Invalid(_) => {
            let field = field_of(&e);
            AdminError::invalid(field, e.to_string())
        }
        other => other.into(),
    }
}

async fn create(
    state: AdminState,
    who: &AuditActor,
    kind: DestinationKind,
    name: String,
    bytes: Bytes,
) -> Result<Response, AdminError> {
    let t = tenant(&state, &name).await?;
    let spec = spec(body(&bytes)?, true)?;
    let out = match kind {
        DestinationKind::Webhook => {
            let (view, secret) = state
                .destinations
                .create_webhook(&t, spec, who)
                .await
                .map_err(refused)?;
            json!({ "webhook": view, "secret": secret })
        }
        DestinationKind::Nats => {
            if spec.batch_max.is_some_and(|b| b != 1) {
                return Err(AdminError::invalid(
                    "batchMax",
                    "NATS publishers send one message per event",
                ));
            }
            let view = state
                .destinations
                .create_nats(&t, spec, who)
                .await
                .map_err(refused)?;
            json!({ "nats": view })
        }
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

async fn list(
    state: AdminState,
    kind: DestinationKind,
    name: String,
) -> Result<Json<serde_json::Value>, AdminError> {
    let t = tenant(&state, &name).await?;
    let all = state.destinations.list(&t, kind).await?;
    let key = match kind {
        DestinationKind::Webhook => "webhooks",
        DestinationKind::Nats => "nats",
    };
    Ok(Json(json!({ key: all })))
}

async fn update(
    state: AdminState,
    who: &AuditActor,
    kind: DestinationKind,
    name: String,
    id: String,
    bytes: Bytes,
) -> Result<Json<DestinationView>, AdminError> {
    let (t, d) = destination(&state, kind, &name, &id).await?;
    let spec = spec(body(&bytes)?, false)?;
    Ok(Json(
        state
            .destinations
            .update(&t, &d, spec, who)
            .await
            .map_err(refused)?,
    ))
}

async fn delete(
    state: AdminState,
    who: &AuditActor,
    kind: DestinationKind,
    name: String,
    id: String,
) -> Result<StatusCode, AdminError> {
    let (t, d) = destination(&state, kind, &name, &id).await?;
    state.destinations.delete(&t, &d, who).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn show(
    state: AdminState,
    kind: DestinationKind,
    name: String,
    id: String,
) -> Result<Json<DestinationView>, AdminError> {
    let (t, d) = destination(&state, kind, &name, &id).await?;
    Ok(Json(state.destinations.view(&t, d).await?))
}

async fn pause(
    state: AdminState,
    who: &AuditActor,
    kind: DestinationKind,
    name: String,
    id: String,
    active: bool,
) -> Result<Json<DestinationView>, AdminError> {
    let (t, d) = destination(&state, kind, &name, &id).await?;
    let view = if active {
        state.destinations.resume(&t, &d, who).await?
    } else {
        state.destinations.pause(&t, &d, who).await?
    };
    Ok(Json(view))
}

async fn replay(
    state: AdminState,
    who: &AuditActor,
    kind: DestinationKind,
    name: String,
    id: String,
    bytes: Bytes,
) -> Result<Json<DestinationView>, AdminError> {
    let (t, d) = destination(&state, kind, &name, &id).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AdminError::invalid(
            "from",
            "'from' (a position) is required",
        ));
    }
    let b: ReplayBody = body(&bytes)?;
    match state.destinations.replay(&t, &d, b.from, who).await {
        Ok(v) => Ok(Json(v)),
        Err(scim_delivery::DeliveryError::Invalid(m)) => Err(AdminError::invalid("from", m)),
        Err(e) => Err(e.into()),
    }
}

async fn attempts(
    state: AdminState,
    kind: DestinationKind,
    name: String,
    id: String,
    query: Option<String>,
) -> Result<Json<serde_json::Value>, AdminError> {
    let mut params = Params::parse(query.as_deref())?;
    let before = params.int("before", 1, i64::MAX)?;
    let limit = params.int("limit", 1, 1000)?.unwrap_or(100);
    params.finish()?;
    let (_, d) = destination(&state, kind, &name, &id).await?;
    let list = state
        .destinations
        .attempts(&d, before, u32::try_from(limit).unwrap_or(100))
        .await?;
    let next = if list.len() as i64 == limit {
        list.last().map(|a| a.id)
    } else {
        None
    };
    Ok(Json(json!({ "attempts": list, "before": next })))
}

const WH: DestinationKind = DestinationKind::Webhook;
const NATS: DestinationKind = DestinationKind::Nats;

// Webhooks.

/// `POST /tenants/{tenant}/webhooks`: 201 with `webhook` and its `secret` (shown once).
#[utoipa::path(post, path = "/tenants/{tenant}/webhooks", operation_id = "create_webhook", tag = "webhooks",
    params(("tenant" = String, Path, description = "The tenant's name")),
    request_body = DestinationBody,
    responses((status = 201, description = "`{\"webhook\": …, \"secret\": \"whsec_…\"}`: the signing secret, shown once", body = Object),
        (status = 400, description = "`field` names the field", body = ApiError), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn create_webhook(
    who: Who,
    State(s): State<AdminState>,
    Path(t): Path<String>,
    b: Bytes,
) -> Result<Response, AdminError> {
    create(s, &who.0.audit(), WH, t, b).await
}

/// The tenant's webhook endpoints.
#[utoipa::path(get, path = "/tenants/{tenant}/webhooks", operation_id = "list_webhooks", tag = "webhooks",
    params(("tenant" = String, Path, description = "The tenant's name")),
    responses((status = 200, description = "`{\"webhooks\": [destination, …]}`", body = Object), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn list_webhooks(
    _auth: AdminAuth,
    State(s): State<AdminState>,
    Path(t): Path<String>,
) -> Result<Json<serde_json::Value>, AdminError> {
    list(s, WH, t).await
}

/// One webhook endpoint, with its position, lag and last error.
#[utoipa::path(get, path = "/tenants/{tenant}/webhooks/{id}", operation_id = "get_webhook", tag = "webhooks",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    responses((status = 200, description = "The destination", body = Object), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn get_webhook(
    _auth: AdminAuth,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<Json<DestinationView>, AdminError> {
    show(s, WH, t, id).await
}

/// Changes a webhook endpoint's URL, event types, description or batch size.
#[utoipa::path(patch, path = "/tenants/{tenant}/webhooks/{id}", operation_id = "update_webhook", tag = "webhooks",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    request_body = DestinationBody,
    responses((status = 200, description = "The destination", body = Object),
        (status = 400, description = "`field` names the field", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn update_webhook(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
    b: Bytes,
) -> Result<Json<DestinationView>, AdminError> {
    update(s, &who.0.audit(), WH, t, id, b).await
}

/// Deletes a webhook endpoint.
#[utoipa::path(delete, path = "/tenants/{tenant}/webhooks/{id}", operation_id = "delete_webhook", tag = "webhooks",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn delete_webhook(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<StatusCode, AdminError> {
    delete(s, &who.0.audit(), WH, t, id).await
}

/// Pauses delivery to a webhook endpoint (its position is kept).
#[utoipa::path(post, path = "/tenants/{tenant}/webhooks/{id}/pause", operation_id = "pause_webhook", tag = "webhooks",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    responses((status = 200, description = "The destination", body = Object), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn pause_webhook(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<Json<DestinationView>, AdminError> {
    pause(s, &who.0.audit(), WH, t, id, false).await
}

/// Resumes delivery to a webhook endpoint where it stopped.
#[utoipa::path(post, path = "/tenants/{tenant}/webhooks/{id}/resume", operation_id = "resume_webhook", tag = "webhooks",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    responses((status = 200, description = "The destination", body = Object), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn resume_webhook(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<Json<DestinationView>, AdminError> {
    pause(s, &who.0.audit(), WH, t, id, true).await
}

/// Sends again the events after a position.
#[utoipa::path(post, path = "/tenants/{tenant}/webhooks/{id}/replay", operation_id = "replay_webhook", tag = "webhooks",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    request_body = ReplayBody,
    responses((status = 200, description = "The destination", body = Object),
        (status = 400, description = "`from` is missing or out of range", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn replay_webhook(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
    b: Bytes,
) -> Result<Json<DestinationView>, AdminError> {
    replay(s, &who.0.audit(), WH, t, id, b).await
}

/// `POST …/rotate-secret`: a new secret (shown once); the old one keeps signing beside it
/// for `overlapSeconds`.
#[utoipa::path(post, path = "/tenants/{tenant}/webhooks/{id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "webhooks",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    request_body = RotateBody,
    responses((status = 200, description = "`{\"webhook\": …, \"secret\": \"whsec_…\"}`: the new secret, shown once", body = Object),
        (status = 400, description = "`field` names the field", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn rotate_secret(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
    b: Bytes,
) -> Result<Json<serde_json::Value>, AdminError> {
    let (tenant, d) = destination(&s, WH, &t, &id).await?;
    let r: RotateBody = body(&b)?;
    let overlap = Duration::from_secs(r.overlap_seconds.unwrap_or(86_400).min(30 * 86_400));
    let (view, secret) = s
        .destinations
        .rotate_secret(&tenant, &d, overlap, &who.0.audit())
        .await?;
    Ok(Json(json!({ "webhook": view, "secret": secret })))
}

/// The latest delivery attempts to a webhook endpoint, newest first.
#[utoipa::path(get, path = "/tenants/{tenant}/webhooks/{id}/attempts", operation_id = "webhook_attempts", tag = "webhooks",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id"),
        ("before" = Option<i64>, Query, description = "Attempts older than this id (the previous page's `before`)"),
        ("limit" = Option<i64>, Query, description = "1-1000 (default 100)")),
    responses((status = 200, description = "`{\"attempts\": […], \"before\": next page or null}`", body = Object),
        (status = 400, description = "`field` names the parameter", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn webhook_attempts(
    _auth: AdminAuth,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Json<serde_json::Value>, AdminError> {
    attempts(s, WH, t, id, q).await
}

// NATS publishers.

/// Creates a NATS JetStream publisher.
#[utoipa::path(post, path = "/tenants/{tenant}/nats", operation_id = "create_nats", tag = "nats",
    params(("tenant" = String, Path, description = "The tenant's name")),
    request_body = DestinationBody,
    responses((status = 201, description = "`{\"nats\": …}`", body = Object),
        (status = 400, description = "`field` names the field", body = ApiError), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn create_nats(
    who: Who,
    State(s): State<AdminState>,
    Path(t): Path<String>,
    b: Bytes,
) -> Result<Response, AdminError> {
    create(s, &who.0.audit(), NATS, t, b).await
}

/// The tenant's NATS JetStream publishers.
#[utoipa::path(get, path = "/tenants/{tenant}/nats", operation_id = "list_nats", tag = "nats",
    params(("tenant" = String, Path, description = "The tenant's name")),
    responses((status = 200, description = "`{\"nats\": [destination, …]}`", body = Object), (status = 401, body = ApiError),
        (status = 404, description = "`tenant_not_found`", body = ApiError)))]
pub(crate) async fn list_nats(
    _auth: AdminAuth,
    State(s): State<AdminState>,
    Path(t): Path<String>,
) -> Result<Json<serde_json::Value>, AdminError> {
    list(s, NATS, t).await
}

/// One NATS JetStream publisher, with its position, lag and last error.
#[utoipa::path(get, path = "/tenants/{tenant}/nats/{id}", operation_id = "get_nats", tag = "nats",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    responses((status = 200, description = "The destination", body = Object), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn get_nats(
    _auth: AdminAuth,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<Json<DestinationView>, AdminError> {
    show(s, NATS, t, id).await
}

/// Changes a NATS JetStream publisher's URL, event types, description or batch size.
#[utoipa::path(patch, path = "/tenants/{tenant}/nats/{id}", operation_id = "update_nats", tag = "nats",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    request_body = DestinationBody,
    responses((status = 200, description = "The destination", body = Object),
        (status = 400, description = "`field` names the field", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn update_nats(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
    b: Bytes,
) -> Result<Json<DestinationView>, AdminError> {
    update(s, &who.0.audit(), NATS, t, id, b).await
}

/// Deletes a NATS JetStream publisher.
#[utoipa::path(delete, path = "/tenants/{tenant}/nats/{id}", operation_id = "delete_nats", tag = "nats",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    responses((status = 204, description = "Deleted"), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn delete_nats(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<StatusCode, AdminError> {
    delete(s, &who.0.audit(), NATS, t, id).await
}

/// Pauses delivery to a NATS JetStream publisher (its position is kept).
#[utoipa::path(post, path = "/tenants/{tenant}/nats/{id}/pause", operation_id = "pause_nats", tag = "nats",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    responses((status = 200, description = "The destination", body = Object), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn pause_nats(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<Json<DestinationView>, AdminError> {
    pause(s, &who.0.audit(), NATS, t, id, false).await
}

/// Resumes delivery to a NATS JetStream publisher where it stopped.
#[utoipa::path(post, path = "/tenants/{tenant}/nats/{id}/resume", operation_id = "resume_nats", tag = "nats",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    responses((status = 200, description = "The destination", body = Object), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn resume_nats(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
) -> Result<Json<DestinationView>, AdminError> {
    pause(s, &who.0.audit(), NATS, t, id, true).await
}

/// Sends again the events after a position.
#[utoipa::path(post, path = "/tenants/{tenant}/nats/{id}/replay", operation_id = "replay_nats", tag = "nats",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id")),
    request_body = ReplayBody,
    responses((status = 200, description = "The destination", body = Object),
        (status = 400, description = "`from` is missing or out of range", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn replay_nats(
    who: Who,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
    b: Bytes,
) -> Result<Json<DestinationView>, AdminError> {
    replay(s, &who.0.audit(), NATS, t, id, b).await
}

/// The latest delivery attempts to a NATS JetStream publisher, newest first.
#[utoipa::path(get, path = "/tenants/{tenant}/nats/{id}/attempts", operation_id = "nats_attempts", tag = "nats",
    params(("tenant" = String, Path, description = "The tenant's name"), ("id" = String, Path, description = "The destination's id"),
        ("before" = Option<i64>, Query, description = "Attempts older than this id (the previous page's `before`)"),
        ("limit" = Option<i64>, Query, description = "1-1000 (default 100)")),
    responses((status = 200, description = "`{\"attempts\": […], \"before\": next page or null}`", body = Object),
        (status = 400, description = "`field` names the parameter", body = ApiError), (status = 401, body = ApiError), (status = 404, description = "`tenant_not_found`, `destination_not_found`", body = ApiError)))]
pub(crate) async fn nats_attempts(
    _auth: AdminAuth,
    State(s): State<AdminState>,
    Path((t, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Json<serde_json::Value>, AdminError> {
    attempts(s, NATS, t, id, q).await
}
