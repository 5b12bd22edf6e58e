//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7644 §4).

use axum::extract::{Path, RawQuery, State};
use scim_core::ScimError;
use scim_core::messages::LIST_RESPONSE;
use scim_core::schema::{RESOURCE_TYPE_SCHEMA, SCHEMA_SCHEMA, SERVICE_PROVIDER_CONFIG_SCHEMA};
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::http::ScimJson;
use crate::state::AppState;

fn list(resources: Vec<Value>) -> Value {
    json!({
        "schemas": [LIST_RESPONSE],
        "totalResults": resources.len(),
        "startIndex": 1,
        "itemsPerPage": resources.len(),
        "Resources": resources,
    })
}

pub async fn service_provider_config(State(state): State<AppState>, auth: Auth) -> ScimJson {
    let c = &state.config;
    let base = c.base_url(&auth.tenant.name);
    ScimJson::ok(json!({
        "schemas": [SERVICE_PROVIDER_CONFIG_SCHEMA],
        "patch": {"supported": true},
        "bulk": {
            "supported": true,
            "maxOperations": super::bulk::max_operations(&state, &auth),
            // A body takes a unit of the tenant's rate limit per 16 KiB (`http::JsonBody`):
            // its burst bounds the size of one request too.
            "maxPayloadSize": c.max_payload_bytes.min(
                usize::try_from(state.throttle.burst_of(&auth.settings))
                    .unwrap_or(usize::MAX)
                    .saturating_mul(crate::http::BODY_UNIT)
            ),
        },
        "filter": {"supported": true, "maxResults": c.max_page_size},
        "changePassword": {"supported": false},
        "sort": {"supported": true},
        "etag": {"supported": true},
        "pagination": {
            "cursor": true,
            "index": true,
            "defaultPaginationMethod": "index",
            "defaultPageSize": c.default_page_size,
            "maxPageSize": c.max_page_size,
        },
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "OAuth Bearer Token",
            "description": "A bearer token created with `scim token create`, sent as Authorization: Bearer <token>",
            "specUri": "https://www.rfc-editor.org/info/rfc6750",
            "primary": true,
        }],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": format!("{base}/ServiceProviderConfig"),
        },
    }))
}

fn resource_type_json(base: &str, rt: &scim_core::schema::ResourceType) -> Value {
    let mut v = serde_json::to_value(rt).unwrap_or_else(|_| json!({}));
    if let Some(obj) = v.as_object_mut() {
        obj.insert("schemas".into(), json!([RESOURCE_TYPE_SCHEMA]));
        obj.insert(
            "meta".into(),
            json!({"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/{}", rt.id)}),
        );
    }
    v
}

/// RFC 7644 §4: discovery endpoints do not filter; a `filter` gets 403 so that no client
/// believes it was applied.
fn refuse_filter(query: Option<&str>) -> ApiResult<()> {
    let has_filter = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .any(|(k, v)| k.eq_ignore_ascii_case("filter") && !v.trim().is_empty());
    if has_filter {
        return Err(ScimError::forbidden(
            "Discovery endpoints do not support filtering (RFC 7644 §4); request the whole list",
        )
        .into());
    }
    Ok(())
}

pub async fn resource_types(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> ApiResult<ScimJson> {
    refuse_filter(query.as_deref())?;
    let base = state.config.base_url(&auth.tenant.name);
    let items = state
        .registry
        .resource_types()
        .iter()
        .map(|rt| resource_type_json(&base, rt))
        .collect();
    Ok(ScimJson::ok(list(items)))
}

pub async fn resource_type(
    State(state): State<AppState>,
    auth: Auth,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<ScimJson> {
    let base = state.config.base_url(&auth.tenant.name);
    let rt = state.registry.resource_type(&id).ok_or_else(|| {
        ScimError::not_found(format!(
            "resource type '{}' not found",
            scim_core::Sent(&id)
        ))
    })?;
    Ok(ScimJson::ok(resource_type_json(&base, rt)))
}

/// The schemas served: those of the resource types (core and extensions), in load order.
fn served_schemas(state: &AppState) -> Vec<&scim_core::schema::Schema> {
    state
        .registry
        .schemas()
        .filter(|s| {
            state.registry.resource_types().iter().any(|rt| {
                rt.schema == s.id || rt.schema_extensions.iter().any(|e| e.schema == s.id)
            })
        })
        .collect()
}

fn schema_json(base: &str, schema: &scim_core::schema::Schema) -> Value {
    let mut v = serde_json::to_value(schema).unwrap_or_else(|_| json!({}));
    if let Some(obj) = v.as_object_mut() {
        let mut out = serde_json::Map::new();
        out.insert("schemas".into(), json!([SCHEMA_SCHEMA]));
        out.append(obj);
        out.insert(
            "meta".into(),
            json!({"resourceType": "Schema", "location": format!("{base}/Schemas/{}", schema.id)}),
        );
        return Value::Object(out);
    }
    v
}

pub async fn schemas(
    State(state): State<AppState>,
    auth: Auth,
    RawQuery(query): RawQuery,
) -> ApiResult<ScimJson> {
    refuse_filter(query.as_deref())?;
    let base = state.config.base_url(&auth.tenant.name);
    let items = served_schemas(&state)
        .into_iter()
        .map(|s| schema_json(&base, s))
        .collect();
    Ok(ScimJson::ok(list(items)))
}

pub async fn schema(
    State(state): State<AppState>,
    auth: Auth,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<ScimJson> {
    let base = state.config.base_url(&auth.tenant.name);
    let schema = served_schemas(&state)
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(&id))
        .ok_or_else(|| {
            ScimError::not_found(format!("schema '{}' not found", scim_core::Sent(&id)))
        })?;
    Ok(ScimJson::ok(schema_json(&base, schema)))
}
