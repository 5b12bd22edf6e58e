//! `POST /Bulk` (RFC 7644 §3.7): many operations in one request, with `bulkId` references.
//!
//! Operations run in request order, except that one that refers to `bulkId:x` waits until
//! the operation that defines `x` has run, even if it comes later in the request.
//! Consecutive creates are submitted together, so the store commits them in shared
//! transactions (one fsync for many). A reference to an undefined `bulkId` fails with 400; references
//! that wait on each other in a cycle fail with 409. With `failOnErrors`, operations run one
//! at a time and processing stops after that many errors.

use std::collections::{HashMap, HashSet};

use axum::extract::State;
use scim_core::ScimError;
use scim_core::messages::{
    BulkMethod, BulkOperation, BulkOperationResponse, BulkRequest, BulkResponse,
};
use serde_json::Value;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::http::{JsonBody, ScimJson};
use crate::service::{self, Modification, Target};
use crate::state::AppState;

const BULK_ID_PREFIX: &str = "bulkId:";
/// Most operations submitted together (bounds one request's share of the store).
const WAVE: usize = 64;

/// Every `bulkId:x` reference in a string or JSON value.
fn references(v: &Value, out: &mut HashSet<String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX) {
                out.insert(id.to_string());
            }
        }
        Value::Array(items) => items.iter().for_each(|i| references(i, out)),
        Value::Object(o) => o.values().for_each(|i| references(i, out)),
        _ => {}
    }
}

fn refs_of(op: &BulkOperation) -> HashSet<String> {
    let mut out = HashSet::new();
    for segment in op.path.split('/') {
        references(&Value::String(segment.to_string()), &mut out);
    }
    if let Some(d) = &op.data {
        references(d, &mut out);
    }
    out
}

/// Replaces every `bulkId:x` with the id created for `x`.
fn substitute(v: &mut Value, ids: &HashMap<String, String>) {
    match v {
        Value::String(s) => {
            if let Some(id) = s.strip_prefix(BULK_ID_PREFIX).and_then(|b| ids.get(b)) {
                *s = id.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, ids)),
        Value::Object(o) => o.values_mut().for_each(|i| substitute(i, ids)),
        _ => {}
    }
}

