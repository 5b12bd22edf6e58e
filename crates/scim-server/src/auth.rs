//! Bearer-token authentication, bound to one tenant, then the tenant's rate limit.
//!
//! Every failure gets the same 401 answer, so a client learns nothing about which tenants,
//! tokens or resources exist. Attempts with tokens the server has not accepted recently
//! are throttled per source address and token id before any lookup ([`crate::throttle`]).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::header;
use axum::http::request::Parts;
use scim_core::ScimError;
use scim_store::{Actor, Tenant, TenantSettings, TokenInfo};
use std::collections::HashMap;

use crate::error::ApiError;
use crate::http::header_str;
use crate::state::AppState;

/// The authenticated tenant and token of a request.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The tenant the bearer token belongs to (the one named in the URL).
    pub tenant: Tenant,
    /// The token the request was made with (its name is recorded with every change).
    pub token: TokenInfo,
    /// The request's `X-Request-Id`, recorded with every change it makes.
    pub request_id: Option<String>,
    /// The tenant's settings (rate limit, JWT mode), as of at most a few seconds ago.
    pub settings: TenantSettings,
}

impl Auth {
    /// 403 unless the token may write (`--scope read` tokens may only read).
    pub fn require_write(&self) -> Result<(), ApiError> {
        if self.token.scope.can_write() {
            return Ok(());
        }
        Err(ApiError(ScimError::forbidden(
            "This token is read-only (scope 'read'): it may read the directory but not change it",
        )))
    }

    /// Takes `n` more units of the tenant's rate limit for a request that took `paid`
    /// already (a Bulk request's operations beyond the units it took for its size); see
    /// [`crate::throttle::Throttle::admit_more`].
    pub fn charge(&self, state: &AppState, paid: u32, n: u32) -> Result<(), ApiError> {
        Ok(state.throttle.admit_more(self.tenant.id, paid, n)?)
    }

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
            .ok_or_else(|| {
                crate::metrics::auth_failure("missing");
                ApiError(ScimError::unauthorized())
            })?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        if let Err(e) = state.throttle.before_authentication(peer, presented) {
            crate::metrics::auth_failure("throttled");
            return Err(tarpit(e).await);
        }
        let found = match state.store.authenticate(presented, &now_rfc3339()).await? {
            Some(found) => Some(found),
            None if scim_store::token::split(presented).is_none() => {
                crate::jwt::authenticate(state, tenant_name, presented).await?
            }
            None => None,
        };
        let found = match found {
            Some((tenant, token)) if tenant.name == *tenant_name => Some((tenant, token)),
            // Tenant names are case-insensitive: `/scim/v2/ACME` is tenant `acme`'s URL,
            // unless that spelling names another tenant (see `find_tenant` in the store).
            Some((tenant, token)) if tenant.name.eq_ignore_ascii_case(tenant_name) => {
                let named = state.store.tenant(tenant_name).await?;
                named
                    .is_some_and(|t| t.id == tenant.id)
                    .then_some((tenant, token))
            }
            _ => None,
        };
        let (tenant, token) = match found {
            Some(found) => found,
            None => {
                state.throttle.authentication_failed(peer, presented);
                crate::metrics::auth_failure("invalid");
                return Err(ApiError(ScimError::unauthorized()));
            }
        };
        state.throttle.authenticated(presented);
        if let Some(slot) = parts.extensions.get::<crate::metrics::TenantSlot>() {
            slot.set(&tenant.name);
        }
        if let Some(slot) = parts.extensions.get::<crate::request_log::AuthSlot>() {
            slot.set(tenant.id, &token.name);
        }
        let settings = settings_of(state, tenant.id).await?;
        // A large body pays for its size ([`crate::http::size_units`]), in the same check as
        // the request, so that a refused one wastes none of the tenant's units; a body
        // without Content-Length is charged once read (`JsonBody`). One announced over the
        // server's limit costs one: `JsonBody` answers 413 once the limit is read (answering
        // before would leave the client writing into a closed connection, without its 413).
        let units = header_str(&parts.headers, header::CONTENT_LENGTH)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&len| len <= state.config.max_payload_bytes)
            .map_or(1, crate::http::size_units);
        if let Err(e) = state.throttle.admit(tenant.id, units) {
            return Err(tarpit(e).await);
        }
        parts.extensions.insert(Admitted {
            tenant_id: tenant.id,
            units,
        });
        Ok(Auth {
            tenant,
            token,
            request_id: header_str(
                &parts.headers,
                header::HeaderName::from_static("x-request-id"),
            )
            .map(str::to_string),
            settings,
        })
    }
}

/// A request admitted under its tenant's rate limit, and the units it took (a request
/// extension: [`crate::http::JsonBody`] charges a body sent without `Content-Length` to the
/// same tenant once it is read).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Admitted {
    pub tenant_id: i64,
    pub units: u32,
}

/// The longest a refused request is held before its 429 is sent.
const TARPIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Holds a 429 for up to its Retry-After (at most [`TARPIT`]) before answering: a client
/// that honours Retry-After loses nothing, and one that retries at once, on as many
/// connections as it likes, is slowed to one or two attempts per connection per second
/// instead of costing the server a request each time. Other refusals (a 413: more units
/// than the burst, which no retry can get) are answered at once.
///
/// The hold is a random point in its second half ([`tarpit_hold`]): with a fixed hold, the
/// refused requests of a client on many connections all came back in the same instant
/// every second, and the few admitted among them — up to the tenant's whole second of
/// rate, PATCHes of 1,000 values each — ran at once and held both cores for tens of
/// milliseconds, every other tenant's requests with them (issue 11, `scripts/bench-fairness`).
pub(crate) async fn tarpit(e: scim_core::ScimError) -> ApiError {
    if e.status == 429 {
        let wait = std::time::Duration::from_secs(u64::from(e.retry_after.unwrap_or(1)));
        tokio::time::sleep(tarpit_hold(wait.min(TARPIT), rand::random::<f64>())).await;
    }
    ApiError(e)
}

/// A refused request's hold: between half of `limit` and all of it, at `point` (0 to 1).
fn tarpit_hold(limit: std::time::Duration, point: f64) -> std::time::Duration {
    let half = limit / 2;
    half + half.mul_f64(point.clamp(0.0, 1.0))
}

/// A tenant's settings, from the throttle's cache or the store.
pub(crate) async fn settings_of(
    state: &AppState,
    tenant_id: i64,
) -> Result<TenantSettings, ApiError> {
    if let Some(s) = state.throttle.cached_settings(tenant_id) {
        return Ok(s);
    }
    let s = state.store.tenant_settings(tenant_id).await?;
    state.throttle.store_settings(tenant_id, s.clone());
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn refused_requests_are_held_in_the_second_half_of_their_wait() {
        let limit = Duration::from_secs(1);
        assert_eq!(tarpit_hold(limit, 0.0), Duration::from_millis(500));
        assert_eq!(tarpit_hold(limit, 1.0), limit);
        assert_eq!(tarpit_hold(limit, 0.5), Duration::from_millis(750));
        // Out-of-range points stay within the bounds.
        assert_eq!(tarpit_hold(limit, 7.0), limit);
        assert_eq!(tarpit_hold(limit, -1.0), Duration::from_millis(500));
        // Spread: many holds do not all land on one instant.
        let holds: std::collections::BTreeSet<Duration> = (0..100)
            .map(|_| tarpit_hold(limit, rand::random::<f64>()))
            .collect();
        assert!(holds.len() > 50, "{}", holds.len());
    }
}
