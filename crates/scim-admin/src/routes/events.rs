//! `GET /admin/v1/tenants/{tenant}/events`: the event feed.

use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use scim_delivery::feed::{FeedPage, FeedRequest, MAX_LIMIT, MAX_WAIT};
use scim_delivery::shared::json_array_within;
use scim_delivery::{Event, EventFilter};
use serde::Serialize;

use crate::auth::AdminAuth;
use crate::query::Params;
use crate::{AdminError, AdminState};

/// The feed's answer. Its body is written by [`page_body`] (around the events' texts,
/// which the server's consumers share); this type describes it for the OpenAPI document
/// and the tests.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct EventsPage {
    /// Events in the tenant's order (the envelope is described in docs/events.md).
    #[schema(value_type = Vec<Object>)]
    events: Vec<Event>,
    /// The cursor for the next request (`after=`).
    next: i64,
    /// The tenant's latest position.
    head: i64,
}

/// Events after `after` (default 0), at most `limit` (default 100, at most 1,000), waiting
/// up to `wait` seconds (default 0, at most 60) for a first one; `types` filters by type.
#[utoipa::path(get, path = "/tenants/{tenant}/events", operation_id = "list_events", tag = "events",
    params(("tenant" = String, Path, description = "The tenant's name"),
        ("after" = Option<i64>, Query, description = "The cursor: events after this position (default 0)"),
        ("limit" = Option<u32>, Query, description = "Most events (1-1000, default 100)"),
        ("wait" = Option<u32>, Query, description = "Seconds to wait for a first event (0-60, default 0)"),
        ("types" = Option<String>, Query, description = "Event types, e.g. `user.*,group.members_added`")),
    responses((status = 200, body = EventsPage),
        (status = 400, body = crate::routes::ApiError),
        (status = 401, body = crate::routes::ApiError),
        (status = 404, description = "`tenant_not_found`", body = crate::routes::ApiError),
        (status = 410, description = "`cursor_expired`", body = crate::routes::ApiError)))]
pub(crate) async fn list(
    _auth: AdminAuth,
    State(state): State<AdminState>,
    Path(tenant): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, AdminError> {
    let mut params = Params::parse(query.as_deref())?;
    let after = params.int("after", 0, i64::MAX)?.unwrap_or(0);
    let limit = params.int("limit", 1, i64::from(MAX_LIMIT))?.unwrap_or(100);
    let wait = params
        .int("wait", 0, MAX_WAIT.as_secs() as i64)?
        .unwrap_or(0);
    let filter = match params.text("types") {
        Some(t) => {
            EventFilter::parse(&t).map_err(|e| AdminError::invalid("types", e.to_string()))?
        }
        None => EventFilter::all(),
    };
    params.finish()?;
    let tenant = state
        .store
        .tenant(&tenant)
        .await?
        .ok_or_else(|| AdminError::tenant_not_found(&tenant))?;
    let request = FeedRequest {
        after,
        limit: u32::try_from(limit).unwrap_or(MAX_LIMIT),
        wait: Duration::from_secs(u64::try_from(wait).unwrap_or(0)),
        filter,
    };
    let page = state.feed.read(&tenant, &request).await?;
    Ok(([(CONTENT_TYPE, "application/json")], page_body(&page)).into_response())
}

/// The JSON of an [`EventsPage`], written around the events' kept texts instead of
/// serialising every event again.
fn page_body(page: &FeedPage) -> String {
    json_array_within(
        r#"{"events":"#,
        &page.events,
        &format!(r#","next":{},"head":{}}}"#, page.next, page.head),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use scim_delivery::SharedEvent;
    use scim_delivery::event::{EventActor, EventData, EventType};

    fn event(position: i64) -> Event {
        Event {
            id: format!("evt_{position}"),
            event_type: EventType::UserUpdated,
            version: 1,
            tenant: "acme".into(),
            position,
            timestamp: "2026-12-04T09:00:00.000Z".into(),
            actor: EventActor::default(),
            data: EventData {
                resource_type: "User".into(),
                id: "u1".into(),
                resource: Some(serde_json::json!({"userName": "b\\j\"rn"}).into()),
                changes: Vec::new(),
                members: Vec::new(),
                delete_mode: None,
                roles: None,
            },
        }
    }

    #[test]
    fn the_written_body_is_the_pages_json() {
        for events in [vec![], vec![event(4)], vec![event(4), event(5)]] {
            let page = FeedPage {
                events: events.iter().cloned().map(SharedEvent::new).collect(),
                next: 9,
                head: 12,
            };
            let written: serde_json::Value = serde_json::from_str(&page_body(&page)).unwrap();
            let expected = serde_json::to_value(EventsPage {
                events,
                next: 9,
                head: 12,
            })
            .unwrap();
            assert_eq!(written, expected);
        }
    }
}
