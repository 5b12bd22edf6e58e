//! Group-to-role mapping: a tenant's role rules and its users' effective roles (kept by
//! the store in step with memberships: `scim-store/src/sql/roles.rs`).

use axum::http::StatusCode;
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
        created: r.created.clone(),
    }
}

fn check(req: &RoleRuleCreate) -> Result<(), AdminError> {
    if req.role.trim().is_empty()
        || req.role.chars().count() > 100
        || req.role.chars().any(char::is_control)
    {
        return Err(AdminError::invalid(
            "role",
            "a role must be 1-100 printable characters",
        ));
    }
    match (req.matches, req.value.as_deref()) {
        (RoleMatch::Default, Some(_)) => Err(AdminError::invalid(
            "value",
            "a `default` rule applies to every active user and takes no value",
        )),
        (RoleMatch::Default, None) => Ok(()),
        (_, Some(v)) if !v.is_empty() && v.len() <= 1000 => Ok(()),
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
        check(&req)?;
        self.find_tenant(tenant).await?;
        let op = AdminOp::AddRoleRule {
            tenant: tenant.to_string(),
            spec: RoleRuleSpec {
                role: req.role,
                matches: req.matches.into(),
                value: req.value,
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
