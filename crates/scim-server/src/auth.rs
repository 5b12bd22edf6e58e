//! Bearer-token authentication, bound to one tenant.
//!
//! Every failure gets the same 401 answer, so a client learns nothing about which tenants,
//! tokens or resources exist.

use axum::extract::{FromRequestParts, Path};
use axum::http::header;
use axum::http::request::Parts;
use scim_core::ScimError;
use scim_store::{Actor, Tenant, TokenInfo};
use std::collections::HashMap;

use crate::error::ApiError;
use crate::http::header_str;
use crate::state::AppState;

/// The authenticated tenant and token of a request.
#[derive(Debug, Clone)]
pub struct Auth {
    pub tenant: Tenant,
    pub token: TokenInfo,
    pub request_id: Option<String>,
}

impl Auth {
    /// Who is writing, for the change record.
    pub fn actor(&self) -> Actor {
        Actor {
            token_id: Some(self.token.id.clone()),
            token_name: Some(self.token.name.clone()),
            request_id: self.request_id.clone(),
        }
    }
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError(ScimError::unauthorized()))?;
        let tenant_name = params
            .get("tenant")
            .ok_or(ApiError(ScimError::unauthorized()))?;
        let presented = header_str(&parts.headers, header::AUTHORIZATION)
            .and_then(|h| {
                let (scheme, token) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or(ApiError(ScimError::unauthorized()))?;
        let found = state.store.authenticate(presented, &now_rfc3339()).await?;
        match found {
            Some((tenant, token)) if tenant.name == *tenant_name => Ok(Auth {
                tenant,
                token,
                request_id: header_str(
                    &parts.headers,
                    header::HeaderName::from_static("x-request-id"),
                )
                .map(str::to_string),
            }),
            _ => Err(ApiError(ScimError::unauthorized())),
        }
    }
}
