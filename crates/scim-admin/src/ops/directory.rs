//! A tenant's users and groups, read for an application: paged by cursor, filtered with
//! the SCIM filter syntax through the store's own list path, each rendered as the event
//! feed renders it.

use axum::http::StatusCode;
use scim_core::filter::{parse_filter, resolve};
use scim_core::schema::ResourceType;
use scim_store::{Include, ListRequest, Pagination, StoredResource};
use serde_json::Value;

use super::Manager;
use super::views::{ResourcePage, ResourceQuery};
use crate::AdminError;

/// Most resources of one page.
pub const MAX_COUNT: u64 = 1000;
/// Resources of a page when no `count` is given.
pub const DEFAULT_COUNT: u64 = 100;

impl Manager {
    fn resource_type(&self, name: &str) -> Result<ResourceType, AdminError> {
        self.registry
            .as_ref()
            .and_then(|r| r.resource_type(name))
            .cloned()
            .ok_or_else(|| {
                AdminError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("the resource type {name} is not defined"),
                )
            })
    }

    /// A resource in the event feed's JSON.
    fn render(&self, tenant: &str, rt: &ResourceType, r: StoredResource) -> Value {
        Value::Object(r.into_json(rt.endpoint_name(), Some(&self.base_url(tenant))))
    }

    /// Adds each user's effective roles from the role rules (`"effectiveRoles": [...]`,
    /// sorted; not SCIM's own `roles` attribute, which is what the identity provider sent)
    /// to users; other resources are left as they are.
    async fn with_roles(
        &self,
        tenant_id: i64,
        rt: &ResourceType,
        resources: &mut [Value],
    ) -> Result<(), AdminError> {
        if rt.name != "User" || resources.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = resources
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_string))
            .collect();
        let mut roles = self.store.roles_of_users(tenant_id, ids).await?;
        for r in resources.iter_mut() {
            let id = r
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            // The same JSON as the event feed's users.
            scim_delivery::event::set_effective_roles(r, roles.remove(&id).unwrap_or_default());
        }
        Ok(())
    }

    /// A page of a tenant's resources of one type (`User`, `Group`).
    pub async fn list_resources(
        &self,
        tenant: &str,
        resource_type: &str,
        q: ResourceQuery,
    ) -> Result<ResourcePage, AdminError> {
        let t = self.find_tenant(tenant).await?;
        let rt = self.resource_type(resource_type)?;
        let count = q.count.unwrap_or(DEFAULT_COUNT);
        if !(1..=MAX_COUNT).contains(&count) {
            return Err(AdminError::invalid(
                "count",
                format!("count must be 1 to {MAX_COUNT}"),
            ));
        }
        let filter = match q.filter.as_deref().map(str::trim) {
            Some(text) if !text.is_empty() => {
                let Some(reg) = self.registry.as_ref() else {
                    return Err(AdminError::invalid("filter", "filters are not available"));
                };
                let parsed = parse_filter(text)
                    .and_then(|f| resolve(&f, reg, &rt))
                    .map_err(|e| AdminError::invalid("filter", e.detail))?;
                Some(parsed)
            }
            _ => None,
        };
        let request = ListRequest {
            resource_type: rt.name.clone(),
            filter,
            sort: None,
            pagination: Pagination::Cursor {
                cursor: q.cursor.filter(|c| !c.is_empty()),
                count,
            },
            include: Include::NOTHING,
            max_scan: scim_store::DEFAULT_MAX_SCAN,
        };
        let page = self.store.list(t.id, request).await.map_err(|e| {
            let e = AdminError::from(e);
            if e.status == StatusCode::BAD_REQUEST {
                // An unreadable cursor, or a filter no index serves over a large tenant.
                let field = if e.message.to_ascii_lowercase().contains("cursor") {
                    "cursor"
                } else {
                    "filter"
                };
                e.with("field", field)
            } else {
                e
            }
        })?;
        let mut resources: Vec<Value> = page
            .resources
            .into_iter()
            .map(|r| self.render(tenant, &rt, r))
            .collect();
        self.with_roles(t.id, &rt, &mut resources).await?;
        Ok(ResourcePage {
            total_results: page.total_results,
            next_cursor: page.next_cursor,
            resources,
        })
    }

    /// One resource of a tenant, or 404 `resource_not_found`.
    pub async fn resource(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Value, AdminError> {
        let t = self.find_tenant(tenant).await?;
        let rt = self.resource_type(resource_type)?;
        match self.store.get(t.id, &rt.name, id, Include::NOTHING).await? {
            Some(r) => {
                let mut one = [self.render(tenant, &rt, r)];
                self.with_roles(t.id, &rt, &mut one).await?;
                let [user] = one;
                Ok(user)
            }
            None => Err(AdminError::new(
                StatusCode::NOT_FOUND,
                "resource_not_found",
                format!("tenant '{tenant}' has no {} with id '{id}'", rt.name),
            )),
        }
    }
}
