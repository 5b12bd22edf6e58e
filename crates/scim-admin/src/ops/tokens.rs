//! A tenant's SCIM tokens: create (secret shown once), list, revoke, rotate.

use axum::http::StatusCode;
use scim_store::manage::{AdminOp, AdminOutcome};
use scim_store::{TokenInfo, TokenSpec};
use serde_json::Value;

use super::views::{
    TokenCreate, TokenCreated, TokenList, TokenRotate, TokenRotated, TokenStatus, TokenView,
};
use super::{Caller, Created, Idempotency, Manager, mismatch};
use crate::AdminError;

/// Default time an old token keeps working after a rotation.
pub const DEFAULT_OVERLAP_SECONDS: i64 = 24 * 3600;

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// An RFC 3339 time in the future (`field` names it in the error).
fn future_time(field: &str, text: &str) -> Result<time::OffsetDateTime, AdminError> {
    let Some(at) = scim_core::value::parse_datetime(text) else {
        return Err(AdminError::invalid(
            field,
            format!("{field} '{text}' is not an RFC 3339 time such as 2027-01-01T00:00:00Z"),
        ));
    };
    if at <= now() {
        return Err(AdminError::invalid(
            field,
            format!("{field} {text} is in the past: it must be in the future"),
        ));
    }
    Ok(at)
}

fn check_token_name(name: &str) -> Result<(), AdminError> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AdminError::invalid(
            "name",
            "a token name must be 1-100 printable characters",
        ));
    }
    Ok(())
}

/// A token's view, with its status now.
pub fn token_view(t: &TokenInfo) -> TokenView {
    let expired = t
        .expires
        .as_deref()
        .and_then(scim_core::value::parse_datetime)
        .is_some_and(|e| e <= now());
    TokenView {
        id: t.id.clone(),
        name: t.name.clone(),
        scope: t.scope.into(),
        status: if t.revoked.is_some() {
            TokenStatus::Revoked
        } else if expired {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        },
        created: t.created.clone(),
        expires: t.expires.clone(),
        last_used: t.last_used.clone(),
        revoked: t.revoked.clone(),
    }
}

fn token_not_found(tenant: &str, id: &str) -> AdminError {
    AdminError::new(
        StatusCode::NOT_FOUND,
        "token_not_found",
        format!("tenant '{tenant}' has no active token with id '{id}'"),
    )
}

impl Manager {
    /// Creates a token for a tenant; its secret is in the answer and nowhere else.
    pub async fn create_token(
        &self,
        caller: &Caller,
        tenant: &str,
        req: TokenCreate,
        idempotency: Option<Idempotency>,
    ) -> Result<Created<TokenCreated>, AdminError> {
        check_token_name(&req.name)?;
        if let Some(e) = &req.expires {
            future_time("expires", e)?;
        }
        self.find_tenant(tenant).await?;
        let op = AdminOp::CreateToken {
            tenant: tenant.to_string(),
            spec: TokenSpec {
                name: req.name,
                expires: req.expires,
                scope: req.scope.map_or(scim_store::TokenScope::Write, Into::into),
            },
        };
        let base = self.base_url(tenant);
        let replay_base = base.clone();
        // The replayed answer has no secret: only its hash is kept.
        let render = Box::new(move |o: &AdminOutcome| match o {
            AdminOutcome::TokenCreated(info, _) => serde_json::to_value(TokenCreated {
                token: token_view(info),
                secret: None,
                scim_base_url: replay_base,
            })
            .unwrap_or(Value::Null),
            _ => Value::Null,
        });
        match self.write(caller, op, idempotency, render).await? {
            Ok(AdminOutcome::TokenCreated(info, text)) => Ok(Created::New(TokenCreated {
                token: token_view(&info),
                secret: Some(text),
                scim_base_url: base,
            })),
            Ok(_) => Err(mismatch()),
            Err(body) => Ok(Created::Replayed(body)),
        }
    }

    /// A tenant's tokens, oldest first (never their secrets).
    pub async fn list_tokens(&self, tenant: &str) -> Result<TokenList, AdminError> {
        let t = self.find_tenant(tenant).await?;
        let tokens = self.store.list_tokens(t.id).await?;
        Ok(TokenList {
            tokens: tokens.iter().map(token_view).collect(),
        })
    }

    /// Revokes an active token at once. 404 `token_not_found` when there is no active
    /// token with this id.
    pub async fn revoke_token(
        &self,
        caller: &Caller,
        tenant: &str,
        token_id: &str,
    ) -> Result<TokenView, AdminError> {
        self.find_tenant(tenant).await?;
        let op = AdminOp::RevokeToken {
            tenant: tenant.to_string(),
            token_id: token_id.to_string(),
        };
        let written = self
            .write(caller, op, None, Box::new(|_| Value::Null))
            .await
            .map_err(|e| {
                if e.status == StatusCode::NOT_FOUND {
                    token_not_found(tenant, token_id)
                } else {
                    e
                }
            })?;
        match written {
            Ok(AdminOutcome::TokenRevoked(info)) => Ok(token_view(&info)),
            _ => Err(mismatch()),
        }
    }

    /// Replaces an active token by a new one with the same name and scope; the old one
    /// keeps working until the time `req` gives (default 24 hours).
    pub async fn rotate_token(
        &self,
        caller: &Caller,
        tenant: &str,
        token_id: &str,
        req: TokenRotate,
    ) -> Result<TokenRotated, AdminError> {
        let overlap_seconds = match (req.overlap_seconds, &req.old_token_valid_until) {
            (Some(_), Some(_)) => {
                return Err(AdminError::invalid(
                    "old_token_valid_until",
                    "give overlap_seconds or old_token_valid_until, not both",
                ));
            }
            (Some(s), None) if !(0..=366 * 24 * 3600).contains(&s) => {
                return Err(AdminError::invalid(
                    "overlap_seconds",
                    "overlap_seconds must be 0 to 31622400 (a year)",
                ));
            }
            (Some(s), None) => s,
            (None, Some(until)) => {
                let at = future_time("old_token_valid_until", until)?;
                (at - now()).whole_seconds().max(1)
            }
            (None, None) => DEFAULT_OVERLAP_SECONDS,
        };
        self.find_tenant(tenant).await?;
        let op = AdminOp::RotateToken {
            tenant: tenant.to_string(),
            token_id: token_id.to_string(),
            overlap_seconds,
        };
        let written = self
            .write(caller, op, None, Box::new(|_| Value::Null))
            .await
            .map_err(|e| {
                if e.status == StatusCode::NOT_FOUND {
                    token_not_found(tenant, token_id)
                } else {
                    e
                }
            })?;
        match written {
            Ok(AdminOutcome::TokenRotated(r)) => Ok(TokenRotated {
                token: token_view(&r.new),
                secret: r.text,
                old_token: token_view(&r.old),
                scim_base_url: self.base_url(tenant),
            }),
            _ => Err(mismatch()),
        }
    }
}
