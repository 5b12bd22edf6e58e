//! Authentication of the management API: administration tokens, or an application's own
//! hook ([`AuthHook`]) when `scim` is embedded.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use scim_store::AdminTokenInfo;

use crate::{AdminError, AdminState};

/// Who a management request was let in as.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    /// The caller's name, recorded with every write in the management audit log: the
    /// administration token's name, or the name an application's [`AuthHook`] gave.
    pub name: String,
    /// The administration token the request was made with (`None` when an application's
    /// [`AuthHook`] decided instead).
    pub token: Option<AdminTokenInfo>,
}

/// An application's own authentication of the management API, replacing administration
/// tokens (`AdminState::with_auth_hook`): it decides on each request from its headers (a
/// session cookie, the application's own bearer tokens, a header set by a gateway…).
///
/// A closure `Fn(&HeaderMap) -> Option<String>` is a hook: `Some(name)` lets the request in
/// as `name` (recorded in the management audit log), `None` refuses it with 401.
///
/// ```
/// use axum::http::HeaderMap;
/// use scim_admin::auth::AuthHook;
/// fn hook() -> impl AuthHook {
///     |headers: &HeaderMap| {
///         (headers.get("x-app-role")?.to_str().ok()? == "admin").then(|| "app-admin".to_string())
///     }
/// }
/// ```
#[async_trait]
pub trait AuthHook: Send + Sync + 'static {
    /// The caller's name when the request may use the management API; an error (e.g.
    /// [`AdminError::unauthorized`], or a 403 made with [`AdminError::new`]) refuses it.
    async fn authorize(&self, headers: &HeaderMap) -> Result<String, AdminError>;
}

#[async_trait]
impl<F> AuthHook for F
where
    F: Fn(&HeaderMap) -> Option<String> + Send + Sync + 'static,
{
    async fn authorize(&self, headers: &HeaderMap) -> Result<String, AdminError> {
        self(headers).ok_or_else(|| {
            AdminError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "unauthorized",
                "This endpoint needs the application's authentication",
            )
        })
    }
}

/// A shared hook, as [`AdminState`] keeps it.
pub type SharedAuthHook = Arc<dyn AuthHook>;

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl FromRequestParts<AdminState> for AdminAuth {
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AdminState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(hook) = &state.auth_hook {
            let name = hook.authorize(&parts.headers).await?;
            return Ok(AdminAuth { name, token: None });
        }
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| {
                let (scheme, token) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(AdminError::unauthorized)?;
        match state
            .store
            .authenticate_admin(presented, &now_rfc3339())
            .await?
        {
            Some(token) => Ok(AdminAuth {
                name: token.name.clone(),
                token: Some(token),
            }),
            None => Err(AdminError::unauthorized()),
        }
    }
}
