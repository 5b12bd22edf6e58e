//! Tenants: create (with settings), list with counts, read, update settings, delete.

use axum::http::StatusCode;
use scim_store::manage::{AdminOp, AdminOutcome, ResourceCounts};
use scim_store::{Tenant, TenantSettings, TenantUpdate};
use serde_json::Value;

use super::views::{TenantCreate, TenantDeleted, TenantList, TenantPatch, TenantView};
use super::{Caller, Created, Idempotency, Manager, mismatch};
use crate::AdminError;

/// Whether a tenant name can be a URL path segment (the store's own rule).
fn check_name(name: &str) -> Result<(), AdminError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AdminError::invalid(
            "name",
            format!(
                "the tenant name '{name}' must be 1-64 letters, digits, '-' or '_' (it is part of a URL)"
            ),
        ))
    }
}

fn check_settings(
    retention_days: Option<i64>,
    rate: Option<Option<u32>>,
    burst: Option<Option<u32>>,
    jwt: Option<&scim_store::JwtSettings>,
) -> Result<(), AdminError> {
    if let Some(d) = retention_days
        && !(0..=36_500).contains(&d)
    {
        return Err(AdminError::invalid(
            "retention_days",
            format!("retention_days must be 0 to 36500, not {d}"),
        ));
    }
    for (field, v) in [("rate_limit_per_minute", rate), ("rate_burst", burst)] {
        if v == Some(Some(0)) {
            return Err(AdminError::invalid(
                field,
                format!("{field} must be at least 1 (null for the server's default)"),
            ));
        }
    }
    if let Some(j) = jwt {
        j.validate().map_err(|m| AdminError::invalid("jwt", m))?;
    }
    Ok(())
}

impl Manager {
    fn tenant_view(&self, t: &Tenant, s: TenantSettings, counts: ResourceCounts) -> TenantView {
        TenantView {
            scim_base_url: self.base_url(&t.name),
            name: t.name.clone(),
            uid: t.uid.clone(),
            created: t.created.clone(),
            delete_mode: t.delete_mode.into(),
            retention_days: t.retention_days,
            rate_limit_per_minute: s.rate_per_minute,
            rate_burst: s.rate_burst,
            jwt: s.jwt.map(Into::into),
            users: counts.users,
            groups: counts.groups,
        }
    }

    async fn counts(&self, tenant_id: i64) -> Result<ResourceCounts, AdminError> {
        Ok(self
            .store
            .resource_counts(vec![tenant_id])
            .await?
            .remove(&tenant_id)
            .unwrap_or_default())
    }

    /// Creates a tenant with its settings, all or nothing. 409 `tenant_exists` when the
    /// name is taken.
    pub async fn create_tenant(
        &self,
        caller: &Caller,
        req: TenantCreate,
        idempotency: Option<Idempotency>,
    ) -> Result<Created<TenantView>, AdminError> {
        check_name(&req.name)?;
        let jwt: Option<scim_store::JwtSettings> = req.jwt.map(Into::into);
        check_settings(
            req.retention_days,
            req.rate_limit_per_minute.map(Some),
            req.rate_burst.map(Some),
            jwt.as_ref(),
        )?;
        let op = AdminOp::CreateTenant {
            name: req.name.clone(),
            delete_mode: req
                .delete_mode
                .map_or(scim_store::DeleteMode::Hard, Into::into),
            retention_days: req.retention_days.unwrap_or(30),
            settings: TenantUpdate {
                rate_per_minute: req.rate_limit_per_minute.map(Some),
                rate_burst: req.rate_burst.map(Some),
                jwt: jwt.map(Some),
                ..TenantUpdate::default()
            },
        };
        let me = self.clone();
        let render = Box::new(move |o: &AdminOutcome| match o {
            AdminOutcome::Tenant(t, s) => {
                serde_json::to_value(me.tenant_view(t, s.clone(), ResourceCounts::default()))
                    .unwrap_or(Value::Null)
            }
            _ => Value::Null,
        });
        let written = self
            .write(caller, op, idempotency, render)
            .await
            .map_err(|e| {
                if e.status == StatusCode::CONFLICT {
                    // The store's sentence names the existing tenant's spelling (names
                    // are case-insensitive).
                    let message = if e.message.is_empty() {
                        format!("a tenant named '{}' already exists", req.name)
                    } else {
                        e.message
                    };
                    AdminError::new(StatusCode::CONFLICT, "tenant_exists", message)
                        .with("field", "name")
                } else {
                    e
                }
            })?;
        match written {
            Ok(AdminOutcome::Tenant(t, s)) => Ok(Created::New(self.tenant_view(
                &t,
                s,
                ResourceCounts::default(),
            ))),
            Ok(_) => Err(mismatch()),
            Err(body) => Ok(Created::Replayed(body)),
        }
    }

