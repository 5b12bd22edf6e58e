//! Group-to-role mapping: a tenant's role rules and its users' effective roles (kept by
//! the store in step with memberships: `scim-store/src/sql/roles.rs`).

use axum::http::StatusCode;
use scim_core::filter::{ResolvedFilter, parse_filter, resolve};
use scim_core::schema::SchemaRegistry;
use scim_store::manage::{AdminOp, AdminOutcome};
use scim_store::roles::{RoleRule, RoleRuleSpec};
use serde_json::Value;

use super::views::{RoleMatch, RoleRuleCreate, RoleRuleList, RoleRuleView, UserRoles};
use super::{Caller, Created, Idempotency, Manager, mismatch};
use crate::AdminError;

fn view(r: &RoleRule) -> RoleRuleView {
    RoleRuleView {
        id: r.id.clone(),
        role: r.role.clone(),
        matches: r.matches.into(),
        value: r.value.clone(),
        pattern: r.pattern,
        created: r.created.clone(),
    }
}

/// Validates a rule (a 400 naming the field otherwise); for a `user_filter` rule, its
/// filter resolved against the User schemas.
fn check(
    req: &RoleRuleCreate,
    registry: Option<&SchemaRegistry>,
) -> Result<Option<ResolvedFilter>, AdminError> {
    if req.role.trim().is_empty()
        || req.role.chars().count() > 100
        || req.role.chars().any(char::is_control)
    {
        return Err(AdminError::invalid(
            "role",
            "a role must be 1-100 printable characters",
        ));
    }
    let group = !matches!(req.matches, RoleMatch::Default | RoleMatch::UserFilter);
    if req.pattern && !group {
        return Err(AdminError::invalid(
            "pattern",
            "only a group rule (group_display_name, group_external_id, group_id) can be a pattern",
        ));
    }
    match (req.matches, req.value.as_deref()) {
        (RoleMatch::Default, Some(_)) => Err(AdminError::invalid(
            "value",
            "a `default` rule applies to every active user and takes no value",
        )),
        (RoleMatch::Default, None) => Ok(None),
        (RoleMatch::UserFilter, Some(v)) if !v.trim().is_empty() && v.len() <= 4000 => {
            let Some(reg) = registry else {
                return Err(AdminError::invalid("value", "filters are not available"));
            };
            let rt = reg.resource_type("User").ok_or_else(|| {
                AdminError::invalid("value", "this server has no User resource type")
            })?;
            let parsed = parse_filter(v).map_err(|e| {
                AdminError::invalid(
                    "value",
                    format!("value: not a valid SCIM filter: {}", e.detail),
                )
            })?;
            let resolved = resolve(&parsed, reg, rt)
                .map_err(|e| AdminError::invalid("value", format!("value: {}", e.detail)))?;
            Ok(Some(resolved))
        }
        (RoleMatch::UserFilter, _) => Err(AdminError::invalid(
            "value",
            "a `user_filter` rule needs a SCIM filter on the user's attributes as its value \
             (at most 4000 characters)",
        )),
        (_, Some(v)) if !v.is_empty() && v.len() <= 1000 => Ok(None),
        _ => Err(AdminError::invalid(
            "value",
            "a group rule needs the group's displayName, externalId or id as its value",
        )),
    }
}

impl Manager {
    /// Adds a role rule; the affected users' roles are recomputed in the same transaction
    /// (each change is a `user.roles_changed` event).
    pub async fn add_role_rule(
        &self,
        caller: &Caller,
        tenant: &str,
        req: RoleRuleCreate,
        idempotency: Option<Idempotency>,
    ) -> Result<Created<RoleRuleView>, AdminError> {
        let filter = check(&req, self.registry.as_deref())?;
        self.find_tenant(tenant).await?;
        let op = AdminOp::AddRoleRule {
            tenant: tenant.to_string(),
            spec: RoleRuleSpec {
                role: req.role,
                matches: req.matches.into(),
                value: req.value,
                pattern: req.pattern,
                filter,
            },
        };
        let render = Box::new(|o: &AdminOutcome| match o {
            AdminOutcome::RoleRule { rule, .. } => {
                serde_json::to_value(view(rule)).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        });
        match self.write(caller, op, idempotency, render).await? {
            Ok(AdminOutcome::RoleRule { rule, .. }) => Ok(Created::New(view(&rule))),
            Ok(_) => Err(mismatch()),
            Err(body) => Ok(Created::Replayed(body)),
        }
    }

    /// A tenant's role rules, oldest first.
    pub async fn list_role_rules(&self, tenant: &str) -> Result<RoleRuleList, AdminError> {
        let t = self.find_tenant(tenant).await?;
        let rules = self.store.role_rules(t.id).await?;
        Ok(RoleRuleList {
            rules: rules.iter().map(view).collect(),
        })
    }

    /// Removes a role rule; the users it gave a role to are recomputed with it.
    pub async fn remove_role_rule(
        &self,
        caller: &Caller,
        tenant: &str,
        rule_id: &str,
    ) -> Result<RoleRuleView, AdminError> {
        self.find_tenant(tenant).await?;
        let op = AdminOp::RemoveRoleRule {
            tenant: tenant.to_string(),
            rule_id: rule_id.to_string(),
        };
        let written = self
            .write(caller, op, None, Box::new(|_| Value::Null))
            .await
            .map_err(|e| {
                if e.status == StatusCode::NOT_FOUND {
                    AdminError::new(
                        StatusCode::NOT_FOUND,
                        "role_rule_not_found",
                        format!("tenant '{tenant}' has no role rule '{rule_id}'"),
                    )
                } else {
                    e
                }
            })?;
        match written {
            Ok(AdminOutcome::RoleRule { rule, .. }) => Ok(view(&rule)),
            _ => Err(mismatch()),
        }
    }

    /// A user's effective roles, or 404 `resource_not_found`.
    pub async fn user_roles(&self, tenant: &str, user_id: &str) -> Result<UserRoles, AdminError> {
        let t = self.find_tenant(tenant).await?;
        match self.store.user_roles(t.id, user_id).await? {
            Some(roles) => Ok(UserRoles {
                user_id: user_id.to_string(),
                roles,
            }),
            None => Err(AdminError::new(
                StatusCode::NOT_FOUND,
                "resource_not_found",
                format!("tenant '{tenant}' has no user with id '{user_id}'"),
            )),
        }
    }
}
