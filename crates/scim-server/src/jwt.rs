//! JWT mode: a tenant may accept bearer tokens that its identity provider or an API gateway
//! signs, besides `scim_` tokens (`scim tenant update --jwt-issuer … --jwt-audience …
//! --jwt-jwks-url …|--jwt-key-file … --jwt-tenant-claim …`).
//!
//! A token is accepted when its signature verifies with the tenant's static key or a key
//! of its JWKS (fetched over HTTP and cached; fetched again when a token names a key id the
//! cache does not have, at most every [`REFRESH_AT_MOST_EVERY`]), its algorithm is an
//! asymmetric one, `iss` and `aud` are the configured ones, it has not expired (a minute of
//! clock skew is allowed), and the configured claim names the tenant. A `scope` (or `scp`)
//! claim, when present, must grant `scim.write` (everything) or `scim.read` (reads only).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use scim_core::ScimError;
use scim_store::{JwtSettings, Tenant, TokenInfo, TokenScope};
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// How long a fetched JWKS is used before it is fetched again.
pub const JWKS_TTL: Duration = Duration::from_secs(300);
/// A key id the cache does not know triggers a fetch, at most this often per URL.
pub const REFRESH_AT_MOST_EVERY: Duration = Duration::from_secs(2);
/// How long fetching a JWKS may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Tenants (by name) remembered for JWT checks, and for how long.
const TENANT_TTL: Duration = Duration::from_secs(5);

/// Signature algorithms accepted: asymmetric only (a shared secret would have to be stored
/// and could sign tokens for the tenant).
const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

struct Fetched {
    at: Instant,
    keys: JwkSet,
}

/// JWKS documents by URL, and tenants by name, as recently fetched.
pub struct JwksCache {
    client: reqwest::Client,
    sets: Mutex<HashMap<String, Fetched>>,
    tenants: Mutex<HashMap<String, (Instant, Option<Tenant>)>>,
}

impl Default for JwksCache {
    fn default() -> Self {
        JwksCache {
            client: reqwest::Client::builder()
                .timeout(FETCH_TIMEOUT)
                .build()
                .unwrap_or_default(),
            sets: Mutex::new(HashMap::new()),
            tenants: Mutex::new(HashMap::new()),
        }
    }
}

/// Why a token was not accepted (logged at debug level; the client gets a plain 401).
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("not a JWT or not acceptable: {0}")]
    Token(String),
    #[error("no key for this token: {0}")]
    NoKey(String),
}

impl JwksCache {
    async fn tenant(&self, state: &AppState, name: &str) -> Result<Option<Tenant>, ApiError> {
        if let Ok(t) = self.tenants.lock()
            && let Some((at, tenant)) = t.get(name)
            && at.elapsed() < TENANT_TTL
        {
            return Ok(tenant.clone());
        }
        let tenant = state.store.tenant(name).await?;
        if let Ok(mut t) = self.tenants.lock() {
            if t.len() > 10_000 {
                t.clear();
            }
            t.insert(name.to_string(), (Instant::now(), tenant.clone()));
        }
        Ok(tenant)
    }

    /// The cached key set of `url`, fetched if missing, stale, or (at most every few
    /// seconds) when it lacks `kid`.
    async fn key(&self, url: &str, kid: Option<&str>) -> Result<DecodingKey, Refused> {
        let lookup = |keys: &JwkSet| -> Option<DecodingKey> {
            let jwk = match kid {
                Some(kid) => keys.find(kid),
                None if keys.keys.len() == 1 => keys.keys.first(),
                None => None,
            }?;
            DecodingKey::from_jwk(jwk).ok()
        };
        let (cached, refetch) = match self.sets.lock() {
            Ok(sets) => match sets.get(url) {
                Some(f) => {
                    let found = lookup(&f.keys);
                    let stale = f.at.elapsed() > JWKS_TTL;
                    let may = f.at.elapsed() > REFRESH_AT_MOST_EVERY;
                    (found.clone(), stale || (found.is_none() && may))
                }
                None => (None, true),
            },
            Err(_) => (None, true),
        };
        if !refetch {
            return cached.ok_or_else(|| Refused::NoKey(format!("no key {kid:?} in {url}")));
        }
        match self.fetch(url).await {
            Ok(keys) => {
                let found = lookup(&keys);
                if let Ok(mut sets) = self.sets.lock() {
                    sets.insert(
                        url.to_string(),
                        Fetched {
                            at: Instant::now(),
                            keys,
                        },
                    );
                }
                found.ok_or_else(|| Refused::NoKey(format!("no key {kid:?} in {url}")))
            }
            // The provider is unreachable: keep using the keys we have.
            Err(e) => {
                tracing::warn!(url, error = %e, "cannot fetch a tenant's JWKS");
                cached.ok_or(Refused::NoKey(e))
            }
        }
    }

    async fn fetch(&self, url: &str) -> Result<JwkSet, String> {
        let response = self
            .client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| e.to_string())?;
        response.json::<JwkSet>().await.map_err(|e| e.to_string())
    }
}