    /// Every tenant, by name, with its settings and counts.
    pub async fn list_tenants(&self) -> Result<TenantList, AdminError> {
        let tenants = self.store.list_tenants().await?;
        let mut counts = self
            .store
            .resource_counts(tenants.iter().map(|t| t.id).collect())
            .await?;
        let mut out = Vec::with_capacity(tenants.len());
        for t in tenants {
            let settings = self.store.tenant_settings(t.id).await?;
            let c = counts.remove(&t.id).unwrap_or_default();
            out.push(self.tenant_view(&t, settings, c));
        }
        Ok(TenantList { tenants: out })
    }

    /// One tenant, or 404 `tenant_not_found`.
    pub async fn tenant(&self, name: &str) -> Result<TenantView, AdminError> {
        let t = self.find_tenant(name).await?;
        let settings = self.store.tenant_settings(t.id).await?;
        let counts = self.counts(t.id).await?;
        Ok(self.tenant_view(&t, settings, counts))
    }

    /// Changes what `patch` gives; the rest stays.
    pub async fn update_tenant(
        &self,
        caller: &Caller,
        name: &str,
        patch: TenantPatch,
    ) -> Result<TenantView, AdminError> {
        let jwt: Option<Option<scim_store::JwtSettings>> = patch.jwt.map(|j| j.map(Into::into));
        check_settings(
            patch.retention_days,
            patch.rate_limit_per_minute,
            patch.rate_burst,
            jwt.as_ref().and_then(|j| j.as_ref()),
        )?;
        let op = AdminOp::UpdateTenant {
            name: name.to_string(),
            update: TenantUpdate {
                delete_mode: patch.delete_mode.map(Into::into),
                retention_days: patch.retention_days,
                rate_per_minute: patch.rate_limit_per_minute,
                rate_burst: patch.rate_burst,
                jwt,
            },
        };
        let written = self
            .write(caller, op, None, Box::new(|_| Value::Null))
            .await
            .map_err(|e| not_found_as_tenant(e, name))?;
        match written {
            Ok(AdminOutcome::Tenant(t, s)) => {
                let counts = self.counts(t.id).await?;
                Ok(self.tenant_view(&t, s, counts))
            }
            _ => Err(mismatch()),
        }
    }

    /// Deletes a tenant and everything in it (resources, memberships, tokens, events);
    /// says how much was removed.
    pub async fn delete_tenant(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<TenantDeleted, AdminError> {
        let op = AdminOp::DeleteTenant {
            name: name.to_string(),
        };
        let written = self
            .write(caller, op, None, Box::new(|_| Value::Null))
            .await
            .map_err(|e| not_found_as_tenant(e, name))?;
        match written {
            Ok(AdminOutcome::TenantDeleted(d)) => Ok(TenantDeleted {
                name: d.tenant.name,
                uid: d.tenant.uid,
                users: d.users,
                groups: d.groups,
                tokens: d.tokens,
                active_tokens: d.active_tokens,
                events: d.changes,
            }),
            _ => Err(mismatch()),
        }
    }
}

/// A store 404 of a tenant operation is `tenant_not_found`.
pub(super) fn not_found_as_tenant(e: AdminError, name: &str) -> AdminError {
    if e.status == StatusCode::NOT_FOUND && e.code == "not_found" {
        AdminError::tenant_not_found(name)
    } else {
        e
    }
}
