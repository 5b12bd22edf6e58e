//! `/{ResourceType}` and `/{ResourceType}/{id}`: list, search, create, read, replace,
//! patch, delete (RFC 7644 §3.3-§3.6).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use scim_core::ScimError;
use scim_core::filter::{parse_filter, resolve};
use scim_core::messages::{LIST_RESPONSE, ListQuery, SearchRequest};
use scim_core::projection::Projection;
use scim_core::sort::SortSpec;
use scim_store::{Include, ListRequest, Pagination};
use serde_json::{Map, json};

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::http::{JsonBody, ScimJson, header_str, none_match};
use crate::service::{self, Modification, Target};
use crate::state::AppState;
use crate::streaming::{self, Rendered};

/// The resource type served at an endpoint, or a 404 that names the endpoint.
fn target(state: &AppState, endpoint: &str) -> ApiResult<Target> {
    let rt = state
        .registry
        .resource_type_by_endpoint(endpoint)
        .ok_or_else(|| {
            ScimError::not_found(format!(
                "There is no endpoint /{}",
                scim_core::Sent(&endpoint)
            ))
        })?;
    Ok(Target::new(state, rt))
}

fn if_match(headers: &HeaderMap) -> Option<String> {
    header_str(headers, header::IF_MATCH).map(str::to_string)
}

/// Decodes a query string into list parameters (names case-insensitive).
fn query_of(query: Option<&str>) -> ApiResult<ListQuery> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    Ok(ListQuery::from_pairs(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )?)
}

/// A rendered page of one resource type, before it becomes a ListResponse.
pub struct ListAnswer {
    pub total_results: u64,
    /// `startIndex`, for index pagination.
    pub start_index: Option<u64>,
    pub next_cursor: Option<String>,
    pub resources: Vec<Rendered>,
}

impl ListAnswer {
    /// The ListResponse (RFC 7644 §3.4.2), streamed when a group's members are.
    pub fn into_response(self) -> Response {
        let mut header = Map::new();
        header.insert("schemas".into(), json!([LIST_RESPONSE]));
        header.insert("totalResults".into(), json!(self.total_results));
        header.insert("itemsPerPage".into(), json!(self.resources.len()));
        if let Some(start) = self.start_index {
            header.insert("startIndex".into(), json!(start));
        }
        if let Some(next) = self.next_cursor {
            header.insert("nextCursor".into(), json!(next));
        }
        streaming::list_response(header, self.resources)
    }
}

/// Runs a list request against one resource type and renders its page.
pub async fn run_list(
    state: &AppState,
    auth: &Auth,
    target: &Target,
    p: ListQuery,
) -> ApiResult<ListAnswer> {
    let reg = &target.registry;
    let projection = Projection::parse(
        reg,
        &target.rt,
        p.attributes.as_deref(),
        p.excluded_attributes.as_deref(),
    )?;
    let filter = match p.filter.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => Some(resolve(&parse_filter(text)?, reg, &target.rt)?),
        _ => None,
    };
    let sort = match p.sort_by.as_deref().map(str::trim) {
        Some(by) if !by.is_empty() => Some(SortSpec::parse(
            reg,
            &target.rt,
            by,
            p.sort_order.as_deref(),
        )?),
        _ => None,
    };
    let page = page_of(state, &p);
    let (start_index, count) = (page.0, page.1);
    let pagination = match p.cursor {
        Some(cursor) => Pagination::Cursor {
            cursor: (!cursor.is_empty()).then_some(cursor),
            count,
        },
        None => Pagination::Index { start_index, count },
    };
    let cursor_mode = matches!(pagination, Pagination::Cursor { .. });
    // Members of groups count against a per-page budget: a page of large groups is cut
    // short (itemsPerPage says so), and a single group over the budget is streamed.
    let (page, stream) = state
        .store
        .list_streamed(
            auth.tenant.id,
            ListRequest {
                resource_type: target.rt.name.clone(),
                filter,
                sort,
                pagination,
                include: service::include(target, &projection),
                max_scan: state.config.max_scan,
            },
            state.config.page_max_members,
        )
        .await?;
    let (total_results, next_cursor) = (page.total_results, page.next_cursor);
    let resources = match (stream, page.resources.len()) {
        (Some(members), 1) => {
            let stored = page.resources.into_iter().next();
            match stored {
                Some(stored) => vec![
                    streaming::render_streamed(state, auth, target, stored, members, &projection)
                        .await?,
                ],
                None => Vec::new(),
            }
        }
        _ => service::render_resources(state, auth, target, page.resources, &projection)
            .await?
            .into_iter()
            .map(Rendered::Whole)
            .collect(),
    };
    Ok(ListAnswer {
        total_results,
        start_index: (!cursor_mode).then_some(start_index),
        next_cursor,
        resources,
    })
}

pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path((_, endpoint)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let target = target(&state, &endpoint)?;
    Ok(
        run_list(&state, &auth, &target, query_of(query.as_deref())?)
            .await?
            .into_response(),
    )
}

pub async fn search(
    State(state): State<AppState>,
    auth: Auth,
    Path((_, endpoint)): Path<(String, String)>,
    JsonBody(body, _): JsonBody,
) -> ApiResult<Response> {
    let target = target(&state, &endpoint)?;
    let query = SearchRequest::parse(&body)?.into_query();
    Ok(run_list(&state, &auth, &target, query)
        .await?
        .into_response())
}

/// `POST /.search` at the root: searches every resource type, in the order of
/// `/ResourceTypes`, and pages over the concatenation.
pub async fn search_root(
    State(state): State<AppState>,
    auth: Auth,
    JsonBody(body, _): JsonBody,
) -> ApiResult<Response> {
    let p = SearchRequest::parse(&body)?.into_query();
    if p.sort_by.is_some() || p.cursor.is_some() {
        return Err(ScimError::invalid_value(
            "sortBy and cursor are supported on /{ResourceType}/.search, not across resource types",
        )
        .into());
    }
    let (start_index, count) = page_of(&state, &p);
    // The concatenation of every type's results, in `/ResourceTypes` order; each type is
    // asked only for the part of the requested window that falls in its results.
    let mut total = 0u64;
    let mut resources = Vec::new();
    // Set once a type's page was cut short by the members budget: the results of the next
    // types would not follow on from it, so they only count towards totalResults.
    let mut cut = false;
    for rt in state.registry.resource_types() {
        let target = Target::new(&state, rt);
        // A filter that does not apply to a type (unknown attribute) excludes that type.
        let filter_ok = match p.filter.as_deref() {
            Some(f) => resolve(&parse_filter(f)?, &state.registry, rt).is_ok(),
            None => true,
        };
        if !filter_ok {
            continue;
        }
        let skip = (start_index - 1).saturating_sub(total);
        let wanted = if cut {
            0
        } else {
            count.saturating_sub(resources.len() as u64)
        };
        let sub = ListQuery {
            filter: p.filter.clone(),
            start_index: Some(i64::try_from(skip + 1).unwrap_or(i64::MAX)),
            count: Some(i64::try_from(wanted).unwrap_or(i64::MAX)),
            attributes: p.attributes.clone(),
            excluded_attributes: p.excluded_attributes.clone(),
            ..ListQuery::default()
        };
        let page = run_list(&state, &auth, &target, sub).await?;
        let available = page.total_results.saturating_sub(skip);
        cut |= (page.resources.len() as u64) < wanted.min(available);
        total += page.total_results;
        resources.extend(page.resources);
    }
    Ok(ListAnswer {
        total_results: total,
        start_index: Some(start_index),
        next_cursor: None,
        resources,
    }
    .into_response())
}

fn projection_of(target: &Target, query: Option<&str>) -> ApiResult<Projection> {
    let q = query_of(query)?;
    Ok(Projection::parse(
        &target.registry,
        &target.rt,
        q.attributes.as_deref(),
        q.excluded_attributes.as_deref(),
    )?)
}

/// The normalised `(startIndex, count)` of a list request under the server's page limits.
fn page_of(state: &AppState, q: &ListQuery) -> (u64, u64) {
    let c = &state.config;
    let page = q.page(
        i64::try_from(c.default_page_size).unwrap_or(i64::MAX),
        i64::try_from(c.max_page_size).unwrap_or(i64::MAX),
    );
    (
        u64::try_from(page.start_index).unwrap_or(1),
        u64::try_from(page.count).unwrap_or(0),
    )
}

pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path((_, endpoint)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    JsonBody(body, _): JsonBody,
) -> ApiResult<ScimJson> {
    auth.require_write()?;
    let target = target(&state, &endpoint)?;
    let projection = projection_of(&target, query.as_deref())?;
    let stored = service::create(&state, &auth, &target, body).await?;
    let (etag, fallback_location) = (
        stored.etag(),
        format!(
            "{}/{}/{}",
            state.config.base_url(&auth.tenant.name),
            target.rt.endpoint_name(),
            stored.id
        ),
    );
    let body = service::render_resource(&state, &auth, &target, stored, &projection).await?;
    let location = body["meta"]["location"]
        .as_str()
        .map(str::to_string)
        .or(Some(fallback_location));
    Ok(ScimJson {
        status: StatusCode::CREATED,
        etag: Some(etag),
        location,
        body,
    })
}

pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path((_, endpoint, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let target = target(&state, &endpoint)?;
    let projection = projection_of(&target, query.as_deref())?;
    let (stored, members) = state
        .store
        .get_streamed(
            auth.tenant.id,
            &target.rt.name,
            &id,
            service::include(&target, &projection),
        )
        .await?
        .ok_or_else(|| {
            ScimError::not_found(format!(
                "{} '{}' not found",
                target.rt.name,
                scim_core::Sent(&id)
            ))
        })?;
    let etag = stored.etag();
    if none_match(&headers, &stored) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = etag.parse() {
            r.headers_mut().insert(header::ETAG, v);
        }
        return Ok(r);
    }
    if let Some(m) = if_match(&headers)
        && !stored.matches_etag(&m)
    {
        return Err(ScimError::precondition_failed(format!(
            "If-Match {} does not match the current version {etag}",
            scim_core::Sent(&m)
        ))
        .into());
    }
    let item = streaming::render_read(&state, &auth, &target, stored, members, &projection).await?;
    Ok(streaming::resource_response(
        StatusCode::OK,
        Some(etag),
        None,
        item,
    ))
}

/// Rejects a write whose `If-None-Match` matches the current version (RFC 7232 §3.2).
async fn check_none_match(
    state: &AppState,
    auth: &Auth,
    target: &Target,
    id: &str,
    headers: &HeaderMap,
) -> ApiResult<()> {
    if header_str(headers, header::IF_NONE_MATCH).is_none() {
        return Ok(());
    }
    if let Some(current) = state
        .store
        .get(auth.tenant.id, &target.rt.name, id, Include::NOTHING)
        .await?
        && none_match(headers, &current)
    {
        return Err(ScimError::precondition_failed(format!(
            "If-None-Match matches the current version {}",
            current.etag()
        ))
        .into());
    }
    Ok(())
}

/// PUT and PATCH: the same steps around a different modification.
async fn modify(
    state: AppState,
    auth: Auth,
    endpoint: &str,
    id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    modification: Modification,
) -> ApiResult<Response> {
    auth.require_write()?;
    let target = target(&state, endpoint)?;
    let projection = projection_of(&target, query)?;
    check_none_match(&state, &auth, &target, id, headers).await?;
    let is_patch = matches!(modification, Modification::Patch(_));
    // Members are read after the commit, not inside the write: a one-member PATCH of a
    // 100,000-member group must not hold the writer while the whole list is read.
    let stored = service::modify(
        &state,
        &auth,
        &target,
        id,
        if_match(headers),
        modification,
        false,
    )
    .await?;
    let include = service::include(&target, &projection);
    // A PATCH sent without attributes/excludedAttributes, as identity providers send
    // membership changes, of a group too large to send back: 204 (RFC 7644 §3.5.2), so that
    // the answer does not grow with the group.
    if is_patch
        && include.members
        && projection.is_default()
        && state
            .store
            .has_more_members_than(auth.tenant.id, id, state.config.patch_response_max_members)
            .await?
    {
        let mut r = StatusCode::NO_CONTENT.into_response();
        if let Ok(v) = stored.etag().parse() {
            r.headers_mut().insert(header::ETAG, v);
        }
        return Ok(r);
    }
    let fresh = if include.members {
        state
            .store
            .get_streamed(auth.tenant.id, &target.rt.name, id, include)
            .await?
    } else {
        None
    };
    let (stored, members) = match fresh {
        Some((fresh, members)) => (fresh, members),
        None => (stored, None),
    };
    let etag = stored.etag();
    let item = streaming::render_read(&state, &auth, &target, stored, members, &projection).await?;
    let location = format!(
        "{}/{}/{id}",
        state.config.base_url(&auth.tenant.name),
        target.rt.endpoint_name()
    );
    Ok(streaming::resource_response(
        StatusCode::OK,
        Some(etag),
        Some(location),
        item,
    ))
}

pub async fn replace(
    State(state): State<AppState>,
    auth: Auth,
    Path((_, endpoint, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    JsonBody(body, _): JsonBody,
) -> ApiResult<Response> {
    let m = Modification::Replace(body);
    modify(state, auth, &endpoint, &id, query.as_deref(), &headers, m).await
}

pub async fn patch(
    State(state): State<AppState>,
    auth: Auth,
    Path((_, endpoint, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    JsonBody(body, _): JsonBody,
) -> ApiResult<Response> {
    let m = Modification::Patch(body);
    modify(state, auth, &endpoint, &id, query.as_deref(), &headers, m).await
}

pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path((_, endpoint, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    auth.require_write()?;
    let target = target(&state, &endpoint)?;
    state
        .store
        .delete(
            auth.tenant.id,
            &target.rt.name,
            &id,
            if_match(&headers),
            &auth.actor(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `/Me`: tokens belong to systems, not people (RFC 7644 §3.11).
pub async fn me(_auth: Auth) -> ApiResult<ScimJson> {
    Err(ScimError::not_implemented(
        "/Me is not supported: scim tokens authenticate provisioning systems, not individual users",
    )
    .into())
}
