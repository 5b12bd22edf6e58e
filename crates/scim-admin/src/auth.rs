//! Administration-token authentication of the management API.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use scim_store::AdminTokenInfo;

use crate::{AdminError, AdminState};

/// The administration token a request was made with.
#[derive(Debug, Clone)]
pub struct AdminAuth {
    pub token: AdminTokenInfo,
}

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
            Some(token) => Ok(AdminAuth { token }),
            None => Err(AdminError::unauthorized()),
        }
    }
}