/// The key to verify a token with, from a static PEM key of any supported family.
fn static_key(pem: &str, alg: Algorithm) -> Result<DecodingKey, Refused> {
    let bytes = pem.as_bytes();
    let key = match alg {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(bytes),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(bytes),
        _ => DecodingKey::from_rsa_pem(bytes),
    };
    key.map_err(|e| Refused::NoKey(format!("the tenant's static key: {e}")))
}

/// Whether a claim names the tenant (a string, or a list containing it).
fn names(claim: Option<&Value>, expected: &str) -> bool {
    match claim {
        Some(Value::String(s)) => s == expected,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(expected)),
        _ => false,
    }
}

/// The scope a token's `scope`/`scp` claim grants; `Some(Write)` without such a claim,
/// `None` when it grants neither SCIM scope.
fn scope_of(claims: &Map<String, Value>) -> Option<TokenScope> {
    let mut granted: Vec<String> = Vec::new();
    let mut present = false;
    for name in ["scope", "scp"] {
        match claims.get(name) {
            Some(Value::String(s)) => {
                present = true;
                granted.extend(s.split_whitespace().map(str::to_string));
            }
            Some(Value::Array(items)) => {
                present = true;
                granted.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)));
            }
            _ => {}
        }
    }
    if !present || granted.iter().any(|s| s == "scim.write") {
        Some(TokenScope::Write)
    } else if granted.iter().any(|s| s == "scim.read") {
        Some(TokenScope::Read)
    } else {
        None
    }
}

async fn verify(
    state: &AppState,
    tenant: &Tenant,
    jwt: &JwtSettings,
    token: &str,
) -> Result<TokenInfo, Refused> {
    let header = decode_header(token).map_err(|e| Refused::Token(e.to_string()))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(Refused::Token(format!(
            "algorithm {:?} is not accepted",
            header.alg
        )));
    }
    let key = match (&jwt.static_key, &jwt.jwks_url) {
        (Some(pem), _) => static_key(pem, header.alg)?,
        (None, Some(url)) => state.jwks.key(url, header.kid.as_deref()).await?,
        (None, None) => return Err(Refused::NoKey("no key source".into())),
    };
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&jwt.issuer]);
    validation.set_audience(&[&jwt.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.leeway = 60;
    let data = decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| Refused::Token(e.to_string()))?;
    let claims = data.claims;
    let expected = jwt.tenant_value.as_deref().unwrap_or(&tenant.name);
    if !names(claims.get(&jwt.tenant_claim), expected) {
        return Err(Refused::Token(format!(
            "claim '{}' does not name this tenant",
            jwt.tenant_claim
        )));
    }
    let scope = scope_of(&claims).ok_or_else(|| {
        Refused::Token("the token grants neither scim.read nor scim.write".into())
    })?;
    let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
    let subject = text("sub").unwrap_or_else(|| jwt.issuer.clone());
    let expires = claims.get("exp").and_then(Value::as_i64).and_then(|e| {
        time::OffsetDateTime::from_unix_timestamp(e)
            .ok()?
            .format(&time::format_description::well_known::Rfc3339)
            .ok()
    });
    Ok(TokenInfo {
        id: format!("jwt:{}", text("jti").unwrap_or_else(|| subject.clone())),
        tenant_id: tenant.id,
        name: format!("jwt:{subject}"),
        created: String::new(),
        expires,
        revoked: None,
        scope,
        last_used: None,
    })
}

/// Authenticates a bearer token that is not a `scim_` token as a JWT of the tenant named
/// in the URL, if that tenant is in JWT mode. `None`: not accepted (401).
pub(crate) async fn authenticate(
    state: &AppState,
    tenant_name: &str,
    token: &str,
) -> Result<Option<(Tenant, TokenInfo)>, ApiError> {
    if token.split('.').count() != 3 {
        return Ok(None);
    }
    let Some(tenant) = state.jwks.tenant(state, tenant_name).await? else {
        return Ok(None);
    };
    let settings = crate::auth::settings_of(state, tenant.id).await?;
    let Some(jwt) = settings.jwt else {
        return Ok(None);
    };
    match verify(state, &tenant, &jwt, token).await {
        Ok(info) => Ok(Some((tenant, info))),
        Err(e) => {
            tracing::debug!(tenant = %tenant.name, reason = %e, "JWT refused");
            Ok(None)
        }
    }
}

impl From<Refused> for ScimError {
    fn from(_: Refused) -> Self {
        ScimError::unauthorized()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scope_claims() {
        let c = |v: Value| v.as_object().cloned().unwrap_or_default();
        assert_eq!(scope_of(&c(json!({}))), Some(TokenScope::Write));
        assert_eq!(
            scope_of(&c(json!({"scope": "openid scim.read"}))),
            Some(TokenScope::Read)
        );
        assert_eq!(
            scope_of(&c(json!({"scp": ["scim.write"]}))),
            Some(TokenScope::Write)
        );
        assert_eq!(scope_of(&c(json!({"scope": "openid"}))), None);
    }

    #[test]
    fn tenant_claims() {
        assert!(names(Some(&json!("acme")), "acme"));
        assert!(names(Some(&json!(["x", "acme"])), "acme"));
        assert!(!names(Some(&json!("globex")), "acme"));
        assert!(!names(None, "acme"));
    }
}