fn substitute_path(path: &str, ids: &HashMap<String, String>) -> String {
    path.split('/')
        .map(
            |seg| match seg.strip_prefix(BULK_ID_PREFIX).and_then(|b| ids.get(b)) {
                Some(id) => id.as_str(),
                None => seg,
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// The outcome of one operation.
struct Done {
    created_id: Option<String>,
    response: BulkOperationResponse,
}

fn failure(op: &BulkOperation, e: ScimError) -> Done {
    Done {
        created_id: None,
        response: BulkOperationResponse {
            method: op.method,
            bulk_id: op.bulk_id.clone(),
            version: None,
            location: None,
            status: e.status.to_string(),
            response: Some(e.to_json()),
        },
    }
}

async fn execute(
    state: &AppState,
    auth: &Auth,
    op: BulkOperation,
    ids: &HashMap<String, String>,
) -> Done {
    let path = substitute_path(&op.path, ids);
    let mut data = op.data.clone();
    if let Some(d) = &mut data {
        substitute(d, ids);
    }
    let result = run(state, auth, &op, &path, data).await;
    match result {
        Ok((status, stored)) => {
            let (created_id, location, version) = match stored {
                // Any successful operation with a bulkId defines it (a POST's new id, or the
                // id of the resource a PUT or PATCH changed).
                Some((id, location, version)) => {
                    (op.bulk_id.is_some().then_some(id), Some(location), version)
                }
                None => (None, None, None),
            };
            Done {
                created_id,
                response: BulkOperationResponse {
                    method: op.method,
                    bulk_id: op.bulk_id.clone(),
                    version,
                    location,
                    status: status.to_string(),
                    response: None,
                },
            }
        }
        Err(e) => failure(&op, e.0),
    }
}

/// What a successful operation reports: the resource id, its location and its ETag.
type Stored = Option<(String, String, Option<String>)>;

async fn run(
    state: &AppState,
    auth: &Auth,
    op: &BulkOperation,
    path: &str,
    data: Option<Value>,
) -> ApiResult<(u16, Stored)> {
    let mut parts = path.trim_matches('/').splitn(2, '/');
    let endpoint = parts.next().unwrap_or_default();
    let id = parts.next();
    let rt = state
        .registry
        .resource_type_by_endpoint(endpoint)
        .ok_or_else(|| {
            ScimError::invalid_value(format!(
                "path '{}' names no resource endpoint",
                scim_core::Sent(path)
            ))
        })?;
    let target = Target::new(state, rt);
    let base = state.config.base_url(&auth.tenant.name);
    let location = |id: &str| format!("{base}/{}/{id}", rt.endpoint_name());
    let body = || {
        data.clone()
            .ok_or_else(|| ApiError(ScimError::invalid_syntax("this operation needs \"data\"")))
    };
    let if_match = op.version.clone();
    let stored = match (op.method, id) {
        (BulkMethod::Post, None) => {
            let s = service::create(state, auth, &target, body()?).await?;
            return Ok((201, Some((s.id.clone(), location(&s.id), Some(s.etag())))));
        }
        (BulkMethod::Put, Some(id)) => {
            let m = Modification::Replace(body()?);
            service::modify(state, auth, &target, id, if_match, m, false).await?
        }
        (BulkMethod::Patch, Some(id)) => {
            let m = Modification::Patch(body()?);
            service::modify(state, auth, &target, id, if_match, m, false).await?
        }
        (BulkMethod::Delete, Some(id)) => {
            state
                .store
                .delete(auth.tenant.id, &rt.name, id, if_match, &auth.actor())
                .await?;
            return Ok((204, Some((id.to_string(), location(id), None))));
        }
        (BulkMethod::Post, Some(_)) => {
            return Err(ScimError::invalid_value(format!(
                "POST goes to a resource endpoint such as /{endpoint}, not to '{}'",
                scim_core::Sent(path)
            ))
            .into());
        }
        (_, None) => {
            return Err(ScimError::invalid_value(format!(
                "{} needs a resource path such as /{endpoint}/{{id}}",
                op.method.as_str()
            ))
            .into());
        }
    };
    Ok((
        200,
        Some((stored.id.clone(), location(&stored.id), Some(stored.etag()))),
    ))
}

/// The most operations a Bulk request of this tenant may carry: the server's limit, or the
/// tenant's rate-limit burst if lower (a request cannot take more units than the burst).
pub fn max_operations(state: &AppState, auth: &Auth) -> usize {
    let burst = state.throttle.burst_of(&auth.settings);
    state
        .config
        .bulk_max_operations
        .min(usize::try_from(burst).unwrap_or(usize::MAX))
}

pub async fn bulk(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body, size_units): JsonBody,
) -> ApiResult<ScimJson> {
    auth.require_write()?;
    let request = BulkRequest::parse(body)?;
    let max = max_operations(&state, &auth);
    if request.operations.len() > max {
        return Err(ScimError::payload_too_large(format!(
            "The request has {} operations; the maximum is {max} (see /ServiceProviderConfig bulk.maxOperations)",
            request.operations.len()
        ))
        .into());
    }
    // A Bulk request counts its operations against the tenant's rate limit, or its size if
    // that took more (the request and its body took `size_units` already).
    let n = u32::try_from(request.operations.len()).unwrap_or(u32::MAX);
    auth.charge(&state, size_units, n.saturating_sub(size_units))?;
    let defined: HashSet<String> = request
        .operations
        .iter()
        .filter_map(|o| o.bulk_id.clone())
        .collect();
    let mut results: Vec<Option<BulkOperationResponse>> = vec![None; request.operations.len()];
    let mut pending: Vec<(usize, BulkOperation, HashSet<String>)> = Vec::new();
    for (i, op) in request.operations.into_iter().enumerate() {
        let refs = refs_of(&op);
        if let Some(unknown) = refs.iter().find(|r| !defined.contains(*r)) {
            let e = ScimError::invalid_value(format!(
                "bulkId '{}' is not defined by any operation of this request",
                scim_core::Sent(unknown)
            ));
            results[i] = Some(failure(&op, e).response);
        } else {
            pending.push((i, op, refs));
        }
    }
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut failed_ids: HashSet<String> = HashSet::new();
    let mut errors = results.iter().flatten().count() as u32;
    let one_at_a_time = request.fail_on_errors.is_some();
    'outer: while !pending.is_empty() {
        if request.fail_on_errors.is_some_and(|limit| errors >= limit) {
            break;
        }
        // Operations whose references failed cannot run.
        let mut k = 0;
        while k < pending.len() {
            if let Some(bad) = pending[k]
                .2
                .iter()
                .find(|r| failed_ids.contains(*r))
                .cloned()
            {
                let (i, op, _) = pending.remove(k);
                let e = ScimError::new(
                    409,
                    None,
                    format!(
                        "bulkId '{}' refers to an operation that failed",
                        scim_core::Sent(bad)
                    ),
                );
                if let Some(b) = &op.bulk_id {
                    failed_ids.insert(b.clone());
                }
                results[i] = Some(failure(&op, e).response);
                errors += 1;
                continue 'outer;
            }
            k += 1;
        }
        // The next wave, keeping the outcome of processing in request order (RFC 7644 §3.7):
        // the first operation that is ready (its bulkId references resolved) and, if it is a
        // POST, the ready POSTs right after it. Creates of different resources do not depend
        // on each other, so they are submitted together and share commits; any other
        // operation runs alone.
        let Some(first) = pending
            .iter()
            .position(|(_, _, refs)| refs.iter().all(|r| ids.contains_key(r)))
        else {
            // Everything left waits on something else that is left: a cycle.
            for (i, op, _) in pending.drain(..) {
                let e = ScimError::new(
                    409,
                    None,
                    "circular bulkId references: these operations wait on each other and none can run first",
                );
                results[i] = Some(failure(&op, e).response);
            }
            break;
        };
        let mut end = first + 1;
        if !one_at_a_time && pending[first].1.method == BulkMethod::Post {
            while end < pending.len()
                && end - first < WAVE
                && pending[end].1.method == BulkMethod::Post
                && pending[end].2.iter().all(|r| ids.contains_key(r))
            {
                end += 1;
            }
        }
        let wave: Vec<_> = pending.drain(first..end).collect();
        let snapshot = ids.clone();
        let runs = wave.into_iter().map(|(i, op, _)| {
            let (state, auth, snapshot) = (&state, &auth, &snapshot);
            async move {
                (
                    i,
                    op.bulk_id.clone(),
                    execute(state, auth, op, snapshot).await,
                )
            }
        });
        for (i, bulk_id, done) in futures_util::future::join_all(runs).await {
            match (&bulk_id, &done.created_id) {
                (Some(b), Some(id)) => {
                    ids.insert(b.clone(), id.clone());
                }
                (Some(b), None) if !done.response.status.starts_with('2') => {
                    failed_ids.insert(b.clone());
                }
                _ => {}
            }
            if !done.response.status.starts_with('2') {
                errors += 1;
            }
            results[i] = Some(done.response);
        }
    }
    let response = BulkResponse {
        operations: results.into_iter().flatten().collect(),
    };
    let body = serde_json::to_value(&response).map_err(|e| ScimError::internal(e.to_string()))?;
    Ok(ScimJson::ok(body))
}
